//! Bills: what the person's agents paid, filtered, totalled, charted and exported.
//!
//! - `GET /bills`: the filter form (agent, mandate, merchant, from / to dates, presets), the
//!   totals per currency over everything the filter matches (the wallet's `bill`), a chart of
//!   spending per day (inline SVG made here, with a text alternative) and the payments.
//! - `GET /bills.csv?<same filters>`: every matching payment as the CSV `purser bill --csv`
//!   writes (`bill_csv`), as a download.
//! - `GET /payments/:id/evidence`: one payment's sealed evidence bundle, the same file
//!   `GET /v1/payments/{id}/evidence` returns, for the signed-in owner only.
//!
//! The filters are read here from the query string and checked field by field, so a bad one
//! is said in words next to its field; only then are they handed to the wallet.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use purser_core::{Currency, Money, Timestamp};
use purser_wallet::payments::bills::{bill_csv, Bill, BillFilter, BillLine, BillTotal};
use purser_wallet::web::WebSession;
use purser_wallet::WalletError;

use super::pages::readable_time;
use super::{see_other, Ctx, Lang};
use crate::html::html_escape;
use crate::AppState;

/// Rows one read of the wallet's bill asks for (its largest page).
const READ_PAGE: i64 = purser_wallet::payments::bills::MAX_BILL_PAGE;
/// Most payments the chart and the CSV read for one filter: 20 pages of 500. A bill longer
/// than that is cut (the page says so); narrowing the period shows the rest.
pub const MAX_BILL_ROWS: usize = 10_000;
/// Most payments the page's table lists (the CSV has all of them).
pub const MAX_TABLE_ROWS: usize = 200;
/// Most days one chart covers: a year. A longer period is charted for its last year.
pub const MAX_CHART_DAYS: i64 = 366;
/// Most characters of a query string read (filters are a few ids and dates).
const MAX_QUERY_BYTES: usize = 2048;
/// Most options the merchant list offers, from the person's most recent payments.
const MERCHANT_SCAN: i64 = 500;

const DAY_MS: i64 = 86_400_000;

/// The filters as the query string gave them (trimmed; empty means absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub agent_id: String,
    pub mandate_id: String,
    pub merchant_id: String,
    pub from: String,
    pub to: String,
}

impl Filters {
    /// Read the known fields of a query string; the first value of each wins.
    pub fn from_query(query: Option<&str>) -> Filters {
        let q = query.unwrap_or_default();
        let q = q.get(..MAX_QUERY_BYTES).unwrap_or(q);
        let mut f = Filters::default();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            let slot = match k.as_ref() {
                "agent_id" => &mut f.agent_id,
                "mandate_id" => &mut f.mandate_id,
                "merchant_id" => &mut f.merchant_id,
                "from" => &mut f.from,
                "to" => &mut f.to,
                _ => continue,
            };
            if slot.is_empty() {
                *slot = v.trim().chars().take(64).collect();
            }
        }
        f
    }

    /// The query string of these filters (`agent_id=…&from=…`), empty fields left out.
    pub fn query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("agent_id", &self.agent_id),
            ("mandate_id", &self.mandate_id),
            ("merchant_id", &self.merchant_id),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

/// What is wrong with each field, in words (English; translated when shown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    pub agent_id: Option<&'static str>,
    pub mandate_id: Option<&'static str>,
    pub merchant_id: Option<&'static str>,
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
}

impl Problems {
    pub fn any(&self) -> bool {
        self.agent_id.is_some()
            || self.mandate_id.is_some()
            || self.merchant_id.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }
}

const BAD_DATE: &str = "Write the date as year-month-day, for example 2026-11-01.";

/// A calendar date typed as `YYYY-MM-DD`, as a day number (days since 1970-01-01, UTC).
pub fn parse_day(s: &str) -> Option<i64> {
    if s.len() != 10 {
        return None;
    }
    let d = s.parse::<Date>().ok()?;
    let ms = d.to_zoned(TimeZone::UTC).ok()?.timestamp().as_millisecond();
    Some(ms.div_euclid(DAY_MS))
}

/// `2026-11-21` for a day number.
pub fn day_label(day: i64) -> String {
    day.checked_mul(DAY_MS)
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.to_zoned(TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

/// The day number of an RFC 3339 time.
fn day_of(rfc3339: &str) -> Option<i64> {
    rfc3339.get(..10).and_then(parse_day)
}

/// The period's days: `from` and `to` are inclusive day numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Check the dates; ids are checked against the person's own lists by the caller.
pub fn check_dates(f: &Filters, p: &mut Problems) -> Period {
    let from = (!f.from.is_empty()).then(|| parse_day(&f.from));
    let to = (!f.to.is_empty()).then(|| parse_day(&f.to));
    if from == Some(None) {
        p.from = Some(BAD_DATE);
    }
    if to == Some(None) {
        p.to = Some(BAD_DATE);
    }
    let (from, to) = (from.flatten(), to.flatten());
    if let (Some(a), Some(b)) = (from, to) {
        if b < a {
            p.to = Some("The end date is before the start date.");
        }
    }
    Period { from, to }
}

/// What the person can pick from, and the names shown for ids.
struct Choices {
    /// (agent id, name)
    agents: Vec<(String, String)>,
    /// (mandate id, one-line summary)
    mandates: Vec<(String, String)>,
    /// (merchant id, name)
    merchants: Vec<(String, String)>,
}

async fn choices(state: &AppState, session: &WebSession) -> Result<Choices, WalletError> {
    let who = session.principal();
    let w = &state.wallet;
    let mut agents: Vec<(String, String)> = Vec::new();
    for b in w.list_bindings(&who, None).await? {
        if !agents.iter().any(|(id, _)| *id == b.agent.id) {
            agents.push((b.agent.id.clone(), b.agent.name.clone()));
        }
    }
    let mandates = w
        .list_mandates(&who, None)
        .await?
        .into_iter()
        .map(|m| (m.id, m.summary))
        .collect();
    let recent = w
        .bill(
            &who,
            &BillFilter {
                limit: Some(MERCHANT_SCAN),
                ..BillFilter::default()
            },
        )
        .await?;
    let mut merchants: Vec<(String, String)> = Vec::new();
    for l in &recent.data {
        if !merchants.iter().any(|(id, _)| *id == l.merchant_id) {
            merchants.push((l.merchant_id.clone(), l.merchant_name.clone()));
        }
    }
    merchants.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(Choices {
        agents,
        mandates,
        merchants,
    })
}

fn check_ids(f: &Filters, c: &Choices, p: &mut Problems) {
    let known =
        |list: &[(String, String)], id: &str| id.is_empty() || list.iter().any(|(i, _)| i == id);
    if !known(&c.agents, &f.agent_id) {
        p.agent_id = Some("None of your agents has this id. Pick one from the list.");
    }
    if !known(&c.mandates, &f.mandate_id) {
        p.mandate_id = Some("None of your mandates has this id. Pick one from the list.");
    }
    if !known(&c.merchants, &f.merchant_id) {
        p.merchant_id =
            Some("None of your payments went to a merchant with this id. Pick one from the list.");
    }
}

/// The wallet's filter for checked filters.
fn bill_filter(f: &Filters, period: Period) -> BillFilter {
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    BillFilter {
        agent_id: some(&f.agent_id),
        mandate_id: some(&f.mandate_id),
        merchant_id: some(&f.merchant_id),
        from: period.from.map(|d| Timestamp(d.saturating_mul(DAY_MS))),
        // The page's "to" is the last day shown; the wallet's is exclusive.
        to: period
            .to
            .map(|d| Timestamp(d.saturating_add(1).saturating_mul(DAY_MS))),
        ..BillFilter::default()
    }
}

/// Every payment the filter matches (up to [`MAX_BILL_ROWS`]), newest first, the totals
/// over all of them, and whether the list was cut.
async fn read_all(
    state: &AppState,
    session: &WebSession,
    filter: &BillFilter,
) -> Result<(Vec<BillLine>, Vec<BillTotal>, bool), WalletError> {
    let who = session.principal();
    let mut lines = Vec::new();
    let mut totals = Vec::new();
    let mut f = filter.clone();
    f.limit = Some(READ_PAGE);
    loop {
        let page = state.wallet.bill(&who, &f).await?;
        if f.cursor.is_none() {
            totals = page.totals;
        }
        lines.extend(page.data);
        if lines.len() >= MAX_BILL_ROWS {
            lines.truncate(MAX_BILL_ROWS);
            return Ok((lines, totals, true));
        }
        match page.next_cursor {
            Some(c) if page.has_more => f.cursor = Some(c),
            _ => return Ok((lines, totals, false)),
        }
    }
}

/// What a line spent: captured minus refunded (the wallet's `net`).
fn line_spend(l: &BillLine) -> i64 {
    l.net.amount
}

/// Money shown the wallet's way (`¥1,299.00`).
fn shown(minor: i64, c: Currency) -> String {
    Money::new(minor, c).with_symbol()
}

/// Spending per day of one currency over `first..=last` (day numbers), from the lines.
pub fn per_day(lines: &[BillLine], currency: &str, first: i64, last: i64) -> Vec<(i64, i64)> {
    let n = usize::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(0);
    let mut days: Vec<(i64, i64)> = (0..n).map(|i| (first + i as i64, 0)).collect();
    for l in lines.iter().filter(|l| l.amount.currency == currency) {
        if let Some(d) = day_of(&l.created_at) {
            if d >= first && d <= last {
                if let Some(slot) = usize::try_from(d - first)
                    .ok()
                    .and_then(|i| days.get_mut(i))
                {
                    slot.1 = slot.1.saturating_add(line_spend(l));
                }
            }
        }
    }
    days
}

/// Chart geometry, in the SVG's own units (it scales to the width it is given).
const CHART_W: i64 = 320;
const CHART_H: i64 = 150;
/// Widest bar, in tenths of a unit (a short period's few bars stay bars).
const MAX_BAR_W10: i64 = 240;
/// Room above the bars for the scale, below for the dates.
const CHART_TOP: i64 = 18;
const CHART_BOTTOM: i64 = 20;

/// An inline SVG bar chart of spending per day: one bar per day, its height in proportion to
/// the day's spending, each bar with a tooltip; a scale line at the top labelled with the
/// highest day, the first and last dates below. `title` names the image, `desc` says what it
/// shows in a sentence (both plain text; escaped here). No script, no style attribute.
pub fn chart_svg(id: &str, days: &[(i64, i64)], c: Currency, title: &str, desc: &str) -> String {
    let id = html_escape(id);
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(0);
    let plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
    let n = i64::try_from(days.len()).unwrap_or(i64::MAX).max(1);
    // Bars and gaps in tenths of a unit, so 366 days still fill 320 units.
    let slot = (CHART_W * 10) / n;
    let gap = if slot >= 40 { slot / 5 } else { 0 };
    let edge = |i: i64| i.saturating_mul(CHART_W * 10) / n;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" focusable=\"false\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n",
        html_escape(title),
        html_escape(desc),
    );
    // The baseline and the scale line.
    let base = CHART_TOP + plot_h;
    s.push_str(&format!(
        "<line x1=\"0\" y1=\"{base}\" x2=\"{CHART_W}\" y2=\"{base}\" stroke=\"#6b7280\" stroke-width=\"1\"/>\n"
    ));
    if max > 0 {
        s.push_str(&format!(
            "<line x1=\"0\" y1=\"{CHART_TOP}\" x2=\"{CHART_W}\" y2=\"{CHART_TOP}\" stroke=\"#d1d5db\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>\n<text x=\"0\" y=\"{}\" font-size=\"11\" fill=\"#4b5563\">{}</text>\n",
            CHART_TOP - 5,
            html_escape(&shown(max, c)),
        ));
    }
    for (i, (day, minor)) in days.iter().enumerate() {
        let minor = (*minor).max(0);
        // Height in tenths: minor / max of the plot, computed in i128 so no amount overflows.
        let h10 = if max > 0 {
            i64::try_from(i128::from(minor) * i128::from(plot_h * 10) / i128::from(max))
                .unwrap_or(0)
        } else {
            0
        };
        // A day with spending is at least one unit tall, so it never disappears.
        let h10 = if minor > 0 { h10.max(10) } else { h10 };
        let i = i64::try_from(i).unwrap_or(0);
        let room = edge(i + 1) - edge(i);
        let w10 = (room - gap).clamp(1, MAX_BAR_W10);
        // Centred in its day's room.
        let x10 = edge(i) + (room - w10) / 2;
        let y10 = base * 10 - h10;
        s.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#2563eb\"><title>{}: {}</title></rect>\n",
            tenths(x10),
            tenths(y10),
            tenths(w10),
            tenths(h10),
            html_escape(&day_label(*day)),
            html_escape(&shown(minor, c)),
        ));
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = CHART_H - 5;
        s.push_str(&format!(
            "<text x=\"0\" y=\"{y}\" font-size=\"11\" fill=\"#4b5563\">{}</text>\n",
            html_escape(&day_label(first.0))
        ));
        if last.0 != first.0 {
            s.push_str(&format!(
                "<text x=\"{CHART_W}\" y=\"{y}\" font-size=\"11\" fill=\"#4b5563\" text-anchor=\"end\">{}</text>\n",
                html_escape(&day_label(last.0))
            ));
        }
    }
    s.push_str("</svg>");
    s
}

/// `123` tenths → `12.3`.
fn tenths(v: i64) -> String {
    format!("{}.{}", v.div_euclid(10), v.rem_euclid(10))
}

/// The chart's sentence: the period, the total and the busiest day.
fn chart_desc(l: Lang, days: &[(i64, i64)], c: Currency) -> String {
    let total = days.iter().fold(0i64, |a, d| a.saturating_add(d.1));
    let (first, last) = match (days.first(), days.last()) {
        (Some(a), Some(b)) => (day_label(a.0), day_label(b.0)),
        _ => return String::new(),
    };
    let mut s = l.f(
        "From {} to {}: {} spent in all.",
        &[&first, &last, &shown(total, c)],
    );
    if let Some(top) = days.iter().filter(|d| d.1 > 0).max_by_key(|d| (d.1, -d.0)) {
        s.push(' ');
        s.push_str(&l.f(
            "The most on {}: {}.",
            &[&day_label(top.0), &shown(top.1, c)],
        ));
    }
    s
}

/// A status in words.
fn status_words(l: Lang, status: &str) -> &'static str {
    match status {
        "needs_confirmation" => l.t("waiting for you"),
        "approved" => l.t("approved, not yet charged"),
        "capturing" => l.t("being charged"),
        "captured" => l.t("paid"),
        "refunded" => l.t("refunded"),
        "declined" => l.t("declined"),
        "voided" => l.t("cancelled"),
        "expired" => l.t("expired"),
        "failed" => l.t("failed"),
        _ => l.t("in progress"),
    }
}

fn options(list: &[(String, String)], chosen: &str, all: &str) -> String {
    let mut s = format!("<option value=\"\">{}</option>", html_escape(all));
    for (id, name) in list {
        let sel = if id == chosen { " selected" } else { "" };
        let shown: String = name.chars().take(60).collect();
        s.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            html_escape(id),
            html_escape(&shown)
        ));
    }
    s
}

/// A labelled field with its problem beside it.
fn field(l: Lang, name: &str, label: &str, control: &str, problem: Option<&'static str>) -> String {
    let (attrs, err) = match problem {
        Some(p) => (
            format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\""),
            format!(
                "<p class=\"error\" id=\"{name}-error\">{}</p>",
                html_escape(l.t(p))
            ),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "<div class=\"field\"><label for=\"f-{name}\">{}</label>{}{err}</div>\n",
        html_escape(label),
        control.replace("{attrs}", &attrs)
    )
}

fn filter_form(l: Lang, f: &Filters, c: &Choices, p: &Problems, today: i64) -> String {
    let select = |name: &str, list: &[(String, String)], chosen: &str, all: &str| {
        format!(
            "<select id=\"f-{name}\" name=\"{name}\"{{attrs}}>{}</select>",
            options(list, chosen, all)
        )
    };
    let date = |name: &str, v: &str| {
        format!(
            "<input type=\"date\" id=\"f-{name}\" name=\"{name}\" value=\"{}\" placeholder=\"2026-11-01\" maxlength=\"10\"{{attrs}}>",
            html_escape(v)
        )
    };
    // Unknown ids stay in the form (as typed) so the person sees what the link said.
    let mut agents = c.agents.clone();
    if p.agent_id.is_some() {
        agents.push((f.agent_id.clone(), f.agent_id.clone()));
    }
    let mut mandates = c.mandates.clone();
    if p.mandate_id.is_some() {
        mandates.push((f.mandate_id.clone(), f.mandate_id.clone()));
    }
    let mut merchants = c.merchants.clone();
    if p.merchant_id.is_some() {
        merchants.push((f.merchant_id.clone(), f.merchant_id.clone()));
    }
    let mut h = format!(
        "<form class=\"card filters\" method=\"get\" action=\"/bills\" aria-labelledby=\"h-filter\">\n<h2 id=\"h-filter\">{}</h2>\n",
        l.t("Which payments")
    );
    h.push_str(&field(
        l,
        "agent_id",
        l.t("Agent"),
        &select("agent_id", &agents, &f.agent_id, l.t("All agents")),
        p.agent_id,
    ));
    h.push_str(&field(
        l,
        "mandate_id",
        l.t("Mandate"),
        &select("mandate_id", &mandates, &f.mandate_id, l.t("All mandates")),
        p.mandate_id,
    ));
    h.push_str(&field(
        l,
        "merchant_id",
        l.t("Merchant"),
        &select(
            "merchant_id",
            &merchants,
            &f.merchant_id,
            l.t("All merchants"),
        ),
        p.merchant_id,
    ));
    h.push_str("<div class=\"dates\">\n");
    h.push_str(&field(
        l,
        "from",
        l.t("From"),
        &date("from", &f.from),
        p.from,
    ));
    h.push_str(&field(
        l,
        "to",
        l.t("To (inclusive)"),
        &date("to", &f.to),
        p.to,
    ));
    h.push_str("</div>\n");
    h.push_str(&format!(
        "<div class=\"buttons\"><button type=\"submit\" class=\"secondary\">{}</button></div>\n</form>\n",
        l.t("Show the bill")
    ));
    // Presets: links that keep the other filters.
    let with = |from: String, to: String| {
        let g = Filters {
            from,
            to,
            ..f.clone()
        };
        format!("/bills?{}", g.query())
    };
    let month_start = day_label(today)
        .get(..8)
        .map(|ym| format!("{ym}01"))
        .unwrap_or_default();
    h.push_str(&format!(
        "<p class=\"presets\">{}: <a href=\"{}\">{}</a> · <a href=\"{}\">{}</a> · <a href=\"{}\">{}</a></p>\n",
        l.t("Period"),
        html_escape(&with(month_start, day_label(today))),
        l.t("This month"),
        html_escape(&with(day_label(today - 29), day_label(today))),
        l.t("Last 30 days"),
        html_escape(&with(String::new(), String::new())),
        l.t("All time"),
    ));
    h
}

fn totals_html(l: Lang, totals: &[BillTotal]) -> String {
    let mut h = format!(
        "<section class=\"card\" aria-labelledby=\"h-totals\">\n<h2 id=\"h-totals\">{}</h2>\n",
        l.t("Totals")
    );
    if totals.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No payments match these filters.")
        ));
    }
    for t in totals {
        h.push_str(&format!(
            "<dl class=\"totals\" data-currency=\"{cur}\">\n<div><dt>{spent}</dt><dd data-total=\"spent\">{}</dd></div>\n<div><dt>{refunded}</dt><dd data-total=\"refunded\">{}</dd></div>\n<div><dt>{net}</dt><dd data-total=\"net\" class=\"strong\">{}</dd></div>\n<div><dt>{held}</dt><dd data-total=\"held\">{}</dd></div>\n</dl>\n<p class=\"muted\">{}</p>\n",
            html_escape(&t.captured.display),
            html_escape(&t.refunded.display),
            html_escape(&t.net.display),
            html_escape(&t.held.display),
            l.f("{} payments in {}.", &[&t.payments.to_string(), &html_escape(t.currency)]),
            cur = html_escape(t.currency),
            spent = l.t("Spent"),
            refunded = l.t("Refunded"),
            net = l.t("Net"),
            held = l.t("Held, not yet charged"),
        ));
    }
    h.push_str(&format!(
        "<p class=\"muted\">{}</p>\n</section>\n",
        l.t("Spent is what merchants charged; net is spent less refunds. Held money is reserved for approved payments the merchant has not charged yet.")
    ));
    h
}

fn charts_html(
    l: Lang,
    lines: &[BillLine],
    totals: &[BillTotal],
    period: Period,
    today: i64,
) -> String {
    let mut h = format!(
        "<section class=\"card\" aria-labelledby=\"h-chart\">\n<h2 id=\"h-chart\">{}</h2>\n",
        l.t("Spending per day")
    );
    let mut any = false;
    for (i, t) in totals.iter().enumerate() {
        let Some(c) = Currency::from_code(t.currency) else {
            continue;
        };
        let earliest = lines
            .iter()
            .filter(|x| x.amount.currency == t.currency)
            .filter_map(|x| day_of(&x.created_at))
            .min();
        let last = period.to.unwrap_or(today);
        let Some(first) = period.from.or(earliest) else {
            continue;
        };
        let first = first.max(last - (MAX_CHART_DAYS - 1));
        if first > last {
            continue;
        }
        any = true;
        let days = per_day(lines, t.currency, first, last);
        let title = l.f("Spending per day in {}", &[t.currency]);
        let desc = chart_desc(l, &days, c);
        h.push_str(&chart_svg(&format!("chart-{i}"), &days, c, &title, &desc));
        h.push_str(&format!(
            "\n<p class=\"muted\">{}</p>\n",
            html_escape(&desc)
        ));
        let spent: Vec<_> = days.iter().filter(|d| d.1 > 0).collect();
        if !spent.is_empty() {
            h.push_str(&format!(
                "<details><summary>{}</summary>\n<table class=\"items\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"price\">{}</th></tr></thead><tbody>\n",
                l.t("The days with spending, as a table"),
                l.t("Date"),
                l.t("Spent"),
            ));
            for (d, m) in spent {
                h.push_str(&format!(
                    "<tr><td>{}</td><td class=\"price\">{}</td></tr>\n",
                    html_escape(&day_label(*d)),
                    html_escape(&shown(*m, c))
                ));
            }
            h.push_str("</tbody></table></details>\n");
        }
    }
    if !any {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No payments match these filters.")
        ));
    }
    h.push_str("</section>\n");
    h
}

fn table_html(l: Lang, lines: &[BillLine], total: i64, f: &Filters) -> String {
    let mut h = format!(
        "<section class=\"card\" aria-labelledby=\"h-payments\">\n<h2 id=\"h-payments\">{}</h2>\n<p><a class=\"button secondary\" href=\"{}\" download>{}</a></p>\n",
        l.t("Payments"),
        html_escape(&format!("/bills.csv?{}", f.query())),
        l.t("Download as CSV"),
    );
    if lines.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n</section>\n",
            l.t("No payments match these filters.")
        ));
        return h;
    }
    let shown_rows = lines.len().min(MAX_TABLE_ROWS);
    if i64::try_from(shown_rows).unwrap_or(i64::MAX) < total {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.f(
                "The newest {} of {} payments are listed; the CSV has all of them.",
                &[&shown_rows.to_string(), &total.to_string()]
            )
        ));
    }
    h.push_str(&format!(
        "<div class=\"scroll\"><table class=\"items bill\" id=\"bill\">\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"price\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        l.t("Payments, newest first"),
        l.t("Date"),
        l.t("Agent"),
        l.t("Merchant"),
        l.t("Items"),
        l.t("Amount"),
        l.t("Status"),
        l.t("Evidence"),
    ));
    for line in lines.iter().take(MAX_TABLE_ROWS) {
        let mut status = html_escape(status_words(l, &line.status));
        if line.refunded.amount > 0 {
            status.push_str(&format!(
                " <span class=\"muted\">({})</span>",
                l.f("{} refunded", &[&html_escape(&line.refunded.display)])
            ));
        }
        h.push_str(&format!(
            "<tr data-payment=\"{id}\" data-status=\"{st}\" data-amount=\"{minor}\" data-captured=\"{cap}\" data-currency=\"{cur}\"><td data-label=\"{ld}\">{}</td><td data-label=\"{la}\"><bdi>{}</bdi></td><td data-label=\"{lm}\"><bdi>{}</bdi></td><td data-label=\"{li}\" class=\"what\"><bdi>{}</bdi></td><td data-label=\"{lx}\" class=\"price\">{}</td><td data-label=\"{ls}\">{status}</td><td><a href=\"/payments/{id}/evidence\" download aria-label=\"{}\">{}</a></td></tr>\n",
            html_escape(&readable_time(&line.created_at)),
            html_escape(&line.agent_name),
            html_escape(&line.merchant_name),
            html_escape(&line.items),
            html_escape(&line.amount.display),
            html_escape(&l.f(
                "Evidence of the payment of {} on {}",
                &[&line.amount.display, &readable_time(&line.created_at)]
            )),
            l.t("Evidence"),
            id = html_escape(&line.payment_id),
            st = html_escape(&line.status),
            minor = line.amount.amount,
            cap = line.captured.amount,
            cur = html_escape(line.amount.currency),
            ld = l.t("Date"),
            la = l.t("Agent"),
            lm = l.t("Merchant"),
            li = l.t("Items"),
            lx = l.t("Amount"),
            ls = l.t("Status"),
        ));
    }
    h.push_str("</tbody>\n</table></div>\n</section>\n");
    h
}

/// Today, as a day number (UTC).
fn today(state: &AppState) -> i64 {
    state.wallet.now().0.div_euclid(DAY_MS)
}

fn trouble(ctx: &Ctx, e: &WalletError) -> Response {
    tracing::warn!(code = %e.code, "bills page failed");
    ctx.unavailable()
}

/// What the page and the CSV both read first: who is signed in, and the query string's
/// filters checked against the dates and the person's own agents, mandates and merchants.
struct Asked {
    session: WebSession,
    filters: Filters,
    problems: Problems,
    period: Period,
    choices: Choices,
}

/// Read and check the filters of `query` for the signed-in person, or the response to give
/// instead (the way to sign in, or the page that says the wallet cannot answer now).
async fn asked(state: &AppState, ctx: &Ctx, query: Option<&str>) -> Result<Asked, Response> {
    let Some(session) = ctx.session.clone() else {
        return Err(ctx.sign_in_first());
    };
    let filters = Filters::from_query(query);
    let mut problems = Problems::default();
    let period = check_dates(&filters, &mut problems);
    let choices = choices(state, &session)
        .await
        .map_err(|e| trouble(ctx, &e))?;
    check_ids(&filters, &choices, &mut problems);
    Ok(Asked {
        session,
        filters,
        problems,
        period,
        choices,
    })
}

/// `GET /bills`
pub async fn page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Asked {
        session,
        filters: f,
        problems,
        period,
        choices: c,
    } = match asked(&state, &ctx, uri.query()).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let l = ctx.lang;
    let today = today(&state);
    let mut body = format!("<h1>{}</h1>\n", l.t("Bills"));
    body.push_str(&filter_form(l, &f, &c, &problems, today));
    if problems.any() {
        body.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\"><p>{}</p></section>\n",
            l.t("Some filters above need fixing before the bill can be shown.")
        ));
        return ctx.section_page("/bills", StatusCode::BAD_REQUEST, l.t("Bills"), &body);
    }
    let (lines, totals, cut) = match read_all(&state, &session, &bill_filter(&f, period)).await {
        Ok(r) => r,
        Err(e) => return trouble(&ctx, &e),
    };
    if cut {
        body.push_str(&format!(
            "<section class=\"card notice\"><p>{}</p></section>\n",
            l.f(
                "This period has more than {} payments; the chart counts the newest {}. Choose a shorter period to see the rest.",
                &[&MAX_BILL_ROWS.to_string(), &MAX_BILL_ROWS.to_string()]
            )
        ));
    }
    let count = totals
        .iter()
        .fold(0i64, |a, t| a.saturating_add(t.payments));
    body.push_str(&totals_html(l, &totals));
    body.push_str(&charts_html(l, &lines, &totals, period, today));
    body.push_str(&table_html(l, &lines, count, &f));
    ctx.section_page("/bills", StatusCode::OK, l.t("Bills"), &body)
}

/// `GET /bills.csv?<filters>`: the bill as `purser bill --csv` writes it, as a download.
pub async fn csv(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Asked {
        session,
        filters: f,
        problems,
        period,
        ..
    } = match asked(&state, &ctx, uri.query()).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if problems.any() {
        // The page says what is wrong, next to each field.
        return see_other(&format!("/bills?{}", f.query()));
    }
    let (data, totals, _) = match read_all(&state, &session, &bill_filter(&f, period)).await {
        Ok(r) => r,
        Err(e) => return trouble(&ctx, &e),
    };
    let text = bill_csv(&Bill {
        data,
        totals,
        has_more: false,
        next_cursor: None,
    });
    let mut r = (StatusCode::OK, text).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"purser-bill.csv\""),
    );
    ctx.finish(crate::html::secure(r, "no-store"))
}

/// `GET /payments/:id/evidence`: the owner's evidence bundle, as `evidence-<id>.json`.
pub async fn evidence(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    // Read from the path itself, so no id can make an extractor answer with a bare error.
    let id = uri
        .path()
        .strip_prefix("/payments/")
        .and_then(|r| r.strip_suffix("/evidence"))
        .unwrap_or_default()
        .to_string();
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let l = ctx.lang;
    // The wallet checks `id` is a payment id (`pay_` and base32) before anything else, so
    // it is safe in the file name below.
    let doc = match state.wallet.evidence(&session.principal(), &id).await {
        Ok(d) => d,
        Err(e) => {
            let status = crate::error::ApiError::from(e.clone()).status;
            return match status {
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => ctx.message(
                    StatusCode::NOT_FOUND,
                    l.t("Payment not found"),
                    l.t("None of your payments has this id. Open the evidence from your bill."),
                ),
                StatusCode::CONFLICT => ctx.message(
                    StatusCode::CONFLICT,
                    l.t("No evidence yet"),
                    l.t("This payment is still being decided. Try again in a moment."),
                ),
                _ => trouble(&ctx, &e),
            };
        }
    };
    let Ok(body) = serde_json::to_vec_pretty(&doc) else {
        return ctx.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            l.t("Something went wrong"),
            l.t("Purser could not show this page right now. Reload it in a moment."),
        );
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"evidence-{id}.json\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    ctx.finish(crate::html::secure(r, "no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use purser_wallet::funds::Shown;

    fn cny(minor: i64) -> Shown {
        Money::new(minor, Currency::from_code("CNY").unwrap()).into()
    }

    fn line(day: &str, merchant: &str, items: &str, captured: i64, refunded: i64) -> BillLine {
        BillLine {
            payment_id: "pay_aaaaaaaaaaaaaaaaaaaaaaaa".into(),
            created_at: format!("{day}T10:00:00.000Z"),
            status: "captured".into(),
            agent_id: "agt_aaaaaaaaaaaaaaaaaaaaaaaa".into(),
            agent_name: "Trail Scout".into(),
            merchant_id: "mch_aaaaaaaaaaaaaaaaaaaaaaaa".into(),
            merchant_name: merchant.into(),
            task_id: "t".into(),
            mandate_id: None,
            items: items.into(),
            amount: cny(captured),
            captured: cny(captured),
            refunded: cny(refunded),
            net: cny(captured - refunded),
        }
    }

    #[test]
    fn the_chart_is_an_accessible_svg_with_one_bar_per_day_in_proportion() {
        let c = Currency::from_code("CNY").unwrap();
        let d = parse_day("2026-11-01").unwrap();
        let days = vec![(d, 10_000), (d + 1, 0), (d + 2, 5_000), (d + 3, 2)];
        let svg = chart_svg("c", &days, c, "Spending <per> day", "From a to b");
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"c-title c-desc\""));
        assert!(svg.contains("<title id=\"c-title\">Spending &lt;per&gt; day</title>"));
        assert!(svg.contains("<desc id=\"c-desc\">From a to b</desc>"));
        assert_eq!(svg.matches("<rect ").count(), 4);
        // No script and no style attribute (the CSP allows neither inline).
        assert!(!svg.contains("<script") && !svg.contains("style="));
        // Heights: the plot is 112 units; the top day is full, half of it half, none zero, a
        // tiny one still visible.
        assert!(svg.contains("height=\"112.0\""), "{svg}");
        assert!(svg.contains("height=\"56.0\""), "{svg}");
        assert!(svg.contains("height=\"0.0\""), "{svg}");
        assert!(svg.contains("height=\"1.0\""), "{svg}");
        assert!(svg.contains("<title>2026-11-01: ¥100.00</title>"));
        assert!(svg.contains("<title>2026-11-03: ¥50.00</title>"));
        assert!(svg.contains(">¥100.00</text>"), "the scale names the top");
        assert!(svg.contains(">2026-11-01</text>") && svg.contains(">2026-11-04</text>"));
        // Every bar is inside the picture.
        let w = CHART_W as f64;
        for rect in svg.split("<rect ").skip(1) {
            let num = |k: &str| -> f64 {
                let at = rect.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
                rect[at..at + rect[at..].find('"').unwrap()]
                    .parse()
                    .unwrap()
            };
            assert!(
                num("x") >= 0.0 && num("x") + num("width") <= w + 0.01,
                "{rect}"
            );
            assert!(
                num("y") >= 0.0 && num("y") + num("height") <= CHART_H as f64,
                "{rect}"
            );
        }
    }

    #[test]
    fn a_chart_of_nothing_or_of_a_year_stays_whole() {
        let c = Currency::from_code("CNY").unwrap();
        let svg = chart_svg("z", &[(20_000, 0)], c, "t", "d");
        assert_eq!(svg.matches("<rect ").count(), 1);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let year: Vec<(i64, i64)> = (0..MAX_CHART_DAYS)
            .map(|i| (20_000 + i, i64::MAX / 400))
            .collect();
        let svg = chart_svg("y", &year, c, "t", "d");
        assert_eq!(svg.matches("<rect ").count(), 366);
        assert!(!svg.contains("width=\"0.0\""), "every bar has a width");
    }

    #[test]
    fn spending_per_day_sums_net_of_each_day_in_the_period() {
        let lines = vec![
            line("2026-11-03", "A", "x", 7_000, 2_000),
            line("2026-11-03", "A", "x", 1_000, 0),
            line("2026-11-01", "A", "x", 3_000, 0),
            line("2026-10-01", "A", "x", 9_999, 0),
        ];
        let d = parse_day("2026-11-01").unwrap();
        let days = per_day(&lines, "CNY", d, d + 3);
        assert_eq!(
            days,
            vec![(d, 3_000), (d + 1, 0), (d + 2, 6_000), (d + 3, 0)]
        );
        assert!(per_day(&lines, "USD", d, d).iter().all(|x| x.1 == 0));
        let desc = chart_desc(Lang::En, &days, Currency::from_code("CNY").unwrap());
        assert_eq!(
            desc,
            "From 2026-11-01 to 2026-11-04: ¥90.00 spent in all. The most on 2026-11-03: ¥60.00."
        );
    }

    #[test]
    fn csv_export_defuses_formulas_in_merchant_and_item_text() {
        let b = Bill {
            data: vec![
                line(
                    "2026-11-03",
                    "=HYPERLINK(\"http://x\",\"y\")",
                    "+cmd|' /C calc'!A0",
                    100,
                    0,
                ),
                line("2026-11-03", "@SUM(1)", "-2+3, \"boots\"", 100, 0),
                line("2026-11-03", "Trail, Co", "\tTab", 100, 0),
            ],
            totals: vec![],
            has_more: false,
            next_cursor: None,
        };
        let csv = bill_csv(&b);
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert!(rows[0].ends_with(",items"), "{}", rows[0]);
        assert!(
            rows[1].contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","),
            "{}",
            rows[1]
        );
        assert!(rows[1].ends_with(",'+cmd|' /C calc'!A0"), "{}", rows[1]);
        assert!(rows[2].contains(",'@SUM(1),"), "{}", rows[2]);
        assert!(
            rows[2].ends_with(",\"'-2+3, \"\"boots\"\"\""),
            "{}",
            rows[2]
        );
        assert!(rows[3].contains(",\"Trail, Co\","), "{}", rows[3]);
        assert!(rows[3].ends_with(",'\tTab"), "{}", rows[3]);
        // No cell starts with a formula character once quoting is taken off.
        for r in &rows[1..4] {
            assert!(!r.contains(",=") && !r.contains(",\"="), "{r}");
        }
        // Amounts are decimal strings with the currency beside them.
        assert!(rows[1].contains(",CNY,1.00,1.00,0.00,1.00,"), "{}", rows[1]);
    }

    #[test]
    fn filters_read_check_and_round_trip() {
        let f = Filters::from_query(Some(
            "agent_id=agt_x&from=2026-13-40&to=2026-11-01&lang=zh&from=2026-01-01&merchant_id=",
        ));
        assert_eq!(f.agent_id, "agt_x");
        assert_eq!(f.from, "2026-13-40", "the first value wins");
        assert_eq!(f.merchant_id, "");
        assert_eq!(f.query(), "agent_id=agt_x&from=2026-13-40&to=2026-11-01");
        let mut p = Problems::default();
        let period = check_dates(&f, &mut p);
        assert_eq!(p.from, Some(BAD_DATE));
        assert_eq!(p.to, None);
        assert_eq!(period.from, None);
        assert_eq!(period.to, parse_day("2026-11-01"));
        let mut p = Problems::default();
        check_dates(
            &Filters {
                from: "2026-11-02".into(),
                to: "2026-11-01".into(),
                ..Filters::default()
            },
            &mut p,
        );
        assert!(p.to.is_some() && p.from.is_none());
        for bad in [
            "2026-02-30",
            "26-11-01",
            "2026-11-1",
            "yesterday",
            "2026-11-01T00:00:00Z",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(day_label(parse_day("2026-11-21").unwrap()), "2026-11-21");
        // The "to" day is included: the wallet's bound is the next midnight.
        let bf = bill_filter(&f, period);
        assert_eq!(
            bf.to.map(|t| t.0),
            Some((parse_day("2026-11-02").unwrap()) * DAY_MS)
        );
    }

    #[test]
    fn every_string_of_the_bills_pages_is_translated() {
        let src = include_str!("bills.rs");
        let src = &src[..src.find("#[cfg(test)]").unwrap()];
        let mut missing = Vec::new();
        for marker in ["l.t(\"", "l.f(\"", "lang.t(\"", "Some(\""] {
            for part in src.split(marker).skip(1) {
                let s = &part[..part.find('"').unwrap()];
                if marker == "Some(\"" && !s.ends_with('.') {
                    continue;
                }
                if !super::super::i18n::ZH.iter().any(|(en, _)| *en == s) {
                    missing.push(s.to_string());
                }
            }
        }
        assert!(
            super::super::i18n::ZH.iter().any(|(en, _)| *en == BAD_DATE),
            "the date problem"
        );
        assert!(missing.is_empty(), "not translated: {missing:?}");
    }
}
