//! Content-Digest (RFC 9530): binds the body to a signature that covers `content-digest`.
//! Produces `sha-256`; accepts `sha-256` and `sha-512`, ignoring other algorithms.

use super::error::SigError;
use super::sfv::{self, BareItem, Member};
use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

/// `sha-256=:<base64 of SHA-256(body)>:`, the Content-Digest value for `body`.
pub fn content_digest(body: &[u8]) -> String {
    let hash = Sha256::digest(body);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Checks a Content-Digest value against `body`. Every sha-256 / sha-512 member present must
/// match, and at least one must be present.
pub fn verify_content_digest(header: &[u8], body: &[u8]) -> Result<(), SigError> {
    let dict = sfv::parse_dictionary(header).map_err(|e| SigError::ContentDigestMismatch {
        detail: format!("the header could not be parsed ({e})"),
    })?;
    let mut checked = 0;
    for (alg, member) in &dict.0 {
        let expected: Vec<u8> = match alg.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        let Member::Item(item) = member else {
            return Err(SigError::ContentDigestMismatch {
                detail: format!("{alg} must be a byte sequence (:base64:)"),
            });
        };
        let BareItem::ByteSeq(given) = &item.bare else {
            return Err(SigError::ContentDigestMismatch {
                detail: format!("{alg} must be a byte sequence (:base64:)"),
            });
        };
        if *given != expected {
            return Err(SigError::ContentDigestMismatch {
                detail: format!(
                    "the {alg} digest differs from that of the {} body bytes received",
                    body.len()
                ),
            });
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(SigError::ContentDigestMissing {
            detail: "the Content-Digest header has neither a sha-256 nor a sha-512 digest"
                .to_string(),
        });
    }
    Ok(())
}
