//! `Idempotency-Key` on POSTs that create or move something: the same key and body replays
//! the first answer (with `Idempotent-Replayed: true`); the same key with another body is
//! refused (422 `idempotency_conflict`); a request still running under the key is refused
//! (409 `idempotency_in_flight`, with `Retry-After`).

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_wallet::idempotency::{self, Begin};

use crate::error::ApiError;
use crate::AppState;

/// The header's value, if sent.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| {
                ApiError::invalid(
                    "idempotency_key_invalid",
                    "Idempotency-Key must be visible ASCII (a UUID is ideal)",
                    "Idempotency-Key",
                )
            })?;
            idempotency::check_key(k)?;
            Ok(Some(k.to_string()))
        }
    }
}

/// The header, required: for requests that move money, a retry must be safe.
pub fn required_key(headers: &HeaderMap) -> Result<String, ApiError> {
    key(headers)?.ok_or_else(|| {
        ApiError::invalid(
            "idempotency_key_required",
            "this request moves money, so it needs an Idempotency-Key header (a fresh UUID per payment, reused on retries)",
            "Idempotency-Key",
        )
    })
}

/// Whether a route needs an `Idempotency-Key`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The route moves money: a retry must be safe, so the key is required.
    Required,
    /// Honoured when sent.
    Optional,
}

/// Tries at keeping an answer for replays (50, 200, … ms apart).
const FINISH_ATTEMPTS: u32 = 3;

/// A user's POST to `route`, run at most once per Idempotency-Key. `work` gets the key (always
/// `Some` when it is required).
pub async fn post_once<F, Fut>(
    state: &AppState,
    user_id: &str,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
    need: Key,
    work: F,
) -> Response
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let k = match need {
        Key::Required => required_key(headers).map(Some),
        Key::Optional => key(headers),
    };
    let k = match k {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let scope = format!("{user_id}|POST {route}");
    once(state, &scope, k.clone().as_deref(), body, || work(k)).await
}

/// Run `work` at most once per (scope, key). `scope` names the caller and the route.
pub async fn once<F, Fut>(
    state: &AppState,
    scope: &str,
    key: Option<&str>,
    body: &[u8],
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(key) = key else {
        return into_response(work().await);
    };
    let hash = state.wallet.request_hash(body);
    let now = state.wallet.now();
    match idempotency::begin(state.wallet.db(), scope, key, &hash, now).await {
        Err(e) => {
            let mut r = ApiError::from(e).into_response();
            if r.status() == StatusCode::CONFLICT {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
            }
            r
        }
        Ok(Begin::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut r = (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            r
        }
        Ok(Begin::Fresh { claimed_at }) => {
            let result = work().await;
            let (status, value) = match &result {
                Ok((s, v)) => (*s, v.clone()),
                Err(e) => (
                    e.status,
                    serde_json::to_value(&e.body).unwrap_or(serde_json::Value::Null),
                ),
            };
            // The work is done and durable; keep its answer for replays. A lost database
            // connection is retried (the store reconnects); if it still fails, a retry under
            // the key waits for the takeover window and then converges on the same records
            // (handlers derive their ids from the key).
            let body = value.to_string();
            for attempt in 0..FINISH_ATTEMPTS {
                match idempotency::finish(
                    state.wallet.db(),
                    scope,
                    key,
                    claimed_at,
                    status.as_u16(),
                    &body,
                )
                .await
                {
                    Ok(()) => break,
                    Err(e) if attempt + 1 == FINISH_ATTEMPTS => {
                        tracing::error!(error = %e, "could not keep an idempotent answer; a retry under this key waits for the takeover window");
                    }
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50 << (2 * attempt)))
                            .await;
                    }
                }
            }
            into_response(result)
        }
    }
}

fn into_response(r: Result<(StatusCode, serde_json::Value), ApiError>) -> Response {
    match r {
        Ok((s, v)) => (s, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A serializable value as a created (201) answer.
pub fn created<T: serde::Serialize>(v: T) -> Result<(StatusCode, serde_json::Value), ApiError> {
    ok_with(StatusCode::CREATED, v)
}

pub fn ok<T: serde::Serialize>(v: T) -> Result<(StatusCode, serde_json::Value), ApiError> {
    ok_with(StatusCode::OK, v)
}

fn ok_with<T: serde::Serialize>(
    s: StatusCode,
    v: T,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    serde_json::to_value(v).map(|v| (s, v)).map_err(|e| {
        tracing::error!(error = %e, "could not serialize an answer");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Purser could not write its answer; the change may have been applied, so retry with the same Idempotency-Key",
        )
    })
}
