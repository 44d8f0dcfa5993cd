//! AP2 Delegate SD-JWT chains as presented by an untrusted agent (purser-ap2): splitting the
//! `~`-joined chain, each JWS, every disclosure and the hop bindings, under the AP2 vectors'
//! root keys — `verify_chain`, then the checkout and payment semantics on top, receipts
//! against the chain's reference, and JWT header reading.
//!
//! Input: the compact chain text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_ap2::limits::{MAX_DISCLOSURES_PER_HOP, MAX_HOPS};
use purser_ap2::{
    parse_chain, receipt_reference, unverified_header, verify_chain, verify_checkout,
    verify_payment, verify_payment_receipt, CheckoutAuthenticity, PaymentBinding, PublicJwk,
    VerifyOptions,
};
use purser_core::Timestamp;

/// `iat` of the vectors' key-binding hops: verification happens just after it.
const VECTOR_IAT: i64 = 1_785_268_602;

const ROOT_KEYS: [(&str, &str); 2] = [
    (
        "toGTbmS_yILsQsNraZfhLjTy1yoGHd-NmHJ1FrV5OWs",
        "PiXfjVFtax7OIBhrFwgFV4esW8PAwQBnZhS_h-ZfwCk",
    ),
    (
        "WuFQr15dAj6o8N35JFh5L9_6BvilsmrPd6ugwrsJbds",
        "2yJAKCmRNaQZQM5Xczh3CN66Oul6qVkRmrqS221AWu4",
    ),
];

fuzz_target!(|data: &[u8]| {
    let Ok(chain) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = parse_chain(chain) else {
        // Whatever does not split is refused by the verifier too.
        return;
    };
    assert!(!parsed.hops.is_empty() && parsed.hops.len() <= MAX_HOPS);
    for hop in &parsed.hops {
        assert!(hop.disclosures.len() <= MAX_DISCLOSURES_PER_HOP);
        let _ = unverified_header(hop.jwt);
    }
    let _ = receipt_reference(chain);
    for (x, y) in ROOT_KEYS {
        let key =
            PublicJwk::from_jwk(&serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
                .expect("the vectors' root key");
        let opts = VerifyOptions::new(key, Timestamp((VECTOR_IAT + 10) * 1000)).allow_eddsa();
        match verify_chain(chain, &opts) {
            Ok(v) => {
                assert_eq!(v.hops().len(), parsed.hops.len());
                assert_eq!(v.claims().len(), v.hops().len());
                let reference = v.reference().to_owned();
                let _ = verify_payment_receipt("e30.e30.e30", &key_again(x, y), &reference);
            }
            Err(e) => {
                let _ = (e.to_string(), e.code(), e.receipt_error());
            }
        }
        let _ = verify_checkout(chain, &opts, &CheckoutAuthenticity::Unchecked);
        let binding = PaymentBinding {
            transaction_id: String::new(),
            open_checkout_hashes: Vec::new(),
        };
        let _ = verify_payment(chain, &opts, &binding, None);
    }
});

fn key_again(x: &str, y: &str) -> PublicJwk {
    PublicJwk::from_jwk(&serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
        .expect("the vectors' root key")
}
