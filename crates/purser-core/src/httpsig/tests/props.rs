//! Property tests: hostile input never panics, parsing and serialisation agree, and every
//! signed request verifies until a byte of it changes.

use super::*;
use proptest::prelude::*;

/// Roughly Signature-Input-shaped text, to reach past the first syntax check.
const SIG_INPUT_LIKE: &str = "[a-z*][a-zA-Z0-9_-]{0,6}=\\((\"[@a-zA-Z -]{0,14}\"(;[a-z]{1,4}=\"[a-z0-9]{0,4}\")? ?){0,6}\\)(;[a-zA-Z]{1,8}(=(\"[ -~]{0,12}\"|-?[0-9]{1,16}(\\.[0-9]{1,4})?|\\?[01]|[a-z]{1,5}|:[A-Za-z0-9+/=]{0,12}:))?){0,8}( ?, ?[a-z]{1,3}=\\(\\))?";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sfv_parsers_never_panic(s in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = sfv::parse_dictionary(s.as_bytes());
        let _ = sfv::parse_item(s.as_bytes());
        let _ = sfv::parse_dictionary(&bytes);
        let _ = sfv::parse_item(&bytes);
    }

    #[test]
    fn sfv_round_trips(s in SIG_INPUT_LIKE) {
        if let Ok(d) = sfv::parse_dictionary(s.as_bytes()) {
            let written: Vec<String> = d.0.iter()
                .map(|(k, m)| sfv::serialize_dict_member(k, m).unwrap())
                .collect();
            let again = sfv::parse_dictionary(written.join(", ").as_bytes()).unwrap();
            prop_assert_eq!(again, d);
        }
    }

    #[test]
    fn header_parsers_never_panic(s in "\\PC{0,200}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_signature_agent(&s);
        let _ = verify_content_digest(s.as_bytes(), &body);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
            let _ = Ed25519PublicKey::from_jwk(&v);
            let _ = Ed25519KeyPair::from_private_jwk(&v);
            let _ = SignatureAgentCard::parse("https://x.test", &v);
        }
        let _ = parse_card_registry(&s);
    }

    #[test]
    fn parse_request_never_panics(
        input in prop_oneof![Just(None), "\\PC{0,120}".prop_map(Some), SIG_INPUT_LIKE.prop_map(Some)],
        sig in prop_oneof![Just(None), "\\PC{0,120}".prop_map(Some), "[a-z]{1,4}=:[A-Za-z0-9+/]{0,90}={0,2}:".prop_map(Some)],
        agent in prop_oneof![Just(None), "\\PC{0,60}".prop_map(Some)],
        digest in prop_oneof![Just(None), "\\PC{0,60}".prop_map(Some)],
        method in "\\PC{0,8}",
        authority in "\\PC{0,20}",
        path in "\\PC{0,20}",
        query in proptest::option::of("\\PC{0,20}"),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
        now in any::<i64>(),
        lenient in any::<bool>(),
    ) {
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in [("Signature-Input", input), ("Signature", sig), ("Signature-Agent", agent), ("Content-Digest", digest)] {
            if let Some(v) = value {
                headers.push((name.into(), v));
            }
        }
        let req = RequestParts {
            method: &method,
            scheme: None,
            authority: &authority,
            path: &path,
            query: query.as_deref(),
            headers: &headers,
        };
        let policy = if lenient {
            Policy { max_window_secs: i64::MAX, clock_skew_secs: i64::MAX, require_tag: false, require_method_path_query: false }
        } else {
            Policy::default()
        };
        if let Ok(signed) = parse_request(&req, body.as_deref(), &policy, Timestamp(now)) {
            // Nothing random can carry a valid signature.
            prop_assert!(signed.verify(&test_key().public_key()).is_err());
        }
        if let Err(e) = parse_request(&req, body.as_deref(), &policy, Timestamp(now)) {
            prop_assert!(!e.code().is_empty());
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn signed_requests_verify_until_changed(
        method in "(GET|POST|PUT|DELETE|PATCH)",
        path in "/[a-zA-Z0-9/_.~%-]{0,30}",
        query in proptest::option::of("[a-zA-Z0-9=&_.%-]{1,30}"),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..64)),
        nonce in "[ -~]{1,64}",
        flip in any::<prop::sample::Index>(),
        age in 0i64..300,
    ) {
        let key = test_key();
        let req = TestRequest {
            method,
            authority: "api.purser.test".into(),
            path,
            query,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body,
        }
        .signed_with(&key, &SignParams::new(CREATED, nonce.clone()));
        let now = Timestamp((CREATED + age) * 1000);
        let signed = req.check(&Policy::default(), now).unwrap();
        prop_assert_eq!(&signed.nonce, &nonce);
        signed.verify(&key.public_key()).unwrap();

        if let Some(body) = &req.body {
            let mut changed = req.clone();
            let mut b = body.clone();
            let i = flip.index(b.len());
            b[i] ^= 1;
            changed.body = Some(b);
            prop_assert_eq!(code(changed.check(&Policy::default(), now)), "content_digest_mismatch");
        }
        let mut changed = req.clone();
        changed.path.push('x');
        let signed = changed.check(&Policy::default(), now).unwrap();
        prop_assert_eq!(code(signed.verify(&key.public_key())), "signature_invalid");
    }
}
