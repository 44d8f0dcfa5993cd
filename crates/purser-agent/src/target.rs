//! The server's base URL and request targets, checked so that what is signed is exactly what
//! goes on the wire.
//!
//! The HTTP library re-parses the URL before sending (WHATWG rules: it may percent-encode
//! some characters and resolve `.`/`..` segments). A signature covers `@path` and `@query`
//! as the server receives them, so targets are restricted to characters that parse
//! unchanged, and dot segments are refused rather than silently resolved.

use crate::Error;

/// The parts of a base URL such as `http://127.0.0.1:7420` or `https://pay.example/purser`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Lower-case host, with the port unless it is the scheme's default: exactly the `Host`
    /// header sent and the `@authority` signed.
    pub authority: String,
    /// A path prefix without trailing `/` (empty for a server at the root).
    pub prefix: String,
}

impl BaseUrl {
    pub fn parse(input: &str) -> Result<BaseUrl, Error> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "the base URL {input:?} {why}; expected http://host[:port] (for example \
                 http://127.0.0.1:7420)"
            ))
        };
        let s = input.trim();
        let (scheme, rest) = match s.split_once("://") {
            Some((sch, rest)) if sch.eq_ignore_ascii_case("http") => ("http", rest),
            Some((sch, rest)) if sch.eq_ignore_ascii_case("https") => ("https", rest),
            _ => return Err(bad("does not start with http:// or https://")),
        };
        if scheme == "https" && !cfg!(feature = "tls") {
            return Err(Error::InvalidInput(format!(
                "the base URL {input:?} uses https, but purser-agent was built without TLS; \
                 enable its `tls` feature (purser-agent = {{ features = [\"tls\"] }})"
            )));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("has a query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "has user information (user@host); Purser agents sign instead",
            ));
        }
        let authority =
            normalize_authority(authority, scheme).ok_or_else(|| bad("has no valid host"))?;
        let prefix = path.trim_end_matches('/');
        if !prefix.is_empty() {
            check_path(prefix).map_err(|why| bad(&format!("has a path that {why}")))?;
        }
        Ok(BaseUrl {
            scheme,
            authority,
            prefix: prefix.to_string(),
        })
    }

    /// The full URL for a target path (already checked) and optional query.
    pub fn url(&self, path: &str, query: Option<&str>) -> String {
        let mut url = format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.prefix, path
        );
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

/// `host[:port]` lower-cased, with a default port dropped; `None` when it is not a host.
fn normalize_authority(authority: &str, scheme: &str) -> Option<String> {
    let lower = authority.to_ascii_lowercase();
    let (host, port) = if lower.starts_with('[') {
        // An IPv6 literal: `[…]` then an optional `:port`.
        let end = lower.find(']')?;
        let (host, rest) = lower.split_at(end + 1);
        let inner = &host[1..host.len() - 1];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return None;
        }
        match rest {
            "" => (host, None),
            r => (host, Some(r.strip_prefix(':')?)),
        }
    } else {
        match lower.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (lower.as_str(), None),
        }
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.'));
    if !host_ok {
        return None;
    }
    match port {
        None | Some("") => Some(host.to_string()),
        Some(p) => {
            if !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let n: u16 = p.parse().ok().filter(|n| *n != 0)?;
            if matches!((scheme, n), ("http", 80) | ("https", 443)) {
                Some(host.to_string())
            } else {
                Some(format!("{host}:{n}"))
            }
        }
    }
}

/// Splits `"/v1/x?a=1"` into a checked path and query (an empty query is dropped, as it
/// is on the wire).
pub(crate) fn split_target(path_and_query: &str) -> Result<(&str, Option<&str>), Error> {
    let bad =
        |why: String| Error::InvalidInput(format!("the request path {path_and_query:?} {why}"));
    if !path_and_query.starts_with('/') {
        return Err(bad("must start with /".to_string()));
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q).filter(|q| !q.is_empty())),
        None => (path_and_query, None),
    };
    check_path(path).map_err(|why| bad(why.to_string()))?;
    if let Some(q) = query {
        check_chars(q, QUERY_EXTRA).map_err(|why| bad(format!("has a query that {why}")))?;
    }
    Ok((path, query))
}

/// RFC 3986 `pchar` beyond unreserved and `%XX`: sub-delims, `:` and `@` (plus `/`).
const PATH_EXTRA: &[u8] = b"!$&'()*+,;=:@/";
/// Query characters that the HTTP library sends unchanged (`'` is re-encoded in queries).
const QUERY_EXTRA: &[u8] = b"!$&()*+,;=:@/?";

fn check_path(path: &str) -> Result<(), &'static str> {
    check_chars(path, PATH_EXTRA)?;
    for segment in path.split('/') {
        let folded = segment.to_ascii_lowercase().replace("%2e", ".");
        if folded == "." || folded == ".." {
            return Err("has a . or .. segment; send the resolved path");
        }
    }
    Ok(())
}

fn check_chars(s: &str, extra: &[u8]) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or("has a % that is not followed by two hex digits")?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err("has a % that is not followed by two hex digits");
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~".contains(&c) || extra.contains(&c)) {
            return Err("has a character that must be percent-encoded (use purser_agent::encode_path_segment)");
        }
        i += 1;
    }
    Ok(())
}

/// Percent-encodes `s` for use as one path segment (`/v1/agent/users/{here}/funds`): every
/// byte except ASCII letters, digits and `-._~`.
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
