//! The ledger entries: each one's link in the hash chain, and the money they move against
//! the payment summary.

use super::*;

impl Verifier {
    // ---- the ledger entries --------------------------------------------------------------

    pub(super) fn ledger(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "ledger";
        let head_seq = int(doc, "/ledger/head/seq", P)?;
        let head_hash = text(doc, "/ledger/head/hash", P)?.to_string();
        let entries = doc
            .pointer("/ledger/entries")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                fail(
                    P,
                    "field_missing",
                    "ledger.entries is missing or not a list",
                )
            })?;
        let pid = self.facts.payment_id.clone().unwrap_or_default();
        let hold_id = format!("hold:{pid}");
        let mut prev: Option<(i64, Hash)> = None;
        let mut parsed: Vec<(i64, Entry)> = Vec::new();
        for e in entries {
            let seq = int(e, "/seq", P)?;
            let at = |m: &str| fail(P, "entry_invalid", format!("ledger entry #{seq}: {m}"));
            let hash = hash_hex(text(e, "/hash", P)?)
                .ok_or_else(|| at("its hash is not 64 hex digits"))?;
            let prev_hash = hash_hex(text(e, "/prev_hash", P)?)
                .ok_or_else(|| at("its prev_hash is not 64 hex digits"))?;
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
                || e.get("transfer_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    != indexed
            {
                return Err(at(
                    "its at, kind or transfer_id is not what its hashed body says",
                ));
            }
            prev = Some((seq, hash));
            parsed.push((seq, entry));
        }
        self.pass(
            P,
            format!(
                "{}: each hash recomputed from its previous hash, number and body",
                count(parsed.len(), "entry", "entries")
            ),
        );

        // What the entries say about this payment's money.
        let c = self
            .facts
            .currency
            .ok_or_else(|| fail(P, "entry_invalid", "no currency"))?;
        let merchant_acct = format!(
            "merchant:{}:{}",
            doc.pointer("/payment/merchant/id")
                .and_then(Value::as_str)
                .unwrap_or(""),
            c.code()
        );
        let funding = doc
            .pointer("/payment/funding_source")
            .and_then(Value::as_str)
            .unwrap_or("");
        let user = doc
            .pointer("/payment/user_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let funding_acct = if funding == "wallet" {
            Some(format!("wallet:{user}:{}", c.code()))
        } else if funding.starts_with("ecd_") {
            Some(format!("ecard:{funding}"))
        } else {
            None
        };
        let refunds = doc
            .pointer("/payment/refunds")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut refund_total: i64 = 0;
        let mut refund_ids: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for (i, r) in refunds.iter().enumerate() {
            let id = text(r, "/id", "payment")?;
            let amount = int(r, "/amount/amount", "payment")?;
            let status = text(r, "/status", "payment")?;
            if amount <= 0 {
                return Err(fail(
                    "payment",
                    "summary_inconsistent",
                    format!("payment.refunds[{i}] is not a positive amount"),
                ));
            }
            // A refund the ledger refused is `failed` and was given back: not refunded.
            if status != "failed" {
                refund_total = refund_total.checked_add(amount).ok_or_else(|| {
                    fail("payment", "summary_inconsistent", "the refunds overflow")
                })?;
            }
            refund_ids.insert(format!("refund:{id}"), (amount, status.to_string()));
        }
        if refund_total != self.facts.refunded {
            return Err(fail(
                "payment",
                "summary_inconsistent",
                format!("the refunds listed (other than failed ones) add up to {}, but the payment says {} was refunded", self.money(refund_total), self.money(self.facts.refunded)),
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
                        return Err(bad(format!(
                            "it moves {}, not the payment's {}",
                            t.currency.code(),
                            c.code()
                        )));
                    }
                    match &t.kind {
                        TransferKind::Hold { .. } if id == hold_id => {
                            if t.amount != self.facts.amount {
                                return Err(bad(format!(
                                    "it holds {}, but the payment is {}",
                                    self.money(t.amount),
                                    self.money(self.facts.amount)
                                )));
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
                        TransferKind::Post { pending_id }
                            if id == format!("capture:{pid}") && pending_id.as_str() == hold_id =>
                        {
                            captured = Some(t.amount);
                            self.facts.capture_at = Some(entry.at.0);
                        }
                        TransferKind::Void { pending_id }
                            if id == format!("void:{pid}") && pending_id.as_str() == hold_id =>
                        {
                            self.facts.released = Some(("voided", entry.at.0));
                        }
                        TransferKind::Single if refund_ids.contains_key(id) => {
                            if t.debit_account_id.as_str() != merchant_acct {
                                return Err(bad(
                                    "the refund does not come from the merchant's account".into(),
                                ));
                            }
                            if refund_ids.get(id).map(|r| r.0) != Some(t.amount) {
                                return Err(bad(format!(
                                    "it refunds {}, not the amount the payment lists for {id}",
                                    self.money(t.amount)
                                )));
                            }
                            moved_refunds.insert(id.to_string(), t.amount);
                            self.facts.refunds_moved.push((t.amount, entry.at.0));
                        }
                        _ => {
                            return Err(bad(format!(
                                "transfer {} is not part of this payment",
                                short(id)
                            )))
                        }
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
            return Err(fail(
                P,
                "entry_missing",
                "the capture's hold entry is missing",
            ));
        }
        for (id, (_, status)) in &refund_ids {
            if status == "succeeded" && !moved_refunds.contains_key(id) {
                return Err(fail(
                    P,
                    "entry_missing",
                    format!(
                        "the ledger entry of the succeeded refund {} is missing",
                        short(id)
                    ),
                ));
            }
        }
        let ended =
            ["voided", "expired", "declined", "failed"].contains(&self.facts.status.as_str());
        if ended && hold.is_some() && self.facts.released.is_none() {
            return Err(fail(
                P,
                "entry_missing",
                format!(
                    "the payment is {}, but no entry releases its hold",
                    self.facts.status
                ),
            ));
        }
        self.pass(
            P,
            "held, captured and refunded amounts in the entries agree with the payment",
        );
        self.facts.seqs = parsed.iter().map(|(s, _)| *s).collect();
        self.facts.head = Some((head_seq, head_hash));
        Ok(())
    }
}
