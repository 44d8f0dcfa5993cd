//! Purser's core: the rules, with no I/O.
//!
//! Everything here is a pure function over values. Storage, HTTP, clocks and randomness are
//! passed in by the crates above, which is what lets the ledger rules be tested exhaustively
//! and replayed offline by `purser ledger verify`.

pub mod card;
pub mod httpsig;
pub mod ledger;
pub mod mandate;
pub mod money;
pub mod rail;
pub mod secret;
pub mod time;
pub mod vault;
pub mod webhook;

pub use money::{Currency, Money, MoneyError, ParseOptions};
pub use time::{Clock, ManualClock, Timestamp};
