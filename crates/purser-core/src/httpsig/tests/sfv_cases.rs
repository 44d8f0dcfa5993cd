//! The structured-field subset, case by case (examples from RFC 8941 and its test suite).

use super::sfv::{self, BareItem, Member};

fn dict(s: &str) -> sfv::Dictionary {
    sfv::parse_dictionary(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn item(s: &str) -> BareItem {
    sfv::parse_item(s.as_bytes())
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .bare
}

#[test]
fn bare_items() {
    assert_eq!(item("42"), BareItem::Integer(42));
    assert_eq!(item("-42"), BareItem::Integer(-42));
    assert_eq!(
        item("999999999999999"),
        BareItem::Integer(999_999_999_999_999)
    );
    assert_eq!(item("4.5"), BareItem::Decimal(4500));
    assert_eq!(item("-0.125"), BareItem::Decimal(-125));
    assert_eq!(
        item("\"a \\\"q\\\" \\\\ b\""),
        BareItem::String("a \"q\" \\ b".into())
    );
    assert_eq!(item("foo/bar:baz*"), BareItem::Token("foo/bar:baz*".into()));
    assert_eq!(
        item(":cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:"),
        BareItem::ByteSeq(b"pretend this is binary content.".to_vec())
    );
    assert_eq!(item(":cHJldGVuZA:"), BareItem::ByteSeq(b"pretend".to_vec()));
    assert_eq!(item("?1"), BareItem::Boolean(true));
    assert_eq!(item("?0"), BareItem::Boolean(false));
    assert_eq!(item("  7  "), BareItem::Integer(7));
}

#[test]
fn bad_items() {
    for s in [
        "",
        "1000000000000000",
        "1234567890123.0",
        "1.2345",
        "1.",
        "-",
        "--1",
        "\"unterminated",
        "\"bad \\n escape\"",
        "\"tab\tinside\"",
        "\"é\"",
        ":not*base64:",
        ":abc",
        "?2",
        "?",
        "@date",
        "%\"display\"",
        "1 2",
    ] {
        assert!(sfv::parse_item(s.as_bytes()).is_err(), "{s:?} parsed");
    }
}

#[test]
fn dictionaries() {
    let d = dict("en=\"Applepie\", da=:w4ZibGV0w6ZydGU=:");
    assert_eq!(d.len(), 2);
    assert_eq!(
        d.get("da"),
        Some(&Member::Item(sfv::Item {
            bare: BareItem::ByteSeq("Æbletærte".as_bytes().to_vec()),
            params: Default::default()
        }))
    );

    let d = dict("a=?0, b, c; foo=bar");
    assert!(matches!(d.get("b"), Some(Member::Item(i)) if i.bare == BareItem::Boolean(true)));
    let Some(Member::Item(c)) = d.get("c") else {
        panic!()
    };
    assert_eq!(c.params.get("foo"), Some(&BareItem::Token("bar".into())));

    let d = dict("rating=1.5, feelings=(joy sadness)");
    let Some(Member::InnerList(l)) = d.get("feelings") else {
        panic!()
    };
    assert_eq!(l.items.len(), 2);

    // Duplicate keys: the last value wins, in the first position.
    let d = dict("a=1, b=2, a=3");
    assert_eq!(d.0[0].0, "a");
    assert!(matches!(&d.0[0].1, Member::Item(i) if i.bare == BareItem::Integer(3)));

    // OWS around commas, tabs included; empty is empty.
    assert_eq!(dict("a=1 ,\tb=2").len(), 2);
    assert!(dict("").is_empty());
    assert!(dict("   ").is_empty());

    // Upper-case keys are accepted (keyId), and kept.
    let d = dict("sig1=();keyId=\"x\"");
    let Some(Member::InnerList(l)) = d.get("sig1") else {
        panic!()
    };
    assert_eq!(l.params.get("keyId"), Some(&BareItem::String("x".into())));
}

#[test]
fn bad_dictionaries() {
    for s in [
        "a=1,",
        "a=1, ",
        ",a=1",
        "a=1;",
        "a=(1 2",
        "a=(1  2)x",
        "a=(1,2)",
        "1a=1",
        "a=1 b=2",
        "a==1",
        "a=(\"x\";=1)",
    ] {
        assert!(sfv::parse_dictionary(s.as_bytes()).is_err(), "{s:?} parsed");
    }
}

#[test]
fn limits() {
    let many: Vec<String> = (0..=sfv::MAX_DICT_MEMBERS)
        .map(|i| format!("k{i}=1"))
        .collect();
    assert!(sfv::parse_dictionary(many.join(",").as_bytes()).is_err());
    let items = "1 ".repeat(sfv::MAX_LIST_ITEMS + 1);
    assert!(sfv::parse_dictionary(format!("a=({items})").as_bytes()).is_err());
    let params: String = (0..=sfv::MAX_PARAMS).map(|i| format!(";p{i}")).collect();
    assert!(sfv::parse_dictionary(format!("a=1{params}").as_bytes()).is_err());
    let long = format!("a=\"{}\"", "x".repeat(sfv::MAX_FIELD_BYTES));
    assert!(sfv::parse_dictionary(long.as_bytes()).is_err());
}

#[test]
fn serialisation() {
    let d = dict("sig1=(\"@method\"  \"x\";key=\"a\" );created=1;b;c=?0;d=-1.50;e=tok;f=:AAE=:");
    let Some(Member::InnerList(l)) = d.get("sig1") else {
        panic!()
    };
    assert_eq!(
        sfv::serialize_inner_list(l).unwrap(),
        "(\"@method\" \"x\";key=\"a\");created=1;b;c=?0;d=-1.5;e=tok;f=:AAE=:"
    );
    assert_eq!(
        sfv::serialize_item(&sfv::parse_item(b"\"a\\\"b\\\\\"").unwrap()).unwrap(),
        "\"a\\\"b\\\\\""
    );
    let mut out = String::new();
    sfv::serialize_bare_item(&BareItem::Decimal(2000), &mut out).unwrap();
    assert_eq!(out, "2.0");
    assert!(sfv::serialize_bare_item(&BareItem::String("\n".into()), &mut String::new()).is_err());
    assert!(sfv::serialize_bare_item(&BareItem::Token("1x".into()), &mut String::new()).is_err());
    assert!(sfv::serialize_bare_item(
        &BareItem::Integer(1_000_000_000_000_000),
        &mut String::new()
    )
    .is_err());
}
