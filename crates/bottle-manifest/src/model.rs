//! The manifest's types. serde reads them (through `de.rs`), schemars turns
//! the same types into the shipped JSON Schema, so the two cannot disagree.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

use crate::env::EnvValue;

/// A whole manifest file (or the merge of several).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "bottle manifest")]
pub struct Manifest {
    /// Bottles: the sandboxes (image, network policy, credentials, git remotes).
    #[serde(default)]
    pub bottles: BTreeMap<String, Bottle>,
    /// Agents: what runs inside a bottle.
    #[serde(default)]
    pub agents: BTreeMap<String, Agent>,
    /// The agent `bottle start` and `bottle plan` use when none is named.
    #[serde(default)]
    pub default_agent: Option<String>,
    /// Editor hint (`"$schema": "…/bottle.schema.json"` in JSON); ignored.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
}

/// One bottle: a sandbox definition.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bottle {
    /// The agent image; default: the agent preset's image.
    #[serde(default)]
    pub image: Option<String>,
    /// A Dockerfile to build the agent image from (relative to the manifest).
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// Environment for the agent: a literal, `${VAR}` from the host
    /// environment, or `?question` asked at start with hidden input.
    #[serde(default)]
    pub env: BTreeMap<String, EnvValue>,
    /// Docker runtime for the agent container (for example `runsc`).
    #[serde(default)]
    pub runtime: Option<String>,
    /// Network policy.
    #[serde(default)]
    pub egress: Egress,
    /// Credentials the egress proxy injects; the agent never holds them.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Git remotes served through the git gate.
    #[serde(default)]
    pub git: Vec<GitRemote>,
    /// Host paths mounted into the agent.
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

/// The bottle's network policy.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    /// Hosts the agent may reach: `"host"`, `"*.domain"`, `"host:port"`, or
    /// `{ host, methods, paths }`.
    #[serde(default)]
    pub allowlist: Vec<AllowEntry>,
    /// Allowlisted hosts whose TLS is not intercepted (no body scanning).
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// Include the built-in default allowlist.
    #[serde(default = "yes")]
    pub defaults: bool,
    /// PEM files with extra CA certificates the proxy trusts for upstream TLS.
    #[serde(default)]
    pub upstream_ca: Vec<String>,
    /// CIDRs the proxy may connect to although they are private (the only
    /// exception to the SSRF check), e.g. `"10.1.2.0/24"`.
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// Operator-trusted name → address map (`"api.github.com" =
    /// "127.0.0.1:8443"`, port optional): these names are not resolved, and
    /// their addresses skip the private-range check. For testing a policy
    /// offline or reaching internal mirrors.
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
    /// Accept wildcards whose base is a public suffix (`*.github.io`,
    /// `*.co.uk`, `*.workers.dev`): each lets the agent reach anyone's site
    /// under it, and that site's owner reads what it sends. Off: such a
    /// wildcard is an error.
    #[serde(default)]
    pub dangerously_allow_public_suffix_wildcards: bool,
    /// Which classes of financial and personal data the proxy's DLP blocks
    /// (all on by default).
    #[serde(default)]
    pub dlp: DlpData,
    /// DLP findings accepted, each for one exact host: the `{ host,
    /// fingerprint }` a block message names.
    #[serde(default)]
    pub dlp_allow: Vec<DlpAllow>,
    /// Names of `env` entries whose values are secret whatever they look
    /// like: the proxy blocks them toward every host. Values from `${VAR}`
    /// or `?question` that look secret (12+ characters, random-looking) are
    /// blocked without being listed here.
    #[serde(default)]
    pub secret_env: Vec<String>,
}

/// Classes of financial and personal data the egress proxy blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DlpData {
    /// Payment card numbers (brand prefix, Luhn, grouping or a card keyword).
    #[serde(default = "yes")]
    pub cards: bool,
    /// IBANs (country length, mod-97).
    #[serde(default = "yes")]
    pub iban: bool,
    /// US Social Security numbers (`123-45-6789` with a valid area, group
    /// and serial; nine digits after an SSN keyword).
    #[serde(default = "yes")]
    pub ssn: bool,
    /// US bank (ABA) routing numbers (3-7-1 checksum, after a routing
    /// keyword).
    #[serde(default = "yes")]
    pub bank_routing: bool,
    /// Crypto-wallet secrets: WIF keys, BIP-39 seed phrases, hex private
    /// keys next to a key keyword or assigned to a short key name (`pk=`).
    #[serde(default = "yes")]
    pub crypto_keys: bool,
    /// Crypto-wallet addresses: Bitcoin, Litecoin and Dogecoin base58check
    /// and bech32/bech32m checksums; Ethereum addresses (EIP-55 checksum in
    /// mixed case, an address keyword in one case).
    #[serde(default = "yes")]
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

/// A DLP finding accepted for one host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DlpAllow {
    /// The exact host the finding may go to.
    pub host: String,
    /// The finding's fingerprint (64 hex digits).
    pub fingerprint: String,
}

fn yes() -> bool {
    true
}

impl Default for Egress {
    fn default() -> Self {
        Self {
            allowlist: Vec::new(),
            passthrough: Vec::new(),
            defaults: true,
            upstream_ca: Vec::new(),
            allow_cidrs: Vec::new(),
            hosts: BTreeMap::new(),
            dangerously_allow_public_suffix_wildcards: false,
            dlp: DlpData::default(),
            dlp_allow: Vec::new(),
            secret_env: Vec::new(),
        }
    }
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(untagged)]
pub enum AllowEntry {
    /// `"api.example.com"`, `"*.example.com"` or `"api.example.com:8443"`.
    Host(String),
    /// A host with method and path limits.
    Rule(AllowTable),
}

/// The table form of an allowlist entry.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowTable {
    /// `host`, `*.domain` or `host:port`.
    pub host: String,
    /// Allowed methods (any when empty).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Allowed path globs (`*` matches anything, `/` included; any when empty).
    #[serde(default)]
    pub paths: Vec<String>,
}

impl AllowEntry {
    /// The host part as written.
    pub fn host(&self) -> &str {
        match self {
            Self::Host(h) => h,
            Self::Rule(t) => &t.host,
        }
    }
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AllowEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a host string or a table { host, methods, paths }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AllowEntry, E> {
                Ok(AllowEntry::Host(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<AllowEntry, A::Error> {
                AllowTable::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(AllowEntry::Rule)
            }
        }
        d.deserialize_any(V)
    }
}

/// A credential the egress proxy injects into requests to one host.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The one host this credential is sent to.
    pub host: String,
    /// The request header the proxy sets (e.g. `authorization`, `x-api-key`).
    pub header: String,
    /// The real value (usually `${VAR}`); never enters the agent.
    pub value: EnvValue,
    /// An agent environment variable that holds a placeholder instead.
    #[serde(default)]
    pub agent_env: Option<String>,
}

/// A git remote served through the git gate.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitRemote {
    /// Remote name; the gate serves it as `/<name>.git`.
    pub name: String,
    /// The real upstream URL: `ssh://…`, `user@host:path`, `https://…`.
    pub upstream: String,
    /// SSH private key for ssh upstreams (kept in the gate only).
    #[serde(default)]
    pub identity_file: Option<String>,
    /// The upstream's SSH host key (`ssh-ed25519 AAAA…`); required for ssh.
    #[serde(default)]
    pub known_host_key: Option<String>,
    /// Token for https upstreams (usually `${GH_TOKEN}`; kept in the gate only).
    #[serde(default)]
    pub token: Option<EnvValue>,
    /// The operator's allowlist for the git gate's push scan of this remote
    /// (vendored test vectors, documented example keys). Nothing in the
    /// repository itself can allow a finding.
    #[serde(default)]
    pub allow: Vec<GitAllow>,
}

/// One entry of a git remote's push-scan allowlist: a finding is allowed
/// when it matches every field given (a path, a fingerprint, or both).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitAllow {
    /// Path glob in the repository (`vendor/ring/tests/**`): `*` and `?`
    /// within a segment, `**` any number of segments.
    #[serde(default)]
    pub path: Option<String>,
    /// A finding's fingerprint (64 hex digits, from the refusal's audit line).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Why it is allowed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A host path mounted into the agent.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Host path (relative to the manifest's directory, `~` allowed).
    pub source: String,
    /// Absolute path inside the agent.
    pub target: String,
    /// Mount read-only.
    #[serde(default)]
    pub readonly: bool,
}

/// What runs in a bottle.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The bottle to run in.
    pub bottle: String,
    /// The agent kind: decides the default image and command.
    #[serde(default)]
    pub preset: Preset,
    /// Initial prompt handed to the agent CLI.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Command to run instead of the preset's.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

pub use bottle_policy::Preset;
