//! The bundled merchant (`purser merchant serve`, the same function, in this process) and the
//! agent's side of it: catalog search and ACP checkout over HTTP, every request signed with the
//! agent's key (`purser_merchant::shopper::Shopper`).

use std::path::Path;

use purser_agent::AgentKey;
use purser_merchant::shopper::Shopper;
use serde_json::{json, Value};

use super::http::Http;

/// One product as the catalog lists it.
#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub title: String,
    /// Minor units of CNY.
    pub price: i64,
    /// Rating × 10 (4.7 → 47), so it compares as an integer.
    pub rating_tenths: u32,
}

/// An open checkout session, ready for payment.
pub struct Session {
    pub id: String,
    pub total: i64,
    /// The cart the merchant signed (AP2 `checkout_jwt`).
    pub checkout_jwt: String,
}

pub struct Shop {
    pub name: String,
    pub base: String,
    pub website: String,
    pub merchant_id: String,
}

/// Where the demo's parcels go.
fn address() -> Value {
    json!({"name": "Mei Lin", "email": "mei@example.com", "address": {
        "name": "Mei Lin", "line_one": "88 Century Avenue", "city": "Shanghai",
        "state": "SH", "country": "CN", "postal_code": "200120"}})
}

fn err(what: &str) -> impl Fn(purser_agent::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Shop {
    /// Registers the merchant with Purser (as the operator) and starts it on a free port.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        purser: &Http,
        operator: &str,
        data: &Path,
    ) -> Result<Shop, String> {
        let port = super::free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let name = "Trailhead Outfitters".to_string();
        let website = "trailhead-outfitters.example".to_string();
        let m = purser
            .post(
                "/v1/merchants",
                Some(operator),
                &json!({"name": name, "website": website, "country": "CN", "category": "5661"}),
            )?
            .ok("register the merchant")?;
        let merchant_id = m["merchant"]["id"].as_str().unwrap_or_default().to_string();
        let config = purser_merchant::Config {
            listen: format!("127.0.0.1:{port}"),
            public_url: None,
            purser_url: purser.base().to_string(),
            merchant_id: Some(merchant_id.clone()),
            api_key: m["api_key"].as_str().unwrap_or_default().to_string(),
            data_dir: Some(data.join("merchant")),
            require_mandate: true,
            checkout_api_key: None,
        };
        let shop = rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let shop = purser_merchant::open(&config, addr).await?;
            Ok::<_, String>((listener, shop))
        })?;
        let (listener, state) = shop;
        rt.spawn(async move {
            let _ = axum_serve(listener, state).await;
        });
        Ok(Shop {
            name,
            base,
            website,
            merchant_id,
        })
    }

    fn shopper(&self, key_jwk: &str) -> Result<Shopper, String> {
        let key = AgentKey::from_private_jwk(key_jwk).map_err(|e| e.to_string())?;
        Shopper::new(&self.base, key).map_err(|e| e.to_string())
    }

    pub fn search(&self, key_jwk: &str, q: &str) -> Result<Vec<Product>, String> {
        let v = self
            .shopper(key_jwk)?
            .search(q, None, None, None)
            .map_err(err("searching the catalog"))?;
        let list = v["products"]
            .as_array()
            .or_else(|| v["data"].as_array())
            .or_else(|| v.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(list
            .iter()
            .filter(|p| p["availability"] != "out_of_stock")
            .filter_map(|p| {
                Some(Product {
                    id: p["id"].as_str()?.to_string(),
                    title: p["name"]
                        .as_str()
                        .or_else(|| p["title"].as_str())?
                        .to_string(),
                    price: p["price"]["amount"].as_i64()?,
                    rating_tenths: (p["rating"].as_f64().unwrap_or(0.0) * 10.0).round() as u32,
                })
            })
            .collect())
    }

    /// Opens a checkout for `quantity` × `product`, shipped to Mei (standard, free).
    pub fn open_checkout(
        &self,
        key_jwk: &str,
        product: &str,
        quantity: u32,
    ) -> Result<Session, String> {
        let s = self
            .shopper(key_jwk)?
            .create(
                &[(product, i64::from(quantity))],
                Some(&address()),
                &super::fresh("chk"),
            )
            .map_err(err("opening a checkout"))?;
        if s["status"] != "ready_for_payment" {
            return Err(format!(
                "the checkout is {} (not ready for payment): {}",
                s["status"], s["messages"]
            ));
        }
        let total = s["totals"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == "total")
            .and_then(|t| t["amount"].as_i64())
            .ok_or_else(|| format!("the checkout states no total: {s}"))?;
        Ok(Session {
            id: s["id"].as_str().unwrap_or_default().to_string(),
            total,
            checkout_jwt: s["ap2"]["checkout_jwt"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// Completes the checkout with Purser's credential and the agent's closed checkout
    /// mandate; returns the order id.
    pub fn complete(
        &self,
        key_jwk: &str,
        session: &str,
        credential: &str,
        checkout_mandate: &str,
    ) -> Result<String, String> {
        let v = self
            .shopper(key_jwk)?
            .complete(
                session,
                credential,
                Some(checkout_mandate),
                &super::fresh("done"),
            )
            .map_err(err("completing the checkout"))?;
        if v["status"] != "completed" {
            return Err(format!(
                "the checkout is {} after completing: {}",
                v["status"], v["messages"]
            ));
        }
        Ok(v["order"]["id"].as_str().unwrap_or("").to_string())
    }
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    shop: std::sync::Arc<purser_merchant::Shop>,
) -> Result<(), String> {
    purser_merchant::serve_on(listener, shop).await
}
