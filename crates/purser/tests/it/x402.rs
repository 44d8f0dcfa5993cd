//! HTTP 402 pay-per-call end to end: a real metered axum service built with
//! `purser_x402::Paywall` (on a random port) in front of a real `purser serve` facilitator, an
//! agent paying with the SDK (`purser_agent::Client::x402_get`), and the ledger afterwards — on
//! SQLite and PostgreSQL.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use purser_agent::{AgentKey, Client, X402Options};
use purser_x402::header::{self, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE};
use purser_x402::purser::{self as scheme, PurserAuthorization, PurserPayload};
use purser_x402::types::{PaymentPayload, PaymentRequirements, VerifyRequest};
use purser_x402::{Paid, Paywall, Usage};
use serde_json::{json, Value};

use crate::both;
use crate::payments::{boots_mandate, give_mandate, register_merchant, Merchant};
use crate::people::{bound_agent, call, send, unique, Person, TestAgent};
use crate::support::{start, verify, Purser, Storage, TempDir};

/// The metered service: its runtime stops when dropped.
pub(crate) struct Service {
    pub(crate) base: String,
    /// How many times the /weather handler ran.
    pub(crate) runs: Arc<AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

pub(crate) fn service(purser: &str, api_key: &str) -> Service {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (listener, base) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = l.local_addr().unwrap();
        (l, format!("http://{addr}"))
    });
    let paywall = rt
        .block_on(Paywall::connect(purser, api_key, &base))
        .expect("connect to the facilitator");
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let app = Router::new()
        .route(
            "/weather",
            get(move |Extension(paid): Extension<Paid>| async move {
                counter.fetch_add(1, Ordering::SeqCst);
                format!("sunny (paid {} {})", paid.max_amount, paid.currency)
            })
            .layer(
                paywall
                    .exact(150, "CNY")
                    .unwrap()
                    .description("Today's weather"),
            ),
        )
        .route(
            "/forecast",
            get(|| async { "rain" }).layer(paywall.exact(150, "CNY").unwrap()),
        )
        .route(
            "/summarize",
            get(|| async { (Extension(Usage(120)), "a summary of 120 tokens") })
                .layer(paywall.upto(500, "CNY").unwrap()),
        )
        .route(
            "/broken",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") })
                .layer(paywall.upto(300, "CNY").unwrap()),
        )
        .route(
            "/report",
            get(|| async { "a big report" }).layer(paywall.exact(90_000, "CNY").unwrap()),
        )
        .route(
            "/premium",
            get(|| async { "premium" }).layer(paywall.exact(60_000, "CNY").unwrap()),
        );
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Service {
        base,
        runs,
        _rt: rt,
    }
}

struct World {
    p: Purser,
    user: Person,
    agent: TestAgent,
    mandate: String,
    merchant: Merchant,
    svc: Service,
    dir: TempDir,
}

fn world(storage: &Storage) -> World {
    let dir = TempDir::new("x402");
    let p = start(dir.path(), storage);
    let user = Person::new(&p, "Alice");
    user.funded(&p, 500_000);
    let (agent, _) = bound_agent(&p, &user, &user);
    let mandate = give_mandate(&p, &user, &agent, &boots_mandate());
    let merchant = register_merchant(&p, "Weather API", &format!("{}.example", unique("wx")));
    let svc = service(&p.base, &merchant.key);
    World {
        p,
        user,
        agent,
        mandate,
        merchant,
        svc,
        dir,
    }
}

impl World {
    fn client(&self) -> Client {
        let jwk = self.agent.key.to_private_jwk().unwrap();
        Client::new(&self.p.base, AgentKey::from_private_jwk(&jwk).unwrap()).unwrap()
    }

    fn opts(&self, max: i64) -> X402Options {
        X402Options {
            user_id: self.user.id.clone(),
            mandate_id: self.mandate.clone(),
            task_id: "task-x402".into(),
            max: purser_agent::Money::new(max, "CNY"),
            funding_source: None,
        }
    }

    fn merchant_payment(&self, id: &str) -> Value {
        call(
            &self.p,
            "GET",
            &format!("/v1/merchant/payments/{id}"),
            Some(&self.merchant.key),
            &[],
            None,
        )
        .want(200)
    }
}

/// A plain GET of the service: status, headers, body.
fn fetch(url: &str, payment: Option<&str>) -> (u16, Option<String>, Option<String>, Value) {
    let mut req = ureq::get(url);
    if let Some(h) = payment {
        req = req.set(PAYMENT_SIGNATURE, h);
    }
    let r = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = r.status();
    let required = r.header(PAYMENT_REQUIRED).map(str::to_string);
    let response = r.header(PAYMENT_RESPONSE).map(str::to_string);
    let text = r.into_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, required, response, body)
}

/// What the SDK does, by hand, so the test holds the header to replay and tamper with.
fn pay_by_hand(w: &World, url: &str) -> (PaymentPayload, PaymentRequirements) {
    let (status, required, _, _) = fetch(url, None);
    assert_eq!(status, 402);
    let required = header::decode_payment_required(required.unwrap().as_bytes()).unwrap();
    let chosen = required.accepts[0].clone();
    let resource = required.resource.clone().unwrap().url;
    let c = w.client();
    let nonce = purser_agent::nonce().unwrap();
    let amount = scheme::parse_amount(&chosen.amount).unwrap();
    let body = json!({
        "user_id": w.user.id, "task_id": "task-x402", "mandate_id": w.mandate,
        "merchant": {"id": chosen.pay_to},
        "items": [{"id": scheme::item_id(&chosen.scheme, &nonce), "title": resource, "quantity": 1, "unit_price": {"amount": amount, "currency": "CNY"}}],
        "total": {"amount": amount, "currency": "CNY"},
        "credential_ttl_seconds": 120,
    });
    let pay = c
        .send_with_key(
            "POST",
            "/v1/agent/payments",
            Some(&body),
            &format!("x402-{nonce}"),
        )
        .unwrap();
    assert_eq!(pay["status"], "approved", "{pay}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let auth = PurserAuthorization {
        payment_id: pay["id"].as_str().unwrap().to_string(),
        resource,
        nonce,
        valid_after: now.to_string(),
        valid_before: (now + 120).to_string(),
        keyid: w.agent.kid.clone(),
    };
    let sig = w
        .agent
        .key
        .sign(&scheme::signing_input(&chosen, &auth))
        .unwrap();
    let payload = PaymentPayload {
        x402_version: 2,
        resource: required.resource.clone(),
        accepted: chosen.clone(),
        payload: serde_json::to_value(PurserPayload {
            credential: pay["credential"]["token"].as_str().unwrap().to_string(),
            authorization: auth,
            signature: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig),
        })
        .unwrap(),
        extensions: None,
    };
    (payload, chosen)
}

fn facilitator(w: &World, path: &str, key: &str, body: &Value) -> Value {
    call(&w.p, "POST", path, Some(key), &[], Some(body)).want(200)
}

both!(x402_pay_per_call, |storage| {
    let w = world(&storage);
    let before = w.user.available(&w.p);

    // The facilitator lists Purser's schemes on its network.
    let (s, supported) = w.p.get("/x402/supported");
    assert_eq!(s, 200);
    let kinds = supported["kinds"].as_array().unwrap();
    let network = kinds[0]["network"].as_str().unwrap().to_string();
    assert!(scheme::is_purser_network(&network), "{supported}");
    let schemes: Vec<&str> = kinds
        .iter()
        .map(|k| k["scheme"].as_str().unwrap())
        .collect();
    assert_eq!(schemes, ["exact", "upto"]);
    assert!(kinds
        .iter()
        .all(|k| k["x402Version"] == 2 && k["network"] == network.as_str()));

    // Unpaid: 402 with a decodable PAYMENT-REQUIRED naming the merchant as payTo.
    let url = format!("{}/weather", w.svc.base);
    let (status, required, _, body) = fetch(&url, None);
    assert_eq!(status, 402);
    assert_eq!(body["code"], "payment_required", "{body}");
    let required = header::decode_payment_required(required.unwrap().as_bytes()).unwrap();
    println!(
        "PAYMENT-REQUIRED decoded: {}",
        serde_json::to_string(&required).unwrap()
    );
    assert_eq!(required.x402_version, 2);
    assert_eq!(required.resource.as_ref().unwrap().url, url);
    let r = &required.accepts[0];
    assert_eq!(
        (r.scheme.as_str(), r.amount.as_str(), r.asset.as_str()),
        ("exact", "150", "CNY")
    );
    assert_eq!(
        (r.network.as_str(), r.pay_to.as_str()),
        (network.as_str(), w.merchant.id.as_str())
    );

    // The SDK pays within the mandate and gets the resource and the settlement.
    let c = w.client();
    let got = c.x402_get(&url, &w.opts(1_000)).unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(String::from_utf8(got.body).unwrap(), "sunny (paid 150 CNY)");
    let paid = got.paid.unwrap();
    assert!(paid.settlement.success);
    assert_eq!(paid.settlement.network, network);
    assert_eq!(paid.settlement.amount.as_deref(), Some("150"));
    assert_eq!(paid.settlement.payer.as_deref(), Some(w.agent.id.as_str()));
    println!(
        "PAYMENT-RESPONSE decoded: {}",
        serde_json::to_string(&paid.settlement).unwrap()
    );
    let pay_id = paid.settlement.transaction.clone();
    assert_eq!(pay_id, paid.payment.id);
    // The ledger: the merchant was paid, the person's wallet paid exactly that.
    let mp = w.merchant_payment(&pay_id);
    assert_eq!(mp["status"], "captured", "{mp}");
    assert_eq!(w.user.available(&w.p), before - 150);

    // A second call of the same resource is its own payment (not a duplicate cart).
    let again = c.x402_get(&url, &w.opts(1_000)).unwrap();
    assert_ne!(again.paid.unwrap().settlement.transaction, pay_id);
    assert_eq!(w.user.available(&w.p), before - 300);

    // upto: the handler used 120 of at most 500; 120 is captured and 380 released.
    let got = c
        .x402_get(&format!("{}/summarize", w.svc.base), &w.opts(1_000))
        .unwrap();
    let s = got.paid.unwrap().settlement;
    assert_eq!(s.amount.as_deref(), Some("120"));
    assert_eq!(w.merchant_payment(&s.transaction)["status"], "captured");
    assert_eq!(w.user.available(&w.p), before - 420);

    // upto whose handler failed: nothing charged, the hold released at once.
    let got = c.x402_get(&format!("{}/broken", w.svc.base), &w.opts(1_000));
    let e = got.unwrap_err();
    assert_eq!(e.code(), Some("x402_payment_refused"), "{e}");
    assert_eq!(w.user.available(&w.p), before - 420);

    // Above the caller's maximum: refused before Purser is asked; nothing held.
    let e = c.x402_get(&url, &w.opts(100)).unwrap_err();
    assert_eq!(e.code(), Some("x402_above_maximum"), "{e}");
    // Above the mandate (at most ¥800 a payment): Purser declines; nothing paid or held.
    let e = c
        .x402_get(&format!("{}/report", w.svc.base), &w.opts(100_000))
        .unwrap_err();
    assert_eq!(e.code(), Some("above_maximum"), "{e}");
    assert!(e.to_string().contains("declined"), "{e}");
    assert_eq!(w.user.available(&w.p), before - 420);
    // Above the auto-pay threshold (¥500): the person must confirm, so it is not paid.
    let e = c
        .x402_get(&format!("{}/premium", w.svc.base), &w.opts(100_000))
        .unwrap_err();
    assert_eq!(e.code(), Some("x402_needs_confirmation"), "{e}");

    let (code, out, err) = verify(w.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

both!(x402_replay_tamper_and_malformed, |storage| {
    let w = world(&storage);
    let url = format!("{}/weather", w.svc.base);
    let before = w.user.available(&w.p);
    let (payload, requirements) = pay_by_hand(&w, &url);
    let h = header::encode(&payload).unwrap();

    // Tampered: another amount in the payment than the resource asks → 402, nothing paid.
    let mut t = payload.clone();
    t.accepted.amount = "1".into();
    let (status, required, _, body) = fetch(&url, Some(&header::encode(&t).unwrap()));
    assert_eq!(status, 402);
    assert_eq!(body["code"], "requirements_mismatch", "{body}");
    assert!(required.is_some());
    // The facilitator refuses each tampering on its own.
    let verify_with = |p: &PaymentPayload, r: &PaymentRequirements| {
        let req = VerifyRequest {
            x402_version: Some(2),
            payment_payload: p.clone(),
            payment_requirements: r.clone(),
        };
        facilitator(
            &w,
            "/x402/verify",
            &w.merchant.key,
            &serde_json::to_value(req).unwrap(),
        )
    };
    let mut r1 = requirements.clone();
    r1.amount = "1".into();
    let v = verify_with(&t, &r1);
    assert_eq!(
        (v["isValid"].clone(), v["invalidReason"].clone()),
        (json!(false), json!("invalid_purser_payload_amount")),
        "{v}"
    );
    let mut t = payload.clone();
    t.payload["signature"] =
        json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 64]));
    assert_eq!(
        verify_with(&t, &requirements)["invalidReason"],
        "invalid_purser_payload_signature"
    );
    let mut t = payload.clone();
    t.payload["authorization"]["validBefore"] = json!("4000000000");
    assert_eq!(
        verify_with(&t, &requirements)["invalidReason"],
        "invalid_purser_payload_signature"
    );
    let mut t = payload.clone();
    t.payload["credential"] = json!(format!(
        "{}x",
        payload.payload["credential"].as_str().unwrap()
    ));
    assert_eq!(
        verify_with(&t, &requirements)["invalidReason"],
        "invalid_purser_payload_credential"
    );
    let mut t = payload.clone();
    t.accepted.max_timeout_seconds = 3600;
    let mut r2 = requirements.clone();
    r2.max_timeout_seconds = 3600;
    assert_eq!(
        verify_with(&t, &r2)["invalidReason"],
        "invalid_purser_payload_signature"
    );
    let mut r3 = requirements.clone();
    r3.network = "purser:someoneelse".into();
    assert_eq!(
        verify_with(&payload, &r3)["invalidReason"],
        "invalid_network"
    );
    // Another merchant cannot verify or settle it.
    let other = register_merchant(&w.p, "Other API", &format!("{}.example", unique("oth")));
    let req = json!({"paymentPayload": payload, "paymentRequirements": requirements});
    let v = facilitator(&w, "/x402/verify", &other.key, &req);
    assert_eq!(
        v["invalidReason"], "invalid_purser_payload_recipient_mismatch",
        "{v}"
    );
    let s = facilitator(&w, "/x402/settle", &other.key, &req);
    assert_eq!(
        (s["success"].clone(), s["transaction"].clone()),
        (json!(false), json!("")),
        "{s}"
    );
    assert_eq!(w.user.available(&w.p), before - 150, "only the hold");

    // Paid once.
    let (status, _, response, body) = fetch(&url, Some(&h));
    assert_eq!(status, 200, "{body}");
    let settled = header::decode_payment_response(response.unwrap().as_bytes()).unwrap();
    assert!(settled.success);
    assert_eq!(w.user.available(&w.p), before - 150);
    // Replayed: refused, and nothing more is paid.
    let (status, _, response, body) = fetch(&url, Some(&h));
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["code"], "invalid_transaction_state", "{body}");
    assert!(response.is_none());
    // Settling it again without the original settle's Idempotency-Key is refused…
    let s = facilitator(&w, "/x402/settle", &w.merchant.key, &req);
    assert_eq!(
        (s["success"].clone(), s["errorReason"].clone()),
        (json!(false), json!("invalid_transaction_state")),
        "{s}"
    );
    let nonce = payload.payload["authorization"]["nonce"].as_str().unwrap();
    let other_key = format!("another-{nonce}");
    let s = call(
        &w.p,
        "POST",
        "/x402/settle",
        Some(&w.merchant.key),
        &[("Idempotency-Key", other_key.as_str())],
        Some(&req),
    )
    .want(200);
    assert_eq!(s["success"], false, "{s}");
    // …while a retry of the original settle (its key) answers the first settlement.
    // (The same bytes the middleware sent: the struct serialized in field order.)
    let first_key = format!("x402-settle-{nonce}");
    let original = serde_json::to_vec(&VerifyRequest {
        x402_version: Some(2),
        payment_payload: payload.clone(),
        payment_requirements: requirements.clone(),
    })
    .unwrap();
    let s = send(
        &w.p,
        "POST",
        "/x402/settle",
        Some(&w.merchant.key),
        &[("Idempotency-Key", first_key.as_str())],
        Some(&original),
    )
    .want(200);
    assert_eq!(s["success"], true, "{s}");
    assert_eq!(s["transaction"], settled.transaction.as_str());
    let mp = w.merchant_payment(&settled.transaction);
    assert_eq!(mp["status"], "captured", "{mp}");
    assert_eq!(w.user.available(&w.p), before - 150);
    // …and for another amount it is refused.
    let mut r4 = requirements.clone();
    r4.amount = "100".into();
    let s = facilitator(
        &w,
        "/x402/settle",
        &w.merchant.key,
        &json!({"paymentPayload": payload, "paymentRequirements": r4}),
    );
    assert_eq!(s["success"], false, "{s}");

    // Malformed headers: clear 400s in Purser's error shape.
    let (status, _, _, body) = fetch(&url, Some("!!not base64!!"));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("header_not_base64")),
        "{body}"
    );
    assert_eq!(body["param"], PAYMENT_SIGNATURE);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (status, _, _, body) = fetch(&url, Some(&b64("{\"x402Version\":2}")));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("header_invalid")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("accepted"),
        "{body}"
    );
    let (status, _, _, body) = fetch(&url, Some(&b64("{\"x402Version\":1,\"scheme\":\"exact\"}")));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unsupported_x402_version")),
        "{body}"
    );
    let (status, _, _, body) = fetch(&url, Some(&"A".repeat(header::MAX_HEADER_BYTES + 4)));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("header_too_large")),
        "{body}"
    );
    // The facilitator's own edge.
    let r = call(
        &w.p,
        "POST",
        "/x402/verify",
        Some(&w.merchant.key),
        &[],
        None,
    );
    assert_eq!(r.status, 400, "{:?}", r.body);
    let r = call(&w.p, "POST", "/x402/verify", None, &[], Some(&req));
    assert_eq!(r.status, 401);
    assert_eq!(r.body["code"], "merchant_key_missing");
    let r = call(
        &w.p,
        "POST",
        "/x402/settle",
        Some(&w.merchant.key),
        &[],
        Some(&json!({"paymentPayload": payload})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body["param"], "paymentRequirements", "{:?}", r.body);

    let (code, out, err) = verify(w.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

both!(x402_one_payment_unlocks_one_call, |storage| {
    let w = world(&storage);
    let url = format!("{}/weather", w.svc.base);
    let before = w.user.available(&w.p);
    let (payload, requirements) = pay_by_hand(&w, &url);
    let h = header::encode(&payload).unwrap();

    // The same PAYMENT-SIGNATURE on four requests at once: one is served and charged.
    let results: Vec<(u16, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let (status, _, _, body) = fetch(&url, Some(&h));
                    (status, body)
                })
            })
            .collect();
        hs.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let served = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(served, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 402, "{body}");
        assert!(
            [
                "invalid_purser_payload_claimed",
                "invalid_transaction_state"
            ]
            .contains(&body["code"].as_str().unwrap()),
            "{body}"
        );
    }
    assert_eq!(
        w.svc.runs.load(Ordering::SeqCst),
        1,
        "the handler ran more than once"
    );
    // Sent again after the first completed: refused, the handler does not run.
    let (status, _, _, body) = fetch(&url, Some(&h));
    assert_eq!(status, 402, "{body}");
    assert_eq!(w.svc.runs.load(Ordering::SeqCst), 1);
    let pay_id = payload.payload["authorization"]["paymentId"]
        .as_str()
        .unwrap();
    let mp = w.merchant_payment(pay_id);
    assert_eq!(mp["status"], "captured", "{mp}");
    assert_eq!(w.user.available(&w.p), before - 150, "charged once");

    // Verify itself is single use: a second verify of an approved payment is refused.
    let (payload, requirements2) = pay_by_hand(&w, &url);
    assert_eq!(requirements, requirements2);
    let req = json!({"paymentPayload": payload, "paymentRequirements": requirements});
    let v = facilitator(&w, "/x402/verify", &w.merchant.key, &req);
    assert_eq!(v["isValid"], true, "{v}");
    let v = facilitator(&w, "/x402/verify", &w.merchant.key, &req);
    assert_eq!(
        (v["isValid"].clone(), v["invalidReason"].clone()),
        (json!(false), json!("invalid_purser_payload_claimed")),
        "{v}"
    );
    // The payload must name its resource for the facilitator.
    let (mut payload, _) = pay_by_hand(&w, &url);
    payload.resource = None;
    let req = json!({"paymentPayload": payload, "paymentRequirements": requirements});
    let v = facilitator(&w, "/x402/verify", &w.merchant.key, &req);
    assert_eq!(
        v["invalidReason"], "invalid_purser_payload_resource_mismatch",
        "{v}"
    );
    // A payment signed for /weather is not accepted at /forecast (same price, another URL),
    // whether or not the unsigned `resource` member was rewritten to /forecast.
    let forecast = format!("{}/forecast", w.svc.base);
    let (mut payload, _) = pay_by_hand(&w, &url);
    let (status, _, _, body) = fetch(&forecast, Some(&header::encode(&payload).unwrap()));
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("resource_mismatch")),
        "{body}"
    );
    payload.resource.as_mut().unwrap().url = forecast.clone();
    let (status, _, _, body) = fetch(&forecast, Some(&header::encode(&payload).unwrap()));
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("resource_mismatch")),
        "{body}"
    );
    assert_eq!(w.svc.runs.load(Ordering::SeqCst), 1);

    let (code, out, err) = verify(w.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});
