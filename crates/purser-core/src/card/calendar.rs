//! Just enough civil calendar to say whether a card has expired, without a date library.
//! The core reads no clock: the caller turns its "now" into a [`YearMonth`].

use crate::time::civil_from_days;
use crate::Timestamp;
use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;

/// A calendar month in UTC, e.g. 2026-11. Orders chronologically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    year: i32,
    month: u8,
}

impl YearMonth {
    /// `None` unless `month` is 1–12.
    pub fn new(year: i32, month: u8) -> Option<YearMonth> {
        (1..=12)
            .contains(&month)
            .then_some(YearMonth { year, month })
    }

    /// For callers that have already checked `month` is 1–12 (an [`Expiry`](super::Expiry)).
    pub(super) fn from_checked(year: i32, month: u8) -> YearMonth {
        debug_assert!((1..=12).contains(&month));
        YearMonth { year, month }
    }

    /// The UTC month containing `t`. Card expiry is printed without a time zone; issuers honour
    /// it through the end of the month in their own zone, so UTC is off by at most a few hours
    /// on the last day, which the issuer's own check settles.
    pub fn from_timestamp(t: Timestamp) -> YearMonth {
        let days = t.millis().div_euclid(MS_PER_DAY);
        let (year, month, _day) = civil_from_days(days);
        // Timestamps are i64 milliseconds, so |year| < 300 million: fits in i32.
        YearMonth {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month,
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }
}

/// `2026-11`.
impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ym(t: i64) -> (i32, u8) {
        let m = YearMonth::from_timestamp(Timestamp(t));
        (m.year(), m.month())
    }

    #[test]
    fn converts_known_instants() {
        assert_eq!(ym(0), (1970, 1));
        assert_eq!(ym(-1), (1969, 12));
        assert_eq!(ym(951_782_400_000), (2000, 2)); // 2000-02-29
        assert_eq!(ym(951_868_800_000), (2000, 3)); // 2000-03-01
        assert_eq!(ym(1_795_253_400_123), (2026, 11)); // 2026-11-21
        assert_eq!(ym(1_798_761_599_999), (2026, 12)); // 2026-12-31T23:59:59.999
        assert_eq!(ym(1_798_761_600_000), (2027, 1));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn agrees_with_a_day_by_day_walk() {
        // Walk forward one day at a time from 1970-01-01 through 2100 and check each date.
        let (mut y, mut m, mut d) = (1970i32, 1u8, 1u8);
        for days in 0..47_482 {
            assert_eq!(civil_from_days(days), (i64::from(y), m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn orders_chronologically() {
        let a = YearMonth::new(2026, 12).unwrap();
        let b = YearMonth::new(2027, 1).unwrap();
        assert!(a < b);
        assert_eq!(YearMonth::new(2026, 13), None);
        assert_eq!(YearMonth::new(2026, 0), None);
        assert_eq!(b.to_string(), "2027-01");
    }
}
