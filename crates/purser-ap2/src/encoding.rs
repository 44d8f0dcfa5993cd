//! base64url (no padding, strict) and the SD-JWT digest function.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Decodes unpadded base64url; padding, `+`/`/` and non-canonical trailing bits are refused.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub(crate) fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(SHA-256(ascii))`: the digest of a disclosure, and `sd_hash` / `issuer_jwt_hash`.
/// aws-lc's SHA-256 (assembly, SHA extensions where the CPU has them): a chain hashes every
/// disclosure and presentation, and the portable `sha2` code was 18% of a two-hop verification.
pub fn sd_digest(ascii: &str) -> String {
    b64url_encode(digest(&SHA256, ascii.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_digest_is_base64url_sha256() {
        // SHA-256("abc") from FIPS 180-2, base64url without padding.
        assert_eq!(
            sd_digest("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_eq!(sd_digest(""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    }
}
