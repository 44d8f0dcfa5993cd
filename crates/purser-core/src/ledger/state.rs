//! The ledger state machine.
//!
//! [`LedgerState`] holds the accounts, holds and transfers an operation can touch. Storage
//! backends load what a batch of operations references ([`references`]), run
//! [`LedgerState::execute`], then write the journal entries and the touched rows that
//! [`LedgerState::take_changes`] returns. `purser ledger verify` replays the stored journal
//! through [`LedgerState::apply`], the one function that changes balances, so live operation
//! and offline verification share every rule.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::journal::{Entry, Event};
use super::{
    Account, AccountId, Hold, HoldState, LedgerError, LinkedOp, NewTransfer, Op, Outcome, Refusal,
    Transfer, TransferId, TransferKind, MAX_HOLD_TIMEOUT_MS,
};
use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// Shortest hold timeout: anything shorter expires before a client could act on it.
pub const MIN_HOLD_TIMEOUT_MS: i64 = 1_000;

/// Everything a batch of operations may read, by id.
#[derive(Debug, Default, Clone)]
pub struct References {
    /// Accounts named directly by the operations.
    pub accounts: BTreeSet<AccountId>,
    /// The operations' own transfer ids, to look up for idempotent replays.
    pub transfers: BTreeSet<TransferId>,
    /// Holds that posts and voids name.
    pub holds: BTreeSet<TransferId>,
}

/// What a batch of operations references. A backend loads these (and the accounts of any
/// hold found) into a [`LedgerState`] before executing; anything not loaded does not exist.
pub fn references<'a>(ops: impl IntoIterator<Item = &'a LinkedOp>) -> References {
    let mut r = References::default();
    for lo in ops {
        match &lo.op {
            Op::CreateAccount(a) => {
                r.accounts.insert(a.id.clone());
            }
            Op::Transfer(t) | Op::Hold { transfer: t, .. } => {
                r.accounts.insert(t.debit_account_id.clone());
                r.accounts.insert(t.credit_account_id.clone());
                r.transfers.insert(t.id.clone());
            }
            Op::Post { id, pending_id, .. } | Op::Void { id, pending_id } => {
                r.transfers.insert(id.clone());
                r.holds.insert(pending_id.clone());
            }
        }
    }
    r
}

enum Undo {
    Account(AccountId, Option<Account>),
    Hold(TransferId, Option<Hold>),
    TransferId(TransferId),
}

/// Rows a batch changed, for the backend to write in the same transaction as the entries.
#[derive(Debug, Default)]
pub struct Changes {
    pub entries: Vec<Entry>,
    /// Refusals to remember under their ids.
    pub refusals: Vec<(TransferId, Refusal)>,
    pub accounts: Vec<Account>,
    pub holds: Vec<Hold>,
}

impl Changes {
    /// Holds these changes expire.
    pub fn expired(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.event, Event::HoldExpired { .. }))
            .count()
    }
}

/// Accounts, holds and transfers in memory, and the entries produced since the last
/// [`take_changes`](LedgerState::take_changes).
#[derive(Default)]
pub struct LedgerState {
    accounts: HashMap<AccountId, Account>,
    holds: HashMap<TransferId, Hold>,
    /// Every transfer id known to exist.
    transfer_ids: HashSet<TransferId>,
    /// Bodies of known transfers, kept only while executing (for idempotent replays).
    transfers: HashMap<TransferId, Transfer>,
    /// Earlier refusals of the ids a batch uses.
    refusals: HashMap<TransferId, Refusal>,
    new_refusals: Vec<(TransferId, Refusal)>,
    keep_bodies: bool,
    entries: Vec<Entry>,
    undo: Option<Vec<Undo>>,
    last_at: Timestamp,
}

impl LedgerState {
    /// A state for executing client operations (keeps transfer bodies for replays).
    pub fn for_execution(last_at: Timestamp) -> LedgerState {
        LedgerState {
            keep_bodies: true,
            last_at,
            ..LedgerState::default()
        }
    }

    /// A state for replaying a journal (keeps only transfer ids).
    pub fn for_replay() -> LedgerState {
        LedgerState::default()
    }

    pub fn load_account(&mut self, account: Account) {
        self.accounts.insert(account.id.clone(), account);
    }

    pub fn load_hold(&mut self, hold: Hold) {
        self.holds.insert(hold.id.clone(), hold);
    }

    pub fn load_transfer(&mut self, transfer: Transfer) {
        self.transfer_ids.insert(transfer.id.clone());
        if self.keep_bodies {
            self.transfers.insert(transfer.id.clone(), transfer);
        }
    }

    pub fn load_refusal(&mut self, id: TransferId, refusal: Refusal) {
        self.refusals.insert(id, refusal);
    }

    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    pub fn hold(&self, id: &TransferId) -> Option<&Hold> {
        self.holds.get(id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    pub fn holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.values()
    }

    pub fn transfer_count(&self) -> usize {
        self.transfer_ids.len()
    }

    /// Accounts of loaded holds that are not loaded yet (a post or void names only the hold).
    pub fn missing_hold_accounts(&self) -> BTreeSet<AccountId> {
        self.holds
            .values()
            .flat_map(|h| [&h.debit_account_id, &h.credit_account_id])
            .filter(|id| !self.accounts.contains_key(*id))
            .cloned()
            .collect()
    }

    /// Run a submission. Each unlinked operation stands alone; a run of linked operations
    /// (each `linked` up to and including the first unlinked one) is applied as a whole or not
    /// at all. Returns one result per operation, in order.
    pub fn execute(
        &mut self,
        ops: &[LinkedOp],
        now: Timestamp,
    ) -> Vec<Result<Outcome, LedgerError>> {
        let now = now.max(self.last_at);
        let mut results = Vec::with_capacity(ops.len());
        let mut i = 0;
        while i < ops.len() {
            let mut end = i;
            while end < ops.len() && ops[end].linked {
                end += 1;
            }
            if end == ops.len() {
                // The chain's last operation points at nothing: refuse the whole chain.
                for _ in i..ops.len() {
                    results.push(Err(LedgerError::LinkedChainOpen));
                }
                break;
            }
            if end == i {
                results.push(self.execute_one(&ops[i].op, now));
            } else {
                self.execute_chain(&ops[i..=end], now, &mut results);
            }
            i = end + 1;
        }
        // Remember refusals, so the same request under the same id always gets this answer.
        for (lo, r) in ops.iter().zip(&results) {
            if let (Some(id), Err(e)) = (lo.op.transfer_id(), r) {
                if e.is_remembered()
                    && !self.refusals.contains_key(id)
                    && !self.transfer_ids.contains(id)
                {
                    let refusal = Refusal::of(lo.op.fingerprint(), e, now);
                    self.refusals.insert(id.clone(), refusal.clone());
                    self.new_refusals.push((id.clone(), refusal));
                }
            }
        }
        results
    }

    fn execute_chain(
        &mut self,
        chain: &[LinkedOp],
        now: Timestamp,
        results: &mut Vec<Result<Outcome, LedgerError>>,
    ) {
        let entries_before = self.entries.len();
        self.undo = Some(Vec::new());
        let mut chain_results = Vec::with_capacity(chain.len());
        let mut failed_at = None;
        for (k, lo) in chain.iter().enumerate() {
            let r = self.execute_one(&lo.op, now);
            if r.is_err() {
                failed_at = Some(k);
                chain_results.push(r);
                break;
            }
            chain_results.push(r);
        }
        let undo = self.undo.take().unwrap_or_default();
        match failed_at {
            None => results.extend(chain_results),
            Some(k) => {
                for u in undo.into_iter().rev() {
                    match u {
                        Undo::Account(id, prev) => restore(&mut self.accounts, id, prev),
                        Undo::Hold(id, prev) => restore(&mut self.holds, id, prev),
                        Undo::TransferId(id) => {
                            self.transfer_ids.remove(&id);
                            self.transfers.remove(&id);
                        }
                    }
                }
                self.entries.truncate(entries_before);
                for (j, r) in chain_results.into_iter().enumerate() {
                    results.push(if j == k {
                        r
                    } else {
                        Err(LedgerError::LinkedEventFailed)
                    });
                }
                for _ in (k + 1)..chain.len() {
                    results.push(Err(LedgerError::LinkedEventFailed));
                }
            }
        }
    }

    fn execute_one(&mut self, op: &Op, now: Timestamp) -> Result<Outcome, LedgerError> {
        if let Some(id) = op.transfer_id() {
            if let Some(refusal) = self.refusals.get(id) {
                if refusal.request == op.fingerprint() {
                    return Err(LedgerError::Replayed(Box::new(refusal.clone())));
                }
                return Err(LedgerError::RefusedIdConflict { id: id.clone() });
            }
        }
        match op {
            Op::CreateAccount(new) => {
                new.flags.validate()?;
                if let Some(existing) = self.accounts.get(&new.id) {
                    if existing.currency == new.currency && existing.flags == new.flags {
                        return Ok(Outcome::Account {
                            account: existing.clone(),
                            replayed: true,
                        });
                    }
                    return Err(LedgerError::AccountIdConflict { id: new.id.clone() });
                }
                let account = Account::open(new, now);
                self.record(now, Event::AccountCreated { account })?;
                let account = self
                    .accounts
                    .get(&new.id)
                    .cloned()
                    .ok_or_else(|| corrupt("account vanished"))?;
                Ok(Outcome::Account {
                    account,
                    replayed: false,
                })
            }
            Op::Transfer(t) => self.new_transfer(t, TransferKind::Single, now),
            Op::Hold {
                transfer,
                timeout_ms,
            } => {
                if let Some(ms) = timeout_ms {
                    if !(MIN_HOLD_TIMEOUT_MS..=MAX_HOLD_TIMEOUT_MS).contains(ms) {
                        return Err(LedgerError::InvalidTimeout);
                    }
                }
                self.new_transfer(
                    transfer,
                    TransferKind::Hold {
                        timeout_ms: *timeout_ms,
                    },
                    now,
                )
            }
            Op::Post {
                id,
                pending_id,
                amount,
            } => self.resolve(id, pending_id, *amount, true, now),
            Op::Void { id, pending_id } => self.resolve(id, pending_id, None, false, now),
        }
    }

    fn new_transfer(
        &mut self,
        t: &NewTransfer,
        kind: TransferKind,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        if let Some(done) = self.replay(&t.id, |prior| {
            differs(&[
                (prior.kind != kind, "kind or timeout"),
                (
                    prior.debit_account_id != t.debit_account_id,
                    "debit_account_id",
                ),
                (
                    prior.credit_account_id != t.credit_account_id,
                    "credit_account_id",
                ),
                (prior.amount != t.amount, "amount"),
                (prior.currency != t.currency, "currency"),
            ])
        })? {
            return Ok(done);
        }
        let transfer = Transfer {
            id: t.id.clone(),
            kind,
            debit_account_id: t.debit_account_id.clone(),
            credit_account_id: t.credit_account_id.clone(),
            amount: t.amount,
            currency: t.currency,
            created_at: now,
        };
        self.record_transfer(transfer, now)
    }

    fn resolve(
        &mut self,
        id: &TransferId,
        pending_id: &TransferId,
        amount: Option<i64>,
        post: bool,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let hold =
            self.holds
                .get(pending_id)
                .cloned()
                .ok_or_else(|| LedgerError::HoldNotFound {
                    id: pending_id.clone(),
                })?;
        let want_kind = if post {
            TransferKind::Post {
                pending_id: pending_id.clone(),
            }
        } else {
            TransferKind::Void {
                pending_id: pending_id.clone(),
            }
        };
        if let Some(done) = self.replay(id, |prior| {
            let same_amount = match amount {
                Some(a) => prior.amount == a,
                None => !post || prior.amount == hold.amount,
            };
            differs(&[
                (prior.kind != want_kind, "kind or pending_id"),
                (!same_amount, "amount"),
            ])
        })? {
            return Ok(done);
        }
        if hold.state != HoldState::Pending {
            return Err(LedgerError::HoldNotPending {
                id: pending_id.clone(),
                state: hold.state,
            });
        }
        if hold.is_expired_at(now) {
            // Release it now rather than wait for the sweeper; the refusal stands either way.
            self.record(
                now,
                Event::HoldExpired {
                    pending_id: pending_id.clone(),
                },
            )?;
            return Err(LedgerError::HoldExpired {
                id: pending_id.clone(),
            });
        }
        let amount = amount.unwrap_or(hold.amount);
        if amount <= 0 {
            return Err(LedgerError::AmountMustBePositive);
        }
        if amount > hold.amount {
            return Err(LedgerError::PostExceedsHold {
                id: pending_id.clone(),
                held: Money::new(hold.amount, hold.currency),
                requested: Money::new(amount, hold.currency),
            });
        }
        let transfer = Transfer {
            id: id.clone(),
            kind: want_kind,
            debit_account_id: hold.debit_account_id.clone(),
            credit_account_id: hold.credit_account_id.clone(),
            amount,
            currency: hold.currency,
            created_at: now,
        };
        self.record_transfer(transfer, now)
    }

    fn record_transfer(
        &mut self,
        transfer: Transfer,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        self.record(
            now,
            Event::TransferCreated {
                transfer: transfer.clone(),
            },
        )?;
        Ok(Outcome::Transfer {
            transfer,
            replayed: false,
        })
    }

    /// If `id` already exists: the first result when `differs` finds nothing, else a conflict.
    fn replay(
        &self,
        id: &TransferId,
        differs: impl FnOnce(&Transfer) -> Option<&'static str>,
    ) -> Result<Option<Outcome>, LedgerError> {
        if !self.transfer_ids.contains(id) {
            return Ok(None);
        }
        let prior = self
            .transfers
            .get(id)
            .ok_or_else(|| corrupt(&format!("transfer {id} is known but was not loaded")))?;
        match differs(prior) {
            None => Ok(Some(Outcome::Transfer {
                transfer: prior.clone(),
                replayed: true,
            })),
            Some(field) => Err(LedgerError::TransferIdConflict {
                id: id.clone(),
                field,
            }),
        }
    }

    /// Expire every loaded pending hold whose time has come. Returns how many expired.
    pub fn expire_due(&mut self, now: Timestamp) -> usize {
        let now = now.max(self.last_at);
        let mut due: Vec<TransferId> = self
            .holds
            .values()
            .filter(|h| h.state == HoldState::Pending && h.is_expired_at(now))
            .map(|h| h.id.clone())
            .collect();
        due.sort();
        due.into_iter()
            .filter(|id| {
                self.record(
                    now,
                    Event::HoldExpired {
                        pending_id: id.clone(),
                    },
                )
                .is_ok()
            })
            .count()
    }

    fn record(&mut self, at: Timestamp, event: Event) -> Result<(), LedgerError> {
        let entry = Entry { at, event };
        self.apply(&entry)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Apply one journal entry: the only place balances and holds change. Checks every rule
    /// again, so a replay of a tampered journal fails here.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        let at = entry.at;
        match &entry.event {
            Event::AccountCreated { account } => {
                account.flags.validate()?;
                if self.accounts.contains_key(&account.id) {
                    return Err(corrupt(&format!("account {} is created twice", account.id)));
                }
                let zero = Account::open(
                    &super::NewAccount {
                        id: account.id.clone(),
                        currency: account.currency,
                        flags: account.flags,
                    },
                    account.created_at,
                );
                if *account != zero {
                    return Err(corrupt(&format!(
                        "account {} is created with balances",
                        account.id
                    )));
                }
                self.save_account(account.clone());
            }
            Event::TransferCreated { transfer } => self.apply_transfer(transfer, at)?,
            Event::HoldExpired { pending_id } => {
                let hold = self.pending_hold(pending_id)?;
                if !hold.is_expired_at(at) {
                    return Err(corrupt(&format!(
                        "hold {pending_id} expired before its time"
                    )));
                }
                self.release(&hold, 0, HoldState::Expired, at)?;
            }
        }
        self.last_at = self.last_at.max(at);
        Ok(())
    }

    fn apply_transfer(&mut self, t: &Transfer, at: Timestamp) -> Result<(), LedgerError> {
        if t.amount <= 0 {
            return Err(LedgerError::AmountMustBePositive);
        }
        if t.debit_account_id == t.credit_account_id {
            return Err(LedgerError::SameAccount);
        }
        if self.transfer_ids.contains(&t.id) {
            return Err(corrupt(&format!("transfer {} appears twice", t.id)));
        }
        let mut debit = self.account_in(&t.debit_account_id, t.currency)?;
        let mut credit = self.account_in(&t.credit_account_id, t.currency)?;
        let amount = t.amount;
        match &t.kind {
            TransferKind::Single | TransferKind::Hold { .. } => {
                let pending = matches!(t.kind, TransferKind::Hold { .. });
                // Everything that can fail is checked before anything is saved.
                let expires_at = match t.kind {
                    TransferKind::Hold {
                        timeout_ms: Some(ms),
                    } => Some(
                        t.created_at
                            .checked_add_ms(ms)
                            .ok_or(LedgerError::Overflow)?,
                    ),
                    _ => None,
                };
                check_debit(&debit, amount)?;
                check_credit(&credit, amount)?;
                if pending {
                    debit.debits_pending = add(debit.debits_pending, amount)?;
                    credit.credits_pending = add(credit.credits_pending, amount)?;
                } else {
                    debit.debits_posted = add(debit.debits_posted, amount)?;
                    credit.credits_posted = add(credit.credits_posted, amount)?;
                }
                self.save_pair(debit, credit)?;
                if pending {
                    self.save_hold(Hold {
                        id: t.id.clone(),
                        debit_account_id: t.debit_account_id.clone(),
                        credit_account_id: t.credit_account_id.clone(),
                        currency: t.currency,
                        amount,
                        posted_amount: 0,
                        state: HoldState::Pending,
                        created_at: t.created_at,
                        expires_at,
                        resolved_at: None,
                    });
                }
            }
            TransferKind::Post { pending_id } | TransferKind::Void { pending_id } => {
                let hold = self.pending_hold(pending_id)?;
                if hold.is_expired_at(at) {
                    return Err(LedgerError::HoldExpired {
                        id: pending_id.clone(),
                    });
                }
                if hold.debit_account_id != t.debit_account_id
                    || hold.credit_account_id != t.credit_account_id
                    || hold.currency != t.currency
                {
                    return Err(corrupt(&format!(
                        "transfer {} does not match hold {pending_id}",
                        t.id
                    )));
                }
                let is_post = matches!(t.kind, TransferKind::Post { .. });
                if amount > hold.amount || (!is_post && amount != hold.amount) {
                    return Err(LedgerError::PostExceedsHold {
                        id: pending_id.clone(),
                        held: Money::new(hold.amount, hold.currency),
                        requested: t.money(),
                    });
                }
                let (posted, state) = if is_post {
                    (amount, HoldState::Posted)
                } else {
                    (0, HoldState::Voided)
                };
                self.release(&hold, posted, state, at)?;
            }
        }
        self.note_transfer(t);
        Ok(())
    }

    /// Take a pending hold's reservation off both accounts, post `posted` of it, and mark the
    /// hold resolved.
    fn release(
        &mut self,
        hold: &Hold,
        posted: i64,
        state: HoldState,
        at: Timestamp,
    ) -> Result<(), LedgerError> {
        if posted < 0 || posted > hold.amount {
            return Err(corrupt(&format!(
                "hold {} settled beyond its amount",
                hold.id
            )));
        }
        let mut debit = self.account_in(&hold.debit_account_id, hold.currency)?;
        let mut credit = self.account_in(&hold.credit_account_id, hold.currency)?;
        debit.debits_pending = sub(debit.debits_pending, hold.amount)?;
        credit.credits_pending = sub(credit.credits_pending, hold.amount)?;
        debit.debits_posted = add(debit.debits_posted, posted)?;
        credit.credits_posted = add(credit.credits_posted, posted)?;
        self.save_pair(debit, credit)?;
        let mut resolved = hold.clone();
        resolved.state = state;
        resolved.posted_amount = posted;
        resolved.resolved_at = Some(at);
        self.save_hold(resolved);
        Ok(())
    }

    fn pending_hold(&self, id: &TransferId) -> Result<Hold, LedgerError> {
        let hold = self
            .holds
            .get(id)
            .ok_or_else(|| LedgerError::HoldNotFound { id: id.clone() })?;
        if hold.state != HoldState::Pending {
            return Err(LedgerError::HoldNotPending {
                id: id.clone(),
                state: hold.state,
            });
        }
        Ok(hold.clone())
    }

    fn account_in(&self, id: &AccountId, currency: Currency) -> Result<Account, LedgerError> {
        let a = self
            .accounts
            .get(id)
            .ok_or_else(|| LedgerError::AccountNotFound { id: id.clone() })?;
        if a.currency != currency {
            return Err(LedgerError::CurrencyMismatch {
                account: id.clone(),
                account_currency: a.currency,
                given: currency,
            });
        }
        Ok(a.clone())
    }

    /// Write both sides of a movement after checking each account's invariants (release
    /// builds too): a violation refuses the change instead of storing it.
    fn save_pair(&mut self, debit: Account, credit: Account) -> Result<(), LedgerError> {
        debit.check_invariants().map_err(LedgerError::Corrupt)?;
        credit.check_invariants().map_err(LedgerError::Corrupt)?;
        self.save_account(debit);
        self.save_account(credit);
        Ok(())
    }

    fn save_account(&mut self, a: Account) {
        let prev = self.accounts.insert(a.id.clone(), a.clone());
        if let Some(undo) = self.undo.as_mut() {
            undo.push(Undo::Account(a.id, prev));
        }
    }

    fn save_hold(&mut self, h: Hold) {
        let prev = self.holds.insert(h.id.clone(), h.clone());
        if let Some(undo) = self.undo.as_mut() {
            undo.push(Undo::Hold(h.id, prev));
        }
    }

    fn note_transfer(&mut self, t: &Transfer) {
        self.transfer_ids.insert(t.id.clone());
        if self.keep_bodies {
            self.transfers.insert(t.id.clone(), t.clone());
        }
        if let Some(undo) = self.undo.as_mut() {
            undo.push(Undo::TransferId(t.id.clone()));
        }
    }

    /// Entries produced since the last call, and the current state of every account and hold
    /// they touched.
    pub fn take_changes(&mut self) -> Changes {
        let entries = std::mem::take(&mut self.entries);
        let mut accounts = BTreeSet::new();
        let mut holds = BTreeSet::new();
        for e in &entries {
            match &e.event {
                Event::AccountCreated { account } => {
                    accounts.insert(account.id.clone());
                }
                Event::TransferCreated { transfer } => {
                    accounts.insert(transfer.debit_account_id.clone());
                    accounts.insert(transfer.credit_account_id.clone());
                    match &transfer.kind {
                        TransferKind::Hold { .. } => holds.insert(transfer.id.clone()),
                        TransferKind::Post { pending_id } | TransferKind::Void { pending_id } => {
                            holds.insert(pending_id.clone())
                        }
                        TransferKind::Single => false,
                    };
                }
                Event::HoldExpired { pending_id } => {
                    if let Some(h) = self.holds.get(pending_id) {
                        accounts.insert(h.debit_account_id.clone());
                        accounts.insert(h.credit_account_id.clone());
                    }
                    holds.insert(pending_id.clone());
                }
            }
        }
        Changes {
            refusals: std::mem::take(&mut self.new_refusals),
            accounts: accounts
                .iter()
                .filter_map(|id| self.accounts.get(id).cloned())
                .collect(),
            holds: holds
                .iter()
                .filter_map(|id| self.holds.get(id).cloned())
                .collect(),
            entries,
        }
    }
}

fn restore<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, prev: Option<V>) {
    match prev {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

fn differs(checks: &[(bool, &'static str)]) -> Option<&'static str> {
    checks.iter().find(|(d, _)| *d).map(|(_, f)| *f)
}

fn corrupt(detail: &str) -> LedgerError {
    LedgerError::Corrupt(detail.to_string())
}

fn add(a: i64, b: i64) -> Result<i64, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

fn sub(a: i64, b: i64) -> Result<i64, LedgerError> {
    match a.checked_sub(b) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(corrupt("a balance would go below zero")),
    }
}

fn check_debit(a: &Account, amount: i64) -> Result<(), LedgerError> {
    if a.flags.debits_must_not_exceed_credits {
        let after = add(add(a.debits_posted, a.debits_pending)?, amount)?;
        if after > a.credits_posted {
            return Err(LedgerError::ExceedsCredits {
                account: a.id.clone(),
                available: a.available_to_debit(),
                requested: Money::new(amount, a.currency),
            });
        }
    }
    Ok(())
}

fn check_credit(a: &Account, amount: i64) -> Result<(), LedgerError> {
    if a.flags.credits_must_not_exceed_debits {
        let after = add(add(a.credits_posted, a.credits_pending)?, amount)?;
        if after > a.debits_posted {
            return Err(LedgerError::ExceedsDebits {
                account: a.id.clone(),
                available: a.available_to_credit(),
                requested: Money::new(amount, a.currency),
            });
        }
    }
    Ok(())
}
