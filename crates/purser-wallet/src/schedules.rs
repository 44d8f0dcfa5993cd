//! Token Pay: recurring mandates that Purser charges on schedule, without the agent.
//!
//! A recurring mandate is an ordinary mandate whose content carries a
//! [`purser_core::mandate::Schedule`] (merchant, amount, first charge, funding source,
//! reminder lead time) beside `when.recurrence` (frequency, maximum occurrences) and
//! `when.valid_until` (end). The person consents to it like any mandate — the content hash
//! covers the schedule — and revokes it the same way (`POST /v1/mandates/:id/revoke`).
//!
//! # Durability: each occurrence exactly once
//!
//! Consent writes a `schedules` row (next occurrence 1) in the same transaction that
//! activates the mandate. [`Wallet::run_schedules`] (a task in `purser serve`, every
//! [`SCHEDULE_INTERVAL`]) takes the schedules whose next step is due and walks each one
//! occurrence at a time, in order:
//!
//! 1. **Reminder.** From `due − lead` on, one transaction inserts the occurrence's
//!    `scheduled_charges` row (primary key `(mandate, occurrence)`) *and* its
//!    `payment.upcoming` event with its webhook deliveries. The insert is
//!    `ON CONFLICT DO NOTHING` expecting one row, so a second node (or a restart) that tries
//!    again rolls the event back: one reminder per occurrence.
//! 2. **Charge.** From `due` on, the occurrence is decided by the same decision core as an
//!    agent's payment (`payments::authorize_via` with a schedule origin): the payment id is
//!    derived from `(mandate, occurrence, attempt)`, so every node and every restart computes
//!    the same id and the `payments` primary key admits one decision; the ledger hold
//!    (`hold:<pay>`) and capture (`capture:<pay>`) are idempotent by id. An approved payment
//!    is captured by Purser at once (hold, then post), through the same capture saga the
//!    merchant's redemption uses.
//! 3. **Settle.** One transaction marks the occurrence `charged` or `declined` and moves the
//!    schedule to the next occurrence, both as compare-and-set, so a racing node's settle is
//!    a no-op.
//!
//! A crash anywhere leaves a state the next run (on any node) resumes: a payment still
//! `deciding` is failed by the sweeper after 60 s (its hold voided, its mandate charge
//! released) and the occurrence is then tried again under the next attempt number (at most
//! [`MAX_ATTEMPTS`]); a payment `approved` or `capturing` is captured; a settled payment is
//! settled again (a no-op). An occurrence is never skipped silently — the schedule only moves
//! past it once it is settled (`charged`, `declined` or `missed`) — and never charged twice.
//!
//! # Policies
//!
//! - **Declines are final for their occurrence** (insufficient funds, mandate revoked or
//!   ended, agent frozen, …): the person sees `payment.declined` in the schedule's timeline
//!   and the reason in the mandate's charges; the next occurrence runs on its own date. No
//!   automatic retry: a top-up does not re-run a declined month.
//! - **Catch-up window.** An occurrence the scheduler reaches more than
//!   [`catch_up_window`] after its due time — the operator's window
//!   ([`DEFAULT_CATCH_UP_WINDOW`], `purser serve --catch-up-window`), never more than the
//!   schedule's own period — is not charged: it is recorded `missed`
//!   (`catch_up_window_passed`, with a sentence), the person sees `payment.missed` in the
//!   schedule's timeline, and the schedule moves on. So an outage never makes Purser charge a
//!   pile of old occurrences at once: at most the latest one, if it is still recent. The
//!   window is checked before each *new* charge attempt only: an occurrence whose payment
//!   was already begun is finished (captured or declined), however late. The missed write
//!   and a charge's mandate charge lock the same mandate row, and a scheduled charge is
//!   charged to the mandate only while its occurrence is still `scheduled`, so a node that
//!   records an occurrence missed and one that charges it cannot both succeed.
//! - **Catch-up.** Occurrences within the window that fell due while no server ran are
//!   charged when one comes back, oldest first, each once (its reminder, late, just before
//!   it). Each is judged as of its own due time (so each falls in its own day/week/month for
//!   the mandate's once-per-period rule), while the mandate's status is read as of now: an
//!   occurrence not charged before the mandate was revoked or expired is declined.
//! - **Cancellation** is revocation. The revoking write and every charge's compare-and-set
//!   lock the same mandate row: after the revocation is acknowledged no occurrence is charged
//!   and no hold under the mandate is captured (one held but not yet captured is voided). A
//!   charge captured before it stands (the merchant refunds it).

use purser_core::mandate::Frequency;
use purser_core::Timestamp;
use purser_store::db::{DbError, Expect, Stmt};
use purser_store::vals;
use serde::Serialize;
use serde_json::json;

use crate::access::{Principal, Scope};
use crate::error::{Kind, Result, WalletError};
use crate::funds::Shown;
use crate::ids::{self, check_id};
use crate::mandates::MandateRecord;
use crate::payments::{events, PaymentBody, ScheduleVia, Via};
use crate::signed::AgentCaller;
use crate::Wallet;

/// How often `purser serve` runs the scheduler.
pub const SCHEDULE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// Schedules handled per run (the rest wait for the next run).
const SCHEDULES_PER_RUN: i64 = 200;
/// Occurrences one schedule may settle in one run (a long catch-up continues next run).
const OCCURRENCES_PER_RUN: u32 = 100;
/// Attempts at one occurrence whose payments failed (crashed, never declined) before the
/// occurrence is declined `interrupted`.
pub const MAX_ATTEMPTS: i64 = 5;
/// How late an occurrence may still be charged by default: a day. Long enough that a restart,
/// a deploy or a night's outage loses nothing (the person was reminded and expects the
/// charge); short enough that nobody is charged for last week out of the blue, when they may
/// have moved their money or changed their mind. `purser serve --catch-up-window` changes it.
pub const DEFAULT_CATCH_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(86_400);
/// The shortest catch-up window: lateness counts from the due time, so the window must outlast
/// the scheduler's worst backlog (it settles `SCHEDULES_PER_RUN` schedules per run; thousands
/// due at midnight take minutes), or healthy schedules would be recorded missed.
pub const MIN_CATCH_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);
/// The reason code of an occurrence recorded `missed`.
pub const MISSED_CODE: &str = "catch_up_window_passed";

/// How late occurrence `n` (due at `due`) may still be charged: the operator's `window`, but
/// never more than the schedule's period there (until occurrence `n + 1` is due). An
/// occurrence later than its period has a newer one due too; charging both would be the
/// pile-up this window exists to prevent.
pub fn catch_up_window(
    s: &purser_core::mandate::Schedule,
    freq: Frequency,
    n: u32,
    due: Timestamp,
    window: std::time::Duration,
) -> i64 {
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let period = n
        .checked_add(1)
        .and_then(|next| s.due_at(freq, next))
        .map(|next| next.0.saturating_sub(due.0))
        .filter(|p| *p > 0);
    period.map_or(window, |p| p.min(window))
}

/// A duration in the person's words ("1 day", "6 hours", "90 minutes").
fn span_words(ms: i64) -> String {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let (n, unit) = if ms >= DAY && ms % DAY == 0 {
        (ms / DAY, "day")
    } else if ms >= HOUR && ms % HOUR == 0 {
        (ms / HOUR, "hour")
    } else if ms >= MINUTE {
        (ms / MINUTE, "minute")
    } else {
        (ms / 1000, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The occurrence a scheduled payment charges, for the mandate charge (`charge_mandate_at`):
/// evaluated as of its due time, and charged only while the occurrence is still `scheduled`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScheduledAt {
    pub due_at: Timestamp,
    pub occurrence: u32,
}

/// What a recurring mandate has charged and what is left, shown with the mandate.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduleProgress {
    /// `awaiting_consent`, `active`, `finished` or `cancelled`.
    pub state: String,
    pub frequency: &'static str,
    pub amount: Shown,
    pub merchant_id: String,
    /// Occurrences charged, declined and missed (found more than the catch-up window late,
    /// not charged) so far.
    pub charged: i64,
    pub declined: i64,
    pub missed: i64,
    /// Occurrences still to come (`None`: no maximum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_occurrence: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_charge_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_reminder_at: Option<String>,
    /// What cancelling means, once cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One occurrence as the person sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduledCharge {
    pub occurrence: i64,
    pub due_at: String,
    /// `scheduled` (reminded, not yet settled), `charged`, `declined` or `missed` (found
    /// more than the catch-up window late: not charged, `reason_code`
    /// `catch_up_window_passed`).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When its reminder was sent (for an occurrence missed before any reminder: when it was
    /// recorded missed).
    pub reminded_at: String,
}

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub reminders: usize,
    pub charged: usize,
    pub declined: usize,
    pub missed: usize,
}

/// How an occurrence ended (or that it must wait).
enum Step {
    Settled,
    Later,
}

fn frequency_word(f: Frequency) -> &'static str {
    match f {
        Frequency::OnDemand => "on_demand",
        Frequency::Daily => "daily",
        Frequency::Weekly => "weekly",
        Frequency::Monthly => "monthly",
        Frequency::Annually => "annually",
    }
}

/// The task every occurrence of a schedule is grouped under in the person's timeline.
pub fn task_id(mandate_id: &str) -> String {
    format!("schedule:{mandate_id}")
}

/// The Idempotency-Key (and so the payment id) of an occurrence's attempt.
/// The key a scheduled charge is decided under (its payment id derives from it). It contains
/// spaces, which no caller's Idempotency-Key may (`idempotency::check_key`), so an agent can
/// never take a scheduled charge's payment id first.
fn occurrence_key(mandate_id: &str, n: u32, attempt: i64) -> String {
    format!("schedule {mandate_id} {n} {attempt}")
}

fn internal(what: &str) -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        format!("could not {what}; the scheduler retries on its next run"),
    )
}

impl Wallet {
    /// The statement that starts a recurring mandate's schedule, part of the consent write;
    /// `None` for a mandate without one. Refuses a schedule whose first charge has passed.
    pub(crate) fn schedule_start(
        &self,
        rec: &MandateRecord,
        now: Timestamp,
    ) -> Result<Option<Stmt>> {
        let Some(s) = &rec.mandate.schedule else {
            return Ok(None);
        };
        let freq = rec.mandate.when.recurrence.frequency;
        let first = s.due_at(freq, 1).ok_or_else(|| {
            WalletError::invalid(
                "schedule_invalid",
                "the schedule has no first charge (set when.recurrence.frequency)",
                "mandate.schedule",
            )
        })?;
        if first < now {
            return Err(WalletError::invalid(
                "schedule_start_passed",
                format!(
                    "the first charge ({}) is in the past; change schedule.first_charge_at in the draft and consent again",
                    first.to_rfc3339()
                ),
                "mandate.schedule.first_charge_at",
            ));
        }
        let next_at = first.0.saturating_sub(s.reminder_lead_ms()).max(now.0);
        Ok(Some(Stmt::exec(
            "INSERT INTO schedules (mandate_id, user_id, next_occurrence, next_at, state, created_at, updated_at) VALUES ($1, $2, 1, $3, 'active', $4, $4)",
            vals![&rec.id, &rec.owner, next_at, now.0],
        )))
    }

    /// What a recurring mandate has charged and what is left (`None` for other mandates).
    pub(crate) async fn schedule_progress(
        &self,
        rec: &MandateRecord,
    ) -> Result<Option<ScheduleProgress>> {
        let Some(s) = &rec.mandate.schedule else {
            return Ok(None);
        };
        let freq = rec.mandate.when.recurrence.frequency;
        let max = rec.mandate.when.recurrence.max_occurrences;
        let row = self
            .db
            .query_opt(
                "SELECT next_occurrence, charged, declined, state, (SELECT COUNT(*) FROM scheduled_charges c WHERE c.mandate_id = schedules.mandate_id AND c.status = 'missed') FROM schedules WHERE mandate_id = $1",
                vals![&rec.id],
            )
            .await?;
        let (next, charged, declined, mut state, missed) = match row {
            Some(r) => (r.int(0)?, r.int(1)?, r.int(2)?, r.text(3)?, r.int(4)?),
            None if rec.status == "draft" => (1, 0, 0, "awaiting_consent".to_string(), 0),
            None => (1, 0, 0, "cancelled".to_string(), 0),
        };
        if rec.status == "revoked" {
            state = "cancelled".into();
        }
        let next = u32::try_from(next).unwrap_or(u32::MAX);
        let end = match rec.mandate.when.valid_until {
            Some(u) => Some(crate::mandates::end_instant(&rec.timezone, u)?),
            None => None,
        };
        let due = s
            .due_at(freq, next)
            .filter(|d| end.is_none_or(|e| *d < e))
            .filter(|_| max.is_none_or(|m| next <= m));
        if due.is_none() && state == "active" {
            state = "finished".into();
        }
        let open = state == "active" || state == "awaiting_consent";
        Ok(Some(ScheduleProgress {
            frequency: frequency_word(freq),
            amount: s.amount.into(),
            merchant_id: s.merchant_id.clone(),
            charged,
            declined,
            missed,
            remaining: max.map(|m| {
                if open {
                    (i64::from(m) - i64::from(next) + 1).max(0)
                } else {
                    0
                }
            }),
            next_occurrence: due.filter(|_| open).map(|_| next),
            next_charge_at: due.filter(|_| open).map(|d| d.to_rfc3339()),
            next_reminder_at: due
                .filter(|_| open)
                .map(|d| Timestamp(d.0.saturating_sub(s.reminder_lead_ms())).to_rfc3339()),
            note: (state == "cancelled").then(|| {
                format!(
                    "Cancelled: no further charge will be made. The {charged} charge(s) already captured stand (the merchant can refund them); one held but not yet captured when you cancelled was released."
                )
            }),
            state,
        }))
    }

    /// The occurrences of one of the person's recurring mandates, oldest first.
    pub async fn scheduled_charges(
        &self,
        who: &Principal,
        mandate_id: &str,
    ) -> Result<Vec<ScheduledCharge>> {
        who.require(Scope::MandatesRead)?;
        check_id("mdt", mandate_id, "id")?;
        self.load_mandate(&who.user_id, mandate_id).await?;
        let rows = self
            .db
            .query(
                "SELECT occurrence, due_at, status, payment_id, reason_code, reason, reminded_at FROM scheduled_charges WHERE mandate_id = $1 ORDER BY occurrence LIMIT 1000",
                vals![mandate_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ScheduledCharge {
                    occurrence: r.int(0)?,
                    due_at: Timestamp(r.int(1)?).to_rfc3339(),
                    status: r.text(2)?,
                    payment_id: r.opt_text(3)?,
                    reason_code: r.opt_text(4)?,
                    reason: r.opt_text(5)?,
                    reminded_at: Timestamp(r.int(6)?).to_rfc3339(),
                })
            })
            .collect()
    }

    /// One scheduler run: every schedule whose next step is due, each as far as it can go.
    /// Safe on any number of nodes at once.
    pub async fn run_schedules(&self) -> Result<RunReport> {
        let rows = self
            .db
            .query(
                "SELECT mandate_id, user_id FROM schedules WHERE state = 'active' AND next_at <= $1 ORDER BY next_at, mandate_id LIMIT $2",
                vals![self.now().0, SCHEDULES_PER_RUN],
            )
            .await?;
        let mut report = RunReport::default();
        for r in &rows {
            let (mandate_id, user_id) = (r.text(0)?, r.text(1)?);
            if let Err(e) = self.run_schedule(&mandate_id, &user_id, &mut report).await {
                tracing::warn!(mandate = %mandate_id, code = %e.code, "a schedule could not run; retrying next run");
            }
        }
        Ok(report)
    }

    async fn set_schedule_state(&self, mandate_id: &str, state: &str) -> Result<()> {
        self.db
            .write(vec![Stmt::exec(
                "UPDATE schedules SET state = $2, updated_at = $3 WHERE mandate_id = $1 AND state = 'active'",
                vals![mandate_id, state, self.now().0],
            )])
            .await?;
        Ok(())
    }

    async fn run_schedule(
        &self,
        mandate_id: &str,
        user_id: &str,
        report: &mut RunReport,
    ) -> Result<()> {
        let rec = self.load_mandate(user_id, mandate_id).await?;
        let Some(s) = rec.mandate.schedule.clone() else {
            return self.set_schedule_state(mandate_id, "finished").await;
        };
        if rec.status == "revoked" {
            return self.set_schedule_state(mandate_id, "cancelled").await;
        }
        let freq = rec.mandate.when.recurrence.frequency;
        let max = rec.mandate.when.recurrence.max_occurrences;
        let end = match rec.mandate.when.valid_until {
            Some(u) => Some(crate::mandates::end_instant(&rec.timezone, u)?),
            None => None,
        };
        for _ in 0..OCCURRENCES_PER_RUN {
            let Some(row) = self
                .db
                .query_opt(
                    "SELECT next_occurrence, state FROM schedules WHERE mandate_id = $1",
                    vals![mandate_id],
                )
                .await?
            else {
                return Ok(());
            };
            if row.text(1)? != "active" {
                return Ok(());
            }
            let n = u32::try_from(row.int(0)?).map_err(|_| internal("read the schedule"))?;
            let due = s
                .due_at(freq, n)
                .filter(|d| end.is_none_or(|e| *d < e))
                .filter(|_| max.is_none_or(|m| n <= m));
            let Some(due) = due else {
                return self.set_schedule_state(mandate_id, "finished").await;
            };
            let now = self.now();
            let remind_at = Timestamp(due.0.saturating_sub(s.reminder_lead_ms()));
            if now < remind_at {
                return self.schedule_next_at(mandate_id, n, remind_at).await;
            }
            let window = catch_up_window(&s, freq, n, due, self.catch_up_window);
            if now.0.saturating_sub(due.0) > window
                && self
                    .miss_occurrence(&rec, &s, n, due, window, report)
                    .await?
            {
                continue;
            }
            if self.remind(&rec, &s, n, due).await? {
                report.reminders += 1;
            }
            if now < due {
                return self.schedule_next_at(mandate_id, n, due).await;
            }
            match self.charge_occurrence(&rec, &s, n, due, report).await? {
                Step::Settled => continue,
                Step::Later => return Ok(()),
            }
        }
        Ok(())
    }

    async fn schedule_next_at(&self, mandate_id: &str, n: u32, at: Timestamp) -> Result<()> {
        self.db
            .write(vec![Stmt::exec(
                "UPDATE schedules SET next_at = $3, updated_at = $4 WHERE mandate_id = $1 AND next_occurrence = $2",
                vals![mandate_id, i64::from(n), at.0, self.now().0],
            )])
            .await?;
        Ok(())
    }

    /// Send occurrence `n`'s reminder unless it was sent: `true` when this call sent it.
    async fn remind(
        &self,
        rec: &MandateRecord,
        s: &purser_core::mandate::Schedule,
        n: u32,
        due: Timestamp,
    ) -> Result<bool> {
        let now = self.now();
        let payment_id = ids::derived_id("pay", &rec.agent.id, &occurrence_key(&rec.id, n, 0));
        let task = task_id(&rec.id);
        let mut stmts = vec![Stmt::exec(
            "INSERT INTO scheduled_charges (mandate_id, occurrence, due_at, attempt, payment_id, status, reminded_at, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, 'scheduled', $5, $5, $5) ON CONFLICT DO NOTHING",
            vals![&rec.id, i64::from(n), due.0, &payment_id, now.0],
        )
        .expect(Expect::One, "reminded")];
        stmts.extend(self.event_stmts(
            &events::NewEvent {
                kind: "payment.upcoming",
                user_id: &rec.owner,
                agent_id: &rec.agent.id,
                merchant_id: &s.merchant_id,
                payment_id: &payment_id,
                task_id: &task,
                data: json!({
                    "payment_id": payment_id,
                    "status": "upcoming",
                    "origin": "schedule",
                    "mandate_id": rec.id,
                    "occurrence": n,
                    "due_at": due.to_rfc3339(),
                    "amount": {"amount": s.amount.minor, "currency": s.amount.currency.code()},
                    "merchant_id": s.merchant_id,
                    "funding_source": s.funding_source.as_deref().unwrap_or("wallet"),
                    "cancel": format!("POST /v1/mandates/{}/revoke before {} stops this charge", rec.id, due.to_rfc3339()),
                }),
            },
            now,
        )?);
        match self.db.write(stmts).await {
            Ok(_) => {
                self.outbox_nudge();
                Ok(true)
            }
            Err(DbError::Precondition(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Record occurrence `n` `missed`: found more than its catch-up window (`window_ms`) after
    /// it was due, before any charge of it began. `true` when it is settled (by this call or
    /// another node) and the schedule moved on; `false` when a charge of it was already begun,
    /// which the caller finishes instead (however late: its decision was made in time, or is
    /// being made now).
    async fn miss_occurrence(
        &self,
        rec: &MandateRecord,
        s: &purser_core::mandate::Schedule,
        n: u32,
        due: Timestamp,
        window_ms: i64,
        report: &mut RunReport,
    ) -> Result<bool> {
        let reason = format!(
            "Purser did not run this charge when it was due ({}), and it is more than {} late now, so it was not charged. Nothing was taken; the next charge runs on its own date.",
            due.to_rfc3339(),
            span_words(window_ms)
        );
        // A few times at most: a reminder or an attempt another node writes between our read
        // and our write is read again.
        for _ in 0..3 {
            let now = self.now();
            let row = self
                .db
                .query_opt(
                    "SELECT attempt, status FROM scheduled_charges WHERE mandate_id = $1 AND occurrence = $2",
                    vals![&rec.id, i64::from(n)],
                )
                .await?;
            let (attempt, record) = match &row {
                Some(r) if r.text(1)? != "scheduled" => {
                    // Settled by a node that stopped before moving the schedule on.
                    self.advance(rec, n).await?;
                    return Ok(true);
                }
                // Reminded in time, never charged: missed unless a charge of it was begun.
                // The mandate row is locked first, as the mandate charge of a scheduled payment
                // locks it before it checks the occurrence is still `scheduled`: whichever
                // commits first, the other sees it (see `charge_mandate_at`).
                Some(r) => {
                    let attempt = r.int(0)?;
                    let payment_id = ids::derived_id(
                        "pay",
                        &rec.agent.id,
                        &occurrence_key(&rec.id, n, attempt),
                    );
                    if self.payment_begun(&payment_id).await? {
                        return Ok(false);
                    }
                    (
                        attempt,
                        vec![
                            Stmt::exec(
                                "UPDATE mandates SET charges = charges WHERE id = $1",
                                vals![&rec.id],
                            )
                            .expect(Expect::One, "mandate"),
                            Stmt::exec(
                                "UPDATE scheduled_charges SET status = 'missed', payment_id = NULL, reason_code = $4, reason = $5, updated_at = $6 WHERE mandate_id = $1 AND occurrence = $2 AND attempt = $3 AND status = 'scheduled' AND NOT EXISTS (SELECT 1 FROM payments WHERE id = $7)",
                                vals![
                                    &rec.id,
                                    i64::from(n),
                                    attempt,
                                    MISSED_CODE,
                                    &reason,
                                    now.0,
                                    &payment_id
                                ],
                            )
                            .expect(Expect::One, "unbegun"),
                        ],
                    )
                }
                // Never reminded (the whole lead passed while no server ran): recorded missed
                // directly, without a reminder for a charge that will not come.
                None => (
                    0,
                    vec![Stmt::exec(
                        "INSERT INTO scheduled_charges (mandate_id, occurrence, due_at, attempt, payment_id, status, reason_code, reason, reminded_at, created_at, updated_at) VALUES ($1, $2, $3, 0, NULL, 'missed', $4, $5, $6, $6, $6) ON CONFLICT DO NOTHING",
                        vals![&rec.id, i64::from(n), due.0, MISSED_CODE, &reason, now.0],
                    )
                    .expect(Expect::One, "unreminded")],
                ),
            };
            let mut stmts = record;
            // The timeline entry names the payment id the occurrence would have had (the one
            // its reminder named), so the person sees both under one charge.
            let payment_id =
                ids::derived_id("pay", &rec.agent.id, &occurrence_key(&rec.id, n, attempt));
            stmts.extend(self.event_stmts(
                &events::NewEvent {
                    kind: "payment.missed",
                    user_id: &rec.owner,
                    agent_id: &rec.agent.id,
                    merchant_id: &s.merchant_id,
                    payment_id: &payment_id,
                    task_id: &task_id(&rec.id),
                    data: json!({
                        "payment_id": payment_id,
                        "status": "missed",
                        "origin": "schedule",
                        "mandate_id": rec.id,
                        "occurrence": n,
                        "due_at": due.to_rfc3339(),
                        "amount": {"amount": s.amount.minor, "currency": s.amount.currency.code()},
                        "merchant_id": s.merchant_id,
                        "reason_code": MISSED_CODE,
                        "reason": reason,
                        "catch_up_window_seconds": window_ms / 1000,
                    }),
                },
                now,
            )?);
            stmts.push(
                Stmt::exec(
                    "UPDATE schedules SET next_occurrence = next_occurrence + 1, next_at = $3, updated_at = $3 WHERE mandate_id = $1 AND next_occurrence = $2",
                    vals![&rec.id, i64::from(n), now.0],
                )
                .expect(Expect::One, "schedule"),
            );
            match self.db.write(stmts).await {
                Ok(_) => {
                    self.outbox_nudge();
                    report.missed += 1;
                    tracing::info!(mandate = %rec.id, occurrence = n, "a scheduled charge was found past its catch-up window and recorded missed");
                    return Ok(true);
                }
                // The row appeared (a reminder) or changed (settled, another attempt, a charge
                // of it began): look again.
                Err(DbError::Precondition(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Changing under us run after run: leave it for the next run, charging nothing.
        Err(internal("record a missed occurrence"))
    }

    async fn payment_begun(&self, payment_id: &str) -> Result<bool> {
        Ok(self
            .db
            .query_opt("SELECT 1 FROM payments WHERE id = $1", vals![payment_id])
            .await?
            .is_some())
    }

    /// Decide, capture and settle occurrence `n` (its reminder row exists).
    async fn charge_occurrence(
        &self,
        rec: &MandateRecord,
        s: &purser_core::mandate::Schedule,
        n: u32,
        due: Timestamp,
        report: &mut RunReport,
    ) -> Result<Step> {
        let row = self
            .db
            .query_opt(
                "SELECT attempt, status FROM scheduled_charges WHERE mandate_id = $1 AND occurrence = $2",
                vals![&rec.id, i64::from(n)],
            )
            .await?
            .ok_or_else(|| internal("read the occurrence"))?;
        let attempt = row.int(0)?;
        let agent = AgentCaller {
            agent_id: rec.agent.id.clone(),
            kid: rec
                .credentials
                .as_ref()
                .map(|c| c.agent_kid.clone())
                .unwrap_or_default(),
            nonce: String::new(),
            signed_base: String::new(),
            signature: [0; 64],
            jwk: serde_json::Value::Null,
        };
        let key = occurrence_key(&rec.id, n, attempt);
        let payment_id = ids::derived_id("pay", &agent.agent_id, &key);
        if row.text(1)? != "scheduled" {
            // Settled by a node that stopped before moving the schedule on.
            return self.advance(rec, n).await.map(|_| Step::Settled);
        }
        let body = json!({
            "user_id": rec.owner,
            "task_id": task_id(&rec.id),
            "mandate_id": rec.id,
            "merchant": {"id": s.merchant_id},
            "items": [{
                "id": format!("occurrence-{n}"),
                "title": s.line_title(n),
                "quantity": 1,
                "unit_price": {"amount": s.amount.minor, "currency": s.amount.currency.code()},
            }],
            "total": {"amount": s.amount.minor, "currency": s.amount.currency.code()},
            "funding_source": s.funding_source,
        });
        let raw = body.to_string().into_bytes();
        let parsed: PaymentBody =
            serde_json::from_slice(&raw).map_err(|_| internal("build the scheduled payment"))?;
        let via = Via {
            schedule: Some(ScheduleVia {
                mandate_id: rec.id.clone(),
                occurrence: n,
                attempt,
                due_at: due,
                body_sha256: String::new(),
            }),
            ..Via::default()
        };
        let status = match self.authorize_via(&agent, &key, &raw, parsed, via).await {
            Ok((view, _)) => view.status,
            Err(e) if e.kind == Kind::Unavailable || e.code == "idempotency_in_flight" => {
                return Ok(Step::Later)
            }
            Err(e) => {
                // Refused before any payment existed (the agent's binding ended, …).
                return self
                    .settle_occurrence(
                        rec,
                        n,
                        "declined",
                        None,
                        Some((&e.code, &e.message)),
                        report,
                    )
                    .await;
            }
        };
        let status = match status.as_str() {
            "approved" => {
                let now = self.now();
                let claimed = self
                    .db
                    .write(vec![Stmt::exec(
                        "UPDATE payments SET status = 'capturing', capture_amount = amount, updated_at = $2 WHERE id = $1 AND status = 'approved' AND EXISTS (SELECT 1 FROM bindings b WHERE b.id = payments.binding_id AND b.frozen = 0 AND b.status = 'active')",
                        vals![&payment_id, now.0],
                    )
                    .expect(Expect::One, "approved")])
                    .await;
                match claimed {
                    Ok(_) | Err(DbError::Precondition(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                self.finish_scheduled_capture(&payment_id).await?
            }
            "capturing" => self.finish_scheduled_capture(&payment_id).await?,
            "needs_confirmation" => {
                // Validation keeps this from happening; never leave money held for nobody.
                self.end_payment(
                    &payment_id,
                    &["needs_confirmation"],
                    "voided",
                    "confirmation_required",
                )
                .await?;
                self.payment_status(&payment_id).await?
            }
            _ => status,
        };
        match status.as_str() {
            "captured" | "refunded" => {
                self.settle_occurrence(rec, n, "charged", Some(&payment_id), None, report)
                    .await
            }
            "declined" | "voided" | "expired" => {
                let (code, message) = self.payment_reason(&payment_id).await?;
                self.settle_occurrence(
                    rec,
                    n,
                    "declined",
                    Some(&payment_id),
                    Some((&code, &message)),
                    report,
                )
                .await
            }
            "failed" => {
                // Interrupted before a decision (its hold voided, its charge released): try
                // again under the next attempt, a fresh payment id.
                if attempt + 1 >= MAX_ATTEMPTS {
                    return self
                        .settle_occurrence(
                            rec,
                            n,
                            "declined",
                            Some(&payment_id),
                            Some((
                                "interrupted",
                                "Purser could not finish this charge after several attempts; nothing was charged.",
                            )),
                            report,
                        )
                        .await;
                }
                self.db
                    .write(vec![Stmt::exec(
                        "UPDATE scheduled_charges SET attempt = attempt + 1, updated_at = $4 WHERE mandate_id = $1 AND occurrence = $2 AND attempt = $3 AND status = 'scheduled'",
                        vals![&rec.id, i64::from(n), attempt, self.now().0],
                    )])
                    .await?;
                Ok(Step::Later)
            }
            _ => Ok(Step::Later),
        }
    }

    /// Drive a scheduled payment's capture; its status afterwards.
    async fn finish_scheduled_capture(&self, payment_id: &str) -> Result<String> {
        if let Err(e) = self.finish_capture(payment_id).await {
            tracing::debug!(payment = %payment_id, code = %e.code, "scheduled capture did not finish");
        }
        self.payment_status(payment_id).await
    }

    async fn payment_status(&self, payment_id: &str) -> Result<String> {
        self.db
            .query_opt(
                "SELECT status FROM payments WHERE id = $1",
                vals![payment_id],
            )
            .await?
            .ok_or_else(|| internal("read the scheduled payment"))?
            .text(0)
            .map_err(Into::into)
    }

    /// Why a scheduled payment did not charge, in the person's terms.
    async fn payment_reason(&self, payment_id: &str) -> Result<(String, String)> {
        let r = self
            .db
            .query_opt(
                "SELECT decline_code, reasons, end_reason FROM payments WHERE id = $1",
                vals![payment_id],
            )
            .await?
            .ok_or_else(|| internal("read the scheduled payment"))?;
        let reasons: Vec<crate::payments::Reason> =
            serde_json::from_str(&r.text(1)?).unwrap_or_default();
        if let Some(code) = r.opt_text(0)? {
            let message = reasons
                .iter()
                .map(|x| x.message.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            return Ok((code, message));
        }
        let code = r.opt_text(2)?.unwrap_or_else(|| "voided".into());
        let message = match code.as_str() {
            "mandate_not_active" => "The mandate was revoked before the charge was captured; the money held was released.".to_string(),
            "agent_frozen" => "The person froze the mandate's agent; the money held was released.".to_string(),
            _ => format!("The charge ended ({code}); the money held was released."),
        };
        Ok((code, message))
    }

    /// Record how occurrence `n` ended and move the schedule to the next one, together.
    async fn settle_occurrence(
        &self,
        rec: &MandateRecord,
        n: u32,
        status: &str,
        payment_id: Option<&str>,
        reason: Option<(&str, &str)>,
        report: &mut RunReport,
    ) -> Result<Step> {
        let now = self.now();
        let r = self
            .db
            .write(vec![
                Stmt::exec(
                    "UPDATE scheduled_charges SET status = $3, payment_id = COALESCE($4, payment_id), reason_code = $5, reason = $6, updated_at = $7 WHERE mandate_id = $1 AND occurrence = $2 AND status = 'scheduled'",
                    vals![
                        &rec.id,
                        i64::from(n),
                        status,
                        payment_id.map(str::to_string),
                        reason.map(|r| r.0.to_string()),
                        reason.map(|r| r.1.chars().take(1000).collect::<String>()),
                        now.0
                    ],
                )
                .expect(Expect::One, "scheduled"),
                Stmt::exec(
                    "UPDATE schedules SET next_occurrence = next_occurrence + 1, charged = charged + $3, declined = declined + $4, next_at = $5, updated_at = $5 WHERE mandate_id = $1 AND next_occurrence = $2",
                    vals![
                        &rec.id,
                        i64::from(n),
                        i64::from(status == "charged"),
                        i64::from(status == "declined"),
                        now.0
                    ],
                )
                .expect(Expect::One, "schedule"),
            ])
            .await;
        match r {
            Ok(_) => {
                if status == "charged" {
                    report.charged += 1;
                } else {
                    report.declined += 1;
                }
                Ok(Step::Settled)
            }
            // Another node settled it first.
            Err(DbError::Precondition(_)) => self.advance(rec, n).await.map(|_| Step::Settled),
            Err(e) => Err(e.into()),
        }
    }

    /// Move a schedule past an occurrence already settled (idempotent).
    async fn advance(&self, rec: &MandateRecord, n: u32) -> Result<()> {
        let settled = self
            .db
            .query_opt(
                "SELECT status FROM scheduled_charges WHERE mandate_id = $1 AND occurrence = $2",
                vals![&rec.id, i64::from(n)],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?;
        let Some(status) = settled.filter(|s| s != "scheduled") else {
            return Ok(());
        };
        let now = self.now().0;
        self.db
            .write(vec![Stmt::exec(
                "UPDATE schedules SET next_occurrence = next_occurrence + 1, charged = charged + $3, declined = declined + $4, next_at = $5, updated_at = $5 WHERE mandate_id = $1 AND next_occurrence = $2",
                vals![
                    &rec.id,
                    i64::from(n),
                    i64::from(status == "charged"),
                    // `missed` is counted from the occurrences (`schedule_progress`).
                    i64::from(status == "declined"),
                    now
                ],
            )])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_caller_can_send_a_scheduled_charges_key() {
        // A caller who could would take the occurrence's payment id first and make the
        // scheduler decline it.
        let key = occurrence_key("mdt_abcdefghijklmnopqrstuvwx", 3, 0);
        assert!(crate::idempotency::check_key(&key).is_err(), "{key}");
        assert!(crate::idempotency::check_key(&key.replace(' ', ":")).is_ok());
    }
}
