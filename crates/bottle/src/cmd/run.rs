//! `bottle run [AGENT] [--yes] -- CMD...`: run one command in a fresh bottle
//! and exit with its code. Non-interactive: no TTY; the command's stdout and
//! stderr stay apart; piped stdin is passed on.

use super::common::{ManifestArgs, make_plan};
use super::launch::{self as l, SpecInput};
use bottle_docker::session::{self, Ended};
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
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (set, mut plan) = make_plan(&args.manifest, args.agent)?;
    plan.agent.command = args.command.clone();
    if !args.yes {
        eprint!("{}", bottle_plan::render_text(&plan));
    }
    l::confirm(args.yes, "Start this bottle?")?;
    let values = l::resolve_values(&set, &plan)?;
    let forward_stdin = !std::io::stdin().is_terminal();
    let spec = l::build_spec(SpecInput {
        set: &set,
        plan: &plan,
        values: &values,
        command_overridden: true,
        tty: false,
        stdin: forward_stdin,
    })?;
    let rt = l::runtime()?;
    let code = rt.block_on(async {
        let cancel = bottle_docker::cancel::on_signals()?;
        let engine = bottle_docker::Engine::connect().await?;
        if let Some(r) = &plan.runtime {
            engine.check_runtime(r).await?;
        }
        cancel
            .race(async { Ok(l::ensure_images(&engine, &plan, args.yes).await) })
            .await??;
        let progress = l::launch_progress(args.verbose);
        let mut bottle = bottle_docker::launch(&engine, &spec, &cancel, &progress).await?;
        progress(bottle_docker::Progress::Phase("starting the agent"));
        let ended = session::run_command(&bottle, forward_stdin, &cancel).await;
        progress(bottle_docker::Progress::Phase("tearing down"));
        let grace = match ended {
            Ok(Ended::Exited(_)) => None,
            _ => Some(Duration::from_secs(3)),
        };
        let report = bottle.teardown(grace).await;
        progress(bottle_docker::Progress::Phase("torn down"));
        l::report_teardown(&report);
        Ok::<u8, anyhow::Error>(match ended? {
            Ended::Exited(c) => {
                u8::try_from(c).unwrap_or(if c < 0 { 255 } else { (c % 256) as u8 })
            }
            Ended::Interrupted(sig) => {
                eprintln!("bottle: interrupted by {sig}; the bottle was torn down");
                l::signal_exit(sig)
            }
        })
    });
    // Do not wait for the stdin reader thread.
    rt.shutdown_background();
    l::exit_status(code)
}
