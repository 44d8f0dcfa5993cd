//! `purser evidence …`: `export` downloads a payment's sealed evidence bundle through the REST
//! API; `verify` checks a bundle offline (no server) with `purser_wallet::evidence::verify`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use purser_wallet::evidence::verify::{verify_bundle, Report, MAX_BUNDLE_BYTES};

use crate::client::{As, Client, ClientArgs};

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Download the evidence bundle of one of your payments: one sealed JSON file with the
    /// mandate and your consent, the agent's signed request, Purser's decision, the merchant's
    /// redemption and the ledger entries. Prints it, or writes it to -o FILE.
    ///
    /// Example: purser evidence export pay_… -o evidence.json
    Export {
        payment_id: String,
        /// Write the bundle to this file instead of printing it.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a bundle offline: every signature and hash in it. Says in plain words what it
    /// proves; exits 0 when every check passes, 1 naming the first that fails, 2 when the
    /// files cannot be read. Needs no server.
    ///
    /// Example: purser evidence verify evidence.json --keys purser-jwks.json
    Verify {
        file: PathBuf,
        /// Purser's public keys (save GET /.well-known/jwks.json): the signatures must be by
        /// these keys. Without it the keys inside the bundle are used, which shows the bundle
        /// is consistent but not who made it.
        #[arg(long, value_name = "JWKS_FILE")]
        keys: Option<PathBuf>,
    },
}

pub fn run(command: EvidenceCommand, client: ClientArgs) -> ExitCode {
    let json = client.json;
    match command {
        EvidenceCommand::Export { payment_id, out } => {
            match export(&Client::new(client), &payment_id, out.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        EvidenceCommand::Verify { file, keys } => verify(&file, keys.as_deref(), json),
    }
}

fn export(c: &Client, payment_id: &str, out: Option<&Path>) -> Result<(), String> {
    if payment_id.is_empty()
        || !payment_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "{payment_id:.80} is not a payment id (they look like pay_…)"
        ));
    }
    let v = c.call(
        As::User,
        "GET",
        &format!("/v1/payments/{payment_id}/evidence"),
        None,
    )?;
    // Whitespace and member order are not sealed (the seal covers the canonical form), so the
    // bundle can be written indented.
    let text =
        serde_json::to_string_pretty(&v).map_err(|e| format!("cannot write the bundle: {e}"))?;
    match out {
        None => println!("{text}"),
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!(
                "Wrote the evidence for {payment_id} to {} (sealed by Purser). Check it with: purser evidence verify {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}

fn read_bounded(path: &Path, what: &str) -> Result<String, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?
        .len();
    if len > MAX_BUNDLE_BYTES as u64 {
        return Err(format!(
            "the {what} {} is larger than {} MiB; it is not an evidence file",
            path.display(),
            MAX_BUNDLE_BYTES >> 20
        ));
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

fn verify(file: &Path, keys: Option<&Path>, json: bool) -> ExitCode {
    let read = read_bounded(file, "bundle").and_then(|b| {
        let k = keys.map(|k| read_bounded(k, "keys file")).transpose()?;
        Ok((b, k))
    });
    let (bundle, keys_text) = match read {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = verify_bundle(&bundle, keys_text.as_deref());
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("error: cannot print the result: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print_report(&report, file);
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_report(r: &Report, file: &Path) {
    let pid = r.payment_id.as_deref().unwrap_or("an unknown payment");
    match &r.failure {
        None => {
            println!(
                "Verified: {} is the evidence of {pid} ({}).",
                file.display(),
                r.format
            );
            println!("Signatures checked with {}.", r.trust_root_description);
            println!();
            println!("What it proves:");
            for s in &r.proven {
                println!("  - {s}");
            }
            println!();
            println!("What it does not prove:");
            for s in &r.not_proven {
                println!("  - {s}");
            }
            println!();
            println!("Checks passed ({}):", r.checks.len());
            for c in &r.checks {
                println!("  ✓ {}: {}", c.part, c.check);
            }
        }
        Some(f) => {
            println!("NOT VERIFIED: {} ({pid})", file.display());
            println!("  ✗ {}: {} ({})", f.part, f.message, f.code);
            println!("Signatures were checked with {}.", r.trust_root_description);
            if !r.checks.is_empty() {
                println!("Passed before it:");
                for c in &r.checks {
                    println!("  ✓ {}: {}", c.part, c.check);
                }
            }
        }
    }
}
