//! `/healthz`, `/metrics`, `/openapi.json` and the JSON answers for unknown routes.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::ApiError;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers, `unavailable` otherwise.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub storage: &'static str,
    pub version: &'static str,
}

/// Liveness and storage reachability.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, description = "Storage is not answering", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let storage = state.ledger.config().kind();
    let version = env!("CARGO_PKG_VERSION");
    match state.ledger.ping().await {
        Ok(()) => Json(Health {
            status: "ok",
            storage,
            version,
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: storage unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    storage,
                    version,
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus text exposition: HTTP request counters and ledger counters.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::with_capacity(4096);
    state.http_metrics.render(&mut out);
    state.ledger.metrics().render(&mut out);
    out.push_str(
        "# HELP purser_ledger_queued_submissions Submissions waiting for the ledger writer.\n",
    );
    out.push_str("# TYPE purser_ledger_queued_submissions gauge\n");
    out.push_str(&format!(
        "purser_ledger_queued_submissions {}\n",
        state.ledger.queued()
    ));
    out.push_str(
        "# HELP purser_live_streams Live streams (server-sent events) open on this node.\n",
    );
    out.push_str("# TYPE purser_live_streams gauge\n");
    out.push_str(&format!("purser_live_streams {}\n", state.live.total()));
    state.connections.render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// This API's OpenAPI 3.1 description, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi() -> Response {
    Json(crate::openapi::ApiDoc::openapi()).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "there is no such endpoint; the API is described at /openapi.json",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that HTTP method; see /openapi.json",
    )
}
