//! The audit log: one JSON line per decision, allowed and blocked, in the
//! schema both sidecars share ([`bottle_policy::audit`]).

use crate::config::AuditTarget;
use crate::error::Error;
use bottle_policy::audit::{self, AuditRecord, Decision, EgressAudit, SidecarAudit};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// Where lines go. Writes are small and flushed per line so `docker logs`
/// and `bottle logs --follow` see decisions as they happen.
pub(crate) struct Audit {
    bottle: String,
    out: Mutex<Box<dyn Write + Send>>,
}

/// What is known about a request when its decision is logged.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub start: Instant,
    pub method: String,
    pub scheme: &'static str,
    pub host: String,
    pub port: u16,
    /// Already redacted (query replaced).
    pub path: String,
    pub tls: &'static str,
    pub bytes_up: u64,
    /// The address an `ssrf` block refused.
    pub address: Option<std::net::IpAddr>,
}

impl Event {
    pub fn new(
        method: &str,
        scheme: &'static str,
        host: String,
        port: u16,
        raw_path: &str,
        tls: &'static str,
    ) -> Self {
        Self {
            start: Instant::now(),
            method: method.to_string(),
            scheme,
            host,
            port,
            path: redact_query(raw_path),
            tls,
            bytes_up: 0,
            address: None,
        }
    }
}

/// Keep the path, drop the query's content (queries carry tokens).
pub(crate) fn redact_query(raw: &str) -> String {
    match raw.split_once('?') {
        Some((p, _)) => format!("{p}?[redacted]"),
        None => raw.to_string(),
    }
}

impl Audit {
    pub fn open(bottle: &str, target: &AuditTarget) -> Result<Self, Error> {
        let out: Box<dyn Write + Send> = match target {
            AuditTarget::Stdout => Box::new(std::io::stdout()),
            AuditTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| Error::Audit {
                        path: p.display().to_string(),
                        source,
                    })?,
            ),
        };
        Ok(Self {
            bottle: bottle.to_string(),
            out: Mutex::new(out),
        })
    }

    /// Log a decision about `ev`.
    pub fn log(
        &self,
        ev: &Event,
        allowed: bool,
        check: &str,
        rule: &str,
        status: u16,
        bytes_down: u64,
    ) {
        self.log_with(ev, allowed, check, rule, status, bytes_down, None);
    }

    /// [`Audit::log`] with a DLP finding's fingerprint.
    #[allow(clippy::too_many_arguments)]
    pub fn log_with(
        &self,
        ev: &Event,
        allowed: bool,
        check: &str,
        rule: &str,
        status: u16,
        bytes_down: u64,
        fingerprint: Option<&str>,
    ) {
        let rec = AuditRecord {
            time: audit::rfc3339(SystemTime::now()),
            bottle: self.bottle.clone(),
            decision: if allowed {
                Decision::Allow
            } else {
                Decision::Block
            },
            duration_ms: audit::millis(ev.start.elapsed()),
            sidecar: SidecarAudit::Egress(EgressAudit {
                check: check.to_string(),
                rule: rule.to_string(),
                method: ev.method.clone(),
                scheme: ev.scheme.to_string(),
                host: ev.host.clone(),
                port: ev.port,
                path: ev.path.clone(),
                status,
                bytes_up: ev.bytes_up,
                bytes_down,
                tls: ev.tls.to_string(),
                fingerprint: fingerprint.map(str::to_string),
                address: ev.address.map(|a| a.to_string()),
            }),
        };
        let text = rec.to_line();
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // An audit write failure must not take the proxy down, but it must be
        // visible: say so on stderr (the sidecar's log).
        if out.write_all(&text).and_then(|()| out.flush()).is_err() {
            eprintln!("bottle egress: cannot write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_redacted() {
        assert_eq!(redact_query("/a/b?token=x"), "/a/b?[redacted]");
        assert_eq!(redact_query("/a/b"), "/a/b");
    }
}
