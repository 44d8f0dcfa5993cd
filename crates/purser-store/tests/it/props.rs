//! Random operation sequences through the real ledger (SQLite only: each commit fsyncs, so
//! cases are few and short). The same sequence is run through the in-memory core state machine
//! as a model: the store must give the same answer to every operation and end with the same
//! balances and holds; and afterwards verify passes and every account keeps its invariants.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use purser_core::ledger::{AccountFlags, LedgerState, LinkedOp, Op};
use purser_core::{Clock, Currency};

use crate::harness::*;

const ACCOUNTS: [&str; 5] = ["bank", "w1", "w2", "shop", "cap"];
/// Few ids, so retries, conflicts and posts of real holds happen often.
const IDS: usize = 12;

#[derive(Clone, Debug)]
enum Spec {
    Open {
        account: usize,
        eur: bool,
        flags: u8,
    },
    Transfer {
        id: usize,
        from: usize,
        to: usize,
        amount: i64,
        eur: bool,
    },
    Hold {
        id: usize,
        from: usize,
        to: usize,
        amount: i64,
        timeout_ms: Option<i64>,
    },
    Post {
        id: usize,
        pending: usize,
        amount: Option<i64>,
    },
    Void {
        id: usize,
        pending: usize,
    },
}

fn currency(eur: bool) -> Currency {
    if eur {
        Currency::EUR
    } else {
        Currency::USD
    }
}

fn flags(bits: u8) -> AccountFlags {
    AccountFlags {
        debits_must_not_exceed_credits: bits & 1 != 0,
        credits_must_not_exceed_debits: bits & 2 != 0,
    }
}

fn id(i: usize) -> String {
    format!("x-{i}")
}

impl Spec {
    fn op(&self) -> Op {
        match *self {
            Spec::Open {
                account,
                eur,
                flags: f,
            } => open_account(ACCOUNTS[account], currency(eur), flags(f)),
            Spec::Transfer {
                id: i,
                from,
                to,
                amount,
                eur,
            } => {
                let mut t = new_transfer(&id(i), ACCOUNTS[from], ACCOUNTS[to], amount);
                t.currency = currency(eur);
                Op::Transfer(t)
            }
            Spec::Hold {
                id: i,
                from,
                to,
                amount,
                timeout_ms,
            } => hold(&id(i), ACCOUNTS[from], ACCOUNTS[to], amount, timeout_ms),
            Spec::Post {
                id: i,
                pending,
                amount,
            } => post(&id(i), &id(pending), amount),
            Spec::Void { id: i, pending } => void(&id(i), &id(pending)),
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let account = || 0..ACCOUNTS.len();
    let tid = || 0..IDS;
    let amount = || prop_oneof![10 => 1i64..3_000, 1 => -2i64..=0];
    prop_oneof![
        1 => (account(), prop::bool::weighted(0.2), 0u8..4)
            .prop_map(|(account, eur, flags)| Spec::Open { account, eur, flags }),
        4 => (tid(), account(), account(), amount(), prop::bool::weighted(0.1))
            .prop_map(|(id, from, to, amount, eur)| Spec::Transfer { id, from, to, amount, eur }),
        3 => (
            tid(),
            account(),
            account(),
            amount(),
            prop_oneof![1 => Just(None), 4 => (500i64..15_000).prop_map(Some)],
        )
            .prop_map(|(id, from, to, amount, timeout_ms)| Spec::Hold { id, from, to, amount, timeout_ms }),
        3 => (tid(), tid(), prop::option::of(amount()))
            .prop_map(|(id, pending, amount)| Spec::Post { id, pending, amount }),
        1 => (tid(), tid()).prop_map(|(id, pending)| Spec::Void { id, pending }),
    ]
}

/// A submission (1 to 3 operations, each perhaps linked to the next) and how far the clock
/// moves after it.
type Step = (Vec<(Spec, bool)>, i64);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            prop::collection::vec((spec(), prop::bool::weighted(0.25)), 1..=3),
            prop_oneof![2 => Just(0i64), 3 => 1i64..8_000],
        ),
        1..=13,
    )
}

#[test]
fn random_operation_sequences_match_the_model_and_verify() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut runner = TestRunner::new(Config {
        cases: 16,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&steps(), |steps| rt.block_on(run_case(steps)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn run_case(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let db_config = purser_store::StoreConfig::sqlite_in(dir.path());
    let clock = clock();
    let ledger = purser_store::Ledger::open(db_config.clone(), clock.clone())
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut model = LedgerState::for_execution(purser_core::Timestamp(0));
    let mut model_entries = 0i64;

    let setup: Vec<LinkedOp> = vec![
        single(open_account("bank", Currency::USD, PLAIN)),
        single(open_account("w1", Currency::USD, WALLET)),
        single(open_account("shop", Currency::USD, PLAIN)),
        single(transfer("seed", "bank", "w1", 5_000)),
    ];
    let mut submissions: Vec<(Vec<LinkedOp>, i64)> = vec![(setup, 0)];
    submissions.extend(steps.iter().map(|(ops, advance)| {
        let ops = ops
            .iter()
            .map(|(s, l)| LinkedOp {
                op: s.op(),
                linked: *l,
            })
            .collect();
        (ops, *advance)
    }));

    for (ops, advance) in submissions {
        let now = clock.now();
        // What the writer does for a batch: sweep due holds, then run the submission.
        model.expire_due(now);
        let expected = model.execute(&ops, now);
        model_entries += model.take_changes().entries.len() as i64;

        let got = ledger
            .submit(ops.clone())
            .await
            .map_err(|e| TestCaseError::fail(format!("storage failed: {e}")))?;
        prop_assert_eq!(&got, &expected, "results differ for {:?}", ops);

        for name in ACCOUNTS {
            let stored = ledger
                .account(&aid(name))
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                stored.as_ref(),
                model.account(&aid(name)),
                "account {}",
                name
            );
        }
        clock.advance_ms(advance);
    }

    // Let any expiry that came due with the last clock move happen in both.
    let now = clock.now();
    model.expire_due(now);
    model_entries += model.take_changes().entries.len() as i64;
    ok(&ledger, open_account("bank", Currency::USD, PLAIN)).await;

    let mut totals: BTreeMap<&str, [i128; 4]> = BTreeMap::new();
    let mut existing = 0;
    for name in ACCOUNTS {
        let stored = ledger
            .account(&aid(name))
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            stored.as_ref(),
            model.account(&aid(name)),
            "account {}",
            name
        );
        if let Some(a) = stored {
            existing += 1;
            if let Err(e) = a.check_invariants() {
                return Err(TestCaseError::fail(e));
            }
            let t = totals.entry(a.currency.code()).or_default();
            for (k, b) in balances(&a).into_iter().enumerate() {
                t[k] += i128::from(b);
            }
        }
    }
    for (cur, [dp, dpo, cp, cpo]) in &totals {
        prop_assert_eq!(dp, cp, "{} pending debits and credits differ", cur);
        prop_assert_eq!(dpo, cpo, "{} posted debits and credits differ", cur);
    }
    for i in 0..IDS {
        let stored = ledger
            .hold(&tid(&id(i)))
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(stored.as_ref(), model.hold(&tid(&id(i))), "hold {}", id(i));
    }

    ledger.shutdown().await;
    match purser_store::verify(&db_config).await {
        Ok(Ok(summary)) => {
            prop_assert_eq!(summary.entries, model_entries);
            prop_assert_eq!(summary.accounts, existing);
        }
        Ok(Err(broken)) => return Err(TestCaseError::fail(format!("verify: {broken:?}"))),
        Err(e) => return Err(TestCaseError::fail(format!("verify could not run: {e}"))),
    }
    Ok(())
}
