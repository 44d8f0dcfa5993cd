//! Agents: registered by their developer with an Ed25519 public key (a JWK), optionally a Web
//! Bot Auth Signature Agent Card. Keys rotate with a grace period for the old key; a key or
//! the whole agent can be revoked.

use purser_core::httpsig::{Ed25519PublicKey, SignatureAgentCard};
use purser_core::Timestamp;
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::Serialize;
use serde_json::Value;

use crate::access::{Principal, Scope};
use crate::error::{Result, WalletError};
use crate::ids::{self, check_id};
use crate::Wallet;

/// How long an old key keeps working after a rotation when the developer does not say.
pub const DEFAULT_KEY_GRACE_HOURS: i64 = 24;

/// Longest grace: a week is enough to roll a fleet; longer leaves a replaced key alive.
pub const MAX_KEY_GRACE_HOURS: i64 = 7 * 24;

/// Most keys an agent may have at once (active and in grace).
pub const MAX_LIVE_KEYS: usize = 8;

/// Most agents one developer may register.
pub const MAX_AGENTS_PER_DEVELOPER: i64 = 1000;

#[derive(Clone, Debug, Serialize)]
pub struct AgentKey {
    /// The key's JWK thumbprint (RFC 7638): the `keyid` of its signatures.
    pub kid: String,
    pub jwk: Value,
    /// `active`, `retiring` (works until `not_after`) or `revoked`.
    pub status: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    /// Who runs the agent (a company or person), as the developer declared.
    pub operator: String,
    /// `active` or `revoked`.
    pub status: String,
    pub keys: Vec<AgentKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_agent_card: Option<Value>,
    pub created_at: String,
}

/// Public facts about an agent, as a user deciding on a binding sees them.
#[derive(Clone, Debug, Serialize)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub operator: String,
    pub status: String,
}

impl AgentSummary {
    /// The summary from the four columns of `r` from `first` on: the agent's id, name,
    /// operator and status, in that order.
    pub(crate) fn from_row(r: &Row, first: usize) -> Result<AgentSummary> {
        Ok(AgentSummary {
            id: r.text(first)?,
            name: r.text(first + 1)?,
            operator: r.text(first + 2)?,
            status: r.text(first + 3)?,
        })
    }
}

fn parse_key(jwk: &Value) -> Result<Ed25519PublicKey> {
    Ed25519PublicKey::from_jwk(jwk)
        .map_err(|e| WalletError::invalid(e.code(), e.to_string(), "public_key_jwk"))
}

/// The registering user must prove they hold the key's private half (see
/// `purser_core::httpsig::possession_statement`).
fn check_proof(key: &Ed25519PublicKey, user_id: &str, proof: Option<&str>) -> Result<()> {
    let Some(proof) = proof.filter(|p| !p.is_empty()) else {
        return Err(WalletError::invalid(
            "key_proof_missing",
            format!(
                "send key_proof: the agent key's Ed25519 signature (base64url) over \"{}\", which proves you hold the private key (the SDK's AgentKey::possession_proof and `purser agent register` make it)",
                purser_core::httpsig::possession_statement(user_id, &key.thumbprint())
            ),
            "key_proof",
        ));
    };
    if key.proves_possession(user_id, proof) {
        Ok(())
    } else {
        Err(WalletError::invalid(
            "key_proof_invalid",
            "key_proof is not this key's signature over the possession statement for your user id; sign it with the agent's private key",
            "key_proof",
        ))
    }
}

fn check_text(v: &str, param: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > 100 || crate::ids::has_hidden_chars(v, false) {
        return Err(WalletError::invalid(
            "name_invalid",
            format!("{param} must be 1 to 100 characters without control or invisible formatting characters"),
            param,
        ));
    }
    Ok(v.to_string())
}

fn key_from(r: &Row) -> Result<AgentKey> {
    Ok(AgentKey {
        kid: r.text(0)?,
        jwk: serde_json::from_str(&r.text(1)?).unwrap_or(Value::Null),
        status: r.text(2)?,
        created_at: Timestamp(r.int(3)?).to_rfc3339(),
        not_after: r.opt_int(4)?.map(|t| Timestamp(t).to_rfc3339()),
    })
}

impl Wallet {
    /// Register an agent the caller develops.
    pub async fn register_agent(
        &self,
        who: &Principal,
        name: &str,
        operator: &str,
        public_key_jwk: &Value,
        key_proof: Option<&str>,
        card: Option<&Value>,
    ) -> Result<Agent> {
        who.require(Scope::Developer)?;
        let name = check_text(name, "name")?;
        let operator = check_text(operator, "operator")?;
        let key = parse_key(public_key_jwk)?;
        check_proof(&key, &who.user_id, key_proof)?;
        let card_text = match card {
            None | Some(Value::Null) => None,
            Some(c) => {
                let url = c
                    .get("client_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let parsed = SignatureAgentCard::parse(url, c).map_err(|e| {
                    WalletError::invalid(
                        "signature_agent_card_invalid",
                        format!("the Signature Agent Card is not valid: {}", e.0),
                        "signature_agent_card",
                    )
                })?;
                if let purser_core::httpsig::CardKeys::Jwks(keys) = &parsed.keys {
                    if !keys.iter().any(|k| k.thumbprint() == key.thumbprint()) {
                        return Err(WalletError::invalid(
                            "signature_agent_card_invalid",
                            "the Signature Agent Card lists keys, but not public_key_jwk; publish the agent's key in its card",
                            "signature_agent_card",
                        ));
                    }
                }
                Some(c.to_string())
            }
        };
        let count = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM agents WHERE developer_id = $1",
                vals![&who.user_id],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        if count >= MAX_AGENTS_PER_DEVELOPER {
            return Err(WalletError::conflict(
                "too_many_agents",
                format!("you have registered {MAX_AGENTS_PER_DEVELOPER} agents, the most allowed"),
            ));
        }
        let now = self.now();
        let id = ids::new_id("agt")?;
        self.db
            .write(vec![
                Stmt::exec(
                    "INSERT INTO agents (id, developer_id, name, operator, status, card, created_at) VALUES ($1, $2, $3, $4, 'active', $5, $6)",
                    vals![&id, &who.user_id, &name, &operator, card_text, now.0],
                ),
                Stmt::exec(
                    "INSERT INTO agent_keys (thumbprint, agent_id, jwk, status, created_at) VALUES ($1, $2, $3, 'active', $4)",
                    vals![key.thumbprint(), &id, key.to_jwk().to_string(), now.0],
                ),
            ])
            .await
            .map_err(key_taken)?;
        self.agent(who, &id).await
    }

    /// One of the caller's agents.
    pub async fn agent(&self, who: &Principal, id: &str) -> Result<Agent> {
        who.require(Scope::Developer)?;
        check_id("agt", id, "id")?;
        let row = self
            .db
            .query_opt(
                "SELECT id, name, operator, status, card, created_at FROM agents WHERE id = $1 AND developer_id = $2",
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("agent", id))?;
        self.agent_from(&row).await
    }

    async fn agent_from(&self, row: &Row) -> Result<Agent> {
        let id = row.text(0)?;
        let keys = self
            .db
            .query(
                "SELECT thumbprint, jwk, status, created_at, not_after FROM agent_keys WHERE agent_id = $1 ORDER BY created_at, thumbprint",
                vals![&id],
            )
            .await?
            .iter()
            .map(key_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Agent {
            id,
            name: row.text(1)?,
            operator: row.text(2)?,
            status: row.text(3)?,
            keys,
            signature_agent_card: row.opt_text(4)?.and_then(|c| serde_json::from_str(&c).ok()),
            created_at: Timestamp(row.int(5)?).to_rfc3339(),
        })
    }

    pub async fn list_agents(&self, who: &Principal) -> Result<Vec<Agent>> {
        who.require(Scope::Developer)?;
        let rows = self
            .db
            .query(
                "SELECT id, name, operator, status, card, created_at FROM agents WHERE developer_id = $1 ORDER BY created_at, id LIMIT 1000",
                vals![&who.user_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.agent_from(r).await?);
        }
        Ok(out)
    }

    /// Add a new active key; every older key keeps working for at most `grace_hours` (never
    /// longer than it already had), then stops.
    pub async fn rotate_agent_key(
        &self,
        who: &Principal,
        id: &str,
        public_key_jwk: &Value,
        key_proof: Option<&str>,
        grace_hours: Option<i64>,
    ) -> Result<Agent> {
        let agent = self.agent(who, id).await?;
        if agent.status != "active" {
            return Err(WalletError::conflict(
                "agent_revoked",
                "this agent is revoked; register a new agent instead",
            ));
        }
        let grace = grace_hours.unwrap_or(DEFAULT_KEY_GRACE_HOURS);
        if !(0..=MAX_KEY_GRACE_HOURS).contains(&grace) {
            return Err(WalletError::invalid(
                "grace_hours_invalid",
                format!("grace_hours must be 0 to {MAX_KEY_GRACE_HOURS}"),
                "grace_hours",
            ));
        }
        let now = self.now();
        // Keys that can still sign: active ones and those still in their grace.
        let live = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM agent_keys WHERE agent_id = $1 AND (status = 'active' OR (status = 'retiring' AND not_after > $2))",
                vals![id, now.0],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        let live = usize::try_from(live).unwrap_or(usize::MAX);
        if live >= MAX_LIVE_KEYS {
            return Err(WalletError::conflict(
                "too_many_keys",
                format!("the agent has {MAX_LIVE_KEYS} live keys; revoke old ones first"),
            ));
        }
        let key = parse_key(public_key_jwk)?;
        check_proof(&key, &who.user_id, key_proof)?;
        let until = now.0.saturating_add(grace.saturating_mul(3_600_000));
        self.db
            .write(vec![
                // Every older key ends within the new grace at the latest: rotating away a
                // leaked key with no grace stops all keys before the new one.
                Stmt::exec(
                    "UPDATE agent_keys SET status = 'retiring', not_after = CASE WHEN not_after IS NULL OR not_after > $2 THEN $2 ELSE not_after END WHERE agent_id = $1 AND status IN ('active', 'retiring')",
                    vals![id, until],
                ),
                Stmt::exec(
                    "INSERT INTO agent_keys (thumbprint, agent_id, jwk, status, created_at) VALUES ($1, $2, $3, 'active', $4)",
                    vals![key.thumbprint(), id, key.to_jwk().to_string(), now.0],
                ),
            ])
            .await
            .map_err(key_taken)?;
        self.agent(who, id).await
    }

    /// Revoke one key at once (a leaked key), active or in grace.
    pub async fn revoke_agent_key(&self, who: &Principal, id: &str, kid: &str) -> Result<Agent> {
        self.agent(who, id).await?;
        let now = self.now();
        self.db
            .write(vec![Stmt::exec(
                "UPDATE agent_keys SET status = 'revoked', not_after = $3 WHERE agent_id = $1 AND thumbprint = $2 AND status <> 'revoked'",
                vals![id, kid, now.0],
            )
            .expect(Expect::One, "key")])
            .await
            .map_err(|e| match e {
                // No live key by that id; a store that could not answer stays an error to retry.
                DbError::Precondition(_) => WalletError::not_found("key", kid).at("kid"),
                e => e.into(),
            })?;
        self.agent(who, id).await
    }

    /// Revoke the agent for good: every key and every binding ends now.
    pub async fn revoke_agent(&self, who: &Principal, id: &str) -> Result<Agent> {
        self.agent(who, id).await?;
        let now = self.now();
        self.db
            .write(vec![
                Stmt::exec(
                    "UPDATE agents SET status = 'revoked' WHERE id = $1 AND developer_id = $2",
                    vals![id, &who.user_id],
                ),
                Stmt::exec(
                    "UPDATE agent_keys SET status = 'revoked', not_after = $2 WHERE agent_id = $1 AND status <> 'revoked'",
                    vals![id, now.0],
                ),
                Stmt::exec(
                    "UPDATE bindings SET status = 'revoked', decided_at = $2 WHERE agent_id = $1 AND status IN ('pending', 'active')",
                    vals![id, now.0],
                ),
                Stmt::exec(
                    "UPDATE mandates SET status = 'revoked', revoked_at = $2, revoked_reason = 'the agent was revoked by its developer', updated_at = $2 WHERE agent_id = $1 AND status IN ('draft', 'active')",
                    vals![id, now.0],
                ),
            ])
            .await?;
        let bindings = self
            .db
            .query("SELECT id FROM bindings WHERE agent_id = $1", vals![id])
            .await?;
        for b in &bindings {
            self.end_binding_payments(&b.text(0)?, "agent_revoked")
                .await?;
        }
        self.agent(who, id).await
    }

    /// Public facts about an agent (for the agent itself, and users deciding on it).
    pub async fn agent_summary(&self, id: &str) -> Result<AgentSummary> {
        let r = self
            .db
            .query_opt(
                "SELECT id, name, operator, status FROM agents WHERE id = $1",
                vals![id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("agent", id))?;
        AgentSummary::from_row(&r, 0)
    }
}

/// One agent key as anyone may see it: what a merchant needs to check the agent's request
/// signatures (RFC 9421 `keyid` = the key's JWK thumbprint), and whose agent it is.
#[derive(Clone, Debug, Serialize)]
pub struct PublicAgentKey {
    pub kid: String,
    pub jwk: Value,
    /// `active`; `retiring` (signs until `not_after`); `revoked` or `expired` (signs nothing).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// The agent the key belongs to; its `status` is `active` or `revoked`.
    pub agent: AgentSummary,
}

impl Wallet {
    /// The public key directory entry for `kid` (a JWK thumbprint): public, unauthenticated.
    /// A key past its grace period says `expired`; a key of a revoked agent is still shown, with
    /// the agent's status, so a verifier can say why it refuses.
    pub async fn public_agent_key(&self, kid: &str) -> Result<PublicAgentKey> {
        let well_formed = !kid.is_empty()
            && kid.len() <= purser_core::httpsig::MAX_KEYID_BYTES
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(WalletError::invalid(
                "kid_invalid",
                "a key id is the key's JWK thumbprint (RFC 7638): base64url characters only",
                "kid",
            ));
        }
        let r = self
            .db
            .query_opt(
                "SELECT k.thumbprint, k.jwk, k.status, k.not_after, a.id, a.name, a.operator, a.status FROM agent_keys k JOIN agents a ON a.id = k.agent_id WHERE k.thumbprint = $1",
                vals![kid],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("agent_key", kid))?;
        let not_after = r.opt_int(3)?;
        let mut status = r.text(2)?;
        if status == "retiring" && not_after.is_none_or(|t| t <= self.now().0) {
            status = "expired".into();
        }
        Ok(PublicAgentKey {
            kid: r.text(0)?,
            jwk: serde_json::from_str(&r.text(1)?).unwrap_or(Value::Null),
            status,
            not_after: not_after.map(|t| Timestamp(t).to_rfc3339()),
            agent: AgentSummary::from_row(&r, 4)?,
        })
    }
}

fn key_taken(e: purser_store::db::DbError) -> WalletError {
    match e {
        purser_store::db::DbError::Conflict(_) => WalletError::conflict(
            "key_already_registered",
            "this public key is already registered to an agent; every agent key must be its own",
        )
        .at("public_key_jwk"),
        e => e.into(),
    }
}
