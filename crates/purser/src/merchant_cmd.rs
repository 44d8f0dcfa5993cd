//! `purser merchant create|list|show`: the operator's merchant registry, through the REST API.

use clap::Subcommand;
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
    }
    Ok(())
}
