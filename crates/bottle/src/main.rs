//! The `bottle` binary: the CLI and, through its `egress-proxy` and
//! `git-gate` subcommands, the sidecars. It only parses arguments and
//! dispatches; the work lives in the library crates.
//!
//! Exit codes: 0 success; 1 `scan` found secrets, `doctor` found something
//! to fix; 2 an error (bad manifest, bad arguments, a failed launch). `run`
//! and `start` exit with the agent's code (128 + N when a signal N
//! interrupted them).

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
    /// Write a commented starter bottle.toml.
    Init(cmd::init::Args),
    /// Show what `start` would do; touches nothing.
    Plan(cmd::plan::Args),
    /// Start an interactive session in a bottle.
    Start(cmd::start::Args),
    /// Run one command in a bottle; exit with its code.
    Run(cmd::run::Args),
    /// List the bottles on this engine.
    Ls(cmd::ls::Args),
    /// Stop a bottle and remove its resources.
    Stop(cmd::stop::Args),
    /// Show a bottle's audit and sidecar logs.
    Logs(cmd::logs::Args),
    /// Explain a bottle's blocks and print the manifest change that allows them.
    Why(cmd::why::Args),
    /// Remove what dead bottles left behind.
    Cleanup(cmd::cleanup::Args),
    /// Check the engine, runtime and images; say what is missing.
    Doctor(cmd::doctor::Args),
    /// Build bottle's images (`bottle image bootstrap`).
    Image(cmd::image::Args),
    /// Print the manifest's JSON Schema.
    Schema(cmd::schema::Args),
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
        Command::Init(a) => cmd::init::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Start(a) => cmd::start::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::Stop(a) => cmd::stop::run(a),
        Command::Logs(a) => cmd::logs::run(a),
        Command::Why(a) => cmd::why::run(a),
        Command::Cleanup(a) => cmd::cleanup::run(a),
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Image(a) => cmd::image::run(a),
        Command::Schema(a) => cmd::schema::run(a),
        Command::Scan(a) => cmd::scan::run(a),
        Command::EgressProxy(a) => cmd::egress_proxy::run(a),
        Command::GitGate(a) => cmd::git_gate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Manifest errors render themselves (with file:line:column);
            // everything else gets the usual prefix and its cause chain.
            let text = format!("{e:#}");
            if text.starts_with("error:") {
                eprint!("{text}");
                if !text.ends_with('\n') {
                    eprintln!();
                }
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bottle_contract::{argv, paths};
    use cmd::git_gate::Action;
    use std::path::Path;

    fn parse(a: &[String]) -> Command {
        Cli::try_parse_from(a)
            .unwrap_or_else(|e| panic!("{a:?}: {e}"))
            .command
    }

    /// Every self-invocation the contract defines parses through this
    /// binary's clap definition, to the action and values it means.
    #[test]
    fn the_contract_argv_parse_as_the_binary_means_them() {
        assert_eq!(argv::all().len(), 5);
        let Command::EgressProxy(a) = parse(&argv::egress_proxy()) else {
            panic!("egress_proxy is not `egress-proxy`");
        };
        assert_eq!(a.config.as_deref(), Some(Path::new(paths::EGRESS_CONFIG)));
        assert!(!a.check && a.health_check.is_none());

        let Command::EgressProxy(a) = parse(&argv::egress_health()) else {
            panic!("egress_health is not `egress-proxy`");
        };
        assert_eq!(
            a.health_check,
            Some(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                paths::EGRESS_PORT
            )))
        );
        assert!(a.config.is_none());

        let Command::GitGate(a) = parse(&argv::git_gate()) else {
            panic!("git_gate is not `git-gate`");
        };
        assert_eq!(a.config.as_deref(), Some(Path::new(paths::GIT_CONFIG)));
        assert!(a.action.is_none());

        let Command::GitGate(a) = parse(&argv::git_health()) else {
            panic!("git_health is not `git-gate`");
        };
        let Some(Action::Health { addr, config, .. }) = a.action else {
            panic!("git_health is not `git-gate health`");
        };
        assert_eq!(
            addr,
            Some(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                paths::GIT_GATE_PORT
            )))
        );
        assert!(config.is_none());

        let Command::GitGate(a) = parse(&argv::git_hook()) else {
            panic!("git_hook is not `git-gate`");
        };
        assert!(matches!(a.action, Some(Action::Hook)));
    }

    /// The twin: an argv the binary does not define is refused, so the
    /// test above would catch a renamed flag or subcommand.
    #[test]
    fn a_misspelled_self_invocation_is_refused() {
        for bad in [
            vec!["bottle", "egress-proxy", "--configfile", "/x"],
            vec!["bottle", "egress-proxy", "--health-check", "localhost"],
            vec!["bottle", "git-gate", "healthz", "--addr", "127.0.0.1:1"],
            vec!["bottle", "git-gate", "health"],
        ] {
            assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?} parsed");
        }
    }
}
