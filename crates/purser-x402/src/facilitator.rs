//! The resource server's client of a Purser facilitator (`/x402/verify`, `/x402/settle`,
//! `/x402/supported`), authenticated with the merchant's API key.
//!
//! Blocking HTTP (ureq) run on tokio's blocking pool: one request per paid call, with short
//! timeouts, so a slow facilitator costs a blocking thread, never the async workers.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{
    SettleRequest, SettleResponse, SupportedResponse, VerifyRequest, VerifyResponse,
};

/// Connecting to the facilitator: it is usually on the same network as the service.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Waiting for its answer: a settle writes to disk (capture and ledger post) before answering.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest facilitator answer read: its answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Why a facilitator call failed (as opposed to a payment being refused, which is a
/// `VerifyResponse` / `SettleResponse` with `isValid` / `success` false).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacilitatorError {
    /// HTTP status the facilitator answered, or 0 when there was no answer.
    pub status: u16,
    /// Purser's error code (`merchant_key_invalid`, …), or `facilitator_unreachable`.
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for FacilitatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the x402 facilitator: {} ({})", self.message, self.code)
    }
}

impl std::error::Error for FacilitatorError {}

struct Inner {
    base: String,
    api_key: String,
    http: ureq::Agent,
}

/// A Purser facilitator, as one merchant. Cheap to clone. `Debug` never shows the key.
#[derive(Clone)]
pub struct Facilitator(Arc<Inner>);

impl std::fmt::Debug for Facilitator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facilitator")
            .field("url", &self.0.base)
            .finish_non_exhaustive()
    }
}

impl Facilitator {
    /// The Purser server at `base_url` (`http://127.0.0.1:7420`), as the merchant whose API
    /// key (`psk_…`) is `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Result<Facilitator, FacilitatorError> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(FacilitatorError {
                status: 0,
                code: "facilitator_url_invalid".into(),
                message: format!("{base_url:.100} is not an http(s) URL of a Purser server"),
            });
        }
        if api_key.is_empty() || !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FacilitatorError {
                status: 0,
                code: "merchant_key_invalid".into(),
                message: "the merchant API key (psk_…) is empty or has invalid characters".into(),
            });
        }
        let http = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(READ_TIMEOUT)
            .timeout_write(READ_TIMEOUT)
            .redirects(0)
            .user_agent(concat!("purser-x402/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Facilitator(Arc::new(Inner {
            base,
            api_key: api_key.to_string(),
            http,
        })))
    }

    /// The facilitator's base URL.
    pub fn url(&self) -> &str {
        &self.0.base
    }

    /// `GET /x402/supported`.
    pub async fn supported(&self) -> Result<SupportedResponse, FacilitatorError> {
        self.call::<(), _>("GET", "/x402/supported", None, None)
            .await
    }

    /// `POST /x402/verify`: is this payment good for these requirements? Moves no money.
    pub async fn verify(&self, req: &VerifyRequest) -> Result<VerifyResponse, FacilitatorError> {
        self.call("POST", "/x402/verify", Some(req), None).await
    }

    /// `POST /x402/settle`: charge it. `idempotency_key` makes a retry safe.
    pub async fn settle(
        &self,
        req: &SettleRequest,
        idempotency_key: Option<String>,
    ) -> Result<SettleResponse, FacilitatorError> {
        self.call("POST", "/x402/settle", Some(req), idempotency_key)
            .await
    }

    /// `GET /v1/merchant/me`: the merchant id (`mch_…`) this API key belongs to — the `payTo`
    /// of every requirement.
    pub async fn merchant_id(&self) -> Result<String, FacilitatorError> {
        let v: serde_json::Value = self
            .call::<(), _>("GET", "/v1/merchant/me", None, None)
            .await?;
        v.get("id")
            .and_then(|i| i.as_str())
            .map(str::to_string)
            .ok_or_else(|| FacilitatorError {
                status: 200,
                code: "facilitator_answer_invalid".into(),
                message: "GET /v1/merchant/me did not name the merchant".into(),
            })
    }

    async fn call<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        method: &'static str,
        path: &'static str,
        body: Option<&B>,
        idempotency_key: Option<String>,
    ) -> Result<T, FacilitatorError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| FacilitatorError {
                status: 0,
                code: "request_invalid".into(),
                message: format!("the request cannot be encoded: {e}"),
            })?;
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            blocking_call(&inner, method, path, body, idempotency_key)
        })
        .await
        .map_err(|_| FacilitatorError {
            status: 0,
            code: "facilitator_unreachable".into(),
            message: "the facilitator call was interrupted".into(),
        })?
    }
}

fn blocking_call<T: DeserializeOwned>(
    inner: &Inner,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    idempotency_key: Option<String>,
) -> Result<T, FacilitatorError> {
    use std::io::Read;
    let url = format!("{}{path}", inner.base);
    let mut req = inner
        .http
        .request(method, &url)
        .set("Authorization", &format!("Bearer {}", inner.api_key));
    if let Some(k) = &idempotency_key {
        req = req.set("Idempotency-Key", k);
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_bytes(&b),
        None => req.call(),
    };
    let (status, resp) = match result {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(s, r)) => (s, r),
        Err(ureq::Error::Transport(t)) => {
            return Err(FacilitatorError {
                status: 0,
                code: "facilitator_unreachable".into(),
                message: format!("{method} {url} got no answer: {t}"),
            })
        }
    };
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| FacilitatorError {
            status,
            code: "facilitator_unreachable".into(),
            message: format!("reading the answer of {method} {path} failed: {e}"),
        })?;
    if !(200..300).contains(&status) {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        return Err(FacilitatorError {
            status,
            code: text("code").unwrap_or_else(|| format!("http_{status}")),
            message: text("message")
                .unwrap_or_else(|| format!("{method} {path} answered HTTP {status}")),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| FacilitatorError {
        status,
        code: "facilitator_answer_invalid".into(),
        message: format!("{method} {path} answered with unexpected JSON: {e}"),
    })
}
