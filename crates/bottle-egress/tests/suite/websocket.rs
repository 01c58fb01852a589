//! WebSocket upgrades: messages from the agent are scanned whole (fragments
//! reassembled); a secret closes the connection and is logged as a block.

use super::common::*;
use bottle_testkit::upstream::{self, client, ws};

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
    let (status, _, tcp) = client::connect(proxy.addr(), "ws.example.com:443")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let mut s = client::tls(tcp, "ws.example.com", h.agent_tls(&[b"http/1.1"]))
        .await
        .unwrap();
    let (code, headers) = ws::client_handshake(&mut s, "ws.example.com", "/socket")
        .await
        .unwrap();
    assert_eq!(code, 101, "{headers:?}");
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
