//! Ledger counters for `/metrics`, updated by the writer with relaxed atomics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use purser_core::ledger::{LinkedOp, Op};

use crate::OpResult;

const OPS: [&str; 5] = ["create_account", "transfer", "hold", "post", "void"];
const RESULTS: [&str; 3] = ["created", "replayed", "refused"];

#[derive(Default)]
pub struct LedgerMetrics {
    ops: [[AtomicU64; 3]; 5],
    commits: AtomicU64,
    committed_ops: AtomicU64,
    commit_micros: AtomicU64,
    expirations: AtomicU64,
    store_failures: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub commits: u64,
    pub committed_ops: u64,
    pub expirations: u64,
    pub store_failures: u64,
}

fn op_index(op: &Op) -> usize {
    match op {
        Op::CreateAccount(_) => 0,
        Op::Transfer(_) => 1,
        Op::Hold { .. } => 2,
        Op::Post { .. } => 3,
        Op::Void { .. } => 4,
    }
}

impl LedgerMetrics {
    pub(crate) fn count_results(&self, ops: &[LinkedOp], results: &[OpResult]) {
        for (op, r) in ops.iter().zip(results) {
            let res = match r {
                Ok(o) if o.replayed() => 1,
                Ok(_) => 0,
                Err(_) => 2,
            };
            self.ops[op_index(&op.op)][res].fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn count_commit(&self, ops: usize, expired: usize, took: Duration) {
        self.commits.fetch_add(1, Relaxed);
        self.committed_ops.fetch_add(ops as u64, Relaxed);
        self.expirations.fetch_add(expired as u64, Relaxed);
        self.commit_micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    pub(crate) fn count_store_failure(&self) {
        self.store_failures.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            commits: self.commits.load(Relaxed),
            committed_ops: self.committed_ops.load(Relaxed),
            expirations: self.expirations.load(Relaxed),
            store_failures: self.store_failures.load(Relaxed),
        }
    }

    /// Prometheus text exposition of every ledger counter.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP purser_ledger_operations_total Ledger operations by kind and result."
        );
        let _ = writeln!(out, "# TYPE purser_ledger_operations_total counter");
        for (i, op) in OPS.iter().enumerate() {
            for (j, res) in RESULTS.iter().enumerate() {
                let v = self.ops[i][j].load(Relaxed);
                let _ = writeln!(
                    out,
                    "purser_ledger_operations_total{{op=\"{op}\",result=\"{res}\"}} {v}"
                );
            }
        }
        let s = self.snapshot();
        let micros = self.commit_micros.load(Relaxed);
        let rows: [(&str, &str, &str, String); 5] = [
            (
                "purser_ledger_commits_total",
                "counter",
                "Batches the ledger writer processed; each is at most one database transaction (one fsync) shared by all its operations.",
                s.commits.to_string(),
            ),
            (
                "purser_ledger_committed_operations_total",
                "counter",
                "Operations carried by those commits.",
                s.committed_ops.to_string(),
            ),
            (
                "purser_ledger_commit_seconds_total",
                "counter",
                "Time spent loading, executing and committing batches.",
                format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
            ),
            (
                "purser_ledger_hold_expirations_total",
                "counter",
                "Holds that expired and released their funds.",
                s.expirations.to_string(),
            ),
            (
                "purser_ledger_storage_failures_total",
                "counter",
                "Submissions refused because storage failed (nothing applied).",
                s.store_failures.to_string(),
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {v}");
        }
    }
}
