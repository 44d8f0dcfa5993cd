//! The single writer and its group commit, shared by both backends.
//!
//! Callers put a job on a bounded queue and wait for its reply. The writer takes the first
//! job, then everything else already queued (up to [`MAX_BATCH_OPS`]), runs them through the
//! core in one database transaction, commits (one fsync for the lot), and only then replies.
//! If the transaction fails, each job is retried alone, so one bad job cannot sink others.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use purser_core::ledger::{LedgerState, LinkedOp};
use purser_core::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::{LedgerMetrics, OpResult, StoreError};

/// Jobs that may wait for the writer. Beyond this, callers wait to enqueue (backpressure)
/// instead of the queue growing without bound. At ~100k ops/s this is a fraction of a second.
pub const QUEUE_CAPACITY: usize = 16_384;

/// Most operations committed in one transaction. Large enough to amortise an fsync over
/// thousands of callers; small enough that a batch commits in a few milliseconds.
pub const MAX_BATCH_OPS: usize = 8_192;

/// Most operations in one submission (one HTTP request): keeps one caller's linked group from
/// monopolising a batch.
pub const MAX_SUBMISSION_OPS: usize = 1_000;

/// Most due holds expired per batch, so a backlog of expiries never stalls client work.
pub const EXPIRY_SWEEP_LIMIT: usize = 1_024;

/// How often an idle writer looks for holds that have come due.
pub const TICK_INTERVAL: Duration = Duration::from_millis(250);

pub(crate) struct Pending {
    pub ops: Vec<LinkedOp>,
    reply: oneshot::Sender<Result<Vec<OpResult>, StoreError>>,
}

pub(crate) enum Job {
    Submit(Pending),
    /// Look for due holds.
    Tick,
    /// Commit what is queued, then stop.
    Shutdown,
}

pub(crate) enum Joiner {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Job>,
    joiner: Mutex<Option<Joiner>>,
}

impl WriterHandle {
    pub fn new(tx: mpsc::Sender<Job>, joiner: Joiner) -> WriterHandle {
        spawn_ticker(tx.downgrade());
        WriterHandle {
            tx,
            joiner: Mutex::new(Some(joiner)),
        }
    }

    pub async fn submit(&self, ops: Vec<LinkedOp>) -> Result<Vec<OpResult>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if ops.len() > MAX_SUBMISSION_OPS {
            return Err(StoreError::TooLarge { ops: ops.len() });
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Submit(Pending { ops, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Jobs waiting for the writer right now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub async fn shutdown(&self) {
        let _ = self.tx.send(Job::Shutdown).await;
        let joiner = self.joiner.lock().ok().and_then(|mut j| j.take());
        match joiner {
            Some(Joiner::Thread(t)) => {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            Some(Joiner::Task(t)) => {
                let _ = t.await;
            }
            None => {}
        }
    }
}

fn spawn_ticker(tx: mpsc::WeakSender<Job>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            let Some(tx) = tx.upgrade() else { return };
            // A full queue means the writer is busy and sweeps anyway.
            let _ = tx.try_send(Job::Tick);
        }
    });
}

/// A batch gathered from the queue.
#[derive(Default)]
pub(crate) struct Batch {
    pub jobs: Vec<Pending>,
    pub ops: usize,
}

impl Batch {
    fn take(&mut self, job: Job, rx: &mut mpsc::Receiver<Job>) {
        match job {
            Job::Submit(p) => {
                self.ops += p.ops.len();
                self.jobs.push(p);
            }
            // An empty batch still sweeps due holds.
            Job::Tick => {}
            Job::Shutdown => {
                // No new jobs; those already queued are still received and committed.
                rx.close();
            }
        }
    }

    /// Start from `first` and add whatever else is already queued.
    pub fn gather(first: Job, rx: &mut mpsc::Receiver<Job>) -> Batch {
        let mut b = Batch::default();
        b.take(first, rx);
        while b.ops < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok(job) => b.take(job, rx),
                Err(_) => break,
            }
        }
        b
    }
}

/// How far behind the ledger's last entry the clock may fall before the writer warns. Small
/// steps back (NTP slews) are normal; the ledger's time never moves backwards regardless.
pub const CLOCK_BEHIND_WARNING_MS: i64 = 1_000;

/// The time a batch runs at: the wall clock, but never before the ledger's last entry (its
/// time only moves forward, so expiry and ordering stay consistent across clock jumps and
/// across processes whose clocks disagree). Warns, at most once a minute, when the clock is
/// far behind.
pub(crate) fn effective_now(now: Timestamp, last_at: i64) -> Timestamp {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST_WARNED: AtomicI64 = AtomicI64::new(i64::MIN);
    let behind = last_at.saturating_sub(now.0);
    if behind > CLOCK_BEHIND_WARNING_MS {
        let last = LAST_WARNED.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) > 60_000 || now.0 < last {
            LAST_WARNED.store(now.0, Ordering::Relaxed);
            tracing::warn!(behind_ms = behind, "the system clock is behind the ledger's last entry; using the ledger's time (check NTP on every node)");
        }
    }
    Timestamp(now.0.max(last_at))
}

/// Run a loaded batch through the core: expire what is due, then each job in order.
pub(crate) fn execute(
    state: &mut LedgerState,
    jobs: &[Pending],
    now: Timestamp,
) -> Vec<Vec<OpResult>> {
    state.expire_due(now);
    jobs.iter().map(|j| state.execute(&j.ops, now)).collect()
}

/// What a commit returns: one result list per job, and how many holds it expired.
pub(crate) type Committed = Result<(Vec<Vec<OpResult>>, usize), StoreError>;

/// Answer the callers of a commit. On success everyone gets their results. On failure a lone
/// job gets the error; a group's jobs are handed back, to be retried one at a time so one bad
/// job cannot sink the others.
#[must_use]
pub(crate) fn settle(
    jobs: Vec<Pending>,
    timer: CommitTimer,
    committed: Committed,
    metrics: &LedgerMetrics,
) -> Vec<Pending> {
    let ops = jobs.iter().map(|j| j.ops.len()).sum();
    match committed {
        Ok((results, expired)) => {
            timer.done(metrics, ops, expired);
            for (job, res) in jobs.into_iter().zip(results) {
                metrics.count_results(&job.ops, &res);
                let _ = job.reply.send(Ok(res));
            }
            Vec::new()
        }
        Err(e) if jobs.len() <= 1 => {
            tracing::error!(error = %e, "ledger commit failed");
            for job in jobs {
                metrics.count_store_failure();
                let _ = job.reply.send(Err(e.clone()));
            }
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; retrying each job alone");
            jobs
        }
    }
}

pub(crate) fn fail(job: Pending, err: StoreError, metrics: &LedgerMetrics) {
    metrics.count_store_failure();
    let _ = job.reply.send(Err(err));
}

/// Times a commit for the metrics.
pub(crate) struct CommitTimer(Instant);

impl CommitTimer {
    pub fn start() -> CommitTimer {
        CommitTimer(Instant::now())
    }

    pub fn done(self, metrics: &LedgerMetrics, ops: usize, expired: usize) {
        metrics.count_commit(ops, expired, self.0.elapsed());
    }
}
