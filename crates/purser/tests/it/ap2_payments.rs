//! Payments that present AP2 closed mandates instead of a mandate id: the agent fetches the open
//! mandates Purser issued at consent, closes them with its own key over the merchant's signed
//! checkout (the SDK does it), and pays. Purser verifies both chains and that they describe this
//! very payment, then decides it as any other — on SQLite and PostgreSQL.

use purser_agent::{AgentKey, Client, ClosedMandates, MerchantRef};
use purser_ap2::{Es256Signer, JwsSigner};
use purser_core::mandate::LineItem;
use purser_wallet::evidence::verify::verify_bundle;
use serde_json::{json, Value};

use crate::both;
use crate::payments::{boots_mandate, give_mandate, pay, register_merchant, Merchant};
use crate::people::{bound_agent, cny, unique, Person, Server, TestAgent};
use crate::support::{start, verify, TempDir};

/// The SDK client acting as `agent`.
fn client(p: &dyn Server, agent: &TestAgent) -> Client {
    let jwk = agent.key.to_private_jwk().expect("private jwk");
    Client::new(
        p.base(),
        AgentKey::from_private_jwk(&jwk).expect("agent key"),
    )
    .expect("client")
}

/// The merchant's signed checkout (a UCP checkout object, ES256).
fn checkout_jwt(
    key: &Es256Signer,
    merchant: &str,
    id: &str,
    lines: &[(&str, &str, u32, i64)],
) -> String {
    let total: i64 = lines.iter().map(|(_, _, q, p)| i64::from(*q) * p).sum();
    key.sign_jwt(
        "JWT",
        &json!({
            "id": id,
            "merchant": {"id": merchant, "name": "Trail Outfitters"},
            "line_items": lines.iter().enumerate().map(|(i, (sku, title, q, p))| json!({
                "id": format!("li_{i}"),
                "item": {"id": sku, "title": title, "price": p},
                "quantity": q,
            })).collect::<Vec<_>>(),
            "currency": "CNY",
            "totals": [{"type": "subtotal", "amount": total}, {"type": "total", "amount": total}],
            "status": "ready_for_complete",
        }),
    )
    .expect("sign the checkout")
}

fn payee(m: &Merchant) -> MerchantRef {
    MerchantRef {
        id: m.id.clone(),
        name: Some("Trail Outfitters".into()),
        website: None,
        country: None,
        category: None,
    }
}

fn body(
    user: &Person,
    m: &Merchant,
    closed: &ClosedMandates,
    lines: &[(&str, &str, u32, i64)],
) -> Value {
    let total: i64 = lines.iter().map(|(_, _, q, p)| i64::from(*q) * p).sum();
    json!({
        "user_id": user.id,
        "task_id": "task-ap2",
        "ap2": closed,
        "merchant": {"id": m.id, "name": "Trail Outfitters", "website": format!("https://{}/", m.website)},
        "items": lines.iter().map(|(sku, title, q, p)| json!({
            "id": sku, "title": title, "quantity": q, "unit_price": cny(*p),
        })).collect::<Vec<_>>(),
        "total": cny(total),
    })
}

fn claims_of(jws: &str) -> Value {
    use base64::Engine;
    let payload = jws.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64"),
    )
    .expect("json")
}

const BOOTS: (&str, &str, u32, i64) = ("sku-1", "Trail hiking boots", 1, 39_900);
const WIDE: (&str, &str, u32, i64) = ("sku-3", "Wide hiking boots", 1, 45_000);

both!(pays_with_closed_mandates, |storage| {
    let dir = TempDir::new("ap2pay");
    let p = start(dir.path(), &storage);
    let user = Person::new(&p, "Alice");
    user.funded(&p, 500_000);
    let (agent, _) = bound_agent(&p, &user, &user);
    // AP2 wants the open checkout mandate to name what may be bought.
    let mut m = boots_mandate();
    m.what.line_items = vec![LineItem {
        description: "hiking boots".into(),
        quantity: 1,
        unit: Some("pair".into()),
        max_quantity: None,
    }];
    let mandate = give_mandate(&p, &user, &agent, &m);
    let shop = register_merchant(
        &p,
        "Trail Outfitters",
        &format!("{}.example", unique("trail")),
    );
    let shop_key = Es256Signer::generate(Some("shop".into())).expect("key").0;
    let c = client(&p, &agent);

    // The agent reads its credentials (the person's need the owner's token).
    let creds = c.mandate_credentials(&mandate).expect("credentials");
    assert_eq!(creds.mandate_id, mandate);
    assert_eq!(creds.agent_kid, agent.kid);

    let jwt = checkout_jwt(&shop_key, &shop.id, "cs_1", &[BOOTS]);
    let closed = c
        .close_mandates(&creds, &jwt, &payee(&shop), None, &shop.website, None)
        .expect("close");
    let b = body(&user, &shop, &closed, &[BOOTS]);
    let key = unique("pay");
    let a = pay(&p, &agent, &key, &b).want(201);
    assert_eq!(a["status"], "approved", "{a}");
    assert_eq!(
        a["mandate_id"],
        mandate.as_str(),
        "the mandate comes from the chains"
    );
    assert_eq!(
        a["checkout_id"], "cs_1",
        "the credential is bound to the checkout"
    );
    assert_eq!(a["credential"]["checkout_id"], "cs_1", "{a}");
    let receipt = claims_of(a["receipt"].as_str().expect("receipt"));
    assert!(
        receipt["mandate"]["ap2_reference"]
            .as_str()
            .is_some_and(|r| r.len() == 43),
        "the receipt names the closed payment mandate: {receipt}"
    );
    assert_eq!(user.available(&p), 500_000 - 39_900, "held");

    // A retry is the same answer, even though the budget it spent would now matter.
    let r = pay(&p, &agent, &key, &b);
    assert!(r.replayed(), "{r:?}");
    assert_eq!(r.want(201)["id"], a["id"]);
    // The same closed mandate under a new key: it paid once already.
    pay(&p, &agent, &unique("pay"), &b).refused(409, "ap2_mandate_already_used");

    // The merchant captures it for that checkout.
    let token = a["credential"]["token"].as_str().expect("token");
    let cap = shop
        .post(
            &p,
            "/v1/merchant/captures",
            Some(&unique("cap")),
            &json!({"credential": token, "amount": cny(39_900), "checkout_id": "cs_1"}),
        )
        .want(200);
    assert_eq!(cap["status"], "captured", "{cap}");

    // Its evidence bundle verifies offline: the mandate and checkout come from the closed
    // mandates the agent signed.
    let id = a["id"].as_str().expect("id");
    let bundle = user.get(&p, &format!("/v1/payments/{id}/evidence"));
    assert_eq!(bundle.status, 200, "{}", bundle.text);
    let jwks = crate::people::call(&p, "GET", "/.well-known/jwks.json", None, &[], None).text;
    let report = verify_bundle(&bundle.text, Some(&jwks));
    assert!(
        report.ok,
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );

    // Closed mandates that do not describe the payment are refused, and change nothing.
    let before = user.available(&p);
    let fresh = |lines: &[(&str, &str, u32, i64)], id: &str| {
        let jwt = checkout_jwt(&shop_key, &shop.id, id, lines);
        c.close_mandates(&creds, &jwt, &payee(&shop), None, &shop.website, None)
            .expect("close")
    };
    let closed2 = fresh(&[WIDE], "cs_2");
    let mut other_total = body(
        &user,
        &shop,
        &closed2,
        &[("sku-3", "Wide hiking boots", 1, 44_900)],
    );
    pay(&p, &agent, &unique("pay"), &other_total).refused(422, "ap2_amount_mismatch");
    other_total = body(
        &user,
        &shop,
        &closed2,
        &[("sku-9", "Wide hiking boots", 1, 45_000)],
    );
    pay(&p, &agent, &unique("pay"), &other_total).refused(422, "ap2_items_mismatch");
    let elsewhere = register_merchant(&p, "Elsewhere", &format!("{}.example", unique("else")));
    let wrong = body(&user, &elsewhere, &closed2, &[WIDE]);
    pay(&p, &agent, &unique("pay"), &wrong).refused(422, "ap2_merchant_mismatch");
    let mut named = body(&user, &shop, &closed2, &[WIDE]);
    named["checkout_id"] = json!("cs_other");
    pay(&p, &agent, &unique("pay"), &named).refused(422, "ap2_checkout_mismatch");
    named["checkout_id"] = json!("cs_2");
    let mut other_mandate = mandate.clone();
    other_mandate.pop();
    other_mandate.push(if mandate.ends_with('a') { 'b' } else { 'a' });
    named["mandate_id"] = json!(other_mandate);
    pay(&p, &agent, &unique("pay"), &named).refused(422, "ap2_mandate_mismatch");

    // Closed by a key that is not the one consent named: the signature does not verify.
    let stranger = Client::new(p.base(), AgentKey::generate().expect("key")).expect("client");
    let forged = stranger
        .close_mandates(&creds, &jwt, &payee(&shop), None, &shop.website, None)
        .expect("close");
    let f = body(&user, &shop, &forged, &[BOOTS]);
    pay(&p, &agent, &unique("pay"), &f).refused(422, "ap2_invalid_signature");
    // A chain altered after closing does not parse as what Purser issued.
    let mut altered = closed2.clone();
    altered.payment_mandate = altered.payment_mandate.replacen('.', "x.", 1);
    let f = body(&user, &shop, &altered, &[WIDE]);
    let r = pay(&p, &agent, &unique("pay"), &f);
    assert_eq!(r.status, 422, "{r:?}");
    // Above what the mandate allows per payment: the AP2 constraint refuses it.
    let dear = ("sku-2", "Summit hiking boots", 1, 129_900);
    let closed3 = fresh(&[dear], "cs_3");
    let r = pay(
        &p,
        &agent,
        &unique("pay"),
        &body(&user, &shop, &closed3, &[dear]),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.code().starts_with("ap2_constraint"), "{r:?}");
    assert_eq!(user.available(&p), before, "refusals change nothing");

    // Another agent of the same user cannot use this mandate's credentials.
    let (other, _) = bound_agent(&p, &user, &user);
    client(&p, &other)
        .mandate_credentials(&mandate)
        .map(|_| ())
        .expect_err("not its mandate");

    // And the untouched closed mandates still pay (nothing was marked used by the refusals).
    let ok = pay(
        &p,
        &agent,
        &unique("pay"),
        &body(&user, &shop, &closed2, &[WIDE]),
    )
    .want(201);
    assert_eq!(ok["status"], "approved", "{ok}");
    drop(p);
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify: {out}{err}");
});
