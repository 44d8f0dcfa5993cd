//! `purser bench authorize`: signed agent payment authorizations per second over HTTP,
//! end to end, beside the crypto floor measured in the same run.
//!
//! A real server (`purser_server::serve`, the same function `purser serve` runs) starts
//! in-process on a free loopback port over a temporary data directory (SQLite with durable
//! commits, as in production) or a scratch PostgreSQL database. Its world is made first
//! through the wallet services (`setup.rs`): one merchant, and per agent a person with a
//! sandbox-funded wallet who bound the agent and consented to a mandate that lets it pay
//! every bench amount without asking. The load generator (`load.rs`) runs on its own thread
//! in the same process: each request is signed when it is sent, with a fresh nonce and its
//! own Idempotency-Key, over persistent HTTP/1.1 connections (`http1.rs`). Every answer must
//! be `201 approved`; anything else is counted by status and code.
//!
//! The floor of one authorization is one Ed25519 verification (the agent's signature) plus
//! one ES256 signature (Purser's decision receipt); `floor = cores / (t_verify + t_sign)`.
//! Per phase the report also says where the CPU went, per thread (`cpu.rs`), and what the
//! server's own counters saw (handler time, ledger commits and their batch size).
//!
//! At the end the books are checked: the ledger verifies (hash chain, every balance replayed),
//! the money held equals the sum of the approvals the agents were told about, one pending
//! hold per approval, and the `payments` records say the same.

mod cpu;
mod http1;
mod load;
mod setup;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use purser_store::db::Db;
use purser_store::StoreConfig;
use serde::Serialize;

pub use load::fresh_nonce;
use load::{Mode, Tally, Target};

/// Goal (issue 5): approved authorizations per second, closed loop, SQLite, durable commits.
pub const GOAL_APPROVED_PER_SECOND: f64 = 10_000.0;
/// Goal (issue 5): p99 latency at [`GOAL_OFFERED_PER_SECOND`] offered, open loop.
pub const GOAL_P99_MS: f64 = 20.0;
pub const GOAL_OFFERED_PER_SECOND: f64 = 5_000.0;

/// Most agents a run sets up (one developer may register 1,000).
pub const MAX_AGENTS: usize = 1_000;
/// Most connections a run opens.
pub const MAX_CONNECTIONS: usize = 4_096;
/// The rate the people's wallets and budgets are provisioned for: far above what one machine
/// approves, so no run can run out of money or budget.
const PROVISION_PER_SECOND: f64 = 50_000.0;
/// Time spent measuring the crypto floor.
const FLOOR_BUDGET: Duration = Duration::from_millis(600);
/// How long the server may take to answer its first health check.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which loops a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loops {
    Closed,
    Open,
    Both,
    /// A soak: this many open-loop windows of `seconds` each at `rate`, back to back, with the
    /// process's memory, file descriptors and threads sampled after each (`soak.rs`).
    Soak(usize),
}

#[derive(Clone, Debug)]
pub struct Options {
    /// `None`: SQLite in a temporary directory.
    pub database_url: Option<String>,
    pub agents: usize,
    pub connections: usize,
    /// Seconds per measured phase.
    pub seconds: f64,
    /// Seconds of closed-loop load before measuring (counted in the books, not the figures).
    pub warmup_seconds: f64,
    /// Offered rate of the open loop.
    pub rate: f64,
    pub loops: Loops,
}

/// One Ed25519 verification plus one ES256 signature, per core, times the cores.
#[derive(Debug, Serialize)]
pub struct Floor {
    pub ed25519_verify_us: f64,
    pub es256_sign_us: f64,
    pub cores: usize,
    pub per_second: f64,
}

/// What the server's own counters saw during a phase.
#[derive(Debug, Default, Serialize)]
pub struct ServerCounters {
    /// Mean time in the payment handler (server side, from `/metrics`).
    pub handler_mean_us: f64,
    pub ledger_commits: f64,
    /// Ledger operations per commit (group commit's batch size).
    pub ledger_ops_per_commit: f64,
    /// Mean time of one ledger batch (load, execute, commit).
    pub ledger_commit_mean_us: f64,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    /// `closed` or `open`.
    pub mode: &'static str,
    pub connections: usize,
    /// Open loop: the offered rate.
    pub offered_per_second: Option<f64>,
    /// Wall time of the phase.
    pub seconds: f64,
    pub sent: u64,
    pub approved: u64,
    pub approved_per_second: f64,
    /// Every answer that was not `201 approved`, by status and code.
    pub other: BTreeMap<String, u64>,
    /// Open loop: requests due but never sent (the server fell too far behind).
    pub unsent: u64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub p999_us: u32,
    pub max_us: u32,
    /// `approved_per_second / floor`.
    pub of_floor: f64,
    /// The generator's cost of building and signing one request.
    pub client_sign_us: f64,
    pub server: ServerCounters,
    /// CPU per thread group during the phase, busiest first.
    pub cpu: Vec<cpu::Share>,
    /// Cores other processes on the machine kept busy meanwhile (they compete with the bench).
    pub other_processes_cores: Option<f64>,
    pub goal: String,
    pub goal_met: bool,
    /// A soak window: the process after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<crate::soak::Sample>,
}

#[derive(Debug, Serialize)]
pub struct Books {
    /// `ok: …` or what is broken.
    pub verified: String,
    /// What the agents were told, over the whole run (warm-up included).
    pub approved_seen: u64,
    pub approved_minor_seen: i64,
    /// The ledger after the run: pending holds and the money they hold (CNY minor units).
    pub holds_pending: u64,
    pub held_minor: i64,
    /// The `payments` records after the run: count and Σ amount per status.
    pub payments: BTreeMap<String, (i64, i64)>,
    /// Everything agrees.
    pub balanced: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub storage: String,
    pub agents: usize,
    pub connections: usize,
    pub topups_per_user: usize,
    pub floor: Floor,
    pub phases: Vec<Phase>,
    pub books: Books,
    pub goal_approved_per_second: f64,
    pub goal_p99_ms: f64,
    pub goal_offered_per_second: f64,
}

impl Report {
    /// Every answer was `201 approved` and the books balance. (Requests an overloaded server
    /// never got are a figure, not a failure: they show in the open loop's latencies.)
    pub fn clean(&self) -> bool {
        self.books.balanced && self.phases.iter().all(|p| p.other.is_empty())
    }
}

pub async fn run(opts: Options) -> Result<Report, String> {
    let tmp = std::env::temp_dir().join(format!("purser-bench-authorize-{}", crate::run_id()));
    purser_store::create_private_dir(&tmp)
        .map_err(|e| format!("cannot create a temporary directory {}: {e}", tmp.display()))?;
    let scratch = match &opts.database_url {
        Some(url) => Some(crate::scratch_db::ScratchDb::create(url).await?),
        None => None,
    };
    let store = match &scratch {
        Some(db) => StoreConfig::Postgres {
            url: db.url.clone(),
        },
        None => StoreConfig::sqlite_in(&tmp),
    };
    let result = run_in(&opts, &store, tmp.clone()).await;
    if let Some(db) = scratch {
        db.drop_it().await;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A free loopback port: bound, read, released (the server binds it a moment later).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

async fn run_in(opts: &Options, store: &StoreConfig, data_dir: PathBuf) -> Result<Report, String> {
    let port = free_port()?;
    let authority = format!("127.0.0.1:{port}");
    let public_url = format!("http://{authority}");

    // Money and budget for far more than the run can approve.
    let measured = match opts.loops {
        Loops::Closed | Loops::Open => opts.seconds,
        Loops::Both => 2.0 * opts.seconds,
        Loops::Soak(windows) => windows as f64 * opts.seconds,
    };
    let seconds = opts.warmup_seconds + measured;
    let provision = match opts.loops {
        // A soak is open loop only (never more than the rate) after a closed-loop warm-up:
        // provisioning a long soak at the closed-loop rate would take hours of top-ups.
        Loops::Soak(_) => {
            (opts.rate * measured + PROVISION_PER_SECOND * opts.warmup_seconds)
                * 1.1
                * load::MAX_AMOUNT as f64
        }
        _ => PROVISION_PER_SECOND.max(opts.rate) * seconds * load::MAX_AMOUNT as f64,
    };
    let per_user = (provision / opts.agents.max(1) as f64).ceil();
    if !(per_user.is_finite() && per_user < 1e15) {
        return Err("the run is too long to provision for; use fewer --seconds".into());
    }
    let world = setup::build(
        store,
        &data_dir,
        &public_url,
        opts.agents,
        per_user as i64,
        load::MAX_AMOUNT,
    )
    .await?;
    let topups_per_user = world.topups_per_user;

    // Measured before the server starts, on a quiet process.
    let floor = measure_floor()?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(purser_server::serve_quietly(
        purser_server::ServeOptions {
            listen: authority.clone(),
            data_dir: data_dir.clone(),
            store: store.clone(),
            public_url: None,
            // The bench measures authorizations, not the velocity rule.
            agent_payments_per_minute: Some(1_000_000_000),
            // Nor the request rate limits: every agent sends as fast as it can.
            rate_limits: purser_server::RateLimits::off(),
            read_timeout: purser_server::DEFAULT_READ_TIMEOUT,
            trusted_proxies: purser_server::TrustedProxies::default(),
            write_timeout: purser_server::DEFAULT_WRITE_TIMEOUT,
            max_connections: purser_server::DEFAULT_MAX_CONNECTIONS,
            sweep_interval: purser_wallet::SWEEP_INTERVAL,
            catch_up_window: purser_wallet::schedules::DEFAULT_CATCH_UP_WINDOW,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr: std::net::SocketAddr = authority
        .parse()
        .map_err(|_| format!("{authority} is not an address"))?;
    let target = Arc::new(Target {
        addr,
        authority,
        agents: world.agents,
        merchant_id: world.merchant_id,
        run: crate::run_id(),
        seq: AtomicU64::new(0),
    });
    let loaded = match wait_healthy(addr, &server).await {
        Ok(()) => drive(target, opts, floor.per_second).await,
        Err(e) => Err(e),
    };
    let _ = stop_tx.send(());
    let served = server
        .await
        .map_err(|e| format!("the bench server task failed: {e}"))?;
    let (phases, total) = loaded?;
    served.map_err(|e| format!("the bench server failed: {e}"))?;

    let books = check_books(store, &total).await;
    Ok(Report {
        storage: store.describe(),
        agents: opts.agents,
        connections: opts.connections,
        topups_per_user,
        floor,
        phases,
        books,
        goal_approved_per_second: GOAL_APPROVED_PER_SECOND,
        goal_p99_ms: GOAL_P99_MS,
        goal_offered_per_second: GOAL_OFFERED_PER_SECOND,
    })
}

async fn wait_healthy(
    addr: std::net::SocketAddr,
    server: &tokio::task::JoinHandle<Result<(), String>>,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let wire = http1::request("GET", "/healthz", &addr.to_string(), &[], b"");
    loop {
        if server.is_finished() {
            return Err("the bench server stopped before it answered (see the error below)".into());
        }
        if let Ok(mut c) = http1::Conn::connect(addr).await {
            if c.exchange(&wire).await.is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the bench server did not answer on {addr} within {START_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run the phases on the load generator's own thread (its own single-threaded runtime, so
/// it never queues behind the server's tasks). Returns the phases and the whole run's tally.
async fn drive(
    target: Arc<Target>,
    opts: &Options,
    floor: f64,
) -> Result<(Vec<Phase>, Tally), String> {
    let opts = opts.clone();
    let handle = std::thread::Builder::new()
        .name("bench-load".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the load generator: {e}"))?;
            rt.block_on(phases(target, &opts, floor))
        })
        .map_err(|e| format!("cannot start the load generator thread: {e}"))?;
    tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(|e| format!("the load generator failed: {e}"))?
        .map_err(|_| "the load generator thread panicked".to_string())?
}

async fn phases(
    target: Arc<Target>,
    opts: &Options,
    floor: f64,
) -> Result<(Vec<Phase>, Tally), String> {
    let mut total = Tally::default();
    if opts.warmup_seconds > 0.0 {
        let (t, _) = load::phase(
            target.clone(),
            Mode::Closed,
            opts.connections,
            opts.warmup_seconds,
        )
        .await?;
        total.merge(t);
    }
    let modes: Vec<Mode> = match opts.loops {
        Loops::Closed => vec![Mode::Closed],
        Loops::Open => vec![Mode::Open(opts.rate)],
        Loops::Both => vec![Mode::Closed, Mode::Open(opts.rate)],
        Loops::Soak(windows) => vec![Mode::Open(opts.rate); windows],
    };
    let soak = matches!(opts.loops, Loops::Soak(_));
    let mut out = Vec::new();
    for mode in modes {
        let metrics_before = scrape(target.addr).await;
        let cpu_before = cpu::snapshot();
        // A soak samples the process near the end of each window, under load (connections
        // open), not after it.
        let (loaded, under_load) = tokio::join!(
            load::phase(target.clone(), mode, opts.connections, opts.seconds),
            async {
                if soak {
                    tokio::time::sleep(Duration::from_secs_f64(opts.seconds * 0.95)).await;
                    Some(crate::soak::sample())
                } else {
                    None
                }
            }
        );
        let (tally, secs) = loaded?;
        let cpu_after = cpu::snapshot();
        let others = cpu::others(&cpu_before, &cpu_after, secs);
        let server = counters(&metrics_before, &scrape(target.addr).await);
        let mut phase = summarize(mode, opts, &tally, secs, floor, server);
        phase.cpu = cpu::between(&cpu_before, &cpu_after, secs);
        phase.other_processes_cores = others;
        phase.process = under_load;
        out.push(phase);
        let mut tally = tally;
        if soak {
            // Only the books need the whole run; keeping every latency of a long soak would
            // itself grow the memory the soak watches.
            tally.latencies = Vec::new();
        }
        total.merge(tally);
    }
    Ok((out, total))
}

fn summarize(
    mode: Mode,
    opts: &Options,
    t: &Tally,
    secs: f64,
    floor: f64,
    server: ServerCounters,
) -> Phase {
    let scheduled = opts.seconds;
    let mut lat = t.latencies.clone();
    lat.sort_unstable();
    let approved_per_second = t.approved as f64 / secs.max(1e-9);
    let p99_us = crate::percentile(&lat, 99.0);
    let (mode_name, offered, goal, goal_met) = match mode {
        Mode::Closed => {
            let met = approved_per_second >= GOAL_APPROVED_PER_SECOND;
            let goal = if met {
                format!(
                    "goal ≥ {} approved/s: met",
                    thousands(GOAL_APPROVED_PER_SECOND)
                )
            } else {
                let short = GOAL_APPROVED_PER_SECOND - approved_per_second;
                format!(
                    "goal ≥ {} approved/s: missed by {}/s ({:.0}% of the goal)",
                    thousands(GOAL_APPROVED_PER_SECOND),
                    thousands(short),
                    100.0 * approved_per_second / GOAL_APPROVED_PER_SECOND
                )
            };
            ("closed", None, goal, met)
        }
        Mode::Open(rate) => {
            let p99_ms = f64::from(p99_us) / 1000.0;
            let at_goal_rate = (rate - GOAL_OFFERED_PER_SECOND).abs() < 0.5;
            // Kept up: everything due was approved, and the backlog after the last due
            // request drained within a second.
            let due = (rate * scheduled).ceil();
            let kept_up =
                t.unsent == 0 && t.approved as f64 >= 0.98 * due && secs <= scheduled + 1.0;
            let met = at_goal_rate && kept_up && p99_ms <= GOAL_P99_MS;
            let mut goal = if !at_goal_rate {
                format!(
                    "the p99 goal (≤ {GOAL_P99_MS} ms) is stated at {}/s offered; run with --rate {}",
                    thousands(GOAL_OFFERED_PER_SECOND),
                    GOAL_OFFERED_PER_SECOND
                )
            } else if p99_ms <= GOAL_P99_MS {
                format!(
                    "goal p99 ≤ {GOAL_P99_MS} ms at {}/s: met",
                    thousands(GOAL_OFFERED_PER_SECOND)
                )
            } else {
                format!(
                    "goal p99 ≤ {GOAL_P99_MS} ms at {}/s: missed by {:.1} ms ({:.1}× the goal)",
                    thousands(GOAL_OFFERED_PER_SECOND),
                    p99_ms - GOAL_P99_MS,
                    p99_ms / GOAL_P99_MS
                )
            };
            if !kept_up {
                goal.push_str(&format!(
                    "; the server did not keep up with the offered {}/s",
                    thousands(rate)
                ));
            }
            ("open", Some(rate), goal, met)
        }
    };
    Phase {
        mode: mode_name,
        connections: opts.connections,
        offered_per_second: offered,
        seconds: secs,
        sent: t.sent,
        approved: t.approved,
        approved_per_second,
        other: t.other.clone(),
        unsent: t.unsent,
        p50_us: crate::percentile(&lat, 50.0),
        p99_us,
        p999_us: crate::percentile(&lat, 99.9),
        max_us: lat.last().copied().unwrap_or(0),
        of_floor: approved_per_second / floor.max(1e-9),
        client_sign_us: if t.sent > 0 {
            t.signing.as_secs_f64() * 1e6 / t.sent as f64
        } else {
            0.0
        },
        server,
        cpu: Vec::new(),
        other_processes_cores: None,
        goal,
        goal_met,
        process: None,
    }
}

/// `12345.6` → `12,346`.
pub(crate) fn thousands(v: f64) -> String {
    let digits = (v.round().max(0.0) as u64).to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

// ---- the crypto floor ------------------------------------------------------------------

/// The server's two unavoidable signature operations per authorization, timed in turns on
/// this thread: verify an agent's Ed25519 signature over a signature base of typical size,
/// and sign a receipt-sized JWS input with ES256.
fn measure_floor() -> Result<Floor, String> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED_SIGNING,
        ED25519,
    };
    let ed = Ed25519KeyPair::generate().map_err(|_| "cannot make an Ed25519 key")?;
    let base = vec![b'b'; 320];
    let sig = ed.sign(&base);
    let public = UnparsedPublicKey::new(&ED25519, ed.public_key().as_ref().to_vec());
    let es = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| "cannot make an ES256 key")?;
    let receipt = vec![b'r'; 1_200];
    let rng = SystemRandom::new();
    if public.verify(&base, sig.as_ref()).is_err() || es.sign(&rng, &receipt).is_err() {
        return Err("the floor's signatures do not work".into());
    }
    let rounds = 20u32;
    let turn = FLOOR_BUDGET / (2 * rounds);
    let (mut v, mut s) = ((0u64, 0f64), (0u64, 0f64));
    for _ in 0..rounds {
        let (n, secs) = time_turn(turn, || {
            public
                .verify(black_box(&base), black_box(sig.as_ref()))
                .is_ok()
        });
        v = (v.0 + n, v.1 + secs);
        let (n, secs) = time_turn(turn, || es.sign(&rng, black_box(&receipt)).is_ok());
        s = (s.0 + n, s.1 + secs);
    }
    let verify_us = v.1 * 1e6 / v.0.max(1) as f64;
    let sign_us = s.1 * 1e6 / s.0.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Floor {
        ed25519_verify_us: verify_us,
        es256_sign_us: sign_us,
        cores,
        per_second: cores as f64 * 1e6 / (verify_us + sign_us),
    })
}

fn time_turn(budget: Duration, mut op: impl FnMut() -> bool) -> (u64, f64) {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..8 {
            black_box(op());
        }
        n += 8;
    }
    (n, start.elapsed().as_secs_f64())
}

// ---- the server's counters -------------------------------------------------------------

/// `/metrics` as `series → value`; empty if it cannot be read (the counters are extra).
async fn scrape(addr: std::net::SocketAddr) -> BTreeMap<String, f64> {
    let wire = http1::request("GET", "/metrics", &addr.to_string(), &[], b"");
    let Ok(mut c) = http1::Conn::connect(addr).await else {
        return BTreeMap::new();
    };
    let Ok(r) = c.exchange(&wire).await else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str, containing: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix) && k.contains(containing))
        .map(|(_, v)| v)
        .sum()
}

fn counters(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> ServerCounters {
    let d = |prefix: &str, containing: &str| {
        sum(after, prefix, containing) - sum(before, prefix, containing)
    };
    let route = "route=\"/v1/agent/payments\"";
    let requests = d("purser_http_requests_total{method=\"POST\"", route);
    let handler = d("purser_http_request_seconds_total{method=\"POST\"", route);
    let commits = d("purser_ledger_commits_total", "");
    let ops = d("purser_ledger_committed_operations_total", "");
    let commit_secs = d("purser_ledger_commit_seconds_total", "");
    let per = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    ServerCounters {
        handler_mean_us: per(handler * 1e6, requests),
        ledger_commits: commits,
        ledger_ops_per_commit: per(ops, commits),
        ledger_commit_mean_us: per(commit_secs * 1e6, commits),
    }
}

// ---- the books -------------------------------------------------------------------------

async fn check_books(store: &StoreConfig, seen: &Tally) -> Books {
    let mut books = Books {
        verified: String::new(),
        approved_seen: seen.approved,
        approved_minor_seen: seen.approved_minor,
        holds_pending: 0,
        held_minor: 0,
        payments: BTreeMap::new(),
        balanced: false,
    };
    match purser_store::verify(store).await {
        Err(e) => books.verified = format!("cannot read the ledger: {e}"),
        Ok(Err(broken)) => {
            books.verified = match broken.seq {
                Some(seq) => format!("BROKEN at journal entry {seq}: {}", broken.problem),
                None => format!("BROKEN: {}", broken.problem),
            }
        }
        Ok(Ok(summary)) => {
            books.verified = format!(
                "ok: {} journal entries, hash chain intact, every balance replayed",
                summary.entries
            );
            books.holds_pending = summary.holds_pending as u64;
            if let Some(t) = summary.totals.get("CNY") {
                books.held_minor = i64::try_from(t.debits_pending).unwrap_or(i64::MAX);
            }
        }
    }
    match payments_by_status(store).await {
        Ok(p) => books.payments = p,
        Err(e) => books
            .verified
            .push_str(&format!("; cannot read the payments: {e}")),
    }
    let (rec_n, rec_sum) = books.payments.get("approved").copied().unwrap_or((0, 0));
    books.balanced = books.verified.starts_with("ok")
        && books.held_minor == seen.approved_minor
        && books.holds_pending == seen.approved
        && rec_n == i64::try_from(seen.approved).unwrap_or(-1)
        && rec_sum == seen.approved_minor
        && books.payments.keys().all(|s| s == "approved");
    books
}

async fn payments_by_status(store: &StoreConfig) -> Result<BTreeMap<String, (i64, i64)>, String> {
    let db = Db::open(store).await.map_err(|e| e.to_string())?;
    let rows = db
        .query(
            "SELECT status, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM payments GROUP BY status",
            Vec::new(),
        )
        .await;
    db.shutdown().await;
    let mut out = BTreeMap::new();
    for r in rows.map_err(|e| e.to_string())? {
        out.insert(
            r.text(0).map_err(|e| e.to_string())?,
            (
                r.int(1).map_err(|e| e.to_string())?,
                r.int(2).map_err(|e| e.to_string())?,
            ),
        );
    }
    Ok(out)
}

// ---- the text report -------------------------------------------------------------------

fn ms(us: u32) -> String {
    format!("{:.1} ms", f64::from(us) / 1000.0)
}

pub fn render(r: &Report) -> String {
    let f = &r.floor;
    let mut out = format!(
        "Signed agent payment authorizations over HTTP on {} ({} agents, {} connections, \
         load generator in the same process)\n\
         Crypto floor: Ed25519 verify {:.1} µs + ES256 sign {:.1} µs per authorization per core \
         × {} cores = {}/s\n",
        r.storage,
        r.agents,
        r.connections,
        f.ed25519_verify_us,
        f.es256_sign_us,
        f.cores,
        thousands(f.per_second)
    );
    for p in &r.phases {
        let head = match p.offered_per_second {
            None => {
                "\nClosed loop (each connection sends as soon as it has its answer)".to_string()
            }
            Some(rate) => format!(
                "\nOpen loop at {}/s offered (latency from each request's scheduled time)",
                thousands(rate)
            ),
        };
        out.push_str(&head);
        out.push_str(&format!(
            ", {:.1} s:\n  approved: {} = {}/s ({:.0}% of the crypto floor)\n  \
             latency: p50 {}, p99 {}, p99.9 {}, max {}\n  {}\n",
            p.seconds,
            thousands(p.approved as f64),
            thousands(p.approved_per_second),
            p.of_floor * 100.0,
            ms(p.p50_us),
            ms(p.p99_us),
            ms(p.p999_us),
            ms(p.max_us),
            p.goal
        ));
        if p.other.is_empty() {
            out.push_str("  every answer was 201 approved\n");
        }
        for (what, n) in &p.other {
            out.push_str(&format!(
                "  NOT APPROVED: {} × {what}\n",
                thousands(*n as f64)
            ));
        }
        if p.unsent > 0 {
            out.push_str(&format!(
                "  NOT SENT: {} requests were still waiting for a connection when the phase \
                 ended (counted in the latencies with the wait they had reached)\n",
                thousands(p.unsent as f64)
            ));
        }
        out.push_str(&format!(
            "  server: {:.0} µs in the payment handler on average; ledger {:.0} commits, {:.1} \
             operations each, {:.0} µs each; generator: {:.1} µs to build and sign a request\n",
            p.server.handler_mean_us,
            p.server.ledger_commits,
            p.server.ledger_ops_per_commit,
            p.server.ledger_commit_mean_us,
            p.client_sign_us
        ));
        if !p.cpu.is_empty() {
            let shares: Vec<String> = p
                .cpu
                .iter()
                .take(6)
                .map(|s| format!("{} {:.2}", s.threads, s.cores))
                .collect();
            out.push_str(&format!("  cores busy by thread: {}\n", shares.join(", ")));
        }
        if let Some(o) = p.other_processes_cores.filter(|o| *o >= 0.1) {
            if r.storage.starts_with("PostgreSQL") {
                out.push_str(&format!(
                    "  other processes, the PostgreSQL server among them, kept {o:.2} of the {} \
                     cores busy meanwhile\n",
                    r.floor.cores
                ));
            } else {
                out.push_str(&format!(
                    "  other processes kept {o:.2} of the {} cores busy meanwhile: these figures \
                     are lower than on a quiet machine\n",
                    r.floor.cores
                ));
            }
        }
    }
    let b = &r.books;
    out.push_str(&format!(
        "\nBooks: ledger {}\n  approvals the agents saw: {} for {}; ledger holds pending: {} for {}; \
         payments recorded approved: {} for {}\n  {}\n",
        b.verified,
        thousands(b.approved_seen as f64),
        money(b.approved_minor_seen),
        thousands(b.holds_pending as f64),
        money(b.held_minor),
        thousands(b.payments.get("approved").map_or(0, |p| p.0) as f64),
        money(b.payments.get("approved").map_or(0, |p| p.1)),
        if b.balanced {
            "balanced: the money held is exactly the sum of the approvals".to_string()
        } else {
            let others: Vec<String> = b
                .payments
                .iter()
                .filter(|(s, _)| s.as_str() != "approved")
                .map(|(s, (n, _))| format!("{n} {s}"))
                .collect();
            format!(
                "NOT BALANCED{}",
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" (payments also {})", others.join(", "))
                }
            )
        }
    ));
    out
}

fn money(minor: i64) -> String {
    purser_core::Money::new(minor, purser_core::Currency::CNY).with_symbol()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(12_345_678.0), "12,345,678");
    }

    #[test]
    fn counters_are_differences_of_the_server_metrics() {
        let m = |req: f64, secs: f64, commits: f64, ops: f64| {
            BTreeMap::from([
                (
                    "purser_http_requests_total{method=\"POST\",route=\"/v1/agent/payments\",status=\"201\"}".to_string(),
                    req,
                ),
                (
                    "purser_http_request_seconds_total{method=\"POST\",route=\"/v1/agent/payments\",status=\"201\"}".to_string(),
                    secs,
                ),
                ("purser_ledger_commits_total".to_string(), commits),
                ("purser_ledger_committed_operations_total".to_string(), ops),
                ("purser_ledger_commit_seconds_total".to_string(), commits * 0.001),
            ])
        };
        let c = counters(&m(10.0, 1.0, 5.0, 5.0), &m(110.0, 1.5, 15.0, 105.0));
        assert!((c.handler_mean_us - 5_000.0).abs() < 1e-6);
        assert!((c.ledger_ops_per_commit - 10.0).abs() < 1e-9);
        assert!((c.ledger_commit_mean_us - 1_000.0).abs() < 1e-6);
    }
}
