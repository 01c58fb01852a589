//! `bottle run [AGENT] [--yes] -- CMD...`: run one command in a fresh bottle
//! and exit with its code. Non-interactive: no TTY; the command's stdout and
//! stderr stay apart; piped stdin is passed on.

use super::common::{ManifestArgs, make_plan};
use super::launch::{self as l, SpecInput};
use bottle_docker::session;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// Run a command in a bottle.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agent whose bottle to use (default: the manifest's default_agent).
    pub agent: Option<String>,
    /// Skip the y/N preflight question (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show each launch step on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Learn mode: let hosts off the allowlist through and record them
    /// (every other check stays on); `bottle why --learned` turns the
    /// record into allowlist entries.
    #[arg(long)]
    pub learn: bool,
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (set, mut plan) = make_plan(&args.manifest, args.agent)?;
    plan.agent.override_command(args.command.clone());
    if !args.yes {
        eprint!("{}", bottle_plan::render_text(&plan));
    }
    if args.learn {
        eprint!("{}", l::LEARN_BANNER);
    }
    l::confirm(args.yes, "Start this bottle?")?;
    let mut values = l::resolve_values(&set, &plan)?;
    values.learn = args.learn;
    let forward_stdin = !std::io::stdin().is_terminal();
    l::launch_session(
        &set,
        &plan,
        |plan| {
            l::build_spec(SpecInput {
                plan,
                values: &values,
                tty: false,
                stdin: forward_stdin,
            })
        },
        l::SessionOpts {
            yes: args.yes,
            verbose: args.verbose,
            grace: Duration::from_secs(3),
        },
        async |bottle, cancel| session::run_command(bottle, forward_stdin, cancel).await,
    )
}
