//! Integration tests of the real `purser` binary. One test binary for the crate keeps link
//! time down; PostgreSQL variants run when PostgreSQL is reachable (see support.rs).

mod acp;
mod ap2_payments;
mod cli;
mod clocks;
mod demo;
mod durability;
mod evidence;
mod faults;
mod hostile;
mod http;
mod keys;
pub mod mandates;
mod matrix;
mod mcp;
mod ownership;
pub mod payments;
mod payments_clock;
pub mod people;
pub mod pins;
mod plans;
mod secrets;
mod shop;
mod signatures;
pub mod support;
mod token_pay;
mod tokens;
mod wallet;
mod web;
mod webhooks;
mod x402;
