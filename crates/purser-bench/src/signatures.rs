//! `purser bench signatures`: the signed-request path (parse the signature headers, look up
//! the agent key, verify Ed25519, spend the nonce in the database) beside its floor, a bare
//! Ed25519 verification on one core, measured in the same run.
//!
//! Requests are signed before the clock starts; each carries its own nonce, so every one
//! does the full work including a durable nonce insert.

use std::sync::Arc;
use std::time::Instant;

use purser_core::httpsig::{sign_request, Ed25519KeyPair, RequestParts, SignParams};
use purser_core::rail::SandboxRail;
use purser_store::{Ledger, StoreConfig, SystemClock};
use purser_wallet::Wallet;
use serde::Serialize;

pub struct Options {
    pub database_url: Option<String>,
    pub concurrency: Vec<usize>,
    pub requests: usize,
}

#[derive(Serialize)]
pub struct Row {
    pub concurrency: usize,
    pub requests: usize,
    pub per_second: f64,
    /// Of one core's bare verification rate.
    pub ratio_to_floor: f64,
    pub p50_us: u32,
    pub p99_us: u32,
}

#[derive(Serialize)]
pub struct Report {
    pub storage: String,
    /// Bare Ed25519 verifications per second on one core.
    pub verify_floor_per_second: f64,
    pub rows: Vec<Row>,
}

type Signed = (String, Option<String>, String, String);

fn sign_many(key: &Ed25519KeyPair, n: usize, now: i64) -> Result<Vec<Signed>, String> {
    let headers: Vec<(String, String)> = Vec::new();
    let run = crate::run_id();
    (0..n)
        .map(|i| {
            let parts = RequestParts {
                method: "GET",
                scheme: Some("http"),
                authority: "127.0.0.1:7420",
                path: "/v1/agent/whoami",
                query: None,
                headers: &headers,
            };
            let mut p = SignParams::new(now, format!("bench-{run}-{i}"));
            p.expires = now + 300;
            let h = sign_request(key, &parts, None, &p).map_err(|e| e.to_string())?;
            Ok((
                h.signature_input,
                h.content_digest,
                h.signature,
                String::new(),
            ))
        })
        .collect()
}

pub async fn run(opts: Options) -> Result<Report, String> {
    let tmp = std::env::temp_dir().join(format!("purser-bench-sig-{}", crate::run_id()));
    purser_store::create_private_dir(&tmp).map_err(|e| e.to_string())?;
    // On PostgreSQL the run gets a database of its own: the wallet's records are sealed with
    // this run's vault key, which a later run would not have.
    let scratch = match &opts.database_url {
        Some(url) => Some(crate::scratch_db::ScratchDb::create(url).await?),
        None => None,
    };
    let store = match &scratch {
        Some(db) => StoreConfig::Postgres {
            url: db.url.clone(),
        },
        None => StoreConfig::sqlite_in(&tmp),
    };
    let clock: Arc<dyn purser_core::Clock> = Arc::new(SystemClock);
    let ledger = Arc::new(
        Ledger::open(store.clone(), clock.clone())
            .await
            .map_err(|e| e.to_string())?,
    );
    let wallet = Arc::new(
        Wallet::open(
            &store,
            &tmp,
            ledger.clone(),
            clock,
            Arc::new(SandboxRail::new()),
        )
        .await?,
    );
    let result = measure(&wallet, &opts, store.describe()).await;
    wallet.shutdown().await;
    ledger.shutdown().await;
    drop(wallet);
    drop(ledger);
    if let Some(db) = scratch {
        db.drop_it().await;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

async fn measure(wallet: &Arc<Wallet>, opts: &Options, storage: String) -> Result<Report, String> {
    let dev = wallet
        .create_user("Bench developer", None)
        .await
        .map_err(|e| e.to_string())?;
    let (_, token) = wallet
        .complete_setup(&dev.setup_token, "bench")
        .await
        .map_err(|e| e.to_string())?;
    let who = wallet
        .authenticate(&token.token)
        .await
        .map_err(|e| e.to_string())?;
    let key = Ed25519KeyPair::generate().map_err(|e| e.to_string())?;
    wallet
        .register_agent(
            &who,
            "bench agent",
            "bench",
            &key.public_key().to_jwk(),
            Some(
                &key.possession_proof(&who.user_id)
                    .map_err(|e| e.to_string())?,
            ),
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    let now = wallet.now_secs();

    // The floor: one core, bare verification of one signed request, over and over.
    let one = sign_many(&key, 1, now)?;
    let parsed = parse(wallet, &one[0])?;
    let public = key.public_key();
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        parsed.verify(&public).map_err(|e| e.to_string())?;
    }
    let floor = n as f64 / t.elapsed().as_secs_f64();

    let mut rows = Vec::new();
    for &c in &opts.concurrency {
        let reqs = Arc::new(sign_many(&key, opts.requests, now)?);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..c {
            let wallet = wallet.clone();
            let reqs = reqs.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = w;
                while i < reqs.len() {
                    let t = Instant::now();
                    let p = parse(&wallet, &reqs[i])?;
                    wallet
                        .authenticate_signed(p)
                        .await
                        .map_err(|e| e.to_string())?;
                    lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                    i += c;
                }
                Ok::<_, String>(lat)
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.map_err(|e| e.to_string())??);
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        let per_second = reqs.len() as f64 / secs;
        rows.push(Row {
            concurrency: c,
            requests: reqs.len(),
            per_second,
            ratio_to_floor: per_second / floor,
            p50_us: crate::percentile(&lat, 50.0),
            p99_us: crate::percentile(&lat, 99.0),
        });
    }
    Ok(Report {
        storage,
        verify_floor_per_second: floor,
        rows,
    })
}

fn parse(wallet: &Wallet, r: &Signed) -> Result<purser_core::httpsig::SignedRequest, String> {
    let mut headers = vec![
        ("signature-input".to_string(), r.0.clone()),
        ("signature".to_string(), r.2.clone()),
    ];
    if let Some(d) = &r.1 {
        headers.push(("content-digest".to_string(), d.clone()));
    }
    let parts = RequestParts {
        method: "GET",
        scheme: Some("http"),
        authority: "127.0.0.1:7420",
        path: "/v1/agent/whoami",
        query: None,
        headers: &headers,
    };
    wallet.parse_signed(&parts, None).map_err(|e| e.to_string())
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "Signed agent requests on {} (parse + key lookup + Ed25519 verify + durable nonce insert)\n\
         Floor: bare Ed25519 verification on one core: {:.0}/s ({:.1} µs each)\n\n\
         {:>11}  {:>9}  {:>10}  {:>9}  {:>8}  {:>8}\n",
        r.storage,
        r.verify_floor_per_second,
        1e6 / r.verify_floor_per_second,
        "concurrency",
        "requests",
        "per second",
        "of floor",
        "p50 µs",
        "p99 µs"
    );
    for row in &r.rows {
        out.push_str(&format!(
            "{:>11}  {:>9}  {:>10.0}  {:>8.0}%  {:>8}  {:>8}\n",
            row.concurrency,
            row.requests,
            row.per_second,
            row.ratio_to_floor * 100.0,
            row.p50_us,
            row.p99_us
        ));
    }
    out.push_str("\nGoal (issue 3): at least 70% of the one-core floor. Every request spends its nonce durably (fsync on SQLite; commit on PostgreSQL), which concurrency amortizes through group commit.\n");
    out
}
