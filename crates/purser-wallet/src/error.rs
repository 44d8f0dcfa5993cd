//! The wallet's one error type. Each error knows its kind (which the server maps to an HTTP
//! status), a stable machine `code`, a sentence for a person, and the request field at fault.

use purser_store::db::DbError;
use purser_store::StoreError;

/// What kind of failure, for the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The request is wrong; fix it and retry (400).
    Invalid,
    /// No valid credential (401).
    Unauthorized,
    /// A valid credential without the right (403).
    Forbidden,
    /// Nothing by that id that the caller may see (404). Another user's things are reported
    /// as missing, so ids cannot be probed.
    NotFound,
    /// The thing is not in a state that allows this (409).
    Conflict,
    /// Well-formed but cannot be applied as asked (422).
    Unprocessable,
    /// The card rail declined (402).
    Declined,
    /// Storage or a rail is unavailable; retry later with the same Idempotency-Key (503).
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletError {
    pub kind: Kind,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

impl WalletError {
    pub fn new(kind: Kind, code: impl Into<String>, message: impl Into<String>) -> WalletError {
        WalletError {
            kind,
            code: code.into(),
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid(code: &str, message: impl Into<String>, param: &str) -> WalletError {
        WalletError::new(Kind::Invalid, code, message).at(param)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> WalletError {
        WalletError::new(Kind::Conflict, code, message)
    }

    pub fn not_found(what: &str, id: &str) -> WalletError {
        WalletError::new(
            Kind::NotFound,
            format!("{what}_not_found"),
            format!(
                "there is no {} {id} that you can see",
                what.replace('_', " ")
            ),
        )
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> WalletError {
        WalletError::new(Kind::Forbidden, code, message)
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> WalletError {
        WalletError::new(Kind::Unauthorized, code, message)
    }

    pub fn at(mut self, param: &str) -> WalletError {
        self.param = Some(param.to_string());
        self
    }
}

impl std::fmt::Display for WalletError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for WalletError {}

impl From<StoreError> for WalletError {
    fn from(e: StoreError) -> WalletError {
        tracing::error!(error = %e, "storage failed");
        match e {
            StoreError::Closed => WalletError::new(
                Kind::Unavailable,
                "shutting_down",
                "Purser is shutting down; retry against a running server",
            ),
            StoreError::Corrupt(_) => WalletError::new(
                Kind::Unavailable,
                "internal_error",
                "Purser found stored data it cannot read and applied nothing; the operator has been told in the log",
            ),
            _ => WalletError::new(
                Kind::Unavailable,
                "storage_unavailable",
                "storage is unavailable right now and nothing was changed; retry shortly with the same Idempotency-Key",
            ),
        }
    }
}

impl From<DbError> for WalletError {
    fn from(e: DbError) -> WalletError {
        match e {
            DbError::Store(s) => s.into(),
            DbError::Precondition(label) => WalletError::conflict(
                "state_changed",
                format!("it changed while this request was being applied ({label}); read it again and retry"),
            ),
            DbError::Conflict(what) => WalletError::conflict(
                "already_exists",
                format!("that already exists ({what})"),
            ),
        }
    }
}

impl From<purser_core::ledger::LedgerError> for WalletError {
    fn from(e: purser_core::ledger::LedgerError) -> WalletError {
        use purser_core::ledger::ErrorClass;
        let kind = match e.class() {
            ErrorClass::Invalid => Kind::Invalid,
            ErrorClass::NotFound => Kind::NotFound,
            _ => Kind::Conflict,
        };
        WalletError::new(kind, e.code(), e.to_string())
    }
}

pub type Result<T, E = WalletError> = std::result::Result<T, E>;

/// Reading something that may legitimately be absent, without mistaking a failed read for an
/// absent thing: a store that could not answer must never become a refusal, a decline or "not
/// found" (those are kept, and an idempotent answer under 500 is replayed for good).
pub trait Found<T> {
    /// `Ok(Some(v))` when found, `Ok(None)` when it is not there (`Kind::NotFound`), and the
    /// error itself for anything else (storage unavailable, corrupt data, a missing scope).
    fn found(self) -> Result<Option<T>>;
}

impl<T> Found<T> for Result<T> {
    fn found(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == Kind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
