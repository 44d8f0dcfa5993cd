//! `purser bench soak`: sustained load for many minutes, to show that nothing creeps — memory,
//! file descriptors, threads and latency stay flat while the data keeps growing.
//!
//! It is the authorization bench (`authorize.rs`: a real server in-process on loopback, signed
//! agents, durable storage) driven open loop at a steady rate in one-minute windows back to
//! back. Near the end of each window, under load, it samples this process (server and load
//! generator share it) from `/proc/self`: resident memory split into anonymous (heap: what a
//! leak grows) and file-backed (the SQLite database read through its memory map, which grows
//! with the data and is the kernel's to drop), open file descriptors and threads. At the end
//! the books are checked as after every authorization bench.
//!
//! Flat means, between the first window (after the warm-up) and the last: anonymous memory grew
//! by at most [`FLAT_ANON_GROWTH`] (plus [`FLAT_ANON_SLACK_KIB`] for allocator noise), file
//! descriptors and threads by at most [`FLAT_FDS_SLACK`], and the last window's p99 is at most
//! [`FLAT_P99_FACTOR`] times the first's (or within [`FLAT_P99_SLACK_MS`]). Linux only: elsewhere
//! the samples are empty and only latency is judged.

use serde::Serialize;

use crate::authorize::{self, Loops, Phase};

/// Anonymous memory may grow by this fraction of the first window's…
pub const FLAT_ANON_GROWTH: f64 = 0.10;
/// …plus this much (allocator arenas, caches reaching their caps).
pub const FLAT_ANON_SLACK_KIB: u64 = 32 * 1024;
/// File descriptors and threads may differ by this many (a keep-alive connection reopened).
pub const FLAT_FDS_SLACK: u64 = 8;
/// The last window's p99 may be this many times the first's…
pub const FLAT_P99_FACTOR: f64 = 2.0;
/// …or this much higher, whichever allows more (small latencies jitter by whole milliseconds).
pub const FLAT_P99_SLACK_MS: f64 = 10.0;

/// Seconds per window: one minute, the unit the table is read in.
pub const WINDOW_SECONDS: f64 = 60.0;

/// The process after one window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    pub rss_kib: u64,
    /// Heap and other private memory: what a leak grows.
    pub rss_anon_kib: u64,
    /// File-backed pages (the database's memory map, the binary): grows with the data.
    pub rss_file_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

/// This process, now, from `/proc/self` (zeros where it cannot be read).
pub fn sample() -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    Sample {
        rss_kib: field("VmRSS:"),
        rss_anon_kib: field("RssAnon:"),
        rss_file_kib: field("RssFile:"),
        fds,
        threads: field("Threads:"),
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    /// `None`: SQLite in a temporary directory.
    pub database_url: Option<String>,
    pub minutes: usize,
    /// Authorizations offered per second, steadily.
    pub rate: f64,
    pub agents: usize,
    pub connections: usize,
}

/// What stayed flat, and what did not.
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub anon_growth_kib: i64,
    pub anon_flat: bool,
    pub fds_change: i64,
    pub threads_change: i64,
    pub fds_flat: bool,
    pub p99_first_ms: f64,
    pub p99_last_ms: f64,
    pub latency_flat: bool,
    /// Every window served what was offered (an overloaded soak measures a queue).
    pub kept_up: bool,
    pub flat: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub minutes: usize,
    pub rate: f64,
    pub authorize: authorize::Report,
    pub verdict: Verdict,
}

impl Report {
    /// Flat, every answer approved, and the books balance.
    pub fn clean(&self) -> bool {
        self.verdict.flat && self.authorize.clean()
    }
}

pub async fn run(opts: Options) -> Result<Report, String> {
    if sample().rss_kib == 0 {
        return Err(
            "the soak reads memory, descriptors and threads from /proc/self (Linux); it cannot \
             judge them here"
                .into(),
        );
    }
    let report = authorize::run(authorize::Options {
        database_url: opts.database_url,
        agents: opts.agents,
        connections: opts.connections,
        seconds: WINDOW_SECONDS,
        warmup_seconds: 5.0,
        rate: opts.rate,
        loops: Loops::Soak(opts.minutes),
    })
    .await?;
    let verdict = judge(&report.phases, opts.rate);
    Ok(Report {
        minutes: opts.minutes,
        rate: opts.rate,
        authorize: report,
        verdict,
    })
}

fn signed(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

fn judge(windows: &[Phase], rate: f64) -> Verdict {
    let first = windows.first();
    let last = windows.last();
    let sample = |p: Option<&Phase>| p.and_then(|p| p.process.clone()).unwrap_or_default();
    let (a, b) = (sample(first), sample(last));
    let anon_growth_kib = signed(b.rss_anon_kib, a.rss_anon_kib);
    let allowed = (a.rss_anon_kib as f64 * FLAT_ANON_GROWTH) as u64 + FLAT_ANON_SLACK_KIB;
    let anon_flat = anon_growth_kib <= i64::try_from(allowed).unwrap_or(i64::MAX);
    let fds_change = signed(b.fds, a.fds);
    let threads_change = signed(b.threads, a.threads);
    let slack = i64::try_from(FLAT_FDS_SLACK).unwrap_or(8);
    let fds_flat = fds_change.abs() <= slack && threads_change.abs() <= slack;
    let p99 = |p: Option<&Phase>| p.map_or(0.0, |p| f64::from(p.p99_us) / 1000.0);
    let (p99_first_ms, p99_last_ms) = (p99(first), p99(last));
    let latency_flat =
        p99_last_ms <= (p99_first_ms * FLAT_P99_FACTOR).max(p99_first_ms + FLAT_P99_SLACK_MS);
    let kept_up = windows
        .iter()
        .all(|p| p.unsent == 0 && p.approved as f64 >= 0.98 * rate * WINDOW_SECONDS);
    Verdict {
        anon_growth_kib,
        anon_flat,
        fds_change,
        threads_change,
        fds_flat,
        p99_first_ms,
        p99_last_ms,
        latency_flat,
        kept_up,
        flat: anon_flat && fds_flat && latency_flat && kept_up,
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn ms(us: u32) -> String {
    format!("{:.1}", f64::from(us) / 1000.0)
}

pub fn render(r: &Report) -> String {
    let a = &r.authorize;
    let mut out = format!(
        "Purser soak: {} minute(s) of signed agent authorizations at {}/s offered, open loop, on {}\n\
         ({} agents, {} connections; server and load generator in this process; sampled under load near the end of each minute)\n\n",
        r.minutes,
        authorize::thousands(r.rate),
        a.storage,
        a.agents,
        a.connections
    );
    out.push_str(
        "minute  approved/s   p50 ms   p99 ms  p99.9 ms   RSS MiB  anon MiB  file MiB   fds  threads  not approved  cores busy elsewhere\n",
    );
    for (i, p) in a.phases.iter().enumerate() {
        let s = p.process.clone().unwrap_or_default();
        let other: u64 = p.other.values().sum::<u64>() + p.unsent;
        out.push_str(&format!(
            "{:>6}  {:>10}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}  {:>8}  {:>4}  {:>7}  {:>12}  {:>19}\n",
            i + 1,
            authorize::thousands(p.approved_per_second),
            ms(p.p50_us),
            ms(p.p99_us),
            ms(p.p999_us),
            mib(s.rss_kib),
            mib(s.rss_anon_kib),
            mib(s.rss_file_kib),
            s.fds,
            s.threads,
            other,
            p.other_processes_cores
                .map_or_else(|| "-".to_string(), |c| format!("{c:.2}"))
        ));
    }
    let v = &r.verdict;
    let yes = |b: bool| if b { "flat" } else { "NOT FLAT" };
    out.push_str(&format!(
        "\nFirst minute to last:\n  anonymous memory {:+.1} MiB: {} (allowed: +{:.0}% + {} MiB)\n  \
         file descriptors {:+}, threads {:+}: {} (allowed: ±{})\n  \
         p99 {:.1} ms → {:.1} ms: {} (allowed: {}× or +{} ms)\n  \
         every minute served what was offered: {}\n",
        v.anon_growth_kib as f64 / 1024.0,
        yes(v.anon_flat),
        FLAT_ANON_GROWTH * 100.0,
        FLAT_ANON_SLACK_KIB / 1024,
        v.fds_change,
        v.threads_change,
        yes(v.fds_flat),
        FLAT_FDS_SLACK,
        v.p99_first_ms,
        v.p99_last_ms,
        yes(v.latency_flat),
        FLAT_P99_FACTOR,
        FLAT_P99_SLACK_MS,
        if v.kept_up {
            "yes"
        } else {
            "NO (the rate is above what this machine sustains: lower --rate)"
        }
    ));
    out.push_str(&format!(
        "  file-backed memory is the database read through its memory map: it grows with the data \
         and is not judged\n\nBooks: ledger {}; {}\n{}\n",
        a.books.verified,
        if a.books.balanced {
            "balanced: the money held is exactly the sum of the approvals".to_string()
        } else {
            // Say where the difference is: payments the generator never saw answered (a
            // decision interrupted by a timeout stays `deciding` until the sweeper ends it).
            let by_status: Vec<String> = a
                .books
                .payments
                .iter()
                .map(|(s, (n, _))| format!("{n} {s}"))
                .collect();
            format!(
                "NOT BALANCED: approvals the load generator saw {}, holds pending {}, payments {}",
                a.books.approved_seen,
                a.books.holds_pending,
                by_status.join(", ")
            )
        },
        if r.clean() {
            "Verdict: FLAT — nothing crept."
        } else {
            "Verdict: NOT FLAT or not clean (see above)."
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(p99_ms: u32, anon_mib: u64, fds: u64, approved: u64) -> Phase {
        Phase {
            mode: "open",
            connections: 4,
            offered_per_second: Some(100.0),
            seconds: WINDOW_SECONDS,
            sent: approved,
            approved,
            approved_per_second: approved as f64 / WINDOW_SECONDS,
            other: Default::default(),
            unsent: 0,
            p50_us: 1_000,
            p99_us: p99_ms * 1_000,
            p999_us: p99_ms * 1_000,
            max_us: p99_ms * 1_000,
            of_floor: 0.0,
            client_sign_us: 0.0,
            server: Default::default(),
            cpu: Vec::new(),
            other_processes_cores: None,
            goal: String::new(),
            goal_met: false,
            process: Some(Sample {
                rss_kib: anon_mib * 1024 + 10_000,
                rss_anon_kib: anon_mib * 1024,
                rss_file_kib: 10_000,
                fds,
                threads: 12,
            }),
        }
    }

    #[test]
    fn flat_is_judged_on_heap_descriptors_latency_and_keeping_up() {
        let ok = judge(
            &[window(5, 100, 80, 6_000), window(9, 105, 81, 6_000)],
            100.0,
        );
        assert!(ok.flat, "{ok:?}");
        // Heap grew by 50% + 32 MiB slack exceeded: a leak.
        let leak = judge(
            &[window(5, 100, 80, 6_000), window(5, 200, 80, 6_000)],
            100.0,
        );
        assert!(!leak.anon_flat && !leak.flat, "{leak:?}");
        // Descriptors creeping.
        let fds = judge(
            &[window(5, 100, 80, 6_000), window(5, 100, 200, 6_000)],
            100.0,
        );
        assert!(!fds.fds_flat && !fds.flat, "{fds:?}");
        // p99 from 5 to 40 ms: more than 2× and more than +10 ms.
        let slow = judge(
            &[window(5, 100, 80, 6_000), window(40, 100, 80, 6_000)],
            100.0,
        );
        assert!(!slow.latency_flat && !slow.flat, "{slow:?}");
        // A window that served less than offered is not a soak of the service.
        let behind = judge(
            &[window(5, 100, 80, 6_000), window(5, 100, 80, 3_000)],
            100.0,
        );
        assert!(!behind.kept_up && !behind.flat, "{behind:?}");
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample();
        if cfg!(target_os = "linux") {
            assert!(s.rss_kib > 0 && s.fds > 0 && s.threads > 0, "{s:?}");
            assert!(s.rss_anon_kib + s.rss_file_kib <= s.rss_kib + 1024, "{s:?}");
        }
    }
}
