//! The integration tests of bottle-secrets (one binary, modules in suite/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
