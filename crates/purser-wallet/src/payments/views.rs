//! How a payment reads to its agent, its user and its merchant.

use purser_core::{Currency, Money, Timestamp};
use purser_store::db::Row;
use purser_store::vals;
use serde::{Deserialize, Serialize};

use super::credential;
use crate::access::{Principal, Scope};
use crate::error::{Result, WalletError};
use crate::funds::Shown;
use crate::ids::check_id;
use crate::signed::AgentCaller;
use crate::Wallet;

/// One reason for a decision: a stable code and a sentence a person understands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reason {
    pub code: String,
    pub message: String,
}

/// Why a payment was declined.
#[derive(Clone, Debug, Serialize)]
pub struct Decline {
    /// The first reason's code.
    pub code: String,
    /// Every reason in one paragraph.
    pub message: String,
    pub reasons: Vec<Reason>,
}

/// The scoped payment credential: single use, for one merchant, up to an amount, until a time
/// (ACP's delegated vault token with allowance).
#[derive(Clone, Debug, Serialize)]
pub struct CredentialView {
    /// `pct_…` — shown to the agent only; the merchant redeems it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub merchant_id: String,
    pub max_amount: Shown,
    pub currency: &'static str,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    pub single_use: bool,
    /// `usable`, `redeemed`, `voided` or `expired`.
    pub state: &'static str,
}

/// The confirmation a payment waits on.
#[derive(Clone, Debug, Serialize)]
pub struct ConfirmationLink {
    pub id: String,
    /// `pending`, `approved`, `declined` or `expired`.
    pub status: String,
    /// The page the person opens (agent and owner only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub expires_at: String,
    pub reason: Option<String>,
}

/// A payment as its parties see it.
#[derive(Clone, Debug, Serialize)]
pub struct PaymentView {
    pub id: String,
    pub object: &'static str,
    /// `declined`, `needs_confirmation`, `approved`, `capturing`, `captured`, `refunded`,
    /// `voided`, `expired` or `failed` (`deciding` only while the request runs).
    pub status: String,
    pub user_id: String,
    pub agent_id: String,
    pub task_id: String,
    pub mandate_id: Option<String>,
    pub merchant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    pub amount: Shown,
    pub captured: Shown,
    pub refunded: Shown,
    /// `wallet` or the exclusive card paid from.
    pub funding_source: String,
    /// Who asked: `agent` (a signed request), `acp` (ACP delegated payment) or `schedule`
    /// (Token Pay: Purser's scheduler, for a recurring mandate).
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<ConfirmationLink>,
    /// The signed decision receipt (ES256 JWS; Purser's keys at `/.well-known/jwks.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Who is looking: what they may see of the secrets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Viewer {
    /// The agent that asked: the credential token and the confirmation link.
    Agent,
    /// The person: the confirmation link, never the credential.
    Owner,
    /// The merchant: neither.
    Merchant,
}

pub(crate) const COLUMNS: &str = "p.id, p.status, p.user_id, p.agent_id, p.task_id, p.mandate_id, p.merchant_id, p.checkout_id, p.amount, p.currency, p.captured, p.refunded, p.funding, p.decline_code, p.reasons, p.receipt, p.credential_expires_at, p.created_at, p.updated_at, c.id, c.status, c.expires_at, p.capture_amount, p.origin";

pub(crate) fn select(filter: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM payments p LEFT JOIN confirmations c ON c.payment_id = p.id {filter}"
    )
}

pub(crate) fn currency_of(code: &str) -> Result<Currency> {
    Currency::from_code(code).ok_or_else(|| {
        purser_store::StoreError::Corrupt("a payment has an unknown currency".into()).into()
    })
}

impl Wallet {
    pub(crate) fn payment_from(&self, r: &Row, viewer: Viewer) -> Result<PaymentView> {
        let id = r.text(0)?;
        let status = r.text(1)?;
        let c = currency_of(&r.text(9)?)?;
        let money = |v: i64| Shown::from(Money::new(v, c));
        let reasons: Vec<Reason> = serde_json::from_str(&r.text(14)?).unwrap_or_default();
        let decline = (status == "declined" || status == "failed")
            .then(|| reasons.first().cloned())
            .flatten()
            .map(|first| Decline {
                code: first.code.clone(),
                message: reasons
                    .iter()
                    .map(|r| r.message.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                reasons: reasons.clone(),
            });
        let merchant_id = r.text(6)?;
        let checkout_id = r.opt_text(7)?;
        let amount = r.int(8)?;
        let now = self.now().0;
        let credential = match r.opt_int(16)? {
            Some(exp) => {
                let state = match status.as_str() {
                    "approved" if exp > now => "usable",
                    "approved" | "expired" => "expired",
                    "capturing" | "captured" | "refunded" => "redeemed",
                    _ => "voided",
                };
                Some(CredentialView {
                    token: (viewer == Viewer::Agent && state == "usable")
                        .then(|| credential::credential_token(self.credential_key.expose(), &id)),
                    merchant_id: merchant_id.clone(),
                    max_amount: money(amount),
                    currency: c.code(),
                    expires_at: Timestamp(exp).to_rfc3339(),
                    checkout_id: checkout_id.clone(),
                    single_use: true,
                    state,
                })
            }
            None => None,
        };
        let confirmation = match r.opt_text(19)? {
            Some(cid) => {
                let cstatus = r.text(20)?;
                Some(ConfirmationLink {
                    url: (viewer != Viewer::Merchant && cstatus == "pending").then(|| {
                        self.confirmation_url(&credential::confirm_token(
                            self.credential_key.expose(),
                            &cid,
                        ))
                    }),
                    id: cid,
                    status: cstatus,
                    expires_at: Timestamp(r.int(21)?).to_rfc3339(),
                    reason: reasons.first().map(|r| r.message.clone()),
                })
            }
            None => None,
        };
        Ok(PaymentView {
            id,
            object: "payment",
            status,
            user_id: r.text(2)?,
            agent_id: r.text(3)?,
            task_id: r.text(4)?,
            mandate_id: r.opt_text(5)?,
            merchant_id,
            checkout_id,
            amount: money(amount),
            captured: money(r.int(10)?),
            refunded: money(r.int(11)?),
            funding_source: r.text(12)?,
            origin: r.text(23)?,
            decline,
            credential,
            confirmation,
            receipt: r.opt_text(15)?,
            created_at: Timestamp(r.int(17)?).to_rfc3339(),
            updated_at: Timestamp(r.int(18)?).to_rfc3339(),
        })
    }

    /// A payment the calling agent made.
    pub async fn payment_for_agent(&self, agent: &AgentCaller, id: &str) -> Result<PaymentView> {
        check_id("pay", id, "id")?;
        let r = self
            .db
            .query_opt(
                &select("WHERE p.id = $1 AND p.agent_id = $2"),
                vals![id, &agent.agent_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("payment", id))?;
        self.payment_from(&r, Viewer::Agent)
    }

    /// One of the user's payments.
    pub async fn payment(&self, who: &Principal, id: &str) -> Result<PaymentView> {
        who.require(Scope::PaymentsRead)?;
        check_id("pay", id, "id")?;
        let r = self
            .db
            .query_opt(
                &select("WHERE p.id = $1 AND p.user_id = $2"),
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("payment", id))?;
        self.payment_from(&r, Viewer::Owner)
    }

    /// Where confirmation pages are served (set by the server from its public origin).
    pub fn confirmation_url(&self, token: &str) -> String {
        let base = self
            .public_base
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default();
        format!("{base}/confirm/{token}")
    }

    /// Tell the wallet its public origin (`https://purser.example`), for links it hands out.
    pub fn set_public_base(&self, base: &str) {
        if let Ok(mut b) = self.public_base.lock() {
            *b = base.trim_end_matches('/').to_string();
        }
    }
}
