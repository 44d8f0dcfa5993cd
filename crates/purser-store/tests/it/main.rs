//! Integration tests for `purser-store`, one binary. Each test body is written once and runs
//! against SQLite (a fresh temporary directory) and PostgreSQL (a fresh database); see
//! `harness.rs` for how PostgreSQL is found, and skipped when it cannot be.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod harness;

mod concurrency;
mod durability;
mod expiry;
mod holds;
mod idempotency;
mod limits;
mod linked;
mod props;
mod records;
mod tamper;
