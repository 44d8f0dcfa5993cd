//! `/v1/me/pin`: set, change and look at the PIN that approves payments on the confirmation
//! page.
//!
//! Unlike other POSTs, setting a PIN keeps no answer under an `Idempotency-Key`: replays are
//! matched by a keyed hash of the request body, and a fast hash of a body holding a PIN would
//! be a shortcut around argon2 for anyone holding both the database and the vault key. Setting
//! a PIN twice is harmless; a change retried after it succeeded is refused (`pin_wrong`: the
//! current PIN is now the new one), which tells the person where they stand.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::caller::{json, User};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

/// A new PIN, and the current one when there is one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPin {
    /// 6 to 12 digits, as a string (leading zeros count). Not a trivial one (000000, 123456, 121212…).
    pub pin: String,
    /// The PIN now in force; needed to change an existing PIN.
    #[serde(default)]
    pub current_pin: Option<String>,
}

/// Set your PIN, or change it (give `current_pin`). Needs `wallet:write`. Wrong current PINs
/// count towards the lockout (5 in a row lock PIN entry for 15 minutes).
#[utoipa::path(post, path = "/v1/me/pin", tag = "users", request_body = SetPin, security(("user" = [])),
    responses((status = 200, description = "The PIN is set", body = purser_wallet::pins::PinStatus),
        (status = 400, description = "Not 6–12 digits, too simple, or the current PIN is missing", body = ErrorBody),
        (status = 403, description = "Wrong current PIN (pin_wrong) or PIN entry locked (pin_locked)", body = ErrorBody),
        (status = 409, description = "Changed by another request at the same moment", body = ErrorBody)))]
pub async fn set_pin(
    State(state): State<AppState>,
    User(who): User,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let b: SetPin = json(&body)?;
    let status = state
        .wallet
        .set_pin(&who, &b.pin, b.current_pin.as_deref())
        .await?;
    Ok(Json(status).into_response())
}

/// Whether you have a PIN, and until when PIN entry is locked (if it is). Needs `wallet:read`.
#[utoipa::path(get, path = "/v1/me/pin", tag = "users", security(("user" = [])),
    responses((status = 200, description = "PIN status", body = purser_wallet::pins::PinStatus),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn pin_status(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    Ok(Json(state.wallet.pin_status(&who).await?).into_response())
}
