//! What was acknowledged is there after a shutdown and a reopen, and verifies.

use std::sync::Arc;
use std::time::Duration;

use purser_core::ledger::HoldState;
use purser_store::StoreError;

use crate::harness::*;

both_backends!(
    committed_data_survives_reopen,
    shutdown_keeps_every_acknowledged_submission
);

async fn committed_data_survives_reopen(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;
    let mut entries = 4;
    for i in 0..5 {
        clock.advance_ms(100);
        ok(
            &ledger,
            transfer(&format!("t-{i}"), "wallet", "shop", 100 + i),
        )
        .await;
        entries += 1;
    }
    ok(&ledger, hold("h-open", "wallet", "shop", 700, Some(30_000))).await;
    ok(&ledger, hold("h-done", "wallet", "shop", 900, None)).await;
    ok(&ledger, post("p-done", "h-done", Some(250))).await;
    entries += 3;

    let names = ["bank", "wallet", "shop"];
    let mut accounts = Vec::new();
    for n in names {
        accounts.push(account(&ledger, n).await);
    }
    let holds = [
        hold_state(&ledger, "h-open").await,
        hold_state(&ledger, "h-done").await,
    ];
    let t3 = ledger.transfer(&tid("t-3")).await.expect("read");
    assert!(t3.is_some());

    ledger.shutdown().await;
    assert!(
        matches!(
            ledger.submit_one(transfer("late", "bank", "shop", 1)).await,
            Err(StoreError::Closed)
        ),
        "a shut-down ledger takes no more submissions"
    );
    drop(ledger);

    let summary = db.verify_ok().await;
    assert_eq!(summary.entries, entries);
    let raw = db.raw();
    assert_eq!(raw.scalar("SELECT COUNT(*) FROM journal").await, entries);
    assert_eq!(
        raw.scalar("SELECT seq FROM ledger_head WHERE id = 1").await,
        entries
    );

    // Reopen: same balances, holds and transfers.
    let ledger = db.ledger(&clock).await;
    for (n, before) in names.iter().zip(&accounts) {
        assert_eq!(
            &account(&ledger, n).await,
            before,
            "account {n} after reopen"
        );
    }
    assert_eq!(hold_state(&ledger, "h-open").await, holds[0]);
    assert_eq!(hold_state(&ledger, "h-done").await, holds[1]);
    assert_eq!(ledger.transfer(&tid("t-3")).await.expect("read"), t3);
    assert!(ledger.transfer(&tid("late")).await.expect("read").is_none());

    // Idempotency survives the restart: a retry replays, a different request conflicts.
    let again = ok(&ledger, transfer("t-3", "wallet", "shop", 103)).await;
    assert!(again.replayed());
    assert_eq!(Some(transfer_of(&again)), t3);
    assert_eq!(
        refused(&ledger, transfer("t-3", "wallet", "shop", 104))
            .await
            .code(),
        "transfer_id_conflict"
    );
    assert_eq!(
        refused(&ledger, post("p-again", "h-done", None))
            .await
            .code(),
        "hold_already_posted"
    );

    // The pending hold's expiry was stored too: it expires in the new process.
    clock.advance_ms(31_000);
    ok(&ledger, transfer("after", "bank", "shop", 1)).await;
    wait_for_hold(
        &ledger,
        "h-open",
        HoldState::Expired,
        Duration::from_secs(5),
    )
    .await;
    entries += 2;
    assert_eq!(account(&ledger, "wallet").await.debits_pending, 0);
    ledger.shutdown().await;
    drop(ledger);

    // And once more, to be sure the second process's writes were durable as well.
    let ledger = db.ledger(&clock).await;
    assert_eq!(
        hold_state(&ledger, "h-open").await.state,
        HoldState::Expired
    );
    assert_eq!(
        account(&ledger, "shop").await.credits_posted,
        (100 + 101 + 102 + 103 + 104) + 250 + 1
    );
    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!(summary.entries, entries);
    assert_eq!(raw.scalar("SELECT COUNT(*) FROM journal").await, entries);
}

/// Submissions racing a shutdown: every one answered `Ok` is durable, every one answered
/// `Closed` left nothing behind.
async fn shutdown_keeps_every_acknowledged_submission(db: TestDb) {
    let clock = clock();
    let ledger = Arc::new(db.ledger(&clock).await);
    open_world(&ledger, 1_000_000).await;

    let mut tasks = Vec::new();
    for i in 0..200 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
            let r = ledger
                .submit_one(transfer(&format!("s-{i}"), "wallet", "shop", 10))
                .await;
            (i, r)
        }));
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    ledger.shutdown().await;
    let mut acknowledged = Vec::new();
    let mut closed = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (i, Ok(Ok(o))) => {
                assert!(!o.replayed());
                acknowledged.push(i);
            }
            (i, Err(StoreError::Closed)) => closed.push(i),
            (i, other) => panic!("s-{i}: unexpected {other:?}"),
        }
    }
    drop(ledger);

    let ledger = db.ledger(&clock).await;
    for i in &acknowledged {
        assert!(
            ledger
                .transfer(&tid(&format!("s-{i}")))
                .await
                .expect("read")
                .is_some(),
            "s-{i} was acknowledged but is gone after reopen"
        );
    }
    for i in &closed {
        assert!(
            ledger
                .transfer(&tid(&format!("s-{i}")))
                .await
                .expect("read")
                .is_none(),
            "s-{i} was refused as closed but was applied"
        );
    }
    assert_eq!(
        account(&ledger, "shop").await.credits_posted,
        10 * acknowledged.len() as i64
    );
    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!(summary.entries, 4 + acknowledged.len() as i64);
}
