//! Oversight: each agent task's timeline, and bills — the person's statement of what their
//! agents paid, filtered, totalled per currency, paged, exportable as CSV or JSON.

use purser_core::{Money, Timestamp};
use purser_store::db::{Row, Val};
use purser_store::vals;
use serde::Serialize;

use super::views::currency_of;
use crate::access::{Principal, Scope};
use crate::error::{Result, WalletError};
use crate::funds::Shown;
use crate::ids::check_id;
use crate::signed::AgentCaller;
use crate::Wallet;

/// Most rows one page of a bill holds.
pub const MAX_BILL_PAGE: i64 = 500;
/// Most events one timeline read returns.
pub const MAX_TIMELINE: i64 = 1_000;

/// One thing that happened in a task.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEvent {
    pub id: String,
    /// `payment.approved`, `payment.captured`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub at_ms: i64,
    pub agent_id: Option<String>,
    pub merchant_id: Option<String>,
    pub payment_id: Option<String>,
    pub task_id: Option<String>,
    pub data: serde_json::Value,
}

/// A task: what one agent did under one task id.
#[derive(Clone, Debug, Serialize)]
pub struct TaskSummary {
    pub task_id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub payments: i64,
    pub started_at: String,
    pub last_activity_at: String,
}

/// Which payments a bill covers.
#[derive(Clone, Debug, Default)]
pub struct BillFilter {
    pub agent_id: Option<String>,
    pub mandate_id: Option<String>,
    pub merchant_id: Option<String>,
    pub task_id: Option<String>,
    pub status: Option<String>,
    /// Inclusive, milliseconds since the epoch.
    pub from: Option<Timestamp>,
    /// Exclusive.
    pub to: Option<Timestamp>,
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One line of a bill.
#[derive(Clone, Debug, Serialize)]
pub struct BillLine {
    pub payment_id: String,
    pub created_at: String,
    pub status: String,
    pub agent_id: String,
    pub agent_name: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub task_id: String,
    pub mandate_id: Option<String>,
    /// The items the agent asked to pay for, as `2 × Boots; Socks` (from its signed request).
    pub items: String,
    pub amount: Shown,
    pub captured: Shown,
    pub refunded: Shown,
    /// Captured minus refunded: what the person actually paid.
    pub net: Shown,
}

/// Totals of one currency over everything the filter matches (not just this page).
#[derive(Clone, Debug, Serialize)]
pub struct BillTotal {
    pub currency: &'static str,
    pub payments: i64,
    pub captured: Shown,
    pub refunded: Shown,
    pub net: Shown,
    /// Approved or awaiting confirmation, not yet captured.
    pub held: Shown,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bill {
    pub data: Vec<BillLine>,
    pub totals: Vec<BillTotal>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

const STATUSES: [&str; 11] = [
    "declined",
    "needs_confirmation",
    "approved",
    "capturing",
    "captured",
    "refunded",
    "voided",
    "expired",
    "failed",
    "ending",
    "deciding",
];

pub(crate) fn event_from(r: &Row) -> Result<TimelineEvent> {
    let at = r.int(2)?;
    Ok(TimelineEvent {
        id: r.text(0)?,
        kind: r.text(1)?,
        at: Timestamp(at).to_rfc3339(),
        at_ms: at,
        agent_id: r.opt_text(3)?,
        merchant_id: r.opt_text(4)?,
        payment_id: r.opt_text(5)?,
        task_id: r.opt_text(6)?,
        data: serde_json::from_str(&r.text(7)?).unwrap_or_default(),
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "SELECT id, type, created_at, agent_id, merchant_id, payment_id, task_id, data FROM events";

impl Wallet {
    /// The user's tasks, most recently active first.
    pub async fn tasks(&self, who: &Principal, limit: Option<i64>) -> Result<Vec<TaskSummary>> {
        who.require(Scope::PaymentsRead)?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_BILL_PAGE);
        self.db
            .query(
                "SELECT p.task_id, p.agent_id, a.name, COUNT(*), MIN(p.created_at), MAX(p.updated_at) FROM payments p JOIN agents a ON a.id = p.agent_id WHERE p.user_id = $1 GROUP BY p.task_id, p.agent_id, a.name ORDER BY MAX(p.updated_at) DESC LIMIT $2",
                vals![&who.user_id, limit],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(TaskSummary {
                    task_id: r.text(0)?,
                    agent_id: r.text(1)?,
                    agent_name: r.text(2)?,
                    payments: r.int(3)?,
                    started_at: Timestamp(r.int(4)?).to_rfc3339(),
                    last_activity_at: Timestamp(r.int(5)?).to_rfc3339(),
                })
            })
            .collect()
    }

    /// A task's timeline, oldest first: every request, decision, confirmation, capture and
    /// refund. `after` (an event's `at_ms`) returns only later events, for live updates.
    pub async fn timeline(
        &self,
        who: &Principal,
        task_id: &str,
        after: Option<i64>,
    ) -> Result<Vec<TimelineEvent>> {
        who.require(Scope::PaymentsRead)?;
        if task_id.is_empty() || task_id.len() > super::MAX_REF_LEN {
            return Err(WalletError::not_found("task", task_id));
        }
        let events = self
            .db
            .query(
                &format!("{EVENT_COLUMNS} WHERE user_id = $1 AND task_id = $2 AND created_at >= $3 ORDER BY created_at, id LIMIT $4"),
                vals![&who.user_id, task_id, after.unwrap_or(0), MAX_TIMELINE],
            )
            .await?
            .iter()
            .map(event_from)
            .collect::<Result<Vec<_>>>()?;
        // A task exists for a user once something happened in it for them.
        if events.is_empty() && after.is_none() {
            return Err(WalletError::not_found("task", task_id));
        }
        Ok(events)
    }

    /// The events of one payment, for the agent that asked (its live stream).
    pub async fn payment_events(
        &self,
        agent: &AgentCaller,
        payment_id: &str,
        after: Option<i64>,
    ) -> Result<Vec<TimelineEvent>> {
        check_id("pay", payment_id, "id")?;
        self.db
            .query(
                &format!("{EVENT_COLUMNS} WHERE payment_id = $1 AND agent_id = $2 AND created_at >= $3 ORDER BY created_at, id LIMIT $4"),
                vals![payment_id, &agent.agent_id, after.unwrap_or(0), MAX_TIMELINE],
            )
            .await?
            .iter()
            .map(event_from)
            .collect()
    }

    /// The user's bill: payments matching `f`, newest first, a page at a time, and totals
    /// per currency over all of them.
    pub async fn bill(&self, who: &Principal, f: &BillFilter) -> Result<Bill> {
        who.require(Scope::PaymentsRead)?;
        let limit = page_limit(f.limit, 100, MAX_BILL_PAGE)?;
        let mut clauses = vec![
            "p.user_id = $1".to_string(),
            "p.status <> 'deciding'".into(),
        ];
        let mut params: Vec<Val> = vals![&who.user_id];
        let mut add = |clause: &str, v: Val| {
            params.push(v);
            clauses.push(clause.replace('?', &format!("${}", params.len())));
        };
        if let Some(a) = &f.agent_id {
            check_id("agt", a, "agent_id")?;
            add("p.agent_id = ?", a.into());
        }
        if let Some(m) = &f.mandate_id {
            check_id("mdt", m, "mandate_id")?;
            add("p.mandate_id = ?", m.into());
        }
        if let Some(m) = &f.merchant_id {
            check_id("mch", m, "merchant_id")?;
            add("p.merchant_id = ?", m.into());
        }
        if let Some(t) = &f.task_id {
            add("p.task_id = ?", t.into());
        }
        if let Some(s) = &f.status {
            if !STATUSES.contains(&s.as_str()) {
                return Err(WalletError::invalid(
                    "status_invalid",
                    format!("status is one of {}", STATUSES[..9].join(", ")),
                    "status",
                ));
            }
            add("p.status = ?", s.into());
        }
        if let Some(t) = f.from {
            add("p.created_at >= ?", t.0.into());
        }
        if let Some(t) = f.to {
            add("p.created_at < ?", t.0.into());
        }
        let filter_params = params.clone();
        let filter = clauses.join(" AND ");
        // Totals over the whole filter.
        let totals_sql = format!(
            "SELECT p.currency, COUNT(*), CAST(SUM(p.captured) AS BIGINT), CAST(SUM(p.refunded) AS BIGINT), CAST(SUM(CASE WHEN p.status IN ('approved', 'needs_confirmation', 'capturing') THEN p.amount ELSE 0 END) AS BIGINT) FROM payments p WHERE {filter} GROUP BY p.currency ORDER BY p.currency"
        );
        let mut totals = Vec::new();
        for r in self.db.query(&totals_sql, filter_params).await? {
            let c = currency_of(&r.text(0)?)?;
            let captured = r.opt_int(2)?.unwrap_or(0);
            let refunded = r.opt_int(3)?.unwrap_or(0);
            totals.push(BillTotal {
                currency: c.code(),
                payments: r.int(1)?,
                captured: Money::new(captured, c).into(),
                refunded: Money::new(refunded, c).into(),
                net: Money::new(captured.saturating_sub(refunded), c).into(),
                held: Money::new(r.opt_int(4)?.unwrap_or(0), c).into(),
            });
        }
        // The page, after the cursor.
        if let Some(cur) = &f.cursor {
            let (at, id) = cur
                .split_once('_')
                .and_then(|(a, id)| Some((a.parse::<i64>().ok()?, id)))
                .filter(|(_, id)| check_id("pay", id, "cursor").is_ok())
                .ok_or_else(|| {
                    WalletError::invalid(
                        "cursor_invalid",
                        "pass the next_cursor of the previous page unchanged",
                        "cursor",
                    )
                })?;
            params.push(at.into());
            params.push(id.into());
            clauses.push(format!(
                "(p.created_at < ${} OR (p.created_at = ${} AND p.id < ${}))",
                params.len() - 1,
                params.len() - 1,
                params.len()
            ));
        }
        params.push((limit + 1).into());
        let sql = format!(
            "SELECT p.id, p.created_at, p.status, p.agent_id, a.name, p.merchant_id, m.name, p.task_id, p.mandate_id, p.amount, p.currency, p.captured, p.refunded, p.request FROM payments p JOIN agents a ON a.id = p.agent_id LEFT JOIN merchants m ON m.id = p.merchant_id WHERE {} ORDER BY p.created_at DESC, p.id DESC LIMIT ${}",
            clauses.join(" AND "),
            params.len()
        );
        let rows = self.db.query(&sql, params).await?;
        let has_more = rows.len() as i64 > limit;
        let mut data = Vec::new();
        let mut last = None;
        for r in rows.iter().take(usize::try_from(limit).unwrap_or(0)) {
            let c = currency_of(&r.text(10)?)?;
            let m = |v: i64| Shown::from(Money::new(v, c));
            let (captured, refunded) = (r.int(11)?, r.int(12)?);
            let created = r.int(1)?;
            let id = r.text(0)?;
            last = Some(format!("{created}_{id}"));
            data.push(BillLine {
                payment_id: id,
                created_at: Timestamp(created).to_rfc3339(),
                status: r.text(2)?,
                agent_id: r.text(3)?,
                agent_name: r.text(4)?,
                merchant_id: r.text(5)?,
                merchant_name: r.opt_text(6)?.unwrap_or_default(),
                task_id: r.text(7)?,
                mandate_id: r.opt_text(8)?,
                items: items_summary(&r.text(13)?),
                amount: m(r.int(9)?),
                captured: m(captured),
                refunded: m(refunded),
                net: m(captured.saturating_sub(refunded)),
            });
        }
        Ok(Bill {
            data,
            totals,
            has_more,
            next_cursor: if has_more { last } else { None },
        })
    }
}

/// Most payments one page of an agent's own list holds.
pub const MAX_AGENT_PAGE: i64 = 100;

/// The agent's own payments (`GET /v1/agent/payments`): newest first, with totals per currency
/// over everything the filter matches.
#[derive(Clone, Debug, Serialize)]
pub struct AgentPayments {
    pub data: Vec<super::PaymentView>,
    pub totals: Vec<BillTotal>,
    pub has_more: bool,
}

impl Wallet {
    /// Payments the calling agent asked for, optionally for one user or one task. Its own
    /// record: readable whatever its bindings are now, as each payment is.
    pub async fn agent_payments(
        &self,
        agent: &AgentCaller,
        user_id: Option<&str>,
        task_id: Option<&str>,
        limit: Option<i64>,
    ) -> Result<AgentPayments> {
        let limit = page_limit(limit, 20, MAX_AGENT_PAGE)?;
        let mut clauses = vec![
            "p.agent_id = $1".to_string(),
            "p.status <> 'deciding'".into(),
        ];
        let mut params: Vec<Val> = vals![&agent.agent_id];
        if let Some(u) = user_id {
            check_id("usr", u, "user_id")?;
            params.push(u.into());
            clauses.push(format!("p.user_id = ${}", params.len()));
        }
        if let Some(t) = task_id {
            params.push(t.into());
            clauses.push(format!("p.task_id = ${}", params.len()));
        }
        let filter = clauses.join(" AND ");
        let totals_sql = format!(
            "SELECT p.currency, COUNT(*), CAST(SUM(p.captured) AS BIGINT), CAST(SUM(p.refunded) AS BIGINT), CAST(SUM(CASE WHEN p.status IN ('approved', 'needs_confirmation', 'capturing') THEN p.amount ELSE 0 END) AS BIGINT) FROM payments p WHERE {filter} GROUP BY p.currency ORDER BY p.currency"
        );
        let mut totals = Vec::new();
        for r in self.db.query(&totals_sql, params.clone()).await? {
            let c = currency_of(&r.text(0)?)?;
            let captured = r.opt_int(2)?.unwrap_or(0);
            let refunded = r.opt_int(3)?.unwrap_or(0);
            totals.push(BillTotal {
                currency: c.code(),
                payments: r.int(1)?,
                captured: Money::new(captured, c).into(),
                refunded: Money::new(refunded, c).into(),
                net: Money::new(captured.saturating_sub(refunded), c).into(),
                held: Money::new(r.opt_int(4)?.unwrap_or(0), c).into(),
            });
        }
        params.push((limit + 1).into());
        let sql = super::views::select(&format!(
            "WHERE {filter} ORDER BY p.created_at DESC, p.id DESC LIMIT ${}",
            params.len()
        ));
        let rows = self.db.query(&sql, params).await?;
        let has_more = rows.len() as i64 > limit;
        let mut data = Vec::with_capacity(rows.len());
        for r in rows.iter().take(usize::try_from(limit).unwrap_or(0)) {
            data.push(self.payment_from(r, super::views::Viewer::Agent)?);
        }
        Ok(AgentPayments {
            data,
            totals,
            has_more,
        })
    }
}

/// Most characters of a line's item summary (a cart of many lines is cut with `…`).
pub const MAX_ITEMS_TEXT: usize = 300;

/// The items of a recorded payment request as one line of text, `2 × Boots; Socks`: the
/// signed body's `items` (a REST, ACP or scheduled request), or the tool arguments' of a
/// JSON-RPC message made over MCP. Empty when the request names none.
pub fn items_summary(request: &str) -> String {
    let Ok(req) = serde_json::from_str::<serde_json::Value>(request) else {
        return String::new();
    };
    let body: serde_json::Value = req["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let Some(items) = body["items"]
        .as_array()
        .or_else(|| body["params"]["arguments"]["items"].as_array())
    else {
        return String::new();
    };
    let text = items
        .iter()
        .map(|i| {
            let title = i["title"].as_str().unwrap_or_default().trim();
            match i["quantity"].as_u64() {
                Some(q) if q > 1 => format!("{q} × {title}"),
                _ => title.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    if text.chars().count() > MAX_ITEMS_TEXT {
        let mut cut: String = text.chars().take(MAX_ITEMS_TEXT - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// A bill as CSV (RFC 4180), amounts as decimal strings in the currency's units. Cells that a
/// spreadsheet would run as a formula are prefixed with `'`.
pub fn bill_csv(b: &Bill) -> String {
    let mut out = String::from("payment_id,created_at,status,agent_id,agent_name,merchant_id,merchant_name,task_id,mandate_id,currency,amount,captured,refunded,net,items\r\n");
    for l in &b.data {
        let cells = [
            l.payment_id.clone(),
            l.created_at.clone(),
            l.status.clone(),
            l.agent_id.clone(),
            l.agent_name.clone(),
            l.merchant_id.clone(),
            l.merchant_name.clone(),
            l.task_id.clone(),
            l.mandate_id.clone().unwrap_or_default(),
            l.amount.currency.to_string(),
            decimal(&l.amount),
            decimal(&l.captured),
            decimal(&l.refunded),
            decimal(&l.net),
            l.items.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A page's `limit` (`default` when not given), when it is from 1 to `max`.
fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(WalletError::invalid(
            "limit_invalid",
            format!("limit must be between 1 and {max}"),
            "limit",
        ));
    }
    Ok(limit)
}

fn decimal(s: &Shown) -> String {
    match purser_core::Currency::from_code(s.currency) {
        Some(c) => Money::new(s.amount, c).decimal(),
        None => s.amount.to_string(),
    }
}

fn csv_cell(s: &str) -> String {
    // A spreadsheet runs a cell that starts with one of these (after any spaces) as a formula.
    let s = if s
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("  =1+1"), "'  =1+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("a=b"), "a=b");
    }

    #[test]
    fn items_are_read_from_the_signed_body_or_the_mcp_arguments() {
        let body = serde_json::json!({"items": [
            {"title": " Boots ", "quantity": 1, "unit_price": {"amount": 1, "currency": "CNY"}},
            {"title": "Socks", "quantity": 3, "unit_price": {"amount": 1, "currency": "CNY"}},
        ]});
        let rest = serde_json::json!({"method": "POST", "body": body.to_string()});
        assert_eq!(items_summary(&rest.to_string()), "Boots; 3 × Socks");
        let mcp = serde_json::json!({"jsonrpc": "2.0", "params": {"name": "request_payment", "arguments": body}});
        let rec = serde_json::json!({"path": "/mcp", "body": mcp.to_string()});
        assert_eq!(items_summary(&rec.to_string()), "Boots; 3 × Socks");
        assert_eq!(items_summary("not json"), "");
        assert_eq!(items_summary("{\"body\": \"{}\"}"), "");
        let long = serde_json::json!({"items": [{"title": "x".repeat(1000), "quantity": 1}]});
        let rec = serde_json::json!({"body": long.to_string()});
        assert_eq!(
            items_summary(&rec.to_string()).chars().count(),
            MAX_ITEMS_TEXT
        );
    }
}
