//! Contract tests: plan -> bundle as whole values, no Docker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
