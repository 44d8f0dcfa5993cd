//! Nobody reads or moves anybody else's things. Alice builds a wallet with one of everything;
//! Bob (holding every scope) then tries every user route that takes an id on Alice's objects,
//! and must get 404 `*_not_found` (never 403: ids cannot be probed) with Alice's objects
//! unchanged. Then the doors themselves: missing, garbage, revoked and operator tokens,
//! scopes, and the operator routes.

use serde_json::{json, Value};

use crate::both;
use crate::people::*;
use crate::support::*;

/// Alice's things, one of each kind.
struct World {
    /// A card with a succeeded top-up.
    card: String,
    /// Succeeded, partly refunded.
    topup: String,
    /// Waiting for its 3-D Secure answer.
    challenge_topup: String,
    /// An exclusive card on `binding`, funded.
    ecard: String,
    /// Active binding of Carol's agent `x`.
    binding: String,
    /// Pending binding of another agent of Carol's.
    pending: String,
    /// An agent Alice develops, and its key id.
    agent: String,
    kid: String,
    /// A second token of Alice's.
    token: String,
    /// Carol's agent bound to Alice (and to Bob).
    x: TestAgent,
    /// Alice's active mandate for `x`, and a draft one.
    mandate: String,
    draft: String,
    /// A payment `x` asked for under `mandate`, and its task.
    payment: String,
    task: String,
    /// An ACP key Alice issued for `binding`.
    acp_key: String,
}

fn alice_world(p: &Purser, alice: &Person, carol: &Person) -> World {
    let (card, topup) = alice.funded(p, 50_000);
    let r = alice
        .post_key(
            p,
            &format!("/v1/topups/{topup}/refunds"),
            &unique("refund"),
            &json!({"amount": cny(10_000)}),
        )
        .want(201);
    assert_eq!(r["status"], "succeeded", "{r}");
    let c3 = alice.add_card(p, VISA_3DS, "123");
    let ch = alice
        .top_up(p, c3["id"].as_str().unwrap(), 20_000)
        .want(201);
    assert_eq!(ch["status"], "requires_challenge", "{ch}");
    let (x, binding) = bound_agent(p, carol, alice);
    let ecard = alice
        .post(
            p,
            "/v1/exclusive-cards",
            &json!({"binding_id": binding, "currency": "CNY"}),
        )
        .want(201);
    let ecard = ecard["id"].as_str().unwrap().to_string();
    alice
        .post_key(
            p,
            &format!("/v1/exclusive-cards/{ecard}/fund"),
            &unique("fund"),
            &json!({"amount": cny(10_000)}),
        )
        .want(200);
    let pending = register_agent(p, carol, "second agent").request_binding(p, alice);
    let mine = register_agent(p, alice, "alice's own agent");
    let token = alice.token_with(p, &["wallet:read"]).token_id;
    let words = json!({"agent_id": x.id, "text": "buy a pair of hiking boots under 800 yuan"});
    let m = alice.post(p, "/v1/mandates", &words).want(201);
    let mandate = m["id"].as_str().unwrap().to_string();
    alice
        .post(
            p,
            &format!("/v1/mandates/{mandate}/consent"),
            &json!({"content_hash": m["content_hash"]}),
        )
        .want(200);
    let draft = alice.post(p, "/v1/mandates", &words).want(201);
    let draft = draft["id"].as_str().unwrap().to_string();
    let shop = crate::payments::register_merchant(
        p,
        "Trail Outfitters",
        &format!("{}.example", unique("own")),
    );
    let mut body = crate::payments::pay_body(alice, &mandate, &shop, "Hiking boots", 1, 10_000);
    let task = unique("own-task");
    body["task_id"] = json!(task);
    let pay = crate::payments::pay(p, &x, &unique("own-pay"), &body).want(201);
    assert_eq!(pay["status"], "needs_confirmation", "{pay}");
    let payment = pay["id"].as_str().unwrap().to_string();
    let acp_key = alice
        .post(p, &format!("/v1/bindings/{binding}/acp-keys"), &json!({}))
        .want(201);
    let acp_key = acp_key["id"].as_str().unwrap().to_string();
    World {
        card,
        topup,
        challenge_topup: ch["id"].as_str().unwrap().to_string(),
        ecard,
        binding,
        pending,
        agent: mine.id,
        kid: mine.kid,
        token,
        x,
        mandate,
        draft,
        payment,
        task,
        acp_key,
    }
}

impl World {
    fn ids(&self) -> Vec<&str> {
        vec![
            &self.card,
            &self.topup,
            &self.challenge_topup,
            &self.ecard,
            &self.binding,
            &self.pending,
            &self.agent,
            &self.token,
            &self.mandate,
            &self.draft,
            &self.payment,
            &self.acp_key,
        ]
    }

    /// Everything Alice can read about her things.
    fn views(&self) -> Vec<String> {
        vec![
            format!("/v1/cards/{}", self.card),
            "/v1/cards".into(),
            format!("/v1/topups/{}", self.topup),
            format!("/v1/topups/{}", self.challenge_topup),
            format!("/v1/topups/{}/refunds", self.topup),
            "/v1/topups".into(),
            format!("/v1/exclusive-cards/{}", self.ecard),
            "/v1/exclusive-cards".into(),
            format!("/v1/bindings/{}", self.binding),
            format!("/v1/bindings/{}", self.pending),
            format!("/v1/bindings/{}/acp-keys", self.binding),
            "/v1/bindings".into(),
            format!("/v1/agents/{}", self.agent),
            "/v1/agents".into(),
            "/v1/tokens".into(),
            "/v1/wallet".into(),
            format!("/v1/mandates/{}", self.mandate),
            format!("/v1/mandates/{}", self.draft),
            format!("/v1/mandates/{}/credentials", self.mandate),
            "/v1/mandates".into(),
            format!("/v1/payments/{}", self.payment),
            format!("/v1/tasks/{}", self.task),
            "/v1/tasks".into(),
            "/v1/bills".into(),
        ]
    }
}

/// What Alice sees, view by view.
fn snapshot(p: &Purser, alice: &Person, w: &World) -> Vec<(String, Value)> {
    w.views()
        .into_iter()
        .map(|path| {
            let v = alice.get(p, &path).want(200);
            (path, v)
        })
        .collect()
}

/// One attempt on somebody else's object, and the refusal it must get.
struct Probe {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Send a fresh Idempotency-Key (routes that move money need one).
    key: bool,
    code: &'static str,
}

impl Probe {
    fn get(path: String, code: &'static str) -> Probe {
        Probe {
            method: "GET",
            path,
            body: None,
            key: false,
            code,
        }
    }

    fn post(path: String, body: Value, code: &'static str) -> Probe {
        Probe {
            method: "POST",
            path,
            body: Some(body),
            key: false,
            code,
        }
    }

    fn keyed(mut self) -> Probe {
        self.key = true;
        self
    }
}

/// The operations of the server's OpenAPI document that use `scheme` ("user", "operator"), as
/// (METHOD, path pattern). The document is built from the handlers, so a new route shows up
/// here and must be covered.
fn documented_routes(p: &Purser, scheme: &str) -> Vec<(String, String)> {
    let (s, api) = p.get("/openapi.json");
    assert_eq!(s, 200);
    let mut out = Vec::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let uses = operation["security"]
                .as_array()
                .is_some_and(|all| all.iter().any(|s| s.get(scheme).is_some()));
            if uses {
                out.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Whether `path` is an instance of the OpenAPI `pattern` (`/v1/cards/{id}`).
fn instance_of(path: &str, pattern: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), pattern.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || y.starts_with('{'))
}

/// `pattern` with every `{param}` filled in with an id nobody has.
fn filled(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "xyz_AAAAAAAAAAAAAAAAAAAAAAAA"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every user route that takes an id, aimed at Alice's objects. `fresh_jwk` is a key nobody
/// registered; `own_card` is a card of the caller's own.
fn probes(w: &World, fresh_jwk: &Value, own_card: &str) -> Vec<Probe> {
    let (card, topup, ecard, agent) = (&w.card, &w.topup, &w.ecard, &w.agent);
    let mut v = vec![
        Probe::get(format!("/v1/cards/{card}"), "card_not_found"),
        Probe::post(
            format!("/v1/cards/{card}/remove"),
            json!({}),
            "card_not_found",
        ),
        Probe::post(
            "/v1/topups".into(),
            json!({"card_id": card, "amount": cny(1_000)}),
            "card_not_found",
        )
        .keyed(),
        Probe::get(format!("/v1/topups/{topup}"), "topup_not_found"),
        Probe::post(
            format!("/v1/topups/{}/challenge", w.challenge_topup),
            json!({"answer": "123456"}),
            "topup_not_found",
        ),
        Probe::post(
            format!("/v1/topups/{topup}/refunds"),
            json!({"amount": cny(1_000)}),
            "topup_not_found",
        )
        .keyed(),
        Probe::post(
            format!("/v1/topups/{topup}/refunds"),
            json!({}),
            "topup_not_found",
        )
        .keyed(),
        Probe::get(format!("/v1/topups/{topup}/refunds"), "topup_not_found"),
        Probe::get(
            format!("/v1/exclusive-cards/{ecard}"),
            "exclusive_card_not_found",
        ),
        Probe::post(
            format!("/v1/exclusive-cards/{ecard}/fund"),
            json!({"amount": cny(1_000)}),
            "exclusive_card_not_found",
        )
        .keyed(),
        Probe::post(
            format!("/v1/exclusive-cards/{ecard}/withdraw"),
            json!({"amount": cny(1_000)}),
            "exclusive_card_not_found",
        )
        .keyed(),
        Probe::post(
            format!("/v1/exclusive-cards/{ecard}/close"),
            json!({}),
            "exclusive_card_not_found",
        ),
        Probe::get(format!("/v1/agents/{agent}"), "agent_not_found"),
        Probe::post(
            format!("/v1/agents/{agent}/keys"),
            json!({"public_key_jwk": fresh_jwk}),
            "agent_not_found",
        ),
        Probe::post(
            format!("/v1/agents/{agent}/keys/{}/revoke", w.kid),
            json!({}),
            "agent_not_found",
        ),
        Probe::post(
            format!("/v1/agents/{agent}/revoke"),
            json!({}),
            "agent_not_found",
        ),
        Probe::post(
            format!("/v1/tokens/{}/revoke", w.token),
            json!({}),
            "token_not_found",
        ),
    ];
    v.push(Probe::get(
        format!("/v1/payments/{}", w.payment),
        "payment_not_found",
    ));
    v.push(Probe::get(
        format!("/v1/payments/{}/evidence", w.payment),
        "payment_not_found",
    ));
    v.push(Probe::get(
        format!("/v1/tasks/{}", w.task),
        "task_not_found",
    ));
    v.push(Probe::get(
        format!("/v1/tasks/{}/stream", w.task),
        "task_not_found",
    ));
    for m in [&w.mandate, &w.draft] {
        let nf = "mandate_not_found";
        v.push(Probe::get(format!("/v1/mandates/{m}"), nf));
        v.push(Probe::get(format!("/v1/mandates/{m}/credentials"), nf));
        v.push(Probe::get(format!("/v1/mandates/{m}/charges"), nf));
        v.push(Probe::post(
            format!("/v1/mandates/{m}"),
            json!({"mandate": {"description": "Anything at all"}}),
            nf,
        ));
        v.push(Probe::post(
            format!("/v1/mandates/{m}/consent"),
            json!({"content_hash": "00"}),
            nf,
        ));
        v.push(Probe::post(
            format!("/v1/mandates/{m}/simulate"),
            json!({"amount": cny(1_000)}),
            nf,
        ));
        v.push(Probe::post(
            format!("/v1/mandates/{m}/revoke"),
            json!({}),
            nf,
        ));
    }
    v.push(Probe::post(
        format!("/v1/acp-keys/{}/revoke", w.acp_key),
        json!({}),
        "acp_key_not_found",
    ));
    for binding in [&w.binding, &w.pending] {
        v.push(Probe::get(
            format!("/v1/bindings/{binding}"),
            "binding_not_found",
        ));
        v.push(Probe::get(
            format!("/v1/bindings/{binding}/acp-keys"),
            "binding_not_found",
        ));
        v.push(Probe::post(
            format!("/v1/bindings/{binding}/acp-keys"),
            json!({}),
            "binding_not_found",
        ));
        for verb in ["approve", "decline", "freeze", "unfreeze", "revoke"] {
            v.push(Probe::post(
                format!("/v1/bindings/{binding}/{verb}"),
                json!({}),
                "binding_not_found",
            ));
        }
        for source in [json!(null), json!(own_card), json!(card), json!(ecard)] {
            v.push(Probe::post(
                format!("/v1/bindings/{binding}/funding-source"),
                json!({"funding_source": source}),
                "binding_not_found",
            ));
        }
        v.push(
            Probe::post(
                "/v1/exclusive-cards".into(),
                json!({"binding_id": binding, "currency": "CNY"}),
                "binding_not_found",
            )
            .keyed(),
        );
    }
    v
}

both!(
    another_users_objects_are_not_found_and_untouched,
    |storage| {
        let dir = TempDir::new("own");
        let p = start(dir.path(), &storage);
        let alice = Person::new(&p, "Alice");
        let bob = Person::new(&p, "Bob");
        let carol = Person::new(&p, "Carol");
        let w = alice_world(&p, &alice, &carol);
        let bob_card = bob.add_card(&p, MASTERCARD_OK, "321");
        let bob_card = bob_card["id"].as_str().unwrap();

        let before = snapshot(&p, &alice, &w);
        let fresh = new_key().public_key().to_jwk();
        let table = probes(&w, &fresh, bob_card);
        for pr in &table {
            let key = unique("probe");
            let headers: Vec<(&str, &str)> = if pr.key {
                vec![("Idempotency-Key", key.as_str())]
            } else {
                vec![]
            };
            let r = bob.call(&p, pr.method, &pr.path, &headers, pr.body.as_ref());
            assert_eq!(
                (r.status, r.code()),
                (404, pr.code),
                "Bob: {} {} {:?} → {}",
                pr.method,
                pr.path,
                pr.body,
                r.text
            );
            for id in w.ids() {
                assert!(
                    !r.text.contains(&format!("\"id\":\"{id}\"")),
                    "a refusal shows nothing of Alice's: {}",
                    r.text
                );
            }
        }
        // Every documented user route with an id has a probe.
        let id_routes: Vec<(String, String)> = documented_routes(&p, "user")
            .into_iter()
            .filter(|(_, path)| path.contains('{'))
            .collect();
        assert!(id_routes.len() >= 20, "{id_routes:?}");
        for (method, pattern) in &id_routes {
            assert!(
                table
                    .iter()
                    .any(|pr| pr.method == method && instance_of(&pr.path, pattern)),
                "no probe for {method} {pattern}: add one to probes()"
            );
        }
        let after = snapshot(&p, &alice, &w);
        for ((path, b), (_, a)) in before.iter().zip(&after) {
            assert_eq!(b, a, "Alice's {path} changed under Bob's attempts");
        }

        // Bob's own lists show nothing of Alice's.
        for path in [
            "/v1/cards",
            "/v1/topups",
            "/v1/exclusive-cards",
            "/v1/bindings",
            "/v1/agents",
            "/v1/tokens",
            "/v1/wallet",
            "/v1/mandates",
        ] {
            let r = bob.get(&p, path);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            for id in w.ids().into_iter().chain([alice.id.as_str()]) {
                assert!(!r.text.contains(id), "Bob's {path} shows {id}: {}", r.text);
            }
        }
        // Bob's card was not charged by his own attempts either.
        let bc = bob.get(&p, &format!("/v1/cards/{bob_card}")).want(200);
        assert_eq!(bc["cvv_on_file"], true, "{bc}");
        assert_eq!(bob.available(&p), 0);

        // Alice still holds everything: her challenge, her second token, her agent's binding.
        let done = alice
            .post(
                &p,
                &format!("/v1/topups/{}/challenge", w.challenge_topup),
                &json!({"answer": "123456"}),
            )
            .want(200);
        assert_eq!(done["status"], "succeeded", "{done}");
        let tokens = alice.get(&p, "/v1/tokens").want(200);
        let second = tokens["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == w.token.as_str())
            .cloned()
            .unwrap();
        assert!(second.get("revoked_at").is_none(), "{second}");
        let funds =
            w.x.call(
                &p,
                "GET",
                &format!("/v1/agent/users/{}/funds", alice.id),
                None,
            )
            .want(200);
        assert_eq!(funds["binding_id"], w.binding.as_str(), "{funds}");
        assert_eq!(
            funds["exclusive_cards"][0]["id"],
            w.ecard.as_str(),
            "{funds}"
        );
        assert_eq!(
            funds["exclusive_cards"][0]["balance"]["amount"], 10_000,
            "{funds}"
        );
    }
);

both!(own_links_cannot_point_at_another_users_objects, |storage| {
    let dir = TempDir::new("own-links");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let bob = Person::new(&p, "Bob");
    let carol = Person::new(&p, "Carol");
    // Carol's agent is bound to both, and each has an exclusive card with it.
    let (x, alice_binding) = bound_agent(&p, &carol, &alice);
    let bob_binding = x.request_binding(&p, &bob);
    approve(&p, &bob, &bob_binding);
    let ecard_of = |who: &Person, binding: &str| {
        let e = who
            .post(
                &p,
                "/v1/exclusive-cards",
                &json!({"binding_id": binding, "currency": "CNY"}),
            )
            .want(201);
        e["id"].as_str().unwrap().to_string()
    };
    let alice_ecard = ecard_of(&alice, &alice_binding);
    let bob_ecard = ecard_of(&bob, &bob_binding);
    let bob_card = bob.add_card(&p, MASTERCARD_OK, "321");
    let bob_card = bob_card["id"].as_str().unwrap();
    let (alice_card, _) = alice.funded(&p, 30_000);

    // Alice's binding cannot be restricted to Bob's card or Bob's exclusive card.
    let source = format!("/v1/bindings/{alice_binding}/funding-source");
    for theirs in [bob_card, bob_ecard.as_str()] {
        alice
            .post(&p, &source, &json!({"funding_source": theirs}))
            .refused(400, "funding_source_invalid");
    }
    let b = alice
        .get(&p, &format!("/v1/bindings/{alice_binding}"))
        .want(200);
    assert_eq!(b["funding_source"], Value::Null, "{b}");
    // Her own card and her own exclusive card are fine.
    for mine in [&alice_card, &alice_ecard] {
        let b = alice
            .post(&p, &source, &json!({"funding_source": mine}))
            .want(200);
        assert_eq!(b["funding_source"], mine.as_str(), "{b}");
    }

    // No exclusive card on Bob's binding, and no second one sneaked onto hers for him.
    alice
        .post(
            &p,
            "/v1/exclusive-cards",
            &json!({"binding_id": bob_binding, "currency": "USD"}),
        )
        .refused(404, "binding_not_found");
    // No top-up from Bob's card: it stays untouched (its CVV still on file).
    alice
        .post_key(
            &p,
            "/v1/topups",
            &unique("k"),
            &json!({"card_id": bob_card, "amount": cny(1_000)}),
        )
        .refused(404, "card_not_found");
    let bc = bob.get(&p, &format!("/v1/cards/{bob_card}")).want(200);
    assert_eq!(bc["cvv_on_file"], true, "{bc}");
    assert_eq!(alice.available(&p), 30_000);
    assert_eq!(bob.available(&p), 0);

    // The agent sees, per user, only that user's exclusive card.
    for (user, ecard) in [(&alice, &alice_ecard), (&bob, &bob_ecard)] {
        let f = x
            .call(
                &p,
                "GET",
                &format!("/v1/agent/users/{}/funds", user.id),
                None,
            )
            .want(200);
        let ids: Vec<&str> = f["exclusive_cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![ecard.as_str()], "{f}");
    }
});

both!(
    tokens_scopes_and_operator_routes_guard_every_door,
    |storage| {
        let dir = TempDir::new("doors");
        let p = start(dir.path(), &storage);
        let alice = Person::new(&p, "Alice");
        let key = [("Idempotency-Key", "door-key")];
        let longer = format!("{}x", alice.token);
        let basic = format!("Basic {}", alice.token);
        let user_routes = documented_routes(&p, "user");
        assert!(user_routes.len() >= 30, "{user_routes:?}");
        for (m, pattern) in &user_routes {
            let path = filled(pattern);
            let body = (m == "POST").then(|| json!({}));
            call(&p, m, &path, None, &key, body.as_ref()).refused(401, "token_missing");
            for garbage in [
                "garbage",
                "pst_",
                "pst_AAAAAAAAAAAAAAAAAAAAAAAA_nope",
                longer.as_str(),
                p.token.as_str(),
            ] {
                call(&p, m, &path, Some(garbage), &key, body.as_ref())
                    .refused(401, "token_invalid");
            }
            // Another scheme is no token at all.
            call(
                &p,
                m,
                &path,
                None,
                &[("Authorization", basic.as_str())],
                body.as_ref(),
            )
            .refused(401, "token_missing");
        }

        // Operator routes refuse user tokens, and do nothing.
        let vault_before = p.get("/v1/operator/vault").1;
        let operator_routes: [(&str, String, Option<Value>); 6] = [
            ("POST", "/v1/users".into(), Some(json!({"name": "Mallory"}))),
            ("GET", format!("/v1/users/{}", alice.id), None),
            (
                "GET",
                format!("/v1/ledger/accounts/wallet:{}:CNY", alice.id),
                None,
            ),
            (
                "POST",
                "/v1/ledger/accounts".into(),
                Some(json!({"id": "mine", "currency": "CNY", "flags": {}})),
            ),
            ("GET", "/v1/operator/vault".into(), None),
            ("POST", "/v1/operator/vault/rotate".into(), Some(json!({}))),
        ];
        for (m, path, body) in &operator_routes {
            let r = alice.call(&p, m, path, &[], body.as_ref());
            r.refused(401, "unauthorized");
            call(&p, m, path, None, &[], body.as_ref()).refused(401, "unauthorized");
        }
        let operator = documented_routes(&p, "operator");
        assert!(operator.len() >= 10, "{operator:?}");
        for (m, pattern) in &operator {
            let body = (m == "POST").then(|| json!({}));
            alice
                .call(&p, m, &filled(pattern), &[], body.as_ref())
                .refused(401, "unauthorized");
        }
        assert_eq!(p.get("/v1/operator/vault").1, vault_before);
        assert_eq!(p.get("/v1/ledger/accounts/mine").0, 404);

        // A read-only token reads, and is refused everything else with scope_missing.
        let reader = alice.token_with(&p, &["wallet:read"]);
        reader.get(&p, "/v1/wallet").want(200);
        reader.get(&p, "/v1/cards").want(200);
        reader
            .post(&p, "/v1/cards", &card_body(VISA_OK, "123"))
            .refused(403, "scope_missing");
        reader
            .post_key(
                &p,
                "/v1/topups",
                &unique("k"),
                &json!({"card_id": "crd_AAAAAAAAAAAAAAAAAAAAAAAA", "amount": cny(100)}),
            )
            .refused(403, "scope_missing");
        reader.get(&p, "/v1/bindings").refused(403, "scope_missing");
        reader.get(&p, "/v1/agents").refused(403, "scope_missing");
        reader.get(&p, "/v1/tokens").refused(403, "scope_missing");
        reader
            .post(
                &p,
                "/v1/tokens",
                &json!({"name": "more", "scopes": ["wallet:read"]}),
            )
            .refused(403, "scope_missing");
        let cards = alice.get(&p, "/v1/cards").want(200);
        assert_eq!(cards["data"], json!([]), "the refused card was not added");

        // A token cannot grant what it does not hold.
        let minter = alice.token_with(&p, &["tokens", "wallet:read"]);
        minter
            .post(
                &p,
                "/v1/tokens",
                &json!({"name": "wider", "scopes": ["wallet:write"]}),
            )
            .refused(403, "scope_not_held");
        let narrower = minter.token_with(&p, &["wallet:read"]);
        narrower.get(&p, "/v1/wallet").want(200);
        let me = narrower.get(&p, "/v1/me").want(200);
        assert_eq!(me["scopes"], json!(["wallet:read"]), "{me}");
        assert_eq!(me["user"]["id"], alice.id.as_str(), "{me}");

        // A revoked token stops at the very next request; the others go on.
        let r = alice
            .post(
                &p,
                &format!("/v1/tokens/{}/revoke", reader.token_id),
                &json!({}),
            )
            .want(200);
        assert!(r["revoked_at"].is_string(), "{r}");
        reader.get(&p, "/v1/wallet").refused(401, "token_invalid");
        alice.get(&p, "/v1/wallet").want(200);
        narrower.get(&p, "/v1/wallet").want(200);

        // A setup token works once.
        let u = p.post("/v1/users", &json!({"name": "Dora"})).1;
        let setup = json!({"setup_token": u["setup_token"]});
        call(&p, "POST", "/v1/setup", None, &[], Some(&setup)).want(201);
        call(&p, "POST", "/v1/setup", None, &[], Some(&setup)).refused(401, "setup_token_invalid");
    }
);
