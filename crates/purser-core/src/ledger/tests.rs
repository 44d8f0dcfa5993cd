use super::journal::{chain_hash, Entry, GENESIS_HASH};
use super::verify::{StoredEntry, StoredHead, Verifier};
use super::*;
use crate::money::Currency;
use crate::time::Timestamp;

fn aid(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}
fn tid(s: &str) -> TransferId {
    TransferId::parse(s).unwrap()
}

fn open(id: &str, flags: AccountFlags) -> LinkedOp {
    Op::CreateAccount(NewAccount {
        id: aid(id),
        currency: Currency::CNY,
        flags,
    })
    .into()
}

fn xfer(id: &str, from: &str, to: &str, amount: i64) -> NewTransfer {
    NewTransfer {
        id: tid(id),
        debit_account_id: aid(from),
        credit_account_id: aid(to),
        amount,
        currency: Currency::CNY,
    }
}

fn transfer(id: &str, from: &str, to: &str, amount: i64) -> LinkedOp {
    Op::Transfer(xfer(id, from, to, amount)).into()
}

fn hold(id: &str, from: &str, to: &str, amount: i64, timeout_ms: Option<i64>) -> LinkedOp {
    Op::Hold {
        transfer: xfer(id, from, to, amount),
        timeout_ms,
    }
    .into()
}

fn post(id: &str, pending: &str, amount: Option<i64>) -> LinkedOp {
    Op::Post {
        id: tid(id),
        pending_id: tid(pending),
        amount,
    }
    .into()
}

fn void(id: &str, pending: &str) -> LinkedOp {
    Op::Void {
        id: tid(id),
        pending_id: tid(pending),
    }
    .into()
}

fn linked(mut op: LinkedOp) -> LinkedOp {
    op.linked = true;
    op
}

/// A funded world: `bank` (unlimited) has paid 1000.00 into `wallet` (cannot overdraw).
fn world() -> LedgerState {
    let mut s = LedgerState::for_execution(Timestamp(0));
    let r = s.execute(
        &[
            open("bank", AccountFlags::default()),
            open("wallet", AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            open("shop", AccountFlags::default()),
            transfer("fund", "bank", "wallet", 100_000),
        ],
        Timestamp(1),
    );
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    s
}

fn one(s: &mut LedgerState, op: LinkedOp, now: i64) -> Result<Outcome, LedgerError> {
    s.execute(&[op], Timestamp(now)).pop().unwrap()
}

fn code(r: Result<Outcome, LedgerError>) -> String {
    r.err()
        .map_or_else(|| "ok".to_string(), |e| e.code().to_string())
}

#[test]
fn wallet_cannot_overdraw() {
    let mut s = world();
    let e = one(&mut s, transfer("t1", "wallet", "shop", 100_001), 2).unwrap_err();
    assert_eq!(e.code(), "insufficient_funds");
    assert_eq!(
        e.to_string(),
        "account wallet has 1,000.00 CNY available, and this needs 1,000.01 CNY; add funds or lower the amount"
    );
    assert_eq!(
        code(one(&mut s, transfer("t2", "wallet", "shop", 100_000), 2)),
        "ok"
    );
    assert_eq!(s.account(&aid("wallet")).unwrap().net_posted(), Some(0));
}

#[test]
fn same_id_same_content_replays_and_other_content_conflicts() {
    let mut s = world();
    let first = one(&mut s, transfer("t1", "wallet", "shop", 500), 2).unwrap();
    assert!(!first.replayed());
    let again = one(&mut s, transfer("t1", "wallet", "shop", 500), 3).unwrap();
    assert!(again.replayed());
    match (first, again) {
        (Outcome::Transfer { transfer: a, .. }, Outcome::Transfer { transfer: b, .. }) => {
            assert_eq!(a, b)
        }
        other => panic!("{other:?}"),
    }
    let e = one(&mut s, transfer("t1", "wallet", "shop", 501), 3).unwrap_err();
    assert_eq!(
        e,
        LedgerError::TransferIdConflict {
            id: tid("t1"),
            field: "amount"
        }
    );
    assert_eq!(
        s.account(&aid("shop")).unwrap().credits_posted,
        500,
        "the replay moved nothing"
    );
    // Accounts too.
    assert!(one(&mut s, open("shop", AccountFlags::default()), 3)
        .unwrap()
        .replayed());
    assert_eq!(
        code(one(
            &mut s,
            open("shop", AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            3
        )),
        "account_id_conflict"
    );
}

#[test]
fn a_refusal_is_the_answer_for_that_id_for_good() {
    let mut s = world();
    let pay = || transfer("pay", "wallet", "shop", 150_000);
    let e = one(&mut s, pay(), 2).unwrap_err();
    assert_eq!(e.code(), "insufficient_funds");
    // Funds arrive; the same request under the same id still gets the first answer.
    one(&mut s, transfer("more", "bank", "wallet", 100_000), 3).unwrap();
    let again = one(&mut s, pay(), 4).unwrap_err();
    assert!(matches!(again, LedgerError::Replayed(_)));
    assert_eq!(
        (again.code(), again.to_string(), again.class()),
        (e.code(), e.to_string(), e.class())
    );
    assert_eq!(
        s.account(&aid("shop")).unwrap().credits_posted,
        0,
        "nothing moved"
    );
    // Another request reusing the id is a conflict; a new id is a new request.
    assert_eq!(
        code(one(&mut s, transfer("pay", "wallet", "shop", 1), 4)),
        "transfer_id_conflict"
    );
    assert_eq!(
        code(one(&mut s, transfer("pay-2", "wallet", "shop", 150_000), 4)),
        "ok"
    );
    let changes = s.take_changes();
    assert_eq!(changes.refusals.len(), 1, "remembered once");
    assert_eq!(changes.refusals[0].1.code, "insufficient_funds");
}

#[test]
fn hold_reserves_then_posts_in_part_and_releases_the_rest() {
    let mut s = world();
    one(&mut s, hold("h1", "wallet", "shop", 80_000, None), 2).unwrap();
    let w = s.account(&aid("wallet")).unwrap();
    assert_eq!(
        (w.debits_pending, w.available_to_debit().minor),
        (80_000, 20_000)
    );
    assert_eq!(
        code(one(&mut s, transfer("t", "wallet", "shop", 20_001), 2)),
        "insufficient_funds"
    );
    assert_eq!(
        code(one(&mut s, post("p0", "h1", Some(80_001)), 3)),
        "post_exceeds_hold"
    );
    assert_eq!(
        code(one(&mut s, post("p00", "h1", Some(0)), 3)),
        "amount_must_be_positive"
    );
    assert_eq!(code(one(&mut s, post("p1", "h1", Some(75_000)), 3)), "ok");
    let w = s.account(&aid("wallet")).unwrap();
    assert_eq!((w.debits_pending, w.debits_posted), (0, 75_000));
    let h = s.hold(&tid("h1")).unwrap();
    assert_eq!((h.state, h.posted_amount), (HoldState::Posted, 75_000));
    // Never twice, never void after post; the original post replays.
    assert_eq!(
        code(one(&mut s, post("p2", "h1", None), 4)),
        "hold_already_posted"
    );
    assert_eq!(
        code(one(&mut s, void("v1", "h1"), 4)),
        "hold_already_posted"
    );
    assert!(one(&mut s, post("p1", "h1", Some(75_000)), 5)
        .unwrap()
        .replayed());
    assert_eq!(
        code(one(&mut s, post("p1", "h1", None), 5)),
        "transfer_id_conflict"
    );
}

#[test]
fn void_releases_and_cannot_be_posted_after() {
    let mut s = world();
    one(&mut s, hold("h1", "wallet", "shop", 1_000, None), 2).unwrap();
    assert_eq!(code(one(&mut s, void("v1", "h1"), 3)), "ok");
    assert_eq!(s.account(&aid("wallet")).unwrap().debits_pending, 0);
    assert_eq!(
        code(one(&mut s, post("p1", "h1", None), 3)),
        "hold_already_voided"
    );
    assert_eq!(
        code(one(&mut s, void("v2", "h1"), 3)),
        "hold_already_voided"
    );
    assert_eq!(
        code(one(&mut s, post("p9", "nope", None), 3)),
        "hold_not_found"
    );
}

#[test]
fn holds_expire_by_themselves_once() {
    let mut s = world();
    assert_eq!(
        code(one(&mut s, hold("h0", "wallet", "shop", 1, Some(999)), 2)),
        "invalid_timeout"
    );
    one(
        &mut s,
        hold("h1", "wallet", "shop", 60_000, Some(10_000)),
        2,
    )
    .unwrap();
    one(
        &mut s,
        hold("h2", "wallet", "shop", 30_000, Some(20_000)),
        2,
    )
    .unwrap();
    s.take_changes();
    assert_eq!(s.expire_due(Timestamp(10_001)), 0, "not yet due");
    assert_eq!(s.expire_due(Timestamp(10_002)), 1);
    assert_eq!(s.expire_due(Timestamp(10_003)), 0, "no double expiry");
    assert_eq!(s.hold(&tid("h1")).unwrap().state, HoldState::Expired);
    assert_eq!(s.account(&aid("wallet")).unwrap().debits_pending, 30_000);
    // Posting an expired hold the sweeper has not reached yet expires it and refuses.
    assert_eq!(
        code(one(&mut s, post("p2", "h2", None), 20_002)),
        "hold_expired"
    );
    assert_eq!(s.hold(&tid("h2")).unwrap().state, HoldState::Expired);
    assert_eq!(s.account(&aid("wallet")).unwrap().debits_pending, 0);
    let changes = s.take_changes();
    assert_eq!(changes.entries.len(), 2);
    assert_eq!(changes.holds.len(), 2);
}

#[test]
fn linked_operations_succeed_or_fail_together() {
    let mut s = world();
    s.take_changes();
    let r = s.execute(
        &[
            linked(transfer("a", "wallet", "shop", 60_000)),
            transfer("b", "wallet", "shop", 60_000),
            transfer("c", "wallet", "shop", 10),
        ],
        Timestamp(2),
    );
    assert_eq!(
        r.iter().map(|r| code(r.clone())).collect::<Vec<_>>(),
        ["linked_operation_failed", "insufficient_funds", "ok"]
    );
    assert_eq!(
        s.account(&aid("wallet")).unwrap().debits_posted,
        10,
        "a was rolled back"
    );
    let changes = s.take_changes();
    assert_eq!(changes.entries.len(), 1);
    let again = s.execute(&[transfer("a", "wallet", "shop", 60_000)], Timestamp(3));
    assert_eq!(
        code(again[0].clone()),
        "linked_operation_failed",
        "a rolled-back member's refusal is its answer"
    );

    let r = s.execute(
        &[
            linked(transfer("x", "wallet", "shop", 1)),
            linked(transfer("y", "wallet", "shop", 1)),
        ],
        Timestamp(3),
    );
    assert!(r.iter().all(|r| code(r.clone()) == "linked_chain_open"));
    let r = s.execute(
        &[
            linked(hold("hx", "wallet", "shop", 5, None)),
            post("px", "hx", Some(3)),
        ],
        Timestamp(3),
    );
    assert!(r.iter().all(Result::is_ok), "{r:?}");
}

#[test]
fn currencies_never_mix() {
    let mut s = world();
    let mut t = xfer("t1", "wallet", "shop", 1);
    t.currency = Currency::USD;
    assert_eq!(
        code(one(&mut s, Op::Transfer(t).into(), 2)),
        "currency_mismatch"
    );
    assert_eq!(
        code(one(&mut s, transfer("t2", "wallet", "wallet", 1), 2)),
        "accounts_must_differ"
    );
    assert_eq!(
        code(one(&mut s, transfer("t3", "wallet", "ghost", 1), 2)),
        "account_not_found"
    );
    assert_eq!(
        code(one(&mut s, transfer("t4", "wallet", "shop", 0), 2)),
        "amount_must_be_positive"
    );
    assert_eq!(
        code(one(&mut s, transfer("t5", "shop", "bank", i64::MAX), 2)),
        "ok"
    );
    assert_eq!(
        code(one(&mut s, transfer("t6", "shop", "bank", 1), 2)),
        "amount_overflow"
    );
}

/// Replays `entries` through a fresh verifier with a freshly computed chain; returns the
/// replay's summary.
fn replay(entries: &[Entry], state: &LedgerState) -> Result<verify::Summary, verify::Broken> {
    let mut v = Verifier::default();
    let mut prev = GENESIS_HASH;
    for (i, e) in entries.iter().enumerate() {
        let seq = i as i64 + 1;
        let body = e.body();
        let h = chain_hash(&prev, seq, body.as_bytes());
        v.entry(stored(seq, e, &body, &h))?;
        prev = h;
    }
    let head = StoredHead {
        seq: entries.len() as i64,
        hash: prev.to_vec(),
        at: entries.last().map_or(0, |e| e.at.0),
    };
    v.finish(
        &head,
        state.accounts().cloned().collect(),
        state.holds().cloned().collect(),
    )
}

fn stored<'a>(seq: i64, e: &'a Entry, body: &'a str, hash: &'a [u8]) -> StoredEntry<'a> {
    StoredEntry {
        seq,
        at: e.at.0,
        kind: e.kind(),
        transfer_id: e.transfer_id().map(|t| t.as_str()),
        body,
        hash,
    }
}

#[test]
fn verifier_catches_a_changed_entry() {
    let mut s = world();
    one(&mut s, hold("h1", "wallet", "shop", 500, None), 2).unwrap();
    let entries = s.take_changes().entries;
    assert!(replay(&entries, &s).is_ok());
    let body = entries[0].body();
    let h = chain_hash(&GENESIS_HASH, 1, body.as_bytes());
    let changed = body.replace("bank", "bonk");
    assert!(Verifier::default()
        .entry(stored(1, &entries[0], &changed, &h))
        .is_err());
    // The indexed columns must agree with the hashed body.
    let mut row = stored(1, &entries[0], &body, &h);
    row.at += 1;
    let e = Verifier::default().entry(row).unwrap_err();
    assert!(e.problem.contains("indexed columns"), "{e:?}");
    let t = entries
        .iter()
        .position(|e| e.transfer_id().is_some())
        .unwrap();
    let mut v = Verifier::default();
    let mut prev = GENESIS_HASH;
    for (i, e) in entries[..t].iter().enumerate() {
        let b = e.body();
        let h = chain_hash(&prev, i as i64 + 1, b.as_bytes());
        v.entry(stored(i as i64 + 1, e, &b, &h)).unwrap();
        prev = h;
    }
    let b = entries[t].body();
    let h = chain_hash(&prev, t as i64 + 1, b.as_bytes());
    let mut row = stored(t as i64 + 1, &entries[t], &b, &h);
    row.transfer_id = Some("renamed");
    assert_eq!(v.entry(row).unwrap_err().seq, Some(t as i64 + 1));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const ACCOUNTS: [&str; 4] = ["bank", "wallet", "card", "shop"];

    #[derive(Debug, Clone)]
    enum Step {
        Transfer(usize, usize, i64, bool),
        Hold(usize, usize, i64, Option<i64>, bool),
        Post(usize, Option<i64>, bool),
        Void(usize, bool),
        Retry(usize),
        Advance(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        let acct = 0..ACCOUNTS.len();
        let amount = prop_oneof![1i64..200, 1i64..20_000];
        prop_oneof![
            (acct.clone(), acct.clone(), amount.clone(), any::<bool>())
                .prop_map(|(a, b, m, l)| Step::Transfer(a, b, m, l)),
            (
                acct.clone(),
                acct,
                amount,
                proptest::option::of(1_000i64..5_000),
                any::<bool>()
            )
                .prop_map(|(a, b, m, t, l)| Step::Hold(a, b, m, t, l)),
            (0usize..40, proptest::option::of(1i64..300), any::<bool>())
                .prop_map(|(h, m, l)| Step::Post(h, m, l)),
            (0usize..40, any::<bool>()).prop_map(|(h, l)| Step::Void(h, l)),
            (0usize..60).prop_map(Step::Retry),
            (0i64..3_000).prop_map(Step::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Whatever clients throw at it, every account keeps its invariants, every currency
        /// balances, and replaying the journal reproduces exactly the live state.
        #[test]
        fn invariants_hold_and_journal_replays_to_the_same_state(steps in proptest::collection::vec(step(), 1..60)) {
            let mut s = LedgerState::for_execution(Timestamp(0));
            let flags = [
                AccountFlags::default(),
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            ];
            let setup: Vec<LinkedOp> = ACCOUNTS.iter().zip(flags).map(|(a, f)| open(a, f)).collect();
            s.execute(&setup, Timestamp(0));
            s.execute(&[transfer("seed", "bank", "wallet", 50_000)], Timestamp(0));
            let mut now = 1i64;
            let mut history: Vec<LinkedOp> = Vec::new();
            let mut pending: Vec<LinkedOp> = Vec::new();
            for (n, st) in steps.into_iter().enumerate() {
                let (op, link) = match st {
                    Step::Transfer(a, b, m, l) => (transfer(&format!("t{n}"), ACCOUNTS[a], ACCOUNTS[b], m), l),
                    Step::Hold(a, b, m, t, l) => (hold(&format!("h{n}"), ACCOUNTS[a], ACCOUNTS[b], m, t), l),
                    Step::Post(h, m, l) => (post(&format!("p{n}"), &format!("h{h}"), m), l),
                    Step::Void(h, l) => (void(&format!("v{n}"), &format!("h{h}")), l),
                    Step::Retry(i) => match history.get(i) {
                        Some(op) => (op.clone(), false),
                        None => continue,
                    },
                    Step::Advance(ms) => { now += ms; s.expire_due(Timestamp(now)); continue; }
                };
                history.push(LinkedOp { op: op.op.clone(), linked: false });
                pending.push(LinkedOp { op: op.op, linked: link });
                if !link {
                    s.execute(&pending, Timestamp(now));
                    pending.clear();
                }
                for a in s.accounts() {
                    prop_assert!(a.check_invariants().is_ok(), "{:?}", a);
                }
                for h in s.holds() {
                    prop_assert!(h.posted_amount <= h.amount);
                }
            }
            let entries = s.take_changes().entries;
            let summary = replay(&entries, &s);
            prop_assert!(summary.is_ok(), "{:?}", summary);
        }
    }
}
