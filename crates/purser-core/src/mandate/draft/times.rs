//! Time: "until March", "by Friday", "before 2027-01-01", "for 2 weeks", "this month",
//! "starting tomorrow", "every month", "daily", "twice", "3 times".

use super::tables::{number_word, MONTHS, WEEKDAYS};
use super::Parser;
use crate::mandate::constraints::Frequency;
use crate::mandate::date::{CivilDate, DateOrInstant};

const UNTIL: &[&str] = &["until", "till", "til", "through", "thru", "by", "up until"];
const FROM: &[&str] = &[
    "starting from",
    "starting on",
    "starting",
    "from",
    "beginning",
    "begin",
];

const RECURRENCE: &[(&str, Frequency)] = &[
    ("every day", Frequency::Daily),
    ("each day", Frequency::Daily),
    ("daily", Frequency::Daily),
    ("every week", Frequency::Weekly),
    ("each week", Frequency::Weekly),
    ("weekly", Frequency::Weekly),
    ("every month", Frequency::Monthly),
    ("each month", Frequency::Monthly),
    ("monthly", Frequency::Monthly),
    ("every year", Frequency::Annually),
    ("each year", Frequency::Annually),
    ("annually", Frequency::Annually),
    ("yearly", Frequency::Annually),
];

/// A day named by a phrase, and whether it named a whole month (so "from March" means its
/// first day and "until March" its last).
struct Named {
    first: CivilDate,
    last: CivilDate,
    len: usize,
}

fn add_months(d: CivilDate, n: i64) -> Option<CivilDate> {
    let total = i64::from(d.year()) * 12 + i64::from(d.month()) - 1 + n;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = u8::try_from(total.rem_euclid(12) + 1).ok()?;
    let first = CivilDate::new(year, month, 1)?;
    let day = d.day().min(first.end_of_month().day());
    CivilDate::new(year, month, day)
}

impl Parser<'_> {
    /// A day or month named at `i`, relative to today.
    fn named_day(&self, i: usize) -> Option<Named> {
        let today = self.ctx.today;
        let w = self.norm(i);
        if !self.free(i) {
            return None;
        }
        let one = |d: CivilDate, len| {
            Some(Named {
                first: d,
                last: d,
                len,
            })
        };
        if let Some(d) = CivilDate::parse(w) {
            return one(d, 1);
        }
        match w {
            "today" | "tonight" => return one(today, 1),
            "tomorrow" => return one(today.add_days(1)?, 1),
            _ => {}
        }
        if let Some(m) = MONTHS.iter().position(|m| *m == w || m.get(..3) == Some(w)) {
            let month = u8::try_from(m + 1).ok()?;
            let explicit_year = (!self.toks[i].ends_clause && self.free(i + 1))
                .then(|| self.norm(i + 1))
                .filter(|y| y.len() == 4)
                .and_then(|y| y.parse::<i32>().ok());
            let year = match explicit_year {
                Some(y) => y,
                None if month >= today.month() => today.year(),
                None => today.year() + 1,
            };
            let first = CivilDate::new(year, month, 1)?;
            let len = if explicit_year.is_some() { 2 } else { 1 };
            return Some(Named {
                first,
                last: first.end_of_month(),
                len,
            });
        }
        if let Some(wd) = WEEKDAYS.iter().position(|d| *d == w) {
            let ahead = (wd as i64 - today.weekday().index()).rem_euclid(7);
            return one(today.add_days(ahead)?, 1);
        }
        let ends = |words: &[&str]| self.phrase_at(i, words);
        if let Some(n) = ends(&[
            "the end of the month",
            "the end of this month",
            "end of the month",
            "end of this month",
            "end of month",
        ]) {
            return one(today.end_of_month(), n);
        }
        if let Some(n) = ends(&[
            "the end of the year",
            "the end of this year",
            "end of the year",
            "end of this year",
            "end of year",
        ]) {
            return one(CivilDate::new(today.year(), 12, 31)?, n);
        }
        if let Some(n) = ends(&["next month"]) {
            let first = CivilDate::new(
                add_months(today, 1)?.year(),
                add_months(today, 1)?.month(),
                1,
            )?;
            return Some(Named {
                first,
                last: first.end_of_month(),
                len: n,
            });
        }
        if let Some(n) = ends(&["next week"]) {
            let monday = today.add_days(7 - today.weekday().index())?;
            return Some(Named {
                first: monday,
                last: monday.add_days(6)?,
                len: n,
            });
        }
        None
    }

    pub(super) fn times(&mut self) {
        let today = self.ctx.today;
        for i in 0..self.toks.len() {
            if !self.free(i) {
                continue;
            }
            // until / by X: through the last day X names.
            if let Some(n) = self.phrase_at(i, UNTIL) {
                if !self.toks[i + n - 1].ends_clause {
                    if let Some(d) = self.named_day(i + n) {
                        self.set_until(i, n + d.len, d.last, "");
                        continue;
                    }
                }
            }
            // "not before Friday": a start, not an end.
            if self.words_at(i, &["not", "before"]) && !self.toks[i + 1].ends_clause {
                if let Some(d) = self.named_day(i + 2) {
                    self.mandate.when.valid_from = Some(DateOrInstant::Date(d.first));
                    self.claim(i, 2 + d.len, format!("valid from the start of {}", d.first));
                    continue;
                }
            }
            if self.words_at(i, &["before"]) && !self.toks[i].ends_clause {
                if let Some(d) = self.named_day(i + 1) {
                    if let Some(last) = d.first.add_days(-1) {
                        self.set_until(i, 1 + d.len, last, " (\"before\" excludes that day)");
                        continue;
                    }
                }
            }
            if let Some(n) = self.phrase_at(i, FROM) {
                if !self.toks[i + n - 1].ends_clause {
                    if let Some(d) = self.named_day(i + n) {
                        self.mandate.when.valid_from = Some(DateOrInstant::Date(d.first));
                        self.claim(i, n + d.len, format!("valid from the start of {}", d.first));
                        continue;
                    }
                }
            }
            // for N days / weeks / months / years
            if self.words_at(i, &["for"]) && !self.toks[i].ends_clause {
                if let Some(()) = self.duration(i) {
                    continue;
                }
            }
            if let Some(n) = self.phrase_at(i, &["this week", "this month", "this year", "today"]) {
                let last = match self.norm(i + n - 1) {
                    "week" => today.add_days(6 - today.weekday().index()),
                    "month" => Some(today.end_of_month()),
                    "year" => CivilDate::new(today.year(), 12, 31),
                    _ => Some(today),
                };
                if let Some(last) = last {
                    self.mandate.when.valid_from = Some(DateOrInstant::Date(today));
                    self.set_until(i, n, last, "");
                    continue;
                }
            }
            if let Some((n, f)) = RECURRENCE
                .iter()
                .find_map(|(p, f)| self.phrase_at(i, &[p]).map(|n| (n, *f)))
            {
                self.mandate.when.recurrence.frequency = f;
                self.claim(i, n, format!("recurring {}", f.adverb()));
                continue;
            }
            // once / twice / N times
            let count = match self.norm(i) {
                "once" => Some((1, 1)),
                "twice" => Some((2, 1)),
                w => {
                    let n = w
                        .parse::<u32>()
                        .ok()
                        .or_else(|| number_word(w).filter(|_| w != "a"));
                    n.filter(|_| {
                        self.words_at(i + 1, &["times"]) || self.words_at(i + 1, &["time"])
                    })
                    .map(|n| (n, 2))
                }
            };
            if let Some((count, mut len)) = count {
                // "at most 3 times": the comparator belongs to the count.
                let mut i = i;
                for prefix in [["at", "most"], ["up", "to"]] {
                    if i >= 2 && self.words_at(i - 2, &prefix) {
                        i -= 2;
                        len += 2;
                        break;
                    }
                }
                if self.mandate.when.recurrence.frequency != Frequency::OnDemand
                    || self
                        .toks
                        .iter()
                        .any(|t| RECURRENCE.iter().any(|(p, _)| *p == t.norm))
                {
                    self.mandate.when.recurrence.max_occurrences = Some(count);
                    self.claim(i, len, format!("at most {count} occurrence(s)"));
                } else {
                    self.mandate.how_much.max_payments = Some(count);
                    self.claim(i, len, format!("at most {count} payment(s)"));
                }
            }
        }
    }

    fn set_until(&mut self, start: usize, len: usize, last: CivilDate, extra: &str) {
        self.mandate.when.valid_until = Some(DateOrInstant::Date(last));
        self.claim(
            start,
            len,
            format!(
                "valid until the end of {last}{extra}, in {}",
                self.ctx.timezone
            ),
        );
    }

    /// "for 2 weeks": from today through the day before today + 2 weeks.
    fn duration(&mut self, i: usize) -> Option<()> {
        let today = self.ctx.today;
        let w = self.norm(i + 1);
        let count: i64 = match w.parse::<u32>() {
            Ok(n) => i64::from(n),
            Err(_) => i64::from(number_word(w)?),
        };
        if count == 0 || count > 3660 || !self.free(i + 1) || self.toks[i + 1].ends_clause {
            return None;
        }
        let unit = self.norm(i + 2);
        let end = match unit.trim_end_matches('s') {
            "day" => today.add_days(count),
            "week" => today.add_days(count.checked_mul(7)?),
            "month" => add_months(today, count),
            "year" => add_months(today, count.checked_mul(12)?),
            _ => None,
        }?;
        if !self.free(i + 2) {
            return None;
        }
        let last = end.add_days(-1)?;
        self.mandate.when.valid_from = Some(DateOrInstant::Date(today));
        self.mandate.when.valid_until = Some(DateOrInstant::Date(last));
        self.claim(
            i,
            3,
            format!(
                "valid from {today} through the end of {last}, in {}",
                self.ctx.timezone
            ),
        );
        Some(())
    }
}
