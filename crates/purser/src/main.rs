//! `purser`: parses the command line and calls the libraries. Nothing here decides anything
//! about money.

mod bench;
mod client;
mod demo;
mod evidence_cmd;
mod mandate_cmd;
mod mcp_cmd;
mod merchant_cmd;
mod payment_cmd;
mod pin_cmd;
mod verify;
mod wallet_cmd;
mod web_fixture;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use purser_store::StoreConfig;

#[derive(Parser)]
#[command(
    name = "purser",
    version,
    about = "Purser: an agent wallet and payment authority",
    long_about = "Purser lets AI agents pay on a person's behalf while the person stays in control.\n\nStart with `purser serve`; check the books with `purser ledger verify`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Purser server (HTTP API on 127.0.0.1:7420 by default).
    Serve(ServeArgs),
    /// The whole story in one command: a person, a wallet, a shopping agent, a mandate from
    /// her words, purchases at the bundled merchant (approved, refused, confirmed with a PIN),
    /// the bill, the evidence and the books — each step checked. Exits 0 only if all worked.
    Demo(demo::DemoArgs),
    /// Inspect and check the ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Users and their setup (operator creates; the user sets up).
    User {
        #[command(subcommand)]
        command: wallet_cmd::UserCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Your API tokens.
    Token {
        #[command(subcommand)]
        command: wallet_cmd::TokenCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Your PIN, for approving payments on confirmation pages (never given as an argument).
    Pin {
        #[command(subcommand)]
        command: pin_cmd::PinCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Your balances.
    Wallet {
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Cards in your vault (sandbox rail: test numbers only).
    Card {
        #[command(subcommand)]
        command: wallet_cmd::CardCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Top-ups from a card, 3-D Secure answers, refunds.
    Topup {
        #[command(subcommand)]
        command: wallet_cmd::TopupCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Agents you develop: keys, registration, rotation, revocation.
    Agent {
        #[command(subcommand)]
        command: wallet_cmd::AgentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Agents acting for you: approve, freeze (kill switch), restrict.
    Binding {
        #[command(subcommand)]
        command: wallet_cmd::BindingCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Agent-exclusive cards: sub-balances one agent alone can spend.
    ExclusiveCard {
        #[command(subcommand)]
        command: wallet_cmd::ExclusiveCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Vault and signing keys (operator): status, rotation, destruction of retired keys.
    Keys {
        #[command(subcommand)]
        command: wallet_cmd::KeysCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Your agents' payments, one at a time.
    Payment {
        #[command(subcommand)]
        command: payment_cmd::PaymentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Your bill: what your agents paid, filtered and totalled; --csv to export.
    Bill {
        #[command(flatten)]
        args: payment_cmd::BillArgs,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Your agents' tasks and their timelines.
    Task {
        #[command(subcommand)]
        command: payment_cmd::TaskCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Mandates: what your agent may buy. `draft` runs locally, without a server.
    Mandate {
        #[command(subcommand)]
        command: mandate_cmd::MandateCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Merchants (operator): register them (API key and webhook secret shown once), list them.
    Merchant {
        #[command(subcommand)]
        command: merchant_cmd::MerchantCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Evidence bundles: export a payment's sealed record; verify one offline.
    Evidence {
        #[command(subcommand)]
        command: evidence_cmd::EvidenceCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// MCP server on stdin/stdout for a local agent (coding assistant, desktop client): the
    /// agent's tools (pay, check, wait, mandates, simulate, spending), each call signed with
    /// the agent's key to a running Purser. Streamable HTTP is at /mcp in `purser serve`.
    Mcp(mcp_cmd::McpArgs),
    /// Test helpers for Purser's own test suite (the browser tests' starting point).
    #[command(hide = true)]
    Dev {
        #[command(subcommand)]
        command: web_fixture::DevCommand,
    },
    /// Measure performance and print figures. With no subcommand: the whole path in one run
    /// (`purser bench all`, with its defaults).
    Bench {
        #[command(subcommand)]
        command: Option<BenchCommand>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the journal, check the hash chain and every invariant.
    /// Exits 0 only if all hold; otherwise names the first broken entry.
    Verify {
        #[command(flatten)]
        storage: StorageArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The whole path in one run: crypto floors (Ed25519 verify, ES256 sign and verify), signed
    /// requests, mandate chains, ledger operations and authorizations over HTTP (closed and open
    /// loop, p50/p99/p99.9), each beside its floor and its goal, with why a goal is missed.
    All(bench::AllBenchArgs),
    /// Durable ledger operations per second (transfer, hold, post, void) at several
    /// concurrency levels, with p50/p99/p99.9 latency.
    Ledger(bench::LedgerBenchArgs),
    /// Signed agent requests per second (parse, key lookup, Ed25519 verify, nonce insert)
    /// beside a bare Ed25519 verification measured in the same run.
    Signatures(bench::SignatureBenchArgs),
    /// AP2 mandate chains verified per second on one core (Purser's ES256 open mandate closed
    /// by the agent's key) beside the ES256 verify floor, and one mandate evaluation.
    Mandates(bench::MandateBenchArgs),
    /// Signed agent payment authorizations per second over HTTP against an in-process server
    /// (SQLite, or PostgreSQL with --database-url), closed and open loop, with p50/p99/p99.9
    /// latency beside the crypto floor; then checks the books.
    Authorize(bench::AuthorizeBenchArgs),
    /// Sustained authorizations for N minutes, open loop at a steady rate: memory (heap and
    /// file-backed), file descriptors, threads and latency sampled each minute, judged flat or
    /// not; then checks the books.
    Soak(bench::SoakBenchArgs),
}

/// Where the data lives. Shared by every command that opens storage.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Data directory (SQLite database, keys, operator token).
    #[arg(long, value_name = "DIR", default_value = "./purser-data")]
    data: PathBuf,
    /// Use PostgreSQL instead of the embedded SQLite, e.g. postgres://user@host:5432/purser.
    #[arg(
        long,
        value_name = "URL",
        env = "PURSER_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

impl StorageArgs {
    pub fn store(&self) -> StoreConfig {
        match &self.database_url {
            Some(url) => StoreConfig::Postgres { url: url.clone() },
            None => StoreConfig::sqlite_in(&self.data),
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address and port to listen on (host:port; names like localhost:7420 are resolved).
    #[arg(long, value_name = "HOST:PORT", default_value = purser_server::DEFAULT_LISTEN)]
    listen: String,
    #[command(flatten)]
    storage: StorageArgs,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The URL agents and people use to reach this server (behind a proxy: its public https
    /// URL). Signed agent requests must be addressed to it. Default: http:// + --listen.
    #[arg(long, value_name = "URL", env = "PURSER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Payment requests one agent may make for one user per minute (anomaly rule; default 60).
    #[arg(long, value_name = "N", env = "PURSER_AGENT_PAYMENTS_PER_MINUTE")]
    agent_payments_per_minute: Option<i64>,
    /// Requests one agent may send a minute, any route (bursts up to N, refilled at N a
    /// minute; counted per node, in memory); beyond it `429` with `Retry-After`. 0 turns it off.
    #[arg(long, value_name = "N", env = "PURSER_AGENT_REQUESTS_PER_MINUTE", default_value_t = purser_server::DEFAULT_AGENT_PER_MINUTE)]
    agent_requests_per_minute: u32,
    /// Requests one user's API tokens may send a minute, together (as above). 0 turns it off.
    #[arg(long, value_name = "N", env = "PURSER_USER_REQUESTS_PER_MINUTE", default_value_t = purser_server::DEFAULT_USER_PER_MINUTE)]
    user_requests_per_minute: u32,
    /// PIN sign-ins one network address may try a minute on the web wallet (passkey prompts:
    /// three times this), whoever they are for. 0 turns it off.
    #[arg(long, value_name = "N", env = "PURSER_SIGN_INS_PER_MINUTE", default_value_t = purser_server::DEFAULT_SIGN_IN_PER_MINUTE)]
    sign_ins_per_minute: u32,
    /// A reverse proxy (an IP address or CIDR block, e.g. 10.0.0.0/8; repeat the flag, or
    /// separate with commas in the environment variable) whose X-Forwarded-For is believed:
    /// when a request comes from one, the client is the right-most address in that header
    /// that is not itself a trusted proxy (per-address sign-in limits). None by default.
    #[arg(
        long = "trusted-proxy",
        value_name = "IP or CIDR",
        env = "PURSER_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<purser_server::TrustedProxy>,
    /// Seconds a client may take to send a request's headers, and then its body; slower
    /// connections (and idle kept-alive ones) are closed.
    #[arg(long, value_name = "SECONDS", env = "PURSER_READ_TIMEOUT", default_value_t = purser_server::DEFAULT_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    read_timeout: u64,
    /// Seconds a write of an answer may make no progress (the client stopped reading it)
    /// before the connection is closed.
    #[arg(long, value_name = "SECONDS", env = "PURSER_WRITE_TIMEOUT", default_value_t = purser_server::DEFAULT_WRITE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    write_timeout: u64,
    /// Connections served at once; at the cap the server stops accepting until one closes
    /// (the kernel's listen backlog holds the rest). Keep it below the open-file limit
    /// (`ulimit -n`).
    #[arg(long, value_name = "N", env = "PURSER_MAX_CONNECTIONS", default_value_t = purser_server::DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Seconds between sweeps that release expired credentials, confirmations and holds and
    /// finish interrupted work (an expiry takes effect within this long after it is due).
    #[arg(long, value_name = "SECONDS", env = "PURSER_SWEEP_INTERVAL", default_value_t = purser_wallet::SWEEP_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    sweep_interval: u64,
    /// Token Pay: seconds after its due time a scheduled charge may still be made. One the
    /// scheduler reaches later (after an outage) is not charged but recorded missed, so an
    /// outage never charges a pile of old occurrences at once. Never more than the schedule's
    /// own period. At least an hour: lateness counts from the due time, so the window must
    /// outlast the scheduler's worst backlog (many schedules due at the same instant).
    #[arg(long, value_name = "SECONDS", env = "PURSER_CATCH_UP_WINDOW", default_value_t = purser_wallet::schedules::DEFAULT_CATCH_UP_WINDOW.as_secs(), value_parser = clap::value_parser!(u64).range(purser_wallet::schedules::MIN_CATCH_UP_WINDOW.as_secs()..=MAX_CATCH_UP_WINDOW_SECS))]
    catch_up_window: u64,
}

/// The longest `--catch-up-window`: a year and a day (an annual schedule's whole period).
const MAX_CATCH_UP_WINDOW_SECS: u64 = 366 * 86_400;

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat, default: tracing::Level) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // PURSER_LOG=debug or PURSER_LOG=purser::http=warn,info
    let filter = std::env::var("PURSER_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::from_level(default)));
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry.with(fmt.with_target(true)).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
    };
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_logs(args.log_format, tracing::Level::INFO);
            runtime().and_then(|rt| {
                rt.block_on(purser_server::serve(
                    purser_server::ServeOptions {
                        listen: args.listen,
                        data_dir: args.storage.data.clone(),
                        store: args.storage.store(),
                        public_url: args.public_url,
                        agent_payments_per_minute: args.agent_payments_per_minute,
                        rate_limits: purser_server::RateLimits {
                            agent_per_minute: Some(args.agent_requests_per_minute)
                                .filter(|n| *n > 0),
                            user_per_minute: Some(args.user_requests_per_minute).filter(|n| *n > 0),
                            sign_in_per_minute: Some(args.sign_ins_per_minute).filter(|n| *n > 0),
                        },
                        read_timeout: std::time::Duration::from_secs(args.read_timeout),
                        trusted_proxies: purser_server::TrustedProxies::new(args.trusted_proxies),
                        write_timeout: std::time::Duration::from_secs(args.write_timeout),
                        max_connections: usize::try_from(args.max_connections)
                            .unwrap_or(purser_server::DEFAULT_MAX_CONNECTIONS),
                        sweep_interval: std::time::Duration::from_secs(args.sweep_interval),
                        catch_up_window: std::time::Duration::from_secs(args.catch_up_window),
                    },
                    purser_server::shutdown_signal(),
                ))
            })
        }
        Command::Dev { command } => web_fixture::run(command),
        Command::Demo(args) => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            demo::run(args)
        }
        Command::Ledger {
            command: LedgerCommand::Verify { storage, json },
        } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            return runtime().map_or_else(
                |e| {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                },
                |rt| rt.block_on(verify::run(storage.store(), json)),
            );
        }
        Command::User { command, client } => {
            wallet_cmd::user(&client::Client::new(client), command)
        }
        Command::Token { command, client } => {
            wallet_cmd::token(&client::Client::new(client), command)
        }
        Command::Pin { command, client } => pin_cmd::run(&client::Client::new(client), command),
        Command::Wallet { client } => wallet_cmd::wallet(&client::Client::new(client)),
        Command::Card { command, client } => {
            wallet_cmd::card(&client::Client::new(client), command)
        }
        Command::Topup { command, client } => {
            wallet_cmd::topup(&client::Client::new(client), command)
        }
        Command::Agent { command, client } => {
            wallet_cmd::agent(&client::Client::new(client), command)
        }
        Command::Binding { command, client } => {
            wallet_cmd::binding(&client::Client::new(client), command)
        }
        Command::ExclusiveCard { command, client } => {
            wallet_cmd::exclusive(&client::Client::new(client), command)
        }
        Command::Keys { command, client } => {
            wallet_cmd::keys(&client::Client::new(client), command)
        }
        Command::Mandate { command, client } => return mandate_cmd::run(command, client),
        Command::Payment { command, client } => return payment_cmd::run_payment(command, client),
        Command::Bill { args, client } => return payment_cmd::run_bill(args, client),
        Command::Task { command, client } => return payment_cmd::run_task(command, client),
        Command::Merchant {
            command: merchant_cmd::MerchantCommand::Serve(args),
            client,
        } => {
            init_logs(LogFormat::Text, tracing::Level::INFO);
            merchant_cmd::serve(args, &client)
        }
        Command::Merchant { command, client } => {
            merchant_cmd::run(&client::Client::new(client), command)
        }
        Command::Evidence { command, client } => return evidence_cmd::run(command, client),
        Command::Bench { command: None } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            runtime().and_then(|rt| rt.block_on(bench::run_all(bench::AllBenchArgs::default())))
        }
        Command::Mcp(args) => {
            // stdout carries the protocol: logs (warnings and up by default) go to stderr.
            init_logs(LogFormat::Text, tracing::Level::WARN);
            mcp_cmd::run_stdio(args)
        }
        Command::Bench {
            command: Some(BenchCommand::All(args)),
        } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            runtime().and_then(|rt| rt.block_on(bench::run_all(args)))
        }
        Command::Bench {
            command: Some(BenchCommand::Ledger(args)),
        } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            runtime().and_then(|rt| rt.block_on(bench::run(args)))
        }
        Command::Bench {
            command: Some(BenchCommand::Signatures(args)),
        } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            runtime().and_then(|rt| rt.block_on(bench::run_signatures(args)))
        }
        Command::Bench {
            command: Some(BenchCommand::Mandates(args)),
        } => bench::run_mandates(args),
        Command::Bench {
            command: Some(BenchCommand::Authorize(args)),
        } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            runtime().and_then(|rt| rt.block_on(bench::run_authorize(args)))
        }
        Command::Bench {
            command: Some(BenchCommand::Soak(args)),
        } => {
            init_logs(LogFormat::Text, tracing::Level::WARN);
            runtime().and_then(|rt| rt.block_on(bench::run_soak(args)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
