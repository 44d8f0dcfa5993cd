//! Money in the wallet: ledger accounts per user and currency, amounts at the API edge, and
//! the wallet's balances.
//!
//! Ledger accounts: `wallet:<usr>:<CUR>` (a user's main balance; may never go below zero),
//! `ecard:<ecd>` (an agent-exclusive card; never below zero, so its balance is its limit),
//! `rail:<rail>:<CUR>` (money owed by or to a card rail; the outside world, unflagged).

use purser_core::ledger::{
    AccountFlags, AccountId, LinkedOp, NewAccount, NewTransfer, Op, Outcome, TransferId,
};
use purser_core::{Currency, Money};
use purser_store::db::Stmt;
use purser_store::vals;
use serde::{Deserialize, Serialize};

use crate::access::{Principal, Scope};
use crate::error::{Kind, Result, WalletError};
use crate::Wallet;

/// Money as the API carries it: integer minor units and an ISO 4217 code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Amount {
    /// Minor units (CNY 79900 = ¥799.00; JPY has none, KWD has three).
    pub amount: i64,
    pub currency: String,
}

/// Money shown to a person and to programs at once.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Shown {
    pub amount: i64,
    pub currency: &'static str,
    /// "¥799.00" style, for people.
    pub display: String,
}

impl From<Money> for Shown {
    fn from(m: Money) -> Shown {
        Shown {
            amount: m.minor,
            currency: m.currency.code(),
            display: m.with_symbol(),
        }
    }
}

pub fn currency(code: &str, param: &str) -> Result<Currency> {
    Currency::from_code(code).ok_or_else(|| {
        WalletError::invalid(
            "currency_invalid",
            format!("{code:.12} is not an ISO 4217 currency Purser knows; use a code like CNY, USD or EUR"),
            param,
        )
    })
}

/// A positive amount, checked at the edge.
pub fn positive(amount: i64, code: &str, param: &str) -> Result<Money> {
    let c = currency(code, &format!("{param}.currency"))?;
    if amount <= 0 {
        return Err(WalletError::invalid(
            "amount_invalid",
            "the amount must be a positive whole number of minor units (CNY 100 = ¥1.00)",
            &format!("{param}.amount"),
        ));
    }
    Ok(Money::new(amount, c))
}

/// As [`positive`], zero allowed (a fee that may be free).
pub fn non_negative(amount: i64, code: &str, param: &str) -> Result<Money> {
    let c = currency(code, &format!("{param}.currency"))?;
    if amount < 0 {
        return Err(WalletError::invalid(
            "amount_invalid",
            "the amount must be zero or a positive whole number of minor units (CNY 100 = ¥1.00)",
            &format!("{param}.amount"),
        ));
    }
    Ok(Money::new(amount, c))
}

pub(crate) fn wallet_account(user_id: &str, c: Currency) -> Result<AccountId> {
    account_id(&format!("wallet:{user_id}:{}", c.code()))
}

pub(crate) fn rail_account(rail: &str, c: Currency) -> Result<AccountId> {
    account_id(&format!("rail:{rail}:{}", c.code()))
}

pub(crate) fn ecard_account(ecard_id: &str) -> Result<AccountId> {
    account_id(&format!("ecard:{ecard_id}"))
}

pub(crate) fn account_id(s: &str) -> Result<AccountId> {
    AccountId::parse(s).map_err(|e| {
        WalletError::new(
            Kind::Unavailable,
            "internal_error",
            format!("bad ledger account id: {e}"),
        )
    })
}

pub(crate) fn transfer_id(s: &str) -> Result<TransferId> {
    TransferId::parse(s).map_err(|e| {
        WalletError::new(
            Kind::Unavailable,
            "internal_error",
            format!("bad ledger transfer id: {e}"),
        )
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Balance {
    pub currency: &'static str,
    /// What can be spent or moved now.
    pub available: Shown,
    /// Reserved by holds not yet captured.
    pub held: Shown,
}

#[derive(Clone, Debug, Serialize)]
pub struct WalletView {
    pub user_id: String,
    pub balances: Vec<Balance>,
}

impl Wallet {
    /// Open a ledger account if it is not there yet (the ledger replays a repeat).
    pub(crate) async fn ensure_account(
        &self,
        id: AccountId,
        c: Currency,
        flags: AccountFlags,
    ) -> Result<()> {
        // Known to exist with these terms: accounts are never deleted or changed.
        let memo = format!("{}|{}|{flags:?}", id.as_str(), c.code());
        if self.known_accounts.lock().is_ok_and(|k| k.contains(&memo)) {
            return Ok(());
        }
        let r = self
            .ledger
            .submit_one(Op::CreateAccount(NewAccount {
                id,
                currency: c,
                flags,
            }))
            .await?;
        r.map_err(WalletError::from)?;
        if let Ok(mut k) = self.known_accounts.lock() {
            if k.len() < 100_000 {
                k.insert(memo);
            }
        }
        Ok(())
    }

    /// The user's main account in `c`, opened on first use.
    pub(crate) async fn ensure_wallet(&self, user_id: &str, c: Currency) -> Result<AccountId> {
        let id = wallet_account(user_id, c)?;
        self.ensure_account(id.clone(), c, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            .await?;
        self.db
            .write(vec![Stmt::exec(
                "INSERT INTO wallet_accounts (user_id, currency, account_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                vals![user_id, c.code(), id.as_str(), self.now().0],
            )])
            .await?;
        Ok(id)
    }

    /// Move money between two ledger accounts, once per transfer id.
    pub(crate) async fn transfer(
        &self,
        id: &str,
        from: AccountId,
        to: AccountId,
        m: Money,
    ) -> Result<()> {
        let op = Op::Transfer(NewTransfer {
            id: transfer_id(id)?,
            debit_account_id: from,
            credit_account_id: to,
            amount: m.minor,
            currency: m.currency,
        });
        let r = self
            .ledger
            .submit(vec![LinkedOp { op, linked: false }])
            .await?;
        match r.into_iter().next() {
            Some(Ok(Outcome::Transfer { .. })) | Some(Ok(Outcome::Account { .. })) => Ok(()),
            Some(Err(e)) => Err(e.into()),
            None => Err(WalletError::new(
                Kind::Unavailable,
                "internal_error",
                "the ledger gave no answer; retry with the same Idempotency-Key",
            )),
        }
    }

    /// Available and held money of one ledger account (zero if it does not exist yet).
    pub(crate) async fn balance_of(&self, id: &AccountId, c: Currency) -> Result<Balance> {
        let acct = self.ledger.account(id).await?;
        let (available, held) = match acct {
            Some(a) => (a.available_to_debit(), Money::new(a.debits_pending, c)),
            None => (Money::zero(c), Money::zero(c)),
        };
        Ok(Balance {
            currency: c.code(),
            available: available.into(),
            held: held.into(),
        })
    }

    /// The user's balances, one per currency they hold.
    pub async fn wallet(&self, who: &Principal) -> Result<WalletView> {
        who.require(Scope::WalletRead)?;
        let rows = self
            .db
            .query(
                "SELECT currency, account_id FROM wallet_accounts WHERE user_id = $1 ORDER BY currency",
                vals![&who.user_id],
            )
            .await?;
        let mut balances = Vec::with_capacity(rows.len());
        for r in &rows {
            let c = Currency::from_code(&r.text(0)?).ok_or_else(|| {
                purser_store::StoreError::Corrupt("a wallet account has an unknown currency".into())
            })?;
            balances.push(self.balance_of(&account_id(&r.text(1)?)?, c).await?);
        }
        Ok(WalletView {
            user_id: who.user_id.clone(),
            balances,
        })
    }
}
