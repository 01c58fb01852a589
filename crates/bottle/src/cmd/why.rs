//! `bottle why [NAME] [--apply]`: what a bottle's gates refused, why, and
//! the smallest manifest change that would allow it.
//!
//! Reads the egress proxy's audit log (and the git gate's) of the bottle —
//! running, or the copy saved when it stopped — groups the blocks, explains
//! each group in a sentence and proposes one manifest line per group where
//! one exists: an allowlist entry as narrow as the traffic was (method and
//! path when they were constant), a `dlp_allow` entry for a finding's
//! fingerprint, an `allow_cidrs` entry for one internal address. The lines
//! are shown as a patch to the manifest file the bottle's table comes from;
//! `--apply` writes it after a y/N question.

use super::common::{ManifestArgs, load_manifest};
use super::launch::{confirm, runtime};
use anyhow::Context as _;
use bottle_docker::ops::{LogChunk, LogSource};
use bottle_manifest::node::{Kind, Node};
use bottle_policy::{AuditRecord, SidecarAudit, suggest};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

/// Explain a bottle's blocks and propose the manifest change.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The bottle's name (see `bottle ls`; default: the manifest's
    /// default agent).
    pub name: Option<String>,
    /// Write the patch to the manifest (asks first).
    #[arg(long)]
    pub apply: bool,
    /// Instead of the blocks: the hosts a learn-mode run (`--learn`) let
    /// through, as the allowlist entries that would allow them.
    #[arg(long)]
    pub learned: bool,
    /// Answer the question of `--apply` with yes.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub manifest: ManifestArgs,
}

/// Blocks that share a reason and a target.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Group {
    /// `check`.
    pub check: String,
    /// `rule`.
    pub rule: String,
    /// Host as logged.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The finding's fingerprint (DLP blocks).
    pub fingerprint: Option<String>,
    /// The refused address (SSRF blocks).
    pub address: Option<String>,
    /// How many lines.
    pub count: usize,
    /// Methods of the requests (CONNECT lines excluded).
    pub methods: BTreeSet<String>,
    /// Paths of the requests as rules see them (no query), or
    /// `[redacted]` where the audit line hid the path.
    pub paths: BTreeSet<String>,
    /// One example request, for the heading.
    pub example: String,
}

/// A manifest line in one of the egress table's arrays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The array: `allowlist`, `dlp_allow` or `allow_cidrs`.
    pub key: &'static str,
    /// The item, as TOML.
    pub item: String,
}

/// Group the egress blocks of an audit log, in order of first appearance.
pub fn group(records: &[AuditRecord]) -> Vec<Group> {
    let mut order: Vec<Group> = Vec::new();
    for rec in records {
        if rec.decision != bottle_policy::Decision::Block {
            continue;
        }
        let Some(e) = rec.egress() else { continue };
        let pos = order.iter().position(|g| {
            g.check == e.check
                && g.rule == e.rule
                && g.host == e.host
                && g.port == e.port
                && g.fingerprint == e.fingerprint
                && g.address == e.address
        });
        let i = match pos {
            Some(i) => i,
            None => {
                order.push(Group {
                    check: e.check.clone(),
                    rule: e.rule.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    fingerprint: e.fingerprint.clone(),
                    address: e.address.clone(),
                    example: format!("{} {}", e.method, super::logs::egress_target(e)),
                    ..Group::default()
                });
                order.len() - 1
            }
        };
        let g = &mut order[i];
        g.count += 1;
        if !e.method.eq_ignore_ascii_case("CONNECT") {
            if g.methods.is_empty() {
                g.example = format!("{} {}", e.method, super::logs::egress_target(e));
            }
            g.methods.insert(e.method.to_ascii_uppercase());
            g.paths
                .insert(usable_path(&e.path).unwrap_or_else(|| REDACTED.to_string()));
        }
    }
    order
}

/// A path that cannot go into a rule (the audit line redacted it).
const REDACTED: &str = "[redacted]";

/// A logged path usable in a rule: not redacted (the query is dropped).
fn usable_path(p: &str) -> Option<String> {
    if p.starts_with("[redacted]") || p.is_empty() {
        return None;
    }
    Some(suggest::path_glob(p))
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The sentence for a group and the change that would allow it, if any.
pub fn explain(g: &Group) -> (String, Option<Change>) {
    let n = plural(g.count, "request");
    let hp = format!("{}:{}", g.host, g.port);
    let redacted_host = g.host.contains("[redacted]");
    let allow = |methods: &[String], paths: &[String]| {
        Some(Change {
            key: "allowlist",
            item: suggest::allow_entry(&g.host, g.port, methods, paths),
        })
    };
    match (g.check.as_str(), g.rule.as_str()) {
        ("allowlist", "host-not-allowed" | "port-not-allowed") => {
            let why = if g.rule == "host-not-allowed" {
                format!("{} is not on the bottle's allowlist", g.host)
            } else {
                format!("{} is on the allowlist, but not on port {}", g.host, g.port)
            };
            // As narrow as the traffic: a method and a path when they were
            // the same in every request seen inside.
            let methods: Vec<String> = if g.methods.len() == 1 {
                g.methods.iter().cloned().collect()
            } else {
                Vec::new()
            };
            let paths: Vec<String> = match g.paths.iter().collect::<Vec<_>>().as_slice() {
                [one] if *one != REDACTED => vec![one.to_string()],
                _ => Vec::new(),
            };
            (
                format!("{n} to {hp} refused: {why}."),
                allow(&methods, &paths),
            )
        }
        ("allowlist", "method-or-path-not-allowed") => {
            let methods: Vec<String> = g.methods.iter().cloned().collect();
            let paths: Vec<String> = g.paths.iter().filter(|p| *p != REDACTED).cloned().collect();
            let what = format!("{} {}", methods.join("/"), paths.join(", "));
            let change = (!methods.is_empty() && !paths.is_empty())
                .then(|| allow(&methods, &paths))
                .flatten();
            (
                format!(
                    "{n} to {hp} refused: the host is allowed, but its entries do not cover {what}."
                ),
                change,
            )
        }
        (c, r) if c.starts_with("dlp-") => {
            let where_ = match c {
                "dlp-url" => "the URL",
                "dlp-header" => "a header",
                "dlp-body" => "the body",
                "dlp-websocket" => "a WebSocket message",
                _ => "the request",
            };
            match (&g.fingerprint, r) {
                (Some(fp), _) if !redacted_host => (
                    format!(
                        "{n} to {} refused: {where_} carried what the scanner reads as a secret ({r}; finding fingerprint {fp}). If it is expected (a test key the agent must send there), accept this one finding for this host:",
                        g.host
                    ),
                    Some(Change {
                        key: "dlp_allow",
                        item: suggest::dlp_allow_entry(&g.host, fp),
                    }),
                ),
                (_, "known-secret") => (
                    format!(
                        "{n} to {} refused: {where_} carried a value this bottle knows as secret (a credential or an env value). No manifest line accepts it; to let the agent use a key with one host, declare it a credential of that host (the proxy injects it).",
                        g.host
                    ),
                    None,
                ),
                (_, "high-entropy-value") => (
                    format!(
                        "{n} to {} refused: the URL carried a long random-looking value (an encoded or encrypted payload the scanner cannot read). There is no per-host exception for this rule.",
                        g.host
                    ),
                    None,
                ),
                (_, "too-large") => (
                    format!(
                        "{n} to {} refused: the body was larger than the scan limit, so it could not be checked.",
                        g.host
                    ),
                    None,
                ),
                (_, "undecodable") => (
                    format!(
                        "{n} to {} refused: {where_} could not be decoded for scanning (unknown or corrupt encoding, or still encoded after the last layer).",
                        g.host
                    ),
                    None,
                ),
                _ => (
                    format!(
                        "{n} to {} refused: {where_} carried what the scanner reads as a secret ({r}).",
                        g.host
                    ),
                    None,
                ),
            }
        }
        ("ssrf", r) => {
            if matches!(r, "metadata" | "loopback") {
                return (
                    format!(
                        "{n} to {hp} refused: it is a {r} address; bottle proposes no exception for it."
                    ),
                    None,
                );
            }
            let target = match &g.address {
                Some(a) if *a != g.host => format!("{} resolves to {a}, a {r} address", g.host),
                _ => format!("{} is a {r} address", g.host),
            };
            let change = g
                .address
                .as_deref()
                .and_then(|a| a.parse().ok())
                .map(|ip| Change {
                    key: "allow_cidrs",
                    item: suggest::cidr_entry(ip),
                });
            (
                format!(
                    "{n} to {hp} refused: {target}; bottles reach internal addresses only where allow_cidrs names them."
                ),
                change,
            )
        }
        ("dns-exfil", r) => (
            format!(
                "{n} to {} refused: a name under a wildcard entry looked like encoded data ({r}: DNS exfiltration). Allow the exact names the agent needs.",
                g.host
            ),
            None,
        ),
        ("resolve", _) => (
            format!(
                "{n} to {hp} refused: {} does not resolve from the egress proxy. An internal name can be mapped to its address in the egress table's `hosts`.",
                g.host
            ),
            None,
        ),
        ("tls", "not-tls") => (
            format!(
                "{n} to {hp}: a client sent something other than TLS into a CONNECT tunnel (SSH or another protocol). Only HTTP(S) is proxied; git over SSH goes through the git gate (declare the remote in the bottle's git table)."
            ),
            None,
        ),
        ("tls", "handshake-failed") => (
            format!(
                "{n} to {hp}: a client did not accept the bottle's certificate (a tool with its own CA store, or certificate pinning). Point it at the system store (/etc/ssl/certs/ca-certificates.crt), or list the host in `passthrough` (then nothing inside is scanned)."
            ),
            None,
        ),
        ("tls", r) => (
            format!(
                "{n} to {hp} refused ({r}): the TLS name or the request's Host did not match the tunnel's host."
            ),
            None,
        ),
        ("upstream", "tls-error") => (
            format!(
                "{n} to {hp} failed: the upstream's certificate is not trusted. A private CA goes in the egress table's `upstream_ca`."
            ),
            None,
        ),
        ("upstream", r) => (
            format!(
                "{n} to {hp} failed ({r}): the upstream could not be reached or broke the exchange."
            ),
            None,
        ),
        ("parse", r) => (
            format!("{n} refused as malformed ({r}): not a request the proxy can forward."),
            None,
        ),
        (c, r) => (format!("{n} to {hp} refused by {c}:{r}."), None),
    }
}

/// Insert `changes` into the egress table of bottle `bottle` in a TOML
/// manifest's text. Items already present are skipped.
pub fn patch_toml(text: &str, bottle: &str, changes: &[Change]) -> anyhow::Result<String> {
    let mut text = text.to_string();
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in changes {
        let v = by_key.entry(c.key).or_default();
        if !v.contains(&c.item.as_str()) {
            v.push(&c.item);
        }
    }
    for (key, items) in by_key {
        // Re-parse after each edit: spans move.
        let root = bottle_manifest::node::parse_toml(&text)
            .map_err(|e| anyhow::anyhow!("the manifest does not parse: {}", e.message))?;
        let egress = root
            .entry("bottles")
            .and_then(|b| b.value.entry(bottle))
            .and_then(|b| b.value.entry("egress"));
        let existing: Vec<String> = egress
            .and_then(|e| e.value.entry(key))
            .map(|a| match &a.value.kind {
                Kind::Array(items) => items
                    .iter()
                    .map(|i| normalize_item(&text[i.span.clone()]))
                    .collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let items: Vec<&str> = items
            .into_iter()
            .filter(|i| !existing.contains(&normalize_item(i)))
            .collect();
        if items.is_empty() {
            continue;
        }
        text = insert_items(&text, bottle, egress.map(|e| &e.value), key, &items)?;
    }
    Ok(text)
}

/// Compare items by their text without spaces (`{host="a"}` = `{ host = "a" }`).
fn normalize_item(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map(|i| at + i).unwrap_or(text.len())
}

fn insert_items(
    text: &str,
    bottle: &str,
    egress: Option<&Node>,
    key: &str,
    items: &[&str],
) -> anyhow::Result<String> {
    let joined = items.join(", ");
    let mut out = text.to_string();
    let Some(egress) = egress else {
        // No egress table: a new one at the end of the file.
        if !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "\n[bottles.{}.egress]\n{key} = [{joined}]\n",
            table_key(bottle)
        ));
        return Ok(out);
    };
    let Kind::Table(entries) = &egress.kind else {
        anyhow::bail!("bottles.{bottle}.egress is not a table");
    };
    if let Some(arr) = entries.iter().find(|e| e.key == key) {
        let Kind::Array(existing) = &arr.value.kind else {
            anyhow::bail!("bottles.{bottle}.egress.{key} is not an array");
        };
        match existing.last() {
            Some(last) => {
                let at = last.span.end;
                let lines: Vec<&str> = text[arr.value.span.clone()].lines().collect();
                if lines.len() > 1 {
                    // One item per line: keep the style.
                    let indent: String = text[..last.span.start]
                        .rsplit('\n')
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take_while(|c| c.is_whitespace())
                        .collect();
                    let add: String = items.iter().map(|i| format!(",\n{indent}{i}")).collect();
                    out.insert_str(at, &add);
                } else {
                    out.insert_str(at, &format!(", {joined}"));
                }
            }
            None => {
                let open = arr.value.span.start
                    + text[arr.value.span.clone()]
                        .find('[')
                        .context("array without '['")?;
                out.insert_str(open + 1, &joined);
            }
        }
        return Ok(out);
    }
    let region = &text[egress.span.clone()];
    if region.trim_start().starts_with('{') {
        // Inline table: before its closing brace.
        let close = egress.span.start + region.rfind('}').context("inline table without '}'")?;
        let sep = if entries.is_empty() { " " } else { ", " };
        out.insert_str(close, &format!("{sep}{key} = [{joined}] "));
        return Ok(out);
    }
    match entries.last() {
        Some(last) => {
            // After the last entry's line, written as that entry's key is
            // (`egress.x = …` under [bottles.b] needs the same prefix).
            let line_start = text[..last.key_span.start]
                .rfind('\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            let prefix = &text[line_start..last.key_span.start];
            let prefix = prefix.trim_start();
            let at = line_end(text, last.value.span.end);
            out.insert_str(at, &format!("\n{prefix}{key} = [{joined}]"));
        }
        None => {
            let header = format!("[bottles.{}.egress]", table_key(bottle));
            let at = text
                .find(&header)
                .map(|i| line_end(text, i))
                .context("cannot find the egress table's header")?;
            out.insert_str(at, &format!("\n{key} = [{joined}]"));
        }
    }
    Ok(out)
}

/// A bottle name as a TOML key (bare when it can be).
fn table_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_string()
    } else {
        suggest::toml_str(name)
    }
}

/// A unified diff of two texts (whole-line LCS; manifests are small).
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (' ' | '-' | '+', old index, new index).
    let mut ops: Vec<(char, usize, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    // `a/` and `b/` for a relative name (`git apply`, `patch -p1`); an
    // absolute one as it is (`patch -p0`).
    let mut out = if name.starts_with('/') {
        format!("--- {name}\n+++ {name}\n")
    } else {
        format!("--- a/{name}\n+++ b/{name}\n")
    };
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        let old_start = hunk[0].1;
        let new_start = hunk[0].2;
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            old_start + usize::from(old_len > 0),
            new_start + usize::from(new_len > 0)
        ));
        for &(op, i, j) in hunk {
            let line = if op == '+' { b[j] } else { a[i] };
            out.push_str(&format!("{op}{line}\n"));
        }
    }
    out
}

/// Wildcards only from this many distinct names under one parent: fewer
/// are listed by name (narrower).
const WILDCARD_FROM: usize = 4;

/// The minimal allowlist for what learn mode let through: every learned
/// host (and non-default port) by name, except where `WILDCARD_FROM` or
/// more names share a parent domain that the Public Suffix List lets a
/// wildcard cover; then that one wildcard.
pub fn learned_entries(records: &[AuditRecord]) -> Vec<Change> {
    let mut names: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    for rec in records {
        let Some(e) = rec.egress() else { continue };
        if rec.decision != bottle_policy::Decision::Allow || e.rule != "learned" {
            continue;
        }
        // An entry without a port covers both defaults.
        let port = if e.port == 80 { 443 } else { e.port };
        names.entry(port).or_default().insert(e.host.clone());
    }
    let mut out = Vec::new();
    for (port, hosts) in names {
        let mut by_parent: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for h in &hosts {
            if let Some((_, parent)) = h.split_once('.') {
                by_parent.entry(parent.to_string()).or_default().push(h);
            }
        }
        let mut covered: BTreeSet<&String> = BTreeSet::new();
        for (parent, members) in &by_parent {
            let pattern = bottle_policy::HostPattern::parse(&format!("*.{parent}"));
            let ok = pattern
                .as_ref()
                .is_ok_and(|p| bottle_policy::check_wildcard_base(p).is_ok())
                && parent.contains('.');
            if members.len() >= WILDCARD_FROM && ok {
                out.push(Change {
                    key: "allowlist",
                    item: suggest::allow_entry(&format!("*.{parent}"), port, &[], &[]),
                });
                covered.extend(members.iter().copied());
            }
        }
        for h in &hosts {
            if !covered.contains(h) {
                out.push(Change {
                    key: "allowlist",
                    item: suggest::allow_entry(h, port, &[], &[]),
                });
            }
        }
    }
    out
}

/// Read a bottle's audit lines (egress and git), running or stopped.
fn read_audit(name: &str) -> anyhow::Result<Vec<AuditRecord>> {
    runtime()?.block_on(async {
        let engine = bottle_docker::Engine::connect().await?;
        let mut out = Vec::new();
        for source in [LogSource::Egress, LogSource::Git] {
            let mut bytes = Vec::new();
            let r = bottle_docker::ops::logs(&engine, name, source, false, None, |chunk| {
                if let LogChunk::Out(b) = chunk {
                    bytes.extend_from_slice(&b);
                }
            })
            .await;
            if let Err(e) = r {
                if source == LogSource::Egress {
                    return Err(anyhow::Error::from(e));
                }
                continue;
            }
            out.extend(
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok()),
            );
        }
        Ok(out)
    })
}

/// The bottle (manifest table) an instance of `agent` runs in: the agent is
/// the instance name, or the name without its `-N` suffix.
fn agent_of<'a>(set: &'a bottle_manifest::ManifestSet, instance: &'a str) -> Option<&'a str> {
    if set.agents.contains_key(instance) {
        return Some(instance);
    }
    let (base, n) = instance.rsplit_once('-')?;
    (n.parse::<u32>().is_ok() && set.agents.contains_key(base)).then_some(base)
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let set = load_manifest(&args.manifest).ok();
    let name = match (
        &args.name,
        set.as_ref().and_then(|s| s.default_agent.as_ref()),
    ) {
        (Some(n), _) => n.clone(),
        (None, Some(d)) => d.value.clone(),
        (None, None) => anyhow::bail!("name the bottle (see `bottle ls`)"),
    };
    let records = read_audit(&name)?;
    if args.learned {
        let changes = learned_entries(&records);
        if changes.is_empty() {
            println!(
                "bottle why: {name}'s audit log has no learned hosts (was it run with --learn?)."
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "bottle why: learn mode let {} through in {name}'s audit log:\n",
            plural(changes.len(), "allowlist entry").replace("entrys", "entries")
        );
        for c in &changes {
            println!("  allowlist += {}", c.item);
        }
        println!();
        return propose(&args, set.as_ref(), &name, &changes);
    }
    let groups = group(&records);
    let git_blocks: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.decision == bottle_policy::Decision::Block && r.git().is_some())
        .collect();
    if groups.is_empty() && git_blocks.is_empty() {
        println!("bottle why: nothing was blocked in {name}'s audit log.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "bottle why: {} in {name}'s audit log:\n",
        match groups.len() + git_blocks.len() {
            1 => "1 kind of block".to_string(),
            n => format!("{n} kinds of block"),
        }
    );
    let mut changes: Vec<Change> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let (sentence, change) = explain(g);
        println!("{}. {}:{}  ({})", i + 1, g.check, g.rule, g.example);
        println!("   {sentence}");
        if let Some(c) = change {
            println!("   {} += {}", c.key, c.item);
            if !changes.contains(&c) {
                changes.push(c);
            }
        }
        println!();
    }
    for (k, r) in git_blocks.iter().enumerate() {
        if let SidecarAudit::Git(g) = &r.sidecar {
            println!(
                "{}. git gate: {} to {} refused: {}{}\n",
                groups.len() + k + 1,
                g.event,
                g.remote,
                g.reason,
                g.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
    }
    if changes.is_empty() {
        println!("No manifest line allows these; see the explanations above.");
        return Ok(ExitCode::SUCCESS);
    }
    propose(&args, set.as_ref(), &name, &changes)
}

/// Show `changes` as a patch to the manifest file bottle `name` comes from
/// (or as lines, when that file is not here); write it with `--apply`.
fn propose(
    args: &Args,
    set: Option<&bottle_manifest::ManifestSet>,
    name: &str,
    changes: &[Change],
) -> anyhow::Result<ExitCode> {
    let target = set.and_then(|set| {
        let agent = agent_of(set, name)?;
        let bottle = set.agents.get(agent)?.value.bottle.clone();
        let src = set.source(set.bottles.get(&bottle)?.source);
        let path = std::path::PathBuf::from(&src.name);
        Some((bottle, path, src.text.clone()))
    });
    let Some((bottle, path, text)) =
        target.filter(|(_, p, _)| p.extension().is_some_and(|e| e == "toml") && p.is_file())
    else {
        println!(
            "Add these lines to the egress table of the bottle's manifest (its file was not found here, or is not TOML):"
        );
        for c in changes {
            println!("  {} += {}", c.key, c.item);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let new = patch_toml(&text, &bottle, changes)?;
    if new == text {
        println!(
            "The manifest already has these lines (the bottle ran with an older version of it)."
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Shown relative to the current directory when it is below it.
    let shown = std::env::current_dir()
        .ok()
        .and_then(|d| path.strip_prefix(&d).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string());
    print!("{}", unified_diff(&shown, &text, &new));
    if args.apply {
        confirm(args.yes, &format!("Write this change to {shown}?"))?;
        // Unchanged since it was read: otherwise the patch would undo
        // the edit made meanwhile.
        let now = std::fs::read_to_string(&path).with_context(|| format!("reading {shown}"))?;
        if now != text {
            anyhow::bail!("{shown} changed while bottle why ran; run it again");
        }
        std::fs::write(&path, &new).with_context(|| format!("writing {shown}"))?;
        println!("bottle why: wrote {shown}");
    } else {
        println!("\n(`bottle why --apply` writes it.)");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> AuditRecord {
        serde_json::from_str(line).unwrap()
    }

    fn egress(check: &str, rule: &str, method: &str, host: &str, path: &str) -> String {
        format!(
            r#"{{"time":"t","bottle":"b","decision":"block","duration_ms":1.0,"sidecar":"egress","check":"{check}","rule":"{rule}","method":"{method}","scheme":"https","host":"{host}","port":443,"path":"{path}","status":403,"bytes_up":0,"bytes_down":0,"tls":"intercepted"}}"#
        )
    }

    #[test]
    fn blocks_group_and_narrow_to_the_traffic() {
        let lines = [
            egress("allowlist", "host-not-allowed", "CONNECT", "a.test", ""),
            egress(
                "allowlist",
                "host-not-allowed",
                "GET",
                "a.test",
                "/v1/x?[redacted]",
            ),
            egress("allowlist", "host-not-allowed", "GET", "a.test", "/v1/x"),
            egress("allowlist", "host-not-allowed", "GET", "b.test", "/1"),
            egress("allowlist", "host-not-allowed", "POST", "b.test", "/2"),
            egress(
                "allowlist",
                "method-or-path-not-allowed",
                "PUT",
                "c.test",
                "/p",
            ),
        ];
        let recs: Vec<AuditRecord> = lines.iter().map(|l| rec(l)).collect();
        let g = group(&recs);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].count, 3);
        let (_, c) = explain(&g[0]);
        assert_eq!(
            c.unwrap().item,
            r#"{ host = "a.test", methods = ["GET"], paths = ["/v1/x"] }"#
        );
        let (_, c) = explain(&g[1]);
        assert_eq!(c.unwrap().item, r#""b.test""#);
        let (s, c) = explain(&g[2]);
        assert!(s.contains("PUT /p"), "{s}");
        assert_eq!(
            c.unwrap().item,
            r#"{ host = "c.test", methods = ["PUT"], paths = ["/p"] }"#
        );
    }

    #[test]
    fn dlp_and_ssrf_blocks_name_their_allow_line() {
        let mut r = rec(&egress("dlp-body", "github-pat", "POST", "a.test", "/u"));
        if let SidecarAudit::Egress(e) = &mut r.sidecar {
            e.fingerprint = Some("ab".repeat(32));
        }
        let (s, c) = explain(&group(&[r])[0]);
        assert!(s.contains("github-pat"), "{s}");
        assert_eq!(c.unwrap().key, "dlp_allow");
        let mut r = rec(&egress("dlp-body", "known-secret", "POST", "a.test", "/u"));
        if let SidecarAudit::Egress(e) = &mut r.sidecar {
            e.fingerprint = None;
        }
        assert!(explain(&group(&[r])[0]).1.is_none());
        let mut r = rec(&egress("ssrf", "private", "CONNECT", "db.test", ""));
        if let SidecarAudit::Egress(e) = &mut r.sidecar {
            e.address = Some("10.1.2.3".into());
        }
        let (s, c) = explain(&group(&[r.clone()])[0]);
        assert!(s.contains("10.1.2.3"), "{s}");
        assert_eq!(
            c.unwrap(),
            Change {
                key: "allow_cidrs",
                item: r#""10.1.2.3/32""#.into()
            }
        );
        if let SidecarAudit::Egress(e) = &mut r.sidecar {
            e.rule = "metadata".into();
            e.address = Some("169.254.169.254".into());
        }
        assert!(explain(&group(&[r])[0]).1.is_none());
    }

    #[test]
    fn learned_hosts_become_exact_entries_and_wildcards_only_when_many() {
        let line = |host: &str, port: u16| {
            rec(&format!(
                r#"{{"time":"t","bottle":"b","decision":"allow","duration_ms":1.0,"sidecar":"egress","check":"allowed","rule":"learned","method":"GET","scheme":"https","host":"{host}","port":{port},"path":"/","status":200,"bytes_up":0,"bytes_down":0,"tls":"intercepted"}}"#
            ))
        };
        let recs = vec![
            line("a.example.com", 443),
            line("a.example.com", 80),
            line("b.example.com", 443),
            line("c.example.com", 8443),
        ];
        let items: Vec<String> = learned_entries(&recs).into_iter().map(|c| c.item).collect();
        assert_eq!(
            items,
            [
                r#""a.example.com""#,
                r#""b.example.com""#,
                r#""c.example.com:8443""#
            ]
        );
        let mut many: Vec<AuditRecord> = (0..4)
            .map(|i| line(&format!("n{i}.cdn.example.com"), 443))
            .collect();
        // A public suffix is never a wildcard's base.
        many.extend((0..4).map(|i| line(&format!("site{i}.github.io"), 443)));
        let items: Vec<String> = learned_entries(&many).into_iter().map(|c| c.item).collect();
        assert!(
            items.contains(&r#""*.cdn.example.com""#.to_string()),
            "{items:?}"
        );
        assert!(
            items.contains(&r#""site0.github.io""#.to_string()),
            "{items:?}"
        );
        assert!(
            !items.iter().any(|i| i.contains("*.github.io")),
            "{items:?}"
        );
    }

    fn changes() -> Vec<Change> {
        vec![
            Change {
                key: "allowlist",
                item: r#""b.test""#.into(),
            },
            Change {
                key: "dlp_allow",
                item: r#"{ host = "a.test", fingerprint = "ff" }"#.into(),
            },
        ]
    }

    #[test]
    fn patches_keep_the_file_valid_in_every_table_shape() {
        let cases = [
            // Header table with the array on one line.
            "[bottles.b]\nimage = \"x\"\n\n[bottles.b.egress]\nallowlist = [\"a.test\"]\ndefaults = false\n\n[agents.a]\nbottle = \"b\"\n",
            // Multi-line array.
            "[bottles.b.egress]\nallowlist = [\n  \"a.test\",\n]\n",
            // Dotted keys under the bottle table.
            "[bottles.b]\negress.defaults = false\n[agents.a]\nbottle = \"b\"\n",
            // Inline table.
            "[bottles.b]\negress = { defaults = false }\n",
            // No egress table at all.
            "[bottles.b]\nimage = \"x\"\n",
            // An empty egress table.
            "[bottles.b.egress]\n\n[agents.a]\nbottle = \"b\"\n",
            // An empty array.
            "[bottles.b.egress]\nallowlist = []\n",
        ];
        for text in cases {
            let new = patch_toml(text, "b", &changes()).unwrap();
            let root = bottle_manifest::node::parse_toml(&new)
                .unwrap_or_else(|e| panic!("{new}\n{}", e.message));
            let get = |path: &[&str]| {
                let mut n = &root;
                for k in path {
                    n = &n.entry(k).unwrap_or_else(|| panic!("{k} in\n{new}")).value;
                }
                n.clone()
            };
            let Kind::Array(allow) = get(&["bottles", "b", "egress", "allowlist"]).kind else {
                panic!("{new}")
            };
            assert!(
                allow.iter().any(|a| a.kind == Kind::Str("b.test".into())),
                "{new}"
            );
            let Kind::Array(dlp) = get(&["bottles", "b", "egress", "dlp_allow"]).kind else {
                panic!("{new}")
            };
            assert_eq!(
                dlp[0].entry("fingerprint").map(|e| e.value.kind.clone()),
                Some(Kind::Str("ff".into())),
                "{new}"
            );
            // Applying twice changes nothing.
            assert_eq!(patch_toml(&new, "b", &changes()).unwrap(), new);
        }
    }

    #[test]
    fn the_diff_shows_only_the_added_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nX\ne\nf\ng\nh\n";
        let d = unified_diff("m.toml", old, new);
        assert_eq!(
            d,
            "--- a/m.toml\n+++ b/m.toml\n@@ -2,6 +2,7 @@\n b\n c\n d\n+X\n e\n f\n g\n"
        );
        // A changed line: the old one removed, then the new one.
        let d = unified_diff("/abs/m.toml", "a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            d,
            "--- /abs/m.toml\n+++ /abs/m.toml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }
}
