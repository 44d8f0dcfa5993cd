//! Card brands, recognised from the number's leading digits (the issuer identification number).

use std::fmt;

/// The card networks Purser accepts. A number from any other network is rejected at parse time
/// ([`CardError::BrandUnsupported`](super::CardError::BrandUnsupported)) rather than stored as
/// "unknown", so every stored card has a brand whose length and CVV rules are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    UnionPay,
    Jcb,
    Diners,
}

impl CardBrand {
    pub const ALL: [CardBrand; 7] = [
        CardBrand::Visa,
        CardBrand::Mastercard,
        CardBrand::Amex,
        CardBrand::Discover,
        CardBrand::UnionPay,
        CardBrand::Jcb,
        CardBrand::Diners,
    ];

    /// Stable machine name: `visa`, `mastercard`, `amex`, `discover`, `unionpay`, `jcb`, `diners`.
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Jcb => "jcb",
            CardBrand::Diners => "diners",
        }
    }

    /// The machine name back to a brand (`visa` → Visa); `None` for anything else.
    pub fn from_name(name: &str) -> Option<CardBrand> {
        CardBrand::ALL.into_iter().find(|b| b.as_str() == name)
    }

    /// The name a person knows the network by.
    pub fn display_name(self) -> &'static str {
        match self {
            CardBrand::Visa => "Visa",
            CardBrand::Mastercard => "Mastercard",
            CardBrand::Amex => "American Express",
            CardBrand::Discover => "Discover",
            CardBrand::UnionPay => "UnionPay",
            CardBrand::Jcb => "JCB",
            CardBrand::Diners => "Diners Club",
        }
    }

    /// Which network issued a number, from its leading digits. `digits` must be ASCII digits.
    ///
    /// Ranges follow the networks' published IIN tables. UnionPay/Discover co-branded numbers
    /// (622126–622925) are reported as UnionPay, the issuing network.
    pub(crate) fn detect(digits: &str) -> Option<CardBrand> {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        let p1 = prefix(1);
        let p2 = prefix(2);
        let p3 = prefix(3);
        let p4 = prefix(4);
        let within = |p: Option<u32>, lo: u32, hi: u32| p.is_some_and(|v| (lo..=hi).contains(&v));
        if matches!(p2, Some(34 | 37)) {
            Some(CardBrand::Amex)
        } else if matches!(p2, Some(36 | 38)) || within(p3, 300, 305) {
            Some(CardBrand::Diners)
        } else if within(p4, 3528, 3589) {
            Some(CardBrand::Jcb)
        } else if within(p2, 51, 55) || within(p4, 2221, 2720) {
            Some(CardBrand::Mastercard)
        } else if p4 == Some(6011) || within(p3, 644, 649) || p2 == Some(65) {
            Some(CardBrand::Discover)
        } else if p2 == Some(62) {
            Some(CardBrand::UnionPay)
        } else if p1 == Some(4) {
            Some(CardBrand::Visa)
        } else {
            None
        }
    }

    /// Whether this network issues numbers of `len` digits. Checked so that a dropped or doubled
    /// digit is reported as a length problem ("Visa numbers have 16 digits") rather than only a
    /// failed check digit.
    pub fn accepts_length(self, len: usize) -> bool {
        match self {
            CardBrand::Visa => matches!(len, 13 | 16 | 19),
            CardBrand::Mastercard => len == 16,
            CardBrand::Amex => len == 15,
            CardBrand::Discover | CardBrand::UnionPay | CardBrand::Jcb => (16..=19).contains(&len),
            CardBrand::Diners => (14..=19).contains(&len),
        }
    }

    /// The lengths [`accepts_length`](Self::accepts_length) allows, in words, for error messages.
    pub fn lengths_text(self) -> &'static str {
        match self {
            CardBrand::Visa => "13, 16 or 19",
            CardBrand::Mastercard => "16",
            CardBrand::Amex => "15",
            CardBrand::Discover | CardBrand::UnionPay | CardBrand::Jcb => "16 to 19",
            CardBrand::Diners => "14 to 19",
        }
    }

    /// Digits in the card verification value: American Express prints 4 on the front, every
    /// other network 3 on the back.
    pub fn cvv_len(self) -> usize {
        match self {
            CardBrand::Amex => 4,
            _ => 3,
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::CardBrand::{self, *};

    #[test]
    fn detects_each_range_edge() {
        let cases: &[(&str, Option<CardBrand>)] = &[
            ("4", Some(Visa)),
            ("51", Some(Mastercard)),
            ("55", Some(Mastercard)),
            ("50", None),
            ("56", None),
            ("2221", Some(Mastercard)),
            ("2720", Some(Mastercard)),
            ("2220", None),
            ("2721", None),
            ("34", Some(Amex)),
            ("37", Some(Amex)),
            ("35", None),
            ("6011", Some(Discover)),
            ("6012", None),
            ("644", Some(Discover)),
            ("649", Some(Discover)),
            ("643", None),
            ("65", Some(Discover)),
            ("62", Some(UnionPay)),
            ("3528", Some(Jcb)),
            ("3589", Some(Jcb)),
            ("3527", None),
            ("3590", None),
            ("36", Some(Diners)),
            ("38", Some(Diners)),
            ("300", Some(Diners)),
            ("305", Some(Diners)),
            ("306", None),
            ("1", None),
            ("9", None),
        ];
        for (prefix, want) in cases {
            let padded = format!("{prefix:0<16}");
            assert_eq!(CardBrand::detect(&padded), *want, "prefix {prefix}");
        }
    }

    #[test]
    fn names_round_trip() {
        for b in CardBrand::ALL {
            assert_eq!(CardBrand::from_name(b.as_str()), Some(b));
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(json, format!("\"{}\"", b.as_str()));
        }
    }
}
