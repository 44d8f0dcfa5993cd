//! Seal, open and rewrap: the three operations on a [`SealedRecord`].

use super::aead;
use super::{Kek, Keyring, SealedRecord, VaultError, KEK_LEN};
use crate::secret::SecretBytes;
use aws_lc_rs::rand::SecureRandom;
use zeroize::Zeroizing;

/// Largest plaintext sealed. Vault records are card numbers and small JSON blobs; a cap keeps a
/// bug from encrypting megabytes into one row.
pub const MAX_PLAINTEXT_LEN: usize = 64 * 1024;

/// Largest associated data. It names the row (a card id, perhaps with a user id), so a
/// kilobyte is generous.
pub const MAX_AAD_LEN: usize = 1024;

/// Data keys are AES-256 keys too.
const DEK_LEN: usize = KEK_LEN;

/// Context for the data layer's AAD.
const DATA_CONTEXT: &[u8] = b"purser.vault.data.v1\0";

/// Context for the key-wrapping layer's AAD.
const WRAP_CONTEXT: &[u8] = b"purser.vault.dek.v1\0";

/// Encrypt `plaintext` for the row named by `aad`, under a fresh data key wrapped by `kek`.
///
/// Two seals of the same plaintext differ (fresh data key and nonces), so equal ciphertexts
/// never reveal equal cards; use a [`fingerprint`](crate::card::fingerprint) to find
/// duplicates.
pub fn seal(
    kek: &Kek,
    plaintext: &[u8],
    aad: &[u8],
    rng: &dyn SecureRandom,
) -> Result<SealedRecord, VaultError> {
    check_len("plaintext", plaintext.len(), MAX_PLAINTEXT_LEN)?;
    check_len("associated data", aad.len(), MAX_AAD_LEN)?;
    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    rng.fill(dek.as_mut_slice())
        .map_err(|_| VaultError::Random)?;
    let ciphertext = aead::seal(&dek, &data_aad(aad), plaintext, rng)?;
    let wrapped_dek = wrap(kek, &dek, aad, rng)?;
    Ok(SealedRecord {
        kek_id: kek.id().clone(),
        wrapped_dek,
        ciphertext,
    })
}

/// Decrypt a record with the key it names from `keyring`. `aad` must be what was given to
/// [`seal`]; anything else fails with [`VaultError::UnwrapFailed`].
pub fn open(
    keyring: &Keyring,
    record: &SealedRecord,
    aad: &[u8],
) -> Result<SecretBytes, VaultError> {
    let dek = unwrap(keyring, record, aad)?;
    let mut plain =
        aead::open(&dek, &data_aad(aad), &record.ciphertext)?.ok_or(VaultError::DecryptFailed)?;
    Ok(SecretBytes::new(std::mem::take(&mut *plain)))
}

/// Re-wrap a record's data key under `new_kek` (after [`Keyring::rotate`]). The data
/// ciphertext is kept as is: rotation rewrites 60 bytes per record and never handles the
/// plaintext.
pub fn rewrap(
    keyring: &Keyring,
    record: &SealedRecord,
    new_kek: &Kek,
    aad: &[u8],
    rng: &dyn SecureRandom,
) -> Result<SealedRecord, VaultError> {
    let dek = unwrap(keyring, record, aad)?;
    Ok(SealedRecord {
        kek_id: new_kek.id().clone(),
        wrapped_dek: wrap(new_kek, &dek, aad, rng)?,
        ciphertext: record.ciphertext.clone(),
    })
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), VaultError> {
    if len > max {
        return Err(VaultError::TooLarge { what, len, max });
    }
    Ok(())
}

fn wrap(
    kek: &Kek,
    dek: &[u8; DEK_LEN],
    aad: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, VaultError> {
    aead::seal(kek.key_bytes(), &wrap_aad(kek, aad), dek, rng)
}

fn unwrap(
    keyring: &Keyring,
    record: &SealedRecord,
    aad: &[u8],
) -> Result<Zeroizing<[u8; DEK_LEN]>, VaultError> {
    record.check_shape()?;
    check_len("associated data", aad.len(), MAX_AAD_LEN)?;
    let kek = keyring
        .get(&record.kek_id)
        .ok_or_else(|| VaultError::KekUnknown {
            kek_id: record.kek_id.clone(),
        })?;
    let failed = || VaultError::UnwrapFailed {
        kek_id: record.kek_id.clone(),
    };
    let plain = aead::open(kek.key_bytes(), &wrap_aad(kek, aad), &record.wrapped_dek)?
        .ok_or_else(failed)?;
    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    if plain.len() != DEK_LEN {
        return Err(failed());
    }
    dek.copy_from_slice(&plain);
    Ok(dek)
}

/// `DATA_CONTEXT || aad`.
fn data_aad(aad: &[u8]) -> Vec<u8> {
    [DATA_CONTEXT, aad].concat()
}

/// `WRAP_CONTEXT || len(kek_id) as u8 || kek_id || aad`: binds the wrapped key to the KEK that
/// wrapped it and to the row. The length prefix keeps the id/aad boundary unambiguous.
fn wrap_aad(kek: &Kek, aad: &[u8]) -> Vec<u8> {
    let id = kek.id().as_str().as_bytes();
    let mut out = Vec::with_capacity(WRAP_CONTEXT.len() + 1 + id.len() + aad.len());
    out.extend_from_slice(WRAP_CONTEXT);
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id);
    out.extend_from_slice(aad);
    out
}
