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
