//! Client-chosen identifiers for accounts and transfers. Parsed once at the edge; code past
//! the edge only ever holds a valid one.

use std::fmt;

/// Longest id accepted. Long enough for `pay_<uuid>:capture`, short enough to index cheaply.
pub const MAX_ID_LEN: usize = 64;

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    pub what: &'static str,
    pub given: String,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid {} id: use 1 to {MAX_ID_LEN} characters from letters, digits, '_', '-', '.' and ':'",
            self.given, self.what
        )
    }
}

impl std::error::Error for InvalidId {}

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<$name, InvalidId> {
                if valid_id(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err(InvalidId {
                        what: $what,
                        given: s.chars().take(MAX_ID_LEN + 8).collect(),
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(AccountId, "account");
id_type!(TransferId, "transfer");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(AccountId::parse("wallet:usr_1.CNY").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("a b").is_err());
        assert!(TransferId::parse(&"x".repeat(65)).is_err());
        assert!(TransferId::parse(&"x".repeat(64)).is_ok());
        let e = TransferId::parse("é").unwrap_err().to_string();
        assert!(e.contains("not a valid transfer id"), "{e}");
    }
}
