//! Connecting to the Docker Engine and checking that it is new enough.

use crate::error::{Ctx, Error, Result};
use bollard::Docker;
use std::time::Duration;

/// Oldest Engine API version bottle supports: Docker Engine 20.10. Older
/// engines lack pieces of the networking the launch relies on (the embedded
/// resolver's per-container upstream, `inhibit_ipv4` on internal bridges).
pub const MIN_API: (u32, u32) = (1, 41);
/// The engine release that introduced [`MIN_API`].
pub const MIN_ENGINE: &str = "20.10";

/// Ordinary API calls: short, so a wedged engine fails a launch instead of
/// hanging it.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Streams that legitimately take long: image builds, imports, uploads,
/// attach, `wait`, `logs --follow`.
const LONG_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// A connected, version-checked engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    long: Docker,
    /// Where the engine is (`unix:///var/run/docker.sock`, `DOCKER_HOST`).
    pub host: String,
    /// Engine version (`20.10.24`).
    pub version: String,
    /// Engine API version (`1.41`).
    pub api_version: String,
    /// Operating system and architecture (`linux/amd64`).
    pub platform: String,
}

/// The engine address: `DOCKER_HOST`, else the default socket.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

impl Engine {
    /// Connect, ask the engine its version, negotiate the API version down
    /// to what it speaks, and refuse engines older than [`MIN_API`].
    pub async fn connect() -> Result<Self> {
        let engine = Self::connect_any(CALL_TIMEOUT).await?;
        engine.check_version()?;
        Ok(engine)
    }

    /// Connect with a short overall deadline (for read-only helpers that
    /// must work without an engine, like `bottle plan`).
    pub async fn connect_quick(deadline: Duration) -> Result<Self> {
        let host = engine_host();
        match tokio::time::timeout(deadline, Self::connect_any(deadline)).await {
            Ok(r) => {
                let e = r?;
                e.check_version()?;
                Ok(e)
            }
            Err(_) => Err(Error::Unreachable {
                host,
                source: bollard::errors::Error::IOError {
                    err: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
                },
            }),
        }
    }

    /// Connect without the version check (for `doctor`, which reports it).
    pub async fn connect_any(timeout: Duration) -> Result<Self> {
        let host = engine_host();
        let unreachable = |source| Error::Unreachable {
            host: host.clone(),
            source,
        };
        let docker = Docker::connect_with_host(&host)
            .map_err(unreachable)?
            .with_timeout(timeout);
        let v = docker.version().await.map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        let long = docker.clone().with_timeout(LONG_TIMEOUT);
        Ok(Self {
            docker,
            long,
            host: host.clone(),
            version: v.version.unwrap_or_else(|| "unknown".into()),
            api_version: v.api_version.unwrap_or_else(|| "0.0".into()),
            platform: format!(
                "{}/{}",
                v.os.unwrap_or_default(),
                v.arch.unwrap_or_default()
            ),
        })
    }

    /// Whether the engine's API is at least [`MIN_API`].
    pub fn is_new_enough(&self) -> bool {
        parse_api(&self.api_version).is_some_and(|v| v >= MIN_API)
    }

    fn check_version(&self) -> Result<()> {
        if self.is_new_enough() {
            return Ok(());
        }
        Err(Error::TooOld {
            host: self.host.clone(),
            version: self.version.clone(),
            api: self.api_version.clone(),
            min_api: format!("{}.{}", MIN_API.0, MIN_API.1),
            min_engine: MIN_ENGINE.to_string(),
        })
    }

    /// The client for ordinary calls.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The client for long streams (builds, imports, attach, wait, follow).
    pub fn long(&self) -> &Docker {
        &self.long
    }

    /// Runtimes the engine has configured (`runc`, `runsc`, ...).
    pub async fn runtimes(&self) -> Result<Vec<String>> {
        let info = self
            .docker
            .info()
            .await
            .ctx(|| "reading engine info".into())?;
        let mut names: Vec<String> = info
            .runtimes
            .map(|m| m.into_keys().collect())
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// Fail unless `runtime` is configured.
    pub async fn check_runtime(&self, runtime: &str) -> Result<()> {
        let names = self.runtimes().await?;
        if names.iter().any(|n| n == runtime) {
            Ok(())
        } else {
            Err(Error::NoRuntime {
                runtime: runtime.to_string(),
                available: names.join(", "),
            })
        }
    }
}

/// `"1.41"` → `(1, 41)`.
pub fn parse_api(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() {
        assert_eq!(parse_api("1.41"), Some((1, 41)));
        assert!(parse_api("1.9").unwrap() < MIN_API);
        assert!(parse_api("1.100").unwrap() > MIN_API);
        assert_eq!(parse_api("junk"), None);
    }
}
