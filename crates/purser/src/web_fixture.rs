//! `purser dev web-fixture`: the people, money, agent, mandate and pending payments the web
//! wallet's browser tests start from, made through the real API of a running `purser serve` —
//! the operator with its token, the person with her own API token, the agent through the SDK
//! with its own key and signed requests. Nothing is written behind the API. It prints what the
//! tests need as one JSON object (including secrets: it is a test helper, hidden from
//! `--help`, for a throwaway data directory).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use purser_agent::{AgentKey, Client as AgentClient, LineItem, MerchantRef, Money, PaymentRequest};
use serde_json::{json, Value};

use crate::demo::http::Http;
use crate::demo::{fresh, WORDS};

#[derive(Subcommand)]
pub enum DevCommand {
    /// Make the browser tests' starting point on a running server and print it as JSON.
    WebFixture(FixtureArgs),
    /// Act as one of the fixture's agents (its key file): ask to be bound, or pay.
    Agent {
        #[command(subcommand)]
        command: AgentAct,
    },
}

#[derive(Args)]
pub struct AgentWho {
    /// The running server's URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The agent's private key file (the fixture writes them into its data directory).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The person the agent acts for.
    #[arg(long, value_name = "USER_ID")]
    user: String,
}

#[derive(Subcommand)]
pub enum AgentAct {
    /// Ask the person to bind this agent; prints the binding.
    Bind {
        #[command(flatten)]
        who: AgentWho,
        /// What the agent says it will do.
        #[arg(long, default_value = "compare prices and buy what you ask for")]
        purpose: String,
    },
    /// Ask to pay the fixture's merchant under a mandate; prints Purser's answer (approved,
    /// needs_confirmation or declined, with the decline) as JSON. Exits non-zero only when
    /// Purser could not be asked.
    Pay {
        #[command(flatten)]
        who: AgentWho,
        #[arg(long)]
        mandate: String,
        #[arg(long)]
        merchant: String,
        /// The agent's task, which groups payments on the Live tasks page.
        #[arg(long, default_value = "task-dev")]
        task: String,
        #[arg(long)]
        title: String,
        /// Amount in minor units (fen).
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
}

#[derive(Args)]
pub struct FixtureArgs {
    /// The running server's URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Its data directory (for the operator token).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// How many payments to leave waiting for confirmation.
    #[arg(long, default_value_t = 3)]
    pending: usize,
}

/// The PIN the fixture's person sets (a test value).
pub const FIXTURE_PIN: &str = "246810";

pub fn run(command: DevCommand) -> Result<(), String> {
    let out = match command {
        DevCommand::WebFixture(args) => fixture(&args)?,
        DevCommand::Agent { command } => act(command)?,
    };
    println!("{out}");
    Ok(())
}

fn agent_client(who: &AgentWho) -> Result<AgentClient, String> {
    let key = AgentKey::load_from_file(&who.key)
        .map_err(|e| format!("cannot load the agent key {}: {e}", who.key.display()))?;
    AgentClient::new(&who.server, key).map_err(|e| e.to_string())
}

fn act(command: AgentAct) -> Result<Value, String> {
    match command {
        AgentAct::Bind { who, purpose } => {
            let b = agent_client(&who)?
                .request_binding(&who.user, &purpose)
                .map_err(|e| format!("the binding request: {e}"))?;
            Ok(json!({"binding_id": b.id, "agent_id": b.agent.id, "status": b.status}))
        }
        AgentAct::Pay {
            who,
            mandate,
            merchant,
            task,
            title,
            amount,
            currency,
        } => {
            let request = PaymentRequest {
                user_id: who.user.clone(),
                task_id: task,
                mandate_id: mandate,
                ap2: None,
                merchant: trailhead(merchant),
                items: vec![LineItem {
                    id: None,
                    title,
                    quantity: 1,
                    unit_price: Money::new(amount, &currency),
                }],
                shipping: None,
                total: Money::new(amount, &currency),
                checkout_id: None,
                funding_source: None,
                credential_ttl_seconds: None,
            };
            match agent_client(&who)?.pay(&request, &fresh("pay")) {
                Ok(p) => Ok(json!({
                    "payment_id": p.id,
                    "status": p.status,
                    "decline": p.decline.map(|d| json!({"code": d.code, "message": d.message})),
                    "confirmation_url": p.confirmation.and_then(|c| c.url),
                    // The single-use credential the agent hands the merchant (approved only).
                    "credential": p.credential.and_then(|c| c.token),
                })),
                Err(purser_agent::Error::Api {
                    status,
                    code,
                    message,
                    ..
                }) => Ok(json!({
                    "status": "refused", "http_status": status, "code": code, "message": message,
                })),
                Err(e) => Err(format!("the payment request: {e}")),
            }
        }
    }
}

/// The fixture's merchant, as an agent names it.
fn trailhead(id: String) -> MerchantRef {
    MerchantRef {
        id,
        name: Some("Trailhead Outfitters".into()),
        website: Some("https://trailhead.example/boots".into()),
        country: Some("CN".into()),
        category: Some("5661".into()),
    }
}

fn cny(minor: i64) -> Value {
    json!({"amount": minor, "currency": "CNY"})
}

fn fixture(args: &FixtureArgs) -> Result<Value, String> {
    let purser = Http::new(&args.server);
    let operator = std::fs::read_to_string(args.data.join(purser_server::auth::TOKEN_FILE))
        .map_err(|e| {
            format!(
                "cannot read the operator token in {}: {e}",
                args.data.display()
            )
        })?
        .trim()
        .to_string();
    let op = Some(operator.as_str());

    // A merchant.
    let m = purser
        .post(
            "/v1/merchants",
            op,
            &json!({"name": "Trailhead Outfitters", "website": "trailhead.example", "country": "CN", "category": "5661"}),
        )?
        .ok("register the merchant")?;
    let merchant_id = m["merchant"]["id"].as_str().unwrap_or_default().to_string();

    // Mei, with her own API token, money and a PIN.
    let u = purser
        .post("/v1/users", op, &json!({"name": "Mei"}))?
        .ok("create the user")?;
    let mei_id = u["id"].as_str().unwrap_or_default().to_string();
    let s = purser
        .post("/v1/setup", None, &json!({"setup_token": u["setup_token"]}))?
        .ok("set up the user")?;
    let mei_token = s["token"]["token"].as_str().unwrap_or_default().to_string();
    let mei = Some(mei_token.as_str());
    let card = purser
        .post(
            "/v1/cards",
            mei,
            &json!({"number": "4242424242424242", "expiry": "12/30", "cvv": "123", "holder": "Mei"}),
        )?
        .ok("add a card")?;
    let t = purser
        .post(
            "/v1/topups",
            mei,
            &json!({"card_id": card["id"], "amount": cny(300_000)}),
        )?
        .ok("top up")?;
    if t["status"] != "succeeded" {
        return Err(format!("the top-up did not succeed: {t}"));
    }
    purser
        .post("/v1/me/pin", mei, &json!({"pin": FIXTURE_PIN}))?
        .ok("set a PIN")?;

    // Ana: created by the operator, not set up yet (the browser signs her up).
    let ana = purser
        .post("/v1/users", op, &json!({"name": "Ana"}))?
        .ok("create the second user")?;

    // A shopping agent, bound by Mei, with a card of its own.
    let d = purser
        .post("/v1/users", op, &json!({"name": "Trailhead Labs"}))?
        .ok("create the developer")?;
    let ds = purser
        .post("/v1/setup", None, &json!({"setup_token": d["setup_token"]}))?
        .ok("set up the developer")?;
    let dev_token = ds["token"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = AgentKey::generate().map_err(|e| e.to_string())?;
    let proof = key
        .possession_proof(d["id"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    purser
        .post(
            "/v1/agents",
            Some(&dev_token),
            &json!({"name": "Trail Scout", "operator": "Trailhead Labs", "public_key_jwk": key.public_jwk(), "key_proof": proof}),
        )?
        .ok("register the agent")?;
    let key_file = args.data.join("dev-agent-trail-scout.json");
    key.save_to_file(&key_file).map_err(|e| e.to_string())?;
    let sdk = AgentClient::new(purser.base(), key).map_err(|e| e.to_string())?;
    // A second agent of the same developer, registered but not bound to anyone: the browser
    // tests have it ask Mei (`purser dev agent bind`).
    let key2 = AgentKey::generate().map_err(|e| e.to_string())?;
    let proof2 = key2
        .possession_proof(d["id"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let a2 = purser
        .post(
            "/v1/agents",
            Some(&dev_token),
            &json!({"name": "Price Hawk", "operator": "Trailhead Labs", "public_key_jwk": key2.public_jwk(), "key_proof": proof2}),
        )?
        .ok("register the second agent")?;
    let key2_file = args.data.join("dev-agent-price-hawk.json");
    key2.save_to_file(&key2_file).map_err(|e| e.to_string())?;
    let b = sdk
        .request_binding(&mei_id, "find and buy the hiking boots Mei asks for")
        .map_err(|e| format!("the binding request: {e}"))?;
    purser
        .post(&format!("/v1/bindings/{}/approve", b.id), mei, &json!({}))?
        .ok("approve the binding")?;
    let e = purser
        .post(
            "/v1/exclusive-cards",
            mei,
            &json!({"binding_id": b.id, "currency": "CNY"}),
        )?
        .ok("create the agent's card")?;
    purser
        .post(
            &format!(
                "/v1/exclusive-cards/{}/fund",
                e["id"].as_str().unwrap_or_default()
            ),
            mei,
            &json!({"amount": cny(50_000)}),
        )?
        .ok("fund the agent's card")?;

    // The mandate, from Mei's words.
    let draft = purser
        .post("/v1/mandates/draft", mei, &json!({"text": WORDS}))?
        .ok("draft the mandate")?;
    let created = purser
        .post(
            "/v1/mandates",
            mei,
            &json!({"agent_id": b.agent.id, "mandate": draft["mandate"]}),
        )?
        .ok("create the mandate")?;
    let mandate = created["id"].as_str().unwrap_or_default().to_string();
    purser
        .post(
            &format!("/v1/mandates/{mandate}/consent"),
            mei,
            &json!({"content_hash": created["content_hash"]}),
        )?
        .ok("consent to the mandate")?;

    // Payments above what the agent may pay alone: each waits for Mei.
    let boots = [
        ("TrailRidge Mid Waterproof Hiking Boots", 69_900),
        ("Granite Leather Hiking Boots", 79_900),
        ("Summit Lite Hiking Boots", 55_900),
        ("Ridgeline Trail Hiking Boots", 61_900),
    ];
    let mut links = Vec::new();
    for (title, price) in boots.iter().cycle().take(args.pending) {
        let request = PaymentRequest {
            user_id: mei_id.clone(),
            task_id: "task-hiking-boots".into(),
            mandate_id: mandate.clone(),
            ap2: None,
            merchant: trailhead(merchant_id.clone()),
            items: vec![LineItem {
                id: None,
                title: (*title).to_string(),
                quantity: 1,
                unit_price: Money::new(*price, "CNY"),
            }],
            shipping: None,
            total: Money::new(*price, "CNY"),
            checkout_id: None,
            funding_source: None,
            credential_ttl_seconds: None,
        };
        let paid = sdk
            .pay(&request, &fresh("pay"))
            .map_err(|e| format!("the payment request: {e}"))?;
        if paid.status != "needs_confirmation" {
            return Err(format!(
                "the payment is {} ({}), not waiting for confirmation",
                paid.status,
                paid.decline.map(|d| d.message).unwrap_or_default()
            ));
        }
        let url = paid
            .confirmation
            .and_then(|c| c.url)
            .ok_or("a payment waiting for confirmation without a link")?;
        let path = url
            .find("/confirm/")
            .and_then(|i| url.get(i..))
            .ok_or("a confirmation link without /confirm/")?
            .to_string();
        links.push(json!({"payment_id": paid.id, "path": path, "amount": price, "title": title}));
    }
    Ok(json!({
        "mei": {"user_id": mei_id, "api_token": mei_token, "pin": FIXTURE_PIN},
        "ana": {"user_id": ana["id"], "setup_token": ana["setup_token"]},
        "agent": {"binding_id": b.id, "agent_id": b.agent.id, "name": "Trail Scout", "key_file": key_file},
        "new_agent": {"agent_id": a2["id"], "name": "Price Hawk", "key_file": key2_file},
        "merchant_id": merchant_id,
        // The merchant's API key, so a test can capture and refund as the merchant.
        "merchant_key": m["api_key"],
        "mandate_id": mandate,
        "pending": links,
    }))
}
