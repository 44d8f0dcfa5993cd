//! Checkout and Payment Receipts: issue, verify, and every tampering refused.

use purser_ap2::{
    issue_checkout_receipt, issue_payment_receipt, verify_checkout_receipt, verify_payment_receipt,
    verify_purchase, Ap2Error, CheckoutOutcome, CheckoutReceipt, Es256Signer, PaymentOutcome,
    PaymentReceipt,
};
use serde_json::{json, Value};

use crate::purchase_fixture::{purchase, purchase_opts, T0};
use crate::support::{b64d, b64e};

fn code<T>(r: Result<T, Ap2Error>) -> &'static str {
    r.map(|_| "accepted").unwrap_or_else(|e| e.code())
}

fn merchant() -> Es256Signer {
    Es256Signer::generate(Some("merchant-receipts".into()))
        .unwrap()
        .0
}

#[test]
fn receipts_round_trip_against_a_verified_purchase() {
    let p = purchase("KWD", &[("sku-1", 1, 1250)], json!([]));
    let v = verify_purchase(&p.checkout, &p.payment, &purchase_opts(&p.keys)).unwrap();
    let m = merchant();
    let key = m.public_key().unwrap();

    let checkout = CheckoutReceipt {
        iss: "https://merchant.example".into(),
        iat: T0,
        reference: v.checkout.reference().into(),
        outcome: CheckoutOutcome::Success {
            order_id: "order-1".into(),
        },
    };
    let jwt = issue_checkout_receipt(&m, &checkout).unwrap();
    assert_eq!(
        verify_checkout_receipt(&jwt, &key, v.checkout.reference()).unwrap(),
        checkout
    );

    let payment = PaymentReceipt {
        iss: "https://psp.example".into(),
        iat: T0,
        reference: v.payment.reference().into(),
        payment_id: "pay-1".into(),
        outcome: PaymentOutcome::Success {
            psp_confirmation_id: "psp-1".into(),
            network_confirmation_id: "net-1".into(),
            rail_confirmation_verified: true,
        },
    };
    let jwt = issue_payment_receipt(&m, &payment).unwrap();
    assert_eq!(
        verify_payment_receipt(&jwt, &key, v.payment.reference()).unwrap(),
        payment
    );
    // Each receipt belongs to its own mandate and kind.
    assert_eq!(
        code(verify_payment_receipt(&jwt, &key, v.checkout.reference())),
        "receipt_reference_mismatch"
    );
    assert_eq!(
        code(verify_checkout_receipt(&jwt, &key, v.payment.reference())),
        "invalid_receipt"
    );
}

#[test]
fn a_refusal_receipt_carries_the_ap2_error_code() {
    let p = purchase(
        "USD",
        &[("sku-1", 1, 1000)],
        json!([{"type": "payment.amount_range", "currency": "USD", "max": 500}]),
    );
    let err = verify_purchase(&p.checkout, &p.payment, &purchase_opts(&p.keys)).unwrap_err();
    let reference = purser_ap2::receipt_reference(&p.payment).unwrap();
    let receipt = PaymentReceipt {
        iss: "https://psp.example".into(),
        iat: T0,
        reference: reference.clone(),
        payment_id: "pay-2".into(),
        outcome: PaymentOutcome::rejected(&err),
    };
    let m = merchant();
    let jwt = issue_payment_receipt(&m, &receipt).unwrap();
    let back = verify_payment_receipt(&jwt, &m.public_key().unwrap(), &reference).unwrap();
    match back.outcome {
        PaymentOutcome::Error {
            error,
            error_description,
        } => {
            assert_eq!(error, "invalid_mandate");
            assert!(error_description.contains("$5.00"), "{error_description}");
        }
        other => panic!("{other:?}"),
    }
    // Issuing refuses empty required claims.
    let empty = CheckoutReceipt {
        iss: "m".into(),
        iat: T0,
        reference: reference.clone(),
        outcome: CheckoutOutcome::Success {
            order_id: String::new(),
        },
    };
    assert_eq!(code(issue_checkout_receipt(&m, &empty)), "issue_failed");
}

/// Re-signs `claims` (edited) with `signer`, the way an attacker with a key could.
fn resign(signer: &Es256Signer, claims: Value) -> String {
    use purser_ap2::JwsSigner;
    signer.sign_jwt("JWT", &claims).unwrap()
}

#[test]
fn tampered_receipts_are_refused() {
    let m = merchant();
    let key = m.public_key().unwrap();
    let receipt = CheckoutReceipt {
        iss: "https://merchant.example".into(),
        iat: T0,
        reference: "ref-1".into(),
        outcome: CheckoutOutcome::Success {
            order_id: "order-1".into(),
        },
    };
    let jwt = issue_checkout_receipt(&m, &receipt).unwrap();
    let (head, sig) = jwt.rsplit_once('.').unwrap();
    let (h, payload) = head.split_once('.').unwrap();

    // Any changed claim without re-signing.
    let mut claims: Value = serde_json::from_slice(&b64d(payload)).unwrap();
    claims["order_id"] = json!("order-2");
    let forged = format!("{h}.{}.{sig}", b64e(claims.to_string().as_bytes()));
    assert_eq!(
        code(verify_checkout_receipt(&forged, &key, "ref-1")),
        "invalid_receipt"
    );
    // A flipped signature byte.
    let mut bad = b64d(sig);
    bad[7] ^= 1;
    let flipped = format!("{head}.{}", b64e(&bad));
    assert_eq!(
        code(verify_checkout_receipt(&flipped, &key, "ref-1")),
        "invalid_receipt"
    );
    // Signed by someone else.
    let other = merchant();
    let jwt2 = issue_checkout_receipt(&other, &receipt).unwrap();
    assert_eq!(
        code(verify_checkout_receipt(&jwt2, &key, "ref-1")),
        "invalid_receipt"
    );
    // Another mandate's receipt, an empty expectation.
    assert_eq!(
        code(verify_checkout_receipt(&jwt, &key, "ref-2")),
        "receipt_reference_mismatch"
    );
    assert_eq!(
        code(verify_checkout_receipt(&jwt, &key, "")),
        "receipt_reference_mismatch"
    );
    // Well signed but missing what the status requires, or contradicting it.
    let mut c = claims.clone();
    c["order_id"] = Value::Null;
    c.as_object_mut().unwrap().remove("order_id");
    assert_eq!(
        code(verify_checkout_receipt(&resign(&m, c), &key, "ref-1")),
        "invalid_receipt"
    );
    let mut c = claims.clone();
    c["status"] = json!("Error");
    assert_eq!(
        code(verify_checkout_receipt(&resign(&m, c), &key, "ref-1")),
        "invalid_receipt"
    );
    let mut c = claims.clone();
    c["status"] = json!("Pending");
    assert_eq!(
        code(verify_checkout_receipt(&resign(&m, c), &key, "ref-1")),
        "invalid_receipt"
    );
    let mut c = claims;
    c["error"] = json!("invalid_mandate");
    assert_eq!(
        code(verify_checkout_receipt(&resign(&m, c), &key, "ref-1")),
        "invalid_receipt"
    );
    // An EdDSA key cannot verify a receipt.
    let ed = purser_ap2::PublicJwk::ed25519([9u8; 32]);
    assert_eq!(
        code(verify_checkout_receipt(&jwt, &ed, "ref-1")),
        "invalid_receipt"
    );
}
