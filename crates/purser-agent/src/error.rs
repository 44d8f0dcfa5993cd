//! The SDK's one error type: what Purser answered, or why the request never got an answer.

use serde::Deserialize;
use std::fmt;

/// Longest part of an unexpected (non-Purser) error body quoted in a message.
const MAX_QUOTED_BODY_CHARS: usize = 200;

/// Why a call failed.
///
/// Branch on [`Error::code`] (Purser's stable machine code), never on the message: the
/// message is written for a person and may change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Purser (or a proxy in front of it) answered with an HTTP error status.
    Api {
        status: u16,
        /// Stable machine code, e.g. `signature_expired`, `agent_not_bound`.
        code: String,
        /// What went wrong and what to do, for a person.
        message: String,
        /// The request field at fault, when there is one.
        param: Option<String>,
        /// Seconds the server asked to wait before retrying (`Retry-After`), when it said.
        retry_after_secs: Option<u64>,
    },
    /// The request did not get an HTTP answer: connection refused, DNS, timeout, TLS.
    Transport(String),
    /// The server answered 2xx, but not with the JSON this SDK expected.
    Decode(String),
    /// The request could not be signed (no random source, clock before 1970, bad path).
    Signing(String),
    /// The agent key could not be created, read, parsed or saved.
    Key(String),
    /// The arguments cannot make a request (base URL, method, path).
    InvalidInput(String),
}

/// Purser's error body: `{"type","code","message","param"}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    param: Option<String>,
}

impl Error {
    /// Builds the error for an HTTP error answer from its status, body and `Retry-After`.
    /// A body that is not Purser's error shape (say, a proxy's HTML page) still gives an
    /// [`Error::Api`], with code `http_<status>` and the start of the body in the message.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<&str>) -> Error {
        let retry_after_secs = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => Error::Api {
                status,
                code: b.code,
                message: b.message,
                param: b.param,
                retry_after_secs,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let quoted: String = text
                    .chars()
                    .take(MAX_QUOTED_BODY_CHARS)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let message = if quoted.trim().is_empty() {
                    format!("the server answered HTTP {status} with no Purser error body")
                } else {
                    format!(
                        "the server answered HTTP {status} with a body that is not a Purser \
                         error: {}",
                        quoted.trim()
                    )
                };
                Error::Api {
                    status,
                    code: format!("http_{status}"),
                    message,
                    param: None,
                    retry_after_secs,
                }
            }
        }
    }

    /// Purser's machine code for an [`Error::Api`]; `None` for errors that happened here.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed. The SDK signs every attempt
    /// afresh, so retrying is always safe for the signature; for a POST, reuse the same
    /// `Idempotency-Key` ([`crate::Client::send_with_key`]) so the server runs it at most
    /// once. True for transport failures, 408, 429, 5xx except 501, and a 409
    /// `idempotency_in_flight`; false for everything the caller must change first (a
    /// refused signature, an unbound agent, a bad field).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Api { status, code, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
                    || (*status == 409 && code == "idempotency_in_flight")
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api {
                status,
                code,
                message,
                param,
                ..
            } => {
                write!(
                    f,
                    "Purser refused the request (HTTP {status}, {code}): {message}"
                )?;
                if let Some(p) = param {
                    write!(f, " [param: {p}]")?;
                }
                Ok(())
            }
            Error::Transport(m) => write!(f, "could not reach Purser: {m}"),
            Error::Decode(m) => write!(f, "Purser's answer could not be read: {m}"),
            Error::Signing(m) => write!(f, "the request could not be signed: {m}"),
            Error::Key(m) => write!(f, "agent key: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid request: {m}"),
        }
    }
}

impl std::error::Error for Error {}
