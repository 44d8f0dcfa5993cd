//! Records: the wallet's relational data (users, tokens, cards, agents, bindings, nonces, …)
//! beside the ledger, on the same database.
//!
//! The same SQL runs on SQLite and PostgreSQL: statements use `$1…$n` placeholders, only
//! `TEXT`, `BIGINT` and `BYTEA` columns (booleans are `BIGINT` 0/1), and `ON CONFLICT`. A
//! write is a list of statements applied in one transaction; each may state what it expects
//! (exactly one row changed, say), and the whole write is rolled back when an expectation
//! fails. That makes compare-and-set transitions ("approve the binding only if it is still
//! pending") one call, with the same meaning on both databases.
//!
//! SQLite writes go to one writer thread that commits many writes together (group commit,
//! each write in its own savepoint so one failing write leaves the others alone). PostgreSQL
//! writes run on a small connection pool, each in its own transaction.

mod nonces;
mod postgres;
mod schema;
mod sqlite;

use std::sync::Arc;

use crate::{StoreConfig, StoreError};

/// One value bound to, or read from, a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Bytes(v)
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Val {
        Val::Bytes(v.to_vec())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// `vals![a, b, c]` — statement parameters.
#[macro_export]
macro_rules! vals {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Val::from($v)),*] };
}

/// A row read back: columns in the order the statement selected them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn col(&self, i: usize) -> Result<&Val, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("a row has no column {i}")))
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.col(i)? {
            Val::Int(v) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i} should be an integer, found {}",
                kind(other)
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.col(i)? {
            Val::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.int(i)? != 0)
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.col(i)? {
            Val::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i} should be text, found {}",
                kind(other)
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.col(i)? {
            Val::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.col(i)? {
            Val::Bytes(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i} should be bytes, found {}",
                kind(other)
            ))),
        }
    }

    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.col(i)? {
            Val::Null => Ok(None),
            _ => self.bytes(i).map(Some),
        }
    }
}

fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "NULL",
        Val::Int(_) => "an integer",
        Val::Text(_) => "text",
        Val::Bytes(_) => "bytes",
    }
}

/// What a statement inside a write must find for the write to go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Anything.
    Any,
    /// Exactly one row changed (or returned, for a query).
    One,
    /// At least one row.
    Some,
    /// No row at all (a guard: `SELECT 1 … WHERE <forbidden state>`).
    None,
}

impl Expect {
    fn holds(self, rows: u64) -> bool {
        match self {
            Expect::Any => true,
            Expect::One => rows == 1,
            Expect::Some => rows >= 1,
            Expect::None => rows == 0,
        }
    }
}

/// One statement of a write.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Val>,
    pub expect: Expect,
    /// Returns rows (a query, or `… RETURNING`) rather than a count of changed rows.
    pub returns_rows: bool,
    /// Names the check when `expect` fails, for the caller to turn into a precise error.
    pub label: &'static str,
}

impl Stmt {
    pub fn exec(sql: &'static str, params: Vec<Val>) -> Stmt {
        Stmt {
            sql,
            params,
            expect: Expect::Any,
            returns_rows: false,
            label: "",
        }
    }

    pub fn query(sql: &'static str, params: Vec<Val>) -> Stmt {
        Stmt {
            returns_rows: true,
            ..Stmt::exec(sql, params)
        }
    }

    /// Require `expect`; when it fails the write is rolled back and reported as
    /// [`DbError::Precondition`] with `label`.
    pub fn expect(mut self, expect: Expect, label: &'static str) -> Stmt {
        self.expect = expect;
        self.label = label;
        self
    }
}

/// What one statement of a committed write produced.
#[derive(Clone, Debug, Default)]
pub struct StmtResult {
    pub changed: u64,
    pub rows: Vec<Row>,
}

/// Why a write did not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// A statement's expectation failed (its label says which); nothing was written.
    Precondition(&'static str),
    /// A unique key already holds that value; nothing was written.
    Conflict(String),
    /// The database itself failed.
    Store(StoreError),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Precondition(label) => write!(f, "precondition failed: {label}"),
            DbError::Conflict(what) => write!(f, "already exists: {what}"),
            DbError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DbError {}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> DbError {
        DbError::Store(e)
    }
}

/// Most statements a write may hold: a write is one business transition, never a bulk load.
pub const MAX_WRITE_STMTS: usize = 256;

enum Backend {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

/// The records database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Arc<Backend>,
}

impl Db {
    /// Open (creating and migrating the record tables as needed).
    pub async fn open(config: &StoreConfig) -> Result<Db, StoreError> {
        let backend = match config {
            StoreConfig::Sqlite { path } => Backend::Sqlite(sqlite::SqliteDb::open(path).await?),
            StoreConfig::Postgres { url } => Backend::Postgres(postgres::PgDb::open(url).await?),
        };
        Ok(Db {
            backend: Arc::new(backend),
        })
    }

    /// Apply `stmts` in one transaction: all of them, or (on any error or failed
    /// expectation) none.
    pub async fn write(&self, stmts: Vec<Stmt>) -> Result<Vec<StmtResult>, DbError> {
        if stmts.len() > MAX_WRITE_STMTS {
            return Err(DbError::Store(StoreError::TooLarge { ops: stmts.len() }));
        }
        match &*self.backend {
            Backend::Sqlite(db) => db.write(stmts).await,
            Backend::Postgres(db) => db.write(stmts).await,
        }
    }

    /// Rows of one read-only query, from committed data.
    pub async fn query(&self, sql: &str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(db) => db.query(sql, params).await,
            Backend::Postgres(db) => db.query(sql, params).await,
        }
    }

    /// The first row of a query, if any.
    pub async fn query_opt(&self, sql: &str, params: Vec<Val>) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Spend a request nonce: true when it was new, false when it was spent before (a
    /// replay). Durable before it returns. On PostgreSQL the nonces of concurrent requests
    /// share one statement and one commit.
    pub async fn spend_nonce(
        &self,
        keyid: &str,
        nonce: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        match &*self.backend {
            Backend::Postgres(db) => db.nonces.spend(keyid, nonce, expires_at).await,
            Backend::Sqlite(db) => {
                let r = db
                    .write(vec![Stmt::exec(
                        "INSERT INTO nonces (keyid, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        vec![Val::from(keyid), Val::from(nonce), Val::Int(expires_at)],
                    )])
                    .await
                    .map_err(|e| match e {
                        DbError::Store(s) => s,
                        other => StoreError::Unavailable(other.to_string()),
                    })?;
                Ok(r.first().is_some_and(|r| r.changed == 1))
            }
        }
    }

    /// Stop the writer after committing what is queued.
    pub async fn shutdown(&self) {
        if let Backend::Sqlite(db) = &*self.backend {
            db.shutdown().await;
        }
    }
}
