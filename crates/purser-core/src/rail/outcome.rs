//! What a rail answers.

use super::RailRef;
use crate::Money;
use std::fmt;

/// The answer to [`CardRail::authorize`](super::CardRail::authorize) or
/// [`answer_challenge`](super::CardRail::answer_challenge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RailOutcome {
    /// The card was charged `amount`. The server checks it equals what was asked before
    /// crediting the wallet.
    Approved { rail_ref: RailRef, amount: Money },
    /// The issuer wants the cardholder to confirm (3-D Secure). Nothing is charged yet.
    /// `challenge` is a sentence to show the person.
    ChallengeRequired {
        rail_ref: RailRef,
        challenge: String,
    },
    /// Nothing was charged.
    Declined(RailDecline),
}

/// A refusal: nothing was charged or refunded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RailDecline {
    pub code: DeclineCode,
    /// For the person; never contains the card number.
    pub message: String,
}

/// A refund the rail accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RailRefund {
    pub rail_ref: RailRef,
    pub amount: Money,
}

/// Why a rail said no. The codes are stable: they go into API responses and stored records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    /// `insufficient_funds`: the card's balance or limit does not cover the amount.
    InsufficientFunds,
    /// `do_not_honour`: the issuer declined without saying why.
    DoNotHonour,
    /// `card_expired`: the issuer considers the card expired.
    CardExpired,
    /// `challenge_failed`: the 3-D Secure answer was wrong.
    ChallengeFailed,
    /// `amount_too_large`: over the rail's single-charge ceiling.
    AmountTooLarge,
    /// `amount_invalid`: zero or negative.
    AmountInvalid,
    /// `charge_unknown`: the rail has no such charge (or no pending challenge for it).
    ChargeUnknown,
    /// `request_invalid`: the request itself was malformed (e.g. an empty reference); a bug
    /// in the caller, not a problem with the card.
    RequestInvalid,
    /// `rail_unavailable`: the rail could not be reached. Safe to retry with the same
    /// reference.
    RailUnavailable,
}

impl DeclineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::InsufficientFunds => "insufficient_funds",
            DeclineCode::DoNotHonour => "do_not_honour",
            DeclineCode::CardExpired => "card_expired",
            DeclineCode::ChallengeFailed => "challenge_failed",
            DeclineCode::AmountTooLarge => "amount_too_large",
            DeclineCode::AmountInvalid => "amount_invalid",
            DeclineCode::ChargeUnknown => "charge_unknown",
            DeclineCode::RequestInvalid => "request_invalid",
            DeclineCode::RailUnavailable => "rail_unavailable",
        }
    }

    /// Whether trying again later (same reference) may succeed without anything changing.
    pub fn is_retryable(self) -> bool {
        matches!(self, DeclineCode::RailUnavailable)
    }
}

impl fmt::Display for DeclineCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RailDecline {
    pub fn new(code: DeclineCode, message: impl Into<String>) -> RailDecline {
        RailDecline {
            code,
            message: message.into(),
        }
    }

    /// The stable code as text, e.g. `insufficient_funds`.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

impl fmt::Display for RailDecline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RailDecline {}

impl RailOutcome {
    pub fn is_approved(&self) -> bool {
        matches!(self, RailOutcome::Approved { .. })
    }

    /// The rail's reference, if it made one (approved or challenged).
    pub fn rail_ref(&self) -> Option<&RailRef> {
        match self {
            RailOutcome::Approved { rail_ref, .. }
            | RailOutcome::ChallengeRequired { rail_ref, .. } => Some(rail_ref),
            RailOutcome::Declined(_) => None,
        }
    }
}
