//! `Mandate::summary`: the mandate in one plain English sentence, shown at consent. It is
//! produced from the fields alone, so what the user reads is what will be enforced.

use super::constraints::{Category, ConfirmationRule, Frequency, Instrument, Interval, LineItem};
use super::model::Mandate;

fn categories(list: &[Category]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|k| {
            let codes: Vec<String> = k.mcc.iter().map(ToString::to_string).collect();
            if codes.is_empty() {
                k.label.clone()
            } else {
                format!("{} (MCC {})", k.label, codes.join(", "))
            }
        })
        .collect();
    names.join(", ")
}

fn item(i: &LineItem) -> String {
    let mut s = match &i.unit {
        Some(unit) => {
            let unit = if i.quantity == 1 {
                unit.clone()
            } else {
                format!("{unit}s")
            };
            format!("{} {unit} of {}", i.quantity, i.description)
        }
        None => format!("{} × {}", i.quantity, i.description),
    };
    if let Some(max) = i.max_quantity {
        s.push_str(&format!(" (at most {max} in all)"));
    }
    s
}

impl Mandate {
    /// One sentence a person can check before consenting, e.g. "Buy hiking boots: 1 pair of
    /// hiking boots, at most ¥800.00 per payment; asks you before every payment."
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let w = &self.what;
        if !w.line_items.is_empty() {
            let items: Vec<String> = w.line_items.iter().map(item).collect();
            parts.push(format!("only {}", items.join(" and ")));
        }
        if !w.merchants.is_empty() {
            let names: Vec<String> = w
                .merchants
                .iter()
                .map(|m| match (&m.name, &m.website) {
                    (Some(n), Some(site)) => format!("{n} ({site})"),
                    _ => m.label().to_string(),
                })
                .collect();
            parts.push(format!("only from {}", names.join(" or ")));
        }
        if !w.allowed_categories.is_empty() {
            parts.push(format!("only in {}", categories(&w.allowed_categories)));
        }
        if !w.blocked_categories.is_empty() {
            parts.push(format!("never in {}", categories(&w.blocked_categories)));
        }
        let countries =
            |l: &[super::CountryCode]| l.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        if !self.where_.allowed_countries.is_empty() {
            parts.push(format!(
                "only from merchants in {}",
                countries(&self.where_.allowed_countries)
            ));
        }
        if !self.where_.blocked_countries.is_empty() {
            parts.push(format!(
                "never from merchants in {}",
                countries(&self.where_.blocked_countries)
            ));
        }
        let h = &self.how_much;
        if let Some(m) = h.per_payment_min {
            parts.push(format!("at least {} per payment", m.with_symbol()));
        }
        if let Some(m) = h.per_payment_max {
            parts.push(format!("at most {} per payment", m.with_symbol()));
        }
        for l in &h.interval_limits {
            match l.interval {
                Interval::AllTime => {
                    parts.push(format!("at most {} in total", l.amount.with_symbol()))
                }
                i => parts.push(format!("at most {} {}", l.amount.with_symbol(), i.phrase())),
            }
        }
        if let Some(b) = h.budget {
            parts.push(format!("a total budget of {}", b.with_symbol()));
        }
        if let Some(n) = h.max_payments {
            let noun = if n == 1 { "payment" } else { "payments" };
            parts.push(format!("at most {n} {noun}"));
        }
        if !self.with_what.instruments.is_empty() {
            let names: Vec<String> = self
                .with_what
                .instruments
                .iter()
                .map(|i| match i {
                    Instrument::Card { card_id } => format!("card {card_id}"),
                    Instrument::ExclusiveCard => "the agent's exclusive card".to_string(),
                })
                .collect();
            parts.push(format!("paying only with {}", names.join(" or ")));
        }
        let when = &self.when;
        if let Some(f) = when.valid_from {
            parts.push(format!("from {f}"));
        }
        if let Some(u) = when.valid_until {
            parts.push(format!("until the end of {u}"));
        }
        if let Some(win) = when.execution_window {
            parts.push(format!("executing between {} and {}", win.start, win.end));
        }
        let r = when.recurrence;
        if r.frequency != Frequency::OnDemand {
            parts.push(format!("recurring {}", r.frequency.adverb()));
        }
        if let Some(n) = r.max_occurrences {
            parts.push(format!("at most {n} times"));
        }
        if let Some(tz) = &when.timezone {
            if when.valid_from.is_some()
                || when.valid_until.is_some()
                || !h.interval_limits.is_empty()
            {
                parts.push(format!("dates in {tz}"));
            }
        }
        if !self.other.is_empty() {
            parts.push(format!(
                "plus {} condition(s) Purser does not understand, so it will refuse every payment",
                self.other.len()
            ));
        }

        if let Some(s) = &self.schedule {
            parts.push(format!(
                "Purser charging {} to {} {} from {} without the agent",
                s.amount.with_symbol(),
                s.merchant_id,
                r.frequency.adverb(),
                s.first_charge_at
            ));
        }
        let confirmation = confirmation_sentence(&self.confirmation.rules);
        let description = self.description.trim();
        let head = if description.is_empty() {
            "Pay"
        } else {
            description
        };
        if parts.is_empty() {
            format!("{head}; {confirmation}.")
        } else {
            format!("{head}: {}; {confirmation}.", parts.join(", "))
        }
    }
}

fn confirmation_sentence(rules: &[ConfirmationRule]) -> String {
    if rules.is_empty() || rules.contains(&ConfirmationRule::AlwaysAsk) {
        return "asks you before every payment".to_string();
    }
    let lowest = rules
        .iter()
        .filter_map(|r| match r {
            ConfirmationRule::AutoAtOrBelow { amount } => Some(*amount),
            ConfirmationRule::AlwaysAsk => None,
        })
        .min_by_key(|m| m.minor);
    match lowest {
        Some(m) => format!(
            "pays automatically at or below {} and asks you above that",
            m.with_symbol()
        ),
        None => "asks you before every payment".to_string(),
    }
}
