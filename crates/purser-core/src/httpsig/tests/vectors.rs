//! Published vectors: Web Bot Auth (architecture v1/v2, Signature-Agent, agent cards,
//! registry), RFC 9421 Appendix B.2.6, RFC 9530, RFC 8037 Appendix A.3.

use super::*;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/vectors/web-bot-auth/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Splits `https://host/path?query` (all the vectors use).
fn split_url(url: &str) -> (&str, &str, &str, Option<&str>) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    (scheme, authority, path, query)
}

/// The Web Bot Auth minimum: `@authority` only, windows up to the vectors' hundred years.
fn vector_policy() -> Policy {
    Policy {
        max_window_secs: i64::MAX,
        require_method_path_query: false,
        ..Policy::default()
    }
}

#[test]
fn web_bot_auth_architecture_vectors() {
    let mut ed25519 = 0;
    let mut rsa_skipped = 0;
    for file in [
        "web_bot_auth_architecture_v1.json",
        "web_bot_auth_architecture_v2.json",
    ] {
        for case in load(file).as_array().unwrap() {
            let key = &case["key"];
            match key["kty"].as_str().unwrap() {
                "RSA" => {
                    rsa_skipped += 1;
                    continue;
                }
                "OKP" => ed25519 += 1,
                other => panic!("{file}: unexpected kty {other}"),
            }
            let what = format!("{file} {}", case["label"]);
            // The vectors carry the private key; a public-key reader must refuse that.
            assert_eq!(
                Ed25519PublicKey::from_jwk(key),
                Err(KeyError::PrivateMember { member: "d" })
            );
            let pair = Ed25519KeyPair::from_private_jwk(key).unwrap();
            let public = pair.public_key();

            let url = case["target_url"].as_str().unwrap();
            let (scheme, authority, path, query) = split_url(url);
            let mut headers: Vec<(String, String)> = vec![
                (
                    "Signature-Input".into(),
                    case["signature_input"].as_str().unwrap().into(),
                ),
                (
                    "Signature".into(),
                    case["signature"].as_str().unwrap().into(),
                ),
            ];
            if let Some(agent) = case["signature_agent"].as_str() {
                headers.push(("Signature-Agent".into(), agent.into()));
            }
            let req = RequestParts {
                method: "GET",
                scheme: Some(scheme),
                authority,
                path,
                query,
                headers: &headers,
            };
            let created_ms = case["created_ms"].as_i64().unwrap();
            let expires_ms = case["expires_ms"].as_i64().unwrap();
            let now = Timestamp(created_ms);

            let signed = parse_request(&req, None, &vector_policy(), now)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            signed
                .verify(&public)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(signed.label, case["label"].as_str().unwrap(), "{what}");
            assert_eq!(signed.nonce, case["nonce"].as_str().unwrap(), "{what}");
            assert_eq!(signed.created_at(), Timestamp(created_ms), "{what}");
            assert_eq!(signed.expires_at(), Timestamp(expires_ms), "{what}");
            assert_eq!(signed.tag.as_deref(), Some("web-bot-auth"), "{what}");
            // keyid is the RFC 7638 thumbprint of the key.
            assert_eq!(signed.keyid, public.thumbprint(), "{what}");
            // Ed25519 is deterministic: signing the rebuilt base reproduces the vector.
            assert_eq!(pair.sign(&signed.base).unwrap(), signed.signature, "{what}");
            if let Some(agent_key) = case["signature_agent_key"].as_str() {
                assert_eq!(
                    signed.components,
                    vec![
                        "@authority".to_string(),
                        format!("signature-agent;key=\"{agent_key}\"")
                    ]
                );
                assert_eq!(signed.signature_agent[0].label.as_deref(), Some(agent_key));
            }
            if case.get("signature_agent").is_some() {
                assert_eq!(
                    signed.signature_agent[0].uri, "https://signature-agent.test",
                    "{what}"
                );
            }

            // Another key does not verify it.
            let other = Ed25519KeyPair::from_seed(&[1; 32]).unwrap().public_key();
            assert_eq!(code(signed.verify(&other)), "signature_invalid");
            // Under Purser's own policy these vectors are refused: they cover only
            // @authority and are valid for an hour or more.
            let strict = parse_request(&req, None, &Policy::default(), now);
            assert_eq!(code(strict), "signature_window_too_long", "{what}");
            let strict_window = Policy {
                max_window_secs: i64::MAX,
                ..Policy::default()
            };
            let e = parse_request(&req, None, &strict_window, now).unwrap_err();
            assert_eq!(e.code(), "signature_incomplete", "{what}");
            assert!(e.to_string().contains("@method"), "{e}");
        }
    }
    assert_eq!(
        rsa_skipped, 4,
        "RSA cases skipped (Purser verifies Ed25519 only)"
    );
    assert_eq!(ed25519, 4, "Ed25519 cases run");
}

#[test]
fn web_bot_auth_vectors_fail_when_tampered() {
    for case in load("web_bot_auth_architecture_v2.json")
        .as_array()
        .unwrap()
    {
        if case["key"]["kty"] != "OKP" {
            continue;
        }
        let public = Ed25519KeyPair::from_private_jwk(&case["key"])
            .unwrap()
            .public_key();
        let mut headers: Vec<(String, String)> = vec![
            (
                "Signature-Input".into(),
                case["signature_input"].as_str().unwrap().into(),
            ),
            (
                "Signature".into(),
                case["signature"].as_str().unwrap().into(),
            ),
        ];
        if let Some(agent) = case["signature_agent"].as_str() {
            headers.push((
                "Signature-Agent".into(),
                agent.replace("signature-agent.test", "evil.test"),
            ));
        }
        let req = RequestParts {
            method: "GET",
            scheme: Some("https"),
            authority: "example.org",
            path: "/",
            query: None,
            headers: &headers,
        };
        let now = Timestamp(case["created_ms"].as_i64().unwrap());
        let signed = parse_request(&req, None, &vector_policy(), now).unwrap();
        assert_eq!(code(signed.verify(&public)), "signature_invalid");
    }
}

#[test]
fn signature_agent_vectors() {
    for case in load("web_bot_auth_signature_agent_v1.json")
        .as_array()
        .unwrap()
    {
        let name = case["name"].as_str().unwrap();
        let entries = parse_signature_agent(case["header"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = case["entries"].as_array().unwrap();
        assert_eq!(entries.len(), expected.len(), "{name}");
        for (got, want) in entries.iter().zip(expected) {
            assert_eq!(got.label.as_deref(), want["label"].as_str(), "{name}");
            assert_eq!(got.uri, want["uri"].as_str().unwrap(), "{name}");
            assert_eq!(got.kind.as_str(), want["type"].as_str().unwrap(), "{name}");
        }
    }
}

#[test]
fn signature_agent_forms_and_refusals() {
    // The legacy single-string form (architecture v1 vectors).
    let legacy = parse_signature_agent("\"https://signature-agent.test\"").unwrap();
    assert_eq!(
        legacy,
        vec![SignatureAgentEntry {
            label: None,
            uri: "https://signature-agent.test".into(),
            kind: SignatureAgentType::Directory,
        }]
    );
    let two = parse_signature_agent(
        "a=\"https://a.test\";type=cimd, b=\"https://b.test/jwks\";type=\"jwks_uri\"",
    )
    .unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[1].kind, SignatureAgentType::JwksUri);
    for bad in [
        "",
        "sig1=https",
        "sig1=\"ftp://x.test\"",
        "sig1=\"https://x.test\";type=unknown",
        "sig1=(\"https://x.test\")",
        "sig1=\"https://x.test\";type=1",
        "\"https://x.test\" junk",
    ] {
        assert_eq!(
            code(parse_signature_agent(bad)),
            "signature_malformed",
            "{bad:?}"
        );
    }
}

#[test]
fn signature_agent_card_vectors() {
    let cases = load("web_bot_auth_signature_agent_card_v1.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let url = case["url"].as_str().unwrap();
        let parsed = SignatureAgentCard::parse(url, &case["card"]);
        if case["valid"].as_bool().unwrap() {
            let card = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(card.client_id, url);
        } else {
            let e = parsed.expect_err(name);
            assert_eq!(e.to_string(), case["error"].as_str().unwrap(), "{name}");
        }
    }
    // The two valid cards, in detail.
    let card = SignatureAgentCard::parse(url_of(&cases[0]), &cases[0]["card"]).unwrap();
    assert_eq!(
        card.keys,
        CardKeys::JwksUri(
            "https://example.com/.well-known/http-message-signatures-directory".into()
        )
    );
    assert_eq!(card.contacts, vec!["mailto:bot-support@example.com"]);
    let wba = card.web_bot_auth.unwrap();
    assert_eq!(wba.rfc9309_product_token.as_deref(), Some("ExampleBot"));
    assert_eq!(wba.ips_uri.as_deref(), Some("https://example.com/ips.json"));
    let card = SignatureAgentCard::parse(url_of(&cases[1]), &cases[1]["card"]).unwrap();
    let CardKeys::Jwks(keys) = card.keys else {
        panic!("inline jwks expected")
    };
    assert_eq!(keys.len(), 1);
    // The RFC 9421 test key, whose thumbprint the architecture vectors use as keyid.
    assert_eq!(
        keys[0].thumbprint(),
        "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
    );
}

fn url_of(case: &Value) -> &str {
    case["url"].as_str().unwrap()
}

#[test]
fn signature_agent_card_refusals() {
    let url = "https://example.com/bot";
    let x = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
    let cases = [
        (serde_json::json!([]), "card must be a JSON object"),
        (
            serde_json::json!({"jwks_uri": "https://example.com/j"}),
            "card must have a client_id string",
        ),
        (
            serde_json::json!({"client_id": url}),
            "card must contain jwks or jwks_uri",
        ),
        (
            serde_json::json!({"client_id": url, "jwks_uri": "http://example.com/j"}),
            "jwks_uri must be an https URL",
        ),
        (
            serde_json::json!({"client_id": url, "jwks": {"keys": []}}),
            "jwks contains no Ed25519 key",
        ),
        (
            serde_json::json!({"client_id": url, "jwks": {"keys": [
                {"kty": "OKP", "crv": "Ed25519", "x": x, "d": x}]}}),
            "jwks key 0 contains the private member \"d\"",
        ),
        (
            serde_json::json!({"client_id": url, "jwks_uri": "https://e.com/j", "contacts": "a"}),
            "contacts must be an array of strings",
        ),
    ];
    for (card, want) in cases {
        assert_eq!(
            SignatureAgentCard::parse(url, &card)
                .unwrap_err()
                .to_string(),
            want
        );
    }
    // Keys of other types are skipped, not fatal.
    let mixed = serde_json::json!({"client_id": url, "jwks": {"keys": [
        {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"},
        {"kty": "OKP", "crv": "Ed25519", "x": x}]}});
    let card = SignatureAgentCard::parse(url, &mixed).unwrap();
    assert!(matches!(card.keys, CardKeys::Jwks(ref k) if k.len() == 1));
}

#[test]
fn registry_vectors() {
    for case in load("web_bot_auth_registry_v1.json").as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let got = parse_card_registry(case["registry_txt"].as_str().unwrap()).unwrap();
        let want: Vec<&str> = case["signature_agent_cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    assert!(parse_card_registry("http://insecure.test/card\n").is_err());
}

/// RFC 9421 Appendix B.1.4: test-key-ed25519, PKCS#8.
const RFC9421_ED25519_PKCS8_B64: &str =
    "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
/// RFC 9421 Appendix B.1.4: its public key, SubjectPublicKeyInfo.
const RFC9421_ED25519_SPKI_B64: &str =
    "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

fn rfc9421_key() -> Ed25519KeyPair {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(RFC9421_ED25519_PKCS8_B64)
        .unwrap();
    Ed25519KeyPair::from_pkcs8(&der).unwrap()
}

#[test]
fn rfc9421_b26_ed25519_signature() {
    use base64::Engine;
    let key = rfc9421_key();
    let spki = base64::engine::general_purpose::STANDARD
        .decode(RFC9421_ED25519_SPKI_B64)
        .unwrap();
    // The raw key is the last 32 bytes of the SPKI.
    assert_eq!(key.public_key().as_bytes()[..], spki[spki.len() - 32..]);

    // The RFC's test request (Appendix B.2).
    let headers: Vec<(String, String)> = vec![
        ("Host".into(), "example.com".into()),
        ("Date".into(), "Tue, 20 Apr 2021 02:07:55 GMT".into()),
        ("Content-Type".into(), "application/json".into()),
        (
            "Content-Digest".into(),
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:".into(),
        ),
        ("Content-Length".into(), "18".into()),
        (
            "Signature-Input".into(),
            "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \
             \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
                .into(),
        ),
        (
            "Signature".into(),
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:".into(),
        ),
    ];
    let req = RequestParts {
        method: "POST",
        scheme: Some("https"),
        authority: "example.com",
        path: "/foo",
        query: Some("param=Value&Pet=dog"),
        headers: &headers,
    };
    let input = sfv::parse_dictionary(headers[5].1.as_bytes()).unwrap();
    let sfv::Member::InnerList(covered) = input.get("sig-b26").unwrap() else {
        panic!("inner list expected")
    };
    let base = base::signature_base(&req, covered).unwrap();
    let expected = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
                    \"@method\": POST\n\
                    \"@path\": /foo\n\
                    \"@authority\": example.com\n\
                    \"content-type\": application/json\n\
                    \"content-length\": 18\n\
                    \"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \
                    \"content-type\" \"content-length\");created=1618884473\
                    ;keyid=\"test-key-ed25519\"";
    assert_eq!(String::from_utf8(base.clone()).unwrap(), expected);

    let published = base64::engine::general_purpose::STANDARD
        .decode("wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==")
        .unwrap();
    assert_eq!(key.sign(&base).unwrap().to_vec(), published);
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &spki[12..])
        .verify(&base, &published)
        .unwrap();

    // The body's digest in that request is the RFC's own sha-512 value.
    verify_content_digest(headers[3].1.as_bytes(), br#"{"hello": "world"}"#).unwrap();

    // Purser refuses this RFC example as a request: no tag, no expires, no nonce, no @query.
    let e = parse_request(&req, None, &Policy::default(), Timestamp(1618884473000));
    assert_eq!(code(e), "signature_tag_unsupported");
    let lenient = Policy {
        require_tag: false,
        ..Policy::default()
    };
    let e = parse_request(&req, None, &lenient, Timestamp(1618884473000)).unwrap_err();
    assert_eq!(e.code(), "signature_incomplete");
    assert!(e.to_string().contains("expires"), "{e}");
}

#[test]
fn rfc9421_key_is_the_web_bot_auth_vector_key() {
    let vectors = load("web_bot_auth_architecture_v1.json");
    let jwk = &vectors[2]["key"];
    let from_jwk = Ed25519KeyPair::from_private_jwk(jwk).unwrap();
    assert_eq!(from_jwk.public_key(), rfc9421_key().public_key());
}

#[test]
fn rfc9530_content_digest_examples() {
    // RFC 9530 §2 / Appendix B: the digests of {"hello": "world"}.
    let body = br#"{"hello": "world"}"#;
    assert_eq!(
        content_digest(body),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    verify_content_digest(
        b"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        body,
    )
    .unwrap();
    // Both present: both must match.
    let both = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:, \
                sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
    verify_content_digest(both.as_bytes(), body).unwrap();
    let one_wrong = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:, \
                     sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:";
    assert_eq!(
        code(verify_content_digest(one_wrong.as_bytes(), body)),
        "content_digest_mismatch"
    );
    assert_eq!(
        code(verify_content_digest(b"md5=:AAAA:", body)),
        "content_digest_missing"
    );
    assert_eq!(
        code(verify_content_digest(b"sha-256=\"abc\"", body)),
        "content_digest_mismatch"
    );
    assert_eq!(
        code(verify_content_digest(b"sha-256=:::", body)),
        "content_digest_mismatch"
    );
}

#[test]
fn rfc8037_a3_thumbprint() {
    let jwk = serde_json::json!({"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let key = Ed25519PublicKey::from_jwk(&jwk).unwrap();
    assert_eq!(
        key.thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    assert_eq!(key.to_jwk(), jwk);
}
