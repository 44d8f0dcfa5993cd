//! The tools an agent sees: their names, descriptions and argument types (the JSON Schemas are
//! generated from these types, doc comments included, so what the schema says is what parses).

use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest `wait_for_confirmation` may block. A person approving on their phone takes seconds
/// to a minute or two; two minutes keeps one tool call inside every MCP client's own request
/// timeout, and the agent can call again to keep waiting.
pub const MAX_WAIT_SECS: u32 = 120;
/// `wait_for_confirmation` without `timeout_seconds`.
pub const DEFAULT_WAIT_SECS: u32 = 60;
/// Most payments `list_payments` returns in one call (the REST route's own limit).
pub const MAX_LIST: u32 = 100;
/// `list_payments` without `limit`.
pub const DEFAULT_LIST: u32 = 20;

pub const REQUEST_PAYMENT: &str = "request_payment";
pub const GET_PAYMENT: &str = "get_payment";
pub const WAIT_FOR_CONFIRMATION: &str = "wait_for_confirmation";
pub const LIST_MANDATES: &str = "list_mandates";
pub const SIMULATE_PURCHASE: &str = "simulate_purchase";
pub const LIST_PAYMENTS: &str = "list_payments";
pub const WHOAMI: &str = "whoami";
pub const PAY_HTTP_402: &str = "pay_http_402_resource";

/// Most bytes of a paid resource's body a tool answer carries (the SDK reads at most its own
/// response limit; a model needs far less).
pub const MAX_RESOURCE_BODY: usize = 64 * 1024;

/// Money in integer minor units of an ISO 4217 currency.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Integer minor units, never a decimal: CNY 79900 is ¥799.00, USD 1250 is $12.50, JPY has
    /// no minor unit (JPY 1500 is ¥1,500).
    pub amount: i64,
    /// ISO 4217 code, e.g. "CNY", "USD", "JPY".
    pub currency: String,
}

/// The merchant as you know it. Purser checks it against its merchant registry.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Merchant {
    /// The merchant's Purser id, "mch_…" (the merchant shows it at checkout).
    pub id: String,
    /// The merchant's name, if you know it (must match the registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shop's website or the page you are buying on, e.g. "https://shop.example.com/boots".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Two-letter country code, e.g. "CN".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Four-digit merchant category code, e.g. "5661" (shoe stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// One line of the cart.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The merchant's product id (SKU), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What it is, as the shop names it, e.g. "Trail Runner hiking boots, size 42".
    pub title: String,
    /// How many (at least 1).
    pub quantity: u32,
    /// Price of one, in minor units.
    pub unit_price: Amount,
}

/// Arguments of `request_payment`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPayment {
    /// The person you pay for, "usr_…" (see `whoami` for the people you are bound to).
    pub user_id: String,
    /// The mandate this purchase falls under, "mdt_…" (see `list_mandates`).
    pub mandate_id: String,
    /// Your own id for the task this payment belongs to (1-128 visible ASCII characters, e.g.
    /// "buy-hiking-boots"); the person sees the task's steps together.
    pub task_id: String,
    pub merchant: Merchant,
    /// The cart, line by line (at most 100 lines).
    pub items: Vec<Item>,
    /// The total to pay: must equal the sum of quantity x unit_price over the items.
    pub total: Amount,
    /// The merchant's checkout session id, if there is one: the credential is then bound to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    /// "wallet" or an agent card "ecd_…"; default: what the person set for you, else the wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding_source: Option<String>,
    /// How long the merchant may redeem the credential, in seconds (default 1800, at most 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ttl_seconds: Option<i64>,
    /// Makes retries safe: the same key with the same request returns the first answer instead
    /// of paying twice. Default: derived from the request itself, so repeating an identical
    /// call returns the first decision. Pass a new key to buy the identical cart again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl RequestPayment {
    /// The JSON body of `POST /v1/agent/payments` (everything but the idempotency key).
    pub fn body(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("idempotency_key");
        }
        v
    }
}

/// Arguments of `get_payment`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPayment {
    /// The payment id "pay_…" that `request_payment` returned.
    pub payment_id: String,
}

/// Arguments of `wait_for_confirmation`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitForConfirmation {
    /// The payment id "pay_…" whose status is needs_confirmation.
    pub payment_id: String,
    /// How long to wait for the person, in seconds (default 60, at most 120). Call again to
    /// keep waiting.
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
}

/// Arguments of `list_mandates`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMandates {
    /// The person whose mandates to you to list, "usr_…".
    pub user_id: String,
}

/// A merchant, for a simulated purchase.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedMerchant {
    /// The merchant's Purser id, "mch_…", if you know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shop's website, e.g. "shop.example.com".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Two-letter country code, e.g. "CN".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Four-digit merchant category code, e.g. "5661".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// One line of a simulated cart.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    pub quantity: u32,
    /// Price of one, in minor units, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Amount>,
}

/// Arguments of `simulate_purchase`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatePurchase {
    /// The mandate to try the purchase against, "mdt_…".
    pub mandate_id: String,
    /// What the purchase would cost in all.
    pub total: Amount,
    #[serde(default)]
    pub merchant: Option<SimulatedMerchant>,
    #[serde(default)]
    pub items: Vec<SimulatedItem>,
    /// When the purchase would happen, RFC 3339 (e.g. "2026-11-21T10:00:00+08:00"); default now.
    #[serde(default)]
    pub at: Option<String>,
}

impl SimulatePurchase {
    /// The JSON body of `POST /v1/agent/mandates/{id}/simulate` (the owner's simulate body).
    pub fn body(&self) -> Value {
        let mut b = serde_json::Map::new();
        b.insert(
            "amount".into(),
            serde_json::json!({"amount": self.total.amount, "currency": self.total.currency}),
        );
        if let Some(m) = &self.merchant {
            let mut o = serde_json::Map::new();
            for (k, v) in [
                ("id", &m.id),
                ("name", &m.name),
                ("website", &m.website),
                ("country", &m.country),
                ("mcc", &m.category),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), Value::String(v.clone()));
                }
            }
            b.insert("merchant".into(), Value::Object(o));
        }
        if !self.items.is_empty() {
            let items = self
                .items
                .iter()
                .map(|i| {
                    let mut o = serde_json::Map::new();
                    if let Some(id) = &i.id {
                        o.insert("id".into(), Value::String(id.clone()));
                    }
                    o.insert("title".into(), Value::String(i.title.clone()));
                    o.insert("quantity".into(), Value::from(i.quantity));
                    if let Some(p) = &i.unit_price {
                        o.insert(
                            "unit_price".into(),
                            serde_json::json!({"minor": p.amount, "currency": p.currency}),
                        );
                    }
                    Value::Object(o)
                })
                .collect();
            b.insert("items".into(), Value::Array(items));
        }
        if let Some(at) = &self.at {
            b.insert("at".into(), Value::String(at.clone()));
        }
        Value::Object(b)
    }
}

/// Arguments of `list_payments`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPayments {
    /// Only payments for this person, "usr_…".
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only payments of this task.
    #[serde(default)]
    pub task_id: Option<String>,
    /// How many, newest first (default 20, at most 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of `pay_http_402_resource`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayHttp402 {
    /// The resource to call, an absolute http(s) URL, e.g. "https://api.example.com/weather".
    pub url: String,
    /// "GET" (default) or "POST".
    #[serde(default)]
    pub method: Option<String>,
    /// The JSON body to POST (only with method "POST").
    #[serde(default)]
    pub body: Option<Value>,
    /// The person you pay for, "usr_…".
    pub user_id: String,
    /// The mandate the payment falls under, "mdt_…" (see `list_mandates`).
    pub mandate_id: String,
    /// Your own id for the task this call belongs to (1-128 visible ASCII characters).
    pub task_id: String,
    /// The most this one call may cost, in minor units, and the only currency you will pay in.
    /// A resource asking for more is refused before Purser is asked.
    pub max: Amount,
    /// "wallet" or an agent card "ecd_…"; default: what the person set for you.
    #[serde(default)]
    pub funding_source: Option<String>,
}

/// Arguments of `whoami` (none).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoAmI {}

/// Every tool: name, description, and the argument type its schema comes from. `with_http_402`:
/// whether the backend can pay HTTP 402 resources (see `Backend::pays_http_402`).
pub fn list(with_http_402: bool) -> Vec<rmcp::model::Tool> {
    use rmcp::model::{Tool, ToolAnnotations};
    let read_only = |t: Tool| t.annotate(ToolAnnotations::new().read_only(true));
    let all = vec![
        Tool::new(
            REQUEST_PAYMENT,
            "Ask Purser to pay a merchant for the person you act for, within one of their \
             mandates. The answer's status is one of: approved (the money is held; give the \
             merchant the single-use credential token, which works only at that merchant, up to \
             the total, until it expires), needs_confirmation (the person must approve first: \
             show them the confirmation URL, then call wait_for_confirmation), or declined (the \
             code and a sentence say why; nothing was charged). Every check of Purser's REST API \
             applies: your binding, the mandate's limits and budgets, the funds, anomaly rules.",
            schema::<RequestPayment>(),
        ),
        read_only(Tool::new(
            GET_PAYMENT,
            "Look up a payment you asked for: its status now (approved, needs_confirmation, \
             declined, captured, refunded, voided, expired, failed), the credential while it is \
             usable, and the reason when declined.",
            schema::<GetPayment>(),
        )),
        read_only(Tool::new(
            WAIT_FOR_CONFIRMATION,
            "Wait (at most 120 seconds per call) for the person to approve or decline a payment \
             that needs their confirmation. Returns the payment as soon as it is decided, or as \
             it stands when the wait ends (still needs_confirmation: call again or ask the \
             person).",
            schema::<WaitForConfirmation>(),
        )),
        read_only(Tool::new(
            LIST_MANDATES,
            "List the mandates a person gave you: what you may buy, where, when and how much, in \
             one sentence each, with what is already spent and the remaining budget and number \
             of payments. Only active mandates can be paid under.",
            schema::<ListMandates>(),
        )),
        read_only(Tool::new(
            SIMULATE_PURCHASE,
            "Try a purchase against a mandate without paying: would it be allowed, need the \
             person's confirmation, or be declined, with every reason in words. Nothing is \
             charged or held. (Funds and anomaly rules are checked only by request_payment.)",
            schema::<SimulatePurchase>(),
        )),
        read_only(Tool::new(
            LIST_PAYMENTS,
            "Your recent payments, newest first, with totals of what is held and captured per \
             currency: your own spending record.",
            schema::<ListPayments>(),
        )),
        Tool::new(
            PAY_HTTP_402,
            "Call a paid HTTP resource (an API that answers 402 Payment Required with x402 v2 \
             headers) and pay for it through Purser: the price is checked against your max, \
             then Purser decides under the mandate like request_payment. Only an approved \
             payment is sent to the resource; one that needs the person's confirmation or is \
             declined comes back as an error and nothing is paid. Returns the resource's status \
             and body, and what was charged (payment id, amount). A resource that does not ask \
             for payment is simply returned.",
            schema::<PayHttp402>(),
        ),
        read_only(Tool::new(
            WHOAMI,
            "Which agent you are, the key you sign with, and the people you are bound to (their \
             user ids, and whether each binding is active, pending or frozen).",
            schema::<WhoAmI>(),
        )),
    ];
    all.into_iter()
        .filter(|t| with_http_402 || t.name != PAY_HTTP_402)
        .collect()
}

/// The JSON Schema (2020-12, no `$ref`s: some clients do not follow them) of an argument type.
fn schema<T: JsonSchema>() -> std::sync::Arc<rmcp::model::JsonObject> {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut v = serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        m.remove("$schema");
        m.remove("title");
    }
    match v {
        Value::Object(m) => std::sync::Arc::new(m),
        _ => std::sync::Arc::new(serde_json::Map::new()),
    }
}
