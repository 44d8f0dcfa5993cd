//! A recurring mandate's schedule (Token Pay): Purser itself charges a fixed amount to one
//! merchant at each occurrence, without the agent. The schedule is part of the mandate's
//! content, so the person consents to it (and its content hash covers it) like any mandate.
//!
//! Occurrence `n` (1-based) falls at [`Schedule::due_at`]: the first charge's instant, then
//! every day, week, month or year after it (`when.recurrence.frequency`), in UTC. Monthly
//! and yearly occurrences keep the first charge's day of the month and time of day; when a
//! month is too short for that day, the occurrence falls on the month's last day (a schedule
//! that starts on 31 January charges on 28 or 29 February, 31 March, 30 April, …: each is
//! computed from the first charge, never from the previous occurrence, so a short month does
//! not shift the ones after it). `when.recurrence.max_occurrences` ends it after that many
//! occurrences; `when.valid_until` ends it at that instant (occurrences due later are never
//! charged).

use super::constraints::Frequency;
use super::date::DateOrInstant;
use crate::time::{civil_from_days, days_from_civil};
use crate::{Money, Timestamp};

const MS_PER_DAY: i64 = 86_400_000;

/// The reminder lead time when the schedule does not say: one day before each charge.
pub const DEFAULT_REMINDER_LEAD_SECONDS: u32 = 86_400;
/// The longest reminder lead time: 31 days.
pub const MAX_REMINDER_LEAD_SECONDS: u32 = 31 * 86_400;

/// What Purser charges at each occurrence.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The merchant charged (a Purser merchant id, `mch_…`): the AI service.
    pub merchant_id: String,
    /// What each occurrence charges.
    pub amount: Money,
    /// Occurrence 1 (a date means 00:00 UTC that day).
    pub first_charge_at: DateOrInstant,
    /// `wallet` or an exclusive card (`ecd_…`) of the mandate's agent; default: the binding's
    /// restriction, else the wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding_source: Option<String>,
    /// How long before each charge the `payment.upcoming` reminder is sent (default one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_lead_seconds: Option<u32>,
    /// What the person sees on each charge's line ("Model tokens top-up").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn days_in_month(y: i64, m: u8) -> Option<u8> {
    let y32 = i32::try_from(y).ok()?;
    let (ny, nm) = if m == 12 {
        (y32.checked_add(1)?, 1)
    } else {
        (y32, m + 1)
    };
    let d = days_from_civil(ny, nm, 1) - days_from_civil(y32, m, 1);
    u8::try_from(d).ok()
}

impl Schedule {
    /// The instant occurrence `n` (1-based) is due, or `None` for `n = 0`, an on-demand
    /// frequency or an instant out of range.
    pub fn due_at(&self, frequency: Frequency, n: u32) -> Option<Timestamp> {
        let k = i64::from(n.checked_sub(1)?);
        let anchor = self.first_charge_at().0;
        let days = anchor.div_euclid(MS_PER_DAY);
        let time_of_day = anchor.rem_euclid(MS_PER_DAY);
        let step_days = |d: i64| -> Option<Timestamp> {
            anchor
                .checked_add(k.checked_mul(d)?.checked_mul(MS_PER_DAY)?)
                .map(Timestamp)
        };
        let months = |per: i64| -> Option<Timestamp> {
            let (y, m, d) = civil_from_days(days);
            let index = y
                .checked_mul(12)?
                .checked_add(i64::from(m) - 1)?
                .checked_add(k.checked_mul(per)?)?;
            let y2 = index.div_euclid(12);
            let m2 = u8::try_from(index.rem_euclid(12) + 1).ok()?;
            let d2 = d.min(days_in_month(y2, m2)?);
            let day = days_from_civil(i32::try_from(y2).ok()?, m2, d2);
            day.checked_mul(MS_PER_DAY)?
                .checked_add(time_of_day)
                .map(Timestamp)
        };
        match frequency {
            Frequency::OnDemand => None,
            Frequency::Daily => step_days(1),
            Frequency::Weekly => step_days(7),
            Frequency::Monthly => months(1),
            Frequency::Annually => months(12),
        }
    }

    /// Occurrence 1's instant: the instant given, or 00:00 UTC of the date given.
    pub fn first_charge_at(&self) -> Timestamp {
        match self.first_charge_at {
            DateOrInstant::Date(d) => d.start_utc(),
            DateOrInstant::Instant(t) => t,
        }
    }

    /// How long before each charge its reminder goes out, in milliseconds.
    pub fn reminder_lead_ms(&self) -> i64 {
        i64::from(
            self.reminder_lead_seconds
                .unwrap_or(DEFAULT_REMINDER_LEAD_SECONDS),
        ) * 1000
    }

    /// The line the person and the merchant see for occurrence `n`.
    pub fn line_title(&self, n: u32) -> String {
        let what = self
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .unwrap_or("Scheduled charge");
        format!("{what} (occurrence {n})")
    }
}

/// What a person asks for when they set up a recurring charge.
#[derive(Clone, Debug)]
pub struct RecurringRequest {
    pub description: String,
    pub schedule: Schedule,
    pub frequency: Frequency,
    pub max_occurrences: Option<u32>,
    pub valid_until: Option<DateOrInstant>,
}

/// The mandate a recurring charge needs: the schedule, and limits that allow exactly it —
/// that merchant, at most that amount per payment, once per period, at most that many times,
/// paid without asking (nobody is there to confirm a scheduled charge), periods in UTC.
pub fn recurring_mandate(r: RecurringRequest) -> super::Mandate {
    use super::constraints::{ConfirmationPolicy, ConfirmationRule, MerchantRef, Recurrence};
    let amount = r.schedule.amount;
    let mut m = super::Mandate {
        description: r.description,
        ..super::Mandate::default()
    };
    m.what.merchants = vec![MerchantRef {
        id: Some(r.schedule.merchant_id.clone()),
        name: None,
        website: None,
    }];
    m.how_much.per_payment_max = Some(amount);
    m.when.recurrence = Recurrence {
        frequency: r.frequency,
        max_occurrences: r.max_occurrences,
    };
    m.when.valid_until = r.valid_until;
    m.when.timezone = Some("UTC".into());
    m.confirmation = ConfirmationPolicy {
        rules: vec![ConfirmationRule::AutoAtOrBelow { amount }],
    };
    m.schedule = Some(r.schedule);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mandate::CivilDate;
    use crate::Currency;

    fn at(s: &str) -> Schedule {
        Schedule {
            merchant_id: "mch_x".into(),
            amount: Money::new(2_000, Currency::USD),
            first_charge_at: DateOrInstant::parse(s).expect("instant"),
            funding_source: None,
            reminder_lead_seconds: None,
            description: None,
        }
    }

    fn rfc(t: Option<Timestamp>) -> String {
        t.map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    #[test]
    fn monthly_keeps_the_day_and_clamps_short_months() {
        let s = at("2026-01-31T09:30:00Z");
        let got: Vec<String> = (1..=5)
            .map(|n| rfc(s.due_at(Frequency::Monthly, n)))
            .collect();
        assert_eq!(
            got,
            [
                "2026-01-31T09:30:00.000Z",
                "2026-02-28T09:30:00.000Z",
                "2026-03-31T09:30:00.000Z",
                "2026-04-30T09:30:00.000Z",
                "2026-05-31T09:30:00.000Z",
            ]
        );
        // Leap year, and December into January.
        let s = at("2027-12-29T00:00:00Z");
        assert_eq!(
            rfc(s.due_at(Frequency::Monthly, 3)),
            "2028-02-29T00:00:00.000Z"
        );
        let s = at("2028-02-29T00:00:00Z");
        assert_eq!(
            rfc(s.due_at(Frequency::Annually, 2)),
            "2029-02-28T00:00:00.000Z"
        );
        assert_eq!(
            rfc(s.due_at(Frequency::Annually, 5)),
            "2032-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn the_recurring_mandate_is_valid_and_allows_exactly_its_charge() {
        let m = recurring_mandate(RecurringRequest {
            description: "Model tokens".into(),
            schedule: at("2026-12-01T00:00:00Z"),
            frequency: Frequency::Monthly,
            max_occurrences: Some(12),
            valid_until: None,
        });
        assert_eq!(m.validate(), Ok(()));
        assert!(m.summary().contains("monthly"), "{}", m.summary());
        let mut bad = m.clone();
        bad.when.recurrence.frequency = Frequency::OnDemand;
        bad.confirmation.rules.clear();
        bad.when.timezone = Some("Asia/Shanghai".into());
        let codes: Vec<&str> = bad
            .validate()
            .err()
            .map(|e| e.problems.iter().map(|p| p.code).collect())
            .unwrap_or_default();
        assert_eq!(
            codes,
            [
                "schedule_needs_frequency",
                "schedule_timezone",
                "schedule_needs_confirmation"
            ]
        );
    }

    #[test]
    fn daily_and_weekly_step_and_bounds() {
        let s = at("2026-11-22");
        assert_eq!(
            s.first_charge_at,
            DateOrInstant::Date(CivilDate::new(2026, 11, 22).expect("date"))
        );
        assert_eq!(
            rfc(s.due_at(Frequency::Daily, 10)),
            "2026-12-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc(s.due_at(Frequency::Weekly, 2)),
            "2026-11-29T00:00:00.000Z"
        );
        assert_eq!(s.due_at(Frequency::Daily, 0), None);
        assert_eq!(s.due_at(Frequency::OnDemand, 1), None);
        // No overflow panics at the edge.
        let _ = s.due_at(Frequency::Monthly, u32::MAX);
        let _ = s.due_at(Frequency::Daily, u32::MAX);
        let _ = s.due_at(Frequency::Annually, u32::MAX);
    }
}
