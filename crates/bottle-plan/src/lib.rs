//! Turn a manifest and an agent name into a launch plan.
//!
//! Key design choice: planning is a pure function of its inputs (the merged
//! manifest, the names of bottles already running, the default allowlist and
//! the home directory). It touches neither Docker nor the filesystem, so
//! `bottle plan` and `bottle start --dry-run` cannot create anything, and the
//! tests compare whole [`LaunchPlan`] values. The Docker backend executes a
//! plan; it does not decide anything the plan does not show.
#![deny(missing_docs)]

mod render;

pub use render::{allowlist_summary, render_text};

#[cfg(feature = "manifest")]
use bottle_manifest::{
    AllowEntry, Diagnostic, EnvValue, KeyPath, ManifestError, ManifestSet, Sourced,
};
use bottle_policy::Transport;
#[cfg(feature = "manifest")]
use bottle_policy::{AllowRule, Allowlist, GitUrl, HostPattern, PathGlob};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Claude Code's hosts: the built-in default allowlist (DESIGN.md §3).
pub const DEFAULT_ALLOWLIST: [&str; 7] = [
    "api.anthropic.com",
    "statsig.anthropic.com",
    "sentry.io",
    "claude.ai",
    "platform.claude.com",
    "downloads.claude.ai",
    "raw.githubusercontent.com",
];

/// Host environment variable that replaces the default allowlist
/// (comma- or space-separated hostnames).
pub const DEFAULT_ALLOWLIST_ENV: &str = "BOTTLE_DEFAULT_ALLOWLIST";

/// Port the egress proxy listens on inside the bottle.
pub const EGRESS_PORT: u16 = 3128;
/// Port the git gate listens on inside the bottle.
pub const GIT_GATE_PORT: u16 = 8080;

/// Everything besides the manifest that planning depends on.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// The agent to plan; `None` uses the manifest's `default_agent`, or the
    /// only agent when there is exactly one.
    pub agent: Option<String>,
    /// Instance names of bottles already running (suffixes avoid them).
    pub running: BTreeSet<String>,
    /// The default allowlist (see [`default_allowlist`]).
    pub default_allowlist: Vec<String>,
    /// The user's home directory, for `~` in paths.
    pub home: Option<PathBuf>,
    /// Host environment lookup result: names of the variables that are set.
    /// Only presence matters to the plan; values are read at launch.
    pub host_env: BTreeSet<String>,
    /// Tag of the sidecar images (derived from the bottle binary's hash).
    pub sidecar_tag: String,
}

/// The default allowlist: [`DEFAULT_ALLOWLIST`] unless the host environment
/// sets [`DEFAULT_ALLOWLIST_ENV`].
pub fn default_allowlist(env_value: Option<&str>) -> Vec<String> {
    match env_value {
        Some(v) => v
            .split([',', ' ', '\n', '\t'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => DEFAULT_ALLOWLIST.iter().map(|s| s.to_string()).collect(),
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A problem located in a manifest file.
    #[cfg(feature = "manifest")]
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The named agent does not exist.
    #[error("no agent named {name:?}; defined agents: {available}")]
    UnknownAgent {
        /// What was asked for.
        name: String,
        /// What exists.
        available: String,
    },
    /// No agent was named and there is no default.
    #[error(
        "name an agent (`bottle plan AGENT`) or set default_agent in the manifest; defined agents: {available}"
    )]
    NoAgent {
        /// What exists.
        available: String,
    },
    /// The default allowlist from the host environment is invalid.
    #[error("{DEFAULT_ALLOWLIST_ENV}: invalid hostname {host:?}: {why}")]
    BadDefaultAllowlist {
        /// The entry.
        host: String,
        /// Why.
        why: String,
    },
}

/// What `bottle start` would do. Serialised as the `--json` plan (its shape
/// is documented in docs/plan.md); it never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchPlan {
    /// Instance name (`<agent>` or `<agent>-N`), the `<slug>` in resource names.
    pub instance: String,
    /// The agent.
    pub agent: AgentPlan,
    /// The bottle and the file it came from.
    pub bottle: BottleRef,
    /// Docker networks, in creation order.
    pub networks: Vec<NetworkPlan>,
    /// Containers, in start order (sidecars first, the agent last).
    pub containers: Vec<ContainerPlan>,
    /// How the agent's image is obtained.
    pub image: ImagePlan,
    /// Network policy as the proxy will enforce it.
    pub egress: EgressPlan,
    /// Injected credentials (host, header; never the value).
    pub credentials: Vec<CredentialPlan>,
    /// Git remotes served by the git gate.
    pub git: Vec<GitRemotePlan>,
    /// Agent environment variable names and where their values come from.
    pub env: Vec<EnvPlan>,
    /// Host paths mounted into the agent.
    pub mounts: Vec<MountPlan>,
    /// Docker runtime of the agent container, if not the default.
    pub runtime: Option<String>,
    /// Labels put on every resource.
    pub labels: BTreeMap<String, String>,
}

/// The agent part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentPlan {
    /// Agent name.
    pub name: String,
    /// Preset.
    pub preset: Preset,
    /// The command run in the agent container.
    pub command: Vec<String>,
    /// Whether an initial prompt is passed (the prompt text is in the manifest).
    pub has_prompt: bool,
    /// The prompt appended to `command` when the agent is launched: the
    /// manifest's `prompt` for the claude and codex presets when the agent
    /// names no command (not in the JSON plan; [`AgentPlan::override_command`]
    /// drops it).
    #[serde(skip)]
    pub prompt: Option<String>,
    /// The file the agent came from.
    pub source: String,
}

impl AgentPlan {
    /// Replace the command (the command line's): the manifest's prompt is
    /// then not appended.
    pub fn override_command(&mut self, command: Vec<String>) {
        self.command = command;
        self.prompt = None;
    }

    /// The argv the agent container runs: the command, then the prompt.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.command.clone();
        v.extend(self.prompt.clone());
        v
    }
}

/// The bottle part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BottleRef {
    /// Bottle name.
    pub name: String,
    /// The file it came from (or `<embedded default>`).
    pub source: String,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    /// Docker network name.
    pub name: String,
    /// `internal` (no route off the host), `egress` (the proxy's way out) or
    /// `git-egress` (the git gate's way out).
    pub role: NetworkRole,
    /// Created with `--internal`.
    pub internal: bool,
}

/// A container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPlan {
    /// Docker container name (also its hostname on the bottle networks).
    pub name: String,
    /// `egress`, `git` or `agent`.
    pub role: Role,
    /// Image reference.
    pub image: String,
    /// Networks it joins.
    pub networks: Vec<String>,
}

/// What a container is in a bottle (its `bottle.role` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The egress proxy sidecar.
    Egress,
    /// The git gate sidecar.
    Git,
    /// The agent.
    Agent,
}

impl Role {
    /// The label value (`egress`, `git`, `agent`), as in the JSON plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Egress => "egress",
            Self::Git => "git",
            Self::Agent => "agent",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a network is in a bottle (its `bottle.role` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkRole {
    /// The internal network every container is on; no route off the host.
    Internal,
    /// The egress proxy's way out.
    Egress,
    /// The git gate's way out.
    GitEgress,
}

impl NetworkRole {
    /// The label value (`internal`, `egress`, `git-egress`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::Egress => "egress",
            Self::GitEgress => "git-egress",
        }
    }
}

impl std::fmt::Display for NetworkRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the agent image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ImagePlan {
    /// The manifest's `image`.
    Image {
        /// Reference.
        reference: String,
    },
    /// Built from the manifest's `dockerfile`.
    Dockerfile {
        /// Dockerfile path.
        path: String,
        /// Tag given to the result.
        tag: String,
    },
    /// The preset's image, built locally from its recipe.
    Preset {
        /// Preset.
        preset: Preset,
        /// Tag.
        reference: String,
    },
}

impl ImagePlan {
    /// The image reference the agent container uses.
    pub fn reference(&self) -> &str {
        match self {
            Self::Image { reference } | Self::Preset { reference, .. } => reference,
            Self::Dockerfile { tag, .. } => tag,
        }
    }
}

/// The effective network policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressPlan {
    /// The proxy URL the agent's HTTP(S)_PROXY point at.
    pub proxy_url: String,
    /// Hosts the agent reaches without the proxy (the git gate).
    pub no_proxy: Vec<String>,
    /// Whether the default allowlist is included.
    pub defaults: bool,
    /// Effective allowlist: defaults ∪ bottle ∪ passthrough, deduplicated, sorted.
    pub allowlist: Vec<AllowRulePlan>,
    /// Hosts tunnelled without TLS interception.
    pub passthrough: Vec<String>,
    /// Extra CA files trusted for upstream TLS.
    pub upstream_ca: Vec<String>,
    /// Private CIDRs the proxy may connect to.
    pub allow_cidrs: Vec<String>,
    /// Operator hosts map: name → address, not resolved, exempt from the
    /// private-range check.
    pub hosts: BTreeMap<String, String>,
    /// Classes of financial and personal data the proxy blocks.
    pub dlp: DlpPlan,
    /// DLP findings accepted, each for one host.
    pub dlp_allow: Vec<DlpAllowPlan>,
    /// The manifest's `dangerously_allow_public_suffix_wildcards` (only in
    /// the JSON plan when set).
    #[serde(default, skip_serializing_if = "is_false")]
    pub dangerously_allow_public_suffix_wildcards: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Classes of financial and personal data the proxy's DLP blocks (the
/// manifest's `egress.dlp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DlpPlan {
    /// Payment card numbers.
    pub cards: bool,
    /// IBANs.
    pub iban: bool,
    /// US Social Security numbers.
    pub ssn: bool,
    /// US bank (ABA) routing numbers.
    pub bank_routing: bool,
    /// Crypto-wallet secrets (WIF keys, seed phrases, hex private keys).
    pub crypto_keys: bool,
    /// Crypto-wallet addresses.
    pub crypto_addresses: bool,
}

/// A DLP finding accepted for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlpAllowPlan {
    /// Exact host.
    pub host: String,
    /// The finding's fingerprint.
    pub fingerprint: String,
}

/// One allowlist rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AllowRulePlan {
    /// Host or `*.domain`.
    pub host: String,
    /// Port; `None` means 80 and 443.
    pub port: Option<u16>,
    /// Methods; empty means any.
    pub methods: Vec<String>,
    /// Path globs; empty means any.
    pub paths: Vec<String>,
}

/// An injected credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialPlan {
    /// The host it is injected for.
    pub host: String,
    /// The header set.
    pub header: String,
    /// Agent variable holding a placeholder, if any.
    pub agent_env: Option<String>,
    /// Where the real value comes from (`from host ${VAR}`, `asked at start`).
    pub value_from: String,
}

/// A git remote and its gate rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitRemotePlan {
    /// Remote name.
    pub name: String,
    /// Upstream URL as written.
    pub upstream: String,
    /// Transport the gate uses.
    pub transport: Transport,
    /// The URL the agent's git actually talks to.
    pub gate_url: String,
    /// Spellings of the upstream rewritten to the gate (`insteadOf` and
    /// `pushInsteadOf`), longest first.
    pub rewrites: Vec<String>,
    /// Credential the gate holds (in the JSON plan as `identity_file
    /// <path>`, `token from ...` or `none`).
    pub credential: GitCredential,
    /// The pinned ssh host key (not in the JSON plan).
    #[serde(skip)]
    pub known_host_key: Option<String>,
    /// The operator's push-scan allowlist (in the JSON plan one string each:
    /// `path vendor/x/**`, `fingerprint 1d2f…`, both joined by `and`, then
    /// the reason if given: `(reason: "test vectors")`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<GitAllowPlan>,
}

/// The credential the git gate holds for one remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitCredential {
    /// An ssh key read from this host path (resolved) at launch.
    IdentityFile {
        /// Host path of the key.
        path: String,
    },
    /// An https token resolved at launch.
    Token {
        /// Where the value comes from (`from host ${VAR}`, `asked at start: …`).
        from: String,
    },
    /// None (anonymous fetch; pushes need the upstream to accept them).
    None,
}

impl std::fmt::Display for GitCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IdentityFile { path } => write!(f, "identity_file {path}"),
            Self::Token { from } => write!(f, "token {from}"),
            Self::None => f.write_str("none"),
        }
    }
}

impl Serialize for GitCredential {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One entry of a remote's push-scan allowlist: a path glob, a finding's
/// fingerprint, or both; and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitAllowPlan {
    /// Path glob.
    pub path: Option<String>,
    /// Finding fingerprint (64 hex).
    pub fingerprint: Option<String>,
    /// Why it is accepted.
    pub reason: Option<String>,
}

impl std::fmt::Display for GitAllowPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = &self.path {
            if p.chars().any(char::is_control) {
                parts.push(format!("path {p:?}"));
            } else {
                parts.push(format!("path {p}"));
            }
        }
        if let Some(fp) = &self.fingerprint {
            parts.push(format!("fingerprint {fp}"));
        }
        f.write_str(&parts.join(" and "))?;
        if let Some(r) = self.reason.as_deref().filter(|r| !r.trim().is_empty()) {
            // Quoted with escapes: a project file's reason text must not
            // be able to draw on the operator's terminal.
            write!(f, " (reason: {r:?})")?;
        }
        Ok(())
    }
}

impl Serialize for GitAllowPlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An agent environment variable (name only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvPlan {
    /// Variable name.
    pub name: String,
    /// `literal`, `from host ${VAR}`, `asked at start: "…"`, or
    /// `placeholder (credential for host)`.
    pub from: String,
    /// Whether the proxy blocks the value toward every host (a known
    /// secret of its DLP): `yes` (listed in `egress.secret_env`),
    /// `if-secret-looking` (from `${VAR}` or `?question`: when it has 12+
    /// characters and looks random), `no` (literals, placeholders).
    pub known_secret: KnownSecret,
    /// The variable holds a credential's placeholder, not a resolved value
    /// (not in the JSON plan).
    #[serde(skip)]
    pub placeholder: bool,
}

/// Whether an env value is one of the proxy's known secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnownSecret {
    /// Always (listed in `egress.secret_env`; unless empty).
    Yes,
    /// When the value looks like a secret.
    IfSecretLooking,
    /// Never.
    No,
}

/// A bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountPlan {
    /// Host path.
    pub source: String,
    /// Path in the agent.
    pub target: String,
    /// Read-only.
    pub readonly: bool,
}

pub use bottle_policy::Preset;

/// Label keys.
pub mod labels {
    /// Instance name.
    pub const INSTANCE: &str = "bottle.instance";
    /// Resource role.
    pub const ROLE: &str = "bottle.role";
    /// Agent name.
    pub const AGENT: &str = "bottle.agent";
    /// Bottle name.
    pub const BOTTLE: &str = "bottle.bottle";
}

/// Plan a launch.
#[cfg(feature = "manifest")]
pub fn plan(set: &ManifestSet, inputs: &PlanInputs) -> Result<LaunchPlan, PlanError> {
    let agent_name = pick_agent(set, inputs.agent.as_deref())?;
    let Some(agent) = set.agents.get(&agent_name) else {
        return Err(PlanError::UnknownAgent {
            name: agent_name,
            available: set.agent_names(),
        });
    };
    let bottle_name = agent.value.bottle.clone();
    let Some(bottle) = set.bottles.get(&bottle_name) else {
        // merge() already rejects dangling references; keep the message anyway.
        return Err(PlanError::UnknownAgent {
            name: bottle_name,
            available: set.bottle_names(),
        });
    };
    let file = set.source(bottle.source);
    let bp = KeyPath::root().key("bottles").key(&bottle_name);
    let mut diags: Vec<Diagnostic> = Vec::new();
    let b = &bottle.value;

    let instance = instance_name(&agent_name, &inputs.running);
    let name = |suffix: &str| format!("bottle-{instance}-{suffix}");
    let resolve = |p: &str| resolve_path(p, file.dir.as_deref(), inputs.home.as_deref());

    // Allowlist: defaults ∪ bottle ∪ passthrough.
    let mut rules: Vec<AllowRule> = Vec::new();
    if b.egress.defaults {
        for h in &inputs.default_allowlist {
            rules.push(
                AllowRule::parse(h).map_err(|e| PlanError::BadDefaultAllowlist {
                    host: h.clone(),
                    why: e.to_string(),
                })?,
            );
        }
    }
    for entry in &b.egress.allowlist {
        // Validated at load; a failure here cannot happen, but skip rather than panic.
        let Ok(mut rule) = AllowRule::parse(entry.host()) else {
            continue;
        };
        if let AllowEntry::Rule(t) = entry {
            rule.methods = t.methods.iter().map(|m| m.to_ascii_uppercase()).collect();
            rule.methods.sort();
            rule.methods.dedup();
            rule.paths = t
                .paths
                .iter()
                .filter_map(|p| PathGlob::parse(p).ok())
                .collect();
        }
        rules.push(rule);
    }
    let mut passthrough: Vec<String> = Vec::new();
    for h in &b.egress.passthrough {
        if let Ok(rule) = AllowRule::parse(h) {
            passthrough.push(rule.to_string());
            rules.push(rule);
        }
    }
    passthrough.sort();
    passthrough.dedup();
    let allowlist = Allowlist::new(rules);

    // Credentials: the host must be allowlisted and intercepted.
    let mut credentials = Vec::new();
    for (i, c) in b.credentials.iter().enumerate() {
        let cp = bp.key("credentials").index(i);
        let host = c.host.to_ascii_lowercase();
        if !allowlist.allows_host_port(&host, 443) && !allowlist.allows_host_port(&host, 80) {
            diags.push(
                file.diagnostic(
                    &cp.key("host"),
                    format!("credential host {host:?} is not on the bottle's allowlist"),
                )
                .with_help(format!(
                    "add \"{host}\" to bottles.{bottle_name}.egress.allowlist"
                )),
            );
        }
        if b.egress
            .passthrough
            .iter()
            .filter_map(|p| HostPattern::parse_with_port(p).ok())
            .any(|(p, _)| p.matches(&host))
        {
            diags.push(
                file.diagnostic(&cp.key("host"), format!("credential host {host:?} is in passthrough, so its requests cannot be rewritten"))
                    .with_help("remove the host from passthrough: credentials are injected only into intercepted TLS"),
            );
        }
        check_vars(
            &mut diags,
            file,
            &cp.key("value"),
            &c.value,
            &inputs.host_env,
        );
        credentials.push(CredentialPlan {
            host,
            header: c.header.to_ascii_lowercase(),
            agent_env: c.agent_env.clone(),
            value_from: c.value.describe(),
        });
    }

    // Env: user entries, then credential placeholders.
    let mut env: Vec<EnvPlan> = Vec::new();
    for (k, v) in &b.env {
        check_vars(&mut diags, file, &bp.key("env").key(k), v, &inputs.host_env);
        let known_secret = if b.egress.secret_env.contains(k) {
            KnownSecret::Yes
        } else if matches!(v, EnvValue::Ask(_)) || !v.vars().is_empty() {
            KnownSecret::IfSecretLooking
        } else {
            KnownSecret::No
        };
        env.push(EnvPlan {
            name: k.clone(),
            from: v.describe(),
            known_secret,
            placeholder: false,
        });
    }
    for c in &credentials {
        if let Some(e) = &c.agent_env {
            env.push(EnvPlan {
                name: e.clone(),
                from: format!("placeholder (credential for {})", c.host),
                known_secret: KnownSecret::No,
                placeholder: true,
            });
        }
    }
    env.sort_by(|a, b| a.name.cmp(&b.name));

    // Git remotes.
    let git_container = name("git");
    let mut git = Vec::new();
    for (i, g) in b.git.iter().enumerate() {
        let gp = bp.key("git").index(i);
        let Ok(url) = GitUrl::parse(&g.upstream) else {
            continue;
        };
        let credential = match (&g.identity_file, &g.token) {
            (Some(id), _) => GitCredential::IdentityFile { path: resolve(id) },
            (None, Some(t)) => {
                check_vars(&mut diags, file, &gp.key("token"), t, &inputs.host_env);
                GitCredential::Token { from: t.describe() }
            }
            (None, None) => GitCredential::None,
        };
        let mut allow = Vec::new();
        for (j, a) in g.allow.iter().enumerate() {
            let at = gp.key("allow").index(j);
            let fp_ok = a
                .fingerprint
                .as_deref()
                .is_none_or(|f| f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit()));
            if a.path.is_none() && a.fingerprint.is_none() {
                diags.push(
                    file.diagnostic(&at, "an allow entry needs a path, a fingerprint or both".into())
                        .with_help("e.g. { path = \"vendor/ring/tests/**\" } or { fingerprint = \"<64 hex from the refusal's audit line>\" }"),
                );
                continue;
            }
            if !fp_ok {
                diags.push(file.diagnostic(
                    &at.key("fingerprint"),
                    "a fingerprint is 64 hex digits (the `fingerprint` of the refused finding in the audit log)".into(),
                ));
                continue;
            }
            allow.push(GitAllowPlan {
                path: a.path.clone(),
                fingerprint: a.fingerprint.clone(),
                reason: a.reason.clone(),
            });
        }
        git.push(GitRemotePlan {
            name: g.name.clone(),
            upstream: g.upstream.clone(),
            transport: url.transport,
            gate_url: format!("http://{git_container}:{GIT_GATE_PORT}/{}.git", g.name),
            rewrites: url.spellings(),
            credential,
            known_host_key: g.known_host_key.clone(),
            allow,
        });
    }

    if !diags.is_empty() {
        return Err(ManifestError { diagnostics: diags }.into());
    }

    let preset = agent.value.preset;
    let image = match (&b.image, &b.dockerfile) {
        (Some(r), _) => ImagePlan::Image {
            reference: r.clone(),
        },
        (None, Some(d)) => ImagePlan::Dockerfile {
            path: resolve(d),
            tag: format!("bottle/custom-{bottle_name}:latest"),
        },
        (None, None) => ImagePlan::Preset {
            preset,
            reference: format!("bottle/agent-{}:latest", preset.as_str()),
        },
    };

    let int = name("int");
    let out = name("out");
    let git_out = name("git-out");
    let mut networks = vec![
        NetworkPlan {
            name: int.clone(),
            role: NetworkRole::Internal,
            internal: true,
        },
        NetworkPlan {
            name: out.clone(),
            role: NetworkRole::Egress,
            internal: false,
        },
    ];
    let egress_container = name("egress");
    let mut containers = vec![ContainerPlan {
        name: egress_container.clone(),
        role: Role::Egress,
        image: format!("bottle/egress:{}", inputs.sidecar_tag),
        networks: vec![int.clone(), out],
    }];
    let mut no_proxy = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !git.is_empty() {
        networks.push(NetworkPlan {
            name: git_out.clone(),
            role: NetworkRole::GitEgress,
            internal: false,
        });
        containers.push(ContainerPlan {
            name: git_container.clone(),
            role: Role::Git,
            image: format!("bottle/git-gate:{}", inputs.sidecar_tag),
            networks: vec![int.clone(), git_out],
        });
        no_proxy.push(git_container);
    }
    containers.push(ContainerPlan {
        name: name("agent"),
        role: Role::Agent,
        image: image.reference().to_string(),
        networks: vec![int],
    });

    let command = agent
        .value
        .command
        .clone()
        .unwrap_or_else(|| preset_command(preset));

    let mut labels = BTreeMap::new();
    labels.insert(labels::INSTANCE.to_string(), instance.clone());
    labels.insert(labels::AGENT.to_string(), agent_name.clone());
    labels.insert(labels::BOTTLE.to_string(), bottle_name.clone());

    Ok(LaunchPlan {
        instance,
        agent: AgentPlan {
            name: agent_name,
            preset,
            command,
            has_prompt: agent.value.prompt.is_some(),
            prompt: agent
                .value
                .prompt
                .clone()
                .filter(|_| agent.value.command.is_none())
                .filter(|_| matches!(preset, Preset::Claude | Preset::Codex)),
            source: set.source(agent.source).name.clone(),
        },
        bottle: BottleRef {
            name: bottle_name,
            source: file.name.clone(),
        },
        networks,
        containers,
        image,
        egress: EgressPlan {
            proxy_url: format!("http://{egress_container}:{EGRESS_PORT}"),
            no_proxy,
            defaults: b.egress.defaults,
            allowlist: {
                let mut v: Vec<AllowRulePlan> = allowlist.rules().iter().map(rule_plan).collect();
                v.sort();
                v
            },
            passthrough,
            upstream_ca: b.egress.upstream_ca.iter().map(|p| resolve(p)).collect(),
            allow_cidrs: b.egress.allow_cidrs.clone(),
            hosts: b.egress.hosts.clone(),
            dlp: DlpPlan {
                cards: b.egress.dlp.cards,
                iban: b.egress.dlp.iban,
                ssn: b.egress.dlp.ssn,
                bank_routing: b.egress.dlp.bank_routing,
                crypto_keys: b.egress.dlp.crypto_keys,
                crypto_addresses: b.egress.dlp.crypto_addresses,
            },
            dlp_allow: b
                .egress
                .dlp_allow
                .iter()
                .map(|a| DlpAllowPlan {
                    host: a.host.to_ascii_lowercase(),
                    fingerprint: a.fingerprint.to_ascii_lowercase(),
                })
                .collect(),
            dangerously_allow_public_suffix_wildcards: b
                .egress
                .dangerously_allow_public_suffix_wildcards,
        },
        credentials,
        git,
        env,
        mounts: b
            .mounts
            .iter()
            .map(|m| MountPlan {
                source: resolve(&m.source),
                target: m.target.clone(),
                readonly: m.readonly,
            })
            .collect(),
        runtime: b.runtime.clone(),
        labels,
    })
}

#[cfg(feature = "manifest")]
fn pick_agent(set: &ManifestSet, asked: Option<&str>) -> Result<String, PlanError> {
    match asked {
        Some(a) if set.agents.contains_key(a) => Ok(a.to_string()),
        Some(a) => Err(PlanError::UnknownAgent {
            name: a.to_string(),
            available: set.agent_names(),
        }),
        None => match (&set.default_agent, set.agents.len()) {
            (Some(Sourced { value, .. }), _) => Ok(value.clone()),
            (None, 1) => Ok(set.agents.keys().next().cloned().unwrap_or_default()),
            (None, _) => Err(PlanError::NoAgent {
                available: set.agent_names(),
            }),
        },
    }
}

/// The instance name: the agent's name, or `<name>-N` with the smallest
/// N ≥ 2 that is not running.
pub fn instance_name(agent: &str, running: &BTreeSet<String>) -> String {
    if !running.contains(agent) {
        return agent.to_string();
    }
    (2..)
        .map(|n| format!("{agent}-{n}"))
        .find(|c| !running.contains(c))
        .unwrap_or_else(|| agent.to_string())
}

/// The command a preset runs when the agent names none.
pub fn preset_command(preset: Preset) -> Vec<String> {
    match preset {
        Preset::Shell => vec!["bash".into(), "-l".into()],
        Preset::Claude => vec!["claude".into(), "--dangerously-skip-permissions".into()],
        Preset::Codex => vec![
            "codex".into(),
            "--dangerously-bypass-approvals-and-sandbox".into(),
        ],
    }
}

#[cfg(feature = "manifest")]
fn rule_plan(r: &AllowRule) -> AllowRulePlan {
    AllowRulePlan {
        host: r.host.to_string(),
        port: r.port,
        methods: r.methods.clone(),
        paths: r.paths.iter().map(|p| p.as_str().to_string()).collect(),
    }
}

#[cfg(feature = "manifest")]
fn check_vars(
    diags: &mut Vec<Diagnostic>,
    file: &bottle_manifest::SourceFile,
    path: &KeyPath,
    v: &EnvValue,
    host_env: &BTreeSet<String>,
) {
    for var in v.vars() {
        if !host_env.contains(var) {
            diags.push(
                file.diagnostic(
                    path,
                    format!("${{{var}}} is not set in the host environment"),
                )
                .with_help(format!(
                    "export {var}=... before running bottle, or change the value"
                )),
            );
        }
    }
}

/// Resolve a manifest path: `~/` from the home directory, relative paths
/// against the manifest's directory.
pub fn resolve_path(p: &str, base: Option<&Path>, home: Option<&Path>) -> String {
    if let (Some(rest), Some(h)) = (p.strip_prefix("~/"), home) {
        return h.join(rest).display().to_string();
    }
    if p == "~"
        && let Some(h) = home
    {
        return h.display().to_string();
    }
    let path = Path::new(p);
    match base {
        Some(b) if path.is_relative() => {
            let joined = b.join(path);
            // Tidy `./x` without touching the filesystem.
            let mut out = PathBuf::new();
            for c in joined.components() {
                match c {
                    std::path::Component::CurDir => {}
                    other => out.push(other),
                }
            }
            if out.as_os_str().is_empty() {
                ".".to_string()
            } else {
                out.display().to_string()
            }
        }
        _ => p.to_string(),
    }
}
