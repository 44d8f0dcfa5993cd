//! The ACP checkout operations: create, update, retrieve, complete and cancel a session. Each
//! runs off the async runtime (SQLite and Purser calls block) and returns the HTTP status and
//! JSON body, or an [`AcpError`].

use purser_core::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::catalog;
use crate::error::AcpError;
use crate::purser_api::PurserError;
use crate::session::{
    shipping_option, Completion, Line, Order, Session, Status, MAX_LINES, MAX_QUANTITY,
    SESSION_LIFETIME_MS,
};
use crate::verify::{verify_mandate, VerifiedAgent};
use crate::Shop;

/// An item as an agent sends it. ACP's `Item` schema has `id`, `name`, `unit_amount`;
/// `quantity` (default 1) is read too, as ACP's own examples send it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemReq {
    pub id: Value,
    #[serde(default)]
    pub name: Option<Value>,
    #[serde(default)]
    pub unit_amount: Option<Value>,
    #[serde(default)]
    pub quantity: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateReq {
    pub line_items: Vec<ItemReq>,
    pub currency: String,
    #[serde(default)]
    pub capabilities: Option<Value>,
    #[serde(default)]
    pub buyer: Option<Value>,
    #[serde(default)]
    pub fulfillment_details: Option<Value>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub fulfillment_groups: Option<Value>,
    #[serde(default)]
    pub affiliate_attribution: Option<Value>,
    #[serde(default)]
    pub coupons: Option<Value>,
    #[serde(default)]
    pub discounts: Option<Value>,
    #[serde(default)]
    pub timezone: Option<Value>,
    #[serde(default)]
    pub quote_id: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub order_notes: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectedOption {
    #[serde(rename = "type")]
    pub kind: String,
    pub option_id: String,
    #[serde(default)]
    pub item_ids: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateReq {
    #[serde(default)]
    pub line_items: Option<Vec<ItemReq>>,
    #[serde(default)]
    pub buyer: Option<Value>,
    #[serde(default)]
    pub fulfillment_details: Option<Value>,
    #[serde(default)]
    pub selected_fulfillment_options: Option<Vec<SelectedOption>>,
    #[serde(default)]
    pub fulfillment_groups: Option<Value>,
    #[serde(default)]
    pub coupons: Option<Value>,
    #[serde(default)]
    pub discounts: Option<Value>,
    #[serde(default)]
    pub order_notes: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    #[serde(rename = "type")]
    pub kind: String,
    pub token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    #[serde(rename = "type")]
    pub kind: String,
    pub credential: Credential,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentData {
    #[serde(default)]
    pub handler_id: Option<String>,
    #[serde(default)]
    pub instrument: Option<Instrument>,
    #[serde(default)]
    pub billing_address: Option<Value>,
    #[serde(default)]
    pub purchase_order_number: Option<Value>,
    #[serde(default)]
    pub payment_terms: Option<Value>,
    #[serde(default)]
    pub due_date: Option<Value>,
    #[serde(default)]
    pub approval_required: Option<Value>,
}

/// The AP2 extension's part of a completion.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ap2Req {
    /// The agent's closed checkout mandate (SD-JWT chain ending in `mandate.checkout.1`).
    #[serde(default)]
    pub checkout_mandate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteReq {
    pub payment_data: PaymentData,
    #[serde(default)]
    pub buyer: Option<Value>,
    #[serde(default)]
    pub ap2: Option<Ap2Req>,
    #[serde(default)]
    pub authentication_result: Option<Value>,
    #[serde(default)]
    pub affiliate_attribution: Option<Value>,
    #[serde(default)]
    pub risk_signals: Option<Value>,
    #[serde(default)]
    pub marketing_consents: Option<Value>,
    #[serde(default)]
    pub order_notes: Option<Value>,
}

pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AcpError> {
    serde_json::from_slice(body).map_err(|e| {
        AcpError::bad(
            "invalid_request",
            format!("the request body is not a valid request of this operation: {e}"),
        )
    })
}

fn random_id(prefix: &str) -> Result<String, AcpError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(AcpError::internal)?;
    Ok(format!("{prefix}_{}", hex::encode(b)))
}

fn warning(code: &str, param: String, content: String) -> Value {
    json!({"type": "warning", "code": code, "severity": "low", "param": param,
        "content_type": "plain", "content": content})
}

/// The cart an agent asked for: known products, sane quantities, merged by product.
fn parse_lines(items: &[ItemReq]) -> Result<(Vec<Line>, Vec<Value>), AcpError> {
    if items.is_empty() {
        return Err(
            AcpError::bad("line_items_required", "send at least one line item").at("$.line_items"),
        );
    }
    if items.len() > MAX_LINES {
        return Err(AcpError::bad(
            "too_many_line_items",
            format!("a checkout holds at most {MAX_LINES} line items"),
        )
        .at("$.line_items"));
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut warnings = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let id = it.id.as_str().unwrap_or_default();
        let p = catalog::product(id).ok_or_else(|| {
            AcpError::bad(
                "invalid_item_id",
                format!(
                    "The item ID '{}' does not exist; search the catalog at /products for ids.",
                    id.chars().take(64).collect::<String>()
                ),
            )
            .at(format!("$.line_items[{i}].id"))
        })?;
        let quantity = match &it.quantity {
            None => 1,
            Some(q) => q
                .as_i64()
                .filter(|q| (1..=MAX_QUANTITY).contains(q))
                .ok_or_else(|| {
                    AcpError::bad(
                        "invalid_quantity",
                        format!(
                            "quantity must be a whole number from 1 to {}",
                            crate::session::group(MAX_QUANTITY)
                        ),
                    )
                    .at(format!("$.line_items[{i}].quantity"))
                })?,
        };
        if let Some(expected) = it.unit_amount.as_ref().and_then(Value::as_i64) {
            if expected != p.price {
                warnings.push(warning(
                    "price_change",
                    format!("$.line_items[{i}].unit_amount"),
                    format!(
                        "{} costs {} now, not the {} sent.",
                        p.name,
                        p.price().with_symbol(),
                        crate::session::cny(expected).with_symbol()
                    ),
                ));
            }
        }
        match lines.iter_mut().find(|l| l.product_id == p.id) {
            Some(l) => {
                l.quantity = l
                    .quantity
                    .checked_add(quantity)
                    .filter(|q| *q <= MAX_QUANTITY)
                    .ok_or_else(|| {
                        AcpError::bad(
                            "invalid_quantity",
                            "the quantities of one product add up to too many",
                        )
                        .at(format!("$.line_items[{i}].quantity"))
                    })?;
            }
            None => lines.push(Line {
                product_id: p.id.to_string(),
                quantity,
            }),
        }
    }
    Ok((lines, warnings))
}

fn check_object(v: &Option<Value>, param: &str) -> Result<(), AcpError> {
    match v {
        Some(x) if !x.is_object() => Err(AcpError::bad(
            "invalid_request",
            format!("{param} must be an object"),
        )
        .at(format!("$.{param}"))),
        _ => Ok(()),
    }
}

impl Shop {
    fn sign_cart(&self, s: &mut Session, now: Timestamp) -> Result<(), AcpError> {
        let claims = s
            .checkout_claims(&self.merchant, &self.base_url, now)
            .map_err(|_| {
                AcpError::bad("amount_too_large", "the cart's total is too large to pay")
            })?;
        s.checkout_jwt = self
            .key
            .sign_checkout(&claims)
            .map_err(AcpError::internal)?;
        Ok(())
    }

    pub fn session_json(&self, s: &Session, now: Timestamp) -> Result<Value, AcpError> {
        let stock = self.store.stock()?;
        let lookup = |p: &str| stock.get(p).copied().unwrap_or(0);
        Ok(s.to_json(&crate::session::View {
            now,
            stock: &lookup,
            base_url: &self.base_url,
            purser_url: self.api.base(),
            merchant_id: &self.merchant_id,
        }))
    }

    /// `POST /checkout_sessions`
    pub fn create(&self, body: &[u8]) -> Result<(u16, Value), AcpError> {
        let req: CreateReq = parse(body)?;
        if !req.currency.eq_ignore_ascii_case(catalog::CURRENCY.code()) {
            return Err(AcpError::bad(
                "unsupported_currency",
                format!(
                    "this shop sells in {} only",
                    catalog::CURRENCY.code().to_ascii_lowercase()
                ),
            )
            .at("$.currency"));
        }
        check_object(&req.buyer, "buyer")?;
        check_object(&req.fulfillment_details, "fulfillment_details")?;
        check_object(&req.capabilities, "capabilities")?;
        let (lines, warnings) = parse_lines(&req.line_items)?;
        let now = self.now();
        let mut s = Session {
            id: random_id("cs")?,
            status: Status::NotReadyForPayment,
            lines,
            buyer: req.buyer,
            fulfillment_details: req.fulfillment_details,
            shipping_option: "ship_standard".into(),
            locale: req.locale.map(|l| l.chars().take(35).collect()),
            created_at: now.0,
            updated_at: now.0,
            expires_at: now.0.saturating_add(SESSION_LIFETIME_MS),
            version: 1,
            checkout_jwt: String::new(),
            payment_messages: vec![],
            completion: None,
            order: None,
            warnings,
        };
        let stock = self.store.stock()?;
        s.settle_status(&|p| stock.get(p).copied().unwrap_or(0));
        self.sign_cart(&mut s, now)?;
        self.store.insert_session(&s)?;
        Ok((201, self.session_json(&s, now)?))
    }

    fn not_found(id: &str) -> AcpError {
        AcpError::new(
            404,
            "session_not_found",
            format!(
                "there is no checkout session {}",
                id.chars().take(80).collect::<String>()
            ),
        )
    }

    /// `GET /checkout_sessions/{id}`
    pub fn get(&self, id: &str) -> Result<(u16, Value), AcpError> {
        let s = self.store.session(id)?.ok_or_else(|| Shop::not_found(id))?;
        Ok((200, self.session_json(&s, self.now())?))
    }

    fn closed(status: Status, what: &str) -> AcpError {
        let (code, why) = match status {
            Status::Completed => ("session_completed", "it is already completed"),
            Status::Canceled => ("session_canceled", "it was canceled"),
            Status::Expired => ("session_expired", "it expired; create a new one"),
            _ => (
                "session_complete_in_progress",
                "its payment is being completed",
            ),
        };
        AcpError::new(
            405,
            code,
            format!("this checkout session cannot be {what}: {why}"),
        )
    }

    /// `POST /checkout_sessions/{id}`
    pub fn update(&self, id: &str, body: &[u8]) -> Result<(u16, Value), AcpError> {
        let req: UpdateReq = parse(body)?;
        check_object(&req.buyer, "buyer")?;
        check_object(&req.fulfillment_details, "fulfillment_details")?;
        let parsed = req.line_items.as_deref().map(parse_lines).transpose()?;
        if let Some(sel) = &req.selected_fulfillment_options {
            for (i, o) in sel.iter().enumerate() {
                if o.kind != "shipping" || shipping_option(&o.option_id).is_none() {
                    return Err(AcpError::bad(
                        "invalid_fulfillment_option",
                        "choose one of this session's fulfillment_options (ship_standard, ship_express)",
                    )
                    .at(format!("$.selected_fulfillment_options[{i}].option_id")));
                }
            }
        }
        let now = self.now();
        let out = self
            .store
            .update_session(id, |s, stock| {
                let status = s.status_at(now);
                if !status.is_open() {
                    return Err(Shop::closed(status, "updated"));
                }
                if let Some((lines, warnings)) = parsed {
                    s.lines = lines;
                    s.warnings = warnings;
                }
                if let Some(b) = req.buyer {
                    s.buyer = Some(b);
                }
                if let Some(f) = req.fulfillment_details {
                    s.fulfillment_details = Some(f);
                }
                if let Some(o) = req
                    .selected_fulfillment_options
                    .as_ref()
                    .and_then(|v| v.last())
                {
                    s.shipping_option = o.option_id.clone();
                }
                s.version = s.version.saturating_add(1);
                s.updated_at = now.0;
                s.payment_messages.clear();
                s.status = Status::NotReadyForPayment;
                s.settle_status(stock);
                self.sign_cart(s, now)?;
                Ok(((), vec![]))
            })?
            .ok_or_else(|| Shop::not_found(id))?;
        out?;
        self.get(id)
    }

    /// `POST /checkout_sessions/{id}/cancel`
    pub fn cancel(&self, id: &str, body: &[u8]) -> Result<(u16, Value), AcpError> {
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: Value = parse(body)?;
            if !v.is_object() {
                return Err(AcpError::bad(
                    "invalid_request",
                    "the body must be a JSON object",
                ));
            }
        }
        let now = self.now();
        self.store
            .update_session(id, |s, _| {
                let status = s.status_at(now);
                if !status.is_open() {
                    return Err(Shop::closed(status, "canceled"));
                }
                s.status = Status::Canceled;
                s.updated_at = now.0;
                Ok(((), vec![]))
            })?
            .ok_or_else(|| Shop::not_found(id))??;
        self.get(id)
    }

    /// `POST /checkout_sessions/{id}/complete`, for an agent whose signature verified: checks
    /// the mandate when presented, reserves the stock, captures the credential at Purser (once:
    /// the capture's Idempotency-Key is derived from the session and the credential), and only
    /// then records the order.
    pub fn complete(
        &self,
        id: &str,
        agent: &VerifiedAgent,
        req: CompleteReq,
    ) -> Result<(u16, Value), AcpError> {
        let token_param = "$.payment_data.instrument.credential.token";
        let handler = req.payment_data.handler_id.as_deref().unwrap_or("");
        let Some(instrument) = req.payment_data.instrument else {
            return Err(AcpError::bad("payment_instrument_required", "send payment_data.handler_id and payment_data.instrument with the Purser credential").at("$.payment_data.instrument"));
        };
        let token = instrument.credential.token.trim().to_string();
        let expected = match handler {
            "purser_credential" => "pct_",
            "purser_vault_token" => "vt_",
            _ => {
                return Err(AcpError::bad(
                    "invalid_payment_handler",
                    "use one of this session's payment handlers: purser_credential (pct_…) or purser_vault_token (vt_…)",
                )
                .at("$.payment_data.handler_id"))
            }
        };
        if !token.starts_with(expected) || token.len() > 512 {
            return Err(AcpError::bad(
                "invalid_payment_credential",
                format!("handler {handler} takes a Purser credential starting with {expected}"),
            )
            .at(token_param));
        }
        check_object(&req.buyer, "buyer")?;
        let credential_hash = hex::encode(Sha256::digest(token.as_bytes()));
        let now = self.now();
        let s = self.store.session(id)?.ok_or_else(|| Shop::not_found(id))?;
        let same = s
            .completion
            .as_ref()
            .is_some_and(|c| same_hash(&c.credential_hash, &credential_hash));
        match s.status_at(now) {
            Status::Completed if same => return Ok((200, self.session_json(&s, now)?)),
            Status::CompleteInProgress if same => return self.capture(id, &token, now),
            Status::CompleteInProgress => {
                return Err(AcpError::new(
                    409,
                    "session_complete_in_progress",
                    "another payment for this checkout is being completed; retry with the same credential, or wait",
                )
                .retry_after(2))
            }
            Status::NotReadyForPayment => {
                return Err(AcpError::bad(
                    "session_not_ready",
                    "this checkout is not ready for payment; resolve its messages (update the session) first",
                ))
            }
            Status::ReadyForPayment => {}
            other => return Err(Shop::closed(other, "completed")),
        }
        let mandate = req.ap2.and_then(|a| a.checkout_mandate);
        let reference = match mandate {
            Some(chain) => Some(verify_mandate(
                &self.api,
                &chain,
                &s.checkout_jwt,
                &self.merchant_id,
                &s.id,
                &agent.kid,
                now,
            )?),
            None if self.require_mandate => {
                return Err(AcpError::bad(
                    "mandate_required",
                    "this shop requires an AP2 checkout mandate: send ap2.checkout_mandate, closing your open checkout mandate over this session's ap2.checkout_jwt",
                )
                .at("$.ap2.checkout_mandate"))
            }
            None => None,
        };
        // The credential must be the completing agent's own: look its payment up at Purser
        // before anything is reserved or captured. (A credential Purser does not show this
        // merchant is left to the capture, which refuses it.)
        if let Some(payment_id) = credential_payment_id(&token) {
            match self.api.payment(&payment_id) {
                Ok(p) if p["agent_id"].as_str() != Some(agent.agent_id.as_str()) => {
                    tracing::warn!(session = %s.id, payment = %payment_id, "refused a credential issued to another agent");
                    return Err(agent_mismatch());
                }
                Ok(_)
                | Err(PurserError::Refused {
                    status: 400 | 404, ..
                }) => {}
                Err(e) => {
                    tracing::warn!(session = %s.id, error = %e, "could not look the credential's payment up");
                    return Err(AcpError::new(
                        503,
                        "service_unavailable",
                        "Purser could not be asked about this credential; nothing was reserved or charged — try again",
                    )
                    .retry_after(2));
                }
            }
        }
        let capture_key = capture_key(&s.id, &credential_hash);
        let issued = s.checkout_jwt.clone();
        let buyer = req.buyer;
        let started = self
            .store
            .update_session(id, |s, stock| {
                // Re-checked inside the transaction: the cart and its signed checkout are what
                // was verified, and nothing else started completing meanwhile.
                if s.status_at(now) != Status::ReadyForPayment || s.checkout_jwt != issued {
                    return Err(AcpError::new(
                        409,
                        "session_changed",
                        "the checkout changed while completing; fetch it and try again",
                    ));
                }
                let problems = s.cart_messages(stock);
                if !problems.is_empty() {
                    s.settle_status(stock);
                    s.updated_at = now.0;
                    return Ok((false, vec![]));
                }
                if let Some(b) = buyer {
                    s.buyer = Some(b);
                }
                s.status = Status::CompleteInProgress;
                s.updated_at = now.0;
                s.payment_messages.clear();
                s.completion = Some(Completion {
                    credential_hash,
                    capture_key,
                    agent_id: agent.agent_id.clone(),
                    agent_kid: agent.kid.clone(),
                    mandate_verified: reference.is_some(),
                    mandate_reference: reference,
                });
                let reserve = s
                    .lines
                    .iter()
                    .map(|l| (l.product_id.clone(), -l.quantity))
                    .collect();
                Ok((true, reserve))
            })?
            .ok_or_else(|| Shop::not_found(id))??;
        if !started {
            // Sold out since the cart was made: the session says so.
            return self.get(id);
        }
        self.capture(id, &token, now)
    }

    /// Captures the session's total with `token`, then records the order or puts the session
    /// back to `ready_for_payment` with Purser's reason. Only a definitive refusal releases the
    /// session; any other answer (in flight, rate limited, 5xx, no answer) leaves it
    /// `complete_in_progress` for a retry with the same credential, which asks Purser again
    /// under the same Idempotency-Key.
    fn capture(&self, id: &str, token: &str, now: Timestamp) -> Result<(u16, Value), AcpError> {
        let s = self.store.session(id)?.ok_or_else(|| Shop::not_found(id))?;
        let Some(c) = s.completion.clone() else {
            return Err(AcpError::internal(
                "a completing session has no completion record",
            ));
        };
        let total = s
            .priced()
            .map_err(|_| AcpError::internal("the cart total overflows"))?
            .total;
        let answer = self.api.capture(
            token,
            total,
            catalog::CURRENCY.code(),
            &s.id,
            &c.capture_key,
        );
        match answer {
            Ok(p)
                if p["status"] == "captured" && p["captured"]["amount"].as_i64() == Some(total) =>
            {
                self.captured(id, &c, &p, total, now)
            }
            Ok(p) => Err(AcpError::after_capture(format!(
                "Purser answered a capture with status {} and amount {}",
                p["status"], p["captured"]["amount"]
            ))),
            Err(PurserError::Refused { status, code, .. })
                if code == "credential_used" && status == 409 =>
            {
                // Redeemed already: by this shop's own earlier capture (its answer lost, or no
                // longer replayed)? Then finish the order from Purser's record.
                let found = credential_payment_id(token)
                    .map(|pid| self.api.payment(&pid))
                    .transpose();
                match found {
                    Ok(Some(p))
                        if p["status"] == "captured"
                            && p["checkout_id"].as_str() == Some(s.id.as_str())
                            && p["captured"]["amount"].as_i64() == Some(total) =>
                    {
                        tracing::info!(session = %s.id, "capture found at Purser; finishing the order");
                        self.captured(id, &c, &p, total, now)
                    }
                    Ok(_) => self.declined(
                        id,
                        "Purser refused the payment (credential_used): this credential was already redeemed; it is single use".into(),
                        now,
                    ),
                    Err(e) => Err(pending(&s.id, &e)),
                }
            }
            Err(PurserError::Refused {
                status,
                code,
                message,
            }) if definitive(status, &code) => self.declined(
                id,
                format!("Purser refused the payment ({code}): {message}"),
                now,
            ),
            Err(e) => Err(pending(&s.id, &e)),
        }
    }

    /// Purser captured `p` for this session: record the order (always: the money moved), unless
    /// the credential belongs to another agent than the one that completed, which is refunded.
    fn captured(
        &self,
        id: &str,
        c: &Completion,
        p: &Value,
        total: i64,
        now: Timestamp,
    ) -> Result<(u16, Value), AcpError> {
        let payment_id = p["id"].as_str().unwrap_or_default().to_string();
        if p["agent_id"].as_str() != Some(c.agent_id.as_str()) {
            // Only reachable for a credential whose payment could not be looked up before the
            // capture: give the money back, then refuse.
            let refund = self.api.refund(
                &payment_id,
                total,
                catalog::CURRENCY.code(),
                "the credential was presented by another agent than the one it was issued to",
                &format!("{}-refund", c.capture_key),
            );
            if let Err(e) = refund {
                tracing::error!(session = %id, payment = %payment_id, error = %e, "refund of a capture by the wrong agent failed");
                return Err(AcpError::new(
                    503,
                    "payment_pending",
                    "the credential belongs to another agent and its capture could not be refunded yet; retry complete with the same credential",
                )
                .retry_after(2));
            }
            self.release(id, None, now)
                .map_err(AcpError::after_capture)?;
            return Err(agent_mismatch());
        }
        let order_id = random_id("ord")?;
        let c = c.clone();
        self.store
            .update_session(id, |s, _| {
                if s.status == Status::Completed {
                    return Ok(((), vec![]));
                }
                // Normally complete_in_progress; if the session was released meanwhile, the
                // capture still stands: take the stock again and record the order.
                let reserve = if s.status == Status::CompleteInProgress {
                    vec![]
                } else {
                    tracing::error!(session = %s.id, payment = %payment_id, "captured after the session was released; recording the order anyway");
                    s.lines
                        .iter()
                        .map(|l| (l.product_id.clone(), -l.quantity))
                        .collect()
                };
                s.status = Status::Completed;
                s.updated_at = now.0;
                s.payment_messages.clear();
                if s.completion.is_none() {
                    s.completion = Some(c);
                }
                s.order = Some(Order {
                    id: order_id,
                    payment_id,
                    captured: total,
                    created_at: now.0,
                });
                Ok::<_, AcpError>(((), reserve))
            })
            .map_err(AcpError::after_capture)?
            .ok_or_else(|| Shop::not_found(id))??;
        tracing::info!(session = %id, total, "order created after capture");
        self.get(id)
            .map_err(|_| AcpError::after_capture("reading the completed session"))
    }

    /// Purser refused for good: release the stock, back to `ready_for_payment` with the reason.
    fn declined(
        &self,
        id: &str,
        content: String,
        now: Timestamp,
    ) -> Result<(u16, Value), AcpError> {
        self.release(id, Some(content), now)?;
        self.get(id)
    }

    fn release(
        &self,
        id: &str,
        declined: Option<String>,
        now: Timestamp,
    ) -> Result<(), crate::store::StoreError> {
        let out = self.store.update_session(id, |s, stock| {
            if s.status != Status::CompleteInProgress {
                return Ok(((), vec![]));
            }
            let release = s
                .lines
                .iter()
                .map(|l| (l.product_id.clone(), l.quantity))
                .collect();
            s.completion = None;
            s.status = Status::ReadyForPayment;
            s.updated_at = now.0;
            s.payment_messages = declined
                .iter()
                .map(|content| {
                    json!({"type": "error", "code": "payment_declined",
                    "severity": "high", "resolution": "requires_buyer_input",
                    "param": "$.payment_data", "content_type": "plain", "content": content})
                })
                .collect();
            s.settle_status(stock);
            Ok::<_, AcpError>(((), release))
        })?;
        match out {
            Some(Err(e)) => Err(crate::store::StoreError(e.message)),
            _ => Ok(()),
        }
    }
}

/// The Idempotency-Key of a session's capture at Purser with a credential (by its SHA-256 hex):
/// the same for every retry, so Purser never captures twice.
pub fn capture_key(session_id: &str, credential_hash: &str) -> String {
    format!(
        "shop-{session_id}-{}",
        credential_hash.get(..24).unwrap_or(credential_hash)
    )
}

/// The capture Idempotency-Key for a session and the credential itself.
pub fn capture_key_for(session_id: &str, credential: &str) -> String {
    capture_key(
        session_id,
        &hex::encode(Sha256::digest(credential.trim().as_bytes())),
    )
}

/// Whether Purser's refusal of a capture is a decision about the credential (the session is
/// released) rather than "not now" (in flight, rate limited, the shop's own key refused).
fn definitive(status: u16, code: &str) -> bool {
    matches!(status, 400 | 403 | 404 | 409 | 422)
        && !matches!(code, "idempotency_in_flight" | "idempotency_conflict")
}

/// The outcome of a capture is unknown: the session stays `complete_in_progress`.
fn pending(session: &str, e: &PurserError) -> AcpError {
    tracing::warn!(session = %session, error = %e, "capture outcome unknown");
    AcpError::new(
        503,
        "payment_pending",
        "the payment could not be confirmed with Purser; retry complete with the same credential (it is never captured twice)",
    )
    .retry_after(2)
}

fn agent_mismatch() -> AcpError {
    AcpError::new(
        403,
        "credential_agent_mismatch",
        "this payment credential was issued to another agent than the one whose signature completes this checkout; pay with a credential Purser issued to you",
    )
    .at("$.payment_data.instrument.credential.token")
}

/// The Purser payment a `pct_…` credential names: Purser's credentials read
/// `pct_<payment id without "pay_">_<mac>`. `None` for any other shape (a vault token).
fn credential_payment_id(token: &str) -> Option<String> {
    let rest = token.strip_prefix("pct_")?;
    let (suffix, mac) = rest.split_once('_')?;
    (!suffix.is_empty()
        && !mac.is_empty()
        && suffix.len() <= 64
        && suffix.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then(|| format!("pay_{suffix}"))
}

/// Equal in time independent of where the first difference is (hashes of credentials).
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_names_its_payment() {
        assert_eq!(
            credential_payment_id("pct_01abc_MACMAC").as_deref(),
            Some("pay_01abc")
        );
        assert_eq!(credential_payment_id("pct_notarealcredential"), None);
        assert_eq!(credential_payment_id("pct__mac"), None);
        assert_eq!(credential_payment_id("vt_01abc_mac"), None);
        assert_eq!(credential_payment_id("pct_a/b_mac"), None);
    }

    #[test]
    fn only_decisions_release_a_session() {
        assert!(definitive(404, "credential_invalid"));
        assert!(definitive(409, "credential_used"));
        assert!(definitive(422, "amount_exceeds_credential"));
        assert!(!definitive(409, "idempotency_in_flight"));
        assert!(!definitive(429, "rate_limited"));
        assert!(!definitive(401, "unauthorized"));
        assert!(!definitive(408, "timeout"));
    }
}
