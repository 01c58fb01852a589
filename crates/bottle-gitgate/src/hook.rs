//! The pre-receive hook: scan what a push adds, then forward it upstream.
//!
//! git's receive-pack runs this (as `bottle git-gate hook`) after it has
//! received and checked the pack, with the new objects still in quarantine
//! and before it updates any ref. The hook inherits the quarantine
//! environment, so every git it runs (the scanner's `git log` included)
//! sees exactly the pushed objects, and nothing of a rejected push ever
//! reaches the mirror. Exit 0 lets receive-pack update the mirror's refs;
//! anything else rejects every ref of the push.
//!
//! Order: ref checks → scan → forward. The forward uses the mirror's current
//! ref values as leases (`--force-with-lease=<ref>:<old>`), so the upstream
//! is only changed from the state the agent saw, and `--atomic` when more
//! than one ref moves, so the upstream takes all of the push or none of it.

use crate::audit::Entry;
use crate::config::{Auth, Config};
use crate::gitenv::{
    ENV_HOOK_CONFIG, ENV_HOOK_REMOTE, ENV_HOOK_RESULT, GitEnv, Paths, UpstreamAccess,
    summarize_stderr,
};
use crate::mirror::{NAMESPACES, parse_ref_list};
use crate::reasons;
use bottle_policy::audit::{AuditFinding, Decision, RefUpdate};
use bottle_secrets::Scanner;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Variables receive-pack sets so that git sees the quarantined objects.
const QUARANTINE_VARS: [&str; 3] = [
    "GIT_QUARANTINE_PATH",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// At most this many new commits are listed in the audit line.
const MAX_LISTED_COMMITS: usize = 1000;

/// What the hook decided; the gate turns it into the push's audit line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HookResult {
    decision: Decision,
    reason: String,
    detail: Option<String>,
    refs: Vec<RefUpdate>,
    commits: Vec<String>,
    commits_total: usize,
    findings: Vec<AuditFinding>,
}

impl HookResult {
    pub(crate) fn fill(self, rec: &mut Entry) {
        rec.decision = self.decision;
        rec.git.reason = self.reason;
        rec.git.detail = self.detail;
        rec.git.refs = self.refs;
        rec.git.commits = self.commits;
        rec.git.commits_total = self.commits_total;
        rec.git.findings = self.findings;
    }

    fn deny(&mut self, reason: &str, detail: impl Into<String>) {
        self.decision = Decision::Block;
        self.reason = reason.into();
        self.detail = Some(detail.into());
    }
}

/// The pre-receive hook's `main`: reads the ref updates on stdin, prints
/// what it decided on stderr (git relays it to the pusher as `remote:`
/// lines), and exits 0 only when the push was scanned clean and the
/// upstream accepted it. `bottle git-gate hook` calls this.
pub fn hook_main() -> ExitCode {
    let (Some(config_path), Some(remote)) = (
        std::env::var_os(ENV_HOOK_CONFIG),
        std::env::var(ENV_HOOK_REMOTE).ok(),
    ) else {
        eprintln!(
            "bottle git gate: the hook runs only inside the gate (its environment is missing); push refused"
        );
        return ExitCode::FAILURE;
    };
    let result_path = std::env::var_os(ENV_HOOK_RESULT).map(PathBuf::from);
    let mut result = HookResult {
        decision: Decision::Block,
        reason: reasons::GATE_ERROR.into(),
        ..HookResult::default()
    };
    let ok = match read_updates() {
        Ok(updates) => {
            result.refs = updates.clone();
            match Config::load(Path::new(&config_path)) {
                Ok(config) => run(&config, &remote, &updates, &mut result),
                Err(e) => {
                    let msg =
                        format!("bottle git gate: push refused: cannot read the gate config: {e}");
                    eprintln!("{msg}");
                    result.deny(reasons::GATE_ERROR, msg);
                    false
                }
            }
        }
        Err(e) => {
            let msg = format!("bottle git gate: push refused: cannot read the ref updates: {e}");
            eprintln!("{msg}");
            result.deny(reasons::GATE_ERROR, msg);
            false
        }
    };
    if let Some(p) = result_path
        && let Ok(json) = serde_json::to_vec(&result)
    {
        let _ = std::fs::write(p, json);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn read_updates() -> std::io::Result<Vec<RefUpdate>> {
    let mut out = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(old), Some(new), Some(name)) => out.push(RefUpdate {
                name: name.to_string(),
                old: old.to_string(),
                new: new.to_string(),
            }),
            _ if line.trim().is_empty() => {}
            _ => return Err(std::io::Error::other(format!("unexpected line {line:?}"))),
        }
    }
    Ok(out)
}

fn is_zero(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

/// git commands for the hook: the gate's hermetic environment plus the
/// quarantine variables receive-pack gave us.
pub(crate) struct HookGit {
    env: GitEnv,
    mirror: PathBuf,
}

impl HookGit {
    pub(crate) fn command(&self) -> std::process::Command {
        self.command_with(&QUARANTINE_VARS)
    }

    /// For `git push`: the object directories only. `GIT_QUARANTINE_PATH`
    /// (which forbids ref updates) must not reach a `file://` upstream's
    /// receive-pack, which inherits our environment; git itself clears the
    /// object-directory variables for local transports.
    fn push_command(&self) -> std::process::Command {
        self.command_with(&QUARANTINE_VARS[1..])
    }

    fn command_with(&self, vars: &[&str]) -> std::process::Command {
        let mut c = self.env.std_command();
        for var in vars {
            if let Some(v) = std::env::var_os(var) {
                c.env(var, v);
            }
        }
        c.arg("--git-dir").arg(&self.mirror);
        c
    }

    pub(crate) fn output(&self, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let mut c = self.command();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if input.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().map_err(|e| format!("cannot run git: {e}"))?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("git {}: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "git {}: {}",
                args.join(" "),
                summarize_stderr(&out.stderr)
            ))
        }
    }
}

fn run(config: &Config, remote_name: &str, updates: &[RefUpdate], result: &mut HookResult) -> bool {
    let refuse = |result: &mut HookResult, reason: &str, msg: String| {
        eprintln!("{msg}");
        result.deny(reason, msg);
        false
    };
    let Some(remote) = config.remote(remote_name) else {
        return refuse(
            result,
            reasons::GATE_ERROR,
            format!(
                "bottle git gate: push refused: remote {remote_name:?} is not in the gate config"
            ),
        );
    };
    let paths = Paths::new(&config.data_dir);
    let git = HookGit {
        env: GitEnv::new(config),
        mirror: paths.mirror(remote_name),
    };

    // 1. Which refs may move, and from where.
    let current = match git.output(&["for-each-ref", "--format=%(objectname) %(refname)"], None) {
        Ok(out) => parse_ref_list(&out),
        Err(e) => {
            return refuse(
                result,
                reasons::GATE_ERROR,
                format!("bottle git gate: push refused: {e}"),
            );
        }
    };
    // Every refused ref is named (a `--mirror` or `--all` push moves many),
    // each through the scanner first: a ref name can hold a secret too.
    let names_scanner = build_scanner(config).ok();
    let shown = |name: &str| match &names_scanner {
        Some(sc) if sc.scan(name.as_bytes(), None).is_empty() => name.to_string(),
        _ => "<ref name withheld: it holds a possible secret>".to_string(),
    };
    let list = |names: &[&str]| {
        let mut l: Vec<String> = names.iter().take(10).map(|n| shown(n)).collect();
        if names.len() > 10 {
            l.push(format!("and {} more", names.len() - 10));
        }
        l.join(", ")
    };
    let outside: Vec<&str> = updates
        .iter()
        .filter(|u| !NAMESPACES.iter().any(|ns| u.name.starts_with(ns)))
        .map(|u| u.name.as_str())
        .collect();
    if !outside.is_empty() {
        let mut msg = format!(
            "bottle git gate: push refused: {} {} outside refs/heads/, refs/tags/ and refs/notes/, \
             the only refs the gate forwards: {}. Nothing was pushed.",
            outside.len(),
            if outside.len() == 1 {
                "ref is"
            } else {
                "refs are"
            },
            list(&outside)
        );
        if outside.len() > 1 || outside.iter().any(|n| n.starts_with("refs/remotes/")) {
            msg.push_str(
                "\n`git push --mirror` pushes every local ref (remote-tracking refs included) and \
                 deletes upstream refs you do not have; through the gate, push branches and tags: \
                 `git push origin --all` and `git push origin --tags` (or name the refs).",
            );
        }
        return refuse(result, reasons::REF_NOT_ALLOWED, msg);
    }
    let stale: Vec<&str> = updates
        .iter()
        .filter(|u| match current.get(&u.name) {
            Some(cur) => *cur != u.old,
            None => !is_zero(&u.old),
        })
        .map(|u| u.name.as_str())
        .collect();
    if !stale.is_empty() {
        return refuse(
            result,
            reasons::STALE_REF,
            format!(
                "bottle git gate: push refused: {} changed upstream since you fetched: {}. Nothing \
                 was pushed; fetch, merge or rebase, and push again",
                if stale.len() == 1 { "a ref" } else { "refs" },
                list(&stale)
            ),
        );
    }

    // 2. Scan what the push adds.
    let started = Instant::now();
    let scanner = match build_scanner(config) {
        Ok(s) => s,
        Err(e) => {
            return refuse(
                result,
                reasons::SCAN_FAILED,
                format!("bottle git gate: push refused: {e}"),
            );
        }
    };
    let mut report = match crate::scan::scan_push(&git, updates, &scanner) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                result,
                reasons::SCAN_FAILED,
                format!(
                    "bottle git gate: push refused: the secret scan failed, so nothing was forwarded: {e}"
                ),
            );
        }
    };
    // The operator's allowlist for this remote (never anything in the repo).
    let before = report.findings.len();
    report.findings.retain(|f| {
        !remote
            .allow
            .iter()
            .any(|a| a.allows(f.audit.path.as_deref(), &f.audit.fingerprint))
    });
    let allowed = before - report.findings.len();
    if allowed > 0 {
        eprintln!(
            "bottle git gate: {allowed} finding{} allowed by the operator's allowlist for {remote_name:?}",
            if allowed == 1 { "" } else { "s" }
        );
    }
    result.commits_total = report.commits.len();
    result.commits = report
        .commits
        .iter()
        .take(MAX_LISTED_COMMITS)
        .cloned()
        .collect();
    result.findings = report.findings.iter().map(|f| f.audit.clone()).collect();
    // A ref name that holds a possible secret stays out of the audit line.
    for r in &mut result.refs {
        if report.secret_refs.contains(&r.name) {
            r.name = "<ref name withheld: it holds a possible secret>".into();
        }
    }
    if !report.findings.is_empty() {
        let mut msg = format!(
            "bottle git gate: push refused: {} possible secret{} in what this push adds:\n",
            report.findings.len(),
            if report.findings.len() == 1 { "" } else { "s" }
        );
        for f in &report.findings {
            msg.push_str("  ");
            msg.push_str(&f.display);
            msg.push('\n');
        }
        msg.push_str(
            "Nothing was sent upstream. Remove the secrets from these commits (for example with \
             `git commit --amend` or `git rebase -i`), then push again.",
        );
        eprintln!("{msg}");
        result.deny(
            reasons::SECRET_FOUND,
            format!("{} finding(s)", report.findings.len()),
        );
        return false;
    }
    let scanned = format!(
        "bottle git gate: scanned {} new commit{}, {} tag{} and {} new file version{} in {:.1}s: no secrets found",
        report.commits.len(),
        if report.commits.len() == 1 { "" } else { "s" },
        report.tags_scanned,
        if report.tags_scanned == 1 { "" } else { "s" },
        report.files_scanned,
        if report.files_scanned == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    eprintln!("{scanned}");

    // 3. Forward upstream.
    let access = match UpstreamAccess::new(config, remote) {
        Ok(a) => a,
        Err(e) => {
            return refuse(
                result,
                reasons::GATE_ERROR,
                format!("bottle git gate: push refused: {e}"),
            );
        }
    };
    let timeout = Duration::from_secs(config.upstream_timeout_secs);
    match forward(&git, &access, &current, updates, timeout) {
        Ok(upstream_msgs) => {
            for l in upstream_msgs {
                eprintln!("upstream: {l}");
            }
            eprintln!("bottle git gate: pushed to {}", access.url);
            result.decision = Decision::Allow;
            result.reason = reasons::OK.into();
            result.detail = None;
            true
        }
        Err(why) => refuse(
            result,
            reasons::UPSTREAM_REJECTED,
            format!(
                "bottle git gate: push refused: the upstream {} did not accept it, so the gate's mirror \
                 was left unchanged: {why}",
                access.url
            ),
        ),
    }
}

fn build_scanner(config: &Config) -> Result<Scanner, String> {
    let mut scanner = match &config.scan.gitleaks_config {
        Some(p) => Scanner::from_gitleaks_file(p)
            .map_err(|e| format!("cannot load the scanner rules: {e}"))?,
        None => Scanner::builtin(),
    };
    scanner.set_profile(bottle_secrets::Profile::Code);
    // The gate's own upstream tokens must never leave through a push.
    for r in &config.remotes {
        if let Ok(Auth::Token { token, .. }) = r.auth() {
            scanner.add_known_secret(
                &format!("git gate token of remote {:?}", r.name),
                token.expose().as_bytes(),
            );
        }
    }
    Ok(scanner)
}

/// Undo git's C-style quoting of a path (`"a\"b"`, octal escapes).
pub(crate) fn unquote_path(p: &[u8]) -> String {
    let p = p.strip_suffix(b"\t").unwrap_or(p);
    let Some(inner) = p.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) else {
        return String::from_utf8_lossy(p).into_owned();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' && i + 1 < inner.len() {
            let c = inner[i + 1];
            if (b'0'..=b'7').contains(&c) {
                let digits: Vec<u8> = inner[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|b| (b'0'..=b'7').contains(*b))
                    .copied()
                    .collect();
                let v = digits
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(v as u8);
                i += 1 + digits.len();
                continue;
            }
            out.push(match c {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                other => other,
            });
            i += 2;
        } else {
            out.push(inner[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Push the same ref updates upstream. `Ok` carries the upstream's own
/// messages (`remote:` lines), `Err` why it did not accept.
fn forward(
    git: &HookGit,
    access: &UpstreamAccess,
    current: &BTreeMap<String, String>,
    updates: &[RefUpdate],
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let mut c = git.push_command();
    // `-c` options must precede the subcommand; so does the --git-dir that
    // push_command() added, and git takes them in any order.
    c.args(access.config_flags());
    c.args(["push", "--porcelain", "--no-verify", "--no-follow-tags"]);
    if updates.len() > 1 {
        c.arg("--atomic");
    }
    for u in updates {
        let expect = current.get(&u.name).cloned().unwrap_or_default();
        c.arg(format!("--force-with-lease={}:{expect}", u.name));
    }
    c.arg("--").arg(&access.url);
    for u in updates {
        if is_zero(&u.new) {
            c.arg(format!(":{}", u.name));
        } else {
            c.arg(format!("{}:{}", u.new, u.name));
        }
    }
    c.envs(access.env().iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("cannot run git push: {e}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || read_all(stdout));
    let err_t = std::thread::spawn(move || read_all(stderr));
    // git has no connect timeout for http(s): the probe runs alongside it
    // and stops it when the upstream does not answer (see `probe`).
    let probe = access.probe.clone().map(|t| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(t.check(crate::probe::CONNECT_TIMEOUT));
        });
        rx
    });
    let mut unreachable = None;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(Ok(Err(why))) = probe.as_ref().map(|rx| rx.try_recv()) {
            let _ = child.kill();
            let _ = child.wait();
            unreachable = Some(why);
            break None;
        }
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    if let Some(why) = unreachable {
        return Err(why);
    }
    // git failed first: the probe's reason, when it has one, is the
    // clearer one (it is bounded by its own deadline).
    if !status.is_some_and(|s| s.success())
        && let Some(Ok(Err(why))) = probe.map(|rx| rx.recv())
    {
        return Err(why);
    }
    let upstream_lines: Vec<String> = String::from_utf8_lossy(&err)
        .lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .take(50)
        .collect();
    match status {
        Some(s) if s.success() => Ok(upstream_lines),
        Some(_) => {
            let rejected: Vec<String> = String::from_utf8_lossy(&out)
                .lines()
                .filter(|l| l.starts_with('!'))
                .map(|l| l.replace('\t', " "))
                .collect();
            let mut why = if rejected.is_empty() {
                crate::mirror::explain_upstream_error(&err)
            } else {
                format!("{}; {}", rejected.join("; "), summarize_stderr(&err))
            };
            if String::from_utf8_lossy(&err).contains("does not support --atomic") {
                why.push_str(
                    " (this upstream cannot take several refs atomically; push one ref at a time)",
                );
            }
            Err(why)
        }
        None => Err(format!("no answer within {} seconds", timeout.as_secs())),
    }
}

fn read_all(r: Option<impl Read>) -> Vec<u8> {
    let mut v = Vec::new();
    if let Some(mut r) = r {
        let _ = r.read_to_end(&mut v);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_paths() {
        assert_eq!(unquote_path(b"\"q\\303\\251.txt\""), "q\u{e9}.txt");
        assert_eq!(unquote_path(b"plain"), "plain");
    }
}
