//! The web wallet: pages for a person, served by `purser serve` itself (docs/web-wallet.md).
//!
//! - `GET /` Home (signed in), `GET /signin`, `POST /signin/pin`, `GET /signup`,
//!   `POST /signout`; the confirmation page lives in `routes::confirm` and uses this shell.
//! - `POST /web/passkeys/{register,signin,confirm,consent}/{start,finish}`: the WebAuthn
//!   ceremonies ([`passkeys`]), JSON for the page's script.
//! - `/mandates`, `/mandates/new`, `/mandates/:id/{consent,revoke}`: the Mandates section
//!   ([`mandates`]): words → proposal → adjust → consent; list; revoke.
//! - `GET /tasks`, `GET /tasks/:id`, `GET /tasks/:id/events`: Live tasks ([`tasks`]), the
//!   last a server-sent event stream of the task's timeline.
//! - `GET /static/purser.js`: the only script, compiled into the binary.
//!
//! **Cookies.** `purser-session` (the session secret), `purser-csrf` (the CSRF token) and
//! `purser-lang` are `HttpOnly; SameSite=Strict; Path=/`, and `Secure` with the `__Host-`
//! prefix unless Purser's public URL is plain `http://` on a loopback name
//! (`localhost`, `127.0.0.1`, `[::1]`) — there browsers would drop a `Secure` cookie, and
//! nothing leaves the machine. On any other `http://` URL cookies stay `Secure`, so signing in
//! works only behind https.
//!
//! **CSRF**: every page that has a form carries a token in a hidden field, and the script sends
//! it as `X-Purser-CSRF`. Signed in, the token is bound to the session ([`session_csrf`], a
//! hash of the session secret): a form from another session, or from before sign-out, is
//! refused. Signed out (the sign-in and sign-up forms), it is the `purser-csrf` cookie's value
//! (a fresh random one is set when missing), double-submitted. Every POST here must present
//! the expected value in the form or header (constant-time compare); the JSON routes also require
//! `Content-Type: application/json`, which a cross-site form cannot send. With
//! `SameSite=Strict` the browser does not send the cookies on cross-site requests at all.
//!
//! **Notices** of what a form post did are one-shot, session-bound cookies ([`flash`]), never
//! read from the URL.
//!
//! **One-time form keys** ([`fresh_form_key`]): forms that create or move something carry a
//! random key made when the page is drawn, so the same form sent twice does it once.
//!
//! **Content-Security-Policy**: `script-src 'self'` — no inline script, no other origin.

pub mod account;
pub mod agents;
pub mod bills;
pub mod flash;
pub mod i18n;
pub mod mandates;
pub mod pages;
pub mod passkeys;
pub mod tasks;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_wallet::web::WebSession;

use crate::html::html_escape;
use crate::AppState;
pub use i18n::Lang;

/// The wallet's sections, linked from every signed-in page.
pub const SECTIONS: &[(&str, &str)] = &[
    ("/", "Home"),
    ("/agents", "Agents"),
    ("/mandates", "Mandates"),
    ("/tasks", "Live tasks"),
    ("/bills", "Bills"),
];

/// Where the script is served.
pub const SCRIPT_PATH: &str = "/static/purser.js";

const SCRIPT: &str = include_str!("purser.js");

/// Largest form accepted on the sign-in and sign-out routes.
pub const MAX_FORM_BYTES: usize = 2048;

/// Largest JSON body accepted by the passkey routes (an attestation is a few KiB).
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// How a request is served: language, CSRF token, cookies' security, who is signed in.
pub struct Ctx {
    pub lang: Lang,
    pub csrf: String,
    /// The CSRF cookie must be set on the response (it was missing or malformed).
    new_csrf: bool,
    /// `?lang=` chose the language: remember it.
    chose_lang: bool,
    pub secure: bool,
    pub session: Option<WebSession>,
    /// The session cookie's value as sent, for sign-out.
    pub session_secret: Option<String>,
    /// `Host` is a loopback IP address, where passkeys cannot work.
    pub host_is_ip: Option<String>,
}

/// Cookies are `Secure` unless the public URL is plain http on a loopback name.
pub fn secure_cookies(public_url: &str) -> bool {
    let Some(rest) = public_url.strip_prefix("http://") else {
        return true;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    !["localhost", "127.0.0.1", "[::1]"].contains(&host.to_ascii_lowercase().as_str())
}

/// The cookie's name: `__Host-` prefixed when secure.
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// A cookie's value from the request, if sent once with a sane value.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 120
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// The browser's device cookie (`pwd_…`, set at sign-in), which decides whose PIN lock its
/// wrong PINs count towards (`purser_wallet::pins`). Read as sent; the wallet checks it.
pub fn device_cookie(headers: &HeaderMap, secure: bool) -> Option<String> {
    read_cookie(headers, &cookie_name("purser-device", secure))
}

/// A `Set-Cookie` value; `max_age` `Some(0)` deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

/// The CSRF token of a signed-in session: a hash of its secret under its own label, so that it
/// names the session without revealing it (the database keeps a different hash).
pub fn session_csrf(session_secret: &str) -> String {
    let h = purser_wallet::ids::secret_hash(&format!("purser-csrf|{session_secret}"));
    format!("pwx_{}", h.get(..52).unwrap_or(&h))
}

fn fresh_csrf() -> String {
    purser_wallet::ids::new_secret("pwx").unwrap_or_default()
}

/// The `lang` query parameter, if any.
fn query_lang(query: Option<&str>) -> Option<Lang> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v))
}

impl Ctx {
    /// Read what the request says; look the session up when one is sent.
    pub async fn of(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> Ctx {
        let secure = secure_cookies(&state.public_url);
        let from_query = query_lang(query);
        let lang = from_query
            .or_else(|| {
                read_cookie(headers, &cookie_name("purser-lang", secure))
                    .and_then(|v| Lang::parse(&v))
            })
            .or_else(|| Lang::from_accept_language(headers))
            .unwrap_or(Lang::En);
        let session_secret = read_cookie(headers, &cookie_name("purser-session", secure));
        let session = match &session_secret {
            Some(s) => state.wallet.session(s).await.ok(),
            None => None,
        };
        // Signed in: the token is derived from the session (a form made for one session is
        // refused in any other, and sign-out ends it). Signed out: the cookie's.
        let (csrf, new_csrf) = match (&session, &session_secret) {
            (Some(_), Some(secret)) => (session_csrf(secret), false),
            _ => {
                let sent = read_cookie(headers, &cookie_name("purser-csrf", secure))
                    .filter(|v| v.starts_with("pwx_"));
                let new_csrf = sent.is_none();
                (sent.unwrap_or_else(fresh_csrf), new_csrf)
            }
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let host_is_ip = ["127.0.0.1", "[::1]"]
            .iter()
            .find(|ip| host == **ip || host.starts_with(&format!("{ip}:")))
            .map(|ip| host.replacen(ip, "localhost", 1));
        Ctx {
            lang,
            csrf,
            new_csrf,
            chose_lang: from_query.is_some(),
            secure,
            session,
            session_secret,
            host_is_ip,
        }
    }

    /// A context with no request behind it (for tests of page makers).
    #[cfg(test)]
    pub(crate) fn plain(lang: Lang) -> Ctx {
        Ctx {
            lang,
            csrf: "pwx_test".into(),
            new_csrf: false,
            chose_lang: false,
            secure: true,
            session: None,
            session_secret: None,
            host_is_ip: None,
        }
    }

    /// Whether `sent` (a form field or header) is this browser's CSRF token.
    pub fn csrf_ok(&self, sent: Option<&str>) -> bool {
        !self.new_csrf
            && sent.is_some_and(|s| {
                purser_wallet::ids::constant_time_eq(s.as_bytes(), self.csrf.as_bytes())
            })
    }

    /// The hidden form field carrying the CSRF token.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            html_escape(&self.csrf)
        )
    }

    /// Add the cookies this context must set.
    pub fn finish(&self, mut resp: Response) -> Response {
        let mut cookies = Vec::new();
        if self.new_csrf {
            cookies.push(set_cookie(
                &cookie_name("purser-csrf", self.secure),
                &self.csrf,
                None,
                self.secure,
            ));
        }
        if self.chose_lang {
            cookies.push(set_cookie(
                &cookie_name("purser-lang", self.secure),
                self.lang.code(),
                Some(365 * 24 * 3600),
                self.secure,
            ));
        }
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }

    /// A whole page in the shell: `title` plain text, `body` escaped HTML.
    pub fn page(&self, status: StatusCode, title: &str, body: &str) -> Response {
        self.section_page("", status, title, body)
    }

    /// A page of one of the wallet's [`SECTIONS`] (`section` is its path, such as
    /// `/agents`), marked as the current one in the section links.
    pub fn section_page(
        &self,
        section: &str,
        status: StatusCode,
        title: &str,
        body: &str,
    ) -> Response {
        let l = self.lang;
        let other = match l {
            Lang::En => "<a href=\"?lang=zh\" lang=\"zh-Hans\" hreflang=\"zh-Hans\">中文</a>",
            Lang::Zh => "<a href=\"?lang=en\" lang=\"en\" hreflang=\"en\">English</a>",
        };
        let signout = match &self.session {
            Some(s) => format!(
                "<a class=\"who\" href=\"/account\" title=\"{}\"><bdi>{}</bdi></a><form method=\"post\" action=\"/signout\" class=\"inline\">{}<button type=\"submit\" class=\"link\">{}</button></form>",
                l.t("Sign-in and security"),
                html_escape(&s.user_name),
                self.csrf_field(),
                l.t("Sign out")
            ),
            None => String::new(),
        };
        let sections = match &self.session {
            Some(_) => {
                let links: String = SECTIONS
                    .iter()
                    .map(|(href, name)| {
                        let current = if *href == section {
                            " aria-current=\"page\""
                        } else {
                            ""
                        };
                        format!("<a href=\"{href}\"{current}>{}</a>", l.t(name))
                    })
                    .collect();
                format!(
                    "<nav class=\"sections\" aria-label=\"{}\">{links}</nav>\n",
                    l.t("Wallet sections")
                )
            }
            None => String::new(),
        };
        let html = format!(
            "<!doctype html>\n<html lang=\"{tag}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex, nofollow\">\n<meta name=\"purser-csrf\" content=\"{csrf}\">\n<title>{title} · Purser</title>\n<link rel=\"stylesheet\" href=\"{css}\">\n<script src=\"{SCRIPT_PATH}\" defer></script>\n</head>\n<body>\n<header class=\"top\">\n<a class=\"brand\" href=\"/\">Purser</a>\n<nav aria-label=\"{lang_label}\">{other}{signout}</nav>\n</header>\n{sections}<main>\n{body}\n</main>\n</body>\n</html>\n",
            tag = l.tag(),
            csrf = html_escape(&self.csrf),
            title = html_escape(title),
            css = crate::html::STYLESHEET_PATH,
            lang_label = l.t("Language"),
        );
        let resp = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response();
        self.finish(crate::html::secure(resp, "no-store"))
    }

    /// The page said when the wallet cannot answer right now (503): nothing the person did
    /// was wrong, and reloading later is what to do. The caller logs the cause.
    pub fn unavailable(&self) -> Response {
        self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            self.lang.t("Something went wrong"),
            self.lang
                .t("Purser could not show this page right now. Reload it in a moment."),
        )
    }

    /// A page with a heading and one paragraph of plain text.
    pub fn message(&self, status: StatusCode, title: &str, text: &str) -> Response {
        let t = html_escape(title);
        self.page(
            status,
            title,
            &format!(
                "<h1>{t}</h1>\n<section class=\"card notice\"><p>{}</p></section>",
                html_escape(text)
            ),
        )
    }
}

/// A signed-in person's form post, read and checked once for every wallet form.
pub enum FormPost {
    /// Signed in, and the form carries this session's CSRF token.
    Fresh(Ctx, WebSession, Vec<(String, String)>),
    /// Not signed in: the answer is the way to the sign-in page.
    SignIn(Response),
    /// Too large, a repeated field, or another session's (or no) token: nothing is done.
    Stale(Ctx, WebSession),
}

/// Read a wallet form of at most `limit` bytes: who is signed in, its fields, its CSRF token.
pub async fn signed_in_form(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: axum::body::Body,
    limit: usize,
) -> FormPost {
    let ctx = Ctx::of(state, headers, query).await;
    let Some(session) = ctx.session.clone() else {
        return FormPost::SignIn(ctx.finish(see_other("/signin")));
    };
    match pages::form_fields_up_to(body, limit).await {
        Some(f) if ctx.csrf_ok(pages::field(&f, "csrf")) => FormPost::Fresh(ctx, session, f),
        _ => FormPost::Stale(ctx, session),
    }
}

/// Prefix of the one-time keys forms carry.
const FORM_KEY_PREFIX: &str = "pwk_";

/// Longest form key accepted (a real one is 56 characters; the JSON API's Idempotency-Key
/// allows 255).
const MAX_FORM_KEY_LEN: usize = 80;

/// A fresh one-time key for a form that creates or moves something: a form sent twice (a
/// double click, Back and resend) carries the same key, and the wallet acts once per key.
pub fn fresh_form_key() -> String {
    purser_wallet::ids::new_secret(FORM_KEY_PREFIX.trim_end_matches('_')).unwrap_or_default()
}

/// Whether a form's one-time key looks like one [`fresh_form_key`] made.
pub fn plausible_form_key(k: &str) -> bool {
    k.len() <= MAX_FORM_KEY_LEN
        && k.len() > FORM_KEY_PREFIX.len()
        && k.starts_with(FORM_KEY_PREFIX)
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A redirect after a POST or to the sign-in page.
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    crate::html::secure(r, "no-store")
}

/// `GET /static/purser.js`.
pub async fn script() -> Response {
    let resp = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SCRIPT,
    )
        .into_response();
    crate::html::secure(resp, "public, max-age=3600")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_except_on_plain_http_loopback() {
        assert!(!secure_cookies("http://127.0.0.1:7420"));
        assert!(!secure_cookies("http://localhost:7420"));
        assert!(!secure_cookies("http://[::1]:7420/"));
        assert!(!secure_cookies("http://localhost"));
        assert!(secure_cookies("https://localhost:7420"));
        assert!(secure_cookies("https://pay.example.com"));
        assert!(secure_cookies("http://pay.example.com"));
        assert!(secure_cookies("http://localhost.example.com:80"));
        assert_eq!(cookie_name("purser-session", true), "__Host-purser-session");
        assert_eq!(cookie_name("purser-session", false), "purser-session");
        let c = set_cookie("__Host-purser-session", "pws_x", None, true);
        assert_eq!(
            c,
            "__Host-purser-session=pws_x; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let c = set_cookie("purser-session", "", Some(0), false);
        assert_eq!(
            c,
            "purser-session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn only_keys_the_pages_make_are_taken() {
        let k = fresh_form_key();
        assert!(plausible_form_key(&k), "{k}");
        assert_ne!(fresh_form_key(), k, "each form gets its own key");
        assert!(!plausible_form_key(""));
        assert!(!plausible_form_key("pwk_"));
        assert!(!plausible_form_key("other_abc"));
        assert!(!plausible_form_key("pwk_a b"));
        assert!(!plausible_form_key(&format!("pwk_{}", "a".repeat(100))));
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_sane_value() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xpurser-csrf=bad; purser-csrf=pwx_abc; other=1"),
        );
        assert_eq!(read_cookie(&h, "purser-csrf").as_deref(), Some("pwx_abc"));
        assert_eq!(read_cookie(&h, "purser-session"), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("purser-csrf=<script>"),
        );
        assert_eq!(read_cookie(&h, "purser-csrf"), None);
    }
}
