//! Purser's own signing keys: Ed25519 (HTTP message signatures; published in the Web Bot Auth
//! key directory) and ES256 (JWTs: receipts and mandates). Private keys are sealed in the
//! vault; public keys are published at `/.well-known/jwks.json` and, for Ed25519,
//! `/.well-known/http-message-signatures-directory`.
//!
//! Rotation makes a new active key per algorithm and retires the old one, which stays
//! published for [`PUBLISH_RETIRED_MS`] so everything it signed can still be checked.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use purser_core::httpsig::Ed25519KeyPair;
use purser_store::db::Stmt;
use purser_store::vals;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Kind, Result, WalletError};
use crate::Wallet;

/// How long a retired public key stays published: longer than anything Purser signs can be
/// presented (mandates last at most a year; disputes on card payments run up to 540 days).
pub const PUBLISH_RETIRED_MS: i64 = 2 * 366 * 24 * 60 * 60 * 1000;

/// How long a signed key directory response is valid: clients cache it for a few minutes.
const DIRECTORY_SIGNATURE_SECS: i64 = 300;

/// The directory's signature is reused this long: the endpoint is public, and signing with
/// every key on every request would let anyone spend Purser's CPU.
const DIRECTORY_CACHE_SECS: i64 = 60;

/// Most keys in the directory (and signing it).
pub const MAX_DIRECTORY_KEYS: usize = 8;

/// The algorithms Purser signs with.
pub const ALGORITHMS: [&str; 2] = ["EdDSA", "ES256"];

fn internal(what: &str) -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        format!("could not {what}"),
    )
}

/// A fresh key: (kid, public JWK, PKCS#8 private key).
fn generate(alg: &str) -> Result<(String, Value, Vec<u8>)> {
    match alg {
        "EdDSA" => {
            let k = Ed25519KeyPair::generate().map_err(|_| internal("generate an Ed25519 key"))?;
            let pkcs8 = k
                .to_pkcs8()
                .map_err(|_| internal("encode an Ed25519 key"))?;
            let p = k.public_key();
            let mut jwk = p.to_jwk();
            jwk["kid"] = json!(p.thumbprint());
            jwk["alg"] = json!("EdDSA");
            jwk["use"] = json!("sig");
            Ok((p.thumbprint(), jwk, pkcs8.to_vec()))
        }
        _ => {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| internal("generate a P-256 key"))?;
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .map_err(|_| internal("load a P-256 key"))?;
            let point = kp.public_key().as_ref();
            // Uncompressed point: 0x04 || x (32) || y (32).
            let (x, y) = match point {
                [4, rest @ ..] if rest.len() == 64 => (&rest[..32], &rest[32..]),
                _ => return Err(internal("read a P-256 public key")),
            };
            let x = URL_SAFE_NO_PAD.encode(x);
            let y = URL_SAFE_NO_PAD.encode(y);
            // RFC 7638: the required members, in lexicographic order, no whitespace.
            let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
            Ok((kid, jwk, pkcs8.as_ref().to_vec()))
        }
    }
}

impl Wallet {
    /// Make an active key for each algorithm that has none.
    pub(crate) async fn ensure_signing_keys(&self) -> Result<()> {
        for alg in ALGORITHMS {
            let has = self
                .db
                .query_opt(
                    "SELECT kid FROM signing_keys WHERE alg = $1 AND status = 'active'",
                    vals![alg],
                )
                .await?;
            if has.is_none() {
                self.add_signing_key(alg, vec![]).await?;
            }
        }
        Ok(())
    }

    async fn add_signing_key(&self, alg: &str, mut before: Vec<Stmt>) -> Result<String> {
        let (kid, jwk, pkcs8) = generate(alg)?;
        let record = format!("vlt_sig_{kid}");
        let now = self.now();
        before.push(self.seal_record(&record, &pkcs8)?);
        before.push(Stmt::exec(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_record, status, created_at) VALUES ($1, $2, $3, $4, 'active', $5)",
            vals![&kid, alg, jwk.to_string(), &record, now.0],
        ));
        self.db.write(before).await?;
        Ok(kid)
    }

    /// Retire the active keys and make new ones. Old public keys stay published.
    pub async fn rotate_signing_keys(&self) -> Result<Value> {
        let now = self.now();
        for alg in ALGORITHMS {
            let retire = Stmt::exec(
                "UPDATE signing_keys SET status = 'retired', retired_at = $2, publish_until = $3 WHERE alg = $1 AND status = 'active'",
                vals![alg, now.0, now.0.saturating_add(PUBLISH_RETIRED_MS)],
            );
            self.add_signing_key(alg, vec![retire]).await?;
        }
        if let Ok(mut cache) = self.directory_cache.lock() {
            *cache = None;
        }
        if let Ok(mut cache) = self.es256_cache.lock() {
            *cache = None;
        }
        self.jwks().await
    }

    /// Every public key a verifier may need: active ones and retired ones still published.
    pub async fn jwks(&self) -> Result<Value> {
        self.published_keys(None).await
    }

    /// The Web Bot Auth key directory: Purser's Ed25519 keys (the newest
    /// [`MAX_DIRECTORY_KEYS`]), exactly the keys [`Wallet::sign_directory`] signs with.
    pub async fn signature_directory(&self) -> Result<Value> {
        let mut v = self.published_keys(Some("EdDSA")).await?;
        if let Some(keys) = v["keys"].as_array_mut() {
            keys.truncate(MAX_DIRECTORY_KEYS);
        }
        Ok(v)
    }

    async fn published_keys(&self, alg: Option<&str>) -> Result<Value> {
        let rows = self
            .db
            .query(
                "SELECT public_jwk FROM signing_keys WHERE (status = 'active' OR publish_until > $1) AND ($2 = '' OR alg = $2) ORDER BY created_at DESC, kid",
                vals![self.now().0, alg.unwrap_or("")],
            )
            .await?;
        let keys = rows
            .iter()
            .filter_map(|r| r.text(0).ok())
            .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
            .collect::<Vec<_>>();
        Ok(json!({ "keys": keys }))
    }

    /// The active Ed25519 key, for signing Purser's own HTTP messages.
    pub async fn active_ed25519(&self) -> Result<Ed25519KeyPair> {
        let row = self
            .db
            .query_opt(
                "SELECT private_record FROM signing_keys WHERE alg = 'EdDSA' AND status = 'active' ORDER BY created_at DESC LIMIT 1",
                vec![],
            )
            .await?
            .ok_or_else(|| internal("find Purser's Ed25519 key"))?;
        let pkcs8 = self.open_record(&row.text(0)?).await?;
        Ed25519KeyPair::from_pkcs8(pkcs8.expose())
            .map_err(|_| internal("load Purser's Ed25519 key"))
    }

    /// The active ES256 key, kept in memory for up to a minute (a rotation on this node
    /// clears it at once; on another node it is picked up within the minute, and the retired
    /// key stays published, so receipts signed meanwhile still verify).
    pub async fn es256_signer(&self) -> Result<(String, std::sync::Arc<purser_ap2::Es256Signer>)> {
        if let Ok(cache) = self.es256_cache.lock() {
            if let Some((at, kid, signer)) = cache.as_ref() {
                if at.elapsed() < std::time::Duration::from_secs(60) {
                    return Ok((kid.clone(), signer.clone()));
                }
            }
        }
        let (kid, signer) = self.active_es256().await?;
        let signer = std::sync::Arc::new(signer);
        if let Ok(mut cache) = self.es256_cache.lock() {
            *cache = Some((std::time::Instant::now(), kid.clone(), signer.clone()));
        }
        Ok((kid, signer))
    }

    /// The active ES256 key, for signing mandates and receipts: (kid, signer).
    pub async fn active_es256(&self) -> Result<(String, purser_ap2::Es256Signer)> {
        let row = self
            .db
            .query_opt(
                "SELECT kid, private_record FROM signing_keys WHERE alg = 'ES256' AND status = 'active' ORDER BY created_at DESC LIMIT 1",
                vec![],
            )
            .await?
            .ok_or_else(|| internal("find Purser's ES256 key"))?;
        let kid = row.text(0)?;
        let pkcs8 = self.open_record(&row.text(1)?).await?;
        let signer = purser_ap2::Es256Signer::from_pkcs8(pkcs8.expose(), Some(kid.clone()))
            .map_err(|_| internal("load Purser's ES256 key"))?;
        Ok((kid, signer))
    }

    /// Sign the key directory response (draft-meunier-webbotauth-httpsig-directory): one
    /// signature per published Ed25519 key, each covering `"@authority";req` with the tag
    /// `http-message-signatures-directory`, so a client can check the directory came from the
    /// holder of every key it lists. Returns `(Signature-Input, Signature)` header values.
    pub async fn sign_directory(&self, authority: &str) -> Result<(String, String)> {
        let now = self.now_secs();
        if let Ok(cache) = self.directory_cache.lock() {
            if let Some((a, at, input, sig)) = cache.as_ref() {
                if a == authority && now.saturating_sub(*at) < DIRECTORY_CACHE_SECS {
                    return Ok((input.clone(), sig.clone()));
                }
            }
        }
        let rows = self
            .db
            .query(
                "SELECT private_record FROM signing_keys WHERE alg = 'EdDSA' AND (status = 'active' OR publish_until > $1) ORDER BY created_at DESC, kid",
                vals![self.now().0],
            )
            .await?;
        let created = self.now_secs();
        let expires = created + DIRECTORY_SIGNATURE_SECS;
        let (mut inputs, mut sigs) = (Vec::new(), Vec::new());
        for (i, r) in rows.iter().take(MAX_DIRECTORY_KEYS).enumerate() {
            let pkcs8 = self.open_record(&r.text(0)?).await?;
            let key = Ed25519KeyPair::from_pkcs8(pkcs8.expose())
                .map_err(|_| internal("load Purser's Ed25519 key"))?;
            let params = format!(
                "(\"@authority\";req);created={created};expires={expires};keyid=\"{}\";alg=\"ed25519\";tag=\"http-message-signatures-directory\"",
                key.key_id()
            );
            let base = format!(
                "\"@authority\";req: {}\n\"@signature-params\": {params}",
                authority.to_ascii_lowercase()
            );
            let sig = key
                .sign(base.as_bytes())
                .map_err(|_| internal("sign the key directory"))?;
            inputs.push(format!("binding{i}={params}"));
            sigs.push(format!(
                "binding{i}=:{}:",
                base64::engine::general_purpose::STANDARD.encode(sig)
            ));
        }
        let signed = (inputs.join(", "), sigs.join(", "));
        if let Ok(mut cache) = self.directory_cache.lock() {
            *cache = Some((
                authority.to_string(),
                now,
                signed.0.clone(),
                signed.1.clone(),
            ));
        }
        Ok(signed)
    }

    /// Seconds since the epoch, for signature parameters.
    pub fn now_secs(&self) -> i64 {
        self.now().0 / 1000
    }
}
