//! AP2 v0.2 Checkout and Payment Receipts: ES256 JWTs a verifier returns after accepting or
//! refusing a mandate, and their verification.
//!
//! Claims (AP2 `payment_receipt.json`, the Checkout Receipt of `checkout_mandate.md`, and the
//! Mandate Receipt of agent authorization):
//!
//! - both: `status` (`Success` | `Error`), `iss` (the verifier), `iat`, and `reference`: the
//!   base64url SHA-256 of the final SD-JWT of the closed mandate's chain, computed as `sd_hash`
//!   is ([`crate::VerifiedChain::reference`], [`crate::receipt_reference`]). `error` and
//!   `error_description` are present exactly when the status is `Error`.
//! - Checkout Receipt: `order_id` on success.
//! - Payment Receipt: `payment_id` always; `psp_confirmation_id` and `network_confirmation_id`
//!   on success, with `rail_confirmation_verified` saying whether the issuer checked them against
//!   the rail (absent means false).
//!
//! The receipts carry no amount: the amount is in the closed payment mandate that `reference`
//! hashes, so a verifier that holds the mandate reads it there. A receipt is told apart from the
//! other kind by its claims (a checkout receipt has no `payment_id`). Verification requires the
//! reference the caller expects, so a receipt can never be accepted for the wrong mandate.

use serde_json::{json, Map, Value};

use crate::error::Ap2Error;
use crate::issue::{Es256Signer, JwsSigner};
use crate::jwk::{Algorithm, PublicJwk};
use crate::jws::CompactJws;

/// `typ` of a receipt JWT.
pub const RECEIPT_TYP: &str = "JWT";

/// How a Checkout Receipt ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckoutOutcome {
    /// The merchant accepted the checkout mandate and made an order.
    Success { order_id: String },
    /// The merchant refused it: an AP2 error code and a sentence.
    Error {
        error: String,
        error_description: String,
    },
}

impl CheckoutOutcome {
    /// The refusal for a mandate that failed verification with `e`.
    pub fn rejected(e: &Ap2Error) -> CheckoutOutcome {
        CheckoutOutcome::Error {
            error: e.receipt_error().to_owned(),
            error_description: e.to_string(),
        }
    }
}

/// A Checkout Receipt's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutReceipt {
    pub iss: String,
    pub iat: i64,
    pub reference: String,
    pub outcome: CheckoutOutcome,
}

/// How a Payment Receipt ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The payment went through.
    Success {
        psp_confirmation_id: String,
        network_confirmation_id: String,
        /// Whether the issuer confirmed both ids with the PSP/network before signing; false
        /// means they are the issuer's own assertion.
        rail_confirmation_verified: bool,
    },
    /// The payment was refused: an AP2 error code and a sentence.
    Error {
        error: String,
        error_description: String,
    },
}

impl PaymentOutcome {
    /// The refusal for a mandate that failed verification with `e`.
    pub fn rejected(e: &Ap2Error) -> PaymentOutcome {
        PaymentOutcome::Error {
            error: e.receipt_error().to_owned(),
            error_description: e.to_string(),
        }
    }
}

/// A Payment Receipt's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentReceipt {
    pub iss: String,
    pub iat: i64,
    pub reference: String,
    pub payment_id: String,
    pub outcome: PaymentOutcome,
}

fn issue_err(reason: &str) -> Ap2Error {
    Ap2Error::IssueFailed {
        reason: reason.to_owned(),
    }
}

fn invalid(reason: impl Into<String>) -> Ap2Error {
    Ap2Error::InvalidReceipt {
        reason: reason.into(),
    }
}

fn require_text(fields: &[(&str, &str)]) -> Result<(), Ap2Error> {
    match fields.iter().find(|(_, v)| v.trim().is_empty()) {
        Some((name, _)) => Err(issue_err(&format!("the receipt's {name} is empty"))),
        None => Ok(()),
    }
}

fn base(iss: &str, iat: i64, reference: &str, status: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("status".into(), json!(status));
    m.insert("iss".into(), json!(iss));
    m.insert("iat".into(), json!(iat));
    m.insert("reference".into(), json!(reference));
    m
}

fn put_error(m: &mut Map<String, Value>, error: &str, description: &str) {
    m.insert("error".into(), json!(error));
    m.insert("error_description".into(), json!(description));
}

/// Signs a Checkout Receipt as an ES256 JWT.
pub fn issue_checkout_receipt(
    signer: &Es256Signer,
    receipt: &CheckoutReceipt,
) -> Result<String, Ap2Error> {
    require_text(&[("iss", &receipt.iss), ("reference", &receipt.reference)])?;
    let mut m;
    match &receipt.outcome {
        CheckoutOutcome::Success { order_id } => {
            require_text(&[("order_id", order_id)])?;
            m = base(&receipt.iss, receipt.iat, &receipt.reference, "Success");
            m.insert("order_id".into(), json!(order_id));
        }
        CheckoutOutcome::Error {
            error,
            error_description,
        } => {
            require_text(&[("error", error), ("error_description", error_description)])?;
            m = base(&receipt.iss, receipt.iat, &receipt.reference, "Error");
            put_error(&mut m, error, error_description);
        }
    }
    signer.sign_jwt(RECEIPT_TYP, &Value::Object(m))
}

/// Signs a Payment Receipt as an ES256 JWT.
pub fn issue_payment_receipt(
    signer: &Es256Signer,
    receipt: &PaymentReceipt,
) -> Result<String, Ap2Error> {
    require_text(&[
        ("iss", &receipt.iss),
        ("reference", &receipt.reference),
        ("payment_id", &receipt.payment_id),
    ])?;
    let mut m;
    match &receipt.outcome {
        PaymentOutcome::Success {
            psp_confirmation_id,
            network_confirmation_id,
            rail_confirmation_verified,
        } => {
            require_text(&[
                ("psp_confirmation_id", psp_confirmation_id),
                ("network_confirmation_id", network_confirmation_id),
            ])?;
            m = base(&receipt.iss, receipt.iat, &receipt.reference, "Success");
            m.insert("psp_confirmation_id".into(), json!(psp_confirmation_id));
            m.insert(
                "network_confirmation_id".into(),
                json!(network_confirmation_id),
            );
            m.insert(
                "rail_confirmation_verified".into(),
                json!(rail_confirmation_verified),
            );
        }
        PaymentOutcome::Error {
            error,
            error_description,
        } => {
            require_text(&[("error", error), ("error_description", error_description)])?;
            m = base(&receipt.iss, receipt.iat, &receipt.reference, "Error");
            put_error(&mut m, error, error_description);
        }
    }
    m.insert("payment_id".into(), json!(receipt.payment_id));
    signer.sign_jwt(RECEIPT_TYP, &Value::Object(m))
}

/// Checks the signature (ES256 under `key`) and returns the claims.
fn open(jwt: &str, key: &PublicJwk) -> Result<Map<String, Value>, Ap2Error> {
    if key.algorithm() != Algorithm::Es256 {
        return Err(invalid(
            "receipts are ES256 and the key given is not a P-256 key",
        ));
    }
    let jws = CompactJws::parse(jwt, 0).map_err(|_| invalid("it is not a compact JWS"))?;
    jws.verify(key, false, 0).map_err(|e| match e {
        Ap2Error::InvalidSignature { .. } => {
            invalid("its signature does not verify under the issuer's key")
        }
        Ap2Error::UnsupportedAlgorithm { alg, .. } => {
            invalid(format!("it is signed with {alg:?}, not ES256"))
        }
        _ => invalid("its header is not acceptable"),
    })?;
    Ok(jws.payload)
}

fn text(m: &Map<String, Value>, name: &str) -> Result<String, Ap2Error> {
    m.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("it has no {name}")))
}

/// (`iss`, `iat`, `reference`, `status`, error pair when `Error`), with the reference checked.
type Common = (String, i64, String, bool, Option<(String, String)>);

fn common(m: &Map<String, Value>, expected_reference: &str) -> Result<Common, Ap2Error> {
    let iss = text(m, "iss")?;
    let iat = m
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("it has no integer iat"))?;
    let reference = text(m, "reference")?;
    if expected_reference.is_empty() || reference != expected_reference {
        return Err(Ap2Error::ReceiptReferenceMismatch);
    }
    let has_error = m.contains_key("error") || m.contains_key("error_description");
    match m.get("status").and_then(Value::as_str) {
        Some("Success") if !has_error => Ok((iss, iat, reference, true, None)),
        Some("Success") => Err(invalid("a Success receipt carries an error")),
        Some("Error") => Ok((
            iss,
            iat,
            reference,
            false,
            Some((text(m, "error")?, text(m, "error_description")?)),
        )),
        _ => Err(invalid("its status is neither Success nor Error")),
    }
}

/// Verifies a Checkout Receipt: ES256 signature under the merchant's `key`, the claims the
/// schema requires for its status, and `reference` equal to `expected_reference` (the hash of
/// the closed checkout mandate the caller presented).
pub fn verify_checkout_receipt(
    jwt: &str,
    key: &PublicJwk,
    expected_reference: &str,
) -> Result<CheckoutReceipt, Ap2Error> {
    let m = open(jwt, key)?;
    if m.contains_key("payment_id") {
        return Err(invalid("it is a payment receipt, not a checkout receipt"));
    }
    let (iss, iat, reference, success, error) = common(&m, expected_reference)?;
    let outcome = match error {
        None if success => CheckoutOutcome::Success {
            order_id: text(&m, "order_id")?,
        },
        Some((error, error_description)) => CheckoutOutcome::Error {
            error,
            error_description,
        },
        None => return Err(invalid("its status is neither Success nor Error")),
    };
    Ok(CheckoutReceipt {
        iss,
        iat,
        reference,
        outcome,
    })
}

/// Verifies a Payment Receipt: ES256 signature under the issuer's `key`, the claims the schema
/// requires for its status, and `reference` equal to `expected_reference` (the hash of the
/// closed payment mandate the caller presented).
pub fn verify_payment_receipt(
    jwt: &str,
    key: &PublicJwk,
    expected_reference: &str,
) -> Result<PaymentReceipt, Ap2Error> {
    let m = open(jwt, key)?;
    let payment_id = text(&m, "payment_id")?;
    let (iss, iat, reference, success, error) = common(&m, expected_reference)?;
    let outcome = match error {
        None if success => PaymentOutcome::Success {
            psp_confirmation_id: text(&m, "psp_confirmation_id")?,
            network_confirmation_id: text(&m, "network_confirmation_id")?,
            rail_confirmation_verified: match m.get("rail_confirmation_verified") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("rail_confirmation_verified is not a boolean")),
            },
        },
        Some((error, error_description)) => PaymentOutcome::Error {
            error,
            error_description,
        },
        None => return Err(invalid("its status is neither Success nor Error")),
    };
    Ok(PaymentReceipt {
        iss,
        iat,
        reference,
        payment_id,
        outcome,
    })
}
