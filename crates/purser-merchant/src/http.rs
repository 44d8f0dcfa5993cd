//! The shop's HTTP surface: the catalog, ACP checkout with its headers (`API-Version`,
//! `Idempotency-Key` with replay / conflict / in-flight answers, `Request-Id`), and the
//! merchant's public key. Handlers parse headers here and run the operation off the runtime.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use purser_core::httpsig::RequestParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::catalog;
use crate::error::AcpError;
use crate::session::ACP_VERSION;
use crate::store::Begin;
use crate::verify::verify_agent;
use crate::Shop;

/// Largest request body read: an ACP request with a mandate chain is a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest Idempotency-Key (ACP: at most 255 characters).
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Longest Request-Id echoed back.
const MAX_REQUEST_ID: usize = 200;

type AppState = Arc<Shop>;

pub fn router(shop: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/products", get(search))
        .route("/products/:id", get(product))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/checkout_sessions", post(create))
        .route("/checkout_sessions/:id", post(update).get(retrieve))
        .route("/checkout_sessions/:id/complete", post(complete))
        .route("/checkout_sessions/:id/cancel", post(cancel))
        .fallback(|| async {
            AcpError::new(
                404,
                "not_found",
                "no such path on this shop; see /products and /checkout_sessions",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shop)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn request_id(h: &HeaderMap) -> String {
    match header(h, "request-id") {
        Some(r)
            if !r.is_empty()
                && r.len() <= MAX_REQUEST_ID
                && r.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            r.to_string()
        }
        _ => {
            let mut b = [0u8; 12];
            let _ = getrandom::getrandom(&mut b);
            format!("req_{}", hex::encode(b))
        }
    }
}

fn finish(
    status: u16,
    body: Value,
    request_id: &str,
    idem: Option<&str>,
    replayed: bool,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, Json(body)).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("request-id", v);
    }
    if let Some(k) = idem.and_then(|k| HeaderValue::from_str(k).ok()) {
        h.insert("idempotency-key", k);
    }
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    h.insert("api-version", HeaderValue::from_static(ACP_VERSION));
    r
}

fn error_response(e: AcpError, request_id: &str, idem: Option<&str>) -> Response {
    let mut r = e.clone().into_response();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("request-id", v);
    }
    if let Some(k) = idem.and_then(|k| HeaderValue::from_str(k).ok()) {
        r.headers_mut().insert("idempotency-key", k);
    }
    r
}

/// The ACP headers every checkout call carries: the shop's bearer key when it has one, and
/// `API-Version`. Returns who the caller is, for scoping idempotency keys.
fn acp_headers(shop: &Shop, h: &HeaderMap) -> Result<String, AcpError> {
    let caller = match &shop.checkout_api_key {
        Some(expected) => {
            let given = header(h, "authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            let (a, b) = (
                Sha256::digest(given.as_bytes()),
                Sha256::digest(expected.as_bytes()),
            );
            if given.is_empty() || a != b {
                return Err(AcpError::new(
                    401,
                    "unauthorized",
                    "send this shop's checkout API key as 'Authorization: Bearer …'",
                ));
            }
            "key".to_string()
        }
        None => "public".to_string(),
    };
    match header(h, "api-version") {
        Some(ACP_VERSION) => Ok(caller),
        Some(other) => Err(AcpError::bad(
            "unsupported_api_version",
            format!(
                "API-Version {:?} is not supported; supported versions: {ACP_VERSION}",
                other.chars().take(20).collect::<String>()
            ),
        )),
        None => Err(AcpError::bad(
            "api_version_required",
            format!("send the API-Version header; supported versions: {ACP_VERSION}"),
        )),
    }
}

fn idempotency_key(h: &HeaderMap) -> Result<String, AcpError> {
    match header(h, "idempotency-key") {
        None => Err(AcpError::bad(
            "idempotency_key_required",
            "Idempotency-Key header is required",
        )),
        Some(k)
            if k.is_empty()
                || k.len() > MAX_IDEMPOTENCY_KEY
                || !k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Err(AcpError::bad(
                "idempotency_key_invalid",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ))
        }
        Some(k) => Ok(k.to_string()),
    }
}

/// Runs `op` once per (caller, endpoint, Idempotency-Key): a retry with the same body replays
/// the first answer, another body is refused (422), a retry while the first runs gets 409.
/// Answers of 5xx are not kept, so a retry runs again.
fn once(
    shop: &Shop,
    scope: &str,
    key: &str,
    body: &[u8],
    op: impl FnOnce() -> Result<(u16, Value), AcpError>,
) -> Result<(u16, Value, bool), AcpError> {
    let hash = hex::encode(Sha256::digest(body));
    match shop.store.begin(scope, key, &hash, shop.now().0)? {
        Begin::Replay { status, body } => {
            let v = serde_json::from_str(&body).unwrap_or(Value::Null);
            Ok((status, v, true))
        }
        Begin::Conflict => Err(AcpError::new(
            422,
            "idempotency_conflict",
            "Idempotency-Key has already been used with a different request body",
        )),
        Begin::InFlight => Err(AcpError::new(
            409,
            "idempotency_in_flight",
            "A request with this Idempotency-Key is currently being processed",
        )
        .retry_after(1)),
        Begin::New => {
            let (status, v) = match op() {
                Ok(x) => x,
                Err(e) => (e.status, e.body()),
            };
            if status >= 500 {
                shop.store.abandon(scope, key)?;
            } else {
                shop.store.finish(scope, key, status, &v.to_string())?;
            }
            Ok((status, v, false))
        }
    }
}

/// Runs blocking work (SQLite, Purser over HTTP) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AcpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AcpError::internal)
}

/// A POST with ACP headers and idempotency; `op` gets the request body.
async fn acp_post(
    shop: AppState,
    headers: HeaderMap,
    endpoint: String,
    body: Bytes,
    op: impl FnOnce(&Shop, &[u8]) -> Result<(u16, Value), AcpError> + Send + 'static,
) -> Response {
    let rid = request_id(&headers);
    let key = match acp_headers(&shop, &headers)
        .and_then(|caller| Ok((caller, idempotency_key(&headers)?)))
    {
        Ok(k) => k,
        Err(e) => return error_response(e, &rid, None),
    };
    let (caller, idem) = key;
    let idem2 = idem.clone();
    let r = blocking(move || {
        let scope = format!("{caller}|POST {endpoint}");
        once(&shop, &scope, &idem2, &body, || op(&shop, &body))
    })
    .await
    .and_then(|r| r);
    match r {
        Ok((status, v, replayed)) => finish(status, v, &rid, Some(&idem), replayed),
        Err(e) => error_response(e, &rid, Some(&idem)),
    }
}

async fn create(State(shop): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    acp_post(shop, headers, "/checkout_sessions".into(), body, |s, b| {
        s.create(b)
    })
    .await
}

async fn update(
    State(shop): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = format!("/checkout_sessions/{id}");
    acp_post(shop, headers, endpoint, body, move |s, b| s.update(&id, b)).await
}

async fn cancel(
    State(shop): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = format!("/checkout_sessions/{id}/cancel");
    acp_post(shop, headers, endpoint, body, move |s, b| s.cancel(&id, b)).await
}

async fn retrieve(
    State(shop): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rid = request_id(&headers);
    if let Err(e) = acp_headers(&shop, &headers) {
        return error_response(e, &rid, None);
    }
    match blocking(move || shop.get(&id)).await.and_then(|r| r) {
        Ok((s, v)) => finish(s, v, &rid, None, false),
        Err(e) => error_response(e, &rid, None),
    }
}

/// Complete: the agent's signature is checked first (so even a replayed answer goes only to the
/// agent that completed), then the request runs once per Idempotency-Key.
async fn complete(
    State(shop): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rid = request_id(&headers);
    let checked = acp_headers(&shop, &headers).and_then(|_| idempotency_key(&headers));
    let idem = match checked {
        Ok(k) => k,
        Err(e) => return error_response(e, &rid, None),
    };
    let idem2 = idem.clone();
    let r = blocking(move || {
        let pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let authority = header(&headers, "host").unwrap_or("");
        let parts = RequestParts {
            method: method.as_str(),
            scheme: Some(shop.scheme()),
            authority,
            path: uri.path(),
            query: uri.query(),
            headers: &pairs,
        };
        let agent = verify_agent(
            &shop.api,
            &shop.store,
            &parts,
            &body,
            &shop.authorities,
            shop.now(),
        )?;
        let scope = format!("{}|POST /checkout_sessions/{id}/complete", agent.agent_id);
        once(&shop, &scope, &idem2, &body, || {
            let req = crate::checkout::parse(&body)?;
            shop.complete(&id, &agent, req)
        })
    })
    .await
    .and_then(|r| r);
    match r {
        Ok((status, v, replayed)) => finish(status, v, &rid, Some(&idem), replayed),
        Err(e) => error_response(e, &rid, Some(&idem)),
    }
}

async fn search(
    State(shop): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut query = catalog::Query::default();
    for (k, v) in &q {
        match k.as_str() {
            "q" => {
                if v.chars().count() > catalog::MAX_QUERY_CHARS {
                    return AcpError::bad(
                        "query_too_long",
                        format!("q is at most {} characters", catalog::MAX_QUERY_CHARS),
                    )
                    .at("q")
                    .into_response();
                }
                query.q = Some(v.clone());
            }
            "category" => {
                if !catalog::categories().contains(&v.as_str()) {
                    return AcpError::bad(
                        "unknown_category",
                        format!(
                            "category must be one of: {}",
                            catalog::categories().join(", ")
                        ),
                    )
                    .at("category")
                    .into_response();
                }
                query.category = Some(v.clone());
            }
            "max_price" => match v.parse::<i64>() {
                Ok(m) if m >= 0 => query.max_price = Some(m),
                _ => {
                    return AcpError::bad(
                        "invalid_max_price",
                        "max_price is a whole number of minor units (fen): 80000 is ¥800.00",
                    )
                    .at("max_price")
                    .into_response()
                }
            },
            "sort" => match catalog::Sort::parse(v) {
                Some(s) => query.sort = s,
                None => {
                    return AcpError::bad(
                        "invalid_sort",
                        "sort is relevance, price, -price or rating",
                    )
                    .at("sort")
                    .into_response()
                }
            },
            other => {
                return AcpError::bad(
                    "unknown_parameter",
                    format!(
                        "unknown query parameter {:?}; use q, category, max_price, sort",
                        other.chars().take(40).collect::<String>()
                    ),
                )
                .into_response()
            }
        }
    }
    let r = blocking(move || -> Result<Value, AcpError> {
        let stock = shop.store.stock()?;
        let data: Vec<Value> = catalog::search(&query)
            .into_iter()
            .map(|p| p.to_json(stock.get(p.id).copied().unwrap_or(0), &shop.base_url))
            .collect();
        Ok(json!({"object": "list", "count": data.len(), "data": data}))
    })
    .await
    .and_then(|r| r);
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn product(State(shop): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(p) = catalog::product(&id) else {
        return AcpError::new(
            404,
            "product_not_found",
            "there is no such product; search /products for ids",
        )
        .into_response();
    };
    match blocking(move || {
        shop.store
            .stock()
            .map(|s| p.to_json(s.get(p.id).copied().unwrap_or(0), &shop.base_url))
    })
    .await
    {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => AcpError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn jwks(State(shop): State<AppState>) -> Response {
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        Json(shop.key.jwks()),
    )
        .into_response()
}
