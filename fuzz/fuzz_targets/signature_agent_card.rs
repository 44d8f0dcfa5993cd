//! Web Bot Auth discovery documents an agent points Purser at: Signature Agent Cards (JSON),
//! card registries (text), Signature-Agent header values, and the JWKs inside them.
//!
//! Input: a first line choosing the reader (`card <url>`, `registry`, `header`, `jwk`), then
//! the document. Any other first line feeds the whole input to every reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::httpsig::{
    parse_card_registry, parse_signature_agent, Ed25519PublicKey, SignatureAgentCard,
    MAX_REGISTRY_ENTRIES,
};
use purser_fuzz::first_line;

fn card(url: &str, doc: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(doc) else {
        return;
    };
    if let Err(e) = SignatureAgentCard::parse(url, &v) {
        let _ = e.to_string();
    }
    if let Ok(k) = Ed25519PublicKey::from_jwk(&v) {
        // A key read from a JWK writes back to the same key.
        let again = Ed25519PublicKey::from_jwk(&k.to_jwk()).expect("our own JWK reads");
        assert_eq!(again.as_bytes(), k.as_bytes());
        let _ = k.thumbprint();
    }
}

fn registry(doc: &[u8]) {
    if let Ok(text) = std::str::from_utf8(doc) {
        if let Ok(urls) = parse_card_registry(text) {
            assert!(urls.len() <= MAX_REGISTRY_ENTRIES);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (line, doc) = first_line(data);
    let line = String::from_utf8_lossy(line);
    let mut words = line.splitn(2, ' ');
    match words.next() {
        Some("card") => card(words.next().unwrap_or(""), doc),
        Some("jwk") => card("", doc),
        Some("registry") => registry(doc),
        Some("header") => {
            let _ = parse_signature_agent(doc);
        }
        _ => {
            card("https://example.com/bot", data);
            registry(data);
            let _ = parse_signature_agent(data);
        }
    }
});
