//! Money: integer minor units plus an ISO 4217 currency. No floating point anywhere.
//!
//! `Money { minor: 79900, currency: CNY }` is ¥799.00. Arithmetic is checked: overflow and
//! mixing currencies are errors, never wrap-arounds or silent conversions.

mod currency;
mod parse;

pub use currency::{Currency, UnknownCurrency};
pub use parse::ParseOptions;

use std::fmt;

/// An amount of money in minor units of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// Amount in the currency's minor unit (fen, cents, yen, fils).
    pub minor: i64,
    pub currency: Currency,
}

/// Why an amount could not be parsed or computed. Every message is written for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    Empty,
    InvalidNumber(String),
    TooManyDecimals { currency: Currency, given: usize },
    UnknownCurrency(String),
    MixedCurrencies(Currency, Currency),
    MissingCurrency(String),
    Negative(String),
    Overflow,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::Empty => f.write_str("no amount was given; write one like '799.00 CNY'"),
            MoneyError::InvalidNumber(s) => write!(
                f,
                "'{s}' is not an amount; write digits with an optional decimal point, like '1,299.50 USD'"
            ),
            MoneyError::TooManyDecimals { currency, given } => match currency.exponent() {
                0 => write!(f, "{} has no minor unit, so amounts must be whole numbers; this one has {given} decimal place(s)", currency.code()),
                e => write!(f, "{} has {e} decimal place(s); this amount has {given}", currency.code()),
            },
            MoneyError::UnknownCurrency(s) => write!(f, "{}", UnknownCurrency(s.clone())),
            MoneyError::MixedCurrencies(a, b) => write!(
                f,
                "the amount names two currencies ({} and {}); use one",
                a.code(),
                b.code()
            ),
            MoneyError::MissingCurrency(s) => write!(
                f,
                "'{s}' does not say which currency; add a code or symbol, like '{s} CNY' or '¥{s}'"
            ),
            MoneyError::Negative(s) => write!(f, "'{s}' is negative; amounts must be zero or more"),
            MoneyError::Overflow => f.write_str("the amount is too large for Purser to hold"),
        }
    }
}

impl std::error::Error for MoneyError {}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parse `799.00 CNY`, `CNY 799`, `¥799.00`, `$5`, `1,299.50 USD`. See [`ParseOptions`].
    pub fn parse(s: &str, options: ParseOptions) -> Result<Money, MoneyError> {
        parse::parse(s, options)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::MixedCurrencies(self.currency, other.currency))
        }
    }

    /// The number without currency or grouping, e.g. `1299.50`; what machines read.
    pub fn decimal(self) -> String {
        self.render(false)
    }

    /// For people with a symbol where the currency has one: `¥1,299.50`, `$5.00`;
    /// otherwise the same as `Display` (`1.250 KWD`).
    pub fn with_symbol(self) -> String {
        match self.currency.symbol() {
            Some(sym) => format!("{}{sym}{}", self.sign(), self.render_abs(true)),
            None => self.to_string(),
        }
    }

    fn sign(self) -> &'static str {
        if self.minor < 0 {
            "-"
        } else {
            ""
        }
    }

    fn render(self, grouped: bool) -> String {
        format!("{}{}", self.sign(), self.render_abs(grouped))
    }

    fn render_abs(self, grouped: bool) -> String {
        let exp = u32::from(self.currency.exponent());
        let abs = self.minor.unsigned_abs();
        let scale = 10u64.pow(exp);
        let (int, frac) = (abs / scale, abs % scale);
        let mut digits = int.to_string();
        if grouped {
            digits = group_thousands(&digits);
        }
        if exp == 0 {
            digits
        } else {
            format!("{digits}.{frac:0width$}", width = exp as usize)
        }
    }
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1,299.50 USD`: grouped number then the ISO code. Unambiguous in every locale.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.render(true), self.currency.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_exponent() {
        assert_eq!(Money::new(79900, Currency::CNY).to_string(), "799.00 CNY");
        assert_eq!(
            Money::new(129950, Currency::USD).to_string(),
            "1,299.50 USD"
        );
        assert_eq!(Money::new(1250, Currency::KWD).to_string(), "1.250 KWD");
        assert_eq!(Money::new(1500, Currency::JPY).to_string(), "1,500 JPY");
        assert_eq!(Money::new(79900, Currency::CNY).with_symbol(), "¥799.00");
        assert_eq!(Money::new(500, Currency::USD).with_symbol(), "$5.00");
        assert_eq!(Money::new(-500, Currency::USD).with_symbol(), "-$5.00");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(123456789, Currency::USD).decimal(), "1234567.89");
        assert_eq!(Money::new(1250, Currency::BHD).with_symbol(), "1.250 BHD");
        assert_eq!(
            Money::new(i64::MIN, Currency::USD).to_string(),
            "-92,233,720,368,547,758.08 USD"
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(i64::MAX, Currency::USD);
        assert_eq!(
            a.checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            a.checked_add(Money::new(1, Currency::CNY)),
            Err(MoneyError::MixedCurrencies(Currency::USD, Currency::CNY))
        );
        assert_eq!(
            Money::new(5, Currency::USD).checked_sub(Money::new(7, Currency::USD)),
            Ok(Money::new(-2, Currency::USD))
        );
    }
}
