//! The shop's own ES256 key: it signs each cart as an AP2 checkout JWT (the merchant's
//! authorization an agent puts into its closed checkout mandate), and is published as a JWK Set
//! at `/.well-known/jwks.json`. Kept in the data directory (mode 0600), or in memory only.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use purser_ap2::{Es256Signer, JwsSigner, PublicJwk};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The file the key lives in, inside the data directory.
pub const KEY_FILE: &str = "merchant-signing-key.json";

/// `typ` of the checkout JWT.
pub const CHECKOUT_TYP: &str = "JWT";

pub struct MerchantKey {
    signer: Es256Signer,
    kid: String,
}

impl std::fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn kid_of(pkcs8_public_jwk: &Value) -> String {
    // The key id is a short digest of the public key: stable across restarts, nothing secret.
    let d = Sha256::digest(pkcs8_public_jwk.to_string().as_bytes());
    format!("shop-{}", hex::encode(&d[..8]))
}

impl MerchantKey {
    /// Loads the key from `dir`, creating it on first start; `None`: a fresh key in memory.
    pub fn load_or_create(dir: Option<&Path>) -> Result<MerchantKey, String> {
        let Some(dir) = dir else {
            let (_, pkcs8) = Es256Signer::generate(None).map_err(|e| e.to_string())?;
            return MerchantKey::from_pkcs8(&pkcs8);
        };
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
                let pkcs8 = v["pkcs8"]
                    .as_str()
                    .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                    .ok_or_else(|| format!("{} has no pkcs8 key", path.display()))?;
                MerchantKey::from_pkcs8(&pkcs8)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (_, pkcs8) = Es256Signer::generate(None).map_err(|e| e.to_string())?;
                let text =
                    json!({"alg": "ES256", "pkcs8": URL_SAFE_NO_PAD.encode(&pkcs8)}).to_string();
                write_private(&path, text.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                MerchantKey::from_pkcs8(&pkcs8)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<MerchantKey, String> {
        let bare = Es256Signer::from_pkcs8(pkcs8, None).map_err(|e| e.to_string())?;
        let kid = kid_of(&bare.public_jwk());
        let signer =
            Es256Signer::from_pkcs8(pkcs8, Some(kid.clone())).map_err(|e| e.to_string())?;
        Ok(MerchantKey { signer, kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs a checkout object (the JWT payload).
    pub fn sign_checkout(&self, claims: &Value) -> Result<String, String> {
        self.signer
            .sign_jwt(CHECKOUT_TYP, claims)
            .map_err(|e| e.to_string())
    }

    /// The public key, for verifying our own checkout JWTs.
    pub fn public_key(&self) -> Result<PublicJwk, String> {
        self.signer.public_key().map_err(|e| e.to_string())
    }

    /// The JWK Set published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        let mut jwk = self.signer.public_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.insert("use".into(), json!("sig"));
            o.insert("alg".into(), json!("ES256"));
        }
        json!({"keys": [jwk]})
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_persists_and_signs_what_verifies() {
        let dir = std::env::temp_dir().join(format!("purser-merchant-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(KEY_FILE));
        let a = MerchantKey::load_or_create(Some(&dir)).unwrap();
        let b = MerchantKey::load_or_create(Some(&dir)).unwrap();
        assert_eq!(a.kid(), b.kid());
        let jwt = a.sign_checkout(&json!({"x": 1})).unwrap();
        let claims = purser_ap2::verify_jwt(&jwt, &b.public_key().unwrap(), CHECKOUT_TYP).unwrap();
        assert_eq!(claims["x"], 1);
        assert_eq!(a.jwks()["keys"][0]["kid"], a.kid());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
