//! `/v1/ledger/*`: the operator's view of the double-entry ledger.
//!
//! Every write names a client-chosen `id`, which is its idempotency key: repeating a request
//! with the same id and body returns the first result (status 200 and
//! `Idempotent-Replayed: true`); the same id with a different body is refused with 409.
//! An `Idempotency-Key` header, when sent, must equal the body's `id`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_core::ledger::{Op, Outcome};

use super::ledger_dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// The body `id` is the idempotency key; a header that disagrees is a client bug worth
/// catching before anything moves.
fn check_idempotency_key(headers: &HeaderMap, id: &str) -> ApiResult<()> {
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok(k)) if k == id => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "idempotency_key_mismatch",
            "on ledger routes the body's id is the idempotency key; send the same value in Idempotency-Key, or leave the header out",
            "id",
        )),
    }
}

fn respond(outcome: Outcome) -> Response {
    let (v, replayed) = view(&outcome);
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = match v {
        OutcomeView::Account(a) => (status, Json(a)).into_response(),
        OutcomeView::Transfer(t) => (status, Json(t)).into_response(),
    };
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

async fn run_one(state: &AppState, op: Op) -> ApiResult<Response> {
    let outcome = state.ledger.submit_one(op).await??;
    Ok(respond(outcome))
}

/// Open an account.
#[utoipa::path(post, path = "/v1/ledger/accounts", tag = "ledger", request_body = CreateAccount,
    security(("operator" = [])),
    responses(
        (status = 201, description = "Created", body = AccountView),
        (status = 200, description = "Replayed: the account already existed with this content", body = AccountView),
        (status = 409, description = "The id exists with other content", body = ErrorBody),
        (status = 400, description = "Invalid request", body = ErrorBody),
    ))]
pub async fn create_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateAccount>,
) -> ApiResult<Response> {
    check_idempotency_key(&headers, &req.id)?;
    run_one(&state, req.into_op()?).await
}

/// Read an account and its balances.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}", tag = "ledger", security(("operator" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AccountView>> {
    let id = account_id(&id, "id", At(None))?;
    match state.ledger.account(&id).await? {
        Some(a) => Ok(Json((&a).into())),
        None => Err(ApiError::not_found("account", id.as_str())),
    }
}

/// Move money now, or place a hold that reserves it.
#[utoipa::path(post, path = "/v1/ledger/transfers", tag = "ledger", request_body = CreateTransfer,
    security(("operator" = [])),
    responses(
        (status = 201, description = "Created (durable before this answer)", body = TransferView),
        (status = 200, description = "Replayed", body = TransferView),
        (status = 422, description = "Refused by a ledger rule, e.g. insufficient_funds", body = ErrorBody),
        (status = 404, description = "An account does not exist", body = ErrorBody),
        (status = 409, description = "The id exists with other content", body = ErrorBody),
    ))]
pub async fn create_transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateTransfer>,
) -> ApiResult<Response> {
    check_idempotency_key(&headers, &req.id)?;
    run_one(&state, req.into_op()?).await
}

/// Read a transfer.
#[utoipa::path(get, path = "/v1/ledger/transfers/{id}", tag = "ledger", security(("operator" = [])),
    params(("id" = String, Path, description = "Transfer id")),
    responses((status = 200, body = TransferView), (status = 404, body = ErrorBody)))]
pub async fn get_transfer(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TransferView>> {
    let id = transfer_id(&id, "id", At(None))?;
    match state.ledger.transfer(&id).await? {
        Some(t) => Ok(Json((&t).into())),
        None => Err(ApiError::not_found("transfer", id.as_str())),
    }
}

/// Read a hold and its state.
#[utoipa::path(get, path = "/v1/ledger/holds/{id}", tag = "ledger", security(("operator" = [])),
    params(("id" = String, Path, description = "The hold's transfer id")),
    responses((status = 200, body = HoldView), (status = 404, body = ErrorBody)))]
pub async fn get_hold(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HoldView>> {
    let id = transfer_id(&id, "id", At(None))?;
    match state.ledger.hold(&id).await? {
        Some(h) => Ok(Json((&h).into())),
        None => Err(ApiError::not_found("hold", id.as_str())),
    }
}

/// Settle a hold in full or in part; the remainder is released.
#[utoipa::path(post, path = "/v1/ledger/holds/{id}/post", tag = "ledger", request_body = PostHold,
    security(("operator" = [])),
    params(("id" = String, Path, description = "The hold's transfer id")),
    responses(
        (status = 201, body = TransferView), (status = 200, description = "Replayed", body = TransferView),
        (status = 422, description = "Already posted, voided or expired; or more than was held", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn post_hold(
    State(state): State<AppState>,
    ApiPath(pending): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PostHold>,
) -> ApiResult<Response> {
    check_idempotency_key(&headers, &req.id)?;
    let op = Op::Post {
        id: transfer_id(&req.id, "id", At(None))?,
        pending_id: transfer_id(&pending, "pending_id", At(None))?,
        amount: req.amount,
    };
    run_one(&state, op).await
}

/// Release a hold in full.
#[utoipa::path(post, path = "/v1/ledger/holds/{id}/void", tag = "ledger", request_body = VoidHold,
    security(("operator" = [])),
    params(("id" = String, Path, description = "The hold's transfer id")),
    responses(
        (status = 201, body = TransferView), (status = 200, description = "Replayed", body = TransferView),
        (status = 422, description = "Already posted, voided or expired", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn void_hold(
    State(state): State<AppState>,
    ApiPath(pending): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VoidHold>,
) -> ApiResult<Response> {
    check_idempotency_key(&headers, &req.id)?;
    let op = Op::Void {
        id: transfer_id(&req.id, "id", At(None))?,
        pending_id: transfer_id(&pending, "pending_id", At(None))?,
    };
    run_one(&state, op).await
}

/// Several operations in one durable commit, with linked chains.
#[utoipa::path(post, path = "/v1/ledger/batch", tag = "ledger", request_body = BatchRequest,
    security(("operator" = [])),
    responses(
        (status = 200, description = "One result per operation", body = BatchResponse),
        (status = 400, description = "An operation is malformed; nothing was applied", body = ErrorBody),
        (status = 413, description = "Too many operations", body = ErrorBody),
    ))]
pub async fn batch(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> ApiResult<Json<BatchResponse>> {
    if req.operations.is_empty() {
        return Err(ApiError::invalid(
            "empty_batch",
            "send at least one operation",
            "operations",
        ));
    }
    let ops = req
        .operations
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.into_linked(i))
        .collect::<Result<Vec<_>, _>>()?;
    let results = state.ledger.submit(ops).await?;
    let results = results
        .into_iter()
        .map(|r| match r {
            Ok(o) => {
                let (v, replayed) = view(&o);
                let (account, transfer) = match v {
                    OutcomeView::Account(a) => (Some(a), None),
                    OutcomeView::Transfer(t) => (None, Some(t)),
                };
                BatchResult {
                    status: if replayed { "replayed" } else { "created" },
                    account,
                    transfer,
                    error: None,
                }
            }
            Err(e) => BatchResult {
                status: "failed",
                account: None,
                transfer: None,
                error: Some(ApiError::from(e).body),
            },
        })
        .collect();
    Ok(Json(BatchResponse { results }))
}
