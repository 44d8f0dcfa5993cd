//! Purser's HTTP server: routes, the error shape, metrics, logs and the OpenAPI document.
//! Handlers translate HTTP into calls on `purser_store::Ledger`; no rule lives here.

pub mod auth;
mod caller;
pub mod connections;
pub mod error;
mod extract;
mod forwarded;
pub mod html;
mod idempotency;
mod merchant_auth;
mod metrics;
mod openapi;
mod ratelimit;
pub mod routes;
pub mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use purser_store::{Ledger, StoreConfig};
use purser_wallet::Wallet;

pub use auth::OperatorKey;
pub use connections::{Connections, DEFAULT_MAX_CONNECTIONS, DEFAULT_WRITE_TIMEOUT};
pub use forwarded::{TrustedProxies, TrustedProxy};
pub use metrics::HttpMetrics;
pub use openapi::ApiDoc;
pub use ratelimit::{
    ClientAddr, RateLimits, DEFAULT_AGENT_PER_MINUTE, DEFAULT_SIGN_IN_PER_MINUTE,
    DEFAULT_USER_PER_MINUTE,
};

/// Address `purser serve` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";

/// Largest request body accepted. A full batch of operations (1,000 × ~250 bytes) fits with
/// room to spare; anything larger is refused before it is parsed.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// After SIGTERM, how long open requests may take to finish before their connections are
/// closed. Operations already handed to the ledger writer are committed either way.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// How long a client may take to send a request's headers, and then its body (each), before
/// the connection is closed (`--read-timeout`). An idle kept-alive connection is closed after
/// the same time. A client trickling bytes to hold a connection open is cut off.
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
    pub http_metrics: Arc<HttpMetrics>,
    pub operator: OperatorKey,
    pub wallet: Arc<Wallet>,
    /// Base URL for links Purser prints (setup and confirmation pages).
    pub public_url: String,
    /// Where agents reach Purser: the scheme and the authorities (`host[:port]`) a signed
    /// request's `@authority` may name. A signature made for another site is refused here.
    pub origin: Arc<Origin>,
    /// Requests per minute per agent and per user (in memory, per node).
    pub limiter: Arc<ratelimit::Limiter>,
    /// How long a request body may take to arrive.
    pub read_timeout: std::time::Duration,
    /// Live streams (server-sent events) open on this node, per watcher.
    pub live: Arc<routes::oversight::LiveStreams>,
    /// HTTP connections open on this node, and its cap (for `/metrics`).
    pub connections: Arc<Connections>,
}

/// The origin agents sign requests for.
#[derive(Clone, Debug)]
pub struct Origin {
    pub scheme: &'static str,
    pub authorities: Vec<String>,
}

impl Origin {
    /// From a public URL such as `https://pay.example.com` or `http://127.0.0.1:7420`. A
    /// loopback origin also accepts the other loopback names on the same port (`localhost`,
    /// `127.0.0.1`, `[::1]`), which all reach the same server.
    pub fn from_url(url: &str) -> Result<Origin, String> {
        let bad = || {
            format!("--public-url {url} is not a URL like https://pay.example.com or http://127.0.0.1:7420")
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return Err(bad()),
        };
        let authority = rest
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority
            .strip_suffix(default_port)
            .map_or(authority.clone(), str::to_string);
        let mut authorities = vec![authority.clone()];
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.to_string(), format!(":{p}"))
            }
            _ => (authority.clone(), String::new()),
        };
        if ["localhost", "127.0.0.1", "[::1]"].contains(&host.as_str()) {
            for h in ["localhost", "127.0.0.1", "[::1]"] {
                let a = format!("{h}{port}");
                if !authorities.contains(&a) {
                    authorities.push(a);
                }
            }
        }
        Ok(Origin {
            scheme,
            authorities,
        })
    }
}

/// Every route, with limits, metrics, logs and the JSON error shape for whatever goes wrong.
pub fn router(state: AppState) -> Router {
    use routes::{agents, keys, ledger, mandates, oversight, payments, system, users, wallet};
    use routes::{evidence, merchants, redeem, webhooks};
    let read_timeout = state.read_timeout;
    let operator_routes = Router::new()
        .route("/v1/ledger/accounts", post(ledger::create_account))
        .route("/v1/ledger/accounts/:id", get(ledger::get_account))
        .route("/v1/ledger/transfers", post(ledger::create_transfer))
        .route("/v1/ledger/transfers/:id", get(ledger::get_transfer))
        .route("/v1/ledger/holds/:id", get(ledger::get_hold))
        .route("/v1/ledger/holds/:id/post", post(ledger::post_hold))
        .route("/v1/ledger/holds/:id/void", post(ledger::void_hold))
        .route("/v1/ledger/batch", post(ledger::batch))
        .route("/v1/users", post(users::create_user))
        .route("/v1/users/:id", get(users::get_user))
        .route(
            "/v1/merchants",
            post(merchants::create).get(merchants::list),
        )
        .route("/v1/merchants/:id", get(merchants::get))
        .route("/v1/operator/vault", get(keys::vault_status))
        .route("/v1/operator/vault/rotate", post(keys::vault_rotate))
        .route(
            "/v1/operator/vault/destroy-retired",
            post(keys::vault_destroy),
        )
        .route(
            "/v1/operator/signing-keys/rotate",
            post(keys::signing_rotate),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_operator,
        ));
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi))
        .route("/.well-known/jwks.json", get(keys::jwks))
        .route("/.well-known/http-message-signatures-directory", get(keys::directory))
        .route("/v1/agent-keys/:kid", get(keys::agent_key))
        .route("/v1/setup", post(users::setup))
        .route("/v1/me", get(users::me))
        .route("/v1/me/pin", get(routes::pins::pin_status).post(routes::pins::set_pin))
        .route("/confirm/:token", get(routes::confirm::show).post(routes::confirm::decide))
        .route(html::STYLESHEET_PATH, get(html::stylesheet))
        .route(web::SCRIPT_PATH, get(web::script))
        .route("/", get(web::pages::home))
        .route("/signin", get(web::pages::signin))
        .route("/signin/pin", post(web::pages::signin_pin))
        .route("/signup", get(web::pages::signup))
        .route("/signout", post(web::pages::signout))
        .route("/account", get(web::account::show))
        .route("/account/passkeys/:id/remove", post(web::account::remove_passkey))
        .route("/account/signout-everywhere", post(web::account::signout_everywhere))
        .route("/agents", get(web::agents::page))
        .route("/agents/binding", post(web::agents::binding))
        .route("/agents/funding", post(web::agents::funding))
        .route("/agents/card", post(web::agents::create_card))
        .route("/agents/card/move", post(web::agents::move_money))
        .route("/tasks", get(web::tasks::list))
        .route("/tasks/:id", get(web::tasks::show))
        .route("/tasks/:id/events", get(web::tasks::events))
        .route("/bills", get(web::bills::page))
        .route("/bills.csv", get(web::bills::csv))
        .route("/payments/:id/evidence", get(web::bills::evidence))
        .route("/web/passkeys/register/start", post(web::passkeys::register_start))
        .route("/web/passkeys/register/finish", post(web::passkeys::register_finish))
        .route("/web/passkeys/signin/start", post(web::passkeys::signin_start))
        .route("/web/passkeys/signin/finish", post(web::passkeys::signin_finish))
        .route("/web/passkeys/confirm/start", post(web::passkeys::confirm_start))
        .route("/web/passkeys/confirm/finish", post(web::passkeys::confirm_finish))
        .route("/web/passkeys/consent/start", post(web::passkeys::consent_start))
        .route("/web/passkeys/consent/finish", post(web::passkeys::consent_finish))
        .route("/mandates", get(web::mandates::list))
        .route("/mandates/new", get(web::mandates::new).post(web::mandates::new_post))
        .route("/mandates/:id/consent", get(web::mandates::consent).post(web::mandates::consent_pin))
        .route("/mandates/:id/revoke", get(web::mandates::revoke_page).post(web::mandates::revoke))
        .route("/v1/tokens", post(users::create_token).get(users::list_tokens))
        .route("/v1/tokens/:id/revoke", post(users::revoke_token))
        .route("/v1/wallet", get(wallet::wallet))
        .route("/v1/cards", post(wallet::add_card).get(wallet::list_cards))
        .route("/v1/cards/:id", get(wallet::get_card))
        .route("/v1/cards/:id/remove", post(wallet::remove_card))
        .route("/v1/topups", post(wallet::top_up).get(wallet::list_topups))
        .route("/v1/topups/:id", get(wallet::get_topup))
        .route("/v1/topups/:id/challenge", post(wallet::challenge))
        .route("/v1/topups/:id/refunds", post(wallet::refund).get(wallet::list_refunds))
        .route("/v1/exclusive-cards", post(wallet::create_exclusive).get(wallet::list_exclusive))
        .route("/v1/exclusive-cards/:id", get(wallet::get_exclusive))
        .route("/v1/exclusive-cards/:id/fund", post(wallet::fund))
        .route("/v1/exclusive-cards/:id/withdraw", post(wallet::withdraw))
        .route("/v1/exclusive-cards/:id/close", post(wallet::close_exclusive))
        .route("/v1/agents", post(agents::register).get(agents::list))
        .route("/v1/agents/:id", get(agents::get))
        .route("/v1/agents/:id/keys", post(agents::rotate_key))
        .route("/v1/agents/:id/keys/:kid/revoke", post(agents::revoke_key))
        .route("/v1/agents/:id/revoke", post(agents::revoke))
        .route("/v1/bindings", get(agents::list_bindings))
        .route("/v1/bindings/:id", get(agents::get_binding))
        .route("/v1/bindings/:id/approve", post(agents::approve))
        .route("/v1/bindings/:id/decline", post(agents::decline))
        .route("/v1/bindings/:id/freeze", post(agents::freeze))
        .route("/v1/bindings/:id/unfreeze", post(agents::unfreeze))
        .route("/v1/bindings/:id/revoke", post(agents::revoke_binding))
        .route("/v1/bindings/:id/funding-source", post(agents::funding_source))
        .route("/v1/mandates/draft", post(mandates::draft_mandate))
        .route("/v1/mandates", post(mandates::create).get(mandates::list))
        .route("/v1/mandates/:id", get(mandates::get).post(mandates::update))
        .route("/v1/mandates/:id/consent", post(mandates::consent))
        .route("/v1/mandates/:id/simulate", post(mandates::simulate))
        .route("/v1/mandates/:id/revoke", post(mandates::revoke))
        .route("/v1/mandates/:id/charges", get(mandates::charges))
        .route("/v1/mandates/:id/credentials", get(mandates::credentials))
        .route("/v1/mandate-status/:id", get(mandates::status))
        .route("/v1/agent/whoami", get(agents::whoami))
        .route("/v1/agent/bindings", post(agents::request_binding))
        .route("/v1/agent/users/:user_id/funds", get(agents::funds))
        .route("/v1/agent/mandates/:id/credentials", get(mandates::agent_credentials))
        .route("/v1/agent/payments", post(payments::authorize).get(payments::agent_payments))
        .route("/v1/agent/users/:user_id/mandates", get(mandates::agent_list))
        .route("/v1/agent/mandates/:id/simulate", post(mandates::agent_simulate))
        .route("/mcp", routes::mcp::route(&state))
        .route("/v1/agent/payments/:id", get(payments::agent_payment))
        .route("/v1/payments/:id", get(payments::get))
        .route("/v1/agent/payments/:id/events", get(oversight::payment_stream))
        .route("/v1/tasks", get(oversight::tasks))
        .route("/v1/tasks/:id", get(oversight::timeline))
        .route("/v1/tasks/:id/stream", get(oversight::task_stream))
        .route("/v1/bills", get(oversight::bills))
        .route("/v1/agent/webhook", post(webhooks::set).get(webhooks::get).delete(webhooks::delete))
        .route("/v1/agent/webhook/remove", post(webhooks::remove))
        .route("/v1/merchant/me", get(merchants::me))
        .route("/v1/merchant/captures", post(redeem::capture))
        .route("/agentic_commerce/delegate_payment", post(routes::acp::delegate_payment))
        .route("/v1/bindings/:id/acp-keys", post(routes::acp::create_key).get(routes::acp::list_keys))
        .route("/v1/acp-keys/:id/revoke", post(routes::acp::revoke_key))
        .route("/v1/merchant/payments/:id", get(redeem::get))
        .route("/v1/merchant/payments/:id/void", post(redeem::void))
        .route("/v1/merchant/payments/:id/refunds", post(redeem::refund))
        .route("/v1/merchant/deliveries", get(merchants::deliveries))
        .route("/v1/merchant/deliveries/:event_id/retry", post(merchants::retry))
        .route("/v1/payments/:id/evidence", get(evidence::evidence))
        .route("/x402/supported", get(routes::x402::supported))
        .route("/x402/verify", post(routes::x402::verify))
        .route("/x402/settle", post(routes::x402::settle))
        .merge(operator_routes)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            read_body(read_timeout, req, next)
        }))
        .layer(middleware::from_fn_with_state(state.clone(), limit_ceremonies))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            error::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Purser hit an internal error and applied nothing for this request; retry, and report it if it persists",
            )
            .into_response()
        }))
        .with_state(state)
}

/// The passkey ceremonies anyone may start (sign-in, first sign-in) are limited per network
/// address: each stores a challenge, and a flood must not fill the database. The ones that
/// need a confirmation link or a session (confirm, consent) are not, so that a flood from one
/// address (or from everyone behind one proxy) cannot stop people approving payments.
async fn limit_ceremonies(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/web/passkeys/signin/start" || path == "/web/passkeys/register/start" {
        let addr = req.extensions().get::<ClientAddr>().copied();
        if let Err(e) = state.limiter.ceremony(addr) {
            return e.into_response();
        }
    }
    next.run(req).await
}

async fn require_operator(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.operator.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// An oversized body is still read (and dropped) up to this much, so that the client gets the
/// 413 answer rather than a connection reset while it is sending.
const DRAIN_BYTES: usize = 4 * MAX_BODY_BYTES;

/// Read and drop the rest of a body, up to [`DRAIN_BYTES`] in all, for as long as the client
/// keeps sending (a pause of [`DRAIN_PAUSE`] ends it).
async fn drain<S>(stream: &mut S, mut seen: usize)
where
    S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    while seen <= DRAIN_BYTES {
        match tokio::time::timeout(DRAIN_PAUSE, stream.next()).await {
            Ok(Some(Ok(c))) => seen = seen.saturating_add(c.len()),
            _ => break,
        }
    }
}

/// How long draining waits for the next piece of an oversized body.
const DRAIN_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// Read the whole request body before any handler runs: at most [`MAX_BODY_BYTES`] (else 413)
/// within the read timeout (else 408), both in the JSON error shape and closing the connection.
async fn read_body(read_timeout: std::time::Duration, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let too_large = || {
        error::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is larger than the {} KiB Purser accepts",
                MAX_BODY_BYTES / 1024
            ),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        // Read (and drop) a modestly oversized body before answering, so the client, still
        // sending, gets the 413 instead of a broken pipe; a huge one is cut off at once.
        if declared.is_some_and(|n| n <= DRAIN_BYTES as u64) {
            let _ = tokio::time::timeout(read_timeout, drain(&mut stream, 0)).await;
        }
        return closing(too_large());
    }
    let read = async {
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut len = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                error::ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    "the request body could not be read; send it again",
                )
            })?;
            len = len.saturating_add(chunk.len());
            if len > MAX_BODY_BYTES {
                drain(&mut stream, len).await;
                return Err(too_large());
            }
            chunks.push(chunk);
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().unwrap_or_default(),
            _ => Bytes::from(chunks.concat()),
        })
    };
    match tokio::time::timeout(read_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => closing(e),
        Err(_) => closing(error::ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s; send the whole request at once",
                read_timeout.as_secs()
            ),
        )),
    }
}

/// An error answer after which the connection is closed (its body may be half-read).
fn closing(e: error::ApiError) -> Response {
    let mut resp = e.into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Count and log every request by its route pattern (never the raw path or any header).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only standard methods become labels: anyone can send any method, and each distinct
    // label is a new time series.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "OTHER",
    }
    .to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    state.http_metrics.record(&method, &route, status, took);
    tracing::info!(target: "purser::http", %method, %route, status, micros = took.as_micros() as u64, "request");
    resp
}

/// How `purser serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `host:port`; a name such as `localhost:7420` is resolved.
    pub listen: String,
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    /// The URL agents and people use to reach Purser (behind a proxy, its public https URL).
    /// Default: `http://` + the address it listens on.
    pub public_url: Option<String>,
    /// Payment request limits per agent and user per minute (default 60).
    pub agent_payments_per_minute: Option<i64>,
    /// Requests per minute per agent and per user ([`RateLimits::default`]).
    pub rate_limits: RateLimits,
    /// Header and body read timeout ([`DEFAULT_READ_TIMEOUT`]).
    pub read_timeout: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (per-address sign-in limits);
    /// none by default.
    pub trusted_proxies: TrustedProxies,
    /// How long a write to a client may make no progress ([`DEFAULT_WRITE_TIMEOUT`]).
    pub write_timeout: std::time::Duration,
    /// Connections served at once; more wait in the listen backlog
    /// ([`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// How often expired credentials, confirmations and holds are released, and interrupted
    /// work finished ([`purser_wallet::SWEEP_INTERVAL`]).
    pub sweep_interval: std::time::Duration,
    /// Token Pay: how late a scheduled charge may still be made; later ones are recorded
    /// missed ([`purser_wallet::schedules::DEFAULT_CATCH_UP_WINDOW`]).
    pub catch_up_window: std::time::Duration,
}

/// What `purser serve` prints on start: where things are, and what is simulated.
fn print_banner(
    addr: &std::net::SocketAddr,
    opts: &ServeOptions,
    wallet: &Wallet,
    source: &auth::TokenSource,
) {
    println!("Purser {} is running.", env!("CARGO_PKG_VERSION"));
    println!("  API:      http://{addr}/v1/  (described at http://{addr}/openapi.json)");
    println!("  Health:   http://{addr}/healthz");
    let link = wallet.confirmation_url("");
    if let Some(origin) = web::passkeys::rp_origin(link.trim_end_matches("/confirm/")) {
        println!(
            "  Wallet:   {}  (sign in with a passkey or your PIN)",
            origin.as_str()
        );
    }
    println!("  Storage:  {}", opts.store.describe());
    if !opts.trusted_proxies.is_empty() {
        println!(
            "  Trusted proxies: {} (their X-Forwarded-For names the client)",
            opts.trusted_proxies
        );
    }
    println!(
        "  Cards:    {} rail{}",
        wallet.rail_name(),
        if wallet.rail_name() == "sandbox" {
            " (SIMULATED: no real card is charged; test numbers in the README)"
        } else {
            ""
        }
    );
    match wallet.vault_key_source() {
        purser_wallet::KeySource::File(p) => println!(
            "  Vault key: {} (keep it out of backups of the database)",
            p.display()
        ),
        purser_wallet::KeySource::Env => {
            println!("  Vault key: from {}", purser_wallet::vault_keys::KEY_ENV)
        }
    }
    match source {
        auth::TokenSource::File(p) => println!(
            "  Operator token: in {} (send as 'Authorization: Bearer …')",
            p.display()
        ),
        auth::TokenSource::Env => println!("  Operator token: from {}", auth::TOKEN_ENV),
    }
    println!("Stop with Ctrl-C or SIGTERM; in-flight payments are finished first.");
}

/// Open storage, bind, serve until `shutdown` resolves, then finish in-flight requests and
/// commit everything queued before returning.
pub async fn serve(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    serve_with(opts, shutdown, true).await
}

/// [`serve`] without the startup banner on stdout: for callers whose stdout is their own
/// output (`purser bench authorize --json` runs a server in-process).
pub async fn serve_quietly(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    serve_with(opts, shutdown, false).await
}

async fn serve_with(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    banner: bool,
) -> Result<(), String> {
    // Bind first: a wrong or busy address fails before anything is created on disk.
    let listener = tokio::net::TcpListener::bind(opts.listen.as_str()).await.map_err(|e| {
        format!(
            "cannot listen on {}: {e}; is another purser running there? Choose another address with --listen (host:port)",
            opts.listen
        )
    })?;
    purser_store::create_private_dir(&opts.data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {}: {e}; pass --data with a writable directory",
            opts.data_dir.display()
        )
    })?;
    let (operator, source) = auth::load_or_create(&opts.data_dir)?;
    let ledger = Ledger::open(opts.store.clone(), Arc::new(purser_store::SystemClock))
        .await
        .map_err(|e| format!("cannot open storage ({}): {e}", opts.store.describe()))?;
    let ledger = Arc::new(ledger);
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let clock: Arc<dyn purser_core::Clock> = Arc::new(purser_store::SystemClock);
    let rail: Arc<dyn purser_core::rail::CardRail> =
        Arc::new(purser_core::rail::SandboxRail::new());
    let mut wallet = Wallet::open(&opts.store, &opts.data_dir, ledger.clone(), clock, rail).await?;
    wallet.set_catch_up_window(opts.catch_up_window);
    if let Some(n) = opts.agent_payments_per_minute {
        let mut rules = wallet.payment_rules().clone();
        rules.agent_payments_per_minute = n.max(1);
        wallet.set_payment_rules(rules);
    }
    let wallet = Arc::new(wallet);
    let public_url = opts
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{addr}"));
    wallet.set_public_base(&public_url);
    let origin = Arc::new(Origin::from_url(&public_url)?);
    let max_connections = opts.max_connections.max(1);
    let connections = Arc::new(Connections::new(max_connections));
    let state = AppState {
        ledger: ledger.clone(),
        http_metrics: Arc::new(HttpMetrics::default()),
        operator,
        wallet: wallet.clone(),
        public_url,
        origin,
        limiter: Arc::new(ratelimit::Limiter::new(opts.rate_limits)),
        read_timeout: opts.read_timeout,
        live: Arc::default(),
        connections: connections.clone(),
    };
    let sweeper = {
        let wallet = wallet.clone();
        let every = opts.sweep_interval.max(std::time::Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                wallet.sweep().await;
            }
        })
    };
    // Token Pay: charges recurring mandates on schedule (safe on every node at once).
    let scheduler = {
        let wallet = wallet.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(purser_wallet::schedules::SCHEDULE_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = wallet.run_schedules().await {
                    tracing::warn!(code = %e.code, "the scheduler could not run; retrying");
                }
            }
        })
    };
    let (outbox_stop, outbox_stopped) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(wallet.clone().run_outbox(outbox_stopped));
    if banner {
        print_banner(&addr, &opts, &wallet, &source);
    }
    tracing::info!(%addr, storage = opts.store.kind(), "listening");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = started_tx.send(());
    };
    let limits = ConnectionLimits {
        read_timeout: opts.read_timeout,
        write_timeout: opts.write_timeout,
        max_connections,
    };
    let server = serve_connections(
        listener,
        router(state),
        limits,
        connections,
        Arc::new(opts.trusted_proxies.clone()),
        signal,
    );
    let served = tokio::select! {
        r = server => r,
        _ = async {
            if started_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!("requests still open {SHUTDOWN_GRACE:?} after shutdown began; closing them");
            Ok(())
        }
    };
    sweeper.abort();
    scheduler.abort();
    // The outbox records what it is sending (bounded by its own grace) before the records
    // writer stops; whatever it could not send stays pending for the next start.
    let _ = outbox_stop.send(true);
    let _ = outbox.await;
    wallet.shutdown().await;
    ledger.shutdown().await;
    tracing::info!("stopped; every acknowledged operation is committed");
    served.map_err(|e| format!("the server stopped with an error: {e}"))
}

/// What bounds each connection (from [`ServeOptions`]).
#[derive(Clone, Copy, Debug)]
struct ConnectionLimits {
    read_timeout: std::time::Duration,
    write_timeout: std::time::Duration,
    max_connections: usize,
}

/// Accept connections and serve `app` on each (HTTP/1.1) until `signal` resolves; then stop
/// accepting, let every open connection finish its request, and return once all are closed.
///
/// A client gets `read_timeout` to send each request's headers (and idle keep-alive
/// connections are closed after it): a connection trickling bytes is cut off. A write that
/// makes no progress for `write_timeout` (a client not reading its answer) closes the
/// connection. At most `max_connections` are served at once: at the cap the loop stops
/// accepting until one closes, and the kernel's listen backlog holds the rest. Reaching the
/// cap is logged once per episode (an episode ends when the loop has a free slot and nobody
/// waiting), not per connection.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    counts: Arc<Connections>,
    trusted_proxies: Arc<TrustedProxies>,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    // Since when every slot has been taken, while connections kept waiting.
    let mut at_cap: Option<Instant> = None;
    tokio::pin!(signal);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if at_cap.is_none() {
                    at_cap = Some(Instant::now());
                    counts.note_cap_reached();
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "{} connections are open, the most this node serves at once (--max-connections); new connections wait in the listen backlog until one closes",
                        limits.max_connections
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        // Never closed; stop rather than spin.
                        Err(_) => break,
                    },
                    _ = &mut signal => break,
                }
            }
        };
        // With a free slot and nobody in the backlog, an episode at the cap is over.
        let ready = futures_util::FutureExt::now_or_never(listener.accept());
        if ready.is_none() {
            if let Some(since) = at_cap.take() {
                tracing::info!(
                    seconds = since.elapsed().as_secs(),
                    "below --max-connections again; accepting every connection at once"
                );
            }
        }
        let accepted = match ready {
            Some(accepted) => accepted,
            None => tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut signal => break,
            },
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let counted = counts.opened();
        // Each request carries its client's address (per-address sign-in limits): the peer's,
        // or behind a trusted proxy the one its `X-Forwarded-For` names (`forwarded.rs`).
        let inner = hyper_util::service::TowerToHyperService::new(app.clone());
        let proxies = trusted_proxies.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let client = ratelimit::ClientAddr(proxies.client(peer.ip(), req.headers()));
                req.extensions_mut().insert(client);
                hyper::service::Service::call(&inner, req)
            });
        let io = connections::WriteTimeout::new(stream, limits.write_timeout, counts.clone());
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.read_timeout);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(counted);
            drop(slot);
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::Origin;

    #[test]
    fn origins_name_the_authorities_agents_may_sign_for() {
        let o = Origin::from_url("https://Pay.Example.com:443/").expect("origin");
        assert_eq!(
            (o.scheme, o.authorities.clone()),
            ("https", vec!["pay.example.com".to_string()])
        );
        let o = Origin::from_url("http://127.0.0.1:7420").expect("origin");
        assert_eq!(o.scheme, "http");
        for a in ["127.0.0.1:7420", "localhost:7420", "[::1]:7420"] {
            assert!(o.authorities.contains(&a.to_string()), "{a}");
        }
        assert!(!o.authorities.contains(&"localhost:7421".to_string()));
        for bad in ["pay.example.com", "ftp://x", "https://", "https://u@h"] {
            assert!(Origin::from_url(bad).is_err(), "{bad}");
        }
    }
}
