//! Payment cards: numbers (Luhn, brand), expiry, CVV, masked display and fingerprints.
//!
//! Parse, don't validate: what a person types becomes a [`CardNumber`], [`Expiry`], [`Cvv`] or
//! [`CardholderName`] here, at the edge, and code past the edge cannot hold an unchecked one.
//!
//! The card number and CVV live in a [`Secret`](crate::secret::Secret) from the moment they are
//! parsed: no `Debug`, `Display` or [`CardError`] ever contains their digits (a test formats
//! every type and error and checks). What may be shown is the brand, the last four digits
//! ([`CardNumber::masked`]) and the keyed [`CardFingerprint`] used to spot a duplicate card.

mod brand;
mod calendar;
mod cvv;
mod error;
mod expiry;
mod fingerprint;
mod holder;
mod number;

#[cfg(test)]
pub(crate) mod tests;

pub use brand::CardBrand;
pub use calendar::YearMonth;
pub use cvv::Cvv;
pub use error::{CardError, ExpiryProblem, HolderProblem, NumberProblem};
pub use expiry::{Expiry, MAX_YEARS_AHEAD};
pub use fingerprint::{fingerprint, CardFingerprint, FINGERPRINT_HEX_CHARS, FINGERPRINT_PREFIX};
pub use holder::{CardholderName, MAX_HOLDER_CHARS};
pub use number::{CardNumber, BIN_LEN, MAX_PAN_DIGITS, MIN_PAN_DIGITS};
