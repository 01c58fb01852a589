//! `bottle plan [AGENT] [--json]`: what `start` would do; touches nothing.

use super::common::{ManifestArgs, make_plan};
use std::process::ExitCode;

/// Show what `bottle start` would do, without doing it.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agent to plan (default: the manifest's default_agent).
    pub agent: Option<String>,
    /// Print the plan as JSON (shape documented in docs/plan.md).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (_, plan) = make_plan(&args.manifest, args.agent)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", bottle_plan::render_text(&plan));
    }
    Ok(ExitCode::SUCCESS)
}
