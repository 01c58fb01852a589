//! Checks serde cannot express: hostnames, git remotes, cross references.

use crate::error::Diagnostic;
use crate::model::{AllowEntry, Bottle, Manifest};
use crate::node::KeyPath;
use crate::source::SourceFile;
use bottle_policy::{GitUrl, HostPattern, PathGlob, Transport};

/// Collects diagnostics for one file.
pub(crate) struct Checker<'a> {
    pub file: &'a SourceFile,
    pub out: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a SourceFile) -> Self {
        Self {
            file,
            out: Vec::new(),
        }
    }

    pub fn err(&mut self, path: &KeyPath, message: String, help: &str) {
        let span = self.file.root.span_of(path);
        let mut d = Diagnostic::new(&self.file.name, &self.file.text, &span, path, message);
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.out.push(d);
    }

    /// Like [`Checker::err`] but underlines the key rather than its value.
    pub fn err_at_key(&mut self, path: &KeyPath, message: String, help: &str) {
        let span = self
            .file
            .root
            .key_span_of(path)
            .unwrap_or_else(|| self.file.root.span_of(path));
        let mut d = Diagnostic::new(&self.file.name, &self.file.text, &span, path, message);
        if !help.is_empty() {
            d = d.with_help(help);
        }
        self.out.push(d);
    }
}

const HOST_HELP: &str =
    "use a hostname such as \"api.example.com\" or \"*.example.com\", optionally with \":port\"";

const PUBLIC_SUFFIX_HELP: &str = "list the sites you need (\"me.github.io\", \"raw.githubusercontent.com\"); if you really mean every site under it, set `dangerously_allow_public_suffix_wildcards = true` in this bottle's egress table";

/// A wildcard over a public suffix is an error unless the bottle opts in.
fn check_public_suffix(
    c: &mut Checker<'_>,
    path: &KeyPath,
    pat: &HostPattern,
    egress: &crate::model::Egress,
) {
    if egress.dangerously_allow_public_suffix_wildcards {
        return;
    }
    if let Err(e) = bottle_policy::check_wildcard_base(pat) {
        c.err(path, e.to_string(), PUBLIC_SUFFIX_HELP);
    }
}

/// Per-file checks.
pub(crate) fn check_file(c: &mut Checker<'_>, m: &Manifest) {
    let root = KeyPath::root();
    for (name, bottle) in &m.bottles {
        let bp = root.key("bottles").key(name);
        check_name(c, &bp, name, "bottle");
        check_bottle(c, &bp, bottle);
    }
    for (name, agent) in &m.agents {
        let ap = root.key("agents").key(name);
        check_name(c, &ap, name, "agent");
        if let Some(cmd) = &agent.command
            && cmd.is_empty()
        {
            c.err(
                &ap.key("command"),
                "the command is empty".into(),
                "give the program and its arguments, e.g. [\"bash\", \"-l\"], or remove `command`",
            );
        }
    }
}

fn check_name(c: &mut Checker<'_>, path: &KeyPath, name: &str, what: &str) {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
    if !ok {
        c.err_at_key(
            path,
            format!("{what} name {name:?} is not allowed"),
            "names use lower-case letters, digits, '-' and '_' (at most 40, starting with a letter or digit); they become Docker resource names",
        );
    }
}

fn check_bottle(c: &mut Checker<'_>, bp: &KeyPath, b: &Bottle) {
    if b.image.is_some() && b.dockerfile.is_some() {
        c.err_at_key(
            &bp.key("dockerfile"),
            "both `image` and `dockerfile` are set".into(),
            "keep one: `image` names an existing image, `dockerfile` builds one",
        );
    }
    if let Some(rt) = &b.runtime
        && (rt.is_empty()
            || !rt
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)))
    {
        c.err(
            &bp.key("runtime"),
            format!("runtime {rt:?} is not a Docker runtime name"),
            "use a runtime configured in the Docker daemon, e.g. \"runsc\"",
        );
    }
    for name in b.env.keys() {
        if !crate::env::is_env_name(name) {
            c.err_at_key(
                &bp.key("env").key(name),
                format!("{name:?} is not an environment variable name"),
                "use letters, digits and '_', not starting with a digit",
            );
        }
    }
    let ep = bp.key("egress");
    for (i, entry) in b.egress.allowlist.iter().enumerate() {
        let p = ep.key("allowlist").index(i);
        let host_path = match entry {
            AllowEntry::Host(_) => p.clone(),
            AllowEntry::Rule(_) => p.key("host"),
        };
        match HostPattern::parse_with_port(entry.host()) {
            Err(e) => c.err(
                &host_path,
                format!("invalid hostname {:?}: {e}", entry.host()),
                HOST_HELP,
            ),
            Ok((pat, _)) => check_public_suffix(c, &host_path, &pat, &b.egress),
        }
        if let AllowEntry::Rule(t) = entry {
            for (j, m) in t.methods.iter().enumerate() {
                if m.is_empty() || !m.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    c.err(
                        &p.key("methods").index(j),
                        format!("{m:?} is not an HTTP method"),
                        "use method names such as \"GET\" or \"POST\"",
                    );
                }
            }
            for (j, g) in t.paths.iter().enumerate() {
                if let Err(e) = PathGlob::parse(g) {
                    c.err(&p.key("paths").index(j), e, "write paths like \"/v1/*\"");
                }
            }
        }
    }
    for (i, h) in b.egress.passthrough.iter().enumerate() {
        let p = ep.key("passthrough").index(i);
        match HostPattern::parse_with_port(h) {
            Err(e) => c.err(&p, format!("invalid hostname {h:?}: {e}"), HOST_HELP),
            Ok((pat, _)) => check_public_suffix(c, &p, &pat, &b.egress),
        }
    }
    for (i, ca) in b.egress.upstream_ca.iter().enumerate() {
        if ca.trim().is_empty() {
            c.err(
                &ep.key("upstream_ca").index(i),
                "empty path".into(),
                "give the path of a PEM file with CA certificates",
            );
        }
    }
    for (i, cidr) in b.egress.allow_cidrs.iter().enumerate() {
        if let Err(e) = parse_cidr(cidr) {
            c.err(
                &ep.key("allow_cidrs").index(i),
                format!("invalid CIDR {cidr:?}: {e}"),
                "write an address and prefix length, e.g. \"10.1.2.0/24\" or \"fd00::/8\"",
            );
        }
    }
    for (name, addr) in &b.egress.hosts {
        let hp = ep.key("hosts").key(name);
        match HostPattern::parse(name) {
            Ok(HostPattern::Exact(_)) => {}
            Ok(HostPattern::Wildcard(_)) => c.err_at_key(
                &hp,
                format!("{name:?}: the hosts map takes exact names, not wildcards"),
                "list each name the map should answer for",
            ),
            Err(e) => c.err_at_key(&hp, format!("invalid hostname {name:?}: {e}"), HOST_HELP),
        }
        if let Err(e) = parse_host_address(addr) {
            c.err(
                &hp,
                format!("{addr:?} is not an address: {e}"),
                "write an IP address with an optional port, e.g. \"127.0.0.1:8443\", \"10.0.0.5\" or \"[fd00::1]:443\"",
            );
        }
    }
    for (i, a) in b.egress.dlp_allow.iter().enumerate() {
        let ap = ep.key("dlp_allow").index(i);
        match HostPattern::parse(&a.host) {
            Ok(HostPattern::Exact(_)) => {}
            Ok(HostPattern::Wildcard(_)) => c.err(
                &ap.key("host"),
                format!("{:?}: an accepted finding is for one exact host", a.host),
                "name the host the block message names",
            ),
            Err(e) => c.err(
                &ap.key("host"),
                format!("invalid hostname {:?}: {e}", a.host),
                HOST_HELP,
            ),
        }
        if a.fingerprint.len() != 64 || !a.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            c.err(
                &ap.key("fingerprint"),
                "expected the 64 hex digits a block message names".to_string(),
                "copy the dlp_allow line from the block message or the audit line",
            );
        }
    }
    for (i, name) in b.egress.secret_env.iter().enumerate() {
        if !b.env.contains_key(name) {
            c.err(
                &ep.key("secret_env").index(i),
                format!("{name:?} is not in this bottle's env"),
                "list names of the bottle's env entries",
            );
        }
    }
    for (i, cred) in b.credentials.iter().enumerate() {
        let cp = bp.key("credentials").index(i);
        if let Err(e) = HostPattern::parse(&cred.host) {
            c.err(
                &cp.key("host"),
                format!("invalid hostname {:?}: {e}", cred.host),
                HOST_HELP,
            );
        } else if cred.host.starts_with("*.") {
            c.err(
                &cp.key("host"),
                "a credential belongs to exactly one host; wildcards are not allowed".into(),
                "name the one host the credential is for",
            );
        }
        if cred.header.is_empty()
            || !cred
                .header
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch))
        {
            c.err(
                &cp.key("header"),
                format!("{:?} is not an HTTP header name", cred.header),
                "use a header name such as \"authorization\" or \"x-api-key\"",
            );
        }
        if let Some(env) = &cred.agent_env {
            if !crate::env::is_env_name(env) {
                c.err(
                    &cp.key("agent_env"),
                    format!("{env:?} is not an environment variable name"),
                    "use letters, digits and '_', not starting with a digit",
                );
            } else if b.env.contains_key(env) {
                c.err(
                    &cp.key("agent_env"),
                    format!("{env} is also set in `env`; the credential's placeholder would be overwritten"),
                    "remove it from `env`: the agent gets a placeholder and the proxy injects the real value",
                );
            }
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, g) in b.git.iter().enumerate() {
        let gp = bp.key("git").index(i);
        if g.name.is_empty()
            || !g
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            || g.name.starts_with('.')
        {
            c.err(
                &gp.key("name"),
                format!("git remote name {:?} is not allowed", g.name),
                "use letters, digits, '-', '_' and '.', e.g. \"origin\"",
            );
        } else if seen.contains(&g.name.as_str()) {
            c.err(
                &gp.key("name"),
                format!("duplicate git remote name {:?}", g.name),
                "each remote in a bottle needs its own name; rename or remove one of them",
            );
        }
        seen.push(&g.name);
        match GitUrl::parse(&g.upstream) {
            Err(e) => c.err(
                &gp.key("upstream"),
                e.to_string(),
                "use ssh://user@host[:port]/path, user@host:path, https://host/path or file:///path",
            ),
            Ok(url) => check_git_credentials(c, &gp, g, url.transport),
        }
    }
    for (i, m) in b.mounts.iter().enumerate() {
        let mp = bp.key("mounts").index(i);
        if m.source.trim().is_empty() {
            c.err(
                &mp.key("source"),
                "empty source path".into(),
                "give a host path, e.g. \".\"",
            );
        }
        if !m.target.starts_with('/') || m.target == "/" {
            c.err(
                &mp.key("target"),
                format!(
                    "mount target {:?} must be an absolute path other than /",
                    m.target
                ),
                "e.g. \"/workspace\"",
            );
        }
    }
}

fn check_git_credentials(
    c: &mut Checker<'_>,
    gp: &KeyPath,
    g: &crate::model::GitRemote,
    t: Transport,
) {
    match t {
        Transport::Ssh => {
            match &g.known_host_key {
                None => c.err_at_key(
                    &gp.key("upstream"),
                    format!("ssh upstream {:?} has no known_host_key", g.upstream),
                    "add known_host_key = \"ssh-ed25519 AAAA...\" (from `ssh-keyscan -t ed25519 <host>` checked against the host's published key); the gate trusts only that key",
                ),
                Some(k) => {
                    let mut parts = k.split_whitespace();
                    let ok = matches!(
                        (parts.next(), parts.next()),
                        (Some(kind), Some(b64))
                            if (kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-"))
                                && b64.len() >= 16
                                && b64.chars().all(|ch| ch.is_ascii_alphanumeric() || "+/=".contains(ch))
                    );
                    if !ok {
                        c.err(
                            &gp.key("known_host_key"),
                            "not an SSH public host key".into(),
                            "write \"<type> <base64>\", e.g. \"ssh-ed25519 AAAAC3Nza...\" (no host name in front)",
                        );
                    }
                }
            }
            if g.identity_file.is_none() {
                c.err_at_key(
                    &gp.key("upstream"),
                    format!("ssh upstream {:?} has no identity_file", g.upstream),
                    "add identity_file = \"~/.ssh/<key>\": the private key the gate uses to push and fetch",
                );
            }
            if g.token.is_some() {
                c.err_at_key(
                    &gp.key("token"),
                    "`token` is for https upstreams; this one is ssh".into(),
                    "remove `token` and use identity_file + known_host_key",
                );
            }
        }
        Transport::Https | Transport::Http | Transport::File => {
            if g.identity_file.is_some() {
                c.err_at_key(
                    &gp.key("identity_file"),
                    "`identity_file` is for ssh upstreams".into(),
                    "for https use token = \"${GH_TOKEN}\"",
                );
            }
            if g.known_host_key.is_some() {
                c.err_at_key(
                    &gp.key("known_host_key"),
                    "`known_host_key` is for ssh upstreams".into(),
                    "remove it; https upstreams are verified by their TLS certificate",
                );
            }
        }
    }
}

/// Parse a hosts-map address: `IP`, `IP:port` or `[IPv6]:port`.
pub fn parse_host_address(s: &str) -> Result<(std::net::IpAddr, Option<u16>), String> {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok((ip, None));
    }
    match s.parse::<std::net::SocketAddr>() {
        Ok(sa) if sa.port() != 0 => Ok((sa.ip(), Some(sa.port()))),
        Ok(_) => Err("port 0 is not a port".into()),
        Err(_) => Err("expected IP, IP:port or [IPv6]:port".into()),
    }
}

/// Parse `addr/prefix`.
pub fn parse_cidr(s: &str) -> Result<(std::net::IpAddr, u8), String> {
    let (addr, len) = s.split_once('/').ok_or("missing /prefix")?;
    let ip: std::net::IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("prefix length must be 0..={max}"))?;
    Ok((ip, len))
}
