//! Clock jumps against the real binary: `purser serve` runs under libfaketime
//! (`LD_PRELOAD`, `FAKETIME_TIMESTAMP_FILE`), whose offset the test rewrites while the server
//! runs — the wall clock steps forward and back as an NTP correction or a VM restore would
//! step it, while the monotonic clock (timers, timeouts) runs on (`DONT_FAKE_MONOTONIC=1`).
//!
//! Checked: a confirmation and a credential expire once the clock passes them, releasing their
//! holds exactly once; a mandate past its end refuses; signatures are judged by the server's
//! clock (too old after a jump forward, from the future after a jump back); nothing expired
//! comes back after a jump back, nothing expires early, and the ledger verifies at the end.
//!
//! Needs Debian's `faketime` package (`.ci/run` installs it); without it the test says it is
//! SKIPPED, unless `PURSER_TEST_REQUIRE_FAKETIME=1` (CI), which makes that a failure.

use std::path::Path;
use std::time::{Duration, Instant};

use purser_core::mandate::DateOrInstant;
use serde_json::Value;

use crate::payments::{boots_mandate, give_mandate, pay_body, register_merchant};
use crate::people::*;
use crate::support::*;

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

fn real_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Set the server's clock to real time + `offset_secs` (read by libfaketime on every call).
fn set_offset(file: &Path, offset_secs: i64) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{offset_secs:+}s\n")).expect("write the offset");
    std::fs::rename(&tmp, file).expect("move the offset in place");
}

/// A payment as the owner sees it.
fn status(p: &dyn Server, user: &Person, id: &str) -> String {
    let v = user.get(p, &format!("/v1/payments/{id}")).want(200);
    v["status"].as_str().unwrap_or_default().to_string()
}

/// CNY held in the wallet.
fn held(p: &dyn Server, user: &Person) -> i64 {
    let w = user.get(p, "/v1/wallet").want(200);
    w["balances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["currency"] == "CNY")
        .map_or(0, |b| b["held"]["amount"].as_i64().unwrap_or(-1))
}

/// Wait (real time, up to a minute) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < until, "{what}: not within a minute");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Pay as the agent, signed as if the time were `created`.
fn pay_at(p: &dyn Server, agent: &TestAgent, created: i64, body: &Value) -> Resp {
    let key = unique("clock");
    try_signed_call_at(
        p,
        &agent.key,
        "POST",
        "/v1/agent/payments",
        Some(body),
        &[("Idempotency-Key", key.as_str())],
        created,
    )
    .expect("an answer")
}

#[test]
fn clock_jumps_expire_once_and_never_resurrect() {
    if !Path::new(FAKETIME).exists() {
        assert!(
            std::env::var("PURSER_TEST_REQUIRE_FAKETIME").as_deref() != Ok("1"),
            "PURSER_TEST_REQUIRE_FAKETIME=1 but {FAKETIME} is missing (apt-get install faketime)"
        );
        eprintln!("clocks: SKIPPED — {FAKETIME} is missing (apt-get install faketime)");
        return;
    }
    let dir = TempDir::new("clocks");
    let offset = dir.path().join("faketime-offset");
    set_offset(&offset, 0);
    let offset_s = offset.to_string_lossy().to_string();
    let storage = Storage::Sqlite;
    let p = start_with_env(
        dir.path(),
        &storage,
        &["--sweep-interval", "1"],
        &[
            ("LD_PRELOAD", FAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", offset_s.as_str()),
            ("FAKETIME_NO_CACHE", "1"),
            ("DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let user = Person::new(&p, "Mei");
    user.funded(&p, 500_000);
    let (agent, _) = bound_agent(&p, &user, &user);
    let merchant = register_merchant(
        &p,
        "Trail Outfitters",
        &format!("{}.example", unique("clk")),
    );
    let mandate = give_mandate(&p, &user, &agent, &boots_mandate());
    // A second mandate that ends in an hour.
    let mut ending = boots_mandate();
    ending.when.valid_until = Some(DateOrInstant::Instant(purser_core::Timestamp(
        (real_secs() + 3_600) * 1_000,
    )));
    let ending = give_mandate(&p, &user, &agent, &ending);

    // Before any jump: one payment waits for Mei (15-minute link), one is approved (30-minute
    // credential). Both hold money.
    let now = real_secs();
    let waiting = pay_at(
        &p,
        &agent,
        now,
        &pay_body(&user, &mandate, &merchant, "Hiking Boots", 1, 69_900),
    );
    let waiting = waiting.want(201);
    assert_eq!(waiting["status"], "needs_confirmation", "{waiting}");
    let waiting = waiting["id"].as_str().unwrap_or_default().to_string();
    let approved = pay_at(
        &p,
        &agent,
        now,
        &pay_body(&user, &mandate, &merchant, "Hiking Boots", 1, 29_900),
    );
    let approved = approved.want(201);
    assert_eq!(approved["status"], "approved", "{approved}");
    let approved = approved["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(held(&p, &user), 69_900 + 29_900);

    // Forward 2 hours: both expire at the next sweep, and their holds come back once.
    set_offset(&offset, 7_200);
    eventually("the link and the credential expire", || {
        status(&p, &user, &waiting) == "expired" && status(&p, &user, &approved) == "expired"
    });
    eventually("the holds are released", || held(&p, &user) == 0);
    assert_eq!(user.available(&p), 500_000, "every fen is back, once");
    // A request signed by the real clock is now two hours old to the server.
    let r = pay_at(
        &p,
        &agent,
        real_secs(),
        &pay_body(&user, &mandate, &merchant, "Hiking Boots", 1, 9_900),
    );
    r.refused(401, "signature_expired");
    // Signed by the server's time, it is judged against the mandates: the ending one is over.
    let later = real_secs() + 7_200;
    let r = pay_at(
        &p,
        &agent,
        later,
        &pay_body(&user, &ending, &merchant, "Hiking Boots", 1, 9_900),
    );
    let r = r.want(201);
    assert_eq!(r["status"], "declined", "{r}");
    assert_eq!(r["decline"]["code"], "mandate_expired", "{r}");
    let fresh = pay_at(
        &p,
        &agent,
        later,
        &pay_body(&user, &mandate, &merchant, "Hiking Boots", 1, 19_900),
    );
    let fresh = fresh.want(201);
    assert_eq!(fresh["status"], "approved", "{fresh}");
    let fresh = fresh["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(held(&p, &user), 19_900);

    // Back 3 hours (to an hour before real time): nothing expired comes back, the fresh
    // credential (due 30 minutes after +2 h) does not expire early, and a request signed by the
    // real clock is from the server's future.
    set_offset(&offset, -3_600);
    std::thread::sleep(Duration::from_secs(3)); // a few sweeps at the earlier time
    assert_eq!(status(&p, &user, &waiting), "expired");
    assert_eq!(status(&p, &user, &approved), "expired");
    assert_eq!(status(&p, &user, &fresh), "approved", "not expired early");
    assert_eq!(held(&p, &user), 19_900);
    let r = pay_at(
        &p,
        &agent,
        real_secs(),
        &pay_body(&user, &mandate, &merchant, "Hiking Boots", 1, 9_900),
    );
    assert_eq!(r.status, 401, "{}", r.text);
    let code = r.body["code"].as_str().unwrap_or_default();
    assert!(
        code.starts_with("signature_"),
        "a signature refusal: {}",
        r.text
    );
    assert_eq!(held(&p, &user), 19_900, "the refusals moved nothing");

    // Forward past the fresh credential: it expires once; the books balance.
    set_offset(&offset, 7_200 + 3_600);
    eventually("the fresh credential expires", || {
        status(&p, &user, &fresh) == "expired"
    });
    eventually("its hold is released", || held(&p, &user) == 0);
    assert_eq!(user.available(&p), 500_000);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        user.available(&p),
        500_000,
        "released once, not at every sweep"
    );
    drop(p);
    let (code, out, err) = verify(dir.path(), &storage);
    assert_eq!(code, 0, "ledger verify after the jumps: {out}{err}");
}
