//! The signed HTTP client: every request gets a fresh nonce, `created` = now, a
//! Content-Digest when it has a body, and `Signature-Input` / `Signature` made with the
//! agent's key.

use crate::key::AgentKey;
use crate::random;
use crate::resolve::ResourceResolver;
use crate::target::{encode_path_segment, split_target, BaseUrl};
use crate::types::{AgentFunds, Binding, Payment, PaymentRequest, WhoAmI};
use crate::Error;
use purser_core::httpsig::{sign_request, RequestParts, SignParams};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long to wait for a TCP (and TLS) connection. A Purser server answers a connect at
/// once; five seconds covers a slow network without hanging an agent on a dead address.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for the server's answer (and to send the request). Payment decisions
/// write to disk before answering; thirty seconds covers a loaded server.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read. Agent API answers are a few KiB; 4 MiB bounds the memory a
/// misbehaving server or proxy can make the agent spend.
pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// The header that makes a POST safe to retry: the server runs it at most once per key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A request signed and ready to send, for callers that use their own HTTP client (or want
/// to see what the SDK sends). Send every header as given, including `Host`: the signature
/// covers the authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedRequest {
    pub method: String,
    pub url: String,
    /// `Host`, then `Content-Type` and `Content-Digest` (with a body), `Idempotency-Key`
    /// (when set), `Signature-Input`, `Signature`.
    pub headers: Vec<(String, String)>,
    /// The exact JSON bytes the Content-Digest was computed over.
    pub body: Option<Vec<u8>>,
}

impl PreparedRequest {
    /// The value of the first header named `name` (ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A Purser client acting as one agent.
///
/// Cheap to share by reference across threads (`&Client` is `Send + Sync`); connections are
/// pooled.
pub struct Client {
    base: BaseUrl,
    key: AgentKey,
    http: ureq::Agent,
    /// Where resource calls (x402) connect; the system's resolver when `None`.
    resources: Option<Arc<dyn ResourceResolver>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the Purser server at `base_url` (`http://127.0.0.1:7420`), signing with
    /// `key`, with the default timeouts. `https://` needs this crate's `tls` feature.
    pub fn new(base_url: &str, key: AgentKey) -> Result<Client, Error> {
        Client::with_timeouts(base_url, key, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    }

    /// As [`Client::new`], with other timeouts. `read` also bounds sending the request.
    pub fn with_timeouts(
        base_url: &str,
        key: AgentKey,
        connect: Duration,
        read: Duration,
    ) -> Result<Client, Error> {
        let base = BaseUrl::parse(base_url)?;
        let http = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout_read(read)
            .timeout_write(read)
            // Never follow a redirect: it would hand this signed request to another target,
            // which could replay it to Purser once within the signature's lifetime.
            .redirects(0)
            .user_agent(concat!("purser-agent/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            base,
            key,
            http,
            resources: None,
        })
    }

    /// Resolve the hosts of the resources this client calls (x402) with `resolver`: each
    /// connection to a resource asks it once and connects only to the addresses it returned,
    /// so the addresses it checked are the ones used. [`PublicOnly`](crate::PublicOnly)
    /// refuses resources on loopback, private and other non-public addresses. Calls to
    /// Purser itself are not affected.
    pub fn with_resource_resolver(mut self, resolver: Arc<dyn ResourceResolver>) -> Client {
        self.resources = Some(resolver);
        self
    }

    pub(crate) fn resource_resolver(&self) -> Option<Arc<dyn ResourceResolver>> {
        self.resources.clone()
    }

    /// The base URL, normalised (`http://127.0.0.1:7420`).
    pub fn base_url(&self) -> String {
        self.base.url("", None)
    }

    pub fn key(&self) -> &AgentKey {
        &self.key
    }

    /// The key id every request is signed with (the key's JWK thumbprint).
    pub fn kid(&self) -> String {
        self.key.kid()
    }

    /// `GET /v1/agent/whoami`: which agent this key belongs to, and its bindings. The first
    /// call to make: it checks the key is registered and the clocks agree.
    pub fn whoami(&self) -> Result<WhoAmI, Error> {
        self.typed("GET", "/v1/agent/whoami", None)
    }

    /// `POST /v1/agent/bindings`: ask the user `user_id` (`usr_…`, which they gave the agent)
    /// to let this agent act for them. The binding starts `pending`; nothing is allowed until
    /// the user approves it. `purpose` is shown to the user: say what the agent will do.
    pub fn request_binding(&self, user_id: &str, purpose: &str) -> Result<Binding, Error> {
        let body = serde_json::json!({"user_id": user_id, "purpose": purpose});
        self.typed("POST", "/v1/agent/bindings", Some(&body))
    }

    /// `GET /v1/agent/users/{user_id}/funds`: the money this agent may use for that user.
    pub fn funds(&self, user_id: &str) -> Result<AgentFunds, Error> {
        let path = format!("/v1/agent/users/{}/funds", encode_path_segment(user_id));
        self.typed("GET", &path, None)
    }

    /// `POST /v1/agent/payments`: ask to pay. The answer is the decision: approved (hand
    /// `credential.token` to the merchant), waiting for the person (show `confirmation.url`,
    /// then [`Client::wait_for_decision`]) or declined (`decline.code`). `idempotency_key`
    /// makes a retry safe: send the same key and request again after a timeout, never a new
    /// key for the same purchase.
    pub fn pay(&self, request: &PaymentRequest, idempotency_key: &str) -> Result<Payment, Error> {
        let body = serde_json::to_value(request).map_err(|e| Error::Decode(e.to_string()))?;
        let v = self.send_with_key("POST", "/v1/agent/payments", Some(&body), idempotency_key)?;
        serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `GET /v1/agent/payments/{id}`: a payment this agent asked for, as it stands now.
    pub fn payment(&self, id: &str) -> Result<Payment, Error> {
        let path = format!("/v1/agent/payments/{}", encode_path_segment(id));
        self.typed("GET", &path, None)
    }

    /// Poll a payment until the person has decided (or `timeout` passes, or the confirmation
    /// expires): returns it as it then stands. Polls every `every`.
    pub fn wait_for_decision(
        &self,
        id: &str,
        timeout: Duration,
        every: Duration,
    ) -> Result<Payment, Error> {
        let until = std::time::Instant::now() + timeout;
        loop {
            let p = self.payment(id)?;
            if !p.needs_confirmation() || std::time::Instant::now() >= until {
                return Ok(p);
            }
            std::thread::sleep(every);
        }
    }

    /// `GET /v1/agent/users/{user_id}/mandates`: the mandates that user gave this agent, each
    /// with its one-sentence summary and `usage` (spent, remaining budget and payments).
    pub fn mandates(&self, user_id: &str) -> Result<Value, Error> {
        let path = format!("/v1/agent/users/{}/mandates", encode_path_segment(user_id));
        self.send("GET", &path, None)
    }

    /// `POST /v1/agent/mandates/{id}/simulate`: would this purchase pass the mandate now?
    /// `purchase` is `{"amount": {"amount", "currency"}, "merchant"?, "items"?, "at"?}`; the
    /// answer's `outcome` is `allowed`, `needs_confirmation` or `declined`, with `failures`.
    /// Nothing is charged.
    pub fn simulate(&self, mandate_id: &str, purchase: &Value) -> Result<Value, Error> {
        let path = format!(
            "/v1/agent/mandates/{}/simulate",
            encode_path_segment(mandate_id)
        );
        self.send("POST", &path, Some(purchase))
    }

    /// `GET /v1/agent/payments`: this agent's payments, newest first (`limit` 1 to 100), with
    /// `totals` per currency; optionally for one user or one task.
    pub fn payments(
        &self,
        user_id: Option<&str>,
        task_id: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Value, Error> {
        let mut q = Vec::new();
        if let Some(u) = user_id {
            q.push(format!("user_id={}", encode_path_segment(u)));
        }
        if let Some(t) = task_id {
            q.push(format!("task_id={}", encode_path_segment(t)));
        }
        if let Some(n) = limit {
            q.push(format!("limit={n}"));
        }
        let path = if q.is_empty() {
            "/v1/agent/payments".to_string()
        } else {
            format!("/v1/agent/payments?{}", q.join("&"))
        };
        self.send("GET", &path, None)
    }

    /// Sends a signed request and returns the JSON answer (`null` for an empty 2xx body).
    /// `path_and_query` is relative to the base URL: `/v1/agent/whoami`, `/v1/x?limit=10`.
    /// A POST gets a fresh random `Idempotency-Key`; use [`Client::send_with_key`] to choose
    /// it (and to retry safely).
    pub fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let key = if method == "POST" {
            Some(random::idempotency_key()?)
        } else {
            None
        };
        let prepared = self.prepare(method, path_and_query, body, key.as_deref())?;
        self.execute(&prepared)
    }

    /// As [`Client::send`], with the `Idempotency-Key` given: send the same key (and body)
    /// again after a timeout or a retryable error and the server runs the request once.
    pub fn send_with_key(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
        idempotency_key: &str,
    ) -> Result<Value, Error> {
        let prepared = self.prepare(method, path_and_query, body, Some(idempotency_key))?;
        self.execute(&prepared)
    }

    /// Signs a request without sending it (fresh nonce, `created` = now).
    pub fn prepare(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<PreparedRequest, Error> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::InvalidInput(format!("the body cannot be encoded: {e}")))?;
        self.prepare_bytes(
            method,
            path_and_query,
            bytes,
            idempotency_key,
            now_secs()?,
            random::nonce()?,
        )
    }

    /// Signs a request whose JSON body is already encoded, at a given time and nonce (for
    /// tests and tools; [`Client::prepare`] is the usual entry).
    pub fn prepare_bytes(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
        created_secs: i64,
        nonce: String,
    ) -> Result<PreparedRequest, Error> {
        if method.is_empty() || !method.bytes().all(|c| c.is_ascii_uppercase()) {
            return Err(Error::InvalidInput(format!(
                "the method {method:?} must be an upper-case HTTP method such as GET or POST"
            )));
        }
        let (path, query) = split_target(path_and_query)?;
        let full_path = format!("{}{}", self.base.prefix, path);
        let body = body.filter(|b| !b.is_empty());
        let mut headers: Vec<(String, String)> = vec![("Host".into(), self.base.authority.clone())];
        if body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let mut params = SignParams::new(created_secs, nonce);
        if let Some(k) = idempotency_key {
            if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::InvalidInput(
                    "an Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is \
                     ideal)"
                        .to_string(),
                ));
            }
            headers.push((IDEMPOTENCY_KEY_HEADER.into(), k.to_string()));
            // Covered, so the key cannot be swapped in transit to defeat replay protection.
            params.extra_components.push("idempotency-key".into());
        }
        let parts = RequestParts {
            method,
            scheme: Some(self.base.scheme),
            authority: &self.base.authority,
            path: &full_path,
            query,
            headers: &headers,
        };
        let signed = sign_request(self.key.key_pair(), &parts, body.as_deref(), &params)
            .map_err(|e| Error::Signing(e.to_string()))?;
        if let Some(d) = signed.content_digest {
            headers.push(("Content-Digest".into(), d));
        }
        headers.push(("Signature-Input".into(), signed.signature_input));
        headers.push(("Signature".into(), signed.signature));
        Ok(PreparedRequest {
            method: method.to_string(),
            url: self.base.url(path, query),
            headers,
            body,
        })
    }

    /// Sends a prepared request. A prepared request can be sent only once: the server
    /// refuses a nonce it has seen (`nonce_reused`); prepare a new one to retry.
    pub fn execute(&self, prepared: &PreparedRequest) -> Result<Value, Error> {
        let mut req = self.http.request(&prepared.method, &prepared.url);
        for (name, value) in &prepared.headers {
            req = req.set(name, value);
        }
        let result = match &prepared.body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let retry_after = r.header("retry-after").map(str::to_string);
                let body = read_body(r)?;
                return Err(Error::from_response(status, &body, retry_after.as_deref()));
            }
            Err(ureq::Error::Transport(t)) => return Err(Error::Transport(t.to_string())),
        };
        let status = resp.status();
        if !(200..300).contains(&status) {
            // Redirects are not followed (see `with_timeouts`); anything but 2xx is an error.
            let location = resp.header("location").unwrap_or("").to_string();
            return Err(Error::Api {
                status,
                code: format!("http_{status}"),
                message: format!(
                    "the server answered HTTP {status}{}; signed requests are not redirected — \
                     point the client at the right base URL",
                    if location.is_empty() {
                        String::new()
                    } else {
                        format!(" (to {location})")
                    }
                ),
                param: None,
                retry_after_secs: None,
            });
        }
        let body = read_body(resp)?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| {
            Error::Decode(format!(
                "{} {} answered HTTP {status} with a body that is not JSON: {e}",
                prepared.method, prepared.url
            ))
        })
    }

    fn typed<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let value = self.send(method, path, body)?;
        serde_json::from_value(value).map_err(|e| {
            Error::Decode(format!(
                "{method} {path}: the answer does not have the expected fields ({e}); is the \
                 server a compatible Purser version?"
            ))
        })
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of a response body.
fn read_body(resp: ureq::Response) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    resp.into_reader()
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| Error::Transport(format!("reading the answer failed: {e}")))?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(Error::Decode(format!(
            "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    Ok(body)
}

/// Seconds since 1970 by the system clock.
fn now_secs() -> Result<i64, Error> {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Signing("the system clock is before 1970".to_string()))?;
    i64::try_from(d.as_secs())
        .map_err(|_| Error::Signing("the system clock is out of range".to_string()))
}
