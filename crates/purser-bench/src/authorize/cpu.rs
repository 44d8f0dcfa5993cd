//! Where the CPU went: per-thread user + system time from `/proc/self/task/*/stat`, grouped by
//! thread name (tokio workers, the SQLite ledger writer, the records writer, the bench's load
//! generator…). A profiler without a profiler: coarse (clock ticks), but it says which part
//! of the process is busy. Linux only; elsewhere the breakdown is empty.

use std::collections::BTreeMap;

use serde::Serialize;

/// CPU seconds per thread id, with the thread's name, and the whole machine's busy CPU
/// seconds (every process) when known.
#[derive(Default)]
pub struct Snapshot(BTreeMap<u32, (String, f64)>, Option<f64>);

/// Clock ticks per second of `/proc` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

pub fn snapshot() -> Snapshot {
    let mut out = BTreeMap::new();
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| machine_busy(&s));
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Snapshot(out, machine);
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(parsed) = parse_stat(&stat) {
            out.insert(tid, parsed);
        }
    }
    Snapshot(out, machine)
}

/// Busy CPU seconds of the whole machine since boot, from `/proc/stat`'s first line
/// (`cpu user nice system idle iowait irq softirq steal …`): everything but idle and iowait.
fn machine_busy(stat: &str) -> Option<f64> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    Some((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICKS_PER_SECOND)
}

/// Cores other processes kept busy between the snapshots (the machine's busy time minus
/// this process's), on average: the bench shares the machine with them.
pub fn others(before: &Snapshot, after: &Snapshot, wall_seconds: f64) -> Option<f64> {
    let machine = after.1? - before.1?;
    let ours: f64 = between(before, after, wall_seconds)
        .iter()
        .map(|s| s.cpu_seconds)
        .sum();
    (wall_seconds > 0.0).then(|| ((machine - ours) / wall_seconds).max(0.0))
}

/// `(name, cpu seconds)` from a `stat` line: `tid (name) state … utime stime …`, where the
/// name may itself hold spaces and parentheses (so split at the last `)`).
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // Fields after the name start at field 3 (state); utime is field 14, stime 15.
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / TICKS_PER_SECOND))
}

/// CPU used by one group of threads over a measured interval.
#[derive(Debug, Serialize)]
pub struct Share {
    /// The thread name (`tokio-runtime-w` are the server's runtime threads).
    pub threads: String,
    pub cpu_seconds: f64,
    /// Cores kept busy on average: `cpu_seconds / wall seconds`.
    pub cores: f64,
}

/// CPU per thread name between `before` and `after`, busiest first.
pub fn between(before: &Snapshot, after: &Snapshot, wall_seconds: f64) -> Vec<Share> {
    let mut by_name: BTreeMap<String, f64> = BTreeMap::new();
    for (tid, (name, secs)) in &after.0 {
        let start = before.0.get(tid).map_or(0.0, |(_, s)| *s);
        *by_name.entry(name.clone()).or_default() += (secs - start).max(0.0);
    }
    let mut out: Vec<Share> = by_name
        .into_iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(threads, cpu_seconds)| Share {
            threads,
            cpu_seconds,
            cores: if wall_seconds > 0.0 {
                cpu_seconds / wall_seconds
            } else {
                0.0
            },
        })
        .collect();
    out.sort_by(|a, b| b.cpu_seconds.total_cmp(&a.cpu_seconds));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_with_spaces_and_parentheses() {
        let line = "4242 (odd (name) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        let (name, secs) = parse_stat(line).unwrap();
        assert_eq!(name, "odd (name) x");
        assert!((secs - 3.0).abs() < 1e-9);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn groups_by_name_and_sorts_busiest_first() {
        let before = Snapshot(
            BTreeMap::from([(1, ("a".into(), 1.0)), (2, ("b".into(), 0.0))]),
            Some(10.0),
        );
        let after = Snapshot(
            BTreeMap::from([
                (1, ("a".into(), 1.5)),
                (2, ("b".into(), 2.0)),
                (3, ("a".into(), 0.5)),
            ]),
            Some(14.0),
        );
        let s = between(&before, &after, 2.0);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].threads.as_str(), s[0].cpu_seconds), ("b", 2.0));
        assert_eq!((s[1].threads.as_str(), s[1].cpu_seconds), ("a", 1.0));
        assert!((s[0].cores - 1.0).abs() < 1e-9);
        // The machine was busy 4 s, this process 3 s of them: others kept 0.5 core busy.
        assert!((others(&before, &after, 2.0).unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn reads_the_machine_busy_time() {
        let stat = "cpu  100 5 50 1000 30 2 3 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert!((machine_busy(stat).unwrap() - 1.6).abs() < 1e-9);
        assert!(machine_busy("intr 1 2 3").is_none());
    }
}
