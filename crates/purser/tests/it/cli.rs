//! The command line: `ledger verify` catches tampering, `bench ledger` and `bench authorize`
//! print figures and leave balanced books, errors say what to do.

use serde_json::{json, Value};

use crate::both;
use crate::support::*;

#[test]
fn verify_passes_then_fails_after_a_row_is_changed_behind_purser() {
    let dir = TempDir::new("tamper");
    let p = start(dir.path(), &Storage::Sqlite);
    open_wallet(&p, 10_000);
    p.post(
        "/v1/ledger/transfers",
        &json!({"id": "t1", "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 2_500, "currency": "CNY"}),
    );
    drop(p);
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = run(&["ledger", "verify", "--data", d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("hash chain intact") && out.contains("every invariant holds"),
        "{out}"
    );
    let (code, out, _) = run(&["ledger", "verify", "--data", d, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["summary"]["entries"].as_i64()),
        (Some(true), Some(5))
    );

    let db = rusqlite::Connection::open(dir.path().join("purser.db")).unwrap();
    // A balance changed behind Purser's back.
    db.execute(
        "UPDATE accounts SET credits_posted = credits_posted + 100000 WHERE id = 'wallet'",
        [],
    )
    .unwrap();
    let (code, _, err) = run(&["ledger", "verify", "--data", d]);
    assert_eq!(code, 1);
    assert!(
        err.contains("VERIFICATION FAILED") && err.contains("wallet"),
        "{err}"
    );
    db.execute(
        "UPDATE accounts SET credits_posted = credits_posted - 100000 WHERE id = 'wallet'",
        [],
    )
    .unwrap();
    assert_eq!(run(&["ledger", "verify", "--data", d]).0, 0);

    // The journal refuses edits; with the guard removed, an edit is caught by the hash chain.
    assert!(
        db.execute("UPDATE journal SET body = body WHERE seq = 4", [])
            .is_err(),
        "journal is append-only"
    );
    db.execute_batch("DROP TRIGGER journal_no_update").unwrap();
    let changed = db
        .execute(r#"UPDATE journal SET body = replace(body, '"amount":10000', '"amount":90000') WHERE seq = 4"#, [])
        .unwrap();
    assert_eq!(changed, 1);
    let (code, _, err) = run(&["ledger", "verify", "--data", d]);
    assert_eq!(code, 1);
    assert!(err.contains("at journal entry 4"), "{err}");
    let (code, out, _) = run(&["ledger", "verify", "--data", d, "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["broken_entry"].as_i64()),
        (Some(false), Some(4))
    );
}

#[test]
fn verify_catches_rewritten_index_columns_and_rows_past_the_head() {
    let dir = TempDir::new("tamper2");
    let p = start(dir.path(), &Storage::Sqlite);
    open_wallet(&p, 10_000);
    drop(p);
    let d = dir.path().to_str().unwrap();
    assert_eq!(run(&["ledger", "verify", "--data", d]).0, 0);
    let db = rusqlite::Connection::open(dir.path().join("purser.db")).unwrap();
    db.execute_batch("DROP TRIGGER journal_no_update").unwrap();
    // Renaming the indexed id would let a retry of 'fund' pay twice; verify must see it.
    db.execute(
        "UPDATE journal SET transfer_id = 'renamed' WHERE transfer_id = 'fund'",
        [],
    )
    .unwrap();
    let (code, _, err) = run(&["ledger", "verify", "--data", d]);
    assert_eq!(code, 1);
    assert!(err.contains("indexed columns"), "{err}");
    db.execute(
        "UPDATE journal SET transfer_id = 'fund' WHERE transfer_id = 'renamed'",
        [],
    )
    .unwrap();
    assert_eq!(run(&["ledger", "verify", "--data", d]).0, 0);
    // A row appended behind the head (a forged transfer the API would then report).
    db.execute(
        "INSERT INTO journal (seq, at, kind, transfer_id, body, hash) SELECT seq + 1, at, kind, 'forged', body, hash FROM journal WHERE seq = 4",
        [],
    )
    .unwrap();
    let (code, _, err) = run(&["ledger", "verify", "--data", d]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("entry 5"), "{err}");
    // Rows at or below zero are refused by the schema itself.
    assert!(db
        .execute(
            "INSERT INTO journal (seq, at, kind, body, hash) VALUES (0, 0, 'x', '{}', x'00')",
            []
        )
        .is_err());
}

#[test]
fn one_process_per_sqlite_data_directory() {
    let dir = TempDir::new("lock");
    let p = start(dir.path(), &Storage::Sqlite);
    let d = dir.path().to_str().unwrap();
    let (code, _, err) = run(&[
        "bench",
        "ledger",
        "--data",
        d,
        "--seconds",
        "0.1",
        "--concurrency",
        "1",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("another purser process is already using"),
        "{err}"
    );
    let (code, _, err) = run(&["serve", "--data", d, "--listen", "127.0.0.1:0"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("another purser process is already using"),
        "{err}"
    );
    // Reading is fine while it runs.
    assert_eq!(run(&["ledger", "verify", "--data", d]).0, 0);
    assert_eq!(p.get("/healthz").0, 200);
}

#[test]
fn verify_on_a_missing_ledger_says_what_to_do() {
    let dir = TempDir::new("missing");
    let (code, _, err) = run(&[
        "ledger",
        "verify",
        "--data",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("there is no Purser database") && err.contains("--data"),
        "{err}"
    );
}

#[test]
fn bench_ledger_prints_figures_and_leaves_a_verifiable_ledger() {
    let dir = TempDir::new("bench");
    let d = dir.path().join("b");
    let d = d.to_str().unwrap();
    let (code, out, err) = run(&[
        "bench",
        "ledger",
        "--json",
        "--seconds",
        "0.2",
        "--concurrency",
        "1,8",
        "--max-ops",
        "200",
        "--data",
        d,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "4 operations × 2 concurrency levels");
    for r in rows {
        assert!(
            r["ops"].as_u64().unwrap() > 0 && r["ops_per_sec"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        assert!(r["p99_us"].as_u64().unwrap() >= r["p50_us"].as_u64().unwrap());
    }
    assert!(v["commit_floor_per_sec"].as_f64().unwrap() > 0.0);
    assert!(v["verified"].as_str().unwrap().starts_with("ok"));
    let (code, out, _) = run(&["ledger", "verify", "--data", d]);
    assert_eq!(code, 0, "{out}");

    let (code, _, err) = run(&["bench", "ledger", "--concurrency", "0"]);
    assert_ne!(code, 0);
    assert!(err.contains("--concurrency"), "{err}");
}

both!(
    bench_authorize_approves_every_payment_and_balances_the_books,
    |storage| {
        // A brief run in a debug build: figures are not checked, behaviour is.
        let mut args = vec![
            "bench",
            "authorize",
            "--json",
            "--agents",
            "3",
            "--connections",
            "4",
            "--seconds",
            "1",
            "--warmup",
            "0.2",
            "--rate",
            "40",
        ];
        if let Some(url) = storage.url() {
            args.extend(["--database-url", url]);
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let storage_kind = if storage.url().is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        assert!(v["storage"].as_str().unwrap().contains(storage_kind), "{v}");
        let phases = v["phases"].as_array().unwrap();
        assert_eq!(
            phases
                .iter()
                .map(|p| p["mode"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["closed", "open"]
        );
        let mut measured = 0;
        for p in phases {
            let approved = p["approved"].as_u64().unwrap();
            assert!(approved > 0, "{p}");
            assert_eq!(
                p["sent"].as_u64(),
                Some(approved),
                "every request answered: {p}"
            );
            assert_eq!(p["other"], json!({}), "every answer approved: {p}");
            assert!(p["p99_us"].as_u64() >= p["p50_us"].as_u64(), "{p}");
            assert!(p["goal"].as_str().unwrap().contains("goal"), "{p}");
            measured += approved;
        }
        // The open loop sends exactly its timetable: 40/s for 1 s.
        assert_eq!(phases[1]["approved"].as_u64(), Some(40));
        assert!(v["floor"]["per_second"].as_f64().unwrap() > 0.0);

        // The books: the ledger verified, one pending hold per approval, the money held is what
        // the agents were told was approved, and the payment records agree.
        let b = &v["books"];
        assert!(b["verified"].as_str().unwrap().starts_with("ok"), "{b}");
        assert_eq!(b["balanced"], true, "{b}");
        let seen = b["approved_seen"].as_u64().unwrap();
        assert!(seen >= measured, "the warm-up's approvals count too: {b}");
        assert_eq!(b["holds_pending"].as_u64(), Some(seen), "{b}");
        assert_eq!(b["held_minor"], b["approved_minor_seen"], "{b}");
        assert!(
            b["held_minor"].as_i64().unwrap() >= 100 * seen as i64,
            "{b}"
        );
        assert_eq!(
            b["payments"],
            json!({"approved": [seen, b["held_minor"]]}),
            "{b}"
        );
    }
);

#[test]
fn bench_authorize_text_report_and_argument_errors() {
    let (code, out, err) = run(&[
        "bench",
        "authorize",
        "--agents",
        "1",
        "--connections",
        "2",
        "--seconds",
        "0.5",
        "--warmup",
        "0",
        "--loop",
        "closed",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "Crypto floor: Ed25519 verify",
        "Closed loop",
        "goal ≥ 10,000 approved/s",
        "every answer was 201 approved",
        "Books: ledger ok",
        "balanced: the money held is exactly the sum of the approvals",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(!out.contains("Open loop"), "{out}");
    for (bad, flag) in [
        (vec!["--agents", "0"], "--agents"),
        (vec!["--connections", "0"], "--connections"),
        (vec!["--seconds", "0"], "--seconds"),
        (vec!["--rate", "0"], "--rate"),
    ] {
        let mut args = vec!["bench", "authorize"];
        args.extend(bad);
        let (code, _, err) = run(&args);
        assert_ne!(code, 0);
        assert!(err.contains(flag), "{err}");
    }
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["ledger", "verify", "--help"],
        vec!["bench", "ledger", "--help"],
        vec!["bench", "authorize", "--help"],
    ] {
        let (code, out, _) = run(&args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage:"), "{out}");
    }
    let (code, _, err) = run(&["serve", "--listen", "not-an-address"]);
    assert_ne!(code, 0);
    assert!(err.contains("--listen"), "{err}");
}

#[test]
fn mandate_draft_turns_words_into_a_proposal_and_says_what_it_did_not_understand() {
    let (code, out, err) = run(&[
        "mandate",
        "draft",
        "Help me buy a pair of hiking boots, under 800 yuan",
        "--json",
        "--today",
        "2026-11-21",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        v["mandate"]["how_much"]["per_payment_max"]["minor"], 79_999,
        "{v}"
    );
    assert_eq!(
        v["mandate"]["how_much"]["per_payment_max"]["currency"], "CNY",
        "{v}"
    );
    assert!(
        v["mandate"]["provenance"]["user_words"]
            .as_str()
            .is_some_and(|w| w.contains("hiking boots")),
        "{v}"
    );
    // Plain text says nothing is active yet.
    let (code, out, _) = run(&[
        "mandate",
        "draft",
        "only book Delta flight 446",
        "--today",
        "2026-11-21",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Nothing is active until you consent"), "{out}");
    // Nothing understood: exit 1 and a sentence saying what to do.
    let (code, _, err) = run(&["mandate", "draft", "xyzzy plugh"]);
    assert_eq!(code, 1);
    assert!(err.contains("Try a request like"), "{err}");
}
