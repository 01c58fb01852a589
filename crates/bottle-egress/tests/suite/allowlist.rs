//! Check 2: host, port, method and path rules, on plain HTTP and inside
//! intercepted tunnels; plus the health endpoint.

use super::common::*;
use bottle_testkit::upstream;
use bytes::Bytes;

#[tokio::test]
async fn allowed_plain_http_reaches_upstream_and_is_audited() {
    let up = upstream::http().route("/hello", "hi there").run().await;
    let mut h = Harness::new();
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let r = get(
        proxy.addr(),
        &format!("http://127.0.0.1:{}/hello?token=abc", up.port()),
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (200, "hi there"));
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.requests()[0].path, "/hello?token=abc");
    let line = h.last_audit().await;
    assert_eq!(line["decision"], "allow");
    assert_eq!(line["check"], "allowed");
    assert_eq!(line["rule"], format!("127.0.0.1:{}", up.port()));
    assert_eq!(line["method"], "GET");
    assert_eq!(line["scheme"], "http");
    assert_eq!(line["host"], "127.0.0.1");
    assert_eq!(line["port"], up.port());
    assert_eq!(line["path"], "/hello?[redacted]", "the query is redacted");
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes_down"], 8);
    assert_eq!(line["tls"], "none");
    assert_eq!(line["bottle"], "test");
    assert_eq!(line["sidecar"], "egress");
    for key in ["time", "bytes_up", "duration_ms"] {
        assert!(line.get(key).is_some(), "audit line lacks {key}: {line}");
    }
}

#[tokio::test]
async fn unlisted_host_is_blocked_without_any_connection() {
    let up = upstream::http().run().await;
    let mut h = Harness::new();
    h.loopback().allow("api.github.com");
    let proxy = h.start().await;
    let r = get(proxy.addr(), &format!("http://127.0.0.1:{}/", up.port())).await;
    assert_blocked(&r, 403, "allowlist:host-not-allowed");
    assert_eq!(up.connections(), 0);
    assert!(h.connector.attempts().is_empty());
    let line = h.last_audit().await;
    assert_eq!(
        (
            line["decision"].as_str(),
            line["check"].as_str(),
            line["rule"].as_str()
        ),
        (Some("block"), Some("allowlist"), Some("host-not-allowed"))
    );
    assert_eq!(line["status"], 403);
}

#[tokio::test]
async fn port_rules() {
    let up = upstream::http().run().await;
    let mut h = Harness::new();
    h.loopback().allow("127.0.0.1:1");
    let proxy = h.start().await;
    let r = get(proxy.addr(), &format!("http://127.0.0.1:{}/", up.port())).await;
    assert_blocked(&r, 403, "allowlist:port-not-allowed");
    // An entry without a port allows only 80 and 443.
    let mut h = Harness::new();
    h.loopback().allow("127.0.0.1");
    let proxy = h.start().await;
    let r = get(proxy.addr(), &format!("http://127.0.0.1:{}/", up.port())).await;
    assert_blocked(&r, 403, "allowlist:port-not-allowed");
    assert_eq!(up.connections(), 0);
}

#[tokio::test]
async fn wildcard_matches_subdomains_not_the_apex() {
    let up = upstream::http().run().await;
    let mut h = Harness::new();
    h.loopback().allow(&format!("*.example.test:{}", up.port()));
    let lo = ["127.0.0.1".parse().unwrap()];
    h.resolver.insert("a.example.test", lo);
    h.resolver.insert("b.a.example.test", lo);
    h.resolver.insert("example.test", lo);
    h.resolver.insert("badexample.test", lo);
    let proxy = h.start().await;
    for (host, want) in [
        ("a.example.test", 200),
        ("B.A.Example.Test", 200),
        ("example.test", 403),
        ("badexample.test", 403),
    ] {
        let r = get(proxy.addr(), &format!("http://{host}:{}/", up.port())).await;
        assert_eq!(r.status, want, "{host}: {}", r.text());
        if want == 403 {
            assert_blocked(&r, 403, "allowlist:host-not-allowed");
        }
    }
    assert_eq!(up.requests().len(), 2);
    // Names that failed the allowlist were never resolved (no DNS leak).
    assert_eq!(
        h.resolver.calls(),
        vec!["a.example.test", "b.a.example.test"]
    );
}

#[tokio::test]
async fn method_and_path_rules_inside_an_intercepted_tunnel() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.example.test")
        .run()
        .await;
    h.allow_rule("api.example.test", &["GET"], &["/v1/*"])
        .map_host("api.example.test", up.addr());
    let proxy = h.start().await;
    let a = proxy.addr();
    let ok = https(
        &h,
        a,
        "api.example.test:443",
        "GET",
        "/v1/users?page=2",
        &[],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["path"], "/v1/users?page=2");
    for (method, path) in [
        ("POST", "/v1/users"),
        ("GET", "/v2/users"),
        ("GET", "/v1/../admin"),
        ("GET", "/v1/%2e%2e/admin"),
    ] {
        let r = https(
            &h,
            a,
            "api.example.test:443",
            method,
            path,
            &[],
            Bytes::new(),
            false,
        )
        .await
        .unwrap();
        assert_blocked(&r, 403, "allowlist:method-or-path-not-allowed");
    }
    // The same over HTTP/2.
    let r = https(
        &h,
        a,
        "api.example.test:443",
        "DELETE",
        "/v1/users",
        &[],
        Bytes::new(),
        true,
    )
    .await
    .unwrap();
    assert_blocked(&r, 403, "allowlist:method-or-path-not-allowed");
    assert_eq!(up.requests().len(), 1, "only the allowed request arrived");
    let blocked = h.wait_audit(|l| l["method"] == "DELETE").await;
    assert_eq!(
        (blocked["tls"].as_str(), blocked["scheme"].as_str()),
        (Some("intercepted"), Some("https"))
    );
}

/// A refused CONNECT is answered where the client can read it: the tunnel
/// is accepted, TLS completes with a leaf the bottle CA minted for the name,
/// and every request inside gets the 403 naming the host, the check and
/// rule, and the manifest line that would allow it. The name is never
/// resolved and nothing connects upstream.
#[tokio::test]
async fn connect_to_unlisted_host_is_answered_inside_the_tunnel_without_resolution() {
    let mut h = Harness::new();
    h.allow("api.github.com");
    h.resolver
        .insert("evil.test", ["127.0.0.1".parse().unwrap()]);
    let proxy = h.start().await;
    for h2 in [false, true] {
        let r = https(
            &h,
            proxy.addr(),
            "evil.test:443",
            "GET",
            "/v1/x?q=1",
            &[],
            Bytes::new(),
            h2,
        )
        .await
        .expect("the tunnel is accepted and TLS completes");
        assert_blocked(&r, 403, "allowlist:host-not-allowed");
        let text = r.text();
        assert!(
            text.contains("evil.test is not on this bottle's allowlist"),
            "{text}"
        );
        assert!(text.contains(r#"allowlist = ["evil.test"]"#), "{text}");
    }
    let r = https(
        &h,
        proxy.addr(),
        "evil.test:8443",
        "POST",
        "/",
        &[],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert!(
        r.text().contains(r#"allowlist = ["evil.test:8443"]"#),
        "{}",
        r.text()
    );
    assert!(
        h.resolver.calls().is_empty(),
        "a refused name must not be looked up"
    );
    assert!(h.connector.attempts().is_empty(), "nothing went upstream");
    let line = h.wait_audit(|l| l["method"] == "CONNECT").await;
    assert_eq!(
        (
            line["decision"].as_str(),
            line["host"].as_str(),
            line["port"].as_u64(),
            line["rule"].as_str(),
        ),
        (
            Some("block"),
            Some("evil.test"),
            Some(443),
            Some("host-not-allowed")
        )
    );
    // Each request inside is a block line of its own, with its method and
    // path (the query redacted).
    let inner = h.wait_audit(|l| l["method"] == "GET").await;
    assert_eq!(
        (
            inner["decision"].as_str(),
            inner["path"].as_str(),
            inner["tls"].as_str(),
            inner["status"].as_u64()
        ),
        (
            Some("block"),
            Some("/v1/x?[redacted]"),
            Some("intercepted"),
            Some(403)
        )
    );
}

/// Plain HTTP sent into a refused tunnel gets the 403 on the raw stream;
/// an SSH client gets the reason as text lines before the connection
/// closes (lines a server may send before its version line).
#[tokio::test]
async fn refused_tunnel_answers_plain_http_and_ssh_in_their_own_terms() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut h = Harness::new();
    h.allow("api.github.com");
    let proxy = h.start().await;
    let (status, _, mut tcp) = upstream::client::connect(proxy.addr(), "git.evil.test:22")
        .await
        .unwrap();
    assert_eq!(status, 200);
    tcp.write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n").await.unwrap();
    let mut got = String::new();
    tcp.read_to_string(&mut got).await.unwrap();
    assert!(
        got.contains("blocked by allowlist:host-not-allowed"),
        "{got}"
    );
    assert!(got.contains(r#"allowlist = ["git.evil.test:22"]"#), "{got}");
    for line in got.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(
            !line.starts_with("SSH-"),
            "{line:?} would read as a version line"
        );
    }
    let (_, _, mut tcp) = upstream::client::connect(proxy.addr(), "evil.test:80")
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n")
        .await
        .unwrap();
    let mut got = String::new();
    tcp.read_to_string(&mut got).await.unwrap();
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    assert!(
        got.contains("x-bottle-block: allowlist:host-not-allowed"),
        "{got}"
    );
    assert!(h.connector.attempts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoint_and_origin_form_requests() {
    let h = Harness::new();
    let proxy = h.start().await;
    let addr = proxy.addr();
    tokio::task::spawn_blocking(move || {
        bottle_egress::health_check(addr, std::time::Duration::from_secs(5))
    })
    .await
    .unwrap()
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let req = http::Request::get("/somewhere")
        .header("host", "x")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let r = bottle_testkit::upstream::client::send_h1(tcp, req)
        .await
        .unwrap();
    assert_blocked(&r, 400, "parse:not-a-proxy-request");
    // Nothing listens here: the health check must fail, not hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(bottle_egress::health_check(closed, std::time::Duration::from_secs(2)).is_err());
}

/// Learn mode lets a host the allowlist refuses through and logs it as
/// `learned`; the name's shape (all labels below its registrable domain),
/// DLP and SSRF still block.
#[tokio::test]
async fn learn_mode_records_unlisted_hosts_and_keeps_the_other_checks() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("api.learn.test")
        .run()
        .await;
    h.cfg.learn = true;
    h.map_host("api.learn.test", up.addr());
    h.resolver
        .insert("db.learn.test", ["10.0.0.5".parse().unwrap()]);
    let proxy = h.start().await;
    let a = proxy.addr();
    let ok = https(
        &h,
        a,
        "api.learn.test:443",
        "GET",
        "/v1",
        &[],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    let line = h.wait_audit(|l| l["path"] == "/v1").await;
    assert_eq!(
        (line["decision"].as_str(), line["rule"].as_str()),
        (Some("allow"), Some("learned"))
    );
    // A DNS-exfiltration shape in a learned name is still refused.
    let r = get(
        a,
        "http://4a6f686e20446f65206b6e6f777320746865207365637265742e.learn.test/",
    )
    .await;
    assert_blocked_by(&r, 403, "dns-exfil");
    // SSRF still applies to learned names.
    let r = get(a, "http://db.learn.test/").await;
    assert_blocked_by(&r, 403, "ssrf");
    // DLP too.
    let token = github_token();
    let r = https(
        &h,
        a,
        "api.learn.test:443",
        "POST",
        "/u",
        &[],
        Bytes::from(format!("t={token}")),
        false,
    )
    .await
    .unwrap();
    assert_blocked_by(&r, 403, "dlp-body");
}
