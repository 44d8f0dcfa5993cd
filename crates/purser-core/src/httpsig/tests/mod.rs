//! Tests for `httpsig`: published vectors (RFC 9421, RFC 8037, Web Bot Auth), every refusal,
//! and property tests that feed hostile input to the parsers.

// Tests may panic on what they did not expect: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod keys;
mod props;
mod refusals;
mod sfv_cases;
mod vectors;

use super::*;
use crate::time::Timestamp;

/// A request under test, owning everything `RequestParts` borrows.
#[derive(Clone, Debug)]
pub(super) struct TestRequest {
    pub method: String,
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl TestRequest {
    pub fn get(path: &str) -> TestRequest {
        TestRequest {
            method: "GET".into(),
            authority: "api.purser.test".into(),
            path: path.into(),
            query: None,
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
        }
    }

    pub fn post(path: &str, body: &str) -> TestRequest {
        TestRequest {
            method: "POST".into(),
            body: Some(body.as_bytes().to_vec()),
            headers: vec![("Content-Type".into(), "application/json".into())],
            ..TestRequest::get(path)
        }
    }

    pub fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            scheme: Some("https"),
            authority: &self.authority,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Signs with `params` and adds the resulting headers.
    pub fn signed_with(mut self, key: &Ed25519KeyPair, params: &SignParams) -> TestRequest {
        let h = sign_request(key, &self.parts(), self.body.as_deref(), params).unwrap();
        if let Some(d) = &h.content_digest {
            self.set_header("Content-Digest", d);
        }
        self.set_header("Signature-Input", &h.signature_input);
        self.set_header("Signature", &h.signature);
        self
    }

    pub fn signed(self, key: &Ed25519KeyPair) -> TestRequest {
        self.signed_with(key, &SignParams::new(CREATED, "bm9uY2Utb25l"))
    }

    /// Signs an arbitrary Signature-Input member (`label=(…);…`) over this request, as a
    /// careless or hostile signer could, and sets both headers.
    pub fn signed_raw(mut self, key: &Ed25519KeyPair, signature_input: &str) -> TestRequest {
        let dict = sfv::parse_dictionary(signature_input.as_bytes()).unwrap();
        let (label, member) = dict.0.first().unwrap().clone();
        let sfv::Member::InnerList(list) = member else {
            panic!("not an inner list")
        };
        let base = base::signature_base(&self.parts(), &list).unwrap();
        let sig = key.sign(&base).unwrap();
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(sig)
        };
        self.set_header("Signature-Input", signature_input);
        self.set_header("Signature", &format!("{label}=:{b64}:"));
        self
    }

    pub fn check(&self, policy: &Policy, now: Timestamp) -> Result<SignedRequest, SigError> {
        parse_request(&self.parts(), self.body.as_deref(), policy, now)
    }

    /// parse_request under Purser's policy just after CREATED, then verify with `key`.
    pub fn verify_with(&self, key: &Ed25519PublicKey) -> Result<SignedRequest, SigError> {
        let signed = self.check(&Policy::default(), NOW)?;
        signed.verify(key)?;
        Ok(signed)
    }
}

/// 2026-09-21T… : a fixed signing time for tests.
pub(super) const CREATED: i64 = 1_790_000_000;
/// Two seconds after CREATED.
pub(super) const NOW: Timestamp = Timestamp((CREATED + 2) * 1000);

pub(super) fn test_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed(&[7u8; 32]).unwrap()
}

pub(super) fn code<T: std::fmt::Debug>(r: Result<T, SigError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.code(),
    }
}
