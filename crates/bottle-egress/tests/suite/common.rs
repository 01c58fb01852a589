//! The test harness: a proxy on 127.0.0.1:0 with a fresh bottle CA, an audit
//! file, a static resolver and a connector that records every attempt.

use bottle_egress::{
    AllowEntry, AuditTarget, Config, Connect, Hooks, Proxy, ProxyHandle, RecordingConnector,
    StaticResolver, TcpConnector,
};
use bottle_testkit::upstream::TestCa;
use bottle_testkit::upstream::client::{self, Reply};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub cfg: Config,
    pub resolver: StaticResolver,
    pub connector: RecordingConnector<TcpConnector>,
    pub bottle_ca_pem: String,
    pub upstream_ca: TestCa,
}

impl Harness {
    /// Audit to a file, upstream roots include a fresh test CA, nothing
    /// allowed yet, loopback upstreams refused.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = bottle_egress::ca::generate("test").unwrap();
        let (cert, key) = bottle_egress::ca::write_files(&ca, dir.path()).unwrap();
        let mut cfg = Config::new("test", cert, key);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.audit = AuditTarget::File(dir.path().join("audit.jsonl"));
        let upstream_ca = TestCa::new("upstream test CA");
        cfg.upstream_ca = vec![upstream_ca.write_pem(dir.path(), "upstream-ca.pem")];
        Self {
            dir,
            cfg,
            resolver: StaticResolver::new(),
            connector: RecordingConnector::new(TcpConnector),
            bottle_ca_pem: ca.cert_pem,
            upstream_ca,
        }
    }

    pub fn allow(&mut self, entry: &str) -> &mut Self {
        self.cfg.allowlist.push(AllowEntry::Host(entry.to_string()));
        self
    }

    pub fn allow_rule(&mut self, host: &str, methods: &[&str], paths: &[&str]) -> &mut Self {
        self.cfg.allowlist.push(AllowEntry::Rule {
            host: host.into(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    pub fn map_host(&mut self, name: &str, addr: SocketAddr) -> &mut Self {
        self.cfg.hosts.insert(name.into(), addr.to_string());
        self
    }

    pub fn loopback(&mut self) -> &mut Self {
        self.cfg.dangerously_allow_loopback_upstreams = true;
        self
    }

    pub async fn start(&self) -> ProxyHandle {
        self.start_with(Arc::new(self.connector.clone())).await
    }

    pub async fn start_with(&self, connector: Arc<dyn Connect>) -> ProxyHandle {
        let hooks = Hooks {
            resolver: Arc::new(self.resolver.clone()),
            connector,
        };
        Proxy::bind_with(self.cfg.clone(), hooks)
            .await
            .unwrap()
            .spawn()
            .unwrap()
    }

    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl")).unwrap_or_default()
    }

    /// Every audit line, each checked to be the shared schema's egress
    /// record.
    pub fn audit(&self) -> Vec<Value> {
        self.audit_text()
            .lines()
            .map(|l| {
                let rec: bottle_policy::AuditRecord = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not an audit record ({e}): {l}"));
                assert!(rec.egress().is_some(), "not an egress line: {l}");
                serde_json::from_str(l).unwrap()
            })
            .collect()
    }

    /// The last audit line, waiting briefly for lines written when a body or
    /// tunnel finishes.
    pub async fn last_audit(&self) -> Value {
        for _ in 0..100 {
            if let Some(l) = self.audit().pop() {
                return l;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no audit line was written");
    }

    /// Wait until an audit line matches `pred`; return it.
    pub async fn wait_audit(&self, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..150 {
            if let Some(l) = self.audit().into_iter().find(|l| pred(l)) {
                return l;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "no matching audit line; audit log:\n{}\n{}",
            "-".repeat(60),
            self.audit_text()
        );
    }

    /// A client TLS config that trusts the bottle CA (what the agent has).
    pub fn agent_tls(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        client::client_config_pem(&self.bottle_ca_pem, alpn)
    }
}

/// Assert a block: status and the `X-Bottle-Block` header.
#[track_caller]
pub fn assert_blocked(r: &Reply, status: u16, block: &str) {
    let got = r.header("x-bottle-block").unwrap_or("<none>");
    assert!(
        r.status == status && got == block,
        "\nexpected: {status} {block}\nactual:   {} {got}\n{}\n{}\n{}",
        r.status,
        "-".repeat(60),
        r.text(),
        "-".repeat(60)
    );
    assert!(
        r.text().contains(block),
        "the body must name the check and rule: {}",
        r.text()
    );
}

/// Assert a block by `check` with any rule (DLP rules are the scanner's ids,
/// and several may fit one secret).
#[track_caller]
pub fn assert_blocked_by(r: &Reply, status: u16, check: &str) {
    let got = r.header("x-bottle-block").unwrap_or("<none>");
    assert!(
        r.status == status && got.starts_with(&format!("{check}:")),
        "\nexpected: {status} {check}:*\nactual:   {} {got}\n{}\n{}",
        r.status,
        "-".repeat(60),
        r.text()
    );
}

/// An absolute-form request through the proxy on a fresh connection.
pub async fn plain(
    proxy: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let uri: http::Uri = url.parse().unwrap();
    let mut b = Request::builder().method(method).uri(url);
    if let Some(a) = uri.authority() {
        b = b.header("host", a.as_str());
    }
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let req = b.body(Full::new(body.into())).unwrap();
    let tcp = TcpStream::connect(proxy).await.unwrap();
    client::send_h1(tcp, req).await.unwrap()
}

pub async fn get(proxy: SocketAddr, url: &str) -> Reply {
    plain(proxy, "GET", url, &[], Bytes::new()).await
}

/// An HTTPS request through a CONNECT tunnel, intercepted: the client
/// trusts only the bottle CA. `alpn` picks HTTP/1.1 or HTTP/2.
pub async fn https(
    h: &Harness,
    proxy: SocketAddr,
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    h2: bool,
) -> Result<Reply, String> {
    let (status, hdrs, tcp) = client::connect(proxy, authority)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        let block = hdrs
            .iter()
            .find(|(n, _)| n == "x-bottle-block")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        return Err(format!("CONNECT {status} {block}"));
    }
    let host = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority);
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let tls = client::tls(tcp, host.trim_matches(['[', ']']), h.agent_tls(alpn))
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let mut b = Request::builder().method(method);
    if h2 {
        b = b.uri(format!("https://{authority}{path}"));
    } else {
        b = b.uri(path).header("host", authority);
    }
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let req = b.body(Full::new(body.into())).unwrap();
    if h2 {
        let mut s = client::h2(tls).await.map_err(|e| e.to_string())?;
        client::request_h2(&mut s, req)
            .await
            .map_err(|e| e.to_string())
    } else {
        client::send_h1(tls, req).await.map_err(|e| e.to_string())
    }
}

/// A random alphanumeric string (test secrets are made at run time).
pub fn random_alnum(n: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < n {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(out.len());
        let mut v = h.finish();
        for _ in 0..8 {
            out.push(CHARS[(v % CHARS.len() as u64) as usize] as char);
            v /= CHARS.len() as u64;
        }
    }
    out.truncate(n);
    out
}

/// A deterministic alphanumeric string (same `seed`, same string): for
/// shape checks that a random draw passes only most of the time.
pub fn seeded_alnum(n: usize, seed: u64) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            CHARS[((x >> 33) % CHARS.len() as u64) as usize] as char
        })
        .collect()
}

/// A GitHub-token-shaped test secret.
pub fn github_token() -> String {
    format!("{}{}", "ghp", "_") + &random_alnum(36)
}

/// An AWS-access-key-shaped test secret (base32 alphabet).
pub fn aws_key() -> String {
    let b32: String = random_alnum(64)
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_ascii_uppercase() || ('2'..='7').contains(c))
        .take(16)
        .collect();
    format!("{}{}", "AK", "IA") + &b32
}
