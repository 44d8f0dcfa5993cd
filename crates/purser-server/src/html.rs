//! Server-rendered HTML for people (the confirmation page): escaping, the page shell, and the
//! headers every page carries.
//!
//! Pages load nothing from elsewhere and run no inline script, so the Content-Security-Policy
//! can forbid everything but the stylesheet and the one script Purser serves itself
//! (`/static/purser.css`, `/static/purser.js`), requests from that script back to Purser, and
//! forms posting back to Purser. Pages are never cached and never send a Referer: the
//! confirmation link's token is in the URL.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Nothing but Purser's own stylesheet and script, requests and forms to Purser, no framing,
/// no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/static/purser.css";

const STYLESHEET: &str = include_str!("purser.css");

/// Text made safe for HTML element content and double- or single-quoted attribute values.
///
/// Escapes `& < > " ' \``; replaces the bidirectional overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069) with U+FFFD so a name cannot reorder the text around it, and control
/// characters other than tab and newline with U+FFFD.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => out.push('\u{FFFD}'),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The headers every HTML page and the stylesheet carry.
pub(crate) fn secure(mut resp: Response, cache: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// A whole page: `title` and `body` must already be escaped HTML.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>{title} · Purser</title>\n<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n</head>\n<body>\n<main>\n<p class=\"brand\">Purser</p>\n{body}\n</main>\n</body>\n</html>\n"
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
    secure(resp, "no-store")
}

/// A page with a heading and one paragraph of plain text (escaped here).
pub fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    let t = html_escape(title);
    page(
        status,
        &t,
        &format!("<h1>{t}</h1>\n<p>{}</p>", html_escape(text)),
    )
}

/// `GET /static/purser.css`.
pub async fn stylesheet() -> Response {
    let resp = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        STYLESHEET,
    )
        .into_response();
    secure(resp, "public, max-age=3600")
}

#[cfg(test)]
mod tests {
    use super::html_escape;

    #[test]
    fn markup_in_names_is_shown_as_text() {
        for (hostile, want) in [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            (
                "\"><img src=x onerror=alert(1)>",
                "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
            ),
            ("Tom's & Jerry's", "Tom&#39;s &amp; Jerry&#39;s"),
            ("' onmouseover='x", "&#39; onmouseover=&#39;x"),
            ("`x`", "&#96;x&#96;"),
            ("&lt;already&gt;", "&amp;lt;already&amp;gt;"),
            ("Boots 靴 ¥799", "Boots 靴 ¥799"),
            ("", ""),
        ] {
            assert_eq!(html_escape(hostile), want, "{hostile}");
        }
    }

    #[test]
    fn text_cannot_reorder_or_hide_what_follows() {
        // "Visa" written right to left after an override would read as "asiV" … or the reverse.
        let e = html_escape("Shop\u{202E}asiV\u{2066}x\u{2069}\u{0000}\u{001b}[31m");
        assert!(
            !e.chars()
                .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
            "{e:?}"
        );
        assert!(!e.chars().any(|c| c.is_control()), "{e:?}");
        assert!(e.starts_with("Shop\u{FFFD}asiV"), "{e:?}");
        assert_eq!(html_escape("a\nb\tc"), "a\nb\tc");
    }

    #[test]
    fn nothing_escaped_can_close_a_tag_or_an_attribute() {
        let nasty: String = (0u32..0x80).filter_map(char::from_u32).collect::<String>()
            + "\u{FEFF}\u{200B}</title></textarea><!--";
        let e = html_escape(&nasty);
        for c in ['<', '>', '"', '\'', '`'] {
            assert!(!e.contains(c), "{c} survived: {e:?}");
        }
        // Every '&' starts one of our entities.
        for (i, _) in e.match_indices('&') {
            let rest = &e[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#96;"]
                    .iter()
                    .any(|ent| rest.starts_with(ent)),
                "{rest:?}"
            );
        }
    }
}
