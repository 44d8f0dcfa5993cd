//! The durable outbox: delivers `deliveries` rows as signed webhooks.
//!
//! Payment code writes an `events` row and, in the same transaction, one `deliveries` row per
//! recipient (`merchant:<mch_…>` or `agent:<agt_…>`, `pending`, due now). This worker sends
//! them: it picks due rows, **claims** each one (a compare-and-set on its `next_at` and
//! `attempts` that moves `next_at` a lease into the future and counts the attempt), signs the
//! body with the recipient's secret (`Merchant-Signature`, see `purser_core::webhook`) and
//! POSTs it. A 2xx answer makes the row `delivered`; anything else schedules the next attempt
//! (1 s, 2 s, 4 s, … capped at 1 h, with jitter) until the attempt budget of 24 hours of
//! retries is spent, then the row is `failed` — kept, visible to its recipient, re-queueable.
//!
//! Invariants:
//! - Durable first: a row is only ever written by the event's own transaction, by a claim, or
//!   by the result of a claimed attempt. A crash at any point leaves the row `pending`; once
//!   the lease passes, any node sends it again. Delivery is therefore at least once, and
//!   receivers deduplicate by `Purser-Event-Id`.
//! - Two nodes on one PostgreSQL never send the same attempt at once: the claim succeeds for
//!   one of them only (the other's compare-and-set finds `next_at` moved).
//! - A result is written only while the claim is still ours (`next_at` = our lease), so a
//!   node that overran its lease cannot overwrite a newer attempt's outcome.
//! - Secrets, bodies and URLs never reach a log line or `last_error`: logs name the event id,
//!   the target and the outcome.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use purser_core::secret::SecretBytes;
use purser_core::webhook;
use purser_core::Timestamp;
use purser_store::db::Stmt;
use purser_store::vals;
use serde_json::Value;

use crate::error::Result;
use crate::{ids, Wallet};

/// Most deliveries one pass claims and sends concurrently: enough to drain a burst quickly,
/// few enough that one pass's blocking HTTP calls cannot crowd out the runtime's other work.
pub const OUTBOX_BATCH: usize = 64;

/// How long one POST may take, connection included. A receiver should answer at once and do
/// its work afterwards; one that does not is retried later.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a claim keeps other passes and nodes away from a row: the send timeout plus room
/// to record the result. A node that dies mid-send leaves the row to be sent again once it
/// passes.
pub const CLAIM_LEASE_MS: i64 = 20_000;

/// How often the worker looks for due rows when nothing woke it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Passes that may run at once, so one slow receiver does not hold up everyone else's events.
pub const MAX_PASSES: usize = 4;

/// On shutdown, how long running passes may take to record their results.
pub const STOP_GRACE: Duration = Duration::from_secs(12);

/// Longest `last_error` kept: a sentence, never a response body.
const MAX_ERROR_LEN: usize = 300;

/// A due row, as claimed.
struct Claimed {
    event_id: String,
    target: String,
    /// The attempt this is (1 = first).
    attempt: i64,
    /// Our lease: the row's `next_at` while the claim is ours.
    lease: i64,
    kind: String,
    created_at: i64,
    data: String,
}

/// Where and how to send one target's deliveries.
struct Recipient {
    url: String,
    secret: SecretBytes,
}

enum Prepared {
    Send(tokio::task::JoinHandle<(String, Outcome)>),
    Done(Outcome),
}

enum Outcome {
    Delivered(u16),
    Failed(String),
    /// The recipient has no webhook any more (or the event cannot be sent): no retry helps.
    Abandoned(String),
}

fn http() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::AgentBuilder::new()
            .timeout(SEND_TIMEOUT)
            // A webhook is answered where it was sent; a redirect is a misconfigured URL.
            .redirects(0)
            .user_agent(concat!("Purser-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
    })
}

/// The JSON body every recipient gets: `{"id", "type", "created_at", "data"}`. Keys are
/// written in sorted order, so every attempt of one event sends the same bytes.
pub fn event_body(id: &str, kind: &str, created_at: i64, data: &str) -> Option<Vec<u8>> {
    let data: Value = serde_json::from_str(data).ok()?;
    serde_json::to_vec(&serde_json::json!({
        "id": id,
        "type": kind,
        "created_at": Timestamp(created_at).to_rfc3339(),
        "data": data,
    }))
    .ok()
}

/// POST one signed body. Blocking: runs on the blocking pool.
fn send(url: &str, event_id: &str, attempt: i64, signature: &str, body: &[u8]) -> Outcome {
    let r = http()
        .post(url)
        .set("Content-Type", "application/json")
        .set(webhook::SIGNATURE_HEADER, signature)
        .set("Purser-Event-Id", event_id)
        .set("Purser-Delivery-Attempt", &attempt.to_string())
        .send_bytes(body);
    match r {
        Ok(resp) if (200..300).contains(&resp.status()) => Outcome::Delivered(resp.status()),
        Ok(resp) => Outcome::Failed(format!(
            "the receiver answered HTTP {} (a redirect); register the final URL, which must answer 2xx",
            resp.status()
        )),
        Err(ureq::Error::Status(code, _)) => Outcome::Failed(format!(
            "the receiver answered HTTP {code}; it must answer 2xx once it has the event"
        )),
        Err(ureq::Error::Transport(t)) => Outcome::Failed(transport_error(&t)),
    }
}

/// A sentence for a transport failure, without the URL (it may carry a token).
fn transport_error(t: &ureq::Transport) -> String {
    use ureq::ErrorKind as K;
    let timed_out = std::error::Error::source(t)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        });
    match t.kind() {
        _ if timed_out => format!(
            "no answer within {} s; the receiver should answer at once and process the event afterwards",
            SEND_TIMEOUT.as_secs()
        ),
        K::Dns => "the webhook URL's host name does not resolve".into(),
        K::ConnectionFailed => "could not connect to the webhook URL (connection refused or unreachable)".into(),
        K::UnknownScheme => "this Purser build delivers webhooks over http:// only (it has no TLS support compiled in); register an http:// URL, for example behind a TLS-terminating proxy on the same network".into(),
        K::InvalidUrl => "the webhook URL is not a valid URL; register it again".into(),
        K::BadStatus | K::BadHeader => "the receiver's answer was not valid HTTP".into(),
        _ => "the connection to the receiver failed while sending".into(),
    }
}

fn clip(s: String) -> String {
    if s.len() <= MAX_ERROR_LEN {
        return s;
    }
    let mut end = MAX_ERROR_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl Wallet {
    /// Wake the outbox worker: an event was just written and can go out now.
    pub fn outbox_wake(&self) {
        self.outbox.notify_one();
    }

    /// Send up to `limit` due deliveries (claimed first, sent concurrently) and record each
    /// outcome. Returns how many were claimed and attempted.
    pub async fn deliver_due(&self, limit: usize) -> Result<usize> {
        let limit = limit.clamp(1, purser_store::db::MAX_WRITE_STMTS);
        let now = self.now();
        let due = self
            .db
            .query(
                "SELECT d.event_id, d.target, d.next_at, d.attempts, e.type, e.created_at, e.data FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = 'pending' AND d.next_at <= $1 ORDER BY d.next_at, d.event_id, d.target LIMIT $2",
                vals![now.0, limit as i64],
            )
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let lease = now.0.saturating_add(CLAIM_LEASE_MS);
        let mut rows = Vec::with_capacity(due.len());
        let mut claims = Vec::with_capacity(due.len());
        for r in &due {
            let (event_id, target, next_at, attempts) =
                (r.text(0)?, r.text(1)?, r.int(2)?, r.int(3)?);
            claims.push(Stmt::exec(
                "UPDATE deliveries SET next_at = $1, attempts = attempts + 1 WHERE event_id = $2 AND target = $3 AND status = 'pending' AND next_at = $4 AND attempts = $5",
                vals![lease, &event_id, &target, next_at, attempts],
            ));
            rows.push(Claimed {
                event_id,
                target,
                attempt: attempts.saturating_add(1),
                lease,
                kind: r.text(4)?,
                created_at: r.int(5)?,
                data: r.text(6)?,
            });
        }
        // Rows are claimed in one total order (next_at, event, target), so two nodes claiming
        // overlapping sets on PostgreSQL lock them in the same order and cannot deadlock.
        let results = self.db.write(claims).await?;
        let claimed: Vec<Claimed> = rows
            .into_iter()
            .zip(results.iter())
            .filter(|(_, r)| r.changed == 1)
            .map(|(c, _)| c)
            .collect();
        // One lookup (and one vault open) per target per pass.
        let mut recipients: HashMap<String, Option<Arc<Recipient>>> = HashMap::new();
        let mut sends = Vec::with_capacity(claimed.len());
        for c in claimed {
            if !recipients.contains_key(&c.target) {
                let r = match self.recipient(&c.target).await {
                    Ok(r) => r.map(Arc::new),
                    // Not "no webhook" (that abandons): a failed attempt, retried with backoff
                    // like a receiver that did not answer.
                    Err(e) => {
                        tracing::warn!(target = %c.target, error = %e, "cannot open a webhook recipient's secret");
                        sends.push((
                            c,
                            Prepared::Done(Outcome::Failed(
                                "Purser could not open this webhook's secret; it will retry".into(),
                            )),
                        ));
                        continue;
                    }
                };
                recipients.insert(c.target.clone(), r);
            }
            let recipient = recipients.get(&c.target).cloned().flatten();
            let prepared = match (
                recipient,
                event_body(&c.event_id, &c.kind, c.created_at, &c.data),
            ) {
                (None, _) => Prepared::Done(Outcome::Abandoned(
                    "the recipient has no webhook URL any more; nothing will be sent".into(),
                )),
                (Some(_), None) => Prepared::Done(Outcome::Abandoned(
                    "the event's data is not valid JSON".into(),
                )),
                (Some(r), Some(body)) => {
                    let t = self.now().0.div_euclid(1000);
                    let signature = webhook::sign(r.secret.expose(), t, &body);
                    let (event_id, attempt) = (c.event_id.clone(), c.attempt);
                    Prepared::Send(tokio::task::spawn_blocking(move || {
                        let outcome = send(&r.url, &event_id, attempt, &signature, &body);
                        (r.url.clone(), outcome)
                    }))
                }
            };
            sends.push((c, prepared));
        }
        let attempted = sends.len();
        for (c, prepared) in sends {
            let (url, outcome) = match prepared {
                Prepared::Done(o) => (None, o),
                Prepared::Send(h) => match h.await {
                    Ok((url, o)) => (Some(url), o),
                    Err(_) => (None, Outcome::Failed("the sending task stopped".into())),
                },
            };
            if let Err(e) = self.record(&c, url, outcome).await {
                tracing::warn!(event = %c.event_id, target = %c.target, error = %e, "could not record a webhook delivery; it will be sent again");
            }
        }
        Ok(attempted)
    }

    /// The URL and opened secret of `target`, if it still has a webhook.
    async fn recipient(&self, target: &str) -> Result<Option<Recipient>> {
        if let Some(mch) = target.strip_prefix("merchant:") {
            return Ok(self
                .merchant_webhook_secret(mch)
                .await?
                .map(|(url, secret)| Recipient { url, secret }));
        }
        if let Some(agt) = target.strip_prefix("agent:") {
            let Some(r) = self
                .db
                .query_opt(
                    "SELECT url, secret_record FROM agent_webhooks WHERE agent_id = $1",
                    vals![agt],
                )
                .await?
            else {
                return Ok(None);
            };
            let secret = self.open_record(&r.text(1)?).await?;
            return Ok(Some(Recipient {
                url: r.text(0)?,
                secret,
            }));
        }
        Ok(None)
    }

    /// Write the outcome of a claimed attempt, if the claim is still ours.
    async fn record(&self, c: &Claimed, url: Option<String>, outcome: Outcome) -> Result<()> {
        let now = self.now().0;
        let (status, stmt) = match outcome {
            Outcome::Delivered(code) => {
                tracing::info!(event = %c.event_id, target = %c.target, attempt = c.attempt, status = code, "webhook delivered");
                (
                    "delivered",
                    Stmt::exec(
                        "UPDATE deliveries SET status = 'delivered', delivered_at = $1, last_error = NULL, url = COALESCE($2, url) WHERE event_id = $3 AND target = $4 AND status = 'pending' AND next_at = $5",
                        vals![now, url, &c.event_id, &c.target, c.lease],
                    ),
                )
            }
            Outcome::Failed(why) if c.attempt < webhook::MAX_ATTEMPTS => {
                let random = u64::from_le_bytes(ids::random_bytes::<8>()?);
                let next = now.saturating_add(webhook::retry_delay_ms(c.attempt, random));
                tracing::warn!(event = %c.event_id, target = %c.target, attempt = c.attempt, error = %why, "webhook attempt failed; will retry");
                (
                    "retry",
                    Stmt::exec(
                        "UPDATE deliveries SET next_at = $1, last_error = $2, url = COALESCE($3, url) WHERE event_id = $4 AND target = $5 AND status = 'pending' AND next_at = $6",
                        vals![next, clip(why), url, &c.event_id, &c.target, c.lease],
                    ),
                )
            }
            Outcome::Failed(why) | Outcome::Abandoned(why) => {
                tracing::warn!(event = %c.event_id, target = %c.target, attempt = c.attempt, error = %why, "webhook delivery failed for good");
                (
                    "failed",
                    Stmt::exec(
                        "UPDATE deliveries SET status = 'failed', last_error = $1, url = COALESCE($2, url) WHERE event_id = $3 AND target = $4 AND status = 'pending' AND next_at = $5",
                        vals![clip(why), url, &c.event_id, &c.target, c.lease],
                    ),
                )
            }
        };
        let r = self.db.write(vec![stmt]).await?;
        if r.first().is_none_or(|r| r.changed == 0) {
            tracing::info!(event = %c.event_id, target = %c.target, outcome = status, "a delivery's claim lapsed before its result was recorded; it will be sent again");
        }
        Ok(())
    }

    /// The outbox worker: a pass whenever an event is written (`outbox_wake`) and at least
    /// every [`POLL_INTERVAL`], up to [`MAX_PASSES`] at once. Returns when `stop` changes (or
    /// its sender is dropped), after running passes record their results (at most
    /// [`STOP_GRACE`]; a send cut short is sent again later).
    pub async fn run_outbox(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_PASSES));
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut passes = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
                _ = self.outbox.notified() => {}
            }
            while passes.try_join_next().is_some() {}
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                continue;
            };
            let wallet = self.clone();
            passes.spawn(async move {
                let _permit = permit;
                match wallet.deliver_due(OUTBOX_BATCH).await {
                    // A full batch: more may be due; go again without waiting for the tick.
                    Ok(n) if n >= OUTBOX_BATCH => wallet.outbox_wake(),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "webhook outbox pass failed; will retry"),
                }
            });
        }
        let drained = tokio::time::timeout(STOP_GRACE, async {
            while passes.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "webhook sends still running at shutdown were cut short; they will be sent again"
            );
            passes.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_stable_and_carry_the_event() {
        let a = event_body("evt_1", "payment.captured", 0, r#"{"b":1,"a":[2]}"#).unwrap();
        let b = event_body("evt_1", "payment.captured", 0, r#"{"a":[2],  "b":1}"#).unwrap();
        assert_eq!(a, b);
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["id"], "evt_1");
        assert_eq!(v["type"], "payment.captured");
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["data"]["a"][0], 2);
        assert!(event_body("evt_1", "x", 0, "not json").is_none());
    }

    #[test]
    fn errors_are_clipped_on_a_char_boundary() {
        let s = "é".repeat(400);
        let c = clip(s);
        assert!(c.len() <= MAX_ERROR_LEN);
        assert!(c.chars().all(|ch| ch == 'é'));
    }
}
