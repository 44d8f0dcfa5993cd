//! Paying HTTP 402 resources (x402 v2) through Purser.
//!
//! [`Client::x402_get`] / [`Client::x402_post`] call a resource. When it answers 402 with
//! `PAYMENT-REQUIRED`, the SDK picks the requirement on *this* Purser's network (learned from
//! `GET /x402/supported`) in the caller's currency, refuses anything above the caller's
//! maximum without asking Purser, and asks Purser for an ordinary payment under the mandate
//! (merchant = `payTo`, one item = the resource URL). Only an `approved` decision is paid
//! automatically: a decision that needs the person's confirmation, or a decline (above the
//! mandate's limits, budget spent, …), is returned as an error and nothing is sent to the
//! resource. Then it signs the requirements with the agent key, retries with
//! `PAYMENT-SIGNATURE`, and returns the body with the decoded `PAYMENT-RESPONSE`.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use purser_x402::header::{self, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE};
use purser_x402::purser::{self as scheme, PurserAuthorization, PurserPayload};
use purser_x402::types::{
    PaymentPayload, PaymentRequirements, ResourceInfo, SettleResponse, SupportedResponse,
    X402_VERSION,
};

use crate::client::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, MAX_RESPONSE_BYTES};
use crate::resolve::{split_netloc, ResourceResolver};
use crate::types::{LineItem, MerchantRef, Money, Payment, PaymentRequest};
use crate::{random, Client, Error};

/// Shortest and longest credential lifetime Purser grants (seconds).
const MIN_CREDENTIAL_TTL: u64 = 60;
const MAX_CREDENTIAL_TTL: u64 = 86_400;

/// Who pays, under which mandate, and the most the caller lets one call cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X402Options {
    /// The person paid for (`usr_…`).
    pub user_id: String,
    /// The mandate the payments rely on (`mdt_…`).
    pub mandate_id: String,
    /// Groups the calls in the person's timeline.
    pub task_id: String,
    /// The most one call may cost, in minor units, and the only currency paid. The mandate
    /// may allow less; it is never exceeded either.
    pub max: Money,
    /// `wallet` or an exclusive card (`ecd_…`); default: as the binding says.
    pub funding_source: Option<String>,
}

/// What paying a call cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X402Paid {
    /// The requirement paid.
    pub requirements: PaymentRequirements,
    /// Purser's decision (approved), with its signed receipt.
    pub payment: Payment,
    /// The decoded `PAYMENT-RESPONSE`: `transaction` is the Purser payment id; `amount` what
    /// was charged (for `upto`, what was used).
    pub settlement: SettleResponse,
}

/// A resource's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X402Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// `None` when the resource did not ask for payment.
    pub paid: Option<X402Paid>,
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    required: Option<String>,
    response: Option<String>,
    body: Vec<u8>,
}

fn refused(status: u16, code: &str, message: String) -> Error {
    Error::Api {
        status,
        code: code.to_string(),
        message,
        param: None,
        retry_after_secs: None,
    }
}

impl Client {
    /// `GET /x402/supported` of this Purser.
    pub fn x402_supported(&self) -> Result<SupportedResponse, Error> {
        let v = self.send("GET", "/x402/supported", None)?;
        serde_json::from_value(v).map_err(|e| Error::Decode(format!("GET /x402/supported: {e}")))
    }

    /// This Purser's x402 network id (`purser:…`).
    pub fn x402_network(&self) -> Result<String, Error> {
        self.x402_supported()?
            .kinds
            .into_iter()
            .find(|k| k.x402_version == X402_VERSION && scheme::is_purser_network(&k.network))
            .map(|k| k.network)
            .ok_or_else(|| Error::Decode("this Purser lists no x402 network".into()))
    }

    /// GET `url`, paying through Purser if it answers 402 (see the module docs).
    pub fn x402_get(&self, url: &str, opts: &X402Options) -> Result<X402Response, Error> {
        self.x402_request("GET", url, None, opts)
    }

    /// POST `body` (JSON) to `url`, paying through Purser if it answers 402.
    pub fn x402_post(
        &self,
        url: &str,
        body: &serde_json::Value,
        opts: &X402Options,
    ) -> Result<X402Response, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("the body cannot be encoded: {e}")))?;
        self.x402_request("POST", url, Some(&bytes), opts)
    }

    /// Call `url` with `method` (and a JSON `body`), paying through Purser on a 402.
    pub fn x402_request(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        opts: &X402Options,
    ) -> Result<X402Response, Error> {
        if opts.max.amount <= 0 || opts.max.currency.len() != 3 {
            return Err(Error::InvalidInput(
                "X402Options.max must be a positive amount in minor units and an ISO 4217 code"
                    .into(),
            ));
        }
        let resolver = self.resource_resolver();
        let first = call(method, url, body, None, resolver.as_ref())?;
        if first.status != 402 {
            return Ok(X402Response {
                status: first.status,
                content_type: first.content_type,
                body: first.body,
                paid: None,
            });
        }
        let h = first.required.ok_or_else(|| {
            refused(402, "x402_header_missing", format!("{url:.200} answered 402 without a PAYMENT-REQUIRED header, so there is nothing to pay"))
        })?;
        let required = header::decode_payment_required(h.as_bytes()).map_err(|e| {
            refused(
                402,
                "x402_header_invalid",
                format!("{url:.200}: {}", e.message),
            )
        })?;
        let network = self.x402_network()?;
        let ours: Vec<&PaymentRequirements> = required
            .accepts
            .iter()
            .filter(|r| r.network == network && scheme::check_requirements(r).is_ok())
            .collect();
        if ours.is_empty() {
            return Err(refused(402, "x402_no_purser_requirement", format!(
                "{url:.200} does not accept payment through this Purser (network {network}); it offers: {}",
                required.accepts.iter().map(|r| format!("{} on {}", r.scheme, r.network)).collect::<Vec<_>>().join(", ")
            )));
        }
        let chosen = ours
            .iter()
            .filter(|r| r.asset == opts.max.currency)
            .filter_map(|r| scheme::parse_amount(&r.amount).ok().map(|a| (a, *r)))
            .filter(|(a, _)| *a > 0 && *a <= opts.max.amount)
            .min_by_key(|(a, r)| (*a, r.scheme != scheme::SCHEME_EXACT));
        let Some((amount, chosen)) = chosen else {
            let asks = ours
                .iter()
                .map(|r| format!("{} {} ({})", r.amount, r.asset, r.scheme))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(refused(402, "x402_above_maximum", format!(
                "{url:.200} asks {asks} (minor units); you allowed at most {} {} per call, so nothing was paid",
                opts.max.amount, opts.max.currency
            )));
        };
        // The resource URL becomes the item the person sees: it must be on the origin
        // actually called, so a server cannot title the payment as someone else's resource.
        let resource = match required.resource.as_ref() {
            None => url.to_string(),
            Some(r) if same_origin(&r.url, url) => r.url.clone(),
            Some(r) => {
                return Err(refused(402, "x402_resource_origin_mismatch", format!(
                    "{url:.200} asked to be paid for {:.200}, which is on another origin; nothing was paid",
                    r.url
                )))
            }
        };
        if resource.chars().count() > scheme::MAX_RESOURCE_URL_CHARS {
            return Err(refused(402, "x402_resource_url_too_long", format!(
                "the resource URL is longer than {} characters; Purser shows it to the person as the item bought",
                scheme::MAX_RESOURCE_URL_CHARS
            )));
        }
        let nonce = random::nonce()?;
        let ttl = chosen
            .max_timeout_seconds
            .clamp(MIN_CREDENTIAL_TTL, MAX_CREDENTIAL_TTL);
        let request = PaymentRequest {
            user_id: opts.user_id.clone(),
            task_id: opts.task_id.clone(),
            mandate_id: opts.mandate_id.clone(),
            ap2: None,
            merchant: MerchantRef {
                id: chosen.pay_to.clone(),
                ..MerchantRef::default()
            },
            items: vec![LineItem {
                id: Some(scheme::item_id(&chosen.scheme, &nonce)),
                title: scheme::item_title(&resource).to_string(),
                quantity: 1,
                unit_price: Money::new(amount, &chosen.asset),
            }],
            shipping: None,
            total: Money::new(amount, &chosen.asset),
            checkout_id: None,
            funding_source: opts.funding_source.clone(),
            credential_ttl_seconds: i64::try_from(ttl).ok(),
        };
        let payment = self.pay(&request, &format!("x402-{nonce}"))?;
        let token = match (payment.status.as_str(), &payment.credential) {
            ("approved", Some(c)) if c.token.is_some() => c.token.clone().unwrap_or_default(),
            ("needs_confirmation", _) => {
                return Err(refused(402, "x402_needs_confirmation", format!(
                    "paying {} {} for {resource:.200} needs the person's confirmation under this mandate (payment {}); it was not paid automatically",
                    amount, chosen.asset, payment.id
                )))
            }
            _ => {
                let (code, why) = payment
                    .decline
                    .as_ref()
                    .map(|d| (d.code.clone(), d.message.clone()))
                    .unwrap_or_else(|| ("x402_not_approved".into(), format!("the payment is {}", payment.status)));
                return Err(refused(402, &code, format!(
                    "Purser declined paying {amount} {} for {resource:.200}: {why}", chosen.asset
                )));
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::Signing("the system clock is before 1970".into()))?
            .as_secs();
        let authorization = PurserAuthorization {
            payment_id: payment.id.clone(),
            resource: resource.clone(),
            nonce,
            valid_after: now.to_string(),
            valid_before: now.saturating_add(chosen.max_timeout_seconds).to_string(),
            keyid: self.kid(),
        };
        let signature = self
            .key()
            .key_pair()
            .sign(&scheme::signing_input(chosen, &authorization))
            .map_err(|e| Error::Signing(e.to_string()))?;
        let payload = PaymentPayload {
            x402_version: X402_VERSION,
            // Always named: the facilitator refuses a payment that does not say its resource.
            resource: Some(required.resource.clone().unwrap_or(ResourceInfo {
                url: resource.clone(),
                description: None,
                mime_type: None,
            })),
            accepted: chosen.clone(),
            payload: serde_json::to_value(PurserPayload {
                credential: token,
                authorization,
                signature: URL_SAFE_NO_PAD.encode(signature),
            })
            .map_err(|e| Error::Decode(e.to_string()))?,
            extensions: None,
        };
        let signed = header::encode(&payload).map_err(|e| Error::Signing(e.message))?;
        let second = call(method, url, body, Some(&signed), resolver.as_ref())?;
        let settlement = second
            .response
            .as_deref()
            .map(|h| header::decode_payment_response(h.as_bytes()));
        match settlement {
            Some(Ok(s)) if s.success && (200..300).contains(&second.status) => Ok(X402Response {
                status: second.status,
                content_type: second.content_type,
                body: second.body,
                paid: Some(X402Paid {
                    requirements: chosen.clone(),
                    payment,
                    settlement: s,
                }),
            }),
            Some(Err(e)) => Err(refused(second.status, "x402_header_invalid", e.message)),
            other => {
                let reason = match other {
                    Some(Ok(s)) => s.error_reason.unwrap_or_else(|| "settlement_failed".into()),
                    _ => second
                        .required
                        .as_deref()
                        .and_then(|h| header::decode_payment_required(h.as_bytes()).ok())
                        .and_then(|r| r.error)
                        .unwrap_or_else(|| format!("HTTP {}", second.status)),
                };
                Err(refused(second.status, "x402_payment_refused", format!(
                    "{url:.200} did not accept the payment ({reason}); Purser payment {} was not captured and its hold is released when its credential expires",
                    payment.id
                )))
            }
        }
    }
}

/// `scheme://host[:port]` of a URL, lower-cased; `None` when it has no scheme or host.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials before `@` are not part of the origin.
    let host = authority.rsplit('@').next().unwrap_or_default();
    if scheme.is_empty() || host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}").to_ascii_lowercase())
}

/// Whether two URLs share one origin.
fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

/// One plain HTTP call to the resource (not signed: the resource is not Purser). With a
/// `resolver`, the connection goes only to the addresses it returns for the URL's host.
fn call(
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    payment: Option<&str>,
    resolver: Option<&Arc<dyn ResourceResolver>>,
) -> Result<Answer, Error> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::InvalidInput(format!(
            "{url:.200} is not an http(s) URL"
        )));
    }
    let mut http = ureq::AgentBuilder::new()
        .timeout_connect(DEFAULT_CONNECT_TIMEOUT)
        .timeout_read(DEFAULT_READ_TIMEOUT)
        .timeout_write(DEFAULT_READ_TIMEOUT)
        // A redirect would carry the payment to another target.
        .redirects(0)
        .user_agent(concat!("purser-agent/", env!("CARGO_PKG_VERSION")));
    if let Some(r) = resolver.cloned() {
        // ureq connects to what this returns (the Host header and TLS name stay the URL's).
        http = http.resolver(move |netloc: &str| -> std::io::Result<Vec<SocketAddr>> {
            let (host, port) = split_netloc(netloc).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no host:port to resolve")
            })?;
            r.resolve(host, port)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))
        });
    }
    let http = http.build();
    let mut req = http.request(method, url);
    if let Some(p) = payment {
        req = req.set(PAYMENT_SIGNATURE, p);
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            // The resolver's own refusal (a private address, say) is returned as it was made.
            let refusal = std::error::Error::source(&t)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .and_then(|io| io.get_ref())
                .and_then(|e| e.downcast_ref::<Error>());
            return Err(match refusal {
                Some(e) => e.clone(),
                None => Error::Transport(format!("{url:.200}: {t}")),
            });
        }
    };
    let header = |n: &str| resp.header(n).map(str::to_string);
    let (status, content_type, required, response) = (
        resp.status(),
        header("content-type"),
        header(PAYMENT_REQUIRED),
        header(PAYMENT_RESPONSE),
    );
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Transport(format!("reading {url:.200} failed: {e}")))?;
    if bytes.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(Error::Decode(format!(
            "{url:.200} answered with more than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    Ok(Answer {
        status,
        content_type,
        required,
        response,
        body: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_exactly() {
        assert!(same_origin(
            "http://127.0.0.1:8080/a?x=1",
            "http://127.0.0.1:8080/b"
        ));
        assert!(same_origin(
            "HTTPS://Api.Example.com/a",
            "https://api.example.com"
        ));
        assert!(!same_origin(
            "https://evil.example/a",
            "https://api.example.com/a"
        ));
        assert!(!same_origin(
            "http://api.example.com/a",
            "https://api.example.com/a"
        ));
        assert!(!same_origin(
            "https://api.example.com:444/a",
            "https://api.example.com/a"
        ));
        assert!(!same_origin(
            "https://api.example.com.evil/a",
            "https://api.example.com/a"
        ));
        assert!(!same_origin("/relative", "/relative"));
        assert_eq!(
            origin("https://u:p@h.example/x"),
            Some("https://h.example".into())
        );
    }
}
