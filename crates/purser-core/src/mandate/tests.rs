//! Model tests: validation, serde strictness, the summary, confirmation precedence.

use super::*;
use crate::{Currency, Money};

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

fn boots() -> Mandate {
    Mandate {
        description: "Buy hiking boots".into(),
        what: What {
            line_items: vec![LineItem {
                description: "hiking boots".into(),
                quantity: 1,
                unit: Some("pair".into()),
                max_quantity: None,
            }],
            ..What::default()
        },
        how_much: HowMuch {
            per_payment_max: Some(cny(80_000)),
            ..HowMuch::default()
        },
        provenance: Provenance {
            user_words: "buy a pair of hiking boots, at most 800 yuan".into(),
            transcript: None,
        },
        ..Mandate::default()
    }
}

fn codes(m: &Mandate) -> Vec<&'static str> {
    match m.validate() {
        Ok(()) => vec![],
        Err(e) => e.problems.iter().map(|p| p.code).collect(),
    }
}

#[test]
fn a_plain_mandate_is_valid_and_reads_well() {
    let m = boots();
    assert_eq!(m.validate(), Ok(()));
    assert_eq!(
        m.summary(),
        "Buy hiking boots: only 1 pair of hiking boots, at most ¥800.00 per payment; asks you before every payment."
    );
}

#[test]
fn validation_names_every_problem() {
    let mut m = boots();
    m.how_much.per_payment_min = Some(cny(90_000));
    assert_eq!(codes(&m), vec!["min_above_max"]);
    let err = m.validate().unwrap_err();
    assert!(
        err.to_string()
            .contains("¥900.00 is above the per-payment maximum ¥800.00"),
        "{err}"
    );

    let mut m = boots();
    m.how_much.budget = Some(Money::new(100, Currency::USD));
    m.what.line_items[0].quantity = 0;
    m.how_much.max_payments = Some(0);
    m.description = " ".into();
    assert_eq!(
        codes(&m),
        vec![
            "empty_text",
            "zero_quantity",
            "mixed_currencies",
            "zero_count"
        ]
    );

    let mut m = boots();
    m.when.valid_from = DateOrInstant::parse("2027-03-01");
    m.when.valid_until = DateOrInstant::parse("2027-02-28");
    assert_eq!(codes(&m), vec!["until_before_from"]);
    m.when.valid_until = DateOrInstant::parse("2027-03-01");
    assert_eq!(
        codes(&m),
        Vec::<&str>::new(),
        "a single day is a valid window"
    );
    m.when.valid_until = DateOrInstant::parse("2027-02-28T23:00:00Z");
    assert_eq!(
        codes(&m),
        Vec::<&str>::new(),
        "might be 1 March somewhere: the evaluator decides"
    );
    m.when.valid_until = DateOrInstant::parse("2027-02-27T00:00:00Z");
    assert_eq!(codes(&m), vec!["until_before_from"]);

    let mut m = boots();
    m.how_much.interval_limits = vec![
        IntervalLimit {
            interval: Interval::Weekly,
            amount: cny(20_000),
        },
        IntervalLimit {
            interval: Interval::Weekly,
            amount: cny(30_000),
        },
    ];
    m.how_much.per_payment_min = Some(cny(25_000));
    assert_eq!(codes(&m), vec!["duplicate_interval", "min_above_max"]);

    let mut m = boots();
    m.how_much.per_payment_max = Some(cny(0));
    m.what.line_items[0].max_quantity = Some(0);
    m.what.merchants.push(MerchantRef::default());
    assert_eq!(
        codes(&m),
        vec!["empty_merchant", "min_above_max", "bad_amount"]
    );

    let mut m = boots();
    let cn = CountryCode::parse("cn").unwrap();
    m.where_.allowed_countries.push(cn.clone());
    m.where_.blocked_countries.push(cn);
    let gambling = Category {
        label: "gambling".into(),
        mcc: vec![Mcc::new(7995).unwrap()],
    };
    m.what.allowed_categories.push(gambling.clone());
    m.what.blocked_categories.push(gambling);
    assert_eq!(
        codes(&m),
        vec!["allowed_and_blocked", "allowed_and_blocked"]
    );

    let mut m = boots();
    m.what.line_items = vec![m.what.line_items[0].clone(); MAX_LIST_LEN + 1];
    assert_eq!(codes(&m), vec!["list_too_long"]);
}

#[test]
fn ask_always_wins() {
    let auto = ConfirmationRule::AutoAtOrBelow {
        amount: cny(50_000),
    };
    let p = ConfirmationPolicy { rules: vec![auto] };
    assert!(!p.needs_confirmation(cny(50_000)));
    assert!(p.needs_confirmation(cny(50_001)));
    assert!(
        p.needs_confirmation(Money::new(1, Currency::USD)),
        "other currency: ask"
    );
    let p = ConfirmationPolicy {
        rules: vec![auto, ConfirmationRule::AlwaysAsk],
    };
    assert!(p.needs_confirmation(cny(1)));
    let p = ConfirmationPolicy {
        rules: vec![auto, ConfirmationRule::AutoAtOrBelow { amount: cny(100) }],
    };
    assert!(p.needs_confirmation(cny(101)), "the lower threshold wins");
    assert!(
        ConfirmationPolicy::default().needs_confirmation(cny(1)),
        "no rule: ask"
    );
}

#[test]
fn json_is_strict_and_round_trips() {
    let mut m = boots();
    m.other.push(OtherConstraint {
        kind: "ap2.future_constraint".into(),
        value: serde_json::json!({"x": 1}),
    });
    m.with_what.instruments = vec![
        Instrument::ExclusiveCard,
        Instrument::Card {
            card_id: "card_1".into(),
        },
    ];
    m.confirmation.rules.push(ConfirmationRule::AlwaysAsk);
    m.when.recurrence = Recurrence {
        frequency: Frequency::Monthly,
        max_occurrences: Some(12),
    };
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["other"][0]["type"], "ap2.future_constraint");
    assert_eq!(v["with_what"]["instruments"][0]["type"], "exclusive_card");
    assert_eq!(v["when"]["recurrence"]["frequency"], "monthly");
    let back: Mandate = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, m);
    assert!(m
        .summary()
        .contains("plus 1 condition(s) Purser does not understand"));
    assert!(m.summary().contains("asks you before every payment"));

    let mut bad = v.clone();
    bad["how_much"]["per_payment_maximum"] = serde_json::json!(1);
    assert!(
        serde_json::from_value::<Mandate>(bad).is_err(),
        "unknown field refused"
    );
    let mut bad = v.clone();
    bad["what"]["allowed_categories"] = serde_json::json!([{"label": "x", "mcc": ["581"]}]);
    assert!(
        serde_json::from_value::<Mandate>(bad).is_err(),
        "MCC is four digits"
    );
    let mut bad = v.clone();
    bad["where"]["allowed_countries"] = serde_json::json!(["CHN"]);
    assert!(
        serde_json::from_value::<Mandate>(bad).is_err(),
        "alpha-2 only"
    );
    let mut bad = v;
    bad["when"]["valid_until"] = serde_json::json!("March");
    assert!(serde_json::from_value::<Mandate>(bad).is_err());
}

#[test]
fn summary_covers_every_dimension() {
    let mut m = boots();
    m.what.merchants.push(MerchantRef {
        id: None,
        name: Some("Decathlon".into()),
        website: Some("decathlon.cn".into()),
    });
    m.where_
        .allowed_countries
        .push(CountryCode::parse("CN").unwrap());
    m.how_much.interval_limits.push(IntervalLimit {
        interval: Interval::Monthly,
        amount: cny(150_000),
    });
    m.how_much.budget = Some(cny(500_000));
    m.how_much.max_payments = Some(3);
    m.with_what.instruments.push(Instrument::ExclusiveCard);
    m.when.valid_until = DateOrInstant::parse("2027-03-31");
    m.confirmation.rules.push(ConfirmationRule::AutoAtOrBelow {
        amount: cny(30_000),
    });
    assert_eq!(
        m.summary(),
        "Buy hiking boots: only 1 pair of hiking boots, only from Decathlon (decathlon.cn), only from merchants in CN, \
         at most ¥800.00 per payment, at most ¥1,500.00 a month, a total budget of ¥5,000.00, at most 3 payments, \
         paying only with the agent's exclusive card, until the end of 2027-03-31; \
         pays automatically at or below ¥300.00 and asks you above that."
    );
}
