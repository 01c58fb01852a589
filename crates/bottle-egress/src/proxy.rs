//! The listener and the per-request pipeline (DESIGN.md §5, checks 1-9).

use crate::audit::{Audit, Event};
use crate::body::{self, AuditedBody, ProxyBody};
use crate::ca::CertAuthority;
use crate::config::{Config, Limits, Rules};
use crate::dlp::{Dlp, UrlPart};
use crate::error::Error;
use crate::net::Hooks;
use crate::reasons::{BLOCK_HEADER, HEALTH_PATH, check, rule, tls_mode};
use crate::target::{Host, split_authority};
use crate::upstream::{Dest, UpstreamError, Upstreams};
use crate::{exfil, ssrf, tunnel, websocket};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A credential ready to inject.
pub(crate) struct Cred {
    pub host: String,
    pub header: HeaderName,
    pub value: HeaderValue,
}

/// Everything a connection task needs, shared.
pub(crate) struct Shared {
    pub rules: Rules,
    pub ca: CertAuthority,
    pub dlp: Dlp,
    pub audit: Audit,
    pub hooks: Hooks,
    pub upstreams: Upstreams,
    pub creds: Vec<Cred>,
    pub limits: Limits,
    pub allow_loopback: bool,
}

/// A refusal: status, check, rule and a human detail (never secret content).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub status: StatusCode,
    pub check: &'static str,
    pub rule: String,
    pub detail: String,
}

impl Block {
    pub fn new(
        status: StatusCode,
        check: &'static str,
        rule: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            check,
            rule: rule.into(),
            detail: detail.into(),
        }
    }

    pub fn forbidden(
        check: &'static str,
        rule: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::FORBIDDEN, check, rule, detail)
    }

    /// The plain-text body: check, rule and the detail.
    pub fn body_text(&self) -> String {
        format!(
            "bottle egress proxy: blocked by {}:{}\n{}\n",
            self.check, self.rule, self.detail
        )
    }

    pub fn header_value(&self) -> String {
        format!("{}:{}", self.check, self.rule)
    }

    pub fn response(&self) -> Response<ProxyBody> {
        let text = self.body_text();
        let mut resp = Response::new(body::full(text));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.header_value()) {
            h.insert(HeaderName::from_static(BLOCK_HEADER), v);
        }
        resp
    }
}

/// A running-or-ready proxy: bound listener plus shared state.
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Bind with the system resolver and plain TCP connects.
    pub async fn bind(config: Config) -> Result<Self, Error> {
        let hooks = Hooks::system()?;
        Self::bind_with(config, hooks).await
    }

    /// Bind with the given resolver/connector hooks (tests, benchmarks).
    pub async fn bind_with(config: Config, hooks: Hooks) -> Result<Self, Error> {
        let shared = Arc::new(Shared::build(&config, hooks)?);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        Ok(Self { listener, shared })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until the task is dropped or aborted.
    pub async fn serve(self) -> Result<(), Error> {
        loop {
            let (tcp, _peer) = match self.listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    eprintln!("bottle egress: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let shared = self.shared.clone();
            let header_timeout = Duration::from_millis(shared.limits.header_timeout_ms.max(1));
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(shared.handle_outer(req).await) }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    }

    /// Serve on a background task; the proxy stops when the handle drops.
    pub fn spawn(self) -> Result<ProxyHandle, Error> {
        let addr = self.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = self.serve().await;
        });
        Ok(ProxyHandle { addr, task })
    }
}

/// A proxy serving in the background. Dropping it stops the listener.
pub struct ProxyHandle {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ProxyHandle {
    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn build(config: &Config, hooks: Hooks) -> Result<Self, Error> {
        let rules = config.compile_rules()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = CertAuthority::load(
            &config.ca.cert,
            &config.ca.key,
            config.limits.leaf_cache_size,
            provider.clone(),
        )?;
        let (tls_any, tls_h1) = crate::upstream::client_configs(provider, &config.upstream_ca)?;
        let mut scanner = bottle_secrets::Scanner::builtin();
        let mut creds = Vec::new();
        for c in &config.credentials {
            scanner.add_known_secret(
                &format!("credential for {}", c.host),
                c.value.expose().as_bytes(),
            );
            let header =
                HeaderName::from_bytes(c.header.as_bytes()).map_err(|_| Error::Config {
                    key: "credentials.header".into(),
                    message: "invalid header name".into(),
                })?;
            let mut value = HeaderValue::from_str(c.value.expose()).map_err(|_| Error::Config {
                key: "credentials.value".into(),
                message: "not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            creds.push(Cred {
                host: c.host.to_ascii_lowercase(),
                header,
                value,
            });
        }
        for k in &config.known_secrets {
            scanner.add_known_secret(&k.name, k.value.expose().as_bytes());
        }
        let audit = Audit::open(&config.bottle, &config.audit)?;
        let limits = config.limits.clone();
        let upstreams = Upstreams::new(
            hooks.connector.clone(),
            tls_any,
            tls_h1,
            Duration::from_millis(limits.connect_timeout_ms),
            Duration::from_millis(limits.tls_timeout_ms),
            limits.max_idle_per_upstream,
        );
        Ok(Self {
            rules,
            ca,
            dlp: Dlp::new(scanner, limits.scan_limit),
            audit,
            hooks,
            upstreams,
            creds,
            limits,
            allow_loopback: config.dangerously_allow_loopback_upstreams,
        })
    }

    /// Log a block and build its response.
    pub fn deny(&self, ev: &Event, b: &Block) -> Response<ProxyBody> {
        let resp = b.response();
        self.audit.log(
            ev,
            false,
            b.check,
            &b.rule,
            b.status.as_u16(),
            b.body_text().len() as u64,
        );
        resp
    }

    /// The outer listener: CONNECT, absolute-form requests, the health check.
    async fn handle_outer(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        if req.method() == Method::CONNECT {
            return tunnel::handle_connect(self, req).await;
        }
        if req.uri().scheme().is_some() {
            return self.handle_plain(req).await;
        }
        if req.uri().path() == HEALTH_PATH
            && (req.method() == Method::GET || req.method() == Method::HEAD)
        {
            let mut resp = Response::new(body::full("ok\n"));
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return resp;
        }
        let ev = Event::new(
            req.method().as_str(),
            "http",
            String::new(),
            0,
            req.uri().path(),
            tls_mode::NONE,
        );
        self.deny(
            &ev,
            &Block::new(
                StatusCode::BAD_REQUEST,
                check::PARSE,
                rule::NOT_A_PROXY_REQUEST,
                "this is an HTTP proxy: send absolute-form requests (http://host/path) or CONNECT",
            ),
        )
    }

    /// An absolute-form request on the outer listener (`GET http://host/p`).
    async fn handle_plain(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        let uri = req.uri().clone();
        let scheme: &'static str = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            _ => "",
        };
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let auth = uri.authority().map(|a| a.as_str()).unwrap_or("");
        let mut ev = Event::new(
            req.method().as_str(),
            if scheme.is_empty() { "http" } else { scheme },
            auth.to_string(),
            0,
            &pq,
            tls_mode::NONE,
        );
        if scheme.is_empty() {
            return self.deny(
                &ev,
                &Block::new(
                    StatusCode::BAD_REQUEST,
                    check::PARSE,
                    rule::BAD_SCHEME,
                    "only http:// URLs (or CONNECT) are proxied",
                ),
            );
        }
        let Some((raw_host, port)) = split_authority(auth) else {
            return self.deny(
                &ev,
                &Block::new(
                    StatusCode::BAD_REQUEST,
                    check::PARSE,
                    rule::BAD_TARGET,
                    "the URL's authority does not parse",
                ),
            );
        };
        let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
        ev.port = port;
        let Some(host) = Host::parse(raw_host) else {
            return self.deny(
                &ev,
                &Block::new(
                    StatusCode::BAD_REQUEST,
                    check::PARSE,
                    rule::BAD_HOST,
                    "the host is neither a valid name nor an IP address",
                ),
            );
        };
        let canon = host.canonical();
        ev.host = canon.clone();
        let allow_rule = match self.allow(&canon, port, req.method().as_str(), &pq) {
            Ok(r) => r,
            Err(b) => return self.deny(&ev, &b),
        };
        if let Err(b) = self.check_url_path(&pq, &mut ev) {
            return self.deny(&ev, &b);
        }
        let addrs = match self.check_host(raw_host, &host, port, &mut ev).await {
            Ok(a) => a,
            Err(b) => return self.deny(&ev, &b),
        };
        let dest = Dest {
            tls: scheme == "https",
            host: canon,
            addrs,
            upgrade: websocket::is_upgrade(&req),
        };
        self.forward(req, dest, port, ev, allow_rule).await
    }

    /// Check 2: the allowlist. Returns the allowing rule's text.
    pub fn allow(&self, host: &str, port: u16, method: &str, path: &str) -> Result<String, Block> {
        if let Some(r) = self.rules.allowlist.allowing_rule(host, port, method, path) {
            return Ok(r.to_string());
        }
        let rules = self.rules.allowlist.rules();
        let (rule, detail) = if !rules.iter().any(|r| r.host.matches(host)) {
            (
                rule::HOST_NOT_ALLOWED,
                format!("{host} is not on this bottle's allowlist"),
            )
        } else if !self.rules.allowlist.allows_host_port(host, port) {
            (
                rule::PORT_NOT_ALLOWED,
                format!("{host} is allowed, but not on port {port}"),
            )
        } else {
            (
                rule::METHOD_OR_PATH_NOT_ALLOWED,
                format!("{host} is allowed, but not {method} on this path"),
            )
        };
        Err(Block::forbidden(check::ALLOWLIST, rule, detail))
    }

    /// Check 3 for the path and query.
    pub fn check_url_path(&self, pq: &str, ev: &mut Event) -> Result<(), Block> {
        match self.dlp.url(None, pq) {
            Ok(()) => Ok(()),
            Err((_, r)) => {
                ev.path = "[redacted]".into();
                Err(Block::forbidden(
                    check::DLP_URL,
                    r,
                    "the URL contains a secret",
                ))
            }
        }
    }

    /// Checks 3 (host labels), 4 (DNS-exfiltration shape) and 5
    /// (resolution and SSRF). Returns the checked addresses.
    pub async fn check_host(
        &self,
        raw_host: &str,
        host: &Host,
        port: u16,
        ev: &mut Event,
    ) -> Result<Vec<SocketAddr>, Block> {
        if let Err((UrlPart::Host | UrlPart::PathOrQuery, r)) = self.dlp.url(Some(raw_host), "") {
            ev.host = redact_host(&ev.host);
            return Err(Block::forbidden(
                check::DLP_URL,
                r,
                "the host name contains a secret",
            ));
        }
        if let Host::Name(name) = host
            && let Some(r) = exfil::check(name)
        {
            ev.host = redact_host(&ev.host);
            return Err(Block::forbidden(
                check::DNS_EXFIL,
                r,
                "the host name looks like encoded data (DNS exfiltration)",
            ));
        }
        self.resolve_checked(host, port).await
    }

    async fn resolve_checked(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, Block> {
        let ips = match host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => {
                if let Some((ip, p)) = self.rules.hosts.get(name) {
                    // Operator-trusted: no lookup, no address check.
                    return Ok(vec![SocketAddr::new(*ip, p.unwrap_or(port))]);
                }
                let lookup = self.hooks.resolver.resolve(name);
                let timeout = Duration::from_millis(self.limits.connect_timeout_ms);
                match tokio::time::timeout(timeout, lookup).await {
                    Ok(Ok(ips)) if !ips.is_empty() => ips,
                    Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
                        return Err(Block::new(
                            StatusCode::BAD_GATEWAY,
                            check::RESOLVE,
                            rule::NO_ADDRESS,
                            format!("{name} does not resolve"),
                        ));
                    }
                }
            }
        };
        // Every address must pass: a name that mixes public and private
        // answers is refused whole.
        for ip in &ips {
            if let Err(r) = ssrf::check(*ip, &self.rules.cidrs, self.allow_loopback) {
                return Err(Block::forbidden(
                    check::SSRF,
                    r,
                    format!("{} resolves to a {r} address", host),
                ));
            }
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// Checks 7-9 for a request whose target passed: header and body DLP,
    /// credential injection, forwarding, streaming the response back.
    pub async fn forward(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        dest: Dest,
        port: u16,
        mut ev: Event,
        allow_rule: String,
    ) -> Response<ProxyBody> {
        let client_upgrade = dest.upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, incoming) = req.into_parts();
        let creds: Vec<&Cred> = self.creds.iter().filter(|c| c.host == dest.host).collect();
        let skip: Vec<HeaderName> = creds.iter().map(|c| c.header.clone()).collect();
        if let Err(r) = self.dlp.headers(&parts.headers, &skip) {
            return self.deny(
                &ev,
                &Block::forbidden(check::DLP_HEADER, r, "a request header contains a secret"),
            );
        }
        let limit = self.dlp.scan_limit();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return self.deny(&ev, &too_large(limit));
        }
        let body_timeout = Duration::from_millis(self.limits.body_timeout_ms);
        let collected =
            tokio::time::timeout(body_timeout, Limited::new(incoming, limit).collect()).await;
        let data: Bytes = match collected {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return self.deny(&ev, &too_large(limit));
            }
            Ok(Err(_)) | Err(_) => {
                return self.deny(
                    &ev,
                    &Block::new(
                        StatusCode::BAD_REQUEST,
                        check::DLP_BODY,
                        rule::BODY_INCOMPLETE,
                        "the request body did not arrive whole",
                    ),
                );
            }
        };
        ev.bytes_up = data.len() as u64;
        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok().map(str::to_string));
        if parts.headers.get(header::CONTENT_ENCODING).is_some() && encoding.is_none() {
            return self.deny(
                &ev,
                &Block::forbidden(
                    check::DLP_BODY,
                    rule::UNDECODABLE,
                    "unreadable Content-Encoding",
                ),
            );
        }
        if let Err(r) = self.dlp.body(encoding.as_deref(), &data) {
            let b = match r.as_str() {
                rule::TOO_LARGE => too_large(limit),
                rule::UNDECODABLE => Block::forbidden(
                    check::DLP_BODY,
                    r,
                    "the request body cannot be decoded for scanning",
                ),
                _ => Block::forbidden(check::DLP_BODY, r, "the request body contains a secret"),
            };
            return self.deny(&ev, &b);
        }

        // The request is clean: build what goes upstream.
        strip_hop_by_hop(&mut parts.headers, dest.upgrade);
        parts
            .headers
            .remove(HeaderName::from_static("proxy-authorization"));
        parts
            .headers
            .remove(HeaderName::from_static("proxy-connection"));
        let default_port = if dest.tls { 443 } else { 80 };
        let host_for_uri = match dest.host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{}]", dest.host),
            Err(_) => dest.host.clone(),
        };
        let authority = if port == default_port {
            host_for_uri
        } else {
            format!("{host_for_uri}:{port}")
        };
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let scheme = if dest.tls { "https" } else { "http" };
        parts.uri = match Uri::builder()
            .scheme(scheme)
            .authority(authority.as_str())
            .path_and_query(pq)
            .build()
        {
            Ok(u) => u,
            Err(_) => {
                return self.deny(
                    &ev,
                    &Block::new(
                        StatusCode::BAD_REQUEST,
                        check::PARSE,
                        rule::BAD_TARGET,
                        "the request target does not parse",
                    ),
                );
            }
        };
        if let Ok(v) = HeaderValue::from_str(&authority) {
            parts.headers.insert(header::HOST, v);
        }
        for c in &creds {
            parts.headers.insert(c.header.clone(), c.value.clone());
        }
        let out = Request::from_parts(parts, Full::new(data));
        let resp = match self.upstreams.send(&dest, out).await {
            Ok(r) => r,
            Err(e) => {
                let b = match e {
                    UpstreamError::Connect(m) => Block::new(
                        StatusCode::BAD_GATEWAY,
                        check::UPSTREAM,
                        rule::CONNECT_FAILED,
                        m,
                    ),
                    UpstreamError::Tls(m) => {
                        Block::new(StatusCode::BAD_GATEWAY, check::UPSTREAM, rule::TLS_ERROR, m)
                    }
                    UpstreamError::Protocol(m) => Block::new(
                        StatusCode::BAD_GATEWAY,
                        check::UPSTREAM,
                        rule::PROTOCOL_ERROR,
                        m,
                    ),
                };
                return self.deny(&ev, &b);
            }
        };
        let mut resp = resp;
        let status = resp.status();
        if let Some(client_upgrade) = client_upgrade
            && status == StatusCode::SWITCHING_PROTOCOLS
        {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            let (rparts, _) = resp.into_parts();
            self.audit
                .log(&ev, true, check::ALLOWED, &allow_rule, status.as_u16(), 0);
            let shared = self.clone();
            tokio::spawn(async move {
                if let (Ok(c), Ok(u)) = (client_upgrade.await, upstream_upgrade.await) {
                    websocket::relay(shared, ev, c, u).await;
                }
            });
            return Response::from_parts(rparts, body::empty());
        }
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers, false);
        let body = AuditedBody::new(rbody, self.clone(), ev, allow_rule, status.as_u16());
        Response::from_parts(rparts, BodyExt::boxed(body))
    }
}

fn too_large(limit: usize) -> Block {
    Block::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        check::DLP_BODY,
        rule::TOO_LARGE,
        format!("the request body exceeds the scan limit of {limit} bytes and cannot be checked"),
    )
}

/// Hide the labels below the registrable domain (they are the payload of a
/// DNS-exfiltration or URL-DLP hit).
pub(crate) fn redact_host(host: &str) -> String {
    let reg = exfil::registrable(host);
    if reg.len() == host.len() {
        host.to_string()
    } else {
        format!("[redacted].{reg}")
    }
}

/// Connection-level headers never cross the proxy (RFC 9110 §7.6.1), except
/// the upgrade handshake of an allowed WebSocket.
fn strip_hop_by_hop(h: &mut http::HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == header::UPGRADE))
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        HeaderName::from_static("keep-alive"),
    ] {
        h.remove(n);
    }
    if keep_upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        // No extensions: a compressed (permessage-deflate) message could not
        // be scanned, so none is negotiated.
        h.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    } else {
        h.remove(header::CONNECTION);
        h.remove(header::UPGRADE);
    }
}
