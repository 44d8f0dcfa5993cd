//! `purser bench`: measures, prints figures and ratios, asserts nothing.

pub mod all;
pub mod authorize;
pub mod ledger;
pub mod mandates;
mod scratch_db;
pub mod signatures;
pub mod soak;

/// Percentile of sorted latencies (microseconds).
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A short random hex string for run-unique ids.
pub fn run_id() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::getrandom(&mut b);
    hex::encode(b)
}
