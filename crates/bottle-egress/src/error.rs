//! The library's error type.

/// Why the proxy could not start (or a helper failed). Request-level
/// failures are never errors: they are decisions, answered and audited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A config file could not be read or parsed.
    #[error("{path}: {message}")]
    ConfigFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A config value is invalid.
    #[error("config key {key}: {message}")]
    Config {
        /// Key path, such as `allowlist[2].paths[0]`.
        key: String,
        /// What was expected.
        message: String,
    },
    /// A PEM file (CA, upstream roots) is missing or unusable.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Generating or using the CA failed.
    #[error("CA: {0}")]
    Ca(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The audit log could not be opened or written.
    #[error("audit log {path}: {source}")]
    Audit {
        /// The target.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The system resolver configuration could not be read.
    #[error("resolver: {0}")]
    Resolver(String),
    /// The health check failed.
    #[error("health check of {addr}: {message}")]
    Health {
        /// The proxy address.
        addr: std::net::SocketAddr,
        /// Why.
        message: String,
    },
    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
