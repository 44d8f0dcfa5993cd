//! The card verification value: proof of holding the card, so it is used once and never kept.

use super::{CardBrand, CardError};
use crate::secret::SecretString;
use std::fmt;
use zeroize::Zeroizing;

/// The 3- or 4-digit security code. PCI DSS forbids storing it after authorization, so it has no
/// `Serialize`, prints as `Cvv(***)`, and is zeroized when dropped.
#[derive(Clone)]
pub struct Cvv(SecretString);

impl Cvv {
    /// Parse the code for a card of `brand`: exactly [`CardBrand::cvv_len`] digits (4 for
    /// American Express, 3 otherwise). Surrounding whitespace is ignored.
    pub fn parse(input: &str, brand: CardBrand) -> Result<Cvv, CardError> {
        let input = input.trim();
        if input.len() != brand.cvv_len() || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::CvvInvalid { brand });
        }
        let mut code = Zeroizing::new(String::with_capacity(input.len()));
        code.push_str(input);
        Ok(Cvv(SecretString::new(std::mem::take(&mut *code))))
    }

    /// The digits, for the card rail only.
    pub fn expose_digits(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Cvv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvv(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_digits_or_four_for_amex() {
        assert_eq!(
            Cvv::parse(" 737 ", CardBrand::Visa)
                .unwrap()
                .expose_digits(),
            "737"
        );
        assert_eq!(
            Cvv::parse("7373", CardBrand::Amex).unwrap().expose_digits(),
            "7373"
        );
        for (input, brand) in [
            ("7373", CardBrand::Visa),
            ("737", CardBrand::Amex),
            ("73", CardBrand::Mastercard),
            ("7a7", CardBrand::Visa),
            ("", CardBrand::Visa),
            ("７３７", CardBrand::Visa),
        ] {
            assert_eq!(
                Cvv::parse(input, brand).unwrap_err(),
                CardError::CvvInvalid { brand },
                "{input:?}"
            );
        }
    }
}
