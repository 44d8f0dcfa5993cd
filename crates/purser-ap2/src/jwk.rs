//! Public JWKs this crate verifies with: EC P-256 (ES256) and OKP Ed25519 (EdDSA).

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use serde_json::Value;

use crate::encoding::b64url_decode;

/// A signature algorithm this verifier knows. ES256 is the AP2 default; EdDSA only where the
/// caller enables it in [`crate::VerifyOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256, JOSE fixed-width `r || s` signatures (64 bytes).
    Es256,
    /// Ed25519 (`alg: "EdDSA"` with an `OKP`/`Ed25519` key).
    EdDsa,
}

impl Algorithm {
    /// The JOSE `alg` name.
    pub fn jose_name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }
}

/// A parsed public key: the algorithm it is for and its raw public bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    alg: Algorithm,
    /// ES256: the uncompressed SEC1 point `04 || x || y`; EdDSA: the 32-byte key.
    raw: Vec<u8>,
    kid: Option<String>,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PublicJwk {
    /// Parses a JWK object. Only public members are read; a JWK carrying a private `d` is refused
    /// so that private keys are never accepted (and so never logged) by this crate.
    pub fn from_jwk(jwk: &Value) -> Result<PublicJwk, String> {
        let obj = jwk.as_object().ok_or("the JWK is not a JSON object")?;
        if obj.contains_key("d") {
            return Err("the JWK contains private key material".into());
        }
        let member = |name: &str| -> Result<Vec<u8>, String> {
            let s = obj
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the JWK has no string member {name:?}"))?;
            b64url_decode(s).ok_or_else(|| format!("JWK member {name:?} is not base64url"))
        };
        let kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
        let kty = obj.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = obj.get("crv").and_then(Value::as_str).unwrap_or_default();
        match (kty, crv) {
            ("EC", "P-256") => {
                let x = member("x")?;
                let y = member("y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes each".into());
                }
                let mut raw = Vec::with_capacity(65);
                raw.push(0x04);
                raw.extend_from_slice(&x);
                raw.extend_from_slice(&y);
                Ok(PublicJwk {
                    alg: Algorithm::Es256,
                    raw,
                    kid,
                })
            }
            ("OKP", "Ed25519") => {
                let x = member("x")?;
                if x.len() != 32 {
                    return Err("an Ed25519 key must be 32 bytes".into());
                }
                Ok(PublicJwk {
                    alg: Algorithm::EdDsa,
                    raw: x,
                    kid,
                })
            }
            _ => Err(format!(
                "key type {kty:?} / curve {crv:?} is not supported (EC P-256 or OKP Ed25519)"
            )),
        }
    }

    /// An Ed25519 key from its 32 raw bytes (for instance a `purser_core::httpsig` key).
    pub fn ed25519(raw: [u8; 32]) -> PublicJwk {
        PublicJwk {
            alg: Algorithm::EdDsa,
            raw: raw.to_vec(),
            kid: None,
        }
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Verifies `sig` over `msg` (a JWS signing input and its raw signature: ES256 `r || s`, or
    /// 64 Ed25519 bytes). Invalid points are reported as a failed verification. Public so that
    /// `purser bench mandates` can time the bare primitive the chain verifier uses.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match self.alg {
            Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDsa => &ED25519,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(msg, sig)
            .is_ok()
    }
}
