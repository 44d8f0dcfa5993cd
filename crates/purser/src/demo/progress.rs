//! The demo's output: numbered steps, plain lines, and a spinner on a terminal while a step
//! waits (plain lines only when stdout is not a terminal, so a log or a test reads cleanly).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the spinner shows each frame.
const FRAME: Duration = Duration::from_millis(90);
const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub struct Progress {
    tty: bool,
    step: usize,
    total: usize,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            tty: std::io::stdout().is_terminal(),
            step: 0,
            total,
        }
    }

    /// A new numbered step.
    pub fn step(&mut self, title: &str) {
        self.step += 1;
        let (b, r) = self.bold();
        println!("\n{b}[{}/{}] {title}{r}", self.step, self.total);
    }

    fn bold(&self) -> (&'static str, &'static str) {
        if self.tty {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        }
    }

    /// Something that happened, as it happened.
    pub fn line(&self, text: impl AsRef<str>) {
        println!("  {}", text.as_ref());
    }

    /// A check that passed.
    pub fn ok(&self, text: impl AsRef<str>) {
        let mark = if self.tty { "\x1b[32m✓\x1b[0m" } else { "ok" };
        println!("  {mark} {}", text.as_ref());
    }

    /// Something refused, as it should have been.
    pub fn refused(&self, text: impl AsRef<str>) {
        let mark = if self.tty {
            "\x1b[33m✗\x1b[0m"
        } else {
            "refused"
        };
        println!("  {mark} {}", text.as_ref());
    }

    /// Runs `f` with a spinner beside `label` on a terminal; a plain line otherwise.
    pub fn wait<T>(&self, label: &str, f: impl FnOnce() -> T) -> T {
        if !self.tty {
            println!("  … {label}");
            return f();
        }
        let done = Arc::new(AtomicBool::new(false));
        let spinner = {
            let done = done.clone();
            let label = label.to_string();
            std::thread::spawn(move || {
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    print!("\r  {} {label}", FRAMES[i % FRAMES.len()]);
                    let _ = std::io::stdout().flush();
                    i += 1;
                    std::thread::sleep(FRAME);
                }
                // Clear the spinner line.
                print!("\r{}\r", " ".repeat(label.chars().count() + 6));
                let _ = std::io::stdout().flush();
            })
        };
        let out = f();
        done.store(true, Ordering::Relaxed);
        let _ = spinner.join();
        out
    }
}
