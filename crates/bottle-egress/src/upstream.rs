//! Upstream connections: TCP to a checked address, TLS with the built-in web
//! roots plus `upstream_ca`, HTTP/1.1 or HTTP/2 by ALPN, and a small pool.
//!
//! The pool is keyed by (TLS, server name, checked address), so a pooled
//! connection is always one that was opened to an address that passed the
//! SSRF check for that name; reusing it cannot reach anything new.

use crate::error::Error;
use crate::net::Connect;
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// Request bodies are held whole until scanned, then sent in one piece.
pub(crate) type ReqBody = Full<Bytes>;

/// Where a request goes: the name (for SNI, certificate checks and `Host`)
/// and the addresses that passed the SSRF check.
#[derive(Debug, Clone)]
pub(crate) struct Dest {
    pub tls: bool,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
    /// HTTP/1.1 only and never pooled (upgrades take the connection over).
    pub upgrade: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tls: bool,
    upgrade: bool,
    host: String,
    addr: SocketAddr,
}

enum Conn {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// Why an upstream exchange failed. The message names the host and the
/// cause (never request content).
#[derive(Debug)]
pub(crate) enum UpstreamError {
    Connect(String),
    Tls(String),
    Protocol(String),
}

pub(crate) struct Upstreams {
    connector: Arc<dyn Connect>,
    tls_any: TlsConnector,
    tls_h1: TlsConnector,
    pool: Mutex<HashMap<Key, Vec<Conn>>>,
    connect_timeout: Duration,
    tls_timeout: Duration,
    max_idle: usize,
}

/// Build the client TLS configs (ALPN h2+http/1.1, and http/1.1 only).
pub(crate) fn client_configs(
    provider: Arc<rustls::crypto::CryptoProvider>,
    extra_roots: &[PathBuf],
) -> Result<(Arc<ClientConfig>, Arc<ClientConfig>), Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in extra_roots {
        let pem_err = |message: String| Error::Pem {
            path: path.display().to_string(),
            message,
        };
        let data = std::fs::read(path).map_err(|e| pem_err(e.to_string()))?;
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(&data) {
            let cert = cert.map_err(|e| pem_err(format!("not a PEM certificate file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| pem_err(format!("unusable as a trust root: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(pem_err("no certificate in the file".into()));
        }
    }
    let build = |alpn: &[&[u8]]| -> Result<Arc<ClientConfig>, Error> {
        let mut cfg = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Ca(e.to_string()))?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Ok(Arc::new(cfg))
    };
    Ok((build(&[b"h2", b"http/1.1"])?, build(&[b"http/1.1"])?))
}

impl Upstreams {
    pub fn new(
        connector: Arc<dyn Connect>,
        tls_any: Arc<ClientConfig>,
        tls_h1: Arc<ClientConfig>,
        connect_timeout: Duration,
        tls_timeout: Duration,
        max_idle: usize,
    ) -> Self {
        Self {
            connector,
            tls_any: TlsConnector::from(tls_any),
            tls_h1: TlsConnector::from(tls_h1),
            pool: Mutex::new(HashMap::new()),
            connect_timeout,
            tls_timeout,
            max_idle,
        }
    }

    /// Send `req` (absolute URI, `Host` set) to `dest`. A pooled connection
    /// that turns out to be dead before the request was written is replaced
    /// by a fresh one once.
    pub async fn send(
        &self,
        dest: &Dest,
        mut req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let abs = req.uri().clone();
        let host_header = req.headers().get(HOST).cloned();
        let mut first = true;
        loop {
            let pooled = if first && !dest.upgrade {
                self.take(dest)
            } else {
                None
            };
            let was_pooled = pooled.is_some();
            let (key, mut conn) = match pooled {
                Some(x) => x,
                None => self.connect(dest).await?,
            };
            first = false;
            let result = match &mut conn {
                Conn::H1(s) => {
                    shape(&mut req, false, &abs, host_header.as_ref());
                    s.try_send_request(req).await
                }
                Conn::H2(s) => {
                    shape(&mut req, true, &abs, host_header.as_ref());
                    s.try_send_request(req).await
                }
            };
            match result {
                Ok(resp) => {
                    if !dest.upgrade {
                        self.put(key, conn);
                    }
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(back) if was_pooled => {
                        req = back;
                        continue;
                    }
                    _ => {
                        return Err(UpstreamError::Protocol(format!(
                            "{}: {}",
                            dest.host,
                            e.error()
                        )));
                    }
                },
            }
        }
    }

    fn take(&self, dest: &Dest) -> Option<(Key, Conn)> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        for addr in &dest.addrs {
            let key = Key {
                tls: dest.tls,
                upgrade: false,
                host: dest.host.clone(),
                addr: *addr,
            };
            let Some(conns) = pool.get_mut(&key) else {
                continue;
            };
            conns.retain(|c| match c {
                Conn::H1(s) => !s.is_closed(),
                Conn::H2(s) => !s.is_closed(),
            });
            let pick = conns.iter().position(|c| match c {
                Conn::H1(s) => s.is_ready(),
                Conn::H2(s) => s.is_ready(),
            });
            if let Some(i) = pick {
                let conn = match &conns[i] {
                    // HTTP/2 multiplexes: hand out a clone, keep it pooled.
                    Conn::H2(s) => Conn::H2(s.clone()),
                    Conn::H1(_) => conns.swap_remove(i),
                };
                return Some((key, conn));
            }
        }
        None
    }

    fn put(&self, key: Key, conn: Conn) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let conns = pool.entry(key).or_default();
        if let Conn::H2(_) = conn
            && conns
                .iter()
                .any(|c| matches!(c, Conn::H2(s) if !s.is_closed()))
        {
            return;
        }
        if conns.len() < self.max_idle {
            conns.push(conn);
        }
    }

    async fn connect(&self, dest: &Dest) -> Result<(Key, Conn), UpstreamError> {
        let mut last = String::from("no address");
        for addr in &dest.addrs {
            let tcp =
                match tokio::time::timeout(self.connect_timeout, self.connector.connect(*addr))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        last = format!("{addr}: {e}");
                        continue;
                    }
                    Err(_) => {
                        last = format!("{addr}: timed out");
                        continue;
                    }
                };
            let key = Key {
                tls: dest.tls,
                upgrade: dest.upgrade,
                host: dest.host.clone(),
                addr: *addr,
            };
            let conn = if dest.tls {
                let name = match dest.host.parse::<IpAddr>() {
                    Ok(ip) => ServerName::IpAddress(ip.into()),
                    Err(_) => ServerName::try_from(dest.host.clone())
                        .map_err(|e| UpstreamError::Tls(format!("{}: {e}", dest.host)))?,
                };
                let connector = if dest.upgrade {
                    &self.tls_h1
                } else {
                    &self.tls_any
                };
                let tls = match tokio::time::timeout(self.tls_timeout, connector.connect(name, tcp))
                    .await
                {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        let why = e
                            .get_ref()
                            .map(|inner| inner.to_string())
                            .unwrap_or_else(|| e.to_string());
                        return Err(UpstreamError::Tls(format!(
                            "TLS with {} ({addr}) failed: {why}",
                            dest.host
                        )));
                    }
                    Err(_) => {
                        return Err(UpstreamError::Tls(format!(
                            "TLS with {} ({addr}) timed out",
                            dest.host
                        )));
                    }
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                handshake(TokioIo::new(tls), h2, &dest.host).await?
            } else {
                handshake(TokioIo::new(tcp), false, &dest.host).await?
            };
            return Ok((key, conn));
        }
        Err(UpstreamError::Connect(format!(
            "cannot connect to {}: {last}",
            dest.host
        )))
    }
}

async fn handshake<T>(io: T, h2: bool, host: &str) -> Result<Conn, UpstreamError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let perr = |e: hyper::Error| UpstreamError::Protocol(format!("{host}: {e}"));
    if h2 {
        let (send, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(perr)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn::H2(send))
    } else {
        let (send, conn) = http1::Builder::new().handshake(io).await.map_err(perr)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(Conn::H1(send))
    }
}

/// Put the request into the form the upstream connection wants: absolute
/// URI without `Host` for HTTP/2, origin-form with `Host` for HTTP/1.1.
fn shape(req: &mut Request<ReqBody>, h2: bool, abs: &Uri, host: Option<&HeaderValue>) {
    if h2 {
        *req.uri_mut() = abs.clone();
        req.headers_mut().remove(HOST);
        *req.version_mut() = Version::HTTP_2;
    } else {
        let origin = abs.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        if let Ok(u) = origin.parse::<Uri>() {
            *req.uri_mut() = u;
        }
        if let Some(h) = host {
            req.headers_mut().insert(HOST, h.clone());
        }
        *req.version_mut() = Version::HTTP_11;
    }
}
