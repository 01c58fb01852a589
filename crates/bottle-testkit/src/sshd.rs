//! A real OpenSSH server on loopback, for tests of ssh upstreams.
//!
//! [`Sshd::start`] runs the system's `sshd` (Debian's openssh-server;
//! `$BOTTLE_TEST_SSHD` overrides the path) in the foreground on a free port
//! of 127.0.0.1, with a throwaway host key and one throwaway user key that
//! may log in as the current user. git reaches repositories through it with
//! `ssh://<user>@127.0.0.1:<port>/<absolute path>`: the server runs the real
//! `git-upload-pack` / `git-receive-pack` from its `PATH`.
//!
//! When run as root, sshd needs its privilege-separation directory
//! (`/run/sshd`); it is created if missing, as the Debian service would.
//! The server is killed when the [`Sshd`] is dropped.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An ssh key pair in files.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key file (mode 0600, no passphrase).
    pub private: PathBuf,
    /// The public key line, `ssh-ed25519 AAAA...` (no comment).
    pub public: String,
}

/// Generate an ed25519 key pair at `path` (private) and `path.pub`.
pub fn keygen(path: &Path) -> KeyPair {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen (install openssh-client): {e}"));
    if !out.status.success() {
        panic!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    let public = std::fs::read_to_string(&pub_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", pub_path.display()));
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    KeyPair {
        private: path.to_path_buf(),
        public,
    }
}

/// Whether an sshd binary is available to [`Sshd::start`].
pub fn available() -> bool {
    sshd_path().is_file()
}

fn sshd_path() -> PathBuf {
    std::env::var_os("BOTTLE_TEST_SSHD")
        .map_or_else(|| PathBuf::from("/usr/sbin/sshd"), PathBuf::from)
}

/// A running sshd.
pub struct Sshd {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    user: String,
    host_key: KeyPair,
    client_key: KeyPair,
}

impl Sshd {
    /// Start sshd on a free loopback port and wait until it greets.
    /// Panics (with sshd's log) when it cannot start.
    pub fn start() -> Self {
        let sshd = sshd_path();
        if !sshd.is_file() {
            panic!(
                "{} not found: install Debian's openssh-server (apt-get install -y openssh-server) \
                 or set BOTTLE_TEST_SSHD",
                sshd.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("bottle-sshd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let host_key = keygen(&dir.path().join("host_ed25519"));
        let client_key = keygen(&dir.path().join("client_ed25519"));
        std::fs::write(
            dir.path().join("authorized_keys"),
            format!("{}\n", client_key.public),
        )
        .unwrap_or_else(|e| panic!("cannot write authorized_keys: {e}"));
        let user = current_user();
        if user == "root" && !Path::new("/run/sshd").is_dir() {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(&config, sshd_config(dir.path(), port, &user))
                .unwrap_or_else(|e| panic!("cannot write sshd_config: {e}"));
            let log_path = dir.path().join("sshd.log");
            let log = std::fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("cannot create the sshd log: {e}"));
            let log2 = log
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot clone the log handle: {e}"));
            let mut child = Command::new(&sshd)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", sshd.display()));
            if wait_for_banner(port, &mut child) {
                return Self {
                    child: Some(child),
                    port,
                    dir,
                    user,
                    host_key,
                    client_key,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("sshd did not start; its log:\n{last_log}");
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The user that may log in (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The server's host public key, `ssh-ed25519 AAAA...`: what a client
    /// pins as `known_host_key`.
    pub fn host_public_key(&self) -> &str {
        &self.host_key.public
    }

    /// The private key that may log in.
    pub fn client_key(&self) -> &Path {
        &self.client_key.private
    }

    /// The public half of [`Self::client_key`].
    pub fn client_public_key(&self) -> &str {
        &self.client_key.public
    }

    /// `ssh://<user>@127.0.0.1:<port><path>` for an absolute `path`.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The known_hosts line for this server (`[127.0.0.1]:<port> <key>`).
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key.public)
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// sshd's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Stop the server now (it also stops on drop), as a host going down
    /// would: the listener and every connection it forked (sshd's session
    /// processes outlive a killed listener otherwise). The port then
    /// refuses connections and open connections are cut.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let sessions = descendants(c.id());
            let _ = c.kill();
            let _ = c.wait();
            if !sessions.is_empty() {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .args(sessions.iter().map(u32::to_string))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// How many logins the server has accepted so far (from its log).
    pub fn accepted_logins(&self) -> usize {
        self.log().matches("Accepted publickey for ").count()
    }
}

/// Every live process below `root`, from `/proc` (empty where there is no
/// `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sshd_config(dir: &Path, port: u16, user: &str) -> String {
    let d = dir.display();
    format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {d}/host_ed25519\n\
         PidFile none\n\
         AuthorizedKeysFile {d}/authorized_keys\n\
         AllowUsers {user}\n\
         StrictModes no\n\
         UsePAM no\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\n\
         PermitRootLogin prohibit-password\n\
         AcceptEnv GIT_PROTOCOL\n\
         UseDNS no\n\
         PrintMotd no\n\
         MaxStartups 100\n\
         MaxSessions 100\n\
         LogLevel INFO\n"
    )
}

fn current_user() -> String {
    let out = Command::new("id")
        .arg("-un")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run id -un: {e}"));
    let u = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if u.is_empty() {
        panic!("cannot tell the current user name (id -un printed nothing)");
    }
    u
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a free port: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

/// Wait until the server sends its `SSH-2.0-` banner, or the process exits.
fn wait_for_banner(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0-" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
