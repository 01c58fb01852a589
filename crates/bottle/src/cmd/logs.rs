//! `bottle logs NAME [--egress|--git|--agent] [--follow] [--json]`: the
//! egress proxy's audit log (default), the git gate's, or the agent's output.
//! After a bottle stopped, the sidecars' logs saved at teardown are shown.

use super::launch::runtime;
use bottle_docker::ops::{LogChunk, LogSource};
use bottle_policy::{AuditRecord, SidecarAudit};
use std::io::Write;
use std::process::ExitCode;

/// Show a bottle's logs.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").args(["egress", "git", "agent"])))]
pub struct Args {
    /// The bottle's name (see `bottle ls`).
    pub name: String,
    /// The egress proxy's audit log (the default).
    #[arg(long)]
    pub egress: bool,
    /// The git gate's audit log.
    #[arg(long)]
    pub git: bool,
    /// The agent's own output.
    #[arg(long)]
    pub agent: bool,
    /// Keep printing as lines arrive.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print the audit lines as they are (one JSON object per line) and
    /// nothing else.
    #[arg(long)]
    pub json: bool,
}

/// One audit line as text. Lines are read as the one audit schema both
/// sidecars write (`bottle_policy::AuditRecord`), whose `sidecar` field says
/// which fields follow; anything else (a sidecar's own message, a line of an
/// older version) is shown as is.
fn render(line: &str) -> String {
    let Ok(rec) = serde_json::from_str::<AuditRecord>(line) else {
        return line.to_string();
    };
    match &rec.sidecar {
        SidecarAudit::Egress(e) => {
            let rule = if e.check.is_empty() {
                String::new()
            } else {
                format!("  {}:{}", e.check, e.rule)
            };
            let fp = e
                .fingerprint
                .as_ref()
                .map(|f| format!(" fingerprint={f}"))
                .unwrap_or_default();
            format!(
                "{} {:<7} {} {} -> {}{}{}",
                rec.time,
                rec.decision,
                e.method,
                egress_target(e),
                e.status,
                rule,
                fp
            )
        }
        SidecarAudit::Git(g) => format!(
            "{} {:<7} {} {} {}{}",
            rec.time,
            rec.decision,
            g.event,
            g.remote,
            g.reason,
            g.detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
    }
}

/// Where an egress line went, as a reader expects it: `host:port` for a
/// CONNECT, a URL otherwise; an IPv6 host in brackets, a missing host or
/// port (a request refused before they were known) said in words, never
/// an empty `https://:0`.
pub(crate) fn egress_target(e: &bottle_policy::audit::EgressAudit) -> String {
    let host = if e.host.is_empty() {
        "(no host)".to_string()
    } else if e.host.contains(':') && !e.host.starts_with('[') {
        format!("[{}]", e.host)
    } else {
        e.host.clone()
    };
    let port = if e.port == 0 {
        String::new()
    } else {
        format!(":{}", e.port)
    };
    if e.method.eq_ignore_ascii_case("CONNECT") {
        return format!("{host}{port}");
    }
    let path = if e.path.is_empty() || e.path.starts_with('/') || e.path.starts_with('[') {
        e.path.clone()
    } else {
        format!("/{}", e.path)
    };
    let scheme = if e.scheme.is_empty() {
        "http"
    } else {
        &e.scheme
    };
    format!("{scheme}://{host}{port}{path}")
}

/// Run.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = if args.git {
        LogSource::Git
    } else if args.agent {
        LogSource::Agent
    } else {
        LogSource::Egress
    };
    let json = args.json;
    let audit = source != LogSource::Agent;
    runtime()?.block_on(async {
        let engine = bottle_docker::Engine::connect().await?;
        let mut pending = Vec::new();
        bottle_docker::ops::logs(
            &engine,
            &args.name,
            source,
            args.follow,
            |chunk| match chunk {
                LogChunk::Out(bytes) => {
                    pending.extend_from_slice(&bytes);
                    while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=pos).collect();
                        let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                        let mut out = std::io::stdout().lock();
                        if !audit {
                            let _ = writeln!(out, "{text}");
                        } else if json {
                            if text.trim_start().starts_with('{') {
                                let _ = writeln!(out, "{text}");
                            }
                        } else {
                            let _ = writeln!(out, "{}", render(&text));
                        }
                        let _ = out.flush();
                    }
                }
                LogChunk::Err(bytes) => {
                    if !json {
                        let _ = std::io::stderr().write_all(&bytes);
                    }
                }
            },
        )
        .await?;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn audit_lines_render_with_their_reason() {
        let line = r#"{"time":"t","bottle":"b","decision":"block","duration_ms":1.0,"sidecar":"egress","check":"allowlist","rule":"host-not-allowed","method":"GET","scheme":"https","host":"x.test","port":443,"path":"/","status":403,"bytes_up":0,"bytes_down":0,"tls":"intercepted"}"#;
        assert_eq!(
            render(line),
            "t block   GET https://x.test:443/ -> 403  allowlist:host-not-allowed"
        );
        let line = r#"{"time":"t","bottle":"b","decision":"block","duration_ms":1.0,"sidecar":"git","event":"push","remote":"origin","upstream":"u","reason":"secret-found","detail":"1 finding(s)","request":"receive-pack","protocol":0,"refs":[],"commits":[],"commits_total":0,"findings":[]}"#;
        assert_eq!(
            render(line),
            "t block   push origin secret-found (1 finding(s))"
        );
        assert_eq!(render("plain"), "plain");
        // A CONNECT names host:port once; a refusal before the host was
        // known says so instead of printing an empty host.
        let line = r#"{"time":"t","bottle":"b","decision":"block","duration_ms":1.0,"sidecar":"egress","check":"parse","rule":"bad-host","method":"CONNECT","scheme":"https","host":"","port":42546,"path":"","status":400,"bytes_up":0,"bytes_down":0,"tls":"none"}"#;
        assert_eq!(
            render(line),
            "t block   CONNECT (no host):42546 -> 400  parse:bad-host"
        );
        let line = r#"{"time":"t","bottle":"b","decision":"allow","duration_ms":1.0,"sidecar":"egress","check":"allowed","rule":"tunnel","method":"CONNECT","scheme":"https","host":"::1","port":443,"path":"","status":200,"bytes_up":0,"bytes_down":0,"tls":"intercepted"}"#;
        assert_eq!(
            render(line),
            "t allow   CONNECT [::1]:443 -> 200  allowed:tunnel"
        );
        let line = r#"{"time":"t","bottle":"b","decision":"block","duration_ms":1.0,"sidecar":"egress","check":"parse","rule":"not-a-proxy-request","method":"GET","scheme":"http","host":"","port":0,"path":"/x","status":400,"bytes_up":0,"bytes_down":0,"tls":"none"}"#;
        assert_eq!(
            render(line),
            "t block   GET http://(no host)/x -> 400  parse:not-a-proxy-request"
        );
        let line = r#"{"time":"t","bottle":"b","decision":"block","duration_ms":1.0,"sidecar":"egress","check":"dlp-body","rule":"github-pat","method":"POST","scheme":"https","host":"h.test","port":443,"path":"/u","status":403,"bytes_up":0,"bytes_down":0,"tls":"intercepted","fingerprint":"ab12"}"#;
        assert_eq!(
            render(line),
            "t block   POST https://h.test:443/u -> 403  dlp-body:github-pat fingerprint=ab12"
        );
    }
}
