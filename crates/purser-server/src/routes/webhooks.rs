//! An agent's own webhook: `/v1/agent/webhook` (signed). Purser POSTs every event of the
//! agent's payments there, signed with the secret this route returns once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::caller::{json, Signed};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetWebhook {
    /// Where Purser POSTs the agent's payment events (http:// or https://, no credentials).
    pub url: String,
}

/// Set or replace this agent's webhook. The answer carries a fresh `whsec_…` secret, shown
/// once, for checking `Merchant-Signature` on deliveries; the previous secret stops working.
#[utoipa::path(post, path = "/v1/agent/webhook", tag = "agent", request_body = SetWebhook,
    security(("http_signature" = [])),
    responses((status = 201, description = "The webhook and its secret (shown once)"),
        (status = 400, description = "Invalid URL", body = ErrorBody),
        (status = 401, description = "Signature refused", body = ErrorBody)))]
pub async fn set(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    let b: SetWebhook = json(&signed.body)?;
    let w = state
        .wallet
        .set_agent_webhook(&signed.agent, &b.url)
        .await?;
    Ok((StatusCode::CREATED, Json(w)).into_response())
}

/// This agent's webhook (never its secret).
#[utoipa::path(get, path = "/v1/agent/webhook", tag = "agent", security(("http_signature" = [])),
    responses((status = 200, description = "The webhook"),
        (status = 404, description = "No webhook set", body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    Ok(Json(state.wallet.agent_webhook(&signed.agent).await?).into_response())
}

/// Remove this agent's webhook: its secret is destroyed and deliveries still pending for it
/// end as failed. `DELETE /v1/agent/webhook` does the same.
#[utoipa::path(post, path = "/v1/agent/webhook/remove", tag = "agent", security(("http_signature" = [])),
    responses((status = 200, description = "The removed webhook"),
        (status = 404, description = "No webhook set", body = ErrorBody)))]
pub async fn remove(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    Ok(Json(state.wallet.remove_agent_webhook(&signed.agent).await?).into_response())
}

/// Remove this agent's webhook (as `POST /v1/agent/webhook/remove`).
#[utoipa::path(delete, path = "/v1/agent/webhook", tag = "agent", security(("http_signature" = [])),
    responses((status = 200, description = "The removed webhook"),
        (status = 404, description = "No webhook set", body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    remove(State(state), signed).await
}
