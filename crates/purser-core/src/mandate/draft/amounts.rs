//! Amounts: "under 800 yuan", "at most ¥200 a week", "up to $1,299.50 per order",
//! "a budget of 5k CNY", "at least €30", "automatically … under $500".

use super::tables::currency_word;
use super::Parser;
use crate::mandate::constraints::{ConfirmationRule, Interval, IntervalLimit};
use crate::{Currency, Money, ParseOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// "under X": < X.
    MaxExclusive,
    /// "at most X", or an amount with a period and no comparator ("¥200 a week"): ≤ X.
    MaxInclusive,
    /// "over X": > X.
    MinExclusive,
    /// "at least X": ≥ X.
    MinInclusive,
    /// "a budget of X", "X in total".
    Budget,
}

const COMPARATORS: &[(&str, Kind)] = &[
    ("under", Kind::MaxExclusive),
    ("below", Kind::MaxExclusive),
    ("less than", Kind::MaxExclusive),
    ("cheaper than", Kind::MaxExclusive),
    ("at most", Kind::MaxInclusive),
    ("up to", Kind::MaxInclusive),
    ("no more than", Kind::MaxInclusive),
    ("not more than", Kind::MaxInclusive),
    ("not over", Kind::MaxInclusive),
    ("max", Kind::MaxInclusive),
    ("maximum", Kind::MaxInclusive),
    ("within", Kind::MaxInclusive),
    ("at least", Kind::MinInclusive),
    ("no less than", Kind::MinInclusive),
    ("over", Kind::MinExclusive),
    ("above", Kind::MinExclusive),
    ("more than", Kind::MinExclusive),
    ("with a budget of", Kind::Budget),
    ("a budget of", Kind::Budget),
    ("budget of", Kind::Budget),
    ("a total of", Kind::Budget),
    ("budget", Kind::Budget),
];

const INTERVALS: &[(&str, Interval)] = &[
    ("per payment", Interval::PerPayment),
    ("each payment", Interval::PerPayment),
    ("per purchase", Interval::PerPayment),
    ("per order", Interval::PerPayment),
    ("each time", Interval::PerPayment),
    ("per transaction", Interval::PerPayment),
    ("at a time", Interval::PerPayment),
    ("a day", Interval::Daily),
    ("per day", Interval::Daily),
    ("each day", Interval::Daily),
    ("every day", Interval::Daily),
    ("daily", Interval::Daily),
    ("a week", Interval::Weekly),
    ("per week", Interval::Weekly),
    ("each week", Interval::Weekly),
    ("every week", Interval::Weekly),
    ("weekly", Interval::Weekly),
    ("a month", Interval::Monthly),
    ("per month", Interval::Monthly),
    ("each month", Interval::Monthly),
    ("every month", Interval::Monthly),
    ("monthly", Interval::Monthly),
    ("a year", Interval::Yearly),
    ("per year", Interval::Yearly),
    ("each year", Interval::Yearly),
    ("every year", Interval::Yearly),
    ("yearly", Interval::Yearly),
    ("annually", Interval::Yearly),
    ("in total", Interval::AllTime),
    ("total", Interval::AllTime),
    ("overall", Interval::AllTime),
    ("altogether", Interval::AllTime),
];

/// Words after a bare number that make it a count rather than an amount.
const COUNTED: &[&str] = &[
    "times",
    "time",
    "payments",
    "payment",
    "purchases",
    "orders",
    "items",
    "pieces",
    "units",
];

/// One amount phrase, claimed during the pass and turned into constraints at the end.
#[derive(Clone, Debug)]
pub(super) struct AmountClause {
    start: usize,
    len: usize,
    kind: Kind,
    /// As written (before "under" takes a minor unit off).
    stated: Money,
    interval: Option<Interval>,
    /// How the currency was decided, when it needed deciding.
    note: Option<String>,
}

pub(super) struct MoneyMatch {
    pub money: Money,
    pub len: usize,
    pub note: Option<String>,
}

/// A number as people write it: digits, grouping commas, a decimal point, optional `k`.
fn number(text: &str) -> Option<(&str, bool)> {
    let (digits, thousands) = match text.strip_suffix(['k', 'K']) {
        Some(d) => (d, true),
        None => (text, false),
    };
    let ok = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b',' || b == b'.');
    ok.then_some((digits, thousands))
}

fn exact(num: &str, thousands: bool, currency: Currency) -> Result<Money, String> {
    let m = Money::parse(
        &format!("{num} {}", currency.code()),
        ParseOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    if thousands {
        let minor = m
            .minor
            .checked_mul(1000)
            .ok_or_else(|| "the amount is too large for Purser to hold".to_string())?;
        Ok(Money::new(minor, currency))
    } else {
        Ok(m)
    }
}

impl Parser<'_> {
    /// An amount at token `i`, if there is one. `bare_ok`: a number without a currency may
    /// use the default currency (only after a comparator, where it must be money).
    pub(super) fn money_at(&self, i: usize, bare_ok: bool) -> Result<Option<MoneyMatch>, String> {
        if !self.free(i) {
            return Ok(None);
        }
        let tok = &self.toks[i];
        let next = (!tok.ends_clause && self.free(i + 1)).then(|| self.norm(i + 1));
        // "800 yuan", "1,299.50 USD", "5k CNY", "800元"
        if let Some((num, k)) = number(&tok.norm) {
            if let Some(cur) = next.and_then(currency_word) {
                return exact(num, k, cur).map(|money| {
                    Some(MoneyMatch {
                        money,
                        len: 2,
                        note: None,
                    })
                });
            }
            // "at most 3 times", "up to 2 pairs": a count, not money.
            let counts_things = next.is_some_and(|n| {
                COUNTED.contains(&n) || super::tables::UNITS.iter().any(|(u, _)| *u == n)
            });
            if bare_ok && !counts_things {
                let money = exact(num, k, self.ctx.default_currency)?;
                let note = format!(
                    "no currency was named, so {} (your default currency)",
                    self.ctx.default_currency.code()
                );
                return Ok(Some(MoneyMatch {
                    money,
                    len: 1,
                    note: Some(note),
                }));
            }
            return Ok(None);
        }
        if let Some(num) = tok.norm.strip_suffix(['元', '块']) {
            if let Some((num, k)) = number(num) {
                return exact(num, k, Currency::CNY).map(|money| {
                    Some(MoneyMatch {
                        money,
                        len: 1,
                        note: None,
                    })
                });
            }
        }
        // "RMB 800", "USD 500"
        if let (Some(cur), Some(n)) = (currency_word(&tok.norm), next) {
            if let Some((num, k)) = number(n) {
                return exact(num, k, cur).map(|money| {
                    Some(MoneyMatch {
                        money,
                        len: 2,
                        note: None,
                    })
                });
            }
        }
        // "¥800", "$500", "€30", "800CNY", "$5k"
        if tok.norm.starts_with(|c: char| !c.is_alphanumeric()) || number_then_code(&tok.norm) {
            let (text, k) = match tok.text.strip_suffix(['k', 'K']) {
                Some(t) => (t, true),
                None => (tok.text.as_str(), false),
            };
            let opts = ParseOptions {
                yen_sign: self.ctx.yen_means,
                default_currency: None,
            };
            let m = match Money::parse(text, opts) {
                Ok(m) => m,
                Err(e)
                    if text.starts_with(|c: char| c.is_ascii_digit() || "¥￥$€£₩₹".contains(c)) =>
                {
                    return Err(e.to_string())
                }
                Err(_) => return Ok(None),
            };
            let money = if k {
                exact(&m.decimal(), true, m.currency)?
            } else {
                m
            };
            let note = text.starts_with(['¥', '￥']).then(|| {
                let name = if self.ctx.yen_means == Currency::JPY {
                    "Japanese yen"
                } else {
                    "Chinese yuan"
                };
                format!("¥ read as {} ({name})", self.ctx.yen_means.code())
            });
            return Ok(Some(MoneyMatch {
                money,
                len: 1,
                note,
            }));
        }
        Ok(None)
    }

    /// Find comparator + amount (+ period) phrases, and amounts followed by a period.
    pub(super) fn amounts(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            let found = COMPARATORS
                .iter()
                .find_map(|(p, k)| self.phrase_at(i, &[p]).map(|n| (n, *k)));
            // "don't buy anything over $100", "nothing above ¥500": a negated minimum is a
            // maximum, inclusive ("not over 100" allows 100). The negation is claimed with it.
            let negated_by = match found {
                Some((_, Kind::MinExclusive | Kind::MinInclusive)) => self.negation_before(i),
                _ => None,
            };
            let found = match (found, negated_by) {
                (Some((n, _)), Some(_)) => Some((n, Kind::MaxInclusive)),
                (f, _) => f,
            };
            let (cmp_len, kind) = match found {
                Some(f) => f,
                None => {
                    // "¥200 a week": an amount with a period is a limit for that period.
                    if let Ok(Some(m)) = self.money_at(i, false) {
                        let end = i + m.len;
                        let after = (!self.toks[end - 1].ends_clause)
                            .then(|| self.interval_at(end))
                            .flatten();
                        if let Some((interval, ilen)) = after {
                            let kind = if interval == Interval::AllTime {
                                Kind::Budget
                            } else {
                                Kind::MaxInclusive
                            };
                            self.push_amount(i, m.len + ilen, kind, m, Some(interval));
                            i = end + ilen;
                            continue;
                        }
                    }
                    i += 1;
                    continue;
                }
            };
            if self.toks[i + cmp_len - 1].ends_clause {
                i += 1;
                continue;
            }
            let at = i + cmp_len;
            match self.money_at(at, true) {
                Ok(Some(m)) => {
                    let end = at + m.len;
                    let after = (!self.toks[end - 1].ends_clause)
                        .then(|| self.interval_at(end))
                        .flatten();
                    let (interval, ilen) = match after {
                        Some((iv, n)) => (Some(iv), n),
                        None => (None, 0),
                    };
                    if let Some(neg) = negated_by {
                        let meaning = format!(
                            "a negation: \"{}\" is read as \"at most\"",
                            self.text(i, cmp_len)
                        );
                        self.claim(neg, 1, meaning);
                    }
                    self.push_amount(i, cmp_len + m.len + ilen, kind, m, interval);
                    i = end + ilen;
                }
                Ok(None) => i += 1,
                Err(e) => {
                    self.warnings.push(format!(
                        "'{}' was not read as an amount: {e}.",
                        self.text(at, 1)
                    ));
                    i += 1;
                }
            }
        }
    }

    /// A free negation word up to four words before `i`, in the same clause.
    fn negation_before(&self, i: usize) -> Option<usize> {
        (i.saturating_sub(4)..i).rev().find(|&j| {
            self.free(j)
                && ["don't", "dont", "never", "nothing", "not"].contains(&self.norm(j))
                && (j..i).all(|k| !self.toks[k].ends_clause)
        })
    }

    fn interval_at(&self, i: usize) -> Option<(Interval, usize)> {
        INTERVALS
            .iter()
            .find_map(|(p, iv)| self.phrase_at(i, &[p]).map(|n| (*iv, n)))
    }

    fn push_amount(
        &mut self,
        start: usize,
        len: usize,
        kind: Kind,
        m: MoneyMatch,
        interval: Option<Interval>,
    ) {
        self.claim_silently(start, len);
        self.amounts.push(AmountClause {
            start,
            len,
            kind,
            stated: m.money,
            interval,
            note: m.note,
        });
    }

    /// Turn the amount phrases into constraints, now that "automatically" is known.
    pub(super) fn resolve_amounts(&mut self) {
        let clauses = std::mem::take(&mut self.amounts);
        let mut auto_used = false;
        for c in clauses {
            let one = Money::new(1, c.stated.currency);
            let stated = c.stated.with_symbol();
            if c.kind == Kind::MaxExclusive && c.stated.minor == 0 {
                self.warnings.push(format!(
                    "'{}' allows nothing: no amount is below zero.",
                    self.text(c.start, c.len)
                ));
                self.unclaim(c.start, c.len);
                continue;
            }
            let mut meaning;
            let value = match c.kind {
                Kind::MaxExclusive => c.stated.checked_sub(one),
                Kind::MinExclusive => c.stated.checked_add(one),
                _ => Ok(c.stated),
            };
            let Ok(value) = value else {
                self.unclaim(c.start, c.len);
                continue;
            };
            let shown = value.with_symbol();
            let strict = matches!(c.kind, Kind::MaxExclusive | Kind::MinExclusive);
            let how = if strict {
                format!(
                    "{shown} (\"{}\" excludes {stated} itself)",
                    self.text(c.start, 1)
                )
            } else {
                shown.clone()
            };
            match (c.kind, c.interval) {
                (Kind::MaxExclusive | Kind::MaxInclusive, iv)
                    if self.auto.is_some() && !auto_used && iv != Some(Interval::AllTime) =>
                {
                    auto_used = true;
                    self.mandate
                        .confirmation
                        .rules
                        .push(ConfirmationRule::AutoAtOrBelow { amount: value });
                    meaning = format!("pay automatically at or below {how}; ask you above that");
                    if let Some(iv) = iv.filter(|iv| *iv != Interval::PerPayment) {
                        self.mandate.how_much.interval_limits.push(IntervalLimit {
                            interval: iv,
                            amount: value,
                        });
                        meaning.push_str(&format!(", and at most {shown} {}", iv.phrase()));
                    } else {
                        self.questions.push(format!(
                            "Should payments above {shown} be allowed at all (each with your confirmation), or refused? As drafted they are allowed if you confirm."
                        ));
                    }
                }
                (Kind::MaxExclusive | Kind::MaxInclusive, None | Some(Interval::PerPayment)) => {
                    if let Some(old) = self.mandate.how_much.per_payment_max {
                        self.warnings.push(format!("Two per-payment maximums were given; kept the lower of {} and {shown}.", old.with_symbol()));
                        if old.currency == value.currency && old.minor <= value.minor {
                            self.claim(
                                c.start,
                                c.len,
                                "a second per-payment maximum (the lower one is kept)",
                            );
                            continue;
                        }
                    }
                    self.mandate.how_much.per_payment_max = Some(value);
                    meaning = format!("at most {how} per payment");
                }
                (Kind::Budget, _)
                | (Kind::MaxExclusive | Kind::MaxInclusive, Some(Interval::AllTime)) => {
                    self.mandate.how_much.budget = Some(value);
                    meaning = format!("a total budget of {how} over the mandate's life");
                }
                (Kind::MaxExclusive | Kind::MaxInclusive, Some(iv)) => {
                    let limits = &mut self.mandate.how_much.interval_limits;
                    if limits.iter().any(|l| l.interval == iv) {
                        self.warnings.push(format!(
                            "A second limit {} was ignored: {}.",
                            iv.phrase(),
                            self.text(c.start, c.len)
                        ));
                        self.unclaim(c.start, c.len);
                        continue;
                    }
                    limits.push(IntervalLimit {
                        interval: iv,
                        amount: value,
                    });
                    meaning = format!("at most {how} {}", iv.phrase());
                    if matches!(
                        iv,
                        Interval::Weekly | Interval::Monthly | Interval::Daily | Interval::Yearly
                    ) {
                        meaning.push_str(" (periods follow your time zone)");
                    }
                }
                (Kind::MinExclusive | Kind::MinInclusive, None | Some(Interval::PerPayment)) => {
                    self.mandate.how_much.per_payment_min = Some(value);
                    meaning = format!("at least {how} per payment");
                }
                (Kind::MinExclusive | Kind::MinInclusive, Some(_)) => {
                    self.unclaim(c.start, c.len);
                    continue;
                }
            }
            if let Some(note) = &c.note {
                meaning.push_str(&format!("; {note}"));
            }
            self.understood.push((
                c.start,
                super::Understood {
                    phrase: self.text(c.start, c.len),
                    meaning,
                },
            ));
        }
        if self.auto.is_some() && !auto_used {
            self.questions.push(
                "You asked for automatic payment but gave no amount: up to how much may the agent pay without asking? Until you say, Purser asks every time.".to_string(),
            );
        }
    }

    fn unclaim(&mut self, start: usize, len: usize) {
        for u in self.used.iter_mut().skip(start).take(len) {
            *u = false;
        }
    }
}

/// "800cny": digits followed by letters, which `Money::parse` reads as a code.
fn number_then_code(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) && s.ends_with(|c: char| c.is_ascii_alphabetic())
}
