//! Webhook recipients' side of the outbox: agents register (and replace, and remove) their
//! webhook; merchants see their deliveries and re-queue failed ones.
//!
//! An agent's webhook secret (`whsec_…`) is shown once, when it is made, and kept sealed in the
//! vault (Purser needs it to sign every delivery). Replacing the webhook makes a new secret
//! and destroys the old record in the same write; removing it ends the deliveries still
//! pending for the agent (`failed`, with the reason), in the same write too.

use purser_core::Timestamp;
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::error::{Kind, Result, WalletError};
use crate::ids::{self, check_id};
use crate::merchants::{check_webhook_url, MerchantCaller};
use crate::{AgentCaller, Wallet};

/// Most deliveries one listing returns.
pub const MAX_DELIVERIES_PAGE: i64 = 200;

/// Deliveries a listing returns unless asked for another number.
pub const DEFAULT_DELIVERIES_PAGE: i64 = 50;

/// Compare-and-set rounds before a webhook change gives up (only concurrent changes of one
/// agent's webhook make a round fail).
const SET_ROUNDS: usize = 3;

/// An agent's webhook, without its secret.
#[derive(Clone, Debug, Serialize)]
pub struct AgentWebhook {
    pub agent_id: String,
    pub url: String,
    pub created_at: String,
}

/// A new agent webhook and its secret, shown once.
#[derive(Debug, Serialize)]
pub struct CreatedAgentWebhook {
    #[serde(flatten)]
    pub webhook: AgentWebhook,
    /// The key for checking `Merchant-Signature` on deliveries. Shown once.
    pub secret: String,
}

/// One event's delivery to one recipient, as the recipient sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// The event id (`evt_…`); also sent as `Purser-Event-Id`.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// Why the last attempt failed, when it did.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    pub url: String,
    /// When the event happened.
    pub created_at: String,
}

const DELIVERY_COLUMNS: &str = "SELECT d.event_id, e.type, d.status, d.attempts, d.last_error, d.next_at, d.delivered_at, d.url, e.created_at FROM deliveries d JOIN events e ON e.id = d.event_id";

fn delivery_from(r: &Row) -> Result<Delivery> {
    let status = r.text(2)?;
    Ok(Delivery {
        event_id: r.text(0)?,
        kind: r.text(1)?,
        attempts: r.int(3)?,
        last_error: r.opt_text(4)?,
        next_attempt_at: (status == "pending")
            .then(|| Timestamp(r.int(5).unwrap_or(0)).to_rfc3339()),
        delivered_at: r.opt_int(6)?.map(|t| Timestamp(t).to_rfc3339()),
        url: r.text(7)?,
        created_at: Timestamp(r.int(8)?).to_rfc3339(),
        status,
    })
}

fn webhook_missing() -> WalletError {
    WalletError::new(
        Kind::NotFound,
        "webhook_not_found",
        "this agent has no webhook; set one with POST /v1/agent/webhook {\"url\": …}",
    )
}

fn busy() -> WalletError {
    WalletError::conflict(
        "webhook_busy",
        "this agent's webhook was being changed by another request at the same time; retry",
    )
}

impl Wallet {
    /// Set or replace the signed-in agent's webhook URL. A fresh secret is made each time and
    /// returned once; the previous one stops working at once.
    pub async fn set_agent_webhook(
        &self,
        agent: &AgentCaller,
        url: &str,
    ) -> Result<CreatedAgentWebhook> {
        check_webhook_url(url).map_err(|e| e.at("url"))?;
        for _ in 0..SET_ROUNDS {
            let old = self.agent_webhook_record(&agent.agent_id).await?;
            let secret = ids::new_secret("whsec")?;
            let record = format!(
                "vlt_awh_{}_{}",
                agent.agent_id.get(4..).unwrap_or_default(),
                ids::base32_of(&ids::random_bytes::<10>()?, 16)
            );
            let now = self.now();
            let mut stmts = vec![self.seal_record(&record, secret.as_bytes())?];
            match &old {
                Some(old) => {
                    stmts.push(
                        Stmt::exec(
                            "UPDATE agent_webhooks SET url = $1, secret_record = $2, created_at = $3 WHERE agent_id = $4 AND secret_record = $5",
                            vals![url, &record, now.0, &agent.agent_id, old],
                        )
                        .expect(Expect::One, "webhook_changed"),
                    );
                    stmts.push(Wallet::delete_record(old));
                }
                None => stmts.push(Stmt::exec(
                    "INSERT INTO agent_webhooks (agent_id, url, secret_record, created_at) VALUES ($1, $2, $3, $4)",
                    vals![&agent.agent_id, url, &record, now.0],
                )),
            }
            match self.db.write(stmts).await {
                Ok(_) => {
                    tracing::info!(agent = %agent.agent_id, "agent webhook set");
                    return Ok(CreatedAgentWebhook {
                        webhook: AgentWebhook {
                            agent_id: agent.agent_id.clone(),
                            url: url.to_string(),
                            created_at: now.to_rfc3339(),
                        },
                        secret,
                    });
                }
                Err(DbError::Precondition(_) | DbError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// The signed-in agent's webhook (never its secret).
    pub async fn agent_webhook(&self, agent: &AgentCaller) -> Result<AgentWebhook> {
        let r = self
            .db
            .query_opt(
                "SELECT url, created_at FROM agent_webhooks WHERE agent_id = $1",
                vals![&agent.agent_id],
            )
            .await?
            .ok_or_else(webhook_missing)?;
        Ok(AgentWebhook {
            agent_id: agent.agent_id.clone(),
            url: r.text(0)?,
            created_at: Timestamp(r.int(1)?).to_rfc3339(),
        })
    }

    /// Remove the signed-in agent's webhook: its secret is destroyed and deliveries still
    /// pending for it end as `failed`. Returns the webhook as it was.
    pub async fn remove_agent_webhook(&self, agent: &AgentCaller) -> Result<AgentWebhook> {
        for _ in 0..SET_ROUNDS {
            let current = self.agent_webhook(agent).await?;
            let Some(record) = self.agent_webhook_record(&agent.agent_id).await? else {
                return Err(webhook_missing());
            };
            let target = format!("agent:{}", agent.agent_id);
            let r = self
                .db
                .write(vec![
                    Stmt::exec(
                        "DELETE FROM agent_webhooks WHERE agent_id = $1 AND secret_record = $2",
                        vals![&agent.agent_id, &record],
                    )
                    .expect(Expect::One, "webhook_changed"),
                    Wallet::delete_record(&record),
                    Stmt::exec(
                        "UPDATE deliveries SET status = 'failed', last_error = 'the agent removed its webhook' WHERE target = $1 AND status = 'pending'",
                        vals![&target],
                    ),
                ])
                .await;
            match r {
                Ok(_) => {
                    tracing::info!(agent = %agent.agent_id, "agent webhook removed");
                    return Ok(current);
                }
                Err(DbError::Precondition(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    async fn agent_webhook_record(&self, agent_id: &str) -> Result<Option<String>> {
        Ok(self
            .db
            .query_opt(
                "SELECT secret_record FROM agent_webhooks WHERE agent_id = $1",
                vals![agent_id],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?)
    }

    /// The merchant's deliveries, most recently attempted (or due) first, optionally only
    /// those in one status.
    pub async fn merchant_deliveries(
        &self,
        m: &MerchantCaller,
        status: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<Delivery>> {
        let limit = match limit {
            None => DEFAULT_DELIVERIES_PAGE,
            Some(n) if (1..=MAX_DELIVERIES_PAGE).contains(&n) => n,
            Some(_) => {
                return Err(WalletError::invalid(
                    "limit_invalid",
                    format!("limit is a number from 1 to {MAX_DELIVERIES_PAGE}"),
                    "limit",
                ))
            }
        };
        let target = format!("merchant:{}", m.merchant_id);
        let rows = match status {
            None => {
                self.db
                    .query(
                        &format!("{DELIVERY_COLUMNS} WHERE d.target = $1 ORDER BY d.next_at DESC, d.event_id LIMIT $2"),
                        vals![&target, limit],
                    )
                    .await?
            }
            Some(s @ ("pending" | "delivered" | "failed")) => {
                self.db
                    .query(
                        &format!("{DELIVERY_COLUMNS} WHERE d.target = $1 AND d.status = $2 ORDER BY d.next_at DESC, d.event_id LIMIT $3"),
                        vals![&target, s, limit],
                    )
                    .await?
            }
            Some(_) => {
                return Err(WalletError::invalid(
                    "status_invalid",
                    "status is one of pending, delivered or failed",
                    "status",
                ))
            }
        };
        rows.iter().map(delivery_from).collect()
    }

    /// Re-queue one of the merchant's failed deliveries: it is sent again now, with a fresh
    /// attempt budget.
    pub async fn retry_merchant_delivery(
        &self,
        m: &MerchantCaller,
        event_id: &str,
    ) -> Result<Delivery> {
        check_id("evt", event_id, "event_id")?;
        let target = format!("merchant:{}", m.merchant_id);
        // Another merchant's delivery (or none) is "not found" before anything else is said.
        self.merchant_delivery(&target, event_id).await?;
        let has_url = self
            .db
            .query_opt(
                "SELECT 1 FROM merchants WHERE id = $1 AND webhook_url IS NOT NULL",
                vals![&m.merchant_id],
            )
            .await?
            .is_some();
        if !has_url {
            return Err(WalletError::conflict(
                "webhook_url_missing",
                "this merchant has no webhook URL, so there is nowhere to send the event; ask the operator to set one",
            ));
        }
        let r = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = $1 WHERE event_id = $2 AND target = $3 AND status = 'failed'",
                vals![self.now().0, event_id, &target],
            )
            .expect(Expect::One, "not_failed")])
            .await;
        match r {
            Ok(_) => {}
            Err(DbError::Precondition(_)) => {
                let d = self.merchant_delivery(&target, event_id).await?;
                return Err(WalletError::conflict(
                    "delivery_not_failed",
                    format!(
                        "the delivery of {event_id} is {}; only failed deliveries are re-queued (pending ones are retried on their own)",
                        d.status
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(event = %event_id, target = %target, "webhook delivery re-queued by its merchant");
        self.outbox_wake();
        self.merchant_delivery(&target, event_id).await
    }

    async fn merchant_delivery(&self, target: &str, event_id: &str) -> Result<Delivery> {
        let r = self
            .db
            .query_opt(
                &format!("{DELIVERY_COLUMNS} WHERE d.event_id = $1 AND d.target = $2"),
                vals![event_id, target],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("delivery", event_id))?;
        delivery_from(&r)
    }
}
