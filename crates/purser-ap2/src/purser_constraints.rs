//! Purser's constraint namespace (`purser.*`, issued by [`crate::issue_open_mandates`]) at a
//! verifier: the stateless types are evaluated, the issuer-enforced ones are accepted only on the
//! issuer's word, when the caller opted in.
//!
//! - **Stateless** ([`crate::PURSER_STATELESS_TYPES`]): read back into Purser's mandate model
//!   and decided by [`purser_core::mandate::Mandate::evaluate`], the one function that evaluates
//!   Purser's constraints, so a verifier and Purser can never disagree on a rule. The payment
//!   side is the closed mandate's `payee` and `payment_amount`; the checkout side is the
//!   checkout's `merchant` and `line_items` (`item.id`, `item.title`, `quantity`). Categories and
//!   countries need the merchant's MCC and country, which a closed AP2 mandate does not carry:
//!   they refuse (`constraint_violated`, the merchant does not say) — fail closed.
//! - **Issuer-enforced** ([`crate::PURSER_ISSUER_ENFORCED_TYPES`]: interval limits, lifetime
//!   item quantities, the confirmation policy) depend on what only Purser knows. They are
//!   `unverifiable_constraint` unless the verifier called
//!   [`crate::VerifyOptions::trust_issuer_enforced`] with the `iss` of the chain's root, saying
//!   "the issuer enforces these at authorization, and I rely on that" — and only in the root,
//!   the one mandate the issuer signed.
//! - Any other `purser.` type: `unresolved_constraint`, like every unknown type.

use purser_core::mandate::{
    At, CartItem, Category, CountryCode, LineItem, Mandate, MerchantFacts, MerchantRef,
    PaymentRequest, Spent,
};
use purser_core::{Currency, Money, Timestamp};
use serde_json::{Map, Value};

use crate::chain::VerifiedChain;
use crate::error::Ap2Error;
use crate::open::{PURSER_ISSUER_ENFORCED_TYPES, PURSER_STATELESS_TYPES};

/// What the constraint is checked against.
pub(crate) enum Closed<'a> {
    /// The decoded checkout object of a closed checkout mandate.
    Checkout(&'a Map<String, Value>),
    /// The closed `mandate.payment.1`.
    Payment(&'a Map<String, Value>),
}

/// Checks one `purser.*` constraint of the open mandate at `hop`.
pub(crate) fn check(
    chain: &VerifiedChain,
    hop: usize,
    kind: &str,
    c: &Map<String, Value>,
    closed: Closed<'_>,
) -> Result<(), Ap2Error> {
    if PURSER_ISSUER_ENFORCED_TYPES.contains(&kind) {
        let iss = chain
            .claims()
            .first()
            .and_then(|c| c.get("iss"))
            .and_then(Value::as_str);
        // Only the root is signed by the issuer: an issuer-enforced constraint a later holder
        // wrote is one the issuer never saw, so nobody enforces it.
        return match (chain.trusted_issuer(), iss) {
            (Some(trusted), Some(iss)) if trusted == iss && hop == 0 => Ok(()),
            _ => Err(Ap2Error::unverifiable(
                hop,
                kind,
                "only the issuer knows the spending, payments and confirmations it depends on; \
                 accept it with VerifyOptions::trust_issuer_enforced(<the root's iss>)",
            )),
        };
    }
    if !PURSER_STATELESS_TYPES.contains(&kind) {
        return Err(Ap2Error::UnresolvedConstraint {
            constraint_type: kind.chars().take(64).collect(),
        });
    }
    let bad = |what: &str| Ap2Error::unverifiable(hop, kind, format!("its {what} is malformed"));
    let member = |name: &str| c.get(name).cloned().unwrap_or(Value::Null);
    let mut m = Mandate::default();
    match kind {
        "purser.allowed_merchants" => {
            m.what.merchants = serde_json::from_value::<Vec<MerchantRef>>(member("allowed"))
                .map_err(|_| bad("allowed list"))?;
            if m.what.merchants.is_empty() {
                return Err(Ap2Error::violated(
                    hop,
                    kind,
                    "no allowed merchant is disclosed",
                ));
            }
        }
        "purser.line_items" => {
            m.what.line_items = serde_json::from_value::<Vec<LineItem>>(member("allowed"))
                .map_err(|_| bad("allowed list"))?;
            if m.what.line_items.is_empty() {
                return Err(Ap2Error::violated(
                    hop,
                    kind,
                    "no allowed item is disclosed",
                ));
            }
        }
        "purser.allowed_categories" => {
            m.what.allowed_categories = serde_json::from_value::<Vec<Category>>(member("allowed"))
                .map_err(|_| bad("allowed list"))?;
        }
        "purser.blocked_categories" => {
            m.what.blocked_categories = serde_json::from_value::<Vec<Category>>(member("blocked"))
                .map_err(|_| bad("blocked list"))?;
        }
        "purser.allowed_countries" => {
            m.where_.allowed_countries =
                serde_json::from_value::<Vec<CountryCode>>(member("allowed"))
                    .map_err(|_| bad("allowed list"))?;
        }
        "purser.blocked_countries" => {
            m.where_.blocked_countries =
                serde_json::from_value::<Vec<CountryCode>>(member("blocked"))
                    .map_err(|_| bad("blocked list"))?;
        }
        _ => {
            // purser.amount_min
            let currency = c
                .get("currency")
                .and_then(Value::as_str)
                .and_then(Currency::from_code)
                .ok_or_else(|| bad("currency"))?;
            let min = c
                .get("min")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("min"))?;
            m.how_much.per_payment_min = Some(Money::new(min, currency));
        }
    }
    let req = request(&closed, hop)?;
    let e = m.evaluate(&req, At::utc(Timestamp(0)), &Spent::default());
    // The amount's own sanity is the AP2 verifier's business; this constraint only adds its rule.
    let failures: Vec<String> = e
        .failures
        .into_iter()
        .filter(|f| f.code != "invalid_amount" && f.code != "not_yet_valid")
        .map(|f| f.message)
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Ap2Error::violated(hop, kind, failures.join(" ")))
    }
}

fn text(v: Option<&Value>, name: &str) -> Option<String> {
    v.and_then(|o| o.get(name))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The payment as Purser's evaluator sees it, from the closed side.
fn request(closed: &Closed<'_>, hop: usize) -> Result<PaymentRequest, Ap2Error> {
    let merchant = |v: Option<&Value>| MerchantFacts {
        id: text(v, "id"),
        name: text(v, "name"),
        website: text(v, "website"),
        country: None,
        mcc: None,
    };
    match closed {
        Closed::Payment(p) => {
            let pa = p.get("payment_amount");
            let minor = pa.and_then(|a| a.get("amount")).and_then(Value::as_i64);
            let currency = text(pa, "currency").and_then(|c| Currency::from_code(&c));
            let (Some(minor), Some(currency)) = (minor, currency) else {
                return Err(Ap2Error::malformed(
                    Some(hop),
                    "payment_amount is not an integer amount in a known currency",
                ));
            };
            Ok(PaymentRequest {
                amount: Money::new(minor, currency),
                merchant: merchant(p.get("payee")),
                items: Vec::new(),
                instrument: None,
            })
        }
        Closed::Checkout(co) => {
            let mut items = Vec::new();
            for li in co
                .get("line_items")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let item = li.get("item");
                let quantity = li
                    .get("quantity")
                    .and_then(Value::as_u64)
                    .and_then(|q| u32::try_from(q).ok())
                    .ok_or_else(|| {
                        Ap2Error::malformed(None, "a checkout line item has no whole quantity")
                    })?;
                items.push(CartItem {
                    id: text(item, "id"),
                    title: text(item, "title").unwrap_or_default(),
                    quantity,
                    unit_price: None,
                });
            }
            Ok(PaymentRequest {
                amount: Money::new(1, Currency::USD),
                merchant: merchant(co.get("merchant")),
                items,
                instrument: None,
            })
        }
    }
}
