//! AES-256-GCM with a random nonce, laid out as `nonce || ciphertext || tag`.

use super::VaultError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::SecureRandom;
use zeroize::Zeroizing;

/// GCM's authentication tag: the full 128 bits (truncated tags weaken forgery resistance).
pub(super) const TAG_LEN: usize = 16;

/// Bytes a sealed box adds to its plaintext.
pub(super) const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

fn key(bytes: &[u8; 32]) -> Result<LessSafeKey, VaultError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| VaultError::Crypto)
}

/// Encrypt `plaintext` under `key` with a fresh random nonce. Returns `nonce || ct || tag`.
pub(super) fn seal(
    key_bytes: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, VaultError> {
    let key = key(key_bytes)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    // `out` starts with the nonce we just pushed, so the slice is the plaintext.
    match key.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out[NONCE_LEN..],
    ) {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Ok(out)
        }
        Err(_) => {
            // `out` may still hold plaintext.
            zeroize::Zeroize::zeroize(&mut out);
            Err(VaultError::Crypto)
        }
    }
}

/// Decrypt and authenticate `nonce || ct || tag`. `None` if the key, the AAD or any byte is
/// wrong: GCM cannot tell which, and neither can we.
pub(super) fn open(
    key_bytes: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    let key = key(key_bytes)?;
    let Some((nonce, body)) = sealed.split_first_chunk::<NONCE_LEN>() else {
        return Ok(None);
    };
    if body.len() < TAG_LEN {
        return Ok(None);
    }
    let mut buf = Zeroizing::new(body.to_vec());
    let plain_len = match key.open_in_place(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        buf.as_mut_slice(),
    ) {
        Ok(plain) => plain.len(),
        Err(_) => return Ok(None),
    };
    buf.truncate(plain_len);
    Ok(Some(buf))
}
