//! A checkout session: the cart, what the shop says about it (line totals, totals, messages)
//! and its status, as the ACP 2026-04-17 status machine defines it. Pure: the clock and stock
//! levels are passed in; storage and HTTP are elsewhere.
//!
//! Status machine (the subset of ACP's statuses this shop uses):
//!
//! ```text
//!            create/update                      complete: capture in flight
//! not_ready_for_payment <-> ready_for_payment ------------------------> complete_in_progress
//!         |                       |                                       |         |
//!         |  cancel               |  cancel           capture refused ----+         | captured
//!         v                       v                  (back to ready, message)       v
//!       canceled               canceled                                         completed
//! (any open status past expires_at reads as expired)
//! ```

use purser_core::{Money, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::{self, Product, CURRENCY};

/// Most distinct products in one cart. A shopping agent's cart is a few lines.
pub const MAX_LINES: usize = 20;

/// Largest quantity of one line accepted as a number at all; above a product's per-order limit
/// the session explains (`quantity_exceeded`), above this the request is malformed.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// How long a session stays open: long enough for a person to confirm a payment, short enough
/// that prices and stock do not drift far.
pub const SESSION_LIFETIME_MS: i64 = 6 * 60 * 60 * 1000;

/// The ACP version this shop speaks.
pub const ACP_VERSION: &str = "2026-04-17";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotReadyForPayment,
    ReadyForPayment,
    CompleteInProgress,
    Completed,
    Canceled,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotReadyForPayment => "not_ready_for_payment",
            Status::ReadyForPayment => "ready_for_payment",
            Status::CompleteInProgress => "complete_in_progress",
            Status::Completed => "completed",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
        }
    }

    /// Can the cart still change (update, cancel)?
    pub fn is_open(self) -> bool {
        matches!(self, Status::NotReadyForPayment | Status::ReadyForPayment)
    }
}

/// One line: a product and how many.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub product_id: String,
    pub quantity: i64,
}

impl Line {
    pub fn line_id(&self) -> String {
        format!("li_{}", self.product_id)
    }
}

/// A shipping option the shop offers.
#[derive(Clone, Copy, Debug)]
pub struct ShippingOption {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub carrier: &'static str,
    /// CNY minor units.
    pub price: i64,
    pub min_days: i64,
    pub max_days: i64,
}

pub const SHIPPING: [ShippingOption; 2] = [
    ShippingOption {
        id: "ship_standard",
        title: "Standard",
        description: "Free, arrives in 3-5 days",
        carrier: "SF Express",
        price: 0,
        min_days: 3,
        max_days: 5,
    },
    ShippingOption {
        id: "ship_express",
        title: "Express",
        description: "Arrives in 1-2 days",
        carrier: "SF Express",
        price: 2_000,
        min_days: 1,
        max_days: 2,
    },
];

pub fn shipping_option(id: &str) -> Option<&'static ShippingOption> {
    SHIPPING.iter().find(|o| o.id == id)
}

/// What a completion recorded before it asked Purser to capture: enough to finish (or refuse)
/// a retry, without keeping the credential itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// SHA-256 (hex) of the credential presented; the credential is never stored.
    pub credential_hash: String,
    /// The Idempotency-Key of the capture at Purser: derived from the session and credential,
    /// so a retried completion never captures twice.
    pub capture_key: String,
    /// The agent whose signed request completed the session.
    pub agent_id: String,
    pub agent_kid: String,
    /// Whether an AP2 checkout mandate was presented and verified.
    pub mandate_verified: bool,
    /// Its receipt reference (hash of the closed mandate), when verified.
    #[serde(default)]
    pub mandate_reference: Option<String>,
}

/// The order a completed session made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// `ord_…`
    pub id: String,
    /// Purser's payment (`pay_…`) that was captured.
    pub payment_id: String,
    /// What Purser captured, minor units.
    pub captured: i64,
    pub created_at: i64,
}

/// A checkout session as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `cs_…`
    pub id: String,
    pub status: Status,
    pub lines: Vec<Line>,
    pub buyer: Option<Value>,
    pub fulfillment_details: Option<Value>,
    pub shipping_option: String,
    pub locale: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    /// Bumped on every change of the cart: the checkout JWT names it.
    pub version: u32,
    /// The merchant-signed checkout JWT for the current cart (AP2 `checkout_jwt`).
    pub checkout_jwt: String,
    /// Messages from the last completion attempt (a declined payment).
    #[serde(default)]
    pub payment_messages: Vec<Value>,
    #[serde(default)]
    pub completion: Option<Completion>,
    #[serde(default)]
    pub order: Option<Order>,
    /// Warnings from the last create/update (a price the agent expected differs).
    #[serde(default)]
    pub warnings: Vec<Value>,
}

/// What the session needs from outside to be shown.
pub struct View<'a> {
    pub now: Timestamp,
    /// Live stock of a product.
    pub stock: &'a dyn Fn(&str) -> i64,
    /// The shop's public URL, `http://127.0.0.1:7430`.
    pub base_url: &'a str,
    pub purser_url: &'a str,
    pub merchant_id: &'a str,
}

fn total(kind: &str, text: &str, amount: i64) -> Value {
    json!({"type": kind, "display_text": text, "amount": amount})
}

fn message(code: &str, param: Option<String>, resolution: &str, content: String) -> Value {
    let mut m = json!({"type": "error", "code": code, "severity": "high", "resolution": resolution,
        "content_type": "plain", "content": content});
    if let Some(p) = param {
        m["param"] = Value::String(p);
    }
    m
}

/// The cart's computed figures.
pub struct Priced {
    /// Per line: base amount (unit × quantity).
    pub line_amounts: Vec<i64>,
    pub items: i64,
    pub shipping: i64,
    pub total: i64,
}

/// An amount that does not fit: the cart is refused rather than wrapped.
#[derive(Debug)]
pub struct Overflow;

impl Session {
    /// The session's status as of `now`: an open session past its expiry reads as expired.
    pub fn status_at(&self, now: Timestamp) -> Status {
        if self.status.is_open() && now.0 >= self.expires_at {
            Status::Expired
        } else {
            self.status
        }
    }

    pub fn priced(&self) -> Result<Priced, Overflow> {
        let mut line_amounts = Vec::with_capacity(self.lines.len());
        let mut items: i64 = 0;
        for l in &self.lines {
            let p = catalog::product(&l.product_id).ok_or(Overflow)?;
            let a = p.price.checked_mul(l.quantity).ok_or(Overflow)?;
            items = items.checked_add(a).ok_or(Overflow)?;
            line_amounts.push(a);
        }
        let shipping = shipping_option(&self.shipping_option)
            .map(|o| o.price)
            .unwrap_or(0);
        let total = items.checked_add(shipping).ok_or(Overflow)?;
        Ok(Priced {
            line_amounts,
            items,
            shipping,
            total,
        })
    }

    /// Problems that keep the cart from being paid, as ACP error messages.
    pub fn cart_messages(&self, stock: &dyn Fn(&str) -> i64) -> Vec<Value> {
        let mut out = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let Some(p) = catalog::product(&l.product_id) else {
                continue;
            };
            let have = stock(p.id);
            if have <= 0 {
                out.push(message(
                    "out_of_stock",
                    Some(format!("$.line_items[{i}]")),
                    "requires_buyer_input",
                    format!(
                        "{} is out of stock; remove it or choose another product.",
                        p.name
                    ),
                ));
            } else if l.quantity > p.max_per_order {
                out.push(message(
                    "quantity_exceeded",
                    Some(format!("$.line_items[{i}].quantity")),
                    "requires_buyer_input",
                    format!(
                        "At most {} of {} can be bought in one order; this cart asks for {}.",
                        p.max_per_order,
                        p.name,
                        group(l.quantity)
                    ),
                ));
            } else if l.quantity > have {
                out.push(message(
                    "low_stock",
                    Some(format!("$.line_items[{i}].quantity")),
                    "requires_buyer_input",
                    format!(
                        "Only {have} of {} are left; this cart asks for {}.",
                        p.name, l.quantity
                    ),
                ));
            }
        }
        let has_address = self
            .fulfillment_details
            .as_ref()
            .is_some_and(|f| f.get("address").is_some_and(Value::is_object));
        if !has_address {
            out.push(message(
                "missing",
                Some("$.fulfillment_details.address".into()),
                "requires_buyer_input",
                "A shipping address is needed: send fulfillment_details with an address.".into(),
            ));
        }
        out
    }

    /// After a change of the cart or address: ready if nothing stands in the way.
    pub fn settle_status(&mut self, stock: &dyn Fn(&str) -> i64) {
        if self.status.is_open() {
            self.status = if self.cart_messages(stock).is_empty() {
                Status::ReadyForPayment
            } else {
                Status::NotReadyForPayment
            };
        }
    }

    /// The cart as the merchant signs it for AP2 (the payload of the checkout JWT): the
    /// merchant, the lines (`item.id`, `item.title`, `quantity`), the currency and the totals.
    pub fn checkout_claims(
        &self,
        merchant: &Value,
        iss: &str,
        now: Timestamp,
    ) -> Result<Value, Overflow> {
        let priced = self.priced()?;
        let lines: Vec<Value> = self
            .lines
            .iter()
            .filter_map(|l| {
                catalog::product(&l.product_id).map(|p| {
                    json!({"id": l.line_id(), "item": {"id": p.id, "title": p.name},
                        "quantity": l.quantity, "unit_amount": p.price})
                })
            })
            .collect();
        Ok(json!({
            "iss": iss,
            "jti": format!("{}.v{}", self.id, self.version),
            "checkout_id": self.id,
            "iat": now.0 / 1000,
            "exp": self.expires_at / 1000,
            "merchant": merchant,
            "line_items": lines,
            "currency": CURRENCY.code(),
            "totals": [
                {"type": "subtotal", "amount": priced.items},
                {"type": "fulfillment", "amount": priced.shipping},
                {"type": "total", "amount": priced.total},
            ],
        }))
    }

    /// The session as ACP's `CheckoutSession` (with `order` once completed).
    pub fn to_json(&self, v: &View) -> Value {
        let status = self.status_at(v.now);
        let priced = self.priced().unwrap_or(Priced {
            line_amounts: vec![0; self.lines.len()],
            items: 0,
            shipping: 0,
            total: 0,
        });
        let line_items: Vec<Value> = self
            .lines
            .iter()
            .zip(priced.line_amounts.iter())
            .filter_map(|(l, amount)| {
                catalog::product(&l.product_id).map(|p| line_json(p, l, *amount, (v.stock)(p.id)))
            })
            .collect();
        let item_ids: Vec<&str> = self.lines.iter().map(|l| l.product_id.as_str()).collect();
        let day = 86_400_000;
        let options: Vec<Value> = SHIPPING
            .iter()
            .map(|o| {
                json!({"type": "shipping", "id": o.id, "title": o.title, "description": o.description,
                    "carrier": o.carrier,
                    "earliest_delivery_time": Timestamp(v.now.0.saturating_add(o.min_days * day)).to_rfc3339(),
                    "latest_delivery_time": Timestamp(v.now.0.saturating_add(o.max_days * day)).to_rfc3339(),
                    "totals": [total("total", o.title, o.price)]})
            })
            .collect();
        let mut messages = Vec::new();
        if status.is_open() || status == Status::Expired {
            messages.extend(self.cart_messages(v.stock));
            messages.extend(self.payment_messages.iter().cloned());
            messages.extend(self.warnings.iter().cloned());
        }
        if status == Status::Expired {
            messages.push(message(
                "expired",
                None,
                "requires_buyer_input",
                "This checkout session expired; create a new one.".into(),
            ));
        }
        let mut out = json!({
            "id": self.id,
            "protocol": {"version": ACP_VERSION},
            "capabilities": capabilities(v),
            "status": status.as_str(),
            "currency": CURRENCY.code().to_ascii_lowercase(),
            "line_items": line_items,
            "fulfillment_options": options,
            "selected_fulfillment_options": [{"type": "shipping", "option_id": self.shipping_option, "item_ids": item_ids}],
            "totals": [
                total("items_base_amount", "Item(s) total", priced.items),
                total("subtotal", "Subtotal", priced.items),
                total("fulfillment", "Shipping", priced.shipping),
                {"type": "tax", "display_text": "Tax", "amount": 0, "description": "Prices include VAT"},
                total("total", "Total", priced.total),
            ],
            "messages": messages,
            "links": [
                {"type": "terms_of_use", "url": format!("{}/legal/terms", v.base_url)},
                {"type": "return_policy", "url": format!("{}/legal/returns", v.base_url)},
            ],
            "created_at": Timestamp(self.created_at).to_rfc3339(),
            "updated_at": Timestamp(self.updated_at).to_rfc3339(),
            "expires_at": Timestamp(self.expires_at).to_rfc3339(),
        });
        if let Some(b) = &self.buyer {
            out["buyer"] = b.clone();
        }
        if let Some(f) = &self.fulfillment_details {
            out["fulfillment_details"] = f.clone();
        }
        if let Some(l) = &self.locale {
            out["locale"] = Value::String(l.clone());
        }
        if status.is_open() {
            out["ap2"] = json!({
                "checkout_jwt": self.checkout_jwt,
                "checkout_hash": purser_ap2::checkout_hash(&self.checkout_jwt),
                "jwks_url": format!("{}/.well-known/jwks.json", v.base_url),
                "aud": v.merchant_id,
                "nonce": self.id,
            });
        }
        if let Some(o) = &self.order {
            out["order"] = json!({
                "type": "order",
                "id": o.id,
                "checkout_session_id": self.id,
                "order_number": o.id.trim_start_matches("ord_").chars().take(10).collect::<String>().to_ascii_uppercase(),
                "permalink_url": format!("{}/orders/{}", v.base_url, o.id),
                "status": "confirmed",
                "line_items": self.lines.iter().zip(priced.line_amounts.iter()).filter_map(|(l, a)| catalog::product(&l.product_id).map(|p| json!({
                    "id": l.line_id(), "title": p.name, "product_id": p.id,
                    "quantity": {"ordered": l.quantity, "current": l.quantity, "fulfilled": 0},
                    "unit_price": p.price, "subtotal": a, "status": "processing"}))).collect::<Vec<_>>(),
                "totals": [total("total", "Total", o.captured)],
                "confirmation": {"confirmation_number": o.id, "confirmation_email_sent": false},
            });
        }
        out
    }
}

fn line_json(p: &Product, l: &Line, amount: i64, stock: i64) -> Value {
    let availability = if stock <= 0 {
        "out_of_stock"
    } else if stock <= catalog::LOW_STOCK {
        "low_stock"
    } else {
        "in_stock"
    };
    json!({
        "id": l.line_id(),
        "item": {"id": p.id, "name": p.name, "unit_amount": p.price},
        "quantity": l.quantity,
        "name": p.name,
        "description": p.description,
        "unit_amount": p.price,
        "product_id": p.id,
        "category": p.category,
        "availability_status": availability,
        "available_quantity": stock.max(0),
        "max_quantity_per_order": p.max_per_order,
        "totals": [
            total("items_base_amount", "Base Amount", amount),
            total("discount", "Discount", 0),
            total("subtotal", "Subtotal", amount),
            total("tax", "Tax", 0),
            total("total", "Total", amount),
        ],
    })
}

/// What the shop offers every session: its payment handlers (Purser credentials) and the AP2
/// extension (the merchant-signed checkout JWT in `ap2`, the mandate accepted at completion).
pub fn capabilities(v: &View) -> Value {
    let handler = |id: &str, name: &str, display: &str, delegate: bool, prefix: &str| {
        json!({
            "id": id, "name": name, "display_name": display, "version": ACP_VERSION,
            "spec": "https://github.com/purser/purser/blob/main/docs/merchant.md",
            "requires_delegate_payment": delegate, "requires_pci_compliance": false,
            "psp": "purser",
            "config_schema": format!("{}/schemas/handler-config.json", v.base_url),
            "instrument_schemas": [format!("{}/schemas/purser-credential.json", v.base_url)],
            "config": {"purser_url": v.purser_url, "merchant_id": v.merchant_id,
                "credential_prefix": prefix, "checkout_id": "the checkout session id"},
        })
    };
    json!({
        "payment": {"handlers": [
            handler("purser_credential", "dev.purser.scoped_credential", "Purser agent payment", false, "pct_"),
            handler("purser_vault_token", "dev.purser.vault_token", "Purser delegated payment (ACP vault token)", true, "vt_"),
        ]},
        "interventions": {"supported": [], "required": [], "enforcement": "conditional"},
        "extensions": [{
            "name": "ap2",
            "extends": ["$.CheckoutSession.ap2", "$.CheckoutSessionCompleteRequest.ap2"],
            "spec": "https://github.com/purser/purser/blob/main/docs/merchant.md",
        }],
    })
}

/// `10000` → `10,000`.
pub fn group(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        // (`is_multiple_of` is newer than the MSRV.)
        if i > 0 && matches!((s.len() - i) % 3, 0) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The money of an amount in the shop's currency.
pub fn cny(minor: i64) -> Money {
    Money::new(minor, CURRENCY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(lines: Vec<Line>) -> Session {
        Session {
            id: "cs_1".into(),
            status: Status::NotReadyForPayment,
            lines,
            buyer: None,
            fulfillment_details: Some(json!({"address": {"name": "A", "line_one": "1 Road",
                "city": "Hangzhou", "state": "ZJ", "country": "CN", "postal_code": "310000"}})),
            shipping_option: "ship_standard".into(),
            locale: None,
            created_at: 0,
            updated_at: 0,
            expires_at: SESSION_LIFETIME_MS,
            version: 1,
            checkout_jwt: String::new(),
            payment_messages: vec![],
            completion: None,
            order: None,
            warnings: vec![],
        }
    }

    fn line(id: &str, q: i64) -> Line {
        Line {
            product_id: id.into(),
            quantity: q,
        }
    }

    #[test]
    fn totals_and_status_follow_the_cart() {
        let stock = |_: &str| 10;
        let mut s = session(vec![
            line("boot_trailridge_mid", 1),
            line("sock_merino_hiker", 2),
        ]);
        s.settle_status(&stock);
        assert_eq!(s.status, Status::ReadyForPayment);
        let p = s.priced().unwrap();
        assert_eq!(p.total, 69_900 + 2 * 8_900);
        s.shipping_option = "ship_express".into();
        assert_eq!(s.priced().unwrap().total, 69_900 + 2 * 8_900 + 2_000);

        let mut big = session(vec![line("boot_trailridge_mid", 10_000)]);
        big.settle_status(&stock);
        assert_eq!(big.status, Status::NotReadyForPayment);
        let m = big.cart_messages(&stock);
        assert_eq!(m[0]["code"], "quantity_exceeded");
        assert!(m[0]["content"].as_str().unwrap().contains("10,000"));

        let mut gone = session(vec![line("boot_glacier_winter", 1)]);
        gone.settle_status(&|_| 0);
        assert_eq!(gone.cart_messages(&|_| 0)[0]["code"], "out_of_stock");
        assert_eq!(gone.status, Status::NotReadyForPayment);

        let mut no_address = session(vec![line("boot_trailridge_mid", 1)]);
        no_address.fulfillment_details = None;
        no_address.settle_status(&stock);
        assert_eq!(no_address.status, Status::NotReadyForPayment);
        assert_eq!(
            no_address.status_at(Timestamp(SESSION_LIFETIME_MS)),
            Status::Expired
        );
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        let s = session(vec![line("tent_ultralight_1p", i64::MAX / 2)]);
        assert!(s.priced().is_err());
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group(10_000), "10,000");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
