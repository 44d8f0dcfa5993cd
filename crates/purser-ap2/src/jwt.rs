//! Plain signed JWTs (compact JWS) outside a mandate chain: Purser's decision receipts,
//! confirmation receipts and evidence seals. The same verifier as every chain hop
//! ([`crate::jws`]): `alg` must match the key, `none` and `crit` are refused.

use serde_json::{Map, Value};

use crate::error::Ap2Error;
use crate::jwk::PublicJwk;
use crate::jws::CompactJws;

/// The protected header of a compact JWS, **not verified**: only for choosing the key (`kid`)
/// before [`verify_jwt`].
pub fn unverified_header(token: &str) -> Result<Map<String, Value>, Ap2Error> {
    Ok(CompactJws::parse(token, 0)?.header)
}

/// Verifies a compact JWS under `key` and returns its claims. The header's `typ` must be
/// exactly `typ`, and its `alg` the key's (ES256 for P-256, EdDSA for Ed25519); a `kid` in the
/// header, when the key has one too, must be the key's. Time claims are the caller's to judge
/// (a receipt is checked long after it was signed).
pub fn verify_jwt(token: &str, key: &PublicJwk, typ: &str) -> Result<Map<String, Value>, Ap2Error> {
    let jws = CompactJws::parse(token, 0)?;
    let found = jws.header.get("typ").and_then(Value::as_str).unwrap_or("");
    if found != typ {
        return Err(Ap2Error::malformed(
            Some(0),
            format!(
                "the JWT's typ is {:?}, not {typ:?}",
                found.chars().take(40).collect::<String>()
            ),
        ));
    }
    if let (Some(kid), Some(expected)) = (jws.header.get("kid").and_then(Value::as_str), key.kid())
    {
        if kid != expected {
            return Err(Ap2Error::malformed(
                Some(0),
                "the JWT names another key (kid) than the one it is checked with",
            ));
        }
    }
    jws.verify(key, true, 0)?;
    Ok(jws.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::{Ed25519Signer, Es256Signer, JwsSigner};
    use serde_json::json;

    #[test]
    fn verifies_and_refuses_what_it_must() {
        let (es, _) = Es256Signer::generate(Some("k1".into())).unwrap();
        let key = es.public_key().unwrap();
        let t = es
            .sign_jwt("purser-decision+jwt", &json!({"a": 1}))
            .unwrap();
        assert_eq!(unverified_header(&t).unwrap()["kid"], "k1");
        assert_eq!(verify_jwt(&t, &key, "purser-decision+jwt").unwrap()["a"], 1);
        // Another typ.
        assert_eq!(
            verify_jwt(&t, &key, "purser-evidence+jwt")
                .unwrap_err()
                .code(),
            "malformed"
        );
        // A flipped signature byte.
        let mut b = t.clone().into_bytes();
        let i = b.len() - 5;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(b).unwrap();
        assert_eq!(
            verify_jwt(&bad, &key, "purser-decision+jwt")
                .unwrap_err()
                .code(),
            "invalid_signature"
        );
        // Another key, and a key with another kid.
        let (other, _) = Es256Signer::generate(Some("k1".into())).unwrap();
        assert!(verify_jwt(&t, &other.public_key().unwrap(), "purser-decision+jwt").is_err());
        let (named, _) = Es256Signer::generate(Some("k2".into())).unwrap();
        assert!(verify_jwt(&t, &named.public_key().unwrap(), "purser-decision+jwt").is_err());
        // An Ed25519 key cannot check an ES256 token, and the other way round.
        let (ed, _) = Ed25519Signer::generate(None).unwrap();
        assert_eq!(
            verify_jwt(&t, &ed.public_key().unwrap(), "purser-decision+jwt")
                .unwrap_err()
                .code(),
            "unsupported_algorithm"
        );
        let e = ed.sign_jwt("x", &json!({})).unwrap();
        assert!(verify_jwt(&e, &ed.public_key().unwrap(), "x").is_ok());
        assert!(verify_jwt(&e, &key, "x").is_err());
        // Not a JWS at all.
        assert!(verify_jwt("abc", &key, "x").is_err());
        assert!(unverified_header("a.b").is_err());
    }
}
