//! The one error type of this crate: a stable AP2-style machine `code` and a sentence for people.

use std::fmt;

/// Why a mandate chain was refused.
///
/// Each variant maps to a stable machine code ([`Ap2Error::code`]) that callers may put on the
/// wire; the `Display` text is a sentence for a person. Neither ever contains key material or
/// whole tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ap2Error {
    /// The bytes are not a well-formed SD-JWT chain (bad base64url, bad JSON, wrong shape, a
    /// limit exceeded, a missing required claim).
    Malformed { hop: Option<usize>, reason: String },
    /// The JWS `alg` is not one this verifier accepts for the key it is checked against.
    UnsupportedAlgorithm { hop: usize, alg: String },
    /// A key (`root` or a `cnf.jwk`) is not a usable EC P-256 or OKP Ed25519 public key.
    InvalidKey { hop: usize, reason: String },
    /// A JWS signature does not verify under the key that must have made it.
    InvalidSignature { hop: usize },
    /// A hop's `sd_hash` / `issuer_jwt_hash` does not match the previous hop.
    InvalidSdHash { hop: usize },
    /// Disclosures do not match the digests the signed payload commits to.
    DisclosureMismatch { hop: usize, reason: String },
    /// The last hop's `aud` is not this verifier.
    AudMismatch { hop: usize },
    /// The last hop's `nonce` is not the one this verifier issued.
    NonceMismatch { hop: usize },
    /// A hop is past its `exp`, or its key-binding `iat` is older than the allowed age.
    Expired { hop: usize },
    /// A hop's `iat` or `nbf` is in the future beyond the allowed clock skew.
    NotYetValid { hop: usize },
    /// A hop's `vct` is not the AP2 mandate type expected at that position.
    InvalidVct { hop: usize, found: String },
    /// Issuing a credential failed (bad signing key, reserved claim name, no randomness).
    IssueFailed { reason: String },
    /// A constraint type this verifier does not understand (fail closed).
    UnresolvedConstraint { constraint_type: String },
    /// A known constraint that cannot be evaluated: it is malformed, part of it was withheld, or
    /// it needs usage history (budget, recurrence) or a binding the caller did not supply.
    UnverifiableConstraint {
        hop: usize,
        constraint_type: String,
        reason: String,
    },
    /// The closed mandate (or the checkout it carries) breaks a constraint of an open mandate.
    ConstraintViolated {
        hop: usize,
        constraint_type: String,
        reason: String,
    },
    /// The closed mandate changed or dropped a claim that an open mandate before it fixed.
    ClaimChanged { hop: usize, claim: String },
    /// `checkout_hash` is not the hash of `checkout_jwt`, or not the checkout the verifier issued.
    CheckoutHashMismatch { reason: String },
    /// The merchant-signed checkout JWT is unusable: not a JWS, a refused algorithm, a bad
    /// merchant signature, or no readable checkout object.
    InvalidCheckout { reason: String },
    /// The payment mandate's `transaction_id` is not the hash of the checkout being paid.
    TransactionIdMismatch,
    /// A `payment.reference` constraint names no open checkout mandate of the checkout chain.
    ReferenceMismatch { hop: usize },
    /// The payment amount is not the checkout's total.
    AmountMismatch { reason: String },
    /// A receipt is malformed or not signed by the key that must have signed it.
    InvalidReceipt { reason: String },
    /// A receipt's `reference` is not the hash of the mandate it is checked against.
    ReceiptReferenceMismatch,
}

impl Ap2Error {
    /// Stable machine code, in AP2's snake_case style.
    pub fn code(&self) -> &'static str {
        match self {
            Ap2Error::Malformed { .. } => "malformed",
            Ap2Error::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Ap2Error::InvalidKey { .. } => "invalid_key",
            Ap2Error::InvalidSignature { .. } => "invalid_signature",
            Ap2Error::InvalidSdHash { .. } => "invalid_sd_hash",
            Ap2Error::DisclosureMismatch { .. } => "disclosure_mismatch",
            Ap2Error::AudMismatch { .. } => "aud_mismatch",
            Ap2Error::NonceMismatch { .. } => "nonce_mismatch",
            Ap2Error::Expired { .. } => "expired",
            Ap2Error::NotYetValid { .. } => "not_yet_valid",
            Ap2Error::InvalidVct { .. } => "invalid_vct",
            Ap2Error::IssueFailed { .. } => "issue_failed",
            Ap2Error::UnresolvedConstraint { .. } => "unresolved_constraint",
            Ap2Error::UnverifiableConstraint { .. } => "unverifiable_constraint",
            Ap2Error::ConstraintViolated { .. } => "constraint_violated",
            Ap2Error::ClaimChanged { .. } => "claim_changed",
            Ap2Error::CheckoutHashMismatch { .. } => "checkout_hash_mismatch",
            Ap2Error::InvalidCheckout { .. } => "invalid_checkout",
            Ap2Error::TransactionIdMismatch => "transaction_id_mismatch",
            Ap2Error::ReferenceMismatch { .. } => "reference_mismatch",
            Ap2Error::AmountMismatch { .. } => "amount_mismatch",
            Ap2Error::InvalidReceipt { .. } => "invalid_receipt",
            Ap2Error::ReceiptReferenceMismatch => "receipt_reference_mismatch",
        }
    }

    /// The AP2 receipt error code for this refusal (agent authorization, "Errors"):
    /// `unresolved_constraint` when a constraint is unknown or could not be evaluated (the agent
    /// may fall back to a human-approved mandate), `invalid_mandate` when the mandate was
    /// understood and does not approve this checkout or payment, and `invalid_credential` when
    /// the mandate itself failed verification.
    pub fn receipt_error(&self) -> &'static str {
        match self {
            Ap2Error::UnresolvedConstraint { .. } | Ap2Error::UnverifiableConstraint { .. } => {
                "unresolved_constraint"
            }
            Ap2Error::ConstraintViolated { .. }
            | Ap2Error::ClaimChanged { .. }
            | Ap2Error::CheckoutHashMismatch { .. }
            | Ap2Error::InvalidCheckout { .. }
            | Ap2Error::TransactionIdMismatch
            | Ap2Error::ReferenceMismatch { .. }
            | Ap2Error::AmountMismatch { .. } => "invalid_mandate",
            _ => "invalid_credential",
        }
    }

    pub(crate) fn unverifiable(
        hop: usize,
        constraint_type: &str,
        reason: impl Into<String>,
    ) -> Ap2Error {
        Ap2Error::UnverifiableConstraint {
            hop,
            constraint_type: constraint_type.chars().take(64).collect(),
            reason: reason.into(),
        }
    }

    pub(crate) fn violated(
        hop: usize,
        constraint_type: &str,
        reason: impl Into<String>,
    ) -> Ap2Error {
        Ap2Error::ConstraintViolated {
            hop,
            constraint_type: constraint_type.chars().take(64).collect(),
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(hop: Option<usize>, reason: impl Into<String>) -> Ap2Error {
        Ap2Error::Malformed {
            hop,
            reason: reason.into(),
        }
    }

    pub(crate) fn disclosure(hop: usize, reason: impl Into<String>) -> Ap2Error {
        Ap2Error::DisclosureMismatch {
            hop,
            reason: reason.into(),
        }
    }
}

fn hop_name(hop: usize) -> String {
    if hop == 0 {
        "the root mandate (hop 0)".to_string()
    } else {
        format!("hop {hop}")
    }
}

impl fmt::Display for Ap2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ap2Error::Malformed { hop: Some(h), reason } => {
                write!(f, "The mandate chain is malformed at {}: {reason}.", hop_name(*h))
            }
            Ap2Error::Malformed { hop: None, reason } => {
                write!(f, "The mandate chain is malformed: {reason}.")
            }
            Ap2Error::UnsupportedAlgorithm { hop, alg } => write!(
                f,
                "{} is signed with algorithm {alg:?}, which this verifier does not accept for that key.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::InvalidKey { hop, reason } => write!(
                f,
                "The key that must verify {} is not usable: {reason}.",
                hop_name(*hop)
            ),
            Ap2Error::InvalidSignature { hop } => write!(
                f,
                "The signature on {} does not verify; the mandate was altered or signed by another key.",
                hop_name(*hop)
            ),
            Ap2Error::InvalidSdHash { hop } => write!(
                f,
                "{} is not bound to the presentation before it (sd_hash / issuer_jwt_hash mismatch).",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::DisclosureMismatch { hop, reason } => write!(
                f,
                "The disclosures of {} do not match what was signed: {reason}.",
                hop_name(*hop)
            ),
            Ap2Error::AudMismatch { hop } => write!(
                f,
                "{} was presented to a different audience than this verifier.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::NonceMismatch { hop } => write!(
                f,
                "{} carries a different nonce than the one this verifier issued; it may be a replay.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::Expired { hop } => write!(
                f,
                "{} has expired; ask the agent for a fresh presentation.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::NotYetValid { hop } => write!(
                f,
                "{} is dated in the future beyond the allowed clock skew.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::InvalidVct { hop, found } => write!(
                f,
                "{} has mandate type {found:?}, which is not allowed at that position of the chain.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::IssueFailed { reason } => {
                write!(f, "The mandate could not be issued: {reason}.")
            }
            Ap2Error::UnresolvedConstraint { constraint_type } => write!(
                f,
                "The mandate has a constraint of type {constraint_type:?} that this verifier does not understand, so it is refused."
            ),
            Ap2Error::UnverifiableConstraint {
                hop,
                constraint_type,
                reason,
            } => write!(
                f,
                "The {constraint_type} constraint of {} cannot be checked: {reason}.",
                hop_name(*hop)
            ),
            Ap2Error::ConstraintViolated {
                hop,
                constraint_type,
                reason,
            } => write!(
                f,
                "This breaks the {constraint_type} constraint of {}: {reason}.",
                hop_name(*hop)
            ),
            Ap2Error::ClaimChanged { hop, claim } => write!(
                f,
                "{} fixed {claim:?}, and the closed mandate does not carry the same value.",
                capitalize(&hop_name(*hop))
            ),
            Ap2Error::CheckoutHashMismatch { reason } => {
                write!(f, "The checkout mandate is not bound to this checkout: {reason}.")
            }
            Ap2Error::InvalidCheckout { reason } => {
                write!(f, "The merchant's checkout JWT is not usable: {reason}.")
            }
            Ap2Error::TransactionIdMismatch => f.write_str(
                "The payment mandate's transaction_id is not the hash of this checkout; it pays for a different checkout.",
            ),
            Ap2Error::ReferenceMismatch { hop } => write!(
                f,
                "The payment.reference constraint of {} names an open checkout mandate that is not in this checkout's chain.",
                hop_name(*hop)
            ),
            Ap2Error::AmountMismatch { reason } => {
                write!(f, "The payment does not pay this checkout: {reason}.")
            }
            Ap2Error::InvalidReceipt { reason } => write!(f, "The receipt is not valid: {reason}."),
            Ap2Error::ReceiptReferenceMismatch => f.write_str(
                "The receipt's reference is not the hash of this mandate; it is a receipt for something else.",
            ),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl std::error::Error for Ap2Error {}
