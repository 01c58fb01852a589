//! `bottle init`: write a commented starter bottle.toml.

use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The starter manifest. A test checks that it loads.
pub const STARTER: &str = include_str!("starter.toml");

/// Write a commented starter bottle.toml in the current directory.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Overwrite an existing bottle.toml.
    #[arg(long)]
    pub force: bool,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = Path::new("bottle.toml");
    if Path::new("bottle.json").exists() {
        anyhow::bail!("bottle.json already exists here; a project keeps one manifest");
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if args.force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("bottle.toml already exists; use --force to overwrite it")
        }
        Err(e) => return Err(e).context("cannot create bottle.toml"),
    };
    f.write_all(STARTER.as_bytes())
        .context("cannot write bottle.toml")?;
    println!("wrote bottle.toml; see what it would do with `bottle plan`");
    Ok(ExitCode::SUCCESS)
}
