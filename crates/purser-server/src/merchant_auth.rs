//! The merchant extractor: `Authorization: Bearer psk_…`, the API key a merchant got at
//! registration. Refusals are 401 in Purser's error shape; the key itself is never logged or
//! echoed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use purser_wallet::merchants::MerchantCaller;

use crate::error::ApiError;
use crate::AppState;

/// A merchant authenticated by its API key.
pub struct Merchant(pub MerchantCaller);

#[axum::async_trait]
impl FromRequestParts<AppState> for Merchant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Merchant, ApiError> {
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| match v.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => v.get(7..).map(str::trim),
                _ => None,
            })
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "merchant_key_missing",
                    "send your merchant API key as 'Authorization: Bearer psk_…' (the operator gives it to you once, at registration)",
                )
            })?;
        Ok(Merchant(state.wallet.authenticate_merchant(key).await?))
    }
}
