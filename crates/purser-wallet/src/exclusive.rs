//! Agent-exclusive cards: a sub-balance of the wallet bound to exactly one agent (through an
//! active binding, created by the user: that is the explicit consent). The user moves money in
//! and out; the agent can spend at most its balance (the ledger refuses any debit beyond it)
//! and never sees the main balance.

use purser_core::ledger::AccountFlags;
use purser_core::{Currency, Money, Timestamp};
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::access::{Principal, Scope};
use crate::error::{Result, WalletError};
use crate::funds::{self, ecard_account, Amount, Shown};
use crate::ids::{self, check_id};
use crate::signed::AgentCaller;
use crate::Wallet;

#[derive(Clone, Debug, Serialize)]
pub struct ExclusiveCard {
    pub id: String,
    pub binding_id: String,
    pub agent_id: String,
    pub currency: &'static str,
    /// What the agent may still spend with it: its balance.
    pub balance: Shown,
    /// Reserved by the agent's holds not yet captured.
    pub held: Shown,
    /// `active` or `closed`.
    pub status: String,
    pub created_at: String,
}

/// Which way money moves between the wallet and an exclusive card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Wallet → card.
    Fund,
    /// Card → wallet.
    Withdraw,
}

const COLUMNS: &str =
    "SELECT id, binding_id, agent_id, currency, status, created_at FROM exclusive_cards";

/// What the agent may see about the money it can use for one user.
#[derive(Clone, Debug, Serialize)]
pub struct AgentFunds {
    pub user_id: String,
    pub binding_id: String,
    /// The only source the user allows this agent, if they restricted it.
    pub funding_source: Option<String>,
    /// The agent's exclusive cards for this user, with balances. The main wallet balance is
    /// never shown to an agent.
    pub exclusive_cards: Vec<ExclusiveCard>,
}

impl Wallet {
    async fn ecard_from(&self, r: &Row) -> Result<ExclusiveCard> {
        let id = r.text(0)?;
        let c = Currency::from_code(&r.text(3)?).ok_or_else(|| {
            purser_store::StoreError::Corrupt("an exclusive card has an unknown currency".into())
        })?;
        let b = self.balance_of(&ecard_account(&id)?, c).await?;
        Ok(ExclusiveCard {
            id,
            binding_id: r.text(1)?,
            agent_id: r.text(2)?,
            currency: c.code(),
            balance: b.available,
            held: b.held,
            status: r.text(4)?,
            created_at: Timestamp(r.int(5)?).to_rfc3339(),
        })
    }

    /// Create an exclusive card for an approved agent binding.
    pub async fn create_exclusive_card(
        &self,
        who: &Principal,
        binding_id: &str,
        currency: &str,
    ) -> Result<ExclusiveCard> {
        who.require(Scope::WalletWrite)?;
        who.require(Scope::AgentsWrite)?;
        let c = funds::currency(currency, "currency")?;
        let b = self.binding(who, binding_id).await?;
        if b.status != "active" {
            return Err(WalletError::conflict(
                "binding_state",
                format!(
                    "this binding is {}; approve the agent before giving it a card",
                    b.status
                ),
            ));
        }
        let id = ids::new_id("ecd")?;
        let account = ecard_account(&id)?;
        self.ensure_account(
            account.clone(),
            c,
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        )
        .await?;
        let inserted = self
            .db
            .write(vec![
                Stmt::query(
                    "SELECT 1 FROM bindings WHERE id = $1 AND user_id = $2 AND status = 'active'",
                    vals![binding_id, &who.user_id],
                )
                .expect(Expect::One, "binding"),
                Stmt::exec(
                    "INSERT INTO exclusive_cards (id, user_id, agent_id, binding_id, currency, account_id, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
                    vals![&id, &who.user_id, &b.agent.id, binding_id, c.code(), account.as_str(), self.now().0],
                ),
            ])
            .await;
        match inserted {
            Ok(_) => self.exclusive_card(who, &id).await,
            Err(DbError::Conflict(_)) => Err(WalletError::conflict(
                "exclusive_card_exists",
                format!(
                    "this agent already has an exclusive {} card; fund that one",
                    c.code()
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exclusive_card(&self, who: &Principal, id: &str) -> Result<ExclusiveCard> {
        who.require(Scope::WalletRead)?;
        check_id("ecd", id, "id")?;
        let r = self
            .db
            .query_opt(
                &format!("{COLUMNS} WHERE id = $1 AND user_id = $2"),
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("exclusive_card", id))?;
        self.ecard_from(&r).await
    }

    pub async fn list_exclusive_cards(&self, who: &Principal) -> Result<Vec<ExclusiveCard>> {
        who.require(Scope::WalletRead)?;
        self.cards_where(
            "WHERE user_id = $1 ORDER BY created_at, id LIMIT 500",
            vals![&who.user_id],
        )
        .await
    }

    /// The exclusive cards of one of the person's bindings, however many cards they have.
    pub async fn exclusive_cards_of_binding(
        &self,
        who: &Principal,
        binding_id: &str,
    ) -> Result<Vec<ExclusiveCard>> {
        who.require(Scope::WalletRead)?;
        self.cards_where(
            "WHERE user_id = $1 AND binding_id = $2 ORDER BY created_at, id",
            vals![&who.user_id, binding_id],
        )
        .await
    }

    async fn cards_where(
        &self,
        filter: &str,
        params: Vec<purser_store::db::Val>,
    ) -> Result<Vec<ExclusiveCard>> {
        let rows = self
            .db
            .query(&format!("{COLUMNS} {filter}"), params)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.ecard_from(r).await?);
        }
        Ok(out)
    }

    /// Move money between the wallet and an exclusive card. `key` makes a retry safe: the same
    /// key moves the money once.
    pub async fn move_exclusive(
        &self,
        who: &Principal,
        id: &str,
        dir: Direction,
        amount: &Amount,
        key: &str,
    ) -> Result<ExclusiveCard> {
        who.require(Scope::WalletWrite)?;
        let card = self.exclusive_card(who, id).await?;
        let m = funds::positive(amount.amount, &amount.currency, "amount")?;
        if m.currency.code() != card.currency {
            return Err(WalletError::invalid(
                "currency_mismatch",
                format!(
                    "this exclusive card holds {}; move {} into it",
                    card.currency, card.currency
                ),
                "amount.currency",
            ));
        }
        if card.status != "active" && dir == Direction::Fund {
            return Err(WalletError::conflict(
                "exclusive_card_closed",
                "this exclusive card is closed; create a new one",
            ));
        }
        let wallet = self.ensure_wallet(&who.user_id, m.currency).await?;
        let ecard = ecard_account(id)?;
        let tid = ids::derived_id(
            match dir {
                Direction::Fund => "ecf",
                Direction::Withdraw => "ecw",
            },
            &format!("{}|{id}", who.user_id),
            key,
        );
        let (from, to) = match dir {
            Direction::Fund => (wallet, ecard),
            Direction::Withdraw => (ecard, wallet),
        };
        self.transfer(&tid, from, to, m).await.map_err(|e| {
            if e.code == "exceeds_credits" || e.code == "insufficient_funds" {
                let what = match dir {
                    Direction::Fund => "your wallet",
                    Direction::Withdraw => "the exclusive card",
                };
                WalletError::conflict(
                    "insufficient_funds",
                    format!(
                        "{what} does not hold {}; move less or top up first",
                        m.with_symbol()
                    ),
                )
                .at("amount.amount")
            } else {
                e
            }
        })?;
        self.exclusive_card(who, id).await
    }

    /// Close the card: whatever is left goes back to the wallet, and the agent can no longer
    /// spend with it.
    pub async fn close_exclusive_card(&self, who: &Principal, id: &str) -> Result<ExclusiveCard> {
        who.require(Scope::WalletWrite)?;
        let card = self.exclusive_card(who, id).await?;
        self.db
            .write(vec![Stmt::exec(
                "UPDATE exclusive_cards SET status = 'closed' WHERE id = $1 AND user_id = $2",
                vals![id, &who.user_id],
            )])
            .await?;
        if card.balance.amount > 0 {
            let state = match self.ledger.account(&ecard_account(id)?).await? {
                Some(a) => format!("{}:{}", a.credits_posted, a.debits_posted),
                None => String::new(),
            };
            let c = funds::currency(card.currency, "currency")?;
            let wallet = self.ensure_wallet(&who.user_id, c).await?;
            self.transfer(
                // Named by the account's state, so a retry sweeps once and a later close (money
                // that arrived after the first, a hold released) sweeps again.
                &ids::derived_id("ecc", &who.user_id, &format!("{id}|{state}")),
                ecard_account(id)?,
                wallet,
                Money::new(card.balance.amount, c),
            )
            .await?;
        }
        self.exclusive_card(who, id).await
    }

    /// What an agent may see of the money it can use for `user_id`.
    pub async fn agent_funds(&self, agent: &AgentCaller, user_id: &str) -> Result<AgentFunds> {
        let b = self.agent_for_user(agent, user_id).await?;
        let rows = self
            .db
            .query(
                &format!(
                    "{COLUMNS} WHERE binding_id = $1 AND status = 'active' ORDER BY created_at, id"
                ),
                vals![&b.id],
            )
            .await?;
        let mut cards = Vec::with_capacity(rows.len());
        for r in &rows {
            cards.push(self.ecard_from(r).await?);
        }
        Ok(AgentFunds {
            user_id: user_id.to_string(),
            binding_id: b.id,
            funding_source: b.funding_source,
            exclusive_cards: cards,
        })
    }
}
