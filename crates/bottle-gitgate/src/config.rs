//! The gate's configuration file (TOML). The Docker launcher generates it from
//! the user's manifest; the README documents every key.

use crate::Error;
use bottle_policy::{GitUrl, Transport};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole gate configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on: an IP literal and a port (`0.0.0.0:8080`;
    /// `127.0.0.1:0` picks a free port). Host names are not accepted.
    pub listen: SocketAddr,
    /// Name of the bottle, written into every audit line.
    pub bottle: String,
    /// Directory for the mirrors and the gate's private files (created if
    /// missing). Nothing else should write there.
    pub data_dir: PathBuf,
    /// The git executable (`git` looks it up on `PATH`).
    #[serde(default = "default_git")]
    pub git: PathBuf,
    /// The ssh executable used for ssh upstreams (`ssh` looks it up on `PATH`).
    #[serde(default = "default_ssh")]
    pub ssh: PathBuf,
    /// Where the audit log goes.
    #[serde(default)]
    pub audit: AuditTarget,
    /// Secret scanning of pushes.
    #[serde(default)]
    pub scan: ScanConfig,
    /// Longest time, in seconds, one refresh from or push to an upstream may
    /// take before the gate gives up (and fails the request).
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout_secs: u64,
    /// Advanced: the program (and arguments) git runs as the mirrors'
    /// pre-receive hook. Empty (the default) means this executable with the
    /// arguments `git-gate hook`, i.e. the `bottle` binary itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_command: Vec<String>,
    /// The upstreams, each served at `/<name>.git`.
    #[serde(default)]
    pub remotes: Vec<Remote>,
}

fn default_git() -> PathBuf {
    PathBuf::from("git")
}

fn default_ssh() -> PathBuf {
    PathBuf::from("ssh")
}

fn default_upstream_timeout() -> u64 {
    600
}

/// One upstream repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// Name: the gate serves this upstream at `/<name>.git`. Letters, digits,
    /// `.`, `_` and `-`, starting with a letter or digit.
    pub name: String,
    /// The upstream URL as the user wrote it: `ssh://...`, scp-style
    /// `user@host:path`, `https://...`, `file:///...` (tests), or `http://...`
    /// (only with `dangerously_allow_plain_http`).
    pub upstream: String,
    /// ssh: the private key the gate authenticates with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// ssh: the upstream's host public key (`ssh-ed25519 AAAA...`). Required:
    /// only this key is trusted, there is no trust on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_host_key: Option<String>,
    /// https: the token git sends as the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// https: a file holding the token (alternative to `token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// https: the user name sent with the token (default `x-access-token`,
    /// which GitHub and most forges accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// https: extra CA certificates (PEM) to trust for this upstream, for
    /// private forges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Allow an `http://` upstream. Everything, the token included, crosses
    /// the network in clear text; meant for tests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dangerously_allow_plain_http: bool,
    /// The operator's allowlist for this remote's push scan: findings it
    /// matches do not block. Only the operator writes it (the gate's config,
    /// from the manifest); allow comments or files in the pushed repository
    /// are never honoured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<ScanAllow>,
}

/// One allowlist entry of a remote: a finding is allowed when it matches
/// every field given (at least one is).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanAllow {
    /// A path glob in the repository (`vendor/ring/tests/**`, `*.lock`):
    /// `*` and `?` within one path segment, `**` for any number of
    /// segments. Findings without a path (messages, headers, names) never
    /// match a path entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A finding's fingerprint (64 hex digits, as the refusal's audit line
    /// shows it): that one secret, wherever it is (within `path`, if given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Why it is allowed (for the people reading the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ScanAllow {
    /// Whether the entry allows a finding at `path` with `fingerprint`.
    pub fn allows(&self, path: Option<&str>, fingerprint: &str) -> bool {
        let path_ok = match (&self.path, path) {
            (None, _) => true,
            (Some(glob), Some(p)) => glob_match(glob, p),
            (Some(_), None) => false,
        };
        let fp_ok = self
            .fingerprint
            .as_deref()
            .is_none_or(|f| f.eq_ignore_ascii_case(fingerprint));
        path_ok && fp_ok && (self.path.is_some() || self.fingerprint.is_some())
    }

    fn check(&self) -> Result<(), String> {
        if self.path.is_none() && self.fingerprint.is_none() {
            return Err("needs a path, a fingerprint or both".into());
        }
        if let Some(p) = &self.path
            && (p.is_empty() || p.starts_with('/') || p.split('/').any(|s| s.is_empty()))
        {
            return Err(format!(
                "path {p:?} must be a relative path glob without empty segments"
            ));
        }
        if let Some(f) = &self.fingerprint
            && (f.len() != 64 || !f.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("fingerprint {f:?} must be 64 hex digits"));
        }
        Ok(())
    }
}

/// Match a path against a glob: `**` any number of segments, `*` any run
/// within a segment, `?` one character.
pub(crate) fn glob_match(glob: &str, path: &str) -> bool {
    fn seg(g: &[u8], s: &[u8]) -> bool {
        match (g.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => seg(&g[1..], s) || (!s.is_empty() && seg(g, &s[1..])),
            (Some(b'?'), Some(_)) => seg(&g[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => seg(&g[1..], &s[1..]),
            _ => false,
        }
    }
    fn segs(g: &[&str], p: &[&str]) -> bool {
        match g.first() {
            None => p.is_empty(),
            Some(&"**") => (0..=p.len()).any(|k| segs(&g[1..], &p[k..])),
            Some(first) => {
                !p.is_empty() && seg(first.as_bytes(), p[0].as_bytes()) && segs(&g[1..], &p[1..])
            }
        }
    }
    let g: Vec<&str> = glob.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    segs(&g, &p)
}

pub use bottle_policy::Secret;

/// Where audit lines (one JSON object per line) are written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum AuditTarget {
    /// Standard output (the default; `docker logs` picks it up).
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
    /// Append to a file (`audit = { file = "/path" }`).
    File(PathBuf),
    /// No audit log.
    Off,
}

/// Secret scanning of pushes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// A gitleaks-compatible rules file used instead of the built-in rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitleaks_config: Option<PathBuf>,
}

/// What a validated remote authenticates with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `file://` or a public https upstream: nothing.
    None,
    /// ssh key plus the pinned host key.
    Ssh {
        identity_file: PathBuf,
        known_host_key: String,
    },
    /// https token (read from `token` or `token_file`).
    Token { username: String, token: Secret },
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Config { message, .. } => Error::Config {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let config: Self = toml::from_str(text).map_err(|e| Error::Config {
            path: "<config>".into(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML text (secrets included: it is what the file holds).
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self)
            .map_err(|e| Error::Invalid(format!("cannot serialise the config: {e}")))
    }

    /// Check everything that can be checked without touching the network.
    pub fn validate(&self) -> Result<(), Error> {
        if self.bottle.is_empty() || self.bottle.chars().any(|c| c.is_control()) {
            return Err(Error::Invalid(
                "bottle: must be a non-empty name without control characters".into(),
            ));
        }
        if !self.data_dir.is_absolute() {
            return Err(Error::Invalid(format!(
                "data_dir: {:?} must be an absolute path",
                self.data_dir
            )));
        }
        if self.upstream_timeout_secs == 0 {
            return Err(Error::Invalid(
                "upstream_timeout_secs: must be at least 1".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let mut upstreams = BTreeSet::new();
        for (i, r) in self.remotes.iter().enumerate() {
            let at = format!("remotes[{i}] ({:?})", r.name);
            validate_remote_name(&r.name)
                .map_err(|m| Error::Invalid(format!("{at}: name: {m}")))?;
            if !names.insert(r.name.clone()) {
                return Err(Error::Invalid(format!("{at}: the name is declared twice")));
            }
            let url = GitUrl::parse(&r.upstream)
                .map_err(|e| Error::Invalid(format!("{at}: upstream: {e}")))?;
            if !upstreams.insert(url.spellings()) {
                return Err(Error::Invalid(format!(
                    "{at}: upstream {:?} is declared twice",
                    r.upstream
                )));
            }
            r.check_auth_fields(&url)
                .map_err(|m| Error::Invalid(format!("{at}: {m}")))?;
            for (j, a) in r.allow.iter().enumerate() {
                a.check()
                    .map_err(|m| Error::Invalid(format!("{at}: allow[{j}]: {m}")))?;
            }
        }
        Ok(())
    }

    /// The remote called `name`.
    pub fn remote(&self, name: &str) -> Option<&Remote> {
        self.remotes.iter().find(|r| r.name == name)
    }
}

impl Remote {
    /// The parsed upstream URL.
    pub fn url(&self) -> Result<GitUrl, Error> {
        GitUrl::parse(&self.upstream).map_err(|e| Error::Invalid(e.to_string()))
    }

    fn check_auth_fields(&self, url: &GitUrl) -> Result<(), String> {
        let ssh_fields = self.identity_file.is_some() || self.known_host_key.is_some();
        let https_fields = self.token.is_some()
            || self.token_file.is_some()
            || self.username.is_some()
            || self.ca_file.is_some();
        match url.transport {
            Transport::Ssh => {
                if https_fields {
                    return Err(
                        "token, token_file, username and ca_file are for https upstreams".into(),
                    );
                }
                let Some(id) = &self.identity_file else {
                    return Err(
                        "an ssh upstream needs identity_file (the gate's private key)".into(),
                    );
                };
                if !id.is_absolute() {
                    return Err(format!("identity_file {id:?} must be an absolute path"));
                }
                let Some(key) = &self.known_host_key else {
                    return Err("an ssh upstream needs known_host_key (the upstream's host public key, \
                         e.g. \"ssh-ed25519 AAAA...\"); the gate never trusts a host key on first use"
                        .into());
                };
                parse_host_key(key)?;
            }
            Transport::Https | Transport::Http => {
                if ssh_fields {
                    return Err("identity_file and known_host_key are for ssh upstreams".into());
                }
                if url.transport == Transport::Http && !self.dangerously_allow_plain_http {
                    return Err("http:// sends everything in clear text; use https:// \
                         (or set dangerously_allow_plain_http = true for tests)"
                        .into());
                }
                if self.token.is_some() && self.token_file.is_some() {
                    return Err("set token or token_file, not both".into());
                }
                if let Some(t) = &self.token {
                    check_token(t.expose())?;
                }
                for (what, p) in [("token_file", &self.token_file), ("ca_file", &self.ca_file)] {
                    if let Some(p) = p
                        && !p.is_absolute()
                    {
                        return Err(format!("{what} {p:?} must be an absolute path"));
                    }
                }
                if let Some(u) = &self.username
                    && (u.is_empty()
                        || u.chars()
                            .any(|c| c.is_control() || c == ':' || c.is_whitespace()))
                {
                    return Err("username: must be non-empty, without ':' or whitespace".into());
                }
            }
            Transport::File => {
                if ssh_fields || https_fields {
                    return Err("file:// upstreams take no credentials".into());
                }
            }
        }
        if self.dangerously_allow_plain_http && url.transport != Transport::Http {
            return Err("dangerously_allow_plain_http only applies to http:// upstreams".into());
        }
        Ok(())
    }

    /// Resolve the credentials (reads `token_file`).
    pub(crate) fn auth(&self) -> Result<Auth, Error> {
        let url = self.url()?;
        Ok(match url.transport {
            Transport::Ssh => match (&self.identity_file, &self.known_host_key) {
                (Some(identity_file), Some(known_host_key)) => Auth::Ssh {
                    identity_file: identity_file.clone(),
                    known_host_key: known_host_key.clone(),
                },
                _ => {
                    return Err(Error::Invalid(format!(
                        "remote {:?}: ssh needs identity_file and known_host_key",
                        self.name
                    )));
                }
            },
            Transport::Https | Transport::Http => {
                let token = match (&self.token, &self.token_file) {
                    (Some(t), _) => Some(t.clone()),
                    (None, Some(f)) => {
                        let text = std::fs::read_to_string(f).map_err(|e| {
                            Error::Invalid(format!("remote {:?}: token_file {f:?}: {e}", self.name))
                        })?;
                        let t = text.trim().to_string();
                        check_token(&t).map_err(|m| {
                            Error::Invalid(format!("remote {:?}: token_file {f:?}: {m}", self.name))
                        })?;
                        Some(Secret::new(t))
                    }
                    (None, None) => None,
                };
                match token {
                    Some(token) => Auth::Token {
                        username: self
                            .username
                            .clone()
                            .unwrap_or_else(|| "x-access-token".into()),
                        token,
                    },
                    None => Auth::None,
                }
            }
            Transport::File => Auth::None,
        })
    }
}

fn check_token(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("the token is empty".into());
    }
    if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the token contains whitespace or control characters".into());
    }
    Ok(())
}

/// Remote names end up in URL paths and directory names.
pub(crate) fn validate_remote_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("must not be empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err("must start with a letter or a digit".into());
        }
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!(
            "{c:?} is not allowed (letters, digits, '.', '_', '-')"
        ));
    }
    if name.len() > 100 {
        return Err("longer than 100 characters".into());
    }
    if name.ends_with(".git") {
        return Err("must not end in .git (the gate adds it)".into());
    }
    Ok(())
}

/// Split an OpenSSH public key line into (key type, base64 blob).
pub(crate) fn parse_host_key(key: &str) -> Result<(String, String), String> {
    let mut parts = key.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "known_host_key {key:?} is not an OpenSSH public key (expected \"<type> <base64>\", \
             e.g. \"ssh-ed25519 AAAA...\")"
        ));
    };
    let kind_ok =
        kind.starts_with("ssh-") || kind.starts_with("ecdsa-sha2-") || kind.starts_with("sk-");
    let blob_ok = !blob.is_empty()
        && blob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !kind_ok || !blob_ok {
        return Err(format!(
            "known_host_key: {kind:?} is not an OpenSSH public key (expected \"<type> <base64>\", \
             e.g. \"ssh-ed25519 AAAA...\")"
        ));
    }
    Ok((kind.to_string(), blob.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            "vendor/ring/tests/**",
            "vendor/ring/tests/a/b.txt"
        ));
        assert!(glob_match(
            "vendor/ring/tests/**",
            "vendor/ring/tests/b.txt"
        ));
        assert!(!glob_match("vendor/ring/tests/**", "vendor/ring/src/b.txt"));
        assert!(glob_match("**/*.lock", "Cargo.lock"));
        assert!(glob_match("**/*.lock", "a/b/yarn.lock"));
        assert!(!glob_match("*.lock", "a/yarn.lock"));
        assert!(glob_match("docs/?.md", "docs/a.md"));
        assert!(!glob_match("docs/?.md", "docs/ab.md"));
    }

    #[test]
    fn allow_entries() {
        let fp = "ab".repeat(32);
        let by_path = ScanAllow {
            path: Some("vendor/**".into()),
            ..ScanAllow::default()
        };
        assert!(by_path.allows(Some("vendor/x/y"), &fp));
        assert!(!by_path.allows(None, &fp));
        assert!(!by_path.allows(Some("src/x"), &fp));
        let by_fp = ScanAllow {
            fingerprint: Some(fp.clone()),
            ..ScanAllow::default()
        };
        assert!(by_fp.allows(None, &fp));
        assert!(!by_fp.allows(None, &"cd".repeat(32)));
        assert!(ScanAllow::default().check().is_err());
        assert!(!ScanAllow::default().allows(Some("a"), &fp));
        let bad = ScanAllow {
            fingerprint: Some("xyz".into()),
            ..ScanAllow::default()
        };
        assert!(bad.check().is_err());
    }
}
