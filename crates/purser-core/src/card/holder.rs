//! The cardholder's name, as typed. Not a secret, but still untrusted text.

use super::{CardError, HolderProblem};
use std::fmt;

/// Longest name accepted. Embossed names are at most 26 characters, but online forms take the
/// full legal name; 100 covers long names in any script while bounding storage and display.
pub const MAX_HOLDER_CHARS: usize = 100;

/// A trimmed name of 1–[`MAX_HOLDER_CHARS`] characters with no control characters (which could
/// break a log line or a terminal).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardholderName(String);

impl CardholderName {
    pub fn parse(input: &str) -> Result<CardholderName, CardError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(CardError::HolderInvalid(HolderProblem::Empty));
        }
        let chars = name.chars().count();
        if chars > MAX_HOLDER_CHARS {
            return Err(CardError::HolderInvalid(HolderProblem::TooLong { chars }));
        }
        if name.chars().any(char::is_control) {
            return Err(CardError::HolderInvalid(HolderProblem::ControlCharacter));
        }
        Ok(CardholderName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CardholderName {
    type Error = CardError;
    fn try_from(s: String) -> Result<CardholderName, CardError> {
        CardholderName::parse(&s)
    }
}

impl From<CardholderName> for String {
    fn from(n: CardholderName) -> String {
        n.0
    }
}

impl fmt::Display for CardholderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(
            CardholderName::parse("  Li Wei ").unwrap().as_str(),
            "Li Wei"
        );
        assert_eq!(CardholderName::parse("王小明").unwrap().as_str(), "王小明");
        let longest = "é".repeat(MAX_HOLDER_CHARS);
        assert!(CardholderName::parse(&longest).is_ok());
        let cases = [
            ("", HolderProblem::Empty),
            (" \t ", HolderProblem::Empty),
            ("Li\nWei", HolderProblem::ControlCharacter),
            ("Li\u{7}Wei", HolderProblem::ControlCharacter),
        ];
        for (input, problem) in cases {
            assert_eq!(
                CardholderName::parse(input),
                Err(CardError::HolderInvalid(problem))
            );
        }
        assert_eq!(
            CardholderName::parse(&"a".repeat(MAX_HOLDER_CHARS + 1)),
            Err(CardError::HolderInvalid(HolderProblem::TooLong {
                chars: MAX_HOLDER_CHARS + 1
            }))
        );
        assert!(serde_json::from_str::<CardholderName>("\"\"").is_err());
        let n: CardholderName = serde_json::from_str("\" Ann \"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"Ann\"");
    }
}
