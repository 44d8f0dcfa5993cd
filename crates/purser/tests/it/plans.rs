//! The reads every decision and every sweeper pass make are searches of the index named for
//! them, never a walk over a table or a sort of what was read: bounded by their key or their
//! limit, not by the open payments or a person's whole history. A 30-minute soak once
//! showed authorization latency growing with the data (BENCHMARKS.md) because sweeper queries
//! did; this holds `purser_wallet::payments::HOT_QUERIES` to their plans on SQLite, so a dropped
//! index or a rewritten query fails here instead of in production. (PostgreSQL chooses plans
//! from table statistics, which an empty test database does not have; its indexes come from the
//! same migrations.)

use purser_store::db::{Db, Val};
use purser_store::StoreConfig;

use crate::support::TempDir;

/// How many `$n` placeholders a statement has (the highest n).
fn placeholders(sql: &str) -> usize {
    let mut n = 0;
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        n = n.max(digits.parse().unwrap_or(0));
    }
    n
}

/// What SQLite says it will do: the steps that read a table, in order.
async fn plan(db: &Db, sql: &str) -> Vec<String> {
    let params = vec![Val::Int(0); placeholders(sql)];
    db.query(&format!("EXPLAIN QUERY PLAN {sql}"), params)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"))
        .iter()
        .map(|r| r.text(3).unwrap())
        .filter(|s| !s.starts_with("CO-ROUTINE") && s != "SCAN recent")
        .collect()
}

/// Why a plan is not the one allowed (`None`: it is): the first step must be driven by the
/// first allowed index, every step must search (never scan, except a partial index listed),
/// by an allowed index or a primary key, and nothing may be sorted after reading.
fn refused(steps: &[String], allowed: &[&str]) -> Option<String> {
    let uses = |s: &str, ix: &str| s.contains(&format!(" INDEX {ix}"));
    let Some(first) = steps.first() else {
        return Some("no plan".into());
    };
    if !uses(first, allowed[0]) {
        return Some(format!("driven by something else than {}", allowed[0]));
    }
    for s in steps {
        if s.contains("TEMP B-TREE") {
            return Some(format!("sorts what it read: {s}"));
        }
        let by_allowed = allowed.iter().any(|ix| uses(s, ix));
        let by_key = s.contains(" INDEX sqlite_autoindex_") && s.ends_with("=?)");
        if s.starts_with("SCAN ") && !(by_allowed && first == s) {
            return Some(format!("walks a table: {s}"));
        }
        if !(by_allowed || by_key) {
            return Some(format!("reads by an index not allowed: {s}"));
        }
    }
    None
}

#[test]
fn hot_queries_read_index_ranges_bounded_by_the_work() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(check_hot_queries());
}

async fn check_hot_queries() {
    let dir = TempDir::new("plans");
    let db = Db::open(&StoreConfig::sqlite_in(&dir.0)).await.unwrap();
    let mut wrong = Vec::new();
    for (name, sql, allowed) in purser_wallet::payments::HOT_QUERIES {
        let steps = plan(&db, sql).await;
        if let Some(why) = refused(&steps, allowed) {
            wrong.push(format!("{name}: {why}\n  {sql}\n  {}", steps.join("\n  ")));
        }
    }
    assert!(
        wrong.is_empty(),
        "these reads would grow with the data, not the work:\n{}",
        wrong.join("\n")
    );
    // The check can fail: the queries these replaced walked every approved payment (and one
    // sorted them), which is what made a long soak slow down.
    let walked = plan(
        &db,
        "SELECT p.id FROM payments p JOIN bindings b ON b.id = p.binding_id WHERE p.status IN ('approved', 'needs_confirmation') AND (b.frozen = 1 OR b.status <> 'active') AND p.updated_at < $1 LIMIT $2",
    )
    .await;
    assert!(refused(&walked, &["bindings_frozen", "payments_open_binding"]).is_some());
    let sorted = plan(
        &db,
        "SELECT id FROM payments WHERE status = 'approved' AND updated_at < $1 ORDER BY credential_expires_at LIMIT $2",
    )
    .await;
    assert!(refused(&sorted, &["payments_credential_due"]).is_some());
    db.shutdown().await;
}
