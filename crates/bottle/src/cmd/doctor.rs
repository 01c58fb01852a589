//! `bottle doctor`: is this machine ready to run bottles, and if not, what
//! is missing.

use super::common::{ManifestArgs, make_plan};
use super::launch::runtime;
use std::process::ExitCode;

/// Check the engine, its version, the runtime, the images.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Check for this agent's image and runtime (default: the manifest's
    /// default agent, if any).
    pub agent: Option<String>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Run. Exit 0 when nothing is broken ("missing" images are built on
/// demand), 1 when something must be fixed first.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // A broken or absent manifest should not stop the engine checks.
    let plan = make_plan(&args.manifest, args.agent.clone())
        .ok()
        .map(|(_, p)| p);
    let tag = bottle_docker::images::sidecar_tag();
    let checks = runtime()?.block_on(bottle_docker::ops::doctor(
        &bottle_docker::ops::DoctorInput {
            runtime: plan.as_ref().and_then(|p| p.runtime.as_deref()),
            sidecar_tag: &tag,
            agent_image: plan.as_ref().map(|p| p.image.reference()),
        },
    ));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let mark = match c.status.as_str() {
                "ok" => "ok     ",
                "missing" => "missing",
                _ => "ERROR  ",
            };
            println!("{mark} {:<12} {}", c.name, c.detail);
            if let Some(f) = &c.fix {
                println!("        {:<12} fix: {f}", "");
            }
        }
    }
    Ok(if checks.iter().any(|c| c.status == "error") {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
