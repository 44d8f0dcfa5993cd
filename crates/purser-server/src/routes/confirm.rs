//! The confirmation page: `GET /confirm/:token` shows the payment an agent asked for (merchant,
//! items, total, agent, mandate, the person's own words, why they are asked, when the link
//! expires) with a PIN field and Approve / Decline; `POST /confirm/:token` (form-encoded `pin`
//! and `action=approve|decline`) records the answer through
//! `Wallet::decide_confirmation` and shows the result.
//!
//! Every answer is a page for a person, never JSON. Every value is escaped
//! ([`crate::html::html_escape`]). A token that is malformed, unknown or forged gets the same
//! 404 page, which says nothing about why. The token is only ever in the path: request logs
//! carry the route pattern (`/confirm/:token`), never the path itself.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use purser_wallet::payments::confirm::{ConfirmAction, ConfirmationView};
use purser_wallet::{Kind, WalletError};

use crate::error::ApiError;
use crate::html::{html_escape, message_page, page};
use crate::AppState;

/// Longest token looked at; a real one is about 80 characters.
pub const MAX_TOKEN_LEN: usize = 160;

/// Largest form accepted: a PIN and an action fit in well under 100 bytes.
pub const MAX_FORM_BYTES: usize = 1024;

/// Tokens are `pcf_<id>_<mac>`: letters, digits and `_`. Anything else is not looked up.
fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn not_found() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "This confirmation link is not valid: it may have been copied incompletely. Open the link exactly as your agent or Purser sent it, or ask your agent to request the payment again.",
    )
}

fn status_of(e: &WalletError) -> StatusCode {
    ApiError::from(e.clone()).status
}

/// "in 14 minutes", "in less than a minute".
fn time_left(expires_ms: i64, now_ms: i64) -> String {
    let minutes = expires_ms.saturating_sub(now_ms) / 60_000;
    match minutes {
        m if m < 1 => "in less than a minute".into(),
        1 => "in 1 minute".into(),
        m if m < 120 => format!("in {m} minutes"),
        m => format!("in about {} hours", m / 60),
    }
}

/// A message as a sentence on a page: capital first letter, final full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// `2026-11-21T20:30:00Z` → `2026-11-21 20:30 UTC`.
fn readable_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(hm)) if rfc3339.ends_with('Z') => format!("{day} {hm} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// The payment: what, where, how much, for whom, under what.
fn summary(v: &ConfirmationView) -> String {
    let mut h = String::with_capacity(2048);
    let country = v
        .merchant_country
        .as_deref()
        .map(|c| format!(" · {}", html_escape(c)))
        .unwrap_or_default();
    h.push_str(&format!(
        "<section class=\"card\">\n<h2>Pay</h2>\n<p class=\"total\">{}</p>\n<p>to <strong><bdi>{}</bdi></strong></p>\n<p class=\"muted\"><bdi>{}</bdi>{country}</p>\n</section>\n",
        html_escape(&v.total.display),
        html_escape(&v.merchant_name),
        html_escape(&v.merchant_website),
    ));
    if !v.items.is_empty() {
        h.push_str("<section class=\"card\">\n<h2>Items</h2>\n<table class=\"items\">\n");
        for it in &v.items {
            let price = it
                .unit_price
                .as_ref()
                .map(|p| format!("{} each", html_escape(&p.display)))
                .unwrap_or_default();
            h.push_str(&format!(
                "<tr><td><bdi>{}</bdi></td><td class=\"qty\">× {}</td><td class=\"price\">{price}</td></tr>\n",
                html_escape(&it.title),
                it.quantity
            ));
        }
        h.push_str("</table>\n</section>\n");
    }
    h.push_str(&format!(
        "<section class=\"card\">\n<h2>Asked by your agent</h2>\n<p><strong><bdi>{}</bdi></strong>, run by <bdi>{}</bdi></p>\n</section>\n",
        html_escape(&v.agent_name),
        html_escape(&v.agent_operator),
    ));
    if v.mandate_summary.is_some() || v.mandate_words.is_some() {
        h.push_str("<section class=\"card\">\n<h2>Under your mandate</h2>\n");
        if let Some(s) = &v.mandate_summary {
            h.push_str(&format!("<p>{}</p>\n", html_escape(s)));
        }
        if let Some(w) = v.mandate_words.as_deref().filter(|w| !w.trim().is_empty()) {
            h.push_str(&format!(
                "<p class=\"muted\">In your words:</p>\n<blockquote><p>“{}”</p></blockquote>\n",
                html_escape(w)
            ));
        }
        h.push_str("</section>\n");
    }
    h
}

/// The pending confirmation with its form; `notice` (already escaped) above the form.
fn pending_page(
    status: StatusCode,
    v: &ConfirmationView,
    token: &str,
    now_ms: i64,
    notice: Option<&str>,
) -> Response {
    let mut h = String::from("<h1>Confirm this payment</h1>\n");
    // Above everything: after a wrong PIN the page reloads at its top.
    if let Some(n) = notice {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\">\n<p>{n}</p>\n</section>\n"
        ));
    }
    h.push_str(&summary(v));
    h.push_str(&format!(
        "<section class=\"card why\">\n<h2>Why you are asked</h2>\n<p>{}</p>\n<p class=\"muted\">This link expires at {} ({}).</p>\n</section>\n",
        html_escape(&v.reason),
        html_escape(&readable_time(&v.expires_at)),
        time_left(v.expires_at_ms, now_ms),
    ));
    // The token is checked to be [A-Za-z0-9_] before any page is made; escaped all the same.
    h.push_str(&format!(
        "<form class=\"card\" method=\"post\" action=\"/confirm/{}\">\n<label for=\"pin\">Your Purser PIN</label>\n<input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" pattern=\"[0-9]*\" minlength=\"6\" maxlength=\"12\" autocomplete=\"off\" required>\n<div class=\"buttons\">\n<button type=\"submit\" name=\"action\" value=\"approve\" class=\"approve\">Approve {}</button>\n<button type=\"submit\" name=\"action\" value=\"decline\" class=\"decline\">Decline</button>\n</div>\n</form>\n",
        html_escape(token),
        html_escape(&v.total.display),
    ));
    page(status, "Confirm a payment", &h)
}

/// A confirmation that is no longer waiting: what became of it.
fn settled_page(status: StatusCode, v: &ConfirmationView, state_word: &str) -> Response {
    let (title, class, text) = match state_word {
        "approved" => (
            "Already approved",
            "ok",
            format!(
                "You approved this payment of {}. The agent can pay it now; there is nothing more to do.",
                v.total.display
            ),
        ),
        "declined" => (
            "Already declined",
            "notice",
            "You declined this payment. The agent cannot pay it.".to_string(),
        ),
        "expired" => (
            "This link has expired",
            "notice",
            format!(
                "It was open until {}. The payment was not approved in time, so the agent cannot pay it; if you still want it, ask your agent to request it again.",
                readable_time(&v.expires_at)
            ),
        ),
        _ => (
            "This confirmation is closed",
            "notice",
            "This payment no longer waits for an answer.".to_string(),
        ),
    };
    let body = format!(
        "<h1>{}</h1>\n<section class=\"card {class}\">\n<p>{}</p>\n</section>\n{}",
        html_escape(title),
        html_escape(&text),
        summary(v)
    );
    page(status, title, &body)
}

/// The page for a view as it stands.
fn view_page(
    status: StatusCode,
    v: &ConfirmationView,
    token: &str,
    now_ms: i64,
    notice: Option<&str>,
) -> Response {
    match v.status.as_str() {
        "pending" if v.expires_at_ms > now_ms => pending_page(status, v, token, now_ms, notice),
        "pending" => settled_page(status, v, "expired"),
        other => settled_page(status, v, other),
    }
}

fn token_of(path: Result<Path<String>, PathRejection>) -> Option<String> {
    path.ok().map(|Path(t)| t).filter(|t| plausible(t.as_str()))
}

/// An error with no view to show beside it.
fn error_page(e: &WalletError) -> Response {
    let status = status_of(e);
    let title = match (e.kind, e.code.as_str()) {
        (Kind::NotFound, _) => return not_found(),
        (_, "pin_locked") => "PIN entry is locked",
        (_, "pin_not_set") => "Set a PIN first",
        (_, "pin_wrong") => "Wrong PIN",
        (_, "pin_invalid") => "That is not a PIN",
        (_, c) if c.contains("expired") => "This link has expired",
        (Kind::Unavailable, _) => "Purser could not record your answer",
        (Kind::Conflict, _) => "This confirmation is closed",
        _ => "Your answer was not recorded",
    };
    let text = match e.kind {
        Kind::Unavailable => format!(
            "{} Nothing was recorded; reload this page in a moment and answer again.",
            sentence(&e.message)
        ),
        _ => sentence(&e.message),
    };
    message_page(status, title, &text)
}

/// `GET /confirm/:token`
pub async fn show(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Some(token) = token_of(path) else {
        return not_found();
    };
    match state.wallet.confirmation_view(&token).await {
        Ok(v) => view_page(StatusCode::OK, &v, &token, state.wallet.now().0, None),
        Err(e) => error_page(&e),
    }
}

/// The PIN as typed. No `Debug`, so it cannot reach a log by accident.
struct Pin(String);

/// The form's two fields. Anything else in it is ignored; a field sent twice is refused.
struct Form {
    pin: Pin,
    action: ConfirmAction,
}

fn parse_form(bytes: &[u8]) -> Result<Form, &'static str> {
    let mut pin: Option<Pin> = None;
    let mut action = None;
    for (k, v) in form_urlencoded::parse(bytes) {
        match k.as_ref() {
            "pin" if pin.is_some() => {
                return Err("The form was sent with two PINs. Reload the page and try once more.")
            }
            "pin" => pin = Some(Pin(v.into_owned())),
            "action" if action.is_some() => {
                return Err("Choose either Approve or Decline, not both.")
            }
            "action" => {
                action = Some(match v.as_ref() {
                    "approve" => ConfirmAction::Approve,
                    "decline" => ConfirmAction::Decline,
                    _ => return Err("Choose Approve or Decline."),
                })
            }
            _ => {}
        }
    }
    let pin = pin
        .filter(|p| !p.0.is_empty())
        .ok_or("Enter your PIN, then choose Approve or Decline.")?;
    let action = action.ok_or("Choose Approve or Decline.")?;
    Ok(Form { pin, action })
}

/// `POST /confirm/:token` (form: `pin`, `action=approve|decline`).
pub async fn decide(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let Some(token) = token_of(path) else {
        return not_found();
    };
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Your answer was not recorded",
                "The form that arrived was far larger than a PIN and a button. Reload the page and answer again.",
            )
        }
    };
    let form = match parse_form(&bytes) {
        Ok(f) => f,
        Err(problem) => return retry_page(&state, &token, StatusCode::BAD_REQUEST, problem).await,
    };
    match state
        .wallet
        .decide_confirmation(&token, &form.pin.0, form.action)
        .await
    {
        Ok(v) => decided_page(&v, form.action),
        Err(e) => match (e.kind, e.code.as_str()) {
            // A PIN the person can correct: the same page again, with what went wrong.
            (_, "pin_wrong" | "pin_invalid") => {
                retry_page(&state, &token, status_of(&e), &sentence(&e.message)).await
            }
            // Already answered, expired, …: show what became of it, if it can be read.
            (Kind::Conflict | Kind::Unprocessable, c) if !c.starts_with("pin_") => {
                match state.wallet.confirmation_view(&token).await {
                    Ok(v) if v.status != "pending" || v.expires_at_ms <= state.wallet.now().0 => {
                        view_page(status_of(&e), &v, &token, state.wallet.now().0, None)
                    }
                    _ => error_page(&e),
                }
            }
            _ => error_page(&e),
        },
    }
}

/// The confirmation page again with `problem` (plain text) above the form.
async fn retry_page(state: &AppState, token: &str, status: StatusCode, problem: &str) -> Response {
    match state.wallet.confirmation_view(token).await {
        Ok(v) => view_page(
            status,
            &v,
            token,
            state.wallet.now().0,
            Some(&html_escape(problem)),
        ),
        Err(e) => error_page(&e),
    }
}

/// The result of a recorded answer.
fn decided_page(v: &ConfirmationView, action: ConfirmAction) -> Response {
    let (title, class, text) = match (v.status.as_str(), action) {
        ("approved", _) => (
            "Approved",
            "ok",
            format!("Approved — the agent can now pay {}.", v.total.display),
        ),
        ("declined", _) => (
            "Declined",
            "notice",
            "Declined — the agent cannot make this payment.".to_string(),
        ),
        (other, _) => {
            return settled_page(StatusCode::OK, v, other);
        }
    };
    let body = format!(
        "<h1>{}</h1>\n<section class=\"card {class}\" role=\"status\">\n<p>{}</p>\n</section>\n{}",
        html_escape(title),
        html_escape(&text),
        summary(v)
    );
    page(StatusCode::OK, title, &body)
}

#[cfg(test)]
mod tests {
    use purser_wallet::funds::Shown;
    use purser_wallet::payments::confirm::ItemView;

    use super::*;

    const HOSTILE: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";

    fn view(status: &str) -> ConfirmationView {
        let cny = |amount: i64, display: &str| Shown {
            amount,
            currency: "CNY",
            display: display.into(),
        };
        ConfirmationView {
            confirmation_id: "cnf_x".into(),
            status: status.into(),
            expires_at: "2030-01-01T00:15:00Z".into(),
            expires_at_ms: 1_893_456_900_000,
            payment_id: "pay_x".into(),
            task_id: "task".into(),
            merchant_name: format!("Trail {HOSTILE} Outfitters"),
            merchant_website: format!("boots.example/{HOSTILE}"),
            merchant_country: Some(HOSTILE.into()),
            items: vec![ItemView {
                title: format!("Boots {HOSTILE}"),
                quantity: 2,
                unit_price: Some(cny(64_950, "¥649.50")),
            }],
            total: cny(129_900, "¥1,299.00"),
            agent_name: format!("Shopper {HOSTILE}"),
            agent_operator: format!("Op\u{202E}asiV {HOSTILE}"),
            mandate_id: Some("mdt_x".into()),
            mandate_summary: Some(format!("Hiking boots under ¥800 {HOSTILE}")),
            mandate_words: Some(format!("buy me boots {HOSTILE}")),
            reason: format!("above ¥500.00 {HOSTILE}"),
        }
    }

    async fn text(r: Response) -> (StatusCode, String) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn assert_inert(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>"), "{html}");
        assert!(!html.contains('\u{202E}'), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[tokio::test]
    async fn hostile_names_are_shown_as_text_on_every_page() {
        let v = view("pending");
        let now = v.expires_at_ms - 14 * 60_000 - 1;
        let (status, html) = text(view_page(StatusCode::OK, &v, "pcf_abc_def", now, None)).await;
        assert_eq!(status, StatusCode::OK);
        assert_inert(&html);
        for shown in [
            "¥1,299.00",
            "¥649.50 each",
            "× 2",
            "Trail &lt;script&gt;",
            "“buy me boots",
            "in 14 minutes",
            "2030-01-01 00:15 UTC",
            "action=\"/confirm/pcf_abc_def\"",
            "inputmode=\"numeric\"",
            "autocomplete=\"off\"",
            "<label for=\"pin\">",
            "value=\"approve\"",
            "value=\"decline\"",
        ] {
            assert!(html.contains(shown), "{shown} missing from {html}");
        }
        assert!(!html.contains("one-time-code"));
        for s in ["approved", "declined", "expired"] {
            let (_, html) = text(view_page(StatusCode::OK, &view(s), "t", now, None)).await;
            assert_inert(&html);
            assert!(!html.contains("<form"), "{s}: no form once settled");
        }
        let (_, html) = text(decided_page(&view("approved"), ConfirmAction::Approve)).await;
        assert_inert(&html);
        assert!(
            html.contains("Approved — the agent can now pay ¥1,299.00."),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_pending_link_past_its_time_reads_as_expired() {
        let v = view("pending");
        let (_, html) = text(view_page(StatusCode::OK, &v, "t", v.expires_at_ms, None)).await;
        assert!(html.contains("This link has expired"), "{html}");
        assert!(!html.contains("<form"), "{html}");
    }

    #[test]
    fn messages_read_as_sentences_on_a_page() {
        assert_eq!(
            sentence("that PIN is wrong; 4 more"),
            "That PIN is wrong; 4 more."
        );
        assert_eq!(sentence("done."), "Done.");
        assert_eq!(sentence(""), "");
        assert_eq!(sentence("éclair?"), "Éclair?");
    }

    #[test]
    fn only_token_shaped_paths_are_looked_up() {
        assert!(plausible("pcf_ABCDEFGHIJKLMNOPQRSTUVWX_abcdef234567"));
        for bad in [
            "",
            "pcf_../x",
            "<script>",
            "pcf_x y",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(!plausible(bad), "{bad}");
        }
    }

    #[test]
    fn the_form_needs_one_pin_and_one_action() {
        let f = parse_form(b"pin=482915&action=approve").ok();
        assert!(f
            .as_ref()
            .is_some_and(|f| f.pin.0 == "482915" && f.action == ConfirmAction::Approve));
        let f = parse_form(b"action=decline&pin=%34%38%32%39%31%35&extra=1").ok();
        assert!(f.is_some_and(|f| f.pin.0 == "482915" && f.action == ConfirmAction::Decline));
        for bad in [
            &b""[..],
            b"pin=482915",
            b"action=approve",
            b"pin=&action=approve",
            b"pin=1&pin=2&action=approve",
            b"pin=482915&action=approve&action=decline",
            b"pin=482915&action=steal",
            b"\xff\xfe=\x00",
        ] {
            assert!(
                parse_form(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
