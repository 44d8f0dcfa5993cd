//! Many spenders racing on one wallet: never overdrawn, exactly the funded amount spent.
//! On PostgreSQL also with two `Ledger`s (two writers, as two processes) on one database.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use purser_core::ledger::HoldState;
use purser_store::Ledger;

use crate::harness::*;

both_backends!(racing_spenders_never_overdraw);
postgres_only!(two_writers_never_overdraw, two_writers_apply_each_id_once);

const FUNDS: i64 = 50_000;
const PRICE: i64 = 100;
const TASKS: usize = 64;
const TRIES: usize = 20;

/// Watches the wallet while the race runs: it must never be overdrawn at any observed moment.
fn watch_wallet(ledger: Arc<Ledger>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut seen = 0;
        while !stop.load(Ordering::Relaxed) {
            let w = account(&ledger, "wallet").await;
            if let Err(e) = w.check_invariants() {
                panic!("mid-race: {e}: {w:?}");
            }
            let net = w.net_posted().expect("no overflow");
            assert!(net >= 0, "the wallet went negative mid-race: {w:?}");
            assert!(w.debits_posted + w.debits_pending <= FUNDS, "{w:?}");
            seen += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    })
}

/// `TASKS` spenders spread over `ledgers`, each trying `TRIES` purchases with unique ids.
/// Returns (successes per ledger, refusals). Fails if storage itself failed any submission:
/// a busy ledger must answer every request with a result, not with "unavailable".
async fn race(ledgers: &[Arc<Ledger>]) -> (Vec<usize>, usize) {
    let refused = Arc::new(AtomicUsize::new(0));
    let storage_failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let succeeded: Vec<Arc<AtomicUsize>> = ledgers
        .iter()
        .map(|_| Arc::new(AtomicUsize::new(0)))
        .collect();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let which = t % ledgers.len();
        let ledger = ledgers[which].clone();
        let ok_count = succeeded[which].clone();
        let refused = refused.clone();
        let storage_failures = storage_failures.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..TRIES {
                let op = transfer(&format!("buy-{t}-{i}"), "wallet", "shop", PRICE);
                match ledger.submit_one(op).await {
                    Ok(Ok(o)) => {
                        assert!(!o.replayed());
                        ok_count.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        assert_eq!(e.code(), "insufficient_funds", "unexpected refusal: {e}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => storage_failures
                        .lock()
                        .expect("lock")
                        .push(format!("buy-{t}-{i}: {e}")),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a spender panicked");
    }
    let failures = storage_failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "{} of {} submissions failed in storage mid-race; first: {}",
        failures.len(),
        TASKS * TRIES,
        failures[0]
    );
    (
        succeeded
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect(),
        refused.load(Ordering::Relaxed),
    )
}

async fn racing_spenders_never_overdraw(db: TestDb) {
    let clock = clock();
    let ledger = Arc::new(db.ledger(&clock).await);
    open_world(&ledger, FUNDS).await;

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_wallet(ledger.clone(), stop.clone());
    let (succeeded, refused) = race(std::slice::from_ref(&ledger)).await;
    stop.store(true, Ordering::Relaxed);
    let observations = watcher.await.expect("the watcher saw the wallet overdrawn");
    assert!(observations > 0);

    let expected = (FUNDS / PRICE) as usize;
    assert_eq!(
        succeeded,
        [expected],
        "exactly the funded number of purchases succeed"
    );
    assert_eq!(refused, TASKS * TRIES - expected);
    let wallet = account(&ledger, "wallet").await;
    assert_eq!(balances(&wallet), [0, FUNDS, 0, FUNDS]);
    assert_eq!(wallet.net_posted(), Some(0));
    assert_eq!(balances(&account(&ledger, "shop").await), [0, 0, 0, FUNDS]);
    assert!(
        ledger.metrics().snapshot().commits < (TASKS * TRIES) as u64,
        "concurrent submissions share commits (group commit)"
    );

    ledger.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!(summary.transfers, 1 + expected);
    assert_eq!(summary.entries, 4 + expected as i64);
    let usd = &summary.totals["USD"];
    assert_eq!(usd.debits_posted, usd.credits_posted);
}

async fn two_writers_never_overdraw(db: TestDb) {
    let clock = clock();
    // Both processes start at once on the empty database: one migrates, the other waits.
    let (a, b) = tokio::join!(db.ledger(&clock), db.ledger(&clock));
    let (a, b) = (Arc::new(a), Arc::new(b));
    open_world(&a, FUNDS).await;
    // What one writer committed, the other reads.
    assert_eq!(account(&b, "wallet").await.credits_posted, FUNDS);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_wallet(b.clone(), stop.clone());
    let (succeeded, refused) = race(&[a.clone(), b.clone()]).await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.expect("the watcher saw the wallet overdrawn");

    let expected = (FUNDS / PRICE) as usize;
    assert_eq!(
        succeeded.iter().sum::<usize>(),
        expected,
        "per writer: {succeeded:?}"
    );
    assert_eq!(refused, TASKS * TRIES - expected);
    assert_eq!(
        succeeded.iter().sum::<usize>() as i64 * PRICE,
        FUNDS,
        "what the writers say they moved is what was funded"
    );
    for l in [&a, &b] {
        assert_eq!(balances(&account(l, "wallet").await), [0, FUNDS, 0, FUNDS]);
        assert_eq!(balances(&account(l, "shop").await), [0, 0, 0, FUNDS]);
    }

    a.shutdown().await;
    b.shutdown().await;
    let summary = db.verify_ok().await;
    assert_eq!(summary.entries, 4 + expected as i64);
    assert_eq!(
        db.raw()
            .scalar("SELECT seq FROM ledger_head WHERE id = 1")
            .await,
        summary.entries,
        "one unforked chain"
    );
}

async fn two_writers_apply_each_id_once(db: TestDb) {
    let clock = clock();
    let a = Arc::new(db.ledger(&clock).await);
    let b = Arc::new(db.ledger(&clock).await);
    open_world(&a, 10_000).await;

    // The same requests sent to both writers at once: each applies once, the other replays.
    // Several rounds, because whether the two writers' batches overlap is up to timing.
    const ROUNDS: usize = 20;
    const IDS: usize = 40;
    let mut storage_failures = Vec::new();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for i in 0..IDS {
            for l in [&a, &b] {
                let l = l.clone();
                tasks.push(tokio::spawn(async move {
                    let id = format!("dup-{round}-{i}");
                    let r = l.submit_one(transfer(&id, "wallet", "shop", 5)).await;
                    (i, id, r)
                }));
            }
        }
        let mut fresh = [0usize; IDS];
        let mut seen: Vec<Option<purser_core::ledger::Transfer>> = vec![None; IDS];
        for t in tasks {
            let (i, id, r) = t.await.expect("task");
            let o = match r {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => panic!("{id} refused: {e}"),
                Err(e) => {
                    storage_failures.push(format!("{id}: {e}"));
                    continue;
                }
            };
            if !o.replayed() {
                fresh[i] += 1;
            }
            let tr = transfer_of(&o);
            match &seen[i] {
                Some(prev) => assert_eq!(prev, &tr, "both writers report the same transfer"),
                None => seen[i] = Some(tr),
            }
        }
        assert!(
            storage_failures.is_empty(),
            "round {round}: {} of {} submissions failed in storage instead of applying or \
             replaying; first: {}",
            storage_failures.len(),
            2 * IDS,
            storage_failures[0]
        );
        assert!(
            fresh.iter().all(|n| *n == 1),
            "round {round}: applied count per id: {fresh:?}"
        );
    }
    assert_eq!(
        balances(&account(&a, "wallet").await),
        [0, 4_000, 0, 10_000]
    );

    // A hold placed through one writer is settled through the other.
    ok(&a, hold("h-x", "wallet", "shop", 1_000, None)).await;
    ok(&b, post("p-x", "h-x", Some(300))).await;
    assert!(ok(&a, post("p-x", "h-x", Some(300))).await.replayed());
    assert_eq!(
        refused(&a, void("v-x", "h-x")).await.code(),
        "hold_already_posted"
    );

    // A due hold is expired once, whichever writer's sweep gets there first.
    ok(&b, hold("h-exp", "wallet", "shop", 2_000, Some(5_000))).await;
    clock.advance_ms(6_000);
    let (ra, rb) = tokio::join!(
        a.submit_one(transfer("nudge-a", "bank", "shop", 1)),
        b.submit_one(transfer("nudge-b", "bank", "shop", 1)),
    );
    assert!(matches!(ra, Ok(Ok(_))) && matches!(rb, Ok(Ok(_))));
    wait_for_hold(&a, "h-exp", HoldState::Expired, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let expirations = a.metrics().snapshot().expirations + b.metrics().snapshot().expirations;
    assert_eq!(expirations, 1, "expired by exactly one writer");
    assert_eq!(
        db.raw()
            .scalar("SELECT COUNT(*) FROM journal WHERE kind = 'hold_expired'")
            .await,
        1
    );
    assert_eq!(
        balances(&account(&b, "wallet").await),
        [0, 4_300, 0, 10_000]
    );

    a.shutdown().await;
    b.shutdown().await;
    let summary = db.verify_ok().await;
    // 3 accounts + fund, 800 dup, h-x, p-x, h-exp, 2 nudges, 1 expiry.
    assert_eq!(summary.entries, 4 + 800 + 2 + 1 + 2 + 1);
}
