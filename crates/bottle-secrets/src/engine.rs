//! The matching engine: keyword prefilter, per-line regex windows, entropy
//! and allowlists last.
//!
//! One Aho-Corasick automaton holds every rule's keywords (ASCII
//! case-insensitive, overlapping, as gitleaks lowercases the fragment). A
//! rule whose keywords do not occur never runs. A *line-local* rule (every
//! built-in rule) runs only on the lines where one of its keywords occurs,
//! so a 1 MiB file with three `token` lines costs three short regex runs; a
//! rule from a gitleaks config runs on the whole fragment, exactly as gitleaks
//! does, so user configs keep their semantics.

use crate::ConfigError;
use crate::rule::{Allowlist, Candidate, Rule, shannon_entropy};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::ops::Range;

/// Markers that suppress a finding on their line (when inline allows are on).
pub(crate) const ALLOW_MARKERS: [&[u8]; 2] = [b"gitleaks:allow", b"bottle:allow"];

/// Which detector produced a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    Rule(u32),
    Known(u32),
}

/// A raw match, before it becomes a [`crate::Finding`].
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub source: Source,
    /// Byte range of the whole match in the scanned data.
    pub start: usize,
    pub end: usize,
    /// Byte range of the secret (a capture group or the match).
    pub secret: Range<usize>,
}

/// Context of one scanned fragment.
#[derive(Clone, Copy, Default)]
pub(crate) struct Ctx<'a> {
    pub path: Option<&'a str>,
    pub commit: Option<&'a str>,
    /// Honour `gitleaks:allow` / `bottle:allow` on the match's line.
    pub inline_allow: bool,
}

/// The compiled rule set.
pub(crate) struct RuleSet {
    pub rules: Vec<Rule>,
    pub global: Vec<Allowlist>,
    prefilter: Option<AhoCorasick>,
    /// Keyword pattern index → rules using it.
    kw_rules: Vec<Vec<u32>>,
    /// Rules with no keywords (run on every fragment).
    always: Vec<u32>,
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<Rule>, global: Vec<Allowlist>) -> Result<Self, ConfigError> {
        let mut keywords: Vec<String> = Vec::new();
        let mut kw_rules: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            if rule.keywords.is_empty() {
                always.push(i);
                continue;
            }
            for kw in &rule.keywords {
                match keywords.iter().position(|k| k == kw) {
                    Some(p) => {
                        if !kw_rules[p].contains(&i) {
                            kw_rules[p].push(i)
                        }
                    }
                    None => {
                        keywords.push(kw.clone());
                        kw_rules.push(vec![i]);
                    }
                }
            }
        }
        let prefilter = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    // A full DFA: a few hundred short case-insensitive
                    // keywords defeat the SIMD prefilters, and the DFA walks
                    // bytes several times faster than the NFA.
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .build(&keywords)
                    .map_err(|e| ConfigError::File {
                        path: "<keywords>".into(),
                        message: e.to_string(),
                    })?,
            )
        };
        Ok(Self {
            rules,
            global,
            prefilter,
            kw_rules,
            always,
        })
    }

    /// Scan `data`, pushing hits whose match starts inside `report`.
    pub(crate) fn scan(
        &self,
        data: &[u8],
        ctx: &Ctx<'_>,
        report: Range<usize>,
        out: &mut Vec<Hit>,
    ) {
        let n = self.rules.len();
        // Per rule: run on the whole fragment, or on these line windows.
        let mut whole = vec![false; n];
        let mut windows: Vec<(u32, usize, usize)> = Vec::new();
        let mut covered = vec![0usize; n];
        let mut triggered = vec![false; n];
        for &r in &self.always {
            whole[r as usize] = true;
            triggered[r as usize] = true;
        }
        if let Some(ac) = &self.prefilter {
            let mut on_hit = |m: aho_corasick::Match, ls: usize, le: usize| {
                let p = m.start();
                for &r in &self.kw_rules[m.pattern().as_usize()] {
                    let ri = r as usize;
                    triggered[ri] = true;
                    if whole[ri] {
                        continue;
                    }
                    if !self.rules[ri].line_local {
                        whole[ri] = true;
                        continue;
                    }
                    if p < covered[ri] {
                        continue;
                    }
                    windows.push((r, ls, le));
                    covered[ri] = le.max(m.end());
                }
            };
            // One overlapping pass with a DFA. (Finding keyword lines with
            // the faster non-overlapping search first and only then
            // collecting every keyword of those lines measured slower: with
            // hundreds of short case-insensitive keywords neither search
            // gets SIMD help, so the second pass is pure extra work.)
            let mut line = (usize::MAX, 0usize);
            for m in ac.find_overlapping_iter(data) {
                if !(line.0 != usize::MAX && line.0 <= m.start() && m.end() <= line.1) {
                    let s = memchr::memrchr(b'\n', &data[..m.start()]).map_or(0, |i| i + 1);
                    let e =
                        memchr::memchr(b'\n', &data[m.end()..]).map_or(data.len(), |i| m.end() + i);
                    line = (s, e);
                }
                on_hit(m, line.0, line.1);
            }
        }
        for (ri, rule) in self.rules.iter().enumerate() {
            if !triggered[ri] {
                continue;
            }
            if let Some(path_re) = &rule.path {
                let ok = ctx.path.is_some_and(|p| path_re.is_match(p.as_bytes()));
                if !ok {
                    continue;
                }
                if rule.regex.is_none() {
                    if report.start == 0 {
                        self.accept(ri, data, 0, 0, 0..0, ctx, out);
                    }
                    continue;
                }
            }
            if whole[ri] {
                self.run_rule(ri, data, 0, data.len(), ctx, &report, out);
            }
        }
        for &(r, s, e) in &windows {
            let rule = &self.rules[r as usize];
            if whole[r as usize] {
                continue;
            }
            if let Some(path_re) = &rule.path
                && !ctx.path.is_some_and(|p| path_re.is_match(p.as_bytes()))
            {
                continue;
            }
            self.run_rule(r as usize, data, s, e, ctx, &report, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_rule(
        &self,
        ri: usize,
        data: &[u8],
        s: usize,
        e: usize,
        ctx: &Ctx<'_>,
        report: &Range<usize>,
        out: &mut Vec<Hit>,
    ) {
        let rule = &self.rules[ri];
        let Some(re) = &rule.regex else { return };
        let hay = &data[s..e];
        for m in re.find_iter(hay) {
            let (ms, me) = (s + m.start(), s + m.end());
            if !report.contains(&ms) {
                continue;
            }
            let mut secret = ms..me;
            if rule.has_groups {
                // As gitleaks does: re-run on the match text, then take
                // `secretGroup` or the first non-empty group.
                let Some(caps) = re.captures(m.as_bytes()) else {
                    continue;
                };
                if rule.secret_group > 0 {
                    match caps.get(rule.secret_group) {
                        Some(g) => secret = ms + g.start()..ms + g.end(),
                        None => continue,
                    }
                } else if let Some(g) = caps.iter().skip(1).flatten().find(|g| !g.is_empty()) {
                    secret = ms + g.start()..ms + g.end();
                }
            }
            self.accept(ri, data, ms, me, secret, ctx, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        ri: usize,
        data: &[u8],
        ms: usize,
        me: usize,
        secret: Range<usize>,
        ctx: &Ctx<'_>,
        out: &mut Vec<Hit>,
    ) {
        let rule = &self.rules[ri];
        let line = line_around(data, ms, me);
        if ctx.inline_allow && rule.regex.is_some() && has_allow_marker(line) {
            return;
        }
        let sec = &data[secret.clone()];
        if rule.entropy > 0.0 && shannon_entropy(sec) <= rule.entropy {
            return;
        }
        let cand = Candidate {
            secret: sec,
            matched: &data[ms..me],
            line,
            path: ctx.path,
            commit: ctx.commit,
        };
        if rule.allowlists.iter().any(|a| a.allows(&cand)) {
            return;
        }
        if self
            .global
            .iter()
            .any(|a| a.applies_to(&rule.id) && a.allows(&cand))
        {
            return;
        }
        out.push(Hit {
            source: Source::Rule(ri as u32),
            start: ms,
            end: me,
            secret,
        });
    }
}

/// The full line(s) around a match, as gitleaks computes them: from the
/// newline *before* the line (included, so `^` in a `regexTarget = "line"`
/// allowlist only matches on the first line, exactly as in gitleaks) to the
/// end of the last line.
pub(crate) fn line_around(data: &[u8], start: usize, end: usize) -> &[u8] {
    let s = memchr::memrchr(b'\n', &data[..start]).unwrap_or(0);
    let e = memchr::memchr(b'\n', &data[end..]).map_or(data.len(), |i| end + i);
    &data[s..e]
}

pub(crate) fn has_allow_marker(line: &[u8]) -> bool {
    ALLOW_MARKERS
        .iter()
        .any(|m| memchr::memmem::find(line, m).is_some())
}

/// Newline index of a buffer, for offset → (line, column).
pub(crate) struct Lines {
    nl: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(data: &[u8]) -> Self {
        Self {
            nl: memchr::memchr_iter(b'\n', data).collect(),
        }
    }

    /// 0-based line index and 1-based byte column of `offset`.
    pub(crate) fn locate(&self, offset: usize) -> (usize, usize) {
        let line = self.nl.partition_point(|&p| p < offset);
        let start = if line == 0 { 0 } else { self.nl[line - 1] + 1 };
        (line, offset - start + 1)
    }
}
