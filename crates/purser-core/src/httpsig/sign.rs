//! Signing a request in the Web Bot Auth profile, as Purser's verifier expects it. Used by the
//! agent SDK and by tests; the verifier never calls it.

use super::base;
use super::digest::content_digest;
use super::error::{quote, SigError};
use super::keypair::Ed25519KeyPair;
use super::policy::{ACCEPTED_TAGS, MAX_COVERED_COMPONENTS, MAX_NONCE_BYTES};
use super::request::{Overlay, RequestParts};
use super::sfv::{self, BareItem, InnerList, Item, Params};
use base64::Engine;

/// How long a signature made with [`SignParams::new`] stays valid: under Purser's eight-minute
/// limit, and long enough for a slow network round trip.
pub const DEFAULT_SIGNATURE_LIFETIME_SECS: i64 = 5 * 60;

#[derive(Clone, Debug)]
pub struct SignParams<'a> {
    /// Seconds since the epoch.
    pub created: i64,
    /// Seconds since the epoch; must be after `created`.
    pub expires: i64,
    /// A fresh random value per request (e.g. 32–64 random bytes in base64).
    pub nonce: String,
    /// One of [`ACCEPTED_TAGS`].
    pub tag: &'a str,
    /// The dictionary label, usually `sig1`.
    pub label: &'a str,
    /// Further components to cover (header names in lower case, or derived `@…` names),
    /// after the ones always covered.
    pub extra_components: Vec<String>,
}

impl SignParams<'static> {
    /// `tag="web-bot-auth"`, label `sig1`, expiring [`DEFAULT_SIGNATURE_LIFETIME_SECS`] after
    /// `created`.
    pub fn new(created: i64, nonce: impl Into<String>) -> SignParams<'static> {
        SignParams {
            created,
            expires: created.saturating_add(DEFAULT_SIGNATURE_LIFETIME_SECS),
            nonce: nonce.into(),
            tag: "web-bot-auth",
            label: "sig1",
            extra_components: Vec::new(),
        }
    }
}

/// Header values to add to the request before sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub signature_input: String,
    pub signature: String,
    /// The Content-Digest to send (replacing any the request had), when there is a body.
    pub content_digest: Option<String>,
}

/// Signs `req` (and `body`, through Content-Digest) with `key`. Covers `@method`,
/// `@authority`, `@path`, `@query` when there is a query, `content-digest` when the body is
/// non-empty, `signature-agent` when the request has that header, then `extra_components`.
/// The `keyid` is the key's JWK thumbprint.
pub fn sign_request(
    key: &Ed25519KeyPair,
    req: &RequestParts,
    body: Option<&[u8]>,
    params: &SignParams,
) -> Result<SignatureHeaders, SigError> {
    if params.expires <= params.created || params.created < 0 {
        return Err(SigError::malformed(
            "expires must be later than created, both in seconds since 1970",
        ));
    }
    if params.nonce.is_empty()
        || params.nonce.len() > MAX_NONCE_BYTES
        || !sfv::is_sf_string(&params.nonce)
    {
        return Err(SigError::malformed(format!(
            "the nonce must be 1 to {MAX_NONCE_BYTES} visible ASCII characters"
        )));
    }
    if !ACCEPTED_TAGS.contains(&params.tag) {
        return Err(SigError::TagUnsupported {
            tag: Some(params.tag.to_string()),
        });
    }

    let label = params.label;
    let label_ok = matches!(label.as_bytes().first(), Some(c) if c.is_ascii_lowercase() || *c == b'*')
        && label
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c));
    if !label_ok {
        return Err(SigError::malformed(format!(
            "the label {} is not a valid dictionary key (lower-case letters, digits, _-.*)",
            quote(label)
        )));
    }

    let mut names: Vec<String> = vec!["@method".into(), "@authority".into(), "@path".into()];
    if req.has_query() {
        names.push("@query".into());
    }
    let digest = body.filter(|b| !b.is_empty()).map(content_digest);
    if digest.is_some() {
        names.push("content-digest".into());
    }
    if !req.headers.values("signature-agent").is_empty() {
        names.push("signature-agent".into());
    }
    for extra in &params.extra_components {
        let extra = extra.to_ascii_lowercase();
        if !names.contains(&extra) {
            names.push(extra);
        }
    }
    if names.len() > MAX_COVERED_COMPONENTS {
        return Err(SigError::malformed(format!(
            "at most {MAX_COVERED_COMPONENTS} components can be covered"
        )));
    }

    let mut sig_params = Params::default();
    sig_params.push("created", BareItem::Integer(params.created));
    sig_params.push("expires", BareItem::Integer(params.expires));
    sig_params.push("keyid", BareItem::String(key.key_id()));
    sig_params.push("alg", BareItem::String("ed25519".into()));
    sig_params.push("nonce", BareItem::String(params.nonce.clone()));
    sig_params.push("tag", BareItem::String(params.tag.to_string()));
    let covered = InnerList {
        items: names
            .into_iter()
            .map(|n| Item {
                bare: BareItem::String(n),
                params: Params::default(),
            })
            .collect(),
        params: sig_params,
    };

    let overlay;
    let signing_view;
    let view = match &digest {
        Some(d) => {
            overlay = Overlay {
                inner: req.headers,
                name: "content-digest",
                value: d.as_bytes(),
            };
            signing_view = RequestParts {
                headers: &overlay,
                ..*req
            };
            &signing_view
        }
        None => req,
    };
    let signature_base = base::signature_base(view, &covered)?;
    let signature = key
        .sign(&signature_base)
        .map_err(|e| SigError::malformed(format!("signing failed: {e}")))?;

    let inner = sfv::serialize_inner_list(&covered)
        .map_err(|e| SigError::malformed(format!("the signature parameters: {e}")))?;
    Ok(SignatureHeaders {
        signature_input: format!("{label}={inner}"),
        signature: format!(
            "{label}=:{}:",
            base64::engine::general_purpose::STANDARD.encode(signature)
        ),
        content_digest: digest,
    })
}
