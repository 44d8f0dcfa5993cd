//! `Mandate::validate`: the rules a mandate must satisfy before anyone may consent to it.
//! Every problem is reported (not just the first), each with a stable code and a sentence.

use super::constraints::{ConfirmationRule, Instrument};
use super::model::Mandate;
use crate::{Currency, Money};
use std::collections::BTreeSet;
use std::fmt;

/// Longest description, merchant name, item description or user's words, in characters.
/// Enough for a long sentence; short enough to show on a phone confirmation page.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Most entries in any one list (merchants, items, categories, countries, limits). A mandate
/// is read by a person at consent; a list longer than this is not something they can check.
pub const MAX_LIST_LEN: usize = 100;

/// One thing wrong with a mandate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine code, e.g. `min_above_max`.
    pub code: &'static str,
    /// The field it concerns, e.g. `how_much.per_payment_min`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found, in field order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msgs: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        write!(f, "the mandate is not valid: {}", msgs.join("; "))
    }
}

impl std::error::Error for ValidationError {}

struct Checker {
    problems: Vec<Problem>,
    /// The first currency seen; every amount must use it.
    currency: Option<(Currency, String)>,
}

impl Checker {
    fn fail(&mut self, code: &'static str, field: impl Into<String>, message: String) {
        self.problems.push(Problem {
            code,
            field: field.into(),
            message,
        });
    }

    fn text(&mut self, field: &str, s: &str, required: bool) {
        if required && s.trim().is_empty() {
            self.fail("empty_text", field, "must not be empty".into());
        }
        if s.chars().count() > MAX_TEXT_CHARS {
            self.fail(
                "text_too_long",
                field,
                format!("is longer than {MAX_TEXT_CHARS} characters"),
            );
        }
    }

    fn list(&mut self, field: &str, len: usize) {
        if len > MAX_LIST_LEN {
            self.fail(
                "list_too_long",
                field,
                format!("has {len} entries; at most {MAX_LIST_LEN} are allowed"),
            );
        }
    }

    fn amount(&mut self, field: &str, m: Money, positive: bool) {
        if m.minor < 0 || (positive && m.minor == 0) {
            let need = if positive {
                "more than zero"
            } else {
                "zero or more"
            };
            self.fail("bad_amount", field, format!("is {m}; it must be {need}"));
        }
        match &self.currency {
            None => self.currency = Some((m.currency, field.to_string())),
            Some((c, first)) if *c != m.currency => {
                let msg = format!(
                    "is in {} but {first} is in {}; a mandate uses one currency",
                    m.currency, c
                );
                self.fail("mixed_currencies", field, msg);
            }
            Some(_) => {}
        }
    }
}

impl Mandate {
    /// Check the mandate is coherent: amounts positive and in one currency, min ≤ max, the
    /// per-payment maximum within every budget, bounds in order, quantities and counts at
    /// least one, nothing both allowed and blocked. Unknown constraints are not an error here
    /// (they must survive a round trip); evaluation refuses them.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker {
            problems: Vec::new(),
            currency: None,
        };
        c.text("description", &self.description, true);
        c.text("provenance.user_words", &self.provenance.user_words, false);

        // what
        let w = &self.what;
        c.list("what.merchants", w.merchants.len());
        for (i, m) in w.merchants.iter().enumerate() {
            let field = format!("what.merchants[{i}]");
            if m.id.is_none() && m.name.is_none() && m.website.is_none() {
                c.fail(
                    "empty_merchant",
                    field.clone(),
                    "needs an id, a name or a website".into(),
                );
            }
            for s in [&m.id, &m.name, &m.website].into_iter().flatten() {
                c.text(&field, s, true);
            }
        }
        c.list("what.allowed_categories", w.allowed_categories.len());
        c.list("what.blocked_categories", w.blocked_categories.len());
        let allowed: BTreeSet<_> = w.allowed_categories.iter().flat_map(|k| &k.mcc).collect();
        for k in &w.blocked_categories {
            for code in &k.mcc {
                if allowed.contains(code) {
                    c.fail(
                        "allowed_and_blocked",
                        "what.blocked_categories",
                        format!("merchant category {code} is both allowed and blocked"),
                    );
                }
            }
        }
        c.list("what.line_items", w.line_items.len());
        for (i, item) in w.line_items.iter().enumerate() {
            let field = format!("what.line_items[{i}]");
            c.text(&field, &item.description, true);
            if item.quantity == 0 {
                c.fail(
                    "zero_quantity",
                    field.clone(),
                    "quantity must be at least 1".into(),
                );
            }
            if let Some(max) = item.max_quantity {
                if max < item.quantity {
                    let msg = format!("max_quantity {max} is below the quantity {}", item.quantity);
                    c.fail("min_above_max", field, msg);
                }
            }
        }

        // where
        c.list(
            "where.allowed_countries",
            self.where_.allowed_countries.len(),
        );
        c.list(
            "where.blocked_countries",
            self.where_.blocked_countries.len(),
        );
        for country in &self.where_.blocked_countries {
            if self.where_.allowed_countries.contains(country) {
                c.fail(
                    "allowed_and_blocked",
                    "where.blocked_countries",
                    format!("{} is both allowed and blocked", country.as_str()),
                );
            }
        }

        // when
        let when = &self.when;
        if let (Some(from), Some(until)) = (when.valid_from, when.valid_until) {
            if bounds_reversed(from, until) {
                c.fail(
                    "until_before_from",
                    "when.valid_until",
                    format!("{until} is before valid_from {from}"),
                );
            }
        }
        if let Some(win) = when.execution_window {
            if bounds_reversed(win.start, win.end) {
                c.fail(
                    "until_before_from",
                    "when.execution_window",
                    format!("ends ({}) before it starts ({})", win.end, win.start),
                );
            }
        }
        if when.recurrence.max_occurrences == Some(0) {
            c.fail(
                "zero_count",
                "when.recurrence.max_occurrences",
                "must be at least 1".into(),
            );
        }
        if let Some(tz) = &when.timezone {
            c.text("when.timezone", tz, true);
        }

        // how much
        let h = &self.how_much;
        if let Some(m) = h.per_payment_min {
            c.amount("how_much.per_payment_min", m, false);
        }
        if let Some(m) = h.per_payment_max {
            c.amount("how_much.per_payment_max", m, true);
        }
        if let Some(m) = h.budget {
            c.amount("how_much.budget", m, true);
        }
        c.list("how_much.interval_limits", h.interval_limits.len());
        let mut seen = BTreeSet::new();
        for (i, l) in h.interval_limits.iter().enumerate() {
            let field = format!("how_much.interval_limits[{i}]");
            c.amount(&field, l.amount, true);
            if !seen.insert(l.interval) {
                c.fail(
                    "duplicate_interval",
                    field,
                    format!("a second limit {}; keep one", l.interval.phrase()),
                );
            }
        }
        if let (Some(min), Some(max)) = (h.per_payment_min, h.per_payment_max) {
            if min.currency == max.currency && min.minor > max.minor {
                c.fail(
                    "min_above_max",
                    "how_much.per_payment_min",
                    format!(
                        "{} is above the per-payment maximum {}",
                        min.with_symbol(),
                        max.with_symbol()
                    ),
                );
            }
        }
        let caps = h
            .budget
            .into_iter()
            .chain(h.interval_limits.iter().map(|l| l.amount));
        if let Some(min) = h.per_payment_min {
            for cap in caps {
                if cap.currency == min.currency && min.minor > cap.minor {
                    c.fail(
                        "min_above_max",
                        "how_much.per_payment_min",
                        format!(
                            "{} is above a spending limit of {}; no payment could pass",
                            min.with_symbol(),
                            cap.with_symbol()
                        ),
                    );
                }
            }
        }
        if h.max_payments == Some(0) {
            c.fail(
                "zero_count",
                "how_much.max_payments",
                "must be at least 1".into(),
            );
        }

        // with what
        c.list("with_what.instruments", self.with_what.instruments.len());
        for (i, inst) in self.with_what.instruments.iter().enumerate() {
            if let Instrument::Card { card_id } = inst {
                c.text(
                    &format!("with_what.instruments[{i}].card_id"),
                    card_id,
                    true,
                );
            }
        }

        // confirmation
        c.list("confirmation.rules", self.confirmation.rules.len());
        for (i, rule) in self.confirmation.rules.iter().enumerate() {
            if let ConfirmationRule::AutoAtOrBelow { amount } = rule {
                c.amount(&format!("confirmation.rules[{i}].amount"), *amount, false);
            }
        }

        if let Some(s) = &self.schedule {
            use super::constraints::Frequency;
            let id_like = |v: &str, prefix: &str| {
                v.len() <= 64
                    && v.strip_prefix(prefix).is_some_and(|rest| {
                        !rest.is_empty()
                            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    })
            };
            if !id_like(&s.merchant_id, "mch_") {
                c.fail(
                    "schedule_merchant_invalid",
                    "schedule.merchant_id",
                    "must be a Purser merchant id (mch_…)".into(),
                );
            }
            c.amount("schedule.amount", s.amount, true);
            if let Some(d) = &s.description {
                if d.chars().count() > 200 || d.chars().any(char::is_control) {
                    c.fail(
                        "schedule_description_invalid",
                        "schedule.description",
                        "at most 200 characters on one line (it is each charge's line title)"
                            .into(),
                    );
                }
            }
            if let Some(f) = &s.funding_source {
                if f != "wallet" && !id_like(f, "ecd_") {
                    c.fail(
                        "schedule_funding_invalid",
                        "schedule.funding_source",
                        "is \"wallet\" or an exclusive card id (ecd_…)".into(),
                    );
                }
            }
            if when.recurrence.frequency == Frequency::OnDemand {
                c.fail(
                    "schedule_needs_frequency",
                    "when.recurrence.frequency",
                    "a schedule charges daily, weekly, monthly or annually; say which".into(),
                );
            }
            if when.timezone.as_deref().is_some_and(|z| z != "UTC") {
                c.fail(
                    "schedule_timezone",
                    "when.timezone",
                    "a scheduled mandate counts its periods in UTC; leave the time zone out or set UTC".into(),
                );
            }
            if s.reminder_lead_seconds
                .is_some_and(|l| l > super::schedule::MAX_REMINDER_LEAD_SECONDS)
            {
                c.fail(
                    "schedule_reminder_too_early",
                    "schedule.reminder_lead_seconds",
                    "the reminder goes out at most 31 days before a charge".into(),
                );
            }
            if self.confirmation.needs_confirmation(s.amount) {
                c.fail(
                    "schedule_needs_confirmation",
                    "confirmation",
                    format!(
                        "nobody is there to confirm a scheduled charge: the confirmation policy must pay {} without asking",
                        s.amount.with_symbol()
                    ),
                );
            }
            if let Some(until) = when.valid_until {
                if until.latest_end() <= s.first_charge_at() {
                    c.fail(
                        "until_before_from",
                        "schedule.first_charge_at",
                        format!(
                            "the first charge ({}) is after the mandate ends ({until})",
                            s.first_charge_at
                        ),
                    );
                }
            }
        }

        c.list("other", self.other.len());
        for (i, o) in self.other.iter().enumerate() {
            c.text(&format!("other[{i}].type"), &o.kind, true);
        }

        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                problems: c.problems,
            })
        }
    }
}

/// True when `end` is certainly before `start`. Two dates or two instants compare exactly; a
/// date against an instant compares across every possible UTC offset, so only a certain error
/// is reported (the evaluator, which knows the zone, decides the rest).
fn bounds_reversed(start: super::DateOrInstant, end: super::DateOrInstant) -> bool {
    use super::DateOrInstant::{Date, Instant};
    match (start, end) {
        (Date(a), Date(b)) => b < a,
        (Instant(a), Instant(b)) => b <= a,
        _ => end.latest_end() < start.earliest_start(),
    }
}
