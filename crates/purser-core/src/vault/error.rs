//! Why the vault refused. Messages name what to check; none contains key bytes or plaintext.

use super::{KekId, MAX_KEYRING_KEYS};
use std::fmt;

/// A vault failure. [`VaultError::code`] is stable for machines; `Display` is for the operator
/// (these are server-side failures: an API client should see a generic internal error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultError {
    /// `vault_kek_unknown`: the record was sealed under a key the keyring does not hold.
    KekUnknown { kek_id: KekId },
    /// `vault_unwrap_failed`: the data key did not authenticate under its key-encryption key.
    UnwrapFailed { kek_id: KekId },
    /// `vault_decrypt_failed`: the data did not authenticate under its data key.
    DecryptFailed,
    /// `vault_record_malformed`: the stored record does not have the shape [`seal`](super::seal)
    /// writes.
    RecordMalformed(&'static str),
    /// `vault_too_large`: plaintext or associated data over the vault's limits.
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// `vault_key_invalid`: key material of the wrong length or encoding.
    KeyInvalid(String),
    /// `vault_keyring_invalid`: the key file could not be read.
    KeyringInvalid(String),
    /// `vault_keyring_full`: rotating again would exceed [`MAX_KEYRING_KEYS`].
    KeyringFull,
    /// `vault_random_failed`: the random number generator failed.
    Random,
    /// `vault_crypto_failed`: the cryptographic library refused an operation that cannot fail
    /// with valid inputs.
    Crypto,
}

impl VaultError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::KekUnknown { .. } => "vault_kek_unknown",
            VaultError::UnwrapFailed { .. } => "vault_unwrap_failed",
            VaultError::DecryptFailed => "vault_decrypt_failed",
            VaultError::RecordMalformed(_) => "vault_record_malformed",
            VaultError::TooLarge { .. } => "vault_too_large",
            VaultError::KeyInvalid(_) => "vault_key_invalid",
            VaultError::KeyringInvalid(_) => "vault_keyring_invalid",
            VaultError::KeyringFull => "vault_keyring_full",
            VaultError::Random => "vault_random_failed",
            VaultError::Crypto => "vault_crypto_failed",
        }
    }
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultError::KekUnknown { kek_id } => write!(
                f,
                "the record was sealed with vault key {kek_id}, which is not in the keyring; restore that key to the key file (keys must be kept until no record uses them)"
            ),
            VaultError::UnwrapFailed { kek_id } => write!(
                f,
                "the record's data key does not open with vault key {kek_id}: the key file holds different bytes under that id, the wrapped key was altered, or the record was moved from another row"
            ),
            VaultError::DecryptFailed => f.write_str(
                "the record's data does not authenticate: it was altered, or moved from another row",
            ),
            VaultError::RecordMalformed(what) => write!(f, "the stored vault record is malformed: {what}"),
            VaultError::TooLarge { what, len, max } => write!(
                f,
                "the {what} is {len} bytes; the vault takes at most {max}"
            ),
            VaultError::KeyInvalid(why) => f.write_str(why),
            VaultError::KeyringInvalid(why) => write!(f, "the vault key file is invalid: {why}"),
            VaultError::KeyringFull => write!(
                f,
                "the keyring already holds {MAX_KEYRING_KEYS} keys; rewrap old records and retire unused keys before rotating again"
            ),
            VaultError::Random => f.write_str("the system random number generator failed; nothing was sealed"),
            VaultError::Crypto => f.write_str("the cryptographic library refused the operation; nothing was sealed"),
        }
    }
}

impl std::error::Error for VaultError {}
