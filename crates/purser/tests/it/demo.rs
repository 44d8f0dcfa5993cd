//! `purser demo` runs the whole story on embedded defaults and exits 0 only if every step did
//! what it should; its output tells the story in plain lines when not on a terminal.

use crate::support::{run, TempDir};

#[test]
fn the_demo_tells_the_whole_story_and_checks_it() {
    let dir = TempDir::new("demo");
    let data = dir.path().join("data");
    let data_s = data.to_string_lossy().into_owned();
    let (code, out, err) = run(&["demo", "--data", &data_s]);
    assert_eq!(code, 0, "the demo failed:\n{out}\n{err}");
    for step in [
        "[1/8] Starting Purser and a merchant",
        "SIMULATED",
        "[2/8] Mei opens a wallet",
        "[3/8] A shopping agent",
        "binding is active",
        "[4/8] Mei says what she wants",
        "at most ¥799.99",
        "is active, signed by Purser as two AP2 credentials",
        "[5/8] The agent searches the shop",
        "approves",
        "captured: ",
        "[6/8] The agent tries what Mei did not allow",
        "declined, above_maximum",
        "declined, quantity_anomaly",
        "nothing was held or spent",
        "[7/8] A pair above ¥500",
        "needs_confirmation",
        "/confirm/pcf_",
        "Mei approves with her PIN",
        "[8/8] The bill, the evidence, and the books",
        "2 payments captured",
        "purser evidence verify: the bundle checks out offline",
        "Ledger verified",
        "Every step did what it should.",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    // Plain lines when stdout is not a terminal: no escape codes, no spinner frames.
    assert!(!out.contains('\u{1b}'), "{out}");
    // The data stays where it was asked to be, and the books still verify afterwards.
    assert!(data.join("purser.db").exists());
    let (code, out, err) = run(&["ledger", "verify", "--data", &data_s]);
    assert_eq!(code, 0, "{out}{err}");
    // A PIN or a card number never reaches the output.
    assert!(!out.contains("4242424242424242") && !out.contains("246810"));
}

#[test]
fn the_demo_says_what_is_wrong_when_it_cannot_start() {
    // The port is taken: a clear error and a non-zero exit, not a hang.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = TempDir::new("demo-busy");
    let data = dir.path().join("data");
    let (code, out, err) = run(&["demo", "--data", &data.to_string_lossy(), "--listen", &addr]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("cannot listen on") || err.contains("did not start"),
        "{err}"
    );
}
