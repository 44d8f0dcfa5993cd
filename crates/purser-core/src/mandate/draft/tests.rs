use super::*;
use crate::mandate::constraints::{
    ConfirmationRule, Frequency, Interval, IntervalLimit, LineItem, Mcc,
};
use crate::mandate::date::DateOrInstant;
use crate::Money;
use proptest::prelude::*;

fn ctx() -> DraftContext {
    DraftContext {
        today: CivilDate::new(2026, 11, 21).unwrap(),
        default_currency: Currency::CNY,
        yen_means: Currency::CNY,
        timezone: "Asia/Shanghai".to_string(),
    }
}

fn date(s: &str) -> Option<DateOrInstant> {
    Some(DateOrInstant::Date(CivilDate::parse(s).unwrap()))
}

fn meanings(d: &Draft) -> Vec<(&str, &str)> {
    d.understood
        .iter()
        .map(|u| (u.phrase.as_str(), u.meaning.as_str()))
        .collect()
}

#[test]
fn hiking_boots_under_800_yuan() {
    for text in [
        "Help me buy a pair of hiking boots, under 800 yuan",
        "buy a pair of hiking boots under 800 yuan",
    ] {
        let d = draft(text, &ctx());
        let m = &d.mandate;
        assert_eq!(
            m.what.line_items,
            vec![LineItem {
                description: "hiking boots".into(),
                quantity: 1,
                unit: Some("pair".into()),
                max_quantity: None
            }],
            "{text}"
        );
        assert_eq!(
            m.how_much.per_payment_max,
            Some(Money::new(79_999, Currency::CNY)),
            "{text}"
        );
        assert_eq!(m.how_much.per_payment_min, None);
        assert_eq!(m.how_much.budget, None);
        assert!(m.how_much.interval_limits.is_empty());
        assert!(m.what.merchants.is_empty());
        assert!(
            m.confirmation.rules.is_empty(),
            "no word about confirmation: ask every time"
        );
        assert_eq!(m.description, "Buy hiking boots");
        assert_eq!(m.provenance.user_words, text);
        assert_eq!(m.when.timezone.as_deref(), Some("Asia/Shanghai"));
        assert!(
            d.not_understood.is_empty(),
            "{text}: {:?}",
            d.not_understood
        );
        let u = meanings(&d);
        assert!(
            u.iter().any(|(p, m)| *p == "under 800 yuan"
                && m.contains("¥799.99")
                && m.contains("excludes ¥800.00")),
            "{u:?}"
        );
        assert!(
            u.iter()
                .any(|(p, m)| p.ends_with("hiking boots") && m.contains("1 pair of hiking boots")),
            "{u:?}"
        );
        assert!(m.validate().is_ok());
        assert_eq!(
            m.summary(),
            "Buy hiking boots: only 1 pair of hiking boots, at most ¥799.99 per payment; asks you before every payment."
        );
    }
}

#[test]
fn only_book_delta_flight_446() {
    let d = draft("only book Delta flight 446", &ctx());
    let m = &d.mandate;
    assert_eq!(m.what.merchants.len(), 1);
    assert_eq!(m.what.merchants[0].name.as_deref(), Some("Delta Air Lines"));
    assert_eq!(m.what.merchants[0].website.as_deref(), Some("delta.com"));
    assert_eq!(
        m.what.line_items,
        vec![LineItem {
            description: "Delta Air Lines flight DL 446".into(),
            quantity: 1,
            unit: None,
            max_quantity: Some(1)
        }]
    );
    assert_eq!(m.how_much.max_payments, Some(1));
    assert_eq!(m.description, "Book Delta Air Lines flight DL 446");
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);
    let u = meanings(&d);
    assert_eq!(u[0], ("only", "nothing else may be bought"));
    assert_eq!(u[1].0, "Delta flight 446");
    assert!(
        d.questions.iter().any(|q| q.contains("How much")),
        "no amount: ask for one"
    );
    assert!(m.validate().is_ok());
}

#[test]
fn automatically_anything_under_500_dollars() {
    let d = draft("automatically purchase anything under $500", &ctx());
    let m = &d.mandate;
    assert_eq!(
        m.confirmation.rules,
        vec![ConfirmationRule::AutoAtOrBelow {
            amount: Money::new(49_999, Currency::USD)
        }]
    );
    assert_eq!(
        m.how_much.per_payment_max, None,
        "above the threshold: ask, not refuse"
    );
    assert!(m.what.line_items.is_empty());
    assert_eq!(m.description, "Purchase anything");
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);
    assert!(
        d.questions.iter().any(|q| q.contains("above $499.99")),
        "{:?}",
        d.questions
    );
    assert!(d
        .warnings
        .iter()
        .any(|w| w.contains("Nothing restricts what")));
    assert!(m
        .summary()
        .contains("pays automatically at or below $499.99 and asks you above that"));
    assert!(!m
        .confirmation
        .needs_confirmation(Money::new(49_999, Currency::USD)));
    assert!(m
        .confirmation
        .needs_confirmation(Money::new(50_000, Currency::USD)));
    assert!(m.validate().is_ok());
}

#[test]
fn at_most_200_yuan_a_week_on_coffee_until_march() {
    let d = draft("at most ¥200 a week on coffee until March", &ctx());
    let m = &d.mandate;
    assert_eq!(
        m.how_much.interval_limits,
        vec![IntervalLimit {
            interval: Interval::Weekly,
            amount: Money::new(20_000, Currency::CNY)
        }]
    );
    assert_eq!(m.how_much.per_payment_max, None);
    assert_eq!(m.what.allowed_categories.len(), 1);
    assert_eq!(m.what.allowed_categories[0].label, "coffee");
    assert_eq!(
        m.what.allowed_categories[0].mcc,
        vec![Mcc::new(5814).unwrap()]
    );
    assert_eq!(m.when.valid_until, date("2027-03-31"));
    assert_eq!(m.when.recurrence.frequency, Frequency::OnDemand);
    assert_eq!(m.description, "Spend on coffee");
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);
    let u = meanings(&d);
    assert_eq!(u.len(), 3, "{u:?}");
    assert_eq!(u[0].0, "at most ¥200 a week");
    assert!(u[0].1.contains("¥ read as CNY"));
    assert_eq!(u[1].0, "on coffee");
    assert_eq!(u[2].0, "until March");
    assert!(u[2].1.contains("2027-03-31"));
    assert!(m.validate().is_ok());
    assert!(
        m.summary().contains("at most ¥200.00 a week"),
        "{}",
        m.summary()
    );
}

#[test]
fn until_march_in_march_means_this_march() {
    let mut c = ctx();
    c.today = CivilDate::new(2027, 3, 10).unwrap();
    let d = draft("at most ¥200 a week on coffee until March", &c);
    assert_eq!(d.mandate.when.valid_until, date("2027-03-31"));
    c.today = CivilDate::new(2027, 1, 2).unwrap();
    let d = draft("at most ¥200 a week on coffee before March", &c);
    assert_eq!(d.mandate.when.valid_until, date("2027-02-28"));
}

#[test]
fn money_forms_are_exact() {
    let cases = [
        (
            "buy a lamp at most 800 yuan",
            Money::new(80_000, Currency::CNY),
        ),
        ("buy a lamp at most ¥800", Money::new(80_000, Currency::CNY)),
        (
            "buy a lamp at most RMB 800",
            Money::new(80_000, Currency::CNY),
        ),
        (
            "buy a lamp at most 800 CNY",
            Money::new(80_000, Currency::CNY),
        ),
        (
            "buy a lamp at most 800元",
            Money::new(80_000, Currency::CNY),
        ),
        ("buy a lamp at most $500", Money::new(50_000, Currency::USD)),
        (
            "buy a lamp at most 500 dollars",
            Money::new(50_000, Currency::USD),
        ),
        ("buy a lamp at most €30", Money::new(3_000, Currency::EUR)),
        (
            "buy a lamp at most 1,299.50 USD",
            Money::new(129_950, Currency::USD),
        ),
        (
            "buy a lamp up to 5k CNY",
            Money::new(500_000, Currency::CNY),
        ),
        (
            "buy a lamp no more than 1,299.50",
            Money::new(129_950, Currency::CNY),
        ),
        ("buy a lamp at most 800 yen", Money::new(800, Currency::JPY)),
    ];
    for (text, want) in cases {
        let d = draft(text, &ctx());
        assert_eq!(d.mandate.how_much.per_payment_max, Some(want), "{text}");
        assert!(
            d.not_understood.is_empty(),
            "{text}: {:?}",
            d.not_understood
        );
    }
    let mut c = ctx();
    c.yen_means = Currency::JPY;
    let d = draft("buy a lamp under ¥800", &c);
    assert_eq!(
        d.mandate.how_much.per_payment_max,
        Some(Money::new(799, Currency::JPY))
    );
    let d = draft("buy a lamp no more than 1,299.50", &ctx());
    assert!(d
        .understood
        .iter()
        .any(|u| u.meaning.contains("no currency was named")));
}

#[test]
fn quantities() {
    let q = |t: &str| draft(t, &ctx()).mandate.what.line_items;
    assert_eq!(q("buy two notebooks")[0].quantity, 2);
    assert_eq!(q("order 3 books about rust")[0].quantity, 3);
    assert_eq!(
        q("order 3 books about rust")[0].description,
        "books about rust"
    );
    let d = draft("buy 10,000 pairs of sneakers", &ctx());
    assert_eq!(
        d.mandate.what.line_items,
        vec![LineItem {
            description: "sneakers".into(),
            quantity: 10_000,
            unit: Some("pair".into()),
            max_quantity: None
        }]
    );
    assert!(d.warnings.iter().any(|w| w.contains("unusually large")));
    let d = draft("buy a desk lamp", &ctx());
    assert_eq!(d.mandate.what.line_items[0].quantity, 1);
    let d = draft("buy desk lamps", &ctx());
    assert!(d.warnings.iter().any(|w| w.contains("No quantity")));
}

#[test]
fn time_phrases() {
    let c = ctx(); // Saturday 2026-11-21
    let w = |t: &str| draft(t, &c).mandate.when;
    assert_eq!(w("buy a lamp by Friday").valid_until, date("2026-11-27"));
    assert_eq!(w("buy a lamp by Saturday").valid_until, date("2026-11-21"));
    let two = w("buy a lamp for 2 weeks");
    assert_eq!(two.valid_from, date("2026-11-21"));
    assert_eq!(two.valid_until, date("2026-12-04"));
    assert_eq!(w("buy a lamp this month").valid_until, date("2026-11-30"));
    assert_eq!(
        w("buy a lamp until 2027-01-15").valid_until,
        date("2027-01-15")
    );
    assert_eq!(
        w("buy a lamp until march 2028").valid_until,
        date("2028-03-31")
    );
    assert_eq!(
        w("buy a lamp starting tomorrow").valid_from,
        date("2026-11-22")
    );
    assert_eq!(
        w("pay for a subscription every month").recurrence.frequency,
        Frequency::Monthly
    );
    let daily = w("order lunch daily, at most 3 times");
    assert_eq!(daily.recurrence.frequency, Frequency::Daily);
    assert_eq!(daily.recurrence.max_occurrences, Some(3));
    assert_eq!(
        draft("buy a lamp once", &c).mandate.how_much.max_payments,
        Some(1)
    );
}

#[test]
fn merchants_countries_categories() {
    let d = draft("buy running shoes from Nike", &ctx());
    assert_eq!(d.mandate.what.merchants[0].name.as_deref(), Some("Nike"));
    let d = draft("buy a kettle on amazon.com", &ctx());
    assert_eq!(
        d.mandate.what.merchants[0].website.as_deref(),
        Some("amazon.com")
    );
    let d = draft("buy groceries only in China, no gambling", &ctx());
    assert_eq!(d.mandate.where_.allowed_countries[0].as_str(), "CN");
    assert_eq!(d.mandate.what.allowed_categories[0].label, "groceries");
    assert_eq!(d.mandate.what.blocked_categories[0].label, "gambling");
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);
    // lower-case unknown words are never taken as a merchant
    let d = draft("buy a kettle from grandma", &ctx());
    assert!(d.mandate.what.merchants.is_empty());
    assert_eq!(d.not_understood, vec!["from grandma".to_string()]);
}

#[test]
fn confirmation_phrases() {
    let d = draft("buy a lamp under ¥300, ask me every time", &ctx());
    assert_eq!(
        d.mandate.confirmation.rules,
        vec![ConfirmationRule::AlwaysAsk]
    );
    let d = draft("buy coffee, ask me above ¥50", &ctx());
    assert_eq!(
        d.mandate.confirmation.rules,
        vec![ConfirmationRule::AutoAtOrBelow {
            amount: Money::new(5_000, Currency::CNY)
        }]
    );
    let d = draft("automatically buy a lamp", &ctx());
    assert!(d.mandate.confirmation.rules.is_empty());
    assert!(d
        .questions
        .iter()
        .any(|q| q.contains("automatic payment but gave no amount")));
}

#[test]
fn never_guesses_silently() {
    let d = draft("buy a lamp, make it blue-ish and fragrant", &ctx());
    assert_eq!(
        d.not_understood,
        vec![
            "make".to_string(),
            "blue-ish".to_string(),
            "fragrant".to_string()
        ]
    );
    let d = draft("the weather is nice", &ctx());
    assert!(!d.understood_anything());
    assert_eq!(
        d.not_understood,
        vec!["weather".to_string(), "nice".to_string()]
    );
    let d = draft("buy a lamp for 300 yuan", &ctx());
    assert_eq!(
        d.mandate.how_much.per_payment_max, None,
        "an amount without a comparator is not a limit"
    );
    assert!(
        d.not_understood.contains(&"300 yuan".to_string()),
        "{:?}",
        d.not_understood
    );
}

#[test]
fn limits_on_input() {
    let long = "a".repeat(MAX_INPUT_CHARS + 1);
    let d = draft(&long, &ctx());
    assert!(!d.understood_anything());
    assert!(d.warnings[0].contains("2000"));
    assert_eq!(
        d.mandate.provenance.user_words.chars().count(),
        MAX_INPUT_CHARS
    );
    let d = draft("", &ctx());
    assert!(!d.understood_anything());
    let d = draft("buy a lamp under 0 yuan", &ctx());
    assert_eq!(d.mandate.how_much.per_payment_max, None);
}

#[test]
fn drafts_serialise_to_json() {
    let d = draft("at most ¥200 a week on coffee until March", &ctx());
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v["mandate"]["how_much"]["interval_limits"][0]["amount"]["minor"],
        20_000
    );
    assert_eq!(v["mandate"]["when"]["valid_until"], "2027-03-31");
    assert_eq!(
        v["mandate"]["what"]["allowed_categories"][0]["mcc"][0],
        "5814"
    );
    let back: crate::mandate::Mandate = serde_json::from_value(v["mandate"].clone()).unwrap();
    assert_eq!(back, d.mandate);
}

#[test]
fn tricky_cases() {
    let d = draft(
        "please get me a coffee every day at Starbucks, automatically up to ¥40 a day",
        &ctx(),
    );
    let m = &d.mandate;
    assert_eq!(
        m.what.line_items[0].description, "coffee",
        "'me' is who it is for, not the item"
    );
    assert_eq!(m.what.merchants[0].name.as_deref(), Some("Starbucks"));
    assert_eq!(m.when.recurrence.frequency, Frequency::Daily);
    assert_eq!(
        m.confirmation.rules,
        vec![ConfirmationRule::AutoAtOrBelow {
            amount: Money::new(4_000, Currency::CNY)
        }]
    );
    assert_eq!(
        m.how_much.interval_limits,
        vec![IntervalLimit {
            interval: Interval::Daily,
            amount: Money::new(4_000, Currency::CNY)
        }]
    );
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);

    let d = draft(
        "order 2 bottles of wine from Vinoteca under €60, only in France, not before Friday",
        &ctx(),
    );
    let m = &d.mandate;
    assert_eq!(
        m.when.valid_from,
        date("2026-11-27"),
        "'not before' is a start"
    );
    assert_eq!(m.when.valid_until, None);
    assert_eq!(m.what.line_items[0].quantity, 2);
    assert_eq!(m.what.line_items[0].unit.as_deref(), Some("bottle"));
    assert_eq!(
        m.how_much.per_payment_max,
        Some(Money::new(5_999, Currency::EUR))
    );
    assert_eq!(m.where_.allowed_countries[0].as_str(), "FR");
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);

    let d = draft(
        "book a hotel in Tokyo for 3 days with a budget of 5k JPY",
        &ctx(),
    );
    assert_eq!(
        d.mandate.how_much.budget,
        Some(Money::new(5_000, Currency::JPY))
    );
    assert_eq!(
        d.not_understood,
        vec!["in Tokyo".to_string()],
        "cities are not guessed"
    );

    let d = draft("buy flight UA 88", &ctx());
    assert_eq!(
        d.mandate.what.merchants[0].name.as_deref(),
        Some("United Airlines")
    );
    assert_eq!(
        d.mandate.what.line_items[0].description,
        "United Airlines flight UA 88"
    );

    let d = draft("buy a pair of boots under ¥1.999", &ctx());
    assert_eq!(d.mandate.how_much.per_payment_max, None);
    assert!(d.warnings.iter().any(|w| w.contains("2 decimal place")));
    assert_eq!(d.not_understood, vec!["under ¥1.999".to_string()]);
}

#[test]
fn negations_are_applied_or_flagged() {
    let d = draft("don't buy anything over 100 dollars", &ctx());
    assert_eq!(
        d.mandate.how_much.per_payment_min, None,
        "never inverted into a minimum"
    );
    assert_eq!(
        d.mandate.how_much.per_payment_max,
        Some(Money::new(10_000, Currency::USD))
    );
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);

    let d = draft("buy headphones under 1000 yuan but not from Amazon", &ctx());
    assert!(
        d.mandate.what.merchants.is_empty(),
        "an excluded merchant is not allowed"
    );
    assert_eq!(d.not_understood, vec!["but not from Amazon".to_string()]);
    assert!(d.warnings[0].starts_with("Careful"), "{:?}", d.warnings);

    let d = draft(
        "spend no more than 300 yuan a month on taxis and never on gambling",
        &ctx(),
    );
    assert_eq!(d.mandate.what.allowed_categories.len(), 1);
    assert_eq!(d.mandate.what.allowed_categories[0].label, "taxis");
    assert_eq!(d.mandate.what.blocked_categories[0].label, "gambling");
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);
    assert!(d.mandate.validate().is_ok());
}

#[test]
fn only_buy_from_a_website() {
    let d = draft("only buy from jd.com, max ¥500 per order", &ctx());
    assert_eq!(
        d.mandate.what.merchants[0].website.as_deref(),
        Some("jd.com")
    );
    assert_eq!(
        d.mandate.how_much.per_payment_max,
        Some(Money::new(50_000, Currency::CNY))
    );
    assert!(d.not_understood.is_empty(), "{:?}", d.not_understood);
    assert_eq!(d.understood[0].meaning, "no other merchant");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_and_is_deterministic(text in "\\PC{0,200}") {
        let a = draft(&text, &ctx());
        let b = draft(&text, &ctx());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn word_soup_never_panics(words in proptest::collection::vec(proptest::sample::select(vec![
        "buy", "a", "pair", "of", "under", "at", "most", "¥200", "800", "yuan", "$5k", "until",
        "March", "by", "friday", "for", "2", "weeks", "only", "Delta", "flight", "446", "DL",
        "on", "coffee", "automatically", "ask", "me", "above", "every", "week", "10,000", ",",
        "from", "Nike", "amazon.com", "no", "gambling", "in", "China", "times", "once", "1,299.50",
        "budget", "in", "total", "before", "9999-12-31", "99999999999999999999", "元",
    ]), 0..24)) {
        let text = words.join(" ");
        let a = draft(&text, &ctx());
        prop_assert_eq!(&a, &draft(&text, &ctx()));
        // Every amount is an exact integer in minor units, and every draft's amounts agree
        // with what an understood line printed.
        if let Some(m) = a.mandate.how_much.per_payment_max {
            prop_assert!(a.understood.iter().any(|u| u.meaning.contains(&m.with_symbol())));
        }
    }

    #[test]
    fn under_is_one_minor_unit_below(n in 1u32..10_000_000) {
        let d = draft(&format!("buy a lamp under {n} yuan"), &ctx());
        prop_assert_eq!(d.mandate.how_much.per_payment_max, Some(Money::new(i64::from(n) * 100 - 1, Currency::CNY)));
        let d = draft(&format!("buy a lamp at most {n} yuan"), &ctx());
        prop_assert_eq!(d.mandate.how_much.per_payment_max, Some(Money::new(i64::from(n) * 100, Currency::CNY)));
    }
}
