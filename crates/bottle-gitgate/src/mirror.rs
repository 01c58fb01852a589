//! One bare mirror per upstream: created at start, refreshed from the
//! upstream before every ref advertisement.
//!
//! Refreshes of one remote are serialised, and so are pushes (the whole
//! receive-pack, hook and upstream push included), so a refresh can never
//! interleave with a push between "forwarded upstream" and "mirror updated".
//! Requests that arrive while a refresh is running wait for the next one to
//! start after they arrived and share its result: never stale, never more
//! than one upstream fetch in flight per remote.

use crate::Error;
use crate::config::{Auth, Config, Remote};
use crate::gitenv::{
    GitEnv, Paths, UpstreamAccess, known_hosts_line, shell_quote, summarize_stderr,
};
use bottle_policy::audit::RefUpdate;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The ref namespaces the gate mirrors and forwards.
pub(crate) const NAMESPACES: [&str; 3] = ["refs/heads/", "refs/tags/", "refs/notes/"];

const REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+refs/notes/*:refs/notes/*",
];

/// Why a refresh failed, worded for the person at the git client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefreshError {
    pub(crate) message: String,
}

/// Serialised per-remote state: the last refresh and whether HEAD was
/// probed since the refs last changed.
#[derive(Debug, Default)]
pub(crate) struct RemoteState {
    last: Option<(u64, Result<Vec<RefUpdate>, RefreshError>)>,
    head_probed: bool,
    /// The mirror's refs after the last refresh. Every ref change happens
    /// under this state's lock (refreshes and pushes), so it is exact until
    /// a push, which clears it.
    refs: Option<BTreeMap<String, String>>,
}

impl RemoteState {
    /// Forget the cached refs (a push may have moved them).
    pub(crate) fn refs_changed(&mut self) {
        self.refs = None;
    }
}

/// One upstream and its mirror.
#[derive(Debug)]
pub(crate) struct Mirror {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) access: UpstreamAccess,
    seq: AtomicU64,
    state: Arc<Mutex<RemoteState>>,
    repacking: Arc<AtomicBool>,
}

impl Mirror {
    /// Create (or re-use) the mirror and the remote's private files.
    pub(crate) fn prepare(config: &Config, remote: &Remote, git: &GitEnv) -> Result<Self, Error> {
        let paths = Paths::new(&config.data_dir);
        let dir = paths.mirror(&remote.name);
        // A data directory reused with another upstream under this name
        // must not keep (and serve) the old upstream's objects.
        if dir.join("HEAD").exists() {
            let recorded = git
                .run_sync(Some(&dir), &["config", "--get", "bottle.upstream"])
                .map(|o| String::from_utf8_lossy(&o).trim().to_string())
                .unwrap_or_default();
            if recorded != remote.upstream {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    Error::io(format!("removing the stale mirror {}", dir.display()), e)
                })?;
            }
        }
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            let mut init = git.std_command();
            init.args(["init", "--quiet", "--bare", "--template="])
                .arg(&dir);
            run_std(init, "init --bare")?;
        }
        // Diff every file as text when scanning, whatever the pushed
        // .gitattributes say: a `binary` or `-diff` attribute (or a NUL
        // byte) would otherwise hide a file's content from `git log -p`.
        // $GIT_DIR/info/attributes outranks attributes in the tree.
        let info = dir.join("info");
        std::fs::create_dir_all(&info)
            .map_err(|e| Error::io(format!("creating {}", info.display()), e))?;
        std::fs::write(info.join("attributes"), "* diff\n")
            .map_err(|e| Error::io(format!("writing {}/attributes", info.display()), e))?;
        let hooks = paths.hooks();
        let settings: [(&str, &str); 15] = [
            ("core.hooksPath", &hooks.to_string_lossy()),
            ("core.logAllRefUpdates", "false"),
            ("http.receivepack", "true"),
            ("http.uploadpack", "true"),
            ("http.getanyfile", "false"),
            ("uploadpack.allowFilter", "true"),
            ("receive.fsckObjects", "true"),
            ("receive.denyNonFastForwards", "false"),
            ("receive.denyDeletes", "false"),
            ("receive.advertisePushOptions", "false"),
            ("receive.updateServerInfo", "false"),
            // The gate repacks in the background itself (maybe_repack);
            // git's automatic gc would run inline and stall a request.
            ("gc.auto", "0"),
            ("gc.autoPackLimit", "0"),
            ("receive.autogc", "false"),
            ("maintenance.auto", "false"),
        ];
        for (k, v) in settings {
            git.run_sync(Some(&dir), &["config", k, v])?;
        }
        git.run_sync(Some(&dir), &["config", "bottle.upstream", &remote.upstream])?;
        if let Auth::Ssh {
            identity_file,
            known_host_key,
        } = remote.auth()?
        {
            let key = std::fs::read(&identity_file).map_err(|e| {
                Error::io(
                    format!(
                        "remote {:?}: reading identity_file {}",
                        remote.name,
                        identity_file.display()
                    ),
                    e,
                )
            })?;
            write_private(&paths.ssh_key(&remote.name), &key)?;
            let line = known_hosts_line(&remote.url()?, &known_host_key)?;
            write_private(&paths.known_hosts(&remote.name), line.as_bytes())?;
        }
        Ok(Self {
            name: remote.name.clone(),
            dir,
            access: UpstreamAccess::new(config, remote)?,
            seq: AtomicU64::new(0),
            state: Arc::new(Mutex::new(RemoteState::default())),
            repacking: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Bring the mirror up to date with the upstream: a fetch that started
    /// after this call began, or an error saying why there is none.
    pub(crate) async fn refresh(
        &self,
        git: &GitEnv,
        timeout: Duration,
    ) -> Result<Vec<RefUpdate>, RefreshError> {
        let arrival = self.seq.load(Ordering::SeqCst);
        let mut st = self.state.lock().await;
        if let Some((started, result)) = &st.last
            && *started > arrival
        {
            // Someone else's refresh began after we arrived: it is as fresh
            // as ours would be. Its ref changes were theirs to report.
            return result.clone().map(|_| Vec::new());
        }
        let started = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let result = self.fetch(git, timeout, &mut st).await;
        st.last = Some((started, result.clone()));
        result
    }

    /// Hold the remote for a push: no refresh or other push runs until the
    /// guard is dropped.
    pub(crate) async fn lock_for_push(&self) -> OwnedMutexGuard<RemoteState> {
        self.state.clone().lock_owned().await
    }

    async fn fetch(
        &self,
        git: &GitEnv,
        timeout: Duration,
        st: &mut RemoteState,
    ) -> Result<Vec<RefUpdate>, RefreshError> {
        let fail = |why: String| RefreshError {
            message: format!(
                "bottle git gate: cannot fetch {:?} from its upstream {}: {why}",
                self.name, self.access.url
            ),
        };
        let before = match st.refs.take() {
            Some(r) => r,
            None => self.refs(git).await.map_err(|e| fail(e.to_string()))?,
        };
        let mut cmd = git.tokio_command();
        cmd.args(self.access.config_flags())
            .arg("--git-dir")
            .arg(&self.dir)
            .args([
                "fetch",
                "--quiet",
                "--prune",
                "--atomic",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-show-forced-updates",
                "--no-recurse-submodules",
                "--",
                &self.access.url,
            ])
            .args(REFSPECS)
            .envs(self.access.env().iter().cloned())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot run git: {e}")))?;
        let probe =
            self.access.probe.clone().map(|t| {
                tokio::task::spawn_blocking(move || t.check(crate::probe::CONNECT_TIMEOUT))
            });
        let out = match tokio::time::timeout(timeout, wait_or_probe(child, probe)).await {
            Err(_) => {
                return Err(fail(format!(
                    "no answer within {} seconds",
                    timeout.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(fail(format!("git fetch failed to run: {e}"))),
            Ok(Ok(Err(unreachable))) => return Err(fail(unreachable)),
            Ok(Ok(Ok(out))) => out,
        };
        if !out.status.success() {
            return Err(fail(explain_upstream_error(&out.stderr)));
        }
        let after = self.refs(git).await.map_err(|e| fail(e.to_string()))?;
        let updates = diff_refs(&before, &after);
        if !updates.is_empty() {
            st.head_probed = false;
        }
        if !after.is_empty() && !st.head_probed {
            self.fix_head(git, timeout, &after).await;
            st.head_probed = true;
        }
        st.refs = Some(after);
        Ok(updates)
    }

    /// Point the mirror's HEAD where the upstream's points when it dangles
    /// (first fetch, or the upstream changed its default branch), so clones
    /// check out the upstream's default branch.
    async fn fix_head(&self, git: &GitEnv, timeout: Duration, refs: &BTreeMap<String, String>) {
        // The mirror is a files-backend repository: `HEAD` is the file
        // `ref: <name>`. Reading it spares a git process on every refresh
        // that changes refs; anything else asks git.
        let from_file = std::fs::read_to_string(self.dir.join("HEAD"))
            .ok()
            .and_then(|t| t.strip_prefix("ref: ").map(|r| r.trim().to_string()))
            .filter(|c| refs.contains_key(c));
        if from_file.is_some() {
            return;
        }
        let current = git
            .run_sync(Some(&self.dir), &["symbolic-ref", "-q", "HEAD"])
            .ok()
            .map(|o| String::from_utf8_lossy(&o).trim().to_string());
        if current.as_ref().is_some_and(|c| refs.contains_key(c)) {
            return;
        }
        let mut cmd = git.tokio_command();
        cmd.args(self.access.config_flags())
            .args(["ls-remote", "--symref", "--", &self.access.url, "HEAD"])
            .envs(self.access.env().iter().cloned())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let target = match cmd.spawn() {
            Ok(child) => match tokio::time::timeout(timeout, child.wait_with_output()).await {
                Ok(Ok(out)) if out.status.success() => {
                    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
                        l.strip_prefix("ref: ")
                            .and_then(|r| r.strip_suffix("\tHEAD"))
                            .map(str::to_string)
                    })
                }
                _ => None,
            },
            Err(_) => None,
        };
        let target = target.filter(|t| refs.contains_key(t)).or_else(|| {
            ["refs/heads/main", "refs/heads/master"]
                .iter()
                .find(|r| refs.contains_key(**r))
                .map(|r| r.to_string())
        });
        if let Some(t) = target {
            let _ = git.run_sync(Some(&self.dir), &["symbolic-ref", "HEAD", &t]);
        }
    }

    /// Repack in the background when the mirror has no reachability bitmap
    /// (a mirror built by fetches has none, and serving a clone without one
    /// means counting every object), too many packs, or many loose objects.
    /// One repack at a time per mirror; it runs alongside requests, as git
    /// servers do (packs written meanwhile are not in its set and stay, and
    /// nothing unreachable is deleted).
    pub(crate) fn maybe_repack(&self, git: &GitEnv) {
        if !needs_repack(&self.dir) || self.repacking.swap(true, Ordering::SeqCst) {
            return;
        }
        let flag = self.repacking.clone();
        let dir = self.dir.clone();
        let mut cmd = git.tokio_command();
        cmd.arg("--git-dir")
            .arg(&dir)
            // -k: unreachable objects are kept (appended), never deleted. A
            // push's objects are unreachable for the moment between
            // receive-pack moving them in and updating the ref; a repack
            // starting then must not drop them.
            .args(["repack", "-a", "-d", "-k", "-q", "--write-bitmap-index"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        tokio::spawn(async move {
            match cmd.output().await {
                Ok(out) if !out.status.success() => eprintln!(
                    "bottle git gate: repack of {} failed: {}",
                    dir.display(),
                    summarize_stderr(&out.stderr)
                ),
                Err(e) => eprintln!("bottle git gate: cannot run git repack: {e}"),
                Ok(_) => {}
            }
            flag.store(false, Ordering::SeqCst);
        });
    }

    /// Whether any of `ids` is missing from the mirror (or the check
    /// failed, which counts as missing).
    pub(crate) async fn missing(&self, git: &GitEnv, ids: &[String]) -> bool {
        use tokio::io::AsyncWriteExt;
        if self.all_ref_tips(ids) {
            return false;
        }
        let mut cmd = git.tokio_command();
        cmd.arg("--git-dir")
            .arg(&self.dir)
            .args(["cat-file", "--batch-check=%(objectname)"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return true;
        };
        let input: String = ids.iter().map(|i| format!("{i}\n")).collect();
        if let Some(mut stdin) = child.stdin.take() {
            tokio::spawn(async move {
                let _ = stdin.write_all(input.as_bytes()).await;
            });
        }
        match child.wait_with_output().await {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.ends_with(" missing")),
            _ => true,
        }
    }

    /// Whether every id is the tip of a mirrored ref as the last refresh
    /// left them (the usual `fetch`: it wants what `ls-refs` just listed),
    /// known without starting `git cat-file`. Such an object is in the
    /// mirror: a refresh only moves a ref to an object it brought, whole,
    /// and the gate never deletes objects. `false` when unknown (a refresh
    /// or push holds the state, or a push changed the refs since).
    fn all_ref_tips(&self, ids: &[String]) -> bool {
        let Ok(st) = self.state.try_lock() else {
            return false;
        };
        let Some(refs) = &st.refs else {
            return false;
        };
        let tips: std::collections::HashSet<&str> = refs.values().map(String::as_str).collect();
        !ids.is_empty() && ids.iter().all(|id| tips.contains(id.as_str()))
    }

    /// The mirrored refs: name → object id.
    pub(crate) async fn refs(&self, git: &GitEnv) -> Result<BTreeMap<String, String>, Error> {
        let mut cmd = git.tokio_command();
        cmd.arg("--git-dir")
            .arg(&self.dir)
            .args(["for-each-ref", "--format=%(objectname) %(refname)"])
            .args(NAMESPACES)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = cmd.output().await.map_err(|e| Error::Git {
            args: "for-each-ref".into(),
            message: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(Error::Git {
                args: "for-each-ref".into(),
                message: summarize_stderr(&out.stderr),
            });
        }
        Ok(parse_ref_list(&out.stdout))
    }
}

/// Wait for a git that talks to the upstream, with the upstream's probe
/// (http(s) only) running alongside. A probe that fails stops git (the
/// child is killed on drop) and its reason is the answer; when git fails
/// first, the probe's reason, if it has one, is preferred, because it says
/// "connection refused" or "no answer" where curl's wording varies.
pub(crate) async fn wait_or_probe(
    child: tokio::process::Child,
    probe: Option<tokio::task::JoinHandle<Result<(), String>>>,
) -> std::io::Result<Result<std::process::Output, String>> {
    let mut wait = std::pin::pin!(child.wait_with_output());
    let Some(mut probe) = probe else {
        return wait.await.map(Ok);
    };
    tokio::select! {
        out = &mut wait => {
            let out = out?;
            if !out.status.success()
                && let Ok(Err(why)) = probe.await
            {
                return Ok(Err(why));
            }
            Ok(Ok(out))
        }
        checked = &mut probe => match checked {
            Ok(Err(why)) => Ok(Err(why)),
            _ => wait.await.map(Ok),
        },
    }
}

/// Most packs before the mirror is repacked into one.
const MAX_PACKS: usize = 32;
/// Loose objects in `objects/17` (about 1/256 of all loose objects) before
/// the mirror is repacked: git's own `gc.auto` default of 6700, scaled.
const MAX_LOOSE_IN_17: usize = 27;

fn needs_repack(dir: &Path) -> bool {
    let objects = dir.join("objects");
    let mut packs = 0;
    let mut bitmap = false;
    if let Ok(rd) = std::fs::read_dir(objects.join("pack")) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            packs += usize::from(name.ends_with(".pack"));
            bitmap |= name.ends_with(".bitmap");
        }
    }
    let loose = std::fs::read_dir(objects.join("17")).map_or(0, |rd| rd.count());
    (!bitmap && (packs > 0 || any_loose(&objects))) || packs > MAX_PACKS || loose > MAX_LOOSE_IN_17
}

/// Whether `objects/` holds any loose object (`objects/xx/...`).
fn any_loose(objects: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(objects) else {
        return false;
    };
    rd.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.len() == 2
            && name.bytes().all(|b| b.is_ascii_hexdigit())
            && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some())
    })
}

pub(crate) fn parse_ref_list(out: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(oid, name)| (name.to_string(), oid.to_string()))
        .collect()
}

fn diff_refs(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<RefUpdate> {
    let zero = |sample: Option<&String>| "0".repeat(sample.map_or(40, |s| s.len()));
    let mut out = Vec::new();
    for (name, new) in after {
        match before.get(name) {
            Some(old) if old == new => {}
            old => out.push(RefUpdate {
                name: name.clone(),
                old: old.cloned().unwrap_or_else(|| zero(Some(new))),
                new: new.clone(),
            }),
        }
    }
    for (name, old) in before {
        if !after.contains_key(name) {
            out.push(RefUpdate {
                name: name.clone(),
                old: old.clone(),
                new: zero(Some(old)),
            });
        }
    }
    out
}

/// Turn git/ssh stderr about an upstream into one paragraph, leading with
/// the cause when we recognise it.
pub(crate) fn explain_upstream_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let summary = summarize_stderr(&drop_generic_lines(stderr));
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("Host key verification failed")
    {
        format!(
            "the upstream's ssh host key does not match the pinned known_host_key, so the gate \
             refused to connect ({summary})"
        )
    } else {
        summary
    }
}

/// git's generic epilogue after a failed connection ("Could not read from
/// remote repository. Please make sure you have the correct access rights
/// and the repository exists."), which misleads when the real reason (host
/// down, timeout, host key) is on the lines before it. Kept when it is all
/// git said.
const GENERIC_LINES: [&str; 3] = [
    "fatal: Could not read from remote repository.",
    "Please make sure you have the correct access rights",
    "and the repository exists.",
];

fn drop_generic_lines(stderr: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(stderr);
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !GENERIC_LINES.contains(&t)
        })
        .collect();
    if kept.is_empty() {
        return stderr.to_vec();
    }
    kept.join("\n").into_bytes()
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

pub(crate) fn write_private_file(path: &Path, data: &[u8]) -> Result<(), Error> {
    write_private(path, data)
}

/// Write the shared pre-receive hook: a two-line sh script that runs the
/// hook program (git runs hooks with no arguments, so the script adds them).
pub(crate) fn write_hook(paths: &Paths, command: &[String]) -> Result<(), Error> {
    let dir = paths.hooks();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "#!/bin/sh\n# Written by the bottle git gate: scan the push, forward it upstream.\nexec {}\n",
        words.join(" ")
    );
    let path = dir.join("pre-receive");
    let tmp = dir.join("pre-receive.tmp");
    std::fs::write(&tmp, script).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("chmod {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn run_std(mut cmd: std::process::Command, what: &str) -> Result<(), Error> {
    let out = cmd.output().map_err(|e| Error::Git {
        args: what.into(),
        message: format!("cannot run git: {e}"),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Git {
            args: what.into(),
            message: summarize_stderr(&out.stderr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_creations_updates_and_deletions() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let before: BTreeMap<_, _> = [
            ("refs/heads/x".to_string(), a.clone()),
            ("refs/heads/gone".to_string(), a.clone()),
        ]
        .into();
        let after: BTreeMap<_, _> = [
            ("refs/heads/x".to_string(), b.clone()),
            ("refs/tags/new".to_string(), a.clone()),
        ]
        .into();
        let d = diff_refs(&before, &after);
        assert_eq!(d.len(), 3);
        assert!(
            d.iter()
                .any(|u| u.name == "refs/heads/x" && u.old == a && u.new == b)
        );
        assert!(
            d.iter()
                .any(|u| u.name == "refs/tags/new" && u.old == "0".repeat(40))
        );
        assert!(
            d.iter()
                .any(|u| u.name == "refs/heads/gone" && u.new == "0".repeat(40))
        );
    }

    #[test]
    fn host_key_mismatch_is_named() {
        let m = explain_upstream_error(b"@@@\nWARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed.\nfatal: Could not read from remote repository.\n");
        assert!(
            m.starts_with("the upstream's ssh host key does not match"),
            "{m}"
        );
        assert!(!m.contains("Could not read from remote"), "{m}");
    }

    #[test]
    fn the_generic_access_rights_epilogue_is_dropped_when_there_is_a_reason() {
        let m = explain_upstream_error(
            b"ssh: connect to host git.example.com port 22: Connection timed out\r\n\
fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n",
        );
        assert_eq!(
            m,
            "ssh: connect to host git.example.com port 22: Connection timed out"
        );
        let only = explain_upstream_error(b"fatal: Could not read from remote repository.\n");
        assert_eq!(only, "fatal: Could not read from remote repository.");
    }
}
