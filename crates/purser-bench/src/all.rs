//! `purser bench all`: every measurement of the whole path in one run, each figure beside the
//! floor it is bounded by (measured in the same run) and the goal it is held to.
//!
//! The parts are the harnesses of `purser bench ledger|signatures|mandates|authorize`, run with
//! shorter phases; their full reports are kept in the JSON. The summary says, for each goal
//! missed, by how much — and the rendered table carries the reason measured so far.

use serde::Serialize;

use crate::{authorize, ledger, mandates, signatures};

pub struct Options {
    /// PostgreSQL URL for the storage-bound parts (ledger, signed requests, authorizations);
    /// `None`: SQLite in temporary directories.
    pub database_url: Option<String>,
    /// Seconds for each measured phase (authorizations: each loop).
    pub seconds: f64,
    /// Open-loop offered rate for authorizations.
    pub rate: f64,
}

/// One line of the summary table.
#[derive(Debug, Serialize)]
pub struct Line {
    pub what: &'static str,
    /// The figure, for people.
    pub figure: String,
    /// The floor or ceiling it is bounded by, for people (empty for a floor itself).
    pub floor: String,
    /// figure / floor, when they are the same kind of quantity.
    pub ratio: Option<f64>,
    pub goal: String,
    /// `None` for floors (no goal).
    pub met: Option<bool>,
    /// By how much a missed goal is missed, for people (empty when met or no goal).
    pub short_by: String,
}

#[derive(Serialize)]
pub struct Report {
    pub storage: String,
    pub lines: Vec<Line>,
    pub ledger: ledger::Report,
    pub signatures: signatures::Report,
    pub mandates: mandates::Report,
    pub authorize: authorize::Report,
}

impl Report {
    /// Every part ran cleanly (the books balance; the ledger verifies).
    pub fn clean(&self) -> bool {
        self.authorize.clean() && self.ledger.verified.starts_with("ok")
    }
}

/// Ledger goal: durable operations per second.
const GOAL_LEDGER_OPS: f64 = 100_000.0;
/// Signed-request goal: share of one core's bare Ed25519 verification rate.
const GOAL_SIGNED_OF_FLOOR: f64 = 0.7;

fn per_s(v: f64) -> String {
    authorize::thousands(v) + "/s"
}

fn ms(us: u32) -> String {
    format!("{:.1} ms", f64::from(us) / 1000.0)
}

pub async fn run(opts: Options) -> Result<Report, String> {
    let phase = opts.seconds.clamp(0.5, 60.0);
    eprintln!("bench: crypto floors and mandate chains …");
    let m =
        tokio::task::spawn_blocking(move || mandates::run(mandates::Options { seconds: phase }))
            .await
            .map_err(|e| e.to_string())??;
    eprintln!("bench: signed requests …");
    let s = signatures::run(signatures::Options {
        database_url: opts.database_url.clone(),
        concurrency: vec![1, 16],
        requests: 10_000,
    })
    .await?;
    eprintln!("bench: ledger …");
    let l = ledger::run(ledger::Options {
        database_url: opts.database_url.clone(),
        data_dir: None,
        concurrency: vec![1, 256],
        phase_seconds: phase,
        max_ops: 1_000_000,
        random_ids: false,
    })
    .await?;
    eprintln!("bench: authorizations over HTTP …");
    let a = authorize::run(authorize::Options {
        database_url: opts.database_url.clone(),
        agents: 32,
        connections: 64,
        seconds: phase,
        warmup_seconds: 1.0,
        rate: opts.rate,
        loops: authorize::Loops::Both,
    })
    .await?;
    let lines = summarize(&m, &s, &l, &a);
    Ok(Report {
        storage: a.storage.clone(),
        lines,
        ledger: l,
        signatures: s,
        mandates: m,
        authorize: a,
    })
}

fn summarize(
    m: &mandates::Report,
    s: &signatures::Report,
    l: &ledger::Report,
    a: &authorize::Report,
) -> Vec<Line> {
    let mut lines = vec![
        Line {
            what: "Ed25519 verify (floor, 1 core)",
            figure: per_s(m.ed25519_verify_floor.per_second),
            floor: String::new(),
            ratio: None,
            goal: String::new(),
            met: None,
            short_by: String::new(),
        },
        Line {
            what: "ES256 verify (floor, 1 core)",
            figure: per_s(m.es256_verify_floor.per_second),
            floor: String::new(),
            ratio: None,
            goal: String::new(),
            met: None,
            short_by: String::new(),
        },
        Line {
            what: "ES256 sign (floor, 1 core)",
            figure: per_s(1e6 / a.floor.es256_sign_us.max(f64::MIN_POSITIVE)),
            floor: String::new(),
            ratio: None,
            goal: String::new(),
            met: None,
            short_by: String::new(),
        },
    ];
    if let Some(best) = s
        .rows
        .iter()
        .max_by(|x, y| x.ratio_to_floor.total_cmp(&y.ratio_to_floor))
    {
        lines.push(Line {
            what: "signed agent requests (parse, key, verify, nonce)",
            figure: format!("{} at {} callers", per_s(best.per_second), best.concurrency),
            floor: format!(
                "{} Ed25519 verify, 1 core",
                per_s(s.verify_floor_per_second)
            ),
            ratio: Some(best.ratio_to_floor),
            goal: format!("≥ {:.0}% of the floor", GOAL_SIGNED_OF_FLOOR * 100.0),
            met: Some(best.ratio_to_floor >= GOAL_SIGNED_OF_FLOOR),
            short_by: format!(
                "{:.0}% of the floor reached, {:.0}% wanted",
                best.ratio_to_floor * 100.0,
                GOAL_SIGNED_OF_FLOOR * 100.0
            ),
        });
    }
    if let Some(c) = m.chains.first() {
        lines.push(Line {
            what: "AP2 mandate chain verify (2 hops, 1 core)",
            figure: per_s(c.rate.per_second),
            floor: format!("{} (its two signatures)", per_s(c.ceiling_per_second)),
            ratio: Some(c.of_ceiling),
            goal: format!(
                "≥ {} and ≥ {:.0}% of ceiling",
                per_s(m.goal_chains_per_second),
                m.goal_of_ceiling * 100.0
            ),
            met: Some(
                c.rate.per_second >= m.goal_chains_per_second && c.of_ceiling >= m.goal_of_ceiling,
            ),
            short_by: match (
                c.rate.per_second >= m.goal_chains_per_second,
                c.of_ceiling >= m.goal_of_ceiling,
            ) {
                (true, false) => format!(
                    "the rate is met; {:.0}% of the ceiling reached, {:.0}% wanted",
                    c.of_ceiling * 100.0,
                    m.goal_of_ceiling * 100.0
                ),
                _ => format!(
                    "{:.0}% of the rate wanted, {:.0}% of the ceiling",
                    c.rate.per_second / m.goal_chains_per_second.max(f64::MIN_POSITIVE) * 100.0,
                    c.of_ceiling * 100.0
                ),
            },
        });
    }
    if let Some(best) = l
        .rows
        .iter()
        .max_by(|x, y| x.ops_per_sec.total_cmp(&y.ops_per_sec))
    {
        let floor = l
            .commit_floor_per_sec
            .map(|c| format!("{} single commits", per_s(c)))
            .unwrap_or_default();
        lines.push(Line {
            what: "ledger operations, durable",
            figure: format!(
                "{} ({} at {})",
                per_s(best.ops_per_sec),
                best.op,
                best.concurrency
            ),
            ratio: l
                .commit_floor_per_sec
                .map(|c| best.ops_per_sec / c.max(f64::MIN_POSITIVE)),
            floor,
            goal: format!("≥ {}", per_s(GOAL_LEDGER_OPS)),
            met: Some(best.ops_per_sec >= GOAL_LEDGER_OPS),
            short_by: of_goal(best.ops_per_sec, GOAL_LEDGER_OPS),
        });
    }
    for p in &a.phases {
        let (what, goal, met, short_by) = match p.mode {
            "closed" => (
                "authorizations over HTTP, closed loop",
                format!("≥ {} approved", per_s(a.goal_approved_per_second)),
                p.approved_per_second >= a.goal_approved_per_second,
                of_goal(p.approved_per_second, a.goal_approved_per_second),
            ),
            _ => (
                "authorizations over HTTP, open loop",
                format!(
                    "p99 ≤ {} ms at {} offered",
                    a.goal_p99_ms,
                    per_s(a.goal_offered_per_second)
                ),
                p.goal_met,
                format!(
                    "p99 {} against {} ms wanted{}",
                    ms(p.p99_us),
                    a.goal_p99_ms,
                    match p.offered_per_second {
                        Some(o) if p.approved_per_second < o * 0.98 => format!(
                            "; only {} of the {} offered was served (overloaded: the latency is the queue's)",
                            per_s(p.approved_per_second),
                            per_s(o)
                        ),
                        _ => String::new(),
                    }
                ),
            ),
        };
        let offered = p
            .offered_per_second
            .map(|o| format!(" of {} offered", per_s(o)))
            .unwrap_or_default();
        lines.push(Line {
            what,
            figure: format!(
                "{} approved{offered}; p50 {} p99 {} p99.9 {}",
                per_s(p.approved_per_second),
                ms(p.p50_us),
                ms(p.p99_us),
                ms(p.p999_us)
            ),
            floor: format!(
                "{} (Ed25519 verify + ES256 sign, {} cores)",
                per_s(a.floor.per_second),
                a.floor.cores
            ),
            ratio: Some(p.of_floor),
            goal,
            met: Some(met),
            short_by,
        });
    }
    lines
}

pub fn render(r: &Report) -> String {
    let mut out = format!("Purser bench — the whole path ({})\n\n", r.storage);
    for l in &r.lines {
        let verdict = match l.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "floor",
        };
        out.push_str(&format!("{:<52} {}\n", l.what, l.figure));
        if !l.floor.is_empty() {
            let ratio = l
                .ratio
                .map(|x| format!("  ratio {x:.2}"))
                .unwrap_or_default();
            out.push_str(&format!("{:<52} vs {}{ratio}\n", "", l.floor));
        }
        if !l.goal.is_empty() {
            let by = if l.met == Some(false) && !l.short_by.is_empty() {
                format!(" ({})", l.short_by)
            } else {
                String::new()
            };
            out.push_str(&format!("{:<52} goal {}: {verdict}{by}\n", "", l.goal));
        }
    }
    let missed: Vec<&Line> = r.lines.iter().filter(|l| l.met == Some(false)).collect();
    if !missed.is_empty() {
        out.push_str("\nWhere a goal is missed, why (see BENCHMARKS.md for the measurements):\n");
        for l in missed {
            let postgres = r.storage.starts_with("PostgreSQL");
            out.push_str(&format!("  - {}: {}\n", l.what, why(l.what, postgres)));
        }
    }
    out.push_str(&format!(
        "\nBooks after the authorizations: {}; ledger after its bench: {}.\n",
        r.authorize.books.verified, r.ledger.verified
    ));
    out
}

/// "88% of the goal (1.1× short)".
fn of_goal(reached: f64, goal: f64) -> String {
    let goal = goal.max(f64::MIN_POSITIVE);
    format!(
        "{:.0}% of the goal, {:.1}× short",
        reached / goal * 100.0,
        goal / reached.max(f64::MIN_POSITIVE)
    )
}

/// The reason a goal is missed, as measured so far (BENCHMARKS.md has the figures).
fn why(what: &str, postgres: bool) -> &'static str {
    if what.starts_with("authorizations") && postgres {
        "each payment makes about 8 sequential durable writes (deciding row, mandate charge, \
         ledger hold, decision record, event, outbox) and about 12 reads, each a network round \
         trip to PostgreSQL and most a commit of its own; throughput is bounded by those round \
         trips and commits, not by crypto"
    } else if what.starts_with("authorizations") {
        "each payment makes about 8 sequential durable writes (deciding row, mandate charge, \
         ledger hold, decision record, event, outbox) and about 12 reads; a single SQLite writer \
         commits them in turn, so throughput is bounded by writer round trips, not by crypto"
    } else if what.starts_with("ledger") {
        "every operation is durable before it is acknowledged: throughput is group commits per \
         second × operations per commit, bounded by the disk's fsync rate"
    } else if what.starts_with("signed") && postgres {
        "each request also reads the agent key and inserts its nonce durably (replay \
         protection): a PostgreSQL round trip and a commit per batch of nonces"
    } else if what.starts_with("signed") {
        "each request also reads the agent key and inserts its nonce durably (replay protection)"
    } else if what.starts_with("AP2") {
        "the two ES256 verifications are about three quarters of a chain's time; the rest is \
         SD-JWT parsing, disclosure hashing, base64 and JSON of both hops, and the constraint \
         check (the ≥ 7,000/s per core part of the goal is met)"
    } else {
        "see BENCHMARKS.md"
    }
}
