//! Why the ledger refused an operation: a stable machine code and a sentence for a person.

use super::{AccountId, TransferId};
use crate::money::{Currency, Money};
use std::fmt;

/// Broad class of a refusal; the HTTP layer maps it to a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The request itself is malformed (400).
    Invalid,
    /// Something it names does not exist (404).
    NotFound,
    /// It clashes with what already happened (409).
    Conflict,
    /// Well-formed, but the rules forbid it now (422).
    Refused,
    /// Purser's own state is inconsistent (500); never the caller's fault.
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerError {
    FlagsMutuallyExclusive,
    AccountIdConflict {
        id: AccountId,
    },
    TransferIdConflict {
        id: TransferId,
        field: &'static str,
    },
    /// The id belongs to an earlier request that was refused; this request differs from it.
    RefusedIdConflict {
        id: TransferId,
    },
    AccountNotFound {
        id: AccountId,
    },
    HoldNotFound {
        id: TransferId,
    },
    SameAccount,
    AmountMustBePositive,
    InvalidTimeout,
    CurrencyMismatch {
        account: AccountId,
        account_currency: Currency,
        given: Currency,
    },
    ExceedsCredits {
        account: AccountId,
        available: Money,
        requested: Money,
    },
    ExceedsDebits {
        account: AccountId,
        available: Money,
        requested: Money,
    },
    HoldNotPending {
        id: TransferId,
        state: super::HoldState,
    },
    HoldExpired {
        id: TransferId,
    },
    PostExceedsHold {
        id: TransferId,
        held: Money,
        requested: Money,
    },
    Overflow,
    LinkedEventFailed,
    LinkedChainOpen,
    /// The journal or a stored row breaks a ledger rule (seen only when replaying or on a bug).
    Corrupt(String),
    /// This id was refused before, for this same request: the first answer, replayed.
    Replayed(Box<Refusal>),
}

/// A refusal remembered under the operation's id, so that retrying the same request returns
/// the same answer even after circumstances change (no payment the caller was told failed can
/// happen later under the same id). Not money, so not in the hash-chained journal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// The request's canonical form (see `Op::fingerprint`).
    pub request: String,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub class: ErrorClass,
    pub at: crate::time::Timestamp,
}

impl Refusal {
    pub fn of(request: String, e: &LedgerError, at: crate::time::Timestamp) -> Refusal {
        Refusal {
            request,
            code: e.code().to_string(),
            message: e.to_string(),
            param: e.param().map(str::to_string),
            class: e.class(),
            at,
        }
    }
}

impl LedgerError {
    /// Whether a refusal is remembered under the operation's id. Conflicts belong to the id's
    /// first use, and internal errors are never the request's fault.
    pub fn is_remembered(&self) -> bool {
        !matches!(
            self,
            LedgerError::AccountIdConflict { .. }
                | LedgerError::TransferIdConflict { .. }
                | LedgerError::RefusedIdConflict { .. }
                | LedgerError::Corrupt(_)
                | LedgerError::Replayed(_)
        )
    }

    /// Stable machine code; clients branch on this, never on the message.
    pub fn code(&self) -> &str {
        use LedgerError::*;
        match self {
            Replayed(r) => &r.code,
            FlagsMutuallyExclusive => "flags_mutually_exclusive",
            AccountIdConflict { .. } => "account_id_conflict",
            TransferIdConflict { .. } | RefusedIdConflict { .. } => "transfer_id_conflict",
            AccountNotFound { .. } => "account_not_found",
            HoldNotFound { .. } => "hold_not_found",
            SameAccount => "accounts_must_differ",
            AmountMustBePositive => "amount_must_be_positive",
            InvalidTimeout => "invalid_timeout",
            CurrencyMismatch { .. } => "currency_mismatch",
            ExceedsCredits { .. } => "insufficient_funds",
            ExceedsDebits { .. } => "exceeds_debits",
            HoldNotPending { state, .. } => match state {
                super::HoldState::Posted => "hold_already_posted",
                super::HoldState::Voided => "hold_already_voided",
                super::HoldState::Expired => "hold_expired",
                super::HoldState::Pending => "hold_pending",
            },
            HoldExpired { .. } => "hold_expired",
            PostExceedsHold { .. } => "post_exceeds_hold",
            Overflow => "amount_overflow",
            LinkedEventFailed => "linked_operation_failed",
            LinkedChainOpen => "linked_chain_open",
            Corrupt(_) => "ledger_corrupt",
        }
    }

    pub fn class(&self) -> ErrorClass {
        use LedgerError::*;
        match self {
            Replayed(r) => r.class,
            FlagsMutuallyExclusive
            | SameAccount
            | AmountMustBePositive
            | InvalidTimeout
            | LinkedChainOpen => ErrorClass::Invalid,
            AccountNotFound { .. } | HoldNotFound { .. } => ErrorClass::NotFound,
            AccountIdConflict { .. } | TransferIdConflict { .. } | RefusedIdConflict { .. } => {
                ErrorClass::Conflict
            }
            CurrencyMismatch { .. }
            | ExceedsCredits { .. }
            | ExceedsDebits { .. }
            | HoldNotPending { .. }
            | HoldExpired { .. }
            | PostExceedsHold { .. }
            | Overflow
            | LinkedEventFailed => ErrorClass::Refused,
            Corrupt(_) => ErrorClass::Internal,
        }
    }

    /// The request field the error is about, when there is one.
    pub fn param(&self) -> Option<&str> {
        use LedgerError::*;
        match self {
            Replayed(r) => r.param.as_deref(),
            FlagsMutuallyExclusive => Some("flags"),
            AccountIdConflict { .. } | TransferIdConflict { .. } | RefusedIdConflict { .. } => {
                Some("id")
            }
            HoldNotFound { .. } => Some("pending_id"),
            SameAccount => Some("credit_account_id"),
            AmountMustBePositive | PostExceedsHold { .. } | Overflow => Some("amount"),
            InvalidTimeout => Some("timeout_seconds"),
            CurrencyMismatch { .. } => Some("currency"),
            ExceedsCredits { .. } => Some("debit_account_id"),
            ExceedsDebits { .. } => Some("credit_account_id"),
            HoldNotPending { .. } | HoldExpired { .. } => Some("pending_id"),
            _ => None,
        }
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LedgerError::*;
        match self {
            FlagsMutuallyExclusive => f.write_str(
                "an account can limit its debits or its credits, not both; choose one flag",
            ),
            AccountIdConflict { id } => write!(
                f,
                "account {id} already exists with a different currency or flags; use a new id, or repeat the original request exactly"
            ),
            TransferIdConflict { id, field } => write!(
                f,
                "transfer {id} already exists with a different {field}; use a new id for a new transfer, or repeat the original request exactly to see its result"
            ),
            RefusedIdConflict { id } => write!(
                f,
                "id {id} belongs to an earlier request that was refused, and this request is different; use a new id, or repeat the earlier request exactly to see its answer"
            ),
            AccountNotFound { id } => write!(f, "there is no account {id}; create it first"),
            HoldNotFound { id } => write!(f, "there is no hold {id}; check the pending_id"),
            SameAccount => f.write_str("a transfer needs two different accounts; the debit and credit accounts are the same"),
            AmountMustBePositive => f.write_str("the amount must be greater than zero"),
            InvalidTimeout => write!(
                f,
                "a hold's timeout must be between 1 second and {} days",
                super::MAX_HOLD_TIMEOUT_MS / 86_400_000
            ),
            CurrencyMismatch { account, account_currency, given } => write!(
                f,
                "account {account} holds {account_currency}, but this transfer is in {given}; Purser never converts currencies silently"
            ),
            ExceedsCredits { account, available, requested } => write!(
                f,
                "account {account} has {available} available, and this needs {requested}; add funds or lower the amount"
            ),
            ExceedsDebits { account, available, requested } => write!(
                f,
                "account {account} can take at most {available} more in credits, and this needs {requested}"
            ),
            HoldNotPending { id, state } => match state {
                super::HoldState::Posted => write!(f, "hold {id} was already posted; a hold can be posted once"),
                super::HoldState::Voided => write!(f, "hold {id} was already voided; its funds were released"),
                super::HoldState::Expired => write!(f, "hold {id} expired and its funds were released; place a new hold"),
                super::HoldState::Pending => write!(f, "hold {id} is still pending"),
            },
            HoldExpired { id } => write!(f, "hold {id} expired and its funds were released; place a new hold"),
            PostExceedsHold { id, held, requested } => write!(
                f,
                "hold {id} reserved {held}; a post can settle at most that, and this asks for {requested}"
            ),
            Overflow => f.write_str("the amount would overflow an account balance; use a smaller amount"),
            LinkedEventFailed => f.write_str(
                "not applied, because another operation linked to it failed; nothing in the linked group was applied",
            ),
            LinkedChainOpen => f.write_str(
                "the last operation is marked as linked to a next one that does not exist; clear 'linked' on the last operation",
            ),
            Corrupt(detail) => write!(f, "ledger inconsistency: {detail}"),
            Replayed(r) => f.write_str(&r.message),
        }
    }
}

impl std::error::Error for LedgerError {}
