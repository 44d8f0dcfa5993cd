//! `purser bench ledger` argument parsing; the harness is `purser_bench::ledger`.

use std::path::PathBuf;

use clap::Args;

#[derive(Args)]
pub struct LedgerBenchArgs {
    /// Keep the bench ledger in this data directory (SQLite) so `purser ledger verify --data DIR`
    /// can check it afterwards. Default: a temporary directory, removed at the end.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Benchmark PostgreSQL at this URL instead of SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Concurrent callers, as a comma-separated list.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    concurrency: Vec<usize>,
    /// Seconds per operation and concurrency level.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// At most this many operations per operation and concurrency level.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: usize,
    /// Use random transfer ids (like UUIDv4) instead of time-ordered ones (like UUIDv7 or
    /// ULID). Random ids scatter index writes across the B-tree and cost throughput.
    #[arg(long)]
    random_ids: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: LedgerBenchArgs) -> Result<(), String> {
    if args.concurrency.is_empty() || args.concurrency.iter().any(|c| *c == 0 || *c > 4096) {
        return Err("--concurrency takes numbers from 1 to 4096, like 1,16,256".into());
    }
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err("--seconds must be more than 0 and at most 600".into());
    }
    let report = purser_bench::ledger::run(purser_bench::ledger::Options {
        database_url: args.database_url,
        data_dir: args.data,
        concurrency: args.concurrency,
        phase_seconds: args.seconds,
        max_ops: args.max_ops.max(1),
        random_ids: args.random_ids,
    })
    .await?;
    print_report(&report, args.json, purser_bench::ledger::render)?;
    if report.verified.starts_with("ok") {
        Ok(())
    } else {
        Err(format!(
            "the ledger did not verify after the bench: {}",
            report.verified
        ))
    }
}

#[derive(Args)]
pub struct SignatureBenchArgs {
    /// Benchmark PostgreSQL at this URL instead of SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Concurrent callers, as a comma-separated list.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    concurrency: Vec<usize>,
    /// Signed requests per concurrency level.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run_signatures(args: SignatureBenchArgs) -> Result<(), String> {
    if args.concurrency.is_empty() || args.concurrency.iter().any(|c| *c == 0 || *c > 4096) {
        return Err("--concurrency takes numbers from 1 to 4096, like 1,16,256".into());
    }
    if !(1..=1_000_000).contains(&args.requests) {
        return Err("--requests must be from 1 to 1,000,000".into());
    }
    let report = purser_bench::signatures::run(purser_bench::signatures::Options {
        database_url: args.database_url,
        concurrency: args.concurrency,
        requests: args.requests,
    })
    .await?;
    print_report(&report, args.json, purser_bench::signatures::render)?;
    Ok(())
}

#[derive(Args)]
pub struct MandateBenchArgs {
    /// Seconds of measuring in all, split between the rows.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_mandates(args: MandateBenchArgs) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err("--seconds must be more than 0 and at most 600".into());
    }
    let report = purser_bench::mandates::run(purser_bench::mandates::Options {
        seconds: args.seconds,
    })?;
    print_report(&report, args.json, purser_bench::mandates::render)?;
    Ok(())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LoopsArg {
    /// Closed loop then open loop.
    Both,
    /// Closed loop only: as fast as the server answers.
    Closed,
    /// Open loop only, at --rate.
    Open,
}

#[derive(Args)]
pub struct AuthorizeBenchArgs {
    /// Benchmark PostgreSQL: a scratch database is created on this server for the run and
    /// dropped after it, e.g. postgres://postgres@127.0.0.1:5432/postgres.
    #[arg(long, visible_alias = "postgres", value_name = "URL")]
    database_url: Option<String>,
    /// Agents, each bound to its own person with a consented mandate.
    #[arg(long, default_value_t = 32)]
    agents: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds per measured loop.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Requests per second the open loop offers (the p99 goal is stated at 5000).
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Which loops to run.
    #[arg(long = "loop", value_enum, default_value_t = LoopsArg::Both)]
    loops: LoopsArg,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run_authorize(args: AuthorizeBenchArgs) -> Result<(), String> {
    use purser_bench::authorize::{self, Loops, MAX_AGENTS, MAX_CONNECTIONS};
    if !(1..=MAX_AGENTS).contains(&args.agents) {
        return Err(format!("--agents must be from 1 to {MAX_AGENTS}"));
    }
    if !(1..=MAX_CONNECTIONS).contains(&args.connections) {
        return Err(format!("--connections must be from 1 to {MAX_CONNECTIONS}"));
    }
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err("--seconds must be more than 0 and at most 600".into());
    }
    if !(args.warmup >= 0.0 && args.warmup <= 600.0) {
        return Err("--warmup must be from 0 to 600 seconds".into());
    }
    if !(args.rate >= 1.0 && args.rate <= 1_000_000.0) {
        return Err("--rate must be from 1 to 1,000,000 requests per second".into());
    }
    let report = authorize::run(authorize::Options {
        database_url: args.database_url,
        agents: args.agents,
        connections: args.connections,
        seconds: args.seconds,
        warmup_seconds: args.warmup,
        rate: args.rate,
        loops: match args.loops {
            LoopsArg::Both => Loops::Both,
            LoopsArg::Closed => Loops::Closed,
            LoopsArg::Open => Loops::Open,
        },
    })
    .await?;
    print_report(&report, args.json, authorize::render)?;
    if !report.books.balanced {
        return Err(format!(
            "the books do not balance after the bench: {}",
            report.books.verified
        ));
    }
    if !report.clean() {
        return Err("some payment requests were not approved; the counts are above".into());
    }
    Ok(())
}

#[derive(Args)]
pub struct SoakBenchArgs {
    /// Minutes of sustained load, at least 3 (one row each; BENCHMARKS.md records a 30-minute
    /// run).
    #[arg(long, default_value_t = 5)]
    minutes: usize,
    /// Authorizations offered per second, steadily: below what the machine sustains, so the
    /// latencies are the service's, not a queue's.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Soak PostgreSQL: a scratch database is created on this server and dropped after.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Agents, each bound to its own person with a consented mandate.
    #[arg(long, default_value_t = 32)]
    agents: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run_soak(args: SoakBenchArgs) -> Result<(), String> {
    use purser_bench::authorize::{MAX_AGENTS, MAX_CONNECTIONS};
    use purser_bench::soak;
    // The verdict compares the first minute with the last: fewer than three leaves nothing
    // between them to judge a trend by.
    if !(3..=23 * 60).contains(&args.minutes) {
        return Err(
            "--minutes must be from 3 to 1380 (a trend needs at least three minutes; the books are read while every credential, valid 24 hours at most, still holds its money)".into(),
        );
    }
    if !(args.rate >= 1.0 && args.rate <= 100_000.0) {
        return Err("--rate must be from 1 to 100,000 requests per second".into());
    }
    if !(1..=MAX_AGENTS).contains(&args.agents) {
        return Err(format!("--agents must be from 1 to {MAX_AGENTS}"));
    }
    if !(1..=MAX_CONNECTIONS).contains(&args.connections) {
        return Err(format!("--connections must be from 1 to {MAX_CONNECTIONS}"));
    }
    let report = soak::run(soak::Options {
        database_url: args.database_url,
        minutes: args.minutes,
        rate: args.rate,
        agents: args.agents,
        connections: args.connections,
    })
    .await?;
    print_report(&report, args.json, soak::render)?;
    if !report.clean() {
        return Err(
            "the soak was not flat or not clean (the table above says which); see BENCHMARKS.md"
                .into(),
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct AllBenchArgs {
    /// Measure on PostgreSQL at this URL (scratch databases are created and dropped) instead of
    /// SQLite in temporary directories.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Seconds for each measured phase.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Offered rate of the open-loop authorization phase, per second.
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Print every figure as JSON (the summary and each part's full report).
    #[arg(long)]
    json: bool,
}

impl Default for AllBenchArgs {
    fn default() -> AllBenchArgs {
        AllBenchArgs {
            database_url: None,
            seconds: 3.0,
            rate: 5000.0,
            json: false,
        }
    }
}

pub async fn run_all(args: AllBenchArgs) -> Result<(), String> {
    if !(args.seconds >= 0.5 && args.seconds <= 60.0) {
        return Err("--seconds must be from 0.5 to 60".into());
    }
    if !(args.rate >= 1.0 && args.rate <= 100_000.0) {
        return Err("--rate must be from 1 to 100,000 per second".into());
    }
    let report = purser_bench::all::run(purser_bench::all::Options {
        database_url: args.database_url,
        seconds: args.seconds,
        rate: args.rate,
    })
    .await?;
    print_report(&report, args.json, purser_bench::all::render)?;
    if report.clean() {
        Ok(())
    } else {
        Err("the books did not balance or the ledger did not verify after the bench".into())
    }
}

/// Print a bench's report: as pretty JSON with `--json`, otherwise as the text `render` makes.
fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    render: fn(&R) -> String,
) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", render(report));
    }
    Ok(())
}
