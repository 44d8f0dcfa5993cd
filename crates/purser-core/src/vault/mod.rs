//! Envelope encryption for the card vault: AES-256-GCM data keys wrapped by key-encryption keys.
//!
//! Each record gets its own random data key (DEK) that encrypts the plaintext; the DEK is then
//! encrypted ("wrapped") by a long-lived key-encryption key (KEK) from the [`Keyring`]. Why
//! two layers: rotating the KEK only re-encrypts 60-byte wrapped keys ([`rewrap`]), never the
//! records themselves, and a leaked DEK exposes one record, not the vault.
//!
//! The caller's associated data (AAD, e.g. the card id) is bound into both layers, so a sealed
//! record copied onto another row fails to open instead of decrypting as the wrong card.
//!
//! Pure functions: randomness comes in as a `&dyn SecureRandom`, keys come in as values, and
//! loading the key file or `PURSER_VAULT_KEY` is the caller's job ([`Keyring::parse`],
//! [`Keyring::from_env_value`]).
//!
//! Limits worth knowing: nonces are random 96-bit values, and NIST SP 800-38D allows at most
//! 2^32 random-nonce encryptions under one key. Each DEK encrypts exactly once; each KEK wraps
//! once per seal or rewrap, so rotate the KEK long before four billion cards.

mod aead;
mod envelope;
mod error;
mod kek;
mod keyring;
mod record;

#[cfg(test)]
mod tests;

pub use envelope::{open, rewrap, seal, MAX_AAD_LEN, MAX_PLAINTEXT_LEN};
pub use error::VaultError;
pub use kek::{Kek, KekId, KEK_LEN};
pub use keyring::{Keyring, MAX_KEYRING_KEYS, MAX_KEYRING_TEXT_LEN};
pub use record::{SealedRecord, WRAPPED_DEK_LEN};
