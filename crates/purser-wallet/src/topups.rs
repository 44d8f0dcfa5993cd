//! Top-ups: money from a card into the wallet through the card rail, and refunds back.
//!
//! A top-up is a small saga, safe at every step against crashes and retries:
//!
//! 1. record the top-up (`pending`) under an id derived from the Idempotency-Key;
//! 2. ask the rail to authorize (the rail is idempotent on Purser's reference): it approves,
//!    asks for a 3-D Secure challenge (`requires_challenge`, answered later), or declines;
//! 3. on approval record `approved` and destroy the card's CVV in the same write;
//! 4. move the money in the ledger (`rail:<rail>:<CUR>` → `wallet:<usr>:<CUR>`) under the
//!    transfer id `topup:<id>` — exactly once, whatever repeats;
//! 5. record `succeeded`.
//!
//! A crash between any two steps leaves a state the sweeper ([`Wallet::recover`]) drives
//! forward. Refunds run the other way: reserve the refundable amount on the top-up row, move
//! the money out of the wallet in the ledger, then ask the rail; if the rail refuses, the
//! ledger move is reversed.

use purser_core::card::{CardNumber, Cvv, Expiry};
use purser_core::ledger::AccountFlags;
use purser_core::rail::{CardRail, RailCharge, RailOutcome, RailRef};
use purser_core::{Currency, Money, Timestamp};
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::access::{Principal, Scope};
use crate::error::{Kind, Result, WalletError};
use crate::funds::{self, rail_account, Amount, Shown};
use crate::ids::{self, check_id};
use crate::Wallet;

/// Largest single top-up, in minor units of any currency: a wallet for agent spending is
/// not a bank account, and a typo of three zeros should not go through.
pub const MAX_TOPUP_MINOR: i64 = 100_000_000;

/// A `pending` top-up older than this is re-driven by the sweeper: its request died
/// mid-flight. (Rails answer in seconds; this leaves room.)
pub const STALE_PENDING_MS: i64 = 60_000;

/// Longest 3-D Secure answer accepted.
const MAX_CHALLENGE_ANSWER: usize = 64;

#[derive(Clone, Debug, Serialize)]
pub struct Topup {
    pub id: String,
    pub card_id: String,
    pub amount: Shown,
    /// `pending`, `requires_challenge`, `approved` (money on its way), `succeeded`,
    /// `declined`.
    pub status: String,
    pub rail: String,
    /// True when the rail is the built-in simulation: no real card was charged.
    pub sandbox: bool,
    /// What to ask the cardholder, when `requires_challenge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_message: Option<String>,
    pub refunded: Shown,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Refund {
    pub id: String,
    pub topup_id: String,
    pub amount: Shown,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub sandbox: bool,
    pub created_at: String,
}

const COLUMNS: &str = "SELECT id, card_id, amount, currency, status, rail, challenge, decline_code, decline_message, refunded, created_at, updated_at, user_id, rail_ref FROM topups";

fn cur(code: &str) -> Result<Currency> {
    Currency::from_code(code).ok_or_else(|| {
        purser_store::StoreError::Corrupt("a stored currency is unknown".into()).into()
    })
}

fn rail_unavailable() -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "rail_unavailable",
        "the card network did not answer; nothing is decided yet — retry with the same Idempotency-Key (Purser also retries by itself)",
    )
}

/// A stored top-up with what the saga needs beyond the view.
struct Row2 {
    view: Topup,
    user_id: String,
    money: Money,
    rail_ref: Option<String>,
}

impl Wallet {
    fn topup_from(&self, r: &Row) -> Result<Row2> {
        let c = cur(&r.text(3)?)?;
        let money = Money::new(r.int(2)?, c);
        Ok(Row2 {
            view: Topup {
                id: r.text(0)?,
                card_id: r.text(1)?,
                amount: money.into(),
                status: r.text(4)?,
                sandbox: self.rail.is_sandbox(),
                rail: r.text(5)?,
                challenge: r.opt_text(6)?,
                decline_code: r.opt_text(7)?,
                decline_message: r.opt_text(8)?,
                refunded: Money::new(r.int(9)?, c).into(),
                created_at: Timestamp(r.int(10)?).to_rfc3339(),
                updated_at: Timestamp(r.int(11)?).to_rfc3339(),
            },
            user_id: r.text(12)?,
            money,
            rail_ref: r.opt_text(13)?,
        })
    }

    async fn load_topup(&self, id: &str) -> Result<Row2> {
        let r = self
            .db
            .query_opt(&format!("{COLUMNS} WHERE id = $1"), vals![id])
            .await?
            .ok_or_else(|| WalletError::not_found("topup", id))?;
        self.topup_from(&r)
    }

    pub async fn topup(&self, who: &Principal, id: &str) -> Result<Topup> {
        who.require(Scope::WalletRead)?;
        check_id("top", id, "id")?;
        let t = self.load_topup(id).await?;
        if t.user_id != who.user_id {
            return Err(WalletError::not_found("topup", id));
        }
        Ok(t.view)
    }

    pub async fn list_topups(&self, who: &Principal) -> Result<Vec<Topup>> {
        who.require(Scope::WalletRead)?;
        self.db
            .query(
                &format!("{COLUMNS} WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT 200"),
                vals![&who.user_id],
            )
            .await?
            .iter()
            .map(|r| self.topup_from(r).map(|t| t.view))
            .collect()
    }

    /// Charge `card_id` for `amount` into the wallet. `key` (the Idempotency-Key) makes a
    /// retry continue the same top-up rather than charge twice.
    pub async fn top_up(
        &self,
        who: &Principal,
        card_id: &str,
        amount: &Amount,
        key: &str,
    ) -> Result<Topup> {
        who.require(Scope::WalletWrite)?;
        let card = self.card(who, card_id).await.map_err(|e| e.at("card_id"))?;
        if card.status != "active" {
            return Err(WalletError::conflict(
                "card_removed",
                "this card was removed; add it again to use it",
            )
            .at("card_id"));
        }
        let m = funds::positive(amount.amount, &amount.currency, "amount")?;
        if m.minor > MAX_TOPUP_MINOR {
            return Err(WalletError::invalid(
                "amount_too_large",
                format!(
                    "a single top-up is at most {}",
                    Money::new(MAX_TOPUP_MINOR, m.currency).with_symbol()
                ),
                "amount.amount",
            ));
        }
        let id = ids::derived_id("top", &who.user_id, key);
        let now = self.now();
        self.db
            .write(vec![Stmt::exec(
                "INSERT INTO topups (id, user_id, card_id, amount, currency, status, rail, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7) ON CONFLICT DO NOTHING",
                vals![&id, &who.user_id, card_id, m.minor, m.currency.code(), self.rail.name(), now.0],
            )])
            .await?;
        let t = self.load_topup(&id).await?;
        if t.user_id != who.user_id || t.view.card_id != card_id || t.money != m {
            return Err(WalletError::new(
                Kind::Unprocessable,
                "idempotency_conflict",
                "this Idempotency-Key was already used for a different top-up; use a new key",
            )
            .at("Idempotency-Key"));
        }
        self.drive(t).await
    }

    /// Answer the 3-D Secure challenge of a top-up.
    pub async fn answer_challenge(&self, who: &Principal, id: &str, answer: &str) -> Result<Topup> {
        who.require(Scope::WalletWrite)?;
        self.topup(who, id).await?;
        let t = self.load_topup(id).await?;
        if t.view.status != "requires_challenge" {
            return Err(WalletError::conflict(
                "topup_state",
                format!(
                    "this top-up is {}; only a top-up waiting for its challenge can be answered",
                    t.view.status
                ),
            ));
        }
        if answer.is_empty() || answer.len() > MAX_CHALLENGE_ANSWER {
            return Err(WalletError::invalid(
                "answer_invalid",
                "give the code the card issuer asked for",
                "answer",
            ));
        }
        let rail_ref = RailRef::new(t.rail_ref.clone().unwrap_or_default());
        let answer = answer.to_string();
        let outcome = self
            .with_charge(&t, move |rail, charge| {
                rail.answer_challenge(&rail_ref, &answer, charge)
            })
            .await?;
        self.record_outcome(&t, outcome, "requires_challenge")
            .await?;
        let t = self.load_topup(id).await?;
        self.drive(t).await
    }

    /// Open the card and build the charge for the rail: the only place the number leaves the
    /// vault. The rail runs on a blocking thread: a networked rail may take seconds, and must
    /// not stall the threads that serve every other request.
    async fn with_charge<F>(&self, t: &Row2, f: F) -> Result<RailOutcome>
    where
        F: FnOnce(&dyn CardRail, &RailCharge<'_>) -> RailOutcome + Send + 'static,
    {
        let r = self
            .db
            .query_opt(
                "SELECT number_record, cvv_record, exp_month, exp_year, status FROM cards WHERE id = $1",
                vals![&t.view.card_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("card", &t.view.card_id))?;
        let Some(number_record) = r.opt_text(0)? else {
            return Ok(RailOutcome::Declined(purser_core::rail::RailDecline {
                code: purser_core::rail::DeclineCode::RequestInvalid,
                message: "the card was removed before it could be charged; nothing was charged"
                    .into(),
            }));
        };
        let digits = self.open_record(&number_record).await?;
        let number = CardNumber::parse(std::str::from_utf8(digits.expose()).unwrap_or_default())
            .map_err(|_| {
                purser_store::StoreError::Corrupt("a sealed card number does not parse".into())
            })?;
        let cvv = match r.opt_text(1)? {
            Some(rec) => {
                let c = self.open_record(&rec).await?;
                Cvv::parse(
                    std::str::from_utf8(c.expose()).unwrap_or_default(),
                    number.brand(),
                )
                .ok()
            }
            None => None,
        };
        let month = u8::try_from(r.int(2)?).unwrap_or(0);
        let year = u16::try_from(r.int(3)?).unwrap_or(0);
        let expiry = Expiry::new(month, year).map_err(|_| {
            purser_store::StoreError::Corrupt("a stored card expiry is invalid".into())
        })?;
        let rail = self.rail.clone();
        let reference = t.view.id.clone();
        let (amount, now) = (t.money, self.now());
        tokio::task::spawn_blocking(move || {
            let charge = RailCharge {
                reference: &reference,
                number: &number,
                expiry,
                cvv: cvv.as_ref(),
                holder: None,
                amount,
                now,
            };
            f(rail.as_ref(), &charge)
        })
        .await
        .map_err(|_| rail_unavailable())
    }

    /// Store what the rail said, if the top-up is still in state `from`. Any finished
    /// authorization (approved or declined) destroys the card's CVV.
    async fn record_outcome(
        &self,
        t: &Row2,
        outcome: RailOutcome,
        from: &'static str,
    ) -> Result<()> {
        // A rail that cannot answer now (timeout, outage) decided nothing: the card may or may
        // not have been charged. Keep the top-up where it is and retry later with the same
        // reference, which the rail answers idempotently.
        if let RailOutcome::Declined(d) = &outcome {
            if d.code.is_retryable() {
                return Err(rail_unavailable());
            }
        }
        // Credit exactly what the rail approved, or nothing: a partial approval is refused.
        let outcome = match outcome {
            RailOutcome::Approved { amount, .. } if amount != t.money => {
                tracing::error!(topup = %t.view.id, "the rail approved another amount than asked");
                RailOutcome::Declined(purser_core::rail::RailDecline {
                    code: purser_core::rail::DeclineCode::AmountInvalid,
                    message: format!(
                        "the card issuer approved {} instead of {}; nothing was credited, contact support to have the charge released",
                        amount.with_symbol(),
                        t.money.with_symbol()
                    ),
                })
            }
            o => o,
        };
        let now = self.now();
        let forget_cvv = [
            Stmt::exec(
                "UPDATE cards SET cvv_record = NULL WHERE id = $1",
                vals![&t.view.card_id],
            ),
            Self::delete_record(&format!("vlt_{}_cvv", t.view.card_id)),
        ];
        let stmts = match outcome {
            RailOutcome::Approved { rail_ref, .. } => {
                let mut v = vec![Stmt::exec(
                    "UPDATE topups SET status = 'approved', rail_ref = $2, challenge = NULL, updated_at = $3 WHERE id = $1 AND status = $4",
                    vals![&t.view.id, rail_ref.as_str(), now.0, from],
                )
                .expect(Expect::One, "topup state")];
                v.extend(forget_cvv);
                v
            }
            RailOutcome::ChallengeRequired { rail_ref, challenge } => vec![Stmt::exec(
                "UPDATE topups SET status = 'requires_challenge', rail_ref = $2, challenge = $3, updated_at = $4 WHERE id = $1 AND status = $5",
                vals![&t.view.id, rail_ref.as_str(), challenge, now.0, from],
            )
            .expect(Expect::One, "topup state")],
            RailOutcome::Declined(d) => {
                let mut v = vec![Stmt::exec(
                    "UPDATE topups SET status = 'declined', decline_code = $2, decline_message = $3, challenge = NULL, updated_at = $4 WHERE id = $1 AND status = $5",
                    vals![&t.view.id, d.code.as_str(), d.message, now.0, from],
                )
                .expect(Expect::One, "topup state")];
                v.extend(forget_cvv);
                v
            }
        };
        match self.db.write(stmts).await {
            // Another request recorded an outcome first; drive from what is stored.
            Ok(_) | Err(DbError::Precondition(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Take a top-up as far as it can go now.
    async fn drive(&self, t: Row2) -> Result<Topup> {
        let mut t = t;
        if t.view.status == "pending" {
            let outcome = self
                .with_charge(&t, |rail, charge| rail.authorize(charge))
                .await?;
            self.record_outcome(&t, outcome, "pending").await?;
            t = self.load_topup(&t.view.id).await?;
        }
        if t.view.status == "approved" {
            self.settle(&t).await?;
            t = self.load_topup(&t.view.id).await?;
        }
        if t.view.status == "declined" {
            return Err(WalletError::new(
                Kind::Declined,
                t.view
                    .decline_code
                    .clone()
                    .unwrap_or_else(|| "card_declined".into()),
                format!(
                    "the card issuer declined top-up {}: {}",
                    t.view.id,
                    t.view
                        .decline_message
                        .clone()
                        .unwrap_or_else(|| "no reason given".into())
                ),
            )
            .at("card_id"));
        }
        Ok(t.view)
    }

    /// Ledger move for an approved top-up, then `succeeded`. Idempotent.
    async fn settle(&self, t: &Row2) -> Result<()> {
        let c = t.money.currency;
        let wallet = self.ensure_wallet(&t.user_id, c).await?;
        let rail = rail_account(&t.view.rail, c)?;
        self.ensure_account(rail.clone(), c, AccountFlags::default())
            .await?;
        self.transfer(&format!("topup:{}", t.view.id), rail, wallet, t.money)
            .await?;
        self.db
            .write(vec![Stmt::exec(
                "UPDATE topups SET status = 'succeeded', updated_at = $2 WHERE id = $1 AND status = 'approved'",
                vals![&t.view.id, self.now().0],
            )])
            .await?;
        Ok(())
    }

    /// Refund `amount` (or all that is left) of a succeeded top-up to its card.
    pub async fn refund_topup(
        &self,
        who: &Principal,
        id: &str,
        amount: Option<&Amount>,
        key: &str,
    ) -> Result<Refund> {
        who.require(Scope::WalletWrite)?;
        self.topup(who, id).await?;
        let t = self.load_topup(id).await?;
        if t.view.status != "succeeded" {
            return Err(WalletError::conflict(
                "topup_state",
                format!(
                    "this top-up is {}; only a succeeded top-up can be refunded",
                    t.view.status
                ),
            ));
        }
        let left = t.money.minor.saturating_sub(t.view.refunded.amount);
        let m = match amount {
            Some(a) => funds::positive(a.amount, &a.currency, "amount")?,
            None => Money::new(left, t.money.currency),
        };
        if m.currency != t.money.currency {
            return Err(WalletError::invalid(
                "currency_mismatch",
                format!("this top-up was in {}", t.money.currency.code()),
                "amount.currency",
            ));
        }
        if m.minor <= 0 || m.minor > left {
            return Err(WalletError::conflict(
                "refund_exceeds_topup",
                format!(
                    "at most {} of this top-up can still be refunded",
                    Money::new(left, m.currency).with_symbol()
                ),
            )
            .at("amount.amount"));
        }
        let rid = ids::derived_id("rfd", &format!("{}|{id}", who.user_id), key);
        let now = self.now();
        let existing = self.refund_row(&rid).await?;
        if existing.is_none() {
            let reserved = self
                .db
                .write(vec![
                    Stmt::exec(
                        "UPDATE topups SET refunded = refunded + $2, updated_at = $3 WHERE id = $1 AND status = 'succeeded' AND refunded + $2 <= amount",
                        vals![id, m.minor, now.0],
                    )
                    .expect(Expect::One, "refundable"),
                    Stmt::exec(
                        "INSERT INTO refunds (id, topup_id, user_id, amount, currency, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
                        vals![&rid, id, &who.user_id, m.minor, m.currency.code(), now.0],
                    ),
                ])
                .await;
            match reserved {
                Ok(_) | Err(DbError::Conflict(_)) => {}
                Err(DbError::Precondition(_)) => {
                    return Err(WalletError::conflict(
                        "refund_exceeds_topup",
                        "another refund took what was left of this top-up",
                    )
                    .at("amount.amount"))
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.drive_refund(&rid).await
    }

    async fn refund_row(&self, rid: &str) -> Result<Option<(Refund, String)>> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT r.id, r.topup_id, r.amount, r.currency, r.status, r.failure, r.created_at, t.rail_ref FROM refunds r JOIN topups t ON t.id = r.topup_id WHERE r.id = $1",
                vals![rid],
            )
            .await?
        else {
            return Ok(None);
        };
        let c = cur(&r.text(3)?)?;
        Ok(Some((
            Refund {
                id: r.text(0)?,
                topup_id: r.text(1)?,
                amount: Money::new(r.int(2)?, c).into(),
                status: r.text(4)?,
                failure: r.opt_text(5)?,
                sandbox: self.rail.is_sandbox(),
                created_at: Timestamp(r.int(6)?).to_rfc3339(),
            },
            r.opt_text(7)?.unwrap_or_default(),
        )))
    }

    /// Ledger out of the wallet, then the rail; the ledger move is reversed if the rail
    /// refuses. Idempotent at every step.
    async fn drive_refund(&self, rid: &str) -> Result<Refund> {
        let (refund, rail_ref) = self
            .refund_row(rid)
            .await?
            .ok_or_else(|| WalletError::not_found("refund", rid))?;
        if refund.status != "pending" && refund.status != "reversing" {
            return Ok(refund);
        }
        let t = self.load_topup(&refund.topup_id).await?;
        let c = t.money.currency;
        let m = Money::new(refund.amount.amount, c);
        let wallet = self.ensure_wallet(&t.user_id, c).await?;
        let rail = rail_account(&t.view.rail, c)?;
        if refund.status == "reversing" {
            self.finish_reversal(rid, &refund.topup_id, wallet, rail, m)
                .await?;
            return self
                .refund_row(rid)
                .await?
                .map(|r| r.0)
                .ok_or_else(|| WalletError::not_found("refund", rid));
        }
        let now = self.now();
        let fail = |why: String| {
            vec![
                Stmt::exec(
                    "UPDATE refunds SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1 AND status = 'pending'",
                    vals![rid, why, now.0],
                )
                .expect(Expect::One, "refund state"),
                Stmt::exec(
                    "UPDATE topups SET refunded = refunded - $2, updated_at = $3 WHERE id = $1",
                    vals![&refund.topup_id, m.minor, now.0],
                ),
            ]
        };
        if let Err(e) = self
            .transfer(&format!("refund:{rid}"), wallet.clone(), rail.clone(), m)
            .await
        {
            if e.kind == Kind::Unavailable {
                return Err(e);
            }
            let why = if e.code == "insufficient_funds" {
                format!(
                    "the wallet no longer holds {}; money already spent cannot go back to the card",
                    m.with_symbol()
                )
            } else {
                e.message.clone()
            };
            let _ = self.db.write(fail(why)).await;
            return self
                .refund_row(rid)
                .await?
                .map(|r| r.0)
                .ok_or_else(|| WalletError::not_found("refund", rid));
        }
        let refunded = {
            let (rail, reference) = (self.rail.clone(), rid.to_string());
            tokio::task::spawn_blocking(move || rail.refund(&RailRef::new(rail_ref), &reference, m))
                .await
                .map_err(|_| rail_unavailable())?
        };
        match refunded {
            Ok(_) => {
                self.db
                    .write(vec![Stmt::exec(
                        "UPDATE refunds SET status = 'succeeded', updated_at = $2 WHERE id = $1 AND status = 'pending'",
                        vals![rid, now.0],
                    )])
                    .await?;
            }
            Err(d) if d.code.is_retryable() => {
                // Undecided: stays pending; the sweeper asks again with the same reference.
                self.touch_refund(rid).await;
                return Err(rail_unavailable());
            }
            Err(d) => {
                // Only the request that moves the refund out of `pending` may give the money
                // back to the wallet: two drivers racing cannot both reverse it.
                let claimed = self
                    .db
                    .write(vec![Stmt::exec(
                        "UPDATE refunds SET status = 'reversing', failure = $2, updated_at = $3 WHERE id = $1 AND status = 'pending'",
                        vals![rid, d.message, now.0],
                    )
                    .expect(Expect::One, "refund state")])
                    .await;
                match claimed {
                    Ok(_) => {
                        self.finish_reversal(rid, &refund.topup_id, wallet, rail, m)
                            .await?
                    }
                    Err(DbError::Precondition(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.refund_row(rid)
            .await?
            .map(|r| r.0)
            .ok_or_else(|| WalletError::not_found("refund", rid))
    }

    /// Give a refused refund's money back to the wallet (once, by transfer id) and record it
    /// failed. Also what the sweeper runs for a refund a crash left in `reversing`.
    async fn finish_reversal(
        &self,
        rid: &str,
        topup_id: &str,
        wallet: purser_core::ledger::AccountId,
        rail: purser_core::ledger::AccountId,
        m: Money,
    ) -> Result<()> {
        self.transfer(&format!("refund-reversal:{rid}"), rail, wallet, m)
            .await?;
        let now = self.now();
        self.db
            .write(vec![
                Stmt::exec(
                    "UPDATE refunds SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'reversing'",
                    vals![rid, now.0],
                )
                .expect(Expect::One, "refund state"),
                Stmt::exec(
                    "UPDATE topups SET refunded = refunded - $2, updated_at = $3 WHERE id = $1",
                    vals![topup_id, m.minor, now.0],
                ),
            ])
            .await
            .map(|_| ())
            .or_else(|e| match e {
                DbError::Precondition(_) => Ok(()),
                e => Err(e.into()),
            })
    }

    async fn touch_refund(&self, rid: &str) {
        let _ = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE refunds SET updated_at = $2 WHERE id = $1",
                vals![rid, self.now().0],
            )])
            .await;
    }

    pub async fn list_refunds(&self, who: &Principal, topup_id: &str) -> Result<Vec<Refund>> {
        self.topup(who, topup_id).await?;
        let rows = self
            .db
            .query(
                "SELECT id FROM refunds WHERE topup_id = $1 ORDER BY created_at, id LIMIT 200",
                vals![topup_id],
            )
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            if let Some((refund, _)) = self.refund_row(&r.text(0)?).await? {
                out.push(refund);
            }
        }
        Ok(out)
    }

    /// Drive top-ups and refunds a crash or a lost connection left half-way: approved
    /// top-ups first (the card was charged; the wallet must be credited), oldest first. A row
    /// that fails is pushed to the back of the queue (its `updated_at` is bumped) and the
    /// sweep goes on, so one stuck row never blocks the others.
    pub async fn recover(&self) -> Result<()> {
        let stale = self.now().0.saturating_sub(STALE_PENDING_MS);
        let mut rows = self
            .db
            .query(
                &format!("{COLUMNS} WHERE status = 'approved' ORDER BY updated_at LIMIT 100"),
                vec![],
            )
            .await?;
        rows.extend(
            self.db
                .query(
                    &format!("{COLUMNS} WHERE status = 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT 100"),
                    vals![stale],
                )
                .await?,
        );
        for r in &rows {
            let t = self.topup_from(r)?;
            let id = t.view.id.clone();
            match self.drive(t).await {
                Ok(_) => tracing::info!(topup = %id, "interrupted top-up finished"),
                Err(e) if e.kind == Kind::Declined => {
                    tracing::info!(topup = %id, code = %e.code, "interrupted top-up declined")
                }
                Err(e) => {
                    tracing::warn!(topup = %id, code = %e.code, "interrupted top-up not finished yet; will retry");
                    self.touch_topup(&id).await;
                }
            }
        }
        let refunds = self
            .db
            .query(
                "SELECT id FROM refunds WHERE status = 'reversing' OR (status = 'pending' AND updated_at < $1) ORDER BY updated_at LIMIT 100",
                vals![stale],
            )
            .await?;
        for r in &refunds {
            let rid = r.text(0)?;
            if let Err(e) = self.drive_refund(&rid).await {
                tracing::warn!(refund = %rid, code = %e.code, "interrupted refund not finished yet; will retry");
                self.touch_refund(&rid).await;
            }
        }
        Ok(())
    }

    async fn touch_topup(&self, id: &str) {
        let _ = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE topups SET updated_at = $2 WHERE id = $1",
                vals![id, self.now().0],
            )])
            .await;
    }
}
