//! One integration-test binary for purser-ap2.

mod issuing;
mod mutations;
mod parse_props;
mod support;
mod vectors;
