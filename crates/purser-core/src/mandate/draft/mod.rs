//! `draft`: plain requests to a proposed mandate, deterministically (no language model).
//!
//! The text is split into words; a fixed series of recognisers (amounts, confirmation, time,
//! flights, merchants, countries, items, categories) each claim the words they understand and
//! say what they took them to mean. Words that carry no constraint ("help me", "please") are
//! dropped; every other word left over is reported verbatim in `not_understood`. So the
//! drafter never guesses silently: each choice it makes is an [`Understood`] line the user
//! reads before consenting, and nothing is active until they do.
//!
//! Choices, stated in the `understood` lines as they are made:
//! - "under X" / "below X" / "less than X" mean strictly less than X: the maximum is X minus
//!   one minor unit (¥799.99). "at most", "up to", "no more than", "max", "within" mean ≤ X.
//! - "automatically … under X" sets the confirmation policy (pay at or below the threshold
//!   without asking, ask above it) instead of a per-payment maximum.
//! - "¥" means [`DraftContext::yen_means`] (CNY unless told JPY); "yen" means JPY; "dollars"
//!   means USD. A bare number after a comparator uses the default currency, said so.
//! - "until March" is inclusive: through the last day of the next March (this March if it is
//!   March now). "before March" ends the day before March 1.
//! - Without a word about confirmation, every payment is confirmed (the safe default).

mod amounts;
mod confirm;
mod tables;
mod things;
mod times;
mod tokens;

#[cfg(test)]
mod tests;

use super::constraints::Provenance;
use super::date::CivilDate;
use super::model::MandateProposal;
use crate::Currency;
use tokens::Token;

/// Longest request the drafter reads, in characters. A spoken request is a sentence or two;
/// 2,000 characters is several paragraphs, and keeps the work per call small and bounded.
pub const MAX_INPUT_CHARS: usize = 2_000;
/// Most words the drafter reads. Bounds the recognisers' work (each is linear in words).
pub const MAX_WORDS: usize = 400;
/// Longest item name in words ("a pair of waterproof hiking boots"). Longer runs are more
/// likely several ideas than one item, so they stop the item and the rest is reported.
pub const MAX_ITEM_WORDS: usize = 6;
/// A quantity above this is drafted but flagged: the agent that orders 10,000 pairs of
/// sneakers is the anomaly the product exists to catch.
pub const LARGE_QUANTITY: u32 = 100;

/// What the drafter needs to know about the user. Passed in: the core reads no clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftContext {
    /// The user's today, in their time zone; "until March" and "for 2 weeks" count from it.
    pub today: CivilDate,
    /// Currency for a bare number ("under 800").
    pub default_currency: Currency,
    /// What the ¥ sign means: CNY unless the user says JPY.
    pub yen_means: Currency,
    /// IANA time zone, stored in the mandate for the evaluator; not interpreted here.
    pub timezone: String,
}

/// One phrase of the request and what the drafter took it to mean.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Understood {
    pub phrase: String,
    pub meaning: String,
}

/// A proposed mandate and an honest account of how it was read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Draft {
    pub mandate: MandateProposal,
    /// In the order the phrases appear in the request.
    pub understood: Vec<Understood>,
    /// Phrases left over, verbatim.
    pub not_understood: Vec<String>,
    /// What the user should answer before consenting.
    pub questions: Vec<String>,
    /// Things the user should know (defaults applied, unusual values).
    pub warnings: Vec<String>,
}

impl Draft {
    /// True when at least one phrase was understood.
    pub fn understood_anything(&self) -> bool {
        !self.understood.is_empty()
    }
}

/// Turn a plain request into a proposed mandate. Pure and deterministic: the same text and
/// context always give the same draft. Never panics, whatever the input.
pub fn draft(text: &str, ctx: &DraftContext) -> Draft {
    let mut p = Parser::new(text, ctx);
    if p.too_long {
        return p.finish();
    }
    p.confirmation();
    p.amounts();
    p.times();
    p.flights();
    p.merchants();
    p.countries();
    p.items();
    p.categories();
    p.fillers();
    p.finish()
}

/// The state shared by the recognisers.
pub(super) struct Parser<'c> {
    ctx: &'c DraftContext,
    toks: Vec<Token>,
    used: Vec<bool>,
    /// (first token index, understood) so the list can be put in reading order.
    understood: Vec<(usize, Understood)>,
    questions: Vec<String>,
    warnings: Vec<String>,
    mandate: MandateProposal,
    /// Amount phrases, resolved at the end once "automatically" is known.
    amounts: Vec<amounts::AmountClause>,
    /// Index of "automatically" (or similar), if said.
    auto: Option<usize>,
    /// The verb that introduced the item ("buy", "book"), for the description.
    verb: Option<String>,
    /// "anything": no restriction on what.
    anything: bool,
    too_long: bool,
}

impl<'c> Parser<'c> {
    fn new(text: &str, ctx: &'c DraftContext) -> Parser<'c> {
        let mut warnings = Vec::new();
        let chars = text.chars().count();
        let too_long = chars > MAX_INPUT_CHARS;
        let toks = if too_long {
            warnings.push(format!(
                "The request is {chars} characters long; the drafter reads at most {MAX_INPUT_CHARS}. Shorten it to the essentials."
            ));
            Vec::new()
        } else {
            let t = tokens::tokenize(text);
            if t.len() > MAX_WORDS {
                warnings.push(format!(
                    "The request has {} words; the drafter reads at most {MAX_WORDS}.",
                    t.len()
                ));
                Vec::new()
            } else {
                t
            }
        };
        let mut mandate = MandateProposal {
            provenance: Provenance {
                user_words: text.chars().take(MAX_INPUT_CHARS).collect(),
                transcript: None,
            },
            ..MandateProposal::default()
        };
        mandate.when.timezone = Some(ctx.timezone.clone());
        Parser {
            ctx,
            used: vec![false; toks.len()],
            toks,
            understood: Vec::new(),
            questions: Vec::new(),
            warnings,
            mandate,
            amounts: Vec::new(),
            auto: None,
            verb: None,
            anything: false,
            too_long: too_long || chars == 0,
        }
    }

    /// Token `i` exists and is not yet claimed.
    fn free(&self, i: usize) -> bool {
        self.used.get(i).is_some_and(|u| !u)
    }

    fn norm(&self, i: usize) -> &str {
        self.toks.get(i).map_or("", |t| t.norm.as_str())
    }

    /// The free words at `i` are exactly `words` (lower case), within one clause.
    fn words_at(&self, i: usize, words: &[&str]) -> bool {
        !words.is_empty()
            && words.iter().enumerate().all(|(k, w)| {
                self.free(i + k)
                    && self.norm(i + k) == *w
                    && (k + 1 == words.len() || !self.toks[i + k].ends_clause)
            })
    }

    /// The first of `options` (each a space-separated phrase) found at `i`; its word count.
    fn phrase_at(&self, i: usize, options: &[&str]) -> Option<usize> {
        options.iter().find_map(|o| {
            let words: Vec<&str> = o.split(' ').collect();
            self.words_at(i, &words).then_some(words.len())
        })
    }

    fn text(&self, start: usize, len: usize) -> String {
        self.toks
            .iter()
            .skip(start)
            .take(len)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Claim `len` tokens from `start` and record what they meant.
    fn claim(&mut self, start: usize, len: usize, meaning: impl Into<String>) {
        for u in self.used.iter_mut().skip(start).take(len) {
            *u = true;
        }
        let phrase = self.text(start, len);
        self.understood.push((
            start,
            Understood {
                phrase,
                meaning: meaning.into(),
            },
        ));
    }

    /// Claim tokens without a line of their own (part of a phrase already explained).
    fn claim_silently(&mut self, start: usize, len: usize) {
        for u in self.used.iter_mut().skip(start).take(len) {
            *u = true;
        }
    }

    fn fillers(&mut self) {
        for i in 0..self.toks.len() {
            if self.free(i) && tables::FILLER.contains(&self.norm(i)) {
                self.used[i] = true;
            }
        }
    }

    fn finish(mut self) -> Draft {
        self.resolve_amounts();
        self.describe();

        // Leftovers: runs of consecutive unclaimed words, verbatim.
        let mut not_understood = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for (i, t) in self.toks.iter().enumerate() {
            if !self.used[i] {
                run.push(&t.text);
                if t.ends_clause {
                    not_understood.push(run.join(" "));
                    run.clear();
                }
            } else if !run.is_empty() {
                not_understood.push(run.join(" "));
                run.clear();
            }
        }
        if !run.is_empty() {
            not_understood.push(run.join(" "));
        }

        let unapplied: Vec<&String> = not_understood
            .iter()
            .filter(|s| {
                let lower = s.to_lowercase();
                things::NEGATIONS
                    .iter()
                    .any(|n| lower.split(' ').any(|w| w == *n) || lower == *n)
            })
            .collect();
        if !unapplied.is_empty() {
            self.warnings.insert(
                0,
                format!(
                    "Careful: the request says \"{}\", which the drafter could not apply, so the draft may allow what you meant to forbid. Rephrase without it, or check every line.",
                    unapplied.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\", \"")
                ),
            );
        }
        let h = &self.mandate.how_much;
        let any_limit = h.per_payment_max.is_some()
            || h.budget.is_some()
            || !h.interval_limits.is_empty()
            || !self.mandate.confirmation.rules.is_empty();
        if !any_limit && !self.understood.is_empty() {
            self.questions.push(
                "How much may the agent spend? No amount was given; add a limit such as 'under 800 yuan'.".to_string(),
            );
        }
        if self.mandate.confirmation.rules.is_empty() && !self.understood.is_empty() {
            self.warnings.push(
                "You did not say when to pay without asking, so Purser will ask you before every payment.".to_string(),
            );
        }

        self.understood.sort_by_key(|(i, _)| *i);
        Draft {
            mandate: self.mandate,
            understood: self.understood.into_iter().map(|(_, u)| u).collect(),
            not_understood,
            questions: self.questions,
            warnings: self.warnings,
        }
    }

    /// A short statement of purpose from what was understood.
    fn describe(&mut self) {
        let verb = self.verb.clone().unwrap_or_else(|| "buy".to_string());
        let verb = capitalize(&verb);
        let w = &self.mandate.what;
        let description = if let Some(item) = w.line_items.first() {
            let more = if w.line_items.len() > 1 {
                " and more"
            } else {
                ""
            };
            format!("{verb} {}{more}", item.description)
        } else if self.anything {
            format!("{verb} anything")
        } else if let Some(k) = w.allowed_categories.first() {
            format!("Spend on {}", k.label)
        } else if let Some(m) = w.merchants.first() {
            format!("Spend at {}", m.label())
        } else {
            "Payments by your agent".to_string()
        };
        self.mandate.description = description;
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
