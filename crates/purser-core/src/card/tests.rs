//! Cross-cutting card tests: no card number or CVV ever reaches `Debug`, `Display` or an error.

use super::*;
use crate::Timestamp;

/// A Luhn-valid Visa number with few repeated digits, so any leak of 6+ of its digits shows.
const PAN: &str = "4000056655665556";
const CVV: &str = "737";
const AMEX_PAN: &str = "378282246310005";
const AMEX_CVV: &str = "7373";

/// Fails if `output` contains any run of 6 consecutive digits of a secret number (grouped with
/// spaces or dashes, or not), or a whole security code.
pub(crate) fn assert_no_leak(output: &str, pans: &[&str], cvvs: &[&str]) {
    assert_no_leak_of_runs(output, pans, cvvs, BIN_LEN);
}

/// [`assert_no_leak`] with a chosen run length, for numbers full of zeros (test cards) whose
/// short runs also occur in innocent output such as timestamps.
pub(crate) fn assert_no_leak_of_runs(output: &str, pans: &[&str], cvvs: &[&str], run: usize) {
    let digits_only: String = output.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    for pan in pans {
        for window in pan.as_bytes().windows(run) {
            let window = std::str::from_utf8(window).unwrap();
            assert!(
                !digits_only.contains(window),
                "{window} (from a card number) appears in {output:?}"
            );
        }
    }
    for cvv in cvvs {
        assert!(!output.contains(cvv), "the CVV appears in {output:?}");
    }
}

fn formatted<T: std::fmt::Debug>(value: &T) -> Vec<String> {
    vec![format!("{value:?}"), format!("{value:#?}")]
}

#[test]
fn no_type_or_error_formats_the_number_or_cvv() {
    let mut outputs = Vec::new();
    let mut pans = vec![PAN, AMEX_PAN];
    for (pan, cvv) in [(PAN, CVV), (AMEX_PAN, AMEX_CVV)] {
        let grouped: Vec<String> = [
            pan.to_owned(),
            pan.as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(" "),
            pan.as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("-"),
        ]
        .into();
        for input in &grouped {
            let number = CardNumber::parse(input).unwrap();
            let cvv = Cvv::parse(cvv, number.brand()).unwrap();
            outputs.extend(formatted(&number));
            outputs.push(number.to_string());
            outputs.push(number.masked());
            outputs.push(number.last4().to_owned());
            outputs.extend(formatted(&cvv));
            let fp = fingerprint(&number, b"server fingerprint key, 32 bytes");
            outputs.extend(formatted(&fp));
            outputs.push(fp.to_string());
            outputs.extend(formatted(&(number.clone(), cvv.clone(), number.brand())));
        }
    }

    // Every way a number can be refused, built from the secret digits.
    let refused = [
        format!("{}1", &PAN[..15]),      // Luhn
        format!("{PAN}0"),               // Visa with 17 digits
        format!("{}x", &PAN[..15]),      // bad character
        format!("9{}", &PAN[1..]),       // unknown brand
        format!("{PAN}{PAN}"),           // far too long
        PAN[..11].to_owned(),            // too short
        format!("{}6", &AMEX_PAN[..14]), // Amex, Luhn
    ];
    for input in &refused {
        pans.push(input.as_str());
        if input.len() >= BIN_LEN {
            let err = CardNumber::parse(input).unwrap_err();
            outputs.push(err.to_string());
            outputs.extend(formatted(&err));
        }
    }
    for (input, brand) in [
        ("7377", CardBrand::Visa),
        (CVV, CardBrand::Amex),
        ("73a", CardBrand::Visa),
    ] {
        let err = Cvv::parse(input, brand).unwrap_err();
        outputs.push(err.to_string());
        outputs.extend(formatted(&err));
    }
    let today = YearMonth::from_timestamp(Timestamp(1_795_253_400_000));
    for input in ["13/29", "04/1999", "0429", "01/2020", "01/2099"] {
        let err = Expiry::parse(input)
            .and_then(|e| e.check(today))
            .unwrap_err();
        outputs.push(err.to_string());
        outputs.extend(formatted(&err));
    }
    for input in ["", "Ann\nLee", &"x".repeat(101)] {
        let err = CardholderName::parse(input).unwrap_err();
        outputs.push(err.to_string());
        outputs.extend(formatted(&err));
    }
    for output in &outputs {
        assert_no_leak(output, &pans, &[CVV, AMEX_CVV]);
    }
    // The check itself must be able to fail.
    assert!(
        std::panic::catch_unwind(|| assert_no_leak("card 4000 0566 5566 5556", &[PAN], &[]))
            .is_err()
    );
    assert!(std::panic::catch_unwind(|| assert_no_leak("cvv 737", &[], &[CVV])).is_err());
}

#[test]
fn every_error_code_is_stable_and_every_message_a_sentence() {
    let errors = [
        (
            CardError::NumberInvalid(NumberProblem::Empty),
            "card_number_invalid",
        ),
        (
            CardError::NumberInvalid(NumberProblem::BadCharacter),
            "card_number_invalid",
        ),
        (
            CardError::NumberInvalid(NumberProblem::Length { digits: 11 }),
            "card_number_invalid",
        ),
        (
            CardError::NumberInvalid(NumberProblem::LengthForBrand {
                brand: CardBrand::Amex,
                digits: 16,
            }),
            "card_number_invalid",
        ),
        (CardError::NumberLuhn, "card_number_luhn"),
        (CardError::BrandUnsupported, "card_brand_unsupported"),
        (
            CardError::ExpiryInvalid(ExpiryProblem::Format),
            "card_expiry_invalid",
        ),
        (
            CardError::ExpiryInvalid(ExpiryProblem::Month(13)),
            "card_expiry_invalid",
        ),
        (
            CardError::ExpiryInvalid(ExpiryProblem::Year),
            "card_expiry_invalid",
        ),
        (
            CardError::ExpiryInvalid(ExpiryProblem::TooFarAhead),
            "card_expiry_invalid",
        ),
        (
            CardError::Expired {
                month: 4,
                year: 2024,
            },
            "card_expired",
        ),
        (
            CardError::CvvInvalid {
                brand: CardBrand::Amex,
            },
            "card_cvv_invalid",
        ),
        (
            CardError::HolderInvalid(HolderProblem::Empty),
            "card_holder_invalid",
        ),
        (
            CardError::HolderInvalid(HolderProblem::TooLong { chars: 101 }),
            "card_holder_invalid",
        ),
        (
            CardError::HolderInvalid(HolderProblem::ControlCharacter),
            "card_holder_invalid",
        ),
    ];
    for (err, code) in errors {
        assert_eq!(err.code(), code);
        let msg = err.to_string();
        assert!(msg.len() > 20 && !msg.ends_with('.'), "{msg}");
    }
    assert_eq!(
        CardError::NumberLuhn.to_string(),
        "the card number fails its check digit; check for a typo"
    );
    assert_eq!(
        CardError::NumberInvalid(NumberProblem::LengthForBrand { brand: CardBrand::Amex, digits: 16 }).to_string(),
        "American Express card numbers have 15 digits; this one has 16; check for a missing or extra digit"
    );
}
