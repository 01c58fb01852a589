//! The secret scanner behind every bottle gate: the egress proxy's DLP, the
//! git gate's push check and `bottle scan` all use this one engine.
//!
//! Key design choice: **keywords first, regexes only where they can match,
//! entropy last.** Every rule declares keywords; one Aho-Corasick pass over
//! the input finds them all, and a rule's regex then runs only on the lines
//! that hold one of its keywords (rules from a gitleaks config run on the
//! whole fragment, as gitleaks does, to keep their semantics). Regexes are
//! byte-oriented with Unicode off where the rule allows, and entropy and
//! allowlists are evaluated only on actual matches. Input is scanned in
//! bounded windows, so memory does not grow with input size
//! ([`Scanner::scan_reader`]).
//!
//! - [`Scanner::builtin`]: the built-in rules (see [`builtin_rules`]).
//! - [`Scanner::from_gitleaks_file`]: a gitleaks.toml, with `[extend]`.
//! - [`Scanner::scan_payload`]: DLP over every decoded view of a payload.
//! - [`decompress`]: HTTP `Content-Encoding` bodies, bounded.
//! - [`git::scan_revs`]: added lines and messages of git commits.
#![deny(missing_docs)]

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

mod builtin;
mod decode;
mod engine;
mod gitleaks;
mod known;
mod placeholder;
mod rule;
mod split;

pub mod git;
pub mod report;
pub mod walk;

pub use builtin::{
    BuiltinRule, Fragment, Pattern, PlaceholderKind, Rendered, SampleRng, Variant, builtin_rules,
    fragment_of, render_placeholder, render_template, variant_of,
};
pub use decode::{
    ViewKind, decompress, decompress_reader, for_each_view, for_each_view_kind, strip_invisible,
};

use engine::{Ctx, Hit, Lines, RuleSet, Source};

/// The semantics the engine applies, chosen once by each caller: the same
/// rules, two readings of what counts.
///
/// | | `Code` | `Egress` |
/// |---|---|---|
/// | callers | `bottle scan`, the git gate | the egress proxy's DLP |
/// | placeholders, documentation examples, test vectors | not findings | findings |
/// | config allowlists, stopwords | honoured | ignored |
/// | inline `bottle:allow` ([`Scanner::set_inline_allow`]) | honoured when turned on | never |
/// | fragments of prefix-anchored tokens | not findings | findings |
/// | variants (wrong length or alphabet, test and restricted prefixes), key material cut short | not findings | findings |
/// | a bare AWS secret key's shape in a decoded DLP view ([`ViewKind::Decoded`]) | not findings | findings |
/// | known secrets | always findings | always findings |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Scanning code and history (`bottle scan`, the git gate): like
    /// gitleaks, placeholders and documentation examples are not findings,
    /// allowlists count.
    #[default]
    Code,
    /// Scanning what leaves the bottle (the proxy's DLP): context-free,
    /// because the agent writes every byte of context. Anything with a
    /// token's shape is a finding whatever its body looks like, and so is a
    /// fragment of a prefix-anchored token.
    Egress,
}

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
    /// Stable rule id (`github-pat`, `aws-access-token`, `known-secret`, ...).
    pub rule_id: String,
    /// Human description of the rule (for `known-secret`: the secret's name).
    pub description: String,
    /// The match with all but a short prefix masked, safe to print.
    pub redacted: String,
    /// Stable fingerprint (hex SHA-256 over rule id and secret), for
    /// baselines. For known secrets it is computed over the secret's name,
    /// so it reveals nothing about a possibly low-entropy value.
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
    /// The payload still decodes after the last layer the limits allow
    /// (deeper nesting than any real client sends).
    #[error("the payload is still encoded after {depth} decoding layers")]
    TooDeep {
        /// Layers undone before giving up.
        depth: usize,
    },
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
    /// Maximum payload bytes considered; more is [`DecodeError::TooLarge`].
    /// All decoded views together may use at most four times this.
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

/// Statistics of a streaming scan ([`Scanner::scan_reader`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes read from the input.
    pub bytes: u64,
    /// Largest buffer held at any time (constant: the window size).
    pub max_buffer: usize,
    /// Findings reported.
    pub findings: usize,
}

/// Window size of streaming scans.
const WINDOW: usize = 1 << 20;
/// Bytes after a window's reporting range scanned as context, so that a
/// multi-line match (a PEM block) starting near the end is seen whole.
const OVERLAP: usize = 64 << 10;

/// A compiled rule set plus known secrets. `Send + Sync`; cheap to clone
/// (the compiled rules are shared); share it in an `Arc` or clone it.
#[derive(Clone)]
pub struct Scanner {
    rules: Arc<RuleSet>,
    known: known::KnownSet,
    inline_allow: bool,
    profile: Profile,
}

impl fmt::Debug for Scanner {
    // Never print known secret values (nor their names' values).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.rules.len())
            .field("known_secrets", &self.known.len())
            .field("inline_allow", &self.inline_allow)
            .field("profile", &self.profile)
            .finish()
    }
}

impl Scanner {
    /// The built-in rules (see [`builtin_rules`]) and the built-in global
    /// allowlist (placeholders such as `${VAR}` or `xxxx`).
    pub fn builtin() -> Self {
        let set = builtin::compile_builtin();
        Self::from_set(set)
    }

    fn from_set(set: RuleSet) -> Self {
        Self {
            rules: Arc::new(set),
            known: known::KnownSet::default(),
            inline_allow: false,
            profile: Profile::Code,
        }
    }

    /// Choose the semantics (see [`Profile`]; the default is
    /// [`Profile::Code`]). Each caller sets this in one place.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// In-place form of [`Scanner::with_profile`].
    pub fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
    }

    /// The profile in force.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Load a gitleaks-compatible TOML config. `[extend] useDefault = true`
    /// extends the built-in rules (whose ids follow gitleaks' where the
    /// token format is the same, so `disabledRules` and `targetRules` keep
    /// working); `[extend] path` extends another config file.
    pub fn from_gitleaks_file(path: &Path) -> Result<Self, ConfigError> {
        Ok(Self::from_set(gitleaks::load_file(path)?))
    }

    /// Load a gitleaks-compatible config from a string (`base_dir` resolves
    /// a relative `[extend] path`).
    pub fn from_gitleaks_str(toml: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        Ok(Self::from_set(gitleaks::load_str(
            toml, "<config>", base_dir, 0,
        )?))
    }

    /// Honour inline `gitleaks:allow` / `bottle:allow` comments on a
    /// finding's line. Off by default: in the gates the author of the
    /// scanned text is the untrusted agent, who could otherwise add the
    /// comment to wave its own secret through. `bottle scan` turns it on.
    /// Known secrets are never suppressed this way.
    pub fn set_inline_allow(&mut self, on: bool) {
        self.inline_allow = on;
    }

    /// Builder form of [`Scanner::set_inline_allow`].
    pub fn with_inline_allow(mut self, on: bool) -> Self {
        self.inline_allow = on;
        self
    }

    /// Number of rules (built-in plus configured; not counting the
    /// egress profile's fragment rules).
    pub fn rule_count(&self) -> usize {
        self.rules.rules.iter().filter(|r| !r.egress_only).count()
    }

    /// The ids of the rules, in order (not the fragment rules).
    pub fn rule_ids(&self) -> Vec<&str> {
        self.rules
            .rules
            .iter()
            .filter(|r| !r.egress_only)
            .map(|r| r.id.as_str())
            .collect()
    }

    /// Register an exact secret value (an injected credential, an env value
    /// the user marked secret). `name` is what findings call it; the value is
    /// matched verbatim and encoded, and never appears in a finding.
    pub fn add_known_secret(&mut self, name: &str, value: &[u8]) {
        self.known.add(name, value);
    }

    /// Scan one DLP view as [`for_each_view_kind`] hands it over: like
    /// [`Scanner::scan`] without a path, and on a [`ViewKind::Decoded`] view
    /// (in the egress profile) with the rules for shapes that are secrets
    /// only when an agent encoded them.
    pub fn scan_view_of(&self, data: &[u8], kind: ViewKind) -> Vec<Finding> {
        self.scan_view(data, kind)
    }

    /// Scan plain text as is (no decoding). `path` feeds path-based rules and
    /// allowlists and is reported in findings.
    pub fn scan(&self, data: &[u8], path: Option<&str>) -> Vec<Finding> {
        self.scan_ctx(data, path, None)
    }

    /// Like [`Scanner::scan`] with the commit id known (for commit
    /// allowlists and the finding's location).
    pub fn scan_ctx(&self, data: &[u8], path: Option<&str>, commit: Option<&str>) -> Vec<Finding> {
        let hits = self.hits(data, path, commit, 0..data.len());
        self.findings(hits, data, path, commit, 0, 0, |lines, off| {
            let (l, c) = lines.locate(off);
            (Some(l + 1), Some(c))
        })
    }

    pub(crate) fn hits(
        &self,
        data: &[u8],
        path: Option<&str>,
        commit: Option<&str>,
        report: std::ops::Range<usize>,
    ) -> Vec<Hit> {
        let ctx = Ctx {
            path,
            commit,
            inline_allow: self.inline_allow,
            profile: self.profile,
            decoded: false,
        };
        let mut hits = Vec::new();
        self.rules.scan(data, &ctx, report.clone(), &mut hits);
        self.known.scan(data, &report, &mut hits);
        self.finish_hits(data, hits)
    }

    /// Sort hits; drop a generic rule's hit when a specific rule found the
    /// same secret on the same line or one containing it (as gitleaks
    /// does), and a fragment hit inside another rule's match. Linear after
    /// the sort: hashed secrets per line, and a sweep over sorted ranges.
    fn finish_hits(&self, data: &[u8], mut hits: Vec<Hit>) -> Vec<Hit> {
        hits.sort_by_key(|h| (h.start, h.source));
        #[derive(PartialEq)]
        enum Kind {
            Generic,
            Fragment,
            Other,
        }
        let kind = |h: &Hit| match h.source {
            Source::Rule(i) => {
                let r = &self.rules.rules[i as usize];
                if r.egress_only {
                    Kind::Fragment
                } else if r.id.to_ascii_lowercase().contains("generic") {
                    Kind::Generic
                } else {
                    Kind::Other
                }
            }
            Source::Known(_) => Kind::Other,
        };
        let kinds: Vec<Kind> = hits.iter().map(kind).collect();
        if hits.len() < 2 || kinds.iter().all(|k| *k == Kind::Other) {
            return hits;
        }
        engine::work(data.len() + hits.len());
        let lines = Lines::new(data);
        // Specific findings: (line, secret) for exact matches; secret
        // ranges and whole-match ranges, by start, with running max ends.
        let mut exact: std::collections::HashSet<(usize, &[u8])> = Default::default();
        let mut secrets: Vec<(usize, usize)> = Vec::new();
        let mut matches: Vec<(usize, usize)> = Vec::new();
        for (h, k) in hits.iter().zip(&kinds) {
            if *k == Kind::Fragment {
                continue;
            }
            matches.push((h.start, h.end));
            if *k == Kind::Other && !h.secret.is_empty() {
                exact.insert((lines.locate(h.start).0, &data[h.secret.clone()]));
                secrets.push((h.secret.start, h.secret.end));
            }
        }
        let in_secret = range_cover(secrets);
        let in_match = range_cover(matches);
        hits.into_iter()
            .zip(kinds)
            .filter(|(h, k)| match k {
                Kind::Other => true,
                Kind::Fragment => !in_match(h.secret.start, h.secret.end),
                Kind::Generic => {
                    let line = lines.locate(h.start).0;
                    !(exact.contains(&(line, &data[h.secret.clone()]))
                        || in_secret(h.secret.start, h.secret.end))
                }
            })
            .map(|(h, _)| h)
            .collect()
    }

    /// Turn hits into findings. `locate` maps (line index, offset) to line
    /// and column; `base_offset` is added to reported offsets.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn findings(
        &self,
        hits: Vec<Hit>,
        data: &[u8],
        path: Option<&str>,
        commit: Option<&str>,
        base_offset: usize,
        _base_line: usize,
        locate: impl Fn(&Lines, usize) -> (Option<usize>, Option<usize>),
    ) -> Vec<Finding> {
        if hits.is_empty() {
            return Vec::new();
        }
        let lines = Lines::new(data);
        hits.into_iter()
            .map(|h| {
                let (line, column) = if h.start == 0 && h.end == 0 && h.secret.is_empty() {
                    (None, None) // path-only rule
                } else {
                    locate(&lines, h.start)
                };
                let location = Location {
                    path: path.map(str::to_string),
                    commit: commit.map(str::to_string),
                    line,
                    column,
                    offset: base_offset + h.start,
                };
                self.finding(&h, data, location)
            })
            .collect()
    }

    fn finding(&self, h: &Hit, data: &[u8], location: Location) -> Finding {
        match h.source {
            Source::Rule(i) => {
                let rule = &self.rules.rules[i as usize];
                let secret = &data[h.secret.clone()];
                Finding {
                    rule_id: rule.id.clone(),
                    description: rule.description.clone(),
                    redacted: redact(secret),
                    fingerprint: fingerprint(&rule.id, secret),
                    location,
                }
            }
            Source::Known(i) => {
                let name = &self.known.names[i as usize];
                Finding {
                    rule_id: "known-secret".into(),
                    description: name.clone(),
                    redacted: redact(&data[h.secret.clone()]),
                    fingerprint: fingerprint("known-secret", name.as_bytes()),
                    location,
                }
            }
        }
    }

    /// Scan a stream in bounded windows: memory stays constant whatever the
    /// input size, and matches across window boundaries are found (windows
    /// end at line boundaries and overlap by 64 KiB for multi-line rules).
    pub fn scan_reader<R: Read>(
        &self,
        mut reader: R,
        path: Option<&str>,
        mut sink: impl FnMut(Finding),
    ) -> std::io::Result<StreamStats> {
        let cap = WINDOW + OVERLAP;
        let mut buf = vec![0u8; cap];
        let mut filled = 0usize;
        let mut base_offset = 0usize;
        let mut base_line = 0usize;
        let mut stats = StreamStats {
            max_buffer: cap,
            ..StreamStats::default()
        };
        let mut eof = false;
        loop {
            while filled < cap && !eof {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        filled += n;
                        stats.bytes += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let data = &buf[..filled];
            let end = if eof {
                filled
            } else {
                memchr::memrchr(b'\n', data).map_or(filled, |i| i + 1)
            };
            let next = if eof {
                end
            } else {
                let t = end.saturating_sub(OVERLAP);
                match memchr::memrchr(b'\n', &data[..t]) {
                    Some(i) => i + 1,
                    None if t > 0 => t,
                    None => end,
                }
            };
            let window = &data[..end];
            let hits = self.hits(window, path, None, 0..next);
            let found = self.findings(
                hits,
                window,
                path,
                None,
                base_offset,
                base_line,
                |lines, off| {
                    let (l, c) = lines.locate(off);
                    (Some(base_line + l + 1), Some(c))
                },
            );
            stats.findings += found.len();
            found.into_iter().for_each(&mut sink);
            if eof {
                return Ok(stats);
            }
            base_line += memchr::memchr_iter(b'\n', &data[..next]).count();
            base_offset += next;
            buf.copy_within(next..filled, 0);
            filled -= next;
        }
    }

    /// DLP scan of a payload: the raw bytes and every decoded view of them
    /// (percent/form encoding, JSON escapes, base64 std/url with or without
    /// padding, hex; nested up to `limits.max_depth`; invisible characters
    /// removed). Compressed bodies go through [`decompress`] first. Inline
    /// allow comments are never honoured here. Findings from decoded views
    /// carry the offset of the view, not of the raw payload.
    pub fn scan_payload(
        &self,
        data: &[u8],
        limits: &DecodeLimits,
    ) -> Result<Vec<Finding>, DecodeError> {
        decode::scan_payload(self, data, limits)
    }

    /// Plain scan without inline allows and without locations (used on
    /// decoded DLP views).
    pub(crate) fn scan_view(&self, data: &[u8], kind: ViewKind) -> Vec<Finding> {
        let ctx = Ctx {
            path: None,
            commit: None,
            inline_allow: false,
            profile: self.profile,
            decoded: kind == ViewKind::Decoded,
        };
        let mut hits = Vec::new();
        self.rules.scan(data, &ctx, 0..data.len(), &mut hits);
        self.known.scan(data, &(0..data.len()), &mut hits);
        let hits = self.finish_hits(data, hits);
        self.findings(hits, data, None, None, 0, 0, |lines, off| {
            let (l, c) = lines.locate(off);
            (Some(l + 1), Some(c))
        })
    }

    /// Whether a global allowlist allows the whole path (so a walker can
    /// skip the file without reading it).
    pub fn path_allowed(&self, path: &str) -> bool {
        self.rules
            .global
            .iter()
            .any(|a| a.target_rules.is_empty() && a.allows_whole_path(path))
    }
}

/// A query "is `s..e` inside one of these ranges", in O(log n) each.
fn range_cover(mut ranges: Vec<(usize, usize)>) -> impl Fn(usize, usize) -> bool {
    ranges.sort_unstable();
    let mut max_end = Vec::with_capacity(ranges.len());
    let mut m = 0;
    for &(_, e) in &ranges {
        m = m.max(e);
        max_end.push(m);
    }
    move |s, e| {
        let i = ranges.partition_point(|&(rs, _)| rs <= s);
        i > 0 && max_end[i - 1] >= e
    }
}

/// Instrumentation for tests: the engine counts the bytes it examines (the
/// keyword pass, each regex run, each line lookup and allowlist check) on
/// the calling thread, so tests can assert that work grows linearly with
/// the input whatever the density of findings.
#[doc(hidden)]
pub mod testing {
    /// Units of work (bytes examined) done on this thread so far.
    pub fn work() -> u64 {
        crate::engine::work_done()
    }
}

/// The fingerprint of a secret under a rule: hex SHA-256 of
/// `rule_id || 0x00 || secret`.
pub fn fingerprint(rule_id: &str, secret: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(secret);
    // Hex by table into one allocation (a dense file has a finding every
    // 150 bytes; the generic encoder went character by character).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Redact a secret for display: at most the first 4 characters (only when
/// the secret is longer than 12), then `…[redacted]`.
pub fn redact(secret: &[u8]) -> String {
    const MASK: &str = "…[redacted]";
    // ASCII (every token): characters are bytes, no lossy copy.
    if secret.is_ascii() {
        let keep = if secret.len() > 12 {
            &secret[..4]
        } else {
            &[][..]
        };
        let mut out = String::with_capacity(keep.len() + MASK.len());
        out.extend(keep.iter().map(|&b| char::from(b)));
        out.push_str(MASK);
        return out;
    }
    let s = String::from_utf8_lossy(secret);
    let keep: String = s
        .chars()
        .take(if s.chars().count() > 12 { 4 } else { 0 })
        .collect();
    format!("{keep}…[redacted]")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definitions the fast paths of [`redact`] and [`fingerprint`]
    /// implement.
    fn redact_reference(secret: &[u8]) -> String {
        let s = String::from_utf8_lossy(secret);
        let keep: String = s
            .chars()
            .take(if s.chars().count() > 12 { 4 } else { 0 })
            .collect();
        format!("{keep}…[redacted]")
    }

    #[test]
    fn redaction_and_fingerprints_agree_with_their_definitions() {
        for s in [
            &b""[..],
            b"abc",
            b"123456789012",
            b"1234567890123",
            b"ghp_q8Zr2LkPw4XmN7vB1cD9eF3gH5jK6lM0nO2p",
            "ünïcödé-sécrét-välüe".as_bytes(),
            b"\xff\xfe bytes",
            &[
                0xff, 0xfe, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', b'i', b'j', b'k',
            ],
        ] {
            assert_eq!(redact(s), redact_reference(s), "{s:?}");
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"rule-id\0");
            h.update(s);
            assert_eq!(fingerprint("rule-id", s), hex::encode(h.finalize()));
        }
        assert_eq!(redact(b"ghp_q8Zr2LkPw4XmN7vB1cD9"), "ghp_…[redacted]");
    }
}
