//! `purser demo`: the whole story in one command, on embedded defaults.
//!
//! A real `purser serve` (the same function, in this process) and the bundled merchant run on
//! free loopback ports over a data directory of their own. A person (Mei) acts through the REST
//! API with her own token, a shopping agent through the agent SDK with its own key and signed
//! requests, and the merchant through its ACP checkout — nothing is called behind the API.
//! Every step checks what it should have done; the demo exits 0 only if all did.

pub(crate) mod http;
mod progress;
mod shop;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use purser_agent::{AgentKey, Client as AgentClient, LineItem, MerchantRef, Money, PaymentRequest};
use serde_json::{json, Value};

use http::Http;
use progress::Progress;

/// What Mei tells Purser, in her own words.
pub const WORDS: &str =
    "Help me buy a pair of hiking boots, under 800 yuan. Ask me above 500 yuan.";

/// Mei's PIN for the confirmation page (a demo value; yours is never shown anywhere).
const DEMO_PIN: &str = "246810";

/// The sandbox rail's always-approving Visa test number.
const TEST_CARD: &str = "4242424242424242";

/// The steps, for "[n/TOTAL]".
const STEPS: usize = 8;

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the data in DIR (created if missing). Default: a new temporary directory.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Keep Purser and the merchant running at the end, so you can look around with the API,
    /// the CLI and the confirmation pages (Ctrl-C stops them). Purser then listens on --listen.
    #[arg(long)]
    serve: bool,
    /// Where Purser listens (host:port). Default: 127.0.0.1:7420 with --serve, else a free port.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
}

/// A fresh random id with a prefix (idempotency keys, task ids).
pub fn fresh(prefix: &str) -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    format!("{prefix}-{}", hex::encode(b))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

fn cny(minor: i64) -> Value {
    json!({"amount": minor, "currency": "CNY"})
}

fn yuan(minor: i64) -> String {
    purser_core::Money::new(minor, purser_core::Currency::CNY).with_symbol()
}

/// Runs the demo; the error names the step that did not do what it should.
pub fn run(args: DemoArgs) -> Result<(), String> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(fresh("purser-demo")),
    };
    let rt = crate::runtime()?;
    let listen = match (&args.listen, args.serve) {
        (Some(l), _) => l.clone(),
        (None, true) => purser_server::DEFAULT_LISTEN.to_string(),
        (None, false) => format!("127.0.0.1:{}", free_port()?),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(purser_server::serve_quietly(
        purser_server::ServeOptions {
            listen: listen.clone(),
            data_dir: data.clone(),
            store: purser_store::StoreConfig::sqlite_in(&data),
            public_url: None,
            agent_payments_per_minute: None,
            rate_limits: purser_server::RateLimits::default(),
            read_timeout: purser_server::DEFAULT_READ_TIMEOUT,
            trusted_proxies: purser_server::TrustedProxies::default(),
            write_timeout: purser_server::DEFAULT_WRITE_TIMEOUT,
            max_connections: purser_server::DEFAULT_MAX_CONNECTIONS,
            sweep_interval: purser_wallet::SWEEP_INTERVAL,
            catch_up_window: purser_wallet::schedules::DEFAULT_CATCH_UP_WINDOW,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let base = format!("http://{listen}");
    // A server that cannot start (the port is taken, the data directory is not writable) says
    // why at once.
    let probe = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build();
    let mut healthy = false;
    for _ in 0..100 {
        if server.is_finished() {
            return match rt.block_on(server) {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err("Purser stopped as soon as it started".into()),
                Err(e) => Err(format!("the server task failed: {e}")),
            };
        }
        if probe
            .get(&format!("{base}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !healthy {
        let _ = stop_tx.send(());
        return Err(format!(
            "Purser did not answer at {base} within 10 seconds; is something else listening on {listen}? Choose another address with --listen"
        ));
    }
    let story = Story::new(&base, &data);
    let result = story.and_then(|mut s| {
        let r = s.tell(&rt);
        if r.is_ok() && args.serve {
            s.keep_serving(&rt);
        }
        r
    });
    let _ = stop_tx.send(());
    let served = rt.block_on(server);
    match (&result, served) {
        (Ok(()), Ok(Err(e))) => return Err(format!("the server stopped with an error: {e}")),
        (Ok(()), Err(e)) => return Err(format!("the server task failed: {e}")),
        _ => {}
    }
    result
}

/// Everyone in the story, and what they have made so far.
struct Story {
    p: Progress,
    purser: Http,
    data: PathBuf,
    operator: String,
    mei: Person,
    agent: Option<Shopper>,
    shop: Option<shop::Shop>,
    mandate: String,
    paid: Vec<String>,
}

struct Person {
    id: String,
    token: String,
}

struct Shopper {
    id: String,
    /// The agent's exclusive card: what it pays from.
    card: String,
    sdk: AgentClient,
    key_jwk: purser_agent::Zeroizing<String>,
}

impl Story {
    fn new(base: &str, data: &Path) -> Result<Story, String> {
        Ok(Story {
            p: Progress::new(STEPS),
            purser: Http::new(base),
            data: data.to_path_buf(),
            operator: String::new(),
            mei: Person {
                id: String::new(),
                token: String::new(),
            },
            agent: None,
            shop: None,
            mandate: String::new(),
            paid: Vec::new(),
        })
    }

    fn tell(&mut self, rt: &tokio::runtime::Runtime) -> Result<(), String> {
        self.start(rt)?;
        self.person_and_money()?;
        self.agent_bound()?;
        self.mandate_from_words()?;
        self.agent_shops()?;
        self.refusals()?;
        self.confirmation()?;
        self.books()?;
        Ok(())
    }

    fn shopper(&self) -> Result<&Shopper, String> {
        self.agent
            .as_ref()
            .ok_or_else(|| "the agent is not set up".to_string())
    }

    fn shop(&self) -> Result<&shop::Shop, String> {
        self.shop
            .as_ref()
            .ok_or_else(|| "the merchant is not running".to_string())
    }

    // ---- 1. Purser and the merchant start ---------------------------------------------

    fn start(&mut self, rt: &tokio::runtime::Runtime) -> Result<(), String> {
        self.p
            .step("Starting Purser and a merchant on this machine");
        self.operator = std::fs::read_to_string(self.data.join(purser_server::auth::TOKEN_FILE))
            .map_err(|e| format!("cannot read the operator token: {e}"))?
            .trim()
            .to_string();
        self.p
            .ok(format!("Purser is running at {}", self.purser.base()));
        self.p.line(format!(
            "data: {} (SQLite, embedded; nothing else to install)",
            self.data.display()
        ));
        self.p.line(
            "cards: the sandbox rail — SIMULATED, no real card is charged (test numbers only)",
        );
        let shop = shop::Shop::start(rt, &self.purser, &self.operator, &self.data)?;
        self.p.ok(format!(
            "{} is open at {} (ACP checkout; registered with Purser as {})",
            shop.name, shop.base, shop.merchant_id
        ));
        self.shop = Some(shop);
        Ok(())
    }

    // ---- 2. A person and her money ------------------------------------------------------

    fn person_and_money(&mut self) -> Result<(), String> {
        self.p.step("Mei opens a wallet and adds money");
        let op = Some(self.operator.as_str());
        let u = self
            .purser
            .post("/v1/users", op, &json!({"name": "Mei"}))?
            .ok("create the user")?;
        let setup = u["setup_token"].as_str().unwrap_or_default();
        let s = self
            .purser
            .post("/v1/setup", None, &json!({"setup_token": setup}))?
            .ok("set up the user")?;
        self.mei = Person {
            id: u["id"].as_str().unwrap_or_default().to_string(),
            token: s["token"]["token"].as_str().unwrap_or_default().to_string(),
        };
        let mei = Some(self.mei.token.as_str());
        self.p
            .ok(format!("Mei is {} with her own API token", self.mei.id));
        let card = self
            .purser
            .post(
                "/v1/cards",
                mei,
                &json!({"number": TEST_CARD, "expiry": "12/30", "cvv": "123", "holder": "Mei"}),
            )?
            .ok("add a card")?;
        let card_id = card["id"].as_str().unwrap_or_default().to_string();
        self.p.ok(format!(
            "card {} added to her vault (sandbox test Visa; the number is sealed, only the last four are shown: {})",
            card_id,
            card["last4"].as_str().unwrap_or("4242")
        ));
        let t = self
            .purser
            .post(
                "/v1/topups",
                mei,
                &json!({"card_id": card_id, "amount": cny(300_000)}),
            )?
            .ok("top up the wallet")?;
        if t["status"] != "succeeded" {
            return Err(format!("the top-up did not succeed: {t}"));
        }
        self.p.ok(format!(
            "topped up {} from the card; wallet available: {}",
            yuan(300_000),
            yuan(self.available()?)
        ));
        let pin = self
            .purser
            .post("/v1/me/pin", mei, &json!({"pin": DEMO_PIN}))?
            .ok("set a PIN")?;
        let _ = pin;
        self.p
            .ok("she sets a PIN for confirming payments on her phone (argon2id, locked after 5 wrong tries)");
        Ok(())
    }

    fn available(&self) -> Result<i64, String> {
        let w = self
            .purser
            .get("/v1/wallet", Some(&self.mei.token))?
            .ok("read the wallet")?;
        Ok(w["balances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["currency"] == "CNY")
            .and_then(|b| b["available"]["amount"].as_i64())
            .unwrap_or(0))
    }

    // ---- 3. A shopping agent, bound by Mei -----------------------------------------------

    fn agent_bound(&mut self) -> Result<(), String> {
        self.p
            .step("A shopping agent gets its own key, and Mei lets it act for her");
        let op = Some(self.operator.as_str());
        // The agent's developer is a Purser user too.
        let d = self
            .purser
            .post("/v1/users", op, &json!({"name": "Trailhead Labs"}))?
            .ok("create the developer")?;
        let ds = self
            .purser
            .post(
                "/v1/setup",
                None,
                &json!({"setup_token": d["setup_token"].as_str().unwrap_or_default()}),
            )?
            .ok("set up the developer")?;
        let dev_token = ds["token"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let dev_id = d["id"].as_str().unwrap_or_default();
        let key = AgentKey::generate().map_err(|e| e.to_string())?;
        let proof = key.possession_proof(dev_id).map_err(|e| e.to_string())?;
        let a = self
            .purser
            .post(
                "/v1/agents",
                Some(&dev_token),
                &json!({
                    "name": "Trail Scout",
                    "operator": "Trailhead Labs",
                    "public_key_jwk": key.public_jwk(),
                    "key_proof": proof,
                }),
            )?
            .ok("register the agent")?;
        let agent_id = a["id"].as_str().unwrap_or_default().to_string();
        self.p.ok(format!(
            "Trail Scout ({agent_id}) registered with an Ed25519 key {}…; it signs every request (RFC 9421)",
            &key.kid()[..12.min(key.kid().len())]
        ));
        let key_jwk = key.to_private_jwk().map_err(|e| e.to_string())?;
        let sdk = AgentClient::new(self.purser.base(), key).map_err(|e| e.to_string())?;
        let b = sdk
            .request_binding(&self.mei.id, "find and buy the hiking boots Mei asks for")
            .map_err(|e| format!("the agent's binding request: {e}"))?;
        self.p.ok(format!(
            "it asks to act for Mei (binding {}, pending until she approves)",
            b.id
        ));
        let mei = Some(self.mei.token.as_str());
        let ok = self
            .purser
            .post(&format!("/v1/bindings/{}/approve", b.id), mei, &json!({}))?
            .ok("approve the binding")?;
        if ok["status"] != "active" {
            return Err(format!("the binding is not active after approval: {ok}"));
        }
        self.p.ok("Mei approves: the binding is active");
        let e = self
            .purser
            .post(
                "/v1/exclusive-cards",
                mei,
                &json!({"binding_id": b.id, "currency": "CNY"}),
            )?
            .ok("create the agent's exclusive card")?;
        let ecd = e["id"].as_str().unwrap_or_default().to_string();
        self.purser
            .post(
                &format!("/v1/exclusive-cards/{ecd}/fund"),
                mei,
                &json!({"amount": cny(150_000)}),
            )?
            .ok("fund the exclusive card")?;
        self.purser
            .post(
                &format!("/v1/bindings/{}/funding-source", b.id),
                mei,
                &json!({"funding_source": ecd}),
            )?
            .ok("restrict the agent to its card")?;
        self.p.ok(format!(
            "she opens an agent-only card {ecd}, moves {} onto it and restricts the agent to it: the most it can ever spend",
            yuan(150_000)
        ));
        self.agent = Some(Shopper {
            id: agent_id,
            card: ecd,
            sdk,
            key_jwk,
        });
        Ok(())
    }

    // ---- 4. The mandate, from Mei's words -------------------------------------------------

    fn mandate_from_words(&mut self) -> Result<(), String> {
        self.p
            .step("Mei says what she wants; Purser drafts a mandate; she consents");
        let agent_id = self.shopper()?.id.clone();
        let mei = Some(self.mei.token.as_str());
        self.p.line(format!("Mei: \u{201c}{WORDS}\u{201d}"));
        let d = self
            .purser
            .post("/v1/mandates/draft", mei, &json!({"text": WORDS}))?
            .ok("draft the mandate")?;
        if let Some(s) = d["summary"].as_str() {
            self.p.line(format!("Purser's reading: {s}"));
        }
        for u in d["understood"].as_array().into_iter().flatten() {
            self.p.line(format!(
                "  \u{201c}{}\u{201d} → {}",
                u["phrase"].as_str().unwrap_or(""),
                u["meaning"].as_str().unwrap_or("")
            ));
        }
        if d["not_understood"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            return Err(format!(
                "the drafter did not understand part of the words: {}",
                d["not_understood"]
            ));
        }
        let created = self
            .purser
            .post(
                "/v1/mandates",
                mei,
                &json!({"agent_id": agent_id, "mandate": d["mandate"]}),
            )?
            .ok("create the mandate")?;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let c = self
            .purser
            .post(
                &format!("/v1/mandates/{id}/consent"),
                mei,
                &json!({"content_hash": created["content_hash"]}),
            )?
            .ok("consent to the mandate")?;
        if c["status"] != "active" {
            return Err(format!("the mandate is not active after consent: {c}"));
        }
        self.p.ok(format!(
            "she consents to exactly what she read (content hash {}…): mandate {id} is active, signed by Purser as two AP2 credentials",
            &created["content_hash"].as_str().unwrap_or("")[..12.min(created["content_hash"].as_str().map_or(0, str::len))]
        ));
        self.mandate = id;
        Ok(())
    }

    // ---- 5. The agent shops and pays -------------------------------------------------------

    fn agent_shops(&mut self) -> Result<(), String> {
        self.p
            .step("The agent searches the shop, compares boots, and pays within the mandate");
        let shop = self.shop()?;
        let boots = shop.search(&self.shopper()?.key_jwk, "hiking boots")?;
        self.p
            .line(format!("{} hiking boots in stock:", boots.len()));
        for b in &boots {
            self.p.line(format!(
                "  {:<40} {:>10}  ★ {:.1}",
                b.title,
                yuan(b.price),
                f64::from(b.rating_tenths) / 10.0
            ));
        }
        // Within the mandate (under ¥800) and the auto-pay amount (¥500), the best rated.
        let pick = boots
            .iter()
            .filter(|b| b.price <= 50_000)
            .max_by_key(|b| (b.rating_tenths, -b.price))
            .ok_or("the catalog has no hiking boots at or under ¥500")?
            .clone();
        self.p.line(format!(
            "Agent: \u{201c}{} is the best rated pair I can buy without asking you ({}, ★ {:.1}); the dearer ones cost more than you let me pay alone.\u{201d}",
            pick.title,
            yuan(pick.price),
            f64::from(pick.rating_tenths) / 10.0
        ));
        let (session, paid, mandate) = self.checkout_and_pay(&pick, 1, "approved")?;
        self.p.ok(format!(
            "Purser verifies both mandates and approves {} by itself (under ¥500): {} held in the ledger, a single-use credential for {} only, and a signed decision receipt",
            paid.id,
            yuan(session.total),
            self.shop()?.name
        ));
        self.complete(&session, &paid, &mandate)?;
        self.paid.push(paid.id);
        Ok(())
    }

    /// Opens a checkout, closes the mandate's AP2 credentials over the cart the merchant
    /// signed, asks Purser to pay with them, and — once approved — completes the checkout with
    /// the credential and the closed checkout mandate. `expect` is the decision Purser should
    /// give first. Returns the payment.
    fn checkout_and_pay(
        &self,
        product: &shop::Product,
        quantity: u32,
        expect: &str,
    ) -> Result<(shop::Session, purser_agent::Payment, String), String> {
        let shop = self.shop()?;
        let agent = self.shopper()?;
        let session = shop.open_checkout(&agent.key_jwk, &product.id, quantity)?;
        self.p.ok(format!(
            "checkout {} opened: {} × {} = {}, the cart signed by {} (AP2 merchant authorization)",
            session.id,
            quantity,
            product.title,
            yuan(session.total),
            shop.name
        ));
        let merchant = MerchantRef {
            id: shop.merchant_id.clone(),
            name: Some(shop.name.clone()),
            website: Some(shop.website.clone()),
            country: Some("CN".into()),
            category: Some("5661".into()),
        };
        let creds = agent
            .sdk
            .mandate_credentials(&self.mandate)
            .map_err(|e| format!("fetching the mandate's AP2 credentials: {e}"))?;
        let closed = agent
            .sdk
            .close_mandates(
                &creds,
                &session.checkout_jwt,
                &merchant,
                Some(&agent.card),
                &shop.merchant_id,
                Some(&session.id),
            )
            .map_err(|e| format!("closing the AP2 mandates: {e}"))?;
        self.p.ok(
            "the agent closes Mei's AP2 mandates with its own key: a checkout mandate over that cart, a payment mandate for its total",
        );
        let request = PaymentRequest {
            user_id: self.mei.id.clone(),
            task_id: "task-hiking-boots".into(),
            mandate_id: String::new(),
            ap2: Some(closed.clone()),
            merchant,
            items: vec![LineItem {
                id: Some(product.id.clone()),
                title: product.title.clone(),
                quantity,
                unit_price: Money::new(product.price, "CNY"),
            }],
            // What the shop charges beside the boots (standard shipping is free).
            shipping: session
                .total
                .checked_sub(product.price.saturating_mul(i64::from(quantity)))
                .filter(|s| *s != 0)
                .map(|s| Money::new(s, "CNY")),
            total: Money::new(session.total, "CNY"),
            checkout_id: Some(session.id.clone()),
            funding_source: Some(agent.card.clone()),
            credential_ttl_seconds: None,
        };
        let paid = agent
            .sdk
            .pay(&request, &fresh("pay"))
            .map_err(|e| format!("the payment request: {e}"))?;
        if paid.status != expect {
            return Err(format!(
                "Purser answered {} ({}) where {expect} was expected",
                paid.status,
                paid.decline
                    .as_ref()
                    .map(|d| d.message.as_str())
                    .unwrap_or("")
            ));
        }
        Ok((session, paid, closed.checkout_mandate))
    }

    /// The merchant completes the order with the credential; Purser shows it captured.
    fn complete(
        &self,
        session: &shop::Session,
        paid: &purser_agent::Payment,
        checkout_mandate: &str,
    ) -> Result<(), String> {
        let shop = self.shop()?;
        let agent = self.shopper()?;
        let token = paid
            .credential
            .as_ref()
            .and_then(|c| c.token.clone())
            .ok_or("an approved payment without a credential")?;
        let order = shop.complete(&agent.key_jwk, &session.id, &token, checkout_mandate)?;
        self.p.ok(format!(
            "{} verifies the agent's signature and its AP2 checkout mandate, redeems the credential with Purser: order {order}",
            shop.name
        ));
        let seen = self
            .purser
            .get(&format!("/v1/payments/{}", paid.id), Some(&self.mei.token))?
            .ok("read the payment")?;
        if seen["status"] != "captured" {
            return Err(format!(
                "the payment is {} after the order, not captured",
                seen["status"]
            ));
        }
        let source = match seen["funding_source"].as_str() {
            Some("wallet") | None => "Mei's wallet".to_string(),
            Some(ecd) => format!("the agent's card {ecd}"),
        };
        self.p.ok(format!(
            "captured: {} moved from {source} to the merchant's ledger account",
            yuan(session.total)
        ));
        Ok(())
    }

    // ---- 6. What the mandate does not allow --------------------------------------------------

    fn refusals(&mut self) -> Result<(), String> {
        self.p.step("The agent tries what Mei did not allow");
        let shop = self.shop()?;
        let boots = shop.search(&self.shopper()?.key_jwk, "hiking boots")?;
        let dear = boots
            .iter()
            .max_by_key(|b| b.price)
            .filter(|b| b.price >= 80_000)
            .ok_or("the catalog has no hiking boots at ¥800 or more")?
            .clone();
        let before = self.available()?;
        self.refused_purchase(&dear, 1)?;
        let cheap = boots
            .iter()
            .filter(|b| b.title.to_lowercase().contains("boots"))
            .min_by_key(|b| b.price)
            .ok_or("no boots")?
            .clone();
        self.refused_purchase(&cheap, 10_000)?;
        if self.available()? != before {
            return Err("a refused payment moved money".into());
        }
        self.p.ok("nothing was held or spent for either");
        Ok(())
    }

    fn refused_purchase(&self, product: &shop::Product, quantity: u32) -> Result<(), String> {
        let shop = self.shop()?;
        let agent = self.shopper()?;
        let total = product.price.saturating_mul(i64::from(quantity));
        let request = PaymentRequest {
            user_id: self.mei.id.clone(),
            task_id: "task-hiking-boots".into(),
            mandate_id: self.mandate.clone(),
            ap2: None,
            merchant: MerchantRef {
                id: shop.merchant_id.clone(),
                name: Some(shop.name.clone()),
                website: Some(shop.website.clone()),
                country: Some("CN".into()),
                category: Some("5661".into()),
            },
            items: vec![LineItem {
                id: Some(product.id.clone()),
                title: product.title.clone(),
                quantity,
                unit_price: Money::new(product.price, "CNY"),
            }],
            shipping: None,
            total: Money::new(total, "CNY"),
            checkout_id: None,
            funding_source: None,
            credential_ttl_seconds: None,
        };
        let paid = agent
            .sdk
            .pay(&request, &fresh("pay"))
            .map_err(|e| format!("the payment request: {e}"))?;
        let Some(d) = paid.decline.as_ref().filter(|_| paid.status == "declined") else {
            return Err(format!(
                "{quantity} × {} ({}) was {}, not declined",
                product.title,
                yuan(total),
                paid.status
            ));
        };
        self.p.refused(format!(
            "{quantity} × {} ({}): declined, {} — \u{201c}{}\u{201d}",
            product.title,
            yuan(total),
            d.code,
            d.message
        ));
        Ok(())
    }

    // ---- 7. Above the auto-pay amount: Mei confirms ------------------------------------------

    fn confirmation(&mut self) -> Result<(), String> {
        self.p
            .step("A pair above ¥500: Purser asks Mei, and she approves with her PIN");
        let shop = self.shop()?;
        let boots = shop.search(&self.shopper()?.key_jwk, "hiking boots")?;
        let pick = boots
            .iter()
            .filter(|b| b.price > 50_000 && b.price < 80_000)
            .max_by_key(|b| b.rating_tenths)
            .ok_or("the catalog has no hiking boots between ¥500 and ¥800")?
            .clone();
        self.p.line(format!(
            "Agent: \u{201c}For the winter trip, {} is the best rated pair ({}, ★ {:.1}) — above what I may pay alone, so I'll ask.\u{201d}",
            pick.title,
            yuan(pick.price),
            f64::from(pick.rating_tenths) / 10.0
        ));
        let (session, asked, mandate) = self.checkout_and_pay(&pick, 1, "needs_confirmation")?;
        let agent = self.shopper()?;
        let url = asked
            .confirmation
            .as_ref()
            .and_then(|c| c.url.clone())
            .ok_or("no confirmation link")?;
        self.p.ok(format!(
            "needs_confirmation: the money is held, and Mei gets a link to open on her phone:\n      {url}"
        ));
        // Mei opens the page (no token: the link is the key) and approves with her PIN.
        let path = url
            .strip_prefix(self.purser.base())
            .ok_or("the confirmation link is not on this server")?
            .to_string();
        let page = self.purser.get(&path, None)?;
        if page.status != 200 || !page.text.contains(&shop.name) {
            return Err(format!(
                "the confirmation page did not show the payment (HTTP {})",
                page.status
            ));
        }
        self.p
            .ok("the page shows the merchant, the boots, the amount, the agent and her own words");
        let answer = self
            .purser
            .form(&path, &[("pin", DEMO_PIN), ("action", "approve")])?;
        if answer.status != 200 {
            return Err(format!("approving with the PIN: HTTP {}", answer.status));
        }
        let decided = agent
            .sdk
            .wait_for_decision(
                &asked.id,
                Duration::from_secs(10),
                Duration::from_millis(200),
            )
            .map_err(|e| format!("waiting for Mei's decision: {e}"))?;
        if !decided.is_approved() {
            return Err(format!(
                "after Mei approved, the payment is {}",
                decided.status
            ));
        }
        if decided
            .credential
            .as_ref()
            .and_then(|c| c.token.as_ref())
            .is_none()
        {
            return Err("an approved payment without a credential".into());
        }
        self.p
            .ok("Mei approves with her PIN; the agent, polling, gets the credential");
        self.complete(&session, &decided, &mandate)?;
        self.paid.push(asked.id);
        Ok(())
    }

    // ---- 8. The bill, the evidence, the books -------------------------------------------------

    fn books(&mut self) -> Result<(), String> {
        self.p
            .step("The bill, the evidence, and the books — each checked");
        let mei = Some(self.mei.token.as_str());
        let bill = self
            .purser
            .get("/v1/bills?limit=20", mei)?
            .ok("read the bill")?;
        for l in bill["data"].as_array().into_iter().flatten() {
            self.p.line(format!(
                "  {:<10} {:<22} {:>10}  {}  {}",
                l["status"].as_str().unwrap_or(""),
                l["merchant_name"].as_str().unwrap_or(""),
                l["amount"]["display"].as_str().unwrap_or(""),
                l["agent_name"].as_str().unwrap_or(""),
                l["payment_id"].as_str().unwrap_or("")
            ));
        }
        for t in bill["totals"].as_array().into_iter().flatten() {
            self.p.line(format!(
                "  total {}: paid {} in {} payments ({} still held)",
                t["currency"].as_str().unwrap_or(""),
                t["net"]["display"].as_str().unwrap_or(""),
                t["payments"],
                t["held"]["display"].as_str().unwrap_or("")
            ));
        }
        let captured: usize = bill["data"].as_array().map_or(0, |a| {
            a.iter().filter(|l| l["status"] == "captured").count()
        });
        if captured != self.paid.len() {
            return Err(format!(
                "the bill shows {captured} captured payments, the story made {}",
                self.paid.len()
            ));
        }
        self.p.ok(format!(
            "{captured} payments captured, the refusals shown as declined"
        ));
        let first = self.paid.first().cloned().ok_or("nothing was paid")?;
        let bundle = self
            .purser
            .get(&format!("/v1/payments/{first}/evidence"), mei)?;
        if bundle.status != 200 {
            return Err(format!("exporting the evidence: HTTP {}", bundle.status));
        }
        let file = self.data.join(format!("evidence-{first}.json"));
        std::fs::write(&file, bundle.text.as_bytes())
            .map_err(|e| format!("writing {}: {e}", file.display()))?;
        let jwks = self.purser.get("/.well-known/jwks.json", None)?;
        let keys = self.data.join("purser-jwks.json");
        std::fs::write(&keys, jwks.text.as_bytes())
            .map_err(|e| format!("writing {}: {e}", keys.display()))?;
        self.p.ok(format!(
            "evidence bundle for {first} saved to {}",
            file.display()
        ));
        let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let ev = self
            .p
            .wait("running purser evidence verify", || {
                std::process::Command::new(&me)
                    .args(["evidence", "verify"])
                    .arg(&file)
                    .arg("--keys")
                    .arg(&keys)
                    .output()
            })
            .map_err(|e| format!("running purser evidence verify: {e}"))?;
        show_output(&self.p, &ev.stdout);
        if !ev.status.success() {
            return Err(format!(
                "purser evidence verify failed: {}",
                String::from_utf8_lossy(&ev.stderr)
            ));
        }
        self.p
            .ok("purser evidence verify: the bundle checks out offline");
        let lv = self
            .p
            .wait("running purser ledger verify", || {
                std::process::Command::new(&me)
                    .args(["ledger", "verify", "--data"])
                    .arg(&self.data)
                    .output()
            })
            .map_err(|e| format!("running purser ledger verify: {e}"))?;
        show_output(&self.p, &lv.stdout);
        if !lv.status.success() {
            return Err(format!(
                "purser ledger verify failed: {}",
                String::from_utf8_lossy(&lv.stderr)
            ));
        }
        self.p.ok("purser ledger verify: every balance recomputed from the journal; the hash chain is intact");
        println!();
        println!("Every step did what it should.");
        println!(
            "  Data: {} (SQLite; the merchant's own under merchant/)",
            self.data.display()
        );
        println!(
            "  To look around afterwards, run it with the server kept up: purser demo --serve"
        );
        Ok(())
    }

    fn keep_serving(&mut self, rt: &tokio::runtime::Runtime) {
        println!();
        println!(
            "Purser keeps running at {} (Ctrl-C stops it); the shop at {}.",
            self.purser.base(),
            self.shop.as_ref().map_or("", |s| s.base.as_str())
        );
        println!(
            "Mei's API token (a demo user, on this machine only): {}",
            self.mei.token
        );
        println!("Try:");
        println!(
            "  PURSER_URL={} PURSER_TOKEN={} purser bill",
            self.purser.base(),
            self.mei.token
        );
        println!(
            "  PURSER_URL={} PURSER_TOKEN={} purser task show task-hiking-boots",
            self.purser.base(),
            self.mei.token
        );
        rt.block_on(purser_server::shutdown_signal());
    }
}

fn show_output(p: &Progress, out: &[u8]) {
    for l in String::from_utf8_lossy(out).lines().take(12) {
        p.line(format!("  │ {l}"));
    }
}
