//! The web wallet's records: passkeys, browser sessions, and the WebAuthn ceremonies between
//! their start and finish. The WebAuthn cryptography itself (webauthn-rs) runs in the server;
//! this module keeps what it produces — a passkey is stored as the library's opaque JSON
//! (public key, counter, credential id) — and decides who is signed in.
//!
//! - **Sessions**: a random 256-bit id (`pws_…`) in a cookie; only its SHA-256 is stored, with
//!   an absolute expiry ([`SESSION_TTL_MS`]). Signing out revokes the row; an expired or revoked
//!   session is refused on the very next request.
//! - **Ceremonies**: each WebAuthn start stores the library's state (the challenge) under a
//!   random id's hash, with its purpose (`register`, `signin`, or `confirm:<cnf_id>:<action>`)
//!   and a short expiry; finishing consumes the row exactly once (a replayed finish finds
//!   nothing).
//! - **First sign-in**: the web wallet does not create people — the operator does
//!   (`purser user create`). A person proves who they are once with their one-time setup token
//!   (`pss_…`, which completes their setup) or an API token that holds the `tokens` scope
//!   (`pst_…`), and registers a passkey; after that, passkey or PIN.

use purser_store::db::{DbError, Expect, Stmt};
use purser_store::vals;

use crate::access::{Principal, Scope};
use crate::error::{Kind, Result, WalletError};
use crate::ids;
use crate::Wallet;

/// How long a browser session lasts, from sign-in (absolute, not sliding).
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// How long a WebAuthn ceremony may take between start and finish.
pub const CEREMONY_TTL_MS: i64 = 5 * 60 * 1000;
/// Most passkeys one person may register.
pub const MAX_PASSKEYS_PER_USER: i64 = 20;
/// Longest passkey name kept.
pub const MAX_PASSKEY_NAME: usize = 60;

/// What a browser session may do: everything a person does with their wallet and agents; not
/// developer routes, and not making API tokens.
pub const SESSION_SCOPES: [Scope; 7] = [
    Scope::WalletRead,
    Scope::WalletWrite,
    Scope::AgentsRead,
    Scope::AgentsWrite,
    Scope::MandatesRead,
    Scope::MandatesWrite,
    Scope::PaymentsRead,
];

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub user_id: String,
    pub user_name: String,
    pub expires_at: i64,
    /// `passkey`, `pin`, or `signup`.
    pub method: String,
}

impl WebSession {
    /// The principal the wallet's methods take, with [`SESSION_SCOPES`].
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id.clone(),
            token_id: "web-session".into(),
            scopes: SESSION_SCOPES.to_vec(),
            expires_at: purser_core::Timestamp(self.expires_at),
        }
    }
}

/// A stored passkey: the library's JSON and the row's id.
#[derive(Clone, Debug)]
pub struct StoredPasskey {
    pub id: String,
    pub credential_id: String,
    pub passkey_json: String,
    pub name: String,
}

/// A passkey as its owner sees it on the account page (never the key itself).
#[derive(Clone, Debug)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A live browser session, as its owner sees it (never the secret).
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// `passkey`, `pin`, or `signup`.
    pub method: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Who a first sign-in proved to be.
#[derive(Clone, Debug)]
pub struct Enrolment {
    pub user_id: String,
    pub user_name: String,
    /// The API token a setup token turned into (shown to the person once), if one did.
    pub api_token: Option<String>,
}

/// A ceremony taken back at its finish.
#[derive(Clone, Debug)]
pub struct Ceremony {
    pub user_id: Option<String>,
    pub purpose: String,
    pub state: String,
}

/// A confirmation waiting for this person, for the Home page.
#[derive(Clone, Debug)]
pub struct PendingConfirmation {
    pub confirmation_id: String,
    pub url_path: String,
    pub payment_id: String,
    pub amount: crate::funds::Shown,
    pub merchant_name: String,
    pub agent_name: String,
    pub expires_at_ms: i64,
}

fn session_refused() -> WalletError {
    WalletError::unauthorized(
        "session_invalid",
        "your sign-in has ended or is not valid; sign in again",
    )
}

fn ceremony_refused() -> WalletError {
    WalletError::invalid(
        "ceremony_invalid",
        "this passkey request is unknown, already used or older than 5 minutes; start again",
        "ceremony",
    )
}

impl Wallet {
    /// Prove who a person is for a first sign-in: a setup token (completing setup) or an API
    /// token holding the `tokens` scope. Nothing is changed for a refused token.
    pub async fn enrol_with_token(&self, token: &str) -> Result<Enrolment> {
        let token = token.trim();
        if token.starts_with("pss_") {
            let (user, created) = self.complete_setup(token, "web wallet sign-up").await?;
            return Ok(Enrolment {
                user_id: user.id,
                user_name: user.name,
                api_token: Some(created.token),
            });
        }
        let refused = || {
            WalletError::unauthorized(
                "token_invalid",
                "paste your one-time setup token (pss_…) or an API token that has the 'tokens' scope (pst_…); this one is unknown, expired or revoked",
            )
            .at("token")
        };
        if !token.starts_with("pst_") {
            return Err(refused());
        }
        // Only a refused token is "unknown, expired or revoked"; a store that could not
        // answer is an error to retry.
        let p = self.authenticate(token).await.map_err(|e| {
            if e.kind == Kind::Unavailable {
                e
            } else {
                refused()
            }
        })?;
        p.require(Scope::Tokens).map_err(|_| {
            WalletError::forbidden(
                "scope_missing",
                "this API token lacks the 'tokens' scope, so it cannot add a way to sign in; use the token you got at setup, or one made with --scope tokens",
            )
            .at("token")
        })?;
        let user = self.user(&p.user_id).await?;
        Ok(Enrolment {
            user_id: user.id,
            user_name: user.name,
            api_token: None,
        })
    }

    /// Who a token would enrol, without using it up (the start of a first sign-in).
    pub async fn peek_enrolment(&self, token: &str) -> Result<Enrolment> {
        let token = token.trim();
        if !token.starts_with("pss_") {
            return self.enrol_with_token(token).await;
        }
        let refused = || {
            WalletError::unauthorized(
                "setup_token_invalid",
                "this setup token is unknown, already used or expired; ask the operator for a new one (purser user create)",
            )
            .at("token")
        };
        if token.len() > 100 {
            return Err(refused());
        }
        let row = self
            .db
            .query_opt(
                "SELECT id, name FROM users WHERE setup_hash = $1 AND setup_expires_at > $2",
                vals![ids::secret_hash(token), self.now().0],
            )
            .await?
            .ok_or_else(refused)?;
        Ok(Enrolment {
            user_id: row.text(0)?,
            user_name: row.text(1)?,
            api_token: None,
        })
    }

    /// The user's name if they are an active user; "not found" otherwise (never which).
    pub async fn active_user_name(&self, user_id: &str) -> Result<String> {
        let not_found = || {
            WalletError::new(
                Kind::NotFound,
                "user_not_found",
                "there is no Purser user with that id; it looks like usr_ followed by 24 letters and digits",
            )
            .at("user_id")
        };
        if ids::check_id("usr", user_id, "user_id").is_err() {
            return Err(not_found());
        }
        let row = self
            .db
            .query_opt(
                "SELECT name, status FROM users WHERE id = $1",
                vals![user_id],
            )
            .await?
            .ok_or_else(not_found)?;
        if row.text(1)? != "active" {
            return Err(not_found());
        }
        Ok(row.text(0)?)
    }

    /// The user's passkeys.
    pub async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        self.db
            .query(
                "SELECT id, credential_id, passkey, name FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
                vals![user_id],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(StoredPasskey {
                    id: r.text(0)?,
                    credential_id: r.text(1)?,
                    passkey_json: r.text(2)?,
                    name: r.text(3)?,
                })
            })
            .collect()
    }

    /// Keep a newly registered passkey.
    pub async fn add_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        passkey_json: &str,
        name: &str,
    ) -> Result<StoredPasskey> {
        let count = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM passkeys WHERE user_id = $1",
                vals![user_id],
            )
            .await?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        if count >= MAX_PASSKEYS_PER_USER {
            return Err(WalletError::conflict(
                "too_many_passkeys",
                format!("you already have {MAX_PASSKEYS_PER_USER} passkeys, the most Purser keeps; remove one first"),
            ));
        }
        let mut name: String = name
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_PASSKEY_NAME)
            .collect();
        if name.is_empty() || ids::has_hidden_chars(&name, false) {
            name = "Passkey".into();
        }
        let id = ids::new_id("pky")?;
        let now = self.now().0;
        self.db
            .write(vec![Stmt::exec(
                "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT (credential_id) DO NOTHING",
                vals![&id, user_id, credential_id, passkey_json, &name, now],
            )
            .expect(Expect::One, "passkey new")])
            .await
            .map_err(|e| match e {
                DbError::Precondition(_) => WalletError::conflict(
                    "passkey_exists",
                    "this passkey is already registered with Purser",
                ),
                e => e.into(),
            })?;
        tracing::info!(user = %user_id, passkey = %id, "passkey registered");
        Ok(StoredPasskey {
            id,
            credential_id: credential_id.to_string(),
            passkey_json: passkey_json.to_string(),
            name,
        })
    }

    /// After a successful assertion: the passkey's updated JSON (its signature counter).
    pub async fn passkey_used(&self, passkey_id: &str, passkey_json: Option<&str>) -> Result<()> {
        let now = self.now().0;
        let stmt = match passkey_json {
            Some(j) => Stmt::exec(
                "UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE id = $1",
                vals![passkey_id, j, now],
            ),
            None => Stmt::exec(
                "UPDATE passkeys SET last_used_at = $2 WHERE id = $1",
                vals![passkey_id, now],
            ),
        };
        self.db.write(vec![stmt]).await?;
        Ok(())
    }

    /// Store a ceremony's state; returns the id the browser sends back at the finish.
    pub async fn start_ceremony(
        &self,
        user_id: Option<&str>,
        purpose: &str,
        state: &str,
    ) -> Result<String> {
        let id = ids::new_secret("pwc")?;
        let now = self.now().0;
        self.db
            .write(vec![
                // Forget ceremonies nobody finished.
                Stmt::exec(
                    "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
                    vals![now],
                ),
                Stmt::exec(
                    "INSERT INTO webauthn_ceremonies (id_hash, user_id, purpose, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
                    vals![
                        ids::secret_hash(&id),
                        user_id.map(str::to_string),
                        purpose,
                        state,
                        now.saturating_add(CEREMONY_TTL_MS)
                    ],
                ),
            ])
            .await?;
        Ok(id)
    }

    /// Take a ceremony back, once: a second finish with the same id finds nothing.
    pub async fn finish_ceremony(&self, id: &str) -> Result<Ceremony> {
        if !id.starts_with("pwc_") || id.len() > 100 {
            return Err(ceremony_refused());
        }
        let hash = ids::secret_hash(id);
        let now = self.now().0;
        let row = self
            .db
            .query_opt(
                "SELECT user_id, purpose, state, expires_at FROM webauthn_ceremonies WHERE id_hash = $1",
                vals![&hash],
            )
            .await?
            .ok_or_else(ceremony_refused)?;
        self.db
            .write(vec![Stmt::exec(
                "DELETE FROM webauthn_ceremonies WHERE id_hash = $1",
                vals![&hash],
            )
            .expect(Expect::One, "ceremony unused")])
            .await
            .map_err(|e| match e {
                DbError::Precondition(_) => ceremony_refused(),
                e => e.into(),
            })?;
        if row.int(3)? <= now {
            return Err(ceremony_refused());
        }
        Ok(Ceremony {
            user_id: row.opt_text(0)?,
            purpose: row.text(1)?,
            state: row.text(2)?,
        })
    }

    /// Start a browser session for `user_id`; returns the secret for the cookie.
    pub async fn create_session(&self, user_id: &str, method: &str) -> Result<String> {
        let secret = ids::new_secret("pws")?;
        let now = self.now().0;
        self.db
            .write(vec![
                Stmt::exec(
                    "DELETE FROM web_sessions WHERE expires_at <= $1",
                    vals![now],
                ),
                Stmt::exec(
                    "INSERT INTO web_sessions (id_hash, user_id, method, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, NULL)",
                    vals![
                        ids::secret_hash(&secret),
                        user_id,
                        method,
                        now,
                        now.saturating_add(SESSION_TTL_MS)
                    ],
                ),
            ])
            .await?;
        tracing::info!(user = %user_id, method, "web sign-in");
        Ok(secret)
    }

    /// Who holds this session cookie, if it is live.
    pub async fn session(&self, secret: &str) -> Result<WebSession> {
        if !secret.starts_with("pws_") || secret.len() > 100 {
            return Err(session_refused());
        }
        let row = self
            .db
            .query_opt(
                "SELECT s.user_id, u.name, s.expires_at, s.revoked_at, u.status, s.method FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
                vals![ids::secret_hash(secret)],
            )
            .await?
            .ok_or_else(session_refused)?;
        if row.int(2)? <= self.now().0 || row.opt_int(3)?.is_some() || row.text(4)? != "active" {
            return Err(session_refused());
        }
        Ok(WebSession {
            user_id: row.text(0)?,
            user_name: row.text(1)?,
            expires_at: row.int(2)?,
            method: row.text(5)?,
        })
    }

    /// Sign out: the session is refused from now on.
    pub async fn end_session(&self, secret: &str) -> Result<()> {
        if !secret.starts_with("pws_") || secret.len() > 100 {
            return Ok(());
        }
        self.db
            .write(vec![Stmt::exec(
                "UPDATE web_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
                vals![ids::secret_hash(secret), self.now().0],
            )])
            .await?;
        Ok(())
    }

    /// Drop a passkey whose sign-up did not complete (its token was used up meanwhile).
    pub async fn forget_passkey(&self, user_id: &str, passkey_id: &str) -> Result<()> {
        self.db
            .write(vec![Stmt::exec(
                "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
                vals![passkey_id, user_id],
            )])
            .await?;
        Ok(())
    }

    /// The caller's passkeys, oldest first.
    pub async fn passkey_list(&self, who: &Principal) -> Result<Vec<PasskeyInfo>> {
        who.require(Scope::WalletRead)?;
        self.db
            .query(
                "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
                vals![&who.user_id],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(PasskeyInfo {
                    id: r.text(0)?,
                    name: r.text(1)?,
                    created_at: r.int(2)?,
                    last_used_at: r.opt_int(3)?,
                })
            })
            .collect()
    }

    /// Remove one of the caller's passkeys: it signs in and approves nothing from now on. The
    /// last way into the web wallet is kept: the last passkey of a person without a PIN is
    /// refused (`last_sign_in_method`).
    pub async fn remove_passkey(&self, who: &Principal, passkey_id: &str) -> Result<()> {
        who.require(Scope::WalletWrite)?;
        let mine = self.passkey_list(who).await?;
        if !mine.iter().any(|p| p.id == passkey_id) {
            return Err(WalletError::not_found("passkey", passkey_id));
        }
        let last_passkey = mine.len() < 2;
        if last_passkey && !self.has_pin(&who.user_id).await? {
            return Err(WalletError::conflict(
                "last_sign_in_method",
                "this is your only passkey and you have no PIN: removing it would lock you out of the web wallet; set a PIN first (`purser pin set`) or add another passkey",
            ));
        }
        // One statement, so two removals at once cannot both pass the check above and take
        // the last way in between them.
        self.db
            .write(vec![Stmt::exec(
                "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 AND ((SELECT COUNT(*) FROM passkeys WHERE user_id = $2) > 1 OR EXISTS (SELECT 1 FROM pins WHERE user_id = $2))",
                vals![passkey_id, &who.user_id],
            )
            .expect(Expect::One, "passkey removed")])
            .await
            .map_err(|e| match e {
                DbError::Precondition(_) => WalletError::conflict(
                    "last_sign_in_method",
                    "this passkey is now your only way into the web wallet (another one was removed meanwhile); set a PIN first (`purser pin set`) or add another passkey",
                ),
                e => e.into(),
            })?;
        tracing::info!(user = %who.user_id, passkey = %passkey_id, "passkey removed");
        Ok(())
    }

    /// The caller's live browser sessions, newest first.
    pub async fn live_sessions(&self, who: &Principal) -> Result<Vec<SessionInfo>> {
        who.require(Scope::WalletRead)?;
        self.db
            .query(
                "SELECT method, created_at, expires_at FROM web_sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC",
                vals![&who.user_id, self.now().0],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(SessionInfo {
                    method: r.text(0)?,
                    created_at: r.int(1)?,
                    expires_at: r.int(2)?,
                })
            })
            .collect()
    }

    /// Sign out everywhere: every live session of the caller is refused from now on
    /// (including the one asking), and every device cookie of theirs is forgotten (each of
    /// their browsers is unknown for PIN locks until they sign in on it again). Returns how
    /// many sessions were ended.
    pub async fn end_all_sessions(&self, who: &Principal) -> Result<u64> {
        who.require(Scope::WalletWrite)?;
        let now = self.now().0;
        // In the same transaction, every browser is forgotten as this person's for PIN
        // locks (`pins.rs`): a lost or stolen browser becomes an unknown one, whose wrong
        // PINs count towards the lock of unknown browsers, not a lock of its own.
        let ended = self
            .db
            .write(vec![
                Stmt::exec(
                    "UPDATE web_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
                    vals![&who.user_id, now],
                ),
                Stmt::exec(
                    "DELETE FROM pin_devices WHERE user_id = $1",
                    vals![&who.user_id],
                ),
            ])
            .await?;
        tracing::info!(user = %who.user_id, "signed out everywhere; browsers forgotten for PIN entry");
        Ok(ended.first().map_or(0, |r| r.changed))
    }

    /// Sign in with a PIN from a browser without a device cookie: the same check (and the
    /// same lock of unknown browsers) as the confirmation page.
    pub async fn sign_in_with_pin(&self, user_id: &str, pin: &str) -> Result<String> {
        self.sign_in_with_pin_on(user_id, pin, None).await
    }

    /// Sign in with a PIN from a browser that sent `device` (its device cookie, if any): wrong
    /// PINs count towards that device's lock when it is this person's, else towards the lock
    /// of unknown browsers (`pins.rs`).
    pub async fn sign_in_with_pin_on(
        &self,
        user_id: &str,
        pin: &str,
        device: Option<&str>,
    ) -> Result<String> {
        self.active_user_name(user_id).await?;
        self.check_pin(user_id, pin, crate::pins::PinFrom::Browser(device))
            .await?;
        self.create_session(user_id, "pin").await
    }

    /// Confirmations waiting for this person's answer, soonest to expire first.
    pub async fn pending_confirmations(&self, who: &Principal) -> Result<Vec<PendingConfirmation>> {
        who.require(Scope::WalletRead)?;
        let now = self.now().0;
        let rows = self
            .db
            .query(
                "SELECT c.id, p.id, p.amount, p.currency, m.name, a.name, c.expires_at FROM confirmations c JOIN payments p ON p.id = c.payment_id JOIN agents a ON a.id = p.agent_id JOIN merchants m ON m.id = p.merchant_id WHERE c.user_id = $1 AND c.status = 'pending' AND c.expires_at > $2 ORDER BY c.expires_at, c.id LIMIT 50",
                vals![&who.user_id, now],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let cid = r.text(0)?;
            let c = crate::funds::currency(&r.text(3)?, "currency")?;
            let token =
                crate::payments::credential::confirm_token(self.credential_key.expose(), &cid);
            out.push(PendingConfirmation {
                confirmation_id: cid,
                url_path: format!("/confirm/{token}"),
                payment_id: r.text(1)?,
                amount: purser_core::money::Money::new(r.int(2)?, c).into(),
                merchant_name: r.text(4)?,
                agent_name: r.text(5)?,
                expires_at_ms: r.int(6)?,
            });
        }
        Ok(out)
    }

    /// The user a confirmation link asks, if the link is valid (for passkey approval).
    pub async fn confirmation_user(&self, token: &str) -> Result<(String, String)> {
        let view = self.confirmation_view(token).await?;
        let row = self
            .db
            .query_opt(
                "SELECT user_id FROM confirmations WHERE id = $1",
                vals![&view.confirmation_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("confirmation", &view.confirmation_id))?;
        Ok((view.confirmation_id, row.text(0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_cannot_make_tokens_or_act_as_a_developer() {
        let s = WebSession {
            user_id: "usr_x".into(),
            user_name: "X".into(),
            expires_at: 0,
            method: "pin".into(),
        };
        let p = s.principal();
        assert!(p.require(Scope::WalletRead).is_ok());
        assert!(p.require(Scope::Tokens).is_err());
        assert!(p.require(Scope::Developer).is_err());
    }
}
