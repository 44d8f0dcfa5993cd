//! Civil dates and points in time for mandates, without a date library and without a clock.
//!
//! A mandate's "until March" is a calendar date in the user's time zone, not an instant: the
//! drafter has no time-zone database, so it keeps dates as dates and leaves the instant to the
//! evaluator, which knows the zone. Instants (RFC 3339 with an offset) are kept as UTC
//! [`Timestamp`]s.

use crate::time::{civil_from_days, days_from_civil};
use crate::Timestamp;
use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;
/// Largest UTC offset in use anywhere (Line Islands, +14:00). Lets a date and an instant be
/// compared conservatively without knowing the zone.
pub const MAX_UTC_OFFSET_MS: i64 = 14 * 3_600_000;
/// Years outside this range are refused: no mandate needs them, and it keeps day arithmetic
/// far from overflow.
const MIN_YEAR: i32 = 1970;
const MAX_YEAR: i32 = 9999;

/// A calendar day (proleptic Gregorian), e.g. `2027-03-31`. Orders chronologically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    year: i32,
    month: u8,
    day: u8,
}

/// Day of the week, Monday first (ISO 8601).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    /// 0 for Monday … 6 for Sunday.
    pub fn index(self) -> i64 {
        self as i64
    }
}

impl CivilDate {
    /// `None` unless the day exists (years 1970–9999).
    pub fn new(year: i32, month: u8, day: u8) -> Option<CivilDate> {
        let ok = (MIN_YEAR..=MAX_YEAR).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        ok.then_some(CivilDate { year, month, day })
    }

    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }

    /// Parse exactly `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<CivilDate> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = digits(&s[0..4])?;
        let m = digits(&s[5..7])?;
        let d = digits(&s[8..10])?;
        CivilDate::new(
            i32::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// `None` when the result leaves the supported years.
    pub fn from_days_since_epoch(days: i64) -> Option<CivilDate> {
        let (y, m, d) = civil_from_days(days);
        CivilDate::new(i32::try_from(y).ok()?, m, d)
    }

    /// `self + n` days, or `None` outside the supported years.
    pub fn add_days(self, n: i64) -> Option<CivilDate> {
        CivilDate::from_days_since_epoch(self.days_since_epoch().checked_add(n)?)
    }

    /// The last day of this date's month.
    pub fn end_of_month(self) -> CivilDate {
        CivilDate {
            day: days_in_month(self.year, self.month),
            ..self
        }
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday (index 3).
        match (self.days_since_epoch() + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    /// Midnight UTC at the start of this day.
    pub fn start_utc(self) -> Timestamp {
        Timestamp(self.days_since_epoch() * MS_PER_DAY)
    }
}

/// `2027-03-31`.
impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl serde::Serialize for CivilDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CivilDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CivilDate::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("'{s}' is not a date; write YYYY-MM-DD"))
        })
    }
}

/// A mandate bound: a whole day in the user's zone (`2027-03-31`) or an exact instant
/// (`2027-03-31T18:00:00+08:00`, kept in UTC). Serialised as the string people wrote it as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DateOrInstant {
    Date(CivilDate),
    Instant(Timestamp),
}

impl DateOrInstant {
    /// Parse `YYYY-MM-DD` or RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
    pub fn parse(s: &str) -> Option<DateOrInstant> {
        if let Some(d) = CivilDate::parse(s) {
            return Some(DateOrInstant::Date(d));
        }
        parse_rfc3339(s).map(DateOrInstant::Instant)
    }

    /// The earliest UTC instant this bound can mean in any time zone (as a start).
    pub fn earliest_start(self) -> Timestamp {
        match self {
            DateOrInstant::Date(d) => Timestamp(d.start_utc().0 - MAX_UTC_OFFSET_MS),
            DateOrInstant::Instant(t) => t,
        }
    }

    /// The latest UTC instant this bound can mean in any time zone (as an inclusive end).
    pub fn latest_end(self) -> Timestamp {
        match self {
            DateOrInstant::Date(d) => Timestamp(d.start_utc().0 + MS_PER_DAY + MAX_UTC_OFFSET_MS),
            DateOrInstant::Instant(t) => t,
        }
    }
}

impl fmt::Display for DateOrInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateOrInstant::Date(d) => d.fmt(f),
            DateOrInstant::Instant(t) => f.write_str(&t.to_rfc3339()),
        }
    }
}

impl serde::Serialize for DateOrInstant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DateOrInstant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateOrInstant::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{s}' is neither a date (YYYY-MM-DD) nor an RFC 3339 time"
            ))
        })
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    if s.len() < 20 || !s.is_ascii() {
        return None;
    }
    let date = CivilDate::parse(&s[..10])?;
    if !matches!(s.as_bytes()[10], b'T' | b't') {
        return None;
    }
    let b = s.as_bytes();
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
    );
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let ms_digits = &frac[..n.min(3)];
        millis = i64::from(digits(ms_digits)?) * 10i64.pow(3 - ms_digits.len() as u32);
        rest = &frac[n..];
    }
    let offset_ms = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (i64::from(oh) * 3_600_000 + i64::from(om) * 60_000)
        }
        _ => return None,
    };
    let secs = i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec.min(59));
    Some(Timestamp(
        date.start_utc().0 + secs * 1000 + millis - offset_ms,
    ))
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_know_weekdays() {
        let d = CivilDate::new(2026, 11, 21).unwrap();
        assert_eq!(d.weekday(), Weekday::Saturday);
        assert_eq!(CivilDate::parse("2026-11-21"), Some(d));
        assert_eq!(d.add_days(10).unwrap().to_string(), "2026-12-01");
        assert_eq!(
            CivilDate::new(2028, 2, 3)
                .unwrap()
                .end_of_month()
                .to_string(),
            "2028-02-29"
        );
        assert_eq!(CivilDate::parse("2027-02-29"), None);
        assert_eq!(CivilDate::parse("2027-2-28"), None);
        for days in [-1, 0, 59, 10_957, 20_000, 2_932_896] {
            if let Some(c) = CivilDate::from_days_since_epoch(days) {
                assert_eq!(c.days_since_epoch(), days);
            }
        }
    }

    #[test]
    fn rfc3339_instants_are_utc() {
        let t = DateOrInstant::parse("2026-11-21T17:30:00.123+08:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-21T09:30:00.123Z");
        assert_eq!(
            DateOrInstant::parse("2026-11-21"),
            Some(DateOrInstant::Date(CivilDate::new(2026, 11, 21).unwrap()))
        );
        assert_eq!(DateOrInstant::parse("2026-11-21T25:00:00Z"), None);
        assert_eq!(DateOrInstant::parse("2026-11-21 09:00:00Z"), None);
        assert_eq!(DateOrInstant::parse("2026-11-21T09:00:00+0800"), None);
    }
}
