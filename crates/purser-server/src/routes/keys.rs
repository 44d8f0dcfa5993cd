//! Keys: Purser's published public keys (`/.well-known/*`), and the operator's key rotation
//! (`/v1/operator/vault/*`, `/v1/operator/signing-keys/rotate`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiResult;
use crate::AppState;

/// Purser's public signing keys (JWK Set): active and recently retired.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys", responses((status = 200, description = "JWK Set")))]
pub async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let v = state.wallet.jwks().await?;
    Ok(([(header::CACHE_CONTROL, "public, max-age=300")], Json(v)).into_response())
}

/// The Web Bot Auth key directory: Purser's Ed25519 keys, the response signed by each of them
/// (`"@authority";req`, tag `http-message-signatures-directory`).
#[utoipa::path(get, path = "/.well-known/http-message-signatures-directory", tag = "keys", responses((status = 200, description = "JWK Set of Ed25519 keys, with Signature-Input and Signature headers")))]
pub async fn directory(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let v = state.wallet.signature_directory().await?;
    // Signed for Purser's own address only: a caller cannot obtain Purser's signature over an
    // authority of its choosing. A loopback origin answers for the loopback name asked.
    let asked = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let authority = if state.origin.authorities.contains(&asked) {
        asked
    } else {
        state
            .origin
            .authorities
            .first()
            .cloned()
            .unwrap_or_default()
    };
    let (input, signature) = state.wallet.sign_directory(&authority).await?;
    let mut resp = (
        [
            (
                header::CONTENT_TYPE,
                "application/http-message-signatures-directory+json",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        v.to_string(),
    )
        .into_response();
    for (name, value) in [("signature-input", input), ("signature", signature)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    Ok(resp)
}

/// The agent key directory: one registered agent key by its `keyid` (JWK thumbprint), with
/// its status and the agent it belongs to. Public, so a merchant can verify an agent's signed
/// request (RFC 9421, Web Bot Auth) without an account.
#[utoipa::path(get, path = "/v1/agent-keys/{kid}", tag = "keys",
    params(("kid" = String, Path, description = "the key's JWK thumbprint (the keyid of its signatures)")),
    responses((status = 200, description = "{kid, jwk, status, not_after?, agent: {id, name, operator, status}}"),
        (status = 404, description = "No such key", body = crate::error::ErrorBody)))]
pub async fn agent_key(
    State(state): State<AppState>,
    crate::extract::ApiPath(kid): crate::extract::ApiPath<String>,
) -> ApiResult<Response> {
    let v = state.wallet.public_agent_key(&kid).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(v)).into_response())
}

/// The vault's key-encryption keys and how many records each still wraps (operator).
#[utoipa::path(get, path = "/v1/operator/vault", tag = "keys", security(("operator" = [])), responses((status = 200, description = "Vault keys")))]
pub async fn vault_status(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(Json(state.wallet.vault_status().await?).into_response())
}

/// Rotate the vault's key-encryption key and re-wrap every record (operator). Runs while
/// Purser serves.
#[utoipa::path(post, path = "/v1/operator/vault/rotate", tag = "keys", security(("operator" = [])), responses((status = 200, description = "Vault keys after rotation")))]
pub async fn vault_rotate(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(Json(state.wallet.rotate_vault().await?).into_response())
}

/// Destroy retired key-encryption keys that no record uses any more (operator).
#[utoipa::path(post, path = "/v1/operator/vault/destroy-retired", tag = "keys", security(("operator" = [])), responses((status = 200, description = "Destroyed key ids and the vault keys left")))]
pub async fn vault_destroy(State(state): State<AppState>) -> ApiResult<Response> {
    let (status, gone) = state.wallet.destroy_retired_keys().await?;
    Ok(Json(json!({"destroyed": gone, "vault": status})).into_response())
}

/// Make new signing keys; the old public keys stay published (operator).
#[utoipa::path(post, path = "/v1/operator/signing-keys/rotate", tag = "keys", security(("operator" = [])), responses((status = 200, description = "The published JWK Set")))]
pub async fn signing_rotate(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(Json(state.wallet.rotate_signing_keys().await?).into_response())
}
