//! Key-encryption keys: the long-lived keys that wrap each record's data key.

use super::VaultError;
use crate::secret::Secret;
use aws_lc_rs::rand::SecureRandom;
use sha2::{Digest, Sha256};
use std::fmt;

/// AES-256: 32 key bytes.
pub const KEK_LEN: usize = 32;

const KEK_ID_PREFIX: &str = "kek_";

/// Hex characters in an id (64 bits): unique among the handful of keys a keyring ever holds,
/// and short enough to read in a log line.
const KEK_ID_HEX_CHARS: usize = 16;

/// Domain separation for deriving an id from key bytes.
const KEK_ID_CONTEXT: &[u8] = b"purser.vault.kek-id.v1\0";

/// Names a KEK: `kek_` + 16 hex characters, stored beside every record sealed under it.
///
/// The id is derived from the key bytes (a truncated SHA-256 under a fixed context), so the
/// same key always has the same id: a key given as `PURSER_VAULT_KEY` keeps opening its records
/// across restarts, and a key file whose bytes were altered is caught when it is loaded rather
/// than by every record failing to open. The hash reveals nothing usable about a random
/// 256-bit key.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct KekId(String);

impl KekId {
    /// Read a stored id; `None` unless it is `kek_` + 16 lowercase hex characters.
    pub fn parse(s: &str) -> Option<KekId> {
        let hex = s.strip_prefix(KEK_ID_PREFIX)?;
        let well_formed = hex.len() == KEK_ID_HEX_CHARS
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| KekId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn derive(key: &[u8; KEK_LEN]) -> KekId {
        let digest = Sha256::new()
            .chain_update(KEK_ID_CONTEXT)
            .chain_update(key)
            .finalize();
        let mut hex = hex::encode(digest);
        hex.truncate(KEK_ID_HEX_CHARS);
        KekId(format!("{KEK_ID_PREFIX}{hex}"))
    }
}

impl TryFrom<String> for KekId {
    type Error = &'static str;
    fn try_from(s: String) -> Result<KekId, &'static str> {
        KekId::parse(&s).ok_or("a vault key id is kek_ followed by 16 hex digits")
    }
}

impl From<KekId> for String {
    fn from(id: KekId) -> String {
        id.0
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 256-bit key-encryption key and its id. `Debug` shows the id only.
#[derive(Clone)]
pub struct Kek {
    id: KekId,
    key: Secret<[u8; KEK_LEN]>,
}

impl Kek {
    /// A new random key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Kek, VaultError> {
        let mut key = Secret::new([0u8; KEK_LEN]);
        rng.fill(key.expose_mut()).map_err(|_| VaultError::Random)?;
        Ok(Kek::from_secret(key))
    }

    /// A key from its bytes (e.g. decoded from the key file). Exactly [`KEK_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Kek, VaultError> {
        if bytes.len() != KEK_LEN {
            return Err(VaultError::KeyInvalid(format!(
                "a vault key is {KEK_LEN} bytes; this one is {} bytes",
                bytes.len()
            )));
        }
        let mut key = Secret::new([0u8; KEK_LEN]);
        key.expose_mut().copy_from_slice(bytes);
        Ok(Kek::from_secret(key))
    }

    fn from_secret(key: Secret<[u8; KEK_LEN]>) -> Kek {
        Kek {
            id: KekId::derive(key.expose()),
            key,
        }
    }

    pub fn id(&self) -> &KekId {
        &self.id
    }

    /// The key bytes, for the vault's own AES calls and for writing the key file.
    pub(super) fn key_bytes(&self) -> &[u8; KEK_LEN] {
        self.key.expose()
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish()
    }
}
