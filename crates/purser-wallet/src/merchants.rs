//! Merchants: the businesses that redeem agents' payment credentials.
//!
//! The operator registers a merchant (its name, website, country, category and, optionally, a
//! webhook URL). Registration returns two secrets, once: the API key (`psk_<id>_<secret>`,
//! only its SHA-256 stored) the merchant sends as `Authorization: Bearer`, and the webhook
//! secret (`whsec_…`, sealed in the vault because Purser needs it to sign every delivery) the
//! merchant uses to check `Merchant-Signature` on what Purser sends it.

use purser_core::Timestamp;
use purser_store::db::{Row, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::error::{Result, WalletError};
use crate::ids::{self, check_id};
use crate::Wallet;

/// A registered merchant, as Purser knows it. The website is authoritative: an agent's
/// payment request naming this merchant with another website is refused.
#[derive(Clone, Debug, Serialize)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    /// Host name, lowercase (`boots.example`).
    pub website: String,
    /// ISO 3166-1 alpha-2, when known.
    pub country: Option<String>,
    /// Merchant category code (four digits), when known.
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: String,
}

/// A new merchant and its secrets, shown once.
#[derive(Debug, Serialize)]
pub struct CreatedMerchant {
    pub merchant: Merchant,
    /// `Authorization: Bearer <api_key>` on merchant calls. Shown once; only its hash is kept.
    pub api_key: String,
    /// The key for checking `Merchant-Signature` on webhooks. Shown once.
    pub webhook_secret: String,
}

/// A merchant authenticated by its API key.
#[derive(Clone, Debug)]
pub struct MerchantCaller {
    pub merchant_id: String,
}

/// What registering a merchant needs.
#[derive(Clone, Debug, Default)]
pub struct NewMerchant {
    pub name: String,
    pub website: String,
    pub country: Option<String>,
    pub category: Option<String>,
    pub webhook_url: Option<String>,
}

const COLUMNS: &str =
    "SELECT id, name, website, country, category, webhook_url, status, created_at FROM merchants";

fn merchant_from(r: &Row) -> Result<Merchant> {
    Ok(Merchant {
        id: r.text(0)?,
        name: r.text(1)?,
        website: r.text(2)?,
        country: r.opt_text(3)?,
        category: r.opt_text(4)?,
        webhook_url: r.opt_text(5)?,
        status: r.text(6)?,
        created_at: Timestamp(r.int(7)?).to_rfc3339(),
    })
}

/// A website as a bare lowercase host: `https://Boots.Example/shop` → `boots.example`.
pub fn website_host(s: &str) -> Option<String> {
    let s = s.trim();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':'))
        && !host.starts_with('.')
        && !host.starts_with('-');
    ok.then_some(host)
}

/// A webhook URL Purser can deliver to: absolute http(s), no credentials, bounded.
pub fn check_webhook_url(url: &str) -> Result<()> {
    let ok = url.len() <= 2048
        && (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace)
        && url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .is_some_and(|auth| !auth.is_empty() && !auth.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(WalletError::invalid(
            "webhook_url_invalid",
            "the webhook URL must be an absolute http:// or https:// URL without credentials, at most 2,048 characters",
            "webhook_url",
        ))
    }
}

impl Wallet {
    /// Register a merchant (operator only; the HTTP layer checks the operator token).
    pub async fn create_merchant(&self, m: &NewMerchant) -> Result<CreatedMerchant> {
        let name = m.name.trim();
        if name.is_empty() || name.chars().count() > 200 || ids::has_hidden_chars(name, false) {
            return Err(WalletError::invalid(
                "name_invalid",
                "give the merchant a name people recognise, 1 to 200 visible characters",
                "name",
            ));
        }
        let website = website_host(&m.website).ok_or_else(|| {
            WalletError::invalid(
                "website_invalid",
                "give the merchant's website as a host name like boots.example (or its https:// URL)",
                "website",
            )
        })?;
        let country = match &m.country {
            None => None,
            Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(c.to_ascii_uppercase())
            }
            Some(_) => {
                return Err(WalletError::invalid(
                    "country_invalid",
                    "the country is a two-letter ISO 3166 code, like CN or US",
                    "country",
                ))
            }
        };
        let category = match &m.category {
            None => None,
            Some(c) if c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()) => Some(c.clone()),
            Some(_) => {
                return Err(WalletError::invalid(
                    "category_invalid",
                    "the category is a four-digit merchant category code (MCC), like 5661 for shoe stores",
                    "category",
                ))
            }
        };
        if let Some(u) = &m.webhook_url {
            check_webhook_url(u)?;
        }
        let id = ids::new_id("mch")?;
        let secret = ids::new_secret("x")?;
        let api_key = format!("psk_{}_{}", &id[4..], &secret[2..]);
        let webhook_secret = ids::new_secret("whsec")?;
        let record = format!("vlt_whsec_{}", &id[4..]);
        let now = self.now();
        self.db
            .write(vec![
                self.seal_record(&record, webhook_secret.as_bytes())?,
                Stmt::exec(
                    "INSERT INTO merchants (id, name, website, country, category, key_hash, webhook_url, webhook_secret_record, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9)",
                    vals![&id, name, &website, country.clone(), category.clone(), ids::secret_hash(&api_key), m.webhook_url.clone(), &record, now.0],
                ),
            ])
            .await?;
        Ok(CreatedMerchant {
            merchant: Merchant {
                id,
                name: name.to_string(),
                website,
                country,
                category,
                webhook_url: m.webhook_url.clone(),
                status: "active".into(),
                created_at: now.to_rfc3339(),
            },
            api_key,
            webhook_secret,
        })
    }

    /// A merchant by id, if registered.
    pub async fn merchant(&self, id: &str) -> Result<Merchant> {
        check_id("mch", id, "id")?;
        let r = self
            .db
            .query_opt(&format!("{COLUMNS} WHERE id = $1"), vals![id])
            .await?
            .ok_or_else(|| WalletError::not_found("merchant", id))?;
        merchant_from(&r)
    }

    /// Every merchant (operator), newest first.
    pub async fn list_merchants(&self) -> Result<Vec<Merchant>> {
        self.db
            .query(
                &format!("{COLUMNS} ORDER BY created_at DESC, id LIMIT 500"),
                vals![],
            )
            .await?
            .iter()
            .map(merchant_from)
            .collect()
    }

    /// Who holds this merchant API key, if it is live.
    pub async fn authenticate_merchant(&self, key: &str) -> Result<MerchantCaller> {
        let refused = || {
            WalletError::unauthorized(
                "merchant_key_invalid",
                "this merchant API key is unknown or disabled; send the key you got at registration as 'Authorization: Bearer psk_…'",
            )
        };
        let suffix = key
            .strip_prefix("psk_")
            .and_then(|r| r.split('_').next())
            .ok_or_else(refused)?;
        let id = format!("mch_{suffix}");
        if check_id("mch", &id, "key").is_err() {
            return Err(refused());
        }
        let r = self
            .db
            .query_opt(
                "SELECT key_hash, status FROM merchants WHERE id = $1",
                vals![&id],
            )
            .await?
            .ok_or_else(refused)?;
        let hash = ids::secret_hash(key);
        if !ids::constant_time_eq(r.text(0)?.as_bytes(), hash.as_bytes()) || r.text(1)? != "active"
        {
            return Err(refused());
        }
        Ok(MerchantCaller { merchant_id: id })
    }

    /// The merchant's webhook secret, opened from the vault (for signing deliveries).
    pub(crate) async fn merchant_webhook_secret(
        &self,
        merchant_id: &str,
    ) -> Result<Option<(String, purser_core::secret::SecretBytes)>> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT webhook_url, webhook_secret_record FROM merchants WHERE id = $1",
                vals![merchant_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let (Some(url), Some(record)) = (r.opt_text(0)?, r.opt_text(1)?) else {
            return Ok(None);
        };
        Ok(Some((url, self.open_record(&record).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websites_are_bare_hosts() {
        assert_eq!(
            website_host("https://www.Boots.Example/x?y").as_deref(),
            Some("boots.example")
        );
        assert_eq!(
            website_host("shop.example").as_deref(),
            Some("shop.example")
        );
        assert_eq!(website_host(""), None);
        assert_eq!(website_host("bad host"), None);
        assert_eq!(website_host("https:///x"), None);
    }

    #[test]
    fn webhook_urls_are_checked() {
        assert!(check_webhook_url("https://m.example/hooks").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/h").is_ok());
        assert!(check_webhook_url("ftp://m.example").is_err());
        assert!(check_webhook_url("https://user:pw@m.example/").is_err());
        assert!(check_webhook_url("https://m.example/a b").is_err());
    }
}
