//! Kill the real server mid-load and check nothing acknowledged was lost; stop it gracefully
//! and check in-flight work is finished; race two processes on one PostgreSQL.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::both;
use crate::support::*;

/// What a load thread saw acknowledged: (path, body, answer).
type Acked = Arc<Mutex<Vec<(String, Value, Value)>>>;

/// Threads that transfer, hold and post against `wallet` until told to stop or the server
/// goes away. Every 201 is recorded.
fn load(
    p: &Purser,
    round: usize,
    threads: usize,
    stop: Arc<AtomicBool>,
    acked: Acked,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|t| {
            let base = p.base.clone();
            let auth = p.auth();
            let stop = stop.clone();
            let acked = acked.clone();
            std::thread::spawn(move || {
                let a = agent();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = format!("r{}-{round}-{t}-{n}", std::process::id());
                    let steps = [
                        ("/v1/ledger/transfers".to_string(), json!({"id": format!("{id}-t"), "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 1, "currency": "CNY"})),
                        ("/v1/ledger/transfers".to_string(), json!({"type": "hold", "id": format!("{id}-h"), "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 3, "currency": "CNY"})),
                        (format!("/v1/ledger/holds/{id}-h/post"), json!({"id": format!("{id}-p"), "amount": 2})),
                    ];
                    for (path, body) in steps {
                        match answer(a.post(&format!("{base}{path}")).set("Authorization", &auth).send_json(body.clone())) {
                            Ok((201, v, _)) => acked.lock().unwrap().push((path, body, v)),
                            Ok((s, v, _)) => panic!("unexpected {s}: {v}"),
                            Err(_) => return, // the server is gone
                        }
                    }
                }
            })
        })
        .collect()
}

/// Every acknowledged operation is there, and repeating it replays the first answer.
fn check_acked(p: &Purser, acked: &[(String, Value, Value)]) {
    assert!(!acked.is_empty(), "the load made progress before the kill");
    for (path, body, first) in acked {
        let id = body["id"].as_str().unwrap();
        let (s, v) = p.get(&format!("/v1/ledger/transfers/{id}"));
        assert_eq!(s, 200, "acknowledged {id} is missing after restart");
        assert_eq!(&v, first);
        if path.ends_with("/post") {
            let (_, h) = p.get(&format!(
                "/v1/ledger/holds/{}",
                v["pending_id"].as_str().unwrap()
            ));
            assert_eq!(h["state"], "posted");
        }
    }
    for (path, body, first) in acked.iter().step_by(7) {
        let (s, v, replayed) = p.post(path, body);
        assert_eq!((s, replayed), (200, true), "{v}");
        assert_eq!(
            &v, first,
            "a retry after the crash returns the first answer"
        );
    }
}

both!(sigkill_mid_load_loses_nothing_acknowledged, |storage| {
    let dir = TempDir::new("crash");
    let mut p = start(dir.path(), &storage);
    open_wallet(&p, 1_000_000_000);
    let rounds = if storage.url().is_some() { 2 } else { 3 };
    let mut all: Vec<(String, Value, Value)> = Vec::new();
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Acked = Arc::new(Mutex::new(Vec::new()));
        let threads = load(&p, round, 8, stop.clone(), acked.clone());
        std::thread::sleep(Duration::from_millis(400 + 250 * round as u64));
        p.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        p = start(dir.path(), &storage);
        all.extend(acked.lock().unwrap().drain(..));
        check_acked(&p, &all);
    }
    drop(p);
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify after crashes: {out}{err}");
});

both!(sigterm_finishes_in_flight_work, |storage| {
    let dir = TempDir::new("term");
    let mut p = start(dir.path(), &storage);
    open_wallet(&p, 1_000_000_000);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    let threads = load(&p, 0, 8, stop.clone(), acked.clone());
    std::thread::sleep(Duration::from_millis(500));
    let status = p.terminate();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(status.success(), "graceful exit, got {status}");
    let p = start(dir.path(), &storage);
    check_acked(&p, &acked.lock().unwrap());
    drop(p);
    assert_eq!(verify(dir.path(), &storage).0, 0);
});

#[test]
fn two_processes_on_one_postgres_never_overdraw() {
    let Some(db) = PgDb::create() else {
        eprintln!("skipped: PostgreSQL not reachable");
        return;
    };
    let storage = Storage::Postgres(db);
    let (d1, d2) = (TempDir::new("pg1"), TempDir::new("pg2"));
    let a = start(d1.path(), &storage);
    // Nodes on one database share the vault key (the README says so; a node without it
    // refuses to start).
    std::fs::copy(
        d1.path().join("vault-keys.json"),
        d2.path().join("vault-keys.json"),
    )
    .unwrap();
    let b = start(d2.path(), &storage);
    open_wallet(&a, 10_000);
    // 2 processes × 4 threads × 40 attempts of 100 = 16,000 asked for, 10,000 available.
    let ok = Arc::new(Mutex::new(0));
    let threads: Vec<_> = [&a, &b]
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let ok = ok.clone();
            (0..4).map(move |t| {
                let (base, auth, ok) = (p.base.clone(), p.auth(), ok.clone());
                std::thread::spawn(move || {
                    let ag = agent();
                    for n in 0..40 {
                        let body = json!({"id": format!("x{i}-{t}-{n}"), "debit_account_id": "wallet", "credit_account_id": "shop", "amount": 100, "currency": "CNY"});
                        let (s, v, _) = answer(ag.post(&format!("{base}/v1/ledger/transfers")).set("Authorization", &auth).send_json(body)).unwrap();
                        match s {
                            201 => *ok.lock().unwrap() += 1,
                            422 => assert_eq!(v["code"], "insufficient_funds"),
                            _ => panic!("{s} {v}"),
                        }
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        *ok.lock().unwrap(),
        100,
        "exactly the funded amount was spent"
    );
    for p in [&a, &b] {
        let (_, w) = p.get("/v1/ledger/accounts/wallet");
        assert_eq!(
            (w["balance"].as_i64(), w["debits_posted"].as_i64()),
            (Some(0), Some(10_000))
        );
    }
    drop((a, b));
    let (code, out, err) = verify(d1.path(), &storage);
    assert_eq!(code, 0, "{out}{err}");
}
