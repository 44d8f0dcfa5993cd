//! The three x402 v2 HTTP headers: base64 (standard alphabet, padded) of a JSON object.
//!
//! Decoding is bounded and strict: at most [`MAX_HEADER_BYTES`] of header text, canonical
//! base64, UTF-8 JSON with a single top-level object of the expected type (duplicate or, for
//! the types Purser receives, unknown members refused), and `x402Version` 2. Every failure is a
//! [`HeaderError`] with a stable code and a sentence; nothing here panics.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{PaymentPayload, PaymentRequired, SettleResponse, X402_VERSION};

/// `PAYMENT-REQUIRED`: server → client, with the 402.
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// `PAYMENT-SIGNATURE`: client → server, the payment.
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
/// `PAYMENT-RESPONSE`: server → client, the settlement.
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";

/// Longest header value decoded. A Purser payment payload is about 1.5 KiB of base64 and a
/// 402 with a handful of requirements a few KiB; 16 KiB is what common proxies accept for a
/// single header, and bounds the memory and parsing work an attacker can ask for.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why a header could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    /// `header_too_large`, `header_not_base64`, `header_not_json`, `header_invalid`,
    /// `unsupported_x402_version`.
    pub code: &'static str,
    /// For a person; names the header and what to send instead.
    pub message: String,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for HeaderError {}

fn err(code: &'static str, message: String) -> HeaderError {
    HeaderError { code, message }
}

/// Base64 of the JSON of `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<String, HeaderError> {
    let json = serde_json::to_vec(value).map_err(|e| {
        err(
            "header_invalid",
            format!("the value cannot be encoded: {e}"),
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(json))
}

/// Reads the header `name` holding a `T`. `name` is only used in messages.
pub fn decode<T: DeserializeOwned>(name: &str, value: &[u8]) -> Result<T, HeaderError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(err(
            "header_too_large",
            format!(
                "the {name} header is {} bytes; at most {MAX_HEADER_BYTES} are accepted",
                value.len()
            ),
        ));
    }
    let text = value.trim_ascii();
    if text.is_empty() {
        return Err(err(
            "header_not_base64",
            format!("the {name} header is empty; send base64-encoded JSON"),
        ));
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            err(
                "header_not_base64",
                format!(
                    "the {name} header is not standard base64 (A–Z a–z 0–9 + /, padded with =) of a JSON object"
                ),
            )
        })?;
    let parsed: serde_json::Value = serde_json::from_slice(&json).map_err(|e| {
        err(
            "header_not_json",
            format!(
                "the {name} header decodes to text that is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !parsed.is_object() {
        return Err(err(
            "header_invalid",
            format!("the {name} header must hold a JSON object"),
        ));
    }
    match parsed.get("x402Version") {
        Some(v) if v.as_u64() == Some(u64::from(X402_VERSION)) => {}
        Some(_) => {
            return Err(err(
                "unsupported_x402_version",
                format!(
                "the {name} header is for another x402 version; this server speaks x402Version 2"
            ),
            ))
        }
        None if name != PAYMENT_RESPONSE => {
            return Err(err(
                "header_invalid",
                format!("the {name} header has no x402Version (this server speaks version 2)"),
            ))
        }
        None => {}
    }
    // Re-read from the bytes, not the Value: serde's derive then refuses duplicate members.
    serde_json::from_slice(&json).map_err(|e| {
        err(
            "header_invalid",
            format!(
                "the {name} header is not a valid x402 message: {}",
                field_hint(&e)
            ),
        )
    })
}

/// serde's message minus positions: "missing field `accepted`", "unknown field `foo`", ….
fn field_hint(e: &serde_json::Error) -> String {
    let t = e.to_string();
    match t.find(" at line ") {
        Some(i) => t[..i].to_string(),
        None => t,
    }
}

/// Decode `PAYMENT-REQUIRED`.
pub fn decode_payment_required(value: &[u8]) -> Result<PaymentRequired, HeaderError> {
    let p: PaymentRequired = decode(PAYMENT_REQUIRED, value)?;
    if p.accepts.is_empty() {
        return Err(err(
            "header_invalid",
            "the PAYMENT-REQUIRED header lists no way to pay (accepts is empty)".into(),
        ));
    }
    Ok(p)
}

/// Decode `PAYMENT-SIGNATURE`.
pub fn decode_payment_signature(value: &[u8]) -> Result<PaymentPayload, HeaderError> {
    decode(PAYMENT_SIGNATURE, value)
}

/// Decode `PAYMENT-RESPONSE`.
pub fn decode_payment_response(value: &[u8]) -> Result<SettleResponse, HeaderError> {
    decode(PAYMENT_RESPONSE, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{PaymentRequirements, ResourceInfo};

    fn required() -> PaymentRequired {
        PaymentRequired {
            x402_version: 2,
            error: Some("PAYMENT-SIGNATURE header is required".into()),
            resource: Some(ResourceInfo {
                url: "http://127.0.0.1:9/weather".into(),
                description: Some("Weather".into()),
                mime_type: Some("application/json".into()),
            }),
            accepts: vec![PaymentRequirements {
                scheme: "exact".into(),
                network: "purser:0123456789abcdef".into(),
                amount: "150".into(),
                asset: "CNY".into(),
                pay_to: "mch_abc".into(),
                max_timeout_seconds: 120,
                extra: None,
            }],
            extensions: None,
        }
    }

    #[test]
    fn payment_required_round_trips_with_spec_field_names() {
        let r = required();
        let h = encode(&r).unwrap();
        let json = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&h)
                .unwrap(),
        )
        .unwrap();
        for name in [
            "\"x402Version\":2",
            "\"accepts\"",
            "\"payTo\"",
            "\"maxTimeoutSeconds\"",
            "\"mimeType\"",
            "\"amount\":\"150\"",
        ] {
            assert!(json.contains(name), "{name} missing from {json}");
        }
        assert_eq!(decode_payment_required(h.as_bytes()).unwrap(), r);
    }

    #[test]
    fn decodes_the_specifications_example() {
        // The 402 example of the x402 v2 HTTP transport specification.
        let h = "eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQQVlNRU5ULVNJR05BVFVSRSBoZWFkZXIgaXMgcmVxdWlyZWQiLCJyZXNvdXJjZSI6eyJ1cmwiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9wcmVtaXVtLWRhdGEiLCJkZXNjcmlwdGlvbiI6IkFjY2VzcyB0byBwcmVtaXVtIG1hcmtldCBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAwIiwiYXNzZXQiOiIweDAzNkNiRDUzODQyYzU0MjY2MzRlNzkyOTU0MWVDMjMxOGYzZENGN2UiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsIm1heFRpbWVvdXRTZWNvbmRzIjo2MCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19";
        let r = decode_payment_required(h.as_bytes()).unwrap();
        assert_eq!(r.accepts[0].network, "eip155:84532");
        assert_eq!(r.accepts[0].amount, "10000");
        assert_eq!(r.accepts[0].max_timeout_seconds, 60);
        assert_eq!(
            r.resource.unwrap().url,
            "https://api.example.com/premium-data"
        );
    }

    #[test]
    fn settle_response_round_trips() {
        let s = SettleResponse {
            success: true,
            error_reason: None,
            payer: Some("agt_x".into()),
            transaction: "pay_x".into(),
            network: "purser:0123".into(),
            amount: Some("42".into()),
        };
        let h = encode(&s).unwrap();
        assert_eq!(decode_payment_response(h.as_bytes()).unwrap(), s);
        let f = SettleResponse::failed("insufficient_funds", "purser:0123", None);
        let back = decode_payment_response(encode(&f).unwrap().as_bytes()).unwrap();
        assert!(!back.success);
        assert_eq!(back.error_reason.as_deref(), Some("insufficient_funds"));
        assert_eq!(back.transaction, "");
    }

    #[test]
    fn limits_and_malformed_headers_are_clear_errors() {
        let big = vec![b'A'; MAX_HEADER_BYTES + 1];
        assert_eq!(
            decode_payment_signature(&big).unwrap_err().code,
            "header_too_large"
        );
        assert_eq!(
            decode_payment_signature(b"").unwrap_err().code,
            "header_not_base64"
        );
        assert_eq!(
            decode_payment_signature(b"not base64!").unwrap_err().code,
            "header_not_base64"
        );
        // Unpadded base64 is not canonical.
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"{\"a\":1}");
        assert_eq!(
            decode_payment_signature(unpadded.as_bytes())
                .unwrap_err()
                .code,
            "header_not_base64"
        );
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            decode_payment_signature(enc("{oops").as_bytes())
                .unwrap_err()
                .code,
            "header_not_json"
        );
        assert_eq!(
            decode_payment_signature(enc("[1,2]").as_bytes())
                .unwrap_err()
                .code,
            "header_invalid"
        );
        assert_eq!(
            decode_payment_signature(enc("{\"x402Version\":1}").as_bytes())
                .unwrap_err()
                .code,
            "unsupported_x402_version"
        );
        assert_eq!(
            decode_payment_signature(enc("{\"accepted\":{}}").as_bytes())
                .unwrap_err()
                .code,
            "header_invalid"
        );
        let e = decode_payment_signature(enc("{\"x402Version\":2,\"payload\":{}}").as_bytes())
            .unwrap_err();
        assert_eq!(e.code, "header_invalid");
        assert!(
            e.message.contains("missing field `accepted`"),
            "{}",
            e.message
        );
        // Unknown and duplicate members in what Purser receives are refused.
        let mut p = serde_json::to_value(PaymentPayload {
            x402_version: 2,
            resource: None,
            accepted: required().accepts[0].clone(),
            payload: serde_json::json!({}),
            extensions: None,
        })
        .unwrap();
        p["surprise"] = serde_json::json!(1);
        let e = decode_payment_signature(enc(&p.to_string()).as_bytes()).unwrap_err();
        assert!(
            e.message.contains("unknown field `surprise`"),
            "{}",
            e.message
        );
        let dup = "{\"x402Version\":2,\"x402Version\":2,\"accepted\":{},\"payload\":{}}";
        assert_eq!(
            decode_payment_signature(enc(dup).as_bytes())
                .unwrap_err()
                .code,
            "header_invalid"
        );
        // A 402 that offers nothing.
        let empty = "{\"x402Version\":2,\"accepts\":[]}";
        assert_eq!(
            decode_payment_required(enc(empty).as_bytes())
                .unwrap_err()
                .code,
            "header_invalid"
        );
        // Deep nesting is refused by the JSON reader, not a stack overflow.
        let deep = format!(
            "{{\"x402Version\":2,\"accepted\":{}{}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(decode_payment_signature(enc(&deep).as_bytes()).is_err());
    }
}
