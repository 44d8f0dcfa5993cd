//! Builds AP2 checkout and payment chains (user → agent) with chosen constraints, and a
//! merchant-signed checkout JWT, for the constraint, purchase and mutation tests.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use purser_ap2::{
    append_hop, checkout_hash, issue_root, sd_digest, Ap2Error, Binding, CheckoutAuthenticity,
    Es256Signer, HopContent, PublicJwk, PurchaseOptions, VerifyOptions, SALT_BYTES,
};
use purser_core::Timestamp;
use serde_json::{json, Map, Value};

use crate::support::b64e;

pub const T0: i64 = 1_800_000_000;
pub const CHECKOUT_NONCE: &str = "n-checkout";
pub const PAYMENT_NONCE: &str = "n-payment";

pub fn now() -> Timestamp {
    Timestamp((T0 + 5) * 1000)
}

pub struct Keys {
    pub user: Es256Signer,
    pub agent: Es256Signer,
    pub merchant: EcdsaKeyPair,
}

pub fn keys() -> Keys {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    Keys {
        user: Es256Signer::generate(Some("user".into())).unwrap().0,
        agent: Es256Signer::generate(Some("agent".into())).unwrap().0,
        merchant: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap(),
    }
}

pub fn salts() -> impl FnMut() -> Result<[u8; SALT_BYTES], Ap2Error> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; SALT_BYTES])
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A compact ES256 JWS over `payload` by `key` with header `alg`.
pub fn sign_with(key: &EcdsaKeyPair, alg: &str, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64e(
            json!({"alg": alg, "typ": "JWT", "kid": "merchant"})
                .to_string()
                .as_bytes()
        ),
        b64e(payload.to_string().as_bytes())
    );
    let sig = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64e(sig.as_ref()))
}

pub fn checkout_jwt(k: &Keys, checkout: &Value) -> String {
    sign_with(&k.merchant, "ES256", checkout)
}

pub fn merchant_key(k: &Keys) -> PublicJwk {
    let point = k.merchant.public_key().as_ref();
    PublicJwk::from_jwk(&json!({
        "kty": "EC", "crv": "P-256",
        "x": b64e(&point[1..33]), "y": b64e(&point[33..65]),
    }))
    .unwrap()
}

/// A UCP-style checkout: `(item id, quantity, unit price in minor units)` lines.
pub fn ucp_checkout(merchant_id: &str, currency: &str, lines: &[(&str, u64, i64)]) -> Value {
    let total: i64 = lines.iter().map(|(_, q, p)| *q as i64 * p).sum();
    json!({
        "id": "chk_1",
        "merchant": {"id": merchant_id, "name": "Acme Store"},
        "line_items": lines.iter().enumerate().map(|(i, (id, q, p))| json!({
            "id": format!("li_{i}"),
            "item": {"id": id, "title": format!("Item {id}"), "price": p},
            "quantity": q,
        })).collect::<Vec<_>>(),
        "status": "ready_for_complete",
        "currency": currency,
        "totals": [{"type": "subtotal", "amount": total}, {"type": "total", "amount": total}],
    })
}

pub fn open_mandate(k: &Keys, vct: &str, constraints: Value, extra: Value) -> String {
    let mut mandate = obj(json!({
        "vct": vct,
        "constraints": constraints,
        "cnf": {"jwk": k.agent.public_jwk()},
    }));
    let mut disclosable = Vec::new();
    for (name, v) in obj(extra) {
        disclosable.push(name.clone());
        mandate.insert(name, v);
    }
    let content = HopContent {
        mandate,
        disclosable,
        claims: obj(json!({"iat": T0, "exp": T0 + 3600})),
    };
    issue_root(&k.user, &content, &mut salts()).unwrap()
}

pub fn close(
    k: &Keys,
    open: &str,
    mandate: Value,
    disclosable: &[&str],
    aud: &str,
    nonce: &str,
    binding: Binding,
) -> String {
    let content = HopContent {
        mandate: obj(mandate),
        disclosable: disclosable.iter().map(|s| (*s).to_owned()).collect(),
        claims: Map::new(),
    };
    append_hop(
        open,
        &k.agent,
        binding,
        aud,
        nonce,
        T0,
        false,
        &content,
        &mut salts(),
    )
    .unwrap()
}

/// A checkout chain: open checkout mandate with `constraints`, closed over `jwt`.
pub fn checkout_chain(k: &Keys, constraints: Value, jwt: &str) -> (String, String) {
    let open = open_mandate(k, "mandate.checkout.open.1", constraints, json!({}));
    let chain = close(
        k,
        &open,
        json!({"vct": "mandate.checkout.1", "checkout_jwt": jwt, "checkout_hash": checkout_hash(jwt)}),
        &["checkout_jwt"],
        "merchant",
        CHECKOUT_NONCE,
        Binding::SdHash,
    );
    (open, chain)
}

/// The closed payment mandate paying `transaction_id` with `amount` of `currency`.
pub fn closed_payment(transaction_id: &str, amount: i64, currency: &str) -> Value {
    json!({
        "vct": "mandate.payment.1",
        "transaction_id": transaction_id,
        "payee": {"id": "m-1", "name": "Acme Store"},
        "payment_amount": {"amount": amount, "currency": currency},
        "payment_instrument": {"id": "pi-1", "type": "card", "description": "Card ••••4242"},
    })
}

pub fn payment_chain(k: &Keys, constraints: Value, extra: Value, closed: Value) -> String {
    let open = open_mandate(k, "mandate.payment.open.1", constraints, extra);
    close(
        k,
        &open,
        closed,
        &[],
        "processor",
        PAYMENT_NONCE,
        Binding::SdHash,
    )
}

pub fn checkout_opts(k: &Keys) -> VerifyOptions {
    VerifyOptions::new(k.user.public_key().unwrap(), now())
        .audience("merchant")
        .nonce(CHECKOUT_NONCE)
}

pub fn payment_opts(k: &Keys) -> VerifyOptions {
    VerifyOptions::new(k.user.public_key().unwrap(), now())
        .audience("processor")
        .nonce(PAYMENT_NONCE)
}

/// A whole purchase: checkout (`checkout.line_items` for the cart) and a payment with a
/// `payment.reference` to the open checkout mandate plus `payment_constraints`.
pub struct Purchase {
    pub keys: Keys,
    pub jwt: String,
    pub open_checkout: String,
    pub checkout: String,
    pub payment: String,
}

pub fn line_items_for(lines: &[(&str, u64, i64)]) -> Value {
    json!({"type": "checkout.line_items", "items": lines.iter().map(|(id, q, _)| json!({
        "id": format!("req-{id}"),
        "acceptable_items": [{"id": id, "title": format!("Item {id}")}],
        "quantity": q,
    })).collect::<Vec<_>>()})
}

pub fn purchase(
    currency: &str,
    lines: &[(&str, u64, i64)],
    payment_constraints: Value,
) -> Purchase {
    let keys = keys();
    let checkout = ucp_checkout("m-1", currency, lines);
    let jwt = checkout_jwt(&keys, &checkout);
    let (open_checkout, checkout_chain) = checkout_chain(
        &keys,
        json!([
            {"type": "checkout.allowed_merchants", "allowed": [{"id": "m-1", "name": "Acme Store"}]},
            line_items_for(lines),
        ]),
        &jwt,
    );
    let mut constraints = payment_constraints.as_array().cloned().unwrap_or_default();
    constraints.push(json!({"type": "payment.reference", "conditional_transaction_id": sd_digest(&open_checkout)}));
    let total = checkout["totals"][1]["amount"].as_i64().unwrap();
    let payment = payment_chain(
        &keys,
        Value::Array(constraints),
        json!({}),
        closed_payment(&checkout_hash(&jwt), total, currency),
    );
    Purchase {
        keys,
        jwt,
        open_checkout,
        checkout: checkout_chain,
        payment,
    }
}

pub fn purchase_opts(k: &Keys) -> PurchaseOptions {
    PurchaseOptions {
        checkout: checkout_opts(k),
        payment: payment_opts(k),
        authenticity: CheckoutAuthenticity::MerchantKey(merchant_key(k)),
        usage: None,
    }
}
