//! Round trips, and every way a request can be refused.

use super::*;

fn payment() -> TestRequest {
    let mut r = TestRequest::post("/v1/payments", r#"{"amount":"12.00 USD"}"#);
    r.query = Some("idempotency=abc&x=1".into());
    r
}

/// A Signature-Input member with every parameter Purser wants, over `components`, plus
/// `extra` parameters.
fn input(components: &str, extra: &str) -> String {
    format!(
        "sig1=({components});created={CREATED};expires={};keyid=\"k\";nonce=\"n1\"{extra}",
        CREATED + 300
    )
}

const GET_COMPONENTS: &str = "\"@method\" \"@authority\" \"@path\"";

#[test]
fn sign_then_verify_round_trips() {
    let key = test_key();
    let req = payment()
        .header(
            "Signature-Agent",
            "sig1=\"https://agent.example/card\";type=cimd",
        )
        .signed(&key);
    let signed = req.verify_with(&key.public_key()).unwrap();
    assert_eq!(signed.label, "sig1");
    assert_eq!(signed.keyid, key.key_id());
    assert_eq!(signed.nonce, "bm9uY2Utb25l");
    assert_eq!(signed.created, CREATED);
    assert_eq!(signed.expires, CREATED + DEFAULT_SIGNATURE_LIFETIME_SECS);
    assert_eq!(signed.tag.as_deref(), Some("web-bot-auth"));
    assert_eq!(
        signed.components,
        [
            "@method",
            "@authority",
            "@path",
            "@query",
            "content-digest",
            "signature-agent"
        ]
    );
    assert_eq!(signed.signature_agent[0].kind, SignatureAgentType::Cimd);
    let base = String::from_utf8(signed.base).unwrap();
    assert!(base.starts_with(
        "\"@method\": POST\n\"@authority\": api.purser.test\n\"@path\": /v1/payments\n\
         \"@query\": ?idempotency=abc&x=1\n\"content-digest\": sha-256=:"
    ));
}

#[test]
fn signature_input_has_the_documented_shape() {
    let key = test_key();
    let req = payment();
    let h = sign_request(
        &key,
        &req.parts(),
        req.body.as_deref(),
        &SignParams::new(CREATED, "abc"),
    )
    .unwrap();
    assert_eq!(
        h.signature_input,
        format!(
            "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-digest\")\
             ;created={CREATED};expires={};keyid=\"{}\";alg=\"ed25519\";nonce=\"abc\"\
             ;tag=\"web-bot-auth\"",
            CREATED + 300,
            key.key_id()
        )
    );
    assert_eq!(
        h.content_digest.as_deref(),
        Some(content_digest(req.body.as_deref().unwrap()).as_str())
    );
    assert!(h.signature.starts_with("sig1=:") && h.signature.ends_with(':'));
    // A GET with no body and no query covers only the three.
    let get = TestRequest::get("/v1/balance");
    let h = sign_request(&key, &get.parts(), None, &SignParams::new(CREATED, "abc")).unwrap();
    assert!(h
        .signature_input
        .starts_with("sig1=(\"@method\" \"@authority\" \"@path\");"));
    assert_eq!(h.content_digest, None);
}

#[test]
fn other_tags_labels_and_extra_components_round_trip() {
    let key = test_key();
    let params = SignParams {
        tag: "agent-payer-auth",
        label: "purser",
        extra_components: vec!["Content-Type".into(), "@target-uri".into()],
        ..SignParams::new(CREATED, "n")
    };
    let signed = payment()
        .signed_with(&key, &params)
        .verify_with(&key.public_key())
        .unwrap();
    assert_eq!(signed.label, "purser");
    assert_eq!(signed.tag.as_deref(), Some("agent-payer-auth"));
    assert!(signed.components.contains(&"content-type".to_string()));
    let base = String::from_utf8(signed.base).unwrap();
    assert!(
        base.contains("\"@target-uri\": https://api.purser.test/v1/payments?idempotency=abc&x=1\n")
    );
}

#[test]
fn wrong_key_is_invalid() {
    let key = test_key();
    let other = Ed25519KeyPair::generate().unwrap();
    let req = payment().signed(&key);
    assert_eq!(
        code(req.verify_with(&other.public_key())),
        "signature_invalid"
    );
}

#[test]
fn changed_method_path_query_or_authority_is_invalid() {
    let key = test_key();
    let pk = key.public_key();
    let signed = payment().signed(&key);

    let mut r = signed.clone();
    r.method = "PUT".into();
    assert_eq!(code(r.verify_with(&pk)), "signature_invalid");

    let mut r = signed.clone();
    r.path = "/v1/payments/other".into();
    assert_eq!(code(r.verify_with(&pk)), "signature_invalid");

    let mut r = signed.clone();
    r.query = Some("idempotency=abc&x=2".into());
    assert_eq!(code(r.verify_with(&pk)), "signature_invalid");

    let mut r = signed.clone();
    r.authority = "evil.test".into();
    assert_eq!(code(r.verify_with(&pk)), "signature_invalid");

    // Case and default port do not matter for @authority.
    let mut r = signed.clone();
    r.authority = "API.Purser.test:443".into();
    r.verify_with(&pk).unwrap();

    // A query added to a request signed without one: @query is then required.
    let mut r = TestRequest::get("/v1/balance").signed(&key);
    r.query = Some("as=admin".into());
    let e = r.verify_with(&pk).unwrap_err();
    assert_eq!(e.code(), "signature_incomplete");
    assert!(e.to_string().contains("@query"), "{e}");
}

#[test]
fn changed_body_is_a_digest_mismatch() {
    let key = test_key();
    let mut r = payment().signed(&key);
    r.body = Some(br#"{"amount":"9999.00 USD"}"#.to_vec());
    assert_eq!(
        code(r.verify_with(&key.public_key())),
        "content_digest_mismatch"
    );

    // The body digest recomputed by an attacker: the signature then fails.
    let digest = content_digest(r.body.as_deref().unwrap());
    r.set_header("Content-Digest", &digest);
    assert_eq!(code(r.verify_with(&key.public_key())), "signature_invalid");
}

#[test]
fn body_without_content_digest() {
    let key = test_key();
    let mut r = payment().signed(&key);
    r.remove_header("Content-Digest");
    assert_eq!(
        code(r.verify_with(&key.public_key())),
        "content_digest_missing"
    );

    // Signed bodiless, then a body attached: content-digest is not covered.
    let mut r = TestRequest::get("/v1/x").signed(&key);
    r.body = Some(b"{}".to_vec());
    r.set_header("Content-Digest", &content_digest(b"{}"));
    let e = r.verify_with(&key.public_key()).unwrap_err();
    assert_eq!(e.code(), "signature_incomplete");
    assert!(e.to_string().contains("content-digest"), "{e}");
}

#[test]
fn changed_covered_header_is_invalid() {
    let key = test_key();
    let params = SignParams {
        extra_components: vec!["x-purser-mandate".into()],
        ..SignParams::new(CREATED, "n")
    };
    let mut r = payment()
        .header("X-Purser-Mandate", "mdt_1")
        .signed_with(&key, &params);
    r.verify_with(&key.public_key()).unwrap();
    r.set_header("X-Purser-Mandate", "mdt_2");
    assert_eq!(code(r.verify_with(&key.public_key())), "signature_invalid");
    // Removed altogether.
    r.remove_header("X-Purser-Mandate");
    let e = r.verify_with(&key.public_key()).unwrap_err();
    assert_eq!(e.code(), "signature_invalid");
    assert!(e.to_string().contains("x-purser-mandate"), "{e}");
}

#[test]
fn freshness_boundaries() {
    let key = test_key();
    let pk = key.public_key();
    let r = TestRequest::get("/v1/x").signed(&key);
    let expires = CREATED + DEFAULT_SIGNATURE_LIFETIME_SECS;
    let policy = Policy::default();

    // Still accepted within the skew after expiry; refused a second later.
    r.check(&policy, Timestamp((expires + CLOCK_SKEW_SECS) * 1000))
        .unwrap()
        .verify(&pk)
        .unwrap();
    let e = r
        .check(&policy, Timestamp((expires + CLOCK_SKEW_SECS + 15) * 1000))
        .unwrap_err();
    assert_eq!(e.code(), "signature_expired");
    assert!(e.to_string().contains(" 75 s ago"), "{e}");
    assert!(e.to_string().contains("2026-09-21T"), "{e}");

    // Created in the future: allowed within the skew, refused beyond.
    r.check(&policy, Timestamp((CREATED - CLOCK_SKEW_SECS) * 1000))
        .unwrap();
    let e = r
        .check(&policy, Timestamp((CREATED - CLOCK_SKEW_SECS - 1) * 1000))
        .unwrap_err();
    assert_eq!(e.code(), "signature_not_yet_valid");
    assert!(e.to_string().contains("61 s in the future"), "{e}");
}

#[test]
fn window_longer_than_eight_minutes() {
    let key = test_key();
    let at = |window: i64| SignParams {
        expires: CREATED + window,
        ..SignParams::new(CREATED, "n")
    };
    TestRequest::get("/")
        .signed_with(&key, &at(MAX_SIGNATURE_WINDOW_SECS))
        .verify_with(&key.public_key())
        .unwrap();
    let e = TestRequest::get("/")
        .signed_with(&key, &at(MAX_SIGNATURE_WINDOW_SECS + 1))
        .verify_with(&key.public_key())
        .unwrap_err();
    assert_eq!(e.code(), "signature_window_too_long");
    assert!(e.to_string().contains("481 s"), "{e}");
}

#[test]
fn missing_parameters_are_incomplete() {
    let key = test_key();
    let pk = key.public_key();
    let c = GET_COMPONENTS;
    let tag = ";tag=\"web-bot-auth\"";
    let cases = [
        (
            format!(
                "sig1=({c});created={CREATED};expires={};keyid=\"k\"{tag}",
                CREATED + 60
            ),
            "nonce",
        ),
        (
            format!(
                "sig1=({c});created={CREATED};expires={};keyid=\"k\";nonce=\"\"{tag}",
                CREATED + 60
            ),
            "nonce",
        ),
        (
            format!(
                "sig1=({c});expires={};keyid=\"k\";nonce=\"n\"{tag}",
                CREATED + 60
            ),
            "created",
        ),
        (
            format!("sig1=({c});created={CREATED};keyid=\"k\";nonce=\"n\"{tag}"),
            "expires",
        ),
        (
            format!(
                "sig1=({c});created={CREATED};expires={};nonce=\"n\"{tag}",
                CREATED + 60
            ),
            "keyid",
        ),
    ];
    for (input, missing) in cases {
        let e = TestRequest::get("/")
            .signed_raw(&key, &input)
            .verify_with(&pk)
            .unwrap_err();
        assert_eq!(e.code(), "signature_incomplete", "{input}");
        assert!(e.to_string().contains(missing), "{input}: {e}");
    }
}

#[test]
fn missing_components_are_incomplete() {
    let key = test_key();
    let tag = ";tag=\"web-bot-auth\"";
    for (components, missing) in [
        ("\"@authority\" \"@path\"", "@method"),
        ("\"@method\" \"@path\"", "@authority"),
        ("\"@method\" \"@authority\"", "@path"),
    ] {
        let e = TestRequest::get("/")
            .signed_raw(&key, &input(components, tag))
            .verify_with(&key.public_key())
            .unwrap_err();
        assert_eq!(e.code(), "signature_incomplete");
        assert!(e.to_string().contains(missing), "{e}");
    }
}

#[test]
fn key_id_spelling_is_accepted() {
    let key = test_key();
    let raw = format!(
        "sig1=({GET_COMPONENTS});created={CREATED};expires={};keyId=\"abc\";nonce=\"n\";tag=\"web-bot-auth\"",
        CREATED + 60
    );
    let signed = TestRequest::get("/")
        .signed_raw(&key, &raw)
        .verify_with(&key.public_key())
        .unwrap();
    assert_eq!(signed.keyid, "abc");
    // The spelling is kept in @signature-params, so the base matches what was signed.
    assert!(String::from_utf8(signed.base)
        .unwrap()
        .contains(";keyId=\"abc\""));

    let both = format!(
        "sig1=({GET_COMPONENTS});created={CREATED};expires={};keyid=\"a\";keyId=\"b\";nonce=\"n\";tag=\"web-bot-auth\"",
        CREATED + 60
    );
    assert_eq!(
        code(
            TestRequest::get("/")
                .signed_raw(&key, &both)
                .verify_with(&key.public_key())
        ),
        "signature_malformed"
    );
}

#[test]
fn tags() {
    let key = test_key();
    let pk = key.public_key();
    let r = |extra: &str| TestRequest::get("/").signed_raw(&key, &input(GET_COMPONENTS, extra));

    for tag in ACCEPTED_TAGS {
        r(&format!(";tag=\"{tag}\"")).verify_with(&pk).unwrap();
    }
    let e = r(";tag=\"something-else\"").verify_with(&pk).unwrap_err();
    assert_eq!(e.code(), "signature_tag_unsupported");
    assert!(e.to_string().contains("something-else"), "{e}");
    // No tag: refused by Purser's policy, accepted when the policy allows it.
    let untagged = r("");
    assert_eq!(code(untagged.verify_with(&pk)), "signature_tag_unsupported");
    let lenient = Policy {
        require_tag: false,
        ..Policy::default()
    };
    untagged.check(&lenient, NOW).unwrap().verify(&pk).unwrap();
    // A tag that is not a string.
    assert_eq!(
        code(r(";tag=web-bot-auth").verify_with(&pk)),
        "signature_malformed"
    );
    // Signing with another tag is refused up front.
    let params = SignParams {
        tag: "other",
        ..SignParams::new(CREATED, "n")
    };
    assert_eq!(
        code(sign_request(
            &key,
            &TestRequest::get("/").parts(),
            None,
            &params
        )),
        "signature_tag_unsupported"
    );
}

#[test]
fn choosing_among_several_signatures() {
    let key = test_key();
    let pk = key.public_key();
    let good = TestRequest::get("/").signed(&key);
    let input = good
        .headers
        .iter()
        .find(|h| h.0 == "Signature-Input")
        .unwrap()
        .1
        .clone();
    let sig = good
        .headers
        .iter()
        .find(|h| h.0 == "Signature")
        .unwrap()
        .1
        .clone();

    // A proxy's signature first, with another tag: the tagged one is chosen.
    let mut r = good.clone();
    r.set_header(
        "Signature-Input",
        &format!("proxy=(\"@authority\");created=1;tag=\"cdn\", {input}"),
    );
    r.set_header("Signature", &format!("proxy=:AAAA:, {sig}"));
    assert_eq!(r.verify_with(&pk).unwrap().label, "sig1");

    // Same, as separate field lines.
    let mut r = good.clone();
    r.remove_header("Signature-Input");
    r.remove_header("Signature");
    r = r
        .header("Signature-Input", "proxy=(\"@authority\");created=1")
        .header("Signature-Input", &input)
        .header("Signature", &sig)
        .header("Signature", "proxy=:AAAA:");
    assert_eq!(r.verify_with(&pk).unwrap().label, "sig1");

    // Several, none tagged for us.
    let mut r = good.clone();
    r.set_header(
        "Signature-Input",
        "a=(\"@authority\");tag=\"x\", b=(\"@authority\")",
    );
    assert_eq!(code(r.verify_with(&pk)), "signature_tag_unsupported");

    // The Signature member for the chosen label is missing.
    let mut r = good.clone();
    r.set_header("Signature", "other=:AAAA:");
    assert_eq!(code(r.verify_with(&pk)), "signature_malformed");
}

#[test]
fn unsigned_signature_agent_is_refused() {
    let key = test_key();
    let pk = key.public_key();
    let r = TestRequest::get("/")
        .signed(&key)
        .header("Signature-Agent", "sig1=\"https://evil.example\"");
    let e = r.verify_with(&pk).unwrap_err();
    assert_eq!(e.code(), "signature_incomplete");
    assert!(e.to_string().contains("signature-agent"), "{e}");

    // Covering one member by ;key leaves a second member unsigned.
    let raw = input(
        &format!("{GET_COMPONENTS} \"signature-agent\";key=\"a\""),
        ";tag=\"web-bot-auth\"",
    );
    let r = TestRequest::get("/")
        .header(
            "Signature-Agent",
            "a=\"https://good.example\", b=\"https://evil.example\"",
        )
        .signed_raw(&key, &raw);
    assert_eq!(code(r.verify_with(&pk)), "signature_incomplete");
    // Covering every member by ;key is enough.
    let r = TestRequest::get("/")
        .header("Signature-Agent", "a=\"https://good.example\"")
        .signed_raw(&key, &raw);
    let signed = r.verify_with(&pk).unwrap();
    assert_eq!(signed.signature_agent[0].uri, "https://good.example");
    // And the signed member cannot be swapped.
    let mut r = r.clone();
    r.set_header("Signature-Agent", "a=\"https://evil.example\"");
    assert_eq!(code(r.verify_with(&pk)), "signature_invalid");
    // An unparseable Signature-Agent is malformed.
    let r = TestRequest::get("/")
        .header("Signature-Agent", "not a dictionary")
        .signed(&key);
    assert_eq!(code(r.verify_with(&pk)), "signature_malformed");
}

#[test]
fn algorithm() {
    let key = test_key();
    let pk = key.public_key();
    let r = |extra: &str| {
        TestRequest::get("/").signed_raw(
            &key,
            &input(GET_COMPONENTS, &format!(";tag=\"web-bot-auth\"{extra}")),
        )
    };
    r(";alg=\"ed25519\"").verify_with(&pk).unwrap();
    let e = r(";alg=\"rsa-pss-sha512\"").verify_with(&pk).unwrap_err();
    assert_eq!(e.code(), "signature_algorithm_unsupported");
    assert!(e.to_string().contains("rsa-pss-sha512"), "{e}");
}

#[test]
fn missing_and_garbage_headers() {
    let key = test_key();
    let pk = key.public_key();
    let unsigned = TestRequest::get("/");
    let e = unsigned.verify_with(&pk).unwrap_err();
    assert_eq!(e.code(), "signature_missing");
    assert_eq!(e.http_status(), 401);

    let signed = TestRequest::get("/").signed(&key);
    let mut r = signed.clone();
    r.remove_header("Signature");
    assert_eq!(code(r.verify_with(&pk)), "signature_missing");
    let mut r = signed.clone();
    r.remove_header("Signature-Input");
    assert_eq!(code(r.verify_with(&pk)), "signature_missing");
    let mut r = signed.clone();
    r.set_header("Signature-Input", "   ");
    assert_eq!(code(r.verify_with(&pk)), "signature_missing");

    let tag = ";tag=\"web-bot-auth\"";
    let cases: Vec<(&str, String)> = vec![
        ("Signature-Input", "sig1=(\"@method\"".into()),
        ("Signature-Input", "sig1=\"not a list\"".into()),
        ("Signature-Input", "Sig 1".into()),
        (
            "Signature-Input",
            input("\"@method\" \"@AUTHORITY\" \"@path\"", tag),
        ),
        (
            "Signature-Input",
            "sig1=(@method);tag=\"web-bot-auth\"".into(),
        ),
        ("Signature", "sig1=:not base64!:".into()),
        ("Signature", "sig1=:AAAA:".into()),
        ("Signature", "sig1=\"text\"".into()),
        ("Signature", "sig1=(:AAAA:)".into()),
        ("Signature", "\u{7f}\u{0}".into()),
    ];
    for (header, value) in cases {
        let mut r = signed.clone();
        r.set_header(header, &value);
        let e = r.verify_with(&pk).unwrap_err();
        assert_eq!(
            e.code(),
            "signature_malformed",
            "{header}: {value:?} gave {e}"
        );
        assert_eq!(e.http_status(), 400);
    }

    let mut r = signed.clone();
    r.set_header(
        "Signature-Input",
        &"a".repeat(MAX_SIGNATURE_HEADER_BYTES + 1),
    );
    assert_eq!(code(r.verify_with(&pk)), "signature_malformed");

    let many: Vec<String> = (0..=MAX_SIGNATURE_LABELS)
        .map(|i| format!("s{i}=(\"@authority\")"))
        .collect();
    let mut r = signed.clone();
    r.set_header("Signature-Input", &many.join(", "));
    assert_eq!(code(r.verify_with(&pk)), "signature_malformed");
}

#[test]
fn odd_parameters_and_components() {
    let key = test_key();
    let pk = key.public_key();
    let tag = ";tag=\"web-bot-auth\"";
    let cases = [
        // Unsupported components and parameters.
        format!("sig1=({GET_COMPONENTS} \"@query-param\";name=\"a\");created={CREATED};expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        format!("sig1=({GET_COMPONENTS} \"@request-target\");created={CREATED};expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        format!("sig1=({GET_COMPONENTS} \"accept\";sf);created={CREATED};expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        format!("sig1=({GET_COMPONENTS} \"@signature-params\");created={CREATED};expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        // Covered twice.
        format!("sig1=({GET_COMPONENTS} \"@path\");created={CREATED};expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        // Wrong types.
        format!("sig1=({GET_COMPONENTS});created=\"{CREATED}\";expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        format!("sig1=({GET_COMPONENTS});created={CREATED};expires={};keyid=k;nonce=\"n\"{tag}", CREATED + 60),
        format!("sig1=({GET_COMPONENTS});created={CREATED};expires={};keyid=\"k\";nonce=1{tag}", CREATED + 60),
        format!("sig1=({GET_COMPONENTS});created={CREATED}.5;expires={};keyid=\"k\";nonce=\"n\"{tag}", CREATED + 60),
        // expires not after created.
        format!("sig1=({GET_COMPONENTS});created={CREATED};expires={CREATED};keyid=\"k\";nonce=\"n\"{tag}"),
        // Nonce too long.
        format!("sig1=({GET_COMPONENTS});created={CREATED};expires={};keyid=\"k\";nonce=\"{}\"{tag}", CREATED + 60, "n".repeat(MAX_NONCE_BYTES + 1)),
    ];
    for raw in cases {
        let mut r = TestRequest::get("/");
        // Build the base only when it can be built; otherwise send any signature.
        let dict = sfv::parse_dictionary(raw.as_bytes()).unwrap();
        let sfv::Member::InnerList(list) = &dict.0[0].1 else {
            panic!()
        };
        if base::signature_base(&r.parts(), list).is_ok() {
            r = r.signed_raw(&key, &raw);
        } else {
            r.set_header("Signature-Input", &raw);
            r.set_header("Signature", &format!("sig1=:{}:", "A".repeat(88)));
        }
        let e = r.verify_with(&pk).unwrap_err();
        assert_eq!(e.code(), "signature_malformed", "{raw}: {e}");
    }
}

#[test]
fn covered_header_values_are_canonicalised() {
    let key = test_key();
    let params = SignParams {
        extra_components: vec!["x-list".into()],
        ..SignParams::new(CREATED, "n")
    };
    let signed = TestRequest::get("/")
        .header("X-List", "  a  ")
        .header("x-list", "\tb")
        .signed_with(&key, &params)
        .verify_with(&key.public_key())
        .unwrap();
    let base = String::from_utf8(signed.base).unwrap();
    assert!(base.contains("\"x-list\": a, b\n"), "{base}");

    // Control characters in a covered header are refused, not signed over.
    let r = TestRequest::get("/").header("X-List", "a\nb");
    assert_eq!(
        code(sign_request(&key, &r.parts(), None, &params)),
        "signature_malformed"
    );
}

#[test]
fn authority_normalisation() {
    let headers: Vec<(String, String)> = Vec::new();
    let parts = |scheme, authority| RequestParts {
        method: "GET",
        scheme,
        authority,
        path: "/",
        query: None,
        headers: &headers,
    };
    let n = |scheme, authority| base::normalized_authority(&parts(scheme, authority));
    assert_eq!(n(Some("https"), "Example.COM:443").unwrap(), "example.com");
    assert_eq!(
        n(Some("https"), "example.com:80").unwrap(),
        "example.com:80"
    );
    assert_eq!(n(Some("http"), "example.com:80").unwrap(), "example.com");
    assert_eq!(n(None, "example.com:8443").unwrap(), "example.com:8443");
    assert_eq!(n(None, "[::1]:443").unwrap(), "[::1]");
    assert_eq!(n(None, "[::1]").unwrap(), "[::1]");
    assert!(n(None, "").is_err());
    assert!(n(None, "a b").is_err());
    assert!(n(None, "user@host").is_err());
}

#[test]
fn messages_carry_no_secrets() {
    let key = test_key();
    let jwk = key.to_private_jwk().unwrap();
    let d = serde_json::from_str::<serde_json::Value>(&jwk).unwrap()["d"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!format!("{key:?}").contains(&d));
    assert!(format!("{key:?}").contains("***"));
}
