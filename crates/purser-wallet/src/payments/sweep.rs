//! Payments the clock or a crash left open: expired credentials and confirmations, requests
//! interrupted while deciding, captures, endings and refunds interrupted half-way. Every step
//! it takes is one the interrupted request would have taken, and each is idempotent, so two
//! nodes sweeping at once, or a sweep racing a late request, converge on one outcome.

use purser_store::vals;

use super::STALE_MS;
use crate::error::Result;
use crate::Wallet;

/// Rows looked at per kind per pass.
const SWEEP_LIMIT: i64 = 200;

impl Wallet {
    /// One pass of the payment sweeper; how many payments it moved on.
    pub(crate) async fn sweep_payments(&self) -> Result<usize> {
        let now = self.now().0;
        let stale = now.saturating_sub(STALE_MS);
        let mut n = 0;
        // Interrupted while deciding: the agent never had an answer.
        for id in self
            .ids_where(
                "SELECT id FROM payments WHERE status = 'deciding' AND updated_at < $1 ORDER BY updated_at LIMIT $2",
                stale,
            )
            .await?
        {
            if self
                .end_payment(&id, &["deciding"], "failed", "interrupted")
                .await?
            {
                n += 1;
            }
        }
        for id in self
            .ids_where(
                "SELECT id FROM payments WHERE status = 'capturing' AND updated_at < $1 ORDER BY updated_at LIMIT $2",
                stale,
            )
            .await?
        {
            if let Err(e) = self.finish_capture(&id).await {
                tracing::warn!(payment = %id, code = %e.code, "could not finish an interrupted capture");
            }
            n += 1;
        }
        for id in self
            .ids_where(
                "SELECT id FROM payments WHERE status = 'ending' AND updated_at < $1 ORDER BY updated_at LIMIT $2",
                stale,
            )
            .await?
        {
            self.finish_end(&id).await?;
            n += 1;
        }
        for id in self
            .ids_where(
                "SELECT id FROM payment_refunds WHERE status = 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2",
                stale,
            )
            .await?
        {
            if let Err(e) = self.finish_refund(&id).await {
                tracing::warn!(refund = %id, code = %e.code, "could not finish an interrupted refund");
            }
            n += 1;
        }
        // Open payments of agents frozen or unbound (a crash after the freeze, before the voids).
        for id in self
            .ids_where(
                "SELECT p.id FROM payments p JOIN bindings b ON b.id = p.binding_id WHERE p.status IN ('approved', 'needs_confirmation') AND (b.frozen = 1 OR b.status <> 'active') AND p.updated_at < $1 LIMIT $2",
                now,
            )
            .await?
        {
            if self
                .end_payment(&id, &["approved", "needs_confirmation"], "voided", "agent_frozen")
                .await?
            {
                n += 1;
            }
        }
        // Charges and holds left behind by a request that ended without them (a late request
        // finishing after the sweeper failed it, then crashing before undoing them).
        for id in self
            .ids_where(
                "SELECT c.payment_id FROM mandate_charges c JOIN payments p ON p.id = c.payment_id WHERE c.status IN ('charging', 'held') AND p.status IN ('failed', 'voided', 'expired', 'declined') AND c.updated_at < $1 LIMIT $2",
                stale,
            )
            .await?
        {
            self.void_payment_hold(&id).await?;
            if self.release_mandate_charge(&id).await? {
                n += 1;
            }
        }
        // Credentials and confirmations past their time.
        for id in self
            .ids_where(
                "SELECT id FROM payments WHERE status = 'approved' AND credential_expires_at < $1 ORDER BY credential_expires_at LIMIT $2",
                now,
            )
            .await?
        {
            if self
                .end_payment(&id, &["approved"], "expired", "credential_expired")
                .await?
            {
                n += 1;
            }
        }
        for id in self
            .ids_where(
                "SELECT p.id FROM payments p JOIN confirmations c ON c.payment_id = p.id WHERE p.status = 'needs_confirmation' AND c.expires_at < $1 ORDER BY c.expires_at LIMIT $2",
                now,
            )
            .await?
        {
            if self
                .end_payment(&id, &["needs_confirmation"], "expired", "confirmation_expired")
                .await?
            {
                n += 1;
            }
        }
        Ok(n)
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
        let rows = self
            .db
            .query(
                "SELECT id FROM payments WHERE binding_id = $1 AND status IN ('approved', 'needs_confirmation') LIMIT 10000",
                vals![binding_id],
            )
            .await?;
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
