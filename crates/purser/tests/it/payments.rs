//! Agent payments end to end over HTTP with the real binary: the signed request and its three
//! answers, the merchant's capture / void / refund, the kill switch, idempotency, refusals that
//! change nothing, and many payments racing one budget, one wallet and one exclusive card — on
//! SQLite and PostgreSQL.

use purser_core::mandate::{
    ConfirmationPolicy, ConfirmationRule, HowMuch, Mandate, Provenance, When,
};
use purser_core::{Currency, Money};
use serde_json::{json, Value};

use crate::both;
use crate::people::{
    bound_agent, cny, op, signed_call_with, unique, Person, Resp, Server, TestAgent,
};
use crate::support::{start, verify, Purser, Storage, TempDir};

/// A registered merchant and its API key.
pub struct Merchant {
    pub id: String,
    pub key: String,
    pub website: String,
}

pub fn register_merchant(p: &dyn Server, name: &str, website: &str) -> Merchant {
    let m = op(
        p,
        "POST",
        "/v1/merchants",
        Some(&json!({"name": name, "website": website, "country": "CN", "category": "5661"})),
    )
    .want(201);
    Merchant {
        id: m["merchant"]["id"]
            .as_str()
            .expect("merchant id")
            .to_string(),
        key: m["api_key"].as_str().expect("api key").to_string(),
        website: website.to_string(),
    }
}

impl Merchant {
    pub fn post(&self, p: &dyn Server, path: &str, key: Option<&str>, body: &Value) -> Resp {
        let mut h = Vec::new();
        if let Some(k) = key {
            h.push(("Idempotency-Key", k));
        }
        crate::people::call(p, "POST", path, Some(&self.key), &h, Some(body))
    }

    pub fn capture(&self, p: &dyn Server, credential: &str, minor: i64) -> Resp {
        self.post(
            p,
            "/v1/merchant/captures",
            Some(&unique("cap")),
            &json!({"credential": credential, "amount": cny(minor)}),
        )
    }

    pub fn refund(&self, p: &dyn Server, payment: &str, minor: i64) -> Resp {
        self.post(
            p,
            &format!("/v1/merchant/payments/{payment}/refunds"),
            Some(&unique("rfd")),
            &json!({"amount": cny(minor)}),
        )
    }
}

/// Boots: at most ¥800 a payment, ¥2,000 in all, paid without asking at or below ¥500.
pub fn boots_mandate() -> Mandate {
    let cny = |m| Money::new(m, Currency::CNY);
    Mandate {
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
                amount: cny(50_000),
            }],
        },
        provenance: Provenance {
            user_words:
                "Help me buy a pair of hiking boots, under 800 yuan; pay by yourself up to 500"
                    .into(),
            transcript: None,
        },
        ..Mandate::default()
    }
}

/// `user` gives `agent` the mandate and consents to it; returns its id.
pub fn give_mandate(p: &dyn Server, user: &Person, agent: &TestAgent, m: &Mandate) -> String {
    let d = user
        .post(
            p,
            "/v1/mandates",
            &json!({"agent_id": agent.id, "mandate": m}),
        )
        .want(201);
    let id = d["id"].as_str().expect("mandate id").to_string();
    let c = user
        .post(
            p,
            &format!("/v1/mandates/{id}/consent"),
            &json!({"content_hash": d["content_hash"]}),
        )
        .want(200);
    assert_eq!(c["status"], "active", "{c}");
    id
}

/// A payment request body for `qty` × `unit` minor CNY of `title`.
pub fn pay_body(
    user: &Person,
    mandate: &str,
    m: &Merchant,
    title: &str,
    qty: u32,
    unit: i64,
) -> Value {
    json!({
        "user_id": user.id,
        "task_id": "task-boots",
        "mandate_id": mandate,
        "merchant": {"id": m.id, "name": "Trail Outfitters", "website": format!("https://{}/boots", m.website)},
        "items": [{"id": "sku-1", "title": title, "quantity": qty, "unit_price": cny(unit)}],
        "total": cny(unit * i64::from(qty)),
    })
}

pub fn pay(p: &dyn Server, agent: &TestAgent, key: &str, body: &Value) -> Resp {
    signed_call_with(
        p,
        &agent.key,
        "POST",
        "/v1/agent/payments",
        Some(body),
        &[("Idempotency-Key", key)],
    )
}

/// A shop: a funded user, a bound agent with the boots mandate, and a merchant.
pub struct Shop {
    pub p: Purser,
    pub user: Person,
    pub agent: TestAgent,
    pub binding: String,
    pub mandate: String,
    pub merchant: Merchant,
    _dir: TempDir,
}

pub fn shop(storage: &Storage, funds: i64) -> Shop {
    let dir = TempDir::new("payments");
    let p = start(dir.path(), storage);
    let user = Person::new(&p, "Alice");
    if funds > 0 {
        user.funded(&p, funds);
    }
    let (agent, binding) = bound_agent(&p, &user, &user);
    let mandate = give_mandate(&p, &user, &agent, &boots_mandate());
    let merchant = register_merchant(
        &p,
        "Trail Outfitters",
        &format!("{}.example", unique("trail")),
    );
    Shop {
        p,
        user,
        agent,
        binding,
        mandate,
        merchant,
        _dir: dir,
    }
}

fn code_of(v: &Value) -> &str {
    v["decline"]["code"].as_str().unwrap_or_default()
}

both!(approve_capture_refund, |storage| {
    let s = shop(&storage, 500_000);
    let p = &s.p;
    assert_eq!(s.user.available(p), 500_000);

    // Approved under the threshold: money held, a scoped single-use credential, a receipt.
    let body = pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 39_900);
    let key = unique("pay");
    let a = pay(p, &s.agent, &key, &body).want(201);
    assert_eq!(a["status"], "approved", "{a}");
    let id = a["id"].as_str().expect("id").to_string();
    let token = a["credential"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(token.starts_with("pct_"), "{a}");
    assert_eq!(a["credential"]["merchant_id"], s.merchant.id.as_str());
    assert_eq!(a["credential"]["max_amount"]["amount"], 39_900);
    assert_eq!(a["credential"]["single_use"], true);
    assert!(
        a["receipt"]
            .as_str()
            .is_some_and(|r| r.split('.').count() == 3),
        "{a}"
    );
    assert_eq!(s.user.available(p), 500_000 - 39_900, "held, not spent");

    // The same key and body: the same payment, marked replayed. Another body: refused.
    let r = pay(p, &s.agent, &key, &body);
    assert!(r.replayed(), "{r:?}");
    let r = r.want(201);
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["credential"]["token"], token.as_str());
    let other = pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 39_800);
    pay(p, &s.agent, &key, &other).refused(422, "idempotency_conflict");
    signed_call_with(
        p,
        &s.agent.key,
        "POST",
        "/v1/agent/payments",
        Some(&body),
        &[],
    )
    .refused(400, "idempotency_key_required");
    assert_eq!(
        s.user.available(p),
        500_000 - 39_900,
        "refusals change nothing"
    );

    // The person sees it; the token is not shown to them.
    let seen = s.user.get(p, &format!("/v1/payments/{id}")).want(200);
    assert_eq!(seen["status"], "approved");
    assert!(seen["credential"]["token"].is_null(), "{seen}");

    // Another merchant cannot redeem it; more than the ceiling is refused.
    let thief = register_merchant(p, "Elsewhere", "elsewhere.example");
    thief
        .capture(p, &token, 39_900)
        .refused(403, "credential_wrong_merchant");
    s.merchant
        .capture(p, &token, 40_000)
        .refused(422, "amount_exceeds_credential");
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('a') { 'b' } else { 'a' });
    s.merchant
        .capture(p, &forged, 100)
        .refused(404, "credential_invalid");

    // A partial capture: the rest of the hold goes back. Once only.
    let c = s.merchant.capture(p, &token, 35_000).want(200);
    assert_eq!(c["status"], "captured", "{c}");
    assert_eq!(c["captured"]["amount"], 35_000);
    assert_eq!(s.user.available(p), 500_000 - 35_000);
    let m = s
        .user
        .get(p, &format!("/v1/mandates/{}", s.mandate))
        .want(200);
    assert_eq!(
        m["usage"]["spent"]["amount"], 35_000,
        "the budget counts what was captured: {m}"
    );
    s.merchant
        .capture(p, &token, 100)
        .refused(409, "credential_used");

    // Refunds: partial, then more than is left (refused), then the rest.
    let r = s.merchant.refund(p, &id, 10_000).want(200);
    assert_eq!(r["refunded"]["amount"], 10_000, "{r}");
    assert_eq!(s.user.available(p), 500_000 - 25_000);
    s.merchant
        .refund(p, &id, 30_000)
        .refused(422, "refund_exceeds_captured");
    let r = s.merchant.refund(p, &id, 25_000).want(200);
    assert_eq!(r["status"], "refunded", "{r}");
    assert_eq!(s.user.available(p), 500_000);

    // A merchant retry of the same refund key moves money once.
    let k = unique("rfd-retry");
    let again = s.merchant.post(
        p,
        &format!("/v1/merchant/payments/{id}/refunds"),
        Some(&k),
        &json!({"amount": cny(1)}),
    );
    again.refused(422, "refund_exceeds_captured");

    let (code, out, err) = verify(s._dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify: {out} {err}");
});

both!(declines_say_why_and_change_nothing, |storage| {
    let s = shop(&storage, 100_000);
    let p = &s.p;
    let go = |b: &Value| pay(p, &s.agent, &unique("pay"), b).want(201);

    // Above the mandate's per-payment maximum.
    let d = go(&pay_body(
        &s.user,
        &s.mandate,
        &s.merchant,
        "Summit boots",
        1,
        129_900,
    ));
    assert_eq!(d["status"], "declined", "{d}");
    assert_eq!(code_of(&d), "above_maximum", "{d}");
    assert!(
        d["decline"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("¥1,299.00")),
        "{d}"
    );
    assert!(d["receipt"].is_string(), "declines are signed too: {d}");
    assert!(d["credential"].is_null());

    // 10,000 pairs: an anomaly whatever the mandate says.
    let d = go(&pay_body(
        &s.user,
        &s.mandate,
        &s.merchant,
        "Trail boots",
        10_000,
        1,
    ));
    assert_eq!(code_of(&d), "quantity_anomaly", "{d}");

    // More than the wallet holds.
    let d = go(&pay_body(
        &s.user,
        &s.mandate,
        &s.merchant,
        "Trail boots",
        1,
        45_000,
    ));
    assert_eq!(d["status"], "approved", "{d}");
    let d = go(&pay_body(
        &s.user,
        &s.mandate,
        &s.merchant,
        "Other boots",
        1,
        49_000,
    ));
    assert_eq!(d["status"], "approved", "{d}");
    let d = go(&pay_body(
        &s.user,
        &s.mandate,
        &s.merchant,
        "Third boots",
        1,
        20_000,
    ));
    assert_eq!(code_of(&d), "insufficient_funds", "{d}");

    // The same cart again within minutes.
    let d = go(&pay_body(
        &s.user,
        &s.mandate,
        &s.merchant,
        "Trail boots",
        1,
        45_000,
    ));
    assert_eq!(code_of(&d), "duplicate_payment", "{d}");

    // An unregistered merchant, and a registered one described as another website.
    let mut b = pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 100);
    b["merchant"]["id"] = json!("mch_aaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(code_of(&go(&b)), "merchant_unknown");
    let mut b = pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 100);
    b["merchant"]["website"] = json!("https://phish.example");
    assert_eq!(code_of(&go(&b)), "merchant_mismatch");

    // Malformed requests are errors, not decisions.
    let mut b = pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 100);
    b["total"] = cny(99);
    pay(p, &s.agent, &unique("pay"), &b).refused(400, "total_mismatch");
    let mut b = pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 100);
    b["surprise"] = json!(1);
    pay(p, &s.agent, &unique("pay"), &b).refused(400, "invalid_field");

    // An agent not bound to this user gets no decision at all.
    let (stranger, _) = bound_agent(p, &s.user, &Person::new(p, "Bob"));
    pay(
        p,
        &stranger,
        &unique("pay"),
        &pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 100),
    )
    .refused(403, "agent_not_bound");

    // Only the two approvals hold money.
    assert_eq!(s.user.available(p), 100_000 - 45_000 - 49_000);
});

both!(
    freezing_an_agent_voids_its_holds_and_credentials,
    |storage| {
        let s = shop(&storage, 100_000);
        let p = &s.p;
        let a = pay(
            p,
            &s.agent,
            &unique("pay"),
            &pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 30_000),
        )
        .want(201);
        assert_eq!(a["status"], "approved", "{a}");
        let token = a["credential"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        assert_eq!(s.user.available(p), 70_000);

        s.user
            .post(p, &format!("/v1/bindings/{}/freeze", s.binding), &json!({}))
            .want(200);
        assert_eq!(s.user.available(p), 100_000, "the hold is released at once");
        let seen = s
            .user
            .get(
                p,
                &format!("/v1/payments/{}", a["id"].as_str().unwrap_or_default()),
            )
            .want(200);
        assert_eq!(seen["status"], "voided", "{seen}");
        s.merchant
            .capture(p, &token, 30_000)
            .refused(409, "credential_voided");

        // Its next request is refused, and recorded as such.
        let d = pay(
            p,
            &s.agent,
            &unique("pay"),
            &pay_body(&s.user, &s.mandate, &s.merchant, "Other boots", 1, 100),
        )
        .want(201);
        assert_eq!(code_of(&d), "agent_frozen", "{d}");

        // Unfrozen, it pays again.
        s.user
            .post(
                p,
                &format!("/v1/bindings/{}/unfreeze", s.binding),
                &json!({}),
            )
            .want(200);
        let a = pay(
            p,
            &s.agent,
            &unique("pay"),
            &pay_body(&s.user, &s.mandate, &s.merchant, "Other boots", 1, 100),
        )
        .want(201);
        assert_eq!(a["status"], "approved", "{a}");
    }
);

both!(merchant_voids_an_uncaptured_payment, |storage| {
    let s = shop(&storage, 100_000);
    let p = &s.p;
    let a = pay(
        p,
        &s.agent,
        &unique("pay"),
        &pay_body(&s.user, &s.mandate, &s.merchant, "Trail boots", 1, 30_000),
    )
    .want(201);
    let id = a["id"].as_str().expect("id");
    let token = a["credential"]["token"].as_str().expect("token");
    let v = s
        .merchant
        .post(
            p,
            &format!("/v1/merchant/payments/{id}/void"),
            None,
            &json!({}),
        )
        .want(200);
    assert_eq!(v["status"], "voided", "{v}");
    assert_eq!(s.user.available(p), 100_000);
    s.merchant
        .capture(p, token, 30_000)
        .refused(409, "credential_voided");
    s.merchant
        .refund(p, id, 100)
        .refused(409, "payment_not_captured");
    // The mandate's budget is given back too: ¥2,000 still fits.
    let m = s
        .user
        .get(p, &format!("/v1/mandates/{}", s.mandate))
        .want(200);
    assert_eq!(m["usage"]["payments"], 0, "{m}");
});

both!(payments_race_one_budget_and_one_wallet, |storage| {
    // Budget ¥2,000; twelve payments of ¥300 at once: at most six pass.
    let s = shop(&storage, 1_000_000);
    let p = &s.p;
    let approved: Vec<i64> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..12)
            .map(|i| {
                let s = &s;
                sc.spawn(move || {
                    let b = pay_body(
                        &s.user,
                        &s.mandate,
                        &s.merchant,
                        &format!("Boots #{i}"),
                        1,
                        30_000,
                    );
                    let a = pay(&s.p, &s.agent, &unique("race"), &b).want(201);
                    i64::from(a["status"] == "approved") * 30_000
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let total: i64 = approved.iter().sum();
    assert_eq!(total, 180_000, "six of twelve fit ¥2,000: {approved:?}");
    assert_eq!(s.user.available(p), 1_000_000 - total);

    // Four agents, each with its own mandate, race one wallet of ¥1,000: three ¥300 fit.
    let p2 = &s.p;
    let user = Person::new(p2, "Carol");
    user.funded(p2, 100_000);
    let merchant = register_merchant(p2, "Trail Outfitters", &format!("{}.example", unique("t")));
    let agents: Vec<(TestAgent, String)> = (0..4)
        .map(|_| {
            let (a, _) = bound_agent(p2, &user, &user);
            let m = give_mandate(p2, &user, &a, &boots_mandate());
            (a, m)
        })
        .collect();
    let passed: i64 = std::thread::scope(|sc| {
        let hs: Vec<_> = agents
            .iter()
            .flat_map(|(a, m)| (0..2).map(move |i| (a, m, i)))
            .map(|(a, m, i)| {
                let (p2, user, merchant) = (p2, &user, &merchant);
                sc.spawn(move || {
                    let b = pay_body(user, m, merchant, &format!("Boots {i}"), 1, 30_000);
                    let r = pay(p2, a, &unique("w"), &b).want(201);
                    i64::from(r["status"] == "approved")
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    assert_eq!(passed, 3, "a ¥1,000 wallet holds three ¥300 payments");
    assert_eq!(user.available(p2), 10_000);
    let (code, out, err) = verify(s._dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify: {out} {err}");
});

both!(an_exclusive_card_is_the_limit, |storage| {
    let s = shop(&storage, 500_000);
    let p = &s.p;
    let card = s
        .user
        .post(
            p,
            "/v1/exclusive-cards",
            &json!({"binding_id": s.binding, "currency": "CNY"}),
        )
        .want(201);
    let ecd = card["id"].as_str().expect("ecd").to_string();
    s.user
        .post_key(
            p,
            &format!("/v1/exclusive-cards/{ecd}/fund"),
            &unique("f"),
            &json!({"amount": cny(100_000)}),
        )
        .want(200);
    let passed: i64 = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6)
            .map(|i| {
                let (s, ecd) = (&s, &ecd);
                sc.spawn(move || {
                    let mut b = pay_body(
                        &s.user,
                        &s.mandate,
                        &s.merchant,
                        &format!("Card boots {i}"),
                        1,
                        30_000,
                    );
                    b["funding_source"] = json!(ecd);
                    let r = pay(&s.p, &s.agent, &unique("e"), &b).want(201);
                    if r["status"] == "approved" {
                        assert_eq!(r["funding_source"], ecd.as_str(), "{r}");
                    } else {
                        assert_eq!(code_of(&r), "insufficient_funds", "{r}");
                    }
                    i64::from(r["status"] == "approved")
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    assert_eq!(passed, 3, "a ¥1,000 card holds three ¥300 payments");
    // The main wallet was never touched.
    assert_eq!(s.user.available(p), 400_000);
});

/// What the load saw acknowledged: approvals (key, body, payment id) and captures.
#[derive(Default, Clone)]
struct Seen {
    approved: Vec<(String, Value, String)>,
    captured: Vec<String>,
}

both!(a_crash_loses_nothing_acknowledged, |storage| {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = TempDir::new("payments-crash");
    let mut p = crate::support::start_with(
        dir.path(),
        &storage,
        &["--agent-payments-per-minute", "100000"],
    );
    let user = Person::new(&p, "Dana");
    user.funded(&p, 1_000_000);
    let (agent, _) = bound_agent(&p, &user, &user);
    let mandate = give_mandate(&p, &user, &agent, &boots_mandate());
    let merchant = register_merchant(&p, "Trail Outfitters", &format!("{}.example", unique("t")));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|sc| {
        for t in 0..4 {
            let (p, user, agent, mandate, merchant, seen, stop) = (
                &p,
                &user,
                &agent,
                &mandate,
                &merchant,
                seen.clone(),
                stop.clone(),
            );
            sc.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body = pay_body(user, mandate, merchant, &format!("Lace #{t}-{n}"), 1, 100);
                    let key = unique("crash");
                    let r = std::panic::catch_unwind(|| pay(p, agent, &key, &body));
                    let Ok(r) = r else { return };
                    if r.status != 201 {
                        return; // the server is gone
                    }
                    let v = r.body.clone();
                    if v["status"] != "approved" {
                        continue;
                    }
                    let id = v["id"].as_str().unwrap_or_default().to_string();
                    let token = v["credential"]["token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    seen.lock()
                        .map(|mut s| s.approved.push((key, body, id.clone())))
                        .ok();
                    if n % 2 == 0 {
                        let c = std::panic::catch_unwind(|| merchant.capture(p, &token, 100));
                        match c {
                            Ok(c) if c.status == 200 => {
                                seen.lock().map(|mut s| s.captured.push(id)).ok();
                            }
                            _ => return,
                        }
                    }
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        // SIGKILL mid-load: no chance to finish anything.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &p.pid().to_string()])
            .status();
        stop.store(true, Ordering::Relaxed);
    });
    p.kill();
    let seen = seen
        .lock()
        .map(|s| (s.approved.clone(), s.captured.clone()))
        .unwrap_or_default();
    assert!(!seen.0.is_empty(), "the load made progress before the kill");

    let p = start(dir.path(), &storage);
    let mut held = 0;
    for (key, body, id) in &seen.0 {
        let v = user.get(&p, &format!("/v1/payments/{id}")).want(200);
        let status = v["status"].as_str().unwrap_or_default();
        if seen.1.contains(id) {
            assert_eq!(status, "captured", "an acknowledged capture survives: {v}");
        } else {
            assert!(
                ["approved", "capturing", "captured"].contains(&status),
                "an acknowledged approval survives: {v}"
            );
            if status == "approved" {
                held += 100;
            }
        }
        // A retry with the same key answers the same payment.
        let r = pay(&p, &agent, key, body);
        assert!(r.replayed(), "{r:?}");
        assert_eq!(r.want(201)["id"], id.as_str());
    }
    let captured = 100 * seen.1.len() as i64;
    assert!(
        user.available(&p) <= 1_000_000 - captured - held,
        "no money appeared: acknowledged captures and holds are all accounted for"
    );
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify: {out} {err}");
});

both!(bills_timelines_and_live_events, |storage| {
    use std::io::BufRead;

    let s = shop(&storage, 500_000);
    let p = &s.p;
    let pay_one = |title: &str, minor: i64| {
        pay(
            p,
            &s.agent,
            &unique("bill"),
            &pay_body(&s.user, &s.mandate, &s.merchant, title, 1, minor),
        )
        .want(201)
    };
    let a = pay_one("Boots A", 10_000);
    let b = pay_one("Boots B", 20_000);
    let c = pay_one("Boots C", 30_000);
    let d = pay_one("Boots D", 90_000);
    assert_eq!(code_of(&d), "above_maximum", "{d}");
    let token = |v: &Value| {
        v["credential"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    s.merchant.capture(p, &token(&a), 10_000).want(200);
    s.merchant.capture(p, &token(&b), 15_000).want(200);
    let bid = b["id"].as_str().unwrap_or_default();
    s.merchant.refund(p, bid, 5_000).want(200);

    // The bill: every payment, totals over all of them.
    let bill = s.user.get(p, "/v1/bills").want(200);
    assert_eq!(bill["data"].as_array().map(Vec::len), Some(4), "{bill}");
    let t = &bill["totals"][0];
    assert_eq!(t["currency"], "CNY");
    assert_eq!(t["payments"], 4);
    assert_eq!(t["captured"]["amount"], 25_000);
    assert_eq!(t["refunded"]["amount"], 5_000);
    assert_eq!(t["net"]["amount"], 20_000);
    assert_eq!(t["held"]["amount"], 30_000, "C is approved, not captured");

    // Filters.
    let f = s.user.get(p, "/v1/bills?status=captured").want(200);
    assert_eq!(
        f["data"].as_array().map(Vec::len),
        Some(2),
        "A, and B partly refunded: {f}"
    );
    let f = s.user.get(p, "/v1/bills?status=declined").want(200);
    assert_eq!(f["data"][0]["payment_id"], d["id"], "{f}");
    let f = s
        .user
        .get(
            p,
            &format!(
                "/v1/bills?merchant_id={}&agent_id={}",
                s.merchant.id, s.agent.id
            ),
        )
        .want(200);
    assert_eq!(f["data"].as_array().map(Vec::len), Some(4));
    let f = s
        .user
        .get(p, "/v1/bills?from=2000-01-01&to=2000-02-01")
        .want(200);
    assert_eq!(f["data"], json!([]));
    assert_eq!(f["totals"], json!([]));

    // Pages: two of two, no overlap, the cursor ends.
    let p1 = s.user.get(p, "/v1/bills?limit=2").want(200);
    assert_eq!(p1["has_more"], true, "{p1}");
    let cursor = p1["next_cursor"].as_str().expect("cursor").to_string();
    let p2 = s
        .user
        .get(p, &format!("/v1/bills?limit=2&cursor={cursor}"))
        .want(200);
    assert_eq!(p2["has_more"], false, "{p2}");
    let ids: Vec<&Value> = p1["data"]
        .as_array()
        .into_iter()
        .chain(p2["data"].as_array())
        .flatten()
        .map(|l| &l["payment_id"])
        .collect();
    assert_eq!(ids.len(), 4);
    for id in [&a["id"], &b["id"], &c["id"], &d["id"]] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }

    // CSV.
    let csv = s.user.get(p, "/v1/bills?format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/csv")));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 5, "{}", csv.text);
    assert!(
        lines[0].starts_with("payment_id,created_at,status"),
        "{}",
        lines[0]
    );
    assert!(csv.text.contains(",150.00,50.00,100.00"), "{}", csv.text);

    // Bad filters are clear errors.
    s.user
        .get(p, "/v1/bills?status=bogus")
        .refused(400, "status_invalid");
    s.user
        .get(p, "/v1/bills?limit=0")
        .refused(400, "limit_invalid");
    s.user
        .get(p, "/v1/bills?from=yesterday")
        .refused(400, "from_invalid");
    s.user
        .get(p, "/v1/bills?colour=red")
        .refused(400, "parameter_unknown");
    s.user
        .get(p, "/v1/bills?cursor=nope")
        .refused(400, "cursor_invalid");

    // The task: its timeline in order, and in the task list.
    let tl = s.user.get(p, "/v1/tasks/task-boots").want(200);
    let kinds: Vec<&str> = tl["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for k in [
        "payment.approved",
        "payment.declined",
        "payment.captured",
        "payment.refunded",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let tasks = s.user.get(p, "/v1/tasks").want(200);
    assert_eq!(tasks["data"][0]["task_id"], "task-boots", "{tasks}");
    assert_eq!(tasks["data"][0]["payments"], 4);

    // Live: the stream replays the timeline, then shows what happens next.
    let resp = crate::support::agent()
        .get(&format!("{}/v1/tasks/task-boots/stream", p.base))
        .set("Authorization", &format!("Bearer {}", s.user.token))
        .call()
        .expect("stream");
    assert!(resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream")));
    let mut lines = std::io::BufReader::new(resp.into_reader()).lines();
    let mut seen = Vec::new();
    while seen.len() < kinds.len() {
        let l = lines.next().expect("a line").expect("read");
        if let Some(e) = l
            .strip_prefix("event: ")
            .or_else(|| l.strip_prefix("event:"))
        {
            seen.push(e.trim().to_string());
        }
    }
    let later = pay_one("Boots E", 1_000);
    assert_eq!(later["status"], "approved", "{later}");
    loop {
        let l = lines.next().expect("a line").expect("read");
        if l.starts_with("data:") && l.contains(later["id"].as_str().unwrap_or("?")) {
            break;
        }
    }
});

both!(an_agent_paying_too_fast_is_declined, |storage| {
    let dir = TempDir::new("payments-velocity");
    let p = crate::support::start_with(dir.path(), &storage, &["--agent-payments-per-minute", "3"]);
    let user = Person::new(&p, "Erin");
    user.funded(&p, 100_000);
    let (agent, _) = bound_agent(&p, &user, &user);
    let mandate = give_mandate(&p, &user, &agent, &boots_mandate());
    let merchant = register_merchant(&p, "Trail Outfitters", &format!("{}.example", unique("v")));
    for i in 0..3 {
        let b = pay_body(&user, &mandate, &merchant, &format!("Sock {i}"), 1, 100);
        let a = pay(&p, &agent, &unique("v"), &b).want(201);
        assert_eq!(a["status"], "approved", "{a}");
    }
    let b = pay_body(&user, &mandate, &merchant, "Sock 4", 1, 100);
    let d = pay(&p, &agent, &unique("v"), &b).want(201);
    assert_eq!(code_of(&d), "velocity_exceeded", "{d}");
    assert_eq!(user.available(&p), 100_000 - 300);
});
