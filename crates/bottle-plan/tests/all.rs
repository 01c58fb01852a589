//! Launch-plan tests: whole plan values compared, no Docker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
