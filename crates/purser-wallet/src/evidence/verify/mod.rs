//! Offline verification of an evidence bundle: no server, no database, no clock. Every
//! signature and hash is recomputed from the file, with Purser's public keys from the bundle
//! itself or — the independent trust root — from a JWKS file the verifier fetched from Purser
//! (`/.well-known/jwks.json`).
//!
//! Checks run part by part and stop at the first failure, which names its part
//! (`request`, `payment`, `mandate`, `mandate.credentials`, `decision_receipt`,
//! `confirmation`, `timeline`, `ledger`, `seal`). The seal is checked last, so a change to a part
//! that has its own check is reported by that check; the seal catches a change anywhere else.
//! docs/evidence.md says what each check proves.

use std::collections::BTreeMap;

use purser_ap2::{PublicJwk, VerifyOptions};
use purser_core::httpsig::{verify_content_digest, Ed25519PublicKey};
use purser_core::ledger::journal::{chain_hash, Entry, Event, Hash};
use purser_core::ledger::TransferKind;
use purser_core::mandate::{CartItem, Mandate};
use purser_core::{Currency, Money, Timestamp};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::canonical::{canonical, parse_strict};
use super::{FORMAT, MAX_TIMELINE_EVENTS, SEAL_TYP};
use crate::payments::{PaymentBody, MCP_PATH, RECEIPT_TYP};

mod authorization;
mod ledger;
mod request;
mod words;

/// Largest bundle read: far above what a payment produces (a few kB, up to ~1 MB with a full
/// timeline and every refund), small enough to read into memory.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// The route and method a payment request is signed for.
const PAYMENT_PATH: &str = "/v1/agent/payments";

/// Where the keys that checked the signatures came from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrustRoot {
    /// The JWKS inside the bundle: proves the bundle is consistent, not who made it.
    Bundle,
    /// A JWKS file the verifier supplied (Purser's published keys).
    KeysFile,
}

/// One check that passed.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub part: &'static str,
    pub check: String,
}

/// The first check that failed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The part of the bundle at fault.
    pub part: &'static str,
    /// A stable machine code.
    pub code: &'static str,
    pub message: String,
}

/// What verification found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub format: &'static str,
    pub payment_id: Option<String>,
    pub trust_root: TrustRoot,
    /// Where the keys came from, in words.
    pub trust_root_description: String,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What the bundle proves, in plain sentences (empty when a check failed).
    pub proven: Vec<String>,
    /// What it does not prove.
    pub not_proven: Vec<String>,
}

fn fail(part: &'static str, code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        part,
        code,
        message: message.into(),
    }
}

/// SHA-256 of `cart` as the payment decision computes it (`payments::check_body`): the
/// merchant id, each line as `[id, title, quantity, unit minor]`, then the total. Both must
/// stay byte-for-byte the same (the end-to-end evidence test checks it on a real payment).
pub fn cart_hash(merchant_id: &str, items: &[CartItem], total: Money) -> String {
    let mut h = Sha256::new();
    h.update(merchant_id.as_bytes());
    for it in items {
        let line = json!([it.id, it.title, it.quantity, it.unit_price.map(|m| m.minor)]);
        h.update(line.to_string().as_bytes());
    }
    h.update(total.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

fn text<'a>(v: &'a Value, ptr: &str, part: &'static str) -> Result<&'a str, Failure> {
    v.pointer(ptr).and_then(Value::as_str).ok_or_else(|| {
        fail(
            part,
            "field_missing",
            format!("{part}{} is missing or not text", ptr.replace('/', ".")),
        )
    })
}

fn int(v: &Value, ptr: &str, part: &'static str) -> Result<i64, Failure> {
    v.pointer(ptr).and_then(Value::as_i64).ok_or_else(|| {
        fail(
            part,
            "field_missing",
            format!(
                "{part}{} is missing or not an integer",
                ptr.replace('/', ".")
            ),
        )
    })
}

fn opt_text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn when(ms: i64) -> String {
    Timestamp(ms).to_rfc3339()
}

/// Verify a bundle. `keys_file` is the text of a JWKS the verifier trusts (Purser's published
/// keys); without it the bundle's own keys are used, which proves consistency only.
pub fn verify_bundle(text: &str, keys_file: Option<&str>) -> Report {
    let mut v = Verifier {
        checks: Vec::new(),
        trust: if keys_file.is_some() {
            TrustRoot::KeysFile
        } else {
            TrustRoot::Bundle
        },
        keys: BTreeMap::new(),
        facts: Facts::default(),
    };
    let outcome = v.run(text, keys_file);
    let trust_root_description = match v.trust {
        TrustRoot::KeysFile => "the keys file you gave (--keys)".to_string(),
        TrustRoot::Bundle => {
            "the keys inside the bundle (not independent of it: pass --keys with Purser's published keys, GET /.well-known/jwks.json, to check who made it)".to_string()
        }
    };
    let (ok, failure, proven, not_proven) = match outcome {
        Ok(()) => (true, None, v.proven(), v.not_proven()),
        Err(f) => (false, Some(f), Vec::new(), Vec::new()),
    };
    Report {
        ok,
        format: FORMAT,
        payment_id: v.facts.payment_id.clone(),
        trust_root: v.trust,
        trust_root_description,
        checks: v.checks,
        failure,
        proven,
        not_proven,
    }
}

/// What the checks established, for the sentences.
#[derive(Default)]
struct Facts {
    payment_id: Option<String>,
    status: String,
    currency: Option<Currency>,
    amount: i64,
    captured: i64,
    refunded: i64,
    agent_id: String,
    keyid: String,
    signed_at: Option<i64>,
    /// The agent signed a `request_payment` tool call at `/mcp`, not `POST /v1/agent/payments`.
    via_mcp: bool,
    merchant: String,
    items: Vec<(String, u32)>,
    mandate_id: Option<String>,
    mandate_words: Option<String>,
    consented_at: Option<String>,
    credentials_issued_at: Option<i64>,
    credentials_to_signer: Option<bool>,
    decision: Option<(String, i64, Vec<String>)>,
    confirmation: Option<(String, Option<String>, bool)>,
    timeline: Vec<String>,
    timeline_complete: bool,
    hold_at: Option<i64>,
    capture_at: Option<i64>,
    released: Option<(&'static str, i64)>,
    refunds_moved: Vec<(i64, i64)>,
    seqs: Vec<i64>,
    head: Option<(i64, String)>,
    sealed: Option<(i64, String)>,
    /// A Token Pay charge (request origin `schedule`): no agent signed it.
    scheduled: Option<Scheduled>,
}

/// What a scheduled payment's request says it charged.
struct Scheduled {
    mandate_id: String,
    occurrence: u32,
    due_at: i64,
    merchant_id: String,
    total: (i64, String),
    body: String,
}

struct Verifier {
    checks: Vec<Check>,
    trust: TrustRoot,
    keys: BTreeMap<String, PublicJwk>,
    facts: Facts,
}

impl Verifier {
    fn pass(&mut self, part: &'static str, check: impl Into<String>) {
        self.checks.push(Check {
            part,
            check: check.into(),
        });
    }

    fn money(&self, minor: i64) -> String {
        match self.facts.currency {
            Some(c) => Money::new(minor, c).with_symbol(),
            None => minor.to_string(),
        }
    }

    fn run(&mut self, file: &str, keys_file: Option<&str>) -> Result<(), Failure> {
        if file.len() > MAX_BUNDLE_BYTES {
            return Err(fail(
                "bundle",
                "bundle_too_large",
                format!(
                    "the file is larger than {} MiB; it is not an evidence bundle",
                    MAX_BUNDLE_BYTES >> 20
                ),
            ));
        }
        let doc = parse_strict(file).map_err(|e| fail("bundle", "bundle_unreadable", e))?;
        if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(fail(
                "bundle",
                "format_unknown",
                format!("this is not a {FORMAT} evidence bundle (its format field says otherwise)"),
            ));
        }
        let pid = text(&doc, "/payment/id", "payment")?.to_string();
        self.facts.payment_id = Some(pid.clone());
        self.load_keys(&doc, keys_file)?;
        self.request(&doc)?;
        self.payment(&doc)?;
        self.mandate(&doc)?;
        self.receipt(&doc)?;
        self.confirmation(&doc)?;
        self.timeline(&doc)?;
        self.ledger(&doc)?;
        self.seal(&doc)
    }

    // ---- keys --------------------------------------------------------------------------

    fn load_keys(&mut self, doc: &Value, keys_file: Option<&str>) -> Result<(), Failure> {
        let (jwks, part) = match keys_file {
            Some(t) => (
                serde_json::from_str::<Value>(t).map_err(|e| {
                    fail(
                        "keys",
                        "keys_file_invalid",
                        format!("the keys file is not JSON: {e}"),
                    )
                })?,
                "keys",
            ),
            None => (doc.get("keys").cloned().unwrap_or(Value::Null), "keys"),
        };
        let list = jwks.get("keys").and_then(Value::as_array).ok_or_else(|| {
            fail(
                part,
                "keys_invalid",
                "the keys are not a JWKS ({\"keys\": [...]}); use the answer of GET /.well-known/jwks.json",
            )
        })?;
        for k in list {
            if let (Some(kid), Ok(key)) =
                (k.get("kid").and_then(Value::as_str), PublicJwk::from_jwk(k))
            {
                self.keys.insert(kid.to_string(), key);
            }
        }
        if self.keys.is_empty() {
            return Err(fail(
                part,
                "keys_invalid",
                "the key set holds no usable public key",
            ));
        }
        let n = self.keys.len();
        self.pass(part, count(n, "public key", "public keys") + " read");
        Ok(())
    }

    /// The key a token names (`kid`), from the trust root.
    fn key_for(&self, token: &str, what: &str, part: &'static str) -> Result<PublicJwk, Failure> {
        let header = purser_ap2::unverified_header(token).map_err(|e| {
            fail(
                part,
                "signature_invalid",
                format!("the {what} is not a JWS: {e}"),
            )
        })?;
        let kid = header.get("kid").and_then(Value::as_str).ok_or_else(|| {
            fail(
                part,
                "key_unknown",
                format!("the {what} names no key (kid)"),
            )
        })?;
        self.key(kid, what, part)
    }

    fn key(&self, kid: &str, what: &str, part: &'static str) -> Result<PublicJwk, Failure> {
        self.keys.get(kid).cloned().ok_or_else(|| match self.trust {
            TrustRoot::KeysFile => fail(
                part,
                "key_untrusted",
                format!(
                    "the {what} was signed with key {}, which is not in the keys file: it was not signed by a key you trust",
                    short(kid)
                ),
            ),
            TrustRoot::Bundle => fail(
                part,
                "key_unknown",
                format!(
                    "the {what} was signed with key {}, which is not among the bundle's keys",
                    short(kid)
                ),
            ),
        })
    }

    // ---- the seal ------------------------------------------------------------------------

    fn seal(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "seal";
        let token = doc
            .get(P)
            .and_then(Value::as_str)
            .ok_or_else(|| fail(P, "seal_missing", "the bundle is not sealed"))?;
        let key = self.key_for(token, "seal", P)?;
        let claims = purser_ap2::verify_jwt(token, &key, SEAL_TYP).map_err(|e| {
            fail(
                P,
                "signature_invalid",
                format!("the seal's signature does not verify: {e}"),
            )
        })?;
        let mut rest: Map<String, Value> = doc.as_object().cloned().unwrap_or_default();
        rest.remove(P);
        let digest = sha256_hex(canonical(&Value::Object(rest)).as_bytes());
        if claims.get("sha256").and_then(Value::as_str) != Some(digest.as_str()) {
            return Err(fail(
                P,
                "seal_mismatch",
                "the bundle is not what Purser sealed: something in it was changed after export",
            ));
        }
        if claims.get("payment_id").and_then(Value::as_str) != self.facts.payment_id.as_deref() {
            return Err(fail(P, "seal_mismatch", "the seal is for another payment"));
        }
        let kid = purser_ap2::unverified_header(token)
            .ok()
            .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .saturating_mul(1000);
        self.facts.sealed = Some((iat, kid));
        self.pass(
            P,
            "Purser's seal verifies over the SHA-256 of everything else in the bundle",
        );
        Ok(())
    }
}

/// "1 event", "3 events".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn hash_hex(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}
