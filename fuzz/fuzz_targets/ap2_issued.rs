//! AP2 chains whose content is untrusted but whose signatures are good: the input describes
//! an open mandate and the key-binding hops after it (mandate objects, which members are
//! selectively disclosable, extra JWT claims, `sd_hash` or `issuer_jwt_hash`); the harness
//! issues them with fixed Ed25519 keys through purser-ap2's own issuing functions, so
//! verification gets past every signature into disclosure resolution, hop binding, time
//! and `vct` rules, the checkout and payment semantics and all constraint types.
//! Property: a chain that verifies yields exactly the mandates that were issued.
//!
//! Input (JSON): `{"open": {…}, "open_disclosable": […], "open_claims": {…}, "hops":
//! [{"mandate": {…}, "disclosable": […], "claims": {…}, "binding": "issuer_jwt_hash"?,
//! "onward": bool?}], "checkout": {…}?}`. Strings `$checkout_jwt`, `$checkout_hash` and
//! `$open_hash` anywhere in a hop's mandate become the checkout JWT made from `checkout`,
//! its hash, and the digest of the root presentation.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use purser_ap2::{
    append_hop, checkout_hash, issue_root, sd_digest, verify_chain, verify_checkout,
    verify_payment, Binding, CheckoutAuthenticity, Ed25519Signer, HopContent, PaymentBinding,
    VerifyOptions, SALT_BYTES,
};
use purser_core::Timestamp;
use purser_fuzz::DEFAULT_NOW;
use serde_json::{json, Map, Value};

const AUD: &str = "merchant";
const NONCE: &str = "n-fuzz";
const ISSUER: &str = "https://purser.example";

fn obj(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

fn names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn substitute(v: &mut Value, subs: &[(&str, String)]) {
    match v {
        Value::String(s) => {
            if let Some((_, to)) = subs.iter().find(|(from, _)| from == s) {
                *s = to.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, subs)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, subs)),
        _ => {}
    }
}

/// Whether `v` uses SD-JWT's reserved names, which the verifier interprets rather than returns.
fn reserved(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().any(reserved),
        Value::Object(o) => o
            .iter()
            .any(|(k, x)| k == "_sd" || k == "..." || k == "_sd_alg" || reserved(x)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let signers: Vec<Ed25519Signer> = (1u8..=6)
        .map(|i| Ed25519Signer::from_seed(&[i; 32], Some(format!("k{i}"))).expect("a key"))
        .collect();
    let mut n = 0u8;
    let mut salt = move || {
        n = n.wrapping_add(1);
        Ok([n; SALT_BYTES])
    };

    let checkout_jwt = input.get("checkout").map(|c| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(c.to_string()),
            URL_SAFE_NO_PAD.encode([0u8; 64])
        )
    });
    let jwt = checkout_jwt.clone().unwrap_or_default();
    let mut subs = vec![
        ("$checkout_jwt", jwt.clone()),
        ("$checkout_hash", checkout_hash(&jwt)),
    ];

    let hops: Vec<Value> = input
        .get("hops")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut open = obj(input.get("open"));
    open.entry("cnf")
        .or_insert_with(|| json!({"jwk": signers[1].public_jwk()}));
    let mut claims = obj(input.get("open_claims"));
    claims.entry("iss").or_insert_with(|| json!(ISSUER));
    claims.entry("iat").or_insert_with(|| json!(DEFAULT_NOW));
    let root = HopContent {
        mandate: open.clone(),
        disclosable: names(input.get("open_disclosable")),
        claims,
    };
    let Ok(mut chain) = issue_root(&signers[0], &root, &mut salt) else {
        return;
    };
    let open_hash = sd_digest(&chain);
    subs.push(("$open_hash", open_hash.clone()));

    let mut issued = vec![Value::Object(open)];
    for (i, hop) in hops.iter().take(signers.len() - 2).enumerate() {
        let mut mandate = Value::Object(obj(hop.get("mandate")));
        substitute(&mut mandate, &subs);
        let mut mandate = obj(Some(&mandate));
        let onward = hop.get("onward").and_then(Value::as_bool).unwrap_or(false);
        if onward {
            mandate
                .entry("cnf")
                .or_insert_with(|| json!({"jwk": signers[i + 2].public_jwk()}));
        }
        let binding = match hop.get("binding").and_then(Value::as_str) {
            Some("issuer_jwt_hash") => Binding::IssuerJwtHash,
            _ => Binding::SdHash,
        };
        let content = HopContent {
            mandate: mandate.clone(),
            disclosable: names(hop.get("disclosable")),
            claims: obj(hop.get("claims")),
        };
        let signer = &signers[i + 1];
        chain = match append_hop(
            &chain,
            signer,
            binding,
            AUD,
            NONCE,
            DEFAULT_NOW,
            onward,
            &content,
            &mut salt,
        ) {
            Ok(c) => c,
            Err(_) => return,
        };
        issued.push(Value::Object(mandate));
    }

    let opts = VerifyOptions::new(
        signers[0].public_key().expect("root key"),
        Timestamp(DEFAULT_NOW * 1000 + 1000),
    )
    .allow_eddsa()
    .audience(AUD)
    .nonce(NONCE)
    .trust_issuer_enforced(ISSUER);
    match verify_chain(&chain, &opts) {
        Ok(v) => {
            assert_eq!(v.hops().len(), issued.len());
            // serde_json reads floats to within one ulp, not exactly (its `float_roundtrip`
            // feature is off): a fuzzed float member may come back 1 ulp apart. The signed
            // bytes are what verify; Purser reads no float from a mandate (money is integers).
            if !issued.iter().any(reserved) && !issued.iter().any(has_float) {
                assert_eq!(
                    v.hops(),
                    issued.as_slice(),
                    "verified mandates differ from the issued ones"
                );
            }
        }
        Err(e) => {
            let _ = (e.to_string(), e.code(), e.receipt_error());
        }
    }
    let authenticity = match &checkout_jwt {
        Some(j) => CheckoutAuthenticity::Issued(j.clone()),
        None => CheckoutAuthenticity::Unchecked,
    };
    let checkout = verify_checkout(&chain, &opts, &authenticity);
    let binding = match &checkout {
        Ok(c) => PaymentBinding::to_checkout(c),
        Err(_) => PaymentBinding {
            transaction_id: checkout_hash(&jwt),
            open_checkout_hashes: vec![open_hash],
        },
    };
    if let Err(e) = verify_payment(&chain, &opts, &binding, None) {
        let _ = e.to_string();
    }
});

/// Whether a JSON value holds a non-integer number anywhere.
fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}
