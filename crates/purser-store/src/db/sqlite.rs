//! Records on SQLite: one writer thread with group commit (a savepoint per write), reads from
//! the shared read-only pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{schema, DbError, Row, Stmt, StmtResult, Val};
use crate::sqlite::open_reader;

/// Read connections kept for inline reads (one per runtime worker is typical).
const MAX_INLINE_READERS: usize = 8;
use crate::StoreError;

/// Writes waiting for the writer thread. Callers wait for room beyond this (backpressure)
/// rather than queueing without bound.
const QUEUE_CAPACITY: usize = 4096;

/// Most writes committed together. Large enough that one fsync serves a burst of signed
/// requests (each inserts its nonce), small enough that one commit stays short.
const MAX_GROUP: usize = 512;

/// How long the records writer waits for the ledger writer's lock on the shared file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<Vec<StmtResult>, DbError>>;
type Queue = mpsc::Sender<(Vec<Stmt>, Reply)>;

pub(super) struct SqliteDb {
    queue: Mutex<Option<Queue>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Read-only connections used on the calling thread. Record reads are point lookups and
    /// short lists on indexes (tens of microseconds; WAL readers never wait for the writer),
    /// cheaper to run in place than to hand to a blocking thread and back — that hand-off cost
    /// more than the read itself on every signed request.
    inline: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("SQLite: {e}"))
}

fn classify(e: rusqlite::Error) -> DbError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        // SQLITE_CONSTRAINT_PRIMARYKEY (1555) and SQLITE_CONSTRAINT_UNIQUE (2067).
        if f.code == ErrorCode::ConstraintViolation
            && (f.extended_code == 1555 || f.extended_code == 2067)
        {
            return DbError::Conflict(msg.clone().unwrap_or_default());
        }
    }
    DbError::Store(err(e))
}

impl SqliteDb {
    pub(super) async fn open(path: &Path) -> Result<SqliteDb, StoreError> {
        let p = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || open_writer(&p))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("purser-records".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the records writer: {e}"))
            })?;
        Ok(SqliteDb {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            inline: Mutex::new(Vec::new()),
            path: path.to_path_buf(),
        })
    }

    pub(super) async fn write(&self, stmts: Vec<Stmt>) -> Result<Vec<StmtResult>, DbError> {
        let sender = self
            .queue
            .lock()
            .map_err(|_| DbError::Store(StoreError::Closed))?
            .clone()
            .ok_or(DbError::Store(StoreError::Closed))?;
        let (reply, answer) = oneshot::channel();
        sender
            .send((stmts, reply))
            .await
            .map_err(|_| DbError::Store(StoreError::Closed))?;
        answer
            .await
            .map_err(|_| DbError::Store(StoreError::Closed))?
    }

    pub(super) async fn query(&self, sql: &str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let pooled = self.inline.lock().ok().and_then(|mut v| v.pop());
        let conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let out = conn
            .prepare_cached(&placeholders(sql))
            .and_then(|mut stmt| read_rows(&mut stmt, &params))
            .map_err(err);
        if let Ok(mut v) = self.inline.lock() {
            if v.len() < MAX_INLINE_READERS {
                v.push(conn);
            }
        }
        out
    }

    pub(super) async fn shutdown(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
            "SQLite refused WAL mode (got {mode}); put the data directory on a local disk"
        )));
    }
    // Deleted records (a discarded card-verification value, a used setup token) are
    // overwritten on disk, not left in free pages.
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;")
        .map_err(err)?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS records_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(err)?;
    // Each version not applied yet, in order: a version added below one already applied (two
    // branches each adding one) is still applied.
    let done: Vec<i64> = {
        let mut st = tx
            .prepare("SELECT version FROM records_migrations")
            .map_err(err)?;
        let rows = st.query_map([], |r| r.get(0)).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)?
    };
    for (version, sql) in schema::MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.execute_batch(&schema::sqlite_ddl(sql))
            .map_err(|e| StoreError::Config(format!("records migration {version} failed: {e}")))?;
        tx.execute(
            "INSERT INTO records_migrations (version, applied_at) VALUES (?1, strftime('%s','now'))",
            [version],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// `$1` → `?1`: SQLite reads `$1` as a *named* parameter, numbered by first appearance;
/// `?1` is positional, as in PostgreSQL.
fn placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

fn read_rows(stmt: &mut rusqlite::Statement<'_>, params: &[Val]) -> rusqlite::Result<Vec<Row>> {
    let n = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut cols = Vec::with_capacity(n);
        for i in 0..n {
            cols.push(match r.get_ref(i)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(v) => Val::Int(v),
                ValueRef::Real(v) => Val::Text(v.to_string()),
                ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
            });
        }
        out.push(Row(cols));
    }
    Ok(out)
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<(Vec<Stmt>, Reply)>) {
    let mut sql_cache: HashMap<&'static str, String> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let results = commit_group(&mut conn, &mut sql_cache, &group);
        for ((_, reply), result) in group.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// One transaction for the whole group; each write inside its own savepoint, so a write that
/// fails (conflict, expectation) is rolled back alone. If the commit itself fails, every write
/// of the group fails.
fn commit_group(
    conn: &mut Connection,
    cache: &mut HashMap<&'static str, String>,
    group: &[(Vec<Stmt>, Reply)],
) -> Vec<Result<Vec<StmtResult>, DbError>> {
    let fail_all = |e: StoreError| {
        group
            .iter()
            .map(|_| Err(DbError::Store(e.clone())))
            .collect::<Vec<_>>()
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return fail_all(err(e));
    }
    let mut results = Vec::with_capacity(group.len());
    for (stmts, _) in group {
        // A single statement that expects nothing is atomic by itself (SQLite undoes a failed
        // statement): no savepoint needed. This is every nonce a signed request spends.
        if let [one] = stmts.as_slice() {
            if one.expect == super::Expect::Any {
                results.push(run_write(conn, cache, stmts));
                continue;
            }
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT w") {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(err(e));
        }
        let r = run_write(conn, cache, stmts);
        let end = if r.is_ok() {
            "RELEASE w"
        } else {
            "ROLLBACK TO w; RELEASE w"
        };
        if let Err(e) = conn.execute_batch(end) {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(err(e));
        }
        results.push(r);
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => results,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(err(e))
        }
    }
}

fn run_write(
    conn: &Connection,
    cache: &mut HashMap<&'static str, String>,
    stmts: &[Stmt],
) -> Result<Vec<StmtResult>, DbError> {
    let mut out = Vec::with_capacity(stmts.len());
    for s in stmts {
        let sql = cache.entry(s.sql).or_insert_with(|| placeholders(s.sql));
        let mut stmt = conn.prepare_cached(sql).map_err(classify)?;
        let result = if s.returns_rows {
            let rows = read_rows(&mut stmt, &s.params).map_err(classify)?;
            StmtResult {
                changed: rows.len() as u64,
                rows,
            }
        } else {
            let changed = stmt
                .execute(rusqlite::params_from_iter(s.params.iter()))
                .map_err(classify)?;
            StmtResult {
                changed: changed as u64,
                rows: Vec::new(),
            }
        };
        if !s.expect.holds(result.changed) {
            return Err(DbError::Precondition(s.label));
        }
        out.push(result);
    }
    Ok(out)
}
