//! Retries with the same id: the same request replays the first result and moves nothing;
//! a different request under a used id is refused.

use std::sync::Arc;

use purser_core::ledger::{AccountFlags, LedgerError};
use purser_core::Currency;

use crate::harness::*;

both_backends!(
    transfer_retry_replays_and_conflicts,
    account_retry_replays_and_conflicts,
    concurrent_retries_apply_once,
);

async fn transfer_retry_replays_and_conflicts(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;

    let first = ok(&ledger, transfer("pay-1", "wallet", "shop", 2_500)).await;
    assert!(!first.replayed(), "a new transfer is not a replay");
    let wallet_after = account(&ledger, "wallet").await;
    let shop_after = account(&ledger, "shop").await;
    assert_eq!(balances(&wallet_after), [0, 2_500, 0, 10_000]);
    assert_eq!(balances(&shop_after), [0, 0, 0, 2_500]);

    // A retry later (a client that timed out) gets the first result, first timestamp included.
    clock.advance_ms(5_000);
    let again = ok(&ledger, transfer("pay-1", "wallet", "shop", 2_500)).await;
    assert!(again.replayed(), "the retry must say it is a replay");
    assert_eq!(transfer_of(&again), transfer_of(&first));
    assert_eq!(transfer_of(&again).created_at, T0);
    assert_eq!(
        account(&ledger, "wallet").await,
        wallet_after,
        "a replay moves no money"
    );
    assert_eq!(
        account(&ledger, "shop").await,
        shop_after,
        "a replay moves no money"
    );

    // The same id with other content is a conflict, naming what differs.
    let cases = [
        (transfer("pay-1", "wallet", "shop", 2_600), "amount"),
        (
            transfer("pay-1", "wallet", "bank", 2_500),
            "credit_account_id",
        ),
        (transfer("pay-1", "bank", "shop", 2_500), "debit_account_id"),
        (
            hold("pay-1", "wallet", "shop", 2_500, None),
            "kind or timeout",
        ),
    ];
    for (op, field) in cases {
        match refused(&ledger, op).await {
            LedgerError::TransferIdConflict { id, field: f } => {
                assert_eq!(id, tid("pay-1"));
                assert_eq!(f, field);
            }
            other => panic!("expected transfer_id_conflict on {field}, got {other:?}"),
        }
    }
    assert_eq!(account(&ledger, "wallet").await, wallet_after);
    assert_eq!(account(&ledger, "shop").await, shop_after);
    assert_eq!(
        ledger.transfer(&tid("pay-1")).await.expect("read"),
        Some(transfer_of(&first)),
        "the stored transfer is the first one"
    );

    // Twice in one submission (and so in one batch): the second is a replay of the first.
    let r = submit(
        &ledger,
        vec![
            single(transfer("pay-2", "wallet", "shop", 100)),
            single(transfer("pay-2", "wallet", "shop", 100)),
            single(transfer("pay-2", "wallet", "shop", 101)),
        ],
    )
    .await;
    assert!(matches!(&r[0], Ok(o) if !o.replayed()), "{r:?}");
    assert!(matches!(&r[1], Ok(o) if o.replayed()), "{r:?}");
    assert_eq!(code(&r[2]), "transfer_id_conflict");
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 2_600, 0, 10_000]
    );

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    // 3 accounts, fund, pay-1, pay-2: replays and conflicts write nothing.
    assert_eq!(summary.entries, 6);
    assert_eq!(summary.transfers, 3);
}

async fn account_retry_replays_and_conflicts(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;

    let first = ok(&ledger, open_account("acct-1", Currency::USD, WALLET)).await;
    assert!(!first.replayed());
    clock.advance_ms(1_000);
    let again = ok(&ledger, open_account("acct-1", Currency::USD, WALLET)).await;
    assert!(again.replayed(), "re-creating the same account is a replay");
    assert_eq!(account_of(&again), account_of(&first));
    assert_eq!(account_of(&again).created_at, T0);

    for op in [
        open_account("acct-1", Currency::EUR, WALLET),
        open_account("acct-1", Currency::USD, PLAIN),
        open_account(
            "acct-1",
            Currency::USD,
            AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
        ),
    ] {
        match refused(&ledger, op).await {
            LedgerError::AccountIdConflict { id } => assert_eq!(id, aid("acct-1")),
            other => panic!("expected account_id_conflict, got {other:?}"),
        }
    }
    let both = AccountFlags {
        debits_must_not_exceed_credits: true,
        credits_must_not_exceed_debits: true,
    };
    assert_eq!(
        refused(&ledger, open_account("acct-2", Currency::USD, both))
            .await
            .code(),
        "flags_mutually_exclusive"
    );
    assert!(ledger
        .account(&aid("acct-2"))
        .await
        .expect("read")
        .is_none());

    let stored = account(&ledger, "acct-1").await;
    assert_eq!(
        stored,
        account_of(&first),
        "the account is as first created"
    );

    // A replay after money moved still names the same account, now with its balances.
    ok(&ledger, open_account("bank", Currency::USD, PLAIN)).await;
    ok(&ledger, transfer("t-1", "bank", "acct-1", 700)).await;
    let later = ok(&ledger, open_account("acct-1", Currency::USD, WALLET)).await;
    assert!(later.replayed());
    assert_eq!(account_of(&later).credits_posted, 700);
    assert_eq!(account_of(&later).created_at, T0);

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!(summary.accounts, 2);
    assert_eq!(
        summary.entries, 3,
        "acct-1, bank, t-1: replays write nothing"
    );
}

/// Many clients retrying the same request at the same moment: exactly one applies it.
async fn concurrent_retries_apply_once(db: TestDb) {
    let clock = clock();
    let ledger = Arc::new(db.ledger(&clock).await);
    open_world(&ledger, 10_000).await;

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            ok(&ledger, transfer("same", "wallet", "shop", 1_000)).await
        }));
    }
    let mut fresh = 0;
    let mut transfers = Vec::new();
    for t in tasks {
        let o = t.await.expect("task");
        if !o.replayed() {
            fresh += 1;
        }
        transfers.push(transfer_of(&o));
    }
    assert_eq!(fresh, 1, "exactly one submission applies the transfer");
    assert!(transfers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 1_000, 0, 10_000]
    );

    ledger.shutdown().await;
    assert_eq!(db.verify_ok().await.entries, 5);
}
