//! End-to-end tests on a real Docker Engine (issue 6): real sidecars, a real
//! agent container, upstream servers in containers on a network only the
//! sidecars join. Without an engine they skip, except in CI (`CI` set),
//! where a missing engine fails them. Images are bootstrapped once per run.
//!
//! Each test uses its own agent (so its own instance name), its own
//! upstreams and its own state directory, and ends by checking that
//! `bottle cleanup` leaves nothing of it behind.

mod claude;
mod codex;
mod egress;
mod escape;
mod git;
mod lifecycle;
mod why;

use super::cli::{Scratch, bottle_bin};
use bottle_testkit::docker::{self as dk, HTTPS_HOST, Upstreams};
use std::process::{Command, Output};

/// Skip (return `None`) without an engine outside CI; make sure images exist.
pub fn setup() -> Option<()> {
    dk::engine()?;
    dk::ensure_images(&bottle_bin());
    Some(())
}

/// A random alphanumeric string (secrets are made at run time, never
/// written in the repository).
pub fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < n {
        let hex = bottle_docker::labels::random_id();
        for pair in hex.as_bytes().chunks(2) {
            let b = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
            out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
        }
    }
    out.truncate(n);
    out
}

/// A directory the host and the agent share: world-writable (the agent is
/// uid 1000), mounted at `/shared`. Returns it and the `mounts` line for
/// [`Opts::extra`].
pub fn shared_dir() -> (tempfile::TempDir, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("shared dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod the shared dir");
    let mount = format!(
        "mounts = [{{ source = {:?}, target = \"/shared\" }}]",
        dir.path().display().to_string()
    );
    (dir, mount)
}

/// What a test's bottle looks like.
#[derive(Default)]
pub struct Opts {
    /// Start the sshd git upstream and declare it as remote `origin`.
    pub git: bool,
    /// Start the metadata trap.
    pub trap: bool,
    /// Extra allowlist entries (TOML array items).
    pub allow: Vec<String>,
    /// Extra TOML for `[bottles.b]` (credentials, env, mounts).
    pub extra: String,
    /// The allowlist item for the HTTPS upstream instead of its bare name
    /// (e.g. a table limiting methods).
    pub https_entry: Option<String>,
    /// Extra TOML for `[bottles.b.egress]` (hosts, passthrough).
    pub egress: String,
}

/// One test's bottle: a scratch project with a manifest, upstreams, and an
/// agent named after the test.
pub struct TestBottle {
    pub scratch: Scratch,
    pub up: Upstreams,
    pub agent: String,
    pub state: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl TestBottle {
    pub fn new(name: &str, opts: Opts) -> Self {
        let up = Upstreams::start_with(opts.git, opts.trap);
        Self::with_upstreams(name, up, opts, |_| String::new())
    }

    /// Like [`new`](Self::new), on upstreams already running; `egress`
    /// adds TOML for `[bottles.b.egress]` that needs their addresses.
    pub fn with_upstreams(
        name: &str,
        up: Upstreams,
        mut opts: Opts,
        egress: impl FnOnce(&Upstreams) -> String,
    ) -> Self {
        opts.egress.push('\n');
        opts.egress.push_str(&egress(&up));
        let agent = format!("e2e-{name}-{}", &dk::random_id()[..6]);
        let scratch = Scratch::new();
        let mut allow: Vec<String> = vec![
            opts.https_entry
                .clone()
                .unwrap_or_else(|| format!("{HTTPS_HOST:?}")),
        ];
        allow.extend(opts.allow.iter().map(|a| a.to_string()));
        let mut git = String::new();
        if opts.git {
            git = format!(
                r#"
[[bottles.b.git]]
name = "origin"
upstream = "ssh://git@{}/srv/git/app.git"
identity_file = {:?}
known_host_key = {:?}
"#,
                dk::GIT_HOST,
                up.identity_file
                    .as_ref()
                    .expect("identity file")
                    .display()
                    .to_string(),
                up.known_host_key.as_ref().expect("host key"),
            );
        }
        let manifest = format!(
            r#"default_agent = "{agent}"

[bottles.b]
{extra}

[bottles.b.egress]
allowlist = [{allow}]
defaults = false
upstream_ca = [{ca:?}]
allow_cidrs = [{subnet:?}]
{egress}
{git}
[agents.{agent}]
bottle = "b"
preset = "shell"
"#,
            extra = opts.extra,
            egress = opts.egress,
            allow = allow.join(", "),
            ca = up.ca_path.display().to_string(),
            subnet = up.subnet,
        );
        scratch.write("bottle.toml", &manifest);
        Self {
            scratch,
            up,
            agent,
            state: tempfile::tempdir().expect("state dir"),
            env: Vec::new(),
        }
    }

    /// `bottle ARGS` in the project, with the test hooks set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.scratch.cmd(args);
        c.env("BOTTLE_TEST_SIDECAR_NETWORKS", self.up.sidecar_networks())
            .env("BOTTLE_STATE_DIR", self.state.path())
            .stdin(std::process::Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// `sh -c INNER` on a pseudo-terminal (util-linux `script`), in the
    /// project, with the test hooks set: for `bottle start`, which needs a
    /// terminal. Stdin is null unless the caller sets it.
    pub fn on_terminal(&self, inner: &str) -> Command {
        let mut c = Command::new("script");
        c.args(["-qefc", inner, "/dev/null"])
            .current_dir(self.scratch.path())
            .env("BOTTLE_CONFIG_DIR", self.scratch.user.path())
            .env("BOTTLE_STATE_DIR", self.state.path())
            .env("BOTTLE_TEST_SIDECAR_NETWORKS", self.up.sidecar_networks())
            .stdin(std::process::Stdio::null());
        c
    }

    /// `bottle run --yes AGENT -- bash -c SCRIPT`.
    pub fn run(&self, script: &str) -> Output {
        self.cmd(&["run", "--yes", &self.agent, "--", "bash", "-c", script])
            .output()
            .expect("run bottle")
    }

    /// Like [`run`](Self::run), failing the test unless it exits 0.
    #[track_caller]
    pub fn run_ok(&self, script: &str) -> String {
        let out = self.run(script);
        if !out.status.success() {
            panic!(
                "bottle run failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The egress audit log of the last run (saved at teardown).
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let out = self
            .cmd(&["logs", &self.agent, "--json"])
            .output()
            .expect("bottle logs");
        assert!(
            out.status.success(),
            "bottle logs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
            .collect()
    }

    /// `bottle cleanup` leaves no container or network of this test, and
    /// `bottle ls` shows none.
    #[track_caller]
    pub fn assert_clean(&self) {
        let out = self.cmd(&["cleanup"]).output().expect("bottle cleanup");
        assert!(
            out.status.success(),
            "cleanup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (c, n) = dk::leftovers(&self.agent);
        assert!(
            c.is_empty() && n.is_empty(),
            "left behind: containers {c:?}, networks {n:?}"
        );
        let ls = self.cmd(&["ls", "--json"]).output().expect("bottle ls");
        let all: Vec<serde_json::Value> = serde_json::from_slice(&ls.stdout).expect("ls json");
        assert!(
            !all.iter().any(|i| i["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&self.agent))),
            "ls still shows it: {all:?}"
        );
    }
}

/// Lines of `out` as text, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
