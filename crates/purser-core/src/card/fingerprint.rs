//! Keyed card fingerprints: the same card gives the same fingerprint, so a duplicate can be
//! spotted without decrypting the vault.

use super::CardNumber;
use aws_lc_rs::hmac;
use std::fmt;

/// Every fingerprint starts with this, so one is recognisable in logs and never confused with
/// another id.
pub const FINGERPRINT_PREFIX: &str = "fp_";

/// Hex characters of the HMAC kept (80 bits). Plenty to keep distinct cards apart (a collision
/// is expected only after about 2^40 cards) while revealing little of the MAC.
pub const FINGERPRINT_HEX_CHARS: usize = 20;

/// Domain separation: this key must never produce a MAC that means something elsewhere.
const FINGERPRINT_CONTEXT: &[u8] = b"purser.card.fingerprint.v1\0";

/// `fp_` + 20 hex characters, e.g. `fp_3f2a9c81d04b6e7a5c19`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardFingerprint(String);

/// The fingerprint of a card number under `key`, a server secret (at least 32 random bytes,
/// stored beside the vault keys, never rotated: rotating it would make every stored card look
/// new).
///
/// Why keyed: a card number has little entropy once its BIN and last four are known (about
/// 10^6 candidates), so a plain hash could be reversed by brute force. HMAC-SHA256 under a
/// secret key cannot be, without the key.
pub fn fingerprint(number: &CardNumber, key: &[u8]) -> CardFingerprint {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(FINGERPRINT_CONTEXT);
    ctx.update(number.expose_digits().as_bytes());
    let tag = ctx.sign();
    let mut hex = hex::encode(tag.as_ref());
    hex.truncate(FINGERPRINT_HEX_CHARS);
    CardFingerprint(format!("{FINGERPRINT_PREFIX}{hex}"))
}

impl CardFingerprint {
    /// Read a stored fingerprint back; `None` unless it has the shape [`fingerprint`] makes.
    pub fn parse(s: &str) -> Option<CardFingerprint> {
        let hex = s.strip_prefix(FINGERPRINT_PREFIX)?;
        let well_formed = hex.len() == FINGERPRINT_HEX_CHARS
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| CardFingerprint(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CardFingerprint {
    type Error = &'static str;
    fn try_from(s: String) -> Result<CardFingerprint, &'static str> {
        CardFingerprint::parse(&s).ok_or("a card fingerprint is fp_ followed by 20 hex digits")
    }
}

impl From<CardFingerprint> for String {
    fn from(f: CardFingerprint) -> String {
        f.0
    }
}

impl fmt::Display for CardFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_card_same_key_same_fingerprint() {
        let a = CardNumber::parse("4242 4242 4242 4242").unwrap();
        let b = CardNumber::parse("4242-4242-4242-4242").unwrap();
        let other = CardNumber::parse("5555 5555 5555 4444").unwrap();
        let key = [7u8; 32];
        let fa = fingerprint(&a, &key);
        assert_eq!(fa, fingerprint(&b, &key));
        assert_ne!(fa, fingerprint(&other, &key));
        assert_ne!(fa, fingerprint(&a, &[8u8; 32]));
        assert!(fa.as_str().starts_with("fp_"));
        assert_eq!(fa.as_str().len(), 3 + FINGERPRINT_HEX_CHARS);
        assert_eq!(CardFingerprint::parse(fa.as_str()), Some(fa.clone()));
        let json = serde_json::to_string(&fa).unwrap();
        assert_eq!(serde_json::from_str::<CardFingerprint>(&json).unwrap(), fa);
    }

    #[test]
    fn matches_an_independent_hmac() {
        // HMAC-SHA256(key = 32 × 0x07, "purser.card.fingerprint.v1\0" || "4242424242424242"),
        // computed with Python's hmac module.
        let n = CardNumber::parse("4242424242424242").unwrap();
        assert_eq!(fingerprint(&n, &[7u8; 32]).as_str(), EXPECTED_4242);
    }

    const EXPECTED_4242: &str = "fp_df9e06a4b423dffb9233";

    #[test]
    fn refuses_malformed_stored_values() {
        for s in [
            "",
            "fp_",
            "fp_0123456789abcdef012",
            "fp_0123456789ABCDEF0123",
            "xx_0123456789abcdef0123",
        ] {
            assert_eq!(CardFingerprint::parse(s), None, "{s}");
        }
        assert!(CardFingerprint::parse("fp_0123456789abcdef0123").is_some());
    }
}
