//! Evaluation tests: every constraint passes and fails with its sentence; buckets follow the
//! mandate's zone; unknown constraints fail closed.

use super::*;
use crate::mandate::{
    Category, ConfirmationPolicy, ConfirmationRule, ExecutionWindow, HowMuch, IntervalLimit,
    LineItem, OtherConstraint, Recurrence, What, When, Where, WithWhat,
};
use crate::{Currency, Money, Timestamp};

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

fn at(rfc3339: &str, offset_h: i64) -> At {
    let Some(DateOrInstant::Instant(t)) = DateOrInstant::parse(rfc3339) else {
        panic!("bad instant {rfc3339}")
    };
    At {
        instant: t,
        utc_offset_ms: offset_h * 3_600_000,
    }
}

fn now() -> At {
    at("2026-11-21T10:00:00Z", 8)
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
        confirmation: ConfirmationPolicy {
            rules: vec![ConfirmationRule::AutoAtOrBelow {
                amount: cny(50_000),
            }],
        },
        ..Mandate::default()
    }
}

fn pay(minor: i64, title: &str, qty: u32) -> PaymentRequest {
    PaymentRequest {
        amount: cny(minor),
        merchant: MerchantFacts {
            id: Some("mch_trail".into()),
            name: Some("Trail Outfitters".into()),
            website: Some("https://shop.trail.example/boots".into()),
            country: CountryCode::parse("CN"),
            mcc: Mcc::new(5661),
        },
        items: vec![CartItem {
            id: Some("sku-1".into()),
            title: title.into(),
            quantity: qty,
            unit_price: None,
        }],
        instrument: None,
    }
}

fn codes(e: &Evaluation) -> Vec<&'static str> {
    e.failures.iter().map(|f| f.code).collect()
}

#[test]
fn boots_under_the_limit_pass_and_pay_automatically() {
    let e = boots().evaluate(
        &pay(49_900, "Salomon X Ultra 4 Mid GTX Hiking Boot", 1),
        now(),
        &Spent::default(),
    );
    assert!(e.allowed(), "{:?}", e.failures);
    assert!(!e.needs_confirmation);
    assert_eq!(e.charge.buckets[0].key, ALL);
    assert_eq!(e.charge.buckets[0].add, 49_900);

    let e = boots().evaluate(&pay(69_900, "Hiking Boots", 1), now(), &Spent::default());
    assert!(e.allowed());
    assert!(e.needs_confirmation, "above the auto-pay threshold");
}

#[test]
fn too_expensive_says_both_amounts() {
    let e = boots().evaluate(&pay(129_900, "Hiking boots", 1), now(), &Spent::default());
    assert_eq!(codes(&e), ["above_maximum"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate allows ¥800.00 per payment; this one is ¥1,299.00."
    );
}

#[test]
fn ten_thousand_pairs_and_a_tent_name_every_failure() {
    let mut req = pay(79_900, "Hiking boots", 10_000);
    req.items.push(CartItem {
        id: None,
        title: "Two-person tent".into(),
        quantity: 1,
        unit_price: None,
    });
    let e = boots().evaluate(&req, now(), &Spent::default());
    assert_eq!(codes(&e), ["item_not_allowed", "item_quantity_exceeded"]);
    assert_eq!(
        e.failures[1].message,
        "This mandate allows 1 pair of hiking boots per payment; this one asks for 10000."
    );
    assert!(e.failures[0].message.contains("\"Two-person tent\""));
}

#[test]
fn empty_cart_is_refused_when_items_are_limited() {
    let mut req = pay(10_000, "x", 1);
    req.items.clear();
    assert_eq!(
        codes(&boots().evaluate(&req, now(), &Spent::default())),
        ["items_missing"]
    );
}

#[test]
fn currency_and_amount_sanity() {
    let mut req = pay(10_000, "hiking boots", 1);
    req.amount = Money::new(10_000, Currency::USD);
    let e = boots().evaluate(&req, now(), &Spent::default());
    assert_eq!(codes(&e), ["currency_mismatch"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate's amounts are in CNY; this payment is in USD."
    );
    let e = boots().evaluate(&pay(0, "hiking boots", 1), now(), &Spent::default());
    assert_eq!(codes(&e), ["invalid_amount"]);
}

#[test]
fn merchants_match_by_id_website_or_name() {
    let allow = |r: MerchantRef| Mandate {
        what: What {
            merchants: vec![r],
            ..What::default()
        },
        ..boots()
    };
    let req = pay(10_000, "hiking boots", 1);
    let ok = |m: &Mandate| m.evaluate(&req, now(), &Spent::default()).allowed();
    assert!(ok(&allow(MerchantRef {
        id: Some("mch_trail".into()),
        ..MerchantRef::default()
    })));
    assert!(
        !ok(&allow(MerchantRef {
            id: Some("mch_other".into()),
            website: Some("trail.example".into()),
            ..MerchantRef::default()
        })),
        "an id that differs is not rescued by the website"
    );
    assert!(
        ok(&allow(MerchantRef {
            website: Some("www.trail.example".into()),
            ..MerchantRef::default()
        })),
        "subdomain of the allowed host"
    );
    assert!(
        !ok(&allow(MerchantRef {
            website: Some("ail.example".into()),
            ..MerchantRef::default()
        })),
        "a suffix that is not a subdomain"
    );
    assert!(!ok(&allow(MerchantRef {
        website: Some("trail.example.evil".into()),
        ..MerchantRef::default()
    })));
    assert!(ok(&allow(MerchantRef {
        name: Some("trail outfitters".into()),
        ..MerchantRef::default()
    })));
    let e = allow(MerchantRef {
        name: Some("JD.com".into()),
        website: Some("jd.com".into()),
        ..MerchantRef::default()
    })
    .evaluate(&req, now(), &Spent::default());
    assert_eq!(
        e.failures[0].message,
        "This mandate only allows buying from JD.com; this payment is to Trail Outfitters."
    );
}

#[test]
fn categories_and_countries_fail_closed_when_unknown() {
    let m = Mandate {
        what: What {
            blocked_categories: vec![Category {
                label: "gambling".into(),
                mcc: vec![Mcc::new(7995).unwrap_or_else(|| unreachable!())],
            }],
            ..boots().what
        },
        where_: Where {
            allowed_countries: vec![CountryCode::parse("CN").unwrap_or_else(|| unreachable!())],
            blocked_countries: vec![],
        },
        ..boots()
    };
    let ok = pay(10_000, "hiking boots", 1);
    assert!(m.evaluate(&ok, now(), &Spent::default()).allowed());

    let mut casino = ok.clone();
    casino.merchant.mcc = Mcc::new(7995);
    casino.merchant.country = CountryCode::parse("MO");
    let e = m.evaluate(&casino, now(), &Spent::default());
    assert_eq!(codes(&e), ["category_blocked", "country_not_allowed"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate blocks gambling (MCC 7995); this merchant is in that category."
    );

    let mut silent = ok;
    silent.merchant.mcc = None;
    silent.merchant.country = None;
    let e = m.evaluate(&silent, now(), &Spent::default());
    assert_eq!(codes(&e), ["category_unknown", "country_unknown"]);
}

#[test]
fn dates_follow_the_mandates_zone() {
    let d = |s| DateOrInstant::parse(s).unwrap_or_else(|| unreachable!());
    let m = Mandate {
        when: When {
            valid_until: Some(d("2026-11-21")),
            ..When::default()
        },
        ..boots()
    };
    let req = pay(10_000, "hiking boots", 1);
    // 2026-11-21T20:00Z is already the 22nd in Shanghai (+8) but still the 21st in New York (-5).
    let late = |off| at("2026-11-21T20:00:00Z", off);
    let e = m.evaluate(&req, late(8), &Spent::default());
    assert_eq!(codes(&e), ["mandate_expired"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate ended on 2026-11-21; it is 2026-11-22 now."
    );
    assert!(m.evaluate(&req, late(-5), &Spent::default()).allowed());

    let m = Mandate {
        when: When {
            valid_from: Some(d("2026-11-22")),
            execution_window: Some(ExecutionWindow {
                start: d("2026-11-25T00:00:00Z"),
                end: d("2026-11-30"),
            }),
            ..When::default()
        },
        ..boots()
    };
    let e = m.evaluate(&req, now(), &Spent::default());
    assert_eq!(codes(&e), ["not_yet_valid", "outside_execution_window"]);
    assert!(m
        .evaluate(&req, at("2026-11-26T00:00:00Z", 8), &Spent::default())
        .allowed());
}

#[test]
fn weekly_limit_buckets_start_on_the_local_monday() {
    let m = Mandate {
        what: What::default(),
        how_much: HowMuch {
            interval_limits: vec![IntervalLimit {
                interval: Interval::Weekly,
                amount: cny(20_000),
            }],
            ..HowMuch::default()
        },
        ..boots()
    };
    let req = pay(8_000, "flat white", 1);
    // Sunday 2026-11-22 20:00 UTC is Monday 23rd 04:00 in Shanghai: a new week there.
    let sunday_night = at("2026-11-22T20:00:00Z", 8);
    let e = m.evaluate(&req, sunday_night, &Spent::default());
    let keys: Vec<&str> = e.charge.buckets.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(keys, [ALL, "week:2026-11-23"]);
    let utc = m.evaluate(&req, at("2026-11-22T20:00:00Z", 0), &Spent::default());
    assert_eq!(utc.charge.buckets[1].key, "week:2026-11-16");

    let spent = Spent {
        buckets: vec![(
            "week:2026-11-23".into(),
            Usage {
                amount: 15_000,
                payments: 2,
            },
        )],
    };
    let e = m.evaluate(&req, sunday_night, &spent);
    assert_eq!(codes(&e), ["interval_limit_exceeded"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate's limit for the week starting 2026-11-23 is ¥200.00; ¥150.00 is already spent, and this payment of ¥80.00 would go ¥30.00 over."
    );
    // The same spending last week does not count.
    assert!(m
        .evaluate(&req, at("2026-11-30T02:00:00Z", 8), &spent)
        .allowed());
}

#[test]
fn every_interval_has_its_bucket() {
    let local = CivilDate::new(2026, 11, 21).unwrap_or_else(|| unreachable!());
    let k = |i| bucket_key(i, local);
    assert_eq!(k(Interval::PerPayment), None);
    assert_eq!(k(Interval::Daily).as_deref(), Some("day:2026-11-21"));
    assert_eq!(k(Interval::Weekly).as_deref(), Some("week:2026-11-16"));
    assert_eq!(k(Interval::Monthly).as_deref(), Some("month:2026-11"));
    assert_eq!(k(Interval::Yearly).as_deref(), Some("year:2026"));
    assert_eq!(k(Interval::AllTime).as_deref(), Some("all"));
}

#[test]
fn budget_and_count_limits() {
    let m = Mandate {
        what: What::default(),
        how_much: HowMuch {
            budget: Some(cny(200_000)),
            max_payments: Some(3),
            interval_limits: vec![
                IntervalLimit {
                    interval: Interval::AllTime,
                    amount: cny(150_000),
                },
                IntervalLimit {
                    interval: Interval::PerPayment,
                    amount: cny(60_000),
                },
            ],
            ..HowMuch::default()
        },
        ..boots()
    };
    let req = pay(60_000, "anything", 1);
    let all = &m.evaluate(&req, now(), &Spent::default()).charge.buckets[0];
    assert_eq!(
        (all.max_amount, all.max_payments),
        (Some(150_000), Some(3)),
        "the tighter of budget and all-time limit"
    );
    let spent = |amount, payments| Spent {
        buckets: vec![(ALL.into(), Usage { amount, payments })],
    };
    assert!(m.evaluate(&req, now(), &spent(90_000, 2)).allowed());
    let e = m.evaluate(&req, now(), &spent(100_000, 3));
    assert_eq!(codes(&e), ["budget_exceeded", "max_payments_reached"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate's budget is ¥1,500.00; ¥1,000.00 is already spent, and this payment of ¥600.00 would go ¥100.00 over."
    );
    assert_eq!(
        e.failures[1].message,
        "This mandate allows 3 payments in all, and 3 were already made."
    );
    let e = m.evaluate(&pay(60_001, "anything", 1), now(), &Spent::default());
    assert_eq!(codes(&e), ["above_maximum"], "per-payment interval limit");
}

#[test]
fn recurrence_pays_once_per_period_and_counts_occurrences() {
    let m = Mandate {
        what: What::default(),
        when: When {
            recurrence: Recurrence {
                frequency: crate::mandate::Frequency::Monthly,
                max_occurrences: Some(12),
            },
            ..When::default()
        },
        ..boots()
    };
    let req = pay(3_000, "music subscription", 1);
    let e = m.evaluate(&req, now(), &Spent::default());
    assert!(e.allowed());
    assert_eq!(e.charge.buckets[1].key, "month:2026-11");
    let spent = Spent {
        buckets: vec![(
            "month:2026-11".into(),
            Usage {
                amount: 3_000,
                payments: 1,
            },
        )],
    };
    let e = m.evaluate(&req, now(), &spent);
    assert_eq!(codes(&e), ["recurrence_exhausted"]);
    assert_eq!(
        e.failures[0].message,
        "This mandate pays monthly and has already paid for the month (2026-11)."
    );
}

#[test]
fn lifetime_item_quantity() {
    let m = Mandate {
        what: What {
            line_items: vec![LineItem {
                description: "Delta Air Lines flight DL 446".into(),
                quantity: 1,
                unit: None,
                max_quantity: Some(1),
            }],
            ..What::default()
        },
        ..boots()
    };
    let req = pay(
        50_000,
        "Delta Air Lines flight DL 446, ATL to LAX, economy",
        1,
    );
    let e = m.evaluate(&req, now(), &Spent::default());
    assert!(e.allowed(), "{:?}", e.failures);
    assert_eq!(
        e.charge.buckets.last().map(|b| b.key.as_str()),
        Some("item:0")
    );
    let spent = Spent {
        buckets: vec![(
            "item:0".into(),
            Usage {
                amount: 1,
                payments: 0,
            },
        )],
    };
    assert_eq!(
        codes(&m.evaluate(&req, now(), &spent)),
        ["item_lifetime_quantity_exceeded"]
    );
    let other = pay(50_000, "Delta Air Lines flight DL 447", 1);
    assert_eq!(
        codes(&m.evaluate(&other, now(), &Spent::default())),
        ["item_not_allowed"]
    );
}

#[test]
fn instruments_and_unknown_constraints() {
    let m = Mandate {
        with_what: WithWhat {
            instruments: vec![Instrument::ExclusiveCard],
        },
        other: vec![OtherConstraint {
            kind: "ap2.future_constraint".into(),
            value: serde_json::Value::Null,
        }],
        ..boots()
    };
    let mut req = pay(10_000, "hiking boots", 1);
    let e = m.evaluate(&req, now(), &Spent::default());
    assert_eq!(
        codes(&e),
        ["unresolved_constraint", "instrument_not_allowed"]
    );
    req.instrument = Some(Instrument::ExclusiveCard);
    assert_eq!(
        codes(&m.evaluate(&req, now(), &Spent::default())),
        ["unresolved_constraint"]
    );
}

#[test]
fn words_ignore_plurals_and_filler() {
    assert_eq!(words("a pair of Hiking Boots"), ["hiking", "boot"]);
    assert_eq!(words("glass"), ["glass"]);
    assert_eq!(words("DL-446"), ["dl", "446"]);
    assert_eq!(
        host_of("HTTPS://user@WWW.Shop.example:443/x?y"),
        "shop.example"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_and_failures_always_have_sentences(
            minor in -10i64..i64::MAX,
            qty in 0u32..u32::MAX,
            title in ".{0,40}",
            website in ".{0,40}",
            spent_amount in 0i64..i64::MAX,
            spent_payments in 0i64..i64::MAX,
            offset_h in -14i64..=14,
            instant in -1_000_000_000_000i64..400_000_000_000_000,
        ) {
            let mut m = boots();
            m.what.merchants = vec![MerchantRef { website: Some("trail.example".into()), ..MerchantRef::default() }];
            m.how_much.budget = Some(cny(1_000_000));
            m.how_much.max_payments = Some(5);
            let mut req = pay(minor, &title, qty);
            req.merchant.website = Some(website);
            let spent = Spent { buckets: vec![(ALL.into(), Usage { amount: spent_amount, payments: spent_payments })] };
            let e = m.evaluate(&req, At { instant: Timestamp(instant), utc_offset_ms: offset_h * 3_600_000 }, &spent);
            for f in &e.failures {
                prop_assert!(f.message.ends_with('.'), "{}", f.message);
            }
        }
    }
}
