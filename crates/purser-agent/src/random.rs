//! Random values the SDK sends: signature nonces and idempotency keys.

use crate::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Bytes of randomness in a nonce. 128 bits: no two requests of any agent ever collide, and
/// the server's replay cache keys stay short (22 characters).
pub const NONCE_BYTES: usize = 16;

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf)
        .map_err(|e| Error::Signing(format!("the system random source failed: {e}")))?;
    Ok(buf)
}

/// A fresh signature nonce: 128 random bits, base64url without padding.
pub fn nonce() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<NONCE_BYTES>()?))
}

/// A fresh idempotency key: a random (version 4) UUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
pub fn idempotency_key() -> Result<String, Error> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}
