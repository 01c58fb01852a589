//! The argv of every self-invocation of the `bottle` binary inside a
//! bottle: what the sidecars run, their health checks, the gate's hook.
//! Defined once here; the binary's unit tests parse each through its clap
//! definition, so a renamed flag fails a test, not a launch.

use crate::paths;

fn v(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// The egress sidecar's command: `/bottle egress-proxy --config …`.
pub fn egress_proxy() -> Vec<String> {
    v(&[
        paths::EGRESS_BINARY,
        "egress-proxy",
        "--config",
        paths::EGRESS_CONFIG,
    ])
}

/// The egress sidecar's health check (run with `docker exec`, and its
/// Docker `HEALTHCHECK`).
pub fn egress_health() -> Vec<String> {
    let mut a = v(&[paths::EGRESS_BINARY, "egress-proxy", "--health-check"]);
    a.push(format!("127.0.0.1:{}", paths::EGRESS_PORT));
    a
}

/// The git gate sidecar's command: `bottle git-gate --config …`.
pub fn git_gate() -> Vec<String> {
    v(&[paths::GIT_BINARY, "git-gate", "--config", paths::GIT_CONFIG])
}

/// The git gate's health check.
pub fn git_health() -> Vec<String> {
    let mut a = v(&[paths::GIT_BINARY, "git-gate", "health", "--addr"]);
    a.push(format!("127.0.0.1:{}", paths::GIT_GATE_PORT));
    a
}

/// The pre-receive hook git runs in the gate's mirrors (the gate config's
/// `hook_command`).
pub fn git_hook() -> Vec<String> {
    v(&[paths::GIT_BINARY, "git-gate", "hook"])
}

/// Every argv above, named (for tests that parse them all).
pub fn all() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("egress_proxy", egress_proxy()),
        ("egress_health", egress_health()),
        ("git_gate", git_gate()),
        ("git_health", git_health()),
        ("git_hook", git_hook()),
    ]
}
