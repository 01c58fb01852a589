//! In-process upstream servers on loopback, built with small builders in the
//! style of linkerd's test servers:
//!
//! ```ignore
//! let ca = TestCa::new("upstream");
//! let up = upstream::https(&ca).name("api.github.com").route("/hello", "hi").run().await;
//! // up.addr(), up.requests(), up.connections()
//! ```
//!
//! Every server is real: HTTP/1.1 and HTTP/2 over real TLS (certificates
//! from a [`TestCa`]), a real WebSocket handshake and framing. Any path
//! without a route answers with an echo of the request (method, path,
//! version, headers, body) as JSON, so tests can see exactly what arrived.
//!
//! The [`client`] module holds the matching client side: CONNECT through a
//! proxy, TLS with chosen roots and ALPN, HTTP/1.1 and HTTP/2 requests, and a
//! minimal WebSocket client.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A throwaway certificate authority for upstream servers (distinct from
/// the bottle's CA, which the proxy uses towards the agent).
/// Cheap to clone (shared inside).
#[derive(Clone)]
pub struct TestCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Arc<Issuer<'static, KeyPair>>,
}

impl TestCa {
    /// A new P-256 CA whose common name is `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Arc::new(Issuer::new(params, key)),
        }
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Write the CA certificate to `dir/<file>` and return the path.
    pub fn write_pem(&self, dir: &Path, file: &str) -> PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, &self.cert_pem).expect("write CA pem");
        p
    }

    /// A leaf for `names` (DNS names or IP literals), as a rustls server
    /// config with the given ALPN protocols.
    pub fn server_config(&self, names: &[String], alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = CertificateParams::new(names.to_vec()).expect("leaf params");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Arc::new(cfg)
    }

    /// A client config trusting only this CA.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        client::client_config_for(std::slice::from_ref(&self.cert_der), alpn)
    }
}

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Headers in order (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl Recorded {
    /// First value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
enum Route {
    Static(StatusCode, Bytes, Vec<(String, String)>),
    /// An echo, after an optional first text message from the server, or
    /// (`reflect`) one that quotes the upgrade request's headers.
    WebSocketEcho {
        greeting: Option<Bytes>,
        reflect: bool,
    },
    Reflect,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocols {
    Auto,
    Http1,
    Http2,
}

/// Builds an upstream. See [`http()`] and [`https()`].
pub struct Builder {
    tls: Option<(TestCa, Vec<String>)>,
    protocols: Protocols,
    routes: HashMap<String, Route>,
}

/// A plain-HTTP upstream (HTTP/1.1; add [`Builder::http2_only`] for h2c).
pub fn http() -> Builder {
    Builder {
        tls: None,
        protocols: Protocols::Http1,
        routes: HashMap::new(),
    }
}

/// An HTTPS upstream whose certificate `ca` signs, for `127.0.0.1` and
/// `localhost` unless [`Builder::name`] says otherwise. Offers `h2` and
/// `http/1.1` by ALPN.
pub fn https(ca: &TestCa) -> Builder {
    Builder {
        tls: Some((ca.clone(), Vec::new())),
        protocols: Protocols::Auto,
        routes: HashMap::new(),
    }
}

impl Builder {
    /// Add a certificate name (DNS name or IP literal).
    pub fn name(mut self, name: &str) -> Self {
        if let Some((_, names)) = &mut self.tls {
            names.push(name.to_string());
        }
        self
    }

    /// Speak only HTTP/1.1 (ALPN `http/1.1`).
    pub fn http1_only(mut self) -> Self {
        self.protocols = Protocols::Http1;
        self
    }

    /// Speak only HTTP/2 (ALPN `h2`; prior knowledge without TLS).
    pub fn http2_only(mut self) -> Self {
        self.protocols = Protocols::Http2;
        self
    }

    /// Answer `path` (exact, without query) with 200 and `body`.
    pub fn route(mut self, path: &str, body: impl Into<Bytes>) -> Self {
        self.routes.insert(
            path.to_string(),
            Route::Static(StatusCode::OK, body.into(), Vec::new()),
        );
        self
    }

    /// Answer `path` with 200, these response headers and `body`.
    pub fn route_headers(
        mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Self {
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.routes.insert(
            path.to_string(),
            Route::Static(StatusCode::OK, body.into(), headers),
        );
        self
    }

    /// Answer `path` with `status` and `body`.
    pub fn route_status(mut self, path: &str, status: u16, body: impl Into<Bytes>) -> Self {
        let status = StatusCode::from_u16(status).expect("status");
        self.routes.insert(
            path.to_string(),
            Route::Static(status, body.into(), Vec::new()),
        );
        self
    }

    /// Reflect the request at `path`, as debug endpoints and error pages
    /// do: the echo body plus every header's value base64-encoded
    /// (`headers_b64`), and each request header back as `x-echo-<name>`.
    pub fn reflect_headers(mut self, path: &str) -> Self {
        self.routes.insert(path.to_string(), Route::Reflect);
        self
    }

    /// Serve a WebSocket echo at `path`: every message comes back whole, and
    /// is recorded in [`Upstream::ws_messages`].
    pub fn websocket_echo(mut self, path: &str) -> Self {
        self.routes.insert(
            path.to_string(),
            Route::WebSocketEcho {
                greeting: None,
                reflect: false,
            },
        );
        self
    }

    /// Like [`Builder::websocket_echo`], but the server speaks
    /// first: `greeting` as a text message right after the handshake (a
    /// session token it issues, say).
    pub fn websocket_greet_then_echo(mut self, path: &str, greeting: impl Into<Bytes>) -> Self {
        self.routes.insert(
            path.to_string(),
            Route::WebSocketEcho {
                greeting: Some(greeting.into()),
                reflect: false,
            },
        );
        self
    }

    /// A WebSocket echo that first reflects the upgrade request, as a debug
    /// endpoint would: a text message in two fragments holding every
    /// `name: value` header line and each value base64-encoded, and the
    /// `Authorization` header back as `x-echo-authorization` on the 101.
    pub fn websocket_reflect(mut self, path: &str) -> Self {
        self.routes.insert(
            path.to_string(),
            Route::WebSocketEcho {
                greeting: None,
                reflect: true,
            },
        );
        self
    }

    /// Bind 127.0.0.1:0 and serve in the background until the [`Upstream`]
    /// is dropped.
    pub async fn run(self) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            routes: self.routes,
            requests: Mutex::new(Vec::new()),
            ws_messages: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let tls = self.tls.map(|(h, mut names)| {
            if names.is_empty() {
                names = vec!["127.0.0.1".into(), "localhost".into()];
            }
            let alpn: &[&[u8]] = match self.protocols {
                Protocols::Auto => &[b"h2", b"http/1.1"],
                Protocols::Http1 => &[b"http/1.1"],
                Protocols::Http2 => &[b"h2"],
            };
            tokio_rustls::TlsAcceptor::from(h.server_config(&names, alpn))
        });
        let protocols = self.protocols;
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acc) => {
                            let Ok(stream) = acc.accept(tcp).await else {
                                return;
                            };
                            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            serve(st, TokioIo::new(stream), h2).await;
                        }
                        None => serve(st, TokioIo::new(tcp), protocols == Protocols::Http2).await,
                    }
                });
            }
        });
        Upstream { addr, state, task }
    }
}

struct State {
    routes: HashMap<String, Route>,
    requests: Mutex<Vec<Recorded>>,
    ws_messages: Mutex<Vec<Vec<u8>>>,
    connections: AtomicUsize,
}

async fn serve<I>(st: Arc<State>, io: I, h2: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let st = st.clone();
        async move { Ok::<_, Infallible>(handle(st, req).await) }
    });
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, svc)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, svc)
            .with_upgrades()
            .await;
    }
}

async fn handle(st: Arc<State>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let route = st.routes.get(req.uri().path()).cloned();
    if let Some(Route::WebSocketEcho { greeting, reflect }) = route {
        return websocket_accept(st, &mut req, greeting, reflect);
    }
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let version = format!("{:?}", req.version());
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Some(a) = req.uri().authority() {
        headers.insert(0, (":authority".into(), a.to_string()));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let rec = Recorded {
        method,
        path,
        version,
        headers,
        body,
    };
    st.requests.lock().unwrap().push(rec.clone());
    let mut resp = match route {
        Some(Route::Static(status, body, headers)) => {
            let mut r = Response::new(Full::new(body));
            *r.status_mut() = status;
            for (n, v) in headers {
                r.headers_mut().append(
                    http::HeaderName::from_bytes(n.as_bytes()).expect("header name"),
                    http::HeaderValue::from_str(&v).expect("header value"),
                );
            }
            r
        }
        _ => {
            let hmap: serde_json::Map<String, serde_json::Value> = rec
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let mut echo = serde_json::json!({
                "method": rec.method,
                "path": rec.path,
                "version": rec.version,
                "headers": hmap,
                "body": String::from_utf8_lossy(&rec.body),
            });
            let reflect = matches!(route, Some(Route::Reflect));
            if reflect {
                use base64::Engine as _;
                let b64: serde_json::Map<String, serde_json::Value> = rec
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        let e = base64::engine::general_purpose::STANDARD.encode(v);
                        (n.clone(), serde_json::Value::String(e))
                    })
                    .collect();
                echo["headers_b64"] = serde_json::Value::Object(b64);
            }
            let mut r = Response::new(Full::new(Bytes::from(echo.to_string())));
            if reflect {
                for (n, v) in &rec.headers {
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(format!("x-echo-{n}").as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        r.headers_mut().append(n, v);
                    }
                }
            }
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
    };
    resp.headers_mut().insert(
        "x-upstream-version",
        http::HeaderValue::from_str(&rec.version).expect("version header"),
    );
    resp
}

fn websocket_accept(
    st: Arc<State>,
    req: &mut Request<Incoming>,
    greeting: Option<Bytes>,
    reflect: bool,
) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"expected a websocket handshake",
        )));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    st.requests.lock().unwrap().push(Recorded {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        version: format!("{:?}", req.version()),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Bytes::new(),
    });
    let mut quoted = Vec::new();
    if reflect {
        use base64::Engine as _;
        for (n, v) in req.headers() {
            quoted.extend_from_slice(format!("{n}: ").as_bytes());
            quoted.extend_from_slice(v.as_bytes());
            quoted.push(b'\n');
            let e = base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
            quoted.extend_from_slice(format!("{n} (base64): {e}\n").as_bytes());
        }
    }
    let echo_auth = req.headers().get("authorization").cloned();
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let mut io = TokioIo::new(up);
        if let Some(g) = greeting
            && ws::write_frame(&mut io, 1, &g, true, false).await.is_err()
        {
            return;
        }
        if reflect {
            // In two fragments, cut anywhere: a value may straddle them.
            let (a, b) = quoted.split_at(quoted.len() / 2);
            if ws::write_frame(&mut io, 1, a, false, false).await.is_err()
                || ws::write_frame(&mut io, 0, b, true, false).await.is_err()
            {
                return;
            }
        }
        let mut message = Vec::new();
        let mut message_op = 1;
        loop {
            let Ok(f) = ws::read_frame(&mut io).await else {
                return;
            };
            match f.opcode {
                8 => {
                    let _ = ws::write_frame(&mut io, 8, &f.payload, true, false).await;
                    return;
                }
                9 => {
                    let _ = ws::write_frame(&mut io, 10, &f.payload, true, false).await;
                }
                10 => {}
                op => {
                    if op != 0 {
                        message_op = op;
                    }
                    message.extend_from_slice(&f.payload);
                    if f.fin {
                        st.ws_messages.lock().unwrap().push(message.clone());
                        if ws::write_frame(&mut io, message_op, &message, true, false)
                            .await
                            .is_err()
                        {
                            return;
                        }
                        message.clear();
                    }
                }
            }
        }
    });
    let accept = ws::accept_key(key.as_bytes());
    let mut r = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept);
    if let Some(v) = echo_auth.filter(|_| reflect) {
        r = r.header("x-echo-authorization", v);
    }
    r.body(Full::new(Bytes::new())).expect("101 response")
}

/// A running upstream. Dropping it stops the server.
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Where it listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// WebSocket messages received (whole, after reassembly).
    pub fn ws_messages(&self) -> Vec<Vec<u8>> {
        self.state.ws_messages.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A minimal WebSocket implementation (RFC 6455 framing and handshake key),
/// enough to drive and serve tests. No extensions.
pub mod ws {
    use super::*;

    /// One frame.
    #[derive(Debug, Clone)]
    pub struct Frame {
        /// FIN bit.
        pub fin: bool,
        /// Opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
        pub opcode: u8,
        /// Unmasked payload.
        pub payload: Vec<u8>,
    }

    /// Read one frame (masked or not).
    pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
        let mut h = [0u8; 2];
        r.read_exact(&mut h).await?;
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                r.read_exact(&mut b).await?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                r.read_exact(&mut b).await?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mask = if h[1] & 0x80 != 0 {
            let mut m = [0u8; 4];
            r.read_exact(&mut m).await?;
            Some(m)
        } else {
            None
        };
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload).await?;
        if let Some(m) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= m[i % 4];
            }
        }
        Ok(Frame {
            fin: h[0] & 0x80 != 0,
            opcode: h[0] & 0x0f,
            payload,
        })
    }

    /// Write one frame; clients must set `masked`.
    pub async fn write_frame<W: AsyncWrite + Unpin>(
        w: &mut W,
        opcode: u8,
        payload: &[u8],
        fin: bool,
        masked: bool,
    ) -> std::io::Result<()> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let mbit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(mbit | n as u8),
            n if n <= 0xffff => {
                f.push(mbit | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(mbit | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            let m = [0x37, 0xfa, 0x21, 0x3d];
            f.extend_from_slice(&m);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        w.write_all(&f).await?;
        w.flush().await
    }

    /// Client handshake over an established stream; returns the response
    /// status line and headers (lower-case) once the server answered.
    pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
        s: &mut S,
        host: &str,
        path: &str,
    ) -> std::io::Result<(u16, Vec<(String, String)>)> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        s.flush().await?;
        super::client::read_head(s).await
    }

    /// `Sec-WebSocket-Accept` for a key.
    pub fn accept_key(key: &[u8]) -> String {
        use base64::Engine;
        let mut data = key.to_vec();
        data.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        base64::engine::general_purpose::STANDARD.encode(sha1(&data))
    }

    /// SHA-1, only for the handshake key (test code; not a security use).
    fn sha1(data: &[u8]) -> [u8; 20] {
        let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
        let mut msg = data.to_vec();
        let bit_len = (data.len() as u64) * 8;
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bit_len.to_be_bytes());
        for chunk in msg.chunks(64) {
            let mut w = [0u32; 80];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([
                    chunk[4 * i],
                    chunk[4 * i + 1],
                    chunk[4 * i + 2],
                    chunk[4 * i + 3],
                ]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
            for (i, wi) in w.iter().enumerate() {
                let (f, k) = match i {
                    0..=19 => ((b & c) | (!b & d), 0x5A827999),
                    20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                    40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                    _ => (b ^ c ^ d, 0xCA62C1D6),
                };
                let t = a
                    .rotate_left(5)
                    .wrapping_add(f)
                    .wrapping_add(e)
                    .wrapping_add(k)
                    .wrapping_add(*wi);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = t;
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 20];
        for (i, x) in h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn rfc6455_example_key() {
            assert_eq!(
                super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
            );
        }
    }
}

/// The client side: CONNECT through a proxy, TLS, HTTP/1.1 and HTTP/2.
pub mod client {
    use super::*;
    use tokio::net::TcpStream;

    /// A client TLS config trusting exactly `roots`.
    pub fn client_config_for(
        roots: &[CertificateDer<'static>],
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store.add(r.clone()).expect("root");
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(store)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Arc::new(cfg)
    }

    /// A client TLS config trusting the certificates in a PEM string.
    pub fn client_config_pem(pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        use rustls_pki_types::pem::PemObject;
        let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.expect("PEM certificate"))
            .collect();
        client_config_for(&roots, alpn)
    }

    /// Read an HTTP/1.x response head byte by byte (so nothing after it is
    /// consumed): status and lower-case headers.
    pub async fn read_head<S: AsyncRead + Unpin>(
        s: &mut S,
    ) -> std::io::Result<(u16, Vec<(String, String)>)> {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before the response head",
                ));
            }
            head.push(b[0]);
            if head.len() > 64 * 1024 {
                return Err(std::io::Error::other("response head too large"));
            }
        }
        let text = String::from_utf8_lossy(&head);
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok((status, headers))
    }

    /// Send `CONNECT authority` to the proxy; returns the status, headers
    /// and the stream (positioned after the response head).
    pub async fn connect(
        proxy: SocketAddr,
        authority: &str,
    ) -> std::io::Result<(u16, Vec<(String, String)>, TcpStream)> {
        let mut s = TcpStream::connect(proxy).await?;
        s.set_nodelay(true)?;
        s.write_all(
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes(),
        )
        .await?;
        let (status, headers) = read_head(&mut s).await?;
        Ok((status, headers, s))
    }

    /// TLS over `io` for `server_name` with the given config.
    pub async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
        io: S,
        server_name: &str,
        cfg: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<S>> {
        let name = rustls_pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        tokio_rustls::TlsConnector::from(cfg)
            .connect(name, io)
            .await
    }

    /// A response read whole.
    #[derive(Debug, Clone)]
    pub struct Reply {
        /// Status code.
        pub status: u16,
        /// Headers.
        pub headers: http::HeaderMap,
        /// Body.
        pub body: Bytes,
    }

    impl Reply {
        /// The body as text.
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// A header as text.
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }

        /// The body parsed as JSON (the echo upstream's answer).
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
        }
    }

    async fn collect(resp: Response<Incoming>) -> hyper::Result<Reply> {
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// One HTTP/1.1 request over `io` (a fresh connection), response read whole.
    pub async fn send_h1<S>(io: S, req: Request<Full<Bytes>>) -> hyper::Result<Reply>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(conn);
        collect(send.send_request(req).await?).await
    }

    /// An HTTP/1.1 client connection for several requests.
    pub async fn h1<S>(io: S) -> hyper::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(conn);
        Ok(send)
    }

    /// An HTTP/2 client connection for several requests.
    pub async fn h2<S>(io: S) -> hyper::Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
        tokio::spawn(conn);
        Ok(send)
    }

    /// Send on an HTTP/1.1 connection and read the response whole.
    pub async fn request_h1(
        send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        req: Request<Full<Bytes>>,
    ) -> hyper::Result<Reply> {
        send.ready().await?;
        collect(send.send_request(req).await?).await
    }

    /// Send on an HTTP/2 connection and read the response whole.
    pub async fn request_h2(
        send: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
        req: Request<Full<Bytes>>,
    ) -> hyper::Result<Reply> {
        send.ready().await?;
        collect(send.send_request(req).await?).await
    }
}
