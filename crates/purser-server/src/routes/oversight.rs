//! Oversight: tasks and their timelines (also live, as server-sent events), the agent's live
//! view of one payment, and bills (JSON or CSV).

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use purser_wallet::payments::bills::{bill_csv, BillFilter, TimelineEvent};
use purser_wallet::{AgentCaller, Principal, WalletError};
use serde_json::json;

use crate::caller::{Signed, User};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::AppState;

/// How often a live stream looks for new events.
const POLL: Duration = Duration::from_millis(400);
/// Each poll re-reads this far before the newest event seen: an event's time is set before it
/// commits, so one committed later can carry an earlier time (ids dedupe what is re-read).
pub(crate) const REREAD_MS: i64 = 5_000;
/// Longest a live stream stays open; clients reconnect (with `Last-Event-ID` unneeded: the
/// stream replays the timeline from the start, and clients dedupe by event id).
pub(crate) const MAX_STREAM: Duration = Duration::from_secs(30 * 60);
/// How often an idle stream writes a comment: a client that went away is noticed (and its
/// stream dropped) at the latest on this write.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Event types after which a payment changes no more (for the agent's stream).
const FINAL: [&str; 7] = [
    "payment.declined",
    "payment.missed",
    "payment.voided",
    "payment.expired",
    "payment.failed",
    "payment.confirmation_declined",
    "payment.refunded",
];

fn param(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid(
            "parameter_unknown",
            format!(
                "unknown query parameter {k:.40}; the known ones are {}",
                known.join(", ")
            ),
            "query",
        )),
        None => Ok(()),
    }
}

/// Your agents' tasks, most recently active first.
#[utoipa::path(get, path = "/v1/tasks", tag = "payments", security(("user" = [])),
    params(("limit" = Option<i64>, Query, description = "1–500, default 50")),
    responses((status = 200, description = "Tasks")))]
pub async fn tasks(
    State(state): State<AppState>,
    User(who): User,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    param(&q, &["limit"])?;
    let limit = match q.get("limit") {
        Some(l) => Some(l.parse::<i64>().map_err(|_| {
            ApiError::invalid("limit_invalid", "limit must be a whole number", "limit")
        })?),
        None => None,
    };
    Ok(Json(json!({"data": state.wallet.tasks(&who, limit).await?})).into_response())
}

/// One task's timeline: request, decision, confirmation, capture, refund — oldest first.
#[utoipa::path(get, path = "/v1/tasks/{task_id}", tag = "payments", security(("user" = [])),
    params(("task_id" = String, Path, description = "The agent's task id")),
    responses((status = 200, description = "The timeline")))]
pub async fn timeline(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(task_id): ApiPath<String>,
) -> ApiResult<Response> {
    let events = state.wallet.timeline(&who, &task_id, None).await?;
    Ok(Json(json!({"task_id": task_id, "events": events})).into_response())
}

/// Most live streams one watcher (a person's task streams, an agent's payment streams) may
/// have open at once on one node: a tab per task is plenty; more is a leak or an attack.
pub const MAX_STREAMS_PER_WATCHER: usize = 16;

/// The live streams open on this node, per watcher (`user:…`, `agent:…`). Each stream holds a
/// [`LiveSlot`] that gives its place back when the stream is dropped — when the client goes
/// away (the next write fails: an event, or the keep-alive comment every 15 s), when the stream
/// ends, or when the server shuts down. `/metrics` reports the total.
#[derive(Default)]
pub struct LiveStreams {
    open: std::sync::Mutex<HashMap<String, usize>>,
}

impl LiveStreams {
    /// A place for one more stream of `watcher`, or `None` when it has too many open.
    pub fn open(self: &std::sync::Arc<Self>, watcher: &str) -> Option<LiveSlot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(watcher.to_string()).or_insert(0);
        if *n >= MAX_STREAMS_PER_WATCHER {
            return None;
        }
        *n += 1;
        Some(LiveSlot {
            streams: self.clone(),
            watcher: watcher.to_string(),
        })
    }

    /// How many streams are open on this node.
    pub fn total(&self) -> usize {
        self.open.lock().map(|o| o.values().sum()).unwrap_or(0)
    }
}

/// One open stream's place in [`LiveStreams`], given back on drop.
pub struct LiveSlot {
    streams: std::sync::Arc<LiveStreams>,
    watcher: String,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.open.lock() {
            if let Some(n) = open.get_mut(&self.watcher) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.watcher);
                }
            }
        }
    }
}

/// The refusal when a watcher has [`MAX_STREAMS_PER_WATCHER`] streams open.
pub fn too_many_streams() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_streams",
        format!(
            "at most {MAX_STREAMS_PER_WATCHER} live streams may be open at once; close one first"
        ),
    )
}

/// Where a live stream reads its events from.
#[derive(Clone)]
pub(crate) enum Source {
    Task(Principal, String),
    Payment(AgentCaller, String),
}

/// How a live stream shows each event, and whether its watcher may keep watching. The JSON
/// API's streams send the event as JSON ([`AsJson`]); the web wallet's task page sends it as
/// the timeline entry it shows (`web::tasks`).
pub(crate) trait View: Send + Sync + 'static {
    /// Checked before every read of new events; the stream ends when this is false (a web
    /// session that expired or was signed out).
    fn allowed(&self) -> impl std::future::Future<Output = bool> + Send {
        async { true }
    }
    /// The SSE event for one timeline event (its `id` is set by the stream). An error (the
    /// store could not answer a read the view needs) is retried: the event is sent late,
    /// never without what the view would have shown.
    fn event(
        &self,
        e: &TimelineEvent,
    ) -> impl std::future::Future<Output = Result<Event, WalletError>> + Send;
}

/// Each event as JSON, its SSE `event` the event type.
pub(crate) struct AsJson;

impl View for AsJson {
    async fn event(&self, e: &TimelineEvent) -> Result<Event, WalletError> {
        Ok(Event::default()
            .event(e.kind.clone())
            .json_data(e)
            .unwrap_or_else(|_| Event::default().comment("unencodable event")))
    }
}

/// Where a stream starts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resume {
    /// Read events from this time (ms) on.
    pub from_ms: i64,
    /// Events the client already has (not sent again).
    pub have: Vec<String>,
}

struct Live<V: View> {
    state: AppState,
    source: Source,
    view: V,
    after: i64,
    seen: HashSet<String>,
    queue: VecDeque<TimelineEvent>,
    started: tokio::time::Instant,
    done: bool,
    _slot: LiveSlot,
}

impl<V: View> Live<V> {
    async fn fetch(&self) -> Result<Vec<TimelineEvent>, WalletError> {
        match &self.source {
            Source::Task(who, task) => {
                self.state
                    .wallet
                    .timeline(who, task, Some(self.after.saturating_sub(REREAD_MS)))
                    .await
            }
            Source::Payment(agent, id) => {
                self.state
                    .wallet
                    .payment_events(agent, id, Some(self.after.saturating_sub(REREAD_MS)))
                    .await
            }
        }
    }
}

/// A live stream of `source`'s events as `view` shows them, from `resume` on, holding `slot`
/// until it ends.
pub(crate) fn sse<V: View>(
    state: AppState,
    source: Source,
    view: V,
    resume: Resume,
    slot: LiveSlot,
) -> Response {
    let live = Live {
        state,
        source,
        view,
        after: resume.from_ms,
        seen: resume.have.into_iter().collect(),
        queue: VecDeque::new(),
        started: tokio::time::Instant::now(),
        done: false,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(live, |mut l| async move {
        loop {
            if let Some(e) = l.queue.front().cloned() {
                match l.view.event(&e).await {
                    Ok(ev) => {
                        let ev = ev.id(e.id.clone());
                        if matches!(l.source, Source::Payment(..))
                            && FINAL.contains(&e.kind.as_str())
                        {
                            l.done = true;
                        }
                        l.queue.pop_front();
                        return Some((Ok::<Event, Infallible>(ev), l));
                    }
                    Err(err) => {
                        // Kept at the front and tried again after a pause (while the
                        // watcher may still watch): sent late, in order, and whole.
                        tracing::warn!(code = %err.code, "a live stream could not show an event yet");
                        if l.started.elapsed() > MAX_STREAM || !l.view.allowed().await {
                            return None;
                        }
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                }
            }
            if l.done || l.started.elapsed() > MAX_STREAM || !l.view.allowed().await {
                return None;
            }
            match l.fetch().await {
                Ok(events) => {
                    for e in events {
                        l.after = l.after.max(e.at_ms);
                        if l.seen.insert(e.id.clone()) {
                            l.queue.push_back(e);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, "a live stream could not read events");
                }
            }
            if l.queue.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The task's timeline live (`text/event-stream`): every event now and as it happens; each
/// SSE `id` is the event id and its `event` the type.
#[utoipa::path(get, path = "/v1/tasks/{task_id}/stream", tag = "payments", security(("user" = [])),
    params(("task_id" = String, Path, description = "The agent's task id")),
    responses((status = 200, description = "text/event-stream of timeline events")))]
pub async fn task_stream(
    State(state): State<AppState>,
    User(who): User,
    ApiPath(task_id): ApiPath<String>,
) -> ApiResult<Response> {
    // Authorise before the stream starts, so refusals are ordinary JSON errors.
    state.wallet.timeline(&who, &task_id, None).await?;
    let slot = state
        .live
        .open(&format!("user:{}", who.user_id))
        .ok_or_else(too_many_streams)?;
    Ok(sse(
        state,
        Source::Task(who, task_id),
        AsJson,
        Resume::default(),
        slot,
    ))
}

/// One payment's events live, for the agent that asked (ends after a final event).
#[utoipa::path(get, path = "/v1/agent/payments/{id}/events", tag = "agent", security(("http_signature" = [])),
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "text/event-stream of the payment's events"), (status = 404, description = "Not this agent's", body = ErrorBody)))]
pub async fn payment_stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    signed: Signed,
) -> ApiResult<Response> {
    state.wallet.payment_for_agent(&signed.agent, &id).await?;
    let slot = state
        .live
        .open(&format!("agent:{}", signed.agent.agent_id))
        .ok_or_else(too_many_streams)?;
    Ok(sse(
        state,
        Source::Payment(signed.agent, id),
        AsJson,
        Resume::default(),
        slot,
    ))
}

fn time(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<purser_core::Timestamp>, ApiError> {
    let Some(s) = q.get(name) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            &format!("{name}_invalid"),
            format!("{name} is a date (2026-11-01) or an RFC 3339 time (2026-11-01T08:00:00Z)"),
            name,
        )
    };
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(Some(purser_core::Timestamp(t.as_millisecond())));
    }
    let d = s.parse::<jiff::civil::Date>().map_err(|_| bad())?;
    let t = d
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| bad())?
        .timestamp();
    Ok(Some(purser_core::Timestamp(t.as_millisecond())))
}

/// Your bill: payments filtered by agent, mandate, merchant, task, status and period, newest
/// first, with totals per currency over everything matched. `format=csv` downloads the page
/// as CSV.
#[utoipa::path(get, path = "/v1/bills", tag = "payments", security(("user" = [])),
    params(("agent_id" = Option<String>, Query, description = "agt_…"), ("mandate_id" = Option<String>, Query, description = "mdt_…"),
        ("merchant_id" = Option<String>, Query, description = "mch_…"), ("task_id" = Option<String>, Query, description = "task id"),
        ("status" = Option<String>, Query, description = "captured, refunded, approved, declined, …"),
        ("from" = Option<String>, Query, description = "date or RFC 3339, inclusive"), ("to" = Option<String>, Query, description = "date or RFC 3339, exclusive"),
        ("limit" = Option<i64>, Query, description = "1–500, default 100"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("format" = Option<String>, Query, description = "json (default) or csv")),
    responses((status = 200, description = "The bill"), (status = 400, description = "A bad filter", body = ErrorBody)))]
pub async fn bills(
    State(state): State<AppState>,
    User(who): User,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    param(
        &q,
        &[
            "agent_id",
            "mandate_id",
            "merchant_id",
            "task_id",
            "status",
            "from",
            "to",
            "limit",
            "cursor",
            "format",
        ],
    )?;
    let limit = match q.get("limit") {
        Some(l) => Some(l.parse::<i64>().map_err(|_| {
            ApiError::invalid("limit_invalid", "limit must be a whole number", "limit")
        })?),
        None => None,
    };
    let f = BillFilter {
        agent_id: q.get("agent_id").cloned(),
        mandate_id: q.get("mandate_id").cloned(),
        merchant_id: q.get("merchant_id").cloned(),
        task_id: q.get("task_id").cloned(),
        status: q.get("status").cloned(),
        from: time(&q, "from")?,
        to: time(&q, "to")?,
        limit,
        cursor: q.get("cursor").cloned(),
    };
    let bill = state.wallet.bill(&who, &f).await?;
    match q.get("format").map(String::as_str) {
        None | Some("json") => Ok(Json(bill).into_response()),
        Some("csv") => {
            let mut r = (StatusCode::OK, bill_csv(&bill)).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"purser-bill.csv\""),
            );
            if let Some(c) = &bill.next_cursor {
                if let Ok(v) = HeaderValue::from_str(c) {
                    h.insert("purser-next-cursor", v);
                }
            }
            Ok(r)
        }
        Some(_) => Err(ApiError::invalid(
            "format_invalid",
            "format is json or csv",
            "format",
        )),
    }
}
