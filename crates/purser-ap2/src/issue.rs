//! Issuing: a root Delegate SD-JWT with selectively disclosable claims, and key-binding hops.
//!
//! The output has exactly the shape [`crate::verify_chain`] reads (and the AP2 reference vectors
//! use): the JWT payload carries `delegate_payload: [{"...": digest}]`, whose element disclosure
//! is the mandate object, whose chosen top-level members are themselves disclosures listed in its
//! `_sd`. Salts come from the caller, so issuing is deterministic under test.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Map, Value};

use crate::encoding::{b64url_encode, sd_digest};
use crate::error::Ap2Error;
use crate::jwk::PublicJwk;

/// `typ` of a root SD-JWT, as in the AP2 reference implementation's vectors.
pub const ROOT_TYP: &str = "example+sd-jwt";

/// Bytes of salt per disclosure: 128 bits, as RFC 9901 §9.3 recommends.
pub const SALT_BYTES: usize = 16;

/// A key that signs compact JWS for one hop: ES256 (Purser's issuing key, AP2's default) or EdDSA
/// (an agent's Ed25519 key; verifiers accept it with [`crate::VerifyOptions::allow_eddsa`]).
pub trait JwsSigner {
    /// The JOSE `alg` this key signs with (`ES256`, `EdDSA`).
    fn alg(&self) -> &'static str;
    /// A compact JWS `header.payload.signature` with header `{"alg", "typ", "kid"?}`.
    fn sign_jwt(&self, typ: &str, payload: &Value) -> Result<String, Ap2Error>;
    /// The public key as a JWK, for a `cnf` or a verifier's root key.
    fn public_jwk(&self) -> Value;
}

/// The signing input `b64(header).b64(payload)` with header `{"alg", "typ", "kid"?}`.
fn signing_input(alg: &str, typ: &str, kid: Option<&str>, payload: &Value) -> String {
    let mut header = json!({"alg": alg, "typ": typ});
    if let (Some(kid), Some(obj)) = (kid, header.as_object_mut()) {
        obj.insert("kid".into(), Value::String(kid.to_owned()));
    }
    format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(payload.to_string().as_bytes())
    )
}

fn with_kid(mut jwk: Value, kid: Option<&String>) -> Value {
    if let (Some(kid), Some(obj)) = (kid, jwk.as_object_mut()) {
        obj.insert("kid".into(), Value::String(kid.clone()));
    }
    jwk
}

/// An ES256 signing key. Its `Debug` shows only the `kid`; the private key never leaves it.
pub struct Es256Signer {
    key: EcdsaKeyPair,
    kid: Option<String>,
}

impl std::fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn issue_err(reason: &str) -> Ap2Error {
    Ap2Error::IssueFailed {
        reason: reason.to_owned(),
    }
}

impl Es256Signer {
    /// A signer from an unencrypted PKCS#8 P-256 private key.
    pub fn from_pkcs8(pkcs8: &[u8], kid: Option<String>) -> Result<Es256Signer, Ap2Error> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| issue_err("the PKCS#8 document is not a P-256 private key"))?;
        Ok(Es256Signer { key, kid })
    }

    /// A fresh key, returned with its PKCS#8 encoding (for the caller to keep secret).
    pub fn generate(kid: Option<String>) -> Result<(Es256Signer, Vec<u8>), Ap2Error> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| issue_err("key generation failed"))?;
        let pkcs8 = doc.as_ref().to_vec();
        Ok((Es256Signer::from_pkcs8(&pkcs8, kid)?, pkcs8))
    }

    /// The public key as a JWK (`kty` EC, `crv` P-256), for a `cnf` or a verifier's root key.
    pub fn public_jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        let (x, y) = match point {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => (&[][..], &[][..]),
        };
        with_kid(
            json!({"kty": "EC", "crv": "P-256", "x": b64url_encode(x), "y": b64url_encode(y)}),
            self.kid.as_ref(),
        )
    }

    /// The public key, parsed for verification.
    pub fn public_key(&self) -> Result<PublicJwk, Ap2Error> {
        PublicJwk::from_jwk(&self.public_jwk()).map_err(|r| issue_err(&r))
    }
}

impl JwsSigner for Es256Signer {
    fn alg(&self) -> &'static str {
        "ES256"
    }

    fn sign_jwt(&self, typ: &str, payload: &Value) -> Result<String, Ap2Error> {
        let input = signing_input("ES256", typ, self.kid.as_deref(), payload);
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| issue_err("signing failed"))?;
        Ok(format!("{input}.{}", b64url_encode(sig.as_ref())))
    }

    fn public_jwk(&self) -> Value {
        Es256Signer::public_jwk(self)
    }
}

/// An Ed25519 signing key (JOSE `EdDSA`), as agents hold. Its `Debug` shows only the `kid`.
pub struct Ed25519Signer {
    key: Ed25519KeyPair,
    kid: Option<String>,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Ed25519Signer {
    /// A signer from the 32-byte private seed (RFC 8032; the `d` of an OKP JWK).
    pub fn from_seed(seed: &[u8; 32], kid: Option<String>) -> Result<Ed25519Signer, Ap2Error> {
        let key = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| issue_err("the seed is not an Ed25519 private key"))?;
        Ok(Ed25519Signer { key, kid })
    }

    /// A signer from a PKCS#8 Ed25519 private key (v1 or v2).
    pub fn from_pkcs8(pkcs8: &[u8], kid: Option<String>) -> Result<Ed25519Signer, Ap2Error> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| issue_err("the PKCS#8 document is not an Ed25519 private key"))?;
        Ok(Ed25519Signer { key, kid })
    }

    /// A fresh key, returned with its PKCS#8 encoding (for the caller to keep secret).
    pub fn generate(kid: Option<String>) -> Result<(Ed25519Signer, Vec<u8>), Ap2Error> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| issue_err("key generation failed"))?;
        let pkcs8 = doc.as_ref().to_vec();
        Ok((Ed25519Signer::from_pkcs8(&pkcs8, kid)?, pkcs8))
    }

    /// The public key as a JWK (`kty` OKP, `crv` Ed25519).
    pub fn public_jwk(&self) -> Value {
        with_kid(
            json!({"kty": "OKP", "crv": "Ed25519",
                "x": b64url_encode(self.key.public_key().as_ref())}),
            self.kid.as_ref(),
        )
    }

    /// The public key, parsed for verification.
    pub fn public_key(&self) -> Result<PublicJwk, Ap2Error> {
        PublicJwk::from_jwk(&self.public_jwk()).map_err(|r| issue_err(&r))
    }
}

impl JwsSigner for Ed25519Signer {
    fn alg(&self) -> &'static str {
        "EdDSA"
    }

    fn sign_jwt(&self, typ: &str, payload: &Value) -> Result<String, Ap2Error> {
        let input = signing_input("EdDSA", typ, self.kid.as_deref(), payload);
        let sig = self.key.sign(input.as_bytes());
        Ok(format!("{input}.{}", b64url_encode(sig.as_ref())))
    }

    fn public_jwk(&self) -> Value {
        Ed25519Signer::public_jwk(self)
    }
}

/// 16 random bytes from the operating system, for callers without their own salt source.
pub fn random_salt() -> Result<[u8; SALT_BYTES], Ap2Error> {
    let mut salt = [0u8; SALT_BYTES];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| issue_err("no randomness for a salt"))?;
    Ok(salt)
}

/// How a key-binding hop names the hop before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `sd_hash` over the whole previous presentation: later holders cannot drop its disclosures.
    SdHash,
    /// `issuer_jwt_hash` over the previous issuer JWT only: later holders may withhold disclosures.
    IssuerJwtHash,
}

/// What a hop says: its mandate object, which of the mandate's top-level members are selectively
/// disclosable, and the JWT claims beside `delegate_payload` (`iat`, `exp`, …).
#[derive(Clone, Debug, Default)]
pub struct HopContent {
    pub mandate: Map<String, Value>,
    pub disclosable: Vec<String>,
    pub claims: Map<String, Value>,
}

/// Replaces every element of `values` by `{"...": digest}` (RFC 9901 array element disclosure)
/// and appends the element disclosures to `disclosures`. The caller places the returned array in
/// the mandate and passes `disclosures` on as nested disclosures of the hop.
pub(crate) fn conceal_elements(
    values: Vec<Value>,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
    disclosures: &mut Vec<String>,
) -> Result<Vec<Value>, Ap2Error> {
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        let d = b64url_encode(
            json!([b64url_encode(&salt()?), value])
                .to_string()
                .as_bytes(),
        );
        out.push(json!({"...": sd_digest(&d)}));
        disclosures.push(d);
    }
    Ok(out)
}

/// Builds the payload and disclosures of one hop. Returns (`jwt payload`, disclosures).
/// `nested` are disclosures already referenced from inside the mandate (array elements
/// concealed by [`conceal_elements`]); they are presented first.
fn build(
    content: &HopContent,
    nested: Vec<String>,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
) -> Result<(Value, Vec<String>), Ap2Error> {
    let mut mandate = content.mandate.clone();
    let mut disclosures = nested;
    let mut digests = Vec::new();
    for name in &content.disclosable {
        let value = mandate
            .remove(name)
            .ok_or_else(|| issue_err("a disclosable member is not in the mandate"))?;
        let d = b64url_encode(
            json!([b64url_encode(&salt()?), name, value])
                .to_string()
                .as_bytes(),
        );
        digests.push(Value::String(sd_digest(&d)));
        disclosures.push(d);
    }
    if ["_sd", "..."].iter().any(|r| mandate.contains_key(*r)) {
        return Err(issue_err("the mandate uses a reserved member name"));
    }
    if !digests.is_empty() {
        mandate.insert("_sd".into(), Value::Array(digests));
    }
    let element = b64url_encode(
        json!([b64url_encode(&salt()?), mandate])
            .to_string()
            .as_bytes(),
    );
    let mut payload = content.claims.clone();
    if payload.contains_key("delegate_payload") || payload.contains_key("_sd_alg") {
        return Err(issue_err("the claims use a reserved name"));
    }
    payload.insert(
        "delegate_payload".into(),
        json!([{"...": sd_digest(&element)}]),
    );
    payload.insert("_sd_alg".into(), json!("sha-256"));
    disclosures.push(element);
    Ok((Value::Object(payload), disclosures))
}

fn presentation(jwt: String, disclosures: &[String]) -> String {
    let mut s = jwt;
    s.push('~');
    for d in disclosures {
        s.push_str(d);
        s.push('~');
    }
    s
}

/// Issues a root SD-JWT signed by the issuer's key: `jwt~disclosure~…~`.
pub fn issue_root(
    signer: &dyn JwsSigner,
    content: &HopContent,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
) -> Result<String, Ap2Error> {
    issue_root_nested(signer, content, Vec::new(), salt)
}

/// [`issue_root`] with disclosures nested inside the mandate (see [`conceal_elements`]).
pub(crate) fn issue_root_nested(
    signer: &dyn JwsSigner,
    content: &HopContent,
    nested: Vec<String>,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
) -> Result<String, Ap2Error> {
    let (payload, disclosures) = build(content, nested, salt)?;
    Ok(presentation(
        signer.sign_jwt(ROOT_TYP, &payload)?,
        &disclosures,
    ))
}

/// Appends a key-binding hop signed by `signer` (the key the previous hop's `cnf` names: ES256,
/// or an agent's Ed25519 key through [`Ed25519Signer`]) to
/// `chain`, the presentation so far, ending in `~`. `aud`, `nonce` and `iat` are set here; other
/// claims (`exp`) come from `content.claims`. `delegated_onward` marks an intermediate hop
/// (`typ` `kb+sd-jwt+kb`).
#[allow(clippy::too_many_arguments)]
pub fn append_hop(
    chain: &str,
    signer: &dyn JwsSigner,
    binding: Binding,
    aud: &str,
    nonce: &str,
    iat: i64,
    delegated_onward: bool,
    content: &HopContent,
    salt: &mut dyn FnMut() -> Result<[u8; SALT_BYTES], Ap2Error>,
) -> Result<String, Ap2Error> {
    let parsed = crate::parse_chain(chain)?;
    let prev = parsed
        .hops
        .last()
        .ok_or_else(|| issue_err("there is no hop to bind to"))?;
    let mut content = content.clone();
    let (name, covered) = match binding {
        Binding::SdHash => ("sd_hash", prev.text),
        Binding::IssuerJwtHash => ("issuer_jwt_hash", prev.jwt),
    };
    for (k, v) in [
        ("iat", json!(iat)),
        ("aud", json!(aud)),
        ("nonce", json!(nonce)),
        (name, json!(sd_digest(covered))),
    ] {
        content.claims.insert(k.into(), v);
    }
    let (payload, disclosures) = build(&content, Vec::new(), salt)?;
    let typ = if delegated_onward {
        "kb+sd-jwt+kb"
    } else {
        "kb+sd-jwt"
    };
    Ok(format!(
        "{chain}~{}",
        presentation(signer.sign_jwt(typ, &payload)?, &disclosures)
    ))
}
