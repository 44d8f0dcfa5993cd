//! Ed25519 JWKs, thumbprints and key pairs.

use super::*;
use serde_json::json;

const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

#[test]
fn public_jwk_refusals() {
    let bad = [
        (json!("string"), "jwk_invalid"),
        (json!({"crv": "Ed25519", "x": X}), "jwk_invalid"),
        (
            json!({"kty": "EC", "crv": "Ed25519", "x": X}),
            "jwk_invalid",
        ),
        (
            json!({"kty": "OKP", "crv": "X25519", "x": X}),
            "jwk_invalid",
        ),
        (json!({"kty": "OKP", "crv": "Ed25519"}), "jwk_invalid"),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": 5}),
            "jwk_invalid",
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
            "jwk_invalid",
        ),
        // Padded, or standard (not URL-safe) alphabet.
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": format!("{X}=")}),
            "jwk_invalid",
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            "jwk_invalid",
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "alg": "ES256"}),
            "jwk_invalid",
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "use": "enc"}),
            "jwk_invalid",
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}),
            "jwk_contains_private_key",
        ),
    ];
    for (jwk, want) in bad {
        let e = Ed25519PublicKey::from_jwk(&jwk).unwrap_err();
        assert_eq!(e.code(), want, "{jwk}");
        // Never echo a private key back.
        assert!(!e.to_string().contains("nWGxne"), "{e}");
    }
    let e = Ed25519PublicKey::from_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":X,"d":"x"}))
        .unwrap_err();
    assert!(e.to_string().contains("private member \"d\""), "{e}");
    // Optional members that fit are accepted.
    let ok =
        json!({"kty": "OKP", "crv": "Ed25519", "x": X, "alg": "EdDSA", "use": "sig", "kid": "k1"});
    assert_eq!(Ed25519PublicKey::from_jwk(&ok).unwrap().x(), X);
}

#[test]
fn rfc8037_a_private_jwk() {
    // RFC 8037 Appendix A.1/A.2: the private and public keys of the thumbprint example.
    let jwk = json!({"kty":"OKP","crv":"Ed25519",
        "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":X});
    let pair = Ed25519KeyPair::from_private_jwk(&jwk).unwrap();
    assert_eq!(pair.public_key().x(), X);
    assert_eq!(pair.key_id(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    // RFC 8037 A.4: the signature of "Example of Ed25519 signing" (as a JWS signing input).
    let signing_input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    let sig = pair.sign(signing_input).unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig),
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
    // A mismatched x is refused.
    let other_x = test_key().public_key().x();
    let bad = json!({"kty":"OKP","crv":"Ed25519",
        "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":other_x});
    assert_eq!(
        Ed25519KeyPair::from_private_jwk(&bad).unwrap_err().code(),
        "private_key_invalid"
    );
}

#[test]
fn key_pair_round_trips() {
    let pair = Ed25519KeyPair::generate().unwrap();
    let jwk: serde_json::Value = serde_json::from_str(&pair.to_private_jwk().unwrap()).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["x"], pair.public_key().x());
    let again = Ed25519KeyPair::from_private_jwk(&jwk).unwrap();
    assert_eq!(again.public_key(), pair.public_key());
    let pkcs8 = pair.to_pkcs8().unwrap();
    let again = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
    assert_eq!(again.public_key(), pair.public_key());
    assert_eq!(pair.sign(b"m").unwrap(), again.sign(b"m").unwrap());
    // Public JWK export reads back, and its thumbprint is the key id.
    let public = Ed25519PublicKey::from_jwk(&pair.public_key().to_jwk()).unwrap();
    assert_eq!(public.thumbprint(), pair.key_id());
    assert!(Ed25519PublicKey::from_slice(&[0; 31]).is_err());
    assert!(Ed25519KeyPair::from_pkcs8(b"junk").is_err());
    // Two generated keys differ.
    assert_ne!(
        Ed25519KeyPair::generate().unwrap().public_key(),
        pair.public_key()
    );
}
