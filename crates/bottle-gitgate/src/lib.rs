//! The git gate: the only way a bottle's git reaches its upstreams.
//!
//! The gate is a smart-HTTP git server with one bare mirror per declared
//! upstream, served at `/<name>.git`. Before every ref advertisement it
//! fetches from the upstream (and fails the request, saying why, when it
//! cannot), so the agent never sees stale refs. Every push goes through a
//! pre-receive hook that scans what the push adds for secrets and, only when
//! the scan is clean, pushes the same ref updates to the upstream with the
//! gate's own credential; an upstream refusal rejects the push, so mirror and
//! upstream never diverge.
//!
//! Key design choice: the gate wraps the real git (`git http-backend`,
//! `upload-pack`, `receive-pack` and its quarantine) and never parses packs
//! itself. Protocol details, pack negotiation and object validation are
//! git's; the gate only decides *when* to refresh, *whether* to accept and
//! *where* to forward. The hook is a separate process (the `bottle` binary
//! itself, `bottle git-gate hook`) so that it runs inside git's quarantine
//! environment and sees exactly the objects the push brings.
//!
//! Entry points: [`Config`] (the TOML file), [`run`] / [`Gate`] (the server),
//! [`agent_gitconfig`] (the agent's `insteadOf` config), [`health_check`] and
//! [`hook_main`] (the pre-receive hook).
#![deny(missing_docs)]

mod agent;
mod audit;
mod backend;
mod config;
mod gitenv;
mod hook;
mod mirror;
mod pktline;
mod probe;
pub mod reasons;
mod scan;
mod server;

pub use agent::{Rewrite, agent_gitconfig, agent_rewrites, render_gitconfig};
pub use bottle_policy::audit::{AuditFinding, AuditRecord, Decision, GitAudit, RefUpdate};
pub use config::{AuditTarget, Config, Remote, ScanAllow, ScanConfig, Secret};
pub use hook::hook_main;
pub use server::Gate;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The path of the health endpoint: `GET` answers `200 ok` once the gate
/// serves requests.
pub const HEALTH_PATH: &str = "/__bottle/health";

/// Errors from the gate library. Messages say what failed and why; none
/// carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read or parsed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// Why (the TOML parser's message names line and column).
        message: String,
    },
    /// The config is well-formed but not valid.
    #[error("invalid git gate config: {0}")]
    Invalid(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the gate was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A git command the gate needs failed.
    #[error("git {args}: {message}")]
    Git {
        /// The git arguments.
        args: String,
        /// Why.
        message: String,
    },
    /// The health check failed.
    #[error("git gate at {addr} is not healthy: {message}")]
    Unhealthy {
        /// Where the gate was expected.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Run the gate with `config` until the process is stopped. Prepares the
/// data directory and mirrors, binds `config.listen` and serves.
pub async fn run(config: Config) -> Result<(), Error> {
    Gate::bind(config).await?.serve().await
}

/// [`run`] on a new tokio runtime, returning on SIGINT or SIGTERM. This is
/// what `bottle git-gate --config FILE` calls.
pub fn run_blocking(config: Config) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;
    let closing = config.clone();
    let served = rt.block_on(async move {
        let gate = Gate::bind(config).await?;
        eprintln!("bottle git gate: listening on {}", gate.local_addr());
        gate.serve_until(shutdown_signal()).await
    });
    gitenv::close_shared_ssh(&closing);
    served
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the process still stops on the default
        // SIGTERM action; just never resolve.
        _ => std::future::pending::<()>().await,
    }
}

/// Ask the gate at `addr` for its health (`GET /__bottle/health`), waiting at
/// most `timeout` for each step. `Ok` means it answered 200. An unspecified
/// address (`0.0.0.0`, `::`) is checked on loopback.
pub fn health_check(addr: SocketAddr, timeout: Duration) -> Result<(), Error> {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let fail = |message: String| Error::Unhealthy {
        addr: target,
        message,
    };
    let mut s =
        TcpStream::connect_timeout(&target, timeout).map_err(|e| fail(format!("connect: {e}")))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    let req = format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| fail(format!("send: {e}")))?;
    let mut buf = Vec::new();
    s.take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| fail(format!("read: {e}")))?;
    let status_line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(fail(format!("answered {:?}", status_line.trim())))
    }
}
