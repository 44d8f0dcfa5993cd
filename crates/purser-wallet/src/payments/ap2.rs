//! A payment that presents AP2 closed mandates instead of naming its mandate by id.
//!
//! At consent Purser issued two AP2 open mandates for the agent's key (`mandates.rs`,
//! `purser_ap2::issue_open_mandates`). To pay, the agent closes both with its own key: a
//! `mandate.checkout.1` hop over the merchant's checkout JWT, and a `mandate.payment.1` hop
//! paying exactly that checkout (`transaction_id` = its hash) addressed to Purser (`aud` =
//! Purser's issuer URL). [`Wallet::verify_closed_mandates`] turns that presentation into the
//! mandate id the ordinary decision then uses — every mandate rule is still evaluated once, by
//! the decision, atomically with the hold. What this adds on top:
//!
//! - the open mandates presented are exactly the ones Purser issued and still holds for that
//!   mandate (a mandate updated and consented again has new ones), and the mandate is this
//!   agent's, for this user;
//! - both chains verify (`purser_ap2::verify_purchase`): Purser's signature on the roots, the
//!   agent's on the closed hops (by the key consent named, which must still be active), the
//!   checkout hash, the payment bound to that checkout and paying its total, the AP2
//!   constraints;
//! - the closed mandates describe this payment: the merchant (`merchant.id` of the checkout and
//!   `payee.id` of the payment), the total, the line items (id and quantity) and the checkout id;
//! - a closed payment mandate pays once: its reference (the hash of its final SD-JWT) is unique
//!   among payments, so presenting it again under another Idempotency-Key is refused.
//!
//! The checkout JWT's signature is not checked here (`CheckoutAuthenticity::Unchecked`): Purser is
//! not the merchant and registers no checkout key; the merchant verifies its own checkout JWT
//! when it completes the order, and the credential Purser issues is bound to that merchant and
//! that checkout id.

use purser_ap2::{
    verify_purchase, CheckoutAuthenticity, MandateUsage, PublicJwk, PurchaseOptions,
    VerifiedPurchase, VerifyOptions, MANDATE_ID_CLAIM,
};
use purser_core::mandate::ALL;
use purser_core::{Currency, Money};
use purser_store::vals;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{internal, ItemBody, PaymentBody};
use crate::error::{Kind, Result, WalletError};
use crate::ids::check_id;
use crate::signed::AgentCaller;
use crate::Wallet;

/// The closed mandates an agent presents (`PaymentBody::ap2`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedMandates {
    /// The open checkout mandate Purser issued, closed by a `mandate.checkout.1` hop over the
    /// merchant's checkout JWT.
    pub checkout_mandate: String,
    /// The open payment mandate Purser issued, closed by a `mandate.payment.1` hop paying that
    /// checkout, with `aud` = Purser's issuer URL.
    pub payment_mandate: String,
}

fn refused(code: &str, message: impl Into<String>, param: &str) -> WalletError {
    WalletError::new(Kind::Unprocessable, code, message).at(param)
}

/// The mandate id an open mandate's root JWT names, read without verifying (verification
/// follows, against the credential Purser stored for that id).
fn mandate_id_of(chain: &str, param: &str) -> Result<String> {
    use base64::Engine;
    let malformed = || {
        refused(
            "ap2_malformed",
            "this is not an AP2 mandate chain that starts with a mandate Purser issued",
            param,
        )
    };
    let parsed = purser_ap2::parse_chain(chain).map_err(|e| {
        refused(
            "ap2_malformed",
            format!("the AP2 mandate chain cannot be read: {e}"),
            param,
        )
    })?;
    let root = parsed.hops.first().ok_or_else(malformed)?;
    let payload = root.jwt.split('.').nth(1).ok_or_else(malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed())?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    let id = claims
        .get(MANDATE_ID_CLAIM)
        .and_then(Value::as_str)
        .ok_or_else(malformed)?;
    check_id("mdt", id, param).map_err(|_| malformed())?;
    Ok(id.to_string())
}

fn b64_json<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The checkout id the closed checkout mandate's checkout JWT states, read without verifying
/// (for the evidence verifier, which checks it against what Purser signed).
pub(crate) fn checkout_id_of(closed: &ClosedMandates) -> Option<String> {
    let parsed = purser_ap2::parse_chain(&closed.checkout_mandate).ok()?;
    let last = parsed.hops.last()?;
    last.disclosures.iter().find_map(|d| {
        let v: Vec<Value> = b64_json(d)?;
        match v.as_slice() {
            [_, Value::String(name), Value::String(jwt)] if name == "checkout_jwt" => {
                let claims: Map<String, Value> = b64_json(jwt.split('.').nth(1)?)?;
                checkout_id_in(&claims).map(str::to_owned)
            }
            _ => None,
        }
    })
}

/// The checkout's id: UCP's `id`, or `checkout_id` as some merchants (the bundled shop) name it.
fn checkout_id_in(checkout: &Map<String, Value>) -> Option<&str> {
    checkout
        .get("id")
        .or_else(|| checkout.get("checkout_id"))
        .and_then(Value::as_str)
}

/// The mandate id the closed payment mandate was made from, read without verifying.
pub(crate) fn mandate_of(closed: &ClosedMandates) -> Option<String> {
    mandate_id_of(&closed.payment_mandate, "ap2").ok()
}

/// The root presentation (`jwt~disclosures~`) of a chain: what Purser issued.
fn root_of(chain: &str) -> Option<String> {
    let parsed = purser_ap2::parse_chain(chain).ok()?;
    parsed.hops.first().map(|p| p.text.to_string())
}

/// `(item id, quantity)` of every line, sorted: the cart as the closed checkout describes it.
fn checkout_lines(checkout: &Map<String, Value>) -> Option<Vec<(String, u64)>> {
    let mut lines = Vec::new();
    for li in checkout.get("line_items")?.as_array()? {
        let id = li.get("item")?.get("id")?.as_str()?.to_string();
        let q = li.get("quantity")?.as_u64()?;
        lines.push((id, q));
    }
    lines.sort();
    Some(lines)
}

fn body_lines(items: &[ItemBody]) -> Option<Vec<(String, u64)>> {
    let mut lines = items
        .iter()
        .map(|i| Some((i.id.clone()?, u64::from(i.quantity))))
        .collect::<Option<Vec<_>>>()?;
    lines.sort();
    Some(lines)
}

impl Wallet {
    /// Verifies the closed mandates of `body` and fills in its `mandate_id` (and its
    /// `checkout_id` from the checkout when the agent gave none). Returns the closed payment
    /// mandate's reference, unique among payments.
    pub(super) async fn verify_closed_mandates(
        &self,
        agent: &AgentCaller,
        body: &mut PaymentBody,
        closed: &ClosedMandates,
    ) -> Result<String> {
        let id = mandate_id_of(&closed.payment_mandate, "ap2.payment_mandate")?;
        if mandate_id_of(&closed.checkout_mandate, "ap2.checkout_mandate")? != id {
            return Err(refused(
                "ap2_mandate_mismatch",
                "the checkout and payment mandates come from different Purser mandates; close the two credentials of one mandate",
                "ap2",
            ));
        }
        if !body.mandate_id.is_empty() && body.mandate_id != id {
            return Err(refused(
                "ap2_mandate_mismatch",
                format!(
                    "mandate_id says {} but the closed mandates were made from {id}; send one or make them agree",
                    body.mandate_id
                ),
                "mandate_id",
            ));
        }
        let row = self
            .db
            .query_opt(
                "SELECT checkout_credential, payment_credential, issuer_kid, agent_kid FROM mandates WHERE id = $1 AND user_id = $2 AND agent_id = $3",
                vals![&id, &body.user_id, &agent.agent_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("mandate", &id).at("ap2"))?;
        let (Some(open_checkout), Some(open_payment), Some(issuer_kid), Some(agent_kid)) = (
            row.opt_text(0)?,
            row.opt_text(1)?,
            row.opt_text(2)?,
            row.opt_text(3)?,
        ) else {
            return Err(WalletError::conflict(
                "mandate_not_consented",
                "this mandate has no AP2 credentials: the person has not consented to it",
            ));
        };
        if root_of(&closed.checkout_mandate).as_deref() != Some(open_checkout.as_str())
            || root_of(&closed.payment_mandate).as_deref() != Some(open_payment.as_str())
        {
            return Err(refused(
                "ap2_credential_outdated",
                "these closed mandates do not start from the mandate's current AP2 credentials (it was changed and consented again, or they were altered); fetch them again with GET /v1/agent/mandates/{id}/credentials",
                "ap2",
            ));
        }
        // The key consent named must still be one of the agent's active keys.
        let key_active = self
            .db
            .query_opt(
                "SELECT 1 FROM agent_keys WHERE agent_id = $1 AND thumbprint = $2 AND status = 'active'",
                vals![&agent.agent_id, &agent_kid],
            )
            .await?
            .is_some();
        if !key_active {
            return Err(WalletError::forbidden(
                "ap2_key_revoked",
                "the agent key these credentials were issued to is no longer active; the person must consent to the mandate again for the agent's current key",
            ));
        }
        let issuer_key = self.issuer_public_key(&issuer_kid).await?;
        let currency = Currency::from_code(&body.total.currency)
            .ok_or_else(|| refused("currency_invalid", "unknown currency", "total.currency"))?;
        let usage = self.ap2_usage(&id, currency).await?;
        let issuer = self.issuer();
        let now = self.now();
        let base = VerifyOptions::new(issuer_key, now)
            .allow_eddsa()
            .trust_issuer_enforced(issuer.clone());
        let opts = PurchaseOptions {
            checkout: base.clone().final_vct("mandate.checkout.1"),
            payment: base.audience(issuer).final_vct("mandate.payment.1"),
            authenticity: CheckoutAuthenticity::Unchecked,
            usage: Some(usage),
        };
        let purchase = verify_purchase(&closed.checkout_mandate, &closed.payment_mandate, &opts)
            .map_err(|e| {
                refused(
                    &format!("ap2_{}", e.code()),
                    format!("the AP2 closed mandates do not verify: {e}"),
                    "ap2",
                )
            })?;
        describe_this_payment(&purchase, body)?;
        body.mandate_id = id;
        Ok(purchase.payment.chain().reference().to_string())
    }

    /// The public key of Purser's ES256 signing key `kid` (active or retired).
    async fn issuer_public_key(&self, kid: &str) -> Result<PublicJwk> {
        let r = self
            .db
            .query_opt(
                "SELECT public_jwk FROM signing_keys WHERE kid = $1 AND alg = 'ES256'",
                vals![kid],
            )
            .await?
            .ok_or_else(|| internal("find the key that signed the mandate"))?;
        let jwk: Value =
            serde_json::from_str(&r.text(0)?).map_err(|_| internal("read a signing key"))?;
        PublicJwk::from_jwk(&jwk).map_err(|_| internal("read a signing key"))
    }

    /// What was spent under the mandate so far (in the payment's currency: a mandate has one),
    /// as AP2's budget constraint reads it. Only a pre-check: the decision charges the budget
    /// atomically with the hold.
    async fn ap2_usage(&self, mandate_id: &str, currency: Currency) -> Result<MandateUsage> {
        let r = self
            .db
            .query_opt(
                "SELECT amount, payments FROM mandate_usage WHERE mandate_id = $1 AND bucket = $2",
                vals![mandate_id, ALL],
            )
            .await?;
        let Some(r) = r else {
            return Ok(MandateUsage::UNUSED);
        };
        Ok(MandateUsage {
            spent: Some(Money::new(r.int(0)?, currency)),
            occurrences: u32::try_from(r.int(1)?).unwrap_or(u32::MAX),
            last_occurrence: None,
        })
    }
}

/// The closed mandates must describe the payment the agent asks for.
fn describe_this_payment(p: &VerifiedPurchase, body: &mut PaymentBody) -> Result<()> {
    let checkout = p.checkout.checkout();
    let closed = p.payment.chain().last().and_then(Value::as_object);
    let merchant_of_checkout = checkout
        .get("merchant")
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str);
    let payee = closed
        .and_then(|c| c.get("payee"))
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str);
    if merchant_of_checkout != Some(body.merchant.id.as_str()) || payee != Some(&body.merchant.id) {
        return Err(refused(
            "ap2_merchant_mismatch",
            format!(
                "the closed mandates pay merchant {} (checkout) / {} (payee), not {}; the checkout's merchant.id and the payee id must be the merchant's Purser id",
                merchant_of_checkout.unwrap_or("(none)"),
                payee.unwrap_or("(none)"),
                body.merchant.id
            ),
            "merchant.id",
        ));
    }
    let amount = p.payment.amount();
    if amount.minor != body.total.amount || amount.currency.code() != body.total.currency {
        return Err(refused(
            "ap2_amount_mismatch",
            format!(
                "the payment mandate authorises {}, but this payment's total is {} {}",
                amount.with_symbol(),
                body.total.amount,
                body.total.currency
            ),
            "total",
        ));
    }
    // The instrument the agent signed for is the one the payment draws on.
    let instrument = closed
        .and_then(|c| c.get("payment_instrument"))
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str);
    let source = body.funding_source.as_deref();
    match instrument {
        None => {}
        Some("purser.wallet") if matches!(source, None | Some("wallet")) => {
            body.funding_source = Some("wallet".into());
        }
        Some("purser.exclusive_card") if source.is_some_and(|s| s.starts_with("ecd_")) => {}
        Some(other) => {
            return Err(refused(
                "ap2_instrument_mismatch",
                format!(
                    "the payment mandate pays with {other:?} but this payment draws on {}; use purser.wallet with the wallet, purser.exclusive_card with an ecd_… funding_source",
                    source.unwrap_or("the default source")
                ),
                "funding_source",
            ))
        }
    }
    let lines = checkout_lines(checkout);
    if lines.is_none() || lines != body_lines(&body.items) {
        return Err(refused(
            "ap2_items_mismatch",
            "the items (each with its id) and quantities must be exactly the line items of the checkout in the closed checkout mandate",
            "items",
        ));
    }
    match (checkout_id_in(checkout), &body.checkout_id) {
        (Some(c), Some(b)) if c != b => Err(refused(
            "ap2_checkout_mismatch",
            format!("checkout_id is {b} but the closed checkout mandate is for checkout {c}"),
            "checkout_id",
        )),
        (Some(c), None) => {
            body.checkout_id = Some(c.to_string());
            Ok(())
        }
        _ => Ok(()),
    }
}
