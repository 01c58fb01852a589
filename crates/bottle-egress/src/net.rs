//! Name resolution and TCP connects, behind traits so tests can watch them.
//!
//! The proxy never resolves through libc (the binary is static and runs in an
//! empty root filesystem): [`SystemResolver`] is hickory reading
//! `/etc/resolv.conf` itself. Tests inject a [`StaticResolver`] or their own
//! [`Resolve`] (for DNS-rebinding scenarios) and a [`Connect`] that records
//! every connection attempt, which is how they prove that a refused address
//! never saw a packet.

use crate::error::Error;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Resolves a host name to addresses. Called once per plain-HTTP request or
/// CONNECT tunnel; the proxy then connects only to addresses it got from
/// this one call and checked.
pub trait Resolve: Send + Sync + 'static {
    /// All addresses of `name` (lower-case, no trailing dot).
    fn resolve(&self, name: &str) -> BoxFuture<io::Result<Vec<IpAddr>>>;
}

/// Opens TCP connections to upstreams (already checked addresses).
pub trait Connect: Send + Sync + 'static {
    /// Connect to `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>>;
}

/// The production resolver: hickory with the system configuration
/// (`/etc/resolv.conf`), never libc.
pub struct SystemResolver(hickory_resolver::TokioResolver);

impl SystemResolver {
    /// Read the system configuration.
    pub fn new() -> Result<Self, Error> {
        let builder = hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| Error::Resolver(e.to_string()))?;
        let resolver = builder
            .build()
            .map_err(|e| Error::Resolver(e.to_string()))?;
        Ok(Self(resolver))
    }
}

impl Resolve for SystemResolver {
    fn resolve(&self, name: &str) -> BoxFuture<io::Result<Vec<IpAddr>>> {
        let resolver = self.0.clone();
        // A fully qualified name: no search-domain expansion, so the name we
        // checked is the name we ask for.
        let fqdn = format!("{name}.");
        Box::pin(async move {
            let lookup = resolver
                .lookup_ip(fqdn.as_str())
                .await
                .map_err(|e| io::Error::other(e.to_string()))?;
            Ok(lookup.iter().collect())
        })
    }
}

/// A fixed name → addresses table. Unknown names fail to resolve. For tests
/// and offline policy checks.
#[derive(Default, Clone)]
pub struct StaticResolver {
    map: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl StaticResolver {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a name's addresses.
    pub fn insert(&self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) -> &Self {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_ascii_lowercase(), addrs.into_iter().collect());
        self
    }

    /// Every name asked for so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, name: &str) -> BoxFuture<io::Result<Vec<IpAddr>>> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
        let got = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        Box::pin(async move {
            got.filter(|a| !a.is_empty())
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
        })
    }
}

/// Plain `TcpStream::connect` to the given address (with `TCP_NODELAY`).
#[derive(Default, Clone, Copy)]
pub struct TcpConnector;

impl Connect for TcpConnector {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>> {
        Box::pin(async move {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(s)
        })
    }
}

/// A connector that records every attempt and delegates to another.
#[derive(Clone)]
pub struct RecordingConnector<C> {
    inner: C,
    attempts: Arc<Mutex<Vec<SocketAddr>>>,
}

impl<C: Connect + Clone> RecordingConnector<C> {
    /// Wrap `inner`.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            attempts: Arc::default(),
        }
    }

    /// Every address a connection was attempted to, in order.
    pub fn attempts(&self) -> Vec<SocketAddr> {
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl<C: Connect + Clone> Connect for RecordingConnector<C> {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpStream>> {
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(addr);
        self.inner.connect(addr)
    }
}

/// The proxy's pluggable I/O.
#[derive(Clone)]
pub struct Hooks {
    /// Name resolution.
    pub resolver: Arc<dyn Resolve>,
    /// Upstream TCP connects.
    pub connector: Arc<dyn Connect>,
}

impl Hooks {
    /// What the sidecar uses: [`SystemResolver`] and [`TcpConnector`].
    pub fn system() -> Result<Self, Error> {
        Ok(Self {
            resolver: Arc::new(SystemResolver::new()?),
            connector: Arc::new(TcpConnector),
        })
    }

    /// A given resolver with the plain TCP connector.
    pub fn with_resolver(resolver: impl Resolve) -> Self {
        Self {
            resolver: Arc::new(resolver),
            connector: Arc::new(TcpConnector),
        }
    }
}
