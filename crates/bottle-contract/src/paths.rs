//! In-container paths, users and ports the sidecar images, their configs
//! and the launcher agree on. The images' Dockerfiles (`images/egress`,
//! `images/git-gate`) spell the same values; the end-to-end suite runs them.

/// Port the egress proxy listens on inside the bottle.
pub const EGRESS_PORT: u16 = bottle_plan::EGRESS_PORT;
/// Port the git gate listens on inside the bottle.
pub const GIT_GATE_PORT: u16 = bottle_plan::GIT_GATE_PORT;

/// The `bottle` binary in the egress image (`FROM scratch`).
pub const EGRESS_BINARY: &str = "/bottle";
/// The egress proxy's config.
pub const EGRESS_CONFIG: &str = "/etc/bottle/egress.toml";
/// The bottle CA certificate (egress and agent).
pub const CA_CERT: &str = "/etc/bottle/ca.pem";
/// The bottle CA key (egress only).
pub const CA_KEY: &str = "/etc/bottle/ca.key";
/// Directory for extra upstream CA files (egress).
pub const UPSTREAM_CA_DIR: &str = "/etc/bottle/upstream-ca";
/// User the egress proxy runs as (`nobody`).
pub const EGRESS_UID: u32 = 65534;

/// The `bottle` binary in the git gate image.
pub const GIT_BINARY: &str = "/usr/local/bin/bottle";
/// The git gate's config.
pub const GIT_CONFIG: &str = "/etc/bottle/git-gate.toml";
/// Directory of the git gate's credentials (keys).
pub const GIT_SECRETS_DIR: &str = "/etc/bottle/git";
/// The git gate's data directory (its home; the mirrors are below it).
pub const GIT_DATA_DIR: &str = "/var/lib/bottle-gate";
/// User the git gate runs as.
pub const GIT_UID: u32 = 999;

/// The agent's git config (`GIT_CONFIG_SYSTEM`).
pub const AGENT_GITCONFIG: &str = "/etc/bottle/gitconfig";
/// The agent's description of its sandbox (what the presets' CLAUDE.md
/// and AGENTS.md point at).
pub const AGENT_POLICY: &str = "/etc/bottle/policy.md";
/// User the agent runs as.
pub const AGENT_UID: u32 = 1000;
/// Where the agent's CA bundle goes when the image has none (and what the
/// trust variables name).
pub const DEFAULT_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The git gate's mirrors.
pub fn git_mirrors() -> String {
    format!("{GIT_DATA_DIR}/mirrors")
}

/// Where the gate's ssh key of remote `name` goes.
pub fn git_identity_file(name: &str) -> String {
    format!("{GIT_SECRETS_DIR}/{name}.key")
}

/// Where the `i`-th `egress.upstream_ca` file goes.
pub fn upstream_ca(i: usize) -> String {
    format!("{UPSTREAM_CA_DIR}/{i}.pem")
}
