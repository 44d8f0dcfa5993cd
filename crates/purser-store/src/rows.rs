//! Stored rows back into typed values. A row that does not parse is reported as corrupt,
//! never trusted.

use purser_core::ledger::journal::{Entry, Event};
use purser_core::ledger::{
    Account, AccountFlags, AccountId, Hold, HoldState, Transfer, TransferId,
};
use purser_core::{Currency, Timestamp};

use crate::StoreError;

/// Columns of `accounts`, in this order, in both backends.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, currency, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at";

/// Columns of `holds`, in this order, in both backends.
pub(crate) const HOLD_COLUMNS: &str =
    "id, debit_account_id, credit_account_id, currency, amount, posted_amount, state, created_at, expires_at, resolved_at";

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} in stored row {id}"))
}

pub(crate) struct AccountRow {
    pub id: String,
    pub currency: String,
    pub flags: i64,
    pub balances: [i64; 4],
    pub created_at: i64,
}

impl AccountRow {
    pub fn parse(self) -> Result<Account, StoreError> {
        Ok(Account {
            id: AccountId::parse(&self.id).map_err(|_| corrupt("invalid id", &self.id))?,
            currency: self
                .currency
                .parse()
                .map_err(|_| corrupt("unknown currency", &self.id))?,
            flags: AccountFlags::from_bits(self.flags)
                .ok_or_else(|| corrupt("unknown flags", &self.id))?,
            debits_pending: self.balances[0],
            debits_posted: self.balances[1],
            credits_pending: self.balances[2],
            credits_posted: self.balances[3],
            created_at: Timestamp(self.created_at),
        })
    }
}

pub(crate) struct HoldRow {
    pub id: String,
    pub debit: String,
    pub credit: String,
    pub currency: String,
    pub amount: i64,
    pub posted_amount: i64,
    pub state: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

impl HoldRow {
    pub fn parse(self) -> Result<Hold, StoreError> {
        let bad = |what| corrupt(what, &self.id);
        Ok(Hold {
            id: TransferId::parse(&self.id).map_err(|_| bad("invalid id"))?,
            debit_account_id: AccountId::parse(&self.debit)
                .map_err(|_| bad("invalid debit account"))?,
            credit_account_id: AccountId::parse(&self.credit)
                .map_err(|_| bad("invalid credit account"))?,
            currency: self
                .currency
                .parse::<Currency>()
                .map_err(|_| bad("unknown currency"))?,
            amount: self.amount,
            posted_amount: self.posted_amount,
            state: HoldState::parse(&self.state).ok_or_else(|| bad("unknown state"))?,
            created_at: Timestamp(self.created_at),
            expires_at: self.expires_at.map(Timestamp),
            resolved_at: self.resolved_at.map(Timestamp),
        })
    }
}

/// The transfer a journal entry body records.
pub(crate) fn transfer_from_body(body: &str) -> Result<Transfer, StoreError> {
    match Entry::parse(body).map_err(StoreError::Corrupt)?.event {
        Event::TransferCreated { transfer } => Ok(transfer),
        _ => Err(StoreError::Corrupt(
            "journal entry indexed as a transfer is not one".into(),
        )),
    }
}

pub(crate) fn account_balances(a: &Account) -> [i64; 4] {
    [
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
    ]
}

pub(crate) fn refusal_body(r: &purser_core::ledger::Refusal) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

pub(crate) fn refusal_from_body(body: &str) -> Result<purser_core::ledger::Refusal, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("unreadable stored refusal: {e}")))
}
