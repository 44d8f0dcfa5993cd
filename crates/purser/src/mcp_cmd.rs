//! `purser mcp`: Purser's MCP tools on stdin/stdout for a local agent (a coding assistant, a
//! desktop MCP client). It acts as one registered agent: every tool call is a request to a
//! running Purser signed with that agent's key by the agent SDK, so it passes exactly the
//! checks the REST API applies. Logs and errors go to stderr; stdout is the protocol.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use clap::Args;
use purser_mcp::rmcp::service::RequestContext;
use purser_mcp::rmcp::{RoleServer, ServiceExt};
use purser_mcp::{Backend, Failure, Op, PurserMcp};
use serde_json::{json, Value};

#[derive(Args)]
pub struct McpArgs {
    /// The agent's private key file (a private Ed25519 JWK, from `purser agent keygen`; mode
    /// 0600). The agent must be registered, and bound by the people it pays for.
    #[arg(long, value_name = "FILE", env = "PURSER_AGENT_KEY")]
    key: PathBuf,
    /// Base URL of the running `purser serve` (the address agents sign requests for).
    #[arg(
        long,
        value_name = "URL",
        env = "PURSER_URL",
        default_value = "http://127.0.0.1:7420"
    )]
    server: String,
    /// Let `pay_http_402_resource` call resources on loopback, private, link-local and other
    /// non-public addresses (a resource on your own machine or network). Off by default: a
    /// misled agent must not read internal services through this tool.
    #[arg(long)]
    allow_private_resources: bool,
}

/// The tools' backend: Purser's REST API through the agent SDK.
struct SdkBackend {
    client: Arc<purser_agent::Client>,
}

fn failure(e: purser_agent::Error) -> Failure {
    match e {
        purser_agent::Error::Api {
            status,
            code,
            message,
            param,
            ..
        } => Failure {
            kind: match status {
                402 => "card_error",
                503 => "service_unavailable",
                429 => "rate_limit_exceeded",
                s if s >= 500 => "processing_error",
                _ => "invalid_request",
            }
            .to_string(),
            code,
            message,
            param,
        },
        purser_agent::Error::Transport(t) => Failure::new(
            "service_unavailable",
            "purser_unreachable",
            format!("Purser did not answer ({t}); is `purser serve` running at the --server URL?"),
        ),
        other => Failure::new("processing_error", "agent_sdk_error", other.to_string()),
    }
}

fn run(c: &purser_agent::Client, op: Op) -> Result<Value, purser_agent::Error> {
    match op {
        Op::WhoAmI => c.send("GET", "/v1/agent/whoami", None),
        Op::Pay {
            body,
            idempotency_key,
        } => c.send_with_key("POST", "/v1/agent/payments", Some(&body), &idempotency_key),
        Op::Payment { id } => c.send(
            "GET",
            &format!(
                "/v1/agent/payments/{}",
                purser_agent::encode_path_segment(&id)
            ),
            None,
        ),
        Op::Mandates { user_id } => c.mandates(&user_id),
        Op::Simulate { mandate_id, body } => c.simulate(&mandate_id, &body),
        Op::Payments {
            user_id,
            task_id,
            limit,
        } => c.payments(user_id.as_deref(), task_id.as_deref(), Some(limit)),
        Op::PayHttp402(a) => pay_http_402(c, a).map_err(|e| match e {
            purser_agent::Error::Api {
                status,
                code,
                message,
                param,
                retry_after_secs,
            } if code == "resource_address_private" => purser_agent::Error::Api {
                status,
                code,
                message: format!(
                    "{message}: pay_http_402_resource calls only public resources unless `purser mcp` runs with --allow-private-resources"
                ),
                param,
                retry_after_secs,
            },
            other => other,
        }),
    }
}

/// `{amount, currency, display}` as Purser answers money, from minor units.
fn money(minor: i64, currency: &str) -> Value {
    let display = purser_core::Currency::from_code(currency)
        .map(|c| purser_core::Money::new(minor, c).with_symbol())
        .unwrap_or_else(|| format!("{minor} {currency} (minor units)"));
    json!({"amount": minor, "currency": currency, "display": display})
}

/// Call the resource through the SDK (which pays it within the mandate and `max`), and say
/// what it answered and what it cost.
fn pay_http_402(
    c: &purser_agent::Client,
    a: purser_mcp::tools::PayHttp402,
) -> Result<Value, purser_agent::Error> {
    let opts = purser_agent::X402Options {
        user_id: a.user_id,
        mandate_id: a.mandate_id.clone(),
        task_id: a.task_id,
        max: purser_agent::Money::new(a.max.amount, &a.max.currency),
        funding_source: a.funding_source,
    };
    let r = match (a.method.as_deref(), &a.body) {
        (Some("POST"), Some(body)) => c.x402_post(&a.url, body, &opts)?,
        (Some("POST"), None) => c.x402_request("POST", &a.url, None, &opts)?,
        _ => c.x402_get(&a.url, &opts)?,
    };
    let limit = purser_mcp::tools::MAX_RESOURCE_BODY;
    let truncated = r.body.len() > limit;
    let shown = &r.body[..r.body.len().min(limit)];
    let body = match std::str::from_utf8(shown) {
        Ok(t) => json!(t),
        // Cut inside a character: keep the valid prefix.
        Err(e) if e.error_len().is_none() => {
            json!(String::from_utf8_lossy(&shown[..e.valid_up_to()]))
        }
        Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(shown)}),
    };
    let paid = r.paid.map(|p| {
        let charged = p
            .settlement
            .amount
            .as_deref()
            .unwrap_or(&p.requirements.amount)
            .parse::<i64>()
            .unwrap_or(p.payment.amount.amount);
        json!({
            "payment_id": p.payment.id,
            "mandate_id": a.mandate_id,
            "status": p.payment.status,
            "charged": money(charged, &p.requirements.asset),
            "scheme": p.requirements.scheme,
            "pay_to": p.requirements.pay_to,
            "receipt": p.payment.receipt,
            "settlement": p.settlement,
        })
    });
    Ok(json!({
        "url": a.url,
        "status": r.status,
        "content_type": r.content_type,
        "body": body,
        "body_truncated": truncated,
        "paid": paid,
    }))
}

impl Backend for SdkBackend {
    fn pays_http_402(&self) -> bool {
        true
    }

    async fn call(&self, _ctx: &RequestContext<RoleServer>, op: Op) -> Result<Value, Failure> {
        // The SDK is blocking (ureq); its calls run on the blocking pool.
        let client = self.client.clone();
        match tokio::task::spawn_blocking(move || run(&client, op)).await {
            Ok(r) => r.map_err(failure),
            Err(_) => Err(Failure::new(
                "processing_error",
                "internal_error",
                "the request to Purser was interrupted; retry it",
            )),
        }
    }
}

pub fn run_stdio(args: McpArgs) -> Result<(), String> {
    let key = purser_agent::AgentKey::load_from_file(&args.key).map_err(|e| {
        format!(
            "{e}; give --key the agent's private key file (make one with `purser agent keygen --out FILE`, register it with `purser agent register`)"
        )
    })?;
    let client = purser_agent::Client::new(&args.server, key)
        .map_err(|e| format!("{e}; give --server the URL of a running `purser serve`"))?;
    // Resources are resolved once per connection and refused unless every address is
    // public; the addresses checked are the ones connected to (no DNS rebinding).
    let client = if args.allow_private_resources {
        client
    } else {
        client.with_resource_resolver(Arc::new(purser_agent::PublicOnly::new()))
    };
    tracing::info!(server = %client.base_url(), kid = %client.kid(), "MCP server on stdio");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        let server = PurserMcp::new(Arc::new(SdkBackend {
            client: Arc::new(client),
        }))
        .serve(purser_mcp::rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP client did not initialize a session: {e}"))?;
        server
            .waiting()
            .await
            .map_err(|e| format!("the MCP session ended with an error: {e}"))?;
        Ok(())
    })
}
