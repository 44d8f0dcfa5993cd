//! What Purser sends a rail, and the rail's name for the result.

use crate::card::{CardNumber, CardholderName, Cvv, Expiry};
use crate::{Money, Timestamp};
use std::fmt;

/// Longest idempotency reference a rail is given. Purser's references are ids of ~30
/// characters; providers typically cap idempotency keys at 255, so 128 leaves room for a
/// prefix either way.
pub const MAX_REFERENCE_LEN: usize = 128;

/// One charge to a card. Borrowed, so the card number is never copied out of its
/// [`CardNumber`]; `Debug` shows the card only masked and the CVV as `***`.
#[derive(Clone, Copy, Debug)]
pub struct RailCharge<'a> {
    /// Purser's idempotency reference: the same reference always means the same charge.
    pub reference: &'a str,
    pub number: &'a CardNumber,
    pub expiry: Expiry,
    /// Present for a card just entered; absent for later top-ups (the CVV is never stored).
    pub cvv: Option<&'a Cvv>,
    pub holder: Option<&'a CardholderName>,
    /// What to charge; positive.
    pub amount: Money,
    /// The caller's clock, for expiry checks (the core reads no clock).
    pub now: Timestamp,
}

/// The rail's id for a charge or refund (e.g. `sbx_…`), stored with the top-up so refunds
/// and challenge answers can name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RailRef(String);

impl RailRef {
    pub fn new(value: impl Into<String>) -> RailRef {
        RailRef(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RailRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference fit to send: non-empty, at most [`MAX_REFERENCE_LEN`] bytes, printable ASCII.
pub(super) fn reference_is_valid(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= MAX_REFERENCE_LEN
        && reference.bytes().all(|b| b.is_ascii_graphic())
}
