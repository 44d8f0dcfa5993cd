//! The evidence bundle of a payment, as a download.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::caller::User;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::AppState;

/// One file with everything that settles a dispute about one of your payments (needs
/// `payments:read`): the mandate and your consent, the agent's signed request, Purser's signed
/// decision, your confirmation, the merchant's redemption, the ledger entries with their place
/// in the hash chain, and Purser's public keys — sealed by Purser. Check it offline with
/// `purser evidence verify FILE`.
#[utoipa::path(get, path = "/v1/payments/{id}/evidence", tag = "payments", security(("user" = [])),
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "The sealed evidence bundle (format purser-evidence/1), as a JSON attachment"),
        (status = 403, description = "The token lacks payments:read", body = ErrorBody),
        (status = 404, description = "Not your payment", body = ErrorBody),
        (status = 409, description = "The payment is still being decided", body = ErrorBody)))]
pub async fn evidence(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    // The wallet checks `id` is a payment id (`pay_` and base32) before anything else, so it
    // is safe in the file name below.
    let doc = state.wallet.evidence(&who, &id).await?;
    let body = serde_json::to_vec_pretty(&doc).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "could not write the evidence bundle; retry",
        )
    })?;
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"evidence-{id}.json\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
