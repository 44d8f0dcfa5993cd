//! The HTTP surface of `purser serve`: system routes, the error shape, the ledger API.

use serde_json::{json, Value};

use crate::both;
use crate::support::*;

fn assert_error_shape(v: &Value, code: &str) {
    assert_eq!(v["code"], code, "{v}");
    let t = v["type"].as_str().unwrap_or_default();
    assert!(
        [
            "invalid_request",
            "processing_error",
            "service_unavailable",
            "rate_limit_exceeded"
        ]
        .contains(&t),
        "{v}"
    );
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.len() > 10, "a message a person can act on: {v}");
    assert!(
        !msg.contains("panicked") && !msg.contains("src/"),
        "no internals: {v}"
    );
}

both!(system_routes_answer, |storage| {
    let dir = TempDir::new("sys");
    let p = start(dir.path(), &storage);
    let (s, v) = p.get("/healthz");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    assert_eq!(
        v["storage"],
        if storage.url().is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );

    let (s, api) = p.get("/openapi.json");
    assert_eq!(s, 200);
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/metrics",
        "/v1/ledger/transfers",
        "/v1/ledger/holds/{id}/post",
        "/v1/ledger/batch",
    ] {
        assert!(api["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    assert!(api["components"]["schemas"]["ErrorBody"].is_object());

    open_wallet(&p, 1_000);
    let m = p.get_text("/metrics");
    assert!(m.contains("purser_http_requests_total{method=\"POST\",route=\"/v1/ledger/transfers\",status=\"201\"} 1"), "{m}");
    assert!(
        m.contains("purser_ledger_operations_total{op=\"transfer\",result=\"created\"} 1"),
        "{m}"
    );
    assert!(m.contains("purser_ledger_commits_total"), "{m}");
    // The gauge drains to 0 (background work, such as the sweeper, may be queued at any one
    // instant on a loaded machine).
    let drained = (0..100).any(|_| {
        if p.get_text("/metrics")
            .contains("purser_ledger_queued_submissions 0")
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        false
    });
    assert!(drained, "{m}");
    assert!(!m.contains(&p.token), "the token never appears");
});

#[test]
fn every_error_is_json_in_one_shape() {
    let dir = TempDir::new("errors");
    let p = start(dir.path(), &Storage::Sqlite);
    // A fresh connection per request: after an early error answer the server may close one.

    let (s, v, _) = answer(agent().get(&p.url("/nope")).call()).unwrap();
    assert_eq!(s, 404);
    assert_error_shape(&v, "route_not_found");

    let (s, v, _) = answer(agent().delete(&p.url("/healthz")).call()).unwrap();
    assert_eq!(s, 405);
    assert_error_shape(&v, "method_not_allowed");

    let (s, v, _) = answer(
        agent()
            .post(&p.url("/v1/ledger/transfers"))
            .send_json(json!({})),
    )
    .unwrap();
    assert_eq!(s, 401);
    assert_error_shape(&v, "unauthorized");
    let (s, _, _) = answer(
        agent()
            .post(&p.url("/v1/ledger/transfers"))
            .set("Authorization", "Bearer pso_wrong")
            .send_json(json!({})),
    )
    .unwrap();
    assert_eq!(s, 401);

    let auth = p.auth();
    let post_raw = |body: &str, ctype: &str| {
        answer(
            agent()
                .post(&p.url("/v1/ledger/transfers"))
                .set("Authorization", &auth)
                .set("Content-Type", ctype)
                .send_string(body),
        )
        .unwrap()
    };
    let (s, v, _) = post_raw("{not json", "application/json");
    assert_eq!(s, 400);
    assert_error_shape(&v, "invalid_json");
    let (s, v, _) = post_raw("{}", "text/plain");
    assert_eq!(s, 415);
    assert_error_shape(&v, "unsupported_media_type");
    let (s, v, _) = post_raw(
        r#"{"id":"t","debit_account_id":"a","credit_account_id":"b","amount":"5","currency":"CNY"}"#,
        "application/json",
    );
    assert_eq!(s, 400);
    assert_error_shape(&v, "invalid_field");
    assert_eq!(v["param"], "amount", "{v}");
    let (s, v, _) = post_raw(
        r#"{"id":"t","debit_account_id":"a","credit_account_id":"b","amount":5,"currency":"CNY","surprise":1}"#,
        "application/json",
    );
    assert_eq!(s, 400, "unknown fields are refused: {v}");
    let big = format!("{{\"id\":\"{}\"}}", "x".repeat(600 * 1024));
    let (s, v, _) = post_raw(&big, "application/json");
    assert_eq!(s, 413);
    assert_error_shape(&v, "body_too_large");

    let (s, v, _) = p.post(
        "/v1/ledger/accounts",
        &json!({"id": "w", "currency": "XYZ"}),
    );
    assert_eq!(s, 400);
    assert_error_shape(&v, "invalid_currency");
    assert_eq!(v["param"], "currency");
    let (s, v, _) = p.post(
        "/v1/ledger/accounts",
        &json!({"id": "bad id!", "currency": "CNY"}),
    );
    assert_eq!(s, 400);
    assert_error_shape(&v, "invalid_id");
    let (s, v) = p.get("/v1/ledger/accounts/%FF");
    assert_eq!(s, 400);
    assert_error_shape(&v, "invalid_path");
    let (s, v, _) = answer(agent().request("BREW", &p.url("/nope")).call()).unwrap();
    assert_eq!(s, 404, "{v}");
    assert!(p.get_text("/metrics").contains("method=\"OTHER\""));
    let lower = answer(
        agent()
            .get(&p.url("/v1/ledger/accounts/ghost"))
            .set("Authorization", &format!("bearer {}", p.token))
            .call(),
    )
    .unwrap();
    assert_eq!(lower.0, 404, "the auth scheme is case-insensitive");
    let (s, v) = p.get("/v1/ledger/accounts/ghost");
    assert_eq!(s, 404);
    assert_error_shape(&v, "account_not_found");

    // Nothing above changed anything.
    drop(p);
    let (code, out, _) = verify(dir.path(), &Storage::Sqlite);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("accounts: 0,"), "{out}");
}

both!(ledger_api_moves_money_by_the_rules, |storage| {
    let dir = TempDir::new("ledger");
    let p = start(dir.path(), &storage);
    open_wallet(&p, 100_000);

    let t = json!({"id": "t1", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 30_000, "currency": "CNY"});
    let (s, v, replayed) = p.post("/v1/ledger/transfers", &t);
    assert_eq!((s, replayed), (201, false), "{v}");
    assert_eq!(v["amount_display"], "300.00 CNY");
    let (s, again, replayed) = p.post("/v1/ledger/transfers", &t);
    assert_eq!((s, replayed), (200, true));
    assert_eq!(again, v, "a replay returns the first result");
    let mut other = t.clone();
    other["amount"] = json!(30_001);
    let (s, e, _) = p.post("/v1/ledger/transfers", &other);
    assert_eq!(s, 409);
    assert_error_shape(&e, "transfer_id_conflict");

    let (s, e, _) = p.post(
        "/v1/ledger/transfers",
        &json!({"id": "t2", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 70_001, "currency": "CNY"}),
    );
    assert_eq!(s, 422);
    assert_error_shape(&e, "insufficient_funds");
    assert_eq!(e["message"], "account wallet has 700.00 CNY available, and this needs 700.01 CNY; add funds or lower the amount");
    // The same request again gets the same answer, even after funds change.
    p.post(
        "/v1/ledger/transfers",
        &json!({"id": "top", "debit_account_id": "bank", "credit_account_id": "wallet", "amount": 1, "currency": "CNY"}),
    );
    let (s2, e2, _) = p.post(
        "/v1/ledger/transfers",
        &json!({"id": "t2", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 70_001, "currency": "CNY"}),
    );
    assert_eq!((s2, &e2), (422, &e), "a refusal is replayed");

    let (s, h, _) = p.post(
        "/v1/ledger/transfers",
        &json!({"type": "hold", "id": "h1", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 50_000, "currency": "CNY", "timeout_seconds": 600}),
    );
    assert_eq!(s, 201, "{h}");
    let (_, w) = p.get("/v1/ledger/accounts/wallet");
    assert_eq!(
        (w["balance"].as_i64(), w["available"].as_i64()),
        (Some(70_001), Some(20_001))
    );
    let (s, e, _) = p.post(
        "/v1/ledger/holds/h1/post",
        &json!({"id": "p0", "amount": 50_001}),
    );
    assert_eq!(s, 422);
    assert_error_shape(&e, "post_exceeds_hold");
    let (s, v, _) = p.post(
        "/v1/ledger/holds/h1/post",
        &json!({"id": "p1", "amount": 45_000}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["pending_id"], "h1");
    let (s, e, _) = p.post("/v1/ledger/holds/h1/void", &json!({"id": "v1"}));
    assert_eq!(s, 422);
    assert_error_shape(&e, "hold_already_posted");
    let (_, hold) = p.get("/v1/ledger/holds/h1");
    assert_eq!(
        (hold["state"].as_str(), hold["posted_amount"].as_i64()),
        (Some("posted"), Some(45_000))
    );
    let (_, w) = p.get("/v1/ledger/accounts/wallet");
    assert_eq!(
        (w["balance"].as_i64(), w["available"].as_i64()),
        (Some(25_001), Some(25_001))
    );

    // Header and body ids must agree.
    let r = answer(
        agent()
            .post(&p.url("/v1/ledger/transfers"))
            .set("Authorization", &p.auth())
            .set("Idempotency-Key", "other")
            .send_json(json!({"id": "t9", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 1, "currency": "CNY"})),
    )
    .unwrap();
    assert_eq!(r.0, 400);
    assert_error_shape(&r.1, "idempotency_key_mismatch");

    // A linked batch: the second fails, so the first is not applied either.
    let (s, b, _) = p.post(
        "/v1/ledger/batch",
        &json!({"operations": [
            {"type": "transfer", "id": "l1", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 20_000, "currency": "CNY", "linked": true},
            {"type": "transfer", "id": "l2", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 20_000, "currency": "CNY"},
            {"type": "create_account", "id": "extra", "currency": "USD"}
        ]}),
    );
    assert_eq!(s, 200, "{b}");
    let statuses: Vec<_> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "created"]);
    assert_eq!(b["results"][0]["error"]["code"], "linked_operation_failed");
    assert_eq!(b["results"][1]["error"]["code"], "insufficient_funds");
    assert_eq!(p.get("/v1/ledger/transfers/l1").0, 404);
    let (_, w) = p.get("/v1/ledger/accounts/wallet");
    assert_eq!(w["balance"].as_i64(), Some(25_001));

    drop(p);
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("accounts: 4,"), "{out}");
});
