//! `bottle stop NAME`: stop one bottle and remove its resources.

use super::launch::runtime;
use std::process::ExitCode;
use std::time::Duration;

/// Stop a bottle.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The bottle's name (see `bottle ls`).
    pub name: String,
    /// Seconds the agent gets to exit after SIGTERM.
    #[arg(long, short = 't', default_value_t = 10)]
    pub time: u64,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let removed = runtime()?.block_on(async {
        let engine = bottle_docker::Engine::connect().await?;
        bottle_docker::ops::stop(&engine, &args.name, Duration::from_secs(args.time)).await
    })?;
    for e in &removed.errors {
        eprintln!("warning: {e}");
    }
    println!(
        "stopped {}: removed {} container(s), {} network(s)",
        args.name,
        removed.containers.len(),
        removed.networks.len()
    );
    Ok(if removed.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
