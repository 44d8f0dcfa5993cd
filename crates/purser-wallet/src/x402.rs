//! The x402 facilitator: `verify`, `settle` and `supported` for Purser's fiat scheme
//! (`purser_x402::purser`), on behalf of a merchant authenticated by its API key.
//!
//! An x402 payment is an ordinary Purser agent payment: the agent asked for it through
//! [`Wallet::authorize`] (so identity, merchant, funding, anomaly rules and the mandate were
//! decided there, once, with the resource URL as the single item and `payTo` as the merchant)
//! and holds its `pct_…` credential. This module adds no payment rule. It checks that the
//! payload binds *these* requirements to *that* payment — the credential names the payment,
//! the payment is this merchant's, for this amount, currency and resource, and the agent key
//! that asked for the payment signed the requirements, a nonce and a validity window — and
//! then:
//!
//! * verify moves no money but *claims* the payment: the payment must still be `approved`, its
//!   credential unexpired and its agent bound and unfrozen, and the first verify that finds
//!   it so durably marks it claimed (an insert-if-absent in `nonces`, keyed by the payment).
//!   Every later verify of the same payment is `invalid_purser_payload_claimed`, so one
//!   payload unlocks one resource call, even when N requests carry it at once;
//! * settle is the merchant capture (`capture`): `exact` the amount, `upto` the amount the
//!   resource server names (at most the authorized maximum; the rest of the hold is
//!   released; zero voids the payment). A credential is single use, so a replayed payload
//!   never pays twice. Settling an already-settled payment succeeds only as a retry of the
//!   original settle — the same `Idempotency-Key` (recorded before the capture) and the same
//!   amount; anything else is `invalid_transaction_state`.

use purser_core::httpsig::Ed25519PublicKey;
use purser_store::vals;
use purser_x402::purser::{self as scheme, PurserPayload, SCHEME_EXACT, SCHEME_UPTO};
use purser_x402::types::{
    PaymentRequirements, SettleRequest, SettleResponse, SupportedKind, SupportedResponse,
    VerifyRequest, VerifyResponse, X402_VERSION,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Kind, Result};
use crate::funds::Amount;
use crate::merchants::MerchantCaller;
use crate::payments::credential;
use crate::payments::redeem::CaptureBody;
use crate::Wallet;

/// Clock difference tolerated between the agent and Purser on the validity window.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Why a payment ended when an `upto` settlement used nothing.
pub const UNUSED_REASON: &str = "x402_unused";
/// `nonces.keyid` of verify's claims (`nonce` = the payment id). Agent key ids are JWK
/// thumbprints (base64url), so this namespace cannot collide with a signed request's nonce.
pub const CLAIM_KEYID: &str = "x402:claim";
/// `nonces.keyid` prefix of a settle's Idempotency-Key (`x402:settle:<key>`, `nonce` = the
/// payment id), recorded before the capture so a retry of that settle is recognised.
pub const SETTLE_KEYID_PREFIX: &str = "x402:settle:";
/// How long a claim or a settle's key is kept beyond the credential's expiry (ms); after
/// that the payment is no longer `approved` and verify refuses it on its own.
const CLAIM_MARGIN_MS: i64 = 24 * 60 * 60 * 1000;

/// A refusal: the specification's `invalidReason` / `errorReason` code, and the payer when
/// known.
struct Refusal(String, Option<String>);

fn refuse<T>(code: &str) -> std::result::Result<T, Refusal> {
    Err(Refusal(code.to_string(), None))
}

/// What a checked payload names.
struct Bound {
    payment_id: String,
    credential: String,
    payer: String,
    status: String,
    currency: String,
    captured: i64,
    capture_amount: Option<i64>,
    credential_expires_at: Option<i64>,
    end_reason: Option<String>,
    /// The amount settled (upto: as the resource server asks; exact: the price).
    amount: i64,
}

impl Wallet {
    /// Purser's x402 network id: `purser:` and 16 hex digits of SHA-256 of its public origin,
    /// the same on every node of one deployment.
    pub fn x402_network(&self) -> String {
        let h = hex::encode(Sha256::digest(self.issuer().as_bytes()));
        format!("purser:{}", &h[..16])
    }

    /// `GET /x402/supported`.
    pub fn x402_supported(&self) -> SupportedResponse {
        let network = self.x402_network();
        let extra =
            json!({"issuer": self.issuer(), "assets": "ISO 4217 codes; amounts in minor units"});
        let kinds = [SCHEME_EXACT, SCHEME_UPTO]
            .into_iter()
            .map(|s| SupportedKind {
                x402_version: X402_VERSION,
                scheme: s.to_string(),
                network: network.clone(),
                extra: extra.as_object().cloned(),
            })
            .collect();
        SupportedResponse {
            kinds,
            extensions: Vec::new(),
            signers: serde_json::Map::new(),
        }
    }

    /// `POST /x402/verify`: is this payment good for these requirements, now? Moves no money;
    /// the first verify that answers valid claims the payment (see the module docs).
    pub async fn x402_verify(
        &self,
        m: &MerchantCaller,
        req: &VerifyRequest,
    ) -> Result<VerifyResponse> {
        match self.x402_bind(m, req, false).await? {
            Err(Refusal(code, payer)) => Ok(VerifyResponse::invalid(code, payer)),
            Ok(b) => {
                let now = self.now().0;
                if b.status != "approved" || b.credential_expires_at.is_none_or(|e| e <= now) {
                    return Ok(VerifyResponse::invalid(
                        "invalid_transaction_state",
                        Some(b.payer),
                    ));
                }
                if !self.binding_usable(&b.payment_id).await? {
                    return Ok(VerifyResponse::invalid("agent_frozen", Some(b.payer)));
                }
                // Single use before any resource is served: one verify wins per payment.
                let keep = b
                    .credential_expires_at
                    .unwrap_or(now)
                    .saturating_add(CLAIM_MARGIN_MS);
                if !self
                    .db
                    .spend_nonce(CLAIM_KEYID, &b.payment_id, keep)
                    .await?
                {
                    return Ok(VerifyResponse::invalid(
                        "invalid_purser_payload_claimed",
                        Some(b.payer),
                    ));
                }
                Ok(VerifyResponse::valid(b.payer))
            }
        }
    }

    /// `POST /x402/settle`: capture the payment (see the module docs). A retry under the same
    /// `idempotency_key` answers the first settlement; without a key, or under another one,
    /// an already-settled payment is refused.
    pub async fn x402_settle(
        &self,
        m: &MerchantCaller,
        req: &SettleRequest,
        idempotency_key: Option<&str>,
    ) -> Result<SettleResponse> {
        let network = self.x402_network();
        let b = match self.x402_bind(m, req, true).await? {
            Err(Refusal(code, payer)) => return Ok(SettleResponse::failed(code, &network, payer)),
            Ok(b) => b,
        };
        let done = |b: &Bound| SettleResponse {
            success: true,
            error_reason: None,
            payer: Some(b.payer.clone()),
            transaction: b.payment_id.clone(),
            network: network.clone(),
            amount: Some(b.amount.to_string()),
        };
        let failed =
            |code: &str, b: &Bound| SettleResponse::failed(code, &network, Some(b.payer.clone()));
        let settle_keyid = idempotency_key.map(|k| format!("{SETTLE_KEYID_PREFIX}{k}"));
        // Was this payment's settlement started under this caller's Idempotency-Key?
        let ours = match &settle_keyid {
            None => false,
            Some(k) => self
                .db
                .query_opt(
                    "SELECT 1 FROM nonces WHERE keyid = $1 AND nonce = $2",
                    vals![k.as_str(), &b.payment_id],
                )
                .await?
                .is_some(),
        };
        let started = matches!(b.status.as_str(), "approved");
        if started {
            if let Some(k) = &settle_keyid {
                let keep = self.now().0.saturating_add(CLAIM_MARGIN_MS);
                self.db.spend_nonce(k, &b.payment_id, keep).await?;
            }
        }
        match b.status.as_str() {
            // Settled before with this amount, and this is a retry of that settle: the same
            // answer, nothing moves. Anyone else replaying the payload is refused.
            "captured" | "refunded" if b.captured == b.amount && ours => return Ok(done(&b)),
            "voided" if b.amount == 0 && b.end_reason.as_deref() == Some(UNUSED_REASON) && ours => {
                return Ok(done(&b))
            }
            "approved" if b.amount == 0 => {
                if self
                    .end_payment(&b.payment_id, &["approved"], "voided", UNUSED_REASON)
                    .await?
                {
                    return Ok(done(&b));
                }
                return Ok(failed("invalid_transaction_state", &b));
            }
            "approved" => {}
            "capturing" if b.capture_amount == Some(b.amount) && ours => {}
            _ => return Ok(failed("invalid_transaction_state", &b)),
        }
        let capture = CaptureBody {
            credential: b.credential.clone(),
            amount: Amount {
                amount: b.amount,
                currency: b.currency.clone(),
            },
            checkout_id: None,
        };
        match self.capture(m, &capture).await {
            Ok(_) => Ok(done(&b)),
            Err(e) if e.kind == Kind::Unavailable => Err(e),
            Err(e) => {
                let code = match e.code.as_str() {
                    "credential_used" | "credential_voided" | "credential_expired" => {
                        "invalid_transaction_state"
                    }
                    c => c,
                };
                Ok(failed(code, &b))
            }
        }
    }

    /// Everything verify and settle both check: the requirements, the payload's binding to
    /// the payment, the agent's signature and the validity window. `Ok(Err(_))` is a refusal;
    /// `Err(_)` a failure to check (storage).
    async fn x402_bind(
        &self,
        m: &MerchantCaller,
        req: &VerifyRequest,
        settling: bool,
    ) -> Result<std::result::Result<Bound, Refusal>> {
        let p = &req.payment_payload;
        let r = &req.payment_requirements;
        if p.x402_version != X402_VERSION || req.x402_version.is_some_and(|v| v != X402_VERSION) {
            return Ok(refuse("invalid_x402_version"));
        }
        let amount = match scheme::check_requirements(r) {
            Ok(a) => a,
            Err((code, _)) => return Ok(refuse(code)),
        };
        if r.network != self.x402_network() {
            return Ok(refuse("invalid_network"));
        }
        if r.pay_to != m.merchant_id {
            return Ok(refuse("invalid_purser_payload_recipient_mismatch"));
        }
        // The payment must be for exactly these requirements; an upto settlement may name
        // less than the authorized maximum.
        let max = match scheme::parse_amount(&p.accepted.amount) {
            Ok(a) => a,
            Err(_) => return Ok(refuse("invalid_payload")),
        };
        let mut expected: PaymentRequirements = p.accepted.clone();
        if settling && r.scheme == SCHEME_UPTO {
            expected.amount.clone_from(&r.amount);
            if amount > max {
                return Ok(refuse("invalid_purser_payload_amount"));
            }
        }
        if expected != *r {
            return Ok(refuse("invalid_purser_payload_requirements_mismatch"));
        }
        let payload = match PurserPayload::from_value(&p.payload) {
            Ok(x) => x,
            Err(_) => return Ok(refuse("invalid_payload")),
        };
        let a = &payload.authorization;
        // The resource must be named, and be the one the agent signed for.
        if p.resource.as_ref().is_none_or(|res| res.url != a.resource) {
            return Ok(refuse("invalid_purser_payload_resource_mismatch"));
        }
        let id =
            credential::credential_payment(self.credential_key.expose(), payload.credential.trim());
        if id.as_deref() != Some(a.payment_id.as_str()) {
            return Ok(refuse("invalid_purser_payload_credential"));
        }
        let Some(row) = self
            .db
            .query_opt(
                "SELECT merchant_id, agent_id, agent_kid, amount, currency, status, credential_expires_at, request, captured, capture_amount, end_reason FROM payments WHERE id = $1",
                vals![&a.payment_id],
            )
            .await?
        else {
            return Ok(refuse("invalid_purser_payload_credential"));
        };
        let payer = row.text(1)?;
        let refused = |code: &str| Ok(Err(Refusal(code.to_string(), Some(payer.clone()))));
        if row.opt_int(6)?.is_none() {
            // Declined or never approved: no credential was issued for it.
            return refused("invalid_purser_payload_credential");
        }
        if row.text(0)? != m.merchant_id {
            return refused("invalid_purser_payload_recipient_mismatch");
        }
        if row.int(3)? != max || row.text(4)? != p.accepted.asset {
            return refused("invalid_purser_payload_amount");
        }
        // The payment's one item is this resource, under this scheme.
        let request: Value = serde_json::from_str(&row.text(7)?).unwrap_or_default();
        let body: Value = request
            .get("body")
            .and_then(Value::as_str)
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default();
        let items = body.get("items").and_then(Value::as_array);
        let item_ok = items.is_some_and(|items| {
            items.len() == 1
                && items[0].get("title").and_then(Value::as_str)
                    == Some(scheme::item_title(&a.resource))
                && items[0].get("id").and_then(Value::as_str)
                    == Some(scheme::item_id(&r.scheme, &a.nonce).as_str())
                && items[0].get("quantity").and_then(Value::as_u64) == Some(1)
        });
        if !item_ok {
            return refused("invalid_purser_payload_resource_mismatch");
        }
        // The key that asked Purser for the payment signed these requirements.
        if a.keyid != row.text(2)? {
            return refused("invalid_purser_payload_signature");
        }
        let key = request
            .get("agent_jwk")
            .and_then(|j| Ed25519PublicKey::from_jwk(j).ok());
        let sig = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.signature.as_bytes())
                .ok()
        };
        let signed = match (key, sig) {
            (Some(k), Some(s)) => k.verifies(&scheme::signing_input(&p.accepted, a), &s),
            _ => false,
        };
        if !signed {
            return refused("invalid_purser_payload_signature");
        }
        let Ok((after, before)) = payload.window() else {
            return refused("invalid_payload");
        };
        let now = self.now().0.div_euclid(1000);
        let window = i64::try_from(p.accepted.max_timeout_seconds).unwrap_or(i64::MAX);
        if before.saturating_sub(after) > window.saturating_add(CLOCK_SKEW_SECS) {
            return refused("invalid_purser_payload_window");
        }
        if after > now.saturating_add(CLOCK_SKEW_SECS) {
            return refused("invalid_purser_payload_valid_after");
        }
        let grace = if settling { CLOCK_SKEW_SECS } else { 0 };
        if now > before.saturating_add(grace) {
            return refused("invalid_purser_payload_valid_before");
        }
        Ok(Ok(Bound {
            payment_id: a.payment_id.clone(),
            credential: payload.credential.trim().to_string(),
            payer,
            status: row.text(5)?,
            currency: row.text(4)?,
            captured: row.int(8)?,
            capture_amount: row.opt_int(9)?,
            credential_expires_at: row.opt_int(6)?,
            end_reason: row.opt_text(10)?,
            amount,
        }))
    }
}
