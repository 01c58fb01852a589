//! http(s) upstreams that do not answer: git has no connect timeout of its
//! own, so the gate's probe bounds the wait (issue 13, "fail fast") and the
//! agent's git reads the gate's reason, not git's generic epilogue.
//!
//! No test here measures time: each agent command runs under a generous
//! limit (far below what git alone would wait: about two minutes of SYN
//! retries, or curl's 300 s), and the test fails if it is reached.

use super::harness::*;
use bottle_gitgate::Remote;
use bottle_testkit::gitremote::{BareRepo, GitClient, GitOutput};
use bottle_testkit::upstream::TestCa;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Far above the gate's 4 s, far below git's own waits.
const LIMIT: Duration = Duration::from_secs(60);

/// Run the agent's git in `dir`; panic if it has not exited within [`LIMIT`].
fn run_bounded(agent: &GitClient, dir: &Path, args: &[&str]) -> GitOutput {
    let mut child = agent
        .command(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = out.read_to_string(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = err.read_to_string(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "git {} did not come back within {LIMIT:?}: the gate did not fail fast",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    GitOutput {
        success: status.success(),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

fn plain_http(name: &str, url: &str) -> Remote {
    let mut r = remote(name, url);
    r.dangerously_allow_plain_http = true;
    r
}

/// The gate's reason is there, and git's "make sure you have the correct
/// access rights" is not (neither last nor anywhere).
#[track_caller]
fn assert_gate_reason(out: &GitOutput, url: &str, why: &str) {
    assert!(!out.success, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        &format!("bottle git gate: cannot fetch \"origin\" from its upstream {url}: "),
    );
    assert_contains(&out.stderr, why);
    let last = out.stderr.trim_end().lines().last().unwrap_or("");
    assert!(last.contains("bottle git gate"), "{}", out.stderr);
    assert!(!out.stderr.contains("access rights"), "{}", out.stderr);
}

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn http_upstream_on_a_closed_port_fails_with_the_gates_reason() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/app.git");
    let gate = TestGate::start(vec![plain_http("origin", &url)]);
    let agent = gate.agent();
    let dir = tempfile::tempdir().unwrap();
    let out = run_bounded(&agent, dir.path(), &["clone", &url, "x"]);
    assert_gate_reason(
        &out,
        &url,
        &format!("cannot connect to 127.0.0.1 port {port}: connection refused"),
    );
    let ls = run_bounded(&agent, dir.path(), &["ls-remote", &url]);
    assert_gate_reason(&ls, &url, "connection refused");
}

/// A port whose listener never accepts and whose accept queue is full: the
/// kernel drops every new SYN, as for a host that is down or firewalled.
struct DroppingPort {
    addr: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl DroppingPort {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        for _ in 0..4096 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(_) => {
                    return Self {
                        addr,
                        _listener: listener,
                        _queued: queued,
                    };
                }
            }
        }
        panic!("the accept queue of {addr} never filled");
    }
}

#[test]
fn https_upstream_that_drops_connections_fails_with_the_gates_reason() {
    let port = DroppingPort::new();
    let url = format!("https://{}/app.git", port.addr);
    let gate = TestGate::start(vec![remote("origin", &url)]);
    let dir = tempfile::tempdir().unwrap();
    let out = run_bounded(&gate.agent(), dir.path(), &["clone", &url, "x"]);
    assert_gate_reason(
        &out,
        &url,
        &format!(
            "cannot connect to 127.0.0.1 port {}: no answer within 4 s",
            port.addr.port()
        ),
    );
}

#[test]
fn https_upstream_that_never_answers_tls_fails_with_the_gates_reason() {
    // The kernel completes the TCP handshake; nothing ever reads or writes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("https://127.0.0.1:{port}/app.git");
    let gate = TestGate::start(vec![remote("origin", &url)]);
    let agent = gate.agent();
    for protocol in ["2", "0"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!("protocol.version={protocol}");
        let out = run_bounded(&agent, dir.path(), &["-c", &cfg, "clone", &url, "x"]);
        assert_gate_reason(&out, &url, "did not answer the TLS handshake within 4 s");
    }
    let denied = gate.audit();
    assert!(!denied.is_empty());
    assert!(
        denied.iter().all(|r| r.reason == "upstream-unreachable"),
        "{:?}",
        denied.iter().map(|r| &r.reason).collect::<Vec<_>>()
    );
    drop(silent);
}

/// A real TLS front (certificate from a test CA, for 127.0.0.1) in front of
/// a plain-http backend.
struct TlsFront {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

impl TlsFront {
    fn start(ca: &TestCa, backend: SocketAddr) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let acceptor =
            tokio_rustls::TlsAcceptor::from(ca.server_config(&["127.0.0.1".to_string()], &[]));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        Self { addr, _rt: rt }
    }
}

/// Benign twin of the two https tests above: a reachable https upstream
/// (real TLS, the probe alongside every refresh and forwarded push) is
/// cloned, fetched and pushed to as before.
#[test]
fn reachable_https_upstream_is_cloned_fetched_and_pushed_through_the_probe() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let forge = TestGate::start(vec![file_remote("app", &up)]);
    let ca = TestCa::new("forge");
    let front = TlsFront::start(&ca, forge.addr);
    let pem_dir = tempfile::tempdir().unwrap();
    let url = format!("https://{}/app.git", front.addr);
    let mut r = remote("origin", &url);
    r.ca_file = Some(ca.write_pem(pem_dir.path(), "forge-ca.pem"));
    let gate = TestGate::start(vec![r]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&url);
    assert_eq!(wt.read("a.txt"), "1\n");
    let theirs = up.commit_files("main", &[("a.txt", "2\n")], "upstream change");
    wt.git(&["fetch", "--quiet"]);
    assert_eq!(wt.git(&["rev-parse", "origin/main"]), theirs);
    wt.git(&["merge", "--quiet", "--ff-only", "origin/main"]);
    let mine = wt.commit_files(&[("b.txt", "b\n")], "agent change");
    wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(up.rev("refs/heads/main").unwrap(), mine);
}
