//! Shared test machinery: a fresh store per test on each backend, raw database access for
//! tampering, and small builders for ledger operations.
//!
//! SQLite: a fresh temporary directory per test. PostgreSQL: a fresh database per test,
//! created through the admin URL in `PURSER_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, then `postgres://root@127.0.0.1:5432/test`) and
//! dropped afterwards. When PostgreSQL cannot be reached the PostgreSQL half is skipped with a
//! note on stderr, unless `PURSER_TEST_REQUIRE_POSTGRES=1`, which makes it fail instead.

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use purser_core::ledger::verify::{Broken, Summary};
use purser_core::ledger::{
    Account, AccountFlags, AccountId, Hold, HoldState, LedgerError, LinkedOp, NewAccount,
    NewTransfer, Op, Outcome, Transfer, TransferId,
};
use purser_core::{Currency, ManualClock, Timestamp};
use purser_store::{Ledger, OpResult, StoreConfig};

/// Runs one test body on one backend. Used by [`both_backends!`] and [`postgres_only!`].
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::run($crate::harness::Kind::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::run($crate::harness::Kind::Postgres, super::$name).await;
            }
        }
    )+};
}

/// Tests that only make sense with PostgreSQL (several processes on one database).
#[macro_export]
macro_rules! postgres_only {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::run($crate::harness::Kind::Postgres, super::$name).await;
            }
        }
    )+};
}

/// Longest a single test may run before it is reported as hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

const DEFAULT_ADMIN_URLS: [&str; 2] = [
    "postgres://postgres@127.0.0.1:5432/test",
    "postgres://root@127.0.0.1:5432/test",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty store for one test.
pub struct TestDb {
    pub kind: Kind,
    pub config: StoreConfig,
    /// Keeps the SQLite directory alive for the test; removed on drop.
    _dir: Option<tempfile::TempDir>,
}

/// Where a PostgreSQL test database lives, to drop it afterwards.
struct PgCleanup {
    admin_url: String,
    name: String,
}

/// Run `test` against a fresh store of `kind`, then clean up (even when the test panics).
pub async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (db, cleanup) = match kind {
        Kind::Sqlite => {
            let dir = tempfile::Builder::new()
                .prefix("purser-store-it-")
                .tempdir()
                .expect("create a temporary directory");
            let config = StoreConfig::sqlite_in(dir.path());
            (
                TestDb {
                    kind,
                    config,
                    _dir: Some(dir),
                },
                None,
            )
        }
        Kind::Postgres => {
            let Some(admin) = postgres_admin_url().await else {
                return;
            };
            let name = format!("purser_t_{}", random_hex());
            let client = pg_connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL admin connection failed: {e}"));
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
            drop(client);
            let config = StoreConfig::Postgres {
                url: with_database(&admin, &name),
            };
            (
                TestDb {
                    kind,
                    config,
                    _dir: None,
                },
                Some(PgCleanup {
                    admin_url: admin,
                    name,
                }),
            )
        }
    };

    let mut task = tokio::spawn(test(db));
    let outcome = tokio::time::timeout(TEST_TIMEOUT, &mut task).await;
    if outcome.is_err() {
        task.abort();
        let _ = task.await;
    }
    if let Some(c) = cleanup {
        // Best effort: a leftover database is only clutter.
        if let Ok(client) = pg_connect(&c.admin_url).await {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", c.name))
                .await;
        }
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("the test task did not finish: {e}"),
        Err(_) => panic!("the test did not finish within {TEST_TIMEOUT:?}"),
    }
}

static PG_ADMIN: tokio::sync::OnceCell<Result<String, String>> = tokio::sync::OnceCell::const_new();

/// The reachable admin URL, probed once per test binary. `None` means skip.
async fn postgres_admin_url() -> Option<String> {
    let probed = PG_ADMIN
        .get_or_init(|| async {
            let candidates: Vec<String> = match std::env::var("PURSER_TEST_DATABASE_URL") {
                Ok(u) if !u.trim().is_empty() => vec![u.trim().to_string()],
                _ => DEFAULT_ADMIN_URLS.iter().map(|s| s.to_string()).collect(),
            };
            let mut failures = Vec::new();
            for url in &candidates {
                match pg_connect(url).await {
                    Ok(_) => return Ok(url.clone()),
                    Err(e) => failures.push(format!("{} ({e})", purser_store::redact_url(url))),
                }
            }
            let why = failures.join("; ");
            if !postgres_required() {
                // Written to the real stderr, not through the test harness's capture, so it
                // is seen once even when every test passes.
                let _ = writeln!(
                    std::io::stderr(),
                    "PostgreSQL not reachable at {why}: skipping the PostgreSQL half of the storage tests \
                     (set PURSER_TEST_DATABASE_URL to an admin URL, or PURSER_TEST_REQUIRE_POSTGRES=1 to fail instead)"
                );
            }
            Err(why)
        })
        .await;
    match probed {
        Ok(url) => Some(url.clone()),
        Err(why) if postgres_required() => {
            panic!("PURSER_TEST_REQUIRE_POSTGRES=1, but PostgreSQL is not reachable at {why}")
        }
        Err(_) => None,
    }
}

fn postgres_required() -> bool {
    std::env::var("PURSER_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v.trim() == "1")
}

async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(5),
        config.connect(tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| "no answer within 5s".to_string())?
    .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The same server and credentials, another database.
fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("PURSER_TEST_DATABASE_URL must be a postgres:// URL"));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("{:016x}", h.finish())
}

impl TestDb {
    /// Open a ledger on this store (a second call opens a second writer, as a second process
    /// would).
    pub async fn ledger(&self, clock: &Arc<ManualClock>) -> Ledger {
        Ledger::open(self.config.clone(), clock.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.config.describe()))
    }

    /// `purser_store::verify`, which must find nothing wrong.
    pub async fn verify_ok(&self) -> Summary {
        match purser_store::verify(&self.config).await {
            Ok(Ok(summary)) => summary,
            Ok(Err(broken)) => panic!("verify found the ledger broken: {broken:?}"),
            Err(e) => panic!("verify could not run: {e}"),
        }
    }

    /// `purser_store::verify`, which must report the ledger broken.
    pub async fn verify_broken(&self) -> Broken {
        match purser_store::verify(&self.config).await {
            Ok(Err(broken)) => broken,
            Ok(Ok(summary)) => panic!("verify passed a tampered ledger: {summary:?}"),
            Err(e) => panic!("verify could not run: {e}"),
        }
    }

    /// Direct access to the database, behind Purser's back.
    pub fn raw(&self) -> Raw {
        match &self.config {
            StoreConfig::Sqlite { path } => Raw::Sqlite(path.clone()),
            StoreConfig::Postgres { url } => Raw::Postgres(url.clone()),
        }
    }
}

/// A raw connection to the test's database. SQL given here must run on both backends.
pub enum Raw {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Raw {
    /// Run one statement; the number of rows changed, or the database's refusal.
    pub async fn execute(&self, sql: &str) -> Result<u64, String> {
        match self {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.busy_timeout(Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                conn.execute(sql, [])
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            }
            Raw::Postgres(url) => {
                let client = pg_connect(url).await?;
                client
                    .execute(sql, &[])
                    .await
                    .map_err(|e| match e.as_db_error() {
                        Some(db) => db.message().to_string(),
                        None => e.to_string(),
                    })
            }
        }
    }

    /// A query returning one integer (`COUNT(*)`, `seq`, ...).
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open the SQLite file");
                conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Raw::Postgres(url) => {
                let client = pg_connect(url).await.expect("connect to PostgreSQL");
                client
                    .query_one(sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .get::<_, i64>(0)
            }
        }
    }
}

// ---- clock and operations ------------------------------------------------------------------

/// 2026-01-01T00:00:00Z: an arbitrary, fixed start so every run sees the same times.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

pub const WALLET: AccountFlags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
pub const PLAIN: AccountFlags = AccountFlags {
    debits_must_not_exceed_credits: false,
    credits_must_not_exceed_debits: false,
};

pub fn aid(s: &str) -> AccountId {
    AccountId::parse(s).expect("valid account id")
}

pub fn tid(s: &str) -> TransferId {
    TransferId::parse(s).expect("valid transfer id")
}

pub fn open_account(id: &str, currency: Currency, flags: AccountFlags) -> Op {
    Op::CreateAccount(NewAccount {
        id: aid(id),
        currency,
        flags,
    })
}

pub fn new_transfer(id: &str, from: &str, to: &str, amount: i64) -> NewTransfer {
    NewTransfer {
        id: tid(id),
        debit_account_id: aid(from),
        credit_account_id: aid(to),
        amount,
        currency: Currency::USD,
    }
}

pub fn transfer(id: &str, from: &str, to: &str, amount: i64) -> Op {
    Op::Transfer(new_transfer(id, from, to, amount))
}

pub fn hold(id: &str, from: &str, to: &str, amount: i64, timeout_ms: Option<i64>) -> Op {
    Op::Hold {
        transfer: new_transfer(id, from, to, amount),
        timeout_ms,
    }
}

pub fn post(id: &str, pending: &str, amount: Option<i64>) -> Op {
    Op::Post {
        id: tid(id),
        pending_id: tid(pending),
        amount,
    }
}

pub fn void(id: &str, pending: &str) -> Op {
    Op::Void {
        id: tid(id),
        pending_id: tid(pending),
    }
}

pub fn linked(op: Op) -> LinkedOp {
    LinkedOp { op, linked: true }
}

pub fn single(op: Op) -> LinkedOp {
    LinkedOp { op, linked: false }
}

/// Submit a whole submission; storage itself must not fail.
pub async fn submit(ledger: &Ledger, ops: Vec<LinkedOp>) -> Vec<OpResult> {
    let n = ops.len();
    let results = ledger
        .submit(ops)
        .await
        .unwrap_or_else(|e| panic!("storage failed: {e}"));
    assert_eq!(results.len(), n, "one result per operation");
    results
}

/// Submit one operation that must succeed.
pub async fn ok(ledger: &Ledger, op: Op) -> Outcome {
    let what = format!("{op:?}");
    match ledger.submit_one(op).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => panic!("{what} was refused ({}): {e}", e.code()),
        Err(e) => panic!("storage failed on {what}: {e}"),
    }
}

/// Submit one operation that must be refused.
pub async fn refused(ledger: &Ledger, op: Op) -> LedgerError {
    let what = format!("{op:?}");
    match ledger.submit_one(op).await {
        Ok(Err(e)) => e,
        Ok(Ok(outcome)) => panic!("{what} should have been refused, got {outcome:?}"),
        Err(e) => panic!("storage failed on {what}: {e}"),
    }
}

pub fn code(r: &OpResult) -> &str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

pub fn transfer_of(o: &Outcome) -> Transfer {
    match o {
        Outcome::Transfer { transfer, .. } => transfer.clone(),
        other => panic!("expected a transfer, got {other:?}"),
    }
}

pub fn account_of(o: &Outcome) -> Account {
    match o {
        Outcome::Account { account, .. } => account.clone(),
        other => panic!("expected an account, got {other:?}"),
    }
}

pub async fn account(ledger: &Ledger, id: &str) -> Account {
    ledger
        .account(&aid(id))
        .await
        .unwrap_or_else(|e| panic!("reading account {id}: {e}"))
        .unwrap_or_else(|| panic!("account {id} does not exist"))
}

pub async fn hold_state(ledger: &Ledger, id: &str) -> Hold {
    ledger
        .hold(&tid(id))
        .await
        .unwrap_or_else(|e| panic!("reading hold {id}: {e}"))
        .unwrap_or_else(|| panic!("hold {id} does not exist"))
}

/// Poll a hold until it reaches `state`; fails after `within`.
pub async fn wait_for_hold(ledger: &Ledger, id: &str, state: HoldState, within: Duration) -> Hold {
    let deadline = Instant::now() + within;
    loop {
        let h = hold_state(ledger, id).await;
        if h.state == state {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "hold {id} is still {:?} after {within:?}, expected {state:?}",
            h.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The four balances `[debits_pending, debits_posted, credits_pending, credits_posted]`.
pub fn balances(a: &Account) -> [i64; 4] {
    [
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
    ]
}

/// `bank` (no limits), `wallet` (cannot overdraw) and `shop` (no limits), all in USD, with
/// `funds` paid from bank into wallet by transfer `fund`. Writes 3 or 4 journal entries.
pub async fn open_world(ledger: &Ledger, funds: i64) {
    for op in [
        open_account("bank", Currency::USD, PLAIN),
        open_account("wallet", Currency::USD, WALLET),
        open_account("shop", Currency::USD, PLAIN),
    ] {
        ok(ledger, op).await;
    }
    if funds > 0 {
        ok(ledger, transfer("fund", "bank", "wallet", funds)).await;
    }
}
