//! The Mandates section: what each agent may buy for the person.
//!
//! - `GET /mandates`: every mandate — agent, the person's own words, the plain summary,
//!   status, budget, what is left of it and what is spent, the per-payment limit, when it
//!   ends; drafts link to their consent page, live ones to a Revoke confirmation.
//! - `GET /mandates/new`: "What do you want your agent to do?" and which bound agent.
//! - `POST /mandates/new`: `action=draft` reads the words with the wallet's intent parser (the
//!   one `POST /v1/mandates/draft` uses) and shows the proposal as an editable form with its
//!   summary; `action=adjust` re-makes the proposal from the edited fields; `action=create`
//!   stores it as a draft mandate (only if it is exactly the proposal whose summary the
//!   person read) and goes to its consent page. Nothing is stored before `create`. Each
//!   proposal form carries a one-time `key` made when it is drawn; the draft's id is derived
//!   from it (`Wallet::create_mandate_once`), so the same form sent twice (a double click,
//!   Back and resend) stores one draft and lands on its consent page both times.
//! - `GET /mandates/:id/consent`: the stored draft, its content hash, consent with a passkey
//!   (`/web/passkeys/consent/*`, bound to the mandate id and that hash) or with the PIN
//!   (`POST /mandates/:id/consent`, the wallet's PIN check with its lockout).
//! - `GET /mandates/:id/revoke` asks, `POST /mandates/:id/revoke` revokes.
//!
//! After consenting or revoking, `/mandates` says so once: a notice carried by a one-shot,
//! session-bound cookie (`web::flash`), never by the URL.
//!
//! The proposal's fields that the form does not show (items, countries, limits per period,
//! instruments, …) travel in a hidden `base` field as the mandate's JSON; every field is
//! parsed again on each POST, the whole mandate validated by the core, and the person always
//! sees the summary made from exactly what would be stored.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use purser_core::mandate::{
    draft, Category, ConfirmationRule, DateOrInstant, Frequency, Mandate, Mcc, MerchantRef,
    MAX_LIST_LEN,
};
use purser_core::{Currency, Money, ParseOptions};
use purser_wallet::funds::Shown;
use purser_wallet::mandates::MandateRecord;
use purser_wallet::web::WebSession;
use purser_wallet::WalletError;

use super::pages::{field, sentence};
use super::{see_other, Ctx, Lang};
use crate::html::html_escape;
use crate::AppState;

/// Largest mandate form: the words (at most 2,000 characters, up to 9 bytes each once
/// percent-encoded) plus the proposal's fields and its hidden JSON.
pub const MAX_MANDATE_FORM_BYTES: usize = 48 * 1024;

/// Longest merchant or category line a person types; longer is not a name.
const MAX_LINE_CHARS: usize = 200;

/// The recurrence choices, as the form sends them.
const FREQUENCIES: [(&str, &str); 5] = [
    ("on_demand", "Whenever needed (no schedule)"),
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("monthly", "Monthly"),
    ("annually", "Every year"),
];

/// A message for one field (or the whole form when `field` is empty), in the page's
/// language: a template from the translation table and its arguments, or a sentence the
/// wallet wrote (English on both pages, as its other sentences).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub text: &'static str,
    pub args: Vec<String>,
    pub raw: Option<String>,
}

impl FieldError {
    fn new(field: &'static str, text: &'static str, args: &[&str]) -> FieldError {
        FieldError {
            field,
            text,
            args: args.iter().map(|a| a.to_string()).collect(),
            raw: None,
        }
    }

    fn raw(field: &'static str, message: &str) -> FieldError {
        FieldError {
            field,
            text: "",
            args: Vec::new(),
            raw: Some(sentence(message)),
        }
    }

    /// The message as plain text (not yet escaped).
    pub fn say(&self, l: Lang) -> String {
        match &self.raw {
            Some(r) => r.clone(),
            None => {
                let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
                l.f(self.text, &args)
            }
        }
    }
}

/// The proposal's editable fields as the person typed them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProposalFields {
    pub description: String,
    pub merchants: String,
    pub categories: String,
    pub budget: String,
    pub per_payment_max: String,
    pub confirm_above: String,
    pub valid_from: String,
    pub valid_until: String,
    pub recurrence: String,
}

impl ProposalFields {
    /// The fields showing a mandate.
    pub fn of(m: &Mandate) -> ProposalFields {
        let money = |m: Option<Money>| m.map(Money::decimal).unwrap_or_default();
        let threshold = m.confirmation.rules.iter().find_map(|r| match r {
            ConfirmationRule::AutoAtOrBelow { amount } => Some(*amount),
            ConfirmationRule::AlwaysAsk => None,
        });
        let always = m.confirmation.rules.contains(&ConfirmationRule::AlwaysAsk);
        ProposalFields {
            description: m.description.clone(),
            merchants: m
                .what
                .merchants
                .iter()
                .map(merchant_line)
                .collect::<Vec<_>>()
                .join("\n"),
            categories: m
                .what
                .allowed_categories
                .iter()
                .map(category_line)
                .collect::<Vec<_>>()
                .join("\n"),
            budget: money(m.how_much.budget),
            per_payment_max: money(m.how_much.per_payment_max),
            confirm_above: if always {
                String::new()
            } else {
                money(threshold)
            },
            valid_from: m.when.valid_from.map(|d| d.to_string()).unwrap_or_default(),
            valid_until: m
                .when
                .valid_until
                .map(|d| d.to_string())
                .unwrap_or_default(),
            recurrence: serde_json::to_value(m.when.recurrence.frequency)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "on_demand".into()),
        }
    }

    fn from_form(f: &[(String, String)]) -> ProposalFields {
        let g = |n: &str| field(f, n).unwrap_or_default().to_string();
        ProposalFields {
            description: g("description"),
            merchants: g("merchants"),
            categories: g("categories"),
            budget: g("budget"),
            per_payment_max: g("per_payment_max"),
            confirm_above: g("confirm_above"),
            valid_from: g("valid_from"),
            valid_until: g("valid_until"),
            recurrence: g("recurrence"),
        }
    }
}

/// How a merchant is written in the form: its name, else its website, else its id.
fn merchant_line(m: &MerchantRef) -> String {
    m.label().to_string()
}

/// How a category is written in the form: `shoe stores (5661, 5651)`.
fn category_line(k: &Category) -> String {
    if k.mcc.is_empty() {
        return k.label.clone();
    }
    let codes: Vec<String> = k.mcc.iter().map(ToString::to_string).collect();
    format!("{} ({})", k.label, codes.join(", "))
}

fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty())
}

fn plain_line(l: &str) -> bool {
    l.chars().count() <= MAX_LINE_CHARS && !l.chars().any(char::is_control)
}

/// An amount in the mandate's currency: `600`, `600.00`, `¥600`, `1,299.50`; empty is none.
pub fn parse_amount(
    raw: &str,
    currency: Currency,
    name: &'static str,
) -> Result<Option<Money>, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let opts = ParseOptions {
        yen_sign: if currency == Currency::JPY {
            Currency::JPY
        } else {
            Currency::CNY
        },
        default_currency: Some(currency),
    };
    let m = Money::parse(s, opts)
        .map_err(|_| FieldError::new(name, "Write an amount like 600 or 600.00.", &[]))?;
    if m.currency != currency {
        return Err(FieldError::new(
            name,
            "This mandate's amounts are in {}; write the amount in {}.",
            &[currency.code(), currency.code()],
        ));
    }
    if m.minor <= 0 {
        return Err(FieldError::new(name, "Write an amount above zero.", &[]));
    }
    Ok(Some(m))
}

fn parse_date(raw: &str, name: &'static str) -> Result<Option<DateOrInstant>, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    DateOrInstant::parse(s)
        .map(Some)
        .ok_or_else(|| FieldError::new(name, "Write a date like 2026-12-31.", &[]))
}

fn parse_merchants(raw: &str, base: &[MerchantRef]) -> Result<Vec<MerchantRef>, FieldError> {
    let mut out = Vec::new();
    for line in lines(raw) {
        if !plain_line(line) {
            return Err(FieldError::new(
                "merchants",
                "Write each merchant on its own line, in at most 200 characters.",
                &[],
            ));
        }
        // A line left as it was keeps the merchant as drafted (its website or id too).
        if let Some(m) = base.iter().find(|m| merchant_line(m) == line) {
            out.push(m.clone());
            continue;
        }
        let m = if line.starts_with("mch_") && !line.contains(char::is_whitespace) {
            MerchantRef {
                id: Some(line.to_string()),
                ..MerchantRef::default()
            }
        } else if line.contains('.') && !line.contains(char::is_whitespace) {
            let site = line
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let host = site
                .split('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            MerchantRef {
                website: Some(host),
                ..MerchantRef::default()
            }
        } else {
            MerchantRef {
                name: Some(line.to_string()),
                ..MerchantRef::default()
            }
        };
        out.push(m);
    }
    if out.len() > MAX_LIST_LEN {
        return Err(FieldError::new(
            "merchants",
            "Name at most {} merchants.",
            &[&MAX_LIST_LEN.to_string()],
        ));
    }
    Ok(out)
}

fn parse_categories(raw: &str, base: &[Category]) -> Result<Vec<Category>, FieldError> {
    let bad = || {
        FieldError::new(
            "categories",
            "Write each category as its name and its merchant category codes, like: shoe stores (5661).",
            &[],
        )
    };
    let mut out = Vec::new();
    for line in lines(raw) {
        if !plain_line(line) {
            return Err(bad());
        }
        if let Some(k) = base
            .iter()
            .find(|k| category_line(k) == line || k.label == line)
        {
            out.push(k.clone());
            continue;
        }
        let (label, codes) = match line.rsplit_once('(') {
            Some((label, rest)) => (label.trim(), rest.strip_suffix(')').ok_or_else(bad)?),
            None if line.len() == 4 && line.bytes().all(|b| b.is_ascii_digit()) => ("", line),
            None => return Err(bad()),
        };
        let mut mcc = Vec::new();
        for code in codes
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|c| !c.is_empty())
        {
            let ok = code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit());
            let m = ok
                .then(|| code.parse::<u16>().ok().and_then(Mcc::new))
                .flatten()
                .ok_or_else(bad)?;
            mcc.push(m);
        }
        if mcc.is_empty() {
            return Err(bad());
        }
        let label = if label.is_empty() {
            format!("MCC {}", codes.trim())
        } else {
            label.to_string()
        };
        out.push(Category { label, mcc });
    }
    if out.len() > MAX_LIST_LEN {
        return Err(FieldError::new(
            "categories",
            "Name at most {} categories.",
            &[&MAX_LIST_LEN.to_string()],
        ));
    }
    Ok(out)
}

/// The form field a core validation problem belongs to ("" for the whole form).
fn field_of_problem(path: &str) -> &'static str {
    let starts = |p: &str| {
        path == p || path.starts_with(&format!("{p}[")) || path.starts_with(&format!("{p}."))
    };
    if starts("description") {
        "description"
    } else if starts("what.merchants") {
        "merchants"
    } else if starts("what.allowed_categories") || starts("what.blocked_categories") {
        "categories"
    } else if starts("how_much.budget") {
        "budget"
    } else if starts("how_much.per_payment_max") {
        "per_payment_max"
    } else if starts("confirmation.rules") {
        "confirm_above"
    } else if starts("when.valid_from") {
        "valid_from"
    } else if starts("when.valid_until") {
        "valid_until"
    } else if starts("when.recurrence") {
        "recurrence"
    } else {
        ""
    }
}

/// The mandate the form describes: `base` (the proposal as drafted or last shown) with every
/// editable field replaced by what the person typed, the person's `words` as its provenance,
/// and the whole checked by the core's validation. Every problem is returned, each with the
/// field it belongs to.
pub fn mandate_from_fields(
    base: &Mandate,
    words: &str,
    currency: Currency,
    f: &ProposalFields,
) -> Result<Mandate, Vec<FieldError>> {
    let mut m = base.clone();
    let mut errors = Vec::new();
    m.provenance.user_words = words.to_string();
    m.description = f.description.trim().to_string();
    if m.description.is_empty() {
        errors.push(FieldError::new(
            "description",
            "Say in a few words what this mandate is for.",
            &[],
        ));
    }
    match parse_merchants(&f.merchants, &base.what.merchants) {
        Ok(v) => m.what.merchants = v,
        Err(e) => errors.push(e),
    }
    match parse_categories(&f.categories, &base.what.allowed_categories) {
        Ok(v) => m.what.allowed_categories = v,
        Err(e) => errors.push(e),
    }
    match parse_amount(&f.budget, currency, "budget") {
        Ok(v) => m.how_much.budget = v,
        Err(e) => errors.push(e),
    }
    match parse_amount(&f.per_payment_max, currency, "per_payment_max") {
        Ok(v) => m.how_much.per_payment_max = v,
        Err(e) => errors.push(e),
    }
    match parse_amount(&f.confirm_above, currency, "confirm_above") {
        Ok(Some(t)) => m.confirmation.rules = vec![ConfirmationRule::AutoAtOrBelow { amount: t }],
        // No threshold: every payment is asked (an "always ask" rule drafted stays).
        Ok(None) => m
            .confirmation
            .rules
            .retain(|r| matches!(r, ConfirmationRule::AlwaysAsk)),
        Err(e) => errors.push(e),
    }
    match parse_date(&f.valid_from, "valid_from") {
        Ok(v) => m.when.valid_from = v,
        Err(e) => errors.push(e),
    }
    match parse_date(&f.valid_until, "valid_until") {
        Ok(v) => m.when.valid_until = v,
        Err(e) => errors.push(e),
    }
    match serde_json::from_value::<Frequency>(serde_json::Value::String(
        f.recurrence.trim().to_string(),
    )) {
        Ok(v) => m.when.recurrence.frequency = v,
        Err(_) => errors.push(FieldError::new(
            "recurrence",
            "Choose how often the agent may pay.",
            &[],
        )),
    }
    if let (Some(b), Some(p)) = (m.how_much.budget, m.how_much.per_payment_max) {
        if p.currency == b.currency && p.minor > b.minor {
            errors.push(FieldError::new(
                "per_payment_max",
                "The limit for one payment ({}) is above the whole budget ({}); lower it or raise the budget.",
                &[&p.with_symbol(), &b.with_symbol()],
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Err(v) = m.validate() {
        return Err(v
            .problems
            .iter()
            .map(|p| {
                let field = field_of_problem(&p.field);
                let message = if field.is_empty() {
                    format!("{}: {}", p.field, p.message)
                } else {
                    p.message.clone()
                };
                FieldError::raw(field, &message)
            })
            .collect());
    }
    Ok(m)
}

/// The currency a drafted mandate's amounts are in (the first it names), else CNY.
fn currency_of(m: &Mandate) -> Currency {
    let h = &m.how_much;
    h.budget
        .or(h.per_payment_max)
        .or(h.per_payment_min)
        .or(h.interval_limits.first().map(|l| l.amount))
        .or(m.confirmation.rules.iter().find_map(|r| match r {
            ConfirmationRule::AutoAtOrBelow { amount } => Some(*amount),
            ConfirmationRule::AlwaysAsk => None,
        }))
        .or(m.schedule.as_ref().map(|s| s.amount))
        .map_or(Currency::CNY, |m| m.currency)
}

/// What the agent will not be able to do, one sentence each (plain text).
pub fn limits(l: Lang, m: &Mandate, agent: &str) -> Vec<String> {
    let mut out = Vec::new();
    let h = &m.how_much;
    if let Some(b) = h.budget {
        out.push(l.f(
            "{} cannot spend more than {} in all under this mandate.",
            &[agent, &b.with_symbol()],
        ));
    }
    if let Some(p) = h.per_payment_max {
        out.push(l.f(
            "{} cannot pay more than {} in one payment.",
            &[agent, &p.with_symbol()],
        ));
    }
    if !m.what.merchants.is_empty() {
        out.push(l.f("{} cannot buy from any other merchant.", &[agent]));
    }
    if !m.what.allowed_categories.is_empty() {
        out.push(l.f("{} cannot buy outside these categories.", &[agent]));
    }
    if !m.what.line_items.is_empty() {
        out.push(l.f("{} cannot buy anything but the items named.", &[agent]));
    }
    if let Some(u) = m.when.valid_until {
        out.push(l.f("{} cannot pay with it after {}.", &[agent, &u.to_string()]));
    }
    let threshold = m.confirmation.rules.iter().find_map(|r| match r {
        ConfirmationRule::AutoAtOrBelow { amount } => Some(*amount),
        ConfirmationRule::AlwaysAsk => None,
    });
    match threshold {
        Some(t) if !m.confirmation.rules.contains(&ConfirmationRule::AlwaysAsk) => out.push(l.f(
            "{} cannot pay more than {} without asking you first.",
            &[agent, &t.with_symbol()],
        )),
        _ => out.push(l.f("{} cannot pay anything without asking you first.", &[agent])),
    }
    out.push(l.f("{} cannot use this mandate once you revoke it.", &[agent]));
    out
}

fn shown(m: Money) -> String {
    Shown::from(m).display
}

/// The status as the person reads it.
pub fn status_label(l: Lang, status: &str) -> &'static str {
    match status {
        "draft" => l.t("waiting for your consent"),
        "consented" => l.t("consented, not started yet"),
        "active" => l.t("active"),
        "exhausted" => l.t("used up"),
        "expired" => l.t("expired"),
        "revoked" => l.t("revoked"),
        _ => l.t("unknown"),
    }
}

fn unavailable(ctx: &Ctx, e: &WalletError) -> Response {
    tracing::warn!(code = %e.code, "mandates page failed");
    ctx.unavailable()
}

fn stale_form(ctx: &Ctx) -> Response {
    ctx.message(
        StatusCode::FORBIDDEN,
        ctx.lang.t("The form was too old"),
        ctx.lang.t(
            "The form was too old or sent from another page. Nothing was changed: open the page again and try again.",
        ),
    )
}

fn not_found(ctx: &Ctx) -> Response {
    ctx.message(
        StatusCode::NOT_FOUND,
        ctx.lang.t("Mandate not found"),
        ctx.lang
            .t("There is no such mandate among yours. Open it from your list of mandates."),
    )
}

/// `GET /mandates`.
pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(s) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let l = ctx.lang;
    let records = match state.wallet.list_mandates(&s.principal(), None).await {
        Ok(r) => r,
        Err(e) => return unavailable(&ctx, &e),
    };
    let taken = super::flash::take(&state, &ctx, &headers, PATH);
    let mut h = format!("<h1>{}</h1>\n", l.t("Mandates"));
    match taken.flash.as_ref().map(|f| f.notice.as_str()) {
        Some("consented") => h.push_str(&format!(
            "<section class=\"card ok\" role=\"status\" id=\"done\"><p>{}</p></section>\n",
            l.t("You consented: the mandate is active, and your agent can pay within it.")
        )),
        Some("revoked") => h.push_str(&format!(
            "<section class=\"card ok\" role=\"status\" id=\"done\"><p>{}</p></section>\n",
            l.t("Revoked: your agent can no longer pay with that mandate.")
        )),
        _ => {}
    }
    h.push_str(&format!(
        "<p>{}</p>\n<p><a class=\"button approve\" href=\"/mandates/new\">{}</a></p>\n",
        l.t("A mandate says what one of your agents may buy for you, how much, and when it asks you first."),
        l.t("New mandate")
    ));
    if records.is_empty() {
        h.push_str(&format!(
            "<section class=\"card\"><p class=\"muted\">{}</p></section>\n",
            l.t("You have not given any agent a mandate yet.")
        ));
    } else {
        h.push_str("<ul class=\"list mandates\" id=\"mandates\">\n");
        for r in &records {
            h.push_str(&mandate_item(l, r));
        }
        h.push_str("</ul>\n");
    }
    let resp = ctx.section_page(PATH, StatusCode::OK, l.t("Mandates"), &h);
    taken.finish(&ctx, resp)
}

/// The Mandates list: where posts redirect, and the page their notices are for.
pub const PATH: &str = "/mandates";

/// The redirect to the list that says `notice` (`consented`, `revoked`) once.
pub fn done_redirect(state: &AppState, ctx: &Ctx, notice: &str) -> Response {
    ctx.finish(super::flash::set(
        state,
        ctx,
        PATH,
        notice,
        "",
        see_other(PATH),
    ))
}

fn mandate_item(l: Lang, r: &MandateRecord) -> String {
    let m = &r.mandate;
    let none = l.t("none");
    let budget = m
        .how_much
        .budget
        .map_or_else(|| l.t("no total limit").to_string(), shown);
    let remaining = r
        .usage
        .remaining_budget
        .as_ref()
        .map_or_else(|| none.to_string(), |s| s.display.clone());
    let spent = r
        .usage
        .spent
        .as_ref()
        .map_or_else(|| shown(Money::zero(currency_of(m))), |s| s.display.clone());
    let per_payment = m
        .how_much
        .per_payment_max
        .map_or_else(|| l.t("no limit").to_string(), shown);
    let ends = match (&r.revoked_at, m.when.valid_until) {
        (Some(at), _) => l.f("revoked {}", &[&super::pages::readable_time(at)]),
        (None, Some(u)) => l.f("at the end of {}", &[&u.to_string()]),
        (None, None) => l.t("when you revoke it").to_string(),
    };
    let words = if m.provenance.user_words.trim().is_empty() {
        String::new()
    } else {
        format!(
            "<blockquote>{}</blockquote>",
            html_escape(&m.provenance.user_words)
        )
    };
    let mut actions = String::new();
    if r.status == "draft" {
        actions.push_str(&format!(
            "<a class=\"button approve\" href=\"/mandates/{id}/consent\">{}</a> ",
            l.t("Review and consent"),
            id = html_escape(&r.id)
        ));
    }
    if matches!(r.status.as_str(), "draft" | "active" | "consented") {
        actions.push_str(&format!(
            "<a class=\"button danger\" href=\"/mandates/{id}/revoke\">{}</a>",
            l.t("Revoke"),
            id = html_escape(&r.id)
        ));
    }
    let remaining_row = if m.how_much.budget.is_some() {
        format!(
            "<div><dt>{}</dt><dd class=\"remaining\">{}</dd></div>",
            l.t("Remaining"),
            html_escape(&remaining)
        )
    } else {
        String::new()
    };
    format!(
        "<li id=\"mandate-{id}\" data-mandate-id=\"{id}\" data-status=\"{status}\">\n<p><strong><bdi>{agent}</bdi></strong> <span class=\"status status-{status}\">{label}</span></p>\n{words}\n<p class=\"summary\">{summary}</p>\n<dl class=\"facts\"><div><dt>{lb}</dt><dd class=\"budget\">{budget}</dd></div>{remaining_row}<div><dt>{ls}</dt><dd class=\"spent\">{spent}</dd></div><div><dt>{lp}</dt><dd>{per}</dd></div><div><dt>{le}</dt><dd>{ends}</dd></div></dl>\n<p class=\"actions\">{actions}</p>\n</li>\n",
        id = html_escape(&r.id),
        status = html_escape(&r.status),
        agent = html_escape(&r.agent.name),
        label = status_label(l, &r.status),
        summary = html_escape(&r.summary),
        lb = l.t("Budget"),
        budget = html_escape(&budget),
        ls = l.t("Spent so far"),
        spent = html_escape(&spent),
        lp = l.t("Per payment"),
        per = html_escape(&per_payment),
        le = l.t("Ends"),
        ends = html_escape(&ends),
    )
}

/// The agents a mandate can be given to: bound, active and not frozen.
async fn agents(state: &AppState, s: &WebSession) -> Result<Vec<(String, String)>, WalletError> {
    let b = state
        .wallet
        .list_bindings(&s.principal(), Some("active"))
        .await?;
    Ok(b.into_iter()
        .filter(|b| !b.frozen)
        .map(|b| (b.agent.id, b.agent.name))
        .collect())
}

fn agent_select(l: Lang, agents: &[(String, String)], chosen: &str, error: Option<&str>) -> String {
    let options: String = agents
        .iter()
        .map(|(id, name)| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                html_escape(id),
                if id == chosen { " selected" } else { "" },
                html_escape(name)
            )
        })
        .collect();
    format!(
        "<label for=\"agent_id\">{}</label>\n<select id=\"agent_id\" name=\"agent_id\" required{}>{options}</select>\n{}",
        l.t("Which agent"),
        invalid_attrs("agent_id", error.is_some()),
        error_p("agent_id", error),
    )
}

fn invalid_attrs(name: &str, invalid: bool) -> String {
    if invalid {
        format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\"")
    } else {
        String::new()
    }
}

fn error_p(name: &str, error: Option<&str>) -> String {
    match error {
        Some(e) => format!(
            "<p class=\"error\" id=\"{name}-error\" role=\"alert\">{}</p>\n",
            html_escape(e)
        ),
        None => String::new(),
    }
}

/// The page asking for the words (`GET /mandates/new`, and again when they could not be used).
fn new_page(
    ctx: &Ctx,
    status: StatusCode,
    agents: &[(String, String)],
    words: &str,
    agent: &str,
    words_error: Option<&str>,
    agent_error: Option<&str>,
) -> Response {
    let l = ctx.lang;
    let body = if agents.is_empty() {
        format!(
            "<h1>{}</h1>\n<section class=\"card notice\"><p>{}</p><p><a href=\"/agents\">{}</a></p></section>\n",
            l.t("New mandate"),
            l.t("No agent is bound to you yet (or every one is frozen). A mandate is given to an agent you allow: approve its request first."),
            l.t("Go to your agents")
        )
    } else {
        format!(
            "<h1>{title}</h1>\n<form class=\"card\" method=\"post\" action=\"/mandates/new\" id=\"words-form\">\n{csrf}\n<input type=\"hidden\" name=\"action\" value=\"draft\">\n<label for=\"words\">{q}</label>\n<textarea id=\"words\" name=\"words\" rows=\"4\" maxlength=\"2000\" required aria-describedby=\"words-help{desc}\"{inv}>{w}</textarea>\n<p class=\"muted\" id=\"words-help\">{help}</p>\n{err}{agent}<div class=\"buttons\"><button type=\"submit\" class=\"approve\">{go}</button></div>\n</form>\n<p class=\"muted\">{nothing}</p>\n",
            title = l.t("New mandate"),
            csrf = ctx.csrf_field(),
            q = l.t("What do you want your agent to do?"),
            desc = if words_error.is_some() { " words-error" } else { "" },
            inv = if words_error.is_some() { " aria-invalid=\"true\"" } else { "" },
            w = html_escape(words),
            help = l.t("In your own words, for example: Buy running shoes under 600 yuan at Trailhead Outfitters, ask me above 300."),
            err = error_p("words", words_error),
            agent = agent_select(l, agents, agent, agent_error),
            go = l.t("Show me the proposal"),
            nothing = l.t("Nothing is stored or active until you consent."),
        )
    };
    ctx.section_page("/mandates", status, l.t("New mandate"), &body)
}

/// `GET /mandates/new`.
pub async fn new(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(s) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    match agents(&state, &s).await {
        Ok(a) => {
            let first = a.first().map(|(id, _)| id.clone()).unwrap_or_default();
            new_page(&ctx, StatusCode::OK, &a, "", &first, None, None)
        }
        Err(e) => unavailable(&ctx, &e),
    }
}

/// What the drafter said about the words, shown beside the proposal.
#[derive(Default)]
struct Reading {
    not_understood: Vec<String>,
    questions: Vec<String>,
    warnings: Vec<String>,
}

/// One proposal page: the words, the summary of what would be stored, the form.
#[allow(clippy::too_many_arguments)]
fn proposal_page(
    ctx: &Ctx,
    status: StatusCode,
    agents: &[(String, String)],
    agent: &str,
    words: &str,
    currency: Currency,
    base: &Mandate,
    shown_mandate: Option<&Mandate>,
    fields: &ProposalFields,
    errors: &[FieldError],
    reading: &Reading,
    notice: Option<&str>,
) -> Response {
    let l = ctx.lang;
    let agent_name = agents
        .iter()
        .find(|(id, _)| id == agent)
        .map_or_else(|| l.t("your agent").to_string(), |(_, n)| n.clone());
    let err = |name: &str| {
        let msgs: Vec<String> = errors
            .iter()
            .filter(|e| e.field == name)
            .map(|e| e.say(l))
            .collect();
        (!msgs.is_empty()).then(|| msgs.join(" "))
    };
    let mut h = format!("<h1>{}</h1>\n", l.t("Your proposal"));
    if let Some(n) = notice {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\"><p>{}</p></section>\n",
            html_escape(n)
        ));
    }
    if let Some(e) = err("") {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\" id=\"form-error\"><p>{}</p></section>\n",
            html_escape(&e)
        ));
    }
    // The words and how they were read.
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-words\">\n<h2 id=\"h-words\">{}</h2>\n<blockquote id=\"words-shown\">{}</blockquote>\n",
        l.t("In your words"),
        html_escape(words)
    ));
    if !reading.not_understood.is_empty() {
        let phrases: Vec<String> = reading
            .not_understood
            .iter()
            .map(|p| format!("“{}”", html_escape(p)))
            .collect();
        h.push_str(&format!(
            "<p class=\"error\" id=\"not-understood\">{}</p>\n",
            l.f(
                "Purser did not understand {} and left it out. Change the fields below, or start again with other words.",
                &[&phrases.join(", ")]
            )
        ));
    }
    for q in reading.questions.iter().chain(&reading.warnings) {
        h.push_str(&format!("<p class=\"muted\">{}</p>\n", html_escape(q)));
    }
    h.push_str(&format!(
        "<p><a href=\"/mandates/new\">{}</a></p>\n</section>\n",
        l.t("Start again with other words")
    ));
    // The summary of exactly what would be stored.
    if let Some(m) = shown_mandate {
        let will_not: String = limits(l, m, &agent_name)
            .iter()
            .map(|s| format!("<li>{}</li>", html_escape(s)))
            .collect();
        h.push_str(&format!(
            "<section class=\"card ok\" aria-labelledby=\"h-summary\">\n<h2 id=\"h-summary\">{}</h2>\n<p id=\"summary\">{}</p>\n<h3>{}</h3>\n<ul class=\"plain\" id=\"will-not\">{will_not}</ul>\n</section>\n",
            l.f("What {} will be able to do", &[&html_escape(&agent_name)]),
            html_escape(&m.summary()),
            l.t("What it will not be able to do"),
        ));
    } else {
        h.push_str(&format!(
            "<section class=\"card notice\"><p>{}</p></section>\n",
            l.t("Correct the fields marked below to see the summary again.")
        ));
    }
    // The form.
    let mut base_json = base.clone();
    base_json.provenance.user_words = String::new();
    let base_json = serde_json::to_string(&base_json).unwrap_or_default();
    let seen = shown_mandate
        .and_then(|m| purser_wallet::mandates::content_hash(m).ok())
        .unwrap_or_default();
    let text = |name: &'static str, label: &str, value: &str, help: Option<&str>, mode: &str| {
        let e = err(name);
        let help_html = help
            .map(|t| {
                format!(
                    "<p class=\"muted\" id=\"{name}-help\">{}</p>\n",
                    html_escape(t)
                )
            })
            .unwrap_or_default();
        let mut described = Vec::new();
        if help.is_some() {
            described.push(format!("{name}-help"));
        }
        if e.is_some() {
            described.push(format!("{name}-error"));
        }
        let described = if described.is_empty() {
            String::new()
        } else {
            format!(" aria-describedby=\"{}\"", described.join(" "))
        };
        format!(
            "<label for=\"{name}\">{}</label>\n<input id=\"{name}\" name=\"{name}\" value=\"{}\"{mode}{described}{}>\n{help_html}{}",
            html_escape(label),
            html_escape(value),
            if e.is_some() { " aria-invalid=\"true\"" } else { "" },
            error_p(name, e.as_deref()),
        )
    };
    let area = |name: &'static str, label: &str, value: &str, help: &str| {
        let e = err(name);
        format!(
            "<label for=\"{name}\">{}</label>\n<textarea id=\"{name}\" name=\"{name}\" rows=\"2\" aria-describedby=\"{name}-help{}\"{}>{}</textarea>\n<p class=\"muted\" id=\"{name}-help\">{}</p>\n{}",
            html_escape(label),
            if e.is_some() { format!(" {name}-error") } else { String::new() },
            if e.is_some() { " aria-invalid=\"true\"" } else { "" },
            html_escape(value),
            html_escape(help),
            error_p(name, e.as_deref()),
        )
    };
    let money_mode = " inputmode=\"decimal\" autocomplete=\"off\"";
    let date_mode = " placeholder=\"YYYY-MM-DD\" autocomplete=\"off\"";
    let rec_err = err("recurrence");
    let options: String = FREQUENCIES
        .iter()
        .map(|(v, label)| {
            format!(
                "<option value=\"{v}\"{}>{}</option>",
                if fields.recurrence == *v {
                    " selected"
                } else {
                    ""
                },
                l.t(label)
            )
        })
        .collect();
    h.push_str(&format!(
        "<form class=\"card\" method=\"post\" action=\"/mandates/new\" id=\"proposal\" aria-labelledby=\"h-fields\">\n<h2 id=\"h-fields\">{title}</h2>\n{csrf}\n<input type=\"hidden\" name=\"words\" value=\"{words}\">\n<input type=\"hidden\" name=\"currency\" value=\"{cur}\">\n<input type=\"hidden\" name=\"base\" value=\"{base}\">\n<input type=\"hidden\" name=\"seen\" value=\"{seen}\">\n<input type=\"hidden\" name=\"key\" value=\"{key}\">\n{agent}{desc}{merchants}{cats}{budget}{per}{confirm}{from}{until}<label for=\"recurrence\">{rec_label}</label>\n<select id=\"recurrence\" name=\"recurrence\"{rec_inv}>{options}</select>\n{rec_err}<div class=\"buttons\"><button type=\"submit\" name=\"action\" value=\"create\" class=\"approve\"{disabled}>{go}</button><button type=\"submit\" name=\"action\" value=\"adjust\" class=\"secondary\">{adjust}</button></div>\n</form>\n",
        title = l.t("Adjust the proposal"),
        csrf = ctx.csrf_field(),
        words = html_escape(words),
        cur = currency.code(),
        base = html_escape(&base_json),
        seen = html_escape(&seen),
        key = html_escape(&super::fresh_form_key()),
        agent = agent_select(l, agents, agent, err("agent_id").as_deref()),
        desc = text("description", l.t("What it is for"), &fields.description, None, " maxlength=\"2000\""),
        merchants = area("merchants", l.t("Only at these merchants"), &fields.merchants, l.t("One a line: a name, a website or a Purser merchant id. Empty: any merchant.")),
        cats = area("categories", l.t("Only in these categories"), &fields.categories, l.t("One a line, with merchant category codes, like: shoe stores (5661). Empty: any category.")),
        budget = text("budget", &l.f("Budget in all ({})", &[currency.code()]), &fields.budget, Some(l.t("The most the agent may spend under this mandate. Empty: no total limit.")), money_mode),
        per = text("per_payment_max", &l.f("Limit for one payment ({})", &[currency.code()]), &fields.per_payment_max, Some(l.t("Empty: no limit per payment.")), money_mode),
        confirm = text("confirm_above", &l.f("Ask me before paying more than ({})", &[currency.code()]), &fields.confirm_above, Some(l.t("At or below this amount the agent pays without asking you. Empty: it asks you before every payment.")), money_mode),
        from = text("valid_from", l.t("Starts on"), &fields.valid_from, Some(l.t("Empty: from now.")), date_mode),
        until = text("valid_until", l.t("Ends on"), &fields.valid_until, Some(l.t("The last day it can be used (inclusive). Empty: until you revoke it.")), date_mode),
        rec_label = l.t("How often it may pay"),
        rec_inv = invalid_attrs("recurrence", rec_err.is_some()),
        rec_err = error_p("recurrence", rec_err.as_deref()),
        go = l.t("Continue to consent"),
        adjust = l.t("Update the summary"),
        disabled = if shown_mandate.is_some() { "" } else { " disabled" },
    ));
    ctx.section_page("/mandates", status, l.t("Your proposal"), &h)
}

/// `POST /mandates/new`: draft from words, adjust, or store the draft and go to consent.
pub async fn new_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, s, f) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let l = ctx.lang;
    let agents = match agents(&state, &s).await {
        Ok(a) => a,
        Err(e) => return unavailable(&ctx, &e),
    };
    let words = field(&f, "words").unwrap_or_default().to_string();
    let agent = field(&f, "agent_id").unwrap_or_default().trim().to_string();
    let agent_error = (!agents.iter().any(|(id, _)| *id == agent))
        .then(|| l.t("Choose one of the agents you allow.").to_string());
    match field(&f, "action").unwrap_or_default() {
        "draft" => {
            // The wallet's intent parser, with the context `POST /v1/mandates/draft` uses.
            let req = crate::routes::mandates::DraftRequest {
                text: words.clone(),
                currency: None,
                yen: None,
                timezone: None,
            };
            let dctx = match crate::routes::mandates::draft_context(&state, &req) {
                Ok(c) => c,
                Err(e) => {
                    return new_page(
                        &ctx,
                        StatusCode::BAD_REQUEST,
                        &agents,
                        &words,
                        &agent,
                        Some(&words_problem(l, &e)),
                        agent_error.as_deref(),
                    )
                }
            };
            let d = draft(&words, &dctx);
            if !d.understood_anything() {
                let msg = if d.not_understood.is_empty() {
                    l.t("Purser could not find anything to allow in these words. Say what the agent may buy and for how much, like: buy a pair of hiking boots under 800 yuan.").to_string()
                } else {
                    let phrases: Vec<String> =
                        d.not_understood.iter().map(|p| format!("“{p}”")).collect();
                    l.f(
                        "Purser did not understand {}, so there is nothing to allow. Say what the agent may buy and for how much, like: buy a pair of hiking boots under 800 yuan.",
                        &[&phrases.join(", ")],
                    )
                };
                return new_page(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    &agents,
                    &words,
                    &agent,
                    Some(&msg),
                    agent_error.as_deref(),
                );
            }
            if let Some(e) = agent_error {
                return new_page(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    &agents,
                    &words,
                    &agent,
                    None,
                    Some(&e),
                );
            }
            let mut m = d.mandate;
            m.provenance.user_words = words.clone();
            let currency = currency_of(&m);
            let fields = ProposalFields::of(&m);
            let reading = Reading {
                not_understood: d.not_understood,
                questions: d.questions,
                warnings: d.warnings,
            };
            // The draft goes through the same parsing as every later adjustment, so the
            // summary shown is of what the form will send back.
            let (shown_m, errors) = match mandate_from_fields(&m, &words, currency, &fields) {
                Ok(v) => (Some(v), Vec::new()),
                Err(e) => (None, e),
            };
            proposal_page(
                &ctx,
                StatusCode::OK,
                &agents,
                &agent,
                &words,
                currency,
                &m,
                shown_m.as_ref(),
                &fields,
                &errors,
                &reading,
                None,
            )
        }
        action @ ("adjust" | "create") => {
            let currency = field(&f, "currency")
                .and_then(Currency::from_code)
                .unwrap_or(Currency::CNY);
            let Some(base) =
                field(&f, "base").and_then(|b| serde_json::from_str::<Mandate>(b).ok())
            else {
                return stale_form(&ctx);
            };
            let fields = ProposalFields::from_form(&f);
            let result = match (
                mandate_from_fields(&base, &words, currency, &fields),
                &agent_error,
            ) {
                (r, None) => r,
                (Err(mut errs), Some(e)) => {
                    errs.push(FieldError::raw("agent_id", e));
                    Err(errs)
                }
                (Ok(_), Some(e)) => Err(vec![FieldError::raw("agent_id", e)]),
            };
            let reading = Reading::default();
            match result {
                Err(errors) => proposal_page(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    &agents,
                    &agent,
                    &words,
                    currency,
                    &base,
                    None,
                    &fields,
                    &errors,
                    &reading,
                    None,
                ),
                Ok(m) => {
                    let hash = purser_wallet::mandates::content_hash(&m).unwrap_or_default();
                    let seen = field(&f, "seen").unwrap_or_default();
                    let read =
                        purser_wallet::ids::constant_time_eq(hash.as_bytes(), seen.as_bytes());
                    let key = field(&f, "key").unwrap_or_default().trim().to_string();
                    let keyed = super::plausible_form_key(&key);
                    if action == "adjust" || !read || !keyed {
                        let notice = (action == "create").then(|| {
                            if read {
                                l.t("The form was too old or sent from another page. Nothing was stored: read the summary below, then continue.")
                            } else {
                                l.t("You changed the proposal after its summary was made. Read the new summary below, then continue.")
                            }
                        });
                        return proposal_page(
                            &ctx,
                            StatusCode::OK,
                            &agents,
                            &agent,
                            &words,
                            currency,
                            &m,
                            Some(&m),
                            &fields,
                            &[],
                            &reading,
                            notice,
                        );
                    }
                    // Once per key: sent again, the same draft's consent page.
                    match state
                        .wallet
                        .create_mandate_once(&s.principal(), &agent, m.clone(), &key)
                        .await
                    {
                        Ok(rec) => ctx.finish(see_other(&format!("/mandates/{}/consent", rec.id))),
                        Err(e) if e.code == "mandate_key_reused" => proposal_page(
                            &ctx,
                            StatusCode::CONFLICT,
                            &agents,
                            &agent,
                            &words,
                            currency,
                            &m,
                            Some(&m),
                            &fields,
                            &[],
                            &reading,
                            Some(l.t("This form was already sent with another proposal or agent. Nothing more was stored: read the summary below, then continue.")),
                        ),
                        Err(e)
                            if matches!(
                                e.kind,
                                purser_wallet::Kind::Invalid | purser_wallet::Kind::Conflict
                            ) =>
                        {
                            let which = match e.param.as_deref() {
                                Some("agent_id") => "agent_id",
                                Some(p) => field_of_problem(p.trim_start_matches("mandate.")),
                                None => "",
                            };
                            proposal_page(
                                &ctx,
                                StatusCode::BAD_REQUEST,
                                &agents,
                                &agent,
                                &words,
                                currency,
                                &m,
                                None,
                                &fields,
                                &[FieldError::raw(which, &e.message)],
                                &reading,
                                None,
                            )
                        }
                        Err(e) => unavailable(&ctx, &e),
                    }
                }
            }
        }
        _ => stale_form(&ctx),
    }
}

fn words_problem(l: Lang, e: &WalletError) -> String {
    if e.code == "text_invalid" {
        l.t("Say what the agent may do in 1 to 2,000 characters.")
            .to_string()
    } else {
        sentence(&e.message)
    }
}

/// The signed-in person's own mandate `id`, or the response to give instead (the way to sign
/// in, not found, or unavailable).
async fn signed_in_mandate(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<MandateRecord, Response> {
    let Some(s) = ctx.session.clone() else {
        return Err(ctx.sign_in_first());
    };
    own_mandate(state, ctx, &s, id).await
}

/// A signed-in person's mandate form (at most [`MAX_MANDATE_FORM_BYTES`]), read and checked by
/// [`super::signed_in_form`], or the response to give instead: the way to sign in, or (too
/// large, a repeated field, or no or another session's CSRF token) the stale-form page.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<(Ctx, WebSession, Vec<(String, String)>), Response> {
    match super::signed_in_form(state, headers, uri.query(), body, MAX_MANDATE_FORM_BYTES).await {
        super::FormPost::Fresh(ctx, s, f) => Ok((ctx, s, f)),
        super::FormPost::SignIn(r) => Err(r),
        super::FormPost::Stale(ctx, _) => Err(stale_form(&ctx)),
    }
}

/// A stored draft for this person, or the page to show instead.
async fn own_mandate(
    state: &AppState,
    ctx: &Ctx,
    s: &WebSession,
    id: &str,
) -> Result<MandateRecord, Response> {
    match state.wallet.mandate(&s.principal(), id).await {
        Ok(r) => Ok(r),
        Err(e)
            if matches!(
                e.kind,
                purser_wallet::Kind::NotFound | purser_wallet::Kind::Invalid
            ) =>
        {
            Err(not_found(ctx))
        }
        Err(e) => Err(unavailable(ctx, &e)),
    }
}

/// The mandate's facts, as on its consent and revoke pages.
fn facts(l: Lang, r: &MandateRecord) -> String {
    let m = &r.mandate;
    let amount =
        |v: Option<Money>, empty: &'static str| v.map_or_else(|| l.t(empty).to_string(), shown);
    let threshold = m.confirmation.rules.iter().find_map(|r| match r {
        ConfirmationRule::AutoAtOrBelow { amount } => Some(*amount),
        ConfirmationRule::AlwaysAsk => None,
    });
    let ask = match threshold {
        Some(t) if !m.confirmation.rules.contains(&ConfirmationRule::AlwaysAsk) => {
            l.f("above {}", &[&shown(t)])
        }
        _ => l.t("before every payment").to_string(),
    };
    let ends = m.when.valid_until.map_or_else(
        || l.t("when you revoke it").to_string(),
        |u| l.f("at the end of {}", &[&u.to_string()]),
    );
    format!(
        "<dl class=\"facts\"><div><dt>{}</dt><dd><bdi>{}</bdi></dd></div><div><dt>{}</dt><dd class=\"budget\">{}</dd></div><div><dt>{}</dt><dd>{}</dd></div><div><dt>{}</dt><dd>{}</dd></div><div><dt>{}</dt><dd>{}</dd></div></dl>\n",
        l.t("Agent"),
        html_escape(&r.agent.name),
        l.t("Budget"),
        html_escape(&amount(m.how_much.budget, "no total limit")),
        l.t("Per payment"),
        html_escape(&amount(m.how_much.per_payment_max, "no limit")),
        l.t("Asks you"),
        html_escape(&ask),
        l.t("Ends"),
        html_escape(&ends),
    )
}

fn consent_page(
    ctx: &Ctx,
    status: StatusCode,
    r: &MandateRecord,
    pin_error: Option<&str>,
) -> Response {
    let l = ctx.lang;
    let m = &r.mandate;
    let will_not: String = limits(l, m, &r.agent.name)
        .iter()
        .map(|s| format!("<li>{}</li>", html_escape(s)))
        .collect();
    let body = format!(
        "<h1>{title}</h1>\n<section class=\"card\" aria-labelledby=\"h-what\">\n<h2 id=\"h-what\">{what}</h2>\n<blockquote>{words}</blockquote>\n<p id=\"summary\">{summary}</p>\n<ul class=\"plain\">{will_not}</ul>\n{facts}<p class=\"muted\">{hash_label} <code id=\"content-hash\">{hash}</code></p>\n</section>\n<form class=\"card\" id=\"passkey-consent\" data-passkey=\"consent\" data-mandate=\"{id}\" data-hash=\"{hash}\" data-cancelled=\"{cancelled}\" data-unsupported=\"{unsupported}\">\n<h2>{pk_title}</h2>\n<div data-needs-js hidden>\n<div class=\"buttons\"><button type=\"submit\" class=\"approve\">{pk}</button></div>\n<p class=\"error\" data-error role=\"alert\" hidden tabindex=\"-1\"></p>\n</div>\n<noscript><p class=\"muted\">{nojs}</p></noscript>\n</form>\n<form class=\"card\" method=\"post\" action=\"/mandates/{id}/consent\" id=\"pin-consent\">\n<h2>{pin_title}</h2>\n{csrf}\n<input type=\"hidden\" name=\"content_hash\" value=\"{hash}\">\n<label for=\"pin\">{pin_label}</label>\n<input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" pattern=\"[0-9]*\" minlength=\"6\" maxlength=\"12\" autocomplete=\"current-password\" required{described}>\n{pin_err}<div class=\"buttons\"><button type=\"submit\" class=\"secondary\">{pin_btn}</button></div>\n</form>\n<p><a href=\"/mandates\">{later}</a></p>\n",
        title = l.t("Consent to this mandate"),
        what = l.f("What {} will be able to do", &[&html_escape(&r.agent.name)]),
        words = html_escape(&m.provenance.user_words),
        summary = html_escape(&r.summary),
        facts = facts(l, r),
        hash_label = l.t("You consent to exactly this content; its fingerprint:"),
        hash = html_escape(&r.content_hash),
        id = html_escape(&r.id),
        cancelled = html_escape(l.t("The passkey prompt was closed or timed out. Try again, or use your PIN.")),
        unsupported = html_escape(l.t("This browser cannot use passkeys. Use your PIN instead.")),
        pk_title = l.t("Consent with your passkey"),
        pk = l.t("Consent with my passkey"),
        nojs = l.t("Passkeys need JavaScript; the PIN works without it."),
        pin_title = l.t("Or consent with your PIN"),
        csrf = ctx.csrf_field(),
        pin_label = l.t("Your Purser PIN"),
        described = if pin_error.is_some() { " aria-invalid=\"true\" aria-describedby=\"pin-error\"" } else { "" },
        pin_err = error_p("pin", pin_error),
        pin_btn = l.t("Consent with PIN"),
        later = l.t("Not now: it stays a draft, and nothing is allowed, until you consent"),
    );
    ctx.section_page("/mandates", status, l.t("Consent to this mandate"), &body)
}

/// `GET /mandates/:id/consent`.
pub async fn consent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let r = match signed_in_mandate(&state, &ctx, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.status != "draft" {
        return ctx.finish(see_other("/mandates"));
    }
    consent_page(&ctx, StatusCode::OK, &r, None)
}

/// `POST /mandates/:id/consent` (form: `csrf`, `content_hash`, `pin`): consent with the PIN.
pub async fn consent_pin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, s, f) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let hash = field(&f, "content_hash").unwrap_or_default();
    let pin = field(&f, "pin").unwrap_or_default();
    let who = s.principal();
    match state
        .wallet
        .consent_mandate_with_pin(
            &who,
            &id,
            hash,
            &state.public_url,
            pin,
            super::device_cookie(&headers, ctx.secure).as_deref(),
        )
        .await
    {
        Ok(_) => done_redirect(&state, &ctx, "consented"),
        Err(e) => {
            let r = match own_mandate(&state, &ctx, &s, &id).await {
                Ok(r) => r,
                Err(resp) => return resp,
            };
            if r.status != "draft" {
                return ctx.message(
                    StatusCode::CONFLICT,
                    ctx.lang.t("This mandate is not waiting for consent"),
                    &sentence(&e.message),
                );
            }
            let status = crate::error::ApiError::from(e.clone()).status;
            consent_page(&ctx, status, &r, Some(&sentence(&e.message)))
        }
    }
}

/// `GET /mandates/:id/revoke`: the confirm step.
pub async fn revoke_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let r = match signed_in_mandate(&state, &ctx, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let l = ctx.lang;
    if !matches!(r.status.as_str(), "draft" | "active" | "consented") {
        return ctx.message(
            StatusCode::CONFLICT,
            l.t("Nothing to revoke"),
            l.t("This mandate is already revoked, expired or used up: no agent can pay with it."),
        );
    }
    let body = format!(
        "<h1>{title}</h1>\n<section class=\"card\">\n<blockquote>{words}</blockquote>\n<p>{summary}</p>\n{facts}</section>\n<form class=\"card notice\" method=\"post\" action=\"/mandates/{id}/revoke\" id=\"revoke\">\n{csrf}\n<p>{what}</p>\n<div class=\"buttons\"><button type=\"submit\" class=\"decline\">{yes}</button></div>\n</form>\n<p><a href=\"/mandates\">{keep}</a></p>\n",
        title = l.t("Revoke this mandate?"),
        words = html_escape(&r.mandate.provenance.user_words),
        summary = html_escape(&r.summary),
        facts = facts(l, &r),
        id = html_escape(&r.id),
        csrf = ctx.csrf_field(),
        what = l.f(
            "Once revoked, {} can no longer pay with this mandate, and payments under it that are held but not yet taken by the merchant cannot complete. This cannot be undone.",
            &[&format!("<bdi>{}</bdi>", html_escape(&r.agent.name))]
        ),
        yes = l.t("Yes, revoke it"),
        keep = l.t("No, keep it"),
    );
    ctx.section_page(
        "/mandates",
        StatusCode::OK,
        l.t("Revoke this mandate?"),
        &body,
    )
}

/// `POST /mandates/:id/revoke` (form: `csrf`).
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, s, _) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .wallet
        .revoke_mandate(&s.principal(), &id, Some("revoked in the web wallet"))
        .await
    {
        Ok(_) => done_redirect(&state, &ctx, "revoked"),
        Err(e)
            if matches!(
                e.kind,
                purser_wallet::Kind::NotFound | purser_wallet::Kind::Invalid
            ) =>
        {
            not_found(&ctx)
        }
        Err(e) if e.kind == purser_wallet::Kind::Conflict => ctx.message(
            StatusCode::CONFLICT,
            ctx.lang.t("Nothing to revoke"),
            ctx.lang.t(
                "This mandate is already revoked, expired or used up: no agent can pay with it.",
            ),
        ),
        Err(e) => unavailable(&ctx, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use purser_core::mandate::{draft, CivilDate, DraftContext};

    fn drafted(words: &str) -> Mandate {
        let ctx = DraftContext {
            today: CivilDate::new(2026, 11, 22).unwrap_or_else(|| unreachable!()),
            default_currency: Currency::CNY,
            yen_means: Currency::CNY,
            timezone: "UTC".into(),
        };
        let mut m = draft(words, &ctx).mandate;
        m.provenance.user_words = words.into();
        m
    }

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::CNY)
    }

    const WORDS: &str =
        "Buy running shoes under 600 yuan at Trailhead Outfitters, ask me above 300";

    #[test]
    fn the_fields_of_a_draft_give_back_the_same_mandate() {
        let m = drafted(WORDS);
        let f = ProposalFields::of(&m);
        let back = mandate_from_fields(&m, WORDS, Currency::CNY, &f);
        assert_eq!(back, Ok(m));
    }

    #[test]
    fn edited_amounts_dates_and_lists_become_the_mandate() {
        let m = drafted(WORDS);
        let mut f = ProposalFields::of(&m);
        f.budget = "¥1,200".into();
        f.per_payment_max = "550.50".into();
        f.confirm_above = "200".into();
        f.valid_until = "2027-03-31".into();
        f.recurrence = "monthly".into();
        f.merchants = format!("{}\njd.com\nmch_abc123", f.merchants);
        f.categories = "shoe stores (5661, 5651)".into();
        let got = mandate_from_fields(&m, WORDS, Currency::CNY, &f);
        let got = match got {
            Ok(g) => g,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(got.how_much.budget, Some(cny(120_000)));
        assert_eq!(got.how_much.per_payment_max, Some(cny(55_050)));
        assert_eq!(
            got.confirmation.rules,
            vec![ConfirmationRule::AutoAtOrBelow {
                amount: cny(20_000)
            }]
        );
        assert_eq!(got.when.valid_until, DateOrInstant::parse("2027-03-31"));
        assert_eq!(got.when.recurrence.frequency, Frequency::Monthly);
        assert_eq!(got.what.merchants.len(), 3);
        assert_eq!(got.what.merchants[0], m.what.merchants[0]);
        assert_eq!(got.what.merchants[1].website.as_deref(), Some("jd.com"));
        assert_eq!(got.what.merchants[2].id.as_deref(), Some("mch_abc123"));
        assert_eq!(got.what.allowed_categories.len(), 1);
        assert_eq!(got.what.allowed_categories[0].label, "shoe stores");
        assert_eq!(got.what.allowed_categories[0].mcc.len(), 2);
        assert_eq!(got.provenance.user_words, WORDS);
        // Empty fields lift the limit; an empty threshold means ask every time.
        f.budget = String::new();
        f.confirm_above = " ".into();
        let got = mandate_from_fields(&m, WORDS, Currency::CNY, &f);
        let got = got.unwrap_or_default();
        assert_eq!(got.how_much.budget, None);
        assert!(got.confirmation.rules.is_empty());
    }

    #[test]
    fn each_bad_field_is_named_with_its_own_error() {
        let m = drafted(WORDS);
        let mut f = ProposalFields::of(&m);
        f.description = "  ".into();
        f.budget = "six hundred".into();
        f.per_payment_max = "$50".into();
        f.confirm_above = "-5".into();
        f.valid_until = "31/03/2027".into();
        f.recurrence = "hourly".into();
        f.categories = "sneakerz".into();
        let errors = mandate_from_fields(&m, WORDS, Currency::CNY, &f)
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        for name in [
            "description",
            "budget",
            "per_payment_max",
            "confirm_above",
            "valid_until",
            "recurrence",
            "categories",
        ] {
            assert!(fields.contains(&name), "{name} in {fields:?}");
        }
        let per = errors.iter().find(|e| e.field == "per_payment_max");
        assert_eq!(
            per.map(|e| e.say(Lang::En)).as_deref(),
            Some("This mandate's amounts are in CNY; write the amount in CNY.")
        );
    }

    #[test]
    fn a_per_payment_limit_above_the_budget_and_reversed_dates_are_refused() {
        let m = drafted(WORDS);
        let mut f = ProposalFields::of(&m);
        f.budget = "100".into();
        f.per_payment_max = "200".into();
        let errors = mandate_from_fields(&m, WORDS, Currency::CNY, &f)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "per_payment_max");
        let mut f = ProposalFields::of(&m);
        f.valid_from = "2027-05-01".into();
        f.valid_until = "2027-04-01".into();
        let errors = mandate_from_fields(&m, WORDS, Currency::CNY, &f)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].field, "valid_until",
            "the core's check, on its field"
        );
        assert!(errors[0].say(Lang::Zh).contains("2027-04-01"));
    }

    #[test]
    fn amounts_follow_the_mandates_currency() {
        assert_eq!(
            parse_amount("600", Currency::CNY, "budget"),
            Ok(Some(cny(60_000)))
        );
        assert_eq!(parse_amount("", Currency::CNY, "budget"), Ok(None));
        assert_eq!(
            parse_amount("¥600", Currency::JPY, "budget"),
            Ok(Some(Money::new(600, Currency::JPY)))
        );
        assert!(parse_amount("0", Currency::CNY, "budget").is_err());
        assert!(parse_amount("600.001", Currency::CNY, "budget").is_err());
        assert!(parse_amount(&"9".repeat(80), Currency::CNY, "budget").is_err());
    }

    #[test]
    fn problems_land_on_their_fields() {
        assert_eq!(field_of_problem("how_much.budget"), "budget");
        assert_eq!(field_of_problem("what.merchants[2]"), "merchants");
        assert_eq!(
            field_of_problem("confirmation.rules[0].amount"),
            "confirm_above"
        );
        assert_eq!(field_of_problem("how_much.budgetary"), "");
        assert_eq!(field_of_problem("where.allowed_countries"), "");
    }

    #[test]
    fn the_limits_say_what_the_agent_cannot_do() {
        let m = drafted(WORDS);
        let text = limits(Lang::En, &m, "Trail Scout").join(" ");
        assert!(
            text.contains("Trail Scout cannot buy from any other merchant."),
            "{text}"
        );
        assert!(text.contains("without asking you first"), "{text}");
    }

    /// The string literal starting at `rest` (after optional whitespace), if any.
    fn literal(rest: &str) -> Option<String> {
        let rest = rest.trim_start().strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        None
    }

    #[test]
    fn every_string_these_pages_show_has_a_chinese_translation() {
        let source = include_str!("mandates.rs");
        let source = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let mut texts = Vec::new();
        for call in [".t(", ".f("] {
            for (at, _) in source.match_indices(call) {
                if let Some(t) = literal(&source[at + call.len()..]) {
                    texts.push(t);
                }
            }
        }
        // FieldError::new(field, TEXT, args): the second argument.
        for (at, _) in source.match_indices("FieldError::new(") {
            let rest = &source[at + "FieldError::new(".len()..];
            if let Some(comma) = rest.find(',') {
                if let Some(t) = literal(&rest[comma + 1..]) {
                    texts.push(t);
                }
            }
        }
        for (_, label) in FREQUENCIES {
            texts.push(label.to_string());
        }
        for empty in ["no total limit", "no limit"] {
            texts.push(empty.to_string());
        }
        assert!(
            texts.len() > 80,
            "the scan found the page strings: {texts:?}"
        );
        let missing: Vec<&String> = texts
            .iter()
            .filter(|t| !super::super::i18n::ZH.iter().any(|(en, _)| en == t))
            .collect();
        assert!(missing.is_empty(), "no Chinese for {missing:?}");
    }
}
