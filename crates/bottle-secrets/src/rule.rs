//! Compiled rules and allowlists, with gitleaks' semantics.

use crate::ConfigError;
use regex::bytes::{Regex, RegexBuilder};

/// What an allowlist's regexes are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegexTarget {
    Secret,
    Match,
    Line,
}

/// Where an allowlist comes from, which decides the profiles it applies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllowKind {
    /// Part of a built-in rule's definition of its shape (the generic
    /// rule's "not an identifier" lists): applies in every profile.
    Shape,
    /// A built-in placeholder / documentation-example exemption: `Code` only.
    Placeholder,
    /// From a gitleaks config (the user's allowlists and stopwords): `Code` only.
    Config,
}

/// One allowlist (global or per rule), as in gitleaks.
pub(crate) struct Allowlist {
    /// Where it comes from (see [`AllowKind`]).
    pub kind: AllowKind,
    /// `condition = "AND"`: every criterion present must hold.
    pub and: bool,
    /// Commit ids, lowercase.
    pub commits: Vec<String>,
    pub paths: Vec<Regex>,
    pub target: RegexTarget,
    pub regexes: Vec<Regex>,
    /// Lowercase stopwords; a secret containing one is allowed.
    pub stopwords: Vec<String>,
    /// Global allowlists only: rule ids this applies to (empty = all).
    pub target_rules: Vec<String>,
}

/// What a candidate finding looks like to an allowlist.
pub(crate) struct Candidate<'a> {
    pub secret: &'a [u8],
    pub matched: &'a [u8],
    pub path: Option<&'a str>,
    pub commit: Option<&'a str>,
}

impl Allowlist {
    /// Whether this allowlist counts under `profile`: the egress profile is
    /// context-free, so only the lists that define a rule's shape count.
    pub(crate) fn counts_in(&self, profile: crate::Profile) -> bool {
        match profile {
            crate::Profile::Code => true,
            crate::Profile::Egress => self.kind == AllowKind::Shape,
        }
    }

    pub(crate) fn applies_to(&self, rule_id: &str) -> bool {
        self.target_rules.is_empty() || self.target_rules.iter().any(|r| r == rule_id)
    }

    /// Whether the path alone allows everything in a file (OR allowlists
    /// with a matching path), which lets callers skip the file.
    pub(crate) fn allows_whole_path(&self, path: &str) -> bool {
        !self.and && self.paths.iter().any(|p| p.is_match(path.as_bytes()))
    }

    /// Whether this allowlist allows the candidate. `line_ok` answers for a
    /// `regexTarget = "line"` list (the engine caches it per line).
    pub(crate) fn allows(
        &self,
        c: &Candidate<'_>,
        line_ok: &mut dyn FnMut(&Allowlist) -> bool,
    ) -> bool {
        let commit_ok = c.commit.is_some_and(|id| {
            self.commits
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(id))
        });
        let path_ok = c
            .path
            .is_some_and(|p| self.paths.iter().any(|r| r.is_match(p.as_bytes())));
        let regex_ok = !self.regexes.is_empty()
            && match self.target {
                RegexTarget::Secret => self.regexes.iter().any(|r| r.is_match(c.secret)),
                RegexTarget::Match => self.regexes.iter().any(|r| r.is_match(c.matched)),
                RegexTarget::Line => line_ok(self),
            };
        let stop_ok = !self.stopwords.is_empty() && {
            let lower = c.secret.to_ascii_lowercase();
            self.stopwords
                .iter()
                .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
        };
        if self.and {
            (self.commits.is_empty() || commit_ok)
                && (self.paths.is_empty() || path_ok)
                && (self.regexes.is_empty() || regex_ok)
                && (self.stopwords.is_empty() || stop_ok)
        } else {
            commit_ok || path_ok || regex_ok || stop_ok
        }
    }
}

/// A compiled detection rule.
pub(crate) struct Rule {
    pub id: String,
    pub description: String,
    pub regex: Option<RuleRegex>,
    /// The regex has capture groups (so the secret is a group, not the match).
    pub has_groups: bool,
    /// Where the secret lies in a match, when that is known without
    /// re-running the regex for its groups (see [`SecretSpan`]).
    pub span: SecretSpan,
    pub path: Option<Regex>,
    pub secret_group: usize,
    pub entropy: f64,
    /// Lowercase keywords; the rule runs only where one occurs.
    pub keywords: Vec<String>,
    pub allowlists: Vec<Allowlist>,
    /// Matches never span a line and always contain a keyword: the rule runs
    /// only on the lines where a keyword occurs (built-in rules are written
    /// this way; gitleaks configs run on the whole fragment, as gitleaks does).
    pub line_local: bool,
    /// A built-in rule (the code profile's placeholder checks apply).
    pub builtin: bool,
    /// Runs in the egress profile only (fragments of prefix-anchored tokens).
    pub egress_only: bool,
    /// Runs on decoded DLP views only: a shape that is a secret's when an
    /// agent encoded it, and everyday data in plain text.
    pub decoded_only: bool,
}

/// Where a built-in rule's secret (its first group) lies in a match, from
/// the shape of its regex: `\b(ghp_[A-Za-z0-9]{36})\b` has nothing but
/// zero-width assertions outside the group, so the secret is the whole
/// match; `\b(glpat-[\w-]{20,})(?:[^\w.-]|$)` ends with one byte of a class
/// the group never ends with, or with nothing, so the secret is the match
/// without that byte when it is there. Either way the capture engine need
/// not run again on every match (on a dense file it was a tenth of the
/// time). Anything else, and every rule from a gitleaks config, re-runs
/// the regex on the match text for its groups, as gitleaks does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SecretSpan {
    /// Re-run the regex on the match for its groups.
    Groups,
    /// The secret is the whole match.
    Whole,
    /// The secret is the match less its last byte when that byte is in
    /// the set (the set and the group's possible last bytes are disjoint).
    TrimLast(Box<[bool; 256]>),
}

impl SecretSpan {
    /// The span of a built-in regex whose secret is group 1 (or the first
    /// non-empty group, which is group 1 when it encloses the whole match).
    pub(crate) fn of(pattern: &str) -> SecretSpan {
        use regex_syntax::hir::{Hir, HirKind};
        let Ok(hir) = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .multi_line(true)
            .build()
            .parse(pattern)
        else {
            return SecretSpan::Groups;
        };
        let parts: Vec<&Hir> = match hir.kind() {
            HirKind::Concat(subs) => subs.iter().collect(),
            _ => vec![&hir],
        };
        let zero_width = |h: &Hir| matches!(h.kind(), HirKind::Look(_));
        let Some(at) = parts
            .iter()
            .position(|h| matches!(h.kind(), HirKind::Capture(c) if c.index == 1))
        else {
            return SecretSpan::Groups;
        };
        if !parts[..at].iter().all(|h| zero_width(h)) {
            return SecretSpan::Groups;
        }
        let tail = &parts[at + 1..];
        if tail.iter().all(|h| zero_width(h)) {
            return SecretSpan::Whole;
        }
        // One trailing item: a byte class, or an alternation of byte
        // classes and zero-width assertions.
        let [tail] = tail else {
            return SecretSpan::Groups;
        };
        let mut set = [false; 256];
        let alts: Vec<&Hir> = match tail.kind() {
            HirKind::Alternation(a) => a.iter().collect(),
            _ => vec![*tail],
        };
        for h in alts {
            match h.kind() {
                HirKind::Look(_) => {}
                HirKind::Class(c) => {
                    if !add_class(c, &mut set) {
                        return SecretSpan::Groups;
                    }
                }
                HirKind::Literal(l) if l.0.len() == 1 => set[usize::from(l.0[0])] = true,
                _ => return SecretSpan::Groups,
            }
        }
        let HirKind::Capture(c) = parts[at].kind() else {
            return SecretSpan::Groups;
        };
        match last_bytes(&c.sub) {
            Some((last, false)) if !(0..256).any(|b| last[b] && set[b]) => {
                SecretSpan::TrimLast(Box::new(set))
            }
            _ => SecretSpan::Groups,
        }
    }
}

/// Add a class's bytes to `set`; false if it is not a byte class.
fn add_class(c: &regex_syntax::hir::Class, set: &mut [bool; 256]) -> bool {
    use regex_syntax::hir::Class;
    match c {
        Class::Bytes(b) => {
            for r in b.ranges() {
                for x in r.start()..=r.end() {
                    set[usize::from(x)] = true;
                }
            }
            true
        }
        Class::Unicode(u) => {
            for r in u.ranges() {
                if u32::from(r.end()) > 0x7f {
                    return false;
                }
                for x in u32::from(r.start())..=u32::from(r.end()) {
                    set[x as usize] = true;
                }
            }
            true
        }
    }
}

/// The bytes a match of `h` can end with, and whether it can be empty;
/// `None` when that is not known.
fn last_bytes(h: &regex_syntax::hir::Hir) -> Option<([bool; 256], bool)> {
    use regex_syntax::hir::HirKind;
    let mut set = [false; 256];
    Some(match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (set, true),
        HirKind::Literal(l) => match l.0.last() {
            Some(&b) => {
                set[usize::from(b)] = true;
                (set, false)
            }
            None => (set, true),
        },
        HirKind::Class(c) => {
            if !add_class(c, &mut set) {
                return None;
            }
            (set, false)
        }
        HirKind::Repetition(r) => {
            let (s, e) = last_bytes(&r.sub)?;
            (s, e || r.min == 0)
        }
        HirKind::Capture(c) => last_bytes(&c.sub)?,
        HirKind::Concat(subs) => {
            for sub in subs.iter().rev() {
                let (s, e) = last_bytes(sub)?;
                for b in 0..256 {
                    set[b] |= s[b];
                }
                if !e {
                    return Some((set, false));
                }
            }
            (set, true)
        }
        HirKind::Alternation(alts) => {
            let mut empty = false;
            for sub in alts {
                let (s, e) = last_bytes(sub)?;
                for b in 0..256 {
                    set[b] |= s[b];
                }
                empty |= e;
            }
            (set, empty)
        }
    })
}

/// How a regex is compiled.
#[derive(Clone, Copy)]
pub(crate) enum Dialect {
    /// Our own rules: ASCII classes, `^`/`$` at line boundaries.
    Builtin,
    /// Go RE2 syntax from a gitleaks config, translated.
    Re2,
}

/// A rule's regex. A built-in one is compiled when its rule first runs:
/// the built-in set has a few hundred regexes and a scan or a proxy
/// usually triggers a few dozen, while compiling them all was most of the
/// time of a small `bottle scan` and much of the proxy's fresh size. A
/// gitleaks config's regexes compile at load, so a bad one is an error
/// there and then.
pub(crate) struct RuleRegex {
    pattern: Box<str>,
    /// Number of capture groups (without the whole match).
    groups: usize,
    compiled: std::sync::OnceLock<Regex>,
}

impl RuleRegex {
    /// A built-in regex, compiled on first use; parsed now for its groups.
    /// A pattern that does not parse is compiled now, for its error.
    pub(crate) fn lazy(pattern: &str, rule: &str) -> Result<Self, ConfigError> {
        // (Only whether it parses matters, not why.)
        let parse = |unicode: bool| {
            regex_syntax::ParserBuilder::new()
                .unicode(unicode)
                .utf8(false)
                .multi_line(true)
                .build()
                .parse(pattern)
                .ok()
        };
        match parse(false).or_else(|| parse(true)) {
            Some(hir) => Ok(Self {
                pattern: pattern.into(),
                groups: hir.properties().explicit_captures_len(),
                compiled: std::sync::OnceLock::new(),
            }),
            None => Self::eager(pattern, Dialect::Builtin, rule),
        }
    }

    /// A regex compiled now.
    pub(crate) fn eager(pattern: &str, dialect: Dialect, rule: &str) -> Result<Self, ConfigError> {
        let re = compile(pattern, dialect, rule)?;
        let compiled = std::sync::OnceLock::new();
        let groups = re.captures_len() - 1;
        let _ = compiled.set(re);
        Ok(Self {
            pattern: pattern.into(),
            groups,
            compiled,
        })
    }

    /// Number of capture groups.
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// The compiled regex (compiling a lazy one now).
    pub(crate) fn get(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            match compile(&self.pattern, Dialect::Builtin, "built-in") {
                Ok(re) => re,
                // Every built-in regex is compiled by a test; a rule that
                // silently matched nothing would fail open, so no fallback.
                #[allow(clippy::panic)]
                Err(e) => panic!("a built-in rule does not compile: {e}"),
            }
        })
    }
}

/// Compile a rule regex. Unicode is off where the pattern allows it (Go's
/// `\w`, `\d`, `\s`, `\b` are ASCII-only too, and byte classes are faster).
pub(crate) fn compile(pattern: &str, dialect: Dialect, rule: &str) -> Result<Regex, ConfigError> {
    let translated;
    let pat = match dialect {
        Dialect::Builtin => pattern,
        Dialect::Re2 => {
            translated = translate_re2(pattern);
            translated.as_str()
        }
    };
    let multi = matches!(dialect, Dialect::Builtin);
    let build = |unicode: bool| {
        RegexBuilder::new(pat)
            .unicode(unicode)
            .multi_line(multi)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
    };
    match build(false) {
        Ok(r) => Ok(r),
        Err(_) => build(true).map_err(|e| ConfigError::BadRegex {
            rule: rule.to_string(),
            message: e.to_string(),
        }),
    }
}

/// Translate Go RE2 syntax to Rust's `regex` syntax where they differ:
/// `\Q...\E` literal spans, and `\<`/`\>`, which are plain characters in Go
/// but word-boundary assertions in Rust. `\z` and the rest mean the same.
pub(crate) fn translate_re2(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Q') => {
                    let mut lit = String::new();
                    loop {
                        match chars.next() {
                            None => break,
                            Some('\\') if chars.peek() == Some(&'E') => {
                                chars.next();
                                break;
                            }
                            Some(ch) => lit.push(ch),
                        }
                    }
                    out.push_str(&regex::escape(&lit));
                }
                Some(ch @ ('<' | '>')) => out.push(ch),
                Some(ch) => {
                    out.push('\\');
                    out.push(ch);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `]` (or `^]`) is a literal in both dialects, but
                // Rust wants it escaped to be unambiguous.
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' if in_class => {
                // `[:alpha:]` inside a class is valid in both; a bare `[` is a
                // literal in Go, but starts a nested class in Rust.
                if chars.peek() == Some(&':') {
                    out.push('[');
                    for ch in chars.by_ref() {
                        out.push(ch);
                        if ch == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' | '-' if in_class => {
                // Rust gives `&&`, `~~` and `--` set-operation meaning.
                if c != '-' && chars.peek() == Some(&c) {
                    out.push('\\');
                    out.push(c);
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Shannon entropy in bits per character, computed as gitleaks does
/// (character counts divided by the byte length).
pub(crate) fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let text = String::from_utf8_lossy(data);
    let mut counts: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    let mut ascii = [0usize; 128];
    for ch in text.chars() {
        if (ch as u32) < 128 {
            ascii[ch as usize] += 1;
        } else {
            *counts.entry(ch).or_default() += 1;
        }
    }
    let inv = 1.0 / data.len() as f64;
    ascii
        .iter()
        .copied()
        .chain(counts.values().copied())
        .filter(|&n| n > 0)
        .map(|n| {
            let f = n as f64 * inv;
            -f * f.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re2_translation() {
        assert_eq!(translate_re2(r"\Qa.b\E+"), r"a\.b+");
        assert_eq!(translate_re2(r"\<x\>"), "<x>");
        assert_eq!(translate_re2(r"[a[b]"), r"[a\[b]");
        assert_eq!(translate_re2(r"[]a]"), r"[\]a]");
        assert_eq!(translate_re2(r"[[:alpha:]x]"), r"[[:alpha:]x]");
        assert_eq!(translate_re2(r"[a&&b]"), r"[a\&&b]");
    }

    /// The secret a [`SecretSpan`] gives equals the group a re-run on the
    /// match text gives (the definition), for every built-in rule, on its
    /// samples followed by each kind of byte, and shapes are recognised
    /// for most rules (so the shortcut is in use).
    #[test]
    fn every_lazy_builtin_regex_compiles_with_the_groups_counted_at_load() {
        let set = crate::builtin::compile_builtin();
        let mut lazy = 0;
        for rule in &set.rules {
            let Some(re) = &rule.regex else { continue };
            lazy += usize::from(re.compiled.get().is_none());
            assert_eq!(re.get().captures_len() - 1, re.groups(), "{}", rule.id);
        }
        assert!(
            lazy > 100,
            "built-in regexes are compiled on first use ({lazy} lazy)"
        );
        // A gitleaks config's regex compiles at load, and a bad one fails there.
        let bad = RuleRegex::eager("(unclosed", Dialect::Re2, "r");
        assert!(matches!(bad, Err(ConfigError::BadRegex { .. })));
        let good = RuleRegex::eager("a(b)(c)", Dialect::Re2, "r").map(|r| r.groups());
        assert!(matches!(good, Ok(2)));
    }

    #[test]
    fn secret_spans_agree_with_the_capture_groups() {
        let set = crate::builtin::compile_builtin();
        let samples: std::collections::HashMap<&str, &crate::BuiltinRule> =
            crate::builtin_rules().iter().map(|b| (b.id, b)).collect();
        let (mut whole, mut trim, mut trimmed, mut checked) = (0, 0, 0, 0);
        for rule in &set.rules {
            let Some(re) = rule.regex.as_ref().map(RuleRegex::get) else {
                continue;
            };
            match rule.span {
                SecretSpan::Groups => continue,
                SecretSpan::Whole => whole += 1,
                SecretSpan::TrimLast(_) => trim += 1,
            }
            let base = rule
                .id
                .strip_suffix("-fragment")
                .or_else(|| rule.id.strip_suffix("-variant"))
                .unwrap_or(&rule.id);
            let Some(b) = samples.get(base) else { continue };
            for seed in 0..8u64 {
                let mut rng = crate::SampleRng::new(seed);
                let sample = crate::render_template(b.sample, &mut rng).text;
                let near = crate::render_template(b.near_miss, &mut rng).text;
                for after in [
                    "", " ", "\n", ".", "-", "_", "=", "\"", "/", "x", "+", "\u{e9}",
                ] {
                    let text = format!("k: {sample}{after}\n{near}{after}");
                    for m in re.find_iter(text.as_bytes()) {
                        let (ms, me) = (m.start(), m.end());
                        let caps = re.captures(m.as_bytes()).unwrap();
                        let want = caps
                            .iter()
                            .skip(1)
                            .flatten()
                            .find(|g| !g.is_empty())
                            .map_or(ms..me, |g| ms + g.start()..ms + g.end());
                        let got = match &rule.span {
                            SecretSpan::TrimLast(t) if t[usize::from(text.as_bytes()[me - 1])] => {
                                ms..me - 1
                            }
                            _ => ms..me,
                        };
                        assert_eq!(got, want, "{}: {text:?}", rule.id);
                        trimmed += usize::from(got.end < me);
                        checked += 1;
                    }
                }
            }
        }
        assert!(whole >= 100 && trim >= 40, "whole {whole}, trim {trim}");
        assert!(checked > 10_000 && trimmed > 1000, "{checked} {trimmed}");
    }

    #[test]
    fn secret_spans_of_shapes() {
        assert_eq!(
            SecretSpan::of(r"\b(ghp_[A-Za-z0-9]{36})\b"),
            SecretSpan::Whole
        );
        assert!(matches!(
            SecretSpan::of(r"\b(glpat-[\w-]{20,})(?:[^\w.-]|$)"),
            SecretSpan::TrimLast(_)
        ));
        // The group may end with a byte of the tail's class: re-run.
        assert_eq!(
            SecretSpan::of(r"\b(tok_[\w.-]{20,})(?:[^\w]|$)"),
            SecretSpan::Groups
        );
        // Context before the group, or more after it: re-run.
        assert_eq!(SecretSpan::of(r"key=([a-z0-9]{32})\b"), SecretSpan::Groups);
        assert_eq!(SecretSpan::of(r"\b([a-z0-9]{32})\.x"), SecretSpan::Groups);
    }

    #[test]
    fn entropy_matches_known_values() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"ab") - 1.0).abs() < 1e-9);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
