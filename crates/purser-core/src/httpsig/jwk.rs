//! Ed25519 public keys as JWKs (RFC 8037 `OKP`), and their RFC 7638 thumbprints, which are the
//! `keyid` Web Bot Auth signers send.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// JWK members that carry private key material, for any key type (RFC 7518 §6, RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a key was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not an Ed25519 OKP JWK, or a member is missing or wrong.
    InvalidJwk { detail: String },
    /// A public key was expected and the JWK carries private material.
    PrivateMember { member: &'static str },
    /// A private key (PKCS#8, seed or private JWK) was rejected by the crypto library.
    PrivateKeyRejected { detail: String },
    /// The system random generator failed.
    GenerationFailed,
}

impl KeyError {
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::InvalidJwk { .. } => "jwk_invalid",
            KeyError::PrivateMember { .. } => "jwk_contains_private_key",
            KeyError::PrivateKeyRejected { .. } => "private_key_invalid",
            KeyError::GenerationFailed => "key_generation_failed",
        }
    }

    fn invalid(detail: impl Into<String>) -> KeyError {
        KeyError::InvalidJwk {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidJwk { detail } => write!(
                f,
                "the key is not a usable Ed25519 JWK: {detail}; send {{\"kty\":\"OKP\",\
                 \"crv\":\"Ed25519\",\"x\":\"<base64url of the 32-byte public key>\"}}"
            ),
            KeyError::PrivateMember { member } => write!(
                f,
                "the JWK contains the private member \"{member}\"; send only the public key \
                 (kty, crv, x) and keep the private key on the agent — treat this one as \
                 exposed and generate a new key"
            ),
            KeyError::PrivateKeyRejected { detail } => {
                write!(f, "the private key was rejected: {detail}")
            }
            KeyError::GenerationFailed => {
                f.write_str("generating an Ed25519 key failed: the system random source failed")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// An Ed25519 public key (32 bytes, RFC 8032 encoding).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519PublicKey([u8; 32]);

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", self.x())
    }
}

impl Ed25519PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Ed25519PublicKey {
        Ed25519PublicKey(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Ed25519PublicKey, KeyError> {
        <[u8; 32]>::try_from(bytes)
            .map(Ed25519PublicKey)
            .map_err(|_| {
                KeyError::invalid(format!(
                    "an Ed25519 public key is 32 bytes, not {}",
                    bytes.len()
                ))
            })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The JWK `x` member: base64url without padding.
    pub fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Reads a public Ed25519 JWK. Refuses JWKs carrying private members (`d`, …), other key
    /// types and curves, an `alg` other than `EdDSA`/`Ed25519`, and a `use` other than `sig`.
    pub fn from_jwk(jwk: &Value) -> Result<Ed25519PublicKey, KeyError> {
        let obj = jwk
            .as_object()
            .ok_or_else(|| KeyError::invalid("a JWK is a JSON object"))?;
        if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| obj.contains_key(*m)) {
            return Err(KeyError::PrivateMember { member });
        }
        public_from_members(obj)
    }

    /// `{"kty":"OKP","crv":"Ed25519","x":"…"}`.
    pub fn to_jwk(&self) -> Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": self.x()})
    }

    /// RFC 7638 thumbprint: base64url (no padding) of SHA-256 over the required members in
    /// lexicographic order, `{"crv":"Ed25519","kty":"OKP","x":"…"}`, with no whitespace.
    /// Does `signature` sign `message` under this key? For signatures Purser checks outside a
    /// request (a signed key directory, a receipt).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ED25519,
            self.as_bytes(),
        )
        .verify(message, signature)
        .is_ok()
    }

    pub fn thumbprint(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x());
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// Checks kty/crv/alg/use and decodes `x`; shared by public and private JWK readers.
pub(crate) fn public_from_members(
    obj: &serde_json::Map<String, Value>,
) -> Result<Ed25519PublicKey, KeyError> {
    let text = |name: &str| -> Result<Option<&str>, KeyError> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(KeyError::invalid(format!("\"{name}\" must be a string"))),
        }
    };
    match text("kty")? {
        Some("OKP") => {}
        Some(other) => {
            return Err(KeyError::invalid(format!(
                "kty is {}, expected \"OKP\"",
                super::error::quote(other)
            )))
        }
        None => return Err(KeyError::invalid("\"kty\" is missing")),
    }
    match text("crv")? {
        Some("Ed25519") => {}
        Some(other) => {
            return Err(KeyError::invalid(format!(
                "crv is {}, expected \"Ed25519\"",
                super::error::quote(other)
            )))
        }
        None => return Err(KeyError::invalid("\"crv\" is missing")),
    }
    if let Some(alg) = text("alg")? {
        if alg != "EdDSA" && alg != "Ed25519" {
            return Err(KeyError::invalid(format!(
                "alg is {}, expected \"EdDSA\" or \"Ed25519\"",
                super::error::quote(alg)
            )));
        }
    }
    if let Some(usage) = text("use")? {
        if usage != "sig" {
            return Err(KeyError::invalid(
                "\"use\" must be \"sig\" for a signing key",
            ));
        }
    }
    let x = text("x")?.ok_or_else(|| KeyError::invalid("\"x\" is missing"))?;
    let bytes = decode_b64url_32(x, "x")?;
    Ok(Ed25519PublicKey(bytes))
}

/// Decodes a base64url (no padding) member that must hold exactly 32 bytes.
pub(crate) fn decode_b64url_32(value: &str, name: &str) -> Result<[u8; 32], KeyError> {
    if value.len() != 43 {
        return Err(KeyError::invalid(format!(
            "\"{name}\" must be 43 base64url characters (32 bytes, no padding)"
        )));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| KeyError::invalid(format!("\"{name}\" is not base64url without padding")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| KeyError::invalid(format!("\"{name}\" must decode to 32 bytes")))
}
