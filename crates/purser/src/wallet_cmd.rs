//! `purser user|token|wallet|card|topup|agent|binding|exclusive-card|keys`: the wallet from
//! the command line, through the REST API.

use clap::Subcommand;
use purser_core::{Currency, Money, ParseOptions};
use serde_json::{json, Value};

use crate::client::{As, Client};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (operator). Prints a one-time setup token and link (valid 24 hours).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Exchange a setup token for your first API token (shown once).
    Setup {
        setup_token: String,
        /// A name for the token, e.g. "laptop".
        #[arg(long, default_value = "cli")]
        token_name: String,
    },
    /// Who your token belongs to, and its scopes.
    Me,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token (its secret is shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Repeat for several: wallet:read, wallet:write, agents:read, agents:write, developer, tokens, mandates:read, mandates:write.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in days (default 90).
        #[arg(long)]
        days: Option<i64>,
    },
    /// Your tokens (never their secrets).
    List,
    /// Revoke a token, effective on the next request.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum CardCommand {
    /// Add a card. The sandbox rail accepts only its test numbers (see the README).
    Add {
        #[arg(long)]
        number: String,
        /// MM/YY
        #[arg(long)]
        expiry: String,
        #[arg(long)]
        cvv: String,
        #[arg(long)]
        holder: String,
    },
    List,
    /// Remove a card; its sealed number and CVV are destroyed.
    Remove {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum TopupCommand {
    /// Move money from a card into the wallet, e.g. --amount "500.00 CNY".
    Create {
        #[arg(long)]
        card: String,
        #[arg(long)]
        amount: String,
    },
    /// Answer a top-up's 3-D Secure challenge (sandbox: 123456).
    Answer {
        id: String,
        code: String,
    },
    /// Refund a top-up to its card (all that is left unless --amount).
    Refund {
        id: String,
        #[arg(long)]
        amount: Option<String>,
    },
    List,
}

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Make an Ed25519 key pair for an agent: the private key (a JWK) goes to --out (0600);
    /// the public JWK is printed, for `purser agent register`.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Register an agent you develop. Give the agent's private key file (from `keygen`): only
    /// its public key and a proof that you hold it are sent.
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        operator: String,
        #[arg(long, value_name = "FILE")]
        key: String,
    },
    List,
    /// Rotate the agent's key; the old key works for --grace-hours (default 24).
    RotateKey {
        id: String,
        /// The new private key file (from `keygen`).
        #[arg(long, value_name = "FILE")]
        key: String,
        #[arg(long)]
        grace_hours: Option<i64>,
    },
    /// Revoke the agent for good.
    Revoke {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum BindingCommand {
    /// Agents acting, or asking to act, for you.
    List {
        /// pending, active, declined or revoked
        #[arg(long)]
        status: Option<String>,
    },
    Approve {
        id: String,
    },
    Decline {
        id: String,
    },
    /// Kill switch: refuse every request of this agent from the next one.
    Freeze {
        id: String,
    },
    Unfreeze {
        id: String,
    },
    Revoke {
        id: String,
    },
    /// Allow the agent only this funding source (crd_… or ecd_…), or `any`.
    Restrict {
        id: String,
        source: String,
    },
    /// Issue an ACP key for this binding: the Bearer an ACP agent platform sends to
    /// /agentic_commerce/delegate_payment for this agent and you (shown once).
    AcpKey {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in days (1–366, default 90).
        #[arg(long)]
        ttl_days: Option<i64>,
    },
    /// The ACP keys of this binding.
    AcpKeys {
        id: String,
    },
    /// Revoke an ACP key (apk_…).
    AcpKeyRevoke {
        key_id: String,
    },
}

fn acp_key_line(v: &Value) -> String {
    let state = if v["revoked_at"].is_null() {
        format!("expires {}", s(v, "expires_at"))
    } else {
        format!("revoked {}", s(v, "revoked_at"))
    };
    format!(
        "{}  {}  {}  {state}",
        s(v, "id"),
        s(v, "name"),
        s(v, "agent_id")
    )
}

#[derive(Subcommand)]
pub enum ExclusiveCommand {
    /// Give an approved agent its own card (a sub-balance it alone can spend).
    Create {
        #[arg(long)]
        binding: String,
        #[arg(long)]
        currency: String,
    },
    /// Move money from the wallet into the card.
    Fund {
        id: String,
        #[arg(long)]
        amount: String,
    },
    /// Move money from the card back to the wallet.
    Withdraw {
        id: String,
        #[arg(long)]
        amount: String,
    },
    /// Close the card; its balance returns to the wallet.
    Close {
        id: String,
    },
    List,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The vault's key-encryption keys and how many records each wraps.
    Status,
    /// Make a new vault key-encryption key and re-wrap every record with it (server keeps
    /// running).
    Rotate,
    /// Destroy retired vault keys no record uses any more.
    DestroyRetired,
    /// Make new signing keys for Purser; old public keys stay published.
    RotateSigning,
}

pub(crate) fn amount(text: &str) -> Result<Value, String> {
    let m = Money::parse(
        text,
        ParseOptions {
            yen_sign: Currency::CNY,
            default_currency: None,
        },
    )
    .map_err(|e| format!("--amount: {e} (write it like \"500.00 CNY\" or \"¥500\")"))?;
    Ok(json!({"amount": m.minor, "currency": m.currency.code()}))
}

/// The agent key to register: its public JWK and the proof that the caller holds the private
/// key (a signature naming the caller's user id). Only the public part and the proof are sent.
fn key_arg(c: &Client, file: &str) -> Result<(Value, String), String> {
    let raw = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let jwk: Value =
        serde_json::from_str(&raw).map_err(|_| format!("{file} does not hold a JWK"))?;
    if jwk.get("d").is_none() {
        return Err(format!(
            "{file} holds only a public key; registering needs the private key file (made by `purser agent keygen`) to prove you hold it — only the public key and a signature are sent"
        ));
    }
    let key = purser_core::httpsig::Ed25519KeyPair::from_private_jwk(&jwk)
        .map_err(|e| format!("{file}: {e}"))?;
    let me = c.call(As::User, "GET", "/v1/me", None)?;
    let user_id = me["user"]["id"].as_str().unwrap_or_default();
    let proof = key.possession_proof(user_id).map_err(|e| e.to_string())?;
    Ok((key.public_key().to_jwk(), proof))
}

pub(crate) fn show(c: &Client, v: &Value, summary: impl FnOnce(&Value) -> String) {
    if c.json() {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        println!("{}", summary(v));
    }
}

pub(crate) fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub(crate) fn list(v: &Value, line: impl Fn(&Value) -> String) -> String {
    let items = v["data"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "(none)".into();
    }
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

fn card_line(v: &Value) -> String {
    format!(
        "{}  {} •••• {}  exp {:02}/{}  {}  {}  rail {}{}",
        s(v, "id"),
        s(v, "brand"),
        s(v, "last4"),
        v["exp_month"].as_i64().unwrap_or(0),
        s(v, "exp_year"),
        s(v, "fingerprint"),
        s(v, "status"),
        s(v, "rail"),
        if v["rail"] == "sandbox" {
            " (simulated)"
        } else {
            ""
        }
    )
}

fn topup_line(v: &Value) -> String {
    let mut line = format!(
        "{}  {}  {}{}",
        s(v, "id"),
        v["amount"]["display"].as_str().unwrap_or("?"),
        s(v, "status"),
        if v["sandbox"] == true {
            "  (sandbox: no real card was charged)"
        } else {
            ""
        }
    );
    if let Some(ch) = v["challenge"].as_str() {
        line.push_str(&format!(
            "\n  challenge: {ch}\n  answer with: purser topup answer {} CODE",
            s(v, "id")
        ));
    }
    line
}

fn binding_line(v: &Value) -> String {
    format!(
        "{}  {} ({}) by {}  {}{}  source {}\n  purpose: {}",
        s(v, "id"),
        v["agent"]["name"].as_str().unwrap_or("?"),
        v["agent"]["id"].as_str().unwrap_or("?"),
        v["agent"]["operator"].as_str().unwrap_or("?"),
        s(v, "status"),
        if v["frozen"] == true { " FROZEN" } else { "" },
        v["funding_source"].as_str().unwrap_or("any"),
        s(v, "purpose"),
    )
}

fn agent_line(v: &Value) -> String {
    let keys = v["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .map(|k| format!("\n  key {}  {}", s(k, "kid"), s(k, "status")))
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        "{}  {} by {}  {}{keys}",
        s(v, "id"),
        s(v, "name"),
        s(v, "operator"),
        s(v, "status")
    )
}

fn ecard_line(v: &Value) -> String {
    format!(
        "{}  agent {}  balance {}  held {}  {}",
        s(v, "id"),
        s(v, "agent_id"),
        v["balance"]["display"].as_str().unwrap_or("?"),
        v["held"]["display"].as_str().unwrap_or("?"),
        s(v, "status")
    )
}

pub fn user(c: &Client, cmd: UserCommand) -> Result<(), String> {
    match cmd {
        UserCommand::Create { name, email } => {
            let v = c.call(
                As::Operator,
                "POST",
                "/v1/users",
                Some(&json!({"name": name, "email": email})),
            )?;
            show(c, &v, |v| {
                format!(
                    "Created user {} ({}).\nGive them this one-time setup token (valid until {}):\n  {}\nThey run:  purser user setup {}",
                    s(v, "id"), s(v, "name"), s(v, "setup_expires_at"), s(v, "setup_token"), s(v, "setup_token")
                )
            });
        }
        UserCommand::Setup {
            setup_token,
            token_name,
        } => {
            let v = c.call(
                As::Nobody,
                "POST",
                "/v1/setup",
                Some(&json!({"setup_token": setup_token, "token_name": token_name})),
            )?;
            show(c, &v, |v| {
                format!(
                    "Welcome, {}. Your API token (shown once; keep it secret):\n  {}\nUse it with:  export PURSER_TOKEN={}",
                    v["user"]["name"].as_str().unwrap_or("?"),
                    v["token"]["token"].as_str().unwrap_or("?"),
                    v["token"]["token"].as_str().unwrap_or("?")
                )
            });
        }
        UserCommand::Me => {
            let v = c.call(As::User, "GET", "/v1/me", None)?;
            show(c, &v, |v| {
                format!(
                    "{} ({})  token {}  scopes {}",
                    v["user"]["name"].as_str().unwrap_or("?"),
                    v["user"]["id"].as_str().unwrap_or("?"),
                    s(v, "token_id"),
                    v["scopes"]
                )
            });
        }
    }
    Ok(())
}

pub fn token(c: &Client, cmd: TokenCommand) -> Result<(), String> {
    let v = match cmd {
        TokenCommand::Create { name, scopes, days } => {
            let v = c.call(
                As::User,
                "POST",
                "/v1/tokens",
                Some(&json!({"name": name, "scopes": scopes, "expires_in_days": days})),
            )?;
            show(c, &v, |v| {
                format!(
                    "Token {} (shown once):\n  {}\nscopes {}  expires {}",
                    s(v, "id"),
                    s(v, "token"),
                    v["scopes"],
                    s(v, "expires_at")
                )
            });
            return Ok(());
        }
        TokenCommand::List => c.call(As::User, "GET", "/v1/tokens", None)?,
        TokenCommand::Revoke { id } => {
            let v = c.call(As::User, "POST", &format!("/v1/tokens/{id}/revoke"), None)?;
            show(c, &v, |v| format!("Revoked {}.", s(v, "id")));
            return Ok(());
        }
    };
    show(c, &v, |v| {
        list(v, |t| {
            format!(
                "{}  {}  {}  expires {}{}",
                s(t, "id"),
                s(t, "name"),
                t["scopes"],
                s(t, "expires_at"),
                if t["revoked_at"].is_string() {
                    "  REVOKED"
                } else {
                    ""
                }
            )
        })
    });
    Ok(())
}

pub fn wallet(c: &Client) -> Result<(), String> {
    let v = c.call(As::User, "GET", "/v1/wallet", None)?;
    show(c, &v, |v| {
        let lines = v["balances"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|b| {
                format!(
                    "  {}  available {}  held {}",
                    s(b, "currency"),
                    b["available"]["display"].as_str().unwrap_or("?"),
                    b["held"]["display"].as_str().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>();
        if lines.is_empty() {
            "The wallet is empty; top it up with `purser topup create --card crd_… --amount \"500.00 CNY\"`.".into()
        } else {
            format!("Wallet of {}:\n{}", s(v, "user_id"), lines.join("\n"))
        }
    });
    Ok(())
}

pub fn card(c: &Client, cmd: CardCommand) -> Result<(), String> {
    match cmd {
        CardCommand::Add {
            number,
            expiry,
            cvv,
            holder,
        } => {
            let v = c.call(
                As::User,
                "POST",
                "/v1/cards",
                Some(&json!({"number": number, "expiry": expiry, "cvv": cvv, "holder": holder})),
            )?;
            show(c, &v, |v| format!("Added {}", card_line(v)));
        }
        CardCommand::List => {
            let v = c.call(As::User, "GET", "/v1/cards", None)?;
            show(c, &v, |v| list(v, card_line));
        }
        CardCommand::Remove { id } => {
            let v = c.call(As::User, "POST", &format!("/v1/cards/{id}/remove"), None)?;
            show(c, &v, |v| format!("Removed {}", card_line(v)));
        }
    }
    Ok(())
}

pub fn topup(c: &Client, cmd: TopupCommand) -> Result<(), String> {
    match cmd {
        TopupCommand::Create { card, amount: a } => {
            let v = c.call(
                As::User,
                "POST",
                "/v1/topups",
                Some(&json!({"card_id": card, "amount": amount(&a)?})),
            )?;
            show(c, &v, topup_line);
        }
        TopupCommand::Answer { id, code } => {
            let v = c.call(
                As::User,
                "POST",
                &format!("/v1/topups/{id}/challenge"),
                Some(&json!({"answer": code})),
            )?;
            show(c, &v, topup_line);
        }
        TopupCommand::Refund { id, amount: a } => {
            let body = match a {
                Some(a) => json!({"amount": amount(&a)?}),
                None => json!({}),
            };
            let v = c.call(
                As::User,
                "POST",
                &format!("/v1/topups/{id}/refunds"),
                Some(&body),
            )?;
            show(c, &v, |v| {
                format!(
                    "Refund {}  {}  {}{}",
                    s(v, "id"),
                    v["amount"]["display"].as_str().unwrap_or("?"),
                    s(v, "status"),
                    v["failure"]
                        .as_str()
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default()
                )
            });
        }
        TopupCommand::List => {
            let v = c.call(As::User, "GET", "/v1/topups", None)?;
            show(c, &v, |v| list(v, topup_line));
        }
    }
    Ok(())
}

pub fn agent(c: &Client, cmd: AgentCommand) -> Result<(), String> {
    match cmd {
        AgentCommand::Keygen { out } => {
            let key =
                purser_core::httpsig::Ed25519KeyPair::generate().map_err(|e| e.to_string())?;
            let private = key.to_private_jwk().map_err(|e| e.to_string())?;
            write_private(&out, private.as_bytes())?;
            let public = key.public_key().to_jwk();
            if c.json() {
                println!(
                    "{}",
                    json!({"kid": key.key_id(), "public_key_jwk": public, "private_key_file": out})
                );
            } else {
                println!(
                    "Private key written to {} (mode 0600; keep it with the agent only).",
                    out.display()
                );
                println!("Key id (JWK thumbprint): {}", key.key_id());
                println!("Public JWK:\n  {public}\nRegister it with: purser agent register --name NAME --operator OPERATOR --key {}", out.display());
            }
        }
        AgentCommand::Register {
            name,
            operator,
            key,
        } => {
            let (jwk, proof) = key_arg(c, &key)?;
            let v = c.call(
                As::User,
                "POST",
                "/v1/agents",
                Some(&json!({"name": name, "operator": operator, "public_key_jwk": jwk, "key_proof": proof})),
            )?;
            show(c, &v, |v| {
                format!("Registered {}\nThe agent can now ask a user to bind it (POST /v1/agent/bindings, signed); the user approves with `purser binding approve`.", agent_line(v))
            });
        }
        AgentCommand::List => {
            let v = c.call(As::User, "GET", "/v1/agents", None)?;
            show(c, &v, |v| list(v, agent_line));
        }
        AgentCommand::RotateKey {
            id,
            key,
            grace_hours,
        } => {
            let (jwk, proof) = key_arg(c, &key)?;
            let v = c.call(
                As::User,
                "POST",
                &format!("/v1/agents/{id}/keys"),
                Some(
                    &json!({"public_key_jwk": jwk, "key_proof": proof, "grace_hours": grace_hours}),
                ),
            )?;
            show(c, &v, agent_line);
        }
        AgentCommand::Revoke { id } => {
            let v = c.call(As::User, "POST", &format!("/v1/agents/{id}/revoke"), None)?;
            show(c, &v, agent_line);
        }
    }
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| {
        format!(
            "cannot create {} ({e}); choose a new file name",
            path.display()
        )
    })?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn binding(c: &Client, cmd: BindingCommand) -> Result<(), String> {
    let (path, body) = match cmd {
        BindingCommand::List { status } => {
            let q = status.map(|s| format!("?status={s}")).unwrap_or_default();
            let v = c.call(As::User, "GET", &format!("/v1/bindings{q}"), None)?;
            show(c, &v, |v| list(v, binding_line));
            return Ok(());
        }
        BindingCommand::Approve { id } => (format!("/v1/bindings/{id}/approve"), None),
        BindingCommand::Decline { id } => (format!("/v1/bindings/{id}/decline"), None),
        BindingCommand::Freeze { id } => (format!("/v1/bindings/{id}/freeze"), None),
        BindingCommand::Unfreeze { id } => (format!("/v1/bindings/{id}/unfreeze"), None),
        BindingCommand::Revoke { id } => (format!("/v1/bindings/{id}/revoke"), None),
        BindingCommand::AcpKey { id, name, ttl_days } => {
            let v = c.call(
                As::User,
                "POST",
                &format!("/v1/bindings/{id}/acp-keys"),
                Some(&json!({"name": name, "ttl_days": ttl_days})),
            )?;
            show(c, &v, |v| {
                format!(
                    "{}\n{}  (shown once: give it to the ACP agent platform as its Bearer token)",
                    acp_key_line(v),
                    s(v, "key")
                )
            });
            return Ok(());
        }
        BindingCommand::AcpKeys { id } => {
            let v = c.call(
                As::User,
                "GET",
                &format!("/v1/bindings/{id}/acp-keys"),
                None,
            )?;
            show(c, &v, |v| list(v, acp_key_line));
            return Ok(());
        }
        BindingCommand::AcpKeyRevoke { key_id } => {
            let v = c.call(
                As::User,
                "POST",
                &format!("/v1/acp-keys/{key_id}/revoke"),
                None,
            )?;
            show(c, &v, acp_key_line);
            return Ok(());
        }
        BindingCommand::Restrict { id, source } => {
            let src = if source == "any" {
                Value::Null
            } else {
                json!(source)
            };
            (
                format!("/v1/bindings/{id}/funding-source"),
                Some(json!({"funding_source": src})),
            )
        }
    };
    let v = c.call(As::User, "POST", &path, body.as_ref())?;
    show(c, &v, binding_line);
    Ok(())
}

pub fn exclusive(c: &Client, cmd: ExclusiveCommand) -> Result<(), String> {
    let v = match cmd {
        ExclusiveCommand::Create { binding, currency } => c.call(
            As::User,
            "POST",
            "/v1/exclusive-cards",
            Some(&json!({"binding_id": binding, "currency": currency})),
        )?,
        ExclusiveCommand::Fund { id, amount: a } => c.call(
            As::User,
            "POST",
            &format!("/v1/exclusive-cards/{id}/fund"),
            Some(&json!({"amount": amount(&a)?})),
        )?,
        ExclusiveCommand::Withdraw { id, amount: a } => c.call(
            As::User,
            "POST",
            &format!("/v1/exclusive-cards/{id}/withdraw"),
            Some(&json!({"amount": amount(&a)?})),
        )?,
        ExclusiveCommand::Close { id } => c.call(
            As::User,
            "POST",
            &format!("/v1/exclusive-cards/{id}/close"),
            None,
        )?,
        ExclusiveCommand::List => {
            let v = c.call(As::User, "GET", "/v1/exclusive-cards", None)?;
            show(c, &v, |v| list(v, ecard_line));
            return Ok(());
        }
    };
    show(c, &v, ecard_line);
    Ok(())
}

pub fn keys(c: &Client, cmd: KeysCommand) -> Result<(), String> {
    let vault_summary = |v: &Value| {
        let keys = v["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|k| {
                format!(
                    "  {}  {}  {} records",
                    s(k, "id"),
                    if k["active"] == true {
                        "active "
                    } else {
                        "retired"
                    },
                    k["records"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        format!("Vault keys ({}):\n{keys}", s(v, "key_source"))
    };
    match cmd {
        KeysCommand::Status => {
            let v = c.call(As::Operator, "GET", "/v1/operator/vault", None)?;
            show(c, &v, vault_summary);
        }
        KeysCommand::Rotate => {
            let v = c.call(As::Operator, "POST", "/v1/operator/vault/rotate", None)?;
            show(c, &v, |v| {
                format!("{}\nEvery record is re-wrapped with {}. Destroy the old key with `purser keys destroy-retired`.", vault_summary(v), s(v, "active_key"))
            });
        }
        KeysCommand::DestroyRetired => {
            let v = c.call(
                As::Operator,
                "POST",
                "/v1/operator/vault/destroy-retired",
                None,
            )?;
            show(c, &v, |v| {
                format!(
                    "Destroyed: {}\n{}",
                    v["destroyed"],
                    vault_summary(&v["vault"])
                )
            });
        }
        KeysCommand::RotateSigning => {
            let v = c.call(
                As::Operator,
                "POST",
                "/v1/operator/signing-keys/rotate",
                None,
            )?;
            show(c, &v, |v| {
                format!(
                    "Published keys:\n{}",
                    v["keys"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|k| format!("  {}  {}", s(k, "alg"), s(k, "kid")))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            });
        }
    }
    Ok(())
}
