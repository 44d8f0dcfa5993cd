//! `purser bench mandates`: how fast a merchant or network checks a Purser mandate offline, beside
//! the floor of the signatures that check must make, all measured in the same run on one core.
//!
//! - **Floor**: one bare ES256 verification (and one Ed25519), the primitive the chain verifier
//!   calls once per hop.
//! - **Chains**: full `verify_chain` of a realistic two-hop chain, Purser's ES256 root open
//!   payment mandate (as `purser_ap2::issue_open_mandates` issues it) closed by the agent's
//!   `mandate.payment.1` hop: signed with Ed25519 (agents' keys), and all-ES256 like the AP2
//!   vectors. Parse, two signatures, disclosures, binding, times, `vct`.
//! - **Ceiling**: a two-hop chain cannot beat its two signatures, so the ceiling is
//!   `1 / (t_root + t_hop)`: `floor / 2` for all-ES256.
//! - **Evaluation**: `Mandate::evaluate` of one payment against the same mandate (pure, no I/O).
//!
//! Chains are issued before the clock starts. Floors and chains are measured in turns (40 rounds
//! of each) so that every ratio compares figures taken under the same load; everything runs on
//! the calling thread, so the figures are per core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use purser_ap2::{
    append_hop, issue_open_mandates, parse_chain, random_salt, verify_chain, Ap2Error, Binding,
    Ed25519Signer, Es256Signer, HopContent, JwsSigner, OpenContext, PublicJwk, VerifyOptions,
    SALT_BYTES,
};
use purser_core::mandate::{
    At, CartItem, ConfirmationPolicy, ConfirmationRule, Interval, IntervalLimit, LineItem, Mandate,
    MerchantFacts, MerchantRef, PaymentRequest, Provenance, Spent, Usage,
};
use purser_core::{Currency, Money, Timestamp};
use serde::Serialize;
use serde_json::{json, Map};

pub struct Options {
    /// Total measuring time, split between the rows.
    pub seconds: f64,
}

#[derive(Serialize)]
pub struct Rate {
    pub per_second: f64,
    pub micros_each: f64,
}

#[derive(Serialize)]
pub struct ChainRow {
    pub variant: String,
    pub chain_bytes: usize,
    pub rate: Rate,
    /// `1 / (t_root_signature + t_hop_signature)` from the floors measured in this run.
    pub ceiling_per_second: f64,
    /// `rate / ceiling`.
    pub of_ceiling: f64,
    /// `rate / (es256_floor / 2)`: against the all-ES256 two-signature ceiling.
    pub of_es256_ceiling: f64,
}

#[derive(Serialize)]
pub struct Report {
    pub es256_verify_floor: Rate,
    pub ed25519_verify_floor: Rate,
    pub chains: Vec<ChainRow>,
    /// One `Mandate::evaluate` of a payment against the bench mandate.
    pub evaluate: Rate,
    /// Goal: chains per second per core.
    pub goal_chains_per_second: f64,
    /// Goal: share of the two-signature ceiling.
    pub goal_of_ceiling: f64,
}

const T0: i64 = 1_800_000_000;
const GOAL_CHAINS_PER_SECOND: f64 = 7_000.0;
const GOAL_OF_CEILING: f64 = 0.8;

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

/// "Hiking boots from JD or Decathlon, under ¥800 a pair, ¥2,000 a month, ask above ¥500".
fn bench_mandate() -> Mandate {
    let mut m = Mandate {
        description: "Buy hiking boots".into(),
        ..Mandate::default()
    };
    m.what.merchants = vec![
        MerchantRef {
            id: Some("mch_jd".into()),
            name: Some("JD".into()),
            website: Some("jd.com".into()),
        },
        MerchantRef {
            id: Some("mch_decathlon".into()),
            name: Some("Decathlon".into()),
            website: Some("decathlon.com.cn".into()),
        },
    ];
    m.what.line_items = vec![LineItem {
        description: "hiking boots".into(),
        quantity: 1,
        unit: Some("pair".into()),
        max_quantity: Some(2),
    }];
    m.how_much.per_payment_max = Some(cny(80_000));
    m.how_much.budget = Some(cny(200_000));
    m.how_much.interval_limits = vec![IntervalLimit {
        interval: Interval::Monthly,
        amount: cny(200_000),
    }];
    m.when.timezone = Some("Asia/Shanghai".into());
    m.confirmation = ConfirmationPolicy {
        rules: vec![ConfirmationRule::AutoAtOrBelow {
            amount: cny(50_000),
        }],
    };
    m.provenance = Provenance {
        user_words: "buy me hiking boots, under 800 yuan, from JD or Decathlon".into(),
        transcript: None,
    };
    m
}

fn err(e: Ap2Error) -> String {
    e.to_string()
}

/// Purser's open payment credential for `agent`, closed by `agent` with a `mandate.payment.1`.
fn two_hop_chain(purser: &Es256Signer, agent: &dyn JwsSigner) -> Result<String, String> {
    let ctx = OpenContext {
        mandate_id: "mdt_bench".into(),
        issuer: "https://wallet.example".into(),
        agent_jwk: agent.public_jwk(),
        iat: T0,
        max_exp: T0 + 30 * 86_400,
        timezone: "Asia/Shanghai".into(),
        utc_offset_secs: 8 * 3600,
    };
    let mut salt = || -> Result<[u8; SALT_BYTES], Ap2Error> { random_salt() };
    let creds = issue_open_mandates(purser, &bench_mandate(), &ctx, &mut salt).map_err(err)?;
    let closed = json!({
        "vct": "mandate.payment.1",
        "transaction_id": "rYl0H4cLqS0pEyMLn5q2kQ4Wz0aK7hWq1tG6xJ3mB8c",
        "payee": {"id": "mch_jd", "name": "JD", "website": "jd.com"},
        "payment_amount": {"amount": 79_900, "currency": "CNY"},
        "payment_instrument": {"id": "exclusive_card", "type": "purser.exclusive_card"},
    });
    let content = HopContent {
        mandate: closed.as_object().cloned().unwrap_or_else(Map::new),
        disclosable: Vec::new(),
        claims: Map::new(),
    };
    append_hop(
        &creds.payment,
        agent,
        Binding::SdHash,
        "merchant.example",
        "bench-nonce",
        T0 + 60,
        false,
        &content,
        &mut salt,
    )
    .map_err(err)
}

/// Runs `op` for `budget`, checking the clock every 32 calls; returns its rate.
fn time_for(budget: Duration, mut op: impl FnMut() -> bool) -> Result<Rate, String> {
    let (n, secs) = run_for(budget, &mut op)?;
    Ok(rate(n, secs))
}

fn rate(n: u64, secs: f64) -> Rate {
    let per_second = n as f64 / secs;
    Rate {
        per_second,
        micros_each: 1e6 / per_second,
    }
}

fn run_for(budget: Duration, op: &mut dyn FnMut() -> bool) -> Result<(u64, f64), String> {
    let start = Instant::now();
    let mut n: u64 = 0;
    loop {
        for _ in 0..32 {
            if !black_box(op()) {
                return Err("the measured operation failed".into());
            }
        }
        n += 32;
        if start.elapsed() >= budget {
            break;
        }
    }
    Ok((n, start.elapsed().as_secs_f64()))
}

/// Rounds the interleaved rows take turns in.
const ROUNDS: u32 = 40;

/// Measures several operations in turns (round robin, [`ROUNDS`] rounds in `budget`), so that
/// each sees the same machine: a ratio between them stays meaningful when other work on the
/// machine comes and goes during the run.
fn interleaved(
    budget: Duration,
    ops: &mut [&mut dyn FnMut() -> bool],
) -> Result<Vec<Rate>, String> {
    let turns = ROUNDS
        .saturating_mul(u32::try_from(ops.len()).unwrap_or(u32::MAX))
        .max(1);
    let turn = budget / turns;
    let mut totals = vec![(0u64, 0f64); ops.len()];
    for _ in 0..ROUNDS {
        for (op, total) in ops.iter_mut().zip(totals.iter_mut()) {
            let (n, secs) = run_for(turn, &mut **op)?;
            total.0 += n;
            total.1 += secs;
        }
    }
    Ok(totals.into_iter().map(|(n, secs)| rate(n, secs)).collect())
}

/// The signing input and raw signature of a chain's `hop`-th JWT.
fn signed_part(chain: &str, hop: usize) -> Result<(String, Vec<u8>), String> {
    let parsed = parse_chain(chain).map_err(err)?;
    let jwt = parsed.hops.get(hop).ok_or("no such hop")?.jwt;
    let (input, sig) = jwt.rsplit_once('.').ok_or("not a JWS")?;
    let sig = base64_decode(sig).ok_or("signature not base64url")?;
    Ok((input.to_owned(), sig))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

pub fn run(opts: Options) -> Result<Report, String> {
    let purser = Es256Signer::generate(Some("purser-bench".into()))
        .map_err(err)?
        .0;
    let agent_ed = Ed25519Signer::generate(Some("agt_bench".into()))
        .map_err(err)?
        .0;
    let agent_es = Es256Signer::generate(Some("agt_bench_es".into()))
        .map_err(err)?
        .0;
    let mixed = two_hop_chain(&purser, &agent_ed)?;
    let all_es = two_hop_chain(&purser, &agent_es)?;
    let root_key = purser.public_key().map_err(err)?;
    let ed_key = agent_ed.public_key().map_err(err)?;
    let now = Timestamp((T0 + 90) * 1000);
    let verify_opts = VerifyOptions::new(root_key.clone(), now)
        .audience("merchant.example")
        .nonce("bench-nonce")
        .final_vct("mandate.payment.1")
        .allow_eddsa();
    // Both chains verify before anything is timed.
    verify_chain(&mixed, &verify_opts).map_err(err)?;
    verify_chain(&all_es, &verify_opts).map_err(err)?;

    // Floors and chains take turns, so their ratios hold when the machine's load changes.
    let total = Duration::from_secs_f64(opts.seconds.max(0.1));
    let (es_msg, es_sig) = signed_part(&mixed, 0)?;
    let (ed_msg, ed_sig) = signed_part(&mixed, 1)?;
    let mut es_floor = || verify(&root_key, &es_msg, &es_sig);
    let mut ed_floor = || verify(&ed_key, &ed_msg, &ed_sig);
    let mut mixed_chain = || verify_chain(&mixed, &verify_opts).is_ok();
    let mut es_chain = || verify_chain(&all_es, &verify_opts).is_ok();
    let mut rates = interleaved(
        total.mul_f64(0.8),
        &mut [
            &mut es_floor,
            &mut ed_floor,
            &mut mixed_chain,
            &mut es_chain,
        ],
    )?
    .into_iter();
    let (Some(es256), Some(ed25519), Some(mixed_rate), Some(es_rate)) =
        (rates.next(), rates.next(), rates.next(), rates.next())
    else {
        return Err("a measurement is missing".into());
    };

    let es_ceiling = es256.per_second / 2.0;
    let mut chains = Vec::new();
    for (variant, chain, rate, hop_micros) in [
        (
            "Purser ES256 root → agent Ed25519 closed payment",
            &mixed,
            mixed_rate,
            ed25519.micros_each,
        ),
        (
            "Purser ES256 root → agent ES256 closed payment (like the AP2 vectors)",
            &all_es,
            es_rate,
            es256.micros_each,
        ),
    ] {
        let ceiling = 1e6 / (es256.micros_each + hop_micros);
        chains.push(ChainRow {
            variant: variant.into(),
            chain_bytes: chain.len(),
            of_ceiling: rate.per_second / ceiling,
            of_es256_ceiling: rate.per_second / es_ceiling,
            ceiling_per_second: ceiling,
            rate,
        });
    }

    let m = bench_mandate();
    let req = PaymentRequest {
        amount: cny(79_900),
        merchant: MerchantFacts {
            id: Some("mch_jd".into()),
            name: Some("JD".into()),
            website: Some("https://www.jd.com/item/100012".into()),
            country: None,
            mcc: None,
        },
        items: vec![CartItem {
            id: Some("sku-100012".into()),
            title: "Men's waterproof hiking boots, size 43".into(),
            quantity: 1,
            unit_price: Some(cny(79_900)),
        }],
        instrument: None,
    };
    let at = At {
        instant: Timestamp(T0 * 1000),
        utc_offset_ms: 8 * 3_600_000,
    };
    let spent = Spent {
        buckets: vec![
            (
                "all".into(),
                Usage {
                    amount: 45_000,
                    payments: 1,
                },
            ),
            (
                "month:2027-01".into(),
                Usage {
                    amount: 45_000,
                    payments: 1,
                },
            ),
        ],
    };
    if !m.evaluate(&req, at, &spent).allowed() {
        return Err("the bench payment does not fit the bench mandate".into());
    }
    let evaluate = time_for(total.mul_f64(0.2), || {
        black_box(&m)
            .evaluate(black_box(&req), at, black_box(&spent))
            .allowed()
    })?;

    Ok(Report {
        es256_verify_floor: es256,
        ed25519_verify_floor: ed25519,
        chains,
        evaluate,
        goal_chains_per_second: GOAL_CHAINS_PER_SECOND,
        goal_of_ceiling: GOAL_OF_CEILING,
    })
}

fn verify(key: &PublicJwk, msg: &str, sig: &[u8]) -> bool {
    key.verify(black_box(msg.as_bytes()), black_box(sig))
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "Offline mandate checks on one core (measured in this run)\n\
         Floor: bare ES256 verification: {:.0}/s ({:.1} µs each); Ed25519: {:.0}/s ({:.1} µs each)\n\
         Two-signature ceiling, all ES256 (floor / 2): {:.0} chains/s\n\n\
         {:<72}  {:>6}  {:>10}  {:>8}  {:>8}  {:>10}\n",
        r.es256_verify_floor.per_second,
        r.es256_verify_floor.micros_each,
        r.ed25519_verify_floor.per_second,
        r.ed25519_verify_floor.micros_each,
        r.es256_verify_floor.per_second / 2.0,
        "two-hop chain (verify_chain: parse, 2 signatures, disclosures, binding)",
        "bytes",
        "chains/s",
        "µs each",
        "of own",
        "of ES256"
    );
    for c in &r.chains {
        out.push_str(&format!(
            "{:<72}  {:>6}  {:>10.0}  {:>8.1}  {:>7.0}%  {:>9.0}%\n",
            c.variant,
            c.chain_bytes,
            c.rate.per_second,
            c.rate.micros_each,
            c.of_ceiling * 100.0,
            c.of_es256_ceiling * 100.0
        ));
    }
    out.push_str(&format!(
        "\nMandate::evaluate of one payment (merchant, item, amounts, monthly and lifetime buckets, \
         confirmation): {:.0}/s ({:.2} µs each)\n",
        r.evaluate.per_second, r.evaluate.micros_each
    ));
    out.push_str(&format!(
        "\n\"of own\" is against that chain's two-signature ceiling 1/(t_root + t_hop); \"of ES256\" \
         against floor / 2.\nGoal: at least {:.0} chains/s per core and {:.0}% of the ceiling.\n",
        r.goal_chains_per_second,
        r.goal_of_ceiling * 100.0
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes_like_the_standard() {
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64_decode("a+b").is_none());
    }

    #[test]
    fn a_short_run_reports_every_row() {
        let r = run(Options { seconds: 0.3 }).unwrap();
        assert_eq!(r.chains.len(), 2);
        assert!(r.chains.iter().all(|c| c.rate.per_second > 0.0));
        assert!(render(&r).contains("chains/s"));
    }
}
