//! Every state change of a payment is an event: a row in `events` (the task's timeline) and,
//! in the same transaction, one `deliveries` row per webhook recipient (the durable outbox).
//! The merchant hears about what concerns it (upcoming and missed scheduled charges, approved, captured,
//! voided, refunded, expired); the agent, when it registered a webhook, about everything of its payments.

use purser_core::Timestamp;
use purser_store::db::Stmt;
use purser_store::vals;
use serde_json::Value;

use crate::error::Result;
use crate::ids;
use crate::Wallet;

/// Event types a merchant receives.
const MERCHANT_EVENTS: [&str; 7] = [
    "payment.upcoming",
    // A scheduled charge it was told of that will not come (Token Pay's catch-up window).
    "payment.missed",
    "payment.approved",
    "payment.captured",
    "payment.voided",
    "payment.refunded",
    "payment.expired",
];

/// What happened, to whom.
pub(crate) struct NewEvent<'a> {
    pub kind: &'a str,
    pub user_id: &'a str,
    pub agent_id: &'a str,
    pub merchant_id: &'a str,
    pub payment_id: &'a str,
    pub task_id: &'a str,
    pub data: Value,
}

impl Wallet {
    /// The statements that record `ev` and queue its deliveries. Part of the caller's write.
    pub(crate) fn event_stmts(&self, ev: &NewEvent<'_>, at: Timestamp) -> Result<Vec<Stmt>> {
        let id = ids::new_id("evt")?;
        let mut out = vec![Stmt::exec(
            "INSERT INTO events (id, type, user_id, agent_id, merchant_id, payment_id, task_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vals![&id, ev.kind, ev.user_id, ev.agent_id, ev.merchant_id, ev.payment_id, ev.task_id, ev.data.to_string(), at.0],
        )];
        out.push(Stmt::exec(
            "INSERT INTO deliveries (event_id, target, url, status, attempts, next_at) SELECT $1, 'agent:' || agent_id, url, 'pending', 0, $2 FROM agent_webhooks WHERE agent_id = $3",
            vals![&id, at.0, ev.agent_id],
        ));
        if MERCHANT_EVENTS.contains(&ev.kind) {
            out.push(Stmt::exec(
                "INSERT INTO deliveries (event_id, target, url, status, attempts, next_at) SELECT $1, 'merchant:' || id, webhook_url, 'pending', 0, $2 FROM merchants WHERE id = $3 AND webhook_url IS NOT NULL",
                vals![&id, at.0, ev.merchant_id],
            ));
        }
        Ok(out)
    }
}

impl Wallet {
    /// Tell the outbox worker there is something to deliver.
    pub(crate) fn outbox_nudge(&self) {
        self.outbox_wake();
    }
}
