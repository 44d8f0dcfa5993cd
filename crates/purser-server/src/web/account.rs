//! `GET /account`: sign-in and security — the person's passkeys (remove one), their PIN's state,
//! the browsers signed in, and **Sign out everywhere**.
//!
//! - `POST /account/passkeys/:id/remove`: that passkey signs in and approves nothing from now
//!   on. The last passkey of a person without a PIN is kept (the page says why).
//! - `POST /account/signout-everywhere`: every session of the person ends, this one included,
//!   and every browser of theirs is forgotten for PIN locks (their `pin_devices` rows go, and
//!   this browser's device cookie is deleted): a lost browser is an unknown one from then on.
//!
//! Both are forms with the session's CSRF token. Removing a passkey answers with a redirect to
//! the page, which says once what happened (a one-shot, session-bound notice: `web::flash`;
//! a `?done=` in a link says nothing, so no link can claim a passkey was removed).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use purser_core::Timestamp;
use purser_wallet::web::WebSession;

use super::pages::{readable_time, sentence};
use super::{see_other, Ctx};
use crate::html::html_escape;
use crate::AppState;

fn when(ms: i64) -> String {
    readable_time(&Timestamp(ms).to_rfc3339())
}

/// Where the page lives (the page its notices are for).
const PATH: &str = "/account";

/// The notice a redirect asked for, as a sentence.
fn done_note(ctx: &Ctx, notice: Option<&str>) -> Option<&'static str> {
    let l = ctx.lang;
    match notice? {
        "removed" => {
            Some(l.t("The passkey was removed: it can no longer sign in or approve payments."))
        }
        _ => None,
    }
}

/// `GET /account`.
pub async fn show(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let taken = super::flash::take(&state, &ctx, &headers, PATH);
    let note = done_note(&ctx, taken.flash.as_ref().map(|f| f.notice.as_str()));
    let resp = page(&state, &ctx, &session, note, None).await;
    taken.finish(&ctx, resp)
}

/// The page, with `problem` (its status and sentence) said at the top when something was
/// refused.
async fn page(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    note: Option<&str>,
    problem: Option<(StatusCode, &str)>,
) -> Response {
    let status = problem.map_or(StatusCode::OK, |(s, _)| s);
    match body(state, ctx, session, note, problem.map(|(_, p)| p)).await {
        Ok(b) => ctx.page(status, ctx.lang.t("Sign-in and security"), &b),
        Err(e) => {
            tracing::warn!(code = %e.code, "account page failed");
            ctx.unavailable()
        }
    }
}

async fn body(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    note: Option<&str>,
    problem: Option<&str>,
) -> Result<String, purser_wallet::WalletError> {
    let l = ctx.lang;
    let who = session.principal();
    let w = &state.wallet;
    let mut h = format!("<h1>{}</h1>\n", l.t("Sign-in and security"));
    if let Some(n) = note {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"status\"><p>{}</p></section>\n",
            html_escape(n)
        ));
    }
    if let Some(p) = problem {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\"><p class=\"error\">{}</p></section>\n",
            html_escape(p)
        ));
    }

    let passkeys = w.passkey_list(&who).await?;
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-passkeys\" id=\"passkeys\">\n<h2 id=\"h-passkeys\">{}</h2>\n",
        l.t("Your passkeys")
    ));
    if passkeys.is_empty() {
        h.push_str(&format!("<p>{}</p>\n", l.t("You have no passkeys.")));
    } else {
        h.push_str("<ul class=\"list\">\n");
        for p in &passkeys {
            let used = match p.last_used_at {
                Some(t) => l.f("last used {}", &[&html_escape(&when(t))]),
                None => l.t("never used").to_string(),
            };
            h.push_str(&format!(
                "<li><strong><bdi>{name}</bdi></strong><br><small>{added}; {used}</small>\n<form method=\"post\" action=\"/account/passkeys/{id}/remove\" class=\"inline\">{csrf}<button type=\"submit\" class=\"secondary\" aria-label=\"{label}\">{remove}</button></form></li>\n",
                name = html_escape(&p.name),
                added = l.f("added {}", &[&html_escape(&when(p.created_at))]),
                id = html_escape(&p.id),
                csrf = ctx.csrf_field(),
                label = html_escape(&l.f("Remove the passkey {}", &[&p.name])),
                remove = l.t("Remove"),
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(&format!(
        "<p><small>{}</small></p>\n</section>\n",
        l.t("A lost or stolen device? Remove its passkey here, then sign out everywhere.")
    ));

    let pin = w.pin_status(&who).await?;
    let pin_text = match (&pin.pin_set, &pin.locked_until) {
        (false, _) => l
            .t("You have no PIN. Set one with the purser command line: purser pin set.")
            .to_string(),
        (true, Some(until)) => l.f(
            "Your PIN is set. PIN entry is locked until {} after too many wrong PINs.",
            &[&html_escape(&readable_time(until))],
        ),
        (true, None) => l
            .t("Your PIN is set. Change it with: purser pin set.")
            .to_string(),
    };
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-pin\" id=\"pin-state\">\n<h2 id=\"h-pin\">{}</h2>\n<p>{pin_text}</p>\n</section>\n",
        l.t("PIN")
    ));

    let sessions = w.live_sessions(&who).await?;
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-sessions\" id=\"sessions\">\n<h2 id=\"h-sessions\">{}</h2>\n<ul class=\"list\">\n",
        l.t("Where you are signed in")
    ));
    for s in &sessions {
        let method = match s.method.as_str() {
            "passkey" => l.t("with a passkey"),
            "pin" => l.t("with your PIN"),
            _ => l.t("when this browser was set up"),
        };
        h.push_str(&format!(
            "<li>{}</li>\n",
            l.f(
                "Signed in {} {}; ends {}",
                &[
                    method,
                    &html_escape(&when(s.created_at)),
                    &html_escape(&when(s.expires_at))
                ]
            )
        ));
    }
    h.push_str(&format!(
        "</ul>\n<form method=\"post\" action=\"/account/signout-everywhere\">{}<button type=\"submit\">{}</button></form>\n<p><small>{}</small></p>\n</section>\n",
        ctx.csrf_field(),
        l.t("Sign out everywhere"),
        l.t("Every browser signed in as you, this one included, is signed out at once, and none of them counts as yours for PIN locks until you sign in on it again.")
    ));
    Ok(h)
}

/// The page again, saying the form was refused (403) and nothing was done.
async fn stale(state: &AppState, ctx: &Ctx, session: &WebSession) -> Response {
    let problem = ctx
        .lang
        .t("The form was too old or sent from another page. It has been reloaded: try again.");
    page(
        state,
        ctx,
        session,
        None,
        Some((StatusCode::FORBIDDEN, problem)),
    )
    .await
}

/// The signed-in person and their account form, read and checked by
/// [`super::signed_in_form`], or the response to give instead: the way to sign in, or (too
/// large, a repeated field, or no or another session's CSRF token) the page again with a 403.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<(Ctx, WebSession), Response> {
    match super::signed_in_form(state, headers, uri.query(), body, super::MAX_FORM_BYTES).await {
        super::FormPost::Fresh(ctx, session, _) => Ok((ctx, session)),
        super::FormPost::SignIn(r) => Err(r),
        super::FormPost::Stale(ctx, session) => Err(stale(state, &ctx, &session).await),
    }
}

/// `POST /account/passkeys/:id/remove`.
pub async fn remove_passkey(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, session) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.wallet.remove_passkey(&session.principal(), &id).await {
        Ok(()) => super::flash::set(&state, &ctx, PATH, "removed", "", see_other(PATH)),
        Err(e) if e.code == "last_sign_in_method" => {
            let problem = ctx.lang.t("This is your only passkey and you have no PIN: removing it would lock you out. Set a PIN first (purser pin set), or add another passkey.");
            page(
                &state,
                &ctx,
                &session,
                None,
                Some((StatusCode::CONFLICT, problem)),
            )
            .await
        }
        Err(e) if e.code.ends_with("not_found") => {
            let problem = sentence(
                ctx.lang
                    .t("That passkey is not one of yours, or it was already removed."),
            );
            page(
                &state,
                &ctx,
                &session,
                None,
                Some((StatusCode::NOT_FOUND, &problem)),
            )
            .await
        }
        Err(e) => {
            tracing::warn!(code = %e.code, "removing a passkey failed");
            ctx.unavailable()
        }
    }
}

/// `POST /account/signout-everywhere`.
pub async fn signout_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, session) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.wallet.end_all_sessions(&session.principal()).await {
        Ok(_) => {
            // This browser's device cookie names a device that is no longer kept: drop it.
            let mut resp = super::pages::signed_out(see_other("/signin"), ctx.secure);
            let c = super::set_cookie(
                &super::cookie_name("purser-device", ctx.secure),
                "",
                Some(0),
                ctx.secure,
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&c) {
                resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            tracing::warn!(code = %e.code, "signing out everywhere failed");
            ctx.unavailable()
        }
    }
}
