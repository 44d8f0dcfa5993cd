//! Who is calling: a user with an API token (`Authorization: Bearer pst_…`), or an agent with
//! a signed request (RFC 9421, Web Bot Auth). Both extractors answer in Purser's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use purser_core::httpsig::{HeaderSource, RequestParts};
use purser_wallet::{AgentCaller, Kind, Principal, WalletError};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> ApiError {
        let status = match e.kind {
            Kind::Invalid => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Declined => StatusCode::PAYMENT_REQUIRED,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut err = ApiError::new(status, e.code, e.message);
        if e.kind == Kind::Declined {
            err.body.kind = "card_error";
        }
        err.body.param = e.param;
        err
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    match v.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => v.get(7..).map(str::trim),
        _ => None,
    }
}

/// A user authenticated by an API token.
pub struct User(pub Principal);

#[axum::async_trait]
impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<User, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_missing",
                "send your API token as 'Authorization: Bearer pst_…' (get one with `purser user setup`)",
            )
        })?;
        let who = state.wallet.authenticate(token).await?;
        state.limiter.user(&who.user_id)?;
        Ok(User(who))
    }
}

struct Headers<'a>(&'a HeaderMap);

impl HeaderSource for Headers<'_> {
    fn values(&self, lowercase_name: &str) -> Vec<&[u8]> {
        self.0
            .get_all(lowercase_name)
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    }
}

/// An agent authenticated by its request signature, and the request body it signed.
pub struct Signed {
    pub agent: AgentCaller,
    pub body: Bytes,
    pub headers: HeaderMap,
}

#[axum::async_trait]
impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Signed, ApiError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the request body is larger than the {} KiB Purser accepts",
                        crate::MAX_BODY_BYTES / 1024
                    ),
                )
            })?;
        let parsed = {
            // The authority the client addressed: an absolute-form target or HTTP/2's
            // :authority first, else Host (RFC 9110 §7.2).
            let authority = parts
                .uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| {
                    parts
                        .headers
                        .get(axum::http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                })
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !state.origin.authorities.contains(&authority) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "signature_wrong_authority",
                    format!(
                        "this request was addressed to {:.100}, but Purser serves agents at {}; sign requests for Purser's own address (a signature made for another site is never accepted here)",
                        authority,
                        state.origin.authorities.first().map_or("", String::as_str)
                    ),
                ));
            }
            let headers = Headers(&parts.headers);
            let req = RequestParts {
                method: parts.method.as_str(),
                scheme: Some(state.origin.scheme),
                authority: &authority,
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers: &headers,
            };
            let signed_body = (!body.is_empty()).then_some(&body[..]);
            state.wallet.parse_signed(&req, signed_body)?
        };
        let agent = state.wallet.authenticate_signed(parsed).await?;
        state.limiter.agent(&agent.agent_id)?;
        Ok(Signed {
            agent,
            body,
            headers: parts.headers,
        })
    }
}

/// Parse a JSON body read as bytes (routes that also need the raw bytes, for idempotency or
/// signatures), with the same messages as the JSON extractor.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() { &b"{}"[..] } else { body };
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "the request body is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        } else {
            let text = e.to_string();
            // Only field names, from "missing field `x`" / "unknown field `x`": elsewhere the
            // backquoted text is the value sent, which may be a card number.
            let param = ["missing field `", "unknown field `", "duplicate field `"]
                .iter()
                .find_map(|m| text.split_once(m))
                .and_then(|(_, rest)| rest.split('`').next())
                .filter(|p| !p.is_empty() && !p.contains(' '))
                .map(str::to_string);
            let mut err = ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!(
                    "the request body does not have the expected fields: {}",
                    crate::error::without_values(&text)
                ),
            );
            err.body.param = param;
            err
        }
    })
}
