//! The load generator: agents paying over persistent HTTP/1.1 connections, each request
//! signed at send time with a fresh nonce and its own Idempotency-Key, like a real agent.
//!
//! - **Closed loop**: every connection sends its next request as soon as the last answer is
//!   in; the rate is whatever the server sustains. Latency is from send to answer.
//! - **Open loop**: requests are due on a fixed timetable (`rate` per second) whatever the
//!   server does; a connection takes the next due slot, waits for its time, sends. Latency is
//!   from the slot's *scheduled* time, so a server that falls behind shows it in its
//!   latencies instead of slowing the generator down (no coordinated omission).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use purser_core::httpsig::{sign_request, RequestParts, SignParams};
use serde::Deserialize;

use super::http1::{self, Conn};
use super::setup::{BenchAgent, MERCHANT_NAME, MERCHANT_WEBSITE};

/// Bench amounts: ¥1.00 to ¥99.99, spread over the range.
pub const MIN_AMOUNT: i64 = 100;
pub const MAX_AMOUNT: i64 = 9_999;

/// Requests in one task (the person's timeline groups a task's steps).
const PAYMENTS_PER_TASK: u64 = 8;

/// What the generator needs to know about the server and the agents.
pub struct Target {
    pub addr: SocketAddr,
    /// `127.0.0.1:<port>`: what requests are addressed and signed to.
    pub authority: String,
    pub agents: Vec<BenchAgent>,
    pub merchant_id: String,
    /// Makes Idempotency-Keys and titles unique to this run.
    pub run: String,
    /// Next request number, across phases (titles and keys never repeat).
    pub seq: AtomicU64,
}

/// How one phase drives the server.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Closed,
    /// Requests per second offered.
    Open(f64),
}

/// What one connection saw.
#[derive(Default)]
pub struct Tally {
    pub sent: u64,
    pub approved: u64,
    /// Σ amounts of approved payments (minor units, CNY).
    pub approved_minor: i64,
    /// Latency of every answered request, µs.
    pub latencies: Vec<u32>,
    /// Anything but `201 approved`, by what it was.
    pub other: BTreeMap<String, u64>,
    /// Time spent building and signing requests (the agents' side of the work).
    pub signing: Duration,
    /// Due slots never sent because the phase hit its time limit (open loop). Their latency
    /// is counted as at least the time from when they were due to the end of the phase.
    pub unsent: u64,
}

impl Tally {
    pub fn merge(&mut self, o: Tally) {
        self.sent += o.sent;
        self.approved += o.approved;
        self.approved_minor = self.approved_minor.saturating_add(o.approved_minor);
        self.latencies.extend(o.latencies);
        for (k, v) in o.other {
            *self.other.entry(k).or_default() += v;
        }
        self.signing += o.signing;
        self.unsent += o.unsent;
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    decline: Option<Code>,
}

#[derive(Deserialize)]
struct Code {
    #[serde(default)]
    code: String,
}

/// A fresh random nonce for one signature.
pub fn fresh_nonce() -> Result<String, String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| format!("no randomness for a nonce: {e}"))?;
    Ok(hex::encode(b))
}

fn amount_of(seq: u64) -> i64 {
    let span = u64::try_from(MAX_AMOUNT - MIN_AMOUNT + 1).unwrap_or(1);
    MIN_AMOUNT + i64::try_from(seq.wrapping_mul(7_919) % span).unwrap_or(0)
}

/// Request number `seq` by `agent`, signed now: (bytes on the wire, amount).
fn payment_request(t: &Target, agent: &BenchAgent, seq: u64) -> Result<(Vec<u8>, i64), String> {
    let amount = amount_of(seq);
    let body = format!(
        concat!(
            r#"{{"user_id":"{user}","task_id":"bench-{run}-{task}","mandate_id":"{mandate}","#,
            r#""merchant":{{"id":"{merchant}","name":"{mname}","website":"https://{mweb}/"}},"#,
            r#""items":[{{"id":"sku-{sku}","title":"Bench item {run}-{seq}","quantity":1,"#,
            r#""unit_price":{{"amount":{amount},"currency":"CNY"}}}}],"#,
            r#""total":{{"amount":{amount},"currency":"CNY"}},"#,
            // The longest credential: a soak's books are read after its last minute, and a
            // 30-minute default would have released the first minutes' holds by then.
            r#""credential_ttl_seconds":86400}}"#
        ),
        user = agent.user_id,
        run = t.run,
        task = seq / PAYMENTS_PER_TASK,
        mandate = agent.mandate_id,
        merchant = t.merchant_id,
        mname = MERCHANT_NAME,
        mweb = MERCHANT_WEBSITE,
        sku = seq % 1_000,
        seq = seq,
        amount = amount,
    );
    let no_headers: Vec<(String, String)> = Vec::new();
    let parts = RequestParts {
        method: "POST",
        scheme: Some("http"),
        authority: &t.authority,
        path: "/v1/agent/payments",
        query: None,
        headers: &no_headers,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let sig = sign_request(
        &agent.key,
        &parts,
        Some(body.as_bytes()),
        &SignParams::new(now, fresh_nonce()?),
    )
    .map_err(|e| format!("cannot sign a bench request: {e}"))?;
    let key = format!("bench-{}-{seq}", t.run);
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Idempotency-Key", key.as_str()),
        ("Signature-Input", sig.signature_input.as_str()),
        ("Signature", sig.signature.as_str()),
    ];
    if let Some(d) = &sig.content_digest {
        headers.push(("Content-Digest", d.as_str()));
    }
    Ok((
        http1::request(
            "POST",
            "/v1/agent/payments",
            &t.authority,
            &headers,
            body.as_bytes(),
        ),
        amount,
    ))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Send one request on `conn` (connecting first if needed) and count what came back.
async fn one(
    t: &Target,
    conn: &mut Option<Conn>,
    agent: &BenchAgent,
    tally: &mut Tally,
    started: Option<Instant>,
) -> Result<(), String> {
    let seq = t.seq.fetch_add(1, Ordering::Relaxed);
    let signing = Instant::now();
    let (wire, amount) = payment_request(t, agent, seq)?;
    tally.signing += signing.elapsed();
    let started = started.unwrap_or_else(Instant::now);
    if conn.is_none() {
        match Conn::connect(t.addr).await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                *tally
                    .other
                    .entry(format!("cannot connect: {}", e.kind()))
                    .or_default() += 1;
                tally.sent += 1;
                return Ok(());
            }
        }
    }
    let Some(c) = conn.as_mut() else {
        return Ok(());
    };
    tally.sent += 1;
    let answer = c.exchange(&wire).await;
    let took = micros(started.elapsed());
    match answer {
        Ok(r) => {
            tally.latencies.push(took);
            if r.close {
                *conn = None;
            }
            let parsed: Option<Answer> = serde_json::from_slice(&r.body).ok();
            match (r.status, parsed) {
                (201, Some(a)) if a.status == "approved" => {
                    tally.approved += 1;
                    tally.approved_minor = tally.approved_minor.saturating_add(amount);
                }
                (201, Some(a)) => {
                    let code = a.decline.map(|d| d.code).unwrap_or_default();
                    *tally
                        .other
                        .entry(format!("201 {} {code}", a.status).trim_end().to_string())
                        .or_default() += 1;
                }
                (status, _) => {
                    let code = serde_json::from_slice::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
                        .unwrap_or_default();
                    *tally
                        .other
                        .entry(format!("{status} {code}").trim_end().to_string())
                        .or_default() += 1;
                }
            }
        }
        Err(e) => {
            *conn = None;
            *tally
                .other
                .entry(format!("connection error: {}", e.kind()))
                .or_default() += 1;
        }
    }
    Ok(())
}

/// Drive the server for `seconds` with `connections` connections; returns the tally and the
/// wall time the phase took (open loop: until the last due request was answered).
pub async fn phase(
    t: Arc<Target>,
    mode: Mode,
    connections: usize,
    seconds: f64,
) -> Result<(Tally, f64), String> {
    let start = Instant::now();
    let duration = Duration::from_secs_f64(seconds);
    // An open-loop phase whose server fell far behind stops sending at this point; what was
    // still due is counted as unsent, with the latency it had reached by then (a lower bound,
    // so the percentiles never look better for the requests that were never sent).
    let hard_stop = start + duration + duration.mul_f64(0.5).max(Duration::from_secs(5));
    let slot = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(connections);
    for w in 0..connections {
        let t = t.clone();
        let slot = slot.clone();
        tasks.push(tokio::spawn(async move {
            let agent_ix = w % t.agents.len().max(1);
            let Some(agent) = t.agents.get(agent_ix) else {
                return Err("no bench agents".to_string());
            };
            let mut conn = Conn::connect(t.addr).await.ok();
            let mut tally = Tally::default();
            match mode {
                Mode::Closed => {
                    while start.elapsed() < duration {
                        one(&t, &mut conn, agent, &mut tally, None).await?;
                    }
                }
                Mode::Open(rate) => loop {
                    let k = slot.fetch_add(1, Ordering::Relaxed);
                    let due = Duration::from_secs_f64(k as f64 / rate);
                    if due >= duration {
                        break;
                    }
                    let at = start + due;
                    let now = Instant::now();
                    if now >= hard_stop {
                        tally.unsent += 1;
                        tally
                            .latencies
                            .push(micros(now.saturating_duration_since(at)));
                        continue;
                    }
                    tokio::time::sleep_until(at.into()).await;
                    one(&t, &mut conn, agent, &mut tally, Some(at)).await?;
                },
            }
            Ok::<Tally, String>(tally)
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        total.merge(
            task.await
                .map_err(|e| format!("a load task failed: {e}"))??,
        );
    }
    Ok((total, start.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_stay_in_range_and_vary() {
        let a: Vec<i64> = (0..10_000).map(amount_of).collect();
        assert!(a.iter().all(|x| (MIN_AMOUNT..=MAX_AMOUNT).contains(x)));
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert!(distinct.len() > 5_000);
    }
}
