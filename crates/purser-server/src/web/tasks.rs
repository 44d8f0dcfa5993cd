//! Live tasks: what the person's agents are doing, as it happens.
//!
//! - `GET /tasks`: every agent task, newest activity first — agent, task id, what it is doing
//!   (its latest event in words), what it paid so far and what is held, when it last did
//!   something, live or idle.
//! - `GET /tasks/:id`: the task's timeline, oldest first — each event in words with its time,
//!   amount and merchant; a payment waiting for the person links to its confirmation page.
//!   The whole timeline is in the page (a reload shows everything, without JavaScript); the
//!   script adds new events as they happen from:
//! - `GET /tasks/:id/events`: the timeline as server-sent events (the same live stream as the
//!   API's `/v1/tasks/:id/stream`, `routes::oversight`), each event's data the `<li>` the page
//!   shows, its SSE id the event id. Authenticated by the session cookie, only the owner's
//!   task; it resumes after `Last-Event-ID` (or `?after=`, the last event the page shows), and
//!   ends when the session expires or is signed out.
//!
//! A task another person has — or no one — is the same "not found" page.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use purser_core::money::{Currency, Money};
use purser_wallet::payments::bills::{BillFilter, TimelineEvent, MAX_BILL_PAGE};
use purser_wallet::{Kind, Principal};
use serde_json::Value;

use super::pages::{readable_time, sentence, AT_WORK_MS};
use super::{Ctx, Lang};
use crate::error::ApiError;
use crate::html::html_escape;
use crate::routes::oversight::{self, Resume, Source, View};
use crate::AppState;

/// How often a live page's stream re-checks that its session still stands (expired or signed
/// out ends the stream).
const SESSION_RECHECK_MS: i64 = 2_000;

/// What one event says, in the page's language; `detail` and `amount` are plain text.
#[derive(Debug, PartialEq, Eq)]
pub struct Words {
    pub title: String,
    pub detail: Option<String>,
    /// The sum the event is about, as the wallet shows money (`¥199.00`).
    pub amount: Option<String>,
    /// How it reads: `ok` (money moved as allowed), `wait` (the person is asked), `bad`
    /// (refused or ended), `info`.
    pub tone: &'static str,
}

/// `{"amount": 19900, "currency": "CNY"}` → `¥199.00`.
fn money(v: &Value) -> Option<String> {
    let minor = v.get("amount")?.as_i64()?;
    let c = Currency::from_code(v.get("currency")?.as_str()?)?;
    Some(Money::new(minor, c).with_symbol())
}

fn minor(v: &Value) -> i64 {
    v.get("amount").and_then(Value::as_i64).unwrap_or(0)
}

/// The items' titles, `2 × Boots, Socks`.
fn items(data: &Value) -> Option<String> {
    let list: Vec<String> = data
        .get("items")?
        .as_array()?
        .iter()
        .filter_map(|i| {
            let title = i.get("title")?.as_str()?;
            Some(match i.get("quantity").and_then(Value::as_i64) {
                Some(q) if q > 1 => format!("{q} × {title}"),
                _ => title.to_string(),
            })
        })
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

/// Why a payment ended (the `reason` Purser recorded), in words.
fn end_reason(l: Lang, reason: &str) -> Option<String> {
    let s = match reason {
        "agent_frozen" => "The agent was frozen.",
        "mandate_revoked" => "The mandate was revoked.",
        "mandate_not_active" => "The mandate is no longer active.",
        "voided_by_merchant" => "The merchant cancelled it.",
        "confirmation_expired" => "Nobody answered in time.",
        "credential_expired" | "hold_expired" => "The merchant did not use it in time.",
        "interrupted" => "Purser was interrupted while deciding.",
        "x402_unused" => "The paid call did not need it.",
        "" => return None,
        _ => "Purser ended it.",
    };
    Some(l.t(s).to_string())
}

/// One event in words: the one place the page and its live stream say what happened.
pub fn describe(l: Lang, e: &TimelineEvent) -> Words {
    let d = &e.data;
    let amount_of = |k: &str| d.get(k).and_then(money);
    let reason = d.get("reason").and_then(Value::as_str).unwrap_or_default();
    let (title, detail, amount, tone) = match e.kind.as_str() {
        "payment.confirmation_requested" => (
            l.t("Payment asked — waiting for you"),
            items(d),
            amount_of("amount"),
            "wait",
        ),
        "payment.approved" if d.get("confirmed_by").and_then(Value::as_str) == Some("person") => (
            l.t("You approved the payment"),
            items(d),
            amount_of("amount"),
            "ok",
        ),
        "payment.approved" => (
            l.t("Payment approved within your mandate"),
            items(d),
            amount_of("amount"),
            "ok",
        ),
        "payment.declined" => {
            let why: Vec<String> = d
                .get("reasons")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| r.get("message").and_then(Value::as_str))
                        .map(sentence)
                        .collect()
                })
                .unwrap_or_default();
            let why = if why.is_empty() {
                l.t("No reason was recorded.").to_string()
            } else {
                why.join(" ")
            };
            (
                l.t("Payment declined"),
                Some(why),
                amount_of("amount"),
                "bad",
            )
        }
        "payment.captured" => {
            let released = d.get("released").map_or(0, minor);
            let detail = (released > 0)
                .then(|| amount_of("released"))
                .flatten()
                .map(|r| l.f("{} of the hold was released.", &[&r]));
            (
                l.t("The merchant charged the payment"),
                detail,
                amount_of("captured"),
                "ok",
            )
        }
        "payment.refunded" => {
            let to = match d.get("to").and_then(Value::as_str) {
                Some("wallet") | None => l.t("Back to your wallet."),
                Some(_) => l.t("Back to the agent's card."),
            };
            (
                l.t("Refunded"),
                Some(to.to_string()),
                amount_of("amount"),
                "info",
            )
        }
        "payment.voided" => (
            l.t("Payment cancelled; the hold was released"),
            end_reason(l, reason),
            amount_of("released"),
            "bad",
        ),
        "payment.expired" => (
            l.t("Payment expired; nothing was charged"),
            end_reason(l, reason),
            amount_of("released"),
            "bad",
        ),
        "payment.failed" => (
            l.t("Payment failed; nothing was charged"),
            end_reason(l, reason),
            amount_of("released"),
            "bad",
        ),
        "payment.confirmation_declined" => (
            l.t("You declined the payment"),
            None,
            amount_of("released"),
            "bad",
        ),
        "payment.redemption_refused" => (
            l.t("Another merchant tried to use the payment; Purser refused"),
            None,
            None,
            "bad",
        ),
        "payment.upcoming" => (
            l.t("A scheduled charge is coming up"),
            d.get("due_at")
                .and_then(Value::as_str)
                .map(|t| l.f("Due {}.", &[&readable_time(t)])),
            amount_of("amount"),
            "info",
        ),
        "payment.missed" => (
            l.t("A scheduled charge was missed; nothing was charged"),
            d.get("due_at").and_then(Value::as_str).map(|t| {
                l.f(
                    "It was due {}; Purser could not charge it then, and it is too late to charge it now. The next one runs on its own date.",
                    &[&readable_time(t)],
                )
            }),
            amount_of("amount"),
            "bad",
        ),
        other => (
            l.t("Something else happened"),
            Some(other.to_string()),
            None,
            "info",
        ),
    };
    Words {
        title: title.to_string(),
        detail,
        amount,
        tone,
    }
}

/// "2 minutes ago" in the page's language.
pub fn ago(l: Lang, at_ms: i64, now_ms: i64) -> String {
    let minutes = now_ms.saturating_sub(at_ms).max(0) / 60_000;
    match minutes {
        0 => l.t("just now").to_string(),
        1 => l.t("1 minute ago").to_string(),
        m if m < 60 => l.f("{} minutes ago", &[&m.to_string()]),
        m if m < 120 => l.t("1 hour ago").to_string(),
        m if m < 48 * 60 => l.f("{} hours ago", &[&(m / 60).to_string()]),
        m => l.f("{} days ago", &[&(m / (24 * 60)).to_string()]),
    }
}

/// What the page knows about the task's payments: merchants' names, and the links of the
/// confirmations still waiting.
#[derive(Default)]
pub struct Known {
    /// merchant id → name.
    pub merchants: HashMap<String, String>,
    /// payment id → `/confirm/…` while the person's answer is awaited.
    pub waiting: HashMap<String, String>,
}

/// The path of a task's page: the id percent-encoded as one path segment (everything but
/// RFC 3986's unreserved characters; `+` and spaces too, which a path does not decode).
fn task_path(task_id: &str) -> String {
    let mut out = String::from("/tasks/");
    for b in task_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One timeline entry, an `<li>` on one line (it also travels as SSE data).
pub fn entry(l: Lang, e: &TimelineEvent, known: &Known) -> String {
    let w = describe(l, e);
    let mut h = format!(
        "<li class=\"ev {tone}\" data-event-id=\"{id}\"><p class=\"when muted\"><time datetime=\"{at}\">{when}</time></p><p><strong>{title}</strong></p>",
        tone = w.tone,
        id = html_escape(&e.id),
        at = html_escape(&e.at),
        when = html_escape(&readable_time(&e.at)),
        title = html_escape(&w.title),
    );
    let merchant = e
        .merchant_id
        .as_ref()
        .map(|m| known.merchants.get(m).unwrap_or(m));
    let facts: Vec<String> = [
        w.amount
            .map(|a| format!("<span class=\"amount\">{}</span>", html_escape(&a))),
        merchant.map(|m| format!("<bdi>{}</bdi>", html_escape(m))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !facts.is_empty() {
        h.push_str(&format!("<p>{}</p>", facts.join(" · ")));
    }
    if let Some(d) = &w.detail {
        h.push_str(&format!("<p class=\"muted\">{}</p>", html_escape(d)));
    }
    if e.kind == "payment.confirmation_requested" {
        if let Some(link) = e.payment_id.as_ref().and_then(|p| known.waiting.get(p)) {
            h.push_str(&format!(
                "<p><a class=\"button approve\" href=\"{}\">{}</a></p>",
                html_escape(link),
                l.t("Review and answer")
            ));
        }
    }
    h.push_str("</li>");
    // SSE data cannot hold line breaks; in HTML these entities read the same.
    h.replace('\r', "&#13;").replace('\n', "&#10;")
}

fn trouble(ctx: &Ctx, e: &purser_wallet::WalletError) -> Response {
    tracing::warn!(code = %e.code, "a live tasks page failed");
    ctx.unavailable()
}

/// `GET /tasks`
pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let l = ctx.lang;
    let who = session.principal();
    let tasks = match state.wallet.task_overviews(&who, None).await {
        Ok(t) => t,
        Err(e) => return trouble(&ctx, &e),
    };
    let now = state.wallet.now().0;
    let mut h = format!(
        "<h1>{}</h1>\n<p class=\"muted\">{}</p>\n",
        l.t("Live tasks"),
        l.t("What your agents are doing, newest activity first. Open a task to watch it live.")
    );
    if tasks.is_empty() {
        h.push_str(&format!(
            "<section class=\"card\"><p class=\"muted\">{}</p></section>\n",
            l.t("None of your agents has asked to pay for anything yet.")
        ));
    } else {
        h.push_str("<ul class=\"list tasks\" id=\"tasks\">\n");
        for t in &tasks {
            let live = now.saturating_sub(t.last_activity_ms) <= AT_WORK_MS;
            let doing = t
                .latest
                .as_ref()
                .map(|e| describe(l, e).title)
                .unwrap_or_else(|| l.t("Deciding").to_string());
            let paid = if t.paid.is_empty() {
                l.t("nothing paid yet").to_string()
            } else {
                l.f(
                    "{} paid",
                    &[&t.paid
                        .iter()
                        .map(|m| m.display.as_str())
                        .collect::<Vec<_>>()
                        .join(" + ")],
                )
            };
            let held = if t.held.is_empty() {
                String::new()
            } else {
                format!(
                    " · {}",
                    l.f(
                        "{} held",
                        &[&t.held
                            .iter()
                            .map(|m| m.display.as_str())
                            .collect::<Vec<_>>()
                            .join(" + ")]
                    )
                )
            };
            h.push_str(&format!(
                "<li class=\"card task\"><p><span class=\"state {state_class}\">{state}</span> <strong><bdi>{agent}</bdi></strong></p><p><a href=\"{href}\">{task_label} <bdi>{task}</bdi></a></p><p>{doing}</p><p>{money}</p><p class=\"muted\">{last} <time datetime=\"{at}\">{ago}</time></p></li>\n",
                state_class = if live { "live" } else { "idle" },
                state = if live { l.t("live") } else { l.t("idle") },
                agent = html_escape(&t.agent_name),
                href = html_escape(&task_path(&t.task_id)),
                task_label = l.t("Task"),
                task = html_escape(&t.task_id),
                doing = html_escape(&doing),
                money = html_escape(&format!("{paid}{held}")),
                last = l.t("Last activity"),
                at = html_escape(&purser_core::Timestamp(t.last_activity_ms).to_rfc3339()),
                ago = html_escape(&ago(l, t.last_activity_ms, now)),
            ));
        }
        h.push_str("</ul>\n");
    }
    ctx.section_page("/tasks", StatusCode::OK, l.t("Live tasks"), &h)
}

/// The page for a task that is not this person's (or no one's).
fn not_found(ctx: &Ctx) -> Response {
    ctx.message(
        StatusCode::NOT_FOUND,
        ctx.lang.t("Task not found"),
        ctx.lang
            .t("None of your agents has a task with this id. Open it from the list of your tasks."),
    )
}

/// `GET /tasks/:id`
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    task: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let Ok(Path(task_id)) = task else {
        return not_found(&ctx);
    };
    let l = ctx.lang;
    let who = session.principal();
    let w = &state.wallet;
    let events = match w.timeline(&who, &task_id, None).await {
        Ok(ev) => ev,
        Err(e) if e.kind == Kind::NotFound => return not_found(&ctx),
        Err(e) => return trouble(&ctx, &e),
    };
    let (bill, known) = match async {
        let bill = w
            .bill(
                &who,
                &BillFilter {
                    task_id: Some(task_id.clone()),
                    limit: Some(MAX_BILL_PAGE),
                    ..BillFilter::default()
                },
            )
            .await?;
        let known = known_for(&state, &who, &bill.data).await?;
        Ok::<_, purser_wallet::WalletError>((bill, known))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return trouble(&ctx, &e),
    };
    let mut agents: Vec<&str> = bill.data.iter().map(|b| b.agent_name.as_str()).collect();
    agents.sort_unstable();
    agents.dedup();
    let mut h = format!(
        "<p><a href=\"/tasks\">{}</a></p>\n<h1>{} <bdi>{}</bdi></h1>\n",
        l.t("← All tasks"),
        l.t("Task"),
        html_escape(&task_id)
    );
    h.push_str("<section class=\"card\" aria-labelledby=\"h-sum\">\n");
    h.push_str(&format!(
        "<h2 id=\"h-sum\">{}</h2>\n<p>{}</p>\n",
        l.t("Summary"),
        l.f(
            "By {}",
            &[&agents
                .iter()
                .map(|a| format!("<bdi>{}</bdi>", html_escape(a)))
                .collect::<Vec<_>>()
                .join(", ")]
        )
    ));
    for t in &bill.totals {
        h.push_str(&format!(
            "<p>{} · {}</p>\n",
            html_escape(&l.f("{} paid", &[&t.net.display])),
            html_escape(&l.f("{} held", &[&t.held.display])),
        ));
    }
    h.push_str("</section>\n");
    let last = events.last().map(|e| e.id.clone()).unwrap_or_default();
    let live = format!(
        "{}/events?after={}",
        task_path(&task_id),
        form_urlencoded::byte_serialize(last.as_bytes()).collect::<String>()
    );
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-timeline\">\n<h2 id=\"h-timeline\">{}</h2>\n<p class=\"muted\" data-needs-js hidden>{}</p>\n<noscript><p class=\"muted\">{}</p></noscript>\n<ol class=\"timeline\" id=\"timeline\" aria-live=\"polite\" aria-relevant=\"additions\" data-live=\"{}\">\n",
        l.t("Timeline"),
        l.t("New events appear here as they happen."),
        l.t("Reload the page to see new events."),
        html_escape(&live),
    ));
    for e in &events {
        h.push_str(&entry(l, e, &known));
        h.push('\n');
    }
    h.push_str("</ol>\n</section>\n");
    ctx.section_page("/tasks", StatusCode::OK, &l.f("Task {}", &[&task_id]), &h)
}

/// Names of the merchants of `lines` and links of the confirmations waiting.
async fn known_for(
    state: &AppState,
    who: &Principal,
    lines: &[purser_wallet::payments::bills::BillLine],
) -> Result<Known, purser_wallet::WalletError> {
    let mut known = Known::default();
    for b in lines {
        known
            .merchants
            .insert(b.merchant_id.clone(), b.merchant_name.clone());
    }
    for p in state.wallet.pending_confirmations(who).await? {
        known.waiting.insert(p.payment_id, p.url_path);
    }
    Ok(known)
}

/// The web page's view of a live stream: each event as its timeline entry, for as long as
/// the session stands.
struct PageView {
    state: AppState,
    lang: Lang,
    who: Principal,
    session_secret: String,
    expires_at: i64,
    checked_at: AtomicI64,
    merchants: Mutex<HashMap<String, String>>,
}

impl View for PageView {
    async fn allowed(&self) -> bool {
        let now = self.state.wallet.now().0;
        if now >= self.expires_at {
            return false;
        }
        if now.saturating_sub(self.checked_at.load(Ordering::Relaxed)) < SESSION_RECHECK_MS {
            return true;
        }
        self.checked_at.store(now, Ordering::Relaxed);
        match self.state.wallet.session(&self.session_secret).await {
            Ok(s) => s.user_id == self.who.user_id,
            // Signed out, expired, the person disabled: the stream ends. A storage hiccup
            // does not end it (its reads fail too, and are retried).
            Err(e) => !matches!(e.kind, Kind::Unauthorized | Kind::Forbidden),
        }
    }

    async fn event(&self, e: &TimelineEvent) -> Result<Event, purser_wallet::WalletError> {
        let mut known = Known::default();
        if let Some(m) = &e.merchant_id {
            let cached = self.merchants.lock().ok().and_then(|c| c.get(m).cloned());
            // A merchant Purser does not know is shown by its id; a store that could not
            // answer is retried by the stream.
            let name = match cached {
                Some(n) => Some(n),
                None => match self.state.wallet.merchant(m).await {
                    Ok(x) => Some(x.name),
                    Err(e) if e.kind == Kind::Unavailable => return Err(e),
                    Err(_) => None,
                },
            };
            if let Some(n) = name {
                if let Ok(mut c) = self.merchants.lock() {
                    c.insert(m.clone(), n.clone());
                }
                known.merchants.insert(m.clone(), n);
            }
        }
        if e.kind == "payment.confirmation_requested" {
            // The link to answer is the point of this entry: a store that could not answer
            // is retried by the stream, never shown as an entry without it.
            match self.state.wallet.pending_confirmations(&self.who).await {
                Ok(waiting) => {
                    for p in waiting {
                        known.waiting.insert(p.payment_id, p.url_path);
                    }
                }
                Err(e) if e.kind == Kind::Unavailable => return Err(e),
                Err(_) => {}
            }
        }
        Ok(Event::default()
            .event("timeline")
            .data(entry(self.lang, e, &known)))
    }
}

/// `GET /tasks/:id/events` (`text/event-stream`).
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    task: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    if let Some(e) = &ctx.session_error {
        return ApiError::from(e.clone()).into_response();
    }
    let (Some(session), Some(secret)) = (ctx.session.clone(), ctx.session_secret.clone()) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "sign in to the web wallet first",
        )
        .into_response();
    };
    let not_found =
        || ApiError::from(purser_wallet::WalletError::not_found("task", "")).into_response();
    let Ok(Path(task_id)) = task else {
        return not_found();
    };
    let who = session.principal();
    let w = &state.wallet;
    // Authorise before the stream starts, so refusals are ordinary answers.
    match w.timeline(&who, &task_id, None).await {
        Ok(_) => {}
        Err(e) if e.kind == Kind::NotFound => return not_found(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    // Where the page left off: the browser's Last-Event-ID on a reconnect, else `?after=`.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "after")
                .map(|(_, v)| v.into_owned())
        });
    let resume = match after {
        Some(id) => match w.task_event_time(&who, &task_id, &id).await {
            // Re-read the few seconds before it (as every poll does: a later commit can carry
            // an earlier time); the page drops entries it already shows.
            Ok(Some(at)) => Resume {
                from_ms: at,
                have: vec![id],
            },
            Ok(None) => Resume::default(),
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => Resume::default(),
    };
    let Some(slot) = state.live.open(&format!("user:{}", who.user_id)) else {
        return oversight::too_many_streams().into_response();
    };
    let view = PageView {
        state: state.clone(),
        lang: ctx.lang,
        who: who.clone(),
        session_secret: secret,
        expires_at: session.expires_at,
        checked_at: AtomicI64::new(w.now().0),
        merchants: Mutex::new(HashMap::new()),
    };
    let mut r = oversight::sse(state, Source::Task(who, task_id), view, resume, slot);
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &str, data: Value) -> TimelineEvent {
        TimelineEvent {
            id: "evt_1".into(),
            kind: kind.into(),
            at: "2026-11-21T20:30:00.000Z".into(),
            at_ms: 0,
            agent_id: Some("agt_1".into()),
            merchant_id: Some("mch_1".into()),
            payment_id: Some("pay_1".into()),
            task_id: Some("task-1".into()),
            data,
        }
    }

    #[test]
    fn each_event_reads_as_words_with_its_amount() {
        let asked = ev(
            "payment.confirmation_requested",
            json!({"amount": {"amount": 69_900, "currency": "CNY"}, "items": [{"title": "Boots", "quantity": 1}, {"title": "Socks", "quantity": 2}]}),
        );
        let w = describe(Lang::En, &asked);
        assert_eq!(w.title, "Payment asked — waiting for you");
        assert_eq!(w.amount.as_deref(), Some("¥699.00"));
        assert_eq!(w.detail.as_deref(), Some("Boots, 2 × Socks"));
        assert_eq!(w.tone, "wait");

        let auto = ev(
            "payment.approved",
            json!({"amount": {"amount": 19_900, "currency": "CNY"}}),
        );
        assert_eq!(
            describe(Lang::En, &auto).title,
            "Payment approved within your mandate"
        );
        let person = ev(
            "payment.approved",
            json!({"confirmed_by": "person", "amount": {"amount": 19_900, "currency": "CNY"}}),
        );
        assert_eq!(
            describe(Lang::En, &person).title,
            "You approved the payment"
        );
        assert_eq!(describe(Lang::Zh, &person).title, "您批准了这笔付款");

        let captured = ev(
            "payment.captured",
            json!({"captured": {"amount": 15_000, "currency": "CNY"}, "released": {"amount": 4_900, "currency": "CNY"}}),
        );
        let w = describe(Lang::En, &captured);
        assert_eq!(w.amount.as_deref(), Some("¥150.00"));
        assert_eq!(
            w.detail.as_deref(),
            Some("¥49.00 of the hold was released.")
        );
        let whole = ev(
            "payment.captured",
            json!({"captured": {"amount": 15_000, "currency": "JPY"}, "released": {"amount": 0, "currency": "JPY"}}),
        );
        let w = describe(Lang::En, &whole);
        assert_eq!(w.amount.as_deref(), Some("¥15,000"));
        assert_eq!(w.detail, None);

        let refunded = ev(
            "payment.refunded",
            json!({"amount": {"amount": 500, "currency": "USD"}, "to": "ecd_1"}),
        );
        let w = describe(Lang::En, &refunded);
        assert_eq!(w.amount.as_deref(), Some("$5.00"));
        assert_eq!(w.detail.as_deref(), Some("Back to the agent's card."));
    }

    #[test]
    fn a_missed_scheduled_charge_says_nothing_was_charged() {
        let missed = ev(
            "payment.missed",
            json!({"amount": {"amount": 2_000, "currency": "CNY"}, "due_at": "2026-11-01T09:00:00Z"}),
        );
        let w = describe(Lang::En, &missed);
        assert_eq!(
            w.title,
            "A scheduled charge was missed; nothing was charged"
        );
        assert_eq!(w.tone, "bad");
        assert_eq!(w.amount.as_deref(), Some("¥20.00"));
        assert!(
            w.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("It was due ") && d.contains("too late")),
            "{:?}",
            w.detail
        );
        assert!(describe(Lang::Zh, &missed)
            .detail
            .is_some_and(|d| d.contains("补扣已太迟")));
    }

    #[test]
    fn a_decline_says_why_in_words() {
        let declined = ev(
            "payment.declined",
            json!({"amount": {"amount": 129_900, "currency": "CNY"}, "reasons": [
                {"code": "amount_over_limit", "message": "the mandate allows ¥800.00 per payment; this payment is ¥1,299.00"},
                {"code": "merchant_not_allowed", "message": "this merchant is not in the mandate."}
            ]}),
        );
        let w = describe(Lang::En, &declined);
        assert_eq!(w.title, "Payment declined");
        assert_eq!(w.tone, "bad");
        assert_eq!(
            w.detail.as_deref(),
            Some("The mandate allows ¥800.00 per payment; this payment is ¥1,299.00. This merchant is not in the mandate.")
        );
        let bare = ev("payment.declined", json!({}));
        assert_eq!(
            describe(Lang::Zh, &bare).detail.as_deref(),
            Some("没有记录原因。")
        );
        let voided = ev(
            "payment.voided",
            json!({"reason": "agent_frozen", "released": {"amount": 100, "currency": "CNY"}}),
        );
        let w = describe(Lang::En, &voided);
        assert_eq!(w.detail.as_deref(), Some("The agent was frozen."));
        assert_eq!(w.amount.as_deref(), Some("¥1.00"));
        let expired = ev("payment.expired", json!({"reason": "confirmation_expired"}));
        assert_eq!(
            describe(Lang::En, &expired).detail.as_deref(),
            Some("Nobody answered in time.")
        );
        let odd = ev("payment.voided", json!({"reason": "something_new"}));
        assert_eq!(
            describe(Lang::En, &odd).detail.as_deref(),
            Some("Purser ended it.")
        );
    }

    #[test]
    fn unknown_or_malformed_events_still_read_and_never_panic() {
        let odd = ev("payment.teleported", json!({"amount": "lots"}));
        let w = describe(Lang::En, &odd);
        assert_eq!(w.title, "Something else happened");
        assert_eq!(w.detail.as_deref(), Some("payment.teleported"));
        assert_eq!(w.amount, None);
        let bad_money = ev(
            "payment.approved",
            json!({"amount": {"amount": 1, "currency": "XXX"}}),
        );
        assert_eq!(describe(Lang::En, &bad_money).amount, None);
        let not_object = ev("payment.captured", json!([1, 2]));
        assert_eq!(describe(Lang::En, &not_object).amount, None);
    }

    #[test]
    fn an_entry_is_one_escaped_line_with_its_link_while_waiting() {
        let mut asked = ev(
            "payment.confirmation_requested",
            json!({"amount": {"amount": 69_900, "currency": "CNY"}, "items": [{"title": "<script>x</script>\nboots", "quantity": 1}]}),
        );
        asked.merchant_id = Some("mch_1".into());
        let mut known = Known::default();
        known
            .merchants
            .insert("mch_1".into(), "Trailhead \"Outfitters\"".into());
        let plain = entry(Lang::En, &asked, &known);
        assert!(!plain.contains('\n') && !plain.contains('\r'), "{plain}");
        assert!(!plain.contains("<script>"), "{plain}");
        assert!(plain.contains("&lt;script&gt;"), "{plain}");
        assert!(
            plain.contains("Trailhead &quot;Outfitters&quot;"),
            "{plain}"
        );
        assert!(plain.contains("data-event-id=\"evt_1\""), "{plain}");
        assert!(
            !plain.contains("/confirm/"),
            "no link once answered: {plain}"
        );
        known.waiting.insert("pay_1".into(), "/confirm/abc".into());
        let waiting = entry(Lang::En, &asked, &known);
        assert!(
            waiting.contains(
                "<a class=\"button approve\" href=\"/confirm/abc\">Review and answer</a>"
            ),
            "{waiting}"
        );
    }

    #[test]
    fn a_task_path_is_one_percent_encoded_segment() {
        assert_eq!(task_path("task-hiking-boots"), "/tasks/task-hiking-boots");
        assert_eq!(task_path("a b+c/d?é"), "/tasks/a%20b%2Bc%2Fd%3F%C3%A9");
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let now = 10 * 24 * 3_600_000;
        assert_eq!(ago(Lang::En, now - 20_000, now), "just now");
        assert_eq!(ago(Lang::En, now - 60_000, now), "1 minute ago");
        assert_eq!(ago(Lang::En, now - 2 * 60_000, now), "2 minutes ago");
        assert_eq!(ago(Lang::Zh, now - 2 * 60_000, now), "2 分钟前");
        assert_eq!(ago(Lang::En, now - 61 * 60_000, now), "1 hour ago");
        assert_eq!(ago(Lang::En, now - 5 * 3_600_000, now), "5 hours ago");
        assert_eq!(ago(Lang::En, now - 3 * 24 * 3_600_000, now), "3 days ago");
        assert_eq!(ago(Lang::En, now + 60_000, now), "just now");
    }

    #[test]
    fn every_string_of_these_pages_is_translated() {
        let src = include_str!("tasks.rs");
        let src = &src[..src.find("#[cfg(test)]").unwrap_or(src.len())];
        let mut missing = Vec::new();
        let mut rest = src;
        while let Some(i) = rest.find(['t', 'f']) {
            let after = &rest[i + 1..];
            rest = after;
            let is_call = src.len() > rest.len() + 2
                && src.as_bytes()[src.len() - rest.len() - 2] == b'.'
                && after.starts_with('(');
            if !is_call {
                continue;
            }
            let arg = after[1..].trim_start();
            let Some(text) = arg.strip_prefix('"') else {
                continue;
            };
            let text = &text[..text.find('"').unwrap_or(0)];
            if !super::super::i18n::ZH.iter().any(|(en, _)| *en == text) {
                missing.push(text.to_string());
            }
        }
        // The reasons' sentences go through `l.t(s)`.
        for r in [
            "agent_frozen",
            "mandate_revoked",
            "mandate_not_active",
            "voided_by_merchant",
            "confirmation_expired",
            "credential_expired",
            "interrupted",
            "x402_unused",
            "other",
        ] {
            let en = end_reason(Lang::En, r).unwrap_or_default();
            if end_reason(Lang::Zh, r) == Some(en.clone()) {
                missing.push(en);
            }
        }
        assert!(missing.is_empty(), "no Chinese for {missing:?}");
    }
}
