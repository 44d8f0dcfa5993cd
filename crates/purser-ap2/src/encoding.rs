//! base64url (no padding, strict) and the SD-JWT digest function.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Decodes unpadded base64url; padding, `+`/`/` and non-canonical trailing bits are refused.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub(crate) fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(SHA-256(ascii))`: the digest of a disclosure, and `sd_hash` / `issuer_jwt_hash`.
pub fn sd_digest(ascii: &str) -> String {
    b64url_encode(&Sha256::digest(ascii.as_bytes()))
}
