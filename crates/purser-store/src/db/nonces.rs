//! Spending request nonces on PostgreSQL in batches: every signed agent request inserts its
//! nonce before it is answered, and one commit per request caps throughput at the server's
//! commit rate. One task gathers the nonces of concurrent requests (those that arrived while
//! the previous batch was committing) into a single `INSERT … SELECT FROM UNNEST … ON
//! CONFLICT DO NOTHING RETURNING`, and tells each request whether its nonce was new.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Statement};

use crate::postgres::{connect, db_err};
use crate::StoreError;

/// Nonces per batch: one statement stays small, and a burst of 256 requests fits in one.
const MAX_BATCH: usize = 1024;

/// Batches in flight at once, each on its own connection: PostgreSQL merges the fsyncs of
/// concurrent commits, so a few parallel batches beat one serial stream.
const WORKERS: usize = 4;

/// Retries of a batch PostgreSQL rolled back to break a deadlock.
const DEADLOCK_RETRIES: u32 = 3;

/// Requests waiting for the batcher; beyond this callers wait (backpressure).
const QUEUE: usize = 16_384;

type Reply = oneshot::Sender<Result<bool, StoreError>>;

pub(super) struct NonceBatcher {
    tx: mpsc::Sender<(String, String, i64, Reply)>,
}

impl NonceBatcher {
    pub(super) fn start(url: String) -> NonceBatcher {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..WORKERS {
            tokio::spawn(run(url.clone(), rx.clone()));
        }
        NonceBatcher { tx }
    }

    /// True when the nonce was new (and is now spent), false when it was spent before.
    pub(super) async fn spend(
        &self,
        keyid: &str,
        nonce: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((keyid.to_string(), nonce.to_string(), expires_at, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

const INSERT: &str = "INSERT INTO nonces (keyid, nonce, expires_at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[]) ON CONFLICT DO NOTHING RETURNING keyid, nonce";

type Queue = std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<(String, String, i64, Reply)>>>;

async fn run(url: String, rx: Queue) {
    // The connection and its prepared insert (one round trip per batch, not two).
    let mut client: Option<(Client, Statement)> = None;
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            // One order for every batch: concurrent batches that share a nonce then wait for
            // each other instead of deadlocking on each other's unique-index entries.
            batch.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            batch
        };
        if client.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            client = match connect(&url).await {
                Ok(c) => c.prepare(INSERT).await.ok().map(|s| (c, s)),
                Err(_) => None,
            };
        }
        let result = match &client {
            Some((c, stmt)) => insert(c, stmt, &batch).await,
            None => Err(StoreError::Unavailable(
                "cannot reach PostgreSQL to spend nonces".into(),
            )),
        };
        match result {
            Ok(inserted) => {
                let mut inserted = inserted;
                for (k, n, _, reply) in batch {
                    // The first of two equal nonces in one batch wins; the second is a replay.
                    let _ = reply.send(Ok(inserted.remove(&(k, n))));
                }
            }
            Err(e) => {
                client = None;
                for (.., reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn insert(
    c: &Client,
    stmt: &Statement,
    batch: &[(String, String, i64, Reply)],
) -> Result<HashSet<(String, String)>, StoreError> {
    let keyids: Vec<&str> = batch.iter().map(|b| b.0.as_str()).collect();
    let nonces: Vec<&str> = batch.iter().map(|b| b.1.as_str()).collect();
    let expiry: Vec<i64> = batch.iter().map(|b| b.2).collect();
    // A deadlock PostgreSQL broke (it rolls one side back) is retried: nothing was inserted.
    let mut attempt = 0;
    let rows = loop {
        match c.query(stmt, &[&keyids, &nonces, &expiry]).await {
            Ok(rows) => break rows,
            Err(e)
                if attempt < DEADLOCK_RETRIES
                    && e.code()
                        == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED) =>
            {
                attempt += 1;
            }
            Err(e) => return Err(db_err(e)),
        }
    };
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
        .collect())
}
