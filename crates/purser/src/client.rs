//! The CLI's HTTP client: every wallet, agent and key command talks to a running
//! `purser serve` through its REST API, so the CLI never bypasses a rule the server enforces.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

/// Where the server is, and who is asking.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Base URL of a running `purser serve`.
    #[arg(
        long,
        value_name = "URL",
        env = "PURSER_URL",
        default_value = "http://127.0.0.1:7420",
        global = true
    )]
    pub server: String,
    /// Your API token (pst_…); made by `purser user setup`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PURSER_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// Data directory of the server, to read the operator token from (operator commands).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "./purser-data",
        global = true
    )]
    pub data: PathBuf,
    /// Print the server's JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Who the request is sent as.
pub enum As {
    User,
    Operator,
    Nobody,
}

pub struct Client {
    args: ClientArgs,
    http: ureq::Agent,
}

/// Read timeout for CLI requests: a vault rotation over many cards can take a while.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl Client {
    pub fn new(args: ClientArgs) -> Client {
        let http = ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(5))
            .timeout_read(READ_TIMEOUT)
            .build();
        Client { args, http }
    }

    pub fn json(&self) -> bool {
        self.args.json
    }

    fn bearer(&self, who: As) -> Result<Option<String>, String> {
        match who {
            As::Nobody => Ok(None),
            As::User => self.args.token.clone().filter(|t| !t.trim().is_empty()).map(Some).ok_or_else(|| {
                "this command needs your API token: pass --token or set PURSER_TOKEN (get one with `purser user setup SETUP_TOKEN`)".to_string()
            }),
            As::Operator => {
                if let Ok(t) = std::env::var(purser_server::auth::TOKEN_ENV) {
                    return Ok(Some(t.trim().to_string()));
                }
                let path = self.args.data.join(purser_server::auth::TOKEN_FILE);
                std::fs::read_to_string(&path)
                    .map(|t| Some(t.trim().to_string()))
                    .map_err(|e| {
                        format!(
                            "this is an operator command and needs the operator token from {} ({e}); pass --data with the server's data directory or set {}",
                            path.display(),
                            purser_server::auth::TOKEN_ENV
                        )
                    })
            }
        }
    }

    /// GET a text answer (CSV, an evidence file) as it is.
    pub fn get_text(&self, who: As, path: &str) -> Result<String, String> {
        let url = format!("{}{path}", self.args.server.trim_end_matches('/'));
        let mut req = self.http.request("GET", &url);
        if let Some(t) = self.bearer(who)? {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(r) => r
                .into_string()
                .map_err(|e| format!("the server's answer could not be read: {e}")),
            Err(ureq::Error::Status(status, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                let msg = v["message"].as_str().unwrap_or("the server refused the request");
                let code = v["code"].as_str().unwrap_or("error");
                Err(format!("{msg} ({code}, HTTP {status})"))
            }
            Err(ureq::Error::Transport(t)) => Err(format!(
                "cannot reach Purser at {}: {t}; is `purser serve` running there? (set --server or PURSER_URL)",
                self.args.server
            )),
        }
    }

    /// Send a request; the JSON answer on success, a sentence (with the server's code) on
    /// failure.
    pub fn call(
        &self,
        who: As,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.args.server.trim_end_matches('/'));
        let mut req = self.http.request(method, &url);
        if let Some(t) = self.bearer(who)? {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        if method == "POST" {
            req = req.set("idempotency-key", &idempotency_key());
        }
        let resp = match body {
            Some(b) => req.send_json(b.clone()),
            None if method == "POST" => req.send_json(serde_json::json!({})),
            None => req.call(),
        };
        match resp {
            Ok(r) => r
                .into_json::<Value>()
                .map_err(|e| format!("the server's answer was not JSON: {e}")),
            Err(ureq::Error::Status(status, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                let msg = v["message"].as_str().unwrap_or("the server refused the request");
                let code = v["code"].as_str().unwrap_or("error");
                let param = v["param"].as_str().map(|p| format!(" [{p}]")).unwrap_or_default();
                Err(format!("{msg} ({code}, HTTP {status}){param}"))
            }
            Err(ureq::Error::Transport(t)) => Err(format!(
                "cannot reach Purser at {}: {t}; is `purser serve` running there? (set --server or PURSER_URL)",
                self.args.server
            )),
        }
    }
}

/// A fresh key per CLI invocation: retried HTTP attempts inside ureq reuse it, a new command
/// is a new request.
fn idempotency_key() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::getrandom(&mut b);
    format!("cli-{}", hex::encode(b))
}
