//! Checkout and payment mandates together: `checkout_hash`, `transaction_id` and
//! `payment.reference`, and the three entry points a merchant, credential provider or payment
//! processor calls — [`verify_checkout`], [`verify_payment`] and [`verify_purchase`].
//!
//! The bindings, as AP2 v0.2 defines them (all hashes base64url SHA-256, the only `_sd_alg` this
//! crate accepts):
//!
//! - `checkout_hash` of the closed checkout mandate = hash of the raw `checkout_jwt` value
//!   ([`checkout_hash`]). Every verifier recomputes it; a mismatch refuses.
//! - `transaction_id` of the closed payment mandate = that same checkout hash: the payment pays
//!   for exactly that checkout.
//! - `payment.reference` constraint of an open payment mandate: `conditional_transaction_id` =
//!   the hash of an open checkout mandate presentation (`jwt~disclosures~`, as `sd_hash` is
//!   computed) in the checkout chain. The hash is over the presentation exactly as it appears in
//!   the checkout chain, so an agent that later withholds some of its disclosures no longer
//!   matches (fail closed).
//! - A receipt's `reference` = the hash of the final SD-JWT of the chain
//!   ([`VerifiedChain::reference`]).
//!
//! Beyond the specification, [`verify_purchase`] also requires the payment amount to equal the
//! checkout's stated total (`currency` and the `totals` entry of type `total`, UCP's checkout
//! object): a checkout that states no total is refused there, because nothing else would tie the
//! amount to the goods.

use purser_core::{Currency, Money};
use serde_json::{Map, Value};

use crate::chain::{verify_chain, VerifiedChain, VerifyOptions};
use crate::constraints::{
    check_checkout_constraints, check_payment_constraints, MandateUsage, PaymentContext,
};
use crate::encoding::sd_digest;
use crate::error::Ap2Error;
use crate::jwk::{Algorithm, PublicJwk};
use crate::jws::CompactJws;

/// `alg`s a checkout JWT may carry: randomized signatures only. AP2 forbids deterministic ones
/// (Ed25519) for the checkout JWT so its hash cannot be confirmed by guessing its content.
const CHECKOUT_ALGS: [&str; 6] = ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512"];

/// `checkout_hash` / `transaction_id` of a checkout JWT: base64url(SHA-256(its raw text)).
pub fn checkout_hash(checkout_jwt: &str) -> String {
    sd_digest(checkout_jwt)
}

/// How the verifier knows the checkout JWT in the mandate is the merchant's.
#[derive(Clone, Debug)]
pub enum CheckoutAuthenticity {
    /// Verify the checkout JWT's ES256 signature with the merchant's public key.
    MerchantKey(PublicJwk),
    /// The exact checkout JWT this verifier (the merchant) issued; the mandate must carry it.
    Issued(String),
    /// Do not check who made the checkout JWT: only the hash binding and the constraints are
    /// checked. For a party that establishes the checkout's origin some other way.
    Unchecked,
}

/// A closed checkout mandate whose chain, checkout hash, origin and constraints all verified.
#[derive(Clone, Debug)]
pub struct VerifiedCheckout {
    chain: VerifiedChain,
    checkout_jwt: String,
    checkout_hash: String,
    checkout: Map<String, Value>,
}

impl VerifiedCheckout {
    /// The verified chain (open checkout mandates, then the closed one).
    pub fn chain(&self) -> &VerifiedChain {
        &self.chain
    }

    /// The merchant-signed checkout JWT, as carried.
    pub fn checkout_jwt(&self) -> &str {
        &self.checkout_jwt
    }

    /// Its hash: the `transaction_id` a payment for this checkout must carry.
    pub fn checkout_hash(&self) -> &str {
        &self.checkout_hash
    }

    /// The decoded checkout object (the JWT payload).
    pub fn checkout(&self) -> &Map<String, Value> {
        &self.checkout
    }

    /// Hashes of the open checkout mandates in the chain: what a `payment.reference` may name.
    pub fn open_checkout_hashes(&self) -> Vec<String> {
        open_hashes(&self.chain)
    }

    /// What the Checkout Receipt's `reference` must be.
    pub fn reference(&self) -> &str {
        self.chain.reference()
    }
}

/// What a payment mandate must be bound to: the checkout it pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentBinding {
    /// The hash of the checkout JWT being paid ([`checkout_hash`]); the closed payment mandate's
    /// `transaction_id` must equal it. Compute it from the checkout you are processing, never
    /// read it back from the payment mandate.
    pub transaction_id: String,
    /// Hashes of the open checkout mandates of that checkout's chain
    /// ([`VerifiedCheckout::open_checkout_hashes`]); empty when the verifier has no checkout
    /// chain, which leaves a `payment.reference` constraint unverifiable.
    pub open_checkout_hashes: Vec<String>,
}

impl PaymentBinding {
    /// The binding to a checkout this verifier verified.
    pub fn to_checkout(checkout: &VerifiedCheckout) -> PaymentBinding {
        PaymentBinding {
            transaction_id: checkout.checkout_hash.clone(),
            open_checkout_hashes: checkout.open_checkout_hashes(),
        }
    }
}

/// A closed payment mandate whose chain, checkout binding and constraints all verified.
#[derive(Clone, Debug)]
pub struct VerifiedPayment {
    chain: VerifiedChain,
    amount: Money,
    transaction_id: String,
}

impl VerifiedPayment {
    /// The verified chain (open payment mandates, then the closed one).
    pub fn chain(&self) -> &VerifiedChain {
        &self.chain
    }

    /// The amount the user (or agent) authorised.
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// The checkout hash it pays.
    pub fn transaction_id(&self) -> &str {
        &self.transaction_id
    }

    /// What the Payment Receipt's `reference` must be.
    pub fn reference(&self) -> &str {
        self.chain.reference()
    }
}

/// A checkout and the payment for it, both verified and bound to each other.
#[derive(Clone, Debug)]
pub struct VerifiedPurchase {
    pub checkout: VerifiedCheckout,
    pub payment: VerifiedPayment,
}

/// Options for [`verify_purchase`]: each chain has its own verifier options (root key, `aud`,
/// `nonce`: the checkout is presented to the merchant, the payment to the payment side).
#[derive(Clone, Debug)]
pub struct PurchaseOptions {
    pub checkout: VerifyOptions,
    pub payment: VerifyOptions,
    pub authenticity: CheckoutAuthenticity,
    /// History of the open payment mandate, for `payment.budget` / `payment.agent_recurrence`.
    pub usage: Option<MandateUsage>,
}

fn open_hashes(chain: &VerifiedChain) -> Vec<String> {
    let last = chain.hops().len().saturating_sub(1);
    (0..last)
        .filter_map(|i| chain.presentation_digest(i).map(str::to_owned))
        .collect()
}

fn closed_of<'c>(chain: &'c VerifiedChain, vct: &str) -> Result<&'c Map<String, Value>, Ap2Error> {
    let last = chain.hops().len().saturating_sub(1);
    chain
        .last()
        .and_then(Value::as_object)
        .filter(|m| last > 0 && m.get("vct").and_then(Value::as_str) == Some(vct))
        .ok_or_else(|| Ap2Error::InvalidVct {
            hop: last,
            found: format!("expected a chain ending in {vct}"),
        })
}

fn checkout_err(e: Ap2Error) -> Ap2Error {
    let reason = match e {
        Ap2Error::Malformed { reason, .. } => reason,
        Ap2Error::UnsupportedAlgorithm { alg, .. } => {
            format!("it is signed with {alg:?}, not ES256 as the merchant key requires")
        }
        Ap2Error::InvalidSignature { .. } => {
            "its signature does not verify under the merchant's key".to_owned()
        }
        other => other.to_string(),
    };
    Ap2Error::InvalidCheckout { reason }
}

/// Decodes (and, with a merchant key, verifies) the checkout JWT into the checkout object.
fn read_checkout(
    jwt: &str,
    authenticity: &CheckoutAuthenticity,
) -> Result<Map<String, Value>, Ap2Error> {
    let jws = CompactJws::parse(jwt, 0).map_err(checkout_err)?;
    let alg = jws
        .header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !CHECKOUT_ALGS.contains(&alg) {
        return Err(Ap2Error::InvalidCheckout {
            reason: format!(
                "it is signed with {:?}; AP2 requires a randomized signature such as ES256",
                alg.chars().take(16).collect::<String>()
            ),
        });
    }
    match authenticity {
        CheckoutAuthenticity::MerchantKey(key) => {
            if key.algorithm() != Algorithm::Es256 {
                return Err(Ap2Error::InvalidCheckout {
                    reason: "the merchant key is not an ES256 (P-256) key".into(),
                });
            }
            jws.verify(key, false, 0).map_err(checkout_err)?;
        }
        CheckoutAuthenticity::Issued(issued) => {
            if issued != jwt {
                return Err(Ap2Error::CheckoutHashMismatch {
                    reason:
                        "the mandate carries a different checkout than the one this merchant issued"
                            .into(),
                });
            }
        }
        CheckoutAuthenticity::Unchecked => {}
    }
    Ok(jws.payload)
}

/// Verifies a checkout chain (ending in a closed `mandate.checkout.1`): the chain itself
/// ([`verify_chain`]), `checkout_hash` against `checkout_jwt`, the checkout's origin, and the
/// checkout against every open checkout mandate's constraints.
pub fn verify_checkout(
    chain: &str,
    opts: &VerifyOptions,
    authenticity: &CheckoutAuthenticity,
) -> Result<VerifiedCheckout, Ap2Error> {
    let chain = verify_chain(chain, opts)?;
    let closed = closed_of(&chain, "mandate.checkout.1")?;
    let hop = chain.hops().len().saturating_sub(1);
    let jwt = closed
        .get("checkout_jwt")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Ap2Error::malformed(
                Some(hop),
                "the closed checkout mandate does not disclose its checkout_jwt",
            )
        })?
        .to_owned();
    let claimed = closed
        .get("checkout_hash")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Ap2Error::malformed(
                Some(hop),
                "the closed checkout mandate has no checkout_hash",
            )
        })?;
    let hash = checkout_hash(&jwt);
    if claimed != hash {
        return Err(Ap2Error::CheckoutHashMismatch {
            reason: "checkout_hash is not the SHA-256 of the checkout_jwt it carries".into(),
        });
    }
    let checkout = read_checkout(&jwt, authenticity)?;
    check_checkout_constraints(&chain, &checkout)?;
    Ok(VerifiedCheckout {
        chain,
        checkout_jwt: jwt,
        checkout_hash: hash,
        checkout,
    })
}

/// Verifies a payment chain (ending in a closed `mandate.payment.1`): the chain itself, its
/// `transaction_id` against the checkout being paid, and the payment against every open payment
/// mandate's pre-set claims and constraints.
pub fn verify_payment(
    chain: &str,
    opts: &VerifyOptions,
    binding: &PaymentBinding,
    usage: Option<MandateUsage>,
) -> Result<VerifiedPayment, Ap2Error> {
    let chain = verify_chain(chain, opts)?;
    let closed = closed_of(&chain, "mandate.payment.1")?;
    let hop = chain.hops().len().saturating_sub(1);
    let transaction_id = closed
        .get("transaction_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Ap2Error::malformed(Some(hop), "the payment mandate has no transaction_id"))?
        .to_owned();
    // An empty expected id binds nothing: refuse rather than compare.
    if binding.transaction_id.trim().is_empty() || transaction_id != binding.transaction_id {
        return Err(Ap2Error::TransactionIdMismatch);
    }
    let ctx = PaymentContext {
        now: opts.now(),
        open_checkout_hashes: binding.open_checkout_hashes.clone(),
        usage,
    };
    check_payment_constraints(&chain, &ctx)?;
    let amount = payment_amount(closed, hop)?;
    Ok(VerifiedPayment {
        chain,
        amount,
        transaction_id,
    })
}

fn payment_amount(closed: &Map<String, Value>, hop: usize) -> Result<Money, Ap2Error> {
    let pa = closed.get("payment_amount");
    let minor = pa.and_then(|p| p.get("amount")).and_then(Value::as_i64);
    let cur = pa
        .and_then(|p| p.get("currency"))
        .and_then(Value::as_str)
        .and_then(Currency::from_code);
    match (minor, cur) {
        (Some(m), Some(c)) if m >= 0 => Ok(Money::new(m, c)),
        _ => Err(Ap2Error::malformed(
            Some(hop),
            "payment_amount is not a non-negative integer amount in a known currency",
        )),
    }
}

/// The checkout's stated total, from UCP's `currency` and `totals[type = "total"].amount`.
fn checkout_total(checkout: &Map<String, Value>) -> Result<Money, Ap2Error> {
    let mismatch = |r: &str| Ap2Error::AmountMismatch { reason: r.into() };
    let code = checkout
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| mismatch("the checkout states no currency to compare the payment with"))?;
    let currency = Currency::from_code(code)
        .ok_or_else(|| mismatch("the checkout's currency is not one this verifier knows"))?;
    let totals = checkout
        .get("totals")
        .and_then(Value::as_array)
        .ok_or_else(|| mismatch("the checkout states no total to compare the payment with"))?;
    let mut found = totals
        .iter()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("total"));
    let total = found
        .next()
        .ok_or_else(|| mismatch("the checkout states no total to compare the payment with"))?;
    if found.next().is_some() {
        return Err(mismatch("the checkout states more than one total"));
    }
    let minor = total
        .get("amount")
        .and_then(Value::as_i64)
        .filter(|m| *m >= 0)
        .ok_or_else(|| mismatch("the checkout's total is not a whole number of minor units"))?;
    Ok(Money::new(minor, currency))
}

/// Verifies a checkout chain and the payment chain for it together: each as
/// [`verify_checkout`] / [`verify_payment`], the payment bound to this checkout
/// (`transaction_id`, `payment.reference`), and the payment amount equal to the checkout total.
pub fn verify_purchase(
    checkout_chain: &str,
    payment_chain: &str,
    opts: &PurchaseOptions,
) -> Result<VerifiedPurchase, Ap2Error> {
    let checkout = verify_checkout(checkout_chain, &opts.checkout, &opts.authenticity)?;
    let binding = PaymentBinding::to_checkout(&checkout);
    let payment = verify_payment(payment_chain, &opts.payment, &binding, opts.usage)?;
    let total = checkout_total(checkout.checkout())?;
    if total != payment.amount {
        return Err(Ap2Error::AmountMismatch {
            reason: format!(
                "the checkout total is {} and the payment mandate authorises {}",
                total.with_symbol(),
                payment.amount.with_symbol()
            ),
        });
    }
    Ok(VerifiedPurchase { checkout, payment })
}

/// The receipt `reference` for a chain given as text: the hash of its final SD-JWT, computed as
/// `sd_hash` is. Does not verify the chain.
pub fn receipt_reference(chain: &str) -> Result<String, Ap2Error> {
    let parsed = crate::chain::parse_chain(chain)?;
    parsed
        .hops
        .last()
        .map(|p| sd_digest(p.text))
        .ok_or_else(|| Ap2Error::malformed(None, "the chain has no hop"))
}
