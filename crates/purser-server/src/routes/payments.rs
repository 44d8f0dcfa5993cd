//! Agent payments: the signed payment request and its answer, and the payment as the agent
//! and its user see it.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::payments::PaymentBody;

use crate::caller::{json, Signed, User};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::idempotency::required_key;
use crate::AppState;

/// Ask to pay. The answer's `status` is `approved` (money held; `credential` is the scoped,
/// single-use payment credential to hand to the merchant), `needs_confirmation` (money held;
/// `confirmation.url` is the page the person approves on — poll this payment or its events)
/// or `declined` (`decline.code` and a sentence). Every answer carries a signed `receipt`.
/// Requires `Idempotency-Key`; a retry under it returns the payment with
/// `Idempotent-Replayed: true`.
#[utoipa::path(post, path = "/v1/agent/payments", tag = "agent", request_body(content = Object, description = "PaymentBody: user_id, task_id, mandate_id, merchant {id, name?, website?, country?, category?}, items [{id?, title, quantity, unit_price {amount, currency}}], total {amount, currency}, checkout_id?, funding_source?, credential_ttl_seconds?"),
    security(("http_signature" = [])),
    params(("Idempotency-Key" = String, Header, description = "A fresh key per payment, reused on retries")),
    responses((status = 201, description = "The payment and its decision: approved, needs_confirmation or declined (a replay answers the same)"),
        (status = 400, description = "Malformed request (total not the sum of the items, …)", body = ErrorBody),
        (status = 403, description = "The agent is not bound to that user", body = ErrorBody),
        (status = 409, description = "The same Idempotency-Key is still being decided", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used for another request", body = ErrorBody)))]
pub async fn authorize(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    let key = required_key(&signed.headers)?;
    let body: PaymentBody = json(&signed.body)?;
    match state
        .wallet
        .authorize(&signed.agent, &key, &signed.body, body)
        .await
    {
        Ok((view, replayed)) => {
            let mut r = (StatusCode::CREATED, Json(view)).into_response();
            if replayed {
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            Ok(r)
        }
        Err(e) => {
            let mut r = crate::error::ApiError::from(e).into_response();
            if r.status() == StatusCode::CONFLICT {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
            }
            Ok(r)
        }
    }
}

/// A payment this agent asked for (poll it for the outcome of a confirmation).
#[utoipa::path(get, path = "/v1/agent/payments/{id}", tag = "agent", security(("http_signature" = [])),
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "The payment"), (status = 404, description = "Not this agent's", body = ErrorBody)))]
pub async fn agent_payment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    signed: Signed,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.payment_for_agent(&signed.agent, &id).await?).into_response())
}

/// The payments this agent asked for, newest first, with totals per currency (held,
/// captured, refunded) over everything the filter matches.
#[utoipa::path(get, path = "/v1/agent/payments", tag = "agent", security(("http_signature" = [])),
    params(("user_id" = Option<String>, Query, description = "usr_…: only for this user"),
        ("task_id" = Option<String>, Query, description = "only this task"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20")),
    responses((status = 200, description = "data (payments), totals, has_more"), (status = 400, description = "Bad filter", body = ErrorBody)))]
pub async fn agent_payments(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    signed: Signed,
) -> ApiResult<Response> {
    let limit = match q.get("limit") {
        None => None,
        Some(l) => Some(l.parse::<i64>().map_err(|_| {
            purser_wallet::WalletError::invalid(
                "limit_invalid",
                "limit must be a whole number between 1 and 100",
                "limit",
            )
        })?),
    };
    Ok(Json(
        state
            .wallet
            .agent_payments(
                &signed.agent,
                q.get("user_id").map(String::as_str),
                q.get("task_id").map(String::as_str),
                limit,
            )
            .await?,
    )
    .into_response())
}

/// One of your payments (needs `payments:read`).
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments", security(("user" = [])),
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "The payment"), (status = 404, description = "Not yours", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.payment(&who, &id).await?).into_response())
}
