//! One integration-test binary for purser-ap2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod constraint_props;
mod constraints;
mod issuing;
mod mutations;
mod open;
mod parse_props;
mod purchase;
mod purchase_fixture;
mod receipts;
mod support;
mod vectors;
