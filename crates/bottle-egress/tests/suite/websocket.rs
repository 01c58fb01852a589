//! WebSocket upgrades: messages from the agent are scanned whole (fragments
//! reassembled); a secret closes the connection and is logged as a block.

use super::common::*;
use bottle_testkit::upstream::{self, client, ws};

/// CONNECT to `host:443` through the proxy, TLS with the bottle's CA, and a
/// WebSocket handshake for `path`: the stream and the 101's headers.
async fn wss(
    h: &Harness,
    proxy: std::net::SocketAddr,
    host: &str,
    path: &str,
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<(String, String)>,
) {
    let (status, _, tcp) = client::connect(proxy, &format!("{host}:443"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let mut s = client::tls(tcp, host, h.agent_tls(&[b"http/1.1"]))
        .await
        .unwrap();
    let (code, headers) = ws::client_handshake(&mut s, host, path).await.unwrap();
    assert_eq!(code, 101, "{headers:?}");
    (s, headers)
}

/// A plain-HTTP WebSocket upgrade through the forward proxy to the
/// upstream's `/ws` on 127.0.0.1:`port`.
async fn ws_forward(proxy: std::net::SocketAddr, port: u16) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let target = format!("http://127.0.0.1:{port}/ws");
    let (code, _) = ws::client_handshake(&mut s, &format!("127.0.0.1:{port}"), &target)
        .await
        .unwrap();
    assert_eq!(code, 101);
    s
}

#[tokio::test]
async fn websocket_messages_are_scanned_and_a_secret_closes_the_connection() {
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("ws.example.com")
        .websocket_echo("/socket")
        .run()
        .await;
    h.allow("ws.example.com")
        .map_host("ws.example.com", up.addr());
    let proxy = h.start().await;
    let (mut s, _) = wss(&h, proxy.addr(), "ws.example.com", "/socket").await;
    // Extensions were stripped, so frames stay scannable.
    assert_eq!(up.requests()[0].header("sec-websocket-extensions"), None);

    ws::write_frame(&mut s, 1, b"hello", true, true)
        .await
        .unwrap();
    let echo = ws::read_frame(&mut s).await.unwrap();
    assert_eq!((echo.opcode, echo.payload.as_slice()), (1, &b"hello"[..]));

    // A clean message in three fragments arrives reassembled.
    ws::write_frame(&mut s, 1, b"frag", false, true)
        .await
        .unwrap();
    ws::write_frame(&mut s, 0, b"mented ", false, true)
        .await
        .unwrap();
    ws::write_frame(&mut s, 0, b"message", true, true)
        .await
        .unwrap();
    let echo = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(echo.payload, b"fragmented message");

    // A secret split over fragments: nothing of it may reach the upstream.
    let t = github_token();
    let msg = format!("{{\"token\":\"{t}\"}}");
    let (a, b) = msg.as_bytes().split_at(14);
    ws::write_frame(&mut s, 1, a, false, true).await.unwrap();
    ws::write_frame(&mut s, 0, b, true, true).await.unwrap();
    let close = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(close.opcode, 8);
    assert_eq!(&close.payload[..2], &[0x03, 0xf0], "close code 1008");
    assert!(String::from_utf8_lossy(&close.payload[2..]).contains("dlp-websocket:github-pat"));
    assert!(
        ws::read_frame(&mut s).await.is_err(),
        "the connection is closed"
    );

    let seen = up.ws_messages();
    assert_eq!(
        seen,
        vec![b"hello".to_vec(), b"fragmented message".to_vec()]
    );
    let line = h.wait_audit(|l| l["check"] == "dlp-websocket").await;
    assert_eq!(
        (
            line["decision"].as_str(),
            line["rule"].as_str(),
            line["host"].as_str()
        ),
        (Some("block"), Some("github-pat"), Some("ws.example.com"))
    );
    let upgrade = h.wait_audit(|l| l["status"] == 101).await;
    assert_eq!(upgrade["decision"], "allow");
    assert!(!h.audit_text().contains(&t));
}

#[tokio::test]
async fn plain_ws_upgrade_through_the_forward_proxy() {
    let up = upstream::http().websocket_echo("/ws").run().await;
    let mut h = Harness::new();
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let target = format!("http://127.0.0.1:{}/ws", up.port());
    let (code, _) = ws::client_handshake(&mut s, &format!("127.0.0.1:{}", up.port()), &target)
        .await
        .unwrap();
    assert_eq!(code, 101);
    ws::write_frame(&mut s, 2, &[1, 2, 3], true, true)
        .await
        .unwrap();
    assert_eq!(ws::read_frame(&mut s).await.unwrap().payload, vec![1, 2, 3]);
    // Unmasked client frames break the protocol: refused.
    ws::write_frame(&mut s, 1, b"unmasked", true, false)
        .await
        .unwrap();
    let close = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(close.opcode, 8);
    assert_eq!(up.ws_messages(), vec![vec![1, 2, 3]]);
    h.wait_audit(|l| l["check"] == "dlp-websocket" && l["rule"] == "undecodable")
        .await;
}

/// Issue 12, class 6: a token split across two messages (not fragments) is
/// caught by scanning the previous message's tail with the next one; a
/// `Bearer` JWT inside a message is caught; ordinary chat messages pass.
#[tokio::test]
async fn issue12_token_split_across_messages_and_jwts_in_messages() {
    let up = upstream::http().websocket_echo("/ws").run().await;
    let mut h = Harness::new();
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let open = || ws_forward(proxy.addr(), up.port());
    // Benign twin first: chat-like messages, one mentioning "ghp".
    let mut s = open().await;
    for m in [
        &b"{\"type\":\"hello\"}"[..],
        b"{\"text\":\"tokens start with ghp\"}",
        b"{\"text\":\"_ and then 36 characters\"}",
    ] {
        ws::write_frame(&mut s, 1, m, true, true).await.unwrap();
        assert_eq!(ws::read_frame(&mut s).await.unwrap().payload, m);
    }
    let t = github_token();
    let (a, b) = t.split_at(6);
    ws::write_frame(&mut s, 1, format!("{{\"p\":\"{a}").as_bytes(), true, true)
        .await
        .unwrap();
    ws::read_frame(&mut s).await.unwrap();
    ws::write_frame(&mut s, 1, format!("{b}\"}}").as_bytes(), true, true)
        .await
        .unwrap();
    let close = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(close.opcode, 8, "the second half completes the token");
    assert!(String::from_utf8_lossy(&close.payload[2..]).contains("dlp-websocket:"));
    // Split with a label before each half: the first half alone, a vendor
    // prefix and a run of capitals, is a fragment.
    let mut s = open().await;
    ws::write_frame(&mut s, 1, b"part1: ghp_ABCDEFGHIJKLMN", true, true)
        .await
        .unwrap();
    let close = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(close.opcode, 8, "the labelled first half is a fragment");
    assert!(String::from_utf8_lossy(&close.payload[2..]).contains("github-pat-fragment"));
    // A JWT behind `Bearer` in a message.
    let mut s = open().await;
    let b64 = |v: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let jwt = format!(
        "{}.{}.{}",
        b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"),
        b64("{\"sub\":\"1234567890\",\"name\":\"agent\",\"iat\":1516239022}"),
        random_alnum(43)
    );
    let msg = format!("{{\"auth\":\"Bearer {jwt}\"}}");
    ws::write_frame(&mut s, 1, msg.as_bytes(), true, true)
        .await
        .unwrap();
    let close = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(close.opcode, 8);
    let seen = up.ws_messages();
    assert!(
        !seen
            .iter()
            .any(|m| m.windows(b.len()).any(|w| w == b.as_bytes()))
    );
    assert!(
        !seen
            .iter()
            .any(|m| m.windows(20).any(|w| w == &jwt.as_bytes()[..20]))
    );
}

/// Issue 12, class 6: a JWT anywhere in a message (no `Bearer`, no `eyJ`
/// keyword: a header with a space decodes to `{ "alg"…`) and a `Bearer`
/// value that is no JWT block; chat messages that talk about tokens pass.
#[tokio::test]
async fn issue12_jwts_and_bearer_values_in_messages_block() {
    let up = upstream::http().websocket_echo("/ws").run().await;
    let mut h = Harness::new();
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let open = || ws_forward(proxy.addr(), up.port());
    let b64 = |v: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let jwt = format!(
        "{}.{}.{}",
        b64("{ \"alg\": \"RS256\", \"kid\": \"k1\" }"),
        b64("{\"sub\":\"agent\",\"exp\":1900000000}"),
        random_alnum(43)
    );
    let bearer = random_alnum(40);
    for (msg, rule) in [
        (format!("{{\"session\":\"{jwt}\"}}"), "jwt"),
        (
            format!("{{\"header\":\"bearer {bearer}\"}}"),
            "bearer-token",
        ),
    ] {
        let mut s = open().await;
        ws::write_frame(&mut s, 1, msg.as_bytes(), true, true)
            .await
            .unwrap();
        let close = ws::read_frame(&mut s).await.unwrap();
        assert_eq!(close.opcode, 8, "{msg}");
        let reason = String::from_utf8_lossy(&close.payload[2..]).to_string();
        assert!(
            reason.contains(&format!("dlp-websocket:{rule}")),
            "{reason}"
        );
    }
    // Benign twin: talk about tokens, short or placeholder values.
    let mut s = open().await;
    for m in [
        &b"{\"text\":\"send the bearer token in the Authorization header\"}"[..],
        b"{\"text\":\"Bearer ${TOKEN} is read from the environment\"}",
        b"{\"text\":\"a.b.c is not a JWT, nor is v1.2.3 or example.com.au\"}",
        b"{\"type\":\"ping\",\"id\":\"3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f\"}",
    ] {
        ws::write_frame(&mut s, 1, m, true, true).await.unwrap();
        assert_eq!(ws::read_frame(&mut s).await.unwrap().payload, m);
    }
    let seen = up.ws_messages();
    assert!(
        !seen
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains(&bearer))
    );
    assert!(!h.audit_text().contains(&bearer));
}

/// Issue 12, class 6, the benign twin of JWTs and `Bearer` values in
/// messages: a session token the upstream issued down the connection goes
/// back to it (real protocols authenticate later messages that way); a
/// token the upstream did not send still closes the connection.
#[tokio::test]
async fn issue12_a_token_the_upstream_issued_may_go_back_to_it() {
    let b64 = |v: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let jwt = |sid: &str| {
        format!(
            "{}.{}.{}",
            b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"),
            b64(&format!("{{\"sub\":\"agent\",\"sid\":\"{sid}\"}}")),
            random_alnum(43)
        )
    };
    let session = jwt("s-1");
    let ticket = random_alnum(32);
    let greeting = format!(
        "{{\"type\":\"welcome\",\"session\":\"{session}\",\"ticket\":\"Bearer {ticket}\"}}"
    );
    let up = upstream::http()
        .websocket_greet_then_echo("/ws", greeting.clone())
        .run()
        .await;
    let mut h = Harness::new();
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let open = || async {
        let mut s = ws_forward(proxy.addr(), up.port()).await;
        let hello = ws::read_frame(&mut s).await.unwrap();
        assert_eq!(hello.payload, greeting.as_bytes());
        s
    };
    let mut s = open().await;
    for m in [
        format!("{{\"type\":\"auth\",\"token\":\"Bearer {session}\"}}"),
        format!("{{\"type\":\"resume\",\"ticket\":\"Bearer {ticket}\"}}"),
    ] {
        ws::write_frame(&mut s, 1, m.as_bytes(), true, true)
            .await
            .unwrap();
        let echo = ws::read_frame(&mut s).await.unwrap();
        assert_eq!((echo.opcode, echo.payload), (1, m.into_bytes()));
    }
    // A JWT of the same shape that the upstream did not issue.
    let forged = jwt("s-2");
    let mut s = open().await;
    let msg = format!("{{\"type\":\"auth\",\"token\":\"Bearer {forged}\"}}");
    ws::write_frame(&mut s, 1, msg.as_bytes(), true, true)
        .await
        .unwrap();
    let close = ws::read_frame(&mut s).await.unwrap();
    assert_eq!(close.opcode, 8);
    assert!(String::from_utf8_lossy(&close.payload[2..]).contains("dlp-websocket:"));
    assert!(!up.ws_messages().iter().any(|m| m == msg.as_bytes()));
}

/// Issue 12, class 7 over WebSocket: the credential's own host reflects
/// the upgrade request (in the 101's headers and in a message cut in two
/// fragments, verbatim and base64); the agent reads its placeholder, never
/// the credential, and the upstream got the real value. Benign twin: the
/// agent's own messages come back unchanged.
#[tokio::test]
async fn issue12_a_credential_reflected_over_a_websocket_reaches_the_agent_as_its_placeholder() {
    use base64::Engine;
    use bottle_egress::{Credential, Secret};
    let mut h = Harness::new();
    let up = upstream::https(&h.upstream_ca)
        .name("ws.example.com")
        .websocket_reflect("/debug/socket")
        .run()
        .await;
    let real = format!("sk-real-{}", random_alnum(32));
    let placeholder = "bottle-placeholder-example-ws-key";
    h.cfg.credentials.push(Credential {
        host: "ws.example.com".into(),
        header: "authorization".into(),
        value: Secret::new(format!("Bearer {real}")),
        placeholder: Some(placeholder.into()),
    });
    h.allow("ws.example.com")
        .map_host("ws.example.com", up.addr());
    let proxy = h.start().await;
    let (mut s, headers) = wss(&h, proxy.addr(), "ws.example.com", "/debug/socket").await;
    let heads = format!("{headers:?}");
    assert!(!heads.contains(&real), "{heads}");
    assert!(heads.contains(placeholder), "{heads}");
    let mut quoted = Vec::new();
    loop {
        let f = ws::read_frame(&mut s).await.unwrap();
        quoted.extend_from_slice(&f.payload);
        if f.fin {
            break;
        }
    }
    let quoted = String::from_utf8(quoted).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {real}"));
    for form in [&real, &b64] {
        assert!(
            !quoted.contains(form.as_str()),
            "the agent read the credential: {quoted}"
        );
    }
    assert!(
        quoted.contains(&format!("authorization: Bearer {placeholder}")),
        "{quoted}"
    );
    assert!(quoted.contains("authorization (base64): "), "{quoted}");
    assert_eq!(
        up.requests()[0].header("authorization"),
        Some(format!("Bearer {real}").as_str())
    );
    // The agent's own messages pass through the redacting relay unchanged.
    for m in [&b"{\"type\":\"ping\"}"[..], &[0u8; 300][..], b"x"] {
        ws::write_frame(&mut s, 2, m, true, true).await.unwrap();
        let echo = ws::read_frame(&mut s).await.unwrap();
        assert_eq!((echo.opcode, echo.payload.as_slice()), (2, m));
    }
}
