//! Hostname validation and host patterns (`api.example.com`, `*.example.com`).

use std::fmt;

/// Why a hostname or host pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The string was empty.
    #[error("hostname is empty")]
    Empty,
    /// A character outside letters, digits, `-`, `.` (and a leading `*.`).
    #[error(
        "hostname contains {0:?}; only letters, digits, '-', '.' and an optional leading '*.' are allowed"
    )]
    BadChar(char),
    /// `a..b`, a leading or a trailing dot.
    #[error("hostname has an empty label (leading, trailing or doubled '.')")]
    EmptyLabel,
    /// A label longer than 63 bytes or a name longer than 253.
    #[error("hostname is too long (labels at most 63 characters, names at most 253)")]
    TooLong,
    /// `*` anywhere but a leading `*.`.
    #[error("a wildcard is only allowed as a leading '*.' (as in '*.example.com')")]
    BadWildcard,
    /// `*.com`: a wildcard needs at least two labels after it.
    #[error("a wildcard needs at least two labels after '*.' (as in '*.example.com')")]
    WildcardTooBroad,
    /// `*.github.io`: the wildcard's base is a public suffix, so it matches
    /// sites of any owner.
    #[error(
        "'*.{0}' matches anyone's site: {0} is a public suffix (Public Suffix List), so the names below it belong to different owners; name the sites you need instead"
    )]
    PublicSuffixWildcard(String),
    /// A `:port` that is not a number in 1..=65535.
    #[error("port {0:?} is not a number between 1 and 65535")]
    BadPort(String),
}

/// A validated, lower-cased host pattern: an exact name or `*.suffix`.
///
/// `*.example.com` matches `a.example.com` and `a.b.example.com` but not the
/// apex `example.com`: a wildcard that silently included the apex would widen
/// the sandbox beyond what the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    /// Exactly this name.
    Exact(String),
    /// Any name strictly below this suffix (stored without the `*.`).
    Wildcard(String),
}

impl HostPattern {
    /// Parse and validate a host pattern (no port).
    pub fn parse(s: &str) -> Result<Self, HostError> {
        if s.is_empty() {
            return Err(HostError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, lower),
        };
        validate_name(&name)?;
        if wild {
            if name.split('.').count() < 2 {
                return Err(HostError::WildcardTooBroad);
            }
            Ok(Self::Wildcard(name))
        } else {
            Ok(Self::Exact(name))
        }
    }

    /// Parse `host` or `host:port`.
    pub fn parse_with_port(s: &str) -> Result<(Self, Option<u16>), HostError> {
        match s.rsplit_once(':') {
            Some((host, port)) => {
                let port = parse_port(port)?;
                Ok((Self::parse(host)?, Some(port)))
            }
            None => Ok((Self::parse(s)?, None)),
        }
    }

    /// Whether `host` (already lower-cased, no trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Wildcard(suffix) => {
                host.len() > suffix.len() + 1
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    /// True for a wildcard pattern.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Self::Wildcard(_))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(n) => f.write_str(n),
            Self::Wildcard(n) => write!(f, "*.{n}"),
        }
    }
}

/// The public suffix (Public Suffix List, ICANN and private sections) that a
/// wildcard pattern spans, or `None` when its base is a name someone owns.
///
/// `*.co.uk`, `*.github.io`, `*.herokuapp.com` and `*.workers.dev` each
/// match anyone's site: a bottle allowing one could send data to a server
/// (and server logs) the attacker controls. Exact names never span anything.
pub fn public_suffix_wildcard(pattern: &HostPattern) -> Option<&str> {
    let HostPattern::Wildcard(base) = pattern else {
        return None;
    };
    is_public_suffix(base).then_some(base.as_str())
}

/// [`public_suffix_wildcard`] as a check: `Err(PublicSuffixWildcard)` for a
/// wildcard over a public suffix. The manifest's validation and the egress
/// proxy's config validation both call this, each with its escape hatch
/// (`dangerously_allow_public_suffix_wildcards`).
pub fn check_wildcard_base(pattern: &HostPattern) -> Result<(), HostError> {
    match public_suffix_wildcard(pattern) {
        Some(base) => Err(HostError::PublicSuffixWildcard(base.to_string())),
        None => Ok(()),
    }
}

/// Whether `name` (lower case, no trailing dot) is itself a public suffix:
/// names directly below it belong to different owners.
pub fn is_public_suffix(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    match psl::suffix(name.as_bytes()) {
        // A name under an unlisted top-level domain gets the list's default
        // rule (`*`): only its last label is a suffix.
        Some(s) => s.as_bytes().len() == name.len(),
        None => false,
    }
}

/// The registrable domain of `host` by the Public Suffix List, both sections
/// (`example.co.uk` for `a.b.example.co.uk`, `me.github.io` for
/// `x.me.github.io`); `None` when the host is itself a public suffix or not
/// a name. An unlisted top-level domain counts as a suffix of one label.
pub fn registrable_domain(host: &str) -> Option<&str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let d = psl::domain(host.as_bytes())?;
    let n = d.as_bytes().len();
    host.get(host.len() - n..)
}

/// Parse a port number in 1..=65535.
pub fn parse_port(s: &str) -> Result<u16, HostError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(HostError::BadPort(s.to_string())),
    }
}

/// Validate a plain hostname: letters, digits, `-` and `.`, no empty label.
pub fn validate_name(name: &str) -> Result<(), HostError> {
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(if c == '*' {
            HostError::BadWildcard
        } else {
            HostError::BadChar(c)
        });
    }
    if name.len() > 253 {
        return Err(HostError::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(HostError::TooLong);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        assert_eq!(
            HostPattern::parse("API.GitHub.com"),
            Ok(HostPattern::Exact("api.github.com".into()))
        );
        assert_eq!(
            HostPattern::parse("*.crates.io"),
            Ok(HostPattern::Wildcard("crates.io".into()))
        );
        assert_eq!(
            HostPattern::parse_with_port("api.example.com:8443"),
            Ok((HostPattern::Exact("api.example.com".into()), Some(8443)))
        );
    }

    #[test]
    fn invalid_names() {
        assert_eq!(HostPattern::parse(""), Err(HostError::Empty));
        assert_eq!(
            HostPattern::parse("exa mple.com"),
            Err(HostError::BadChar(' '))
        );
        assert_eq!(HostPattern::parse("a_b.com"), Err(HostError::BadChar('_')));
        assert_eq!(HostPattern::parse("a..com"), Err(HostError::EmptyLabel));
        assert_eq!(HostPattern::parse(".a.com"), Err(HostError::EmptyLabel));
        assert_eq!(HostPattern::parse("a.*.com"), Err(HostError::BadWildcard));
        assert_eq!(
            HostPattern::parse("*.com"),
            Err(HostError::WildcardTooBroad)
        );
        assert_eq!(
            HostPattern::parse("https://a.com"),
            Err(HostError::BadChar(':'))
        );
        assert_eq!(
            HostPattern::parse_with_port("a.com:0"),
            Err(HostError::BadPort("0".into()))
        );
        assert_eq!(
            HostPattern::parse_with_port("a.com:+80"),
            Err(HostError::BadPort("+80".into()))
        );
        assert_eq!(
            HostPattern::parse(&format!("{}.com", "a".repeat(64))),
            Err(HostError::TooLong)
        );
    }

    #[test]
    fn wildcards_over_public_suffixes_are_named() {
        for w in [
            "*.co.uk",
            "*.github.io",
            "*.herokuapp.com",
            "*.workers.dev",
            "*.s3.amazonaws.com",
            "*.com.au",
            "*.blogspot.com",
            // Listed (private section) although GitHub runs every site
            // below it: name them (raw., objects., ...).
            "*.githubusercontent.com",
        ] {
            let p = HostPattern::parse(w).unwrap();
            assert_eq!(public_suffix_wildcard(&p), Some(&w[2..]), "{w}");
        }
        for w in [
            "*.example.com",
            "*.crates.io",
            "*.example.co.uk",
            "*.me.github.io",
            "*.exfil.test",
            "api.github.com",
            "github.io",
        ] {
            let p = HostPattern::parse(w).unwrap();
            assert_eq!(public_suffix_wildcard(&p), None, "{w}");
        }
    }

    #[test]
    fn registrable_domains_follow_the_list() {
        assert_eq!(registrable_domain("a.b.example.com"), Some("example.com"));
        assert_eq!(registrable_domain("a.example.co.uk"), Some("example.co.uk"));
        assert_eq!(registrable_domain("x.me.github.io"), Some("me.github.io"));
        assert_eq!(registrable_domain("example.com."), Some("example.com"));
        assert_eq!(registrable_domain("a.b.exfil.test"), Some("exfil.test"));
        assert_eq!(
            registrable_domain("bucket.s3.amazonaws.com"),
            Some("bucket.s3.amazonaws.com")
        );
        assert_eq!(registrable_domain("co.uk"), None);
        assert_eq!(registrable_domain("github.io"), None);
        assert!(is_public_suffix("co.uk") && is_public_suffix("com"));
        assert!(!is_public_suffix("example.com"));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = HostPattern::parse("*.example.com").unwrap();
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(p.matches("A.Example.COM"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(!p.matches("example.com.evil.net"));
        let e = HostPattern::parse("example.com").unwrap();
        assert!(e.matches("example.com"));
        assert!(e.matches("example.com."));
        assert!(!e.matches("a.example.com"));
    }
}
