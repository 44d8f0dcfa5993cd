//! Random constraint JSON never panics the evaluator, and never passes an unknown type.

use proptest::prelude::*;
use purser_ap2::{verify_payment, MandateUsage, PaymentBinding};
use serde_json::{json, Value};

use crate::purchase_fixture::{closed_payment, keys, payment_chain, payment_opts};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        "[A-Za-z0-9._:-]{0,12}".prop_map(Value::String),
        prop_oneof![Just("USD"), Just("JPY"), Just("KWD"), Just("XTS")].prop_map(|s| json!(s)),
        prop_oneof![
            Just("2027-01-15"),
            Just("2027-01-15T08:00:00Z"),
            Just("DAILY")
        ]
        .prop_map(|s| json!(s)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}|id|max|min|currency|allowed|items|quantity|acceptable_items|frequency|not_before|not_after", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn constraint() -> impl Strategy<Value = Value> {
    let kinds = prop_oneof![
        Just("payment.agent_recurrence"),
        Just("payment.allowed_payees"),
        Just("payment.allowed_payment_instruments"),
        Just("payment.allowed_pisps"),
        Just("payment.amount_range"),
        Just("payment.budget"),
        Just("payment.execution_date"),
        Just("payment.reference"),
        Just("checkout.line_items"),
        Just("payment.unknown"),
    ];
    (kinds, prop::collection::btree_map(
        "max|min|currency|allowed|frequency|max_occurrences|not_before|not_after|conditional_transaction_id",
        json_value(), 0..5))
        .prop_map(|(k, fields)| {
            let mut m: serde_json::Map<String, Value> = fields.into_iter().collect();
            m.insert("type".into(), json!(k));
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_constraints_never_panic(list in prop::collection::vec(constraint(), 0..4), amount in 0i64..1_000_000) {
        let k = keys();
        let chain = payment_chain(&k, Value::Array(list.clone()), json!({}), closed_payment("tx", amount, "USD"));
        let binding = PaymentBinding { transaction_id: "tx".into(), open_checkout_hashes: vec!["h".into()] };
        let r = verify_payment(&chain, &payment_opts(&k), &binding, Some(MandateUsage::UNUSED));
        let unknown = list.iter().any(|c| c["type"] == "payment.unknown" || c["type"] == "checkout.line_items");
        if unknown {
            prop_assert!(r.is_err());
        }
        if let Err(e) = r {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
