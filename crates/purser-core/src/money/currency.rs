//! ISO 4217 currencies Purser knows, with their minor-unit exponents.

use std::fmt;
use std::str::FromStr;

/// A currency Purser can hold money in. The exponent (number of minor-unit digits) comes
/// from ISO 4217: CNY 2 (fen), JPY 0, KWD 3 (fils).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(&'static CurrencyInfo);

#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct CurrencyInfo {
    code: &'static str,
    exponent: u8,
    /// Symbol used when formatting for people; `None` falls back to the code.
    symbol: Option<&'static str>,
}

macro_rules! currencies {
    ($( $name:ident = ($code:literal, $exp:literal, $sym:expr) ),* $(,)?) => {
        impl Currency {
            $( pub const $name: Currency = Currency(&CurrencyInfo { code: $code, exponent: $exp, symbol: $sym }); )*
            /// Every supported currency, in code order.
            pub const ALL: &'static [Currency] = &[ $( Currency::$name ),* ];
        }
    };
}

currencies! {
    AED = ("AED", 2, None),
    AUD = ("AUD", 2, Some("A$")),
    BHD = ("BHD", 3, None),
    CAD = ("CAD", 2, Some("C$")),
    CHF = ("CHF", 2, None),
    CLP = ("CLP", 0, None),
    CNY = ("CNY", 2, Some("¥")),
    DKK = ("DKK", 2, None),
    EUR = ("EUR", 2, Some("€")),
    GBP = ("GBP", 2, Some("£")),
    HKD = ("HKD", 2, Some("HK$")),
    IDR = ("IDR", 2, None),
    INR = ("INR", 2, Some("₹")),
    IQD = ("IQD", 3, None),
    ISK = ("ISK", 0, None),
    JOD = ("JOD", 3, None),
    JPY = ("JPY", 0, Some("¥")),
    KRW = ("KRW", 0, Some("₩")),
    KWD = ("KWD", 3, None),
    LYD = ("LYD", 3, None),
    MXN = ("MXN", 2, None),
    MYR = ("MYR", 2, Some("RM")),
    NOK = ("NOK", 2, None),
    NZD = ("NZD", 2, Some("NZ$")),
    OMR = ("OMR", 3, None),
    PHP = ("PHP", 2, Some("₱")),
    PLN = ("PLN", 2, None),
    SAR = ("SAR", 2, None),
    SEK = ("SEK", 2, None),
    SGD = ("SGD", 2, Some("S$")),
    THB = ("THB", 2, Some("฿")),
    TND = ("TND", 3, None),
    TWD = ("TWD", 2, Some("NT$")),
    UGX = ("UGX", 0, None),
    USD = ("USD", 2, Some("$")),
    VND = ("VND", 0, Some("₫")),
    XOF = ("XOF", 0, None),
    ZAR = ("ZAR", 2, Some("R")),
}

impl Currency {
    /// The three-letter ISO 4217 code, e.g. `"CNY"`.
    pub fn code(self) -> &'static str {
        self.0.code
    }

    /// Number of digits after the decimal point in the major unit (CNY 2, JPY 0, KWD 3).
    pub fn exponent(self) -> u8 {
        self.0.exponent
    }

    /// The symbol people write before an amount, if the currency has a well-known one.
    pub fn symbol(self) -> Option<&'static str> {
        self.0.symbol
    }

    /// Look a currency up by its ISO code (case-insensitive).
    pub fn from_code(code: &str) -> Option<Currency> {
        if code.len() != 3 {
            return None;
        }
        Currency::ALL
            .iter()
            .copied()
            .find(|c| c.code().eq_ignore_ascii_case(code))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The code was not a supported ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCurrency(pub String);

impl fmt::Display for UnknownCurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a currency Purser supports; use a three-letter ISO 4217 code such as CNY, USD or EUR",
            self.0
        )
    }
}

impl std::error::Error for UnknownCurrency {}

impl FromStr for Currency {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s.trim()).ok_or_else(|| UnknownCurrency(s.chars().take(16).collect()))
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        for (code, exp) in [
            ("CNY", 2),
            ("USD", 2),
            ("EUR", 2),
            ("GBP", 2),
            ("HKD", 2),
            ("SGD", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("KWD", 3),
            ("BHD", 3),
        ] {
            assert_eq!(
                Currency::from_code(code).map(|c| c.exponent()),
                Some(exp),
                "{code}"
            );
        }
    }

    #[test]
    fn codes_are_unique_and_sorted() {
        for w in Currency::ALL.windows(2) {
            assert!(w[0].code() < w[1].code());
        }
    }

    #[test]
    fn unknown_code_is_an_error_with_advice() {
        let err = "XYZ".parse::<Currency>().unwrap_err();
        assert!(err.to_string().contains("ISO 4217"));
        assert_eq!("usd".parse::<Currency>(), Ok(Currency::USD));
    }
}
