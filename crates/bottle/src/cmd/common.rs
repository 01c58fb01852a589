//! What several subcommands share: finding the manifest and building plan
//! inputs from the host environment.

use anyhow::Context;
use bottle_manifest::{LoadOptions, ManifestSet};
use bottle_plan::{LaunchPlan, PlanInputs};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Options every manifest-reading command accepts.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ManifestArgs {
    /// Use this manifest instead of ./bottle.toml or ./bottle.json (the
    /// user's config file still merges underneath).
    #[arg(long, short = 'f', value_name = "FILE", global = true)]
    pub manifest: Option<PathBuf>,
}

/// The user's config directory: `$BOTTLE_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/bottle`, else `~/.config/bottle`.
pub fn user_config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("BOTTLE_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("bottle"));
    }
    home_dir().map(|h| h.join(".config").join("bottle"))
}

/// `$HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Load and merge the manifests.
pub fn load_manifest(args: &ManifestArgs) -> anyhow::Result<ManifestSet> {
    let opts = LoadOptions {
        explicit: args.manifest.clone(),
        project_dir: std::env::current_dir().context("cannot read the current directory")?,
        user_dir: user_config_dir(),
    };
    Ok(ManifestSet::load(&opts)?)
}

/// Plan inputs from the host: the default allowlist (overridable through
/// `BOTTLE_DEFAULT_ALLOWLIST`), which host variables are set, the home
/// directory, and the sidecar image tag.
pub fn plan_inputs(agent: Option<String>, running: BTreeSet<String>) -> PlanInputs {
    let default_env = std::env::var(bottle_plan::DEFAULT_ALLOWLIST_ENV).ok();
    PlanInputs {
        agent,
        running,
        default_allowlist: bottle_plan::default_allowlist(default_env.as_deref()),
        home: home_dir(),
        host_env: std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect(),
        sidecar_tag: sidecar_tag(),
    }
}

/// Plan `agent` against the current manifests.
pub fn make_plan(
    args: &ManifestArgs,
    agent: Option<String>,
) -> anyhow::Result<(ManifestSet, LaunchPlan)> {
    let set = load_manifest(args)?;
    // Running bottles (read-only, best effort) so the new one gets a free
    // name; without a reachable engine, plan as if none ran.
    let running = bottle_docker::running_instances_blocking(std::time::Duration::from_secs(2))
        .unwrap_or_default();
    let inputs = plan_inputs(agent, running);
    let plan = bottle_plan::plan(&set, &inputs)?;
    Ok((set, plan))
}

/// Sidecar images are tagged with a hash of the running binary, so a new
/// build gets new images and an unchanged one reuses them.
pub fn sidecar_tag() -> String {
    bottle_docker::images::sidecar_tag()
}
