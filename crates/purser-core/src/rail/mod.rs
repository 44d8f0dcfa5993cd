//! The card rail adapter interface and the built-in sandbox issuer.
//!
//! A card rail moves money between a card and the wallet: a top-up charges the card
//! ([`CardRail::authorize`]), a refund sends it back ([`CardRail::refund`]). Everything
//! Purser knows about a card network sits behind [`CardRail`], so the server's payment logic is
//! the same whether the rail is the [`SandboxRail`] or a networked adapter.
//!
//! The trait is synchronous and object-safe (`Box<dyn CardRail>`): the sandbox is a pure
//! function, and a networked adapter is run on a blocking thread by the server. Every call
//! carries Purser's idempotency reference, so retrying a call whose answer was lost cannot
//! charge twice.
//!
//! What the server must do itself, because a rail (and certainly the pure sandbox) does not
//! remember: keep refunds of a charge at or below what was charged, keep the challenge state
//! between [`CardRail::authorize`] and [`CardRail::answer_challenge`], and check that an
//! approved amount equals the amount asked for before crediting the wallet.

mod charge;
mod outcome;
mod sandbox;
mod test_cards;

#[cfg(test)]
mod tests;

pub use charge::{RailCharge, RailRef, MAX_REFERENCE_LEN};
pub use outcome::{DeclineCode, RailDecline, RailOutcome, RailRefund};
pub use sandbox::{
    SandboxRail, SANDBOX_CHALLENGE_ANSWER, SANDBOX_LIMIT_CARD_MAJOR_UNITS,
    SANDBOX_MAX_CHARGE_MAJOR_UNITS,
};
pub use test_cards::{SandboxBehaviour, SANDBOX_TEST_CARDS};

use crate::Money;

/// A way to charge and refund cards. See the module docs for what stays the server's job.
pub trait CardRail: Send + Sync {
    /// Short stable name for logs and stored records, e.g. `"sandbox"`.
    fn name(&self) -> &'static str;

    /// True when no real money moves. The server shows this wherever the rail's results
    /// appear, so nobody mistakes a simulated top-up for a real one.
    fn is_sandbox(&self) -> bool;

    /// Charge the card (a wallet top-up). The only call that sees the card number and CVV.
    /// May answer [`RailOutcome::ChallengeRequired`] (3-D Secure): show the challenge to the
    /// cardholder and pass their answer to [`answer_challenge`](Self::answer_challenge).
    fn authorize(&self, charge: &RailCharge<'_>) -> RailOutcome;

    /// Complete a 3-D Secure step for the charge that returned `rail_ref`. `charge` is the
    /// same charge, passed again so a rail that keeps no state can finish it.
    fn answer_challenge(
        &self,
        rail_ref: &RailRef,
        answer: &str,
        charge: &RailCharge<'_>,
    ) -> RailOutcome;

    /// Return `amount` of an approved charge to the card. `reference` is Purser's idempotency
    /// reference for this refund (one charge may have several partial refunds).
    fn refund(
        &self,
        charge_ref: &RailRef,
        reference: &str,
        amount: Money,
    ) -> Result<RailRefund, RailDecline>;
}
