//! `bottle logs NAME [--egress|--git|--agent] [--follow] [--json]
//! [--launch ID | --list]`: the egress proxy's audit log (default), the git
//! gate's, or the agent's output, of the latest launch of the bottle NAME.
//! After a bottle stopped, the sidecars' logs saved at its teardown are
//! shown; every launch keeps its own (`<state>/logs/<instance>/<launch
//! id>/`), `--list` lists them and `--launch` picks one.

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
    /// nothing else; with `--list`, the launches as a JSON array.
    #[arg(long)]
    pub json: bool,
    /// Read this launch's logs instead of the latest's (its id, or a unique
    /// prefix of it; `--list` shows them).
    #[arg(long, value_name = "ID", conflicts_with = "list")]
    pub launch: Option<String>,
    /// List the launches of NAME whose logs can be read, oldest first.
    #[arg(long)]
    pub list: bool,
}

fn list(args: &Args) -> anyhow::Result<ExitCode> {
    let all = runtime()?.block_on(async {
        let engine = bottle_docker::Engine::connect().await?;
        bottle_docker::ops::launches(&engine, &args.name).await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        anyhow::bail!("no logs of a bottle {:?}", args.name);
    }
    println!("{:<32}  {:<20}  {:<20}", "LAUNCH", "STARTED", "ENDED");
    for l in &all {
        let ended = match l.ended {
            Some(t) => utc(t),
            None => "running".to_string(),
        };
        println!("{:<32}  {:<20}  {:<20}", l.launch, utc(l.started), ended);
    }
    Ok(ExitCode::SUCCESS)
}

/// Unix time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(t: u64) -> String {
    let (days, secs) = (t / 86_400, t % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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
    if args.list {
        return list(&args);
    }
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
            args.launch.as_deref(),
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
    use super::{render, utc};

    #[test]
    fn unix_times_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_180_461), "2026-12-02T03:01:01Z");
    }

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
