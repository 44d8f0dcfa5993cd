//! Verification of AP2 v0.2 mandate chains: Delegate SD-JWT (RFC 9901 selective disclosure with
//! the key-binding chain of draft-gco-oauth-delegate-sd-jwt-00).
//!
//! A pure library for a merchant, payment processor or network: no server, no I/O, no clock —
//! the caller passes `now` and the keys it trusts. One call, [`verify_chain`], turns untrusted
//! text into a [`VerifiedChain`] or a refusal with a stable code ([`Ap2Error::code`]).
//!
//! # Trust model
//!
//! The only key trusted from outside the chain is the **root key**: the user's key that signed the
//! open mandate (`mandate.payment.open.1` / `mandate.checkout.open.1`). How the verifier came to
//! trust it (an enrolled passkey, a wallet directory) is the caller's decision. Every later key
//! is trusted only because the hop before it named it in `cnf.jwk`: the user delegates to the
//! agent's key, the agent may delegate further (an intermediate open mandate with its own `cnf`),
//! and the last hop — typically the closed `mandate.payment.1` / `mandate.checkout.1` — is signed
//! by the last delegated key. The verifier's own identity (`aud`) and fresh challenge (`nonce`)
//! pin the presentation to this verifier and this moment.
//!
//! # Serialization
//!
//! Each hop is an SD-JWT presentation `<jwt>~<disclosure>~…~<disclosure>~`; hops are joined by one
//! more `~`, so consecutive hops meet at `~~`. Every JWT payload carries `delegate_payload`: an
//! array of one `{"...": digest}` element whose disclosure is the mandate object of that hop.
//!
//! # What is verified, hop by hop
//!
//! 1. Shape and bounds: base64url/`.`/`~` only, ends with `~`, at most [`limits::MAX_HOPS`] hops,
//!    [`limits::MAX_DISCLOSURES_PER_HOP`] disclosures, [`limits::MAX_CHAIN_BYTES`] bytes.
//! 2. The JWS signature, under the root key (hop 0) or the previous hop's `cnf.jwk`; `alg` must
//!    match the key (ES256 for EC P-256; EdDSA for Ed25519 only with
//!    [`VerifyOptions::allow_eddsa`]); `alg: none` and `crit` are refused. Hops after the root
//!    must have `typ` `kb+sd-jwt` (or `kb+sd-jwt+kb` for a hop that is delegated onward).
//! 3. Disclosures (RFC 9901 §7.1): `_sd_alg` absent or `sha-256`; every disclosure is referenced
//!    exactly once by a digest in the signed payload (recursively through `_sd` members and
//!    `{"...": digest}` array elements, and through other disclosures); no digest occurs twice;
//!    member disclosures only in `_sd`, element disclosures only as `...`; reserved names
//!    (`_sd`, `...`, `_sd_alg`) and names that collide with a plain claim are refused.
//!    Undisclosed digests (withheld claims, decoys) are dropped from the result.
//! 4. Binding to the previous hop: exactly one of `sd_hash` = base64url(SHA-256(previous
//!    presentation, disclosures and trailing `~` included)) or `issuer_jwt_hash` =
//!    base64url(SHA-256(previous issuer JWT)). With `sd_hash`, dropping or reordering an earlier
//!    disclosure breaks the chain; with `issuer_jwt_hash` the holder may still withhold
//!    disclosures of earlier hops, which is what selective disclosure is for.
//! 5. Key-binding claims: every hop after the root has a string `aud`, a string `nonce` and an
//!    integer `iat`; the last hop's `aud` and `nonce` must equal [`VerifyOptions::audience`] and
//!    [`VerifyOptions::nonce`] when set (a lone root must then carry them too).
//! 6. Time, with the configured skew (default [`limits::DEFAULT_CLOCK_SKEW_SECS`]): `exp` not
//!    passed, `iat`/`nbf` not in the future, and a key-binding `iat` no older than
//!    [`limits::DEFAULT_MAX_KB_AGE_SECS`] unless configured otherwise.
//! 7. Exact `vct`: the root and intermediate hops are open mandates ([`OPEN_VCTS`]); a closed
//!    mandate ([`CLOSED_VCTS`]) may only be the last hop after the root; all hops are of one family
//!    (checkout or payment); [`VerifyOptions::final_vct`] pins the last one.
//!
//! # AP2 semantics on top of the chain
//!
//! - [`verify_checkout`]: a checkout chain ending in `mandate.checkout.1`; `checkout_hash` is
//!   recomputed from `checkout_jwt` (base64url SHA-256 of its raw text), the checkout JWT's origin
//!   is checked as the caller chooses ([`CheckoutAuthenticity`]: merchant key, the exact JWT the
//!   merchant issued, or explicitly unchecked; deterministic or unsigned `alg`s always refused),
//!   and the checkout object is evaluated against every open checkout mandate.
//! - [`verify_payment`]: a payment chain ending in `mandate.payment.1`; `transaction_id` must be
//!   the hash of the checkout being paid ([`PaymentBinding`]), and the closed mandate is evaluated
//!   against every open payment mandate (pre-set claims unchanged, all constraints).
//! - [`verify_purchase`]: both together; the payment is bound to this checkout (`transaction_id`,
//!   `payment.reference` = hash of an open checkout mandate presentation in the checkout chain)
//!   and pays exactly the checkout's stated total.
//! - Constraints ([`check_checkout_constraints`], [`check_payment_constraints`]): all ten AP2
//!   v0.2 types, in integer minor units of each currency's exponent; unknown types refuse with
//!   `unresolved_constraint`. The `constraints` module documents each rule and every reading
//!   chosen where the specification leaves room (each fails closed).
//! - Receipts: [`issue_checkout_receipt`] / [`issue_payment_receipt`] sign ES256 JWTs,
//!   [`verify_checkout_receipt`] / [`verify_payment_receipt`] check them against the `reference`
//!   of the mandate they answer ([`VerifiedChain::reference`]). [`Ap2Error::receipt_error`] maps a
//!   refusal to AP2's receipt error codes.
//!
//! # Not verified here (yet)
//!
//! Revocation status, and `mandate_already_used` (a closed mandate or checkout accepted before):
//! both need state the caller keeps. Budget and recurrence history is likewise the caller's
//! ([`MandateUsage`]). Issuing (ES256 root SD-JWTs with disclosures, and key-binding hops) is in
//! [`issue_root`] / [`append_hop`].
#![forbid(unsafe_code)]

mod chain;
mod checkout;
mod constraints;
mod disclosure;
mod encoding;
mod error;
mod issue;
mod jwk;
mod jws;
mod jwt;
pub mod limits;
mod open;
mod purser_constraints;
mod receipts;

pub use chain::{
    parse_chain, verify_chain, verify_parsed, ParsedChain, Presentation, VerifiedChain,
    VerifyOptions, CLOSED_VCTS, OPEN_VCTS,
};
pub use checkout::{
    checkout_hash, receipt_reference, verify_checkout, verify_payment, verify_purchase,
    CheckoutAuthenticity, PaymentBinding, PurchaseOptions, VerifiedCheckout, VerifiedPayment,
    VerifiedPurchase,
};
pub use constraints::{
    check_checkout_constraints, check_payment_constraints, MandateUsage, PaymentContext,
    CHECKOUT_CONSTRAINT_TYPES, PAYMENT_CONSTRAINT_TYPES,
};
pub use encoding::sd_digest;
pub use error::Ap2Error;
pub use issue::{
    append_hop, issue_root, random_salt, Binding, Ed25519Signer, Es256Signer, HopContent,
    JwsSigner, ROOT_TYP, SALT_BYTES,
};
pub use jwk::{Algorithm, PublicJwk};
pub use jwt::{unverified_header, verify_jwt};
pub use open::{
    issue_open_mandates, major_number, minor_from_major, open_mandate_payloads, OpenContext,
    OpenCredentials, OpenPayload, OpenPayloads, MANDATE_ID_CLAIM, MAX_CREDENTIAL_LIFETIME_SECS,
    OPEN_CHECKOUT_VCT, OPEN_PAYMENT_VCT, PURSER_ISSUER_ENFORCED_TYPES, PURSER_NAMESPACE,
    PURSER_STATELESS_TYPES,
};
pub use receipts::{
    issue_checkout_receipt, issue_payment_receipt, verify_checkout_receipt, verify_payment_receipt,
    CheckoutOutcome, CheckoutReceipt, PaymentOutcome, PaymentReceipt, RECEIPT_TYP,
};
