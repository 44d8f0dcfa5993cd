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
            .is_some_and(|c| c.credential_hash == credential_hash);
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
        let capture_key = format!("shop-{}-{}", s.id, &credential_hash[..24]);
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
    /// back to `ready_for_payment` with Purser's reason.
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
                let payment_id = p["id"].as_str().unwrap_or_default().to_string();
                if p["agent_id"].as_str() != Some(c.agent_id.as_str()) {
                    tracing::warn!(session = %s.id, payment = %payment_id, "the credential was issued to another agent than the one completing the checkout");
                }
                let order_id = random_id("ord")?;
                self.store
                    .update_session(id, |s, _| {
                        if s.status == Status::CompleteInProgress {
                            s.status = Status::Completed;
                            s.updated_at = now.0;
                            s.order = Some(Order {
                                id: order_id,
                                payment_id,
                                captured: total,
                                created_at: now.0,
                            });
                        }
                        Ok::<_, AcpError>(((), vec![]))
                    })?
                    .ok_or_else(|| Shop::not_found(id))??;
                tracing::info!(session = %s.id, total, "order created after capture");
                self.get(id)
            }
            Ok(p) => Err(AcpError::internal(format!(
                "Purser answered a capture with status {} and amount {}",
                p["status"], p["captured"]["amount"]
            ))),
            Err(PurserError::Refused {
                status,
                code,
                message,
            }) if status != 401 => {
                let content = format!("Purser refused the payment ({code}): {message}");
                self.store
                    .update_session(id, |s, stock| {
                        if s.status != Status::CompleteInProgress {
                            return Ok(((), vec![]));
                        }
                        let release = s.lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
                        s.completion = None;
                        s.status = Status::ReadyForPayment;
                        s.updated_at = now.0;
                        s.payment_messages = vec![json!({"type": "error", "code": "payment_declined",
                            "severity": "high", "resolution": "requires_buyer_input",
                            "param": "$.payment_data", "content_type": "plain", "content": content})];
                        s.settle_status(stock);
                        Ok::<_, AcpError>(((), release))
                    })?
                    .ok_or_else(|| Shop::not_found(id))??;
                self.get(id)
            }
            Err(e) => {
                // Unknown outcome (or the shop's own key refused): the session stays
                // complete_in_progress; a retry with the same credential asks Purser again under
                // the same Idempotency-Key, so it can never capture twice.
                tracing::warn!(session = %s.id, error = %e, "capture outcome unknown");
                Err(AcpError::new(
                    503,
                    "payment_pending",
                    "the payment could not be confirmed with Purser; retry complete with the same credential",
                )
                .retry_after(2))
            }
        }
    }
}
