//! Evidence bundles end to end, on SQLite and PostgreSQL.
//!
//! Payments are made through the wallet services exactly as the server makes them (a real
//! RFC 9421 signature over the real body, a registered merchant, a consented mandate, the
//! ledger hold, the merchant's capture, void and refund); then `purser serve` runs on the same
//! data and the CLI exports each bundle over HTTP and verifies it offline — and refuses it once
//! a byte is changed. A hold that expired by itself in the ledger is found by time and proven.
//!
//! `http_only_payment_export_and_verify` drives the same story over HTTP alone (signed agent
//! payment, merchant registration, the person's PIN approval, the merchant's capture).

use std::path::Path;
use std::sync::Arc;

use purser_core::httpsig::{
    parse_request, sign_request, Ed25519KeyPair, Policy, RequestParts, SignParams,
};
use purser_core::mandate::{
    ConfirmationPolicy, ConfirmationRule, HowMuch, Mandate, Provenance, When,
};
use purser_core::{Clock, Currency, ManualClock, Money, Timestamp};
use purser_store::{Ledger, StoreConfig};
use purser_wallet::evidence::verify::{verify_bundle, TrustRoot};
use purser_wallet::merchants::{MerchantCaller, NewMerchant};
use purser_wallet::payments::confirm::ConfirmAction;
use purser_wallet::payments::redeem::{CaptureBody, RefundBody};
use purser_wallet::payments::PaymentBody;
use purser_wallet::{AgentCaller, Principal, Wallet};
use serde_json::{json, Value};

use crate::both;
use crate::people::{self, card_body, cny, unique, Person, VISA_OK};
use crate::support::{bin, start, Storage, TempDir};

fn store_of(dir: &Path, storage: &Storage) -> StoreConfig {
    match storage.url() {
        Some(url) => StoreConfig::Postgres {
            url: url.to_string(),
        },
        None => StoreConfig::sqlite_in(dir),
    }
}

async fn open(store: &StoreConfig, dir: &Path, clock: Arc<dyn Clock>) -> (Arc<Ledger>, Wallet) {
    crate::mandates::open_wallet_at(store, dir, clock).await
}

fn real_now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    )
}

/// A person with ¥2,000 in their wallet, their bound agent, a registered merchant and a
/// consented mandate: ¥1,499.99 per payment; the person confirms anything above ¥1,000.
struct Fixture {
    token: String,
    user: Principal,
    agent_id: String,
    key: Ed25519KeyPair,
    merchant: MerchantCaller,
    mandate_id: String,
}

const WORDS: &str = "Help me buy a pair of hiking boots, under 800 yuan";

/// ¥1,499.99 per payment; the person confirms anything above ¥1,000.
fn boots_mandate() -> Mandate {
    let cny_ = |m| Money::new(m, Currency::CNY);
    Mandate {
        description: "Hiking boots".into(),
        how_much: HowMuch {
            per_payment_max: Some(cny_(149_999)),
            ..HowMuch::default()
        },
        when: When {
            timezone: Some("Asia/Shanghai".into()),
            ..When::default()
        },
        confirmation: ConfirmationPolicy {
            rules: vec![ConfirmationRule::AutoAtOrBelow {
                amount: cny_(100_000),
            }],
        },
        provenance: Provenance {
            user_words: WORDS.into(),
            transcript: None,
        },
        ..Mandate::default()
    }
}

async fn fixture(w: &Wallet) -> Fixture {
    let u = w.create_user("Erin", None).await.expect("user");
    let (_, tok) = w
        .complete_setup(&u.setup_token, "test")
        .await
        .expect("setup");
    let user = w.authenticate(&tok.token).await.expect("principal");
    let key = Ed25519KeyPair::generate().expect("key");
    let agent = w
        .register_agent(
            &user,
            "Shopping agent",
            "Test Operator Ltd",
            &key.public_key().to_jwk(),
            Some(&key.possession_proof(&user.user_id).expect("proof")),
            None,
        )
        .await
        .expect("agent");
    let b = w
        .request_binding(
            &caller(&key, &agent.id, b"{}"),
            &user.user_id,
            "buy hiking gear",
        )
        .await
        .expect("binding");
    w.decide_binding(&user, &b.id, purser_wallet::bindings::Decision::Approve)
        .await
        .expect("approve");
    let card = w
        .add_card(
            &user,
            serde_json::from_value(card_body(VISA_OK, "123")).expect("card"),
        )
        .await
        .expect("card");
    let amount: purser_wallet::funds::Amount =
        serde_json::from_value(cny(200_000)).expect("amount");
    let t = w
        .top_up(&user, &card.id, &amount, &unique("topup"))
        .await
        .expect("top-up");
    assert_eq!(t.status, "succeeded");
    let m = w
        .create_merchant(&NewMerchant {
            name: "Trail Outfitters".into(),
            website: "https://trail.example".into(),
            country: Some("CN".into()),
            category: Some("5661".into()),
            webhook_url: None,
        })
        .await
        .expect("merchant");
    let mandate = boots_mandate();
    let md = w
        .create_mandate(&user, &agent.id, mandate)
        .await
        .expect("mandate");
    let md = w
        .consent_mandate(&user, &md.id, &md.content_hash, "http://127.0.0.1:7420")
        .await
        .expect("consent");
    Fixture {
        token: tok.token,
        user,
        agent_id: agent.id,
        key,
        merchant: MerchantCaller {
            merchant_id: m.merchant.id,
        },
        mandate_id: md.id,
    }
}

/// The agent behind a request signed with `key` over `body`, as the server's extractor makes
/// it: the real signature base and signature.
fn caller(key: &Ed25519KeyPair, agent_id: &str, body: &[u8]) -> AgentCaller {
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method: "POST",
        scheme: Some("http"),
        authority: "127.0.0.1:7420",
        path: "/v1/agent/payments",
        query: None,
        headers: &no_headers,
    };
    let now = real_now();
    let sig = sign_request(
        key,
        &parts,
        Some(body),
        &SignParams::new(now.0 / 1000, unique("nonce")),
    )
    .expect("sign");
    let mut headers = vec![
        ("Signature-Input".to_string(), sig.signature_input),
        ("Signature".to_string(), sig.signature),
    ];
    if let Some(d) = sig.content_digest {
        headers.push(("Content-Digest".to_string(), d));
    }
    let signed = parse_request(
        &RequestParts {
            headers: &headers,
            ..parts
        },
        Some(body),
        &Policy::purser(),
        now,
    )
    .expect("a valid signature");
    AgentCaller {
        agent_id: agent_id.to_string(),
        kid: signed.keyid.clone(),
        nonce: signed.nonce.clone(),
        signed_base: String::from_utf8(signed.base.clone()).expect("utf-8 base"),
        signature: signed.signature,
        jwk: key.public_key().to_jwk(),
    }
}

/// Ask to pay `minor` CNY for `title`; returns the payment as the agent sees it.
async fn pay(
    w: &Wallet,
    f: &Fixture,
    title: &str,
    minor: i64,
    ttl: Option<i64>,
) -> purser_wallet::payments::PaymentView {
    let mut body = json!({
        "user_id": f.user.user_id, "task_id": "task-hiking", "mandate_id": f.mandate_id,
        "merchant": {"id": f.merchant.merchant_id, "name": "Trail Outfitters", "website": "trail.example"},
        "items": [{"id": "sku-1", "title": title, "quantity": 1, "unit_price": cny(minor)}],
        "total": cny(minor),
    });
    if let Some(t) = ttl {
        body["credential_ttl_seconds"] = json!(t);
    }
    let raw = body.to_string().into_bytes();
    let parsed: PaymentBody = serde_json::from_slice(&raw).expect("payment body");
    let (view, replayed) = w
        .authorize(
            &caller(&f.key, &f.agent_id, &raw),
            &unique("pay"),
            &raw,
            parsed,
        )
        .await
        .expect("a decision");
    assert!(!replayed);
    view
}

fn amount(minor: i64) -> purser_wallet::funds::Amount {
    serde_json::from_value(cny(minor)).expect("amount")
}

/// The bundle verifies; its sentences contain each of `says`.
fn assert_verifies(doc: &Value, keys: &Value, says: &[&str]) {
    let r = verify_bundle(&doc.to_string(), Some(&keys.to_string()));
    assert!(
        r.ok,
        "{:?}\n{}",
        r.failure,
        serde_json::to_string_pretty(doc).unwrap_or_default()
    );
    assert_eq!(r.trust_root, TrustRoot::KeysFile);
    let words = r.proven.join("\n");
    for s in says {
        assert!(words.contains(s), "missing {s:?} in:\n{words}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

both!(export_and_verify_through_the_cli, |storage| {
    let dir = TempDir::new("evidence");
    let store = store_of(dir.path(), &storage);
    let rt = runtime();
    let (token, other_token, captured, voided, declined) = rt.block_on(async {
        let (ledger, w) = open(&store, dir.path(), Arc::new(purser_store::SystemClock)).await;
        let f = fixture(&w).await;
        let keys = w.jwks().await.expect("jwks");

        // Approved, captured in full, ¥100.00 refunded.
        let p1 = pay(&w, &f, "Salomon X Ultra 4 Mid GTX", 69_900, None).await;
        assert_eq!(p1.status, "approved", "{p1:?}");
        let token = p1
            .credential
            .as_ref()
            .and_then(|c| c.token.clone())
            .expect("credential");
        let c = w
            .capture(
                &f.merchant,
                &CaptureBody {
                    credential: token,
                    amount: amount(69_900),
                    checkout_id: None,
                },
            )
            .await
            .expect("capture");
        assert_eq!(c.status, "captured");
        w.refund(
            &f.merchant,
            &p1.id,
            &unique("refund"),
            &RefundBody {
                amount: amount(10_000),
                reason: Some("laces missing".into()),
            },
        )
        .await
        .expect("refund");
        let doc = w.evidence(&f.user, &p1.id).await.expect("evidence");
        assert_eq!(doc["format"], "purser-evidence/1");
        assert_verifies(
            &doc,
            &keys,
            &[
                "to pay ¥699.00 to Trail Outfitters (trail.example",
                "Purser approved it at",
                WORDS,
                "which the person consented to at",
                "AP2 credentials",
                "The merchant captured ¥699.00 at",
                "¥100.00 was refunded at",
                "link into Purser's hash chain",
            ],
        );

        // Approved, then voided by the merchant.
        let p2 = pay(&w, &f, "Merino hiking socks", 5_900, None).await;
        assert_eq!(p2.status, "approved", "{p2:?}");
        w.void(&f.merchant, &p2.id).await.expect("void");
        let doc = w.evidence(&f.user, &p2.id).await.expect("evidence");
        assert_verifies(&doc, &keys, &["¥59.00 was held", "released (voided)"]);

        // Above ¥1,000: the person approves with their PIN, then the merchant captures.
        w.set_pin(&f.user, "482916", None).await.expect("pin");
        let p4 = pay(&w, &f, "Down jacket", 109_900, None).await;
        assert_eq!(p4.status, "needs_confirmation", "{p4:?}");
        let url = p4
            .confirmation
            .as_ref()
            .and_then(|c| c.url.clone())
            .expect("confirmation url");
        let link = url.rsplit('/').next().expect("link token").to_string();
        w.decide_confirmation(&link, "482916", ConfirmAction::Approve)
            .await
            .expect("approve");
        let approved = w
            .payment_for_agent(&caller(&f.key, &f.agent_id, b"{}"), &p4.id)
            .await
            .expect("payment");
        let token = approved
            .credential
            .as_ref()
            .and_then(|c| c.token.clone())
            .expect("credential");
        w.capture(
            &f.merchant,
            &CaptureBody {
                credential: token,
                amount: amount(109_900),
                checkout_id: None,
            },
        )
        .await
        .expect("capture");
        let doc = w.evidence(&f.user, &p4.id).await.expect("evidence");
        assert_eq!(doc["confirmation"]["status"], "approved", "{doc}");
        assert_verifies(
            &doc,
            &keys,
            &[
                "held the money and asked the person to confirm it",
                "The person's confirmation is approved at",
                "Purser signed a receipt of it",
                "The merchant captured ¥1,099.00 at",
            ],
        );

        // Declined by the mandate: nothing held.
        let p3 = pay(&w, &f, "Expedition boots", 159_900, None).await;
        assert_eq!(p3.status, "declined", "{p3:?}");
        let doc = w.evidence(&f.user, &p3.id).await.expect("evidence");
        assert_verifies(&doc, &keys, &["Purser declined it", "No ledger entries"]);

        // Only the owner, with payments:read.
        let other = w.create_user("Mallory", None).await.expect("user");
        let (_, other_tok) = w
            .complete_setup(&other.setup_token, "t")
            .await
            .expect("setup");
        let mallory = w.authenticate(&other_tok.token).await.expect("principal");
        let e = w.evidence(&mallory, &p1.id).await.unwrap_err();
        assert_eq!(e.code, "payment_not_found", "{e:?}");
        w.shutdown().await;
        ledger.shutdown().await;
        (f.token, other_tok.token, p1.id, p2.id, p3.id)
    });
    drop(rt);

    // The server on the same data: export over HTTP with the CLI, verify offline.
    let p = start(dir.path(), &storage);
    let file = dir.path().join("evidence.json");
    let file_s = file.to_str().expect("path").to_string();
    let (code, out, err) = cli(&[
        "evidence", "export", &captured, "-o", &file_s, "--server", &p.base, "--token", &token,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("purser evidence verify"), "{out}");
    let (code, out, err) = cli(&["evidence", "verify", &file_s]);
    assert_eq!(code, 0, "{out}{err}");
    for s in [
        "Verified:",
        "The merchant captured ¥699.00",
        "¥100.00 was refunded",
        "keys inside the bundle",
        "What it does not prove",
    ] {
        assert!(out.contains(s), "missing {s:?} in:\n{out}");
    }
    // Against Purser's published keys.
    let jwks = people::call(&p, "GET", "/.well-known/jwks.json", None, &[], None).want(200);
    let keys_file = dir.path().join("jwks.json");
    std::fs::write(&keys_file, jwks.to_string()).expect("write keys");
    let keys_s = keys_file.to_str().expect("path").to_string();
    let (code, out, err) = cli(&["evidence", "verify", &file_s, "--keys", &keys_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the keys file you gave"), "{out}");
    let (code, out, _) = cli(&["evidence", "verify", &file_s, "--keys", &keys_s, "--json"]);
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(
        (r["ok"].as_bool(), r["trust_root"].as_str()),
        (Some(true), Some("keys_file")),
        "{r}"
    );
    assert!(r["proven"].as_array().is_some_and(|a| a.len() >= 5), "{r}");

    // One changed byte: an amount (named by its part), a field only the seal covers.
    let text = std::fs::read_to_string(&file).expect("read");
    let tampered = dir.path().join("tampered.json");
    let tampered_s = tampered.to_str().expect("path").to_string();
    for (from, to, part) in [
        ("\"amount\": 69900", "\"amount\": 69901", "payment"),
        ("\"exported_at\": \"2", "\"exported_at\": \"3", "seal"),
    ] {
        assert!(text.contains(from), "{from} in {text}");
        std::fs::write(&tampered, text.replacen(from, to, 1)).expect("write");
        let (code, out, err) = cli(&["evidence", "verify", &tampered_s]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains("NOT VERIFIED") && out.contains(&format!("✗ {part}:")),
            "{out}"
        );
    }
    let (code, _, err) = cli(&[
        "evidence",
        "verify",
        &dir.path().join("missing.json").to_string_lossy(),
    ]);
    assert_eq!(code, 2, "{err}");

    // The route: a download for the owner only.
    let r = people::call(
        &p,
        "GET",
        &format!("/v1/payments/{voided}/evidence"),
        Some(&token),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"evidence-{voided}.json\"").as_str())
    );
    assert!(verify_bundle(&r.text, Some(&jwks.to_string())).ok);
    let r = people::call(
        &p,
        "GET",
        &format!("/v1/payments/{declined}/evidence"),
        Some(&other_token),
        &[],
        None,
    );
    r.refused(404, "payment_not_found");
    let owner = Person {
        id: String::new(),
        name: "Erin".into(),
        token: token.clone(),
        token_id: String::new(),
    };
    let reader = owner.token_with(&p, &["wallet:read"]);
    reader
        .get(&p, &format!("/v1/payments/{captured}/evidence"))
        .refused(403, "scope_missing");
    owner
        .get(&p, "/v1/payments/pay_x/evidence")
        .refused(404, "payment_not_found");
    let (code, _, err) = cli(&[
        "evidence", "export", "pay_nope", "--server", &p.base, "--token", &token,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("payment_not_found"), "{err}");
    drop(p);
    let (code, out, err) = crate::support::verify(dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

pub(crate) fn cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin())
        .args(args)
        .env_remove("PURSER_URL")
        .env_remove("PURSER_TOKEN")
        .env_remove("PURSER_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run purser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both!(
    a_hold_that_expired_by_itself_is_in_the_evidence,
    |storage| {
        let dir = TempDir::new("evidence-expiry");
        let store = store_of(dir.path(), &storage);
        let rt = runtime();
        rt.block_on(async {
            let clock = Arc::new(ManualClock::new(real_now()));
            let (ledger, w) = open(&store, dir.path(), clock.clone()).await;
            let f = fixture(&w).await;
            // Other entries before and after, so the expiry is found among many.
            let before = pay(&w, &f, "Trekking poles", 8_900, Some(60)).await;
            assert_eq!(before.status, "approved", "{before:?}");
            let p = pay(&w, &f, "Gaiters", 12_900, Some(60)).await;
            assert_eq!(p.status, "approved", "{p:?}");
            // Past the hold's own expiry (credential + confirmation window + margin): the ledger
            // releases it by itself at the next write, before the sweeper voids anything.
            clock.advance_ms(3 * 60 * 60 * 1000);
            let after = pay(&w, &f, "Headlamp", 3_900, None).await;
            assert_eq!(after.status, "approved", "{after:?}");
            w.sweep().await;
            let view = w.payment(&f.user, &p.id).await.expect("payment");
            assert_eq!(view.status, "expired", "{view:?}");
            let doc = w.evidence(&f.user, &p.id).await.expect("evidence");
            let kinds: Vec<&str> = doc["ledger"]["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["kind"].as_str())
                .collect();
            assert_eq!(kinds, ["transfer_created", "hold_expired"], "{doc}");
            let keys = w.jwks().await.expect("jwks");
            assert_verifies(&doc, &keys, &["¥129.00 was held", "released (expired)"]);
            w.shutdown().await;
            ledger.shutdown().await;
        });
    }
);

// The whole story over HTTP: signed agent payment, merchant registration and capture, then
// export and verify with the CLI.
both!(http_only_payment_export_and_verify, |storage| {
    let dir = TempDir::new("evidence-http");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    alice.funded(&p, 200_000);
    let (agent, _) = people::bound_agent(&p, &alice, &alice);
    let m = people::op(
        &p,
        "POST",
        "/v1/merchants",
        Some(&json!({"name": "Trail Outfitters", "website": "trail.example", "country": "CN", "category": "5661"})),
    )
    .want(201);
    let merchant_id = m["merchant"]["id"]
        .as_str()
        .expect("merchant id")
        .to_string();
    let api_key = m["api_key"].as_str().expect("api key").to_string();
    let md = alice
        .post(&p, "/v1/mandates", &json!({"agent_id": agent.id, "mandate": serde_json::to_value(boots_mandate()).expect("mandate")}))
        .want(201);
    let mid = md["id"].as_str().expect("mandate id").to_string();
    alice
        .post(
            &p,
            &format!("/v1/mandates/{mid}/consent"),
            &json!({"content_hash": md["content_hash"]}),
        )
        .want(200);
    let body = json!({
        "user_id": alice.id, "task_id": "task-http", "mandate_id": mid,
        "merchant": {"id": merchant_id, "name": "Trail Outfitters", "website": "trail.example"},
        "items": [{"title": "Salomon X Ultra 4 Mid GTX hiking boots", "quantity": 1, "unit_price": cny(69_900)}],
        "total": cny(69_900),
    });
    let r = signed_post(&p, &agent.key, "/v1/agent/payments", &unique("pay"), &body).want(201);
    assert_eq!(r["status"], "approved", "{r}");
    let pay_id = r["id"].as_str().expect("payment id").to_string();
    let credential = r["credential"]["token"]
        .as_str()
        .expect("credential")
        .to_string();
    let c = people::call(
        &p,
        "POST",
        "/v1/merchant/captures",
        Some(&api_key),
        &[("Idempotency-Key", &unique("capture"))],
        Some(&json!({"credential": credential, "amount": cny(69_900)})),
    )
    .want(200);
    assert_eq!(c["status"], "captured", "{c}");
    let file = dir.path().join("e.json");
    let file_s = file.to_str().expect("path").to_string();
    let (code, out, err) = cli(&[
        "evidence",
        "export",
        &pay_id,
        "-o",
        &file_s,
        "--server",
        &p.base,
        "--token",
        &alice.token,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&["evidence", "verify", &file_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("The merchant captured ¥699.00"), "{out}");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        text.replacen("\"amount\": 69900", "\"amount\": 69901", 1),
    )
    .expect("write");
    let (code, out, _) = cli(&["evidence", "verify", &file_s]);
    assert_eq!(code, 1, "{out}");
});

/// A signed agent POST with an Idempotency-Key.
fn signed_post(
    p: &dyn people::Server,
    key: &Ed25519KeyPair,
    path: &str,
    idem: &str,
    body: &Value,
) -> people::Resp {
    let authority = p
        .base()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let bytes = body.to_string().into_bytes();
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method: "POST",
        scheme: Some("http"),
        authority: &authority,
        path,
        query: None,
        headers: &no_headers,
    };
    let sig = sign_request(
        key,
        &parts,
        Some(&bytes),
        &SignParams::new(real_now().0 / 1000, unique("nonce")),
    )
    .expect("sign");
    let mut headers = vec![
        ("Signature-Input", sig.signature_input.as_str()),
        ("Signature", sig.signature.as_str()),
        ("Idempotency-Key", idem),
    ];
    if let Some(d) = &sig.content_digest {
        headers.push(("Content-Digest", d.as_str()));
    }
    people::send(p, "POST", path, None, &headers, Some(&bytes))
}
