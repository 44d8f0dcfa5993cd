//! The Signature-Agent header (Web Bot Auth): where the signer's keys can be found.
//!
//! Current drafts send a dictionary of strings, each with an optional `type` parameter
//! (`directory`, the default; `jwks_uri`; `cimd`), e.g.
//! `sig1="https://signature-agent.test/jwks.json";type=jwks_uri`. Earlier drafts (and the
//! v1 architecture vectors) send a single string item, `"https://signature-agent.test"`; that
//! form is read as one unlabelled `directory` entry.

use super::error::{quote, SigError};
use super::sfv::{self, BareItem, Item, Member};

/// How to read the URI of a Signature-Agent entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAgentType {
    /// An HTTP Message Signatures directory (`/.well-known/http-message-signatures-directory`).
    Directory,
    /// A JWK Set URL.
    JwksUri,
    /// A Signature Agent Card (client ID metadata document).
    Cimd,
}

impl SignatureAgentType {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureAgentType::Directory => "directory",
            SignatureAgentType::JwksUri => "jwks_uri",
            SignatureAgentType::Cimd => "cimd",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureAgentEntry {
    /// The dictionary key (`None` for the legacy single-string form).
    pub label: Option<String>,
    pub uri: String,
    pub kind: SignatureAgentType,
}

/// Parses a Signature-Agent header value (all field lines joined with ", ").
pub fn parse_signature_agent(
    header: impl AsRef<[u8]>,
) -> Result<Vec<SignatureAgentEntry>, SigError> {
    let header = header.as_ref();
    let trimmed = header.trim_ascii();
    if trimmed.starts_with(b"\"") {
        let item = sfv::parse_item(trimmed).map_err(|e| bad(format!("{e}")))?;
        return Ok(vec![entry(None, &item)?]);
    }
    let dict = sfv::parse_dictionary(trimmed).map_err(|e| bad(format!("{e}")))?;
    if dict.is_empty() {
        return Err(bad("it is empty".to_string()));
    }
    dict.0
        .iter()
        .map(|(label, member)| match member {
            Member::Item(item) => entry(Some(label.clone()), item),
            Member::InnerList(_) => Err(bad(format!(
                "member {} must be a string, found an inner list",
                quote(label)
            ))),
        })
        .collect()
}

fn bad(detail: String) -> SigError {
    SigError::malformed(format!("the Signature-Agent header: {detail}"))
}

fn entry(label: Option<String>, item: &Item) -> Result<SignatureAgentEntry, SigError> {
    let BareItem::String(uri) = &item.bare else {
        return Err(bad(format!(
            "each agent must be a quoted URI string, found {}",
            item.bare.kind()
        )));
    };
    if !uri.starts_with("https://") && !uri.starts_with("http://") {
        return Err(bad(format!("{} is not an http(s) URI", quote(uri))));
    }
    let kind = match item.params.get("type") {
        None => SignatureAgentType::Directory,
        Some(BareItem::Token(t) | BareItem::String(t)) => match t.as_str() {
            "directory" => SignatureAgentType::Directory,
            "jwks_uri" => SignatureAgentType::JwksUri,
            "cimd" => SignatureAgentType::Cimd,
            other => {
                return Err(bad(format!(
                    "type {} is not one of directory, jwks_uri, cimd",
                    quote(other)
                )))
            }
        },
        Some(other) => return Err(bad(format!("type must be a token, found {}", other.kind()))),
    };
    Ok(SignatureAgentEntry {
        label,
        uri: uri.clone(),
        kind,
    })
}
