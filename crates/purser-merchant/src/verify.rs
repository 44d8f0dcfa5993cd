//! What the shop checks before it takes money: the agent's request signature (RFC 9421, Web
//! Bot Auth — purser-core's verifier, the agent's key from Purser's public key directory) and,
//! when presented, the AP2 checkout mandate (purser-ap2's `verify_checkout`, rooted in Purser's
//! published keys, carrying exactly the checkout JWT this shop signed for the session).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use purser_ap2::{CheckoutAuthenticity, PublicJwk, VerifyOptions};
use purser_core::httpsig::{self, Ed25519PublicKey, Policy, RequestParts};
use purser_core::Timestamp;
use serde_json::Value;

use crate::error::AcpError;
use crate::purser_api::{PurserApi, PurserError};
use crate::store::Store;

/// A nonce is kept until its signature expired, plus the skew allowed, plus this margin.
const NONCE_MARGIN_MS: i64 = 60_000;

/// The agent behind a verified request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAgent {
    pub agent_id: String,
    pub name: String,
    /// The key's thumbprint (the signature's `keyid`).
    pub kid: String,
}

fn refused(code: &str, message: impl Into<String>) -> AcpError {
    AcpError::new(401, code, message)
}

fn unreachable(e: &PurserError) -> AcpError {
    tracing::warn!(error = %e, "Purser unreachable");
    AcpError::new(
        503,
        "purser_unavailable",
        "the shop cannot reach Purser to check this request; try again shortly",
    )
    .retry_after(2)
}

/// Checks the signature on a request addressed to one of `authorities` (this shop's own
/// host:port): fresh, covering what the profile requires and the body's Content-Digest, signed
/// by a live key of an active agent, and never seen before (its nonce is spent here).
pub fn verify_agent(
    api: &PurserApi,
    store: &Store,
    req: &RequestParts,
    body: &[u8],
    authorities: &[String],
    now: Timestamp,
) -> Result<VerifiedAgent, AcpError> {
    if !authorities
        .iter()
        .any(|a| a.eq_ignore_ascii_case(req.authority))
    {
        return Err(refused(
            "signature_wrong_authority",
            format!(
                "this request is addressed to {:?}; sign requests for this shop's own address ({})",
                req.authority.chars().take(100).collect::<String>(),
                authorities.first().map(String::as_str).unwrap_or("")
            ),
        ));
    }
    let signed = httpsig::parse_request(req, Some(body), &Policy::purser(), now)
        .map_err(|e| AcpError::new(e.http_status(), e.code(), e.to_string()))?;
    let entry = match api.agent_key(&signed.keyid) {
        Ok(v) => v,
        Err(PurserError::Refused { status: 404, .. })
        | Err(PurserError::Refused { status: 400, .. }) => return Err(refused(
            "unknown_key",
            "no agent registered with Purser has this keyid; sign with your agent's registered key",
        )),
        Err(e) => return Err(unreachable(&e)),
    };
    let key = Ed25519PublicKey::from_jwk(&entry["jwk"])
        .map_err(|e| AcpError::internal(format!("Purser's key directory sent a bad key: {e}")))?;
    if key.thumbprint() != signed.keyid {
        return Err(AcpError::internal(
            "Purser's key directory answered with another key than the one asked for",
        ));
    }
    signed
        .verify(&key)
        .map_err(|e| refused(e.code(), e.to_string()))?;
    if entry["agent"]["status"] != "active" {
        return Err(refused(
            "agent_revoked",
            "Purser says this agent was revoked; it cannot buy here",
        ));
    }
    if !matches!(entry["status"].as_str(), Some("active" | "retiring")) {
        return Err(refused(
            "unknown_key",
            "this key was revoked or its grace period ended; sign with the agent's current key",
        ));
    }
    let keep_until = signed
        .expires_at()
        .0
        .saturating_add(httpsig::CLOCK_SKEW_SECS * 1000 + NONCE_MARGIN_MS);
    if !store.spend_nonce(&signed.keyid, &signed.nonce, keep_until, now.0)? {
        return Err(refused(
            "nonce_reused",
            "this signature's nonce was already used; sign every request afresh",
        ));
    }
    Ok(VerifiedAgent {
        agent_id: entry["agent"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name: entry["agent"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        kid: signed.keyid,
    })
}

fn mandate_error(e: &purser_ap2::Ap2Error) -> AcpError {
    let code = match e.code() {
        "invalid_signature" | "invalid_key" | "invalid_sd_hash" | "disclosure_mismatch" => {
            "mandate_invalid_signature"
        }
        "expired" | "not_yet_valid" => "mandate_expired",
        "checkout_hash_mismatch" | "invalid_checkout" => "merchant_authorization_invalid",
        "constraint_violated"
        | "claim_changed"
        | "unresolved_constraint"
        | "unverifiable_constraint" => "mandate_scope_mismatch",
        _ => "mandate_invalid",
    };
    AcpError::new(
        403,
        code,
        format!("the AP2 checkout mandate was refused ({}): {e}", e.code()),
    )
    .at("$.ap2.checkout_mandate")
}

fn root_claims(chain: &str) -> Result<(String, Value), AcpError> {
    let parsed = purser_ap2::parse_chain(chain).map_err(|e| mandate_error(&e))?;
    let root = parsed
        .hops
        .first()
        .ok_or_else(|| AcpError::new(403, "mandate_invalid", "the mandate chain is empty"))?;
    let header = purser_ap2::unverified_header(root.jwt).map_err(|e| mandate_error(&e))?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let payload = root
        .jwt
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    Ok((kid, payload))
}

/// Verifies the agent's closed AP2 checkout mandate for this session: rooted in one of
/// Purser's published keys, addressed to this merchant (`aud` = its Purser merchant id) with the
/// session id as `nonce`, carrying exactly the checkout JWT this shop issued for the session's
/// current cart, within every constraint of the open mandate, and delegated to the very agent
/// key that signed the request. Returns the mandate's receipt reference.
pub fn verify_mandate(
    api: &PurserApi,
    chain: &str,
    issued_checkout_jwt: &str,
    merchant_id: &str,
    session_id: &str,
    agent_kid: &str,
    now: Timestamp,
) -> Result<String, AcpError> {
    let (kid, root) = root_claims(chain)?;
    let jwks = api.jwks().map_err(|e| unreachable(&e))?;
    let root_key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"].as_str() == Some(kid.as_str()))
        .and_then(|k| PublicJwk::from_jwk(k).ok())
        .ok_or_else(|| {
            AcpError::new(
                403,
                "mandate_invalid_signature",
                "the mandate is not signed by a key Purser publishes",
            )
            .at("$.ap2.checkout_mandate")
        })?;
    let mut opts = VerifyOptions::new(root_key, now)
        .audience(merchant_id)
        .nonce(session_id)
        .final_vct("mandate.checkout.1")
        .allow_eddsa();
    // The root is Purser's (its key verified it); Purser enforces its own spending-dependent
    // constraints at authorization, and the shop relies on that.
    if let Some(iss) = root.get("iss").and_then(Value::as_str) {
        opts = opts.trust_issuer_enforced(iss);
    }
    let verified = purser_ap2::verify_checkout(
        chain,
        &opts,
        &CheckoutAuthenticity::Issued(issued_checkout_jwt.to_string()),
    )
    .map_err(|e| mandate_error(&e))?;
    let delegated = verified
        .chain()
        .hops()
        .first()
        .and_then(|h| Ed25519PublicKey::from_jwk(&h["cnf"]["jwk"]).ok())
        .map(|k| k.thumbprint());
    if delegated.as_deref() != Some(agent_kid) {
        return Err(AcpError::new(
            403,
            "mandate_agent_mismatch",
            "the mandate was given to another agent key than the one that signed this request",
        )
        .at("$.ap2.checkout_mandate"));
    }
    Ok(verified.reference().to_string())
}
