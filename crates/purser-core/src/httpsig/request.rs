//! A read-only view of an HTTP request, so the core needs no HTTP library.

/// The header fields of a request. The server implements this for its own header map.
pub trait HeaderSource {
    /// Every value of the field named `lowercase_name`, one per field line, in the order
    /// received; empty when the field is absent. Implementations compare names ignoring case.
    fn values(&self, lowercase_name: &str) -> Vec<&[u8]>;
}

impl<N: AsRef<str>, V: AsRef<[u8]>> HeaderSource for [(N, V)] {
    fn values(&self, lowercase_name: &str) -> Vec<&[u8]> {
        self.iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v.as_ref())
            .collect()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> HeaderSource for Vec<(N, V)> {
    fn values(&self, lowercase_name: &str) -> Vec<&[u8]> {
        self.as_slice().values(lowercase_name)
    }
}

/// The parts of a request a signature can cover.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, … exactly as received (methods are case-sensitive).
    pub method: &'a str,
    /// `https` or `http` when known. Needed only for `@scheme` and `@target-uri`; when known it
    /// also decides which default port `@authority` drops (443 or 80; both when unknown).
    pub scheme: Option<&'a str>,
    /// Host and optional port: the `:authority` pseudo-header or `Host` field.
    pub authority: &'a str,
    /// The path, without the query (`/v1/payments`). Empty is read as `/`.
    pub path: &'a str,
    /// The query without its `?`, when the target has one.
    pub query: Option<&'a str>,
    pub headers: &'a dyn HeaderSource,
}

impl std::fmt::Debug for RequestParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestParts")
            .field("method", &self.method)
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl RequestParts<'_> {
    /// Whether the request has a non-empty query (and so must cover `@query`).
    pub(crate) fn has_query(&self) -> bool {
        self.query.is_some_and(|q| !q.is_empty())
    }
}

/// `inner` with one field replaced (used when signing: the Content-Digest being added).
pub(crate) struct Overlay<'a> {
    pub(crate) inner: &'a dyn HeaderSource,
    pub(crate) name: &'static str,
    pub(crate) value: &'a [u8],
}

impl HeaderSource for Overlay<'_> {
    fn values(&self, lowercase_name: &str) -> Vec<&[u8]> {
        if lowercase_name.eq_ignore_ascii_case(self.name) {
            vec![self.value]
        } else {
            self.inner.values(lowercase_name)
        }
    }
}
