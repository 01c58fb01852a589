//! Check 6 and issue 7: interception, SNI and Host/:authority binding,
//! non-TLS after CONNECT, passthrough, upstream trust roots, the hosts map.

use super::common::*;
use bottle_testkit::upstream::{self, client};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Issue 7: a real hostname, resolved by the hosts map to a local upstream
/// whose certificate a test CA signs (given in `upstream_ca`).
#[tokio::test]
async fn issue7_api_github_com_via_hosts_map_and_upstream_ca() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.github.com")
        .run()
        .await;
    h.allow("api.github.com")
        .map_host("api.github.com", up.addr());
    let proxy = h.start().await;
    for h2 in [false, true] {
        let r = https(
            &h,
            proxy.addr(),
            "api.github.com:443",
            "GET",
            "/repos/x/y",
            &[],
            Bytes::new(),
            h2,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["path"], "/repos/x/y");
    }
    // Upstream side: real hostname on the wire, HTTP/2 by ALPN.
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].version, "HTTP/2.0");
    assert_eq!(reqs[0].header(":authority"), Some("api.github.com"));
    let line = h.wait_audit(|l| l["path"] == "/repos/x/y").await;
    assert_eq!(
        (
            line["decision"].as_str(),
            line["tls"].as_str(),
            line["host"].as_str()
        ),
        (Some("allow"), Some("intercepted"), Some("api.github.com"))
    );
    // No resolver involved, and the only connections went to the mapped address.
    assert!(h.resolver.calls().is_empty());
    assert!(h.connector.attempts().iter().all(|a| *a == up.addr()));
}

#[tokio::test]
async fn issue7_untrusted_upstream_certificate_fails_closed_with_502() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.github.com")
        .run()
        .await;
    h.allow("api.github.com")
        .map_host("api.github.com", up.addr());
    h.cfg.upstream_ca.clear();
    let proxy = h.start().await;
    let r = https(
        &h,
        proxy.addr(),
        "api.github.com:443",
        "GET",
        "/",
        &[],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert_blocked(&r, 502, "upstream:tls-error");
    assert!(r.text().contains("api.github.com"), "{}", r.text());
    assert!(
        r.text().to_lowercase().contains("certificate"),
        "the TLS reason is named: {}",
        r.text()
    );
    assert!(up.requests().is_empty());
    let line = h.wait_audit(|l| l["check"] == "upstream").await;
    assert_eq!(
        (line["rule"].as_str(), line["status"].as_u64()),
        (Some("tls-error"), Some(502))
    );
}

#[tokio::test]
async fn upstream_ca_file_errors_name_the_file() {
    let mut h = Harness::new();
    let missing = h.dir.path().join("nope.pem");
    h.cfg.upstream_ca = vec![missing.clone()];
    let err = bottle_egress::Proxy::bind_with(
        h.cfg.clone(),
        bottle_egress::Hooks::with_resolver(h.resolver.clone()),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("nope.pem"), "{err}");
    let garbage = h.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    h.cfg.upstream_ca = vec![garbage];
    let err = bottle_egress::Proxy::bind_with(
        h.cfg.clone(),
        bottle_egress::Hooks::with_resolver(h.resolver.clone()),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("garbage.pem"), "{err}");
}

#[tokio::test]
async fn ip_literal_tunnel_gets_a_certificate_with_an_ip_san() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca).run().await;
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let r = https(
        &h,
        proxy.addr(),
        &format!("127.0.0.1:{}", up.port()),
        "GET",
        "/ip",
        &[],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.requests().len(), 1);
}

async fn tunnel_to(
    h: &Harness,
    proxy: std::net::SocketAddr,
    authority: &str,
) -> tokio::net::TcpStream {
    let (status, _, tcp) = client::connect(proxy, authority).await.unwrap();
    assert_eq!(status, 200);
    let _ = h;
    tcp
}

#[tokio::test]
async fn sni_mismatch_is_refused() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.github.com")
        .run()
        .await;
    h.allow("api.github.com")
        .map_host("api.github.com", up.addr());
    let proxy = h.start().await;
    let tcp = tunnel_to(&h, proxy.addr(), "api.github.com:443").await;
    let res = client::tls(tcp, "evil.example.com", h.agent_tls(&[b"http/1.1"])).await;
    assert!(
        res.is_err(),
        "a ClientHello for another name must not get a handshake"
    );
    let line = h.wait_audit(|l| l["check"] == "tls").await;
    assert_eq!(
        (line["decision"].as_str(), line["rule"].as_str()),
        (Some("block"), Some("sni-mismatch"))
    );
    assert_eq!(up.connections(), 0);
}

#[tokio::test]
async fn host_switch_inside_an_http1_tunnel_is_refused() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.github.com")
        .run()
        .await;
    h.allow("api.github.com")
        .allow("other.example.com")
        .map_host("api.github.com", up.addr());
    let proxy = h.start().await;
    let tcp = tunnel_to(&h, proxy.addr(), "api.github.com:443").await;
    let tls = client::tls(tcp, "api.github.com", h.agent_tls(&[b"http/1.1"]))
        .await
        .unwrap();
    let mut s = client::h1(tls).await.unwrap();
    let mk = |host: &str| {
        http::Request::get("/")
            .header("host", host)
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap()
    };
    let ok = client::request_h1(&mut s, mk("api.github.com"))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let r = client::request_h1(&mut s, mk("other.example.com"))
        .await
        .unwrap();
    assert_blocked(&r, 403, "tls:host-mismatch");
    let r = client::request_h1(&mut s, mk("api.github.com:8443"))
        .await
        .unwrap();
    assert_blocked(&r, 403, "tls:host-mismatch");
    assert_eq!(up.requests().len(), 1);
    h.wait_audit(|l| l["rule"] == "host-mismatch").await;
}

#[tokio::test]
async fn authority_switch_inside_an_http2_tunnel_is_refused() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.github.com")
        .run()
        .await;
    h.allow("api.github.com")
        .allow("other.example.com")
        .map_host("api.github.com", up.addr());
    let proxy = h.start().await;
    let tcp = tunnel_to(&h, proxy.addr(), "api.github.com:443").await;
    let tls = client::tls(tcp, "api.github.com", h.agent_tls(&[b"h2"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut s = client::h2(tls).await.unwrap();
    let mk = |uri: &str| {
        http::Request::get(uri)
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap()
    };
    let ok = client::request_h2(&mut s, mk("https://api.github.com/a"))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let r = client::request_h2(&mut s, mk("https://other.example.com/b"))
        .await
        .unwrap();
    assert_blocked(&r, 403, "tls:host-mismatch");
    // :authority right, but a Host header naming another host.
    let req = http::Request::get("https://api.github.com/c")
        .header("host", "other.example.com")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let r = client::request_h2(&mut s, req).await.unwrap();
    assert_blocked(&r, 403, "tls:host-mismatch");
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn plain_http_after_connect_is_refused_not_tunnelled() {
    let mut h = Harness::new();
    let up = upstream::http().run().await;
    h.allow("api.github.com")
        .map_host("api.github.com", up.addr());
    let proxy = h.start().await;
    let mut tcp = tunnel_to(&h, proxy.addr(), "api.github.com:443").await;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: api.github.com\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("x-bottle-block: tls:not-tls"), "{answer}");
    // Binary garbage (an SSH banner, say) gets the connection closed.
    let mut tcp = tunnel_to(&h, proxy.addr(), "api.github.com:443").await;
    tcp.write_all(b"\x00\x01SSH-2.0-OpenSSH\r\n").await.unwrap();
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    assert_eq!(up.connections(), 0, "nothing was relayed upstream");
    let blocks: Vec<_> = h
        .audit()
        .into_iter()
        .filter(|l| l["rule"] == "not-tls")
        .collect();
    assert_eq!(blocks.len(), 2, "{}", h.audit_text());
}

#[tokio::test]
async fn passthrough_hosts_are_relayed_without_interception() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("static.crates.io")
        .run()
        .await;
    h.cfg.passthrough.push("static.crates.io".into());
    h.map_host("static.crates.io", up.addr());
    let proxy = h.start().await;
    let tcp = tunnel_to(&h, proxy.addr(), "static.crates.io:443").await;
    // The client trusts only the upstream's CA: the handshake succeeds only
    // if the proxy did not intercept.
    let tls = client::tls(
        tcp,
        "static.crates.io",
        h.upstream_ca.client_config(&[b"http/1.1"]),
    )
    .await
    .unwrap();
    let req = http::Request::get("/crate.tar")
        .header("host", "static.crates.io")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let r = client::send_h1(tls, req).await.unwrap();
    assert_eq!(r.status, 200);
    let line = h.wait_audit(|l| l["tls"] == "passthrough").await;
    assert_eq!(
        (line["decision"].as_str(), line["rule"].as_str()),
        (Some("allow"), Some("static.crates.io"))
    );
    assert!(
        line["bytes_up"].as_u64().unwrap() > 0 && line["bytes_down"].as_u64().unwrap() > 0,
        "{line}"
    );
    // A passthrough tunnel still insists on a matching SNI.
    let tcp = tunnel_to(&h, proxy.addr(), "static.crates.io:443").await;
    assert!(
        client::tls(
            tcp,
            "evil.example.com",
            h.upstream_ca.client_config(&[b"http/1.1"])
        )
        .await
        .is_err()
    );
    h.wait_audit(|l| l["rule"] == "sni-mismatch").await;
}

#[tokio::test]
async fn agent_without_the_bottle_ca_cannot_complete_a_handshake() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.github.com")
        .run()
        .await;
    h.allow("api.github.com")
        .map_host("api.github.com", up.addr());
    let proxy = h.start().await;
    let tcp = tunnel_to(&h, proxy.addr(), "api.github.com:443").await;
    let other = bottle_testkit::upstream::TestCa::new("not the bottle CA");
    assert!(
        client::tls(tcp, "api.github.com", other.client_config(&[b"http/1.1"]))
            .await
            .is_err()
    );
    h.wait_audit(|l| l["rule"] == "handshake-failed").await;
    assert_eq!(up.connections(), 0);
}
