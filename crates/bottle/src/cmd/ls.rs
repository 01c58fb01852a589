//! `bottle ls [--json]`: the bottles on this engine, from their labels.

use super::launch::runtime;
use std::process::ExitCode;

/// List bottles.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON (an array; shape documented in docs/ARCHITECTURE.md).
    #[arg(long)]
    pub json: bool,
}

fn age(created: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = (now - created).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let all = runtime()?.block_on(async {
        let engine = bottle_docker::Engine::connect().await?;
        bottle_docker::ops::list(&engine).await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        eprintln!("no bottles");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<14} {:<14} {:<9} {:>5}  CONTAINERS",
        "NAME", "AGENT", "BOTTLE", "STATE", "AGE"
    );
    for i in &all {
        let containers: Vec<String> = i
            .containers
            .iter()
            // The name's reservation is never started: nothing to show.
            .filter(|c| c.role != bottle_docker::labels::role::RESERVATION)
            .map(|c| {
                if c.health.is_empty() {
                    format!("{}:{}", c.role, c.state)
                } else {
                    format!("{}:{}/{}", c.role, c.state, c.health)
                }
            })
            .collect();
        println!(
            "{:<20} {:<14} {:<14} {:<9} {:>5}  {}",
            i.name,
            i.agent,
            i.bottle,
            i.state,
            if i.created > 0 {
                age(i.created)
            } else {
                "-".into()
            },
            containers.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
