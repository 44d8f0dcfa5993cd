//! The Agents page: a person's control over the agents acting for them (docs/web-wallet.md).
//!
//! - `GET /agents`: binding requests waiting for an answer (agent, operator, what it says it
//!   will do, when it asked) with Approve / Decline; each bound agent (frozen or not, since
//!   when, its funding source, its mandates, its exclusive card) with Freeze / Unfreeze, the
//!   funding source to choose, the card to create, top up and withdraw from, and Revoke.
//! - `POST /agents/binding` (`csrf`, `binding`, `action` = approve | decline | freeze |
//!   unfreeze | revoke, and `confirm=yes` for revoke): `Wallet::decide_binding`. Revoke
//!   without `confirm` shows a page that asks first (it cannot be undone).
//! - `POST /agents/funding` (`csrf`, `binding`, `source` = `wallet` | `crd_…` | `ecd_…`):
//!   `Wallet::set_funding_source`.
//! - `POST /agents/card` (`csrf`, `binding`, `currency`): `Wallet::create_exclusive_card`.
//! - `POST /agents/card/move` (`csrf`, `card`, `direction` = fund | withdraw, `amount` typed
//!   as money, `key`): `Wallet::move_exclusive`. `key` is a one-time idempotency key made
//!   when the page was drawn: a form sent twice (double click, back and resend) carries the
//!   same key, and the wallet moves the money once, as with the JSON API's Idempotency-Key.
//!
//! Every POST checks the CSRF token first and answers with a redirect to `/agents` carrying a
//! one-shot notice of what happened (`web::flash`, bound to the session; a `?done=` in the URL
//! says nothing) or, when nothing was done, the page again with the problem in words next to
//! the field it concerns.
//!
//! Revoking closes the agent's own card and returns its balance to the wallet. When that
//! fails, the notice says so and what to do; an agent no longer bound whose card still holds
//! money (or is still open) stays on the page under "Cards of agents that no longer act for
//! you", with Withdraw and a way to try closing it again, so money is never out of sight.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use purser_core::{Currency, Money, MoneyError, ParseOptions};
use purser_wallet::bindings::{Binding, Decision};
use purser_wallet::exclusive::{Direction, ExclusiveCard};
use purser_wallet::funds::Amount;
use purser_wallet::web::WebSession;
use purser_wallet::WalletError;

use super::pages::{field, readable_time, sentence};
use super::{see_other, Ctx, FormPost, Lang};
use crate::error::ApiError;
use crate::html::html_escape;
use crate::AppState;

/// Where the page lives (its section in the shell).
pub const PATH: &str = "/agents";

/// Longest amount text looked at (the money parser's own limit is 64 bytes).
const MAX_AMOUNT_LEN: usize = 64;

/// Why a typed amount is not one the page can move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmountProblem {
    Empty,
    NotAnAmount,
    /// More decimals than the currency has (its exponent).
    TooManyDecimals(u8),
    Zero,
    Negative,
    /// The text names another currency than the card's.
    OtherCurrency(Currency),
    TooLarge,
}

impl AmountProblem {
    /// The problem as a sentence in the page's language; `c` is the card's currency.
    pub fn sentence(&self, l: Lang, c: Currency) -> String {
        match self {
            AmountProblem::Empty => l.t("Type an amount, such as 100 or 100.50.").to_string(),
            AmountProblem::NotAnAmount => l
                .t("That is not an amount: type digits with at most one decimal point, such as 100 or 100.50.")
                .to_string(),
            AmountProblem::TooManyDecimals(0) => {
                l.f("{} has no smaller unit: type a whole number.", &[c.code()])
            }
            AmountProblem::TooManyDecimals(e) => l.f(
                "{} has {} decimal places: type at most that many.",
                &[c.code(), &e.to_string()],
            ),
            AmountProblem::Zero => l.t("Type an amount above zero.").to_string(),
            AmountProblem::Negative => l
                .t("Type the amount without a minus sign; the button says which way it goes.")
                .to_string(),
            AmountProblem::OtherCurrency(other) => l.f(
                "This card holds {}, not {}: type an amount in {}.",
                &[c.code(), other.code(), c.code()],
            ),
            AmountProblem::TooLarge => l.t("That amount is too large.").to_string(),
        }
    }
}

/// Money typed in a form, in the card's currency `c`: `100`, `100.50`, `1,000`, `¥100.50`,
/// `100.50 CNY`. Never a float: the money parser reads the digits into minor units.
pub fn parse_amount(text: &str, c: Currency) -> Result<Money, AmountProblem> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AmountProblem::Empty);
    }
    if t.len() > MAX_AMOUNT_LEN {
        return Err(AmountProblem::NotAnAmount);
    }
    let opts = ParseOptions {
        // A yen sign on a JPY card means yen; anywhere else it means yuan.
        yen_sign: if c == Currency::JPY {
            Currency::JPY
        } else {
            Currency::CNY
        },
        default_currency: Some(c),
    };
    let m = Money::parse(t, opts).map_err(|e| match e {
        MoneyError::Empty => AmountProblem::Empty,
        MoneyError::TooManyDecimals { currency, .. } => {
            AmountProblem::TooManyDecimals(currency.exponent())
        }
        MoneyError::Negative(_) => AmountProblem::Negative,
        MoneyError::Overflow => AmountProblem::TooLarge,
        MoneyError::MixedCurrencies(a, b) => {
            AmountProblem::OtherCurrency(if a == c { b } else { a })
        }
        MoneyError::InvalidNumber(_)
        | MoneyError::UnknownCurrency(_)
        | MoneyError::MissingCurrency(_) => AmountProblem::NotAnAmount,
    })?;
    if m.currency != c {
        return Err(AmountProblem::OtherCurrency(m.currency));
    }
    if m.minor == 0 {
        return Err(AmountProblem::Zero);
    }
    Ok(m)
}

/// Where on the page a problem is said.
#[derive(Clone, Debug, PartialEq, Eq)]
enum At {
    /// At the top of the page.
    Top,
    /// Next to one card's amount field; the text typed is shown again.
    Amount {
        card: String,
        dir: Direction,
        typed: String,
    },
    /// Next to one agent's funding-source choice.
    Funding { binding: String },
    /// Next to one agent's "create a card" form.
    Create { binding: String },
}

struct Problem {
    at: At,
    /// Plain text, escaped when drawn.
    text: String,
}

/// What a redirect after a POST says happened (a flash: the notice word and the binding): a
/// closed set, so nothing can make the page say something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Approved,
    Declined,
    Frozen,
    Unfrozen,
    Revoked,
    /// Revoked, but closing its card failed: the money is still on it.
    RevokedCardOpen,
    Funding,
    CardCreated,
    Funded,
    Withdrawn,
}

impl Done {
    const ALL: [(Done, &'static str); 10] = [
        (Done::Approved, "approved"),
        (Done::Declined, "declined"),
        (Done::Frozen, "frozen"),
        (Done::Unfrozen, "unfrozen"),
        (Done::Revoked, "revoked"),
        (Done::RevokedCardOpen, "revokedopen"),
        (Done::Funding, "funding"),
        (Done::CardCreated, "card"),
        (Done::Funded, "funded"),
        (Done::Withdrawn, "withdrawn"),
    ];

    fn code(self) -> &'static str {
        Done::ALL
            .iter()
            .find(|(d, _)| *d == self)
            .map_or("", |(_, c)| c)
    }

    fn parse(s: &str) -> Option<Done> {
        Done::ALL.iter().find(|(_, c)| *c == s).map(|(d, _)| *d)
    }

    /// Whether the notice reports a failure (said as an alert, not as done).
    fn is_problem(self) -> bool {
        self == Done::RevokedCardOpen
    }

    /// The sentence, naming the agent (escaped HTML) and, for money, the card's balance.
    fn say(self, l: Lang, agent: &str, balance: &str) -> String {
        match self {
            Done::Approved => l.f("{} may now act for you, within your mandates.", &[agent]),
            Done::Declined => l.f("You declined {}: it cannot act for you.", &[agent]),
            Done::Frozen => l.f(
                "{} is frozen: every request from it is refused until you unfreeze it.",
                &[agent],
            ),
            Done::Unfrozen => l.f("{} is unfrozen and may act for you again.", &[agent]),
            Done::Revoked => l.f(
                "{} no longer acts for you: its binding and its mandates have ended.",
                &[agent],
            ),
            Done::RevokedCardOpen => l.f(
                "{} no longer acts for you, but its own card could not be closed: it still holds {}. Withdraw the money to your wallet below, or try closing the card again in a moment.",
                &[agent, balance],
            ),
            Done::Funding => l.f("Saved: what {} may pay from.", &[agent]),
            Done::CardCreated => l.f(
                "{} has its own card now. Top it up from your wallet below.",
                &[agent],
            ),
            Done::Funded => l.f("Moved into {}’s card; it now holds {}.", &[agent, balance]),
            Done::Withdrawn => l.f(
                "Moved back to your wallet from {}’s card; it now holds {}.",
                &[agent, balance],
            ),
        }
    }
}

fn status_of(e: &WalletError) -> StatusCode {
    ApiError::from(e.clone()).status
}

fn stale_form(l: Lang) -> String {
    l.t("The form was too old or sent from another page. It has been reloaded: try again.")
        .to_string()
}

/// `GET /agents`.
pub async fn page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let ctx = Ctx::of(&state, &headers, uri.query()).await;
    let Some(session) = ctx.session.clone() else {
        return ctx.sign_in_first();
    };
    let taken = super::flash::take(&state, &ctx, &headers, PATH);
    let done = taken
        .flash
        .as_ref()
        .and_then(|f| Done::parse(&f.notice).map(|d| (d, f.about.clone())));
    let resp = render(&state, &ctx, &session, StatusCode::OK, done, None).await;
    taken.finish(&ctx, resp)
}

/// The page with an optional notice of what was done and an optional problem.
async fn render(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    status: StatusCode,
    done: Option<(Done, String)>,
    problem: Option<Problem>,
) -> Response {
    match body(state, ctx, session, done, problem.as_ref()).await {
        Ok(b) => ctx.section_page(PATH, status, ctx.lang.t("Agents"), &b),
        Err(e) => {
            tracing::warn!(code = %e.code, "agents page failed");
            ctx.unavailable()
        }
    }
}

/// Everything the page shows of one bound agent.
struct Bound<'a> {
    b: &'a Binding,
    cards: Vec<&'a ExclusiveCard>,
}

async fn body(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    done: Option<(Done, String)>,
    problem: Option<&Problem>,
) -> Result<String, WalletError> {
    let l = ctx.lang;
    let who = session.principal();
    let w = &state.wallet;
    let all = w.list_bindings(&who, None).await?;
    let cards = w.list_exclusive_cards(&who).await?;
    let my_cards = w.list_cards(&who).await?;
    let wallet = w.wallet(&who).await?;
    let mandates = w.list_mandates(&who, Some("active")).await?;

    let mut h = format!("<h1>{}</h1>\n", l.t("Agents"));

    if let Some((d, about)) = &done {
        let b = all.iter().find(|b| &b.id == about);
        let agent = b.map_or_else(
            || l.t("The agent").to_string(),
            |b| format!("<bdi>{}</bdi>", html_escape(&b.agent.name)),
        );
        // The card the notice is about: the open one, or (revoked) the one still holding money.
        let balance = b
            .and_then(|b| {
                cards
                    .iter()
                    .filter(|c| c.binding_id == b.id)
                    .find(|c| c.status == "active" || c.balance.amount > 0)
            })
            .map(|c| html_escape(&c.balance.display))
            .unwrap_or_default();
        let (class, role) = if d.is_problem() {
            ("notice", "alert")
        } else {
            ("ok", "status")
        };
        h.push_str(&format!(
            "<section class=\"card {class}\" role=\"{role}\" id=\"done\"><p>{}</p></section>\n",
            d.say(l, &agent, &balance)
        ));
    }
    if let Some(Problem { at: At::Top, text }) = problem {
        h.push_str(&format!(
            "<section class=\"card notice\" role=\"alert\" id=\"problem\"><p>{}</p></section>\n",
            html_escape(text)
        ));
    }

    // Asking to act for you.
    let pending: Vec<&Binding> = all.iter().filter(|b| b.status == "pending").collect();
    h.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-asking\">\n<h2 id=\"h-asking\">{}</h2>\n",
        l.t("Asking to act for you")
    ));
    if pending.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No agent is asking to act for you.")
        ));
    } else {
        h.push_str("<ul class=\"list\" id=\"asking\">\n");
        for b in &pending {
            let name = html_escape(&b.agent.name);
            h.push_str(&format!(
                "<li id=\"ask-{id}\"><p><strong><bdi>{name}</bdi></strong> <span class=\"muted\">{run}</span></p>\n<p>{says}</p><blockquote><bdi>{purpose}</bdi></blockquote>\n<p class=\"muted\">{asked}</p>\n<form method=\"post\" action=\"/agents/binding\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><div class=\"buttons\"><button type=\"submit\" name=\"action\" value=\"approve\" class=\"approve\">{approve}</button><button type=\"submit\" name=\"action\" value=\"decline\" class=\"decline\">{decline}</button></div></form></li>\n",
                id = html_escape(&b.id),
                run = l.f("run by {}", &[&format!("<bdi>{}</bdi>", html_escape(&b.agent.operator))]),
                says = l.t("It says it will:"),
                purpose = html_escape(&b.purpose),
                asked = l.f("Asked {}", &[&html_escape(&readable_time(&b.created_at))]),
                csrf = ctx.csrf_field(),
                approve = l.f("Approve {}", &[&format!("<bdi>{name}</bdi>")]),
                decline = l.t("Decline"),
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");

    // Your agents.
    let bound: Vec<Bound> = all
        .iter()
        .filter(|b| b.status == "active")
        .map(|b| Bound {
            b,
            cards: cards.iter().filter(|c| c.binding_id == b.id).collect(),
        })
        .collect();
    h.push_str(&format!(
        "<section aria-labelledby=\"h-yours\">\n<h2 id=\"h-yours\" class=\"section-title\">{}</h2>\n",
        l.t("Your agents")
    ));
    if bound.is_empty() {
        h.push_str(&format!(
            "<p class=\"card muted\">{}</p>\n",
            l.t("No agent acts for you yet. When one asks, approve it above.")
        ));
    }
    let currencies: Vec<&'static str> = if wallet.balances.is_empty() {
        vec![Currency::CNY.code()]
    } else {
        wallet.balances.iter().map(|b| b.currency).collect()
    };
    for a in &bound {
        h.push_str(&agent_card(
            ctx,
            a,
            &my_cards,
            &mandates,
            &currencies,
            problem,
        ));
    }
    h.push_str("</section>\n");

    // Agents that no longer act for you, whose card still holds money or is still open (its
    // closing failed): the money stays in sight until it is back in the wallet.
    let ended: Vec<Bound> = all
        .iter()
        .filter(|b| b.status != "active" && b.status != "pending")
        .map(|b| Bound {
            b,
            cards: cards
                .iter()
                .filter(|c| c.binding_id == b.id)
                .filter(|c| c.status == "active" || c.balance.amount > 0)
                .collect(),
        })
        .filter(|a| !a.cards.is_empty())
        .collect();
    if !ended.is_empty() {
        h.push_str(&format!(
            "<section aria-labelledby=\"h-ended\" id=\"ended\">\n<h2 id=\"h-ended\" class=\"section-title\">{}</h2>\n",
            l.t("Cards of agents that no longer act for you")
        ));
        for a in &ended {
            h.push_str(&ended_card(ctx, a, problem));
        }
        h.push_str("</section>\n");
    }
    Ok(h)
}

/// An agent that no longer acts for you whose card still holds money or is still open:
/// Withdraw, and (open) close it again.
fn ended_card(ctx: &Ctx, a: &Bound, problem: Option<&Problem>) -> String {
    let l = ctx.lang;
    let b = a.b;
    let id = html_escape(&b.id);
    let name = format!("<bdi>{}</bdi>", html_escape(&b.agent.name));
    let mut h = format!(
        "<article class=\"card agent ended\" id=\"agent-{id}\" aria-labelledby=\"name-{id}\">\n<h3 id=\"name-{id}\">{name} <span class=\"badge\">{badge}</span></h3>\n",
        badge = if b.status == "revoked" {
            l.t("Revoked")
        } else {
            l.t("No longer acting for you")
        },
    );
    for c in &a.cards {
        let cid = html_escape(&c.id);
        let currency = Currency::from_code(c.currency).unwrap_or(Currency::CNY);
        h.push_str(&format!(
            "<p>{}</p>\n<dl class=\"balances\" id=\"card-{cid}\"><div><dt>{bal}</dt><dd class=\"total\" data-balance>{amount}</dd><dd class=\"muted\">{held} {held_amount}</dd></div></dl>\n",
            if c.status == "active" {
                l.t("It can no longer act for you, but its own card is still open: close it to return its balance to your wallet, or withdraw the money yourself.")
            } else {
                l.t("It can no longer act for you, and its card is closed, but the card still holds money: withdraw it to your wallet.")
            },
            bal = l.f("Card balance ({})", &[c.currency]),
            amount = html_escape(&c.balance.display),
            held = l.t("Held"),
            held_amount = html_escape(&c.held.display),
        ));
        if c.balance.amount > 0 {
            h.push_str(&move_form(ctx, c, currency, Direction::Withdraw, problem));
        }
        if c.status == "active" {
            // Revoking again retries closing the cards of a revoked binding.
            h.push_str(&format!(
                "<form method=\"post\" action=\"/agents/binding\" class=\"row\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><input type=\"hidden\" name=\"action\" value=\"revoke\"><input type=\"hidden\" name=\"confirm\" value=\"yes\"><div class=\"buttons\"><button type=\"submit\" class=\"secondary\">{close}</button></div></form>\n",
                csrf = ctx.csrf_field(),
                close = l.t("Close the card and return its balance"),
            ));
        }
    }
    h.push_str("</article>\n");
    h
}

/// One bound agent: status and kill switch, what it may do, its card, revoke.
fn agent_card(
    ctx: &Ctx,
    a: &Bound,
    my_cards: &[purser_wallet::cards::Card],
    mandates: &[purser_wallet::mandates::MandateRecord],
    currencies: &[&'static str],
    problem: Option<&Problem>,
) -> String {
    let l = ctx.lang;
    let b = a.b;
    let id = html_escape(&b.id);
    let name = format!("<bdi>{}</bdi>", html_escape(&b.agent.name));
    let csrf = ctx.csrf_field();
    let since = readable_time(b.decided_at.as_deref().unwrap_or(&b.created_at));
    let mut h = format!(
        "<article class=\"card agent{frozen_class}\" id=\"agent-{id}\" aria-labelledby=\"name-{id}\">\n<h3 id=\"name-{id}\">{name}{badge}</h3>\n<p class=\"muted\">{run} · {since}</p>\n",
        frozen_class = if b.frozen { " frozen" } else { "" },
        badge = if b.frozen {
            format!(" <span class=\"badge\">{}</span>", l.t("Frozen"))
        } else {
            format!(" <span class=\"badge good\">{}</span>", l.t("Active"))
        },
        run = l.f("run by {}", &[&format!("<bdi>{}</bdi>", html_escape(&b.agent.operator))]),
        since = l.f("acting for you since {}", &[&html_escape(&since)]),
    );
    if b.agent.status != "active" {
        h.push_str(&format!(
            "<p class=\"error\">{}</p>\n",
            l.t("Its developer revoked this agent: it can no longer act for anyone.")
        ));
    }

    // The kill switch.
    let (action, button, says) = if b.frozen {
        (
            "unfreeze",
            l.f("Unfreeze {}", &[&name]),
            l.t("Frozen: every request from this agent is refused until you unfreeze it."),
        )
    } else {
        (
            "freeze",
            l.f("Freeze {}", &[&name]),
            l.t("Freezing takes effect at once: every request from this agent is refused until you unfreeze it, and payments it has not completed are cancelled."),
        )
    };
    h.push_str(&format!(
        "<form method=\"post\" action=\"/agents/binding\" class=\"switch\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><p id=\"switch-{id}\">{says}</p><div class=\"buttons\"><button type=\"submit\" name=\"action\" value=\"{action}\" class=\"{cls}\" aria-describedby=\"switch-{id}\">{button}</button></div></form>\n",
        cls = if b.frozen { "approve" } else { "decline" },
    ));

    // What it may do.
    h.push_str(&format!("<h4>{}</h4>\n", l.t("What it may do")));
    let theirs: Vec<_> = mandates
        .iter()
        .filter(|m| m.agent.id == b.agent.id)
        .collect();
    if theirs.is_empty() {
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            l.t("No active mandate: it cannot pay for anything until you give it one.")
        ));
    } else {
        h.push_str(&format!(
            "<p>{}</p>\n<ul class=\"plain\">\n",
            l.t("It may pay only within these mandates:")
        ));
        for m in &theirs {
            h.push_str(&format!("<li>{}</li>\n", html_escape(&m.summary)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(&format!(
        "<p><a href=\"/mandates\">{}</a></p>\n",
        l.t("See and change mandates")
    ));

    // The funding source.
    let open_cards: Vec<_> = a.cards.iter().filter(|c| c.status == "active").collect();
    // Unrestricted, the agent pays from the wallet unless it names its own card. A saved card
    // only tops the wallet up (a payment restricted to one is declined), so one is offered
    // only when it is already the restriction, to show it and let it be lifted.
    let unrestricted = if open_cards.is_empty() {
        l.t("Your wallet balance")
    } else {
        l.t("Your wallet balance, or its own card when it asks")
    };
    let mut options = vec![("wallet".to_string(), unrestricted.to_string())];
    for c in &open_cards {
        options.push((c.id.clone(), l.f("Only its own card ({})", &[c.currency])));
    }
    let current = b.funding_source.as_deref().unwrap_or("wallet");
    for c in my_cards.iter().filter(|c| c.id == current) {
        options.push((
            c.id.clone(),
            l.f("Only your card {} ending {}", &[&c.brand, &c.last4]),
        ));
    }
    let opts: String = options
        .iter()
        .map(|(v, label)| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                html_escape(v),
                if v == current { " selected" } else { "" },
                html_escape(label)
            )
        })
        .collect();
    let (err, described) = field_problem(
        problem,
        |at| matches!(at, At::Funding { binding } if *binding == b.id),
        &format!("funding-err-{id}"),
    );
    h.push_str(&format!(
        "<form method=\"post\" action=\"/agents/funding\" class=\"row\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><label for=\"funding-{id}\">{label}</label><select id=\"funding-{id}\" name=\"source\"{described}>{opts}</select>{err}<button type=\"submit\" class=\"secondary\">{save}</button></form>\n",
        label = l.t("It pays from"),
        save = l.t("Save"),
    ));

    // The exclusive card.
    h.push_str(&format!("<h4>{}</h4>\n", l.t("Its own card")));
    if open_cards.is_empty() {
        let (err, described) = field_problem(
            problem,
            |at| matches!(at, At::Create { binding } if *binding == b.id),
            &format!("create-err-{id}"),
        );
        let opts: String = currencies
            .iter()
            .map(|c| format!("<option value=\"{c}\">{c}</option>"))
            .collect();
        h.push_str(&format!(
            "<p class=\"muted\">{}</p>\n<form method=\"post\" action=\"/agents/card\" class=\"row\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><label for=\"currency-{id}\">{cur}</label><select id=\"currency-{id}\" name=\"currency\"{described}>{opts}</select>{err}<button type=\"submit\" class=\"secondary\">{create}</button></form>\n",
            l.t("A card of its own holds money only this agent can spend, and it can never spend more than the card holds. You move money in and out."),
            cur = l.t("Currency"),
            create = l.f("Create a card for {}", &[&name]),
        ));
    }
    for c in &open_cards {
        let cid = html_escape(&c.id);
        let currency = Currency::from_code(c.currency).unwrap_or(Currency::CNY);
        h.push_str(&format!(
            "<dl class=\"balances\" id=\"card-{cid}\"><div><dt>{bal}</dt><dd class=\"total\" data-balance>{amount}</dd><dd class=\"muted\">{held} {held_amount}</dd></div></dl>\n",
            bal = l.f("Card balance ({})", &[c.currency]),
            amount = html_escape(&c.balance.display),
            held = l.t("Held"),
            held_amount = html_escape(&c.held.display),
        ));
        for dir in [Direction::Fund, Direction::Withdraw] {
            h.push_str(&move_form(ctx, c, currency, dir, problem));
        }
    }
    for c in a.cards.iter().filter(|c| c.status != "active") {
        if c.balance.amount > 0 {
            h.push_str(&format!(
                "<p class=\"muted\">{}</p>\n",
                l.f(
                    "A closed card still holds {}: withdraw it to your wallet.",
                    &[&html_escape(&c.balance.display)]
                )
            ));
            let currency = Currency::from_code(c.currency).unwrap_or(Currency::CNY);
            h.push_str(&move_form(ctx, c, currency, Direction::Withdraw, problem));
        }
    }

    // Revoke: asks first.
    h.push_str(&format!(
        "<form method=\"post\" action=\"/agents/binding\" class=\"revoke\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><div class=\"buttons\"><button type=\"submit\" name=\"action\" value=\"revoke\" class=\"link\">{}</button></div></form>\n",
        l.f("Revoke {}…", &[&name]),
    ));
    h.push_str("</article>\n");
    h
}

/// The error paragraph and the field's `aria-*` attributes when `problem` is at this field.
fn field_problem(
    problem: Option<&Problem>,
    here: impl Fn(&At) -> bool,
    err_id: &str,
) -> (String, String) {
    match problem {
        Some(p) if here(&p.at) => (
            format!(
                "<p class=\"error\" id=\"{err_id}\" role=\"alert\">{}</p>",
                html_escape(&p.text)
            ),
            format!(" aria-invalid=\"true\" aria-describedby=\"{err_id}\""),
        ),
        _ => (String::new(), String::new()),
    }
}

/// The form that tops a card up (`Fund`) or withdraws from it, with a fresh idempotency key.
fn move_form(
    ctx: &Ctx,
    c: &ExclusiveCard,
    currency: Currency,
    dir: Direction,
    problem: Option<&Problem>,
) -> String {
    let l = ctx.lang;
    let cid = html_escape(&c.id);
    let (verb, label, button) = match dir {
        Direction::Fund => (
            "fund",
            l.f("Top up from your wallet, in {}", &[currency.code()]),
            l.t("Top up"),
        ),
        Direction::Withdraw => (
            "withdraw",
            l.f("Withdraw to your wallet, in {}", &[currency.code()]),
            l.t("Withdraw"),
        ),
    };
    let field_id = format!("{verb}-{cid}");
    let err_id = format!("{verb}-err-{cid}");
    let typed = match problem {
        Some(Problem {
            at:
                At::Amount {
                    card,
                    dir: d,
                    typed,
                },
            ..
        }) if *card == c.id && *d == dir => typed.clone(),
        _ => String::new(),
    };
    let (err, described) = field_problem(
        problem,
        |at| matches!(at, At::Amount { card, dir: d, .. } if *card == c.id && *d == dir),
        &err_id,
    );
    format!(
        "<form method=\"post\" action=\"/agents/card/move\" class=\"row money\">{csrf}<input type=\"hidden\" name=\"card\" value=\"{cid}\"><input type=\"hidden\" name=\"direction\" value=\"{verb}\"><input type=\"hidden\" name=\"key\" value=\"{key}\"><label for=\"{field_id}\">{label}</label><input id=\"{field_id}\" name=\"amount\" inputmode=\"decimal\" autocomplete=\"off\" required maxlength=\"{MAX_AMOUNT_LEN}\" placeholder=\"100.00\" value=\"{typed}\"{described}>{err}<button type=\"submit\" class=\"secondary\">{button}</button></form>\n",
        csrf = ctx.csrf_field(),
        key = html_escape(&super::fresh_form_key()),
        typed = html_escape(&typed),
    )
}

/// The signed-in person and the form (read and checked by [`super::signed_in_form`]), or
/// the response to give instead: the way to sign in, or (too large, a repeated field, or no
/// or another session's CSRF token) the page again saying the form was stale.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<(Ctx, WebSession, Vec<(String, String)>), Response> {
    match super::signed_in_form(state, headers, uri.query(), body, super::MAX_FORM_BYTES).await {
        FormPost::Fresh(ctx, session, f) => Ok((ctx, session, f)),
        FormPost::SignIn(r) => Err(r),
        FormPost::Stale(ctx, session) => {
            Err(stale(state, &ctx, &session, StatusCode::FORBIDDEN).await)
        }
    }
}

/// The page again with `text` said where it concerns (`at`).
async fn again(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    status: StatusCode,
    at: At,
    text: String,
) -> Response {
    render(
        state,
        ctx,
        session,
        status,
        None,
        Some(Problem { at, text }),
    )
    .await
}

/// The page again, saying at the top that the form was stale and nothing was done.
async fn stale(state: &AppState, ctx: &Ctx, session: &WebSession, status: StatusCode) -> Response {
    again(state, ctx, session, status, At::Top, stale_form(ctx.lang)).await
}

/// The redirect to the page, with the notice of what was done about `binding`.
fn done_redirect(state: &AppState, ctx: &Ctx, done: Done, binding: &str) -> Response {
    super::flash::set(state, ctx, PATH, done.code(), binding, see_other(PATH))
}

/// `POST /agents/binding`: approve, decline, freeze, unfreeze or revoke.
pub async fn binding(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, session, f) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let who = session.principal();
    let id = field(&f, "binding").unwrap_or_default().trim().to_string();
    let (decision, done) = match field(&f, "action").unwrap_or_default() {
        "approve" => (Decision::Approve, Done::Approved),
        "decline" => (Decision::Decline, Done::Declined),
        "freeze" => (Decision::Freeze, Done::Frozen),
        "unfreeze" => (Decision::Unfreeze, Done::Unfrozen),
        "revoke" => (Decision::Revoke, Done::Revoked),
        _ => return stale(&state, &ctx, &session, StatusCode::BAD_REQUEST).await,
    };
    if decision == Decision::Revoke && field(&f, "confirm") != Some("yes") {
        return match state.wallet.binding(&who, &id).await {
            Ok(b) if b.status == "pending" || b.status == "active" => confirm_revoke(&ctx, &b),
            Ok(_) => see_other(PATH),
            Err(e) => problem_page(&state, &ctx, &session, &e).await,
        };
    }
    match state.wallet.decide_binding(&who, &id, decision).await {
        Ok(_) if decision == Decision::Revoke => revoked(&state, &ctx, &session, &id).await,
        Ok(_) => done_redirect(&state, &ctx, done, &id),
        Err(e) if e.code == "binding_state" => {
            // Sent twice (a double click): if it is already as asked, say so.
            let already = match state.wallet.binding(&who, &id).await {
                Ok(b) => match decision {
                    Decision::Approve => b.status == "active",
                    Decision::Decline => b.status == "declined",
                    Decision::Revoke => b.status == "revoked",
                    Decision::Freeze | Decision::Unfreeze => false,
                },
                // Could not be read again: "unavailable", not the state conflict.
                Err(e) if e.kind == purser_wallet::Kind::Unavailable => {
                    return problem_page(&state, &ctx, &session, &e).await
                }
                Err(_) => false,
            };
            if already && decision == Decision::Revoke {
                // Revoked before: close what is still open (this is also how the page retries
                // a close that failed).
                revoked(&state, &ctx, &session, &id).await
            } else if already {
                done_redirect(&state, &ctx, done, &id)
            } else {
                problem_page(&state, &ctx, &session, &e).await
            }
        }
        Err(e) => problem_page(&state, &ctx, &session, &e).await,
    }
}

/// After a revoke: its own card ends with it, and what is left goes back to the wallet. When
/// that fails the notice says so (the card stays on the page with Withdraw), never "revoked"
/// alone.
async fn revoked(state: &AppState, ctx: &Ctx, session: &WebSession, binding: &str) -> Response {
    match close_cards_of(state, session, binding).await {
        Ok(()) => done_redirect(state, ctx, Done::Revoked, binding),
        Err(e) => {
            tracing::warn!(code = %e.code, "closing a revoked agent's card failed");
            done_redirect(state, ctx, Done::RevokedCardOpen, binding)
        }
    }
}

/// Close the binding's open cards, and sweep closed ones that still hold money (a hold
/// released after the close, or a close whose transfer failed) back to the wallet.
async fn close_cards_of(
    state: &AppState,
    session: &WebSession,
    binding: &str,
) -> Result<(), WalletError> {
    let who = session.principal();
    for c in state
        .wallet
        .exclusive_cards_of_binding(&who, binding)
        .await?
    {
        if c.status == "active" || c.balance.amount > 0 {
            state.wallet.close_exclusive_card(&who, &c.id).await?;
        }
    }
    Ok(())
}

/// The page again with the wallet's answer at the top.
async fn problem_page(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    e: &WalletError,
) -> Response {
    problem_at(state, ctx, session, e, At::Top).await
}

/// The page again with the wallet's answer where it concerns (`at`), or (the wallet cannot
/// answer now) the page that says so.
async fn problem_at(
    state: &AppState,
    ctx: &Ctx,
    session: &WebSession,
    e: &WalletError,
    at: At,
) -> Response {
    if e.kind == purser_wallet::Kind::Unavailable {
        tracing::warn!(code = %e.code, "an agents action failed");
        return ctx.unavailable();
    }
    again(state, ctx, session, status_of(e), at, sentence(&e.message)).await
}

/// Revoking cannot be undone: say what it does and ask once more.
fn confirm_revoke(ctx: &Ctx, b: &Binding) -> Response {
    let l = ctx.lang;
    let name = format!("<bdi>{}</bdi>", html_escape(&b.agent.name));
    let body = format!(
        "<h1>{title}</h1>\n<section class=\"card notice\">\n<p>{what}</p>\n<p><strong>{undo}</strong></p>\n<form method=\"post\" action=\"/agents/binding\">{csrf}<input type=\"hidden\" name=\"binding\" value=\"{id}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\"><div class=\"buttons\"><button type=\"submit\" name=\"action\" value=\"revoke\" class=\"decline\">{yes}</button></div></form>\n<p><a href=\"{PATH}\">{keep}</a></p>\n</section>\n",
        title = l.f("Revoke {}?", &[&name]),
        what = l.t("Revoking ends this agent’s binding: it can no longer act for you, every mandate you gave it ends, payments it has not completed are cancelled, and its own card is closed with its balance returned to your wallet."),
        undo = l.t("This cannot be undone: to let it act for you again, it must ask again and you must approve it."),
        csrf = ctx.csrf_field(),
        id = html_escape(&b.id),
        yes = l.f("Yes, revoke {}", &[&name]),
        keep = l.f("No, keep {}", &[&name]),
    );
    ctx.section_page(
        PATH,
        StatusCode::OK,
        &l.f("Revoke {}?", &[&b.agent.name]),
        &body,
    )
}

/// `POST /agents/funding`: what the agent may pay from.
pub async fn funding(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, session, f) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = field(&f, "binding").unwrap_or_default().trim().to_string();
    let source = match field(&f, "source").unwrap_or_default().trim() {
        "wallet" | "" => None,
        s => Some(s.to_string()),
    };
    let who = session.principal();
    match state
        .wallet
        .set_funding_source(&who, &id, source.as_deref())
        .await
    {
        Ok(_) => done_redirect(&state, &ctx, Done::Funding, &id),
        Err(e) => problem_at(&state, &ctx, &session, &e, At::Funding { binding: id }).await,
    }
}

/// `POST /agents/card`: give an approved agent its own card.
pub async fn create_card(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, session, f) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = field(&f, "binding").unwrap_or_default().trim().to_string();
    let currency = field(&f, "currency").unwrap_or_default().trim().to_string();
    let who = session.principal();
    match state
        .wallet
        .create_exclusive_card(&who, &id, &currency)
        .await
    {
        Ok(_) => done_redirect(&state, &ctx, Done::CardCreated, &id),
        // Sent twice: the first made it.
        Err(e) if e.code == "exclusive_card_exists" => {
            done_redirect(&state, &ctx, Done::CardCreated, &id)
        }
        Err(e) => problem_at(&state, &ctx, &session, &e, At::Create { binding: id }).await,
    }
}

/// `POST /agents/card/move`: top a card up from the wallet, or withdraw back to it.
pub async fn move_money(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let (ctx, session, f) = match posted(&state, &headers, &uri, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let l = ctx.lang;
    let who = session.principal();
    let card_id = field(&f, "card").unwrap_or_default().trim().to_string();
    let key = field(&f, "key").unwrap_or_default().trim().to_string();
    let typed = field(&f, "amount").unwrap_or_default().to_string();
    let dir = match field(&f, "direction") {
        Some("fund") => Some(Direction::Fund),
        Some("withdraw") => Some(Direction::Withdraw),
        _ => None,
    };
    let Some(dir) = dir.filter(|_| super::plausible_form_key(&key)) else {
        return stale(&state, &ctx, &session, StatusCode::BAD_REQUEST).await;
    };
    let card = match state.wallet.exclusive_card(&who, &card_id).await {
        Ok(c) => c,
        Err(e) => return problem_page(&state, &ctx, &session, &e).await,
    };
    let at = At::Amount {
        card: card.id.clone(),
        dir,
        typed: typed.chars().take(MAX_AMOUNT_LEN).collect(),
    };
    let currency = match Currency::from_code(card.currency) {
        Some(c) => c,
        None => return ctx.unavailable(),
    };
    let money = match parse_amount(&typed, currency) {
        Ok(m) => m,
        Err(p) => {
            let text = p.sentence(l, currency);
            return again(&state, &ctx, &session, StatusCode::BAD_REQUEST, at, text).await;
        }
    };
    let amount = Amount {
        amount: money.minor,
        currency: currency.code().to_string(),
    };
    match state
        .wallet
        .move_exclusive(&who, &card.id, dir, &amount, &key)
        .await
    {
        Ok(_) => done_redirect(
            &state,
            &ctx,
            if dir == Direction::Fund {
                Done::Funded
            } else {
                Done::Withdrawn
            },
            &card.binding_id,
        ),
        Err(e) if e.kind == purser_wallet::Kind::Unavailable => {
            problem_page(&state, &ctx, &session, &e).await
        }
        Err(e) => {
            let text = match e.code.as_str() {
                "insufficient_funds" => match dir {
                    Direction::Fund => match state.wallet.wallet(&who).await {
                        Ok(w) => {
                            let available = w
                                .balances
                                .into_iter()
                                .find(|b| b.currency == card.currency)
                                .map_or_else(
                                    || Money::zero(currency).with_symbol(),
                                    |b| b.available.display,
                                );
                            l.f(
                                "Your wallet has {} available, less than {}: nothing was moved.",
                                &[&available, &money.with_symbol()],
                            )
                        }
                        // The balance could not be read: the wallet's own sentence, never a
                        // made-up ¥0.00.
                        Err(_) => sentence(&e.message),
                    },
                    Direction::Withdraw => l.f(
                        "This card holds {}, less than {}: nothing was moved.",
                        &[&card.balance.display, &money.with_symbol()],
                    ),
                },
                "transfer_id_conflict" => l
                    .t("This form was already sent with another amount. The page has been reloaded: type the amount again.")
                    .to_string(),
                _ => sentence(&e.message),
            };
            // The page is drawn again with fresh keys; the text is escaped there.
            let at = if e.code == "transfer_id_conflict" {
                At::Top
            } else {
                at
            };
            again(&state, &ctx, &session, status_of(&e), at, text).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_typed_in_a_form_becomes_minor_units() {
        let cny = Currency::CNY;
        assert_eq!(parse_amount("100", cny), Ok(Money::new(10_000, cny)));
        assert_eq!(parse_amount(" 100.50 ", cny), Ok(Money::new(10_050, cny)));
        assert_eq!(parse_amount("100.5", cny), Ok(Money::new(10_050, cny)));
        assert_eq!(parse_amount("0.01", cny), Ok(Money::new(1, cny)));
        assert_eq!(parse_amount("1,000", cny), Ok(Money::new(100_000, cny)));
        assert_eq!(parse_amount("¥100.50", cny), Ok(Money::new(10_050, cny)));
        assert_eq!(parse_amount("100.50 CNY", cny), Ok(Money::new(10_050, cny)));
        let jpy = Currency::JPY;
        assert_eq!(parse_amount("¥500", jpy), Ok(Money::new(500, jpy)));
        assert_eq!(parse_amount("500", jpy), Ok(Money::new(500, jpy)));
        let kwd = Currency::KWD;
        assert_eq!(parse_amount("1.250", kwd), Ok(Money::new(1_250, kwd)));
    }

    #[test]
    fn bad_amounts_are_refused_with_a_reason() {
        let cny = Currency::CNY;
        assert_eq!(parse_amount("", cny), Err(AmountProblem::Empty));
        assert_eq!(parse_amount("   ", cny), Err(AmountProblem::Empty));
        assert_eq!(parse_amount("0", cny), Err(AmountProblem::Zero));
        assert_eq!(parse_amount("0.00", cny), Err(AmountProblem::Zero));
        assert_eq!(parse_amount("-5", cny), Err(AmountProblem::Negative));
        assert_eq!(
            parse_amount("100.505", cny),
            Err(AmountProblem::TooManyDecimals(2))
        );
        assert_eq!(
            parse_amount("5.5", Currency::JPY),
            Err(AmountProblem::TooManyDecimals(0))
        );
        for bad in [
            "abc", "1e3", "10,00", "1.2.3", "100.", ".5", "1 000", "NaN", "0x10",
        ] {
            assert_eq!(
                parse_amount(bad, cny),
                Err(AmountProblem::NotAnAmount),
                "{bad}"
            );
        }
        assert_eq!(
            parse_amount("5 USD", cny),
            Err(AmountProblem::OtherCurrency(Currency::USD))
        );
        assert_eq!(
            parse_amount("$5", cny),
            Err(AmountProblem::OtherCurrency(Currency::USD))
        );
        assert_eq!(
            parse_amount("99999999999999999999", cny),
            Err(AmountProblem::TooLarge)
        );
        assert_eq!(
            parse_amount(&"1".repeat(100), cny),
            Err(AmountProblem::NotAnAmount)
        );
    }

    #[test]
    fn every_amount_problem_reads_in_both_languages() {
        let all = [
            AmountProblem::Empty,
            AmountProblem::NotAnAmount,
            AmountProblem::TooManyDecimals(0),
            AmountProblem::TooManyDecimals(2),
            AmountProblem::Zero,
            AmountProblem::Negative,
            AmountProblem::OtherCurrency(Currency::USD),
            AmountProblem::TooLarge,
        ];
        for p in &all {
            let en = p.sentence(Lang::En, Currency::CNY);
            let zh = p.sentence(Lang::Zh, Currency::CNY);
            assert!(!en.is_empty() && en != zh, "{p:?}: {en} / {zh}");
            assert!(!en.contains("{}"), "{en}");
        }
        assert!(AmountProblem::TooManyDecimals(2)
            .sentence(Lang::En, Currency::CNY)
            .contains("CNY has 2 decimal places"));
    }

    #[test]
    fn what_was_done_round_trips_and_nothing_else_is_said() {
        for (d, code) in Done::ALL {
            assert_eq!(Done::parse(code), Some(d));
            assert_eq!(d.code(), code);
            let en = d.say(Lang::En, "Trail Scout", "¥1.00");
            assert!(en.contains("Trail Scout") && !en.contains("{}"), "{en}");
            assert_ne!(en, d.say(Lang::Zh, "Trail Scout", "¥1.00"), "{code}");
        }
        assert_eq!(Done::parse("<script>"), None);
        assert_eq!(Done::parse(""), None);
    }

    /// Every string this page draws through `t`/`f` is in the Chinese table.
    #[test]
    fn every_string_on_the_page_has_a_translation() {
        let src = include_str!("agents.rs");
        let code = src.split("#[cfg(test)]").next().unwrap_or_default();
        let mut seen = 0;
        for pat in [".t(", ".f("] {
            for piece in code.split(pat).skip(1) {
                let Some(rest) = piece.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some(end) = rest.find('"') else { continue };
                let en = &rest[..end];
                seen += 1;
                assert!(
                    super::super::i18n::ZH.iter().any(|(e, _)| *e == en),
                    "no Chinese for {en:?}"
                );
            }
        }
        assert!(seen > 40, "found only {seen} strings: the scan is broken");
    }
}
