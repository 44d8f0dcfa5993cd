//! Purser's fiat scheme on Purser's own network.
//!
//! * `network`: `purser:<instance>`, where `<instance>` names one Purser deployment (its
//!   facilitator's `GET /x402/supported` says which); CAIP-2 shaped, as the specification asks
//!   of non-blockchain networks.
//! * `asset`: an ISO 4217 code (`CNY`); `amount`: integer minor units as a base-10 string.
//! * `payTo`: the merchant's Purser id (`mch_…`); the resource server authenticates to the
//!   facilitator as that merchant.
//! * schemes `exact` (the amount) and `upto` (at most the amount; the settle request names the
//!   amount actually used).
//!
//! The `payload` ([`PurserPayload`]) carries a Purser payment credential (`pct_…`) that the
//! agent obtained through Purser's normal payment authorization — the user's mandate decided
//! it, with the resource URL as the item and `payTo` as the merchant — plus the agent's
//! Ed25519 signature over [`signing_input`]: the requirements, the resource, the payment, a
//! nonce and a validity window. The facilitator checks both without moving money (verify) and
//! captures the credential's hold (settle).

use serde::{Deserialize, Serialize};

use crate::types::{PaymentRequirements, X402_VERSION};

/// Network namespace of Purser deployments.
pub const NETWORK_NAMESPACE: &str = "purser";
/// The fixed amount.
pub const SCHEME_EXACT: &str = "exact";
/// At most the amount; the actual use is settled.
pub const SCHEME_UPTO: &str = "upto";
/// Domain separation of the agent's signature.
pub const SIGNATURE_DOMAIN: &str = "purser-x402/1";
/// Longest resource URL: it becomes the payment's item title, which people read (300 chars).
pub const MAX_RESOURCE_URL_CHARS: usize = 300;
/// Largest amount string: 18 digits always fit an i64.
pub const MAX_AMOUNT_DIGITS: usize = 18;
/// Longest payment timeout a Purser requirement may ask for: a credential lives at most a day.
pub const MAX_TIMEOUT_SECONDS: u64 = 24 * 60 * 60;
/// Longest nonce, key id or credential accepted in a payload.
pub const MAX_TOKEN_CHARS: usize = 256;

/// Is this a Purser network id (`purser:` followed by 1–32 of `[-_a-zA-Z0-9]`)?
pub fn is_purser_network(network: &str) -> bool {
    network.strip_prefix("purser:").is_some_and(|r| {
        !r.is_empty()
            && r.len() <= 32
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether `scheme` is one of Purser's.
pub fn is_purser_scheme(scheme: &str) -> bool {
    scheme == SCHEME_EXACT || scheme == SCHEME_UPTO
}

/// Parse an x402 amount: a base-10 integer string without sign, leading zeros or spaces, at
/// most [`MAX_AMOUNT_DIGITS`] digits. `Err` is a sentence.
pub fn parse_amount(s: &str) -> Result<i64, String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_AMOUNT_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !ok {
        return Err(format!(
            "amount {:?} must be a whole number of minor units written in base 10 (\"150\" is 1.50 in a two-decimal currency)",
            truncate(s, 40)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| "amount is too large".to_string())
}

/// Whether `asset` looks like an ISO 4217 code (three upper-case letters).
pub fn is_currency_code(asset: &str) -> bool {
    asset.len() == 3 && asset.bytes().all(|b| b.is_ascii_uppercase())
}

/// Check a requirement is a well-formed Purser one (not whether it is *acceptable*: the
/// facilitator decides that). `Err` is `(invalidReason, sentence)`.
pub fn check_requirements(r: &PaymentRequirements) -> Result<i64, (&'static str, String)> {
    if !is_purser_scheme(&r.scheme) {
        return Err((
            "unsupported_scheme",
            format!(
                "scheme {:?} is not one of Purser's (exact, upto)",
                truncate(&r.scheme, 40)
            ),
        ));
    }
    if !is_purser_network(&r.network) {
        return Err((
            "invalid_network",
            format!(
                "network {:?} is not a Purser network (purser:…)",
                truncate(&r.network, 60)
            ),
        ));
    }
    if !is_currency_code(&r.asset) {
        return Err((
            "invalid_payment_requirements",
            format!(
                "asset {:?} must be an ISO 4217 currency code such as CNY",
                truncate(&r.asset, 40)
            ),
        ));
    }
    if r.pay_to.is_empty() || r.pay_to.len() > 64 || !r.pay_to.starts_with("mch_") {
        return Err((
            "invalid_payment_requirements",
            "payTo must be the merchant's Purser id (mch_…)".into(),
        ));
    }
    if r.max_timeout_seconds == 0 || r.max_timeout_seconds > MAX_TIMEOUT_SECONDS {
        return Err((
            "invalid_payment_requirements",
            format!("maxTimeoutSeconds must be 1 to {MAX_TIMEOUT_SECONDS}"),
        ));
    }
    parse_amount(&r.amount).map_err(|m| ("invalid_payment_requirements", m))
}

/// What the agent signs besides the requirements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurserAuthorization {
    /// The Purser payment (`pay_…`) the credential redeems.
    pub payment_id: String,
    /// The resource URL the payment was authorized for (the payment's item).
    pub resource: String,
    /// Random, at least 128 bits; also the payment's Idempotency-Key, so one nonce is one
    /// payment.
    pub nonce: String,
    /// Unix seconds, as strings (the specification's convention).
    pub valid_after: String,
    pub valid_before: String,
    /// The agent key's JWK thumbprint (the key that asked Purser for the payment).
    pub keyid: String,
}

/// The `payload` of a Purser payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurserPayload {
    /// The `pct_…` credential Purser issued with the approval. A secret for the merchant.
    pub credential: String,
    pub authorization: PurserAuthorization,
    /// base64url (no padding) Ed25519 signature over [`signing_input`].
    pub signature: String,
}

impl PurserPayload {
    /// Parse from a payment payload's `payload` member. `Err` is a sentence.
    pub fn from_value(v: &serde_json::Value) -> Result<PurserPayload, String> {
        let p: PurserPayload = serde_json::from_value(v.clone()).map_err(|e| {
            format!("the payload is not a Purser payment ({{credential, authorization, signature}}): {e}")
        })?;
        let a = &p.authorization;
        for (name, value) in [
            ("credential", &p.credential),
            ("authorization.paymentId", &a.payment_id),
            ("authorization.nonce", &a.nonce),
            ("authorization.keyid", &a.keyid),
            ("signature", &p.signature),
        ] {
            if value.is_empty()
                || value.len() > MAX_TOKEN_CHARS
                || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "{name} must be 1 to {MAX_TOKEN_CHARS} visible ASCII characters"
                ));
            }
        }
        if a.nonce.len() < 16 {
            return Err("authorization.nonce must carry at least 128 bits (16+ characters)".into());
        }
        if a.resource.is_empty() || a.resource.chars().count() > MAX_RESOURCE_URL_CHARS {
            return Err(format!(
                "authorization.resource must be the resource URL (1 to {MAX_RESOURCE_URL_CHARS} characters)"
            ));
        }
        p.window()?;
        Ok(p)
    }

    /// `(validAfter, validBefore)` in Unix seconds.
    pub fn window(&self) -> Result<(i64, i64), String> {
        let parse = |s: &str, name: &str| {
            parse_amount(s).map_err(|_| {
                format!("authorization.{name} must be Unix seconds as a base-10 string")
            })
        };
        let after = parse(&self.authorization.valid_after, "validAfter")?;
        let before = parse(&self.authorization.valid_before, "validBefore")?;
        if before <= after {
            return Err("authorization.validBefore must be after validAfter".into());
        }
        Ok((after, before))
    }
}

/// The exact bytes the agent signs: a domain tag, then every bound value as
/// `<byte length>:<value>\n`, so no two different inputs share an encoding.
pub fn signing_input(accepted: &PaymentRequirements, auth: &PurserAuthorization) -> Vec<u8> {
    let max_timeout = accepted.max_timeout_seconds.to_string();
    let version = X402_VERSION.to_string();
    let fields: [&str; 14] = [
        SIGNATURE_DOMAIN,
        &version,
        &accepted.scheme,
        &accepted.network,
        &accepted.amount,
        &accepted.asset,
        &accepted.pay_to,
        &max_timeout,
        &auth.resource,
        &auth.payment_id,
        &auth.nonce,
        &auth.valid_after,
        &auth.valid_before,
        &auth.keyid,
    ];
    let mut out = Vec::with_capacity(512);
    for f in fields {
        out.extend_from_slice(f.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(f.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The item title of the Purser payment behind an x402 payment: the resource URL.
pub fn item_title(resource_url: &str) -> &str {
    resource_url
}

/// The item id of the Purser payment behind an x402 payment: the scheme and the nonce. The
/// nonce makes every call its own cart, so Purser's duplicate-cart rule (meant for a person's
/// shopping) does not refuse the second call of a metered API; the velocity rule still applies.
pub fn item_id(scheme: &str, nonce: &str) -> String {
    format!("x402-{scheme}:{nonce}")
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> PaymentRequirements {
        PaymentRequirements {
            scheme: "upto".into(),
            network: "purser:abc123".into(),
            amount: "500".into(),
            asset: "CNY".into(),
            pay_to: "mch_x".into(),
            max_timeout_seconds: 60,
            extra: None,
        }
    }

    #[test]
    fn amounts_are_strict() {
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount("150"), Ok(150));
        assert_eq!(
            parse_amount("999999999999999999"),
            Ok(999_999_999_999_999_999)
        );
        for bad in [
            "",
            "-1",
            "+1",
            "01",
            "1.5",
            " 1",
            "1e3",
            "0x10",
            "1234567890123456789",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn networks_schemes_and_requirements() {
        assert!(is_purser_network("purser:abc-_09"));
        assert!(!is_purser_network("purser:"));
        assert!(!is_purser_network("eip155:8453"));
        assert!(!is_purser_network("purser:a.b"));
        assert!(!is_purser_network(&format!("purser:{}", "a".repeat(33))));
        assert_eq!(check_requirements(&req()), Ok(500));
        let mut r = req();
        r.scheme = "deferred".into();
        assert_eq!(check_requirements(&r).unwrap_err().0, "unsupported_scheme");
        let mut r = req();
        r.asset = "usd".into();
        assert_eq!(
            check_requirements(&r).unwrap_err().0,
            "invalid_payment_requirements"
        );
        let mut r = req();
        r.max_timeout_seconds = 0;
        assert!(check_requirements(&r).is_err());
    }

    #[test]
    fn signing_input_binds_every_field() {
        let auth = PurserAuthorization {
            payment_id: "pay_1".into(),
            resource: "http://h/r".into(),
            nonce: "n".repeat(22),
            valid_after: "100".into(),
            valid_before: "160".into(),
            keyid: "kid".into(),
        };
        let base = signing_input(&req(), &auth);
        let mut seen = std::collections::HashSet::new();
        seen.insert(base.clone());
        let mut variants = Vec::new();
        for i in 0..7 {
            let mut r = req();
            match i {
                0 => r.scheme = "exact".into(),
                1 => r.network = "purser:abc124".into(),
                2 => r.amount = "501".into(),
                3 => r.asset = "USD".into(),
                4 => r.pay_to = "mch_y".into(),
                5 => r.max_timeout_seconds = 61,
                _ => r.amount = "50".into(),
            }
            variants.push(signing_input(&r, &auth));
        }
        for i in 0..6 {
            let mut a = auth.clone();
            match i {
                0 => a.payment_id = "pay_2".into(),
                1 => a.resource = "http://h/r2".into(),
                2 => a.nonce = "m".repeat(22),
                3 => a.valid_after = "101".into(),
                4 => a.valid_before = "161".into(),
                _ => a.keyid = "kie".into(),
            }
            variants.push(signing_input(&req(), &a));
        }
        for v in variants {
            assert!(seen.insert(v), "two inputs share a signing input");
        }
        assert!(String::from_utf8(base)
            .unwrap()
            .starts_with("13:purser-x402/1\n1:2\n4:upto\n"));
    }

    #[test]
    fn payloads_are_checked() {
        let good = serde_json::json!({
            "credential": "pct_x_y",
            "authorization": {"paymentId": "pay_1", "resource": "http://h/r", "nonce": "abcdefghijklmnopqrstuv",
                "validAfter": "100", "validBefore": "160", "keyid": "k"},
            "signature": "sig"
        });
        assert!(PurserPayload::from_value(&good).is_ok());
        let mut v = good.clone();
        v["authorization"]["validBefore"] = "90".into();
        assert!(PurserPayload::from_value(&v)
            .unwrap_err()
            .contains("validBefore"));
        let mut v = good.clone();
        v["authorization"]["nonce"] = "short".into();
        assert!(PurserPayload::from_value(&v).is_err());
        let mut v = good.clone();
        v["extra"] = 1.into();
        assert!(PurserPayload::from_value(&v).is_err());
        let mut v = good;
        v["credential"] = "pct with space".into();
        assert!(PurserPayload::from_value(&v).is_err());
    }
}
