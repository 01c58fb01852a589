//! A gate running in the test process, clients that play the agent.

use bottle_gitgate::{
    AuditRecord, AuditTarget, Config, Decision, Gate, GitAudit, Remote, ScanConfig,
};
use bottle_testkit::gitremote::{BareRepo, GitClient};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A gate on 127.0.0.1:<free port>, with its own data dir and audit file.
pub struct TestGate {
    pub addr: SocketAddr,
    pub config: Config,
    _data: tempfile::TempDir,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestGate {
    pub fn start(remotes: Vec<Remote>) -> Self {
        let data = tempfile::Builder::new()
            .prefix("bottle-gate-")
            .tempdir()
            .unwrap();
        let config = Self::config(remotes, data.path());
        Self::start_with(config, data)
    }

    /// The config [`TestGate::start`] uses, with its files under `dir`.
    pub fn config(remotes: Vec<Remote>, dir: &Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            bottle: "test".into(),
            data_dir: dir.join("data"),
            git: std::env::var_os("BOTTLE_TEST_GIT")
                .map_or_else(|| PathBuf::from("git"), PathBuf::from),
            ssh: PathBuf::from("ssh"),
            audit: AuditTarget::File(dir.join("audit.jsonl")),
            scan: ScanConfig::default(),
            upstream_timeout_secs: 60,
            hook_command: vec![env!("CARGO_BIN_EXE_bottle-gitgate-hook").to_string()],
            remotes,
        }
    }

    pub fn start_with(config: Config, data: tempfile::TempDir) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let gate = rt.block_on(Gate::bind(config.clone())).unwrap();
        let addr = gate.local_addr();
        rt.spawn(gate.serve());
        Self {
            addr,
            config,
            _data: data,
            rt: Some(rt),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A git client configured the way the agent is: only the rendered
    /// agent-side config routes it to the gate.
    pub fn agent(&self) -> GitClient {
        let client = GitClient::new();
        let text = bottle_gitgate::agent_gitconfig(
            self.config
                .remotes
                .iter()
                .map(|r| (r.name.as_str(), r.upstream.as_str())),
            &self.base_url(),
        )
        .unwrap();
        client.append_config(&text);
        client
    }

    pub fn mirror_dir(&self, name: &str) -> PathBuf {
        self.config
            .data_dir
            .join("mirrors")
            .join(format!("{name}.git"))
    }

    /// The refs of the gate's mirror of `name`.
    pub fn mirror_refs(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        let admin = GitClient::new();
        admin
            .run(
                &self.mirror_dir(name),
                &["for-each-ref", "--format=%(refname) %(objectname)"],
            )
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// Every audit line, read as the shared schema and checked to be the
    /// gate's.
    pub fn audit(&self) -> Vec<GateLine> {
        let AuditTarget::File(p) = &self.config.audit else {
            return Vec::new();
        };
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let rec: AuditRecord =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l:?}: {e}"));
                let git = rec
                    .git()
                    .unwrap_or_else(|| panic!("not a git gate line: {l}"))
                    .clone();
                GateLine {
                    decision: rec.decision,
                    git,
                }
            })
            .collect()
    }
}

/// A gate audit line: the decision and the gate's own fields (reached
/// through `Deref`, so tests read `line.reason`).
#[derive(Debug, serde::Serialize)]
pub struct GateLine {
    pub decision: Decision,
    #[serde(flatten)]
    pub git: GitAudit,
}

impl std::ops::Deref for GateLine {
    type Target = GitAudit;
    fn deref(&self) -> &GitAudit {
        &self.git
    }
}

impl Drop for TestGate {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

pub fn file_remote(name: &str, upstream: &BareRepo) -> Remote {
    remote(name, &upstream.file_url())
}

pub fn remote(name: &str, url: &str) -> Remote {
    Remote {
        name: name.into(),
        upstream: url.into(),
        identity_file: None,
        known_host_key: None,
        token: None,
        token_file: None,
        username: None,
        ca_file: None,
        dangerously_allow_plain_http: false,
        allow: Vec::new(),
    }
}

/// A GitHub-token-shaped string made at run time (never in the repo).
pub fn fake_github_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::from("ghp");
    out.push('_');
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    for i in 0..36u64 {
        h.write_u64(i);
        let v = h.finish();
        out.push(ALNUM[(v % ALNUM.len() as u64) as usize] as char);
    }
    out
}

/// Assert that `haystack` contains `needle`, printing both otherwise.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected to find\n----\n{needle}\n----\nin\n----\n{haystack}\n----"
    );
}

#[allow(dead_code)]
pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// One raw HTTP/1.1 request (Connection: close); the whole response, lossy.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
