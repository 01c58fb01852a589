//! Check 5: addresses after resolution, every IP notation, DNS rebinding,
//! the hosts map and allowlisted CIDRs. No test sends a packet anywhere but
//! loopback: refused addresses are refused before any connect, and the
//! recording connector proves no attempt was made.

use super::common::*;
use bottle_egress::{BoxFuture, Connect, Resolve};
use bottle_testkit::upstream::{self, client};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn every_notation_of_loopback_private_and_metadata_is_refused_before_connect() {
    let mut h = Harness::new();
    for ip in [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "192.168.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "172.16.0.1",
    ] {
        h.allow(ip);
    }
    let proxy = h.start().await;
    let cases: &[(&str, &str)] = &[
        ("127.0.0.1", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f000001", "loopback"),
        ("0x7F.0.0.1", "loopback"),
        ("0177.0.0.1", "loopback"),
        ("0177.1", "loopback"),
        ("127.0.0.1.", "loopback"),
        ("169.254.169.254", "metadata"),
        ("0xa9fea9fe", "metadata"),
        ("2852039166", "metadata"),
        ("169.254.43518", "metadata"),
        ("0251.0376.0251.0376", "metadata"),
        ("10.0.0.1", "private"),
        ("012.0.0.1", "private"),
        ("10.1", "private"),
        ("192.168.1.1", "private"),
        ("0xac100001", "private"),
        ("100.64.0.1", "cgnat"),
        ("0", "unspecified"),
    ];
    for (host, why) in cases {
        let r = get(proxy.addr(), &format!("http://{host}/latest/meta-data/")).await;
        assert_blocked(&r, 403, &format!("ssrf:{why}"));
        let (status, headers, _) = client::connect(proxy.addr(), &format!("{host}:443"))
            .await
            .unwrap();
        assert_eq!(status, 403, "CONNECT {host}");
        assert!(
            headers.contains(&("x-bottle-block".into(), format!("ssrf:{why}"))),
            "CONNECT {host}: {headers:?}"
        );
    }
    // IPv6 literals of the same places never match an allowlist entry, and
    // are refused too.
    for host in [
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::ffff:a9fe:a9fe]",
        "[fd00:ec2::254]",
        "[64:ff9b::a9fe:a9fe]",
        "[fe80::1]",
    ] {
        let r = get(proxy.addr(), &format!("http://{host}/")).await;
        assert_eq!(r.status, 403, "{host}");
    }
    assert!(
        h.connector.attempts().is_empty(),
        "no connection may be attempted: {:?}",
        h.connector.attempts()
    );
    assert!(
        h.resolver.calls().is_empty(),
        "IP literals are never resolved"
    );
    let blocks = h
        .audit()
        .into_iter()
        .filter(|l| l["check"] == "ssrf")
        .count();
    assert_eq!(blocks, cases.len() * 2);
}

#[tokio::test]
async fn names_resolving_to_internal_addresses_are_refused() {
    let mut h = Harness::new();
    let cases: &[(&str, &[&str], &str)] = &[
        ("internal.test", &["10.1.2.3"], "private"),
        ("meta.test", &["169.254.169.254"], "metadata"),
        ("mapped.test", &["::ffff:127.0.0.1"], "loopback"),
        ("compat.test", &["::127.0.0.1"], "loopback"),
        ("nat64.test", &["64:ff9b::a9fe:a9fe"], "metadata"),
        ("sixtofour.test", &["2002:0a00:0001::1"], "private"),
        ("ula.test", &["fd12:3456::1"], "private"),
        ("v6lo.test", &["::1"], "loopback"),
        ("mixed.test", &["93.184.216.34", "10.0.0.1"], "private"),
        ("azure.test", &["168.63.129.16"], "metadata"),
    ];
    for (name, ips, _) in cases {
        h.allow(name);
        h.resolver
            .insert(name, ips.iter().map(|s| s.parse::<IpAddr>().unwrap()));
    }
    let proxy = h.start().await;
    for (name, _, why) in cases {
        let r = get(proxy.addr(), &format!("http://{name}/")).await;
        assert_blocked(&r, 403, &format!("ssrf:{why}"));
    }
    assert!(
        h.connector.attempts().is_empty(),
        "{:?}",
        h.connector.attempts()
    );
}

/// Answers a public address first, then loopback: the classic rebinding.
struct Rebinder {
    calls: AtomicUsize,
}

impl Resolve for Rebinder {
    fn resolve(&self, _name: &str) -> BoxFuture<std::io::Result<Vec<IpAddr>>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let ip: IpAddr = if n == 0 {
            "93.184.216.34".parse().unwrap()
        } else {
            "127.0.0.1".parse().unwrap()
        };
        Box::pin(async move { Ok(vec![ip]) })
    }
}

/// A stand-in network: "public" addresses map to loopback upstreams; every
/// attempt is recorded; anything unmapped is refused without a packet.
#[derive(Clone, Default)]
struct FakeNet {
    routes: Arc<Mutex<HashMap<SocketAddr, SocketAddr>>>,
    attempts: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Connect for FakeNet {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<std::io::Result<tokio::net::TcpStream>> {
        self.attempts.lock().unwrap().push(addr);
        let real = self.routes.lock().unwrap().get(&addr).copied();
        Box::pin(async move {
            match real {
                Some(r) => tokio::net::TcpStream::connect(r).await,
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "not on the fake network",
                )),
            }
        })
    }
}

#[tokio::test]
async fn dns_rebinding_connects_only_to_the_checked_address() {
    let up = upstream::http().run().await;
    let mut h = Harness::new();
    h.allow("rebind.test");
    let net = FakeNet::default();
    let public: SocketAddr = "93.184.216.34:80".parse().unwrap();
    net.routes.lock().unwrap().insert(public, up.addr());
    let hooks = bottle_egress::Hooks {
        resolver: Arc::new(Rebinder {
            calls: AtomicUsize::new(0),
        }),
        connector: Arc::new(net.clone()),
    };
    let proxy = bottle_egress::Proxy::bind_with(h.cfg.clone(), hooks)
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let first = get(proxy.addr(), "http://rebind.test/one").await;
    assert_eq!(first.status, 200, "{}", first.text());
    // Second lookup answers loopback: refused, and no connection attempted.
    let second = get(proxy.addr(), "http://rebind.test/two").await;
    assert_blocked(&second, 403, "ssrf:loopback");
    assert_eq!(*net.attempts.lock().unwrap(), vec![public]);
    assert_eq!(up.requests().len(), 1);
    drop(h);
}

#[tokio::test]
async fn a_tunnel_resolves_once_and_sticks_to_the_checked_address() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("rebind.test")
        .run()
        .await;
    h.allow("rebind.test");
    let net = FakeNet::default();
    let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
    net.routes.lock().unwrap().insert(public, up.addr());
    let rebinder = Arc::new(Rebinder {
        calls: AtomicUsize::new(0),
    });
    let hooks = bottle_egress::Hooks {
        resolver: rebinder.clone(),
        connector: Arc::new(net.clone()),
    };
    let proxy = bottle_egress::Proxy::bind_with(h.cfg.clone(), hooks)
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let (status, _, tcp) = client::connect(proxy.addr(), "rebind.test:443")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let tls = client::tls(tcp, "rebind.test", h.agent_tls(&[b"http/1.1"]))
        .await
        .unwrap();
    let mut s = client::h1(tls).await.unwrap();
    for i in 0..3 {
        let req = http::Request::get(format!("/r{i}"))
            .header("host", "rebind.test")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        assert_eq!(client::request_h1(&mut s, req).await.unwrap().status, 200);
    }
    assert_eq!(
        rebinder.calls.load(Ordering::SeqCst),
        1,
        "one lookup per tunnel"
    );
    assert!(net.attempts.lock().unwrap().iter().all(|a| *a == public));
    assert_eq!(up.requests().len(), 3);
    drop(h);
}

/// Issue 7: a hosts map does not open loopback to anything else.
#[tokio::test]
async fn issue7_hosts_map_leaves_every_other_loopback_route_blocked() {
    let up = upstream::http().run().await;
    let mut h = Harness::new();
    h.allow("127.0.0.1")
        .allow("loopy.test")
        .allow("mapped.test");
    h.map_host(
        "mapped.test",
        SocketAddr::new("127.0.0.1".parse().unwrap(), up.port()),
    );
    h.resolver
        .insert("loopy.test", ["127.0.0.1".parse().unwrap()]);
    assert!(!h.cfg.dangerously_allow_loopback_upstreams);
    let proxy = h.start().await;
    for url in [
        "http://127.0.0.1/",
        "http://0x7f000001/",
        "http://loopy.test/",
    ] {
        let r = get(proxy.addr(), url).await;
        assert_blocked(&r, 403, "ssrf:loopback");
    }
    let ok = get(proxy.addr(), "http://mapped.test/via-map").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(h.connector.attempts(), vec![up.addr()]);
}

#[tokio::test]
async fn an_allowlisted_cidr_is_the_only_exception() {
    let up = upstream::http().run().await;
    let mut h = Harness::new();
    h.allow(&format!("127.0.0.1:{}", up.port()));
    h.cfg.allow_cidrs = vec!["127.0.0.0/8".into()];
    let proxy = h.start().await;
    let r = get(proxy.addr(), &format!("http://127.0.0.1:{}/", up.port())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut h = Harness::new();
    h.allow(&format!("127.0.0.1:{}", up.port()));
    h.cfg.allow_cidrs = vec!["10.0.0.0/8".into()];
    let proxy = h.start().await;
    let r = get(proxy.addr(), &format!("http://127.0.0.1:{}/", up.port())).await;
    assert_blocked(&r, 403, "ssrf:loopback");
}

/// A fetch or relay service on an allowed host reaches whatever its nested
/// target names: literal internal addresses there are refused like the
/// request's own, before any lookup. Public targets, the agent's own
/// loopback (an OAuth `redirect_uri`) and `allow_cidrs` pass.
#[tokio::test]
async fn internal_addresses_nested_in_a_url_are_refused() {
    let mut h = Harness::new();
    h.allow("mirror.example.test");
    h.cfg.allow_cidrs.push("10.9.0.0/16".into());
    let proxy = h.start().await;
    let base = "http://mirror.example.test";
    for (pq, why) in [
        (
            "/api/remote/proxy?target=http://169.254.169.254/latest/meta-data/iam/",
            "metadata",
        ),
        (
            "/proxy?url=http%3A%2F%2F10.0.0.12%3A8500%2Fv1%2Fkv%2Fsecrets",
            "private",
        ),
        ("/fetch?u=https%253A%252F%252F0xa9fea9fe%252F", "metadata"),
        ("/relay/http://192.168.1.1/admin", "private"),
    ] {
        let r = get(proxy.addr(), &format!("{base}{pq}")).await;
        assert_blocked(&r, 403, &format!("ssrf:{why}"));
    }
    assert!(h.resolver.calls().is_empty(), "refused before any lookup");
    for pq in [
        "/api/remote/proxy?target=https://example.com/pkg.tar.gz",
        "/login?redirect_uri=http://127.0.0.1:8765/callback",
        "/proxy?url=http://10.9.3.4/health",
        "/guide?example=postgres://10.0.0.1:5432/mydb",
    ] {
        let r = get(proxy.addr(), &format!("{base}{pq}")).await;
        assert_blocked(&r, 502, "resolve:no-address");
    }
}
