//! The intent parser (purser-core `mandate::draft`): a person's words into a proposed mandate.
//! Never panics whatever the text; deterministic; what it proposes serialises and reads back,
//! and validating and summarising it never panics.
//!
//! Input: the person's words (UTF-8; other bytes are read lossily). A first line
//! `@today=YYYY-MM-DD currency=XXX yen=XXX` sets the context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::mandate::{draft, CivilDate, DraftContext, Mandate};
use purser_core::Currency;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut ctx = DraftContext {
        today: CivilDate::new(2026, 11, 21).expect("a date"),
        default_currency: Currency::CNY,
        yen_means: Currency::CNY,
        timezone: "Asia/Shanghai".to_string(),
    };
    let mut words: &str = &text;
    if let Some(rest) = text.strip_prefix('@') {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        for setting in line.split(' ') {
            match setting.split_once('=') {
                Some(("today", d)) => {
                    if let Some(d) = CivilDate::parse(d) {
                        ctx.today = d;
                    }
                }
                Some(("currency", c)) => {
                    if let Some(c) = Currency::from_code(c) {
                        ctx.default_currency = c;
                    }
                }
                Some(("yen", c)) => {
                    if let Some(c) = Currency::from_code(c) {
                        ctx.yen_means = c;
                    }
                }
                _ => {}
            }
        }
        words = after;
    }
    let d = draft(words, &ctx);
    assert_eq!(d, draft(words, &ctx), "the drafter is not deterministic");
    let json = serde_json::to_string(&d.mandate).expect("a draft serialises");
    let again: Mandate = serde_json::from_str(&json).expect("a drafted mandate reads back");
    assert_eq!(
        again, d.mandate,
        "a drafted mandate changed in a round trip"
    );
    let _ = d.mandate.summary();
    let _ = d.mandate.validate();
    let _ = serde_json::to_string(&d);
});
