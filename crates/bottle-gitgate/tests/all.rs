//! Integration tests of the git gate: real git clients, real upstream
//! repositories on disk, and a real sshd for ssh upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

mod suite;
