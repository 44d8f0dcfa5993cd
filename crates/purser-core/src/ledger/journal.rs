//! The append-only journal: every change to the ledger is one entry, and every entry carries
//! the hash of the one before it, so a changed, removed or reordered entry breaks the chain.

use super::{Account, Transfer, TransferId};
use crate::time::Timestamp;
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The "previous hash" of the first entry.
pub const GENESIS_HASH: Hash = [0u8; 32];

/// Domain separation so a journal hash can never be confused with any other SHA-256 in Purser.
const DOMAIN: &[u8] = b"purser.journal.v1\0";

/// One thing that happened to the ledger.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    AccountCreated {
        account: Account,
    },
    TransferCreated {
        transfer: Transfer,
    },
    /// A hold reached its expiry and released its funds by itself.
    HoldExpired {
        pending_id: TransferId,
    },
}

/// A journal entry: when, and what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub at: Timestamp,
    #[serde(flatten)]
    pub event: Event,
}

impl Entry {
    /// The canonical bytes that are stored and hashed.
    pub fn body(&self) -> String {
        // Serializing plain data structs with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Result<Entry, String> {
        serde_json::from_str(body).map_err(|e| format!("unreadable journal entry: {e}"))
    }

    pub fn kind(&self) -> &'static str {
        match &self.event {
            Event::AccountCreated { .. } => "account_created",
            Event::TransferCreated { .. } => "transfer_created",
            Event::HoldExpired { .. } => "hold_expired",
        }
    }

    /// The transfer this entry creates, if any (each transfer id appears in exactly one entry).
    pub fn transfer_id(&self) -> Option<&TransferId> {
        match &self.event {
            Event::TransferCreated { transfer } => Some(&transfer.id),
            _ => None,
        }
    }
}

/// `SHA-256(domain ‖ previous hash ‖ seq ‖ body)`.
pub fn chain_hash(prev: &Hash, seq: i64, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(body);
    h.finalize().into()
}

/// An entry ready to store: its place in the chain, its canonical body and its hash.
pub struct Chained<'a> {
    pub seq: i64,
    pub entry: &'a Entry,
    pub body: String,
    pub hash: Hash,
}

/// Number `entries` after the entry (`seq`, `prev`) and link each to the one before: the one
/// place new entries join the chain, for every backend.
pub fn chain(entries: &[Entry], mut seq: i64, mut prev: Hash) -> Vec<Chained<'_>> {
    entries
        .iter()
        .map(|entry| {
            seq += 1;
            let body = entry.body();
            let hash = chain_hash(&prev, seq, body.as_bytes());
            prev = hash;
            Chained {
                seq,
                entry,
                body,
                hash,
            }
        })
        .collect()
}
