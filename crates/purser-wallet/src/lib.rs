//! Purser's wallet and identity services, between the HTTP edge and storage: users and API
//! tokens, the card vault and top-ups through a card rail, agents and their keys, bindings
//! (which agent may act for which user), agent-exclusive cards, and the authentication of
//! signed agent requests.
//!
//! Rules about money stay in `purser_core::ledger` (which this crate drives through
//! `purser_store::Ledger`); rules about signatures, cards and encryption stay in
//! `purser_core::{httpsig, card, vault}`. This crate decides who may do what, and keeps the
//! records. Every method that acts for a user takes the [`Principal`] and checks ownership in
//! the query itself: another user's things are "not found".

pub mod access;
pub mod acp;
pub mod agents;
pub mod bindings;
pub mod cards;
pub mod error;
pub mod evidence;
pub mod exclusive;
pub mod funds;
pub mod idempotency;
pub mod ids;
pub mod mandates;
pub mod merchants;
pub mod outbox;
pub mod payments;
pub mod pins;
pub mod schedules;
pub mod signed;
pub mod signing_keys;
pub mod topups;
pub mod vault_keys;
pub mod web;
pub mod webhooks;
pub mod x402;

use std::path::Path;
use std::sync::Arc;

use purser_core::rail::CardRail;
use purser_core::secret::SecretBytes;
use purser_core::{Clock, Timestamp};
use purser_store::db::Db;
use purser_store::{Ledger, StoreConfig};

pub use access::{Principal, Scope};
pub use error::{Kind, WalletError};
pub use signed::AgentCaller;
pub use vault_keys::KeySource;

/// How often the background sweeper forgets spent nonces and old idempotent answers, and
/// drives interrupted top-ups and refunds to their end.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The wallet services. One per process, shared behind an `Arc`.
pub struct Wallet {
    db: Db,
    ledger: Arc<Ledger>,
    clock: Arc<dyn Clock>,
    vault: vault_keys::VaultKeys,
    rail: Arc<dyn CardRail>,
    fingerprint_key: SecretBytes,
    /// Keys the MACs of payment credentials and confirmation links (never stored in a row).
    credential_key: SecretBytes,
    /// The anomaly limits payment decisions apply.
    rules: payments::PaymentRules,
    /// The public origin links are built on (`http://127.0.0.1:8420`).
    public_base: std::sync::Mutex<String>,
    /// Purser's active ES256 signer, briefly cached (see `es256_signer`).
    #[allow(clippy::type_complexity)]
    es256_cache:
        std::sync::Mutex<Option<(std::time::Instant, String, Arc<purser_ap2::Es256Signer>)>>,
    /// Ledger accounts known to exist (they are never deleted), so hot paths skip re-creating them.
    known_accounts: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The signed key directory headers: (authority, signed at, Signature-Input, Signature).
    directory_cache: std::sync::Mutex<Option<(String, i64, String, String)>>,
    /// Wakes the webhook outbox worker when an event is written (`outbox_wake`).
    outbox: tokio::sync::Notify,
    /// Where the sweeper's look for orphaned held charges goes on from: the last charge it
    /// read, as (`updated_at`, payment id).
    orphan_cursor: std::sync::Mutex<(i64, String)>,
    /// Token Pay: how late an occurrence may still be charged (`crate::schedules`, catch-up).
    catch_up_window: std::time::Duration,
}

impl Wallet {
    /// Open the records beside `ledger`, load the vault keys (creating them on first start)
    /// and finish any top-up or refund a crash interrupted.
    pub async fn open(
        store: &StoreConfig,
        data_dir: &Path,
        ledger: Arc<Ledger>,
        clock: Arc<dyn Clock>,
        rail: Arc<dyn CardRail>,
    ) -> Result<Wallet, String> {
        let vault = vault_keys::VaultKeys::load(data_dir, clock.now())?;
        let db = Db::open(store)
            .await
            .map_err(|e| format!("cannot open the wallet records ({}): {e}", store.describe()))?;
        let mut wallet = Wallet {
            db,
            ledger,
            clock,
            vault,
            rail,
            fingerprint_key: SecretBytes::new(Vec::new()),
            credential_key: SecretBytes::new(Vec::new()),
            rules: payments::PaymentRules::default(),
            public_base: std::sync::Mutex::new(String::new()),
            directory_cache: std::sync::Mutex::new(None),
            es256_cache: std::sync::Mutex::new(None),
            known_accounts: std::sync::Mutex::new(std::collections::HashSet::new()),
            outbox: tokio::sync::Notify::new(),
            orphan_cursor: std::sync::Mutex::new((i64::MIN, String::new())),
            catch_up_window: schedules::DEFAULT_CATCH_UP_WINDOW,
        };
        wallet.fingerprint_key = wallet
            .ensure_record("vlt_fingerprint_key", || {
                Ok(ids::random_bytes::<32>()?.to_vec())
            })
            .await
            .map_err(|e| {
                if e.message.contains("vault_kek_unknown") {
                    format!(
                        "the secrets in this database are sealed with a vault key this node does not have; every node on one database needs the same vault key: copy {} from the node that created the database (or set {} on every node)",
                        vault_keys::KEY_FILE,
                        vault_keys::KEY_ENV
                    )
                } else {
                    format!("cannot open the vault: {e}")
                }
            })?;
        wallet.credential_key = wallet
            .ensure_record("vlt_credential_key", || {
                Ok(ids::random_bytes::<32>()?.to_vec())
            })
            .await
            .map_err(|e| format!("cannot open the vault: {e}"))?;
        wallet
            .ensure_signing_keys()
            .await
            .map_err(|e| format!("cannot load Purser's signing keys: {e}"))?;
        if let Err(e) = wallet.recover().await {
            tracing::warn!(error = %e, "could not finish interrupted top-ups yet; will retry");
        }
        Ok(wallet)
    }

    /// Replace the anomaly limits (operators tune them; the bench raises them).
    pub fn set_payment_rules(&mut self, rules: payments::PaymentRules) {
        self.rules = rules;
    }

    pub fn payment_rules(&self) -> &payments::PaymentRules {
        &self.rules
    }

    /// Token Pay: charge an occurrence at most this late (`purser serve --catch-up-window`);
    /// one found later is recorded `missed` ([`schedules::DEFAULT_CATCH_UP_WINDOW`]).
    /// Token Pay's catch-up window; never below [`schedules::MIN_CATCH_UP_WINDOW`], so a
    /// backlog of schedules due at one instant is charged, not recorded missed.
    pub fn set_catch_up_window(&mut self, window: std::time::Duration) {
        self.catch_up_window = window.max(schedules::MIN_CATCH_UP_WINDOW);
    }

    pub fn catch_up_window(&self) -> std::time::Duration {
        self.catch_up_window
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn rail_name(&self) -> &'static str {
        self.rail.name()
    }

    /// Housekeeping: spent nonces, old idempotent answers, interrupted top-ups and refunds.
    pub async fn sweep(&self) {
        self.reload_vault_keys();
        let now = self.now();
        if let Err(e) = self.sweep_nonces(now).await {
            tracing::warn!(error = %e, "nonce sweep failed");
        }
        if let Err(e) = idempotency::sweep(&self.db, now).await {
            tracing::warn!(error = %e, "idempotency sweep failed");
        }
        if let Err(e) = self.recover().await {
            tracing::warn!(error = %e, "top-up recovery failed");
        }
        match self.sweep_stale_charges().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                released = n,
                "released mandate charges of interrupted payments"
            ),
            Err(e) => tracing::warn!(error = %e, "mandate charge sweep failed"),
        }
        match self.sweep_payments().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(settled = n, "expired or finished interrupted payments"),
            Err(e) => tracing::warn!(error = %e, "payment sweep failed"),
        }
    }

    /// Stop the records writer after what is queued.
    pub async fn shutdown(&self) {
        self.db.shutdown().await;
    }
}

impl Wallet {
    /// Where the vault's key-encryption keys come from, for the startup message.
    pub fn vault_key_source(&self) -> &KeySource {
        self.vault.source()
    }
}

impl Wallet {
    /// A keyed hash of a request body, for Idempotency-Key matching. Keyed because a body can
    /// hold a card number: a plain hash of it could be brute-forced from the BIN and last four.
    pub fn request_hash(&self, body: &[u8]) -> String {
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.fingerprint_key.expose());
        hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
    }
}
