//! ACP `POST /agentic_commerce/delegate_payment` bodies: the JSON the route reads into a
//! `DelegatePaymentRequest` and every check purser-wallet makes before touching the database
//! (card shape, allowance, expiry window, billing address, risk signals, metadata). Never
//! panics, and a refusal never echoes the card number.
//!
//! Input: the request body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::Timestamp;
use purser_fuzz::DEFAULT_NOW;
use purser_wallet::acp::fuzzing::check_delegate_payment_body;

fuzz_target!(|data: &[u8]| {
    let now = Timestamp(DEFAULT_NOW * 1000);
    if let Err(e) = check_delegate_payment_body(data, now) {
        let number = serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v["payment_method"]["number"].as_str().map(str::to_owned));
        // Only when the number appears nowhere else in the body (a score or a metadata value
        // may legitimately be echoed, and may happen to hold the same digits).
        let text = String::from_utf8_lossy(data);
        let card_like = |n: &String| n.len() >= 12 && n.bytes().all(|b| b.is_ascii_digit());
        if let Some(n) = number.filter(|n| card_like(n) && text.matches(n.as_str()).count() == 1) {
            assert!(
                !e.message.contains(&n) && !e.param.as_deref().unwrap_or("").contains(&n),
                "a refusal echoed the card number: {} {:?}",
                e.message,
                e.param
            );
        }
    }
});
