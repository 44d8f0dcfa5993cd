//! An Ed25519 signing key, for the agent SDK and tests. Private material never reaches
//! `Debug`; it leaves only through [`Ed25519KeyPair::to_pkcs8`] and
//! [`Ed25519KeyPair::to_private_jwk`], both in zeroizing buffers.

use super::jwk::{public_from_members, Ed25519PublicKey, KeyError};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::KeyPair;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::fmt;
use zeroize::Zeroizing;

pub struct Ed25519KeyPair {
    inner: aws_lc_rs::signature::Ed25519KeyPair,
    public: Ed25519PublicKey,
}

impl fmt::Debug for Ed25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519KeyPair")
            .field("public", &self.public)
            .field("private", &"***")
            .finish()
    }
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> KeyError {
    KeyError::PrivateKeyRejected {
        detail: e.to_string(),
    }
}

impl Ed25519KeyPair {
    fn wrap(inner: aws_lc_rs::signature::Ed25519KeyPair) -> Result<Ed25519KeyPair, KeyError> {
        let public = Ed25519PublicKey::from_slice(inner.public_key().as_ref())?;
        Ok(Ed25519KeyPair { inner, public })
    }

    /// A fresh key from the system random source.
    pub fn generate() -> Result<Ed25519KeyPair, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| KeyError::GenerationFailed)?;
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
    }

    /// From an unencrypted PKCS#8 (v1 or v2) DER document.
    pub fn from_pkcs8(der: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
        aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(der)
            .map_err(rejected)
            .and_then(Ed25519KeyPair::wrap)
    }

    /// From the 32-byte private seed (RFC 8032 §5.1.5 "private key").
    pub fn from_seed(seed: &[u8; 32]) -> Result<Ed25519KeyPair, KeyError> {
        aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(rejected)
            .and_then(Ed25519KeyPair::wrap)
    }

    /// From a private OKP JWK (`d` and `x`); `x` must be the public key of `d`.
    pub fn from_private_jwk(jwk: &Value) -> Result<Ed25519KeyPair, KeyError> {
        let obj = jwk.as_object().ok_or_else(|| KeyError::InvalidJwk {
            detail: "a JWK is a JSON object".to_string(),
        })?;
        let public = public_from_members(obj)?;
        let d = obj
            .get("d")
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError::InvalidJwk {
                detail: "a private JWK needs \"d\", the base64url private key".to_string(),
            })?;
        let seed = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(d)
                .map_err(|_| KeyError::InvalidJwk {
                    detail: "\"d\" is not base64url without padding".to_string(),
                })?,
        );
        if seed.len() != 32 {
            return Err(KeyError::InvalidJwk {
                detail: "\"d\" must decode to 32 bytes".to_string(),
            });
        }
        aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(&seed, public.as_bytes())
            .map_err(rejected)
            .and_then(Ed25519KeyPair::wrap)
    }

    pub fn public_key(&self) -> Ed25519PublicKey {
        self.public
    }

    /// The JWK thumbprint of the public key: the `keyid` this key signs with.
    pub fn key_id(&self) -> String {
        self.public.thumbprint()
    }

    /// PKCS#8 v2 DER, for storage.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.inner
            .to_pkcs8()
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
            .map_err(|_| KeyError::PrivateKeyRejected {
                detail: "the key could not be encoded as PKCS#8".to_string(),
            })
    }

    /// The private JWK as JSON text, `{"crv":"Ed25519","d":"…","kty":"OKP","x":"…"}`, for the
    /// SDK to persist. Zeroized when dropped.
    pub fn to_private_jwk(&self) -> Result<Zeroizing<String>, KeyError> {
        let seed = self
            .inner
            .seed()
            .and_then(|s| s.as_be_bytes())
            .map_err(|_| KeyError::PrivateKeyRejected {
                detail: "the private key could not be exported".to_string(),
            })?;
        let d = Zeroizing::new(URL_SAFE_NO_PAD.encode(seed.as_ref()));
        Ok(Zeroizing::new(format!(
            r#"{{"crv":"Ed25519","d":"{}","kty":"OKP","x":"{}"}}"#,
            d.as_str(),
            self.public.x()
        )))
    }

    /// Signs `msg` (RFC 8032 Ed25519, deterministic).
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; 64], KeyError> {
        let sig = self
            .inner
            .try_sign(msg)
            .map_err(|_| KeyError::PrivateKeyRejected {
                detail: "signing failed".to_string(),
            })?;
        <[u8; 64]>::try_from(sig.as_ref()).map_err(|_| KeyError::PrivateKeyRejected {
            detail: "the signature is not 64 bytes".to_string(),
        })
    }
}
