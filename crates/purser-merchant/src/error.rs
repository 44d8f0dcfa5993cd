//! ACP's flat error shape, `{"type", "code", "message", "param"}`, with the HTTP status and
//! headers that go with it. One place builds every error the shop answers with.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpError {
    pub status: u16,
    /// `invalid_request`, `processing_error` or `service_unavailable` (ACP's three types).
    pub kind: &'static str,
    pub code: String,
    /// For a person: what was wrong and what to do.
    pub message: String,
    /// RFC 9535 JSONPath of the offending input, when there is one.
    pub param: Option<String>,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u32>,
}

impl AcpError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AcpError {
        let kind = match status {
            503 => "service_unavailable",
            s if s >= 500 => "processing_error",
            _ => "invalid_request",
        };
        AcpError {
            status,
            kind,
            code: code.to_string(),
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn bad(code: &str, message: impl Into<String>) -> AcpError {
        AcpError::new(400, code, message)
    }

    pub fn at(mut self, param: impl Into<String>) -> AcpError {
        self.param = Some(param.into());
        self
    }

    pub fn retry_after(mut self, secs: u32) -> AcpError {
        self.retry_after = Some(secs);
        self
    }

    /// A failure inside the shop: the detail goes to the log, the client gets a sentence.
    pub fn internal(detail: impl std::fmt::Display) -> AcpError {
        tracing::error!(error = %detail, "internal error");
        AcpError::new(
            500,
            "internal_error",
            "the shop could not finish this request; nothing was charged by it — try again",
        )
    }

    /// A failure after Purser answered a capture: money may have moved, so the client is told
    /// to retry with the same credential (which finishes the order), never that nothing was
    /// charged.
    pub fn after_capture(detail: impl std::fmt::Display) -> AcpError {
        tracing::error!(error = %detail, "failure after Purser answered a capture");
        AcpError::new(
            500,
            "order_not_recorded",
            "the payment may have been captured but the shop could not record the order; retry complete with the same credential to finish it (it is never captured twice)",
        )
    }

    /// ACP's Error schema, which admits no other fields.
    pub fn body(&self) -> Value {
        let mut v = json!({"type": self.kind, "code": self.code, "message": self.message});
        if let Some(p) = &self.param {
            v["param"] = Value::String(p.clone());
        }
        v
    }
}

impl From<crate::store::StoreError> for AcpError {
    fn from(e: crate::store::StoreError) -> AcpError {
        AcpError::internal(e)
    }
}

impl IntoResponse for AcpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
        }
        r
    }
}
