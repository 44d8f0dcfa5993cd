//! The evidence bundle: one JSON file (format `purser-evidence/1`) with everything that settles
//! a dispute about one payment, checkable offline with Purser's public keys.
//!
//! - [`Wallet::evidence`] (this file) gathers it for the payment's owner and seals it;
//! - [`verify::verify_bundle`] checks every signature and hash in it without a server (the CLI's
//!   `purser evidence verify`), and says in plain words what it proves;
//! - [`canonical`] is the one JSON form the seal covers.
//!
//! docs/evidence.md describes each part, what it proves and what it does not.

pub mod canonical;
pub mod verify;

#[cfg(test)]
mod tests;

use purser_ap2::JwsSigner;
use purser_store::vals;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::access::{Principal, Scope};
use crate::error::{Found, Kind, Result, WalletError};
use crate::funds::transfer_id;
use crate::ids::check_id;
use crate::Wallet;

/// The bundle's `format`.
pub const FORMAT: &str = "purser-evidence/1";
/// The seal's JWS `typ`.
pub const SEAL_TYP: &str = "purser-evidence+jwt";
/// Timeline events exported per payment. A payment has a handful; the bound stops a flood of
/// refused redemption attempts from making an export unbounded (`timeline_complete` says so).
pub const MAX_TIMELINE_EVENTS: i64 = 1_000;
/// Refunds exported per payment (each is at least one minor unit of what was captured).
pub const MAX_REFUNDS: i64 = 500;

fn internal(what: &str) -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        format!("could not {what}; nothing was changed — retry the export"),
    )
}

/// Seal `doc` (a bundle without `seal`): an ES256 JWS over the SHA-256 of its canonical form.
pub fn seal(
    mut doc: Map<String, Value>,
    signer: &dyn JwsSigner,
    iss: &str,
    iat_secs: i64,
) -> std::result::Result<Value, purser_ap2::Ap2Error> {
    doc.remove("seal");
    let payment_id = doc
        .get("payment")
        .and_then(|p| p.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let digest = hex::encode(Sha256::digest(
        canonical::canonical(&Value::Object(doc.clone())).as_bytes(),
    ));
    let token = signer.sign_jwt(
        SEAL_TYP,
        &json!({
            "iss": iss,
            "iat": iat_secs,
            "format": FORMAT,
            "payment_id": payment_id,
            "sha256": digest,
        }),
    )?;
    doc.insert("seal".into(), Value::String(token));
    Ok(Value::Object(doc))
}

/// A stored JSON text, read strictly; `None` when it is not (then kept as text).
fn stored_json(text: &str) -> Option<Value> {
    canonical::parse_strict(text).ok()
}

fn money(minor: i64, currency: &str) -> Value {
    json!({"amount": minor, "currency": currency})
}

fn rfc3339(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| {
        Value::String(purser_core::Timestamp(t).to_rfc3339())
    })
}

impl Wallet {
    /// The evidence bundle of one of the user's payments (`payments:read`), sealed with
    /// Purser's active ES256 key.
    pub async fn evidence(&self, who: &Principal, payment_id: &str) -> Result<Value> {
        who.require(Scope::PaymentsRead)?;
        check_id("pay", payment_id, "id")?;
        let p = self
            .db
            .query_opt(
                "SELECT id, status, user_id, agent_id, binding_id, task_id, mandate_id, merchant_id, checkout_id, amount, currency, cart_hash, max_quantity, funding, request, decline_code, reasons, receipt, credential_expires_at, captured, refunded, created_at, updated_at FROM payments WHERE id = $1 AND user_id = $2",
                vals![payment_id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("payment", payment_id))?;
        let status = p.text(1)?;
        if status == "deciding" {
            return Err(WalletError::conflict(
                "payment_undecided",
                "this payment is still being decided; export its evidence once it has an outcome",
            ));
        }
        let user_id = p.text(2)?;
        let mandate_id = p.opt_text(6)?;
        let merchant_id = p.text(7)?;
        let currency = p.text(10)?;
        let receipt = p.opt_text(17)?;
        let request = stored_json(&p.text(14)?)
            .filter(Value::is_object)
            .ok_or_else(|| internal("read the payment's signed request"))?;

        let merchant = self
            .db
            .query_opt(
                "SELECT name, website, country, category FROM merchants WHERE id = $1",
                vals![&merchant_id],
            )
            .await?;
        let merchant = match merchant {
            Some(m) => json!({"id": merchant_id, "name": m.text(0)?, "website": m.text(1)?,
                              "country": m.opt_text(2)?, "category": m.opt_text(3)?}),
            None => {
                json!({"id": merchant_id, "name": null, "website": null, "country": null, "category": null})
            }
        };

        let refund_rows = self
            .db
            .query(
                "SELECT id, amount, status, created_at, updated_at FROM payment_refunds WHERE payment_id = $1 ORDER BY created_at, id LIMIT $2",
                vals![payment_id, MAX_REFUNDS + 1],
            )
            .await?;
        if refund_rows.len() as i64 > MAX_REFUNDS {
            return Err(WalletError::conflict(
                "evidence_too_large",
                format!("this payment has more than {MAX_REFUNDS} refunds, more than one evidence file holds"),
            ));
        }
        let mut refunds = Vec::with_capacity(refund_rows.len());
        let mut refund_ids = Vec::with_capacity(refund_rows.len());
        for r in &refund_rows {
            let id = r.text(0)?;
            refunds.push(json!({
                "id": id,
                "amount": money(r.int(1)?, &currency),
                "status": r.text(2)?,
                "created_at": rfc3339(Some(r.int(3)?)),
                "updated_at": rfc3339(Some(r.int(4)?)),
            }));
            refund_ids.push(id);
        }

        let payment = json!({
            "id": p.text(0)?,
            "status": status,
            "user_id": user_id,
            "agent_id": p.text(3)?,
            "binding_id": p.text(4)?,
            "task_id": p.text(5)?,
            "mandate_id": mandate_id,
            "merchant": merchant,
            "checkout_id": p.opt_text(8)?,
            "amount": money(p.int(9)?, &currency),
            "captured": money(p.int(19)?, &currency),
            "refunded": money(p.int(20)?, &currency),
            "funding_source": p.text(13)?,
            "cart_hash": p.text(11)?,
            "max_quantity": p.int(12)?,
            "decline_code": p.opt_text(15)?,
            "reasons": stored_json(&p.text(16)?).unwrap_or(Value::Array(vec![])),
            "credential_expires_at": rfc3339(p.opt_int(18)?),
            "created_at": rfc3339(Some(p.int(21)?)),
            "updated_at": rfc3339(Some(p.int(22)?)),
            "refunds": refunds,
        });

        let mut kids: Vec<String> = Vec::new();
        let mut note_kid = |token: &str| {
            if let Some(k) = purser_ap2::unverified_header(token)
                .ok()
                .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_owned))
            {
                kids.push(k);
            }
        };
        if let Some(r) = &receipt {
            note_kid(r);
        }

        let mandate = match &mandate_id {
            None => Value::Null,
            Some(mid) => {
                let m = self
                    .db
                    .query_opt(
                        "SELECT content, content_hash, timezone, status, consented_at, revoked_at, revoked_reason, issuer_kid, agent_kid, checkout_credential, payment_credential, credential_expires_at FROM mandates WHERE id = $1 AND user_id = $2",
                        vals![mid, &user_id],
                    )
                    .await?;
                match m {
                    None => Value::Null,
                    Some(m) => {
                        // The status as of now (expired, used up) is what gets sealed: a
                        // store that could not answer fails the export (retry), never seals
                        // the stored status in its place.
                        let status = match self.load_mandate(&user_id, mid).await.found()? {
                            Some(rec) => rec.status,
                            None => m.text(3)?,
                        };
                        let credentials = match (m.opt_text(7)?, m.opt_text(9)?, m.opt_text(10)?) {
                            (Some(issuer_kid), Some(checkout), Some(payment)) => {
                                kids.push(issuer_kid.clone());
                                json!({
                                    "issuer_kid": issuer_kid,
                                    "agent_kid": m.opt_text(8)?,
                                    "checkout": checkout,
                                    "payment": payment,
                                    "expires_at": rfc3339(m.opt_int(11)?),
                                })
                            }
                            _ => Value::Null,
                        };
                        json!({
                            "id": mid,
                            "content": m.text(0)?,
                            "content_hash": m.text(1)?,
                            "timezone": m.text(2)?,
                            "status": status,
                            "consented_at": rfc3339(m.opt_int(4)?),
                            "revoked_at": rfc3339(m.opt_int(5)?),
                            "revoked_reason": m.opt_text(6)?,
                            "credentials": credentials,
                        })
                    }
                }
            }
        };

        let confirmation = match self
            .db
            .query_opt(
                "SELECT id, status, expires_at, decided_at, method, receipt, created_at FROM confirmations WHERE payment_id = $1",
                vals![payment_id],
            )
            .await?
        {
            None => Value::Null,
            Some(c) => {
                let receipt = c.opt_text(5)?;
                if let Some(r) = &receipt {
                    if let Some(k) = purser_ap2::unverified_header(r)
                        .ok()
                        .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_owned))
                    {
                        kids.push(k);
                    }
                }
                json!({
                    "id": c.text(0)?,
                    "status": c.text(1)?,
                    "created_at": rfc3339(Some(c.int(6)?)),
                    "expires_at": rfc3339(Some(c.int(2)?)),
                    "decided_at": rfc3339(c.opt_int(3)?),
                    "method": c.opt_text(4)?,
                    "receipt": receipt,
                })
            }
        };

        let events = self
            .db
            .query(
                "SELECT id, type, data, created_at FROM events WHERE payment_id = $1 ORDER BY created_at, id LIMIT $2",
                vals![payment_id, MAX_TIMELINE_EVENTS + 1],
            )
            .await?;
        let complete = events.len() as i64 <= MAX_TIMELINE_EVENTS;
        let mut timeline = Vec::with_capacity(events.len());
        for e in events.iter().take(MAX_TIMELINE_EVENTS as usize) {
            let data = e.text(2)?;
            timeline.push(json!({
                "id": e.text(0)?,
                "type": e.text(1)?,
                "at": rfc3339(Some(e.int(3)?)),
                "data": stored_json(&data).unwrap_or(Value::String(data)),
            }));
        }

        let mut ids = vec![
            transfer_id(&format!("hold:{payment_id}"))?,
            transfer_id(&format!("capture:{payment_id}"))?,
            transfer_id(&format!("void:{payment_id}"))?,
        ];
        for r in &refund_ids {
            ids.push(transfer_id(&format!("refund:{r}"))?);
        }
        let excerpt = self.ledger.journal_excerpt(&ids).await?;
        let entries: Vec<Value> = excerpt
            .entries
            .iter()
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "at": e.at,
                    "kind": e.kind,
                    "transfer_id": e.transfer_id,
                    "body": e.body,
                    "hash": hex::encode(e.hash),
                    "prev_hash": hex::encode(e.prev_hash),
                })
            })
            .collect();
        let ledger = json!({
            "entries": entries,
            "head": {"seq": excerpt.head.seq, "hash": hex::encode(excerpt.head.hash), "at": excerpt.head.at},
        });

        let (seal_kid, signer) = self.es256_signer().await?;
        kids.push(seal_kid);
        let keys = self.keys_for(&kids).await?;

        let now = self.now();
        let mut doc = Map::new();
        doc.insert("format".into(), json!(FORMAT));
        doc.insert("issuer".into(), json!(self.issuer()));
        doc.insert("exported_at".into(), json!(now.to_rfc3339()));
        doc.insert("payment".into(), payment);
        doc.insert("mandate".into(), mandate);
        doc.insert("request".into(), request);
        doc.insert("decision_receipt".into(), json!(receipt));
        doc.insert("confirmation".into(), confirmation);
        doc.insert("timeline".into(), Value::Array(timeline));
        doc.insert("timeline_complete".into(), json!(complete));
        doc.insert("ledger".into(), ledger);
        doc.insert("keys".into(), keys);
        seal(doc, &*signer, &self.issuer(), now.0.div_euclid(1000))
            .map_err(|_| internal("seal the evidence"))
    }

    /// Purser's published keys, plus any of `kids` no longer published (a key retired long
    /// ago still checks what it signed).
    async fn keys_for(&self, kids: &[String]) -> Result<Value> {
        let mut jwks = self.jwks().await?;
        let Some(keys) = jwks.get_mut("keys").and_then(Value::as_array_mut) else {
            return Err(internal("read Purser's public keys"));
        };
        for kid in kids {
            if keys
                .iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            {
                continue;
            }
            if let Some(r) = self
                .db
                .query_opt(
                    "SELECT public_jwk FROM signing_keys WHERE kid = $1",
                    vals![kid],
                )
                .await?
            {
                if let Some(k) = stored_json(&r.text(0)?) {
                    keys.push(k);
                }
            }
        }
        Ok(jwks)
    }
}
