//! The human-readable plan: what `bottle plan` prints and what the `start`
//! preflight shows before asking y/N.

use crate::{AllowRulePlan, ImagePlan, LaunchPlan};
use std::fmt::Write;

/// `9 hosts allowed (api.anthropic.com, api.github.com, claude.ai, +6 more)`:
/// distinct host patterns, sorted, the first three named.
pub fn allowlist_summary(rules: &[AllowRulePlan]) -> String {
    let mut hosts: Vec<String> = rules
        .iter()
        .map(|r| match r.port {
            Some(p) => format!("{}:{p}", r.host),
            None => r.host.clone(),
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    let n = hosts.len();
    let noun = if n == 1 { "host" } else { "hosts" };
    match n {
        0 => "no hosts allowed".to_string(),
        1..=3 => format!("{n} {noun} allowed ({})", hosts.join(", ")),
        _ => format!(
            "{n} {noun} allowed ({}, +{} more)",
            hosts[..3].join(", "),
            n - 3
        ),
    }
}

/// The plan as text.
pub fn render_text(p: &LaunchPlan) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail; ignore the fmt::Result.
    let _ = write_plan(&mut s, p);
    s
}

fn write_plan(s: &mut String, p: &LaunchPlan) -> std::fmt::Result {
    let w = 12;
    writeln!(
        s,
        "agent {:?} in bottle {:?}, instance {}",
        p.agent.name, p.bottle.name, p.instance
    )?;
    let project_note = if p.bottle.source.starts_with('<') {
        String::new()
    } else {
        " (a project file can widen its own sandbox: review it)".to_string()
    };
    writeln!(
        s,
        "  {:w$}{}{}",
        "bottle from", p.bottle.source, project_note
    )?;
    if p.agent.source != p.bottle.source {
        writeln!(s, "  {:w$}{}", "agent from", p.agent.source)?;
    }
    let image = match &p.image {
        ImagePlan::Image { reference } => reference.clone(),
        ImagePlan::Dockerfile { path, tag } => format!("{tag} (built from {path})"),
        ImagePlan::Preset { preset, reference } => {
            format!("{reference} (preset {})", preset.as_str())
        }
    };
    writeln!(s, "  {:w$}{image}", "image")?;
    let prompt = if p.agent.has_prompt {
        " (with the manifest's prompt)"
    } else {
        ""
    };
    writeln!(s, "  {:w$}{}{prompt}", "command", p.agent.command.join(" "))?;
    writeln!(
        s,
        "  {:w$}{}",
        "runtime",
        p.runtime.as_deref().unwrap_or("default")
    )?;
    let nets: Vec<String> = p
        .networks
        .iter()
        .map(|n| format!("{} ({})", n.name, n.role))
        .collect();
    writeln!(s, "  {:w$}{}", "networks", nets.join(", "))?;
    for (i, c) in p
        .containers
        .iter()
        .filter(|c| c.role != crate::Role::Agent)
        .enumerate()
    {
        let label = if i == 0 { "sidecars" } else { "" };
        writeln!(
            s,
            "  {:w$}{} ({}, image {})",
            label, c.name, c.role, c.image
        )?;
    }
    writeln!(
        s,
        "  {:w$}{}",
        "egress",
        allowlist_summary(&p.egress.allowlist)
    )?;
    let pad = "";
    if !p.egress.defaults {
        writeln!(s, "  {pad:w$}default allowlist: off")?;
    }
    for r in p
        .egress
        .allowlist
        .iter()
        .filter(|r| !r.methods.is_empty() || !r.paths.is_empty())
    {
        let methods = if r.methods.is_empty() {
            "any method".to_string()
        } else {
            r.methods.join(",")
        };
        let paths = if r.paths.is_empty() {
            "any path".to_string()
        } else {
            r.paths.join(", ")
        };
        writeln!(s, "  {pad:w$}limited: {} {methods} {paths}", r.host)?;
    }
    if !p.egress.passthrough.is_empty() {
        writeln!(
            s,
            "  {pad:w$}not intercepted (no body scanning): {}",
            p.egress.passthrough.join(", ")
        )?;
    }
    if !p.egress.upstream_ca.is_empty() {
        writeln!(
            s,
            "  {pad:w$}extra upstream CAs: {}",
            p.egress.upstream_ca.join(", ")
        )?;
    }
    for (name, addr) in &p.egress.hosts {
        writeln!(
            s,
            "  {pad:w$}hosts map: {name} -> {addr} (not resolved, private-range check skipped)"
        )?;
    }
    if !p.egress.allow_cidrs.is_empty() {
        writeln!(
            s,
            "  {pad:w$}private ranges reachable: {}",
            p.egress.allow_cidrs.join(", ")
        )?;
    }
    let d = &p.egress.dlp;
    let off: Vec<&str> = [
        (d.cards, "card numbers"),
        (d.iban, "IBANs"),
        (d.ssn, "Social Security numbers"),
        (d.bank_routing, "bank routing numbers"),
        (d.crypto_keys, "crypto-wallet keys"),
        (d.crypto_addresses, "crypto-wallet addresses"),
    ]
    .iter()
    .filter(|(on, _)| !on)
    .map(|(_, what)| *what)
    .collect();
    if !off.is_empty() {
        writeln!(s, "  {pad:w$}DLP does not look for: {}", off.join(", "))?;
    }
    for a in &p.egress.dlp_allow {
        writeln!(
            s,
            "  {pad:w$}DLP finding accepted for {}: {}",
            a.host, a.fingerprint
        )?;
    }
    if p.credentials.is_empty() {
        writeln!(s, "  {:w$}none", "credentials")?;
    }
    for (i, c) in p.credentials.iter().enumerate() {
        let label = if i == 0 { "credentials" } else { "" };
        let placeholder = match &c.agent_env {
            Some(e) => format!("; agent's {e} holds a placeholder"),
            None => String::new(),
        };
        writeln!(
            s,
            "  {label:w$}{} header {:?} ({}{placeholder})",
            c.host, c.header, c.value_from
        )?;
    }
    if p.git.is_empty() {
        writeln!(s, "  {:w$}none", "git")?;
    }
    for (i, g) in p.git.iter().enumerate() {
        let label = if i == 0 { "git" } else { "" };
        writeln!(
            s,
            "  {label:w$}{} {} -> {} ({})",
            g.name, g.upstream, g.gate_url, g.credential
        )?;
        // What the gate's push scan lets through for this remote: an
        // operator decision worth seeing before every start.
        for a in &g.allow {
            writeln!(s, "  {:w$}{} push scan allows {a}", "", g.name)?;
        }
    }
    if p.env.is_empty() {
        writeln!(s, "  {:w$}none", "env")?;
    } else {
        let env: Vec<String> = p
            .env
            .iter()
            .map(|e| format!("{} ({})", e.name, e.from))
            .collect();
        writeln!(s, "  {:w$}{}", "env", env.join(", "))?;
    }
    if p.mounts.is_empty() {
        writeln!(s, "  {:w$}none", "mounts")?;
    }
    for (i, m) in p.mounts.iter().enumerate() {
        let label = if i == 0 { "mounts" } else { "" };
        let mode = if m.readonly { "ro" } else { "rw" };
        writeln!(s, "  {label:w$}{} -> {} ({mode})", m.source, m.target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(h: &str) -> AllowRulePlan {
        AllowRulePlan {
            host: h.into(),
            port: None,
            methods: vec![],
            paths: vec![],
        }
    }

    #[test]
    fn summary_forms() {
        assert_eq!(allowlist_summary(&[]), "no hosts allowed");
        assert_eq!(allowlist_summary(&[r("a.com")]), "1 host allowed (a.com)");
        let many: Vec<_> = ["e.com", "d.com", "c.com", "b.com", "a.com", "a.com"]
            .iter()
            .map(|h| r(h))
            .collect();
        assert_eq!(
            allowlist_summary(&many),
            "5 hosts allowed (a.com, b.com, c.com, +2 more)"
        );
    }
}
