//! AP2 v0.2 constraint evaluation: does a closed mandate (or the checkout it carries) stay within
//! every open mandate before it in the chain?
//!
//! Follows the AP2 agent-authorization processing rules: (2) every claim an open mandate fixes
//! must reach the closed mandate unchanged, and (3) every constraint of every open mandate is
//! evaluated, an unknown one counting as a failure. The ten types of AP2 v0.2 are
//! ([`CHECKOUT_CONSTRAINT_TYPES`], [`PAYMENT_CONSTRAINT_TYPES`]):
//!
//! | type | closed side it is checked against | passes when |
//! |---|---|---|
//! | `checkout.allowed_merchants` | checkout `merchant.id` | the id equals the `id` of a disclosed element of `allowed` |
//! | `checkout.line_items` | checkout `line_items[].item.id` / `quantity` | a maximum flow from requirements to cart items saturates both sides: every requirement gets exactly its `quantity`, every cart unit is covered, no unit counts twice |
//! | `payment.allowed_payees` | `payee.id` | as allowed merchants |
//! | `payment.allowed_payment_instruments` | `payment_instrument` | `id` equal (and `type`, where both name one) |
//! | `payment.allowed_pisps` | `pisp` | `domain_name`, `legal_name` and `brand_name` all equal |
//! | `payment.amount_range` | `payment_amount` | same currency, `min ≤ amount ≤ max` (minor units) |
//! | `payment.budget` | `payment_amount` + [`MandateUsage::spent`] | same currency, spent + amount ≤ `max` |
//! | `payment.agent_recurrence` | [`MandateUsage`] | occurrences so far + 1 ≤ `max_occurrences`, and a full `frequency` period since the last one |
//! | `payment.execution_date` | `execution_date` (absent: now) | `not_before ≤ date ≤ not_after` |
//! | `payment.reference` | the checkout chain | `conditional_transaction_id` is the hash of an open checkout mandate presented in the checkout chain |
//!
//! Money is integer minor units throughout ([`purser_core::Money`]) with the currency's ISO 4217
//! exponent (JPY 0, USD 2, KWD 3); sums are checked and overflow refuses.
//!
//! # Readings chosen where the specification leaves room (all fail closed)
//!
//! - **Unknown `type`** (including a checkout constraint in a payment mandate and vice versa):
//!   `unresolved_constraint`. Purser's namespace (`purser.*`) is known: its stateless types are
//!   evaluated, its issuer-enforced ones accepted only with
//!   [`crate::VerifyOptions::trust_issuer_enforced`] (see `purser_constraints.rs`); a
//!   `purser.line_items` counts as the required item list. A known type that is malformed (a missing `max`, a fractional
//!   minor-unit amount, an unknown currency) is `unverifiable_constraint`.
//! - **Withholding**: selective disclosure may hide elements of `allowed` lists and
//!   `acceptable_items` (the schema marks them disclosable; hiding one only narrows the choice).
//!   Anything else undisclosed inside `constraints` — a whole constraint, or a member such as
//!   `min` — could loosen a rule, so it makes the constraint unverifiable. An open mandate must
//!   show a `constraints` array.
//! - **Required constraints**: the schemas require (`contains`) a `checkout.line_items` in an
//!   open checkout mandate and a `payment.reference` in an open payment mandate; the chain must
//!   carry at least one (in any of its open mandates), or it is refused.
//! - **Identity** of merchants, payees and instruments is their `id` (non-empty); display
//!   fields (`name`, `website`) never match on their own (AP2 issue #315). An `allowed` list with
//!   no disclosed element allows nothing.
//! - **`payment.budget.max`** is a JSON number in the currency's *major* unit (the schema says so;
//!   `amount_range` uses minor units). It is converted exactly with the currency's exponent; a
//!   value with more decimals than the currency has is refused, never rounded.
//! - **Budget and recurrence** need history only the caller has: without a [`MandateUsage`] they
//!   are unverifiable. `agent_recurrence` also needs an `amount_range` and a `budget` in the same
//!   mandate (as the reference SDK requires). A period is a calendar step added to the last use:
//!   1 day, 7 days, 14 days, 1/3/12 months (clamped to the month's end); `ON_DEMAND` has none.
//! - **Execution date**: absent on the closed mandate means immediate execution, so the
//!   verifier's `now` is checked against the window. Dates compare as dates and instants as
//!   instants; when a date meets an instant the date is read in whichever zone (UTC−12 … UTC+14)
//!   is least favourable to the payment.
//! - **Pre-set claims**: every member of an open mandate other than `vct`, `constraints`, `cnf`,
//!   `iat`, `exp` and `nbf` must appear with an identical JSON value in the closed mandate. A
//!   pre-set claim the holder withheld cannot be compared; AP2 lets the agent present only the
//!   disclosures a verifier needs, so that is accepted.

use std::collections::BTreeMap;

use purser_core::mandate::DateOrInstant;
use purser_core::time::{civil_from_days, days_from_civil};
use purser_core::{Currency, Money, Timestamp};
use serde_json::{Map, Value};

use crate::chain::VerifiedChain;
use crate::error::Ap2Error;
use crate::limits::{
    MAX_CHECKOUT_LINE_ITEMS, MAX_CONSTRAINTS_PER_MANDATE, MAX_LINE_ITEM_REQUIREMENTS,
};
use crate::open::PURSER_NAMESPACE;
use crate::purser_constraints::{self, Closed};

/// Constraint types an open checkout mandate may carry.
pub const CHECKOUT_CONSTRAINT_TYPES: [&str; 2] =
    ["checkout.allowed_merchants", "checkout.line_items"];

/// Constraint types an open payment mandate may carry.
pub const PAYMENT_CONSTRAINT_TYPES: [&str; 8] = [
    "payment.agent_recurrence",
    "payment.allowed_payees",
    "payment.allowed_payment_instruments",
    "payment.allowed_pisps",
    "payment.amount_range",
    "payment.budget",
    "payment.execution_date",
    "payment.reference",
];

/// Members of an open mandate that are not pre-set values of the closed one.
const NOT_PRESET: [&str; 6] = ["vct", "constraints", "cnf", "iat", "exp", "nbf"];

const MS_PER_DAY: i64 = 86_400_000;
/// Furthest ahead of UTC any zone is (+14:00) and furthest behind (−12:00).
const MAX_AHEAD_MS: i64 = 14 * 3_600_000;
const MAX_BEHIND_MS: i64 = 12 * 3_600_000;

/// What the verifier knows of earlier payments under the open payment mandate, for
/// `payment.budget` and `payment.agent_recurrence`. Keeping it is the caller's job (the
/// library has no storage); AP2 says the amount is added after each approval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MandateUsage {
    /// Total of the closed payment mandates approved before under this open mandate; `None` when
    /// nothing has been spent yet.
    pub spent: Option<Money>,
    /// How many closed payment mandates were approved before.
    pub occurrences: u32,
    /// When the last one was approved.
    pub last_occurrence: Option<Timestamp>,
}

impl MandateUsage {
    /// An open mandate never used before.
    pub const UNUSED: MandateUsage = MandateUsage {
        spent: None,
        occurrences: 0,
        last_occurrence: None,
    };
}

/// Everything a payment constraint needs beyond the chain itself.
#[derive(Clone, Debug)]
pub struct PaymentContext {
    /// The verifier's clock (execution date, recurrence).
    pub now: Timestamp,
    /// Presentation digests of the open checkout mandates in the checkout chain this payment is
    /// for ([`VerifiedChain::presentation_digest`]); empty when the verifier has no checkout
    /// chain, which leaves `payment.reference` unverifiable.
    pub open_checkout_hashes: Vec<String>,
    /// History of the open payment mandate; `None` leaves `budget` / `agent_recurrence`
    /// unverifiable.
    pub usage: Option<MandateUsage>,
}

/// Checks the checkout object (the decoded payload of the closed mandate's `checkout_jwt`)
/// against every open checkout mandate of `chain`, and the closed mandate against their pre-set
/// claims. The chain must end in a closed `mandate.checkout.1`.
pub fn check_checkout_constraints(
    chain: &VerifiedChain,
    checkout: &Map<String, Value>,
) -> Result<(), Ap2Error> {
    let (closed, opens) = split(chain, "mandate.checkout.1")?;
    let mut has_line_items = false;
    for &(hop, open) in &opens {
        check_preset(hop, open, closed)?;
        for c in constraints_of(chain, hop, open)? {
            let (kind, c) = c?;
            match kind {
                "checkout.allowed_merchants" => allowed_merchants(hop, c, checkout)?,
                "checkout.line_items" => {
                    has_line_items = true;
                    line_items(hop, c, checkout)?;
                }
                other if other.starts_with(PURSER_NAMESPACE) => {
                    // Purser's item list restricts what may be bought as AP2's does.
                    has_line_items |= other == "purser.line_items";
                    purser_constraints::check(chain, hop, other, c, Closed::Checkout(checkout))?
                }
                other => {
                    return Err(Ap2Error::UnresolvedConstraint {
                        constraint_type: other.chars().take(64).collect(),
                    })
                }
            }
        }
    }
    if !has_line_items {
        return Err(Ap2Error::violated(
            0,
            "checkout.line_items",
            "no open checkout mandate in the chain carries one, and AP2 requires it so that the agent cannot buy just anything",
        ));
    }
    Ok(())
}

/// Checks the closed `mandate.payment.1` at the end of `chain` against every open payment
/// mandate before it: pre-set claims and all constraints.
pub fn check_payment_constraints(
    chain: &VerifiedChain,
    ctx: &PaymentContext,
) -> Result<(), Ap2Error> {
    let (closed, opens) = split(chain, "mandate.payment.1")?;
    let last = chain.hops().len().saturating_sub(1);
    let amount = closed_amount(closed, last)?;
    let mut has_reference = false;
    for &(hop, open) in &opens {
        check_preset(hop, open, closed)?;
        let list: Vec<(&str, &Map<String, Value>)> =
            constraints_of(chain, hop, open)?.collect::<Result<_, _>>()?;
        let has = |t: &str| list.iter().any(|(k, _)| *k == t);
        for &(kind, c) in &list {
            match kind {
                "payment.amount_range" => amount_range(hop, c, amount)?,
                "payment.budget" => budget(hop, c, amount, ctx.usage.as_ref())?,
                "payment.agent_recurrence" => {
                    if !(has("payment.amount_range") && has("payment.budget")) {
                        return Err(Ap2Error::unverifiable(
                            hop,
                            kind,
                            "it must come with a payment.amount_range and a payment.budget in the same mandate",
                        ));
                    }
                    recurrence(hop, c, ctx)?;
                }
                "payment.allowed_payees" => {
                    allowed_by_id(hop, kind, c, closed.get("payee"), "payee")?
                }
                "payment.allowed_payment_instruments" => instruments(hop, c, closed)?,
                "payment.allowed_pisps" => pisps(hop, c, closed)?,
                "payment.execution_date" => execution_date(hop, c, closed, ctx.now, last)?,
                "payment.reference" => {
                    has_reference = true;
                    reference(hop, c, ctx)?;
                }
                other if other.starts_with(PURSER_NAMESPACE) => {
                    purser_constraints::check(chain, hop, other, c, Closed::Payment(closed))?
                }
                other => {
                    return Err(Ap2Error::UnresolvedConstraint {
                        constraint_type: other.chars().take(64).collect(),
                    })
                }
            }
        }
    }
    if !has_reference {
        return Err(Ap2Error::violated(
            0,
            "payment.reference",
            "no open payment mandate in the chain carries one, and AP2 requires it so that the agent cannot pay for just any checkout",
        ));
    }
    Ok(())
}

type Opens<'c> = Vec<(usize, &'c Map<String, Value>)>;

/// The closed mandate (which must have `vct` `closed_vct`) and the open mandates before it.
fn split<'c>(
    chain: &'c VerifiedChain,
    closed_vct: &str,
) -> Result<(&'c Map<String, Value>, Opens<'c>), Ap2Error> {
    let hops = chain.hops();
    let last = hops.len().saturating_sub(1);
    let closed = hops
        .last()
        .and_then(Value::as_object)
        .filter(|m| m.get("vct").and_then(Value::as_str) == Some(closed_vct))
        .filter(|_| last > 0)
        .ok_or_else(|| Ap2Error::InvalidVct {
            hop: last,
            found: format!("expected a chain ending in {closed_vct}"),
        })?;
    let opens = hops[..last]
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.as_object()
                .map(|m| (i, m))
                .ok_or_else(|| Ap2Error::malformed(Some(i), "the mandate is not an object"))
        })
        .collect::<Result<_, _>>()?;
    Ok((closed, opens))
}

fn check_preset(
    hop: usize,
    open: &Map<String, Value>,
    closed: &Map<String, Value>,
) -> Result<(), Ap2Error> {
    for (name, value) in open {
        if NOT_PRESET.contains(&name.as_str()) {
            continue;
        }
        if closed.get(name) != Some(value) {
            return Err(Ap2Error::ClaimChanged {
                hop,
                claim: name.chars().take(64).collect(),
            });
        }
    }
    Ok(())
}

/// Whether an undisclosed digest at `pointer` (inside `/constraints`) only narrows a choice.
fn harmless_withholding(pointer: &str) -> bool {
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    let index = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match segs.as_slice() {
        ["constraints", i, "allowed"] => index(i),
        ["constraints", i, "items", j, "acceptable_items"] => index(i) && index(j),
        _ => false,
    }
}

type ConstraintItem<'c> = Result<(&'c str, &'c Map<String, Value>), Ap2Error>;

/// The constraints of one open mandate, each with its `type`; refuses withheld parts.
fn constraints_of<'c>(
    chain: &VerifiedChain,
    hop: usize,
    open: &'c Map<String, Value>,
) -> Result<impl Iterator<Item = ConstraintItem<'c>>, Ap2Error> {
    let Some(Value::Array(list)) = open.get("constraints") else {
        return Err(Ap2Error::unverifiable(
            hop,
            "constraints",
            "the open mandate shows no constraints array (it is required, and may not be withheld)",
        ));
    };
    if list.len() > MAX_CONSTRAINTS_PER_MANDATE {
        return Err(Ap2Error::unverifiable(
            hop,
            "constraints",
            format!(
                "the mandate has {} constraints; this verifier evaluates at most {MAX_CONSTRAINTS_PER_MANDATE}",
                list.len()
            ),
        ));
    }
    if let Some(ptr) = chain
        .withheld(hop)
        .iter()
        .find(|p| p.as_str() == "/constraints" || p.starts_with("/constraints/"))
        .filter(|p| !harmless_withholding(p))
    {
        let kind = ptr
            .split('/')
            .nth(2)
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| list.get(i))
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("constraints");
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            format!("part of it ({ptr}) was not disclosed, so it could be looser than signed"),
        ));
    }
    Ok(list.iter().map(move |c| {
        let obj = c.as_object().ok_or_else(|| {
            Ap2Error::unverifiable(hop, "constraints", "a constraint is not a JSON object")
        })?;
        let kind = obj.get("type").and_then(Value::as_str).ok_or_else(|| {
            Ap2Error::unverifiable(hop, "constraints", "a constraint has no string type")
        })?;
        Ok((kind, obj))
    }))
}

// ---- identities -----------------------------------------------------------------------------

fn id_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn allowed_list<'c>(
    hop: usize,
    kind: &str,
    c: &'c Map<String, Value>,
) -> Result<&'c Vec<Value>, Ap2Error> {
    match c.get("allowed") {
        Some(Value::Array(a)) => Ok(a),
        _ => Err(Ap2Error::unverifiable(hop, kind, "it has no allowed array")),
    }
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `subject` (a merchant or payee object) must have the non-empty `id` of an allowed element.
fn allowed_by_id(
    hop: usize,
    kind: &str,
    c: &Map<String, Value>,
    subject: Option<&Value>,
    what: &str,
) -> Result<(), Ap2Error> {
    let allowed = allowed_list(hop, kind, c)?;
    let Some(id) = id_of(subject) else {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!("the {what} has no id to compare with the allowed list"),
        ));
    };
    if allowed.is_empty() {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "no allowed {what} was disclosed, so {what} {:?} is not allowed",
                short(id)
            ),
        ));
    }
    if allowed.iter().any(|a| id_of(Some(a)) == Some(id)) {
        return Ok(());
    }
    let name = subject
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .map(|n| format!(" ({})", short(n)))
        .unwrap_or_default();
    Err(Ap2Error::violated(
        hop,
        kind,
        format!(
            "{what} {:?}{name} is not among the {} allowed",
            short(id),
            allowed.len()
        ),
    ))
}

fn allowed_merchants(
    hop: usize,
    c: &Map<String, Value>,
    checkout: &Map<String, Value>,
) -> Result<(), Ap2Error> {
    allowed_by_id(
        hop,
        "checkout.allowed_merchants",
        c,
        checkout.get("merchant"),
        "merchant",
    )
}

fn instruments(
    hop: usize,
    c: &Map<String, Value>,
    closed: &Map<String, Value>,
) -> Result<(), Ap2Error> {
    let kind = "payment.allowed_payment_instruments";
    let allowed = allowed_list(hop, kind, c)?;
    let pi = closed.get("payment_instrument");
    let Some(id) = id_of(pi) else {
        return Err(Ap2Error::violated(
            hop,
            kind,
            "the payment names no payment instrument id",
        ));
    };
    let typ = pi.and_then(|p| p.get("type"));
    let ok = allowed.iter().any(|a| {
        id_of(Some(a)) == Some(id)
            && match (a.get("type"), typ) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            }
    });
    if ok {
        Ok(())
    } else {
        Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "payment instrument {:?} is not among the {} allowed",
                short(id),
                allowed.len()
            ),
        ))
    }
}

fn pisps(hop: usize, c: &Map<String, Value>, closed: &Map<String, Value>) -> Result<(), Ap2Error> {
    let kind = "payment.allowed_pisps";
    let allowed = allowed_list(hop, kind, c)?;
    let Some(pisp) = closed.get("pisp").filter(|p| {
        p.get("domain_name")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty())
    }) else {
        return Err(Ap2Error::violated(
            hop,
            kind,
            "the payment names no payment initiation service provider (pisp with a domain_name)",
        ));
    };
    let fields = ["domain_name", "legal_name", "brand_name"];
    if allowed
        .iter()
        .any(|a| fields.iter().all(|f| a.get(*f) == pisp.get(*f)))
    {
        return Ok(());
    }
    let domain = pisp
        .get("domain_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(Ap2Error::violated(
        hop,
        kind,
        format!(
            "PISP {:?} is not among the {} allowed (domain, legal and brand names must all match)",
            short(domain),
            allowed.len()
        ),
    ))
}

// ---- money ----------------------------------------------------------------------------------

fn currency(hop: usize, kind: &str, c: &Map<String, Value>) -> Result<Currency, Ap2Error> {
    let code = c
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| Ap2Error::unverifiable(hop, kind, "it names no currency"))?;
    Currency::from_code(code).ok_or_else(|| {
        Ap2Error::unverifiable(
            hop,
            kind,
            format!(
                "its currency {:?} is not one this verifier knows the minor unit of",
                short(code)
            ),
        )
    })
}

/// The closed payment mandate's `payment_amount` as money.
fn closed_amount(closed: &Map<String, Value>, hop: usize) -> Result<Money, Ap2Error> {
    let bad = |r: &str| Ap2Error::malformed(Some(hop), r);
    let pa = closed
        .get("payment_amount")
        .ok_or_else(|| bad("the payment mandate has no payment_amount"))?;
    let minor = pa
        .get("amount")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("payment_amount.amount is not an integer of minor units"))?;
    if minor < 0 {
        return Err(bad("payment_amount.amount is negative"));
    }
    let code = pa
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("payment_amount has no currency"))?;
    let currency = Currency::from_code(code)
        .ok_or_else(|| bad("payment_amount's currency is not one this verifier knows"))?;
    Ok(Money::new(minor, currency))
}

fn minor_field(
    hop: usize,
    kind: &str,
    c: &Map<String, Value>,
    name: &str,
) -> Result<Option<i64>, Ap2Error> {
    match c.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            Ap2Error::unverifiable(
                hop,
                kind,
                format!("{name} is not a whole, non-negative number of minor units"),
            )
        }),
    }
}

fn amount_range(hop: usize, c: &Map<String, Value>, amount: Money) -> Result<(), Ap2Error> {
    let kind = "payment.amount_range";
    let cur = currency(hop, kind, c)?;
    let max = minor_field(hop, kind, c, "max")?
        .ok_or_else(|| Ap2Error::unverifiable(hop, kind, "it has no max"))?;
    let min = minor_field(hop, kind, c, "min")?;
    if amount.currency != cur {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "the mandate allows payments in {}; this payment is in {}",
                cur.code(),
                amount.currency.code()
            ),
        ));
    }
    if amount.minor > max {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "the mandate allows at most {} per payment; this payment is {}",
                Money::new(max, cur).with_symbol(),
                amount.with_symbol()
            ),
        ));
    }
    if let Some(min) = min.filter(|m| amount.minor < *m) {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "the mandate requires at least {} per payment; this payment is {}",
                Money::new(min, cur).with_symbol(),
                amount.with_symbol()
            ),
        ));
    }
    Ok(())
}

/// Converts a JSON number in the currency's major unit to minor units, exactly: `12.5` USD is
/// 1250, `1000` JPY is 1000, `1.25` KWD is 1250; `0.001` USD or `1.5` JPY are refused.
pub(crate) fn major_to_minor(n: &serde_json::Number, currency: Currency) -> Option<i64> {
    let text = n.to_string();
    let (mantissa, exp10) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text.as_str(), 0),
    };
    if mantissa.starts_with('-') {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // value = digits × 10^(exp10 − frac.len()); minor = value × 10^exponent.
    let shift = exp10
        .checked_sub(i32::try_from(frac.len()).ok()?)?
        .checked_add(i32::from(currency.exponent()))?;
    let mut value: i128 = digits.parse().ok()?;
    if shift >= 0 {
        for _ in 0..shift {
            value = value.checked_mul(10)?;
            if value > i128::from(i64::MAX) {
                return None;
            }
        }
    } else {
        for _ in 0..shift.unsigned_abs() {
            if value % 10 != 0 {
                return None;
            }
            value /= 10;
        }
    }
    i64::try_from(value).ok()
}

fn budget(
    hop: usize,
    c: &Map<String, Value>,
    amount: Money,
    usage: Option<&MandateUsage>,
) -> Result<(), Ap2Error> {
    let kind = "payment.budget";
    let cur = currency(hop, kind, c)?;
    let max = match c.get("max") {
        Some(Value::Number(n)) => major_to_minor(n, cur).ok_or_else(|| {
            Ap2Error::unverifiable(
                hop,
                kind,
                format!(
                    "max {n} is not a non-negative amount of {} with at most {} decimal place(s)",
                    cur.code(),
                    cur.exponent()
                ),
            )
        })?,
        _ => return Err(Ap2Error::unverifiable(hop, kind, "it has no numeric max")),
    };
    let Some(usage) = usage else {
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            "it needs the total already spent under this mandate, which the verifier did not supply",
        ));
    };
    if amount.currency != cur {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "the budget is in {}; this payment is in {}",
                cur.code(),
                amount.currency.code()
            ),
        ));
    }
    let spent = usage.spent.unwrap_or(Money::zero(cur));
    if spent.currency != cur {
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            format!(
                "the recorded spending is in {}, the budget in {}",
                spent.currency.code(),
                cur.code()
            ),
        ));
    }
    let total = spent
        .checked_add(amount)
        .map_err(|_| Ap2Error::violated(hop, kind, "the total spent would overflow"))?;
    if total.minor > max {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!(
                "the budget is {} and {} is already spent; this payment of {} would bring it to {}",
                Money::new(max, cur).with_symbol(),
                spent.with_symbol(),
                amount.with_symbol(),
                total.with_symbol()
            ),
        ));
    }
    Ok(())
}

// ---- time -----------------------------------------------------------------------------------

fn days_in_month(y: i64, m: u8) -> u8 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 31,
    }
}

/// `t` plus `months` calendar months (UTC), the day clamped to the target month's length.
fn add_months(t: Timestamp, months: i64) -> Option<Timestamp> {
    let days = t.0.div_euclid(MS_PER_DAY);
    let rem = t.0.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let index = y
        .checked_mul(12)?
        .checked_add(i64::from(m) - 1)?
        .checked_add(months)?;
    let (ny, nm) = (
        index.div_euclid(12),
        u8::try_from(index.rem_euclid(12) + 1).ok()?,
    );
    let nd = d.min(days_in_month(ny, nm));
    let days = days_from_civil(i32::try_from(ny).ok()?, nm, nd);
    days.checked_mul(MS_PER_DAY)?
        .checked_add(rem)
        .map(Timestamp)
}

fn recurrence(hop: usize, c: &Map<String, Value>, ctx: &PaymentContext) -> Result<(), Ap2Error> {
    let kind = "payment.agent_recurrence";
    let frequency = c
        .get("frequency")
        .and_then(Value::as_str)
        .ok_or_else(|| Ap2Error::unverifiable(hop, kind, "it has no frequency"))?;
    let next = |last: Timestamp| -> Option<Option<Timestamp>> {
        let days = |n: i64| last.checked_add_ms(n * MS_PER_DAY).map(Some);
        match frequency {
            "ON_DEMAND" => Some(None),
            "DAILY" => days(1),
            "WEEKLY" => days(7),
            "BIWEEKLY" => days(14),
            "MONTHLY" => add_months(last, 1).map(Some),
            "QUARTERLY" => add_months(last, 3).map(Some),
            "ANNUALLY" => add_months(last, 12).map(Some),
            _ => None,
        }
    };
    // Validate the frequency even before first use.
    if next(Timestamp(0)).is_none() {
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            format!("frequency {:?} is not an AP2 frequency", short(frequency)),
        ));
    }
    let max = match c.get("max_occurrences") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            Ap2Error::unverifiable(hop, kind, "max_occurrences is not a whole number")
        })?),
    };
    let Some(usage) = ctx.usage else {
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            "it needs the earlier uses of this mandate, which the verifier did not supply",
        ));
    };
    if let Some(max) = max {
        if u64::from(usage.occurrences).saturating_add(1) > max {
            return Err(Ap2Error::violated(
                hop,
                kind,
                format!(
                    "the mandate may be used {max} time(s) and has been used {}",
                    usage.occurrences
                ),
            ));
        }
    }
    if let Some(last) = usage.last_occurrence {
        let Some(next) = next(last) else {
            return Err(Ap2Error::unverifiable(
                hop,
                kind,
                "the next period cannot be computed",
            ));
        };
        if let Some(next) = next.filter(|n| ctx.now.0 < n.0) {
            return Err(Ap2Error::violated(
                hop,
                kind,
                format!(
                    "the mandate recurs {frequency} and was last used at {}; the next use is allowed from {}",
                    last.to_rfc3339(),
                    next.to_rfc3339()
                ),
            ));
        }
    }
    Ok(())
}

/// Earliest and latest instant a bound may denote, read as a start (`as_end` false) or as an
/// inclusive end of day (`as_end` true), in the least favourable zone for the payment.
fn start_latest(b: DateOrInstant) -> i64 {
    match b {
        DateOrInstant::Date(d) => d.start_utc().0.saturating_add(MAX_BEHIND_MS),
        DateOrInstant::Instant(t) => t.0,
    }
}

fn end_earliest(b: DateOrInstant) -> i64 {
    match b {
        DateOrInstant::Date(d) => d
            .start_utc()
            .0
            .saturating_add(MS_PER_DAY - MAX_AHEAD_MS - 1),
        DateOrInstant::Instant(t) => t.0,
    }
}

fn exec_earliest(e: DateOrInstant) -> i64 {
    match e {
        DateOrInstant::Date(d) => d.start_utc().0.saturating_sub(MAX_AHEAD_MS),
        DateOrInstant::Instant(t) => t.0,
    }
}

fn exec_latest(e: DateOrInstant) -> i64 {
    match e {
        DateOrInstant::Date(d) => d
            .start_utc()
            .0
            .saturating_add(MS_PER_DAY + MAX_BEHIND_MS - 1),
        DateOrInstant::Instant(t) => t.0,
    }
}

fn not_before(e: DateOrInstant, b: DateOrInstant) -> bool {
    match (e, b) {
        (DateOrInstant::Date(x), DateOrInstant::Date(y)) => x >= y,
        (DateOrInstant::Instant(x), DateOrInstant::Instant(y)) => x.0 >= y.0,
        _ => exec_earliest(e) >= start_latest(b),
    }
}

fn not_after(e: DateOrInstant, b: DateOrInstant) -> bool {
    match (e, b) {
        (DateOrInstant::Date(x), DateOrInstant::Date(y)) => x <= y,
        (DateOrInstant::Instant(x), DateOrInstant::Instant(y)) => x.0 <= y.0,
        _ => exec_latest(e) <= end_earliest(b),
    }
}

fn execution_date(
    hop: usize,
    c: &Map<String, Value>,
    closed: &Map<String, Value>,
    now: Timestamp,
    closed_hop: usize,
) -> Result<(), Ap2Error> {
    let kind = "payment.execution_date";
    let bound = |name: &str| -> Result<Option<DateOrInstant>, Ap2Error> {
        match c.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(DateOrInstant::parse)
                .map(Some)
                .ok_or_else(|| {
                    Ap2Error::unverifiable(
                        hop,
                        kind,
                        format!("{name} is not a date (YYYY-MM-DD) or an RFC 3339 time"),
                    )
                }),
        }
    };
    let (lo, hi) = (bound("not_before")?, bound("not_after")?);
    let (exec, described) = match closed.get("execution_date") {
        None => (
            DateOrInstant::Instant(now),
            format!("immediate execution ({})", now.to_rfc3339()),
        ),
        Some(v) => {
            let d = v.as_str().and_then(DateOrInstant::parse).ok_or_else(|| {
                Ap2Error::malformed(
                    Some(closed_hop),
                    "execution_date is not a date (YYYY-MM-DD) or an RFC 3339 time",
                )
            })?;
            (d, format!("execution on {d}"))
        }
    };
    if let Some(lo) = lo.filter(|lo| !not_before(exec, *lo)) {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!("the payment may not execute before {lo}; this is {described}"),
        ));
    }
    if let Some(hi) = hi.filter(|hi| !not_after(exec, *hi)) {
        return Err(Ap2Error::violated(
            hop,
            kind,
            format!("the payment may not execute after {hi}; this is {described}"),
        ));
    }
    Ok(())
}

fn reference(hop: usize, c: &Map<String, Value>, ctx: &PaymentContext) -> Result<(), Ap2Error> {
    let kind = "payment.reference";
    let id = c
        .get("conditional_transaction_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Ap2Error::unverifiable(hop, kind, "it has no conditional_transaction_id"))?;
    if ctx.open_checkout_hashes.is_empty() {
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            "it needs the checkout chain this payment is for, which the verifier did not supply",
        ));
    }
    if ctx.open_checkout_hashes.iter().any(|h| h == id) {
        Ok(())
    } else {
        Err(Ap2Error::ReferenceMismatch { hop })
    }
}

// ---- line items -----------------------------------------------------------------------------

struct Requirement<'c> {
    id: &'c str,
    quantity: u64,
    acceptable: Vec<&'c str>,
}

fn requirements<'c>(
    hop: usize,
    c: &'c Map<String, Value>,
) -> Result<Vec<Requirement<'c>>, Ap2Error> {
    let kind = "checkout.line_items";
    let bad = |r: String| Ap2Error::unverifiable(hop, kind, r);
    let Some(Value::Array(items)) = c.get("items") else {
        return Err(bad("it has no items array".into()));
    };
    if items.is_empty() {
        return Err(bad("its items array is empty".into()));
    }
    if items.len() > MAX_LINE_ITEM_REQUIREMENTS {
        return Err(bad(format!(
            "it has {} requirements; this verifier evaluates at most {MAX_LINE_ITEM_REQUIREMENTS}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("requirement {i} has no id")))?;
            let quantity = r
                .get("quantity")
                .and_then(Value::as_u64)
                .filter(|q| *q > 0)
                .ok_or_else(|| {
                    bad(format!(
                        "requirement {:?} has no whole quantity above zero",
                        short(id)
                    ))
                })?;
            let Some(Value::Array(acc)) = r.get("acceptable_items") else {
                return Err(bad(format!(
                    "requirement {:?} has no acceptable_items array",
                    short(id)
                )));
            };
            let acceptable = acc
                .iter()
                .map(|a| {
                    id_of(Some(a)).ok_or_else(|| {
                        bad(format!(
                            "an acceptable item of requirement {:?} has no id",
                            short(id)
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Requirement {
                id,
                quantity,
                acceptable,
            })
        })
        .collect()
}

/// Cart item id → total quantity, in id order.
fn cart(hop: usize, checkout: &Map<String, Value>) -> Result<BTreeMap<&str, u64>, Ap2Error> {
    let kind = "checkout.line_items";
    let Some(Value::Array(lines)) = checkout.get("line_items") else {
        return Err(Ap2Error::violated(
            hop,
            kind,
            "the checkout has no line_items",
        ));
    };
    if lines.is_empty() {
        return Err(Ap2Error::violated(hop, kind, "the cart is empty"));
    }
    if lines.len() > MAX_CHECKOUT_LINE_ITEMS {
        return Err(Ap2Error::unverifiable(
            hop,
            kind,
            format!(
                "the checkout has {} line items; this verifier evaluates at most {MAX_CHECKOUT_LINE_ITEMS}",
                lines.len()
            ),
        ));
    }
    let mut out: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let id = id_of(line.get("item")).ok_or_else(|| {
            Ap2Error::violated(hop, kind, format!("checkout line {i} has no item.id"))
        })?;
        let q = line
            .get("quantity")
            .and_then(Value::as_u64)
            .filter(|q| *q > 0)
            .ok_or_else(|| {
                Ap2Error::violated(
                    hop,
                    kind,
                    format!("checkout line {i} has no whole quantity above zero"),
                )
            })?;
        let slot = out.entry(id).or_insert(0);
        *slot = slot
            .checked_add(q)
            .ok_or_else(|| Ap2Error::violated(hop, kind, "a quantity in the cart overflows"))?;
    }
    Ok(out)
}

fn line_items(
    hop: usize,
    c: &Map<String, Value>,
    checkout: &Map<String, Value>,
) -> Result<(), Ap2Error> {
    let kind = "checkout.line_items";
    let reqs = requirements(hop, c)?;
    let cart = cart(hop, checkout)?;
    let overflow = || Ap2Error::unverifiable(hop, kind, "the quantities overflow");
    let need = reqs
        .iter()
        .try_fold(0u64, |acc, r| acc.checked_add(r.quantity))
        .ok_or_else(overflow)?;
    let have = cart
        .values()
        .try_fold(0u64, |acc, q| acc.checked_add(*q))
        .ok_or_else(overflow)?;

    // Nodes: 0 source, 1 sink, 2.. requirements, then one per cart item id.
    let items: Vec<(&str, u64)> = cart.iter().map(|(k, v)| (*k, *v)).collect();
    let mut g = FlowGraph::new(2 + reqs.len() + items.len());
    let req_edges: Vec<usize> = reqs
        .iter()
        .enumerate()
        .map(|(i, r)| g.edge(0, 2 + i, r.quantity))
        .collect();
    let item_edges: Vec<usize> = items
        .iter()
        .enumerate()
        .map(|(j, (_, q))| g.edge(2 + reqs.len() + j, 1, *q))
        .collect();
    for (i, r) in reqs.iter().enumerate() {
        for (j, (id, _)) in items.iter().enumerate() {
            if r.acceptable.contains(id) {
                g.edge(2 + i, 2 + reqs.len() + j, need);
            }
        }
    }
    let flow = g.max_flow(0, 1);
    if flow == need && flow == have {
        return Ok(());
    }
    for (r, e) in reqs.iter().zip(&req_edges) {
        let got = g.flow_on(*e);
        if got < r.quantity {
            return Err(Ap2Error::violated(
                hop,
                kind,
                format!(
                    "requirement {:?} needs exactly {} matching item(s) and the cart supplies {got}",
                    short(r.id),
                    r.quantity
                ),
            ));
        }
    }
    for ((id, q), e) in items.iter().zip(&item_edges) {
        let used = g.flow_on(*e);
        if used < *q {
            return Err(Ap2Error::violated(
                hop,
                kind,
                format!(
                    "the cart has {q} × {:?} and the mandate's line items cover {used} of them",
                    short(id)
                ),
            ));
        }
    }
    Err(Ap2Error::violated(
        hop,
        kind,
        "the cart does not match the mandate's line items",
    ))
}

/// A small Dinic max-flow over `u64` capacities (bounded sizes, see [`crate::limits`]).
struct FlowGraph {
    /// (to, capacity left, index of the reverse edge)
    edges: Vec<(usize, u64, usize)>,
    original: Vec<u64>,
    adj: Vec<Vec<usize>>,
}

impl FlowGraph {
    fn new(nodes: usize) -> FlowGraph {
        FlowGraph {
            edges: Vec::new(),
            original: Vec::new(),
            adj: vec![Vec::new(); nodes],
        }
    }

    /// Adds `from → to` with `cap`; returns the edge index.
    fn edge(&mut self, from: usize, to: usize, cap: u64) -> usize {
        let e = self.edges.len();
        self.edges.push((to, cap, e + 1));
        self.original.push(cap);
        self.edges.push((from, 0, e));
        self.original.push(0);
        if let Some(a) = self.adj.get_mut(from) {
            a.push(e);
        }
        if let Some(a) = self.adj.get_mut(to) {
            a.push(e + 1);
        }
        e
    }

    fn flow_on(&self, e: usize) -> u64 {
        match (self.original.get(e), self.edges.get(e)) {
            (Some(o), Some((_, left, _))) => o.saturating_sub(*left),
            _ => 0,
        }
    }

    fn levels(&self, s: usize, t: usize) -> Option<Vec<usize>> {
        let mut level = vec![usize::MAX; self.adj.len()];
        let mut queue = std::collections::VecDeque::new();
        *level.get_mut(s)? = 0;
        queue.push_back(s);
        while let Some(v) = queue.pop_front() {
            for &e in self.adj.get(v)? {
                let (to, cap, _) = *self.edges.get(e)?;
                if cap > 0 && level.get(to) == Some(&usize::MAX) {
                    *level.get_mut(to)? = level.get(v)? + 1;
                    queue.push_back(to);
                }
            }
        }
        (level.get(t) != Some(&usize::MAX)).then_some(level)
    }

    fn push(&mut self, v: usize, t: usize, f: u64, level: &[usize], next: &mut [usize]) -> u64 {
        if v == t {
            return f;
        }
        while let Some(&e) = next.get(v).and_then(|i| self.adj.get(v)?.get(*i)) {
            let Some(&(to, cap, rev)) = self.edges.get(e) else {
                return 0;
            };
            if cap > 0 && level.get(to).copied() == level.get(v).map(|l| l + 1) {
                let pushed = self.push(to, t, f.min(cap), level, next);
                if pushed > 0 {
                    if let Some(edge) = self.edges.get_mut(e) {
                        edge.1 -= pushed;
                    }
                    if let Some(back) = self.edges.get_mut(rev) {
                        back.1 = back.1.saturating_add(pushed);
                    }
                    return pushed;
                }
            }
            if let Some(i) = next.get_mut(v) {
                *i += 1;
            }
        }
        0
    }

    fn max_flow(&mut self, s: usize, t: usize) -> u64 {
        let mut total = 0u64;
        while let Some(level) = self.levels(s, t) {
            let mut next = vec![0usize; self.adj.len()];
            loop {
                let f = self.push(s, t, u64::MAX, &level, &mut next);
                if f == 0 {
                    break;
                }
                total = total.saturating_add(f);
            }
        }
        total
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn major_units_convert_exactly_for_every_exponent() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(major_to_minor(&n("12.5"), Currency::USD), Some(1250));
        assert_eq!(major_to_minor(&n("1000.0"), Currency::JPY), Some(1000));
        assert_eq!(major_to_minor(&n("1000"), Currency::JPY), Some(1000));
        assert_eq!(major_to_minor(&n("1.5"), Currency::JPY), None);
        assert_eq!(major_to_minor(&n("1.25"), Currency::KWD), Some(1250));
        assert_eq!(major_to_minor(&n("0.001"), Currency::KWD), Some(1));
        assert_eq!(major_to_minor(&n("0.001"), Currency::USD), None);
        assert_eq!(major_to_minor(&n("1e3"), Currency::USD), Some(100_000));
        assert_eq!(major_to_minor(&n("-1"), Currency::USD), None);
        assert_eq!(major_to_minor(&n("1e30"), Currency::USD), None);
    }

    #[test]
    fn months_are_added_on_the_calendar() {
        let jan31 = Timestamp(days_from_civil(2027, 1, 31) * MS_PER_DAY + 36_000_000);
        assert_eq!(jan31.to_rfc3339(), "2027-01-31T10:00:00.000Z");
        let at = |months| add_months(jan31, months).unwrap().to_rfc3339();
        assert_eq!(at(1), "2027-02-28T10:00:00.000Z");
        assert_eq!(at(3), "2027-04-30T10:00:00.000Z");
        assert_eq!(at(13), "2028-02-29T10:00:00.000Z");
    }

    #[test]
    fn flow_matches_choices_without_double_counting() {
        let mut g = FlowGraph::new(6);
        g.edge(0, 2, 1);
        g.edge(0, 3, 1);
        g.edge(2, 4, 2);
        g.edge(3, 4, 2);
        g.edge(3, 5, 2);
        g.edge(4, 1, 1);
        g.edge(5, 1, 1);
        assert_eq!(g.max_flow(0, 1), 2);
    }
}
