//! The listener: accepts connections, answers the health check, hands
//! `CONNECT` to [`crate::tunnel`] and absolute-form requests to the shared
//! pipeline ([`crate::pipeline`]).

use crate::audit::Event;
use crate::block::Block;
use crate::body::{self, ProxyBody};
use crate::config::Config;
use crate::error::Error;
use crate::net::Hooks;
use crate::pipeline::Shared;
use crate::reasons::{HEALTH_PATH, check, rule, tls_mode};
use crate::target::{Host, split_authority};
use crate::upstream::Dest;
use crate::{tunnel, websocket};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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
        let _anchor = TimerAnchor::spawn(Duration::from_millis(
            self.shared.limits.header_timeout_ms.max(2) / 2,
        ));
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
                // Boxed per request, as in `tunnel`: hyper keeps the
                // service future's slot for the life of the connection.
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    Box::pin(async move { Ok::<_, Infallible>(handle_outer(shared, req).await) })
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

/// One timer of the runtime kept pending, always due before any header-read
/// deadline a connection arms (those are `header_timeout_ms` ahead; the
/// anchor at most half of that). Without it, every keep-alive request cost a
/// write to the runtime's wake-up eventfd and a spurious return from
/// `epoll_wait`: hyper drops a connection's header-read timer once a request
/// head is read and arms a new one for the next head; with no other timer in
/// the wheel when the runtime last parked, tokio takes the new timer as its
/// earliest and wakes its driver to re-arm the poll timeout. With an earlier
/// timer already pending, registering a later one wakes nothing. The anchor
/// itself wakes the process once per period (15 s by default).
struct TimerAnchor(tokio::task::JoinHandle<()>);

impl TimerAnchor {
    fn spawn(period: Duration) -> Self {
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
            }
        }))
    }
}

impl Drop for TimerAnchor {
    fn drop(&mut self) {
        self.0.abort();
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

/// The outer listener: CONNECT, absolute-form requests, the health check.
async fn handle_outer(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        return tunnel::handle_connect(shared, req).await;
    }
    if req.uri().scheme().is_some() {
        return handle_plain(shared, req).await;
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
    shared.deny(
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
async fn handle_plain(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ProxyBody> {
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
        return shared.deny(
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
        return shared.deny(
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
    ev.host = raw_host.to_string();
    let Some(host) = Host::parse(raw_host) else {
        return shared.deny(
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
    let allow_rule = match shared.allow(&canon, port, req.method().as_str(), &pq) {
        Ok(r) => r,
        Err(b) => return shared.deny(&ev, &b),
    };
    if let Err(b) = shared.check_url_path(&pq, &mut ev) {
        return shared.deny(&ev, &b);
    }
    let addrs = match shared.check_host(raw_host, &host, port, &mut ev).await {
        Ok(a) => a,
        Err(b) => return shared.deny(&ev, &b),
    };
    let dest = Dest {
        tls: scheme == "https",
        host: canon,
        addrs,
        upgrade: websocket::is_upgrade(&req),
    };
    shared.forward(req, dest, port, ev, allow_rule).await
}
