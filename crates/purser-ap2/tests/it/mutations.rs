use purser_ap2::{verify_chain, Ap2Error, VerifyOptions};
use purser_core::Timestamp;

use crate::support::{
    b64d, b64e, compact, join, options, parts, split, unparts, vector, vectors, VECTOR_IAT,
};

fn code(chain: &str, opts: &VerifyOptions) -> &'static str {
    match verify_chain(chain, opts) {
        Ok(_) => "accepted",
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e.code()
        }
    }
}

#[test]
fn every_flipped_signature_byte_is_refused() {
    for v in vectors() {
        let chain = compact(&v);
        let hops = split(&chain);
        for h in 0..hops.len() {
            let (jwt, discs) = parts(&hops[h]);
            let (input, sig) = jwt.rsplit_once('.').unwrap();
            let sig = b64d(sig);
            for byte in 0..sig.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = sig.clone();
                    bad[byte] ^= bit;
                    let mut mutated = hops.clone();
                    mutated[h] = unparts(&format!("{input}.{}", b64e(&bad)), &discs);
                    assert_eq!(
                        code(&join(&mutated), &options(&v)),
                        "invalid_signature",
                        "{} hop {h} byte {byte}",
                        v["id"]
                    );
                }
            }
        }
    }
}

#[test]
fn a_wrong_nonce_or_audience_is_refused() {
    for id in [
        "single-hop-payment-chain",
        "multi-hop-payment-chain",
        "single-hop-checkout-chain",
    ] {
        let v = vector(id);
        let chain = compact(&v);
        assert_eq!(
            code(&chain, &options(&v).nonce("another-nonce")),
            "nonce_mismatch",
            "{id}"
        );
        assert_eq!(
            code(&chain, &options(&v).audience("another-merchant")),
            "aud_mismatch",
            "{id}"
        );
    }
    // The intermediate hop's audience (cp-agent) is not the merchant's.
    let v = vector("multi-hop-payment-chain");
    assert_eq!(
        code(&compact(&v), &options(&v).audience("cp-agent")),
        "aud_mismatch"
    );
    // A bare root has no nonce to answer a verifier's challenge.
    let v = vector("root-single-sd-jwt");
    assert_eq!(
        code(&compact(&v), &options(&v).nonce("n")),
        "nonce_mismatch"
    );
    assert_eq!(
        code(&compact(&v), &options(&v).audience("merchant")),
        "aud_mismatch"
    );
}

#[test]
fn a_duplicated_disclosure_is_refused() {
    for v in vectors() {
        let hops = split(&compact(&v));
        for h in 0..hops.len() {
            let (jwt, mut discs) = parts(&hops[h]);
            discs.push(discs[0].clone());
            let mut mutated = hops.clone();
            mutated[h] = unparts(&jwt, &discs);
            assert_eq!(
                code(&join(&mutated), &options(&v)),
                "disclosure_mismatch",
                "{} hop {h}",
                v["id"]
            );
        }
    }
}

#[test]
fn a_disclosure_swapped_in_from_another_credential_is_refused() {
    // Same claim, same value, different salt: the digest is not one the issuer signed.
    let donor = parts(&split(&compact(&vector("multi-hop-payment-chain")))[0]).1;
    for id in ["root-single-sd-jwt", "single-hop-payment-chain"] {
        let v = vector(id);
        let hops = split(&compact(&v));
        let (jwt, mut discs) = parts(&hops[0]);
        let amount = discs
            .iter()
            .position(|d| {
                String::from_utf8(b64d(d))
                    .unwrap()
                    .contains("payment_amount")
            })
            .unwrap();
        discs[amount] = donor[1].clone();
        let mut mutated = hops.clone();
        mutated[0] = unparts(&jwt, &discs);
        assert_eq!(
            code(&join(&mutated), &options(&v)),
            "disclosure_mismatch",
            "{id}"
        );
    }
    // A disclosure moved between hops is unreferenced where it lands.
    let v = vector("multi-hop-payment-chain");
    let hops = split(&compact(&v));
    let (jwt2, mut d2) = parts(&hops[2]);
    d2.push(parts(&hops[1]).1[0].clone());
    let mut mutated = hops.clone();
    mutated[2] = unparts(&jwt2, &d2);
    assert_eq!(code(&join(&mutated), &options(&v)), "disclosure_mismatch");
}

#[test]
fn reordering_disclosures_is_harmless_alone_but_breaks_a_covering_sd_hash() {
    let v = vector("root-single-sd-jwt");
    let hops = split(&compact(&v));
    let (jwt, mut discs) = parts(&hops[0]);
    discs.reverse();
    assert_eq!(code(&unparts(&jwt, &discs), &options(&v)), "accepted");

    let v = vector("single-hop-payment-chain");
    let hops = split(&compact(&v));
    let (jwt, mut discs) = parts(&hops[0]);
    discs.reverse();
    let mut mutated = hops.clone();
    mutated[0] = unparts(&jwt, &discs);
    assert_eq!(code(&join(&mutated), &options(&v)), "invalid_sd_hash");
}

#[test]
fn dropping_a_disclosure_the_next_sd_hash_covers_is_refused() {
    for id in [
        "single-hop-payment-chain",
        "multi-hop-payment-chain",
        "single-hop-checkout-chain",
    ] {
        let v = vector(id);
        let hops = split(&compact(&v));
        let (jwt, discs) = parts(&hops[0]);
        // Drop the first (a claim, not the payload element itself).
        let mut mutated = hops.clone();
        mutated[0] = unparts(&jwt, &discs[1..]);
        assert_eq!(
            code(&join(&mutated), &options(&v)),
            "invalid_sd_hash",
            "{id}"
        );
    }
}

#[test]
fn selective_disclosure_of_a_lone_root_is_legitimate() {
    let v = vector("root-single-sd-jwt");
    let (jwt, discs) = parts(&split(&compact(&v))[0]);
    let payee = discs
        .iter()
        .position(|d| String::from_utf8(b64d(d)).unwrap().contains("payee"))
        .unwrap();
    let kept: Vec<String> = discs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != payee)
        .map(|(_, d)| d.clone())
        .collect();
    let verified = verify_chain(&unparts(&jwt, &kept), &options(&v)).unwrap();
    assert!(verified.hops()[0].get("payee").is_none());
    assert_eq!(verified.hops()[0]["payment_amount"]["amount"], 2500);
}

#[test]
fn a_stale_key_binding_hop_is_expired() {
    for id in ["single-hop-payment-chain", "multi-hop-payment-chain"] {
        let v = vector(id);
        let chain = compact(&v);
        let late = Timestamp((VECTOR_IAT + 3600) * 1000);
        let opts = options(&v);
        let stale = purser_ap2::VerifyOptions::new(
            purser_ap2::PublicJwk::from_jwk(&v["root_public_jwk"]).unwrap(),
            late,
        )
        .audience(v["verification"]["expected_aud"].as_str().unwrap())
        .nonce(v["verification"]["expected_nonce"].as_str().unwrap());
        assert_eq!(code(&chain, &opts), "accepted");
        assert_eq!(code(&chain, &stale), "expired", "{id}");
        assert_eq!(
            code(&chain, &stale.clone().max_key_binding_age_secs(7200)),
            "accepted",
            "{id}"
        );
    }
}

#[test]
fn a_hop_dated_in_the_future_is_not_yet_valid() {
    let v = vector("single-hop-payment-chain");
    let early = purser_ap2::VerifyOptions::new(
        purser_ap2::PublicJwk::from_jwk(&v["root_public_jwk"]).unwrap(),
        Timestamp((VECTOR_IAT - 3600) * 1000),
    );
    assert_eq!(code(&compact(&v), &early), "not_yet_valid");
}

#[test]
fn a_wrong_vct_is_refused() {
    let v = vector("single-hop-payment-chain");
    assert_eq!(
        code(&compact(&v), &options(&v).final_vct("mandate.payment.1")),
        "accepted"
    );
    assert_eq!(
        code(&compact(&v), &options(&v).final_vct("mandate.checkout.1")),
        "invalid_vct"
    );
}

#[test]
fn another_root_key_is_refused() {
    let checkout_root = vector("single-hop-checkout-chain")["root_public_jwk"].clone();
    let v = vector("single-hop-payment-chain");
    let opts = VerifyOptions::new(
        purser_ap2::PublicJwk::from_jwk(&checkout_root).unwrap(),
        Timestamp((VECTOR_IAT + 10) * 1000),
    );
    assert_eq!(code(&compact(&v), &opts), "invalid_signature");
}

#[test]
fn eddsa_is_off_unless_configured() {
    let v = vector("single-hop-payment-chain");
    let ed = purser_ap2::PublicJwk::ed25519([7u8; 32]);
    let opts = VerifyOptions::new(ed, Timestamp((VECTOR_IAT + 10) * 1000));
    assert_eq!(code(&compact(&v), &opts), "unsupported_algorithm");
}

#[test]
fn truncated_chains_are_refused() {
    let v = vector("multi-hop-payment-chain");
    let hops = split(&compact(&v));
    // Dropping the closed hop leaves an intermediate that is not addressed to the merchant.
    assert_eq!(code(&join(&hops[..2]), &options(&v)), "aud_mismatch");
    // Dropping the middle hop breaks the key chain.
    let skipped = vec![hops[0].clone(), hops[2].clone()];
    assert_eq!(code(&join(&skipped), &options(&v)), "invalid_signature");
    // Without the trailing '~'.
    let chain = compact(&v);
    assert_eq!(code(&chain[..chain.len() - 1], &options(&v)), "malformed");
}

#[test]
fn errors_have_stable_codes_and_sentences() {
    let e = Ap2Error::UnresolvedConstraint {
        constraint_type: "payment.future".into(),
    };
    assert_eq!(e.code(), "unresolved_constraint");
    assert!(e.to_string().contains("payment.future"));
    let e = Ap2Error::InvalidSdHash { hop: 2 };
    assert_eq!(
        e.to_string(),
        "Hop 2 is not bound to the presentation before it (sd_hash / issuer_jwt_hash mismatch)."
    );
}

// ---- AP2 checkout + payment chains built by the fixture ---------------------------------------

mod purchase_chains {
    use purser_ap2::{verify_purchase, Binding, PaymentBinding, PurchaseOptions, VerifyOptions};
    use purser_core::Timestamp;
    use serde_json::json;

    use crate::purchase_fixture::{
        close, closed_payment, keys, open_mandate, payment_opts, purchase, purchase_opts, Purchase,
        PAYMENT_NONCE, T0,
    };
    use crate::support::{b64d, b64e, join, parts, split, unparts};

    fn fixture() -> (Purchase, PurchaseOptions) {
        let p = purchase("USD", &[("sku-1", 1, 1000)], json!([]));
        let opts = purchase_opts(&p.keys);
        (p, opts)
    }

    fn code(checkout: &str, payment: &str, opts: &PurchaseOptions) -> &'static str {
        match verify_purchase(checkout, payment, opts) {
            Ok(_) => "accepted",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn the_unmutated_purchase_is_accepted() {
        let (p, opts) = fixture();
        assert_eq!(code(&p.checkout, &p.payment, &opts), "accepted");
    }

    #[test]
    fn a_flipped_signature_byte_anywhere_is_refused() {
        let (p, opts) = fixture();
        for which in 0..2 {
            let chain = if which == 0 { &p.checkout } else { &p.payment };
            let hops = split(chain);
            for h in 0..hops.len() {
                let (jwt, discs) = parts(&hops[h]);
                let (input, sig) = jwt.rsplit_once('.').unwrap();
                let sig = b64d(sig);
                for byte in [0, 17, 31, 32, 63] {
                    let mut bad = sig.clone();
                    bad[byte] ^= 0x40;
                    let mut m = hops.clone();
                    m[h] = unparts(&format!("{input}.{}", b64e(&bad)), &discs);
                    let m = join(&m);
                    let got = if which == 0 {
                        code(&m, &p.payment, &opts)
                    } else {
                        code(&p.checkout, &m, &opts)
                    };
                    assert_eq!(
                        got, "invalid_signature",
                        "chain {which} hop {h} byte {byte}"
                    );
                }
            }
        }
    }

    #[test]
    fn wrong_nonce_aud_and_vct_are_refused() {
        let (p, opts) = fixture();
        let mut o = opts.clone();
        o.payment = o.payment.nonce("stale");
        assert_eq!(code(&p.checkout, &p.payment, &o), "nonce_mismatch");
        let mut o = opts.clone();
        o.checkout = o.checkout.audience("another-merchant");
        assert_eq!(code(&p.checkout, &p.payment, &o), "aud_mismatch");
        // A checkout chain where the payment chain belongs.
        let mut o = opts.clone();
        o.payment = o
            .payment
            .audience("merchant")
            .nonce(crate::purchase_fixture::CHECKOUT_NONCE);
        assert_eq!(code(&p.checkout, &p.checkout, &o), "invalid_vct");
    }

    #[test]
    fn duplicated_or_swapped_disclosures_are_refused() {
        let (p, opts) = fixture();
        let hops = split(&p.checkout);
        let (jwt, discs) = parts(&hops[1]);
        let mut dup = discs.clone();
        dup.push(discs[0].clone());
        let mut m = hops.clone();
        m[1] = unparts(&jwt, &dup);
        assert_eq!(code(&join(&m), &p.payment, &opts), "disclosure_mismatch");
        // The checkout_jwt disclosure of another purchase.
        let (other, _) = fixture();
        let other_discs = parts(&split(&other.checkout)[1]).1;
        let mut swapped = discs.clone();
        swapped[0] = other_discs[0].clone();
        let mut m = hops.clone();
        m[1] = unparts(&jwt, &swapped);
        assert_eq!(code(&join(&m), &p.payment, &opts), "disclosure_mismatch");
    }

    #[test]
    fn an_expired_hop_is_refused() {
        let (p, mut opts) = fixture();
        let late = Timestamp((T0 + 3600 + 120) * 1000);
        let user = p.keys.user.public_key().unwrap();
        opts.payment = VerifyOptions::new(user.clone(), late)
            .audience("processor")
            .nonce(PAYMENT_NONCE)
            .max_key_binding_age_secs(7200);
        assert_eq!(code(&p.checkout, &p.payment, &opts), "expired");
    }

    /// An open payment mandate whose pre-set payee is a disclosure, closed with `binding`.
    fn with_disclosed_payee(binding: Binding) -> (String, purser_ap2::VerifyOptions) {
        let k = keys();
        let open = open_mandate(
            &k,
            "mandate.payment.open.1",
            json!([{"type": "payment.reference", "conditional_transaction_id": "open-hash"}]),
            json!({"payee": {"id": "m-1", "name": "Acme Store"}}),
        );
        let chain = close(
            &k,
            &open,
            closed_payment("tx", 1, "USD"),
            &[],
            "processor",
            PAYMENT_NONCE,
            binding,
        );
        (chain, payment_opts(&k))
    }

    #[test]
    fn dropping_an_open_disclosure_is_refused_under_sd_hash_and_allowed_under_issuer_jwt_hash() {
        let binding = PaymentBinding {
            transaction_id: "tx".into(),
            open_checkout_hashes: vec!["open-hash".into()],
        };
        for (b, want) in [
            (Binding::SdHash, "invalid_sd_hash"),
            (Binding::IssuerJwtHash, "accepted"),
        ] {
            let (chain, opts) = with_disclosed_payee(b);
            let hops = split(&chain);
            let (jwt, discs) = parts(&hops[0]);
            let payee = discs
                .iter()
                .position(|d| String::from_utf8(b64d(d)).unwrap().contains("\"payee\""))
                .unwrap();
            let mut kept = discs.clone();
            kept.remove(payee);
            let mut m = hops.clone();
            m[0] = unparts(&jwt, &kept);
            let got = match purser_ap2::verify_payment(&join(&m), &opts, &binding, None) {
                Ok(v) => {
                    assert!(v.chain().hops()[0].get("payee").is_none());
                    "accepted"
                }
                Err(e) => e.code(),
            };
            assert_eq!(got, want, "{b:?}");
        }
    }
}
