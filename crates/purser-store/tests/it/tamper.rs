//! `purser_store::verify` notices rows changed behind Purser's back.

use crate::harness::*;

both_backends!(
    verify_catches_a_changed_balance,
    verify_catches_a_rewritten_journal_entry,
);

/// A few operations; the ledger is returned still running, as verify is meant to work beside a
/// live server.
async fn some_history(db: &TestDb) -> purser_store::Ledger {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;
    ok(&ledger, transfer("t-700", "wallet", "shop", 700)).await;
    ok(&ledger, hold("h-1", "wallet", "shop", 300, None)).await;
    ok(&ledger, transfer("t-later", "wallet", "shop", 50)).await;
    ledger
}

async fn verify_catches_a_changed_balance(db: TestDb) {
    let ledger = some_history(&db).await;
    db.verify_ok().await;
    let raw = db.raw();

    // One cent more for the shop, written straight into its row.
    let changed = raw
        .execute("UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = 'shop'")
        .await
        .expect("a plain UPDATE on accounts works");
    assert_eq!(changed, 1);
    let broken = db.verify_broken().await;
    assert_eq!(broken.seq, None, "the journal itself is intact: {broken:?}");
    assert!(
        broken.problem.contains("shop"),
        "the report names the account: {broken:?}"
    );

    // Put it back: verify is happy again.
    raw.execute("UPDATE accounts SET credits_posted = credits_posted - 1 WHERE id = 'shop'")
        .await
        .expect("restore");
    db.verify_ok().await;

    // A hold row marked settled without any journal entry saying so.
    raw.execute("UPDATE holds SET state = 'voided' WHERE id = 'h-1'")
        .await
        .expect("a plain UPDATE on holds works");
    let broken = db.verify_broken().await;
    assert!(broken.problem.contains("h-1"), "{broken:?}");
    ledger.shutdown().await;
}

async fn verify_catches_a_rewritten_journal_entry(db: TestDb) {
    let ledger = some_history(&db).await;
    db.verify_ok().await;
    let raw = db.raw();
    let seq = raw
        .scalar("SELECT seq FROM journal WHERE transfer_id = 't-700'")
        .await;
    let head = raw.scalar("SELECT seq FROM ledger_head WHERE id = 1").await;
    assert!(seq < head, "the entry to rewrite is not the last one");

    // The journal is append-only in the database itself.
    let tamper = format!(
        "UPDATE journal SET body = replace(body, '\"amount\":700', '\"amount\":70') WHERE seq = {seq}"
    );
    let err = raw
        .execute(&tamper)
        .await
        .expect_err("the database must refuse to change a journal entry");
    assert!(
        err.contains("append-only"),
        "refused for another reason: {err}"
    );
    let err = raw
        .execute(&format!("DELETE FROM journal WHERE seq = {seq}"))
        .await
        .expect_err("the database must refuse to delete a journal entry");
    assert!(
        err.contains("append-only"),
        "refused for another reason: {err}"
    );
    db.verify_ok().await;

    // Someone with enough rights drops the guard and rewrites the entry anyway.
    let drop_guard = match db.kind {
        Kind::Sqlite => "DROP TRIGGER journal_no_update",
        Kind::Postgres => "DROP TRIGGER journal_append_only ON journal",
    };
    raw.execute(drop_guard).await.expect("drop the trigger");
    assert_eq!(raw.execute(&tamper).await.expect("now it goes through"), 1);
    assert_eq!(
        raw.scalar(&format!(
            "SELECT COUNT(*) FROM journal WHERE seq = {seq} AND body LIKE '%\"amount\":70,%'"
        ))
        .await,
        1,
        "the body really was changed"
    );

    let broken = db.verify_broken().await;
    assert_eq!(
        broken.seq,
        Some(seq),
        "verify names the rewritten entry: {broken:?}"
    );
    ledger.shutdown().await;
}
