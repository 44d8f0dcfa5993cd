//! The shop's HTTP client for Purser: who it is (`/v1/merchant/me`), an agent's public key
//! (`/v1/agent-keys/{kid}`), Purser's mandate-signing keys (`/.well-known/jwks.json`) and the
//! capture of a payment credential (`/v1/merchant/captures`). Blocking (ureq): call it off the
//! async runtime.

use std::time::Duration;

use serde_json::{json, Value};

/// Purser answers at once on a healthy network; five seconds to connect, thirty to answer (a
/// capture writes to the ledger before answering).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer other than 2xx, or no answer.
#[derive(Debug, Clone)]
pub enum PurserError {
    /// Purser answered with an error: its status, code and message (for a person).
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// No usable answer (network, timeout, not JSON): the outcome is unknown.
    Unreachable(String),
}

impl std::fmt::Display for PurserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PurserError::Refused {
                status,
                code,
                message,
            } => write!(f, "Purser answered {status} {code}: {message}"),
            PurserError::Unreachable(e) => write!(f, "Purser could not be reached: {e}"),
        }
    }
}

pub struct PurserApi {
    base: String,
    api_key: String,
    http: ureq::Agent,
}

impl std::fmt::Debug for PurserApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurserApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl PurserApi {
    pub fn new(base: &str, api_key: &str) -> PurserApi {
        PurserApi {
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            http: ureq::AgentBuilder::new()
                .timeout_connect(CONNECT_TIMEOUT)
                .timeout_read(READ_TIMEOUT)
                .timeout_write(READ_TIMEOUT)
                .redirects(0)
                .user_agent(concat!("purser-merchant/", env!("CARGO_PKG_VERSION")))
                .build(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<Value, PurserError> {
        match r {
            Ok(resp) => resp
                .into_json::<Value>()
                .map_err(|e| PurserError::Unreachable(format!("the answer is not JSON: {e}"))),
            Err(ureq::Error::Status(status, resp)) => {
                let v: Value = resp.into_json().unwrap_or(Value::Null);
                if status >= 500 {
                    return Err(PurserError::Unreachable(format!(
                        "Purser answered {status}: {}",
                        v["message"].as_str().unwrap_or("server error")
                    )));
                }
                Err(PurserError::Refused {
                    status,
                    code: v["code"].as_str().unwrap_or("error").to_string(),
                    message: v["message"]
                        .as_str()
                        .unwrap_or("Purser refused the request")
                        .to_string(),
                })
            }
            Err(e) => Err(PurserError::Unreachable(e.to_string())),
        }
    }

    /// The merchant the API key belongs to (`id`, `name`, `website`, `country`, `category`).
    pub fn me(&self) -> Result<Value, PurserError> {
        Self::answer(
            self.http
                .get(&format!("{}/v1/merchant/me", self.base))
                .set("Authorization", &format!("Bearer {}", self.api_key))
                .call(),
        )
    }

    /// A registered agent key by its thumbprint: `{kid, jwk, status, agent: {id, status, …}}`.
    pub fn agent_key(&self, kid: &str) -> Result<Value, PurserError> {
        let safe: String = kid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        Self::answer(
            self.http
                .get(&format!("{}/v1/agent-keys/{safe}", self.base))
                .call(),
        )
    }

    /// Purser's public signing keys (the root keys of its AP2 mandates).
    pub fn jwks(&self) -> Result<Value, PurserError> {
        Self::answer(
            self.http
                .get(&format!("{}/.well-known/jwks.json", self.base))
                .call(),
        )
    }

    /// Captures `amount` (minor units of `currency`) with the agent's credential, once per
    /// `idempotency_key`: Purser replays the first answer to a retry.
    pub fn capture(
        &self,
        credential: &str,
        amount: i64,
        currency: &str,
        checkout_id: &str,
        idempotency_key: &str,
    ) -> Result<Value, PurserError> {
        Self::answer(
            self.http
                .post(&format!("{}/v1/merchant/captures", self.base))
                .set("Authorization", &format!("Bearer {}", self.api_key))
                .set("Idempotency-Key", idempotency_key)
                .send_json(json!({
                    "credential": credential,
                    "amount": {"amount": amount, "currency": currency},
                    "checkout_id": checkout_id,
                })),
        )
    }

    /// One of this merchant's payments as Purser shows it to the merchant (`status`,
    /// `agent_id`, `checkout_id`, `captured`, …).
    pub fn payment(&self, payment_id: &str) -> Result<Value, PurserError> {
        let safe: String = payment_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        Self::answer(
            self.http
                .get(&format!("{}/v1/merchant/payments/{safe}", self.base))
                .set("Authorization", &format!("Bearer {}", self.api_key))
                .call(),
        )
    }

    /// Refunds `amount` of a captured payment, once per `idempotency_key`.
    pub fn refund(
        &self,
        payment_id: &str,
        amount: i64,
        currency: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<Value, PurserError> {
        let safe: String = payment_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        Self::answer(
            self.http
                .post(&format!(
                    "{}/v1/merchant/payments/{safe}/refunds",
                    self.base
                ))
                .set("Authorization", &format!("Bearer {}", self.api_key))
                .set("Idempotency-Key", idempotency_key)
                .send_json(json!({
                    "amount": {"amount": amount, "currency": currency},
                    "reason": reason,
                })),
        )
    }
}
