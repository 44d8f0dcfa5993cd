//! Cards in the vault. The number and the card-verification value are sealed (envelope
//! encryption) the moment they arrive; the CVV is destroyed once the card's first
//! authorization is done. Nothing but the rail adapter ever sees the full number again: every
//! answer shows brand, last four digits and a keyed fingerprint.

use purser_core::card::{self, CardError, CardNumber, CardholderName, Cvv, Expiry, YearMonth};
use purser_core::Timestamp;
use purser_store::db::{DbError, Row, Stmt};
use purser_store::vals;
use serde::{Deserialize, Serialize};

use crate::access::{Principal, Scope};
use crate::error::{Result, WalletError};
use crate::ids::{self, check_id};
use crate::Wallet;

/// Most active cards per user.
pub const MAX_CARDS_PER_USER: i64 = 20;

/// A card as a person enters it. Dropped (and its strings zeroized) after sealing.
#[derive(Deserialize)]
pub struct NewCard {
    pub number: String,
    /// "MM/YY" or "MM/YYYY".
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub exp_month: Option<serde_json::Value>,
    #[serde(default)]
    pub exp_year: Option<serde_json::Value>,
    pub cvv: String,
    pub holder: String,
}

impl std::fmt::Debug for NewCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewCard(***)")
    }
}

impl Drop for NewCard {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.number);
        zeroize::Zeroize::zeroize(&mut self.cvv);
    }
}

/// A card as every answer shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Card {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub holder: String,
    /// The same card number always has the same fingerprint here (keyed, so it cannot be
    /// reversed from the brand and last four digits).
    pub fingerprint: String,
    /// Whether the card-verification value is still held (only until the first
    /// authorization).
    pub cvv_on_file: bool,
    /// `active` or `removed`.
    pub status: String,
    /// The rail that charges this card; `sandbox` is a simulation, no real money moves.
    pub rail: &'static str,
    pub created_at: String,
}

fn card_error(e: CardError, param: &str) -> WalletError {
    WalletError::invalid(e.code(), e.to_string(), param)
}

const COLUMNS: &str = "SELECT id, brand, last4, exp_month, exp_year, holder, fingerprint, cvv_record, status, created_at FROM cards";

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Wallet {
    fn card_from(&self, r: &Row) -> Result<Card> {
        Ok(Card {
            id: r.text(0)?,
            brand: r.text(1)?,
            last4: r.text(2)?,
            exp_month: r.int(3)?,
            exp_year: r.int(4)?,
            holder: r.text(5)?,
            fingerprint: r.text(6)?,
            cvv_on_file: r.opt_text(7)?.is_some(),
            status: r.text(8)?,
            rail: self.rail.name(),
            created_at: Timestamp(r.int(9)?).to_rfc3339(),
        })
    }

    /// Check and seal a new card.
    pub async fn add_card(&self, who: &Principal, new: NewCard) -> Result<Card> {
        who.require(Scope::WalletWrite)?;
        let number = CardNumber::parse(&new.number).map_err(|e| card_error(e, "number"))?;
        let expiry = match (&new.expiry, &new.exp_month, &new.exp_year) {
            (Some(e), None, None) => Expiry::parse(e).map_err(|e| card_error(e, "expiry"))?,
            (None, Some(m), Some(y)) => Expiry::from_fields(&value_text(m), &value_text(y))
                .map_err(|e| card_error(e, "exp_month"))?,
            _ => {
                return Err(WalletError::invalid(
                    "card_expiry_invalid",
                    "give the expiry as \"MM/YY\" in expiry, or as exp_month and exp_year",
                    "expiry",
                ))
            }
        };
        let now = self.now();
        expiry
            .check(YearMonth::from_timestamp(now))
            .map_err(|e| card_error(e, "expiry"))?;
        let cvv = Cvv::parse(&new.cvv, number.brand()).map_err(|e| card_error(e, "cvv"))?;
        let holder = CardholderName::parse(&new.holder).map_err(|e| card_error(e, "holder"))?;
        let fp = card::fingerprint(&number, self.fingerprint_key.expose());
        let count = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM cards WHERE user_id = $1 AND status = 'active'",
                vals![&who.user_id],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        if count >= MAX_CARDS_PER_USER {
            return Err(WalletError::conflict(
                "too_many_cards",
                format!("you have {MAX_CARDS_PER_USER} cards, the most allowed; remove one first"),
            ));
        }
        let id = ids::new_id("crd")?;
        let pan_record = format!("vlt_{id}_number");
        let cvv_record = format!("vlt_{id}_cvv");
        let stmts = vec![
            self.seal_record(&pan_record, number.expose_digits().as_bytes())?,
            self.seal_record(&cvv_record, cvv.expose_digits().as_bytes())?,
            Stmt::exec(
                "INSERT INTO cards (id, user_id, brand, last4, exp_month, exp_year, holder, fingerprint, number_record, cvv_record, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11)",
                vals![
                    &id,
                    &who.user_id,
                    number.brand().as_str(),
                    number.last4(),
                    i64::from(expiry.month()),
                    i64::from(expiry.year()),
                    holder.as_str(),
                    fp.as_str(),
                    &pan_record,
                    &cvv_record,
                    now.0
                ],
            ),
        ];
        match self.db.write(stmts).await {
            Ok(_) => self.card(who, &id).await,
            Err(DbError::Conflict(_)) => Err(WalletError::conflict(
                "card_exists",
                format!(
                    "this card ({} ending {}) is already in your wallet",
                    number.brand().display_name(),
                    number.last4()
                ),
            )
            .at("number")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn card(&self, who: &Principal, id: &str) -> Result<Card> {
        who.require(Scope::WalletRead)?;
        check_id("crd", id, "id")?;
        let r = self
            .db
            .query_opt(
                &format!("{COLUMNS} WHERE id = $1 AND user_id = $2"),
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("card", id))?;
        self.card_from(&r)
    }

    pub async fn list_cards(&self, who: &Principal) -> Result<Vec<Card>> {
        who.require(Scope::WalletRead)?;
        self.db
            .query(
                &format!(
                    "{COLUMNS} WHERE user_id = $1 AND status = 'active' ORDER BY created_at, id"
                ),
                vals![&who.user_id],
            )
            .await?
            .iter()
            .map(|r| self.card_from(r))
            .collect()
    }

    /// Remove a card: its sealed number and CVV are destroyed; its history stays. An agent
    /// restricted to this card stays restricted to it, and so can no longer spend: removing a
    /// card never widens what an agent may use.
    pub async fn remove_card(&self, who: &Principal, id: &str) -> Result<Card> {
        who.require(Scope::WalletWrite)?;
        self.card(who, id).await?;
        self.db
            .write(vec![
                Stmt::exec(
                    "UPDATE cards SET status = 'removed', cvv_record = NULL, number_record = NULL WHERE id = $1 AND user_id = $2",
                    vals![id, &who.user_id],
                ),
                Self::delete_record(&format!("vlt_{id}_cvv")),
                Self::delete_record(&format!("vlt_{id}_number")),
            ])
            .await?;
        self.card(who, id).await
    }
}
