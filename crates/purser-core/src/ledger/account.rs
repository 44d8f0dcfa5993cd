//! Accounts and the balance rules their flags impose.

use super::{AccountId, LedgerError};
use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// Limits an account places on its own balance. At most one may be set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountFlags {
    /// An asset-like account owned by someone (a wallet): it can never spend more than it holds.
    #[serde(default)]
    pub debits_must_not_exceed_credits: bool,
    /// The mirror image, for accounts that must never be credited beyond what was debited.
    #[serde(default)]
    pub credits_must_not_exceed_debits: bool,
}

impl AccountFlags {
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: AccountFlags = AccountFlags {
        debits_must_not_exceed_credits: true,
        credits_must_not_exceed_debits: false,
    };
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: AccountFlags = AccountFlags {
        debits_must_not_exceed_credits: false,
        credits_must_not_exceed_debits: true,
    };

    pub fn bits(self) -> i64 {
        i64::from(self.debits_must_not_exceed_credits)
            | (i64::from(self.credits_must_not_exceed_debits) << 1)
    }

    pub fn from_bits(bits: i64) -> Option<AccountFlags> {
        if bits & !3 != 0 {
            return None;
        }
        Some(AccountFlags {
            debits_must_not_exceed_credits: bits & 1 != 0,
            credits_must_not_exceed_debits: bits & 2 != 0,
        })
    }

    pub(super) fn validate(self) -> Result<(), LedgerError> {
        if self.debits_must_not_exceed_credits && self.credits_must_not_exceed_debits {
            return Err(LedgerError::FlagsMutuallyExclusive);
        }
        Ok(())
    }
}

/// What a client asks for when opening an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    pub id: AccountId,
    pub currency: Currency,
    pub flags: AccountFlags,
}

/// An account and its four balances, in minor units of its currency.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub currency: Currency,
    pub flags: AccountFlags,
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
    pub created_at: Timestamp,
}

impl Account {
    pub fn open(new: &NewAccount, at: Timestamp) -> Account {
        Account {
            id: new.id.clone(),
            currency: new.currency,
            flags: new.flags,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            created_at: at,
        }
    }

    /// What a debit-limited account can still spend: posted credits less everything debited
    /// or reserved. Saturates at zero for display; the rules use exact checked arithmetic.
    pub fn available_to_debit(&self) -> Money {
        let used = self.debits_posted.saturating_add(self.debits_pending);
        Money::new(
            self.credits_posted.saturating_sub(used).max(0),
            self.currency,
        )
    }

    pub fn available_to_credit(&self) -> Money {
        let used = self.credits_posted.saturating_add(self.credits_pending);
        Money::new(
            self.debits_posted.saturating_sub(used).max(0),
            self.currency,
        )
    }

    /// Posted credits minus posted debits: the balance of a wallet-like account.
    pub fn net_posted(&self) -> Option<i64> {
        self.credits_posted.checked_sub(self.debits_posted)
    }

    /// The invariants every stored account satisfies. Checked after every change, in release
    /// builds too; a violation is a bug, and the change is refused rather than written.
    pub fn check_invariants(&self) -> Result<(), String> {
        let balances = [
            self.debits_pending,
            self.debits_posted,
            self.credits_pending,
            self.credits_posted,
        ];
        if balances.iter().any(|b| *b < 0) {
            return Err(format!(
                "account {} has a negative balance component",
                self.id
            ));
        }
        if self.flags.debits_must_not_exceed_credits {
            let debits = self.debits_pending.checked_add(self.debits_posted);
            if debits.is_none_or(|d| d > self.credits_posted) {
                return Err(format!("account {} has debits beyond its credits", self.id));
            }
        }
        if self.flags.credits_must_not_exceed_debits {
            let credits = self.credits_pending.checked_add(self.credits_posted);
            if credits.is_none_or(|c| c > self.debits_posted) {
                return Err(format!("account {} has credits beyond its debits", self.id));
            }
        }
        Ok(())
    }
}
