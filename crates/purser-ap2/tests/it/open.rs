//! Issuing AP2 open mandates from Purser's mandate model: the credentials verify, a full chain
//! closed by the agent's Ed25519 key verifies only where EdDSA is allowed, and every model
//! dimension lands in the constraint the module table names.

use proptest::prelude::*;
use purser_ap2::{
    append_hop, issue_open_mandates, major_number, minor_from_major, open_mandate_payloads,
    parse_chain, sd_digest, verify_chain, Ap2Error, Binding, Ed25519Signer, Es256Signer,
    HopContent, JwsSigner, OpenContext, OpenPayloads, VerifyOptions, MANDATE_ID_CLAIM,
    PURSER_ISSUER_ENFORCED_TYPES, PURSER_STATELESS_TYPES, SALT_BYTES,
};
use purser_core::mandate::{
    Category, ConfirmationPolicy, ConfirmationRule, CountryCode, DateOrInstant, ExecutionWindow,
    Frequency, Instrument, Interval, IntervalLimit, LineItem, Mandate, Mcc, MerchantRef,
    OtherConstraint, Provenance, Recurrence, TranscriptTurn,
};
use purser_core::{Currency, Money, Timestamp};
use serde_json::{json, Map, Value};

use crate::support::{b64d, parts, split, vector};

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn salts() -> impl FnMut() -> Result<[u8; SALT_BYTES], Ap2Error> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; SALT_BYTES])
    }
}

fn cny(minor: i64) -> Money {
    Money {
        minor,
        currency: Currency::CNY,
    }
}

struct Keys {
    purser: Es256Signer,
    agent: Ed25519Signer,
}

fn keys() -> Keys {
    Keys {
        purser: Es256Signer::generate(Some("purser-2026".into())).unwrap().0,
        agent: Ed25519Signer::from_seed(&[7u8; 32], Some("agt_1".into())).unwrap(),
    }
}

fn ctx(agent: &Ed25519Signer) -> OpenContext {
    OpenContext {
        mandate_id: "mdt_boots".into(),
        issuer: "https://wallet.example".into(),
        agent_jwk: agent.public_jwk(),
        iat: T0,
        max_exp: T0 + 30 * DAY,
        timezone: "Asia/Shanghai".into(),
        utc_offset_secs: 8 * 3600,
    }
}

fn boots() -> Mandate {
    let mut m = Mandate {
        description: "Buy hiking boots".into(),
        ..Mandate::default()
    };
    m.what.merchants = vec![MerchantRef {
        id: None,
        name: Some("JD".into()),
        website: Some("jd.com".into()),
    }];
    m.what.line_items = vec![LineItem {
        description: "hiking boots".into(),
        quantity: 1,
        unit: Some("pair".into()),
        max_quantity: Some(2),
    }];
    m.how_much.per_payment_max = Some(cny(80_000));
    m.confirmation = ConfirmationPolicy {
        rules: vec![ConfirmationRule::AutoAtOrBelow {
            amount: cny(50_000),
        }],
    };
    m.provenance = Provenance {
        user_words: "buy me hiking boots under 800 yuan, secret-words-xyz".into(),
        transcript: Some(vec![TranscriptTurn {
            speaker: "user".into(),
            text: "only from JD please, transcript-words-xyz".into(),
        }]),
    };
    m
}

/// Every disclosure of every hop, decoded, as one text.
fn decoded_text(chain: &str) -> String {
    let mut out = String::new();
    for hop in split(chain) {
        let (jwt, ds) = parts(&hop);
        for part in jwt.split('.').take(2) {
            out.push_str(&String::from_utf8_lossy(&b64d(part)));
        }
        for d in ds {
            out.push_str(&String::from_utf8_lossy(&b64d(&d)));
        }
    }
    out
}

fn purser_opts(k: &Keys, now: i64) -> VerifyOptions {
    VerifyOptions::new(k.purser.public_key().unwrap(), Timestamp(now * 1000))
}

#[test]
fn issued_credentials_verify_under_pursers_key_and_carry_the_constraints() {
    let k = keys();
    let creds = issue_open_mandates(&k.purser, &boots(), &ctx(&k.agent), &mut salts()).unwrap();

    let checkout = verify_chain(&creds.checkout, &purser_opts(&k, T0 + 60)).unwrap();
    let mandate = &checkout.hops()[0];
    assert_eq!(mandate["vct"], "mandate.checkout.open.1");
    assert_eq!(mandate["cnf"]["jwk"], k.agent.public_jwk());
    assert_eq!(
        mandate["constraints"][0],
        json!({"type": "purser.allowed_merchants", "allowed": [{"name": "JD", "website": "jd.com"}]})
    );
    let claims = &checkout.claims()[0];
    assert_eq!(claims["iss"], "https://wallet.example");
    assert_eq!(claims[MANDATE_ID_CLAIM], "mdt_boots");
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["exp"], T0 + 30 * DAY);

    let payment = verify_chain(&creds.payment, &purser_opts(&k, T0 + 60)).unwrap();
    let constraints = payment.hops()[0]["constraints"].as_array().unwrap();
    let reference = constraints.last().unwrap();
    assert_eq!(reference["type"], "payment.reference");
    assert_eq!(
        reference["conditional_transaction_id"],
        checkout.presentation_digest(0).unwrap(),
        "payment.reference names the open checkout credential as AP2 hashes it"
    );
    assert_eq!(
        reference["conditional_transaction_id"],
        sd_digest(&creds.checkout)
    );

    // Another key, or after exp, is refused.
    let other = Es256Signer::generate(None).unwrap().0;
    let wrong = VerifyOptions::new(other.public_key().unwrap(), Timestamp((T0 + 60) * 1000));
    assert_eq!(
        verify_chain(&creds.payment, &wrong).unwrap_err().code(),
        "invalid_signature"
    );
    assert_eq!(
        verify_chain(&creds.payment, &purser_opts(&k, T0 + 31 * DAY))
            .unwrap_err()
            .code(),
        "expired"
    );
}

#[test]
fn the_persons_words_and_the_description_are_not_issued() {
    let k = keys();
    let creds = issue_open_mandates(&k.purser, &boots(), &ctx(&k.agent), &mut salts()).unwrap();
    for c in [&creds.checkout, &creds.payment] {
        let text = decoded_text(c);
        assert!(text.contains("mandate."), "decoding works: {text}");
        for secret in [
            "secret-words-xyz",
            "transcript-words-xyz",
            "Buy hiking boots",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
}

#[test]
fn the_root_has_the_shape_of_the_ap2_vectors() {
    // The vector's open checkout mandate: header {alg, typ, kid}; payload {delegate_payload,
    // _sd_alg}; allowed merchants as element disclosures.
    let v = vector("single-hop-checkout-chain");
    let vec_chain = v["compact_serialization"].as_str().unwrap();
    let vec_root = &split(vec_chain)[0];
    let (vec_jwt, _) = parts(vec_root);
    let vec_header: Value =
        serde_json::from_slice(&b64d(vec_jwt.split('.').next().unwrap())).unwrap();

    let k = keys();
    let mut m = boots();
    m.what.merchants = vec![MerchantRef {
        id: Some("m-1".into()),
        name: Some("Acme Store".into()),
        website: None,
    }];
    let creds = issue_open_mandates(&k.purser, &m, &ctx(&k.agent), &mut salts()).unwrap();
    let (jwt, disclosures) = parts(&creds.checkout);
    let mut segs = jwt.split('.');
    let header: Value = serde_json::from_slice(&b64d(segs.next().unwrap())).unwrap();
    let payload: Value = serde_json::from_slice(&b64d(segs.next().unwrap())).unwrap();
    let keys_of = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys_of(&header), keys_of(&vec_header));
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], vec_header["typ"]);
    assert_eq!(payload["_sd_alg"], "sha-256");
    assert_eq!(payload["delegate_payload"].as_array().unwrap().len(), 1);

    // The mandate disclosure is last; the merchant element disclosure references from inside.
    let decode = |d: &str| -> Value { serde_json::from_slice(&b64d(d)).unwrap() };
    let mandate = decode(disclosures.last().unwrap());
    let mandate = &mandate[1];
    assert_eq!(mandate["vct"], "mandate.checkout.open.1");
    let allowed = &mandate["constraints"][0]["allowed"][0]["..."];
    let element = disclosures
        .iter()
        .find(|d| sd_digest(d) == allowed.as_str().unwrap())
        .expect("element disclosure for the merchant");
    assert_eq!(
        decode(element)[1],
        json!({"id": "m-1", "name": "Acme Store"})
    );
    assert_eq!(
        mandate["constraints"][0]["type"],
        "checkout.allowed_merchants"
    );
}

/// The agent closes the payment credential with its Ed25519 key.
fn closed_payment(open: &str, signer: &dyn JwsSigner) -> String {
    let content = HopContent {
        mandate: json!({
            "vct": "mandate.payment.1",
            "transaction_id": "tx-1",
            "payee": {"name": "JD", "website": "jd.com"},
            "payment_amount": {"amount": 79_900, "currency": "CNY"},
            "payment_instrument": {"id": "exclusive_card", "type": "purser.exclusive_card"},
        })
        .as_object()
        .unwrap()
        .clone(),
        disclosable: vec![],
        claims: Map::new(),
    };
    append_hop(
        open,
        signer,
        Binding::SdHash,
        "merchant",
        "n-1",
        T0 + 100,
        false,
        &content,
        &mut salts(),
    )
    .unwrap()
}

#[test]
fn a_chain_closed_by_the_agents_ed25519_key_verifies_only_with_eddsa_allowed() {
    let k = keys();
    let creds = issue_open_mandates(&k.purser, &boots(), &ctx(&k.agent), &mut salts()).unwrap();
    let chain = closed_payment(&creds.payment, &k.agent);
    assert_eq!(parse_chain(&chain).unwrap().hops.len(), 2);
    let (jwt, _) = parts(&split(&chain)[1]);
    let header: Value = serde_json::from_slice(&b64d(jwt.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "kb+sd-jwt");

    let opts = purser_opts(&k, T0 + 120)
        .audience("merchant")
        .nonce("n-1")
        .final_vct("mandate.payment.1");
    let ok = verify_chain(&chain, &opts.clone().allow_eddsa()).unwrap();
    assert_eq!(ok.hops()[1]["payment_amount"]["amount"], 79_900);
    assert_eq!(ok.holder_key(), None);

    let refused = verify_chain(&chain, &opts).unwrap_err();
    assert_eq!(refused.code(), "unsupported_algorithm");
    assert!(matches!(
        refused,
        Ap2Error::UnsupportedAlgorithm { hop: 1, .. }
    ));

    // Closed by another Ed25519 key: the signature does not verify under the cnf key.
    let stranger = Ed25519Signer::from_seed(&[9u8; 32], None).unwrap();
    let forged = closed_payment(&creds.payment, &stranger);
    assert_eq!(
        verify_chain(&forged, &opts.allow_eddsa()).unwrap_err(),
        Ap2Error::InvalidSignature { hop: 1 }
    );
}

#[test]
fn an_all_es256_two_hop_chain_still_verifies_without_eddsa() {
    let k = keys();
    let agent = Es256Signer::generate(Some("agent-es".into())).unwrap().0;
    let mut c = ctx(&k.agent);
    c.agent_jwk = agent.public_jwk();
    let creds = issue_open_mandates(&k.purser, &boots(), &c, &mut salts()).unwrap();
    let chain = closed_payment(&creds.payment, &agent);
    let opts = purser_opts(&k, T0 + 120).audience("merchant").nonce("n-1");
    verify_chain(&chain, &opts).unwrap();
}

#[test]
fn ed25519_signers_agree_from_seed_and_pkcs8() {
    let (generated, pkcs8) = Ed25519Signer::generate(Some("k".into())).unwrap();
    let again = Ed25519Signer::from_pkcs8(&pkcs8, Some("k".into())).unwrap();
    assert_eq!(generated.public_jwk(), again.public_jwk());
    let jwk = generated.public_jwk();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(b64d(jwk["x"].as_str().unwrap()).len(), 32);
    assert!(jwk.get("d").is_none());
    assert_eq!(generated.alg(), "EdDSA");
    assert!(Ed25519Signer::from_pkcs8(b"not a key", None).is_err());
    assert!(format!("{generated:?}").contains("Ed25519Signer"));
}

fn payloads(m: &Mandate) -> OpenPayloads {
    let k = keys();
    open_mandate_payloads(m, &ctx(&k.agent)).unwrap()
}

/// (what the mandate says, credential, the constraint expected there, kind).
type Case = (&'static str, fn(&mut Mandate), &'static str, Value);

#[test]
fn every_dimension_maps_to_its_constraint() {
    let cases: Vec<Case> = vec![
        (
            "merchants with ids",
            |m| {
                m.what.merchants = vec![MerchantRef {
                    id: Some("m-1".into()),
                    name: Some("Acme".into()),
                    website: Some("acme.com".into()),
                }];
            },
            "checkout",
            json!({"type": "checkout.allowed_merchants", "allowed": [{"id": "m-1", "name": "Acme", "website": "acme.com"}]}),
        ),
        (
            "merchants with ids (payee)",
            |m| {
                m.what.merchants = vec![MerchantRef {
                    id: Some("m-1".into()),
                    name: None,
                    website: Some("acme.com".into()),
                }];
            },
            "payment",
            json!({"type": "payment.allowed_payees", "allowed": [{"id": "m-1", "name": "acme.com", "website": "acme.com"}]}),
        ),
        (
            "a merchant without id",
            |m| {
                m.what.merchants = vec![MerchantRef {
                    id: None,
                    name: None,
                    website: Some("jd.com".into()),
                }];
            },
            "payment",
            json!({"type": "purser.allowed_merchants", "allowed": [{"website": "jd.com"}]}),
        ),
        (
            "line items",
            |m| {
                m.what.line_items = vec![LineItem {
                    description: "socks".into(),
                    quantity: 3,
                    unit: None,
                    max_quantity: None,
                }];
            },
            "checkout",
            json!({"type": "purser.line_items", "allowed": [{"description": "socks", "quantity": 3}]}),
        ),
        (
            "line item lifetime",
            |m| {
                m.what.line_items = vec![LineItem {
                    description: "socks".into(),
                    quantity: 1,
                    unit: Some("pair".into()),
                    max_quantity: Some(6),
                }];
            },
            "checkout",
            json!({"type": "purser.line_item_lifetime", "items": [{"description": "socks", "max_quantity": 6}]}),
        ),
        (
            "allowed categories",
            |m| {
                m.what.allowed_categories = vec![Category {
                    label: "coffee".into(),
                    mcc: vec![Mcc::new(5814).unwrap()],
                }];
            },
            "payment",
            json!({"type": "purser.allowed_categories", "allowed": [{"label": "coffee", "mcc": ["5814"]}]}),
        ),
        (
            "blocked categories",
            |m| {
                m.what.blocked_categories = vec![Category {
                    label: "gambling".into(),
                    mcc: vec![Mcc::new(7995).unwrap()],
                }];
            },
            "payment",
            json!({"type": "purser.blocked_categories", "blocked": [{"label": "gambling", "mcc": ["7995"]}]}),
        ),
        (
            "allowed countries",
            |m| {
                m.where_.allowed_countries = vec![CountryCode::parse("cn").unwrap()];
            },
            "payment",
            json!({"type": "purser.allowed_countries", "allowed": ["CN"]}),
        ),
        (
            "blocked countries",
            |m| {
                m.where_.blocked_countries = vec![CountryCode::parse("KP").unwrap()];
            },
            "payment",
            json!({"type": "purser.blocked_countries", "blocked": ["KP"]}),
        ),
        (
            "per payment range",
            |m| {
                m.how_much.per_payment_min = Some(cny(1_000));
                m.how_much.per_payment_max = Some(cny(80_000));
            },
            "payment",
            json!({"type": "payment.amount_range", "currency": "CNY", "max": 80_000, "min": 1_000}),
        ),
        (
            "per payment minimum alone",
            |m| {
                m.how_much.per_payment_min = Some(cny(1_000));
            },
            "payment",
            json!({"type": "purser.amount_min", "currency": "CNY", "min": 1_000}),
        ),
        (
            "per payment interval limit",
            |m| {
                m.how_much.interval_limits = vec![IntervalLimit {
                    interval: Interval::PerPayment,
                    amount: cny(5_000),
                }];
            },
            "payment",
            json!({"type": "payment.amount_range", "currency": "CNY", "max": 5_000}),
        ),
        (
            "budget",
            |m| {
                m.how_much.budget = Some(cny(200_050));
            },
            "payment",
            json!({"type": "payment.budget", "currency": "CNY", "max": 2000.5}),
        ),
        (
            "all-time interval limit",
            |m| {
                m.how_much.interval_limits = vec![IntervalLimit {
                    interval: Interval::AllTime,
                    amount: cny(100_000),
                }];
            },
            "payment",
            json!({"type": "payment.budget", "currency": "CNY", "max": 1000}),
        ),
        (
            "monthly limit",
            |m| {
                m.how_much.interval_limits = vec![IntervalLimit {
                    interval: Interval::Monthly,
                    amount: cny(30_000),
                }];
            },
            "payment",
            json!({"type": "purser.interval_limit", "interval": "monthly", "currency": "CNY", "max": 30_000, "timezone": "Asia/Shanghai"}),
        ),
        (
            "daily limit in the mandate's own zone",
            |m| {
                m.how_much.interval_limits = vec![IntervalLimit {
                    interval: Interval::Daily,
                    amount: cny(3_000),
                }];
                m.when.timezone = Some("Europe/Paris".into());
            },
            "payment",
            json!({"type": "purser.interval_limit", "interval": "daily", "currency": "CNY", "max": 3_000, "timezone": "Europe/Paris"}),
        ),
        (
            "max payments",
            |m| {
                m.how_much.max_payments = Some(3);
            },
            "payment",
            json!({"type": "payment.agent_recurrence", "frequency": "ON_DEMAND", "max_occurrences": 3}),
        ),
        (
            "recurrence with the fewer count",
            |m| {
                m.how_much.max_payments = Some(24);
                m.when.recurrence = Recurrence {
                    frequency: Frequency::Monthly,
                    max_occurrences: Some(12),
                };
            },
            "payment",
            json!({"type": "payment.agent_recurrence", "frequency": "MONTHLY", "max_occurrences": 12}),
        ),
        (
            "weekly recurrence",
            |m| {
                m.when.recurrence = Recurrence {
                    frequency: Frequency::Weekly,
                    max_occurrences: None,
                };
            },
            "payment",
            json!({"type": "payment.agent_recurrence", "frequency": "WEEKLY"}),
        ),
        (
            "execution window",
            |m| {
                m.when.execution_window = Some(ExecutionWindow {
                    start: DateOrInstant::parse("2027-01-10").unwrap(),
                    end: DateOrInstant::parse("2027-01-12T18:00:00+08:00").unwrap(),
                });
            },
            "payment",
            json!({"type": "payment.execution_date", "not_before": "2027-01-10", "not_after": "2027-01-12T10:00:00.000Z"}),
        ),
        (
            "instruments",
            |m| {
                m.with_what.instruments = vec![
                    Instrument::Card {
                        card_id: "card_9".into(),
                    },
                    Instrument::ExclusiveCard,
                ];
            },
            "payment",
            json!({"type": "payment.allowed_payment_instruments", "allowed": [{"id": "card_9", "type": "card"}, {"id": "exclusive_card", "type": "purser.exclusive_card"}]}),
        ),
        (
            "no confirmation rule: always ask",
            |_| {},
            "payment",
            json!({"type": "purser.confirmation", "rules": [{"type": "always_ask"}]}),
        ),
        (
            "confirmation threshold",
            |m| {
                m.confirmation.rules = vec![
                    ConfirmationRule::AutoAtOrBelow {
                        amount: cny(20_000),
                    },
                    ConfirmationRule::AlwaysAsk,
                ];
            },
            "payment",
            json!({"type": "purser.confirmation", "rules": [{"type": "auto_at_or_below", "currency": "CNY", "max": 20_000}, {"type": "always_ask"}]}),
        ),
    ];
    for (name, edit, credential, want) in cases {
        let mut m = Mandate {
            description: "test".into(),
            ..Mandate::default()
        };
        edit(&mut m);
        m.validate()
            .unwrap_or_else(|e| panic!("{name}: the case mandate is invalid: {e}"));
        let p = payloads(&m);
        let (this, other) = match credential {
            "checkout" => (&p.checkout, &p.payment),
            _ => (&p.payment, &p.checkout),
        };
        let kind = want["type"].as_str().unwrap();
        assert_eq!(this.constraint(kind), Some(&want), "{name}");
        if !kind.contains("allowed_merchants") {
            assert_eq!(
                other.constraint(kind),
                None,
                "{name}: only in the {credential} mandate"
            );
        }
        if kind.starts_with("purser.") {
            assert!(
                PURSER_STATELESS_TYPES.contains(&kind)
                    || PURSER_ISSUER_ENFORCED_TYPES.contains(&kind),
                "{name}: {kind} is classified"
            );
        }
    }
}

#[test]
fn only_allow_lists_are_selectively_disclosable() {
    let mut m = boots();
    m.with_what.instruments = vec![Instrument::ExclusiveCard];
    m.what.blocked_categories = vec![Category {
        label: "gambling".into(),
        mcc: vec![],
    }];
    m.where_.blocked_countries = vec![CountryCode::parse("KP").unwrap()];
    let p = payloads(&m);
    let member = |payload: &purser_ap2::OpenPayload, ptr: &str| -> String {
        let (prefix, last) = ptr.rsplit_once('/').unwrap();
        let mandate = Value::Object(payload.mandate.clone());
        let kind = mandate.pointer(prefix).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_owned();
        format!("{kind}.{last}")
    };
    let mut got: Vec<String> = p
        .checkout
        .disclosable_arrays
        .iter()
        .map(|ptr| member(&p.checkout, ptr))
        .collect();
    got.extend(
        p.payment
            .disclosable_arrays
            .iter()
            .map(|ptr| member(&p.payment, ptr)),
    );
    assert_eq!(
        got,
        [
            "purser.allowed_merchants.allowed",
            "purser.line_items.allowed",
            "purser.allowed_merchants.allowed",
            "payment.allowed_payment_instruments.allowed",
        ]
    );
    // Withholding every element disclosure still verifies (it only narrows); the block-lists
    // and limits cannot be withheld because they are not disclosures.
    let k = keys();
    let creds = issue_open_mandates(&k.purser, &m, &ctx(&k.agent), &mut salts()).unwrap();
    let (jwt, ds) = parts(&creds.payment);
    let mandate_only = format!("{jwt}~{}~", ds.last().unwrap());
    let v = verify_chain(&mandate_only, &purser_opts(&k, T0 + 1)).unwrap();
    let c = &v.hops()[0]["constraints"];
    assert_eq!(c[0]["allowed"], json!([]));
    assert!(c
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["blocked"] == json!(["KP"])));
}

#[test]
fn validity_becomes_nbf_and_exp_capped_by_the_callers_maximum() {
    let k = keys();
    let c = ctx(&k.agent);
    let exp_of = |m: &Mandate| payloads(m).payment.claims.clone();

    // A date runs to the end of that day in the zone (UTC+8 here).
    let mut m = boots();
    m.when.valid_until = DateOrInstant::parse("2027-02-10");
    let until = DateOrInstant::parse("2027-02-11T00:00:00+08:00").unwrap();
    let DateOrInstant::Instant(t) = until else {
        unreachable!()
    };
    let claims = exp_of(&m);
    assert_eq!(claims["exp"], t.millis() / 1000 - 1);
    assert_eq!(payloads(&m).payment.mandate["exp"], claims["exp"]);

    // Later than the caller's maximum: capped.
    m.when.valid_until = DateOrInstant::parse("2099-12-31");
    assert_eq!(exp_of(&m)["exp"], c.max_exp);

    // A start after issue becomes nbf: the chain is not yet valid before it.
    m.when.valid_until = None;
    m.when.valid_from = DateOrInstant::parse("2027-02-01T09:00:00Z");
    let DateOrInstant::Instant(start) = m.when.valid_from.unwrap() else {
        unreachable!()
    };
    let claims = exp_of(&m);
    assert_eq!(claims["nbf"], start.millis() / 1000);
    let creds = issue_open_mandates(&k.purser, &m, &c, &mut salts()).unwrap();
    assert_eq!(
        verify_chain(&creds.payment, &purser_opts(&k, T0 + 1))
            .unwrap_err()
            .code(),
        "not_yet_valid"
    );
    // A start already passed is not repeated as nbf.
    m.when.valid_from = DateOrInstant::parse("2020-01-01");
    assert!(exp_of(&m).get("nbf").is_none());

    // Already over, or a lifetime out of bounds: refused.
    m.when.valid_until = DateOrInstant::parse("2020-06-01");
    assert_eq!(
        open_mandate_payloads(&m, &c).unwrap_err().code(),
        "issue_failed"
    );
    let mut long = ctx(&k.agent);
    long.max_exp = T0 + 400 * DAY;
    assert!(open_mandate_payloads(&boots(), &long).is_err());
}

#[test]
fn refusals_name_the_problem() {
    let k = keys();
    let mut m = boots();
    m.other = vec![OtherConstraint {
        kind: "payment.future_thing".into(),
        value: json!({}),
    }];
    let err = open_mandate_payloads(&m, &ctx(&k.agent)).unwrap_err();
    assert!(err.to_string().contains("payment.future_thing"), "{err}");

    let mut c = ctx(&k.agent);
    c.agent_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "secret"});
    let err = open_mandate_payloads(&boots(), &c).unwrap_err();
    assert!(err.to_string().contains("private"), "{err}");
    assert!(!err.to_string().contains("secret"));
}

#[test]
fn major_units_are_exact_or_refused() {
    let money = |minor, currency| Money { minor, currency };
    assert_eq!(
        major_number(money(12_345, Currency::USD))
            .unwrap()
            .to_string(),
        "123.45"
    );
    assert_eq!(
        major_number(money(500, Currency::JPY)).unwrap().to_string(),
        "500"
    );
    assert_eq!(
        major_number(money(1_500, Currency::KWD))
            .unwrap()
            .to_string(),
        "1.5"
    );
    assert_eq!(
        major_number(money(1, Currency::KWD)).unwrap().to_string(),
        "0.001"
    );
    // 17 significant digits do not survive a JSON number: refused, never rounded.
    assert!(major_number(money(12_345_678_901_234_567, Currency::USD)).is_err());
    let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
    assert_eq!(minor_from_major(&n("2000.5"), 2), Some(200_050));
    assert_eq!(minor_from_major(&n("7"), 3), Some(7_000));
    assert_eq!(minor_from_major(&n("0.001"), 2), None);
    assert_eq!(minor_from_major(&n("1e30"), 2), None);
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::JPY),
        Just(Currency::USD),
        Just(Currency::KWD)
    ]
}

fn arb_mandate() -> impl Strategy<Value = Mandate> {
    (
        currency(),
        proptest::option::of(1i64..1_000_000_000_000),
        proptest::option::of(1i64..1_000_000_000_000),
        proptest::option::of(1i64..1_000_000_000_000_000),
        proptest::collection::vec((0usize..6, 1i64..1_000_000_000_000), 0..4),
        proptest::option::of(1u32..1000),
        (0usize..5, proptest::option::of(1u32..100)),
        proptest::collection::vec(("[a-z]{1,8}", proptest::bool::ANY), 0..4),
        proptest::collection::vec(
            ("[a-z ]{1,12}", 1u32..5, proptest::option::of(5u32..50)),
            0..4,
        ),
        proptest::option::of(1i64..1_000_000),
        (proptest::bool::ANY, proptest::bool::ANY),
    )
        .prop_map(
            |(
                cur,
                min,
                max,
                budget,
                limits,
                max_payments,
                (freq, occ),
                merchants,
                items,
                auto,
                (card, countries),
            )| {
                let money = |minor| Money {
                    minor,
                    currency: cur,
                };
                let mut m = Mandate {
                    description: "prop".into(),
                    ..Mandate::default()
                };
                m.how_much.per_payment_min = min.map(money);
                m.how_much.per_payment_max = max.map(money);
                m.how_much.budget = budget.map(money);
                let intervals = [
                    Interval::PerPayment,
                    Interval::Daily,
                    Interval::Weekly,
                    Interval::Monthly,
                    Interval::Yearly,
                    Interval::AllTime,
                ];
                let mut seen = Vec::new();
                for (i, amount) in limits {
                    if !seen.contains(&i) {
                        seen.push(i);
                        m.how_much.interval_limits.push(IntervalLimit {
                            interval: intervals[i],
                            amount: money(amount),
                        });
                    }
                }
                m.how_much.max_payments = max_payments;
                let freqs = [
                    Frequency::OnDemand,
                    Frequency::Daily,
                    Frequency::Weekly,
                    Frequency::Monthly,
                    Frequency::Annually,
                ];
                m.when.recurrence = Recurrence {
                    frequency: freqs[freq],
                    max_occurrences: occ,
                };
                m.what.merchants = merchants
                    .into_iter()
                    .map(|(name, with_id)| MerchantRef {
                        id: with_id.then(|| format!("m_{name}")),
                        name: Some(name.clone()),
                        website: Some(format!("{name}.example")),
                    })
                    .collect();
                m.what.line_items = items
                    .into_iter()
                    .map(|(d, q, maxq)| LineItem {
                        description: format!("x{d}"),
                        quantity: q,
                        unit: None,
                        max_quantity: maxq,
                    })
                    .collect();
                if let Some(a) = auto {
                    m.confirmation.rules =
                        vec![ConfirmationRule::AutoAtOrBelow { amount: money(a) }];
                }
                if card {
                    m.with_what.instruments = vec![
                        Instrument::Card {
                            card_id: "card_1".into(),
                        },
                        Instrument::ExclusiveCard,
                    ];
                }
                if countries {
                    m.where_.blocked_countries = vec![CountryCode::parse("KP").unwrap()];
                }
                m
            },
        )
}

/// Every amount a payload carries, read back in minor units: `max`/`min` are minor units except
/// `payment.budget.max`, a major-unit number.
fn amounts_in(p: &purser_ap2::OpenPayload) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for c in p.constraints() {
        let kind = c["type"].as_str().unwrap().to_owned();
        let code = c.get("currency").and_then(Value::as_str);
        for field in ["max", "min"] {
            if let (Some(n), Some(code)) = (c.get(field), code) {
                let cur = Currency::from_code(code).unwrap();
                let minor = if kind == "payment.budget" {
                    minor_from_major(n.as_number().unwrap(), cur.exponent()).unwrap()
                } else {
                    n.as_i64().unwrap()
                };
                out.push((format!("{kind}.{field}"), minor));
            }
        }
        if kind == "purser.confirmation" {
            for r in c["rules"].as_array().unwrap() {
                if let Some(n) = r.get("max") {
                    out.push(("confirmation".into(), n.as_i64().unwrap()));
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_mandates_map_and_round_trip_their_amounts(m in arb_mandate()) {
        prop_assume!(m.validate().is_ok());
        let p = payloads(&m);
        // Amounts survive to the minor unit, in JPY (0), USD (2) and KWD (3) alike.
        let got = amounts_in(&p.payment);
        let h = &m.how_much;
        let mut want: Vec<(String, i64)> = Vec::new();
        match (h.per_payment_min, h.per_payment_max) {
            (Some(min), Some(max)) => {
                want.push(("payment.amount_range.max".into(), max.minor));
                want.push(("payment.amount_range.min".into(), min.minor));
            }
            (None, Some(max)) => want.push(("payment.amount_range.max".into(), max.minor)),
            (Some(min), None) => want.push(("purser.amount_min.min".into(), min.minor)),
            (None, None) => {}
        }
        if let Some(b) = h.budget { want.push(("payment.budget.max".into(), b.minor)); }
        for l in &h.interval_limits {
            let kind = match l.interval {
                Interval::PerPayment => "payment.amount_range",
                Interval::AllTime => "payment.budget",
                _ => "purser.interval_limit",
            };
            want.push((format!("{kind}.max"), l.amount.minor));
        }
        for r in &m.confirmation.rules {
            if let ConfirmationRule::AutoAtOrBelow { amount } = r {
                want.push(("confirmation".into(), amount.minor));
            }
        }
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        prop_assert_eq!(got_sorted, want);
        let classified = p.checkout.constraints().iter().chain(p.payment.constraints()).all(|c| {
            let t = c["type"].as_str().unwrap_or_default();
            !t.starts_with("purser.") || PURSER_STATELESS_TYPES.contains(&t) || PURSER_ISSUER_ENFORCED_TYPES.contains(&t)
        });
        prop_assert!(classified, "every purser.* type is classified");
    }
}

#[test]
fn an_arbitrary_valid_mandate_issues_and_verifies() {
    let k = keys();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    runner
        .run(&arb_mandate(), |m| {
            prop_assume!(m.validate().is_ok());
            let creds = issue_open_mandates(&k.purser, &m, &ctx(&k.agent), &mut salts()).unwrap();
            let p = payloads(&m);
            for (cred, payload) in [(&creds.checkout, &p.checkout), (&creds.payment, &p.payment)] {
                let v = verify_chain(cred, &purser_opts(&k, T0 + 1)).unwrap();
                let got = v.hops()[0]["constraints"].as_array().unwrap();
                // Disclosed in full, each constraint reads back as mapped.
                for (i, want) in payload.constraints().iter().enumerate() {
                    prop_assert_eq!(&got[i], want);
                }
            }
            Ok(())
        })
        .unwrap();
}

mod purser_namespace {
    //! A verifier evaluates Purser's stateless `purser.*` constraints and accepts the
    //! issuer-enforced ones only with `trust_issuer_enforced` naming the root's `iss`.

    use super::*;
    use purser_ap2::{
        checkout_hash, issue_root, verify_checkout, verify_payment, CheckoutAuthenticity,
        PaymentBinding,
    };

    const TX: &str = "tx-1";
    const ISS: &str = "https://wallet.example";

    /// The payment chain of `m`, closed by the agent paying `payee` CNY `minor`; and the binding.
    fn payment_chain(k: &Keys, m: &Mandate, payee: Value, minor: i64) -> (String, PaymentBinding) {
        let creds = issue_open_mandates(&k.purser, m, &ctx(&k.agent), &mut salts()).unwrap();
        let closed = HopContent {
            mandate: json!({"vct": "mandate.payment.1", "transaction_id": TX, "payee": payee,
                "payment_amount": {"amount": minor, "currency": "CNY"},
                "payment_instrument": {"id": "exclusive_card", "type": "purser.exclusive_card"}})
            .as_object()
            .unwrap()
            .clone(),
            disclosable: vec![],
            claims: Map::new(),
        };
        let chain = append_hop(
            &creds.payment,
            &k.agent,
            Binding::SdHash,
            "merchant",
            "n-1",
            T0 + 100,
            false,
            &closed,
            &mut salts(),
        )
        .unwrap();
        let binding = PaymentBinding {
            transaction_id: TX.into(),
            open_checkout_hashes: vec![sd_digest(&creds.checkout)],
        };
        (chain, binding)
    }

    fn opts(k: &Keys) -> VerifyOptions {
        purser_opts(k, T0 + 120)
            .audience("merchant")
            .nonce("n-1")
            .allow_eddsa()
    }

    fn jd() -> Value {
        json!({"name": "JD", "website": "https://www.jd.com"})
    }

    #[test]
    fn issuer_enforced_constraints_need_the_callers_trust_in_that_issuer() {
        let k = keys();
        let (chain, binding) = payment_chain(&k, &boots(), jd(), 79_900);
        let err = verify_payment(&chain, &opts(&k), &binding, None).unwrap_err();
        assert_eq!(err.code(), "unverifiable_constraint", "{err}");
        assert!(err.to_string().contains("purser.confirmation"), "{err}");

        let trusted = opts(&k).trust_issuer_enforced(ISS);
        let ok = verify_payment(&chain, &trusted, &binding, None).unwrap();
        assert_eq!(ok.amount(), cny(79_900));

        let other = opts(&k).trust_issuer_enforced("https://other.example");
        assert_eq!(
            verify_payment(&chain, &other, &binding, None)
                .unwrap_err()
                .code(),
            "unverifiable_constraint"
        );
    }

    #[test]
    fn stateless_purser_constraints_are_evaluated_by_pursers_own_rules() {
        let k = keys();
        let trusted = opts(&k).trust_issuer_enforced(ISS);
        // Another merchant than the mandate's (matched by website, as Purser does).
        let (chain, binding) = payment_chain(
            &k,
            &boots(),
            json!({"name": "Taobao", "website": "taobao.com"}),
            79_900,
        );
        let err = verify_payment(&chain, &trusted, &binding, None).unwrap_err();
        assert_eq!(err.code(), "constraint_violated", "{err}");
        assert!(
            err.to_string().contains("purser.allowed_merchants"),
            "{err}"
        );

        // A minimum the payment is under.
        let mut m = boots();
        m.how_much.per_payment_max = None;
        m.how_much.per_payment_min = Some(cny(100_000));
        m.confirmation.rules.clear();
        let (chain, binding) = payment_chain(&k, &m, jd(), 79_900);
        let err = verify_payment(&chain, &trusted, &binding, None).unwrap_err();
        assert!(err.to_string().contains("purser.amount_min"), "{err}");
        let (chain, binding) = payment_chain(&k, &m, jd(), 120_000);
        verify_payment(&chain, &trusted, &binding, None).unwrap();

        // Countries need the merchant's country, which a closed mandate does not carry: refused.
        let mut m = boots();
        m.where_.blocked_countries = vec![CountryCode::parse("KP").unwrap()];
        let (chain, binding) = payment_chain(&k, &m, jd(), 79_900);
        let err = verify_payment(&chain, &trusted, &binding, None).unwrap_err();
        assert!(
            err.to_string().contains("purser.blocked_countries"),
            "{err}"
        );
    }

    #[test]
    fn only_the_issuers_own_mandate_is_trusted_for_issuer_enforced_constraints() {
        let k = keys();
        let mut m = boots();
        m.confirmation.rules = vec![ConfirmationRule::AlwaysAsk];
        let creds = issue_open_mandates(&k.purser, &m, &ctx(&k.agent), &mut salts()).unwrap();
        // The agent delegates onward, adding an issuer-enforced rule Purser never saw.
        let sub = Ed25519Signer::from_seed(&[3u8; 32], None).unwrap();
        let middle = HopContent {
            mandate: json!({"vct": "mandate.payment.open.1", "cnf": {"jwk": sub.public_jwk()},
                "constraints": [{"type": "purser.interval_limit", "interval": "daily",
                    "currency": "CNY", "max": 1, "timezone": "UTC"}]})
            .as_object()
            .unwrap()
            .clone(),
            ..HopContent::default()
        };
        let chain = append_hop(
            &creds.payment,
            &k.agent,
            Binding::SdHash,
            "sub-agent",
            "n-0",
            T0 + 90,
            true,
            &middle,
            &mut salts(),
        )
        .unwrap();
        let closed = HopContent {
            mandate: json!({"vct": "mandate.payment.1", "transaction_id": TX, "payee": jd(),
                "payment_amount": {"amount": 79_900, "currency": "CNY"},
                "payment_instrument": {"id": "exclusive_card", "type": "purser.exclusive_card"}})
            .as_object()
            .unwrap()
            .clone(),
            ..HopContent::default()
        };
        let chain = append_hop(
            &chain,
            &sub,
            Binding::SdHash,
            "merchant",
            "n-1",
            T0 + 100,
            false,
            &closed,
            &mut salts(),
        )
        .unwrap();
        let binding = PaymentBinding {
            transaction_id: TX.into(),
            open_checkout_hashes: vec![sd_digest(&creds.checkout)],
        };
        let err = verify_payment(&chain, &opts(&k).trust_issuer_enforced(ISS), &binding, None)
            .unwrap_err();
        assert_eq!(err.code(), "unverifiable_constraint", "{err}");
        assert!(
            matches!(err, Ap2Error::UnverifiableConstraint { hop: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn an_unknown_purser_type_is_unresolved() {
        let k = keys();
        let root = HopContent {
            mandate: json!({"vct": "mandate.payment.open.1", "cnf": {"jwk": k.agent.public_jwk()},
                "constraints": [{"type": "purser.teleport", "max": 1}]})
            .as_object()
            .unwrap()
            .clone(),
            disclosable: vec![],
            claims: json!({"iss": ISS}).as_object().unwrap().clone(),
        };
        let open = issue_root(&k.purser, &root, &mut salts()).unwrap();
        let closed = HopContent {
            mandate: json!({"vct": "mandate.payment.1", "transaction_id": TX, "payee": jd(),
                "payment_amount": {"amount": 1, "currency": "CNY"},
                "payment_instrument": {"id": "x", "type": "card"}})
            .as_object()
            .unwrap()
            .clone(),
            ..HopContent::default()
        };
        let chain = append_hop(
            &open,
            &k.agent,
            Binding::SdHash,
            "merchant",
            "n-1",
            T0 + 100,
            false,
            &closed,
            &mut salts(),
        )
        .unwrap();
        let binding = PaymentBinding {
            transaction_id: TX.into(),
            open_checkout_hashes: vec![],
        };
        let err = verify_payment(&chain, &opts(&k).trust_issuer_enforced(ISS), &binding, None)
            .unwrap_err();
        assert_eq!(err.code(), "unresolved_constraint", "{err}");
    }

    /// A closed checkout mandate for a UCP-like checkout with these items.
    fn checkout_chain(k: &Keys, m: &Mandate, items: Value) -> String {
        let creds = issue_open_mandates(&k.purser, m, &ctx(&k.agent), &mut salts()).unwrap();
        let checkout = json!({"merchant": {"name": "JD", "website": "jd.com"},
            "line_items": items, "currency": "CNY",
            "totals": [{"type": "total", "amount": 79_900}]});
        let b64 = |v: &Value| crate::support::b64e(v.to_string().as_bytes());
        let jwt = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "ES256", "typ": "JWT"})),
            b64(&checkout)
        );
        let closed = HopContent {
            mandate: json!({"vct": "mandate.checkout.1", "checkout_jwt": jwt,
                "checkout_hash": checkout_hash(&jwt)})
            .as_object()
            .unwrap()
            .clone(),
            disclosable: vec!["checkout_jwt".into()],
            claims: Map::new(),
        };
        append_hop(
            &creds.checkout,
            &k.agent,
            Binding::SdHash,
            "merchant",
            "n-1",
            T0 + 100,
            false,
            &closed,
            &mut salts(),
        )
        .unwrap()
    }

    #[test]
    fn a_checkout_is_held_to_pursers_item_list() {
        let k = keys();
        let trusted = opts(&k).trust_issuer_enforced(ISS);
        let boots_item = json!([{"id": "li-1", "quantity": 1,
            "item": {"id": "sku-9", "title": "Waterproof hiking boots"}}]);
        let chain = checkout_chain(&k, &boots(), boots_item.clone());
        verify_checkout(&chain, &trusted, &CheckoutAuthenticity::Unchecked).unwrap();
        // The lifetime quantity is issuer-enforced: refused without trust.
        let err = verify_checkout(&chain, &opts(&k), &CheckoutAuthenticity::Unchecked).unwrap_err();
        assert!(
            err.to_string().contains("purser.line_item_lifetime"),
            "{err}"
        );

        let tv =
            json!([{"id": "li-1", "quantity": 1, "item": {"id": "sku-1", "title": "Television"}}]);
        let err = verify_checkout(
            &checkout_chain(&k, &boots(), tv),
            &trusted,
            &CheckoutAuthenticity::Unchecked,
        )
        .unwrap_err();
        assert_eq!(err.code(), "constraint_violated", "{err}");
        assert!(err.to_string().contains("purser.line_items"), "{err}");

        let two = json!([{"id": "li-1", "quantity": 2,
            "item": {"id": "sku-9", "title": "Waterproof hiking boots"}}]);
        assert!(verify_checkout(
            &checkout_chain(&k, &boots(), two),
            &trusted,
            &CheckoutAuthenticity::Unchecked
        )
        .is_err());
    }
}
