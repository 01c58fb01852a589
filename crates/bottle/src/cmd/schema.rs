//! `bottle schema`: the manifest's JSON Schema.

use std::process::ExitCode;

/// Print the manifest's JSON Schema (for editors and CI).
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&bottle_manifest::json_schema())?
    );
    Ok(ExitCode::SUCCESS)
}
