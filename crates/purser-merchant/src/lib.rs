//! A small shop that agents can buy from, shipped with Purser as the "website trust" side of an
//! agent payment — and built only on Purser's public libraries (`purser-core`'s HTTP message
//! signature verifier, `purser-ap2`'s mandate verifier and ES256 signer) and Purser's public
//! HTTP API, so a merchant can copy it.
//!
//! - **Catalog** ([`catalog`]): a dozen products in a few categories, CNY minor units;
//!   `GET /products?q=&category=&max_price=&sort=`, `GET /products/{id}`.
//! - **ACP checkout 2026-04-17** ([`checkout`], [`session`], [`http`]): create, update,
//!   retrieve, complete and cancel a session, with the spec's statuses, totals, messages, error
//!   shape and headers (`API-Version`, `Idempotency-Key`, `Request-Id`).
//! - **On complete** ([`verify`]): the agent's RFC 9421 signature is verified with its key from
//!   Purser's public key directory (`GET /v1/agent-keys/{kid}`); an AP2 checkout mandate, when
//!   presented, is verified against Purser's published keys and the exact checkout JWT this
//!   shop signed; then the Purser credential (`pct_…` or an ACP `vt_…`) is captured for the
//!   order total through `POST /v1/merchant/captures`, with an Idempotency-Key derived from the
//!   session and credential. The order exists only once the capture succeeded.
//! - **Merchant authorization** ([`signing`]): every open session carries `ap2.checkout_jwt`,
//!   the cart signed with the shop's own ES256 key (published at `/.well-known/jwks.json`).
//! - **Storage** ([`store`]): its own SQLite file (or memory), never Purser's database.
//!
//! `purser merchant serve` runs it; [`shopper::Shopper`] is the agent's side of the same API.

pub mod catalog;
pub mod checkout;
pub mod error;
pub mod http;
pub mod purser_api;
pub mod session;
pub mod shopper;
pub mod signing;
pub mod store;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use purser_core::Timestamp;
use serde_json::{json, Value};

use crate::purser_api::{PurserApi, PurserError};
use crate::signing::MerchantKey;
use crate::store::Store;

/// Where the shop listens when not told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7430";

/// The database file inside the data directory.
pub const DB_FILE: &str = "merchant.db";

/// How long the shop waits for Purser at start (it may be starting too).
const STARTUP_ATTEMPTS: u32 = 20;

/// How the shop runs.
pub struct Config {
    /// `host:port` (port 0: any free port).
    pub listen: String,
    /// The URL agents use to reach the shop; signed requests must be addressed to it.
    /// Default: `http://` + the address listened on.
    pub public_url: Option<String>,
    /// Purser's base URL, `http://127.0.0.1:7420`.
    pub purser_url: String,
    /// The merchant id Purser gave (`mch_…`); checked against the API key's merchant.
    pub merchant_id: Option<String>,
    /// The merchant API key Purser gave (secret).
    pub api_key: String,
    /// The shop's data directory (SQLite file and signing key); `None`: in memory only.
    pub data_dir: Option<PathBuf>,
    /// Refuse to complete a checkout without an AP2 checkout mandate.
    pub require_mandate: bool,
    /// When set, every checkout call must carry `Authorization: Bearer <this>` (ACP's bearer
    /// authentication of the agent platform). Unset: the checkout API is open, and the agent's
    /// signature is what is checked at completion.
    pub checkout_api_key: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("purser_url", &self.purser_url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// The running shop: everything a request needs.
pub struct Shop {
    pub store: Store,
    pub key: MerchantKey,
    pub api: PurserApi,
    /// `{id, name, website}` as Purser knows the merchant: what the checkout JWT names.
    pub merchant: Value,
    pub merchant_id: String,
    pub base_url: String,
    /// `host:port` values a signed request may be addressed to.
    pub authorities: Vec<String>,
    pub require_mandate: bool,
    pub checkout_api_key: Option<String>,
}

impl Shop {
    pub fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }

    pub fn scheme(&self) -> &'static str {
        if self.base_url.starts_with("https://") {
            "https"
        } else {
            "http"
        }
    }
}

fn authorities_of(base_url: &str, port: u16, loopback: bool) -> Vec<String> {
    let rest = base_url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = rest.split('/').next().unwrap_or("").to_ascii_lowercase();
    let mut out = vec![host];
    if loopback {
        for h in ["127.0.0.1", "localhost"] {
            let a = format!("{h}:{port}");
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn who_am_i(api: &PurserApi) -> Result<Value, String> {
    let mut last = String::new();
    for attempt in 0..STARTUP_ATTEMPTS {
        match api.me() {
            Ok(v) => return Ok(v),
            Err(PurserError::Refused { status: 401, .. }) => {
                return Err("Purser refused the merchant API key: pass the key `purser merchant create` printed (--api-key or PURSER_MERCHANT_API_KEY)".into())
            }
            Err(e) => last = e.to_string(),
        }
        if attempt + 1 < STARTUP_ATTEMPTS {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    Err(format!(
        "cannot reach Purser at {} ({last}); start `purser serve` or pass --purser-url",
        api.base()
    ))
}

/// Builds the shop (opens storage, loads its key, asks Purser who it is) for an address
/// already bound.
pub async fn open(cfg: &Config, addr: std::net::SocketAddr) -> Result<Arc<Shop>, String> {
    if let Some(d) = &cfg.data_dir {
        std::fs::create_dir_all(d)
            .map_err(|e| format!("cannot create the data directory {}: {e}", d.display()))?;
    }
    let base_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let store = Store::open(cfg.data_dir.as_ref().map(|d| d.join(DB_FILE)).as_deref())
        .map_err(|e| e.to_string())?;
    let key = MerchantKey::load_or_create(cfg.data_dir.as_deref())?;
    let api = PurserApi::new(&cfg.purser_url, &cfg.api_key);
    let (api, me) = tokio::task::spawn_blocking(move || who_am_i(&api).map(|me| (api, me)))
        .await
        .map_err(|e| e.to_string())??;
    let merchant_id = me["id"].as_str().unwrap_or_default().to_string();
    if let Some(expected) = &cfg.merchant_id {
        if expected != &merchant_id {
            return Err(format!(
                "the API key belongs to merchant {merchant_id}, not {expected}; pass the matching --merchant-id and --api-key"
            ));
        }
    }
    let mut merchant = json!({"id": merchant_id, "name": me["name"]});
    if let Some(w) = me["website"].as_str() {
        merchant["website"] = json!(w);
    }
    Ok(Arc::new(Shop {
        store,
        key,
        api,
        merchant,
        merchant_id,
        authorities: authorities_of(&base_url, addr.port(), addr.ip().is_loopback()),
        base_url,
        require_mandate: cfg.require_mandate,
        checkout_api_key: cfg.checkout_api_key.clone().filter(|k| !k.is_empty()),
    }))
}

/// Serves a shop [`open`]ed on `listener` until the runtime stops (for a caller that runs the
/// shop beside other work in its own process, as `purser demo` does).
pub async fn serve_on(listener: tokio::net::TcpListener, shop: Arc<Shop>) -> Result<(), String> {
    axum::serve(listener, http::router(shop))
        .await
        .map_err(|e| format!("the shop stopped: {e}"))
}

/// Runs the shop until `shutdown` resolves. Prints where it listens (`Shop: http://…`).
pub async fn serve(
    cfg: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shop = open(&cfg, addr).await?;
    println!("Shop: {}", shop.base_url);
    println!(
        "Merchant: {} ({}), paid through Purser at {}",
        shop.merchant_id,
        shop.merchant["name"].as_str().unwrap_or(""),
        shop.api.base()
    );
    println!(
        "Catalog: {}/products   Checkout: {}/checkout_sessions   Key: {}/.well-known/jwks.json",
        shop.base_url, shop.base_url, shop.base_url
    );
    match &cfg.data_dir {
        Some(d) => println!("Data: {}", d.display()),
        None => println!("Data: in memory (gone when the shop stops)"),
    }
    tracing::info!(addr = %addr, "shop listening");
    axum::serve(listener, http::router(shop))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("the shop stopped: {e}"))
}
