//! Payments the clock or a crash left open: expired credentials and confirmations, requests
//! interrupted while deciding, captures, endings and refunds interrupted half-way. Every step
//! it takes is one the interrupted request would have taken, and each is idempotent, so two
//! nodes sweeping at once, or a sweep racing a late request, converge on one outcome.

use purser_store::vals;

use super::STALE_MS;
use crate::error::Result;
use crate::Wallet;

// The sweeper's reads. Each is an index range bounded by the work due (see the query-plan
// test, `HOT_QUERIES`): a pass costs the same however many payments are open.
pub const SQL_DECIDING: &str = "SELECT id FROM payments WHERE status = 'deciding' AND updated_at < $1 ORDER BY updated_at LIMIT $2";
pub const SQL_CAPTURING: &str = "SELECT id FROM payments WHERE status = 'capturing' AND updated_at < $1 ORDER BY updated_at LIMIT $2";
pub const SQL_ENDING: &str = "SELECT id FROM payments WHERE status = 'ending' AND updated_at < $1 ORDER BY updated_at LIMIT $2";
pub const SQL_REFUNDING: &str = "SELECT id FROM payment_refunds WHERE status = 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2";
/// From the frozen bindings to their open payments (bindings_frozen, payments_open_binding).
/// CROSS JOIN keeps that order on SQLite; PostgreSQL plans it from its statistics.
pub const SQL_FROZEN_BINDINGS: &str = "SELECT p.id FROM bindings b CROSS JOIN payments p WHERE p.binding_id = b.id AND b.frozen = 1 AND p.status IN ('approved', 'needs_confirmation') LIMIT $1";
/// From the bindings revoked since `$1` to their open payments (bindings_revoked): a revoked
/// binding's payments all end by expiry within [`REVOKED_SWEEP_MS`], so older ones are not read.
pub const SQL_REVOKED_BINDINGS: &str = "SELECT p.id FROM bindings b CROSS JOIN payments p WHERE p.binding_id = b.id AND b.status = 'revoked' AND b.decided_at > $1 AND p.status IN ('approved', 'needs_confirmation') LIMIT $2";
/// One page of held charges after the cursor `($1, $2)` = (updated_at, payment_id), older than
/// `$3` (mandate_charges_status, covering).
pub const SQL_HELD_CHARGES: &str = "SELECT c.payment_id, c.updated_at, p.status FROM mandate_charges c JOIN payments p ON p.id = c.payment_id WHERE c.status = 'held' AND (c.updated_at, c.payment_id) > ($1, $2) AND c.updated_at < $3 ORDER BY c.updated_at, c.payment_id LIMIT $4";
/// payments_credential_due: the expired ones first, nothing else read.
pub const SQL_CREDENTIALS_DUE: &str = "SELECT id FROM payments WHERE status = 'approved' AND credential_expires_at < $1 ORDER BY credential_expires_at LIMIT $2";
/// confirmations_due: a pending confirmation's payment waits for it (a decline ends the payment
/// in the same write), so the expired pending ones are the payments to end.
pub const SQL_CONFIRMATIONS_DUE: &str = "SELECT c.payment_id FROM confirmations c JOIN payments p ON p.id = c.payment_id WHERE c.status = 'pending' AND c.expires_at < $1 AND p.status = 'needs_confirmation' ORDER BY c.expires_at LIMIT $2";

/// A frozen or unbound agent's open payments (payments_open_binding).
pub const SQL_BINDING_OPEN: &str = "SELECT id FROM payments WHERE binding_id = $1 AND status IN ('approved', 'needs_confirmation') LIMIT 10000";

/// Rows looked at per kind per pass.
const SWEEP_LIMIT: i64 = 200;
/// Held charges looked at per pass for ones whose payment ended without releasing them.
const ORPHAN_PAGE: i64 = 1000;
/// How long after a revocation the sweeper still looks for the binding's open payments: by
/// then every one has ended by itself (a credential lives at most a day, a confirmation is
/// answered before its payment's credential starts, and nothing is approved after the
/// revocation), twice over.
pub const REVOKED_SWEEP_MS: i64 = 2 * super::MAX_CREDENTIAL_TTL_MS;

impl Wallet {
    /// One pass of the payment sweeper; how many payments it moved on.
    pub(crate) async fn sweep_payments(&self) -> Result<usize> {
        let now = self.now().0;
        let stale = now.saturating_sub(STALE_MS);
        let mut n = 0;
        // Interrupted while deciding: the agent never had an answer.
        for id in self.ids_where(SQL_DECIDING, stale).await? {
            if self
                .end_payment(&id, &["deciding"], "failed", "interrupted")
                .await?
            {
                n += 1;
            }
        }
        for id in self.ids_where(SQL_CAPTURING, stale).await? {
            if let Err(e) = self.finish_capture(&id).await {
                tracing::warn!(payment = %id, code = %e.code, "could not finish an interrupted capture");
            }
            n += 1;
        }
        for id in self.ids_where(SQL_ENDING, stale).await? {
            self.finish_end(&id).await?;
            n += 1;
        }
        for id in self.ids_where(SQL_REFUNDING, stale).await? {
            if let Err(e) = self.finish_refund(&id).await {
                tracing::warn!(refund = %id, code = %e.code, "could not finish an interrupted refund");
            }
            n += 1;
        }
        // Open payments of agents frozen or unbound (a crash after the freeze, before the voids).
        let mut closed = self.ids(SQL_FROZEN_BINDINGS).await?;
        closed.extend(
            self.ids_where(SQL_REVOKED_BINDINGS, now.saturating_sub(REVOKED_SWEEP_MS))
                .await?,
        );
        for id in closed {
            if self
                .end_payment(
                    &id,
                    &["approved", "needs_confirmation"],
                    "voided",
                    "agent_frozen",
                )
                .await?
            {
                n += 1;
            }
        }
        // Charges and holds left behind by a request that ended without them (a late request
        // finishing after the sweeper failed it, then crashing before undoing them). Charges
        // still `charging` are released by the stale-charge sweep; held ones are read a page
        // per pass from where the last pass stopped, so a pass costs the same however many
        // payments are open, and every held charge is looked at again within a full cycle.
        for id in self.orphaned_charges(stale).await? {
            self.void_payment_hold(&id).await?;
            if self.release_mandate_charge(&id).await? {
                n += 1;
            }
        }
        // Credentials and confirmations past their time.
        for id in self.ids_where(SQL_CREDENTIALS_DUE, now).await? {
            if self
                .end_payment(&id, &["approved"], "expired", "credential_expired")
                .await?
            {
                n += 1;
            }
        }
        for id in self.ids_where(SQL_CONFIRMATIONS_DUE, now).await? {
            if self
                .end_payment(
                    &id,
                    &["needs_confirmation"],
                    "expired",
                    "confirmation_expired",
                )
                .await?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Held charges whose payment has ended, from one page of held charges: the page after
    /// the one the last pass read (by `updated_at`, then payment id), starting over once a
    /// page comes back short.
    async fn orphaned_charges(&self, stale: i64) -> Result<Vec<String>> {
        let (at, after) = self
            .orphan_cursor
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let rows = self
            .db
            .query(SQL_HELD_CHARGES, vals![at, &after, stale, ORPHAN_PAGE])
            .await?;
        let mut ended = Vec::new();
        let mut last = (at, after);
        for r in &rows {
            last = (r.int(1)?, r.text(0)?);
            if matches!(
                r.text(2)?.as_str(),
                "failed" | "voided" | "expired" | "declined"
            ) {
                ended.push(r.text(0)?);
            }
        }
        // A full page: go on after its last charge next pass. A short one: the cycle is done.
        let next = if i64::try_from(rows.len()).unwrap_or(i64::MAX) < ORPHAN_PAGE {
            (i64::MIN, String::new())
        } else {
            last
        };
        if let Ok(mut c) = self.orphan_cursor.lock() {
            *c = next;
        }
        Ok(ended)
    }

    async fn ids(&self, sql: &str) -> Result<Vec<String>> {
        self.db
            .query(sql, vals![SWEEP_LIMIT])
            .await?
            .iter()
            .map(|r| r.text(0).map_err(Into::into))
            .collect()
    }

    async fn ids_where(&self, sql: &str, at: i64) -> Result<Vec<String>> {
        self.db
            .query(sql, vals![at, SWEEP_LIMIT])
            .await?
            .iter()
            .map(|r| r.text(0).map_err(Into::into))
            .collect()
    }

    /// Void every open payment of one binding (the user froze or unbound the agent): its holds
    /// are released and its unredeemed credentials stop working.
    pub(crate) async fn end_binding_payments(
        &self,
        binding_id: &str,
        reason: &str,
    ) -> Result<usize> {
        let rows = self.db.query(SQL_BINDING_OPEN, vals![binding_id]).await?;
        let mut n = 0;
        for r in &rows {
            let id = r.text(0)?;
            if self
                .end_payment(&id, &["approved", "needs_confirmation"], "voided", reason)
                .await?
            {
                n += 1;
            }
        }
        Ok(n)
    }
}
