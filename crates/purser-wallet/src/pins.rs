//! PINs: what a person types on the confirmation page to approve or decline a payment their
//! agent asked for.
//!
//! A PIN is 6 to 12 digits; the few everyone guesses first (one digit repeated, a run such as
//! 123456, a short block repeated such as 121212) are refused. Only an argon2id PHC string is
//! stored (`pins.hash`), never the PIN. Changing a PIN needs the current one.
//!
//! Guessing is limited: [`MAX_PIN_FAILURES`] wrong PINs in a row lock PIN entry for
//! [`PIN_LOCK_MS`], and each further lock without a right PIN in between lasts twice as long as
//! the one before, up to [`PIN_LOCK_MAX_MS`] (15 minutes, 30, 1 hour, … 24 hours: about 40
//! guesses the first day, then 5 a day); a right PIN resets the count and the escalation. The attempt is counted *before* the hash is
//! checked, by a compare-and-set on the row (`failures`, `locked_until` and `hash` as read), so
//! concurrent guesses each take their own slot and no more than [`MAX_PIN_FAILURES`] are ever
//! checked against the hash in one lock window — on one node or many. A right PIN then sets the
//! count back to zero. (A crash between counting and checking counts as a wrong PIN: it fails
//! closed.)
//!
//! **Whose lock.** A lock that anyone can trigger for anyone is itself an attack: knowing a
//! person's user id would be enough to keep their PIN locked. So failures count towards one of
//! three locks, by where the PIN was typed (OWASP's "device cookie" pattern):
//!
//! - the **API** (`PinFrom::Api`: changing the PIN with `POST /v1/me/pin`, which needs the
//!   person's own API token): the person's lock, in `pins` (`failures`, `locked_until`,
//!   `lockouts`);
//! - a **browser without this person's device cookie** (`PinFrom::Browser(None)`, or a cookie
//!   that is forged, expired, forgotten or another person's): one lock shared by all unknown
//!   browsers, in `pins` (`browser_failures`, `browser_locked_until`, `browser_lockouts`);
//! - a **browser with this person's device cookie**: that device's own lock, in its
//!   `pin_devices` row.
//!
//! A device cookie (`pwd_…`, 256 random bits, only its SHA-256 stored, bound to one person) is
//! given to a browser when the person signs in on it with a PIN or a passkey
//! ([`Wallet::remember_device`]), and lasts [`DEVICE_TTL_MS`]. An attacker who knows only the
//! user id locks unknown browsers; the person's own browsers keep their own counts and keep
//! working. Each lock escalates on its own, and a right PIN resets only the lock it was typed
//! under. At most [`MAX_DEVICES`] devices are kept per person (the least recently used is
//! forgotten), which also bounds the guesses all locks together allow.
//!
//! Timing: every check that reaches the hash costs one argon2id computation, whether the PIN is
//! right or wrong (the final comparison is constant-time), so latency says nothing about how
//! close a guess was. A user without a PIN also costs one computation (the PIN is hashed with a
//! fixed salt and thrown away) before the answer says `pin_not_set`: the tens of milliseconds
//! of a check are there either way, and only the attempt counter's one database write differs.
//! That is as far as it needs to go — the answer itself says `pin_not_set` to whoever holds the
//! confirmation link, because the person needs it to act; what must not leak is the PIN, and
//! nothing about it does. A locked PIN answers at once; the lock is not a secret either.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use purser_core::Timestamp;
use purser_store::db::{DbError, Expect, Stmt};
use purser_store::vals;
use serde::Serialize;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::access::{Principal, Scope};
use crate::error::{Kind, Result, WalletError};
use crate::ids;
use crate::Wallet;

/// Fewest digits: six is what banks and phones settled on; with the lockout an attacker gets
/// 5 guesses per 15 minutes out of 10⁶.
pub const PIN_MIN_DIGITS: usize = 6;
/// Most digits: enough for anyone who wants more, and a bound on what is hashed.
pub const PIN_MAX_DIGITS: usize = 12;
/// Wrong PINs in a row before PIN entry locks.
pub const MAX_PIN_FAILURES: i64 = 5;
/// How long PIN entry stays locked after the last allowed wrong PIN: long enough that
/// guessing a 6-digit PIN takes decades, short enough that a person who mistyped can still
/// approve a payment before its confirmation expires.
pub const PIN_LOCK_MS: i64 = 15 * 60 * 1000;
/// The longest lock: each lock in a run doubles the one before, up to this.
pub const PIN_LOCK_MAX_MS: i64 = 24 * 60 * 60 * 1000;

/// How long the lock after `lockouts` earlier locks in a row lasts.
pub fn lock_ms(lockouts: i64) -> i64 {
    let doublings = u32::try_from(lockouts.clamp(0, 16)).unwrap_or(16);
    PIN_LOCK_MS
        .saturating_mul(1_i64 << doublings)
        .min(PIN_LOCK_MAX_MS)
}

/// How long a browser stays known after the person last signed in on it: a year, like the
/// remembered user id; each sign-in on it starts the year again.
pub const DEVICE_TTL_MS: i64 = 365 * 24 * 60 * 60 * 1000;
/// Most known browsers kept per person; signing in on one more forgets the least recently used.
/// Each has its own lock, so this also bounds the guesses a thief holding every one of a
/// person's browsers could make.
pub const MAX_DEVICES: i64 = 20;

/// Where a PIN was typed, which decides the lock its failures count towards (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinFrom<'a> {
    /// The REST API or the CLI, with the person's own API token: the person's lock.
    Api,
    /// A browser, with the device cookie it sent (if any): that device's lock when the cookie
    /// is this person's, else the lock of unknown browsers.
    Browser(Option<&'a str>),
}

/// The lock an attempt counts towards.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lock {
    Person,
    UnknownBrowsers,
    /// The device's token hash.
    Device(String),
}

/// argon2id memory cost in KiB (19 MiB), passes and lanes: OWASP's recommended minimum for
/// argon2id (m=19 MiB, t=2, p=1). On one core of this project's 2-core machines one hash or
/// check costs about 30 ms of CPU (measured as thread CPU time, with the dependencies built at
/// opt-level 2 as every profile here builds them), "tens of milliseconds": cheap for a person, costly for
/// an offline attacker who stole the table (10⁶ PINs ≈ 8 core-hours per user, and the salt is
/// per user). The parameters travel in the PHC string, so old hashes still verify after they
/// change.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

/// argon2 computations running at once. Each holds 19 MiB and a core for tens of ms; without
/// a bound, a burst of PIN posts would queue hundreds of blocking threads and gigabytes of
/// memory. Four keeps both cores busy and memory under 80 MiB; the rest wait their turn.
pub const MAX_CONCURRENT_HASHES: usize = 4;

/// How often a PIN check re-reads the row when concurrent checks keep changing it.
const CAS_RETRIES: usize = 16;

static HASHING: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);

/// Whether the person has a PIN, and whether PIN entry is locked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PinStatus {
    pub pin_set: bool,
    /// When PIN entry opens again, while it is locked (RFC 3339): the later of the lock on the
    /// API and the lock on browsers the person has not signed in on. A browser the person
    /// signed in on has a lock of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .map_err(|_| hash_failed())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_failed() -> WalletError {
    tracing::error!("argon2 failed");
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        "Purser could not check the PIN right now and changed nothing; try again",
    )
}

/// A person-readable time: `2026-11-21 20:30 UTC`.
pub(crate) fn when(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    match (s.get(..10), s.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => s,
    }
}

/// How the wrong-PIN message names a lock of `minutes` (for tests outside this crate).
#[doc(hidden)]
pub fn lock_words_for_tests(minutes: i64) -> String {
    lock_words(minutes.saturating_mul(60_000))
}

/// `15 minutes`, `1 hour`, `24 hours`.
fn lock_words(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 60 => format!("{m} minutes"),
        60 => "1 hour".to_string(),
        m => format!("{} hours", m / 60),
    }
}

fn locked(until: i64, lock: &Lock) -> WalletError {
    WalletError::new(
        Kind::Forbidden,
        "pin_locked",
        format!(
            "PIN entry is locked{} after {MAX_PIN_FAILURES} wrong PINs in a row; try again after {}{}",
            where_locked(lock),
            when(Timestamp(until)),
            elsewhere(lock)
        ),
    )
    .at("pin")
}

/// Which browsers a lock holds, as words after "PIN entry is locked".
fn where_locked(lock: &Lock) -> &'static str {
    match lock {
        Lock::Person => "",
        Lock::UnknownBrowsers => " on browsers you have not signed in on",
        Lock::Device(_) => " on this browser",
    }
}

/// What still works while a browser lock holds.
fn elsewhere(lock: &Lock) -> &'static str {
    match lock {
        Lock::Person => "",
        Lock::UnknownBrowsers => {
            ", or use a browser where you signed in before, or your passkey (wrong PINs typed elsewhere do not lock those)"
        }
        Lock::Device(_) => ", or use your passkey",
    }
}

fn not_set() -> WalletError {
    WalletError::new(
        Kind::Conflict,
        "pin_not_set",
        "you have not set a PIN yet; set one with `purser pin set` (or POST /v1/me/pin), then open this link again",
    )
    .at("pin")
}

/// The shape every PIN must have; a value that fails this cannot be anyone's PIN.
fn well_formed(pin: &str) -> bool {
    (PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&pin.len())
        && pin.bytes().all(|b| b.is_ascii_digit())
}

fn malformed(param: &str) -> WalletError {
    WalletError::invalid(
        "pin_invalid",
        format!("a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits (0-9), nothing else"),
        param,
    )
}

/// PINs people pick first, which an attacker tries first: one digit repeated, a block of
/// two or three repeated (121212, 123123), a run up or down (123456, 987654, 3456789), and a
/// few keypad patterns.
pub fn is_trivial(pin: &str) -> bool {
    let d = pin.as_bytes();
    let repeats = (1..=3).any(|n| {
        let mut blocks = d.chunks_exact(n);
        blocks.remainder().is_empty() && blocks.all(|c| c == &d[..n])
    });
    let run = |step: i16| {
        d.windows(2)
            .all(|w| i16::from(w[1]) - i16::from(w[0]) == step)
    };
    const PATTERNS: [&str; 8] = [
        "112233", "147258", "159753", "789456", "102030", "147852", "963852", "258456",
    ];
    repeats || run(1) || run(-1) || PATTERNS.contains(&pin)
}

/// Check a new PIN: 6–12 digits, not a trivial one.
pub fn check_new_pin(pin: &str) -> Result<()> {
    if !well_formed(pin) {
        return Err(malformed("pin"));
    }
    if is_trivial(pin) {
        return Err(WalletError::invalid(
            "pin_too_simple",
            "that PIN is among the first anyone would guess (a repeated digit or block, a run like 123456, a keypad pattern); choose digits with no pattern",
            "pin",
        ));
    }
    Ok(())
}

/// argon2id off the async threads, at most [`MAX_CONCURRENT_HASHES`] at a time.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let permit = HASHING.acquire().await.map_err(|_| hash_failed())?;
    // The permit lives in the blocking task: if the request is dropped while the hash runs,
    // the slot stays taken until the computation really ends.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(|_| hash_failed())?
}

async fn hash_pin(pin: &str) -> Result<String> {
    let pin = Zeroizing::new(pin.to_string());
    let salt = ids::random_bytes::<16>()?;
    blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|_| hash_failed())?;
        hasher()?
            .hash_password(pin.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| hash_failed())
    })
    .await
}

/// Whether `pin` matches the PHC string `phc` (constant-time comparison, one argon2id run).
async fn verify_pin(phc: String, pin: &str) -> Result<bool> {
    let pin = Zeroizing::new(pin.to_string());
    blocking(move || {
        let parsed = PasswordHash::new(&phc).map_err(|_| {
            tracing::error!("a stored PIN hash is not a PHC string");
            hash_failed()
        })?;
        Ok(hasher()?.verify_password(pin.as_bytes(), &parsed).is_ok())
    })
    .await
}

/// The same work as a check, for a user without a PIN (see the module doc on timing).
async fn burn(pin: &str) -> Result<()> {
    let pin = Zeroizing::new(pin.to_string());
    blocking(move || {
        let salt = SaltString::encode_b64(b"purser-no-pin-00").map_err(|_| hash_failed())?;
        let _ = hasher()?.hash_password(pin.as_bytes(), &salt);
        Ok(())
    })
    .await
}

/// A counted attempt: the hash it is checked against and its number in the run of failures.
struct Attempt {
    hash: String,
    number: i64,
    locks_until: Option<i64>,
    /// How long the next lock will last, should this run reach it.
    next_lock_ms: i64,
}

impl Wallet {
    /// Set the caller's PIN, or change it (which needs the current one).
    pub async fn set_pin(
        &self,
        who: &Principal,
        pin: &str,
        current_pin: Option<&str>,
    ) -> Result<PinStatus> {
        who.require(Scope::WalletWrite)?;
        check_new_pin(pin)?;
        let existing = self
            .db
            .query_opt(
                "SELECT hash FROM pins WHERE user_id = $1",
                vals![&who.user_id],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?;
        let changed_meanwhile = || {
            WalletError::conflict(
                "pin_changed",
                "your PIN was set or changed by another request at the same moment; check with `purser pin status` and try again",
            )
        };
        let now = self.now().0;
        match existing {
            None => {
                let hash = hash_pin(pin).await?;
                self.db
                    .write(vec![Stmt::exec(
                        "INSERT INTO pins (user_id, hash, failures, locked_until, updated_at) VALUES ($1, $2, 0, NULL, $3) ON CONFLICT (user_id) DO NOTHING",
                        vals![&who.user_id, hash, now],
                    )
                    .expect(Expect::One, "pin inserted")])
                    .await
                    .map_err(|e| match e {
                        DbError::Precondition(_) => changed_meanwhile(),
                        e => e.into(),
                    })?;
            }
            Some(old) => {
                let Some(current) = current_pin else {
                    return Err(WalletError::invalid(
                        "pin_current_required",
                        "you already have a PIN; to change it, also give the current one (current_pin)",
                        "current_pin",
                    ));
                };
                if !well_formed(current) {
                    return Err(malformed("current_pin"));
                }
                self.check_pin(&who.user_id, current, PinFrom::Api)
                    .await
                    .map_err(|e| match e.code.as_str() {
                        "pin_wrong" | "pin_locked" => e.at("current_pin"),
                        _ => e,
                    })?;
                let hash = hash_pin(pin).await?;
                // A new PIN starts every lock over: guesses at the old one say nothing of it.
                self.db
                    .write(vec![
                        Stmt::exec(
                            "UPDATE pins SET hash = $2, failures = 0, locked_until = NULL, lockouts = 0, browser_failures = 0, browser_locked_until = NULL, browser_lockouts = 0, updated_at = $3 WHERE user_id = $1 AND hash = $4",
                            vals![&who.user_id, hash, now, old],
                        )
                        .expect(Expect::One, "pin unchanged"),
                        Stmt::exec(
                            "UPDATE pin_devices SET failures = 0, locked_until = NULL, lockouts = 0 WHERE user_id = $1",
                            vals![&who.user_id],
                        ),
                    ])
                    .await
                    .map_err(|e| match e {
                        DbError::Precondition(_) => changed_meanwhile(),
                        e => e.into(),
                    })?;
            }
        }
        tracing::info!(user = %who.user_id, "PIN set");
        Ok(PinStatus {
            pin_set: true,
            locked_until: None,
        })
    }

    /// Whether the user has set a PIN.
    pub async fn has_pin(&self, user_id: &str) -> Result<bool> {
        Ok(self
            .db
            .query_opt("SELECT 1 FROM pins WHERE user_id = $1", vals![user_id])
            .await?
            .is_some())
    }

    /// The caller's PIN status (never the PIN or its hash).
    pub async fn pin_status(&self, who: &Principal) -> Result<PinStatus> {
        who.require(Scope::WalletRead)?;
        let row = self
            .db
            .query_opt(
                "SELECT locked_until, browser_locked_until FROM pins WHERE user_id = $1",
                vals![&who.user_id],
            )
            .await?;
        let now = self.now().0;
        Ok(match row {
            None => PinStatus {
                pin_set: false,
                locked_until: None,
            },
            Some(r) => PinStatus {
                pin_set: true,
                // The later of the API's lock and unknown browsers' lock (browsers the person
                // signed in on have locks of their own).
                locked_until: r
                    .opt_int(0)?
                    .max(r.opt_int(1)?)
                    .filter(|&t| t > now)
                    .map(|t| Timestamp(t).to_rfc3339()),
            },
        })
    }

    /// Check `pin` against the user's PIN, counting a wrong one towards the lock of where it
    /// was typed (`from`, module doc).
    ///
    /// `pin_not_set` (409) when there is none; `pin_locked` (403, saying until when) after
    /// [`MAX_PIN_FAILURES`] wrong ones in a row — then even the right PIN is refused there until
    /// the lock ends; `pin_wrong` (403, with the attempts left) otherwise; `pin_invalid` (400,
    /// not counted) for anything that is not 6–12 digits.
    pub(crate) async fn check_pin(
        &self,
        user_id: &str,
        pin: &str,
        from: PinFrom<'_>,
    ) -> Result<()> {
        if !well_formed(pin) {
            return Err(malformed("pin"));
        }
        let lock = self.lock_of(user_id, from).await?;
        let Some((attempt, lock)) = self.count_attempt(user_id, lock).await? else {
            burn(pin).await?;
            return Err(not_set());
        };
        if verify_pin(attempt.hash.clone(), pin).await? {
            // Right: the run of failures under this lock ends (only if the PIN is still the
            // one checked).
            let now = self.now().0;
            let reset = match &lock {
                Lock::Person => Stmt::exec(
                    "UPDATE pins SET failures = 0, locked_until = NULL, lockouts = 0, updated_at = $3 WHERE user_id = $1 AND hash = $2",
                    vals![user_id, &attempt.hash, now],
                ),
                Lock::UnknownBrowsers => Stmt::exec(
                    "UPDATE pins SET browser_failures = 0, browser_locked_until = NULL, browser_lockouts = 0, updated_at = $3 WHERE user_id = $1 AND hash = $2",
                    vals![user_id, &attempt.hash, now],
                ),
                Lock::Device(device) => Stmt::exec(
                    "UPDATE pin_devices SET failures = 0, locked_until = NULL, lockouts = 0, last_used_at = $3 WHERE token_hash = $2 AND user_id = $1",
                    vals![user_id, device, now],
                ),
            };
            self.db.write(vec![reset]).await?;
            return Ok(());
        }
        tracing::info!(user = %user_id, attempt = attempt.number, lock = lock_name(&lock), "wrong PIN");
        if let Some(until) = attempt.locks_until {
            return Err(WalletError::new(
                Kind::Forbidden,
                "pin_locked",
                format!(
                    "that PIN is wrong, and it was the {MAX_PIN_FAILURES}th wrong PIN in a row{}: PIN entry {}is locked until {}; try again after that{}",
                    match lock {
                        Lock::Person => "",
                        Lock::UnknownBrowsers => " from browsers you have not signed in on",
                        Lock::Device(_) => " on this browser",
                    },
                    if lock == Lock::Person { "" } else { "there " },
                    when(Timestamp(until)),
                    elsewhere(&lock)
                ),
            )
            .at("pin"));
        }
        let left = MAX_PIN_FAILURES.saturating_sub(attempt.number);
        Err(WalletError::new(
            Kind::Forbidden,
            "pin_wrong",
            format!(
                "that PIN is wrong; {left} more wrong {} and PIN entry locks{} for {}",
                if left == 1 { "attempt" } else { "attempts" },
                match lock {
                    Lock::Person => "",
                    Lock::UnknownBrowsers => " on browsers you have not signed in on",
                    Lock::Device(_) => " on this browser",
                },
                lock_words(attempt.next_lock_ms)
            ),
        )
        .at("pin"))
    }

    /// The lock a PIN typed `from` counts towards: a browser's device cookie names its own lock
    /// only if it is a live device of this very person.
    async fn lock_of(&self, user_id: &str, from: PinFrom<'_>) -> Result<Lock> {
        let cookie = match from {
            PinFrom::Api => return Ok(Lock::Person),
            PinFrom::Browser(None) => return Ok(Lock::UnknownBrowsers),
            PinFrom::Browser(Some(c)) => c,
        };
        if !device_shaped(cookie) {
            return Ok(Lock::UnknownBrowsers);
        }
        let hash = ids::secret_hash(cookie);
        let known = self
            .db
            .query_opt(
                "SELECT 1 FROM pin_devices WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
                vals![&hash, user_id, self.now().0],
            )
            .await?
            .is_some();
        Ok(if known {
            Lock::Device(hash)
        } else {
            Lock::UnknownBrowsers
        })
    }

    /// Remember the browser `user_id` just signed in on (with a PIN or a passkey): the device
    /// cookie to set — the one it sent, if that is already this person's live device (its
    /// year starts again), else a new one. Forgets this person's expired devices and all but
    /// the [`MAX_DEVICES`] most recently used.
    pub async fn remember_device(&self, user_id: &str, sent: Option<&str>) -> Result<String> {
        let now = self.now().0;
        let expires = now.saturating_add(DEVICE_TTL_MS);
        if let Some(c) = sent.filter(|c| device_shaped(c)) {
            let kept = self
                .db
                .write(vec![Stmt::exec(
                    "UPDATE pin_devices SET last_used_at = $3, expires_at = $4 WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
                    vals![ids::secret_hash(c), user_id, now, expires],
                )])
                .await?;
            if kept.first().is_some_and(|r| r.changed == 1) {
                return Ok(c.to_string());
            }
        }
        let secret = ids::new_secret("pwd")?;
        self.db
            .write(vec![
                Stmt::exec(
                    "INSERT INTO pin_devices (token_hash, user_id, failures, locked_until, lockouts, created_at, last_used_at, expires_at) VALUES ($1, $2, 0, NULL, 0, $3, $3, $4)",
                    vals![ids::secret_hash(&secret), user_id, now, expires],
                ),
                Stmt::exec(
                    "DELETE FROM pin_devices WHERE user_id = $1 AND (expires_at <= $2 OR token_hash NOT IN (SELECT token_hash FROM pin_devices WHERE user_id = $1 ORDER BY last_used_at DESC, created_at DESC LIMIT $3))",
                    vals![user_id, now, MAX_DEVICES],
                ),
            ])
            .await?;
        tracing::info!(user = %user_id, "browser remembered for PIN entry");
        Ok(secret)
    }

    /// Take the next attempt slot under `lock` (compare-and-set), or say why none is left.
    /// `None`: no PIN. The lock is returned as counted (a device forgotten meanwhile counts as
    /// an unknown browser).
    async fn count_attempt(
        &self,
        user_id: &str,
        mut lock: Lock,
    ) -> Result<Option<(Attempt, Lock)>> {
        for _ in 0..CAS_RETRIES {
            let row = match &lock {
                Lock::Person => {
                    self.db
                        .query_opt(
                            "SELECT hash, failures, locked_until, lockouts FROM pins WHERE user_id = $1",
                            vals![user_id],
                        )
                        .await?
                }
                Lock::UnknownBrowsers => {
                    self.db
                        .query_opt(
                            "SELECT hash, browser_failures, browser_locked_until, browser_lockouts FROM pins WHERE user_id = $1",
                            vals![user_id],
                        )
                        .await?
                }
                Lock::Device(device) => {
                    self.db
                        .query_opt(
                            "SELECT p.hash, d.failures, d.locked_until, d.lockouts FROM pins p LEFT JOIN pin_devices d ON d.token_hash = $2 AND d.user_id = p.user_id WHERE p.user_id = $1",
                            vals![user_id, device],
                        )
                        .await?
                }
            };
            let Some(row) = row else {
                return Ok(None);
            };
            let hash = row.text(0)?;
            let Some(failures) = row.opt_int(1)? else {
                // The device was forgotten since it was looked up.
                lock = Lock::UnknownBrowsers;
                continue;
            };
            let (locked_until, lockouts) = (row.opt_int(2)?, row.int(3)?);
            let now = self.now().0;
            if let Some(until) = locked_until.filter(|&u| u > now) {
                return Err(locked(until, &lock));
            }
            // A lock that has run out starts a fresh run of guesses; the next lock lasts
            // longer (`lockouts` counts the locks since the last right PIN).
            let before = if locked_until.is_some() { 0 } else { failures };
            let number = before.saturating_add(1);
            let lock_len = lock_ms(lockouts);
            let locks = number >= MAX_PIN_FAILURES;
            let locks_until = locks.then(|| now.saturating_add(lock_len));
            let lockouts_after = if locks {
                lockouts.saturating_add(1)
            } else {
                lockouts
            };
            let seen_until = locked_until.unwrap_or(-1);
            let count = match &lock {
                Lock::Person => Stmt::exec(
                    "UPDATE pins SET failures = $2, locked_until = $3, updated_at = $4, lockouts = $8 WHERE user_id = $1 AND hash = $5 AND failures = $6 AND COALESCE(locked_until, -1) = $7 AND lockouts = $9",
                    vals![user_id, number, locks_until, now, &hash, failures, seen_until, lockouts_after, lockouts],
                ),
                Lock::UnknownBrowsers => Stmt::exec(
                    "UPDATE pins SET browser_failures = $2, browser_locked_until = $3, updated_at = $4, browser_lockouts = $8 WHERE user_id = $1 AND hash = $5 AND browser_failures = $6 AND COALESCE(browser_locked_until, -1) = $7 AND browser_lockouts = $9",
                    vals![user_id, number, locks_until, now, &hash, failures, seen_until, lockouts_after, lockouts],
                ),
                Lock::Device(device) => Stmt::exec(
                    "UPDATE pin_devices SET failures = $2, locked_until = $3, last_used_at = $4, lockouts = $8 WHERE user_id = $1 AND token_hash = $10 AND EXISTS (SELECT 1 FROM pins WHERE user_id = $1 AND hash = $5) AND failures = $6 AND COALESCE(locked_until, -1) = $7 AND lockouts = $9",
                    vals![user_id, number, locks_until, now, &hash, failures, seen_until, lockouts_after, lockouts, device],
                ),
            };
            let counted = self
                .db
                .write(vec![count.expect(Expect::One, "pin attempt counted")])
                .await;
            match counted {
                Ok(_) => {
                    return Ok(Some((
                        Attempt {
                            hash,
                            number,
                            locks_until,
                            next_lock_ms: lock_len,
                        },
                        lock,
                    )))
                }
                // Another check counted first: read again and take the next slot.
                Err(DbError::Precondition(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(WalletError::conflict(
            "pin_busy",
            "too many PIN checks for this person are running at once; wait a moment and try again",
        ))
    }
}

/// Whether a cookie value could be a device token (`pwd_…`, bounded) before it is hashed.
fn device_shaped(cookie: &str) -> bool {
    cookie.starts_with("pwd_")
        && cookie.len() <= 100
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The lock's name in the log (never the device's token or hash).
fn lock_name(lock: &Lock) -> &'static str {
    match lock {
        Lock::Person => "person",
        Lock::UnknownBrowsers => "unknown_browsers",
        Lock::Device(_) => "device",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lock_in_a_run_lasts_twice_the_one_before_up_to_a_day() {
        let minutes: Vec<i64> = (0..10).map(|n| lock_ms(n) / 60_000).collect();
        assert_eq!(minutes, [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]);
        assert_eq!(lock_ms(-3), PIN_LOCK_MS);
        assert_eq!(lock_ms(i64::MAX), PIN_LOCK_MAX_MS);
        assert_eq!(lock_words(lock_ms(0)), "15 minutes");
        assert_eq!(lock_words(lock_ms(2)), "1 hour");
        assert_eq!(lock_words(lock_ms(9)), "24 hours");
    }

    #[test]
    fn pins_have_six_to_twelve_digits_and_no_obvious_pattern() {
        for ok in ["482915", "90817263", "703194628517", "135792", "246801"] {
            assert!(check_new_pin(ok).is_ok(), "{ok}");
        }
        for (bad, code) in [
            ("", "pin_invalid"),
            ("12345", "pin_invalid"),
            ("1234567890123", "pin_invalid"),
            ("48291a", "pin_invalid"),
            (" 482915", "pin_invalid"),
            ("４８２９１５", "pin_invalid"),
            ("000000", "pin_too_simple"),
            ("999999999", "pin_too_simple"),
            ("123456", "pin_too_simple"),
            ("0123456789", "pin_too_simple"),
            ("654321", "pin_too_simple"),
            ("121212", "pin_too_simple"),
            ("123123", "pin_too_simple"),
            ("112233", "pin_too_simple"),
        ] {
            assert_eq!(
                check_new_pin(bad).map_err(|e| e.code),
                Err(code.to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lock_times_read_as_a_person_would_write_them() {
        assert_eq!(when(Timestamp(0)), "1970-01-01 00:00 UTC");
    }
}
