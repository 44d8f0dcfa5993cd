//! The subset of RFC 8941 Structured Field Values that HTTP Message Signatures need:
//! dictionaries whose members are items or inner lists, with parameters; integers, decimals,
//! strings, tokens, byte sequences and booleans. Parsing follows RFC 8941 §4.2 and
//! serialisation §4.1, with two documented leniencies:
//!
//! - keys may contain upper-case letters (`keyId`, sent by some Web Bot Auth signers); the
//!   spelling is kept, so re-serialising reproduces what was signed;
//! - byte sequences are accepted with or without `=` padding (RFC 8941 §4.2.7 says parsers
//!   SHOULD NOT fail on missing padding).
//!
//! Every input is bounded ([`MAX_FIELD_BYTES`], [`MAX_DICT_MEMBERS`], [`MAX_LIST_ITEMS`],
//! [`MAX_PARAMS`]) and the parser never panics: it is fed hostile header values.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::fmt;

/// Longest field value parsed. Signature-Input with a 256-byte nonce and a dozen components
/// is under 1 KiB; 16 KiB leaves room for several signatures without letting a header
/// make us allocate without limit.
pub(crate) const MAX_FIELD_BYTES: usize = 16 * 1024;
/// Most members in one dictionary. A request carries one or two signatures; 32 is generous.
pub(crate) const MAX_DICT_MEMBERS: usize = 32;
/// Most items in one inner list (the covered components). A real signature covers about ten.
pub(crate) const MAX_LIST_ITEMS: usize = 32;
/// Most parameters on one item or inner list. Signature parameters are at most eight.
pub(crate) const MAX_PARAMS: usize = 16;

/// Standard base64, padding optional on input, always written on output.
const BYTESEQ: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BareItem {
    Integer(i64),
    /// A decimal in thousandths (RFC 8941 decimals have at most three fractional digits).
    Decimal(i64),
    String(String),
    Token(String),
    ByteSeq(Vec<u8>),
    Boolean(bool),
}

impl BareItem {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            BareItem::String(s) => Some(s),
            _ => None,
        }
    }

    /// The type's name, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            BareItem::Integer(_) => "an integer",
            BareItem::Decimal(_) => "a decimal",
            BareItem::String(_) => "a string",
            BareItem::Token(_) => "a token",
            BareItem::ByteSeq(_) => "a byte sequence",
            BareItem::Boolean(_) => "a boolean",
        }
    }
}

/// Parameters in order of first appearance; a repeated name overwrites the value in place
/// (RFC 8941 §4.2.3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params(pub(crate) Vec<(String, BareItem)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&BareItem> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub(crate) fn push(&mut self, name: &str, value: BareItem) {
        self.0.push((name.to_string(), value));
    }

    fn insert(&mut self, name: String, value: BareItem) -> Result<(), SfvError> {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
            return Ok(());
        }
        if self.0.len() >= MAX_PARAMS {
            return Err(SfvError::new("too many parameters"));
        }
        self.0.push((name, value));
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) bare: BareItem,
    pub(crate) params: Params,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InnerList {
    pub(crate) items: Vec<Item>,
    pub(crate) params: Params,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Member {
    Item(Item),
    InnerList(InnerList),
}

/// Dictionary members in order of first appearance; a repeated key overwrites in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dictionary(pub(crate) Vec<(String, Member)>);

impl Dictionary {
    pub(crate) fn get(&self, key: &str) -> Option<&Member> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn insert(&mut self, key: String, value: Member) -> Result<(), SfvError> {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
            return Ok(());
        }
        if self.0.len() >= MAX_DICT_MEMBERS {
            return Err(SfvError::new("too many dictionary members"));
        }
        self.0.push((key, value));
        Ok(())
    }
}

/// Why a structured field could not be parsed or serialised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SfvError {
    pub(crate) what: &'static str,
    pub(crate) at: Option<usize>,
}

impl SfvError {
    fn new(what: &'static str) -> SfvError {
        SfvError { what, at: None }
    }
}

impl fmt::Display for SfvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{} at byte {}", self.what, at),
            None => f.write_str(self.what),
        }
    }
}

/// Parses a Dictionary field value (RFC 8941 §4.2.2). An empty value is an empty dictionary.
pub(crate) fn parse_dictionary(input: &[u8]) -> Result<Dictionary, SfvError> {
    let mut p = Parser::new(input)?;
    let mut dict = Dictionary::default();
    p.skip_sp();
    if p.at_end() {
        return Ok(dict);
    }
    loop {
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: p.params()?,
            })
        };
        dict.insert(key, member).map_err(|e| p.err_from(e))?;
        p.skip_ows();
        if p.at_end() {
            return Ok(dict);
        }
        if !p.eat(b',') {
            return Err(p.err("expected ',' between dictionary members"));
        }
        p.skip_ows();
        if p.at_end() {
            return Err(p.err("trailing ',' in dictionary"));
        }
    }
}

/// Parses an Item field value (RFC 8941 §4.2.3).
pub(crate) fn parse_item(input: &[u8]) -> Result<Item, SfvError> {
    let mut p = Parser::new(input)?;
    p.skip_sp();
    let item = p.item()?;
    p.skip_sp();
    if !p.at_end() {
        return Err(p.err("unexpected characters after the item"));
    }
    Ok(item)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Result<Parser<'a>, SfvError> {
        if input.len() > MAX_FIELD_BYTES {
            return Err(SfvError::new("field value too long"));
        }
        Ok(Parser { input, pos: 0 })
    }

    fn err(&self, what: &'static str) -> SfvError {
        SfvError {
            what,
            at: Some(self.pos),
        }
    }

    fn err_from(&self, e: SfvError) -> SfvError {
        SfvError {
            what: e.what,
            at: e.at.or(Some(self.pos)),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ') | Some(b'\t')) {
            self.pos += 1;
        }
    }

    fn member(&mut self) -> Result<Member, SfvError> {
        if self.peek() == Some(b'(') {
            Ok(Member::InnerList(self.inner_list()?))
        } else {
            Ok(Member::Item(self.item()?))
        }
    }

    fn inner_list(&mut self) -> Result<InnerList, SfvError> {
        if !self.eat(b'(') {
            return Err(self.err("expected '(' to open an inner list"));
        }
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                let params = self.params()?;
                return Ok(InnerList { items, params });
            }
            if self.at_end() {
                return Err(self.err("inner list is not closed"));
            }
            if items.len() >= MAX_LIST_ITEMS {
                return Err(self.err("too many items in an inner list"));
            }
            items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ') | Some(b')')) {
                return Err(self.err("expected ' ' or ')' after an inner-list item"));
            }
        }
    }

    fn item(&mut self) -> Result<Item, SfvError> {
        let bare = self.bare_item()?;
        let params = self.params()?;
        Ok(Item { bare, params })
    }

    fn params(&mut self) -> Result<Params, SfvError> {
        let mut params = Params::default();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            params.insert(key, value).map_err(|e| self.err_from(e))?;
        }
        Ok(params)
    }

    fn key(&mut self) -> Result<String, SfvError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => self.pos += 1,
            _ => return Err(self.err("expected a key")),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'*') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(ascii(&self.input[start..self.pos]))
    }

    fn bare_item(&mut self) -> Result<BareItem, SfvError> {
        match self.peek() {
            Some(b'-') => self.number(),
            Some(c) if c.is_ascii_digit() => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.byte_seq(),
            Some(b'?') => self.boolean(),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => self.token(),
            _ => Err(self.err("expected an item")),
        }
    }

    fn number(&mut self) -> Result<BareItem, SfvError> {
        let negative = self.eat(b'-');
        let start = self.pos;
        if !matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            return Err(self.err("expected a digit"));
        }
        let mut dot: Option<usize> = None;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                self.pos += 1;
            } else if c == b'.' && dot.is_none() {
                if self.pos - start > 12 {
                    return Err(self.err("decimal has too many integer digits"));
                }
                dot = Some(self.pos);
                self.pos += 1;
            } else {
                break;
            }
            let len = self.pos - start;
            if (dot.is_none() && len > 15) || (dot.is_some() && len > 16) {
                return Err(self.err("number has too many digits"));
            }
        }
        let digits = &self.input[start..self.pos];
        let value = match dot {
            None => {
                let n = digits_value(digits).ok_or_else(|| self.err("bad integer"))?;
                BareItem::Integer(if negative { -n } else { n })
            }
            Some(dot) => {
                let int_part = &self.input[start..dot];
                let frac = &self.input[dot + 1..self.pos];
                if frac.is_empty() {
                    return Err(self.err("decimal ends with '.'"));
                }
                if frac.len() > 3 {
                    return Err(self.err("decimal has more than three fractional digits"));
                }
                let i = digits_value(int_part).ok_or_else(|| self.err("bad decimal"))?;
                let mut f = digits_value(frac).ok_or_else(|| self.err("bad decimal"))?;
                for _ in frac.len()..3 {
                    f *= 10;
                }
                let thousandths = i * 1000 + f;
                BareItem::Decimal(if negative { -thousandths } else { thousandths })
            }
        };
        Ok(value)
    }

    fn string(&mut self) -> Result<BareItem, SfvError> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("string is not closed"));
            };
            self.pos += 1;
            match c {
                b'\\' => match self.peek() {
                    Some(e @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        out.push(char::from(e));
                    }
                    _ => return Err(self.err("bad escape in string")),
                },
                b'"' => return Ok(BareItem::String(out)),
                0x20..=0x7e => out.push(char::from(c)),
                _ => return Err(self.err("string contains a character outside visible ASCII")),
            }
        }
    }

    fn token(&mut self) -> Result<BareItem, SfvError> {
        let start = self.pos;
        self.pos += 1; // first character checked by the caller
        while let Some(c) = self.peek() {
            if is_tchar(c) || c == b':' || c == b'/' {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(BareItem::Token(ascii(&self.input[start..self.pos])))
    }

    fn byte_seq(&mut self) -> Result<BareItem, SfvError> {
        self.pos += 1; // the opening colon
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b':') => break,
                Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') => {
                    self.pos += 1
                }
                Some(_) => return Err(self.err("byte sequence contains a non-base64 character")),
                None => return Err(self.err("byte sequence is not closed")),
            }
        }
        let encoded = &self.input[start..self.pos];
        self.pos += 1; // the closing colon
        BYTESEQ
            .decode(encoded)
            .map(BareItem::ByteSeq)
            .map_err(|_| self.err("byte sequence is not valid base64"))
    }

    fn boolean(&mut self) -> Result<BareItem, SfvError> {
        self.pos += 1; // '?'
        match self.peek() {
            Some(b'1') => {
                self.pos += 1;
                Ok(BareItem::Boolean(true))
            }
            Some(b'0') => {
                self.pos += 1;
                Ok(BareItem::Boolean(false))
            }
            _ => Err(self.err("boolean must be ?0 or ?1")),
        }
    }
}

/// The value of at most 15 ASCII digits (always fits an i64).
fn digits_value(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0i64, |acc, d| {
        if d.is_ascii_digit() {
            Some(acc * 10 + i64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Bytes already checked to be ASCII, as a String.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_key(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'*')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'*'))
}

/// Whether `s` can be written as an sf-string (visible ASCII and space only).
pub(crate) fn is_sf_string(s: &str) -> bool {
    s.bytes().all(|c| (0x20..=0x7e).contains(&c))
}

pub(crate) fn serialize_bare_item(item: &BareItem, out: &mut String) -> Result<(), SfvError> {
    match item {
        BareItem::Integer(i) => {
            if i.unsigned_abs() > 999_999_999_999_999 {
                return Err(SfvError::new("integer out of range"));
            }
            out.push_str(&i.to_string());
        }
        BareItem::Decimal(t) => {
            if t.unsigned_abs() / 1000 > 999_999_999_999 {
                return Err(SfvError::new("decimal out of range"));
            }
            if *t < 0 {
                out.push('-');
            }
            let abs = t.unsigned_abs();
            let frac = format!("{:03}", abs % 1000);
            let frac = frac.trim_end_matches('0');
            out.push_str(&(abs / 1000).to_string());
            out.push('.');
            out.push_str(if frac.is_empty() { "0" } else { frac });
        }
        BareItem::String(s) => {
            if !is_sf_string(s) {
                return Err(SfvError::new(
                    "string contains a character outside visible ASCII",
                ));
            }
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        BareItem::Token(t) => {
            let b = t.as_bytes();
            let ok = matches!(b.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'*')
                && b.iter().all(|&c| is_tchar(c) || c == b':' || c == b'/');
            if !ok {
                return Err(SfvError::new("not a valid token"));
            }
            out.push_str(t);
        }
        BareItem::ByteSeq(bytes) => {
            out.push(':');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            out.push(':');
        }
        BareItem::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
    Ok(())
}

pub(crate) fn serialize_params(params: &Params, out: &mut String) -> Result<(), SfvError> {
    for (name, value) in &params.0 {
        if !is_key(name) {
            return Err(SfvError::new("not a valid parameter name"));
        }
        out.push(';');
        out.push_str(name);
        if *value != BareItem::Boolean(true) {
            out.push('=');
            serialize_bare_item(value, out)?;
        }
    }
    Ok(())
}

pub(crate) fn serialize_item(item: &Item) -> Result<String, SfvError> {
    let mut out = String::new();
    serialize_bare_item(&item.bare, &mut out)?;
    serialize_params(&item.params, &mut out)?;
    Ok(out)
}

pub(crate) fn serialize_inner_list(list: &InnerList) -> Result<String, SfvError> {
    let mut out = String::from("(");
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        serialize_bare_item(&item.bare, &mut out)?;
        serialize_params(&item.params, &mut out)?;
    }
    out.push(')');
    serialize_params(&list.params, &mut out)?;
    Ok(out)
}

pub(crate) fn serialize_member(member: &Member) -> Result<String, SfvError> {
    match member {
        Member::Item(item) => serialize_item(item),
        Member::InnerList(list) => serialize_inner_list(list),
    }
}

/// `key=value` as a dictionary member would be written (a `true` item is written bare).
#[cfg(test)]
pub(crate) fn serialize_dict_member(key: &str, member: &Member) -> Result<String, SfvError> {
    if !is_key(key) {
        return Err(SfvError::new("not a valid dictionary key"));
    }
    let mut out = key.to_string();
    match member {
        Member::Item(item) if item.bare == BareItem::Boolean(true) => {
            serialize_params(&item.params, &mut out)?;
        }
        other => {
            out.push('=');
            out.push_str(&serialize_member(other)?);
        }
    }
    Ok(out)
}
