//! Token Pay: recurring mandates that Purser charges on schedule without the agent
//! (docs/token-pay.md). The wallet services run over a real database with a manual clock;
//! `run_schedules` is what `purser serve` runs every few seconds, called here after moving
//! the clock — no test sleeps.

use std::sync::Arc;

use purser_core::mandate::{
    recurring_mandate, DateOrInstant, Frequency, RecurringRequest, Schedule,
};
use purser_core::{Clock, Currency, ManualClock, Money, Timestamp};
use purser_store::{vals, Ledger, StoreConfig};
use purser_wallet::evidence::verify::verify_bundle;
use purser_wallet::merchants::NewMerchant;
use purser_wallet::schedules::RunReport;
use purser_wallet::Wallet;
use serde_json::Value;

use crate::both;
use crate::mandates::{fixture, open_wallet_at, runtime, Fixture};
use crate::people::{cny, unique};
use crate::support::{Storage, TempDir};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn store_of(storage: &Storage, dir: &TempDir) -> StoreConfig {
    match storage {
        Storage::Sqlite => StoreConfig::sqlite_in(dir.path()),
        Storage::Postgres(db) => StoreConfig::Postgres {
            url: db.url.clone(),
        },
    }
}

struct Plan {
    amount: i64,
    frequency: Frequency,
    max: Option<u32>,
    lead_hours: u32,
}

/// A consented recurring mandate for the fixture's agent: `amount` (minor CNY) to a new
/// merchant, first charge `first`. Returns (mandate id, merchant id).
async fn recurring(w: &Wallet, f: &Fixture, first: Timestamp, p: &Plan) -> (String, String) {
    let m = w
        .create_merchant(&NewMerchant {
            name: "Token Forge".into(),
            website: format!("{}.example", unique("tokens")),
            ..NewMerchant::default()
        })
        .await
        .expect("merchant");
    let mid = m.merchant.id.clone();
    let mandate = recurring_mandate(RecurringRequest {
        description: "Model tokens".into(),
        schedule: Schedule {
            merchant_id: mid.clone(),
            amount: Money::new(p.amount, Currency::CNY),
            first_charge_at: DateOrInstant::Instant(first),
            funding_source: None,
            reminder_lead_seconds: Some(p.lead_hours * 3600),
            description: Some("Model tokens top-up".into()),
        },
        frequency: p.frequency,
        max_occurrences: p.max,
        valid_until: None,
    });
    let d = w
        .create_mandate(&f.user, &f.agent_id, mandate)
        .await
        .expect("draft");
    assert_eq!(d.status, "draft");
    let s = d.schedule.as_ref().expect("schedule shown on the draft");
    assert_eq!(s.state, "awaiting_consent");
    let c = w
        .consent_mandate(&f.user, &d.id, &d.content_hash, "http://127.0.0.1:7420")
        .await
        .expect("consent");
    assert_eq!(c.status, "active");
    (c.id, mid)
}

async fn available(w: &Wallet, f: &Fixture) -> i64 {
    w.wallet(&f.user)
        .await
        .expect("wallet")
        .balances
        .iter()
        .find(|b| b.currency == "CNY")
        .map_or(0, |b| b.available.amount)
}

/// What the merchant's ledger account received (posted).
async fn merchant_posted(ledger: &Ledger, mid: &str) -> i64 {
    let id = purser_core::ledger::AccountId::parse(&format!("merchant:{mid}:CNY")).expect("id");
    ledger
        .account(&id)
        .await
        .expect("account")
        .map_or(0, |a| a.credits_posted)
}

async fn count(w: &Wallet, sql: &str, mandate: &str) -> i64 {
    w.db()
        .query_opt(sql, vals![mandate])
        .await
        .expect("query")
        .map_or(0, |r| r.int(0).expect("int"))
}

async fn upcoming(w: &Wallet, mandate: &str) -> i64 {
    count(
        w,
        "SELECT COUNT(*) FROM events WHERE type = 'payment.upcoming' AND task_id = 'schedule:' || $1",
        mandate,
    )
    .await
}

async fn captured_payments(w: &Wallet, mandate: &str) -> i64 {
    count(
        w,
        "SELECT COUNT(*) FROM payments WHERE mandate_id = $1 AND status = 'captured' AND origin = 'schedule'",
        mandate,
    )
    .await
}

async fn run(w: &Wallet) -> RunReport {
    w.run_schedules().await.expect("scheduler run")
}

/// The fixture's own coffee mandate is not involved: each test makes its recurring one.
async fn setup(
    storage: &Storage,
    dir: &TempDir,
    funds: i64,
) -> (Arc<ManualClock>, Arc<Ledger>, Wallet, Fixture) {
    let store = store_of(storage, dir);
    let clock = Arc::new(ManualClock::new(Timestamp(now_ms())));
    let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
    let f = fixture(&w, funds).await;
    (clock, ledger, w, f)
}

both!(
    occurrences_charge_on_schedule_once_each_with_a_reminder,
    |storage| {
        let dir = TempDir::new("tokenpay-schedule");
        runtime().block_on(async {
            let (clock, ledger, w, f) = setup(&storage, &dir, 100_000).await;
            let t0 = clock.now();
            let first = Timestamp(t0.0 + 2 * DAY);
            let plan = Plan {
                amount: 20_000,
                frequency: Frequency::Monthly,
                max: Some(3),
                lead_hours: 24,
            };
            let (mdt, mid) = recurring(&w, &f, first, &plan).await;
            let sched = purser_core::mandate::Schedule {
                merchant_id: mid.clone(),
                amount: Money::new(20_000, Currency::CNY),
                first_charge_at: DateOrInstant::Instant(first),
                funding_source: None,
                reminder_lead_seconds: None,
                description: None,
            };
            let due = |n| sched.due_at(Frequency::Monthly, n).expect("due");

            // Nothing before the reminder's time.
            assert_eq!(run(&w).await, RunReport::default());
            let rec = w.mandate(&f.user, &mdt).await.expect("mandate");
            let s = rec.schedule.expect("schedule");
            assert_eq!(s.state, "active");
            assert_eq!((s.charged, s.remaining), (0, Some(3)));
            assert_eq!(s.next_charge_at, Some(first.to_rfc3339()));

            // The reminder, once, a day before.
            clock.set(Timestamp(first.0 - 24 * HOUR + 1_000));
            assert_eq!(run(&w).await.reminders, 1);
            assert_eq!(run(&w).await, RunReport::default());
            assert_eq!(upcoming(&w, &mdt).await, 1);
            assert_eq!(
                available(&w, &f).await,
                100_000,
                "a reminder charges nothing"
            );

            // Due: charged once, captured to the merchant by Purser (hold then post).
            clock.set(first);
            let r = run(&w).await;
            assert_eq!((r.charged, r.declined), (1, 0));
            assert_eq!(run(&w).await, RunReport::default());
            assert_eq!(available(&w, &f).await, 80_000);
            assert_eq!(merchant_posted(&ledger, &mid).await, 20_000);
            let charges = w.scheduled_charges(&f.user, &mdt).await.expect("charges");
            assert_eq!(charges.len(), 1);
            assert_eq!(charges[0].status, "charged");
            let pid = charges[0].payment_id.clone().expect("payment id");
            let p = w.payment(&f.user, &pid).await.expect("payment");
            assert_eq!(p.status, "captured");
            assert_eq!(p.origin, "schedule");
            assert_eq!(p.captured.amount, 20_000);
            assert_eq!(p.task_id, format!("schedule:{mdt}"));
            let hold = purser_core::ledger::TransferId::parse(&format!("hold:{pid}")).expect("id");
            let capture =
                purser_core::ledger::TransferId::parse(&format!("capture:{pid}")).expect("id");
            assert!(ledger.transfer(&hold).await.expect("hold").is_some());
            assert!(ledger.transfer(&capture).await.expect("capture").is_some());
            // The person's timeline for the schedule: upcoming, approved, captured.
            let mut kinds: Vec<String> = w
                .db()
                .query(
                    "SELECT type FROM events WHERE payment_id = $1 ORDER BY created_at, id",
                    vals![&pid],
                )
                .await
                .expect("events")
                .iter()
                .map(|r| r.text(0).expect("type"))
                .collect();
            // (approved and captured share a millisecond on the manual clock)
            kinds.sort();
            assert_eq!(
                kinds,
                ["payment.approved", "payment.captured", "payment.upcoming"]
            );

            // Occurrences 2 and 3 on their dates (the short-month rule aside, one a month).
            for n in 2..=3 {
                clock.set(Timestamp(due(n).0 - 1));
                let r = run(&w).await;
                assert_eq!(
                    (r.reminders, r.charged),
                    (1, 0),
                    "occurrence {n}: reminder only"
                );
                clock.set(due(n));
                assert_eq!(run(&w).await.charged, 1, "occurrence {n}");
            }
            // The maximum is respected: a fourth month passes with nothing.
            clock.set(Timestamp(due(3).0 + 40 * DAY));
            assert_eq!(run(&w).await, RunReport::default());
            assert_eq!(captured_payments(&w, &mdt).await, 3);
            assert_eq!(upcoming(&w, &mdt).await, 3);
            assert_eq!(available(&w, &f).await, 40_000);
            assert_eq!(merchant_posted(&ledger, &mid).await, 60_000);
            let rec = w.mandate(&f.user, &mdt).await.expect("mandate");
            let s = rec.schedule.expect("schedule");
            assert_eq!(
                (s.state.as_str(), s.charged, s.remaining),
                ("finished", 3, Some(0))
            );
            assert_eq!(s.next_charge_at, None);
            assert_eq!(rec.status, "exhausted");
            assert_eq!(rec.usage.payments, 3);
            // The decision core's ledger stays consistent.
            let report = purser_store::verify(&store_of(&storage, &dir))
                .await
                .expect("verify");
            assert!(report.is_ok(), "{report:?}");
        });
    }
);

both!(
    insufficient_funds_declines_one_occurrence_and_the_next_runs,
    |storage| {
        let dir = TempDir::new("tokenpay-decline");
        runtime().block_on(async {
            let (clock, _ledger, w, f) = setup(&storage, &dir, 25_000).await;
            let first = Timestamp(clock.now().0 + HOUR);
            let plan = Plan {
                amount: 20_000,
                frequency: Frequency::Weekly,
                max: Some(3),
                lead_hours: 0,
            };
            let (mdt, _) = recurring(&w, &f, first, &plan).await;
            clock.set(first);
            assert_eq!(run(&w).await.charged, 1);
            clock.set(Timestamp(first.0 + 7 * DAY));
            let r = run(&w).await;
            assert_eq!((r.charged, r.declined), (0, 1));
            let charges = w.scheduled_charges(&f.user, &mdt).await.expect("charges");
            assert_eq!(charges[1].status, "declined");
            assert_eq!(
                charges[1].reason_code.as_deref(),
                Some("insufficient_funds")
            );
            assert!(
                charges[1]
                    .reason
                    .as_deref()
                    .unwrap_or("")
                    .contains("top it up"),
                "{charges:?}"
            );
            // The person sees the decline in the schedule's timeline.
            let declined = w
                .db()
                .query_opt(
                    "SELECT COUNT(*) FROM events WHERE type = 'payment.declined' AND task_id = $1",
                    vals![format!("schedule:{mdt}")],
                )
                .await
                .expect("events")
                .map_or(0, |r| r.int(0).expect("n"));
            assert_eq!(declined, 1);
            // Not retried: a top-up does not re-run it, and the next occurrence runs on its date.
            let card = w
                .add_card(
                    &f.user,
                    serde_json::from_value(crate::people::card_body(
                        crate::people::MASTERCARD_OK,
                        "123",
                    ))
                    .expect("card"),
                )
                .await
                .expect("card");
            let amount: purser_wallet::funds::Amount =
                serde_json::from_value(cny(50_000)).expect("amount");
            w.top_up(&f.user, &card.id, &amount, &unique("topup"))
                .await
                .expect("top-up");
            assert_eq!(run(&w).await, RunReport::default());
            clock.set(Timestamp(first.0 + 14 * DAY));
            assert_eq!(run(&w).await.charged, 1);
            assert_eq!(captured_payments(&w, &mdt).await, 2);
            assert_eq!(available(&w, &f).await, 25_000 + 50_000 - 40_000);
            let s = w
                .mandate(&f.user, &mdt)
                .await
                .expect("mandate")
                .schedule
                .expect("schedule");
            assert_eq!(
                (s.charged, s.declined, s.state.as_str()),
                (2, 1, "finished")
            );
        });
    }
);

both!(cancellation_stops_every_later_charge, |storage| {
    let dir = TempDir::new("tokenpay-cancel");
    runtime().block_on(async {
        let (clock, _ledger, w, f) = setup(&storage, &dir, 100_000).await;
        let first = Timestamp(clock.now().0 + HOUR);
        let plan = Plan {
            amount: 1_000,
            frequency: Frequency::Daily,
            max: None,
            lead_hours: 2,
        };
        let (mdt, mid) = recurring(&w, &f, first, &plan).await;
        clock.set(first);
        let r = run(&w).await;
        assert_eq!((r.reminders, r.charged), (1, 1));
        // The agent cannot pay under a recurring mandate: only the schedule charges it.
        let agent = purser_wallet::AgentCaller {
            agent_id: f.agent_id.clone(),
            kid: f.key.key_id(),
            nonce: unique("nonce"),
            signed_base: "\"@method\": POST\n\"@signature-params\": ()".into(),
            signature: [1; 64],
            jwk: f.key.public_key().to_jwk(),
        };
        let raw = serde_json::json!({
            "user_id": f.user.user_id,
            "task_id": "sneaky",
            "mandate_id": mdt,
            "merchant": {"id": mid},
            "items": [{"title": "tokens", "quantity": 1, "unit_price": cny(1_000)}],
            "total": cny(1_000),
        })
        .to_string()
        .into_bytes();
        let (p, _) = w
            .authorize(
                &agent,
                &unique("k"),
                &raw,
                serde_json::from_slice(&raw).expect("body"),
            )
            .await
            .expect("decision");
        assert_eq!(p.status, "declined");
        assert_eq!(
            p.decline.as_ref().map(|d| d.code.as_str()),
            Some("mandate_scheduled")
        );
        // The reminder for day 2 goes out; then the person cancels before the charge.
        clock.set(Timestamp(first.0 + DAY - HOUR));
        assert_eq!(run(&w).await.reminders, 1);
        let rec = w
            .revoke_mandate(&f.user, &mdt, Some("switching providers"))
            .await
            .expect("revoke");
        assert_eq!(rec.status, "revoked");
        assert_eq!(
            rec.schedule.as_ref().map(|s| s.state.as_str()),
            Some("cancelled")
        );
        for days in [1, 2, 10] {
            clock.set(Timestamp(first.0 + days * DAY));
            assert_eq!(run(&w).await, RunReport::default());
        }
        assert_eq!(
            captured_payments(&w, &mdt).await,
            1,
            "the charge before the cancel stands"
        );
        assert_eq!(available(&w, &f).await, 99_000);
        let state: String = w
            .db()
            .query_opt(
                "SELECT state FROM schedules WHERE mandate_id = $1",
                vals![&mdt],
            )
            .await
            .expect("schedule")
            .expect("row")
            .text(0)
            .expect("state");
        assert_eq!(state, "cancelled");
    });
});

both!(
    a_restart_neither_skips_nor_repeats_an_occurrence,
    |storage| {
        let dir = TempDir::new("tokenpay-restart");
        runtime().block_on(async {
        let store = store_of(&storage, &dir);
        let (clock, ledger, w, f) = setup(&storage, &dir, 100_000).await;
        let first = Timestamp(clock.now().0 + HOUR);
        let plan = Plan {
            amount: 3_000,
            frequency: Frequency::Daily,
            max: Some(5),
            lead_hours: 1,
        };
        let (mdt, mid) = recurring(&w, &f, first, &plan).await;
        clock.set(first);
        assert_eq!(run(&w).await.charged, 1);
        // The server stops; three days pass.
        w.shutdown().await;
        ledger.shutdown().await;
        drop(w);
        drop(ledger);
        clock.set(Timestamp(first.0 + 3 * DAY + HOUR));
        let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        // Days 2 and 3 are more than a day (the daily schedule's period) late: missed, not
        // charged. Day 4, an hour late, is charged once (its reminder late, just before it).
        let r = run(&w).await;
        assert_eq!(
            (r.reminders, r.charged, r.declined, r.missed),
            (1, 1, 0, 2)
        );
        let charges = w.scheduled_charges(&f.user, &mdt).await.expect("charges");
        let got: Vec<(i64, &str)> = charges
            .iter()
            .map(|c| (c.occurrence, c.status.as_str()))
            .collect();
        assert_eq!(
            got,
            [(1, "charged"), (2, "missed"), (3, "missed"), (4, "charged")]
        );
        // A crash after occurrence 4 was captured but before it was recorded: the next run
        // finds the captured payment (same id) and records it without charging again — even
        // when that run comes after the catch-up window, since its charge had begun in time.
        w.db()
            .write(vec![
                purser_store::db::Stmt::exec(
                    "UPDATE scheduled_charges SET status = 'scheduled' WHERE mandate_id = $1 AND occurrence = 4",
                    vals![&mdt],
                ),
                purser_store::db::Stmt::exec(
                    "UPDATE schedules SET next_occurrence = 4, charged = 1, next_at = 0 WHERE mandate_id = $1",
                    vals![&mdt],
                ),
            ])
            .await
            .expect("rewind");
        w.shutdown().await;
        ledger.shutdown().await;
        drop(w);
        drop(ledger);
        clock.set(Timestamp(first.0 + 4 * DAY + 2 * HOUR));
        let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let r = run(&w).await;
        assert_eq!(
            (r.reminders, r.charged, r.missed),
            (1, 2, 0),
            "day 4 recorded, not charged again and not missed; day 5 charged"
        );
        assert_eq!(captured_payments(&w, &mdt).await, 3);
        assert_eq!(available(&w, &f).await, 100_000 - 3 * 3_000);
        assert_eq!(merchant_posted(&ledger, &mid).await, 3 * 3_000);
        assert_eq!(upcoming(&w, &mdt).await, 3);
        clock.set(Timestamp(first.0 + 30 * DAY));
        assert_eq!(run(&w).await, RunReport::default());
        assert_eq!(captured_payments(&w, &mdt).await, 3);
        let s = w
            .mandate(&f.user, &mdt)
            .await
            .expect("mandate")
            .schedule
            .expect("schedule");
        assert_eq!(
            (s.state.as_str(), s.charged, s.declined, s.missed),
            ("finished", 3, 0, 2)
        );
        let report = purser_store::verify(&store_of(&storage, &dir))
            .await
            .expect("verify");
        assert!(report.is_ok(), "{report:?}");
    });
    }
);

async fn events_of(w: &Wallet, kind: &str, mandate: &str) -> i64 {
    w.db()
        .query_opt(
            "SELECT COUNT(*) FROM events WHERE type = $1 AND task_id = $2",
            vals![kind, format!("schedule:{mandate}")],
        )
        .await
        .expect("events")
        .map_or(0, |r| r.int(0).expect("n"))
}

both!(
    an_outage_past_the_catch_up_window_records_old_occurrences_missed,
    |storage| {
        let dir = TempDir::new("tokenpay-catch-up");
        runtime().block_on(async {
            let store = store_of(&storage, &dir);
            let (clock, ledger, w, f) = setup(&storage, &dir, 100_000).await;
            let first = Timestamp(clock.now().0 + HOUR);
            let plan = Plan {
                amount: 2_000,
                frequency: Frequency::Weekly,
                max: None,
                lead_hours: 48,
            };
            let (mdt, mid) = recurring(&w, &f, first, &plan).await;
            let due = |n: i64| Timestamp(first.0 + (n - 1) * 7 * DAY);
            clock.set(first);
            let r = run(&w).await;
            assert_eq!((r.reminders, r.charged), (1, 1));
            // Week 2's reminder goes out; then the server stops for three weeks.
            clock.set(Timestamp(due(2).0 - 24 * HOUR));
            assert_eq!(run(&w).await.reminders, 1);
            w.shutdown().await;
            ledger.shutdown().await;
            drop(w);
            drop(ledger);
            clock.set(Timestamp(due(4).0 + 2 * HOUR));
            let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;

            // Weeks 2 (reminded before the outage) and 3 (never reminded) are weeks late:
            // recorded missed, not charged. Week 4, two hours late, is charged once.
            let r = run(&w).await;
            assert_eq!((r.reminders, r.charged, r.declined, r.missed), (1, 1, 0, 2));
            assert_eq!(run(&w).await, RunReport::default(), "nothing left to do");
            let charges = w.scheduled_charges(&f.user, &mdt).await.expect("charges");
            let got: Vec<(i64, &str)> = charges
                .iter()
                .map(|c| (c.occurrence, c.status.as_str()))
                .collect();
            assert_eq!(
                got,
                [(1, "charged"), (2, "missed"), (3, "missed"), (4, "charged")]
            );
            for c in &charges[1..3] {
                assert_eq!(c.reason_code.as_deref(), Some("catch_up_window_passed"));
                assert_eq!(c.payment_id, None, "no payment was made: {c:?}");
                let why = c.reason.as_deref().unwrap_or("");
                assert!(
                    why.contains("not charged") && why.contains("more than 1 day late"),
                    "{why}"
                );
            }
            // The person sees each missed week in the schedule's timeline, like a decline.
            assert_eq!(events_of(&w, "payment.missed", &mdt).await, 2);
            assert_eq!(events_of(&w, "payment.declined", &mdt).await, 0);
            assert_eq!(
                upcoming(&w, &mdt).await,
                3,
                "weeks 1, 2 and 4 were reminded"
            );
            // Only the two charges exist, and the books balance.
            assert_eq!(captured_payments(&w, &mdt).await, 2);
            assert_eq!(
                count(
                    &w,
                    "SELECT COUNT(*) FROM payments WHERE mandate_id = $1",
                    &mdt
                )
                .await,
                2
            );
            assert_eq!(available(&w, &f).await, 100_000 - 2 * 2_000);
            assert_eq!(merchant_posted(&ledger, &mid).await, 2 * 2_000);
            let rec = w.mandate(&f.user, &mdt).await.expect("mandate");
            assert_eq!(rec.usage.payments, 2);
            let s = rec.schedule.expect("schedule");
            assert_eq!(
                (s.state.as_str(), s.charged, s.declined, s.missed),
                ("active", 2, 0, 2)
            );
            assert_eq!(s.next_occurrence, Some(5));
            assert_eq!(s.next_charge_at, Some(due(5).to_rfc3339()));

            // The operator's window (`purser serve --catch-up-window`), here an hour: week 5
            // found three hours late is missed; week 6 half an hour late is charged.
            w.shutdown().await;
            ledger.shutdown().await;
            drop(w);
            drop(ledger);
            let (ledger, mut w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
            w.set_catch_up_window(std::time::Duration::from_secs(3600));
            clock.set(Timestamp(due(5).0 + 3 * HOUR));
            let r = run(&w).await;
            assert_eq!((r.reminders, r.charged, r.missed), (0, 0, 1));
            let missed = &w.scheduled_charges(&f.user, &mdt).await.expect("charges")[4];
            assert!(
                missed
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.contains("more than 1 hour late")),
                "{missed:?}"
            );
            clock.set(Timestamp(due(6).0 + 30 * 60_000));
            let r = run(&w).await;
            assert_eq!((r.reminders, r.charged, r.missed), (1, 1, 0));
            assert_eq!(captured_payments(&w, &mdt).await, 3);
            assert_eq!(available(&w, &f).await, 100_000 - 3 * 2_000);
            assert_eq!(merchant_posted(&ledger, &mid).await, 3 * 2_000);
            let s = w
                .mandate(&f.user, &mdt)
                .await
                .expect("mandate")
                .schedule
                .expect("schedule");
            assert_eq!((s.charged, s.missed), (3, 3));
            let report = purser_store::verify(&store).await.expect("verify");
            assert!(report.is_ok(), "{report:?}");
        });
    }
);

both!(
    evidence_of_a_scheduled_payment_verifies_and_tampering_fails,
    |storage| {
        let dir = TempDir::new("tokenpay-evidence");
        runtime().block_on(async {
            let (clock, _ledger, w, f) = setup(&storage, &dir, 100_000).await;
            let first = Timestamp(clock.now().0 + HOUR);
            let plan = Plan {
                amount: 4_200,
                frequency: Frequency::Weekly,
                max: Some(2),
                lead_hours: 0,
            };
            let (mdt, _) = recurring(&w, &f, first, &plan).await;
            clock.set(first);
            assert_eq!(run(&w).await.charged, 1);
            let pid = w.scheduled_charges(&f.user, &mdt).await.expect("charges")[0]
                .payment_id
                .clone()
                .expect("payment");
            let doc = w.evidence(&f.user, &pid).await.expect("evidence");
            assert_eq!(doc["request"]["origin"], "schedule");
            let keys = w.jwks().await.expect("jwks");
            let r = verify_bundle(&doc.to_string(), Some(&keys.to_string()));
            assert!(r.ok, "{:?}", r.failure);
            let said = r.proven.join("\n");
            assert!(said.contains("scheduler, not an agent"), "{said}");
            assert!(said.contains("occurrence 1"), "{said}");

            // Claim the charge was due at another time, or for more: caught.
            for (ptr, value) in [
                ("/request/due_at", Value::from(first.0 + 1)),
                ("/request/occurrence", Value::from(2)),
            ] {
                let mut bad = doc.clone();
                *bad.pointer_mut(ptr).expect("field") = value;
                let r = verify_bundle(&bad.to_string(), Some(&keys.to_string()));
                assert!(!r.ok, "{ptr} changed but the bundle verified");
            }
            let mut bad = doc.clone();
            let body = bad["request"]["body"]
                .as_str()
                .expect("body")
                .replace("4200", "4300");
            bad["request"]["body"] = Value::from(body);
            let r = verify_bundle(&bad.to_string(), Some(&keys.to_string()));
            assert!(!r.ok, "a changed amount verified");
            // A bundle whose request pretends to be scheduled without the schedule's origin fails
            // the agent-signature checks.
            let mut bad = doc.clone();
            bad["request"]["origin"] = Value::from("agent");
            assert!(!verify_bundle(&bad.to_string(), Some(&keys.to_string())).ok);
        });
    }
);

#[test]
fn two_schedulers_on_one_postgres_never_charge_an_occurrence_twice() {
    let Some(db) = crate::support::PgDb::create() else {
        eprintln!("skipped: PostgreSQL not reachable");
        return;
    };
    let dir = TempDir::new("tokenpay-two-nodes");
    let store = StoreConfig::Postgres {
        url: db.url.clone(),
    };
    runtime().block_on(async {
        let clock = Arc::new(ManualClock::new(Timestamp(now_ms())));
        let (ledger_a, a) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let (ledger_b, b) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&a, 1_000_000).await;
        let first = Timestamp(clock.now().0 + HOUR);
        let plan = Plan {
            amount: 1_500,
            frequency: Frequency::Daily,
            max: Some(6),
            lead_hours: 3,
        };
        let mut mandates = Vec::new();
        for _ in 0..4 {
            mandates.push(recurring(&a, &f, first, &plan).await.0);
        }
        // Both nodes run at once, repeatedly, through six days.
        for step in 0..=(6 * 4) {
            clock.set(Timestamp(first.0 - 3 * HOUR + step * 6 * HOUR));
            for _ in 0..2 {
                let (ra, rb) = tokio::join!(a.run_schedules(), b.run_schedules());
                ra.expect("node a");
                rb.expect("node b");
            }
        }
        for m in &mandates {
            assert_eq!(captured_payments(&a, m).await, 6, "mandate {m}");
            assert_eq!(upcoming(&a, m).await, 6, "one reminder per occurrence");
            let total = count(&a, "SELECT COUNT(*) FROM payments WHERE mandate_id = $1", m).await;
            assert_eq!(total, 6, "one payment per occurrence");
        }
        assert_eq!(available(&a, &f).await, 1_000_000 - 4 * 6 * 1_500);
        let report = purser_store::verify(&store).await.expect("verify");
        assert!(report.is_ok(), "{report:?}");
        drop(ledger_a);
        drop(ledger_b);
    });
}

#[test]
fn two_schedulers_after_an_outage_record_each_missed_occurrence_once() {
    let Some(db) = crate::support::PgDb::create() else {
        eprintln!("skipped: PostgreSQL not reachable");
        return;
    };
    let dir = TempDir::new("tokenpay-two-nodes-missed");
    let store = StoreConfig::Postgres {
        url: db.url.clone(),
    };
    runtime().block_on(async {
        let clock = Arc::new(ManualClock::new(Timestamp(now_ms())));
        let (ledger_a, a) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let (ledger_b, b) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&a, 1_000_000).await;
        let first = Timestamp(clock.now().0 + HOUR);
        let plan = Plan {
            amount: 1_500,
            frequency: Frequency::Daily,
            max: Some(10),
            lead_hours: 3,
        };
        let mut mandates = Vec::new();
        for _ in 0..4 {
            mandates.push(recurring(&a, &f, first, &plan).await.0);
        }
        // Day 1 charged; day 2 reminded; then nothing runs until day 6 is an hour old.
        clock.set(first);
        a.run_schedules().await.expect("day 1");
        clock.set(Timestamp(first.0 + DAY - 2 * HOUR));
        a.run_schedules().await.expect("day 2 reminder");
        clock.set(Timestamp(first.0 + 5 * DAY + HOUR));
        for _ in 0..3 {
            let (ra, rb) = tokio::join!(a.run_schedules(), b.run_schedules());
            ra.expect("node a");
            rb.expect("node b");
        }
        for m in &mandates {
            let charges = a.scheduled_charges(&f.user, m).await.expect("charges");
            let got: Vec<(i64, &str)> = charges
                .iter()
                .map(|c| (c.occurrence, c.status.as_str()))
                .collect();
            assert_eq!(
                got,
                [
                    (1, "charged"),
                    (2, "missed"),
                    (3, "missed"),
                    (4, "missed"),
                    (5, "missed"),
                    (6, "charged")
                ],
                "mandate {m}"
            );
            assert_eq!(captured_payments(&a, m).await, 2, "mandate {m}");
            let total = count(&a, "SELECT COUNT(*) FROM payments WHERE mandate_id = $1", m).await;
            assert_eq!(total, 2, "no payment for a missed day");
            assert_eq!(events_of(&a, "payment.missed", m).await, 4, "once each");
            let s = a
                .mandate(&f.user, m)
                .await
                .expect("mandate")
                .schedule
                .expect("schedule");
            assert_eq!((s.charged, s.declined, s.missed), (2, 0, 4), "mandate {m}");
            assert_eq!(s.next_occurrence, Some(7));
        }
        assert_eq!(available(&a, &f).await, 1_000_000 - 4 * 2 * 1_500);
        let report = purser_store::verify(&store).await.expect("verify");
        assert!(report.is_ok(), "{report:?}");
        drop(ledger_a);
        drop(ledger_b);
    });
}
