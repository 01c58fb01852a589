//! End-to-end tests of the `bottle` binary (one test binary; modules in suite/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
