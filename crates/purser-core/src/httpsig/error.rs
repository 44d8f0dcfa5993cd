//! Why a request signature was refused: a stable machine code and a sentence a developer can
//! act on. Messages name headers, parameters and times, never key material, and quote at most
//! a short, sanitised fragment of what the client sent.

use super::policy::{ACCEPTED_TAGS, CLOCK_SKEW_SECS};
use crate::time::Timestamp;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigError {
    /// `Signature-Input` or `Signature` is absent (or empty).
    Missing {
        header: &'static str,
    },
    /// A header could not be parsed, or a parameter has the wrong type or size.
    Malformed {
        detail: String,
    },
    /// A component or parameter the profile requires is not covered / not present.
    Incomplete {
        what: String,
    },
    /// The signature does not verify against the request and key.
    Invalid {
        detail: String,
    },
    Expired {
        expires_secs: i64,
        now: Timestamp,
    },
    NotYetValid {
        created_secs: i64,
        now: Timestamp,
    },
    WindowTooLong {
        window_secs: i64,
        max_secs: i64,
    },
    /// No signature carries an accepted `tag` (`None`: the chosen one has no tag at all).
    TagUnsupported {
        tag: Option<String>,
    },
    AlgorithmUnsupported {
        alg: String,
    },
    ContentDigestMissing {
        detail: String,
    },
    ContentDigestMismatch {
        detail: String,
    },
}

impl SigError {
    /// Stable machine code; clients branch on this, never on the message.
    pub fn code(&self) -> &'static str {
        match self {
            SigError::Missing { .. } => "signature_missing",
            SigError::Malformed { .. } => "signature_malformed",
            SigError::Incomplete { .. } => "signature_incomplete",
            SigError::Invalid { .. } => "signature_invalid",
            SigError::Expired { .. } => "signature_expired",
            SigError::NotYetValid { .. } => "signature_not_yet_valid",
            SigError::WindowTooLong { .. } => "signature_window_too_long",
            SigError::TagUnsupported { .. } => "signature_tag_unsupported",
            SigError::AlgorithmUnsupported { .. } => "signature_algorithm_unsupported",
            SigError::ContentDigestMissing { .. } => "content_digest_missing",
            SigError::ContentDigestMismatch { .. } => "content_digest_mismatch",
        }
    }

    /// The HTTP status an API answers with: 400 when the request cannot be read as sent,
    /// 401 when it can but does not authenticate the agent.
    pub fn http_status(&self) -> u16 {
        match self {
            SigError::Malformed { .. }
            | SigError::ContentDigestMissing { .. }
            | SigError::ContentDigestMismatch { .. } => 400,
            _ => 401,
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> SigError {
        SigError::Malformed {
            detail: detail.into(),
        }
    }

    pub(crate) fn incomplete(what: impl Into<String>) -> SigError {
        SigError::Incomplete { what: what.into() }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> SigError {
        SigError::Invalid {
            detail: detail.into(),
        }
    }
}

/// At most 64 visible-ASCII characters of client input, quoted, for a message.
pub(crate) fn quote(s: &str) -> String {
    const MAX_QUOTED: usize = 64;
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX_QUOTED {
            out.push('…');
            break;
        }
        out.push(if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            '?'
        });
    }
    out.push('"');
    out
}

/// `2026-11-21T10:00:00Z` for a time in whole seconds.
fn secs_rfc3339(secs: i64) -> String {
    match secs.checked_mul(1000) {
        Some(ms) => {
            let s = Timestamp(ms).to_rfc3339();
            s.strip_suffix(".000Z")
                .map(|head| format!("{head}Z"))
                .unwrap_or(s)
        }
        None => format!("{secs} (seconds since 1970)"),
    }
}

/// Whole seconds from `earlier` (seconds) to `later` (a timestamp), saturating.
fn secs_between(earlier_secs: i64, later: Timestamp) -> i64 {
    later.0.div_euclid(1000).saturating_sub(earlier_secs)
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::Missing { header } => write!(
                f,
                "the request has no {header} header; sign each request with HTTP Message \
                 Signatures (RFC 9421, Web Bot Auth profile) and send both Signature-Input \
                 and Signature"
            ),
            SigError::Malformed { detail } => {
                write!(f, "the request signature could not be read: {detail}")
            }
            SigError::Incomplete { what } => write!(
                f,
                "the signature does not cover {what}; Purser requires the components \
                 @method, @authority and @path (plus @query, content-digest and \
                 signature-agent when the request has them) and the parameters created, \
                 expires, keyid and nonce"
            ),
            SigError::Invalid { detail } => write!(
                f,
                "the signature does not verify{}{detail}; check that keyid names the key \
                 that signed, and that nothing changed the method, host, path, query, \
                 signed headers or body after signing",
                if detail.is_empty() { "" } else { ": " }
            ),
            SigError::Expired { expires_secs, now } => write!(
                f,
                "the signature expired at {}, {} s ago; sign each request just before \
                 sending it",
                secs_rfc3339(*expires_secs),
                secs_between(*expires_secs, *now)
            ),
            SigError::NotYetValid { created_secs, now } => write!(
                f,
                "the signature was created at {}, {} s in the future; check the signing \
                 machine's clock (Purser allows {CLOCK_SKEW_SECS} s of skew)",
                secs_rfc3339(*created_secs),
                -secs_between(*created_secs, *now)
            ),
            SigError::WindowTooLong {
                window_secs,
                max_secs,
            } => write!(
                f,
                "the signature is valid for {window_secs} s (expires - created); Purser \
                 accepts at most {max_secs} s, so set expires closer to created"
            ),
            SigError::TagUnsupported { tag } => match tag {
                Some(t) => write!(
                    f,
                    "the signature's tag {} is not one Purser accepts; use one of {}",
                    quote(t),
                    ACCEPTED_TAGS.join(", ")
                ),
                None => write!(
                    f,
                    "the signature has no tag parameter; add tag=\"web-bot-auth\" (or one of {})",
                    ACCEPTED_TAGS.join(", ")
                ),
            },
            SigError::AlgorithmUnsupported { alg } => write!(
                f,
                "the signature declares alg={}; Purser verifies Ed25519 signatures only \
                 (alg=\"ed25519\", or leave alg out)",
                quote(alg)
            ),
            SigError::ContentDigestMissing { detail } => write!(
                f,
                "{detail}; send Content-Digest: sha-256=:<base64 of SHA-256(body)>: and cover \
                 content-digest in the signature"
            ),
            SigError::ContentDigestMismatch { detail } => write!(
                f,
                "the Content-Digest header does not match the body: {detail}; compute it over \
                 the exact bytes sent, after any compression"
            ),
        }
    }
}

impl std::error::Error for SigError {}
