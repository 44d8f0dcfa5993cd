//! The double-entry ledger, modelled on TigerBeetle: accounts with balance-limit flags,
//! immediate transfers, two-phase holds (post in full or part, void, expire), linked
//! operations that succeed or fail together, idempotency by client-chosen id, and a
//! hash-chained journal from which every balance can be recomputed.
//!
//! Invariants (checked on every change, in release builds):
//! - every transfer debits one account and credits another by the same amount, so per currency
//!   the sum of debits equals the sum of credits, posted and pending alike;
//! - an account flagged `debits_must_not_exceed_credits` never has
//!   `debits_posted + debits_pending > credits_posted` (and the mirror rule);
//! - a hold is resolved at most once, and a post never settles more than was held.

mod account;
mod error;
mod ids;
pub mod journal;
mod state;
mod transfer;
pub mod verify;

pub use account::{Account, AccountFlags, NewAccount};
pub use error::{ErrorClass, LedgerError, Refusal};
pub use ids::{AccountId, InvalidId, TransferId, MAX_ID_LEN};
pub use state::{references, Changes, LedgerState, References, MIN_HOLD_TIMEOUT_MS};
pub use transfer::{
    Hold, HoldState, LinkedOp, NewTransfer, Op, Outcome, Transfer, TransferKind,
    MAX_HOLD_TIMEOUT_MS,
};

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
