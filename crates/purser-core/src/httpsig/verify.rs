//! Verifying a signed request, in two phases: [`parse_request`] checks everything that needs
//! no key (syntax, policy, coverage, freshness, Content-Digest) and builds the signature
//! base; the caller then looks up the key named by `keyid` and calls [`SignedRequest::verify`].

use super::agent::{parse_signature_agent, SignatureAgentEntry};
use super::base::{self, Component};
use super::digest::verify_content_digest;
use super::error::{quote, SigError};
use super::jwk::Ed25519PublicKey;
use super::policy::*;
use super::request::RequestParts;
use super::sfv::{self, BareItem, Dictionary, InnerList, Member, Params};
use crate::time::Timestamp;

/// A request whose signature is well-formed, fresh and covers what Purser requires; not yet
/// checked against a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The Signature-Input / Signature member used (`sig1`, …).
    pub label: String,
    /// The `keyid` parameter (for Web Bot Auth, the signer's JWK thumbprint).
    pub keyid: String,
    pub nonce: String,
    /// `created`, seconds since the epoch.
    pub created: i64,
    /// `expires`, seconds since the epoch.
    pub expires: i64,
    /// The `tag` parameter, when present (always one of [`ACCEPTED_TAGS`]).
    pub tag: Option<String>,
    /// The covered components as serialised identifiers without quotes, in signed order
    /// (`@method`, `content-digest`, `signature-agent;key="agent2"`, …).
    pub components: Vec<String>,
    /// The parsed Signature-Agent header, when the request has one (it is then covered).
    pub signature_agent: Vec<SignatureAgentEntry>,
    /// The signature base: the exact bytes that were signed.
    pub base: Vec<u8>,
    pub signature: [u8; ED25519_SIGNATURE_LEN],
}

impl SignedRequest {
    pub fn created_at(&self) -> Timestamp {
        Timestamp(self.created.saturating_mul(1000))
    }

    /// When the signature stops being valid; a replay cache keeps the nonce until then (plus
    /// the clock skew).
    pub fn expires_at(&self) -> Timestamp {
        Timestamp(self.expires.saturating_mul(1000))
    }

    /// Checks the Ed25519 signature over the base with `key`.
    pub fn verify(&self, key: &Ed25519PublicKey) -> Result<(), SigError> {
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, key.as_bytes())
            .verify(&self.base, &self.signature)
            .map_err(|_| SigError::invalid(""))
    }
}

/// Reads and checks the request's Web Bot Auth signature under `policy` at time `now`.
///
/// `body` is the request body when the caller has it (`None` for bodiless requests); a
/// non-empty body must carry a matching Content-Digest that the signature covers.
pub fn parse_request(
    req: &RequestParts,
    body: Option<&[u8]>,
    policy: &Policy,
    now: Timestamp,
) -> Result<SignedRequest, SigError> {
    let input_field = signature_field(req, "signature-input", "Signature-Input")?;
    let sig_field = signature_field(req, "signature", "Signature")?;

    let inputs = sfv::parse_dictionary(&input_field)
        .map_err(|e| SigError::malformed(format!("Signature-Input is not a dictionary ({e})")))?;
    if inputs.is_empty() {
        return Err(SigError::Missing {
            header: "Signature-Input",
        });
    }
    if inputs.len() > MAX_SIGNATURE_LABELS {
        return Err(SigError::malformed(format!(
            "Signature-Input carries {} signatures; at most {MAX_SIGNATURE_LABELS} are read",
            inputs.len()
        )));
    }
    let (label, covered) = choose_label(&inputs)?;
    let params = &covered.params;
    let tag = check_tag(params, policy)?;

    let signatures = sfv::parse_dictionary(&sig_field)
        .map_err(|e| SigError::malformed(format!("Signature is not a dictionary ({e})")))?;
    let signature = signature_bytes(&signatures, label)?;

    if let Some(alg) = params.get("alg") {
        match alg {
            BareItem::String(a) if a == "ed25519" => {}
            BareItem::String(a) => {
                return Err(SigError::AlgorithmUnsupported { alg: a.clone() });
            }
            other => {
                return Err(SigError::malformed(format!(
                    "alg must be a string, found {}",
                    other.kind()
                )))
            }
        }
    }
    let keyid = keyid(params)?;
    let created = integer_param(params, "created")?;
    let expires = integer_param(params, "expires")?;
    let nonce = nonce(params)?;
    check_times(created, expires, policy, now)?;

    if covered.items.len() > MAX_COVERED_COMPONENTS {
        return Err(SigError::malformed(format!(
            "the signature covers {} components; at most {MAX_COVERED_COMPONENTS} are read",
            covered.items.len()
        )));
    }
    let components = covered
        .items
        .iter()
        .map(Component::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    let signature_agent = check_coverage(req, body, policy, &components)?;

    if let Some(body) = body {
        match base::joined_field(req, "content-digest")? {
            Some(header) => verify_content_digest(&header, body)?,
            None if !body.is_empty() => {
                return Err(SigError::ContentDigestMissing {
                    detail: "the request has a body but no Content-Digest header".to_string(),
                })
            }
            None => {}
        }
    }

    let base = base::signature_base(req, covered)?;
    let components = covered
        .items
        .iter()
        .map(|item| {
            let mut s = item.bare.as_str().unwrap_or_default().to_string();
            let mut p = String::new();
            if sfv::serialize_params(&item.params, &mut p).is_ok() {
                s.push_str(&p);
            }
            s
        })
        .collect();

    Ok(SignedRequest {
        label: label.to_string(),
        keyid,
        nonce,
        created,
        expires,
        tag,
        components,
        signature_agent,
        base,
        signature,
    })
}

/// A signature header's value (all lines joined), bounded; `Missing` when absent or blank.
fn signature_field(
    req: &RequestParts,
    lower: &str,
    display: &'static str,
) -> Result<Vec<u8>, SigError> {
    let lines = req.headers.values(lower);
    let total: usize = lines.iter().map(|l| l.len() + 2).sum();
    if total > MAX_SIGNATURE_HEADER_BYTES {
        return Err(SigError::malformed(format!(
            "{display} is longer than {MAX_SIGNATURE_HEADER_BYTES} bytes"
        )));
    }
    let joined = lines
        .iter()
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(&b", "[..]);
    if joined.is_empty() {
        return Err(SigError::Missing { header: display });
    }
    Ok(joined)
}

/// The first signature tagged for Web Bot Auth; else the only one.
fn choose_label(inputs: &Dictionary) -> Result<(&str, &InnerList), SigError> {
    let accepted = |m: &Member| match m {
        Member::InnerList(l) => l
            .params
            .get("tag")
            .and_then(BareItem::as_str)
            .is_some_and(|t| ACCEPTED_TAGS.contains(&t)),
        Member::Item(_) => false,
    };
    let (label, member) = match inputs.0.iter().find(|(_, m)| accepted(m)) {
        Some((l, m)) => (l, m),
        None => match inputs.0.as_slice() {
            [(l, m)] => (l, m),
            _ => {
                let first_tag = inputs.0.iter().find_map(|(_, m)| match m {
                    Member::InnerList(l) => l.params.get("tag").and_then(BareItem::as_str),
                    Member::Item(_) => None,
                });
                return Err(SigError::TagUnsupported {
                    tag: first_tag.map(str::to_string),
                });
            }
        },
    };
    match member {
        Member::InnerList(list) => Ok((label.as_str(), list)),
        Member::Item(_) => Err(SigError::malformed(format!(
            "Signature-Input member {} is not an inner list of components",
            quote(label)
        ))),
    }
}

fn check_tag(params: &Params, policy: &Policy) -> Result<Option<String>, SigError> {
    match params.get("tag") {
        None if policy.require_tag => Err(SigError::TagUnsupported { tag: None }),
        None => Ok(None),
        Some(BareItem::String(t)) if ACCEPTED_TAGS.contains(&t.as_str()) => Ok(Some(t.clone())),
        Some(BareItem::String(t)) => Err(SigError::TagUnsupported {
            tag: Some(t.clone()),
        }),
        Some(other) => Err(SigError::malformed(format!(
            "tag must be a string, found {}",
            other.kind()
        ))),
    }
}

fn signature_bytes(
    signatures: &Dictionary,
    label: &str,
) -> Result<[u8; ED25519_SIGNATURE_LEN], SigError> {
    let member = signatures.get(label).ok_or_else(|| {
        SigError::malformed(format!(
            "Signature has no member {} matching Signature-Input",
            quote(label)
        ))
    })?;
    let bytes = match member {
        Member::Item(item) => match &item.bare {
            BareItem::ByteSeq(b) => b,
            other => {
                return Err(SigError::malformed(format!(
                    "Signature member {} must be a byte sequence (:base64:), found {}",
                    quote(label),
                    other.kind()
                )))
            }
        },
        Member::InnerList(_) => {
            return Err(SigError::malformed(format!(
                "Signature member {} must be a byte sequence (:base64:), found an inner list",
                quote(label)
            )))
        }
    };
    <[u8; ED25519_SIGNATURE_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        SigError::malformed(format!(
            "an Ed25519 signature is {ED25519_SIGNATURE_LEN} bytes; this one is {}",
            bytes.len()
        ))
    })
}

fn keyid(params: &Params) -> Result<String, SigError> {
    let value = match (params.get("keyid"), params.get("keyId")) {
        (Some(_), Some(_)) => {
            return Err(SigError::malformed(
                "both keyid and keyId are present; send keyid only",
            ))
        }
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => return Err(SigError::incomplete("the keyid parameter")),
    };
    match value {
        BareItem::String(k) if k.is_empty() => Err(SigError::incomplete("the keyid parameter")),
        BareItem::String(k) if k.len() > MAX_KEYID_BYTES => Err(SigError::malformed(format!(
            "keyid is longer than {MAX_KEYID_BYTES} bytes"
        ))),
        BareItem::String(k) => Ok(k.clone()),
        other => Err(SigError::malformed(format!(
            "keyid must be a string, found {}",
            other.kind()
        ))),
    }
}

fn integer_param(params: &Params, name: &str) -> Result<i64, SigError> {
    match params.get(name) {
        None => Err(SigError::incomplete(format!("the {name} parameter"))),
        Some(BareItem::Integer(i)) if *i >= 0 => Ok(*i),
        Some(BareItem::Integer(_)) => {
            Err(SigError::malformed(format!("{name} must not be negative")))
        }
        Some(other) => Err(SigError::malformed(format!(
            "{name} must be an integer (seconds since 1970), found {}",
            other.kind()
        ))),
    }
}

fn nonce(params: &Params) -> Result<String, SigError> {
    match params.get("nonce") {
        None => Err(SigError::incomplete("the nonce parameter")),
        Some(BareItem::String(n)) if n.is_empty() => {
            Err(SigError::incomplete("the nonce parameter (it is empty)"))
        }
        Some(BareItem::String(n)) if n.len() > MAX_NONCE_BYTES => Err(SigError::malformed(
            format!("nonce is longer than {MAX_NONCE_BYTES} bytes"),
        )),
        Some(BareItem::String(n)) => Ok(n.clone()),
        Some(other) => Err(SigError::malformed(format!(
            "nonce must be a string, found {}",
            other.kind()
        ))),
    }
}

fn check_times(
    created: i64,
    expires: i64,
    policy: &Policy,
    now: Timestamp,
) -> Result<(), SigError> {
    if expires <= created {
        return Err(SigError::malformed(format!(
            "expires ({expires}) must be later than created ({created})"
        )));
    }
    let window = expires - created; // both non-negative, so no overflow
    if window > policy.max_window_secs {
        return Err(SigError::WindowTooLong {
            window_secs: window,
            max_secs: policy.max_window_secs,
        });
    }
    let now_ms = i128::from(now.0);
    let skew_ms = i128::from(policy.clock_skew_secs) * 1000;
    if i128::from(created) * 1000 > now_ms + skew_ms {
        return Err(SigError::NotYetValid {
            created_secs: created,
            now,
        });
    }
    if i128::from(expires) * 1000 + skew_ms < now_ms {
        return Err(SigError::Expired {
            expires_secs: expires,
            now,
        });
    }
    Ok(())
}

/// Checks the signature covers what this request needs covered; returns the parsed
/// Signature-Agent entries (empty when the header is absent).
fn check_coverage(
    req: &RequestParts,
    body: Option<&[u8]>,
    policy: &Policy,
    components: &[Component],
) -> Result<Vec<SignatureAgentEntry>, SigError> {
    let covers = |c: &Component| components.contains(c);
    let require = |c: Component, name: &str| {
        if covers(&c) {
            Ok(())
        } else {
            Err(SigError::incomplete(format!("the {name} component")))
        }
    };
    if policy.require_method_path_query {
        require(Component::Method, "@method")?;
    }
    require(Component::Authority, "@authority")?;
    if policy.require_method_path_query {
        require(Component::Path, "@path")?;
        if req.has_query() {
            require(Component::Query, "@query")?;
        }
    }
    if body.is_some_and(|b| !b.is_empty()) {
        let digest_covered = components
            .iter()
            .any(|c| matches!(c, Component::Field { name, key: None } if name == "content-digest"));
        if !digest_covered {
            return Err(SigError::incomplete("the content-digest component"));
        }
    }
    let Some(agent_header) = base::joined_field(req, "signature-agent")? else {
        return Ok(Vec::new());
    };
    let entries = parse_signature_agent(&agent_header)?;
    let whole = components
        .iter()
        .any(|c| matches!(c, Component::Field { name, key: None } if name == "signature-agent"));
    if !whole {
        // Covering each member by `;key` is as good as covering the whole header; anything
        // less would let an unsigned agent URL ride along.
        let every_member = !entries.is_empty()
            && entries.iter().all(|e| {
                e.label.as_ref().is_some_and(|label| {
                    components.iter().any(|c| {
                        matches!(c, Component::Field { name, key: Some(k) }
                            if name == "signature-agent" && k == label)
                    })
                })
            });
        if !every_member {
            return Err(SigError::incomplete(
                "the signature-agent component (the request has a Signature-Agent header)",
            ));
        }
    }
    Ok(entries)
}
