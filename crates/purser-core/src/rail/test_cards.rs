//! The sandbox's documented test cards: one table, printed by the README and CLI and read by
//! the sandbox itself, so the documentation cannot drift from the behaviour.

use super::DeclineCode;
use crate::card::CardNumber;

/// What the sandbox does with a test card (after the checks every card gets; see
/// [`SandboxRail`](super::SandboxRail)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxBehaviour {
    Approve,
    Decline(DeclineCode),
    /// Asks for 3-D Secure; [`SANDBOX_CHALLENGE_ANSWER`](super::SANDBOX_CHALLENGE_ANSWER)
    /// approves, anything else declines `challenge_failed`.
    ThreeDSecure,
    /// Approves up to [`SANDBOX_LIMIT_CARD_MAJOR_UNITS`](super::SANDBOX_LIMIT_CARD_MAJOR_UNITS)
    /// per charge; more declines `insufficient_funds`.
    Limit,
}

/// One list, two views: the public (number, brand, behaviour) table and the sandbox's lookup.
macro_rules! test_cards {
    ($(#[$doc:meta])* $( $number:literal, $brand:literal, $behaviour:expr, $text:literal; )*) => {
        $(#[$doc])*
        pub const SANDBOX_TEST_CARDS: &[(&str, &str, &str)] = &[ $( ($number, $brand, $text) ),* ];

        const BEHAVIOURS: &[(&str, SandboxBehaviour)] = &[ $( ($number, $behaviour) ),* ];
    };
}

test_cards! {
    /// The sandbox rail's test cards: `(number, brand, behaviour)`. All are Luhn-valid and
    /// parse as [`CardNumber`]s of the listed brand. Any expiry in the future and any
    /// well-formed CVV (or none) will do. The sandbox is a simulation: no bank is contacted and
    /// no real money moves.
    ///
    /// | Number                | Brand      | Behaviour |
    /// |-----------------------|------------|-----------|
    /// | `4242 4242 4242 4242` | visa       | approves |
    /// | `5555 5555 5555 4444` | mastercard | approves |
    /// | `3782 822463 10005`   | amex       | approves (4-digit CVV) |
    /// | `6011 1111 1111 1117` | discover   | approves |
    /// | `6200 0000 0000 0005` | unionpay   | approves |
    /// | `3566 0020 2036 0505` | jcb        | approves |
    /// | `3056 9300 0902 0004` | diners     | approves |
    /// | `4000 0000 0000 9995` | visa       | declines `insufficient_funds` |
    /// | `4000 0000 0000 0002` | visa       | declines `do_not_honour` |
    /// | `4000 0000 0000 0069` | visa       | declines `card_expired`, whatever the expiry |
    /// | `4000 0000 0000 3220` | visa       | asks for 3-D Secure: `123456` approves, anything else declines `challenge_failed` |
    /// | `4000 0000 0000 5001` | visa       | approves up to 50,000 (e.g. 50,000.00 CNY) per charge; more declines `insufficient_funds` |
    ///
    /// Any other valid card number is declined `do_not_honour`: like a payment provider's test
    /// mode, the sandbox refuses real cards, so nobody believes a real card was charged.
    "4242 4242 4242 4242", "visa", SandboxBehaviour::Approve, "approves";
    "5555 5555 5555 4444", "mastercard", SandboxBehaviour::Approve, "approves";
    "3782 822463 10005", "amex", SandboxBehaviour::Approve, "approves (4-digit CVV)";
    "6011 1111 1111 1117", "discover", SandboxBehaviour::Approve, "approves";
    "6200 0000 0000 0005", "unionpay", SandboxBehaviour::Approve, "approves";
    "3566 0020 2036 0505", "jcb", SandboxBehaviour::Approve, "approves";
    "3056 9300 0902 0004", "diners", SandboxBehaviour::Approve, "approves";
    "4000 0000 0000 9995", "visa", SandboxBehaviour::Decline(DeclineCode::InsufficientFunds), "declines insufficient_funds";
    "4000 0000 0000 0002", "visa", SandboxBehaviour::Decline(DeclineCode::DoNotHonour), "declines do_not_honour";
    "4000 0000 0000 0069", "visa", SandboxBehaviour::Decline(DeclineCode::CardExpired), "declines card_expired, whatever the expiry";
    "4000 0000 0000 3220", "visa", SandboxBehaviour::ThreeDSecure, "asks for 3-D Secure: 123456 approves, anything else declines challenge_failed";
    "4000 0000 0000 5001", "visa", SandboxBehaviour::Limit, "approves up to 50,000 (e.g. 50,000.00 CNY) per charge; more declines insufficient_funds";
}

/// The test card's behaviour, or `None` for a number not in [`SANDBOX_TEST_CARDS`].
pub(super) fn behaviour_of(number: &CardNumber) -> Option<SandboxBehaviour> {
    let digits = number.expose_digits();
    BEHAVIOURS
        .iter()
        .find(|(listed, _)| listed.bytes().filter(|b| *b != b' ').eq(digits.bytes()))
        .map(|(_, behaviour)| *behaviour)
}
