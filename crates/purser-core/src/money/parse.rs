//! Parsing amounts people and programs write: `799.00 CNY`, `CNY 799`, `¥799.00`, `$5`,
//! `1,299.50 USD`. Strict: grouping commas must fall every three digits, the number of
//! decimals may not exceed the currency's exponent, and a symbol and a code must agree.

use super::{Currency, Money, MoneyError};

/// Longest input Purser will try to read as an amount; anything longer is not one.
const MAX_INPUT_LEN: usize = 64;

/// How to read ambiguous amounts.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// What `¥`/`￥` means. CNY unless the caller says JPY.
    pub yen_sign: Currency,
    /// Currency to assume when the text names none (`None`: naming one is required).
    pub default_currency: Option<Currency>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            yen_sign: Currency::CNY,
            default_currency: None,
        }
    }
}

impl ParseOptions {
    pub fn assume(currency: Currency) -> ParseOptions {
        ParseOptions {
            default_currency: Some(currency),
            ..ParseOptions::default()
        }
    }
}

/// Symbols, longest first so `HK$` wins over `$`.
fn symbol_currency(s: &str, opts: ParseOptions) -> Option<(usize, Currency)> {
    const SYMBOLS: &[(&str, Option<Currency>)] = &[
        ("CN¥", Some(Currency::CNY)),
        ("US$", Some(Currency::USD)),
        ("HK$", Some(Currency::HKD)),
        ("NZ$", Some(Currency::NZD)),
        ("NT$", Some(Currency::TWD)),
        ("A$", Some(Currency::AUD)),
        ("C$", Some(Currency::CAD)),
        ("S$", Some(Currency::SGD)),
        ("¥", None),
        ("￥", None),
        ("$", Some(Currency::USD)),
        ("€", Some(Currency::EUR)),
        ("£", Some(Currency::GBP)),
        ("₩", Some(Currency::KRW)),
        ("₹", Some(Currency::INR)),
        ("₫", Some(Currency::VND)),
        ("฿", Some(Currency::THB)),
        ("₱", Some(Currency::PHP)),
        // `Money::with_symbol` writes these; what Purser writes it must read back (found by
        // the `money` fuzz target). `RM` before `R`.
        ("RM", Some(Currency::MYR)),
        ("R", Some(Currency::ZAR)),
    ];
    SYMBOLS.iter().find_map(|(sym, cur)| {
        s.starts_with(sym)
            .then(|| (sym.len(), cur.unwrap_or(opts.yen_sign)))
    })
}

/// A run of three ASCII letters at the start (`CNY 799`) or the end (`799 CNY`, `799CNY`).
fn split_code(s: &str) -> (Option<&str>, &str, Option<&str>) {
    let bytes = s.as_bytes();
    let is_code = |b: &[u8]| b.len() == 3 && b.iter().all(u8::is_ascii_alphabetic);
    let mut rest = s;
    let mut prefix = None;
    let mut suffix = None;
    if bytes.len() >= 3
        && is_code(&bytes[..3])
        && bytes.get(3).is_none_or(|b| !b.is_ascii_alphabetic())
    {
        prefix = Some(&s[..3]);
        rest = s[3..].trim_start();
    }
    let rb = rest.as_bytes();
    if rb.len() >= 3
        && is_code(&rb[rb.len() - 3..])
        && (rb.len() == 3 || !rb[rb.len() - 4].is_ascii_alphabetic())
    {
        suffix = Some(&rest[rest.len() - 3..]);
        rest = rest[..rest.len() - 3].trim_end();
    }
    (prefix, rest, suffix)
}

pub(super) fn parse(input: &str, opts: ParseOptions) -> Result<Money, MoneyError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    if s.len() > MAX_INPUT_LEN {
        return Err(MoneyError::InvalidNumber(format!(
            "{}…",
            s.chars().take(16).collect::<String>()
        )));
    }
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s),
    };

    let (prefix, rest, suffix) = split_code(s);
    let code_of =
        |c: &str| Currency::from_code(c).ok_or_else(|| MoneyError::UnknownCurrency(c.to_string()));
    let code = match (
        prefix.map(code_of).transpose()?,
        suffix.map(code_of).transpose()?,
    ) {
        (Some(a), Some(b)) if a != b => return Err(MoneyError::MixedCurrencies(a, b)),
        (a, b) => a.or(b),
    };
    let mut rest = rest;
    let mut symbol = None;
    let mut yen_sign = false;
    if let Some((len, cur)) = symbol_currency(rest, opts) {
        yen_sign = matches!(&rest[..len], "¥" | "￥");
        symbol = Some(cur);
        rest = rest[len..].trim_start();
    }
    let currency = match (code, symbol) {
        (Some(c), Some(s)) if c != s => {
            // `¥500 JPY`: the code says which yen the sign meant.
            if yen_sign && (c == Currency::CNY || c == Currency::JPY) {
                c
            } else {
                return Err(MoneyError::MixedCurrencies(s, c));
            }
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => opts
            .default_currency
            .ok_or_else(|| MoneyError::MissingCurrency(rest.to_string()))?,
    };
    if negative {
        return Err(MoneyError::Negative(input.trim().to_string()));
    }
    let minor = parse_number(rest, currency)?;
    Ok(Money::new(minor, currency))
}

fn parse_number(text: &str, currency: Currency) -> Result<i64, MoneyError> {
    let bad = || MoneyError::InvalidNumber(text.to_string());
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return Err(bad());
    }
    if int_part.contains(',') {
        let groups: Vec<&str> = int_part.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return Err(bad());
        }
    }
    let exp = usize::from(currency.exponent());
    let frac = match frac_part {
        None => "",
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return Err(bad()),
        Some(f) => f,
    };
    if frac.len() > exp {
        return Err(MoneyError::TooManyDecimals {
            currency,
            given: frac.len(),
        });
    }
    let mut minor: i64 = 0;
    let digits = int_part.bytes().filter(|b| *b != b',').chain(frac.bytes());
    for d in digits {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(i64::from(d - b'0')))
            .ok_or(MoneyError::Overflow)?;
    }
    for _ in frac.len()..exp {
        minor = minor.checked_mul(10).ok_or(MoneyError::Overflow)?;
    }
    Ok(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Money, MoneyError> {
        Money::parse(s, ParseOptions::default())
    }

    #[test]
    fn parses_the_common_forms() {
        assert_eq!(p("799.00 CNY"), Ok(Money::new(79900, Currency::CNY)));
        assert_eq!(p("CNY 799"), Ok(Money::new(79900, Currency::CNY)));
        assert_eq!(p("799CNY"), Ok(Money::new(79900, Currency::CNY)));
        assert_eq!(p("¥799.00"), Ok(Money::new(79900, Currency::CNY)));
        assert_eq!(p("￥799.5"), Ok(Money::new(79950, Currency::CNY)));
        assert_eq!(p("$5"), Ok(Money::new(500, Currency::USD)));
        assert_eq!(p("1,299.50 USD"), Ok(Money::new(129950, Currency::USD)));
        assert_eq!(p("HK$ 12.30"), Ok(Money::new(1230, Currency::HKD)));
        assert_eq!(p("€0.99"), Ok(Money::new(99, Currency::EUR)));
        assert_eq!(p("1.250 KWD"), Ok(Money::new(1250, Currency::KWD)));
        assert_eq!(p("0.005 BHD"), Ok(Money::new(5, Currency::BHD)));
        assert_eq!(p("1,500 JPY"), Ok(Money::new(1500, Currency::JPY)));
        assert_eq!(p("₩50000"), Ok(Money::new(50000, Currency::KRW)));
        assert_eq!(p("  usd 3.10 "), Ok(Money::new(310, Currency::USD)));
    }

    #[test]
    fn yen_sign_is_cny_unless_the_caller_says_jpy() {
        let jpy = ParseOptions {
            yen_sign: Currency::JPY,
            default_currency: None,
        };
        assert_eq!(
            Money::parse("¥500", jpy),
            Ok(Money::new(500, Currency::JPY))
        );
        assert_eq!(p("¥500 JPY"), Ok(Money::new(500, Currency::JPY)));
        assert_eq!(
            Money::parse("¥5.50", jpy),
            Err(MoneyError::TooManyDecimals {
                currency: Currency::JPY,
                given: 2
            })
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert!(matches!(
            p("5.001 USD"),
            Err(MoneyError::TooManyDecimals { given: 3, .. })
        ));
        assert!(matches!(
            p("5.5 JPY"),
            Err(MoneyError::TooManyDecimals { given: 1, .. })
        ));
        assert_eq!(p("5 XYZ"), Err(MoneyError::UnknownCurrency("XYZ".into())));
        assert_eq!(
            p("$5 CNY"),
            Err(MoneyError::MixedCurrencies(Currency::USD, Currency::CNY))
        );
        assert_eq!(
            p("EUR 5 USD"),
            Err(MoneyError::MixedCurrencies(Currency::EUR, Currency::USD))
        );
        assert_eq!(p("99999999999999999999 USD"), Err(MoneyError::Overflow));
        assert_eq!(p("92233720368547758.08 USD"), Err(MoneyError::Overflow));
        assert_eq!(
            p("92233720368547758.07 USD"),
            Ok(Money::new(i64::MAX, Currency::USD))
        );
        assert!(matches!(p("12,99 USD"), Err(MoneyError::InvalidNumber(_))));
        assert!(matches!(p("1,2999 USD"), Err(MoneyError::InvalidNumber(_))));
        assert!(matches!(p("5. USD"), Err(MoneyError::InvalidNumber(_))));
        assert!(matches!(p(".5 USD"), Err(MoneyError::InvalidNumber(_))));
        assert!(matches!(p("1.2.3 USD"), Err(MoneyError::InvalidNumber(_))));
        assert!(matches!(p("abc"), Err(_)));
        assert!(matches!(p("-5 USD"), Err(MoneyError::Negative(_))));
        assert!(matches!(p("799"), Err(MoneyError::MissingCurrency(_))));
        assert_eq!(p(""), Err(MoneyError::Empty));
        assert_eq!(
            Money::parse("799", ParseOptions::assume(Currency::CNY)),
            Ok(Money::new(79900, Currency::CNY))
        );
    }

    #[test]
    fn errors_read_like_advice() {
        let e = p("5.001 USD").unwrap_err().to_string();
        assert_eq!(e, "USD has 2 decimal place(s); this amount has 3");
        let e = p("799").unwrap_err().to_string();
        assert!(e.contains("799 CNY"), "{e}");
    }

    #[test]
    fn every_symbol_purser_writes_reads_back() {
        // Regression (the `money` fuzz target): `with_symbol` wrote `RM5.00` and `R12.50`,
        // which did not parse ("does not say which currency").
        assert_eq!(p("RM5.00"), Ok(Money::new(500, Currency::MYR)));
        assert_eq!(p("R12.50"), Ok(Money::new(1250, Currency::ZAR)));
        assert_eq!(
            p("RM70,169,967,652,934,372.81"),
            Ok(Money::new(7_016_996_765_293_437_281, Currency::MYR))
        );
        for &c in Currency::ALL {
            let m = Money::new(123_456, c);
            let yen = if c == Currency::JPY { c } else { Currency::CNY };
            let opts = ParseOptions {
                yen_sign: yen,
                default_currency: None,
            };
            assert_eq!(
                Money::parse(&m.with_symbol(), opts),
                Ok(m),
                "{}",
                m.with_symbol()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn with_symbol_round_trips(minor in 0i64..=i64::MAX, idx in 0usize..Currency::ALL.len()) {
            let m = Money::new(minor, Currency::ALL[idx]);
            let yen = if m.currency == Currency::JPY { Currency::JPY } else { Currency::CNY };
            let opts = ParseOptions { yen_sign: yen, default_currency: None };
            proptest::prop_assert_eq!(Money::parse(&m.with_symbol(), opts), Ok(m));
        }

        #[test]
        fn display_round_trips(minor in 0i64..=i64::MAX, idx in 0usize..Currency::ALL.len()) {
            let m = Money::new(minor, Currency::ALL[idx]);
            proptest::prop_assert_eq!(p(&m.to_string()), Ok(m));
            proptest::prop_assert_eq!(Money::parse(&m.decimal(), ParseOptions::assume(m.currency)), Ok(m));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = p(&s);
        }
    }
}
