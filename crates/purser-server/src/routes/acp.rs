//! ACP delegated payment over HTTP (`POST /agentic_commerce/delegate_payment`, ACP
//! 2026-04-17) and the person's ACP keys for it. The handler checks ACP's headers in a fixed
//! order — `Authorization: Bearer pak_…` (401), `API-Version` (400), `Timestamp` when sent
//! (400), `Idempotency-Key` (400) — then hands the body to `purser_wallet::acp`. Every answer,
//! error or not, echoes `Request-Id`. See docs/acp.md.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::acp::{self, DelegatePaymentRequest, NewAcpKey};

use crate::caller::{json, User};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::idempotency;
use crate::AppState;

/// How far `Timestamp` may be from Purser's clock: ACP's replay window for signed requests
/// (the same five minutes as webhook signatures).
pub const TIMESTAMP_TOLERANCE_MS: i64 = 5 * 60 * 1000;
/// Longest `Request-Id` echoed back.
pub const MAX_REQUEST_ID_LEN: usize = 255;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = header(h, "authorization")?;
    match v.get(..7) {
        Some(s) if s.eq_ignore_ascii_case("bearer ") => v.get(7..).map(str::trim),
        _ => None,
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The checks before the body, in order; `Ok` is the caller and its Idempotency-Key.
async fn check_headers(
    state: &AppState,
    h: &HeaderMap,
) -> Result<(acp::AcpCaller, String), ApiError> {
    let key = bearer(h).ok_or_else(|| {
        unauthorized(
            "send the ACP key the person issued for this agent as 'Authorization: Bearer pak_…'",
        )
    })?;
    let caller = state.wallet.authenticate_acp(key).await?;
    match header(h, "api-version") {
        None => {
            return Err(ApiError::invalid(
                "api_version_required",
                format!(
                    "send the API-Version header: Purser speaks ACP {}",
                    acp::API_VERSION
                ),
                "API-Version",
            ))
        }
        Some(v) if v.trim() != acp::API_VERSION => {
            return Err(ApiError::invalid(
                "api_version_unsupported",
                format!(
                    "Purser speaks ACP {} only; send 'API-Version: {}'",
                    acp::API_VERSION,
                    acp::API_VERSION
                ),
                "API-Version",
            ))
        }
        Some(_) => {}
    }
    if let Some(t) = h.get("timestamp") {
        let at = t
            .to_str()
            .ok()
            .and_then(acp::parse_instant)
            .ok_or_else(|| {
                ApiError::invalid(
                    "timestamp_invalid",
                    "Timestamp must be an RFC 3339 date-time (e.g. 2026-04-17T10:30:00Z)",
                    "Timestamp",
                )
            })?;
        if at.0.abs_diff(state.wallet.now().0) > TIMESTAMP_TOLERANCE_MS.unsigned_abs() {
            return Err(ApiError::invalid(
                "timestamp_invalid",
                "Timestamp is more than five minutes from Purser's clock; send the time the request was made",
                "Timestamp",
            ));
        }
    }
    let k = idempotency::key(h)?.ok_or_else(|| {
        ApiError::invalid(
            "idempotency_key_required",
            "Idempotency-Key header is required (a fresh UUID per payment, reused on retries)",
            "Idempotency-Key",
        )
    })?;
    Ok((caller, k))
}

fn content_type_json(h: &HeaderMap) -> bool {
    header(h, "content-type").is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Tokenize a card of the person's Purser wallet for one merchant, one checkout, one amount
/// and a short time (ACP delegate payment). The payment is decided as every agent payment is —
/// mandate, budgets, funds, anomaly rules — and held; the answer's `id` (`vt_…`) is what the
/// merchant redeems at `POST /v1/merchant/captures`. `metadata.purser_status` is `approved`
/// or `needs_confirmation` (then `metadata.purser_confirmation_url` is where the person
/// approves; the token works once they do). Declines answer 422 with the decline's code.
#[utoipa::path(post, path = "/agentic_commerce/delegate_payment", tag = "acp",
    request_body(content = Object, description = "ACP 2026-04-17 DelegatePaymentRequest: payment_method (card), allowance, billing_address?, risk_signals, metadata"),
    security(("acp_key" = [])),
    params(("API-Version" = String, Header, description = "2026-04-17"),
        ("Idempotency-Key" = String, Header, description = "Required; a retry returns the payment as it stands"),
        ("Request-Id" = Option<String>, Header, description = "Echoed back"),
        ("Timestamp" = Option<String>, Header, description = "RFC 3339; refused when more than 5 minutes off")),
    responses((status = 201, description = "DelegatePaymentResponse: {id: vt_…, created, metadata}"),
        (status = 400, description = "Malformed request or headers", body = ErrorBody),
        (status = 401, description = "Unknown, revoked or expired ACP key", body = ErrorBody),
        (status = 409, description = "The same Idempotency-Key is still being decided", body = ErrorBody),
        (status = 422, description = "Declined (mandate, funds, risk), or the Idempotency-Key was used for another request", body = ErrorBody)))]
pub async fn delegate_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = header(&headers, "request-id")
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN)
        .and_then(|v| HeaderValue::from_str(v).ok());
    let mut r = match answer(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = e.into_response();
            if r.status() == StatusCode::CONFLICT {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
            }
            r
        }
    };
    if let Some(id) = request_id {
        r.headers_mut().insert("request-id", id);
    }
    r
}

async fn answer(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let (caller, key) = check_headers(state, headers).await?;
    if !content_type_json(headers) {
        return Err(ApiError::invalid(
            "invalid_content_type",
            "send the body as JSON with 'Content-Type: application/json'",
            "Content-Type",
        ));
    }
    let req: DelegatePaymentRequest = json(body)?;
    let (answer, replayed) = state.wallet.delegate_payment(&caller, &key, req).await?;
    let mut r = match answer {
        Ok(a) => (StatusCode::CREATED, Json(a)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(r)
}

/// Issue an ACP key for one of your active bindings (needs `agents:write`): the Bearer an ACP
/// agent platform sends to `/agentic_commerce/delegate_payment` for this agent and you. The
/// key is shown once (not kept under an Idempotency-Key, since a kept answer would keep it).
#[utoipa::path(post, path = "/v1/bindings/{id}/acp-keys", tag = "acp", security(("user" = [])),
    request_body(content = Object, description = "{name?, ttl_days? (1–366, default 90)}"),
    params(("id" = String, Path, description = "bnd_…")),
    responses((status = 201, description = "The key (`key`: pak_…, shown once) and its details"),
        (status = 409, description = "The binding is not active, or has 10 live keys", body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: NewAcpKey = json(&body)?;
    let k = state.wallet.create_acp_key(&who, &id, &req).await?;
    Ok((StatusCode::CREATED, Json(k)).into_response())
}

/// The ACP keys of one of your bindings (needs `agents:read`; never their secrets).
#[utoipa::path(get, path = "/v1/bindings/{id}/acp-keys", tag = "acp", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")),
    responses((status = 200, description = "{data: [...]}")))]
pub async fn list_keys(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let keys = state.wallet.list_acp_keys(&who, &id).await?;
    Ok(Json(serde_json::json!({ "data": keys })).into_response())
}

/// Revoke an ACP key (needs `agents:write`): its next request is refused.
#[utoipa::path(post, path = "/v1/acp-keys/{id}/revoke", tag = "acp", security(("user" = [])),
    params(("id" = String, Path, description = "apk_…")),
    responses((status = 200, description = "The key, revoked"), (status = 404, description = "Not yours", body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.revoke_acp_key(&who, &id).await?).into_response())
}
