//! `bottle image bootstrap`: build the base image from this machine's
//! Debian packages, with no registry.

use super::launch::{runtime, show_progress};
use std::path::PathBuf;
use std::process::ExitCode;

/// Manage bottle's images.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Build the base image with mmdebstrap from the host's apt sources and
    /// import it (no registry needed).
    Bootstrap(BootstrapArgs),
    /// Build the sidecar images from this binary and the preset images
    /// (what `start` and `run` would build on first use).
    Build(BuildArgs),
}

/// Options of `image build`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Presets whose agent images to build (default: shell).
    #[arg(long, value_delimiter = ',', default_value = "shell")]
    pub preset: Vec<PresetArg>,
}

/// A preset name.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PresetArg {
    /// bash, git, curl, python3.
    Shell,
    /// Claude Code (from its pinned PyPI wheel, fetched with pip).
    Claude,
    /// Codex CLI (from its pinned PyPI wheel, fetched with pip).
    Codex,
}

/// Options of `image bootstrap`.
#[derive(clap::Args, Debug)]
pub struct BootstrapArgs {
    /// Rebuild even if the image exists.
    #[arg(long)]
    pub force: bool,
    /// Debian suite (default: the host's release).
    #[arg(long)]
    pub suite: Option<String>,
    /// Extra packages (comma-separated or repeated), e.g. for a test image.
    #[arg(long, value_delimiter = ',')]
    pub include: Vec<String>,
    /// Tag of the result (default: bottle/base:latest).
    #[arg(long)]
    pub tag: Option<String>,
    /// apt source files to use instead of the host's.
    #[arg(long, value_name = "FILE")]
    pub sources: Vec<PathBuf>,
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Build(b) => {
            runtime()?.block_on(async {
                let engine = bottle_docker::Engine::connect().await?;
                let tag = bottle_docker::images::sidecar_tag();
                bottle_docker::images::ensure_sidecars(
                    &engine,
                    &tag,
                    std::path::Path::new("/proc/self/exe"),
                    true,
                    &show_progress,
                )
                .await?;
                for p in &b.preset {
                    let preset = match p {
                        PresetArg::Shell => bottle_plan::Preset::Shell,
                        PresetArg::Claude => bottle_plan::Preset::Claude,
                        PresetArg::Codex => bottle_plan::Preset::Codex,
                    };
                    let reference = format!("bottle/agent-{}:latest", preset.as_str());
                    bottle_docker::images::ensure_preset(
                        &engine,
                        preset.into(),
                        &reference,
                        &show_progress,
                    )
                    .await?;
                    println!("{reference}: ready");
                }
                println!(
                    "{}:{tag}, {}:{tag}: ready",
                    bottle_docker::images::EGRESS_REPO,
                    bottle_docker::images::GIT_GATE_REPO
                );
                Ok::<(), anyhow::Error>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Bootstrap(b) => {
            let opts = bottle_docker::bootstrap::BootstrapOptions {
                tag: b
                    .tag
                    .unwrap_or_else(|| bottle_docker::images::BASE_IMAGE.to_string()),
                suite: b.suite,
                extra_packages: b.include,
                sources: b.sources,
                force: b.force,
                ..Default::default()
            };
            let outcome = runtime()?.block_on(async {
                let engine = bottle_docker::Engine::connect().await?;
                bottle_docker::bootstrap::bootstrap(&engine, &opts, &show_progress).await
            })?;
            match outcome {
                bottle_docker::bootstrap::Outcome::Present(id) => {
                    println!("{} is already there ({id}); --force rebuilds it", opts.tag)
                }
                bottle_docker::bootstrap::Outcome::Built(id) => {
                    println!("built {} ({id})", opts.tag)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
