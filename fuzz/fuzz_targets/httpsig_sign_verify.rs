//! What the agent SDK signs, Purser's verifier accepts: any request (method, target, headers,
//! body) that `sign_request` agrees to sign verifies with `parse_request` under Purser's policy
//! at the signing time, with the signer's key and keyid — and stops verifying when a covered
//! part (method, path, body) changes.
//!
//! Input: a request as for `httpsig_request` (its Signature-Input, Signature and
//! Content-Digest are replaced by the signer's).
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::httpsig::{
    parse_request, parse_signature_agent, sign_request, Ed25519KeyPair, Policy, SignParams,
};
use purser_core::Timestamp;
use purser_fuzz::HttpInput;

fuzz_target!(|data: &[u8]| {
    let Some(mut input) = HttpInput::parse(data) else {
        return;
    };
    input.headers.retain(|(n, _)| {
        !["signature-input", "signature", "content-digest"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
    });
    // A malformed Signature-Agent (all its field lines joined, as the verifier reads it) is
    // the verifier's to refuse, not the signer's to catch.
    let agents = input.values("signature-agent");
    let agents_ok = agents.is_empty() || parse_signature_agent(agents.join(&b", "[..])).is_ok();

    let key = Ed25519KeyPair::from_seed(&[7u8; 32]).expect("a fixed key");
    let created = input.now.clamp(0, 1 << 40);
    let params = SignParams::new(created, "fuzz-nonce-0123456789abcdef");
    let signed = {
        let req = input.parts(&input.headers);
        match sign_request(&key, &req, input.body.as_deref(), &params) {
            Ok(s) => s,
            Err(_) => return,
        }
    };
    let mut headers = input.headers.clone();
    headers.push((
        "Signature-Input".into(),
        signed.signature_input.into_bytes(),
    ));
    headers.push(("Signature".into(), signed.signature.into_bytes()));
    if let Some(d) = signed.content_digest {
        headers.push(("Content-Digest".into(), d.into_bytes()));
    }
    let now = Timestamp(created.saturating_mul(1000));
    let req = input.parts(&headers);
    let parsed = match parse_request(&req, input.body.as_deref(), &Policy::purser(), now) {
        Ok(p) => p,
        Err(_) if !agents_ok => return,
        Err(e) => panic!(
            "Purser refused a request its own signer signed: {e} ({})",
            e.code()
        ),
    };
    assert_eq!(parsed.keyid, key.key_id());
    parsed
        .verify(&key.public_key())
        .expect("the signature over the signed request verifies");

    // A changed method no longer verifies.
    let mut other = input.clone();
    other.method = format!("{}X", input.method);
    let req = other.parts(&headers);
    if let Ok(p) = parse_request(&req, other.body.as_deref(), &Policy::purser(), now) {
        assert!(
            p.verify(&key.public_key()).is_err(),
            "a signature still verified after the method changed"
        );
    }
    // A changed body no longer passes (Content-Digest, or no body was signed).
    if let Some(body) = &input.body {
        let mut b = body.clone();
        b.push(b'!');
        let req = input.parts(&headers);
        assert!(
            parse_request(&req, Some(&b), &Policy::purser(), now).is_err(),
            "a request passed with a body other than the one signed"
        );
    }
});
