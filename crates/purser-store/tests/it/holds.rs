//! Two-phase transfers: a hold reserves, a post settles (in part), a void releases, and a
//! resolved hold refuses everything after.

use purser_core::ledger::{HoldState, LedgerError, TransferKind};

use crate::harness::*;

both_backends!(
    partial_post_settles_part_and_releases_the_rest,
    void_releases_the_reservation,
);

async fn partial_post_settles_part_and_releases_the_rest(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;

    let placed = ok(&ledger, hold("h-1", "wallet", "shop", 3_000, None)).await;
    assert_eq!(
        transfer_of(&placed).kind,
        TransferKind::Hold { timeout_ms: None }
    );
    let wallet = account(&ledger, "wallet").await;
    assert_eq!(balances(&wallet), [3_000, 0, 0, 10_000]);
    assert_eq!(wallet.available_to_debit().minor, 7_000);
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 3_000, 0]);
    let h = hold_state(&ledger, "h-1").await;
    assert_eq!(h.state, HoldState::Pending);
    assert_eq!((h.amount, h.posted_amount), (3_000, 0));
    assert_eq!((h.expires_at, h.resolved_at), (None, None));

    // The reservation counts against what the wallet can spend.
    assert_eq!(
        refused(&ledger, transfer("too-much", "wallet", "shop", 7_001))
            .await
            .code(),
        "insufficient_funds"
    );

    // Settle 1,200 of the 3,000; the other 1,800 goes back to the wallet.
    clock.advance_ms(1_000);
    let posted = ok(&ledger, post("p-1", "h-1", Some(1_200))).await;
    let pt = transfer_of(&posted);
    assert_eq!(pt.amount, 1_200);
    assert_eq!(
        pt.kind,
        TransferKind::Post {
            pending_id: tid("h-1")
        }
    );
    assert_eq!(
        (pt.debit_account_id.as_str(), pt.credit_account_id.as_str()),
        ("wallet", "shop")
    );
    let wallet = account(&ledger, "wallet").await;
    assert_eq!(balances(&wallet), [0, 1_200, 0, 10_000]);
    assert_eq!(wallet.available_to_debit().minor, 8_800);
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 0, 1_200]);
    let h = hold_state(&ledger, "h-1").await;
    assert_eq!(h.state, HoldState::Posted);
    assert_eq!(h.posted_amount, 1_200);
    assert_eq!(h.resolved_at, Some(purser_core::Timestamp(T0.0 + 1_000)));

    // Retrying the post replays it; a second post or a void is refused.
    let again = ok(&ledger, post("p-1", "h-1", Some(1_200))).await;
    assert!(again.replayed());
    assert_eq!(transfer_of(&again), pt);
    match refused(&ledger, post("p-2", "h-1", Some(100))).await {
        e @ LedgerError::HoldNotPending { .. } => assert_eq!(e.code(), "hold_already_posted"),
        other => panic!("expected hold_already_posted, got {other:?}"),
    }
    assert_eq!(
        refused(&ledger, post("p-3", "h-1", None)).await.code(),
        "hold_already_posted"
    );
    assert_eq!(
        refused(&ledger, void("v-1", "h-1")).await.code(),
        "hold_already_posted",
        "a posted hold cannot be voided"
    );
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 1_200, 0, 10_000]
    );

    // A post may not settle more than was held, nor nothing; the hold stays pending.
    ok(&ledger, hold("h-2", "wallet", "shop", 500, None)).await;
    match refused(&ledger, post("p-4", "h-2", Some(501))).await {
        e @ LedgerError::PostExceedsHold { .. } => assert_eq!(e.code(), "post_exceeds_hold"),
        other => panic!("expected post_exceeds_hold, got {other:?}"),
    }
    assert_eq!(
        refused(&ledger, post("p-5", "h-2", Some(0))).await.code(),
        "amount_must_be_positive"
    );
    assert_eq!(hold_state(&ledger, "h-2").await.state, HoldState::Pending);
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [500, 1_200, 0, 10_000]
    );
    // A refused id moved nothing, and keeps its answer: the same request gets the same
    // refusal, another request under that id is a conflict.
    assert!(ledger.transfer(&tid("p-4")).await.expect("read").is_none());
    assert_eq!(
        refused(&ledger, post("p-4", "h-2", Some(501))).await.code(),
        "post_exceeds_hold"
    );
    assert_eq!(
        refused(&ledger, post("p-4", "h-2", None)).await.code(),
        "transfer_id_conflict"
    );

    // A post without an amount settles the whole hold.
    let full = ok(&ledger, post("p-6", "h-2", None)).await;
    assert_eq!(transfer_of(&full).amount, 500);
    let h = hold_state(&ledger, "h-2").await;
    assert_eq!((h.state, h.posted_amount), (HoldState::Posted, 500));
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 1_700, 0, 10_000]
    );
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 0, 1_700]);

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!(summary.holds, 2);
    assert_eq!(summary.holds_pending, 0);
    // 3 accounts, fund, h-1, p-1, h-2, p-6.
    assert_eq!(summary.entries, 8);
}

async fn void_releases_the_reservation(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;

    ok(&ledger, hold("h-1", "wallet", "shop", 4_000, Some(60_000))).await;
    assert_eq!(
        account(&ledger, "wallet").await.available_to_debit().minor,
        6_000
    );
    let h = hold_state(&ledger, "h-1").await;
    assert_eq!(h.expires_at, Some(purser_core::Timestamp(T0.0 + 60_000)));

    // Reservations add up: 6,000 is left, so a 6,001 hold does not fit.
    assert_eq!(
        refused(&ledger, hold("h-big", "wallet", "shop", 6_001, None))
            .await
            .code(),
        "insufficient_funds"
    );

    let voided = ok(&ledger, void("v-1", "h-1")).await;
    let vt = transfer_of(&voided);
    assert_eq!(vt.amount, 4_000);
    assert_eq!(
        vt.kind,
        TransferKind::Void {
            pending_id: tid("h-1")
        }
    );
    let wallet = account(&ledger, "wallet").await;
    assert_eq!(
        balances(&wallet),
        [0, 0, 0, 10_000],
        "all of it is released"
    );
    assert_eq!(wallet.available_to_debit().minor, 10_000);
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 0, 0]);
    let h = hold_state(&ledger, "h-1").await;
    assert_eq!((h.state, h.posted_amount), (HoldState::Voided, 0));
    assert!(h.resolved_at.is_some());

    assert!(ok(&ledger, void("v-1", "h-1")).await.replayed());
    assert_eq!(
        refused(&ledger, post("p-1", "h-1", None)).await.code(),
        "hold_already_voided"
    );
    assert_eq!(
        refused(&ledger, void("v-2", "h-1")).await.code(),
        "hold_already_voided"
    );
    assert_eq!(
        refused(&ledger, post("p-2", "nope", None)).await.code(),
        "hold_not_found"
    );
    assert_eq!(
        refused(&ledger, void("v-3", "nope")).await.code(),
        "hold_not_found"
    );

    // The released funds can be spent in full.
    ok(&ledger, transfer("t-all", "wallet", "shop", 10_000)).await;
    assert_eq!(account(&ledger, "wallet").await.net_posted(), Some(0));

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!((summary.holds, summary.holds_pending), (1, 0));
}
