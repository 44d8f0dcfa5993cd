//! Mandates as records: what a user allowed one of their agents to buy, from draft to consent
//! to the end of its life, and the spending charged against it.
//!
//! # Lifecycle
//!
//! `draft` (created from the user's words or a structured proposal; may be edited) →
//! consented by the authenticated user, who names the exact content they read by its hash →
//! `active`. From `active` a mandate ends by being `revoked` (stored), or by time and use:
//! it reads as `expired` once its end date has passed in its time zone and `exhausted` once
//! its budget, payment count or items are used up. A consented mandate whose start date is
//! still ahead reads as `consented`. Only the user can consent or revoke.
//!
//! # Spending, charged atomically
//!
//! A payment charges the buckets [`purser_core::mandate::Evaluation::charge`] names —
//! lifetime, the current day/week/month/year in the mandate's zone, each allowed item — in one
//! transaction of conditional updates (`amount + x <= ceiling`), after a compare-and-set on the
//! mandate row that it is still `active`. On PostgreSQL that row update also locks the mandate
//! for the transaction, so concurrent charges queue; on SQLite the single writer serialises
//! them. Two payments can therefore never both pass a budget that fits one: the second
//! transaction sees the first's charge and fails its condition.
//!
//! With a ledger hold ([`Wallet::reserve_under_mandate`]) the order is: charge (`charging`) →
//! hold in the ledger (its id derived from the payment id) → `held`. A hold the ledger refuses
//! releases the charge. A charge left `charging` by a crash is released by the sweeper, which
//! also voids any hold placed for it; a request that finds its charge released after placing
//! its hold voids the hold itself. A charge is `captured` only while its mandate is still
//! active, so a revocation stops every hold not yet captured.

use purser_core::ledger::NewTransfer;
use purser_core::ledger::{AccountFlags, AccountId, LinkedOp, Op, Outcome};
use purser_core::mandate::{
    At, DateOrInstant, Evaluation, Failure, Mandate, PaymentRequest, Spent, Usage, ALL,
};
use purser_core::{Money, Timestamp};
use purser_store::db::{DbError, Expect, Row, Stmt};
use purser_store::vals;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::access::{Principal, Scope};
use crate::agents::AgentSummary;
use crate::error::{Found, Kind, Result, WalletError};
use crate::funds::{account_id, transfer_id, Shown};
use crate::ids::{self, check_id};
use crate::signed::AgentCaller;
use crate::Wallet;

/// A charge left `charging` this long is taken to belong to a crashed request.
pub const STALE_CHARGE_MS: i64 = 60_000;
/// Charges a crashed request left `charging` (mandate_charges_status).
pub const SQL_STALE_CHARGES: &str = "SELECT payment_id FROM mandate_charges WHERE status = 'charging' AND updated_at < $1 ORDER BY updated_at LIMIT 200";

/// Longest a mandate credential lives; a longer mandate is re-issued by consenting again.
pub const MAX_CREDENTIAL_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// Most mandates one user may keep (drafts included).
pub const MAX_MANDATES_PER_USER: i64 = 10_000;

const STATUSES: [&str; 6] = [
    "draft",
    "consented",
    "active",
    "exhausted",
    "expired",
    "revoked",
];

/// What is spent under a mandate so far.
#[derive(Clone, Debug, Serialize)]
pub struct MandateUsage {
    pub spent: Option<Shown>,
    pub payments: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_budget: Option<Shown>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_payments: Option<i64>,
}

/// The signed AP2 credentials issued at consent.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialInfo {
    /// Purser's ES256 key that signed them (in `/.well-known/jwks.json`).
    pub issuer_kid: String,
    /// The agent key named in `cnf`.
    pub agent_kid: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct MandateRecord {
    pub id: String,
    pub agent: AgentSummary,
    /// `draft`, `consented`, `active`, `exhausted`, `expired` or `revoked`.
    pub status: String,
    pub mandate: Mandate,
    /// The mandate in one plain sentence: what the user consents to.
    pub summary: String,
    /// SHA-256 (hex) of the mandate's JSON; consent names it, so a user consents to exactly
    /// what they read.
    pub content_hash: String,
    pub timezone: String,
    pub usage: MandateUsage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialInfo>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consented_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// Token Pay: what the schedule has charged and what is left (`crate::schedules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::schedules::ScheduleProgress>,
    /// The person the mandate belongs to (not shown: they are the only one who sees it).
    #[serde(skip)]
    pub owner: String,
}

/// A dry run: what would happen to this payment now.
#[derive(Clone, Debug, Serialize)]
pub struct Simulation {
    pub mandate_id: String,
    pub status: String,
    /// `allowed`, `needs_confirmation` or `declined`.
    pub outcome: &'static str,
    pub failures: Vec<Failure>,
    /// The buckets this payment would charge, with their ceilings.
    pub charge: purser_core::mandate::Charge,
    pub evaluated_at: String,
}

/// Public facts a verifier may ask for without signing in.
#[derive(Clone, Debug, Serialize)]
pub struct MandateStatus {
    pub id: String,
    /// `active`, `revoked`, `expired`, `exhausted`, `consented` — or `draft` (not in force).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    pub checked_at: String,
}

/// The AP2 open mandates issued at consent, for the agent to carry.
#[derive(Clone, Debug, Serialize)]
pub struct MandateCredentials {
    pub mandate_id: String,
    pub checkout: String,
    pub payment: String,
    pub issuer_kid: String,
    pub agent_kid: String,
    pub expires_at: String,
    /// Where verifiers find the issuer key.
    pub jwks_path: &'static str,
}

/// Where a reserved payment's money is held.
#[derive(Clone, Debug)]
pub struct HoldSpec {
    pub debit: AccountId,
    pub credit: AccountId,
    /// Flags the credit account is opened with if it is new.
    pub credit_flags: AccountFlags,
    pub timeout_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct StoredBucket {
    key: String,
    add: i64,
    counts: bool,
}

const COLUMNS: &str = "m.id, m.agent_id, a.name, a.operator, a.status, m.status, m.content, m.content_hash, m.timezone, m.issuer_kid, m.agent_kid, m.credential_expires_at, m.created_at, m.consented_at, m.revoked_at, m.revoked_reason, m.user_id";

fn select(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM mandates m JOIN agents a ON a.id = m.agent_id {filter}")
}

fn internal(what: &str) -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        format!("could not {what}"),
    )
}

/// SHA-256 hex of the mandate's canonical JSON (field order is the struct's).
pub fn content_hash(m: &Mandate) -> Result<String> {
    let json = serde_json::to_string(m).map_err(|_| internal("encode the mandate"))?;
    Ok(hex::encode(Sha256::digest(json.as_bytes())))
}

fn time_zone(name: &str) -> Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name).map_err(|_| {
        WalletError::invalid(
            "timezone_invalid",
            format!("'{name}' is not a time zone Purser knows; use an IANA name like Asia/Shanghai or America/New_York"),
            "mandate.when.timezone",
        )
    })
}

/// The instant with the zone's UTC offset at that instant.
pub fn at_in(zone: &str, instant: Timestamp) -> Result<At> {
    let tz = time_zone(zone)?;
    let ts = jiff::Timestamp::from_millisecond(instant.0).map_err(|_| {
        WalletError::invalid(
            "at_invalid",
            "that time is outside the range Purser can place in a time zone",
            "at",
        )
    })?;
    let offset = tz.to_offset(ts);
    Ok(At {
        instant,
        utc_offset_ms: i64::from(offset.seconds()) * 1000,
    })
}

/// The first instant after an inclusive end bound, in the zone.
pub(crate) fn end_instant(zone: &str, bound: DateOrInstant) -> Result<Timestamp> {
    match bound {
        DateOrInstant::Instant(t) => Ok(t),
        DateOrInstant::Date(d) => {
            let next = d
                .add_days(1)
                .ok_or_else(|| internal("compute an end date"))?;
            let tz = time_zone(zone)?;
            let month = i8::try_from(next.month()).map_err(|_| internal("compute an end date"))?;
            let day = i8::try_from(next.day()).map_err(|_| internal("compute an end date"))?;
            let year = i16::try_from(next.year()).map_err(|_| internal("compute an end date"))?;
            let zoned = jiff::civil::Date::new(year, month, day)
                .and_then(|d| d.to_zoned(tz))
                .map_err(|_| internal("compute an end date"))?;
            Ok(Timestamp(zoned.timestamp().as_millisecond()))
        }
    }
}

fn declined(e: &Evaluation) -> WalletError {
    let sentences: Vec<&str> = e.failures.iter().map(|f| f.message.as_str()).collect();
    let code = e.failures.first().map_or("mandate_declined", |f| f.code);
    WalletError::new(Kind::Unprocessable, code, sentences.join(" "))
}

/// What a draft created once per key derives its id from (`store_draft`).
#[derive(Clone, Copy)]
enum DraftKey<'a> {
    /// The one-time key of the web wallet's proposal form.
    Form(&'a str),
    /// The `Idempotency-Key` of `POST /v1/mandates`.
    Api(&'a str),
}

impl Wallet {
    fn mandate_from(&self, r: &Row, usage: &[(String, Usage)]) -> Result<MandateRecord> {
        let mandate: Mandate =
            serde_json::from_str(&r.text(6)?).map_err(|_| internal("read a stored mandate"))?;
        let timezone = r.text(8)?;
        let stored = r.text(5)?;
        let spent = Spent {
            buckets: usage.to_vec(),
        };
        let status = self.effective_status(&stored, &mandate, &timezone, &spent)?;
        let all = spent.get(ALL);
        let currency = mandate.currency();
        let h = &mandate.how_much;
        let usage = MandateUsage {
            spent: currency.map(|c| Money::new(all.amount, c).into()),
            payments: all.payments,
            remaining_budget: h
                .budget
                .map(|b| Money::new(b.minor.saturating_sub(all.amount).max(0), b.currency).into()),
            remaining_payments: [h.max_payments, mandate.when.recurrence.max_occurrences]
                .into_iter()
                .flatten()
                .min()
                .map(|n| i64::from(n).saturating_sub(all.payments).max(0)),
        };
        let credentials = match (r.opt_text(9)?, r.opt_text(10)?, r.opt_int(11)?) {
            (Some(issuer_kid), Some(agent_kid), Some(exp)) => Some(CredentialInfo {
                issuer_kid,
                agent_kid,
                expires_at: Timestamp(exp).to_rfc3339(),
            }),
            _ => None,
        };
        Ok(MandateRecord {
            id: r.text(0)?,
            agent: AgentSummary::from_row(r, 1)?,
            status,
            summary: mandate.summary(),
            mandate,
            content_hash: r.text(7)?,
            timezone,
            usage,
            credentials,
            created_at: Timestamp(r.int(12)?).to_rfc3339(),
            consented_at: r.opt_int(13)?.map(|t| Timestamp(t).to_rfc3339()),
            revoked_at: r.opt_int(14)?.map(|t| Timestamp(t).to_rfc3339()),
            revoked_reason: r.opt_text(15)?,
            schedule: None,
            owner: r.text(16)?,
        })
    }

    /// The status a person and a verifier see: the stored one, refined by time and use.
    fn effective_status(
        &self,
        stored: &str,
        m: &Mandate,
        zone: &str,
        spent: &Spent,
    ) -> Result<String> {
        if stored != "active" {
            return Ok(stored.to_string());
        }
        let now = self.now();
        if let Some(until) = m.when.valid_until {
            if now >= end_instant(zone, until)? {
                return Ok("expired".into());
            }
        }
        let all = spent.get(ALL);
        let h = &m.how_much;
        let count_cap = [h.max_payments, m.when.recurrence.max_occurrences]
            .into_iter()
            .flatten()
            .min();
        let budget_used = h.budget.is_some_and(|b| {
            let left = b.minor.saturating_sub(all.amount);
            left <= 0 || h.per_payment_min.is_some_and(|min| left < min.minor)
        });
        let items_used = !m.what.line_items.is_empty()
            && m.what.line_items.iter().enumerate().all(|(i, l)| {
                l.max_quantity
                    .is_some_and(|max| spent.get(&format!("item:{i}")).amount >= i64::from(max))
            });
        if budget_used || items_used || count_cap.is_some_and(|c| all.payments >= i64::from(c)) {
            return Ok("exhausted".into());
        }
        if let Some(from) = m.when.valid_from {
            let at = at_in(zone, now)?;
            let not_yet = match (from, at.local_date()) {
                (DateOrInstant::Date(d), Some(local)) => local < d,
                (DateOrInstant::Instant(t), _) => now < t,
                _ => false,
            };
            if not_yet {
                return Ok("consented".into());
            }
        }
        Ok("active".into())
    }

    async fn usage_of(&self, mandate_id: &str) -> Result<Vec<(String, Usage)>> {
        self.db
            .query(
                "SELECT bucket, amount, payments FROM mandate_usage WHERE mandate_id = $1",
                vals![mandate_id],
            )
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.text(0)?,
                    Usage {
                        amount: r.int(1)?,
                        payments: r.int(2)?,
                    },
                ))
            })
            .collect()
    }

    async fn mandate_row(&self, user_id: &str, id: &str) -> Result<Row> {
        self.db
            .query_opt(
                &select("WHERE m.id = $1 AND m.user_id = $2"),
                vals![id, user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("mandate", id))
    }

    pub(crate) async fn load_mandate(&self, user_id: &str, id: &str) -> Result<MandateRecord> {
        let row = self.mandate_row(user_id, id).await?;
        let usage = self.usage_of(id).await?;
        let mut rec = self.mandate_from(&row, &usage)?;
        rec.schedule = self.schedule_progress(&rec).await?;
        Ok(rec)
    }

    fn checked_content(m: &Mandate) -> Result<String> {
        m.validate().map_err(|e| {
            let field = e
                .problems
                .first()
                .map(|p| format!("mandate.{}", p.field))
                .unwrap_or_else(|| "mandate".into());
            WalletError::invalid("mandate_invalid", e.to_string(), &field)
        })?;
        let zone = m.when.timezone.as_deref().unwrap_or("UTC");
        time_zone(zone)?;
        Ok(zone.to_string())
    }

    /// A draft mandate for one of the user's bound agents.
    pub async fn create_mandate(
        &self,
        who: &Principal,
        agent_id: &str,
        m: Mandate,
    ) -> Result<MandateRecord> {
        self.store_draft(who, agent_id, m, None).await
    }

    /// [`Wallet::create_mandate`] once per `key` (the one-time key of the web wallet's proposal
    /// form): the draft's id is derived from the key, so the same form sent twice — a double
    /// click, Back and resend — stores one draft and answers that draft both times. The same key
    /// with another mandate or agent is refused (`mandate_key_reused`).
    pub async fn create_mandate_once(
        &self,
        who: &Principal,
        agent_id: &str,
        m: Mandate,
        key: &str,
    ) -> Result<MandateRecord> {
        crate::idempotency::check_key(key)?;
        self.store_draft(who, agent_id, m, Some(DraftKey::Form(key)))
            .await
    }

    /// [`Wallet::create_mandate`] under the `Idempotency-Key` of `POST /v1/mandates`: the
    /// draft's id is derived from the person, the route and the key, so a retry that re-runs
    /// the request (the first answer was lost in a crash before it was kept, or forgotten
    /// after a day) stores no second draft and answers the first. The same key with another
    /// mandate or agent is refused `idempotency_conflict` (422), as every route refuses a
    /// reused key.
    pub async fn create_mandate_idempotent(
        &self,
        who: &Principal,
        agent_id: &str,
        m: Mandate,
        idempotency_key: &str,
    ) -> Result<MandateRecord> {
        crate::idempotency::check_key(idempotency_key)?;
        self.store_draft(who, agent_id, m, Some(DraftKey::Api(idempotency_key)))
            .await
    }

    /// The draft stored under a derived id already, if it is this same mandate for this agent.
    async fn same_draft(
        &self,
        user_id: &str,
        id: &str,
        agent_id: &str,
        hash: &str,
        key: DraftKey<'_>,
    ) -> Result<MandateRecord> {
        let rec = self.load_mandate(user_id, id).await?;
        let same_content = ids::constant_time_eq(rec.content_hash.as_bytes(), hash.as_bytes());
        if same_content && rec.agent.id == agent_id {
            return Ok(rec);
        }
        Err(match key {
            DraftKey::Form(_) => WalletError::conflict(
                "mandate_key_reused",
                "this form was already sent with another mandate or agent; read the proposal again and send it as a new one",
            ),
            DraftKey::Api(_) => WalletError::new(
                Kind::Unprocessable,
                "idempotency_conflict",
                "this Idempotency-Key was already used with a different request body; use a new key for a new request",
            )
            .at("Idempotency-Key"),
        })
    }

    async fn store_draft(
        &self,
        who: &Principal,
        agent_id: &str,
        m: Mandate,
        key: Option<DraftKey<'_>>,
    ) -> Result<MandateRecord> {
        who.require(Scope::MandatesWrite)?;
        check_id("agt", agent_id, "agent_id")?;
        let zone = Self::checked_content(&m)?;
        let hash = content_hash(&m)?;
        let id = match key {
            Some(DraftKey::Form(k)) => ids::derived_id("mdt", &who.user_id, k),
            Some(DraftKey::Api(k)) => {
                ids::derived_id("mdt", &format!("{}|POST /v1/mandates", who.user_id), k)
            }
            None => ids::new_id("mdt")?,
        };
        if let Some(key) = key {
            // Sent before under this key: that draft is the answer.
            match self.mandate_row(&who.user_id, &id).await {
                Ok(_) => {
                    return self
                        .same_draft(&who.user_id, &id, agent_id, &hash, key)
                        .await
                }
                Err(e) if e.kind == Kind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // A store that could not answer is an error to retry, never "not bound" (a 400 would
        // be kept as this Idempotency-Key's answer).
        let binding = self
            .open_binding(agent_id, &who.user_id)
            .await
            .found()?
            .ok_or_else(|| {
                WalletError::invalid(
                    "agent_not_bound",
                    format!(
                        "agent {agent_id} is not bound to you; approve its binding request first"
                    ),
                    "agent_id",
                )
            })?;
        if binding.status != "active" {
            return Err(WalletError::invalid(
                "agent_not_bound",
                format!("agent {agent_id} asked to act for you but you have not approved it yet; approve the binding first"),
                "agent_id",
            ));
        }
        let count = self
            .db
            .query_opt(
                "SELECT COUNT(*) FROM mandates WHERE user_id = $1",
                vals![&who.user_id],
            )
            .await?
            .map_or(Ok(0), |r| r.int(0))?;
        if count >= MAX_MANDATES_PER_USER {
            return Err(WalletError::conflict(
                "too_many_mandates",
                "you have too many mandates; revoke ones you no longer need",
            ));
        }
        let content = serde_json::to_string(&m).map_err(|_| internal("encode the mandate"))?;
        let now = self.now().0;
        let stored = self
            .db
            .write(vec![Stmt::exec(
                "INSERT INTO mandates (id, user_id, agent_id, status, content, content_hash, timezone, created_at, updated_at) VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $7)",
                vals![&id, &who.user_id, agent_id, content, &hash, zone, now],
            )])
            .await;
        match (stored, key) {
            (Ok(_), _) => self.load_mandate(&who.user_id, &id).await,
            // The same key, sent at the same moment: the other request stored it.
            (Err(DbError::Conflict(_)), Some(key)) => {
                self.same_draft(&who.user_id, &id, agent_id, &hash, key)
                    .await
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Replace a draft's content (the user adjusting a proposal). Consented mandates are fixed.
    pub async fn update_mandate(
        &self,
        who: &Principal,
        id: &str,
        m: Mandate,
    ) -> Result<MandateRecord> {
        who.require(Scope::MandatesWrite)?;
        check_id("mdt", id, "id")?;
        let zone = Self::checked_content(&m)?;
        self.mandate_row(&who.user_id, id).await?;
        let content = serde_json::to_string(&m).map_err(|_| internal("encode the mandate"))?;
        let r = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE mandates SET content = $3, content_hash = $4, timezone = $5, updated_at = $6 WHERE id = $1 AND user_id = $2 AND status = 'draft'",
                vals![id, &who.user_id, content, content_hash(&m)?, zone, self.now().0],
            )
            .expect(Expect::One, "draft")])
            .await;
        match r {
            Ok(_) => self.load_mandate(&who.user_id, id).await,
            Err(DbError::Precondition(_)) => Err(WalletError::conflict(
                "mandate_not_draft",
                "only a draft can be changed; this mandate was already consented or revoked — create a new one",
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_mandates(
        &self,
        who: &Principal,
        status: Option<&str>,
    ) -> Result<Vec<MandateRecord>> {
        who.require(Scope::MandatesRead)?;
        if let Some(s) = status {
            if !STATUSES.contains(&s) {
                return Err(WalletError::invalid(
                    "status_invalid",
                    format!("status is one of {}", STATUSES.join(", ")),
                    "status",
                ));
            }
        }
        let rows = self
            .db
            .query(
                &select("WHERE m.user_id = $1 ORDER BY m.created_at DESC, m.id LIMIT 500"),
                vals![&who.user_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let usage = self.usage_of(&r.text(0)?).await?;
            let mut rec = self.mandate_from(r, &usage)?;
            rec.schedule = self.schedule_progress(&rec).await?;
            if status.is_none_or(|s| s == rec.status) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    pub async fn mandate(&self, who: &Principal, id: &str) -> Result<MandateRecord> {
        who.require(Scope::MandatesRead)?;
        check_id("mdt", id, "id")?;
        self.load_mandate(&who.user_id, id).await
    }

    /// The user consents to the draft whose content hash they read. Issues the AP2 open
    /// mandates (checkout and payment) to the agent's current key.
    pub async fn consent_mandate(
        &self,
        who: &Principal,
        id: &str,
        content_hash: &str,
        issuer: &str,
    ) -> Result<MandateRecord> {
        who.require(Scope::MandatesWrite)?;
        check_id("mdt", id, "id")?;
        let rec = self.load_mandate(&who.user_id, id).await?;
        if rec.status != "draft" {
            return Err(WalletError::conflict(
                "mandate_not_draft",
                format!(
                    "this mandate is {} already; only a draft can be consented to",
                    rec.status
                ),
            ));
        }
        if rec.content_hash != content_hash {
            return Err(WalletError::invalid(
                "content_changed",
                "the mandate is not the one you read (its content hash differs); read it again and consent to what it says now",
                "content_hash",
            ));
        }
        // A store that could not answer is an error to retry, never "no longer bound".
        let binding = self
            .open_binding(&rec.agent.id, &who.user_id)
            .await
            .found()?;
        if !binding.is_some_and(|b| b.status == "active" && !b.frozen) {
            return Err(WalletError::conflict(
                "agent_not_bound",
                "the agent is no longer bound to you (or is frozen); a mandate can only be given to an agent you trust now",
            ));
        }
        let now = self.now();
        let mut exp = now.0.saturating_add(MAX_CREDENTIAL_MS);
        if let Some(until) = rec.mandate.when.valid_until {
            exp = exp.min(end_instant(&rec.timezone, until)?.0);
        }
        if exp <= now.0 {
            return Err(WalletError::invalid(
                "mandate_expired",
                "this mandate's end date has passed; change it before consenting",
                "mandate.when.valid_until",
            ));
        }
        let schedule_start = self.schedule_start(&rec, now)?;
        let issued = self
            .issue_mandate_credentials(&rec, issuer, now, Timestamp(exp))
            .await?;
        let r = self
            .db
            .write(schedule_start.into_iter().chain([Stmt::exec(
                "UPDATE mandates SET status = 'active', consented_at = $4, updated_at = $4, issuer_kid = $5, agent_kid = $6, checkout_credential = $7, payment_credential = $8, credential_expires_at = $9 WHERE id = $1 AND user_id = $2 AND status = 'draft' AND content_hash = $3",
                vals![
                    id,
                    &who.user_id,
                    content_hash,
                    now.0,
                    issued.issuer_kid,
                    issued.agent_kid,
                    issued.checkout,
                    issued.payment,
                    exp
                ],
            )
            .expect(Expect::One, "draft")]).collect())
            .await;
        match r {
            Ok(_) => self.load_mandate(&who.user_id, id).await,
            Err(DbError::Precondition(_)) => Err(WalletError::conflict(
                "mandate_not_draft",
                "the mandate changed while you were consenting; read it again",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Revoke now: no new payment may rely on it, and no hold under it can be captured.
    pub async fn revoke_mandate(
        &self,
        who: &Principal,
        id: &str,
        reason: Option<&str>,
    ) -> Result<MandateRecord> {
        who.require(Scope::MandatesWrite)?;
        check_id("mdt", id, "id")?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = reason {
            if r.chars().count() > 500 || ids::has_hidden_chars(r, false) {
                return Err(WalletError::invalid(
                    "reason_invalid",
                    "say why in at most 500 characters of plain text",
                    "reason",
                ));
            }
        }
        self.mandate_row(&who.user_id, id).await?;
        let r = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE mandates SET status = 'revoked', revoked_at = $3, revoked_reason = $4, updated_at = $3 WHERE id = $1 AND user_id = $2 AND status IN ('draft', 'active')",
                vals![id, &who.user_id, self.now().0, reason],
            )
            .expect(Expect::One, "revocable")])
            .await;
        match r {
            Ok(_) => self.load_mandate(&who.user_id, id).await,
            Err(DbError::Precondition(_)) => Err(WalletError::conflict(
                "mandate_revoked",
                "this mandate is already revoked",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Status for verifiers (public: mandate ids are unguessable, and the answer holds only
    /// the status).
    pub async fn mandate_status(&self, id: &str) -> Result<MandateStatus> {
        check_id("mdt", id, "id")?;
        let r = self
            .db
            .query_opt(&select("WHERE m.id = $1"), vals![id])
            .await?
            .ok_or_else(|| WalletError::not_found("mandate", id))?;
        let usage = self.usage_of(id).await?;
        let rec = self.mandate_from(&r, &usage)?;
        Ok(MandateStatus {
            id: rec.id,
            status: rec.status,
            revoked_at: rec.revoked_at,
            checked_at: self.now().to_rfc3339(),
        })
    }

    /// The AP2 credentials issued at consent.
    pub async fn mandate_credentials(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<MandateCredentials> {
        who.require(Scope::MandatesRead)?;
        check_id("mdt", id, "id")?;
        let r = self
            .db
            .query_opt(
                &format!("{CREDENTIAL_COLUMNS} WHERE id = $1 AND user_id = $2"),
                vals![id, &who.user_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("mandate", id))?;
        credentials_from(&r, id)
    }

    /// The AP2 credentials of a mandate given to this agent, for it to close when it pays
    /// (`POST /v1/agent/payments` with `ap2`). Only while the agent is bound to the user.
    pub async fn agent_mandate_credentials(
        &self,
        agent: &AgentCaller,
        id: &str,
    ) -> Result<MandateCredentials> {
        check_id("mdt", id, "id")?;
        let r = self
            .db
            .query_opt(
                &format!("{CREDENTIAL_COLUMNS} WHERE id = $1 AND agent_id = $2"),
                vals![id, &agent.agent_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("mandate", id))?;
        self.agent_for_user(agent, &r.text(6)?).await?;
        credentials_from(&r, id)
    }

    /// Dry-run a payment against a mandate now (or at `at`), without charging anything.
    pub async fn simulate_mandate(
        &self,
        who: &Principal,
        id: &str,
        req: &PaymentRequest,
        at: Option<Timestamp>,
    ) -> Result<Simulation> {
        who.require(Scope::MandatesRead)?;
        check_id("mdt", id, "id")?;
        let rec = self.load_mandate(&who.user_id, id).await?;
        self.simulate_record(rec, req, at).await
    }

    /// The mandates `user_id` gave the calling agent, newest first (the agent's view, while
    /// its binding to the user is active and not frozen).
    pub async fn agent_mandates(
        &self,
        agent: &AgentCaller,
        user_id: &str,
    ) -> Result<Vec<MandateRecord>> {
        self.agent_for_user(agent, user_id).await?;
        let rows = self
            .db
            .query(
                &select("WHERE m.user_id = $1 AND m.agent_id = $2 ORDER BY m.created_at DESC, m.id LIMIT 500"),
                vals![user_id, &agent.agent_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let usage = self.usage_of(&r.text(0)?).await?;
            let mut rec = self.mandate_from(r, &usage)?;
            rec.schedule = self.schedule_progress(&rec).await?;
            out.push(rec);
        }
        Ok(out)
    }

    /// [`Wallet::simulate_mandate`] for the agent the mandate was given to, while its binding
    /// to the mandate's user is active and not frozen.
    pub async fn simulate_for_agent(
        &self,
        agent: &AgentCaller,
        id: &str,
        req: &PaymentRequest,
        at: Option<Timestamp>,
    ) -> Result<Simulation> {
        check_id("mdt", id, "id")?;
        let user_id = self
            .db
            .query_opt(
                "SELECT user_id FROM mandates WHERE id = $1 AND agent_id = $2",
                vals![id, &agent.agent_id],
            )
            .await?
            .ok_or_else(|| WalletError::not_found("mandate", id))?
            .text(0)?;
        self.agent_for_user(agent, &user_id).await?;
        let rec = self.load_mandate(&user_id, id).await?;
        self.simulate_record(rec, req, at).await
    }

    async fn simulate_record(
        &self,
        rec: MandateRecord,
        req: &PaymentRequest,
        at: Option<Timestamp>,
    ) -> Result<Simulation> {
        let usage = self.usage_of(&rec.id).await?;
        let when = at.unwrap_or_else(|| self.now());
        let mut e =
            rec.mandate
                .evaluate(req, at_in(&rec.timezone, when)?, &Spent { buckets: usage });
        if let Some(f) = status_failure(&rec.status) {
            e.failures.insert(0, f);
        }
        Ok(Simulation {
            mandate_id: rec.id,
            status: rec.status,
            outcome: outcome(&e),
            failures: e.failures,
            charge: e.charge,
            evaluated_at: when.to_rfc3339(),
        })
    }

    /// Charge a payment to a mandate: evaluate, then take the buckets with conditional
    /// updates in one transaction. The charge is keyed by `payment_id`: a retry with the same
    /// request returns the same decision, another request under that id is refused. Returns
    /// the evaluation; when it has failures nothing was charged.
    pub async fn charge_mandate(
        &self,
        user_id: &str,
        agent_id: &str,
        mandate_id: &str,
        payment_id: &str,
        req: &PaymentRequest,
    ) -> Result<Evaluation> {
        self.charge_mandate_at(user_id, agent_id, mandate_id, payment_id, req, None)
            .await
    }

    /// `charge_mandate` for a Token Pay occurrence (`scheduled`): the mandate's constraints
    /// are evaluated as of its due time instead of now (an occurrence charged late is judged
    /// in its own period), and the charge is written only while the occurrence is still
    /// `scheduled` — checked after the mandate row is locked, as the scheduler's write that
    /// records an occurrence missed locks it first, so the two never both succeed. The
    /// mandate's status (revoked, expired, exhausted) is always read as of now.
    pub(crate) async fn charge_mandate_at(
        &self,
        user_id: &str,
        agent_id: &str,
        mandate_id: &str,
        payment_id: &str,
        req: &PaymentRequest,
        scheduled: Option<crate::schedules::ScheduledAt>,
    ) -> Result<Evaluation> {
        let as_of = scheduled.map(|s| s.due_at);
        check_id("mdt", mandate_id, "mandate_id")?;
        let request_hash = {
            let body = serde_json::to_vec(req).map_err(|_| internal("encode the payment"))?;
            self.request_hash(&body)
        };
        if self
            .replayed_charge(payment_id, mandate_id, &request_hash)
            .await?
        {
            return self.replayed_answer(user_id, mandate_id, req).await;
        }
        // Retried when a concurrent charge changed the buckets between read and write.
        for _ in 0..3 {
            let rec = self.load_mandate(user_id, mandate_id).await?;
            if rec.agent.id != agent_id {
                return Err(WalletError::not_found("mandate", mandate_id));
            }
            // The store could not answer: an error to retry, never a recorded decline.
            let binding = self.open_binding(agent_id, user_id).await.found()?;
            if !binding.is_some_and(|b| b.status == "active" && !b.frozen) {
                return Err(WalletError::forbidden(
                    "agent_frozen",
                    "the user froze this agent or ended its binding; it cannot pay for them now",
                ));
            }
            // A recurring mandate is charged by Purser on its schedule, never by the agent.
            if rec.mandate.schedule.is_some() && as_of.is_none() {
                return Ok(Evaluation {
                    failures: vec![Failure {
                        code: "mandate_scheduled",
                        message: "This mandate is charged by Purser on its schedule (Token Pay); an agent cannot pay under it.".into(),
                    }],
                    needs_confirmation: false,
                    charge: purser_core::mandate::Charge::default(),
                });
            }
            let usage = self.usage_of(mandate_id).await?;
            let now = self.now();
            let mut e = rec.mandate.evaluate(
                req,
                at_in(&rec.timezone, as_of.unwrap_or(now))?,
                &Spent { buckets: usage },
            );
            if let Some(f) = status_failure(&rec.status) {
                e.failures.insert(0, f);
            }
            if !e.allowed() {
                return Ok(e);
            }
            let stored: Vec<StoredBucket> = e
                .charge
                .buckets
                .iter()
                .map(|b| StoredBucket {
                    key: b.key.clone(),
                    add: b.add,
                    counts: b.counts_payment,
                })
                .collect();
            let buckets =
                serde_json::to_string(&stored).map_err(|_| internal("encode the charge"))?;
            let mut stmts = vec![Stmt::exec(
                "UPDATE mandates SET charges = charges + 1 WHERE id = $1 AND status = 'active'",
                vals![mandate_id],
            )
            .expect(Expect::One, "mandate_active")];
            if let Some(sc) = scheduled {
                stmts.push(
                    Stmt::exec(
                        "UPDATE scheduled_charges SET updated_at = updated_at WHERE mandate_id = $1 AND occurrence = $2 AND status = 'scheduled'",
                        vals![mandate_id, i64::from(sc.occurrence)],
                    )
                    .expect(Expect::One, "occurrence_open"),
                );
            }
            stmts.push(Stmt::exec(
                "INSERT INTO mandate_charges (payment_id, mandate_id, user_id, amount, currency, buckets, request_hash, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'charging', $8, $8)",
                vals![
                    payment_id,
                    mandate_id,
                    user_id,
                    req.amount.minor,
                    req.amount.currency.code(),
                    buckets,
                    &request_hash,
                    now.0
                ],
            ));
            for b in &e.charge.buckets {
                stmts.push(Stmt::exec(
                    "INSERT INTO mandate_usage (mandate_id, bucket, amount, payments) VALUES ($1, $2, 0, 0) ON CONFLICT DO NOTHING",
                    vals![mandate_id, &b.key],
                ));
                let counts = i64::from(b.counts_payment);
                stmts.push(
                    Stmt::exec(
                        "UPDATE mandate_usage SET amount = amount + $3, payments = payments + $4 WHERE mandate_id = $1 AND bucket = $2 AND amount + $3 <= $5 AND payments + $4 <= $6",
                        vals![
                            mandate_id,
                            &b.key,
                            b.add,
                            counts,
                            b.max_amount.unwrap_or(i64::MAX),
                            b.max_payments.unwrap_or(i64::MAX)
                        ],
                    )
                    .expect(Expect::One, "bucket_ceiling"),
                );
            }
            match self.db.write(stmts).await {
                Ok(_) => return Ok(e),
                Err(DbError::Precondition("bucket_ceiling")) => continue,
                Err(DbError::Precondition("occurrence_open")) => {
                    return Err(WalletError::conflict(
                        crate::schedules::MISSED_CODE,
                        "this scheduled charge was recorded missed (found more than the catch-up window after it was due); nothing was charged",
                    ))
                }
                Err(DbError::Precondition(_)) => {
                    return Err(WalletError::conflict(
                        "mandate_not_active",
                        "this mandate was revoked or ended just now; no payment can rely on it",
                    ))
                }
                Err(DbError::Conflict(_)) => {
                    if self
                        .replayed_charge(payment_id, mandate_id, &request_hash)
                        .await?
                    {
                        return self.replayed_answer(user_id, mandate_id, req).await;
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(WalletError::new(
            Kind::Unavailable,
            "mandate_busy",
            "many payments are being charged to this mandate at once; retry in a moment",
        ))
    }

    /// The answer to a retried charge: it passed, and the confirmation policy says again
    /// whether the person must confirm.
    async fn replayed_answer(
        &self,
        user_id: &str,
        mandate_id: &str,
        req: &PaymentRequest,
    ) -> Result<Evaluation> {
        let rec = self.load_mandate(user_id, mandate_id).await?;
        Ok(Evaluation {
            failures: Vec::new(),
            needs_confirmation: rec.mandate.confirmation.needs_confirmation(req.amount),
            charge: purser_core::mandate::Charge::default(),
        })
    }

    /// Whether this payment id was charged already with this same request.
    async fn replayed_charge(
        &self,
        payment_id: &str,
        mandate_id: &str,
        request_hash: &str,
    ) -> Result<bool> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT mandate_id, request_hash, status FROM mandate_charges WHERE payment_id = $1",
                vals![payment_id],
            )
            .await?
        else {
            return Ok(false);
        };
        if r.text(0)? != mandate_id || r.text(1)? != request_hash {
            return Err(WalletError::conflict(
                "payment_id_reused",
                "this payment id was already used for a different payment; use a new Idempotency-Key",
            ));
        }
        let status = r.text(2)?;
        if status == "released" {
            return Err(WalletError::conflict(
                "payment_released",
                "this payment was already released from its mandate; start a new payment",
            ));
        }
        Ok(true)
    }

    /// Give a charge's spending back to its mandate (the payment did not happen). Once only.
    pub async fn release_mandate_charge(&self, payment_id: &str) -> Result<bool> {
        self.release_charge(payment_id, false).await
    }

    /// Release a charge even if it was marked captured: for a payment that ends without its
    /// money moving (its capture's ledger post failed for good).
    pub(crate) async fn release_uncaptured_charge(&self, payment_id: &str) -> Result<bool> {
        self.release_charge(payment_id, true).await
    }

    async fn release_charge(&self, payment_id: &str, captured_too: bool) -> Result<bool> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT mandate_id, buckets FROM mandate_charges WHERE payment_id = $1 AND (status IN ('charging', 'held') OR (status = 'captured' AND $2 = 1))",
                vals![payment_id, i64::from(captured_too)],
            )
            .await?
        else {
            return Ok(false);
        };
        let mandate_id = r.text(0)?;
        let buckets: Vec<StoredBucket> =
            serde_json::from_str(&r.text(1)?).map_err(|_| internal("read a stored charge"))?;
        let mut stmts = vec![Stmt::exec(
            "UPDATE mandate_charges SET status = 'released', updated_at = $2 WHERE payment_id = $1 AND (status IN ('charging', 'held') OR (status = 'captured' AND $3 = 1))",
            vals![payment_id, self.now().0, i64::from(captured_too)],
        )
        .expect(Expect::One, "unreleased")];
        for b in &buckets {
            stmts.push(
                Stmt::exec(
                    "UPDATE mandate_usage SET amount = amount - $3, payments = payments - $4 WHERE mandate_id = $1 AND bucket = $2",
                    vals![&mandate_id, &b.key, b.add, i64::from(b.counts)],
                )
                .expect(Expect::One, "bucket"),
            );
        }
        match self.db.write(stmts).await {
            Ok(_) => Ok(true),
            Err(DbError::Precondition(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A capture took less than was charged: give the difference back to the mandate's
    /// amount buckets (lifetime, day, week, month, year; item buckets count quantities and
    /// stay). Once only: the charge's amount is lowered in the same write, guarded.
    pub(crate) async fn shrink_mandate_charge(
        &self,
        payment_id: &str,
        captured: i64,
    ) -> Result<()> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT mandate_id, buckets, amount FROM mandate_charges WHERE payment_id = $1",
                vals![payment_id],
            )
            .await?
        else {
            return Ok(());
        };
        let delta = r.int(2)?.saturating_sub(captured);
        if delta <= 0 {
            return Ok(());
        }
        let mandate_id = r.text(0)?;
        let buckets: Vec<StoredBucket> =
            serde_json::from_str(&r.text(1)?).map_err(|_| internal("read a stored charge"))?;
        let shrunk: Vec<StoredBucket> = buckets
            .iter()
            .map(|b| StoredBucket {
                key: b.key.clone(),
                add: if b.key.starts_with("item:") {
                    b.add
                } else {
                    b.add.saturating_sub(delta)
                },
                counts: b.counts,
            })
            .collect();
        let mut stmts = vec![Stmt::exec(
            "UPDATE mandate_charges SET amount = $2, buckets = $3, updated_at = $4 WHERE payment_id = $1 AND amount > $2",
            vals![
                payment_id,
                captured,
                serde_json::to_string(&shrunk).map_err(|_| internal("encode the charge"))?,
                self.now().0
            ],
        )
        .expect(Expect::One, "unshrunk")];
        for b in buckets.iter().filter(|b| !b.key.starts_with("item:")) {
            stmts.push(Stmt::exec(
                "UPDATE mandate_usage SET amount = amount - $3 WHERE mandate_id = $1 AND bucket = $2",
                vals![&mandate_id, &b.key, delta],
            ));
        }
        match self.db.write(stmts).await {
            Ok(_) | Err(DbError::Precondition(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Mark a charge's hold as placed. `false` when the charge was released meanwhile (the
    /// caller must then void its hold).
    async fn mark_charge_held(&self, payment_id: &str) -> Result<bool> {
        let r = self
            .db
            .write(vec![Stmt::exec(
                "UPDATE mandate_charges SET status = 'held', updated_at = $2 WHERE payment_id = $1 AND status IN ('charging', 'held')",
                vals![payment_id, self.now().0],
            )
            .expect(Expect::One, "charging")])
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(DbError::Precondition(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Allow the capture of a held payment: only while its mandate is still active, so a
    /// revocation stops holds not yet captured.
    pub async fn capture_mandate_charge(&self, payment_id: &str) -> Result<()> {
        let r = self
            .db
            .write(vec![
                // Locks the mandate row (PostgreSQL), so a revocation and a capture cannot
                // both succeed.
                Stmt::exec(
                    "UPDATE mandates SET charges = charges WHERE status = 'active' AND id = (SELECT mandate_id FROM mandate_charges WHERE payment_id = $1)",
                    vals![payment_id],
                )
                .expect(Expect::One, "capturable"),
                Stmt::exec(
                    "UPDATE mandate_charges SET status = 'captured', updated_at = $2 WHERE payment_id = $1 AND status = 'held'",
                    vals![payment_id, self.now().0],
                )
                .expect(Expect::One, "capturable"),
            ])
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(DbError::Precondition(_)) => Err(WalletError::conflict(
                "mandate_not_active",
                "this payment's mandate was revoked (or the payment was released) before capture; the hold must be voided",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Charge the mandate and hold the money in the ledger, both or neither (see the module
    /// documentation). Returns the evaluation; on failures nothing is charged or held.
    #[allow(clippy::too_many_arguments)]
    pub async fn reserve_under_mandate(
        &self,
        user_id: &str,
        agent_id: &str,
        mandate_id: &str,
        payment_id: &str,
        req: &PaymentRequest,
        hold: &HoldSpec,
    ) -> Result<Evaluation> {
        self.reserve_under_mandate_at(user_id, agent_id, mandate_id, payment_id, req, hold, None)
            .await
    }

    /// `reserve_under_mandate` for a Token Pay occurrence (see `charge_mandate_at`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn reserve_under_mandate_at(
        &self,
        user_id: &str,
        agent_id: &str,
        mandate_id: &str,
        payment_id: &str,
        req: &PaymentRequest,
        hold: &HoldSpec,
        scheduled: Option<crate::schedules::ScheduledAt>,
    ) -> Result<Evaluation> {
        let e = self
            .charge_mandate_at(user_id, agent_id, mandate_id, payment_id, req, scheduled)
            .await?;
        if !e.allowed() {
            return Ok(e);
        }
        let placed = self.place_hold(payment_id, req.amount, hold).await;
        if let Err(err) = placed {
            // The hold may exist if the answer was lost after the commit.
            self.void_payment_hold(payment_id).await?;
            self.release_mandate_charge(payment_id).await?;
            return Err(err);
        }
        if !self.mark_charge_held(payment_id).await? {
            self.void_payment_hold(payment_id).await?;
            return Err(WalletError::conflict(
                "payment_released",
                "this payment was released while its money was being held; start a new payment",
            ));
        }
        Ok(e)
    }

    async fn place_hold(&self, payment_id: &str, amount: Money, hold: &HoldSpec) -> Result<()> {
        self.ensure_account(hold.credit.clone(), amount.currency, hold.credit_flags)
            .await?;
        let op = Op::Hold {
            transfer: NewTransfer {
                id: transfer_id(&format!("hold:{payment_id}"))?,
                debit_account_id: hold.debit.clone(),
                credit_account_id: hold.credit.clone(),
                amount: amount.minor,
                currency: amount.currency,
            },
            timeout_ms: hold.timeout_ms,
        };
        match self
            .ledger
            .submit(vec![LinkedOp { op, linked: false }])
            .await?
            .into_iter()
            .next()
        {
            Some(Ok(Outcome::Transfer { .. })) => Ok(()),
            Some(Ok(_)) | None => Err(internal("hold the payment's money")),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// Void the hold placed for a payment, if there is one still pending.
    pub async fn void_payment_hold(&self, payment_id: &str) -> Result<()> {
        let pending = transfer_id(&format!("hold:{payment_id}"))?;
        if self.ledger.transfer(&pending).await?.is_none() {
            return Ok(());
        }
        let op = Op::Void {
            id: transfer_id(&format!("void:{payment_id}"))?,
            pending_id: pending,
        };
        match self
            .ledger
            .submit(vec![LinkedOp { op, linked: false }])
            .await?
            .into_iter()
            .next()
        {
            Some(Ok(_)) => Ok(()),
            // Already posted, voided or expired: nothing left to release.
            Some(Err(e)) if e.code().starts_with("hold_") => Ok(()),
            Some(Err(e)) => Err(e.into()),
            None => Err(internal("void the payment's hold")),
        }
    }

    /// Release charges a crashed request left `charging`, and void their holds.
    pub(crate) async fn sweep_stale_charges(&self) -> Result<usize> {
        let cutoff = self.now().0.saturating_sub(STALE_CHARGE_MS);
        let rows = self.db.query(SQL_STALE_CHARGES, vals![cutoff]).await?;
        let mut n = 0;
        for r in &rows {
            let payment_id = r.text(0)?;
            // Void first: a crash between the two leaves the charge `charging`, so the next
            // sweep comes back (voiding again is harmless).
            if let Err(e) = self.void_payment_hold(&payment_id).await {
                tracing::warn!(error = %e, payment = %payment_id, "could not void an interrupted payment's hold");
                continue;
            }
            if self.release_mandate_charge(&payment_id).await? {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A failure for a mandate not in force, placed before the constraint failures.
fn status_failure(status: &str) -> Option<Failure> {
    let (code, message) = match status {
        "active" => return None,
        "draft" => (
            "mandate_not_consented",
            "This mandate is a draft: the user has not consented to it yet.",
        ),
        "consented" => ("mandate_not_yet_valid", "This mandate has not started yet."),
        "revoked" => ("mandate_revoked", "The user revoked this mandate."),
        "expired" => ("mandate_expired", "This mandate has ended."),
        "exhausted" => (
            "mandate_exhausted",
            "This mandate is used up: its budget, payments or items are spent.",
        ),
        _ => ("mandate_not_active", "This mandate is not in force."),
    };
    Some(Failure {
        code,
        message: message.into(),
    })
}

fn outcome(e: &Evaluation) -> &'static str {
    if !e.allowed() {
        "declined"
    } else if e.needs_confirmation {
        "needs_confirmation"
    } else {
        "allowed"
    }
}

/// The HTTP-facing refusal for an evaluation with failures: 422 with the first failure's
/// code and every sentence.
pub fn refusal(e: &Evaluation) -> WalletError {
    declined(e)
}

/// A ledger account where held agent payments wait (before issue 5's merchant accounts).
pub fn holding_account(currency: purser_core::Currency) -> Result<AccountId> {
    account_id(&format!("holds:agent-payments:{}", currency.code()))
}

/// What consent issues: the two AP2 open mandates and the keys involved.
pub(crate) struct Issued {
    pub issuer_kid: String,
    pub agent_kid: String,
    pub checkout: String,
    pub payment: String,
}

impl Wallet {
    /// The agent's newest active key: the `cnf` of the credentials.
    async fn agent_cnf(&self, agent_id: &str) -> Result<(String, serde_json::Value)> {
        let r = self
            .db
            .query_opt(
                "SELECT thumbprint, jwk FROM agent_keys WHERE agent_id = $1 AND status = 'active' ORDER BY created_at DESC LIMIT 1",
                vals![agent_id],
            )
            .await?
            .ok_or_else(|| {
                WalletError::conflict(
                    "agent_has_no_key",
                    "the agent has no active key to bind the mandate to; its developer must register one",
                )
            })?;
        let jwk = serde_json::from_str(&r.text(1)?).map_err(|_| internal("read an agent key"))?;
        Ok((r.text(0)?, jwk))
    }

    async fn issue_mandate_credentials(
        &self,
        rec: &MandateRecord,
        issuer: &str,
        now: Timestamp,
        exp: Timestamp,
    ) -> Result<Issued> {
        let (agent_kid, agent_jwk) = self.agent_cnf(&rec.agent.id).await?;
        let (issuer_kid, signer) = self.active_es256().await?;
        let offset = at_in(&rec.timezone, now)?.utc_offset_ms / 1000;
        let ctx = purser_ap2::OpenContext {
            mandate_id: rec.id.clone(),
            issuer: issuer.to_string(),
            agent_jwk,
            iat: now.0.div_euclid(1000),
            max_exp: exp.0.div_euclid(1000),
            timezone: rec.timezone.clone(),
            utc_offset_secs: i32::try_from(offset).map_err(|_| internal("read the time zone"))?,
        };
        let creds = purser_ap2::issue_open_mandates(
            &signer,
            &rec.mandate,
            &ctx,
            &mut purser_ap2::random_salt,
        )
        .map_err(|e| {
            tracing::error!(error = %e, mandate = %rec.id, "issuing mandate credentials failed");
            WalletError::new(
                Kind::Unprocessable,
                "credential_not_issued",
                format!("Purser could not sign this mandate as an AP2 credential: {e}"),
            )
        })?;
        Ok(Issued {
            issuer_kid,
            agent_kid,
            checkout: creds.checkout,
            payment: creds.payment,
        })
    }
}

impl Wallet {
    /// Consent with the person's PIN instead of a passkey (the web wallet's fallback): the
    /// wallet's one PIN check, lockout included — a wrong PIN counts like one typed on the
    /// sign-in or confirmation page of the same browser (`device`: its device cookie, if any)
    /// — then the same consent as [`Wallet::consent_mandate`], to exactly `content_hash`.
    pub async fn consent_mandate_with_pin(
        &self,
        who: &Principal,
        id: &str,
        content_hash: &str,
        issuer: &str,
        pin: &str,
        device: Option<&str>,
    ) -> Result<MandateRecord> {
        who.require(Scope::MandatesWrite)?;
        check_id("mdt", id, "id")?;
        self.check_pin(&who.user_id, pin, crate::pins::PinFrom::Browser(device))
            .await?;
        self.consent_mandate(who, id, content_hash, issuer).await
    }
}

/// The columns [`credentials_from`] reads.
const CREDENTIAL_COLUMNS: &str = "SELECT checkout_credential, payment_credential, issuer_kid, agent_kid, credential_expires_at, status, user_id FROM mandates";

fn credentials_from(r: &Row, id: &str) -> Result<MandateCredentials> {
    match (
        r.opt_text(0)?,
        r.opt_text(1)?,
        r.opt_text(2)?,
        r.opt_text(3)?,
        r.opt_int(4)?,
    ) {
        (Some(checkout), Some(payment), Some(issuer_kid), Some(agent_kid), Some(exp)) => {
            Ok(MandateCredentials {
                mandate_id: id.to_string(),
                checkout,
                payment,
                issuer_kid,
                agent_kid,
                expires_at: Timestamp(exp).to_rfc3339(),
                jwks_path: "/.well-known/jwks.json",
            })
        }
        _ => Err(WalletError::conflict(
            "mandate_not_consented",
            "this mandate has no credentials yet; they are issued when the person consents to it",
        )),
    }
}
