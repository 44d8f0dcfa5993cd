//! Every bound the parser and verifier enforce, named, with the reason for its size.

/// Longest chain accepted, in bytes. The AP2 vectors are under 4 KB; a mandate with a long
/// conversation transcript and many line items stays well under 64 KB. Bounds memory and hashing
/// work before any signature is checked.
pub const MAX_CHAIN_BYTES: usize = 256 * 1024;

/// Most hops (root + key-binding SD-JWTs). AP2 chains are user → agent → (credential provider)
/// → merchant: three today. Eight leaves room for deeper delegation while bounding the number of
/// signature verifications an attacker can make us perform (one per hop).
pub const MAX_HOPS: usize = 8;

/// Most disclosures in one hop. A mandate with dozens of line items and merchants fits; bounds the
/// digest table and hashing work.
pub const MAX_DISCLOSURES_PER_HOP: usize = 256;

/// Deepest JSON nesting followed while resolving `_sd` / `...` digests. Bounds recursion (and so
/// stack use) on hostile input; AP2 payloads nest four or five levels.
pub const MAX_RESOLVE_DEPTH: usize = 32;

/// Default allowed clock difference between the signer and this verifier for `iat`, `nbf`, `exp`.
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 60;

/// Upper bound on the skew a caller may configure: beyond this, `exp` would mean little.
pub const MAX_CLOCK_SKEW_SECS: i64 = 600;

/// Default age after which a key-binding hop (identified by its `iat`) is stale. Key-binding JWTs
/// answer a fresh nonce, so minutes, not days.
pub const DEFAULT_MAX_KB_AGE_SECS: i64 = 300;

/// Most constraints one open mandate may carry. AP2 defines ten types; a mandate repeating some
/// (several allowed lists) stays far below this. Bounds evaluation work per hop.
pub const MAX_CONSTRAINTS_PER_MANDATE: usize = 64;

/// Most `checkout.line_items` requirements in one constraint. A shopping list of dozens of
/// products fits; with [`MAX_CHECKOUT_LINE_ITEMS`] it bounds the matching graph to 64 × 256 edges.
pub const MAX_LINE_ITEM_REQUIREMENTS: usize = 64;

/// Most line items in one checkout that a `checkout.line_items` constraint is checked against.
pub const MAX_CHECKOUT_LINE_ITEMS: usize = 256;
