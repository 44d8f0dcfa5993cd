//! Linked operations succeed or fail together: a failing link leaves every other link of its
//! chain unapplied, and their ids unused.

use purser_core::Currency;

use crate::harness::*;

both_backends!(failed_link_leaves_the_chain_unapplied);

async fn failed_link_leaves_the_chain_unapplied(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;
    let wallet_before = account(&ledger, "wallet").await;
    let shop_before = account(&ledger, "shop").await;

    // 3,000 then 8,000: the second does not fit once the first is counted.
    let r = submit(
        &ledger,
        vec![
            linked(transfer("c-1", "wallet", "shop", 3_000)),
            single(transfer("c-2", "wallet", "shop", 8_000)),
        ],
    )
    .await;
    assert_eq!(
        [code(&r[0]), code(&r[1])],
        ["linked_operation_failed", "insufficient_funds"]
    );
    assert_eq!(account(&ledger, "wallet").await, wallet_before);
    assert_eq!(account(&ledger, "shop").await, shop_before);
    assert!(ledger.transfer(&tid("c-1")).await.expect("read").is_none());
    assert!(ledger.transfer(&tid("c-2")).await.expect("read").is_none());

    // The unapplied id keeps its answer; a new id is a new transfer.
    assert_eq!(
        code(
            &submit(
                &ledger,
                vec![single(transfer("c-1", "wallet", "shop", 3_000))]
            )
            .await[0]
        ),
        "linked_operation_failed"
    );
    assert_eq!(
        code(
            &submit(
                &ledger,
                vec![single(transfer("c-1", "wallet", "shop", 500))]
            )
            .await[0]
        ),
        "transfer_id_conflict"
    );
    let reused = ok(&ledger, transfer("c-1b", "wallet", "shop", 500)).await;
    assert!(!reused.replayed());
    assert_eq!(transfer_of(&reused).amount, 500);
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 500, 0, 10_000]
    );

    // A longer chain that creates an account, holds into it and over-posts: nothing of it stays,
    // while the unlinked operation before it in the same submission does.
    let r = submit(
        &ledger,
        vec![
            single(transfer("solo", "wallet", "shop", 100)),
            linked(open_account("escrow", Currency::USD, PLAIN)),
            linked(hold("c-h", "wallet", "escrow", 1_000, Some(30_000))),
            linked(post("c-p", "c-h", Some(1_001))),
            single(transfer("c-after", "bank", "escrow", 5)),
        ],
    )
    .await;
    assert_eq!(
        r.iter().map(code).collect::<Vec<_>>(),
        [
            "ok",
            "linked_operation_failed",
            "linked_operation_failed",
            "post_exceeds_hold",
            "linked_operation_failed"
        ]
    );
    assert!(ledger
        .account(&aid("escrow"))
        .await
        .expect("read")
        .is_none());
    assert!(ledger.hold(&tid("c-h")).await.expect("read").is_none());
    assert!(ledger.transfer(&tid("c-h")).await.expect("read").is_none());
    assert!(ledger
        .transfer(&tid("c-after"))
        .await
        .expect("read")
        .is_none());
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 600, 0, 10_000],
        "only `solo` moved money; the chain's hold reserved nothing"
    );

    // A chain left open at the end of a submission is refused whole.
    let r = submit(
        &ledger,
        vec![
            linked(transfer("open-1", "wallet", "shop", 1)),
            linked(transfer("open-2", "wallet", "shop", 1)),
        ],
    )
    .await;
    assert!(r.iter().all(|x| code(x) == "linked_chain_open"), "{r:?}");
    assert!(ledger
        .transfer(&tid("open-1"))
        .await
        .expect("read")
        .is_none());

    // And a chain that holds together applies whole.
    let r = submit(
        &ledger,
        vec![
            linked(open_account("escrow", Currency::USD, PLAIN)),
            linked(hold("c-h2", "wallet", "escrow", 1_000, Some(30_000))),
            single(post("c-p2", "c-h2", Some(400))),
        ],
    )
    .await;
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    assert_eq!(
        balances(&account(&ledger, "wallet").await),
        [0, 1_000, 0, 10_000]
    );
    assert_eq!(balances(&account(&ledger, "escrow").await), [0, 0, 0, 400]);

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    // 3 accounts + fund, c-1b, solo, escrow, c-h2, c-p2.
    assert_eq!(summary.entries, 9);
    assert_eq!(summary.accounts, 4);
}
