//! Mandate JSON as a person, an agent or a client sends it (purser-core's `Mandate`): reading,
//! `validate`, `summary`, a serialise/read round trip, evaluation of a payment at a time with
//! the spending it charges fed back in, and issuing the mandate's AP2 open credentials, which
//! must then verify.
//!
//! Input: a mandate object, or `[mandate, payment request, unix ms, utc offset ms]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_ap2::{issue_open_mandates, Ed25519Signer, OpenContext, VerifyOptions, SALT_BYTES};
use purser_core::mandate::{At, Mandate, PaymentRequest, Spent, Usage};
use purser_core::{Currency, Money, Timestamp};
use purser_fuzz::DEFAULT_NOW;

fn evaluate(m: &Mandate, req: &PaymentRequest, at: At) {
    let first = m.evaluate(req, at, &Spent::default());
    let _ = serde_json::to_string(&first);
    if !first.allowed() {
        assert!(first.charge.buckets.is_empty() || !first.failures.is_empty());
        return;
    }
    // Charge what the payment would charge, then evaluate the same payment again.
    let mut spent = Spent::default();
    for b in &first.charge.buckets {
        spent.buckets.push((
            b.key.clone(),
            Usage {
                amount: b.add,
                payments: i64::from(b.counts_payment),
            },
        ));
    }
    let _ = m.evaluate(req, at, &spent);
}

fn issue(m: &Mandate) {
    let user = Ed25519Signer::from_seed(&[1u8; 32], Some("purser".into())).expect("issuer key");
    let agent = Ed25519Signer::from_seed(&[2u8; 32], Some("agent".into())).expect("agent key");
    let ctx = OpenContext {
        mandate_id: "mdt_fuzz".into(),
        issuer: "https://purser.example".into(),
        agent_jwk: purser_ap2::JwsSigner::public_jwk(&agent),
        iat: DEFAULT_NOW,
        max_exp: DEFAULT_NOW + 30 * 24 * 3600,
        timezone: "Asia/Shanghai".into(),
        utc_offset_secs: 8 * 3600,
    };
    let mut n = 0u8;
    let mut salt = move || {
        n = n.wrapping_add(1);
        Ok([n; SALT_BYTES])
    };
    let Ok(creds) = issue_open_mandates(&user, m, &ctx, &mut salt) else {
        return;
    };
    let opts = VerifyOptions::new(
        user.public_key().expect("issuer public key"),
        Timestamp(DEFAULT_NOW * 1000 + 1000),
    )
    .allow_eddsa()
    .trust_issuer_enforced("https://purser.example");
    for chain in [&creds.checkout, &creds.payment] {
        if let Err(e) = purser_ap2::verify_chain(chain, &opts) {
            // Not yet valid (a mandate starting later) is the one honest refusal.
            assert!(
                e.code() == "not_yet_valid" || e.code() == "expired",
                "Purser's own open mandate does not verify: {e} ({})\n{chain}",
                e.code()
            );
        }
    }
}

fn check(m: &Mandate) {
    let json = serde_json::to_string(m).expect("a mandate serialises");
    let again: Mandate = serde_json::from_str(&json).expect("a serialised mandate reads back");
    assert_eq!(&again, m, "round trip changed the mandate");
    let _ = m.summary();
    let _ = m.currency();
    if let Err(e) = m.validate() {
        let _ = (e.to_string(), format!("{:?}", e.problems));
        return;
    }
    issue(m);
}

fuzz_target!(|data: &[u8]| {
    if let Ok((m, req, at_ms, offset_ms)) =
        serde_json::from_slice::<(Mandate, PaymentRequest, i64, i64)>(data)
    {
        check(&m);
        evaluate(
            &m,
            &req,
            At {
                instant: Timestamp(at_ms),
                utc_offset_ms: offset_ms,
            },
        );
    } else if let Ok(m) = serde_json::from_slice::<Mandate>(data) {
        check(&m);
        let currency = m.currency().unwrap_or(Currency::CNY);
        let req = PaymentRequest {
            amount: Money::new(45_900, currency),
            merchant: Default::default(),
            items: Vec::new(),
            instrument: None,
        };
        evaluate(&m, &req, At::utc(Timestamp(DEFAULT_NOW * 1000)));
    }
});
