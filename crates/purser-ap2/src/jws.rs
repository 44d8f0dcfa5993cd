//! Compact JWS: split, decode, check the header, verify the signature.

use serde_json::{Map, Value};

use crate::encoding::b64url_decode;
use crate::error::Ap2Error;
use crate::jwk::{Algorithm, PublicJwk};

/// A compact JWS split into its parts, header and payload decoded but nothing verified yet.
#[derive(Clone, Debug)]
pub(crate) struct CompactJws<'a> {
    /// `header.payload` exactly as received: the signing input.
    pub signing_input: &'a str,
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    pub signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    pub(crate) fn parse(token: &'a str, hop: usize) -> Result<CompactJws<'a>, Ap2Error> {
        let bad = |r: &str| Ap2Error::malformed(Some(hop), r);
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("the JWT does not have exactly three parts"));
        };
        let signing_input = token
            .get(..h.len() + 1 + p.len())
            .ok_or_else(|| bad("the JWT could not be split"))?;
        let header =
            decode_object(h).ok_or_else(|| bad("the JWT header is not a base64url JSON object"))?;
        let payload = decode_object(p)
            .ok_or_else(|| bad("the JWT payload is not a base64url JSON object"))?;
        let signature =
            b64url_decode(s).ok_or_else(|| bad("the JWT signature is not base64url"))?;
        Ok(CompactJws {
            signing_input,
            header,
            payload,
            signature,
        })
    }

    /// Checks `alg` against the key and the allowed algorithms, refuses `crit`, verifies.
    pub(crate) fn verify(
        &self,
        key: &PublicJwk,
        allow_eddsa: bool,
        hop: usize,
    ) -> Result<(), Ap2Error> {
        let alg = self
            .header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| Ap2Error::malformed(Some(hop), "the JWT header has no alg"))?;
        let allowed = match key.algorithm() {
            Algorithm::Es256 => true,
            Algorithm::EdDsa => allow_eddsa,
        };
        if alg != key.algorithm().jose_name() || !allowed {
            return Err(Ap2Error::UnsupportedAlgorithm {
                hop,
                alg: alg.chars().take(16).collect(),
            });
        }
        if self.header.contains_key("crit") {
            return Err(Ap2Error::malformed(
                Some(hop),
                "the JWT header names critical extensions this verifier does not implement",
            ));
        }
        if key.verify(self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(Ap2Error::InvalidSignature { hop })
        }
    }
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = b64url_decode(part)?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}
