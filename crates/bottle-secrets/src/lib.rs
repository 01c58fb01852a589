//! The secret scanner behind every bottle gate.
//!
//! SKELETON: this file fixes the public API that the egress proxy and the git
//! gate build against. The full engine (150+ rules, gitleaks config, keyword
//! prefilter, decoders, streaming, `bottle scan`) replaces the bodies while
//! keeping these signatures (adding to them is fine).
#![deny(missing_docs)]

use std::path::Path;

pub mod git;

/// Where a finding was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// File path (as given to the scan), when scanning files or commits.
    pub path: Option<String>,
    /// Commit id, when scanning git history.
    pub commit: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column (in bytes), when known.
    pub column: Option<usize>,
    /// Byte offset into the scanned input.
    pub offset: usize,
}

/// One detected secret. Never holds the secret itself, only a redacted form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable rule id (`github-pat`, `aws-access-key-id`, `known-secret`, ...).
    pub rule_id: String,
    /// Human description of the rule.
    pub description: String,
    /// The match with all but a short prefix masked, safe to print.
    pub redacted: String,
    /// Stable fingerprint (hex SHA-256 over rule id and secret), for baselines.
    pub fingerprint: String,
    /// Where it was found.
    pub location: Location,
}

/// Errors loading a scanner configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A rule's regex did not compile.
    #[error("rule {rule:?}: regex does not compile: {message}")]
    BadRegex {
        /// Rule id.
        rule: String,
        /// Why.
        message: String,
    },
    /// Reading or parsing the file failed.
    #[error("{path}: {message}")]
    File {
        /// The config file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Errors decoding a payload for DLP. A payload that cannot be decoded is
/// blocked by the callers, never passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Decoded output would exceed the limit.
    #[error("decoded size exceeds the scan limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The content encoding is not one we decode.
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// The data is corrupt for its declared encoding.
    #[error("cannot decode {encoding} data: {message}")]
    Corrupt {
        /// The encoding.
        encoding: String,
        /// Why.
        message: String,
    },
}

/// Limits applied while decoding payloads for DLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Maximum decoded bytes considered; more is [`DecodeError::TooLarge`].
    pub max_bytes: usize,
    /// Maximum nesting of decoders (base64 inside percent-encoding, ...).
    pub max_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 4,
        }
    }
}

struct Rule {
    id: &'static str,
    description: &'static str,
    regex: regex::bytes::Regex,
}

/// A compiled rule set plus known secrets. `Send + Sync`; share it in an `Arc`.
pub struct Scanner {
    rules: Vec<Rule>,
    known: Vec<(String, Vec<u8>)>,
}

impl Scanner {
    /// The built-in rules.
    pub fn builtin() -> Self {
        let specs: [(&'static str, &'static str, &'static str); 3] = [
            ("github-pat", "GitHub personal access token", r"ghp_[A-Za-z0-9]{36}"),
            ("aws-access-key-id", "AWS access key id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
            ("private-key", "Private key", r"-----BEGIN[A-Z ]* PRIVATE KEY-----"),
        ];
        let rules = specs
            .iter()
            .filter_map(|(id, description, re)| {
                regex::bytes::Regex::new(re).ok().map(|regex| Rule {
                    id,
                    description,
                    regex,
                })
            })
            .collect();
        Self {
            rules,
            known: Vec::new(),
        }
    }

    /// Load a gitleaks-compatible TOML config.
    pub fn from_gitleaks_file(path: &Path) -> Result<Self, ConfigError> {
        Err(ConfigError::File {
            path: path.display().to_string(),
            message: "gitleaks configs are not supported yet".into(),
        })
    }

    /// Register an exact secret value (an injected credential, an env value
    /// the user marked secret). `name` is what findings call it; the value is
    /// matched verbatim and encoded, and never appears in a finding.
    pub fn add_known_secret(&mut self, name: &str, value: &[u8]) {
        if !value.is_empty() {
            self.known.push((name.to_string(), value.to_vec()));
        }
    }

    /// Scan plain text as is (no decoding). `path` feeds path-based rules and
    /// allowlists and is reported in findings.
    pub fn scan(&self, data: &[u8], path: Option<&str>) -> Vec<Finding> {
        let mut out = Vec::new();
        for rule in &self.rules {
            for m in rule.regex.find_iter(data) {
                out.push(finding(rule.id, rule.description, m.as_bytes(), m.start(), data, path));
            }
        }
        for (name, value) in &self.known {
            let mut start = 0;
            while let Some(pos) = find(&data[start..], value) {
                let at = start + pos;
                out.push(finding(
                    "known-secret",
                    name,
                    value,
                    at,
                    data,
                    path,
                ));
                start = at + value.len();
            }
        }
        out
    }

    /// DLP scan of a payload: the raw bytes and every decoded view of them
    /// (percent/form encoding, JSON escapes, base64, hex; nested up to
    /// `limits.max_depth`). Compressed bodies go through [`decompress`] first.
    pub fn scan_payload(&self, data: &[u8], limits: &DecodeLimits) -> Result<Vec<Finding>, DecodeError> {
        if data.len() > limits.max_bytes {
            return Err(DecodeError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        Ok(self.scan(data, None))
    }
}

/// Decompress an HTTP body by its `Content-Encoding` (gzip, deflate, br,
/// zstd, identity; comma-separated lists are applied in reverse order).
pub fn decompress(encoding: &str, data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    match encoding.trim() {
        "" | "identity" => {
            if data.len() > limit {
                Err(DecodeError::TooLarge { limit })
            } else {
                Ok(data.to_vec())
            }
        }
        other => Err(DecodeError::UnsupportedEncoding(other.to_string())),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn finding(
    rule_id: &str,
    description: &str,
    secret: &[u8],
    offset: usize,
    data: &[u8],
    path: Option<&str>,
) -> Finding {
    use sha2::Digest;
    let before = &data[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = offset - before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1) + 1;
    let mut h = sha2::Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(secret);
    Finding {
        rule_id: rule_id.to_string(),
        description: description.to_string(),
        redacted: redact(secret),
        fingerprint: hex::encode(h.finalize()),
        location: Location {
            path: path.map(str::to_string),
            commit: None,
            line: Some(line),
            column: Some(col),
            offset,
        },
    }
}

/// Redact a secret for display: at most the first 4 characters, then `…`.
pub fn redact(secret: &[u8]) -> String {
    let s = String::from_utf8_lossy(secret);
    let keep: String = s.chars().take(if s.chars().count() > 12 { 4 } else { 0 }).collect();
    format!("{keep}…[redacted]")
}
