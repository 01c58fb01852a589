//! Allowlist rules: host pattern, optional port, methods and path globs.

use crate::host::{HostError, HostPattern};
use std::fmt;

/// Ports an entry without an explicit `:port` permits: the HTTP and HTTPS
/// defaults. Anything else (SSH on 22, a database on 5432) must be named.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// A path glob: `*` matches any run of characters (including `/`), `?` one
/// character; everything else is literal. Matched against the normalised path
/// (see [`normalize_path`]) without the query string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathGlob(String);

impl PathGlob {
    /// A glob must start with `/` (or be `*`).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "*" || s.starts_with('/') {
            Ok(Self(s.to_string()))
        } else {
            Err(format!("path glob {s:?} must start with '/' (or be '*')"))
        }
    }

    /// The glob text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the (normalised) path matches.
    pub fn matches(&self, path: &str) -> bool {
        glob_match(self.0.as_bytes(), path.as_bytes())
    }
}

fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    // Iterative wildcard match with single backtrack point: linear in practice
    // and no recursion a hostile path could blow up.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// Normalise a request path for matching: percent-decode unreserved
/// characters, then remove `.` and `..` segments (RFC 3986 §5.2.4).
///
/// Returns `None` for a path that a server could read differently from us:
/// an encoded `/` or `\`, a raw `\`, or a NUL. Callers treat `None` as "does
/// not match" so that such a path can only pass a rule with no path limits.
pub fn normalize_path(raw: &str) -> Option<String> {
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hi = hexval(bytes[i + 1])?;
            let lo = hexval(bytes[i + 2])?;
            let c = hi * 16 + lo;
            if c == b'/' || c == b'\\' || c == 0 {
                return None;
            }
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                decoded.push(c);
            } else {
                decoded.extend_from_slice(&bytes[i..i + 3]);
            }
            i += 3;
            continue;
        }
        if b == b'%' || b == b'\\' || b == 0 {
            return None;
        }
        decoded.push(b);
        i += 1;
    }
    let path = String::from_utf8(decoded).ok()?;
    let mut out: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut norm = String::with_capacity(path.len() + 1);
    for s in &out {
        norm.push('/');
        norm.push_str(s);
    }
    if norm.is_empty() || (trailing && !out.is_empty()) {
        norm.push('/');
    }
    Some(norm)
}

fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AllowRule {
    /// Which hosts.
    pub host: HostPattern,
    /// Which port; `None` means the defaults, 80 and 443.
    pub port: Option<u16>,
    /// Upper-case methods; empty means any.
    pub methods: Vec<String>,
    /// Path globs; empty means any path.
    pub paths: Vec<PathGlob>,
}

impl AllowRule {
    /// A rule for `host` or `host:port` with no method or path limits.
    pub fn parse(entry: &str) -> Result<Self, HostError> {
        let (host, port) = HostPattern::parse_with_port(entry)?;
        Ok(Self {
            host,
            port,
            methods: Vec::new(),
            paths: Vec::new(),
        })
    }

    /// Whether host and port are covered (the CONNECT-time question).
    pub fn matches_host_port(&self, host: &str, port: u16) -> bool {
        self.host.matches(host)
            && match self.port {
                Some(p) => p == port,
                None => DEFAULT_PORTS.contains(&port),
            }
    }

    /// Whether a full request is covered. `path` is the raw request path;
    /// it is normalised here and an ambiguous path never matches a rule that
    /// limits paths.
    pub fn matches_request(&self, host: &str, port: u16, method: &str, path: &str) -> bool {
        if !self.matches_host_port(host, port) {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        if self.paths.is_empty() {
            return true;
        }
        match normalize_path(path) {
            Some(p) => self.paths.iter().any(|g| g.matches(&p)),
            None => false,
        }
    }

    /// True when the rule carries no method or path limits.
    pub fn is_host_only(&self) -> bool {
        self.methods.is_empty() && self.paths.is_empty()
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if !self.methods.is_empty() {
            write!(f, " [{}]", self.methods.join(","))?;
        }
        if !self.paths.is_empty() {
            let paths: Vec<&str> = self.paths.iter().map(PathGlob::as_str).collect();
            write!(f, " {}", paths.join(","))?;
        }
        Ok(())
    }
}

/// A set of allow rules. Order does not matter: a request is allowed when
/// any rule covers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    rules: Vec<AllowRule>,
}

impl Allowlist {
    /// Build from rules, sorting and removing exact duplicates.
    pub fn new(mut rules: Vec<AllowRule>) -> Self {
        rules.sort();
        rules.dedup();
        Self { rules }
    }

    /// The rules, sorted.
    pub fn rules(&self) -> &[AllowRule] {
        &self.rules
    }

    /// Whether any rule allows some request to `host:port` (CONNECT time).
    pub fn allows_host_port(&self, host: &str, port: u16) -> bool {
        self.rules.iter().any(|r| r.matches_host_port(host, port))
    }

    /// The first rule allowing this request, if any.
    pub fn allowing_rule(
        &self,
        host: &str,
        port: u16,
        method: &str,
        path: &str,
    ) -> Option<&AllowRule> {
        self.rules
            .iter()
            .find(|r| r.matches_request(host, port, method, path))
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host: &str, methods: &[&str], paths: &[&str]) -> AllowRule {
        let mut r = AllowRule::parse(host).unwrap();
        r.methods = methods.iter().map(|m| m.to_string()).collect();
        r.paths = paths.iter().map(|p| PathGlob::parse(p).unwrap()).collect();
        r
    }

    #[test]
    fn ports_default_to_http_and_https() {
        let r = rule("api.example.com", &[], &[]);
        assert!(r.matches_host_port("api.example.com", 443));
        assert!(r.matches_host_port("api.example.com", 80));
        assert!(!r.matches_host_port("api.example.com", 22));
        let r = rule("git.example.com:2222", &[], &[]);
        assert!(r.matches_host_port("git.example.com", 2222));
        assert!(!r.matches_host_port("git.example.com", 443));
    }

    #[test]
    fn methods_and_paths() {
        let r = rule("api.example.com", &["GET"], &["/v1/*"]);
        assert!(r.matches_request("api.example.com", 443, "GET", "/v1/users?x=1"));
        assert!(r.matches_request("api.example.com", 443, "get", "/v1/a/b"));
        assert!(!r.matches_request("api.example.com", 443, "POST", "/v1/users"));
        assert!(!r.matches_request("api.example.com", 443, "GET", "/v2/users"));
        assert!(!r.matches_request("api.example.com", 443, "GET", "/v1/../admin"));
        assert!(!r.matches_request("api.example.com", 443, "GET", "/v1/%2e%2e/admin"));
        assert!(!r.matches_request("api.example.com", 443, "GET", "/v1/..%2fadmin"));
        assert!(!r.matches_request("api.example.com", 443, "GET", "/v1\\..\\admin"));
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_path("/a/./b/../c").as_deref(), Some("/a/c"));
        assert_eq!(normalize_path("/a/b/").as_deref(), Some("/a/b/"));
        assert_eq!(normalize_path("").as_deref(), Some("/"));
        assert_eq!(normalize_path("/../..").as_deref(), Some("/"));
        assert_eq!(normalize_path("/%41%2d").as_deref(), Some("/A-"));
        assert_eq!(normalize_path("/a%20b").as_deref(), Some("/a%20b"));
        assert_eq!(normalize_path("/a%2Fb"), None);
        assert_eq!(normalize_path("/a%zz"), None);
        assert_eq!(normalize_path("/a%2"), None);
    }

    #[test]
    fn glob() {
        let g = PathGlob::parse("/v1/*/items").unwrap();
        assert!(g.matches("/v1/x/items"));
        assert!(g.matches("/v1/x/y/items"));
        assert!(!g.matches("/v1/x/items/more"));
        assert!(PathGlob::parse("v1").is_err());
        assert!(PathGlob::parse("*").unwrap().matches("/anything"));
    }

    #[test]
    fn allowlist_sorts_and_dedups() {
        let l = Allowlist::new(vec![
            rule("b.com", &[], &[]),
            rule("a.com", &[], &[]),
            rule("b.com", &[], &[]),
        ]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.rules()[0].host.to_string(), "a.com");
        assert!(l.allows_host_port("b.com", 443));
        assert!(!l.allows_host_port("c.com", 443));
    }
}
