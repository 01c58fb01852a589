//! The crate's error type. Every variant says what failed and, where there
//! is one, what to do about it; none carries a secret value.

use std::fmt;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine could not be reached at all.
    #[error(
        "cannot reach the Docker Engine at {host}: {source}\n  is the engine running, and may this user use it? (`bottle doctor` checks)"
    )]
    Unreachable {
        /// `DOCKER_HOST` or the default socket.
        host: String,
        /// The client's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine is older than the minimum.
    #[error(
        "the Docker Engine at {host} is version {version} (API {api}); bottle needs API {min_api} or newer (Docker Engine {min_engine})"
    )]
    TooOld {
        /// Where the engine is.
        host: String,
        /// Engine version string.
        version: String,
        /// Engine API version.
        api: String,
        /// Minimum API version.
        min_api: String,
        /// Minimum engine version.
        min_engine: String,
    },
    /// An Engine API call failed.
    #[error("{context}: {source}")]
    Api {
        /// What we were doing.
        context: String,
        /// The client's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// An image is missing and cannot be made here.
    #[error("image {image} is missing: {hint}")]
    ImageMissing {
        /// Image reference.
        image: String,
        /// What to do.
        hint: String,
    },
    /// An image build failed.
    #[error("building {image} failed: {message}")]
    Build {
        /// Image reference.
        image: String,
        /// The builder's message.
        message: String,
    },
    /// An agent's binary could not be fetched for a preset image.
    #[error("fetching {what}: {why}")]
    AgentFetch {
        /// The pinned package (`claude-agent-sdk 0.2.189`).
        what: String,
        /// Why, and what to do.
        why: String,
    },
    /// Building the base image with mmdebstrap failed.
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    /// A sidecar did not become healthy.
    #[error("the {role} sidecar ({container}) did not become healthy: {why}")]
    Unhealthy {
        /// `egress` or `git`.
        role: String,
        /// Container name.
        container: String,
        /// Why, with the end of its log.
        why: String,
    },
    /// A runtime named by the manifest is not configured.
    #[error(
        "the Docker runtime {runtime:?} is not configured on this engine (available: {available})"
    )]
    NoRuntime {
        /// Wanted.
        runtime: String,
        /// Configured.
        available: String,
    },
    /// No bottle by that name.
    #[error("no bottle named {0:?} (see `bottle ls`)")]
    NoSuchInstance(String),
    /// The launch was interrupted by a signal; everything created was removed.
    #[error("interrupted by {0}; the bottle was torn down")]
    Interrupted(&'static str),
    /// A local I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Bad input from the caller.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An I/O error with context.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            context: context.to_string(),
            source,
        }
    }

    /// Whether this is the engine's "no such container/network/image" answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { source, .. } if is_not_found(source))
    }
}

/// Whether an engine error is a 404.
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Whether an engine error is a 409 (name in use, already in progress).
pub(crate) fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// Attach context to engine errors.
pub(crate) trait Ctx<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Ctx<T> for Result<T, bollard::errors::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Api {
            context: context(),
            source,
        })
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
