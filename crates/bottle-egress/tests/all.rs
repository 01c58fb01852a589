//! The egress proxy's integration tests: real TLS, real sockets, loopback
//! only. One binary (see CONVENTIONS.md); the modules live in `suite/`.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_arguments)]

#[path = "suite/mod.rs"]
mod suite;
