//! Request rate limits per agent and per user: token buckets kept in memory, per node.
//!
//! Every authenticated request spends one token from its caller's bucket: a signed agent
//! request from the agent's bucket, a request with a user's API token from the user's bucket
//! (all of that user's tokens share it). A bucket holds up to `per_minute` tokens and refills
//! continuously at `per_minute` a minute, so a caller may burst up to a minute's allowance and
//! then goes at the steady rate. An empty bucket answers `429 rate_limited` with `Retry-After`
//! (whole seconds until the next token) before anything else is done.
//!
//! The buckets live in this process only: with N nodes behind a load balancer a caller gets up
//! to N times the limit. No database write is involved, so the check costs a hash lookup under
//! a short lock on the hot authorization path. Callers are only counted after they
//! authenticate, so nobody can spend another caller's allowance by sending requests in its
//! name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;

use crate::error::ApiError;

/// Default requests a minute for one agent (`--agent-requests-per-minute`).
pub const DEFAULT_AGENT_PER_MINUTE: u32 = 1_200;
/// Default requests a minute for one user (`--user-requests-per-minute`).
pub const DEFAULT_USER_PER_MINUTE: u32 = 1_200;

/// Buckets are spread over this many locks so that callers rarely wait for one another.
const SHARDS: usize = 16;

/// The limits `purser serve` enforces; `None` turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub agent_per_minute: Option<u32>,
    pub user_per_minute: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            agent_per_minute: Some(DEFAULT_AGENT_PER_MINUTE),
            user_per_minute: Some(DEFAULT_USER_PER_MINUTE),
        }
    }
}

impl RateLimits {
    /// No limits (benchmarks that measure throughput, not throttling).
    pub fn off() -> RateLimits {
        RateLimits {
            agent_per_minute: None,
            user_per_minute: None,
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One kind of caller's buckets.
struct Buckets {
    per_minute: u32,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

impl Buckets {
    fn new(per_minute: u32) -> Buckets {
        Buckets {
            per_minute: per_minute.max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Spend a token for `id` at `now`; `Err(seconds)` until one is available.
    fn take(&self, id: &str, now: Instant) -> Result<(), u64> {
        let shard = fnv(id) % SHARDS;
        let Some(lock) = self.shards.get(shard) else {
            return Ok(());
        };
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        // A poisoned lock only means another request panicked mid-update: the map is intact.
        let mut map = lock.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(id.to_string()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / per_second).ceil();
            Err(if wait >= 1.0 { wait as u64 } else { 1 })
        }
    }
}

fn fnv(s: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as usize
}

/// The buckets of one server.
pub struct Limiter {
    agents: Option<Buckets>,
    users: Option<Buckets>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Limiter {
        Limiter {
            agents: limits.agent_per_minute.map(Buckets::new),
            users: limits.user_per_minute.map(Buckets::new),
        }
    }

    /// One request by agent `agent_id`.
    pub fn agent(&self, agent_id: &str) -> Result<(), ApiError> {
        let Some(b) = &self.agents else {
            return Ok(());
        };
        b.take(agent_id, Instant::now()).map_err(|secs| {
            limited(
                secs,
                format!(
                    "this agent sent more than {} requests a minute to this Purser; wait {secs} s (Retry-After) and slow down",
                    b.per_minute
                ),
            )
        })
    }

    /// One request with an API token of user `user_id`.
    pub fn user(&self, user_id: &str) -> Result<(), ApiError> {
        let Some(b) = &self.users else {
            return Ok(());
        };
        b.take(user_id, Instant::now()).map_err(|secs| {
            limited(
                secs,
                format!(
                    "your API tokens sent more than {} requests a minute to this Purser; wait {secs} s (Retry-After) and slow down",
                    b.per_minute
                ),
            )
        })
    }
}

fn limited(secs: u64, message: String) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    e.retry_after = Some(secs);
    e
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_bursts_then_refills_at_its_rate() {
        let b = Buckets::new(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert_eq!(b.take("agt_a", t0), Ok(()));
        }
        assert_eq!(b.take("agt_a", t0), Err(1));
        // Another caller has its own bucket.
        assert_eq!(b.take("agt_b", t0), Ok(()));
        // One token a second comes back.
        assert_eq!(b.take("agt_a", t0 + Duration::from_millis(1_000)), Ok(()));
        assert_eq!(b.take("agt_a", t0 + Duration::from_millis(1_000)), Err(1));
        // Never more than a minute's worth, however long the wait.
        let later = t0 + Duration::from_secs(3_600);
        for _ in 0..60 {
            assert_eq!(b.take("agt_a", later), Ok(()));
        }
        assert!(b.take("agt_a", later).is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_to_the_next_token() {
        let b = Buckets::new(6); // one token every 10 s
        let t0 = Instant::now();
        for _ in 0..6 {
            assert_eq!(b.take("u", t0), Ok(()));
        }
        assert_eq!(b.take("u", t0), Err(10));
        assert_eq!(b.take("u", t0 + Duration::from_millis(2_500)), Err(8));
    }

    #[test]
    fn limits_off_never_refuse() {
        let l = Limiter::new(RateLimits::off());
        for _ in 0..10_000 {
            assert!(l.agent("agt").is_ok());
            assert!(l.user("usr").is_ok());
        }
        let l = Limiter::new(RateLimits {
            agent_per_minute: Some(1),
            user_per_minute: None,
        });
        assert!(l.agent("agt").is_ok());
        let e = l.agent("agt").err().map(|e| (e.status, e.retry_after));
        assert_eq!(e, Some((StatusCode::TOO_MANY_REQUESTS, Some(60))));
        assert!(l.user("usr").is_ok());
    }
}
