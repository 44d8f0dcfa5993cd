//! The WebAuthn ceremonies (webauthn-rs), as JSON for the page's script.
//!
//! The relying party is Purser's public URL: its host is the RP id and the URL its origin. A
//! loopback IP address cannot be an RP id, so `http://127.0.0.1:PORT` becomes
//! `http://localhost:PORT` (the pages say to open that). Each start stores the library's state
//! server-side (`Wallet::start_ceremony`) and hands the browser a ceremony id; the finish
//! consumes it once. Purposes:
//!
//! - `register`: first sign-in with a setup or API token; the token is checked at the start
//!   (without using it up) and used at the finish, which must name the same person.
//! - `signin`: the person's passkeys, for a session.
//! - `confirm:<cnf_id>:<approve|decline>`: the passkeys of the person a confirmation asks; the
//!   assertion answers that one confirmation, with that one action, and nothing else.
//! - `consent:<mdt_id>:<content_hash>`: the signed-in person's passkeys; the assertion consents
//!   to that one draft mandate, as it read when the ceremony began, and nothing else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::payments::confirm::ConfirmAction;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{Ctx, MAX_JSON_BYTES};
use crate::error::ApiError;
use crate::AppState;

type Rps = Mutex<HashMap<String, Arc<Webauthn>>>;

static RELYING_PARTIES: OnceLock<Rps> = OnceLock::new();

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "passkeys_unavailable",
        "passkeys cannot be used with this server's public URL (it needs a host name such as localhost or pay.example.com); sign in with your PIN",
    )
}

/// The RP origin for a public URL: loopback IPs become `localhost`.
pub fn rp_origin(public_url: &str) -> Option<Url> {
    let mut url = Url::parse(public_url).ok()?;
    if matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "::1")) {
        url.set_host(Some("localhost")).ok()?;
    }
    Some(url)
}

/// The relying party for this server (built once per public URL).
fn relying_party(state: &AppState) -> Result<Arc<Webauthn>, ApiError> {
    let cache = RELYING_PARTIES.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(rp) = cache
        .lock()
        .ok()
        .and_then(|m| m.get(&state.public_url).cloned())
    {
        return Ok(rp);
    }
    let origin = rp_origin(&state.public_url).ok_or_else(unavailable)?;
    let id = origin.host_str().ok_or_else(unavailable)?.to_string();
    let rp = WebauthnBuilder::new(&id, &origin)
        .and_then(|b| b.rp_name("Purser").build())
        .map_err(|e| {
            tracing::warn!(error = %e, "no WebAuthn relying party for the public URL");
            unavailable()
        })?;
    let rp = Arc::new(rp);
    if let Ok(mut m) = cache.lock() {
        m.insert(state.public_url.clone(), rp.clone());
    }
    Ok(rp)
}

/// The WebAuthn user handle: derived from the user id, so it reveals nothing else.
fn user_handle(user_id: &str) -> Uuid {
    let h = Sha256::digest(format!("purser-webauthn-user|{user_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Uuid::from_bytes(b)
}

fn refused_passkey() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "passkey_refused",
        "that passkey did not prove who you are for this request; try again, or use your PIN",
    )
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Purser could not handle the passkey and changed nothing; try again",
    )
}

/// Check CSRF and content type, then parse the JSON body.
async fn request<T: for<'de> Deserialize<'de>>(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<(Ctx, T), ApiError> {
    let ctx = Ctx::of(state, headers, uri.query()).await;
    if let Some(e) = &ctx.session_error {
        // Whose session this is cannot be told now: an error to retry, not a CSRF refusal.
        return Err(ApiError::from(e.clone()));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let token = headers.get("x-purser-csrf").and_then(|v| v.to_str().ok());
    if !json || !ctx.csrf_ok(token) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "this request did not come from Purser's own page (its CSRF token is missing or stale); reload the page and try again",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the passkey answer was far larger than any passkey sends; reload the page and try again",
        )
    })?;
    let parsed = serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::invalid(
            "invalid_json",
            "the passkey request was not what this page sends; reload the page and try again",
            "body",
        )
    })?;
    Ok((ctx, parsed))
}

fn answer(ctx: &Ctx, value: Value) -> Response {
    let resp = (StatusCode::OK, Json(value)).into_response();
    ctx.finish(crate::html::secure(resp, "no-store"))
}

fn failed(ctx: Option<&Ctx>, e: ApiError) -> Response {
    let resp = crate::html::secure(e.into_response(), "no-store");
    match ctx {
        Some(c) => c.finish(resp),
        None => resp,
    }
}

/// The user's passkeys as the library's type, with their row ids.
async fn passkeys_of(state: &AppState, user_id: &str) -> Result<Vec<(String, Passkey)>, ApiError> {
    let rows = state
        .wallet
        .passkeys(user_id)
        .await
        .map_err(ApiError::from)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            serde_json::from_str::<Passkey>(&r.passkey_json)
                .map_err(|_| tracing::error!(passkey = %r.id, "a stored passkey does not parse"))
                .ok()
                .map(|p| (r.id, p))
        })
        .collect())
}

/// Start an assertion over the user's passkeys for `purpose`.
async fn start_assertion(
    state: &AppState,
    user_id: &str,
    purpose: &str,
) -> Result<Value, ApiError> {
    let rp = relying_party(state)?;
    let keys: Vec<Passkey> = passkeys_of(state, user_id)
        .await?
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    if keys.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_passkey",
            "you have no passkey yet: set up this browser first (First time here?), or use your PIN",
        ));
    }
    let (options, auth) = rp.start_passkey_authentication(&keys).map_err(|e| {
        tracing::warn!(error = %e, "passkey authentication could not start");
        internal()
    })?;
    let state_json = serde_json::to_string(&auth).map_err(|_| internal())?;
    let ceremony = state
        .wallet
        .start_ceremony(Some(user_id), purpose, &state_json)
        .await
        .map_err(ApiError::from)?;
    Ok(json!({"ceremony": ceremony, "options": options}))
}

/// Finish an assertion: the ceremony must have `purpose`; returns the user it proved.
async fn finish_assertion(
    state: &AppState,
    ceremony: &str,
    credential: &Value,
    purpose_ok: impl Fn(&str) -> bool,
) -> Result<(String, String), ApiError> {
    let rp = relying_party(state)?;
    let c = state
        .wallet
        .finish_ceremony(ceremony)
        .await
        .map_err(ApiError::from)?;
    if !purpose_ok(&c.purpose) {
        return Err(refused_passkey());
    }
    let user_id = c.user_id.ok_or_else(refused_passkey)?;
    let auth: PasskeyAuthentication = serde_json::from_str(&c.state).map_err(|_| internal())?;
    let cred: PublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| refused_passkey())?;
    let result = rp
        .finish_passkey_authentication(&cred, &auth)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey assertion refused");
            refused_passkey()
        })?;
    // The passkey must still be the person's now: one removed after the prompt started (a
    // lost phone) proves nothing. Keep the signature counter (a cloned authenticator shows up
    // as a counter going back).
    let current = passkeys_of(state, &user_id).await?;
    if !current
        .iter()
        .any(|(_, key)| key.cred_id() == result.cred_id())
    {
        tracing::info!(user = %user_id, "an assertion by a passkey that is no longer registered");
        return Err(refused_passkey());
    }
    for (id, mut key) in current {
        if key.cred_id() == result.cred_id() {
            let changed = key.update_credential(&result).unwrap_or(false);
            let json = if changed {
                serde_json::to_string(&key).ok()
            } else {
                None
            };
            state
                .wallet
                .passkey_used(&id, json.as_deref())
                .await
                .map_err(ApiError::from)?;
        }
    }
    Ok((user_id, c.purpose))
}

#[derive(Deserialize)]
pub struct RegisterStart {
    token: String,
}

/// `POST /web/passkeys/register/start` `{token}`.
pub async fn register_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<RegisterStart>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let r: Result<Value, ApiError> = async {
        let rp = relying_party(&state)?;
        let who = state
            .wallet
            .peek_enrolment(&req.token)
            .await
            .map_err(ApiError::from)?;
        let existing: Vec<_> = passkeys_of(&state, &who.user_id)
            .await?
            .into_iter()
            .map(|(_, k)| k.cred_id().clone())
            .collect();
        let (options, reg) = rp
            .start_passkey_registration(
                user_handle(&who.user_id),
                &who.user_id,
                &who.user_name,
                Some(existing),
            )
            .map_err(|e| {
                tracing::warn!(error = %e, "passkey registration could not start");
                internal()
            })?;
        let state_json = serde_json::to_string(&reg).map_err(|_| internal())?;
        let ceremony = state
            .wallet
            .start_ceremony(Some(&who.user_id), "register", &state_json)
            .await
            .map_err(ApiError::from)?;
        Ok(json!({"ceremony": ceremony, "options": options}))
    }
    .await;
    match r {
        Ok(v) => answer(&ctx, v),
        Err(e) => failed(Some(&ctx), e),
    }
}

#[derive(Deserialize)]
pub struct RegisterFinish {
    ceremony: String,
    token: String,
    #[serde(default)]
    name: String,
    credential: Value,
}

/// `POST /web/passkeys/register/finish` `{ceremony, token, name, credential}`: the passkey is
/// kept, the token used (a setup token completes setup) and the browser signed in.
pub async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<RegisterFinish>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let r: Result<(String, String, Option<String>), ApiError> = async {
        let rp = relying_party(&state)?;
        let c = state
            .wallet
            .finish_ceremony(&req.ceremony)
            .await
            .map_err(ApiError::from)?;
        if c.purpose != "register" {
            return Err(refused_passkey());
        }
        let reg: PasskeyRegistration = serde_json::from_str(&c.state).map_err(|_| internal())?;
        let cred: RegisterPublicKeyCredential =
            serde_json::from_value(req.credential.clone()).map_err(|_| refused_passkey())?;
        let key = rp.finish_passkey_registration(&cred, &reg).map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            refused_passkey()
        })?;
        // The token must still name the person the ceremony began for. It is only used up
        // once the passkey is kept: a passkey that cannot be stored (a duplicate, too many, a
        // storage failure) leaves the setup token usable for another try.
        let peeked = state
            .wallet
            .peek_enrolment(&req.token)
            .await
            .map_err(ApiError::from)?;
        if c.user_id.as_deref() != Some(peeked.user_id.as_str()) {
            return Err(refused_passkey());
        }
        let cred_id = serde_json::to_value(key.cred_id())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(internal)?;
        let json = serde_json::to_string(&key).map_err(|_| internal())?;
        let stored = state
            .wallet
            .add_passkey(&peeked.user_id, &cred_id, &json, &req.name)
            .await
            .map_err(ApiError::from)?;
        let who = match state.wallet.enrol_with_token(&req.token).await {
            Ok(who) if who.user_id == peeked.user_id => who,
            other => {
                // Used up (or revoked) meanwhile: this sign-up did not happen; undo the passkey.
                if let Err(e) = state
                    .wallet
                    .forget_passkey(&peeked.user_id, &stored.id)
                    .await
                {
                    tracing::warn!(error = %e.message, "an unenrolled passkey could not be removed");
                }
                return Err(match other {
                    Err(e) => ApiError::from(e),
                    Ok(_) => refused_passkey(),
                });
            }
        };
        let secret = state
            .wallet
            .create_session(&who.user_id, "passkey")
            .await
            .map_err(ApiError::from)?;
        Ok((who.user_id, secret, who.api_token))
    }
    .await;
    match r {
        Ok((user_id, secret, api_token)) => {
            super::pages::signed_in(
                &state,
                &headers,
                answer(&ctx, json!({"redirect": "/", "api_token": api_token})),
                ctx.secure,
                &secret,
                &user_id,
            )
            .await
        }
        Err(e) => failed(Some(&ctx), e),
    }
}

#[derive(Deserialize)]
pub struct SigninStart {
    user_id: String,
}

/// `POST /web/passkeys/signin/start` `{user_id}`.
pub async fn signin_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<SigninStart>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let user_id = req.user_id.trim().to_string();
    let r = async {
        state
            .wallet
            .active_user_name(&user_id)
            .await
            .map_err(ApiError::from)?;
        start_assertion(&state, &user_id, "signin").await
    }
    .await;
    match r {
        Ok(v) => answer(&ctx, v),
        Err(e) => failed(Some(&ctx), e),
    }
}

#[derive(Deserialize)]
pub struct Finish {
    ceremony: String,
    credential: Value,
}

/// `POST /web/passkeys/signin/finish` `{ceremony, credential}`.
pub async fn signin_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<Finish>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let r = async {
        let (user_id, _) =
            finish_assertion(&state, &req.ceremony, &req.credential, |p| p == "signin").await?;
        let secret = state
            .wallet
            .create_session(&user_id, "passkey")
            .await
            .map_err(ApiError::from)?;
        Ok::<_, ApiError>((user_id, secret))
    }
    .await;
    match r {
        Ok((user_id, secret)) => {
            super::pages::signed_in(
                &state,
                &headers,
                answer(&ctx, json!({"redirect": "/"})),
                ctx.secure,
                &secret,
                &user_id,
            )
            .await
        }
        Err(e) => failed(Some(&ctx), e),
    }
}

#[derive(Deserialize)]
pub struct ConfirmStart {
    token: String,
    action: String,
}

fn action_of(s: &str) -> Option<ConfirmAction> {
    match s {
        "approve" => Some(ConfirmAction::Approve),
        "decline" => Some(ConfirmAction::Decline),
        _ => None,
    }
}

/// `POST /web/passkeys/confirm/start` `{token, action}`: an assertion bound to this
/// confirmation and this action.
pub async fn confirm_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<ConfirmStart>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let r = async {
        let action = action_of(&req.action).ok_or_else(|| {
            ApiError::invalid("action_invalid", "action is approve or decline", "action")
        })?;
        let (cid, user_id) = state
            .wallet
            .confirmation_user(req.token.trim())
            .await
            .map_err(ApiError::from)?;
        let a = if action == ConfirmAction::Approve {
            "approve"
        } else {
            "decline"
        };
        start_assertion(&state, &user_id, &format!("confirm:{cid}:{a}")).await
    }
    .await;
    match r {
        Ok(v) => answer(&ctx, v),
        Err(e) => failed(Some(&ctx), e),
    }
}

#[derive(Deserialize)]
pub struct ConfirmFinish {
    token: String,
    ceremony: String,
    credential: Value,
}

/// `POST /web/passkeys/confirm/finish` `{token, ceremony, credential}`: the answer is recorded
/// (method `passkey`) and the page to show next returned.
pub async fn confirm_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<ConfirmFinish>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let token = req.token.trim().to_string();
    let r = async {
        let (cid, _) = state
            .wallet
            .confirmation_user(&token)
            .await
            .map_err(ApiError::from)?;
        let prefix = format!("confirm:{cid}:");
        let (user_id, purpose) = finish_assertion(&state, &req.ceremony, &req.credential, |p| {
            p.starts_with(&prefix)
        })
        .await?;
        let action = purpose
            .strip_prefix(&prefix)
            .and_then(action_of)
            .ok_or_else(refused_passkey)?;
        state
            .wallet
            .decide_confirmation_with_passkey(&token, &user_id, action)
            .await
            .map_err(ApiError::from)?;
        Ok::<_, ApiError>(())
    }
    .await;
    match r {
        Ok(()) => answer(
            &ctx,
            json!({"redirect": format!("/confirm/{token}?answered=1")}),
        ),
        Err(e) => failed(Some(&ctx), e),
    }
}

// Consent to a mandate (the Mandates pages). Appended: the ceremony below is modelled on
// `confirm`, bound to one draft mandate *and* the content hash the person read.

/// The purpose of a consent ceremony: `consent:<mdt_id>:<content_hash>`.
fn consent_purpose(mandate_id: &str, content_hash: &str) -> String {
    format!("consent:{mandate_id}:{content_hash}")
}

fn signed_out() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "signed_out",
        "you are not signed in any more; sign in again, then consent",
    )
}

#[derive(Deserialize)]
pub struct ConsentStart {
    mandate_id: String,
    content_hash: String,
}

/// `POST /web/passkeys/consent/start` `{mandate_id, content_hash}`: an assertion by the
/// signed-in person's passkeys, bound to this draft mandate and this content hash (which
/// must be the draft's content now). The ceremony lives 5 minutes and is used once.
pub async fn consent_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<ConsentStart>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let r = async {
        let session = ctx.session.clone().ok_or_else(signed_out)?;
        let who = session.principal();
        let rec = state
            .wallet
            .mandate(&who, req.mandate_id.trim())
            .await
            .map_err(ApiError::from)?;
        if rec.status != "draft" {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "mandate_not_draft",
                format!(
                    "this mandate is {} already; only a draft waits for consent",
                    rec.status
                ),
            ));
        }
        let same = purser_wallet::ids::constant_time_eq(
            rec.content_hash.as_bytes(),
            req.content_hash.as_bytes(),
        );
        if !same {
            return Err(ApiError::invalid(
                "content_changed",
                "the mandate is not the one on this page any more; reload the page, read it again and consent to what it says now",
                "content_hash",
            ));
        }
        start_assertion(
            &state,
            &who.user_id,
            &consent_purpose(&rec.id, &rec.content_hash),
        )
        .await
    }
    .await;
    match r {
        Ok(v) => answer(&ctx, v),
        Err(e) => failed(Some(&ctx), e),
    }
}

#[derive(Deserialize)]
pub struct ConsentFinish {
    mandate_id: String,
    ceremony: String,
    credential: Value,
}

/// `POST /web/passkeys/consent/finish` `{mandate_id, ceremony, credential}`: the assertion
/// must be for this mandate, by the signed-in person; the wallet then consents to exactly
/// the content hash the ceremony was started for (refused if the draft changed since).
pub async fn consent_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, req) = match request::<ConsentFinish>(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(e) => return failed(None, e),
    };
    let r = async {
        let session = ctx.session.clone().ok_or_else(signed_out)?;
        let mandate_id = req.mandate_id.trim();
        let prefix = consent_purpose(mandate_id, "");
        let (user_id, purpose) = finish_assertion(&state, &req.ceremony, &req.credential, |p| {
            p.starts_with(&prefix)
        })
        .await?;
        if user_id != session.user_id {
            return Err(refused_passkey());
        }
        let hash = purpose
            .strip_prefix(&prefix)
            .filter(|h| !h.is_empty())
            .ok_or_else(refused_passkey)?;
        state
            .wallet
            .consent_mandate(&session.principal(), mandate_id, hash, &state.public_url)
            .await
            .map_err(ApiError::from)?;
        Ok::<_, ApiError>(())
    }
    .await;
    match r {
        Ok(()) => super::flash::set(
            &state,
            &ctx,
            super::mandates::PATH,
            "consented",
            "",
            answer(&ctx, json!({ "redirect": super::mandates::PATH })),
        ),
        Err(e) => failed(Some(&ctx), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_become_localhost_for_passkeys() {
        let o = rp_origin("http://127.0.0.1:7420").map(|u| u.to_string());
        assert_eq!(o.as_deref(), Some("http://localhost:7420/"));
        let o = rp_origin("https://pay.example.com").map(|u| u.to_string());
        assert_eq!(o.as_deref(), Some("https://pay.example.com/"));
        assert!(rp_origin("not a url").is_none());
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle("usr_a"), user_handle("usr_a"));
        assert_ne!(user_handle("usr_a"), user_handle("usr_b"));
    }
}
