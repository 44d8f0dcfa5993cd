//! HTTP Message Signatures (RFC 9421) in the Web Bot Auth profile, for Ed25519 keys: how an
//! agent proves which key signed a request to Purser.
//!
//! Pure: no I/O and no clock reads; `now` is passed in.
//!
//! Verifying takes two steps because the key lives in a database: [`parse_request`] reads
//! Signature-Input / Signature, applies the [`Policy`] (tag, freshness, window, required
//! components, Content-Digest against the body) and builds the signature base; the caller
//! looks up [`SignedRequest::keyid`] and calls [`SignedRequest::verify`]. Refusals are
//! [`SigError`]s with stable codes. [`sign_request`] produces the headers the verifier expects.
//!
//! Files: `sfv` (the RFC 8941 subset), `base` (signature base, RFC 9421 §2), `digest`
//! (Content-Digest, RFC 9530), `jwk` (keys and RFC 7638 thumbprints), `keypair` (signing
//! keys), `verify`, `sign`, `agent` (Signature-Agent header), `agent_card` (Signature Agent
//! Cards and registries), `policy` (limits and the policy), `request` (the request view).

mod agent;
mod agent_card;
mod base;
mod digest;
mod error;
mod jwk;
mod keypair;
mod policy;
mod possession;
mod request;
mod sfv;
mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use agent::{parse_signature_agent, SignatureAgentEntry, SignatureAgentType};
pub use agent_card::{
    parse_card_registry, CardError, CardKeys, SignatureAgentCard, WebBotAuthMetadata,
    MAX_CARD_KEYS, MAX_REGISTRY_ENTRIES,
};
pub use digest::{content_digest, verify_content_digest};
pub use error::SigError;
pub use jwk::{Ed25519PublicKey, KeyError};
pub use keypair::Ed25519KeyPair;
pub use policy::*;
pub use possession::possession_statement;
pub use request::{HeaderSource, RequestParts};
pub use sign::{sign_request, SignParams, SignatureHeaders, DEFAULT_SIGNATURE_LIFETIME_SECS};
pub use verify::{parse_request, SignedRequest};
