//! MCP over streamable HTTP at `/mcp`: Purser's agent tools ([`purser_mcp`]) for agents that
//! reach Purser over the network.
//!
//! # Authentication: every HTTP request is a signed agent request
//!
//! Each POST to `/mcp` carries the agent's RFC 9421 signature (Web Bot Auth profile) exactly
//! as a request to `/v1/agent/*` does: `@method`, `@authority`, `@path` and `content-digest`
//! covered, a fresh nonce, the agent's registered key. It is checked by the same extractor
//! ([`Signed`]), so the same refusals apply (`signature_missing`, `nonce_reused`,
//! `signature_expired`, `signature_wrong_authority`, …) before any MCP message is read.
//!
//! The service runs stateless (no `Mcp-Session-Id`): every JSON-RPC request is its own HTTP
//! request, answered with `application/json`. There is thus no session that could outlive or
//! be handed between agents, and no server memory per client; `initialize` is answered but
//! nothing is kept from it. GET and DELETE (server-sent streams, session ends) are refused
//! with 405.
//!
//! What the transport itself refuses (an `Accept` without both `application/json` and
//! `text/event-stream`, another `Content-Type`, a body that is not JSON-RPC, an unknown
//! `MCP-Protocol-Version`) rmcp answers in plain text; [`transport_refusal`] turns each into
//! Purser's error shape, saying what to send instead.
//!
//! # The tools run the REST handlers' wallet calls
//!
//! [`WalletBackend`] maps each tool call to the wallet function its REST route calls, with the
//! agent verified on this HTTP request: `authorize` for a payment (the JSON body and
//! Idempotency-Key as `POST /v1/agent/payments` would get them), `payment_for_agent`,
//! `agent_mandates`, `simulate_for_agent`, `agent_payments`, `agent_bindings`. Errors are
//! the REST API's, code and message.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use purser_mcp::rmcp::service::RequestContext;
use purser_mcp::rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use purser_mcp::rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use purser_mcp::rmcp::RoleServer;
use purser_mcp::{Backend, Failure, Op, PurserMcp};
use purser_wallet::payments::PaymentBody;
use purser_wallet::{AgentCaller, Wallet};
use serde_json::{json, Value};

use crate::caller::{json, Signed};
use crate::error::ApiError;
use crate::AppState;

/// The JSON-RPC message of this HTTP request, exactly as the agent signed it.
#[derive(Clone)]
struct SignedEnvelope(axum::body::Bytes);

/// The tools' backend in `purser serve`: the wallet, as the agent verified on the request.
pub struct WalletBackend {
    wallet: Arc<Wallet>,
}

fn failure(e: ApiError) -> Failure {
    Failure {
        kind: e.body.kind.to_string(),
        code: e.body.code,
        message: e.body.message,
        param: e.body.param,
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Purser could not encode its answer; retry, and report it if it persists",
        )
    })
}

impl WalletBackend {
    async fn run(
        &self,
        agent: &AgentCaller,
        envelope: Option<&[u8]>,
        op: Op,
    ) -> Result<Value, ApiError> {
        let w = &self.wallet;
        match op {
            Op::WhoAmI => {
                let bindings = w.agent_bindings(agent).await?;
                let a = w.agent_summary(&agent.agent_id).await?;
                Ok(json!({"agent": a, "kid": agent.kid, "bindings": bindings}))
            }
            Op::Pay {
                body,
                idempotency_key,
            } => {
                // The bytes the REST route would have received, parsed by the same function.
                let raw = serde_json::to_vec(&body).map_err(|_| {
                    ApiError::invalid("invalid_json", "the payment cannot be encoded", "body")
                })?;
                let b: PaymentBody = json(&raw)?;
                let (view, _) = match envelope {
                    Some(env) => {
                        w.authorize_over_mcp(agent, &idempotency_key, &raw, b, env)
                            .await?
                    }
                    None => w.authorize(agent, &idempotency_key, &raw, b).await?,
                };
                to_value(view)
            }
            Op::Payment { id } => to_value(w.payment_for_agent(agent, &id).await?),
            Op::Mandates { user_id } => {
                Ok(json!({"data": w.agent_mandates(agent, &user_id).await?}))
            }
            Op::Simulate { mandate_id, body } => {
                let raw = serde_json::to_vec(&body).map_err(|_| {
                    ApiError::invalid("invalid_json", "the purchase cannot be encoded", "body")
                })?;
                let (req, at) = super::mandates::simulation(&raw)?;
                to_value(w.simulate_for_agent(agent, &mandate_id, &req, at).await?)
            }
            Op::Payments {
                user_id,
                task_id,
                limit,
            } => to_value(
                w.agent_payments(
                    agent,
                    user_id.as_deref(),
                    task_id.as_deref(),
                    Some(i64::from(limit)),
                )
                .await?,
            ),
            // Never reached: the tool is not offered here (`pays_http_402` is false), because
            // paying a resource needs the agent's key, which Purser never holds.
            Op::PayHttp402(_) => Err(ApiError::invalid(
                "tool_unavailable_here",
                "paying an HTTP 402 resource needs the agent's own key; use `purser mcp` (stdio) or the agent SDK",
                "name",
            )),
        }
    }
}

impl Backend for WalletBackend {
    async fn call(&self, ctx: &RequestContext<RoleServer>, op: Op) -> Result<Value, Failure> {
        // Put there by `handle` after the signature verified; never from the client.
        let agent = ctx
            .extensions
            .get::<Parts>()
            .and_then(|p| p.extensions.get::<AgentCaller>())
            .cloned()
            .ok_or_else(|| {
                Failure::new(
                    "invalid_request",
                    "signature_missing",
                    "every request to /mcp must be signed with the agent's key (RFC 9421)",
                )
            })?;
        let envelope = ctx
            .extensions
            .get::<Parts>()
            .and_then(|p| p.extensions.get::<SignedEnvelope>())
            .map(|e| e.0.clone());
        self.run(&agent, envelope.as_deref(), op)
            .await
            .map_err(failure)
    }
}

type Service = StreamableHttpService<PurserMcp<WalletBackend>, NeverSessionManager>;

/// The `/mcp` route.
pub fn route(state: &AppState) -> MethodRouter<AppState> {
    let mcp = PurserMcp::new(Arc::new(WalletBackend {
        wallet: state.wallet.clone(),
    }));
    let config = StreamableHttpServerConfig::default()
        .with_stateful_mode(false)
        .with_json_response(true)
        // The signature check below already refuses any authority but Purser's own
        // (`signature_wrong_authority`), which is what the Host allow-list guards against.
        .disable_allowed_hosts();
    let service: Service = StreamableHttpService::new(
        move || Ok(mcp.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    any(move |State(state): State<AppState>, req: Request| {
        let service = service.clone();
        async move { handle(state, service, req).await }
    })
}

async fn handle(state: AppState, service: Service, req: Request) -> Response {
    if req.method() != axum::http::Method::POST {
        let mut r = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "MCP at /mcp is stateless streamable HTTP: send each JSON-RPC message as a signed POST",
        )
        .into_response();
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return r;
    }
    let (parts, body) = req.into_parts();
    let signed = match Signed::from_request(Request::from_parts(parts.clone(), body), &state).await
    {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut parts = parts;
    parts.extensions.insert(signed.agent);
    // The bytes the agent signed: a payment records them as its request (evidence).
    parts.extensions.insert(SignedEnvelope(signed.body.clone()));
    let resp = service
        .handle(Request::from_parts(parts, Body::from(signed.body)))
        .await;
    let (parts, body) = resp.into_parts();
    let body = Body::new(body);
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (parts.status.is_client_error() || parts.status.is_server_error()) && !json {
        // rmcp refuses in plain text; Purser answers in its one error shape.
        let text = axum::body::to_bytes(body, MAX_REFUSAL_BYTES)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        return transport_refusal(parts.status, &text).into_response();
    }
    Response::from_parts(parts, body)
}

/// The most of rmcp's own refusal text read (its messages are one line).
const MAX_REFUSAL_BYTES: usize = 4 * 1024;

/// What rmcp's streamable-HTTP transport refused (a plain-text answer), as Purser's error:
/// what was wrong, and what to send instead. rmcp's text may quote the request, so only
/// field names and types from it are kept, never values ([`crate::error::without_values`]).
fn transport_refusal(status: StatusCode, text: &str) -> ApiError {
    let text = text.trim();
    if status == StatusCode::NOT_ACCEPTABLE {
        return ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "MCP at /mcp is streamable HTTP: send the header 'Accept: application/json, text/event-stream' with every POST (Purser answers with application/json)",
        )
        .param("Accept");
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        if let Some(detail) = text.strip_prefix("fail to deserialize request body") {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "the body is not a JSON-RPC 2.0 message MCP accepts ({:.200}); send a request such as {{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\"}}",
                    crate::error::without_values(detail.trim())
                ),
            );
        }
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the JSON-RPC message as JSON with the header 'Content-Type: application/json'",
        )
        .param("Content-Type");
    }
    if text.contains("MCP-Protocol-Version") {
        let known: Vec<String> = purser_mcp::rmcp::model::ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .map(|v| v.to_string())
            .collect();
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "mcp_protocol_version_unsupported",
            format!(
                "the MCP-Protocol-Version header names a version this server does not speak; send one of {} or leave the header out",
                known.join(", ")
            ),
        )
        .param("MCP-Protocol-Version");
    }
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), detail = %format!("{text:.200}"), "the MCP transport failed");
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Purser's MCP transport failed and applied nothing for this request; retry, and report it if it persists",
        );
    }
    ApiError::new(
        status,
        "mcp_request_refused",
        format!(
            "the MCP transport refused the request: {:.200}",
            crate::error::without_values(text)
        ),
    )
}
