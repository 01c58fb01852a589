//! The policy description the agent reads: `/etc/bottle/policy.md` in the
//! agent container, written by the launcher from the plan. The claude
//! preset's managed CLAUDE.md and the codex preset's AGENTS.md point at it,
//! so an agent knows its sandbox before it hits a wall: which hosts it may
//! reach, that all traffic goes through the proxy, that DNS does not
//! resolve outside names, and how git remotes reach the gate.

use bottle_plan::LaunchPlan;
use std::fmt::Write as _;

/// The text of the policy file for `plan`. Holds no secret: host names,
/// rules, remote names and the proxy address only.
pub fn policy_md(plan: &LaunchPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# This sandbox's network policy (bottle `{}`)\n",
        plan.instance
    );
    let _ = writeln!(
        s,
        "- All network traffic leaves through the egress proxy at {} (`HTTP_PROXY` / `HTTPS_PROXY` are set; most tools use them). There is no other route out: direct connections fail.",
        plan.egress.proxy_url
    );
    let _ = writeln!(
        s,
        "- DNS does not resolve outside names inside the bottle (\"Temporary failure in name resolution\" is expected): the proxy resolves them. Use the proxy, not raw sockets or your own resolver."
    );
    let _ = writeln!(
        s,
        "- HTTPS is intercepted by the bottle's own CA (trusted by the system store, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`). Requests are scanned for secrets; one that carries a secret is refused."
    );
    let _ = writeln!(
        s,
        "- A refused request gets `403` with a plain-text body (and an `X-Bottle-Block: <check>:<rule>` header) saying which check refused it and which manifest line would allow it. Do not retry or route around a refusal: tell the user what was refused and quote the line; the operator decides (`bottle why` shows it to them).\n"
    );
    let _ = writeln!(s, "## Hosts you may reach\n");
    if plan.egress.allowlist.is_empty() && plan.egress.passthrough.is_empty() {
        let _ = writeln!(s, "None: every outside request is refused.");
    }
    for r in &plan.egress.allowlist {
        let port = match r.port {
            Some(p) => format!(":{p}"),
            None => " (ports 80 and 443)".to_string(),
        };
        let mut line = format!("- `{}`{port}", r.host);
        if !r.methods.is_empty() {
            let _ = write!(line, ", methods {}", r.methods.join(", "));
        }
        if !r.paths.is_empty() {
            let _ = write!(line, ", paths {}", r.paths.join(", "));
        }
        if r.host.starts_with("*.") {
            line.push_str(" (subdomains, not the name itself)");
        }
        let _ = writeln!(s, "{line}");
    }
    for p in &plan.egress.passthrough {
        let _ = writeln!(s, "- `{p}` (TLS not intercepted)");
    }
    let _ = writeln!(s);
    if !plan.git.is_empty() {
        let _ = writeln!(s, "## Git remotes\n");
        let _ = writeln!(
            s,
            "Git remotes go through the bottle's git gate, which checks pushes for secrets. Use these URLs as written (the system git config rewrites them to the gate); SSH to other hosts does not work."
        );
        let _ = writeln!(s);
        for g in &plan.git {
            let _ = writeln!(s, "- `{}`: `{}`", g.name, g.upstream);
        }
        let _ = writeln!(s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_allowlist_the_proxy_and_dns() {
        let set = bottle_manifest::ManifestSet::embedded().unwrap();
        let inputs = bottle_plan::PlanInputs {
            agent: None,
            running: Default::default(),
            default_allowlist: vec!["api.example.test".into(), "*.pkg.example.test".into()],
            home: None,
            host_env: Default::default(),
            sidecar_tag: "t".into(),
        };
        let plan = bottle_plan::plan(&set, &inputs).unwrap();
        let text = policy_md(&plan);
        assert!(text.contains(&plan.egress.proxy_url), "{text}");
        assert!(text.contains("DNS does not resolve"), "{text}");
        for r in &plan.egress.allowlist {
            assert!(text.contains(&format!("`{}`", r.host)), "{text}");
        }
    }
}
