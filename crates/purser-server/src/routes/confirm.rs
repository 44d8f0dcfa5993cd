//! The confirmation page: `GET /confirm/:token` shows the payment an agent asked for (merchant,
//! items, total, agent, mandate, the person's own words, why they are asked, what approving
//! does, when the link expires) with Approve / Decline by passkey (the page's script, see
//! `crate::web::passkeys`) or by PIN; `POST /confirm/:token` (form-encoded `csrf`, `pin` and
//! `action=approve|decline`) records a PIN answer through `Wallet::decide_confirmation` and
//! shows the result. Pages are in English or Simplified Chinese (`crate::web::i18n`).
//!
//! Every answer is a page for a person, never JSON. Every value is escaped
//! ([`crate::html::html_escape`]). A token that is malformed, unknown or forged gets the same
//! 404 page, which says nothing about why. The token is only ever in the path: request logs
//! carry the route pattern (`/confirm/:token`), never the path itself.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use purser_wallet::payments::confirm::{ConfirmAction, ConfirmationView};
use purser_wallet::{Kind, WalletError};

use crate::error::ApiError;
use crate::html::html_escape;
use crate::web::pages::{readable_time, sentence, time_left};
use crate::web::{Ctx, Lang};
use crate::AppState;

/// Longest token looked at; a real one is about 80 characters.
pub const MAX_TOKEN_LEN: usize = 160;

/// Largest form accepted: a CSRF token, a PIN and an action fit in well under 200 bytes.
pub const MAX_FORM_BYTES: usize = 1024;

/// Tokens are `pcf_<id>_<mac>`: letters, digits and `_`. Anything else is not looked up.
fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn not_found(ctx: &Ctx) -> Response {
    let l = ctx.lang;
    ctx.message(
        StatusCode::NOT_FOUND,
        l.t("This link does not work"),
        l.t("This confirmation link is not valid: it may have been copied incompletely. Open the link exactly as your agent or Purser sent it, or ask your agent to request the payment again."),
    )
}

fn status_of(e: &WalletError) -> StatusCode {
    ApiError::from(e.clone()).status
}

/// The payment: what, where, how much, for whom, under what.
fn summary(l: Lang, v: &ConfirmationView) -> String {
    let mut h = String::with_capacity(2048);
    let country = v
        .merchant_country
        .as_deref()
        .map(|c| format!(" · {}", html_escape(c)))
        .unwrap_or_default();
    h.push_str(&format!(
        "<section class=\"card\">\n<h2>{}</h2>\n<p class=\"total\" id=\"amount\">{}</p>\n<p>{} <strong><bdi>{}</bdi></strong></p>\n<p class=\"muted\"><bdi>{}</bdi>{country}</p>\n</section>\n",
        l.t("Pay"),
        html_escape(&v.total.display),
        l.t("to"),
        html_escape(&v.merchant_name),
        html_escape(&v.merchant_website),
    ));
    if !v.items.is_empty() {
        h.push_str(&format!(
            "<section class=\"card\">\n<h2>{}</h2>\n<table class=\"items\">\n",
            l.t("Items")
        ));
        for it in &v.items {
            let price = it
                .unit_price
                .as_ref()
                .map(|p| l.f("{} each", &[&html_escape(&p.display)]))
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
        "<section class=\"card\">\n<h2>{}</h2>\n<p><strong><bdi>{}</bdi></strong>, {}</p>\n</section>\n",
        l.t("Asked by your agent"),
        html_escape(&v.agent_name),
        l.f("run by {}", &[&format!("<bdi>{}</bdi>", html_escape(&v.agent_operator))]),
    ));
    if v.mandate_summary.is_some() || v.mandate_words.is_some() {
        h.push_str(&format!(
            "<section class=\"card\">\n<h2>{}</h2>\n",
            l.t("Under your mandate")
        ));
        if let Some(s) = &v.mandate_summary {
            h.push_str(&format!("<p>{}</p>\n", html_escape(s)));
        }
        if let Some(w) = v.mandate_words.as_deref().filter(|w| !w.trim().is_empty()) {
            h.push_str(&format!(
                "<p class=\"muted\">{}</p>\n<blockquote><p>“{}”</p></blockquote>\n",
                l.t("In your words:"),
                html_escape(w)
            ));
        }
        h.push_str("</section>\n");
    }
    h
}

/// The pending confirmation with its forms; `notice` (already escaped) above them.
fn pending_page(
    ctx: &Ctx,
    status: StatusCode,
    v: &ConfirmationView,
    token: &str,
    now_ms: i64,
    notice: Option<&str>,
) -> Response {
    let l = ctx.lang;
    let mut h = format!("<h1>{}</h1>\n", l.t("Confirm this payment"));
    // Above everything: after a wrong PIN the page reloads at its top.
    if let Some(n) = notice {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\" id=\"notice\">\n<p>{n}</p>\n</section>\n"
        ));
    }
    h.push_str(&summary(l, v));
    h.push_str(&format!(
        "<section class=\"card why\">\n<h2>{}</h2>\n<p>{}</p>\n<p class=\"muted\">{}</p>\n</section>\n",
        l.t("Why you are asked"),
        html_escape(&v.reason),
        l.f(
            "This link expires at {} ({}).",
            &[
                &html_escape(&readable_time(&v.expires_at)),
                &time_left(l, v.expires_at_ms, now_ms)
            ]
        ),
    ));
    h.push_str(&format!(
        "<section class=\"card\">\n<h2>{}</h2>\n<p>{}</p>\n</section>\n",
        l.t("If you approve"),
        l.f(
            "Purser gives your agent a single-use credential for {} at {}, valid for this merchant only. Nothing is charged until the merchant uses it; the money stays held until then. If you decline, the hold is released and the agent cannot pay.",
            &[
                &html_escape(&v.total.display),
                &format!("<bdi>{}</bdi>", html_escape(&v.merchant_name))
            ]
        ),
    ));
    let approve = l.f("Approve {}", &[&html_escape(&v.total.display)]);
    // The token is checked to be [A-Za-z0-9_] before any page is made; escaped all the same.
    let t = html_escape(token);
    h.push_str(&format!(
        "<form class=\"card\" id=\"passkey-answer\" data-passkey=\"confirm\" data-token=\"{t}\" data-needs-js hidden data-cancelled=\"{}\" data-unsupported=\"{}\">\n<h2>{}</h2>\n<div class=\"buttons\">\n<button type=\"submit\" name=\"action\" value=\"approve\" class=\"approve\">{approve}</button>\n<button type=\"submit\" name=\"action\" value=\"decline\" class=\"decline\">{}</button>\n</div>\n<p class=\"error\" data-error role=\"alert\" hidden></p>\n</form>\n",
        html_escape(l.t("The passkey prompt was closed or timed out. Try again, or use your PIN.")),
        html_escape(l.t("This browser cannot use passkeys. Use your PIN instead.")),
        l.t("Answer with your passkey"),
        l.t("Decline"),
    ));
    h.push_str(&format!(
        "<form class=\"card\" id=\"pin-answer\" method=\"post\" action=\"/confirm/{t}\">\n<h2>{}</h2>\n{}\n<label for=\"pin\">{}</label>\n<input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" pattern=\"[0-9]*\" minlength=\"6\" maxlength=\"12\" autocomplete=\"off\" required>\n<div class=\"buttons\">\n<button type=\"submit\" name=\"action\" value=\"approve\" class=\"approve\">{approve}</button>\n<button type=\"submit\" name=\"action\" value=\"decline\" class=\"decline\">{}</button>\n</div>\n</form>\n",
        l.t("Or answer with your PIN"),
        ctx.csrf_field(),
        l.t("Your Purser PIN"),
        l.t("Decline"),
    ));
    ctx.page(status, l.t("Confirm a payment"), &h)
}

/// A confirmation that is no longer waiting: what became of it.
fn settled_page(ctx: &Ctx, status: StatusCode, v: &ConfirmationView, state_word: &str) -> Response {
    let l = ctx.lang;
    let (title, class, text) = match state_word {
        "approved" => (
            l.t("Already approved"),
            "ok",
            l.f(
                "You approved this payment of {}. The agent can pay it now; there is nothing more to do.",
                &[&v.total.display],
            ),
        ),
        "declined" => (
            l.t("Already declined"),
            "notice",
            l.t("You declined this payment. The agent cannot pay it.").to_string(),
        ),
        "expired" => (
            l.t("This link has expired"),
            "notice",
            l.f(
                "It was open until {}. The payment was not approved in time, so the agent cannot pay it; if you still want it, ask your agent to request it again.",
                &[&readable_time(&v.expires_at)],
            ),
        ),
        _ => (
            l.t("This confirmation is closed"),
            "notice",
            l.t("This payment no longer waits for an answer.").to_string(),
        ),
    };
    let body = format!(
        "<h1>{}</h1>\n<section class=\"card {class}\" id=\"outcome\">\n<p>{}</p>\n</section>\n{}",
        html_escape(title),
        html_escape(&text),
        summary(l, v)
    );
    ctx.page(status, title, &body)
}

/// The page for a view as it stands.
fn view_page(
    ctx: &Ctx,
    status: StatusCode,
    v: &ConfirmationView,
    token: &str,
    now_ms: i64,
    notice: Option<&str>,
) -> Response {
    match v.status.as_str() {
        "pending" if v.expires_at_ms > now_ms => {
            pending_page(ctx, status, v, token, now_ms, notice)
        }
        "pending" => settled_page(ctx, status, v, "expired"),
        other => settled_page(ctx, status, v, other),
    }
}

fn token_of(path: Result<Path<String>, PathRejection>) -> Option<String> {
    path.ok().map(|Path(t)| t).filter(|t| plausible(t.as_str()))
}

/// An error with no view to show beside it.
fn error_page(ctx: &Ctx, e: &WalletError) -> Response {
    let l = ctx.lang;
    let status = status_of(e);
    let title = match (e.kind, e.code.as_str()) {
        (Kind::NotFound, _) => return not_found(ctx),
        (_, "pin_locked") => l.t("PIN entry is locked"),
        (_, "pin_not_set") => l.t("Set a PIN first"),
        (_, "pin_wrong") => l.t("Wrong PIN"),
        (_, "pin_invalid") => l.t("That is not a PIN"),
        (_, c) if c.contains("expired") => l.t("This link has expired"),
        (Kind::Unavailable, _) => l.t("Purser could not record your answer"),
        (Kind::Conflict, _) => l.t("This confirmation is closed"),
        _ => l.t("Your answer was not recorded"),
    };
    let text = match e.kind {
        Kind::Unavailable => format!(
            "{} Nothing was recorded; reload this page in a moment and answer again.",
            sentence(&e.message)
        ),
        _ => sentence(&e.message),
    };
    ctx.message(status, title, &text)
}

/// `GET /confirm/:token` (`?answered=1` after a passkey answer).
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(token) = token_of(path) else {
        return not_found(&ctx);
    };
    let answered = uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "answered" && v == "1")
    });
    match state.wallet.confirmation_view(&token).await {
        Ok(v) if answered && (v.status == "approved" || v.status == "declined") => {
            let action = if v.status == "approved" {
                ConfirmAction::Approve
            } else {
                ConfirmAction::Decline
            };
            decided_page(&ctx, &v, action)
        }
        Ok(v) => view_page(&ctx, StatusCode::OK, &v, &token, state.wallet.now().0, None),
        Err(e) => error_page(&ctx, &e),
    }
}

/// The PIN as typed. No `Debug`, so it cannot reach a log by accident.
struct Pin(String);

/// The form's fields. Anything else in it is ignored; a field sent twice is refused.
struct Form {
    csrf: Option<String>,
    pin: Pin,
    action: ConfirmAction,
}

fn parse_form(bytes: &[u8]) -> Result<Form, &'static str> {
    let mut pin: Option<Pin> = None;
    let mut action = None;
    let mut csrf = None;
    for (k, v) in form_urlencoded::parse(bytes) {
        match k.as_ref() {
            "pin" if pin.is_some() => {
                return Err("The form was sent with two PINs. Reload the page and try once more.")
            }
            "pin" => pin = Some(Pin(v.into_owned())),
            "csrf" if csrf.is_some() => {
                return Err("The form was sent twice over. Reload the page and try once more.")
            }
            "csrf" => csrf = Some(v.into_owned()),
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
    Ok(Form { csrf, pin, action })
}

/// `POST /confirm/:token` (form: `csrf`, `pin`, `action=approve|decline`).
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(token) = token_of(path) else {
        return not_found(&ctx);
    };
    if let Some(e) = &ctx.session_error {
        // The form's token is bound to a session Purser cannot look up now: "could not
        // record your answer, retry", never "the form was too old".
        return error_page(&ctx, e);
    }
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return ctx.message(
                StatusCode::PAYLOAD_TOO_LARGE,
                ctx.lang.t("Your answer was not recorded"),
                "The form that arrived was far larger than a PIN and a button. Reload the page and answer again.",
            )
        }
    };
    let form = match parse_form(&bytes) {
        Ok(f) => f,
        Err(problem) => {
            return retry_page(&ctx, &state, &token, StatusCode::BAD_REQUEST, problem).await
        }
    };
    if !ctx.csrf_ok(form.csrf.as_deref()) {
        return retry_page(
            &ctx,
            &state,
            &token,
            StatusCode::FORBIDDEN,
            ctx.lang.t(
                "The form was too old or sent from another page. It has been reloaded: try again.",
            ),
        )
        .await;
    }
    match state
        .wallet
        .decide_confirmation_on(
            &token,
            &form.pin.0,
            crate::web::device_cookie(&headers, ctx.secure).as_deref(),
            form.action,
        )
        .await
    {
        Ok(v) => decided_page(&ctx, &v, form.action),
        Err(e) => match (e.kind, e.code.as_str()) {
            // A PIN the person can correct: the same page again, with what went wrong.
            (_, "pin_wrong" | "pin_invalid") => {
                retry_page(&ctx, &state, &token, status_of(&e), &sentence(&e.message)).await
            }
            // Already answered, expired, …: show what became of it, if it can be read.
            (Kind::Conflict | Kind::Unprocessable, c) if !c.starts_with("pin_") => {
                match state.wallet.confirmation_view(&token).await {
                    Ok(v) if v.status != "pending" || v.expires_at_ms <= state.wallet.now().0 => {
                        view_page(&ctx, status_of(&e), &v, &token, state.wallet.now().0, None)
                    }
                    _ => error_page(&ctx, &e),
                }
            }
            _ => error_page(&ctx, &e),
        },
    }
}

/// The confirmation page again with `problem` (plain text) above the form.
async fn retry_page(
    ctx: &Ctx,
    state: &AppState,
    token: &str,
    status: StatusCode,
    problem: &str,
) -> Response {
    match state.wallet.confirmation_view(token).await {
        Ok(v) => view_page(
            ctx,
            status,
            &v,
            token,
            state.wallet.now().0,
            Some(&html_escape(problem)),
        ),
        Err(e) => error_page(ctx, &e),
    }
}

/// The result of a recorded answer.
fn decided_page(ctx: &Ctx, v: &ConfirmationView, action: ConfirmAction) -> Response {
    let l = ctx.lang;
    let (title, class, text) = match (v.status.as_str(), action) {
        ("approved", _) => (
            l.t("Approved"),
            "ok",
            l.f("Approved — the agent can now pay {}.", &[&v.total.display]),
        ),
        ("declined", _) => (
            l.t("Declined"),
            "notice",
            l.t("Declined — the agent cannot make this payment.")
                .to_string(),
        ),
        (other, _) => {
            return settled_page(ctx, StatusCode::OK, v, other);
        }
    };
    let body = format!(
        "<h1>{}</h1>\n<section class=\"card {class}\" role=\"status\" id=\"outcome\">\n<p>{}</p>\n<p><a href=\"/\">{}</a></p>\n</section>\n{}",
        html_escape(title),
        html_escape(&text),
        l.t("Go to your wallet"),
        summary(l, v)
    );
    ctx.page(StatusCode::OK, title, &body)
}

#[cfg(test)]
mod tests {
    use purser_wallet::funds::Shown;
    use purser_wallet::payments::confirm::ItemView;

    use super::*;

    fn ctx() -> Ctx {
        Ctx::plain(Lang::En)
    }

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
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>"), "{html}");
        assert!(!html.contains('\u{202E}'), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[tokio::test]
    async fn hostile_names_are_shown_as_text_on_every_page() {
        let v = view("pending");
        let now = v.expires_at_ms - 14 * 60_000 - 1;
        let (status, html) = text(view_page(
            &ctx(),
            StatusCode::OK,
            &v,
            "pcf_abc_def",
            now,
            None,
        ))
        .await;
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
            let (_, html) = text(view_page(&ctx(), StatusCode::OK, &view(s), "t", now, None)).await;
            assert_inert(&html);
            assert!(!html.contains("<form"), "{s}: no form once settled");
        }
        let (_, html) = text(decided_page(
            &ctx(),
            &view("approved"),
            ConfirmAction::Approve,
        ))
        .await;
        assert_inert(&html);
        assert!(
            html.contains("Approved — the agent can now pay ¥1,299.00."),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_pending_link_past_its_time_reads_as_expired() {
        let v = view("pending");
        let (_, html) = text(view_page(
            &ctx(),
            StatusCode::OK,
            &v,
            "t",
            v.expires_at_ms,
            None,
        ))
        .await;
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
