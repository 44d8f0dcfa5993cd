//! The wallet through the real server: cards, sandbox top-ups and their declines, 3-D Secure,
//! refunds, exclusive cards, and idempotency — with balances checked in `/v1/wallet`, in the
//! ledger itself (operator view), and by `purser ledger verify` at the end of each flow.

use serde_json::{json, Value};

use crate::both;
use crate::people::*;
use crate::support::*;

/// The ledger's own balance of `account` (operator view).
#[track_caller]
fn ledger_balance(p: &Purser, account: &str) -> i64 {
    let (s, v) = p.get(&format!("/v1/ledger/accounts/{account}"));
    assert_eq!(s, 200, "{account}: {v}");
    v["balance"].as_i64().unwrap()
}

/// Stop the server and check the ledger's invariants on disk.
#[track_caller]
fn stop_and_verify(p: Purser, dir: &TempDir, storage: &Storage) {
    drop(p);
    let (code, out, err) = verify(dir.path(), storage);
    assert_eq!(code, 0, "purser ledger verify: {out}{err}");
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

both!(top_up_credits_the_wallet_once, |storage| {
    let dir = TempDir::new("topup");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let card = alice.add_card(&p, VISA_OK, "123");
    assert_eq!(
        (
            &card["brand"],
            &card["last4"],
            &card["rail"],
            &card["cvv_on_file"]
        ),
        (
            &json!("visa"),
            &json!("4242"),
            &json!("sandbox"),
            &json!(true)
        ),
        "{card}"
    );
    let card = id(&card);
    assert_eq!(alice.available(&p), 0);

    let key = unique("topup");
    let body = json!({"card_id": card, "amount": cny(50_000)});
    let first = alice.post_key(&p, "/v1/topups", &key, &body);
    assert!(!first.replayed());
    let t = first.clone().want(201);
    assert_eq!(
        (&t["status"], &t["sandbox"]),
        (&json!("succeeded"), &json!(true)),
        "{t}"
    );
    assert_eq!(t["amount"]["amount"], 50_000, "{t}");
    let top = id(&t);
    assert!(top.starts_with("top_"), "{t}");

    // The same request again: the same answer, marked as a replay, and no second credit.
    let again = alice.post_key(&p, "/v1/topups", &key, &body);
    assert!(again.replayed(), "{:?}", again.headers);
    assert_eq!(again.want(201), t);
    assert_eq!(alice.available(&p), 50_000);
    let wallet_account = format!("wallet:{}:CNY", alice.id);
    assert_eq!(ledger_balance(&p, &wallet_account), 50_000);

    // The same key for another request is refused; no key at all is refused.
    alice
        .post_key(
            &p,
            "/v1/topups",
            &key,
            &json!({"card_id": card, "amount": cny(60_000)}),
        )
        .refused(422, "idempotency_conflict");
    alice
        .post(&p, "/v1/topups", &body)
        .refused(400, "idempotency_key_required");
    assert_eq!(alice.available(&p), 50_000);
    let list = alice.get(&p, "/v1/topups").want(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let one = alice.get(&p, &format!("/v1/topups/{top}")).want(200);
    assert_eq!(
        (&one["status"], &one["refunded"]["amount"]),
        (&json!("succeeded"), &json!(0))
    );

    // The CVV was used once and is gone; the card still tops up without it.
    let c = alice.get(&p, &format!("/v1/cards/{card}")).want(200);
    assert_eq!(c["cvv_on_file"], false, "{c}");
    let t2 = alice.top_up(&p, &card, 25_000).want(201);
    assert_eq!(t2["status"], "succeeded", "{t2}");
    assert_eq!(alice.available(&p), 75_000);
    assert_eq!(ledger_balance(&p, &wallet_account), 75_000);
    assert_eq!(ledger_balance(&p, "rail:sandbox:CNY"), -75_000);
    stop_and_verify(p, &dir, &storage);
});

both!(sandbox_declines_carry_their_codes, |storage| {
    let dir = TempDir::new("declines");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let cases: [(&str, i64, &str); 5] = [
        ("4000000000009995", 50_000, "insufficient_funds"),
        ("4000000000000002", 50_000, "do_not_honour"),
        ("4000000000000069", 50_000, "card_expired"),
        // Not a sandbox test card: a real-looking number is always declined.
        ("4111111111111111", 50_000, "do_not_honour"),
        // The limit card: at most 50,000.00 per charge.
        ("4000000000005001", 5_000_001, "insufficient_funds"),
    ];
    for (number, minor, code) in cases {
        let card = id(&alice.add_card(&p, number, "123"));
        let key = unique("decline");
        let body = json!({"card_id": card, "amount": cny(minor)});
        let r = alice.post_key(&p, "/v1/topups", &key, &body);
        r.refused(402, code);
        assert_eq!(r.body["type"], "card_error", "{}", r.text);
        assert!(!r.text.contains(number), "{}", r.text);
        // Asking again gives the same decline, not a second charge.
        let again = alice.post_key(&p, "/v1/topups", &key, &body);
        assert!(again.replayed());
        assert_eq!(again.body, r.body);
        let list = alice.get(&p, "/v1/topups").want(200);
        let t = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["card_id"] == card.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no top-up for {number}: {list}"));
        assert_eq!(
            (&t["status"], &t["decline_code"]),
            (&json!("declined"), &json!(code)),
            "{t}"
        );
        let c = alice.get(&p, &format!("/v1/cards/{card}")).want(200);
        assert_eq!(
            c["cvv_on_file"], false,
            "a finished authorization spends the CVV: {c}"
        );
        assert_eq!(alice.available(&p), 0, "{number}");
    }
    // The limit card approves within its limit.
    let limit = alice.get(&p, "/v1/cards").want(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["last4"] == "5001")
        .map(id)
        .unwrap();
    let t = alice.top_up(&p, &limit, 5_000_000).want(201);
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(alice.available(&p), 5_000_000);
    stop_and_verify(p, &dir, &storage);
});

both!(three_d_secure_needs_the_right_answer, |storage| {
    let dir = TempDir::new("3ds");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let card = id(&alice.add_card(&p, VISA_3DS, "123"));
    let challenge = |top: &str, answer: &str| {
        alice.post(
            &p,
            &format!("/v1/topups/{top}/challenge"),
            &json!({"answer": answer}),
        )
    };

    let t1 = alice.top_up(&p, &card, 30_000).want(201);
    assert_eq!(t1["status"], "requires_challenge", "{t1}");
    assert!(
        t1["challenge"].as_str().is_some_and(|c| c.len() > 10),
        "{t1}"
    );
    assert_eq!(
        alice.available(&p),
        0,
        "nothing credited before the challenge"
    );
    let t1 = id(&t1);
    let wrong = challenge(&t1, "000000");
    wrong.refused(402, "challenge_failed");
    assert_eq!(wrong.body["type"], "card_error");
    let t = alice.get(&p, &format!("/v1/topups/{t1}")).want(200);
    assert_eq!(
        (&t["status"], &t["decline_code"]),
        (&json!("declined"), &json!("challenge_failed"))
    );
    challenge(&t1, "123456").refused(409, "topup_state");
    assert_eq!(alice.available(&p), 0);

    let t2 = id(&alice.top_up(&p, &card, 30_000).want(201));
    let ok = challenge(&t2, "123456").want(200);
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert!(ok.get("challenge").is_none(), "{ok}");
    assert_eq!(alice.available(&p), 30_000);
    challenge(&t2, "123456").refused(409, "topup_state");
    assert_eq!(alice.available(&p), 30_000, "credited once");
    stop_and_verify(p, &dir, &storage);
});

both!(refunds_partial_full_and_no_more, |storage| {
    let dir = TempDir::new("refunds");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let (_card, top) = alice.funded(&p, 50_000);
    let path = format!("/v1/topups/{top}/refunds");

    let k1 = unique("refund");
    let part = json!({"amount": cny(20_000)});
    let r1 = alice.post_key(&p, &path, &k1, &part).want(201);
    assert_eq!(
        (&r1["status"], &r1["amount"]["amount"]),
        (&json!("succeeded"), &json!(20_000)),
        "{r1}"
    );
    assert!(id(&r1).starts_with("rfd_"), "{r1}");
    let again = alice.post_key(&p, &path, &k1, &part);
    assert!(again.replayed());
    assert_eq!(again.want(201), r1);
    assert_eq!(alice.available(&p), 30_000);
    let t = alice.get(&p, &format!("/v1/topups/{top}")).want(200);
    assert_eq!(t["refunded"]["amount"], 20_000, "{t}");

    alice
        .post_key(&p, &path, &unique("r"), &json!({"amount": cny(30_001)}))
        .refused(409, "refund_exceeds_topup");
    alice
        .post_key(
            &p,
            &path,
            &unique("r"),
            &json!({"amount": {"amount": 100, "currency": "USD"}}),
        )
        .refused(400, "currency_mismatch");
    alice
        .post(&p, &path, &part)
        .refused(400, "idempotency_key_required");
    alice
        .post_key(&p, &path, &k1, &json!({"amount": cny(1)}))
        .refused(422, "idempotency_conflict");
    assert_eq!(alice.available(&p), 30_000, "refused refunds move nothing");

    // No amount: all that is left.
    let r2 = alice
        .post_key(&p, &path, &unique("r"), &json!({}))
        .want(201);
    assert_eq!(
        (&r2["status"], &r2["amount"]["amount"]),
        (&json!("succeeded"), &json!(30_000)),
        "{r2}"
    );
    assert_eq!(alice.available(&p), 0);
    alice
        .post_key(&p, &path, &unique("r"), &json!({}))
        .refused(409, "refund_exceeds_topup");
    let list = alice.get(&p, &path).want(200);
    let amounts: Vec<i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![20_000, 30_000], "{list}");
    assert_eq!(ledger_balance(&p, &format!("wallet:{}:CNY", alice.id)), 0);
    assert_eq!(ledger_balance(&p, "rail:sandbox:CNY"), 0);
    stop_and_verify(p, &dir, &storage);
});

/// Alice's exclusive card for a new agent of Carol's that she approved.
fn exclusive_card(p: &Purser, alice: &Person, carol: &Person) -> (TestAgent, String, String) {
    let (agent, binding) = bound_agent(p, carol, alice);
    let e = alice
        .post(
            p,
            "/v1/exclusive-cards",
            &json!({"binding_id": binding, "currency": "CNY"}),
        )
        .want(201);
    assert_eq!(
        (&e["status"], &e["agent_id"], &e["balance"]["amount"]),
        (&json!("active"), &json!(agent.id), &json!(0)),
        "{e}"
    );
    (agent, binding, id(&e))
}

/// Move money between the wallet and an exclusive card (`verb` is fund or withdraw).
fn move_money(p: &Purser, who: &Person, ecard: &str, verb: &str, key: &str, minor: i64) -> Resp {
    who.post_key(
        p,
        &format!("/v1/exclusive-cards/{ecard}/{verb}"),
        key,
        &json!({"amount": cny(minor)}),
    )
}

fn ecard_balance(p: &Purser, who: &Person, ecard: &str) -> i64 {
    let e = who
        .get(p, &format!("/v1/exclusive-cards/{ecard}"))
        .want(200);
    e["balance"]["amount"].as_i64().unwrap()
}

both!(refund_after_spending_fails_and_moves_nothing, |storage| {
    let dir = TempDir::new("refund-spent");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let carol = Person::new(&p, "Carol");
    let (_card, top) = alice.funded(&p, 50_000);
    let (_agent, _binding, ecard) = exclusive_card(&p, &alice, &carol);
    move_money(&p, &alice, &ecard, "fund", &unique("f"), 40_000).want(200);
    assert_eq!(alice.available(&p), 10_000);

    let path = format!("/v1/topups/{top}/refunds");
    let r = alice
        .post_key(&p, &path, &unique("r"), &json!({}))
        .want(201);
    assert_eq!(r["status"], "failed", "{r}");
    let why = r["failure"].as_str().unwrap_or_default();
    assert!(
        why.contains("spent") && why.contains("500.00"),
        "a clear reason: {r}"
    );
    assert_eq!(alice.available(&p), 10_000);
    assert_eq!(ecard_balance(&p, &alice, &ecard), 40_000);
    let t = alice.get(&p, &format!("/v1/topups/{top}")).want(200);
    assert_eq!(
        t["refunded"]["amount"], 0,
        "the failed refund gave its reservation back: {t}"
    );

    // What the wallet still holds can go back; after a withdrawal, the rest can too.
    let r = alice
        .post_key(&p, &path, &unique("r"), &json!({"amount": cny(10_000)}))
        .want(201);
    assert_eq!(r["status"], "succeeded", "{r}");
    move_money(&p, &alice, &ecard, "withdraw", &unique("w"), 40_000).want(200);
    let r = alice
        .post_key(&p, &path, &unique("r"), &json!({}))
        .want(201);
    assert_eq!(
        (&r["status"], &r["amount"]["amount"]),
        (&json!("succeeded"), &json!(40_000)),
        "{r}"
    );
    assert_eq!(alice.available(&p), 0);
    let statuses: Vec<Value> = alice.get(&p, &path).want(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!("failed"), json!("succeeded"), json!("succeeded")]
    );
    stop_and_verify(p, &dir, &storage);
});

both!(card_input_is_checked_field_by_field, |storage| {
    let dir = TempDir::new("cards");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let card = |number: &str, expiry: &str, cvv: &str, holder: &str| json!({"number": number, "expiry": expiry, "cvv": cvv, "holder": holder});
    let cases = [
        (
            card("4242424242424241", "12/30", "123", "A"),
            "card_number_luhn",
            "number",
        ),
        (
            card("4242 4242 42x2 4242", "12/30", "123", "A"),
            "card_number_invalid",
            "number",
        ),
        (
            card("42424242", "12/30", "123", "A"),
            "card_number_invalid",
            "number",
        ),
        (
            card("", "12/30", "123", "A"),
            "card_number_invalid",
            "number",
        ),
        (
            card("9999999999999995", "12/30", "123", "A"),
            "card_brand_unsupported",
            "number",
        ),
        (card(VISA_OK, "01/20", "123", "A"), "card_expired", "expiry"),
        (
            card(VISA_OK, "13/30", "123", "A"),
            "card_expiry_invalid",
            "expiry",
        ),
        (
            card(VISA_OK, "soon", "123", "A"),
            "card_expiry_invalid",
            "expiry",
        ),
        (card(VISA_OK, "12/30", "12", "A"), "card_cvv_invalid", "cvv"),
        (
            card(VISA_OK, "12/30", "1234", "A"),
            "card_cvv_invalid",
            "cvv",
        ),
        (
            card(VISA_OK, "12/30", "12a", "A"),
            "card_cvv_invalid",
            "cvv",
        ),
        (
            card(VISA_OK, "12/30", "123", " "),
            "card_holder_invalid",
            "holder",
        ),
        (
            card(VISA_OK, "12/30", "123", "A\nB"),
            "card_holder_invalid",
            "holder",
        ),
    ];
    for (body, code, param) in &cases {
        let r = alice.post(&p, "/v1/cards", body);
        r.refused(400, code);
        assert_eq!(r.body["param"], *param, "{body}: {}", r.text);
        let number = body["number"].as_str().unwrap();
        if number.len() > 8 {
            assert!(
                !r.text.contains(number),
                "the error repeats no number: {}",
                r.text
            );
        }
    }
    assert_eq!(alice.get(&p, "/v1/cards").want(200)["data"], json!([]));

    // Accepted, once: the same number written another way is the same card.
    let visa = alice.add_card(&p, VISA_OK, "123");
    alice
        .post(&p, "/v1/cards", &card_body("4242 4242 4242 4242", "456"))
        .refused(409, "card_exists");
    let mc = alice
        .post(
            &p,
            "/v1/cards",
            &json!({"number": "5555-5555-5555-4444", "exp_month": 7, "exp_year": 2031, "cvv": "999", "holder": "Ada"}),
        )
        .want(201);
    assert_eq!(
        (&mc["brand"], &mc["exp_month"], &mc["exp_year"]),
        (&json!("mastercard"), &json!(7), &json!(2031)),
        "{mc}"
    );
    assert!(
        visa.get("number").is_none() && visa.get("cvv").is_none(),
        "{visa}"
    );

    // Removal: gone from the list and from use; history stays readable; it can come back.
    let visa = id(&visa);
    let gone = alice
        .post(&p, &format!("/v1/cards/{visa}/remove"), &json!({}))
        .want(200);
    assert_eq!(
        (&gone["status"], &gone["cvv_on_file"]),
        (&json!("removed"), &json!(false)),
        "{gone}"
    );
    let list = alice.get(&p, "/v1/cards").want(200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id(&mc).as_str()], "{list}");
    assert_eq!(
        alice.get(&p, &format!("/v1/cards/{visa}")).want(200)["status"],
        "removed"
    );
    alice.top_up(&p, &visa, 1_000).refused(409, "card_removed");
    assert_eq!(alice.available(&p), 0);
    let back = alice.add_card(&p, VISA_OK, "123");
    assert_ne!(id(&back), visa);
    assert_eq!(
        back["fingerprint"], gone["fingerprint"],
        "the same number, the same fingerprint"
    );
    stop_and_verify(p, &dir, &storage);
});

both!(exclusive_cards_hold_what_the_user_moves, |storage| {
    let dir = TempDir::new("ecards");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let carol = Person::new(&p, "Carol");
    alice.funded(&p, 50_000);
    let (agent, binding, ecard) = exclusive_card(&p, &alice, &carol);
    alice
        .post(
            &p,
            "/v1/exclusive-cards",
            &json!({"binding_id": binding, "currency": "CNY"}),
        )
        .refused(409, "exclusive_card_exists");
    // Not before the user approved the agent.
    let pending = register_agent(&p, &carol, "waiting").request_binding(&p, &alice);
    alice
        .post(
            &p,
            "/v1/exclusive-cards",
            &json!({"binding_id": pending, "currency": "CNY"}),
        )
        .refused(409, "binding_state");

    // Fund: needs a key; moves once per key.
    alice
        .post(
            &p,
            &format!("/v1/exclusive-cards/{ecard}/fund"),
            &json!({"amount": cny(20_000)}),
        )
        .refused(400, "idempotency_key_required");
    let k = unique("fund");
    let e = move_money(&p, &alice, &ecard, "fund", &k, 20_000).want(200);
    assert_eq!(e["balance"]["amount"], 20_000, "{e}");
    let again = move_money(&p, &alice, &ecard, "fund", &k, 20_000);
    assert!(again.replayed());
    assert_eq!(again.want(200), e);
    move_money(&p, &alice, &ecard, "fund", &k, 20_001).refused(422, "idempotency_conflict");
    assert_eq!(alice.available(&p), 30_000);

    // More than the wallet holds: refused, nothing moves.
    move_money(&p, &alice, &ecard, "fund", &unique("f"), 30_001).refused(409, "insufficient_funds");
    assert_eq!(
        (alice.available(&p), ecard_balance(&p, &alice, &ecard)),
        (30_000, 20_000)
    );

    let e = move_money(&p, &alice, &ecard, "withdraw", &unique("w"), 5_000).want(200);
    assert_eq!(e["balance"]["amount"], 15_000, "{e}");
    move_money(&p, &alice, &ecard, "withdraw", &unique("w"), 15_001)
        .refused(409, "insufficient_funds");
    assert_eq!(
        (alice.available(&p), ecard_balance(&p, &alice, &ecard)),
        (35_000, 15_000)
    );
    assert_eq!(ledger_balance(&p, &format!("ecard:{ecard}")), 15_000);

    // The agent sees its exclusive card, and never the main balance.
    let funds_path = format!("/v1/agent/users/{}/funds", alice.id);
    let f = agent.call(&p, "GET", &funds_path, None);
    let fv = f.clone().want(200);
    let mut keys: Vec<&str> = fv.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["binding_id", "exclusive_cards", "funding_source", "user_id"],
        "{fv}"
    );
    assert_eq!(fv["binding_id"], binding.as_str());
    assert_eq!(fv["exclusive_cards"].as_array().unwrap().len(), 1, "{fv}");
    assert_eq!(fv["exclusive_cards"][0]["id"], ecard.as_str());
    assert_eq!(fv["exclusive_cards"][0]["balance"]["amount"], 15_000);
    assert!(
        !f.text.contains("35000") && !f.text.contains("350.00"),
        "{}",
        f.text
    );
    assert!(
        !f.text.contains("50000") && !f.text.contains("500.00"),
        "{}",
        f.text
    );

    // Close: the rest returns to the wallet; the card takes no more; the agent sees none.
    let closed = alice
        .post(
            &p,
            &format!("/v1/exclusive-cards/{ecard}/close"),
            &json!({}),
        )
        .want(200);
    assert_eq!(
        (&closed["status"], &closed["balance"]["amount"]),
        (&json!("closed"), &json!(0)),
        "{closed}"
    );
    assert_eq!(alice.available(&p), 50_000);
    move_money(&p, &alice, &ecard, "fund", &unique("f"), 100).refused(409, "exclusive_card_closed");
    let f = agent.call(&p, "GET", &funds_path, None).want(200);
    assert_eq!(f["exclusive_cards"], json!([]), "{f}");
    // A new one may be made for the same agent.
    let e2 = alice
        .post(
            &p,
            "/v1/exclusive-cards",
            &json!({"binding_id": binding, "currency": "CNY"}),
        )
        .want(201);
    assert_ne!(id(&e2), ecard);
    stop_and_verify(p, &dir, &storage);
});
