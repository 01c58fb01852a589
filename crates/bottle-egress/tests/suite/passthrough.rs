//! The passthrough relay through the proxy: large transfers both ways,
//! half-close in either order, exact byte counts in the audit line.
//!
//! The agent sends a real ClientHello (made by rustls for the CONNECT host)
//! and then raw bytes: past the ClientHello a passthrough tunnel is opaque,
//! so the upstream here is a plain TCP server that checks every byte it
//! gets and answers with bytes of its own, which makes the counts exact.

use super::common::Harness;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HOST: &str = "static.crates.io";

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn client_hello(h: &Harness) -> Vec<u8> {
    let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();
    let mut conn =
        rustls::ClientConnection::new(h.upstream_ca.client_config(&[b"http/1.1"]), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    assert_eq!(hello[0], 0x16, "a TLS handshake record");
    hello
}

/// CONNECT, the ClientHello and the first bytes of data in one write (so
/// the proxy holds some of the payload before the relay starts); returns
/// the socket after the `200`.
async fn open(proxy: std::net::SocketAddr, hello: &[u8], head: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let mut first = format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").into_bytes();
    first.extend_from_slice(hello);
    first.extend_from_slice(head);
    s.write_all(&first).await.unwrap();
    let mut resp = Vec::new();
    while !resp.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "the proxy closed: {resp:?}"
        );
        resp.push(b[0]);
    }
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    s
}

fn passthrough_lines(h: &Harness) -> Vec<Value> {
    h.audit()
        .into_iter()
        .filter(|l| l["tls"] == "passthrough")
        .collect()
}

async fn tunnel(
    h: &Harness,
    proxy: std::net::SocketAddr,
    up: &TcpListener,
    agent_first: bool,
    nth: usize,
) {
    let hello = client_hello(h);
    let up_data = Arc::new(pattern(7, 24 * 1024 * 1024 + 3));
    let down_data = Arc::new(pattern(9, 20 * 1024 * 1024 + 11));
    let head = 100 * 1024;

    let upstream = {
        let (up_data, down_data, hello) = (up_data.clone(), down_data.clone(), hello.clone());
        let accept = up.accept();
        async move {
            let (mut s, _) = accept.await.unwrap();
            let (mut r, mut w) = s.split();
            let mut got = Vec::new();
            if agent_first {
                // Answer only after the agent's EOF came through the relay.
                r.read_to_end(&mut got).await.unwrap();
                w.write_all(&down_data).await.unwrap();
                w.shutdown().await.unwrap();
            } else {
                let send = async {
                    w.write_all(&down_data).await.unwrap();
                    w.shutdown().await.unwrap();
                };
                tokio::join!(send, r.read_to_end(&mut got)).1.unwrap();
            }
            assert!(
                got.starts_with(&hello),
                "the ClientHello comes first, unchanged"
            );
            assert!(
                got[hello.len()..] == up_data[..],
                "upstream got {} payload bytes, expected {}",
                got.len() - hello.len(),
                up_data.len()
            );
        }
    };
    let agent = async {
        let mut s = open(proxy, &hello, &up_data[..head]).await;
        let (mut r, mut w) = s.split();
        let send = async {
            w.write_all(&up_data[head..]).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        if agent_first {
            send.await;
            r.read_to_end(&mut got).await.unwrap();
        } else {
            // The upstream half-closes first; the agent keeps sending.
            tokio::join!(send, r.read_to_end(&mut got)).1.unwrap();
        }
        assert!(
            got == down_data[..],
            "agent got {} bytes, expected {}",
            got.len(),
            down_data.len()
        );
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        tokio::join!(upstream, agent)
    })
    .await
    .expect("the tunnel finished");

    // This tunnel's line is the `nth` passthrough line (written on close).
    h.wait_audit(|_| passthrough_lines(h).len() >= nth).await;
    let line = passthrough_lines(h)[nth - 1].clone();
    assert_eq!(line["decision"], "allow", "{line}");
    assert_eq!(
        line["bytes_up"].as_u64(),
        Some((hello.len() + up_data.len()) as u64),
        "bytes_up is the ClientHello plus the payload: {line}"
    );
    assert_eq!(
        line["bytes_down"].as_u64(),
        Some(down_data.len() as u64),
        "{line}"
    );
}

#[tokio::test]
async fn passthrough_relays_large_transfers_both_ways_with_half_close() {
    let mut h = Harness::new();
    let up = TcpListener::bind("127.0.0.1:0").await.unwrap();
    h.cfg.passthrough.push(HOST.into());
    h.map_host(HOST, up.local_addr().unwrap());
    let proxy = h.start().await;
    // The agent half-closes first, then the upstream answers.
    tunnel(&h, proxy.addr(), &up, true, 1).await;
    // Both send at once; the upstream finishes (and half-closes) first.
    tunnel(&h, proxy.addr(), &up, false, 2).await;
}
