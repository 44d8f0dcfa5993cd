//! Confirmation (human present): a payment the mandate says the person must confirm waits,
//! with its money held, until they approve or decline it with their PIN on the page the
//! confirmation link opens. Link tokens are unguessable (a MAC under a sealed key), single-use
//! (the confirmation's status changes once) and expire.

use serde::Serialize;

use crate::error::{Result, WalletError};
use crate::funds::Shown;
use crate::Wallet;

/// What the confirmation page shows.
#[derive(Clone, Debug, Serialize)]
pub struct ConfirmationView {
    pub confirmation_id: String,
    /// `pending`, `approved`, `declined` or `expired`.
    pub status: String,
    pub expires_at: String,
    pub expires_at_ms: i64,
    pub payment_id: String,
    pub task_id: String,
    pub merchant_name: String,
    pub merchant_website: String,
    pub merchant_country: Option<String>,
    pub items: Vec<ItemView>,
    pub total: Shown,
    pub agent_name: String,
    pub agent_operator: String,
    pub mandate_id: Option<String>,
    /// The mandate in one plain sentence.
    pub mandate_summary: Option<String>,
    /// What the person said when they gave the mandate, verbatim.
    pub mandate_words: Option<String>,
    /// Why this payment needs the person: e.g. "above ¥500.00, the amount you pay without being asked".
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemView {
    pub title: String,
    pub quantity: u32,
    pub unit_price: Option<Shown>,
}

/// The person's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmAction {
    Approve,
    Decline,
}

impl Wallet {
    /// The confirmation behind a link token (any status, so the page can say "already
    /// approved" or "expired").
    pub async fn confirmation_view(&self, token: &str) -> Result<ConfirmationView> {
        let _ = token;
        Err(WalletError::not_found("confirmation", "…"))
    }

    /// Approve or decline with the user's PIN. Wrong PINs count towards the lockout.
    pub async fn decide_confirmation(
        &self,
        token: &str,
        pin: &str,
        action: ConfirmAction,
    ) -> Result<ConfirmationView> {
        let _ = (token, pin, action);
        Err(WalletError::not_found("confirmation", "…"))
    }
}
