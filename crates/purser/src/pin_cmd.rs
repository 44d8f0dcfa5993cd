//! `purser pin set|status`: the PIN that approves payments on the confirmation page.
//!
//! A PIN is never an argument (argv is visible to every user of the machine through `ps` and
//! lands in shell history): it is typed at a prompt that does not echo, or, for scripts,
//! written to standard input with `--pin-stdin`.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{As, Client};
use crate::wallet_cmd::show;

#[derive(Subcommand)]
pub enum PinCommand {
    /// Set your PIN (6–12 digits), or change it. You are asked for it at a prompt that does not
    /// echo, twice; changing it asks for the current PIN first.
    Set {
        /// Read from standard input instead of a prompt: the new PIN on the first line and,
        /// when changing an existing PIN, the current PIN on the second.
        #[arg(long)]
        pin_stdin: bool,
    },
    /// Whether you have a PIN, and whether PIN entry is locked after wrong PINs.
    Status,
}

/// A line of input, without its line ending.
fn line(s: String) -> String {
    s.trim_end_matches(['\r', '\n']).to_string()
}

fn prompt(text: &str) -> Result<String, String> {
    rpassword::prompt_password(text)
        .map(line)
        .map_err(|e| format!("cannot read the PIN from the terminal: {e}"))
}

/// The new PIN and, when one is set, the current one.
fn read_pins(pin_set: bool, from_stdin: bool) -> Result<(String, Option<String>), String> {
    if from_stdin {
        let mut lines = std::io::stdin().lock().lines();
        let mut next = || lines.next().transpose().map(|l| l.map(line));
        let new = next()
            .map_err(|e| format!("cannot read standard input: {e}"))?
            .filter(|l| !l.is_empty())
            .ok_or("--pin-stdin: write the new PIN on the first line of standard input")?;
        let current = if pin_set {
            Some(
                next()
                    .map_err(|e| format!("cannot read standard input: {e}"))?
                    .filter(|l| !l.is_empty())
                    .ok_or("you already have a PIN: to change it, write the current PIN on the second line of standard input")?,
            )
        } else {
            None
        };
        return Ok((new, current));
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "standard input is not a terminal, so there is no one to ask: pass --pin-stdin and write the PIN on standard input".into(),
        );
    }
    let current = if pin_set {
        Some(prompt("Current PIN: ")?)
    } else {
        None
    };
    let new = prompt("New PIN (6–12 digits): ")?;
    let again = prompt("The new PIN again: ")?;
    if new != again {
        return Err(
            "the two new PINs differ; nothing was changed — run `purser pin set` again".into(),
        );
    }
    Ok((new, current))
}

pub fn run(c: &Client, cmd: PinCommand) -> Result<(), String> {
    match cmd {
        PinCommand::Status => {
            let v = c.call(As::User, "GET", "/v1/me/pin", None)?;
            show(c, &v, status_line);
        }
        PinCommand::Set { pin_stdin } => {
            let status = c.call(As::User, "GET", "/v1/me/pin", None)?;
            let pin_set = status["pin_set"] == true;
            let (pin, current) = read_pins(pin_set, pin_stdin)?;
            let v = c.call(
                As::User,
                "POST",
                "/v1/me/pin",
                Some(&json!({"pin": pin, "current_pin": current})),
            )?;
            show(c, &v, |_| {
                if pin_set {
                    "PIN changed. Use it to approve or decline payments on confirmation pages."
                        .into()
                } else {
                    "PIN set. Use it to approve or decline payments on confirmation pages.".into()
                }
            });
        }
    }
    Ok(())
}

fn status_line(v: &Value) -> String {
    match (v["pin_set"] == true, v["locked_until"].as_str()) {
        (false, _) => "No PIN set. Set one with: purser pin set".into(),
        (true, Some(until)) => {
            format!("PIN set, but PIN entry is locked after too many wrong PINs until {until}.")
        }
        (true, None) => "PIN set.".into(),
    }
}
