//! Where the gate keeps its files, and how it runs git: with no system or
//! user configuration, no prompts, and for upstream traffic only the one
//! transport and the one credential that belong to that upstream.

use crate::Error;
use crate::config::{Auth, Config, Remote};
use bottle_policy::{GitUrl, Transport};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Env variables that tell the hook where its config is and which remote it
/// serves; set by the gate on the receive-pack it runs.
pub(crate) const ENV_HOOK_CONFIG: &str = "BOTTLE_GITGATE_CONFIG";
pub(crate) const ENV_HOOK_REMOTE: &str = "BOTTLE_GITGATE_REMOTE";
pub(crate) const ENV_HOOK_RESULT: &str = "BOTTLE_GITGATE_RESULT";

/// The credential helper git runs for https upstreams. It exists only in the
/// gate's git processes (`-c credential.helper=...`) and reads the token from
/// their environment, so the token is never in a URL, an argument list or a
/// file the agent can reach.
const CREDENTIAL_HELPER: &str = "!f() { test \"$1\" = get || exit 0; \
    printf 'username=%s\\npassword=%s\\n' \"$BOTTLE_GITGATE_USERNAME\" \"$BOTTLE_GITGATE_TOKEN\"; }; f";

/// The layout of the data directory.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    root: PathBuf,
}

impl Paths {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    pub(crate) fn mirrors(&self) -> PathBuf {
        self.root.join("mirrors")
    }
    pub(crate) fn mirror(&self, name: &str) -> PathBuf {
        self.mirrors().join(format!("{name}.git"))
    }
    pub(crate) fn home(&self) -> PathBuf {
        self.root.join("home")
    }
    pub(crate) fn hooks(&self) -> PathBuf {
        self.root.join("hooks")
    }
    pub(crate) fn ssh_dir(&self) -> PathBuf {
        self.root.join("ssh")
    }
    pub(crate) fn ssh_key(&self, name: &str) -> PathBuf {
        self.ssh_dir().join(format!("{name}.key"))
    }
    pub(crate) fn known_hosts(&self, name: &str) -> PathBuf {
        self.ssh_dir().join(format!("{name}.known_hosts"))
    }
    /// The control socket of the remote's shared ssh connection. One per
    /// remote, never per host: two remotes on one host may hold different
    /// keys, and a connection authenticated with one must not serve the
    /// other.
    pub(crate) fn ssh_control(&self, name: &str) -> PathBuf {
        self.ssh_dir().join(format!("{name}.mux"))
    }
    pub(crate) fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    /// The effective config the hook reads (written by the gate at start).
    pub(crate) fn hook_config(&self) -> PathBuf {
        self.run_dir().join("gate.toml")
    }
}

/// Runs git hermetically: a cleared environment plus an allowlist.
#[derive(Debug, Clone)]
pub(crate) struct GitEnv {
    pub(crate) git: PathBuf,
    home: PathBuf,
    path_var: Option<OsString>,
}

impl GitEnv {
    pub(crate) fn new(config: &Config) -> Self {
        let paths = Paths::new(&config.data_dir);
        // The scanner runs `git` from PATH: put the configured git's
        // directory first so that every git the gate starts is the same one.
        let mut dirs: Vec<PathBuf> = config
            .git
            .parent()
            .filter(|d| config.git.is_absolute() && !d.as_os_str().is_empty())
            .map(|d| vec![d.to_path_buf()])
            .unwrap_or_default();
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        Self {
            git: config.git.clone(),
            home: paths.home(),
            path_var: std::env::join_paths(dirs).ok(),
        }
    }

    /// The base environment of every git the gate runs.
    pub(crate) fn base_env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("HOME".into(), self.home.clone().into()),
            ("XDG_CONFIG_HOME".into(), self.home.join(".config").into()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_ATTR_NOSYSTEM".into(), "1".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            // Replace refs would let one object stand in for another while
            // scanning; the gate always looks at the real objects.
            ("GIT_NO_REPLACE_OBJECTS".into(), "1".into()),
            ("LC_ALL".into(), "C".into()),
        ];
        if let Some(p) = &self.path_var {
            env.push(("PATH".into(), p.clone()));
        }
        env
    }

    /// A std command for `git` with the base environment only.
    pub(crate) fn std_command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.git);
        c.env_clear()
            .envs(self.base_env())
            .stdin(std::process::Stdio::null());
        c
    }

    /// A tokio command for `git` with the base environment only.
    pub(crate) fn tokio_command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.git);
        c.env_clear()
            .envs(self.base_env())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Run git synchronously, returning stdout; errors carry stderr.
    pub(crate) fn run_sync(&self, dir: Option<&Path>, args: &[&str]) -> Result<Vec<u8>, Error> {
        let mut c = self.std_command();
        if let Some(d) = dir {
            c.arg("--git-dir").arg(d);
        }
        c.args(args);
        let out = c.output().map_err(|e| Error::Git {
            args: args.join(" "),
            message: format!("cannot run {}: {e}", self.git.display()),
        })?;
        if !out.status.success() {
            return Err(Error::Git {
                args: args.join(" "),
                message: summarize_stderr(&out.stderr),
            });
        }
        Ok(out.stdout)
    }
}

/// How git reaches one upstream: the URL, `-c` options and env variables
/// that carry the transport restriction and the credential.
#[derive(Clone)]
pub(crate) struct UpstreamAccess {
    pub(crate) url: String,
    pub(crate) transport: Transport,
    pub(crate) config_args: Vec<String>,
    env: Vec<(OsString, OsString)>,
    /// For http(s) upstreams: the connection check run alongside git,
    /// which has no connect timeout of its own (see `probe`).
    pub(crate) probe: Option<crate::probe::Target>,
}

impl std::fmt::Debug for UpstreamAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAccess")
            .field("url", &self.url)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl UpstreamAccess {
    pub(crate) fn new(config: &Config, remote: &Remote) -> Result<Self, Error> {
        let paths = Paths::new(&config.data_dir);
        let url = remote.url()?;
        let mut config_args = vec![
            // No helper from anywhere else, then (for https) ours.
            "credential.helper=".to_string(),
            // A redirect could carry the credential to another host.
            "http.followRedirects=false".to_string(),
            "protocol.version=2".to_string(),
        ];
        let mut env: Vec<(OsString, OsString)> = vec![(
            "GIT_ALLOW_PROTOCOL".into(),
            url.transport.to_string().into(),
        )];
        match remote.auth()? {
            crate::config::Auth::None => {}
            Auth::Ssh { .. } => {
                env.push(("GIT_SSH_VARIANT".into(), "ssh".into()));
                env.push((
                    "GIT_SSH_COMMAND".into(),
                    ssh_command(
                        &config.ssh,
                        &paths.ssh_key(&remote.name),
                        &paths.known_hosts(&remote.name),
                        Some(&paths.ssh_control(&remote.name)),
                    )
                    .into(),
                ));
            }
            Auth::Token { username, token } => {
                config_args.push(format!("credential.helper={CREDENTIAL_HELPER}"));
                env.push(("BOTTLE_GITGATE_USERNAME".into(), username.into()));
                env.push(("BOTTLE_GITGATE_TOKEN".into(), token.expose().into()));
            }
        }
        if let Some(ca) = &remote.ca_file {
            config_args.push(format!("http.sslCAInfo={}", ca.display()));
        }
        Ok(Self {
            url: remote.upstream.clone(),
            transport: url.transport,
            probe: crate::probe::Target::for_url(&url),
            config_args,
            env,
        })
    }

    /// Add the `-c` options to a git command (before the subcommand).
    pub(crate) fn config_flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        for a in &self.config_args {
            v.push("-c".to_string());
            v.push(a.clone());
        }
        v
    }

    /// The env variables for a git that talks to this upstream.
    pub(crate) fn env(&self) -> &[(OsString, OsString)] {
        &self.env
    }
}

/// How long ssh waits for an upstream to accept the connection and finish
/// the ssh handshake: a host that is down fails a fetch within this (plus
/// git's own start-up), so the agent's git hears the gate's reason in about
/// 5 s, not after the system's TCP timeout.
pub(crate) const SSH_CONNECT_TIMEOUT_SECS: u32 = 4;

/// How long an idle shared ssh connection to an upstream stays open.
pub(crate) const SSH_CONTROL_PERSIST_SECS: u32 = 60;

/// The longest control socket path the gate uses: a Unix socket path has
/// 107 usable bytes, and ssh binds the master at the path plus a 17-byte
/// random suffix before renaming it.
const MAX_CONTROL_PATH: usize = 88;

/// Whether `p` can serve as an ssh `ControlPath` as it is: short enough for
/// a socket, and nothing ssh would expand (`%`, `~`) or split (spaces,
/// quotes).
pub(crate) fn control_path_usable(p: &Path) -> bool {
    let Some(s) = p.to_str() else { return false };
    s.len() <= MAX_CONTROL_PATH
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '%' | '~' | '"' | '\''))
}

/// The `GIT_SSH_COMMAND`: only the gate's key, only the pinned host key, no
/// user or system ssh config, never a prompt.
///
/// With `control` (and a path short enough for a socket), connections to
/// the upstream are shared: the first ssh becomes a master that stays up
/// [`SSH_CONTROL_PERSIST_SECS`] after its last session, and the refreshes
/// and pushes after it skip the TCP and ssh handshakes. The host key is
/// checked when the master connects; sessions ride that verified
/// connection. A stale socket (its master gone) is replaced by ssh itself.
pub(crate) fn ssh_command(
    ssh: &Path,
    key: &Path,
    known_hosts: &Path,
    control: Option<&Path>,
) -> String {
    let mux = match control {
        Some(p) if control_path_usable(p) => format!(
            " -o ControlMaster=auto -o ControlPath={} -o ControlPersist={SSH_CONTROL_PERSIST_SECS}",
            shell_quote(&p.to_string_lossy())
        ),
        _ => " -o ControlMaster=no -o ControlPath=none".to_string(),
    };
    format!(
        "{} -F /dev/null -i {} -o IdentitiesOnly=yes -o IdentityAgent=none \
         -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \
         -o BatchMode=yes -o UpdateHostKeys=no -o CheckHostIP=no -o ConnectTimeout={SSH_CONNECT_TIMEOUT_SECS} \
         -o ServerAliveInterval=15 -o ServerAliveCountMax=4{mux}",
        shell_quote(&ssh.to_string_lossy()),
        shell_quote(&key.to_string_lossy()),
        shell_quote(&known_hosts.to_string_lossy()),
    )
}

/// Ask each ssh remote's shared connection (if one is up) to close, so no
/// master outlives the gate. Best effort: a master that is gone is fine.
pub(crate) fn close_shared_ssh(config: &Config) {
    let paths = Paths::new(&config.data_dir);
    for remote in &config.remotes {
        let control = paths.ssh_control(&remote.name);
        if !control.exists() || !control_path_usable(&control) {
            continue;
        }
        let _ = std::process::Command::new(&config.ssh)
            .args(["-F", "/dev/null", "-o"])
            .arg(format!("ControlPath={}", control.display()))
            .args(["-O", "exit", "upstream"])
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The one line of the known_hosts file the gate's ssh uses.
pub(crate) fn known_hosts_line(url: &GitUrl, key: &str) -> Result<String, Error> {
    let (kind, blob) = crate::config::parse_host_key(key).map_err(Error::Invalid)?;
    let host = match url.port {
        Some(p) if p != 22 => format!("[{}]:{p}", url.host),
        _ => url.host.clone(),
    };
    Ok(format!("{host} {kind} {blob}\n"))
}

/// Quote for POSIX sh: single quotes, with `'` as `'\''`.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The last lines of a git stderr, cleaned up for a one-paragraph message:
/// printable characters only, at most 12 lines and 1500 characters.
pub(crate) fn summarize_stderr(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<String> = text
        .split(['\n', '\r'])
        .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(12);
    let mut s = lines[start..].join("; ");
    if s.len() > 1500 {
        let mut cut = s.len() - 1500;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s = format!("...{}", &s[cut..]);
    }
    if s.is_empty() {
        s = "git exited with an error and printed nothing".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_command_shares_a_connection_per_remote_socket() {
        let paths = Paths::new(Path::new("/var/lib/bottle-gate/mirrors"));
        let cmd = ssh_command(
            Path::new("ssh"),
            &paths.ssh_key("origin"),
            &paths.known_hosts("origin"),
            Some(&paths.ssh_control("origin")),
        );
        assert!(cmd.contains(
            "-o ControlMaster=auto -o ControlPath='/var/lib/bottle-gate/mirrors/ssh/origin.mux' -o ControlPersist=60"
        ), "{cmd}");
        assert!(cmd.contains("-o StrictHostKeyChecking=yes"), "{cmd}");
        // A host that is down fails fast (the agent's git hears why in ~5 s).
        assert!(cmd.contains("-o ConnectTimeout=4 "), "{cmd}");
        // Two remotes never share a socket, even on one host.
        assert_ne!(paths.ssh_control("a"), paths.ssh_control("b"));
    }

    #[test]
    fn unusable_control_paths_turn_sharing_off() {
        let long = PathBuf::from(format!("/{}/origin.mux", "d".repeat(90)));
        for p in [
            long.as_path(),
            Path::new("/tmp/100%/origin.mux"),
            Path::new("/tmp/a b/origin.mux"),
            Path::new("~/origin.mux"),
        ] {
            assert!(!control_path_usable(p), "{}", p.display());
            let cmd = ssh_command(Path::new("ssh"), Path::new("/k"), Path::new("/kh"), Some(p));
            assert!(
                cmd.ends_with("-o ControlMaster=no -o ControlPath=none"),
                "{cmd}"
            );
        }
        let cmd = ssh_command(Path::new("ssh"), Path::new("/k"), Path::new("/kh"), None);
        assert!(
            cmd.ends_with("-o ControlMaster=no -o ControlPath=none"),
            "{cmd}"
        );
        assert!(control_path_usable(Path::new(
            "/tmp/bottle-gate-x/data/ssh/o.mux"
        )));
    }
}
