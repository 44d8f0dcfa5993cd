//! Evaluation: does this payment fit this mandate, given what was spent so far?
//!
//! [`Mandate::evaluate`] is pure — no clock, no storage, no time-zone database. The caller
//! passes the instant of the payment and the UTC offset of the mandate's zone at that instant
//! (the wallet resolves the zone), and the spending so far in the periods that instant falls
//! in ([`Spent`]). The answer names **every** failed constraint in a sentence a person
//! understands, and says what the payment would charge ([`Charge`]): the buckets (lifetime,
//! this day, this week, …, and per line item) and the ceiling of each. Storage charges those
//! buckets with conditional updates, so two concurrent payments can never both pass a budget
//! that fits only one; the evaluation itself is advice until that charge succeeds.
//!
//! Rules, each failing closed:
//! - a constraint Purser does not know (`other`) refuses every payment;
//! - every amount in the mandate must be in the payment's currency;
//! - merchant: by id when both sides have one, else website (the host or a subdomain of it),
//!   else name (letters and digits compared, case ignored);
//! - categories and countries: when the mandate allows or blocks some, a merchant that does
//!   not say its category or country is refused (it could be the blocked one);
//! - line items: every item in the cart must match an allowed item (all words of the allowed
//!   item's description appear in the item's title or id; plurals and filler words ignored),
//!   at most the allowed quantity per payment, and at most `max_quantity` over the mandate's
//!   life;
//! - dates compare in the mandate's zone: a date bound covers that whole local day;
//! - recurrence: a daily/weekly/monthly/annual mandate pays at most once in each such period,
//!   and at most `max_occurrences` times in all.

use super::constraints::{CountryCode, Frequency, Instrument, Interval, Mcc, MerchantRef};
use super::date::{CivilDate, DateOrInstant};
use super::model::Mandate;
use crate::{Currency, Money, Timestamp};

const MS_PER_DAY: i64 = 86_400_000;

/// What the payment's merchant says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A host name or URL (`shop.example.com`, `https://shop.example.com/boots`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<Mcc>,
}

/// One line of the cart.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
}

/// A payment an agent asks for (or a person imagines, for `simulate`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub amount: Money,
    #[serde(default)]
    pub merchant: MerchantFacts,
    #[serde(default)]
    pub items: Vec<CartItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<Instrument>,
}

/// When the payment happens, with the UTC offset of the mandate's zone at that instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub instant: Timestamp,
    pub utc_offset_ms: i64,
}

impl At {
    pub fn utc(instant: Timestamp) -> At {
        At {
            instant,
            utc_offset_ms: 0,
        }
    }

    /// The local calendar day of this instant; `None` only for instants outside 1970–9999.
    pub fn local_date(self) -> Option<CivilDate> {
        let local = self.instant.0.checked_add(self.utc_offset_ms)?;
        CivilDate::from_days_since_epoch(local.div_euclid(MS_PER_DAY))
    }
}

/// A spending bucket's key: `all`, `day:2026-11-21`, `week:2026-11-16` (the Monday),
/// `month:2026-11`, `year:2026`, `item:0` (lifetime quantity of allowed line item 0).
pub fn bucket_key(interval: Interval, local: CivilDate) -> Option<String> {
    Some(match interval {
        Interval::PerPayment => return None,
        Interval::AllTime => ALL.to_string(),
        Interval::Daily => format!("day:{local}"),
        Interval::Weekly => {
            let monday = local.add_days(-local.weekday().index())?;
            format!("week:{monday}")
        }
        Interval::Monthly => format!("month:{:04}-{:02}", local.year(), local.month()),
        Interval::Yearly => format!("year:{:04}", local.year()),
    })
}

/// The lifetime bucket: every payment is charged to it.
pub const ALL: &str = "all";

/// What a bucket holds so far: an amount in minor units (or, for an item bucket, a quantity)
/// and a count of payments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub amount: i64,
    pub payments: i64,
}

/// Spending so far, by bucket key. Missing buckets are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    pub buckets: Vec<(String, Usage)>,
}

impl Spent {
    pub fn get(&self, key: &str) -> Usage {
        self.buckets
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, u)| *u)
            .unwrap_or_default()
    }
}

/// One bucket the payment charges, with its ceilings (`None`: not limited, tracked only).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BucketCharge {
    pub key: String,
    /// Added to the bucket's amount: the payment's minor units, or an item's quantity.
    pub add: i64,
    pub max_amount: Option<i64>,
    /// Whether the payment counts (item buckets do not count payments).
    pub counts_payment: bool,
    pub max_payments: Option<i64>,
}

/// What a payment charges, when it passes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Charge {
    pub buckets: Vec<BucketCharge>,
}

/// A failed constraint: a stable code and a sentence for a person.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

/// The decision, before storage charges it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Evaluation {
    /// Empty when the payment fits.
    pub failures: Vec<Failure>,
    /// Whether the person must confirm this payment (meaningful when it fits).
    pub needs_confirmation: bool,
    pub charge: Charge,
}

impl Evaluation {
    pub fn allowed(&self) -> bool {
        self.failures.is_empty()
    }
}

struct Eval<'a> {
    m: &'a Mandate,
    req: &'a PaymentRequest,
    failures: Vec<Failure>,
}

impl Eval<'_> {
    fn fail(&mut self, code: &'static str, message: String) {
        self.failures.push(Failure { code, message });
    }
}

impl Mandate {
    /// The currency of the mandate's amounts, when it has any (validation keeps them to one).
    pub fn currency(&self) -> Option<Currency> {
        let h = &self.how_much;
        h.per_payment_min
            .iter()
            .chain(h.per_payment_max.iter())
            .chain(h.budget.iter())
            .chain(h.interval_limits.iter().map(|l| &l.amount))
            .map(|m| m.currency)
            .next()
            .or_else(|| {
                self.confirmation.rules.iter().find_map(|r| match r {
                    super::ConfirmationRule::AutoAtOrBelow { amount } => Some(amount.currency),
                    super::ConfirmationRule::AlwaysAsk => None,
                })
            })
    }

    /// Evaluate `req` at `at` against this mandate with `spent` so far. Pure; see the module
    /// documentation for the rules.
    pub fn evaluate(&self, req: &PaymentRequest, at: At, spent: &Spent) -> Evaluation {
        let mut e = Eval {
            m: self,
            req,
            failures: Vec::new(),
        };
        for o in &self.other {
            e.fail(
                "unresolved_constraint",
                format!(
                    "This mandate has a constraint Purser does not understand ('{}'), so no payment can rely on it.",
                    o.kind
                ),
            );
        }
        e.amount_and_currency();
        e.merchant();
        e.categories();
        e.countries();
        let item_charges = e.items(spent);
        e.instrument();
        let local = at.local_date();
        e.dates(at, local);
        let mut buckets = e.buckets(local, spent);
        buckets.extend(item_charges);
        let needs_confirmation = self.confirmation.needs_confirmation(req.amount);
        Evaluation {
            failures: e.failures,
            needs_confirmation,
            charge: Charge { buckets },
        }
    }
}

fn host_of(website: &str) -> String {
    let s = website.trim().to_ascii_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let host = s.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default();
    let host = host.trim_end_matches('.');
    host.strip_prefix("www.").unwrap_or(host).to_string()
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn merchant_matches(allowed: &MerchantRef, m: &MerchantFacts) -> bool {
    if let (Some(a), Some(b)) = (&allowed.id, &m.id) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (&allowed.website, &m.website) {
        let (a, b) = (host_of(a), host_of(b));
        return !a.is_empty() && (a == b || b.ends_with(&format!(".{a}")));
    }
    if let (Some(a), Some(b)) = (&allowed.name, &m.name) {
        let a = squash(a);
        return !a.is_empty() && a == squash(b);
    }
    false
}

const FILLER: &[&str] = &[
    "a", "an", "the", "of", "pair", "for", "and", "one", "some", "x",
];

/// Lower-case words of letters and digits, plural `s` dropped, filler words left out.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_string(),
                _ => w,
            }
        })
        .filter(|w| !FILLER.contains(&w.as_str()))
        .collect()
}

fn plural(n: u32, unit: Option<&str>, what: &str) -> String {
    match unit {
        Some(u) if n == 1 => format!("1 {u} of {what}"),
        Some(u) => format!("{n} {u}s of {what}"),
        None => format!("{n} × {what}"),
    }
}

impl Eval<'_> {
    fn amount_and_currency(&mut self) {
        let amount = self.req.amount;
        if amount.minor <= 0 {
            self.fail(
                "invalid_amount",
                format!(
                    "A payment must be more than zero; this one is {}.",
                    amount.with_symbol()
                ),
            );
        }
        if let Some(cur) = self.m.currency() {
            if cur != amount.currency {
                self.fail(
                    "currency_mismatch",
                    format!(
                        "This mandate's amounts are in {}; this payment is in {}.",
                        cur.code(),
                        amount.currency.code()
                    ),
                );
                return;
            }
        }
        let h = &self.m.how_much;
        if let Some(min) = h.per_payment_min {
            if amount.minor < min.minor {
                self.fail(
                    "below_minimum",
                    format!(
                        "This mandate allows payments of at least {}; this one is {}.",
                        min.with_symbol(),
                        amount.with_symbol()
                    ),
                );
            }
        }
        let per_payment_caps = h.per_payment_max.into_iter().chain(
            h.interval_limits
                .iter()
                .filter(|l| l.interval == Interval::PerPayment)
                .map(|l| l.amount),
        );
        if let Some(max) = per_payment_caps.min_by_key(|m| m.minor) {
            if amount.minor > max.minor {
                self.fail(
                    "above_maximum",
                    format!(
                        "This mandate allows {} per payment; this one is {}.",
                        max.with_symbol(),
                        amount.with_symbol()
                    ),
                );
            }
        }
    }

    fn merchant(&mut self) {
        let allowed = &self.m.what.merchants;
        if allowed.is_empty()
            || allowed
                .iter()
                .any(|a| merchant_matches(a, &self.req.merchant))
        {
            return;
        }
        let names: Vec<&str> = allowed.iter().map(MerchantRef::label).collect();
        let m = &self.req.merchant;
        let this = m
            .name
            .as_deref()
            .or(m.website.as_deref())
            .or(m.id.as_deref())
            .unwrap_or("a merchant that did not say who it is");
        self.fail(
            "merchant_not_allowed",
            format!(
                "This mandate only allows buying from {}; this payment is to {this}.",
                names.join(" or ")
            ),
        );
    }

    fn categories(&mut self) {
        let w = &self.m.what;
        if w.allowed_categories.is_empty() && w.blocked_categories.is_empty() {
            return;
        }
        let Some(mcc) = self.req.merchant.mcc else {
            self.fail(
                "category_unknown",
                "This mandate limits merchant categories, and this merchant did not say its category (MCC).".into(),
            );
            return;
        };
        if let Some(k) = w.blocked_categories.iter().find(|k| k.mcc.contains(&mcc)) {
            self.fail(
                "category_blocked",
                format!(
                    "This mandate blocks {} (MCC {mcc}); this merchant is in that category.",
                    k.label
                ),
            );
        }
        if !w.allowed_categories.is_empty()
            && !w.allowed_categories.iter().any(|k| k.mcc.contains(&mcc))
        {
            let labels: Vec<&str> = w
                .allowed_categories
                .iter()
                .map(|k| k.label.as_str())
                .collect();
            self.fail(
                "category_not_allowed",
                format!(
                    "This mandate only allows {}; this merchant's category is MCC {mcc}.",
                    labels.join(" or ")
                ),
            );
        }
    }

    fn countries(&mut self) {
        let w = &self.m.where_;
        if w.allowed_countries.is_empty() && w.blocked_countries.is_empty() {
            return;
        }
        let Some(country) = &self.req.merchant.country else {
            self.fail(
                "country_unknown",
                "This mandate limits where the merchant may be, and this merchant did not say its country.".into(),
            );
            return;
        };
        if w.blocked_countries.contains(country) {
            self.fail(
                "country_blocked",
                format!(
                    "This mandate blocks merchants in {}; this one is there.",
                    country.as_str()
                ),
            );
        }
        if !w.allowed_countries.is_empty() && !w.allowed_countries.contains(country) {
            let list: Vec<&str> = w
                .allowed_countries
                .iter()
                .map(CountryCode::as_str)
                .collect();
            self.fail(
                "country_not_allowed",
                format!(
                    "This mandate only allows merchants in {}; this one is in {}.",
                    list.join(", "),
                    country.as_str()
                ),
            );
        }
    }

    /// Checks the cart against the allowed line items; returns the item buckets to charge.
    fn items(&mut self, spent: &Spent) -> Vec<BucketCharge> {
        for item in &self.req.items {
            if item.quantity == 0 {
                self.fail(
                    "item_quantity_invalid",
                    format!(
                        "Each item in the cart needs a quantity of at least 1; \"{}\" has 0.",
                        item.title
                    ),
                );
            }
        }
        let allowed = &self.m.what.line_items;
        if allowed.is_empty() {
            return Vec::new();
        }
        let needs: Vec<Vec<String>> = allowed.iter().map(|i| words(&i.description)).collect();
        let mut per_item = vec![0u64; allowed.len()];
        for item in &self.req.items {
            let mut have = words(&item.title);
            if let Some(id) = &item.id {
                have.extend(words(id));
            }
            let hit = needs
                .iter()
                .position(|need| !need.is_empty() && need.iter().all(|w| have.contains(w)));
            match hit {
                Some(i) => per_item[i] = per_item[i].saturating_add(u64::from(item.quantity)),
                None => {
                    let list: Vec<&str> = allowed.iter().map(|i| i.description.as_str()).collect();
                    self.fail(
                        "item_not_allowed",
                        format!(
                            "This mandate only allows {}; the cart has \"{}\".",
                            list.join(" or "),
                            item.title
                        ),
                    );
                }
            }
        }
        if self.req.items.is_empty() {
            self.fail(
                "items_missing",
                "This mandate only allows certain items, and this payment does not say what it buys.".into(),
            );
        }
        let mut charges = Vec::new();
        for (i, (line, qty)) in allowed.iter().zip(per_item).enumerate() {
            if qty > u64::from(line.quantity) {
                self.fail(
                    "item_quantity_exceeded",
                    format!(
                        "This mandate allows {} per payment; this one asks for {qty}.",
                        plural(line.quantity, line.unit.as_deref(), &line.description)
                    ),
                );
            }
            if qty == 0 {
                continue;
            }
            let qty = i64::try_from(qty).unwrap_or(i64::MAX);
            let key = format!("item:{i}");
            if let Some(max) = line.max_quantity {
                let before = spent.get(&key).amount;
                if before.saturating_add(qty) > i64::from(max) {
                    self.fail(
                        "item_lifetime_quantity_exceeded",
                        format!(
                            "This mandate allows {} in all; {before} already bought, and this payment asks for {qty} more.",
                            plural(max, line.unit.as_deref(), &line.description)
                        ),
                    );
                }
            }
            charges.push(BucketCharge {
                key,
                add: qty,
                max_amount: line.max_quantity.map(i64::from),
                counts_payment: false,
                max_payments: None,
            });
        }
        charges
    }

    fn instrument(&mut self) {
        let allowed = &self.m.with_what.instruments;
        if allowed.is_empty() {
            return;
        }
        let ok = self
            .req
            .instrument
            .as_ref()
            .is_some_and(|i| allowed.contains(i));
        if !ok {
            let names: Vec<String> = allowed
                .iter()
                .map(|i| match i {
                    Instrument::Card { card_id } => format!("card {card_id}"),
                    Instrument::ExclusiveCard => "the agent's exclusive card".into(),
                })
                .collect();
            self.fail(
                "instrument_not_allowed",
                format!(
                    "This mandate only allows paying with {}; this payment uses {}.",
                    names.join(" or "),
                    match &self.req.instrument {
                        Some(Instrument::Card { card_id }) => format!("card {card_id}"),
                        Some(Instrument::ExclusiveCard) => "the agent's exclusive card".into(),
                        None => "no instrument it named".into(),
                    }
                ),
            );
        }
    }

    fn dates(&mut self, at: At, local: Option<CivilDate>) {
        let Some(local) = local else {
            self.fail(
                "invalid_time",
                "The payment's time is outside the years Purser accepts.".into(),
            );
            return;
        };
        let starts = |b: DateOrInstant| match b {
            DateOrInstant::Date(d) => local < d,
            DateOrInstant::Instant(t) => at.instant < t,
        };
        let ended = |b: DateOrInstant| match b {
            DateOrInstant::Date(d) => local > d,
            DateOrInstant::Instant(t) => at.instant > t,
        };
        let w = &self.m.when;
        if let Some(from) = w.valid_from.filter(|b| starts(*b)) {
            self.fail(
                "not_yet_valid",
                format!("This mandate starts on {from}; it is {local} now."),
            );
        }
        if let Some(until) = w.valid_until.filter(|b| ended(*b)) {
            self.fail(
                "mandate_expired",
                format!("This mandate ended on {until}; it is {local} now."),
            );
        }
        if let Some(win) = w.execution_window {
            if starts(win.start) || ended(win.end) {
                self.fail(
                    "outside_execution_window",
                    format!(
                        "This mandate may only pay between {} and {}; it is {local} now.",
                        win.start, win.end
                    ),
                );
            }
        }
    }

    /// The money buckets this payment charges, checking each against what was spent.
    fn buckets(&mut self, local: Option<CivilDate>, spent: &Spent) -> Vec<BucketCharge> {
        let amount = self.req.amount;
        let h = &self.m.how_much;
        let rec = self.m.when.recurrence;
        let mut out: Vec<BucketCharge> = Vec::new();
        let mut all = BucketCharge {
            key: ALL.into(),
            add: amount.minor,
            max_amount: h.budget.map(|b| b.minor),
            counts_payment: true,
            max_payments: None,
        };
        let counts = [h.max_payments, rec.max_occurrences];
        all.max_payments = counts.into_iter().flatten().min().map(i64::from);
        out.push(all);
        let Some(local) = local else { return out };
        for l in &h.interval_limits {
            let Some(key) = bucket_key(l.interval, local) else {
                continue;
            };
            match out.iter_mut().find(|b| b.key == key) {
                Some(b) => {
                    b.max_amount = Some(
                        b.max_amount
                            .map_or(l.amount.minor, |m| m.min(l.amount.minor)),
                    )
                }
                None => out.push(BucketCharge {
                    key,
                    add: amount.minor,
                    max_amount: Some(l.amount.minor),
                    counts_payment: true,
                    max_payments: None,
                }),
            }
        }
        let once_per = match rec.frequency {
            Frequency::OnDemand => None,
            Frequency::Daily => Some(Interval::Daily),
            Frequency::Weekly => Some(Interval::Weekly),
            Frequency::Monthly => Some(Interval::Monthly),
            Frequency::Annually => Some(Interval::Yearly),
        };
        if let Some(key) = once_per.and_then(|i| bucket_key(i, local)) {
            match out.iter_mut().find(|b| b.key == key) {
                Some(b) => b.max_payments = Some(1),
                None => out.push(BucketCharge {
                    key,
                    add: amount.minor,
                    max_amount: None,
                    counts_payment: true,
                    max_payments: Some(1),
                }),
            }
        }
        if self.failures.iter().any(|f| f.code == "currency_mismatch") {
            return out;
        }
        for b in &out {
            self.check_bucket(b, spent.get(&b.key), local);
        }
        out
    }

    fn check_bucket(&mut self, b: &BucketCharge, used: Usage, local: CivilDate) {
        let cur = self.req.amount.currency;
        let money = |minor: i64| Money::new(minor, cur).with_symbol();
        let period = period_phrase(&b.key, local);
        if let Some(max) = b.max_amount {
            let after = used.amount.saturating_add(b.add);
            if after > max {
                let what = if b.key == ALL {
                    if self.m.how_much.budget.is_some() {
                        "budget".to_string()
                    } else {
                        "limit in total".to_string()
                    }
                } else {
                    format!("limit {period}")
                };
                self.fail(
                    if b.key == ALL {
                        "budget_exceeded"
                    } else {
                        "interval_limit_exceeded"
                    },
                    format!(
                        "This mandate's {what} is {}; {} is already spent, and this payment of {} would go {} over.",
                        money(max),
                        money(used.amount),
                        money(b.add),
                        money(after.saturating_sub(max))
                    ),
                );
            }
        }
        if let Some(max) = b.max_payments {
            if used.payments.saturating_add(1) > max {
                let (code, msg) = if b.key == ALL {
                    (
                        "max_payments_reached",
                        format!(
                            "This mandate allows {max} payment{} in all, and {} already made.",
                            if max == 1 { "" } else { "s" },
                            match used.payments {
                                1 => "1 was".to_string(),
                                n => format!("{n} were"),
                            }
                        ),
                    )
                } else {
                    (
                        "recurrence_exhausted",
                        format!(
                            "This mandate pays {} and has already paid {period}.",
                            self.m.when.recurrence.frequency.adverb()
                        ),
                    )
                };
                self.fail(code, msg);
            }
        }
    }
}

fn period_phrase(key: &str, local: CivilDate) -> String {
    match key.split_once(':') {
        Some(("day", _)) => format!("for the day ({local})"),
        Some(("week", monday)) => format!("for the week starting {monday}"),
        Some(("month", m)) => format!("for the month ({m})"),
        Some(("year", y)) => format!("for the year {y}"),
        _ => "in total".into(),
    }
}

#[cfg(test)]
mod tests;
