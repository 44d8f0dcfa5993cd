//! The constraint vocabulary: the pieces a mandate is made of. Each type parses strictly
//! (`deny_unknown_fields`, checked codes), so a mandate read from outside is well-formed.

use crate::Money;
use std::fmt;

/// A merchant category code (ISO 18245), four digits, e.g. `5814` for fast food and coffee
/// shops. Serialised as the four-digit string networks print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mcc(u16);

impl Mcc {
    /// `None` above 9999.
    pub const fn new(code: u16) -> Option<Mcc> {
        if code <= 9999 {
            Some(Mcc(code))
        } else {
            None
        }
    }
    pub fn code(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl serde::Serialize for Mcc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mcc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let ok = s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| s.parse::<u16>().ok().and_then(Mcc::new))
            .flatten()
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "'{s}' is not a merchant category code; write four digits like \"5814\""
                ))
            })
    }
}

/// An ISO 3166-1 alpha-2 country code (`CN`, `US`). Only the shape is checked (two ASCII
/// letters, kept upper case): the list of assigned codes changes, and an unassigned code can
/// only ever fail to match a merchant, which is the safe direction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(s: &str) -> Option<CountryCode> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| CountryCode(s.to_ascii_uppercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CountryCode::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{s}' is not an ISO 3166 alpha-2 country code; write two letters like \"CN\""
            ))
        })
    }
}

/// A merchant the agent may buy from: by Purser merchant id, or by name and/or website.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host name without scheme, e.g. `amazon.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

impl MerchantRef {
    /// How a person would name it: the name, else the website, else the id.
    pub fn label(&self) -> &str {
        self.name
            .as_deref()
            .or(self.website.as_deref())
            .or(self.id.as_deref())
            .unwrap_or("an unnamed merchant")
    }
}

/// A spending category: a label for people and the merchant category codes it stands for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub label: String,
    #[serde(default)]
    pub mcc: Vec<Mcc>,
}

/// An item the agent may buy. AP2 semantics: the cart must contain exactly `quantity`;
/// `max_quantity` (when set) caps it across the mandate's lifetime.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub description: String,
    pub quantity: u32,
    /// The unit the user counted in ("pair"), shown back to them; not used for matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u32>,
}

/// How often a recurring mandate may pay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Whenever the agent needs to, within the other limits.
    #[default]
    OnDemand,
    Daily,
    Weekly,
    Monthly,
    Annually,
}

impl Frequency {
    pub fn adverb(self) -> &'static str {
        match self {
            Frequency::OnDemand => "on demand",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
            Frequency::Annually => "annually",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    #[serde(default)]
    pub frequency: Frequency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_occurrences: Option<u32>,
}

/// The period a spending limit covers. Calendar periods follow the mandate's time zone.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    PerPayment,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    AllTime,
}

impl Interval {
    /// "per payment", "a week", …, as it reads after an amount.
    pub fn phrase(self) -> &'static str {
        match self {
            Interval::PerPayment => "per payment",
            Interval::Daily => "a day",
            Interval::Weekly => "a week",
            Interval::Monthly => "a month",
            Interval::Yearly => "a year",
            Interval::AllTime => "in total",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalLimit {
    pub interval: Interval,
    pub amount: Money,
}

/// A payment instrument the agent may use.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Instrument {
    /// One card from the user's vault.
    Card { card_id: String },
    /// The agent's own exclusive card (a sub-balance bound to that agent).
    ExclusiveCard,
}

/// One confirmation rule. Several may apply; [`ConfirmationPolicy::needs_confirmation`]
/// combines them so that asking always wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConfirmationRule {
    /// Ask the user before every payment.
    AlwaysAsk,
    /// Pay without asking when the amount is at or below `amount`; ask above it.
    AutoAtOrBelow { amount: Money },
}

/// When the user is asked before a payment. With no rules, every payment is confirmed: the
/// safe default, since automatic payment must be something the user said.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationPolicy {
    #[serde(default)]
    pub rules: Vec<ConfirmationRule>,
}

impl ConfirmationPolicy {
    /// Whether a payment of `amount` needs the user's confirmation. Ask always wins: any
    /// `AlwaysAsk`, any threshold the amount exceeds, any threshold in another currency (not
    /// comparable, so not "at or below"), or no rule at all, each mean ask.
    pub fn needs_confirmation(&self, amount: Money) -> bool {
        let mut auto_allowed = false;
        for rule in &self.rules {
            match rule {
                ConfirmationRule::AlwaysAsk => return true,
                ConfirmationRule::AutoAtOrBelow { amount: t } => {
                    if t.currency != amount.currency || amount.minor > t.minor {
                        return true;
                    }
                    auto_allowed = true;
                }
            }
        }
        !auto_allowed
    }
}

/// One turn of the conversation that led to a mandate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptTurn {
    /// `user`, `agent`, …
    pub speaker: String,
    pub text: String,
}

/// What the user said, kept as evidence and shown at consent.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub user_words: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TranscriptTurn>>,
}

/// A constraint Purser does not know (a newer AP2 type, a partner's extension). Kept so a
/// mandate round-trips, and refused by evaluation: unknown constraints fail closed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherConstraint {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: serde_json::Value,
}
