//! The records store: the same statements and expectations mean the same thing on SQLite and
//! PostgreSQL — all or nothing per write, a failed expectation or a unique conflict rolls the
//! write back, and concurrent writes stay isolated from each other's failures.

use purser_store::db::{Db, DbError, Expect, Stmt};
use purser_store::vals;

use crate::harness::*;

async fn open(db: &TestDb) -> Db {
    // The ledger creates the database file the records share.
    let ledger = db.ledger(&clock()).await;
    ledger.shutdown().await;
    Db::open(&db.config).await.expect("open records")
}

async fn count(db: &Db, status: &str) -> i64 {
    db.query_opt(
        "SELECT COUNT(*) FROM users WHERE status = $1",
        vals![status],
    )
    .await
    .expect("count")
    .expect("a row")
    .int(0)
    .expect("int")
}

fn insert_user(id: &str, status: &str) -> Stmt {
    Stmt::exec(
        "INSERT INTO users (id, name, email, status, created_at) VALUES ($1, $2, $3, $4, $5)",
        vals![id, "N", Option::<String>::None, status, 1_i64],
    )
}

both_backends!(a_failed_expectation_rolls_the_whole_write_back);

async fn a_failed_expectation_rolls_the_whole_write_back(tdb: TestDb) {
    let db = open(&tdb).await;
    db.write(vec![insert_user("usr_a", "pending_setup")])
        .await
        .expect("insert");
    // Two statements: the first applies, the second expects a row that is not there.
    let r = db
        .write(vec![
            insert_user("usr_b", "pending_setup"),
            Stmt::exec(
                "UPDATE users SET status = 'active' WHERE id = $1 AND status = 'active'",
                vals!["usr_a"],
            )
            .expect(Expect::One, "still pending"),
        ])
        .await;
    assert_eq!(r.err(), Some(DbError::Precondition("still pending")));
    assert_eq!(
        count(&db, "pending_setup").await,
        1,
        "usr_b was rolled back"
    );
    // Compare-and-set succeeds once, then fails.
    let cas = || {
        vec![Stmt::exec(
            "UPDATE users SET status = 'active' WHERE id = $1 AND status = 'pending_setup'",
            vals!["usr_a"],
        )
        .expect(Expect::One, "pending")]
    };
    db.write(cas()).await.expect("first transition");
    assert_eq!(
        db.write(cas()).await.err(),
        Some(DbError::Precondition("pending"))
    );
    db.shutdown().await;
}

both_backends!(unique_conflicts_are_reported_and_change_nothing);

async fn unique_conflicts_are_reported_and_change_nothing(tdb: TestDb) {
    let db = open(&tdb).await;
    db.write(vec![insert_user("usr_a", "active")])
        .await
        .expect("insert");
    let r = db
        .write(vec![
            insert_user("usr_c", "active"),
            insert_user("usr_a", "active"),
        ])
        .await;
    assert!(matches!(r, Err(DbError::Conflict(_))), "{r:?}");
    assert_eq!(count(&db, "active").await, 1);
    // ON CONFLICT DO NOTHING reports zero rows changed instead.
    let r = db
        .write(vec![Stmt::exec(
            "INSERT INTO nonces (keyid, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            vals!["k", "n", 10_i64],
        )])
        .await
        .expect("first nonce");
    assert_eq!(r[0].changed, 1);
    let r = db
        .write(vec![Stmt::exec(
            "INSERT INTO nonces (keyid, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            vals!["k", "n", 10_i64],
        )])
        .await
        .expect("second nonce");
    assert_eq!(r[0].changed, 0, "a nonce is spent once");
    db.shutdown().await;
}

both_backends!(concurrent_writes_fail_alone);

async fn concurrent_writes_fail_alone(tdb: TestDb) {
    let db = open(&tdb).await;
    // 200 writers at once, every third one doomed; on SQLite they share group commits.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut stmts = vec![insert_user(&format!("usr_{i}"), "active")];
            if i % 3 == 0 {
                stmts.push(
                    Stmt::query("SELECT 1 FROM users WHERE id = 'nobody'", vec![])
                        .expect(Expect::One, "doomed"),
                );
            }
            (i, db.write(stmts).await)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.expect("join");
        assert_eq!(r.is_err(), i % 3 == 0, "writer {i}: {r:?}");
    }
    assert_eq!(count(&db, "active").await, 200 - 67);
    // Bytes and NULLs round-trip.
    db.write(vec![Stmt::exec(
        "INSERT INTO vault_records (id, kek_id, wrapped_dek, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5)",
        vals!["v1", "kek_x", vec![0_u8, 1, 255], Vec::<u8>::new(), 7_i64],
    )])
    .await
    .expect("bytes");
    let row = db
        .query_opt(
            "SELECT wrapped_dek, ciphertext, created_at FROM vault_records WHERE id = $1",
            vals!["v1"],
        )
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.bytes(0).expect("bytes"), vec![0, 1, 255]);
    assert_eq!(row.bytes(1).expect("bytes"), Vec::<u8>::new());
    assert_eq!(row.int(2).expect("int"), 7);
    let email = db
        .query_opt("SELECT email FROM users WHERE id = $1", vals!["usr_1"])
        .await
        .expect("read")
        .expect("row");
    assert_eq!(email.opt_text(0).expect("null"), None);
    db.shutdown().await;
}

both_backends!(each_nonce_is_spent_exactly_once_under_concurrency);

async fn each_nonce_is_spent_exactly_once_under_concurrency(tdb: TestDb) {
    let db = open(&tdb).await;
    // 400 concurrent spends of 100 distinct nonces (each four times): on PostgreSQL they share
    // batches, and equal nonces land in the same batch too.
    let mut tasks = Vec::new();
    for i in 0..400 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.spend_nonce("key-1", &format!("n-{}", i % 100), 10_000)
                .await
                .expect("spend")
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        if t.await.expect("join") {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 100, "each nonce is new exactly once");
    assert!(!db.spend_nonce("key-1", "n-7", 10_000).await.expect("spend"));
    assert!(
        db.spend_nonce("key-2", "n-7", 10_000).await.expect("spend"),
        "nonces are per key"
    );
    db.shutdown().await;
}
