//! Payments and the clock, through the wallet services with a manual clock: credentials and
//! confirmations expire on their own (money and mandate budget come back), and a decision a
//! crash interrupted is undone by the sweeper.

use std::sync::Arc;

use purser_core::ManualClock;
use purser_store::db::Stmt;
use purser_store::{vals, StoreConfig};
use purser_wallet::merchants::{MerchantCaller, NewMerchant};
use purser_wallet::payments::redeem::CaptureBody;
use purser_wallet::payments::PaymentBody;
use purser_wallet::{AgentCaller, Wallet};
use serde_json::json;

use crate::mandates::{fixture, open_wallet_at, runtime, Fixture};
use crate::people::{cny, unique};
use crate::support::TempDir;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn caller(f: &Fixture) -> AgentCaller {
    AgentCaller {
        agent_id: f.agent_id.clone(),
        kid: f.key.key_id(),
        nonce: unique("nonce"),
        signed_base: "\"@method\": POST\n\"@signature-params\": ()".into(),
        signature: [1; 64],
        jwk: f.key.public_key().to_jwk(),
    }
}

/// Coffee for `minor` at `merchant`, under the fixture's mandate (auto at or below ¥100).
fn coffee(f: &Fixture, merchant: &str, minor: i64, title: &str) -> (Vec<u8>, PaymentBody) {
    let v = json!({
        "user_id": f.user.user_id,
        "task_id": "morning-coffee",
        "mandate_id": f.mandate_id,
        "merchant": {"id": merchant},
        "items": [{"title": title, "quantity": 1, "unit_price": cny(minor)}],
        "total": cny(minor),
    });
    let raw = v.to_string().into_bytes();
    let body = serde_json::from_slice(&raw).expect("body");
    (raw, body)
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

#[test]
fn credentials_and_confirmations_expire_on_their_own() {
    let dir = TempDir::new("payments-clock");
    let store = StoreConfig::sqlite_in(dir.path());
    let clock = Arc::new(ManualClock::new(purser_core::Timestamp(now_ms())));
    runtime().block_on(async {
        let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&w, 100_000).await;
        let m = w
            .create_merchant(&NewMerchant {
                name: "Corner Coffee".into(),
                website: "corner.example".into(),
                ..NewMerchant::default()
            })
            .await
            .expect("merchant");
        let mid = m.merchant.id.clone();
        let agent = caller(&f);

        // Approved, then never redeemed.
        let (raw, body) = coffee(&f, &mid, 7_000, "flat white");
        let (p, _) = w
            .authorize(&agent, &unique("k"), &raw, body)
            .await
            .expect("authorize");
        assert_eq!(p.status, "approved", "{p:?}");
        let token = p
            .credential
            .as_ref()
            .and_then(|c| c.token.clone())
            .expect("token");
        // Above the auto-pay limit: waits for the person.
        let (raw, body) = coffee(&f, &mid, 15_000, "beans");
        let (q, _) = w
            .authorize(&agent, &unique("k"), &raw, body)
            .await
            .expect("authorize");
        assert_eq!(q.status, "needs_confirmation", "{q:?}");
        assert_eq!(available(&w, &f).await, 100_000 - 7_000 - 15_000);

        // Before their time nothing changes; after it, both end and give everything back.
        w.sweep().await;
        assert_eq!(available(&w, &f).await, 78_000);
        clock.advance_ms(w.payment_rules().credential_ttl_ms + 1_000);
        w.sweep().await;
        let p = w.payment(&f.user, &p.id).await.expect("payment");
        assert_eq!(p.status, "expired", "{p:?}");
        let q = w.payment(&f.user, &q.id).await.expect("payment");
        assert_eq!(q.status, "expired", "{q:?}");
        assert_eq!(
            q.confirmation.as_ref().map(|c| c.status.as_str()),
            Some("expired")
        );
        assert_eq!(available(&w, &f).await, 100_000);
        let mandate = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
        assert_eq!(mandate.usage.payments, 0, "the budget is given back");

        // The expired credential cannot be redeemed.
        let e = w
            .capture(
                &MerchantCaller {
                    merchant_id: mid.clone(),
                },
                &CaptureBody {
                    credential: token,
                    amount: serde_json::from_value(cny(7_000)).expect("amount"),
                    checkout_id: None,
                },
            )
            .await
            .expect_err("expired");
        assert_eq!(e.code, "credential_expired");

        // The timeline says what happened, in order.
        let tl = w
            .timeline(&f.user, "morning-coffee", None)
            .await
            .expect("timeline");
        let kinds: Vec<&str> = tl.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "payment.expired").count(),
            2,
            "{kinds:?}"
        );
        assert!(kinds.contains(&"payment.approved"), "{kinds:?}");
        assert!(
            kinds.contains(&"payment.confirmation_requested"),
            "{kinds:?}"
        );
        w.shutdown().await;
        ledger.shutdown().await;
    });
}

#[test]
fn an_interrupted_decision_is_undone() {
    let dir = TempDir::new("payments-crash");
    let store = StoreConfig::sqlite_in(dir.path());
    let clock = Arc::new(ManualClock::new(purser_core::Timestamp(now_ms())));
    runtime().block_on(async {
        let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&w, 100_000).await;
        let m = w
            .create_merchant(&NewMerchant {
                name: "Corner Coffee".into(),
                website: "corner.example".into(),
                ..NewMerchant::default()
            })
            .await
            .expect("merchant");
        // A request got as far as its hold and died before recording its decision: its row
        // says `deciding`, its mandate charge `held`, its money is held.
        let pid = "pay_crashcrashcrashcrashcras";
        w.db()
            .write(vec![Stmt::exec(
                "INSERT INTO payments (id, user_id, agent_id, binding_id, agent_kid, mandate_id, task_id, merchant_id, amount, currency, cart_hash, max_quantity, funding, request, request_hash, status, reasons, created_at, updated_at) VALUES ($1, $2, $3, 'bnd_x', 'kid', $4, 't', $5, 7000, 'CNY', 'h', 1, 'wallet', '{}', 'h', 'deciding', '[]', $6, $6)",
                vals![pid, &f.user.user_id, &f.agent_id, &f.mandate_id, &m.merchant.id, purser_core::Clock::now(&*clock).0],
            )])
            .await
            .expect("row");
        let req = purser_core::mandate::PaymentRequest {
            amount: purser_core::Money::new(7_000, purser_core::Currency::CNY),
            merchant: Default::default(),
            items: vec![],
            instrument: None,
        };
        let hold = purser_wallet::mandates::HoldSpec {
            debit: purser_core::ledger::AccountId::parse(&format!("wallet:{}:CNY", f.user.user_id))
                .expect("account"),
            credit: purser_core::ledger::AccountId::parse(&format!("merchant:{}:CNY", m.merchant.id))
                .expect("account"),
            credit_flags: purser_core::ledger::AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            timeout_ms: Some(3_600_000),
        };
        let e = w
            .reserve_under_mandate(&f.user.user_id, &f.agent_id, &f.mandate_id, pid, &req, &hold)
            .await
            .expect("reserve");
        assert!(e.allowed());
        assert_eq!(available(&w, &f).await, 93_000);
        w.sweep().await;
        assert_eq!(available(&w, &f).await, 93_000, "a request in flight is left alone");
        clock.advance_ms(purser_wallet::payments::STALE_MS + 1_000);
        w.sweep().await;
        assert_eq!(available(&w, &f).await, 100_000, "the hold is voided");
        let p = w.payment(&f.user, pid).await.expect("payment");
        assert_eq!(p.status, "failed", "{p:?}");
        let mandate = w.mandate(&f.user, &f.mandate_id).await.expect("mandate");
        assert_eq!(mandate.usage.payments, 0, "the charge is released");
        w.shutdown().await;
        ledger.shutdown().await;
    });
}

/// A freeze that lands after the voids were listed (or while a request decided) still wins:
/// the credential stops working at capture. And a capture retried after an interrupted first
/// attempt finishes that capture instead of calling it "used".
#[test]
fn freezes_win_races_and_interrupted_captures_finish() {
    let dir = TempDir::new("payments-races");
    let store = StoreConfig::sqlite_in(dir.path());
    let clock = Arc::new(ManualClock::new(purser_core::Timestamp(now_ms())));
    runtime().block_on(async {
        let (ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&w, 100_000).await;
        let m = w
            .create_merchant(&NewMerchant {
                name: "Corner Coffee".into(),
                website: "corner.example".into(),
                ..NewMerchant::default()
            })
            .await
            .expect("merchant");
        let merchant = MerchantCaller {
            merchant_id: m.merchant.id.clone(),
        };
        let agent = caller(&f);
        let capture = |token: String| CaptureBody {
            credential: token,
            amount: serde_json::from_value(cny(7_000)).expect("amount"),
            checkout_id: None,
        };

        // Interrupted capture: the row says `capturing`; the merchant retries the same amount.
        let (raw, body) = coffee(&f, &m.merchant.id, 7_000, "flat white");
        let (p, _) = w
            .authorize(&agent, &unique("k"), &raw, body)
            .await
            .expect("pay");
        let token = p
            .credential
            .as_ref()
            .and_then(|c| c.token.clone())
            .expect("token");
        w.db()
            .write(vec![Stmt::exec(
                "UPDATE payments SET status = 'capturing', capture_amount = 7000 WHERE id = $1",
                vals![&p.id],
            )])
            .await
            .expect("interrupt");
        let c = w
            .capture(&merchant, &capture(token.clone()))
            .await
            .expect("retry");
        assert_eq!(c.status, "captured", "{c:?}");
        assert_eq!(c.captured.amount, 7_000);
        let e = w
            .capture(&merchant, &capture(token))
            .await
            .expect_err("used");
        assert_eq!(e.code, "credential_used");

        // A freeze the voids did not see: the capture refuses and the hold goes back.
        let (raw, body) = coffee(&f, &m.merchant.id, 7_000, "cortado");
        let (q, _) = w
            .authorize(&agent, &unique("k"), &raw, body)
            .await
            .expect("pay");
        assert_eq!(q.status, "approved", "{q:?}");
        let token = q
            .credential
            .as_ref()
            .and_then(|c| c.token.clone())
            .expect("token");
        assert_eq!(available(&w, &f).await, 100_000 - 14_000);
        w.db()
            .write(vec![Stmt::exec(
                "UPDATE bindings SET frozen = 1 WHERE agent_id = $1",
                vals![&f.agent_id],
            )])
            .await
            .expect("freeze");
        let e = w
            .capture(&merchant, &capture(token))
            .await
            .expect_err("frozen");
        assert_eq!(e.code, "credential_voided");
        assert_eq!(available(&w, &f).await, 100_000 - 7_000);
        let q = w.payment(&f.user, &q.id).await.expect("payment");
        assert_eq!(q.status, "voided", "{q:?}");
        w.shutdown().await;
        ledger.shutdown().await;
    });
}

/// PIN lockouts escalate: each lock in a run lasts twice the one before, and a right PIN
/// starts over from the shortest (SECURITY.md, "PIN brute force").
#[test]
fn pin_lockouts_double_until_a_right_pin() {
    const PIN: &str = "482915";
    const WRONG: &str = "913572";
    let dir = TempDir::new("pin-lockouts");
    let store = StoreConfig::sqlite_in(dir.path());
    let clock = Arc::new(ManualClock::new(purser_core::Timestamp(now_ms())));
    runtime().block_on(async {
        let (_ledger, w) = open_wallet_at(&store, dir.path(), clock.clone()).await;
        let f = fixture(&w, 0).await;
        let user = f.user.user_id.clone();
        w.set_pin(&f.user, PIN, None).await.expect("pin set");
        // A run of wrong PINs: four `pin_wrong`, then the fifth locks. Returns the lock's length.
        let run = |expect_minutes: i64| {
            let w = &w;
            let user = &user;
            let f = &f;
            async move {
                for _ in 1..purser_wallet::pins::MAX_PIN_FAILURES {
                    let e = w
                        .sign_in_with_pin(user, WRONG)
                        .await
                        .expect_err("wrong PIN");
                    assert_eq!(e.code, "pin_wrong");
                    assert!(
                        e.message
                            .contains(&purser_wallet::pins::lock_words_for_tests(expect_minutes)),
                        "{}",
                        e.message
                    );
                }
                let start = w.now().0;
                let e = w.sign_in_with_pin(user, WRONG).await.expect_err("locks");
                assert_eq!(e.code, "pin_locked");
                let status = w.pin_status(&f.user).await.expect("status");
                let lock = expect_minutes * 60_000;
                assert_eq!(
                    status.locked_until.as_deref(),
                    Some(purser_core::Timestamp(start + lock).to_rfc3339().as_str()),
                    "a lock of {expect_minutes} minutes"
                );
                // Locked: even the right PIN is refused until the lock ends.
                let e = w.sign_in_with_pin(user, PIN).await.expect_err("locked");
                assert_eq!(e.code, "pin_locked");
                lock
            }
        };
        for minutes in [15, 30, 60, 120] {
            let lock = run(minutes).await;
            clock.advance_ms(lock + 1_000);
        }
        // A right PIN ends the run: the next lock is the shortest again.
        w.sign_in_with_pin(&user, PIN)
            .await
            .expect("right PIN signs in");
        let lock = run(15).await;
        assert_eq!(lock, purser_wallet::pins::PIN_LOCK_MS);
    });
}
