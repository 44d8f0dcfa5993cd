//! x402 v2 headers (purser-x402): `PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE` and
//! `PAYMENT-RESPONSE` decoding, then Purser's scheme on what they carry (requirements,
//! the Purser payload and its time window, the signing input), and the facilitator's
//! `/verify`–`/settle` body. Whatever decodes re-encodes and decodes to the same value.
//!
//! Input: the JSON a header carries. The harness decodes it both as sent on the wire (base64
//! of the input) and as a raw header value (the input itself, for the base64 layer).
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use purser_x402::header::{
    decode_payment_required, decode_payment_response, decode_payment_signature, encode,
};
use purser_x402::purser::{check_requirements, signing_input, PurserPayload};
use purser_x402::types::{PaymentRequirements, VerifyRequest};

fn requirements(r: &PaymentRequirements) {
    if let Ok(amount) = check_requirements(r) {
        assert!(amount >= 0);
    }
}

fn headers(value: &[u8]) {
    if let Ok(p) = decode_payment_required(value) {
        let again = decode_payment_required(encode(&p).expect("encodes").as_bytes());
        assert_eq!(again.as_ref(), Ok(&p));
        p.accepts.iter().for_each(requirements);
    }
    if let Ok(p) = decode_payment_signature(value) {
        let again = decode_payment_signature(encode(&p).expect("encodes").as_bytes());
        assert_eq!(again.as_ref(), Ok(&p));
        requirements(&p.accepted);
        if let Ok(pp) = PurserPayload::from_value(&p.payload) {
            let (after, before) = pp.window().expect("from_value checked the window");
            assert!(before > after);
            let _ = signing_input(&p.accepted, &pp.authorization);
        }
    }
    if let Ok(p) = decode_payment_response(value) {
        let again = decode_payment_response(encode(&p).expect("encodes").as_bytes());
        assert_eq!(again.as_ref(), Ok(&p));
    }
}

fuzz_target!(|data: &[u8]| {
    headers(data);
    if data.len() <= purser_x402::header::MAX_HEADER_BYTES {
        let wire = base64::engine::general_purpose::STANDARD.encode(data);
        headers(wire.as_bytes());
    }
    if let Ok(v) = serde_json::from_slice::<VerifyRequest>(data) {
        requirements(&v.payment_requirements);
        let _ = PurserPayload::from_value(&v.payment_payload.payload);
    }
});
