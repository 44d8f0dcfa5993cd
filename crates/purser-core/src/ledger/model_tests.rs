//! The ledger against an independent model: a few lines of plain arithmetic that say, for each
//! operation, whether it must succeed or which refusal it must get, and what every balance
//! must be afterwards. Shares no code with `state.rs`, so a wrong rule there shows up here.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::money::Currency;
use crate::time::Timestamp;

const ACCOUNTS: [(&str, u8); 4] = [("bank", 0), ("wallet", 1), ("card", 1), ("sink", 2)];

#[derive(Debug, Clone)]
enum Step {
    Transfer {
        id: usize,
        from: usize,
        to: usize,
        amount: i64,
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
        hold: usize,
        amount: Option<i64>,
    },
    Void {
        id: usize,
        hold: usize,
    },
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    let acct = 0..ACCOUNTS.len();
    let id = 0usize..30;
    // Exact seed balances too, so "spend exactly what is there" is exercised.
    let amount = prop_oneof![
        -5i64..300,
        1i64..30_000,
        Just(5_000i64),
        Just(10_000i64),
        Just(20_000i64)
    ];
    prop_oneof![
        (id.clone(), acct.clone(), acct.clone(), amount.clone()).prop_map(
            |(id, from, to, amount)| Step::Transfer {
                id,
                from,
                to,
                amount
            }
        ),
        (
            id.clone(),
            acct.clone(),
            acct,
            amount,
            proptest::option::of(1_000i64..6_000)
        )
            .prop_map(|(id, from, to, amount, timeout_ms)| Step::Hold {
                id,
                from,
                to,
                amount,
                timeout_ms
            }),
        (id.clone(), 0usize..30, proptest::option::of(-2i64..400))
            .prop_map(|(id, hold, amount)| Step::Post { id, hold, amount }),
        (id, 0usize..30).prop_map(|(id, hold)| Step::Void { id, hold }),
        (0i64..4_000).prop_map(Step::Advance),
    ]
}

#[derive(Default, Clone, Copy, Debug, PartialEq)]
struct Bal {
    dp: i64,
    dpo: i64,
    cp: i64,
    cpo: i64,
}

#[derive(Clone, Debug)]
struct MHold {
    from: usize,
    to: usize,
    amount: i64,
    expires: Option<i64>,
    state: &'static str,
    posted: i64,
}

/// What an id was first used for: the request and its answer.
#[derive(Clone, Debug)]
struct Used {
    kind: &'static str,
    key: (usize, usize, i64, Option<i64>),
    answer: Result<(), String>,
}

#[derive(Default)]
struct Model {
    bal: [Bal; 4],
    holds: HashMap<String, MHold>,
    used: HashMap<String, Used>,
}

impl Model {
    fn can_move(&self, from: usize, to: usize, amount: i64) -> Result<(), &'static str> {
        let (f, t) = (self.bal[from], self.bal[to]);
        if ACCOUNTS[from].1 == 1 && f.dp + f.dpo + amount > f.cpo {
            return Err("insufficient_funds");
        }
        if ACCOUNTS[to].1 == 2 && t.cp + t.cpo + amount > t.dpo {
            return Err("exceeds_debits");
        }
        Ok(())
    }

    fn expire(&mut self, now: i64) {
        for h in self.holds.values_mut() {
            if h.state == "pending" && h.expires.is_some_and(|e| e <= now) {
                h.state = "expired";
                self.bal[h.from].dp -= h.amount;
                self.bal[h.to].cp -= h.amount;
            }
        }
    }

    /// The answer the rules demand, applying it to the model.
    fn apply(&mut self, s: &Step, now: i64) -> Result<(), String> {
        let (id, kind, key) = match *s {
            Step::Transfer {
                id,
                from,
                to,
                amount,
            } => (format!("x{id}"), "transfer", (from, to, amount, None)),
            Step::Hold {
                id,
                from,
                to,
                amount,
                timeout_ms,
            } => (format!("x{id}"), "hold", (from, to, amount, timeout_ms)),
            Step::Post { id, hold, amount } => (format!("x{id}"), "post", (hold, 0, 0, amount)),
            Step::Void { id, hold } => (format!("x{id}"), "void", (hold, 0, 0, None)),
            Step::Advance(_) => return Ok(()),
        };
        if let Some(u) = self.used.get(&id).cloned() {
            if u.answer.is_err() {
                return if u.kind == kind && u.key == key {
                    u.answer
                } else {
                    Err("transfer_id_conflict".into())
                };
            }
        }
        let answer = match *s {
            Step::Transfer {
                from, to, amount, ..
            }
            | Step::Hold {
                from, to, amount, ..
            } => {
                if let Some(u) = self.used.get(&id) {
                    return if u.kind == kind && u.key == key {
                        Ok(())
                    } else {
                        Err("transfer_id_conflict".into())
                    };
                }
                let hold_timeout = if let Step::Hold { timeout_ms, .. } = *s {
                    timeout_ms
                } else {
                    None
                };
                if amount <= 0 {
                    Err("amount_must_be_positive")
                } else if from == to {
                    Err("accounts_must_differ")
                } else {
                    self.can_move(from, to, amount).map(|()| {
                        if kind == "hold" {
                            self.bal[from].dp += amount;
                            self.bal[to].cp += amount;
                            let expires = hold_timeout.map(|t| now + t);
                            let h = MHold {
                                from,
                                to,
                                amount,
                                expires,
                                state: "pending",
                                posted: 0,
                            };
                            self.holds.insert(id.clone(), h);
                        } else {
                            self.bal[from].dpo += amount;
                            self.bal[to].cpo += amount;
                        }
                    })
                }
            }
            Step::Post { hold, .. } | Step::Void { hold, .. } => {
                let amount = if let Step::Post { amount, .. } = *s {
                    amount
                } else {
                    None
                };
                let hid = format!("x{hold}");
                let Some(h) = self.holds.get(&hid).cloned() else {
                    return self.remember(id, kind, key, Err("hold_not_found"));
                };
                if let Some(u) = self.used.get(&id) {
                    let same = u.kind == kind
                        && u.key.0 == hold
                        && (kind == "void" || amount.unwrap_or(h.amount) == h.posted);
                    return if same {
                        Ok(())
                    } else {
                        Err("transfer_id_conflict".into())
                    };
                }
                let is_post = kind == "post";
                if h.state != "pending" {
                    Err(match h.state {
                        "posted" => "hold_already_posted",
                        "voided" => "hold_already_voided",
                        _ => "hold_expired",
                    })
                } else if h.expires.is_some_and(|e| e <= now) {
                    // Found past due: this hold (only) expires now.
                    self.bal[h.from].dp -= h.amount;
                    self.bal[h.to].cp -= h.amount;
                    if let Some(m) = self.holds.get_mut(&hid) {
                        m.state = "expired";
                    }
                    Err("hold_expired")
                } else {
                    let amt = if is_post {
                        amount.unwrap_or(h.amount)
                    } else {
                        h.amount
                    };
                    if amt <= 0 {
                        Err("amount_must_be_positive")
                    } else if amt > h.amount {
                        Err("post_exceeds_hold")
                    } else {
                        let posted = if is_post { amt } else { 0 };
                        self.bal[h.from].dp -= h.amount;
                        self.bal[h.to].cp -= h.amount;
                        self.bal[h.from].dpo += posted;
                        self.bal[h.to].cpo += posted;
                        let m = self.holds.get_mut(&hid).unwrap();
                        m.state = if is_post { "posted" } else { "voided" };
                        m.posted = posted;
                        Ok(())
                    }
                }
            }
            Step::Advance(_) => Ok(()),
        };
        self.remember(id, kind, key, answer)
    }

    fn remember(
        &mut self,
        id: String,
        kind: &'static str,
        key: (usize, usize, i64, Option<i64>),
        a: Result<(), &str>,
    ) -> Result<(), String> {
        let answer = a.map_err(str::to_string);
        // An id keeps its first use.
        self.used.entry(id).or_insert(Used {
            kind,
            key,
            answer: answer.clone(),
        });
        answer
    }
}

fn op_of(s: &Step) -> Option<Op> {
    let t = |id: usize, from: usize, to: usize, amount: i64| NewTransfer {
        id: TransferId::parse(&format!("x{id}")).unwrap(),
        debit_account_id: AccountId::parse(ACCOUNTS[from].0).unwrap(),
        credit_account_id: AccountId::parse(ACCOUNTS[to].0).unwrap(),
        amount,
        currency: Currency::EUR,
    };
    let tid = |i: usize| TransferId::parse(&format!("x{i}")).unwrap();
    Some(match *s {
        Step::Transfer {
            id,
            from,
            to,
            amount,
        } => Op::Transfer(t(id, from, to, amount)),
        Step::Hold {
            id,
            from,
            to,
            amount,
            timeout_ms,
        } => Op::Hold {
            transfer: t(id, from, to, amount),
            timeout_ms,
        },
        Step::Post { id, hold, amount } => Op::Post {
            id: tid(id),
            pending_id: tid(hold),
            amount,
        },
        Step::Void { id, hold } => Op::Void {
            id: tid(id),
            pending_id: tid(hold),
        },
        Step::Advance(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn ledger_agrees_with_an_independent_model(steps in proptest::collection::vec(step(), 1..80)) {
        let mut s = LedgerState::for_execution(Timestamp(0));
        let mut m = Model::default();
        let flags = |f: u8| AccountFlags { debits_must_not_exceed_credits: f == 1, credits_must_not_exceed_debits: f == 2 };
        let setup: Vec<LinkedOp> = ACCOUNTS
            .iter()
            .map(|(id, f)| Op::CreateAccount(NewAccount { id: AccountId::parse(id).unwrap(), currency: Currency::EUR, flags: flags(*f) }).into())
            .collect();
        assert!(s.execute(&setup, Timestamp(0)).iter().all(Result::is_ok));
        // Seed: the bank pays the wallet and the card; the sink is funded by a debit.
        for (i, (from, to, amount)) in [(0usize, 1usize, 20_000i64), (0, 2, 5_000), (3, 0, 10_000)].into_iter().enumerate() {
            let step = Step::Transfer { id: 100 + i, from, to, amount };
            prop_assert!(s.execute(&[op_of(&step).unwrap().into()], Timestamp(0))[0].is_ok());
            m.apply(&step, 0).unwrap();
        }
        let mut now = 1i64;
        for st in &steps {
            if let Step::Advance(ms) = st {
                now += ms;
                s.expire_due(Timestamp(now));
                m.expire(now);
                continue;
            }
            let got = s.execute(&[op_of(st).unwrap().into()], Timestamp(now)).pop().unwrap();
            let want = m.apply(st, now);
            let got_code = got.as_ref().map(|_| ()).map_err(|e| e.code().to_string());
            prop_assert_eq!(&got_code, &want, "step {:?} at {}", st, now);
        }
        for (i, (id, _)) in ACCOUNTS.iter().enumerate() {
            let a = s.account(&AccountId::parse(id).unwrap()).unwrap();
            let b = Bal { dp: a.debits_pending, dpo: a.debits_posted, cp: a.credits_pending, cpo: a.credits_posted };
            prop_assert_eq!(b, m.bal[i], "account {}", id);
        }
        for (id, h) in &m.holds {
            let real = s.hold(&TransferId::parse(id).unwrap()).unwrap();
            prop_assert_eq!((real.state.as_str(), real.posted_amount), (h.state, h.posted), "hold {}", id);
        }
    }
}
