//! The sandbox's documented behaviour, card by card, and the rail types' secrecy.

use super::*;
use crate::card::{CardBrand, CardNumber, CardholderName, Cvv, Expiry};
use crate::{Currency, Money, Timestamp};

/// 2026-11-21T09:30:00Z.
const NOW: Timestamp = Timestamp(1_795_253_400_000);

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

struct Card {
    number: CardNumber,
    cvv: Cvv,
    holder: CardholderName,
}

fn card(number: &str) -> Card {
    let number = CardNumber::parse(number).unwrap();
    let cvv = Cvv::parse(
        if number.brand() == CardBrand::Amex {
            "7373"
        } else {
            "737"
        },
        number.brand(),
    )
    .unwrap();
    Card {
        number,
        cvv,
        holder: CardholderName::parse("Li Wei").unwrap(),
    }
}

fn charge<'a>(card: &'a Card, reference: &'a str, amount: Money) -> RailCharge<'a> {
    RailCharge {
        reference,
        number: &card.number,
        expiry: Expiry::new(4, 2029).unwrap(),
        cvv: Some(&card.cvv),
        holder: Some(&card.holder),
        amount,
        now: NOW,
    }
}

fn authorize(number: &str, amount: Money) -> RailOutcome {
    let c = card(number);
    SandboxRail.authorize(&charge(&c, "topup_01", amount))
}

fn declined_with(outcome: &RailOutcome) -> &'static str {
    match outcome {
        RailOutcome::Declined(d) => d.code(),
        other => panic!("expected a decline, got {other:?}"),
    }
}

#[test]
fn every_documented_card_parses_with_its_brand() {
    assert_eq!(SANDBOX_TEST_CARDS.len(), 12);
    for (number, brand, behaviour) in SANDBOX_TEST_CARDS {
        let parsed = CardNumber::parse(number).unwrap();
        assert_eq!(parsed.brand().as_str(), *brand, "{number}");
        assert!(!behaviour.is_empty());
    }
}

#[test]
fn approving_cards_approve_for_the_amount_asked() {
    for (number, _, behaviour) in SANDBOX_TEST_CARDS {
        if !behaviour.starts_with("approves") {
            continue;
        }
        let outcome = authorize(number, cny(79_900));
        assert_eq!(
            outcome,
            RailOutcome::Approved {
                rail_ref: SandboxRail::charge_ref("topup_01"),
                amount: cny(79_900)
            },
            "{number}"
        );
    }
}

#[test]
fn declining_cards_decline_with_their_code() {
    assert_eq!(
        declined_with(&authorize("4000 0000 0000 9995", cny(100))),
        "insufficient_funds"
    );
    assert_eq!(
        declined_with(&authorize("4000 0000 0000 0002", cny(100))),
        "do_not_honour"
    );
    assert_eq!(
        declined_with(&authorize("4000 0000 0000 0069", cny(100))),
        "card_expired"
    );
}

#[test]
fn limit_card_approves_up_to_fifty_thousand() {
    let limit = SANDBOX_LIMIT_CARD_MAJOR_UNITS * 100;
    assert!(authorize("4000 0000 0000 5001", cny(limit)).is_approved());
    let over = authorize("4000 0000 0000 5001", cny(limit + 1));
    assert_eq!(declined_with(&over), "insufficient_funds");
    let RailOutcome::Declined(d) = over else {
        unreachable!()
    };
    assert!(
        d.message.contains("50,000.00 CNY") && d.message.contains("50,000.01 CNY"),
        "{}",
        d.message
    );
    // The limit is in whole units of the charge's currency.
    assert!(authorize("4000 0000 0000 5001", Money::new(50_000, Currency::JPY)).is_approved());
    assert!(!authorize("4000 0000 0000 5001", Money::new(50_001, Currency::JPY)).is_approved());
}

#[test]
fn real_cards_are_declined() {
    let outcome = authorize("4111 1111 1111 1111", cny(100));
    assert_eq!(declined_with(&outcome), "do_not_honour");
    let RailOutcome::Declined(d) = outcome else {
        unreachable!()
    };
    assert!(
        d.message.contains("test cards") && d.message.contains("sandbox"),
        "{}",
        d.message
    );
}

#[test]
fn checks_every_charge_gets() {
    assert_eq!(
        declined_with(&authorize("4242 4242 4242 4242", cny(0))),
        "amount_invalid"
    );
    assert_eq!(
        declined_with(&authorize("4242 4242 4242 4242", cny(-1))),
        "amount_invalid"
    );
    let max = SANDBOX_MAX_CHARGE_MAJOR_UNITS * 100;
    assert!(authorize("4242 4242 4242 4242", cny(max)).is_approved());
    assert_eq!(
        declined_with(&authorize("4242 4242 4242 4242", cny(max + 1))),
        "amount_too_large"
    );
    assert_eq!(
        declined_with(&authorize(
            "4242 4242 4242 4242",
            Money::new(i64::MAX, Currency::KWD)
        )),
        "amount_too_large"
    );

    let c = card("4242 4242 4242 4242");
    let mut expired = charge(&c, "topup_01", cny(100));
    expired.expiry = Expiry::new(10, 2026).unwrap();
    assert_eq!(
        declined_with(&SandboxRail.authorize(&expired)),
        "card_expired"
    );
    expired.expiry = Expiry::new(11, 2026).unwrap();
    assert!(SandboxRail.authorize(&expired).is_approved());

    for reference in ["", "has space", &"r".repeat(MAX_REFERENCE_LEN + 1)] {
        let bad = charge(&c, reference, cny(100));
        assert_eq!(
            declined_with(&SandboxRail.authorize(&bad)),
            "request_invalid"
        );
    }
    // No CVV (a later top-up from a stored card) is fine.
    let mut no_cvv = charge(&c, "topup_02", cny(100));
    no_cvv.cvv = None;
    no_cvv.holder = None;
    assert!(SandboxRail.authorize(&no_cvv).is_approved());
}

#[test]
fn three_d_secure_challenge_flow() {
    let c = card("4000 0000 0000 3220");
    let ch = charge(&c, "topup_3ds", cny(12_345));
    let RailOutcome::ChallengeRequired {
        rail_ref,
        challenge,
    } = SandboxRail.authorize(&ch)
    else {
        panic!("expected a challenge");
    };
    assert_eq!(rail_ref, SandboxRail::charge_ref("topup_3ds"));
    assert!(
        challenge.contains(SANDBOX_CHALLENGE_ANSWER) && challenge.contains("Sandbox"),
        "{challenge}"
    );

    assert_eq!(
        SandboxRail.answer_challenge(&rail_ref, " 123456 ", &ch),
        RailOutcome::Approved {
            rail_ref: rail_ref.clone(),
            amount: cny(12_345)
        }
    );
    for wrong in ["654321", "", "1234567", &"1".repeat(1000)] {
        assert_eq!(
            declined_with(&SandboxRail.answer_challenge(&rail_ref, wrong, &ch)),
            "challenge_failed"
        );
    }
    // The ref must belong to this charge, and the card must be one that was challenged.
    let other_ref = SandboxRail::charge_ref("topup_other");
    assert_eq!(
        declined_with(&SandboxRail.answer_challenge(&other_ref, "123456", &ch)),
        "charge_unknown"
    );
    let plain = card("4242 4242 4242 4242");
    let plain_charge = charge(&plain, "topup_3ds", cny(12_345));
    assert_eq!(
        declined_with(&SandboxRail.answer_challenge(&rail_ref, "123456", &plain_charge)),
        "charge_unknown"
    );
    // The charge's own checks still apply when it is answered.
    let mut late = ch;
    late.now = Timestamp(1_900_000_000_000); // 2030
    assert_eq!(
        declined_with(&SandboxRail.answer_challenge(&rail_ref, "123456", &late)),
        "card_expired"
    );
}

#[test]
fn refs_are_deterministic_so_retries_are_idempotent() {
    let a = authorize("4242 4242 4242 4242", cny(100));
    let b = authorize("4242 4242 4242 4242", cny(100));
    assert_eq!(a, b);
    let r = SandboxRail::charge_ref("topup_01");
    assert!(
        r.as_str().starts_with("sbx_") && r.as_str().len() == 4 + 24,
        "{r}"
    );
    assert_ne!(r, SandboxRail::charge_ref("topup_02"));
    // sha256("purser.sandbox.charge.v1\0topup_01")[..12], computed with Python's hashlib.
    assert_eq!(r.as_str(), EXPECTED_TOPUP_01_REF);
}

const EXPECTED_TOPUP_01_REF: &str = "sbx_0bd7b4cf433cd8e2e2679792";

#[test]
fn refunds_approve_valid_requests() {
    let charge_ref = SandboxRail::charge_ref("topup_01");
    let refund = SandboxRail
        .refund(&charge_ref, "refund_01", cny(500))
        .unwrap();
    assert_eq!(refund.amount, cny(500));
    assert!(refund.rail_ref.as_str().starts_with("sbx_rf_"));
    assert_eq!(
        SandboxRail
            .refund(&charge_ref, "refund_01", cny(500))
            .unwrap(),
        refund
    );
    assert_ne!(
        SandboxRail
            .refund(&charge_ref, "refund_02", cny(500))
            .unwrap()
            .rail_ref,
        refund.rail_ref
    );

    let code = |r: Result<RailRefund, RailDecline>| r.unwrap_err().code();
    assert_eq!(
        code(SandboxRail.refund(&charge_ref, "refund_01", cny(0))),
        "amount_invalid"
    );
    assert_eq!(
        code(SandboxRail.refund(&charge_ref, "", cny(1))),
        "request_invalid"
    );
    assert_eq!(
        code(SandboxRail.refund(&RailRef::new("ch_real_123"), "refund_01", cny(1))),
        "charge_unknown"
    );
    assert_eq!(
        code(SandboxRail.refund(&refund.rail_ref, "refund_01", cny(1))),
        "charge_unknown"
    );
}

#[test]
fn is_an_object_safe_sandbox() {
    let rail: Box<dyn CardRail> = Box::new(SandboxRail::new());
    assert_eq!(rail.name(), "sandbox");
    assert!(rail.is_sandbox());
    let c = card("4242 4242 4242 4242");
    assert!(rail
        .authorize(&charge(&c, "topup_dyn", cny(1)))
        .is_approved());
}

#[test]
fn every_message_says_sandbox_and_none_shows_the_number_or_cvv() {
    let mut outputs = Vec::new();
    let mut pans = Vec::new();
    for (number, _, _) in
        SANDBOX_TEST_CARDS
            .iter()
            .copied()
            .chain([("4111 1111 1111 1111", "visa", "")])
    {
        let c = card(number);
        pans.push(c.number.expose_digits().to_owned());
        for amount in [
            cny(100),
            cny(0),
            cny(SANDBOX_LIMIT_CARD_MAJOR_UNITS * 100 + 1),
            cny(i64::MAX),
        ] {
            let ch = charge(&c, "topup_01", amount);
            outputs.push(format!("{ch:?}"));
            outputs.push(format!("{ch:#?}"));
            let outcome = SandboxRail.authorize(&ch);
            outputs.push(format!("{outcome:?}"));
            match &outcome {
                RailOutcome::Declined(d) => {
                    assert!(
                        d.message.starts_with("sandbox: ") && d.message.contains("simulation"),
                        "{}",
                        d.message
                    );
                    outputs.push(d.to_string());
                }
                RailOutcome::ChallengeRequired {
                    rail_ref,
                    challenge,
                } => {
                    outputs.push(challenge.clone());
                    for answer in ["123456", "000000"] {
                        outputs.push(format!(
                            "{:?}",
                            SandboxRail.answer_challenge(rail_ref, answer, &ch)
                        ));
                    }
                }
                RailOutcome::Approved { .. } => {}
            }
        }
    }
    let pans: Vec<&str> = pans.iter().map(String::as_str).collect();
    for output in &outputs {
        // Runs of 10: the test cards are mostly zeros, and shorter runs of zeros occur in the
        // timestamp and amounts that `Debug` rightly shows.
        crate::card::tests::assert_no_leak_of_runs(output, &pans, &["737", "7373"], 10);
    }
}
