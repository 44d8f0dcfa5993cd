//! The axum/tower middleware a resource server puts in front of a paid route.
//!
//! ```text
//! request without PAYMENT-SIGNATURE      → 402 + PAYMENT-REQUIRED
//! malformed PAYMENT-SIGNATURE            → 400 (Purser's error shape)
//! payment for other requirements         → 402 + PAYMENT-REQUIRED (error says why)
//! payment signed for another resource URL → 402 (resource_mismatch)
//! facilitator verify: invalid            → 402 + PAYMENT-REQUIRED (error = invalidReason;
//!                                          a payment already used: invalid_purser_payload_claimed)
//! valid                                  → the handler runs (with a `Paid` extension). Verify
//!                                          claimed the payment: it unlocks this call only
//!   handler answered 2xx                 → settle (exact: the amount; upto: the handler's
//!                                          `Usage`, clamped to 0..=maximum) → PAYMENT-RESPONSE
//!   settle refused                       → 402 + PAYMENT-RESPONSE (success false); the
//!                                          handler's body is dropped
//!   settle answer lost                   → retried once with the same Idempotency-Key; if
//!                                          still lost, 502 settlement_unknown (it may have
//!                                          been charged: the message names the payment)
//!   handler answered an error            → no charge (upto: settled at 0, releasing the hold;
//!                                          exact: the credential lapses and its hold returns)
//! facilitator unreachable at verify      → 502, nothing charged
//! ```
//!
//! The layer speaks to the facilitator over HTTP only ([`Facilitator`]); it knows nothing of
//! Purser's wallet, so any service can use it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::facilitator::{Facilitator, FacilitatorError};
use crate::header::{self, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE};
use crate::purser::{self, PurserPayload, SCHEME_EXACT, SCHEME_UPTO};
use crate::types::{
    PaymentRequired, PaymentRequirements, ResourceInfo, SettleRequest, VerifyRequest, X402_VERSION,
};

/// Default `maxTimeoutSeconds`: the client has this long from the 402 to settlement. Long
/// enough for an agent to ask Purser for the payment and for the handler to run.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 120;

/// Pause before the one retry of a settle whose answer was lost.
pub const SETTLE_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// Set on the request the handler sees once the payment verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paid {
    /// `exact` or `upto`.
    pub scheme: String,
    /// The amount (exact) or the most the handler may report as used (upto), in minor units.
    pub max_amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Who pays, as the facilitator names them (the agent's id).
    pub payer: Option<String>,
}

/// Put in the handler's response extensions (`(Extension(Usage(n)), body)`) to say how much
/// of an `upto` payment was used, in minor units. Without it the maximum is charged; more
/// than the maximum is cut to the maximum, less than zero to zero (both logged): a client is
/// never charged more than it authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage(pub i64);

/// A configuration error when building a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// One service's connection to its Purser facilitator: makes a [`X402Layer`] per price.
#[derive(Clone, Debug)]
pub struct Paywall {
    facilitator: Facilitator,
    network: String,
    pay_to: String,
    resource_base: String,
}

impl Paywall {
    /// Connect to the Purser at `facilitator_url` as the merchant with `api_key`: learns the
    /// network (`GET /x402/supported`) and the merchant id that becomes `payTo`
    /// (`GET /v1/merchant/me`). `resource_base` is this service's public origin
    /// (`https://api.example.com`): resource URLs are `resource_base` + path and query.
    pub async fn connect(
        facilitator_url: &str,
        api_key: &str,
        resource_base: &str,
    ) -> Result<Paywall, FacilitatorError> {
        let f = Facilitator::new(facilitator_url, api_key)?;
        let supported = f.supported().await?;
        let network = supported
            .kinds
            .iter()
            .find(|k| k.x402_version == X402_VERSION && purser::is_purser_network(&k.network))
            .map(|k| k.network.clone())
            .ok_or_else(|| FacilitatorError {
                status: 200,
                code: "facilitator_not_purser".into(),
                message: "the facilitator supports no Purser network (purser:…) for x402 version 2"
                    .into(),
            })?;
        let pay_to = f.merchant_id().await?;
        Ok(Paywall::new(f, &network, &pay_to, resource_base))
    }

    /// Without discovery: the network and merchant id given.
    pub fn new(
        facilitator: Facilitator,
        network: &str,
        pay_to: &str,
        resource_base: &str,
    ) -> Paywall {
        Paywall {
            facilitator,
            network: network.to_string(),
            pay_to: pay_to.to_string(),
            resource_base: resource_base.trim_end_matches('/').to_string(),
        }
    }

    pub fn network(&self) -> &str {
        &self.network
    }

    pub fn pay_to(&self) -> &str {
        &self.pay_to
    }

    /// Charge exactly `amount` minor units of `currency` per successful call.
    pub fn exact(&self, amount: i64, currency: &str) -> Result<X402Layer, ConfigError> {
        self.layer(SCHEME_EXACT, amount, currency)
    }

    /// Charge what the handler reports as used ([`Usage`]), at most `max` minor units.
    pub fn upto(&self, max: i64, currency: &str) -> Result<X402Layer, ConfigError> {
        self.layer(SCHEME_UPTO, max, currency)
    }

    fn layer(&self, scheme: &str, amount: i64, currency: &str) -> Result<X402Layer, ConfigError> {
        if amount <= 0 {
            return Err(ConfigError(format!(
                "the price must be at least 1 minor unit, not {amount}"
            )));
        }
        if !purser::is_currency_code(currency) {
            return Err(ConfigError(format!(
                "{currency:.10} is not an ISO 4217 code such as CNY"
            )));
        }
        let requirement = PaymentRequirements {
            scheme: scheme.to_string(),
            network: self.network.clone(),
            amount: amount.to_string(),
            asset: currency.to_string(),
            pay_to: self.pay_to.clone(),
            max_timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            extra: None,
        };
        purser::check_requirements(&requirement).map_err(|(_, m)| ConfigError(m))?;
        Ok(X402Layer(Arc::new(Route {
            facilitator: self.facilitator.clone(),
            resource_base: self.resource_base.clone(),
            requirement,
            amount,
            description: None,
            mime_type: None,
        })))
    }
}

struct Route {
    facilitator: Facilitator,
    resource_base: String,
    requirement: PaymentRequirements,
    amount: i64,
    description: Option<String>,
    mime_type: Option<String>,
}

/// The tower `Layer` for one price. Add it to a route: `get(handler).layer(layer)`.
#[derive(Clone)]
pub struct X402Layer(Arc<Route>);

impl X402Layer {
    /// What the resource is, shown to the payer (`ResourceInfo.description`).
    pub fn description(self, d: &str) -> X402Layer {
        self.edit(|r| r.description = Some(d.to_string()))
    }

    /// The MIME type of a successful answer (`ResourceInfo.mimeType`).
    pub fn mime_type(self, m: &str) -> X402Layer {
        self.edit(|r| r.mime_type = Some(m.to_string()))
    }

    /// `maxTimeoutSeconds` (1 s to a day; default [`DEFAULT_TIMEOUT_SECONDS`]).
    pub fn timeout_seconds(self, s: u64) -> X402Layer {
        let s = s.clamp(1, purser::MAX_TIMEOUT_SECONDS);
        self.edit(|r| r.requirement.max_timeout_seconds = s)
    }

    fn edit(self, f: impl FnOnce(&mut Route)) -> X402Layer {
        let mut r = Route {
            facilitator: self.0.facilitator.clone(),
            resource_base: self.0.resource_base.clone(),
            requirement: self.0.requirement.clone(),
            amount: self.0.amount,
            description: self.0.description.clone(),
            mime_type: self.0.mime_type.clone(),
        };
        f(&mut r);
        X402Layer(Arc::new(r))
    }

    /// The requirement this layer asks for.
    pub fn requirement(&self) -> &PaymentRequirements {
        &self.0.requirement
    }
}

impl<S> tower_layer::Layer<S> for X402Layer {
    type Service = X402Service<S>;

    fn layer(&self, inner: S) -> X402Service<S> {
        X402Service {
            inner,
            route: self.0.clone(),
        }
    }
}

/// The service [`X402Layer`] wraps around a handler.
#[derive(Clone)]
pub struct X402Service<S> {
    inner: S,
    route: Arc<Route>,
}

impl<S> tower_service::Service<Request<Body>> for X402Service<S>
where
    S: tower_service::Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone is not ready; the ready one is taken (tower's usual dance).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let route = self.route.clone();
        Box::pin(serve(route, inner, req))
    }
}

async fn serve<S>(
    route: Arc<Route>,
    mut inner: S,
    mut req: Request<Body>,
) -> Result<Response, S::Error>
where
    S: tower_service::Service<Request<Body>, Response = Response>,
{
    let resource = ResourceInfo {
        url: format!(
            "{}{}",
            route.resource_base,
            req.uri().path_and_query().map_or("/", |p| p.as_str())
        ),
        description: route.description.clone(),
        mime_type: route.mime_type.clone(),
    };
    let Some(h) = req.headers().get(PAYMENT_SIGNATURE) else {
        return Ok(payment_required(
            &route,
            &resource,
            "PAYMENT-SIGNATURE header is required",
            None,
        ));
    };
    let payment = match header::decode_payment_signature(h.as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                e.code,
                &e.message,
                Some(PAYMENT_SIGNATURE),
            ))
        }
    };
    if payment.accepted != route.requirement {
        return Ok(payment_required(
            &route,
            &resource,
            "the payment was made for other requirements (scheme, network, amount, asset, payTo or maxTimeoutSeconds) than this resource asks; pay one of those in PAYMENT-REQUIRED",
            Some("requirements_mismatch"),
        ));
    }
    let signed = match PurserPayload::from_value(&payment.payload) {
        Ok(p) => p,
        Err(m) => {
            return Ok(payment_required(
                &route,
                &resource,
                &m,
                Some("invalid_payload"),
            ))
        }
    };
    // The URL the agent signed (and the person saw) must be the one served here.
    if signed.authorization.resource != resource.url
        || payment
            .resource
            .as_ref()
            .is_some_and(|r| r.url != resource.url)
    {
        return Ok(payment_required(
            &route,
            &resource,
            "the payment was made for another resource URL",
            Some("resource_mismatch"),
        ));
    }
    let nonce = signed.authorization.nonce;
    let payment_id = signed.authorization.payment_id;
    let verify = VerifyRequest {
        x402_version: Some(X402_VERSION),
        payment_payload: payment.clone(),
        payment_requirements: route.requirement.clone(),
    };
    let verdict = match route.facilitator.verify(&verify).await {
        Ok(v) => v,
        Err(e) => return Ok(facilitator_down(&e)),
    };
    if !verdict.is_valid {
        let reason = verdict
            .invalid_reason
            .unwrap_or_else(|| "invalid_payload".into());
        return Ok(payment_required(
            &route,
            &resource,
            &format!("the payment was refused: {reason}"),
            Some(&reason),
        ));
    }
    req.extensions_mut().insert(Paid {
        scheme: route.requirement.scheme.clone(),
        max_amount: route.amount,
        currency: route.requirement.asset.clone(),
        payer: verdict.payer.clone(),
    });
    let mut resp = inner.call(req).await?;
    let upto = route.requirement.scheme == SCHEME_UPTO;
    let charge = if !resp.status().is_success() {
        if !upto {
            // Nothing is settled: the credential lapses and Purser releases its hold.
            return Ok(resp);
        }
        0
    } else if upto {
        match resp.extensions().get::<Usage>() {
            Some(Usage(n)) if (0..=route.amount).contains(n) => *n,
            Some(Usage(n)) if *n < 0 => {
                tracing::warn!(
                    reported = n,
                    "x402: the handler reported negative usage; charging nothing"
                );
                0
            }
            Some(Usage(n)) => {
                tracing::warn!(
                    reported = n,
                    max = route.amount,
                    "x402: the handler reported usage above the maximum; charging the maximum"
                );
                route.amount
            }
            None => route.amount,
        }
    } else {
        route.amount
    };
    let mut requirements = route.requirement.clone();
    requirements.amount = charge.to_string();
    let settle = SettleRequest {
        x402_version: Some(X402_VERSION),
        payment_payload: payment,
        payment_requirements: requirements,
    };
    // Verify claimed the payment, so this is the only settle of it from this layer: the nonce
    // names it, and a retry with the same key is answered as the first settle.
    let key = format!("x402-settle-{nonce}");
    let mut attempt = route.facilitator.settle(&settle, Some(key.clone())).await;
    if attempt.as_ref().is_err_and(outcome_unknown) {
        // The answer was lost (or the first settle is still running): settle is idempotent
        // under the same key, so ask once more.
        tokio::time::sleep(SETTLE_RETRY_DELAY).await;
        attempt = route.facilitator.settle(&settle, Some(key)).await;
    }
    let settled = match attempt {
        Ok(s) => s,
        Err(e) if resp.status().is_success() && outcome_unknown(&e) => {
            return Ok(settlement_unknown(&e, &payment_id))
        }
        Err(e) if resp.status().is_success() => return Ok(facilitator_down(&e)),
        Err(e) => {
            tracing::warn!(code = %e.code, "x402: releasing an unused upto payment failed; its hold lapses on its own");
            return Ok(resp);
        }
    };
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let encoded = header::encode(&settled)
        .ok()
        .and_then(|h| HeaderValue::from_str(&h).ok());
    if !settled.success {
        let reason = settled
            .error_reason
            .clone()
            .unwrap_or_else(|| "settlement_failed".into());
        let mut r = payment_required(
            &route,
            &resource,
            &format!("the payment could not be settled: {reason}"),
            Some(&reason),
        );
        if let Some(h) = encoded {
            r.headers_mut().insert(PAYMENT_RESPONSE, h);
        }
        return Ok(r);
    }
    if let Some(h) = encoded {
        resp.headers_mut().insert(PAYMENT_RESPONSE, h);
    }
    Ok(resp)
}

/// 402 with `PAYMENT-REQUIRED`, and a Purser-shaped JSON body saying the same for a person.
fn payment_required(
    route: &Route,
    resource: &ResourceInfo,
    why: &str,
    code: Option<&str>,
) -> Response {
    let body = PaymentRequired {
        x402_version: X402_VERSION,
        error: Some(why.to_string()),
        resource: Some(resource.clone()),
        accepts: vec![route.requirement.clone()],
        extensions: None,
    };
    let mut r = error(
        StatusCode::PAYMENT_REQUIRED,
        code.unwrap_or("payment_required"),
        why,
        None,
    );
    if let Some(h) = header::encode(&body)
        .ok()
        .and_then(|h| HeaderValue::from_str(&h).ok())
    {
        r.headers_mut().insert(PAYMENT_REQUIRED, h);
    }
    r
}

/// Whether a failed facilitator call may have acted: no answer, a server error, or a request
/// still running under the key. A 4xx other than 409 was refused before anything moved.
fn outcome_unknown(e: &FacilitatorError) -> bool {
    e.status == 0 || e.status == 409 || e.status >= 500
}

fn facilitator_down(e: &FacilitatorError) -> Response {
    tracing::warn!(code = %e.code, status = e.status, "x402: the facilitator failed");
    error(
        StatusCode::BAD_GATEWAY,
        "facilitator_unavailable",
        "the payment could not be checked with the payment facilitator just now; nothing was charged. If the same payment is now refused as already used, pay again: an unused payment's hold is released when its credential expires",
        None,
    )
}

/// The settle's outcome is unknown after a retry: it may have been captured.
fn settlement_unknown(e: &FacilitatorError, payment_id: &str) -> Response {
    tracing::warn!(code = %e.code, status = e.status, payment = %payment_id, "x402: the settlement's outcome is unknown");
    error(
        StatusCode::BAD_GATEWAY,
        "settlement_unknown",
        &format!(
            "the resource was served but the payment facilitator did not confirm the settlement, so it is unknown whether Purser payment {payment_id:.64} was charged; check its status in Purser (captured means it was charged) before paying again"
        ),
        None,
    )
}

fn error(status: StatusCode, code: &str, message: &str, param: Option<&str>) -> Response {
    let kind = if status.is_server_error() {
        "processing_error"
    } else {
        "invalid_request"
    };
    let mut body = serde_json::json!({"type": kind, "code": code, "message": message});
    if let Some(p) = param {
        body["param"] = p.into();
    }
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::routing::get;
    use axum::{Extension, Router};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::purser::PurserAuthorization;
    use crate::types::PaymentPayload;

    /// What the fake facilitator saw: (path, Idempotency-Key, body).
    type Seen = Arc<Mutex<Vec<(String, Option<String>, serde_json::Value)>>>;

    /// A facilitator over real HTTP that answers verify valid and settle success, but closes
    /// the connection without answering the first `drop_settles` settles (a lost answer).
    async fn fake_facilitator(drop_settles: usize) -> (String, Seen) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            let mut dropped = 0;
            loop {
                let (mut sock, _) = l.accept().await.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break (head.to_string(), body.to_string());
                        }
                    }
                    if n == 0 {
                        break (text, String::new());
                    }
                };
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                let key = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(": ")?;
                    k.eq_ignore_ascii_case("idempotency-key")
                        .then(|| v.to_string())
                });
                let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                log.lock().unwrap().push((path.clone(), key, body.clone()));
                let answer = if path == "/x402/verify" {
                    serde_json::json!({"isValid": true, "payer": "agt_1"})
                } else {
                    if dropped < drop_settles {
                        dropped += 1;
                        drop(sock);
                        continue;
                    }
                    serde_json::json!({"success": true, "transaction": "pay_1", "network": "purser:test",
                        "amount": body["paymentRequirements"]["amount"]})
                };
                let a = answer.to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{a}",
                    a.len()
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        (url, seen)
    }

    fn app(facilitator: &str) -> (Router, X402Layer, X402Layer) {
        let f = Facilitator::new(facilitator, "psk_test").unwrap();
        let paywall = Paywall::new(f, "purser:test", "mch_1", "http://svc.test");
        let exact = paywall.exact(150, "CNY").unwrap();
        let upto = paywall.upto(500, "CNY").unwrap();
        let router = Router::new()
            .route("/a", get(|| async { "a" }).layer(exact.clone()))
            .route("/b", get(|| async { "b" }).layer(exact.clone()))
            .route(
                "/neg",
                get(|| async { (Extension(Usage(-5)), "negative") }).layer(upto.clone()),
            );
        (router, exact, upto)
    }

    fn header_for(requirement: &PaymentRequirements, resource: &str) -> String {
        let payload = PaymentPayload {
            x402_version: X402_VERSION,
            resource: Some(ResourceInfo {
                url: resource.into(),
                description: None,
                mime_type: None,
            }),
            accepted: requirement.clone(),
            payload: serde_json::to_value(PurserPayload {
                credential: "pct_x_y".into(),
                authorization: PurserAuthorization {
                    payment_id: "pay_1".into(),
                    resource: resource.into(),
                    nonce: "abcdefghijklmnopqrstuv".into(),
                    valid_after: "100".into(),
                    valid_before: "160".into(),
                    keyid: "kid".into(),
                },
                signature: "sig".into(),
            })
            .unwrap(),
            extensions: None,
        };
        header::encode(&payload).unwrap()
    }

    async fn get_with(router: &mut Router, path: &str, h: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .uri(path)
            .header(PAYMENT_SIGNATURE, h)
            .body(Body::empty())
            .unwrap();
        let resp = tower_service::Service::call(router, req).await.unwrap();
        let status = resp.status();
        let has_response = resp.headers().contains_key(PAYMENT_RESPONSE);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(
            |_| serde_json::json!({"text": String::from_utf8_lossy(&bytes), "paid": has_response}),
        );
        (status, body)
    }

    fn settles(seen: &Seen) -> Vec<(Option<String>, serde_json::Value)> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == "/x402/settle")
            .map(|(_, k, b)| (k.clone(), b.clone()))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_settle_answer_is_retried_once_with_the_same_key() {
        let (url, seen) = fake_facilitator(1).await;
        let (mut router, exact, _) = app(&url);
        let h = header_for(exact.requirement(), "http://svc.test/a");
        let (status, body) = get_with(&mut router, "/a", &h).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, serde_json::json!({"text": "a", "paid": true}));
        let s = settles(&seen);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].0.is_some());
        assert_eq!(s[0].0, s[1].0, "the retry must reuse the Idempotency-Key");
        assert_eq!(s[0].1, s[1].1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_settlement_never_claims_nothing_was_charged() {
        let (url, seen) = fake_facilitator(2).await;
        let (mut router, exact, _) = app(&url);
        let h = header_for(exact.requirement(), "http://svc.test/a");
        let (status, body) = get_with(&mut router, "/a", &h).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["code"], "settlement_unknown", "{body}");
        let m = body["message"].as_str().unwrap();
        assert!(m.contains("pay_1") && m.contains("unknown"), "{m}");
        assert!(!m.contains("nothing was charged"), "{m}");
        assert_eq!(settles(&seen).len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_signed_for_another_url_is_refused_before_verify() {
        let (url, seen) = fake_facilitator(0).await;
        let (mut router, exact, _) = app(&url);
        // Signed for /a, presented at /b, with and without the payload's `resource`.
        let h = header_for(exact.requirement(), "http://svc.test/a");
        let (status, body) = get_with(&mut router, "/b", &h).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert_eq!(body["code"], "resource_mismatch", "{body}");
        let mut p = header::decode_payment_signature(h.as_bytes()).unwrap();
        p.resource = None;
        let h = header::encode(&p).unwrap();
        let (status, body) = get_with(&mut router, "/b", &h).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert_eq!(body["code"], "resource_mismatch", "{body}");
        assert!(seen.lock().unwrap().is_empty(), "the facilitator was asked");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn negative_usage_is_charged_nothing() {
        let (url, seen) = fake_facilitator(0).await;
        let (mut router, _, upto) = app(&url);
        let h = header_for(upto.requirement(), "http://svc.test/neg");
        let (status, body) = get_with(&mut router, "/neg", &h).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let s = settles(&seen);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1["paymentRequirements"]["amount"], "0", "{:?}", s[0].1);
    }
}
