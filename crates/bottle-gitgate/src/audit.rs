//! The audit log: one JSON object per line, one line per fetch (ref
//! advertisement) and per push. The README documents the fields.

use crate::Error;
use crate::config::AuditTarget;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Mutex;

/// One ref update of a push, or one ref a refresh changed in the mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    /// Full ref name (`refs/heads/main`).
    #[serde(rename = "ref")]
    pub name: String,
    /// Old object id (all zeros: the ref did not exist).
    pub old: String,
    /// New object id (all zeros: the ref is deleted).
    pub new: String,
}

/// One finding of the push scan, as logged (secret redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFinding {
    /// The commit, when the finding is in a commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The tag object, when the finding is in a tag message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The file path, when the finding is in a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Rule id.
    pub rule: String,
    /// The match with all but a short prefix masked.
    pub redacted: String,
    /// Stable fingerprint (for baselines).
    pub fingerprint: String,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 UTC time the request finished.
    pub time: String,
    /// The bottle.
    pub bottle: String,
    /// `fetch` or `push`.
    pub event: String,
    /// The remote's name.
    pub remote: String,
    /// The upstream URL (never carries a credential).
    pub upstream: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// A stable reason from [`crate::reasons`].
    pub reason: String,
    /// Human-readable detail (why the upstream failed, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// What was asked: `info/refs` or `ls-refs` for fetches,
    /// `receive-pack` for pushes.
    pub request: String,
    /// Git protocol version the client asked for (0, 1 or 2).
    pub protocol: u8,
    /// fetch: refs the refresh changed in the mirror; push: the pushed ref
    /// updates.
    pub refs: Vec<RefUpdate>,
    /// push: the new commits (at most 1000 listed, see `commits_total`).
    pub commits: Vec<String>,
    /// push: how many new commits the push brings.
    pub commits_total: usize,
    /// push: scan findings (redacted).
    pub findings: Vec<AuditFinding>,
    /// Time spent, in milliseconds.
    pub duration_ms: u64,
}

impl AuditRecord {
    /// A record with the common fields set and everything else empty.
    pub(crate) fn new(
        bottle: &str,
        event: &str,
        remote: &str,
        upstream: &str,
        request: &str,
    ) -> Self {
        Self {
            time: String::new(),
            bottle: bottle.to_string(),
            event: event.to_string(),
            remote: remote.to_string(),
            upstream: upstream.to_string(),
            decision: "allow".into(),
            reason: crate::reasons::OK.into(),
            detail: None,
            client: None,
            request: request.to_string(),
            protocol: 0,
            refs: Vec::new(),
            commits: Vec::new(),
            commits_total: 0,
            findings: Vec::new(),
            duration_ms: 0,
        }
    }

    pub(crate) fn deny(&mut self, reason: &str, detail: impl Into<String>) {
        self.decision = "deny".into();
        self.reason = reason.to_string();
        self.detail = Some(detail.into());
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

    pub(crate) fn write(&self, mut rec: AuditRecord) {
        rec.time = now_rfc3339();
        let Ok(mut line) = serde_json::to_vec(&rec) else {
            return;
        };
        line.push(b'\n');
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

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
