//! Helpers shared by the fuzz targets: reading a fuzz input as an HTTP request, and the fixed
//! keys and clocks the targets verify against. Test code: it may panic (a panic is a finding).

use purser_core::httpsig::{HeaderSource, RequestParts};

/// Seconds since the epoch used when an input names no time: 2026-01-01T00:00:00Z.
pub const DEFAULT_NOW: i64 = 1_767_225_600;

/// The Ed25519 public key of the Web Bot Auth vectors (`test-key-ed25519`,
/// shared/vectors/web-bot-auth): their signatures verify under it.
pub const WBA_ED25519_X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";

/// A request read from a fuzz input in HTTP/1.1 form:
///
/// ```text
/// METHOD TARGET [SCHEME] [NOW]
/// Name: value
/// …
///
/// body
/// ```
///
/// `TARGET` is origin-form (`/path?query`, authority from `Host`) or absolute
/// (`https://host/path?query`); `SCHEME` is `http`, `https` or `-` (unknown); `NOW` is the
/// verifier's clock in Unix seconds. Without the blank line there is no body (`None`), with it
/// the rest of the input is the body, which may be empty.
#[derive(Clone, Debug)]
pub struct HttpInput {
    pub method: String,
    pub scheme: Option<String>,
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
    pub now: i64,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Option<Vec<u8>>,
}

fn split_line(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let line = &data[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, Some(&data[i + 1..]))
        }
        None => (data, None),
    }
}

impl HttpInput {
    pub fn parse(data: &[u8]) -> Option<HttpInput> {
        let (first, mut rest) = split_line(data);
        let first = std::str::from_utf8(first).ok()?;
        let mut words = first.split(' ');
        let method = words.next()?.to_string();
        let target = words.next().unwrap_or("/");
        let mut scheme = match words.next() {
            Some("-") | None => None,
            Some(s) => Some(s.to_string()),
        };
        let now = words
            .next()
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(DEFAULT_NOW);

        let mut authority = None;
        let mut path_and_query = target;
        for (prefix, s) in [("https://", "https"), ("http://", "http")] {
            if let Some(t) = target.strip_prefix(prefix) {
                scheme.get_or_insert_with(|| s.to_string());
                let end = t.find('/').unwrap_or(t.len());
                authority = Some(t[..end].to_string());
                path_and_query = &t[end..];
            }
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };

        let mut headers = Vec::new();
        let mut body = None;
        while let Some(r) = rest {
            let (line, next) = split_line(r);
            if line.is_empty() {
                body = Some(next.unwrap_or_default().to_vec());
                break;
            }
            rest = next;
            let colon = line.iter().position(|b| *b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).into_owned();
            let value = line[colon + 1..].trim_ascii_start().to_vec();
            headers.push((name, value));
        }
        let authority = authority.unwrap_or_else(|| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        });
        Some(HttpInput {
            method,
            scheme,
            authority,
            path,
            query,
            now,
            headers,
            body,
        })
    }

    pub fn parts<'a>(&'a self, headers: &'a dyn HeaderSource) -> RequestParts<'a> {
        RequestParts {
            method: &self.method,
            scheme: self.scheme.as_deref(),
            authority: &self.authority,
            path: &self.path,
            query: self.query.as_deref(),
            headers,
        }
    }

    /// Every value of the header `name` (any case), in order.
    pub fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers.values(name)
    }
}

/// `s` split at the first line feed: (first line, rest).
pub fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = split_line(data);
    (line, rest.unwrap_or_default())
}
