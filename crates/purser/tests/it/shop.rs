//! The bundled shop (`purser merchant serve`) end to end, both as real binaries: an agent
//! searches the catalog, opens an ACP checkout, pays through Purser with the SDK, completes with
//! its signed request, the Purser credential and its AP2 checkout mandate, and the money is
//! captured in Purser's ledger — plus every refusal on the way (bad signature, tampered or
//! absent mandate, completing twice, cancel, quantities, unknown products, ACP headers). The
//! Purser side runs on SQLite and PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use purser_agent::{AgentKey, Client, LineItem, MerchantRef, Money, PaymentRequest};
use purser_ap2::{append_hop, random_salt, Binding, Ed25519Signer, HopContent};
use purser_core::mandate::{
    ConfirmationPolicy, ConfirmationRule, HowMuch, LineItem as MandateLine, Mandate,
    MerchantRef as MandateMerchant, Provenance, When,
};
use purser_core::{Currency, Money as CoreMoney};
use purser_merchant::shopper::Shopper;
use serde_json::{json, Value};

use crate::both;
use crate::payments::{give_mandate, register_merchant, Merchant};
use crate::people::{bound_agent, unique, Person, TestAgent};
use crate::support::{agent, answer, bin, start, verify, Purser, Storage, TempDir};

/// A running `purser merchant serve`.
struct ShopProcess {
    child: Child,
    base: String,
}

impl Drop for ShopProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_shop(p: &Purser, m: &Merchant, extra: &[&str]) -> ShopProcess {
    let mut cmd = Command::new(bin());
    cmd.args(["merchant", "serve", "--listen", "127.0.0.1:0", "--memory"])
        .args(["--purser-url", &p.base, "--merchant-id", &m.id])
        .env("PURSER_MERCHANT_API_KEY", &m.key)
        .env("PURSER_LOG", "warn")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn purser merchant serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.strip_prefix("Shop:") {
                    let _ = tx.send(rest.trim().to_string());
                    sent = true;
                }
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(base) => ShopProcess { child, base },
        Err(_) => {
            let _ = child.kill();
            panic!("purser merchant serve did not start within 60 s");
        }
    }
}

fn key_of(a: &TestAgent) -> AgentKey {
    AgentKey::from_private_jwk(&a.key.to_private_jwk().expect("jwk")).expect("agent key")
}

/// Boots from this merchant: one pair, at most ¥800 a payment, paid without asking up to ¥800.
fn shop_mandate(m: &Merchant) -> Mandate {
    let cny = |minor| CoreMoney::new(minor, Currency::CNY);
    let mut mandate = Mandate {
        description: "Hiking boots".into(),
        how_much: HowMuch {
            per_payment_max: Some(cny(80_000)),
            budget: Some(cny(200_000)),
            ..HowMuch::default()
        },
        when: When {
            timezone: Some("Asia/Shanghai".into()),
            ..When::default()
        },
        confirmation: ConfirmationPolicy {
            rules: vec![ConfirmationRule::AutoAtOrBelow {
                amount: cny(80_000),
            }],
        },
        provenance: Provenance {
            user_words: "Help me buy a pair of hiking boots, under 800 yuan".into(),
            transcript: None,
        },
        ..Mandate::default()
    };
    mandate.what.merchants = vec![MandateMerchant {
        id: Some(m.id.clone()),
        name: Some("Trail Outfitters".into()),
        website: Some(m.website.clone()),
    }];
    mandate.what.line_items = vec![MandateLine {
        description: "hiking boots".into(),
        quantity: 1,
        unit: Some("pair".into()),
        max_quantity: Some(2),
    }];
    mandate
}

struct World {
    p: Purser,
    user: Person,
    agent: TestAgent,
    mandate: String,
    merchant: Merchant,
    dir: TempDir,
}

fn world(storage: &Storage) -> World {
    let dir = TempDir::new("shop");
    let p = start(dir.path(), storage);
    let user = Person::new(&p, "Alice");
    user.funded(&p, 500_000);
    let (agent, _binding) = bound_agent(&p, &user, &user);
    let merchant = register_merchant(
        &p,
        "Trail Outfitters",
        &format!("{}.example", unique("trail")),
    );
    let mandate = give_mandate(&p, &user, &agent, &shop_mandate(&merchant));
    World {
        p,
        user,
        agent,
        mandate,
        merchant,
        dir,
    }
}

fn address() -> Value {
    json!({"name": "Alice", "email": "alice@example.com", "address": {"name": "Alice",
        "line_one": "1 West Lake Road", "city": "Hangzhou", "state": "ZJ", "country": "CN",
        "postal_code": "310000"}})
}

/// The agent asks Purser to pay for the session's cart; returns the credential.
fn pay_for(w: &World, session: &Value) -> Result<String, String> {
    pay_for_id(w, session).map(|(c, _)| c)
}

/// As [`pay_for`], with Purser's payment id.
fn pay_for_id(w: &World, session: &Value) -> Result<(String, String), String> {
    let purser = Client::new(&w.p.base, key_of(&w.agent)).expect("client");
    let items: Vec<LineItem> = session["line_items"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| LineItem {
            id: l["item"]["id"].as_str().map(str::to_string),
            title: l["name"].as_str().unwrap_or_default().to_string(),
            quantity: u32::try_from(l["quantity"].as_i64().unwrap_or(0)).unwrap_or(0),
            unit_price: Money::new(l["unit_amount"].as_i64().unwrap_or(0), "CNY"),
        })
        .collect();
    let total = session["totals"]
        .as_array()
        .expect("totals")
        .iter()
        .find(|t| t["type"] == "total")
        .and_then(|t| t["amount"].as_i64())
        .expect("total");
    let req = PaymentRequest {
        user_id: w.user.id.clone(),
        task_id: "task-shop".into(),
        mandate_id: w.mandate.clone(),
        ap2: None,
        merchant: MerchantRef {
            id: w.merchant.id.clone(),
            name: Some("Trail Outfitters".into()),
            website: Some(w.merchant.website.clone()),
            ..MerchantRef::default()
        },
        items,
        shipping: None,
        total: Money::new(total, "CNY"),
        checkout_id: session["id"].as_str().map(str::to_string),
        funding_source: None,
        credential_ttl_seconds: None,
    };
    let pay = purser
        .pay(&req, &unique("pay"))
        .map_err(|e| e.to_string())?;
    if !pay.is_approved() {
        return Err(format!("not approved: {pay:?}"));
    }
    let id = pay.id.clone();
    Ok((
        pay.credential
            .and_then(|c| c.token)
            .expect("credential token"),
        id,
    ))
}

/// The agent closes its open checkout mandate over the session's checkout JWT.
fn close_mandate(w: &World, session: &Value) -> String {
    let creds = w
        .user
        .get(&w.p, &format!("/v1/mandates/{}/credentials", w.mandate))
        .want(200);
    let open = creds["checkout"].as_str().expect("open checkout mandate");
    let jwt = session["ap2"]["checkout_jwt"]
        .as_str()
        .expect("checkout jwt");
    let pkcs8 = w.agent.key.to_pkcs8().expect("pkcs8");
    let signer = Ed25519Signer::from_pkcs8(&pkcs8, Some(w.agent.kid.clone())).expect("signer");
    let closed = HopContent {
        mandate: json!({"vct": "mandate.checkout.1", "checkout_jwt": jwt,
            "checkout_hash": purser_ap2::checkout_hash(jwt)})
        .as_object()
        .expect("object")
        .clone(),
        disclosable: vec!["checkout_jwt".into()],
        claims: serde_json::Map::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    append_hop(
        open,
        &signer,
        Binding::SdHash,
        &w.merchant.id,
        session["id"].as_str().expect("id"),
        now,
        false,
        &closed,
        &mut random_salt,
    )
    .expect("close the mandate")
}

fn api_code(e: &purser_agent::Error) -> (u16, String) {
    (e.status().unwrap_or(0), e.code().unwrap_or("").to_string())
}

/// The merchant's view of a Purser payment.
fn merchant_payment(w: &World, id: &str) -> Value {
    let r = crate::people::call(
        &w.p,
        "GET",
        &format!("/v1/merchant/payments/{id}"),
        Some(&w.merchant.key),
        &[],
        None,
    );
    r.want(200)
}

both!(an_agent_buys_boots_end_to_end, |storage| {
    let w = world(&storage);
    let shop = start_shop(&w.p, &w.merchant, &[]);
    let agent = Shopper::new(&shop.base, key_of(&w.agent)).expect("shopper");

    // Search: boots under ¥800, best rated first; the ¥1,299 pair is not among them.
    let found = agent
        .search("hiking boots", None, Some(80_000), Some("rating"))
        .expect("search");
    let data = found["data"].as_array().expect("data");
    assert!(data.len() >= 3, "{found}");
    assert!(data
        .iter()
        .all(|p| p["price"]["amount"].as_i64().unwrap() <= 80_000));
    assert_eq!(data[0]["id"], "boot_trailridge_mid", "{found}");
    let all = agent
        .search("boots", Some("hiking_boots"), None, None)
        .unwrap();
    assert!(all["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["price"]["amount"] == 129_900));

    // Create without an address: not ready, and the session says what is missing.
    let s = agent
        .create(&[("boot_trailridge_mid", 1)], None, &unique("create"))
        .expect("create");
    assert_eq!(s["status"], "not_ready_for_payment", "{s}");
    assert!(
        s["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["code"] == "missing"),
        "{s}"
    );
    let id = s["id"].as_str().unwrap().to_string();

    // Update: the address and express shipping, then back to standard.
    let s = agent
        .update(&id, &json!({"fulfillment_details": address(),
            "selected_fulfillment_options": [{"type": "shipping", "option_id": "ship_express", "item_ids": ["boot_trailridge_mid"]}]}), &unique("upd"))
        .expect("update");
    assert_eq!(s["status"], "ready_for_payment", "{s}");
    let total = |s: &Value| {
        s["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "total")
            .unwrap()["amount"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(total(&s), 69_900 + 2_000);
    let s = agent
        .update(&id, &json!({"selected_fulfillment_options": [{"type": "shipping", "option_id": "ship_standard", "item_ids": ["boot_trailridge_mid"]}]}), &unique("upd"))
        .expect("update");
    assert_eq!(total(&s), 69_900);

    // The merchant's authorization: the cart, signed with the key it publishes.
    let jwks: Value = agent_get(&format!("{}/.well-known/jwks.json", shop.base));
    let key = purser_ap2::PublicJwk::from_jwk(&jwks["keys"][0]).expect("merchant key");
    let claims = purser_ap2::verify_jwt(s["ap2"]["checkout_jwt"].as_str().unwrap(), &key, "JWT")
        .expect("checkout jwt verifies");
    assert_eq!(claims["merchant"]["id"], w.merchant.id.as_str());
    assert_eq!(claims["line_items"][0]["item"]["id"], "boot_trailridge_mid");
    assert_eq!(claims["totals"][2]["amount"], 69_900);

    // The agent pays through Purser and closes its AP2 checkout mandate over this cart.
    let (credential, pay_id) = pay_for_id(&w, &s).expect("approved");
    let mandate = close_mandate(&w, &s);

    // A tampered mandate is refused and changes nothing.
    let mut bad = mandate.clone().into_bytes();
    let i = bad.len() - 10;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let e = agent
        .complete(&id, &credential, Some(&bad), &unique("done"))
        .unwrap_err();
    assert_eq!(api_code(&e).0, 403, "{e}");
    assert!(
        api_code(&e).1.starts_with("mandate") || api_code(&e).1.starts_with("merchant"),
        "{e}"
    );
    // A mandate given for another checkout (its JWT) is refused too.
    let other = agent
        .create(
            &[("boot_trailridge_mid", 1)],
            Some(&address()),
            &unique("create"),
        )
        .unwrap();
    let wrong = close_mandate(&w, &other);
    let e = agent
        .complete(&id, &credential, Some(&wrong), &unique("done"))
        .unwrap_err();
    assert_eq!(api_code(&e).0, 403, "{e}");
    assert_eq!(agent.get(&id).unwrap()["status"], "ready_for_payment");

    // A request signed by a key Purser does not know is refused before anything happens.
    let stranger = Shopper::new(&shop.base, AgentKey::generate().unwrap()).unwrap();
    let e = stranger
        .complete(&id, &credential, Some(&mandate), &unique("done"))
        .unwrap_err();
    assert_eq!(api_code(&e), (401, "unknown_key".to_string()), "{e}");
    // A body changed after signing: its Content-Digest no longer matches.
    let client = Client::new(&shop.base, key_of(&w.agent)).unwrap();
    let path = format!("/checkout_sessions/{id}/complete");
    let body = Shopper::complete_body(&credential, Some(&mandate));
    let prepared = client
        .prepare("POST", &path, Some(&body), Some(&unique("done")))
        .unwrap();
    let mut req = agent_req("POST", &prepared.url);
    for (n, v) in &prepared.headers {
        req = req.set(n, v);
    }
    let (status, v, _) = answer(
        req.set("API-Version", "2026-04-17")
            .send_bytes(b"{\"payment_data\":{}}"),
    )
    .unwrap();
    assert_eq!(
        (status, v["code"].as_str().unwrap()),
        (400, "content_digest_mismatch"),
        "{v}"
    );
    // A signature altered in transit.
    let prepared = client
        .prepare("POST", &path, Some(&body), Some(&unique("done")))
        .unwrap();
    let mut req = agent_req("POST", &prepared.url);
    for (n, v) in &prepared.headers {
        let v = if n == "Signature" {
            flip_sig(v)
        } else {
            v.clone()
        };
        req = req.set(n, &v);
    }
    let (status, v, _) = answer(
        req.set("API-Version", "2026-04-17")
            .send_bytes(prepared.body.as_deref().unwrap()),
    )
    .unwrap();
    assert_eq!(
        (status, v["code"].as_str().unwrap()),
        (401, "signature_invalid"),
        "{v}"
    );
    assert_eq!(agent.get(&id).unwrap()["status"], "ready_for_payment");
    assert_eq!(
        w.user.available(&w.p),
        500_000 - 69_900,
        "only the hold so far"
    );

    // Complete: signature, mandate, capture, order.
    let done_key = unique("done");
    let done = agent
        .complete(&id, &credential, Some(&mandate), &done_key)
        .expect("complete");
    assert_eq!(done["status"], "completed", "{done}");
    let order = done["order"]["id"].as_str().expect("order").to_string();
    assert!(order.starts_with("ord_"));
    assert!(done.get("ap2").is_none());
    let search_after = agent.search("TrailRidge", None, None, None).unwrap();
    assert_eq!(search_after["data"][0]["available_quantity"], 39);

    // Captured in Purser's ledger, once.
    let p = merchant_payment(&w, &pay_id);
    assert_eq!(p["status"], "captured", "{p}");
    assert_eq!(p["captured"]["amount"], 69_900);
    assert_eq!(w.user.available(&w.p), 500_000 - 69_900);

    // Completing twice: the same key replays, a new key with the same credential returns the
    // same order, another credential is refused; nothing is captured again.
    let again = agent
        .complete(&id, &credential, Some(&mandate), &done_key)
        .expect("replay");
    assert_eq!(again["order"]["id"], order.as_str());
    let again = agent
        .complete(&id, &credential, None, &unique("done"))
        .expect("same order");
    assert_eq!(again["order"]["id"], order.as_str());
    let e = agent
        .complete(&id, "pct_someothercredential", None, &unique("done"))
        .unwrap_err();
    assert_eq!(api_code(&e), (405, "session_completed".to_string()), "{e}");
    assert_eq!(merchant_payment(&w, &pay_id)["captured"]["amount"], 69_900);
    assert_eq!(w.user.available(&w.p), 500_000 - 69_900);
    let e = agent.cancel(&id, &unique("cancel")).unwrap_err();
    assert_eq!(api_code(&e), (405, "session_completed".to_string()), "{e}");

    drop(shop);
    let (code, out, err) = verify(w.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

fn flip_sig(v: &str) -> String {
    // sig1=:BASE64:  — change one character of the signature bytes.
    let mut b = v.as_bytes().to_vec();
    let i = v.find(":").map(|i| i + 5).unwrap_or(0);
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

fn agent_req(method: &str, url: &str) -> ureq::Request {
    agent().request(method, url)
}

fn agent_get(url: &str) -> Value {
    answer(agent().get(url).call()).unwrap().1
}

both!(the_shop_refuses_what_it_must, |storage| {
    let w = world(&storage);
    let shop = start_shop(&w.p, &w.merchant, &[]);
    let agent = Shopper::new(&shop.base, key_of(&w.agent)).expect("shopper");

    // A product that does not exist; quantities out of range.
    let e = agent
        .create(&[("boot_moon_walker", 1)], Some(&address()), &unique("c"))
        .unwrap_err();
    assert_eq!(api_code(&e), (400, "invalid_item_id".to_string()), "{e}");
    let e = agent
        .create(
            &[("boot_trailridge_mid", 0)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap_err();
    assert_eq!(api_code(&e), (400, "invalid_quantity".to_string()), "{e}");
    let e = agent
        .create(
            &[("boot_trailridge_mid", -3)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap_err();
    assert_eq!(api_code(&e), (400, "invalid_quantity".to_string()), "{e}");
    // 10,000 pairs: the session explains the limit and is not payable.
    let s = agent
        .create(
            &[("boot_trailridge_mid", 10_000)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap();
    assert_eq!(s["status"], "not_ready_for_payment", "{s}");
    let m = &s["messages"][0];
    assert_eq!(m["code"], "quantity_exceeded", "{s}");
    assert!(m["content"].as_str().unwrap().contains("10,000"), "{m}");
    let e = agent
        .complete(s["id"].as_str().unwrap(), "pct_x", None, &unique("d"))
        .unwrap_err();
    assert_eq!(api_code(&e), (400, "session_not_ready".to_string()), "{e}");
    // Sold out.
    let s = agent
        .create(
            &[("boot_glacier_winter", 1)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap();
    assert_eq!(s["messages"][0]["code"], "out_of_stock", "{s}");

    // Cancel: once; then neither update, complete nor cancel again.
    let s = agent
        .create(&[("sock_merino_hiker", 2)], Some(&address()), &unique("c"))
        .unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(
        agent.cancel(&id, &unique("x")).unwrap()["status"],
        "canceled"
    );
    let e = agent.cancel(&id, &unique("x")).unwrap_err();
    assert_eq!(api_code(&e), (405, "session_canceled".to_string()), "{e}");
    let e = agent
        .update(
            &id,
            &json!({"buyer": {"email": "a@example.com"}}),
            &unique("u"),
        )
        .unwrap_err();
    assert_eq!(api_code(&e), (405, "session_canceled".to_string()), "{e}");
    let e = agent
        .complete(&id, "pct_x", None, &unique("d"))
        .unwrap_err();
    assert_eq!(api_code(&e).0, 405, "{e}");
    let e = agent.get("cs_nosuchsession").unwrap_err();
    assert_eq!(api_code(&e), (404, "session_not_found".to_string()), "{e}");

    // A credential Purser does not know: declined, and the session stays completable.
    let s = agent
        .create(
            &[("boot_pathfinder_light", 1)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    let d = agent
        .complete(&id, "pct_notarealcredential", None, &unique("d"))
        .expect("declined answer");
    assert_eq!(d["status"], "ready_for_payment", "{d}");
    assert!(
        d["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["code"] == "payment_declined"),
        "{d}"
    );
    assert!(d.get("order").is_none());
    // Absent mandate: this shop does not require one, so the credential alone pays.
    let credential = pay_for(&w, &d).expect("approved");
    let done = agent
        .complete(&id, &credential, None, &unique("d"))
        .expect("complete");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(w.user.available(&w.p), 500_000 - 45_900);

    // A shop that requires a mandate refuses a completion without one, and takes no money.
    let strict = start_shop(&w.p, &w.merchant, &["--require-mandate"]);
    let agent2 = Shopper::new(&strict.base, key_of(&w.agent)).unwrap();
    let s = agent2
        .create(
            &[("boot_trailridge_mid", 1)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    let credential = pay_for(&w, &s).expect("approved");
    let e = agent2
        .complete(&id, &credential, None, &unique("d"))
        .unwrap_err();
    assert_eq!(api_code(&e), (400, "mandate_required".to_string()), "{e}");
    let mandate = close_mandate(&w, &s);
    let done = agent2
        .complete(&id, &credential, Some(&mandate), &unique("d"))
        .expect("complete with mandate");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(w.user.available(&w.p), 500_000 - 45_900 - 69_900);

    drop((shop, strict));
    let (code, out, err) = verify(w.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

/// ACP's headers over plain HTTP: API-Version, Idempotency-Key (required, replay, conflict),
/// Request-Id echoed, the error shape.
#[test]
fn acp_headers_and_idempotency() {
    let w = world(&Storage::Sqlite);
    let shop = start_shop(&w.p, &w.merchant, &[]);
    let url = format!("{}/checkout_sessions", shop.base);
    let body = json!({"currency": "cny", "line_items": [{"id": "pack_daytrip_25", "quantity": 1}], "capabilities": {}});
    let post = |headers: &[(&str, &str)], body: &Value| {
        let mut r = agent().post(&url);
        for (n, v) in headers {
            r = r.set(n, v);
        }
        r.send_json(body.clone())
    };
    let (s, v, _) = answer(post(&[("Idempotency-Key", "k1")], &body)).unwrap();
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (400, "api_version_required"),
        "{v}"
    );
    assert_eq!(v["type"], "invalid_request");
    assert!(v["message"].as_str().unwrap().contains("2026-04-17"), "{v}");
    assert_eq!(
        v.as_object()
            .unwrap()
            .keys()
            .filter(|k| !["type", "code", "message", "param"].contains(&k.as_str()))
            .count(),
        0,
        "ACP's Error admits no other fields: {v}"
    );
    let (s, v, _) = answer(post(&[("API-Version", "2026-04-17")], &body)).unwrap();
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (400, "idempotency_key_required"),
        "{v}"
    );

    let key = unique("idem");
    let h = [
        ("API-Version", "2026-04-17"),
        ("Idempotency-Key", key.as_str()),
        ("Request-Id", "req-42"),
    ];
    let first = post(&h, &body).unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(first.header("request-id"), Some("req-42"));
    assert_eq!(first.header("idempotency-key"), Some(key.as_str()));
    let first: Value = first.into_json().unwrap();
    let (s, again, replayed) = answer(post(&h, &body)).unwrap();
    assert_eq!(s, 201);
    assert!(replayed, "the retry is a replay");
    assert_eq!(again["id"], first["id"]);
    let mut other = body.clone();
    other["line_items"][0]["quantity"] = json!(2);
    let (s, v, _) = answer(post(&h, &other)).unwrap();
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (422, "idempotency_conflict"),
        "{v}"
    );

    let (s, v, _) = answer(post(
        &[("API-Version", "2026-04-17"), ("Idempotency-Key", "k2")],
        &json!({"currency": "usd", "line_items": [{"id": "pack_daytrip_25"}]}),
    ))
    .unwrap();
    assert_eq!(
        (s, v["code"].as_str().unwrap(), v["param"].as_str().unwrap()),
        (400, "unsupported_currency", "$.currency"),
        "{v}"
    );
    let (s, v, _) = answer(
        agent()
            .get(&format!("{}/products?max_price=lots", shop.base))
            .call(),
    )
    .unwrap();
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (400, "invalid_max_price"),
        "{v}"
    );
    let (s, v, _) = answer(
        agent()
            .get(&format!("{}/products/tent_ridgeline_2p", shop.base))
            .call(),
    )
    .unwrap();
    assert_eq!(
        (s, v["price"]["amount"].as_i64().unwrap()),
        (200, 159_900),
        "{v}"
    );
    let (s, _, _) = answer(agent().get(&format!("{}/products/nope", shop.base)).call()).unwrap();
    assert_eq!(s, 404);

    // Purser's public agent key directory, which the shop reads.
    let (s, v, _) = answer(
        agent()
            .get(&format!("{}/v1/agent-keys/{}", w.p.base, w.agent.kid))
            .call(),
    )
    .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["agent"]["id"], w.agent.id.as_str());
    assert_eq!(v["status"], "active");
    assert!(v["jwk"].get("d").is_none(), "never the private key");
    let (s, _, _) = answer(
        agent()
            .get(&format!("{}/v1/agent-keys/{}", w.p.base, "A".repeat(43)))
            .call(),
    )
    .unwrap();
    assert_eq!(s, 404);
}

/// Runs SQL on Purser's own database (a test's way to reproduce a race inside Purser).
fn purser_sql(w: &World, storage: &Storage, sql: &str) {
    match storage.url() {
        Some(url) => crate::support::exec(url, sql),
        None => {
            let db = rusqlite::Connection::open(w.dir.path().join("purser.db")).unwrap();
            db.busy_timeout(Duration::from_secs(10)).unwrap();
            db.execute_batch(sql).unwrap();
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn trailridge_stock(agent: &Shopper) -> i64 {
    agent.search("TrailRidge", None, None, None).unwrap()["data"][0]["available_quantity"]
        .as_i64()
        .unwrap()
}

// A retried completion whose capture Purser still has in flight (409 idempotency_in_flight)
// is not a refusal: the session stays complete_in_progress with its stock, and the next retry
// finds the money captured and records the order. Before the fix the shop released the session
// and the stock while Purser captured, and no order was ever written.
both!(a_capture_in_flight_is_not_a_refusal, |storage| {
    let w = world(&storage);
    let shop = start_shop(&w.p, &w.merchant, &[]);
    let agent = Shopper::new(&shop.base, key_of(&w.agent)).unwrap();
    let s = agent
        .create(
            &[("boot_trailridge_mid", 1)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    let stock = trailridge_stock(&agent);
    let (credential, pay_id) = pay_for_id(&w, &s).unwrap();

    // The shop's first capture of this credential: it reaches Purser and is captured there...
    let body = json!({"credential": credential, "amount": {"amount": 69_900, "currency": "CNY"},
        "checkout_id": id});
    let first = unique("first");
    let r = crate::people::call(
        &w.p,
        "POST",
        "/v1/merchant/captures",
        Some(&w.merchant.key),
        &[("Idempotency-Key", &first)],
        Some(&body),
    );
    assert_eq!(r.want(200)["status"], "captured");
    // ...and Purser still holds it in flight under the key the shop captures with.
    let shop_key = purser_merchant::checkout::capture_key_for(&id, &credential);
    purser_sql(&w, &storage, &format!(
        "INSERT INTO idempotency (scope, key, request_hash, state, created_at) SELECT scope, '{shop_key}', request_hash, 'started', {} FROM idempotency WHERE key = '{first}'",
        now_ms()
    ));

    // The retry meets 409 idempotency_in_flight: outcome unknown, nothing released.
    let e = agent
        .complete(&id, &credential, None, &unique("d"))
        .unwrap_err();
    assert_eq!(api_code(&e), (503, "payment_pending".to_string()), "{e}");
    let now = agent.get(&id).unwrap();
    assert_eq!(now["status"], "complete_in_progress", "{now}");
    assert_eq!(
        trailridge_stock(&agent),
        stock - 1,
        "the stock stays reserved"
    );
    // Another credential cannot take the session meanwhile.
    let e = agent
        .complete(&id, "pct_someothercredential", None, &unique("d"))
        .unwrap_err();
    assert_eq!(api_code(&e).0, 409, "{e}");

    // Purser's in-flight row goes stale (its request died): the next retry is taken over,
    // Purser says the credential was redeemed, and the shop finds the capture and finishes.
    purser_sql(
        &w,
        &storage,
        &format!(
            "UPDATE idempotency SET created_at = {} WHERE key = '{shop_key}'",
            now_ms() - 120_000
        ),
    );
    let done = agent
        .complete(&id, &credential, None, &unique("d"))
        .expect("finished from Purser's record");
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["order"]["id"].as_str().unwrap().starts_with("ord_"));
    assert_eq!(trailridge_stock(&agent), stock - 1);
    let p = merchant_payment(&w, &pay_id);
    assert_eq!(
        (p["status"].as_str(), p["captured"]["amount"].as_i64()),
        (Some("captured"), Some(69_900))
    );
    assert_eq!(w.user.available(&w.p), 500_000 - 69_900, "captured once");

    // A credential issued to another agent is refused before anything is captured.
    let (other, _) = bound_agent(&w.p, &w.user, &w.user);
    let thief = Shopper::new(&shop.base, key_of(&other)).unwrap();
    let s = thief
        .create(
            &[("boot_pathfinder_light", 1)],
            Some(&address()),
            &unique("c"),
        )
        .unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    let (credential, pay_id) = pay_for_id(&w, &s).unwrap();
    let e = thief
        .complete(&id, &credential, None, &unique("d"))
        .unwrap_err();
    assert_eq!(
        api_code(&e),
        (403, "credential_agent_mismatch".to_string()),
        "{e}"
    );
    assert_eq!(thief.get(&id).unwrap()["status"], "ready_for_payment");
    assert_eq!(
        merchant_payment(&w, &pay_id)["status"],
        "approved",
        "nothing captured"
    );
    // The agent it was issued to completes the same session with it.
    let done = agent
        .complete(&id, &credential, None, &unique("d"))
        .expect("the right agent completes");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(merchant_payment(&w, &pay_id)["status"], "captured");

    drop(shop);
    let (code, out, err) = verify(w.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});
