//! What Purser answers on the agent API, as typed values. Unknown fields are ignored, so a
//! newer server does not break an older SDK.

use serde::{Deserialize, Serialize};

/// Public facts about an agent, as the user deciding on a binding sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    /// `agt_…`
    pub id: String,
    pub name: String,
    /// Who runs the agent, as its developer declared.
    pub operator: String,
    /// `active` or `revoked`.
    pub status: String,
}

/// `GET /v1/agent/whoami`: the agent, the key that signed, and its bindings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub agent: AgentSummary,
    /// The JWK thumbprint of the key that signed this request.
    pub kid: String,
    pub bindings: Vec<Binding>,
}

/// Where a binding stands. The user decides; the agent can only ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingStatus {
    /// Asked for; the user has not decided yet.
    Pending,
    /// The agent may act for the user (within the user's mandates), unless frozen.
    Active,
    Declined,
    Revoked,
    /// A status this version of the SDK does not know.
    #[serde(other)]
    Unknown,
}

impl BindingStatus {
    /// The wire name: `pending`, `active`, `declined`, `revoked` (`unknown` for others).
    pub fn as_str(self) -> &'static str {
        match self {
            BindingStatus::Pending => "pending",
            BindingStatus::Active => "active",
            BindingStatus::Declined => "declined",
            BindingStatus::Revoked => "revoked",
            BindingStatus::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for BindingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent's standing permission to act for one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `bnd_…`
    pub id: String,
    pub agent: AgentSummary,
    /// `usr_…`
    pub user_id: String,
    pub status: BindingStatus,
    /// The user's kill switch: while frozen, every request for this user is refused.
    pub frozen: bool,
    /// The one card (`crd_…`) or exclusive card (`ecd_…`) the agent may pay with, when the
    /// user restricted it.
    #[serde(default)]
    pub funding_source: Option<String>,
    /// What the agent said it would do, in its own words.
    pub purpose: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; when the user approved or declined.
    #[serde(default)]
    pub decided_at: Option<String>,
}

impl Binding {
    /// Whether the agent can act for this user now: approved and not frozen.
    pub fn is_usable(&self) -> bool {
        self.status == BindingStatus::Active && !self.frozen
    }
}

/// An amount of money: integer minor units and an ISO 4217 code (CNY 50000 = ¥500.00).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// Minor units (fen for CNY, cents for USD; JPY has none).
    pub amount: i64,
    pub currency: String,
    /// For people, e.g. `¥500.00`. Never parse it.
    #[serde(default)]
    pub display: String,
}

/// A sub-balance the user funded from the main wallet for exactly one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusiveCard {
    /// `ecd_…`
    pub id: String,
    pub binding_id: String,
    pub agent_id: String,
    pub currency: String,
    /// What is left to spend.
    pub balance: Amount,
    /// Reserved by payments not yet captured or voided.
    pub held: Amount,
    pub status: String,
    pub created_at: String,
}

/// `GET /v1/agent/users/{user_id}/funds`: the money this agent may use for one user. Never
/// the user's main balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFunds {
    pub user_id: String,
    pub binding_id: String,
    /// The one source the user restricted this agent to, if any.
    #[serde(default)]
    pub funding_source: Option<String>,
    pub exclusive_cards: Vec<ExclusiveCard>,
}

/// The merchant as the agent describes it in a payment request. Its `id` is the merchant's
/// Purser id; `website` and `name`, when given, must match what the merchant registered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantRef {
    /// `mch_…`
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Merchant category code (four digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// One line of a cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    pub quantity: u32,
    /// Minor units and currency; `display` is ignored when sent.
    pub unit_price: Money,
}

/// Money as sent: minor units and an ISO 4217 code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

impl Money {
    /// `Money::new(69_900, "CNY")` is ¥699.00.
    pub fn new(amount: i64, currency: &str) -> Money {
        Money {
            amount,
            currency: currency.to_string(),
        }
    }
}

/// `POST /v1/agent/payments`: what the agent asks to pay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PaymentRequest {
    /// The user paid for (`usr_…`).
    pub user_id: String,
    /// Groups the steps of one task in the user's timeline.
    pub task_id: String,
    /// The mandate the payment relies on (`mdt_…`). May be empty when `ap2` is given.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mandate_id: String,
    /// AP2 closed mandates this agent signed ([`crate::Client::close_mandates`]), instead of
    /// (or besides) `mandate_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ap2: Option<crate::ClosedMandates>,
    pub merchant: MerchantRef,
    pub items: Vec<LineItem>,
    /// The sum of the lines.
    pub total: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    /// `wallet` or an exclusive card (`ecd_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_ttl_seconds: Option<i64>,
}

/// Why a payment was declined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    /// Stable machine code: `above_maximum`, `insufficient_funds`, `agent_frozen`, …
    pub code: String,
    /// For a person.
    pub message: String,
}

/// The scoped payment credential to hand to the merchant: single use, for that merchant, up
/// to `max_amount`, until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// `pct_…` — a secret: give it only to the merchant.
    #[serde(default)]
    pub token: Option<String>,
    pub merchant_id: String,
    pub max_amount: Amount,
    pub expires_at: String,
    #[serde(default)]
    pub checkout_id: Option<String>,
    /// `usable`, `redeemed`, `voided` or `expired`.
    pub state: String,
}

/// The confirmation a payment waits on: show `url` to the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub url: Option<String>,
    pub expires_at: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A payment and its decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// `pay_…`
    pub id: String,
    /// `approved`, `needs_confirmation`, `declined`, `captured`, `voided`, `expired`, …
    pub status: String,
    pub task_id: String,
    pub merchant_id: String,
    pub amount: Amount,
    #[serde(default)]
    pub decline: Option<Decline>,
    #[serde(default)]
    pub credential: Option<Credential>,
    #[serde(default)]
    pub confirmation: Option<Confirmation>,
    /// Purser's signed decision receipt (ES256 JWS): proof of what was decided and why.
    #[serde(default)]
    pub receipt: Option<String>,
}

impl Payment {
    /// Approved: the credential can be handed to the merchant.
    pub fn is_approved(&self) -> bool {
        self.status == "approved"
    }

    /// Waiting for the person to confirm.
    pub fn needs_confirmation(&self) -> bool {
        self.status == "needs_confirmation"
    }
}
