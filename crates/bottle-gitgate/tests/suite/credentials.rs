//! https upstreams: the token reaches the upstream only through the gate's
//! credential helper. The upstream here is a second gate behind a small
//! Basic-auth check (over http:// on loopback, which the test allows
//! explicitly).

use super::harness::*;
use bottle_gitgate::Secret;
use bottle_testkit::gitremote::BareRepo;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A proxy that lets a connection through to `backend` only when its first
/// request carries `Authorization: Basic <expected>`; records what it saw.
struct AuthProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl AuthProxy {
    fn start(backend: SocketAddr, expected: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { continue };
                let seen = seen2.clone();
                let expected = expected.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let auth = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Authorization: Basic "))
                        .map(|v| v.trim().to_string());
                    seen.lock().unwrap().push(auth.clone());
                    if auth.as_deref() != Some(expected.as_str()) {
                        let _ = client.write_all(
                            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"up\"\r\n\
                              Content-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    }
                    let mut up = TcpStream::connect(backend).unwrap();
                    up.write_all(&head).unwrap();
                    let mut up2 = up.try_clone().unwrap();
                    let mut client2 = client.try_clone().unwrap();
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut client2, &mut up2);
                        let _ = up2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut up, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { addr, seen }
    }
}

#[test]
fn token_reaches_the_upstream_only_through_the_gate() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    // The "forge": a gate serving the bare repo, behind Basic auth.
    let forge = TestGate::start(vec![file_remote("app", &up)]);
    let token = format!("tok-{}", &fake_github_token()[4..]);
    let proxy = AuthProxy::start(
        forge.addr,
        b64(format!("x-access-token:{token}").as_bytes()),
    );
    let upstream = format!("http://{}/app.git", proxy.addr);

    let mut r = remote("origin", &upstream);
    r.token = Some(Secret::new(token.clone()));
    r.dangerously_allow_plain_http = true;
    let gate = TestGate::start(vec![r]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&upstream);
    assert_eq!(wt.read("a.txt"), "1\n");
    let c = wt.commit_files(&[("b.txt", "b\n")], "b");
    let push = wt.try_git(&["push", "origin", "main"]);
    assert!(push.success, "{}", push.stderr);
    assert_eq!(up.rev("refs/heads/main").unwrap(), c);
    assert!(
        proxy.seen.lock().unwrap().iter().any(Option::is_some),
        "the upstream never saw credentials"
    );
    // The token appears nowhere the agent or the logs can see.
    assert!(!push.stderr.contains(&token));
    let audit = serde_json::to_string(&gate.audit()).unwrap();
    assert!(!audit.contains(&token));
    let agent_config = std::fs::read_to_string(agent.gitconfig_path()).unwrap();
    assert!(!agent_config.contains(&token));
    for entry in walk(&gate.config.data_dir) {
        if entry.ends_with("run/gate.toml") {
            continue; // the gate's own copy of its config (mode 0600)
        }
        let data = std::fs::read(&entry).unwrap_or_default();
        let hay = String::from_utf8_lossy(&data);
        assert!(
            !hay.contains(&token),
            "token written to {}",
            entry.display()
        );
    }
    // A push carrying the gate's own token is stopped as a known secret.
    let before = up.refs();
    wt.commit_files(&[("leak.txt", &format!("{token}\n"))], "leak");
    let out = wt.try_git(&["push", "origin", "main"]);
    assert!(!out.success);
    assert_contains(&out.stderr, "known-secret");
    assert_eq!(up.refs(), before);
}

#[test]
fn missing_token_fails_with_the_upstreams_answer() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let forge = TestGate::start(vec![file_remote("app", &up)]);
    let proxy = AuthProxy::start(forge.addr, b64(b"x-access-token:right"));
    let upstream = format!("http://{}/app.git", proxy.addr);
    let mut r = remote("origin", &upstream);
    r.dangerously_allow_plain_http = true;
    let gate = TestGate::start(vec![r]);
    let dir = tempfile::tempdir().unwrap();
    let out = gate.agent().try_run(dir.path(), &["clone", &upstream, "x"]);
    assert!(!out.success);
    assert_contains(
        &out.stderr,
        &format!("cannot fetch \"origin\" from its upstream {upstream}"),
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
