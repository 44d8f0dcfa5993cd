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
    /// Reserved: a constraint type this verifier does not understand (fail closed).
    UnresolvedConstraint { constraint_type: String },
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
