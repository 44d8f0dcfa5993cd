//! Mandates: what an agent may buy for a person, where, when, how much, with what, and when
//! the person is asked first — captured from the person's own words.
//!
//! - [`model`]: the [`Mandate`] value, one struct per dimension (what, where, when, how much,
//!   with what), plus the confirmation policy and provenance.
//! - [`constraints`]: the vocabulary those dimensions are built from ([`Mcc`],
//!   [`CountryCode`], [`LineItem`], [`IntervalLimit`], [`ConfirmationPolicy`],
//!   [`OtherConstraint`] for constraint types Purser does not know, which fail closed).
//! - [`date`]: civil dates and RFC 3339 instants without a clock.
//! - `validate` / `summary`: [`Mandate::validate`] and [`Mandate::summary`].
//! - [`evaluate`]: [`Mandate::evaluate`], the pure decision for one payment, naming every
//!   failed constraint in a sentence, and the spending buckets the payment charges.
//! - [`schedule`]: a recurring mandate's charges (Token Pay): when occurrence `n` is due.
//! - [`draft`]: a deterministic parser from plain requests to a proposed mandate, saying what
//!   it understood and what it did not.
//!
//! Everything here is pure: no clock, no storage. Lifecycle (consent, activation, revocation)
//! and evaluation against payments live above and beside this module.

pub mod constraints;
pub mod date;
pub mod draft;
pub mod evaluate;
pub mod model;
pub mod schedule;
mod summary;
mod validate;

pub use constraints::{
    Category, ConfirmationPolicy, ConfirmationRule, CountryCode, Frequency, Instrument, Interval,
    IntervalLimit, LineItem, Mcc, MerchantRef, OtherConstraint, Provenance, Recurrence,
    TranscriptTurn,
};
pub use date::{CivilDate, DateOrInstant, Weekday};
pub use draft::{draft, Draft, DraftContext, Understood};
pub use evaluate::{
    bucket_key, At, BucketCharge, CartItem, Charge, Evaluation, Failure, MerchantFacts,
    PaymentRequest, Spent, Usage, ALL,
};
pub use model::{ExecutionWindow, HowMuch, Mandate, MandateProposal, What, When, Where, WithWhat};
pub use schedule::{recurring_mandate, RecurringRequest, Schedule};
pub use validate::{Problem, ValidationError, MAX_LIST_LEN, MAX_TEXT_CHARS};

#[cfg(test)]
mod tests;
