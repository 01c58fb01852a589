//! Output formats of `bottle scan` (text, JSON, SARIF 2.1.0) and baselines.
//!
//! The JSON shape is stable (`"version": 1`):
//!
//! ```json
//! {"version": 1, "findings": [{"rule_id": "github-pat", "description": "...",
//!   "redacted": "ghp_…[redacted]", "fingerprint": "<hex sha-256>",
//!   "path": "src/a.rs", "commit": null, "line": 3, "column": 9, "offset": 41}]}
//! ```
//!
//! A baseline is such a JSON file: findings whose fingerprint it lists are
//! suppressed.

use crate::Finding;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, one block per finding.
    Text,
    /// The stable JSON shape above.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// One finding in the JSON report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JsonFinding {
    /// Rule id.
    pub rule_id: String,
    /// Rule description.
    pub description: String,
    /// Redacted secret.
    pub redacted: String,
    /// Fingerprint (hex SHA-256 of rule id and secret).
    pub fingerprint: String,
    /// File path.
    pub path: Option<String>,
    /// Commit id.
    pub commit: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based byte column.
    pub column: Option<usize>,
    /// Byte offset.
    pub offset: usize,
}

/// The JSON report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonReport {
    /// Format version (1).
    pub version: u32,
    /// Findings.
    pub findings: Vec<JsonFinding>,
}

impl From<&Finding> for JsonFinding {
    fn from(f: &Finding) -> Self {
        Self {
            rule_id: f.rule_id.clone(),
            description: f.description.clone(),
            redacted: f.redacted.clone(),
            fingerprint: f.fingerprint.clone(),
            path: f.location.path.clone(),
            commit: f.location.commit.clone(),
            line: f.location.line,
            column: f.location.column,
            offset: f.location.offset,
        }
    }
}

/// The JSON report, byte for byte what `serde_json::to_writer_pretty`
/// writes for a [`JsonReport`] (a test checks it), written directly: a scan
/// of a dense file reports 100,000s of findings, and going through the
/// generic serializer (and a copy of every finding into [`JsonFinding`]) was
/// a fifth of such a scan. A long list is encoded on all CPUs, in chunks, while
/// this thread writes the finished chunks in order (the report of a dense tree
/// is larger than its input, and encoding it on one thread after the scan was
/// a sixth of the run).
fn write_json(findings: &[Finding], out: &mut dyn Write) -> std::io::Result<()> {
    if findings.is_empty() {
        return out.write_all(b"{\n  \"version\": 1,\n  \"findings\": []\n}");
    }
    out.write_all(b"{\n  \"version\": 1,\n  \"findings\": [")?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || findings.len() < 2 * JSON_CHUNK {
        // Each finding into one buffer (no call through `dyn Write` per
        // piece), handed on every 64 KiB.
        let mut buf: Vec<u8> = Vec::with_capacity(72 << 10);
        for (i, f) in findings.iter().enumerate() {
            json_finding(&mut buf, f, i == 0)?;
            if buf.len() >= 64 << 10 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        out.write_all(&buf)?;
    } else {
        write_json_chunks(findings, threads, out)?;
    }
    out.write_all(b"\n  ]\n}")
}

/// Findings per chunk of a report encoded in parallel (about 0.75 MB).
const JSON_CHUNK: usize = 2048;

/// Worker `w` of `threads` encodes chunks `w`, `w + threads`, ... and hands
/// each over its own channel, two at most in flight, so the report is never
/// all in memory; this thread takes them round-robin, which is their order,
/// and hands the emptied buffers back. A failed write drops the channels:
/// every worker stops at its next send.
fn write_json_chunks(
    findings: &[Finding],
    threads: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    use std::sync::mpsc;
    let chunks: Vec<&[Finding]> = findings.chunks(JSON_CHUNK).collect();
    std::thread::scope(|scope| {
        let mut lanes = Vec::with_capacity(threads);
        for w in 0..threads {
            let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
            let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
            let chunks = &chunks;
            scope.spawn(move || {
                for (k, chunk) in chunks.iter().enumerate().skip(w).step_by(threads) {
                    let mut buf = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(JSON_CHUNK * 400));
                    buf.clear();
                    let encoded = chunk
                        .iter()
                        .enumerate()
                        .try_for_each(|(i, f)| json_finding(&mut buf, f, k == 0 && i == 0))
                        .map(|()| buf);
                    if full_tx.send(encoded).is_err() {
                        return;
                    }
                }
            });
            lanes.push((full_rx, empty_tx));
        }
        for k in 0..chunks.len() {
            let (full_rx, empty_tx) = &lanes[k % threads];
            // A worker that ended early (it cannot, short of a panic, which
            // the scope passes on) leaves its chunk unwritten: an error,
            // never a short report.
            let buf = full_rx
                .recv()
                .map_err(|_| std::io::Error::other("a report encoder stopped"))??;
            out.write_all(&buf)?;
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
}

/// One finding of the JSON report, its separator first.
fn json_finding(buf: &mut Vec<u8>, f: &Finding, first: bool) -> std::io::Result<()> {
    buf.extend_from_slice(if first { b"\n    {" } else { b",\n    {" });
    let loc = &f.location;
    field_str(buf, "rule_id", Some(&f.rule_id), true)?;
    field_str(buf, "description", Some(&f.description), false)?;
    field_str(buf, "redacted", Some(&f.redacted), false)?;
    field_str(buf, "fingerprint", Some(&f.fingerprint), false)?;
    field_str(buf, "path", loc.path.as_deref(), false)?;
    field_str(buf, "commit", loc.commit.as_deref(), false)?;
    field_num(buf, "line", loc.line);
    field_num(buf, "column", loc.column);
    field_num(buf, "offset", Some(loc.offset));
    buf.extend_from_slice(b"\n    }");
    Ok(())
}

fn field_key(out: &mut Vec<u8>, key: &str, first: bool) {
    out.extend_from_slice(if first { b"\n      \"" } else { b",\n      \"" });
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": ");
}

fn field_str(
    out: &mut Vec<u8>,
    key: &str,
    value: Option<&str>,
    first: bool,
) -> std::io::Result<()> {
    field_key(out, key, first);
    match value {
        None => out.extend_from_slice(b"null"),
        // Nothing to escape (the usual case): as is.
        Some(v) if !needs_escape(v.as_bytes()) => {
            out.push(b'"');
            out.extend_from_slice(v.as_bytes());
            out.push(b'"');
        }
        Some(v) => serde_json::to_writer(&mut *out, v).map_err(std::io::Error::other)?,
    }
    Ok(())
}

/// Whether JSON needs an escape in `s` (a control character, `"` or `\\`),
/// eight bytes at a time.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero / below n (n <= 0x80): the classic bit tricks.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        if below(x, 0x20) | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

fn field_num(out: &mut Vec<u8>, key: &str, value: Option<usize>) {
    field_key(out, key, false);
    match value {
        None => out.extend_from_slice(b"null"),
        Some(mut n) => {
            // Decimal digits, last first.
            let mut digits = [0u8; 20];
            let mut i = digits.len();
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(&digits[i..]);
        }
    }
}

/// Write findings in `format`. Output is buffered here (callers pass a bare
/// `File` or stdout): serde writes a JSON report in many small pieces, and
/// one syscall per piece was most of the time of a scan with 100,000s of
/// findings (issue 11's dense files).
pub fn render(findings: &[Finding], format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
    render_to(findings, format, &mut out)?;
    out.flush()
}

fn render_to(findings: &[Finding], format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Text => render_text(findings, out),
        Format::Json => {
            write_json(findings, out)?;
            writeln!(out)
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &sarif(findings))?;
            writeln!(out)
        }
    }
}

fn render_text(findings: &[Finding], out: &mut dyn Write) -> std::io::Result<()> {
    for f in findings {
        let loc = &f.location;
        let mut place = loc.path.clone().unwrap_or_else(|| "<input>".into());
        if loc.path.is_none() && loc.commit.is_some() {
            place = "<commit message>".into();
        }
        if let Some(l) = loc.line {
            place.push_str(&format!(":{l}"));
            if let Some(c) = loc.column {
                place.push_str(&format!(":{c}"));
            }
        } else if loc.path.is_none() {
            place.push_str(&format!(" @ byte {}", loc.offset));
        }
        writeln!(out, "{}: {}", f.rule_id, f.description)?;
        writeln!(out, "  where:       {place}")?;
        if let Some(c) = &loc.commit {
            writeln!(out, "  commit:      {c}")?;
        }
        writeln!(out, "  secret:      {}", f.redacted)?;
        writeln!(out, "  fingerprint: {}", f.fingerprint)?;
        writeln!(out)?;
    }
    Ok(())
}

/// The SARIF 2.1.0 log for `findings`.
pub fn sarif(findings: &[Finding]) -> serde_json::Value {
    use serde_json::json;
    let mut rules: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.description.as_str()))
        .collect();
    rules.sort();
    rules.dedup_by(|a, b| a.0 == b.0);
    let results: Vec<_> = findings
        .iter()
        .map(|f| {
            let loc = &f.location;
            let mut region = serde_json::Map::new();
            if let Some(l) = loc.line {
                region.insert("startLine".into(), json!(l));
            }
            if let Some(c) = loc.column {
                region.insert("startColumn".into(), json!(c));
            }
            if loc.line.is_none() {
                region.insert("byteOffset".into(), json!(loc.offset));
            }
            let mut physical = serde_json::Map::new();
            if let Some(p) = &loc.path {
                physical.insert("artifactLocation".into(), json!({ "uri": p }));
            }
            physical.insert("region".into(), serde_json::Value::Object(region));
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": "error",
                "message": { "text": format!("{} ({})", f.description, f.redacted) },
                "locations": [{ "physicalLocation": physical }],
                "partialFingerprints": { "bottleFingerprint/v1": f.fingerprint },
            });
            if let Some(c) = &loc.commit {
                result["properties"] = json!({ "commit": c });
            }
            result
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "bottle",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|(id, d)| json!({
                    "id": id, "shortDescription": { "text": d }
                })).collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}

/// Fingerprints of accepted findings.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    fingerprints: HashSet<String>,
}

impl Baseline {
    /// Load a baseline: a JSON report written by `bottle scan --format json`.
    pub fn load(path: &Path) -> Result<Self, crate::ConfigError> {
        let err = |m: String| crate::ConfigError::File {
            path: path.display().to_string(),
            message: m,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let report: JsonReport = serde_json::from_str(&text)
            .map_err(|e| err(format!("not a bottle JSON report: {e}")))?;
        Ok(Self {
            fingerprints: report.findings.into_iter().map(|f| f.fingerprint).collect(),
        })
    }

    /// Whether the baseline accepts `f`.
    pub fn contains(&self, f: &Finding) -> bool {
        self.fingerprints.contains(&f.fingerprint)
    }

    /// Number of fingerprints.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Whether the baseline is empty.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Location;

    fn finding(rule: &str, path: Option<&str>, line: Option<usize>) -> Finding {
        Finding {
            rule_id: rule.into(),
            description: "desc with \"quotes\", a \\ and a\nnewline\u{1}, é…".into(),
            redacted: "ghp_…[redacted]".into(),
            fingerprint: "ab".repeat(32),
            location: Location {
                path: path.map(str::to_string),
                commit: Some("0123abcd".into()),
                line,
                column: line.map(|l| l / 7),
                offset: 123_456_789,
            },
        }
    }

    #[test]
    fn escape_test_agrees_with_its_definition() {
        let slow = |s: &[u8]| s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        let mut cases: Vec<Vec<u8>> =
            vec![b"".to_vec(), b"plain-ascii-text-longer-than-8".to_vec()];
        for pos in 0..20 {
            for b in [
                0u8, 0x1f, 0x20, b'"', b'\\', 0x7f, 0x80, 0x9f, 0xa0, 0xdc, 0xff, b'!', b']',
            ] {
                let mut v = b"abcdefghijklmnopqrst".to_vec();
                v[pos] = b;
                cases.push(v[..pos + 1].to_vec());
                cases.push(v);
            }
        }
        cases.push("é…ü/ß — “quotes”".as_bytes().to_vec());
        for c in cases {
            assert_eq!(needs_escape(&c), slow(&c), "{c:?}");
        }
    }

    /// A writer that fails once it has taken `left` bytes.
    struct FailAfter {
        left: usize,
    }

    impl Write for FailAfter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = b.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_of_a_parallel_report_is_an_error_not_a_hang() {
        let findings: Vec<Finding> = (0..8 * JSON_CHUNK)
            .map(|i| finding("many", Some("d/many.json"), Some(i)))
            .collect();
        for left in [0, 10, 300_000, 2_000_000] {
            let err = render(&findings, Format::Json, &mut FailAfter { left }).unwrap_err();
            assert_eq!(err.to_string(), "disk full");
        }
        // Its benign twin: room for all of it.
        render(&findings, Format::Json, &mut FailAfter { left: usize::MAX }).unwrap();
    }

    #[test]
    fn json_writer_matches_serde_pretty_byte_for_byte() {
        let sets = [
            vec![],
            vec![finding("github-pat", Some("a/b.env"), Some(3))],
            vec![
                finding("x", None, None),
                finding("y\ttab", Some("dir/\"q\".txt"), Some(1)),
                finding("z", Some("ü/ß"), Some(usize::MAX)),
                finding("w", Some("p"), Some(0)),
            ],
            // More than one 64 KiB buffer's worth.
            (0..2_000)
                .map(|i| finding("many", Some("d/many.json"), Some(i * 10)))
                .collect(),
            // Encoded in parallel chunks (a last chunk that is not full).
            (0..5 * JSON_CHUNK + 17)
                .map(|i| finding(&format!("r{}", i % 7), Some("d/many.json"), Some(i)))
                .collect(),
        ];
        for findings in sets {
            let mut ours = Vec::new();
            render(&findings, Format::Json, &mut ours).unwrap();
            let report = JsonReport {
                version: 1,
                findings: findings.iter().map(JsonFinding::from).collect(),
            };
            let mut theirs = serde_json::to_vec_pretty(&report).unwrap();
            theirs.push(b'\n');
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap()
            );
        }
    }
}
