//! The manifest lines that would allow a refused request, as TOML text.
//!
//! The egress proxy puts them in its block messages (so an agent can tell
//! its operator what to change) and `bottle why` builds its manifest patch
//! from them, so both speak the manifest's syntax (`[bottles.<name>.egress]`).

/// The default ports an entry without a port allows.
const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// `s` as a TOML basic string, quotes included.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `host[:port]` text of an allowlist entry for `host` on `port`: no
/// port for 80 and 443 (an entry without one allows both).
pub fn host_port(host: &str, port: u16) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if DEFAULT_PORTS.contains(&port) {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// One `allowlist` array item: a plain string for a host (and port), a
/// table when methods or paths narrow it.
pub fn allow_entry(host: &str, port: u16, methods: &[String], paths: &[String]) -> String {
    let hp = toml_str(&host_port(host, port));
    if methods.is_empty() && paths.is_empty() {
        return hp;
    }
    let list = |v: &[String]| v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ");
    let mut out = format!("{{ host = {hp}");
    if !methods.is_empty() {
        out.push_str(&format!(", methods = [{}]", list(methods)));
    }
    if !paths.is_empty() {
        out.push_str(&format!(", paths = [{}]", list(paths)));
    }
    out.push_str(" }");
    out
}

/// One `dlp_allow` array item: accept the finding `fingerprint` for `host`.
pub fn dlp_allow_entry(host: &str, fingerprint: &str) -> String {
    format!(
        "{{ host = {}, fingerprint = {} }}",
        toml_str(host),
        toml_str(fingerprint)
    )
}

/// The `allow_cidrs` item for one address (a /32 or /128).
pub fn cidr_entry(addr: std::net::IpAddr) -> String {
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    toml_str(&format!("{addr}/{bits}"))
}

/// A path glob as narrow as one observed path: the path as rules see it
/// (normalised, without the query), with glob characters a rule would read
/// as patterns replaced by `?` (one character).
pub fn path_glob(path: &str) -> String {
    let p = crate::allow::normalize_path(path)
        .unwrap_or_else(|| path.split(['?', '#']).next().unwrap_or("/").to_string());
    let p = if p.is_empty() { "/".to_string() } else { p };
    p.chars()
        .map(|c| if c == '*' || c == '?' { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_toml_and_as_narrow_as_asked() {
        assert_eq!(allow_entry("example.com", 443, &[], &[]), "\"example.com\"");
        assert_eq!(allow_entry("example.com", 80, &[], &[]), "\"example.com\"");
        assert_eq!(
            allow_entry("example.com", 8443, &[], &[]),
            "\"example.com:8443\""
        );
        assert_eq!(
            allow_entry("api.example.com", 443, &["POST".into()], &["/v1/x".into()]),
            "{ host = \"api.example.com\", methods = [\"POST\"], paths = [\"/v1/x\"] }"
        );
        assert_eq!(host_port("::1", 8080), "[::1]:8080");
        assert_eq!(toml_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
        assert_eq!(
            dlp_allow_entry("h.test", "ab"),
            "{ host = \"h.test\", fingerprint = \"ab\" }"
        );
        assert_eq!(cidr_entry("10.1.2.3".parse().unwrap()), "\"10.1.2.3/32\"");
        assert_eq!(path_glob("/a/b?x=1"), "/a/b");
        assert_eq!(path_glob("/a*b"), "/a?b");
        assert_eq!(path_glob(""), "/");
    }
}
