//! Mandates end to end: the REST lifecycle (draft → create → simulate → consent with the AP2
//! credentials verified offline → status → revoke), the CLI, and budgets charged atomically
//! with ledger holds under many concurrent payments — in one process on SQLite and
//! PostgreSQL, and from two processes sharing one PostgreSQL database.

use std::path::Path;
use std::sync::Arc;

use purser_core::mandate::{
    CartItem, ConfirmationPolicy, ConfirmationRule, HowMuch, Interval, IntervalLimit, Mandate,
    MerchantFacts, PaymentRequest, Provenance, When,
};
use purser_core::{Currency, Money};
use purser_store::{Ledger, StoreConfig};
use purser_wallet::mandates::{holding_account, HoldSpec};
use purser_wallet::{AgentCaller, Principal, Wallet};
use serde_json::{json, Value};

use crate::both;
use crate::people::{bound_agent, cny, unique, Person, Server};
use crate::support::{bin, start, PgDb, Storage, TempDir};

// ---- REST ----------------------------------------------------------------------------

fn boots_words() -> &'static str {
    "Help me buy a pair of hiking boots, under 800 yuan"
}

fn simulate(p: &dyn Server, who: &Person, id: &str, minor: i64, title: &str, qty: u32) -> Value {
    who.post(
        p,
        &format!("/v1/mandates/{id}/simulate"),
        &json!({"amount": cny(minor), "items": [{"title": title, "quantity": qty}],
                "merchant": {"name": "Trail Outfitters", "country": "CN"}}),
    )
    .want(200)
}

both!(lifecycle_over_rest, |storage| {
    let dir = TempDir::new("mandate-rest");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let (agent, _) = bound_agent(&p, &alice, &alice);

    // Draft from words: nothing stored.
    let d = alice
        .post(
            &p,
            "/v1/mandates/draft",
            &json!({"text": boots_words(), "timezone": "Asia/Shanghai"}),
        )
        .want(200);
    assert_eq!(
        d["mandate"]["how_much"]["per_payment_max"]["minor"], 79_999,
        "{d}"
    );
    assert!(
        d["summary"]
            .as_str()
            .is_some_and(|s| s.contains("hiking boots")),
        "{d}"
    );
    assert_eq!(alice.get(&p, "/v1/mandates").want(200)["data"], json!([]));

    // Create from words: a draft with provenance.
    let m = alice
        .post(
            &p,
            "/v1/mandates",
            &json!({"agent_id": agent.id, "text": boots_words(), "timezone": "Asia/Shanghai",
                    "transcript": [{"speaker": "user", "text": boots_words()}]}),
        )
        .want(201);
    let id = m["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("mdt_"), "{m}");
    assert_eq!(m["status"], "draft", "{m}");
    assert_eq!(
        m["mandate"]["provenance"]["user_words"],
        boots_words(),
        "{m}"
    );
    assert_eq!(
        m["mandate"]["provenance"]["transcript"][0]["speaker"], "user",
        "{m}"
    );
    assert_eq!(m["timezone"], "Asia/Shanghai");

    // A draft is not in force: simulation says so, and says every other reason too.
    let s = simulate(&p, &alice, &id, 129_900, "Hiking boots", 1);
    assert_eq!(s["outcome"], "declined", "{s}");
    let codes: Vec<&str> = s["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert_eq!(codes, ["mandate_not_consented", "above_maximum"], "{s}");
    assert_eq!(
        s["failures"][1]["message"],
        "This mandate allows ¥799.99 per payment; this one is ¥1,299.00."
    );

    // Public status before consent: a draft, not in force.
    let st = crate::people::call(
        &p,
        "GET",
        &format!("/v1/mandate-status/{id}"),
        None,
        &[],
        None,
    )
    .want(200);
    assert_eq!(st["status"], "draft", "{st}");

    // Consent names the content read; a stale hash changes nothing.
    let r = alice.post(
        &p,
        &format!("/v1/mandates/{id}/consent"),
        &json!({"content_hash": "00"}),
    );
    r.refused(400, "content_changed");
    let hash = m["content_hash"].as_str().expect("hash");
    let c = alice
        .post(
            &p,
            &format!("/v1/mandates/{id}/consent"),
            &json!({"content_hash": hash}),
        )
        .want(200);
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(c["credentials"]["agent_kid"], agent.kid.as_str(), "{c}");
    alice
        .post(
            &p,
            &format!("/v1/mandates/{id}/consent"),
            &json!({"content_hash": hash}),
        )
        .refused(409, "mandate_not_draft");
    alice
        .post(
            &p,
            &format!("/v1/mandates/{id}"),
            &json!({"mandate": m["mandate"]}),
        )
        .refused(409, "mandate_not_draft");

    // Active now: boots under the limit pass; the ¥1,299 pair and 10,000 pairs do not.
    let s = simulate(
        &p,
        &alice,
        &id,
        59_900,
        "Salomon X Ultra 4 Mid GTX hiking boots",
        1,
    );
    assert_eq!(s["failures"], json!([]), "{s}");
    assert!(
        ["allowed", "needs_confirmation"].contains(&s["outcome"].as_str().unwrap_or("")),
        "{s}"
    );
    let s = simulate(&p, &alice, &id, 79_900, "Hiking boots", 10_000);
    assert_eq!(s["failures"][0]["code"], "item_quantity_exceeded", "{s}");

    // The credentials verify offline against Purser's published key.
    let creds = alice
        .get(&p, &format!("/v1/mandates/{id}/credentials"))
        .want(200);
    let jwks = crate::people::call(&p, "GET", "/.well-known/jwks.json", None, &[], None).want(200);
    let issuer_kid = creds["issuer_kid"].as_str().expect("issuer kid");
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == issuer_kid)
        .expect("the issuer key is published");
    let root = purser_ap2::PublicJwk::from_jwk(key).expect("issuer JWK");
    let now = purser_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    );
    for (field, vct) in [
        ("checkout", "mandate.checkout.open.1"),
        ("payment", "mandate.payment.open.1"),
    ] {
        let chain = creds[field].as_str().expect("credential");
        let v = purser_ap2::verify_chain(chain, &purser_ap2::VerifyOptions::new(root.clone(), now))
            .unwrap_or_else(|e| panic!("{field} credential does not verify: {e}"));
        let hop = v.last().expect("one hop");
        assert_eq!(hop["vct"], vct, "{hop}");
        assert_eq!(
            hop["cnf"]["jwk"]["x"],
            agent.key.public_key().to_jwk()["x"],
            "{hop}"
        );
        // A flipped byte anywhere in the signature is refused.
        let mut bytes = chain.as_bytes().to_vec();
        let sig_end = chain.find('~').expect("tilde");
        bytes[sig_end - 3] = if bytes[sig_end - 3] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(purser_ap2::verify_chain(
            &tampered,
            &purser_ap2::VerifyOptions::new(root.clone(), now)
        )
        .is_err());
    }

    // List shows it with its spending; the filter works; a bad filter is a clear error.
    let l = alice.get(&p, "/v1/mandates?status=active").want(200);
    assert_eq!(l["data"][0]["id"], id.as_str(), "{l}");
    assert_eq!(l["data"][0]["usage"]["payments"], 0, "{l}");
    alice
        .get(&p, "/v1/mandates?status=paused")
        .refused(400, "status_invalid");

    // Revoke: effective at once, visible to verifiers without signing in.
    let r = alice
        .post(
            &p,
            &format!("/v1/mandates/{id}/revoke"),
            &json!({"reason": "found boots myself"}),
        )
        .want(200);
    assert_eq!(r["status"], "revoked", "{r}");
    assert_eq!(r["revoked_reason"], "found boots myself");
    let st = crate::people::call(
        &p,
        "GET",
        &format!("/v1/mandate-status/{id}"),
        None,
        &[],
        None,
    )
    .want(200);
    assert_eq!(st["status"], "revoked", "{st}");
    assert!(st["revoked_at"].is_string(), "{st}");
    let s = simulate(&p, &alice, &id, 59_900, "hiking boots", 1);
    assert_eq!(s["failures"][0]["code"], "mandate_revoked", "{s}");
    alice
        .post(&p, &format!("/v1/mandates/{id}/revoke"), &json!({}))
        .refused(409, "mandate_revoked");
});

both!(bad_input_changes_nothing, |storage| {
    let dir = TempDir::new("mandate-bad");
    let p = start(dir.path(), &storage);
    let bob = Person::new(&p, "Bob");
    let mallory = Person::new(&p, "Mallory");
    let (agent, _) = bound_agent(&p, &bob, &bob);
    let (other_agent, _) = bound_agent(&p, &mallory, &mallory);

    // Not bound to Bob.
    bob.post(
        &p,
        "/v1/mandates",
        &json!({"agent_id": other_agent.id, "text": boots_words()}),
    )
    .refused(400, "agent_not_bound");
    // Neither or both of text and mandate.
    bob.post(&p, "/v1/mandates", &json!({"agent_id": agent.id}))
        .refused(400, "mandate_missing");
    // Words with nothing to understand.
    bob.post(
        &p,
        "/v1/mandates",
        &json!({"agent_id": agent.id, "text": "hello there"}),
    )
    .refused(400, "nothing_understood");
    // An incoherent structured mandate: every problem named.
    let bad = json!({"description": "x", "how_much": {"per_payment_min": {"minor": 500, "currency": "CNY"},
        "per_payment_max": {"minor": 100, "currency": "CNY"}}});
    let r = bob.post(
        &p,
        "/v1/mandates",
        &json!({"agent_id": agent.id, "mandate": bad}),
    );
    r.refused(400, "mandate_invalid");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("above the per-payment maximum")),
        "{}",
        r.text
    );
    // Unknown time zone.
    bob.post(
        &p,
        "/v1/mandates/draft",
        &json!({"text": boots_words(), "timezone": "Mars/Olympus"}),
    )
    .refused(400, "timezone_invalid");
    // Unknown fields are refused, not ignored.
    bob.post(
        &p,
        "/v1/mandates/draft",
        &json!({"text": boots_words(), "budget": 5}),
    )
    .refused(400, "invalid_field");
    assert_eq!(bob.get(&p, "/v1/mandates").want(200)["data"], json!([]));

    // Another user's mandate is not found, for every route.
    let m = bob
        .post(
            &p,
            "/v1/mandates",
            &json!({"agent_id": agent.id, "text": boots_words()}),
        )
        .want(201);
    let id = m["id"].as_str().expect("id");
    for (method, path) in [
        ("GET", format!("/v1/mandates/{id}")),
        ("POST", format!("/v1/mandates/{id}/revoke")),
        ("GET", format!("/v1/mandates/{id}/credentials")),
    ] {
        mallory
            .call(&p, method, &path, &[], Some(&json!({})))
            .refused(404, "mandate_not_found");
    }
    // Credentials only after consent.
    bob.get(&p, &format!("/v1/mandates/{id}/credentials"))
        .refused(409, "mandate_not_consented");
    // A token without the mandate scopes.
    let reader = bob.token_with(&p, &["wallet:read"]);
    reader.get(&p, "/v1/mandates").refused(403, "scope_missing");
});

/// Run `sql` (with the Idempotency-Key as `$1`) on the server's own database, as a crash or
/// the passing of a day would leave it.
fn on_the_store(storage: &Storage, dir: &Path, sql: &'static str, key: &str) {
    let store = match storage.url() {
        Some(url) => StoreConfig::Postgres {
            url: url.to_string(),
        },
        None => StoreConfig::sqlite_in(dir),
    };
    runtime().block_on(async {
        let db = purser_store::db::Db::open(&store).await.expect("store");
        let done = db
            .write(vec![purser_store::db::Stmt::exec(
                sql,
                purser_store::vals![key],
            )])
            .await
            .expect("write");
        assert_eq!(done.first().map(|r| r.changed), Some(1), "{sql}");
    });
}

fn drafts(p: &dyn Server, who: &Person) -> Vec<String> {
    who.get(p, "/v1/mandates").want(200)["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

both!(one_idempotency_key_names_one_draft, |storage| {
    let dir = TempDir::new("mandate-idem");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let (agent, _) = bound_agent(&p, &alice, &alice);
    let key = unique("draft");
    let body = json!({"agent_id": agent.id, "text": boots_words()});
    let first = alice.post_key(&p, "/v1/mandates", &key, &body).want(201);
    let id = first["id"].as_str().expect("id").to_string();
    // Retried with its answer kept: replayed.
    let again = alice.post_key(&p, "/v1/mandates", &key, &body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.want(201)["id"], id.as_str());

    // The server died after storing the draft, before keeping its answer: the retry takes the
    // key over and runs the request again — and finds the same draft, not a second one.
    on_the_store(
        &storage,
        dir.path(),
        "UPDATE idempotency SET state = 'started', status = NULL, body = NULL, created_at = created_at - 120000 WHERE key = $1",
        &key,
    );
    let retried = alice.post_key(&p, "/v1/mandates", &key, &body);
    assert_eq!(retried.header("idempotent-replayed"), None, "it ran again");
    let retried = retried.want(201);
    assert_eq!(retried["id"], id.as_str(), "{retried}");
    assert_eq!(retried["content_hash"], first["content_hash"]);
    assert_eq!(drafts(&p, &alice), [id.clone()]);

    // Another body under the same key is refused, whether the first answer is kept or was
    // forgotten (answers are kept a day; the draft keeps the key for good).
    let other = json!({"agent_id": agent.id, "text": "buy coffee beans under 90 yuan"});
    alice
        .post_key(&p, "/v1/mandates", &key, &other)
        .refused(422, "idempotency_conflict");
    on_the_store(
        &storage,
        dir.path(),
        "DELETE FROM idempotency WHERE key = $1",
        &key,
    );
    let r = alice.post_key(&p, "/v1/mandates", &key, &other);
    r.refused(422, "idempotency_conflict");
    assert_eq!(r.body["param"], "Idempotency-Key", "{}", r.text);
    assert_eq!(r.body["type"], "invalid_request", "{}", r.text);
    assert_eq!(drafts(&p, &alice), [id.clone()]);
    // The same body after the answer was forgotten: the same draft again.
    on_the_store(
        &storage,
        dir.path(),
        "DELETE FROM idempotency WHERE key = $1",
        &key,
    );
    assert_eq!(
        alice.post_key(&p, "/v1/mandates", &key, &body).want(201)["id"],
        id.as_str()
    );

    // Another person's same key is their own draft; no key, a new draft each time.
    let bob = Person::new(&p, "Bob");
    let (bob_agent, _) = bound_agent(&p, &bob, &bob);
    let theirs = bob
        .post_key(
            &p,
            "/v1/mandates",
            &key,
            &json!({"agent_id": bob_agent.id, "text": boots_words()}),
        )
        .want(201);
    assert_ne!(theirs["id"], id.as_str());
    alice.post(&p, "/v1/mandates", &body).want(201);
    alice.post(&p, "/v1/mandates", &body).want(201);
    assert_eq!(drafts(&p, &alice).len(), 3);
});

#[test]
fn cli_creates_consents_simulates_revokes_and_exports() {
    let dir = TempDir::new("mandate-cli");
    let p = start(dir.path(), &Storage::Sqlite);
    let carol = Person::new(&p, "Carol");
    let (agent, _) = bound_agent(&p, &carol, &carol);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(["mandate"])
            .args(args)
            .args(["--server", &p.base, "--token", &carol.token])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run purser");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(&[
        "create",
        "--agent",
        &agent.id,
        "at most ¥200 a week on coffee",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("This is a draft"), "{out}");
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("mdt_"))
        .expect("mandate id printed")
        .to_string();

    // Consent refuses to run unattended without --yes, and changes nothing.
    let (code, _, err) = run(&["consent", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("--yes"), "{err}");
    let (code, out, err) = run(&["consent", &id, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Consented"), "{out}");

    let (code, out, err) = run(&["simulate", &id, "--amount", "¥250", "--item", "flat white"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Declined"), "{out}");
    assert!(out.contains("¥250.00"), "{out}");

    let file = dir.path().join("creds.json");
    let (code, out, err) = run(&["export", &id, "--out", file.to_str().expect("path")]);
    assert_eq!(code, 0, "{out}{err}");
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("file")).expect("json");
    assert!(
        creds["payment"].as_str().is_some_and(|c| c.ends_with('~')),
        "{creds}"
    );

    let (code, out, _) = run(&["list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("active"), "{out}");
    let (code, out, _) = run(&["revoke", &id, "--reason", "cutting down"]);
    assert_eq!(code, 0);
    assert!(out.contains("revoked"), "{out}");
    let (code, _, err) = run(&["revoke", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("already revoked"), "{err}");
}

// ---- budgets under concurrency, through the wallet services -------------------------

/// A wallet opened the way `purser serve` opens it.
async fn open_wallet(store: &StoreConfig, dir: &Path) -> (Arc<Ledger>, Wallet) {
    open_wallet_at(store, dir, Arc::new(purser_store::SystemClock)).await
}

pub(crate) async fn open_wallet_at(
    store: &StoreConfig,
    dir: &Path,
    clock: Arc<dyn purser_core::Clock>,
) -> (Arc<Ledger>, Wallet) {
    let ledger = Arc::new(
        Ledger::open(store.clone(), clock.clone())
            .await
            .expect("ledger"),
    );
    let wallet = Wallet::open(
        store,
        dir,
        ledger.clone(),
        clock,
        Arc::new(purser_core::rail::SandboxRail::new()),
    )
    .await
    .expect("wallet");
    (ledger, wallet)
}

/// Budget ¥1,000 in all, ¥800 a week, payments of ¥70: eleven fit the week.
fn coffee_mandate() -> Mandate {
    let cny = |m| Money::new(m, Currency::CNY);
    Mandate {
        description: "Coffee".into(),
        how_much: HowMuch {
            budget: Some(cny(100_000)),
            interval_limits: vec![IntervalLimit {
                interval: Interval::Weekly,
                amount: cny(80_000),
            }],
            ..HowMuch::default()
        },
        when: When {
            timezone: Some("Asia/Shanghai".into()),
            ..When::default()
        },
        confirmation: ConfirmationPolicy {
            rules: vec![ConfirmationRule::AutoAtOrBelow {
                amount: cny(10_000),
            }],
        },
        provenance: Provenance {
            user_words: "at most ¥800 a week on coffee, ¥1,000 in all".into(),
            transcript: None,
        },
        ..Mandate::default()
    }
}

const PAYMENT: i64 = 7_000;
const FITS: i64 = 11;

fn coffee() -> PaymentRequest {
    PaymentRequest {
        amount: Money::new(PAYMENT, Currency::CNY),
        merchant: MerchantFacts {
            name: Some("Corner Coffee".into()),
            ..MerchantFacts::default()
        },
        items: vec![CartItem {
            id: None,
            title: "flat white".into(),
            quantity: 1,
            unit_price: None,
        }],
        instrument: None,
    }
}

/// What the children need to act: the user's token, the agent and the mandate.
pub(crate) struct Fixture {
    pub token: String,
    pub user: Principal,
    pub agent_id: String,
    pub mandate_id: String,
    pub key: purser_core::httpsig::Ed25519KeyPair,
}

/// A user with `funds` (minor CNY) in their wallet, a bound agent and an active coffee mandate.
pub(crate) async fn fixture(w: &Wallet, funds: i64) -> Fixture {
    let u = w.create_user("Dora", None).await.expect("user");
    let (_, tok) = w
        .complete_setup(&u.setup_token, "test")
        .await
        .expect("setup");
    let user = w.authenticate(&tok.token).await.expect("principal");
    let key = purser_core::httpsig::Ed25519KeyPair::generate().expect("key");
    let agent = w
        .register_agent(
            &user,
            "Barista bot",
            "Test Operator Ltd",
            &key.public_key().to_jwk(),
            Some(&key.possession_proof(&user.user_id).expect("proof")),
            None,
        )
        .await
        .expect("agent");
    let caller = AgentCaller {
        agent_id: agent.id.clone(),
        kid: key.key_id(),
        nonce: unique("nonce"),
        signed_base: String::new(),
        signature: [0; 64],
        jwk: key.public_key().to_jwk(),
    };
    let b = w
        .request_binding(&caller, &user.user_id, "buy coffee")
        .await
        .expect("binding");
    w.decide_binding(&user, &b.id, purser_wallet::bindings::Decision::Approve)
        .await
        .expect("approve");
    if funds > 0 {
        let card = w
            .add_card(
                &user,
                serde_json::from_value(crate::people::card_body(crate::people::VISA_OK, "123"))
                    .expect("card"),
            )
            .await
            .expect("card");
        let amount: purser_wallet::funds::Amount =
            serde_json::from_value(cny(funds)).expect("amount");
        let t = w
            .top_up(&user, &card.id, &amount, &unique("topup"))
            .await
            .expect("top-up");
        assert_eq!(t.status, "succeeded");
    }
    let m = w
        .create_mandate(&user, &agent.id, coffee_mandate())
        .await
        .expect("mandate");
    let m = w
        .consent_mandate(&user, &m.id, &m.content_hash, "http://127.0.0.1:7420")
        .await
        .expect("consent");
    assert_eq!(m.status, "active");
    Fixture {
        token: tok.token,
        user,
        agent_id: agent.id,
        mandate_id: m.id,
        key,
    }
}

fn hold_for(user_id: &str) -> HoldSpec {
    HoldSpec {
        debit: purser_core::ledger::AccountId::parse(&format!("wallet:{user_id}:CNY"))
            .expect("account"),
        credit: holding_account(Currency::CNY).expect("account"),
        credit_flags: purser_core::ledger::AccountFlags::default(),
        timeout_ms: Some(3_600_000),
    }
}

/// `n` payments at once through `reserve_under_mandate`; returns how many passed.
async fn pay_many(w: &Arc<Wallet>, f: &Fixture, n: usize, tag: &str) -> i64 {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (w, user, agent, mandate) = (
            w.clone(),
            f.user.user_id.clone(),
            f.agent_id.clone(),
            f.mandate_id.clone(),
        );
        let payment = format!("pay_{tag}_{i}_{}", unique("p").replace('-', "_"));
        tasks.push(tokio::spawn(async move {
            let r = w
                .reserve_under_mandate(
                    &user,
                    &agent,
                    &mandate,
                    &payment,
                    &coffee(),
                    &hold_for(&user),
                )
                .await;
            match r {
                Ok(e) if e.allowed() => 1,
                Ok(e) => {
                    let codes: Vec<&str> = e.failures.iter().map(|f| f.code).collect();
                    assert!(
                        codes
                            .iter()
                            .all(|c| ["budget_exceeded", "interval_limit_exceeded"].contains(c)),
                        "{codes:?}"
                    );
                    0
                }
                Err(e) => {
                    assert!(
                        ["mandate_busy", "insufficient_funds", "exceeds_credits"]
                            .iter()
                            .any(|c| e.code.contains(c)),
                        "unexpected error {e}"
                    );
                    0
                }
            }
        }));
    }
    let mut passed = 0;
    for t in tasks {
        passed += t.await.expect("task");
    }
    passed
}

/// Spent on the mandate, held in the ledger: the two must agree.
async fn check_books(w: &Wallet, ledger: &Ledger, f: &Fixture, passed: i64) {
    let m = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
    assert_eq!(m.usage.payments, passed, "payments counted");
    assert_eq!(
        m.usage.spent.as_ref().map(|s| s.amount),
        Some(passed * PAYMENT)
    );
    let held = ledger
        .account(&hold_for(&f.user.user_id).debit)
        .await
        .expect("ledger")
        .map_or(0, |a| a.debits_pending);
    assert_eq!(held, passed * PAYMENT, "held in the ledger");
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

both!(concurrent_payments_never_overspend, |storage| {
    let dir = TempDir::new("mandate-race");
    let store = match &storage {
        Storage::Sqlite => StoreConfig::sqlite_in(dir.path()),
        Storage::Postgres(db) => StoreConfig::Postgres {
            url: db.url.clone(),
        },
    };
    runtime().block_on(async {
        let (ledger, w) = open_wallet(&store, dir.path()).await;
        let w = Arc::new(w);
        let f = fixture(&w, 500_000).await;
        let passed = pay_many(&w, &f, 40, "a").await;
        assert_eq!(passed, FITS, "exactly what the weekly limit allows");
        check_books(&w, &ledger, &f, passed).await;

        // Money runs out before the mandate does: failed holds give their budget back.
        let g = fixture(&w, 3 * PAYMENT + 100).await;
        let passed = pay_many(&w, &g, 12, "b").await;
        assert_eq!(passed, 3, "only three payments' worth of funds");
        check_books(&w, &ledger, &g, passed).await;

        // Releasing a payment gives its budget back; capturing needs the mandate in force.
        let m = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
        assert_eq!(
            m.usage.remaining_budget.as_ref().map(|r| r.amount),
            Some(100_000 - FITS * PAYMENT)
        );
        // A retried payment (same id, same request) is charged once; another request under
        // that id is refused.
        let h = fixture(&w, 500_000).await;
        let hold = hold_for(&h.user.user_id);
        let reserve = |id: &'static str, req: PaymentRequest| {
            let (w, h, hold) = (&w, &h, &hold);
            async move {
                w.reserve_under_mandate(&h.user.user_id, &h.agent_id, &h.mandate_id, id, &req, hold)
                    .await
            }
        };
        assert!(reserve("pay_h1", coffee()).await.expect("first").allowed());
        assert!(reserve("pay_h1", coffee()).await.expect("retry").allowed());
        check_books(&w, &ledger, &h, 1).await;
        let mut other = coffee();
        other.amount = Money::new(PAYMENT + 1, Currency::CNY);
        let e = reserve("pay_h1", other).await.expect_err("reused id");
        assert_eq!(e.code, "payment_id_reused");
        // A cart line of quantity 0 buys nothing and is refused.
        let mut nothing = coffee();
        nothing.items[0].quantity = 0;
        let e = reserve("pay_h0", nothing).await.expect("answer");
        assert_eq!(e.failures[0].code, "item_quantity_invalid");
        // Captured while the mandate is in force; a hold under a revoked mandate cannot be.
        w.capture_mandate_charge("pay_h1").await.expect("capture");
        assert!(reserve("pay_h2", coffee()).await.expect("second").allowed());
        w.revoke_mandate(&h.user, &h.mandate_id, None)
            .await
            .expect("revoke");
        let e = w
            .capture_mandate_charge("pay_h2")
            .await
            .expect_err("revoked");
        assert_eq!(e.code, "mandate_not_active");
        w.void_payment_hold("pay_h2").await.expect("void");
        assert!(w.release_mandate_charge("pay_h2").await.expect("release"));
        assert!(!w.release_mandate_charge("pay_h2").await.expect("once only"));
        check_books(&w, &ledger, &h, 1).await;

        // Ending the agent's binding ends its mandates, and a frozen agent cannot charge.
        let k = fixture(&w, 500_000).await;
        let b = w
            .list_bindings(&k.user, Some("active"))
            .await
            .expect("bindings")
            .into_iter()
            .find(|b| b.agent.id == k.agent_id)
            .expect("binding");
        w.decide_binding(&k.user, &b.id, purser_wallet::bindings::Decision::Freeze)
            .await
            .expect("freeze");
        let e = w
            .charge_mandate(
                &k.user.user_id,
                &k.agent_id,
                &k.mandate_id,
                "pay_k1",
                &coffee(),
            )
            .await
            .expect_err("frozen");
        assert_eq!(e.code, "agent_frozen");
        w.decide_binding(&k.user, &b.id, purser_wallet::bindings::Decision::Revoke)
            .await
            .expect("revoke binding");
        let st = w.mandate_status(&k.mandate_id).await.expect("status");
        assert_eq!(st.status, "revoked");

        w.revoke_mandate(&f.user, &f.mandate_id, Some("done"))
            .await
            .expect("revoke");
        let e = w
            .reserve_under_mandate(
                &f.user.user_id,
                &f.agent_id,
                &f.mandate_id,
                "pay_after_revoke",
                &coffee(),
                &hold_for(&f.user.user_id),
            )
            .await
            .expect("answer");
        assert_eq!(e.failures[0].code, "mandate_revoked");
        w.shutdown().await;
        ledger.shutdown().await;
    });
});

/// Child process of [`two_processes_share_one_budget`]: does nothing unless its environment
/// says which database and mandate to pay under.
#[test]
#[ignore = "run by two_processes_share_one_budget as a child process"]
fn payer_process() {
    let (Ok(url), Ok(dir), Ok(token), Ok(agent), Ok(mandate), Ok(tag)) = (
        std::env::var("PAYER_DB"),
        std::env::var("PAYER_DIR"),
        std::env::var("PAYER_TOKEN"),
        std::env::var("PAYER_AGENT"),
        std::env::var("PAYER_MANDATE"),
        std::env::var("PAYER_TAG"),
    ) else {
        return;
    };
    runtime().block_on(async {
        let store = StoreConfig::Postgres { url };
        let (ledger, w) = open_wallet(&store, Path::new(&dir)).await;
        let w = Arc::new(w);
        let user = w.authenticate(&token).await.expect("principal");
        let f = Fixture {
            token,
            user,
            agent_id: agent,
            mandate_id: mandate,
            key: purser_core::httpsig::Ed25519KeyPair::generate().expect("key"),
        };
        let passed = pay_many(&w, &f, 20, &tag).await;
        println!("PASSED {passed}");
        w.shutdown().await;
        ledger.shutdown().await;
    });
}

#[test]
fn two_processes_share_one_budget() {
    let Some(db) = PgDb::create() else {
        eprintln!("skipped: PostgreSQL not reachable");
        return;
    };
    let dir = TempDir::new("mandate-2proc");
    let store = StoreConfig::Postgres {
        url: db.url.clone(),
    };
    let f = runtime().block_on(async {
        let (ledger, w) = open_wallet(&store, dir.path()).await;
        let f = fixture(&w, 500_000).await;
        w.shutdown().await;
        ledger.shutdown().await;
        f
    });
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = ["x", "y"]
        .iter()
        .map(|tag| {
            std::process::Command::new(&exe)
                .args([
                    "mandates::payer_process",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("PAYER_DB", &db.url)
                .env("PAYER_DIR", dir.path())
                .env("PAYER_TOKEN", &f.token)
                .env("PAYER_AGENT", &f.agent_id)
                .env("PAYER_MANDATE", &f.mandate_id)
                .env("PAYER_TAG", tag)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a payer")
        })
        .collect();
    let mut passed = 0;
    for c in children {
        let out = c.wait_with_output().expect("payer");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "payer failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: i64 = text
            .lines()
            .find_map(|l| l.split_once("PASSED ").map(|(_, n)| n))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("payer said nothing:\n{text}"));
        passed += n;
    }
    assert_eq!(
        passed, FITS,
        "two processes together stay within the weekly limit"
    );
    runtime().block_on(async {
        let (ledger, w) = open_wallet(&store, dir.path()).await;
        check_books(&w, &ledger, &f, passed).await;
        w.shutdown().await;
        ledger.shutdown().await;
    });
}

/// A charge a crashed request left without its hold is given back by the sweeper, and the
/// hold, if it was placed after all, is voided.
#[test]
fn the_sweeper_releases_charges_of_interrupted_payments() {
    let dir = TempDir::new("mandate-sweep");
    let store = StoreConfig::sqlite_in(dir.path());
    let clock = Arc::new(purser_core::ManualClock::new(purser_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    )));
    runtime().block_on(async {
        let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&w, 500_000).await;
        // The request charged the mandate and then died before (or just after) its hold.
        let e = w
            .charge_mandate(
                &f.user.user_id,
                &f.agent_id,
                &f.mandate_id,
                "pay_crash",
                &coffee(),
            )
            .await
            .expect("charge");
        assert!(e.allowed());
        let m = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
        assert_eq!(m.usage.payments, 1);
        w.sweep().await;
        let m = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
        assert_eq!(m.usage.payments, 1, "a charge in flight is left alone");
        clock.advance_ms(purser_wallet::mandates::STALE_CHARGE_MS + 1_000);
        w.sweep().await;
        check_books(&w, &ledger, &f, 0).await;
        let m = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
        assert_eq!(m.usage.spent.as_ref().map(|s| s.amount), Some(0));
        w.shutdown().await;
        ledger.shutdown().await;
    });
}
