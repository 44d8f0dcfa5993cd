//! Offline verification: replay a stored journal and compare it with the stored balances.
//!
//! The storage layer streams rows in; this module owns every check, so SQLite and PostgreSQL
//! are verified by the same code.

use std::collections::BTreeMap;

use super::journal::{chain_hash, Entry, Hash, GENESIS_HASH};
use super::{Account, Hold, LedgerState};
use crate::money::Currency;

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Journal sequence number of the first broken entry, when the fault is in the journal.
    pub seq: Option<i64>,
    pub problem: String,
}

/// Per-currency totals over all accounts; each pair must be equal.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CurrencyTotals {
    pub debits_posted: i128,
    pub credits_posted: i128,
    pub debits_pending: i128,
    pub credits_pending: i128,
}

/// What a successful verification saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub entries: i64,
    pub accounts: usize,
    pub transfers: usize,
    pub holds: usize,
    pub holds_pending: usize,
    pub head_hash: String,
    pub totals: BTreeMap<String, CurrencyTotals>,
}

/// A journal row as stored: the hashed body plus the columns the database indexes and the
/// write path trusts (so they are checked against the body too).
#[derive(Debug, Clone, Copy)]
pub struct StoredEntry<'a> {
    pub seq: i64,
    pub at: i64,
    pub kind: &'a str,
    pub transfer_id: Option<&'a str>,
    pub body: &'a str,
    pub hash: &'a [u8],
}

/// The stored ledger head: where the journal ends.
#[derive(Debug, Clone)]
pub struct StoredHead {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at: i64,
}

/// Replays journal entries in order, checking the hash chain and every ledger rule.
pub struct Verifier {
    state: LedgerState,
    prev_hash: Hash,
    next_seq: i64,
    last_at: i64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            state: LedgerState::for_replay(),
            prev_hash: GENESIS_HASH,
            next_seq: 1,
            last_at: 0,
        }
    }
}

impl Verifier {
    /// Feed the next stored entry, in sequence order.
    pub fn entry(&mut self, row: StoredEntry<'_>) -> Result<(), Broken> {
        let seq = row.seq;
        let broken = |problem: String| Broken {
            seq: Some(seq),
            problem,
        };
        if seq != self.next_seq {
            return Err(broken(format!(
                "expected entry {} next, found {seq}: entries are missing, out of order or inserted",
                self.next_seq
            )));
        }
        let expected = chain_hash(&self.prev_hash, seq, row.body.as_bytes());
        if expected.as_slice() != row.hash {
            return Err(broken(
                "hash does not match the entry's content and the previous hash: the entry was changed".into(),
            ));
        }
        let entry = Entry::parse(row.body).map_err(broken)?;
        let indexed_id = entry.transfer_id().map(|t| t.as_str());
        if row.at != entry.at.0 || row.kind != entry.kind() || row.transfer_id != indexed_id {
            return Err(broken(format!(
                "the row's indexed columns (at {}, kind {}, transfer_id {:?}) disagree with its hashed content (at {}, kind {}, transfer_id {:?}): they were changed",
                row.at,
                row.kind,
                row.transfer_id,
                entry.at.0,
                entry.kind(),
                indexed_id
            )));
        }
        self.state
            .apply(&entry)
            .map_err(|e| broken(format!("replaying it breaks a ledger rule: {e}")))?;
        self.prev_hash = expected;
        self.next_seq += 1;
        self.last_at = entry.at.0;
        Ok(())
    }

    /// Compare the replayed state with the stored head, accounts and holds.
    pub fn finish(
        self,
        head: &StoredHead,
        stored_accounts: Vec<Account>,
        stored_holds: Vec<Hold>,
    ) -> Result<Summary, Broken> {
        let last_seq = self.next_seq - 1;
        let fail = |problem: String| Broken { seq: None, problem };
        let hash_ok = if last_seq == 0 {
            head.hash.iter().all(|b| *b == 0)
        } else {
            head.hash.as_slice() == self.prev_hash.as_slice()
        };
        if head.seq != last_seq || !hash_ok || head.at != self.last_at {
            return Err(fail(format!(
                "the ledger head (entry {}, time {}) does not match the journal's last entry ({last_seq}, time {}): entries were removed or rewritten",
                head.seq, head.at, self.last_at
            )));
        }

        let mut totals: BTreeMap<Currency, CurrencyTotals> = BTreeMap::new();
        let mut replayed: BTreeMap<_, _> =
            self.state.accounts().map(|a| (a.id.clone(), a)).collect();
        for a in &stored_accounts {
            a.check_invariants().map_err(fail)?;
            let t = totals.entry(a.currency).or_default();
            t.debits_posted += i128::from(a.debits_posted);
            t.credits_posted += i128::from(a.credits_posted);
            t.debits_pending += i128::from(a.debits_pending);
            t.credits_pending += i128::from(a.credits_pending);
            match replayed.remove(&a.id) {
                Some(r) if r == a => {}
                Some(r) => {
                    return Err(fail(format!(
                    "stored account {} differs from the journal: stored {:?}, journal implies {:?}",
                    a.id,
                    balances(a),
                    balances(r)
                )))
                }
                None => {
                    return Err(fail(format!(
                        "stored account {} has no entry in the journal",
                        a.id
                    )))
                }
            }
        }
        if let Some(id) = replayed.keys().next() {
            return Err(fail(format!(
                "account {id} is in the journal but missing from storage"
            )));
        }
        for (currency, t) in &totals {
            if t.debits_posted != t.credits_posted || t.debits_pending != t.credits_pending {
                return Err(fail(format!(
                    "{currency} does not balance: debits {}/{} (posted/pending) against credits {}/{}",
                    t.debits_posted, t.debits_pending, t.credits_posted, t.credits_pending
                )));
            }
        }

        let mut replayed_holds: BTreeMap<_, _> =
            self.state.holds().map(|h| (h.id.clone(), h)).collect();
        let holds = replayed_holds.len();
        let holds_pending = replayed_holds
            .values()
            .filter(|h| h.state == super::HoldState::Pending)
            .count();
        for h in &stored_holds {
            if h.posted_amount > h.amount {
                return Err(fail(format!("hold {} is posted beyond its amount", h.id)));
            }
            match replayed_holds.remove(&h.id) {
                Some(r) if r == h => {}
                Some(r) => {
                    return Err(fail(format!(
                        "stored hold {} differs from the journal: stored {} {}/{}, journal implies {} {}/{}",
                        h.id,
                        h.state.as_str(),
                        h.posted_amount,
                        h.amount,
                        r.state.as_str(),
                        r.posted_amount,
                        r.amount
                    )))
                }
                None => return Err(fail(format!("stored hold {} has no entry in the journal", h.id))),
            }
        }
        if let Some(id) = replayed_holds.keys().next() {
            return Err(fail(format!(
                "hold {id} is in the journal but missing from storage"
            )));
        }

        Ok(Summary {
            entries: last_seq,
            accounts: stored_accounts.len(),
            transfers: self.state.transfer_count(),
            holds,
            holds_pending,
            head_hash: hex::encode(self.prev_hash),
            totals: totals
                .into_iter()
                .map(|(c, t)| (c.code().to_string(), t))
                .collect(),
        })
    }
}

fn balances(a: &Account) -> [i64; 4] {
    [
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
    ]
}
