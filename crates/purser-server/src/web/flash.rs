//! One-shot notices after a form post: what the page a POST redirects to says was just done.
//!
//! A handler that did something answers with a redirect and [`set`]s the `purser-flash`
//! cookie (the same rules as the other cookies: `HttpOnly; SameSite=Strict; Path=/`, `Secure`
//! with the `__Host-` prefix unless the public URL is plain http on a loopback name; it lives
//! [`FLASH_SECS`]). Its value names the notice (a word from the page's closed set, never
//! text), what it is about (an id, or nothing), when it stops counting, and a MAC: HMAC-SHA256
//! under the session's secret over the page, the notice, the id and the expiry. The page
//! [`take`]s it, says it once, and deletes it (`Max-Age=0`). A flash made in another session,
//! for another page, altered or expired says nothing; a `?done=` in a link says nothing either,
//! so a crafted link cannot make a page claim something happened.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

use super::{cookie_name, read_cookie, set_cookie, Ctx};
use crate::AppState;

/// How long a notice waits for its page, in seconds: the redirect follows at once, so a
/// minute covers a slow phone; a notice never turns up on a visit much later.
pub const FLASH_SECS: i64 = 60;

/// The cookie's base name.
const COOKIE: &str = "purser-flash";

/// Hex characters of the MAC kept in the cookie (128 bits).
const MAC_HEX: usize = 32;

/// Longest notice word and id a flash carries (the cookie reader takes 120 characters).
const MAX_NOTICE: usize = 16;
const MAX_ABOUT: usize = 40;

/// A notice a page was asked to show, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// A word from the page's closed set (`approved`, `consented`, …).
    pub notice: String,
    /// The id it is about (a binding, a mandate), or empty.
    pub about: String,
}

/// What a page found in the request: the notice to show, and whether a flash cookie was sent
/// (then the page's answer deletes it, shown or not).
pub struct Taken {
    pub flash: Option<Flash>,
    sent: bool,
}

fn word_ok(s: &str, max: usize) -> bool {
    s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn about_ok(s: &str) -> bool {
    s.len() <= MAX_ABOUT && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The MAC of a flash for `page` under the session `secret`, as hex.
fn mac_of(secret: &str, page: &str, notice: &str, about: &str, expires: i64) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let msg = format!("purser-flash|{page}|{notice}|{about}|{expires}");
    let tag = hex::encode(aws_lc_rs::hmac::sign(&k, msg.as_bytes()).as_ref());
    tag.get(..MAC_HEX).unwrap_or_default().to_string()
}

/// The cookie's value: `notice_expires_about_mac` (`about` may hold `_`; the others do not).
fn value_of(secret: &str, page: &str, notice: &str, about: &str, expires: i64) -> String {
    let tag = mac_of(secret, page, notice, about, expires);
    format!("{notice}_{expires}_{about}_{tag}")
}

/// Read a cookie value made by [`value_of`] for `page` in the session `secret`, at `now`
/// (unix seconds): the notice, or nothing when anything about it is wrong.
fn parse(value: &str, secret: &str, page: &str, now: i64) -> Option<Flash> {
    let (notice, rest) = value.split_once('_')?;
    let (expires, rest) = rest.split_once('_')?;
    let (about, sent_tag) = rest.rsplit_once('_')?;
    let expires: i64 = expires.parse().ok()?;
    if !word_ok(notice, MAX_NOTICE) || notice.is_empty() || !about_ok(about) {
        return None;
    }
    let want = mac_of(secret, page, notice, about, expires);
    if !purser_wallet::ids::constant_time_eq(want.as_bytes(), sent_tag.as_bytes()) {
        return None;
    }
    // Expired, or made with a lifetime no flash has.
    if now > expires || expires > now.saturating_add(FLASH_SECS) {
        return None;
    }
    Some(Flash {
        notice: notice.to_string(),
        about: about.to_string(),
    })
}

fn now_secs(state: &AppState) -> i64 {
    state.wallet.now().0 / 1000
}

/// `resp` (a redirect to `page`) with the flash that makes `page` say `notice` about `about`,
/// bound to this request's session. Without a session, or with a notice or id that is not
/// plain, `resp` is returned as it is: the page then says nothing, which is never wrong.
pub fn set(
    state: &AppState,
    ctx: &Ctx,
    page: &str,
    notice: &str,
    about: &str,
    mut resp: Response,
) -> Response {
    let Some(secret) = ctx.session.as_ref().and(ctx.session_secret.as_deref()) else {
        return resp;
    };
    if notice.is_empty() || !word_ok(notice, MAX_NOTICE) || !about_ok(about) {
        return resp;
    }
    let expires = now_secs(state).saturating_add(FLASH_SECS);
    let c = set_cookie(
        &cookie_name(COOKIE, ctx.secure),
        &value_of(secret, page, notice, about, expires),
        Some(FLASH_SECS),
        ctx.secure,
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The notice this request's flash asks `page` to show, if it was made for this session and
/// this page and has not expired.
pub fn take(state: &AppState, ctx: &Ctx, headers: &HeaderMap, page: &str) -> Taken {
    let name = cookie_name(COOKIE, ctx.secure);
    let sent = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|kv| kv.trim().split_once('=').is_some_and(|(k, _)| k == name));
    let flash = match (&ctx.session, ctx.session_secret.as_deref()) {
        (Some(_), Some(secret)) => {
            read_cookie(headers, &name).and_then(|v| parse(&v, secret, page, now_secs(state)))
        }
        _ => None,
    };
    Taken { flash, sent }
}

impl Taken {
    /// The page's answer, deleting the flash when one was sent: a notice is said once.
    pub fn finish(&self, ctx: &Ctx, mut resp: Response) -> Response {
        if self.sent {
            let c = set_cookie(&cookie_name(COOKIE, ctx.secure), "", Some(0), ctx.secure);
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "pws_sessionsecretofone";

    #[test]
    fn a_flash_reads_back_only_in_its_session_page_and_time() {
        let v = value_of(S, "/agents", "approved", "bnd_abc_def", 1_000);
        let want = Some(Flash {
            notice: "approved".into(),
            about: "bnd_abc_def".into(),
        });
        assert_eq!(parse(&v, S, "/agents", 990), want);
        assert_eq!(parse(&v, S, "/agents", 1_000), want);
        assert_eq!(
            parse(&v, "pws_another", "/agents", 990),
            None,
            "another session"
        );
        assert_eq!(parse(&v, S, "/mandates", 990), None, "another page");
        assert_eq!(parse(&v, S, "/agents", 1_001), None, "expired");
        assert_eq!(
            parse(&v, S, "/agents", 1_000 - FLASH_SECS - 1),
            None,
            "a lifetime no flash has"
        );
        let empty = value_of(S, "/mandates", "consented", "", 1_000);
        assert_eq!(
            parse(&empty, S, "/mandates", 990),
            Some(Flash {
                notice: "consented".into(),
                about: String::new()
            })
        );
    }

    #[test]
    fn an_altered_flash_says_nothing() {
        let v = value_of(S, "/agents", "approved", "bnd_x", 1_000);
        for forged in [
            v.replacen("approved", "revoked", 1),
            v.replacen("bnd_x", "bnd_y", 1),
            v.replacen("1000", "1001", 1),
            format!(
                "{}{}",
                &v[..v.len() - 1],
                if v.ends_with('0') { '1' } else { '0' }
            ),
            "approved_1000_bnd_x_".to_string(),
            "approved".to_string(),
            String::new(),
        ] {
            assert_eq!(parse(&forged, S, "/agents", 990), None, "{forged}");
        }
    }
}
