//! The primary account number (PAN): parsed once, kept in a [`Secret`], shown only masked.

use super::{CardBrand, CardError, NumberProblem};
use crate::secret::SecretString;
use std::fmt;
use zeroize::Zeroizing;

/// ISO/IEC 7812 numbers run to 19 digits; no network Purser accepts issues longer ones.
pub const MAX_PAN_DIGITS: usize = 19;

/// The shortest number we accept. No supported network issues fewer than 13 digits, but 12 is
/// the ISO floor for real PANs, so anything shorter is reported as "not a card number" rather
/// than as a brand's length problem.
pub const MIN_PAN_DIGITS: usize = 12;

/// Leading digits that identify the issuer (the BIN/IIN). Six is the classic length; networks
/// moved to 8, but 6 is what risk checks and issuers' tables still key on.
pub const BIN_LEN: usize = 6;

/// Digits shown to people so they can tell their cards apart (PCI DSS allows at most the last 4).
const LAST_DIGITS: usize = 4;

/// A card number that has passed the length, Luhn and brand checks.
///
/// The digits are only readable through [`CardNumber::expose_digits`], which exists for the
/// card rail and the vault; everything else uses [`brand`](Self::brand),
/// [`last4`](Self::last4), [`masked`](Self::masked) or a [`fingerprint`](super::fingerprint).
#[derive(Clone)]
pub struct CardNumber {
    digits: SecretString,
    brand: CardBrand,
}

impl CardNumber {
    /// Parse a number as a person types it: digits, optionally grouped with spaces or dashes
    /// (`4242 4242 4242 4242`, `4242-4242-4242-4242`). Surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<CardNumber, CardError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(CardError::NumberInvalid(NumberProblem::Empty));
        }
        // Room for one digit past the maximum, so the buffer never reallocates (a reallocation
        // would leave an unzeroized copy of the digits behind).
        let mut digits = Zeroizing::new(String::with_capacity(MAX_PAN_DIGITS + 1));
        let mut count = 0usize;
        for ch in input.chars() {
            match ch {
                '0'..='9' => {
                    count += 1;
                    if count <= MAX_PAN_DIGITS {
                        digits.push(ch);
                    }
                }
                ' ' | '-' => {}
                _ => return Err(CardError::NumberInvalid(NumberProblem::BadCharacter)),
            }
        }
        if !(MIN_PAN_DIGITS..=MAX_PAN_DIGITS).contains(&count) {
            return Err(CardError::NumberInvalid(NumberProblem::Length {
                digits: count,
            }));
        }
        let brand = CardBrand::detect(&digits).ok_or(CardError::BrandUnsupported)?;
        if !brand.accepts_length(count) {
            return Err(CardError::NumberInvalid(NumberProblem::LengthForBrand {
                brand,
                digits: count,
            }));
        }
        if !luhn_valid(&digits) {
            return Err(CardError::NumberLuhn);
        }
        Ok(CardNumber {
            digits: SecretString::new(std::mem::take(&mut *digits)),
            brand,
        })
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    /// Number of digits (13–19).
    pub fn len(&self) -> usize {
        self.digits.expose().len()
    }

    /// Always false: a parsed number has at least [`MIN_PAN_DIGITS`] digits.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The last four digits, for telling cards apart ("Visa •••• 4242").
    pub fn last4(&self) -> &str {
        let d = self.digits.expose();
        d.get(d.len().saturating_sub(LAST_DIGITS)..).unwrap_or("")
    }

    /// The first [`BIN_LEN`] digits. PCI DSS does not count the BIN as secret, but together
    /// with the last four it narrows the number to a few million candidates, so keep it for
    /// risk checks and out of API responses and logs.
    pub fn bin(&self) -> &str {
        self.digits.expose().get(..BIN_LEN).unwrap_or("")
    }

    /// `•••• 4242`: what people see.
    pub fn masked(&self) -> String {
        format!("•••• {}", self.last4())
    }

    /// All digits, no separators. Only for the card rail (which must send them to the issuer)
    /// and the vault (which encrypts them); never format or log the result.
    pub fn expose_digits(&self) -> &str {
        self.digits.expose()
    }
}

impl std::str::FromStr for CardNumber {
    type Err = CardError;
    fn from_str(s: &str) -> Result<CardNumber, CardError> {
        CardNumber::parse(s)
    }
}

/// Shows brand and last four only: `CardNumber(Visa •••• 4242)`.
impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({} {})", self.brand, self.masked())
    }
}

/// `Visa •••• 4242`.
impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.brand, self.masked())
    }
}

/// The Luhn (mod 10) check every network uses to catch single-digit typos and most swaps of
/// adjacent digits. `digits` must be ASCII digits.
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0'));
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grouped_input() {
        for input in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "  4242 4242-4242 4242\t",
        ] {
            let n = CardNumber::parse(input).unwrap();
            assert_eq!(n.brand(), CardBrand::Visa);
            assert_eq!(n.expose_digits(), "4242424242424242");
            assert_eq!(n.last4(), "4242");
            assert_eq!(n.bin(), "424242");
            assert_eq!(n.masked(), "•••• 4242");
            assert_eq!(n.len(), 16);
        }
    }

    #[test]
    fn detects_brands_of_known_test_numbers() {
        let cases = [
            ("4111 1111 1111 1111", CardBrand::Visa),
            ("4222222222222", CardBrand::Visa),
            ("5555 5555 5555 4444", CardBrand::Mastercard),
            ("2223 0031 2200 3222", CardBrand::Mastercard),
            ("3782 822463 10005", CardBrand::Amex),
            ("6011 1111 1111 1117", CardBrand::Discover),
            ("6200 0000 0000 0005", CardBrand::UnionPay),
            ("3566 0020 2036 0505", CardBrand::Jcb),
            ("3056 9300 0902 0004", CardBrand::Diners),
        ];
        for (input, brand) in cases {
            assert_eq!(CardNumber::parse(input).unwrap().brand(), brand, "{input}");
        }
    }

    #[test]
    fn refuses_with_the_right_code() {
        let cases = [
            ("", "card_number_invalid"),
            ("   ", "card_number_invalid"),
            ("4242 4242 4242 424x", "card_number_invalid"),
            ("4242.4242.4242.4242", "card_number_invalid"),
            ("42424242424", "card_number_invalid"),
            ("42424242424242424242", "card_number_invalid"),
            ("4242 4242 4242 4241", "card_number_luhn"),
            ("1234 5678 9012 3452", "card_brand_unsupported"),
            ("9999 9999 9999 9995", "card_brand_unsupported"),
            // Amex prefix with 16 digits.
            ("3782 8224 6310 0055", "card_number_invalid"),
            // Visa with 15 digits.
            ("4242 4242 4242 424", "card_number_invalid"),
        ];
        for (input, code) in cases {
            let err = CardNumber::parse(input).unwrap_err();
            assert_eq!(err.code(), code, "{input:?}: {err}");
        }
        assert_eq!(
            CardNumber::parse("4242 4242 4242 424").unwrap_err(),
            CardError::NumberInvalid(NumberProblem::LengthForBrand {
                brand: CardBrand::Visa,
                digits: 15
            })
        );
        let long = "4".repeat(10_000);
        assert_eq!(
            CardNumber::parse(&long).unwrap_err(),
            CardError::NumberInvalid(NumberProblem::Length { digits: 10_000 })
        );
    }

    #[test]
    fn luhn_matches_reference_values() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(luhn_valid("0"));
        assert!(!luhn_valid("1"));
    }

    #[test]
    fn luhn_catches_every_single_digit_change() {
        let good = "4242424242424242";
        for pos in 0..good.len() {
            for d in b'0'..=b'9' {
                let mut bytes = good.as_bytes().to_vec();
                if bytes[pos] == d {
                    continue;
                }
                bytes[pos] = d;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(!luhn_valid(&changed), "{changed}");
            }
        }
    }
}
