//! What the store keeps for one sealed value.

use super::aead::OVERHEAD;
use super::{KekId, VaultError, MAX_PLAINTEXT_LEN};
use std::fmt;

/// A wrapped data key: 12-byte nonce, 32-byte encrypted key, 16-byte tag.
pub const WRAPPED_DEK_LEN: usize = OVERHEAD + 32;

/// First byte of [`SealedRecord::to_bytes`], so the layout can change without guessing.
const RECORD_FORMAT_V1: u8 = 1;

/// One sealed value: which KEK wrapped its data key, the wrapped key, and the data.
///
/// Both byte fields are `nonce (12) || ciphertext || tag (16)`. A store can keep the three
/// fields in columns (`kek_id` text, the others as blobs) so that "which records still use this
/// key" is a query, or keep [`to_bytes`](Self::to_bytes) in one blob. In JSON (serde) the byte
/// fields are standard padded base64:
/// `{"kek_id":"kek_…","wrapped_dek":"…","ciphertext":"…"}`.
///
/// The bytes are ciphertext, so they are not secret, but `Debug` shows only their lengths to
/// keep logs short.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedRecord {
    pub kek_id: KekId,
    #[serde(with = "base64_bytes")]
    pub wrapped_dek: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

impl SealedRecord {
    /// One blob: `0x01 || len(kek_id) as u8 || kek_id || wrapped_dek (60) || ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let id = self.kek_id.as_str().as_bytes();
        let mut out =
            Vec::with_capacity(2 + id.len() + self.wrapped_dek.len() + self.ciphertext.len());
        out.push(RECORD_FORMAT_V1);
        // Ids are 20 ASCII bytes by construction (`KekId::parse`), far below 255.
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
        out.extend_from_slice(&self.wrapped_dek);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// The inverse of [`to_bytes`](Self::to_bytes); checks the layout and lengths.
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedRecord, VaultError> {
        let malformed = VaultError::RecordMalformed;
        let (&format, rest) = bytes.split_first().ok_or(malformed("it is empty"))?;
        if format != RECORD_FORMAT_V1 {
            return Err(malformed("unknown format version"));
        }
        let (&id_len, rest) = rest.split_first().ok_or(malformed("it is truncated"))?;
        let (id, rest) = rest
            .split_at_checked(usize::from(id_len))
            .ok_or(malformed("it is truncated"))?;
        let kek_id = std::str::from_utf8(id)
            .ok()
            .and_then(KekId::parse)
            .ok_or(malformed("the key id is not kek_ + 16 hex digits"))?;
        let (wrapped, ciphertext) = rest
            .split_at_checked(WRAPPED_DEK_LEN)
            .ok_or(malformed("it is truncated"))?;
        let record = SealedRecord {
            kek_id,
            wrapped_dek: wrapped.to_vec(),
            ciphertext: ciphertext.to_vec(),
        };
        record.check_shape()?;
        Ok(record)
    }

    /// The lengths [`seal`](super::seal) produces; checked before any decryption so a
    /// truncated or padded column is reported as what it is.
    pub(super) fn check_shape(&self) -> Result<(), VaultError> {
        if self.wrapped_dek.len() != WRAPPED_DEK_LEN {
            return Err(VaultError::RecordMalformed(
                "the wrapped data key is not 60 bytes",
            ));
        }
        if self.ciphertext.len() < OVERHEAD {
            return Err(VaultError::RecordMalformed(
                "the ciphertext is shorter than a nonce and tag",
            ));
        }
        if self.ciphertext.len() > MAX_PLAINTEXT_LEN + OVERHEAD {
            return Err(VaultError::RecordMalformed(
                "the ciphertext is longer than any the vault writes",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedRecord {{ kek_id: {}, wrapped_dek: {} bytes, ciphertext: {} bytes }}",
            self.kek_id,
            self.wrapped_dek.len(),
            self.ciphertext.len()
        )
    }
}

/// Serde for `Vec<u8>` as standard padded base64.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
