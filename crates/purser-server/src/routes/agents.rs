//! Agents and bindings: developers register agents (`/v1/agents`), users decide on bindings
//! (`/v1/bindings`), and agents call `/v1/agent/*` with signed requests.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::bindings::Decision;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::caller::{json, Signed, User};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    pub name: String,
    /// Who runs the agent (company or person).
    pub operator: String,
    /// The agent's Ed25519 public key as a JWK: `{"kty":"OKP","crv":"Ed25519","x":"…"}`.
    #[schema(value_type = Object)]
    pub public_key_jwk: Value,
    /// Proof you hold the private key: its Ed25519 signature (base64url) over
    /// `purser-agent-key-possession:v1:<your user id>:<the key's JWK thumbprint>`.
    #[serde(default)]
    pub key_proof: Option<String>,
    /// Optional Web Bot Auth Signature Agent Card.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub signature_agent_card: Option<Value>,
}

/// Register an agent you develop (needs `developer`).
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = RegisterAgent, security(("user" = [])),
    responses((status = 201, description = "The agent; its key id is the JWK thumbprint"), (status = 400, description = "Invalid key or card", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    User(who): User,
    ApiJson(b): ApiJson<RegisterAgent>,
) -> ApiResult<Response> {
    let a = state
        .wallet
        .register_agent(
            &who,
            &b.name,
            &b.operator,
            &b.public_key_jwk,
            b.key_proof.as_deref(),
            b.signature_agent_card.as_ref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

/// Agents you develop.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", security(("user" = [])), responses((status = 200, description = "Agents")))]
pub async fn list(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    Ok(Json(json!({"data": state.wallet.list_agents(&who).await?})).into_response())
}

/// One agent you develop.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", security(("user" = [])),
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 200, description = "The agent"), (status = 404, description = "Not yours or unknown", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.agent(&who, &id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    #[schema(value_type = Object)]
    pub public_key_jwk: Value,
    /// Proof you hold the new private key (as for registration).
    #[serde(default)]
    pub key_proof: Option<String>,
    /// Hours the current key keeps working (default 24, at most 168).
    #[serde(default)]
    pub grace_hours: Option<i64>,
}

/// Rotate the agent's key: the new key is active at once, the old one works for the grace
/// period.
#[utoipa::path(post, path = "/v1/agents/{id}/keys", tag = "agents", request_body = RotateKey, security(("user" = [])),
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 200, description = "The agent with its keys")))]
pub async fn rotate_key(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<RotateKey>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .wallet
            .rotate_agent_key(
                &who,
                &id,
                &b.public_key_jwk,
                b.key_proof.as_deref(),
                b.grace_hours,
            )
            .await?,
    )
    .into_response())
}

/// Revoke one key now (a leaked key).
#[utoipa::path(post, path = "/v1/agents/{id}/keys/{kid}/revoke", tag = "agents", security(("user" = [])),
    params(("id" = String, Path, description = "agt_…"), ("kid" = String, Path, description = "the key's JWK thumbprint")),
    responses((status = 200, description = "The agent with its keys")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    User(who): User,
    ApiPath((id, kid)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.revoke_agent_key(&who, &id, &kid).await?).into_response())
}

/// Revoke the agent for good: its keys and every binding end now.
#[utoipa::path(post, path = "/v1/agents/{id}/revoke", tag = "agents", security(("user" = [])),
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 200, description = "The revoked agent")))]
pub async fn revoke(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.revoke_agent(&who, &id).await?).into_response())
}

#[derive(Deserialize)]
pub struct StatusFilter {
    pub status: Option<String>,
}

/// Bindings: which agents act, or ask to act, for you.
#[utoipa::path(get, path = "/v1/bindings", tag = "bindings", security(("user" = [])),
    params(("status" = Option<String>, Query, description = "pending, active, declined or revoked")),
    responses((status = 200, description = "Bindings, newest first")))]
pub async fn list_bindings(
    State(state): State<AppState>,
    User(who): User,
    Query(f): Query<StatusFilter>,
) -> ApiResult<Response> {
    let b = state
        .wallet
        .list_bindings(&who, f.status.as_deref())
        .await?;
    Ok(Json(json!({"data": b})).into_response())
}

/// One binding.
#[utoipa::path(get, path = "/v1/bindings/{id}", tag = "bindings", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")),
    responses((status = 200, description = "The binding"), (status = 404, description = "Not yours or unknown", body = ErrorBody)))]
pub async fn get_binding(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.binding(&who, &id).await?).into_response())
}

async fn decide(
    state: AppState,
    who: purser_wallet::Principal,
    id: String,
    d: Decision,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.decide_binding(&who, &id, d).await?).into_response())
}

/// Approve a pending binding: the agent may act for you (within your mandates).
#[utoipa::path(post, path = "/v1/bindings/{id}/approve", tag = "bindings", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")), responses((status = 200, description = "The binding")))]
pub async fn approve(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    decide(s, w, id, Decision::Approve).await
}

/// Decline a pending binding.
#[utoipa::path(post, path = "/v1/bindings/{id}/decline", tag = "bindings", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")), responses((status = 200, description = "The binding")))]
pub async fn decline(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    decide(s, w, id, Decision::Decline).await
}

/// Freeze the agent (kill switch): every request it makes for you is refused from the next one.
#[utoipa::path(post, path = "/v1/bindings/{id}/freeze", tag = "bindings", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")), responses((status = 200, description = "The binding")))]
pub async fn freeze(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    decide(s, w, id, Decision::Freeze).await
}

/// Unfreeze the agent.
#[utoipa::path(post, path = "/v1/bindings/{id}/unfreeze", tag = "bindings", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")), responses((status = 200, description = "The binding")))]
pub async fn unfreeze(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    decide(s, w, id, Decision::Unfreeze).await
}

/// End the binding.
#[utoipa::path(post, path = "/v1/bindings/{id}/revoke", tag = "bindings", security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")), responses((status = 200, description = "The binding")))]
pub async fn revoke_binding(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    decide(s, w, id, Decision::Revoke).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingSource {
    /// `crd_…` (one of your cards), `ecd_…` (an exclusive card of this binding), or null.
    pub funding_source: Option<String>,
}

/// Restrict the agent to one funding source, or lift the restriction.
#[utoipa::path(post, path = "/v1/bindings/{id}/funding-source", tag = "bindings", request_body = FundingSource, security(("user" = [])),
    params(("id" = String, Path, description = "bnd_…")), responses((status = 200, description = "The binding")))]
pub async fn funding_source(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<FundingSource>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .wallet
            .set_funding_source(&who, &id, b.funding_source.as_deref())
            .await?,
    )
    .into_response())
}

/// The signed-in agent: itself, the key that signed, and its bindings.
#[utoipa::path(get, path = "/v1/agent/whoami", tag = "agent", security(("http_signature" = [])),
    responses((status = 200, description = "The agent"), (status = 401, description = "Signature refused (code says which check)", body = ErrorBody)))]
pub async fn whoami(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    let bindings = state.wallet.agent_bindings(&signed.agent).await?;
    let agent = state.wallet.agent_summary(&signed.agent.agent_id).await?;
    Ok(
        Json(json!({"agent": agent, "kid": signed.agent.kid, "bindings": bindings}))
            .into_response(),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingRequest {
    /// The user the agent asks to act for (`usr_…`; the user gives it to the agent).
    pub user_id: String,
    /// What the agent will do for the user, in its own words; shown to the user.
    pub purpose: String,
}

/// Ask a user to let this agent act for them. Nothing is allowed until they approve.
#[utoipa::path(post, path = "/v1/agent/bindings", tag = "agent", request_body = BindingRequest, security(("http_signature" = [])),
    responses((status = 201, description = "The pending binding"), (status = 409, description = "Already asked or bound", body = ErrorBody)))]
pub async fn request_binding(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    let b: BindingRequest = json(&signed.body)?;
    let binding = state
        .wallet
        .request_binding(&signed.agent, &b.user_id, &b.purpose)
        .await?;
    Ok((StatusCode::CREATED, Json(binding)).into_response())
}

/// The money this agent may use for a user: its exclusive cards and any restriction. Never
/// the user's main balance.
#[utoipa::path(get, path = "/v1/agent/users/{user_id}/funds", tag = "agent", security(("http_signature" = [])),
    params(("user_id" = String, Path, description = "usr_…")),
    responses((status = 200, description = "Funds"), (status = 401, description = "Not bound, frozen, or signature refused", body = ErrorBody)))]
pub async fn funds(
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    signed: Signed,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.agent_funds(&signed.agent, &user_id).await?).into_response())
}
