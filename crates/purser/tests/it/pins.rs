//! PINs and the confirmation page.
//!
//! - The PIN rules over REST (`/v1/me/pin`): shape, trivial PINs, changing needs the current
//!   PIN, scopes, lockout after five wrong PINs in a row (then even the right one is refused),
//!   concurrent wrong guesses never get more than five checks; the PIN is never in the server
//!   log (at trace level), the database files or rows, or any answer.
//! - `purser pin set|status` from the CLI: prompt or `--pin-stdin`, never an argument.
//! - The confirmation page for a token that does not exist: a 404 page (HTML, not JSON) with
//!   the security headers, saying nothing about the token.
//! - The whole approve / decline flow through a payment that needs confirmation.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::both;
use crate::payments::{boots_mandate, give_mandate, pay, pay_body, register_merchant, Merchant};
use crate::people::*;
use crate::support::*;

/// PINs under watch. Long and unpatterned, so no timestamp or counter in a log can hold them by
/// chance.
const FIRST: &str = "48291573";
const SECOND: &str = "7391640285";
const WRONG: &str = "90817263";

// ---- helpers ---------------------------------------------------------------------------

fn set_pin(p: &dyn Server, who: &Person, pin: &str, current: Option<&str>) -> Resp {
    let mut body = json!({ "pin": pin });
    if let Some(c) = current {
        body["current_pin"] = json!(c);
    }
    who.post(p, "/v1/me/pin", &body)
}

fn pin_status(p: &dyn Server, who: &Person) -> Value {
    who.get(p, "/v1/me/pin").want(200)
}

fn find(haystack: &[u8], needle: &str) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// Panic if any of `pins` is in `haystack`; `control` must be there (the search saw data).
#[track_caller]
fn assert_no_pin(what: &str, haystack: &[u8], pins: &[&str], control: &str) {
    for pin in pins {
        if let Some(at) = find(haystack, pin) {
            let from = at.saturating_sub(80);
            let to = (at + pin.len() + 80).min(haystack.len());
            panic!(
                "{what} holds the PIN {pin} at byte {at}: …{}…",
                String::from_utf8_lossy(&haystack[from..to])
            );
        }
    }
    assert!(
        find(haystack, control).is_some(),
        "{what}: the control {control:?} is missing, so this search saw nothing"
    );
}

/// No PIN in the data directory's files nor, on PostgreSQL, in any row; the hash stored is an
/// argon2id PHC string.
#[track_caller]
fn assert_storage_has_no_pin(data: &Path, storage: &Storage, pins: &[&str]) {
    let mut all = Vec::new();
    for (_, bytes) in files_under(data) {
        all.extend_from_slice(&bytes);
    }
    if let Some(url) = storage.url() {
        all.extend_from_slice(pg_dump_text(url).as_bytes());
    }
    assert_no_pin("storage", &all, pins, "$argon2id$v=19$m=19456,t=2,p=1$");
}

/// Run `purser` with `stdin` piped in.
fn run_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("PURSER_DATABASE_URL")
        .env_remove("PURSER_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run purser");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("purser finished");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The CSRF cookie and the page's token, as a browser gets them by opening `path`.
pub(crate) fn csrf_of(p: &dyn Server, path: &str) -> (String, String) {
    let r = match agent().get(&format!("{}{path}", p.base())).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("opening {path}: {e}"),
    };
    let cookie = r
        .all("set-cookie")
        .iter()
        .find_map(|c| c.strip_prefix("purser-csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string();
    let text = r.into_string().unwrap_or_default();
    let token = text
        .split("name=\"purser-csrf\" content=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_default()
        .to_string();
    (cookie, token)
}

/// A form post, as a browser sends it from the page it opened (CSRF cookie and field).
pub(crate) fn form_post(p: &dyn Server, path: &str, form: &str) -> Resp {
    let (cookie, token) = csrf_of(p, path);
    let r = agent()
        .post(&format!("{}{path}", p.base()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .set("Cookie", &format!("purser-csrf={cookie}"))
        .send_string(&format!("csrf={token}&{form}"));
    page_of(r)
}

/// A form post without the page's CSRF token (as another site would send it).
fn form_post_without_csrf(p: &dyn Server, path: &str, form: &str) -> Resp {
    let r = agent()
        .post(&format!("{}{path}", p.base()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(form);
    page_of(r)
}

/// A page fetched without credentials, as a phone opening a link does.
fn open_page(p: &dyn Server, path: &str) -> Resp {
    page_of(agent().get(&format!("{}{path}", p.base())).call())
}

fn page_of(r: Result<ureq::Response, ureq::Error>) -> Resp {
    crate::people::into_resp(r, "confirmation page")
}

/// An HTML page for a person, with every security header.
#[track_caller]
fn assert_page(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.body, Value::Null, "a page, not JSON: {}", r.text);
    assert!(r.text.starts_with("<!doctype html>"), "{}", r.text);
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // Purser's own script only, never inline script.
    assert!(!r.text.contains("<script>"), "{}", r.text);
    assert_eq!(r.text.matches("<script").count(), 1, "{}", r.text);
    assert!(
        r.text
            .contains("<script src=\"/static/purser.js\" defer></script>"),
        "{}",
        r.text
    );
}

// ---- PIN rules over REST -----------------------------------------------------------------

both!(pin_rules_over_rest, |storage| {
    let dir = TempDir::new("pins-rest");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let p = start_logged(&data, &storage, &log);
    let alice = Person::new(&p, "Alice");
    let bob = Person::new(&p, "Bob");

    assert_eq!(pin_status(&p, &alice), json!({"pin_set": false}));

    // Shape and trivial PINs, before anything is stored.
    for (bad, code) in [
        ("12345", "pin_invalid"),
        ("1234567890123", "pin_invalid"),
        ("48291a", "pin_invalid"),
        ("", "pin_invalid"),
        ("000000", "pin_too_simple"),
        ("123456", "pin_too_simple"),
        ("987654", "pin_too_simple"),
        ("121212", "pin_too_simple"),
    ] {
        let r = set_pin(&p, &alice, bad, None);
        r.refused(400, code);
        assert_eq!(r.body["param"], "pin", "{}", r.text);
    }
    // A PIN as a JSON number would lose its leading zeros: refused, and not echoed.
    let r = alice.post(&p, "/v1/me/pin", &json!({"pin": 48291573}));
    r.refused(400, "invalid_field");
    assert!(!r.text.contains(FIRST), "{}", r.text);
    assert_eq!(pin_status(&p, &alice), json!({"pin_set": false}));

    // Set.
    let r = set_pin(&p, &alice, FIRST, None).want(200);
    assert_eq!(r, json!({"pin_set": true}));
    assert_eq!(pin_status(&p, &alice), json!({"pin_set": true}));
    // PINs are per person.
    assert_eq!(pin_status(&p, &bob), json!({"pin_set": false}));

    // Changing needs the current PIN, and the right one.
    let r = set_pin(&p, &alice, SECOND, None);
    r.refused(400, "pin_current_required");
    assert_eq!(r.body["param"], "current_pin");
    let r = set_pin(&p, &alice, SECOND, Some(WRONG));
    r.refused(403, "pin_wrong");
    assert_eq!(r.body["param"], "current_pin");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("4 more wrong attempts")),
        "{}",
        r.text
    );
    set_pin(&p, &alice, "12", Some(FIRST)).refused(400, "pin_invalid");
    set_pin(&p, &alice, SECOND, Some(FIRST)).want(200);
    // The old PIN is gone; a retried change is refused, not applied twice.
    set_pin(&p, &alice, SECOND, Some(FIRST)).refused(403, "pin_wrong");

    // Scopes: setting needs wallet:write, reading needs wallet:read.
    let reader = alice.token_with(&p, &["wallet:read"]);
    set_pin(&p, &reader, FIRST, Some(SECOND)).refused(403, "scope_missing");
    assert_eq!(pin_status(&p, &reader)["pin_set"], true);
    let agents_only = alice.token_with(&p, &["agents:read"]);
    agents_only
        .get(&p, "/v1/me/pin")
        .refused(403, "scope_missing");
    call(&p, "GET", "/v1/me/pin", None, &[], None).refused(401, "token_missing");

    // A right PIN resets the count: two wrong so far (the retry above and one more), then right.
    set_pin(&p, &alice, SECOND, Some(WRONG)).refused(403, "pin_wrong");
    set_pin(&p, &alice, SECOND, Some(SECOND)).want(200);
    // Five wrong in a row: the fifth locks, saying until when; the right PIN is then refused.
    for left in [4, 3, 2, 1] {
        let r = set_pin(&p, &alice, FIRST, Some(WRONG));
        r.refused(403, "pin_wrong");
        let msg = r.body["message"].as_str().unwrap_or_default();
        assert!(msg.contains(&format!("{left} more wrong")), "{msg}");
    }
    let r = set_pin(&p, &alice, FIRST, Some(WRONG));
    r.refused(403, "pin_locked");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("UTC")),
        "{}",
        r.text
    );
    let r = set_pin(&p, &alice, FIRST, Some(SECOND));
    r.refused(403, "pin_locked");
    let st = pin_status(&p, &alice);
    assert_eq!(st["pin_set"], true, "{st}");
    assert!(st["locked_until"].as_str().is_some(), "{st}");

    // Concurrent wrong guesses: exactly five are checked against the hash, whatever the race.
    set_pin(&p, &bob, FIRST, None).want(200);
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..12)
            .map(|_| s.spawn(|| set_pin(&p, &bob, SECOND, Some(WRONG))))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let checked = answers
        .iter()
        .filter(|r| {
            r.body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("that PIN is wrong"))
        })
        .count();
    let codes: Vec<&str> = answers.iter().map(|r| r.code()).collect();
    assert_eq!(checked, 5, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|c| **c == "pin_wrong").count(),
        4,
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .all(|c| ["pin_wrong", "pin_locked"].contains(c)),
        "{codes:?}"
    );
    set_pin(&p, &bob, SECOND, Some(FIRST)).refused(403, "pin_locked");

    // Nowhere in the log, the database, or any answer above.
    drop(p);
    let logs = std::fs::read(&log).expect("log");
    assert_no_pin(
        "the server log",
        &logs,
        &[FIRST, SECOND, WRONG],
        "/v1/me/pin",
    );
    assert_storage_has_no_pin(&data, &storage, &[FIRST, SECOND, WRONG]);
    for r in &answers {
        assert!(
            !r.text.contains(WRONG) && !r.text.contains(FIRST),
            "{}",
            r.text
        );
    }
});

// ---- the CLI ---------------------------------------------------------------------------

both!(pin_from_the_cli, |storage| {
    let dir = TempDir::new("pins-cli");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    let with = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend([
            "--server".into(),
            p.base.clone(),
            "--token".into(),
            alice.token.clone(),
        ]);
        v
    };

    let (code, out, err) = run_with_stdin(&strs(&with(&["pin", "status"])), "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No PIN set"), "{out}");

    // No terminal and no --pin-stdin: nothing to ask, so it says how.
    let (code, _, err) = run_with_stdin(&strs(&with(&["pin", "set"])), &format!("{FIRST}\n"));
    assert_ne!(code, 0);
    assert!(err.contains("--pin-stdin"), "{err}");
    // Never an argument.
    let (code, _, _) = run_with_stdin(&strs(&with(&["pin", "set", "--pin", FIRST])), "");
    assert_eq!(code, 2);

    let (code, _, err) = run_with_stdin(&strs(&with(&["pin", "set", "--pin-stdin"])), "123456\n");
    assert_ne!(code, 0);
    assert!(err.contains("pin_too_simple"), "{err}");

    let (code, out, err) = run_with_stdin(
        &strs(&with(&["pin", "set", "--pin-stdin"])),
        &format!("{FIRST}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("PIN set"), "{out}");
    assert!(!out.contains(FIRST) && !err.contains(FIRST), "{out}{err}");

    // Changing: the new PIN, then the current one.
    let (code, _, err) = run_with_stdin(
        &strs(&with(&["pin", "set", "--pin-stdin"])),
        &format!("{SECOND}\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("second line"), "{err}");
    let (code, _, err) = run_with_stdin(
        &strs(&with(&["pin", "set", "--pin-stdin"])),
        &format!("{SECOND}\n{WRONG}\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("pin_wrong"), "{err}");
    let (code, out, err) = run_with_stdin(
        &strs(&with(&["pin", "set", "--pin-stdin"])),
        &format!("{SECOND}\r\n{FIRST}\r\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("PIN changed"), "{out}");
    set_pin(&p, &alice, FIRST, Some(SECOND)).want(200);

    let (code, out, err) = run_with_stdin(&strs(&with(&["pin", "status", "--json"])), "");
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v, json!({"pin_set": true}));

    let (code, out, _) = run_with_stdin(&["pin", "set", "--help"], "");
    assert_eq!(code, 0);
    assert!(out.contains("--pin-stdin"), "{out}");
});

// ---- the confirmation page ---------------------------------------------------------------

both!(confirm_page_for_unknown_links, |storage| {
    let dir = TempDir::new("pins-confirm");
    let p = start(dir.path(), &storage);
    let alice = Person::new(&p, "Alice");
    set_pin(&p, &alice, FIRST, None).want(200);

    let forged =
        "pcf_ABCDEFGHIJKLMNOPQRSTUVWX_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwxyz";
    let long = "a".repeat(400);
    for path in [
        format!("/confirm/{forged}"),
        "/confirm/pcf_".to_string(),
        "/confirm/%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        "/confirm/..%2F..%2Fv1%2Fwallet".to_string(),
        "/confirm/%FF%FE".to_string(),
        format!("/confirm/{long}"),
    ] {
        let r = open_page(&p, &path);
        assert_page(&r, 404);
        assert!(r.text.contains("This link does not work"), "{}", r.text);
        assert!(
            !r.text.contains("ABCDEFGHIJ"),
            "echoes the token: {}",
            r.text
        );
        assert!(!r.text.contains("alert"), "{}", r.text);
        let r = form_post(&p, &path, &format!("pin={FIRST}&action=approve"));
        assert_page(&r, 404);
        assert!(!r.text.contains(FIRST), "{}", r.text);
    }
    // Every kind of garbage gives the very same page (from one browser: the page carries its
    // CSRF cookie's value).
    let same_browser = |path: &str| {
        page_of(
            agent()
                .get(&format!("{}{path}", p.base()))
                .set("Cookie", "purser-csrf=pwx_one_browser")
                .call(),
        )
        .text
    };
    let a = same_browser(&format!("/confirm/{forged}"));
    let b = same_browser("/confirm/nonsense");
    assert_eq!(a, b);

    // The stylesheet the CSP allows is served here, and is CSS.
    let css = open_page(&p, "/static/purser.css");
    assert_eq!(css.status, 200);
    assert!(css
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/css")));
    assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
    assert!(css.text.contains("@media"), "{}", css.text);
});

// ---- the whole flow --------------------------------------------------

/// The agent asks to pay one `title` at `minor` CNY from the shop whose registered name is
/// `HOSTILE_SHOP`; returns the answer.
fn pay_for(
    p: &dyn Server,
    agent: &TestAgent,
    user: &Person,
    mandate: &str,
    m: &Merchant,
    title: &str,
    minor: i64,
) -> Value {
    let mut body = pay_body(user, mandate, m, title, 1, minor);
    body["merchant"]["name"] = json!(HOSTILE_SHOP);
    pay(p, agent, &unique("pay"), &body).want(201)
}

/// A merchant name a page must show as text.
const HOSTILE_SHOP: &str = "Trail <Outfitters> & Co";

/// The payment needs confirmation: its link's path (`/confirm/…`).
#[track_caller]
fn confirmation_path(answer: &Value) -> String {
    // The decision is `needs_confirmation`; the stored payment reads `needs_confirmation`.
    assert!(
        ["needs_confirmation", "needs_confirmation"]
            .contains(&answer["status"].as_str().unwrap_or_default()),
        "{answer}"
    );
    let url = answer["confirmation"]["url"]
        .as_str()
        .expect("confirmation url");
    let at = url.find("/confirm/").expect("a /confirm/ link");
    url[at..].to_string()
}

fn payment_status(p: &dyn Server, agent: &TestAgent, id: &str) -> String {
    agent
        .call(p, "GET", &format!("/v1/agent/payments/{id}"), None)
        .want(200)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

both!(approve_and_decline_with_a_pin, |storage| {
    let dir = TempDir::new("pins-flow");
    let data = dir.path().join("data");
    let log = dir.path().join("purser.log");
    let p = start_logged(&data, &storage, &log);
    let alice = Person::new(&p, "Alice");
    alice.funded(&p, 500_000);
    let dev = Person::new(&p, "Dev");
    let (agent, _binding) = bound_agent(&p, &dev, &alice);
    // At most ¥800 a payment; paid without asking at or below ¥500.
    let mandate = give_mandate(&p, &alice, &agent, &boots_mandate());
    let shop = register_merchant(&p, HOSTILE_SHOP, &format!("{}.example", unique("trail")));

    // ¥599.00 is above the ¥500 Alice pays without being asked.
    let a = pay_for(
        &p,
        &agent,
        &alice,
        &mandate,
        &shop,
        "Trail <Runner> boots",
        59_900,
    );
    let link = confirmation_path(&a);
    let pay_id = a["id"].as_str().expect("payment id").to_string();

    // The page shows what she is asked to approve, escaped.
    let page = open_page(&p, &link);
    assert_page(&page, 200);
    for shown in [
        "¥599.00",
        "Trail &lt;Outfitters&gt; &amp; Co",
        shop.website.as_str(),
        "Trail &lt;Runner&gt; boots",
        "× 1",
        "Test Operator Ltd",
        "“Help me buy a pair of hiking boots, under 800 yuan; pay by yourself up to 500”",
        "Why you are asked",
        "expires at",
        "inputmode=\"numeric\"",
        "autocomplete=\"off\"",
        "value=\"approve\"",
        "value=\"decline\"",
    ] {
        assert!(page.text.contains(shown), "{shown} missing: {}", page.text);
    }

    // A post without the page's CSRF token is refused and records nothing.
    let r = form_post_without_csrf(&p, &link, &format!("pin={FIRST}&action=approve"));
    assert_page(&r, 403);
    assert!(r.text.contains("sent from another page"), "{}", r.text);
    assert_eq!(payment_status(&p, &agent, &pay_id), "needs_confirmation");

    // No PIN yet: a page that says how to set one.
    let r = form_post(&p, &link, &format!("pin={FIRST}&action=approve"));
    assert_page(&r, 409);
    assert!(r.text.contains("purser pin set"), "{}", r.text);
    set_pin(&p, &alice, FIRST, None).want(200);

    // A wrong PIN: the same page again, with the attempts left.
    let r = form_post(&p, &link, &format!("pin={WRONG}&action=approve"));
    assert_page(&r, 403);
    assert!(r.text.contains("4 more wrong attempts"), "{}", r.text);
    assert!(
        r.text.contains("value=\"approve\""),
        "the form again: {}",
        r.text
    );
    assert_eq!(payment_status(&p, &agent, &pay_id), "needs_confirmation");

    // The right PIN approves; the agent can pay.
    let r = form_post(&p, &link, &format!("pin={FIRST}&action=approve"));
    assert_page(&r, 200);
    assert!(
        r.text.contains("Approved — the agent can now pay ¥599.00"),
        "{}",
        r.text
    );
    assert_eq!(payment_status(&p, &agent, &pay_id), "approved");
    // The link is spent: it shows what happened, and a second answer changes nothing.
    let again = open_page(&p, &link);
    assert_page(&again, 200);
    assert!(again.text.contains("Already approved"), "{}", again.text);
    assert!(!again.text.contains("<form"), "{}", again.text);
    let r = form_post(&p, &link, &format!("pin={FIRST}&action=decline"));
    assert!(r.status >= 400, "{}", r.text);
    assert!(r.text.starts_with("<!doctype html>"), "{}", r.text);
    assert_eq!(payment_status(&p, &agent, &pay_id), "approved");

    // Declining.
    let b = pay_for(
        &p,
        &agent,
        &alice,
        &mandate,
        &shop,
        "Trail boots, brown",
        65_000,
    );
    let link_b = confirmation_path(&b);
    let r = form_post(&p, &link_b, &format!("pin={FIRST}&action=decline"));
    assert_page(&r, 200);
    assert!(r.text.contains("Declined"), "{}", r.text);
    assert_eq!(
        payment_status(&p, &agent, b["id"].as_str().unwrap_or_default()),
        "declined"
    );

    // Five wrong PINs lock PIN entry; the sixth try, with the right PIN, is still refused.
    let c = pay_for(
        &p,
        &agent,
        &alice,
        &mandate,
        &shop,
        "Trail boots, black",
        70_000,
    );
    let link_c = confirmation_path(&c);
    for left in [4, 3, 2, 1] {
        let r = form_post(&p, &link_c, &format!("pin={WRONG}&action=approve"));
        assert_page(&r, 403);
        assert!(r.text.contains(&format!("{left} more wrong")), "{}", r.text);
    }
    let r = form_post(&p, &link_c, &format!("pin={WRONG}&action=approve"));
    assert_page(&r, 403);
    assert!(r.text.contains("locked until"), "{}", r.text);
    let r = form_post(&p, &link_c, &format!("pin={FIRST}&action=approve"));
    assert_page(&r, 403);
    assert!(r.text.contains("PIN entry is locked"), "{}", r.text);
    assert_eq!(
        payment_status(&p, &agent, c["id"].as_str().unwrap_or_default()),
        "needs_confirmation"
    );
    assert!(pin_status(&p, &alice)["locked_until"].is_string());

    drop(p);
    let logs = std::fs::read(&log).expect("log");
    assert_no_pin("the server log", &logs, &[FIRST, WRONG], "/confirm/:token");
});

// ---- device cookies: whose lock a wrong PIN counts towards --------------------------------

/// The cookie `name` a response sets, if any.
fn set_cookie_value(r: &Resp, name: &str) -> Option<String> {
    r.headers.iter().find_map(|(n, v)| {
        (n == "set-cookie")
            .then(|| v.strip_prefix(&format!("{name}=")))
            .flatten()
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    })
}

/// `Cookie:` for the page's CSRF cookie and, if the browser has one, its device cookie.
fn browser_cookies(csrf: &str, device: Option<&str>) -> String {
    match device {
        Some(d) => format!("purser-csrf={csrf}; purser-device={d}"),
        None => format!("purser-csrf={csrf}"),
    }
}

/// A PIN sign-in from a browser holding `device` (its device cookie, if any): the answer, and
/// the device cookie it sets.
fn browser_sign_in(
    p: &dyn Server,
    device: Option<&str>,
    user_id: &str,
    pin: &str,
) -> (Resp, Option<String>) {
    let (cookie, token) = csrf_of(p, "/signin");
    let r = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .post(&format!("{}/signin/pin", p.base()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .set("Cookie", &browser_cookies(&cookie, device))
        .send_string(&format!("csrf={token}&user_id={user_id}&pin={pin}"));
    let r = page_of(r);
    let device = set_cookie_value(&r, "purser-device");
    (r, device)
}

/// A PIN answer on a confirmation page from a browser holding `device`.
fn browser_confirm(p: &dyn Server, device: Option<&str>, link: &str, form: &str) -> Resp {
    let (cookie, token) = csrf_of(p, link);
    let r = agent()
        .post(&format!("{}{link}", p.base()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .set("Cookie", &browser_cookies(&cookie, device))
        .send_string(&format!("csrf={token}&{form}"));
    page_of(r)
}

#[track_caller]
fn assert_signed_in(r: &Resp) {
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(
        set_cookie_value(r, "purser-session").is_some_and(|s| s.starts_with("pws_")),
        "{:?}",
        r.headers
    );
}

#[track_caller]
fn assert_refused(r: &Resp, says: &str) {
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains(says), "{says:?} missing: {}", r.text);
    assert!(
        set_cookie_value(r, "purser-session").is_none(),
        "no session: {:?}",
        r.headers
    );
}

both!(
    an_attacker_locks_unknown_browsers_but_not_the_persons_own,
    |storage| {
        let dir = TempDir::new("pins-devices");
        // The per-address sign-in limit is another control (hostile.rs); off here, so that
        // only the PIN locks decide.
        let p = start_with(dir.path(), &storage, &["--sign-ins-per-minute", "0"]);
        let alice = Person::new(&p, "Alice");
        alice.funded(&p, 500_000);
        let bob = Person::new(&p, "Bob");
        set_pin(&p, &alice, FIRST, None).want(200);
        set_pin(&p, &bob, SECOND, None).want(200);

        // Alice signs in on her phone and on her laptop: each is given its own device cookie.
        let (r, phone) = browser_sign_in(&p, None, &alice.id, FIRST);
        assert_signed_in(&r);
        let phone = phone.expect("a device cookie at sign-in");
        assert!(phone.starts_with("pwd_") && phone.len() > 50, "{phone}");
        let (r, laptop) = browser_sign_in(&p, None, &alice.id, FIRST);
        assert_signed_in(&r);
        let laptop = laptop.expect("a device cookie");
        assert_ne!(phone, laptop);
        // Signing in again on the phone keeps its cookie (for another year).
        let (r, again) = browser_sign_in(&p, Some(&phone), &alice.id, FIRST);
        assert_signed_in(&r);
        assert_eq!(again.as_deref(), Some(phone.as_str()));
        let (r, bobs) = browser_sign_in(&p, None, &bob.id, SECOND);
        assert_signed_in(&r);
        let bobs = bobs.expect("Bob's device cookie");

        // Someone who knows only Alice's user id: five wrong PINs lock unknown browsers.
        for left in [4, 3, 2, 1] {
            let (r, _) = browser_sign_in(&p, None, &alice.id, WRONG);
            assert_refused(&r, &format!("{left} more wrong"));
        }
        let (r, _) = browser_sign_in(&p, None, &alice.id, WRONG);
        assert_refused(&r, "locked until");
        // Now even the right PIN is refused from any browser that is not one of Alice's: no
        // cookie, a forged one, one that is not a device cookie, Bob's.
        let forged = format!("pwd_{}", "a".repeat(52));
        for device in [
            None,
            Some(forged.as_str()),
            Some("pws_x"),
            Some(bobs.as_str()),
        ] {
            let (r, _) = browser_sign_in(&p, device, &alice.id, FIRST);
            assert_refused(
                &r,
                "PIN entry is locked on browsers you have not signed in on",
            );
        }
        assert!(pin_status(&p, &alice)["locked_until"].is_string());

        // Alice's own browsers still work: her phone signs in…
        let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, FIRST);
        assert_signed_in(&r);
        // …and answers a confirmation with her PIN, which an unknown browser cannot.
        let dev = Person::new(&p, "Dev");
        let (agent, _binding) = bound_agent(&p, &dev, &alice);
        let mandate = give_mandate(&p, &alice, &agent, &boots_mandate());
        let shop = register_merchant(&p, HOSTILE_SHOP, &format!("{}.example", unique("trail")));
        let a = pay_for(&p, &agent, &alice, &mandate, &shop, "Trail boots", 59_900);
        let link = confirmation_path(&a);
        let pay_id = a["id"].as_str().unwrap_or_default().to_string();
        let r = browser_confirm(&p, None, &link, &format!("pin={FIRST}&action=approve"));
        assert_page(&r, 403);
        assert!(r.text.contains("PIN entry is locked"), "{}", r.text);
        assert_eq!(payment_status(&p, &agent, &pay_id), "needs_confirmation");
        let r = browser_confirm(
            &p,
            Some(&laptop),
            &link,
            &format!("pin={FIRST}&action=approve"),
        );
        assert_page(&r, 200);
        assert_eq!(payment_status(&p, &agent, &pay_id), "approved");

        // A device's own wrong PINs lock that device only.
        for left in [4, 3, 2, 1] {
            let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, WRONG);
            assert_refused(&r, &format!("{left} more wrong"));
            assert!(r.text.contains("on this browser"), "{}", r.text);
        }
        let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, WRONG);
        assert_refused(&r, "locked until");
        let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, FIRST);
        assert_refused(&r, "PIN entry is locked on this browser");
        let (r, _) = browser_sign_in(&p, Some(&laptop), &alice.id, FIRST);
        assert_signed_in(&r);
        // Bob was never touched.
        let (r, _) = browser_sign_in(&p, Some(&bobs), &bob.id, SECOND);
        assert_signed_in(&r);

        // The API has its own lock (the person's token): Alice changes her PIN there, and a
        // new PIN starts every lock over.
        set_pin(&p, &alice, SECOND, Some(FIRST)).want(200);
        assert!(pin_status(&p, &alice)["locked_until"].is_null());
        let (r, _) = browser_sign_in(&p, None, &alice.id, SECOND);
        assert_signed_in(&r);
        let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, SECOND);
        assert_signed_in(&r);
    }
);

both!(
    signing_out_everywhere_forgets_the_persons_browsers,
    |storage| {
        let dir = TempDir::new("pins-signout-everywhere");
        let p = start_with(dir.path(), &storage, &["--sign-ins-per-minute", "0"]);
        let alice = Person::new(&p, "Alice");
        let bob = Person::new(&p, "Bob");
        set_pin(&p, &alice, FIRST, None).want(200);
        set_pin(&p, &bob, SECOND, None).want(200);

        // Alice signs in on her phone and on her laptop, Bob on his browser.
        let (r, phone) = browser_sign_in(&p, None, &alice.id, FIRST);
        assert_signed_in(&r);
        let phone = phone.expect("the phone's device cookie");
        let (r, laptop) = browser_sign_in(&p, None, &alice.id, FIRST);
        assert_signed_in(&r);
        let laptop = laptop.expect("the laptop's device cookie");
        let laptop_session = set_cookie_value(&r, "purser-session").expect("a session");
        let (r, bobs) = browser_sign_in(&p, None, &bob.id, SECOND);
        assert_signed_in(&r);
        let bobs = bobs.expect("Bob's device cookie");

        // Someone who knows their user ids locks PIN entry on browsers they have not signed
        // in on; their own browsers keep working.
        for who in [&alice.id, &bob.id] {
            for _ in 0..5 {
                let (r, _) = browser_sign_in(&p, None, who, WRONG);
                assert_eq!(r.status, 403, "{}", r.text);
            }
        }
        let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, FIRST);
        assert_signed_in(&r);

        // Alice loses her phone and signs out everywhere from her laptop.
        let (status, csrf) = crate::hostile::page_csrf(&p, &laptop_session);
        assert_eq!(status, 200);
        let r = page_of(
            ureq::AgentBuilder::new()
                .redirects(0)
                .build()
                .post(&format!("{}/account/signout-everywhere", p.base()))
                .set("Content-Type", "application/x-www-form-urlencoded")
                .set(
                    "Cookie",
                    &format!("purser-session={laptop_session}; purser-device={laptop}"),
                )
                .send_string(&format!("csrf={csrf}")),
        );
        assert_eq!(r.status, 303, "{}", r.text);
        assert_eq!(r.header("location"), Some("/signin"));
        assert_eq!(
            set_cookie_value(&r, "purser-device").as_deref(),
            Some(""),
            "this browser's device cookie is deleted: {:?}",
            r.headers
        );
        assert_eq!(
            crate::hostile::page_csrf(&p, &laptop_session).0,
            303,
            "signed out"
        );

        // The lost phone is an unknown browser now: under the lock of unknown browsers, even
        // with the right PIN. So is the laptop, until Alice signs in on it again.
        for device in [phone.as_str(), laptop.as_str()] {
            let (r, _) = browser_sign_in(&p, Some(device), &alice.id, FIRST);
            assert_refused(
                &r,
                "PIN entry is locked on browsers you have not signed in on",
            );
        }
        // Bob's browser is still his.
        let (r, _) = browser_sign_in(&p, Some(&bobs), &bob.id, SECOND);
        assert_signed_in(&r);

        // A new PIN (over the API) starts every lock over: signing in on the laptop again
        // gives it a new device cookie; the forgotten one is never taken back.
        set_pin(&p, &alice, SECOND, Some(FIRST)).want(200);
        let (r, fresh) = browser_sign_in(&p, Some(&laptop), &alice.id, SECOND);
        assert_signed_in(&r);
        let fresh = fresh.expect("a new device cookie");
        assert_ne!(fresh, laptop);
        let (r, _) = browser_sign_in(&p, Some(&phone), &alice.id, WRONG);
        assert_refused(&r, "4 more wrong");
        assert!(
            r.text
                .contains("locks on browsers you have not signed in on"),
            "the phone's wrong PINs count towards the unknown browsers' lock: {}",
            r.text
        );
    }
);
