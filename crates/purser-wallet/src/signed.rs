//! Signed agent requests: every agent-facing request carries an HTTP Message Signature
//! (RFC 9421, Web Bot Auth profile). The order of checks matters:
//!
//! 1. parse and apply the profile (`purser_core::httpsig`): fresh, covers what it must, the
//!    body matches its Content-Digest;
//! 2. find the key by its thumbprint (`unknown_key` if never registered);
//! 3. verify the signature (`signature_invalid`), then refuse a revoked agent
//!    (`agent_revoked`) or a key revoked or past its grace (`unknown_key`) — only the key's
//!    holder learns which;
//! 4. only then spend the nonce, in the database so it holds across every node
//!    (`nonce_reused`) — a forged request cannot burn a real agent's nonces;
//! 5. when acting for a user, the agent must be bound to them and not frozen.
//!
//! A refusal changes nothing except, in step 4, recording the nonce of a request that was
//! otherwise valid.

use purser_core::httpsig::{self, Ed25519PublicKey, Policy, RequestParts, SignedRequest};
use purser_core::Timestamp;
use purser_store::db::Stmt;
use purser_store::vals;

use crate::bindings::Binding;
use crate::error::{Found, Result, WalletError};
use crate::Wallet;

/// A nonce is remembered until its signature has expired, plus the clock skew allowed, plus
/// this margin: after that the signature itself is refused as expired.
const NONCE_MARGIN_MS: i64 = 60_000;

/// Spent nonces deleted per write, and writes per sweep: a sweep every 30 s clears up to
/// 500,000, more than 16,000 signed requests per second produce.
const SWEEP_BATCH: i64 = 5_000;
const SWEEP_BATCHES: usize = 100;

/// The agent behind a verified request.
#[derive(Clone, Debug)]
pub struct AgentCaller {
    pub agent_id: String,
    /// The thumbprint of the key that signed.
    pub kid: String,
    pub nonce: String,
    /// What the agent signed, kept as evidence: the RFC 9421 signature base and the
    /// signature over it (verifiable offline with the agent's public key).
    pub signed_base: String,
    pub signature: [u8; 64],
    /// The agent key (JWK) that verified the signature.
    pub jwk: serde_json::Value,
}

fn refused(code: &str, message: impl Into<String>) -> WalletError {
    WalletError::unauthorized(code, message)
}

impl Wallet {
    /// Step 1: read the signature and apply the profile. Synchronous, so the borrowed request
    /// view never crosses an await.
    pub fn parse_signed(
        &self,
        req: &RequestParts<'_>,
        body: Option<&[u8]>,
    ) -> Result<SignedRequest> {
        // Every refusal of a signature is a 401 naming the failed check, whatever was wrong.
        httpsig::parse_request(req, body, &Policy::purser(), self.now())
            .map_err(|e| WalletError::unauthorized(e.code(), e.to_string()))
    }

    /// Steps 2–5 for a parsed request: key, signature, nonce, agent status.
    pub async fn authenticate_signed(&self, signed: SignedRequest) -> Result<AgentCaller> {
        let now = self.now();
        let row = self
            .db
            .query_opt(
                "SELECT k.agent_id, k.jwk, k.status, k.not_after, a.status FROM agent_keys k JOIN agents a ON a.id = k.agent_id WHERE k.thumbprint = $1",
                vals![&signed.keyid],
            )
            .await?;
        let unknown = || {
            refused(
                "unknown_key",
                "no agent key has this keyid (or it was revoked or its grace period ended); keyid must be the JWK thumbprint (RFC 7638) of a registered agent key",
            )
        };
        let row = row.ok_or_else(unknown)?;
        let jwk: serde_json::Value = serde_json::from_str(&row.text(1)?)
            .map_err(|e| purser_store::StoreError::Corrupt(format!("stored agent key: {e}")))?;
        let key = Ed25519PublicKey::from_jwk(&jwk)
            .map_err(|e| purser_store::StoreError::Corrupt(format!("stored agent key: {e}")))?;
        // The signature first: only the key's holder learns anything about the key or agent.
        signed
            .verify(&key)
            .map_err(|e| refused(e.code(), e.to_string()))?;
        if row.text(4)? != "active" {
            return Err(refused(
                "agent_revoked",
                "this agent was revoked by its developer; it can no longer act for anyone",
            ));
        }
        let live = match row.text(2)?.as_str() {
            "active" => true,
            "retiring" => row.opt_int(3)?.is_some_and(|t| t > now.0),
            _ => false,
        };
        if !live {
            return Err(refused(
                "unknown_key",
                "this key was revoked or its grace period after a rotation ended; sign with the agent's current key",
            ));
        }
        let keep_until = signed
            .expires_at()
            .0
            .saturating_add(httpsig::CLOCK_SKEW_SECS * 1000 + NONCE_MARGIN_MS);
        if !self
            .db
            .spend_nonce(&signed.keyid, &signed.nonce, keep_until)
            .await?
        {
            return Err(refused(
                "nonce_reused",
                "this signature's nonce was already used; sign every request afresh with a new random nonce",
            ));
        }
        Ok(AgentCaller {
            agent_id: row.text(0)?,
            kid: signed.keyid,
            nonce: signed.nonce,
            signed_base: String::from_utf8_lossy(&signed.base).into_owned(),
            signature: signed.signature,
            jwk,
        })
    }

    /// The agent's active, unfrozen binding to `user_id`, or the refusal that names why not.
    pub async fn agent_for_user(&self, agent: &AgentCaller, user_id: &str) -> Result<Binding> {
        let not_bound = || {
            refused(
                "agent_not_bound",
                "this agent is not bound to that user; request a binding (POST /v1/agent/bindings) and wait for the user to approve it",
            )
        };
        if crate::ids::check_id("usr", user_id, "user_id").is_err() {
            return Err(not_bound());
        }
        // A store that could not answer is an error to retry, never "not bound".
        let b = self
            .open_binding(&agent.agent_id, user_id)
            .await
            .found()?
            .ok_or_else(not_bound)?;
        if b.status != "active" {
            return Err(refused(
                "agent_not_bound",
                "the user has not approved this agent's binding request yet",
            ));
        }
        if b.frozen {
            return Err(refused(
                "agent_frozen",
                "the user froze this agent; it may not act for them until they unfreeze it",
            ));
        }
        Ok(b)
    }

    /// Forget nonces whose signatures can no longer be presented, in bounded batches so the
    /// records writer is never held up by one large delete.
    pub async fn sweep_nonces(&self, now: Timestamp) -> Result<u64> {
        let mut total = 0;
        for _ in 0..SWEEP_BATCHES {
            let r = self
                .db
                .write(vec![Stmt::exec(
                    "DELETE FROM nonces WHERE (keyid, nonce) IN (SELECT keyid, nonce FROM nonces WHERE expires_at < $1 LIMIT $2)",
                    vals![now.0, SWEEP_BATCH],
                )])
                .await?;
            let n = r.first().map_or(0, |r| r.changed);
            total += n;
            if n < SWEEP_BATCH as u64 {
                break;
            }
        }
        Ok(total)
    }
}
