//! RFC 9421 / Web Bot Auth verification of an untrusted request: Signature-Input and Signature
//! (RFC 8941 dictionaries), the covered components and the signature base, Signature-Agent,
//! Content-Digest against the body — `parse_request` under Purser's policy and under the
//! looser Web Bot Auth one, then the Ed25519 check under the vectors' key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::httpsig::{
    parse_request, parse_signature_agent, Ed25519PublicKey, Policy, MAX_COVERED_COMPONENTS,
    MAX_KEYID_BYTES, MAX_NONCE_BYTES, MAX_SIGNATURE_BASE_BYTES,
};
use purser_core::Timestamp;
use purser_fuzz::{HttpInput, WBA_ED25519_X};

fuzz_target!(|data: &[u8]| {
    let Some(input) = HttpInput::parse(data) else {
        return;
    };
    let key = Ed25519PublicKey::from_jwk(
        &serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": WBA_ED25519_X}),
    )
    .expect("the vectors' key");
    let loose = Policy {
        max_window_secs: i64::MAX,
        require_method_path_query: false,
        ..Policy::default()
    };
    let req = input.parts(&input.headers);
    for policy in [Policy::purser(), loose] {
        let now = Timestamp(input.now.saturating_mul(1000));
        match parse_request(&req, input.body.as_deref(), &policy, now) {
            Ok(s) => {
                assert!(
                    s.base.len() <= MAX_SIGNATURE_BASE_BYTES,
                    "base beyond its limit"
                );
                assert!(s.nonce.len() <= MAX_NONCE_BYTES);
                assert!(s.keyid.len() <= MAX_KEYID_BYTES);
                assert!(s.components.len() <= MAX_COVERED_COMPONENTS);
                assert!(s.expires > s.created, "an accepted window runs forwards");
                let _ = (s.created_at(), s.expires_at());
                let _ = s.verify(&key);
            }
            Err(e) => {
                let _ = (e.to_string(), e.code(), e.http_status());
            }
        }
    }
    for v in input.values("signature-agent") {
        if let Err(e) = parse_signature_agent(v) {
            let _ = e.to_string();
        }
    }
});
