//! Ledger request and response bodies, and their translation into core operations.
//! Untrusted JSON becomes typed values here; past this file nothing is unchecked.

use purser_core::ledger::{
    Account, AccountFlags, AccountId, Hold, LinkedOp, NewAccount, NewTransfer, Op, Outcome,
    Transfer, TransferId, TransferKind,
};
use purser_core::{Currency, Money};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};

/// Balance limits of an account. At most one may be true.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    /// The account can never spend more than it holds (a wallet).
    #[serde(default)]
    pub debits_must_not_exceed_credits: bool,
    /// The account can never be credited beyond what was debited.
    #[serde(default)]
    pub credits_must_not_exceed_debits: bool,
}

/// Open an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Client-chosen id (1–64 of `A-Z a-z 0-9 _ - . :`); repeating a request with the same id
    /// and content returns the first result.
    pub id: String,
    /// ISO 4217 code, e.g. `CNY`.
    pub currency: String,
    #[serde(default)]
    pub flags: Flags,
}

/// Move money now (`transfer`) or reserve it (`hold`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    /// Client-chosen id; the idempotency key of this transfer.
    pub id: String,
    /// `transfer` (default) or `hold`.
    #[serde(default, rename = "type")]
    pub kind: TransferType,
    pub debit_account_id: String,
    pub credit_account_id: String,
    /// Integer minor units of `currency` (CNY 79900 = ¥799.00).
    pub amount: i64,
    pub currency: String,
    /// For holds: seconds until the hold expires and releases its funds by itself.
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransferType {
    #[default]
    Transfer,
    Hold,
}

/// Settle a hold in full (no `amount`) or in part; the rest is released.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostHold {
    /// Client-chosen id of the posting transfer.
    pub id: String,
    /// Minor units to settle, at most the held amount. Omit to settle all of it.
    pub amount: Option<i64>,
}

/// Release a hold in full.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidHold {
    /// Client-chosen id of the voiding transfer.
    pub id: String,
}

/// Several operations in one durable commit. An operation with `linked: true` succeeds or
/// fails together with the next one (a chain ends at the first unlinked operation).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub operations: Vec<Operation>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    CreateAccount {
        id: String,
        currency: String,
        #[serde(default)]
        flags: Flags,
        #[serde(default)]
        linked: bool,
    },
    Transfer {
        id: String,
        debit_account_id: String,
        credit_account_id: String,
        amount: i64,
        currency: String,
        #[serde(default)]
        linked: bool,
    },
    Hold {
        id: String,
        debit_account_id: String,
        credit_account_id: String,
        amount: i64,
        currency: String,
        timeout_seconds: Option<i64>,
        #[serde(default)]
        linked: bool,
    },
    Post {
        id: String,
        pending_id: String,
        amount: Option<i64>,
        #[serde(default)]
        linked: bool,
    },
    Void {
        id: String,
        pending_id: String,
        #[serde(default)]
        linked: bool,
    },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// One result per operation, in order.
    pub results: Vec<BatchResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// `created`, `replayed` (same id and content as before; nothing new happened) or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// An account and its balances, in minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub currency: String,
    pub flags: Flags,
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
    /// Posted credits minus posted debits.
    pub balance: i64,
    /// What the account can still spend: balance minus pending debits.
    pub available: i64,
    /// `balance` for people, e.g. `1,000.00 CNY`.
    pub balance_display: String,
    pub created_at: String,
}

/// A transfer as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub id: String,
    /// `transfer`, `hold`, `post` or `void`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub amount: i64,
    pub currency: String,
    /// `amount` for people, e.g. `799.00 CNY`.
    pub amount_display: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    pub created_at: String,
}

/// A hold and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub amount: i64,
    pub currency: String,
    /// What the post settled (0 unless posted).
    pub posted_amount: i64,
    /// `pending`, `posted`, `voided` or `expired`.
    pub state: &'static str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> AccountView {
        let balance = a.credits_posted.saturating_sub(a.debits_posted);
        AccountView {
            id: a.id.to_string(),
            currency: a.currency.code().into(),
            flags: Flags {
                debits_must_not_exceed_credits: a.flags.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits: a.flags.credits_must_not_exceed_debits,
            },
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
            balance,
            available: balance.saturating_sub(a.debits_pending),
            balance_display: Money::new(balance, a.currency).to_string(),
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

impl From<&Transfer> for TransferView {
    fn from(t: &Transfer) -> TransferView {
        TransferView {
            id: t.id.to_string(),
            kind: t.kind.name(),
            debit_account_id: t.debit_account_id.to_string(),
            credit_account_id: t.credit_account_id.to_string(),
            amount: t.amount,
            currency: t.currency.code().into(),
            amount_display: t.money().to_string(),
            pending_id: t.kind.pending_id().map(|p| p.to_string()),
            timeout_seconds: match t.kind {
                TransferKind::Hold { timeout_ms } => timeout_ms.map(|ms| ms / 1000),
                _ => None,
            },
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

impl From<&Hold> for HoldView {
    fn from(h: &Hold) -> HoldView {
        HoldView {
            id: h.id.to_string(),
            debit_account_id: h.debit_account_id.to_string(),
            credit_account_id: h.credit_account_id.to_string(),
            amount: h.amount,
            currency: h.currency.code().into(),
            posted_amount: h.posted_amount,
            state: h.state.as_str(),
            created_at: h.created_at.to_rfc3339(),
            expires_at: h.expires_at.map(|t| t.to_rfc3339()),
            resolved_at: h.resolved_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// What the HTTP layer sends back for a successful operation.
pub enum OutcomeView {
    Account(AccountView),
    Transfer(TransferView),
}

pub fn view(outcome: &Outcome) -> (OutcomeView, bool) {
    match outcome {
        Outcome::Account { account, replayed } => (OutcomeView::Account(account.into()), *replayed),
        Outcome::Transfer { transfer, replayed } => {
            (OutcomeView::Transfer(transfer.into()), *replayed)
        }
    }
}

// ---- parsing at the edge -------------------------------------------------------------

/// Prefix field names with the operation's position when inside a batch.
#[derive(Clone, Copy)]
pub struct At(pub Option<usize>);

impl At {
    fn param(self, field: &str) -> String {
        match self.0 {
            Some(i) => format!("operations[{i}].{field}"),
            None => field.to_string(),
        }
    }
}

pub fn account_id(s: &str, field: &str, at: At) -> Result<AccountId, ApiError> {
    AccountId::parse(s)
        .map_err(|e| ApiError::invalid("invalid_id", e.to_string(), &at.param(field)))
}

pub fn transfer_id(s: &str, field: &str, at: At) -> Result<TransferId, ApiError> {
    TransferId::parse(s)
        .map_err(|e| ApiError::invalid("invalid_id", e.to_string(), &at.param(field)))
}

fn currency(s: &str, at: At) -> Result<Currency, ApiError> {
    s.parse::<Currency>()
        .map_err(|e| ApiError::invalid("invalid_currency", e.to_string(), &at.param("currency")))
}

fn timeout_ms(seconds: Option<i64>, at: At) -> Result<Option<i64>, ApiError> {
    seconds
        .map(|s| {
            s.checked_mul(1000).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_timeout",
                    "timeout_seconds is far too large",
                    &at.param("timeout_seconds"),
                )
            })
        })
        .transpose()
}

fn new_transfer(
    id: &str,
    debit: &str,
    credit: &str,
    amount: i64,
    cur: &str,
    at: At,
) -> Result<NewTransfer, ApiError> {
    Ok(NewTransfer {
        id: transfer_id(id, "id", at)?,
        debit_account_id: account_id(debit, "debit_account_id", at)?,
        credit_account_id: account_id(credit, "credit_account_id", at)?,
        amount,
        currency: currency(cur, at)?,
    })
}

fn flags(f: Flags) -> AccountFlags {
    AccountFlags {
        debits_must_not_exceed_credits: f.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits: f.credits_must_not_exceed_debits,
    }
}

impl CreateAccount {
    pub fn into_op(self) -> Result<Op, ApiError> {
        let at = At(None);
        Ok(Op::CreateAccount(NewAccount {
            id: account_id(&self.id, "id", at)?,
            currency: currency(&self.currency, at)?,
            flags: flags(self.flags),
        }))
    }
}

impl CreateTransfer {
    pub fn into_op(self) -> Result<Op, ApiError> {
        let at = At(None);
        let t = new_transfer(
            &self.id,
            &self.debit_account_id,
            &self.credit_account_id,
            self.amount,
            &self.currency,
            at,
        )?;
        match self.kind {
            TransferType::Transfer if self.timeout_seconds.is_some() => Err(ApiError::invalid(
                "invalid_timeout",
                "only holds expire; drop timeout_seconds or set \"type\": \"hold\"",
                "timeout_seconds",
            )),
            TransferType::Transfer => Ok(Op::Transfer(t)),
            TransferType::Hold => Ok(Op::Hold {
                transfer: t,
                timeout_ms: timeout_ms(self.timeout_seconds, at)?,
            }),
        }
    }
}

impl Operation {
    pub fn into_linked(self, index: usize) -> Result<LinkedOp, ApiError> {
        let at = At(Some(index));
        let (op, linked) = match self {
            Operation::CreateAccount {
                id,
                currency: c,
                flags: f,
                linked,
            } => (
                Op::CreateAccount(NewAccount {
                    id: account_id(&id, "id", at)?,
                    currency: currency(&c, at)?,
                    flags: flags(f),
                }),
                linked,
            ),
            Operation::Transfer {
                id,
                debit_account_id,
                credit_account_id,
                amount,
                currency: c,
                linked,
            } => (
                Op::Transfer(new_transfer(
                    &id,
                    &debit_account_id,
                    &credit_account_id,
                    amount,
                    &c,
                    at,
                )?),
                linked,
            ),
            Operation::Hold {
                id,
                debit_account_id,
                credit_account_id,
                amount,
                currency: c,
                timeout_seconds,
                linked,
            } => (
                Op::Hold {
                    transfer: new_transfer(
                        &id,
                        &debit_account_id,
                        &credit_account_id,
                        amount,
                        &c,
                        at,
                    )?,
                    timeout_ms: timeout_ms(timeout_seconds, at)?,
                },
                linked,
            ),
            Operation::Post {
                id,
                pending_id,
                amount,
                linked,
            } => (
                Op::Post {
                    id: transfer_id(&id, "id", at)?,
                    pending_id: transfer_id(&pending_id, "pending_id", at)?,
                    amount,
                },
                linked,
            ),
            Operation::Void {
                id,
                pending_id,
                linked,
            } => (
                Op::Void {
                    id: transfer_id(&id, "id", at)?,
                    pending_id: transfer_id(&pending_id, "pending_id", at)?,
                },
                linked,
            ),
        };
        Ok(LinkedOp { op, linked })
    }
}
