//! The sandbox card rail: a deterministic, simulated issuer. No bank is contacted and no real
//! money moves; every message it writes says so.

use super::charge::reference_is_valid;
use super::test_cards::{behaviour_of, SandboxBehaviour};
use super::{
    CardRail, DeclineCode, RailCharge, RailDecline, RailOutcome, RailRef, RailRefund,
    MAX_REFERENCE_LEN,
};
use crate::{Currency, Money};
use sha2::{Digest, Sha256};

/// The one-time code that passes the sandbox's 3-D Secure challenge (test card
/// `4000 0000 0000 3220`). Documented, because the sandbox is a simulation.
pub const SANDBOX_CHALLENGE_ANSWER: &str = "123456";

/// The sandbox's single-charge ceiling in whole currency units (1,000,000.00 CNY; 1,000,000
/// JPY): like a real issuer's per-transaction cap, and far enough from `i64` limits that
/// amounts near it cannot overflow a test ledger.
pub const SANDBOX_MAX_CHARGE_MAJOR_UNITS: i64 = 1_000_000;

/// The per-charge limit of test card `4000 0000 0000 5001`, in whole currency units
/// (50,000.00 CNY), for exercising "the card's limit is below this top-up".
pub const SANDBOX_LIMIT_CARD_MAJOR_UNITS: i64 = 50_000;

/// Challenge answers longer than this are refused unread: a one-time code is a few digits.
const MAX_CHALLENGE_ANSWER_LEN: usize = 64;

/// Sandbox charge refs are `sbx_` + 24 hex characters; refunds `sbx_rf_` + 24.
const CHARGE_REF_PREFIX: &str = "sbx_";
const REFUND_REF_PREFIX: &str = "sbx_rf_";

/// Bytes of SHA-256 kept in a rail ref (96 bits: no collisions among any realistic number of
/// references).
const RAIL_REF_BYTES: usize = 12;

const CHARGE_REF_CONTEXT: &[u8] = b"purser.sandbox.charge.v1\0";
const REFUND_REF_CONTEXT: &[u8] = b"purser.sandbox.refund.v1\0";

/// Appended to every sandbox message so no one mistakes it for a real bank's answer.
const SIMULATION_NOTE: &str = "(sandbox simulation: no real money moved)";

/// A simulated card issuer for development, demos and tests, in the spirit of a payment
/// provider's test mode. It is **not** connected to any card network: it approves, declines
/// or challenges according to the documented [`SANDBOX_TEST_CARDS`](super::SANDBOX_TEST_CARDS)
/// and says `is_sandbox() == true`.
///
/// It is a pure function of its inputs and remembers nothing: the charge ref is derived from
/// Purser's reference (`sbx_` + hex of SHA-256, so retries give the same ref), a challenge is
/// answered by passing the charge again, and refunds are approved without knowing what was
/// charged. The server therefore enforces "refunds ≤ charged" itself.
///
/// Checks every charge gets, in order: a usable reference (`request_invalid`), an amount above
/// zero (`amount_invalid`) and at most [`SANDBOX_MAX_CHARGE_MAJOR_UNITS`]
/// (`amount_too_large`), an unexpired card (`card_expired`), and a test card number
/// (`do_not_honour` otherwise: the sandbox refuses real cards). Then the card's behaviour from
/// the table. A CVV is not required and any well-formed one is accepted.
#[derive(Clone, Copy, Debug, Default)]
pub struct SandboxRail;

impl SandboxRail {
    pub fn new() -> SandboxRail {
        SandboxRail
    }

    /// The ref the sandbox gives the charge with Purser reference `reference`.
    pub fn charge_ref(reference: &str) -> RailRef {
        RailRef::new(format!(
            "{CHARGE_REF_PREFIX}{}",
            short_hash(CHARGE_REF_CONTEXT, &[reference.as_bytes()])
        ))
    }

    /// The checks every charge gets (see the type docs), then the test card's behaviour.
    fn screen(charge: &RailCharge<'_>) -> Result<SandboxBehaviour, RailDecline> {
        if !reference_is_valid(charge.reference) {
            return Err(decline(
                DeclineCode::RequestInvalid,
                format!("the charge reference must be 1 to {MAX_REFERENCE_LEN} printable ASCII characters"),
            ));
        }
        check_amount(charge.amount)?;
        if charge.expiry.is_expired_at(charge.now) {
            return Err(decline(
                DeclineCode::CardExpired,
                format!(
                    "the card expired at the end of {}; use a card that is still valid",
                    charge.expiry
                ),
            ));
        }
        behaviour_of(charge.number).ok_or_else(|| {
            decline(
                DeclineCode::DoNotHonour,
                "the sandbox rail accepts only its documented test cards; real card numbers are always declined here".to_owned(),
            )
        })
    }
}

impl CardRail for SandboxRail {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn is_sandbox(&self) -> bool {
        true
    }

    fn authorize(&self, charge: &RailCharge<'_>) -> RailOutcome {
        let behaviour = match SandboxRail::screen(charge) {
            Ok(b) => b,
            Err(d) => return RailOutcome::Declined(d),
        };
        let rail_ref = SandboxRail::charge_ref(charge.reference);
        let card = charge.number.masked();
        match behaviour {
            SandboxBehaviour::Approve => approved(rail_ref, charge),
            SandboxBehaviour::Decline(code) => RailOutcome::Declined(decline(
                code,
                format!(
                    "the issuer declined the charge ({}); test card {card} always does",
                    reason(code)
                ),
            )),
            SandboxBehaviour::ThreeDSecure => RailOutcome::ChallengeRequired {
                rail_ref,
                challenge: format!(
                    "Sandbox 3-D Secure for card {card}: enter the one-time code from the card's bank. In the sandbox the code is {SANDBOX_CHALLENGE_ANSWER}; no bank is contacted."
                ),
            },
            SandboxBehaviour::Limit => {
                let limit = major_units(SANDBOX_LIMIT_CARD_MAJOR_UNITS, charge.amount.currency);
                if limit.is_some_and(|l| charge.amount.minor <= l) {
                    approved(rail_ref, charge)
                } else {
                    let limit = Money::new(limit.unwrap_or(i64::MAX), charge.amount.currency);
                    RailOutcome::Declined(decline(
                        DeclineCode::InsufficientFunds,
                        format!(
                            "the issuer declined the charge (insufficient funds): test card {card} allows at most {limit} per charge, and this one is {}",
                            charge.amount
                        ),
                    ))
                }
            }
        }
    }

    fn answer_challenge(
        &self,
        rail_ref: &RailRef,
        answer: &str,
        charge: &RailCharge<'_>,
    ) -> RailOutcome {
        let behaviour = match SandboxRail::screen(charge) {
            Ok(b) => b,
            Err(d) => return RailOutcome::Declined(d),
        };
        let expected = SandboxRail::charge_ref(charge.reference);
        if *rail_ref != expected || behaviour != SandboxBehaviour::ThreeDSecure {
            return RailOutcome::Declined(decline(
                DeclineCode::ChargeUnknown,
                format!("no 3-D Secure challenge is pending for {rail_ref} with this card and reference"),
            ));
        }
        if answer.len() <= MAX_CHALLENGE_ANSWER_LEN && answer.trim() == SANDBOX_CHALLENGE_ANSWER {
            approved(expected, charge)
        } else {
            RailOutcome::Declined(decline(
                DeclineCode::ChallengeFailed,
                format!("the 3-D Secure code is wrong; nothing was charged. Start the top-up again (the sandbox code is {SANDBOX_CHALLENGE_ANSWER})"),
            ))
        }
    }

    fn refund(
        &self,
        charge_ref: &RailRef,
        reference: &str,
        amount: Money,
    ) -> Result<RailRefund, RailDecline> {
        if !is_charge_ref(charge_ref.as_str()) {
            return Err(decline(
                DeclineCode::ChargeUnknown,
                format!("{charge_ref} is not a sandbox charge, so the sandbox cannot refund it"),
            ));
        }
        if !reference_is_valid(reference) {
            return Err(decline(
                DeclineCode::RequestInvalid,
                format!("the refund reference must be 1 to {MAX_REFERENCE_LEN} printable ASCII characters"),
            ));
        }
        check_amount(amount)?;
        let hash = short_hash(
            REFUND_REF_CONTEXT,
            &[charge_ref.as_str().as_bytes(), b"\0", reference.as_bytes()],
        );
        Ok(RailRefund {
            rail_ref: RailRef::new(format!("{REFUND_REF_PREFIX}{hash}")),
            amount,
        })
    }
}

fn approved(rail_ref: RailRef, charge: &RailCharge<'_>) -> RailOutcome {
    RailOutcome::Approved {
        rail_ref,
        amount: charge.amount,
    }
}

fn check_amount(amount: Money) -> Result<(), RailDecline> {
    if amount.minor <= 0 {
        return Err(decline(
            DeclineCode::AmountInvalid,
            format!("the amount must be more than zero; it is {amount}"),
        ));
    }
    match major_units(SANDBOX_MAX_CHARGE_MAJOR_UNITS, amount.currency) {
        Some(max) if amount.minor <= max => Ok(()),
        max => Err(decline(
            DeclineCode::AmountTooLarge,
            format!(
                "{amount} is more than the sandbox's single-charge ceiling of {}; split it or use a smaller amount",
                Money::new(max.unwrap_or(i64::MAX), amount.currency)
            ),
        )),
    }
}

/// `units` whole units of `currency` in minor units, `None` on overflow.
fn major_units(units: i64, currency: Currency) -> Option<i64> {
    10i64
        .checked_pow(u32::from(currency.exponent()))?
        .checked_mul(units)
}

fn decline(code: DeclineCode, what: String) -> RailDecline {
    RailDecline::new(code, format!("sandbox: {what} {SIMULATION_NOTE}"))
}

fn reason(code: DeclineCode) -> &'static str {
    match code {
        DeclineCode::InsufficientFunds => "insufficient funds",
        DeclineCode::DoNotHonour => "do not honour",
        DeclineCode::CardExpired => "card expired",
        _ => code.as_str(),
    }
}

fn short_hash(context: &[u8], parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(context);
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    hex::encode(digest.get(..RAIL_REF_BYTES).unwrap_or_default())
}

/// `sbx_` + 24 lowercase hex characters (and not a refund ref).
fn is_charge_ref(s: &str) -> bool {
    s.strip_prefix(CHARGE_REF_PREFIX).is_some_and(|hex| {
        hex.len() == 2 * RAIL_REF_BYTES
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}
