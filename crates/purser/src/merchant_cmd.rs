//! `purser merchant create|list|show`: the operator's merchant registry, through the REST API.
//! `purser merchant serve`: run the bundled shop (`purser-merchant`) as one of those merchants.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{As, Client};
use crate::wallet_cmd::{list, s, show};

#[derive(Subcommand)]
pub enum MerchantCommand {
    /// Register a merchant (operator). Prints its API key and webhook secret, once.
    Create {
        /// The name people know the business by.
        #[arg(long)]
        name: String,
        /// Its website: a host name like boots.example, or its URL.
        #[arg(long)]
        website: String,
        /// Two-letter ISO 3166 country code, e.g. CN.
        #[arg(long)]
        country: Option<String>,
        /// Four-digit merchant category code (MCC), e.g. 5661.
        #[arg(long)]
        category: Option<String>,
        /// Where Purser POSTs signed payment events.
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
    },
    /// Every merchant (operator), newest first.
    List,
    /// One merchant (operator).
    Show { id: String },
    /// Run the bundled shop agents can buy from: a catalog and ACP checkout, paid through
    /// Purser with this merchant's API key (listens on 127.0.0.1:7430 by default).
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port).
    #[arg(long, value_name = "HOST:PORT", default_value = purser_merchant::DEFAULT_LISTEN)]
    pub listen: String,
    /// Purser's URL (default: --server, i.e. PURSER_URL or http://127.0.0.1:7420).
    #[arg(long, value_name = "URL")]
    pub purser_url: Option<String>,
    /// The merchant id Purser gave (mch_…); checked against the API key.
    #[arg(long, value_name = "ID", env = "PURSER_MERCHANT_ID")]
    pub merchant_id: Option<String>,
    /// The merchant API key `purser merchant create` printed.
    #[arg(
        long,
        value_name = "KEY",
        env = "PURSER_MERCHANT_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Keep the shop's data (SQLite file, signing key) in memory only, gone at exit. Otherwise
    /// it lives in the `merchant` folder of --data (default ./purser-data/merchant).
    #[arg(long)]
    pub memory: bool,
    /// The URL agents reach the shop at (behind a proxy); signed requests must be addressed
    /// to it. Default: http:// + --listen.
    #[arg(long, value_name = "URL", env = "PURSER_MERCHANT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Refuse to complete a checkout without an AP2 checkout mandate.
    #[arg(long)]
    pub require_mandate: bool,
    /// Require `Authorization: Bearer KEY` on every checkout call (ACP's platform key).
    #[arg(
        long,
        value_name = "KEY",
        env = "PURSER_MERCHANT_CHECKOUT_KEY",
        hide_env_values = true
    )]
    pub checkout_api_key: Option<String>,
}

/// `purser merchant serve`: runs the shop until Ctrl-C / SIGTERM.
pub fn serve(args: ServeArgs, client: &crate::client::ClientArgs) -> Result<(), String> {
    let api_key = args.api_key.filter(|k| !k.trim().is_empty()).ok_or_else(|| {
        "the shop needs its merchant API key: pass --api-key or set PURSER_MERCHANT_API_KEY (`purser merchant create` prints it once)".to_string()
    })?;
    let cfg = purser_merchant::Config {
        listen: args.listen,
        public_url: args.public_url,
        purser_url: args.purser_url.unwrap_or_else(|| client.server.clone()),
        merchant_id: args.merchant_id,
        api_key: api_key.trim().to_string(),
        data_dir: (!args.memory).then(|| client.data.join("merchant")),
        require_mandate: args.require_mandate,
        checkout_api_key: args.checkout_api_key,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(purser_merchant::serve(
        cfg,
        purser_server::shutdown_signal(),
    ))
}

fn merchant_line(v: &Value) -> String {
    format!(
        "{}  {}  {}  country {}  category {}  {}\n  webhook: {}",
        s(v, "id"),
        s(v, "name"),
        s(v, "website"),
        s(v, "country"),
        s(v, "category"),
        s(v, "status"),
        v["webhook_url"].as_str().unwrap_or("(none)"),
    )
}

pub fn run(c: &Client, cmd: MerchantCommand) -> Result<(), String> {
    match cmd {
        MerchantCommand::Create {
            name,
            website,
            country,
            category,
            webhook_url,
        } => {
            let v = c.call(
                As::Operator,
                "POST",
                "/v1/merchants",
                Some(&json!({
                    "name": name,
                    "website": website,
                    "country": country,
                    "category": category,
                    "webhook_url": webhook_url,
                })),
            )?;
            show(c, &v, |v| {
                format!(
                    "Registered {}\nGive the merchant these two secrets (shown once; Purser cannot show them again):\n  API key:        {}\n    (send as 'Authorization: Bearer …' to /v1/merchant/*)\n  Webhook secret: {}\n    (check Merchant-Signature on every webhook with it)",
                    merchant_line(&v["merchant"]),
                    s(v, "api_key"),
                    s(v, "webhook_secret"),
                )
            });
        }
        MerchantCommand::List => {
            let v = c.call(As::Operator, "GET", "/v1/merchants", None)?;
            show(c, &v, |v| list(v, merchant_line));
        }
        MerchantCommand::Show { id } => {
            let v = c.call(As::Operator, "GET", &format!("/v1/merchants/{id}"), None)?;
            show(c, &v, merchant_line);
        }
        MerchantCommand::Serve(_) => {
            return Err("`purser merchant serve` is dispatched before the REST client".into())
        }
    }
    Ok(())
}
