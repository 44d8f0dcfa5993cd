//! People, tokens and agents for the wallet tests, on top of support.rs.
//!
//! - [`call`] sends any request (any bearer token, any headers, a JSON body) and returns a
//!   [`Resp`] with status, JSON body, raw text and headers.
//! - [`Person::new`] makes a user the way a real one is made: the operator creates it
//!   (`POST /v1/users`) and the person exchanges the setup token (`POST /v1/setup`) for an API
//!   token holding every scope. `Person` methods send requests with that token.
//! - [`register_agent`] registers an agent (with a fresh Ed25519 key) under a developer;
//!   [`TestAgent::call`] / [`signed_call`] send requests signed as the agent (RFC 9421, Web Bot
//!   Auth profile); [`bound_agent`] gives a user an agent they approved.
//! - [`LoggedServer`] runs `purser serve` with every log line kept in a file, for tests that
//!   read the logs. All helpers take `&dyn Server`, so they work with it and with
//!   `support::Purser` alike.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use purser_core::httpsig::{sign_request, Ed25519KeyPair, RequestParts, SignParams};
use serde_json::{json, Value};

use crate::support::{agent, bin, Purser, Storage};

/// The CNY amounts the tests move, as the API writes money.
pub fn cny(minor: i64) -> Value {
    json!({"amount": minor, "currency": "CNY"})
}

/// A value unique within this test run (idempotency keys, nonces, names).
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

// ---- requests ------------------------------------------------------------------------

/// A running Purser the helpers can talk to.
pub trait Server {
    /// `http://127.0.0.1:PORT`
    fn base(&self) -> &str;
    fn operator_token(&self) -> &str;
}

/// A request with the operator token.
pub fn op(p: &dyn Server, method: &str, path: &str, body: Option<&Value>) -> Resp {
    call(p, method, path, Some(p.operator_token()), &[], body)
}

impl Server for Purser {
    fn base(&self) -> &str {
        &self.base
    }
    fn operator_token(&self) -> &str {
        &self.token
    }
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    /// The body as JSON; `Null` when it is not JSON.
    pub body: Value,
    /// The body exactly as received.
    pub text: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a replay of an earlier answer under the same Idempotency-Key.
    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }

    /// The error code, `""` when there is none.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The body, after checking the status.
    #[track_caller]
    pub fn want(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self.body
    }

    /// Check an error answer: status, code, and a message for a person.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.text
        );
        assert!(
            self.body["message"].as_str().unwrap_or_default().len() > 10,
            "a message a person can act on: {}",
            self.text
        );
    }
}

pub fn into_resp(r: Result<ureq::Response, ureq::Error>, what: &str) -> Resp {
    match try_into_resp(r) {
        Ok(r) => r,
        Err(e) => panic!("{what}: transport error {e}"),
    }
}

/// An answer, or the transport error when there was none (the server is gone).
pub fn try_into_resp(r: Result<ureq::Response, ureq::Error>) -> Result<Resp, String> {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.status();
    // Every value of a repeated header (several `Set-Cookie`s), each once.
    let mut names = resp.headers_names();
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let mut headers = Vec::new();
    for n in names {
        if headers
            .iter()
            .any(|(seen, _): &(String, String)| seen.eq_ignore_ascii_case(&n))
        {
            continue;
        }
        for v in resp.all(&n) {
            headers.push((n.to_ascii_lowercase(), v.to_string()));
        }
    }
    let text = resp.into_string().map_err(|e| e.to_string())?;
    Ok(Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    })
}

/// Send `method path` with an optional bearer token, extra headers and a JSON body.
pub fn call(
    p: &dyn Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let body = body.map(|b| b.to_string().into_bytes());
    send(p, method, path, token, headers, body.as_deref())
}

/// [`call`] with the body as exact bytes (sent as application/json).
pub fn send(
    p: &dyn Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    match try_send(p, method, path, token, headers, body) {
        Ok(r) => r,
        Err(e) => panic!("{method} {path}: transport error {e}"),
    }
}

/// [`send`] that says when no answer came (the server is gone) instead of panicking.
pub fn try_send(
    p: &dyn Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Resp, String> {
    let mut req = agent().request(method, &format!("{}{path}", p.base()));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let r = match body {
        Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
        None => req.call(),
    };
    try_into_resp(r)
}

// ---- people --------------------------------------------------------------------------

/// A user with an API token.
#[derive(Clone, Debug)]
pub struct Person {
    /// `usr_…`
    pub id: String,
    pub name: String,
    /// `pst_…`
    pub token: String,
    /// `tok_…`
    pub token_id: String,
}

/// Sandbox test cards (see `purser_core::rail::SANDBOX_TEST_CARDS`).
pub const VISA_OK: &str = "4242424242424242";
pub const MASTERCARD_OK: &str = "5555555555554444";
pub const VISA_3DS: &str = "4000000000003220";

impl Person {
    /// A new user, created by the operator and set up with their first (all-scope) token.
    pub fn new(p: &dyn Server, name: &str) -> Person {
        let u = op(p, "POST", "/v1/users", Some(&json!({"name": name}))).want(201);
        assert_eq!(u["status"], "pending_setup", "{u}");
        let setup = u["setup_token"].as_str().expect("setup token");
        assert!(setup.starts_with("pss_"), "{u}");
        let s = call(
            p,
            "POST",
            "/v1/setup",
            None,
            &[],
            Some(&json!({"setup_token": setup})),
        )
        .want(201);
        let person = Person {
            id: u["id"].as_str().expect("user id").to_string(),
            name: name.to_string(),
            token: s["token"]["token"].as_str().expect("token").to_string(),
            token_id: s["token"]["id"].as_str().expect("token id").to_string(),
        };
        assert_eq!(s["user"]["id"], person.id.as_str(), "{s}");
        assert_eq!(s["user"]["status"], "active", "{s}");
        person
    }

    /// The same person presenting another token.
    pub fn with_token(&self, token: &str, token_id: &str) -> Person {
        Person {
            token: token.to_string(),
            token_id: token_id.to_string(),
            ..self.clone()
        }
    }

    /// A new token of this person holding exactly `scopes`.
    pub fn token_with(&self, p: &dyn Server, scopes: &[&str]) -> Person {
        let t = self
            .post(
                p,
                "/v1/tokens",
                &json!({"name": unique("scoped"), "scopes": scopes}),
            )
            .want(201);
        self.with_token(
            t["token"].as_str().expect("token"),
            t["id"].as_str().expect("token id"),
        )
    }

    pub fn call(
        &self,
        p: &dyn Server,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Resp {
        call(p, method, path, Some(&self.token), headers, body)
    }

    pub fn get(&self, p: &dyn Server, path: &str) -> Resp {
        self.call(p, "GET", path, &[], None)
    }

    pub fn post(&self, p: &dyn Server, path: &str, body: &Value) -> Resp {
        self.call(p, "POST", path, &[], Some(body))
    }

    /// POST with an `Idempotency-Key`.
    pub fn post_key(&self, p: &dyn Server, path: &str, key: &str, body: &Value) -> Resp {
        self.call(p, "POST", path, &[("Idempotency-Key", key)], Some(body))
    }

    /// Add a card (expiry 12/30, holder "Test Holder"); returns the card as answered.
    #[track_caller]
    pub fn add_card(&self, p: &dyn Server, number: &str, cvv: &str) -> Value {
        let c = self.post(p, "/v1/cards", &card_body(number, cvv)).want(201);
        assert!(
            c["id"].as_str().is_some_and(|i| i.starts_with("crd_")),
            "{c}"
        );
        c
    }

    /// `POST /v1/topups` of `minor` CNY from `card_id` under a fresh Idempotency-Key.
    pub fn top_up(&self, p: &dyn Server, card_id: &str, minor: i64) -> Resp {
        self.post_key(
            p,
            "/v1/topups",
            &unique("topup"),
            &json!({"card_id": card_id, "amount": cny(minor)}),
        )
    }

    /// Add an approving card and top up `minor` CNY with it; returns (card id, top-up id).
    pub fn funded(&self, p: &dyn Server, minor: i64) -> (String, String) {
        let card = self.add_card(p, VISA_OK, "123");
        let card = card["id"].as_str().unwrap_or_default().to_string();
        let t = self.top_up(p, &card, minor).want(201);
        assert_eq!(t["status"], "succeeded", "{t}");
        (card, t["id"].as_str().unwrap_or_default().to_string())
    }

    /// What the wallet can spend in CNY, as `GET /v1/wallet` says (0 before any CNY).
    #[track_caller]
    pub fn available(&self, p: &dyn Server) -> i64 {
        let w = self.get(p, "/v1/wallet").want(200);
        assert_eq!(w["user_id"], self.id.as_str(), "{w}");
        w["balances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["currency"] == "CNY")
            .map_or(0, |b| b["available"]["amount"].as_i64().unwrap_or(-1))
    }
}

/// The body of `POST /v1/cards`.
pub fn card_body(number: &str, cvv: &str) -> Value {
    json!({"number": number, "expiry": "12/30", "cvv": cvv, "holder": "Test Holder"})
}

// ---- agents --------------------------------------------------------------------------

/// Send a request signed with `key` (Web Bot Auth profile, fresh nonce, valid five minutes).
/// `path` may carry a query. The body, when given, is sent with its Content-Digest.
pub fn signed_call(
    p: &dyn Server,
    key: &Ed25519KeyPair,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    signed_call_with(p, key, method, path, body, &[])
}

/// [`signed_call`] with extra (unsigned) headers, such as `Idempotency-Key`.
pub fn signed_call_with(
    p: &dyn Server,
    key: &Ed25519KeyPair,
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Resp {
    match try_signed_call_with(p, key, method, path, body, extra) {
        Ok(r) => r,
        Err(e) => panic!("{method} {path}: transport error {e}"),
    }
}

/// [`signed_call_with`] that says when no answer came instead of panicking.
pub fn try_signed_call_with(
    p: &dyn Server,
    key: &Ed25519KeyPair,
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Result<Resp, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    try_signed_call_at(p, key, method, path, body, extra, now)
}

/// [`try_signed_call_with`] signed as if the time were `created` (Unix seconds).
pub fn try_signed_call_at(
    p: &dyn Server,
    key: &Ed25519KeyPair,
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra: &[(&str, &str)],
    created: i64,
) -> Result<Resp, String> {
    let authority = p
        .base()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let (path_only, query) = match path.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (path, None),
    };
    let bytes = body.map(|b| b.to_string().into_bytes());
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method,
        scheme: Some("http"),
        authority: &authority,
        path: path_only,
        query,
        headers: &no_headers,
    };
    let sig = sign_request(
        key,
        &parts,
        bytes.as_deref(),
        &SignParams::new(created, unique("nonce")),
    )
    .expect("sign the request");
    let mut headers = vec![
        ("Signature-Input", sig.signature_input.as_str()),
        ("Signature", sig.signature.as_str()),
    ];
    if let Some(d) = &sig.content_digest {
        headers.push(("Content-Digest", d.as_str()));
    }
    headers.extend_from_slice(extra);
    try_send(p, method, path, None, &headers, bytes.as_deref())
}

/// An agent registered by a developer, with its private key.
pub struct TestAgent {
    /// `agt_…`
    pub id: String,
    /// The key's JWK thumbprint (the `keyid` of its signatures).
    pub kid: String,
    pub key: Ed25519KeyPair,
}

/// A fresh Ed25519 key.
pub fn new_key() -> Ed25519KeyPair {
    Ed25519KeyPair::generate().expect("generate an Ed25519 key")
}

/// `developer` registers an agent called `name` with a fresh key.
pub fn register_agent(p: &dyn Server, developer: &Person, name: &str) -> TestAgent {
    let key = new_key();
    let a = developer
        .post(
            p,
            "/v1/agents",
            &json!({"name": name, "operator": "Test Operator Ltd", "public_key_jwk": key.public_key().to_jwk(), "key_proof": key.possession_proof(&developer.id).expect("proof")}),
        )
        .want(201);
    let kid = key.key_id();
    assert_eq!(a["keys"][0]["kid"], kid.as_str(), "{a}");
    TestAgent {
        id: a["id"].as_str().expect("agent id").to_string(),
        kid,
        key,
    }
}

impl TestAgent {
    /// A request signed as this agent.
    pub fn call(&self, p: &dyn Server, method: &str, path: &str, body: Option<&Value>) -> Resp {
        signed_call(p, &self.key, method, path, body)
    }

    /// Ask `user` for a binding; returns the pending binding's id.
    pub fn request_binding(&self, p: &dyn Server, user: &Person) -> String {
        let b = self
            .call(
                p,
                "POST",
                "/v1/agent/bindings",
                Some(&json!({"user_id": user.id, "purpose": "buy groceries within budget"})),
            )
            .want(201);
        assert_eq!(b["status"], "pending", "{b}");
        b["id"].as_str().expect("binding id").to_string()
    }
}

/// A new agent of `developer` that `user` has approved; returns it and the active binding id.
pub fn bound_agent(p: &dyn Server, developer: &Person, user: &Person) -> (TestAgent, String) {
    let a = register_agent(p, developer, &unique("agent"));
    let binding = a.request_binding(p, user);
    approve(p, user, &binding);
    (a, binding)
}

/// `user` approves a pending binding.
pub fn approve(p: &dyn Server, user: &Person, binding: &str) {
    let b = user
        .post(p, &format!("/v1/bindings/{binding}/approve"), &json!({}))
        .want(200);
    assert_eq!(b["status"], "active", "{b}");
}

// ---- a server whose logs are kept --------------------------------------------------

/// `purser serve` with stdout and stderr (logs at `PURSER_LOG=trace`) appended to a file.
pub struct LoggedServer {
    child: Option<Child>,
    pub base: String,
    pub token: String,
    pub log: PathBuf,
}

impl Server for LoggedServer {
    fn base(&self) -> &str {
        &self.base
    }
    fn operator_token(&self) -> &str {
        &self.token
    }
}

/// Start `purser serve` on a free port, logging everything to `log` (appended).
pub fn start_logged(data: &Path, storage: &Storage, log: &Path) -> LoggedServer {
    start_logged_with(data, storage, log, &[])
}

/// [`start_logged`] with extra `purser serve` arguments.
pub fn start_logged_with(
    data: &Path,
    storage: &Storage,
    log: &Path,
    extra: &[&str],
) -> LoggedServer {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the log file")
    };
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env_remove("PURSER_DATABASE_URL")
        .env_remove("PURSER_OPERATOR_TOKEN")
        .env_remove("PURSER_VAULT_KEY")
        .env("PURSER_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(open()));
    if let Some(url) = storage.url() {
        cmd.args(["--database-url", url]);
    }
    cmd.args(extra);
    let mut child = cmd.spawn().expect("spawn purser serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut copy = open();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(copy, "{line}");
            if let Some(rest) = line.trim().strip_prefix("API:") {
                let addr = rest
                    .trim()
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "purser serve did not start within 60 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    let token = std::fs::read_to_string(data.join("operator-token")).expect("operator token");
    let s = LoggedServer {
        child: Some(child),
        base: format!("http://{addr}"),
        token: token.trim().to_string(),
        log: log.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&s, "GET", "/healthz", None, &[], None).status != 200 {
        assert!(Instant::now() < deadline, "server never became healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

impl LoggedServer {
    /// SIGTERM, and wait for the graceful exit.
    pub fn terminate(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                assert!(s.success(), "purser exited with {s} after SIGTERM");
                return;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("purser did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---- looking into storage -------------------------------------------------------------

/// Every file under `dir` (recursively), with its bytes.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Every row of every table in the PostgreSQL database at `url`, as text (bytea as `\x…`
/// hex), one `table: row` per line.
pub fn pg_dump_text(url: &str) -> String {
    let url = url.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(conn);
        let tables = c
            .query(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
                &[],
            )
            .await
            .expect("list tables");
        assert!(!tables.is_empty(), "no tables in {url}");
        let mut out = String::new();
        for t in &tables {
            let (schema, name): (String, String) = (t.get(0), t.get(1));
            let rows = c
                .query(
                    &format!("SELECT row_to_json(t)::text FROM \"{schema}\".\"{name}\" t"),
                    &[],
                )
                .await
                .expect("read a table");
            for r in &rows {
                let row: String = r.get(0);
                out.push_str(&format!("{schema}.{name}: {row}\n"));
            }
        }
        out
    })
}

/// `bytes` as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 (with or without padding) to bytes.
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {s}"),
        }
    };
    let clean: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (val(*c) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// SHA-256 of `bytes` as lower-case hex (through the Content-Digest the agent SDK computes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = purser_core::httpsig::content_digest(bytes);
    let b64 = d
        .strip_prefix("sha-256=:")
        .and_then(|r| r.strip_suffix(':'))
        .expect("a sha-256 Content-Digest");
    hex(&base64_decode(b64))
}
