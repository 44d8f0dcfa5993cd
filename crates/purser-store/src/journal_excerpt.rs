//! A few journal entries with their place in the hash chain, for evidence bundles: the entries
//! that created the given transfers — plus, for any of them that is a hold which expired by
//! itself, the entry that expired it — each with the hash of the entry before it, and the head
//! of the chain when they were read.
//!
//! With `prev_hash`, `seq` and `body`, anyone can recompute an entry's hash
//! (`purser_core::ledger::journal::chain_hash`) without the rest of the journal. That proves the
//! entry's own link, not that the entries between it and the head are intact (`purser ledger
//! verify` checks the whole chain).
//!
//! Expiry entries carry no transfer id, so they are not indexed by one. They are found by time
//! instead: the journal's `at` never decreases along `seq` (the writer never goes back in time,
//! see `writer::effective_now`), so a binary search over `seq` finds the entries written at the
//! hold's `resolved_at`, and among them the one whose body is exactly the expiry of that hold.

use purser_core::ledger::journal::{Entry, Event, Hash, GENESIS_HASH};
use purser_core::ledger::{HoldState, TransferId};
use purser_core::Timestamp;

use crate::StoreError;

/// One journal entry as stored, with the hash of the entry before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub transfer_id: Option<String>,
    /// The canonical body exactly as hashed.
    pub body: String,
    pub hash: Hash,
    /// The hash of entry `seq - 1` ([`GENESIS_HASH`] for the first).
    pub prev_hash: Hash,
}

/// Where the journal ended when an excerpt was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalHead {
    pub seq: i64,
    pub hash: Hash,
    pub at: i64,
}

/// Entries (in `seq` order) and the head.
#[derive(Clone, Debug)]
pub struct JournalExcerpt {
    pub entries: Vec<JournalEntry>,
    pub head: JournalHead,
}

/// The canonical body of the entry that expired `hold` at `at`.
pub(crate) fn expiry_body(hold: &TransferId, at: i64) -> String {
    Entry {
        at: Timestamp(at),
        event: Event::HoldExpired {
            pending_id: hold.clone(),
        },
    }
    .body()
}

/// Is a stored hold row one that expired by itself? Its expiry time when so.
pub(crate) fn expired_at(state: &str, resolved_at: Option<i64>) -> Option<i64> {
    match HoldState::parse(state) {
        Some(HoldState::Expired) => resolved_at,
        _ => None,
    }
}

/// A stored hash column as a [`Hash`].
pub(crate) fn hash_of(bytes: Vec<u8>, seq: i64) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "journal entry {seq} has a hash that is not 32 bytes"
        ))
    })
}

/// The previous hash of entry `seq`, given what the join on `seq - 1` found.
pub(crate) fn prev_of(seq: i64, found: Option<Vec<u8>>) -> Result<Hash, StoreError> {
    match found {
        Some(h) => hash_of(h, seq - 1),
        None if seq == 1 => Ok(GENESIS_HASH),
        None => Err(StoreError::Corrupt(format!(
            "journal entry {} (before {seq}) is missing; run `purser ledger verify`",
            seq - 1
        ))),
    }
}

/// Binary search over `seq` in `[lo, hi)` for the first entry whose `at` is at or after the
/// target (`after == false`) or strictly after it (`after == true`). The caller reads the `at`
/// of each probed `seq` and answers.
pub(crate) struct Bisect {
    lo: i64,
    hi: i64,
    target: i64,
    after: bool,
}

impl Bisect {
    pub(crate) fn new(lo: i64, hi: i64, target: i64, after: bool) -> Bisect {
        Bisect {
            lo,
            hi,
            target,
            after,
        }
    }

    /// The next `seq` to read, or `None` when the search is over.
    pub(crate) fn probe(&self) -> Option<i64> {
        (self.lo < self.hi).then(|| self.lo + (self.hi - self.lo) / 2)
    }

    /// The `at` of the entry at `seq` (`None` if the row is missing: treated as "before", so a
    /// hole in a damaged journal cannot loop).
    pub(crate) fn answer(&mut self, seq: i64, at: Option<i64>) {
        let before = match at {
            Some(at) if self.after => at <= self.target,
            Some(at) => at < self.target,
            None => true,
        };
        if before {
            self.lo = seq + 1;
        } else {
            self.hi = seq;
        }
    }

    pub(crate) fn found(&self) -> i64 {
        self.lo
    }
}

// ---- SQLite ---------------------------------------------------------------------------

pub(crate) mod sqlite {
    use rusqlite::{Connection, OptionalExtension};

    use super::*;
    use crate::sqlite::{db_err, head, ReadPool};

    const ENTRY: &str = "SELECT j.seq, j.at, j.kind, j.transfer_id, j.body, j.hash, p.hash FROM journal j LEFT JOIN journal p ON p.seq = j.seq - 1";

    type Raw = (
        i64,
        i64,
        String,
        Option<String>,
        String,
        Vec<u8>,
        Option<Vec<u8>>,
    );

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    }

    fn entry(raw: Raw) -> Result<JournalEntry, StoreError> {
        let (seq, at, kind, transfer_id, body, hash, prev) = raw;
        Ok(JournalEntry {
            seq,
            at,
            kind,
            transfer_id,
            body,
            hash: hash_of(hash, seq)?,
            prev_hash: prev_of(seq, prev)?,
        })
    }

    fn at_of(conn: &Connection, seq: i64) -> Result<Option<i64>, StoreError> {
        conn.prepare_cached("SELECT at FROM journal WHERE seq = ?1")
            .and_then(|mut s| s.query_row([seq], |r| r.get(0)).optional())
            .map_err(db_err)
    }

    fn bisect(conn: &Connection, mut b: Bisect) -> Result<i64, StoreError> {
        while let Some(seq) = b.probe() {
            b.answer(seq, at_of(conn, seq)?);
        }
        Ok(b.found())
    }

    pub(crate) async fn excerpt(
        pool: &ReadPool,
        ids: Vec<TransferId>,
    ) -> Result<JournalExcerpt, StoreError> {
        pool.with(move |conn| {
            // One read transaction: entries and head from the same snapshot.
            let tx = conn.unchecked_transaction().map_err(db_err)?;
            let (head_seq, head_hash, head_at) = head(&tx)?;
            let mut entries = Vec::new();
            let mut expired = Vec::new();
            {
                let mut by_id = tx
                    .prepare_cached(&format!("{ENTRY} WHERE j.transfer_id = ?1"))
                    .map_err(db_err)?;
                let mut hold = tx
                    .prepare_cached("SELECT state, resolved_at FROM holds WHERE id = ?1")
                    .map_err(db_err)?;
                for id in &ids {
                    let Some(raw) = by_id
                        .query_row([id.as_str()], read)
                        .optional()
                        .map_err(db_err)?
                    else {
                        continue;
                    };
                    let e = entry(raw)?;
                    let row: Option<(String, Option<i64>)> = hold
                        .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                        .map_err(db_err)?;
                    if let Some(at) = row.and_then(|(s, r)| expired_at(&s, r)) {
                        expired.push((id.clone(), at, e.seq));
                    }
                    entries.push(e);
                }
            }
            for (id, at, created) in expired {
                let first = bisect(&tx, Bisect::new(created + 1, head_seq + 1, at, false))?;
                let end = bisect(&tx, Bisect::new(first, head_seq + 1, at, true))?;
                let found = tx
                    .prepare_cached(&format!(
                        "{ENTRY} WHERE j.seq >= ?1 AND j.seq < ?2 AND j.kind = 'hold_expired' AND j.body = ?3 LIMIT 1"
                    ))
                    .and_then(|mut s| {
                        s.query_row(rusqlite::params![first, end, expiry_body(&id, at)], read)
                            .optional()
                    })
                    .map_err(db_err)?;
                if let Some(raw) = found {
                    entries.push(entry(raw)?);
                }
            }
            entries.sort_by_key(|e| e.seq);
            entries.dedup_by_key(|e| e.seq);
            Ok(JournalExcerpt {
                entries,
                head: JournalHead {
                    seq: head_seq,
                    hash: head_hash,
                    at: head_at,
                },
            })
        })
        .await
    }
}

// ---- PostgreSQL -----------------------------------------------------------------------

pub(crate) mod postgres {
    use tokio_postgres::{Client, Row};

    use super::*;
    use crate::postgres::{db_err, head_of, Reader};

    const ENTRY: &str = "SELECT j.seq, j.at, j.kind, j.transfer_id, j.body, j.hash, p.hash FROM journal j LEFT JOIN journal p ON p.seq = j.seq - 1";

    fn entry(r: &Row) -> Result<JournalEntry, StoreError> {
        let seq: i64 = r.try_get(0).map_err(db_err)?;
        Ok(JournalEntry {
            seq,
            at: r.try_get(1).map_err(db_err)?,
            kind: r.try_get(2).map_err(db_err)?,
            transfer_id: r.try_get(3).map_err(db_err)?,
            body: r.try_get(4).map_err(db_err)?,
            hash: hash_of(r.try_get(5).map_err(db_err)?, seq)?,
            prev_hash: prev_of(seq, r.try_get(6).map_err(db_err)?)?,
        })
    }

    async fn bisect(c: &Client, mut b: Bisect) -> Result<i64, StoreError> {
        while let Some(seq) = b.probe() {
            let at = c
                .query_opt("SELECT at FROM journal WHERE seq = $1", &[&seq])
                .await
                .map_err(db_err)?
                .map(|r| r.try_get::<_, i64>(0))
                .transpose()
                .map_err(db_err)?;
            b.answer(seq, at);
        }
        Ok(b.found())
    }

    /// Journal rows never change once written, so the entries need no snapshot; the head is
    /// read after them and is therefore at or past every one of them.
    pub(crate) async fn excerpt(
        reader: &Reader,
        ids: Vec<TransferId>,
    ) -> Result<JournalExcerpt, StoreError> {
        let c = reader.client().await?;
        let names: Vec<String> = ids.iter().map(|i| i.as_str().to_string()).collect();
        let rows = c
            .query(&format!("{ENTRY} WHERE j.transfer_id = ANY($1)"), &[&names])
            .await
            .map_err(db_err)?;
        let mut entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        let holds = c
            .query(
                "SELECT id, state, resolved_at FROM holds WHERE id = ANY($1)",
                &[&names],
            )
            .await
            .map_err(db_err)?;
        let head = c
            .query_one("SELECT seq, hash, at FROM ledger_head WHERE id = 1", &[])
            .await
            .map_err(db_err)?;
        let (head_seq, head_hash, head_at) = head_of(&head)?;
        for h in &holds {
            let id: String = h.try_get(0).map_err(db_err)?;
            let state: String = h.try_get(1).map_err(db_err)?;
            let Some(at) = expired_at(&state, h.try_get(2).map_err(db_err)?) else {
                continue;
            };
            let Some(created) = entries
                .iter()
                .find(|e| e.transfer_id.as_deref() == Some(id.as_str()))
                .map(|e| e.seq)
            else {
                continue;
            };
            let Ok(hold) = TransferId::parse(&id) else {
                continue;
            };
            let first = bisect(&c, Bisect::new(created + 1, head_seq + 1, at, false)).await?;
            let end = bisect(&c, Bisect::new(first, head_seq + 1, at, true)).await?;
            let found = c
                .query_opt(
                    &format!(
                        "{ENTRY} WHERE j.seq >= $1 AND j.seq < $2 AND j.kind = 'hold_expired' AND j.body = $3 LIMIT 1"
                    ),
                    &[&first, &end, &expiry_body(&hold, at)],
                )
                .await
                .map_err(db_err)?;
            if let Some(r) = found {
                entries.push(entry(&r)?);
            }
        }
        entries.sort_by_key(|e| e.seq);
        entries.dedup_by_key(|e| e.seq);
        Ok(JournalExcerpt {
            entries,
            head: JournalHead {
                seq: head_seq,
                hash: head_hash,
                at: head_at,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Bisect;

    fn search(ats: &[i64], target: i64, after: bool) -> i64 {
        // seq n has at ats[n - 1].
        let mut b = Bisect::new(1, ats.len() as i64 + 1, target, after);
        let mut probes = 0;
        while let Some(seq) = b.probe() {
            probes += 1;
            assert!(probes <= 64, "the search must end");
            b.answer(seq, ats.get((seq - 1) as usize).copied());
        }
        b.found()
    }

    #[test]
    fn bisect_finds_the_entries_written_at_a_time() {
        let ats = [10, 10, 20, 20, 20, 30];
        assert_eq!(search(&ats, 20, false), 3);
        assert_eq!(search(&ats, 20, true), 6);
        assert_eq!(search(&ats, 5, false), 1);
        assert_eq!(search(&ats, 99, false), 7);
        assert_eq!(search(&ats, 25, false), 6);
        assert_eq!(search(&ats, 25, true), 6);
        assert_eq!(search(&[], 1, false), 1);
    }
}
