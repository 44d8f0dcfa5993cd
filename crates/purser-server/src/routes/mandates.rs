//! Mandates: `/v1/mandates` — draft from words, create, adjust, consent, list, show, simulate,
//! revoke, and export the AP2 credentials; `/v1/mandate-status/{id}` for verifiers.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_core::mandate::{
    draft, CartItem, DraftContext, Mandate, MerchantFacts, PaymentRequest, TranscriptTurn,
};
use purser_core::Currency;
use purser_wallet::mandates::at_in;
use purser_wallet::WalletError;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::caller::{json, Signed, User};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::idempotency::{created, ok, post_once, Key};
use crate::routes::agents::StatusFilter;
use crate::AppState;

/// Plain words to draft a mandate from.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    /// e.g. "buy a pair of hiking boots under 800 yuan".
    pub text: String,
    /// Currency for a bare number ("under 800"); default CNY.
    #[serde(default)]
    pub currency: Option<String>,
    /// What ¥ means: CNY (default) or JPY.
    #[serde(default)]
    pub yen: Option<String>,
    /// IANA time zone for dates and weekly/monthly limits; default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
}

const MAX_WORDS: usize = 2_000;

pub(crate) fn draft_context(
    state: &AppState,
    d: &DraftRequest,
) -> Result<DraftContext, WalletError> {
    let currency = |code: Option<&str>, param: &str| match code {
        None => Ok(Currency::CNY),
        Some(c) => purser_wallet::funds::currency(c, param),
    };
    let default_currency = currency(d.currency.as_deref(), "currency")?;
    let yen_means = match d.yen.as_deref() {
        None => Currency::CNY,
        Some(y) if y.eq_ignore_ascii_case("CNY") => Currency::CNY,
        Some(y) if y.eq_ignore_ascii_case("JPY") => Currency::JPY,
        Some(_) => {
            return Err(WalletError::invalid(
                "yen_invalid",
                "yen is CNY (yuan) or JPY (yen)",
                "yen",
            ))
        }
    };
    let timezone = d.timezone.clone().unwrap_or_else(|| "UTC".into());
    let today = at_in(&timezone, state.wallet.now())
        .map_err(|e| e.at("timezone"))?
        .local_date()
        .ok_or_else(|| {
            WalletError::invalid(
                "clock_invalid",
                "the server clock is out of range",
                "timezone",
            )
        })?;
    if d.text.trim().is_empty() || d.text.chars().count() > MAX_WORDS {
        return Err(WalletError::invalid(
            "text_invalid",
            format!("say what the agent may buy in 1 to {MAX_WORDS} characters"),
            "text",
        ));
    }
    Ok(DraftContext {
        today,
        default_currency,
        yen_means,
        timezone,
    })
}

/// Draft a mandate from plain words: the proposal, what was and was not understood, questions
/// to answer. Stores nothing; nothing is active until you create and consent.
#[utoipa::path(post, path = "/v1/mandates/draft", tag = "mandates", request_body = DraftRequest, security(("user" = [])),
    responses((status = 200, description = "The draft: mandate, summary, understood, not_understood, questions, warnings"),
        (status = 400, description = "No text, unknown currency or time zone", body = ErrorBody)))]
pub async fn draft_mandate(
    State(state): State<AppState>,
    User(who): User,
    body: Bytes,
) -> ApiResult<Response> {
    who.require(purser_wallet::Scope::MandatesRead)?;
    let req: DraftRequest = json(&body)?;
    let ctx = draft_context(&state, &req)?;
    let d = draft(&req.text, &ctx);
    let problems = d.mandate.validate().err().map(|e| e.to_string());
    Ok(Json(json!({
        "summary": d.mandate.summary(),
        "mandate": d.mandate,
        "understood": d.understood,
        "not_understood": d.not_understood,
        "questions": d.questions,
        "warnings": d.warnings,
        "problems": problems,
    }))
    .into_response())
}

/// A new draft mandate for one of your bound agents: give the structured `mandate`, or `text`
/// to draft it from your words (kept as its provenance).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMandate {
    /// agt_… — an agent bound to you.
    pub agent_id: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub mandate: Option<Mandate>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub yen: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    /// The conversation that led here, kept as evidence and shown at consent.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub transcript: Option<Vec<TranscriptTurn>>,
}

/// Create a draft mandate (201). Nothing is in force until you consent.
#[utoipa::path(post, path = "/v1/mandates", tag = "mandates", request_body = CreateMandate, security(("user" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; the same key always names the same draft (a retry answers it, another body is refused)")),
    responses((status = 201, description = "The draft, with its summary and content_hash"),
        (status = 400, description = "Invalid mandate, or the agent is not bound to you", body = ErrorBody),
        (status = 422, description = "idempotency_conflict: the Idempotency-Key was used with another request", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    User(who): User,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        "/v1/mandates",
        &headers,
        &body,
        Key::Optional,
        |k| {
            let (state, who, body) = (&state, &who, &body);
            async move {
                let c: CreateMandate = json(body)?;
                let (mut mandate, understood) = match (c.mandate, &c.text) {
                    (Some(m), None) => (m, None),
                    (None, Some(text)) => {
                        let ctx = draft_context(
                            state,
                            &DraftRequest {
                                text: text.clone(),
                                currency: c.currency.clone(),
                                yen: c.yen.clone(),
                                timezone: c.timezone.clone(),
                            },
                        )?;
                        let d = draft(text, &ctx);
                        if !d.understood_anything() {
                            return Err(WalletError::invalid(
                                "nothing_understood",
                                "nothing in the text was understood; say what the agent may buy and for how much, like \"buy a pair of hiking boots under 800 yuan\"",
                                "text",
                            )
                            .into());
                        }
                        let extra = json!({
                            "understood": d.understood,
                            "not_understood": d.not_understood,
                            "questions": d.questions,
                            "warnings": d.warnings,
                        });
                        (d.mandate, Some(extra))
                    }
                    _ => {
                        return Err(WalletError::invalid(
                            "mandate_missing",
                            "give either `mandate` (the structured mandate) or `text` (your words to draft it from), not both",
                            "mandate",
                        )
                        .into())
                    }
                };
                if let Some(t) = c.transcript {
                    mandate.provenance.transcript = Some(t);
                }
                // Under an Idempotency-Key the draft's id derives from it: a retry that runs
                // again (its first answer lost in a crash) answers the same draft.
                let rec = match &k {
                    Some(k) => {
                        state
                            .wallet
                            .create_mandate_idempotent(who, &c.agent_id, mandate, k)
                            .await?
                    }
                    None => state.wallet.create_mandate(who, &c.agent_id, mandate).await?,
                };
                let mut v = serde_json::to_value(&rec)
                    .map_err(|_| {
                        ApiError::new(
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "internal_error",
                            "could not encode the mandate",
                        )
                    })?;
                if let (Some(extra), Some(obj)) = (understood, v.as_object_mut()) {
                    obj.insert("draft".into(), extra);
                }
                created(v)
            }
        },
    )
    .await
}

/// Your mandates, newest first, with what each has spent.
#[utoipa::path(get, path = "/v1/mandates", tag = "mandates", security(("user" = [])),
    params(("status" = Option<String>, Query, description = "draft, consented, active, exhausted, expired or revoked")),
    responses((status = 200, description = "Mandates")))]
pub async fn list(
    State(state): State<AppState>,
    User(who): User,
    Query(f): Query<StatusFilter>,
) -> ApiResult<Response> {
    let m = state
        .wallet
        .list_mandates(&who, f.status.as_deref())
        .await?;
    Ok(Json(json!({"data": m})).into_response())
}

/// One mandate: content, plain summary, status, spending, credentials issued.
#[utoipa::path(get, path = "/v1/mandates/{id}", tag = "mandates", security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "The mandate"), (status = 404, description = "Not yours or unknown", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.mandate(&who, &id).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMandate {
    #[schema(value_type = Object)]
    pub mandate: Mandate,
}

/// Change a draft (adjusting the proposal). A consented mandate cannot change.
#[utoipa::path(post, path = "/v1/mandates/{id}", tag = "mandates", request_body = UpdateMandate, security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "The draft, with its new content_hash"), (status = 409, description = "Not a draft", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let u: UpdateMandate = json(&body)?;
    Ok(Json(state.wallet.update_mandate(&who, &id, u.mandate).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The `content_hash` of the mandate as you read it.
    pub content_hash: String,
}

/// Consent to a draft: it becomes active, and Purser issues its AP2 open mandates
/// (checkout and payment, ES256, bound to the agent's key).
#[utoipa::path(post, path = "/v1/mandates/{id}/consent", tag = "mandates", request_body = Consent, security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "The active mandate"),
        (status = 400, description = "content_hash is not what the mandate says now", body = ErrorBody),
        (status = 409, description = "Not a draft, or the agent is no longer bound", body = ErrorBody)))]
pub async fn consent(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_once(
        &state,
        &who.user_id,
        &format!("/v1/mandates/{id}/consent"),
        &headers,
        &body,
        Key::Optional,
        |_k| {
            let (state, who, body, id) = (&state, &who, &body, &id);
            async move {
                let c: Consent = json(body)?;
                ok(state
                    .wallet
                    .consent_mandate(who, id, &c.content_hash, &state.public_url)
                    .await?)
            }
        },
    )
    .await
}

/// A purchase to try against a mandate without paying.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulate {
    /// `{"amount": 79900, "currency": "CNY"}`.
    #[schema(value_type = Object)]
    pub amount: purser_wallet::funds::Amount,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub merchant: Option<MerchantFacts>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Vec<CartItem>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub instrument: Option<purser_core::mandate::Instrument>,
    /// When (RFC 3339); default now.
    #[serde(default)]
    pub at: Option<String>,
}

/// Dry-run a purchase: would it be allowed, need confirmation, or be declined — with every
/// reason. Charges nothing.
#[utoipa::path(post, path = "/v1/mandates/{id}/simulate", tag = "mandates", request_body = Simulate, security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "outcome (allowed, needs_confirmation, declined), failures with sentences, the buckets it would charge")))]
pub async fn simulate(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (req, at) = simulation(&body)?;
    let sim = state.wallet.simulate_mandate(&who, &id, &req, at).await?;
    Ok(Json(sim).into_response())
}

/// The purchase and time a simulate body describes (the owner's and the agent's routes read
/// the same body).
pub(crate) fn simulation(
    body: &[u8],
) -> Result<(PaymentRequest, Option<purser_core::Timestamp>), ApiError> {
    let s: Simulate = json(body)?;
    let amount = purser_wallet::funds::positive(s.amount.amount, &s.amount.currency, "amount")?;
    let at = match &s.at {
        None => None,
        Some(t) => match purser_core::mandate::DateOrInstant::parse(t) {
            Some(purser_core::mandate::DateOrInstant::Instant(t)) => Some(t),
            _ => {
                return Err(WalletError::invalid(
                    "at_invalid",
                    "at is an RFC 3339 time like 2026-11-21T10:00:00+08:00",
                    "at",
                )
                .into())
            }
        },
    };
    let req = PaymentRequest {
        amount,
        merchant: s.merchant.unwrap_or_default(),
        items: s.items,
        instrument: s.instrument,
    };
    Ok((req, at))
}

/// The agent's dry run under a mandate it was given: the same body and the same evaluation as
/// `POST /v1/mandates/{id}/simulate`, while its binding to the mandate's user is active.
#[utoipa::path(post, path = "/v1/agent/mandates/{id}/simulate", tag = "agent", request_body = Simulate, security(("http_signature" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "outcome (allowed, needs_confirmation, declined), failures with sentences, the buckets it would charge"),
        (status = 401, description = "Not bound, frozen, or signature refused", body = ErrorBody),
        (status = 404, description = "Not a mandate given to this agent", body = ErrorBody)))]
pub async fn agent_simulate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    signed: Signed,
) -> ApiResult<Response> {
    let (req, at) = simulation(&signed.body)?;
    let sim = state
        .wallet
        .simulate_for_agent(&signed.agent, &id, &req, at)
        .await?;
    Ok(Json(sim).into_response())
}

/// The mandates a user gave this agent, newest first: each in one sentence, with what is spent
/// and what is left.
#[utoipa::path(get, path = "/v1/agent/users/{user_id}/mandates", tag = "agent", security(("http_signature" = [])),
    params(("user_id" = String, Path, description = "usr_…")),
    responses((status = 200, description = "Mandates"), (status = 401, description = "Not bound, frozen, or signature refused", body = ErrorBody)))]
pub async fn agent_list(
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    signed: Signed,
) -> ApiResult<Response> {
    let m = state.wallet.agent_mandates(&signed.agent, &user_id).await?;
    Ok(Json(json!({"data": m})).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Revoke a mandate now: no new payment may rely on it and no hold under it can be captured.
#[utoipa::path(post, path = "/v1/mandates/{id}/revoke", tag = "mandates", request_body = Revoke, security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "The revoked mandate"), (status = 409, description = "Already revoked", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let r: Revoke = json(&body)?;
    let rec = state
        .wallet
        .revoke_mandate(&who, &id, r.reason.as_deref())
        .await?;
    Ok(Json(rec).into_response())
}

/// The AP2 credentials issued at consent (Delegate SD-JWT open mandates), for the agent.
#[utoipa::path(get, path = "/v1/mandates/{id}/credentials", tag = "mandates", security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "checkout and payment open mandates, issuer and agent key ids"),
        (status = 409, description = "Not consented yet", body = ErrorBody)))]
pub async fn credentials(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.mandate_credentials(&who, &id).await?).into_response())
}

/// The AP2 credentials of a mandate given to the calling agent: the two open mandates it closes
/// with its own key to pay with `ap2` (`POST /v1/agent/payments`).
#[utoipa::path(get, path = "/v1/agent/mandates/{id}/credentials", tag = "agent", security(("http_signature" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "The open checkout and payment mandates (SD-JWT)"),
        (status = 404, description = "Not a mandate of this agent", body = ErrorBody),
        (status = 409, description = "Not consented yet", body = ErrorBody)))]
pub async fn agent_credentials(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    signed: Signed,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .wallet
            .agent_mandate_credentials(&signed.agent, &id)
            .await?,
    )
    .into_response())
}

/// Whether a mandate is in force, for merchants and networks verifying a credential. Public.
#[utoipa::path(get, path = "/v1/mandate-status/{id}", tag = "mandates",
    params(("id" = String, Path, description = "mdt_… (the credential's mandate id)")),
    responses((status = 200, description = "status: active, consented, exhausted, expired, revoked or draft"),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(state.wallet.mandate_status(&id).await?).into_response())
}

/// Token Pay: the occurrences of a recurring mandate — reminded, charged or declined (with
/// the reason), oldest first. What is left and the next charge are on the mandate itself
/// (`schedule`).
#[utoipa::path(get, path = "/v1/mandates/{id}/charges", tag = "mandates", security(("user" = [])),
    params(("id" = String, Path, description = "mdt_…")),
    responses((status = 200, description = "The schedule's occurrences"),
        (status = 404, description = "No such mandate", body = ErrorBody)))]
pub async fn charges(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let charges = state.wallet.scheduled_charges(&who, &id).await?;
    Ok(Json(json!({"object": "list", "data": charges})).into_response())
}
