//! The audit log: one JSON line per decision, allowed and blocked.

use crate::config::AuditTarget;
use crate::error::Error;
use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One audit line. Field names and meanings are documented in the README and
/// stable.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line<'a> {
    pub ts: String,
    pub bottle: &'a str,
    pub decision: &'static str,
    pub check: &'a str,
    pub rule: &'a str,
    pub method: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    pub status: u16,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub duration_ms: f64,
    pub tls: &'static str,
}

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
    #[allow(clippy::too_many_arguments)]
    pub fn log(
        &self,
        ev: &Event,
        allowed: bool,
        check: &str,
        rule: &str,
        status: u16,
        bytes_down: u64,
    ) {
        let line = Line {
            ts: rfc3339_now(),
            bottle: &self.bottle,
            decision: if allowed { "allow" } else { "block" },
            check,
            rule,
            method: &ev.method,
            scheme: ev.scheme,
            host: &ev.host,
            port: ev.port,
            path: &ev.path,
            status,
            bytes_up: ev.bytes_up,
            bytes_down,
            duration_ms: (ev.start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            tls: ev.tls,
        };
        let Ok(mut text) = serde_json::to_vec(&line) else {
            return;
        };
        text.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // An audit write failure must not take the proxy down, but it must be
        // visible: say so on stderr (the sidecar's log).
        if out.write_all(&text).and_then(|()| out.flush()).is_err() {
            eprintln!("bottle egress: cannot write the audit log");
        }
    }
}

/// Current UTC time as `2024-05-01T12:34:56.789Z`, without a date crate.
pub(crate) fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(rfc3339_now().len(), "2024-05-01T12:34:56.789Z".len());
    }

    #[test]
    fn query_is_redacted() {
        assert_eq!(redact_query("/a/b?token=x"), "/a/b?[redacted]");
        assert_eq!(redact_query("/a/b"), "/a/b");
    }
}
