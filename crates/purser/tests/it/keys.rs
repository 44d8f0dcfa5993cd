//! Purser's published keys: the JWK Set, and the Web Bot Auth key directory whose response is
//! signed by every key it lists; rotation keeps old public keys published.

use base64::Engine;
use purser_core::httpsig::Ed25519PublicKey;
use serde_json::Value;

use crate::both;
use crate::support::*;

fn directory(p: &Purser) -> (Value, String, String) {
    let r = agent()
        .get(&p.url("/.well-known/http-message-signatures-directory"))
        .call()
        .expect("directory");
    assert_eq!(
        r.header("content-type"),
        Some("application/http-message-signatures-directory+json")
    );
    let input = r.header("signature-input").unwrap_or_default().to_string();
    let sig = r.header("signature").unwrap_or_default().to_string();
    let body: Value = r.into_json().expect("json");
    (body, input, sig)
}

/// Every listed key has a `bindingN` signature over `"@authority";req` that verifies.
fn assert_signed_by_every_key(p: &Purser, body: &Value, input: &str, sig: &str) {
    let authority = p
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let keys = body["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for (i, jwk) in keys.iter().enumerate() {
        let key = Ed25519PublicKey::from_jwk(jwk).expect("jwk");
        let label = format!("binding{i}=");
        let params = input
            .split(", ")
            .find_map(|m| m.strip_prefix(&label))
            .unwrap_or_else(|| panic!("no {label} in {input}"));
        assert!(
            params.contains(&format!("keyid=\"{}\"", key.thumbprint())),
            "{params}"
        );
        assert!(
            params.contains("tag=\"http-message-signatures-directory\""),
            "{params}"
        );
        let b64 = sig
            .split(", ")
            .find_map(|m| m.strip_prefix(&label))
            .and_then(|v| v.strip_prefix(':'))
            .and_then(|v| v.strip_suffix(':'))
            .unwrap_or_else(|| panic!("no {label} in {sig}"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        let base = format!("\"@authority\";req: {authority}\n\"@signature-params\": {params}");
        assert!(
            key.verifies(base.as_bytes(), &bytes),
            "binding{i} does not verify"
        );
        assert!(!key.verifies(b"another message", &bytes));
    }
}

both!(published_keys_are_signed_and_survive_rotation, |storage| {
    let dir = TempDir::new("keys");
    let p = start(dir.path(), &storage);
    let (_, jwks) = p.get("/.well-known/jwks.json");
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    assert!(algs.contains(&"EdDSA") && algs.contains(&"ES256"), "{jwks}");
    for k in jwks["keys"].as_array().expect("keys") {
        assert!(
            k.get("d").is_none(),
            "no private member is ever published: {k}"
        );
    }
    let (body, input, sig) = directory(&p);
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(1));
    assert_signed_by_every_key(&p, &body, &input, &sig);

    // Rotation: new keys, and the old ones stay published (and still sign the directory).
    let (s, rotated, _) = p.post("/v1/operator/signing-keys/rotate", &serde_json::json!({}));
    assert_eq!(s, 200, "{rotated}");
    assert_eq!(
        rotated["keys"].as_array().map(Vec::len),
        Some(4),
        "{rotated}"
    );
    for old in jwks["keys"].as_array().expect("keys") {
        assert!(
            rotated["keys"].as_array().expect("keys").contains(old),
            "old key {old} is still published"
        );
    }
    let (body, input, sig) = directory(&p);
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(2));
    assert_signed_by_every_key(&p, &body, &input, &sig);
});
