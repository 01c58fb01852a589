//! The egress proxy: the only way out of a bottle.
//!
//! One listener speaks HTTP/1.1 forward proxy (absolute-form) and `CONNECT`.
//! Every request runs the checks of DESIGN.md §5 in order — target parsing,
//! allowlist, URL DLP, DNS-exfiltration shape, resolution and SSRF, TLS
//! interception, header and body DLP, credential injection — and the first
//! failing check blocks it with a stable `check:rule` reason (see
//! [`reasons`]). Each decision is one JSON line in the audit log.
//!
//! Key design choice: **the proxy decides before any byte leaves.** Names are
//! resolved by our own resolver and every address is checked, then the
//! connection goes to exactly that address (no second lookup, so no DNS
//! rebinding window); request bodies are held (up to the scan limit) until
//! they are scanned; bytes after `CONNECT` must be a TLS ClientHello, which
//! is read and judged before anything is relayed. Unknown protocols are
//! refused, never tunnelled raw. Responses stream back unbuffered.
//!
//! Entry points: [`Config`] (the file format), [`run`] (what the sidecar
//! runs), [`Proxy`] (bind on any address, learn it, serve), [`ca::generate`]
//! (the per-bottle CA), [`health_check`] (for Docker's HEALTHCHECK).
#![deny(missing_docs)]

mod audit;
mod block;
mod body;
pub mod ca;
mod config;
mod dlp;
mod error;
mod exfil;
mod health;
mod keccak;
pub mod net;
mod pii;
#[doc(hidden)]
pub use pii::samples as dlp_samples;
mod pipeline;
mod proxy;
pub mod reasons;
mod redact;
mod relay;
mod ssrf;
mod target;
mod tunnel;
mod upstream;
mod urlshape;
mod websocket;

pub use config::{
    AllowEntry, AuditTarget, CaFiles, Config, Credential, DlpAllow, DlpData, KnownSecret, Limits,
    Secret, is_fingerprint,
};
pub use dlp::looks_secret;
pub use error::Error;
pub use health::health_check;
pub use net::{
    BoxFuture, Connect, Hooks, RecordingConnector, Resolve, StaticResolver, SystemResolver,
    TcpConnector,
};
pub use proxy::{Proxy, ProxyHandle};
pub use ssrf::{Cidr, classify as classify_address};
pub use target::{Host, parse_ipv4_loose};

/// Run the proxy described by `config` until the process is stopped:
/// system resolver, plain TCP connects. What `bottle egress-proxy` calls.
pub async fn run(config: Config) -> Result<(), Error> {
    Proxy::bind(config).await?.serve().await
}

/// [`run`] on a fresh multi-threaded runtime, for callers without one (the
/// `bottle` binary). `on_ready` gets the bound address once the listener is
/// up, before serving starts.
pub fn run_blocking(
    config: Config,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let proxy = Proxy::bind(config).await?;
        on_ready(proxy.local_addr()?);
        proxy.serve().await
    })
}

/// Read every file the config names (CA cert and key, upstream roots) and
/// check they are usable, without binding or serving.
pub fn check_files(config: &Config) -> Result<(), Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    ca::CertAuthority::load(&config.ca.cert, &config.ca.key, 1, provider.clone())?;
    upstream::client_configs(provider, &config.upstream_ca)?;
    Ok(())
}
