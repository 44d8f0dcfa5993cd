//! Every AP2 v0.2 constraint type, passing and failing, in minor units of currencies with
//! exponent 0 (JPY), 2 (USD) and 3 (KWD).

use purser_ap2::{
    verify_checkout, verify_payment, Ap2Error, CheckoutAuthenticity, MandateUsage, PaymentBinding,
};
use purser_core::{Currency, Money, Timestamp};
use serde_json::{json, Value};

use crate::purchase_fixture::{
    checkout_chain, checkout_jwt, checkout_opts, closed_payment, keys, line_items_for,
    merchant_key, now, payment_chain, payment_opts, sign_with, ucp_checkout,
};

const OPEN_HASH: &str = "open-checkout-hash";

fn code<T>(r: Result<T, Ap2Error>) -> &'static str {
    match r {
        Ok(_) => "accepted",
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e.code()
        }
    }
}

fn merge(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// A payment of `amount` `currency` under an open mandate with `constraints` (plus a
/// `payment.reference`), the closed mandate patched with `patch`.
fn pay_with(
    constraints: Value,
    extra: Value,
    amount: i64,
    currency: &str,
    patch: Value,
    usage: Option<MandateUsage>,
) -> Result<purser_ap2::VerifiedPayment, Ap2Error> {
    let k = keys();
    let mut list = constraints.as_array().cloned().unwrap();
    list.push(json!({"type": "payment.reference", "conditional_transaction_id": OPEN_HASH}));
    let closed = merge(closed_payment("tx-1", amount, currency), patch);
    let chain = payment_chain(&k, Value::Array(list), extra, closed);
    let binding = PaymentBinding {
        transaction_id: "tx-1".into(),
        open_checkout_hashes: vec![OPEN_HASH.into()],
    };
    verify_payment(&chain, &payment_opts(&k), &binding, usage)
}

fn pay(
    constraints: Value,
    amount: i64,
    currency: &str,
) -> Result<purser_ap2::VerifiedPayment, Ap2Error> {
    pay_with(constraints, json!({}), amount, currency, json!({}), None)
}

fn message<T: std::fmt::Debug>(r: Result<T, Ap2Error>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn amount_range_in_every_exponent() {
    let usd = json!([{"type": "payment.amount_range", "currency": "USD", "max": 5000, "min": 100}]);
    assert_eq!(code(pay(usd.clone(), 5000, "USD")), "accepted");
    assert_eq!(code(pay(usd.clone(), 100, "USD")), "accepted");
    assert_eq!(code(pay(usd.clone(), 5001, "USD")), "constraint_violated");
    assert_eq!(code(pay(usd.clone(), 99, "USD")), "constraint_violated");
    assert_eq!(code(pay(usd.clone(), 4000, "EUR")), "constraint_violated");
    let m = message(pay(usd, 5001, "USD"));
    assert!(m.contains("at most $50.00") && m.contains("$50.01"), "{m}");

    let jpy = json!([{"type": "payment.amount_range", "currency": "JPY", "max": 800}]);
    assert_eq!(code(pay(jpy.clone(), 800, "JPY")), "accepted");
    let m = message(pay(jpy, 1299, "JPY"));
    assert!(m.contains("¥800") && m.contains("¥1,299"), "{m}");

    let kwd = json!([{"type": "payment.amount_range", "currency": "KWD", "max": 1250}]);
    assert_eq!(code(pay(kwd.clone(), 1250, "KWD")), "accepted");
    let m = message(pay(kwd, 1251, "KWD"));
    assert!(m.contains("1.250 KWD") && m.contains("1.251 KWD"), "{m}");

    // Fractional minor units, a missing max, an unknown currency: cannot be evaluated.
    for bad in [
        json!({"type": "payment.amount_range", "currency": "USD", "max": 50.5}),
        json!({"type": "payment.amount_range", "currency": "USD"}),
        json!({"type": "payment.amount_range", "currency": "XTS", "max": 5}),
        json!({"type": "payment.amount_range", "currency": "USD", "max": -1}),
    ] {
        assert_eq!(code(pay(json!([bad]), 1, "USD")), "unverifiable_constraint");
    }
}

fn spent(minor: i64, currency: Currency) -> Option<MandateUsage> {
    Some(MandateUsage {
        spent: Some(Money::new(minor, currency)),
        occurrences: 1,
        last_occurrence: None,
    })
}

#[test]
fn budget_is_in_major_units_for_every_exponent() {
    let b =
        |max: Value, cur: &str| json!([{"type": "payment.budget", "max": max, "currency": cur}]);
    let run =
        |c: Value, amount, cur, usage| code(pay_with(c, json!({}), amount, cur, json!({}), usage));
    // 100.00 USD = 10000 cents.
    assert_eq!(
        run(
            b(json!(100.0), "USD"),
            1000,
            "USD",
            spent(9000, Currency::USD)
        ),
        "accepted"
    );
    assert_eq!(
        run(
            b(json!(100.0), "USD"),
            1001,
            "USD",
            spent(9000, Currency::USD)
        ),
        "constraint_violated"
    );
    assert_eq!(
        run(
            b(json!(100), "USD"),
            10000,
            "USD",
            Some(MandateUsage::UNUSED)
        ),
        "accepted"
    );
    // ¥1,000 = 1000 yen.
    assert_eq!(
        run(b(json!(1000), "JPY"), 500, "JPY", spent(500, Currency::JPY)),
        "accepted"
    );
    assert_eq!(
        run(b(json!(1000), "JPY"), 501, "JPY", spent(500, Currency::JPY)),
        "constraint_violated"
    );
    // 1.25 KWD = 1250 fils.
    assert_eq!(
        run(
            b(json!(1.25), "KWD"),
            250,
            "KWD",
            spent(1000, Currency::KWD)
        ),
        "accepted"
    );
    assert_eq!(
        run(
            b(json!(1.25), "KWD"),
            251,
            "KWD",
            spent(1000, Currency::KWD)
        ),
        "constraint_violated"
    );
    // Without history, with half a yen, in another currency.
    assert_eq!(
        run(b(json!(100), "USD"), 1, "USD", None),
        "unverifiable_constraint"
    );
    assert_eq!(
        run(b(json!(1.5), "JPY"), 1, "JPY", Some(MandateUsage::UNUSED)),
        "unverifiable_constraint"
    );
    assert_eq!(
        run(b(json!(100), "USD"), 1, "EUR", Some(MandateUsage::UNUSED)),
        "constraint_violated"
    );
    assert_eq!(
        run(b(json!(100), "USD"), 1, "USD", spent(1, Currency::EUR)),
        "unverifiable_constraint"
    );
    let m = message(pay_with(
        b(json!(100.0), "USD"),
        json!({}),
        1001,
        "USD",
        json!({}),
        spent(9000, Currency::USD),
    ));
    assert!(
        m.contains("$100.00") && m.contains("$90.00") && m.contains("$100.01"),
        "{m}"
    );
    // Overflow is refused, not wrapped.
    assert_eq!(
        run(
            b(json!(100), "USD"),
            i64::MAX,
            "USD",
            spent(1, Currency::USD)
        ),
        "constraint_violated"
    );
}

#[test]
fn agent_recurrence_counts_uses_and_periods() {
    let day = 86_400_000;
    let rec = |freq: &str| {
        json!([
            {"type": "payment.agent_recurrence", "frequency": freq, "max_occurrences": 3},
            {"type": "payment.amount_range", "currency": "USD", "max": 5000},
            {"type": "payment.budget", "max": 1000, "currency": "USD"},
        ])
    };
    let usage = |n: u32, days_ago: i64| {
        Some(MandateUsage {
            spent: Some(Money::new(1000 * i64::from(n), Currency::USD)),
            occurrences: n,
            last_occurrence: Some(Timestamp(now().0 - days_ago * day)),
        })
    };
    let run = |c: Value, u| code(pay_with(c, json!({}), 1000, "USD", json!({}), u));
    assert_eq!(run(rec("MONTHLY"), Some(MandateUsage::UNUSED)), "accepted");
    assert_eq!(run(rec("MONTHLY"), usage(2, 40)), "accepted");
    assert_eq!(run(rec("MONTHLY"), usage(3, 40)), "constraint_violated");
    assert_eq!(run(rec("MONTHLY"), usage(1, 10)), "constraint_violated");
    assert_eq!(run(rec("WEEKLY"), usage(1, 7)), "accepted");
    assert_eq!(run(rec("BIWEEKLY"), usage(1, 13)), "constraint_violated");
    assert_eq!(run(rec("ON_DEMAND"), usage(1, 0)), "accepted");
    assert_eq!(run(rec("ANNUALLY"), usage(1, 300)), "constraint_violated");
    assert_eq!(run(rec("HOURLY"), usage(1, 300)), "unverifiable_constraint");
    assert_eq!(run(rec("DAILY"), None), "unverifiable_constraint");
    // Recurrence alone, without amount_range and budget beside it.
    let alone = json!([{"type": "payment.agent_recurrence", "frequency": "DAILY"}]);
    assert_eq!(run(alone, usage(1, 2)), "unverifiable_constraint");
}

#[test]
fn allowed_payees_match_by_id_only() {
    let c = |allowed: Value| json!([{"type": "payment.allowed_payees", "allowed": allowed}]);
    assert_eq!(
        code(pay(c(json!([{"id": "m-9"}, {"id": "m-1"}])), 1, "USD")),
        "accepted"
    );
    assert_eq!(
        code(pay(
            c(json!([{"id": "m-2", "name": "Acme Store"}])),
            1,
            "USD"
        )),
        "constraint_violated"
    );
    // A name alone never identifies a payee.
    assert_eq!(
        code(pay(c(json!([{"name": "Acme Store"}])), 1, "USD")),
        "constraint_violated"
    );
    assert_eq!(code(pay(c(json!([])), 1, "USD")), "constraint_violated");
    assert_eq!(
        code(pay(json!([{"type": "payment.allowed_payees"}]), 1, "USD")),
        "unverifiable_constraint"
    );
}

#[test]
fn allowed_payment_instruments_and_pisps() {
    let pi = |allowed: Value| json!([{"type": "payment.allowed_payment_instruments", "allowed": allowed}]);
    assert_eq!(
        code(pay(pi(json!([{"id": "pi-1", "type": "card"}])), 1, "USD")),
        "accepted"
    );
    assert_eq!(
        code(pay(pi(json!([{"id": "pi-2", "type": "card"}])), 1, "USD")),
        "constraint_violated"
    );
    assert_eq!(
        code(pay(pi(json!([{"id": "pi-1", "type": "UPI"}])), 1, "USD")),
        "constraint_violated"
    );

    let pisp = json!({"domain_name": "examplepay.com", "legal_name": "Example Payment Services Ltd.", "brand_name": "ExamplePay"});
    let c = |allowed: Value| json!([{"type": "payment.allowed_pisps", "allowed": allowed}]);
    let with_pisp =
        |c: Value, p: Value| code(pay_with(c, json!({}), 1, "USD", json!({"pisp": p}), None));
    assert_eq!(
        with_pisp(c(json!([pisp.clone()])), pisp.clone()),
        "accepted"
    );
    let mut other = pisp.clone();
    other["brand_name"] = json!("OtherPay");
    assert_eq!(
        with_pisp(c(json!([pisp.clone()])), other),
        "constraint_violated"
    );
    // No PISP on the payment at all.
    assert_eq!(code(pay(c(json!([pisp])), 1, "USD")), "constraint_violated");
}

#[test]
fn execution_date_windows() {
    // now() is 2027-01-15T08:00:05Z.
    assert_eq!(now().to_rfc3339(), "2027-01-15T08:00:05.000Z");
    let w = |nb: Option<&str>, na: Option<&str>| {
        let mut c = json!({"type": "payment.execution_date"});
        if let Some(nb) = nb {
            c["not_before"] = json!(nb);
        }
        if let Some(na) = na {
            c["not_after"] = json!(na);
        }
        json!([c])
    };
    let at = |c: Value, exec: Option<&str>| {
        let patch = exec.map_or(json!({}), |e| json!({"execution_date": e}));
        code(pay_with(c, json!({}), 1, "USD", patch, None))
    };
    let window = w(Some("2027-02-01"), Some("2027-02-28"));
    assert_eq!(at(window.clone(), Some("2027-02-01")), "accepted");
    assert_eq!(at(window.clone(), Some("2027-02-28")), "accepted");
    assert_eq!(
        at(window.clone(), Some("2027-01-31")),
        "constraint_violated"
    );
    assert_eq!(
        at(window.clone(), Some("2027-03-01")),
        "constraint_violated"
    );
    // Absent: immediate execution, which is before the window.
    assert_eq!(at(window, None), "constraint_violated");
    assert_eq!(at(w(None, Some("2027-01-31")), None), "accepted");
    assert_eq!(
        at(w(Some("2027-01-16T00:00:00Z"), None), None),
        "constraint_violated"
    );
    // A date bound against an instant is read in the least favourable zone.
    assert_eq!(
        at(w(Some("2027-01-15"), None), Some("2027-01-15T08:00:00Z")),
        "constraint_violated"
    );
    assert_eq!(
        at(w(Some("2027-01-15"), None), Some("2027-01-15T13:00:00Z")),
        "accepted"
    );
    assert_eq!(at(w(Some("soon"), None), None), "unverifiable_constraint");
}

#[test]
fn payment_reference_binds_to_the_checkout_chain() {
    let k = keys();
    let chain = payment_chain(
        &k,
        json!([{"type": "payment.reference", "conditional_transaction_id": "another-open-checkout"}]),
        json!({}),
        closed_payment("tx-1", 1, "USD"),
    );
    let binding = |hashes: Vec<String>| PaymentBinding {
        transaction_id: "tx-1".into(),
        open_checkout_hashes: hashes,
    };
    let run = |b: PaymentBinding| code(verify_payment(&chain, &payment_opts(&k), &b, None));
    assert_eq!(run(binding(vec![OPEN_HASH.into()])), "reference_mismatch");
    assert_eq!(
        run(binding(vec!["another-open-checkout".into()])),
        "accepted"
    );
    assert_eq!(run(binding(vec![])), "unverifiable_constraint");
    // transaction_id must be the checkout hash being paid; an empty expectation binds nothing.
    let other = PaymentBinding {
        transaction_id: "tx-2".into(),
        open_checkout_hashes: vec!["another-open-checkout".into()],
    };
    assert_eq!(run(other), "transaction_id_mismatch");
    let blank = PaymentBinding {
        transaction_id: " ".into(),
        open_checkout_hashes: vec!["another-open-checkout".into()],
    };
    assert_eq!(run(blank), "transaction_id_mismatch");
    // An open payment mandate chain without any payment.reference pays for anything: refused.
    let none = payment_chain(&k, json!([]), json!({}), closed_payment("tx-1", 1, "USD"));
    let r = verify_payment(
        &none,
        &payment_opts(&k),
        &binding(vec![OPEN_HASH.into()]),
        None,
    );
    assert_eq!(code(r), "constraint_violated");
}

#[test]
fn unknown_and_misplaced_constraint_types_fail_closed() {
    for t in [
        "payment.future_thing",
        "checkout.line_items",
        "PAYMENT.AMOUNT_RANGE",
        "",
    ] {
        let r = pay(json!([{"type": t, "max": 1}]), 1, "USD");
        assert_eq!(code(r), "unresolved_constraint", "{t:?}");
    }
    assert_eq!(
        code(pay(json!([{"max": 1}]), 1, "USD")),
        "unverifiable_constraint"
    );
    assert_eq!(
        code(pay(json!(["payment.budget"]), 1, "USD")),
        "unverifiable_constraint"
    );
}

#[test]
fn a_withheld_constraint_is_not_silently_skipped() {
    // An element digest with no disclosure inside `constraints`: a hidden amount_range maybe.
    let hidden = json!([{"...": "X5dnDD1Bl8Lb9ZoyHPsrlbnm0dpjl6mETDE4rWCUA_k"}]);
    assert_eq!(code(pay(hidden, 1, "USD")), "unverifiable_constraint");
    // A hidden member of a constraint (its min, say).
    let hidden_member = json!([{"type": "payment.amount_range", "currency": "USD", "max": 5000,
        "_sd": ["X5dnDD1Bl8Lb9ZoyHPsrlbnm0dpjl6mETDE4rWCUA_k"]}]);
    assert_eq!(
        code(pay(hidden_member, 1, "USD")),
        "unverifiable_constraint"
    );
    // A hidden allowed payee only narrows the list: fine.
    let narrowed = json!([{"type": "payment.allowed_payees",
        "allowed": [{"id": "m-1"}, {"...": "X5dnDD1Bl8Lb9ZoyHPsrlbnm0dpjl6mETDE4rWCUA_k"}]}]);
    assert_eq!(code(pay(narrowed, 1, "USD")), "accepted");
}

#[test]
fn pre_set_claims_must_reach_the_closed_mandate_unchanged() {
    let preset = json!({"payment_amount": {"amount": 2500, "currency": "USD"},
        "payee": {"id": "m-1", "name": "Acme Store"}});
    let run = |amount, patch| {
        code(pay_with(
            json!([]),
            preset.clone(),
            amount,
            "USD",
            patch,
            None,
        ))
    };
    assert_eq!(run(2500, json!({})), "accepted");
    assert_eq!(run(2600, json!({})), "claim_changed");
    assert_eq!(
        run(2500, json!({"payee": {"id": "m-1", "name": "Acme"}})),
        "claim_changed"
    );
}

// ---- checkout ---------------------------------------------------------------------------------

fn shop(constraints: Value, lines: &[(&str, u64, i64)]) -> &'static str {
    let k = keys();
    let jwt = checkout_jwt(&k, &ucp_checkout("m-1", "USD", lines));
    let (_, chain) = checkout_chain(&k, constraints, &jwt);
    code(verify_checkout(
        &chain,
        &checkout_opts(&k),
        &CheckoutAuthenticity::MerchantKey(merchant_key(&k)),
    ))
}

fn req(id: &str, acceptable: &[&str], quantity: u64) -> Value {
    json!({"id": id, "quantity": quantity,
        "acceptable_items": acceptable.iter().map(|a| json!({"id": a, "title": a})).collect::<Vec<_>>()})
}

fn items(reqs: Vec<Value>) -> Value {
    json!([{"type": "checkout.line_items", "items": reqs}])
}

#[test]
fn line_items_need_exact_quantities() {
    let two_a = items(vec![req("r", &["A"], 2)]);
    assert_eq!(shop(two_a.clone(), &[("A", 2, 100)]), "accepted");
    assert_eq!(
        shop(two_a.clone(), &[("A", 1, 100), ("A", 1, 100)]),
        "accepted"
    );
    assert_eq!(shop(two_a.clone(), &[("A", 1, 100)]), "constraint_violated");
    assert_eq!(shop(two_a.clone(), &[("A", 3, 100)]), "constraint_violated");
    assert_eq!(
        shop(two_a.clone(), &[("A", 2, 100), ("B", 1, 5)]),
        "constraint_violated"
    );
    assert_eq!(shop(two_a, &[]), "constraint_violated");
}

#[test]
fn line_items_follow_the_spec_example() {
    // One pair of shoes (red or blue) and one pair of socks.
    let c = items(vec![
        req("shoes", &["BAB1234", "FAF1234"], 1),
        req("socks", &["QRT1234"], 1),
    ]);
    assert_eq!(
        shop(c.clone(), &[("BAB1234", 1, 1), ("QRT1234", 1, 1)]),
        "accepted"
    );
    assert_eq!(
        shop(c.clone(), &[("FAF1234", 1, 1), ("QRT1234", 1, 1)]),
        "accepted"
    );
    assert_eq!(
        shop(c.clone(), &[("BAB1234", 1, 1), ("FAF1234", 1, 1)]),
        "constraint_violated"
    );
    assert_eq!(shop(c.clone(), &[("BAB1234", 1, 1)]), "constraint_violated");
    assert_eq!(shop(c, &[("QRT1234", 1, 1)]), "constraint_violated");
    // Overlapping choices need a matching, not a greedy pass: A may serve either requirement.
    let overlap = items(vec![req("any", &["A", "B"], 1), req("only-a", &["A"], 1)]);
    assert_eq!(
        shop(overlap.clone(), &[("A", 1, 1), ("B", 1, 1)]),
        "accepted"
    );
    assert_eq!(shop(overlap, &[("B", 2, 1)]), "constraint_violated");
}

#[test]
fn line_item_messages_say_what_is_short() {
    let k = keys();
    let jwt = checkout_jwt(&k, &ucp_checkout("m-1", "USD", &[("A", 1, 1), ("B", 1, 1)]));
    let (_, chain) = checkout_chain(&k, items(vec![req("two-a", &["A"], 2)]), &jwt);
    let e =
        verify_checkout(&chain, &checkout_opts(&k), &CheckoutAuthenticity::Unchecked).unwrap_err();
    assert!(e.to_string().contains("\"two-a\" needs exactly 2"), "{e}");
    assert_eq!(e.receipt_error(), "invalid_mandate");
}

#[test]
fn allowed_merchants_and_the_required_line_items() {
    let lines = [("A", 1, 100)];
    let merchants =
        |id: &str| json!({"type": "checkout.allowed_merchants", "allowed": [{"id": id}]});
    assert_eq!(
        shop(json!([merchants("m-1"), line_items_for(&lines)]), &lines),
        "accepted"
    );
    assert_eq!(
        shop(json!([merchants("m-2"), line_items_for(&lines)]), &lines),
        "constraint_violated"
    );
    // No checkout.line_items anywhere in the chain: the agent could buy anything.
    assert_eq!(
        shop(json!([merchants("m-1")]), &lines),
        "constraint_violated"
    );
    assert_eq!(
        shop(
            json!([line_items_for(&lines), {"type": "payment.budget"}]),
            &lines
        ),
        "unresolved_constraint"
    );
}

#[test]
fn checkout_hash_and_the_checkout_jwt_origin() {
    let k = keys();
    let lines = [("A", 1, 100)];
    let jwt = checkout_jwt(&k, &ucp_checkout("m-1", "USD", &lines));
    let (open, chain) = checkout_chain(&k, json!([line_items_for(&lines)]), &jwt);
    let opts = checkout_opts(&k);
    let run = |c: &str, a: CheckoutAuthenticity| code(verify_checkout(c, &opts, &a));
    assert_eq!(
        run(&chain, CheckoutAuthenticity::MerchantKey(merchant_key(&k))),
        "accepted"
    );
    assert_eq!(
        run(&chain, CheckoutAuthenticity::Issued(jwt.clone())),
        "accepted"
    );
    assert_eq!(run(&chain, CheckoutAuthenticity::Unchecked), "accepted");
    // Another merchant's key, another issued checkout.
    assert_eq!(
        run(
            &chain,
            CheckoutAuthenticity::MerchantKey(merchant_key(&keys()))
        ),
        "invalid_checkout"
    );
    let other = checkout_jwt(&k, &ucp_checkout("m-1", "USD", &[("A", 1, 99)]));
    assert_eq!(
        run(&chain, CheckoutAuthenticity::Issued(other)),
        "checkout_hash_mismatch"
    );

    // checkout_hash that is not the hash of checkout_jwt.
    let bad = crate::purchase_fixture::close(
        &k,
        &open,
        json!({"vct": "mandate.checkout.1", "checkout_jwt": jwt, "checkout_hash": "Zm9vYmFyX2NoZWNrb3V0X2hhc2hfcGxhY2Vob2xkZXI"}),
        &["checkout_jwt"],
        "merchant",
        crate::purchase_fixture::CHECKOUT_NONCE,
        purser_ap2::Binding::SdHash,
    );
    assert_eq!(
        run(&bad, CheckoutAuthenticity::Unchecked),
        "checkout_hash_mismatch"
    );

    // A deterministic (EdDSA) or unsigned checkout JWT is refused even unchecked.
    for alg in ["EdDSA", "none", "HS256"] {
        let jwt = sign_with(&k.merchant, alg, &ucp_checkout("m-1", "USD", &lines));
        let (_, chain) = checkout_chain(&k, json!([line_items_for(&lines)]), &jwt);
        assert_eq!(
            run(&chain, CheckoutAuthenticity::Unchecked),
            "invalid_checkout",
            "{alg}"
        );
    }
}

#[test]
fn the_vector_checkout_chain_carries_a_placeholder_hash() {
    // The AP2 Delegate SD-JWT vector's checkout_hash is a placeholder: the chain verifies, the
    // checkout binding does not.
    let v = crate::support::vector("single-hop-checkout-chain");
    let r = verify_checkout(
        &crate::support::compact(&v),
        &crate::support::options(&v),
        &CheckoutAuthenticity::Unchecked,
    );
    assert_eq!(code(r), "checkout_hash_mismatch");
}
