//! Splitting a request into words, keeping each word as written (for `understood` and
//! `not_understood`) and in lower case (for matching).

/// Punctuation that ends a clause when it trails a word: "boots, under 800 yuan".
const CLAUSE_END: &[char] = &[',', ';', '.', '!', '?', ':'];
/// Punctuation dropped from either end of a word.
const WRAPPERS: &[char] = &[
    '"', '\'', '(', ')', '[', ']', '“', '”', '‘', '’', '，', '。',
];

#[derive(Clone, Debug)]
pub(super) struct Token {
    /// As written, without surrounding punctuation.
    pub text: String,
    /// Lower case, for matching.
    pub norm: String,
    /// A clause ends after this word (it was followed by a comma, full stop, …).
    pub ends_clause: bool,
}

pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        let trimmed = raw.trim_start_matches(WRAPPERS);
        let mut ends_clause = false;
        let mut word = trimmed;
        loop {
            let before = word;
            if let Some(w) = word.strip_suffix(CLAUSE_END) {
                ends_clause = true;
                word = w;
            }
            word = word.trim_end_matches(WRAPPERS);
            if raw.ends_with(['，', '。']) {
                ends_clause = true;
            }
            if word == before {
                break;
            }
        }
        if word.is_empty() {
            if ends_clause {
                if let Some(last) = out.last_mut() {
                    let last: &mut Token = last;
                    last.ends_clause = true;
                }
            }
            continue;
        }
        out.push(Token {
            text: word.to_string(),
            norm: word.to_lowercase(),
            ends_clause,
        });
    }
    out
}
