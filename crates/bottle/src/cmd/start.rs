//! `bottle start [AGENT] [--yes] [--dry-run] [-- CMD...]`: interactive session.

use super::common::{ManifestArgs, make_plan};
use super::launch::{self as l, SpecInput};
use bottle_docker::session;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Show each launch step on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Learn mode: let hosts off the allowlist through and record them
    /// (every other check stays on); `bottle why --learned` turns the
    /// record into allowlist entries.
    #[arg(long)]
    pub learn: bool,
    /// Command to run instead of the agent's.
    #[arg(last = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (set, mut plan) = make_plan(&args.manifest, args.agent)?;
    if !args.command.is_empty() {
        plan.agent.override_command(args.command.clone());
    }
    print!("{}", bottle_plan::render_text(&plan));
    if args.dry_run {
        println!("dry run: nothing was created");
        return Ok(ExitCode::SUCCESS);
    }
    if args.learn {
        eprint!("{}", l::LEARN_BANNER);
    }
    l::confirm(args.yes, "Start this bottle?")?;
    let mut values = l::resolve_values(&set, &plan)?;
    values.learn = args.learn;
    let tty = std::io::stdin().is_terminal();
    l::launch_session(
        &set,
        &plan,
        |plan| {
            l::build_spec(SpecInput {
                plan,
                values: &values,
                tty,
                stdin: true,
            })
        },
        l::SessionOpts {
            yes: args.yes,
            verbose: args.verbose,
            grace: Duration::from_secs(10),
        },
        async |bottle, cancel| {
            if tty {
                session::run_interactive(bottle, Duration::from_secs(10)).await
            } else {
                // No terminal (`--yes` from a script): a plain session.
                session::run_command(bottle, true, cancel).await
            }
        },
    )
}
