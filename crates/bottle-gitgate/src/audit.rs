//! The audit log: one JSON object per line, one line per fetch (ref
//! advertisement) and per push, in the schema both sidecars share
//! ([`bottle_policy::audit`]). The README documents the fields.

use crate::Error;
use crate::config::AuditTarget;
use bottle_policy::audit::{self, AuditRecord, Decision, GitAudit, SidecarAudit};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A line being filled in by the gate: the common fields the gate knows
/// (the time is set when it is written) and the gate's own.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub bottle: String,
    pub decision: Decision,
    pub duration: Duration,
    pub git: GitAudit,
}

impl Entry {
    /// An allowed entry with the common fields set and everything else empty.
    pub(crate) fn new(
        bottle: &str,
        event: &str,
        remote: &str,
        upstream: &str,
        request: &str,
    ) -> Self {
        Self {
            bottle: bottle.to_string(),
            decision: Decision::Allow,
            duration: Duration::ZERO,
            git: GitAudit {
                event: event.to_string(),
                remote: remote.to_string(),
                upstream: upstream.to_string(),
                reason: crate::reasons::OK.into(),
                detail: None,
                client: None,
                request: request.to_string(),
                protocol: 0,
                refs: Vec::new(),
                commits: Vec::new(),
                commits_total: 0,
                findings: Vec::new(),
            },
        }
    }

    pub(crate) fn deny(&mut self, reason: &str, detail: impl Into<String>) {
        self.decision = Decision::Block;
        self.git.reason = reason.to_string();
        self.git.detail = Some(detail.into());
    }

    fn record(self) -> AuditRecord {
        AuditRecord {
            time: audit::rfc3339(SystemTime::now()),
            bottle: self.bottle,
            decision: self.decision,
            duration_ms: audit::millis(self.duration),
            sidecar: SidecarAudit::Git(self.git),
        }
    }
}

/// Writes audit lines to the configured target, one whole line per write.
pub(crate) struct AuditLog {
    target: AuditTarget,
    file: Option<Mutex<std::fs::File>>,
}

impl AuditLog {
    pub(crate) fn open(target: &AuditTarget) -> Result<Self, Error> {
        let file = match target {
            AuditTarget::File(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| Error::io(format!("opening audit log {}", p.display()), e))?;
                Some(Mutex::new(f))
            }
            _ => None,
        };
        Ok(Self {
            target: target.clone(),
            file,
        })
    }

    pub(crate) fn write(&self, entry: Entry) {
        let line = entry.record().to_line();
        let result = match &self.target {
            AuditTarget::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&line).and_then(|()| out.flush())
            }
            AuditTarget::Stderr => std::io::stderr().lock().write_all(&line),
            AuditTarget::File(_) => match &self.file {
                Some(f) => match f.lock() {
                    Ok(mut f) => f.write_all(&line),
                    Err(_) => Ok(()),
                },
                None => Ok(()),
            },
            AuditTarget::Off => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("bottle git gate: cannot write the audit log: {e}");
        }
    }
}
