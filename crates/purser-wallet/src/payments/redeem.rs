//! Redemption by the merchant — capture, void, refund — and the one way an open payment ends
//! without a capture (`end_payment`: voided, expired, declined by the person, frozen agent).
//!
//! Each is a saga whose first step is a compare-and-set on the payment row, so a credential is
//! redeemed at most once and a payment ends at most once; the ledger steps are idempotent by
//! id (`capture:<pay>`, `void:<pay>`, `refund:<prf>`), and the intermediate states
//! (`capturing`, `ending`, refunds `pending`) are what the sweeper drives forward after a crash.

use purser_core::ledger::{LinkedOp, Op, Outcome as LedgerOutcome};
use purser_core::Money;
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::Deserialize;
use serde_json::json;

use super::views::{currency_of, select, PaymentView, Viewer};
use super::{credential, events, internal};
use crate::error::{Kind, Result, WalletError};
use crate::funds::{self, ecard_account, transfer_id, wallet_account, Amount};
use crate::ids::{self, check_id};
use crate::merchants::MerchantCaller;
use crate::Wallet;

/// A capture request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    /// The `pct_…` credential the agent handed over.
    pub credential: String,
    /// At most the credential's ceiling; less releases the rest.
    pub amount: Amount,
    /// The checkout being paid; must match when the credential is bound to one.
    #[serde(default)]
    pub checkout_id: Option<String>,
}

/// A refund request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub amount: Amount,
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a payment row says, for redemption.
pub(crate) struct Open {
    pub id: String,
    pub status: String,
    pub user_id: String,
    pub agent_id: String,
    pub task_id: String,
    pub merchant_id: String,
    pub checkout_id: Option<String>,
    pub amount: Money,
    pub captured: i64,
    pub refunded: i64,
    pub funding: String,
    pub credential_expires_at: Option<i64>,
    pub capture_amount: Option<i64>,
    pub end_status: Option<String>,
    pub end_reason: Option<String>,
}

const OPEN_COLUMNS: &str = "SELECT id, status, user_id, agent_id, task_id, merchant_id, checkout_id, amount, currency, captured, refunded, funding, credential_expires_at, capture_amount, end_status, end_reason FROM payments";

fn open_from(r: &Row) -> Result<Open> {
    Ok(Open {
        id: r.text(0)?,
        status: r.text(1)?,
        user_id: r.text(2)?,
        agent_id: r.text(3)?,
        task_id: r.text(4)?,
        merchant_id: r.text(5)?,
        checkout_id: r.opt_text(6)?,
        amount: Money::new(r.int(7)?, currency_of(&r.text(8)?)?),
        captured: r.int(9)?,
        refunded: r.int(10)?,
        funding: r.text(11)?,
        credential_expires_at: r.opt_int(12)?,
        capture_amount: r.opt_int(13)?,
        end_status: r.opt_text(14)?,
        end_reason: r.opt_text(15)?,
    })
}

fn credential_invalid() -> WalletError {
    WalletError::new(
        Kind::NotFound,
        "credential_invalid",
        "this payment credential is unknown or was altered; ask the agent for the pct_… credential Purser issued",
    )
    .at("credential")
}

impl Wallet {
    pub(crate) async fn open_payment(&self, id: &str) -> Result<Option<Open>> {
        self.db
            .query_opt(&format!("{OPEN_COLUMNS} WHERE id = $1"), vals![id])
            .await?
            .as_ref()
            .map(open_from)
            .transpose()
    }

    async fn merchant_view(&self, id: &str) -> Result<PaymentView> {
        let r = self
            .db
            .query_opt(&select("WHERE p.id = $1"), vals![id])
            .await?
            .ok_or_else(|| WalletError::not_found("payment", id))?;
        self.payment_from(&r, Viewer::Merchant)
    }

    /// A payment as its merchant sees it.
    pub async fn payment_for_merchant(&self, m: &MerchantCaller, id: &str) -> Result<PaymentView> {
        let p = self.merchants_payment(m, id).await?;
        self.merchant_view(&p.id).await
    }

    /// One of the merchant's payments: only those a credential was issued for (a declined
    /// request, and its reasons about the person's mandate and money, is none of its business).
    async fn merchants_payment(&self, m: &MerchantCaller, id: &str) -> Result<Open> {
        check_id("pay", id, "id")?;
        self.open_payment(id)
            .await?
            .filter(|p| p.merchant_id == m.merchant_id && p.credential_expires_at.is_some())
            .ok_or_else(|| WalletError::not_found("payment", id))
    }

    /// The payment a credential names, checked against the merchant presenting it.
    async fn redeemable(&self, m: &MerchantCaller, token: &str) -> Result<Open> {
        // A `pct_…` credential, or ACP's `vt_…` vault token for the same kind of payment.
        let token = token.trim();
        let vault = token.starts_with("vt_");
        let key = self.credential_key.expose();
        let id = if vault {
            credential::vault_token_payment(key, token)
        } else {
            credential::credential_payment(key, token)
        }
        .ok_or_else(credential_invalid)?;
        let p = self
            .open_payment(&id)
            .await?
            .ok_or_else(credential_invalid)?;
        if vault && p.status == "needs_confirmation" && p.merchant_id == m.merchant_id {
            return Err(WalletError::conflict(
                "confirmation_pending",
                "the person has not approved this payment yet; retry after they confirm it",
            ));
        }
        if p.credential_expires_at.is_none() {
            return Err(credential_invalid());
        }
        if p.merchant_id != m.merchant_id {
            tracing::warn!(payment = %p.id, merchant = %m.merchant_id, "a credential was presented by another merchant");
            self.write_event(&p, "payment.redemption_refused", json!({"payment_id": p.id, "reason": "credential_wrong_merchant", "presented_by": m.merchant_id}))
                .await?;
            return Err(WalletError::forbidden(
                "credential_wrong_merchant",
                "this credential was issued for another merchant; it cannot be redeemed here",
            ));
        }
        // A payment made through ACP also keeps its allowance's own expiry.
        self.check_acp_allowance(&p.id).await?;
        Ok(p)
    }

    /// Record one event outside a larger write.
    async fn write_event(&self, p: &Open, kind: &str, data: serde_json::Value) -> Result<()> {
        let stmts = self.event_stmts(
            &events::NewEvent {
                kind,
                user_id: &p.user_id,
                agent_id: &p.agent_id,
                merchant_id: &p.merchant_id,
                payment_id: &p.id,
                task_id: &p.task_id,
                data,
            },
            self.now(),
        )?;
        self.db.write(stmts).await?;
        self.outbox_nudge();
        Ok(())
    }

    /// Capture up to the held amount, once. A smaller amount releases the rest of the hold.
    pub async fn capture(&self, m: &MerchantCaller, b: &CaptureBody) -> Result<PaymentView> {
        let p = self.redeemable(m, &b.credential).await?;
        let amount = funds::positive(b.amount.amount, &b.amount.currency, "amount")?;
        if amount.currency != p.amount.currency {
            return Err(WalletError::invalid(
                "currency_mismatch",
                format!(
                    "this credential is for {}; capture in that currency",
                    p.amount.currency.code()
                ),
                "amount.currency",
            ));
        }
        if amount.minor > p.amount.minor {
            return Err(WalletError::new(
                Kind::Unprocessable,
                "amount_exceeds_credential",
                format!(
                    "this credential allows at most {}; capture that or less",
                    p.amount.with_symbol()
                ),
            )
            .at("amount.amount"));
        }
        if let Some(bound) = &p.checkout_id {
            if b.checkout_id.as_deref() != Some(bound.as_str()) {
                return Err(WalletError::forbidden(
                    "checkout_mismatch",
                    "this credential is bound to another checkout; send the checkout_id it was issued for",
                )
                .at("checkout_id"));
            }
        }
        let now = self.now();
        match p.status.as_str() {
            "approved" if p.credential_expires_at.is_some_and(|e| e > now.0) => {}
            "approved" | "expired" => {
                return Err(WalletError::conflict(
                    "credential_expired",
                    "this credential has expired; the agent must ask for a new payment",
                ))
            }
            // The same capture again (a retry after an error): finish it and answer.
            "capturing" if p.capture_amount == Some(amount.minor) => {
                self.finish_capture(&p.id).await?;
                return self.merchant_view(&p.id).await;
            }
            "capturing" | "captured" | "refunded" => {
                return Err(WalletError::conflict(
                    "credential_used",
                    "this credential was already redeemed; it is single use",
                ))
            }
            _ => {
                return Err(WalletError::conflict(
                    "credential_voided",
                    "this credential was voided (the payment was cancelled, declined or its agent frozen)",
                ))
            }
        }
        let claimed = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE payments SET status = 'capturing', capture_amount = $2, updated_at = $3 WHERE id = $1 AND status = 'approved' AND credential_expires_at > $3 AND EXISTS (SELECT 1 FROM bindings b WHERE b.id = payments.binding_id AND b.frozen = 0 AND b.status = 'active')",
                vals![&p.id, amount.minor, now.0],
            )
            .expect(Expect::One, "approved")])
            .await;
        match claimed {
            Ok(_) => {}
            Err(DbError::Precondition(_)) => {
                // Frozen or unbound just now: its credentials stop working at once.
                if self.binding_usable(&p.id).await? {
                    return Err(WalletError::conflict(
                        "credential_used",
                        "this credential was redeemed or voided just now; it is single use",
                    ));
                }
                self.end_payment(&p.id, &["approved"], "voided", "agent_frozen")
                    .await?;
                return Err(WalletError::conflict(
                    "credential_voided",
                    "the person froze the agent that holds this credential; it no longer works",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.finish_capture(&p.id).await?;
        self.merchant_view(&p.id).await
    }

    /// Whether the payment's agent is still bound to its user and not frozen.
    pub(crate) async fn binding_usable(&self, payment_id: &str) -> Result<bool> {
        Ok(self
            .db
            .query_opt(
                "SELECT 1 FROM payments p JOIN bindings b ON b.id = p.binding_id WHERE p.id = $1 AND b.frozen = 0 AND b.status = 'active'",
                vals![payment_id],
            )
            .await?
            .is_some())
    }

    /// Drive a `capturing` payment to `captured` (or, if its mandate ended, to `voided`).
    /// Safe to repeat: every step is idempotent.
    pub(crate) async fn finish_capture(&self, id: &str) -> Result<()> {
        let Some(p) = self.open_payment(id).await? else {
            return Ok(());
        };
        if p.status != "capturing" {
            return Ok(());
        }
        let amount = p.capture_amount.unwrap_or(p.amount.minor);
        let charge = self
            .db
            .query_opt(
                "SELECT status FROM mandate_charges WHERE payment_id = $1",
                vals![id],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?;
        if charge.as_deref() == Some("held") {
            if let Err(e) = self.capture_mandate_charge(id).await {
                // Another finisher of this capture (a sweeper, another node) may have
                // captured the charge first: then carry on with the (idempotent) post.
                let now_charge = self
                    .db
                    .query_opt(
                        "SELECT status FROM mandate_charges WHERE payment_id = $1",
                        vals![id],
                    )
                    .await?
                    .map(|r| r.text(0))
                    .transpose()?;
                if now_charge.as_deref() == Some("captured") {
                    tracing::debug!(payment = %id, "the charge was captured by another finisher");
                } else if e.code == "mandate_not_active" {
                    self.end_payment(id, &["capturing"], "voided", "mandate_not_active")
                        .await?;
                    return Err(WalletError::conflict(
                        "mandate_not_active",
                        "the person revoked the mandate this payment relied on; the hold was released and nothing was captured",
                    ));
                } else {
                    return Err(e);
                }
            }
        }
        let op = Op::Post {
            id: transfer_id(&format!("capture:{id}"))?,
            pending_id: transfer_id(&format!("hold:{id}"))?,
            amount: Some(amount),
        };
        match self
            .ledger
            .submit(vec![LinkedOp { op, linked: false }])
            .await?
            .into_iter()
            .next()
        {
            Some(Ok(LedgerOutcome::Transfer { .. })) => {
                if amount < p.amount.minor {
                    self.shrink_mandate_charge(id, amount).await?;
                }
            }
            Some(Err(e)) if e.code() == "hold_expired" || e.code() == "hold_already_voided" => {
                self.end_payment(id, &["capturing"], "expired", e.code())
                    .await?;
                return Err(WalletError::conflict(
                    "credential_expired",
                    "the money held for this payment was released before the capture; nothing was captured",
                ));
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(_)) | None => return Err(internal("capture the payment")),
        }
        let now = self.now();
        let mut stmts = vec![Stmt::exec(
            "UPDATE payments SET status = 'captured', captured = $2, updated_at = $3 WHERE id = $1 AND status = 'capturing'",
            vals![id, amount, now.0],
        )
        .expect(Expect::One, "capturing")];
        stmts.extend(self.event_stmts(
            &events::NewEvent {
                kind: "payment.captured",
                user_id: &p.user_id,
                agent_id: &p.agent_id,
                merchant_id: &p.merchant_id,
                payment_id: id,
                task_id: &p.task_id,
                data: json!({
                    "payment_id": id,
                    "status": "captured",
                    "captured": {"amount": amount, "currency": p.amount.currency.code()},
                    "released": {"amount": p.amount.minor - amount, "currency": p.amount.currency.code()},
                    "merchant_id": p.merchant_id,
                }),
            },
            now,
        )?);
        match self.db.write(stmts).await {
            Ok(_) | Err(DbError::Precondition(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.outbox_nudge();
        Ok(())
    }

    /// The merchant cancels an approved payment it will not capture.
    pub async fn void(&self, m: &MerchantCaller, id: &str) -> Result<PaymentView> {
        let p = self.merchants_payment(m, id).await?;
        match p.status.as_str() {
            "approved" => {
                if !self
                    .end_payment(id, &["approved"], "voided", "voided_by_merchant")
                    .await?
                {
                    return Err(WalletError::conflict(
                        "payment_not_voidable",
                        "this payment was captured or ended just now; it can no longer be voided",
                    ));
                }
            }
            "voided" => {}
            _ => {
                return Err(WalletError::conflict(
                    "payment_not_voidable",
                    format!(
                        "this payment is {}; only an approved, uncaptured payment can be voided (refund a captured one)",
                        p.status
                    ),
                ))
            }
        }
        self.merchant_view(id).await
    }

    /// End an open payment without capture: mark it `ending` (from one of `from`), void its
    /// hold, release its mandate charge, then mark it `to`. `false` when it was not in `from`.
    pub(crate) async fn end_payment(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        reason: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut claimed = false;
        for f in from {
            let r = self
                .db
                .write(vec![Stmt::exec(
                    "UPDATE payments SET status = 'ending', end_status = $3, end_reason = $4, updated_at = $5 WHERE id = $1 AND status = $2",
                    vals![id, *f, to, reason, now.0],
                )
                .expect(Expect::One, "from")])
                .await;
            match r {
                Ok(_) => {
                    claimed = true;
                    break;
                }
                Err(DbError::Precondition(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if !claimed {
            return Ok(false);
        }
        self.finish_end(id).await?;
        Ok(true)
    }

    /// Drive an `ending` payment to its end status. Safe to repeat.
    pub(crate) async fn finish_end(&self, id: &str) -> Result<()> {
        let Some(p) = self.open_payment(id).await? else {
            return Ok(());
        };
        if p.status != "ending" {
            return Ok(());
        }
        self.void_payment_hold(id).await?;
        // Nothing was posted (an ending payment's capture never reached the ledger), so even a
        // charge marked captured goes back to the mandate.
        self.release_uncaptured_charge(id).await?;
        let to = p.end_status.clone().unwrap_or_else(|| "voided".into());
        let reason = p.end_reason.clone().unwrap_or_default();
        let now = self.now();
        let mut stmts = vec![
            Stmt::exec(
                "UPDATE payments SET status = $2, updated_at = $3 WHERE id = $1 AND status = 'ending'",
                vals![id, &to, now.0],
            )
            .expect(Expect::One, "ending"),
            Stmt::exec(
                "UPDATE confirmations SET status = CASE WHEN $3 = 'declined' THEN 'declined' ELSE 'expired' END, decided_at = COALESCE(decided_at, $2) WHERE payment_id = $1 AND status = 'pending'",
                vals![id, now.0, &to],
            ),
        ];
        let kind = match to.as_str() {
            "expired" => "payment.expired",
            "declined" => "payment.confirmation_declined",
            "failed" => "payment.failed",
            _ => "payment.voided",
        };
        stmts.extend(self.event_stmts(
            &events::NewEvent {
                kind,
                user_id: &p.user_id,
                agent_id: &p.agent_id,
                merchant_id: &p.merchant_id,
                payment_id: id,
                task_id: &p.task_id,
                data: json!({
                    "payment_id": id,
                    "status": to,
                    "reason": reason,
                    "released": {"amount": p.amount.minor, "currency": p.amount.currency.code()},
                }),
            },
            now,
        )?);
        match self.db.write(stmts).await {
            Ok(_) | Err(DbError::Precondition(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.outbox_nudge();
        Ok(())
    }

    /// Give money back to where it came from, in full or in part, once per `key`.
    pub async fn refund(
        &self,
        m: &MerchantCaller,
        id: &str,
        key: &str,
        b: &RefundBody,
    ) -> Result<PaymentView> {
        let p = self.merchants_payment(m, id).await?;
        let amount = funds::positive(b.amount.amount, &b.amount.currency, "amount")?;
        if amount.currency != p.amount.currency {
            return Err(WalletError::invalid(
                "currency_mismatch",
                format!(
                    "refund in the payment's currency, {}",
                    p.amount.currency.code()
                ),
                "amount.currency",
            ));
        }
        if let Some(r) = &b.reason {
            if r.chars().count() > 500 || ids::has_hidden_chars(r, false) {
                return Err(WalletError::invalid(
                    "reason_invalid",
                    "the reason is at most 500 visible characters",
                    "reason",
                ));
            }
        }
        let rid = ids::derived_id("prf", &format!("{}|{id}", m.merchant_id), key);
        let now = self.now();
        let r = self
            .db
            .write(vec![
                Stmt::exec(
                    "INSERT INTO payment_refunds (id, payment_id, merchant_id, amount, status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
                    vals![&rid, id, &m.merchant_id, amount.minor, now.0],
                ),
                Stmt::exec(
                    "UPDATE payments SET refunded = refunded + $2, updated_at = $3 WHERE id = $1 AND status IN ('captured', 'refunded') AND refunded + $2 <= captured",
                    vals![id, amount.minor, now.0],
                )
                .expect(Expect::One, "refundable"),
            ])
            .await;
        match r {
            Ok(_) => {}
            Err(DbError::Conflict(_)) => {
                // The same key again: the first refund, driven to its end.
                let same = self
                    .db
                    .query_opt(
                        "SELECT amount FROM payment_refunds WHERE id = $1",
                        vals![&rid],
                    )
                    .await?
                    .map(|r| r.int(0))
                    .transpose()?;
                if same != Some(amount.minor) {
                    return Err(WalletError::new(
                        Kind::Unprocessable,
                        "idempotency_conflict",
                        "this Idempotency-Key was used for a different refund; use a fresh key",
                    ));
                }
                let status = self
                    .db
                    .query_opt(
                        "SELECT status FROM payment_refunds WHERE id = $1",
                        vals![&rid],
                    )
                    .await?
                    .map(|r| r.text(0))
                    .transpose()?;
                if status.as_deref() == Some("failed") {
                    return Err(WalletError::conflict(
                        "refund_refused",
                        "this refund was refused by the ledger; nothing was refunded",
                    ));
                }
            }
            Err(DbError::Precondition(_)) => {
                let left = p.captured.saturating_sub(p.refunded);
                return Err(if p.status == "captured" || p.status == "refunded" {
                    WalletError::new(
                        Kind::Unprocessable,
                        "refund_exceeds_captured",
                        format!(
                            "at most {} of this payment can still be refunded",
                            Money::new(left, p.amount.currency).with_symbol()
                        ),
                    )
                    .at("amount.amount")
                } else {
                    WalletError::conflict(
                        "payment_not_captured",
                        "only a captured payment can be refunded; void an approved one instead",
                    )
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.finish_refund(&rid).await?;
        self.merchant_view(id).await
    }

    /// Move a `pending` refund's money and mark it done. Safe to repeat.
    pub(crate) async fn finish_refund(&self, rid: &str) -> Result<()> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT payment_id, amount, status FROM payment_refunds WHERE id = $1",
                vals![rid],
            )
            .await?
        else {
            return Ok(());
        };
        if r.text(2)? != "pending" {
            return Ok(());
        }
        let id = r.text(0)?;
        let amount = r.int(1)?;
        let p = self
            .open_payment(&id)
            .await?
            .ok_or_else(|| internal("read the refunded payment"))?;
        let c = p.amount.currency;
        // Back to the source: the exclusive card while it is open, else the wallet.
        let to = if p.funding.starts_with("ecd_") {
            let open = self
                .db
                .query_opt(
                    "SELECT status FROM exclusive_cards WHERE id = $1",
                    vals![&p.funding],
                )
                .await?
                .map(|r| r.text(0))
                .transpose()?
                .is_some_and(|s| s == "active");
            if open {
                ecard_account(&p.funding)?
            } else {
                self.ensure_wallet(&p.user_id, c).await?
            }
        } else {
            self.ensure_wallet(&p.user_id, c).await?;
            wallet_account(&p.user_id, c)?
        };
        let moved = self
            .transfer(
                &format!("refund:{rid}"),
                super::merchant_account(&p.merchant_id, c)?,
                to,
                Money::new(amount, c),
            )
            .await;
        if let Err(e) = moved {
            if e.kind == Kind::Unavailable {
                return Err(e);
            }
            // The ledger refused for good (the merchant's balance cannot cover it): give the
            // refundable amount back and say so.
            let now = self.now();
            self.db
                .write(vec![
                    Stmt::exec(
                        "UPDATE payment_refunds SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'",
                        vals![rid, now.0],
                    )
                    .expect(Expect::One, "pending"),
                    Stmt::exec(
                        "UPDATE payments SET refunded = refunded - $2, updated_at = $3 WHERE id = $1",
                        vals![&id, amount, now.0],
                    ),
                ])
                .await
                .map_err(WalletError::from)?;
            return Err(WalletError::conflict(
                "refund_refused",
                format!(
                    "the ledger refused this refund ({}); nothing was refunded",
                    e.code
                ),
            ));
        }
        let now = self.now();
        let mut stmts = vec![
            Stmt::exec(
                "UPDATE payment_refunds SET status = 'succeeded', updated_at = $2 WHERE id = $1 AND status = 'pending'",
                vals![rid, now.0],
            )
            .expect(Expect::One, "pending"),
            Stmt::exec(
                "UPDATE payments SET status = CASE WHEN refunded >= captured THEN 'refunded' ELSE status END, updated_at = $2 WHERE id = $1",
                vals![&id, now.0],
            ),
        ];
        stmts.extend(self.event_stmts(
            &events::NewEvent {
                kind: "payment.refunded",
                user_id: &p.user_id,
                agent_id: &p.agent_id,
                merchant_id: &p.merchant_id,
                payment_id: &id,
                task_id: &p.task_id,
                data: json!({
                    "payment_id": id,
                    "refund_id": rid,
                    "amount": {"amount": amount, "currency": c.code()},
                    "refunded_total": {"amount": p.refunded, "currency": c.code()},
                    "to": if p.funding.is_empty() { "wallet" } else { p.funding.as_str() },
                }),
            },
            now,
        )?);
        match self.db.write(stmts).await {
            Ok(_) | Err(DbError::Precondition(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.outbox_nudge();
        Ok(())
    }
}
