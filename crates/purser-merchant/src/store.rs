//! The shop's own storage: one SQLite file (or memory) with sessions, stock, orders, the
//! idempotency record of every POST and the agent signature nonces already seen. Every write
//! is a transaction, durable (WAL, `synchronous=FULL`) before the answer is sent.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::catalog::PRODUCTS;
use crate::session::Session;

/// A storage failure: logged, answered as a `processing_error` without detail.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage: {}", self.0)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError(format!("stored JSON: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How an idempotent POST begins.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// First time: run it, then [`Store::finish`].
    New,
    /// Seen with the same body: send this answer again.
    Replay { status: u16, body: String },
    /// Seen with another body.
    Conflict,
    /// The first request with this key is still running.
    InFlight,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, status TEXT NOT NULL, body TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stock (product_id TEXT PRIMARY KEY, quantity INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, session_id TEXT NOT NULL UNIQUE, payment_id TEXT NOT NULL, total INTEGER NOT NULL, agent_id TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER, body TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS nonces (keyid TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (keyid, nonce));
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
";

/// A request under a key left unfinished this long (the shop died mid-request) may be taken
/// over by a retry, as Purser does. Longer than any completion can take (Purser's read timeout
/// is 30 s).
pub const IN_FLIGHT_TAKEOVER_MS: i64 = 60_000;

pub struct Store {
    conn: Mutex<Connection>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError("a previous request panicked while holding the database".into())
}

impl Store {
    /// Opens (creating) the database at `path`, or an in-memory one when `None`; seeds the stock
    /// of products it has not seen.
    pub fn open(path: Option<&Path>) -> Result<Store> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        for p in PRODUCTS {
            conn.execute(
                "INSERT OR IGNORE INTO stock (product_id, quantity) VALUES (?1, ?2)",
                params![p.id, p.initial_stock],
            )?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut c = self.conn.lock().map_err(poisoned)?;
        f(&mut c)
    }

    /// Live stock of every product.
    pub fn stock(&self) -> Result<std::collections::HashMap<String, i64>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT product_id, quantity FROM stock")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        })
    }

    pub fn insert_session(&self, s: &Session) -> Result<()> {
        let body = serde_json::to_string(s)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (id, status, body, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![s.id, s.status.as_str(), body, s.updated_at],
            )?;
            Ok(())
        })
    }

    pub fn session(&self, id: &str) -> Result<Option<Session>> {
        self.with(|c| load(c, id))
    }

    /// Reads the session, lets `f` change it (and the stock, by the deltas it returns), and
    /// writes both in one transaction. `f` returning `Err` changes nothing.
    pub fn update_session<T, E>(
        &self,
        id: &str,
        f: impl FnOnce(
            &mut Session,
            &dyn Fn(&str) -> i64,
        ) -> std::result::Result<(T, Vec<(String, i64)>), E>,
    ) -> Result<Option<std::result::Result<T, E>>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut s) = load(&tx, id)? else {
                return Ok(None);
            };
            let stock = stock_map(&tx)?;
            let lookup = |p: &str| stock.get(p).copied().unwrap_or(0);
            match f(&mut s, &lookup) {
                Err(e) => Ok(Some(Err(e))),
                Ok((v, deltas)) => {
                    for (product, delta) in deltas {
                        let changed = tx.execute(
                            "UPDATE stock SET quantity = quantity + ?2 WHERE product_id = ?1 AND quantity + ?2 >= 0",
                            params![product, delta],
                        )?;
                        if changed != 1 {
                            return Err(StoreError(format!(
                                "stock of {product} would go below zero"
                            )));
                        }
                    }
                    tx.execute(
                        "UPDATE sessions SET status = ?2, body = ?3, updated_at = ?4 WHERE id = ?1",
                        params![s.id, s.status.as_str(), serde_json::to_string(&s)?, s.updated_at],
                    )?;
                    if let Some(o) = &s.order {
                        let agent = s
                            .completion
                            .as_ref()
                            .map(|c| c.agent_id.clone())
                            .unwrap_or_default();
                        tx.execute(
                            "INSERT OR IGNORE INTO orders (id, session_id, payment_id, total, agent_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            params![o.id, s.id, o.payment_id, o.captured, agent, o.created_at],
                        )?;
                    }
                    tx.commit()?;
                    Ok(Some(Ok(v)))
                }
            }
        })
    }

    /// Begins an idempotent request: records `key` as in flight unless it was seen.
    pub fn begin(&self, scope: &str, key: &str, request_hash: &str, now: i64) -> Result<Begin> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, Option<i64>, Option<String>, i64)> = tx
                .query_row(
                    "SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = ?1 AND key = ?2",
                    params![scope, key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let out = match row {
                Some((h, _, _, _)) if h != request_hash => Begin::Conflict,
                Some((_, Some(status), Some(body), _)) => Begin::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                },
                Some((_, _, _, started))
                    if now.saturating_sub(started) >= IN_FLIGHT_TAKEOVER_MS =>
                {
                    // Its request died with the process: a retry takes it over (inside this
                    // transaction, so only one does).
                    tx.execute(
                        "UPDATE idempotency SET created_at = ?3 WHERE scope = ?1 AND key = ?2 AND status IS NULL",
                        params![scope, key, now],
                    )?;
                    Begin::New
                }
                Some(_) => Begin::InFlight,
                None => {
                    tx.execute(
                        "INSERT INTO idempotency (scope, key, request_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![scope, key, request_hash, now],
                    )?;
                    Begin::New
                }
            };
            tx.commit()?;
            Ok(out)
        })
    }

    /// Records the answer a key replays from now on.
    pub fn finish(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE idempotency SET status = ?3, body = ?4 WHERE scope = ?1 AND key = ?2 AND status IS NULL",
                params![scope, key, i64::from(status), body],
            )?;
            Ok(())
        })
    }

    /// Forgets a key whose request could not be answered for sure, so a retry runs again.
    pub fn abandon(&self, scope: &str, key: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM idempotency WHERE scope = ?1 AND key = ?2 AND status IS NULL",
                params![scope, key],
            )?;
            Ok(())
        })
    }

    /// Records an agent signature's nonce; false if it was seen. Nonces past their signature's
    /// expiry are swept in the same transaction.
    pub fn spend_nonce(&self, keyid: &str, nonce: &str, keep_until: i64, now: i64) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM nonces WHERE expires_at < ?1", params![now])?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO nonces (keyid, nonce, expires_at) VALUES (?1, ?2, ?3)",
                params![keyid, nonce, keep_until],
            )?;
            tx.commit()?;
            Ok(n == 1)
        })
    }
}

fn load(c: &Connection, id: &str) -> Result<Option<Session>> {
    let body: Option<String> = c
        .query_row(
            "SELECT body FROM sessions WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match body {
        Some(b) => Some(serde_json::from_str(&b)?),
        None => None,
    })
}

fn stock_map(c: &Connection) -> Result<std::collections::HashMap<String, i64>> {
    let mut st = c.prepare("SELECT product_id, quantity FROM stock")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_flight_key_is_taken_over_only_after_the_limit() {
        let st = Store::open(None).unwrap();
        assert_eq!(st.begin("s", "k", "h", 1_000).unwrap(), Begin::New);
        assert_eq!(
            st.begin("s", "k", "h", 1_000 + IN_FLIGHT_TAKEOVER_MS - 1)
                .unwrap(),
            Begin::InFlight
        );
        assert_eq!(
            st.begin("s", "k", "other", 1_000 + IN_FLIGHT_TAKEOVER_MS)
                .unwrap(),
            Begin::Conflict
        );
        let later = 1_000 + IN_FLIGHT_TAKEOVER_MS;
        assert_eq!(st.begin("s", "k", "h", later).unwrap(), Begin::New);
        // Taken over once: the successor is in flight now.
        assert_eq!(st.begin("s", "k", "h", later + 1).unwrap(), Begin::InFlight);
        st.finish("s", "k", 200, "{}").unwrap();
        // An answered key is replayed forever after, however old.
        assert_eq!(
            st.begin("s", "k", "h", later + 10 * IN_FLIGHT_TAKEOVER_MS)
                .unwrap(),
            Begin::Replay {
                status: 200,
                body: "{}".into()
            }
        );
    }
}
