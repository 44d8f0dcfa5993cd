//! Money strings (`799.00 CNY`, `¥799`, `1,299.50 USD`): parsing untrusted text never panics,
//! and every amount Purser writes reads back to the same amount — `Display` (`1,299.50 USD`),
//! `with_symbol` (`$1,299.50`), `decimal` (`1299.50`) and AP2's major-unit JSON number.
//!
//! The input is parsed as text; its first bytes are also read as an amount (8 bytes of minor
//! units and a currency index) whose renderings must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_ap2::{major_number, minor_from_major};
use purser_core::{Currency, Money, ParseOptions};

fn check_round_trips(m: Money) {
    assert!(m.minor >= 0);
    let yen = match m.currency {
        Currency::JPY => Currency::JPY,
        _ => Currency::CNY,
    };
    let opts = ParseOptions {
        yen_sign: yen,
        default_currency: None,
    };
    let shown = m.to_string();
    assert_eq!(Money::parse(&shown, opts), Ok(m), "Display {shown:?}");
    let symbol = m.with_symbol();
    assert_eq!(Money::parse(&symbol, opts), Ok(m), "with_symbol {symbol:?}");
    let decimal = m.decimal();
    assert_eq!(
        Money::parse(&decimal, ParseOptions::assume(m.currency)),
        Ok(m),
        "decimal {decimal:?}"
    );
    // AP2 budgets carry major units as JSON numbers; whatever is written reads back exactly.
    if let Ok(n) = major_number(m) {
        assert_eq!(minor_from_major(&n, m.currency.exponent()), Some(m.minor));
    }
    // Checked arithmetic: doubling either fits or says Overflow.
    match m.checked_add(m) {
        Ok(d) => assert_eq!(d.checked_sub(m), Ok(m)),
        Err(e) => assert_eq!(e, purser_core::MoneyError::Overflow),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for opts in [
            ParseOptions::default(),
            ParseOptions {
                yen_sign: Currency::JPY,
                default_currency: None,
            },
            ParseOptions::assume(Currency::USD),
            ParseOptions::assume(Currency::KWD),
            ParseOptions::assume(Currency::JPY),
        ] {
            match Money::parse(text, opts) {
                Ok(m) => check_round_trips(m),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    }
    if data.len() >= 9 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&data[..8]);
        let minor = i64::from_le_bytes(raw) & i64::MAX;
        let all = Currency::ALL;
        let currency = all[usize::from(data[8]) % all.len()];
        check_round_trips(Money::new(minor, currency));
    }
});
