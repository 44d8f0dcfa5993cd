use purser_ap2::{parse_chain, verify_chain};
use serde_json::Value;

use crate::support::{compact, options, vectors};

fn at<'v>(hops: &'v [Value], path: &[Value]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = hops.get(usize::try_from(first.as_u64()?).ok()?)?;
    for step in rest {
        cur = match step {
            Value::String(k) => cur.get(k.as_str())?,
            Value::Number(n) => cur.get(usize::try_from(n.as_u64()?).ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[test]
fn the_vector_file_has_the_four_published_vectors() {
    let ids: Vec<String> = vectors()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "root-single-sd-jwt",
            "single-hop-payment-chain",
            "multi-hop-payment-chain",
            "single-hop-checkout-chain"
        ]
    );
}

#[test]
fn every_vector_verifies_and_yields_its_asserted_payload() {
    for v in vectors() {
        let id = v["id"].as_str().unwrap();
        let chain = compact(&v);
        let exp = &v["expected"];
        assert_eq!(
            chain.matches("~~").count() as u64,
            exp["double_tilde_joins"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            chain.ends_with('~'),
            exp["ends_with_tilde"].as_bool().unwrap(),
            "{id}"
        );
        assert_eq!(
            parse_chain(&chain).unwrap().hops.len() as u64,
            exp["hop_count"].as_u64().unwrap(),
            "{id}"
        );

        let verified = verify_chain(&chain, &options(&v))
            .unwrap_or_else(|e| panic!("{id}: {e} ({})", e.code()));
        assert_eq!(
            verified.hops().len() as u64,
            exp["hop_count"].as_u64().unwrap(),
            "{id}"
        );
        let assertions = exp["payload_assertions"].as_array().unwrap();
        assert!(!assertions.is_empty());
        for a in assertions {
            let path = a["path"].as_array().unwrap();
            let got = at(verified.hops(), path);
            if let Some(want) = a.get("equals") {
                assert_eq!(got, Some(want), "{id}: {path:?}");
            } else if a.get("absent") == Some(&Value::Bool(true)) {
                assert_eq!(got, None, "{id}: {path:?} should be absent");
            } else if a.get("present") == Some(&Value::Bool(true)) {
                assert!(got.is_some(), "{id}: {path:?} should be present");
            } else {
                panic!("{id}: unknown assertion {a}");
            }
        }
    }
}

#[test]
fn resolved_payloads_carry_no_sd_machinery() {
    for v in vectors() {
        let verified = verify_chain(&compact(&v), &options(&v)).unwrap();
        for (hop, claims) in verified.hops().iter().zip(verified.claims()) {
            let text = hop.to_string();
            assert!(
                !text.contains("\"_sd\"") && !text.contains("\"...\""),
                "{text}"
            );
            assert!(!claims.contains_key("_sd_alg") && !claims.contains_key("delegate_payload"));
        }
    }
}

#[test]
fn the_holder_key_is_the_last_cnf() {
    let v = crate::support::vector("root-single-sd-jwt");
    let verified = verify_chain(&compact(&v), &options(&v)).unwrap();
    assert_eq!(
        verified.holder_key().and_then(|k| k.kid()),
        Some("agent-sa")
    );
    let v = crate::support::vector("multi-hop-payment-chain");
    let verified = verify_chain(&compact(&v), &options(&v)).unwrap();
    assert!(
        verified.holder_key().is_none(),
        "the closed mandate names no further key"
    );
}
