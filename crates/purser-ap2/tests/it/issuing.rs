use purser_ap2::{
    append_hop, issue_root, verify_chain, Ap2Error, Binding, Es256Signer, HopContent,
    VerifyOptions, SALT_BYTES,
};
use purser_core::Timestamp;
use serde_json::{json, Map, Value};

use crate::support::{join, parts, split, unparts};

const T0: i64 = 1_800_000_000;

fn counter_salts() -> impl FnMut() -> Result<[u8; SALT_BYTES], Ap2Error> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; SALT_BYTES])
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

struct Fixture {
    user: Es256Signer,
    agent: Es256Signer,
}

fn fixture() -> Fixture {
    Fixture {
        user: Es256Signer::generate(Some("user".into())).unwrap().0,
        agent: Es256Signer::generate(Some("agent".into())).unwrap().0,
    }
}

fn root(f: &Fixture, claims: Value) -> String {
    let content = HopContent {
        mandate: obj(json!({
            "vct": "mandate.payment.open.1",
            "constraints": [],
            "payee": {"id": "m-1", "name": "Acme Store"},
            "payment_amount": {"amount": 2500, "currency": "USD"},
            "cnf": {"jwk": f.agent.public_jwk()},
        })),
        disclosable: vec!["payee".into(), "payment_amount".into()],
        claims: obj(claims),
    };
    issue_root(&f.user, &content, &mut counter_salts()).unwrap()
}

fn closed(f: &Fixture, chain: &str, binding: Binding, claims: Value) -> String {
    let content = HopContent {
        mandate: obj(json!({"vct": "mandate.payment.1", "transaction_id": "tx-1",
            "payment_amount": {"amount": 2500, "currency": "USD"}})),
        disclosable: vec![],
        claims: obj(claims),
    };
    append_hop(
        chain,
        &f.agent,
        binding,
        "merchant",
        "n-1",
        T0,
        false,
        &content,
        &mut counter_salts(),
    )
    .unwrap()
}

fn opts(f: &Fixture, now: i64) -> VerifyOptions {
    VerifyOptions::new(f.user.public_key().unwrap(), Timestamp(now * 1000))
        .audience("merchant")
        .nonce("n-1")
}

#[test]
fn an_issued_root_round_trips() {
    let f = fixture();
    let chain = root(&f, json!({"iat": T0}));
    let v = verify_chain(&chain, &opts(&f, T0).nonce("x").audience("y"));
    assert_eq!(
        v.unwrap_err().code(),
        "aud_mismatch",
        "a lone root is addressed to no one"
    );
    let v = verify_chain(
        &chain,
        &VerifyOptions::new(f.user.public_key().unwrap(), Timestamp(T0 * 1000)),
    )
    .unwrap();
    assert_eq!(v.hops()[0]["payee"]["name"], "Acme Store");
    assert_eq!(v.hops()[0]["payment_amount"]["amount"], 2500);
    assert_eq!(v.holder_key().and_then(|k| k.kid()), Some("agent"));
    assert!(!format!("{:?}", f.user).contains("BEGIN") && format!("{:?}", f.user).contains("user"));
}

#[test]
fn an_issued_chain_round_trips_with_either_binding() {
    let f = fixture();
    for binding in [Binding::SdHash, Binding::IssuerJwtHash] {
        let chain = closed(&f, &root(&f, json!({})), binding, json!({}));
        let v = verify_chain(&chain, &opts(&f, T0 + 5)).unwrap();
        assert_eq!(v.hops().len(), 2);
        assert_eq!(v.hops()[1]["transaction_id"], "tx-1");
    }
}

#[test]
fn an_issued_hop_past_its_exp_is_expired() {
    let f = fixture();
    let chain = closed(
        &f,
        &root(&f, json!({})),
        Binding::SdHash,
        json!({"exp": T0 + 60}),
    );
    assert!(verify_chain(&chain, &opts(&f, T0 + 60)).is_ok());
    let late = opts(&f, T0 + 121).max_key_binding_age_secs(3600);
    assert_eq!(verify_chain(&chain, &late).unwrap_err().code(), "expired");
    // A root past its exp expires the whole chain.
    let chain = closed(
        &f,
        &root(&f, json!({"exp": T0 - 3600})),
        Binding::SdHash,
        json!({}),
    );
    let e = verify_chain(&chain, &opts(&f, T0)).unwrap_err();
    assert_eq!((e.code(), e), ("expired", Ap2Error::Expired { hop: 0 }));
}

#[test]
fn dropping_a_root_disclosure_is_legitimate_only_under_issuer_jwt_hash() {
    let f = fixture();
    for (binding, want) in [
        (Binding::IssuerJwtHash, "accepted"),
        (Binding::SdHash, "invalid_sd_hash"),
    ] {
        let hops = split(&closed(&f, &root(&f, json!({})), binding, json!({})));
        let (jwt, discs) = parts(&hops[0]);
        // discs[0] is `payee`; the last one is the mandate element itself.
        let mut mutated = hops.clone();
        mutated[0] = unparts(&jwt, &discs[1..]);
        let got = match verify_chain(&join(&mutated), &opts(&f, T0)) {
            Ok(v) => {
                assert!(v.hops()[0].get("payee").is_none());
                "accepted"
            }
            Err(e) => e.code(),
        };
        assert_eq!(got, want, "{binding:?}");
    }
}

#[test]
fn a_hop_signed_by_a_key_the_previous_hop_did_not_name_is_refused() {
    let f = fixture();
    let stranger = Fixture {
        user: Es256Signer::generate(None).unwrap().0,
        agent: Es256Signer::generate(None).unwrap().0,
    };
    let chain = closed(&stranger, &root(&f, json!({})), Binding::SdHash, json!({}));
    assert_eq!(
        verify_chain(&chain, &opts(&f, T0)).unwrap_err().code(),
        "invalid_signature"
    );
}
