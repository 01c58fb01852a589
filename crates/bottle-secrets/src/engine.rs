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
use crate::rule::{AllowKind, Allowlist, Candidate, Rule, SecretSpan, shannon_entropy};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::collections::HashMap;
use std::ops::Range;

/// Lines longer than this are scanned in windows around their keywords.
const LONG_LINE: usize = 16 << 10;
/// A window starts this far before a keyword (every built-in line-local
/// rule's match starts within a few dozen bytes of its keyword)...
const WINDOW_BEFORE: usize = 512;
/// ...and ends this far after it (longer matches are followed to their end).
const WINDOW_AFTER: usize = 2 << 10;

/// Characters of tokens and their encodings (a window on a long line does
/// not end among them).
pub(crate) fn token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.' | b'~' | b'%')
}

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
    /// The semantics to apply.
    pub profile: crate::Profile,
    /// The data is a decoded DLP view (base64, base32, hex below it): the
    /// rules that only count there run too.
    pub decoded: bool,
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
        let mut st = State::new(data);
        work(data.len());
        // Per rule: run on the whole fragment, or on these line windows.
        let mut whole = vec![false; n];
        // (rule, window start, window end, end of the window's last line).
        let mut windows: Vec<(u32, usize, usize, usize)> = Vec::new();
        let mut covered = vec![0usize; n];
        // Index in `windows` of each rule's last window.
        let mut last = vec![usize::MAX; n];
        let mut triggered = vec![false; n];
        for &r in &self.always {
            let rule = &self.rules[r as usize];
            if rule.decoded_only && !(ctx.decoded && ctx.profile == crate::Profile::Egress) {
                continue;
            }
            whole[r as usize] = true;
            triggered[r as usize] = true;
        }
        if let Some(ac) = &self.prefilter {
            let mut on_hit = |m: aho_corasick::Match, ls: usize, le: usize| {
                let p = m.start();
                for &r in &self.kw_rules[m.pattern().as_usize()] {
                    let ri = r as usize;
                    if self.rules[ri].egress_only && ctx.profile != crate::Profile::Egress
                        || self.rules[ri].decoded_only && !ctx.decoded
                    {
                        continue;
                    }
                    triggered[ri] = true;
                    if whole[ri] {
                        continue;
                    }
                    if !self.rules[ri].line_local {
                        whole[ri] = true;
                        continue;
                    }
                    // A normal line is one window; on a long line (minified
                    // code, a JSON blob) a window reaches from a little
                    // before the keyword to a little after it, and windows
                    // that touch merge. A match running past a window's
                    // end is followed to its true end (`run_rule`).
                    let (ws, we) = if le - ls > LONG_LINE {
                        let ws = ls.max(p.saturating_sub(WINDOW_BEFORE));
                        let mut we = le.min(m.end() + WINDOW_AFTER);
                        // Never end inside a run of token characters (a
                        // long JWT or base64 value): run on to its end.
                        if we < le && we > covered[ri] && token_char(data[we - 1]) {
                            let run = data[we..le].iter().position(|&b| !token_char(b));
                            let to = run.map_or(le, |i| we + i);
                            work(to - we);
                            we = to;
                        }
                        (ws, we)
                    } else {
                        (ls, le)
                    };
                    if ws < covered[ri] {
                        let w = &mut windows[last[ri]];
                        if w.2 < we {
                            w.2 = we;
                            covered[ri] = we;
                        }
                        continue;
                    }
                    last[ri] = windows.len();
                    windows.push((r, ws, we, le));
                    covered[ri] = we;
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
                    work(e - s);
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
                        self.accept(ri, &mut st, 0, 0, 0..0, ctx, out);
                    }
                    continue;
                }
            }
            if whole[ri] {
                self.run_rule(ri, &mut st, 0, data.len(), data.len(), ctx, &report, out);
            }
        }
        let mut done = vec![0usize; n];
        for &(r, s, e, le) in &windows {
            let rule = &self.rules[r as usize];
            if whole[r as usize] {
                continue;
            }
            if let Some(path_re) = &rule.path
                && !ctx.path.is_some_and(|p| path_re.is_match(p.as_bytes()))
            {
                continue;
            }
            let from = s.max(done[r as usize]);
            done[r as usize] = self.run_rule(r as usize, &mut st, from, e, le, ctx, &report, out);
        }
    }

    /// Run a rule's regex on `data[s..e]` (with the bytes before `s` as
    /// look-behind context). A match that reaches `e` while its line goes
    /// on to `le` is searched again up to `le`, for its true end. Returns
    /// where the last match ended (later windows of the rule start there).
    #[allow(clippy::too_many_arguments)]
    fn run_rule(
        &self,
        ri: usize,
        st: &mut State<'_>,
        s: usize,
        e: usize,
        le: usize,
        ctx: &Ctx<'_>,
        report: &Range<usize>,
        out: &mut Vec<Hit>,
    ) -> usize {
        let rule = &self.rules[ri];
        let Some(re) = rule.regex.as_ref().map(crate::rule::RuleRegex::get) else {
            return e;
        };
        let data = st.data;
        if s >= e {
            return s;
        }
        work(e - s);
        let mut pos = s;
        let mut reached = s;
        while pos <= e {
            let Some(mut m) = re.find_at(&data[..e], pos) else {
                break;
            };
            if m.end() == e
                && e < le
                && let Some(full) = re.find_at(&data[..le], m.start())
                && full.start() == m.start()
            {
                work(full.end() - e);
                m = full;
            }
            let (ms, me) = (m.start(), m.end());
            pos = if me > ms { me } else { me + 1 };
            reached = reached.max(me);
            if !report.contains(&ms) {
                continue;
            }
            let mut secret = ms..me;
            match &rule.span {
                SecretSpan::Whole => {}
                SecretSpan::TrimLast(set) => {
                    if me > ms && set[usize::from(data[me - 1])] {
                        secret = ms..me - 1;
                    }
                }
                SecretSpan::Groups => {}
            }
            if rule.has_groups && rule.span == SecretSpan::Groups {
                // As gitleaks does: re-run on the match text, then take
                // `secretGroup` or the first non-empty group.
                work(me - ms);
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
            self.accept(ri, st, ms, me, secret, ctx, out);
        }
        reached
    }

    /// Entropy, allowlists and (in the code profile) placeholders, on one
    /// match. Nothing here re-reads the line: line bounds come from the
    /// scan's newline index, inline-allow markers from one pass over the
    /// data, and a line allowlist's verdict is computed once per line.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        ri: usize,
        st: &mut State<'_>,
        ms: usize,
        me: usize,
        secret: Range<usize>,
        ctx: &Ctx<'_>,
        out: &mut Vec<Hit>,
    ) {
        let rule = &self.rules[ri];
        let data = st.data;
        let code = ctx.profile == crate::Profile::Code;
        if code && ctx.inline_allow && rule.regex.is_some() && st.has_marker(ms, me) {
            return;
        }
        let sec = &data[secret.clone()];
        work(sec.len());
        if rule.entropy > 0.0 && shannon_entropy(sec) <= rule.entropy {
            return;
        }
        if code && rule.builtin && crate::placeholder::is_placeholder(sec, rule, ctx.path) {
            return;
        }
        let cand = Candidate {
            secret: sec,
            matched: &data[ms..me],
            path: ctx.path,
            commit: ctx.commit,
        };
        let mut line_ok = |a: &Allowlist| st.line_matches(a, ms, me);
        if rule
            .allowlists
            .iter()
            .any(|a| a.counts_in(ctx.profile) && a.allows(&cand, &mut line_ok))
        {
            return;
        }
        // The built-in global placeholder list is subsumed by
        // `is_placeholder` for built-in rules (a test checks it), which has
        // already said no: two regex searches per finding saved.
        if self.global.iter().any(|a| {
            a.counts_in(ctx.profile)
                && !(rule.builtin && a.kind == AllowKind::Placeholder)
                && a.applies_to(&rule.id)
                && a.allows(&cand, &mut line_ok)
        }) {
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

thread_local! {
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Count `n` units of work (bytes examined) on this thread, for the tests
/// that check scanning stays linear whatever the density of findings.
#[inline]
pub(crate) fn work(n: usize) {
    WORK.with(|w| w.set(w.get().wrapping_add(n as u64)));
}

/// Work counted on this thread so far (see [`crate::testing`]).
pub(crate) fn work_done() -> u64 {
    WORK.with(|w| w.get())
}

/// Per-scan state: the data, its newline index and inline-allow markers
/// (each built at most once, on first need), and line-allowlist verdicts.
pub(crate) struct State<'d> {
    pub data: &'d [u8],
    lines: Option<Lines>,
    /// (start, end) of every allow marker, by start.
    markers: Option<Vec<(usize, usize)>>,
    /// (allowlist address, first line, last line) → verdict.
    line_cache: HashMap<(usize, usize, usize), bool>,
}

impl<'d> State<'d> {
    pub(crate) fn new(data: &'d [u8]) -> Self {
        Self {
            data,
            lines: None,
            markers: None,
            line_cache: HashMap::new(),
        }
    }

    fn lines(&mut self) -> &Lines {
        let data = self.data;
        self.lines.get_or_insert_with(|| {
            work(data.len());
            Lines::new(data)
        })
    }

    /// The lines around a match as gitleaks computes them (from the newline
    /// *before* the first line, included, so `^` in a `regexTarget = "line"`
    /// allowlist only matches on the first line, to the end of the last
    /// line), from the index: (start, end, first line, last line).
    fn span(&mut self, start: usize, end: usize) -> (usize, usize, usize, usize) {
        let len = self.data.len();
        let nl = &self.lines().nl;
        work(1);
        let first = nl.partition_point(|&p| p < start);
        let s = if first == 0 { 0 } else { nl[first - 1] };
        let last = nl.partition_point(|&p| p < end);
        let e = nl.get(last).copied().unwrap_or(len);
        (s, e, first, last)
    }

    fn has_marker(&mut self, ms: usize, me: usize) -> bool {
        let (s, e, _, _) = self.span(ms, me);
        let data = self.data;
        let markers = self.markers.get_or_insert_with(|| {
            let mut v = Vec::new();
            for m in ALLOW_MARKERS {
                work(data.len());
                v.extend(memchr::memmem::find_iter(data, m).map(|i| (i, i + m.len())));
            }
            v.sort_unstable();
            v
        });
        let i = markers.partition_point(|&(ps, _)| ps < s);
        markers[i..]
            .iter()
            .take_while(|&&(ps, _)| ps < e)
            .any(|&(_, pe)| pe <= e)
    }

    fn line_matches(&mut self, a: &Allowlist, ms: usize, me: usize) -> bool {
        let (s, e, first, last) = self.span(ms, me);
        let key = (a as *const Allowlist as usize, first, last);
        if let Some(&v) = self.line_cache.get(&key) {
            return v;
        }
        let line = &self.data[s..e];
        work(line.len() * a.regexes.len().max(1));
        let v = a.regexes.iter().any(|r| r.is_match(line));
        self.line_cache.insert(key, v);
        v
    }
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
