//! The Live tasks overview: each of the person's agent tasks with what it paid so far, what is
//! still held for it, and its latest event — three queries whatever the number of tasks.

use std::collections::HashMap;

use purser_core::Money;
use purser_store::db::Val;
use purser_store::vals;
use serde::Serialize;

use super::bills::{event_from, TimelineEvent, EVENT_COLUMNS};
use super::views::currency_of;
use crate::access::{Principal, Scope};
use crate::error::Result;
use crate::funds::Shown;
use crate::Wallet;

/// Most tasks one overview lists.
pub const MAX_TASKS: i64 = 100;

/// One agent's task as the Live tasks page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskOverview {
    pub task_id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub payments: i64,
    /// The newest activity: the later of the last payment change and the latest event.
    pub last_activity_ms: i64,
    /// Captured minus refunded, per currency (currencies with nothing paid left out).
    pub paid: Vec<Shown>,
    /// Approved or waiting for the person, not yet captured, per currency.
    pub held: Vec<Shown>,
    /// The task's latest event for this agent, if any was recorded.
    pub latest: Option<TimelineEvent>,
}

/// `$from, $from+1, …` for `n` parameters.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Wallet {
    /// The person's agent tasks, newest activity first, with amounts and latest events.
    pub async fn task_overviews(
        &self,
        who: &Principal,
        limit: Option<i64>,
    ) -> Result<Vec<TaskOverview>> {
        let tasks = self
            .tasks(who, Some(limit.unwrap_or(50).clamp(1, MAX_TASKS)))
            .await?;
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut params: Vec<Val> = vals![&who.user_id];
        params.extend(ids.iter().map(|t| Val::from(*t)));
        let list = placeholders(2, ids.len());

        // Amounts per (task, agent, currency).
        let mut sums: HashMap<(String, String), (Vec<Shown>, Vec<Shown>)> = HashMap::new();
        let rows = self
            .db
            .query(
                &format!("SELECT p.task_id, p.agent_id, p.currency, CAST(SUM(p.captured) AS BIGINT), CAST(SUM(p.refunded) AS BIGINT), CAST(SUM(CASE WHEN p.status IN ('approved', 'needs_confirmation', 'capturing') THEN p.amount ELSE 0 END) AS BIGINT) FROM payments p WHERE p.user_id = $1 AND p.task_id IN ({list}) AND p.status <> 'deciding' GROUP BY p.task_id, p.agent_id, p.currency ORDER BY p.currency"),
                params.clone(),
            )
            .await?;
        for r in &rows {
            let c = currency_of(&r.text(2)?)?;
            let captured = r.opt_int(3)?.unwrap_or(0);
            let refunded = r.opt_int(4)?.unwrap_or(0);
            let held = r.opt_int(5)?.unwrap_or(0);
            // Refunds never exceed captures (checked where they are made).
            let paid = captured.saturating_sub(refunded);
            let e = sums.entry((r.text(0)?, r.text(1)?)).or_default();
            if paid != 0 {
                e.0.push(Money::new(paid, c).into());
            }
            if held != 0 {
                e.1.push(Money::new(held, c).into());
            }
        }

        // The latest event per (task, agent).
        let mut latest: HashMap<(String, String), TimelineEvent> = HashMap::new();
        let columns = EVENT_COLUMNS
            .trim_start_matches("SELECT ")
            .trim_end_matches(" FROM events");
        let rows = self
            .db
            .query(
                &format!("SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY task_id, agent_id ORDER BY created_at DESC, id DESC) AS rn FROM events WHERE user_id = $1 AND task_id IN ({list})) e WHERE e.rn = 1"),
                params,
            )
            .await?;
        for r in &rows {
            let e = event_from(r)?;
            if let (Some(t), Some(a)) = (e.task_id.clone(), e.agent_id.clone()) {
                latest.insert((t, a), e);
            }
        }

        let mut out: Vec<TaskOverview> = tasks
            .into_iter()
            .map(|t| {
                let key = (t.task_id.clone(), t.agent_id.clone());
                let (paid, held) = sums.remove(&key).unwrap_or_default();
                let latest = latest.remove(&key);
                let changed = t
                    .last_activity_at
                    .parse::<jiff::Timestamp>()
                    .map(|x| x.as_millisecond())
                    .unwrap_or(0);
                TaskOverview {
                    last_activity_ms: changed.max(latest.as_ref().map_or(0, |e| e.at_ms)),
                    task_id: t.task_id,
                    agent_id: t.agent_id,
                    agent_name: t.agent_name,
                    payments: t.payments,
                    paid,
                    held,
                    latest,
                }
            })
            .collect();
        out.sort_by_key(|t| std::cmp::Reverse(t.last_activity_ms));
        Ok(out)
    }

    /// When the event `event_id` of this person's task happened (`None` when it is not one of
    /// the task's events): where a live stream resumes after a reconnect.
    pub async fn task_event_time(
        &self,
        who: &Principal,
        task_id: &str,
        event_id: &str,
    ) -> Result<Option<i64>> {
        who.require(Scope::PaymentsRead)?;
        if !event_id.starts_with("evt_") || event_id.len() > 64 {
            return Ok(None);
        }
        let row = self
            .db
            .query_opt(
                "SELECT created_at FROM events WHERE id = $1 AND user_id = $2 AND task_id = $3",
                vals![event_id, &who.user_id, task_id],
            )
            .await?;
        row.map(|r| r.int(0)).transpose().map_err(Into::into)
    }
}
