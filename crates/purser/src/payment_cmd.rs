//! `purser payment show`, `purser bill`, `purser task list|show`: what your agents paid, through
//! the REST API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::client::{As, Client, ClientArgs};
use crate::wallet_cmd::{list, s, show};

#[derive(Subcommand)]
pub enum PaymentCommand {
    /// One payment: its decision, credential state, captures and refunds.
    Show { id: String },
}

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Your agents' tasks, most recent first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// A task's timeline: requests, decisions, confirmations, captures, refunds.
    Show { task_id: String },
}

/// Filters of `purser bill`.
#[derive(clap::Args)]
pub struct BillArgs {
    /// Only this agent (agt_…).
    #[arg(long)]
    agent: Option<String>,
    /// Only this mandate (mdt_…).
    #[arg(long)]
    mandate: Option<String>,
    /// Only this merchant (mch_…).
    #[arg(long)]
    merchant: Option<String>,
    /// Only this task.
    #[arg(long)]
    task: Option<String>,
    /// Only payments in this status (captured, refunded, approved, declined, …).
    #[arg(long)]
    status: Option<String>,
    /// From this date (2026-11-01) or RFC 3339 time, inclusive.
    #[arg(long)]
    from: Option<String>,
    /// Until this date or time, exclusive.
    #[arg(long)]
    to: Option<String>,
    /// Rows per page (1–500).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Continue after this cursor (printed at the end of a page).
    #[arg(long)]
    cursor: Option<String>,
    /// Print CSV instead of a table.
    #[arg(long)]
    csv: bool,
    /// Write to this file instead of printing.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Percent-encode everything but unreserved characters (RFC 3986).
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

fn emit(out: &Option<PathBuf>, text: &str) -> Result<(), String> {
    match out {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| format!("cannot write {}: {e}", p.display()))
            .map(|_| eprintln!("wrote {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn money(v: &Value) -> String {
    v["display"].as_str().unwrap_or("-").to_string()
}

fn payment_full(v: &Value) -> String {
    let mut out = format!(
        "{}  {}  {}  at merchant {}\n  agent {}  task {}  mandate {}\n  captured {}  refunded {}  from {}",
        s(v, "id"),
        s(v, "status"),
        money(&v["amount"]),
        s(v, "merchant_id"),
        s(v, "agent_id"),
        s(v, "task_id"),
        s(v, "mandate_id"),
        money(&v["captured"]),
        money(&v["refunded"]),
        s(v, "funding_source"),
    );
    if let Some(d) = v["decline"].as_object() {
        out.push_str(&format!(
            "\n  declined: {} ({})",
            d.get("message").and_then(Value::as_str).unwrap_or(""),
            d.get("code").and_then(Value::as_str).unwrap_or("")
        ));
    }
    if let Some(c) = v["confirmation"].as_object() {
        out.push_str(&format!(
            "\n  confirmation {}: {}",
            c.get("id").and_then(Value::as_str).unwrap_or(""),
            c.get("status").and_then(Value::as_str).unwrap_or("")
        ));
        if let Some(u) = c.get("url").and_then(Value::as_str) {
            out.push_str(&format!("\n  open to approve or decline: {u}"));
        }
    }
    out
}

fn bill_table(v: &Value) -> String {
    let mut out = list(v, |l| {
        format!(
            "{}  {:<20}  {:>12}  net {:>12}  {}  {}  {}",
            s(l, "created_at"),
            s(l, "status"),
            money(&l["amount"]),
            money(&l["net"]),
            s(l, "merchant_name"),
            s(l, "agent_name"),
            s(l, "payment_id"),
        )
    });
    for t in v["totals"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{} total: {} payments, paid {} (captured {}, refunded {}), held {}",
            s(t, "currency"),
            t["payments"].as_i64().unwrap_or(0),
            money(&t["net"]),
            money(&t["captured"]),
            money(&t["refunded"]),
            money(&t["held"]),
        ));
    }
    if let Some(c) = v["next_cursor"].as_str() {
        out.push_str(&format!("\nmore: purser bill --cursor {c}"));
    }
    out
}

fn timeline(v: &Value) -> String {
    let events = v["events"].as_array().cloned().unwrap_or_default();
    if events.is_empty() {
        return "(nothing yet)".into();
    }
    events
        .iter()
        .map(|e| {
            let d = &e["data"];
            let amount = d["amount"]["amount"]
                .as_i64()
                .map(|a| format!("{a} {}", d["amount"]["currency"].as_str().unwrap_or("")))
                .unwrap_or_default();
            format!(
                "{}  {:<32} {}  {}{}",
                s(e, "at"),
                s(e, "type"),
                s(e, "payment_id"),
                amount,
                d["reason"]
                    .as_str()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run_payment(command: PaymentCommand, client: ClientArgs) -> ExitCode {
    let c = Client::new(client);
    let r = match command {
        PaymentCommand::Show { id } => c
            .call(As::User, "GET", &format!("/v1/payments/{id}"), None)
            .map(|v| show(&c, &v, payment_full)),
    };
    finish(r)
}

pub fn run_task(command: TaskCommand, client: ClientArgs) -> ExitCode {
    let c = Client::new(client);
    let r = match command {
        TaskCommand::List { limit } => c
            .call(As::User, "GET", &format!("/v1/tasks?limit={limit}"), None)
            .map(|v| {
                show(&c, &v, |v| {
                    list(v, |t| {
                        format!(
                            "{}  {}  {} payment(s)  last {}",
                            s(t, "task_id"),
                            s(t, "agent_name"),
                            t["payments"].as_i64().unwrap_or(0),
                            s(t, "last_activity_at")
                        )
                    })
                })
            }),
        TaskCommand::Show { task_id } => c
            .call(
                As::User,
                "GET",
                &format!("/v1/tasks/{}", enc(&task_id)),
                None,
            )
            .map(|v| show(&c, &v, timeline)),
    };
    finish(r)
}

pub fn run_bill(a: BillArgs, client: ClientArgs) -> ExitCode {
    let c = Client::new(client);
    let q = query(&[
        ("agent_id", a.agent),
        ("mandate_id", a.mandate),
        ("merchant_id", a.merchant),
        ("task_id", a.task),
        ("status", a.status),
        ("from", a.from),
        ("to", a.to),
        ("limit", Some(a.limit.to_string())),
        ("cursor", a.cursor),
        ("format", a.csv.then(|| "csv".to_string())),
    ]);
    let r = if a.csv {
        c.get_text(As::User, &format!("/v1/bills{q}"))
            .and_then(|t| emit(&a.out, &t))
    } else {
        c.call(As::User, "GET", &format!("/v1/bills{q}"), None)
            .and_then(|v| {
                if c.json() || a.out.is_some() {
                    emit(
                        &a.out,
                        &format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()),
                    )
                } else {
                    println!("{}", bill_table(&v));
                    Ok(())
                }
            })
    };
    finish(r)
}

fn finish(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
