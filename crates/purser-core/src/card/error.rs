//! Why card input was refused. Every message is a sentence a person can act on, and none of
//! them contains the card number or the security code: errors are logged and shown, secrets
//! are not.

use super::{CardBrand, MAX_HOLDER_CHARS, MAX_PAN_DIGITS, MIN_PAN_DIGITS};
use std::fmt;

/// A refused card field. [`CardError::code`] is stable for machines; `Display` is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardError {
    /// `card_number_invalid`: not the shape of a card number.
    NumberInvalid(NumberProblem),
    /// `card_number_luhn`: the shape is right but the check digit is wrong (usually a typo).
    NumberLuhn,
    /// `card_brand_unsupported`: the number belongs to no network Purser accepts.
    BrandUnsupported,
    /// `card_expiry_invalid`: the expiry date cannot be read, or is not a real card's.
    ExpiryInvalid(ExpiryProblem),
    /// `card_expired`: the card's last valid month is over.
    Expired { month: u8, year: u16 },
    /// `card_cvv_invalid`: the security code is not the brand's number of digits.
    CvvInvalid { brand: CardBrand },
    /// `card_holder_invalid`: the cardholder name is empty, too long or has control characters.
    HolderInvalid(HolderProblem),
}

/// What is wrong with the shape of a card number. Carries counts, never digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberProblem {
    Empty,
    /// Something other than a digit, space or dash.
    BadCharacter,
    /// Fewer than [`MIN_PAN_DIGITS`] or more than [`MAX_PAN_DIGITS`] digits.
    Length {
        digits: usize,
    },
    /// A length the detected network does not issue.
    LengthForBrand {
        brand: CardBrand,
        digits: usize,
    },
}

/// What is wrong with an expiry date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryProblem {
    /// Not `MM/YY`, `MM/YYYY` or `MM-YY`.
    Format,
    /// The month is not 1–12.
    Month(u8),
    /// The year is outside 2000–2099 (two-digit years are read as 20YY).
    Year,
    /// More than [`MAX_YEARS_AHEAD`](super::MAX_YEARS_AHEAD) years ahead: no card is issued for
    /// that long, so it is almost certainly a typo.
    TooFarAhead,
}

/// What is wrong with a cardholder name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolderProblem {
    Empty,
    TooLong { chars: usize },
    ControlCharacter,
}

impl CardError {
    /// Stable machine-readable code, for API error bodies and tests.
    pub fn code(&self) -> &'static str {
        match self {
            CardError::NumberInvalid(_) => "card_number_invalid",
            CardError::NumberLuhn => "card_number_luhn",
            CardError::BrandUnsupported => "card_brand_unsupported",
            CardError::ExpiryInvalid(_) => "card_expiry_invalid",
            CardError::Expired { .. } => "card_expired",
            CardError::CvvInvalid { .. } => "card_cvv_invalid",
            CardError::HolderInvalid(_) => "card_holder_invalid",
        }
    }
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::NumberInvalid(p) => match p {
                NumberProblem::Empty => f.write_str("no card number was given; type the long number on the front of the card"),
                NumberProblem::BadCharacter => f.write_str("a card number may contain only digits, spaces and dashes; check what was typed"),
                NumberProblem::Length { digits } => write!(
                    f,
                    "a card number has {MIN_PAN_DIGITS} to {MAX_PAN_DIGITS} digits; this one has {digits}; check for a missing or extra digit"
                ),
                NumberProblem::LengthForBrand { brand, digits } => write!(
                    f,
                    "{brand} card numbers have {} digits; this one has {digits}; check for a missing or extra digit",
                    brand.lengths_text()
                ),
            },
            CardError::NumberLuhn => f.write_str("the card number fails its check digit; check for a typo"),
            CardError::BrandUnsupported => f.write_str(
                "the card number does not belong to a network Purser accepts (Visa, Mastercard, American Express, Discover, UnionPay, JCB, Diners Club); check the first digits or use another card",
            ),
            CardError::ExpiryInvalid(p) => match p {
                ExpiryProblem::Format => f.write_str("write the expiry date as MM/YY or MM/YYYY, as printed on the card (for example 04/29)"),
                ExpiryProblem::Month(m) => write!(f, "the expiry month must be 01 to 12; {m} is not a month"),
                ExpiryProblem::Year => f.write_str("the expiry year must be between 2000 and 2099; write it as YY or YYYY"),
                ExpiryProblem::TooFarAhead => write!(
                    f,
                    "the expiry date is more than {} years away, which no card is issued for; check the year",
                    super::MAX_YEARS_AHEAD
                ),
            },
            CardError::Expired { month, year } => write!(
                f,
                "the card expired at the end of {month:02}/{year}; use a card that is still valid"
            ),
            CardError::CvvInvalid { brand } => write!(
                f,
                "the security code of a {brand} card is {} digits, printed on the {}",
                brand.cvv_len(),
                if *brand == CardBrand::Amex { "front" } else { "back" }
            ),
            CardError::HolderInvalid(p) => match p {
                HolderProblem::Empty => f.write_str("no cardholder name was given; type the name as printed on the card"),
                HolderProblem::TooLong { chars } => write!(
                    f,
                    "the cardholder name has {chars} characters; at most {MAX_HOLDER_CHARS} are allowed"
                ),
                HolderProblem::ControlCharacter => f.write_str("the cardholder name contains a control character (such as a line break or tab); type it on one line"),
            },
        }
    }
}

impl std::error::Error for CardError {}
