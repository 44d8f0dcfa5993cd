//! Fault injection with the real binary: SIGKILL at random moments during mixed load — agent
//! payments, merchant captures and refunds, wallet top-ups — for many rounds, each followed by
//! a restart and the full checks: every acknowledged operation is there as it was answered, a
//! retry of it under its Idempotency-Key returns the first answer and moves no money, no
//! payment was captured twice or above its amount, and at the end `purser ledger verify`
//! passes. SQLite and PostgreSQL. The seed of the kill times is printed, so a failing round can
//! be replayed (`PURSER_FAULT_SEED`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use purser_core::{Currency, Money};
use serde_json::{json, Value};

use crate::both;
use crate::payments::{boots_mandate, give_mandate, pay_body, register_merchant, Merchant};
use crate::people::{
    bound_agent, cny, try_send, try_signed_call_with, unique, Person, Resp, Server, TestAgent,
};
use crate::support::{verify, Storage, TempDir};

/// Where the server is now (a restart gets a new port): what the load threads talk to.
#[derive(Clone)]
struct At {
    base: String,
    operator: String,
}

impl Server for At {
    fn base(&self) -> &str {
        &self.base
    }
    fn operator_token(&self) -> &str {
        &self.operator
    }
}

/// One acknowledged operation: what was sent, under which key, and the first answer.
#[derive(Clone, Debug)]
struct Acked {
    kind: &'static str,
    path: String,
    key: String,
    body: Value,
    answer: Value,
}

struct World {
    /// Answers other than success are allowed, as long as they are Purser's JSON error with a
    /// 5xx status (the database connection was cut): the thread goes on.
    tolerate_outage: bool,
    user: Person,
    card: String,
    agent: TestAgent,
    mandate: String,
    merchant: Merchant,
}

/// `purser serve` flags for load tests: the velocity rule and the request rate limits out of
/// the way (they are not what these tests exercise).
const EXTRA: [&str; 6] = [
    "--agent-payments-per-minute",
    "100000",
    "--agent-requests-per-minute",
    "0",
    "--user-requests-per-minute",
    "0",
];

/// A funded person (¥100,000), her bound agent with a mandate of ¥800 a payment and a budget
/// beyond any run, and a registered merchant.
fn world(p: &dyn Server, tolerate_outage: bool) -> World {
    let user = Person::new(p, "Mei");
    let (card, _) = user.funded(p, 10_000_000);
    let (agent, _) = bound_agent(p, &user, &user);
    let mut m = boots_mandate();
    m.how_much.budget = Some(Money::new(1_000_000_000, Currency::CNY));
    let mandate = give_mandate(p, &user, &agent, &m);
    let merchant = register_merchant(
        p,
        "Trail Outfitters",
        &format!("{}.example", unique("socks")),
    );
    World {
        tolerate_outage,
        user,
        card,
        agent,
        mandate,
        merchant,
    }
}

/// A small deterministic generator (the kill times), seeded from the clock or
/// `PURSER_FAULT_SEED`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

fn post_key(at: &At, token: &str, path: &str, key: &str, body: &Value) -> Result<Resp, String> {
    let bytes = body.to_string().into_bytes();
    try_send(
        at,
        "POST",
        path,
        Some(token),
        &[("Idempotency-Key", key)],
        Some(&bytes),
    )
}

/// One load thread: pay, capture part, refund part; top up now and then. Records every
/// acknowledged step; stops at the first transport error (the server was killed).
fn load(at: At, w: Arc<World>, tag: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<Acked>>>) {
    let record = |kind, path: &str, key: &str, body: &Value, r: &Resp| {
        acked.lock().unwrap().push(Acked {
            kind,
            path: path.to_string(),
            key: key.to_string(),
            body: body.clone(),
            answer: r.body.clone(),
        });
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let unit = 100 + (n % 5) as i64 * 100;
        let body = pay_body(
            &w.user,
            &w.mandate,
            &w.merchant,
            &format!("Socks {tag}-{n}"),
            1,
            unit,
        );
        let key = format!("pay-{tag}-{n}");
        let Ok(r) = try_signed_call_with(
            &at,
            &w.agent.key,
            "POST",
            "/v1/agent/payments",
            Some(&body),
            &[("Idempotency-Key", &key)],
        ) else {
            return;
        };
        if outage(&w, &r) {
            continue;
        }
        assert_eq!(r.status, 201, "payment: {}", r.text);
        assert_eq!(r.body["status"], "approved", "payment: {}", r.text);
        record("payment", "/v1/agent/payments", &key, &body, &r);
        let (Some(id), Some(token)) = (
            r.body["id"].as_str().map(str::to_string),
            r.body["credential"]["token"].as_str().map(str::to_string),
        ) else {
            continue;
        };
        let key = format!("cap-{tag}-{n}");
        let body = json!({"credential": token, "amount": cny(unit - 50)});
        let Ok(r) = post_key(&at, &w.merchant.key, "/v1/merchant/captures", &key, &body) else {
            return;
        };
        if outage(&w, &r) {
            continue;
        }
        assert_eq!(r.status, 200, "capture of {id}: {}", r.text);
        record("capture", "/v1/merchant/captures", &key, &body, &r);
        let key = format!("rfd-{tag}-{n}");
        let path = format!("/v1/merchant/payments/{id}/refunds");
        let body = json!({"amount": cny(20)});
        let Ok(r) = post_key(&at, &w.merchant.key, &path, &key, &body) else {
            return;
        };
        if outage(&w, &r) {
            continue;
        }
        assert_eq!(r.status, 200, "refund of {id}: {}", r.text);
        record("refund", &path, &key, &body, &r);
        if n % 4 == 1 {
            let key = format!("top-{tag}-{n}");
            let body = json!({"card_id": w.card, "amount": cny(1_000)});
            let Ok(r) = post_key(&at, &w.user.token, "/v1/topups", &key, &body) else {
                return;
            };
            if outage(&w, &r) {
                continue;
            }
            assert_eq!(r.status, 201, "top-up: {}", r.text);
            record("topup", "/v1/topups", &key, &body, &r);
        }
    }
}

/// During a database outage: a failed request must fail cleanly — Purser's error shape, a
/// server-side status, a sentence — never a hang, a panic page or a half answer.
fn outage(w: &World, r: &Resp) -> bool {
    // A request retried by the store across the cut may find its own claim still open.
    let in_flight = r.status == 409 && r.body["code"] == "idempotency_in_flight";
    if !w.tolerate_outage || (r.status < 500 && !in_flight) {
        return false;
    }
    assert!(
        r.body["code"].is_string() && r.body["message"].is_string() && r.body["type"].is_string(),
        "an outage answer in Purser's error shape: {} {}",
        r.status,
        r.text
    );
    true
}

/// After a restart: each acknowledged operation is there as answered, and its retry replays
/// the first answer.
fn check(at: &At, w: &World, acked: &[Acked]) {
    for a in acked {
        let id = a.answer["id"].as_str().unwrap_or_default();
        match a.kind {
            "payment" => {
                let r = try_send(
                    at,
                    "GET",
                    &format!("/v1/payments/{id}"),
                    Some(&w.user.token),
                    &[],
                    None,
                )
                .unwrap();
                assert_eq!(
                    r.status, 200,
                    "acknowledged payment {id} is missing: {}",
                    r.text
                );
            }
            "capture" | "refund" => {
                let r = try_send(
                    at,
                    "GET",
                    &format!("/v1/merchant/payments/{id}"),
                    Some(&w.merchant.key),
                    &[],
                    None,
                )
                .unwrap();
                assert_eq!(r.status, 200, "{}", r.text);
                let held = r.body["amount"]["amount"].as_i64().unwrap_or(0);
                let captured = r.body["captured"]["amount"].as_i64().unwrap_or(-1);
                let refunded = r.body["refunded"]["amount"].as_i64().unwrap_or(-1);
                assert_eq!(
                    captured,
                    held - 50,
                    "captured exactly once, as acknowledged: {}",
                    r.text
                );
                // A refund in flight at the kill may or may not have happened; an
                // acknowledged one has.
                let least = if a.kind == "refund" { 20 } else { 0 };
                assert!(
                    (least..=captured).contains(&refunded),
                    "the acknowledged {} is there: {}",
                    a.kind,
                    r.text
                );
            }
            _ => {
                let r = try_send(
                    at,
                    "GET",
                    &format!("/v1/topups/{id}"),
                    Some(&w.user.token),
                    &[],
                    None,
                )
                .unwrap();
                assert_eq!(r.status, 200, "acknowledged top-up {id} is missing");
                assert_eq!(r.body["status"], "succeeded", "{}", r.text);
            }
        }
    }
    // Retries replay (every third, to keep rounds short): same answer, no money moved.
    let before = w.user.available(at);
    for a in acked.iter().step_by(3) {
        let r = match a.kind {
            "payment" => try_signed_call_with(
                at,
                &w.agent.key,
                "POST",
                &a.path,
                Some(&a.body),
                &[("Idempotency-Key", &a.key)],
            ),
            "topup" => post_key(at, &w.user.token, &a.path, &a.key, &a.body),
            _ => post_key(at, &w.merchant.key, &a.path, &a.key, &a.body),
        }
        .unwrap();
        // A database cut can land between applying an operation and keeping its answer for
        // replay: the operation stands (checked above), and a retry is told to wait until the
        // unfinished claim may be taken over (then it converges on the same records).
        if w.tolerate_outage && r.status == 409 && r.body["code"] == "idempotency_in_flight" {
            continue;
        }
        assert!(r.status < 300, "retry of {} {}: {}", a.kind, a.key, r.text);
        assert_eq!(
            r.body["id"], a.answer["id"],
            "a retry of {} {} after the crash answers the first operation",
            a.kind, a.key
        );
    }
    assert_eq!(w.user.available(at), before, "retries moved no money");
}

both!(sigkill_at_random_moments_during_mixed_load, |storage| {
    let seed = std::env::var("PURSER_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    eprintln!("faults: PURSER_FAULT_SEED={seed}");
    let mut rng = Lcg(seed);
    let dir = TempDir::new("faults");
    let mut p = crate::support::start_with(dir.path(), &storage, &EXTRA);
    let w = Arc::new(world(&p, false));
    let rounds = if storage.url().is_some() { 10 } else { 14 };
    let mut all: Vec<Acked> = Vec::new();
    for round in 0..rounds {
        let at = At {
            base: p.base.clone(),
            operator: p.token.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let (at, w, stop, acked) = (at.clone(), w.clone(), stop.clone(), acked.clone());
                let tag = format!("{seed}-{round}-{t}");
                std::thread::spawn(move || load(at, w, tag, stop, acked))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + rng.next(900)));
        p.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join()
                .expect("a load thread failed (see its panic above)");
        }
        p = crate::support::start_with(dir.path(), &storage, &EXTRA);
        let at = At {
            base: p.base.clone(),
            operator: p.token.clone(),
        };
        all.extend(acked.lock().unwrap().drain(..));
        check(&at, &w, &all);
    }
    let kinds = |k: &str| all.iter().filter(|a| a.kind == k).count();
    assert!(
        kinds("payment") > rounds
            && kinds("capture") > 0
            && kinds("refund") > 0
            && kinds("topup") > 0,
        "every kind of operation ran: {} payments, {} captures, {} refunds, {} top-ups",
        kinds("payment"),
        kinds("capture"),
        kinds("refund"),
        kinds("topup")
    );
    drop(p);
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify after {rounds} kills: {out}{err}");
});

/// PostgreSQL's connections cut mid-load (`pg_terminate_backend`), twice: requests in flight
/// fail cleanly, the server reconnects by itself (no restart), and nothing acknowledged is lost
/// or half-applied.
#[test]
fn postgres_connections_cut_mid_load_recover_by_themselves() {
    let Some(db) = crate::support::PgDb::create() else {
        eprintln!("PostgreSQL is not reachable: skipped");
        return;
    };
    let url = db.url.clone();
    let storage = Storage::Postgres(db);
    let dir = TempDir::new("pg-cut");
    let p = crate::support::start_with(dir.path(), &storage, &EXTRA);
    let w = Arc::new(world(&p, true));
    let at = At {
        base: p.base.clone(),
        operator: p.token.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (at, w, stop, acked) = (at.clone(), w.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || load(at, w, format!("cut-{t}"), stop, acked))
        })
        .collect();
    let name = url.rsplit('/').next().unwrap_or_default().to_string();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(700));
        crate::support::exec(
            &url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ),
        );
    }
    // Recovers by itself: within 60 s (a busy CI machine) the load is being approved again.
    let before = acked.lock().unwrap().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < before + 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not recover from the cut connections within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .expect("a load thread failed (see its panic above)");
    }
    let all: Vec<Acked> = acked.lock().unwrap().drain(..).collect();
    check(&at, &w, &all);
    drop(p);
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify after the cuts: {out}{err}");
}

/// A small tmpfs of its own for the data directory (root only); `None` where it cannot be
/// mounted.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = std::env::temp_dir().join(unique("purser-small-disk"));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// SQLite on a disk that fills up: requests fail with a clear error and change nothing, the
/// database is not corrupted, and once space returns the server works again without a restart.
#[test]
fn sqlite_disk_full_fails_cleanly_and_recovers() {
    let Some(disk) = SmallDisk::mount(48) else {
        assert!(
            std::env::var("PURSER_TEST_REQUIRE_DISK_FULL").is_err(),
            "cannot mount a tmpfs for the disk-full test"
        );
        eprintln!("disk-full test skipped: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let data = disk.dir.join("data");
    let storage = Storage::Sqlite;
    let p = crate::support::start_with(&data, &storage, &EXTRA);
    let w = world(&p, true);
    let at = At {
        base: p.base.clone(),
        operator: p.token.clone(),
    };
    let available = w.user.available(&at);

    // Fill the disk to the last byte.
    let filler = disk.dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8; 512]);
        let _ = f.sync_all();
    }
    // Payments now fail: cleanly, in Purser's shape, and nothing is held.
    let mut refused = 0;
    let mut approved = 0;
    for n in 0..20 {
        let body = pay_body(
            &w.user,
            &w.mandate,
            &w.merchant,
            &format!("Full {n}"),
            1,
            300,
        );
        let r = try_signed_call_with(
            &at,
            &w.agent.key,
            "POST",
            "/v1/agent/payments",
            Some(&body),
            &[("Idempotency-Key", &format!("full-{n}"))],
        )
        .expect("the server stays up when the disk is full");
        if r.status >= 500 {
            assert!(outage(&w, &r));
            assert!(
                !r.text.to_ascii_lowercase().contains("sqlite"),
                "no internals in the answer: {}",
                r.text
            );
            refused += 1;
        } else {
            assert_eq!(
                (r.status, r.body["status"].as_str()),
                (201, Some("approved")),
                "{}",
                r.text
            );
            approved += 300;
        }
    }
    assert!(refused > 0, "a full disk refused some payment");
    assert!(
        try_send(&at, "GET", "/healthz", None, &[], None).is_ok(),
        "the server still answers"
    );

    // Space returns: the server works again by itself.
    std::fs::remove_file(&filler).expect("free the space");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let paid = loop {
        let body = pay_body(&w.user, &w.mandate, &w.merchant, "After", 1, 300);
        let r = try_signed_call_with(
            &at,
            &w.agent.key,
            "POST",
            "/v1/agent/payments",
            Some(&body),
            &[("Idempotency-Key", &unique("after"))],
        )
        .expect("answer");
        if r.status == 201 {
            break r.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery 30 s after the disk had space again: {}",
            r.text
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(paid["status"], "approved", "{paid}");
    approved += 300;
    // What is held is what was approved, plus the holds of payments the full disk interrupted
    // after their hold: those are still `deciding` (their agents were told nothing certain)
    // and the sweeper voids them a minute later, as after a crash. None is half-approved.
    let listed = try_signed_call_with(
        &at,
        &w.agent.key,
        "GET",
        "/v1/agent/payments?limit=100",
        None,
        &[],
    )
    .expect("list");
    let sum = |status: &str| -> i64 {
        listed.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["status"] == status)
            .map(|p| p["amount"]["amount"].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("approved"), approved, "{}", listed.text);
    assert_eq!(
        available - w.user.available(&at),
        approved + sum("deciding"),
        "held = approved + interrupted (to be swept): {}",
        listed.text
    );
    drop(p);
    let (code, out, err) = verify(&data, &storage);
    assert_eq!(code, 0, "ledger verify after the disk filled: {out}{err}");
}

// ---- a store that cannot answer one read --------------------------------------------

/// Hides `table` from the running server (renamed away), so that every read of it fails as a
/// store that cannot answer would, or gives it back. Nothing else changes: the server keeps
/// its connections (PostgreSQL re-analyses a cached statement after the rename and finds no
/// table; SQLite re-prepares it).
fn hide_table(dir: &std::path::Path, storage: &Storage, table: &str, hide: bool) {
    let away = format!("{table}_hidden_by_test");
    let sql = if hide {
        format!("ALTER TABLE {table} RENAME TO {away}")
    } else {
        format!("ALTER TABLE {away} RENAME TO {table}")
    };
    match storage.url() {
        Some(url) => crate::support::exec(url, &sql),
        None => {
            let db = rusqlite::Connection::open(dir.join("purser.db")).expect("the SQLite file");
            db.busy_timeout(Duration::from_secs(10))
                .expect("busy timeout");
            db.execute_batch(&sql).expect("the rename");
        }
    }
}

/// A JSON answer that says "unavailable, retry" (503, Purser's error shape).
#[track_caller]
fn unavailable(r: &Resp, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (503, "storage_unavailable"),
        "{what}: a read the store could not answer is 'unavailable, retry', never a refusal: {}",
        r.text
    );
    assert!(
        r.body["type"].is_string() && r.body["message"].is_string(),
        "{what}: the error shape: {}",
        r.text
    );
}

/// A web page that says "unavailable, reload" (503), and does not sign the browser out.
#[track_caller]
fn unavailable_page(r: &Resp, what: &str) {
    assert_eq!(
        r.status, 503,
        "{what}: a session the store could not look up is 'unavailable', never 'sign in': {}",
        r.text
    );
    assert!(
        r.text.contains("Purser could not show this page right now"),
        "{what}: {}",
        r.text
    );
    assert!(
        !r.headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.starts_with("purser-session=")),
        "{what}: the session cookie is left alone: {:?}",
        r.headers
    );
}

/// A web request with the session cookie, redirects not followed.
fn web_call(p: &dyn Server, method: &str, path: &str, session: &str, form: Option<&str>) -> Resp {
    let req = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build()
        .request(method, &format!("{}{path}", p.base()))
        .set("Cookie", &format!("purser-session={session}"));
    let r = match form {
        Some(f) => req
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(f),
        None => req.call(),
    };
    crate::people::into_resp(r, path)
}

both!(
    a_store_that_cannot_answer_is_never_taken_for_absence,
    |storage| {
        let dir = TempDir::new("store-reads");
        let p = crate::support::start_with(dir.path(), &storage, &EXTRA);
        let w = world(&p, false);
        let pin = "482915";
        w.user
            .post(&p, "/v1/me/pin", &json!({ "pin": pin }))
            .want(200);
        let session = crate::hostile::pin_session(&p, &w.user.id, pin);
        let (status, csrf) = crate::hostile::page_csrf(&p, &session);
        assert_eq!(status, 200);
        let draft = w
            .user
            .post(
                &p,
                "/v1/mandates",
                &json!({"agent_id": w.agent.id, "mandate": boots_mandate()}),
            )
            .want(201);
        let draft_id = draft["id"].as_str().expect("draft id").to_string();
        let pay_key = "store-reads-pay";
        let body = pay_body(&w.user, &w.mandate, &w.merchant, "Socks, grey", 1, 500);
        let funds = format!("/v1/agent/users/{}/funds", w.user.id);
        let new_mandate = json!({"agent_id": w.agent.id, "mandate": boots_mandate()});
        let consent = format!("/v1/mandates/{draft_id}/consent");
        let consent_body = json!({"content_hash": draft["content_hash"]});

        // The bindings cannot be read: nothing is refused, declined or recorded for it.
        hide_table(dir.path(), &storage, "bindings", true);
        unavailable(
            &crate::payments::pay(&p, &w.agent, pay_key, &body),
            "an agent's payment",
        );
        unavailable(
            &w.agent.call(&p, "GET", &funds, None),
            "an agent reading its funds",
        );
        unavailable(
            &w.user
                .post_key(&p, "/v1/mandates", "store-reads-mandate", &new_mandate),
            "a new mandate",
        );
        unavailable(&w.user.post(&p, &consent, &consent_body), "a consent");
        hide_table(dir.path(), &storage, "bindings", false);
        // Back: the same requests (the same Idempotency-Keys) do what they were asked, afresh.
        let r = crate::payments::pay(&p, &w.agent, pay_key, &body);
        assert!(!r.replayed(), "no answer was kept: {}", r.text);
        assert_eq!(r.want(201)["status"], "approved");
        w.agent.call(&p, "GET", &funds, None).want(200);
        let r = w
            .user
            .post_key(&p, "/v1/mandates", "store-reads-mandate", &new_mandate);
        assert!(!r.replayed(), "no answer was kept: {}", r.text);
        assert_eq!(r.want(201)["status"], "draft");
        assert_eq!(
            w.user.post(&p, &consent, &consent_body).want(200)["status"],
            "active"
        );

        // The sessions cannot be read: pages say "unavailable", not "sign in", and a sign-out is
        // never pretended.
        hide_table(dir.path(), &storage, "web_sessions", true);
        unavailable_page(&web_call(&p, "GET", "/account", &session, None), "/account");
        unavailable_page(
            &web_call(
                &p,
                "POST",
                "/signout",
                &session,
                Some(&format!("csrf={csrf}")),
            ),
            "sign-out",
        );
        hide_table(dir.path(), &storage, "web_sessions", false);
        assert_eq!(
            web_call(&p, "GET", "/account", &session, None).status,
            200,
            "still signed in: the sign-out said it could not be done"
        );
        let r = web_call(
            &p,
            "POST",
            "/signout",
            &session,
            Some(&format!("csrf={csrf}")),
        );
        assert_eq!(r.header("location"), Some("/signin"), "{}", r.text);
        assert_eq!(
            web_call(&p, "GET", "/account", &session, None).header("location"),
            Some("/signin"),
            "signed out now"
        );

        drop(p);
        let (code, out, err) = verify(dir.path(), &storage);
        assert_eq!(code, 0, "ledger verify: {out}{err}");
    }
);
