//! The signature base (RFC 9421 §2.5): the exact bytes an Ed25519 signature is made over.
//!
//! Supported components: the derived `@method`, `@authority`, `@path`, `@query`, `@scheme` and
//! `@target-uri` (§2.2), and header fields (§2.1), optionally narrowed to one dictionary
//! member with `;key="…"` (§2.1.2). Anything else (`@query-param`, `@request-target`,
//! `;sf`, `;bs`, `;req`, `;tr`, trailers, responses) is refused rather than guessed at.

use super::error::{quote, SigError};
use super::policy::{MAX_COMPONENT_VALUE_BYTES, MAX_SIGNATURE_BASE_BYTES};
use super::request::RequestParts;
use super::sfv::{self, BareItem, InnerList, Item};

/// Longest component name accepted (header names in practice are under 40 characters).
const MAX_COMPONENT_NAME_BYTES: usize = 128;

/// What one covered component refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    Method,
    Authority,
    Path,
    Query,
    Scheme,
    TargetUri,
    /// A header field, lower-case, optionally one member of its dictionary value.
    Field {
        name: String,
        key: Option<String>,
    },
}

impl Component {
    /// Reads one item of the covered-components inner list.
    pub(crate) fn from_item(item: &Item) -> Result<Component, SigError> {
        let BareItem::String(name) = &item.bare else {
            return Err(SigError::malformed(format!(
                "covered components must be strings, found {}",
                item.bare.kind()
            )));
        };
        if name.is_empty() || name.len() > MAX_COMPONENT_NAME_BYTES {
            return Err(SigError::malformed(
                "a covered component name is empty or too long",
            ));
        }
        if name.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(SigError::malformed(format!(
                "component names are lower-case; found {}",
                quote(name)
            )));
        }
        if let Some(derived) = name.strip_prefix('@') {
            if let Some((param, _)) = item.params.0.first() {
                return Err(unsupported(&format!("{name};{param}")));
            }
            return match derived {
                "method" => Ok(Component::Method),
                "authority" => Ok(Component::Authority),
                "path" => Ok(Component::Path),
                "query" => Ok(Component::Query),
                "scheme" => Ok(Component::Scheme),
                "target-uri" => Ok(Component::TargetUri),
                "signature-params" => Err(SigError::malformed(
                    "@signature-params cannot be a covered component",
                )),
                _ => Err(unsupported(name)),
            };
        }
        if !name.bytes().all(sfv::is_tchar) {
            return Err(SigError::malformed(format!(
                "{} is not a valid header field name",
                quote(name)
            )));
        }
        let mut key = None;
        for (param, value) in &item.params.0 {
            match (param.as_str(), value) {
                ("key", BareItem::String(k)) => key = Some(k.clone()),
                ("key", other) => {
                    return Err(SigError::malformed(format!(
                        "the key parameter of {} must be a string, found {}",
                        quote(name),
                        other.kind()
                    )))
                }
                (other, _) => return Err(unsupported(&format!("{name};{other}"))),
            }
        }
        Ok(Component::Field {
            name: name.clone(),
            key,
        })
    }
}

fn unsupported(what: &str) -> SigError {
    SigError::malformed(format!(
        "the covered component {} is not supported; cover @method, @authority, @path, @query, \
         @scheme, @target-uri or header fields (optionally with ;key)",
        quote(what)
    ))
}

/// Builds the signature base for `covered` (the chosen Signature-Input member, components and
/// parameters) over `req`.
pub(crate) fn signature_base(req: &RequestParts, covered: &InnerList) -> Result<Vec<u8>, SigError> {
    let mut out: Vec<u8> = Vec::new();
    let mut seen: Vec<String> = Vec::with_capacity(covered.items.len());
    for item in &covered.items {
        let component = Component::from_item(item)?;
        let id = sfv::serialize_item(item)
            .map_err(|e| SigError::malformed(format!("a component identifier: {e}")))?;
        if seen.contains(&id) {
            return Err(SigError::malformed(format!(
                "the component {} is covered twice",
                quote(&id)
            )));
        }
        let value = component_value(req, &component)?;
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.push(b'\n');
        seen.push(id);
        if out.len() > MAX_SIGNATURE_BASE_BYTES {
            return Err(SigError::malformed("the covered components are too large"));
        }
    }
    let params = sfv::serialize_inner_list(covered)
        .map_err(|e| SigError::malformed(format!("the signature parameters: {e}")))?;
    out.extend_from_slice(b"\"@signature-params\": ");
    out.extend_from_slice(params.as_bytes());
    if out.len() > MAX_SIGNATURE_BASE_BYTES {
        return Err(SigError::malformed("the covered components are too large"));
    }
    Ok(out)
}

/// The canonical value of one component (RFC 9421 §2.1, §2.2).
pub(crate) fn component_value(req: &RequestParts, c: &Component) -> Result<Vec<u8>, SigError> {
    let v = match c {
        Component::Method => {
            if req.method.is_empty() || !req.method.bytes().all(sfv::is_tchar) {
                return Err(SigError::malformed(
                    "the request method is not a valid token",
                ));
            }
            req.method.as_bytes().to_vec()
        }
        Component::Authority => normalized_authority(req)?.into_bytes(),
        Component::Path => {
            let path = if req.path.is_empty() { "/" } else { req.path };
            if !path.starts_with('/') || !visible_ascii(path.as_bytes()) {
                return Err(SigError::malformed(
                    "the request path is not an absolute path",
                ));
            }
            path.as_bytes().to_vec()
        }
        Component::Query => {
            let q = req.query.unwrap_or("");
            if !visible_ascii(q.as_bytes()) {
                return Err(SigError::malformed(
                    "the request query is not visible ASCII",
                ));
            }
            format!("?{q}").into_bytes()
        }
        Component::Scheme => scheme(req)?.into_bytes(),
        Component::TargetUri => {
            let path = if req.path.is_empty() { "/" } else { req.path };
            let mut uri = format!("{}://{}{}", scheme(req)?, normalized_authority(req)?, path);
            if let Some(q) = req.query {
                uri.push('?');
                uri.push_str(q);
            }
            if !visible_ascii(uri.as_bytes()) {
                return Err(SigError::malformed("the target URI is not visible ASCII"));
            }
            uri.into_bytes()
        }
        Component::Field { name, key } => field_value(req, name, key.as_deref())?,
    };
    Ok(v)
}

fn scheme(req: &RequestParts) -> Result<String, SigError> {
    match req.scheme {
        Some(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric()) => {
            Ok(s.to_ascii_lowercase())
        }
        _ => Err(SigError::malformed(
            "the signature covers @scheme or @target-uri, but the request's scheme is unknown",
        )),
    }
}

/// Host lower-cased, default port dropped (RFC 9421 §2.2.3, RFC 9110 §4.2.3).
pub(crate) fn normalized_authority(req: &RequestParts) -> Result<String, SigError> {
    let a = req.authority;
    if a.is_empty() || !a.bytes().all(|c| c.is_ascii_graphic()) || a.contains(['/', '@']) {
        return Err(SigError::malformed(
            "the request authority (host) is not valid",
        ));
    }
    let lower = a.to_ascii_lowercase();
    // A port follows the last ':' unless that ':' is inside an IPv6 literal `[…]`.
    if let Some(colon) = lower.rfind(':') {
        let port = &lower[colon + 1..];
        let in_brackets = lower[colon..].contains(']');
        if !in_brackets && port.bytes().all(|c| c.is_ascii_digit()) {
            let scheme = req.scheme.map(str::to_ascii_lowercase);
            let default = match port {
                "443" => scheme.as_deref().is_none_or(|s| s == "https"),
                "80" => scheme.as_deref().is_none_or(|s| s == "http"),
                "" => true,
                _ => false,
            };
            if default {
                return Ok(lower[..colon].to_string());
            }
        }
    }
    Ok(lower)
}

/// A header field's value: every line trimmed, joined with ", " (§2.1); or, with `key`, the
/// re-serialised member of its dictionary value (§2.1.2).
fn field_value(req: &RequestParts, name: &str, key: Option<&str>) -> Result<Vec<u8>, SigError> {
    let joined = joined_field(req, name)?.ok_or_else(|| {
        SigError::invalid(format!(
            "it covers the header {}, which the request does not carry",
            quote(name)
        ))
    })?;
    let Some(key) = key else {
        return Ok(joined);
    };
    let dict = sfv::parse_dictionary(&joined).map_err(|e| {
        SigError::malformed(format!(
            "the header {} is covered with ;key but is not a dictionary ({e})",
            quote(name)
        ))
    })?;
    let member = dict.get(key).ok_or_else(|| {
        SigError::invalid(format!(
            "it covers member {} of the header {}, which has no such member",
            quote(key),
            quote(name)
        ))
    })?;
    sfv::serialize_member(member)
        .map(String::into_bytes)
        .map_err(|e| SigError::malformed(format!("the header {}: {e}", quote(name))))
}

/// All lines of a field, each trimmed, joined with ", "; `None` when absent. Bounded, and
/// refused when a value holds control characters or non-ASCII bytes.
pub(crate) fn joined_field(req: &RequestParts, name: &str) -> Result<Option<Vec<u8>>, SigError> {
    let lines = req.headers.values(name);
    if lines.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(trim_ows(line));
        if out.len() > MAX_COMPONENT_VALUE_BYTES {
            return Err(SigError::malformed(format!(
                "the header {} is longer than {MAX_COMPONENT_VALUE_BYTES} bytes",
                quote(name)
            )));
        }
    }
    if !out
        .iter()
        .all(|&c| c == b'\t' || (0x20..=0x7e).contains(&c))
    {
        return Err(SigError::malformed(format!(
            "the header {} contains control characters or non-ASCII bytes",
            quote(name)
        )));
    }
    Ok(Some(out))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn visible_ascii(s: &[u8]) -> bool {
    s.iter().all(|c| c.is_ascii_graphic())
}
