//! What and where: flights ("Delta flight 446"), merchants ("from Nike", "on amazon.com"),
//! countries ("only in China"), items ("a pair of hiking boots"), categories ("on coffee",
//! "no gambling").

use super::tables::{number_word, AIRLINES, CATEGORIES, COUNTRIES, UNITS, VERBS};
use super::{Parser, LARGE_QUANTITY, MAX_ITEM_WORDS};
use crate::mandate::constraints::{CountryCode, LineItem, MerchantRef};

/// Words that end an item name: they start another idea.
const ITEM_STOP: &[&str] = &[
    "under", "below", "at", "on", "from", "for", "with", "until", "till", "by", "before", "via",
    "only", "and", "but", "each", "every", "per", "within", "up", "no", "not", "less", "more",
    "than", "over", "above", "to", "in", "using", "if", "when", "without", "this", "that", "which",
    "costing", "priced",
];

/// Words that turn a category into a blocked one: "no gambling", "except hotels".
const BLOCKERS: &[&str] = &["no", "not", "never", "except", "excluding", "without"];

/// Words that turn what follows around ("don't", "not from"). The drafter applies them only
/// where a recogniser knows how; a negation it could not apply is flagged loudly.
pub(super) const NEGATIONS: &[&str] = &[
    "don't",
    "dont",
    "do not",
    "not",
    "never",
    "nothing",
    "no",
    "except",
    "excluding",
    "without",
    "avoid",
    "but not",
];

/// Words that mark exclusivity: "only", "just".
const ONLY: &[&str] = &["only", "exclusively"];

/// "amazon.com", "www.jd.com": a host name with a dot and a letter-only last label.
fn website(s: &str) -> Option<String> {
    let host = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .trim_end_matches('/');
    let labels: Vec<&str> = host.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    ok.then(|| host.to_string())
}

/// A count: "3", "10,000", "two", "a".
fn quantity(w: &str) -> Option<u32> {
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        let groups: Vec<&str> = w.split(',').collect();
        let grouped_ok = groups.len() == 1
            || ((1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3));
        if !grouped_ok || !w.bytes().all(|b| b.is_ascii_digit() || b == b',') {
            return None;
        }
        return w.replace(',', "").parse().ok();
    }
    number_word(w)
}

impl Parser<'_> {
    fn mark_only(&mut self, i: usize, meaning: &str) {
        if i > 0 && self.free(i - 1) && ONLY.contains(&self.norm(i - 1)) {
            self.claim(i - 1, 1, meaning.to_string());
        }
    }

    /// "Delta flight 446", "flight DL 446", "Delta flight DL446".
    pub(super) fn flights(&mut self) {
        for i in 0..self.toks.len() {
            if !self.words_at(i, &["flight"]) || self.toks[i].ends_clause {
                continue;
            }
            // the airline before "flight": one or two words
            let airline = AIRLINES.iter().find_map(|a| {
                a.words.iter().find_map(|w| {
                    let n = w.split(' ').count();
                    let start = i.checked_sub(n)?;
                    let words: Vec<&str> = w.split(' ').collect();
                    self.words_at(start, &words).then_some((a, start))
                })
            });
            // the number after: "446", "DL 446", "DL446"
            let (code, number, nlen) = {
                let w = self.norm(i + 1).to_ascii_uppercase();
                let digits_only = |s: &str| {
                    !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit())
                };
                if self.free(i + 1) && digits_only(&w) {
                    (None, w, 1)
                } else if self.free(i + 1)
                    && w.len() == 2
                    && w.bytes().all(|b| b.is_ascii_alphanumeric())
                    && self.free(i + 2)
                    && !self.toks[i + 1].ends_clause
                    && digits_only(self.norm(i + 2))
                {
                    (Some(w), self.norm(i + 2).to_string(), 2)
                } else if self.free(i + 1)
                    && w.len() > 2
                    && w.is_char_boundary(2)
                    && digits_only(&w[2..])
                {
                    (Some(w[..2].to_string()), w[2..].to_string(), 1)
                } else {
                    continue;
                }
            };
            // "flight UA 88" names its airline by code.
            let airline = airline.or_else(|| {
                let c = code.as_deref()?;
                AIRLINES.iter().find(|a| a.iata == c).map(|a| (a, i))
            });
            let (start, len) = match airline {
                Some((_, s)) => (s, i - s + 1 + nlen),
                None => (i, 1 + nlen),
            };
            let iata = airline.map(|(a, _)| a.iata.to_string()).or(code.clone());
            if let (Some((a, _)), Some(c)) = (airline, &code) {
                if !c.eq_ignore_ascii_case(a.iata) {
                    self.questions.push(format!(
                        "{} flights are {}; which flight did you mean by {c} {number}?",
                        a.name, a.iata
                    ));
                }
            }
            let flight = match &iata {
                Some(c) => format!("flight {c} {number}"),
                None => format!("flight {number}"),
            };
            let description = match airline {
                Some((a, _)) => format!("{} {flight}", a.name),
                None => flight.clone(),
            };
            let mut meaning =
                format!("exactly one booking of {description}: quantity 1, at most 1 payment");
            if let Some((a, _)) = airline {
                self.mandate.what.merchants.push(MerchantRef {
                    id: None,
                    name: Some(a.name.to_string()),
                    website: Some(a.website.to_string()),
                });
                meaning.push_str(&format!(", only from {} ({})", a.name, a.website));
            } else {
                self.questions
                    .push(format!("Which airline operates {flight}?"));
            }
            self.mandate.what.line_items.push(LineItem {
                description,
                quantity: 1,
                unit: None,
                max_quantity: Some(1),
            });
            self.mandate.how_much.max_payments = Some(1);
            self.claim(start, len, meaning);
            if start > 0 && self.free(start - 1) && VERBS.contains(&self.norm(start - 1)) {
                self.verb = Some(self.norm(start - 1).to_string());
                self.claim_silently(start - 1, 1);
                self.mark_only(start - 1, "nothing else may be bought");
            } else {
                self.mark_only(start, "nothing else may be bought");
            }
        }
    }

    /// "from Nike", "at Starbucks", "on amazon.com", "only at JD.com".
    pub(super) fn merchants(&mut self) {
        for i in 0..self.toks.len() {
            let Some(n) = self.phrase_at(
                i,
                &[
                    "only from",
                    "only at",
                    "only on",
                    "from",
                    "at",
                    "on",
                    "via",
                    "through",
                ],
            ) else {
                continue;
            };
            if self.toks[i + n - 1].ends_clause || !self.free(i + n) {
                continue;
            }
            // "not from Amazon": the model lists allowed merchants only, so a merchant the
            // user excludes is left unclaimed (reported) rather than turned into its opposite.
            if i > 0 && NEGATIONS.contains(&self.norm(i - 1)) {
                continue;
            }
            let at = i + n;
            let merchant = if let Some(site) = website(&self.toks[at].norm) {
                (
                    MerchantRef {
                        id: None,
                        name: None,
                        website: Some(site),
                    },
                    1,
                )
            } else {
                // Capitalised words as written: "Nike", "Apple Store". Lower-case words are
                // not taken as names: "from home" is not a merchant.
                let mut len = 0;
                while len < 3
                    && self.free(at + len)
                    && self.toks[at + len]
                        .text
                        .starts_with(|c: char| c.is_uppercase())
                    && !CATEGORIES
                        .iter()
                        .any(|k| k.words.contains(&self.norm(at + len)))
                {
                    len += 1;
                    if self.toks[at + len - 1].ends_clause {
                        break;
                    }
                }
                if len == 0 {
                    continue;
                }
                (
                    MerchantRef {
                        id: None,
                        name: Some(self.text(at, len)),
                        website: None,
                    },
                    len,
                )
            };
            let (m, len) = merchant;
            let meaning = format!(
                "only from the merchant {}{}",
                m.label(),
                if m.website.is_some() {
                    " (by website)"
                } else {
                    " (by name; Purser matches it to a merchant at payment)"
                }
            );
            self.mandate.what.merchants.push(m);
            self.claim(i, n + len, meaning);
            // "only buy from jd.com": the verb carries nothing more here.
            if i > 0 && self.free(i - 1) && VERBS.contains(&self.norm(i - 1)) {
                self.verb = Some(self.norm(i - 1).to_string());
                self.claim_silently(i - 1, 1);
                self.mark_only(i - 1, "no other merchant");
            } else {
                self.mark_only(i, "no other merchant");
            }
        }
    }

    /// "in China", "only in the US", "not in France".
    pub(super) fn countries(&mut self) {
        for i in 0..self.toks.len() {
            let Some((n, blocked)) = [
                ("not in", true),
                ("outside", true),
                ("outside of", true),
                ("in", false),
                ("from", false),
            ]
            .iter()
            .find_map(|(p, b)| self.phrase_at(i, &[p]).map(|n| (n, *b))) else {
                continue;
            };
            if self.toks[i + n - 1].ends_clause {
                continue;
            }
            let Some((len, code)) = COUNTRIES
                .iter()
                .find_map(|(name, code)| self.phrase_at(i + n, &[name]).map(|l| (l, *code)))
            else {
                continue;
            };
            let Some(cc) = CountryCode::parse(code) else {
                continue;
            };
            let meaning = if blocked {
                self.mandate.where_.blocked_countries.push(cc);
                format!("never from merchants in {code}")
            } else {
                self.mandate.where_.allowed_countries.push(cc);
                format!("only from merchants in {code}")
            };
            self.claim(i, n + len, meaning);
            self.mark_only(i, "no other country");
        }
    }

    /// "buy a pair of hiking boots", "order 3 books", "purchase anything".
    pub(super) fn items(&mut self) {
        for i in 0..self.toks.len() {
            if !self.free(i) || !VERBS.contains(&self.norm(i)) {
                continue;
            }
            let verb = self.norm(i).to_string();
            let mut j = i + 1;
            if verb == "pay" && self.words_at(j, &["for"]) {
                j += 1;
            }
            if self.toks[j - 1].ends_clause {
                self.claim_silently(i, j - i);
                continue;
            }
            // "buy me a coffee": who it is for is not a constraint.
            if let Some(n) = self.phrase_at(j, &["me", "us", "myself", "for me", "for us"]) {
                if self.toks[j + n - 1].ends_clause {
                    continue;
                }
                j += n;
            }
            if self
                .phrase_at(j, &["anything", "everything", "whatever"])
                .is_some()
            {
                self.anything = true;
                self.verb = Some(verb);
                self.claim(
                    i,
                    j - i + 1,
                    "any item: nothing restricts what may be bought",
                );
                self.warnings.push("Nothing restricts what may be bought; add an item, category or merchant to narrow it.".to_string());
                continue;
            }
            let mut qty: Option<u32> = None;
            let mut unit: Option<&str> = None;
            if self.free(j) && !self.toks[j].ends_clause {
                if let Some(q) = quantity(self.norm(j)) {
                    qty = Some(q);
                    j += 1;
                }
            }
            if let Some((_, u)) = UNITS.iter().find(|(w, _)| self.words_at(j, &[w, "of"])) {
                unit = Some(u);
                j += 2;
                qty = qty.or(Some(1));
            }
            if self.words_at(j, &["the"]) {
                j += 1;
            }
            let first = j;
            while j - first < MAX_ITEM_WORDS
                && self.free(j)
                && !super::tables::ITEM_STOP_EXTRA.contains(&self.norm(j))
                && !ITEM_STOP.contains(&self.norm(j))
                && !self
                    .norm(j)
                    .starts_with(|c: char| c.is_ascii_digit() || "¥￥$€£".contains(c))
            {
                j += 1;
                if self.toks[j - 1].ends_clause {
                    break;
                }
            }
            if j == first {
                continue;
            }
            let item = self.text(first, j - first);
            self.verb = Some(verb.clone());
            // A bare category word after the verb ("buy groceries") is a category, not an item.
            if qty.is_none() && unit.is_none() {
                if let Some(k) = CATEGORIES
                    .iter()
                    .find(|k| k.words.contains(&item.to_lowercase().as_str()))
                {
                    self.add_category(k, false);
                    self.claim(
                        i,
                        j - i,
                        format!(
                            "only in the category {} (MCC {}: {})",
                            k.label,
                            codes(k.mcc),
                            k.mcc_names
                        ),
                    );
                    continue;
                }
            }
            let quantity = qty.unwrap_or(1);
            let counted = match unit {
                Some(u) => format!(
                    "{quantity} {u}{} of {item}",
                    if quantity == 1 { "" } else { "s" }
                ),
                None => format!("{quantity} × {item}"),
            };
            let mut meaning = format!("the item \"{item}\", quantity {quantity}: {counted}");
            if qty.is_none() {
                self.warnings.push(format!(
                    "No quantity was given for {item}; the draft allows exactly 1."
                ));
                meaning.push_str(" (no quantity given, so 1)");
            }
            if quantity > LARGE_QUANTITY {
                self.warnings.push(format!("{quantity} is an unusually large quantity of {item}; check it before you consent."));
            }
            if quantity == 0 {
                continue;
            }
            self.mandate.what.line_items.push(LineItem {
                description: item,
                quantity,
                unit: unit.map(str::to_string),
                max_quantity: None,
            });
            self.claim(i, j - i, meaning);
            self.mark_only(i, "nothing else may be bought");
        }
    }

    /// "on coffee", "for groceries", "coffee", "no gambling", "except hotels".
    pub(super) fn categories(&mut self) {
        for i in 0..self.toks.len() {
            let Some((k, n)) = CATEGORIES.iter().find_map(|k| {
                k.words.iter().find_map(|w| {
                    let words: Vec<&str> = w.split(' ').collect();
                    self.words_at(i, &words).then_some((k, words.len()))
                })
            }) else {
                continue;
            };
            // "on coffee", "for groceries": the preposition belongs to the phrase; a negation
            // before it ("no gambling", "never on gambling", "except hotels") blocks.
            let mut start = i;
            if start > 0
                && self.free(start - 1)
                && !self.toks[start - 1].ends_clause
                && ["on", "for", "in"].contains(&self.norm(start - 1))
            {
                start -= 1;
            }
            let blocked = start > 0
                && self.free(start - 1)
                && !self.toks[start - 1].ends_clause
                && BLOCKERS.contains(&self.norm(start - 1));
            if blocked {
                start -= 1;
            }
            self.add_category(k, blocked);
            let (verb, how) = if blocked {
                ("never", "blocked")
            } else {
                ("only", "allowed")
            };
            let meaning = format!(
                "{verb} in the category {} (MCC {}: {}; {how})",
                k.label,
                codes(k.mcc),
                k.mcc_names
            );
            self.claim(start, i - start + n, meaning);
        }
    }

    fn add_category(&mut self, k: &super::tables::CategoryEntry, blocked: bool) {
        let list = if blocked {
            &mut self.mandate.what.blocked_categories
        } else {
            &mut self.mandate.what.allowed_categories
        };
        if !list.iter().any(|c| c.label == k.label) {
            list.push(k.category());
        }
    }
}

fn codes(mcc: &[u16]) -> String {
    mcc.iter()
        .map(|c| format!("{c:04}"))
        .collect::<Vec<_>>()
        .join(", ")
}
