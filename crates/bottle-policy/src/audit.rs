//! The one audit schema both sidecars write and `bottle logs` reads.
//!
//! Every decision of the egress proxy and of the git gate is one JSON object
//! on one line. The fields every line has — `time`, `bottle`, `sidecar`,
//! `decision`, `duration_ms` — have the same names and meanings for both;
//! `sidecar` (`egress` or `git`) says which set of the other fields follows,
//! so a reader never guesses from the keys present. The sidecar-specific
//! fields sit at the top level too (flattened), so a line stays one flat
//! object a `jq` filter can read.
//!
//! Both sidecars depend on this crate and on neither each other nor Docker,
//! which is why the type lives here and not in either of them.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a sidecar decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Let through (served, forwarded).
    Allow,
    /// Refused; the line's reason says why.
    Block,
}

/// Fail closed: a decision never made is a block.
impl Default for Decision {
    fn default() -> Self {
        Decision::Block
    }
}

impl Decision {
    /// `allow` or `block`, as in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
        }
    }
}

impl PartialEq<&str> for Decision {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the decision was logged: UTC, RFC 3339 with milliseconds
    /// (see [`rfc3339`]).
    pub time: String,
    /// The bottle's instance name (the sidecar config's `bottle`).
    pub bottle: String,
    /// Allowed or blocked.
    pub decision: Decision,
    /// From the request's start to the decision (or to the end of what was
    /// relayed), in milliseconds.
    pub duration_ms: f64,
    /// Which sidecar wrote the line, and its own fields.
    #[serde(flatten)]
    pub sidecar: SidecarAudit,
}

/// The sidecar-specific part of an [`AuditRecord`], tagged by the `sidecar`
/// field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "sidecar", rename_all = "kebab-case")]
pub enum SidecarAudit {
    /// A line of the egress proxy.
    Egress(EgressAudit),
    /// A line of the git gate.
    Git(GitAudit),
}

impl AuditRecord {
    /// The stable reason: `check:rule` for the proxy (as in its
    /// `X-Bottle-Block` header), the gate's reason string for the gate.
    pub fn reason(&self) -> String {
        match &self.sidecar {
            SidecarAudit::Egress(e) => format!("{}:{}", e.check, e.rule),
            SidecarAudit::Git(g) => g.reason.clone(),
        }
    }

    /// The egress fields, when the proxy wrote the line.
    pub fn egress(&self) -> Option<&EgressAudit> {
        match &self.sidecar {
            SidecarAudit::Egress(e) => Some(e),
            SidecarAudit::Git(_) => None,
        }
    }

    /// The git gate fields, when the gate wrote the line.
    pub fn git(&self) -> Option<&GitAudit> {
        match &self.sidecar {
            SidecarAudit::Git(g) => Some(g),
            SidecarAudit::Egress(_) => None,
        }
    }

    /// The record as one line of JSON, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising plain strings and numbers cannot fail; an empty line
        // would still be visible in the log if it ever did.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// What the egress proxy logs about a request (or a tunnel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressAudit {
    /// The check that decided (`allowlist`, `dlp-body`, …; `allowed` for
    /// allows).
    pub check: String,
    /// The rule of that check (for allows: the allowing allowlist entry).
    pub rule: String,
    /// The request method (`CONNECT` for tunnel lines).
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The canonical host (labels redacted for host-borne findings).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The path, its query replaced by `?[redacted]`.
    pub path: String,
    /// The HTTP status sent to the agent (0 when none could be).
    pub status: u16,
    /// Request body bytes (tunnels: bytes from the agent).
    pub bytes_up: u64,
    /// Response body bytes (tunnels: bytes to the agent).
    pub bytes_down: u64,
    /// `intercepted`, `passthrough` or `none`.
    pub tls: String,
    /// The scanner finding's fingerprint, on DLP blocks that have one (the
    /// key a `dlp_allow` entry names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The refused address, on `ssrf` blocks (what an `allow_cidrs` entry
    /// would name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What the git gate logs about a fetch or a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitAudit {
    /// `fetch` or `push`.
    pub event: String,
    /// The remote's name.
    pub remote: String,
    /// The upstream URL (never carries a credential).
    pub upstream: String,
    /// A stable reason from the gate's `reasons` (`ok` for allows).
    pub reason: String,
    /// Human-readable detail (why the upstream failed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The tag object, when the finding is in a tag message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The file path, when the finding is in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1-based line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Rule id.
    pub rule: String,
    /// The match with all but a short prefix masked.
    pub redacted: String,
    /// Stable fingerprint (for baselines).
    pub fingerprint: String,
}

/// `t` as `2024-05-01T12:34:56.789Z` (UTC, milliseconds), the format of
/// every `time` field. Without a date crate: the sidecars need nothing
/// else from one.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
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

/// Milliseconds with microsecond precision, the unit of `duration_ms`.
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
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
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let t = UNIX_EPOCH + Duration::from_millis(1_709_164_800_123 + 3_723_000);
        assert_eq!(rfc3339(t), "2024-02-29T01:02:03.123Z");
    }

    fn egress() -> AuditRecord {
        AuditRecord {
            time: "2024-02-29T01:02:03.123Z".into(),
            bottle: "dev".into(),
            decision: Decision::Block,
            duration_ms: 1.5,
            sidecar: SidecarAudit::Egress(EgressAudit {
                check: "allowlist".into(),
                rule: "host-not-allowed".into(),
                method: "GET".into(),
                scheme: "https".into(),
                host: "x.test".into(),
                port: 443,
                path: "/".into(),
                status: 403,
                bytes_up: 0,
                bytes_down: 97,
                tls: "intercepted".into(),
                fingerprint: None,
                address: None,
            }),
        }
    }

    fn git() -> AuditRecord {
        AuditRecord {
            time: "2024-02-29T01:02:03.123Z".into(),
            bottle: "dev".into(),
            decision: Decision::Block,
            duration_ms: 50.0,
            sidecar: SidecarAudit::Git(GitAudit {
                event: "push".into(),
                remote: "origin".into(),
                upstream: "https://git.test/a.git".into(),
                reason: "secret-found".into(),
                detail: Some("1 finding(s)".into()),
                client: None,
                request: "receive-pack".into(),
                protocol: 0,
                refs: vec![RefUpdate {
                    name: "refs/heads/main".into(),
                    old: "0".repeat(40),
                    new: "a".repeat(40),
                }],
                commits: vec!["a".repeat(40)],
                commits_total: 1,
                findings: vec![AuditFinding {
                    commit: Some("a".repeat(40)),
                    tag: None,
                    path: Some("cfg.env".into()),
                    line: Some(1),
                    rule: "github-pat".into(),
                    redacted: "ghp_…[redacted]".into(),
                    fingerprint: "f".into(),
                }],
            }),
        }
    }

    #[test]
    fn both_sidecars_share_the_common_field_names() {
        for rec in [egress(), git()] {
            let v: serde_json::Value = serde_json::from_slice(&rec.to_line()).unwrap();
            for key in ["time", "bottle", "decision", "duration_ms", "sidecar"] {
                assert!(v.get(key).is_some(), "{key} missing in {v}");
            }
            assert_eq!(v["decision"], "block");
        }
        let e: serde_json::Value = serde_json::from_slice(&egress().to_line()).unwrap();
        assert_eq!(
            (&e["sidecar"], &e["host"]),
            (&"egress".into(), &"x.test".into())
        );
        let g: serde_json::Value = serde_json::from_slice(&git().to_line()).unwrap();
        assert_eq!(
            (&g["sidecar"], &g["reason"]),
            (&"git".into(), &"secret-found".into())
        );
    }

    #[test]
    fn lines_round_trip_and_say_which_sidecar_wrote_them() {
        for rec in [egress(), git()] {
            let line = rec.to_line();
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            let back: AuditRecord = serde_json::from_slice(&line).unwrap();
            assert_eq!(back, rec);
        }
        assert_eq!(egress().reason(), "allowlist:host-not-allowed");
        assert_eq!(git().reason(), "secret-found");
        assert!(egress().git().is_none() && egress().egress().is_some());
    }

    #[test]
    fn a_line_without_its_sidecar_tag_is_not_read_as_either() {
        let mut v: serde_json::Value = serde_json::from_slice(&egress().to_line()).unwrap();
        v.as_object_mut().unwrap().remove("sidecar");
        assert!(serde_json::from_value::<AuditRecord>(v).is_err());
    }
}
