//! The `bottle` binary: the CLI and, through hidden-in-plain-sight
//! subcommands, the sidecars (`egress-proxy`, `git-gate`). It only parses
//! arguments and dispatches; the work lives in the library crates.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Run AI coding agents in Docker sandboxes whose every way out is a gate.
#[derive(Parser)]
#[command(name = "bottle", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan files, stdin or git history for secrets.
    Scan(cmd::scan::Args),
    /// Run the egress proxy (what the egress sidecar runs).
    EgressProxy(cmd::egress_proxy::Args),
    /// Run the git gate (what the git sidecar runs).
    GitGate(cmd::git_gate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(a) => cmd::scan::run(a),
        Command::EgressProxy(a) => cmd::egress_proxy::run(a),
        Command::GitGate(a) => cmd::git_gate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
