//! The bench's world, made through the wallet services before the server starts: one
//! merchant, one developer, and per agent a person with a funded wallet (sandbox rail top-ups)
//! who bound the agent and consented to a mandate with a budget larger than the run can spend
//! and automatic payment above every bench amount.

use std::path::Path;
use std::sync::Arc;

use purser_core::httpsig::{sign_request, Ed25519KeyPair, RequestParts, SignParams};
use purser_core::mandate::{
    ConfirmationPolicy, ConfirmationRule, HowMuch, Mandate, MerchantRef, Provenance, What, When,
};
use purser_core::rail::SandboxRail;
use purser_core::{Currency, Money};
use purser_store::{Ledger, StoreConfig, SystemClock};
use purser_wallet::bindings::Decision;
use purser_wallet::cards::NewCard;
use purser_wallet::funds::Amount;
use purser_wallet::merchants::NewMerchant;
use purser_wallet::topups::MAX_TOPUP_MINOR;
use purser_wallet::{Principal, Wallet};

/// The merchant every bench payment goes to.
pub const MERCHANT_NAME: &str = "Bench Outfitters";
pub const MERCHANT_WEBSITE: &str = "bench-outfitters.example";

/// The sandbox rail's always-approving test card.
const TEST_CARD: &str = "4242424242424242";

/// One agent of the bench, bound to its own person.
pub struct BenchAgent {
    pub key: Ed25519KeyPair,
    pub user_id: String,
    pub mandate_id: String,
}

pub struct World {
    pub merchant_id: String,
    pub agents: Vec<BenchAgent>,
    /// Top-ups each person made (each at most `MAX_TOPUP_MINOR`).
    pub topups_per_user: usize,
}

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

fn e(what: &str) -> impl Fn(purser_wallet::WalletError) -> String + '_ {
    move |err| format!("bench setup: cannot {what}: {} ({})", err.message, err.code)
}

/// Build the world in `store`, then close everything so the server can open it.
/// `funds_per_user` is topped up in as many top-ups as it takes; the mandate's budget is the
/// same amount, its per-payment ceiling and automatic-payment threshold `max_amount`.
pub async fn build(
    store: &StoreConfig,
    data_dir: &Path,
    issuer: &str,
    agents: usize,
    funds_per_user: i64,
    max_amount: i64,
) -> Result<World, String> {
    let clock: Arc<dyn purser_core::Clock> = Arc::new(SystemClock);
    let ledger = Arc::new(
        Ledger::open(store.clone(), clock.clone())
            .await
            .map_err(|err| format!("cannot open {}: {err}", store.describe()))?,
    );
    let wallet = Arc::new(
        Wallet::open(
            store,
            data_dir,
            ledger.clone(),
            clock,
            Arc::new(SandboxRail::new()),
        )
        .await?,
    );
    let built = populate(&wallet, issuer, agents, funds_per_user, max_amount).await;
    wallet.shutdown().await;
    ledger.shutdown().await;
    built
}

async fn populate(
    wallet: &Arc<Wallet>,
    issuer: &str,
    agents: usize,
    funds_per_user: i64,
    max_amount: i64,
) -> Result<World, String> {
    let merchant = wallet
        .create_merchant(&NewMerchant {
            name: MERCHANT_NAME.into(),
            website: MERCHANT_WEBSITE.into(),
            country: Some("CN".into()),
            category: Some("5661".into()),
            webhook_url: None,
        })
        .await
        .map_err(e("register the merchant"))?
        .merchant
        .id;
    let developer = person(wallet, "Bench agent developer").await?;
    let topups =
        usize::try_from(funds_per_user.saturating_add(MAX_TOPUP_MINOR - 1) / MAX_TOPUP_MINOR)
            .unwrap_or(1)
            .max(1);
    // People are independent: set them up side by side.
    let mut tasks = Vec::with_capacity(agents);
    for i in 0..agents {
        let wallet = wallet.clone();
        let developer = developer.clone();
        let merchant = merchant.clone();
        let issuer = issuer.to_string();
        tasks.push(tokio::spawn(async move {
            one_agent(
                &wallet,
                &developer,
                &merchant,
                &issuer,
                i,
                funds_per_user,
                max_amount,
            )
            .await
        }));
    }
    let mut out = Vec::with_capacity(agents);
    for t in tasks {
        out.push(
            t.await
                .map_err(|err| format!("bench setup task failed: {err}"))??,
        );
    }
    Ok(World {
        merchant_id: merchant,
        agents: out,
        topups_per_user: topups,
    })
}

/// A user who finished setup, as their first token authenticates.
async fn person(wallet: &Wallet, name: &str) -> Result<Principal, String> {
    let u = wallet
        .create_user(name, None)
        .await
        .map_err(e("create a user"))?;
    let (_, token) = wallet
        .complete_setup(&u.setup_token, "bench")
        .await
        .map_err(e("set a user up"))?;
    wallet
        .authenticate(&token.token)
        .await
        .map_err(e("authenticate a user"))
}

async fn one_agent(
    wallet: &Wallet,
    developer: &Principal,
    merchant: &str,
    issuer: &str,
    i: usize,
    funds: i64,
    max_amount: i64,
) -> Result<BenchAgent, String> {
    let user = person(wallet, &format!("Bench shopper {i}")).await?;
    let card = wallet
        .add_card(
            &user,
            NewCard {
                number: TEST_CARD.into(),
                expiry: Some("12/30".into()),
                exp_month: None,
                exp_year: None,
                cvv: "123".into(),
                holder: format!("Bench Shopper {i}"),
            },
        )
        .await
        .map_err(e("add the sandbox test card"))?;
    let mut left = funds;
    let mut n = 0;
    while left > 0 {
        let amount = left.min(MAX_TOPUP_MINOR);
        let t = wallet
            .top_up(
                &user,
                &card.id,
                &Amount {
                    amount,
                    currency: "CNY".into(),
                },
                &format!("bench-topup-{i}-{n}"),
            )
            .await
            .map_err(e("top the wallet up"))?;
        if t.status != "succeeded" {
            return Err(format!(
                "bench setup: a sandbox top-up ended {}, not succeeded",
                t.status
            ));
        }
        left -= amount;
        n += 1;
    }

    let key = Ed25519KeyPair::generate().map_err(|err| err.to_string())?;
    let proof = key
        .possession_proof(&developer.user_id)
        .map_err(|err| err.to_string())?;
    let agent = wallet
        .register_agent(
            developer,
            &format!("Bench agent {i}"),
            "Purser bench",
            &key.public_key().to_jwk(),
            Some(&proof),
            None,
        )
        .await
        .map_err(e("register an agent"))?;
    // The agent asks for the binding the way it would over HTTP: a signed request, verified.
    let parsed = {
        let no_headers: Vec<(String, String)> = Vec::new();
        let parts = RequestParts {
            method: "POST",
            scheme: Some("http"),
            authority: "bench.invalid",
            path: "/v1/agent/bindings",
            query: None,
            headers: &no_headers,
        };
        let sig = sign_request(
            &key,
            &parts,
            None,
            &SignParams::new(wallet.now_secs(), super::fresh_nonce()?),
        )
        .map_err(|err| err.to_string())?;
        let headers = vec![
            ("signature-input".to_string(), sig.signature_input),
            ("signature".to_string(), sig.signature),
        ];
        let parts = RequestParts {
            headers: &headers,
            ..parts
        };
        wallet
            .parse_signed(&parts, None)
            .map_err(e("read the agent's signature"))?
    };
    let caller = wallet
        .authenticate_signed(parsed)
        .await
        .map_err(e("authenticate the agent"))?;
    let binding = wallet
        .request_binding(&caller, &user.user_id, "buy bench items within a budget")
        .await
        .map_err(e("request a binding"))?;
    wallet
        .decide_binding(&user, &binding.id, Decision::Approve)
        .await
        .map_err(e("approve the binding"))?;

    let mandate = Mandate {
        description: "Bench purchases at Bench Outfitters".into(),
        what: What {
            merchants: vec![MerchantRef {
                id: Some(merchant.to_string()),
                name: Some(MERCHANT_NAME.into()),
                website: Some(MERCHANT_WEBSITE.into()),
            }],
            ..What::default()
        },
        how_much: HowMuch {
            per_payment_max: Some(cny(max_amount)),
            budget: Some(cny(funds)),
            ..HowMuch::default()
        },
        when: When {
            timezone: Some("Asia/Shanghai".into()),
            ..When::default()
        },
        confirmation: ConfirmationPolicy {
            rules: vec![ConfirmationRule::AutoAtOrBelow {
                amount: cny(max_amount),
            }],
        },
        provenance: Provenance {
            user_words: "buy what the bench asks for at Bench Outfitters; pay without asking me"
                .into(),
            transcript: None,
        },
        ..Mandate::default()
    };
    let draft = wallet
        .create_mandate(&user, &agent.id, mandate)
        .await
        .map_err(e("draft the mandate"))?;
    let consented = wallet
        .consent_mandate(&user, &draft.id, &draft.content_hash, issuer)
        .await
        .map_err(e("consent to the mandate"))?;
    if consented.status != "active" {
        return Err(format!(
            "bench setup: the consented mandate is {}, not active",
            consented.status
        ));
    }
    Ok(BenchAgent {
        key,
        user_id: user.user_id,
        mandate_id: draft.id,
    })
}
