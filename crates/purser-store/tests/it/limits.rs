//! Edges of the storage API: submission sizes, verifying a store that holds no ledger, and
//! (PostgreSQL) a writer whose connection is cut.

use std::time::{Duration, Instant};

use purser_store::{StoreError, MAX_SUBMISSION_OPS};

use crate::harness::*;

both_backends!(submission_sizes_are_bounded, verify_needs_a_ledger);
postgres_only!(writer_survives_a_dropped_connection);

async fn submission_sizes_are_bounded(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 1_000_000).await;

    assert!(ledger.submit(Vec::new()).await.expect("empty").is_empty());

    let ops = |n: usize| -> Vec<_> {
        (0..n)
            .map(|i| single(transfer(&format!("big-{i}"), "wallet", "shop", 1)))
            .collect()
    };
    match ledger.submit(ops(MAX_SUBMISSION_OPS + 1)).await {
        Err(StoreError::TooLarge { ops }) => assert_eq!(ops, MAX_SUBMISSION_OPS + 1),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(ledger
        .transfer(&tid("big-0"))
        .await
        .expect("read")
        .is_none());

    // The largest allowed submission goes through whole.
    let r = submit(&ledger, ops(MAX_SUBMISSION_OPS)).await;
    assert!(r.iter().all(Result::is_ok));
    assert_eq!(
        account(&ledger, "shop").await.credits_posted,
        MAX_SUBMISSION_OPS as i64
    );

    ledger.shutdown().await;
    assert_eq!(db.verify_ok().await.entries, 4 + MAX_SUBMISSION_OPS as i64);
}

async fn verify_needs_a_ledger(db: TestDb) {
    // Nothing has been opened here yet: there is no ledger to verify.
    match purser_store::verify(&db.config).await {
        Err(StoreError::Config(why)) => assert!(!why.is_empty()),
        other => {
            panic!("verify of a store without a ledger: expected a config error, got {other:?}")
        }
    }
    // Once opened (migrated) it is an empty, valid ledger.
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    ledger.ping().await.expect("ping");
    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!((summary.entries, summary.accounts), (0, 0));
    // Opening again does not migrate twice.
    let ledger = db.ledger(&clock).await;
    ledger.shutdown().await;
    assert_eq!(
        db.raw()
            .scalar("SELECT COUNT(*) FROM schema_migrations")
            .await,
        1
    );
}

/// "Nothing was applied; retry with the same ids": after PostgreSQL drops the ledger's
/// connections, retries go through, each operation applied once.
async fn writer_survives_a_dropped_connection(db: TestDb) {
    let clock = clock();
    let ledger = db.ledger(&clock).await;
    open_world(&ledger, 10_000).await;
    let purser_store::StoreConfig::Postgres { url } = &db.config else {
        unreachable!()
    };
    let dbname = url.rsplit('/').next().expect("db name").to_string();

    // An administrator (or a failover) ends every session on the database.
    let killed = db
        .raw()
        .scalar(&format!(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
        ))
        .await;
    assert!(
        killed >= 2,
        "the writer's and the reader's sessions ended ({killed})"
    );

    for i in 0..5 {
        let id = format!("after-{i}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ledger
                .submit_one(transfer(&id, "wallet", "shop", 100))
                .await
            {
                Ok(Ok(_)) => break,
                Ok(Err(e)) => panic!("{id} refused: {e}"),
                Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{id}: storage did not recover: {e}"),
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let wallet = loop {
        match ledger.account(&aid("wallet")).await {
            Ok(Some(w)) => break w,
            Ok(None) => panic!("the wallet vanished"),
            Err(e) => {
                assert!(Instant::now() < deadline, "reads did not recover: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(
        balances(&wallet),
        [0, 500, 0, 10_000],
        "each retry applied once"
    );
    ledger.shutdown().await;
    assert_eq!(db.verify_ok().await.entries, 4 + 5);
}
