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
use crate::payments::{PaymentBody, RECEIPT_TYP};

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
            format!("{part}{} is missing or not an integer", ptr.replace('/', ".")),
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

    fn run(&mut self, text: &str, keys_file: Option<&str>) -> Result<(), Failure> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(fail(
                "bundle",
                "bundle_too_large",
                format!(
                    "the file is larger than {} MiB; it is not an evidence bundle",
                    MAX_BUNDLE_BYTES >> 20
                ),
            ));
        }
        let doc = parse_strict(text).map_err(|e| fail("bundle", "bundle_unreadable", e))?;
        if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(fail(
                "bundle",
                "format_unknown",
                format!("this is not a {FORMAT} evidence bundle (its format field says otherwise)"),
            ));
        }
        let pid = text_of(&doc, "/payment/id", "payment")?.to_string();
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
                    fail("keys", "keys_file_invalid", format!("the keys file is not JSON: {e}"))
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
            if let (Some(kid), Ok(key)) = (
                k.get("kid").and_then(Value::as_str),
                PublicJwk::from_jwk(k),
            ) {
                self.keys.insert(kid.to_string(), key);
            }
        }
        if self.keys.is_empty() {
            return Err(fail(part, "keys_invalid", "the key set holds no usable public key"));
        }
        let n = self.keys.len();
        self.pass(part, format!("{n} public key(s) read"));
        Ok(())
    }

    /// The key a token names (`kid`), from the trust root.
    fn key_for(&self, token: &str, what: &str, part: &'static str) -> Result<PublicJwk, Failure> {
        let header = purser_ap2::unverified_header(token)
            .map_err(|e| fail(part, "signature_invalid", format!("the {what} is not a JWS: {e}")))?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(part, "key_unknown", format!("the {what} names no key (kid)")))?;
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

    // ---- the agent's signed request ------------------------------------------------------

    fn request(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "request";
        let keyid = text(doc, "/request/keyid", P)?;
        let base = text(doc, "/request/signature_base", P)?;
        let sig = text(doc, "/request/signature", P)?;
        let body = text(doc, "/request/body", P)?;
        let jwk = doc.pointer("/request/agent_jwk").ok_or_else(|| {
            fail(P, "field_missing", "request.agent_jwk is missing")
        })?;
        let key = Ed25519PublicKey::from_jwk(jwk).map_err(|e| {
            fail(P, "agent_key_invalid", format!("request.agent_jwk is not an Ed25519 public key: {e}"))
        })?;
        if key.thumbprint() != keyid {
            return Err(fail(
                P,
                "agent_key_mismatch",
                "request.keyid is not the thumbprint (RFC 7638) of request.agent_jwk",
            ));
        }
        use base64::Engine;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .ok()
            .filter(|s| s.len() == 64)
            .ok_or_else(|| fail(P, "agent_signature_invalid", "request.signature is not a base64url Ed25519 signature"))?;
        if !key.verifies(base.as_bytes(), &sig) {
            return Err(fail(
                P,
                "agent_signature_invalid",
                "the agent's Ed25519 signature does not verify over request.signature_base with request.agent_jwk",
            ));
        }
        self.pass(P, format!("the agent's Ed25519 signature verifies over the signature base (key {keyid})"));
        let (components, params) = base_lines(base).map_err(|e| fail(P, "signature_base_invalid", e))?;
        let component = |name: &str| {
            components
                .iter()
                .find(|(n, _)| n == &format!("\"{name}\""))
                .map(|(_, v)| v.as_str())
        };
        if param(params, "keyid").as_deref() != Some(keyid) {
            return Err(fail(P, "signature_base_invalid", "the signature base's keyid is not request.keyid"));
        }
        if component("@method") != Some("POST") || component("@path") != Some(PAYMENT_PATH) {
            return Err(fail(
                P,
                "signature_base_invalid",
                format!("the signature base does not cover POST {PAYMENT_PATH}: it is not a payment request"),
            ));
        }
        let digest = component("content-digest").ok_or_else(|| {
            fail(P, "signature_base_invalid", "the signature base does not cover content-digest, so it does not bind the body")
        })?;
        verify_content_digest(digest.as_bytes(), body.as_bytes()).map_err(|e| {
            fail(P, "body_digest_mismatch", format!("request.body is not the body the agent signed: {e}"))
        })?;
        self.pass(P, "the signed content-digest is the SHA-256 of request.body");
        self.facts.keyid = keyid.to_string();
        self.facts.signed_at = param(params, "created")
            .and_then(|c| c.parse::<i64>().ok())
            .and_then(|s| s.checked_mul(1000));
        Ok(())
    }

    // ---- the payment summary against the signed body -------------------------------------

    fn payment(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "payment";
        let body = text(doc, "/request/body", "request")?;
        let b: PaymentBody = serde_json::from_str(body).map_err(|e| {
            fail("request", "body_invalid", format!("the signed body is not a payment request: {e}"))
        })?;
        let p = doc.get("payment").ok_or_else(|| fail(P, "field_missing", "payment is missing"))?;
        let code = text(p, "/amount/currency", P)?;
        let currency = Currency::from_code(code)
            .ok_or_else(|| fail(P, "currency_unknown", format!("payment.amount.currency {} is not a currency", short(code))))?;
        self.facts.currency = Some(currency);
        let amount = int(p, "/amount/amount", P)?;
        let captured = int(p, "/captured/amount", P)?;
        let refunded = int(p, "/refunded/amount", P)?;
        for f in ["/captured/currency", "/refunded/currency"] {
            if text(p, f, P)? != code {
                return Err(fail(P, "summary_inconsistent", format!("payment{} is not the payment's currency", f.replace('/', "."))));
            }
        }
        if amount <= 0 || captured < 0 || captured > amount || refunded < 0 || refunded > captured {
            return Err(fail(
                P,
                "summary_inconsistent",
                "the payment summary's amounts do not add up (captured must be at most the amount, refunded at most what was captured)",
            ));
        }
        let mismatch = |what: &str, summary: &str, signed: &str| {
            fail(
                P,
                "summary_mismatch",
                format!(
                    "the payment summary says the {what} is {}, but the agent's signed request says {}",
                    short(summary),
                    short(signed)
                ),
            )
        };
        let pairs: [(&str, Option<&str>, Option<&str>); 6] = [
            ("user", opt_text(p, "/user_id"), Some(b.user_id.as_str())),
            ("task", opt_text(p, "/task_id"), Some(b.task_id.as_str())),
            ("mandate", opt_text(p, "/mandate_id"), Some(b.mandate_id.as_str())),
            ("merchant", opt_text(p, "/merchant/id"), Some(b.merchant.id.as_str())),
            ("checkout", opt_text(p, "/checkout_id"), b.checkout_id.as_deref()),
            ("currency", Some(code), Some(b.total.currency.as_str())),
        ];
        for (what, summary, signed) in pairs {
            if summary != signed {
                return Err(mismatch(what, summary.unwrap_or("none"), signed.unwrap_or("none")));
            }
        }
        if b.total.amount != amount {
            return Err(mismatch(
                "amount",
                &Money::new(amount, currency).with_symbol(),
                &Money::new(b.total.amount, currency).with_symbol(),
            ));
        }
        let items: Vec<CartItem> = b
            .items
            .iter()
            .map(|i| CartItem {
                id: i.id.clone(),
                title: i.title.trim().to_string(),
                quantity: i.quantity,
                unit_price: Some(Money::new(i.unit_price.amount, currency)),
            })
            .collect();
        let signed_cart = cart_hash(&b.merchant.id, &items, Money::new(b.total.amount, currency));
        if opt_text(p, "/cart_hash") != Some(signed_cart.as_str()) {
            return Err(fail(
                P,
                "summary_mismatch",
                "the payment summary's cart_hash is not the hash of the items the agent signed",
            ));
        }
        let max_q = items.iter().map(|i| i64::from(i.quantity)).max().unwrap_or(0);
        if p.get("max_quantity").and_then(Value::as_i64) != Some(max_q) {
            return Err(mismatch(
                "largest quantity",
                &p.get("max_quantity").map(Value::to_string).unwrap_or_default(),
                &max_q.to_string(),
            ));
        }
        self.pass(P, "user, task, mandate, merchant, checkout, amount and items match the agent's signed request");
        self.facts.status = text(p, "/status", P)?.to_string();
        self.facts.agent_id = text(p, "/agent_id", P)?.to_string();
        self.facts.amount = amount;
        self.facts.captured = captured;
        self.facts.refunded = refunded;
        let name = opt_text(p, "/merchant/name").unwrap_or("an unregistered merchant");
        self.facts.merchant = match opt_text(p, "/merchant/website") {
            Some(w) => format!("{name} ({w}, {})", b.merchant.id),
            None => format!("{name} ({})", b.merchant.id),
        };
        self.facts.items = items.into_iter().map(|i| (i.title, i.quantity)).collect();
        self.facts.mandate_id = Some(b.mandate_id);
        Ok(())
    }

    // ---- the mandate and its AP2 credentials ---------------------------------------------

    fn mandate(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "mandate";
        let m = doc.get("mandate").filter(|m| !m.is_null()).ok_or_else(|| {
            fail(P, "mandate_missing", "the bundle has no mandate, but the payment names one")
        })?;
        let id = text(m, "/id", P)?;
        if Some(id) != self.facts.mandate_id.as_deref() {
            return Err(fail(P, "mandate_mismatch", "mandate.id is not the mandate the payment names"));
        }
        let content = text(m, "/content", P)?;
        let hash = text(m, "/content_hash", P)?;
        if sha256_hex(content.as_bytes()) != hash {
            return Err(fail(
                P,
                "content_hash_mismatch",
                "the mandate's content is not what its content_hash names: one of them was changed",
            ));
        }
        self.pass(P, "the mandate's content_hash is the SHA-256 of its content");
        if let Ok(parsed) = serde_json::from_str::<Mandate>(content) {
            let words = parsed.provenance.user_words.trim();
            self.facts.mandate_words = Some(if words.is_empty() {
                parsed.summary()
            } else {
                words.to_string()
            });
        }
        self.facts.consented_at = opt_text(m, "/consented_at").map(str::to_owned);
        let creds = match m.get("credentials") {
            Some(c) if !c.is_null() => c,
            _ => return Ok(()),
        };
        const C: &str = "mandate.credentials";
        let kid = text(creds, "/issuer_kid", C)?;
        let key = self.key(kid, "mandate credential", C)?;
        for (field, vct) in [
            ("checkout", purser_ap2::OPEN_CHECKOUT_VCT),
            ("payment", purser_ap2::OPEN_PAYMENT_VCT),
        ] {
            let cred = text(creds, &format!("/{field}"), C)?;
            let bad = |e: String| {
                fail(C, "credential_invalid", format!("the AP2 {field} credential does not verify: {e}"))
            };
            let chain = purser_ap2::parse_chain(cred).map_err(|e| bad(e.to_string()))?;
            let root = chain.hops.first().ok_or_else(|| bad("it is empty".into()))?;
            let claims = purser_ap2::verify_jwt(root.jwt, &key, purser_ap2::ROOT_TYP)
                .map_err(|e| bad(e.to_string()))?;
            let iat = claims.get("iat").and_then(Value::as_i64).ok_or_else(|| bad("it has no iat".into()))?;
            // As of its issue: evidence is read long after a credential expires.
            let at = Timestamp(iat.saturating_mul(1000));
            let verified = purser_ap2::verify_chain(cred, &VerifyOptions::new(key.clone(), at))
                .map_err(|e| bad(e.to_string()))?;
            if claims.get(purser_ap2::MANDATE_ID_CLAIM).and_then(Value::as_str) != Some(id) {
                return Err(bad(format!("it is for another mandate than {id}")));
            }
            let hop = verified.last().cloned().unwrap_or(Value::Null);
            if hop.get("vct").and_then(Value::as_str) != Some(vct) {
                return Err(bad(format!("it is not a {vct} mandate")));
            }
            let to_signer = hop
                .pointer("/cnf/jwk")
                .and_then(|j| Ed25519PublicKey::from_jwk(j).ok())
                .is_some_and(|k| k.thumbprint() == self.facts.keyid);
            self.facts.credentials_to_signer = Some(to_signer);
            self.facts.credentials_issued_at = Some(iat.saturating_mul(1000));
            self.pass(C, format!("the AP2 {vct} credential for {id} verifies under Purser's key {kid}"));
        }
        Ok(())
    }

    // ---- Purser's decision receipt -------------------------------------------------------

    fn receipt(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "decision_receipt";
        let Some(token) = doc.get(P).and_then(Value::as_str) else {
            if self.facts.status == "failed" {
                self.pass(P, "no decision receipt: the request failed before Purser decided it");
                return Ok(());
            }
            return Err(fail(P, "receipt_missing", "the bundle has no decision receipt for a decided payment"));
        };
        let key = self.key_for(token, "decision receipt", P)?;
        let c = purser_ap2::verify_jwt(token, &key, RECEIPT_TYP).map_err(|e| {
            fail(P, "signature_invalid", format!("the decision receipt's signature does not verify: {e}"))
        })?;
        self.pass(P, "Purser's ES256 signature on the decision receipt verifies");
        let c = Value::Object(c);
        let base = text(doc, "/request/signature_base", "request")?;
        let p = doc.get("payment").cloned().unwrap_or(Value::Null);
        let said = |ptr: &str| c.pointer(ptr).cloned().unwrap_or(Value::Null);
        let expect: Vec<(&str, Value, Value)> = vec![
            ("payment_id", said("/payment_id"), p.get("id").cloned().unwrap_or(Value::Null)),
            ("request.sha256", said("/request/sha256"), json!(sha256_hex(base.as_bytes()))),
            ("request.signature", said("/request/signature"), doc.pointer("/request/signature").cloned().unwrap_or(Value::Null)),
            ("agent.kid", said("/agent/kid"), json!(self.facts.keyid)),
            ("agent.id", said("/agent/id"), json!(self.facts.agent_id)),
            ("user_id", said("/user_id"), p.get("user_id").cloned().unwrap_or(Value::Null)),
            ("task_id", said("/task_id"), p.get("task_id").cloned().unwrap_or(Value::Null)),
            ("merchant_id", said("/merchant_id"), p.pointer("/merchant/id").cloned().unwrap_or(Value::Null)),
            ("mandate.id", said("/mandate/id"), p.get("mandate_id").cloned().unwrap_or(Value::Null)),
            ("mandate.content_hash", said("/mandate/content_hash"), doc.pointer("/mandate/content_hash").cloned().unwrap_or(Value::Null)),
            ("amount.amount", said("/amount/amount"), p.pointer("/amount/amount").cloned().unwrap_or(Value::Null)),
            ("amount.currency", said("/amount/currency"), p.pointer("/amount/currency").cloned().unwrap_or(Value::Null)),
        ];
        for (what, receipt, bundle) in expect {
            if receipt != bundle {
                return Err(fail(
                    P,
                    "receipt_mismatch",
                    format!("the decision receipt's {what} is {}, but the bundle says {}", short(&receipt.to_string()), short(&bundle.to_string())),
                ));
            }
        }
        self.pass(P, "the receipt names this payment, the SHA-256 of the agent's signature base, the agent key, the mandate's content hash and the amount");
        let decision = c.get("decision").and_then(Value::as_str).unwrap_or("");
        let status = self.facts.status.as_str();
        let consistent = match decision {
            "declined" => status == "declined",
            "approved" => !["declined", "pending_confirmation", "deciding", "failed"].contains(&status),
            "needs_confirmation" => status != "deciding" && status != "failed",
            _ => false,
        };
        if !consistent {
            return Err(fail(
                "payment",
                "summary_inconsistent",
                format!("the payment is {} but Purser's decision was {}", short(status), short(decision)),
            ));
        }
        let reasons = c
            .get("reasons")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|x| x.get("message").and_then(Value::as_str)).map(str::to_owned).collect())
            .unwrap_or_default();
        let iat = c.get("iat").and_then(Value::as_i64).unwrap_or(0).saturating_mul(1000);
        self.facts.decision = Some((decision.to_string(), iat, reasons));
        Ok(())
    }

    // ---- the person's confirmation -------------------------------------------------------

    fn confirmation(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "confirmation";
        let c = match doc.get(P) {
            Some(c) if !c.is_null() => c,
            _ => {
                if matches!(&self.facts.decision, Some((d, _, _)) if d == "needs_confirmation") {
                    return Err(fail(P, "confirmation_missing", "Purser asked the person to confirm this payment, but the bundle has no confirmation"));
                }
                return Ok(());
            }
        };
        let status = text(c, "/status", P)?.to_string();
        let decided = opt_text(c, "/decided_at").map(str::to_owned);
        let mut signed = false;
        if let Some(token) = c.get("receipt").and_then(Value::as_str) {
            let typ = purser_ap2::unverified_header(token)
                .ok()
                .and_then(|h| h.get("typ").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            if !typ.starts_with("purser-") || !typ.ends_with("+jwt") || typ == RECEIPT_TYP || typ == SEAL_TYP {
                return Err(fail(P, "signature_invalid", "the confirmation receipt is not a Purser confirmation JWS"));
            }
            let key = self.key_for(token, "confirmation receipt", P)?;
            let claims = purser_ap2::verify_jwt(token, &key, &typ).map_err(|e| {
                fail(P, "signature_invalid", format!("the confirmation receipt's signature does not verify: {e}"))
            })?;
            if claims.get("payment_id").and_then(Value::as_str) != self.facts.payment_id.as_deref() {
                return Err(fail(P, "receipt_mismatch", "the confirmation receipt is for another payment"));
            }
            signed = true;
            self.pass(P, "Purser's signature on the confirmation receipt verifies and names this payment");
        }
        self.facts.confirmation = Some((status, decided, signed));
        Ok(())
    }

    // ---- the timeline --------------------------------------------------------------------

    fn timeline(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "timeline";
        let events = doc.get(P).and_then(Value::as_array).ok_or_else(|| fail(P, "field_missing", "timeline is missing or not a list"))?;
        if events.len() as i64 > MAX_TIMELINE_EVENTS {
            return Err(fail(P, "timeline_invalid", format!("the timeline has more than {MAX_TIMELINE_EVENTS} events")));
        }
        for (i, e) in events.iter().enumerate() {
            let kind = e.get("type").and_then(Value::as_str).ok_or_else(|| fail(P, "field_missing", format!("timeline[{i}] has no type")))?;
            let at = e.get("at").and_then(Value::as_str).unwrap_or("");
            if let Some(pid) = e.pointer("/data/payment_id") {
                if pid.as_str() != self.facts.payment_id.as_deref() {
                    return Err(fail(P, "event_mismatch", format!("timeline[{i}] ({}) is about another payment", short(kind))));
                }
            }
            self.facts.timeline.push(format!("{at} {kind}"));
        }
        self.facts.timeline_complete = doc.get("timeline_complete").and_then(Value::as_bool).unwrap_or(false);
        self.pass(P, format!("{} event(s), each about this payment", events.len()));
        Ok(())
    }

    // ---- the ledger entries --------------------------------------------------------------

    fn ledger(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "ledger";
        let head_seq = int(doc, "/ledger/head/seq", P)?;
        let head_hash = text(doc, "/ledger/head/hash", P)?.to_string();
        let entries = doc
            .pointer("/ledger/entries")
            .and_then(Value::as_array)
            .ok_or_else(|| fail(P, "field_missing", "ledger.entries is missing or not a list"))?;
        let pid = self.facts.payment_id.clone().unwrap_or_default();
        let hold_id = format!("hold:{pid}");
        let mut prev: Option<(i64, Hash)> = None;
        let mut parsed: Vec<(i64, Entry)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let seq = int(e, "/seq", P)?;
            let at = |m: &str| fail(P, "entry_invalid", format!("ledger entry #{seq}: {m}"));
            let hash = hash_hex(text(e, "/hash", P)?).ok_or_else(|| at("its hash is not 64 hex digits"))?;
            let prev_hash = hash_hex(text(e, "/prev_hash", P)?).ok_or_else(|| at("its prev_hash is not 64 hex digits"))?;
            let body = text(e, "/body", P)?;
            if seq < 1 || seq > head_seq {
                return Err(at("it is outside the chain (before #1 or after the head)"));
            }
            if chain_hash(&prev_hash, seq, body.as_bytes()) != hash {
                return Err(fail(
                    P,
                    "entry_hash_mismatch",
                    format!("ledger entry #{seq}: its hash is not SHA-256 of its previous hash, number and body: the entry was changed"),
                ));
            }
            match prev {
                Some((s, _)) if s >= seq => return Err(at("entries are not in increasing order")),
                Some((s, h)) if s + 1 == seq && h != prev_hash => {
                    return Err(at("its prev_hash is not the hash of the entry before it"))
                }
                _ => {}
            }
            if seq == head_seq && hex::encode(hash) != head_hash {
                return Err(at("it is the head entry but its hash is not the head's"));
            }
            let entry = Entry::parse(body).map_err(|m| at(&m))?;
            let indexed = entry.transfer_id().map(|t| t.as_str().to_string());
            if e.get("at").and_then(Value::as_i64) != Some(entry.at.0)
                || e.get("kind").and_then(Value::as_str) != Some(entry.kind())
                || e.get("transfer_id").and_then(Value::as_str).map(str::to_owned) != indexed
            {
                return Err(at("its at, kind or transfer_id is not what its hashed body says"));
            }
            let _ = i;
            prev = Some((seq, hash));
            parsed.push((seq, entry));
        }
        self.pass(P, format!("{} entr(ies): each hash recomputed from its previous hash, number and body", parsed.len()));

        // What the entries say about this payment's money.
        let c = self.facts.currency.ok_or_else(|| fail(P, "entry_invalid", "no currency"))?;
        let merchant_acct = format!(
            "merchant:{}:{}",
            doc.pointer("/payment/merchant/id").and_then(Value::as_str).unwrap_or(""),
            c.code()
        );
        let funding = doc.pointer("/payment/funding_source").and_then(Value::as_str).unwrap_or("");
        let user = doc.pointer("/payment/user_id").and_then(Value::as_str).unwrap_or("");
        let funding_acct = if funding == "wallet" {
            Some(format!("wallet:{user}:{}", c.code()))
        } else if funding.starts_with("ecd_") {
            Some(format!("ecard:{funding}"))
        } else {
            None
        };
        let refunds = doc.pointer("/payment/refunds").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut refund_total: i64 = 0;
        let mut refund_ids: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for (i, r) in refunds.iter().enumerate() {
            let id = text(r, "/id", "payment")?;
            let amount = int(r, "/amount/amount", "payment")?;
            let status = text(r, "/status", "payment")?;
            if amount <= 0 {
                return Err(fail("payment", "summary_inconsistent", format!("payment.refunds[{i}] is not a positive amount")));
            }
            refund_total = refund_total.checked_add(amount).ok_or_else(|| fail("payment", "summary_inconsistent", "the refunds overflow"))?;
            refund_ids.insert(format!("refund:{id}"), (amount, status.to_string()));
        }
        if refund_total != self.facts.refunded {
            return Err(fail(
                "payment",
                "summary_inconsistent",
                format!("the refunds listed add up to {}, but the payment says {} was refunded", self.money(refund_total), self.money(self.facts.refunded)),
            ));
        }
        let mut hold: Option<i64> = None;
        let mut captured: Option<i64> = None;
        let mut moved_refunds: BTreeMap<String, i64> = BTreeMap::new();
        for (seq, entry) in &parsed {
            let bad = |m: String| fail(P, "entry_mismatch", format!("ledger entry #{seq}: {m}"));
            match &entry.event {
                Event::TransferCreated { transfer: t } => {
                    let id = t.id.as_str();
                    if t.currency != c {
                        return Err(bad(format!("it moves {}, not the payment's {}", t.currency.code(), c.code())));
                    }
                    match &t.kind {
                        TransferKind::Hold { .. } if id == hold_id => {
                            if t.amount != self.facts.amount {
                                return Err(bad(format!("it holds {}, but the payment is {}", self.money(t.amount), self.money(self.facts.amount))));
                            }
                            if t.credit_account_id.as_str() != merchant_acct {
                                return Err(bad("it holds the money for another merchant".into()));
                            }
                            if let Some(f) = &funding_acct {
                                if t.debit_account_id.as_str() != f {
                                    return Err(bad(format!("it takes the money from {}, not the payment's funding source", t.debit_account_id.as_str())));
                                }
                            }
                            hold = Some(entry.at.0);
                            self.facts.hold_at = Some(entry.at.0);
                        }
                        TransferKind::Post { pending_id } if id == format!("capture:{pid}") && pending_id.as_str() == hold_id => {
                            captured = Some(t.amount);
                            self.facts.capture_at = Some(entry.at.0);
                        }
                        TransferKind::Void { pending_id } if id == format!("void:{pid}") && pending_id.as_str() == hold_id => {
                            self.facts.released = Some(("voided", entry.at.0));
                        }
                        TransferKind::Single if refund_ids.contains_key(id) => {
                            if t.debit_account_id.as_str() != merchant_acct {
                                return Err(bad("the refund does not come from the merchant's account".into()));
                            }
                            if refund_ids.get(id).map(|r| r.0) != Some(t.amount) {
                                return Err(bad(format!("it refunds {}, not the amount the payment lists for {id}", self.money(t.amount))));
                            }
                            moved_refunds.insert(id.to_string(), t.amount);
                            self.facts.refunds_moved.push((t.amount, entry.at.0));
                        }
                        _ => return Err(bad(format!("transfer {} is not part of this payment", short(id)))),
                    }
                }
                Event::HoldExpired { pending_id } if pending_id.as_str() == hold_id => {
                    self.facts.released = Some(("expired", entry.at.0));
                }
                _ => return Err(bad("it is not part of this payment".into())),
            }
        }
        if captured.unwrap_or(0) != self.facts.captured {
            return Err(fail(
                "payment",
                "summary_mismatch",
                format!(
                    "the payment says {} was captured, but the ledger entries show {}",
                    self.money(self.facts.captured),
                    self.money(captured.unwrap_or(0))
                ),
            ));
        }
        if captured.is_some() && hold.is_none() {
            return Err(fail(P, "entry_missing", "the capture's hold entry is missing"));
        }
        for (id, (_, status)) in &refund_ids {
            if status == "succeeded" && !moved_refunds.contains_key(id) {
                return Err(fail(P, "entry_missing", format!("the ledger entry of the succeeded refund {} is missing", short(id))));
            }
        }
        let ended = ["voided", "expired", "declined", "failed"].contains(&self.facts.status.as_str());
        if ended && hold.is_some() && self.facts.released.is_none() {
            return Err(fail(P, "entry_missing", format!("the payment is {}, but no entry releases its hold", self.facts.status)));
        }
        self.pass(P, "held, captured and refunded amounts in the entries agree with the payment");
        self.facts.seqs = parsed.iter().map(|(s, _)| *s).collect();
        self.facts.head = Some((head_seq, head_hash));
        Ok(())
    }

    // ---- the seal ------------------------------------------------------------------------

    fn seal(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "seal";
        let token = doc.get(P).and_then(Value::as_str).ok_or_else(|| fail(P, "seal_missing", "the bundle is not sealed"))?;
        let key = self.key_for(token, "seal", P)?;
        let claims = purser_ap2::verify_jwt(token, &key, SEAL_TYP).map_err(|e| {
            fail(P, "signature_invalid", format!("the seal's signature does not verify: {e}"))
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
        let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0).saturating_mul(1000);
        self.facts.sealed = Some((iat, kid));
        self.pass(P, "Purser's seal verifies over the SHA-256 of everything else in the bundle");
        Ok(())
    }

    // ---- in words ------------------------------------------------------------------------

    fn proven(&self) -> Vec<String> {
        let f = &self.facts;
        let mut out = Vec::new();
        let items = f
            .items
            .iter()
            .map(|(t, q)| if *q == 1 { t.clone() } else { format!("{q} × {t}") })
            .collect::<Vec<_>>()
            .join(", ");
        let signed_at = f.signed_at.map(|t| format!(" at {}", when(t))).unwrap_or_default();
        let mandate = f.mandate_id.clone().unwrap_or_default();
        out.push(format!(
            "The agent {} with key {} signed a request{signed_at} to pay {} to {} for {items}, relying on mandate {mandate}.",
            f.agent_id,
            f.keyid,
            self.money(f.amount),
            f.merchant,
        ));
        match &f.decision {
            Some((d, at, reasons)) => {
                let words = f
                    .mandate_words
                    .as_ref()
                    .map(|w| format!(" (\u{201c}{w}\u{201d})"))
                    .unwrap_or_default();
                let consent = match &f.consented_at {
                    Some(c) => format!(", which the person consented to at {c}"),
                    None => ", to which the person had not consented".into(),
                };
                let what = match d.as_str() {
                    "approved" => "approved it".to_string(),
                    "needs_confirmation" => "held the money and asked the person to confirm it".to_string(),
                    _ => format!("declined it ({})", reasons.join(" ")),
                };
                out.push(format!("Purser {what} at {} under mandate {mandate}{words}{consent}; its signed receipt names the exact request the agent signed and the mandate's content hash.", when(*at)));
            }
            None => out.push("Purser never decided this request (it failed before a decision).".into()),
        }
        if let Some(at) = f.credentials_issued_at {
            let to = match f.credentials_to_signer {
                Some(true) => "to the same agent key",
                _ => "to an earlier key of the agent",
            };
            out.push(format!(
                "Purser issued the mandate's AP2 credentials (checkout and payment open mandates) at {} {to}; both verify.",
                when(at)
            ));
        }
        if let Some((status, decided, signed)) = &f.confirmation {
            let at = decided.as_ref().map(|d| format!(" at {d}")).unwrap_or_default();
            let how = if *signed { "; Purser signed a receipt of it" } else { " (recorded by Purser; no separate signature)" };
            out.push(format!("The person's confirmation is {status}{at}{how}."));
        }
        if let Some(at) = f.hold_at {
            out.push(format!("{} was held in the ledger at {}.", self.money(f.amount), when(at)));
        }
        if let Some(at) = f.capture_at {
            out.push(format!("The merchant captured {} at {}.", self.money(f.captured), when(at)));
        }
        if let Some((how, at)) = f.released {
            out.push(format!("The held money was released ({how}) at {}.", when(at)));
        }
        for (amount, at) in &f.refunds_moved {
            out.push(format!("{} was refunded at {}.", self.money(*amount), when(*at)));
        }
        if f.seqs.is_empty() {
            out.push("No ledger entries: no money was held for this payment.".into());
        } else if let Some((seq, hash)) = &f.head {
            let seqs = f.seqs.iter().map(|s| format!("#{s}")).collect::<Vec<_>>().join(", ");
            out.push(format!(
                "Ledger entries {seqs} link into Purser's hash chain (each hash recomputed from the one before it); the head at export was #{seq} ({}…).",
                hash.chars().take(16).collect::<String>()
            ));
        }
        if let Some((at, kid)) = &f.sealed {
            out.push(format!("Purser sealed this bundle at {} with key {kid}: nothing in it has changed since.", when(*at)));
        }
        out
    }

    fn not_proven(&self) -> Vec<String> {
        let mut out = vec![
            "The ledger entries prove their own links, not the entries between them and the head: `purser ledger verify` on Purser's database checks the whole chain.".to_string(),
            "A capture proves the merchant redeemed the credential, not that the goods were delivered.".to_string(),
        ];
        if self.trust == TrustRoot::Bundle {
            out.push("The keys came from the bundle itself: this shows the bundle is consistent, not that Purser made it. Fetch Purser's published keys (GET /.well-known/jwks.json) and run again with --keys.".into());
        }
        if !self.facts.timeline_complete {
            out.push(format!("The timeline was cut at {MAX_TIMELINE_EVENTS} events."));
        }
        out
    }
}

fn text_of<'a>(doc: &'a Value, ptr: &str, part: &'static str) -> Result<&'a str, Failure> {
    text(doc, ptr, part)
}

fn hash_hex(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}

/// The component lines of an RFC 9421 signature base and its `@signature-params` value.
fn base_lines(base: &str) -> Result<(Vec<(String, String)>, &str), String> {
    let mut comps = Vec::new();
    let mut lines = base.split('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(params) = line.strip_prefix("\"@signature-params\": ") {
            if lines.peek().is_some() {
                return Err("@signature-params is not the last line of the signature base".into());
            }
            return Ok((comps, params));
        }
        let (name, value) = line
            .split_once(": ")
            .ok_or("a line of the signature base is not `\"name\": value`")?;
        comps.push((name.to_string(), value.to_string()));
    }
    Err("the signature base has no @signature-params line".into())
}

/// One parameter of `@signature-params` (`;name=value`, a quoted string unquoted).
fn param(params: &str, name: &str) -> Option<String> {
    let list_end = params.find(')')?;
    let rest = params.get(list_end + 1..)?;
    for p in rest.split(';') {
        if let Some(v) = p.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            return Some(v.trim_matches('"').to_string());
        }
    }
    None
}
