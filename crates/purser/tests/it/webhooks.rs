//! Merchants over HTTP and the CLI, agents' webhooks, and the durable webhook outbox.
//!
//! Payment events cannot be made through the API yet, so the tests write `events` and
//! `deliveries` rows straight into the server's database (as payment code does, in one
//! transaction) and watch a local receiver: a plain `TcpListener` that records each request
//! and answers as its script says.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use purser_core::webhook;
use purser_store::db::{Db, Stmt};
use purser_store::{vals, Ledger, StoreConfig};
use purser_wallet::merchants::NewMerchant;
use purser_wallet::Wallet;
use serde_json::{json, Value};

use crate::both;
use crate::people::*;
use crate::support::*;

// ---- a webhook receiver ------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Read the request, never answer (the sender is mid-delivery for as long as it waits).
    Hang,
}

#[derive(Clone, Debug)]
struct Hook {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Hook {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }

    fn event_id(&self) -> &str {
        self.header("purser-event-id")
    }

    fn attempt(&self) -> &str {
        self.header("purser-delivery-attempt")
    }
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Hook>>>,
}

impl Receiver {
    /// Answers the n-th request as `script[n]` says, then 200.
    fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/purser", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Hook>>> = Arc::default();
        let shared = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let got = shared.clone();
                let script = script.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let Some(hook) = read_request(&mut stream) else {
                        return;
                    };
                    let n = {
                        let mut g = got.lock().unwrap();
                        g.push(hook);
                        g.len() - 1
                    };
                    match script.get(n).copied().unwrap_or(Reply::Status(200)) {
                        Reply::Hang => std::thread::sleep(Duration::from_secs(60)),
                        Reply::Status(code) => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 {code} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                            );
                        }
                    }
                });
            }
        });
        Receiver { url, got }
    }

    fn hooks(&self) -> Vec<Hook> {
        self.got.lock().unwrap().clone()
    }

    /// Wait until `n` requests arrived.
    #[track_caller]
    fn wait_for(&self, n: usize, within: Duration) -> Vec<Hook> {
        wait_until(&format!("{n} webhook requests"), within, || {
            let h = self.hooks();
            (h.len() >= n).then_some(h)
        })
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Hook> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let mut headers = vec![(":request".to_string(), request_line)];
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Hook { headers, body })
}

#[track_caller]
fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Check a delivery's signature as a merchant would, with the secret it was given.
#[track_caller]
fn assert_signed(h: &Hook, secret: &str) {
    let sig = h.header("merchant-signature");
    let t = webhook::verify(sig, secret.as_bytes(), &h.body, now_ms() / 1000, 300)
        .unwrap_or_else(|e| panic!("signature {sig:?} refused: {e}"));
    assert!((now_ms() / 1000 - t).abs() < 120, "signed at {t}");
}

// ---- the server's database, opened beside it -------------------------------------------

/// The records database the server uses, opened from the test (as payment code writes it).
struct Records {
    rt: tokio::runtime::Runtime,
    db: Db,
}

impl Records {
    fn open(data: &Path, storage: &Storage) -> Records {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = match storage.url() {
            Some(url) => StoreConfig::Postgres { url: url.into() },
            None => StoreConfig::sqlite_in(data),
        };
        let db = rt.block_on(Db::open(&config)).expect("open the records");
        Records { rt, db }
    }

    /// An event and its delivery to `target`, written in one transaction like payment code
    /// does; the delivery in `status` with `attempts`, due at `next_at`.
    fn event(&self, target: &str, url: &str, data: &Value, state: (&str, i64, i64)) -> String {
        self.rt
            .block_on(write_event(&self.db, target, url, data, state))
    }

    /// (status, attempts, last_error) of a delivery.
    fn delivery(&self, event_id: &str, target: &str) -> (String, i64, Option<String>) {
        let r = self
            .rt
            .block_on(self.db.query_opt(
                "SELECT status, attempts, last_error FROM deliveries WHERE event_id = $1 AND target = $2",
                vals![event_id, target],
            ))
            .unwrap()
            .expect("the delivery row");
        (
            r.text(0).unwrap(),
            r.int(1).unwrap(),
            r.opt_text(2).unwrap(),
        )
    }
}

/// See [`Records::event`].
async fn write_event(
    db: &Db,
    target: &str,
    url: &str,
    data: &Value,
    (status, attempts, next_at): (&str, i64, i64),
) -> String {
    let id = format!("evt_{}", id_chars(&unique("evt")));
    let at = now_ms();
    db.write(vec![
        Stmt::exec(
            "INSERT INTO events (id, type, user_id, agent_id, merchant_id, payment_id, task_id, data, created_at) VALUES ($1, 'payment.captured', 'usr_test', 'agt_test', 'mch_test', 'pay_test', 'tsk_test', $2, $3)",
            vals![&id, data.to_string(), at],
        ),
        Stmt::exec(
            "INSERT INTO deliveries (event_id, target, url, status, attempts, next_at, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vals![&id, target, url, status, attempts, next_at, (status == "failed").then_some("gave up after many attempts")],
        ),
    ])
    .await
    .expect("write the event");
    id
}

impl Drop for Records {
    fn drop(&mut self) {
        self.rt.block_on(self.db.shutdown());
    }
}

/// 24 id characters (base32 alphabet) derived from `seed`.
fn id_chars(seed: &str) -> String {
    sha256_hex(seed.as_bytes())
        .bytes()
        .take(24)
        .map(|c| match c {
            b'0'..=b'9' => (c - b'0' + b'a') as char,
            _ => (c - b'a' + b'k') as char,
        })
        .collect()
}

// ---- merchants ---------------------------------------------------------------------------

/// Register a merchant over REST; returns (merchant, api key, webhook secret).
fn merchant(s: &dyn Server, name: &str, webhook_url: Option<&str>) -> (Value, String, String) {
    let v = op(
        s,
        "POST",
        "/v1/merchants",
        Some(&json!({"name": name, "website": "https://www.Boots.Example/shop", "country": "cn", "category": "5661", "webhook_url": webhook_url})),
    )
    .want(201);
    let key = v["api_key"].as_str().unwrap().to_string();
    let secret = v["webhook_secret"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("psk_") && secret.starts_with("whsec_"),
        "{v}"
    );
    (v["merchant"].clone(), key, secret)
}

fn as_merchant(s: &dyn Server, key: &str, method: &str, path: &str) -> Resp {
    call(
        s,
        method,
        path,
        Some(key),
        &[],
        (method == "POST").then_some(&json!({})),
    )
}

both!(merchants_register_over_cli_and_rest, |storage| {
    let dir = TempDir::new("merchants");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let mut s = start_logged(&data, &storage, &log);
    let data_arg = data.to_string_lossy().into_owned();

    // The CLI, as the operator (the token comes from the data directory).
    let (code, out, err) = run(&[
        "merchant",
        "create",
        "--name",
        "Trail Boots",
        "--website",
        "trail.example",
        "--country",
        "CN",
        "--category",
        "5661",
        "--webhook-url",
        "http://127.0.0.1:9/hooks",
        "--server",
        &s.base,
        "--data",
        &data_arg,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    let cli_id = cli["merchant"]["id"].as_str().unwrap().to_string();
    let cli_key = cli["api_key"].as_str().unwrap().to_string();
    let cli_secret = cli["webhook_secret"].as_str().unwrap().to_string();
    assert_eq!(cli["merchant"]["website"], "trail.example", "{cli}");
    assert!(
        cli_key.starts_with(&format!("psk_{}_", &cli_id[4..])),
        "{cli}"
    );
    let (code, out, err) = run(&[
        "merchant",
        "create",
        "--name",
        "No Site",
        "--website",
        "not a host",
        "--server",
        &s.base,
        "--data",
        &data_arg,
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("website_invalid") && err.contains("host name"),
        "{err}"
    );

    // REST.
    let (m, key, secret) = merchant(&s, "Boots Co", None);
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(
        (&m["website"], &m["country"], &m["category"], &m["status"]),
        (
            &json!("boots.example"),
            &json!("CN"),
            &json!("5661"),
            &json!("active")
        ),
        "{m}"
    );
    op(
        &s,
        "POST",
        "/v1/merchants",
        Some(&json!({"name": "X", "website": "x.example", "webhook_url": "ftp://x.example"})),
    )
    .refused(400, "webhook_url_invalid");
    op(
        &s,
        "POST",
        "/v1/merchants",
        Some(&json!({"name": "X", "website": "x.example", "surprise": 1})),
    )
    .refused(400, "invalid_field");
    call(
        &s,
        "POST",
        "/v1/merchants",
        None,
        &[],
        Some(&json!({"name": "X", "website": "x.example"})),
    )
    .refused(401, "unauthorized");
    call(&s, "GET", "/v1/merchants", Some(&key), &[], None).refused(401, "unauthorized");

    // Secrets are shown once: never in a read.
    let listed = op(&s, "GET", "/v1/merchants", None);
    let one = op(&s, "GET", &format!("/v1/merchants/{id}"), None);
    let me = as_merchant(&s, &key, "GET", "/v1/merchant/me");
    let (code, cli_list, _) = run(&["merchant", "list", "--server", &s.base, "--data", &data_arg]);
    assert_eq!(code, 0, "{cli_list}");
    assert!(
        cli_list.contains(&cli_id) && cli_list.contains(&id) && cli_list.contains("Trail Boots"),
        "{cli_list}"
    );
    for text in [&listed.text, &one.text, &me.text, &cli_list] {
        for secret in [&key, &secret, &cli_key, &cli_secret] {
            assert!(!text.contains(secret.as_str()), "a secret in {text}");
        }
        assert!(!text.contains("psk_") && !text.contains("whsec_"), "{text}");
    }
    assert_eq!(listed.want(200)["data"].as_array().unwrap().len(), 2);
    assert_eq!(one.want(200)["id"], id.as_str());
    assert_eq!(me.want(200)["id"], id.as_str());
    assert_eq!(
        as_merchant(&s, &cli_key, "GET", "/v1/merchant/me").want(200)["id"],
        cli_id.as_str()
    );
    op(
        &s,
        "GET",
        "/v1/merchants/mch_aaaaaaaaaaaaaaaaaaaaaaaa",
        None,
    )
    .refused(404, "merchant_not_found");

    // A bad merchant key is 401 in the error shape, whatever is wrong with it.
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    let alice = Person::new(&s, "Alice");
    for bad in [
        wrong.as_str(),
        "psk_nothing",
        "psk_",
        "whatever",
        alice.token.as_str(),
        s.token.as_str(),
    ] {
        let r = as_merchant(&s, bad, "GET", "/v1/merchant/me");
        r.refused(401, "merchant_key_invalid");
        assert_eq!(r.body["type"], "invalid_request", "{}", r.text);
    }
    call(&s, "GET", "/v1/merchant/deliveries", None, &[], None)
        .refused(401, "merchant_key_missing");
    call(
        &s,
        "GET",
        "/v1/merchant/me",
        None,
        &[("Authorization", "Basic eDp5")],
        None,
    )
    .refused(401, "merchant_key_missing");

    // Described in the OpenAPI document.
    let doc = call(&s, "GET", "/openapi.json", None, &[], None).want(200);
    for path in [
        "/v1/merchants",
        "/v1/merchants/{id}",
        "/v1/merchant/me",
        "/v1/merchant/deliveries",
        "/v1/merchant/deliveries/{event_id}/retry",
        "/v1/agent/webhook",
        "/v1/agent/webhook/remove",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from /openapi.json"
        );
    }
    assert_eq!(
        doc["paths"]["/v1/merchants"]["post"]["tags"][0],
        "merchants"
    );
    // Every documented merchant route refuses a missing or wrong key, in the error shape.
    let mut merchant_routes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let uses_key = operation["security"]
                .as_array()
                .is_some_and(|all| all.iter().any(|s| s.get("merchant").is_some()));
            if !uses_key {
                continue;
            }
            merchant_routes += 1;
            let m = method.to_ascii_uppercase();
            let path = path
                .replace("{event_id}", "evt_aaaaaaaaaaaaaaaaaaaaaaaa")
                .replace("{id}", "pay_aaaaaaaaaaaaaaaaaaaaaaaa");
            let body = (m == "POST").then(|| json!({}));
            call(&s, &m, &path, None, &[], body.as_ref()).refused(401, "merchant_key_missing");
            call(&s, &m, &path, Some(&wrong), &[], body.as_ref())
                .refused(401, "merchant_key_invalid");
            call(&s, &m, &path, Some(&alice.token), &[], body.as_ref())
                .refused(401, "merchant_key_invalid");
        }
    }
    assert_eq!(
        merchant_routes, 9,
        "/v1/merchant/me, deliveries, retry, captures, payments/{{id}}, void, refunds, /x402/verify, /x402/settle"
    );

    s.terminate();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains(&id),
        "the log names the merchant (a positive control)"
    );
    for secret in [&key, &secret, &cli_key, &cli_secret] {
        assert!(
            !logs.contains(secret.as_str()),
            "a merchant secret is in the server's log"
        );
        assert!(
            !logs.contains(&secret[secret.len() - 20..]),
            "part of a merchant secret is in the server's log"
        );
    }
});

both!(deliveries_are_signed_retried_and_visible, |storage| {
    let dir = TempDir::new("deliveries");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let hook = Receiver::start(vec![Reply::Status(500)]);
    let mut s = start_logged(&data, &storage, &log);
    let (m, key, secret) = merchant(&s, "Boots Co", Some(&hook.url));
    let (_, other_key, _) = merchant(&s, "Another Shop", None);
    let target = format!("merchant:{}", m["id"].as_str().unwrap());
    let db = Records::open(&data, &storage);

    let marker = unique("body-marker");
    let payload = json!({"payment_id": "pay_test", "amount": {"amount": 79_900, "currency": "CNY"}, "marker": marker});
    let evt = db.event(&target, &hook.url, &payload, ("pending", 0, now_ms()));

    // The first attempt gets a 500; the retry (about a second later) gets a 200.
    let got = hook.wait_for(2, Duration::from_secs(60));
    for (i, h) in got.iter().enumerate() {
        assert_eq!(h.header(":request"), "POST /hooks/purser HTTP/1.1");
        assert_eq!(h.header("content-type"), "application/json");
        assert_eq!(h.event_id(), evt);
        assert_eq!(h.attempt(), (i + 1).to_string());
        assert_signed(h, &secret);
        let body = h.json();
        assert_eq!(
            (&body["id"], &body["type"], &body["data"]),
            (&json!(evt), &json!("payment.captured"), &payload),
            "{body}"
        );
        assert!(
            body["created_at"].as_str().unwrap().ends_with('Z'),
            "{body}"
        );
        // Another secret, or a changed byte, does not verify.
        let sig = h.header("merchant-signature");
        assert!(
            webhook::verify(sig, b"whsec_someone_else", &h.body, now_ms() / 1000, 300).is_err()
        );
        let mut changed = h.body.clone();
        changed[5] ^= 1;
        assert_eq!(
            webhook::verify(sig, secret.as_bytes(), &changed, now_ms() / 1000, 300),
            Err(webhook::WebhookError::Mismatch)
        );
    }
    assert_eq!(
        got[0].body, got[1].body,
        "every attempt sends the same bytes"
    );

    // The merchant sees it delivered, after two attempts.
    let delivered = wait_until(
        "the delivery recorded as delivered",
        Duration::from_secs(30),
        || {
            let v = as_merchant(&s, &key, "GET", "/v1/merchant/deliveries").want(200);
            let d = v["data"][0].clone();
            (d["status"] == "delivered").then_some(d)
        },
    );
    assert_eq!(
        (
            &delivered["event_id"],
            &delivered["type"],
            &delivered["attempts"],
            &delivered["last_error"]
        ),
        (
            &json!(evt),
            &json!("payment.captured"),
            &json!(2),
            &Value::Null
        ),
        "{delivered}"
    );
    assert_eq!(delivered["url"], hook.url.as_str());
    assert!(delivered["delivered_at"].is_string(), "{delivered}");
    let only = |status: &str| {
        as_merchant(
            &s,
            &key,
            "GET",
            &format!("/v1/merchant/deliveries?status={status}"),
        )
        .want(200)["data"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        (only("delivered"), only("pending"), only("failed")),
        (1, 0, 0)
    );
    as_merchant(&s, &key, "GET", "/v1/merchant/deliveries?status=lost")
        .refused(400, "status_invalid");
    as_merchant(&s, &key, "GET", "/v1/merchant/deliveries?limit=0").refused(400, "limit_invalid");
    as_merchant(&s, &key, "GET", "/v1/merchant/deliveries?limit=ten").refused(400, "limit_invalid");
    assert_eq!(
        as_merchant(&s, &other_key, "GET", "/v1/merchant/deliveries").want(200)["data"],
        json!([]),
        "another merchant's deliveries are not shown"
    );

    // A failed delivery (its retries spent) is visible with its reason, and re-queued on request.
    let failed = db.event(
        &target,
        &hook.url,
        &json!({"n": 2}),
        ("failed", 36, now_ms()),
    );
    let f = as_merchant(&s, &key, "GET", "/v1/merchant/deliveries?status=failed").want(200);
    assert_eq!(
        (
            &f["data"][0]["event_id"],
            &f["data"][0]["attempts"],
            &f["data"][0]["last_error"]
        ),
        (
            &json!(failed),
            &json!(36),
            &json!("gave up after many attempts")
        ),
        "{f}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        hook.hooks().len(),
        2,
        "a failed delivery is not sent on its own"
    );
    as_merchant(
        &s,
        &other_key,
        "POST",
        &format!("/v1/merchant/deliveries/{failed}/retry"),
    )
    .refused(404, "delivery_not_found");
    let r = as_merchant(
        &s,
        &key,
        "POST",
        &format!("/v1/merchant/deliveries/{failed}/retry"),
    )
    .want(200);
    assert!(
        r["status"] == "pending" || r["status"] == "delivered",
        "{r}"
    );
    let got = hook.wait_for(3, Duration::from_secs(30));
    assert_eq!(
        (got[2].event_id(), got[2].attempt()),
        (failed.as_str(), "1"),
        "a fresh attempt budget"
    );
    assert_signed(&got[2], &secret);
    wait_until(
        "the retried delivery recorded",
        Duration::from_secs(30),
        || (db.delivery(&failed, &target).0 == "delivered").then_some(()),
    );
    as_merchant(
        &s,
        &key,
        "POST",
        &format!("/v1/merchant/deliveries/{failed}/retry"),
    )
    .refused(409, "delivery_not_failed");
    as_merchant(
        &s,
        &key,
        "POST",
        "/v1/merchant/deliveries/evt_aaaaaaaaaaaaaaaaaaaaaaaa/retry",
    )
    .refused(404, "delivery_not_found");
    as_merchant(&s, &key, "POST", "/v1/merchant/deliveries/nonsense/retry")
        .refused(404, "event_not_found");

    // A delivery whose recipient has no webhook any more ends as failed, with the reason.
    let orphan = db.event(
        "merchant:mch_aaaaaaaaaaaaaaaaaaaaaaaa",
        &hook.url,
        &json!({}),
        ("pending", 0, now_ms()),
    );
    let (status, attempts, why) = wait_until(
        "the orphan delivery given up",
        Duration::from_secs(30),
        || {
            let d = db.delivery(&orphan, "merchant:mch_aaaaaaaaaaaaaaaaaaaaaaaa");
            (d.0 == "failed").then_some(d)
        },
    );
    assert_eq!((status.as_str(), attempts), ("failed", 1));
    assert!(why.unwrap().contains("no webhook URL"));
    assert_eq!(hook.hooks().len(), 3, "nothing was sent for it");

    drop(db);
    s.terminate();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains(&evt) && logs.contains("webhook delivered"),
        "the log names the event (a positive control)"
    );
    assert!(
        !logs.contains(&secret),
        "the webhook secret is in the server's log"
    );
    assert!(
        !logs.contains(&marker),
        "a webhook body is in the server's log"
    );
    assert!(
        !logs.contains(&hook.url),
        "a webhook URL is in the server's log"
    );
});

both!(a_crash_mid_delivery_loses_nothing, |storage| {
    let dir = TempDir::new("outbox-crash");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    // The first request is read but never answered: the server is mid-delivery when killed.
    let hook = Receiver::start(vec![Reply::Hang]);
    let s = start_logged(&data, &storage, &log);
    let (m, key, secret) = merchant(&s, "Boots Co", Some(&hook.url));
    let target = format!("merchant:{}", m["id"].as_str().unwrap());
    let db = Records::open(&data, &storage);
    let first = db.event(
        &target,
        &hook.url,
        &json!({"n": 1}),
        ("pending", 0, now_ms()),
    );
    hook.wait_for(1, Duration::from_secs(30));
    drop(s); // SIGKILL, mid-send
    assert_eq!(
        db.delivery(&first, &target).0,
        "pending",
        "the attempt was claimed, not finished"
    );

    // Another event while no server runs, then a restart.
    let second = db.event(
        &target,
        &hook.url,
        &json!({"n": 2}),
        ("pending", 0, now_ms()),
    );
    let mut s = start_logged(&data, &storage, &log);
    let d = db.delivery(&second, &target);
    assert!(d.0 == "pending" || d.0 == "delivered", "{d:?}");
    // The second goes out at once; the first once its claim's lease has run out.
    let got = hook.wait_for(3, Duration::from_secs(90));
    let ids: Vec<(&str, &str)> = got.iter().map(|h| (h.event_id(), h.attempt())).collect();
    assert_eq!(ids[0], (first.as_str(), "1"));
    assert!(ids.contains(&(second.as_str(), "1")), "{ids:?}");
    assert!(ids.contains(&(first.as_str(), "2")), "{ids:?}");
    for h in &got {
        assert_signed(h, &secret);
    }
    wait_until(
        "both recorded as delivered",
        Duration::from_secs(30),
        || {
            let v =
                as_merchant(&s, &key, "GET", "/v1/merchant/deliveries?status=delivered").want(200);
            (v["data"].as_array().unwrap().len() == 2).then_some(())
        },
    );
    assert_eq!(db.delivery(&first, &target).1, 2);
    assert_eq!(db.delivery(&second, &target).1, 1);
    drop(db);
    s.terminate();
});

both!(agents_register_replace_and_remove_webhooks, |storage| {
    let dir = TempDir::new("agent-webhooks");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let hook = Receiver::start(vec![]);
    let mut s = start_logged(&data, &storage, &log);
    let dev = Person::new(&s, "Dev");
    let agent = register_agent(&s, &dev, "shopper");
    let path = "/v1/agent/webhook";

    agent
        .call(&s, "GET", path, None)
        .refused(404, "webhook_not_found");
    let bad = agent.call(
        &s,
        "POST",
        path,
        Some(&json!({"url": "https://user:pw@agent.example/h"})),
    );
    bad.refused(400, "webhook_url_invalid");
    assert_eq!(bad.body["param"], "url");
    call(&s, "POST", path, None, &[], Some(&json!({"url": hook.url})))
        .refused(401, "signature_missing");

    let first = agent
        .call(
            &s,
            "POST",
            path,
            Some(&json!({"url": "http://127.0.0.1:9/old"})),
        )
        .want(201);
    let old_secret = first["secret"].as_str().unwrap().to_string();
    let w = agent
        .call(&s, "POST", path, Some(&json!({"url": hook.url})))
        .want(201);
    let secret = w["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret != old_secret, "{w}");
    assert_eq!(
        (&w["agent_id"], &w["url"]),
        (&json!(agent.id), &json!(hook.url))
    );
    let shown = agent.call(&s, "GET", path, None).want(200);
    assert_eq!(shown["url"], hook.url.as_str());
    assert!(
        shown.get("secret").is_none() && !shown.to_string().contains("whsec_"),
        "{shown}"
    );

    // Deliveries to the agent are signed with its newest secret only.
    let db = Records::open(&data, &storage);
    let target = format!("agent:{}", agent.id);
    let evt = db.event(
        &target,
        "http://127.0.0.1:9/old",
        &json!({"payment_id": "pay_test"}),
        ("pending", 0, now_ms()),
    );
    let got = hook.wait_for(1, Duration::from_secs(30));
    assert_eq!((got[0].event_id(), got[0].attempt()), (evt.as_str(), "1"));
    assert_signed(&got[0], &secret);
    let sig = got[0].header("merchant-signature");
    assert_eq!(
        webhook::verify(
            sig,
            old_secret.as_bytes(),
            &got[0].body,
            now_ms() / 1000,
            300
        ),
        Err(webhook::WebhookError::Mismatch)
    );
    wait_until(
        "the agent delivery recorded",
        Duration::from_secs(30),
        || (db.delivery(&evt, &target).0 == "delivered").then_some(()),
    );

    // Removing the webhook ends what is still pending for it.
    let later = db.event(
        &target,
        &hook.url,
        &json!({}),
        ("pending", 0, now_ms() + 3_600_000),
    );
    let removed = agent.call(&s, "DELETE", path, None).want(200);
    assert_eq!(removed["url"], hook.url.as_str());
    let (status, _, why) = db.delivery(&later, &target);
    assert_eq!(
        (status.as_str(), why.as_deref()),
        ("failed", Some("the agent removed its webhook"))
    );
    agent
        .call(&s, "GET", path, None)
        .refused(404, "webhook_not_found");
    agent
        .call(&s, "POST", "/v1/agent/webhook/remove", None)
        .refused(404, "webhook_not_found");
    agent
        .call(&s, "POST", path, Some(&json!({"url": hook.url})))
        .want(201);
    agent
        .call(&s, "POST", "/v1/agent/webhook/remove", None)
        .want(200);

    drop(db);
    s.terminate();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains(&agent.id),
        "the log names the agent (a positive control)"
    );
    for secret in [&secret, &old_secret] {
        assert!(
            !logs.contains(secret.as_str()),
            "an agent webhook secret is in the server's log"
        );
    }
});

#[test]
fn two_nodes_on_one_postgres_never_send_one_attempt_twice() {
    let Some(pg) = PgDb::create() else {
        eprintln!("skipped: PostgreSQL not reachable");
        return;
    };
    let storage = Storage::Postgres(pg);
    let (d1, d2) = (TempDir::new("outbox-pg1"), TempDir::new("outbox-pg2"));
    let (l1, l2) = (d1.path().join("purser.log"), d2.path().join("purser.log"));
    let hook = Receiver::start(vec![]);
    let a = start_logged(&d1.path().join("data"), &storage, &l1);
    // Nodes on one database share the vault key.
    std::fs::create_dir_all(d2.path().join("data")).unwrap();
    std::fs::copy(
        d1.path().join("data").join("vault-keys.json"),
        d2.path().join("data").join("vault-keys.json"),
    )
    .unwrap();
    let b = start_logged(&d2.path().join("data"), &storage, &l2);
    let (m, _, secret) = merchant(&a, "Boots Co", Some(&hook.url));
    let target = format!("merchant:{}", m["id"].as_str().unwrap());
    let db = Records::open(d1.path(), &storage);
    // All due at one instant in the near future, so both nodes find them in the same poll.
    let due = now_ms() + 2_500;
    let events: Vec<String> = (0..60)
        .map(|n| db.event(&target, &hook.url, &json!({"n": n}), ("pending", 0, due)))
        .collect();
    let got = hook.wait_for(events.len(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    let got_now = hook.hooks();
    assert_eq!(got_now.len(), events.len(), "no event was sent twice");
    let mut seen: Vec<&str> = got.iter().map(Hook::event_id).collect();
    seen.sort_unstable();
    let mut want: Vec<&str> = events.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(seen, want);
    for h in &got {
        assert_eq!(h.attempt(), "1");
        assert_signed(h, &secret);
    }
    // Each delivery was recorded by exactly one node (each logs what it delivered).
    let delivered_by = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("webhook delivered"))
            .count()
    };
    assert_eq!(delivered_by(&l1) + delivered_by(&l2), events.len());
    drop(db);
    drop((a, b));
}

both!(concurrent_passes_claim_each_attempt_once, |storage| {
    // Two passes at once over the same due rows (what two nodes, or one node's parallel
    // passes, do): both read the same rows, and the claim lets exactly one send each.
    let dir = TempDir::new("outbox-race");
    let store = match storage.url() {
        Some(url) => StoreConfig::Postgres { url: url.into() },
        None => StoreConfig::sqlite_in(dir.path()),
    };
    let hook = Receiver::start(vec![]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ledger = Arc::new(
            Ledger::open(store.clone(), Arc::new(purser_store::SystemClock))
                .await
                .unwrap(),
        );
        let w = Wallet::open(
            &store,
            dir.path(),
            ledger.clone(),
            Arc::new(purser_store::SystemClock),
            Arc::new(purser_core::rail::SandboxRail::new()),
        )
        .await
        .unwrap();
        let m = w
            .create_merchant(&NewMerchant {
                name: "Boots Co".into(),
                website: "boots.example".into(),
                webhook_url: Some(hook.url.clone()),
                ..NewMerchant::default()
            })
            .await
            .unwrap();
        let target = format!("merchant:{}", m.merchant.id);
        let mut sent = 0;
        for round in 0..5 {
            let mut events = Vec::new();
            for n in 0..20 {
                events.push(
                    write_event(
                        w.db(),
                        &target,
                        &hook.url,
                        &json!({"round": round, "n": n}),
                        ("pending", 0, now_ms()),
                    )
                    .await,
                );
            }
            let (a, b) = tokio::join!(w.deliver_due(64), w.deliver_due(64));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(
                a + b,
                events.len(),
                "round {round}: {a} + {b} attempts for {} events",
                events.len()
            );
            sent += events.len();
            let got = hook.hooks();
            assert_eq!(got.len(), sent, "round {round}: each event sent once");
            let mut ids: Vec<&str> = got[sent - events.len()..]
                .iter()
                .map(Hook::event_id)
                .collect();
            ids.sort_unstable();
            events.sort_unstable();
            assert_eq!(ids, events.iter().map(String::as_str).collect::<Vec<_>>());
            for h in &got[sent - events.len()..] {
                assert_eq!(h.attempt(), "1");
                assert_signed(h, &m.webhook_secret);
            }
        }
        assert_eq!(w.deliver_due(64).await.unwrap(), 0, "nothing left due");
        w.shutdown().await;
        ledger.shutdown().await;
    });
});
