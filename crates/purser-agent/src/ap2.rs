//! Paying with AP2 closed mandates: the agent fetches the two open mandates Purser issued when
//! the person consented ([`Client::mandate_credentials`]), closes them with its own key over the
//! merchant's signed checkout ([`Client::close_mandates`]), and pays with them
//! ([`PaymentRequest::ap2`](crate::PaymentRequest::ap2)) instead of naming the mandate by id.
//! The closed checkout mandate is also what the merchant verifies at checkout completion.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use purser_ap2::{append_hop, checkout_hash, random_salt, Binding, Ed25519Signer, HopContent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::{Zeroize, Zeroizing};

use crate::client::Client;
use crate::error::Error;
use crate::target::encode_path_segment;
use crate::types::MerchantRef;

/// The AP2 open mandates Purser issued at consent (`GET /v1/agent/mandates/{id}/credentials`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MandateCredentials {
    pub mandate_id: String,
    /// `mandate.checkout.open.1`, an SD-JWT signed by Purser naming this agent's key.
    pub checkout: String,
    /// `mandate.payment.open.1`.
    pub payment: String,
    /// Purser's key that signed them (in `/.well-known/jwks.json`).
    pub issuer_kid: String,
    /// The agent key they were issued to: the one that must close them.
    pub agent_kid: String,
    pub expires_at: String,
}

/// The two chains to send with a payment (`ap2`) — and the checkout one to the merchant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedMandates {
    /// The open checkout mandate closed by `mandate.checkout.1` over the merchant's checkout JWT.
    pub checkout_mandate: String,
    /// The open payment mandate closed by `mandate.payment.1` paying that checkout.
    pub payment_mandate: String,
}

/// The claims of a compact JWS, read without verifying it.
fn jwt_claims(jwt: &str, what: &str) -> Result<Map<String, Value>, Error> {
    let bad = || Error::InvalidInput(format!("{what} is not a compact JWT"));
    let payload = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// The payment instrument a funding source is, in the mandate's AP2 vocabulary; none when the
/// agent leaves the choice to Purser (the binding's restriction, else the wallet).
fn instrument(funding_source: Option<&str>) -> Option<Value> {
    match funding_source {
        Some(s) if s.starts_with("ecd_") => {
            Some(json!({"id": "exclusive_card", "type": "purser.exclusive_card"}))
        }
        Some(_) => Some(json!({"id": "wallet", "type": "purser.wallet"})),
        None => None,
    }
}

impl Client {
    /// `GET /v1/agent/mandates/{id}/credentials`: the open mandates of a mandate the person
    /// gave this agent.
    pub fn mandate_credentials(&self, mandate_id: &str) -> Result<MandateCredentials, Error> {
        let path = format!(
            "/v1/agent/mandates/{}/credentials",
            encode_path_segment(mandate_id)
        );
        let v = self.send("GET", &path, None)?;
        serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
    }

    /// Closes `credentials` with this agent's key for the checkout the merchant signed
    /// (`checkout_jwt`, a UCP checkout with `merchant.id`, `line_items`, `currency` and a
    /// `totals` entry of type `total`): a `mandate.checkout.1` addressed to the merchant
    /// (`merchant_audience`, the identifier the merchant verifies against), and a
    /// `mandate.payment.1` paying exactly that total to `payee`, addressed to Purser. The
    /// funding source (`wallet` or `ecd_…`, the same as the payment request's) becomes the
    /// payment instrument; `None` names none (a mandate that restricts instruments then refuses
    /// it). `checkout_nonce`
    /// is the merchant's challenge for the checkout mandate when it sets one (the bundled shop
    /// wants the checkout session id); otherwise a fresh random nonce is used.
    pub fn close_mandates(
        &self,
        credentials: &MandateCredentials,
        checkout_jwt: &str,
        payee: &MerchantRef,
        funding_source: Option<&str>,
        merchant_audience: &str,
        checkout_nonce: Option<&str>,
    ) -> Result<ClosedMandates, Error> {
        let checkout = jwt_claims(checkout_jwt, "the checkout")?;
        let currency = checkout
            .get("currency")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidInput("the checkout states no currency".into()))?;
        let total = checkout
            .get("totals")
            .and_then(Value::as_array)
            .and_then(|t| {
                t.iter()
                    .find(|t| t.get("type").and_then(Value::as_str) == Some("total"))
            })
            .and_then(|t| t.get("amount"))
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::InvalidInput("the checkout states no total".into()))?;
        let root = credentials
            .payment
            .split('~')
            .next()
            .ok_or_else(|| Error::Decode("the payment credential is empty".into()))?;
        let issuer = jwt_claims(root, "the payment credential")?
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Decode("the payment credential names no issuer".into()))?;
        let signer = self.ap2_signer()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Error::Signing("the clock is before 1970".into()))?
            .as_secs();
        let iat = i64::try_from(now).map_err(|_| Error::Signing("the clock is wrong".into()))?;
        let hash = checkout_hash(checkout_jwt);
        let close =
            |open: &str, mandate: Value, disclosable: &[&str], aud: &str, nonce: Option<&str>| {
                let nonce = match nonce {
                    Some(n) => n.to_string(),
                    None => crate::nonce()?,
                };
                let content = HopContent {
                    mandate: mandate.as_object().cloned().unwrap_or_default(),
                    disclosable: disclosable.iter().map(|s| (*s).to_owned()).collect(),
                    claims: Map::new(),
                };
                append_hop(
                    open,
                    &signer,
                    Binding::SdHash,
                    aud,
                    &nonce,
                    iat,
                    false,
                    &content,
                    &mut random_salt,
                )
                .map_err(|e| Error::Signing(format!("closing the AP2 mandate: {e}")))
            };
        let checkout_mandate = close(
            &credentials.checkout,
            json!({"vct": "mandate.checkout.1", "checkout_jwt": checkout_jwt, "checkout_hash": hash}),
            &["checkout_jwt"],
            merchant_audience,
            checkout_nonce,
        )?;
        let mut payee_json = json!({"id": payee.id});
        if let Some(name) = &payee.name {
            payee_json["name"] = json!(name);
        }
        if let Some(website) = &payee.website {
            payee_json["website"] = json!(website);
        }
        let mut payment = json!({
            "vct": "mandate.payment.1",
            "transaction_id": hash,
            "payee": payee_json,
            "payment_amount": {"amount": total, "currency": currency},
        });
        if let Some(i) = instrument(funding_source) {
            payment["payment_instrument"] = i;
        }
        let payment_mandate = close(&credentials.payment, payment, &[], &issuer, None)?;
        Ok(ClosedMandates {
            checkout_mandate,
            payment_mandate,
        })
    }

    /// This agent's key as an AP2 (JWS) signer.
    fn ap2_signer(&self) -> Result<Ed25519Signer, Error> {
        let jwk = self.key().to_private_jwk()?;
        let mut parsed: Value =
            serde_json::from_str(&jwk).map_err(|e| Error::Key(e.to_string()))?;
        let seed = parsed
            .get("d")
            .and_then(Value::as_str)
            .and_then(|d| URL_SAFE_NO_PAD.decode(d).ok())
            .map(Zeroizing::new);
        if let Some(Value::String(d)) = parsed.get_mut("d") {
            d.zeroize();
        }
        let seed = seed.ok_or_else(|| Error::Key("the private key has no readable d".into()))?;
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| Error::Key("the private key is not 32 bytes".into()))?;
        Ed25519Signer::from_seed(seed, Some(self.kid())).map_err(|e| Error::Key(e.to_string()))
    }
}
