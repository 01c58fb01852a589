//! Images: the base (see [`crate::bootstrap`]), the agent presets, the
//! sidecars (built from the running binary), and the user's own.
//!
//! Everything is built through the Engine API with the classic builder and
//! a tar context made here, so no BuildKit and no docker CLI are needed.
//! Images bottle builds carry a `bottle.recipe` label (a hash of their
//! recipe and of the image they are built on) and are rebuilt only when it
//! no longer matches.

use crate::agents::{self, AgentPackage, AgentSource};
use crate::engine::Engine;
use crate::error::{Ctx, Error, Result, is_not_found};
use crate::labels;
use crate::progress::{Progress, ProgressFn};
use crate::tar::Archive;
use bollard::models::ImageInspect;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The base image every bottle image is built on.
pub const BASE_IMAGE: &str = "bottle/base:latest";
/// Repository of the egress proxy sidecar image (`:<sidecar tag>`).
pub const EGRESS_REPO: &str = "bottle/egress";
/// Repository of the git gate sidecar image (`:<sidecar tag>`).
pub const GIT_GATE_REPO: &str = "bottle/git-gate";

/// An image recipe shipped with bottle (the files in `images/`).
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    /// Short name (`shell`, `egress`), also the `bottle.image` label.
    pub name: &'static str,
    /// The Dockerfile.
    pub dockerfile: &'static str,
    /// Whether building it needs the network (a registry or a mirror).
    pub needs_network: bool,
    /// The agent it installs, if any: its pin is part of the recipe hash,
    /// and the PyPI recipes copy its binaries from the build context.
    pub agent: Option<&'static AgentPackage>,
    /// Other files of the recipe, put in the build context: (name, contents).
    pub files: &'static [(&'static str, &'static str)],
}

const CLAUDE_FILES: &[(&str, &str)] = &[
    (
        "claude-in-bottle",
        include_str!("../../../images/claude/claude-in-bottle"),
    ),
    (
        "CLAUDE.md",
        include_str!("../../../images/claude/CLAUDE.md"),
    ),
];

const CODEX_FILES: &[(&str, &str)] =
    &[("AGENTS.md", include_str!("../../../images/codex/AGENTS.md"))];

/// The `shell` preset.
pub const SHELL: Recipe = Recipe {
    name: "agent-shell",
    dockerfile: include_str!("../../../images/shell/Dockerfile"),
    needs_network: false,
    agent: None,
    files: &[],
};
/// The `claude` preset: Claude Code from its pinned PyPI wheel.
pub const CLAUDE: Recipe = Recipe {
    name: "agent-claude",
    dockerfile: include_str!("../../../images/claude/Dockerfile"),
    needs_network: false,
    agent: Some(&agents::CLAUDE_CODE),
    files: CLAUDE_FILES,
};
/// The `claude` preset from the npm registry (`BOTTLE_AGENT_FROM=npm`).
pub const CLAUDE_NPM: Recipe = Recipe {
    name: "agent-claude",
    dockerfile: include_str!("../../../images/claude/npm.Dockerfile"),
    needs_network: true,
    agent: Some(&agents::CLAUDE_CODE),
    files: CLAUDE_FILES,
};
/// The `codex` preset: Codex from its pinned PyPI wheel.
pub const CODEX: Recipe = Recipe {
    name: "agent-codex",
    dockerfile: include_str!("../../../images/codex/Dockerfile"),
    needs_network: false,
    agent: Some(&agents::CODEX),
    files: CODEX_FILES,
};
/// The `codex` preset from the npm registry (`BOTTLE_AGENT_FROM=npm`).
pub const CODEX_NPM: Recipe = Recipe {
    name: "agent-codex",
    dockerfile: include_str!("../../../images/codex/npm.Dockerfile"),
    needs_network: true,
    agent: Some(&agents::CODEX),
    files: CODEX_FILES,
};
/// The egress sidecar.
pub const EGRESS: Recipe = Recipe {
    name: "egress",
    dockerfile: include_str!("../../../images/egress/Dockerfile"),
    needs_network: false,
    agent: None,
    files: &[],
};
/// The git gate sidecar.
pub const GIT_GATE: Recipe = Recipe {
    name: "git-gate",
    dockerfile: include_str!("../../../images/git-gate/Dockerfile"),
    needs_network: false,
    agent: None,
    files: &[],
};
/// The base image where a registry is reachable.
pub const BASE_FROM_REGISTRY: Recipe = Recipe {
    name: "base",
    dockerfile: include_str!("../../../images/base/Dockerfile"),
    needs_network: true,
    agent: None,
    files: &[],
};

/// An agent image bottle builds from its own recipe: one per plan preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentImage {
    /// A shell on the base image.
    Shell,
    /// Claude Code.
    Claude,
    /// Codex.
    Codex,
}

impl AgentImage {
    /// The name (`shell`, `claude`, `codex`; the image is `bottle/agent-<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shell => "shell",
            Self::Claude => "claude",
            Self::Codex => "codex",
        }
    }
}

impl From<bottle_plan::Preset> for AgentImage {
    fn from(p: bottle_plan::Preset) -> Self {
        match p {
            bottle_plan::Preset::Shell => Self::Shell,
            bottle_plan::Preset::Claude => Self::Claude,
            bottle_plan::Preset::Codex => Self::Codex,
        }
    }
}

/// Make every image `plan` uses: the base (pulled and built where a
/// registry is reachable; else, once `offer_bootstrap` agrees, bootstrapped
/// from the host's Debian packages), the sidecars (from `binary`, tagged
/// as the plan's egress image is), and the agent's image.
///
/// `offer_bootstrap` gets the reason the pull failed and answers whether
/// to bootstrap; its error is the launch's (the caller asks the user).
pub async fn ensure_plan(
    engine: &Engine,
    plan: &bottle_plan::LaunchPlan,
    binary: &Path,
    offer_bootstrap: impl FnOnce(&Error) -> Result<()>,
    progress: ProgressFn<'_>,
) -> Result<()> {
    use bottle_plan::{ImagePlan, Role};
    if inspect(engine, BASE_IMAGE).await?.is_none()
        && let Err(e) = build_base_from_registry(engine, progress).await
    {
        offer_bootstrap(&e)?;
        crate::bootstrap::bootstrap(engine, &Default::default(), progress).await?;
    }
    let tag = plan
        .containers
        .iter()
        .find(|c| c.role == Role::Egress)
        .and_then(|c| c.image.rsplit_once(':'))
        .map(|(_, t)| t.to_string())
        .ok_or_else(|| Error::Invalid("the plan has no egress sidecar image".into()))?;
    let with_git = plan.containers.iter().any(|c| c.role == Role::Git);
    ensure_sidecars(engine, &tag, binary, with_git, progress).await?;
    match &plan.image {
        ImagePlan::Preset { preset, reference } => {
            ensure_preset(engine, (*preset).into(), reference, progress).await
        }
        ImagePlan::Image { reference } => ensure_reference(engine, reference, progress).await,
        ImagePlan::Dockerfile { path, tag } => {
            build_dockerfile(engine, Path::new(path), tag, progress).await
        }
    }
}

/// The recipe of a preset (the agents from their PyPI wheels).
pub fn recipe_for(preset: AgentImage) -> Recipe {
    recipe_from(preset, AgentSource::Pypi)
}

/// The recipe of a preset, with the agent from `source`.
pub fn recipe_from(preset: AgentImage, source: AgentSource) -> Recipe {
    match (preset, source) {
        (AgentImage::Shell, _) => SHELL,
        (AgentImage::Claude, AgentSource::Pypi) => CLAUDE,
        (AgentImage::Claude, AgentSource::Npm) => CLAUDE_NPM,
        (AgentImage::Codex, AgentSource::Pypi) => CODEX,
        (AgentImage::Codex, AgentSource::Npm) => CODEX_NPM,
    }
}

/// Label on preset images: the agent and its version (`Claude Code 2.1.332`).
pub const AGENT_LABEL: &str = "bottle.agent";

/// The image, or `None` when the engine does not have it.
pub async fn inspect(engine: &Engine, reference: &str) -> Result<Option<ImageInspect>> {
    match engine.docker().inspect_image(reference).await {
        Ok(i) => Ok(Some(i)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(Error::Api {
            context: format!("inspecting image {reference}"),
            source: e,
        }),
    }
}

fn image_label(img: &ImageInspect, key: &str) -> Option<String> {
    img.config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(key).cloned())
}

/// Hash of a recipe and of what it builds on (hex, 16 characters).
pub fn recipe_hash(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// What to build.
pub struct BuildRequest<'a> {
    /// Tag of the result.
    pub tag: &'a str,
    /// The context (must contain the Dockerfile as `Dockerfile` unless
    /// [`dockerfile`](Self::dockerfile) says otherwise).
    pub context: Archive,
    /// Path of the Dockerfile inside the context.
    pub dockerfile: &'a str,
    /// Build arguments.
    pub build_args: HashMap<String, String>,
    /// Labels put on the image.
    pub labels: HashMap<String, String>,
    /// Build with `--network none`: the recipe must not need the network.
    pub offline: bool,
}

/// Build an image with the classic builder, reporting each step.
pub async fn build(engine: &Engine, req: BuildRequest<'_>, progress: ProgressFn<'_>) -> Result<()> {
    progress(Progress::Phase(&format!("building {}", req.tag)));
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile(req.dockerfile)
        .t(req.tag)
        .rm(true)
        .forcerm(true)
        .labels(&req.labels)
        .buildargs(&req.build_args);
    if req.offline {
        opts = opts.networkmode("none");
    }
    let body = bollard::body_try_stream(req.context.into_stream());
    let mut stream = engine.long().build_image(opts.build(), None, Some(body));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    return Err(Error::Build {
                        image: req.tag.to_string(),
                        message: detail.message.unwrap_or_default(),
                    });
                }
                if let Some(s) = info.stream {
                    for line in s.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                        progress(Progress::Line(line));
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(Error::Build {
                    image: req.tag.to_string(),
                    message: error,
                });
            }
            Err(e) => {
                return Err(Error::Api {
                    context: format!("building {}", req.tag),
                    source: e,
                });
            }
        }
    }
    if inspect(engine, req.tag).await?.is_none() {
        return Err(Error::Build {
            image: req.tag.to_string(),
            message: "the builder finished without producing the image".into(),
        });
    }
    Ok(())
}

/// Fail with a helpful message unless the base image exists; return its id.
pub async fn require_base(engine: &Engine) -> Result<String> {
    match inspect(engine, BASE_IMAGE).await? {
        Some(i) => Ok(i.id.unwrap_or_default()),
        None => Err(Error::ImageMissing {
            image: BASE_IMAGE.into(),
            hint: "build it from this machine's Debian packages with `bottle image bootstrap` \
                   (needs mmdebstrap)"
                .into(),
        }),
    }
}

/// Build the base image from `images/base/Dockerfile` (needs a registry).
pub async fn build_base_from_registry(engine: &Engine, progress: ProgressFn<'_>) -> Result<()> {
    let mut ctx = Archive::new();
    ctx.add_bytes("Dockerfile", BASE_FROM_REGISTRY.dockerfile, 0o644, 0, 0)
        .map_err(|e| Error::io("building the context", e))?;
    let labels = HashMap::from([(labels::IMAGE.to_string(), "base".to_string())]);
    build(
        engine,
        BuildRequest {
            tag: BASE_IMAGE,
            context: ctx,
            dockerfile: "Dockerfile",
            build_args: HashMap::new(),
            labels,
            offline: false,
        },
        progress,
    )
    .await
}

/// Make sure a recipe's image exists and matches the recipe (built on the
/// current base image); build it otherwise.
async fn ensure_recipe(
    engine: &Engine,
    recipe: Recipe,
    tag: &str,
    extra: &[&str],
    context: impl AsyncFnOnce() -> Result<Archive>,
    build_args: HashMap<String, String>,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let base_id = require_base(engine).await?;
    let mut parts = vec![recipe.dockerfile, base_id.as_str()];
    for (name, contents) in recipe.files {
        parts.extend([*name, *contents]);
    }
    parts.extend_from_slice(extra);
    let want = recipe_hash(&parts);
    if let Some(img) = inspect(engine, tag).await?
        && image_label(&img, labels::RECIPE).as_deref() == Some(want.as_str())
    {
        return Ok(());
    }
    let mut labels = HashMap::from([
        (labels::IMAGE.to_string(), recipe.name.to_string()),
        (labels::RECIPE.to_string(), want),
    ]);
    if let Some(a) = recipe.agent {
        labels.insert(AGENT_LABEL.to_string(), a.describe());
    }
    build(
        engine,
        BuildRequest {
            tag,
            context: context().await?,
            dockerfile: "Dockerfile",
            build_args,
            labels,
            offline: !recipe.needs_network,
        },
        progress,
    )
    .await
}

fn dockerfile_only(recipe: Recipe) -> Result<Archive> {
    let mut ctx = Archive::new();
    ctx.add_bytes("Dockerfile", recipe.dockerfile, 0o644, 0, 0)
        .map_err(|e| Error::io("building the context", e))?;
    for (name, contents) in recipe.files {
        let mode = if contents.starts_with("#!") {
            0o755
        } else {
            0o644
        };
        ctx.add_bytes(name, *contents, mode, 0, 0)
            .map_err(|e| Error::io("building the context", e))?;
    }
    Ok(ctx)
}

/// Make sure a preset's image exists (building it from its recipe).
pub async fn ensure_preset(
    engine: &Engine,
    preset: AgentImage,
    reference: &str,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let source = AgentSource::from_env()?;
    let recipe = recipe_from(preset, source);
    let Some(agent) = recipe.agent else {
        return ensure_recipe(
            engine,
            recipe,
            reference,
            &[],
            async || dockerfile_only(recipe),
            HashMap::new(),
            progress,
        )
        .await;
    };
    // The pin is part of the recipe: a new pin rebuilds the image.
    let pin = agent.wheels.iter().map(|w| w.sha256).collect::<Vec<_>>();
    let mut extra = vec![agent.package, agent.version, agent.agent_version];
    extra.extend(pin);
    let build_args =
        HashMap::from([("AGENT_VERSION".to_string(), agent.agent_version.to_string())]);
    ensure_recipe(
        engine,
        recipe,
        reference,
        &extra,
        async || {
            let mut ctx = dockerfile_only(recipe)?;
            if source == AgentSource::Pypi {
                let dir = agents::fetch(agent, progress).await?;
                for (_, name) in agent.members {
                    let p = dir.join(name);
                    ctx.add_file(name, &p, 0o755)
                        .map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
                }
            }
            Ok(ctx)
        },
        build_args,
        progress,
    )
    .await
}

/// Make sure the sidecar images for `tag` exist, building them from the
/// binary at `exe` (the running `bottle`). The git gate image is built only
/// when `with_git`.
pub async fn ensure_sidecars(
    engine: &Engine,
    tag: &str,
    exe: &Path,
    with_git: bool,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let egress = format!("{EGRESS_REPO}:{tag}");
    // The egress image is FROM scratch; its recipe hash covers the binary
    // through the tag, and the base through ensure_recipe (harmless: a new
    // base rebuilds a small image).
    ensure_recipe(
        engine,
        EGRESS,
        &egress,
        &[tag],
        async || {
            let mut ctx = dockerfile_only(EGRESS)?;
            ctx.add_file("bottle", exe, 0o755)
                .map_err(|e| Error::io(format!("reading {}", exe.display()), e))?;
            Ok(ctx)
        },
        HashMap::new(),
        progress,
    )
    .await?;
    if with_git {
        let git = format!("{GIT_GATE_REPO}:{tag}");
        ensure_recipe(
            engine,
            GIT_GATE,
            &git,
            &[tag],
            async || dockerfile_only(GIT_GATE),
            HashMap::from([("EGRESS_IMAGE".to_string(), egress.clone())]),
            progress,
        )
        .await?;
    }
    Ok(())
}

/// Build the user's Dockerfile with its directory as the context.
pub async fn build_dockerfile(
    engine: &Engine,
    dockerfile: &Path,
    tag: &str,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let dir = dockerfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dockerfile
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Invalid(format!("bad Dockerfile path {}", dockerfile.display())))?
        .to_string();
    let mut ctx = Archive::new();
    add_dir_recursive(&mut ctx, dir, "")?;
    let labels = HashMap::from([(labels::IMAGE.to_string(), "custom".to_string())]);
    build(
        engine,
        BuildRequest {
            tag,
            context: ctx,
            dockerfile: &name,
            build_args: HashMap::new(),
            labels,
            offline: false,
        },
        progress,
    )
    .await
}

/// Add a host directory to a build context (regular files and directories;
/// `.git` is skipped; symlinks are followed only when they point at files).
fn add_dir_recursive(ctx: &mut Archive, dir: &Path, prefix: &str) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if prefix.is_empty() && name == ".git" {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let meta =
            std::fs::metadata(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        if meta.is_dir() {
            ctx.add_dir(&rel, 0o755, 0, 0)
                .map_err(|e| Error::io(format!("archiving {}", p.display()), e))?;
            add_dir_recursive(ctx, &p, &rel)?;
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            ctx.add_file(&rel, &p, mode)
                .map_err(|e| Error::io(format!("archiving {}", p.display()), e))?;
        }
    }
    Ok(())
}

/// Make sure an image named by reference exists, pulling it if it does not.
pub async fn ensure_reference(
    engine: &Engine,
    reference: &str,
    progress: ProgressFn<'_>,
) -> Result<()> {
    if inspect(engine, reference).await?.is_some() {
        return Ok(());
    }
    progress(Progress::Phase(&format!("pulling {reference}")));
    let opts = CreateImageOptionsBuilder::default()
        .from_image(reference)
        .build();
    let pull = async {
        let mut stream = engine.long().create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| e.to_string())?;
            if let Some(s) = info.status {
                progress(Progress::Line(&s));
            }
        }
        Ok::<(), String>(())
    };
    let outcome = tokio::time::timeout(Duration::from_secs(600), pull).await;
    let why = match outcome {
        Ok(Ok(())) if inspect(engine, reference).await?.is_some() => return Ok(()),
        Ok(Ok(())) => "the pull finished without the image".to_string(),
        Ok(Err(e)) => e,
        Err(_) => "the pull timed out".to_string(),
    };
    Err(Error::ImageMissing {
        image: reference.into(),
        hint: format!("it is not on this engine and cannot be pulled ({why})"),
    })
}

/// Tag of the sidecar images: a hash of the running binary, so a new build
/// of bottle gets new sidecar images and an unchanged one reuses them. The
/// hash is cached (keyed by the file's device, inode, size and mtime) so
/// that hashing a large debug binary does not slow every command.
pub fn sidecar_tag() -> String {
    let cache = crate::paths::cache_dir().map(|d| d.join("exe-hash"));
    sidecar_tag_cached(cache.as_deref())
}

fn sidecar_tag_cached(cache: Option<&Path>) -> String {
    let exe = Path::new("/proc/self/exe");
    let Ok(meta) = std::fs::metadata(exe) else {
        return format!("v{}", env!("CARGO_PKG_VERSION"));
    };
    use std::os::unix::fs::MetadataExt;
    let key = format!(
        "{}:{}:{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    if let Some(c) = cache
        && let Ok(text) = std::fs::read_to_string(c)
        && let Some((k, v)) = text.trim().split_once(' ')
        && k == key
        && !v.is_empty()
    {
        return v.to_string();
    }
    let tag = match hash_file(exe) {
        Ok(t) => t,
        Err(_) => return format!("v{}", env!("CARGO_PKG_VERSION")),
    };
    if let Some(c) = cache {
        if let Some(parent) = c.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        // Write then rename, so a concurrent reader never sees half a line.
        let tmp = c.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, format!("{key} {tag}\n")).is_ok() {
            let _ = std::fs::rename(&tmp, c);
        }
    }
    tag
}

/// The sidecar tag a given `bottle` binary would use.
pub fn tag_of(binary: &Path) -> std::io::Result<String> {
    hash_file(binary)
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

/// Sidecar images of other builds of bottle (a tag other than
/// `current_tag`) created more than `older_than` ago.
pub async fn stale_sidecar_images(
    engine: &Engine,
    current_tag: &str,
    older_than: Duration,
) -> Result<Vec<String>> {
    use bollard::query_parameters::ListImagesOptionsBuilder;
    let filters = HashMap::from([("label".to_string(), vec![labels::IMAGE.to_string()])]);
    let images = engine
        .docker()
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .ctx(|| "listing images".into())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out = Vec::new();
    for img in images {
        if now - img.created < older_than.as_secs() as i64 {
            continue;
        }
        for t in img.repo_tags {
            let Some((repo, tag)) = t.rsplit_once(':') else {
                continue;
            };
            if (repo == EGRESS_REPO || repo == GIT_GATE_REPO) && tag != current_tag {
                out.push(t.clone());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Remove an image (not forced: an image a container uses stays).
pub async fn remove(engine: &Engine, reference: &str) -> Result<()> {
    engine
        .docker()
        .remove_image(
            reference,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .ctx(|| format!("removing image {reference}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_the_image_recipe_of_its_name() {
        use bottle_plan::Preset;
        for p in [Preset::Shell, Preset::Claude, Preset::Codex] {
            let image = AgentImage::from(p);
            assert_eq!(image.as_str(), p.as_str());
            assert_eq!(recipe_for(image).name, format!("agent-{}", p.as_str()));
        }
    }

    #[test]
    fn recipe_hashes_change_with_any_part() {
        let a = recipe_hash(&["FROM x", "sha256:1"]);
        assert_eq!(a.len(), 16);
        assert_ne!(a, recipe_hash(&["FROM x", "sha256:2"]));
        assert_ne!(a, recipe_hash(&["FROM y", "sha256:1"]));
        // Boundaries matter: ("ab","c") is not ("a","bc").
        assert_ne!(recipe_hash(&["ab", "c"]), recipe_hash(&["a", "bc"]));
    }

    #[test]
    fn sidecar_tag_is_stable_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("exe-hash");
        let a = sidecar_tag_cached(Some(&cache));
        assert_eq!(a.len(), 12, "{a}");
        let line = std::fs::read_to_string(&cache).unwrap();
        assert!(line.trim_end().ends_with(&a), "{line}");
        assert_eq!(a, sidecar_tag_cached(Some(&cache)));
        assert_eq!(a, sidecar_tag_cached(None));
        // A cache entry for another file version is not trusted.
        std::fs::write(&cache, "0:0:0:0.0 ffffffffffff\n").unwrap();
        assert_eq!(a, sidecar_tag_cached(Some(&cache)));
    }

    #[test]
    fn offline_recipes_do_not_fetch() {
        for r in [SHELL, EGRESS, GIT_GATE, CLAUDE, CODEX] {
            assert!(!r.needs_network);
            for word in ["apt-get", "npm install", "curl "] {
                assert!(!r.dockerfile.contains(word), "{} uses {word}", r.name);
            }
        }
        for r in [SHELL, CLAUDE, CODEX, CLAUDE_NPM, CODEX_NPM] {
            assert!(
                r.dockerfile.contains("--uid 1000"),
                "{} must create uid 1000",
                r.name
            );
            assert!(
                r.dockerfile.contains("USER bottle"),
                "{} must run as bottle",
                r.name
            );
        }
    }

    #[test]
    fn agent_recipes_install_exactly_the_pinned_agent() {
        for (pypi, npm) in [(CLAUDE, CLAUDE_NPM), (CODEX, CODEX_NPM)] {
            let agent = pypi.agent.unwrap();
            for (_, name) in agent.members {
                assert!(
                    pypi.dockerfile
                        .lines()
                        .any(|l| l.starts_with("COPY ") && l.split_whitespace().any(|w| w == *name)),
                    "{} does not copy {name}",
                    pypi.name
                );
            }
            for r in [pypi, npm] {
                for (name, _) in r.files {
                    // `COPY [--chown=…] NAME DEST`
                    assert!(
                        r.dockerfile
                            .lines()
                            .any(|l| l.starts_with("COPY ")
                                && l.split_whitespace().any(|w| w == *name)),
                        "{} does not copy {name}",
                        r.name
                    );
                }
            }
            assert!(
                !agent
                    .members
                    .iter()
                    .any(|(_, name)| npm.dockerfile.contains(&format!("COPY {name} "))),
                "{} copies a wheel member",
                npm.name
            );
            assert!(
                npm.dockerfile
                    .contains(&format!("{}@${{AGENT_VERSION}}", agent.npm_package)),
                "the npm recipe of {} must install the pinned version",
                npm.name
            );
        }
        // Claude Code must not update itself away from the pin at run time.
        for r in [CLAUDE, CLAUDE_NPM] {
            assert!(r.dockerfile.contains("DISABLE_AUTOUPDATER=1"), "{}", r.name);
        }
        assert_eq!(recipe_for(AgentImage::Claude).name, "agent-claude");
        assert_eq!(
            recipe_from(AgentImage::Codex, AgentSource::Npm).dockerfile,
            CODEX_NPM.dockerfile
        );
    }
}
