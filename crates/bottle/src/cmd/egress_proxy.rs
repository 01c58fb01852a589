//! `bottle egress-proxy`: what the egress sidecar runs (and what tests and
//! benchmarks run on loopback). All the work is in `bottle-egress`.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Config file: TOML, or JSON when the name ends in `.json`.
    #[arg(long, value_name = "FILE", required_unless_present = "health_check")]
    pub(crate) config: Option<PathBuf>,
    /// Validate the config (and read the CA and root files) without serving.
    #[arg(long, requires = "config")]
    pub(crate) check: bool,
    /// Probe a running proxy's health endpoint (`GET /__bottle/health`) at
    /// this IP:port and exit 0 if it answers 200, 1 otherwise. For Docker's
    /// HEALTHCHECK in the FROM-scratch sidecar.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["config", "check"])]
    pub(crate) health_check: Option<SocketAddr>,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(addr) = args.health_check {
        return Ok(
            match bottle_egress::health_check(addr, Duration::from_secs(3)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::from(1)
                }
            },
        );
    }
    let path = args.config.context("--config is required")?;
    let config = bottle_egress::Config::load(&path)?;
    if args.check {
        bottle_egress::check_files(&config)?;
        println!("{}: ok", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let bottle = config.bottle.clone();
    bottle_egress::run_blocking(config, |addr| {
        eprintln!("bottle egress-proxy: bottle {bottle:?} listening on {addr}");
    })
    .with_context(|| format!("egress proxy ({})", path.display()))?;
    Ok(ExitCode::SUCCESS)
}
