//! Hostile clients against the real binary: oversized and deeply nested bodies, clients that
//! trickle bytes to hold connections open, callers over their rate limit, a signed request
//! replayed on another node, a confirmation link used after its mandate was revoked, secrets
//! looked for in a whole flow's log, and a source scan for secrets compared with `==`.
//!
//! The byte-level HTTP tests run on SQLite only: they exercise the connection and body layer,
//! which does not touch storage. Everything that reaches the wallet runs on both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use purser_core::httpsig::{
    sign_request, Ed25519KeyPair, RequestParts, SignParams, SignatureHeaders,
};
use serde_json::{json, Value};

use crate::both;
use crate::payments::{boots_mandate, give_mandate, pay, pay_body, register_merchant};
use crate::people::*;
use crate::support::*;

// ---- helpers ---------------------------------------------------------------------------

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `parts` (and `body`) signed as `key` now, with a fresh nonce.
fn sign_now(key: &Ed25519KeyPair, parts: &RequestParts, body: Option<&[u8]>) -> SignatureHeaders {
    sign_request(
        key,
        parts,
        body,
        &SignParams::new(now_secs(), unique("nonce")),
    )
    .expect("sign")
}

/// A request signed as `key` over exact `body` bytes, for `authority`, sent to `p` with that
/// `Host`.
fn signed_bytes(
    p: &dyn Server,
    key: &Ed25519KeyPair,
    authority: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    extra: &[(&str, &str)],
) -> Resp {
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method,
        scheme: Some("http"),
        authority,
        path,
        query: None,
        headers: &no_headers,
    };
    let sig = sign_now(key, &parts, body);
    let mut headers = vec![
        ("Host", authority),
        ("Signature-Input", sig.signature_input.as_str()),
        ("Signature", sig.signature.as_str()),
    ];
    if let Some(d) = &sig.content_digest {
        headers.push(("Content-Digest", d.as_str()));
    }
    headers.extend_from_slice(extra);
    send(p, method, path, None, &headers, body)
}

fn authority_of(p: &dyn Server) -> String {
    p.base().trim_start_matches("http://").to_string()
}

/// A raw connection to the server.
fn connect(p: &dyn Server) -> TcpStream {
    let s = TcpStream::connect(authority_of(p)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
}

/// Read what has arrived; `true` once the server closed the connection.
fn drain(s: &mut TcpStream, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Read until the server closes the connection (or `within` passes): everything received.
fn read_to_close(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if drain(s, &mut got) {
            return (got, true);
        }
    }
    (got, false)
}

/// The status and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // A chunked body: the JSON is on the line after the size.
    let json = body
        .lines()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[track_caller]
fn assert_json_error(what: &str, status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(
        (status, body["code"].as_str().unwrap_or_default()),
        (want_status, code),
        "{what}: {body}"
    );
    assert!(body["type"].is_string(), "{what}: {body}");
    assert!(
        body["message"].as_str().unwrap_or_default().len() > 10,
        "{what}: {body}"
    );
}

// ---- bodies ----------------------------------------------------------------------------

const LIMIT: usize = 512 * 1024;

#[test]
fn oversized_bodies_are_refused_in_the_json_shape() {
    let dir = TempDir::new("hostile-size");
    let p = start(dir.path(), &Storage::Sqlite);
    let alice = Person::new(&p, "Alice");
    let auth = format!("Bearer {}", alice.token);
    // A declared length over the limit is refused before a byte of the body is read, on every
    // door: a user's, an agent's, the operator's, a merchant's.
    for (path, bearer) in [
        ("/v1/cards", Some(auth.as_str())),
        ("/v1/agent/payments", None),
        ("/v1/ledger/batch", None),
        ("/v1/merchant/captures", None),
        ("/mcp", None),
    ] {
        let mut s = connect(&p);
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n",
            authority_of(&p)
        );
        if let Some(b) = bearer {
            head.push_str(&format!("Authorization: {b}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let (raw, closed) = read_to_close(&mut s, Duration::from_secs(10));
        assert!(closed, "{path}: the connection is closed after the refusal");
        let (status, body) = parse_answer(&raw);
        assert_json_error(path, status, &body, 413, "body_too_large");
    }
    // Without a declared length (chunked), reading stops at the limit.
    let mut s = connect(&p);
    let head = format!(
        "POST /v1/cards HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        authority_of(&p)
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut writer = s.try_clone().unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
    let sender = std::thread::spawn(move || {
        for _ in 0..(LIMIT / (64 * 1024) + 2) {
            if writer.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
    });
    let (raw, _) = read_to_close(&mut s, Duration::from_secs(10));
    let _ = sender.join();
    let (status, body) = parse_answer(&raw);
    assert_json_error("chunked", status, &body, 413, "body_too_large");
    // A body of exactly the limit is read, and reaches the handler (which finds no card in it).
    let mut exact = b"{\"number\": 1".to_vec();
    exact.resize(LIMIT - 1, b' ');
    exact.push(b'}');
    let r = send(
        &p,
        "POST",
        "/v1/cards",
        Some(&alice.token),
        &[],
        Some(&exact),
    );
    r.refused(400, "invalid_field");
    // Nothing was added, and the server is fine.
    assert_eq!(alice.get(&p, "/v1/cards").want(200)["data"], json!([]));
    assert_eq!(p.get("/healthz").0, 200);
}

#[test]
fn deeply_nested_json_is_a_clear_400() {
    let dir = TempDir::new("hostile-deep");
    let p = start(dir.path(), &Storage::Sqlite);
    let alice = Person::new(&p, "Alice");
    let dev = Person::new(&p, "Dev");
    let (x, _) = bound_agent(&p, &dev, &alice);
    let shop = register_merchant(&p, "Deep", "deep.example");
    // Unclosed, and well-formed but 100,000 levels deep (far past serde_json's 128).
    let open = "[".repeat(200_000).into_bytes();
    // `v` inside 100,000 arrays.
    let nested = |v: &str| format!("{}{v}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep = format!("{{\"number\": {}}}", nested("1")).into_bytes();
    // A typed body stops at the first value of the wrong type (`invalid_field`); anything
    // parsed further stops at the depth limit (`invalid_json`). Either way a 400, never a crash.
    let clear = |r: Resp| {
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            ["invalid_json", "invalid_field"].contains(&r.code()),
            "{}",
            r.text
        );
        r.refused(400, r.code());
    };
    // A POST signed as the agent.
    let authority = authority_of(&p);
    let as_agent = |path: &str, body: &[u8], extra: &[(&str, &str)]| {
        signed_bytes(&p, &x.key, &authority, "POST", path, Some(body), extra)
    };
    for body in [&open, &deep] {
        let r = send(&p, "POST", "/v1/cards", Some(&alice.token), &[], Some(body));
        clear(r);
        let key = unique("deep");
        let r = as_agent("/v1/agent/payments", body, &[("Idempotency-Key", &key)]);
        clear(r);
        let r = send(
            &p,
            "POST",
            "/v1/ledger/batch",
            Some(&p.token),
            &[],
            Some(body),
        );
        clear(r);
        let r = send(
            &p,
            "POST",
            "/v1/merchant/captures",
            Some(&shop.key),
            &[("Idempotency-Key", &unique("deep"))],
            Some(body),
        );
        clear(r);
        // MCP answers in JSON-RPC; it must answer, not crash.
        let r = as_agent("/mcp", body, &[]);
        assert!(r.status < 500, "{} {}", r.status, r.text);
        // Deep inside an untyped value (MCP tool arguments): the parser's depth limit.
        let call = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"wallet_funds\",\"arguments\":{{\"x\":{}}}}}}}",
            nested("1")
        );
        let r = as_agent(
            "/mcp",
            call.as_bytes(),
            &[("Accept", "application/json, text/event-stream")],
        );
        assert!(r.status < 500, "{} {}", r.status, r.text);
        // A body with a deep untyped value where Purser itself parses JSON values: the
        // x402 payload.
        let x402 = format!(
            "{{\"x402Version\":2,\"paymentPayload\":{},\"paymentRequirements\":{{}}}}",
            nested("1")
        );
        let r = send(
            &p,
            "POST",
            "/x402/verify",
            Some(&shop.key),
            &[],
            Some(x402.as_bytes()),
        );
        clear(r);
        assert_eq!(p.get("/healthz").0, 200, "the server survived");
    }
    assert_eq!(alice.get(&p, "/v1/cards").want(200)["data"], json!([]));
}

// ---- slow clients ----------------------------------------------------------------------

#[test]
fn slow_clients_are_cut_off() {
    let dir = TempDir::new("hostile-slow");
    let p = start_with(dir.path(), &Storage::Sqlite, &["--read-timeout", "2"]);
    let alice = Person::new(&p, "Alice");

    // Headers, a byte every 200 ms, never finished: closed about 2 s in.
    let mut s = connect(&p);
    let started = Instant::now();
    let mut got = Vec::new();
    s.write_all(
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
            authority_of(&p)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(15) {
        if s.write_all(b"a").is_err() || drain(&mut s, &mut got) {
            closed = true;
            break;
        }
        // Meanwhile everybody else is served at once.
        let t = Instant::now();
        assert_eq!(p.get("/healthz").0, 200);
        assert!(t.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = started.elapsed();
    assert!(closed, "a client trickling its headers was never cut off");
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_secs(6),
        "cut off after {took:?}, not about 2 s"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 408"),
        "no answer but a timeout: {text}"
    );

    // Headers in full, then the body a byte every 200 ms: 408 in the JSON shape, then closed.
    let mut s = connect(&p);
    let started = Instant::now();
    s.write_all(
        format!(
            "POST /v1/cards HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
            authority_of(&p),
            alice.token
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(15) {
        if s.write_all(b" ").is_err() || drain(&mut s, &mut got) {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Whatever is still in flight.
    let (rest, _) = read_to_close(&mut s, Duration::from_secs(2));
    got.extend(rest);
    let took = started.elapsed();
    assert!(closed, "a client trickling its body was never cut off");
    assert!(took < Duration::from_secs(6), "cut off after {took:?}");
    let (status, body) = parse_answer(&got);
    assert_json_error("slow body", status, &body, 408, "body_timeout");

    // An idle kept-alive connection is closed after the same time.
    let mut s = connect(&p);
    s.write_all(
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n",
            authority_of(&p)
        )
        .as_bytes(),
    )
    .unwrap();
    let started = Instant::now();
    let (got, closed) = read_to_close(&mut s, Duration::from_secs(8));
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert!(closed, "an idle connection stays open forever");
    assert!(started.elapsed() < Duration::from_secs(6));

    assert_eq!(alice.get(&p, "/v1/cards").want(200)["data"], json!([]));
}

// ---- connections -----------------------------------------------------------------------

/// A counter or gauge from `/metrics`.
#[track_caller]
fn metric(p: &dyn Server, name: &str) -> u64 {
    let r = call(p, "GET", "/metrics", None, &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", r.text))
}

/// Wait until the only connection open is the one asking `/metrics`.
#[track_caller]
fn until_only_the_asker_is_open(p: &dyn Server, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let open = metric(p, "purser_http_connections_open");
        if open == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections are still open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw `GET path` that asks the server to close the connection after answering.
fn get_and_close(p: &dyn Server, path: &str) -> TcpStream {
    let mut s = connect(p);
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            authority_of(p)
        )
        .as_bytes(),
    )
    .unwrap();
    s
}

#[test]
fn connections_beyond_the_cap_wait_until_one_closes() {
    let dir = TempDir::new("hostile-cap");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let p = start_logged_with(
        &data,
        &Storage::Sqlite,
        &log,
        // Idle connections must outlive the test's waits.
        &["--max-connections", "4", "--read-timeout", "30"],
    );
    assert_eq!(metric(&p, "purser_http_connections_max"), 4);
    until_only_the_asker_is_open(&p, Duration::from_secs(10));
    let warnings = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("the most this node serves at once"))
            .count()
    };
    assert_eq!(warnings(), 0);

    // Four idle connections take every slot.
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(&p)).collect();
    // A fifth client (and a sixth and seventh behind it) connect — the kernel's backlog takes
    // them — but are not served.
    let mut waiting: Vec<TcpStream> = (0..3).map(|_| get_and_close(&p, "/healthz")).collect();
    let (got, closed) = read_to_close(&mut waiting[0], Duration::from_millis(1_500));
    assert!(
        got.is_empty() && !closed,
        "a fifth connection was served beyond --max-connections 4: {}",
        String::from_utf8_lossy(&got)
    );

    // One idle connection closes: the fifth is served at once, then, as each asked to close
    // after its answer, the sixth and the seventh.
    drop(idle.pop());
    let started = Instant::now();
    for (i, s) in waiting.iter_mut().enumerate() {
        let (got, closed) = read_to_close(s, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 200") && closed,
            "waiting client {} after a slot freed: {text}",
            i + 5
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the waiting clients took {:?}",
        started.elapsed()
    );
    // Three connections waited, one episode at the cap: one warning, not one per connection.
    assert_eq!(
        warnings(),
        1,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The metrics count the three idle connections still open, and this request.
    assert_eq!(metric(&p, "purser_http_connections_open"), 4);
    drop(idle);
    until_only_the_asker_is_open(&p, Duration::from_secs(10));
    assert!(metric(&p, "purser_http_connection_cap_reached_total") >= 1);
    assert_eq!(call(&p, "GET", "/healthz", None, &[], None).status, 200);
}

#[test]
fn a_client_that_does_not_read_its_answer_is_cut_off() {
    let dir = TempDir::new("hostile-slow-reader");
    let p = start_with(dir.path(), &Storage::Sqlite, &["--write-timeout", "2"]);
    let one = call(&p, "GET", "/openapi.json", None, &[], None).text.len();
    assert!(one > 10_000, "the OpenAPI document is {one} bytes");
    // Answers for far more than the kernel's socket buffers hold (tens of MiB), asked for in
    // one go (pipelined) and never read.
    let asked = (64 * 1024 * 1024) / one + 1;
    let mut s = connect(&p);
    let request = format!(
        "GET /openapi.json HTTP/1.1\r\nHost: {}\r\n\r\n",
        authority_of(&p)
    );
    s.write_all(request.repeat(asked).as_bytes()).unwrap();
    assert_eq!(metric(&p, "purser_http_write_timeouts_total"), 0);

    // Everybody else is served meanwhile; the reader that stalled is cut off about 2 s after
    // the buffers filled.
    let started = Instant::now();
    loop {
        let t = Instant::now();
        assert_eq!(call(&p, "GET", "/healthz", None, &[], None).status, 200);
        assert!(t.elapsed() < Duration::from_secs(1));
        if metric(&p, "purser_http_write_timeouts_total") == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a client not reading its answer was never cut off"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "cut off after {:?}, before the write timeout",
        started.elapsed()
    );
    until_only_the_asker_is_open(&p, Duration::from_secs(5));

    // What the client finds when it reads at last: what the buffers held, then the end.
    let (got, closed) = read_to_close(&mut s, Duration::from_secs(10));
    assert!(closed, "the connection is still open");
    assert!(
        got.len() < asked * one,
        "every answer arrived ({} bytes): nothing was cut off",
        got.len()
    );
}

// ---- rate limits -----------------------------------------------------------------------

#[track_caller]
fn assert_limited(r: &Resp, most: u64) -> u64 {
    r.refused(429, "rate_limited");
    assert_eq!(r.body["type"], "rate_limit_exceeded", "{}", r.text);
    let secs: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in whole seconds: {:?}", r.headers));
    assert!((1..=most).contains(&secs), "Retry-After {secs}");
    secs
}

both!(rate_limits_per_agent_and_per_user, |storage| {
    let dir = TempDir::new("hostile-rate");
    let p = start_with(
        dir.path(),
        &storage,
        &[
            "--agent-requests-per-minute",
            "30",
            "--user-requests-per-minute",
            "30",
        ],
    );
    let dora = Person::new(&p, "Dora");
    let bob = Person::new(&p, "Bob");
    let carol = Person::new(&p, "Carol");
    // Dora's requests, with either of her tokens, share one allowance.
    let second = dora.token_with(&p, &["wallet:read"]);
    let mut passed = 1;
    let mut limited = None;
    for i in 0..40 {
        let who = if i % 2 == 0 { &dora } else { &second };
        let r = who.get(&p, "/v1/wallet");
        if r.status == 200 {
            passed += 1;
        } else {
            limited = Some(r);
            break;
        }
    }
    assert_eq!(passed, 30, "a burst of a minute's allowance, then refused");
    let secs = assert_limited(&limited.unwrap(), 2);
    second.get(&p, "/v1/wallet").refused(429, "rate_limited");
    // Other users are not slowed by her.
    bob.get(&p, "/v1/wallet").want(200);
    // After Retry-After, she may go on.
    std::thread::sleep(Duration::from_secs(secs));
    dora.get(&p, "/v1/wallet").want(200);

    // An agent's allowance; a refused request does nothing (it asked Bob for nothing).
    let a = register_agent(&p, &carol, "Eager");
    let other = register_agent(&p, &carol, "Calm");
    let mut passed = 0;
    while passed < 40 {
        let r = a.call(&p, "GET", "/v1/agent/whoami", None);
        if r.status != 200 {
            assert_limited(&r, 2);
            break;
        }
        passed += 1;
    }
    assert_eq!(passed, 30);
    let r = a.call(
        &p,
        "POST",
        "/v1/agent/bindings",
        Some(&json!({"user_id": bob.id, "purpose": "buy groceries"})),
    );
    let secs = assert_limited(&r, 2);
    assert_eq!(bob.get(&p, "/v1/bindings").want(200)["data"], json!([]));
    other.call(&p, "GET", "/v1/agent/whoami", None).want(200);
    std::thread::sleep(Duration::from_secs(secs));
    a.call(&p, "GET", "/v1/agent/whoami", None).want(200);
    // The limits are per node and in memory: the operator's routes and public ones are not
    // counted.
    for _ in 0..40 {
        assert_eq!(p.get("/v1/operator/vault").0, 200);
    }
});

both!(limits_off_when_configured_off, |storage| {
    let dir = TempDir::new("hostile-rate-off");
    let p = start_with(
        dir.path(),
        &storage,
        &[
            "--agent-requests-per-minute",
            "0",
            "--user-requests-per-minute",
            "0",
        ],
    );
    let dora = Person::new(&p, "Dora");
    for _ in 0..1_300 {
        dora.get(&p, "/v1/me").want(200);
    }
});

both!(
    pin_sign_ins_and_passkey_prompts_are_limited_per_address,
    |storage| {
        let dir = TempDir::new("hostile-signin");
        let p = start_with(dir.path(), &storage, &["--sign-ins-per-minute", "4"]);
        let dora = dora_with_pin(&p);
        // One client sprays a guess over many people: each person's lockout alone would allow 5
        // guesses each; the address allows 4 attempts a minute in all.
        for i in 0..4 {
            let who = if i == 0 {
                dora.id.clone()
            } else {
                format!("usr_guess{i}")
            };
            let r = crate::pins::form_post(&p, "/signin/pin", &format!("user_id={who}&pin=135792"));
            assert_ne!(r.status, 429, "attempt {i}: {}", r.text);
        }
        let r = crate::pins::form_post(
            &p,
            "/signin/pin",
            &format!("user_id={}&pin={DORA_PIN}", dora.id),
        );
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(
            r.text.contains("Too many PIN sign-ins"),
            "a page that says so: {}",
            r.text
        );
        assert!(r.text.starts_with("<!doctype html>"), "a page, not JSON");
        let secs: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=15).contains(&secs), "Retry-After {secs}");
        assert!(
            !r.headers
                .iter()
                .any(|(n, v)| n == "set-cookie" && v.contains("purser-session=pws_")),
            "no session while limited, even with the right PIN"
        );
        // Passkey prompts: three times the allowance, then 429 in the JSON shape, before any
        // challenge is stored.
        let (cookie, token) = crate::pins::csrf_of(&p, "/signin");
        let start = || passkey_prompt(&p, (&cookie, &token), &dora.id, None);
        for i in 0..12 {
            let r = start();
            assert_ne!(r.status, 429, "prompt {i}: {}", r.text);
        }
        assert_limited(&start(), 20);
    }
);

/// The PIN the sign-in tests give Dora.
pub(crate) const DORA_PIN: &str = "482915";

/// Dora, with her PIN set to [`DORA_PIN`].
pub(crate) fn dora_with_pin(p: &dyn Server) -> Person {
    let dora = Person::new(p, "Dora");
    dora.post(p, "/v1/me/pin", &json!({ "pin": DORA_PIN }))
        .want(200);
    dora
}

/// A PIN sign-in with the sign-in page's CSRF token, as it arrives directly or (`xff`) through
/// a proxy that sends `X-Forwarded-For`; redirects are not followed.
fn pin_sign_in(p: &dyn Server, xff: Option<&str>, user_id: &str, pin: &str) -> Resp {
    let (cookie, token) = crate::pins::csrf_of(p, "/signin");
    let mut req = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .post(&format!("{}/signin/pin", p.base()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .set("Cookie", &format!("purser-csrf={cookie}"));
    if let Some(xff) = xff {
        req = req.set("X-Forwarded-For", xff);
    }
    let r = req.send_string(&format!("csrf={token}&user_id={user_id}&pin={pin}"));
    let what = if xff.is_some() {
        "PIN sign-in through a proxy"
    } else {
        "PIN sign-in"
    };
    into_resp(r, what)
}

/// A PIN sign-in as it arrives through a proxy that sends `X-Forwarded-For: xff`.
fn pin_sign_in_via(p: &dyn Server, xff: &str, user_id: &str, pin: &str) -> Resp {
    pin_sign_in(p, Some(xff), user_id, pin)
}

/// A passkey sign-in prompt (`/web/passkeys/signin/start`) for `user_id`, with the sign-in
/// page's CSRF `cookie` and `token`, directly or (`xff`) through a proxy.
fn passkey_prompt(
    p: &dyn Server,
    (cookie, token): (&str, &str),
    user_id: &str,
    xff: Option<&str>,
) -> Resp {
    let mut req = ureq::AgentBuilder::new()
        .build()
        .post(&format!("{}/web/passkeys/signin/start", p.base()))
        .set("Content-Type", "application/json")
        .set("Cookie", &format!("purser-csrf={cookie}"))
        .set("X-Purser-CSRF", token);
    if let Some(xff) = xff {
        req = req.set("X-Forwarded-For", xff);
    }
    let r = req.send_string(&json!({ "user_id": user_id }).to_string());
    into_resp(r, "passkey sign-in start")
}

both!(
    behind_a_trusted_proxy_each_client_has_its_own_sign_in_limit,
    |storage| {
        // Loopback (where the tests connect from) is the trusted proxy; given in the
        // environment variable, comma-separated, as a deployment would.
        let dir = TempDir::new("hostile-proxy");
        let p = start_with_env(
            dir.path(),
            &storage,
            &["--sign-ins-per-minute", "3"],
            &[("PURSER_TRUSTED_PROXIES", "127.0.0.1, ::1")],
        );
        let dora = dora_with_pin(&p);
        let wrong = |xff: &str, i: usize| {
            let r = pin_sign_in_via(&p, xff, &format!("usr_guess{i}"), "135792");
            (r.status, r.text)
        };
        // Client A uses up its allowance.
        for i in 0..3 {
            let (status, text) = wrong("203.0.113.7", i);
            assert_ne!(status, 429, "A's attempt {i}: {text}");
        }
        assert_eq!(wrong("203.0.113.7", 3).0, 429, "A is limited");
        // Client B, behind the same proxy, is not: it signs in.
        let r = pin_sign_in_via(&p, "198.51.100.20", &dora.id, DORA_PIN);
        assert_eq!(r.status, 303, "B signs in: {}", r.text);
        // A cannot escape by writing another address on the left: the proxy appends the one
        // it saw, and that is the one counted.
        assert_eq!(
            wrong("198.51.100.99, 203.0.113.7", 4).0,
            429,
            "a spoofed left-most entry"
        );
        assert_eq!(
            wrong("198.51.100.99,203.0.113.7:51234", 5).0,
            429,
            "with a port"
        );
        // Proxies in between that are trusted are skipped.
        assert_eq!(wrong("203.0.113.7, 127.0.0.1", 6).0, 429, "via two proxies");
        // A header Purser cannot read counts as the proxy's own address (its own bucket).
        for i in 0..3 {
            let (status, text) = wrong("203.0.113.7, not-an-address", 7 + i);
            assert_ne!(status, 429, "malformed {i}: {text}");
        }
        assert_eq!(wrong("", 10).0, 429, "an empty header is the proxy too");
        // Passkey prompts are counted per client as well.
        let (cookie, token) = crate::pins::csrf_of(&p, "/signin");
        let start = |xff: &str| passkey_prompt(&p, (&cookie, &token), &dora.id, Some(xff));
        for i in 0..9 {
            let r = start("203.0.113.7");
            assert_ne!(r.status, 429, "prompt {i}: {}", r.text);
        }
        assert_limited(&start("203.0.113.7"), 20);
        assert_ne!(start("198.51.100.20").status, 429, "B's prompts are B's");

        // The same headers from a peer that is not a trusted proxy are ignored: everyone
        // connecting from loopback shares one bucket.
        let dir_q = TempDir::new("hostile-untrusted-proxy");
        // On PostgreSQL both servers share one database, so one vault key.
        std::fs::copy(
            dir.path().join("vault-keys.json"),
            dir_q.path().join("vault-keys.json"),
        )
        .expect("vault key");
        let q = start_with(
            dir_q.path(),
            &storage,
            &[
                "--sign-ins-per-minute",
                "3",
                "--trusted-proxy",
                "10.0.0.0/8",
                "--trusted-proxy",
                "fd00::/8",
            ],
        );
        for (i, xff) in ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
            .iter()
            .enumerate()
        {
            let r = pin_sign_in_via(&q, xff, &format!("usr_guess{i}"), "135792");
            assert_ne!(r.status, 429, "attempt {i}: {}", r.text);
        }
        let r = pin_sign_in_via(&q, "198.51.100.20", "usr_guess3", "135792");
        assert_eq!(r.status, 429, "a header from an untrusted peer: {}", r.text);
    }
);

#[test]
fn a_trusted_proxy_that_is_not_an_address_is_refused_at_start() {
    let dir = TempDir::new("hostile-bad-proxy");
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(["--trusted-proxy", "proxy.internal"])
        .env_remove("PURSER_DATABASE_URL")
        .output()
        .expect("run purser");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--trusted-proxy") && err.contains("10.0.0.0/8"),
        "says what to write: {err}"
    );
}

/// The web wallet's session cookie after a PIN sign-in, or panic.
pub(crate) fn pin_session(p: &dyn Server, user_id: &str, pin: &str) -> String {
    let r = pin_sign_in(p, None, user_id, pin);
    assert_eq!(r.status, 303, "{}", r.text);
    r.headers
        .iter()
        .find_map(|(n, v)| {
            (n == "set-cookie")
                .then(|| v.strip_prefix("purser-session="))
                .flatten()
        })
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .expect("a session cookie")
}

/// A signed-in page's CSRF token (in its `purser-csrf` meta tag) and status.
pub(crate) fn page_csrf(p: &dyn Server, session: &str) -> (u16, String) {
    let r = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .get(&format!("{}/", p.base()))
        .set("Cookie", &format!("purser-session={session}"))
        .call();
    let r = into_resp(r, "Home");
    let token = r
        .text
        .split("name=\"purser-csrf\" content=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_default()
        .to_string();
    (r.status, token)
}

both!(
    a_web_form_is_bound_to_the_session_it_was_made_for,
    |storage| {
        let dir = TempDir::new("hostile-csrf");
        let p = start_with(dir.path(), &storage, &[]);
        let dora = dora_with_pin(&p);
        let a = pin_session(&p, &dora.id, DORA_PIN);
        let b = pin_session(&p, &dora.id, DORA_PIN);
        let (status, token_a) = page_csrf(&p, &a);
        assert_eq!(status, 200);
        let (_, token_b) = page_csrf(&p, &b);
        assert!(token_a.starts_with("pwx_") && token_b.starts_with("pwx_"));
        assert_ne!(token_a, token_b, "each session has its own token");
        assert!(
            !token_a.contains(&a["pws_".len()..]),
            "the token does not reveal the session"
        );
        let sign_out = |session: &str, token: &str| {
            let r = ureq::AgentBuilder::new()
                .redirects(0)
                .build()
                .post(&format!("{}/signout", p.base()))
                .set("Content-Type", "application/x-www-form-urlencoded")
                .set("Cookie", &format!("purser-session={session}"))
                .send_string(&format!("csrf={token}"));
            into_resp(r, "sign-out")
        };
        // Session A's form, sent with session B's cookie: refused, B stays signed in.
        let r = sign_out(&b, &token_a);
        assert_eq!(r.header("location"), Some("/"), "refused: back Home");
        assert_eq!(page_csrf(&p, &b).0, 200, "B is still signed in");
        // B's own form signs B out; A's token then works for nothing of B's.
        let r = sign_out(&b, &token_b);
        assert_eq!(r.header("location"), Some("/signin"));
        assert_eq!(page_csrf(&p, &b).0, 303, "B is signed out");
        assert_eq!(page_csrf(&p, &a).0, 200, "A is not");
    }
);

// ---- signed requests: another node, reordered components ---------------------------------

#[test]
fn a_signed_request_replayed_on_another_node_is_refused() {
    let Some(db) = PgDb::create() else {
        eprintln!("skipped: PostgreSQL not reachable");
        return;
    };
    let storage = Storage::Postgres(db);
    let (da, db_) = (TempDir::new("node-a"), TempDir::new("node-b"));
    // Both nodes serve one public address, as behind a load balancer.
    let public = ["--public-url", "http://pay.purser.test"];
    let a = start_with(da.path(), &storage, &public);
    // Every node on one database holds the same vault key.
    std::fs::copy(
        da.path().join("vault-keys.json"),
        db_.path().join("vault-keys.json"),
    )
    .unwrap();
    let b = start_with(db_.path(), &storage, &public);
    let alice = Person::new(&a, "Alice");
    let agent = register_agent(&a, &alice, "Roamer");
    let host = "pay.purser.test";
    // One signed request, captured on its way to node A, then sent to node B.
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method: "GET",
        scheme: Some("http"),
        authority: host,
        path: "/v1/agent/whoami",
        query: None,
        headers: &no_headers,
    };
    let sig = sign_now(&agent.key, &parts, None);
    let headers = [
        ("Host", host),
        ("Signature-Input", sig.signature_input.as_str()),
        ("Signature", sig.signature.as_str()),
    ];
    send(&a, "GET", "/v1/agent/whoami", None, &headers, None).want(200);
    send(&b, "GET", "/v1/agent/whoami", None, &headers, None).refused(401, "nonce_reused");
    send(&a, "GET", "/v1/agent/whoami", None, &headers, None).refused(401, "nonce_reused");
    // Node B serves the agent's fresh requests.
    signed_bytes(&b, &agent.key, host, "GET", "/v1/agent/whoami", None, &[]).want(200);

    // A POST refused as a replay on the other node changes nothing there.
    let body = json!({"user_id": alice.id, "purpose": "buy groceries"}).to_string();
    let parts = RequestParts {
        method: "POST",
        path: "/v1/agent/bindings",
        ..parts
    };
    let sig = sign_now(&agent.key, &parts, Some(body.as_bytes()));
    let digest = sig.content_digest.clone().unwrap();
    let headers = [
        ("Host", host),
        ("Signature-Input", sig.signature_input.as_str()),
        ("Signature", sig.signature.as_str()),
        ("Content-Digest", digest.as_str()),
    ];
    let first = send(
        &b,
        "POST",
        "/v1/agent/bindings",
        None,
        &headers,
        Some(body.as_bytes()),
    )
    .want(201);
    send(
        &a,
        "POST",
        "/v1/agent/bindings",
        None,
        &headers,
        Some(body.as_bytes()),
    )
    .refused(401, "nonce_reused");
    let bindings = alice.get(&a, "/v1/bindings").want(200);
    let ids: Vec<&str> = bindings["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![first["id"].as_str().unwrap()], "{bindings}");
}

#[test]
fn reordered_signature_components_are_refused() {
    let dir = TempDir::new("hostile-reorder");
    let p = start(dir.path(), &Storage::Sqlite);
    let dev = Person::new(&p, "Dev");
    let agent = register_agent(&p, &dev, "Shuffler");
    let authority = authority_of(&p);
    let no_headers: Vec<(String, String)> = Vec::new();
    let body = json!({"user_id": dev.id, "purpose": "buy groceries"}).to_string();
    let parts = RequestParts {
        method: "POST",
        scheme: Some("http"),
        authority: &authority,
        path: "/v1/agent/bindings",
        query: None,
        headers: &no_headers,
    };
    let sig = sign_now(&agent.key, &parts, Some(body.as_bytes()));
    // The covered components in another order: the signature base changes, so the signature
    // no longer verifies (RFC 9421 §2.5: the order is part of what is signed).
    let input = sig.signature_input.clone();
    let open = input.find('(').unwrap();
    let close = input.find(')').unwrap();
    let mut components: Vec<&str> = input[open + 1..close].split(' ').collect();
    assert!(components.len() >= 3, "{input}");
    components.reverse();
    let reordered = format!(
        "{}({}){}",
        &input[..open],
        components.join(" "),
        &input[close + 1..]
    );
    assert_ne!(reordered, input);
    let digest = sig.content_digest.clone().unwrap();
    let headers = [
        ("Signature-Input", reordered.as_str()),
        ("Signature", sig.signature.as_str()),
        ("Content-Digest", digest.as_str()),
    ];
    send(
        &p,
        "POST",
        "/v1/agent/bindings",
        None,
        &headers,
        Some(body.as_bytes()),
    )
    .refused(401, "signature_invalid");
    // Two requests delivered in the opposite order to the one they were signed in are each
    // judged on their own: both pass, once.
    let sign_get = || {
        let parts = RequestParts {
            method: "GET",
            path: "/v1/agent/whoami",
            ..parts
        };
        sign_now(&agent.key, &parts, None)
    };
    let (first, second) = (sign_get(), sign_get());
    for (s, replay) in [(&second, false), (&first, false), (&second, true)] {
        let headers = [
            ("Signature-Input", s.signature_input.as_str()),
            ("Signature", s.signature.as_str()),
        ];
        let r = send(&p, "GET", "/v1/agent/whoami", None, &headers, None);
        if replay {
            r.refused(401, "nonce_reused");
        } else {
            assert_eq!(r.status, 200, "{}", r.text);
        }
    }
    assert_eq!(dev.get(&p, "/v1/bindings").want(200)["data"], json!([]));
}

// ---- links -----------------------------------------------------------------------------

both!(a_confirmation_link_dies_with_its_mandate, |storage| {
    let dir = TempDir::new("hostile-link");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    alice.funded(&p, 500_000);
    let (x, _) = bound_agent(&p, &alice, &alice);
    let mandate = give_mandate(&p, &alice, &x, &boots_mandate());
    let shop = register_merchant(
        &p,
        "Trail Outfitters",
        &format!("{}.example", unique("link")),
    );
    alice
        .post(&p, "/v1/me/pin", &json!({"pin": "482913"}))
        .want(200);
    let w = pay(
        &p,
        &x,
        &unique("pay"),
        &pay_body(&alice, &mandate, &shop, "Summit boots", 1, 69_900),
    )
    .want(201);
    assert_eq!(w["status"], "needs_confirmation", "{w}");
    let id = w["id"].as_str().unwrap().to_string();
    let url = w["confirmation"]["url"].as_str().unwrap();
    let link = url[url.find("/confirm/").unwrap()..].to_string();
    let available = alice.available(&p);

    alice
        .post(&p, &format!("/v1/mandates/{mandate}/revoke"), &json!({}))
        .want(200);
    // The link no longer approves anything, with the right PIN.
    let r = agent()
        .post(&format!("{}{link}", p.base))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string("pin=482913&action=approve");
    let r = into_resp(r, "approve after revoke");
    assert!(r.status >= 400, "{} {}", r.status, r.text);
    assert!(r.text.starts_with("<!doctype html>"), "{}", r.text);
    let seen = x
        .call(&p, "GET", &format!("/v1/agent/payments/{id}"), None)
        .want(200);
    assert_ne!(seen["status"], "approved", "{seen}");
    assert!(seen["credential"]["token"].is_null(), "{seen}");
    assert!(alice.available(&p) >= available, "no money left the wallet");
});

// ---- secrets ---------------------------------------------------------------------------

/// Whether `needle` occurs in `hay` as a whole (not inside a longer run of letters/digits).
fn occurs(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().last();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

both!(a_whole_flow_leaves_no_secret_in_log_or_refusal, |storage| {
    let dir = TempDir::new("hostile-log");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let mut s = start_logged(&data, &storage, &log);
    let mut secrets: Vec<(String, String)> = vec![("operator token".into(), s.token.clone())];
    // A user made by hand, to see the setup token.
    let u = op(&s, "POST", "/v1/users", Some(&json!({"name": "Alice"}))).want(201);
    let setup = u["setup_token"].as_str().unwrap().to_string();
    let t = call(
        &s,
        "POST",
        "/v1/setup",
        None,
        &[],
        Some(&json!({"setup_token": setup})),
    )
    .want(201);
    let alice = Person {
        id: u["id"].as_str().unwrap().to_string(),
        name: "Alice".into(),
        token: t["token"]["token"].as_str().unwrap().to_string(),
        token_id: t["token"]["id"].as_str().unwrap().to_string(),
    };
    secrets.push(("setup token".into(), setup));
    secrets.push(("API token".into(), alice.token.clone()));
    let second = alice.token_with(&s, &["wallet:read"]);
    secrets.push(("second API token".into(), second.token.clone()));
    let card = alice.add_card(&s, VISA_OK, "123");
    alice
        .top_up(&s, card["id"].as_str().unwrap(), 500_000)
        .want(201);
    secrets.push(("card number".into(), VISA_OK.into()));
    let pin = "582914";
    alice.post(&s, "/v1/me/pin", &json!({"pin": pin})).want(200);
    secrets.push(("PIN".into(), pin.into()));
    let (x, binding) = bound_agent(&s, &alice, &alice);
    let hook = x
        .call(
            &s,
            "POST",
            "/v1/agent/webhook",
            Some(&json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .want(201);
    let hook_secret = hook["secret"].as_str().unwrap();
    secrets.push(("agent webhook secret".into(), hook_secret.to_string()));
    let website = format!("{}.example", unique("log"));
    let m = op(
        &s,
        "POST",
        "/v1/merchants",
        Some(&json!({"name": "Trail Outfitters", "website": website, "country": "CN", "category": "5661", "webhook_url": "http://127.0.0.1:9/m"})),
    )
    .want(201);
    let shop = crate::payments::Merchant {
        id: m["merchant"]["id"].as_str().unwrap().to_string(),
        key: m["api_key"].as_str().unwrap().to_string(),
        website,
    };
    secrets.push(("merchant key".into(), shop.key.clone()));
    secrets.push((
        "merchant webhook secret".into(),
        m["webhook_secret"].as_str().unwrap().to_string(),
    ));
    let acp = alice
        .post(&s, &format!("/v1/bindings/{binding}/acp-keys"), &json!({}))
        .want(201);
    secrets.push(("ACP key".into(), acp["key"].as_str().unwrap().to_string()));
    let mandate = give_mandate(&s, &alice, &x, &boots_mandate());
    // Paid at once: a credential, captured.
    let a = pay(
        &s,
        &x,
        &unique("pay"),
        &pay_body(&alice, &mandate, &shop, "Boots", 1, 39_900),
    )
    .want(201);
    let credential = a["credential"]["token"].as_str().unwrap().to_string();
    secrets.push(("payment credential".into(), credential.clone()));
    // A refusal never echoes a secret it was given: a credential one character off, a token
    // one character off.
    let mut forged = credential.clone();
    forged.pop();
    forged.push(if credential.ends_with('a') { 'b' } else { 'a' });
    let r = shop.capture(&s, &forged, 100);
    assert!(
        r.status >= 400 && !r.text.contains(&forged[4..]),
        "{}",
        r.text
    );
    let mut wrong = alice.token.clone();
    wrong.pop();
    wrong.push(if alice.token.ends_with('a') { 'b' } else { 'a' });
    let r = call(&s, "GET", "/v1/wallet", Some(&wrong), &[], None);
    assert!(
        r.status == 401 && !r.text.contains(&wrong[4..]),
        "{}",
        r.text
    );
    shop.capture(&s, &credential, 39_900).want(200);
    // Asked first: approved through the link with the PIN (after one wrong PIN).
    let w = pay(
        &s,
        &x,
        &unique("pay"),
        &pay_body(&alice, &mandate, &shop, "Boots", 1, 69_900),
    )
    .want(201);
    let url = w["confirmation"]["url"].as_str().unwrap();
    let link = url[url.find("/confirm/").unwrap()..].to_string();
    let token = link.trim_start_matches("/confirm/").to_string();
    secrets.push(("confirmation token".into(), token));
    for form in [
        "pin=000000&action=approve",
        &format!("pin={pin}&action=approve"),
    ] {
        // As a browser posts it: with the page's CSRF cookie and field.
        let r = crate::pins::form_post(&s, &link, form);
        assert!(!occurs(&r.text, pin), "the page shows the PIN");
    }
    let seen = x
        .call(
            &s,
            "GET",
            &format!("/v1/agent/payments/{}", w["id"].as_str().unwrap()),
            None,
        )
        .want(200);
    assert_eq!(seen["status"], "approved", "{seen}");
    if let Some(c) = seen["credential"]["token"].as_str() {
        secrets.push(("second credential".into(), c.to_string()));
    }
    s.terminate();
    let logs = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    // Positive controls: the log has the requests themselves.
    for route in [
        "/v1/merchant/captures",
        "/confirm/:token",
        "/v1/agent/payments",
    ] {
        assert!(logs.contains(route), "the log records {route}");
    }
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what}: {secret}");
        assert!(!occurs(&logs, secret), "the {what} is in the server log");
        // Without its prefix too (pst_…, psk_…).
        if let Some((_, rest)) = secret.split_once('_') {
            if rest.len() >= 16 {
                assert!(!logs.contains(rest), "the {what} is in the server log");
            }
        }
    }
});

/// Every `==` / `!=` in the product's source whose line names a secret (token, key, MAC,
/// signature, PIN, credential, hash of one), outside tests, must be on this list with the
/// reason it compares nothing secret. Secrets are compared with `constant_time_eq`, an XOR
/// fold, or `hmac::verify`; a new `==` on one fails here.
#[test]
fn secrets_are_compared_in_constant_time() {
    const NOT_SECRET: &[(&str, &str, &str)] = &[
        (
            "purser-server/src/web/passkeys.rs",
            "|p| p == \"signin\"",
            "the ceremony's purpose name",
        ),
        (
            "purser-store/src/journal_excerpt.rs",
            "GENESIS_HASH",
            "a sequence number",
        ),
        (
            "purser-merchant/src/checkout.rs",
            "o.kind != \"shipping\"",
            "shipping option kind",
        ),
        (
            "purser-merchant/src/checkout.rs",
            "code == \"credential_used\"",
            "an error code",
        ),
        (
            "purser-merchant/src/store.rs",
            "h != request_hash",
            "idempotency: hash of the request body the caller sent",
        ),
        (
            "purser-merchant/src/session.rs",
            "o.id == id",
            "shipping option id",
        ),
        (
            "purser-ap2/src/chain.rs",
            "want != nonce",
            "a public nonce in a presented chain",
        ),
        (
            "purser-ap2/src/chain.rs",
            "Some(want.as_str())",
            "a public nonce in a presented chain",
        ),
        (
            "purser-ap2/src/constraints.rs",
            "h == id",
            "public checkout hashes",
        ),
        (
            "purser-ap2/src/checkout.rs",
            "claimed != hash",
            "public checkout hash",
        ),
        (
            "purser/src/pin_cmd.rs",
            "[\"pin_set\"] == true",
            "a status flag",
        ),
        (
            "purser-wallet/src/merchants.rs",
            "r.text(1)? != \"active\"",
            "a status (the key hash is compared with constant_time_eq)",
        ),
        (
            "purser-wallet/src/x402.rs",
            "b.status != \"approved\"",
            "a status",
        ),
        (
            "purser-wallet/src/x402.rs",
            "scheme::item_id(&r.scheme, &a.nonce)",
            "a public payment nonce",
        ),
        (
            "purser-wallet/src/access.rs",
            "id.len() == 24",
            "a length check",
        ),
        (
            "purser-wallet/src/mandates.rs",
            "rec.content_hash != content_hash",
            "the public hash of the mandate the person consents to",
        ),
        (
            "purser-wallet/src/mandates.rs",
            "r.text(0)? != mandate_id",
            "idempotency: mandate id and request hash",
        ),
        (
            "purser-wallet/src/payments/redeem.rs",
            "p.merchant_id == m.merchant_id",
            "ids",
        ),
        (
            "purser-wallet/src/payments/views.rs",
            "viewer == Viewer::Agent",
            "who is looking",
        ),
        (
            "purser-wallet/src/evidence/verify/ledger.rs",
            "!= hash",
            "public journal hashes",
        ),
        (
            "purser-wallet/src/evidence/verify/ledger.rs",
            "h != prev_hash",
            "public journal hashes",
        ),
        (
            "purser-wallet/src/evidence/verify/ledger.rs",
            "!= head_hash",
            "public journal hashes",
        ),
        (
            "purser-wallet/src/evidence/verify/authorization.rs",
            "!= hash",
            "public evidence hashes",
        ),
        (
            "purser-wallet/src/evidence/verify/request.rs",
            "cart_hash",
            "public cart hash",
        ),
        (
            "purser-core/src/ledger/verify.rs",
            "expected.as_slice() != row.hash",
            "public journal hashes",
        ),
        (
            "purser-core/src/ledger/verify.rs",
            "last_seq == 0",
            "a sequence number",
        ),
        (
            "purser-core/src/ledger/verify.rs",
            "*b == 0",
            "public journal hashes",
        ),
        (
            "purser-core/src/ledger/verify.rs",
            "self.prev_hash.as_slice()",
            "public journal hashes",
        ),
        (
            "purser-core/src/ledger/verify.rs",
            "head.seq != last_seq",
            "public journal hashes",
        ),
        ("purser-core/src/webhook.rs", "MAX_SIGNATURES", "a count"),
        (
            "purser-core/src/httpsig/verify.rs",
            "\"signature-agent\"",
            "a header name",
        ),
        (
            "purser-core/src/httpsig/sfv.rs",
            "c == b'*'",
            "a parser character",
        ),
    ];
    let words = [
        "token",
        "secret",
        "hmac",
        "_mac",
        "pin",
        "phc",
        "credential",
        "api_key",
        "signature",
        "password",
        "nonce",
        "hash",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().map_while(Result::ok) {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["tests", "target", "benches", "fuzz"].contains(&name.as_str()) {
                    todo.push(path);
                }
            } else if name.ends_with(".rs") && path.to_string_lossy().contains("/src/") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 50, "{files:?}");
    let mut found = Vec::new();
    let mut used = vec![false; NOT_SECRET.len()];
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        // The benchmark's load generator holds no secret of anybody's.
        if rel.starts_with("purser-bench/") || rel.contains("/tests/") || rel.ends_with("/tests.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("#[cfg(test)]") {
                break;
            }
            let l = line.trim_start().to_ascii_lowercase();
            if l.starts_with("//") || !(l.contains("==") || l.contains("!=")) {
                continue;
            }
            if !words.iter().any(|w| l.contains(w)) {
                continue;
            }
            match NOT_SECRET
                .iter()
                .position(|(file, snippet, _)| rel.ends_with(file) && line.contains(snippet))
            {
                Some(i) => used[i] = true,
                None => found.push(format!("{rel}:{}: {}", n + 1, line.trim())),
            }
        }
    }
    assert!(
        found.is_empty(),
        "compare secrets with a constant-time function (purser_wallet::ids::constant_time_eq, an XOR fold, hmac::verify), or add the line to NOT_SECRET with why it is not secret:\n{}",
        found.join("\n")
    );
    // The constant-time helpers themselves are in place.
    let ids = std::fs::read_to_string(root.join("purser-wallet/src/ids.rs")).unwrap();
    assert!(ids.contains("fold(0u8, |acc, (x, y)| acc | (x ^ y))"));
    let webhook = std::fs::read_to_string(root.join("purser-core/src/webhook.rs")).unwrap();
    assert!(webhook.contains("hmac::verify(&key, &msg, sig)"));
    let stale: Vec<_> = NOT_SECRET
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(e, _)| e)
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_SECRET entries that match nothing any more: {stale:?}"
    );
}
