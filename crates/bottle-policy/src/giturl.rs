//! Git upstream URLs: parsing the forms git accepts and listing the common
//! spellings of one repository, so the agent's `insteadOf` rewrites catch
//! whichever spelling a tool or a human types.

use std::fmt;

/// How the gate reaches an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `ssh://` or scp-style `user@host:path`.
    Ssh,
    /// `https://`.
    Https,
    /// `http://` (tests and private networks only).
    Http,
    /// `file://` (tests).
    File,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ssh => "ssh",
            Self::Https => "https",
            Self::Http => "http",
            Self::File => "file",
        })
    }
}

/// Why an upstream URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GitUrlError(String);

/// A parsed git upstream URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitUrl {
    /// Transport.
    pub transport: Transport,
    /// User part (`git` in `git@host:path`), if any.
    pub user: Option<String>,
    /// Host (empty for `file://`).
    pub host: String,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Repository path without a leading `/` for network URLs (absolute for
    /// `file://`), without a trailing `/` and without a trailing `.git`.
    pub path: String,
    /// Whether the URL as written ended in `.git`.
    pub had_git_suffix: bool,
}

impl GitUrl {
    /// Parse `ssh://[user@]host[:port]/path`, `[user@]host:path`,
    /// `https://host[:port]/path`, `http://...` or `file:///path`.
    pub fn parse(url: &str) -> Result<Self, GitUrlError> {
        let err = |why: &str| GitUrlError(format!("git upstream {url:?}: {why}"));
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("must not contain whitespace or control characters"));
        }
        if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(err("file:// URLs need an absolute path (file:///path)"));
            }
            let (path, had) = strip_repo_suffix(rest);
            if path.is_empty() || path == "/" {
                return Err(err("the repository path is empty"));
            }
            return Ok(Self {
                transport: Transport::File,
                user: None,
                host: String::new(),
                port: None,
                path,
                had_git_suffix: had,
            });
        }
        let (transport, rest) = if let Some(r) = url.strip_prefix("ssh://") {
            (Transport::Ssh, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (Transport::Https, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (Transport::Http, r)
        } else if url.contains("://") {
            return Err(err(
                "unsupported scheme; use ssh://, https://, http://, file:// or user@host:path",
            ));
        } else {
            return Self::parse_scp(url).map_err(|why| err(&why));
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| err("missing the repository path after the host"))?;
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        if transport != Transport::Ssh && user.is_some() {
            return Err(err(
                "credentials in an https URL would be visible; put the token in `token` instead",
            ));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => {
                let port = crate::host::parse_port(p).map_err(|e| err(&e.to_string()))?;
                (h, Some(port))
            }
            None => (hostport, None),
        };
        crate::host::validate_name(host).map_err(|e| err(&e.to_string()))?;
        let (path, had) = strip_repo_suffix(path);
        if path.is_empty() {
            return Err(err("the repository path is empty"));
        }
        Ok(Self {
            transport,
            user,
            host: host.to_ascii_lowercase(),
            port,
            path,
            had_git_suffix: had,
        })
    }

    fn parse_scp(url: &str) -> Result<Self, String> {
        let (authority, path) = url.split_once(':').ok_or_else(|| {
            "not a URL; use ssh://, https://, file:// or the scp form user@host:path".to_string()
        })?;
        let (user, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        crate::host::validate_name(host).map_err(|e| e.to_string())?;
        let (path, had) = strip_repo_suffix(path.trim_start_matches('/'));
        if path.is_empty() {
            return Err("the repository path is empty".into());
        }
        Ok(Self {
            transport: Transport::Ssh,
            user,
            host: host.to_ascii_lowercase(),
            port: None,
            path,
            had_git_suffix: had,
        })
    }

    /// The port the gate connects to.
    pub fn effective_port(&self) -> Option<u16> {
        match self.transport {
            Transport::Ssh => Some(self.port.unwrap_or(22)),
            Transport::Https => Some(self.port.unwrap_or(443)),
            Transport::Http => Some(self.port.unwrap_or(80)),
            Transport::File => None,
        }
    }

    /// Every common spelling of this repository's URL, longest first. Used as
    /// `insteadOf`/`pushInsteadOf` prefixes: git picks the longest matching
    /// prefix, so the `.git` and trailing-slash spellings map cleanly.
    pub fn spellings(&self) -> Vec<String> {
        let mut bases: Vec<String> = Vec::new();
        match self.transport {
            Transport::File => bases.push(format!("file://{}", self.path)),
            Transport::Https | Transport::Http => {
                let scheme = self.transport.to_string();
                let default = self.effective_port();
                let mut hosts = vec![self.host_port()];
                if self.port.is_some() && self.port == default {
                    hosts.push(self.host.clone());
                } else if self.port.is_none() {
                    hosts.push(format!("{}:{}", self.host, default.unwrap_or(443)));
                }
                for h in hosts {
                    bases.push(format!("{scheme}://{h}/{}", self.path));
                }
            }
            Transport::Ssh => {
                let user = self
                    .user
                    .as_ref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                let port = self.port.unwrap_or(22);
                bases.push(format!("ssh://{user}{}:{port}/{}", self.host, self.path));
                if port == 22 {
                    bases.push(format!("ssh://{user}{}/{}", self.host, self.path));
                    bases.push(format!("{user}{}:{}", self.host, self.path));
                    // `host:/abs/path` is the scp spelling of ssh://host/abs/path;
                    // forges also accept it for `host:owner/repo`.
                    bases.push(format!("{user}{}:/{}", self.host, self.path));
                }
            }
        }
        let mut out = Vec::new();
        for b in bases {
            out.push(format!("{b}.git/"));
            out.push(format!("{b}.git"));
            out.push(format!("{b}/"));
            out.push(b);
        }
        out.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        out.dedup();
        out
    }

    fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.had_git_suffix { ".git" } else { "" };
        match self.transport {
            Transport::File => write!(f, "file://{}{suffix}", self.path),
            Transport::Ssh => {
                let user = self
                    .user
                    .as_ref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                write!(f, "ssh://{user}{}/{}{suffix}", self.host_port(), self.path)
            }
            t => write!(f, "{t}://{}/{}{suffix}", self.host_port(), self.path),
        }
    }
}

fn strip_repo_suffix(path: &str) -> (String, bool) {
    let p = path.trim_end_matches('/');
    match p.strip_suffix(".git") {
        Some(s) => (s.to_string(), true),
        None => (p.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let u = GitUrl::parse("ssh://git@git.example.com:2222/me/app.git").unwrap();
        assert_eq!(u.transport, Transport::Ssh);
        assert_eq!(u.user.as_deref(), Some("git"));
        assert_eq!(u.host, "git.example.com");
        assert_eq!(u.port, Some(2222));
        assert_eq!(u.path, "me/app");
        let s = GitUrl::parse("git@github.com:me/app.git").unwrap();
        assert_eq!(
            (s.transport, s.port, s.path.as_str()),
            (Transport::Ssh, None, "me/app")
        );
        let h = GitUrl::parse("https://github.com/me/app/").unwrap();
        assert_eq!(
            (h.transport, h.path.as_str(), h.had_git_suffix),
            (Transport::Https, "me/app", false)
        );
        let f = GitUrl::parse("file:///srv/git/app.git").unwrap();
        assert_eq!(
            (f.transport, f.path.as_str()),
            (Transport::File, "/srv/git/app")
        );
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(GitUrl::parse("ftp://x/y").is_err());
        assert!(GitUrl::parse("https://user:pw@github.com/a/b").is_err());
        assert!(GitUrl::parse("https://github.com").is_err());
        assert!(GitUrl::parse("file://relative/path").is_err());
        assert!(GitUrl::parse("just-a-word").is_err());
        assert!(GitUrl::parse("ssh://git@host:99999/a").is_err());
        assert!(GitUrl::parse("ssh://git@ho st/a").is_err());
    }

    #[test]
    fn ssh_default_port_spellings_include_scp_form() {
        let u = GitUrl::parse("git@github.com:me/app.git").unwrap();
        let s = u.spellings();
        for want in [
            "git@github.com:me/app.git",
            "git@github.com:me/app",
            "ssh://git@github.com/me/app.git",
            "ssh://git@github.com:22/me/app/",
        ] {
            assert!(s.contains(&want.to_string()), "missing {want} in {s:?}");
        }
        // Longest first so a reader sees which prefix git will prefer.
        assert!(s.windows(2).all(|w| w[0].len() >= w[1].len()));
    }

    #[test]
    fn scp_with_absolute_path_keeps_its_own_spelling() {
        let u = GitUrl::parse("git@h.example:/srv/git/app.git").unwrap();
        let s = u.spellings();
        for want in [
            "git@h.example:/srv/git/app.git",
            "git@h.example:/srv/git/app",
            "ssh://git@h.example/srv/git/app.git",
        ] {
            assert!(s.contains(&want.to_string()), "missing {want} in {s:?}");
        }
    }

    #[test]
    fn ssh_custom_port_has_no_scp_form() {
        let u = GitUrl::parse("ssh://git@h.example:2222/me/app.git").unwrap();
        let s = u.spellings();
        assert_eq!(
            s,
            vec![
                "ssh://git@h.example:2222/me/app.git/",
                "ssh://git@h.example:2222/me/app.git",
                "ssh://git@h.example:2222/me/app/",
                "ssh://git@h.example:2222/me/app",
            ]
        );
    }

    #[test]
    fn https_spellings() {
        let u = GitUrl::parse("https://github.com/me/app").unwrap();
        let s = u.spellings();
        assert!(s.contains(&"https://github.com/me/app.git".to_string()));
        assert!(s.contains(&"https://github.com:443/me/app".to_string()));
        assert_eq!(u.to_string(), "https://github.com/me/app");
    }
}
