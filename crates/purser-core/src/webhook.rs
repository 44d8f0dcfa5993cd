//! Signed webhooks in ACP's form, and the retry schedule of the outbox that sends them.
//!
//! Every webhook Purser sends carries `Merchant-Signature: t=<unix seconds>,v1=<64 hex>`, where
//! the hex is HMAC-SHA256 keyed with the recipient's webhook secret (the whole `whsec_…` text,
//! as UTF-8 bytes) over `"<t>.<raw body>"` — the Agentic Commerce Protocol's webhook signature
//! (`openapi.agentic_checkout_webhook.yaml`). A receiver checks it with [`verify`]: the
//! timestamp must be within a tolerance of its clock (ACP recommends 300 s), which bounds how
//! long a captured request can be replayed, and the MAC must match. Several `v1=` values are
//! accepted so a sender can sign with an old and a new secret while a secret is rotated.
//!
//! No I/O: the caller passes the secret, the body, the time and (for the schedule) randomness.

use aws_lc_rs::hmac;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Merchant-Signature";

/// The timestamp tolerance ACP recommends: a signed request older (or newer) than this is
/// refused, so a recorded request cannot be replayed later.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Longest header accepted: a timestamp and a handful of signatures fit in a few hundred bytes;
/// anything longer is not ours and is refused before it is parsed.
pub const MAX_HEADER_LEN: usize = 1024;

/// Most `v1=` signatures checked in one header: one per secret live during a rotation, with
/// room to spare. More is refused rather than making a receiver compute many MACs.
pub const MAX_SIGNATURES: usize = 8;

/// Why a signature was refused. Each has a stable [`code`](WebhookError::code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookError {
    /// The header is not `t=<digits>,v1=<64 hex>[,v1=…]`; the text says what is wrong.
    Malformed(&'static str),
    /// The timestamp is older than the tolerance allows (a replay, or a clock far behind).
    Stale { age_secs: i64 },
    /// The timestamp is further in the future than the tolerance allows (a clock far ahead).
    Future { ahead_secs: i64 },
    /// No signature matches this body under this secret.
    Mismatch,
}

impl WebhookError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::Malformed(_) => "signature_malformed",
            WebhookError::Stale { .. } => "signature_stale",
            WebhookError::Future { .. } => "signature_future",
            WebhookError::Mismatch => "signature_mismatch",
        }
    }
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookError::Malformed(why) => write!(
                f,
                "the {SIGNATURE_HEADER} header must be t=<unix seconds>,v1=<64 hex digits>: {why}"
            ),
            WebhookError::Stale { age_secs } => write!(
                f,
                "the signature's timestamp is {age_secs} s old, beyond the allowed window; refuse it (a replay) or check this machine's clock"
            ),
            WebhookError::Future { ahead_secs } => write!(
                f,
                "the signature's timestamp is {ahead_secs} s in the future, beyond the allowed window; check the clocks"
            ),
            WebhookError::Mismatch => f.write_str(
                "no signature matches this body with this webhook secret; check that you use the secret given at registration and the raw body as received",
            ),
        }
    }
}

impl std::error::Error for WebhookError {}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// The `Merchant-Signature` header value for `body` sent at `t` (unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).as_ref()))
}

/// A parsed header: the timestamp and every `v1` signature.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    t: i64,
    v1: Vec<[u8; 32]>,
}

fn parse(header: &str) -> Result<Parsed, WebhookError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(WebhookError::Malformed("the header is too long"));
    }
    let mut t = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let item = item.trim();
        let (k, v) = item
            .split_once('=')
            .ok_or(WebhookError::Malformed("every part must be key=value"))?;
        match k {
            "t" => {
                if t.is_some() {
                    return Err(WebhookError::Malformed("t= appears twice"));
                }
                if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(WebhookError::Malformed("t= must be unix seconds (digits)"));
                }
                t =
                    Some(v.parse::<i64>().map_err(|_| {
                        WebhookError::Malformed("t= must be unix seconds (digits)")
                    })?);
            }
            "v1" => {
                if v1.len() == MAX_SIGNATURES {
                    return Err(WebhookError::Malformed("too many v1= signatures"));
                }
                let mut sig = [0u8; 32];
                if v.len() != 64 || hex::decode_to_slice(v, &mut sig).is_err() {
                    return Err(WebhookError::Malformed("v1= must be 64 hex digits"));
                }
                v1.push(sig);
            }
            // Other schemes (a future v2=) are skipped, as ACP and Stripe receivers do.
            _ => {}
        }
    }
    let t = t.ok_or(WebhookError::Malformed("t= is missing"))?;
    if v1.is_empty() {
        return Err(WebhookError::Malformed("v1= is missing"));
    }
    Ok(Parsed { t, v1 })
}

/// Check a `Merchant-Signature` header against `body` and `secret` at `now` (unix seconds).
/// Returns the signed timestamp. The MAC is compared in constant time; any one `v1=` value
/// matching is enough (secret rotation). A well-formed header with a bad MAC is `Mismatch`
/// whatever its timestamp; an authentic one outside `tolerance_secs` is `Stale` or `Future`.
pub fn verify(
    header: &str,
    secret: &[u8],
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, WebhookError> {
    let p = parse(header)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut msg = Vec::with_capacity(body.len().saturating_add(14));
    msg.extend_from_slice(p.t.to_string().as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    // Every candidate is checked (no early exit) so timing does not say which one matched.
    let matched =
        p.v1.iter()
            .fold(false, |ok, sig| hmac::verify(&key, &msg, sig).is_ok() | ok);
    if !matched {
        return Err(WebhookError::Mismatch);
    }
    let age = now.saturating_sub(p.t);
    if age > tolerance_secs {
        return Err(WebhookError::Stale { age_secs: age });
    }
    if age.saturating_neg() > tolerance_secs {
        return Err(WebhookError::Future {
            ahead_secs: age.saturating_neg(),
        });
    }
    Ok(p.t)
}

// ---- the outbox's retry schedule -----------------------------------------------------------

/// The first retry comes this long after a failed attempt; each later one waits twice as long.
pub const FIRST_RETRY_MS: i64 = 1_000;

/// The longest wait between two attempts: a receiver down for a day is still tried hourly.
pub const MAX_RETRY_MS: i64 = 3_600_000;

/// How long a delivery is retried before it is given up (`failed`, kept and visible, and
/// re-queueable by its recipient).
pub const RETRY_WINDOW_MS: i64 = 24 * 3_600_000;

/// The nominal wait after the `attempt`-th failed attempt (1-based): 1 s, 2 s, 4 s, … capped
/// at [`MAX_RETRY_MS`].
pub const fn nominal_retry_ms(attempt: i64) -> i64 {
    if attempt <= 1 {
        return FIRST_RETRY_MS;
    }
    let shift = attempt - 1;
    if shift >= 32 {
        return MAX_RETRY_MS;
    }
    let d = FIRST_RETRY_MS << shift;
    if d > MAX_RETRY_MS {
        MAX_RETRY_MS
    } else {
        d
    }
}

/// How many attempts the schedule makes before its waits add up to [`RETRY_WINDOW_MS`]: the
/// attempt budget of a delivery (36: twelve doubling waits, then hourly ones). Counting
/// attempts rather than wall time means a Purser outage does not use up a recipient's retries.
pub const MAX_ATTEMPTS: i64 = {
    let mut n = 0;
    let mut waited = 0;
    while waited < RETRY_WINDOW_MS {
        n += 1;
        waited += nominal_retry_ms(n);
    }
    n + 1
};

/// The wait after the `attempt`-th failed attempt, with jitter: between 80% and 100% of the
/// nominal wait (`random` is any random number), so many deliveries that failed together (a
/// receiver restarting) do not all come back in the same instant. Never above the cap.
pub fn retry_delay_ms(attempt: i64, random: u64) -> i64 {
    let base = nominal_retry_ms(attempt);
    let cut = (random % 201) as i64; // 0..=200 thousandths, i.e. up to 20%
    base - base / 1000 * cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment.captured"}"#;
    const T: i64 = 1_709_123_456;

    /// Computed with Python's `hmac` (an independent implementation):
    /// `hmac.new(b"whsec_test_secret", b'1709123456.{"id":"evt_1","type":"payment.captured"}', sha256)`.
    const VECTOR: &str = "aa0da4a7d1f75b758e6f7e03de56d021f8cad97dcd067f99dabc7af400e6bbb7";

    #[test]
    fn signs_the_fixed_vector() {
        assert_eq!(sign(SECRET, T, BODY), format!("t={T},v1={VECTOR}"));
        assert_eq!(
            verify(&format!("t={T},v1={VECTOR}"), SECRET, BODY, T, 300),
            Ok(T)
        );
        let upper = format!("t={T},v1={}", VECTOR.to_ascii_uppercase());
        assert_eq!(verify(&upper, SECRET, BODY, T + 10, 300), Ok(T));
    }

    #[test]
    fn matches_acp_header_pattern() {
        // ^t=\d+,v1=[a-fA-F0-9]{64}$ from the ACP webhook spec.
        let h = sign(SECRET, T, BODY);
        let (t, v1) = h.split_once(",v1=").unwrap();
        assert!(t
            .strip_prefix("t=")
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit()));
        assert_eq!(v1.len(), 64);
        assert!(v1.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let h = sign(SECRET, T, BODY);
        assert_eq!(verify(&h, SECRET, BODY, T + 300, 300), Ok(T));
        assert_eq!(verify(&h, SECRET, BODY, T - 300, 300), Ok(T));
        let e = verify(&h, SECRET, BODY, T + 301, 300).unwrap_err();
        assert_eq!(e, WebhookError::Stale { age_secs: 301 });
        assert_eq!(e.code(), "signature_stale");
        let e = verify(&h, SECRET, BODY, T - 301, 300).unwrap_err();
        assert_eq!(e, WebhookError::Future { ahead_secs: 301 });
        assert_eq!(e.code(), "signature_future");
    }

    #[test]
    fn a_forged_signature_is_a_mismatch_even_when_stale() {
        let h = sign(b"whsec_other", T, BODY);
        assert_eq!(
            verify(&h, SECRET, BODY, T, 300),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(&h, SECRET, BODY, T + 10_000, 300),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(WebhookError::Mismatch.code(), "signature_mismatch");
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let old = sign(b"whsec_old", T, BODY);
        let new = sign(SECRET, T, BODY);
        let both = format!("{old},v1={}", new.split_once("v1=").unwrap().1);
        assert_eq!(verify(&both, SECRET, BODY, T, 300), Ok(T));
        assert_eq!(verify(&both, b"whsec_old", BODY, T, 300), Ok(T));
        assert_eq!(
            verify(&both, b"whsec_third", BODY, T, 300),
            Err(WebhookError::Mismatch)
        );
        // Unknown schemes are skipped; spaces after commas are tolerated.
        let spaced = format!("v0=abc, {new}");
        assert_eq!(verify(&spaced, SECRET, BODY, T, 300), Ok(T));
    }

    #[test]
    fn malformed_headers_say_what_is_wrong() {
        let good = "0".repeat(64);
        for h in [
            "".to_string(),
            "garbage".to_string(),
            format!("v1={good}"),
            format!("t={T}"),
            format!("t=,v1={good}"),
            format!("t=-5,v1={good}"),
            format!("t=12x,v1={good}"),
            format!("t=1234567890123,v1={good}"),
            format!("t={T},t={T},v1={good}"),
            format!("t={T},v1=abc"),
            format!("t={T},v1={}", "g".repeat(64)),
            format!("t={T},{}", vec![format!("v1={good}"); 9].join(",")),
            "x".repeat(MAX_HEADER_LEN + 1),
        ] {
            let e = verify(&h, SECRET, BODY, T, 300).unwrap_err();
            assert_eq!(e.code(), "signature_malformed", "{h}: {e}");
        }
    }

    #[test]
    fn the_schedule_doubles_then_caps() {
        assert_eq!(nominal_retry_ms(1), 1_000);
        assert_eq!(nominal_retry_ms(2), 2_000);
        assert_eq!(nominal_retry_ms(3), 4_000);
        assert_eq!(nominal_retry_ms(12), 2_048_000);
        assert_eq!(nominal_retry_ms(13), MAX_RETRY_MS);
        assert_eq!(nominal_retry_ms(1_000_000), MAX_RETRY_MS);
        assert_eq!(nominal_retry_ms(i64::MAX), MAX_RETRY_MS);
        // The waits of every attempt but the last add up to at least 24 h.
        let total: i64 = (1..MAX_ATTEMPTS).map(nominal_retry_ms).sum();
        assert!(total >= RETRY_WINDOW_MS, "{total}");
        let before: i64 = (1..MAX_ATTEMPTS - 1).map(nominal_retry_ms).sum();
        assert!(before < RETRY_WINDOW_MS, "{before}");
        assert_eq!(MAX_ATTEMPTS, 36);
    }

    proptest! {
        #[test]
        fn any_changed_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..300),
            at in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let h = sign(SECRET, T, &body);
            prop_assert_eq!(verify(&h, SECRET, &body, T, 300), Ok(T));
            let mut changed = body.clone();
            let i = at.index(changed.len());
            changed[i] ^= flip;
            prop_assert_eq!(verify(&h, SECRET, &changed, T, 300), Err(WebhookError::Mismatch));
        }

        #[test]
        fn any_changed_header_byte_fails(at in any::<proptest::sample::Index>(), flip in 1u8..=127) {
            let h = sign(SECRET, T, BODY);
            let mut bytes = h.clone().into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            if let Ok(changed) = String::from_utf8(bytes) {
                // Hex digits differing only in case name the same signature.
                if changed.to_ascii_lowercase() != h {
                    prop_assert!(verify(&changed, SECRET, BODY, T, 300).is_err(), "{}", changed);
                }
            }
        }

        #[test]
        fn verify_never_panics(header in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..64), now in any::<i64>(), tol in any::<i64>()) {
            let _ = verify(&header, SECRET, &body, now, tol);
        }

        #[test]
        fn jitter_stays_within_80_to_100_percent(attempt in 1i64..100, r in any::<u64>()) {
            let d = retry_delay_ms(attempt, r);
            let n = nominal_retry_ms(attempt);
            prop_assert!(d <= n && d * 10 >= n * 8, "{} of {}", d, n);
        }
    }
}
