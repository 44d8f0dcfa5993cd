//! The agent's signed request, and the payment summary held against what it signed.

use super::*;

/// The payment request inside a signed MCP message: the arguments of a `tools/call` of
/// `request_payment`, less its `idempotency_key` (sent as the Idempotency-Key, not the body).
fn mcp_payment_body(body: &str) -> Result<PaymentBody, Failure> {
    let bad = |why: &str| {
        fail(
            "request",
            "body_invalid",
            format!("the signed MCP message is not a request_payment tool call: {why}"),
        )
    };
    let v: Value = serde_json::from_str(body).map_err(|e| bad(&e.to_string()))?;
    if v["jsonrpc"] != "2.0" || v["method"] != "tools/call" {
        return Err(bad("it is not a JSON-RPC 2.0 tools/call request"));
    }
    if v["params"]["name"] != "request_payment" {
        return Err(bad("it calls another tool"));
    }
    let mut args = match v["params"].get("arguments") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(bad("it has no arguments object")),
    };
    args.remove("idempotency_key");
    serde_json::from_value(Value::Object(args)).map_err(|e| bad(&e.to_string()))
}

impl Verifier {
    // ---- the agent's signed request ------------------------------------------------------

    pub(super) fn request(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "request";
        if doc.pointer("/request/origin").and_then(Value::as_str) == Some("schedule") {
            return self.scheduled_request(doc);
        }
        let keyid = text(doc, "/request/keyid", P)?;
        let base = text(doc, "/request/signature_base", P)?;
        let sig = text(doc, "/request/signature", P)?;
        let body = text(doc, "/request/body", P)?;
        let jwk = doc
            .pointer("/request/agent_jwk")
            .ok_or_else(|| fail(P, "field_missing", "request.agent_jwk is missing"))?;
        let key = Ed25519PublicKey::from_jwk(jwk).map_err(|e| {
            fail(
                P,
                "agent_key_invalid",
                format!("request.agent_jwk is not an Ed25519 public key: {e}"),
            )
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
            .ok_or_else(|| {
                fail(
                    P,
                    "agent_signature_invalid",
                    "request.signature is not a base64url Ed25519 signature",
                )
            })?;
        if !key.verifies(base.as_bytes(), &sig) {
            return Err(fail(
                P,
                "agent_signature_invalid",
                "the agent's Ed25519 signature does not verify over request.signature_base with request.agent_jwk",
            ));
        }
        self.pass(
            P,
            format!("the agent's Ed25519 signature verifies over the signature base (key {keyid})"),
        );
        let (components, params) =
            base_lines(base).map_err(|e| fail(P, "signature_base_invalid", e))?;
        let component = |name: &str| {
            components
                .iter()
                .find(|(n, _)| n == &format!("\"{name}\""))
                .map(|(_, v)| v.as_str())
        };
        if param(params, "keyid").as_deref() != Some(keyid) {
            return Err(fail(
                P,
                "signature_base_invalid",
                "the signature base's keyid is not request.keyid",
            ));
        }
        let path = component("@path");
        if component("@method") != Some("POST")
            || (path != Some(PAYMENT_PATH) && path != Some(MCP_PATH))
        {
            return Err(fail(
                P,
                "signature_base_invalid",
                format!("the signature base does not cover POST {PAYMENT_PATH} (or a request_payment tool call at POST {MCP_PATH}): it is not a payment request"),
            ));
        }
        self.facts.via_mcp = path == Some(MCP_PATH);
        let digest = component("content-digest").ok_or_else(|| {
            fail(
                P,
                "signature_base_invalid",
                "the signature base does not cover content-digest, so it does not bind the body",
            )
        })?;
        verify_content_digest(digest.as_bytes(), body.as_bytes()).map_err(|e| {
            fail(
                P,
                "body_digest_mismatch",
                format!("request.body is not the body the agent signed: {e}"),
            )
        })?;
        self.pass(
            P,
            "the signed content-digest is the SHA-256 of request.body",
        );
        self.facts.keyid = keyid.to_string();
        self.facts.signed_at = param(params, "created")
            .and_then(|c| c.parse::<i64>().ok())
            .and_then(|s| s.checked_mul(1000));
        Ok(())
    }

    /// A payment Purser's scheduler made for a recurring mandate (Token Pay): there is no
    /// agent signature; what it charged is held against the consented mandate's schedule
    /// (in `mandate`) and the receipt names the SHA-256 of the body Purser built.
    fn scheduled_request(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "request";
        let body = text(doc, "/request/body", P)?;
        let mandate_id = text(doc, "/request/mandate_id", P)?.to_string();
        let occurrence = int(doc, "/request/occurrence", P)?;
        let occurrence = u32::try_from(occurrence)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                fail(
                    P,
                    "field_invalid",
                    "request.occurrence is not an occurrence number",
                )
            })?;
        let due_at = int(doc, "/request/due_at", P)?;
        let b: PaymentBody = serde_json::from_str(body).map_err(|e| {
            fail(
                P,
                "body_invalid",
                format!("the scheduled payment's body is not a payment request: {e}"),
            )
        })?;
        if b.mandate_id != mandate_id {
            return Err(fail(
                P,
                "summary_mismatch",
                "request.mandate_id is not the mandate the scheduled payment's body names",
            ));
        }
        self.facts.keyid = opt_text(doc, "/request/keyid").unwrap_or("").to_string();
        self.facts.scheduled = Some(Scheduled {
            mandate_id,
            occurrence,
            due_at,
            merchant_id: b.merchant.id.clone(),
            total: (b.total.amount, b.total.currency.to_ascii_uppercase()),
            body: body.to_string(),
        });
        self.pass(
            P,
            format!("a scheduled charge (origin schedule): occurrence {occurrence} of a recurring mandate, due at {}; no agent signed it", when(due_at)),
        );
        Ok(())
    }

    // ---- the payment summary against the signed body -------------------------------------

    pub(super) fn payment(&mut self, doc: &Value) -> Result<(), Failure> {
        const P: &str = "payment";
        let body = text(doc, "/request/body", "request")?;
        let b: PaymentBody = if self.facts.via_mcp {
            let b = mcp_payment_body(body)?;
            self.pass(
                "request",
                "the signed body is a JSON-RPC tools/call of request_payment; its arguments are the payment request",
            );
            b
        } else {
            serde_json::from_str(body).map_err(|e| {
                fail(
                    "request",
                    "body_invalid",
                    format!("the signed body is not a payment request: {e}"),
                )
            })?
        };
        let p = doc
            .get("payment")
            .ok_or_else(|| fail(P, "field_missing", "payment is missing"))?;
        let code = text(p, "/amount/currency", P)?;
        let currency = Currency::from_code(code).ok_or_else(|| {
            fail(
                P,
                "currency_unknown",
                format!("payment.amount.currency {} is not a currency", short(code)),
            )
        })?;
        self.facts.currency = Some(currency);
        let amount = int(p, "/amount/amount", P)?;
        let captured = int(p, "/captured/amount", P)?;
        let refunded = int(p, "/refunded/amount", P)?;
        for f in ["/captured/currency", "/refunded/currency"] {
            if text(p, f, P)? != code {
                return Err(fail(
                    P,
                    "summary_inconsistent",
                    format!(
                        "payment{} is not the payment's currency",
                        f.replace('/', ".")
                    ),
                ));
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
        // A payment that presented AP2 closed mandates names its mandate and checkout through
        // them (Purser filled both in; its signed receipt states them).
        let closed = b.ap2.as_ref();
        let signed_mandate = match (b.mandate_id.is_empty(), closed) {
            (true, Some(c)) => crate::payments::ap2::mandate_of(c).unwrap_or_default(),
            _ => b.mandate_id.clone(),
        };
        let signed_checkout = match (&b.checkout_id, closed) {
            (None, Some(c)) => crate::payments::ap2::checkout_id_of(c),
            (c, _) => c.clone(),
        };
        let pairs: [(&str, Option<&str>, Option<&str>); 5] = [
            ("user", opt_text(p, "/user_id"), Some(b.user_id.as_str())),
            ("task", opt_text(p, "/task_id"), Some(b.task_id.as_str())),
            (
                "mandate",
                opt_text(p, "/mandate_id"),
                Some(signed_mandate.as_str()),
            ),
            (
                "merchant",
                opt_text(p, "/merchant/id"),
                Some(b.merchant.id.as_str()),
            ),
            (
                "checkout",
                opt_text(p, "/checkout_id"),
                signed_checkout.as_deref(),
            ),
        ];
        for (what, summary, signed) in pairs {
            if summary != signed {
                return Err(mismatch(
                    what,
                    summary.unwrap_or("none"),
                    signed.unwrap_or("none"),
                ));
            }
        }
        // Read as the decision read it (currency codes in any case).
        let signed_total = crate::funds::positive(b.total.amount, &b.total.currency, "total")
            .map_err(|e| {
                fail(
                    "request",
                    "body_invalid",
                    format!("the signed total is not an amount: {}", e.message),
                )
            })?;
        if signed_total != Money::new(amount, currency) {
            return Err(mismatch(
                "amount",
                &Money::new(amount, currency).to_string(),
                &signed_total.to_string(),
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
        let max_q = items
            .iter()
            .map(|i| i64::from(i.quantity))
            .max()
            .unwrap_or(0);
        if p.get("max_quantity").and_then(Value::as_i64) != Some(max_q) {
            return Err(mismatch(
                "largest quantity",
                &p.get("max_quantity")
                    .map(Value::to_string)
                    .unwrap_or_default(),
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
        self.facts.mandate_id = Some(signed_mandate);
        Ok(())
    }
}

/// `("name", value)` per covered component, in signed order.
type Components = Vec<(String, String)>;

/// The component lines of an RFC 9421 signature base and its `@signature-params` value.
fn base_lines(base: &str) -> Result<(Components, &str), String> {
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
