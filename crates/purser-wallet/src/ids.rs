//! Opaque ids with a type prefix (`usr_`, `agt_`, …), and secrets for tokens.

use sha2::{Digest, Sha256};

use crate::error::{Kind, Result, WalletError};

/// Lowercase RFC 4648 base32 without padding: short, case-insensitive-safe, URL-safe.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Characters after the prefix: 120 bits, so ids cannot be guessed or collide.
const ID_CHARS: usize = 24;

fn base32(bytes: &[u8], chars: usize) -> String {
    let mut out = String::with_capacity(chars);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < chars {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    out
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| {
        tracing::error!(error = %e, "no randomness");
        WalletError::new(
            Kind::Unavailable,
            "internal_error",
            "the system has no randomness available; nothing was changed",
        )
    })?;
    Ok(b)
}

/// `chars` base32 characters of `bytes` (at most 8/5 of its length).
pub fn base32_of(bytes: &[u8], chars: usize) -> String {
    base32(bytes, chars)
}

/// A fresh random id: `usr_` + 24 base32 characters.
pub fn new_id(prefix: &str) -> Result<String> {
    let b = random_bytes::<15>()?;
    Ok(format!("{prefix}_{}", base32(&b, ID_CHARS)))
}

/// The id a retried request must get again: derived from who asked and their
/// Idempotency-Key, so a request re-run after a crash converges on the same record.
pub fn derived_id(prefix: &str, scope: &str, key: &str) -> String {
    let h = Sha256::digest(format!("{prefix}|{scope}|{key}").as_bytes());
    format!("{prefix}_{}", base32(&h, ID_CHARS))
}

/// A secret token: prefix + 256 random bits.
pub fn new_secret(prefix: &str) -> Result<String> {
    let b = random_bytes::<32>()?;
    Ok(format!("{prefix}_{}", base32(&b, 52)))
}

/// SHA-256 hex of a secret. Secrets are 256-bit random, so a plain hash is enough to make
/// the stored value useless to a thief.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Equal in time independent of where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Characters that change how text looks without being seen (bidirectional overrides,
/// zero-width joiners, BOM) or control characters: refused in names an agent or user shows
/// to someone else, so "operator: Visa" cannot be faked by reordering text.
pub fn has_hidden_chars(s: &str, allow_newline: bool) -> bool {
    s.chars().any(|c| {
        (c.is_control() && !(allow_newline && c == '\n'))
            || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xFEFF | 0x00AD)
    })
}

/// Check an id supplied by a client looks like one of ours, before it reaches a query.
pub fn check_id(prefix: &str, id: &str, param: &str) -> Result<()> {
    let ok = id.len() == prefix.len() + 1 + ID_CHARS
        && id.starts_with(prefix)
        && id.as_bytes().get(prefix.len()) == Some(&b'_')
        && id[prefix.len() + 1..]
            .bytes()
            .all(|c| ALPHABET.contains(&c));
    if ok {
        Ok(())
    } else {
        Err(WalletError::new(
            Kind::NotFound,
            format!("{}_not_found", kind_name(prefix)),
            format!(
                "{id:.80} is not a {} id (they look like {prefix}_…)",
                kind_name(prefix).replace('_', " ")
            ),
        )
        .at(param))
    }
}

fn kind_name(prefix: &str) -> &'static str {
    match prefix {
        "usr" => "user",
        "tok" => "token",
        "crd" => "card",
        "top" => "topup",
        "rfd" => "refund",
        "agt" => "agent",
        "bnd" => "binding",
        "ecd" => "exclusive_card",
        "mdt" => "mandate",
        "mch" => "merchant",
        "pay" => "payment",
        "cnf" => "confirmation",
        "prf" => "refund",
        "evt" => "event",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_check() {
        let id = new_id("usr").unwrap();
        assert_eq!(id.len(), 28);
        check_id("usr", &id, "id").unwrap();
        assert!(check_id("agt", &id, "id").is_err());
        assert!(check_id("usr", "usr_../../etc", "id").is_err());
        assert_eq!(derived_id("top", "u", "k"), derived_id("top", "u", "k"));
        assert_ne!(derived_id("top", "u", "k"), derived_id("top", "u", "k2"));
        check_id("top", &derived_id("top", "u", "k"), "id").unwrap();
    }
}
