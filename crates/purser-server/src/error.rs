//! The one place HTTP errors are built. Every error leaves as
//! `{"type": …, "code": …, "message": …, "param": …}` (the ACP error shape) with a message a
//! person can act on. Internal detail goes to the log, never to the client.

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_core::ledger::{ErrorClass, LedgerError};
use purser_store::StoreError;
use serde::Serialize;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// High-level category: `invalid_request`, `processing_error`, `service_unavailable` or
    /// `rate_limit_exceeded`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Stable machine code, e.g. `insufficient_funds`.
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds for a `Retry-After` header (rate limits).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        let kind = match status {
            StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_exceeded",
            s if s.is_server_error() => "processing_error",
            _ => "invalid_request",
        };
        ApiError {
            status,
            body: ErrorBody {
                kind,
                code: code.into(),
                message: message.into(),
                param: None,
            },
            retry_after: None,
        }
    }

    pub fn invalid(code: &str, message: impl Into<String>, param: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message).param(param)
    }

    pub fn param(mut self, param: &str) -> ApiError {
        self.body.param = Some(param.to_string());
        self
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{what}_not_found"),
            format!("there is no {what} {id}"),
        )
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        let status = match e.class() {
            ErrorClass::Invalid => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::Refused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::Internal => {
                tracing::error!(error = %e, "ledger invariant refused a change");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.code(),
                    "Purser refused this change because it would break a ledger invariant; nothing was applied. The operator can find details in the server log.",
                );
            }
        };
        let mut err = ApiError::new(status, e.code(), e.to_string());
        err.body.param = e.param().map(str::to_string);
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_operations",
                e.to_string(),
            ),
            StoreError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            StoreError::Unavailable(_) | StoreError::Config(_) => {
                tracing::error!(error = %e, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "Purser's database did not answer. Retry with the same ids in a moment: if the operation was applied, the retry returns its result; if not, it is applied once.",
                )
            }
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "stored data unreadable");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_corrupt",
                    "Purser found stored data it cannot read. The operator can find details in the server log and check the ledger with `purser ledger verify`.",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the request body as JSON with the header 'Content-Type: application/json'",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "the request body is not valid JSON: {}",
                    e.body_text()
                        .trim_start_matches("Failed to parse the request body as JSON: ")
                ),
            ),
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                let detail = text.trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: ",
                );
                let param = detail
                    .split_once(':')
                    .map(|(p, _)| p.trim().to_string())
                    .filter(|p| !p.contains(' '));
                let mut err = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!(
                        "the request body does not have the expected fields: {}",
                        without_values(detail)
                    ),
                );
                err.body.param = param;
                err
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the request body is larger than the {} KiB Purser accepts",
                        crate::MAX_BODY_BYTES / 1024
                    ),
                )
            }
            other => ApiError::new(
                other.status(),
                "unreadable_body",
                "the request body could not be read; send it again",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        resp.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON decoding message without the values the client sent: serde quotes them ("invalid
/// type: integer `4242424242424242`, expected a string"), and the value may be a card number
/// or a secret. Field names (`missing field `number``) are kept; offending values are not.
pub fn without_values(detail: &str) -> String {
    for marker in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(start) = detail.find(marker) {
            let expected = detail[start..]
                .split_once(", expected ")
                .map(|(_, rest)| rest.split(" at line ").next().unwrap_or(rest))
                .unwrap_or("another type");
            let prefix = &detail[..start];
            return format!("{prefix}a value has the wrong type or form (expected {expected})");
        }
    }
    detail.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoding_messages_never_echo_values() {
        let m = super::without_values(
            "number: invalid type: integer `4242424242424242`, expected a string at line 1 column 30",
        );
        assert!(!m.contains("4242"), "{m}");
        assert!(m.contains("expected a string"), "{m}");
        assert_eq!(
            super::without_values("missing field `cvv`"),
            "missing field `cvv`"
        );
    }
}
