//! Signature Agent Cards (Web Bot Auth): a JSON document at the agent's URL naming its keys
//! (`jwks` inline, or `jwks_uri`) and describing it. Also the registry format, a text list of
//! card URLs. Parsing only: fetching is the server's job.

use super::jwk::{Ed25519PublicKey, KeyError};
use serde_json::{Map, Value};
use std::fmt;

/// Most keys read from an inline `jwks`. Agents rotate through two or three keys.
pub const MAX_CARD_KEYS: usize = 16;

/// Most card URLs read from one registry file.
pub const MAX_REGISTRY_ENTRIES: usize = 1000;

/// Why a card is not valid. The message is the whole explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardError(pub String);

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CardError {}

fn err(msg: impl Into<String>) -> CardError {
    CardError(msg.into())
}

/// Where the card's keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardKeys {
    /// The Ed25519 keys of an inline JWK Set (keys of other types are skipped).
    Jwks(Vec<Ed25519PublicKey>),
    /// A URL to fetch the JWK Set from.
    JwksUri(String),
}

/// The optional `web_bot_auth` member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebBotAuthMetadata {
    pub expected_user_agent: Option<String>,
    pub rfc9309_product_token: Option<String>,
    pub trigger: Option<String>,
    pub purpose: Option<String>,
    pub ips_uri: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureAgentCard {
    pub client_id: String,
    pub client_name: Option<String>,
    pub contacts: Vec<String>,
    pub keys: CardKeys,
    pub web_bot_auth: Option<WebBotAuthMetadata>,
}

impl SignatureAgentCard {
    /// Reads the card fetched from `url`. Rules: an object; `client_id` equal to `url`;
    /// exactly one of `jwks` and `jwks_uri`; `jwks_uri` an https URL; an inline `jwks` with at
    /// least one Ed25519 key and no private key material.
    pub fn parse(url: &str, card: &Value) -> Result<SignatureAgentCard, CardError> {
        let obj = card
            .as_object()
            .ok_or_else(|| err("card must be a JSON object"))?;
        let client_id =
            opt_str(obj, "client_id")?.ok_or_else(|| err("card must have a client_id string"))?;
        if client_id != url {
            return Err(err("client_id must match the card URL"));
        }
        let keys = match (obj.get("jwks"), obj.get("jwks_uri")) {
            (Some(_), Some(_)) => return Err(err("card must not contain both jwks and jwks_uri")),
            (None, None) => return Err(err("card must contain jwks or jwks_uri")),
            (Some(jwks), None) => CardKeys::Jwks(parse_jwks(jwks)?),
            (None, Some(Value::String(uri))) => {
                if !uri.starts_with("https://") {
                    return Err(err("jwks_uri must be an https URL"));
                }
                CardKeys::JwksUri(uri.clone())
            }
            (None, Some(_)) => return Err(err("jwks_uri must be a string")),
        };
        let contacts = match obj.get("contacts") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err("contacts must be an array of strings"))?,
            Some(_) => return Err(err("contacts must be an array of strings")),
        };
        let web_bot_auth = match obj.get("web_bot_auth") {
            None => None,
            Some(Value::Object(w)) => Some(WebBotAuthMetadata {
                expected_user_agent: opt_str(w, "expected-user-agent")?,
                rfc9309_product_token: opt_str(w, "rfc9309-product-token")?,
                trigger: opt_str(w, "trigger")?,
                purpose: opt_str(w, "purpose")?,
                ips_uri: opt_str(w, "ips_uri")?,
            }),
            Some(_) => return Err(err("web_bot_auth must be an object")),
        };
        Ok(SignatureAgentCard {
            client_id,
            client_name: opt_str(obj, "client_name")?,
            contacts,
            keys,
            web_bot_auth,
        })
    }
}

fn opt_str(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, CardError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(format!("{name} must be a string"))),
    }
}

fn parse_jwks(jwks: &Value) -> Result<Vec<Ed25519PublicKey>, CardError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| err("jwks must be an object with a keys array"))?;
    if keys.len() > MAX_CARD_KEYS {
        return Err(err(format!("jwks holds more than {MAX_CARD_KEYS} keys")));
    }
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let is_ed25519 = key.get("kty").and_then(Value::as_str) == Some("OKP")
            && key.get("crv").and_then(Value::as_str) == Some("Ed25519");
        match Ed25519PublicKey::from_jwk(key) {
            Ok(k) => out.push(k),
            Err(KeyError::PrivateMember { member }) => {
                return Err(err(format!(
                    "jwks key {i} contains the private member \"{member}\""
                )))
            }
            Err(e) if is_ed25519 => return Err(err(format!("jwks key {i}: {e}"))),
            Err(_) => {} // another key type: not ours to use
        }
    }
    if out.is_empty() {
        return Err(err("jwks contains no Ed25519 key"));
    }
    Ok(out)
}

/// Reads a registry file: one card URL per line; `#` starts a comment; blank lines ignored.
pub fn parse_card_registry(text: &str) -> Result<Vec<String>, CardError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        if !entry.starts_with("https://") || entry.contains(char::is_whitespace) {
            return Err(err(format!(
                "registry entries must be https URLs, one per line; found {}",
                super::error::quote(entry)
            )));
        }
        if out.len() >= MAX_REGISTRY_ENTRIES {
            return Err(err(format!(
                "the registry lists more than {MAX_REGISTRY_ENTRIES} cards"
            )));
        }
        out.push(entry.to_string());
    }
    Ok(out)
}
