//! The demo's people talk to Purser the way any client does: JSON over HTTP with their own
//! bearer token (or none, as a phone opening a link). Errors come back as the sentence the
//! server wrote, with its code.

use serde_json::Value;

pub struct Http {
    base: String,
    agent: ureq::Agent,
}

/// An answer: status and JSON body (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The body of a 2xx answer, else the server's sentence as an error.
    pub fn ok(self, what: &str) -> Result<Value, String> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(format!(
            "{what}: HTTP {} {} ({})",
            self.status,
            self.body["message"].as_str().unwrap_or(&self.text),
            self.body["code"].as_str().unwrap_or("no code")
        ))
    }
}

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(std::time::Duration::from_secs(5))
                .timeout_read(std::time::Duration::from_secs(60))
                .redirects(0)
                .build(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A JSON request; POSTs carry a fresh Idempotency-Key.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        if method == "POST" {
            req = req.set("idempotency-key", &crate::demo::fresh("demo"));
        }
        let resp = match body {
            Some(b) => req.send_json(b.clone()),
            None if method == "POST" => req.send_json(serde_json::json!({})),
            None => req.call(),
        };
        answer(resp, &self.base)
    }

    /// A form post, as a browser sends it from the page it opened: the page's CSRF cookie and
    /// its token in the form.
    pub fn form(&self, path: &str, fields: &[(&str, &str)]) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let page = match self.agent.get(&url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                return Err(format!("cannot reach {}: {t}", self.base))
            }
        };
        let cookie = page
            .all("set-cookie")
            .iter()
            .filter_map(|c| c.split(';').next())
            .find(|c| c.starts_with("purser-csrf=") || c.starts_with("__Host-purser-csrf="))
            .unwrap_or_default()
            .to_string();
        let text = page
            .into_string()
            .map_err(|e| format!("reading {path}: {e}"))?;
        let token = text
            .split("name=\"purser-csrf\" content=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or_default()
            .to_string();
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        let resp = self.agent.post(&url).set("cookie", &cookie).send_form(&all);
        answer(resp, &self.base)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Result<Answer, String> {
        self.call("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Result<Answer, String> {
        self.call("POST", path, token, Some(body))
    }
}

fn answer(resp: Result<ureq::Response, ureq::Error>, base: &str) -> Result<Answer, String> {
    let r = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => return Err(format!("cannot reach {base}: {t}")),
    };
    let status = r.status();
    let text = r
        .into_string()
        .map_err(|e| format!("reading the answer from {base}: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, body, text })
}
