//! Link and credential tokens: `pct_<payment>_<mac>` (a scoped payment credential) and
//! `pcf_<confirmation>_<mac>` (a confirmation link). The MAC is HMAC-SHA256 under a key sealed
//! in the vault, over a domain-separated name of the record, so a token is unguessable, names
//! its record without a lookup table, and is never stored: what Purser keeps (and what a
//! database thief could read) cannot be turned into a token, and a replayed answer re-derives
//! the same token instead of keeping a copy.

use crate::ids;

const CREDENTIAL_PREFIX: &str = "pct";
const CONFIRM_PREFIX: &str = "pcf";
/// ACP's delegated vault token (`vt_…`): the same payment credential, minted under its own
/// domain so a `vt_` and a `pct_` of one payment are different strings.
const VAULT_TOKEN_PREFIX: &str = "vt";

fn mac(key: &[u8], domain: &str, id: &str) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, format!("purser:{domain}:v1|{id}").as_bytes());
    ids::base32_of(tag.as_ref(), 52)
}

fn token(prefix: &str, domain: &str, key: &[u8], id: &str, id_prefix: &str) -> String {
    let suffix = id.strip_prefix(id_prefix).unwrap_or(id);
    format!(
        "{prefix}_{}_{}",
        suffix.trim_start_matches('_'),
        mac(key, domain, id)
    )
}

/// The record id a token names, when its MAC is right (checked in constant time).
fn open(token: &str, prefix: &str, domain: &str, key: &[u8], id_prefix: &str) -> Option<String> {
    let rest = token.strip_prefix(prefix)?.strip_prefix('_')?;
    let (suffix, given) = rest.split_once('_')?;
    let id = format!("{id_prefix}_{suffix}");
    ids::check_id(id_prefix, &id, "token").ok()?;
    let want = mac(key, domain, &id);
    ids::constant_time_eq(want.as_bytes(), given.as_bytes()).then_some(id)
}

pub(crate) fn credential_token(key: &[u8], payment_id: &str) -> String {
    token(CREDENTIAL_PREFIX, "credential", key, payment_id, "pay")
}

pub(crate) fn credential_payment(key: &[u8], token: &str) -> Option<String> {
    open(token, CREDENTIAL_PREFIX, "credential", key, "pay")
}

pub(crate) fn vault_token(key: &[u8], payment_id: &str) -> String {
    token(
        VAULT_TOKEN_PREFIX,
        "acp-vault-token",
        key,
        payment_id,
        "pay",
    )
}

pub(crate) fn vault_token_payment(key: &[u8], token: &str) -> Option<String> {
    open(token, VAULT_TOKEN_PREFIX, "acp-vault-token", key, "pay")
}

pub(crate) fn confirm_token(key: &[u8], confirmation_id: &str) -> String {
    token(CONFIRM_PREFIX, "confirm", key, confirmation_id, "cnf")
}

pub(crate) fn confirm_id(key: &[u8], token: &str) -> Option<String> {
    open(token, CONFIRM_PREFIX, "confirm", key, "cnf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_any_change() {
        let key = [7u8; 32];
        let pid = ids::derived_id("pay", "a", "b");
        let t = credential_token(&key, &pid);
        assert!(t.starts_with("pct_"));
        assert_eq!(credential_payment(&key, &t).as_deref(), Some(pid.as_str()));
        // Another key, another domain, any flipped character: refused.
        assert_eq!(credential_payment(&[8u8; 32], &t), None);
        assert_eq!(confirm_id(&key, &t.replace("pct_", "pcf_")), None);
        for i in 4..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'a' { b'b' } else { b'a' };
            let s = String::from_utf8(b).unwrap_or_default();
            if s != t {
                assert_eq!(credential_payment(&key, &s), None, "{s}");
            }
        }
        assert_eq!(credential_payment(&key, ""), None);
        assert_eq!(credential_payment(&key, "pct_"), None);
        assert_eq!(credential_payment(&key, "pct_x_y"), None);
        let v = vault_token(&key, &pid);
        assert!(v.starts_with("vt_"), "{v}");
        assert_eq!(vault_token_payment(&key, &v).as_deref(), Some(pid.as_str()));
        // A vault token is not a payment credential and the other way round.
        assert_eq!(
            credential_payment(&key, &v.replacen("vt_", "pct_", 1)),
            None
        );
        assert_eq!(
            vault_token_payment(&key, &t.replacen("pct_", "vt_", 1)),
            None
        );
        let cid = ids::derived_id("cnf", "a", "b");
        let c = confirm_token(&key, &cid);
        assert_eq!(confirm_id(&key, &c).as_deref(), Some(cid.as_str()));
    }
}
