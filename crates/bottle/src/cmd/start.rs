//! `bottle start [AGENT] [--yes] [--dry-run] [-- CMD...]`: interactive session.

use super::common::{ManifestArgs, make_plan};
use std::process::ExitCode;

/// Start an interactive session in a bottle.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agent to start (default: the manifest's default_agent).
    pub agent: Option<String>,
    /// Skip the y/N preflight question.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the preflight and stop; create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Command to run instead of the agent's.
    #[arg(last = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (_, mut plan) = make_plan(&args.manifest, args.agent)?;
    if !args.command.is_empty() {
        plan.agent.command = args.command.clone();
    }
    print!("{}", bottle_plan::render_text(&plan));
    if args.dry_run {
        println!("dry run: nothing was created");
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::bail!(
        "starting bottles needs the Docker backend, which is not built yet; use --dry-run"
    )
}
