//! Fail fast on an http(s) upstream that does not answer.
//!
//! git has no connect timeout for http(s): curl waits up to 300 s for a
//! connection, the kernel gives up on unanswered SYNs after about two
//! minutes, and a server that takes the connection and never answers the
//! TLS handshake holds git until curl's own limit. So the gate checks the
//! upstream itself, alongside git (never before it: a reachable upstream
//! costs no extra latency): resolve the host, connect, and for https send a
//! TLS ClientHello and wait for the first byte of the server's answer, all
//! within [`CONNECT_TIMEOUT`]. When that fails, git is stopped and the agent
//! hears why.
//!
//! The probe never sends anything but a ClientHello (no credential, no
//! request) and never trusts what comes back: any answer, even a TLS alert
//! or a closed connection, counts as "the upstream answered", and git's own
//! result stands. ssh upstreams get the same bound from ssh itself
//! (`ConnectTimeout`, see `gitenv::ssh_command`).

use bottle_policy::{GitUrl, Transport};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long an http(s) upstream has to accept the connection and (https)
/// answer the ClientHello, DNS included. With git's start-up and the
/// gate's answer, the agent's git hears the reason in about 5 s.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// Where to probe: an http(s) upstream's host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    /// The probe for `url`, or `None` for transports that bound their own
    /// connection time (ssh) or have none (file).
    pub(crate) fn for_url(url: &GitUrl) -> Option<Self> {
        let (tls, default) = match url.transport {
            Transport::Https => (true, 443),
            Transport::Http => (false, 80),
            Transport::Ssh | Transport::File => return None,
        };
        Some(Self {
            host: url.host.clone(),
            port: url.port.unwrap_or(default),
            tls,
        })
    }

    /// Check that the upstream answers within `timeout`. `Err` says why
    /// not, in words for the agent.
    ///
    /// Name resolution can block for longer than any timeout we set, so the
    /// work runs on its own thread and this waits for it at most `timeout`
    /// (plus a little): a stuck resolver leaves only that thread waiting.
    pub(crate) fn check(&self, timeout: Duration) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        let target = self.clone();
        let deadline = Instant::now() + timeout;
        let phase = Arc::new(AtomicU8::new(Phase::Resolving as u8));
        let seen = Arc::clone(&phase);
        let spawned = std::thread::Builder::new()
            .name("upstream-probe".into())
            .spawn(move || {
                let _ = tx.send(target.run(deadline, &seen));
            });
        if spawned.is_err() {
            // Cannot probe: git's own result stands.
            return Ok(());
        }
        match rx.recv_timeout(timeout + Duration::from_millis(250)) {
            Ok(r) => r,
            // The probe thread is late: stuck in the resolver, or not
            // scheduled in time on a busy machine. What it had reached
            // says why, the same words it would have sent.
            Err(_) => Err(self.silent_in(
                Phase::from(phase.load(Ordering::Acquire)),
                timeout.as_secs_f64().round(),
            )),
        }
    }

    /// Why the upstream failed when nothing answered in `phase` within
    /// `secs` seconds.
    fn silent_in(&self, phase: Phase, secs: f64) -> String {
        match phase {
            Phase::Resolving => format!(
                "no answer from {} within {secs} s (resolving the name)",
                self.host
            ),
            Phase::Connecting => format!(
                "cannot connect to {} port {}: no answer within {secs} s \
                 (the host is down, or a firewall drops the connection)",
                self.host, self.port
            ),
            Phase::Handshake => format!(
                "{} port {} took the connection but did not answer the TLS handshake within {secs} s \
                 (a hung server, or not an https server)",
                self.host, self.port
            ),
        }
    }

    fn run(&self, deadline: Instant, phase: &AtomicU8) -> Result<(), String> {
        let secs = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
            .round();
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("cannot resolve {}: no addresses", self.host));
        }
        phase.store(Phase::Connecting as u8, Ordering::Release);
        let mut last = String::new();
        let mut stream = None;
        for addr in &addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    return Err(self.silent_in(Phase::Connecting, secs));
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    last = "connection refused".into();
                }
                Err(e) => last = e.to_string(),
            }
        }
        let Some(mut stream) = stream else {
            if last.is_empty() {
                last = format!("no answer within {secs} s");
            }
            return Err(format!(
                "cannot connect to {} port {}: {last}",
                self.host, self.port
            ));
        };
        if !self.tls {
            // Plain http: an accepted connection is all we can learn
            // without sending a request.
            return Ok(());
        }
        phase.store(Phase::Handshake as u8, Ordering::Release);
        let silent = || self.silent_in(Phase::Handshake, secs);
        // Not expected to fail; a probe that cannot run must not block.
        let Some(hello) = client_hello(&self.host) else {
            return Ok(());
        };
        if stream.write_all(&hello).is_err() {
            // Closed on us: an answer of sorts; git reports the details.
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(silent());
        }
        let _ = stream.set_read_timeout(Some(left));
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(silent())
            }
            Err(_) => Ok(()),
        }
    }
}

/// How far a probe got, for the words of a late answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Resolving,
    Connecting,
    Handshake,
}

impl From<u8> for Phase {
    fn from(v: u8) -> Self {
        match v {
            0 => Phase::Resolving,
            1 => Phase::Connecting,
            _ => Phase::Handshake,
        }
    }
}

/// The bytes of a TLS ClientHello for `host` (rustls' own, so the server
/// sees an ordinary modern client). The connection is dropped after the
/// first answer byte, long before any certificate would be checked.
fn client_hello(host: &str) -> Option<Vec<u8>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).ok()?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn target(port: u16, tls: bool) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port,
            tls,
        }
    }

    #[test]
    fn only_http_and_https_are_probed() {
        let t = |u: &str| Target::for_url(&GitUrl::parse(u).unwrap());
        assert_eq!(
            t("https://github.com/me/app.git"),
            Some(Target {
                host: "github.com".into(),
                port: 443,
                tls: true
            })
        );
        assert_eq!(
            t("http://10.0.0.1:8080/app.git").map(|t| (t.port, t.tls)),
            Some((8080, false))
        );
        assert_eq!(t("ssh://git@github.com/me/app.git"), None);
        assert_eq!(t("git@github.com:me/app.git"), None);
        assert_eq!(t("file:///srv/app.git"), None);
    }

    #[test]
    fn a_closed_port_is_refused() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = target(port, true).check(CONNECT_TIMEOUT).unwrap_err();
        assert_eq!(
            e,
            format!("cannot connect to 127.0.0.1 port {port}: connection refused")
        );
    }

    /// Takes the connection, reads the ClientHello, never answers.
    #[test]
    fn a_silent_tls_server_is_named_and_its_benign_twin_passes() {
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let e = target(port, true)
            .check(Duration::from_millis(300))
            .unwrap_err();
        assert!(e.contains("did not answer the TLS handshake"), "{e}");
        // Plain http cannot ask more than the connection.
        assert_eq!(target(port, false).check(CONNECT_TIMEOUT), Ok(()));

        // Benign twin: a server that answers the ClientHello (here with one
        // byte; any answer counts) passes.
        let answering = TcpListener::bind("127.0.0.1:0").unwrap();
        let aport = answering.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = answering.accept().unwrap();
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).unwrap();
            // A TLS handshake record from a client.
            assert_eq!(hello[0], 0x16, "{hello:?}");
            s.write_all(&[0x15]).unwrap();
        });
        assert_eq!(target(aport, true).check(CONNECT_TIMEOUT), Ok(()));
        t.join().unwrap();
        drop(silent);
    }
}
