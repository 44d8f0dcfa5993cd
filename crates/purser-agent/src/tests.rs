//! Unit tests: signatures the SDK makes verify with Purser's own verifier (as built and as
//! sent on the wire), keys survive a file round trip, errors parse, targets are checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::target::{split_target, BaseUrl};
use purser_core::httpsig::{parse_request, Policy, RequestParts, SignedRequest};
use purser_core::time::Timestamp;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp(i64::try_from(ms).unwrap())
}

fn client(base: &str) -> Client {
    Client::new(base, AgentKey::generate().unwrap()).unwrap()
}

/// Splits `http://host/path?query` into (path, query) the way a server sees the target.
fn target_of(url: &str) -> (String, Option<String>) {
    let after_scheme = url.split_once("://").unwrap().1;
    let target = &after_scheme[after_scheme.find('/').unwrap_or(after_scheme.len())..];
    match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    }
}

/// Verifies a request the way the server does: authority from the Host header, scheme http.
fn verify_as_server(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    key: &AgentKey,
) -> Result<SignedRequest, purser_core::httpsig::SigError> {
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let parts = RequestParts {
        method,
        scheme: Some("http"),
        authority: host,
        path,
        query,
        headers: &headers.to_vec(),
    };
    let signed = parse_request(&parts, body, &Policy::default(), now())?;
    assert_eq!(signed.keyid, key.kid());
    signed.verify(&key.key_pair().public_key())?;
    Ok(signed)
}

fn verify_prepared(p: &PreparedRequest, key: &AgentKey) -> Result<SignedRequest, String> {
    let (path, query) = target_of(&p.url);
    verify_as_server(
        &p.method,
        &path,
        query.as_deref(),
        &p.headers,
        p.body.as_deref(),
        key,
    )
    .map_err(|e| format!("{}: {e}", e.code()))
}

#[test]
fn signed_request_with_body_verifies_with_purser_verifier() {
    let c = client("http://127.0.0.1:7420");
    let body = json!({"user_id": "usr_123", "purpose": "buy hiking boots under ¥800"});
    let p = c
        .prepare("POST", "/v1/agent/bindings", Some(&body), Some("idem-1"))
        .unwrap();
    assert_eq!(p.url, "http://127.0.0.1:7420/v1/agent/bindings");
    assert_eq!(p.header("host"), Some("127.0.0.1:7420"));
    assert_eq!(p.header("content-type"), Some("application/json"));
    assert_eq!(p.header("idempotency-key"), Some("idem-1"));
    assert!(p.header("content-digest").unwrap().starts_with("sha-256=:"));
    assert_eq!(
        p.body.as_deref(),
        Some(serde_json::to_vec(&body).unwrap().as_slice())
    );

    let signed = verify_prepared(&p, c.key()).unwrap();
    assert_eq!(
        signed.components,
        [
            "@method",
            "@authority",
            "@path",
            "content-digest",
            "idempotency-key"
        ]
    );
    assert_eq!(signed.tag.as_deref(), Some("web-bot-auth"));
    assert_eq!(signed.expires - signed.created, 300);
    assert!((now().0 / 1000 - signed.created).abs() <= 2);

    // The body, the key and the idempotency key are all bound by the signature.
    let mut tampered = p.clone();
    tampered.body = Some(br#"{"user_id":"usr_999","purpose":"x"}"#.to_vec());
    assert!(verify_prepared(&tampered, c.key())
        .unwrap_err()
        .starts_with("content_digest_mismatch"));
    let other = AgentKey::generate().unwrap();
    let e = signed.verify(&other.key_pair().public_key()).unwrap_err();
    assert_eq!(e.code(), "signature_invalid");
    let mut swapped = p.clone();
    for h in &mut swapped.headers {
        if h.0 == "Idempotency-Key" {
            h.1 = "idem-2".into();
        }
    }
    assert!(verify_prepared(&swapped, c.key())
        .unwrap_err()
        .starts_with("signature_invalid"));
}

#[test]
fn get_with_query_and_base_path_verifies() {
    let c = client("HTTP://LocalHost:80/purser/");
    assert_eq!(c.base_url(), "http://localhost/purser");
    let p = c
        .prepare(
            "GET",
            "/v1/agent/users/usr_1/funds?limit=10&x=%2F",
            None,
            None,
        )
        .unwrap();
    assert_eq!(
        p.url,
        "http://localhost/purser/v1/agent/users/usr_1/funds?limit=10&x=%2F"
    );
    assert_eq!(p.header("host"), Some("localhost"));
    assert_eq!(p.header("content-digest"), None);
    assert_eq!(p.header("idempotency-key"), None);
    assert_eq!(p.body, None);
    let signed = verify_prepared(&p, c.key()).unwrap();
    assert_eq!(
        signed.components,
        ["@method", "@authority", "@path", "@query"]
    );
    // The path is signed: another path does not verify.
    let e = verify_as_server(
        "GET",
        "/purser/v1/agent/users/usr_2/funds",
        Some("limit=10&x=%2F"),
        &p.headers,
        None,
        c.key(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "signature_invalid");
}

#[test]
fn nonces_differ_per_request() {
    let c = client("http://127.0.0.1:7420");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let p = c.prepare("GET", "/v1/agent/whoami", None, None).unwrap();
        let signed = verify_prepared(&p, c.key()).unwrap();
        assert_eq!(signed.nonce.len(), 22, "128 bits in base64url");
        assert!(seen.insert(signed.nonce), "a nonce repeated");
    }
    let keys: std::collections::HashSet<String> =
        (0..50).map(|_| idempotency_key().unwrap()).collect();
    assert_eq!(keys.len(), 50);
    for k in &keys {
        assert_eq!(k.len(), 36);
        assert_eq!(k.as_bytes()[14], b'4', "{k}");
    }
}

#[test]
fn prepare_refuses_targets_that_would_change_on_the_wire() {
    let c = client("http://127.0.0.1:7420");
    for bad in [
        "v1/agent/whoami",
        "/v1/../admin",
        "/v1/%2e%2E/admin",
        "/v1/./x",
        "/v1/a b",
        "/v1/ä",
        "/v1/x#frag",
        "/v1/x?q='1'",
        "/v1/%zz",
        "/v1/x?a=<b>",
    ] {
        let e = c.prepare("GET", bad, None, None).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{bad}: {e:?}");
    }
    assert!(matches!(
        c.prepare("get", "/v1/x", None, None).unwrap_err(),
        Error::InvalidInput(_)
    ));
    assert!(matches!(
        c.prepare("POST", "/v1/x", None, Some("has space"))
            .unwrap_err(),
        Error::InvalidInput(_)
    ));
    // An empty query is dropped, as on the wire.
    assert_eq!(split_target("/v1/x?").unwrap(), ("/v1/x", None));
    assert_eq!(encode_path_segment("usr_1 /ä"), "usr_1%20%2F%C3%A4");
}

#[test]
fn base_urls() {
    let ok = [
        ("http://127.0.0.1:7420", "127.0.0.1:7420", ""),
        ("http://127.0.0.1:7420/", "127.0.0.1:7420", ""),
        (
            "  http://Example.COM:080/api/v2/ ",
            "example.com",
            "/api/v2",
        ),
        ("http://[::1]:7420", "[::1]:7420", ""),
        ("http://[::1]", "[::1]", ""),
        ("http://localhost:443", "localhost:443", ""),
    ];
    for (input, authority, prefix) in ok {
        let b = BaseUrl::parse(input).unwrap();
        assert_eq!(
            (b.scheme, b.authority.as_str(), b.prefix.as_str()),
            ("http", authority, prefix),
            "{input}"
        );
    }
    for bad in [
        "127.0.0.1:7420",
        "ftp://x",
        "http://",
        "http://:80",
        "http://user@host",
        "http://host:port",
        "http://host:+80",
        "http://host:0",
        "http://host:70000",
        "http://host?x=1",
        "http://host/a b",
        "http://ho st",
        "http://[zz]",
    ] {
        assert!(
            matches!(BaseUrl::parse(bad), Err(Error::InvalidInput(_))),
            "{bad}"
        );
    }
    let https = BaseUrl::parse("https://pay.example:443");
    if cfg!(feature = "tls") {
        assert_eq!(https.unwrap().authority, "pay.example");
    } else {
        let e = https.unwrap_err().to_string();
        assert!(e.contains("`tls` feature"), "{e}");
    }
}

#[test]
fn errors_parse_from_purser_error_bodies() {
    let body = br#"{"type":"invalid_request","code":"signature_expired","message":"the signature expired at 10:00:00; sign each request when you send it","param":"Signature-Input"}"#;
    let e = Error::from_response(401, body, None);
    assert_eq!(e.code(), Some("signature_expired"));
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_retryable());
    assert_eq!(
        e,
        Error::Api {
            status: 401,
            code: "signature_expired".into(),
            message: "the signature expired at 10:00:00; sign each request when you send it".into(),
            param: Some("Signature-Input".into()),
            retry_after_secs: None,
        }
    );
    assert!(e.to_string().contains("HTTP 401, signature_expired"), "{e}");
    assert!(e.to_string().contains("[param: Signature-Input]"), "{e}");

    let busy = Error::from_response(
        409,
        br#"{"type":"invalid_request","code":"idempotency_in_flight","message":"still running"}"#,
        Some(" 2 "),
    );
    assert!(busy.is_retryable());
    assert!(matches!(
        busy,
        Error::Api {
            retry_after_secs: Some(2),
            param: None,
            ..
        }
    ));
    let conflict = Error::from_response(
        409,
        br#"{"type":"invalid_request","code":"binding_exists","message":"already asked"}"#,
        None,
    );
    assert!(!conflict.is_retryable());

    // A proxy's page is still an Api error with the status, and 502 is worth retrying.
    let proxy = Error::from_response(502, b"<html>\r\nBad Gateway</html>", None);
    assert_eq!(proxy.code(), Some("http_502"));
    assert!(proxy.is_retryable());
    assert!(
        proxy.to_string().contains("<html>  Bad Gateway</html>"),
        "{proxy}"
    );
    let empty = Error::from_response(503, b"", Some("soon"));
    assert!(
        matches!(&empty, Error::Api { retry_after_secs: None, message, .. } if message.contains("no Purser error body"))
    );

    assert!(Error::Transport("refused".into()).is_retryable());
    assert_eq!(Error::Transport("refused".into()).code(), None);
    assert!(!Error::Signing("x".into()).is_retryable());
}

#[test]
fn key_file_round_trip_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/agent.jwk");
    let key = AgentKey::generate().unwrap();
    key.save_to_file(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let loaded = AgentKey::load_from_file(&path).unwrap();
    assert_eq!(loaded.kid(), key.kid());
    assert_eq!(loaded.public_jwk(), key.public_jwk());
    assert_eq!(
        *loaded.to_private_jwk().unwrap(),
        *key.to_private_jwk().unwrap()
    );
    // The file is the private JWK; the public JWK has no private member.
    let text = std::fs::read_to_string(&path).unwrap();
    let jwk: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert!(jwk["d"].is_string());
    assert!(key.public_jwk().get("d").is_none());
    assert!(!format!("{key:?}").contains(jwk["d"].as_str().unwrap()));

    // Never overwritten.
    let e = AgentKey::generate()
        .unwrap()
        .save_to_file(&path)
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(AgentKey::load_from_file(&path).unwrap().kid(), key.kid());

    // load_or_create loads what is there, creates what is not.
    let (same, created) = AgentKey::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(same.kid(), key.kid());
    let fresh_path = dir.path().join("fresh.jwk");
    let (fresh, created) = AgentKey::load_or_create(&fresh_path).unwrap();
    assert!(created);
    assert_eq!(
        AgentKey::load_from_file(&fresh_path).unwrap().kid(),
        fresh.kid()
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AgentKey::load_from_file(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }

    let junk = dir.path().join("junk.jwk");
    std::fs::write(&junk, "not json").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let e = AgentKey::load_from_file(&junk).unwrap_err();
    assert!(matches!(e, Error::Key(_)));
    assert!(AgentKey::from_private_jwk(&key.public_jwk().to_string()).is_err());
}

/// The request a fake server received: head lines (request line first) and body.
type Received = (Vec<String>, Vec<u8>);

/// One HTTP/1.1 exchange on a local socket: returns the raw request (head lines and body)
/// and answers with `status` and `body`.
fn one_exchange(
    status_line: &'static str,
    extra_headers: &'static str,
    body: &'static str,
) -> (String, std::thread::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let len = lines
            .iter()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        let mut req_body = vec![0; len];
        reader.read_exact(&mut req_body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "{status_line}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        stream.flush().unwrap();
        (lines, req_body)
    });
    (format!("http://{addr}"), handle)
}

/// What actually goes over the socket verifies: the Host header ureq sends, the request
/// line's path and query, the body bytes.
#[test]
fn the_request_on_the_wire_verifies() {
    let (base, server) = one_exchange(
        "HTTP/1.1 201 Created",
        "",
        r#"{"id":"bnd_1","agent":{"id":"agt_1","name":"Shopper","operator":"ACME","status":"active"},"user_id":"usr_1","status":"pending","frozen":false,"funding_source":null,"purpose":"boots","created_at":"2026-01-01T00:00:00.000Z","new_field":1}"#,
    );
    let c = client(&base);
    let binding = c.request_binding("usr_1", "boots").unwrap();
    assert_eq!(binding.status, BindingStatus::Pending);
    assert!(!binding.is_usable());
    assert_eq!(binding.decided_at, None);

    let (lines, body) = server.join().unwrap();
    let (method, rest) = lines[0].split_once(' ').unwrap();
    let target = rest.rsplit_once(' ').unwrap().0;
    assert_eq!((method, target), ("POST", "/v1/agent/bindings"));
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let host = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    assert_eq!(host, 1, "exactly one Host header: {headers:?}");
    assert!(headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("idempotency-key") && v.len() == 36));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        json!({"user_id": "usr_1", "purpose": "boots"})
    );
    let signed = verify_as_server(method, target, None, &headers, Some(&body), c.key()).unwrap();
    assert!(signed.components.contains(&"content-digest".to_string()));
}

#[test]
fn api_errors_and_unreachable_servers() {
    let (base, server) = one_exchange(
        "HTTP/1.1 401 Unauthorized",
        "",
        r#"{"type":"invalid_request","code":"unknown_key","message":"no agent has this key; register it first"}"#,
    );
    let c = client(&base);
    let e = c.whoami().unwrap_err();
    assert_eq!(e.code(), Some("unknown_key"));
    assert_eq!(e.status(), Some(401));
    let (lines, _) = server.join().unwrap();
    assert_eq!(lines[0], "GET /v1/agent/whoami HTTP/1.1");

    // Redirects are not followed.
    let (base, server) = one_exchange(
        "HTTP/1.1 302 Found",
        "Location: http://elsewhere.example/\r\n",
        "",
    );
    let e = client(&base).whoami().unwrap_err();
    assert_eq!(e.code(), Some("http_302"));
    assert!(e.to_string().contains("elsewhere.example"), "{e}");
    server.join().unwrap();

    // 2xx that is not what whoami returns.
    let (base, server) = one_exchange("HTTP/1.1 200 OK", "", r#"{"hello":"world"}"#);
    let e = client(&base).whoami().unwrap_err();
    assert!(matches!(e, Error::Decode(_)), "{e:?}");
    server.join().unwrap();

    // Nothing listening.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client(&format!("http://127.0.0.1:{port}"))
        .whoami()
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
}

/// `interop/sign_request.py` (the `http-message-signatures` Python library) signs; Purser's
/// verifier checks it. Runs when PURSER_INTEROP_PYTHON names a Python with the library
/// (`.venv-interop/bin/python`), and says it skipped otherwise.
#[test]
fn python_signatures_verify_with_purser_verifier() {
    let Some(python) = std::env::var_os("PURSER_INTEROP_PYTHON") else {
        eprintln!(
            "skipped: set PURSER_INTEROP_PYTHON to a Python with interop/requirements.txt \
             installed to check signatures made by the Python library"
        );
        return;
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/sign_request.py");
    let dir = tempfile::tempdir().unwrap();
    let key = AgentKey::generate().unwrap();
    let key_path = dir.path().join("agent.jwk");
    key.save_to_file(&key_path).unwrap();

    let cases: [(&str, &str, Option<&str>); 3] = [
        ("GET", "http://127.0.0.1:7420/v1/agent/whoami", None),
        (
            "GET",
            "http://LOCALHOST:80/v1/agent/users/usr_1/funds?limit=5",
            None,
        ),
        (
            "POST",
            "http://127.0.0.1:7420/v1/agent/bindings",
            Some(r#"{"user_id": "usr_1", "purpose": "boots ¥800"}"#),
        ),
    ];
    for (method, url, body) in cases {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&script)
            .arg("--key")
            .arg(&key_path)
            .arg("--print-headers")
            .arg(method)
            .arg(url);
        if let Some(b) = body {
            cmd.arg("--body").arg(b);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{method} {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let headers: Vec<(String, String)> = printed["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let sent_body = printed["body"].as_str().map(|s| s.as_bytes().to_vec());
        assert_eq!(sent_body.as_deref(), body.map(str::as_bytes));
        let (path, query) = target_of(printed["url"].as_str().unwrap());
        let signed = verify_as_server(
            method,
            &path,
            query.as_deref(),
            &headers,
            sent_body.as_deref(),
            &key,
        )
        .unwrap_or_else(|e| panic!("{method} {url}: {}: {e}\n{printed:#}", e.code()));
        assert_eq!(signed.tag.as_deref(), Some("web-bot-auth"));

        // And a changed body or path is refused.
        if let Some(b) = &sent_body {
            let mut other = b.clone();
            other.push(b' ');
            let e =
                verify_as_server(method, &path, None, &headers, Some(&other), &key).unwrap_err();
            assert_eq!(e.code(), "content_digest_mismatch");
        } else {
            let e = verify_as_server(method, "/v1/other", query.as_deref(), &headers, None, &key)
                .unwrap_err();
            assert_eq!(e.code(), "signature_invalid");
        }
    }
}

/// The other direction: `interop/verify_request.py` (the Python library) verifies what the
/// SDK signs, and refuses it once a covered part changes. Runs when PURSER_INTEROP_PYTHON is
/// set, like the test above.
#[test]
fn sdk_signatures_verify_with_python_verifier() {
    let Some(python) = std::env::var_os("PURSER_INTEROP_PYTHON") else {
        eprintln!(
            "skipped: set PURSER_INTEROP_PYTHON to check SDK signatures with the Python library"
        );
        return;
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/verify_request.py");
    let dir = tempfile::tempdir().unwrap();
    let c = client("http://127.0.0.1:7420/base");
    let body = json!({"user_id": "usr_1", "purpose": "boots under ¥800"});
    let cases = [
        c.prepare("GET", "/v1/agent/whoami", None, None).unwrap(),
        c.prepare("GET", "/v1/agent/users/usr_1/funds?limit=5", None, None)
            .unwrap(),
        c.prepare("POST", "/v1/agent/bindings", Some(&body), Some("idem-7"))
            .unwrap(),
    ];
    let run = |doc: &serde_json::Value| {
        let path = dir.path().join("request.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for p in cases {
        let headers: serde_json::Map<String, serde_json::Value> = p
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        let doc = json!({
            "method": p.method,
            "url": p.url,
            "headers": headers,
            "body": p.body.as_ref().map(|b| String::from_utf8(b.clone()).unwrap()),
            "public_jwk": c.key().public_jwk(),
        });
        let (code, stdout) = run(&doc);
        assert_eq!(code, Some(0), "{} {}: {stdout}", p.method, p.url);
        assert!(stdout.starts_with("valid: label=sig1"), "{stdout}");
        assert!(stdout.contains(&format!("keyid={}", c.kid())), "{stdout}");

        let mut changed = doc.clone();
        changed["url"] = json!(p.url.replace("/v1/", "/v2/"));
        let (code, stdout) = run(&changed);
        assert_eq!(code, Some(1), "{stdout}");
        assert!(stdout.starts_with("invalid: "), "{stdout}");
        if p.body.is_some() {
            let mut changed = doc.clone();
            changed["body"] = json!(r#"{"user_id":"usr_2","purpose":"x"}"#);
            let (code, stdout) = run(&changed);
            assert_eq!(code, Some(1), "{stdout}");
            assert!(stdout.contains("Content-Digest"), "{stdout}");
        }
    }
}

// ---- where resource calls connect --------------------------------------------------------

/// A name that answers a public address to its first lookup and `then` (loopback) to every
/// later one: DNS rebinding.
struct Rebinding {
    lookups: std::sync::atomic::AtomicUsize,
    then: std::net::SocketAddr,
}

impl Lookup for Rebinding {
    fn lookup(&self, _host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let n = self
            .lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(if n == 0 {
            vec![std::net::SocketAddr::from(([93, 184, 215, 14], port))]
        } else {
            vec![self.then]
        })
    }
}

#[test]
fn public_only_checks_every_answer_it_gives() {
    let r = PublicOnly::with_lookup(Rebinding {
        lookups: Default::default(),
        then: "127.0.0.1:8080".parse().unwrap(),
    });
    // The public answer is what the connection would use; the loopback one is refused.
    assert_eq!(
        r.resolve("rebind.invalid", 8080).unwrap(),
        vec!["93.184.215.14:8080".parse().unwrap()]
    );
    let e = r.resolve("rebind.invalid", 8080).unwrap_err();
    assert_eq!(e.code(), Some("resource_address_private"), "{e}");
    assert_eq!(
        match &e {
            Error::Api { param, .. } => param.as_deref(),
            _ => None,
        },
        Some("url")
    );
    assert!(e.to_string().contains("127.0.0.1"), "{e}");

    // Literals (and localhost) need no network.
    let system = PublicOnly::new();
    for host in [
        "localhost",
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "192.168.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "240.0.0.1",
        "198.18.0.1",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a00:1",
        "64:ff9b:1::808:808",
        "2002:7f00:1::1",
        "2002:c0a8:101::1",
        "fec0::1",
        "::ffff:0:127.0.0.1",
        "192.0.0.8",
        "192.88.99.1",
    ] {
        let e = system.resolve(host, 80).expect_err(host);
        assert_eq!(e.code(), Some("resource_address_private"), "{host}: {e}");
    }
    for host in [
        "8.8.8.8",
        "2001:4860:4860::8888",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert!(system.resolve(host, 443).is_ok(), "{host}");
    }
    // ureq names IPv6 targets with brackets; the resolver gets the bare address.
    use crate::resolve::split_netloc;
    assert_eq!(split_netloc("[::1]:8080"), Some(("::1", 8080)));
    assert_eq!(split_netloc("example.com:443"), Some(("example.com", 443)));
    assert_eq!(split_netloc("example.com"), None);
}

/// Answers every host with one address, and records what it was asked.
struct Pinned {
    to: std::net::SocketAddr,
    asked: std::sync::Mutex<Vec<(String, u16)>>,
}

impl ResourceResolver for Pinned {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, Error> {
        self.asked.lock().unwrap().push((host.to_string(), port));
        Ok(vec![self.to])
    }
}

fn x402_opts() -> X402Options {
    X402Options {
        user_id: "usr_1".into(),
        mandate_id: "mdt_1".into(),
        task_id: "task_1".into(),
        max: Money::new(100, "CNY"),
        funding_source: None,
    }
}

#[test]
fn resource_calls_connect_only_where_the_resolver_said() {
    // The resource listens on loopback; the URL names a host no DNS answers, and another port.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim().to_string());
        }
        let mut s = s;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nsunny")
            .unwrap();
        head
    });
    let pinned = Arc::new(Pinned {
        to,
        asked: Default::default(),
    });
    let c = client("http://127.0.0.1:1").with_resource_resolver(pinned.clone());
    let r = c
        .x402_get("http://weather.invalid:4242/today", &x402_opts())
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, b"sunny".as_slice()));
    let head = server.join().unwrap();
    // The Host header (and a TLS name) stays the URL's; only the address came from the
    // resolver, asked once for the one connection.
    assert!(
        head.iter()
            .any(|l| l.eq_ignore_ascii_case("host: weather.invalid:4242")),
        "{head:?}"
    );
    assert_eq!(
        *pinned.asked.lock().unwrap(),
        vec![("weather.invalid".to_string(), 4242)]
    );

    // A refusal by the resolver comes back as it was made, and nothing is connected to.
    let refusing = client("http://127.0.0.1:1").with_resource_resolver(Arc::new(
        PublicOnly::with_lookup(Rebinding {
            lookups: std::sync::atomic::AtomicUsize::new(1),
            then: to,
        }),
    ));
    let e = refusing
        .x402_get("http://weather.invalid:4242/today", &x402_opts())
        .unwrap_err();
    assert_eq!(e.code(), Some("resource_address_private"), "{e}");
}
