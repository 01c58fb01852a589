//! `bottle image bootstrap`: build the base image with no registry.
//!
//! mmdebstrap builds a minimal Debian root filesystem from the host's own
//! apt sources (read from `/etc/apt` at run time; bottle names no mirror),
//! with every package the presets and sidecars need, as a tarball; the
//! tarball is then imported through the Engine API (`POST /images/create`
//! with `fromSrc=-`, what `docker import` does). Image builds on top of it
//! need no network.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::{self, BASE_IMAGE};
use crate::labels;
use crate::progress::{Progress, ProgressFn};
use bollard::query_parameters::CreateImageOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncBufReadExt;

/// What the base image holds besides Debian's minimal base: what the
/// `shell` preset promises and what the git gate needs, plus `passwd` for
/// `useradd` in the recipes.
pub const BASE_PACKAGES: &[&str] = &[
    "bash",
    "ca-certificates",
    "curl",
    "git",
    "openssh-client",
    "passwd",
    "python3",
];

/// Options of a bootstrap.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// Tag of the result (default [`BASE_IMAGE`]).
    pub tag: String,
    /// Debian suite (default: the host's `VERSION_CODENAME`).
    pub suite: Option<String>,
    /// Packages besides [`BASE_PACKAGES`].
    pub extra_packages: Vec<String>,
    /// apt source files (default: the host's, see [`host_apt_sources`]).
    pub sources: Vec<PathBuf>,
    /// The mmdebstrap executable.
    pub mmdebstrap: PathBuf,
    /// Rebuild even when the image exists.
    pub force: bool,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        Self {
            tag: BASE_IMAGE.to_string(),
            suite: None,
            extra_packages: Vec::new(),
            sources: Vec::new(),
            mmdebstrap: PathBuf::from("mmdebstrap"),
            force: false,
        }
    }
}

/// What a bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The image was already there (and `force` was off).
    Present(String),
    /// The image was built; its id.
    Built(String),
}

/// The host's apt source files for its own distribution: the
/// distribution's deb822 file (`sources.list.d/<ID>.sources`, as Debian 12
/// and Ubuntu 24.04 install it) and `sources.list` when it has entries;
/// only when neither exists, every `*.list` and `*.sources` file in
/// `sources.list.d`. Third-party repositories (an engine's, a cloud SDK's)
/// usually live in their own files there, and their keys and reachability
/// are no business of the base image.
pub fn host_apt_sources() -> Vec<PathBuf> {
    apt_sources_in(Path::new("/etc/apt"), host_os_id().as_deref())
}

fn host_os_id() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix("ID=")
            .map(|v| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

fn apt_sources_in(etc_apt: &Path, os_id: Option<&str>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let main = etc_apt.join("sources.list");
    if let Ok(text) = std::fs::read_to_string(&main)
        && text
            .lines()
            .map(str::trim)
            .any(|l| l.starts_with("deb ") || l.starts_with("deb\t"))
    {
        out.push(main);
    }
    let dir = etc_apt.join("sources.list.d");
    if let Some(id) = os_id {
        let own = dir.join(format!("{id}.sources"));
        if own.is_file() {
            out.push(own);
        }
    }
    if !out.is_empty() {
        return out;
    }
    if let Ok(rd) = std::fs::read_dir(&dir) {
        let mut more: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        out.extend(more);
    }
    out
}

/// The host's release codename (`VERSION_CODENAME` in /etc/os-release).
pub fn host_suite() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix("VERSION_CODENAME=")
            .map(|v| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Build and import the base image (or another image from the host's
/// packages, with `extra_packages` and `tag`).
pub async fn bootstrap(
    engine: &Engine,
    opts: &BootstrapOptions,
    progress: ProgressFn<'_>,
) -> Result<Outcome> {
    // One bootstrap at a time per user: a second one waits, then finds the
    // image built.
    let _lock = lock_file("bootstrap.lock").await?;
    if !opts.force
        && let Some(img) = images::inspect(engine, &opts.tag).await?
    {
        return Ok(Outcome::Present(img.id.unwrap_or_default()));
    }
    let suite = opts
        .suite
        .clone()
        .or_else(host_suite)
        .ok_or_else(|| Error::Bootstrap("cannot tell the host's Debian release (no VERSION_CODENAME in /etc/os-release); pass --suite".into()))?;
    let sources = if opts.sources.is_empty() {
        host_apt_sources()
    } else {
        opts.sources.clone()
    };
    if sources.is_empty() {
        return Err(Error::Bootstrap(
            "no apt sources on this host (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list|*.sources); \
             bootstrap builds from the host's own Debian mirror"
                .into(),
        ));
    }
    let work = tempdir("bottle-bootstrap")?;
    let tarball = work.path.join("rootfs.tar");
    let mut packages: Vec<String> = BASE_PACKAGES.iter().map(|s| s.to_string()).collect();
    packages.extend(opts.extra_packages.iter().cloned());
    packages.sort();
    packages.dedup();

    progress(Progress::Phase(&format!(
        "mmdebstrap: Debian {suite} with {} (from the host's apt sources)",
        packages.join(", ")
    )));
    let mut cmd = tokio::process::Command::new(&opts.mmdebstrap);
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", packages.join(",")))
        .arg("--format=tar")
        // Documentation and translations are dead weight in a sandbox.
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-include=/usr/share/doc/*/copyright")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
        .arg("--dpkgopt=path-exclude=/usr/share/info/*")
        .arg(&suite)
        .arg(&tarball)
        .args(&sources)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Bootstrap(format!(
                "{} is not installed; install it (Debian/Ubuntu: `apt-get install mmdebstrap`) and run again",
                opts.mmdebstrap.display()
            ))
        } else {
            Error::io(format!("running {}", opts.mmdebstrap.display()), e)
        }
    })?;
    let mut tail: Vec<String> = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            progress(Progress::Line(&line));
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("waiting for mmdebstrap", e))?;
    if !status.success() {
        return Err(Error::Bootstrap(format!(
            "mmdebstrap failed ({status}); its last lines:\n{}",
            tail.join("\n")
        )));
    }
    let id = import(engine, &tarball, &opts.tag, &suite, progress).await?;
    Ok(Outcome::Built(id))
}

/// Import a root filesystem tarball as an image.
pub async fn import(
    engine: &Engine,
    tarball: &Path,
    tag: &str,
    suite: &str,
    progress: ProgressFn<'_>,
) -> Result<String> {
    let (repo, version) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
    let total = std::fs::metadata(tarball)
        .map_err(|e| Error::io(format!("reading {}", tarball.display()), e))?
        .len();
    progress(Progress::Phase(&format!("importing {tag}")));
    let changes = vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "ENV LANG=C.UTF-8".to_string(),
        "CMD [\"bash\"]".to_string(),
        format!("LABEL {}=base", labels::IMAGE),
        format!("LABEL bottle.suite={suite}"),
    ];
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(changes)
        .build();
    let sent = Arc::new(AtomicU64::new(0));
    let body = file_stream(tarball.to_path_buf(), sent.clone()).await?;
    let mut stream =
        engine
            .long()
            .create_image(Some(opts), Some(bollard::body_try_stream(body)), None);
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(500));
    let mut last = 0u64;
    loop {
        tokio::select! {
            item = stream.next() => match item {
                None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(Error::Bootstrap(format!("importing {tag}: {e}")));
                }
            },
            _ = ticker.tick() => {
                let done = sent.load(Ordering::Relaxed);
                if done != last {
                    last = done;
                    progress(Progress::Bytes { what: "rootfs", done, total });
                }
            }
        }
    }
    if last != total {
        progress(Progress::Bytes {
            what: "rootfs",
            done: total,
            total,
        });
    }
    match images::inspect(engine, tag).await? {
        Some(img) => Ok(img.id.unwrap_or_default()),
        None => Err(Error::Bootstrap(format!(
            "the engine accepted the import but has no {tag}"
        ))),
    }
}

async fn file_stream(
    path: PathBuf,
    sent: Arc<AtomicU64>,
) -> Result<impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    Ok(futures_util::stream::unfold(
        (file, sent, false),
        |(mut f, sent, done)| async move {
            if done {
                return None;
            }
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok(Bytes::from(buf)), (f, sent, false)))
                }
                Err(e) => Some((Err(e), (f, sent, true))),
            }
        },
    ))
}

/// A temporary directory removed on drop.
struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempdir(prefix: &str) -> Result<TempDir> {
    // The tarball is a few hundred MB: prefer /var/tmp (disk) over /tmp
    // (often tmpfs).
    let base = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| {
            let vt = PathBuf::from("/var/tmp");
            if vt.is_dir() {
                vt
            } else {
                std::env::temp_dir()
            }
        });
    let path = base.join(format!("{prefix}-{}", labels::random_id()));
    std::fs::create_dir(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Ok(TempDir { path })
}

/// An exclusive lock on a file in the cache directory, held until dropped.
pub(crate) async fn lock_file(name: &str) -> Result<Option<std::fs::File>> {
    let Some(dir) = crate::paths::cache_dir() else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let f = tokio::task::spawn_blocking(move || f.lock().map(|()| f))
        .await
        .map_err(|e| Error::Invalid(format!("lock task failed: {e}")))?
        .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
    Ok(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_sources_prefer_the_distributions_own_files() {
        let d = tempfile::tempdir().unwrap();
        let list_d = d.path().join("sources.list.d");
        std::fs::create_dir(&list_d).unwrap();
        std::fs::write(d.path().join("sources.list"), "# nothing here\n").unwrap();
        std::fs::write(list_d.join("b.sources"), "Types: deb\n").unwrap();
        std::fs::write(list_d.join("a.list"), "deb x y z\n").unwrap();
        std::fs::write(list_d.join("c.list.disabled"), "deb x y z\n").unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        // No file of the distribution's own: everything enabled.
        assert_eq!(
            names(apt_sources_in(d.path(), Some("debian"))),
            ["a.list", "b.sources"]
        );
        // The distribution's deb822 file: only it (third parties left out).
        std::fs::write(list_d.join("debian.sources"), "Types: deb\n").unwrap();
        assert_eq!(
            names(apt_sources_in(d.path(), Some("debian"))),
            ["debian.sources"]
        );
        // A classic sources.list with entries counts as its own too.
        std::fs::write(d.path().join("sources.list"), "deb x y z\n").unwrap();
        assert_eq!(
            names(apt_sources_in(d.path(), Some("debian"))),
            ["sources.list", "debian.sources"]
        );
    }

    #[test]
    fn base_packages_cover_the_presets_and_the_git_gate() {
        for p in [
            "bash",
            "git",
            "curl",
            "ca-certificates",
            "python3",
            "openssh-client",
        ] {
            assert!(BASE_PACKAGES.contains(&p), "{p}");
        }
    }
}
