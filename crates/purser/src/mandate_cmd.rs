//! `purser mandate …`: `draft` runs the deterministic drafter locally (no server, nothing
//! stored); `create`, `recurring` (Token Pay), `consent`, `list`, `show`, `charges`,
//! `simulate`, `revoke` and `export` talk to a running server through the REST API.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use purser_core::mandate::{draft, CivilDate, DraftContext};
use purser_core::Currency;
use serde_json::{json, Value};

use crate::client::{As, Client, ClientArgs};
use crate::wallet_cmd::{amount, list, s, show};

#[derive(Subcommand)]
pub enum MandateCommand {
    /// Turn a plain request into a proposed mandate and say what was and was not understood.
    ///
    /// Runs locally: no server is needed, nothing is stored, and nothing is active until you
    /// consent. Deterministic (no language model): the same text gives the same draft.
    /// Exits 0 when something was understood, 1 when nothing was.
    ///
    /// Example: purser mandate draft "buy a pair of hiking boots under 800 yuan"
    Draft(DraftArgs),
    /// Create a draft mandate for one of your bound agents, from your words or a JSON file.
    ///
    /// Example: purser mandate create --agent agt_… "buy a pair of hiking boots under 800 yuan"
    Create {
        /// The agent (agt_…) the mandate is for; it must be bound to you.
        #[arg(long)]
        agent: String,
        /// Your words; drafted on the server (kept as the mandate's provenance).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// A mandate as JSON (the `mandate` of `purser mandate draft --json`).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Your IANA time zone (for words: dates and weekly/monthly limits).
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        /// Currency for amounts that name none ("under 800").
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
    /// Read a draft and consent to it: it becomes active and its AP2 credentials are issued.
    /// Asks for confirmation on a terminal; --yes consents without asking.
    Consent {
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Your mandates, with what each has spent.
    List {
        /// draft, consented, active, exhausted, expired or revoked.
        #[arg(long)]
        status: Option<String>,
    },
    /// One mandate in full.
    Show { id: String },
    /// Dry-run a purchase against a mandate: allowed, needs confirmation, or declined and why.
    ///
    /// Example: purser mandate simulate mdt_… --amount "1299 CNY" --item "Hiking boots" --quantity 1
    Simulate {
        id: String,
        /// e.g. "799.00 CNY" or "¥799".
        #[arg(long)]
        amount: String,
        /// Item title (repeat for several; each with quantity --quantity, default 1).
        #[arg(long = "item")]
        items: Vec<String>,
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        #[arg(long)]
        merchant_name: Option<String>,
        #[arg(long)]
        merchant_website: Option<String>,
        #[arg(long)]
        merchant_id: Option<String>,
        /// ISO 3166 alpha-2, e.g. CN.
        #[arg(long)]
        country: Option<String>,
        /// Merchant category code, four digits.
        #[arg(long)]
        mcc: Option<String>,
        /// When (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Token Pay: set up a recurring charge that Purser makes on schedule, without the agent
    /// (a draft mandate; consent to it with `purser mandate consent`). Cancel it any time
    /// with `purser mandate revoke`.
    ///
    /// Example: purser mandate recurring --agent agt_… --merchant mch_… --amount "20.00 USD"
    ///   --every monthly --first 2026-12-01T09:00:00Z --max 12 --description "Model tokens"
    Recurring(RecurringArgs),
    /// Token Pay: the occurrences of a recurring mandate — reminded, charged, declined or missed.
    Charges { id: String },
    /// Revoke a mandate now (for a recurring one: cancel every charge not yet made).
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Export the AP2 credentials (checkout and payment open mandates) issued at consent.
    Export {
        id: String,
        /// Write them to this file (JSON) instead of printing.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct RecurringArgs {
    /// The agent (agt_…) the mandate is given to; it must be bound to you. Its binding's
    /// funding restriction and freeze apply to every charge.
    #[arg(long)]
    pub agent: String,
    /// The merchant charged (mch_…): the AI service.
    #[arg(long)]
    pub merchant: String,
    /// Each charge, e.g. "20.00 USD".
    #[arg(long)]
    pub amount: String,
    /// daily, weekly, monthly or annually.
    #[arg(long, value_parser = ["daily", "weekly", "monthly", "annually"])]
    pub every: String,
    /// The first charge: an RFC 3339 instant or a date (00:00 UTC). Monthly charges keep its
    /// day of the month (the last day of a shorter month).
    #[arg(long)]
    pub first: String,
    /// Stop after this many charges.
    #[arg(long)]
    pub max: Option<u32>,
    /// Stop at this date or instant (inclusive date, UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// wallet (default) or an exclusive card ecd_… of the agent.
    #[arg(long)]
    pub funding: Option<String>,
    /// Send the reminder this many hours before each charge (default 24).
    #[arg(long)]
    pub remind_hours: Option<u32>,
    /// What each charge is for, e.g. "Model tokens top-up".
    #[arg(long, default_value = "Scheduled charge")]
    pub description: String,
}

#[derive(Args)]
pub struct DraftArgs {
    /// The request in plain English, e.g. "at most ¥200 a week on coffee until March".
    pub text: String,
    /// Currency for amounts that name none ("under 800").
    #[arg(long, default_value = "CNY")]
    pub currency: Currency,
    /// What the ¥ sign means: CNY (yuan) or JPY (yen).
    #[arg(long, default_value = "CNY", value_parser = ["CNY", "JPY", "cny", "jpy"])]
    pub yen: String,
    /// Your IANA time zone; stored in the mandate for dates and weekly/monthly limits.
    #[arg(long, default_value = "Asia/Shanghai")]
    pub timezone: String,
    /// The date "until March" and "for 2 weeks" count from (YYYY-MM-DD). Default: today (UTC).
    #[arg(long)]
    pub today: Option<String>,
}

pub fn run(command: MandateCommand, client: ClientArgs) -> ExitCode {
    let json = client.json;
    let c = Client::new(client);
    let result = match command {
        MandateCommand::Draft(args) => {
            return match draft_cmd(args, json) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        MandateCommand::Create {
            agent,
            text,
            file,
            timezone,
            currency,
        } => create(&c, agent, text, file, timezone, currency),
        MandateCommand::Consent { id, yes } => consent(&c, &id, yes),
        MandateCommand::List { status } => {
            let q = status.map(|s| format!("?status={s}")).unwrap_or_default();
            c.call(As::User, "GET", &format!("/v1/mandates{q}"), None)
                .map(|v| show(&c, &v, |v| list(v, mandate_line)))
        }
        MandateCommand::Show { id } => c
            .call(As::User, "GET", &format!("/v1/mandates/{id}"), None)
            .map(|v| show(&c, &v, mandate_full)),
        MandateCommand::Simulate {
            id,
            amount: a,
            items,
            quantity,
            merchant_name,
            merchant_website,
            merchant_id,
            country,
            mcc,
            at,
        } => (|| {
            let items: Vec<Value> = items
                .iter()
                .map(|t| json!({"title": t, "quantity": quantity}))
                .collect();
            let mut merchant = serde_json::Map::new();
            for (k, v) in [
                ("name", merchant_name),
                ("website", merchant_website),
                ("id", merchant_id),
                ("country", country),
                ("mcc", mcc),
            ] {
                if let Some(v) = v {
                    merchant.insert(k.into(), json!(v));
                }
            }
            let mut body = json!({"amount": amount(&a)?, "items": items, "merchant": merchant});
            if let Some(at) = at {
                body["at"] = json!(at);
            }
            let v = c.call(
                As::User,
                "POST",
                &format!("/v1/mandates/{id}/simulate"),
                Some(&body),
            )?;
            show(&c, &v, simulation);
            Ok(())
        })(),
        MandateCommand::Recurring(args) => recurring(&c, args),
        MandateCommand::Charges { id } => c
            .call(As::User, "GET", &format!("/v1/mandates/{id}/charges"), None)
            .map(|v| show(&c, &v, |v| list(v, charge_line))),
        MandateCommand::Revoke { id, reason } => c
            .call(
                As::User,
                "POST",
                &format!("/v1/mandates/{id}/revoke"),
                Some(&json!({"reason": reason})),
            )
            .map(|v| show(&c, &v, mandate_line)),
        MandateCommand::Export { id, out } => export(&c, &id, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn create(
    c: &Client,
    agent: String,
    text: Option<String>,
    file: Option<PathBuf>,
    timezone: String,
    currency: String,
) -> Result<(), String> {
    let body = match (text, file) {
        (_, Some(f)) => {
            let raw = std::fs::read_to_string(&f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            let m: Value = serde_json::from_str(&raw)
                .map_err(|e| format!("{} is not JSON: {e}", f.display()))?;
            // Accept the whole output of `purser mandate draft --json` too.
            let m = m.get("mandate").cloned().unwrap_or(m);
            json!({"agent_id": agent, "mandate": m})
        }
        (Some(t), None) => {
            json!({"agent_id": agent, "text": t, "timezone": timezone, "currency": currency})
        }
        (None, None) => return Err("give your words, or --file with a mandate".into()),
    };
    let v = c.call(As::User, "POST", "/v1/mandates", Some(&body))?;
    show(c, &v, |v| {
        let mut out = mandate_full(v);
        if let Some(d) = v.get("draft") {
            for u in d["not_understood"].as_array().into_iter().flatten() {
                out.push_str(&format!("\nNot understood (left out): {u}"));
            }
            for q in d["questions"].as_array().into_iter().flatten() {
                out.push_str(&format!("\nQuestion: {}", q.as_str().unwrap_or_default()));
            }
        }
        out.push_str(&format!(
            "\n\nThis is a draft: nothing is in force. To consent: purser mandate consent {}",
            s(v, "id")
        ));
        out
    });
    Ok(())
}

fn recurring(c: &Client, a: RecurringArgs) -> Result<(), String> {
    use purser_core::mandate::{
        recurring_mandate, DateOrInstant, Frequency, RecurringRequest, Schedule,
    };
    let money: purser_core::Money = serde_json::from_value(json!({
        "minor": amount(&a.amount)?["amount"],
        "currency": amount(&a.amount)?["currency"],
    }))
    .map_err(|e| format!("--amount: {e}"))?;
    let when = |flag: &str, v: &str| {
        DateOrInstant::parse(v).ok_or_else(|| {
            format!("{flag}: {v} is neither a date (2026-12-01) nor an RFC 3339 instant")
        })
    };
    let frequency = match a.every.as_str() {
        "daily" => Frequency::Daily,
        "weekly" => Frequency::Weekly,
        "annually" => Frequency::Annually,
        _ => Frequency::Monthly,
    };
    let lead = match a.remind_hours {
        Some(h) => Some(
            h.checked_mul(3600)
                .ok_or("--remind-hours: at most 744 (31 days)")?,
        ),
        None => None,
    };
    let m = recurring_mandate(RecurringRequest {
        description: a.description.clone(),
        schedule: Schedule {
            merchant_id: a.merchant,
            amount: money,
            first_charge_at: when("--first", &a.first)?,
            funding_source: a.funding,
            reminder_lead_seconds: lead,
            description: Some(a.description),
        },
        frequency,
        max_occurrences: a.max,
        valid_until: a.until.as_deref().map(|u| when("--until", u)).transpose()?,
    });
    let body = json!({"agent_id": a.agent, "mandate": m});
    let v = c.call(As::User, "POST", "/v1/mandates", Some(&body))?;
    show(c, &v, |v| {
        format!(
            "{}\n\nThis is a draft: nothing will be charged until you consent: purser mandate consent {}",
            mandate_full(v),
            s(v, "id")
        )
    });
    Ok(())
}

fn charge_line(v: &Value) -> String {
    let why = match (v["reason_code"].as_str(), v["reason"].as_str()) {
        (Some(code), Some(r)) => format!("  {r} ({code})"),
        _ => String::new(),
    };
    format!(
        "#{:<4} due {}  {:<9}  {}{why}",
        v["occurrence"],
        s(v, "due_at"),
        s(v, "status"),
        v["payment_id"].as_str().unwrap_or("-"),
    )
}

fn consent(c: &Client, id: &str, yes: bool) -> Result<(), String> {
    let m = c.call(As::User, "GET", &format!("/v1/mandates/{id}"), None)?;
    if s(&m, "status") != "draft" {
        return Err(format!(
            "mandate {id} is {}; only a draft can be consented to",
            s(&m, "status")
        ));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err("consenting lets an agent spend your money: read the mandate with `purser mandate show`, then run this again on a terminal, or pass --yes".into());
        }
        println!("{}", mandate_full(&m));
        println!();
        print!(
            "Let agent {} act on this mandate? Type yes to consent: ",
            s(&m["agent"], "name")
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read your answer: {e}"))?;
        if line.trim() != "yes" {
            return Err("not consented; nothing changed".into());
        }
    }
    let v = c.call(
        As::User,
        "POST",
        &format!("/v1/mandates/{id}/consent"),
        Some(&json!({"content_hash": m["content_hash"]})),
    )?;
    show(c, &v, |v| {
        format!(
            "{}\nConsented. Credentials issued by key {} to agent key {}; export them with: purser mandate export {}",
            mandate_line(v),
            s(&v["credentials"], "issuer_kid"),
            s(&v["credentials"], "agent_kid"),
            s(v, "id")
        )
    });
    Ok(())
}

fn export(c: &Client, id: &str, out: Option<PathBuf>) -> Result<(), String> {
    let v = c.call(
        As::User,
        "GET",
        &format!("/v1/mandates/{id}/credentials"),
        None,
    )?;
    match out {
        Some(path) => {
            let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
            std::fs::write(&path, text + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!(
                "Wrote the checkout and payment credentials of {id} to {} (expire {}).",
                path.display(),
                s(&v, "expires_at")
            );
        }
        None => show(c, &v, |v| {
            format!(
                "checkout (mandate.checkout.open.1):\n{}\n\npayment (mandate.payment.open.1):\n{}\n\nissuer key {} (see {}), agent key {}, expires {}",
                s(v, "checkout"),
                s(v, "payment"),
                s(v, "issuer_kid"),
                s(v, "jwks_path"),
                s(v, "agent_kid"),
                s(v, "expires_at")
            )
        }),
    }
    Ok(())
}

fn mandate_line(v: &Value) -> String {
    let spent = v["usage"]["spent"]["display"].as_str().unwrap_or("-");
    format!(
        "{}  {:<9}  agent {}  spent {}  {}",
        s(v, "id"),
        s(v, "status"),
        s(&v["agent"], "name"),
        spent,
        s(v, "summary")
    )
}

fn mandate_full(v: &Value) -> String {
    let mut out = format!(
        "Mandate {} ({}) for agent {} ({})\n{}",
        s(v, "id"),
        s(v, "status"),
        s(&v["agent"], "name"),
        s(&v["agent"], "id"),
        s(v, "summary")
    );
    let words = v["mandate"]["provenance"]["user_words"]
        .as_str()
        .unwrap_or_default();
    if !words.is_empty() {
        out.push_str(&format!("\nYour words: \"{words}\""));
    }
    let u = &v["usage"];
    out.push_str(&format!(
        "\nSpent {} in {} payment(s)",
        u["spent"]["display"].as_str().unwrap_or("nothing"),
        u["payments"]
    ));
    if let Some(left) = u["remaining_budget"]["display"].as_str() {
        out.push_str(&format!("; {left} of the budget left"));
    }
    let sch = &v["schedule"];
    if sch.is_object() {
        out.push_str(&format!(
            "\nSchedule {}: {} {} to {}; {} charged, {} declined",
            s(sch, "state"),
            sch["amount"]["display"].as_str().unwrap_or("-"),
            s(sch, "frequency"),
            s(sch, "merchant_id"),
            sch["charged"],
            sch["declined"]
        ));
        if let Some(m) = sch["missed"].as_i64().filter(|m| *m > 0) {
            out.push_str(&format!(
                ", {m} missed (found too late after an outage; not charged)"
            ));
        }
        if let Some(r) = sch["remaining"].as_i64() {
            out.push_str(&format!(", {r} to come"));
        }
        if let Some(next) = sch["next_charge_at"].as_str() {
            out.push_str(&format!(
                "; next charge {next} (reminder {})",
                s(sch, "next_reminder_at")
            ));
        }
    }
    out.push_str(&format!(
        "\nTime zone {}; content hash {}",
        s(v, "timezone"),
        s(v, "content_hash")
    ));
    out
}

fn simulation(v: &Value) -> String {
    let mut out = match v["outcome"].as_str() {
        Some("allowed") => "Allowed: the agent could pay this without asking you.".to_string(),
        Some("needs_confirmation") => {
            "Allowed, but you would be asked to confirm it first.".to_string()
        }
        _ => "Declined:".to_string(),
    };
    for f in v["failures"].as_array().into_iter().flatten() {
        out.push_str(&format!("\n  - {} ({})", s(f, "message"), s(f, "code")));
    }
    out.push_str(&format!(
        "\n(mandate {} is {}; nothing was charged)",
        s(v, "mandate_id"),
        s(v, "status")
    ));
    out
}

fn today_utc() -> Result<CivilDate, String> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970; pass --today YYYY-MM-DD".to_string())?
        .as_secs();
    let days = i64::try_from(secs / 86_400).map_err(|_| "the system clock is out of range")?;
    CivilDate::from_days_since_epoch(days)
        .ok_or_else(|| "the system clock is out of range; pass --today YYYY-MM-DD".to_string())
}

fn draft_cmd(args: DraftArgs, json: bool) -> Result<ExitCode, String> {
    let today = match &args.today {
        Some(s) => CivilDate::parse(s).ok_or_else(|| {
            format!("--today '{s}' is not a date; write YYYY-MM-DD, like 2026-11-21")
        })?,
        None => today_utc()?,
    };
    let yen_means = if args.yen.eq_ignore_ascii_case("JPY") {
        Currency::JPY
    } else {
        Currency::CNY
    };
    let ctx = DraftContext {
        today,
        default_currency: args.currency,
        yen_means,
        timezone: args.timezone,
    };
    let d = draft(&args.text, &ctx);
    if json {
        let out =
            serde_json::to_string_pretty(&d).map_err(|e| format!("cannot print the draft: {e}"))?;
        println!("{out}");
    } else if d.understood_anything() {
        println!("Proposed mandate: {}", d.mandate.summary());
        println!();
        println!("Understood:");
        for u in &d.understood {
            println!("  \"{}\" → {}", u.phrase, u.meaning);
        }
        if !d.not_understood.is_empty() {
            println!("Not understood (left out of the mandate):");
            for s in &d.not_understood {
                println!("  \"{s}\"");
            }
        }
        for q in &d.questions {
            println!("Question: {q}");
        }
        for w in &d.warnings {
            println!("Note: {w}");
        }
        if let Err(e) = d.mandate.validate() {
            println!("Problem: {e}");
        }
        println!();
        println!("Nothing is active until you consent.");
    }
    if d.understood_anything() {
        Ok(ExitCode::SUCCESS)
    } else {
        let mut msg =
            String::from("nothing in the request was understood, so no mandate was drafted.");
        if !d.not_understood.is_empty() {
            msg.push_str(&format!(
                " Not understood: \"{}\".",
                d.not_understood.join("\", \"")
            ));
        }
        for w in &d.warnings {
            msg.push(' ');
            msg.push_str(w);
        }
        msg.push_str(" Try a request like \"buy a pair of hiking boots under 800 yuan\".");
        eprintln!("error: {msg}");
        Ok(ExitCode::FAILURE)
    }
}
