//! Throwaway git repositories for tests: bare upstreams, work trees and
//! commits, driven by the real `git` through a hermetic client.
//!
//! Every git here runs with a cleared environment (only `PATH` is kept), its
//! own `HOME` and `GIT_CONFIG_NOSYSTEM`, so neither the developer's
//! `~/.gitconfig` nor the machine's `/etc/gitconfig` changes what a test sees.
//! A [`GitClient`] can play the agent: append the agent-side config (the
//! gate's `insteadOf` rewrites) with [`GitClient::append_config`] and run the
//! user's commands unchanged.
//!
//! Helpers panic with the command, its stdout and stderr when git fails:
//! they are for tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

/// The result of a git command that may fail.
#[derive(Debug, Clone)]
pub struct GitOutput {
    /// Whether git exited 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl GitOutput {
    fn from_output(o: Output) -> Self {
        Self {
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A git user with its own home directory and global config.
/// Cheap to clone; the home directory lives as long as the last clone.
#[derive(Clone)]
pub struct GitClient {
    home: Arc<tempfile::TempDir>,
    git: PathBuf,
}

impl Default for GitClient {
    fn default() -> Self {
        Self::new()
    }
}

impl GitClient {
    /// A client using `git` from `PATH` (or `$BOTTLE_TEST_GIT`), with a
    /// fresh home and a minimal global config (identity, `main` as the
    /// default branch).
    pub fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("bottle-git-home-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp home: {e}"));
        let git =
            std::env::var_os("BOTTLE_TEST_GIT").map_or_else(|| PathBuf::from("git"), PathBuf::from);
        let c = Self {
            home: Arc::new(home),
            git,
        };
        std::fs::write(
            c.gitconfig_path(),
            "[user]\n\tname = Bottle Test\n\temail = test@bottle.invalid\n\
             [init]\n\tdefaultBranch = main\n\
             [advice]\n\tdetachedHead = false\n\
             [protocol \"file\"]\n\tallow = always\n\
             [credential]\n\thelper =\n",
        )
        .unwrap_or_else(|e| panic!("cannot write the test gitconfig: {e}"));
        c
    }

    /// The git executable this client runs.
    pub fn git_path(&self) -> &Path {
        &self.git
    }

    /// The client's home directory.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The client's global config file (`$HOME/.gitconfig`).
    pub fn gitconfig_path(&self) -> PathBuf {
        self.home().join(".gitconfig")
    }

    /// Append text to the global config (e.g. the agent's `insteadOf`
    /// rewrites).
    pub fn append_config(&self, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.gitconfig_path())
            .unwrap_or_else(|e| panic!("cannot open the test gitconfig: {e}"));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write the test gitconfig: {e}"));
    }

    /// A `git` command in `cwd` with the hermetic environment.
    pub fn command(&self, cwd: &Path) -> Command {
        let mut c = Command::new(&self.git);
        c.env_clear()
            .current_dir(cwd)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        if let Some(p) = std::env::var_os("PATH") {
            c.env("PATH", p);
        }
        c
    }

    /// Run git in `cwd`; return the full outcome, success or not.
    pub fn try_run(&self, cwd: &Path, args: &[&str]) -> GitOutput {
        let out = self
            .command(cwd)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.git.display()));
        GitOutput::from_output(out)
    }

    /// Run git in `cwd` and return its stdout, trimmed; panic if it fails.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.try_run(cwd, args);
        if !o.success {
            panic!(
                "git {} (in {}) failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                cwd.display(),
                o.stdout,
                o.stderr
            );
        }
        o.stdout.trim().to_string()
    }

    /// Clone `url` into a new temporary work tree.
    pub fn clone_repo(&self, url: &str) -> WorkTree {
        let wt = WorkTree::empty(self);
        self.run(wt.path(), &["clone", "--quiet", url, "."]);
        wt
    }

    /// A new, empty repository with a work tree (`git init`).
    pub fn init_repo(&self) -> WorkTree {
        let wt = WorkTree::empty(self);
        self.run(wt.path(), &["init", "--quiet", "-b", "main"]);
        wt
    }
}

/// A bare repository in a temporary directory: a test upstream.
pub struct BareRepo {
    _dir: tempfile::TempDir,
    path: PathBuf,
    admin: GitClient,
}

impl Default for BareRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl BareRepo {
    /// An empty bare repository whose HEAD is `refs/heads/main`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bottle-upstream-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let path = dir.path().join("upstream.git");
        let admin = GitClient::new();
        admin.run(
            dir.path(),
            &["init", "--quiet", "--bare", "-b", "main", "upstream.git"],
        );
        Self {
            _dir: dir,
            path,
            admin,
        }
    }

    /// A bare repository with one commit on `main` holding `files`.
    pub fn with_files(files: &[(&str, &str)]) -> Self {
        let r = Self::new();
        r.commit_files("main", files, "initial commit");
        r
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `file:///.../upstream.git`.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Run git inside the bare repository.
    pub fn git(&self, args: &[&str]) -> String {
        self.admin.run(&self.path, args)
    }

    /// Set a config value of the repository (e.g. `receive.denyNonFastForwards`).
    pub fn set_config(&self, key: &str, value: &str) {
        self.git(&["config", key, value]);
    }

    /// All refs: name → object id.
    pub fn refs(&self) -> BTreeMap<String, String> {
        self.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, o)| (r.to_string(), o.to_string()))
            .collect()
    }

    /// The object id `rev` names, or `None`.
    pub fn rev(&self, rev: &str) -> Option<String> {
        let o = self.admin.try_run(
            &self.path,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{object}}"),
            ],
        );
        o.success.then(|| o.stdout.trim().to_string())
    }

    /// Whether the object exists in the repository.
    pub fn has_object(&self, oid: &str) -> bool {
        self.admin
            .try_run(&self.path, &["cat-file", "-e", oid])
            .success
    }

    /// Commit `files` on top of `branch` (created if missing) directly in the
    /// upstream, as someone else pushing there would. Returns the commit id.
    pub fn commit_files(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let wt = WorkTree::empty(&self.admin);
        let url = self.file_url();
        self.admin
            .run(wt.path(), &["init", "--quiet", "-b", branch]);
        if self.rev(&format!("refs/heads/{branch}")).is_some() {
            self.admin
                .run(wt.path(), &["fetch", "--quiet", &url, branch]);
            self.admin
                .run(wt.path(), &["reset", "--quiet", "--hard", "FETCH_HEAD"]);
        }
        for (p, c) in files {
            wt.write(p, c);
        }
        let sha = wt.commit_all(message);
        self.admin.run(
            wt.path(),
            &[
                "push",
                "--quiet",
                &url,
                &format!("HEAD:refs/heads/{branch}"),
            ],
        );
        sha
    }
}

/// A repository with a work tree in a temporary directory.
pub struct WorkTree {
    dir: tempfile::TempDir,
    client: GitClient,
}

impl WorkTree {
    fn empty(client: &GitClient) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bottle-worktree-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        Self {
            dir,
            client: client.clone(),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run git here; panic on failure; stdout trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        self.client.run(self.path(), args)
    }

    /// Run git here; return the outcome whatever it is.
    pub fn try_git(&self, args: &[&str]) -> GitOutput {
        self.client.try_run(self.path(), args)
    }

    /// Write a file (creating parent directories).
    pub fn write(&self, rel: &str, content: &str) {
        self.write_bytes(rel, content.as_bytes());
    }

    /// Write a file with arbitrary bytes.
    pub fn write_bytes(&self, rel: &str, content: &[u8]) {
        let p = self.path().join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    }

    /// Read a file of the work tree.
    pub fn read(&self, rel: &str) -> String {
        let p = self.path().join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
    }

    /// Stage everything and commit; returns the new commit id.
    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Write files, then commit them.
    pub fn commit_files(&self, files: &[(&str, &str)], message: &str) -> String {
        for (p, c) in files {
            self.write(p, c);
        }
        self.commit_all(message)
    }

    /// The commit HEAD points at.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }
}
