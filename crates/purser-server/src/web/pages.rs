//! Sign-in, first sign-in (sign-up), sign-out and Home.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use purser_wallet::payments::bills::BillFilter;
use purser_wallet::web::WebSession;

use super::{cookie_name, see_other, set_cookie, Ctx, Lang, MAX_FORM_BYTES};
use crate::html::html_escape;
use crate::AppState;

/// How recent a task's last activity must be for its agent to be "at work now".
pub const AT_WORK_MS: i64 = 30 * 60 * 1000;

/// `2026-11-21T20:30:00.123Z` → `2026-11-21 20:30 UTC`.
pub fn readable_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(hm)) if rfc3339.ends_with('Z') => format!("{day} {hm} UTC"),
        _ => rfc3339.to_string(),
    }
}

fn ms_of(rfc3339: &str) -> Option<i64> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// A form's fields; `None` when the body is too large or a field repeats.
pub(crate) async fn form_fields(body: Body) -> Option<Vec<(String, String)>> {
    form_fields_up_to(body, MAX_FORM_BYTES).await
}

/// [`form_fields`] for a form that may be up to `limit` bytes.
pub(crate) async fn form_fields_up_to(body: Body, limit: usize) -> Option<Vec<(String, String)>> {
    let bytes = axum::body::to_bytes(body, limit).await.ok()?;
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    (names.len() == n).then_some(fields)
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The note shown where passkeys cannot work (an IP address in the address bar).
fn ip_notice(ctx: &Ctx, path: &str) -> String {
    match &ctx.host_is_ip {
        Some(host) => {
            let url = format!("http://{host}{path}");
            format!(
                "<section class=\"card notice\" role=\"note\"><p>{}</p></section>\n",
                ctx.lang.f(
                    "Passkeys need a name, not a number, in the address: open {} instead.",
                    &[&format!(
                        "<a href=\"{}\">{}</a>",
                        html_escape(&url),
                        html_escape(&url)
                    )]
                )
            )
        }
        None => String::new(),
    }
}

/// The messages the script shows, carried on the form (so they are translated).
fn script_messages(l: Lang) -> String {
    format!(
        " data-cancelled=\"{}\" data-unsupported=\"{}\"",
        html_escape(l.t("The passkey prompt was closed or timed out. Try again, or use your PIN.")),
        html_escape(l.t("This browser cannot use passkeys. Use your PIN instead."))
    )
}

/// The sign-in page; `problem` (plain text) beside the PIN form, `user_id` filled in.
fn signin_page(ctx: &Ctx, status: StatusCode, user_id: &str, problem: Option<&str>) -> Response {
    let l = ctx.lang;
    let problem_html = problem
        .map(|p| {
            format!(
                "<p class=\"error\" id=\"pin-error\" role=\"alert\">{}</p>\n",
                html_escape(p)
            )
        })
        .unwrap_or_default();
    let described = if problem.is_some() {
        " aria-describedby=\"pin-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    let body = format!(
        "<h1>{title}</h1>\n{notice}<form class=\"card\" method=\"post\" action=\"/signin/pin\" id=\"signin\" data-passkey=\"signin\"{msgs}>\n{csrf}\n<label for=\"user_id\">{uid}</label>\n<input id=\"user_id\" name=\"user_id\" autocomplete=\"username\" autocapitalize=\"off\" spellcheck=\"false\" required maxlength=\"40\" value=\"{uidv}\" aria-describedby=\"user-help\">\n<p class=\"muted\" id=\"user-help\">{uhelp}</p>\n<div data-needs-js hidden>\n<button type=\"button\" class=\"approve\" data-passkey-button>{pk}</button>\n<p class=\"error\" data-error role=\"alert\" hidden></p>\n</div>\n<noscript><p class=\"muted\">{nojs}</p></noscript>\n<h2>{orpin}</h2>\n{problem_html}<label for=\"pin\">{pin}</label>\n<input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" pattern=\"[0-9]*\" minlength=\"6\" maxlength=\"12\" autocomplete=\"current-password\"{described}>\n<div class=\"buttons\"><button type=\"submit\" class=\"secondary\">{pinbtn}</button></div>\n</form>\n<p>{first} <a href=\"/signup\">{setup}</a></p>\n",
        title = l.t("Sign in to Purser"),
        notice = ip_notice(ctx, "/signin"),
        msgs = script_messages(l),
        csrf = ctx.csrf_field(),
        uid = l.t("Your Purser user id"),
        uidv = html_escape(user_id),
        uhelp = l.t(
            "It starts with usr_; the operator gave it to you with your setup token."
        ),
        pk = l.t("Sign in with a passkey"),
        nojs = l.t("Passkeys need JavaScript; the PIN works without it."),
        orpin = l.t("Or sign in with your PIN"),
        pin = l.t("Your PIN"),
        pinbtn = l.t("Sign in with PIN"),
        first = l.t("First time here?"),
        setup = l.t("Set up this browser"),
    );
    ctx.page(status, l.t("Sign in"), &body)
}

/// The user id remembered from the last sign-in on this browser.
fn remembered_user(ctx: &Ctx, headers: &HeaderMap) -> String {
    super::read_cookie(headers, &cookie_name("purser-user", ctx.secure))
        .filter(|u| u.starts_with("usr_"))
        .unwrap_or_default()
}

/// `GET /signin`
pub async fn signin(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    if ctx.session.is_some() {
        return see_other("/");
    }
    if ctx.session_error.is_some() {
        // Perhaps signed in already: Purser cannot tell right now.
        return ctx.unavailable();
    }
    let user = remembered_user(&ctx, &headers);
    signin_page(&ctx, StatusCode::OK, &user, None)
}

/// A response that signs the browser in: the session cookie, the user id remembered for the
/// next sign-in, and the device cookie that makes this a known browser of this person (its
/// wrong PINs count towards its own lock, not that of unknown browsers).
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    mut resp: Response,
    secure: bool,
    secret: &str,
    user_id: &str,
) -> Response {
    let sent = super::device_cookie(headers, secure);
    let device = match state.wallet.remember_device(user_id, sent.as_deref()).await {
        Ok(d) => Some(d),
        Err(e) => {
            // Signed in all the same; this browser just stays unknown for PIN locks.
            tracing::warn!(code = %e.code, "the browser could not be remembered");
            None
        }
    };
    let mut cookies = vec![
        set_cookie(
            &cookie_name("purser-session", secure),
            secret,
            Some(purser_wallet::web::SESSION_TTL_MS / 1000),
            secure,
        ),
        set_cookie(
            &cookie_name("purser-user", secure),
            user_id,
            Some(365 * 24 * 3600),
            secure,
        ),
    ];
    if let Some(d) = device {
        cookies.push(set_cookie(
            &cookie_name("purser-device", secure),
            &d,
            Some(purser_wallet::pins::DEVICE_TTL_MS / 1000),
            secure,
        ));
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `POST /signin/pin` (form: `csrf`, `user_id`, `pin`).
pub async fn signin_pin(
    State(state): State<AppState>,
    addr: Option<axum::Extension<crate::ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let l = ctx.lang;
    // Counted per address before anything else, whoever the attempt is for.
    if let Err(e) = state.limiter.sign_in(addr.map(|a| a.0)) {
        let wait = e.retry_after.unwrap_or(60).to_string();
        let mut resp = signin_page(
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "",
            Some(&l.f(
                "Too many PIN sign-ins came from your network. Wait {} seconds and try again.",
                &[&wait],
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&wait) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let Some(fields) = form_fields(body).await else {
        return signin_page(
            &ctx,
            StatusCode::BAD_REQUEST,
            "",
            Some(l.t(
                "The form was too old or sent from another page. It has been reloaded: try again.",
            )),
        );
    };
    let user_id = field(&fields, "user_id")
        .unwrap_or_default()
        .trim()
        .to_string();
    if ctx.session_error.is_some() {
        return ctx.unavailable();
    }
    if !ctx.csrf_ok(field(&fields, "csrf")) {
        return signin_page(
            &ctx,
            StatusCode::FORBIDDEN,
            &user_id,
            Some(l.t(
                "The form was too old or sent from another page. It has been reloaded: try again.",
            )),
        );
    }
    let pin = field(&fields, "pin").unwrap_or_default();
    let device = super::device_cookie(&headers, ctx.secure);
    match state
        .wallet
        .sign_in_with_pin_on(&user_id, pin, device.as_deref())
        .await
    {
        Ok(secret) => {
            signed_in(
                &state,
                &headers,
                see_other("/"),
                ctx.secure,
                &secret,
                &user_id,
            )
            .await
        }
        Err(e) => {
            let status = crate::error::ApiError::from(e.clone()).status;
            signin_page(&ctx, status, &user_id, Some(&sentence(&e.message)))
        }
    }
}

/// A message as a sentence on a page: capital first letter, final full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?', '。']) {
        out.push('.');
    }
    out
}

/// `GET /signup`: first sign-in on this browser with a setup or API token and a new passkey.
pub async fn signup(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let l = ctx.lang;
    let body = format!(
        "<h1>{title}</h1>\n{notice}<p>{intro}</p>\n<form class=\"card\" id=\"signup\" data-passkey=\"register\"{msgs}>\n{csrf}\n<label for=\"token\">{tok}</label>\n<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\" required maxlength=\"120\">\n<label for=\"name\">{name}</label>\n<input id=\"name\" name=\"name\" maxlength=\"60\" placeholder=\"{ph}\">\n<div data-needs-js hidden>\n<div class=\"buttons\"><button type=\"submit\" class=\"approve\">{go}</button></div>\n<p class=\"error\" data-error role=\"alert\" hidden></p>\n</div>\n<noscript><p class=\"error\">{nojs}</p></noscript>\n</form>\n<section class=\"card ok\" id=\"api-token\" hidden>\n<h2>{once}</h2>\n<p>{oncehelp}</p>\n<p><code data-api-token></code></p>\n<p><a class=\"button approve\" href=\"/\">{cont}</a></p>\n</section>\n<p>{already} <a href=\"/signin\">{signin}</a></p>\n",
        title = l.t("Set up the web wallet"),
        notice = ip_notice(&ctx, "/signup"),
        intro = l.t("Your operator created your Purser account and gave you a one-time setup token (pss_…). Paste it here — or an API token you already use (pst_…, with the tokens scope) — and create a passkey on this device."),
        msgs = script_messages(l),
        csrf = ctx.csrf_field(),
        tok = l.t("Setup token or API token"),
        name = l.t("Name for this passkey"),
        ph = l.t("for example: my phone"),
        go = l.t("Create a passkey and sign in"),
        nojs = l.t("Passkeys need JavaScript; the PIN works without it."),
        once = l.t("Your API token (shown once)"),
        oncehelp = l.t("Your setup token became this API token for the purser command line. Copy it somewhere safe now: Purser keeps only its hash and cannot show it again."),
        cont = l.t("Continue to your wallet"),
        already = l.t("Already set up?"),
        signin = l.t("Sign in"),
    );
    ctx.page(StatusCode::OK, l.t("Set up the web wallet"), &body)
}

/// `POST /signout` (form: `csrf`).
pub async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    if ctx.session_error.is_some() {
        // Which session this is cannot be told now: nothing is ended, and the page says so
        // (never a redirect that looks like a sign-out while the session lives on).
        return ctx.unavailable();
    }
    let fields = form_fields(body).await.unwrap_or_default();
    if !ctx.csrf_ok(field(&fields, "csrf")) {
        return see_other("/");
    }
    if let Some(s) = &ctx.session_secret {
        if let Err(e) = state.wallet.end_session(s).await {
            tracing::warn!(error = %e.message, "sign-out could not be recorded");
            return ctx.unavailable();
        }
    }
    signed_out(see_other("/signin"), ctx.secure)
}

/// `resp` with the session cookie deleted.
pub fn signed_out(mut resp: Response, secure: bool) -> Response {
    let c = set_cookie(&cookie_name("purser-session", secure), "", Some(0), secure);
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /`: Home.
pub async fn home(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    match home_body(&state, &ctx, &session).await {
        Ok(body) => ctx.section_page("/", StatusCode::OK, ctx.lang.t("Your wallet"), &body),
        Err(e) => {
            tracing::warn!(code = %e.code, "home page failed");
            ctx.unavailable()
        }
    }
}

/// "in 14 minutes" in the page's language.
pub fn time_left(l: Lang, expires_ms: i64, now_ms: i64) -> String {
    let minutes = expires_ms.saturating_sub(now_ms) / 60_000;
    match minutes {
        m if m < 1 => l.t("in less than a minute").to_string(),
        1 => l.t("in 1 minute").to_string(),
        m if m < 120 => l.f("in {} minutes", &[&m.to_string()]),
        m => l.f("in about {} hours", &[&(m / 60).to_string()]),
    }
}

async fn home_body(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
) -> Result<String, purser_wallet::WalletError> {
    let l = ctx.lang;
    let who = session.principal();
    let w = &state.wallet;
    let now = w.now().0;
    let mut h = format!(
        "<h1>{}</h1>\n",
        l.f(
            "Hello, {}",
            &[&format!("<bdi>{}</bdi>", html_escape(&session.user_name))]
        )
    );

    // Waiting for an answer: first, it is what a person came for.
    let pending = w.pending_confirmations(&who).await?;
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-pending\">\n<h2 id=\"h-pending\">{}</h2>\n",
        l.t("Waiting for your answer")
    ));
    if pending.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("Nothing is waiting for your answer.")
        ));
    } else {
        h.push_str("<ul class=\"list\" id=\"pending\">\n");
        for p in &pending {
            h.push_str(&format!(
                "<li><p><strong>{}</strong></p><p class=\"muted\">{}</p><p><a class=\"button approve\" href=\"{}\">{}</a></p></li>\n",
                l.f(
                    "{} at {}",
                    &[&html_escape(&p.amount.display), &format!("<bdi>{}</bdi>", html_escape(&p.merchant_name))]
                ),
                l.f(
                    "asked by {}; the link expires {}",
                    &[&format!("<bdi>{}</bdi>", html_escape(&p.agent_name)), &time_left(l, p.expires_at_ms, now)]
                ),
                html_escape(&p.url_path),
                l.t("Review and answer"),
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");

    // Balances.
    let wallet = w.wallet(&who).await?;
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-balances\">\n<h2 id=\"h-balances\">{}</h2>\n",
        l.t("Balances")
    ));
    if wallet.balances.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No money yet: add a card and top up with the purser command line.")
        ));
    } else {
        h.push_str("<dl class=\"balances\" id=\"balances\">\n");
        for b in &wallet.balances {
            h.push_str(&format!(
                "<div><dt>{} · {}</dt><dd class=\"total\">{}</dd><dd class=\"muted\">{} {}</dd></div>\n",
                html_escape(b.currency),
                l.t("Available"),
                html_escape(&b.available.display),
                l.t("Held"),
                html_escape(&b.held.display),
            ));
        }
        h.push_str("</dl>\n");
    }
    h.push_str("</section>\n");

    // Agents and their cards.
    let bindings = w.list_bindings(&who, Some("active")).await?;
    let agent_name = |id: &str| {
        bindings
            .iter()
            .find(|b| b.agent.id == id)
            .map_or_else(|| id.to_string(), |b| b.agent.name.clone())
    };
    let cards = w.list_exclusive_cards(&who).await?;
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-cards\">\n<h2 id=\"h-cards\">{}</h2>\n",
        l.t("Agent cards")
    ));
    if cards.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No agent has a card of its own.")
        ));
    } else {
        h.push_str("<ul class=\"list\" id=\"agent-cards\">\n");
        for c in &cards {
            let status = match c.status.as_str() {
                "active" => l.t("active"),
                "closed" => l.t("closed"),
                other => other,
            };
            h.push_str(&format!(
                "<li><p><strong><bdi>{}</bdi></strong> <span class=\"muted\">{}</span></p><p>{}: {} · {}: {}</p></li>\n",
                html_escape(&agent_name(&c.agent_id)),
                html_escape(status),
                l.t("Balance"),
                html_escape(&c.balance.display),
                l.t("Held"),
                html_escape(&c.held.display),
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");

    // Agents at work now: tasks with activity in the last half hour.
    let tasks = w.tasks(&who, Some(20)).await?;
    let busy: Vec<_> = tasks
        .iter()
        .filter(|t| {
            ms_of(&t.last_activity_at).is_some_and(|at| now.saturating_sub(at) <= AT_WORK_MS)
        })
        .collect();
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-work\">\n<h2 id=\"h-work\">{}</h2>\n",
        l.t("Agents at work now")
    ));
    if busy.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No agent has done anything for you in the last 30 minutes.")
        ));
    } else {
        h.push_str("<ul class=\"list\" id=\"at-work\">\n");
        for t in busy {
            h.push_str(&format!(
                "<li>{}</li>\n",
                l.f(
                    "{} — task {}: {} payment requests, last at {}",
                    &[
                        &format!("<strong><bdi>{}</bdi></strong>", html_escape(&t.agent_name)),
                        &format!("<bdi>{}</bdi>", html_escape(&t.task_id)),
                        &t.payments.to_string(),
                        &html_escape(&readable_time(&t.last_activity_at)),
                    ]
                )
            ));
        }
        h.push_str("</ul>\n");
    }
    if !bindings.is_empty() {
        h.push_str(&format!(
            "<h3>{}</h3>\n<ul class=\"plain\">\n",
            l.t("Agents you allow")
        ));
        for b in &bindings {
            let frozen = if b.frozen {
                format!(" <span class=\"badge\">{}</span>", l.t("frozen"))
            } else {
                String::new()
            };
            h.push_str(&format!(
                "<li><bdi>{}</bdi> <span class=\"muted\">({})</span>{frozen}</li>\n",
                html_escape(&b.agent.name),
                html_escape(&b.agent.operator),
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(&format!(
        "<p><a href=\"/agents\">{}</a></p>\n",
        l.t("Manage your agents")
    ));
    h.push_str("</section>\n");

    // Recent spending.
    let bill = w
        .bill(
            &who,
            &BillFilter {
                limit: Some(8),
                ..BillFilter::default()
            },
        )
        .await?;
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-spend\">\n<h2 id=\"h-spend\">{}</h2>\n",
        l.t("Recent spending")
    ));
    if bill.data.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No payments yet.")
        ));
    } else {
        h.push_str(&format!(
            "<div class=\"scroll\"><table class=\"items\" id=\"recent\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"price\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
            l.t("Date"),
            l.t("Merchant"),
            l.t("Agent"),
            l.t("Amount"),
            l.t("Status"),
        ));
        for line in &bill.data {
            h.push_str(&format!(
                "<tr><td>{}</td><td><bdi>{}</bdi></td><td><bdi>{}</bdi></td><td class=\"price\">{}</td><td>{}</td></tr>\n",
                html_escape(line.created_at.get(..10).unwrap_or(&line.created_at)),
                html_escape(&line.merchant_name),
                html_escape(&line.agent_name),
                html_escape(&line.amount.display),
                html_escape(&line.status.replace('_', " ")),
            ));
        }
        h.push_str("</tbody>\n</table></div>\n");
    }
    h.push_str("</section>\n");
    Ok(h)
}
