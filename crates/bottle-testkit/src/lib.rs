//! Test helpers shared by bottle's crates: real servers in-process or on
//! loopback, never mocks of the thing under test. Dev-only.
//!
//! - `upstream`: HTTP, HTTPS (test CA), HTTP/2 and WebSocket upstreams.
//! - `gitremote`, `sshd`: throwaway git repositories and a real sshd upstream.
//! - `anthropic`: a Messages API stub (scripted assistant turns, streamed
//!   as the API streams them) for running the real Claude Code; `openai`:
//!   the same for OpenAI's Responses API and Codex (one server serves both).
//! - `docker` (feature `docker`): end-to-end fixtures on a real Docker
//!   Engine (upstream containers, image bootstrap once per run, leftover
//!   checks). Only the binary's end-to-end tests enable it: the proxy's and
//!   the gate's tests do not compile the Docker client.
#![allow(missing_docs)]

pub mod anthropic;
#[cfg(feature = "docker")]
pub mod docker;
pub mod gitremote;
pub mod openai;
pub mod sshd;
pub mod upstream;
