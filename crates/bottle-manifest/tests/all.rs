//! Integration tests for the manifest loader (one binary; modules in suite/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
