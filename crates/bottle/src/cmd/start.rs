//! `bottle start [AGENT] [--yes] [--dry-run] [-- CMD...]`: interactive session.

use super::common::{ManifestArgs, make_plan};
use super::launch::{self as l, SpecInput};
use bottle_docker::session::{self, Ended};
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
    /// Command to run instead of the agent's.
    #[arg(last = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (set, mut plan) = make_plan(&args.manifest, args.agent)?;
    let overridden = !args.command.is_empty();
    if overridden {
        plan.agent.command = args.command.clone();
    }
    print!("{}", bottle_plan::render_text(&plan));
    if args.dry_run {
        println!("dry run: nothing was created");
        return Ok(ExitCode::SUCCESS);
    }
    l::confirm(args.yes, "Start this bottle?")?;
    let values = l::resolve_values(&set, &plan)?;
    let tty = std::io::stdin().is_terminal();
    let spec = l::build_spec(SpecInput {
        set: &set,
        plan: &plan,
        values: &values,
        command_overridden: overridden,
        tty,
        stdin: true,
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
        let ended = if tty {
            session::run_interactive(&bottle, Duration::from_secs(10)).await
        } else {
            // No terminal (`--yes` from a script): a plain session.
            session::run_command(&bottle, true, &cancel).await
        };
        let grace = match ended {
            Ok(Ended::Exited(_)) => None,
            _ => Some(Duration::from_secs(10)),
        };
        let report = bottle.teardown(grace).await;
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
    rt.shutdown_background();
    l::exit_status(code)
}
