//! The PostgreSQL backend, for more than one `purser` process on one database.
//!
//! Same group commit as SQLite, one writer task per process. Serialization lives in the
//! database, not in process memory: every batch first locks the ledger head row (the journal
//! is one hash chain, so its appends are totally ordered), then locks the accounts and holds it
//! touches (`FOR UPDATE`, in id order). Two processes therefore can never both spend the same
//! balance, and the chain never forks.

use std::sync::Arc;
use std::time::Duration;

use purser_core::ledger::journal::{chain, Hash};
use purser_core::ledger::verify::{StoredEntry, StoredHead, Verifier};
use purser_core::ledger::{Account, AccountId, Hold, LedgerState, Transfer, TransferId};
use purser_core::{Clock, Timestamp};
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::{Client, NoTls, Row};

use crate::rows::{
    account_balances, refusal_body, refusal_from_body, transfer_from_body, AccountRow, HoldRow,
    ACCOUNT_COLUMNS, HOLD_COLUMNS,
};
use crate::writer::{
    self, Batch, CommitTimer, Job, Joiner, Pending, WriterHandle, EXPIRY_SWEEP_LIMIT,
    QUEUE_CAPACITY,
};
use crate::{LedgerMetrics, OpResult, StoreError, VerifyResult};

/// Arbitrary constant naming Purser's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK: i64 = 0x7075_7273_6572; // "purser"

/// Journal rows fetched per round trip while verifying.
const VERIFY_PAGE: i64 = 10_000;

/// Longest wait to connect before reporting the database unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    at BIGINT NOT NULL
);
INSERT INTO ledger_head (id, seq, hash, at) VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0);
CREATE TABLE journal (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    transfer_id TEXT UNIQUE,
    body TEXT NOT NULL,
    hash BYTEA NOT NULL
);
CREATE FUNCTION purser_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the journal is append-only'; END $$;
CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION purser_journal_append_only();
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    flags BIGINT NOT NULL,
    debits_pending BIGINT NOT NULL,
    debits_posted BIGINT NOT NULL,
    credits_pending BIGINT NOT NULL,
    credits_posted BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    debit_account_id TEXT NOT NULL,
    credit_account_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    posted_amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    resolved_at BIGINT
);
CREATE INDEX holds_due ON holds (expires_at) WHERE state = 'pending' AND expires_at IS NOT NULL;
CREATE TABLE refusals (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"#];

pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    // The server's own message and SQLSTATE (deadlock, unique violation, …) for the log; the
    // driver never includes the password.
    match e.as_db_error() {
        Some(db) => {
            StoreError::Unavailable(format!("PostgreSQL {}: {}", db.code().code(), db.message()))
        }
        None => StoreError::Unavailable(format!("PostgreSQL: {e}")),
    }
}

/// Per-session limits, so a stalled peer or a forgotten psql session cannot hang every writer
/// in every process: waits for a row lock give up after `lock_timeout` (the batch fails
/// cleanly and callers retry), no statement runs longer than `statement_timeout`, and commits
/// are flushed to the server's disk before they return, whatever the server's default.
const SESSION_SETTINGS: &str = "SET lock_timeout = '10s'; SET statement_timeout = '30s';
     SET idle_in_transaction_session_timeout = '60s'; SET synchronous_commit = on;";

/// TCP keepalive, so a half-open connection to a vanished server is noticed.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

pub(crate) async fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        StoreError::Config(format!(
            "the database URL {} is not valid: {e}",
            crate::redact_url(url)
        ))
    })?;
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .connect_timeout(CONNECT_TIMEOUT);
    let where_ = crate::redact_url(url);
    let (client, conn) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "no answer from {where_} within {CONNECT_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| match e.as_db_error() {
            Some(db) => StoreError::Unavailable(format!(
                "{where_} refused the connection: {}",
                db.message()
            )),
            None => StoreError::Unavailable(format!("cannot connect to {where_}: {e}")),
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    client
        .batch_execute(SESSION_SETTINGS)
        .await
        .map_err(db_err)?;
    Ok(client)
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    // Two processes starting at once: one migrates, the other waits and then finds it done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .await
        .map_err(db_err)?;
    let done: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(db_err)?
        .get(0);
    if done > MIGRATIONS.len() as i64 {
        return Err(StoreError::Config(format!(
            "the database has schema version {done}, newer than this purser knows ({}); run a newer purser",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= done {
            continue;
        }
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn open(
    url: &str,
    clock: Arc<dyn Clock>,
    metrics: Arc<LedgerMetrics>,
) -> Result<(WriterHandle, Reader), StoreError> {
    let mut client = connect(url).await?;
    migrate(&mut client).await?;
    let reader = Reader {
        url: url.to_string(),
        client: Mutex::new(Arc::new(connect(url).await?)),
    };
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let task = tokio::spawn(writer_loop(url.to_string(), client, rx, clock, metrics));
    Ok((WriterHandle::new(tx, Joiner::Task(task)), reader))
}

async fn writer_loop(
    url: String,
    client: Client,
    mut rx: mpsc::Receiver<Job>,
    clock: Arc<dyn Clock>,
    metrics: Arc<LedgerMetrics>,
) {
    let mut client = Some(client);
    while let Some(first) = rx.recv().await {
        let batch = Batch::gather(first, &mut rx);
        if client.as_ref().is_none_or(Client::is_closed) {
            client = match connect(&url).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "ledger writer cannot reach PostgreSQL");
                    for job in batch.jobs {
                        writer::fail(job, e.clone(), &metrics);
                    }
                    continue;
                }
            };
        }
        let Some(c) = client.as_mut() else { continue };
        let now = clock.now();
        if batch.jobs.is_empty() && !has_due_holds(c, now).await {
            continue;
        }
        let timer = CommitTimer::start();
        let committed = commit(c, &batch.jobs, now).await;
        for job in writer::settle(batch.jobs, timer, committed, &metrics) {
            let timer = CommitTimer::start();
            let committed = commit(c, std::slice::from_ref(&job), now).await;
            let _ = writer::settle(vec![job], timer, committed, &metrics);
        }
    }
}

async fn has_due_holds(client: &Client, now: Timestamp) -> bool {
    client
        .query_opt(
            "SELECT 1 FROM holds WHERE state = 'pending' AND expires_at <= $1 LIMIT 1",
            &[&now.0],
        )
        .await
        .map(|r| r.is_some())
        .unwrap_or(false)
}

fn account_row(r: &Row) -> Result<AccountRow, StoreError> {
    Ok(AccountRow {
        id: r.try_get(0).map_err(db_err)?,
        currency: r.try_get(1).map_err(db_err)?,
        flags: r.try_get(2).map_err(db_err)?,
        balances: [
            r.try_get(3).map_err(db_err)?,
            r.try_get(4).map_err(db_err)?,
            r.try_get(5).map_err(db_err)?,
            r.try_get(6).map_err(db_err)?,
        ],
        created_at: r.try_get(7).map_err(db_err)?,
    })
}

fn hold_row(r: &Row) -> Result<HoldRow, StoreError> {
    Ok(HoldRow {
        id: r.try_get(0).map_err(db_err)?,
        debit: r.try_get(1).map_err(db_err)?,
        credit: r.try_get(2).map_err(db_err)?,
        currency: r.try_get(3).map_err(db_err)?,
        amount: r.try_get(4).map_err(db_err)?,
        posted_amount: r.try_get(5).map_err(db_err)?,
        state: r.try_get(6).map_err(db_err)?,
        created_at: r.try_get(7).map_err(db_err)?,
        expires_at: r.try_get(8).map_err(db_err)?,
        resolved_at: r.try_get(9).map_err(db_err)?,
    })
}

pub(crate) fn head_of(r: &Row) -> Result<(i64, Hash, i64), StoreError> {
    let hash: Vec<u8> = r.try_get(1).map_err(db_err)?;
    let hash: Hash = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("the ledger head hash is not 32 bytes".into()))?;
    Ok((
        r.try_get(0).map_err(db_err)?,
        hash,
        r.try_get(2).map_err(db_err)?,
    ))
}

fn strs<T: AsRef<str>>(ids: impl IntoIterator<Item = T>) -> Vec<String> {
    ids.into_iter().map(|s| s.as_ref().to_string()).collect()
}

async fn commit(
    client: &mut Client,
    jobs: &[Pending],
    now: Timestamp,
) -> Result<(Vec<Vec<OpResult>>, usize), StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    let refs = purser_core::ledger::references(jobs.iter().flat_map(|j| j.ops.iter()));
    let tids = strs(refs.transfers.iter().map(TransferId::as_str));
    let hids = strs(refs.holds.iter().map(TransferId::as_str));
    let aids = strs(refs.accounts.iter().map(AccountId::as_str));
    let hold_sql =
        format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = ANY($1) ORDER BY id FOR UPDATE");
    let due_sql = format!(
        "SELECT {HOLD_COLUMNS} FROM holds WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE"
    );
    let account_sql =
        format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE");
    let due_limit = EXPIRY_SWEEP_LIMIT as i64;
    // The head lock comes first, on its own: it orders this batch after every other writer's
    // (in any process). Only then are the reads pipelined; under READ COMMITTED each sees the
    // state the previous holder of the lock committed.
    let head = tx
        .query_one(
            "SELECT seq, hash, at FROM ledger_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(db_err)?;
    let (mut seq, mut prev, last_at) = head_of(&head)?;
    let now = writer::effective_now(now, last_at);
    let (transfers, holds, due, accounts, refusals) = tokio::try_join!(
        async {
            tx.query(
                "SELECT body FROM journal WHERE transfer_id = ANY($1)",
                &[&tids],
            )
            .await
        },
        async { tx.query(&hold_sql, &[&hids]).await },
        async { tx.query(&due_sql, &[&now.0, &due_limit]).await },
        async { tx.query(&account_sql, &[&aids]).await },
        async {
            tx.query("SELECT id, body FROM refusals WHERE id = ANY($1)", &[&tids])
                .await
        },
    )
    .map_err(db_err)?;
    let mut state = LedgerState::for_execution(Timestamp(last_at));
    for r in transfers {
        let body: String = r.try_get(0).map_err(db_err)?;
        state.load_transfer(transfer_from_body(&body)?);
    }
    for r in holds.iter().chain(&due) {
        state.load_hold(hold_row(r)?.parse()?);
    }
    for r in accounts {
        state.load_account(account_row(&r)?.parse()?);
    }
    for r in refusals {
        let id: String = r.try_get(0).map_err(db_err)?;
        let body: String = r.try_get(1).map_err(db_err)?;
        let id = TransferId::parse(&id)
            .map_err(|_| StoreError::Corrupt(format!("invalid refusal id {id}")))?;
        state.load_refusal(id, refusal_from_body(&body)?);
    }
    // Posts and voids name only the hold; lock its accounts too (a second round trip, only
    // when needed).
    let missing = strs(state.missing_hold_accounts().iter().map(AccountId::as_str));
    if !missing.is_empty() {
        for r in tx.query(&account_sql, &[&missing]).await.map_err(db_err)? {
            state.load_account(account_row(&r)?.parse()?);
        }
    }

    let results = writer::execute(&mut state, jobs, now);
    let changes = state.take_changes();
    if changes.entries.is_empty() && changes.refusals.is_empty() {
        // Only replays and refusals: nothing to make durable.
        tx.rollback().await.map_err(db_err)?;
        return Ok((results, 0));
    }

    let chained = chain(&changes.entries, seq, prev);
    let expired = changes.expired();
    if let Some(last) = chained.last() {
        (seq, prev) = (last.seq, last.hash);
    }
    let seqs: Vec<i64> = chained.iter().map(|c| c.seq).collect();
    let ats: Vec<i64> = chained.iter().map(|c| c.entry.at.0).collect();
    let kinds = strs(chained.iter().map(|c| c.entry.kind()));
    let tids: Vec<Option<String>> = chained
        .iter()
        .map(|c| c.entry.transfer_id().map(|t| t.as_str().to_string()))
        .collect();
    let hashes: Vec<Vec<u8>> = chained.iter().map(|c| c.hash.to_vec()).collect();
    let bodies: Vec<String> = chained.into_iter().map(|c| c.body).collect();
    let n = seqs.len();
    let a = &changes.accounts;
    let acc_ids = strs(a.iter().map(|x| x.id.as_str()));
    let acc_cur = strs(a.iter().map(|x| x.currency.code()));
    let acc_flags: Vec<i64> = a.iter().map(|x| x.flags.bits()).collect();
    let bal = |i: usize| -> Vec<i64> { a.iter().map(|x| account_balances(x)[i]).collect() };
    let (dp, dpo, cp, cpo) = (bal(0), bal(1), bal(2), bal(3));
    let acc_created: Vec<i64> = a.iter().map(|x| x.created_at.0).collect();
    let h = &changes.holds;
    let hold_ids = strs(h.iter().map(|x| x.id.as_str()));
    let debit = strs(h.iter().map(|x| x.debit_account_id.as_str()));
    let credit = strs(h.iter().map(|x| x.credit_account_id.as_str()));
    let hold_cur = strs(h.iter().map(|x| x.currency.code()));
    let amount: Vec<i64> = h.iter().map(|x| x.amount).collect();
    let posted: Vec<i64> = h.iter().map(|x| x.posted_amount).collect();
    let st = strs(h.iter().map(|x| x.state.as_str()));
    let hold_created: Vec<i64> = h.iter().map(|x| x.created_at.0).collect();
    let expires: Vec<Option<i64>> = h.iter().map(|x| x.expires_at.map(|t| t.0)).collect();
    let resolved: Vec<Option<i64>> = h.iter().map(|x| x.resolved_at.map(|t| t.0)).collect();
    let at = changes.entries.last().map_or(last_at, |e| e.at.0);
    let account_upsert = format!(
        "INSERT INTO accounts ({ACCOUNT_COLUMNS})
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
         ON CONFLICT (id) DO UPDATE SET debits_pending = excluded.debits_pending,
           debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending,
           credits_posted = excluded.credits_posted"
    );
    let hold_upsert = format!(
        "INSERT INTO holds ({HOLD_COLUMNS})
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])
         ON CONFLICT (id) DO UPDATE SET posted_amount = excluded.posted_amount,
           state = excluded.state, resolved_at = excluded.resolved_at"
    );
    let prev_slice = prev.as_slice();
    let refusal_ids = strs(changes.refusals.iter().map(|(id, _)| id.as_str()));
    let refusal_bodies: Vec<String> = changes
        .refusals
        .iter()
        .map(|(_, r)| refusal_body(r))
        .collect();
    // All writes in one pipelined round trip; any failure rolls the whole transaction back.
    tokio::try_join!(
        async {
            if n == 0 {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO journal (seq, at, kind, transfer_id, body, hash)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[])",
                &[&seqs, &ats, &kinds, &tids, &bodies, &hashes],
            )
            .await
        },
        async {
            if a.is_empty() {
                return Ok(0);
            }
            tx.execute(&account_upsert, &[&acc_ids, &acc_cur, &acc_flags, &dp, &dpo, &cp, &cpo, &acc_created])
                .await
        },
        async {
            if h.is_empty() {
                return Ok(0);
            }
            tx.execute(
                &hold_upsert,
                &[&hold_ids, &debit, &credit, &hold_cur, &amount, &posted, &st, &hold_created, &expires, &resolved],
            )
            .await
        },
        async {
            if refusal_ids.is_empty() {
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO refusals (id, body) SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT (id) DO NOTHING",
                &[&refusal_ids, &refusal_bodies],
            )
            .await
        },
        async {
            tx.execute(
                "UPDATE ledger_head SET seq = $1, hash = $2, at = $3 WHERE id = 1",
                &[&seq, &prev_slice, &at],
            )
            .await
        },
    )
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok((results, expired))
}

/// A shared read connection (queries are pipelined), reconnected when it drops.
pub(crate) struct Reader {
    url: String,
    client: Mutex<Arc<Client>>,
}

impl Reader {
    pub(crate) async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.is_closed() {
            *guard = Arc::new(connect(&self.url).await?);
        }
        Ok(guard.clone())
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let c = self.client().await?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        match c.query_opt(&sql, &[&id.as_str()]).await.map_err(db_err)? {
            Some(r) => Ok(Some(account_row(&r)?.parse()?)),
            None => Ok(None),
        }
    }

    pub async fn hold(&self, id: &TransferId) -> Result<Option<Hold>, StoreError> {
        let c = self.client().await?;
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1");
        match c.query_opt(&sql, &[&id.as_str()]).await.map_err(db_err)? {
            Some(r) => Ok(Some(hold_row(&r)?.parse()?)),
            None => Ok(None),
        }
    }

    pub async fn transfer(&self, id: &TransferId) -> Result<Option<Transfer>, StoreError> {
        let c = self.client().await?;
        match c
            .query_opt(
                "SELECT body FROM journal WHERE transfer_id = $1",
                &[&id.as_str()],
            )
            .await
            .map_err(db_err)?
        {
            Some(r) => Ok(Some(transfer_from_body(r.try_get(0).map_err(db_err)?)?)),
            None => Ok(None),
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.query_one("SELECT seq FROM ledger_head WHERE id = 1", &[])
            .await
            .map(|_| ())
            .map_err(db_err)
    }
}

pub(crate) async fn verify(url: &str) -> Result<VerifyResult, StoreError> {
    let mut client = connect(url).await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db_err)?;
    let head = tx
        .query_opt("SELECT seq, hash, at FROM ledger_head WHERE id = 1", &[])
        .await
        .map_err(|e| {
            StoreError::Config(format!(
                "{} holds no Purser ledger: {e}",
                crate::redact_url(url)
            ))
        })?
        .ok_or_else(|| StoreError::Corrupt("the ledger head row is missing".into()))?;
    let (head_seq, head_hash, head_at) = head_of(&head)?;
    let mut v = Verifier::default();
    // Every row, whatever its seq: an inserted row (even below 1 or past the head) breaks the
    // sequence.
    let mut after = i64::MIN;
    loop {
        let rows = tx
            .query(
                "SELECT seq, at, kind, transfer_id, body, hash FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &VERIFY_PAGE],
            )
            .await
            .map_err(db_err)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let stored = StoredEntry {
                seq: r.try_get(0).map_err(db_err)?,
                at: r.try_get(1).map_err(db_err)?,
                kind: r.try_get(2).map_err(db_err)?,
                transfer_id: r.try_get(3).map_err(db_err)?,
                body: r.try_get(4).map_err(db_err)?,
                hash: r.try_get(5).map_err(db_err)?,
            };
            after = stored.seq;
            if let Err(b) = v.entry(stored) {
                return Ok(Err(b));
            }
        }
    }
    let mut accounts = Vec::new();
    for r in tx
        .query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"), &[])
        .await
        .map_err(db_err)?
    {
        accounts.push(account_row(&r)?.parse()?);
    }
    let mut holds = Vec::new();
    for r in tx
        .query(&format!("SELECT {HOLD_COLUMNS} FROM holds"), &[])
        .await
        .map_err(db_err)?
    {
        holds.push(hold_row(&r)?.parse()?);
    }
    let head = StoredHead {
        seq: head_seq,
        hash: head_hash.to_vec(),
        at: head_at,
    };
    Ok(v.finish(&head, accounts, holds))
}
