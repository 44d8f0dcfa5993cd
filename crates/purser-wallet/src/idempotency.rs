//! Idempotency-Key: the same key and body replays the first answer; the same key with another
//! body is refused (`idempotency_conflict`, 422); a request still being processed under the
//! key is refused (`idempotency_in_flight`, 409) so it is never applied twice.
//!
//! Keys are scoped to the caller and the route. The first answer is kept for
//! [`KEEP_ANSWERS_MS`]; handlers also derive the ids they create from the key, so a request
//! re-run after a crash between "applied" and "answer stored" converges on the same records.

use purser_core::Timestamp;
use purser_store::db::{Db, DbError, Stmt};
use purser_store::vals;

use crate::error::{Kind, Result, WalletError};

/// Longest key accepted (ACP: "max 255 characters").
pub const MAX_KEY_LEN: usize = 255;

/// A request under a key left unfinished this long (its process died) may be taken over by a
/// retry. Longer than any request can take (the store's statement timeout is 30 s).
pub const IN_FLIGHT_TAKEOVER_MS: i64 = 60_000;

/// How long answers are kept for replay: a day, like the payment APIs agents already use.
pub const KEEP_ANSWERS_MS: i64 = 24 * 60 * 60 * 1000;

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// First time (or a takeover): run it, then [`finish`] with this claim time, so a
    /// request that was taken over cannot overwrite its successor's answer.
    Fresh { claimed_at: Timestamp },
    /// Seen and answered: send this again.
    Replay { status: u16, body: String },
}

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(WalletError::invalid(
            "idempotency_key_invalid",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is ideal)"),
            "Idempotency-Key",
        ));
    }
    Ok(())
}

pub async fn begin(db: &Db, scope: &str, key: &str, hash: &str, now: Timestamp) -> Result<Begin> {
    check_key(key)?;
    let claimed = db
        .write(vec![Stmt::exec(
            "INSERT INTO idempotency (scope, key, request_hash, state, created_at) VALUES ($1, $2, $3, 'started', $4) ON CONFLICT DO NOTHING",
            vals![scope, key, hash, now.0],
        )])
        .await?;
    if claimed.first().is_some_and(|r| r.changed == 1) {
        return Ok(Begin::Fresh { claimed_at: now });
    }
    let row = db
        .query_opt(
            "SELECT request_hash, state, status, body, created_at FROM idempotency WHERE scope = $1 AND key = $2",
            vals![scope, key],
        )
        .await?;
    let Some(row) = row else {
        // Swept between the insert and the read (it was old): ask for a retry.
        return Err(in_flight());
    };
    if !crate::ids::constant_time_eq(row.text(0)?.as_bytes(), hash.as_bytes()) {
        return Err(WalletError::new(
            Kind::Unprocessable,
            "idempotency_conflict",
            "this Idempotency-Key was already used with a different request body; use a new key for a new request",
        )
        .at("Idempotency-Key"));
    }
    match (row.text(1)?.as_str(), row.opt_int(2)?, row.opt_text(3)?) {
        ("done", Some(status), Some(body)) => Ok(Begin::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }),
        _ => {
            let started = row.int(4)?;
            if now.0.saturating_sub(started) < IN_FLIGHT_TAKEOVER_MS {
                return Err(in_flight());
            }
            // Its process died mid-request. Take it over (once: the first retry to move the
            // start time wins).
            let took = db
                .write(vec![Stmt::exec(
                    "UPDATE idempotency SET created_at = $3 WHERE scope = $1 AND key = $2 AND state = 'started' AND created_at = $4",
                    vals![scope, key, now.0, started],
                )
                .expect(purser_store::db::Expect::One, "takeover")])
                .await;
            match took {
                Ok(_) => Ok(Begin::Fresh { claimed_at: now }),
                Err(DbError::Precondition(_)) => Err(in_flight()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Keep the answer for replays. Only answers that reflect a decision are kept: a 5xx means
/// nothing was decided, so the key is released for a retry.
pub async fn finish(
    db: &Db,
    scope: &str,
    key: &str,
    claimed_at: Timestamp,
    status: u16,
    body: &str,
) -> Result<()> {
    if status >= 500 {
        db.write(vec![Stmt::exec(
            "DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND state = 'started' AND created_at = $3",
            vals![scope, key, claimed_at.0],
        )])
        .await?;
        return Ok(());
    }
    db.write(vec![Stmt::exec(
        "UPDATE idempotency SET state = 'done', status = $3, body = $4 WHERE scope = $1 AND key = $2 AND state = 'started' AND created_at = $5",
        vals![scope, key, i64::from(status), body, claimed_at.0],
    )])
    .await?;
    Ok(())
}

/// Forget answers older than [`KEEP_ANSWERS_MS`].
pub async fn sweep(db: &Db, now: Timestamp) -> Result<u64> {
    let r = db
        .write(vec![Stmt::exec(
            "DELETE FROM idempotency WHERE created_at < $1",
            vals![now.0.saturating_sub(KEEP_ANSWERS_MS)],
        )])
        .await?;
    Ok(r.first().map_or(0, |r| r.changed))
}

fn in_flight() -> WalletError {
    WalletError::conflict(
        "idempotency_in_flight",
        "a request with this Idempotency-Key is still being processed; retry in a second",
    )
    .at("Idempotency-Key")
}
