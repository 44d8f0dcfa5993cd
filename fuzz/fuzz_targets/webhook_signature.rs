//! `Merchant-Signature` webhook verification (ACP's `t=…,v1=…` HMAC-SHA256): an untrusted
//! header against a body never panics and verifies only with the real MAC; what `sign` makes verifies at its own time and within
//! the tolerance, and is refused for another body, another secret, or outside the tolerance.
//!
//! Input: the header value, a line feed, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::webhook::{sign, verify, WebhookError, DEFAULT_TOLERANCE_SECS};
use purser_fuzz::{first_line, DEFAULT_NOW};

const SECRET: &[u8] = b"whsec_fuzz_0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let (header, body) = first_line(data);
    let header = String::from_utf8_lossy(header);
    if let Ok(t) = verify(&header, SECRET, body, DEFAULT_NOW, DEFAULT_TOLERANCE_SECS) {
        // Only a header carrying the real MAC of this body at `t` verifies, and only in time.
        assert!((t - DEFAULT_NOW).abs() <= DEFAULT_TOLERANCE_SECS);
        let mac = sign(SECRET, t, body);
        let v1 = &mac[mac.len() - 64..];
        assert!(
            header.to_ascii_lowercase().contains(v1),
            "a header without the MAC verified: {header}"
        );
    } else if let Err(e) = verify(&header, SECRET, body, DEFAULT_NOW, DEFAULT_TOLERANCE_SECS) {
        let _ = (e.to_string(), e.code());
    }

    // Sign at a time taken from the input, then check the round trip and the refusals.
    let at = body
        .iter()
        .take(8)
        .fold(0i64, |acc, b| {
            acc.wrapping_mul(131).wrapping_add(i64::from(*b))
        })
        .rem_euclid(100_000_000_000);
    let h = sign(SECRET, at, body);
    assert_eq!(verify(&h, SECRET, body, at, 300), Ok(at));
    assert_eq!(verify(&h, SECRET, body, at + 300, 300), Ok(at));
    assert!(matches!(
        verify(&h, SECRET, body, at + 301, 300),
        Err(WebhookError::Stale { .. })
    ));
    assert!(matches!(
        verify(&h, SECRET, body, at - 301, 300),
        Err(WebhookError::Future { .. })
    ));
    assert_eq!(
        verify(&h, b"whsec_another", body, at, 300),
        Err(WebhookError::Mismatch)
    );
    let mut changed = body.to_vec();
    changed.push(b' ');
    assert_eq!(
        verify(&h, SECRET, &changed, at, 300),
        Err(WebhookError::Mismatch)
    );
    // Rotation: an unknown signature beside the right one still verifies.
    let rotated = format!("{h},v1={}", "0".repeat(64));
    assert_eq!(verify(&rotated, SECRET, body, at, 300), Ok(at));
});
