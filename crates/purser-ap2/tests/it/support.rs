use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use purser_ap2::{PublicJwk, VerifyOptions};
use purser_core::Timestamp;
use serde_json::Value;

/// `iat` of every key-binding hop in the AP2 vector file.
pub const VECTOR_IAT: i64 = 1_785_268_602;

pub fn vectors() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/ap2/delegate_sd_jwt_vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("AP2 vector file");
    let file: Value = serde_json::from_str(&text).expect("vector JSON");
    file["vectors"].as_array().expect("vectors array").clone()
}

pub fn vector(id: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

pub fn compact(v: &Value) -> String {
    v["compact_serialization"]
        .as_str()
        .expect("compact")
        .to_owned()
}

/// Options as the vector's verifier: its root key, aud and nonce, `now` just after the vectors' iat.
pub fn options(v: &Value) -> VerifyOptions {
    let key = PublicJwk::from_jwk(&v["root_public_jwk"]).expect("root jwk");
    let mut o = VerifyOptions::new(key, Timestamp((VECTOR_IAT + 10) * 1000));
    if let Some(aud) = v["verification"]["expected_aud"].as_str() {
        o = o.audience(aud);
    }
    if let Some(nonce) = v["verification"]["expected_nonce"].as_str() {
        o = o.nonce(nonce);
    }
    o
}

pub fn b64d(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("b64")
}

pub fn b64e(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Splits a chain into hop strings (each `jwt~d~…~`), the inverse of `join`.
pub fn split(chain: &str) -> Vec<String> {
    let segs: Vec<&str> = chain.split("~~").collect();
    let n = segs.len();
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            if i + 1 < n {
                format!("{s}~")
            } else {
                (*s).to_owned()
            }
        })
        .collect()
}

pub fn join(hops: &[String]) -> String {
    hops.join("~")
}

/// (jwt, disclosures) of one hop string.
pub fn parts(hop: &str) -> (String, Vec<String>) {
    let body = hop.strip_suffix('~').expect("hop ends with ~");
    let mut it = body.split('~');
    let jwt = it.next().expect("jwt").to_owned();
    (jwt, it.map(str::to_owned).collect())
}

pub fn unparts(jwt: &str, disclosures: &[String]) -> String {
    let mut s = jwt.to_owned();
    s.push('~');
    for d in disclosures {
        s.push_str(d);
        s.push('~');
    }
    s
}
