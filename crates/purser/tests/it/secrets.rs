//! A card's number and security code never leave the vault: not into the database (files, or
//! PostgreSQL rows), not into the logs (at trace level), not into any answer. The vault's key
//! file is private, and rotating it (then destroying the old key, then restarting) keeps every
//! card usable.
//!
//! Each search has a positive control (something that *is* stored, logged or answered in the
//! clear, such as the holder name), so a search that reads nothing cannot pass.

use std::path::Path;

use serde_json::{json, Value};

use crate::both;
use crate::people::*;
use crate::support::*;

/// The card under watch (a sandbox card that approves) and a CVV no other value shares.
const PAN: &str = "4242424242424242";
const PAN_TYPED: &str = "4242 4242 4242 4242";
const CVV: &str = "737";

/// Every form the number or the CVV could take if it leaked.
fn secret_forms() -> Vec<String> {
    vec![
        PAN.into(),
        PAN_TYPED.into(),
        "4242-4242-4242-4242".into(),
        // As hex (a PostgreSQL bytea) and as base64.
        hex(PAN.as_bytes()),
        "NDI0MjQyNDI0MjQyNDI0Mg".into(),
        format!("\"cvv\":\"{CVV}\""),
        format!("\"cvv\": \"{CVV}\""),
        format!("\"cvv\":{CVV}"),
        format!("cvv={CVV}"),
        format!("cvv: \"{CVV}\""),
        format!("\"{CVV}\""),
    ]
}

fn find(haystack: &[u8], needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    haystack.windows(n.len()).position(|w| w == n)
}

/// Panic if any secret form is in `haystack`, and unless `control` is (the search saw data).
#[track_caller]
fn assert_clean(what: &str, haystack: &[u8], control: Option<&str>) {
    for form in secret_forms() {
        if let Some(at) = find(haystack, &form) {
            let from = at.saturating_sub(80);
            let to = (at + form.len() + 80).min(haystack.len());
            panic!(
                "{what} holds the card secret {form:?} at byte {at}: …{}…",
                String::from_utf8_lossy(&haystack[from..to])
            );
        }
    }
    if let Some(c) = control {
        assert!(
            find(haystack, c).is_some(),
            "{what}: the control {c:?} is missing, so this search saw nothing"
        );
    }
}

/// Every file in the data directory, and on PostgreSQL every row of every table.
#[track_caller]
fn assert_storage_clean(data: &Path, storage: &Storage, when: &str) {
    let files = files_under(data);
    let mut all = Vec::new();
    for (path, bytes) in &files {
        assert_clean(&format!("{when}: {}", path.display()), bytes, None);
        all.extend_from_slice(bytes);
    }
    match storage.url() {
        None => {
            assert!(
                files.iter().any(|(p, _)| p.ends_with("purser.db")),
                "{when}: no purser.db in {}",
                data.display()
            );
            assert_clean(
                &format!("{when}: the SQLite files"),
                &all,
                Some("Test Holder"),
            );
        }
        Some(url) => {
            let dump = pg_dump_text(url);
            assert!(dump.contains("vault_records"), "{when}: no vault rows read");
            assert_clean(
                &format!("{when}: PostgreSQL rows"),
                dump.as_bytes(),
                Some("Test Holder"),
            );
        }
    }
}

/// A response as text, headers included.
fn whole(r: &Resp) -> String {
    let headers: Vec<String> = r.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    format!(
        "{} {}\n{}\n{}",
        r.status,
        headers.join("\n"),
        r.text,
        r.status
    )
}

#[cfg(unix)]
#[track_caller]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is mode {mode:o}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_: &Path) {}

fn vault(s: &dyn Server) -> Value {
    op(s, "GET", "/v1/operator/vault", None).want(200)
}

/// (key id, records) of each vault key, and the active key id.
fn vault_keys(v: &Value) -> (Vec<(String, i64)>, String) {
    let keys = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["id"].as_str().unwrap().to_string(),
                k["records"].as_i64().unwrap(),
            )
        })
        .collect();
    (keys, v["active_key"].as_str().unwrap().to_string())
}

crate::both!(card_secrets_never_leave_the_vault, |storage| {
    let dir = TempDir::new("secrets");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let mut s = start_logged(&data, &storage, &log);
    let alice = Person::new(&s, "Alice");
    let carol = Person::new(&s, "Carol");
    let mut answers: Vec<Resp> = Vec::new();

    // Added with an Idempotency-Key, so the answer is also stored for replay.
    let add = alice.post_key(&s, "/v1/cards", &unique("card"), &card_body(PAN_TYPED, CVV));
    answers.push(add.clone());
    let card = add.want(201);
    assert_eq!(
        (&card["last4"], &card["cvv_on_file"]),
        (&json!("4242"), &json!(true)),
        "{card}"
    );
    let card = card["id"].as_str().unwrap().to_string();
    let dup = alice.post(&s, "/v1/cards", &card_body(PAN, CVV));
    dup.refused(409, "card_exists");
    answers.push(dup);
    assert_storage_clean(&data, &storage, "with the CVV on file");

    // Use it: top-up, refund, an agent with an exclusive card.
    let top = alice.top_up(&s, &card, 50_000);
    answers.push(top.clone());
    let top = top.want(201)["id"].as_str().unwrap().to_string();
    answers.push(alice.post_key(
        &s,
        &format!("/v1/topups/{top}/refunds"),
        &unique("r"),
        &json!({"amount": cny(10_000)}),
    ));
    let (agent, binding) = bound_agent(&s, &carol, &alice);
    let ecard = alice
        .post(
            &s,
            "/v1/exclusive-cards",
            &json!({"binding_id": binding, "currency": "CNY"}),
        )
        .want(201);
    let ecard = ecard["id"].as_str().unwrap().to_string();
    answers.push(alice.post(
        &s,
        &format!("/v1/bindings/{binding}/funding-source"),
        &json!({"funding_source": card}),
    ));

    // Every read there is.
    for path in [
        "/v1/me".to_string(),
        "/v1/tokens".into(),
        "/v1/wallet".into(),
        "/v1/cards".into(),
        format!("/v1/cards/{card}"),
        "/v1/topups".into(),
        format!("/v1/topups/{top}"),
        format!("/v1/topups/{top}/refunds"),
        "/v1/exclusive-cards".into(),
        format!("/v1/exclusive-cards/{ecard}"),
        "/v1/bindings".into(),
        format!("/v1/bindings/{binding}"),
    ] {
        answers.push(alice.get(&s, &path));
    }
    answers.push(carol.get(&s, "/v1/agents"));
    for path in [
        format!("/v1/users/{}", alice.id),
        "/v1/operator/vault".into(),
        format!("/v1/ledger/accounts/wallet:{}:CNY", alice.id),
        "/metrics".into(),
        "/.well-known/jwks.json".into(),
    ] {
        answers.push(op(&s, "GET", &path, None));
    }
    answers.push(agent.call(&s, "GET", "/v1/agent/whoami", None));
    answers.push(agent.call(
        &s,
        "GET",
        &format!("/v1/agent/users/{}/funds", alice.id),
        None,
    ));
    for r in &answers {
        assert!(r.status < 500, "{}", r.text);
        assert_clean("an answer", whole(r).as_bytes(), None);
    }
    let all: String = answers.iter().map(whole).collect();
    assert_clean("the answers", all.as_bytes(), Some("Test Holder"));
    let c = alice.get(&s, &format!("/v1/cards/{card}")).want(200);
    assert_eq!(c["cvv_on_file"], false, "{c}");
    assert_storage_clean(&data, &storage, "after use");

    // The vault key file is private; rotation re-wraps everything under a new key.
    let key_file = data.join("vault-keys.json");
    assert_private(&key_file);
    assert_private(&data.join("operator-token"));
    let (keys, old) = vault_keys(&vault(&s));
    assert_eq!(keys.len(), 1, "{keys:?}");
    let records = keys[0].1;
    assert!(
        records >= 2,
        "the card number and Purser's own keys: {keys:?}"
    );
    let (keys, new) =
        vault_keys(&op(&s, "POST", "/v1/operator/vault/rotate", Some(&json!({}))).want(200));
    assert_ne!(new, old);
    assert_eq!(keys.len(), 2, "{keys:?}");
    for (id, n) in &keys {
        assert_eq!(*n, if *id == new { records } else { 0 }, "{keys:?}");
    }
    assert_private(&key_file);
    let t = alice.top_up(&s, &card, 1_000).want(201);
    assert_eq!(
        t["status"], "succeeded",
        "the card opens under the new key: {t}"
    );

    let gone = op(
        &s,
        "POST",
        "/v1/operator/vault/destroy-retired",
        Some(&json!({})),
    )
    .want(200);
    assert_eq!(gone["destroyed"], json!([old]), "{gone}");
    let (keys, active) = vault_keys(&gone["vault"]);
    assert_eq!((keys.len(), active.as_str()), (1, new.as_str()), "{gone}");
    let file = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !file.contains(&old) && file.contains(&new),
        "the old key left the key file"
    );
    assert_private(&key_file);
    let t = alice.top_up(&s, &card, 1_000).want(201);
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_storage_clean(&data, &storage, "after rotation");

    // After a restart the card still works, under the key read back from the file.
    s.terminate();
    let mut s = start_logged(&data, &storage, &log);
    let (keys, active) = vault_keys(&vault(&s));
    assert_eq!((keys.len(), active.as_str()), (1, new.as_str()), "{keys:?}");
    let t = alice.top_up(&s, &card, 1_000).want(201);
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(alice.available(&s), 50_000 - 10_000 + 3_000);
    s.terminate();
    assert_storage_clean(&data, &storage, "after stopping");

    let logs = std::fs::read(&log).unwrap();
    assert_clean("the server log", &logs, Some("/v1/cards/:id"));
    assert_clean("the server log", &logs, Some("/v1/topups"));
    let (code, out, err) = verify(&data, &storage);
    assert_eq!(code, 0, "{out}{err}");
});

both!(
    a_card_number_sent_as_a_json_number_is_not_echoed,
    |storage| {
        let dir = TempDir::new("secrets-echo");
        let data = dir.path().join("data");
        let log = dir.path().join("purser.log");
        let mut s = start_logged(&data, &storage, &log);
        let alice = Person::new(&s, "Alice");
        // A client that sends the number, or the CVV, as a JSON number.
        let bodies = [
            json!({"number": 4242424242424242u64, "expiry": "12/30", "cvv": CVV, "holder": "Test Holder"}),
            json!({"number": PAN_TYPED, "expiry": "12/30", "cvv": 737, "holder": "Test Holder"}),
        ];
        for body in &bodies {
            let r = alice.post_key(&s, "/v1/cards", &unique("card"), body);
            r.refused(400, "invalid_field");
            assert_clean("the refusal", whole(&r).as_bytes(), Some("invalid_field"));
        }
        assert_eq!(alice.get(&s, "/v1/cards").want(200)["data"], json!([]));
        // The holder of a card that was added is the control for the storage search.
        alice.add_card(&s, MASTERCARD_OK, "123");
        s.terminate();
        assert_storage_clean(&data, &storage, "after refused card bodies");
        assert_clean(
            "the server log",
            &std::fs::read(&log).unwrap(),
            Some("/v1/cards"),
        );
    }
);

crate::both!(a_card_request_leaves_no_unkeyed_hash_behind, |storage| {
    let dir = TempDir::new("secrets-hash");
    let data = dir.path().join("data");
    let p = start(&data, &storage);
    let alice = Person::new(&p, "Alice");
    let body = card_body(PAN, CVV).to_string();
    let r = send(
        &p,
        "POST",
        "/v1/cards",
        Some(&alice.token),
        &[("Idempotency-Key", "card-1")],
        Some(body.as_bytes()),
    );
    let card = r.want(201);
    // The key's record is there: the same request replays.
    let again = send(
        &p,
        "POST",
        "/v1/cards",
        Some(&alice.token),
        &[("Idempotency-Key", "card-1")],
        Some(body.as_bytes()),
    );
    assert!(again.replayed(), "{:?}", again.headers);
    assert_eq!(again.want(201), card);
    drop(p);
    let digest = sha256_hex(body.as_bytes());
    let mut stored: Vec<u8> = files_under(&data)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    if let Some(url) = storage.url() {
        stored.extend_from_slice(pg_dump_text(url).as_bytes());
    }
    assert!(
        find(&stored, &digest).is_none(),
        "the unkeyed SHA-256 of the card request ({digest}) is stored"
    );
});
