//! Test harness: runs the real `purser` binary against SQLite or a fresh PostgreSQL database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_purser")
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "purser-it-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- PostgreSQL ----------------------------------------------------------------------

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn admin_urls() -> Vec<String> {
    match std::env::var("PURSER_TEST_DATABASE_URL") {
        Ok(u) => vec![u],
        Err(_) => vec![
            "postgres://postgres@127.0.0.1:5432/test".into(),
            "postgres://root@127.0.0.1:5432/test".into(),
        ],
    }
}

/// The first admin URL that answers, probed once per test binary.
fn admin_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let rt = rt();
        for url in admin_urls() {
            let ok = rt.block_on(async {
                match tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(&url, tokio_postgres::NoTls)).await {
                    Ok(Ok((c, conn))) => {
                        tokio::spawn(conn);
                        c.simple_query("SELECT 1").await.is_ok()
                    }
                    _ => false,
                }
            });
            if ok {
                return Some(url);
            }
        }
        if std::env::var("PURSER_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("PURSER_TEST_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at {:?}", admin_urls());
        }
        eprintln!(
            "PostgreSQL not reachable at {:?}: skipping the PostgreSQL half of the purser integration tests",
            admin_urls()
        );
        None
    })
    .clone()
}

/// A fresh database, dropped at the end of the test.
pub struct PgDb {
    admin: String,
    name: String,
    pub url: String,
}

impl PgDb {
    pub fn create() -> Option<PgDb> {
        let admin = admin_url()?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "purser_it_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        exec(&admin, &format!("CREATE DATABASE {name}"));
        Some(PgDb { admin, name, url })
    }

    pub fn exec(&self, sql: &str) {
        exec(&self.url, sql);
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        exec(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

pub fn exec(url: &str, sql: &str) {
    let url = url.to_string();
    let sql = sql.to_string();
    rt().block_on(async move {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// Where a test's server keeps its data.
pub enum Storage {
    Sqlite,
    Postgres(PgDb),
}

impl Storage {
    pub fn url(&self) -> Option<&str> {
        match self {
            Storage::Sqlite => None,
            Storage::Postgres(db) => Some(&db.url),
        }
    }
}

/// Run a test body against SQLite, and PostgreSQL when it is reachable.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let f: fn($crate::support::Storage) = $body;
                f($crate::support::Storage::Sqlite);
            }
            #[test]
            fn postgres() {
                let f: fn($crate::support::Storage) = $body;
                match $crate::support::PgDb::create() {
                    Some(db) => f($crate::support::Storage::Postgres(db)),
                    None => eprintln!("skipped: PostgreSQL not reachable"),
                }
            }
        }
    };
}

// ---- the server ----------------------------------------------------------------------

pub struct Purser {
    child: Option<Child>,
    pub base: String,
    pub token: String,
}

/// Start `purser serve` on a free port and wait until it answers.
pub fn start(data: &Path, storage: &Storage) -> Purser {
    start_with(data, storage, &[])
}

/// [`start`] with extra `purser serve` arguments.
pub fn start_with(data: &Path, storage: &Storage, extra: &[&str]) -> Purser {
    start_with_env(data, storage, extra, &[])
}

/// [`start_with`] with extra environment variables for the server process.
pub fn start_with_env(
    data: &Path,
    storage: &Storage,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Purser {
    let mut cmd = Command::new(bin());
    cmd.envs(env.iter().copied());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env_remove("PURSER_DATABASE_URL")
        .env_remove("PURSER_OPERATOR_TOKEN")
        .env("PURSER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = storage.url() {
        cmd.args(["--database-url", url]);
    }
    cmd.args(extra);
    let mut child = cmd.spawn().expect("spawn purser serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.trim().strip_prefix("API:") {
                    let addr = rest
                        .trim()
                        .trim_start_matches("http://")
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            panic!("purser serve did not start within 60 s");
        }
    };
    let token = std::fs::read_to_string(data.join("operator-token")).expect("operator token file");
    let p = Purser {
        child: Some(child),
        base: format!("http://{addr}"),
        token: token.trim().to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.get("/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "server never became healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// Status, JSON body (Null when not JSON) and the `Idempotent-Replayed` header.
pub fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<(u16, Value, bool), String> {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.status();
    let replayed = resp.header("idempotent-replayed") == Some("true");
    let text = resp.into_string().map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        replayed,
    ))
}

impl Purser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        match answer(
            agent()
                .get(&self.url(path))
                .set("Authorization", &self.auth())
                .call(),
        ) {
            Ok((s, v, _)) => (s, v),
            Err(_) => (0, Value::Null),
        }
    }

    pub fn get_text(&self, path: &str) -> String {
        agent()
            .get(&self.url(path))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }

    /// POST JSON with the operator token; panics on a transport error.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value, bool) {
        self.try_post(path, body).unwrap()
    }

    pub fn try_post(&self, path: &str, body: &Value) -> Result<(u16, Value, bool), String> {
        answer(
            agent()
                .post(&self.url(path))
                .set("Authorization", &self.auth())
                .send_json(body.clone()),
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a graceful exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("purser did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Purser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `purser` with arguments; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env_remove("PURSER_DATABASE_URL")
        .output()
        .expect("run purser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `purser ledger verify` against a test's storage.
pub fn verify(data: &Path, storage: &Storage) -> (i32, String, String) {
    let data = data.to_string_lossy().into_owned();
    let mut args = vec!["ledger", "verify", "--data", &data];
    if let Some(url) = storage.url() {
        args.extend(["--database-url", url]);
    }
    run(&args)
}

/// Open `bank` (unlimited), `wallet` (cannot overdraw) funded with `funds`, and `shop`.
pub fn open_wallet(p: &Purser, funds: i64) {
    for (id, flags) in [
        ("bank", serde_json::json!({})),
        (
            "wallet",
            serde_json::json!({"debits_must_not_exceed_credits": true}),
        ),
        ("shop", serde_json::json!({})),
    ] {
        let (s, v, _) = p.post(
            "/v1/ledger/accounts",
            &serde_json::json!({"id": id, "currency": "CNY", "flags": flags}),
        );
        assert!(s == 201 || s == 200, "{s} {v}");
    }
    let (s, v, _) = p.post(
        "/v1/ledger/transfers",
        &serde_json::json!({"id": "fund", "debit_account_id": "bank", "credit_account_id": "wallet", "amount": funds, "currency": "CNY"}),
    );
    assert!(s == 201 || s == 200, "{s} {v}");
}
