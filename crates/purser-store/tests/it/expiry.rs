//! Holds that reach their timeout expire by themselves, exactly once, and release their funds.
//! Time is a `ManualClock`: the only real waiting is for the writer's 250 ms ticker.

use std::time::Duration;

use purser_core::ledger::HoldState;
use purser_core::Timestamp;

use crate::harness::*;

both_backends!(
    hold_expires_once_when_its_time_comes,
    expiry_backlog_beyond_one_sweep,
);

async fn hold_expires_once_when_its_time_comes(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;

    ok(
        &ledger,
        hold("h-exp", "wallet", "shop", 4_000, Some(10_000)),
    )
    .await;
    ok(
        &ledger,
        hold("h-keep", "wallet", "shop", 1_000, Some(60_000)),
    )
    .await;
    let h = hold_state(&ledger, "h-exp").await;
    assert_eq!(h.expires_at, Some(Timestamp(T0.0 + 10_000)));
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [5_000, 0, 0, 10_000]
    );

    // Not early: at 9 s a batch runs and the hold is still pending (and still postable).
    clock.advance_ms(9_000);
    ok(&ledger, transfer("tick-1", "bank", "shop", 1)).await;
    assert_eq!(hold_state(&ledger, "h-exp").await.state, HoldState::Pending);
    assert_eq!(ledger.metrics().snapshot().expirations, 0);

    // At 11 s any batch (here an unrelated transfer) sweeps it.
    clock.advance_ms(2_000);
    ok(&ledger, transfer("tick-2", "bank", "shop", 1)).await;
    let h = wait_for_hold(&ledger, "h-exp", HoldState::Expired, Duration::from_secs(5)).await;
    assert_eq!(h.posted_amount, 0);
    let resolved = h.resolved_at.expect("an expired hold records when");
    assert!(
        resolved >= Timestamp(T0.0 + 10_000) && resolved <= Timestamp(T0.0 + 11_000),
        "resolved at {resolved:?}"
    );
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [1_000, 0, 0, 10_000],
        "the expired hold's 4,000 is no longer reserved; h-keep's 1,000 still is"
    );
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 1_000, 2]);
    assert_eq!(
        hold_state(&ledger, "h-keep").await.state,
        HoldState::Pending
    );

    // Too late to settle or release it.
    assert_eq!(
        refused(&ledger, post("p-late", "h-exp", None)).await.code(),
        "hold_expired"
    );
    assert_eq!(
        refused(&ledger, void("v-late", "h-exp")).await.code(),
        "hold_expired"
    );
    assert_eq!(ledger.metrics().snapshot().expirations, 1);

    // Give the ticker a few rounds and run more batches: nothing expires twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    ok(&ledger, transfer("tick-3", "bank", "shop", 1)).await;
    assert_eq!(ledger.metrics().snapshot().expirations, 1);
    let raw = db.raw();
    assert_eq!(
        raw.scalar("SELECT COUNT(*) FROM journal WHERE kind = 'hold_expired'")
            .await,
        1
    );
    let summary = db.verify_ok().await;
    assert_eq!((summary.holds, summary.holds_pending), (2, 1));

    // With no submission at all, the ticker expires the other hold when its time comes.
    clock.advance_ms(60_000);
    wait_for_hold(
        &ledger,
        "h-keep",
        HoldState::Expired,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 0, 0, 10_000]
    );
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 0, 3]);
    assert_eq!(ledger.metrics().snapshot().expirations, 2);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ledger.metrics().snapshot().expirations, 2);

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!((summary.holds, summary.holds_pending), (2, 0));
    assert_eq!(
        raw.scalar("SELECT COUNT(*) FROM journal WHERE kind = 'hold_expired'")
            .await,
        2
    );
}

/// More due holds than one batch sweeps (1,024): all of them expire over the next batches,
/// each exactly once, and a post naming one of the unswept ones is still refused.
async fn expiry_backlog_beyond_one_sweep(db: TestDb) {
    const HOLDS: usize = 1_100;
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 100_000).await;

    // Expiring at distinct times, so the sweep order is well defined: bl-0 first.
    let ops: Vec<_> = (0..HOLDS)
        .map(|i| {
            single(hold(
                &format!("bl-{i}"),
                "wallet",
                "shop",
                1,
                Some(1_000 + 10 * i as i64),
            ))
        })
        .collect();
    for chunk in ops.chunks(550) {
        let r = submit(&ledger, chunk.to_vec()).await;
        assert!(
            r.iter().all(Result::is_ok),
            "{:?}",
            r.iter().find(|r| r.is_err())
        );
    }
    assert_eq!(
        account(&ledger, "wallet").await.debits_pending,
        HOLDS as i64
    );

    clock.advance_ms(60_000);
    let last = format!("bl-{}", HOLDS - 1);
    assert_eq!(
        refused(&ledger, post("p-last", &last, None)).await.code(),
        "hold_expired"
    );
    let raw = db.raw();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while raw
        .scalar("SELECT COUNT(*) FROM holds WHERE state = 'pending'")
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        raw.scalar("SELECT COUNT(*) FROM holds WHERE state = 'expired'")
            .await,
        HOLDS as i64
    );
    assert_eq!(
        raw.scalar("SELECT COUNT(*) FROM journal WHERE kind = 'hold_expired'")
            .await,
        HOLDS as i64
    );
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 0, 0, 100_000]
    );
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 0, 0]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ledger.metrics().snapshot().expirations, HOLDS as u64);

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!((summary.holds, summary.holds_pending), (HOLDS, 0));
    assert_eq!(summary.entries, 4 + 2 * HOLDS as i64);
}
