//! The x402 v2 messages, with the specification's field names (x402 v2 core specification,
//! section 5 and 7). Amounts are base-10 integer strings in the asset's smallest unit, as the
//! specification says; [`crate::purser`] parses them for Purser's fiat scheme.
//!
//! What Purser *receives* from others (`PaymentPayload`, `VerifyRequest`, `SettleRequest`) is
//! parsed strictly: unknown members are refused, so a misspelt field is an error rather than
//! silently ignored. What a client reads from arbitrary servers (`PaymentRequired`, the
//! responses) tolerates members added by later versions or other schemes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version these types speak.
pub const X402_VERSION: u32 = 2;

/// The protected resource (`ResourceInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// URL of the protected resource.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One acceptable way to pay (`PaymentRequirements`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// `exact` or `upto` for Purser's scheme.
    pub scheme: String,
    /// CAIP-2 style network id; Purser's is `purser:<instance>`.
    pub network: String,
    /// Base-10 integer string in the asset's smallest unit (minor units for fiat). For
    /// `upto`, the maximum.
    pub amount: String,
    /// Token address, or an ISO 4217 code for fiat (`CNY`).
    pub asset: String,
    /// The recipient; for Purser, the merchant id (`mch_…`).
    pub pay_to: String,
    /// How long the payment may take to complete.
    pub max_timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

/// The 402 answer, carried base64-encoded in `PAYMENT-REQUIRED` (`PaymentRequired`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    pub x402_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Required by the specification; tolerated when absent from servers that omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    pub accepts: Vec<PaymentRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// The client's payment, carried base64-encoded in `PAYMENT-SIGNATURE` (`PaymentPayload`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentPayload {
    pub x402_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The requirements the client chose to pay.
    pub accepted: PaymentRequirements,
    /// Scheme-specific payment data ([`crate::purser::PurserPayload`] for Purser).
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// `POST /verify` and `POST /settle` bodies (the facilitator interface). For Purser's `upto`
/// scheme, the settle request's `paymentRequirements.amount` is the amount actually charged
/// (at most `paymentPayload.accepted.amount`, the maximum the client authorized).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRequest {
    /// Sent by the reference implementations beside the two objects; optional here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x402_version: Option<u32>,
    pub payment_payload: PaymentPayload,
    pub payment_requirements: PaymentRequirements,
}

/// The settle request has the verify request's shape.
pub type SettleRequest = VerifyRequest;

/// `POST /verify` answer (`VerifyResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

impl VerifyResponse {
    pub fn valid(payer: impl Into<String>) -> VerifyResponse {
        VerifyResponse {
            is_valid: true,
            invalid_reason: None,
            payer: Some(payer.into()),
        }
    }

    pub fn invalid(reason: impl Into<String>, payer: Option<String>) -> VerifyResponse {
        VerifyResponse {
            is_valid: false,
            invalid_reason: Some(reason.into()),
            payer,
        }
    }
}

/// `POST /settle` answer, and what `PAYMENT-RESPONSE` carries base64-encoded
/// (`SettleResponse` / `SettlementResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// For Purser: the payment id (`pay_…`); empty when settlement failed.
    #[serde(default)]
    pub transaction: String,
    pub network: String,
    /// Purser extension: the amount actually charged (base-10 minor units), so an `upto`
    /// client learns what it paid. Absent in other implementations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

impl SettleResponse {
    pub fn failed(reason: impl Into<String>, network: &str, payer: Option<String>) -> Self {
        SettleResponse {
            success: false,
            error_reason: Some(reason.into()),
            payer,
            transaction: String::new(),
            network: network.to_string(),
            amount: None,
        }
    }
}

/// One `(scheme, network)` a facilitator settles (`SupportedKind`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    pub x402_version: u32,
    pub scheme: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

/// `GET /supported` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    pub kinds: Vec<SupportedKind>,
    #[serde(default)]
    pub extensions: Vec<String>,
    #[serde(default)]
    pub signers: Map<String, Value>,
}
