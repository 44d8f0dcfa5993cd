//! Purser storage: the ledger made durable.
//!
//! One [`Ledger`] handle per process. Writes go through a single writer (a thread for SQLite,
//! a task for PostgreSQL) that gathers concurrent submissions into one transaction — group
//! commit — so many callers share one fsync, and no caller hears back before its transaction
//! is committed. Reads go to separate connections and see only committed data.
//!
//! The rules live in `purser_core::ledger`; this crate loads what a batch references, runs the
//! core state machine, and writes the journal entries and touched rows it returns.

pub mod db;
mod journal_excerpt;
mod metrics;
mod postgres;
mod rows;
mod sqlite;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use purser_core::ledger::verify::{Broken, Summary};
use purser_core::ledger::{
    Account, AccountId, Hold, LedgerError, LinkedOp, Outcome, Transfer, TransferId,
};
use purser_core::Clock;

pub use journal_excerpt::{JournalEntry, JournalExcerpt, JournalHead};
pub use metrics::{LedgerMetrics, MetricsSnapshot};
pub use sqlite::commit_floor as sqlite_commit_floor;
pub use writer::{MAX_BATCH_OPS, MAX_SUBMISSION_OPS, QUEUE_CAPACITY};

/// Where the ledger lives. `Debug` never shows a database password.
#[derive(Clone)]
pub enum StoreConfig {
    /// An SQLite database file (created if missing), in WAL mode with full fsync.
    Sqlite { path: PathBuf },
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres { url: String },
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl StoreConfig {
    /// SQLite under a data directory: `<dir>/purser.db`.
    pub fn sqlite_in(dir: &std::path::Path) -> StoreConfig {
        StoreConfig::Sqlite {
            path: dir.join("purser.db"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            StoreConfig::Sqlite { .. } => "sqlite",
            StoreConfig::Postgres { .. } => "postgres",
        }
    }

    /// Where, for messages to people; never includes a password.
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Sqlite { path } => format!("SQLite at {}", path.display()),
            StoreConfig::Postgres { url } => format!("PostgreSQL at {}", redact_url(url)),
        }
    }
}

/// A PostgreSQL URL for people: user, host, port and database only. Passwords (in the
/// userinfo or as a `password=` parameter) and every other parameter are left out.
pub fn redact_url(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "(an unparseable database URL)".into();
    };
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let db = config
        .get_dbname()
        .map(|d| format!("/{d}"))
        .unwrap_or_default();
    format!("postgres://{user}{host}{port}{db}")
}

/// Failures of the storage itself (as opposed to ledger rules, which are [`LedgerError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database could not be reached or refused the write. The submission was most likely
    /// not applied, but if the connection died during COMMIT it may have been: retry with the
    /// same ids, which returns the first result if it was applied and applies it once if not.
    Unavailable(String),
    /// The ledger is shutting down.
    Closed,
    /// The submission is too large.
    TooLarge { ops: usize },
    /// A stored row could not be read back as a valid value.
    Corrupt(String),
    /// The configuration cannot work (unwritable directory, bad URL).
    Config(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "storage is unavailable: {why}"),
            StoreError::Closed => f.write_str("the ledger is shutting down; retry against a running server"),
            StoreError::TooLarge { ops } => write!(
                f,
                "a submission may hold at most {MAX_SUBMISSION_OPS} operations; this one has {ops}; split it"
            ),
            StoreError::Corrupt(why) => write!(f, "stored data is unreadable: {why}"),
            StoreError::Config(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

/// One result per submitted operation.
pub type OpResult = Result<Outcome, LedgerError>;

enum Reader {
    Sqlite(sqlite::ReadPool),
    Postgres(postgres::Reader),
}

/// The durable ledger. Cheap to share behind an `Arc`.
pub struct Ledger {
    writer: writer::WriterHandle,
    reader: Reader,
    metrics: Arc<LedgerMetrics>,
    config: StoreConfig,
}

impl Ledger {
    /// Open (creating and migrating as needed) and start the writer.
    pub async fn open(config: StoreConfig, clock: Arc<dyn Clock>) -> Result<Ledger, StoreError> {
        let metrics = Arc::new(LedgerMetrics::default());
        let (writer, reader) = match &config {
            StoreConfig::Sqlite { path } => {
                let (w, r) = sqlite::open(path.clone(), clock, metrics.clone()).await?;
                (w, Reader::Sqlite(r))
            }
            StoreConfig::Postgres { url } => {
                let (w, r) = postgres::open(url, clock, metrics.clone()).await?;
                (w, Reader::Postgres(r))
            }
        };
        Ok(Ledger {
            writer,
            reader,
            metrics,
            config,
        })
    }

    /// Apply operations durably. Returns once they are committed (or refused), one result per
    /// operation. Linked operations succeed or fail together.
    pub async fn submit(&self, ops: Vec<LinkedOp>) -> Result<Vec<OpResult>, StoreError> {
        self.writer.submit(ops).await
    }

    /// Submit a single unlinked operation.
    pub async fn submit_one(&self, op: purser_core::ledger::Op) -> Result<OpResult, StoreError> {
        let mut r = self.submit(vec![op.into()]).await?;
        r.pop()
            .ok_or_else(|| StoreError::Corrupt("the writer returned no result".into()))
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        match &self.reader {
            Reader::Sqlite(r) => r.account(id.clone()).await,
            Reader::Postgres(r) => r.account(id).await,
        }
    }

    pub async fn hold(&self, id: &TransferId) -> Result<Option<Hold>, StoreError> {
        match &self.reader {
            Reader::Sqlite(r) => r.hold(id.clone()).await,
            Reader::Postgres(r) => r.hold(id).await,
        }
    }

    pub async fn transfer(&self, id: &TransferId) -> Result<Option<Transfer>, StoreError> {
        match &self.reader {
            Reader::Sqlite(r) => r.transfer(id.clone()).await,
            Reader::Postgres(r) => r.transfer(id).await,
        }
    }

    /// The journal entries that created `ids` (and the expiry of any of them that is a hold
    /// which expired by itself), each with the previous entry's hash, and the head: an excerpt
    /// of the hash chain anyone can check offline. Ids with no entry are left out. The caller
    /// bounds `ids` (a payment's evidence names a few transfers).
    pub async fn journal_excerpt(&self, ids: &[TransferId]) -> Result<JournalExcerpt, StoreError> {
        match &self.reader {
            Reader::Sqlite(r) => journal_excerpt::sqlite::excerpt(r, ids.to_vec()).await,
            Reader::Postgres(r) => journal_excerpt::postgres::excerpt(r, ids.to_vec()).await,
        }
    }

    /// Is the database answering? For `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.reader {
            Reader::Sqlite(r) => r.ping().await,
            Reader::Postgres(r) => r.ping().await,
        }
    }

    /// Submissions waiting for the writer (a gauge for `/metrics`; near `QUEUE_CAPACITY`
    /// means the writer is the bottleneck or storage has stalled).
    pub fn queued(&self) -> usize {
        self.writer.queued()
    }

    pub fn metrics(&self) -> &Arc<LedgerMetrics> {
        &self.metrics
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Stop taking submissions, commit everything already queued, and stop the writer.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
    }
}

/// Outcome of [`verify`]: a summary, or the first thing found broken.
pub type VerifyResult = Result<Summary, Broken>;

/// Recompute every balance from the journal, check the hash chain and every invariant, and
/// compare with the stored accounts and holds. Reads only; safe while a server runs.
pub async fn verify(config: &StoreConfig) -> Result<VerifyResult, StoreError> {
    match config {
        StoreConfig::Sqlite { path } => sqlite::verify(path.clone()).await,
        StoreConfig::Postgres { url } => postgres::verify(url).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(
            super::redact_url("postgres://u@h/db"),
            "postgres://u@h:5432/db"
        );
        assert!(!super::redact_url("postgres://u:s3cr@t@h/db").contains("s3cr"));
        let r = super::redact_url("postgres://u@h:1/db?password=hunter2&sslmode=disable");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(!super::redact_url("host=h password=hunter2").contains("hunter2"));
        let cfg = super::StoreConfig::Postgres {
            url: "postgres://u:pw@h/db".into(),
        };
        assert!(!format!("{cfg:?}").contains("pw"));
    }
}

/// Create `dir` (and parents) if it does not exist, readable by its owner only (0700). An
/// existing directory is left exactly as it is.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> purser_core::Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        purser_core::Timestamp(ms)
    }
}
