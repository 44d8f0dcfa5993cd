use proptest::prelude::*;
use purser_ap2::{parse_chain, verify_chain};

use crate::support::{compact, options, vector};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_arbitrary_strings_never_panics(s in ".{0,400}") {
        let _ = parse_chain(&s);
    }

    #[test]
    fn chain_alphabet_strings_never_panic_and_never_verify(s in "[A-Za-z0-9_.~-]{0,300}") {
        let v = vector("single-hop-payment-chain");
        let _ = parse_chain(&s);
        prop_assert!(verify_chain(&s, &options(&v)).is_err());
    }

    #[test]
    fn any_single_character_change_is_refused(pos in 0usize..4000, c in "[A-Za-z0-9_~.-]") {
        let v = vector("multi-hop-payment-chain");
        let chain = compact(&v);
        let pos = pos % chain.len();
        let mut bytes = chain.clone().into_bytes();
        let new = c.as_bytes()[0];
        prop_assume!(bytes[pos] != new);
        bytes[pos] = new;
        let mutated = String::from_utf8(bytes).unwrap();
        prop_assert!(verify_chain(&mutated, &options(&v)).is_err(), "accepted a change at {}", pos);
    }
}
