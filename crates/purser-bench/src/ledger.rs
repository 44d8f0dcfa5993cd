//! `purser bench ledger`: durable transfer, hold, post and void operations per second at
//! several concurrency levels, through the same `Ledger::submit` path the server uses (group
//! commit, fsync before each answer), beside the disk's own commit floor.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use purser_core::ledger::{AccountFlags, AccountId, NewAccount, NewTransfer, Op, TransferId};
use purser_core::Currency;
use purser_store::{Ledger, StoreConfig, SystemClock};
use serde::Serialize;

use crate::{percentile, run_id};

/// Wallets (and as many merchants) the load spreads over.
const WALLETS: usize = 64;

/// Each wallet's opening balance: far more than any run can spend.
const FUNDING: i64 = 1_000_000_000_000;

/// Single-row commits used to measure the disk's floor.
const FLOOR_COMMITS: usize = 300;

#[derive(Clone, Debug)]
pub struct Options {
    /// `None`: SQLite in `data_dir` (or a temporary directory).
    pub database_url: Option<String>,
    /// Keep the ledger here (SQLite) so `purser ledger verify --data DIR` can check it.
    pub data_dir: Option<PathBuf>,
    pub concurrency: Vec<usize>,
    /// Time limit per (concurrency, operation) phase.
    pub phase_seconds: f64,
    /// Operation limit per phase.
    pub max_ops: usize,
    /// Random transfer ids (like UUIDv4) instead of time-ordered ones (like UUIDv7/ULID).
    pub random_ids: bool,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub op: &'static str,
    pub concurrency: usize,
    pub ops: usize,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub p999_us: u32,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub storage: String,
    /// Single-transaction SQLite commits per second on this disk (SQLite runs only).
    pub commit_floor_per_sec: Option<f64>,
    /// `time-ordered` or `random`.
    pub ids: &'static str,
    pub rows: Vec<Row>,
    /// Commits the writer made, and the average operations each carried.
    pub commits: u64,
    pub ops_per_commit: f64,
    /// Result of verifying the ledger after the run.
    pub verified: String,
    /// Where the ledger was kept, if it was kept.
    pub kept_at: Option<String>,
}

enum Phase {
    Transfer,
    Hold,
    Post,
    Void,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Transfer => "transfer",
            Phase::Hold => "hold",
            Phase::Post => "post",
            Phase::Void => "void",
        }
    }
}

fn id<T>(
    parse: fn(&str) -> Result<T, purser_core::ledger::InvalidId>,
    s: String,
) -> Result<T, String> {
    parse(&s).map_err(|e| e.to_string())
}

pub async fn run(opts: Options) -> Result<Report, String> {
    let (store, temp_dir) = match (&opts.database_url, &opts.data_dir) {
        (Some(url), _) => (StoreConfig::Postgres { url: url.clone() }, None),
        (None, Some(dir)) => (StoreConfig::sqlite_in(dir), None),
        (None, None) => {
            let dir = std::env::temp_dir().join(format!("purser-bench-{}", run_id()));
            (StoreConfig::sqlite_in(&dir), Some(dir))
        }
    };
    let result = run_in(&opts, &store).await;
    if let Some(dir) = temp_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

async fn run_in(opts: &Options, store: &StoreConfig) -> Result<Report, String> {
    let ledger = Arc::new(
        Ledger::open(store.clone(), Arc::new(SystemClock))
            .await
            .map_err(|e| format!("cannot open {}: {e}", store.describe()))?,
    );
    let floor = match store {
        StoreConfig::Sqlite { path } => {
            let dir = path
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            Some(
                purser_store::sqlite_commit_floor(&dir, FLOOR_COMMITS)
                    .map_err(|e| e.to_string())?,
            )
        }
        StoreConfig::Postgres { .. } => None,
    };

    let run = run_id();
    let bank = id(AccountId::parse, format!("bench-{run}:bank"))?;
    let wallets: Vec<AccountId> = (0..WALLETS)
        .map(|i| id(AccountId::parse, format!("bench-{run}:w{i}")))
        .collect::<Result<_, _>>()?;
    let shops: Vec<AccountId> = (0..WALLETS)
        .map(|i| id(AccountId::parse, format!("bench-{run}:m{i}")))
        .collect::<Result<_, _>>()?;
    let mut setup = vec![Op::CreateAccount(NewAccount {
        id: bank.clone(),
        currency: Currency::CNY,
        flags: AccountFlags::default(),
    })
    .into()];
    for (w, m) in wallets.iter().zip(&shops) {
        setup.push(
            Op::CreateAccount(NewAccount {
                id: w.clone(),
                currency: Currency::CNY,
                flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            })
            .into(),
        );
        setup.push(
            Op::CreateAccount(NewAccount {
                id: m.clone(),
                currency: Currency::CNY,
                flags: AccountFlags::default(),
            })
            .into(),
        );
        setup.push(
            Op::Transfer(NewTransfer {
                id: id(TransferId::parse, format!("bench-{run}:fund:{w}"))?,
                debit_account_id: bank.clone(),
                credit_account_id: w.clone(),
                amount: FUNDING,
                currency: Currency::CNY,
            })
            .into(),
        );
    }
    for r in ledger.submit(setup).await.map_err(|e| e.to_string())? {
        r.map_err(|e| format!("bench setup failed: {e}"))?;
    }
    let before = ledger.metrics().snapshot();

    let mut rows = Vec::new();
    for &c in &opts.concurrency {
        let holds: Arc<Vec<std::sync::Mutex<Vec<TransferId>>>> =
            Arc::new((0..c).map(|_| std::sync::Mutex::new(Vec::new())).collect());
        for phase in [Phase::Transfer, Phase::Hold, Phase::Post, Phase::Void] {
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(opts.phase_seconds);
            let per_task = opts.max_ops.div_ceil(c).max(1);
            let mut tasks = Vec::with_capacity(c);
            for t in 0..c {
                let ledger = ledger.clone();
                let holds = holds.clone();
                let wallet = wallets[t % WALLETS].clone();
                let shop = shops[t % WALLETS].clone();
                let prefix = format!("b{run}-{c}-{}", phase.name());
                let random_ids = opts.random_ids;
                let phase_kind = match phase {
                    Phase::Transfer => 0,
                    Phase::Hold => 1,
                    Phase::Post => 2,
                    Phase::Void => 3,
                };
                tasks.push(tokio::spawn(async move {
                    let mut lat: Vec<u32> = Vec::with_capacity(per_task.min(1 << 20));
                    // Posts take the even-numbered holds this task placed, voids the odd ones.
                    let mine: Vec<TransferId> = match phase_kind {
                        2 | 3 => holds[t]
                            .lock()
                            .map(|v| v.iter().skip(phase_kind - 2).step_by(2).cloned().collect())
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    let mut placed = Vec::new();
                    for n in 0..per_task {
                        if Instant::now() >= deadline {
                            break;
                        }
                        let name = if random_ids {
                            format!(
                                "{prefix}-{:016x}-{t:04}-{n}",
                                scramble((t as u64) << 32 | n as u64)
                            )
                        } else {
                            format!("{prefix}-{n:09}-{t:04}")
                        };
                        let tid = match TransferId::parse(&name) {
                            Ok(t) => t,
                            Err(e) => return Err(e.to_string()),
                        };
                        let xfer = NewTransfer {
                            id: tid.clone(),
                            debit_account_id: wallet.clone(),
                            credit_account_id: shop.clone(),
                            amount: 100,
                            currency: Currency::CNY,
                        };
                        let op = match phase_kind {
                            0 => Op::Transfer(xfer),
                            1 => Op::Hold {
                                transfer: xfer,
                                timeout_ms: None,
                            },
                            k => match mine.get(n) {
                                None => break,
                                Some(p) if k == 2 => Op::Post {
                                    id: tid.clone(),
                                    pending_id: p.clone(),
                                    amount: Some(60),
                                },
                                Some(p) => Op::Void {
                                    id: tid.clone(),
                                    pending_id: p.clone(),
                                },
                            },
                        };
                        let t0 = Instant::now();
                        let r = ledger.submit_one(op).await.map_err(|e| e.to_string())?;
                        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                        if let Err(e) = r {
                            return Err(format!("operation refused during the bench: {e}"));
                        }
                        if phase_kind == 1 {
                            placed.push(tid);
                        }
                    }
                    if phase_kind == 1 {
                        if let Ok(mut v) = holds[t].lock() {
                            *v = placed;
                        }
                    }
                    Ok::<_, String>(lat)
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.map_err(|e| e.to_string())??);
            }
            let secs = started.elapsed().as_secs_f64();
            all.sort_unstable();
            rows.push(Row {
                op: phase.name(),
                concurrency: c,
                ops: all.len(),
                seconds: secs,
                ops_per_sec: all.len() as f64 / secs,
                p50_us: percentile(&all, 50.0),
                p99_us: percentile(&all, 99.0),
                p999_us: percentile(&all, 99.9),
            });
        }
    }
    let after = ledger.metrics().snapshot();
    ledger.shutdown().await;
    let commits = after.commits.saturating_sub(before.commits);
    let ops = after.committed_ops.saturating_sub(before.committed_ops);
    let verified = match purser_store::verify(store).await {
        Ok(Ok(s)) => format!("ok ({} journal entries)", s.entries),
        Ok(Err(b)) => format!("FAILED: {}", b.problem),
        Err(e) => format!("could not verify: {e}"),
    };
    Ok(Report {
        storage: store.describe(),
        commit_floor_per_sec: floor,
        ids: if opts.random_ids {
            "random"
        } else {
            "time-ordered"
        },
        rows,
        commits,
        ops_per_commit: if commits == 0 {
            0.0
        } else {
            ops as f64 / commits as f64
        },
        verified,
        kept_at: match (&opts.database_url, &opts.data_dir) {
            (None, Some(d)) => Some(d.display().to_string()),
            (Some(_), _) => Some(store.describe()),
            _ => None,
        },
    })
}

/// A bijective mix (splitmix64's finalizer), so ids spread like random UUIDs yet never collide.
fn scramble(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The report as a table for people.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "purser bench ledger — {} (durable: every answer follows a committed fsync)",
        r.storage
    );
    let _ = writeln!(
        out,
        "transfer ids: {} (--random-ids for random ones)",
        r.ids
    );
    if let Some(f) = r.commit_floor_per_sec {
        let _ = writeln!(
            out,
            "disk floor: {f:.0} single-row SQLite commits/s (WAL, synchronous=FULL)"
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<9} {:>5} {:>9} {:>12} {:>9} {:>9} {:>10} {:>10}",
        "op", "conc", "ops", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "vs floor"
    );
    for row in &r.rows {
        let ratio = r.commit_floor_per_sec.map_or_else(
            || "-".to_string(),
            |f| format!("{:.1}x", row.ops_per_sec / f),
        );
        let _ = writeln!(
            out,
            "{:<9} {:>5} {:>9} {:>12.0} {:>9.2} {:>9.2} {:>10.2} {:>10}",
            row.op,
            row.concurrency,
            row.ops,
            row.ops_per_sec,
            f64::from(row.p50_us) / 1000.0,
            f64::from(row.p99_us) / 1000.0,
            f64::from(row.p999_us) / 1000.0,
            ratio
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "group commit: {} commits carried {:.1} operations each on average",
        r.commits, r.ops_per_commit
    );
    let _ = writeln!(out, "ledger verify after the run: {}", r.verified);
    if let Some(k) = &r.kept_at {
        let _ = writeln!(
            out,
            "ledger kept at {k}; check it again with `purser ledger verify`"
        );
    }
    out
}
