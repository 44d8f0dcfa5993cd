//! ACP delegated payment (Agentic Commerce Protocol 2026-04-17): Purser as the payment
//! provider that turns `POST /agentic_commerce/delegate_payment` into a `vt_…` vault token.
//!
//! This is an adapter: it translates at the edge into the same `authorize` every signed agent
//! payment goes through (binding, merchant, funding, anomaly rules, the mandate and the hold),
//! and the token is redeemed by the merchant on the same `POST /v1/merchant/captures` path as a
//! `pct_…` credential. Nothing here decides a payment.
//!
//! * **Who calls.** The Bearer is an ACP key (`pak_<id>_<secret>`) the person issued to an ACP
//!   agent platform for exactly one of their agent bindings: it can do nothing but ask for
//!   delegated payments of that agent for that person. Only its SHA-256 is kept; it expires,
//!   can be revoked, and stops working when the binding is revoked (a frozen binding declines).
//! * **Which mandate.** `metadata.mandate_id` when sent; otherwise the binding's one active
//!   mandate; several is `mandate_ambiguous` (send `metadata.mandate_id`).
//! * **What the card means.** `payment_method` must be a card the person saved in their
//!   Purser wallet, found by its keyed fingerprint (the number is never stored, logged or
//!   echoed; the CVC is checked for shape only and dropped). The money comes from where the
//!   binding's agent payments always come from (the wallet or the binding's exclusive card).
//! * **The allowance** becomes the payment: `max_amount` + `currency` its amount (held in the
//!   ledger now), `merchant_id` (a Purser `mch_…`) its merchant, `checkout_session_id` its
//!   checkout (and task), `expires_at` its credential's end — enforced at capture.
//! * **Risk signals.** Any `blocked` refuses (`risk_blocked`, nothing recorded);
//!   `manual_review` asks the person to confirm, whatever the mandate says.
//! * **Outcomes.** `approved` and `needs_confirmation` both answer 201 with the `vt_` token;
//!   `metadata.purser_status` says which (and `purser_confirmation_url` where the person
//!   approves): the token is redeemable once they do. `declined` answers 422 with the
//!   decline's code and sentence.

use std::collections::BTreeMap;

use purser_core::card::{self, CardNumber};
use purser_core::Timestamp;
use purser_store::db::{Expect, Stmt};
use purser_store::vals;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Principal, Scope};
use crate::error::{Kind, Result, WalletError};
use crate::ids::{self, check_id};
use crate::payments::{credential, PaymentBody, PaymentView, Via, MAX_CREDENTIAL_TTL_MS};
use crate::signed::AgentCaller;
use crate::Wallet;

/// The ACP version this adapter speaks (the `API-Version` header must name it).
pub const API_VERSION: &str = "2026-04-17";
/// Where ACP puts delegated payment.
pub const DELEGATE_PAYMENT_PATH: &str = "/agentic_commerce/delegate_payment";
/// Metadata entries per request: enough for an agent platform's bookkeeping, small enough to
/// record with every payment.
pub const MAX_METADATA_ENTRIES: usize = 50;
/// Longest metadata key and value.
pub const MAX_METADATA_KEY_LEN: usize = 40;
pub const MAX_METADATA_VALUE_LEN: usize = 500;
/// Risk signals per request.
pub const MAX_RISK_SIGNALS: usize = 20;
/// Live ACP keys per binding, so a leaked user token cannot mint without bound.
pub const MAX_KEYS_PER_BINDING: i64 = 10;
/// How long an ACP key lives unless the person says otherwise, and at most.
pub const DEFAULT_KEY_TTL_MS: i64 = 90 * 24 * 60 * 60 * 1000;
pub const MAX_KEY_TTL_MS: i64 = 366 * 24 * 60 * 60 * 1000;
/// The shortest allowance Purser takes: a token that expires before a merchant can redeem it
/// only ties up the person's money.
pub const MIN_ALLOWANCE_MS: i64 = 60_000;
/// Longest checkout session id (it is the payment's checkout and task id).
const MAX_CHECKOUT_ID_LEN: usize = crate::payments::MAX_REF_LEN;
/// Longest strings the spec leaves unbounded (card name, wallet type, brand, address state).
const MAX_FREE_TEXT: usize = 256;

// ---- the request -------------------------------------------------------------------------

/// The card as the agent platform sends it. The number, CVC and cryptogram are zeroized on
/// drop and never printed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardMethod {
    #[serde(rename = "type")]
    pub kind: String,
    pub card_number_type: String,
    pub number: String,
    #[serde(default)]
    pub exp_month: Option<String>,
    #[serde(default)]
    pub exp_year: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub cvc: Option<String>,
    #[serde(default)]
    pub cryptogram: Option<String>,
    #[serde(default)]
    pub eci_value: Option<String>,
    #[serde(default)]
    pub checks_performed: Option<Vec<String>>,
    #[serde(default)]
    pub iin: Option<String>,
    pub display_card_funding_type: String,
    #[serde(default)]
    pub display_wallet_type: Option<String>,
    #[serde(default)]
    pub display_brand: Option<String>,
    #[serde(default)]
    pub display_last4: Option<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(default, rename = "virtual")]
    pub is_virtual: Option<bool>,
}

impl std::fmt::Debug for CardMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardMethod(***)")
    }
}

impl Drop for CardMethod {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.number);
        if let Some(c) = self.cvc.as_mut() {
            zeroize::Zeroize::zeroize(c);
        }
        if let Some(c) = self.cryptogram.as_mut() {
            zeroize::Zeroize::zeroize(c);
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    pub reason: String,
    pub max_amount: i64,
    pub currency: String,
    pub checkout_session_id: String,
    pub merchant_id: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line_one: String,
    #[serde(default)]
    pub line_two: Option<String>,
    pub city: String,
    pub state: String,
    pub country: String,
    pub postal_code: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSignal {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: i64,
    pub action: String,
}

/// `POST /agentic_commerce/delegate_payment`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatePaymentRequest {
    pub payment_method: CardMethod,
    pub allowance: Allowance,
    #[serde(default)]
    pub billing_address: Option<Address>,
    pub risk_signals: Vec<RiskSignal>,
    pub metadata: BTreeMap<String, String>,
}

/// The 201 answer: ACP's `DelegatePaymentResponse`.
#[derive(Clone, Debug, Serialize)]
pub struct DelegatePaymentResponse {
    /// The vault token (`vt_…`) the merchant redeems.
    pub id: String,
    pub created: String,
    /// The request's metadata plus Purser's: `merchant_id`, `idempotency_key`,
    /// `purser_payment_id`, `purser_status` and, while the person has to confirm,
    /// `purser_confirmation_url`.
    pub metadata: BTreeMap<String, String>,
}

/// Who is calling: an ACP key of one binding.
#[derive(Clone, Debug)]
pub struct AcpCaller {
    pub key_id: String,
    pub binding_id: String,
    pub user_id: String,
    pub agent_id: String,
}

fn bad(code: &str, message: impl Into<String>, param: &str) -> WalletError {
    WalletError::invalid(code, message, param)
}

fn unprocessable(code: &str, message: impl Into<String>, param: Option<&str>) -> WalletError {
    let e = WalletError::new(Kind::Unprocessable, code, message);
    match param {
        Some(p) => e.at(p),
        None => e,
    }
}

fn invalid_card(message: impl Into<String>, param: &str) -> WalletError {
    bad("invalid_card", message, param)
}

fn bounded(s: &str, max: usize, param: &str, code: &str) -> Result<()> {
    if s.chars().count() > max || ids::has_hidden_chars(s, false) {
        return Err(bad(
            code,
            format!("{param} must be at most {max} visible characters"),
            param,
        ));
    }
    Ok(())
}

fn check_metadata(m: &BTreeMap<String, String>, param: &str) -> Result<()> {
    if m.len() > MAX_METADATA_ENTRIES {
        return Err(bad(
            "metadata_invalid",
            format!("{param} may have at most {MAX_METADATA_ENTRIES} entries"),
            param,
        ));
    }
    for (k, v) in m {
        if k.is_empty()
            || k.chars().count() > MAX_METADATA_KEY_LEN
            || ids::has_hidden_chars(k, false)
        {
            return Err(bad(
                "metadata_invalid",
                format!("{param} keys must be 1 to {MAX_METADATA_KEY_LEN} visible characters"),
                param,
            ));
        }
        if v.chars().count() > MAX_METADATA_VALUE_LEN || ids::has_hidden_chars(v, true) {
            return Err(bad(
                "metadata_invalid",
                format!(
                    "{param} values must be at most {MAX_METADATA_VALUE_LEN} visible characters"
                ),
                &format!("{param}.{k:.40}"),
            ));
        }
    }
    Ok(())
}

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The card's shape, as the spec defines it (no number yet).
fn check_card_shape(c: &CardMethod) -> Result<()> {
    const P: &str = "payment_method";
    if c.kind != "card" {
        return Err(invalid_card(
            "payment_method.type must be \"card\" (the only type ACP defines)",
            "payment_method.type",
        ));
    }
    if !matches!(c.card_number_type.as_str(), "fpan" | "network_token") {
        return Err(invalid_card(
            "payment_method.card_number_type must be \"fpan\" or \"network_token\"",
            "payment_method.card_number_type",
        ));
    }
    if !matches!(
        c.display_card_funding_type.as_str(),
        "credit" | "debit" | "prepaid"
    ) {
        return Err(invalid_card(
            "payment_method.display_card_funding_type must be credit, debit or prepaid",
            "payment_method.display_card_funding_type",
        ));
    }
    if let Some(m) = &c.exp_month {
        let ok = digits(m, 1, 2) && m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
        if !ok {
            return Err(invalid_card(
                "payment_method.exp_month must be a month, 01 to 12",
                "payment_method.exp_month",
            ));
        }
    }
    if let Some(y) = &c.exp_year {
        if !digits(y, 4, 4) {
            return Err(invalid_card(
                "payment_method.exp_year must be four digits (e.g. 2030)",
                "payment_method.exp_year",
            ));
        }
    }
    if let Some(v) = &c.cvc {
        if !digits(v, 3, 4) {
            return Err(invalid_card(
                "payment_method.cvc must be 3 or 4 digits",
                "payment_method.cvc",
            ));
        }
    }
    if let Some(e) = &c.eci_value {
        if e.len() > 2 {
            return Err(invalid_card(
                "payment_method.eci_value is at most 2 characters",
                "payment_method.eci_value",
            ));
        }
    }
    if let Some(i) = &c.iin {
        if !digits(i, 1, 8) {
            return Err(invalid_card(
                "payment_method.iin must be up to 8 digits",
                "payment_method.iin",
            ));
        }
    }
    if let Some(l) = &c.display_last4 {
        if !digits(l, 4, 4) {
            return Err(invalid_card(
                "payment_method.display_last4 must be 4 digits",
                "payment_method.display_last4",
            ));
        }
    }
    for (i, check) in c.checks_performed.iter().flatten().enumerate() {
        if !matches!(check.as_str(), "avs" | "cvv" | "ani" | "auth0") {
            return Err(invalid_card(
                "payment_method.checks_performed items are avs, cvv, ani or auth0",
                &format!("payment_method.checks_performed[{i}]"),
            ));
        }
    }
    for (v, f) in [
        (&c.name, "name"),
        (&c.display_wallet_type, "display_wallet_type"),
        (&c.display_brand, "display_brand"),
        (&c.cryptogram, "cryptogram"),
    ] {
        if let Some(v) = v {
            bounded(v, MAX_FREE_TEXT, &format!("{P}.{f}"), "invalid_card")?;
        }
    }
    check_metadata(&c.metadata, "payment_method.metadata")
}

fn check_address(a: &Address) -> Result<()> {
    const P: &str = "billing_address";
    let fields: [(&str, Option<&str>, usize); 7] = [
        ("name", Some(&a.name), 256),
        ("line_one", Some(&a.line_one), 60),
        ("line_two", a.line_two.as_deref(), 60),
        ("city", Some(&a.city), 60),
        ("state", Some(&a.state), MAX_FREE_TEXT),
        ("country", Some(&a.country), 2),
        ("postal_code", Some(&a.postal_code), 20),
    ];
    for (f, v, max) in fields {
        if let Some(v) = v {
            bounded(v, max, &format!("{P}.{f}"), "billing_address_invalid")?;
        }
    }
    if a.country.chars().count() != 2 {
        return Err(bad(
            "billing_address_invalid",
            "billing_address.country must be an ISO 3166-1 alpha-2 code (2 letters)",
            "billing_address.country",
        ));
    }
    Ok(())
}

/// An RFC 3339 instant.
pub fn parse_instant(s: &str) -> Option<Timestamp> {
    let t: jiff::Timestamp = s.trim().parse().ok()?;
    Some(Timestamp(t.as_millisecond()))
}

/// What the request asks once its shape is checked.
struct Asked {
    money: purser_core::Money,
    expires_at: Timestamp,
    manual_review: Vec<String>,
}

fn check_request(r: &DelegatePaymentRequest, now: Timestamp) -> Result<Asked> {
    check_card_shape(&r.payment_method)?;
    let a = &r.allowance;
    if a.reason != "one_time" {
        return Err(bad(
            "allowance_invalid",
            "allowance.reason must be \"one_time\" (the only reason ACP defines)",
            "allowance.reason",
        ));
    }
    if a.currency.len() != 3 || !a.currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(bad(
            "allowance_invalid",
            "allowance.currency must be a lowercase ISO 4217 code (e.g. usd, cny)",
            "allowance.currency",
        ));
    }
    let money = crate::funds::positive(a.max_amount, &a.currency, "allowance").map_err(|e| {
        let param = if e.param.as_deref() == Some("allowance.amount") {
            "allowance.max_amount"
        } else {
            "allowance.currency"
        };
        bad("allowance_invalid", e.message, param)
    })?;
    let cs = &a.checkout_session_id;
    if cs.is_empty() || cs.len() > MAX_CHECKOUT_ID_LEN || !cs.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad(
            "allowance_invalid",
            format!("allowance.checkout_session_id must be 1 to {MAX_CHECKOUT_ID_LEN} visible ASCII characters"),
            "allowance.checkout_session_id",
        ));
    }
    if check_id("mch", &a.merchant_id, "allowance.merchant_id").is_err() {
        return Err(unprocessable(
            "merchant_unknown",
            "allowance.merchant_id must be the merchant's Purser id (mch_…): only merchants registered with Purser can redeem its tokens",
            Some("allowance.merchant_id"),
        ));
    }
    let expires_at = parse_instant(&a.expires_at).ok_or_else(|| {
        bad(
            "allowance_invalid",
            "allowance.expires_at must be an RFC 3339 date-time (e.g. 2026-05-01T12:00:00Z)",
            "allowance.expires_at",
        )
    })?;
    let ahead = expires_at.0.saturating_sub(now.0);
    if !(MIN_ALLOWANCE_MS..=MAX_CREDENTIAL_TTL_MS).contains(&ahead) {
        return Err(unprocessable(
            "allowance_expiry_invalid",
            "allowance.expires_at must be between one minute and 24 hours from now",
            Some("allowance.expires_at"),
        ));
    }
    if let Some(b) = &r.billing_address {
        check_address(b)?;
    }
    if r.risk_signals.len() > MAX_RISK_SIGNALS {
        return Err(bad(
            "risk_signal_invalid",
            format!("send at most {MAX_RISK_SIGNALS} risk signals"),
            "risk_signals",
        ));
    }
    let mut manual_review = Vec::new();
    for (i, s) in r.risk_signals.iter().enumerate() {
        if s.kind != "card_testing" {
            return Err(bad(
                "risk_signal_invalid",
                "risk signal type must be card_testing (the only type ACP defines)",
                &format!("risk_signals[{i}].type"),
            ));
        }
        match s.action.as_str() {
            "authorized" => {}
            "manual_review" => manual_review.push(format!("{} (score {})", s.kind, s.score)),
            "blocked" => {
                return Err(unprocessable(
                    "risk_blocked",
                    format!(
                        "the agent platform's fraud check blocked this payment ({}, score {}); Purser will not issue a token for it",
                        s.kind, s.score
                    ),
                    Some(&format!("risk_signals[{i}].action")),
                ))
            }
            _ => {
                return Err(bad(
                    "risk_signal_invalid",
                    "risk signal action must be blocked, manual_review or authorized",
                    &format!("risk_signals[{i}].action"),
                ))
            }
        }
    }
    check_metadata(&r.metadata, "metadata")?;
    Ok(Asked {
        money,
        expires_at,
        manual_review,
    })
}

/// The fuzz targets' door (`fuzz/`): exactly what `POST /agentic_commerce/delegate_payment`
/// does with the body before anything is read from the database — JSON into
/// [`DelegatePaymentRequest`], then every shape, allowance, address, risk-signal and metadata
/// check at `now`. Not an API: it may change with the route.
#[doc(hidden)]
pub mod fuzzing {
    use super::{check_request, DelegatePaymentRequest};
    use crate::error::{Kind, WalletError};
    use purser_core::Timestamp;

    pub fn check_delegate_payment_body(body: &[u8], now: Timestamp) -> Result<(), WalletError> {
        let r: DelegatePaymentRequest = serde_json::from_slice(body).map_err(|_| {
            WalletError::new(
                Kind::Invalid,
                "invalid_json",
                "not a DelegatePaymentRequest",
            )
        })?;
        check_request(&r, now).map(|_| ())
    }
}

// ---- keys --------------------------------------------------------------------------------

/// An ACP key as the person sees it (never its secret after creation).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AcpKeyInfo {
    pub id: String,
    pub binding_id: String,
    pub agent_id: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// A fresh key: the secret is shown once.
#[derive(Clone, Debug, Serialize)]
pub struct CreatedAcpKey {
    /// `pak_…`: give it to the ACP agent platform as its Bearer token for delegate_payment.
    pub key: String,
    #[serde(flatten)]
    pub info: AcpKeyInfo,
}

/// `POST /v1/bindings/{id}/acp-keys`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAcpKey {
    #[serde(default)]
    pub name: Option<String>,
    /// Lifetime in days (default 90, at most 366).
    #[serde(default)]
    pub ttl_days: Option<i64>,
}

const KEY_COLUMNS: &str =
    "SELECT id, binding_id, agent_id, name, created_at, expires_at, revoked_at FROM acp_keys";

fn key_info(r: &purser_store::db::Row) -> Result<AcpKeyInfo> {
    Ok(AcpKeyInfo {
        id: r.text(0)?,
        binding_id: r.text(1)?,
        agent_id: r.text(2)?,
        name: r.text(3)?,
        created_at: Timestamp(r.int(4)?).to_rfc3339(),
        expires_at: Timestamp(r.int(5)?).to_rfc3339(),
        revoked_at: r.opt_int(6)?.map(|t| Timestamp(t).to_rfc3339()),
    })
}

fn key_refused() -> WalletError {
    WalletError::unauthorized(
        "unauthorized",
        "send the ACP key the person issued for this agent as 'Authorization: Bearer pak_…'; this one is unknown, revoked, expired, or its binding ended",
    )
}

impl Wallet {
    /// The person issues an ACP key for one of their active bindings (`agents:write`).
    pub async fn create_acp_key(
        &self,
        who: &Principal,
        binding_id: &str,
        req: &NewAcpKey,
    ) -> Result<CreatedAcpKey> {
        who.require(Scope::AgentsWrite)?;
        check_id("bnd", binding_id, "id")?;
        let name = req.name.clone().unwrap_or_else(|| "ACP".to_string());
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 || ids::has_hidden_chars(&name, false) {
            return Err(bad(
                "name_invalid",
                "name must be 1 to 100 visible characters",
                "name",
            ));
        }
        let ttl = match req.ttl_days {
            None => DEFAULT_KEY_TTL_MS,
            Some(d) if (1..=366).contains(&d) => d * 24 * 60 * 60 * 1000,
            Some(_) => {
                return Err(bad(
                    "ttl_invalid",
                    "ttl_days must be between 1 and 366",
                    "ttl_days",
                ))
            }
        };
        let b = self
            .db
            .query_opt(
                "SELECT agent_id, status FROM bindings WHERE id = $1 AND user_id = $2",
                vals![binding_id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("binding", binding_id))?;
        if b.text(1)? != "active" {
            return Err(WalletError::conflict(
                "binding_not_active",
                "ACP keys are issued only for an active binding; approve the agent's binding first",
            ));
        }
        let agent_id = b.text(0)?;
        let id = ids::new_id("apk")?;
        let secret = ids::new_secret("s")?;
        let suffix = id.strip_prefix("apk_").unwrap_or(&id);
        let key = format!("pak_{suffix}_{}", secret.trim_start_matches("s_"));
        let now = self.now();
        let expires = now.0.saturating_add(ttl.min(MAX_KEY_TTL_MS));
        self.db
            .write(vec![
                // At most MAX_KEYS_PER_BINDING live keys, counted in the same write.
                Stmt::exec(
                    "INSERT INTO acp_keys (id, binding_id, user_id, agent_id, name, secret_hash, created_at, expires_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT COUNT(*) FROM acp_keys WHERE binding_id = $2 AND revoked_at IS NULL AND expires_at > $7) < $9",
                    vals![&id, binding_id, &who.user_id, &agent_id, &name, ids::secret_hash(&key), now.0, expires, MAX_KEYS_PER_BINDING],
                )
                .expect(Expect::One, "key_limit"),
            ])
            .await
            .map_err(|e| match e {
                purser_store::db::DbError::Precondition(_) => WalletError::conflict(
                    "too_many_keys",
                    format!("this binding already has {MAX_KEYS_PER_BINDING} live ACP keys; revoke one first"),
                ),
                e => e.into(),
            })?;
        Ok(CreatedAcpKey {
            key,
            info: AcpKeyInfo {
                id,
                binding_id: binding_id.to_string(),
                agent_id,
                name,
                created_at: now.to_rfc3339(),
                expires_at: Timestamp(expires).to_rfc3339(),
                revoked_at: None,
            },
        })
    }

    /// The ACP keys of one of the person's bindings (`agents:read`), newest first.
    pub async fn list_acp_keys(
        &self,
        who: &Principal,
        binding_id: &str,
    ) -> Result<Vec<AcpKeyInfo>> {
        who.require(Scope::AgentsRead)?;
        check_id("bnd", binding_id, "id")?;
        self.db
            .query_opt(
                "SELECT 1 FROM bindings WHERE id = $1 AND user_id = $2",
                vals![binding_id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("binding", binding_id))?;
        let rows = self
            .db
            .query(
                &format!("{KEY_COLUMNS} WHERE binding_id = $1 AND user_id = $2 ORDER BY created_at DESC, id LIMIT 100"),
                vals![binding_id, &who.user_id],
            )
            .await?;
        rows.iter().map(key_info).collect()
    }

    /// Revoke an ACP key (`agents:write`): the next request with it is refused.
    pub async fn revoke_acp_key(&self, who: &Principal, id: &str) -> Result<AcpKeyInfo> {
        who.require(Scope::AgentsWrite)?;
        check_id("apk", id, "id").map_err(|_| WalletError::not_found("acp_key", id))?;
        self.db
            .write(vec![Stmt::exec(
                "UPDATE acp_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                vals![id, &who.user_id, self.now().0],
            )])
            .await?;
        let r = self
            .db
            .query_opt(
                &format!("{KEY_COLUMNS} WHERE id = $1 AND user_id = $2"),
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("acp_key", id))?;
        key_info(&r)
    }

    /// Who a Bearer ACP key speaks for: live key, active binding.
    pub async fn authenticate_acp(&self, key: &str) -> Result<AcpCaller> {
        let suffix = key
            .strip_prefix("pak_")
            .and_then(|r| r.split('_').next())
            .ok_or_else(key_refused)?;
        let id = format!("apk_{suffix}");
        check_id("apk", &id, "key").map_err(|_| key_refused())?;
        let r = self
            .db
            .query_opt(
                "SELECT k.secret_hash, k.expires_at, k.revoked_at, k.binding_id, k.user_id, k.agent_id, b.status FROM acp_keys k JOIN bindings b ON b.id = k.binding_id WHERE k.id = $1",
                vals![&id],
            )
            .await?
            .ok_or_else(key_refused)?;
        let hash = ids::secret_hash(key);
        let live = ids::constant_time_eq(r.text(0)?.as_bytes(), hash.as_bytes())
            && r.int(1)? > self.now().0
            && r.opt_int(2)?.is_none()
            && r.text(6)? == "active";
        if !live {
            return Err(key_refused());
        }
        Ok(AcpCaller {
            key_id: id,
            binding_id: r.text(3)?,
            user_id: r.text(4)?,
            agent_id: r.text(5)?,
        })
    }

    // ---- delegate payment ------------------------------------------------------------------

    /// The vaulted card the request names: its id, found by keyed fingerprint.
    async fn vaulted_card(&self, caller: &AcpCaller, c: &CardMethod) -> Result<(String, String)> {
        if c.card_number_type != "fpan" {
            return Err(unprocessable(
                "invalid_card",
                "Purser is the card vault here and issues no network tokens: send the number (fpan) of a card the person saved in their Purser wallet",
                Some("payment_method.card_number_type"),
            ));
        }
        let number = CardNumber::parse(&c.number).map_err(|_| {
            invalid_card(
                "payment_method.number is not a valid card number (12 to 19 digits with a correct check digit)",
                "payment_method.number",
            )
        })?;
        let fp = card::fingerprint(&number, self.fingerprint_key.expose());
        let r = self
            .db
            .query_opt(
                "SELECT id, exp_month, exp_year, last4 FROM cards WHERE user_id = $1 AND fingerprint = $2 AND status = 'active'",
                vals![&caller.user_id, fp.as_str()],
            )
            .await?
            .ok_or_else(|| {
                unprocessable(
                    "invalid_card",
                    "this card is not one the person saved in their Purser wallet; they can add it with `purser card add`",
                    Some("payment_method.number"),
                )
            })?;
        let month = c.exp_month.as_deref().and_then(|m| m.parse::<i64>().ok());
        let year = c.exp_year.as_deref().and_then(|y| y.parse::<i64>().ok());
        if month.is_some_and(|m| m != r.int(1).unwrap_or(-1)) {
            return Err(unprocessable(
                "invalid_card",
                "payment_method.exp_month is not the saved card's expiry month",
                Some("payment_method.exp_month"),
            ));
        }
        if year.is_some_and(|y| y != r.int(2).unwrap_or(-1)) {
            return Err(unprocessable(
                "invalid_card",
                "payment_method.exp_year is not the saved card's expiry year",
                Some("payment_method.exp_year"),
            ));
        }
        if c.display_last4
            .as_deref()
            .is_some_and(|l| l != number.last4())
        {
            return Err(unprocessable(
                "invalid_card",
                "payment_method.display_last4 is not the card number's last four digits",
                Some("payment_method.display_last4"),
            ));
        }
        Ok((r.text(0)?, fp.as_str().to_string()))
    }

    /// The mandate: `metadata.mandate_id`, or the binding's one active mandate.
    async fn acp_mandate(&self, caller: &AcpCaller, r: &DelegatePaymentRequest) -> Result<String> {
        if let Some(m) = r.metadata.get("mandate_id") {
            check_id("mdt", m, "metadata.mandate_id").map_err(|_| {
                unprocessable(
                    "mandate_unknown",
                    "metadata.mandate_id is not a Purser mandate id (mdt_…)",
                    Some("metadata.mandate_id"),
                )
            })?;
            return Ok(m.clone());
        }
        let rows = self
            .db
            .query(
                "SELECT id FROM mandates WHERE user_id = $1 AND agent_id = $2 AND status = 'active' ORDER BY id LIMIT 2",
                vals![&caller.user_id, &caller.agent_id],
            )
            .await?;
        match rows.as_slice() {
            [one] => one.text(0).map_err(Into::into),
            [] => Err(unprocessable(
                "mandate_missing",
                "the person has given this agent no active mandate, so Purser cannot pay for it",
                None,
            )),
            _ => Err(unprocessable(
                "mandate_ambiguous",
                "the person has given this agent several active mandates; name the one this payment relies on in metadata.mandate_id",
                Some("metadata.mandate_id"),
            )),
        }
    }

    /// Delegate a payment: translate the ACP request into the payment core's request, decide
    /// it there, and answer with a vault token. `idempotency_key` is the request's; a retry
    /// under it answers the payment as it stands (`true` when replayed) — a declined one as
    /// the same refusal.
    pub async fn delegate_payment(
        &self,
        caller: &AcpCaller,
        idempotency_key: &str,
        r: DelegatePaymentRequest,
    ) -> Result<(Result<DelegatePaymentResponse>, bool)> {
        let now = self.now();
        let asked = check_request(&r, now)?;
        let (card_id, fingerprint) = self.vaulted_card(caller, &r.payment_method).await?;
        let mandate_id = self.acp_mandate(caller, &r).await?;
        let a = &r.allowance;
        let code = asked.money.currency.code();
        // ttl in whole seconds, rounded down, so the credential never outlives the allowance
        // by more than the time this request takes; capture checks expires_at itself too.
        let ttl = asked.expires_at.0.saturating_sub(now.0) / 1000;
        let body = json!({
            "user_id": caller.user_id,
            "task_id": a.checkout_session_id,
            "mandate_id": mandate_id,
            "merchant": {"id": a.merchant_id},
            "items": [{
                "title": format!("ACP checkout {}", a.checkout_session_id),
                "quantity": 1,
                "unit_price": {"amount": asked.money.minor, "currency": code},
            }],
            "total": {"amount": asked.money.minor, "currency": code},
            "checkout_id": a.checkout_session_id,
            "credential_ttl_seconds": ttl,
        });
        let raw = body.to_string();
        let payment: PaymentBody = serde_json::from_str(&raw)
            .map_err(|_| crate::payments::internal("translate the ACP request"))?;
        let pm = &r.payment_method;
        // What is kept of the request: never the number, CVC or cryptogram.
        let record = json!({
            "api_version": API_VERSION,
            "acp_key": caller.key_id,
            "binding_id": caller.binding_id,
            "payment_method": {
                "type": pm.kind,
                "card_number_type": pm.card_number_type,
                "card_id": card_id,
                "fingerprint": fingerprint,
                "exp_month": pm.exp_month,
                "exp_year": pm.exp_year,
                "name": pm.name,
                "checks_performed": pm.checks_performed,
                "iin": pm.iin,
                "display_card_funding_type": pm.display_card_funding_type,
                "display_wallet_type": pm.display_wallet_type,
                "display_brand": pm.display_brand,
                "display_last4": pm.display_last4,
                "metadata": pm.metadata,
                "virtual": pm.is_virtual,
                "cvc_sent": pm.cvc.is_some(),
                "cryptogram_sent": pm.cryptogram.is_some(),
            },
            "allowance": {
                "reason": a.reason,
                "max_amount": a.max_amount,
                "currency": a.currency,
                "checkout_session_id": a.checkout_session_id,
                "merchant_id": a.merchant_id,
                "expires_at": a.expires_at,
                "expires_at_ms": asked.expires_at.0,
            },
            "billing_address": r.billing_address,
            "risk_signals": r.risk_signals,
            "metadata": r.metadata,
        });
        let via = Via {
            schedule: None,
            acp: Some(record),
            confirm: (!asked.manual_review.is_empty()).then(|| {
                format!(
                    "The agent platform's fraud check asked for a person to review this payment ({}).",
                    asked.manual_review.join(", ")
                )
            }),
            mcp_envelope: None,
        };
        let agent = AgentCaller {
            agent_id: caller.agent_id.clone(),
            kid: format!("acp:{}", caller.key_id),
            nonce: String::new(),
            signed_base: String::new(),
            signature: [0u8; 64],
            jwk: Value::Null,
        };
        // Scoped to the binding (ACP: "authenticated identity + endpoint") and apart from the
        // agent's own signed payments.
        let key = format!("acp|{}|{idempotency_key}", caller.binding_id);
        let (view, replayed) = self
            .authorize_via(&agent, &key, raw.as_bytes(), payment, via)
            .await?;
        Ok((
            self.acp_answer(&view, idempotency_key, &r.metadata),
            replayed,
        ))
    }

    fn acp_answer(
        &self,
        v: &PaymentView,
        idempotency_key: &str,
        asked: &BTreeMap<String, String>,
    ) -> Result<DelegatePaymentResponse> {
        match v.status.as_str() {
            "declined" => {
                let (code, message) = v.decline.as_ref().map_or(
                    ("declined", "Purser declined this payment.".to_string()),
                    |d| (d.code.as_str(), d.message.clone()),
                );
                return Err(unprocessable(code, message, None));
            }
            "failed" => {
                return Err(unprocessable(
                    "payment_failed",
                    "this request was interrupted and abandoned; nothing was charged — retry with a new Idempotency-Key",
                    None,
                ))
            }
            _ => {}
        }
        let mut metadata = asked.clone();
        metadata.insert("merchant_id".into(), v.merchant_id.clone());
        metadata.insert("idempotency_key".into(), idempotency_key.to_string());
        metadata.insert("purser_payment_id".into(), v.id.clone());
        metadata.insert("purser_status".into(), v.status.clone());
        if let Some(url) = v.confirmation.as_ref().and_then(|c| c.url.clone()) {
            metadata.insert("purser_confirmation_url".into(), url);
        }
        Ok(DelegatePaymentResponse {
            id: credential::vault_token(self.credential_key.expose(), &v.id),
            created: v.created_at.clone(),
            metadata,
        })
    }

    /// For a payment made through ACP: refuse once its allowance's `expires_at` has passed
    /// (the payment's own credential may live longer after a late confirmation). Other
    /// payments pass.
    pub(crate) async fn check_acp_allowance(&self, payment_id: &str) -> Result<()> {
        let r = self
            .db
            .query_opt(
                "SELECT request FROM payments WHERE id = $1",
                vals![payment_id],
            )
            .await?;
        let Some(r) = r else { return Ok(()) };
        let request: Value = serde_json::from_str(&r.text(0)?)
            .map_err(|_| crate::payments::internal("read the payment"))?;
        let Some(acp) = request.get("acp") else {
            return Ok(());
        };
        let expires = acp["allowance"]["expires_at_ms"]
            .as_i64()
            .ok_or_else(|| crate::payments::internal("read the payment's allowance"))?;
        if expires <= self.now().0 {
            return Err(WalletError::conflict(
                "credential_expired",
                "this vault token's allowance has expired; the agent must ask for a new one",
            ));
        }
        Ok(())
    }
}
