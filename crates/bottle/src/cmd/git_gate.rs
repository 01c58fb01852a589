//! `bottle git-gate`: run the git gate (what the git sidecar runs), check its
//! health, or act as its pre-receive hook.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `bottle git-gate`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// The gate's config file (TOML; see the bottle-gitgate README).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) action: Option<Action>,
}

#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Exit 0 if the gate answers its health check (GET /__bottle/health).
    Health {
        /// Read the address to check from this config file's `listen`.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "addr",
            required_unless_present = "addr"
        )]
        config: Option<PathBuf>,
        /// The address to check (IP:PORT).
        #[arg(long, value_name = "IP:PORT")]
        addr: Option<SocketAddr>,
        /// Seconds to wait for an answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// The pre-receive hook git runs inside the gate (not for direct use).
    #[command(hide = true)]
    Hook,
    /// Print the agent-side git config that routes the config's remotes
    /// through a gate at BASE_URL.
    AgentConfig {
        /// The gate's config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The gate's base URL as the agent reaches it.
        #[arg(long, value_name = "BASE_URL")]
        gate_url: String,
    },
}

/// Run `bottle git-gate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match (args.action, args.config) {
        (Some(Action::Hook), _) => Ok(bottle_gitgate::hook_main()),
        (
            Some(Action::Health {
                config,
                addr,
                timeout,
            }),
            _,
        ) => {
            let addr = match (addr, config) {
                (Some(a), _) => a,
                (None, Some(path)) => bottle_gitgate::Config::load(&path)?.listen,
                (None, None) => anyhow::bail!("give --config FILE or --addr IP:PORT"),
            };
            match bottle_gitgate::health_check(addr, Duration::from_secs(timeout)) {
                Ok(()) => {
                    println!("ok");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        (Some(Action::AgentConfig { config, gate_url }), _) => {
            let config = bottle_gitgate::Config::load(&config)?;
            let text = bottle_gitgate::agent_gitconfig(
                config
                    .remotes
                    .iter()
                    .map(|r| (r.name.as_str(), r.upstream.as_str())),
                &gate_url,
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(path)) => {
            let config = bottle_gitgate::Config::load(&path)?;
            bottle_gitgate::run_blocking(config).context("git gate")?;
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            anyhow::bail!("bottle git-gate needs --config FILE (or a subcommand: health)")
        }
    }
}
