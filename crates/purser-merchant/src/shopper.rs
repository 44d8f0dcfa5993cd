//! The agent's side of the shop's API: every request signed with the agent's key (the
//! `purser-agent` SDK's signer), with ACP's `API-Version` and an `Idempotency-Key` on each POST.

use purser_agent::{AgentKey, Client, Error};
use serde_json::{json, Value};

use crate::session::ACP_VERSION;

/// A signed client of one shop.
pub struct Shopper {
    client: Client,
    bearer: Option<String>,
}

impl std::fmt::Debug for Shopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopper")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Shopper {
    /// A client of the shop at `shop_url`, signing as `key`.
    pub fn new(shop_url: &str, key: AgentKey) -> Result<Shopper, Error> {
        Ok(Shopper {
            client: Client::new(shop_url, key)?,
            bearer: None,
        })
    }

    /// Sends `Authorization: Bearer <key>` (for a shop started with a checkout API key).
    pub fn with_bearer(mut self, key: &str) -> Shopper {
        self.bearer = Some(key.to_string());
        self
    }

    /// A signed request with ACP headers; `idempotency_key` on POSTs.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Error> {
        let mut prepared = self.client.prepare(method, path, body, idempotency_key)?;
        prepared
            .headers
            .push(("API-Version".into(), ACP_VERSION.into()));
        if let Some(b) = &self.bearer {
            prepared
                .headers
                .push(("Authorization".into(), format!("Bearer {b}")));
        }
        self.client.execute(&prepared)
    }

    /// `GET /products?q=…&max_price=…&category=…&sort=…` (empty values are left out).
    pub fn search(
        &self,
        q: &str,
        category: Option<&str>,
        max_price: Option<i64>,
        sort: Option<&str>,
    ) -> Result<Value, Error> {
        let mut params = Vec::new();
        if !q.is_empty() {
            params.push(format!("q={}", encode(q)));
        }
        if let Some(c) = category {
            params.push(format!("category={}", encode(c)));
        }
        if let Some(m) = max_price {
            params.push(format!("max_price={m}"));
        }
        if let Some(s) = sort {
            params.push(format!("sort={}", encode(s)));
        }
        let path = if params.is_empty() {
            "/products".to_string()
        } else {
            format!("/products?{}", params.join("&"))
        };
        self.send("GET", &path, None, None)
    }

    /// `POST /checkout_sessions` for `(product id, quantity)` lines, shipped to `fulfillment`.
    pub fn create(
        &self,
        items: &[(&str, i64)],
        fulfillment: Option<&Value>,
        idempotency_key: &str,
    ) -> Result<Value, Error> {
        let lines: Vec<Value> = items
            .iter()
            .map(|(id, q)| json!({"id": id, "quantity": q}))
            .collect();
        let mut body = json!({"currency": "cny", "line_items": lines, "capabilities": {}});
        if let Some(f) = fulfillment {
            body["fulfillment_details"] = f.clone();
        }
        self.send(
            "POST",
            "/checkout_sessions",
            Some(&body),
            Some(idempotency_key),
        )
    }

    /// `POST /checkout_sessions/{id}` with an ACP update body.
    pub fn update(&self, id: &str, body: &Value, idempotency_key: &str) -> Result<Value, Error> {
        self.send(
            "POST",
            &format!("/checkout_sessions/{}", encode(id)),
            Some(body),
            Some(idempotency_key),
        )
    }

    /// `GET /checkout_sessions/{id}`
    pub fn get(&self, id: &str) -> Result<Value, Error> {
        self.send(
            "GET",
            &format!("/checkout_sessions/{}", encode(id)),
            None,
            None,
        )
    }

    /// The completion body for a Purser credential (`pct_…` or `vt_…`), with the agent's
    /// closed AP2 checkout mandate when it has one.
    pub fn complete_body(credential: &str, checkout_mandate: Option<&str>) -> Value {
        let handler = if credential.starts_with("vt_") {
            "purser_vault_token"
        } else {
            "purser_credential"
        };
        let mut body = json!({"payment_data": {"handler_id": handler, "instrument": {
            "type": "purser_credential", "credential": {"type": handler, "token": credential}}}});
        if let Some(m) = checkout_mandate {
            body["ap2"] = json!({"checkout_mandate": m});
        }
        body
    }

    /// `POST /checkout_sessions/{id}/complete`: pay with the credential Purser issued.
    pub fn complete(
        &self,
        id: &str,
        credential: &str,
        checkout_mandate: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Value, Error> {
        self.send(
            "POST",
            &format!("/checkout_sessions/{}/complete", encode(id)),
            Some(&Shopper::complete_body(credential, checkout_mandate)),
            Some(idempotency_key),
        )
    }

    /// `POST /checkout_sessions/{id}/cancel`
    pub fn cancel(&self, id: &str, idempotency_key: &str) -> Result<Value, Error> {
        self.send(
            "POST",
            &format!("/checkout_sessions/{}/cancel", encode(id)),
            Some(&json!({})),
            Some(idempotency_key),
        )
    }
}
