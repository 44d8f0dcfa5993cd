//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`, written by one
//! thread that commits batches (group commit), read through a small pool of read-only
//! connections that see only committed data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use purser_core::ledger::journal::{chain, Hash};
use purser_core::ledger::verify::{StoredEntry, StoredHead, Verifier};
use purser_core::ledger::{Account, AccountId, Hold, LedgerState, Transfer, TransferId};
use purser_core::{Clock, Timestamp};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::mpsc;

use crate::rows::{
    account_balances, refusal_body, refusal_from_body, transfer_from_body, AccountRow, HoldRow,
    ACCOUNT_COLUMNS, HOLD_COLUMNS,
};
use crate::writer::{
    self, Batch, CommitTimer, Job, Joiner, Pending, WriterHandle, EXPIRY_SWEEP_LIMIT,
    QUEUE_CAPACITY,
};
use crate::{LedgerMetrics, OpResult, StoreError, VerifyResult};

/// How long a connection waits for a lock before giving up. Only `verify` and readers can
/// contend with the single writer, and WAL readers never block it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's page cache. Index lookups for idempotency and hot account pages must not go to
/// the kernel on every batch. Larger caches were measured slower: SQLite scans the whole page
/// cache hash at each commit (`pcache1TruncateUnsafe`), so 64 MiB is the sweet spot here.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Pages beyond the cache are read through a memory map rather than a syscall and a copy each:
/// measured 20–60% more holds, posts and voids per second once the database outgrows the cache.
/// (Writes still go through `write` and `fsync`.)
const WRITER_MMAP_BYTES: i64 = 1 << 30;

/// How often the background checkpointer copies committed WAL pages into the database file.
/// It works beside the writer (a PASSIVE checkpoint never blocks it), so most pages are already
/// copied when the writer's own checkpoint comes round.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// WAL pages after which the writer itself checkpoints, between two commits. Only a checkpoint
/// that finishes while no write is in progress lets SQLite restart the WAL from its beginning;
/// without it the file grows without bound under sustained load (measured: 290 MB in 10 s),
/// and every page lookup gets slower. 8,000 pages is about 32 MiB.
const WRITER_CHECKPOINT_PAGES: i64 = 8_000;

/// How long the final checkpoint at shutdown waits for readers before giving up.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// Read connections kept open for reuse, and the most reads run at once.
const READ_POOL_SIZE: usize = 8;

/// Schema migrations, applied in order once each. Never edit one that has shipped; add another.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    at INTEGER NOT NULL
);
INSERT INTO ledger_head (id, seq, hash, at) VALUES (1, 0, zeroblob(32), 0);
CREATE TABLE journal (
    seq INTEGER PRIMARY KEY CHECK (seq > 0),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    transfer_id TEXT UNIQUE,
    body TEXT NOT NULL,
    hash BLOB NOT NULL
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    flags INTEGER NOT NULL,
    debits_pending INTEGER NOT NULL,
    debits_posted INTEGER NOT NULL,
    credits_pending INTEGER NOT NULL,
    credits_posted INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    debit_account_id TEXT NOT NULL,
    credit_account_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    posted_amount INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    resolved_at INTEGER
) WITHOUT ROWID;
CREATE INDEX holds_due ON holds (expires_at) WHERE state = 'pending' AND expires_at IS NOT NULL;
CREATE TABLE refusals (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;
"#];

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("SQLite: {e}"))
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        crate::create_private_dir(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
            "{} could not switch to WAL mode (got {mode})",
            path.display()
        )));
    }
    // FULL: every commit is fsynced before it returns, so an acknowledged batch survives a
    // power cut, not only a process crash.
    conn.execute_batch(&format!(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-{WRITER_CACHE_KIB};
         PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}; PRAGMA mmap_size={WRITER_MMAP_BYTES};"
    ))
    .map_err(db_err)?;
    migrate(&conn)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(db_err)?;
    let done: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= done {
            continue;
        }
        let tx = conn.unchecked_transaction().map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, strftime('%s','now'))",
            [version],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
    }
    if done > MIGRATIONS.len() as i64 {
        return Err(StoreError::Config(format!(
            "the database has schema version {done}, newer than this purser knows ({}); run a newer purser",
            MIGRATIONS.len()
        )));
    }
    Ok(())
}

pub(crate) async fn open(
    path: PathBuf,
    clock: Arc<dyn Clock>,
    metrics: Arc<LedgerMetrics>,
) -> Result<(WriterHandle, ReadPool), StoreError> {
    let p = path.clone();
    let conn = tokio::task::spawn_blocking(move || open_writer(&p))
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
    let lock = lock_data_dir(&path)?;
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let checkpointer = Checkpointer::start(&path)?;
    let thread = std::thread::Builder::new()
        .name("purser-ledger-writer".into())
        .spawn(move || {
            writer_loop(conn, rx, clock, metrics);
            checkpointer.stop();
            // Released only once everything is committed and checkpointed.
            drop(lock);
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
    Ok((
        WriterHandle::new(tx, Joiner::Thread(thread)),
        ReadPool::new(path),
    ))
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    clock: Arc<dyn Clock>,
    metrics: Arc<LedgerMetrics>,
) {
    while let Some(first) = rx.blocking_recv() {
        let batch = Batch::gather(first, &mut rx);
        let now = clock.now();
        if batch.jobs.is_empty() && !has_due_holds(&conn, now) {
            continue;
        }
        let timer = CommitTimer::start();
        let committed = commit(&mut conn, &batch.jobs, now);
        for job in writer::settle(batch.jobs, timer, committed, &metrics) {
            let timer = CommitTimer::start();
            let committed = commit(&mut conn, std::slice::from_ref(&job), now);
            let _ = writer::settle(vec![job], timer, committed, &metrics);
        }
    }
}

/// Name of the lock file next to the database.
const LOCK_FILE: &str = "purser.lock";

/// One writing process per SQLite ledger: a second `purser serve` (or a bench pointed at a live
/// data directory) is refused with a clear message instead of competing for the writer lock.
/// `purser ledger verify` only reads and does not take it.
fn lock_data_dir(db: &Path) -> Result<std::fs::File, StoreError> {
    let dir = db.parent().unwrap_or_else(|| Path::new("."));
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Config(format!(
            "another purser process is already using {} (it holds {LOCK_FILE}); stop it, or choose another --data directory",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StoreError::Config(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

/// Copies committed WAL pages into the database file from its own thread and connection.
struct Checkpointer {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path).map_err(db_err)?;
        // Short: the final TRUNCATE gives up quickly if a reader (say, `purser ledger verify`)
        // still holds the WAL; the next start checkpoints it.
        conn.busy_timeout(CHECKPOINT_BUSY_TIMEOUT).map_err(db_err)?;
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("purser-checkpointer".into())
            .spawn(move || {
                let (lock, cvar) = &*flag;
                loop {
                    let Ok(guard) = lock.lock() else { return };
                    let Ok((guard, _)) =
                        cvar.wait_timeout_while(guard, CHECKPOINT_INTERVAL, |stopped| !*stopped)
                    else {
                        return;
                    };
                    let stopping = *guard;
                    drop(guard);
                    let mode = if stopping { "TRUNCATE" } else { "PASSIVE" };
                    checkpoint(&conn, mode);
                    if stopping {
                        return;
                    }
                }
            })
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the checkpointer thread: {e}"))
            })?;
        Ok(Checkpointer { stop, thread })
    }

    /// Final checkpoint, then join. Called when the writer has committed its last batch.
    fn stop(self) {
        if let Ok(mut s) = self.stop.0.lock() {
            *s = true;
        }
        self.stop.1.notify_all();
        let _ = self.thread.join();
    }
}

/// Run a checkpoint; a failure is logged and retried next round.
fn checkpoint(conn: &Connection, mode: &str) {
    if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        r.get::<_, i64>(1)
    }) {
        tracing::warn!(error = %e, mode, "WAL checkpoint failed; will retry");
    }
}

fn has_due_holds(conn: &Connection, now: Timestamp) -> bool {
    conn.prepare_cached("SELECT 1 FROM holds WHERE state = 'pending' AND expires_at <= ?1 LIMIT 1")
        .and_then(|mut s| s.exists([now.0]))
        .unwrap_or(false)
}

fn read_account(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: row.get(0)?,
        currency: row.get(1)?,
        flags: row.get(2)?,
        balances: [row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?],
        created_at: row.get(7)?,
    })
}

fn read_hold(row: &rusqlite::Row<'_>) -> rusqlite::Result<HoldRow> {
    Ok(HoldRow {
        id: row.get(0)?,
        debit: row.get(1)?,
        credit: row.get(2)?,
        currency: row.get(3)?,
        amount: row.get(4)?,
        posted_amount: row.get(5)?,
        state: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        resolved_at: row.get(9)?,
    })
}

pub(crate) fn head(conn: &Connection) -> Result<(i64, Hash, i64), StoreError> {
    let (seq, hash, at): (i64, Vec<u8>, i64) = conn
        .query_row(
            "SELECT seq, hash, at FROM ledger_head WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(db_err)?;
    let hash: Hash = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("the ledger head hash is not 32 bytes".into()))?;
    Ok((seq, hash, at))
}

/// One transaction: load what the jobs reference, execute, write, commit.
fn commit(
    conn: &mut Connection,
    jobs: &[Pending],
    now: Timestamp,
) -> Result<(Vec<Vec<OpResult>>, usize), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let (mut seq, mut prev, last_at) = head(&tx)?;
    let now = writer::effective_now(now, last_at);
    let mut state = LedgerState::for_execution(Timestamp(last_at));
    let refs = purser_core::ledger::references(jobs.iter().flat_map(|j| j.ops.iter()));
    {
        let mut get_transfer = tx
            .prepare_cached("SELECT body FROM journal WHERE transfer_id = ?1")
            .map_err(db_err)?;
        for id in &refs.transfers {
            let body: Option<String> = get_transfer
                .query_row([id.as_str()], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            if let Some(body) = body {
                state.load_transfer(transfer_from_body(&body)?);
            }
        }
        let mut get_refusal = tx
            .prepare_cached("SELECT body FROM refusals WHERE id = ?1")
            .map_err(db_err)?;
        for id in &refs.transfers {
            let body: Option<String> = get_refusal
                .query_row([id.as_str()], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            if let Some(body) = body {
                state.load_refusal(id.clone(), refusal_from_body(&body)?);
            }
        }
        let mut get_hold = tx
            .prepare_cached(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = ?1"))
            .map_err(db_err)?;
        for id in &refs.holds {
            if let Some(row) = get_hold
                .query_row([id.as_str()], read_hold)
                .optional()
                .map_err(db_err)?
            {
                state.load_hold(row.parse()?);
            }
        }
        let mut due = tx
            .prepare_cached(&format!(
                "SELECT {HOLD_COLUMNS} FROM holds WHERE state = 'pending' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2"
            ))
            .map_err(db_err)?;
        let rows = due
            .query_map(params![now.0, EXPIRY_SWEEP_LIMIT as i64], read_hold)
            .map_err(db_err)?;
        for row in rows {
            state.load_hold(row.map_err(db_err)?.parse()?);
        }
        let mut get_account = tx
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
            ))
            .map_err(db_err)?;
        let mut ids = refs.accounts;
        ids.extend(state.missing_hold_accounts());
        for id in &ids {
            if let Some(row) = get_account
                .query_row([id.as_str()], read_account)
                .optional()
                .map_err(db_err)?
            {
                state.load_account(row.parse()?);
            }
        }
    }

    let results = writer::execute(&mut state, jobs, now);
    let changes = state.take_changes();
    if changes.entries.is_empty() && changes.refusals.is_empty() {
        // Only replays and refusals: nothing to make durable, so no commit and no fsync.
        tx.rollback().map_err(db_err)?;
        return Ok((results, 0));
    }
    let expired = changes.expired();
    {
        let mut put_entry = tx
            .prepare_cached("INSERT INTO journal (seq, at, kind, transfer_id, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(db_err)?;
        for c in chain(&changes.entries, seq, prev) {
            put_entry
                .execute(params![
                    c.seq,
                    c.entry.at.0,
                    c.entry.kind(),
                    c.entry.transfer_id().map(TransferId::as_str),
                    c.body,
                    c.hash.as_slice()
                ])
                .map_err(db_err)?;
            (seq, prev) = (c.seq, c.hash);
        }
        let mut put_account = tx
            .prepare_cached(&format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET debits_pending = excluded.debits_pending,
                   debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending,
                   credits_posted = excluded.credits_posted"
            ))
            .map_err(db_err)?;
        for a in &changes.accounts {
            let [dp, dpo, cp, cpo] = account_balances(a);
            put_account
                .execute(params![
                    a.id.as_str(),
                    a.currency.code(),
                    a.flags.bits(),
                    dp,
                    dpo,
                    cp,
                    cpo,
                    a.created_at.0
                ])
                .map_err(db_err)?;
        }
        let mut put_hold = tx
            .prepare_cached(&format!(
                "INSERT INTO holds ({HOLD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET posted_amount = excluded.posted_amount,
                   state = excluded.state, resolved_at = excluded.resolved_at"
            ))
            .map_err(db_err)?;
        for h in &changes.holds {
            put_hold
                .execute(params![
                    h.id.as_str(),
                    h.debit_account_id.as_str(),
                    h.credit_account_id.as_str(),
                    h.currency.code(),
                    h.amount,
                    h.posted_amount,
                    h.state.as_str(),
                    h.created_at.0,
                    h.expires_at.map(|t| t.0),
                    h.resolved_at.map(|t| t.0)
                ])
                .map_err(db_err)?;
        }
        let mut put_refusal = tx
            .prepare_cached(
                "INSERT INTO refusals (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(db_err)?;
        for (id, r) in &changes.refusals {
            put_refusal
                .execute(params![id.as_str(), refusal_body(r)])
                .map_err(db_err)?;
        }
        let at = changes.entries.last().map_or(last_at, |e| e.at.0);
        tx.prepare_cached("UPDATE ledger_head SET seq = ?1, hash = ?2, at = ?3 WHERE id = 1")
            .and_then(|mut s| s.execute(params![seq, prev.as_slice(), at]))
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok((results, expired))
}

/// Read-only connections, reused.
pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    /// At most `READ_POOL_SIZE` reads at once; more wait here rather than open connections
    /// without bound.
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Arc::new(tokio::sync::Semaphore::new(READ_POOL_SIZE)),
        }
    }

    pub(crate) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = self.idle.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = idle.lock().ok().and_then(|mut v| v.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let out = f(&conn);
            if let Ok(mut v) = idle.lock() {
                if v.len() < READ_POOL_SIZE {
                    v.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    pub async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row([id.as_str()], read_account).optional())
            .map_err(db_err)?
            .map(AccountRow::parse)
            .transpose()
        })
        .await
    }

    pub async fn hold(&self, id: TransferId) -> Result<Option<Hold>, StoreError> {
        self.with(move |c| {
            c.prepare_cached(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = ?1"))
                .and_then(|mut s| s.query_row([id.as_str()], read_hold).optional())
                .map_err(db_err)?
                .map(HoldRow::parse)
                .transpose()
        })
        .await
    }

    pub async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError> {
        self.with(move |c| {
            let body: Option<String> = c
                .prepare_cached("SELECT body FROM journal WHERE transfer_id = ?1")
                .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
                .map_err(db_err)?;
            body.as_deref().map(transfer_from_body).transpose()
        })
        .await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.query_row("SELECT seq FROM ledger_head WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(db_err)
        })
        .await
    }
}

pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Config(format!(
            "there is no Purser database at {}; point --data at the directory `purser serve` used",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    Ok(conn)
}

pub(crate) async fn verify(path: PathBuf) -> Result<VerifyResult, StoreError> {
    tokio::task::spawn_blocking(move || {
        let mut conn = open_reader(&path)?;
        // One read transaction: a consistent snapshot even while a server keeps writing.
        let tx = conn.transaction().map_err(db_err)?;
        let (seq, hash, at) = head(&tx)?;
        let mut v = Verifier::default();
        {
            // Every row, whatever its seq: an inserted row (even below 1 or past the head)
            // breaks the sequence.
            let mut stmt = tx
                .prepare("SELECT seq, at, kind, transfer_id, body, hash FROM journal ORDER BY seq")
                .map_err(db_err)?;
            let mut rows = stmt.query([]).map_err(db_err)?;
            while let Some(row) = rows.next().map_err(db_err)? {
                let seq: i64 = row.get(0).map_err(db_err)?;
                let at: i64 = row.get(1).map_err(db_err)?;
                let kind: String = row.get(2).map_err(db_err)?;
                let transfer_id: Option<String> = row.get(3).map_err(db_err)?;
                let body: String = row.get(4).map_err(db_err)?;
                let h: Vec<u8> = row.get(5).map_err(db_err)?;
                let stored = StoredEntry {
                    seq,
                    at,
                    kind: &kind,
                    transfer_id: transfer_id.as_deref(),
                    body: &body,
                    hash: &h,
                };
                if let Err(broken) = v.entry(stored) {
                    return Ok(Err(broken));
                }
            }
        }
        let accounts = collect(
            &tx,
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"),
            read_account,
            AccountRow::parse,
        )?;
        let holds = collect(
            &tx,
            &format!("SELECT {HOLD_COLUMNS} FROM holds"),
            read_hold,
            HoldRow::parse,
        )?;
        let head = StoredHead {
            seq,
            hash: hash.to_vec(),
            at,
        };
        Ok(v.finish(&head, accounts, holds))
    })
    .await
    .map_err(|e| StoreError::Unavailable(e.to_string()))?
}

fn collect<R, T>(
    conn: &Connection,
    sql: &str,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    parse: impl Fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db_err)?;
    let rows = stmt.query_map([], read).map_err(db_err)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(parse(r.map_err(db_err)?)?);
    }
    Ok(out)
}

/// The disk's floor for the embedded backend: single-row SQLite transactions per second with
/// the same WAL + `synchronous=FULL` settings, one commit (one fsync) each. `purser bench`
/// prints ledger figures beside it. Uses a scratch file in `dir`, removed afterwards.
pub fn commit_floor(dir: &Path, commits: usize) -> Result<f64, StoreError> {
    let path = dir.join(format!("commit-floor-{}.db", std::process::id()));
    let result = (|| {
        let conn = Connection::open(&path).map_err(db_err)?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        conn.execute_batch(
            "PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
        )
        .map_err(db_err)?;
        let started = std::time::Instant::now();
        for i in 0..commits {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [i as i64])
                .map_err(db_err)?;
        }
        Ok(commits as f64 / started.elapsed().as_secs_f64())
    })();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}
