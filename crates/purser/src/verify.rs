//! `purser ledger verify`: print what the store's verifier found. Exit 0 when every check
//! passes, 1 when something is broken, 2 when the ledger could not be read at all.

use std::process::ExitCode;

use purser_core::Money;
use purser_store::StoreConfig;

pub async fn run(store: StoreConfig, json: bool) -> ExitCode {
    let outcome = match purser_store::verify(&store).await {
        Ok(o) => o,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "storage": store.describe(), "error": e.to_string() })
                );
            } else {
                eprintln!("error: cannot read the ledger ({}): {e}", store.describe());
            }
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "storage": store.describe(), "summary": summary })
                );
            } else {
                println!("Ledger verified: {}", store.describe());
                println!(
                    "  journal: {} entries, hash chain intact (head {})",
                    summary.entries,
                    &summary.head_hash[..16.min(summary.head_hash.len())]
                );
                println!(
                    "  accounts: {}, transfers: {}, holds: {} ({} pending)",
                    summary.accounts, summary.transfers, summary.holds, summary.holds_pending
                );
                for (code, t) in &summary.totals {
                    let fmt = |v: i128| match (code.parse(), i64::try_from(v)) {
                        (Ok(c), Ok(v)) => Money::new(v, c).to_string(),
                        _ => format!("{v} {code}"),
                    };
                    println!(
                        "  {code}: posted debits {} = credits {}; pending debits {} = credits {}",
                        fmt(t.debits_posted),
                        fmt(t.credits_posted),
                        fmt(t.debits_pending),
                        fmt(t.credits_pending)
                    );
                }
                println!("All balances match the journal and every invariant holds.");
            }
            ExitCode::SUCCESS
        }
        Err(broken) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "storage": store.describe(), "broken_entry": broken.seq, "problem": broken.problem })
                );
            } else {
                match broken.seq {
                    Some(seq) => eprintln!(
                        "LEDGER VERIFICATION FAILED at journal entry {seq}: {}",
                        broken.problem
                    ),
                    None => eprintln!("LEDGER VERIFICATION FAILED: {}", broken.problem),
                }
                eprintln!("The ledger was changed outside Purser or is damaged. Stop writes, keep a copy of the data, and investigate.");
            }
            ExitCode::FAILURE
        }
    }
}
