//! MCP with the real binary: `purser mcp` on stdio (JSON-RPC lines, each tool call a signed
//! REST request to `purser serve`), and `/mcp` in `purser serve` (each HTTP request signed by
//! the agent). Both run the same checks as REST — the tests look at the results through the
//! owner's REST API and the ledger. Then the official Python MCP SDK (PyPI `mcp`) drives both
//! transports through interop/mcp_client.py. SQLite and PostgreSQL.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use crate::both;
use crate::payments::{boots_mandate, give_mandate, register_merchant, Merchant};
use crate::people::{bound_agent, cny, signed_call_with, unique, Person, Resp, TestAgent};
use crate::support::{bin, start, verify, Purser, Storage, TempDir};

/// A funded user, a bound agent with the boots mandate (at most ¥800 a payment, ¥2,000 in
/// all, paid without asking up to ¥500), and a merchant.
struct Shop {
    p: Purser,
    user: Person,
    agent: TestAgent,
    binding: String,
    mandate: String,
    merchant: Merchant,
    dir: TempDir,
}

fn shop(storage: &Storage, funds: i64) -> Shop {
    let dir = TempDir::new("mcp");
    let p = start(dir.path(), storage);
    let user = Person::new(&p, "Alice");
    user.funded(&p, funds);
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
        dir,
    }
}

/// The agent's private JWK in a file only its owner can read (the SDK refuses others).
fn key_file(dir: &Path, s: &Shop) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("agent.jwk");
    let jwk = s.agent.key.to_private_jwk().expect("private jwk");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .expect("key file");
    f.write_all(jwk.as_bytes()).expect("write key");
    path
}

fn pay_args(s: &Shop, mandate: &str, minor: i64, title: &str) -> Value {
    json!({
        "user_id": s.user.id,
        "mandate_id": mandate,
        "task_id": "task-mcp",
        "merchant": {"id": s.merchant.id},
        "items": [{"title": title, "quantity": 1, "unit_price": cny(minor)}],
        "total": cny(minor),
    })
}

/// A tool result: (is_error, the sentence, the JSON).
fn result(r: &Value) -> (bool, String, Value) {
    let c = &r["result"]["content"];
    let words = c[0]["text"].as_str().unwrap_or_default().to_string();
    let data = c[1]["text"]
        .as_str()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    (r["result"]["isError"] == true, words, data)
}

fn error_code(r: &Value) -> String {
    let (is_error, words, data) = result(r);
    assert!(is_error, "not a tool error: {r}");
    assert!(words.starts_with("Purser refused ("), "{words}");
    data["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---- stdio ---------------------------------------------------------------------------

struct Stdio_ {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Stdio_ {
    fn start(key: &Path, server: &str) -> Stdio_ {
        Stdio_::start_with(key, server, &[])
    }

    fn start_with(key: &Path, server: &str, extra: &[&str]) -> Stdio_ {
        let mut child = Command::new(bin())
            .args(["mcp", "--key"])
            .arg(key)
            .args(["--server", server])
            .args(extra)
            .env("PURSER_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn purser mcp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut s = Stdio_ {
            child,
            stdin,
            stdout,
            next: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "purser-it", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "purser", "{init}");
        assert!(
            init["result"]["capabilities"]["tools"].is_object(),
            "{init}"
        );
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: &Value) {
        writeln!(self.stdin, "{v}").expect("write to purser mcp");
        self.stdin.flush().expect("flush");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read purser mcp");
            assert!(n > 0, "purser mcp closed stdout");
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC on stdout ({e}): {line}"));
            if v["id"] == id {
                return v;
            }
        }
    }

    fn tool(&mut self, name: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": args}))
    }
}

impl Drop for Stdio_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

both!(stdio_tools_run_the_rest_checks, |storage| {
    let s = shop(&storage, 500_000);
    let p = &s.p;
    let dir = TempDir::new("mcp-stdio");
    let key = key_file(dir.path(), &s);
    let mut m = Stdio_::start(&key, &p.base);

    let tools = m.request("tools/list", json!({}));
    let mut names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "get_payment",
            "list_mandates",
            "list_payments",
            "pay_http_402_resource",
            "request_payment",
            "simulate_purchase",
            "wait_for_confirmation",
            "whoami"
        ]
    );

    // Mandates as the agent sees them: the one the user gave, with what is left.
    let (err, words, v) = result(&m.tool("list_mandates", json!({"user_id": s.user.id})));
    assert!(!err, "{words}");
    assert_eq!(v["data"][0]["id"], s.mandate.as_str(), "{v}");
    assert_eq!(
        v["data"][0]["usage"]["remaining_budget"]["amount"], 200_000,
        "{v}"
    );

    // Approved: a real hold, seen by the owner over REST.
    let (err, words, a) = result(&m.tool(
        "request_payment",
        pay_args(&s, &s.mandate, 39_900, "Trail boots"),
    ));
    assert!(!err, "{words}");
    assert_eq!(a["status"], "approved", "{a}");
    assert!(words.starts_with("Approved: ¥399.00"), "{words}");
    let token = a["credential"]["token"].as_str().expect("credential");
    assert!(words.contains(token), "{words}");
    let owner = s.user.get(
        p,
        &format!("/v1/payments/{}", a["id"].as_str().unwrap_or_default()),
    );
    assert_eq!(owner.want(200)["status"], "approved");
    assert_eq!(s.user.available(p), 500_000 - 39_900);
    // The same call again replays the decision: no second hold.
    let (_, _, again) = result(&m.tool(
        "request_payment",
        pay_args(&s, &s.mandate, 39_900, "Trail boots"),
    ));
    assert_eq!(again["id"], a["id"], "{again}");
    assert_eq!(s.user.available(p), 500_000 - 39_900);

    // Above the mandate: declined with the mandate's sentence, nothing held.
    let (err, words, d) = result(&m.tool(
        "request_payment",
        pay_args(&s, &s.mandate, 90_000, "Luxury boots"),
    ));
    assert!(!err, "{words}");
    assert_eq!(d["status"], "declined", "{d}");
    assert!(words.starts_with("Declined ("), "{words}");
    assert_eq!(s.user.available(p), 500_000 - 39_900);

    // The simulation agrees, and charges nothing.
    let (err, words, sim) = result(&m.tool(
        "simulate_purchase",
        json!({"mandate_id": s.mandate, "total": cny(90_000), "items": [{"title": "Luxury boots", "quantity": 1}]}),
    ));
    assert!(!err, "{words}");
    assert_eq!(sim["outcome"], "declined", "{sim}");
    assert!(words.starts_with("Declined by mandate"), "{words}");

    // Needs confirmation above ¥500: the link, and a bounded wait.
    let (_, words, c) = result(&m.tool(
        "request_payment",
        pay_args(&s, &s.mandate, 60_000, "Winter boots"),
    ));
    assert_eq!(c["status"], "needs_confirmation", "{c}");
    let url = c["confirmation"]["url"].as_str().expect("url");
    assert!(words.contains(url), "{words}");
    let started = std::time::Instant::now();
    let (_, words, w) = result(&m.tool(
        "wait_for_confirmation",
        json!({"payment_id": c["id"], "timeout_seconds": 1}),
    ));
    assert_eq!(w["status"], "needs_confirmation", "{w}");
    assert!(words.contains("Still waiting"), "{words}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // Spending: the agent's own record with totals.
    let (_, words, l) = result(&m.tool("list_payments", json!({"task_id": "task-mcp"})));
    assert_eq!(l["data"].as_array().map(Vec::len), Some(3), "{l}");
    let held = l["totals"][0]["held"]["amount"].as_i64();
    assert_eq!(held, Some(39_900 + 60_000), "{l}");
    assert!(words.starts_with("3 payments"), "{words}");

    // Errors: Purser's code, as tool errors.
    let stranger = Person::new(p, "Stranger");
    assert_eq!(
        error_code(&m.tool("list_mandates", json!({"user_id": stranger.id}))),
        "agent_not_bound"
    );
    let mut not_bound = pay_args(&s, &s.mandate, 100, "x");
    not_bound["user_id"] = json!(stranger.id);
    assert_eq!(
        error_code(&m.tool("request_payment", not_bound)),
        "agent_not_bound"
    );
    assert_eq!(
        error_code(&m.tool(
            "simulate_purchase",
            json!({"mandate_id": format!("mdt_{}", "a".repeat(24)), "total": cny(100)})
        )),
        "mandate_not_found"
    );
    let mut bad = pay_args(&s, &s.mandate, 100, "x");
    bad["total"] = json!({"amount": "1.00", "currency": "CNY"});
    assert_eq!(
        error_code(&m.tool("request_payment", bad)),
        "invalid_arguments"
    );
    let (_, _, e) = result(&m.tool("get_payment", json!({})));
    assert_eq!(e["error"]["param"], "payment_id", "{e}");
    // An unknown tool is a protocol error.
    let r = m.tool("pay_everything", json!({}));
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // Freeze: from the next call a payment is declined agent_frozen (as over REST) and what
    // needs the binding is refused.
    s.user
        .post(p, &format!("/v1/bindings/{}/freeze", s.binding), &json!({}))
        .want(200);
    let (_, words, f) =
        result(&m.tool("request_payment", pay_args(&s, &s.mandate, 1_000, "Socks")));
    assert_eq!(f["decline"]["code"], "agent_frozen", "{f}");
    assert!(words.starts_with("Declined (agent_frozen)"), "{words}");
    assert_eq!(
        error_code(&m.tool("list_mandates", json!({"user_id": s.user.id}))),
        "agent_frozen"
    );
    drop(m);
    let (code, out, err) = verify(s.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

both!(
    stdio_pays_http_402_resources_within_the_mandate,
    |storage| {
        let s = shop(&storage, 500_000);
        let p = &s.p;
        let dir = TempDir::new("mcp-402");
        let key = key_file(dir.path(), &s);
        let svc = crate::x402::service(&p.base, &s.merchant.key);
        // By default only public resources are called: this one is on loopback.
        let mut m = Stdio_::start(&key, &p.base);
        let weather = json!({"url": format!("{}/weather", svc.base), "user_id": s.user.id,
            "mandate_id": s.mandate, "task_id": "t", "max": cny(1_000)});
        let refused = m.tool("pay_http_402_resource", weather);
        assert_eq!(error_code(&refused), "resource_address_private");
        let (_, words, _) = result(&refused);
        assert!(
            words.contains("127.0.0.1") && words.contains("--allow-private-resources"),
            "{words}"
        );
        drop(m);
        let mut m = Stdio_::start_with(&key, &p.base, &["--allow-private-resources"]);
        let args = |path: &str, max: i64| {
            json!({
                "url": format!("{}{path}", svc.base),
                "user_id": s.user.id,
                "mandate_id": s.mandate,
                "task_id": "task-mcp-402",
                "max": cny(max),
            })
        };

        // Paid: ¥1.50 under the mandate, the resource's body, and a real capture to the merchant.
        let (err, words, v) = result(&m.tool("pay_http_402_resource", args("/weather", 1_000)));
        assert!(!err, "{words}");
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["body"], "sunny (paid 150 CNY)", "{v}");
        assert_eq!(v["paid"]["charged"]["amount"], 150, "{v}");
        assert!(
            words.starts_with("Paid ¥1.50 (Purser payment pay_"),
            "{words}"
        );
        let id = v["paid"]["payment_id"].as_str().expect("payment id");
        let owner = s.user.get(p, &format!("/v1/payments/{id}"));
        assert_eq!(owner.want(200)["status"], "captured");
        assert_eq!(s.user.available(p), 500_000 - 150);
        assert_eq!(svc.runs.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Above the caller's own max: refused before Purser is asked; nothing held or run.
        assert_eq!(
            error_code(&m.tool("pay_http_402_resource", args("/weather", 100))),
            "x402_above_maximum"
        );
        // Above the mandate (¥900 > ¥800 a payment): Purser declines, the resource never runs.
        assert_eq!(
            error_code(&m.tool("pay_http_402_resource", args("/report", 100_000))),
            "above_maximum"
        );
        // Above the auto-pay threshold: not paid automatically.
        assert_eq!(
            error_code(&m.tool("pay_http_402_resource", args("/premium", 100_000))),
            "x402_needs_confirmation"
        );
        assert_eq!(svc.runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(s.user.available(p), 500_000 - 150 - 60_000);

        // Bad arguments say which one.
        let mut bad = args("/weather", 1_000);
        bad["method"] = json!("DELETE");
        let (_, _, e) = result(&m.tool("pay_http_402_resource", bad));
        assert_eq!(e["error"]["param"], "method", "{e}");
        let mut bad = args("/weather", 1_000);
        bad["url"] = json!("file:///etc/passwd");
        let (_, _, e) = result(&m.tool("pay_http_402_resource", bad));
        assert_eq!(e["error"]["code"], "url_invalid", "{e}");
        drop(m);
        let (code, out, err) = verify(s.dir.path(), &storage);
        assert_eq!(code, 0, "{out}{err}");
    }
);

// ---- streamable HTTP ---------------------------------------------------------------

const ACCEPT: (&str, &str) = ("Accept", "application/json, text/event-stream");

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn http_tool(s: &Shop, name: &str, args: Value) -> Value {
    let r = signed_call_with(
        &s.p,
        &s.agent.key,
        "POST",
        "/mcp",
        Some(&rpc(
            7,
            "tools/call",
            json!({"name": name, "arguments": args}),
        )),
        &[ACCEPT, ("MCP-Protocol-Version", "2025-06-18")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

both!(http_requests_are_signed_agent_requests, |storage| {
    let s = shop(&storage, 500_000);
    let p = &s.p;

    // Unsigned: refused before MCP reads anything, in Purser's error shape.
    let unsigned: Resp = crate::people::send(
        p,
        "POST",
        "/mcp",
        None,
        &[ACCEPT],
        Some(rpc(1, "tools/list", json!({})).to_string().as_bytes()),
    );
    unsigned.refused(401, "signature_missing");
    // GET (a server-sent stream) does not exist in this stateless server.
    let get = signed_call_with(p, &s.agent.key, "GET", "/mcp", None, &[ACCEPT]);
    get.refused(405, "method_not_allowed");

    let init = signed_call_with(
        p,
        &s.agent.key,
        "POST",
        "/mcp",
        Some(&rpc(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "purser-it", "version": "1"}}),
        )),
        &[ACCEPT],
    );
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(init.body["result"]["serverInfo"]["name"], "purser");
    assert!(
        init.header("mcp-session-id").is_none(),
        "stateless: no session"
    );

    let (err, words, a) = result(&http_tool(
        &s,
        "request_payment",
        pay_args(&s, &s.mandate, 39_900, "Trail boots"),
    ));
    assert!(!err, "{words}");
    assert_eq!(a["status"], "approved", "{a}");
    assert_eq!(a["agent_id"], s.agent.id.as_str());
    let owner = s
        .user
        .get(
            p,
            &format!("/v1/payments/{}", a["id"].as_str().unwrap_or_default()),
        )
        .want(200);
    assert_eq!(owner["status"], "approved");
    assert_eq!(s.user.available(p), 500_000 - 39_900);

    // Its evidence verifies offline: the agent's signature over the JSON-RPC message, whose
    // request_payment arguments are the payment.
    let id = a["id"].as_str().unwrap_or_default();
    let bundle = s
        .user
        .get(p, &format!("/v1/payments/{id}/evidence"))
        .want(200);
    assert_eq!(bundle["request"]["path"], "/mcp", "{}", bundle["request"]);
    let jwks = s.user.get(p, "/.well-known/jwks.json").want(200);
    let file = s.dir.path().join("mcp-evidence.json");
    let keys = s.dir.path().join("jwks.json");
    std::fs::write(&file, bundle.to_string()).expect("write bundle");
    std::fs::write(&keys, jwks.to_string()).expect("write keys");
    let (code, out, err) = crate::evidence::cli(&[
        "evidence",
        "verify",
        file.to_str().unwrap_or_default(),
        "--keys",
        keys.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("tools/call of request_payment"), "{out}");
    // Another amount in the recorded message: the agent's digest no longer matches.
    let mut forged = bundle.clone();
    let body = forged["request"]["body"].as_str().unwrap_or_default();
    assert!(body.contains("39900"), "{body}");
    forged["request"]["body"] = json!(body.replace("39900", "39901"));
    std::fs::write(&file, forged.to_string()).expect("write forged");
    let (code, out, _) =
        crate::evidence::cli(&["evidence", "verify", file.to_str().unwrap_or_default()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("body_digest_mismatch"), "{out}");

    let (err, _, sim) = result(&http_tool(
        &s,
        "simulate_purchase",
        json!({"mandate_id": s.mandate, "total": cny(30_000)}),
    ));
    assert!(!err);
    assert_eq!(sim["outcome"], "allowed", "{sim}");
    let (_, _, l) = result(&http_tool(&s, "list_payments", json!({"limit": 5})));
    assert_eq!(l["data"][0]["id"], a["id"], "{l}");

    // Another registered agent, not bound to this user: its own identity, refused.
    let dev = Person::new(p, "Other developer");
    let other = crate::people::register_agent(p, &dev, &unique("other"));
    let r = signed_call_with(
        p,
        &other.key,
        "POST",
        "/mcp",
        Some(&rpc(
            2,
            "tools/call",
            json!({"name": "request_payment", "arguments": pay_args(&s, &s.mandate, 100, "x")}),
        )),
        &[ACCEPT, ("MCP-Protocol-Version", "2025-06-18")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(error_code(&r.body), "agent_not_bound");
    let r = signed_call_with(
        p,
        &other.key,
        "POST",
        "/mcp",
        Some(&rpc(
            3,
            "tools/call",
            json!({"name": "get_payment", "arguments": {"payment_id": a["id"]}}),
        )),
        &[ACCEPT, ("MCP-Protocol-Version", "2025-06-18")],
    );
    assert_eq!(error_code(&r.body), "payment_not_found");

    // Freeze: from the next request a payment is declined agent_frozen (as over REST) and
    // what needs the binding is refused.
    s.user
        .post(p, &format!("/v1/bindings/{}/freeze", s.binding), &json!({}))
        .want(200);
    let (_, _, f) = result(&http_tool(
        &s,
        "request_payment",
        pay_args(&s, &s.mandate, 1_000, "Socks"),
    ));
    assert_eq!(f["decline"]["code"], "agent_frozen", "{f}");
    assert_eq!(
        error_code(&http_tool(
            &s,
            "simulate_purchase",
            json!({"mandate_id": s.mandate, "total": cny(1_000)})
        )),
        "agent_frozen"
    );
    let (code, out, err) = verify(s.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});

both!(http_transport_refusals_are_json_errors, |storage| {
    let s = shop(&storage, 10_000);
    let p = &s.p;
    let list = rpc(1, "tools/list", json!({}));

    // Signed, but the Accept header lacks text/event-stream (or is ureq's default `*/*`):
    // 406 in Purser's shape, naming the header to send.
    for accept in [
        [("Accept", "application/json")],
        [("X-Nothing", "no Accept of our own")],
    ] {
        let r = signed_call_with(p, &s.agent.key, "POST", "/mcp", Some(&list), &accept);
        r.refused(406, "not_acceptable");
        assert_eq!(r.body["type"], "invalid_request", "{}", r.text);
        assert_eq!(r.body["param"], "Accept", "{}", r.text);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("Accept: application/json, text/event-stream"),
            "{message}"
        );
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            r.headers
        );
    }

    // An MCP-Protocol-Version this server does not speak: 400, with the versions it does.
    let r = signed_call_with(
        p,
        &s.agent.key,
        "POST",
        "/mcp",
        Some(&list),
        &[ACCEPT, ("MCP-Protocol-Version", "1999-01-01")],
    );
    r.refused(400, "mcp_protocol_version_unsupported");
    assert!(r.text.contains("2025-06-18"), "{}", r.text);

    // Signed JSON that is not a JSON-RPC message: 400 invalid_json, its values not echoed.
    let r = signed_call_with(
        p,
        &s.agent.key,
        "POST",
        "/mcp",
        Some(&json!({"card": 4242424242424242u64, "note": "4111111111111111"})),
        &[ACCEPT],
    );
    r.refused(400, "invalid_json");
    assert!(
        !r.text.contains("4242424242") && !r.text.contains("4111111111"),
        "{}",
        r.text
    );

    // With the header MCP clients send, the same signed request is answered.
    let r = signed_call_with(p, &s.agent.key, "POST", "/mcp", Some(&list), &[ACCEPT]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["result"]["tools"].is_array(), "{}", r.text);
});

// ---- the official Python MCP SDK ---------------------------------------------------

both!(python_mcp_client_over_stdio_and_http, |storage| {
    let Some(python) = crate::signatures::interop_python() else {
        return;
    };
    let s = shop(&storage, 500_000);
    let p = &s.p;
    let dir = TempDir::new("mcp-python");
    let key = key_file(dir.path(), &s);
    let stranger = Person::new(p, "Stranger");
    for transport in ["stdio", "http"] {
        let scenario = json!({
            "user_id": s.user.id, "mandate_id": s.mandate, "merchant_id": s.merchant.id,
            "stranger_id": stranger.id, "task_id": format!("task-{transport}"),
        });
        let out = Command::new(&python)
            .arg(crate::signatures::interop_script("mcp_client.py"))
            .args(["--transport", transport, "--purser", bin(), "--key"])
            .arg(&key)
            .args(["--server", &p.base])
            .arg(scenario.to_string())
            .env("PURSER_LOG", "warn")
            .output()
            .expect("run mcp_client.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "mcp_client.py ({transport}) printed no report ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let failed: Vec<&Value> = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c[1] != true)
            .collect();
        assert!(
            failed.is_empty() && out.status.success(),
            "{transport}: {failed:#?}"
        );
        assert!(report["checks"].as_array().map_or(0, Vec::len) >= 25);
        // What the Python client was told is what Purser holds.
        for (which, status) in [
            ("approved", "approved"),
            ("declined", "declined"),
            ("needs_confirmation", "needs_confirmation"),
        ] {
            let id = report["payments"][which].as_str().expect(which);
            let v = s.user.get(p, &format!("/v1/payments/{id}")).want(200);
            assert_eq!(v["status"], status, "{transport} {which}: {v}");
        }
    }
    let (code, out, err) = verify(s.dir.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
});
