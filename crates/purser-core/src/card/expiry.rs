//! Card expiry dates: `MM/YY` as printed, valid through the last day of that month.

use super::{CardError, ExpiryProblem, YearMonth};
use crate::Timestamp;
use std::fmt;

/// Cards are issued for 3–5 years, a few for 10. A date further ahead than this is a typo
/// (04/92 read as 2092), and refusing it early beats a decline from the issuer later.
pub const MAX_YEARS_AHEAD: i32 = 20;

/// Two-digit years are read as 20YY; four-digit years must be in this century too.
const FIRST_YEAR: u16 = 2000;
const LAST_YEAR: u16 = 2099;

/// The month and (four-digit) year printed on a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawExpiry")]
pub struct Expiry {
    month: u8,
    year: u16,
}

#[derive(serde::Deserialize)]
struct RawExpiry {
    month: u8,
    year: u16,
}

impl TryFrom<RawExpiry> for Expiry {
    type Error = CardError;
    fn try_from(raw: RawExpiry) -> Result<Expiry, CardError> {
        Expiry::new(raw.month, raw.year)
    }
}

impl Expiry {
    /// From numbers. `year` may be two digits (`29` → 2029) or four.
    pub fn new(month: u8, year: u16) -> Result<Expiry, CardError> {
        if !(1..=12).contains(&month) {
            return Err(CardError::ExpiryInvalid(ExpiryProblem::Month(month)));
        }
        let year = if year < 100 { FIRST_YEAR + year } else { year };
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
            return Err(CardError::ExpiryInvalid(ExpiryProblem::Year));
        }
        Ok(Expiry { month, year })
    }

    /// `MM/YY`, `MM/YYYY`, `MM-YY` or `MM-YYYY`; a one-digit month and spaces around the
    /// separator are accepted (`4 / 29`).
    pub fn parse(input: &str) -> Result<Expiry, CardError> {
        let (month, year) = input
            .split_once('/')
            .or_else(|| input.split_once('-'))
            .ok_or(CardError::ExpiryInvalid(ExpiryProblem::Format))?;
        Expiry::from_fields(month, year)
    }

    /// From separate month and year fields, as a form sends them (`"04"`, `"2029"` or `"29"`).
    pub fn from_fields(month: &str, year: &str) -> Result<Expiry, CardError> {
        let format = || CardError::ExpiryInvalid(ExpiryProblem::Format);
        let (month, year) = (month.trim(), year.trim());
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(month) || month.len() > 2 || !all_digits(year) {
            return Err(format());
        }
        if !matches!(year.len(), 2 | 4) {
            return Err(format());
        }
        let month: u8 = month.parse().map_err(|_| format())?;
        let year: u16 = year.parse().map_err(|_| format())?;
        Expiry::new(month, year)
    }

    pub fn month(self) -> u8 {
        self.month
    }

    /// Four digits, e.g. 2029.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The last month the card is valid in.
    pub fn last_valid_month(self) -> YearMonth {
        YearMonth::from_checked(i32::from(self.year), self.month)
    }

    /// A card is valid through the last day of its expiry month, so it has expired when
    /// `today` is in a later month.
    pub fn is_expired(self, today: YearMonth) -> bool {
        self.last_valid_month() < today
    }

    /// [`is_expired`](Self::is_expired) for an instant (its UTC month).
    pub fn is_expired_at(self, now: Timestamp) -> bool {
        self.is_expired(YearMonth::from_timestamp(now))
    }

    /// Whether a card with this expiry can be added or charged in `today`'s month: refuses an
    /// expired card (`card_expired`) and a date beyond [`MAX_YEARS_AHEAD`]
    /// (`card_expiry_invalid`).
    pub fn check(self, today: YearMonth) -> Result<(), CardError> {
        if self.is_expired(today) {
            return Err(CardError::Expired {
                month: self.month,
                year: self.year,
            });
        }
        if i32::from(self.year) > today.year().saturating_add(MAX_YEARS_AHEAD) {
            return Err(CardError::ExpiryInvalid(ExpiryProblem::TooFarAhead));
        }
        Ok(())
    }
}

/// `04/29`, as printed on the card.
impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:02}", self.month, self.year % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today(y: i32, m: u8) -> YearMonth {
        YearMonth::new(y, m).unwrap()
    }

    #[test]
    fn parses_printed_forms() {
        for input in [
            "04/29",
            "04/2029",
            "04-29",
            "4/29",
            " 04 / 2029 ",
            "04-2029",
        ] {
            let e = Expiry::parse(input).unwrap();
            assert_eq!((e.month(), e.year()), (4, 2029), "{input}");
            assert_eq!(e.to_string(), "04/29");
        }
        let e = Expiry::from_fields("12", "2030").unwrap();
        assert_eq!((e.month(), e.year()), (12, 2030));
        assert_eq!(Expiry::new(1, 0).unwrap().year(), 2000);
    }

    #[test]
    fn refuses_bad_dates() {
        let cases = [
            ("", ExpiryProblem::Format),
            ("0429", ExpiryProblem::Format),
            ("04/9", ExpiryProblem::Format),
            ("04/029", ExpiryProblem::Format),
            ("004/29", ExpiryProblem::Format),
            ("ab/cd", ExpiryProblem::Format),
            ("04/29/30", ExpiryProblem::Format),
            ("+4/29", ExpiryProblem::Format),
            ("2029-04", ExpiryProblem::Format),
            ("13/29", ExpiryProblem::Month(13)),
            ("00/29", ExpiryProblem::Month(0)),
            ("04/1999", ExpiryProblem::Year),
            ("04/2100", ExpiryProblem::Year),
        ];
        for (input, problem) in cases {
            assert_eq!(
                Expiry::parse(input),
                Err(CardError::ExpiryInvalid(problem)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn valid_through_the_last_day_of_the_month() {
        let e = Expiry::new(4, 2029).unwrap();
        assert!(!e.is_expired(today(2029, 3)));
        assert!(!e.is_expired(today(2029, 4)));
        assert!(e.is_expired(today(2029, 5)));
        assert!(e.is_expired(today(2030, 1)));
        assert!(!e.is_expired(today(2028, 12)));
        // 2029-04-30T23:59:59.999Z still valid, 2029-05-01T00:00:00Z expired.
        assert!(!e.is_expired_at(Timestamp(1_872_287_999_999)));
        assert!(e.is_expired_at(Timestamp(1_872_288_000_000)));
        assert_eq!(
            e.check(today(2029, 5)),
            Err(CardError::Expired {
                month: 4,
                year: 2029
            })
        );
        assert_eq!(e.check(today(2029, 4)), Ok(()));
    }

    #[test]
    fn refuses_dates_too_far_ahead() {
        let e = Expiry::new(1, 2046).unwrap();
        assert_eq!(e.check(today(2026, 6)), Ok(()));
        assert_eq!(
            Expiry::new(1, 2047).unwrap().check(today(2026, 6)),
            Err(CardError::ExpiryInvalid(ExpiryProblem::TooFarAhead))
        );
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let e = Expiry::new(4, 2029).unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"month":4,"year":2029}"#);
        assert_eq!(serde_json::from_str::<Expiry>(&json).unwrap(), e);
        assert!(serde_json::from_str::<Expiry>(r#"{"month":13,"year":2029}"#).is_err());
    }
}
