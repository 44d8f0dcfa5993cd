//! The one JSON form the evidence seal is computed over, and the strict reading that makes
//! that form unique.
//!
//! Canonical form (RFC 8785, JCS, restricted to what a bundle holds): no whitespace; object
//! members sorted by their names' UTF-16 code units; strings with only `"` `\` and control
//! characters escaped (`\b \t \n \f \r`, others `\u00xx`), everything else literal; numbers
//! are integers written in decimal.
//!
//! Strict reading: a duplicated member name, or any number that is not an integer, is refused
//! — either would let two different files mean different things to different JSON readers
//! while sharing one canonical form. Nesting is bounded by serde_json's recursion limit (128).
//! Whitespace and member order are not part of what is sealed: a bundle may be re-indented.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parse `text` as JSON, refusing duplicate member names and non-integer numbers.
pub fn parse_strict(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Strict
        .deserialize(&mut de)
        .map_err(|e| format!("not valid evidence JSON: {e}"))?;
    de.end()
        .map_err(|e| format!("not valid evidence JSON: {e}"))?;
    Ok(v)
}

/// The canonical serialization of `v`.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write(x, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Deserializes any JSON value, strictly.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value with integer numbers and no duplicated member names")
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::from(n)))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(Number::from(n)))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Value, E> {
        Err(E::custom(
            "a number is not an integer (evidence holds integers only)",
        ))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(A::Error::custom(format!(
                    "the member {:?} appears twice in one object",
                    k.chars().take(40).collect::<String>()
                )));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_is_sorted_compact_and_escaped_once() {
        let v =
            json!({"b": [1, -2, "x\u{1}\n\"\\é😀"], "a": {"z": null, "y": true}, "é": 1, "A": 0});
        assert_eq!(
            canonical(&v),
            "{\"A\":0,\"a\":{\"y\":true,\"z\":null},\"b\":[1,-2,\"x\\u0001\\n\\\"\\\\é😀\"],\"é\":1}"
        );
        // Whitespace and member order do not matter; values do.
        let again = parse_strict(" {\"é\":1, \"A\" : 0, \"a\":{\"y\":true,\"z\":null},\n \"b\":[1,-2,\"x\\u0001\\n\\\"\\\\\\u00e9😀\"]}").unwrap();
        assert_eq!(canonical(&again), canonical(&v));
        // UTF-16 order: U+1F600 (a surrogate pair, D83D DE00) sorts before U+FF61 in UTF-16,
        // after it in UTF-8.
        let o = json!({"\u{FF61}": 2, "\u{1F600}": 1});
        assert_eq!(canonical(&o), "{\"\u{1F600}\":1,\"\u{FF61}\":2}");
    }

    #[test]
    fn strict_reading_refuses_ambiguity() {
        assert!(parse_strict(r#"{"a":1,"a":2}"#)
            .unwrap_err()
            .contains("twice"));
        assert!(parse_strict(r#"{"x":{"a":1,"b":{"c":1,"c":1}}}"#).is_err());
        assert!(parse_strict(r#"{"a":1.0}"#)
            .unwrap_err()
            .contains("integer"));
        assert!(parse_strict(r#"{"a":1e3}"#).is_err());
        assert!(parse_strict("{\"a\":1} x").is_err());
        assert!(parse_strict(&"[".repeat(10_000)).is_err());
        assert_eq!(
            parse_strict(r#"{"a":[18446744073709551615,-9223372036854775808]}"#).unwrap(),
            json!({"a": [u64::MAX, i64::MIN]})
        );
        assert!(parse_strict("[18446744073709551616]").is_err());
    }
}
