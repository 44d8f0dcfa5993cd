//! Merchants redeem agents' payment credentials: capture (once, up to the held amount), void,
//! refund. Every POST honours `Idempotency-Key` (required where money moves).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::payments::redeem::{CaptureBody, RefundBody};

use crate::caller::json;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::idempotency::{once, required_key};
use crate::merchant_auth::Merchant;
use crate::AppState;

/// Capture a payment with the credential the agent handed over: once, up to its ceiling; a
/// smaller amount releases the rest of the hold.
#[utoipa::path(post, path = "/v1/merchant/captures", tag = "merchants", request_body(content = Object, description = "{credential: \"pct_…\", amount: {amount, currency}, checkout_id?}"),
    security(("merchant" = [])),
    params(("Idempotency-Key" = String, Header, description = "Required: a retry returns the first answer")),
    responses((status = 200, description = "The captured payment"),
        (status = 403, description = "Issued for another merchant or checkout", body = ErrorBody),
        (status = 404, description = "Unknown or altered credential", body = ErrorBody),
        (status = 409, description = "Already redeemed, voided or expired", body = ErrorBody),
        (status = 422, description = "Above the credential's ceiling", body = ErrorBody)))]
pub async fn capture(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let key = required_key(&headers)?;
    let b: CaptureBody = json(&body)?;
    let scope = format!("{}|POST /v1/merchant/captures", m.merchant_id);
    Ok(once(&state, &scope, Some(&key), &body, || async {
        let v = state.wallet.capture(&m, &b).await?;
        Ok((StatusCode::OK, serde_json::to_value(v).unwrap_or_default()))
    })
    .await)
}

/// Cancel an approved payment you will not capture: its hold is released.
#[utoipa::path(post, path = "/v1/merchant/payments/{id}/void", tag = "merchants", security(("merchant" = [])),
    params(("id" = String, Path, description = "pay_…"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent: a retry returns the first answer")),
    responses((status = 200, description = "The voided payment"), (status = 409, description = "Captured or ended", body = ErrorBody)))]
pub async fn void(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let key = crate::idempotency::key(&headers)?;
    let scope = format!("{}|POST /v1/merchant/payments/{id}/void", m.merchant_id);
    Ok(once(&state, &scope, key.as_deref(), &body, || async {
        let v = state.wallet.void(&m, &id).await?;
        Ok((StatusCode::OK, serde_json::to_value(v).unwrap_or_default()))
    })
    .await)
}

/// Refund a captured payment, in full or in part, back to where the money came from.
#[utoipa::path(post, path = "/v1/merchant/payments/{id}/refunds", tag = "merchants", request_body(content = Object, description = "{amount: {amount, currency}, reason?}"),
    security(("merchant" = [])),
    params(("id" = String, Path, description = "pay_…"), ("Idempotency-Key" = String, Header, description = "Required: one refund per key")),
    responses((status = 200, description = "The payment with its refunded total"),
        (status = 409, description = "Not captured", body = ErrorBody),
        (status = 422, description = "More than what is left to refund", body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let key = required_key(&headers)?;
    let b: RefundBody = json(&body)?;
    let scope = format!("{}|POST /v1/merchant/payments/{id}/refunds", m.merchant_id);
    Ok(once(&state, &scope, Some(&key), &body, || async {
        let v = state.wallet.refund(&m, &id, &key, &b).await?;
        Ok((StatusCode::OK, serde_json::to_value(v).unwrap_or_default()))
    })
    .await)
}

/// A payment made to you.
#[utoipa::path(get, path = "/v1/merchant/payments/{id}", tag = "merchants", security(("merchant" = [])),
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "The payment"), (status = 404, description = "Not yours", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.payment_for_merchant(&m, &id).await?).into_response())
}
