//! `bottle logs NAME [--egress|--git|--agent] [--follow] [--json]`: the
//! egress proxy's audit log (default), the git gate's, or the agent's output.
//! After a bottle stopped, the sidecars' logs saved at teardown are shown.

use super::launch::runtime;
use bottle_docker::ops::{LogChunk, LogSource};
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

/// One audit line as text (egress or git gate fields); other lines as is.
fn render(line: &str) -> String {
    let Ok(serde_json::Value::Object(v)) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let s = |k: &str| match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    if v.contains_key("host") {
        let rule = if s("check").is_empty() {
            String::new()
        } else {
            format!("  {}:{}", s("check"), s("rule"))
        };
        format!(
            "{} {:<7} {} {}://{}:{}{} -> {}{}",
            s("ts"),
            s("decision"),
            s("method"),
            s("scheme"),
            s("host"),
            s("port"),
            s("path"),
            s("status"),
            rule
        )
    } else {
        let reason = s("reason");
        format!(
            "{} {:<7} {} {} {}{}",
            s("time"),
            s("decision"),
            s("event"),
            s("remote"),
            reason,
            if s("detail").is_empty() {
                String::new()
            } else {
                format!(" ({})", s("detail"))
            }
        )
    }
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
        let line = r#"{"ts":"t","decision":"block","check":"allowlist","rule":"not-allowed","method":"GET","scheme":"https","host":"x.test","port":443,"path":"/","status":403}"#;
        let r = render(line);
        assert!(r.contains("block"), "{r}");
        assert!(
            r.contains("https://x.test:443/ -> 403  allowlist:not-allowed"),
            "{r}"
        );
        assert_eq!(render("plain"), "plain");
    }
}
