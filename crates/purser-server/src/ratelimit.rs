//! Request rate limits per agent and per user: token buckets kept in memory, per node.
//!
//! Every authenticated request spends one token from its caller's bucket: a signed agent
//! request from the agent's bucket, a request with a user's API token from the user's bucket
//! (all of that user's tokens share it). A bucket holds up to `per_minute` tokens and refills
//! continuously at `per_minute` a minute, so a caller may burst up to a minute's allowance and
//! then goes at the steady rate. An empty bucket answers `429 rate_limited` with `Retry-After`
//! (whole seconds until the next token) before anything else is done.
//!
//! Sign-in attempts are limited per network address as well (`sign_in_per_minute`, PIN
//! sign-ins; three times that for passkey ceremony starts), before any user is known: a
//! per-person PIN lockout alone would let one client try one PIN against many people. The
//! address is the TCP peer's, or behind a `--trusted-proxy` the client's address that proxy
//! appended to `X-Forwarded-For` (`forwarded.rs`); an IPv6 address counts by its /64. Address
//! buckets are dropped once full again, so a flood of addresses cannot grow memory for long.
//!
//! The buckets live in this process only: with N nodes behind a load balancer a caller gets up
//! to N times the limit. No database write is involved, so the check costs a hash lookup under
//! a short lock on the hot authorization path. Callers are only counted after they
//! authenticate, so nobody can spend another caller's allowance by sending requests in its
//! name.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;

use crate::error::ApiError;

/// Default requests a minute for one agent (`--agent-requests-per-minute`).
pub const DEFAULT_AGENT_PER_MINUTE: u32 = 1_200;
/// Default requests a minute for one user (`--user-requests-per-minute`).
pub const DEFAULT_USER_PER_MINUTE: u32 = 1_200;

/// Default PIN sign-in attempts a minute from one network address (`--sign-ins-per-minute`).
pub const DEFAULT_SIGN_IN_PER_MINUTE: u32 = 10;

/// Buckets are spread over this many locks so that callers rarely wait for one another.
const SHARDS: usize = 16;

/// Above this many buckets in one shard, full (idle) buckets are dropped.
const PRUNE_ABOVE: usize = 4096;

/// The client's address (the TCP peer's, or the one a trusted proxy forwarded), put on each
/// request by the connection loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The key of an address's bucket: IPv4 as is, IPv6 by its /64 (one host's usual share).
fn address_key(addr: Option<ClientAddr>) -> String {
    match addr.map(|a| a.0) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".to_string(),
    }
}

/// The limits `purser serve` enforces; `None` turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub agent_per_minute: Option<u32>,
    pub user_per_minute: Option<u32>,
    /// PIN sign-ins a minute from one address (passkey ceremony starts: three times this).
    pub sign_in_per_minute: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            agent_per_minute: Some(DEFAULT_AGENT_PER_MINUTE),
            user_per_minute: Some(DEFAULT_USER_PER_MINUTE),
            sign_in_per_minute: Some(DEFAULT_SIGN_IN_PER_MINUTE),
        }
    }
}

impl RateLimits {
    /// No limits (benchmarks that measure throughput, not throttling).
    pub fn off() -> RateLimits {
        RateLimits {
            agent_per_minute: None,
            user_per_minute: None,
            sign_in_per_minute: None,
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One lock's share of the buckets.
struct Shard {
    map: HashMap<String, Bucket>,
    /// At this many buckets, full (idle) ones are dropped before another is added.
    prune_at: usize,
}

/// One kind of caller's buckets.
struct Buckets {
    per_minute: u32,
    shards: Vec<Mutex<Shard>>,
}

impl Buckets {
    fn new(per_minute: u32) -> Buckets {
        Buckets {
            per_minute: per_minute.max(1),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        prune_at: PRUNE_ABOVE,
                    })
                })
                .collect(),
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
        let mut shard = lock.lock().unwrap_or_else(|p| p.into_inner());
        if shard.map.len() >= shard.prune_at && !shard.map.contains_key(id) {
            // A bucket that has refilled is the same as none. Pruning again only after the
            // map doubles keeps the cost per request constant, on average.
            shard.map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < capacity
            });
            shard.prune_at = shard.map.len().saturating_mul(2).max(PRUNE_ABOVE);
        }
        let b = shard.map.entry(id.to_string()).or_insert(Bucket {
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
    sign_ins: Option<Buckets>,
    ceremonies: Option<Buckets>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Limiter {
        Limiter {
            agents: limits.agent_per_minute.map(Buckets::new),
            users: limits.user_per_minute.map(Buckets::new),
            sign_ins: limits.sign_in_per_minute.map(Buckets::new),
            ceremonies: limits
                .sign_in_per_minute
                .map(|n| Buckets::new(n.saturating_mul(3))),
        }
    }

    /// One PIN sign-in attempt from `addr`.
    pub fn sign_in(&self, addr: Option<ClientAddr>) -> Result<(), ApiError> {
        let Some(b) = &self.sign_ins else {
            return Ok(());
        };
        b.take(&address_key(addr), Instant::now()).map_err(|secs| {
            limited(
                secs,
                format!(
                    "more than {} PIN sign-ins a minute came from your network address; wait {secs} s and try again",
                    b.per_minute
                ),
            )
        })
    }

    /// One passkey ceremony started from `addr`.
    pub fn ceremony(&self, addr: Option<ClientAddr>) -> Result<(), ApiError> {
        let Some(b) = &self.ceremonies else {
            return Ok(());
        };
        b.take(&address_key(addr), Instant::now()).map_err(|secs| {
            limited(
                secs,
                format!(
                    "more than {} passkey prompts a minute were started from your network address; wait {secs} s and try again",
                    b.per_minute
                ),
            )
        })
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
        for _ in 0..10_000 {
            assert!(l.sign_in(None).is_ok());
            assert!(l.ceremony(None).is_ok());
        }
        let l = Limiter::new(RateLimits {
            agent_per_minute: Some(1),
            user_per_minute: None,
            sign_in_per_minute: None,
        });
        assert!(l.agent("agt").is_ok());
        let e = l.agent("agt").err().map(|e| (e.status, e.retry_after));
        assert_eq!(e, Some((StatusCode::TOO_MANY_REQUESTS, Some(60))));
        assert!(l.user("usr").is_ok());
    }

    #[test]
    fn sign_ins_are_counted_per_address_and_ipv6_by_its_64() {
        let l = Limiter::new(RateLimits {
            agent_per_minute: None,
            user_per_minute: None,
            sign_in_per_minute: Some(2),
        });
        let a = |s: &str| Some(ClientAddr(s.parse().expect("ip")));
        assert!(l.sign_in(a("203.0.113.7")).is_ok());
        assert!(l.sign_in(a("203.0.113.7")).is_ok());
        let e = l
            .sign_in(a("203.0.113.7"))
            .err()
            .map(|e| (e.status, e.body.code));
        assert_eq!(
            e,
            Some((StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()))
        );
        assert!(
            l.sign_in(a("203.0.113.8")).is_ok(),
            "another address has its own"
        );
        assert!(l.sign_in(a("2001:db8:1:2::1")).is_ok());
        assert!(l.sign_in(a("2001:db8:1:2:ffff::9")).is_ok());
        assert!(
            l.sign_in(a("2001:db8:1:2:abcd::1")).is_err(),
            "the same /64 is one address"
        );
        assert!(l.sign_in(a("2001:db8:1:3::1")).is_ok());
        // Passkey ceremonies have three times the allowance, in buckets of their own.
        for _ in 0..6 {
            assert!(l.ceremony(a("203.0.113.7")).is_ok());
        }
        assert!(l.ceremony(a("203.0.113.7")).is_err());
        assert_eq!(address_key(a("::ffff:198.51.100.4")), "198.51.100.4");
    }

    #[test]
    fn full_buckets_are_dropped_when_a_shard_grows() {
        let b = Buckets::new(60);
        let t0 = Instant::now();
        for i in 0..(PRUNE_ABOVE * SHARDS * 2) {
            assert!(b.take(&format!("10.0.{}.{}", i / 256, i % 256), t0).is_ok());
        }
        let n = PRUNE_ABOVE * SHARDS * 2;
        // A minute later they have all refilled; as many new addresses come.
        let later = t0 + std::time::Duration::from_secs(61);
        for i in 0..n {
            assert!(b
                .take(&format!("10.1.{}.{}", i / 256, i % 256), later)
                .is_ok());
        }
        let kept: usize = b
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum();
        assert!(
            kept < n + n / 2,
            "{kept} buckets kept of {} taken: the idle ones were not dropped",
            2 * n
        );
    }
}
