//! Purser's MCP server: the tools an agent uses to pay through Purser from any MCP client.
//!
//! The tools ([`tools`]) parse their arguments, call a [`Backend`], and answer with a sentence
//! a person (or a model) can act on plus the JSON Purser returned ([`words`]). The backend is
//! where the agent's identity comes from and where the rules run:
//!
//! - `purser mcp` (stdio) uses the agent SDK: every tool call is a request signed with the
//!   agent's key to Purser's REST API (`/v1/agent/*`), checked there like any other.
//! - `/mcp` in `purser serve` (streamable HTTP) verifies the agent's signature on each HTTP
//!   request and calls the same wallet functions as the REST handlers.
//!
//! No rule lives here: a decline, a budget or a binding check is always Purser's answer,
//! passed through with its code and message.

pub mod tools;
pub mod words;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock as Content, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerInfo,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use rmcp;

/// How often `wait_for_confirmation` looks at the payment again. A person's tap shows up
/// within a second; each look is one cheap signed GET.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// What Purser refused, or why it could not be asked: Purser's error shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `invalid_request`, `card_error`, … as the REST API says; `tool_error` for what
    /// failed before Purser was asked.
    pub kind: String,
    /// Purser's stable machine code (`agent_not_bound`, `mandate_not_found`, …).
    pub code: String,
    /// A sentence a person understands.
    pub message: String,
    /// The argument at fault, when one is.
    pub param: Option<String>,
}

impl Failure {
    pub fn new(kind: &str, code: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind: kind.to_string(),
            code: code.to_string(),
            message: message.into(),
            param: None,
        }
    }

    fn invalid(code: &str, message: impl Into<String>, param: Option<String>) -> Failure {
        Failure {
            param,
            ..Failure::new("invalid_request", code, message)
        }
    }

    /// `{"type","code","message","param"}`, as the REST API answers.
    pub fn to_json(&self) -> Value {
        json!({"type": self.kind, "code": self.code, "message": self.message, "param": self.param})
    }
}

/// One call into Purser, each the same as one REST route for agents.
#[derive(Clone, Debug)]
pub enum Op {
    /// `GET /v1/agent/whoami`
    WhoAmI,
    /// `POST /v1/agent/payments` with this body and Idempotency-Key.
    Pay {
        body: Value,
        idempotency_key: String,
    },
    /// `GET /v1/agent/payments/{id}`
    Payment { id: String },
    /// `GET /v1/agent/users/{user_id}/mandates`
    Mandates { user_id: String },
    /// `POST /v1/agent/mandates/{id}/simulate` with this body.
    Simulate { mandate_id: String, body: Value },
    /// `GET /v1/agent/payments?user_id=&task_id=&limit=`
    Payments {
        user_id: Option<String>,
        task_id: Option<String>,
        limit: u32,
    },
    /// Call an HTTP 402 resource and pay it (the agent SDK's `x402_request`). Only a backend
    /// that holds the agent's key can: the payment for the resource is signed with it.
    PayHttp402(tools::PayHttp402),
}

/// Where tool calls go: Purser's REST API over signed HTTP, or the wallet in-process. Either
/// way the answer is the JSON the REST route would return, or its error.
pub trait Backend: Send + Sync + 'static {
    /// Run `op` as the agent behind this request (`ctx` carries the HTTP request's verified
    /// agent when there is one).
    fn call(
        &self,
        ctx: &RequestContext<RoleServer>,
        op: Op,
    ) -> impl Future<Output = Result<Value, Failure>> + Send;

    /// Whether this backend can run [`Op::PayHttp402`]: it needs the agent's private key, to
    /// sign the payment it sends to the resource. `purser mcp` (stdio) has it; `/mcp` in
    /// `purser serve` never holds an agent's key, so it does not list the tool.
    fn pays_http_402(&self) -> bool {
        false
    }
}

/// The MCP server: Purser's tools over one backend.
pub struct PurserMcp<B> {
    backend: Arc<B>,
}

impl<B> Clone for PurserMcp<B> {
    fn clone(&self) -> Self {
        PurserMcp {
            backend: self.backend.clone(),
        }
    }
}

impl<B: Backend> PurserMcp<B> {
    pub fn new(backend: Arc<B>) -> PurserMcp<B> {
        PurserMcp { backend }
    }

    async fn run(
        &self,
        name: &str,
        args: Value,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<Result<(String, Value), Failure>> {
        use tools::*;
        let b = &self.backend;
        Some(match name {
            REQUEST_PAYMENT => match parse::<RequestPayment>(args) {
                Ok(a) => pay(b, ctx, &a).await,
                Err(f) => Err(f),
            },
            GET_PAYMENT => match parse::<GetPayment>(args) {
                Ok(a) => b
                    .call(ctx, Op::Payment { id: a.payment_id })
                    .await
                    .map(|v| (words::payment(&v), v)),
                Err(f) => Err(f),
            },
            WAIT_FOR_CONFIRMATION => match parse::<WaitForConfirmation>(args) {
                Ok(a) => wait(b, ctx, &a).await,
                Err(f) => Err(f),
            },
            LIST_MANDATES => match parse::<ListMandates>(args) {
                Ok(a) => b
                    .call(ctx, Op::Mandates { user_id: a.user_id })
                    .await
                    .map(|v| (words::mandates(&v), v)),
                Err(f) => Err(f),
            },
            SIMULATE_PURCHASE => match parse::<SimulatePurchase>(args) {
                Ok(a) => b
                    .call(
                        ctx,
                        Op::Simulate {
                            body: a.body(),
                            mandate_id: a.mandate_id,
                        },
                    )
                    .await
                    .map(|v| (words::simulation(&v), v)),
                Err(f) => Err(f),
            },
            LIST_PAYMENTS => match parse::<ListPayments>(args) {
                Ok(a) => match a.limit {
                    Some(n) if n == 0 || n > MAX_LIST => Err(Failure::invalid(
                        "limit_invalid",
                        format!("limit is 1 to {MAX_LIST}"),
                        Some("limit".into()),
                    )),
                    n => b
                        .call(
                            ctx,
                            Op::Payments {
                                user_id: a.user_id,
                                task_id: a.task_id,
                                limit: n.unwrap_or(DEFAULT_LIST),
                            },
                        )
                        .await
                        .map(|v| (words::payments(&v), v)),
                },
                Err(f) => Err(f),
            },
            PAY_HTTP_402 => match parse::<PayHttp402>(args) {
                Ok(a) => pay_http_402(b, ctx, a).await,
                Err(f) => Err(f),
            },
            WHOAMI => match parse::<WhoAmI>(args) {
                Ok(_) => b
                    .call(ctx, Op::WhoAmI)
                    .await
                    .map(|v| (words::whoami(&v), v)),
                Err(f) => Err(f),
            },
            _ => return None,
        })
    }
}

/// Tool arguments into their type; what does not fit is a tool error naming the argument.
fn parse<T: DeserializeOwned>(args: Value) -> Result<T, Failure> {
    serde_json::from_value(args).map_err(|e| {
        let text = e.to_string();
        // serde names the field in backquotes ("missing field `total`"); other messages quote
        // the value sent, which is the caller's own input and safe to show back.
        let param = text
            .split_once('`')
            .and_then(|(_, rest)| rest.split('`').next())
            .filter(|p| !p.is_empty() && !p.contains(' '))
            .map(str::to_string);
        Failure::invalid(
            "invalid_arguments",
            format!("the tool's arguments do not match its input schema: {text}"),
            param,
        )
    })
}

/// An Idempotency-Key as the REST API accepts it: 1 to 255 visible ASCII characters.
fn idempotency_key(a: &tools::RequestPayment, body: &Value) -> Result<String, Failure> {
    match &a.idempotency_key {
        Some(k) if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(Failure::invalid(
                "idempotency_key_invalid",
                "idempotency_key must be 1 to 255 visible ASCII characters (a UUID is ideal)",
                Some("idempotency_key".into()),
            ))
        }
        Some(k) => Ok(k.clone()),
        // The same request gets the same key, so a repeated call is a replay, not a second
        // payment.
        None => Ok(format!(
            "mcp-{}",
            hex::encode(&Sha256::digest(body.to_string().as_bytes())[..20])
        )),
    }
}

async fn pay<B: Backend>(
    b: &Arc<B>,
    ctx: &RequestContext<RoleServer>,
    a: &tools::RequestPayment,
) -> Result<(String, Value), Failure> {
    let body = a.body();
    let idempotency_key = idempotency_key(a, &body)?;
    let v = b
        .call(
            ctx,
            Op::Pay {
                body,
                idempotency_key,
            },
        )
        .await?;
    Ok((words::payment(&v), v))
}

async fn pay_http_402<B: Backend>(
    b: &Arc<B>,
    ctx: &RequestContext<RoleServer>,
    a: tools::PayHttp402,
) -> Result<(String, Value), Failure> {
    if !b.pays_http_402() {
        return Err(Failure::new(
            "invalid_request",
            "tool_unavailable_here",
            "pay_http_402_resource signs the payment with your own key, which this server never \
             holds; run `purser mcp` (stdio) beside your agent with its key file, or pay with the \
             agent SDK's x402_get",
        ));
    }
    let method = a.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    if method != "GET" && method != "POST" {
        return Err(Failure::invalid(
            "method_invalid",
            "method is \"GET\" or \"POST\"",
            Some("method".into()),
        ));
    }
    if method == "GET" && a.body.is_some() {
        return Err(Failure::invalid(
            "body_not_allowed",
            "a body is sent only with method \"POST\"",
            Some("body".into()),
        ));
    }
    if !(a.url.starts_with("https://") || a.url.starts_with("http://")) {
        return Err(Failure::invalid(
            "url_invalid",
            "url must be an absolute http:// or https:// URL",
            Some("url".into()),
        ));
    }
    if a.max.amount <= 0 {
        return Err(Failure::invalid(
            "max_invalid",
            "max.amount must be a positive integer of minor units",
            Some("max".into()),
        ));
    }
    let v = b
        .call(
            ctx,
            Op::PayHttp402(tools::PayHttp402 {
                method: Some(method),
                ..a
            }),
        )
        .await?;
    Ok((words::http_402(&v), v))
}

async fn wait<B: Backend>(
    b: &Arc<B>,
    ctx: &RequestContext<RoleServer>,
    a: &tools::WaitForConfirmation,
) -> Result<(String, Value), Failure> {
    let secs = a.timeout_seconds.unwrap_or(tools::DEFAULT_WAIT_SECS);
    if secs > tools::MAX_WAIT_SECS {
        return Err(Failure::invalid(
            "timeout_invalid",
            format!(
                "timeout_seconds is 0 to {}; call again to keep waiting",
                tools::MAX_WAIT_SECS
            ),
            Some("timeout_seconds".into()),
        ));
    }
    let until = Instant::now() + Duration::from_secs(u64::from(secs));
    loop {
        let v = b
            .call(
                ctx,
                Op::Payment {
                    id: a.payment_id.clone(),
                },
            )
            .await?;
        let waiting = v["status"] == "needs_confirmation";
        if !waiting || Instant::now() >= until || ctx.ct.is_cancelled() {
            let mut text = words::payment(&v);
            if waiting {
                text.push_str(&format!(
                    " Still waiting after {secs} s: call wait_for_confirmation again, or ask the person."
                ));
            }
            return Ok((text, v));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY.min(until.saturating_duration_since(Instant::now()))) => {}
            _ = ctx.ct.cancelled() => {}
        }
    }
}

impl<B: Backend> ServerHandler for PurserMcp<B> {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("purser", env!("CARGO_PKG_VERSION"))
                    .with_title("Purser agent wallet"),
            )
            .with_instructions(
                "Purser pays merchants for the people you act for, within the mandates they \
                 gave you. Start with whoami (who you are bound to) and list_mandates (what you \
                 may buy). Optionally simulate_purchase first; then request_payment. Amounts \
                 are integer minor units with an ISO 4217 currency (CNY 79900 = ¥799.00). A \
                 declined answer says why in words; do not retry a decline unchanged.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list(
            self.backend.pays_http_402(),
        )))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        tools::list(self.backend.pays_http_402())
            .into_iter()
            .find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        match self.run(&request.name, args, &context).await {
            None => Err(ErrorData::invalid_params(
                format!(
                    "there is no tool named {:.64}; tools/list names them",
                    request.name
                ),
                None,
            )),
            Some(Ok((text, v))) => Ok(CallToolResult::success(vec![
                Content::text(text),
                Content::text(v.to_string()),
            ])),
            Some(Err(f)) => Ok(CallToolResult::error(vec![
                Content::text(words::failure(&f)),
                Content::text(json!({"error": f.to_json()}).to_string()),
            ])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_inline_object_schema_naming_its_required_arguments() {
        assert_eq!(tools::list(false).len(), 7);
        let tools = tools::list(true);
        assert_eq!(tools.len(), 8);
        for t in &tools {
            let schema = Value::Object((*t.input_schema).clone());
            assert_eq!(schema["type"], "object", "{}", t.name);
            assert!(!schema.to_string().contains("$ref"), "{}: {schema}", t.name);
            assert_eq!(schema["additionalProperties"], false, "{}", t.name);
            assert!(
                t.description.as_deref().unwrap_or("").len() > 80,
                "{}",
                t.name
            );
        }
        let pay = tools
            .iter()
            .find(|t| t.name == tools::REQUEST_PAYMENT)
            .expect("pay");
        assert!(!tools::list(false)
            .iter()
            .any(|t| t.name == tools::PAY_HTTP_402));
        let required: Vec<&str> = pay.input_schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for r in [
            "user_id",
            "mandate_id",
            "task_id",
            "merchant",
            "items",
            "total",
        ] {
            assert!(required.contains(&r), "{required:?}");
        }
        assert!(!required.contains(&"idempotency_key"));
    }

    #[test]
    fn arguments_that_do_not_fit_name_the_field() {
        let f = parse::<tools::GetPayment>(json!({})).expect_err("missing");
        assert_eq!(
            (f.code.as_str(), f.param.as_deref()),
            ("invalid_arguments", Some("payment_id"))
        );
        let f = parse::<tools::GetPayment>(json!({"payment_id": "pay_x", "extra": 1}))
            .expect_err("unknown");
        assert_eq!(f.param.as_deref(), Some("extra"));
        let f = parse::<tools::Amount>(json!({"amount": 1.5, "currency": "CNY"})).expect_err("f");
        assert_eq!(f.code, "invalid_arguments");
    }

    fn payment(key: Option<&str>, minor: i64) -> tools::RequestPayment {
        parse(json!({
            "user_id": "usr_a", "mandate_id": "mdt_b", "task_id": "t",
            "merchant": {"id": "mch_c"},
            "items": [{"title": "Boots", "quantity": 1, "unit_price": {"amount": minor, "currency": "CNY"}}],
            "total": {"amount": minor, "currency": "CNY"},
            "idempotency_key": key,
        }))
        .expect("payment")
    }

    #[test]
    fn the_default_idempotency_key_is_the_request_itself() {
        let a = payment(None, 100);
        let body = a.body();
        assert!(body.get("idempotency_key").is_none(), "{body}");
        let k1 = idempotency_key(&a, &body).expect("key");
        let k2 = idempotency_key(&payment(None, 100), &payment(None, 100).body()).expect("key");
        let k3 = idempotency_key(&payment(None, 101), &payment(None, 101).body()).expect("key");
        assert_eq!(k1, k2);
        assert_ne!(k1, k3);
        assert!(k1.starts_with("mcp-") && k1.len() == 44, "{k1}");
        let given = payment(Some("order-42"), 100);
        assert_eq!(
            idempotency_key(&given, &given.body()).expect("key"),
            "order-42"
        );
        let bad = payment(Some("has space"), 100);
        let f = idempotency_key(&bad, &bad.body()).expect_err("refused");
        assert_eq!(f.param.as_deref(), Some("idempotency_key"));
    }

    #[test]
    fn simulate_bodies_take_the_owner_simulate_shape() {
        let s: tools::SimulatePurchase = parse(json!({
            "mandate_id": "mdt_b", "total": {"amount": 500, "currency": "CNY"},
            "merchant": {"name": "Trail", "category": "5661"},
            "items": [{"title": "Boots", "quantity": 2, "unit_price": {"amount": 250, "currency": "CNY"}}],
        }))
        .expect("simulate");
        assert_eq!(
            s.body(),
            json!({"amount": {"amount": 500, "currency": "CNY"},
                   "merchant": {"name": "Trail", "mcc": "5661"},
                   "items": [{"title": "Boots", "quantity": 2, "unit_price": {"minor": 250, "currency": "CNY"}}]})
        );
    }

    #[test]
    fn answers_in_words_restate_the_decision() {
        let declined = json!({"id": "pay_1", "status": "declined", "merchant_id": "mch_1",
            "amount": {"amount": 90000, "currency": "CNY", "display": "¥900.00"},
            "decline": {"code": "above_maximum", "message": "This mandate allows ¥800.00 per payment; this one is ¥900.00."}});
        assert_eq!(
            words::payment(&declined),
            "Declined (above_maximum): This mandate allows ¥800.00 per payment; this one is ¥900.00. Nothing was charged (payment pay_1)."
        );
        let f = Failure::new("invalid_request", "agent_not_bound", "not bound");
        assert_eq!(
            words::failure(&f),
            "Purser refused (agent_not_bound): not bound"
        );
        assert_eq!(f.to_json()["type"], "invalid_request");
    }
}
