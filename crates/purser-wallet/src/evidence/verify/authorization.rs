//! What was authorized: the mandate and its AP2 credentials, Purser's decision receipt, the
//! person's confirmation, and the timeline.

use super::*;

impl Verifier {
    // ---- the mandate and its AP2 credentials ---------------------------------------------

    pub(super) fn mandate(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "mandate";
        let m = doc.get("mandate").filter(|m| !m.is_null()).ok_or_else(|| {
            fail(
                P,
                "mandate_missing",
                "the bundle has no mandate, but the payment names one",
            )
        })?;
        let id = text(m, "/id", P)?;
        if Some(id) != self.facts.mandate_id.as_deref() {
            return Err(fail(
                P,
                "mandate_mismatch",
                "mandate.id is not the mandate the payment names",
            ));
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
        self.pass(
            P,
            "the mandate's content_hash is the SHA-256 of its content",
        );
        let scheduled_check = if let Some(s) = &self.facts.scheduled {
            let parsed = serde_json::from_str::<Mandate>(content).map_err(|e| {
                fail(
                    P,
                    "mandate_invalid",
                    format!("the mandate's content is not a mandate: {e}"),
                )
            })?;
            let sched = parsed.schedule.as_ref().ok_or_else(|| {
                fail(
                    P,
                    "schedule_mismatch",
                    "the payment says Purser's scheduler made it, but the mandate has no schedule",
                )
            })?;
            let rec = parsed.when.recurrence;
            let mismatch = |what: &str| {
                fail(
                    P,
                    "schedule_mismatch",
                    format!(
                        "the scheduled payment's {what} is not what the consented schedule says"
                    ),
                )
            };
            if s.mandate_id != id {
                return Err(mismatch("mandate"));
            }
            if s.merchant_id != sched.merchant_id {
                return Err(mismatch("merchant"));
            }
            if s.total != (sched.amount.minor, sched.amount.currency.code().to_string()) {
                return Err(mismatch("amount"));
            }
            if rec.max_occurrences.is_some_and(|m| s.occurrence > m) {
                return Err(mismatch("occurrence number (beyond the maximum)"));
            }
            if sched.due_at(rec.frequency, s.occurrence).map(|t| t.0) != Some(s.due_at) {
                return Err(mismatch("due time"));
            }
            Some(format!(
                "the consented mandate's schedule charges {} to {} {}, and occurrence {} is due at {}: the payment is exactly that",
                sched.amount.with_symbol(),
                sched.merchant_id,
                rec.frequency.adverb(),
                s.occurrence,
                when(s.due_at)
            ))
        } else {
            None
        };
        if let Some(check) = scheduled_check {
            self.pass(P, check);
        }
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
                fail(
                    C,
                    "credential_invalid",
                    format!("the AP2 {field} credential does not verify: {e}"),
                )
            };
            let chain = purser_ap2::parse_chain(cred).map_err(|e| bad(e.to_string()))?;
            let root = chain
                .hops
                .first()
                .ok_or_else(|| bad("it is empty".into()))?;
            let claims = purser_ap2::verify_jwt(root.jwt, &key, purser_ap2::ROOT_TYP)
                .map_err(|e| bad(e.to_string()))?;
            let iat = claims
                .get("iat")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("it has no iat".into()))?;
            // As of its issue: evidence is read long after a credential expires.
            let at = Timestamp(iat.saturating_mul(1000));
            let verified = purser_ap2::verify_chain(cred, &VerifyOptions::new(key.clone(), at))
                .map_err(|e| bad(e.to_string()))?;
            if claims
                .get(purser_ap2::MANDATE_ID_CLAIM)
                .and_then(Value::as_str)
                != Some(id)
            {
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
            self.pass(
                C,
                format!("the AP2 {vct} credential for {id} verifies under Purser's key {kid}"),
            );
        }
        Ok(())
    }

    // ---- Purser's decision receipt -------------------------------------------------------

    pub(super) fn receipt(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "decision_receipt";
        let Some(token) = doc.get(P).and_then(Value::as_str) else {
            if self.facts.status == "failed" {
                self.pass(
                    P,
                    "no decision receipt: the request failed before Purser decided it",
                );
                return Ok(());
            }
            return Err(fail(
                P,
                "receipt_missing",
                "the bundle has no decision receipt for a decided payment",
            ));
        };
        let key = self.key_for(token, "decision receipt", P)?;
        let c = purser_ap2::verify_jwt(token, &key, RECEIPT_TYP).map_err(|e| {
            fail(
                P,
                "signature_invalid",
                format!("the decision receipt's signature does not verify: {e}"),
            )
        })?;
        self.pass(
            P,
            "Purser's ES256 signature on the decision receipt verifies",
        );
        let c = Value::Object(c);
        let p = doc.get("payment").cloned().unwrap_or(Value::Null);
        let said = |ptr: &str| c.pointer(ptr).cloned().unwrap_or(Value::Null);
        let (request_hash, mut expect): (String, Vec<(&str, Value, Value)>) =
            match &self.facts.scheduled {
                Some(s) => (
                    sha256_hex(s.body.as_bytes()),
                    vec![
                        ("request.via", said("/request/via"), json!("schedule")),
                        (
                            "request.occurrence",
                            said("/request/occurrence"),
                            json!(s.occurrence),
                        ),
                        ("request.due_at", said("/request/due_at"), json!(s.due_at)),
                    ],
                ),
                None => (
                    sha256_hex(text(doc, "/request/signature_base", "request")?.as_bytes()),
                    Vec::new(),
                ),
            };
        expect.extend(vec![
            (
                "payment_id",
                said("/payment_id"),
                p.get("id").cloned().unwrap_or(Value::Null),
            ),
            (
                "request.sha256",
                said("/request/sha256"),
                json!(request_hash),
            ),
            (
                "request.signature",
                said("/request/signature"),
                doc.pointer("/request/signature")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            ("agent.kid", said("/agent/kid"), json!(self.facts.keyid)),
            ("agent.id", said("/agent/id"), json!(self.facts.agent_id)),
            (
                "user_id",
                said("/user_id"),
                p.get("user_id").cloned().unwrap_or(Value::Null),
            ),
            (
                "task_id",
                said("/task_id"),
                p.get("task_id").cloned().unwrap_or(Value::Null),
            ),
            (
                "merchant_id",
                said("/merchant_id"),
                p.pointer("/merchant/id").cloned().unwrap_or(Value::Null),
            ),
            (
                "mandate.id",
                said("/mandate/id"),
                p.get("mandate_id").cloned().unwrap_or(Value::Null),
            ),
            (
                "mandate.content_hash",
                said("/mandate/content_hash"),
                doc.pointer("/mandate/content_hash")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            (
                "amount.amount",
                said("/amount/amount"),
                p.pointer("/amount/amount").cloned().unwrap_or(Value::Null),
            ),
            (
                "amount.currency",
                said("/amount/currency"),
                p.pointer("/amount/currency")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
        ]);
        for (what, receipt, bundle) in expect {
            if receipt != bundle {
                return Err(fail(
                    P,
                    "receipt_mismatch",
                    format!(
                        "the decision receipt's {what} is {}, but the bundle says {}",
                        short(&receipt.to_string()),
                        short(&bundle.to_string())
                    ),
                ));
            }
        }
        self.pass(P, "the receipt names this payment, the SHA-256 of the agent's signature base, the agent key, the mandate's content hash and the amount");
        let decision = c.get("decision").and_then(Value::as_str).unwrap_or("");
        let status = self.facts.status.as_str();
        let consistent = match decision {
            "declined" => status == "declined",
            "approved" => {
                !["declined", "needs_confirmation", "deciding", "failed"].contains(&status)
            }
            "needs_confirmation" => status != "deciding" && status != "failed",
            _ => false,
        };
        if !consistent {
            return Err(fail(
                "payment",
                "summary_inconsistent",
                format!(
                    "the payment is {} but Purser's decision was {}",
                    short(status),
                    short(decision)
                ),
            ));
        }
        let reasons = c
            .get("reasons")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|x| x.get("message").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let iat = c
            .get("iat")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .saturating_mul(1000);
        self.facts.decision = Some((decision.to_string(), iat, reasons));
        Ok(())
    }

    // ---- the person's confirmation -------------------------------------------------------

    pub(super) fn confirmation(&mut self, doc: &Value) -> Result<(), Failure> {
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
            // Approving signs a second decision receipt: the approval, with who, how and when.
            let key = self.key_for(token, "confirmation receipt", P)?;
            let claims = purser_ap2::verify_jwt(token, &key, RECEIPT_TYP).map_err(|e| {
                fail(
                    P,
                    "signature_invalid",
                    format!("the confirmation receipt's signature does not verify: {e}"),
                )
            })?;
            let claims = Value::Object(claims);
            let p = doc.get("payment").cloned().unwrap_or(Value::Null);
            let said = |ptr: &str| claims.pointer(ptr).cloned().unwrap_or(Value::Null);
            let expect: [(&str, Value, Value); 6] = [
                (
                    "payment_id",
                    said("/payment_id"),
                    p.get("id").cloned().unwrap_or(Value::Null),
                ),
                (
                    "confirmation.id",
                    said("/confirmation/id"),
                    c.get("id").cloned().unwrap_or(Value::Null),
                ),
                (
                    "user_id",
                    said("/user_id"),
                    p.get("user_id").cloned().unwrap_or(Value::Null),
                ),
                (
                    "merchant_id",
                    said("/merchant_id"),
                    p.pointer("/merchant/id").cloned().unwrap_or(Value::Null),
                ),
                (
                    "amount.amount",
                    said("/amount/amount"),
                    p.pointer("/amount/amount").cloned().unwrap_or(Value::Null),
                ),
                ("decision", said("/decision"), json!(status)),
            ];
            for (what, receipt, bundle) in expect {
                if receipt != bundle {
                    return Err(fail(
                        P,
                        "receipt_mismatch",
                        format!(
                            "the confirmation receipt's {what} is {}, but the bundle says {}",
                            short(&receipt.to_string()),
                            short(&bundle.to_string())
                        ),
                    ));
                }
            }
            signed = true;
            self.pass(
                P,
                "Purser's signed receipt of the person's approval verifies and names this payment, confirmation, person and amount",
            );
        }
        self.facts.confirmation = Some((status, decided, signed));
        Ok(())
    }

    // ---- the timeline --------------------------------------------------------------------

    pub(super) fn timeline(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "timeline";
        let events = doc
            .get(P)
            .and_then(Value::as_array)
            .ok_or_else(|| fail(P, "field_missing", "timeline is missing or not a list"))?;
        if events.len() as i64 > MAX_TIMELINE_EVENTS {
            return Err(fail(
                P,
                "timeline_invalid",
                format!("the timeline has more than {MAX_TIMELINE_EVENTS} events"),
            ));
        }
        for (i, e) in events.iter().enumerate() {
            let kind = e
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| fail(P, "field_missing", format!("timeline[{i}] has no type")))?;
            let at = e.get("at").and_then(Value::as_str).unwrap_or("");
            if let Some(pid) = e.pointer("/data/payment_id") {
                if pid.as_str() != self.facts.payment_id.as_deref() {
                    return Err(fail(
                        P,
                        "event_mismatch",
                        format!("timeline[{i}] ({}) is about another payment", short(kind)),
                    ));
                }
            }
            self.facts.timeline.push(format!("{at} {kind}"));
        }
        self.facts.timeline_complete = doc
            .get("timeline_complete")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.pass(
            P,
            format!(
                "{}, each about this payment",
                count(events.len(), "event", "events")
            ),
        );
        Ok(())
    }
}
