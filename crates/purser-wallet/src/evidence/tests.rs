//! The verifier against a bundle made with real keys and real signatures: the agent's Ed25519
//! request signature, Purser's ES256 receipts, AP2 credentials and seal, and ledger entries
//! chained by `purser_core::ledger::journal::chain` — exactly what an export holds.

use purser_ap2::{Es256Signer, JwsSigner};
use purser_core::httpsig::{
    parse_request, sign_request, Ed25519KeyPair, Policy, RequestParts, SignParams,
};
use purser_core::ledger::journal::{chain, Entry, Event};
use purser_core::ledger::{AccountId, Transfer, TransferId, TransferKind};
use purser_core::mandate::{HowMuch, Mandate, Provenance};
use purser_core::{Currency, Money, Timestamp};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::verify::{verify_bundle, TrustRoot};
use super::{seal, SEAL_TYP};
use crate::payments::RECEIPT_TYP;

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const PAY: &str = "pay_evidencetest0000000000";
const USR: &str = "usr_evidencetest0000000000";
const MDT: &str = "mdt_evidencetest0000000000";
const MCH: &str = "mch_evidencetest0000000000";
const AGT: &str = "agt_evidencetest0000000000";
const PRF: &str = "prf_evidencetest0000000000";

struct Keys {
    purser: Es256Signer,
    agent: Ed25519KeyPair,
}

fn keys() -> Keys {
    let (purser, _) = Es256Signer::generate(Some("purser-es256-1".into())).unwrap();
    Keys {
        purser,
        agent: Ed25519KeyPair::generate().unwrap(),
    }
}

fn jwks(k: &Es256Signer) -> Value {
    let mut jwk = k.public_jwk();
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    json!({"keys": [jwk]})
}

fn ms(secs: i64) -> i64 {
    secs * 1000
}

fn tid(s: &str) -> TransferId {
    TransferId::parse(s).unwrap()
}

fn acct(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

fn transfer(
    id: &str,
    kind: TransferKind,
    debit: &str,
    credit: &str,
    amount: i64,
    at: i64,
) -> Entry {
    Entry {
        at: Timestamp(at),
        event: Event::TransferCreated {
            transfer: Transfer {
                id: tid(id),
                kind,
                debit_account_id: acct(debit),
                credit_account_id: acct(credit),
                amount,
                currency: Currency::CNY,
                created_at: Timestamp(at),
            },
        },
    }
}

/// A payment of ¥699.00 that needed the person's confirmation, was approved, captured in full
/// and refunded ¥100.00 — every part of a bundle present.
fn bundle(k: &Keys) -> Value {
    let mandate = Mandate {
        description: "Hiking boots".into(),
        how_much: HowMuch {
            per_payment_max: Some(Money::new(79_999, Currency::CNY)),
            ..HowMuch::default()
        },
        provenance: Provenance {
            user_words: "Help me buy a pair of hiking boots, under 800 yuan".into(),
            transcript: None,
        },
        ..Mandate::default()
    };
    let content = serde_json::to_string(&mandate).unwrap();
    let content_hash = hex::encode(Sha256::digest(content.as_bytes()));
    let agent_jwk = k.agent.public_key().to_jwk();
    let creds = purser_ap2::issue_open_mandates(
        &k.purser,
        &mandate,
        &purser_ap2::OpenContext {
            mandate_id: MDT.into(),
            issuer: "http://127.0.0.1:7420".into(),
            agent_jwk: agent_jwk.clone(),
            iat: T0,
            max_exp: T0 + 30 * 86_400,
            timezone: "Asia/Shanghai".into(),
            utc_offset_secs: 8 * 3600,
        },
        &mut purser_ap2::random_salt,
    )
    .unwrap();

    let body = json!({
        "user_id": USR, "task_id": "task-boots-1", "mandate_id": MDT,
        "merchant": {"id": MCH, "name": "Trail Outfitters", "website": "trail.example"},
        "items": [{"id": "sku-1", "title": "Salomon X Ultra 4 Mid GTX", "quantity": 1,
                   "unit_price": {"amount": 69_900, "currency": "CNY"}}],
        "total": {"amount": 69_900, "currency": "CNY"},
    })
    .to_string();
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method: "POST",
        scheme: Some("http"),
        authority: "127.0.0.1:7420",
        path: "/v1/agent/payments",
        query: None,
        headers: &no_headers,
    };
    let sig = sign_request(
        &k.agent,
        &parts,
        Some(body.as_bytes()),
        &SignParams::new(T0 + 60, "nonce-1"),
    )
    .unwrap();
    let mut headers = vec![
        ("Signature-Input".to_string(), sig.signature_input.clone()),
        ("Signature".to_string(), sig.signature.clone()),
    ];
    if let Some(d) = &sig.content_digest {
        headers.push(("Content-Digest".to_string(), d.clone()));
    }
    let signed = parse_request(
        &RequestParts {
            headers: &headers,
            ..parts
        },
        Some(body.as_bytes()),
        &Policy::purser(),
        Timestamp(ms(T0 + 61)),
    )
    .unwrap();
    let base = String::from_utf8(signed.base.clone()).unwrap();
    let signature = super::super::payments::base64_url(&signed.signature);
    let keyid = k.agent.key_id();

    let items = vec![purser_core::mandate::CartItem {
        id: Some("sku-1".into()),
        title: "Salomon X Ultra 4 Mid GTX".into(),
        quantity: 1,
        unit_price: Some(Money::new(69_900, Currency::CNY)),
    }];
    let cart = super::verify::cart_hash(MCH, &items, Money::new(69_900, Currency::CNY));

    let receipt = k
        .purser
        .sign_jwt(
            RECEIPT_TYP,
            &json!({
                "iss": "http://127.0.0.1:7420", "iat": T0 + 61, "payment_id": PAY,
                "decision": "needs_confirmation",
                "reasons": [{"code": "confirmation_required", "message": "You asked to confirm every payment under this mandate."}],
                "user_id": USR, "agent": {"id": AGT, "kid": keyid},
                "request": {"sha256": hex::encode(Sha256::digest(base.as_bytes())), "signature": signature},
                "task_id": "task-boots-1",
                "mandate": {"id": MDT, "content_hash": content_hash},
                "merchant_id": MCH, "checkout_id": null,
                "amount": {"amount": 69_900, "currency": "CNY"},
                "credential": null,
                "confirmation": {"id": "cnf_x", "expires_at": "2026-01-01T00:16:01.000Z"},
            }),
        )
        .unwrap();
    let confirmation_receipt = k
        .purser
        .sign_jwt(
            RECEIPT_TYP,
            &json!({
                "iss": "http://127.0.0.1:7420", "iat": T0 + 120, "payment_id": PAY, "decision": "approved",
                "confirmation": {"id": "cnf_x", "decided_by": USR, "method": "pin", "decided_at": "2026-01-01T00:02:00.000Z"},
                "user_id": USR, "agent": {"id": AGT}, "merchant_id": MCH,
                "amount": {"amount": 69_900, "currency": "CNY"},
                "credential": {"merchant_id": MCH, "max_amount": 69_900, "currency": "CNY",
                               "expires_at": "2026-01-01T00:32:00.000Z", "checkout_id": null, "single_use": true},
            }),
        )
        .unwrap();
    let wallet = format!("wallet:{USR}:CNY");
    let merchant = format!("merchant:{MCH}:CNY");
    let entries = vec![
        transfer(
            &format!("hold:{PAY}"),
            TransferKind::Hold {
                timeout_ms: Some(2_100_000),
            },
            &wallet,
            &merchant,
            69_900,
            ms(T0 + 61),
        ),
        transfer(
            "topup:someone-else",
            TransferKind::Single,
            "rail:sandbox:CNY",
            &wallet,
            5,
            ms(T0 + 62),
        ),
        transfer(
            &format!("capture:{PAY}"),
            TransferKind::Post {
                pending_id: tid(&format!("hold:{PAY}")),
            },
            &wallet,
            &merchant,
            69_900,
            ms(T0 + 200),
        ),
        transfer(
            &format!("refund:{PRF}"),
            TransferKind::Single,
            &merchant,
            &wallet,
            10_000,
            ms(T0 + 300),
        ),
    ];
    let chained = chain(&entries, 41, [7u8; 32]);
    let mut prev = [7u8; 32];
    let mut ledger_entries = Vec::new();
    for c in &chained {
        if c.entry
            .transfer_id()
            .is_some_and(|t| t.as_str() != "topup:someone-else")
        {
            ledger_entries.push(json!({
                "seq": c.seq, "at": c.entry.at.0, "kind": c.entry.kind(),
                "transfer_id": c.entry.transfer_id().map(|t| t.as_str()),
                "body": c.body, "hash": hex::encode(c.hash), "prev_hash": hex::encode(prev),
            }));
        }
        prev = c.hash;
    }
    let head = chained.last().unwrap();

    let doc = json!({
        "format": super::FORMAT,
        "issuer": "http://127.0.0.1:7420",
        "exported_at": "2026-01-01T01:00:00.000Z",
        "payment": {
            "id": PAY, "status": "captured", "user_id": USR, "agent_id": AGT, "binding_id": "bnd_x",
            "task_id": "task-boots-1", "mandate_id": MDT,
            "merchant": {"id": MCH, "name": "Trail Outfitters", "website": "trail.example", "country": "CN", "category": "5661"},
            "checkout_id": null,
            "amount": {"amount": 69_900, "currency": "CNY"},
            "captured": {"amount": 69_900, "currency": "CNY"},
            "refunded": {"amount": 10_000, "currency": "CNY"},
            "funding_source": "wallet", "cart_hash": cart, "max_quantity": 1,
            "decline_code": null, "reasons": [{"code": "confirmation_required", "message": "You asked to confirm every payment under this mandate."}],
            "credential_expires_at": "2026-01-01T00:32:00.000Z",
            "created_at": "2026-01-01T00:01:01.000Z", "updated_at": "2026-01-01T00:05:00.000Z",
            "refunds": [{"id": PRF, "amount": {"amount": 10_000, "currency": "CNY"}, "status": "succeeded",
                         "created_at": "2026-01-01T00:05:00.000Z", "updated_at": "2026-01-01T00:05:00.000Z"}],
        },
        "mandate": {
            "id": MDT, "content": content, "content_hash": content_hash, "timezone": "Asia/Shanghai",
            "status": "active", "consented_at": "2026-01-01T00:00:00.000Z", "revoked_at": null, "revoked_reason": null,
            "credentials": {"issuer_kid": "purser-es256-1", "agent_kid": keyid, "checkout": creds.checkout,
                            "payment": creds.payment, "expires_at": "2026-01-31T00:00:00.000Z"},
        },
        "request": {"method": "POST", "path": "/v1/agent/payments", "keyid": keyid, "signature_base": base,
                    "signature": signature, "agent_jwk": agent_jwk, "body": body},
        "decision_receipt": receipt,
        "confirmation": {"id": "cnf_x", "status": "approved", "created_at": "2026-01-01T00:01:01.000Z",
                         "expires_at": "2026-01-01T00:16:01.000Z", "decided_at": "2026-01-01T00:02:00.000Z",
                         "method": "pin", "receipt": confirmation_receipt},
        "timeline": [
            {"id": "evt_1", "type": "payment.confirmation_requested", "at": "2026-01-01T00:01:01.000Z", "data": {"payment_id": PAY, "status": "needs_confirmation"}},
            {"id": "evt_2", "type": "payment.approved", "at": "2026-01-01T00:02:00.000Z", "data": {"payment_id": PAY, "status": "approved"}},
            {"id": "evt_3", "type": "payment.captured", "at": "2026-01-01T00:03:20.000Z", "data": {"payment_id": PAY, "status": "captured"}},
            {"id": "evt_4", "type": "payment.refunded", "at": "2026-01-01T00:05:00.000Z", "data": {"payment_id": PAY, "refund_id": PRF}},
        ],
        "timeline_complete": true,
        "ledger": {"entries": ledger_entries, "head": {"seq": head.seq, "hash": hex::encode(head.hash), "at": head.entry.at.0}},
        "keys": jwks(&k.purser),
    });
    let Value::Object(m) = doc else {
        unreachable!()
    };
    seal(m, &k.purser, "http://127.0.0.1:7420", T0 + 3600).unwrap()
}

fn text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// Change one character of the string at `ptr` (one byte: an ASCII letter or digit becomes
/// another), or add one to the number there.
fn flip(doc: &Value, ptr: &str) -> Value {
    let mut d = doc.clone();
    let v = d.pointer_mut(ptr).unwrap_or_else(|| panic!("no {ptr}"));
    match v {
        Value::String(s) => {
            let bytes = s.as_bytes();
            let i = (bytes.len() / 2..bytes.len())
                .chain(0..bytes.len() / 2)
                .find(|&i| bytes[i].is_ascii_alphanumeric())
                .unwrap_or_else(|| panic!("nothing to flip at {ptr}"));
            let mut b = bytes.to_vec();
            b[i] = match b[i] {
                b'a' => b'b',
                b'0' => b'1',
                b'A' => b'B',
                _ => b'a',
            };
            *s = String::from_utf8(b).unwrap();
        }
        Value::Number(n) => *v = json!(n.as_i64().unwrap() + 1),
        other => panic!("cannot flip {other}"),
    }
    d
}

#[test]
fn a_real_bundle_verifies_and_says_what_it_proves() {
    let k = keys();
    let b = bundle(&k);
    let r = verify_bundle(&text(&b), None);
    assert!(r.ok, "{:?}", r.failure);
    assert_eq!(r.trust_root, TrustRoot::Bundle);
    assert_eq!(r.payment_id.as_deref(), Some(PAY));
    let words = r.proven.join("\n");
    for needle in [
        "The agent agt_evidencetest0000000000 with key",
        "to pay ¥699.00 to Trail Outfitters (trail.example, mch_evidencetest0000000000) for Salomon X Ultra 4 Mid GTX",
        "held the money and asked the person to confirm it",
        "under mandate mdt_evidencetest0000000000 (“Help me buy a pair of hiking boots, under 800 yuan”), which the person consented to at 2026-01-01T00:00:00.000Z",
        "AP2 credentials",
        "The person's confirmation is approved at 2026-01-01T00:02:00.000Z; Purser signed a receipt of it",
        "The merchant captured ¥699.00 at",
        "¥100.00 was refunded at",
        "Ledger entries #42, #44, #45 link into Purser's hash chain",
        "the head at export was #45",
        "Purser sealed this bundle",
    ] {
        assert!(words.contains(needle), "missing {needle:?} in:\n{words}");
    }
    assert!(
        r.not_proven.iter().any(|s| s.contains("--keys")),
        "{:?}",
        r.not_proven
    );
    // Compact or indented, any member order: the same bundle.
    assert!(verify_bundle(&b.to_string(), None).ok);
}

#[test]
fn a_one_byte_change_in_each_part_fails_and_names_that_part() {
    let k = keys();
    let b = bundle(&k);
    let cases: &[(&str, &str)] = &[
        ("/request/signature_base", "request"),
        ("/request/signature", "request"),
        ("/request/body", "request"),
        ("/request/keyid", "request"),
        ("/request/agent_jwk/x", "request"),
        ("/payment/amount/amount", "payment"),
        ("/payment/merchant/id", "payment"),
        ("/payment/user_id", "payment"),
        ("/payment/mandate_id", "payment"),
        ("/payment/cart_hash", "payment"),
        ("/payment/captured/amount", "payment"),
        ("/payment/refunded/amount", "payment"),
        ("/payment/refunds/0/amount/amount", "payment"),
        ("/payment/agent_id", "decision_receipt"),
        ("/mandate/content", "mandate"),
        ("/mandate/content_hash", "mandate"),
        ("/mandate/id", "mandate"),
        ("/mandate/credentials/checkout", "mandate.credentials"),
        ("/mandate/credentials/payment", "mandate.credentials"),
        ("/decision_receipt", "decision_receipt"),
        ("/confirmation/receipt", "confirmation"),
        ("/confirmation/id", "confirmation"),
        ("/confirmation/status", "confirmation"),
        ("/timeline/1/data/payment_id", "timeline"),
        ("/ledger/entries/0/body", "ledger"),
        ("/ledger/entries/1/hash", "ledger"),
        ("/ledger/entries/1/prev_hash", "ledger"),
        ("/ledger/entries/2/seq", "ledger"),
        ("/ledger/head/hash", "ledger"),
        ("/seal", "seal"),
        // No other check covers these: the seal does.
        ("/exported_at", "seal"),
        ("/issuer", "seal"),
        ("/payment/binding_id", "seal"),
        ("/payment/created_at", "seal"),
        ("/payment/reasons/0/message", "seal"),
        ("/mandate/timezone", "seal"),
        ("/mandate/credentials/expires_at", "seal"),
        ("/confirmation/method", "seal"),
        ("/timeline/2/at", "seal"),
        ("/timeline/3/data/refund_id", "seal"),
        ("/request/path", "seal"),
    ];
    for (ptr, part) in cases {
        let r = verify_bundle(&text(&flip(&b, ptr)), None);
        let f = r
            .failure
            .unwrap_or_else(|| panic!("a change at {ptr} was not caught"));
        assert_eq!(f.part, *part, "a change at {ptr}: {f:?}");
        assert!(!r.ok && r.proven.is_empty());
    }
    // The seal's own claim: the digest of everything else.
    let r = verify_bundle(&text(&flip(&b, "/exported_at")), None);
    assert_eq!(r.failure.unwrap().code, "seal_mismatch");
}

#[test]
fn changing_any_letter_or_digit_of_the_file_is_caught() {
    let k = keys();
    let file = bundle(&k).to_string().into_bytes();
    let mut tried = 0;
    // Every 7th byte: covers every part without the full sweep's time in a debug build.
    for i in (0..file.len()).step_by(7) {
        if !file[i].is_ascii_alphanumeric() {
            continue;
        }
        let mut f = file.clone();
        f[i] = if f[i] == b'a' { b'b' } else { b'a' };
        let Ok(t) = String::from_utf8(f) else {
            continue;
        };
        let r = verify_bundle(&t, None);
        assert!(
            !r.ok,
            "a change at byte {i} ({:?}) was not caught",
            &t[i.saturating_sub(30)..(i + 30).min(t.len())]
        );
        tried += 1;
    }
    assert!(tried > 300, "{tried}");
}

#[test]
fn the_keys_file_is_the_trust_root_when_given() {
    let k = keys();
    let b = bundle(&k);
    // Purser's published keys: verifies, and says so.
    let published = jwks(&k.purser).to_string();
    let r = verify_bundle(&text(&b), Some(&published));
    assert!(r.ok, "{:?}", r.failure);
    assert_eq!(r.trust_root, TrustRoot::KeysFile);
    assert!(!r.not_proven.iter().any(|s| s.contains("--keys")));

    // A forger with their own key signs everything again and puts that key in the bundle:
    // consistent on its own, refused against Purser's keys.
    let forger = keys();
    let forged = bundle(&Keys {
        purser: forger.purser,
        agent: k.agent,
    });
    assert!(verify_bundle(&text(&forged), None).ok);
    let r = verify_bundle(&text(&forged), Some(&published));
    let f = r.failure.unwrap();
    assert_eq!(
        (f.part, f.code),
        ("mandate.credentials", "credential_invalid"),
        "{f:?}"
    );
    assert!(f.message.contains("signed by another key"), "{f:?}");

    // A keys file without the signing key: named as untrusted.
    let (other, _) = Es256Signer::generate(Some("other".into())).unwrap();
    let r = verify_bundle(&text(&b), Some(&jwks(&other).to_string()));
    let f = r.failure.unwrap();
    assert_eq!(
        (f.part, f.code),
        ("mandate.credentials", "key_untrusted"),
        "{f:?}"
    );
    // Not a key set at all.
    let f = verify_bundle(&text(&b), Some("{}")).failure.unwrap();
    assert_eq!((f.part, f.code), ("keys", "keys_invalid"));
}

#[test]
fn ambiguous_or_foreign_files_are_refused() {
    let k = keys();
    let b = bundle(&k);
    let t = b.to_string();
    // A duplicated member: two readers could see two amounts.
    let dup = t.replacen("\"format\":", "\"format\":\"x\",\"format\":", 1);
    assert_eq!(
        verify_bundle(&dup, None).failure.unwrap().code,
        "bundle_unreadable"
    );
    // A fraction where an integer belongs.
    let frac = t.replacen("\"max_quantity\":1", "\"max_quantity\":1.0", 1);
    assert_eq!(
        verify_bundle(&frac, None).failure.unwrap().code,
        "bundle_unreadable"
    );
    assert_eq!(
        verify_bundle("{}", None).failure.unwrap().code,
        "format_unknown"
    );
    assert_eq!(
        verify_bundle("not json", None).failure.unwrap().part,
        "bundle"
    );
    assert_eq!(verify_bundle("", None).failure.unwrap().part, "bundle");
    // A seal made by a key of the bundle over another payment's bundle does not transfer.
    let mut other = b.clone();
    other["seal"] = json!(k
        .purser
        .sign_jwt(
            SEAL_TYP,
            &json!({"payment_id": "pay_other", "sha256": "00"})
        )
        .unwrap());
    assert_eq!(
        verify_bundle(&text(&other), None).failure.unwrap().code,
        "seal_mismatch"
    );
}

#[test]
fn a_declined_payment_without_money_verifies() {
    let k = keys();
    let mut b = bundle(&k);
    // Re-issue the receipt as a decline, with no ledger entries, no confirmation.
    let receipt = b["decision_receipt"].as_str().unwrap().to_string();
    let claims: Map<String, Value> = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            receipt.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let mut claims = Value::Object(claims);
    claims["decision"] = json!("declined");
    claims["reasons"] =
        json!([{"code": "above_maximum", "message": "This mandate allows ¥799.99 per payment."}]);
    b["decision_receipt"] = json!(k.purser.sign_jwt(RECEIPT_TYP, &claims).unwrap());
    b["payment"]["status"] = json!("declined");
    b["payment"]["captured"]["amount"] = json!(0);
    b["payment"]["refunded"]["amount"] = json!(0);
    b["payment"]["refunds"] = json!([]);
    b["confirmation"] = Value::Null;
    b["ledger"]["entries"] = json!([]);
    let Value::Object(m) = b else { unreachable!() };
    let b = seal(m, &k.purser, "x", T0).unwrap();
    let r = verify_bundle(&text(&b), None);
    assert!(r.ok, "{:?}", r.failure);
    let words = r.proven.join("\n");
    assert!(words.contains("Purser declined it"), "{words}");
    assert!(words.contains("No ledger entries"), "{words}");

    // Declined, yet the summary claims a capture: caught.
    let mut bad = b.clone();
    bad["payment"]["captured"]["amount"] = json!(100);
    let Value::Object(m) = bad else {
        unreachable!()
    };
    let bad = seal(m, &k.purser, "x", T0).unwrap();
    let f = verify_bundle(&text(&bad), None).failure.unwrap();
    assert_eq!(f.part, "payment", "{f:?}");
}
