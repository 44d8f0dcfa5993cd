//! Users and tokens: `/v1/users` (operator), `/v1/setup`, `/v1/me`, `/v1/tokens`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::caller::User;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// How the person is called, as shown in the wallet.
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// Create a user (operator). The answer carries a one-time setup token, valid 24 hours.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    security(("operator" = [])),
    responses((status = 201, description = "The user and their one-time setup token"),
        (status = 400, description = "Invalid", body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<Response> {
    let u = state
        .wallet
        .create_user(&body.name, body.email.as_deref())
        .await?;
    let link = format!("{}/setup#{}", state.public_url, u.setup_token);
    let mut v = serde_json::to_value(&u).map_err(|_| internal())?;
    v["setup_link"] = json!(link);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Purser could not write its answer",
    )
}

/// A user, by id (operator).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("operator" = [])),
    params(("id" = String, Path, description = "usr_…")),
    responses((status = 200, description = "The user"), (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.user(&id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The one-time `pss_…` token from `purser user create`.
    pub setup_token: String,
    /// A name for the API token this creates (e.g. "laptop").
    #[serde(default)]
    pub token_name: Option<String>,
}

/// Exchange a setup token (once) for the user's first API token, with every scope.
#[utoipa::path(post, path = "/v1/setup", tag = "users", request_body = Setup,
    responses((status = 201, description = "The user and their API token (shown once)"),
        (status = 401, description = "Unknown, used or expired setup token", body = ErrorBody)))]
pub async fn setup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Setup>,
) -> ApiResult<Response> {
    let (user, token) = state
        .wallet
        .complete_setup(
            &body.setup_token,
            body.token_name.as_deref().unwrap_or("first token"),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user, "token": token})),
    )
        .into_response())
}

/// The user this token belongs to, and the token's scopes.
#[utoipa::path(get, path = "/v1/me", tag = "users", security(("user" = [])),
    responses((status = 200, description = "Who you are"), (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    let user = state.wallet.user(&who.user_id).await?;
    let scopes: Vec<&str> = who.scopes.iter().map(|s| s.as_str()).collect();
    Ok(Json(json!({"user": user, "token_id": who.token_id, "scopes": scopes})).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Scopes: wallet:read, wallet:write, agents:read, agents:write, developer, tokens.
    /// Empty: the same scopes as the token making the request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime in days (default 90, at most 366).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// Create an API token (needs `tokens`). The secret is shown once.
#[utoipa::path(post, path = "/v1/tokens", tag = "users", request_body = CreateToken, security(("user" = [])),
    responses((status = 201, description = "The token, with its secret shown once"), (status = 403, description = "Scope missing", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    User(who): User,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<Response> {
    let t = state
        .wallet
        .create_token(&who, &body.name, &body.scopes, body.expires_in_days)
        .await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

/// Your API tokens (never their secrets).
#[utoipa::path(get, path = "/v1/tokens", tag = "users", security(("user" = [])),
    responses((status = 200, description = "Tokens")))]
pub async fn list_tokens(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    let t = state.wallet.list_tokens(&who).await?;
    Ok(Json(json!({"data": t})).into_response())
}

/// Revoke a token; effective on the very next request.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "users", security(("user" = [])),
    params(("id" = String, Path, description = "tok_…")),
    responses((status = 200, description = "The revoked token"), (status = 404, description = "Not yours or unknown", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.revoke_token(&who, &id).await?).into_response())
}
