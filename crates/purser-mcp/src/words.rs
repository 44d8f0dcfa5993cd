//! Each answer in a few sentences a person (or a model) can act on. They restate what
//! Purser's JSON says (which follows them, whole); they decide nothing.

use serde_json::Value;

use crate::Failure;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// "¥799.00" from Purser's `{amount, currency, display}`.
fn money(v: &Value) -> String {
    match v["display"].as_str() {
        Some(d) => d.to_string(),
        None => format!("{} {}", s(&v["currency"]), v["amount"]),
    }
}

pub fn failure(f: &Failure) -> String {
    format!("Purser refused ({}): {}", f.code, f.message)
}

pub fn payment(p: &Value) -> String {
    let id = s(&p["id"]);
    let amount = money(&p["amount"]);
    let merchant = s(&p["merchant_id"]);
    match s(&p["status"]) {
        "approved" => {
            let c = &p["credential"];
            match c["token"].as_str() {
                Some(token) => format!(
                    "Approved: {amount} to merchant {merchant} (payment {id}). The money is held. \
                     Give the merchant this single-use credential: {token} (valid until {}, for \
                     up to {amount}, at {merchant} only).",
                    s(&c["expires_at"])
                ),
                None => format!(
                    "Approved: {amount} to merchant {merchant} (payment {id}); its credential is \
                     {}.",
                    s(&c["state"])
                ),
            }
        }
        "needs_confirmation" => {
            let c = &p["confirmation"];
            format!(
                "Needs the person's confirmation: {amount} to merchant {merchant} (payment {id}) \
                 is held until they decide. Ask them to open {} and approve it (before {}), then \
                 call wait_for_confirmation with payment_id {id}.",
                c["url"].as_str().unwrap_or("their confirmation page"),
                s(&c["expires_at"])
            )
        }
        "declined" => format!(
            "Declined ({}): {} Nothing was charged (payment {id}).",
            s(&p["decline"]["code"]),
            s(&p["decline"]["message"])
        ),
        "captured" => format!(
            "Paid: the merchant {merchant} captured {} of {amount} (payment {id}).",
            money(&p["captured"])
        ),
        "refunded" => format!(
            "Refunded: {} of {amount} went back (payment {id}).",
            money(&p["refunded"])
        ),
        "failed" => format!(
            "Failed ({}): {} (payment {id}).",
            s(&p["decline"]["code"]),
            s(&p["decline"]["message"])
        ),
        other => format!("Payment {id} for {amount} to merchant {merchant} is {other}."),
    }
}

pub fn mandates(v: &Value) -> String {
    let empty = Vec::new();
    let list = v["data"].as_array().unwrap_or(&empty);
    if list.is_empty() {
        return "This person has given you no mandates yet: ask them to create one (and \
                consent to it) before you pay."
            .to_string();
    }
    let mut out = format!(
        "{} mandate{}:",
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    );
    for m in list {
        let u = &m["usage"];
        out.push_str(&format!(
            "\n- {} ({}): {}",
            s(&m["id"]),
            s(&m["status"]),
            s(&m["summary"])
        ));
        if !u["spent"].is_null() {
            out.push_str(&format!(
                " Spent {} in {} payment{}",
                money(&u["spent"]),
                u["payments"],
                if u["payments"] == 1 { "" } else { "s" }
            ));
            if !u["remaining_budget"].is_null() {
                out.push_str(&format!("; {} left", money(&u["remaining_budget"])));
            }
            if let Some(n) = u["remaining_payments"].as_i64() {
                out.push_str(&format!(
                    "; {n} more payment{} allowed",
                    if n == 1 { "" } else { "s" }
                ));
            }
            out.push('.');
        }
    }
    out
}

pub fn simulation(v: &Value) -> String {
    let empty = Vec::new();
    let failures = v["failures"].as_array().unwrap_or(&empty);
    let reasons: Vec<&str> = failures.iter().map(|f| s(&f["message"])).collect();
    let mandate = s(&v["mandate_id"]);
    match s(&v["outcome"]) {
        "allowed" => format!(
            "Allowed: mandate {mandate} would let this purchase through without asking the \
             person (funds and anomaly checks happen when you request the payment)."
        ),
        "needs_confirmation" => format!(
            "Needs confirmation: mandate {mandate} allows this purchase, but the person must \
             approve it. {}",
            reasons.join(" ")
        )
        .trim_end()
        .to_string(),
        _ => format!(
            "Declined by mandate {mandate}: {}",
            if reasons.is_empty() {
                "no reason given".to_string()
            } else {
                reasons.join(" ")
            }
        ),
    }
}

pub fn payments(v: &Value) -> String {
    let empty = Vec::new();
    let list = v["data"].as_array().unwrap_or(&empty);
    if list.is_empty() {
        return "No payments yet.".to_string();
    }
    let mut out = format!(
        "{} payment{}, newest first:",
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    );
    for p in list {
        out.push_str(&format!(
            "\n- {} {} {} to {} (task {}, {})",
            s(&p["id"]),
            s(&p["status"]),
            money(&p["amount"]),
            s(&p["merchant_id"]),
            s(&p["task_id"]),
            s(&p["created_at"])
        ));
    }
    if let Some(totals) = v["totals"].as_array() {
        for t in totals {
            out.push_str(&format!(
                "\nIn {}: {} held, {} captured, {} refunded.",
                s(&t["currency"]),
                money(&t["held"]),
                money(&t["captured"]),
                money(&t["refunded"])
            ));
        }
    }
    out
}

pub fn whoami(v: &Value) -> String {
    let a = &v["agent"];
    let mut out = format!(
        "You are {} ({}), run by {}, signing with key {}.",
        s(&a["name"]),
        s(&a["id"]),
        s(&a["operator"]),
        s(&v["kid"])
    );
    let empty = Vec::new();
    let bindings = v["bindings"].as_array().unwrap_or(&empty);
    if bindings.is_empty() {
        out.push_str(
            " No one has bound you yet: ask a person for their user id and to approve a binding.",
        );
    }
    for b in bindings {
        let state = if b["frozen"] == true {
            "frozen".to_string()
        } else {
            s(&b["status"]).to_string()
        };
        out.push_str(&format!("\n- user {}: {state}", s(&b["user_id"])));
    }
    out
}

/// A paid (or free) HTTP resource's answer: what it cost, and the start of what it said.
pub fn http_402(v: &Value) -> String {
    let url = s(&v["url"]);
    let status = &v["status"];
    let said = match v["body"].as_str() {
        Some(t) if !t.is_empty() => {
            let short: String = t.chars().take(200).collect();
            let more = if short.len() < t.len() { "…" } else { "" };
            format!(": {short}{more}")
        }
        _ => String::new(),
    };
    let paid = &v["paid"];
    if paid.is_null() {
        return format!(
            "{url} answered {status} without asking for payment; nothing was paid{said}"
        );
    }
    format!(
        "Paid {} (Purser payment {}, under mandate {}) for {url}; it answered {status}{said}",
        money(&paid["charged"]),
        s(&paid["payment_id"]),
        s(&paid["mandate_id"]),
    )
}
