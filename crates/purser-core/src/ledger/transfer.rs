//! Transfers (immediate and two-phase) and the operations clients submit.

use super::{AccountId, NewAccount, TransferId};
use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// Longest a hold may stay open before it expires by itself. Card authorizations live at most
/// about 30 days; 90 leaves room for slow merchants without letting money sit reserved forever.
pub const MAX_HOLD_TIMEOUT_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// What kind of movement a transfer is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferKind {
    /// Moves posted money now.
    Single,
    /// Reserves money (pending) until posted, voided or expired.
    Hold {
        /// Milliseconds after creation at which the hold expires; `None` never expires.
        timeout_ms: Option<i64>,
    },
    /// Settles a hold in full or in part; the rest is released.
    Post { pending_id: TransferId },
    /// Releases a hold in full.
    Void { pending_id: TransferId },
}

impl TransferKind {
    pub fn name(&self) -> &'static str {
        match self {
            TransferKind::Single => "transfer",
            TransferKind::Hold { .. } => "hold",
            TransferKind::Post { .. } => "post",
            TransferKind::Void { .. } => "void",
        }
    }

    pub fn pending_id(&self) -> Option<&TransferId> {
        match self {
            TransferKind::Post { pending_id } | TransferKind::Void { pending_id } => {
                Some(pending_id)
            }
            _ => None,
        }
    }
}

/// A transfer as recorded in the journal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    pub id: TransferId,
    #[serde(flatten)]
    pub kind: TransferKind,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub amount: i64,
    pub currency: Currency,
    pub created_at: Timestamp,
}

impl Transfer {
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }
}

/// The state of a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Pending => "pending",
            HoldState::Posted => "posted",
            HoldState::Voided => "voided",
            HoldState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<HoldState> {
        Some(match s {
            "pending" => HoldState::Pending,
            "posted" => HoldState::Posted,
            "voided" => HoldState::Voided,
            "expired" => HoldState::Expired,
            _ => return None,
        })
    }
}

/// A hold (pending transfer) and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hold {
    pub id: TransferId,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub currency: Currency,
    /// Amount reserved.
    pub amount: i64,
    /// Amount settled by the post, once posted (never more than `amount`).
    pub posted_amount: i64,
    pub state: HoldState,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

impl Hold {
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// A request to move money, as a client submits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransfer {
    pub id: TransferId,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub amount: i64,
    pub currency: Currency,
}

/// One operation a client submits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    CreateAccount(NewAccount),
    Transfer(NewTransfer),
    Hold {
        transfer: NewTransfer,
        timeout_ms: Option<i64>,
    },
    Post {
        id: TransferId,
        pending_id: TransferId,
        /// `None` posts the whole hold.
        amount: Option<i64>,
    },
    Void {
        id: TransferId,
        pending_id: TransferId,
    },
}

impl Op {
    /// The transfer id a money-moving operation claims (`None` for account creation).
    pub fn transfer_id(&self) -> Option<&TransferId> {
        match self {
            Op::CreateAccount(_) => None,
            Op::Transfer(t) | Op::Hold { transfer: t, .. } => Some(&t.id),
            Op::Post { id, .. } | Op::Void { id, .. } => Some(id),
        }
    }

    /// A canonical, version-stable rendering of the request, to tell "the same request again"
    /// from "another request reusing the id". Ids cannot contain `|`.
    pub fn fingerprint(&self) -> String {
        let opt = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        match self {
            Op::CreateAccount(a) => {
                format!("account|{}|{}|{}", a.id, a.currency.code(), a.flags.bits())
            }
            Op::Transfer(t) => format!(
                "transfer|{}|{}|{}|{}|{}",
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.currency.code()
            ),
            Op::Hold {
                transfer: t,
                timeout_ms,
            } => format!(
                "hold|{}|{}|{}|{}|{}|{}",
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.currency.code(),
                opt(*timeout_ms)
            ),
            Op::Post {
                id,
                pending_id,
                amount,
            } => format!("post|{id}|{pending_id}|{}", opt(*amount)),
            Op::Void { id, pending_id } => format!("void|{id}|{pending_id}"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateAccount(_) => "create_account",
            Op::Transfer(_) => "transfer",
            Op::Hold { .. } => "hold",
            Op::Post { .. } => "post",
            Op::Void { .. } => "void",
        }
    }
}

/// An operation and whether it is linked to the next one: a run of linked operations ending in
/// an unlinked one succeeds or fails as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedOp {
    pub op: Op,
    pub linked: bool,
}

impl From<Op> for LinkedOp {
    fn from(op: Op) -> LinkedOp {
        LinkedOp { op, linked: false }
    }
}

/// What a successful operation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Account {
        account: super::Account,
        replayed: bool,
    },
    Transfer {
        transfer: Transfer,
        replayed: bool,
    },
}

impl Outcome {
    pub fn replayed(&self) -> bool {
        match self {
            Outcome::Account { replayed, .. } | Outcome::Transfer { replayed, .. } => *replayed,
        }
    }
}
