//! The mandate: everything an agent may do with the user's money, by dimension. A field left
//! empty (`[]`, `null`) does not restrict that dimension, except the confirmation policy,
//! whose empty form means "ask every time".

use super::constraints::{
    Category, ConfirmationPolicy, CountryCode, Instrument, IntervalLimit, LineItem, MerchantRef,
    OtherConstraint, Provenance, Recurrence,
};
use super::date::DateOrInstant;
use crate::Money;

/// What may be bought.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct What {
    /// Allowed merchants; empty means any merchant.
    #[serde(default)]
    pub merchants: Vec<MerchantRef>,
    #[serde(default)]
    pub allowed_categories: Vec<Category>,
    #[serde(default)]
    pub blocked_categories: Vec<Category>,
    /// Allowed line items; empty means any item.
    #[serde(default)]
    pub line_items: Vec<LineItem>,
}

/// Where the merchant may be.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Where {
    #[serde(default)]
    pub allowed_countries: Vec<CountryCode>,
    #[serde(default)]
    pub blocked_countries: Vec<CountryCode>,
}

/// An execution-date window: payments may only execute between these bounds (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionWindow {
    pub start: DateOrInstant,
    pub end: DateOrInstant,
}

/// When payments may happen. A date bound covers the whole day in `timezone`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateOrInstant>,
    /// Inclusive: a date means through the end of that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateOrInstant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_window: Option<ExecutionWindow>,
    #[serde(default)]
    pub recurrence: Recurrence,
    /// IANA zone (`Asia/Shanghai`) for date bounds and interval boundaries. Stored as given;
    /// the evaluator resolves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// How much may be spent.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HowMuch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_payment_min: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_payment_max: Option<Money>,
    /// Cumulative budget over the mandate's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Money>,
    /// At most one limit per interval.
    #[serde(default)]
    pub interval_limits: Vec<IntervalLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payments: Option<u32>,
}

/// With what the agent may pay.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithWhat {
    /// Empty means whatever the agent's binding already allows.
    #[serde(default)]
    pub instruments: Vec<Instrument>,
}

/// A mandate's content. Its lifecycle (draft, consented, active, exhausted, expired, revoked)
/// is kept by storage beside it; this value is what the user consents to and what is signed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mandate {
    /// A short statement of purpose for people, e.g. "Buy hiking boots".
    pub description: String,
    #[serde(default)]
    pub what: What,
    #[serde(default, rename = "where")]
    pub where_: Where,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub how_much: HowMuch,
    #[serde(default)]
    pub with_what: WithWhat,
    #[serde(default)]
    pub confirmation: ConfirmationPolicy,
    #[serde(default)]
    pub provenance: Provenance,
    /// Constraints Purser does not understand; evaluation refuses any mandate that has one.
    #[serde(default)]
    pub other: Vec<OtherConstraint>,
    /// Token Pay: Purser charges this on `when.recurrence`'s schedule, without the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<super::schedule::Schedule>,
}

/// A mandate as proposed by the drafter: the same shape, but not consented and not active.
pub type MandateProposal = Mandate;
