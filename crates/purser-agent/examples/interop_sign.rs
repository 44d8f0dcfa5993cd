//! Signs one request with the SDK, without sending it, and prints it as JSON for
//! `interop/verify_request.py` (an independent verifier: the `http-message-signatures`
//! Python library):
//!
//! ```text
//! cargo run -p purser-agent --example interop_sign -- \
//!     [--key KEY_FILE] [--base URL] [--body JSON] [--idempotency-key KEY] [METHOD] [PATH]
//!     > request.json
//! interop/verify_request.py request.json
//! ```
//!
//! Prints `{"method", "url", "headers": {…}, "body": "<the exact bytes sent>" | null,
//! "public_jwk": {…}}`. Without `--key` a fresh key is used; METHOD defaults to GET, PATH
//! to `/v1/agent/whoami`, URL to `http://127.0.0.1:7420`.

use purser_agent::{AgentKey, Client, Error};
use serde_json::{json, Map, Value};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<String, String> {
    let mut key_file: Option<String> = None;
    let mut base = "http://127.0.0.1:7420".to_string();
    let mut body: Option<Value> = None;
    let mut idempotency_key: Option<String> = None;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--key" => key_file = Some(value("--key")?),
            "--base" => base = value("--base")?,
            "--body" => {
                let text = value("--body")?;
                body = Some(
                    serde_json::from_str(&text).map_err(|e| format!("--body is not JSON: {e}"))?,
                );
            }
            "--idempotency-key" => idempotency_key = Some(value("--idempotency-key")?),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => positional.push(other.to_string()),
        }
    }
    let method = positional.first().map_or("GET", String::as_str);
    let path = positional.get(1).map_or("/v1/agent/whoami", String::as_str);
    if positional.len() > 2 {
        return Err("expected at most METHOD and PATH".to_string());
    }

    let key = match &key_file {
        Some(f) => AgentKey::load_from_file(f),
        None => AgentKey::generate(),
    }
    .map_err(|e: Error| e.to_string())?;
    let public_jwk = key.public_jwk();
    let client = Client::new(&base, key).map_err(|e| e.to_string())?;
    let prepared = client
        .prepare(method, path, body.as_ref(), idempotency_key.as_deref())
        .map_err(|e| e.to_string())?;

    let headers: Map<String, Value> = prepared
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    let body_text = match &prepared.body {
        Some(b) => Value::String(
            String::from_utf8(b.clone()).map_err(|_| "the body is not UTF-8".to_string())?,
        ),
        None => Value::Null,
    };
    let out = json!({
        "method": prepared.method,
        "url": prepared.url,
        "headers": headers,
        "body": body_text,
        "public_jwk": public_jwk,
    });
    serde_json::to_string_pretty(&out).map_err(|e| e.to_string())
}
