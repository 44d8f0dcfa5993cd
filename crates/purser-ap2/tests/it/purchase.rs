//! A checkout chain and its payment chain verified together.

use purser_ap2::{
    checkout_hash, receipt_reference, sd_digest, verify_purchase, Ap2Error, MandateUsage,
};
use serde_json::json;

use crate::purchase_fixture::{closed_payment, payment_chain, purchase, purchase_opts, Purchase};

fn code<T>(r: Result<T, Ap2Error>) -> &'static str {
    r.map(|_| "accepted").unwrap_or_else(|e| e.code())
}

#[test]
fn a_purchase_verifies_in_every_exponent() {
    for (cur, price) in [("USD", 1999), ("JPY", 1299), ("KWD", 1250), ("CNY", 79900)] {
        let p = purchase(
            cur,
            &[("sku-1", 2, price), ("sku-2", 1, 5)],
            json!([{"type": "payment.amount_range", "currency": cur, "max": 2 * price + 5}]),
        );
        let v = verify_purchase(&p.checkout, &p.payment, &purchase_opts(&p.keys))
            .unwrap_or_else(|e| panic!("{cur}: {e}"));
        assert_eq!(v.payment.amount().minor, 2 * price + 5);
        assert_eq!(v.payment.amount().currency.code(), cur);
        assert_eq!(v.checkout.checkout_hash(), checkout_hash(&p.jwt));
        assert_eq!(v.payment.transaction_id(), checkout_hash(&p.jwt));
        assert_eq!(
            v.checkout.open_checkout_hashes(),
            vec![sd_digest(&p.open_checkout)]
        );
        assert_eq!(
            v.checkout.reference(),
            receipt_reference(&p.checkout).unwrap()
        );
        assert_eq!(
            v.payment.reference(),
            receipt_reference(&p.payment).unwrap()
        );
    }
}

#[test]
fn a_payment_over_its_range_is_refused_within_a_purchase() {
    let p = purchase(
        "JPY",
        &[("sku-1", 1, 1299)],
        json!([{"type": "payment.amount_range", "currency": "JPY", "max": 800}]),
    );
    let e = verify_purchase(&p.checkout, &p.payment, &purchase_opts(&p.keys)).unwrap_err();
    assert_eq!(e.code(), "constraint_violated");
    assert!(
        e.to_string().contains("¥800") && e.to_string().contains("¥1,299"),
        "{e}"
    );
}

fn repay(p: &Purchase, constraints: serde_json::Value, tx: &str, amount: i64) -> String {
    payment_chain(
        &p.keys,
        constraints,
        json!({}),
        closed_payment(tx, amount, "USD"),
    )
}

#[test]
fn the_payment_must_pay_this_checkout() {
    let p = purchase("USD", &[("sku-1", 1, 1000)], json!([]));
    let opts = purchase_opts(&p.keys);
    let reference = json!([{"type": "payment.reference", "conditional_transaction_id": sd_digest(&p.open_checkout)}]);
    // Same open checkout, another checkout JWT hash.
    let other_tx = repay(
        &p,
        reference.clone(),
        &checkout_hash("another.checkout.jwt"),
        1000,
    );
    assert_eq!(
        code(verify_purchase(&p.checkout, &other_tx, &opts)),
        "transaction_id_mismatch"
    );
    // A payment.reference to an open checkout mandate that is not this one.
    let other_ref =
        json!([{"type": "payment.reference", "conditional_transaction_id": sd_digest("x~")}]);
    let wrong = repay(&p, other_ref, &checkout_hash(&p.jwt), 1000);
    assert_eq!(
        code(verify_purchase(&p.checkout, &wrong, &opts)),
        "reference_mismatch"
    );
    // The right checkout, another amount.
    let short = repay(&p, reference, &checkout_hash(&p.jwt), 999);
    let e = verify_purchase(&p.checkout, &short, &opts).unwrap_err();
    assert_eq!(e.code(), "amount_mismatch");
    assert!(
        e.to_string().contains("$10.00") && e.to_string().contains("$9.99"),
        "{e}"
    );
    // The chains swapped.
    assert_eq!(
        code(verify_purchase(&p.payment, &p.checkout, &opts)),
        "aud_mismatch"
    );
}

#[test]
fn a_budget_needs_usage_history() {
    let p = purchase(
        "USD",
        &[("sku-1", 1, 1000)],
        json!([{"type": "payment.budget", "max": 50, "currency": "USD"}]),
    );
    let mut opts = purchase_opts(&p.keys);
    assert_eq!(
        code(verify_purchase(&p.checkout, &p.payment, &opts)),
        "unverifiable_constraint"
    );
    opts.usage = Some(MandateUsage::UNUSED);
    assert_eq!(
        code(verify_purchase(&p.checkout, &p.payment, &opts)),
        "accepted"
    );
}
