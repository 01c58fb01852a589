//! The proxy's configuration file (TOML, or JSON when the name ends in
//! `.json`). The Docker launcher generates it from the manifest; the crate
//! README documents every key.

use crate::error::Error;
use crate::ssrf::Cidr;
use bottle_policy::{AllowRule, HostPattern, PathGlob};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole configuration of one proxy instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`0.0.0.0:3128` in the sidecar, `127.0.0.1:0` in tests).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The bottle's name, written into every audit line.
    pub bottle: String,
    /// Allowlist entries: `"host[:port]"` or `{ host, methods, paths }`.
    #[serde(default)]
    pub allowlist: Vec<AllowEntry>,
    /// Hosts (`host[:port]`, wildcards allowed) whose CONNECT tunnels are
    /// relayed without interception. A passthrough entry also allows CONNECT
    /// to that host (only CONNECT: plain HTTP needs an allowlist entry).
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// CIDRs (`10.1.0.0/16`, `fd00::/8`) exempt from the SSRF address check.
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// The per-bottle CA used to mint leaf certificates.
    pub ca: CaFiles,
    /// Credentials injected into requests to their host.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Extra exact secret values to block (besides credential values).
    #[serde(default)]
    pub known_secrets: Vec<KnownSecret>,
    /// DLP findings the user accepts, each for one host: the fingerprint a
    /// block names (`dlp_allow = [{ host, fingerprint }]`). Known secrets
    /// are never accepted this way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dlp_allow: Vec<DlpAllow>,
    /// Which classes of financial and personal data DLP blocks, besides
    /// secrets (all on by default).
    #[serde(default)]
    pub dlp: DlpData,
    /// Size and time limits.
    #[serde(default)]
    pub limits: Limits,
    /// Where audit lines go: `"stdout"` or a file path (appended to).
    #[serde(default)]
    pub audit: AuditTarget,
    /// PEM files of extra roots trusted for upstream TLS, on top of the
    /// built-in web roots.
    #[serde(default)]
    pub upstream_ca: Vec<PathBuf>,
    /// Operator-trusted name → address map (`"10.0.0.5"`, `"127.0.0.1:8443"`).
    /// These names are not resolved, and their addresses skip the private
    /// range check. Nothing else does.
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
    /// TEST ONLY: let upstream connections go to loopback addresses. Never
    /// set this in a real bottle: it opens the host's loopback services (and
    /// the proxy's own port) to the agent.
    #[serde(default)]
    pub dangerously_allow_loopback_upstreams: bool,
    /// Accept `allowlist` and `passthrough` wildcards over a public suffix
    /// (`*.github.io`): each reaches anyone's site. Off: a config error.
    #[serde(default)]
    pub dangerously_allow_public_suffix_wildcards: bool,
    /// Learn mode (`bottle run --learn`): requests the allowlist refuses are
    /// let through and logged as allowed by rule `learned`; every other check
    /// (DLP, SSRF, the DNS-exfiltration shape of the whole name below its
    /// registrable domain, TLS) still applies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learn: bool,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 3128))
}

impl Config {
    /// A minimal config: the given bottle name and CA files, everything else
    /// at its default (listen on 0.0.0.0:3128, nothing allowed, audit to stdout).
    pub fn new(
        bottle: impl Into<String>,
        ca_cert: impl Into<PathBuf>,
        ca_key: impl Into<PathBuf>,
    ) -> Self {
        Self {
            listen: default_listen(),
            bottle: bottle.into(),
            allowlist: Vec::new(),
            passthrough: Vec::new(),
            allow_cidrs: Vec::new(),
            ca: CaFiles {
                cert: ca_cert.into(),
                key: ca_key.into(),
            },
            credentials: Vec::new(),
            known_secrets: Vec::new(),
            dlp_allow: Vec::new(),
            dlp: DlpData::default(),
            limits: Limits::default(),
            audit: AuditTarget::Stdout,
            upstream_ca: Vec::new(),
            hosts: BTreeMap::new(),
            dangerously_allow_loopback_upstreams: false,
            dangerously_allow_public_suffix_wildcards: false,
            learn: false,
        }
    }

    /// Read a config file: JSON when the name ends in `.json`, TOML otherwise.
    /// The result is also [validated](Self::validate).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let cfg = if is_json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        };
        let cfg = cfg.map_err(|e| match e {
            Error::ConfigFile { message, .. } => Error::ConfigFile {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse TOML text (not validated).
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::ConfigFile {
            path: "<toml>".into(),
            message: e.to_string(),
        })
    }

    /// Parse JSON text (not validated).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::ConfigFile {
            path: "<json>".into(),
            message: e.to_string(),
        })
    }

    /// Render as TOML (what the launcher writes into the sidecar).
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|e| Error::Config {
            key: String::new(),
            message: e.to_string(),
        })
    }

    /// Check everything that can be checked without reading files: host
    /// patterns, methods, path globs, CIDRs, hosts-map addresses, header
    /// names. Errors name the key (`allowlist[2].paths[0]`).
    pub fn validate(&self) -> Result<(), Error> {
        self.compile_rules().map(|_| ())
    }

    pub(crate) fn compile_rules(&self) -> Result<Rules, Error> {
        let bad = |key: String, message: String| Error::Config { key, message };
        if self.bottle.is_empty() {
            return Err(bad("bottle".into(), "must not be empty".into()));
        }
        let suffix_check = |key: String, rule: &AllowRule| -> Result<(), Error> {
            if self.dangerously_allow_public_suffix_wildcards {
                return Ok(());
            }
            bottle_policy::check_wildcard_base(&rule.host).map_err(|e| {
                bad(
                    key,
                    format!("{e} (or set dangerously_allow_public_suffix_wildcards)"),
                )
            })
        };
        let mut allow = Vec::new();
        for (i, e) in self.allowlist.iter().enumerate() {
            let rule = e
                .to_rule()
                .map_err(|(sub, m)| bad(format!("allowlist[{i}]{sub}"), m))?;
            suffix_check(format!("allowlist[{i}]"), &rule)?;
            allow.push(rule);
        }
        let mut passthrough = Vec::new();
        for (i, p) in self.passthrough.iter().enumerate() {
            let rule = AllowRule::parse(p)
                .map_err(|e| bad(format!("passthrough[{i}]"), format!("{p:?}: {e}")))?;
            suffix_check(format!("passthrough[{i}]"), &rule)?;
            passthrough.push(rule);
        }
        let mut cidrs = Vec::new();
        for (i, c) in self.allow_cidrs.iter().enumerate() {
            cidrs.push(Cidr::parse(c).map_err(|m| bad(format!("allow_cidrs[{i}]"), m))?);
        }
        let mut hosts = BTreeMap::new();
        for (name, addr) in &self.hosts {
            let key = format!("hosts.{name:?}");
            let pat = HostPattern::parse(name).map_err(|e| bad(key.clone(), e.to_string()))?;
            let HostPattern::Exact(name) = pat else {
                return Err(bad(
                    key,
                    "wildcards are not allowed in the hosts map".into(),
                ));
            };
            if matches!(
                crate::target::Host::parse(&name),
                Some(crate::target::Host::Ip(_))
            ) {
                return Err(bad(
                    key,
                    "keys are host names; IP literals are never mapped".into(),
                ));
            }
            let target = parse_host_addr(addr).map_err(|m| bad(key, m))?;
            hosts.insert(name, target);
        }
        for (i, c) in self.credentials.iter().enumerate() {
            let key = format!("credentials[{i}]");
            match HostPattern::parse(&c.host) {
                Ok(HostPattern::Exact(_)) => {}
                Ok(HostPattern::Wildcard(_)) => {
                    return Err(bad(
                        format!("{key}.host"),
                        "a credential belongs to exactly one host; wildcards are not allowed"
                            .into(),
                    ));
                }
                Err(e) => return Err(bad(format!("{key}.host"), e.to_string())),
            }
            http::HeaderName::from_bytes(c.header.as_bytes()).map_err(|_| {
                bad(
                    format!("{key}.header"),
                    format!("{:?} is not a valid header name", c.header),
                )
            })?;
            http::HeaderValue::from_str(c.value.expose()).map_err(|_| {
                bad(
                    format!("{key}.value"),
                    "not a valid header value (control characters?)".into(),
                )
            })?;
            if c.value.expose().is_empty() {
                return Err(bad(format!("{key}.value"), "must not be empty".into()));
            }
            if let Some(p) = &c.placeholder
                && (p.is_empty() || http::HeaderValue::from_str(p).is_err())
            {
                return Err(bad(
                    format!("{key}.placeholder"),
                    "must be a non-empty header value".into(),
                ));
            }
        }
        for (i, k) in self.known_secrets.iter().enumerate() {
            if k.value.expose().is_empty() {
                return Err(bad(
                    format!("known_secrets[{i}].value"),
                    "must not be empty".into(),
                ));
            }
        }
        for (i, a) in self.dlp_allow.iter().enumerate() {
            let key = format!("dlp_allow[{i}]");
            match HostPattern::parse(&a.host) {
                Ok(HostPattern::Exact(_)) => {}
                Ok(HostPattern::Wildcard(_)) => {
                    return Err(bad(
                        format!("{key}.host"),
                        "an accepted finding is for one exact host; wildcards are not allowed"
                            .into(),
                    ));
                }
                Err(e) => return Err(bad(format!("{key}.host"), e.to_string())),
            }
            if !is_fingerprint(&a.fingerprint) {
                return Err(bad(
                    format!("{key}.fingerprint"),
                    "expected the 64 hex digits a block names".into(),
                ));
            }
        }
        if self.limits.scan_limit == 0 {
            return Err(bad("limits.scan_limit".into(), "must be at least 1".into()));
        }
        Ok(Rules {
            allowlist: bottle_policy::Allowlist::new(allow),
            passthrough,
            cidrs,
            hosts,
        })
    }
}

/// Validated rules, ready for matching.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub allowlist: bottle_policy::Allowlist,
    pub passthrough: Vec<AllowRule>,
    pub cidrs: Vec<Cidr>,
    pub hosts: BTreeMap<String, (IpAddr, Option<u16>)>,
}

fn parse_host_addr(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok((sa.ip(), Some(sa.port())));
    }
    Err(format!(
        "{s:?} is not an IP address or IP:port (names are not allowed here: the map exists to avoid resolving)"
    ))
}

/// An allowlist entry as written in the manifest: a `"host[:port]"` string or
/// a table `{ host = "host[:port]", methods = [...], paths = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// `"api.github.com"`, `"*.crates.io"`, `"git.example.com:2222"`.
    Host(String),
    /// A host with method and/or path limits.
    Rule {
        /// `host[:port]`.
        host: String,
        /// Allowed methods (any when empty).
        methods: Vec<String>,
        /// Allowed path globs (any when empty).
        paths: Vec<String>,
    },
}

impl AllowEntry {
    /// Convert into the policy crate's rule. Errors carry a key suffix
    /// (`.paths[1]`) and a message.
    pub fn to_rule(&self) -> Result<AllowRule, (String, String)> {
        match self {
            Self::Host(h) => {
                AllowRule::parse(h).map_err(|e| (String::new(), format!("{h:?}: {e}")))
            }
            Self::Rule {
                host,
                methods,
                paths,
            } => {
                let mut rule = AllowRule::parse(host)
                    .map_err(|e| (".host".to_string(), format!("{host:?}: {e}")))?;
                for (i, m) in methods.iter().enumerate() {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err((
                            format!(".methods[{i}]"),
                            format!("{m:?} is not an HTTP method"),
                        ));
                    }
                    rule.methods.push(m.to_ascii_uppercase());
                }
                for (i, p) in paths.iter().enumerate() {
                    rule.paths
                        .push(PathGlob::parse(p).map_err(|m| (format!(".paths[{i}]"), m))?);
                }
                Ok(rule)
            }
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AllowTable {
    host: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    paths: Vec<String>,
}

impl Serialize for AllowEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Host(h) => s.serialize_str(h),
            Self::Rule {
                host,
                methods,
                paths,
            } => AllowTable {
                host: host.clone(),
                methods: methods.clone(),
                paths: paths.clone(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AllowEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a \"host[:port]\" string or a table { host, methods, paths }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AllowEntry, E> {
                Ok(AllowEntry::Host(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AllowEntry, A::Error> {
                let t = AllowTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AllowEntry::Rule {
                    host: t.host,
                    methods: t.methods,
                    paths: t.paths,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Paths of the per-bottle CA's certificate and private key (PEM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaFiles {
    /// CA certificate, PEM.
    pub cert: PathBuf,
    /// CA private key, PEM (PKCS#8).
    pub key: PathBuf,
}

pub use bottle_policy::Secret;

/// A credential the proxy injects: requests to `host` get `header: value`,
/// replacing whatever the agent sent. Everywhere else the value is a known
/// secret and blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The one host (exact name) this credential belongs to.
    pub host: String,
    /// Header to set (`authorization`, `x-api-key`).
    pub header: String,
    /// The real value.
    pub value: Secret,
    /// What the agent holds instead (its environment variable's value):
    /// the real value reflected in a response (an echo endpoint, an error
    /// page) is replaced by this before the agent reads it. Default
    /// `bottle-redacted-credential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
}

impl Credential {
    /// A credential without a placeholder.
    pub fn new(host: impl Into<String>, header: impl Into<String>, value: Secret) -> Self {
        Self {
            host: host.into(),
            header: header.into(),
            value,
            placeholder: None,
        }
    }
}

/// Classes of financial and personal data that DLP blocks in URLs,
/// headers, bodies and WebSocket messages toward every host (each finding
/// has a fingerprint `dlp_allow` can accept for one host). All on by
/// default; the manifest's `egress.dlp` table switches them per bottle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlpData {
    /// Payment card numbers: a brand's prefix and length, a valid Luhn
    /// check digit, and either the usual grouping (`4xxx xxxx xxxx xxxx`)
    /// or a card keyword nearby. Rule `card-number`.
    pub cards: bool,
    /// IBANs: a country's length and a valid mod-97 check. Rule `iban`.
    pub iban: bool,
    /// US Social Security numbers: `123-45-6789` (area, group and serial
    /// valid), or nine digits after an SSN keyword. Rule `ssn`.
    pub ssn: bool,
    /// US bank (ABA) routing numbers: nine digits with the 3-7-1 checksum
    /// after a routing keyword. Rule `bank-routing-number`.
    pub bank_routing: bool,
    /// Crypto-wallet secrets: WIF private keys (base58check), BIP-39 seed
    /// phrases (checksum), 64-hex private keys next to a key keyword or
    /// assigned to a short key name (`pk=`).
    /// Rules `crypto-wif-key`, `crypto-seed-phrase`, `crypto-private-key`.
    pub crypto_keys: bool,
    /// Crypto-wallet addresses: Bitcoin base58check (P2PKH, P2SH) and
    /// bech32/bech32m (segwit), rule `crypto-address`; Ethereum addresses
    /// (EIP-55 checksum in mixed case, an address keyword in one case),
    /// rule `crypto-eth-address`.
    pub crypto_addresses: bool,
}

impl Default for DlpData {
    fn default() -> Self {
        Self {
            cards: true,
            iban: true,
            ssn: true,
            bank_routing: true,
            crypto_keys: true,
            crypto_addresses: true,
        }
    }
}

/// An extra exact secret to block wherever it appears (verbatim or encoded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownSecret {
    /// What findings and audit lines call it (e.g. the env variable's name).
    pub name: String,
    /// The value.
    pub value: Secret,
}

/// A DLP finding accepted for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpAllow {
    /// The exact host the finding may go to.
    pub host: String,
    /// The finding's fingerprint (64 hex digits, from the block message or
    /// the audit line).
    pub fingerprint: String,
}

/// 64 hex digits: a SHA-256 fingerprint.
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Size and time limits. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body (and WebSocket message) scanned, in bytes, after
    /// decompression; larger is blocked. Default 16 MiB.
    pub scan_limit: usize,
    /// TCP connect timeout to upstreams, in milliseconds. Default 10 s.
    pub connect_timeout_ms: u64,
    /// TLS handshake timeout (client ClientHello and handshake, upstream
    /// handshake), in milliseconds. Default 10 s.
    pub tls_timeout_ms: u64,
    /// Time a client has to send a request's headers, in milliseconds. Default 30 s.
    pub header_timeout_ms: u64,
    /// Time a client has to send a whole request body, in milliseconds. Default 120 s.
    pub body_timeout_ms: u64,
    /// Idle upstream connections kept per upstream address. Default 32.
    pub max_idle_per_upstream: usize,
    /// Leaf certificates kept in the cache. Default 1024.
    pub leaf_cache_size: usize,
    /// Distinct host names the agent may use under one wildcard rule
    /// (each new name's lookup reaches that zone's nameserver, a DNS
    /// exfiltration channel). Default 64.
    pub max_names_per_wildcard: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            scan_limit: 16 * 1024 * 1024,
            connect_timeout_ms: 10_000,
            tls_timeout_ms: 10_000,
            header_timeout_ms: 30_000,
            body_timeout_ms: 120_000,
            max_idle_per_upstream: 32,
            leaf_cache_size: 1024,
            max_names_per_wildcard: 64,
        }
    }
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuditTarget {
    /// Standard output (`"stdout"`), what `docker logs` collects.
    #[default]
    Stdout,
    /// Append to this file (any other string).
    File(PathBuf),
}

impl Serialize for AuditTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Stdout => s.serialize_str("stdout"),
            Self::File(p) => s.serialize_str(&p.to_string_lossy()),
        }
    }
}

impl<'de> Deserialize<'de> for AuditTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "" => Err(de::Error::custom(
                "audit: expected \"stdout\" or a file path",
            )),
            "stdout" | "-" => Ok(Self::Stdout),
            _ => Ok(Self::File(PathBuf::from(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
listen = "127.0.0.1:3128"
bottle = "dev"
allowlist = ["api.github.com", "*.crates.io", { host = "api.example.com", methods = ["get"], paths = ["/v1/*"] }]
passthrough = ["static.crates.io"]
allow_cidrs = ["10.1.0.0/16"]
upstream_ca = ["/etc/bottle/corp.pem"]
audit = "/var/log/egress.jsonl"
dangerously_allow_loopback_upstreams = false

[ca]
cert = "/etc/bottle/ca.pem"
key = "/etc/bottle/ca.key"

[[credentials]]
host = "api.anthropic.com"
header = "x-api-key"
value = "s3cr3t-value"

[[known_secrets]]
name = "OTHER"
value = "another-value"

[limits]
scan_limit = 1024

[hosts]
"api.github.com" = "127.0.0.1:8443"
"example.com" = "10.0.0.5"
"#;

    #[test]
    fn parses_every_key_and_round_trips() {
        let c = Config::from_toml(FULL).unwrap();
        c.validate().unwrap();
        assert_eq!(c.allowlist.len(), 3);
        assert_eq!(c.limits.scan_limit, 1024);
        assert_eq!(c.limits.connect_timeout_ms, 10_000);
        assert_eq!(c.audit, AuditTarget::File("/var/log/egress.jsonl".into()));
        let rules = c.compile_rules().unwrap();
        assert_eq!(
            rules.hosts["api.github.com"],
            ("127.0.0.1".parse().unwrap(), Some(8443))
        );
        assert_eq!(
            rules.hosts["example.com"],
            ("10.0.0.5".parse().unwrap(), None)
        );
        let back = Config::from_toml(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back, c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(Config::from_json(&json).unwrap(), c);
    }

    #[test]
    fn debug_hides_secret_values() {
        let c = Config::from_toml(FULL).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-value"), "{dbg}");
        assert!(!dbg.contains("another-value"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::from_toml("bottle = \"x\"\nbogus = 1\n[ca]\ncert=\"a\"\nkey=\"b\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Config::from_toml(
            "bottle = \"x\"\nallowlist = [{ host = \"a.com\", method = [\"GET\"] }]\n[ca]\ncert=\"a\"\nkey=\"b\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("method"), "{e}");
    }

    #[test]
    fn bad_entries_name_their_key() {
        let mut c = Config::new("dev", "a", "b");
        c.allowlist = vec![
            AllowEntry::Host("ok.com".into()),
            AllowEntry::Rule {
                host: "api.example.com".into(),
                methods: vec![],
                paths: vec!["/ok".into(), "nope".into()],
            },
        ];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("allowlist[1].paths[1]"), "{e}");
        c.allowlist = vec![AllowEntry::Host("*.github.io".into())];
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("allowlist[0]") && e.contains("public suffix"),
            "{e}"
        );
        c.dangerously_allow_public_suffix_wildcards = true;
        c.validate().unwrap();
        c.dangerously_allow_public_suffix_wildcards = false;
        c.passthrough = vec!["*.workers.dev".into()];
        c.allowlist.clear();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("passthrough[0]"), "{e}");
        c.passthrough.clear();
        c.allowlist = vec![AllowEntry::Host("bad host".into())];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("allowlist[0]")
        );
        c.allowlist.clear();
        c.hosts.insert("api.github.com".into(), "localhost".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("hosts") && e.contains("not an IP"), "{e}");
        c.hosts.clear();
        c.allow_cidrs = vec!["10.0.0.0/33".into()];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("allow_cidrs[0]")
        );
        c.allow_cidrs.clear();
        c.credentials = vec![Credential {
            host: "*.example.com".into(),
            header: "x-api-key".into(),
            value: Secret::new("v"),
            placeholder: None,
        }];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("credentials[0].host")
        );
    }
}
