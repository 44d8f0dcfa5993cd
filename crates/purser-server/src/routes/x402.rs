//! The x402 v2 facilitator: `POST /x402/verify`, `POST /x402/settle`, `GET /x402/supported`,
//! with the specification's request and response field names. The resource server calls
//! verify and settle as a registered merchant (`Authorization: Bearer psk_…`); `payTo` must be
//! that merchant. Payment problems answer 200 with `isValid`/`success` false and the
//! specification's reason code; a malformed body is a 400 in Purser's error shape.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_x402::types::VerifyRequest;

use crate::caller::json;
use crate::error::{ApiResult, ErrorBody};
use crate::idempotency::once;
use crate::merchant_auth::Merchant;
use crate::AppState;

/// The schemes and network this facilitator settles.
#[utoipa::path(get, path = "/x402/supported", tag = "x402",
    responses((status = 200, description = "{kinds: [{x402Version, scheme, network, extra}], extensions, signers}")))]
pub async fn supported(State(state): State<AppState>) -> Response {
    Json(state.wallet.x402_supported()).into_response()
}

/// Check a payment against requirements without moving money. The first valid verify claims
/// the payment: later verifies of it answer `invalid_purser_payload_claimed`.
#[utoipa::path(post, path = "/x402/verify", tag = "x402",
    request_body(content = Object, description = "{x402Version?, paymentPayload, paymentRequirements}"),
    security(("merchant" = [])),
    responses((status = 200, description = "{isValid, invalidReason?, payer?}"),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or unknown merchant key", body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    body: Bytes,
) -> ApiResult<Response> {
    let req: VerifyRequest = json(&body)?;
    Ok(Json(state.wallet.x402_verify(&m, &req).await?).into_response())
}

/// Settle (capture) a verified payment: `exact` the amount, `upto` the amount named in
/// `paymentRequirements.amount` (at most the authorized maximum). Retrying a settle under the
/// same Idempotency-Key answers the first settlement; settling an already-settled payment
/// under no or another key is refused. It never pays twice.
#[utoipa::path(post, path = "/x402/settle", tag = "x402",
    request_body(content = Object, description = "{x402Version?, paymentPayload, paymentRequirements}"),
    security(("merchant" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent: a retry returns the first answer")),
    responses((status = 200, description = "{success, errorReason?, payer?, transaction, network, amount?}"),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or unknown merchant key", body = ErrorBody)))]
pub async fn settle(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let key = crate::idempotency::key(&headers)?;
    let req: VerifyRequest = json(&body)?;
    let scope = format!("{}|POST /x402/settle", m.merchant_id);
    Ok(once(&state, &scope, key.as_deref(), &body, || async {
        let v = state.wallet.x402_settle(&m, &req, key.as_deref()).await?;
        Ok((StatusCode::OK, serde_json::to_value(v).unwrap_or_default()))
    })
    .await)
}
