//! Confirmation words: "automatically", "without asking", "ask me first", "always ask",
//! "ask me above ¥300".

use super::Parser;
use crate::mandate::constraints::ConfirmationRule;

const AUTO: &[&str] = &[
    "automatically",
    "auto-pay",
    "autopay",
    "auto",
    "without asking me",
    "without asking",
    "without confirmation",
    "don't ask me",
    "don't ask",
    "no need to ask",
];

const ALWAYS_ASK: &[&str] = &[
    "ask me every time",
    "ask me each time",
    "ask me first",
    "always ask me",
    "always ask",
    "ask me before paying",
    "ask me before each payment",
    "ask before paying",
    "confirm every payment",
    "confirm each payment",
    "check with me first",
    "check with me",
];

const ASK_ABOVE: &[&str] = &[
    "ask me if it's over",
    "ask me if over",
    "ask me above",
    "ask me over",
    "ask above",
    "confirm above",
    "confirm anything over",
    "confirm anything above",
];

impl Parser<'_> {
    pub(super) fn confirmation(&mut self) {
        for i in 0..self.toks.len() {
            if let Some(n) = self.phrase_at(i, ASK_ABOVE) {
                if self.toks[i + n - 1].ends_clause {
                    continue;
                }
                if let Ok(Some(m)) = self.money_at(i + n, true) {
                    let amount = m.money;
                    self.mandate
                        .confirmation
                        .rules
                        .push(ConfirmationRule::AutoAtOrBelow { amount });
                    let mut meaning = format!(
                        "pay automatically at or below {}; ask you above that",
                        amount.with_symbol()
                    );
                    if let Some(note) = m.note {
                        meaning.push_str(&format!("; {note}"));
                    }
                    self.claim(i, n + m.len, meaning);
                }
            } else if let Some(n) = self.phrase_at(i, ALWAYS_ASK) {
                self.mandate
                    .confirmation
                    .rules
                    .push(ConfirmationRule::AlwaysAsk);
                self.claim(
                    i,
                    n,
                    "ask you before every payment (asking wins over any automatic rule)",
                );
            } else if let Some(n) = self.phrase_at(i, AUTO) {
                self.auto = Some(i);
                self.claim(
                    i,
                    n,
                    "pay without asking, within the amount given (asking still wins where you asked for it)",
                );
            }
        }
    }
}
