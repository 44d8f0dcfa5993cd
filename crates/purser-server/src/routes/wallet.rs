//! The user's money: `/v1/wallet`, `/v1/cards`, `/v1/topups`, `/v1/exclusive-cards`.
//! Requests that move money need an `Idempotency-Key`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::cards::NewCard;
use purser_wallet::exclusive::Direction;
use purser_wallet::funds::Amount;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::caller::{json, User};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::idempotency::{created, ok, post_once, Key};
use crate::AppState;

/// Your balances, one per currency.
#[utoipa::path(get, path = "/v1/wallet", tag = "wallet", security(("user" = [])),
    responses((status = 200, description = "Balances"), (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn wallet(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    Ok(Json(state.wallet.wallet(&who).await?).into_response())
}

/// A card to add. `number` and `cvv` are sealed in the vault at once and never returned.
#[derive(Deserialize, ToSchema)]
pub struct AddCard {
    pub number: String,
    /// "MM/YY" (or give exp_month and exp_year).
    pub expiry: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub cvv: String,
    pub holder: String,
}

/// Add a card (sandbox rail: use the documented test numbers).
#[utoipa::path(post, path = "/v1/cards", tag = "wallet", request_body = AddCard, security(("user" = [])),
    responses((status = 201, description = "The card: brand, last 4, fingerprint — never the number"),
        (status = 400, description = "Luhn, expiry, brand or CVV problem", body = ErrorBody)))]
pub async fn add_card(
    State(state): State<AppState>,
    User(who): User,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        "/v1/cards",
        &headers,
        &body,
        Key::Optional,
        |_k| {
            let (state, who, body) = (&state, &who, &body);
            async move {
                let card: NewCard = json(body)?;
                created(state.wallet.add_card(who, card).await?)
            }
        },
    )
    .await
}

/// Your active cards.
#[utoipa::path(get, path = "/v1/cards", tag = "wallet", security(("user" = [])), responses((status = 200, description = "Cards")))]
pub async fn list_cards(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    Ok(Json(json!({"data": state.wallet.list_cards(&who).await?})).into_response())
}

/// One card.
#[utoipa::path(get, path = "/v1/cards/{id}", tag = "wallet", security(("user" = [])),
    params(("id" = String, Path, description = "crd_…")),
    responses((status = 200, description = "The card"), (status = 404, description = "Not yours or unknown", body = ErrorBody)))]
pub async fn get_card(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.card(&who, &id).await?).into_response())
}

/// Remove a card: its sealed number and CVV are destroyed.
#[utoipa::path(post, path = "/v1/cards/{id}/remove", tag = "wallet", security(("user" = [])),
    params(("id" = String, Path, description = "crd_…")), responses((status = 200, description = "The removed card")))]
pub async fn remove_card(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.remove_card(&who, &id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    pub card_id: String,
    #[schema(value_type = Object)]
    pub amount: Amount,
}

/// Top up the wallet from a card. Needs `Idempotency-Key`. Answers 201 (succeeded or
/// requires_challenge) or 402 with the decline code.
#[utoipa::path(post, path = "/v1/topups", tag = "wallet", request_body = TopUp, security(("user" = [])),
    responses((status = 201, description = "The top-up"), (status = 402, description = "Declined by the card issuer", body = ErrorBody)))]
pub async fn top_up(
    State(state): State<AppState>,
    User(who): User,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        "/v1/topups",
        &headers,
        &body,
        Key::Required,
        |k| {
            let (state, who, body) = (&state, &who, &body);
            async move {
                let k = k.unwrap_or_default();
                let t: TopUp = json(body)?;
                created(state.wallet.top_up(who, &t.card_id, &t.amount, &k).await?)
            }
        },
    )
    .await
}

/// Your top-ups, newest first.
#[utoipa::path(get, path = "/v1/topups", tag = "wallet", security(("user" = [])), responses((status = 200, description = "Top-ups")))]
pub async fn list_topups(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    Ok(Json(json!({"data": state.wallet.list_topups(&who).await?})).into_response())
}

/// One top-up.
#[utoipa::path(get, path = "/v1/topups/{id}", tag = "wallet", security(("user" = [])),
    params(("id" = String, Path, description = "top_…")), responses((status = 200, description = "The top-up")))]
pub async fn get_topup(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.topup(&who, &id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeAnswer {
    /// The code the card issuer asked for (sandbox: 123456).
    pub answer: String,
}

/// Answer a top-up's 3-D Secure challenge.
#[utoipa::path(post, path = "/v1/topups/{id}/challenge", tag = "wallet", request_body = ChallengeAnswer, security(("user" = [])),
    params(("id" = String, Path, description = "top_…")),
    responses((status = 200, description = "The top-up"), (status = 402, description = "Challenge failed", body = ErrorBody)))]
pub async fn challenge(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        &format!("/v1/topups/{id}/challenge"),
        &headers,
        &body,
        Key::Optional,
        |_k| {
            let (state, who, body) = (&state, &who, &body);
            async move {
                let a: ChallengeAnswer = json(body)?;
                ok(state.wallet.answer_challenge(who, &id, &a.answer).await?)
            }
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// How much to refund; all that is left when absent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub amount: Option<Amount>,
}

/// Refund a top-up (in full or in part) back to its card. Needs `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/topups/{id}/refunds", tag = "wallet", request_body = RefundRequest, security(("user" = [])),
    params(("id" = String, Path, description = "top_…")),
    responses((status = 201, description = "The refund"), (status = 409, description = "More than is refundable", body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        &format!("/v1/topups/{id}/refunds"),
        &headers,
        &body,
        Key::Required,
        |k| {
            let (state, who, body) = (&state, &who, &body);
            async move {
                let k = k.unwrap_or_default();
                let r: RefundRequest = json(body)?;
                created(
                    state
                        .wallet
                        .refund_topup(who, &id, r.amount.as_ref(), &k)
                        .await?,
                )
            }
        },
    )
    .await
}

/// Refunds of a top-up.
#[utoipa::path(get, path = "/v1/topups/{id}/refunds", tag = "wallet", security(("user" = [])),
    params(("id" = String, Path, description = "top_…")), responses((status = 200, description = "Refunds")))]
pub async fn list_refunds(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({"data": state.wallet.list_refunds(&who, &id).await?})).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExclusiveCard {
    /// The approved binding of the agent this card is for (`bnd_…`).
    pub binding_id: String,
    pub currency: String,
}

/// Give an approved agent an exclusive card: a sub-balance only it can spend, at most its
/// balance.
#[utoipa::path(post, path = "/v1/exclusive-cards", tag = "wallet", request_body = CreateExclusiveCard, security(("user" = [])),
    responses((status = 201, description = "The exclusive card")))]
pub async fn create_exclusive(
    State(state): State<AppState>,
    User(who): User,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        "/v1/exclusive-cards",
        &headers,
        &body,
        Key::Optional,
        |_k| {
            let (state, who, body) = (&state, &who, &body);
            async move {
                let c: CreateExclusiveCard = json(body)?;
                created(
                    state
                        .wallet
                        .create_exclusive_card(who, &c.binding_id, &c.currency)
                        .await?,
                )
            }
        },
    )
    .await
}

/// Your exclusive cards with balances.
#[utoipa::path(get, path = "/v1/exclusive-cards", tag = "wallet", security(("user" = [])), responses((status = 200, description = "Exclusive cards")))]
pub async fn list_exclusive(State(state): State<AppState>, User(who): User) -> ApiResult<Response> {
    Ok(Json(json!({"data": state.wallet.list_exclusive_cards(&who).await?})).into_response())
}

/// One exclusive card.
#[utoipa::path(get, path = "/v1/exclusive-cards/{id}", tag = "wallet", security(("user" = [])),
    params(("id" = String, Path, description = "ecd_…")), responses((status = 200, description = "The exclusive card")))]
pub async fn get_exclusive(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.exclusive_card(&who, &id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveMoney {
    #[schema(value_type = Object)]
    pub amount: Amount,
}

async fn move_money(
    state: AppState,
    who: purser_wallet::Principal,
    id: String,
    dir: Direction,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verb = if dir == Direction::Fund {
        "fund"
    } else {
        "withdraw"
    };
    post_once(
        &state,
        &who.user_id,
        &format!("/v1/exclusive-cards/{id}/{verb}"),
        &headers,
        &body,
        Key::Required,
        |k| {
            let (state, who, body, id) = (&state, &who, &body, &id);
            async move {
                let k = k.unwrap_or_default();
                let m: MoveMoney = json(body)?;
                ok(state
                    .wallet
                    .move_exclusive(who, id, dir, &m.amount, &k)
                    .await?)
            }
        },
    )
    .await
}

/// Move money from the wallet into the exclusive card. Needs `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/exclusive-cards/{id}/fund", tag = "wallet", request_body = MoveMoney, security(("user" = [])),
    params(("id" = String, Path, description = "ecd_…")), responses((status = 200, description = "The exclusive card")))]
pub async fn fund(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    move_money(s, w, id, Direction::Fund, h, b).await
}

/// Move money from the exclusive card back to the wallet. Needs `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/exclusive-cards/{id}/withdraw", tag = "wallet", request_body = MoveMoney, security(("user" = [])),
    params(("id" = String, Path, description = "ecd_…")), responses((status = 200, description = "The exclusive card")))]
pub async fn withdraw(
    State(s): State<AppState>,
    User(w): User,
    ApiPath(id): ApiPath<String>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    move_money(s, w, id, Direction::Withdraw, h, b).await
}

/// Close the exclusive card; its balance returns to the wallet.
#[utoipa::path(post, path = "/v1/exclusive-cards/{id}/close", tag = "wallet", security(("user" = [])),
    params(("id" = String, Path, description = "ecd_…")), responses((status = 200, description = "The closed card")))]
pub async fn close_exclusive(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.close_exclusive_card(&who, &id).await?).into_response())
}
