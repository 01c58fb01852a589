//! Known secrets: exact values registered at run time, matched verbatim and
//! in the encodings an exfiltration would use.

use crate::engine::{Hit, Source};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use std::ops::Range;

/// Shortest encoded fragment we search for: shorter ones would match noise.
const MIN_FORM: usize = 6;

#[derive(Default, Clone)]
pub(crate) struct KnownSet {
    pub names: Vec<String>,
    values: Vec<Vec<u8>>,
    ac: Option<AhoCorasick>,
    /// Pattern index → secret index.
    owner: Vec<u32>,
}

impl KnownSet {
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn add(&mut self, name: &str, value: &[u8]) {
        if value.is_empty() || self.values.iter().any(|v| v == value) {
            return;
        }
        self.names.push(name.to_string());
        self.values.push(value.to_vec());
        self.rebuild();
    }

    fn rebuild(&mut self) {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut owner = Vec::new();
        for (i, v) in self.values.iter().enumerate() {
            for form in forms(v) {
                if !patterns.contains(&form) {
                    patterns.push(form);
                    owner.push(i as u32);
                }
            }
        }
        self.ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok();
        self.owner = owner;
    }

    pub(crate) fn scan(&self, data: &[u8], report: &Range<usize>, out: &mut Vec<Hit>) {
        let Some(ac) = &self.ac else { return };
        let mut last: Option<(u32, usize)> = None;
        for m in ac.find_overlapping_iter(data) {
            if !report.contains(&m.start()) {
                continue;
            }
            let who = self.owner[m.pattern().as_usize()];
            // Several forms of one secret can overlap (hex lower/upper of a
            // digit-only value): report the first.
            if let Some((w, end)) = last
                && w == who
                && m.start() < end
            {
                continue;
            }
            last = Some((who, m.end()));
            out.push(Hit {
                source: Source::Known(who),
                start: m.start(),
                end: m.end(),
                secret: m.start()..m.end(),
            });
        }
    }
}

/// Every form a secret is searched in: verbatim, hex (both cases),
/// percent-encoding (reserved bytes only, and every byte), and base64 /
/// base64url at each of the three byte alignments (so the secret is found
/// inside a larger base64 text too; padding never matters).
pub(crate) fn forms(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![v.to_vec()];
    out.push(hex::encode(v).into_bytes());
    out.push(hex::encode_upper(v).into_bytes());
    let mut reserved = String::new();
    let mut all = String::new();
    for &b in v {
        all.push_str(&format!("%{b:02X}"));
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            reserved.push(b as char);
        } else {
            reserved.push_str(&format!("%{b:02X}"));
        }
    }
    out.push(reserved.to_ascii_lowercase().into_bytes());
    out.push(reserved.into_bytes());
    out.push(all.to_ascii_lowercase().into_bytes());
    out.push(all.into_bytes());
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for k in 0..3usize {
            let mut buf = vec![0u8; k];
            buf.extend_from_slice(v);
            let enc = engine.encode(&buf).into_bytes();
            // Characters whose 6 bits all come from the secret.
            let first = (8 * k).div_ceil(6);
            let last = (8 * (k + v.len())) / 6;
            if last > first && last - first >= MIN_FORM && last <= enc.len() {
                out.push(enc[first..last].to_vec());
            }
        }
    }
    out.retain(|f| f.len() >= MIN_FORM.min(v.len()));
    out.dedup();
    out
}
