//! Bindings: an agent may act for a user only once that user approved it. The agent asks
//! (a signed request naming the user); the user sees the request with the agent's name,
//! operator and stated purpose, and approves or declines. The user can freeze the agent (the
//! kill switch: refused from the very next request), unfreeze it, restrict it to one funding
//! source, or end the binding.

use purser_core::Timestamp;
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::access::{Principal, Scope};
use crate::agents::AgentSummary;
use crate::error::{Result, WalletError};
use crate::ids::{self, check_id};
use crate::signed::AgentCaller;
use crate::Wallet;

/// Longest purpose an agent may state in a binding request.
pub const MAX_PURPOSE_LEN: usize = 500;

/// Most binding requests one user may have waiting, so an agent cannot flood a user.
pub const MAX_PENDING_PER_USER: i64 = 50;

#[derive(Clone, Debug, Serialize)]
pub struct Binding {
    pub id: String,
    pub agent: AgentSummary,
    pub user_id: String,
    /// `pending`, `active`, `declined` or `revoked`.
    pub status: String,
    /// Frozen bindings refuse every request of the agent for this user.
    pub frozen: bool,
    /// When set, the only funding source the agent may use: a card (`crd_…`) or an
    /// agent-exclusive card (`ecd_…`). `null`: the wallet, within its mandates.
    pub funding_source: Option<String>,
    /// Why the agent asked, in its own words.
    pub purpose: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

const COLUMNS: &str = "b.id, b.agent_id, a.name, a.operator, a.status, b.user_id, b.status, b.frozen, b.funding_source, b.purpose, b.created_at, b.decided_at";

fn binding_from(r: &Row) -> Result<Binding> {
    Ok(Binding {
        id: r.text(0)?,
        agent: AgentSummary::from_row(r, 1)?,
        user_id: r.text(5)?,
        status: r.text(6)?,
        frozen: r.bool(7)?,
        funding_source: r.opt_text(8)?,
        purpose: r.text(9)?,
        created_at: Timestamp(r.int(10)?).to_rfc3339(),
        decided_at: r.opt_int(11)?.map(|t| Timestamp(t).to_rfc3339()),
    })
}

/// What a user may do to a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Decline,
    Freeze,
    Unfreeze,
    Revoke,
}

impl Wallet {
    /// The agent asks to act for `user_id`.
    pub async fn request_binding(
        &self,
        agent: &AgentCaller,
        user_id: &str,
        purpose: &str,
    ) -> Result<Binding> {
        self.active_user(user_id, "user_id").await?;
        let purpose = purpose.trim();
        if purpose.is_empty()
            || purpose.chars().count() > MAX_PURPOSE_LEN
            || crate::ids::has_hidden_chars(purpose, true)
        {
            return Err(WalletError::invalid(
                "purpose_invalid",
                format!(
                    "say in 1 to {MAX_PURPOSE_LEN} characters what the agent will do for the user"
                ),
                "purpose",
            ));
        }
        let pending = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM bindings WHERE user_id = $1 AND status = 'pending'",
                vals![user_id],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        if pending >= MAX_PENDING_PER_USER {
            return Err(WalletError::conflict(
                "too_many_pending_bindings",
                "this user has too many binding requests waiting; ask them to answer those first",
            ));
        }
        let id = ids::new_id("bnd")?;
        let now = self.now();
        let inserted = self
            .db
            .write(vec![Stmt::exec(
                "INSERT INTO bindings (id, agent_id, user_id, status, frozen, purpose, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $5)",
                vals![&id, &agent.agent_id, user_id, purpose, now.0],
            )])
            .await;
        match inserted {
            Ok(_) => self.binding_by_id(&id).await,
            Err(DbError::Conflict(_)) => {
                let existing = self.open_binding(&agent.agent_id, user_id).await?;
                Err(WalletError::conflict(
                    "binding_exists",
                    format!(
                        "this agent already has a {} binding with that user ({})",
                        existing.status, existing.id
                    ),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn binding_by_id(&self, id: &str) -> Result<Binding> {
        let r = self
            .db
            .query_opt(&select("WHERE b.id = $1"), vals![id])
            .await?
            .ok_or_else(|| WalletError::not_found("binding", id))?;
        binding_from(&r)
    }

    /// The pending or active binding between an agent and a user.
    pub(crate) async fn open_binding(&self, agent_id: &str, user_id: &str) -> Result<Binding> {
        let r = self
            .db
            .query_opt(
                &select("WHERE b.agent_id = $1 AND b.user_id = $2 AND b.status IN ('pending', 'active')"),
                vals![agent_id, user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("binding", agent_id))?;
        binding_from(&r)
    }

    /// The agent's bindings (for `whoami`).
    pub async fn agent_bindings(&self, agent: &AgentCaller) -> Result<Vec<Binding>> {
        self.db
            .query(
                &select("WHERE b.agent_id = $1 AND b.status IN ('pending', 'active') ORDER BY b.created_at LIMIT 1000"),
                vals![&agent.agent_id],
            )
            .await?
            .iter()
            .map(binding_from)
            .collect()
    }

    pub async fn list_bindings(
        &self,
        who: &Principal,
        status: Option<&str>,
    ) -> Result<Vec<Binding>> {
        who.require(Scope::AgentsRead)?;
        if let Some(s) = status {
            if !["pending", "active", "declined", "revoked"].contains(&s) {
                return Err(WalletError::invalid(
                    "status_invalid",
                    "status is one of pending, active, declined, revoked",
                    "status",
                ));
            }
        }
        self.db
            .query(
                &select("WHERE b.user_id = $1 AND ($2 = '' OR b.status = $2) ORDER BY b.created_at DESC, b.id LIMIT 500"),
                vals![&who.user_id, status.unwrap_or("")],
            )
            .await?
            .iter()
            .map(binding_from)
            .collect()
    }

    pub async fn binding(&self, who: &Principal, id: &str) -> Result<Binding> {
        who.require(Scope::AgentsRead)?;
        check_id("bnd", id, "id")?;
        let b = self.binding_by_id(id).await?;
        if b.user_id != who.user_id {
            return Err(WalletError::not_found("binding", id));
        }
        Ok(b)
    }

    /// Approve, decline, freeze, unfreeze or end a binding. Effective for the agent's very
    /// next request.
    pub async fn decide_binding(&self, who: &Principal, id: &str, d: Decision) -> Result<Binding> {
        who.require(Scope::AgentsWrite)?;
        let b = self.binding(who, id).await?;
        let now = self.now();
        let (sql, from): (&'static str, &str) = match d {
            Decision::Approve => (
                "UPDATE bindings SET status = 'active', decided_at = $3 WHERE id = $1 AND user_id = $2 AND status = 'pending'",
                "pending",
            ),
            Decision::Decline => (
                "UPDATE bindings SET status = 'declined', decided_at = $3 WHERE id = $1 AND user_id = $2 AND status = 'pending'",
                "pending",
            ),
            Decision::Freeze => (
                "UPDATE bindings SET frozen = 1 WHERE id = $1 AND user_id = $2 AND status = 'active'",
                "active",
            ),
            Decision::Unfreeze => (
                "UPDATE bindings SET frozen = 0 WHERE id = $1 AND user_id = $2 AND status = 'active'",
                "active",
            ),
            Decision::Revoke => (
                "UPDATE bindings SET status = 'revoked', decided_at = $3 WHERE id = $1 AND user_id = $2 AND status IN ('pending', 'active')",
                "pending or active",
            ),
        };
        if d == Decision::Approve && b.agent.status != "active" {
            return Err(WalletError::conflict(
                "agent_revoked",
                "the agent's developer revoked it; it can no longer be approved",
            ));
        }
        let mut stmts = vec![Stmt::exec(
            sql,
            if matches!(d, Decision::Freeze | Decision::Unfreeze) {
                vals![id, &who.user_id]
            } else {
                vals![id, &who.user_id, now.0]
            },
        )
        .expect(Expect::One, "binding state")];
        if d == Decision::Revoke {
            // A mandate is given to an agent the user trusts: it ends with the binding.
            stmts.push(Stmt::exec(
                "UPDATE mandates SET status = 'revoked', revoked_at = $3, revoked_reason = 'the binding of its agent was revoked', updated_at = $3 WHERE agent_id = $1 AND user_id = $2 AND status IN ('draft', 'active')",
                vals![&b.agent.id, &who.user_id, now.0],
            ));
        }
        self.db.write(stmts).await.map_err(|e| match e {
            DbError::Precondition(_) => WalletError::conflict(
                "binding_state",
                format!(
                    "this binding is {}; only a {from} binding can be changed that way",
                    b.status
                ),
            ),
            e => e.into(),
        })?;
        // Its open holds and unredeemed credentials end with it (the sweeper finishes this
        // if we crash here).
        let reason = match d {
            Decision::Freeze => Some("agent_frozen"),
            Decision::Revoke => Some("binding_revoked"),
            _ => None,
        };
        if let Some(reason) = reason {
            self.end_binding_payments(id, reason).await?;
        }
        self.binding_by_id(id).await
    }

    /// Restrict the agent to one funding source (a card `crd_…` or an exclusive card
    /// `ecd_…` of this binding), or lift the restriction with `None`.
    pub async fn set_funding_source(
        &self,
        who: &Principal,
        id: &str,
        source: Option<&str>,
    ) -> Result<Binding> {
        who.require(Scope::AgentsWrite)?;
        let b = self.binding(who, id).await?;
        if b.status != "active" {
            return Err(WalletError::conflict(
                "binding_state",
                format!("this binding is {}; approve it first", b.status),
            ));
        }
        let mut guard = None;
        if let Some(s) = source {
            if s.starts_with("crd_") {
                check_id("crd", s, "funding_source")?;
                guard = Some(
                    Stmt::query(
                        "SELECT 1 FROM cards WHERE id = $1 AND user_id = $2 AND status = 'active'",
                        vals![s, &who.user_id],
                    )
                    .expect(Expect::One, "card"),
                );
            } else if s.starts_with("ecd_") {
                check_id("ecd", s, "funding_source")?;
                guard = Some(Stmt::query(
                    "SELECT 1 FROM exclusive_cards WHERE id = $1 AND user_id = $2 AND binding_id = $3 AND status = 'active'",
                    vals![s, &who.user_id, id],
                )
                .expect(Expect::One, "exclusive card"));
            } else {
                return Err(WalletError::invalid(
                    "funding_source_invalid",
                    "funding_source is a card id (crd_…), an exclusive card id of this binding (ecd_…), or null",
                    "funding_source",
                ));
            }
        }
        let mut stmts: Vec<Stmt> = guard.into_iter().collect();
        stmts.push(
            Stmt::exec(
                "UPDATE bindings SET funding_source = $3 WHERE id = $1 AND user_id = $2 AND status = 'active'",
                vals![id, &who.user_id, source],
            )
            .expect(Expect::One, "binding"),
        );
        self.db.write(stmts).await.map_err(|e| match e {
            DbError::Precondition("card") | DbError::Precondition("exclusive card") => {
                WalletError::invalid(
                    "funding_source_invalid",
                    "that funding source is not one of your active cards, or not an exclusive card of this binding",
                    "funding_source",
                )
            }
            e => e.into(),
        })?;
        self.binding_by_id(id).await
    }
}

/// `SELECT <columns> FROM bindings b JOIN agents a … <tail>`.
fn select(tail: &str) -> String {
    format!("SELECT {COLUMNS} FROM bindings b JOIN agents a ON a.id = b.agent_id {tail}")
}
