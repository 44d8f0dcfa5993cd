//! What Purser demands of a signed request, and the limits on everything it reads.

/// The `tag` values Purser accepts: Web Bot Auth's own, and the two agent profiles built on it
/// (an agent paying, an agent browsing). A signature made for another purpose is not reused here.
pub const ACCEPTED_TAGS: [&str; 3] = ["web-bot-auth", "agent-payer-auth", "agent-browser-auth"];

/// Longest accepted `expires - created`. Eight minutes covers a slow agent behind a proxy
/// chain, while keeping short both the time a captured request stays replayable and the time
/// the server must remember each nonce to refuse replays.
pub const MAX_SIGNATURE_WINDOW_SECS: i64 = 8 * 60;

/// Clock disagreement tolerated between signer and verifier, each way. NTP-synchronised
/// machines are within a second; a minute absorbs phones and VMs coming out of sleep.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// Longest `nonce`. Web Bot Auth signers send 64 random bytes in base64 (88 characters);
/// 256 leaves room for other encodings while bounding the replay cache's keys.
pub const MAX_NONCE_BYTES: usize = 256;

/// Longest `keyid`. A JWK thumbprint is 43 characters; 256 allows URLs and other schemes
/// while bounding the database lookup key.
pub const MAX_KEYID_BYTES: usize = 256;

/// Longest accepted Signature-Input or Signature value (all field lines joined). One
/// Web Bot Auth signature is under 1 KiB; 8 KiB allows a few without unbounded parsing.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 8 * 1024;

/// Most signatures (labels) read from one request. Proxies may add their own; four is plenty.
pub const MAX_SIGNATURE_LABELS: usize = 4;

/// Most covered components in one signature. A thorough agent covers about ten.
pub const MAX_COVERED_COMPONENTS: usize = 24;

/// Longest single covered field value (all its lines joined) put into a signature base.
pub const MAX_COMPONENT_VALUE_BYTES: usize = 8 * 1024;

/// Longest signature base built. Bounds the memory a request can make us spend on one check.
pub const MAX_SIGNATURE_BASE_BYTES: usize = 64 * 1024;

/// Ed25519 signatures are always this long (RFC 8032 §5.1.6).
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// How strictly [`super::parse_request`] judges a request. [`Policy::default`] is Purser's
/// policy; the fields exist so conformance tests can replay vectors made under the looser
/// Web Bot Auth minimum (which covers only `@authority`, with hour-long windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Longest accepted `expires - created`, in seconds.
    pub max_window_secs: i64,
    /// Clock skew tolerated each way, in seconds.
    pub clock_skew_secs: i64,
    /// Refuse a lone signature that has no `tag`.
    pub require_tag: bool,
    /// Require `@method` and `@path` (and `@query` when there is one) besides `@authority`.
    /// Off only for replaying Web Bot Auth vectors, which cover `@authority` alone.
    pub require_method_path_query: bool,
}

impl Policy {
    /// Purser's policy: the defaults above.
    pub const fn purser() -> Policy {
        Policy {
            max_window_secs: MAX_SIGNATURE_WINDOW_SECS,
            clock_skew_secs: CLOCK_SKEW_SECS,
            require_tag: true,
            require_method_path_query: true,
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::purser()
    }
}
