//! Issuing AP2 open mandates from Purser's mandate model.
//!
//! When a person consents to a [`Mandate`], Purser signs, with its ES256 issuing key, two AP2 v0.2
//! Delegate SD-JWT root credentials naming the agent's key in `cnf`:
//!
//! - `mandate.checkout.open.1`: what the agent may put in a checkout (merchants, items);
//! - `mandate.payment.open.1`: what the agent may pay (amounts, payees, instruments, dates, …),
//!   bound to the checkout credential by `payment.reference`.
//!
//! The agent closes them by appending a `mandate.checkout.1` / `mandate.payment.1` hop signed by
//! its own key (Ed25519: [`crate::Ed25519Signer`]; verifiers accept it with
//! [`crate::VerifyOptions::allow_eddsa`]).
//!
//! # Shape
//!
//! Exactly the shape of the AP2 vectors and schemas: the JWT payload carries `delegate_payload`
//! (one element disclosure: the mandate object) and, beside it, `iss` (Purser's public URL),
//! `iat`, `exp`, `nbf` (when the mandate starts later than it is issued) and
//! [`MANDATE_ID_CLAIM`]. The mandate object is `{"vct", "constraints", "cnf": {"jwk"}, "iat",
//! "exp"}` (AP2 lists `iat`/`exp` in the mandate object; the chain verifier enforces the JWT's).
//!
//! # Selective disclosure
//!
//! Only the elements of **allow-lists** are selectively disclosable (`allowed` merchants, payees
//! and instruments, allowed line items), as AP2's schemas mark them
//! (`x-selectively-disclosable-array`): an agent may show a merchant only that merchant's entry,
//! and withholding an entry can only narrow what is allowed. Constraints themselves, limits and
//! block-lists are never disclosable: withholding one would loosen the mandate.
//!
//! Not in either credential at all: the person's own words and the conversation
//! ([`Mandate::provenance`]) and the mandate's `description`. Purser keeps them as evidence and
//! shows them at consent; a merchant or network needs neither to check a payment.
//!
//! # Mapping
//!
//! AP2 vocabulary where AP2 has a constraint with the same meaning; a `purser.`-prefixed type
//! where it has none. **Stateless** constraints can be checked offline from the closed mandate
//! (and, for categories and countries, the merchant facts a network knows). **Issuer-enforced**
//! ones need what only Purser knows (spending so far, payments so far, whether the person
//! confirmed): Purser enforces them at authorization, and an offline verifier can only accept
//! them on Purser's word.
//!
//! | Purser field | credential | constraint | kind |
//! |---|---|---|---|
//! | `what.merchants` (all with an `id`) | checkout | `checkout.allowed_merchants` `{allowed: [{id, name, website?}]}` | stateless |
//! | `what.merchants` (all with an `id`) | payment | `payment.allowed_payees` `{allowed: [{id, name, website?}]}` | stateless |
//! | `what.merchants` (some without `id`) | both | `purser.allowed_merchants` `{allowed: [{id?, name?, website?}]}`: by id when both sides have one, else website host (or a subdomain), else name | stateless |
//! | `what.line_items` | checkout | `purser.line_items` `{allowed: [{description, quantity, unit?}]}`: every cart item matches an allowed description, at most `quantity` | stateless |
//! | `what.line_items[].max_quantity` | checkout | `purser.line_item_lifetime` `{items: [{description, max_quantity}]}` | issuer-enforced |
//! | `what.allowed_categories` | payment | `purser.allowed_categories` `{allowed: [{label, mcc: ["5814"]}]}` | stateless |
//! | `what.blocked_categories` | payment | `purser.blocked_categories` `{blocked: [{label, mcc}]}` | stateless |
//! | `where.allowed_countries` | payment | `purser.allowed_countries` `{allowed: ["CN"]}` | stateless |
//! | `where.blocked_countries` | payment | `purser.blocked_countries` `{blocked: ["KP"]}` | stateless |
//! | `how_much.per_payment_max` (+ `per_payment_min`) | payment | `payment.amount_range` `{currency, max, min?}` (minor units) | stateless |
//! | `how_much.per_payment_min` alone | payment | `purser.amount_min` `{currency, min}` (AP2's range requires `max`) | stateless |
//! | `interval_limits` `per_payment` | payment | `payment.amount_range` `{currency, max}` | stateless |
//! | `how_much.budget`, `interval_limits` `all_time` | payment | `payment.budget` `{currency, max}` (**major** units, as AP2 defines it) | issuer-enforced |
//! | `interval_limits` daily/weekly/monthly/yearly | payment | `purser.interval_limit` `{interval, currency, max, timezone}` (minor units; calendar periods in `timezone`) | issuer-enforced |
//! | `how_much.max_payments`, `when.recurrence` | payment | `payment.agent_recurrence` `{frequency, max_occurrences?}` (fewest of the two counts) | issuer-enforced |
//! | `when.execution_window` | payment | `payment.execution_date` `{not_before, not_after}` (as written: a date or an RFC 3339 instant) | stateless |
//! | `when.valid_from` | both | JWT `nbf` | stateless (chain verifier) |
//! | `when.valid_until` | both | JWT `exp` (and the mandate's `exp`), capped by [`OpenContext::max_exp`] | stateless (chain verifier) |
//! | `when.timezone` | payment | the `timezone` of `purser.interval_limit` (else [`OpenContext::timezone`]) | — |
//! | `with_what.instruments` | payment | `payment.allowed_payment_instruments` `{allowed: [{id, type}]}`: a card is `{id: card_id, type: "card"}`, the agent's exclusive card `{id: "exclusive_card", type: "purser.exclusive_card"}` | stateless |
//! | `confirmation` | payment | `purser.confirmation` `{rules: [{type: "always_ask"} \| {type: "auto_at_or_below", currency, max}]}` (no rules: `always_ask`) | issuer-enforced |
//! | (the checkout credential) | payment | `payment.reference` `{conditional_transaction_id}`: SHA-256 of the issued open checkout presentation | stateless |
//! | `description`, `provenance` | — | not issued (kept by Purser as evidence) | — |
//! | `other` (constraints Purser does not know) | — | not issued: Purser refuses every payment under such a mandate | — |
//!
//! The lists of `purser.` types by kind are [`PURSER_STATELESS_TYPES`] and
//! [`PURSER_ISSUER_ENFORCED_TYPES`].
//!
//! `payment.budget.max` is a JSON number in the currency's major unit (AP2 defines it so; every
//! other amount is integer minor units). It is written from the exact decimal text of the amount
//! and issuing refuses an amount whose number would not read back to the same minor units
//! ([`minor_from_major`] reads it back with integer arithmetic).
//!
//! Date bounds (`2027-03-31`: the whole day in the mandate's zone) become `nbf`/`exp` with the
//! zone's UTC offset from [`OpenContext::utc_offset_secs`]; Purser re-checks the exact, zone-aware
//! bounds at authorization.

use purser_core::mandate::{
    ConfirmationRule, DateOrInstant, Frequency, Instrument, Interval, Mandate, MerchantRef,
};
use purser_core::Money;
use serde_json::{json, Map, Number, Value};

use crate::encoding::sd_digest;
use crate::error::Ap2Error;
use crate::issue::{conceal_elements, issue_root_nested, HopContent, JwsSigner, SALT_BYTES};
use crate::jwk::PublicJwk;

/// `vct` of the open checkout mandate.
pub const OPEN_CHECKOUT_VCT: &str = "mandate.checkout.open.1";
/// `vct` of the open payment mandate.
pub const OPEN_PAYMENT_VCT: &str = "mandate.payment.open.1";
/// JWT claim carrying Purser's mandate id (`mdt_…`), beside `iss`/`iat`/`exp`.
pub const MANDATE_ID_CLAIM: &str = "mandate_id";
/// Prefix of Purser's own constraint types.
pub const PURSER_NAMESPACE: &str = "purser.";

/// `purser.` constraint types an offline verifier can evaluate from the closed mandate (and the
/// merchant's category and country, where it knows them).
pub const PURSER_STATELESS_TYPES: [&str; 7] = [
    "purser.allowed_merchants",
    "purser.line_items",
    "purser.allowed_categories",
    "purser.blocked_categories",
    "purser.allowed_countries",
    "purser.blocked_countries",
    "purser.amount_min",
];

/// `purser.` constraint types only Purser can enforce (spending and payments so far, the
/// person's confirmation): enforced by Purser at authorization.
pub const PURSER_ISSUER_ENFORCED_TYPES: [&str; 3] = [
    "purser.line_item_lifetime",
    "purser.interval_limit",
    "purser.confirmation",
];

/// Longest credential lifetime a caller may ask for: a year. A mandate that runs longer is
/// re-issued; a signed credential that outlives key rotation by years would be hard to withdraw.
pub const MAX_CREDENTIAL_LIFETIME_SECS: i64 = 366 * 86_400;

/// What issuing needs besides the mandate.
#[derive(Clone, Debug)]
pub struct OpenContext {
    /// Purser's mandate id (`mdt_…`), issued as [`MANDATE_ID_CLAIM`].
    pub mandate_id: String,
    /// Purser's public URL (`iss`).
    pub issuer: String,
    /// The agent's public JWK for `cnf.jwk`: OKP Ed25519 (`{"kty":"OKP","crv":"Ed25519","x":…}`)
    /// or EC P-256. Private members are refused.
    pub agent_jwk: Value,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Latest `exp`, Unix seconds: used when the mandate has no end, and caps one that ends later.
    /// At most [`MAX_CREDENTIAL_LIFETIME_SECS`] after `iat`.
    pub max_exp: i64,
    /// IANA zone for calendar periods when the mandate names none (`when.timezone`).
    pub timezone: String,
    /// UTC offset, in seconds, of the mandate's zone around its validity bounds; turns date bounds
    /// into `nbf`/`exp`. The caller resolves it (this crate has no time-zone database).
    pub utc_offset_secs: i32,
}

/// One open mandate before signing: the mandate object, the JWT claims beside
/// `delegate_payload`, and which arrays have selectively disclosable elements.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenPayload {
    /// `{"vct", "constraints", "cnf", "iat", "exp"}`.
    pub mandate: Map<String, Value>,
    /// `iss`, `iat`, `exp`, `nbf`?, [`MANDATE_ID_CLAIM`].
    pub claims: Map<String, Value>,
    /// JSON pointers (into `mandate`) of arrays whose elements are issued as element disclosures,
    /// e.g. `/constraints/0/allowed`.
    pub disclosable_arrays: Vec<String>,
}

impl OpenPayload {
    /// The constraint objects, in order.
    pub fn constraints(&self) -> &[Value] {
        self.mandate
            .get("constraints")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The first constraint of type `kind`.
    pub fn constraint(&self, kind: &str) -> Option<&Value> {
        self.constraints()
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    }
}

/// Both open mandates of one Purser mandate. `payment` lacks `payment.reference` until the
/// checkout credential is signed ([`issue_open_mandates`] adds it).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenPayloads {
    pub checkout: OpenPayload,
    pub payment: OpenPayload,
}

/// The two signed root credentials, each `jwt~disclosure~…~`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCredentials {
    pub checkout: String,
    pub payment: String,
}

fn refuse(reason: impl Into<String>) -> Ap2Error {
    Ap2Error::IssueFailed {
        reason: reason.into(),
    }
}

/// `money` in the currency's major unit as a JSON number (`12345` USD → `123.45`, `500` JPY →
/// `500`, `1500` KWD → `1.5`), for `payment.budget.max`. Written from the exact decimal text;
/// refused if the number would not read back to the same minor units (more than 15 significant
/// digits).
pub fn major_number(money: Money) -> Result<Number, Ap2Error> {
    let decimal = money.decimal();
    // `1000.00` is written `1000`, `2000.50` `2000.5`: whole amounts stay JSON integers.
    let text = match decimal.contains('.') {
        true => decimal.trim_end_matches('0').trim_end_matches('.'),
        false => decimal.as_str(),
    };
    let number: Number = serde_json::from_str(text)
        .map_err(|_| refuse("an amount could not be written as a JSON number"))?;
    if minor_from_major(&number, money.currency.exponent()) != Some(money.minor) {
        return Err(refuse(format!(
            "{} has too many digits for AP2's major-unit budget",
            money.with_symbol()
        )));
    }
    Ok(number)
}

/// Reads a major-unit JSON number (as `payment.budget.max` carries) back into minor units of a
/// currency with `exponent` digits, with integer arithmetic on its decimal text. `None` for more
/// fraction digits than the currency has, exponent notation, or overflow.
pub fn minor_from_major(number: &Number, exponent: u8) -> Option<i64> {
    let text = number.to_string();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    let exp = usize::from(exponent);
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || frac.len() > exp {
        return None;
    }
    let mut minor: i64 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        minor = minor.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    for _ in frac.len()..exp {
        minor = minor.checked_mul(10)?;
    }
    Some(if negative {
        minor.checked_neg()?
    } else {
        minor
    })
}

/// Unix seconds of the first instant of a bound (`valid_from`): a date starts at local midnight.
fn start_secs(b: DateOrInstant, offset: i64) -> Option<i64> {
    match b {
        DateOrInstant::Instant(t) => Some(t.millis().div_euclid(1000)),
        DateOrInstant::Date(d) => d
            .days_since_epoch()
            .checked_mul(86_400)?
            .checked_sub(offset),
    }
}

/// Unix seconds of the last second of an inclusive bound (`valid_until`): a date runs to the
/// end of that local day.
fn end_secs(b: DateOrInstant, offset: i64) -> Option<i64> {
    match b {
        DateOrInstant::Instant(t) => Some(t.millis().div_euclid(1000)),
        DateOrInstant::Date(d) => d
            .days_since_epoch()
            .checked_add(1)?
            .checked_mul(86_400)?
            .checked_sub(offset)?
            .checked_sub(1),
    }
}

fn frequency_name(f: Frequency) -> &'static str {
    match f {
        Frequency::OnDemand => "ON_DEMAND",
        Frequency::Daily => "DAILY",
        Frequency::Weekly => "WEEKLY",
        Frequency::Monthly => "MONTHLY",
        Frequency::Annually => "ANNUALLY",
    }
}

fn ap2_merchant(m: &MerchantRef) -> Value {
    let mut o = Map::new();
    if let Some(id) = &m.id {
        o.insert("id".into(), json!(id));
    }
    o.insert("name".into(), json!(m.name.as_deref().unwrap_or(m.label())));
    if let Some(w) = &m.website {
        o.insert("website".into(), json!(w));
    }
    Value::Object(o)
}

fn json_err(_: serde_json::Error) -> Ap2Error {
    refuse("a mandate field could not be written as JSON")
}

/// Builds one credential's constraint list, remembering which arrays are element-disclosable.
#[derive(Default)]
struct Constraints {
    list: Vec<Value>,
    disclosable: Vec<String>,
}

impl Constraints {
    fn push(&mut self, c: Value) {
        self.list.push(c);
    }

    /// Pushes `c`, whose member `array` is an allow-list issued as element disclosures.
    fn push_disclosable(&mut self, c: Value, array: &str) {
        self.disclosable
            .push(format!("/constraints/{}/{array}", self.list.len()));
        self.list.push(c);
    }
}

/// The merchant allow-list, in AP2's vocabulary when every entry has an id (AP2 matches merchants
/// by id only), else in Purser's.
fn merchants(m: &Mandate, ap2_type: &str, c: &mut Constraints) -> Result<(), Ap2Error> {
    let list = &m.what.merchants;
    if list.is_empty() {
        return Ok(());
    }
    if list.iter().all(|r| r.id.is_some()) {
        let allowed: Vec<Value> = list.iter().map(ap2_merchant).collect();
        c.push_disclosable(json!({"type": ap2_type, "allowed": allowed}), "allowed");
    } else {
        let allowed = list
            .iter()
            .map(|r| serde_json::to_value(r).map_err(json_err))
            .collect::<Result<Vec<_>, _>>()?;
        c.push_disclosable(
            json!({"type": "purser.allowed_merchants", "allowed": allowed}),
            "allowed",
        );
    }
    Ok(())
}

fn checkout_constraints(m: &Mandate) -> Result<Constraints, Ap2Error> {
    let mut c = Constraints::default();
    merchants(m, "checkout.allowed_merchants", &mut c)?;
    let items = &m.what.line_items;
    if !items.is_empty() {
        let allowed: Vec<Value> = items
            .iter()
            .map(|i| {
                let mut o = json!({"description": i.description, "quantity": i.quantity});
                if let (Some(u), Some(obj)) = (&i.unit, o.as_object_mut()) {
                    obj.insert("unit".into(), json!(u));
                }
                o
            })
            .collect();
        c.push_disclosable(
            json!({"type": "purser.line_items", "allowed": allowed}),
            "allowed",
        );
    }
    let lifetime: Vec<Value> = items
        .iter()
        .filter_map(|i| {
            i.max_quantity
                .map(|q| json!({"description": i.description, "max_quantity": q}))
        })
        .collect();
    if !lifetime.is_empty() {
        c.push(json!({"type": "purser.line_item_lifetime", "items": lifetime}));
    }
    Ok(c)
}

fn budget(money: Money) -> Result<Value, Ap2Error> {
    Ok(
        json!({"type": "payment.budget", "currency": money.currency.code(),
        "max": major_number(money)?}),
    )
}

fn payment_constraints(m: &Mandate, timezone: &str) -> Result<Constraints, Ap2Error> {
    let mut c = Constraints::default();
    merchants(m, "payment.allowed_payees", &mut c)?;

    let h = &m.how_much;
    match (h.per_payment_min, h.per_payment_max) {
        (Some(min), Some(max)) if min.currency == max.currency => c.push(json!({
            "type": "payment.amount_range", "currency": max.currency.code(),
            "max": max.minor, "min": min.minor})),
        (min, max) => {
            if let Some(max) = max {
                c.push(json!({"type": "payment.amount_range",
                    "currency": max.currency.code(), "max": max.minor}));
            }
            if let Some(min) = min {
                c.push(json!({"type": "purser.amount_min",
                    "currency": min.currency.code(), "min": min.minor}));
            }
        }
    }
    if let Some(b) = h.budget {
        c.push(budget(b)?);
    }
    let zone = m.when.timezone.as_deref().unwrap_or(timezone);
    for limit in &h.interval_limits {
        let a = limit.amount;
        let interval = match limit.interval {
            Interval::PerPayment => {
                c.push(json!({"type": "payment.amount_range",
                    "currency": a.currency.code(), "max": a.minor}));
                continue;
            }
            Interval::AllTime => {
                c.push(budget(a)?);
                continue;
            }
            Interval::Daily => "daily",
            Interval::Weekly => "weekly",
            Interval::Monthly => "monthly",
            Interval::Yearly => "yearly",
        };
        c.push(
            json!({"type": "purser.interval_limit", "interval": interval,
            "currency": a.currency.code(), "max": a.minor, "timezone": zone}),
        );
    }

    let rec = m.when.recurrence;
    let count = [h.max_payments, rec.max_occurrences]
        .into_iter()
        .flatten()
        .min();
    if rec.frequency != Frequency::OnDemand || count.is_some() {
        let mut r = json!({"type": "payment.agent_recurrence",
            "frequency": frequency_name(rec.frequency)});
        if let (Some(n), Some(obj)) = (count, r.as_object_mut()) {
            obj.insert("max_occurrences".into(), json!(n));
        }
        c.push(r);
    }

    if let Some(w) = m.when.execution_window {
        c.push(json!({"type": "payment.execution_date",
            "not_before": w.start.to_string(), "not_after": w.end.to_string()}));
    }

    let instruments = &m.with_what.instruments;
    if !instruments.is_empty() {
        let allowed: Vec<Value> = instruments
            .iter()
            .map(|i| match i {
                Instrument::Card { card_id } => json!({"id": card_id, "type": "card"}),
                Instrument::ExclusiveCard => {
                    json!({"id": "exclusive_card", "type": "purser.exclusive_card"})
                }
            })
            .collect();
        c.push_disclosable(
            json!({"type": "payment.allowed_payment_instruments", "allowed": allowed}),
            "allowed",
        );
    }

    let w = &m.what;
    if !w.allowed_categories.is_empty() {
        c.push(json!({"type": "purser.allowed_categories",
            "allowed": serde_json::to_value(&w.allowed_categories).map_err(json_err)?}));
    }
    if !w.blocked_categories.is_empty() {
        c.push(json!({"type": "purser.blocked_categories",
            "blocked": serde_json::to_value(&w.blocked_categories).map_err(json_err)?}));
    }
    let wh = &m.where_;
    if !wh.allowed_countries.is_empty() {
        c.push(json!({"type": "purser.allowed_countries",
            "allowed": serde_json::to_value(&wh.allowed_countries).map_err(json_err)?}));
    }
    if !wh.blocked_countries.is_empty() {
        c.push(json!({"type": "purser.blocked_countries",
            "blocked": serde_json::to_value(&wh.blocked_countries).map_err(json_err)?}));
    }

    let rules: Vec<Value> = if m.confirmation.rules.is_empty() {
        vec![json!({"type": "always_ask"})]
    } else {
        m.confirmation
            .rules
            .iter()
            .map(|r| match r {
                ConfirmationRule::AlwaysAsk => json!({"type": "always_ask"}),
                ConfirmationRule::AutoAtOrBelow { amount } => json!({
                    "type": "auto_at_or_below", "currency": amount.currency.code(),
                    "max": amount.minor}),
            })
            .collect()
    };
    c.push(json!({"type": "purser.confirmation", "rules": rules}));
    Ok(c)
}

/// The two open mandates of `m`, unsigned: a pure mapping (see the module table). Refuses a
/// mandate with constraints Purser does not know, an agent key that is not a public EC P-256 or
/// OKP Ed25519 JWK, and validity that ends before `ctx.iat`.
pub fn open_mandate_payloads(m: &Mandate, ctx: &OpenContext) -> Result<OpenPayloads, Ap2Error> {
    if let Some(o) = m.other.first() {
        return Err(refuse(format!(
            "the mandate has a constraint Purser does not understand ({:?}), so no payment could \
             rely on it",
            o.kind.chars().take(64).collect::<String>()
        )));
    }
    PublicJwk::from_jwk(&ctx.agent_jwk).map_err(|r| refuse(format!("the agent key: {r}")))?;
    let lifetime = ctx.max_exp.checked_sub(ctx.iat).unwrap_or(i64::MAX);
    if !(1..=MAX_CREDENTIAL_LIFETIME_SECS).contains(&lifetime) {
        return Err(refuse(
            "the credential lifetime (max_exp - iat) must be between one second and a year",
        ));
    }
    let offset = i64::from(ctx.utc_offset_secs);
    let bad_date = || refuse("a date bound of the mandate is out of range");
    let exp = match m.when.valid_until {
        Some(b) => end_secs(b, offset).ok_or_else(bad_date)?.min(ctx.max_exp),
        None => ctx.max_exp,
    };
    if exp < ctx.iat {
        return Err(refuse("the mandate's validity ended before the issue time"));
    }
    let nbf = m
        .when
        .valid_from
        .map(|b| start_secs(b, offset).ok_or_else(bad_date))
        .transpose()?;

    let mut claims = Map::new();
    claims.insert("iss".into(), json!(ctx.issuer));
    claims.insert("iat".into(), json!(ctx.iat));
    claims.insert("exp".into(), json!(exp));
    if let Some(nbf) = nbf.filter(|n| *n > ctx.iat) {
        claims.insert("nbf".into(), json!(nbf));
    }
    claims.insert(MANDATE_ID_CLAIM.into(), json!(ctx.mandate_id));

    let payload = |vct: &str, c: Constraints| {
        let mut mandate = Map::new();
        mandate.insert("vct".into(), json!(vct));
        mandate.insert("constraints".into(), Value::Array(c.list));
        mandate.insert("cnf".into(), json!({"jwk": ctx.agent_jwk}));
        mandate.insert("iat".into(), json!(ctx.iat));
        mandate.insert("exp".into(), json!(exp));
        OpenPayload {
            mandate,
            claims: claims.clone(),
            disclosable_arrays: c.disclosable,
        }
    };
    Ok(OpenPayloads {
        checkout: payload(OPEN_CHECKOUT_VCT, checkout_constraints(m)?),
        payment: payload(OPEN_PAYMENT_VCT, payment_constraints(m, &ctx.timezone)?),
    })
}

/// Signs one open payload as a root credential, concealing its disclosable array elements.
fn issue_payload(
    signer: &dyn JwsSigner,
    p: &OpenPayload,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
) -> Result<String, Ap2Error> {
    let mut mandate = Value::Object(p.mandate.clone());
    let mut nested = Vec::new();
    for ptr in &p.disclosable_arrays {
        let slot = mandate
            .pointer_mut(ptr)
            .ok_or_else(|| refuse("a disclosable array is not in the mandate"))?;
        let Value::Array(items) = std::mem::take(slot) else {
            return Err(refuse("a disclosable member is not an array"));
        };
        *slot = Value::Array(conceal_elements(items, salt, &mut nested)?);
    }
    let Value::Object(mandate) = mandate else {
        return Err(refuse("the mandate is not an object"));
    };
    let content = HopContent {
        mandate,
        disclosable: Vec::new(),
        claims: p.claims.clone(),
    };
    issue_root_nested(signer, &content, nested, salt)
}

/// Issues both open mandates of `m`, signed by Purser's key: the checkout credential first, then
/// the payment credential with `payment.reference` set to the checkout credential's digest
/// (base64url SHA-256 of the whole presentation, as an `sd_hash` over it would be). Salts come
/// from `salt` ([`crate::random_salt`] in production).
pub fn issue_open_mandates(
    signer: &dyn JwsSigner,
    m: &Mandate,
    ctx: &OpenContext,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
) -> Result<OpenCredentials, Ap2Error> {
    let mut payloads = open_mandate_payloads(m, ctx)?;
    let checkout = issue_payload(signer, &payloads.checkout, salt)?;
    let reference = json!({"type": "payment.reference",
        "conditional_transaction_id": sd_digest(&checkout)});
    match payloads.payment.mandate.get_mut("constraints") {
        Some(Value::Array(list)) => list.push(reference),
        _ => return Err(refuse("the payment mandate has no constraint list")),
    }
    let payment = issue_payload(signer, &payloads.payment, salt)?;
    Ok(OpenCredentials { checkout, payment })
}
