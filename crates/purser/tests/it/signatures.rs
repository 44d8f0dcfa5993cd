//! Signed agent requests over HTTP (RFC 9421, Web Bot Auth profile), against the real server:
//! the happy path, every refusal (with its code, and nothing changed), the binding states that
//! decide each request (freeze takes effect on the very next one), key rotation with grace,
//! nonce replay across a restart, and interop with an independent implementation (PyPI
//! `http-message-signatures`, through `interop/*.py`).
//!
//! The helpers here sign one request and send another, so a test can change exactly one thing
//! between what was signed and what arrives.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use purser_core::httpsig::{
    content_digest, sign_request, Ed25519KeyPair, RequestParts, SignParams,
};
use serde_json::{json, Value};

use crate::both;
use crate::support::{agent, start, Purser, Storage, TempDir};

// ---- requests ------------------------------------------------------------------------

type Headers = Vec<(String, String)>;

/// An HTTP answer.
#[derive(Debug)]
struct Resp {
    status: u16,
    body: Value,
    text: String,
}

impl Resp {
    #[track_caller]
    fn want(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self.body
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// An error answer with this status and code, and a message a person can act on.
    #[track_caller]
    fn refused(&self, status: u16, code: &str) {
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

/// A request as it goes on the wire: what a signature is made over, or what is then sent.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    /// The `Host` header (`127.0.0.1:PORT` unless a test changes it).
    authority: String,
    /// Path and optional `?query`.
    target: String,
    /// Further headers, sent (and coverable through `extra_components`).
    headers: Headers,
    body: Option<Vec<u8>>,
}

impl Req {
    fn new(p: &Purser, method: &str, target: &str) -> Req {
        Req {
            method: method.to_string(),
            authority: p.base.trim_start_matches("http://").to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn get(p: &Purser, target: &str) -> Req {
        Req::new(p, "GET", target)
    }

    fn post(p: &Purser, target: &str, body: &Value) -> Req {
        Req::new(p, "POST", target).body(Some(body))
    }

    fn method(mut self, method: &str) -> Req {
        self.method = method.to_string();
        self
    }

    fn target(mut self, target: &str) -> Req {
        self.target = target.to_string();
        self
    }

    fn authority(mut self, authority: &str) -> Req {
        self.authority = authority.to_string();
        self
    }

    fn body(mut self, body: Option<&Value>) -> Req {
        self.body = body.map(|b| b.to_string().into_bytes());
        self
    }

    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn path_and_query(&self) -> (&str, Option<&str>) {
        match self.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (&self.target, None),
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A nonce never used before in this test run.
fn nonce() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "n-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Created now, valid five minutes, a fresh nonce, `tag="web-bot-auth"`.
fn fresh() -> SignParams<'static> {
    SignParams::new(now_secs(), nonce())
}

/// The signature headers (and Content-Digest when there is a body) for `req`, made by
/// `purser_core::httpsig::sign_request` (what the agent SDK uses).
fn sign(key: &Ed25519KeyPair, req: &Req, params: &SignParams) -> Headers {
    let (path, query) = req.path_and_query();
    let parts = RequestParts {
        method: &req.method,
        scheme: Some("http"),
        authority: &req.authority,
        path,
        query,
        headers: &req.headers,
    };
    let sig = sign_request(key, &parts, req.body.as_deref(), params).expect("sign the request");
    let mut out = vec![
        ("Signature-Input".to_string(), sig.signature_input),
        ("Signature".to_string(), sig.signature),
    ];
    if let Some(d) = sig.content_digest {
        out.push(("Content-Digest".to_string(), d));
    }
    out
}

/// Standard base64 with padding (the `Signature` byte sequence).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Signs a bodiless request without a query by hand (RFC 9421 §2.5), with `params` exactly as
/// they follow the component list: for what `sign_request` will not make (the `keyId`
/// spelling, a foreign tag or algorithm).
fn hand_sign(key: &Ed25519KeyPair, req: &Req, params: &str) -> Headers {
    assert!(req.body.is_none() && !req.target.contains('?'));
    let inner = format!("(\"@method\" \"@authority\" \"@path\"){params}");
    let base = format!(
        "\"@method\": {}\n\"@authority\": {}\n\"@path\": {}\n\"@signature-params\": {inner}",
        req.method, req.authority, req.target
    );
    let sig = key.sign(base.as_bytes()).expect("sign");
    vec![
        ("Signature-Input".to_string(), format!("sig1={inner}")),
        ("Signature".to_string(), format!("sig1=:{}:", base64(&sig))),
    ]
}

/// The signature parameters `hand_sign` takes: created now, valid five minutes, fresh nonce.
fn hand_params(key_param: &str, kid: &str, alg: &str, tag: &str) -> String {
    let now = now_secs();
    format!(
        ";created={now};expires={};{key_param}=\"{kid}\";alg=\"{alg}\";nonce=\"{}\";tag=\"{tag}\"",
        now + 300,
        nonce()
    )
}

/// `headers` with `name` set to `value` (`None`: removed).
fn with(mut headers: Headers, name: &str, value: Option<&str>) -> Headers {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    if let Some(v) = value {
        headers.push((name.to_string(), v.to_string()));
    }
    headers
}

/// Send `req` with `sig` (signature headers) added, and `Host` set to `req.authority`.
fn send(p: &Purser, req: &Req, sig: &[(String, String)]) -> Resp {
    let mut r = agent()
        .request(&req.method, &p.url(&req.target))
        .set("Host", &req.authority);
    for (n, v) in req.headers.iter().chain(sig) {
        r = r.set(n, v);
    }
    let sent = match &req.body {
        Some(b) => r.set("Content-Type", "application/json").send_bytes(b),
        None => r.call(),
    };
    let resp = match sent {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{} {}: transport error {e}", req.method, req.target),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// `req`, freshly signed with `key`.
fn signed(p: &Purser, key: &Ed25519KeyPair, req: &Req) -> Resp {
    send(p, req, &sign(key, req, &fresh()))
}

/// A request with a bearer token (a user's or the operator's).
fn bearer(p: &Purser, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let req = Req::new(p, method, path)
        .body(body)
        .header("Authorization", &format!("Bearer {token}"));
    send(p, &req, &[])
}

// ---- people and agents -------------------------------------------------------------

/// A user with an (all-scope) API token, made as a real one is: the operator creates the
/// user, the user exchanges the setup token.
struct User {
    /// `usr_…`
    id: String,
    /// `pst_…`
    token: String,
}

impl User {
    fn new(p: &Purser, name: &str) -> User {
        let u = bearer(
            p,
            &p.token,
            "POST",
            "/v1/users",
            Some(&json!({"name": name})),
        )
        .want(201);
        let setup = u["setup_token"].as_str().expect("setup token");
        let s = send(
            p,
            &Req::post(p, "/v1/setup", &json!({"setup_token": setup})),
            &[],
        )
        .want(201);
        let token = s["token"]["token"].as_str().expect("token");
        assert!(token.starts_with("pst_"), "{s}");
        User {
            id: u["id"].as_str().expect("user id").to_string(),
            token: token.to_string(),
        }
    }

    fn get(&self, p: &Purser, path: &str) -> Resp {
        bearer(p, &self.token, "GET", path, None)
    }

    fn post(&self, p: &Purser, path: &str, body: &Value) -> Resp {
        bearer(p, &self.token, "POST", path, Some(body))
    }

    /// The ids and statuses of this user's bindings, newest first.
    fn bindings(&self, p: &Purser) -> Vec<(String, String)> {
        let b = self.get(p, "/v1/bindings").want(200);
        b["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|b| {
                (
                    b["id"].as_str().unwrap_or_default().to_string(),
                    b["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Approve, freeze, unfreeze or revoke a binding; returns it.
    fn decide(&self, p: &Purser, binding: &str, what: &str) -> Value {
        self.post(p, &format!("/v1/bindings/{binding}/{what}"), &json!({}))
            .want(200)
    }
}

/// An agent registered by a developer, with its private key.
struct Agent {
    /// `agt_…`
    id: String,
    key: Ed25519KeyPair,
}

fn new_key() -> Ed25519KeyPair {
    Ed25519KeyPair::generate().expect("generate an Ed25519 key")
}

fn register(p: &Purser, developer: &User, name: &str) -> Agent {
    let key = new_key();
    let a = developer
        .post(
            p,
            "/v1/agents",
            &json!({"name": name, "operator": "Test Operator Ltd", "public_key_jwk": key.public_key().to_jwk(), "key_proof": key.possession_proof(&developer.id).expect("proof")}),
        )
        .want(201);
    assert_eq!(a["keys"][0]["kid"], key.key_id().as_str(), "{a}");
    assert_eq!(a["status"], "active", "{a}");
    Agent {
        id: a["id"].as_str().expect("agent id").to_string(),
        key,
    }
}

/// The body of a binding request for `user`.
fn binding_body(user: &User) -> Value {
    json!({"user_id": user.id, "purpose": "buy groceries within the weekly budget"})
}

/// `agent` asks `user` for a binding (signed); returns the pending binding's id.
fn request_binding(p: &Purser, agent: &Agent, user: &User) -> String {
    let b = signed(
        p,
        &agent.key,
        &Req::post(p, "/v1/agent/bindings", &binding_body(user)),
    )
    .want(201);
    assert_eq!(b["status"], "pending", "{b}");
    b["id"].as_str().expect("binding id").to_string()
}

fn funds_path(user: &User) -> String {
    format!("/v1/agent/users/{}/funds", user.id)
}

// ---- 1. the happy path -----------------------------------------------------------------

both!(signed_binding_then_whoami_and_funds, |storage: Storage| {
    let dir = TempDir::new("sig-happy");
    let p = start(dir.path(), &storage);
    let dev = User::new(&p, "Dev");
    let user = User::new(&p, "Ada");
    let a = register(&p, &dev, "Shopper");

    let b = signed(
        &p,
        &a.key,
        &Req::post(&p, "/v1/agent/bindings", &binding_body(&user)),
    )
    .want(201);
    assert_eq!(
        (&b["status"], &b["user_id"], &b["agent"]["id"], &b["frozen"]),
        (
            &json!("pending"),
            &json!(user.id),
            &json!(a.id),
            &json!(false)
        ),
        "{b}"
    );
    let binding = b["id"].as_str().expect("binding id");

    // The user sees it waiting, and approves it.
    let pending = user.get(&p, "/v1/bindings?status=pending").want(200);
    assert_eq!(pending["data"][0]["id"], binding, "{pending}");
    assert_eq!(
        pending["data"].as_array().map(Vec::len),
        Some(1),
        "{pending}"
    );
    assert_eq!(user.decide(&p, binding, "approve")["status"], "active");

    let who = signed(&p, &a.key, &Req::get(&p, "/v1/agent/whoami")).want(200);
    assert_eq!(who["agent"]["id"], a.id.as_str(), "{who}");
    assert_eq!(who["agent"]["status"], "active", "{who}");
    assert_eq!(who["kid"], a.key.key_id().as_str(), "{who}");
    assert_eq!(who["bindings"][0]["id"], binding, "{who}");
    assert_eq!(who["bindings"][0]["status"], "active", "{who}");
    assert_eq!(who["bindings"].as_array().map(Vec::len), Some(1), "{who}");

    let f = signed(&p, &a.key, &Req::get(&p, &funds_path(&user))).want(200);
    assert_eq!(f["user_id"], user.id.as_str(), "{f}");
    assert_eq!(f["binding_id"], binding, "{f}");
    assert_eq!(f["exclusive_cards"], json!([]), "{f}");
});

// ---- 2. every refusal ------------------------------------------------------------------

both!(
    every_refusal_names_its_check_and_changes_nothing,
    |storage: Storage| {
        let dir = TempDir::new("sig-refusals");
        let p = start(dir.path(), &storage);
        let dev = User::new(&p, "Dev");
        let user = User::new(&p, "Ada");
        let a = register(&p, &dev, "Shopper");
        let k = &a.key;
        let kid = k.key_id();

        let whoami = Req::get(&p, "/v1/agent/whoami");
        let bind = Req::post(&p, "/v1/agent/bindings", &binding_body(&user));
        let other_body = json!({"user_id": user.id, "purpose": "spend everything, at once"});
        let tampered = bind.clone().body(Some(&other_body));
        let with_key = bind.clone().header("Idempotency-Key", "bind-1");
        let cover_key = || SignParams {
            extra_components: vec!["idempotency-key".to_string()],
            ..fresh()
        };
        let at = |created: i64, expires: i64| SignParams {
            created: now_secs() + created,
            expires: now_secs() + expires,
            ..fresh()
        };
        let digest_of = |r: &Req| content_digest(r.body.as_deref().unwrap_or_default());

        let s = |r: &Req| sign(k, r, &fresh());
        let hand = |signer: &Ed25519KeyPair, key_param: &str, alg: &str, tag: &str| {
            hand_sign(signer, &whoami, &hand_params(key_param, &kid, alg, tag))
        };
        let w = || whoami.clone();
        let bad_sig = format!("sig1=:{}:", base64(&[7u8; 64]));
        let other_key = new_key();

        // (what, the signature headers sent, the request sent, status, code)
        #[rustfmt::skip]
        let cases: Vec<(&str, Headers, Req, u16, &str)> = vec![
            ("no signature", vec![], w(), 401, "signature_missing"),
            ("Signature without Signature-Input", with(s(&whoami), "Signature-Input", None), w(), 401, "signature_missing"),
            ("malformed Signature-Input", with(s(&whoami), "Signature-Input", Some("sig1=(\"@method\" \"@path\"")), w(), 401, "signature_malformed"),
            ("signature bytes changed", with(s(&whoami), "Signature", Some(&bad_sig)), w(), 401, "signature_invalid"),
            ("changed method (signed POST, sent GET)", s(&w().method("POST")), w(), 401, "signature_invalid"),
            ("changed path", s(&Req::get(&p, &funds_path(&user))), w(), 401, "signature_invalid"),
            ("changed authority (signed for another host)", s(&w().authority("shop.example")), w(), 401, "signature_invalid"),
            ("a signature made for another site, replayed here with its Host", s(&w().authority("shop.example")), w().authority("shop.example"), 401, "signature_wrong_authority"),
            ("changed query", s(&w().target("/v1/agent/whoami?page=1")), w().target("/v1/agent/whoami?page=2"), 401, "signature_invalid"),
            ("query present, @query not covered", s(&whoami), w().target("/v1/agent/whoami?page=1"), 401, "signature_incomplete"),
            ("changed body", s(&bind), tampered.clone(), 401, "content_digest_mismatch"),
            ("changed body and Content-Digest", with(s(&bind), "Content-Digest", Some(&digest_of(&tampered))), tampered.clone(), 401, "signature_invalid"),
            ("body sent, content-digest not covered", s(&bind.clone().body(None)), bind.clone(), 401, "signature_incomplete"),
            ("content-digest covered, header left out", with(s(&bind), "Content-Digest", None), bind.clone(), 401, "content_digest_missing"),
            ("covered header changed", sign(k, &with_key, &cover_key()), with_key.clone().header("Idempotency-Key", "bind-2"), 401, "signature_invalid"),
            ("expired (created 20 min ago, expired 12 min ago)", sign(k, &whoami, &at(-1200, -720)), w(), 401, "signature_expired"),
            ("created 10 min in the future", sign(k, &whoami, &at(600, 800)), w(), 401, "signature_not_yet_valid"),
            ("window longer than 8 min", sign(k, &whoami, &at(0, 481)), w(), 401, "signature_window_too_long"),
            ("tag not for agents", hand(k, "keyid", "ed25519", "web-crawler-auth"), w(), 401, "signature_tag_unsupported"),
            ("algorithm other than Ed25519", hand(k, "keyid", "rsa-pss-sha512", "web-bot-auth"), w(), 401, "signature_algorithm_unsupported"),
            ("signed with an unregistered key", sign(&other_key, &whoami, &fresh()), w(), 401, "unknown_key"),
            ("signed by another key, naming this agent's keyid", hand(&other_key, "keyid", "ed25519", "web-bot-auth"), w(), 401, "signature_invalid"),
        ];
        for (what, sig, sent, status, code) in &cases {
            let r = send(&p, sent, sig);
            assert_eq!(
                (r.status, r.code()),
                (*status, *code),
                "{what}: unexpected answer {}",
                r.text
            );
            r.refused(*status, code);
        }
        // No refused binding request made a binding.
        assert_eq!(user.bindings(&p), vec![], "refusals changed nothing");

        // Accepted: the edges of the policy, the `keyId` spelling, the other agent tags, and a
        // hand-made signature (so the tag and alg refusals above are about the tag and alg).
        #[rustfmt::skip]
        let accepted: Vec<(&str, Headers)> = vec![
            ("window of exactly 8 min", sign(k, &whoami, &at(0, 480))),
            ("created 30 s ahead (within the skew)", sign(k, &whoami, &at(30, 300))),
            ("expired 30 s ago (within the skew)", sign(k, &whoami, &at(-330, -30))),
            ("tag agent-payer-auth", sign(k, &whoami, &SignParams { tag: "agent-payer-auth", ..fresh() })),
            ("tag agent-browser-auth", sign(k, &whoami, &SignParams { tag: "agent-browser-auth", ..fresh() })),
            ("label other than sig1", sign(k, &whoami, &SignParams { label: "agent", ..fresh() })),
            ("made by hand", hand(k, "keyid", "ed25519", "web-bot-auth")),
            ("keyId spelling", hand(k, "keyId", "ed25519", "web-bot-auth")),
        ];
        for (what, sig) in &accepted {
            let r = send(&p, &whoami, sig);
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            assert_eq!(r.body["kid"], kid.as_str(), "{what}: {}", r.text);
        }

        // The honest versions of the refused requests are accepted.
        let b = send(&p, &with_key, &sign(k, &with_key, &cover_key())).want(201);
        assert_eq!(b["status"], "pending", "{b}");
        assert_eq!(user.bindings(&p).len(), 1);
    }
);

both!(
    reused_nonce_is_refused_even_after_a_restart,
    |storage: Storage| {
        let dir = TempDir::new("sig-nonce");
        let mut p = start(dir.path(), &storage);
        let dev = User::new(&p, "Dev");
        let user = User::new(&p, "Ada");
        let a = register(&p, &dev, "Shopper");

        let whoami = Req::get(&p, "/v1/agent/whoami");
        let sig = sign(&a.key, &whoami, &fresh());
        send(&p, &whoami, &sig).want(200);
        send(&p, &whoami, &sig).refused(401, "nonce_reused");

        // The same nonce on another, correctly signed request is just as spent.
        let used = SignParams::new(now_secs(), "fixed-nonce-1");
        send(&p, &whoami, &sign(&a.key, &whoami, &used)).want(200);
        let funds = Req::get(&p, &funds_path(&user));
        send(&p, &funds, &sign(&a.key, &funds, &used)).refused(401, "nonce_reused");

        // A refused POST that reuses a nonce creates nothing.
        let bind = Req::post(&p, "/v1/agent/bindings", &binding_body(&user));
        send(&p, &bind, &sign(&a.key, &bind, &used)).refused(401, "nonce_reused");
        assert_eq!(user.bindings(&p), vec![]);

        // After a restart (same data, new port) the nonce is still spent: the same nonce, signed
        // afresh for the new address, is refused. (The captured request itself, addressed to the
        // old port, is refused before its nonce is even looked at.)
        assert!(p.terminate().success());
        let p = start(dir.path(), &storage);
        send(&p, &whoami, &sig).refused(401, "signature_wrong_authority");
        let again = Req::get(&p, "/v1/agent/whoami");
        send(&p, &again, &sign(&a.key, &again, &used)).refused(401, "nonce_reused");
        // …while a fresh signature for the new address works.
        signed(&p, &a.key, &Req::get(&p, "/v1/agent/whoami")).want(200);
    }
);

// ---- 3. the binding decides each request ------------------------------------------------

both!(
    binding_state_decides_the_very_next_request,
    |storage: Storage| {
        let dir = TempDir::new("sig-binding");
        let p = start(dir.path(), &storage);
        let dev = User::new(&p, "Dev");
        let ada = User::new(&p, "Ada");
        let bob = User::new(&p, "Bob");
        let cyd = User::new(&p, "Cyd");
        let a = register(&p, &dev, "Shopper");
        let funds = |u: &User| signed(&p, &a.key, &Req::get(&p, &funds_path(u)));

        // Never asked, and asked but not approved: not bound.
        funds(&bob).refused(401, "agent_not_bound");
        let pending = request_binding(&p, &a, &cyd);
        funds(&cyd).refused(401, "agent_not_bound");
        // An id that is not a user id at all is refused the same way.
        signed(&p, &a.key, &Req::get(&p, "/v1/agent/users/nobody/funds"))
            .refused(401, "agent_not_bound");

        // Freeze and unfreeze take effect on the very next request.
        let binding = request_binding(&p, &a, &ada);
        ada.decide(&p, &binding, "approve");
        funds(&ada).want(200);
        assert_eq!(ada.decide(&p, &binding, "freeze")["frozen"], true);
        funds(&ada).refused(401, "agent_frozen");
        // Frozen for Ada only: whoami still answers, and shows it.
        let who = signed(&p, &a.key, &Req::get(&p, "/v1/agent/whoami")).want(200);
        let frozen: Vec<&Value> = who["bindings"]
            .as_array()
            .expect("bindings")
            .iter()
            .filter(|b| b["frozen"] == true)
            .collect();
        assert_eq!(frozen.len(), 1, "{who}");
        assert_eq!(frozen[0]["id"], binding.as_str(), "{who}");
        assert_eq!(ada.decide(&p, &binding, "unfreeze")["frozen"], false);
        funds(&ada).want(200);

        // A revoked binding: not bound, and asking again starts over as pending.
        assert_eq!(ada.decide(&p, &binding, "revoke")["status"], "revoked");
        funds(&ada).refused(401, "agent_not_bound");

        // The developer revokes the agent: every request is refused as agent_revoked (the
        // signature is checked first, so only the key's holder learns why), and its bindings
        // end too.
        let again = request_binding(&p, &a, &ada);
        ada.decide(&p, &again, "approve");
        funds(&ada).want(200);
        let r = dev
            .post(&p, &format!("/v1/agents/{}/revoke", a.id), &json!({}))
            .want(200);
        assert_eq!(r["status"], "revoked", "{r}");
        for req in [
            Req::get(&p, "/v1/agent/whoami"),
            Req::get(&p, &funds_path(&ada)),
            Req::post(&p, "/v1/agent/bindings", &binding_body(&bob)),
        ] {
            let r = signed(&p, &a.key, &req);
            r.refused(401, "agent_revoked");
        }
        assert_eq!(bob.bindings(&p), vec![], "a revoked agent asked nobody");
        for (user, id) in [(&ada, &again), (&cyd, &pending)] {
            let b = user.get(&p, &format!("/v1/bindings/{id}")).want(200);
            assert_eq!(b["status"], "revoked", "{b}");
        }
    }
);

// ---- 4. key rotation ---------------------------------------------------------------------

both!(key_rotation_grace_and_revocation, |storage: Storage| {
    let dir = TempDir::new("sig-rotation");
    let p = start(dir.path(), &storage);
    let dev = User::new(&p, "Dev");
    let a = register(&p, &dev, "Shopper");
    let whoami = |key: &Ed25519KeyPair| signed(&p, key, &Req::get(&p, "/v1/agent/whoami"));
    let rotate = |key: &Ed25519KeyPair, grace_hours: i64| {
        dev.post(
            &p,
            &format!("/v1/agents/{}/keys", a.id),
            &json!({"public_key_jwk": key.public_key().to_jwk(), "key_proof": key.possession_proof(&dev.id).expect("proof"), "grace_hours": grace_hours}),
        )
        .want(200)
    };
    let status_of = |agent: &Value, key: &Ed25519KeyPair| {
        agent["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == key.key_id().as_str())
            .map(|k| k["status"].as_str().unwrap_or_default().to_string())
    };
    let works = |key: &Ed25519KeyPair| {
        let w = whoami(key).want(200);
        assert_eq!(w["kid"], key.key_id().as_str(), "{w}");
        assert_eq!(w["agent"]["id"], a.id.as_str(), "{w}");
    };

    let first = &a.key;
    works(first);

    // Rotate with a day's grace: both keys work.
    let second = new_key();
    let r = rotate(&second, 24);
    assert_eq!(status_of(&r, first).as_deref(), Some("retiring"), "{r}");
    assert_eq!(status_of(&r, &second).as_deref(), Some("active"), "{r}");
    works(first);
    works(&second);

    // Rotate again with no grace (a leaked key): every older key stops at once, including the
    // first one that was still in its grace.
    let third = new_key();
    let r = rotate(&third, 0);
    assert_eq!(status_of(&r, &second).as_deref(), Some("retiring"), "{r}");
    whoami(&second).refused(401, "unknown_key");
    whoami(first).refused(401, "unknown_key");
    works(&third);

    // Revoking a key (in grace, or active) refuses it at once.
    for key in [first, &third] {
        let r = dev
            .post(
                &p,
                &format!("/v1/agents/{}/keys/{}/revoke", a.id, key.key_id()),
                &json!({}),
            )
            .want(200);
        assert_eq!(status_of(&r, key).as_deref(), Some("revoked"), "{r}");
        whoami(key).refused(401, "unknown_key");
    }
    // Every key the agent ever had is now refused.
    for key in [first, &second, &third] {
        whoami(key).refused(401, "unknown_key");
    }
});

// ---- 5. interop with an independent implementation --------------------------------------

/// The Python with interop/requirements.txt installed, from PURSER_INTEROP_PYTHON. Unset: the
/// test says it skipped and passes, unless PURSER_TEST_REQUIRE_INTEROP=1 (CI), when it fails.
pub(crate) fn interop_python() -> Option<PathBuf> {
    match std::env::var_os("PURSER_INTEROP_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            assert!(
                std::env::var("PURSER_TEST_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "PURSER_TEST_REQUIRE_INTEROP=1 but PURSER_INTEROP_PYTHON is not set"
            );
            println!(
                "SKIPPED: set PURSER_INTEROP_PYTHON to a Python with interop/requirements.txt \
                 installed (python3 -m venv .venv-interop && .venv-interop/bin/pip install -r \
                 interop/requirements.txt) to run the interop tests"
            );
            None
        }
    }
}

pub(crate) fn interop_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop")
        .join(name)
}

/// Runs `interop/sign_request.py --key KEY ARGS…`; returns its stdout (it must exit 0).
fn py_sign(python: &Path, key_file: &Path, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg(interop_script("sign_request.py"))
        .arg("--key")
        .arg(key_file)
        .args(args)
        .output()
        .expect("run sign_request.py");
    assert!(
        out.status.success(),
        "sign_request.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sign_request.py` sending the request itself: the status and body the server answered.
fn py_send(python: &Path, key_file: &Path, args: &[&str]) -> Resp {
    let out = py_sign(python, key_file, args);
    let (status, text) = out.split_once('\n').unwrap_or((&out, ""));
    Resp {
        status: status.trim().parse().expect("an HTTP status"),
        body: serde_json::from_str(text.trim()).unwrap_or(Value::Null),
        text: text.trim().to_string(),
    }
}

/// `sign_request.py --print-headers`, as a [`Req`] carrying every header Python made.
fn py_signed_req(p: &Purser, python: &Path, key_file: &Path, args: &[&str]) -> Req {
    let mut all = vec!["--print-headers"];
    all.extend_from_slice(args);
    let doc: Value = serde_json::from_str(&py_sign(python, key_file, &all)).expect("JSON");
    let url = doc["url"].as_str().expect("url");
    let target = url.strip_prefix(&p.base).expect("a URL of this server");
    let mut req = Req::new(p, doc["method"].as_str().expect("method"), target);
    for (name, value) in doc["headers"].as_object().expect("headers") {
        let value = value.as_str().expect("a header value");
        match name.to_ascii_lowercase().as_str() {
            "host" => req.authority = value.to_string(),
            "content-type" => {}
            _ => req = req.header(name, value),
        }
    }
    req.body = doc["body"].as_str().map(|b| b.as_bytes().to_vec());
    req
}

/// Runs `interop/verify_request.py` on `doc`; returns (exit code, stdout).
fn py_verify(python: &Path, dir: &Path, doc: &Value) -> (Option<i32>, String) {
    let file = dir.join("request.json");
    std::fs::write(&file, doc.to_string()).expect("write the request");
    let out = Command::new(python)
        .arg(interop_script("verify_request.py"))
        .arg(&file)
        .output()
        .expect("run verify_request.py");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// What `sign_request` (the SDK's signer) makes, `verify_request.py` accepts; once the path
/// or body changes, it refuses.
fn sdk_signatures_verify_in_python(p: &Purser, python: &Path, dir: &Path, key: &Ed25519KeyPair) {
    let body = json!({"user_id": "usr_x", "purpose": "boots under 800 CNY"});
    let requests = [
        Req::get(p, "/v1/agent/whoami"),
        Req::get(p, "/v1/agent/users/usr_x/funds?limit=5"),
        Req::post(p, "/v1/agent/bindings", &body).header("Idempotency-Key", "k-1"),
    ];
    for req in requests {
        let params = SignParams {
            extra_components: req
                .headers
                .iter()
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect(),
            ..fresh()
        };
        let mut headers = serde_json::Map::new();
        headers.insert("Host".to_string(), json!(req.authority));
        for (n, v) in req.headers.iter().chain(&sign(key, &req, &params)) {
            headers.insert(n.clone(), json!(v));
        }
        let text = req
            .body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let doc = json!({
            "method": req.method,
            "url": p.url(&req.target),
            "headers": headers,
            "body": text,
            "public_jwk": key.public_key().to_jwk(),
        });
        let what = format!("{} {}", req.method, req.target);
        let (code, out) = py_verify(python, dir, &doc);
        assert_eq!(code, Some(0), "{what}: {out}");
        assert!(out.starts_with("valid: label=sig1"), "{what}: {out}");
        assert!(
            out.contains(&format!("keyid={}", key.key_id())),
            "{what}: {out}"
        );

        let mut changed = doc.clone();
        changed["url"] = json!(p.url(&req.target.replace("/v1/agent/", "/v1/agents/")));
        let (code, out) = py_verify(python, dir, &changed);
        assert_eq!(code, Some(1), "{what}, path changed: {out}");
        assert!(out.starts_with("invalid: "), "{what}: {out}");
        if text.is_some() {
            let mut changed = doc.clone();
            changed["body"] = json!(r#"{"user_id":"usr_x","purpose":"a different purpose"}"#);
            let (code, out) = py_verify(python, dir, &changed);
            assert_eq!(code, Some(1), "{what}, body changed: {out}");
            assert!(out.contains("Content-Digest"), "{what}: {out}");
        }
    }
}

both!(
    python_signatures_accepted_and_sdk_signatures_verified_by_python,
    |storage: Storage| {
        let Some(python) = interop_python() else {
            return;
        };
        let dir = TempDir::new("sig-interop");
        let p = start(dir.path(), &storage);
        let dev = User::new(&p, "Dev");
        let ada = User::new(&p, "Ada");
        let bob = User::new(&p, "Bob");
        let a = register(&p, &dev, "Shopper");
        let key_file = dir.path().join("agent.jwk");
        let jwk = a.key.to_private_jwk().expect("private JWK");
        std::fs::write(&key_file, jwk.as_bytes()).expect("write the key");
        let py = |args: &[&str]| py_send(&python, &key_file, args);
        let whoami = p.url("/v1/agent/whoami");
        let bindings = p.url("/v1/agent/bindings");

        // Signed and sent by Python: accepted.
        let who = py(&["GET", &whoami]);
        assert_eq!(
            (who.status, &who.body["kid"]),
            (200, &json!(a.key.key_id())),
            "{}",
            who.text
        );
        let body = binding_body(&ada).to_string();
        let b = py(&["--body", &body, "POST", &bindings]);
        assert_eq!(
            (b.status, &b.body["status"]),
            (201, &json!("pending")),
            "{}",
            b.text
        );
        py(&["--body", &body, "POST", &bindings]).refused(409, "binding_exists");
        let binding = b.body["id"].as_str().expect("binding id");
        ada.decide(&p, binding, "approve");
        let f = py(&["GET", &p.url(&funds_path(&ada))]);
        assert_eq!(
            (f.status, &f.body["binding_id"]),
            (200, &json!(binding)),
            "{}",
            f.text
        );

        // Python's replays, old signatures and foreign tags are judged like anyone's.
        let replay = ["--nonce", "py-fixed-1", "GET", &whoami];
        assert_eq!(py(&replay).status, 200);
        py(&replay).refused(401, "nonce_reused");
        let (created, expires) = (
            (now_secs() - 1200).to_string(),
            (now_secs() - 900).to_string(),
        );
        py(&["--created", &created, "--expires", &expires, "GET", &whoami])
            .refused(401, "signature_expired");
        py(&["--tag", "web-crawler-auth", "GET", &whoami])
            .refused(401, "signature_tag_unsupported");

        // Signed by Python, then tampered with on the way: refused, and nothing made.
        let body = binding_body(&bob).to_string();
        let signed_req = py_signed_req(
            &p,
            &python,
            &key_file,
            &[
                "--idempotency-key",
                "py-bind-1",
                "--body",
                &body,
                "POST",
                &bindings,
            ],
        );
        let other_body = json!({"user_id": bob.id, "purpose": "anything at all"});
        #[rustfmt::skip]
    let tampers = [
        (signed_req.clone().body(Some(&other_body)), 401, "content_digest_mismatch"),
        (signed_req.clone().header("Idempotency-Key", "py-bind-2"), 401, "signature_invalid"),
        (signed_req.clone().target("/v1/agent/bindings?user=1"), 401, "signature_incomplete"),
    ];
        for (sent, status, code) in &tampers {
            send(&p, sent, &[]).refused(*status, code);
        }
        assert_eq!(bob.bindings(&p), vec![], "tampered requests made nothing");
        // Untouched, the same Python-signed request is accepted.
        let b = send(&p, &signed_req, &[]).want(201);
        assert_eq!(b["user_id"], bob.id.as_str(), "{b}");

        // The other way round.
        sdk_signatures_verify_in_python(&p, &python, dir.path(), &a.key);
    }
);

// ---- 7. registering a key needs proof of holding it --------------------------------------

both!(
    registering_a_key_needs_proof_of_possession,
    |storage: Storage| {
        let dir = TempDir::new("sig-possession");
        let p = start(dir.path(), &storage);
        let dev = User::new(&p, "Dev");
        let squatter = User::new(&p, "Squatter");
        let key = new_key();
        let body = |proof: Option<String>| json!({"name": "Shopper", "operator": "Test Operator Ltd", "public_key_jwk": key.public_key().to_jwk(), "key_proof": proof});
        // No proof; a proof made for another user (replayed by a squatter); a proof by another key.
        dev.post(&p, "/v1/agents", &body(None))
            .refused(400, "key_proof_missing");
        let devs_proof = key.possession_proof(&dev.id).expect("proof");
        squatter
            .post(&p, "/v1/agents", &body(Some(devs_proof.clone())))
            .refused(400, "key_proof_invalid");
        let other = new_key().possession_proof(&dev.id).expect("proof");
        dev.post(&p, "/v1/agents", &body(Some(other)))
            .refused(400, "key_proof_invalid");
        assert_eq!(squatter.get(&p, "/v1/agents").want(200)["data"], json!([]));
        // With the proof, the holder registers it.
        dev.post(&p, "/v1/agents", &body(Some(devs_proof)))
            .want(201);
    }
);
