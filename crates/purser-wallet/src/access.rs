//! Users and their API tokens: who is calling, and what they may do.
//!
//! The operator creates a user, which yields a one-time setup token (24 h). The user exchanges
//! it for their first API token; later tokens are made with a token holding the `tokens`
//! scope. Tokens are `pst_<id>_<secret>`: the server keeps only a SHA-256 of the whole token,
//! and every token has scopes and an expiry, and can be revoked.

use purser_core::Timestamp;
use purser_store::db::{Expect, Row, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::error::{Kind, Result, WalletError};
use crate::ids::{self, check_id};
use crate::Wallet;

/// How long a setup token works: long enough to pass it on, short enough to be useless if it
/// leaks later.
pub const SETUP_TOKEN_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Token lifetime when the caller does not choose one.
pub const DEFAULT_TOKEN_TTL_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Longest token lifetime: a year; long-lived credentials should be rotated.
pub const MAX_TOKEN_TTL_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// Most live tokens per user, so a leaked `tokens` scope cannot mint without bound.
pub const MAX_TOKENS_PER_USER: i64 = 100;

/// Longest user or token name.
pub const MAX_NAME_LEN: usize = 100;

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// See balances, cards, top-ups, exclusive cards.
    WalletRead,
    /// Add and remove cards, top up, refund, fund and withdraw exclusive cards.
    WalletWrite,
    /// See agents bound to you and binding requests.
    AgentsRead,
    /// Approve, decline, freeze, unfreeze and restrict agents acting for you.
    AgentsWrite,
    /// Register agents you develop, rotate their keys, revoke them.
    Developer,
    /// Create, list and revoke API tokens.
    Tokens,
    /// See mandates, their spending and credentials; simulate payments against them.
    MandatesRead,
    /// Draft, change, consent to and revoke mandates.
    MandatesWrite,
    /// See payments, task timelines, bills and evidence.
    PaymentsRead,
}

pub const ALL_SCOPES: [Scope; 9] = [
    Scope::WalletRead,
    Scope::WalletWrite,
    Scope::AgentsRead,
    Scope::AgentsWrite,
    Scope::Developer,
    Scope::Tokens,
    Scope::MandatesRead,
    Scope::MandatesWrite,
    Scope::PaymentsRead,
];

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WalletRead => "wallet:read",
            Scope::WalletWrite => "wallet:write",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::Developer => "developer",
            Scope::Tokens => "tokens",
            Scope::MandatesRead => "mandates:read",
            Scope::MandatesWrite => "mandates:write",
            Scope::PaymentsRead => "payments:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        ALL_SCOPES.into_iter().find(|x| x.as_str() == s)
    }
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

/// An authenticated user, as one token presents them.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    pub token_id: String,
    pub scopes: Vec<Scope>,
    /// When the presenting token expires: tokens it creates never outlive it.
    pub expires_at: Timestamp,
}

impl Principal {
    /// Refuse unless the token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(WalletError::forbidden(
                "scope_missing",
                format!(
                    "this token lacks the '{}' scope; create a token that has it (purser token create --scope {})",
                    scope.as_str(),
                    scope.as_str()
                ),
            ))
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `pending_setup` until the setup token is used, then `active`.
    pub status: String,
    pub created_at: String,
}

/// A new user and the one-time setup token to hand them (shown once, never stored).
#[derive(Clone, Debug, Serialize)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: User,
    pub setup_token: String,
    pub setup_expires_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<&'static str>,
    pub created_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// A new token: the secret is in `token`, shown this once.
#[derive(Clone, Debug, Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

fn check_name(name: &str, param: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || ids::has_hidden_chars(name, false)
    {
        return Err(WalletError::invalid(
            "name_invalid",
            format!("{param} must be 1 to {MAX_NAME_LEN} characters without control or invisible formatting characters"),
            param,
        ));
    }
    Ok(name.to_string())
}

fn check_email(email: Option<&str>) -> Result<Option<String>> {
    let Some(e) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(WalletError::invalid(
            "email_invalid",
            "email must look like name@example.com",
            "email",
        ));
    }
    Ok(Some(e.to_string()))
}

fn user_from(r: &Row) -> Result<User> {
    Ok(User {
        id: r.text(0)?,
        name: r.text(1)?,
        email: r.opt_text(2)?,
        status: r.text(3)?,
        created_at: Timestamp(r.int(4)?).to_rfc3339(),
    })
}

fn token_from(r: &Row) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.text(0)?,
        name: r.text(1)?,
        scopes: parse_scopes(&r.text(2)?)
            .into_iter()
            .map(Scope::as_str)
            .collect(),
        created_at: Timestamp(r.int(3)?).to_rfc3339(),
        expires_at: Timestamp(r.int(4)?).to_rfc3339(),
        revoked_at: r.opt_int(5)?.map(|t| Timestamp(t).to_rfc3339()),
    })
}

/// `pst_<24 id chars>_<secret>` → the token id `tok_<24 id chars>`.
fn token_id_of(token: &str) -> Option<String> {
    let rest = token.strip_prefix("pst_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 24 && !secret.is_empty()).then(|| format!("tok_{id}"))
}

impl Wallet {
    /// Operator: create a user in `pending_setup`, with a one-time setup token.
    pub async fn create_user(&self, name: &str, email: Option<&str>) -> Result<CreatedUser> {
        let name = check_name(name, "name")?;
        let email = check_email(email)?;
        let now = self.now();
        let id = ids::new_id("usr")?;
        let setup = ids::new_secret("pss")?;
        let expires = Timestamp(now.0.saturating_add(SETUP_TOKEN_TTL_MS));
        self.db
            .write(vec![Stmt::exec(
                "INSERT INTO users (id, name, email, status, setup_hash, setup_expires_at, created_at) VALUES ($1, $2, $3, 'pending_setup', $4, $5, $6)",
                vals![&id, &name, email.clone(), ids::secret_hash(&setup), expires.0, now.0],
            )])
            .await?;
        Ok(CreatedUser {
            user: User {
                id,
                name,
                email,
                status: "pending_setup".into(),
                created_at: now.to_rfc3339(),
            },
            setup_token: setup,
            setup_expires_at: expires.to_rfc3339(),
        })
    }

    pub async fn user(&self, id: &str) -> Result<User> {
        check_id("usr", id, "id")?;
        let row = self
            .db
            .query_opt(
                "SELECT id, name, email, status, created_at FROM users WHERE id = $1",
                vals![id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("user", id))?;
        user_from(&row)
    }

    /// Exchange a setup token (once) for the user's first API token, with every scope.
    pub async fn complete_setup(
        &self,
        setup_token: &str,
        token_name: &str,
    ) -> Result<(User, CreatedToken)> {
        let refused = || {
            WalletError::unauthorized(
                "setup_token_invalid",
                "this setup token is unknown, already used or expired; ask the operator for a new one (purser user create)",
            )
            .at("setup_token")
        };
        if !setup_token.starts_with("pss_") || setup_token.len() > 100 {
            return Err(refused());
        }
        let now = self.now();
        let hash = ids::secret_hash(setup_token);
        let row = self
            .db
            .query_opt(
                "SELECT id, setup_expires_at FROM users WHERE setup_hash = $1",
                vals![&hash],
            )
            .await?
            .ok_or_else(refused)?;
        let user_id = row.text(0)?;
        if row.opt_int(1)?.is_none_or(|e| e <= now.0) {
            return Err(refused());
        }
        let (token, insert) = self.token_insert(&user_id, token_name, &ALL_SCOPES, None, now)?;
        self.db
            .write(vec![
                Stmt::exec(
                    "UPDATE users SET status = 'active', setup_hash = NULL, setup_expires_at = NULL WHERE id = $1 AND setup_hash = $2 AND setup_expires_at > $3",
                    vals![&user_id, &hash, now.0],
                )
                .expect(Expect::One, "setup token already used"),
                insert,
            ])
            .await
            .map_err(|e| match e {
                purser_store::db::DbError::Precondition(_) => refused(),
                e => e.into(),
            })?;
        Ok((self.user(&user_id).await?, token))
    }

    fn token_insert(
        &self,
        user_id: &str,
        name: &str,
        scopes: &[Scope],
        ttl_ms: Option<i64>,
        now: Timestamp,
    ) -> Result<(CreatedToken, Stmt)> {
        let name = check_name(name, "name")?;
        if scopes.is_empty() {
            return Err(WalletError::invalid(
                "scopes_invalid",
                "give a token at least one scope",
                "scopes",
            ));
        }
        let ttl = ttl_ms.unwrap_or(DEFAULT_TOKEN_TTL_MS);
        if !(60_000..=MAX_TOKEN_TTL_MS).contains(&ttl) {
            return Err(WalletError::invalid(
                "expires_in_invalid",
                "a token lives from one minute to 366 days",
                "expires_in_days",
            ));
        }
        let id = ids::new_id("tok")?;
        let secret = ids::new_secret("x")?;
        let token = format!("pst_{}_{}", &id[4..], &secret[2..]);
        let expires = Timestamp(now.0.saturating_add(ttl));
        let mut scopes = scopes.to_vec();
        scopes.dedup();
        let stmt = Stmt::exec(
            "INSERT INTO api_tokens (id, user_id, name, scopes, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vals![&id, user_id, &name, scopes_text(&scopes), ids::secret_hash(&token), now.0, expires.0],
        );
        Ok((
            CreatedToken {
                info: TokenInfo {
                    id,
                    name,
                    scopes: scopes.iter().map(|s| s.as_str()).collect(),
                    created_at: now.to_rfc3339(),
                    expires_at: expires.to_rfc3339(),
                    revoked_at: None,
                },
                token,
            },
            stmt,
        ))
    }

    /// A new token for the caller. It can carry only scopes the caller's token has.
    pub async fn create_token(
        &self,
        who: &Principal,
        name: &str,
        scopes: &[String],
        expires_in_days: Option<i64>,
    ) -> Result<CreatedToken> {
        who.require(Scope::Tokens)?;
        let mut wanted = Vec::new();
        for s in scopes {
            let scope = Scope::parse(s).ok_or_else(|| {
                WalletError::invalid(
                    "scope_unknown",
                    format!(
                        "unknown scope {s:.40}; scopes are {}",
                        ALL_SCOPES.map(Scope::as_str).join(", ")
                    ),
                    "scopes",
                )
            })?;
            if !who.scopes.contains(&scope) {
                return Err(WalletError::forbidden(
                    "scope_not_held",
                    format!("a token cannot grant '{s}', which it does not hold itself"),
                )
                .at("scopes"));
            }
            wanted.push(scope);
        }
        if wanted.is_empty() {
            wanted = who.scopes.clone();
        }
        let ttl = expires_in_days.map(|d| d.saturating_mul(24 * 60 * 60 * 1000));
        let now = self.now();
        let live = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
                vals![&who.user_id, now.0],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        if live >= MAX_TOKENS_PER_USER {
            return Err(WalletError::conflict(
                "too_many_tokens",
                format!("you already have {MAX_TOKENS_PER_USER} live tokens; revoke some first"),
            ));
        }
        // A token can neither grant more than it holds nor outlive itself.
        let ttl = ttl
            .unwrap_or(DEFAULT_TOKEN_TTL_MS)
            .min(who.expires_at.0.saturating_sub(now.0));
        let (token, insert) =
            self.token_insert(&who.user_id, name, &wanted, Some(ttl.max(60_000)), now)?;
        // Remember who made it: revoking a token revokes every token it made.
        let link = Stmt::exec(
            "UPDATE api_tokens SET parent_id = $2 WHERE id = $1",
            vals![&token.info.id, &who.token_id],
        );
        self.db.write(vec![insert, link]).await?;
        Ok(token)
    }

    pub async fn list_tokens(&self, who: &Principal) -> Result<Vec<TokenInfo>> {
        who.require(Scope::Tokens)?;
        self.db
            .query(
                "SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT 200",
                vals![&who.user_id],
            )
            .await?
            .iter()
            .map(token_from)
            .collect()
    }

    /// Revoke one of the caller's tokens, and every token made with it (and theirs).
    /// Effective on the very next request.
    pub async fn revoke_token(&self, who: &Principal, id: &str) -> Result<TokenInfo> {
        who.require(Scope::Tokens)?;
        check_id("tok", id, "id")?;
        let now = self.now();
        self.db
            .write(vec![Stmt::exec(
                "UPDATE api_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND user_id = $2 AND id IN (WITH RECURSIVE made(id) AS (SELECT id FROM api_tokens WHERE id = $1 AND user_id = $2 UNION SELECT t.id FROM api_tokens t JOIN made m ON t.parent_id = m.id) SELECT id FROM made)",
                vals![id, &who.user_id, now.0],
            )])
            .await?;
        let row = self
            .db
            .query_opt(
                "SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_tokens WHERE id = $1 AND user_id = $2",
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("token", id))?;
        token_from(&row)
    }

    /// Who holds this bearer token, if it is live.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let refused = || {
            WalletError::unauthorized(
                "token_invalid",
                "this API token is unknown, revoked or expired; send a live token as 'Authorization: Bearer pst_…'",
            )
        };
        let id = token_id_of(token).ok_or_else(refused)?;
        let row = self
            .db
            .query_opt(
                "SELECT t.user_id, t.scopes, t.secret_hash, t.expires_at, t.revoked_at, u.status FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
                vals![&id],
            )
            .await?
            .ok_or_else(refused)?;
        let hash = ids::secret_hash(token);
        if !ids::constant_time_eq(row.text(2)?.as_bytes(), hash.as_bytes())
            || row.int(3)? <= self.now().0
            || row.opt_int(4)?.is_some()
            || row.text(5)? != "active"
        {
            return Err(refused());
        }
        Ok(Principal {
            user_id: row.text(0)?,
            token_id: id,
            scopes: parse_scopes(&row.text(1)?),
            expires_at: Timestamp(row.int(3)?),
        })
    }

    /// Does `user_id` exist (and is set up)? For binding requests naming a user.
    pub(crate) async fn active_user(&self, user_id: &str, param: &str) -> Result<()> {
        check_id("usr", user_id, param)?;
        let row = self
            .db
            .query_opt("SELECT status FROM users WHERE id = $1", vals![user_id])
            .await?;
        match row {
            Some(r) if r.text(0)? == "active" => Ok(()),
            _ => Err(WalletError::new(
                Kind::NotFound,
                "user_not_found",
                format!("there is no active user {user_id}"),
            )
            .at(param)),
        }
    }
}
