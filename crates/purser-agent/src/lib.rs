//! The Rust SDK for agents that pay through Purser.
//!
//! Purser refuses any agent request that is not signed with the agent's own Ed25519 key
//! (HTTP Message Signatures, RFC 9421, in the Web Bot Auth profile). This crate keeps that key
//! ([`AgentKey`]) and signs every request for you ([`Client`]): a fresh 128-bit nonce,
//! `created` = now and a five-minute lifetime, `@method` `@authority` `@path` (`@query`),
//! a `Content-Digest` (RFC 9530) over any JSON body, and an `Idempotency-Key` on every POST.
//!
//! # Getting started
//!
//! 1. Make a key once and keep the file (it is written with mode 0600):
//!    [`AgentKey::load_or_create`].
//! 2. Register its public half ([`AgentKey::public_jwk`]) as a developer, with
//!    `purser agent register --key FILE` or `POST /v1/agents` (`{"name", "operator",
//!    "public_key_jwk", "key_proof"}`, the proof from [`AgentKey::possession_proof`]).
//! 3. Ask a user to bind the agent ([`Client::request_binding`]) and wait for them to
//!    approve it on their wallet page.
//! 4. Pay under a mandate the user gave it: [`Client::pay`] answers approved (a scoped,
//!    single-use credential for the merchant), waiting for the person (a confirmation link;
//!    [`Client::wait_for_decision`]) or declined (a stable code and a sentence).
//! 5. Anything else through [`Client::whoami`], [`Client::funds`] or [`Client::send`].
//!
//! ```no_run
//! use purser_agent::{AgentKey, Client, Error};
//!
//! fn main() -> Result<(), Error> {
//!     let (key, created) = AgentKey::load_or_create("agent-key.jwk")?;
//!     if created {
//!         println!("register this key: {}", key.public_jwk());
//!     }
//!     let purser = Client::new("http://127.0.0.1:7420", key)?;
//!     match purser.whoami() {
//!         Ok(me) => {
//!             println!("I am {} ({})", me.agent.name, me.agent.id);
//!             for b in me.bindings.iter().filter(|b| b.is_usable()) {
//!                 let funds = purser.funds(&b.user_id)?;
//!                 println!("{}: {} exclusive card(s)", b.user_id, funds.exclusive_cards.len());
//!             }
//!         }
//!         Err(e) if e.code() == Some("unknown_key") => {
//!             println!("the key is not registered yet: {e}");
//!         }
//!         Err(e) => return Err(e),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A runnable version is `examples/agent.rs`
//! (`cargo run -p purser-agent --example agent`).
//!
//! # Errors and retries
//!
//! Every call returns [`Error`]. Purser's refusals are [`Error::Api`] with a stable
//! [`code`](Error::code) (`signature_expired`, `agent_not_bound`, `agent_frozen`, …) and a
//! message for a person. [`Error::is_retryable`] says whether sending again can help; each
//! attempt is signed afresh, and [`Client::send_with_key`] reuses an idempotency key so a
//! retried POST runs once.
//!
//! # Transport
//!
//! Blocking HTTP/1.1 ([ureq]), connect timeout 5 s, read timeout 30 s, no redirects
//! (a redirect would hand the signed request to another target). Plain `http://` only by
//! default; enable the `tls` feature for `https://`. To use another HTTP client, sign with
//! [`Client::prepare`] and send the [`PreparedRequest`] headers exactly as given.
//!
//! [ureq]: https://docs.rs/ureq/2

mod ap2;
mod client;
mod error;
mod key;
mod random;
mod resolve;
mod target;
mod types;
mod x402;

#[cfg(test)]
mod tests;

pub use ap2::{ClosedMandates, MandateCredentials};
pub use client::{
    Client, PreparedRequest, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, IDEMPOTENCY_KEY_HEADER,
    MAX_RESPONSE_BYTES,
};
pub use error::Error;
pub use key::{AgentKey, MAX_KEY_FILE_BYTES};
/// The x402 v2 types the x402 calls return (`SettleResponse`, `PaymentRequirements`, …).
pub use purser_x402::types as x402_types;
pub use random::{idempotency_key, nonce, NONCE_BYTES};
pub use resolve::{non_public, Lookup, PublicOnly, ResourceResolver, SystemLookup};
pub use target::encode_path_segment;
pub use types::{
    AgentFunds, AgentSummary, Amount, Binding, BindingStatus, Confirmation, Credential, Decline,
    ExclusiveCard, LineItem, MerchantRef, Money, Payment, PaymentRequest, WhoAmI,
};
pub use x402::{X402Options, X402Paid, X402Response};
/// The zeroizing buffer [`AgentKey::to_private_jwk`] returns.
pub use zeroize::Zeroizing;
