//! Agent payments end to end: request → decision → hold → scoped credential → redemption.
//!
//! # The decision
//!
//! An agent's signed payment request (`authorize`) becomes a `payments` row keyed by an id
//! derived from the agent and its Idempotency-Key, inserted `deciding` before anything else
//! happens. Then, in order, each able to decline: identity (the binding is active and not
//! frozen), the merchant (registered, and the agent's description of it matches the registry),
//! the funding source (the binding's restriction, an exclusive card of this binding in the
//! payment's currency, or the wallet), anomaly rules (a quantity far beyond the user's history,
//! the agent's payment velocity, the same cart paid minutes ago), and finally the mandate —
//! charged atomically with the ledger hold (`reserve_under_mandate`: the hold moves the money
//! from the funding account towards `merchant:<mch>:<CUR>`, pending). Only after the hold is
//! durable does one write record the outcome (`approved`, `needs_confirmation` with a
//! confirmation, or `declined`), the signed decision receipt, the timeline event and its
//! webhook deliveries; then the agent gets its answer.
//!
//! A crash before that write leaves the row `deciding`: the sweeper voids its hold, releases
//! its mandate charge and marks it `failed` (the agent was never told anything, so nothing
//! acknowledged is lost). A retry under the same key while the first is running is refused
//! `idempotency_in_flight`; after it, it returns the payment as it stands.
//!
//! # After the decision
//!
//! `confirm.rs`: the person approves or declines a `needs_confirmation` payment with their
//! PIN. `redeem.rs`: the merchant captures (once, up to the held amount; the rest is
//! released), voids, or refunds. `sweep.rs`: credentials and confirmations expire on their own;
//! interrupted captures and refunds are driven to their end.

pub mod ap2;
pub mod bills;
pub mod confirm;
pub(crate) mod credential;
pub mod events;
pub mod redeem;
pub mod sweep;
pub mod tasks;
pub mod views;

use purser_core::mandate::{CartItem, CountryCode, Evaluation, MerchantFacts, PaymentRequest};
use purser_core::{Currency, Money, Timestamp};
use purser_store::db::{DbError, Stmt};
use purser_store::vals;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Found, Kind, Result, WalletError};
use crate::funds::{self, account_id, ecard_account, wallet_account, Amount};
use crate::ids::{self, check_id};
use crate::mandates::HoldSpec;
use crate::signed::AgentCaller;
use crate::Wallet;

pub use views::{PaymentView, Reason};

/// The anomaly limits and lifetimes decisions use. Operators can change them at start.
#[derive(Clone, Debug)]
pub struct PaymentRules {
    /// Payment requests one agent may make for one user per minute.
    pub agent_payments_per_minute: i64,
    /// A line quantity above this is always questioned…
    pub quantity_floor: u32,
    /// …and declined when it is also more than this many times the user's largest past one.
    pub quantity_history_factor: u32,
    /// The same cart, merchant and agent within this window is a duplicate.
    pub duplicate_window_ms: i64,
    /// How long an approved credential can be redeemed.
    pub credential_ttl_ms: i64,
    /// How long a confirmation link stays open.
    pub confirmation_ttl_ms: i64,
}

impl Default for PaymentRules {
    fn default() -> PaymentRules {
        PaymentRules {
            agent_payments_per_minute: 60,
            quantity_floor: 10,
            quantity_history_factor: 10,
            duplicate_window_ms: 10 * 60 * 1000,
            credential_ttl_ms: 30 * 60 * 1000,
            confirmation_ttl_ms: 15 * 60 * 1000,
        }
    }
}

/// The anomaly rules' reads, one set per decision. One step down the person's largest
/// quantities (payments_user_quantity), however long their history; the payment deciding is not
/// counted (its status is `deciding`).
pub const SQL_LARGEST_QUANTITY: &str = "SELECT MAX(max_quantity) FROM payments WHERE user_id = $1 AND status IN ('approved', 'captured', 'refunded')";
/// Counts at most up to the limit (an index range scan that stops early).
pub const SQL_RECENT: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM payments WHERE agent_id = $1 AND user_id = $2 AND created_at > $3 AND id <> $4 LIMIT $5) AS recent";
/// The cart's own key (payments_cart), over the duplicate window only.
pub const SQL_DUPLICATE: &str = "SELECT id FROM payments WHERE agent_id = $1 AND cart_hash = $2 AND created_at > $3 AND id <> $4 AND user_id = $5 AND (status IN ('approved', 'needs_confirmation', 'capturing', 'captured') OR (status = 'deciding' AND (created_at < $6 OR (created_at = $6 AND id < $4)))) LIMIT 1";

/// The reads that run on every decision or sweeper pass: name, statement, and the indexes its
/// plan may use (the first drives it; primary keys are always allowed for lookups). Each must be
/// an index range bounded by its limit or its key, never a walk over open payments or a
/// person's history: the query-plan test (`tests/it/plans.rs`) holds them to these plans on
/// SQLite, so a dropped index or a rewritten query that would make authorizations slow down as
/// the data grows fails CI.
pub const HOT_QUERIES: &[(&str, &str, &[&str])] = &[
    (
        "largest quantity",
        SQL_LARGEST_QUANTITY,
        &["payments_user_quantity"],
    ),
    ("recent payments", SQL_RECENT, &["payments_agent_user"]),
    ("duplicate cart", SQL_DUPLICATE, &["payments_cart"]),
    (
        "interrupted decisions",
        sweep::SQL_DECIDING,
        &["payments_status"],
    ),
    (
        "interrupted captures",
        sweep::SQL_CAPTURING,
        &["payments_status"],
    ),
    (
        "interrupted endings",
        sweep::SQL_ENDING,
        &["payments_status"],
    ),
    (
        "interrupted refunds",
        sweep::SQL_REFUNDING,
        &["payment_refunds_status"],
    ),
    (
        "open payments of frozen bindings",
        sweep::SQL_FROZEN_BINDINGS,
        &["bindings_frozen", "payments_open_binding"],
    ),
    (
        "open payments of bindings revoked lately",
        sweep::SQL_REVOKED_BINDINGS,
        &["bindings_revoked", "payments_open_binding"],
    ),
    (
        "held charges page",
        sweep::SQL_HELD_CHARGES,
        &["mandate_charges_status"],
    ),
    (
        "credentials due",
        sweep::SQL_CREDENTIALS_DUE,
        &["payments_credential_due"],
    ),
    (
        "confirmations due",
        sweep::SQL_CONFIRMATIONS_DUE,
        &["confirmations_due"],
    ),
    (
        "stale mandate charges",
        crate::mandates::SQL_STALE_CHARGES,
        &["mandate_charges_status"],
    ),
    (
        "open payments of one binding",
        sweep::SQL_BINDING_OPEN,
        &["payments_open_binding"],
    ),
];

/// Longest credential lifetime an agent may ask for.
pub const MAX_CREDENTIAL_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Extra life the ledger hold gets beyond the credential, so a capture at the last second
/// still finds its money.
const HOLD_MARGIN_MS: i64 = 5 * 60 * 1000;
/// A row left `deciding` (or `capturing`) this long belongs to a crashed request.
pub const STALE_MS: i64 = 60_000;
/// Most line items in one payment.
pub const MAX_ITEMS: usize = 100;
/// Longest task id and checkout id.
pub const MAX_REF_LEN: usize = 128;

/// The merchant as the agent describes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantClaim {
    /// The merchant's Purser id (`mch_…`).
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// Merchant category code.
    #[serde(default)]
    pub category: Option<String>,
}

/// One line of the cart.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    #[serde(default)]
    pub id: Option<String>,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Amount,
}

/// An agent's payment request (`POST /v1/agent/payments`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// The person the agent pays for.
    pub user_id: String,
    /// Groups the steps of one agent task (the user's timeline).
    pub task_id: String,
    /// The mandate the payment relies on. May be left out when `ap2` is given.
    #[serde(default)]
    pub mandate_id: String,
    /// AP2 closed mandates the agent signed, instead of (or besides) `mandate_id`.
    #[serde(default)]
    pub ap2: Option<ap2::ClosedMandates>,
    pub merchant: MerchantClaim,
    pub items: Vec<ItemBody>,
    /// What the merchant charges beside the items (shipping, fulfillment), when anything: the
    /// mandate's amount limits cover it, its item rules do not.
    #[serde(default)]
    pub shipping: Option<Amount>,
    /// Must equal the sum of the lines (plus `shipping`).
    pub total: Amount,
    /// The merchant's checkout this pays, when there is one: the credential is then bound to it.
    #[serde(default)]
    pub checkout_id: Option<String>,
    /// `wallet` or an exclusive card (`ecd_…`); default: the binding's restriction, else the wallet.
    #[serde(default)]
    pub funding_source: Option<String>,
    /// How long the credential may be redeemed (default 30 minutes, at most 24 hours).
    #[serde(default)]
    pub credential_ttl_seconds: Option<i64>,
}

/// Where MCP's streamable HTTP transport is served; a payment asked for there records the
/// signed JSON-RPC message as its request.
pub const MCP_PATH: &str = "/mcp";

/// How a payment request reached Purser, when not as a signed `POST /v1/agent/payments`
/// (ACP's delegate payment, `crate::acp`; a tool call at `/mcp`): what is recorded as the
/// request, and whether the person must confirm whatever the mandate says.
#[derive(Clone, Debug, Default)]
pub(crate) struct Via {
    /// The request as recorded, without any card number (`None`: a signed agent request).
    pub acp: Option<serde_json::Value>,
    /// Ask the person even when the mandate would pay on its own, for this reason.
    pub confirm: Option<String>,
    /// A `request_payment` tool call over MCP (`POST /mcp`): the JSON-RPC message the agent
    /// signed, recorded as the request (its tool arguments are the payment body).
    pub mcp_envelope: Option<Vec<u8>>,
    /// A Token Pay occurrence Purser charges itself (`crate::schedules`): no agent signed it.
    pub schedule: Option<ScheduleVia>,
}

/// The occurrence of a recurring mandate a scheduled payment charges.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScheduleVia {
    pub mandate_id: String,
    pub occurrence: u32,
    pub attempt: i64,
    /// When the occurrence was due: the mandate is evaluated as of this instant, so a late
    /// occurrence falls in its own period.
    pub due_at: Timestamp,
    /// SHA-256 (hex) of the payment body Purser built (filled in by `authorize_via`).
    pub body_sha256: String,
}

/// A request checked at the edge: amounts parsed, total proven.
struct Checked {
    via: Via,
    body: PaymentBody,
    total: Money,
    items: Vec<CartItem>,
    cart_hash: String,
    max_quantity: u32,
    /// The closed AP2 payment mandate presented, when the payment came with one.
    ap2_reference: Option<String>,
}

pub(crate) fn internal(what: &str) -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        format!("could not {what}; retry in a moment (a payment that ends as failed needs a new Idempotency-Key)"),
    )
}

fn check_ref(s: &str, param: &str, what: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_REF_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WalletError::invalid(
            &format!("{param}_invalid"),
            format!("{what} must be 1 to {MAX_REF_LEN} visible ASCII characters"),
            param,
        ));
    }
    Ok(())
}

fn check_body(body: PaymentBody) -> Result<Checked> {
    check_id("usr", &body.user_id, "user_id").map_err(|e| e.at("user_id"))?;
    check_ref(&body.task_id, "task_id", "task_id")?;
    // With closed mandates the mandate id comes from them (checked there).
    if body.ap2.is_none() || !body.mandate_id.is_empty() {
        check_id("mdt", &body.mandate_id, "mandate_id")?;
    }
    check_id("mch", &body.merchant.id, "merchant.id")?;
    if let Some(c) = &body.checkout_id {
        check_ref(c, "checkout_id", "checkout_id")?;
    }
    let total = funds::positive(body.total.amount, &body.total.currency, "total")?;
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(WalletError::invalid(
            "items_invalid",
            format!("list what is being bought: 1 to {MAX_ITEMS} line items"),
            "items",
        ));
    }
    let mut sum = Money::zero(total.currency);
    let mut items = Vec::with_capacity(body.items.len());
    let mut max_quantity = 0;
    for (i, it) in body.items.iter().enumerate() {
        let title = it.title.trim();
        if title.is_empty() || title.chars().count() > 300 || ids::has_hidden_chars(title, false) {
            return Err(WalletError::invalid(
                "item_title_invalid",
                "each item needs a title of 1 to 300 visible characters (the person reads it)",
                &format!("items[{i}].title"),
            ));
        }
        if it.quantity == 0 {
            return Err(WalletError::invalid(
                "item_quantity_invalid",
                "each item's quantity must be at least 1",
                &format!("items[{i}].quantity"),
            ));
        }
        if let Some(id) = &it.id {
            check_ref(id, &format!("items[{i}].id"), "an item id")?;
        }
        let unit = funds::positive(
            it.unit_price.amount,
            &it.unit_price.currency,
            &format!("items[{i}].unit_price"),
        )?;
        if unit.currency != total.currency {
            return Err(WalletError::invalid(
                "currency_mismatch",
                format!(
                    "every item must be priced in the total's currency ({})",
                    total.currency.code()
                ),
                &format!("items[{i}].unit_price.currency"),
            ));
        }
        let line = unit
            .minor
            .checked_mul(i64::from(it.quantity))
            .and_then(|l| sum.minor.checked_add(l))
            .ok_or_else(|| {
                WalletError::invalid(
                    "amount_too_large",
                    "the cart's total is larger than Purser can hold",
                    &format!("items[{i}]"),
                )
            })?;
        sum = Money::new(line, total.currency);
        max_quantity = max_quantity.max(it.quantity);
        items.push(CartItem {
            id: it.id.clone(),
            title: title.to_string(),
            quantity: it.quantity,
            unit_price: Some(unit),
        });
    }
    if let Some(sh) = &body.shipping {
        let fee = funds::non_negative(sh.amount, &sh.currency, "shipping")?;
        if fee.currency != total.currency {
            return Err(WalletError::invalid(
                "currency_mismatch",
                format!(
                    "shipping must be in the total's currency ({})",
                    total.currency.code()
                ),
                "shipping.currency",
            ));
        }
        let with = sum.minor.checked_add(fee.minor).ok_or_else(|| {
            WalletError::invalid(
                "amount_too_large",
                "the cart's total is larger than Purser can hold",
                "shipping",
            )
        })?;
        sum = Money::new(with, total.currency);
    }
    if sum != total {
        return Err(WalletError::invalid(
            "total_mismatch",
            format!(
                "the total {} is not the sum of the items{} ({})",
                total.with_symbol(),
                if body.shipping.is_some() {
                    " and shipping"
                } else {
                    ""
                },
                sum.with_symbol()
            ),
            "total.amount",
        ));
    }
    if let Some(t) = body.credential_ttl_seconds {
        if t < 60 || t.saturating_mul(1000) > MAX_CREDENTIAL_TTL_MS {
            return Err(WalletError::invalid(
                "credential_ttl_invalid",
                "credential_ttl_seconds must be between 60 and 86,400",
                "credential_ttl_seconds",
            ));
        }
    }
    // The same function the offline evidence verifier uses.
    let cart_hash = crate::evidence::verify::cart_hash(&body.merchant.id, &items, total);
    Ok(Checked {
        via: Via::default(),
        body,
        total,
        items,
        cart_hash,
        max_quantity,
        ap2_reference: None,
    })
}

/// How a payment request ended, before it is written.
pub(crate) enum Outcome {
    Declined(Vec<Reason>),
    Approved,
    NeedsConfirmation(String),
}

fn decline(code: &str, message: impl Into<String>) -> Outcome {
    Outcome::Declined(vec![Reason {
        code: code.to_string(),
        message: message.into(),
    }])
}

/// What the payment took to get this far (the funding account and the hold).
struct Funding {
    account: purser_core::ledger::AccountId,
    /// `wallet` or the exclusive card's id.
    source: String,
}

impl Wallet {
    /// Decide an agent's payment request. `key` is its Idempotency-Key; `body` the signed
    /// JSON. Returns the payment and whether this was a replay of an earlier request.
    pub async fn authorize(
        &self,
        agent: &AgentCaller,
        key: &str,
        raw: &[u8],
        body: PaymentBody,
    ) -> Result<(PaymentView, bool)> {
        self.authorize_via(agent, key, raw, body, Via::default())
            .await
    }

    /// `authorize` for a `request_payment` tool call at `/mcp`: `raw` is the payment body made
    /// from the tool's arguments, `envelope` the JSON-RPC message the agent signed. The
    /// evidence records the envelope, so the agent's signature verifies offline over it.
    pub async fn authorize_over_mcp(
        &self,
        agent: &AgentCaller,
        key: &str,
        raw: &[u8],
        body: PaymentBody,
        envelope: &[u8],
    ) -> Result<(PaymentView, bool)> {
        let via = Via {
            mcp_envelope: Some(envelope.to_vec()),
            ..Via::default()
        };
        self.authorize_via(agent, key, raw, body, via).await
    }

    /// `authorize` for a request that reached Purser another way (`Via`): the same checks,
    /// decision and records.
    pub(crate) async fn authorize_via(
        &self,
        agent: &AgentCaller,
        key: &str,
        raw: &[u8],
        body: PaymentBody,
        via: Via,
    ) -> Result<(PaymentView, bool)> {
        let mut c = check_body(body)?;
        c.via = via;
        if let Some(s) = c.via.schedule.as_mut() {
            s.body_sha256 = hex::encode(Sha256::digest(raw));
        }
        // Only an agent the user bound (pending bindings included: refused below as not bound)
        // may put anything in their timeline.
        // The store could not answer: say so (retry), never "not bound".
        let binding = self
            .open_binding(&agent.agent_id, &c.body.user_id)
            .await
            .found()?
            .filter(|b| b.status == "active")
            .ok_or_else(|| {
                WalletError::forbidden(
                    "agent_not_bound",
                    "this agent is not bound to that user; request a binding (POST /v1/agent/bindings) and wait for the user to approve it",
                )
            })?;
        let id = ids::derived_id("pay", &agent.agent_id, key);
        let now = self.now();
        let (request_hash, request) = match &c.via.acp {
            // The idempotency hash is the payment body's alone: the same tool call retried in
            // another JSON-RPC message (another id) is the same request.
            None if c.via.mcp_envelope.is_some() => (
                self.request_hash(raw),
                json!({
                    "method": "POST",
                    "path": MCP_PATH,
                    "keyid": agent.kid,
                    "signature_base": agent.signed_base,
                    "signature": base64_url(&agent.signature),
                    "agent_jwk": agent.jwk,
                    "body": String::from_utf8_lossy(c.via.mcp_envelope.as_deref().unwrap_or_default()),
                }),
            ),
            None if c.via.schedule.is_some() => {
                let s = c.via.schedule.clone().unwrap_or_default();
                (
                    self.request_hash(raw),
                    json!({
                        "origin": "schedule",
                        "keyid": agent.kid,
                        "mandate_id": s.mandate_id,
                        "occurrence": s.occurrence,
                        "attempt": s.attempt,
                        "due_at": s.due_at.0,
                        "body": String::from_utf8_lossy(raw),
                    }),
                )
            }
            None => (
                self.request_hash(raw),
                json!({
                    "method": "POST",
                    "path": "/v1/agent/payments",
                    "keyid": agent.kid,
                    "signature_base": agent.signed_base,
                    "signature": base64_url(&agent.signature),
                    "agent_jwk": agent.jwk,
                    "body": String::from_utf8_lossy(raw),
                }),
            ),
            Some(acp) => {
                // The whole ACP request (card as its keyed fingerprint, the allowance with its
                // absolute expiry) is what a retry under the same key must repeat. Not the
                // translated body: its credential lifetime is counted from now, so a retry a
                // second later would differ from the first and be refused as a conflict.
                (
                    self.request_hash(acp.to_string().as_bytes()),
                    json!({
                        "method": "POST",
                        "path": crate::acp::DELEGATE_PAYMENT_PATH,
                        "keyid": agent.kid,
                        "acp": acp,
                        "body": String::from_utf8_lossy(raw),
                    }),
                )
            }
        };
        let request = request.to_string();
        let ap2_reference = match c.body.ap2.take() {
            Some(closed) => {
                // A retry is answered from the first request, before anything is re-checked
                // (the budget it spent would now refuse it).
                if self.payment_exists(&id).await? {
                    return self.replay(agent, &id, &request_hash).await;
                }
                let reference = self
                    .verify_closed_mandates(agent, &mut c.body, &closed)
                    .await?;
                self.refuse_used_mandate(&id, &reference).await?;
                Some(reference)
            }
            None => None,
        };
        c.ap2_reference = ap2_reference.clone();
        let insert = Stmt::exec(
            "INSERT INTO payments (id, user_id, agent_id, binding_id, agent_kid, mandate_id, task_id, merchant_id, checkout_id, amount, currency, cart_hash, max_quantity, funding, request, request_hash, status, reasons, created_at, updated_at, ap2_reference, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '', $14, $15, 'deciding', '[]', $16, $16, $17, $18)",
            vals![
                &id,
                &c.body.user_id,
                &agent.agent_id,
                &binding.id,
                &agent.kid,
                &c.body.mandate_id,
                &c.body.task_id,
                &c.body.merchant.id,
                c.body.checkout_id.clone(),
                c.total.minor,
                c.total.currency.code(),
                &c.cart_hash,
                i64::from(c.max_quantity),
                &request,
                &request_hash,
                now.0,
                ap2_reference.clone(),
                if c.via.schedule.is_some() {
                    "schedule"
                } else if c.via.acp.is_some() {
                    "acp"
                } else {
                    "agent"
                }
            ],
        );
        match self.db.write(vec![insert]).await {
            Ok(_) => {}
            Err(DbError::Conflict(_)) => {
                if let Some(reference) = &ap2_reference {
                    // Either this key's first request (a replay) or another payment that won
                    // the race for the same closed mandate.
                    self.refuse_used_mandate(&id, reference).await?;
                }
                return self.replay(agent, &id, &request_hash).await;
            }
            Err(e) => return Err(e.into()),
        }
        let mut funding = String::new();
        let outcome = self
            .decide(agent, &binding, &id, &c, now, &mut funding)
            .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) if e.kind == Kind::Unavailable => {
                // Nothing answered yet: the sweeper voids and releases whatever was placed.
                return Err(e);
            }
            Err(e) => Outcome::Declined(vec![Reason {
                code: e.code.clone(),
                message: e.message.clone(),
            }]),
        };
        self.record_decision(agent, &id, &c, outcome, &funding)
            .await?;
        Ok((self.payment_for_agent(agent, &id).await?, false))
    }

    async fn payment_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .db
            .query_opt("SELECT 1 FROM payments WHERE id = $1", vals![id])
            .await?
            .is_some())
    }

    /// A closed payment mandate pays once: refused when another payment presented it.
    async fn refuse_used_mandate(&self, id: &str, reference: &str) -> Result<()> {
        let used = self
            .db
            .query_opt(
                "SELECT id FROM payments WHERE ap2_reference = $1 AND id <> $2",
                vals![reference, id],
            )
            .await?;
        match used {
            Some(r) => Err(WalletError::conflict(
                "ap2_mandate_already_used",
                format!(
                    "this closed payment mandate already paid ({}); close the mandate again for a new payment",
                    r.text(0)?
                ),
            )
            .at("ap2.payment_mandate")),
            None => Ok(()),
        }
    }

    /// A request under an Idempotency-Key seen before.
    async fn replay(
        &self,
        agent: &AgentCaller,
        id: &str,
        request_hash: &str,
    ) -> Result<(PaymentView, bool)> {
        let r = self
            .db
            .query_opt(
                "SELECT request_hash, status, updated_at FROM payments WHERE id = $1",
                vals![id],
            )
            .await?
            .ok_or_else(|| internal("read the payment"))?;
        if !ids::constant_time_eq(r.text(0)?.as_bytes(), request_hash.as_bytes()) {
            return Err(WalletError::new(
                Kind::Unprocessable,
                "idempotency_conflict",
                "this Idempotency-Key was used for a different payment request; use a fresh key for a new payment",
            )
            .at("Idempotency-Key"));
        }
        if r.text(1)? == "deciding" {
            return Err(WalletError::conflict(
                "idempotency_in_flight",
                "this payment request is still being decided; retry in a moment with the same Idempotency-Key",
            ));
        }
        Ok((self.payment_for_agent(agent, id).await?, true))
    }

    /// Run the checks in order; the first that fails declines. The mandate charge and the
    /// hold come last, so a decline before them has nothing to undo.
    async fn decide(
        &self,
        agent: &AgentCaller,
        binding: &crate::bindings::Binding,
        id: &str,
        c: &Checked,
        now: Timestamp,
        funding_used: &mut String,
    ) -> Result<Outcome> {
        if binding.frozen {
            return Ok(decline(
                "agent_frozen",
                "The person froze this agent: it cannot pay for them until they unfreeze it.",
            ));
        }
        // The merchant: registered, and described as it is registered.
        let merchant = match self.merchant(&c.body.merchant.id).await {
            Ok(m) if m.status == "active" => m,
            // The store could not answer: an error to retry, never a recorded decline.
            Err(e) if e.kind == Kind::Unavailable => return Err(e),
            _ => {
                return Ok(decline(
                    "merchant_unknown",
                    "This merchant is not registered with Purser, so no payment credential can be issued for it.",
                ))
            }
        };
        if let Some(w) = &c.body.merchant.website {
            if crate::merchants::website_host(w).as_deref() != Some(merchant.website.as_str()) {
                return Ok(decline(
                    "merchant_mismatch",
                    format!(
                        "The agent described the merchant's website as {w:.100}, but {} is {}.",
                        merchant.id, merchant.website
                    ),
                ));
            }
        }
        if let Some(n) = &c.body.merchant.name {
            if !n.trim().eq_ignore_ascii_case(merchant.name.trim()) {
                return Ok(decline(
                    "merchant_mismatch",
                    format!(
                        "The agent named the merchant {n:.100}, but {} is registered as {}.",
                        merchant.id, merchant.name
                    ),
                ));
            }
        }
        let funding = match self.funding(binding, c).await? {
            Ok(f) => f,
            Err(o) => return Ok(o),
        };
        funding_used.clone_from(&funding.source);
        // The anomaly rules watch an agent's behaviour; a scheduled charge is the exact
        // amount, merchant and cadence the person consented to, decided by Purser itself.
        if c.via.schedule.is_none() {
            if let Some(o) = self.anomaly(agent, id, c, now).await? {
                return Ok(o);
            }
        }
        let scheduled = c
            .via
            .schedule
            .as_ref()
            .map(|s| crate::schedules::ScheduledAt {
                due_at: s.due_at,
                occurrence: s.occurrence,
            });
        // The mandate: constraints and budgets charged with the hold, both or neither.
        let facts = PaymentRequest {
            amount: c.total,
            merchant: MerchantFacts {
                id: Some(merchant.id.clone()),
                name: Some(merchant.name.clone()),
                website: Some(merchant.website.clone()),
                country: merchant.country.as_deref().and_then(CountryCode::parse),
                mcc: merchant
                    .category
                    .as_deref()
                    .and_then(|s| s.parse::<u16>().ok())
                    .and_then(purser_core::mandate::Mcc::new),
            },
            items: c.items.clone(),
            instrument: None,
        };
        let ttl = c
            .body
            .credential_ttl_seconds
            .map_or(self.rules.credential_ttl_ms, |s| s.saturating_mul(1000));
        let hold = HoldSpec {
            debit: funding.account.clone(),
            credit: merchant_account(&merchant.id, c.total.currency)?,
            credit_flags: purser_core::ledger::AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            timeout_ms: Some(
                ttl.saturating_add(self.rules.confirmation_ttl_ms)
                    .saturating_add(HOLD_MARGIN_MS),
            ),
        };
        let e: Evaluation = match self
            .reserve_under_mandate_at(
                &c.body.user_id,
                &agent.agent_id,
                &c.body.mandate_id,
                id,
                &facts,
                &hold,
                scheduled,
            )
            .await
        {
            Ok(e) => e,
            Err(e)
                if matches!(
                    e.code.as_str(),
                    "exceeds_credits" | "insufficient_funds" | "account_not_found"
                ) =>
            {
                let what = if funding.source == "wallet" {
                    "The wallet".to_string()
                } else {
                    format!("The exclusive card {}", funding.source)
                };
                return Ok(decline(
                    "insufficient_funds",
                    format!(
                        "{what} does not have {} available; the person can top it up.",
                        c.total.with_symbol()
                    ),
                ));
            }
            Err(e) if e.code == "mandate_not_found" => {
                return Ok(decline(
                    "mandate_unknown",
                    "This agent has no mandate with that id from this person.",
                ))
            }
            Err(e) => return Err(e),
        };
        if !e.allowed() {
            return Ok(Outcome::Declined(
                e.failures
                    .iter()
                    .map(|f| Reason {
                        code: f.code.to_string(),
                        message: f.message.clone(),
                    })
                    .collect(),
            ));
        }
        Ok(if e.needs_confirmation {
            let rec = self
                .load_mandate(&c.body.user_id, &c.body.mandate_id)
                .await?;
            Outcome::NeedsConfirmation(confirmation_reason(&rec.mandate, c.total))
        } else if let Some(why) = &c.via.confirm {
            Outcome::NeedsConfirmation(why.clone())
        } else {
            Outcome::Approved
        })
    }

    /// Which ledger account pays: `Err(outcome)` when the choice is refused.
    async fn funding(
        &self,
        binding: &crate::bindings::Binding,
        c: &Checked,
    ) -> Result<std::result::Result<Funding, Outcome>> {
        let asked = c.body.funding_source.as_deref();
        let chosen = match (asked, binding.funding_source.as_deref()) {
            (Some(a), Some(r)) if a != r => {
                return Ok(Err(decline(
                    "funding_source_not_allowed",
                    format!("The person allows this agent to pay only from {r}."),
                )))
            }
            (Some(a), _) => a.to_string(),
            (None, Some(r)) => r.to_string(),
            (None, None) => "wallet".to_string(),
        };
        if chosen == "wallet" {
            return Ok(Ok(Funding {
                account: wallet_account(&c.body.user_id, c.total.currency)?,
                source: chosen,
            }));
        }
        if chosen.starts_with("crd_") {
            return Ok(Err(decline(
                "funding_source_unsupported",
                "Agents pay from the wallet or an exclusive card; a saved card only tops up the wallet.",
            )));
        }
        if check_id("ecd", &chosen, "funding_source").is_err() {
            return Ok(Err(decline(
                "funding_source_invalid",
                "funding_source must be \"wallet\" or an exclusive card id (ecd_…).",
            )));
        }
        let card = self
            .db
            .query_opt(
                "SELECT currency, status FROM exclusive_cards WHERE id = $1 AND binding_id = $2",
                vals![&chosen, &binding.id],
            )
            .await?;
        match card {
            Some(r) if r.text(1)? == "active" && r.text(0)? == c.total.currency.code() => {
                Ok(Ok(Funding {
                    account: ecard_account(&chosen)?,
                    source: chosen,
                }))
            }
            Some(r) if r.text(1)? == "active" => Ok(Err(decline(
                "funding_source_invalid",
                format!(
                    "The exclusive card {chosen} holds {}, not {}.",
                    r.text(0)?,
                    c.total.currency.code()
                ),
            ))),
            _ => Ok(Err(decline(
                "funding_source_invalid",
                format!(
                    "{chosen:.40} is not an open exclusive card of this agent for this person."
                ),
            ))),
        }
    }

    /// The rules a careful issuer runs beside the mandate.
    async fn anomaly(
        &self,
        agent: &AgentCaller,
        id: &str,
        c: &Checked,
        now: Timestamp,
    ) -> Result<Option<Outcome>> {
        let rules = &self.rules;
        if c.max_quantity > rules.quantity_floor {
            let past = self
                .db
                .query_opt(SQL_LARGEST_QUANTITY, vals![&c.body.user_id])
                .await?
                .map(|r| r.opt_int(0))
                .transpose()?
                .flatten()
                // No payments before: nothing to compare with but the floor.
                .unwrap_or(0);
            let limit = i64::from(rules.quantity_floor)
                .max(past.saturating_mul(i64::from(rules.quantity_history_factor)));
            if i64::from(c.max_quantity) > limit {
                return Ok(Some(decline(
                    "quantity_anomaly",
                    format!(
                        "{} of one item is far more than this person has ever bought (at most {past} before); if they really want this, they can raise it in a mandate.",
                        c.max_quantity
                    ),
                )));
            }
        }
        let recent = self
            .db
            .query_opt(
                SQL_RECENT,
                vals![
                    &agent.agent_id,
                    &c.body.user_id,
                    now.0.saturating_sub(60_000),
                    id,
                    rules.agent_payments_per_minute
                ],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        if recent >= rules.agent_payments_per_minute {
            return Ok(Some(decline(
                "velocity_exceeded",
                format!(
                    "This agent asked to pay {recent} times for this person in the last minute; at most {} are allowed. Slow down and retry later.",
                    rules.agent_payments_per_minute
                ),
            )));
        }
        let dup = self
            .db
            .query_opt(
                SQL_DUPLICATE,
                vals![
                    &agent.agent_id,
                    &c.cart_hash,
                    now.0.saturating_sub(rules.duplicate_window_ms),
                    id,
                    &c.body.user_id,
                    now.0
                ],
            )
            .await?;
        if let Some(r) = dup {
            return Ok(Some(decline(
                "duplicate_payment",
                format!(
                    "The same cart at the same merchant was paid minutes ago ({}); a second identical payment is refused for {} minutes.",
                    r.text(0)?,
                    rules.duplicate_window_ms / 60_000
                ),
            )));
        }
        Ok(None)
    }
}

/// Why the person must confirm, in their terms.
fn confirmation_reason(m: &purser_core::mandate::Mandate, amount: Money) -> String {
    use purser_core::mandate::ConfirmationRule;
    let limit = m.confirmation.rules.iter().find_map(|r| match r {
        ConfirmationRule::AutoAtOrBelow { amount } => Some(*amount),
        ConfirmationRule::AlwaysAsk => None,
    });
    match limit {
        Some(limit) if !m.confirmation.rules.contains(&ConfirmationRule::AlwaysAsk) => format!(
            "{} is above {}, the most this agent may pay without asking you.",
            amount.with_symbol(),
            limit.with_symbol()
        ),
        _ => "You asked to confirm every payment under this mandate.".to_string(),
    }
}

/// The merchant's ledger account in a currency.
pub(crate) fn merchant_account(
    merchant_id: &str,
    c: Currency,
) -> Result<purser_core::ledger::AccountId> {
    account_id(&format!("merchant:{merchant_id}:{}", c.code()))
}

pub(crate) fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The decision receipt's JWS `typ`.
pub const RECEIPT_TYP: &str = "purser-decision+jwt";

impl Wallet {
    /// Sign what was decided about a payment, with Purser's ES256 key.
    pub(crate) async fn sign_receipt(&self, claims: serde_json::Value) -> Result<String> {
        use purser_ap2::JwsSigner;
        let (_, signer) = self.es256_signer().await?;
        signer
            .sign_jwt(RECEIPT_TYP, &claims)
            .map_err(|_| internal("sign the decision receipt"))
    }

    /// Write the outcome, its receipt and its event in one transaction (the agent's answer
    /// comes after this commits).
    async fn record_decision(
        &self,
        agent: &AgentCaller,
        id: &str,
        c: &Checked,
        outcome: Outcome,
        funding: &str,
    ) -> Result<()> {
        let now = self.now();
        let ttl = c
            .body
            .credential_ttl_seconds
            .map_or(self.rules.credential_ttl_ms, |s| s.saturating_mul(1000));
        // No such mandate (the decline says so): no hash. A store that could not answer is
        // an error (the payment stays `deciding` and the sweeper undoes it), never a decision
        // recorded without the hash of the mandate it was made under.
        let content_hash = self
            .load_mandate(&c.body.user_id, &c.body.mandate_id)
            .await
            .found()?
            .map(|m| m.content_hash);
        let (status, reasons, cred_exp, confirmation) = match &outcome {
            Outcome::Declined(r) => ("declined", r.clone(), None, None),
            Outcome::Approved => (
                "approved",
                Vec::new(),
                Some(now.0.saturating_add(ttl)),
                None,
            ),
            Outcome::NeedsConfirmation(why) => (
                "needs_confirmation",
                vec![Reason {
                    code: "confirmation_required".into(),
                    message: why.clone(),
                }],
                None,
                Some(ids::derived_id("cnf", "payment", id)),
            ),
        };
        let confirm_exp = now.0.saturating_add(self.rules.confirmation_ttl_ms);
        let decision = status;
        let claims = json!({
            "iss": self.issuer(),
            "iat": now.0.div_euclid(1000),
            "payment_id": id,
            "decision": decision,
            "reasons": reasons,
            "user_id": c.body.user_id,
            "agent": {"id": agent.agent_id, "kid": agent.kid},
            "request": match &c.via.acp {
                None if c.via.schedule.is_some() => {
                    let s = c.via.schedule.clone().unwrap_or_default();
                    json!({
                        "via": "schedule",
                        "sha256": s.body_sha256,
                        "occurrence": s.occurrence,
                        "due_at": s.due_at.0,
                    })
                }
                None => json!({
                    "sha256": hex::encode(Sha256::digest(agent.signed_base.as_bytes())),
                    "signature": base64_url(&agent.signature),
                }),
                Some(acp) => json!({
                    "sha256": hex::encode(Sha256::digest(acp.to_string().as_bytes())),
                    "via": "acp_delegate_payment",
                    "acp_key": acp.get("acp_key"),
                }),
            },
            "task_id": c.body.task_id,
            "mandate": {
                "id": c.body.mandate_id,
                "content_hash": content_hash,
                // The closed AP2 payment mandate presented (the hash of its final SD-JWT).
                "ap2_reference": c.ap2_reference,
            },
            "merchant_id": c.body.merchant.id,
            "checkout_id": c.body.checkout_id,
            "amount": {"amount": c.total.minor, "currency": c.total.currency.code()},
            "credential": cred_exp.map(|e| json!({
                "merchant_id": c.body.merchant.id,
                "max_amount": c.total.minor,
                "currency": c.total.currency.code(),
                "expires_at": Timestamp(e).to_rfc3339(),
                "checkout_id": c.body.checkout_id,
                "single_use": true,
            })),
            "confirmation": confirmation.as_ref().map(|cid| json!({
                "id": cid,
                "expires_at": Timestamp(confirm_exp).to_rfc3339(),
            })),
        });
        let receipt = self.sign_receipt(claims).await?;
        let reasons_json =
            serde_json::to_string(&reasons).map_err(|_| internal("encode the decision"))?;
        // An approval stands only while the agent is still bound and not frozen (a freeze
        // that lands while this request decided must win); a decline is recorded regardless.
        let sql = if status == "declined" {
            "UPDATE payments SET status = $2, decline_code = $3, reasons = $4, receipt = $5, credential_expires_at = $6, updated_at = $7, funding = $8 WHERE id = $1 AND status = 'deciding'"
        } else {
            "UPDATE payments SET status = $2, decline_code = $3, reasons = $4, receipt = $5, credential_expires_at = $6, updated_at = $7, funding = $8 WHERE id = $1 AND status = 'deciding' AND EXISTS (SELECT 1 FROM bindings b WHERE b.id = payments.binding_id AND b.frozen = 0 AND b.status = 'active')"
        };
        let mut stmts = vec![Stmt::exec(
            sql,
            vals![
                id,
                status,
                (status == "declined")
                    .then(|| reasons.first().map(|r| r.code.clone()))
                    .flatten(),
                reasons_json,
                &receipt,
                cred_exp,
                now.0,
                funding
            ],
        )
        .expect(purser_store::db::Expect::One, "deciding")];
        if let Some(cid) = &confirmation {
            stmts.push(Stmt::exec(
                "INSERT INTO confirmations (id, payment_id, user_id, status, expires_at, created_at) VALUES ($1, $2, $3, 'pending', $4, $5)",
                vals![cid, id, &c.body.user_id, confirm_exp, now.0],
            ));
        }
        let kind = match status {
            "approved" => "payment.approved",
            "declined" => "payment.declined",
            _ => "payment.confirmation_requested",
        };
        stmts.extend(self.event_stmts(
            &events::NewEvent {
                kind,
                user_id: &c.body.user_id,
                agent_id: &agent.agent_id,
                merchant_id: &c.body.merchant.id,
                payment_id: id,
                task_id: &c.body.task_id,
                data: json!({
                    "payment_id": id,
                    "status": status,
                    "amount": {"amount": c.total.minor, "currency": c.total.currency.code()},
                    "merchant_id": c.body.merchant.id,
                    "mandate_id": c.body.mandate_id,
                    "reasons": reasons,
                    "origin": if c.via.schedule.is_some() { "schedule" } else if c.via.acp.is_some() { "acp" } else { "agent" },
                    "items": c.items.iter().map(|i| json!({"title": i.title, "quantity": i.quantity})).collect::<Vec<_>>(),
                }),
            },
            now,
        )?);
        match self.db.write(stmts).await {
            Ok(_) => Ok(()),
            Err(DbError::Precondition(_)) => {
                if status != "declined" && !self.binding_usable(id).await? {
                    self.end_payment(id, &["deciding"], "voided", "agent_frozen")
                        .await?;
                    return Err(WalletError::forbidden(
                        "agent_frozen",
                        "the person froze this agent while its payment was being decided; nothing was charged",
                    ));
                }
                // The sweeper gave up on this request (it took longer than STALE_MS) before
                // its charge or hold existed: undo them now (both are idempotent).
                self.void_payment_hold(id).await?;
                self.release_mandate_charge(id).await?;
                Err(WalletError::new(
                    Kind::Unavailable,
                    "payment_interrupted",
                    "this payment request took too long and was abandoned; nothing was charged — retry with a new Idempotency-Key",
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Purser's name in receipts: its public origin, or `purser` before one is known.
    pub fn issuer(&self) -> String {
        let b = self
            .public_base
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default();
        if b.is_empty() {
            "purser".to_string()
        } else {
            b
        }
    }
}
