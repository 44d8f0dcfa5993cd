//! A minimal Purser agent: loads (or creates) its key, asks Purser who it is, and lists its
//! bindings and the funds of each usable one.
//!
//! ```text
//! cargo run -p purser-agent --example agent -- [KEY_FILE] [--bind USER_ID PURPOSE]
//! ```
//!
//! `PURSER_URL` names the server (default `http://127.0.0.1:7420`); `KEY_FILE` defaults to
//! `agent-key.jwk` (created, mode 0600, when missing). `--bind` asks that user to bind this
//! agent.

use purser_agent::{AgentKey, Client, Error};
use std::process::ExitCode;

const DEFAULT_URL: &str = "http://127.0.0.1:7420";
const DEFAULT_KEY_FILE: &str = "agent-key.jwk";

fn main() -> ExitCode {
    let url = std::env::var("PURSER_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    let mut key_file = DEFAULT_KEY_FILE.to_string();
    let mut bind: Option<(String, String)> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => match (args.next(), args.next()) {
                (Some(user), Some(purpose)) => bind = Some((user, purpose)),
                _ => return usage("--bind needs USER_ID and PURPOSE"),
            },
            "-h" | "--help" => return usage(""),
            other if other.starts_with('-') => return usage(&format!("unknown option {other}")),
            other => key_file = other.to_string(),
        }
    }

    let (key, created) = match AgentKey::load_or_create(&key_file) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if created {
        println!("Created a new agent key in {key_file} (keep it private; it is mode 0600).");
        println!(
            "Register it with `purser agent register --name NAME --operator OPERATOR --key {key_file}`."
        );
    }
    println!("Key id (kid): {}", key.kid());
    println!("Public key:   {}", key.public_jwk());

    let purser = match Client::new(&url, key) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&purser, bind) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = hint(&e, &purser) {
                eprintln!("\n{hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(purser: &Client, bind: Option<(String, String)>) -> Result<(), Error> {
    if let Some((user, purpose)) = bind {
        let b = purser.request_binding(&user, &purpose)?;
        println!(
            "\nAsked {} to bind this agent: binding {} is {}. The user approves it on their \
             wallet page.",
            b.user_id, b.id, b.status
        );
    }

    let me = purser.whoami()?;
    println!(
        "\nI am {} ({}), run by {}; status {}.",
        me.agent.name, me.agent.id, me.agent.operator, me.agent.status
    );
    if me.bindings.is_empty() {
        println!(
            "No bindings yet. Ask a user to bind this agent: rerun with --bind usr_… \"what I will do\"."
        );
        return Ok(());
    }
    println!("Bindings:");
    for b in &me.bindings {
        println!(
            "  {}  user {}  {}{}  purpose: {}",
            b.id,
            b.user_id,
            b.status,
            if b.frozen { " (frozen)" } else { "" },
            b.purpose
        );
    }
    for b in me.bindings.iter().filter(|b| b.is_usable()) {
        let funds = purser.funds(&b.user_id)?;
        match &funds.funding_source {
            Some(s) => println!("\nFunds for {}: restricted to {s}", funds.user_id),
            None => println!("\nFunds for {}:", funds.user_id),
        }
        if funds.exclusive_cards.is_empty() {
            println!("  no exclusive card");
        }
        for card in &funds.exclusive_cards {
            println!(
                "  {}  balance {}  held {}  ({})",
                card.id, card.balance.display, card.held.display, card.status
            );
        }
    }
    Ok(())
}

/// What to do next, for the errors a new agent developer meets first.
fn hint(e: &Error, purser: &Client) -> Option<String> {
    let url = purser.base_url();
    let jwk = purser.key().public_jwk();
    Some(match e {
        Error::Transport(_) => format!(
            "Is Purser running at {url}? Start it with `purser serve`, or set PURSER_URL."
        ),
        Error::Api { code, .. } => match code.as_str() {
            "unknown_key" => format!(
                "Register this key as a developer first:\n  purser agent register --name NAME --operator OPERATOR --key KEY_FILE\n(public key {jwk}; POST {url}/v1/agents also needs key_proof, see AgentKey::possession_proof)."
            ),
            "signature_expired" | "signature_not_yet_valid" => {
                "This machine's clock disagrees with the server's; sync it (NTP) and retry."
                    .to_string()
            }
            "agent_not_bound" => {
                "Ask the user to bind this agent (--bind usr_… \"purpose\") and to approve it."
                    .to_string()
            }
            "agent_frozen" => "The user froze this agent; only they can unfreeze it.".to_string(),
            "agent_revoked" => {
                "This agent was revoked; register a new agent with a new key.".to_string()
            }
            _ => return None,
        },
        _ => return None,
    })
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: agent [KEY_FILE] [--bind USER_ID PURPOSE]\n\
         \n\
         KEY_FILE  the agent's private key (JWK); created when missing [default: {DEFAULT_KEY_FILE}]\n\
         PURSER_URL  the server [default: {DEFAULT_URL}]"
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
