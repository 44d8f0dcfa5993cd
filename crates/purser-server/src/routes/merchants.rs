//! Merchants: the operator registers them (`/v1/merchants`); a merchant, with its API key,
//! sees itself and its webhook deliveries (`/v1/merchant/*`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::merchants::NewMerchant;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::merchant_auth::Merchant;
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchant {
    /// The name people know the business by.
    pub name: String,
    /// Its website, as a host name (`boots.example`) or URL; agents' payment requests naming
    /// this merchant must name this website.
    pub website: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `CN`.
    #[serde(default)]
    pub country: Option<String>,
    /// Four-digit merchant category code (MCC), e.g. `5661` (shoe stores).
    #[serde(default)]
    pub category: Option<String>,
    /// Where Purser POSTs signed payment events (http:// or https://, no credentials).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// Register a merchant (operator). The answer carries the merchant's API key and webhook
/// secret, shown this once: Purser keeps only the key's hash and the secret sealed. Not
/// idempotent by `Idempotency-Key`, because a kept answer would keep the secrets; a retry
/// registers another merchant.
#[utoipa::path(post, path = "/v1/merchants", tag = "merchants", request_body = CreateMerchant,
    security(("operator" = [])),
    responses((status = 201, description = "The merchant, its API key (`psk_…`) and its webhook secret (`whsec_…`), shown once"),
        (status = 400, description = "Invalid name, website, country, category or webhook URL", body = ErrorBody),
        (status = 401, description = "No operator token", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<CreateMerchant>,
) -> ApiResult<Response> {
    let created = state
        .wallet
        .create_merchant(&NewMerchant {
            name: b.name,
            website: b.website,
            country: b.country,
            category: b.category,
            webhook_url: b.webhook_url,
        })
        .await?;
    tracing::info!(merchant = %created.merchant.id, "merchant registered");
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Every merchant (operator), newest first. Never a key or a secret.
#[utoipa::path(get, path = "/v1/merchants", tag = "merchants", security(("operator" = [])),
    responses((status = 200, description = "Merchants"), (status = 401, description = "No operator token", body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({"data": state.wallet.list_merchants().await?})).into_response())
}

/// One merchant (operator).
#[utoipa::path(get, path = "/v1/merchants/{id}", tag = "merchants", security(("operator" = [])),
    params(("id" = String, Path, description = "mch_…")),
    responses((status = 200, description = "The merchant"), (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.merchant(&id).await?).into_response())
}

/// The merchant this API key belongs to.
#[utoipa::path(get, path = "/v1/merchant/me", tag = "merchants", security(("merchant" = [])),
    responses((status = 200, description = "The merchant"), (status = 401, description = "Missing or unknown merchant key", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Merchant(m): Merchant) -> ApiResult<Response> {
    Ok(Json(state.wallet.merchant(&m.merchant_id).await?).into_response())
}

#[derive(Deserialize)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    /// Read as text so a bad number gets Purser's error shape, not the framework's.
    pub limit: Option<String>,
}

/// Your webhook deliveries, most recently attempted first: each event's type, status
/// (`pending`, `delivered`, `failed`), attempts and why the last attempt failed.
#[utoipa::path(get, path = "/v1/merchant/deliveries", tag = "merchants", security(("merchant" = [])),
    params(("status" = Option<String>, Query, description = "pending, delivered or failed"),
        ("limit" = Option<i64>, Query, description = "1 to 200 (default 50)")),
    responses((status = 200, description = "Deliveries"), (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing or unknown merchant key", body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    Query(f): Query<DeliveryFilter>,
) -> ApiResult<Response> {
    let limit = match f.limit.as_deref() {
        None => None,
        Some(l) => Some(l.parse::<i64>().map_err(|_| {
            ApiError::invalid(
                "limit_invalid",
                format!(
                    "limit is a number from 1 to {}",
                    purser_wallet::webhooks::MAX_DELIVERIES_PAGE
                ),
                "limit",
            )
        })?),
    };
    let d = state
        .wallet
        .merchant_deliveries(&m, f.status.as_deref(), limit)
        .await?;
    Ok(Json(json!({"data": d})).into_response())
}

/// Send a failed delivery again, now, with a fresh set of retries.
#[utoipa::path(post, path = "/v1/merchant/deliveries/{event_id}/retry", tag = "merchants", security(("merchant" = [])),
    params(("event_id" = String, Path, description = "evt_…")),
    responses((status = 200, description = "The delivery, pending again"),
        (status = 404, description = "No such delivery of yours", body = ErrorBody),
        (status = 409, description = "Not failed (pending ones retry on their own), or no webhook URL", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Merchant(m): Merchant,
    ApiPath(event_id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.retry_merchant_delivery(&m, &event_id).await?).into_response())
}
