//! Confirmation (human present): a payment the mandate says the person must confirm waits,
//! with its money held, until they approve or decline it with their PIN on the page the
//! confirmation link opens. Link tokens are unguessable (a MAC under a sealed key), single-use
//! (the confirmation's status changes once) and expire.

use purser_core::{Money, Timestamp};
use purser_store::db::{DbError, Expect, Stmt};
use purser_store::vals;
use serde::Serialize;
use serde_json::json;

use super::views::currency_of;
use super::{credential, events, internal};
use crate::error::{Found, Kind, Result, WalletError};
use crate::funds::Shown;
use crate::pins::PinFrom;
use crate::Wallet;

/// What the confirmation page shows.
#[derive(Clone, Debug, Serialize)]
pub struct ConfirmationView {
    pub confirmation_id: String,
    /// `pending`, `approved`, `declined` or `expired`.
    pub status: String,
    pub expires_at: String,
    pub expires_at_ms: i64,
    pub payment_id: String,
    pub task_id: String,
    pub merchant_name: String,
    pub merchant_website: String,
    pub merchant_country: Option<String>,
    pub items: Vec<ItemView>,
    pub total: Shown,
    pub agent_name: String,
    pub agent_operator: String,
    pub mandate_id: Option<String>,
    /// The mandate in one plain sentence.
    pub mandate_summary: Option<String>,
    /// What the person said when they gave the mandate, verbatim.
    pub mandate_words: Option<String>,
    /// Why this payment needs the person: e.g. "above ¥500.00, the amount you pay without being asked".
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemView {
    pub title: String,
    pub quantity: u32,
    pub unit_price: Option<Shown>,
}

/// The person's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmAction {
    Approve,
    Decline,
}

fn unknown_link() -> WalletError {
    WalletError::new(
        Kind::NotFound,
        "confirmation_not_found",
        "this confirmation link is not valid; open the link exactly as the agent gave it",
    )
}

impl Wallet {
    /// The confirmation behind a link token (any status, so the page can say "already
    /// approved" or "expired").
    pub async fn confirmation_view(&self, token: &str) -> Result<ConfirmationView> {
        let cid = credential::confirm_id(self.credential_key.expose(), token.trim())
            .ok_or_else(unknown_link)?;
        self.confirmation_by_id(&cid).await
    }

    async fn confirmation_by_id(&self, cid: &str) -> Result<ConfirmationView> {
        let r = self
            .db
            .query_opt(
                "SELECT c.id, c.status, c.expires_at, p.id, p.task_id, p.amount, p.currency, p.request, p.mandate_id, p.reasons, a.name, a.operator, m.name, m.website, m.country, p.user_id FROM confirmations c JOIN payments p ON p.id = c.payment_id JOIN agents a ON a.id = p.agent_id JOIN merchants m ON m.id = p.merchant_id WHERE c.id = $1",
                vals![cid],
            )
            .await?
            .ok_or_else(unknown_link)?;
        let c = currency_of(&r.text(6)?)?;
        let mut status = r.text(1)?;
        let expires = r.int(2)?;
        if status == "pending" && expires <= self.now().0 {
            status = "expired".into();
        }
        // The items as the agent asked for them (the signed body).
        let request: serde_json::Value =
            serde_json::from_str(&r.text(7)?).map_err(|_| internal("read the payment"))?;
        let body: serde_json::Value = request["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default();
        let items = body["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| ItemView {
                        title: i["title"].as_str().unwrap_or_default().trim().to_string(),
                        quantity: i["quantity"]
                            .as_u64()
                            .and_then(|q| u32::try_from(q).ok())
                            .unwrap_or(0),
                        unit_price: i["unit_price"]["amount"]
                            .as_i64()
                            .map(|m| Shown::from(Money::new(m, c))),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mandate_id = r.opt_text(8)?;
        let user_id = r.text(15)?;
        // The mandate's summary and the person's own words are what they approve against: a
        // store that could not answer fails the page (retry), never shows it without them.
        let (summary, words) = match &mandate_id {
            Some(m) => match self.load_mandate(&user_id, m).await.found()? {
                Some(rec) => (
                    Some(rec.summary),
                    Some(rec.mandate.provenance.user_words).filter(|w| !w.trim().is_empty()),
                ),
                None => (None, None),
            },
            None => (None, None),
        };
        let reasons: Vec<super::Reason> = serde_json::from_str(&r.text(9)?).unwrap_or_default();
        Ok(ConfirmationView {
            confirmation_id: r.text(0)?,
            status,
            expires_at: Timestamp(expires).to_rfc3339(),
            expires_at_ms: expires,
            payment_id: r.text(3)?,
            task_id: r.text(4)?,
            merchant_name: r.text(12)?,
            merchant_website: r.text(13)?,
            merchant_country: r.opt_text(14)?,
            items,
            total: Money::new(r.int(5)?, c).into(),
            agent_name: r.text(10)?,
            agent_operator: r.text(11)?,
            mandate_id,
            mandate_summary: summary,
            mandate_words: words,
            reason: reasons
                .first()
                .map(|r| r.message.clone())
                .unwrap_or_default(),
        })
    }

    /// Approve or decline with the user's PIN, typed in a browser without a device cookie.
    /// Wrong PINs count towards the lock of unknown browsers.
    pub async fn decide_confirmation(
        &self,
        token: &str,
        pin: &str,
        action: ConfirmAction,
    ) -> Result<ConfirmationView> {
        self.decide_confirmation_on(token, pin, None, action).await
    }

    /// Approve or decline with the user's PIN, typed in a browser that sent `device` (its
    /// device cookie, if any): wrong PINs count towards that device's lock when it is the
    /// person's, else towards the lock of unknown browsers (`pins.rs`).
    pub async fn decide_confirmation_on(
        &self,
        token: &str,
        pin: &str,
        device: Option<&str>,
        action: ConfirmAction,
    ) -> Result<ConfirmationView> {
        self.decide_confirmation_by(token, Proof::Pin(pin, PinFrom::Browser(device)), action)
            .await
    }

    /// Approve or decline after the person proved themselves with a passkey: `user_id` is who
    /// the WebAuthn assertion (bound to this confirmation) verified as. Anyone else is refused.
    pub async fn decide_confirmation_with_passkey(
        &self,
        token: &str,
        user_id: &str,
        action: ConfirmAction,
    ) -> Result<ConfirmationView> {
        self.decide_confirmation_by(token, Proof::Passkey(user_id), action)
            .await
    }

    async fn decide_confirmation_by(
        &self,
        token: &str,
        proof: Proof<'_>,
        action: ConfirmAction,
    ) -> Result<ConfirmationView> {
        let view = self.confirmation_view(token).await?;
        match view.status.as_str() {
            "pending" => {}
            "expired" => {
                return Err(WalletError::conflict(
                    "confirmation_expired",
                    "this confirmation has expired; the money was released and the agent must ask again",
                ))
            }
            _ => {
                return Err(WalletError::conflict(
                    "confirmation_used",
                    format!("this payment was already {}; a confirmation link works once", view.status),
                ))
            }
        }
        let p = self
            .open_payment(&view.payment_id)
            .await?
            .ok_or_else(unknown_link)?;
        let method = match proof {
            Proof::Pin(pin, from) => {
                self.check_pin(&p.user_id, pin, from).await?;
                "pin"
            }
            Proof::Passkey(user_id) if user_id == p.user_id => "passkey",
            Proof::Passkey(_) => {
                return Err(WalletError::forbidden(
                    "passkey_not_yours",
                    "this passkey belongs to someone else; only the person this payment asks can answer it",
                ))
            }
        };
        let now = self.now();
        if action == ConfirmAction::Decline {
            let r = self
                .db
                .write(vec![
                    Stmt::exec(
                        "UPDATE confirmations SET status = 'declined', decided_at = $2, method = $3 WHERE id = $1 AND status = 'pending'",
                        vals![&view.confirmation_id, now.0, method],
                    )
                    .expect(Expect::One, "pending"),
                    // The payment starts ending in the same write, so a crash before its hold
                    // is voided leaves it `ending` for the sweeper, never waiting for an answer
                    // already given.
                    Stmt::exec(
                        "UPDATE payments SET status = 'ending', end_status = 'declined', end_reason = 'declined_by_person', updated_at = $2 WHERE id = $1 AND status = 'needs_confirmation'",
                        vals![&p.id, now.0],
                    ),
                ])
                .await;
            match r {
                Ok(_) => {}
                Err(DbError::Precondition(_)) => return Err(used()),
                Err(e) => return Err(e.into()),
            }
            self.finish_end(&p.id).await?;
            return self.confirmation_by_id(&view.confirmation_id).await;
        }
        let ttl = serde_json::from_str::<serde_json::Value>(
            &self
                .db
                .query_opt("SELECT request FROM payments WHERE id = $1", vals![&p.id])
                .await?
                .map(|r| r.text(0))
                .transpose()?
                .unwrap_or_default(),
        )
        .ok()
        .and_then(|v| {
            v["body"]
                .as_str()
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        })
        .and_then(|b| b["credential_ttl_seconds"].as_i64())
        .map_or(self.rules.credential_ttl_ms, |s| s.saturating_mul(1000));
        let cred_exp = now.0.saturating_add(ttl);
        let receipt = self
            .sign_receipt(json!({
                "iss": self.issuer(),
                "iat": now.0.div_euclid(1000),
                "payment_id": p.id,
                "decision": "approved",
                "confirmation": {
                    "id": view.confirmation_id,
                    "decided_by": p.user_id,
                    "method": method,
                    "decided_at": now.to_rfc3339(),
                },
                "user_id": p.user_id,
                "agent": {"id": p.agent_id},
                "merchant_id": p.merchant_id,
                "amount": {"amount": p.amount.minor, "currency": p.amount.currency.code()},
                "credential": {
                    "merchant_id": p.merchant_id,
                    "max_amount": p.amount.minor,
                    "currency": p.amount.currency.code(),
                    "expires_at": Timestamp(cred_exp).to_rfc3339(),
                    "checkout_id": p.checkout_id,
                    "single_use": true,
                },
            }))
            .await?;
        let mut stmts = vec![
            Stmt::exec(
                "UPDATE confirmations SET status = 'approved', decided_at = $2, method = $4, receipt = $3 WHERE id = $1 AND status = 'pending' AND expires_at > $2",
                vals![&view.confirmation_id, now.0, &receipt, method],
            )
            .expect(Expect::One, "pending"),
            Stmt::exec(
                "UPDATE payments SET status = 'approved', credential_expires_at = $2, updated_at = $2 WHERE id = $1 AND status = 'needs_confirmation' AND EXISTS (SELECT 1 FROM bindings b WHERE b.id = payments.binding_id AND b.frozen = 0 AND b.status = 'active') AND NOT EXISTS (SELECT 1 FROM mandates m WHERE m.id = payments.mandate_id AND m.status = 'revoked')",
                vals![&p.id, cred_exp],
            )
            .expect(Expect::One, "pending"),
        ];
        stmts.extend(self.event_stmts(
            &events::NewEvent {
                kind: "payment.approved",
                user_id: &p.user_id,
                agent_id: &p.agent_id,
                merchant_id: &p.merchant_id,
                payment_id: &p.id,
                task_id: &p.task_id,
                data: json!({
                    "payment_id": p.id,
                    "status": "approved",
                    "confirmed_by": "person",
                    "amount": {"amount": p.amount.minor, "currency": p.amount.currency.code()},
                    "merchant_id": p.merchant_id,
                }),
            },
            now,
        )?);
        match self.db.write(stmts).await {
            Ok(_) => {}
            Err(DbError::Precondition(_)) if !self.binding_usable(&p.id).await? => {
                self.end_payment(&p.id, &["needs_confirmation"], "voided", "agent_frozen")
                    .await?;
                return Err(WalletError::conflict(
                    "agent_frozen",
                    "this agent was frozen (or unbound) after it asked; the payment was cancelled and its money released",
                ));
            }
            Err(DbError::Precondition(_)) if self.mandate_revoked(&p.id).await? => {
                self.end_payment(&p.id, &["needs_confirmation"], "voided", "mandate_revoked")
                    .await?;
                return Err(WalletError::conflict(
                    "mandate_revoked",
                    "the mandate this payment relied on was revoked after the agent asked; the payment was cancelled and its money released",
                ));
            }
            Err(DbError::Precondition(_)) => return Err(used()),
            Err(e) => return Err(e.into()),
        }
        self.outbox_nudge();
        self.confirmation_by_id(&view.confirmation_id).await
    }
}

impl Wallet {
    /// Whether the mandate payment `id` relies on has been revoked.
    async fn mandate_revoked(&self, id: &str) -> Result<bool> {
        Ok(self
            .db
            .query_opt(
                "SELECT 1 FROM payments p JOIN mandates m ON m.id = p.mandate_id WHERE p.id = $1 AND m.status = 'revoked'",
                vals![id],
            )
            .await?
            .is_some())
    }
}

/// How the person proved who they are.
#[derive(Clone, Copy)]
enum Proof<'a> {
    Pin(&'a str, PinFrom<'a>),
    Passkey(&'a str),
}

fn used() -> WalletError {
    WalletError::conflict(
        "confirmation_used",
        "this confirmation was decided or expired just now; a confirmation link works once",
    )
}
