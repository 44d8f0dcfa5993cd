//! `purser mandate draft "TEXT"`: the deterministic drafter from the command line. Runs
//! locally: no server, no storage, nothing becomes active.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use purser_core::mandate::{draft, CivilDate, DraftContext};
use purser_core::Currency;

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
}

#[derive(Args)]
pub struct DraftArgs {
    /// The request in plain English, e.g. "at most ¥200 a week on coffee until March".
    pub text: String,
    /// Print the whole draft (mandate, understood, not understood, questions) as JSON.
    #[arg(long)]
    pub json: bool,
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

pub fn run(command: MandateCommand) -> ExitCode {
    match command {
        MandateCommand::Draft(args) => match draft_cmd(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
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

fn draft_cmd(args: DraftArgs) -> Result<ExitCode, String> {
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
    if args.json {
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
