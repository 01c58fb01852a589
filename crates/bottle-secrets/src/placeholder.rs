//! The code profile's notion of "not a secret, an example": placeholders,
//! documentation example keys and crypto test vectors. The egress profile
//! never asks (the agent writes every byte it sends, placeholders included).
//!
//! Everything here looks at the secret alone (and the path for test
//! vectors), in time linear in the secret's length, and allocates nothing:
//! it runs on every match of the code profile, so on a dense file (a token
//! every 150 bytes) it is per-byte work, not an afterthought.

use crate::rule::Rule;
use aho_corasick::AhoCorasick;
use sha2::Digest;
use std::sync::LazyLock;

/// Words that mark a value as a placeholder wherever they occur in it
/// (ASCII case-insensitive). `xxxx` is judged apart ([`x_placeholder`]):
/// four x's occur by chance in random token bodies.
const MARKERS: &[&[u8]] = &[
    b"example",
    b"placeholder",
    b"changeme",
    b"change_me",
    b"change-me",
    b"redacted",
    b"dummy",
    b"sample",
    // `your[_-]?(?:api[_-]?)?(?:key|token|secret|password)`, as the
    // built-in global placeholder allowlist spells it (see the test
    // `the_global_placeholder_list_is_subsumed`).
    b"your_",
    b"your-",
    b"yourapi",
    b"yourkey",
    b"yourtoken",
    b"yoursecret",
    b"yourpassword",
    b"****",
    b"....",
    b"<",
    b"${",
    b"{{",
    b"%(",
    b"$(",
];

/// One automaton for [`MARKERS`] (one pass over the secret instead of a
/// lowercased copy and a search per marker).
static MARKER_AC: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(MARKERS)
        .ok()
});

/// Length and SHA-256 of vendors' published documentation example keys
/// (kept as digests so no token-shaped literal sits in the repository; the
/// length spares hashing every other secret). Those that contain `EXAMPLE`
/// (AWS's key pair) are caught by [`MARKERS`] already.
const DOC_EXAMPLES: &[(usize, &str)] = &[
    // Stripe's documentation secret test key (the publishable one is no rule's).
    (
        32,
        "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",
    ),
];

/// Whether `secret`, found by built-in `rule` in a file at `path`, is a
/// placeholder, a documentation example or a test vector.
pub(crate) fn is_placeholder(secret: &[u8], rule: &Rule, path: Option<&str>) -> bool {
    let body = strip_prefix(secret, &rule.keywords);
    has_marker(secret)
        || x_placeholder(secret, body)
        || your_here(secret)
        || dull_body(body)
        || doc_example(secret)
        || test_vector(secret, path)
}

/// Length of a run of x's that marks any secret as a placeholder.
const LONG_X_RUN: usize = 6;
/// The shortest run of x's that counts at all (`xxxx`).
const X_RUN: usize = 4;

fn has_marker(secret: &[u8]) -> bool {
    match &*MARKER_AC {
        Some(ac) => ac.find_iter(secret).next().is_some(),
        // The automaton is built from constants and is tested to build;
        // should it not, fall back to the slow search rather than miss.
        None => {
            let lower = secret.to_ascii_lowercase();
            MARKERS
                .iter()
                .any(|m| memchr::memmem::find(&lower, m).is_some())
        }
    }
}

/// Whether x's (any case) mark `secret` (whose body, without its rule's
/// prefix, is `body`) as a placeholder: it holds `xxxx`, and either the
/// x's run on to [`LONG_X_RUN`] or more, or they make up most of the
/// body's letters and digits (`ghp_xxxx…`, `xoxb-xxxx-xxxx-xxxx`).
///
/// Four x's alone are no marker: in some mix of case they occur by chance
/// in about one random token in 35,000 and in one random 1,600-character
/// key body in 600 (the 2026-12-02 benchmark missed five dense tokens and
/// a private key that way, issue 11); a run of six in about one in a
/// billion per position.
fn x_placeholder(secret: &[u8], body: &[u8]) -> bool {
    let is_x = |b: u8| b == b'x' || b == b'X';
    // The longest run of x's, visiting only the x's.
    let (mut at, mut longest) = (0usize, 0usize);
    while let Some(i) = memchr::memchr2(b'x', b'X', &secret[at..]) {
        let run = secret[at + i..].iter().take_while(|&&b| is_x(b)).count();
        longest = longest.max(run);
        at += i + run;
    }
    if longest < X_RUN {
        return false;
    }
    if longest >= LONG_X_RUN {
        return true;
    }
    let (mut xs, mut chars) = (0usize, 0usize);
    for &b in body {
        xs += usize::from(is_x(b));
        chars += usize::from(b.is_ascii_alphanumeric());
    }
    2 * xs > chars
}

/// First ASCII case-insensitive occurrence of `needle` in `hay`.
fn find_nocase(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    // Candidates by their first byte in either case (one SIMD pass).
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay).find(|&i| {
        hay.get(i + 1..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

/// `YOUR_API_KEY_HERE`, `your-token-here`, `<your key>`.
fn your_here(secret: &[u8]) -> bool {
    match find_nocase(secret, b"your") {
        Some(i) => {
            let rest = &secret[i + 4..];
            rest.first()
                .is_some_and(|b| matches!(b, b'_' | b'-' | b' '))
                || find_nocase(rest, b"here").is_some()
        }
        None => false,
    }
}

/// The secret without a leading keyword of its rule (`ghp_`, `AKIA`), so
/// that the body alone is judged.
fn strip_prefix<'a>(secret: &'a [u8], keywords: &[String]) -> &'a [u8] {
    let mut best = 0;
    for k in keywords {
        let k = k.as_bytes();
        if k.len() > best && secret.len() > k.len() && secret[..k.len()].eq_ignore_ascii_case(k) {
            best = k.len();
        }
    }
    &secret[best..]
}

/// A body of one repeated character (or two), an obvious sequence
/// (`0123456789abcdef…`, `abcdefgh…`), or a short pattern repeated
/// (`abcabcabc…`, `1234123412341234`): separators ignored, or in its
/// longest run of letters and digits (the token part of a webhook URL).
fn dull_body(body: &[u8]) -> bool {
    // A body of letters and digits only (most tokens): it is its own
    // longest run, and the two passes of `dull_trimmed`'s quick rejection
    // can run on it in place.
    if body.iter().all(u8::is_ascii_alphanumeric) {
        let n = body.len();
        // (TRIM_START > TRIM_END, so both slices are non-empty.)
        if n > TRIM_START && varied(&body[TRIM_START..], n) && varied(&body[..n - TRIM_END], n) {
            return false;
        }
        return dull_trimmed(body);
    }
    let longest = body
        .split(|b| !b.is_ascii_alphanumeric())
        .max_by_key(|s| s.len())
        .unwrap_or_default();
    // Also without a few characters at either end: a vendor prefix the
    // rule's keywords do not spell (`AKIA` for the generic rule, `0x`,
    // `APA91b`) or a fixed suffix (`NRAL`).
    dull_trimmed(body) || (longest.len() < body.len() && dull_trimmed(longest))
}

/// Characters [`dull_trimmed`] may drop at the start, and at the end.
const TRIM_START: usize = 6;
const TRIM_END: usize = 4;
const _: () = assert!(TRIM_START > TRIM_END);

/// [`dull`] on `b`, or on `b` without up to [`TRIM_START`] leading or up
/// to [`TRIM_END`] trailing bytes: 11 variants, judged from one pass over
/// the letters and digits (prefix counts of runs, sequence steps and
/// period mismatches make each variant's test O(1)), so a token costs one
/// short pass, not eleven.
fn dull_trimmed(b: &[u8]) -> bool {
    /// Longer bodies (PEM blocks, JWTs) take the plain per-variant path.
    const CAP: usize = 128;
    let mut chars = [0u8; CAP];
    // Letters and digits in `b[..k]` for k = 0..=TRIM_START, and in the
    // last k bytes for k = 0..=TRIM_END: where each variant starts and ends
    // among the letters and digits.
    let mut lead = [0usize; TRIM_START + 1];
    let mut trail = [0usize; TRIM_END + 1];
    let mut n = 0;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if n == CAP {
                return dull_trimmed_slow(b);
            }
            chars[n] = c;
            n += 1;
        }
        if i < TRIM_START {
            lead[i + 1] = n;
        }
    }
    for k in 1..=TRIM_END.min(b.len()) {
        trail[k] = trail[k - 1] + usize::from(b[b.len() - k].is_ascii_alphanumeric());
    }
    let chars = &chars[..n];
    // Every variant either starts at one of the first few characters and
    // runs to the end ("lead" variants, `chars[a..n]`), or starts at 0 and
    // ends a few characters early ("trail" variants, `chars[..e]`).
    let a_max = lead[TRIM_START.min(b.len())];
    let e_min = n - trail[TRIM_END.min(b.len())];
    if a_max < n && e_min > 0 && varied(&chars[a_max..], n) && varied(&chars[..e_min], n) {
        return false;
    }
    // changes[j]: neighbours (i-1, i) with i < j that differ; steps[j]:
    // those where i is the successor of i-1.
    let mut changes = [0u8; CAP + 1];
    let mut steps = [0u8; CAP + 1];
    // Period p fails on `chars[a..n]` iff a mismatch `chars[i] !=
    // chars[i-p]` has `i >= a + p` (so: the last one), and on `chars[..e]`
    // iff one has `i < e` (the first one). Once a period has failed every
    // variant (a mismatch past `a_max + p`, and one before `e_min`) it is
    // no longer tracked: a real token settles all six in a few characters.
    let mut first = [n; 9];
    let mut last_end = [0usize; 9]; // last mismatch + 1 (0: none)
    let mut open: u16 = 0b1_1111_1000;
    for i in 1..n {
        changes[i + 1] = changes[i] + u8::from(chars[i] != chars[i - 1]);
        steps[i + 1] = steps[i] + u8::from(successor(chars[i - 1], chars[i]));
        let mut m = open;
        while m != 0 {
            let p = m.trailing_zeros() as usize;
            m &= m - 1;
            if i >= p && chars[i] != chars[i - p] {
                if first[p] == n {
                    first[p] = i;
                }
                last_end[p] = i + 1;
                if last_end[p] > a_max + p && first[p] < e_min {
                    open &= !(1 << p);
                }
            }
        }
    }
    // Index of the third distinct character from `a` on (or n).
    let third = |a: usize| {
        let (mut x, mut y) = (None, None);
        for (j, &c) in chars.iter().enumerate().skip(a) {
            match (x, y) {
                (None, _) => x = Some(c),
                (Some(v), None) if v != c => y = Some(c),
                (Some(v), Some(w)) if v != c && w != c => return j,
                _ => {}
            }
        }
        n
    };
    let dull_range = |a: usize, e: usize| {
        let len = e.saturating_sub(a);
        if len < 6 {
            return false;
        }
        if e <= third(a) {
            return true;
        }
        // Pairs (i-1, i) inside the range: a < i < e.
        let runs = 1 + usize::from(changes[e] - changes[a + 1]);
        if len >= 12 && runs <= 3 {
            return true;
        }
        let st = usize::from(steps[e] - steps[a + 1]);
        if st * 5 >= (len - 1) * 4 {
            return true;
        }
        (3..=8).any(|p| {
            2 * p < len
                && if e == n {
                    last_end[p] <= a + p
                } else {
                    // a == 0
                    first[p] >= e
                }
        })
    };
    (0..=TRIM_START.min(b.len())).any(|k| dull_range(lead[k.min(TRIM_START)], n))
        || (1..=TRIM_END.min(b.len())).any(|k| dull_range(0, n - trail[k]))
}

/// Whether `part` shows that no variant of a body of `n` letters and
/// digits that contains it is dull: each test of [`dull`] fails on a range
/// once it fails on a part of it (three distinct characters, four runs,
/// more than a fifth of the pairs no sequence step, a mismatch at every
/// period that fits twice). Every lead variant contains the body without
/// its first few characters, every trail variant the body without its
/// last few, so two such passes settle a random token, and the
/// per-variant work is left to bodies that look dull somewhere (the dense
/// benchmark's finding-heavy files spent a tenth of their time there).
fn varied(part: &[u8], n: usize) -> bool {
    let Some(&first) = part.first() else {
        return false;
    };
    // Branch-free per character (random bytes defeat branch prediction):
    // seen characters as bits, sequence steps by table.
    let mut seen: u128 = 1 << (first & 127);
    let (mut changes, mut non_steps) = (0usize, 0usize);
    let need_non_steps = n.saturating_sub(1) / 5 + 1;
    let mut settled = false;
    for w in part.windows(2) {
        let (p, c) = (w[0], w[1]);
        seen |= 1 << (c & 127);
        changes += usize::from(c != p);
        let step = SUCC[usize::from(p)] == u16::from(c)
            || (STEP_END[usize::from(p)] && STEP_START[usize::from(c)]);
        non_steps += usize::from(!step);
        if seen.count_ones() >= 3 && changes >= 3 && non_steps >= need_non_steps {
            settled = true;
            break;
        }
    }
    // Each period that fits twice in a variant has a mismatch (in a
    // random part, at its first position).
    settled
        && (3..=8)
            .filter(|p| 2 * p < n)
            .all(|p| (p..part.len()).any(|i| part[i] != part[i - p]))
}

/// [`successor`] as tables: the next character of the same class (or
/// 0x100: none, which no byte equals), and the ends and starts of classes.
static SUCC: [u16; 256] = {
    let mut t = [0x100u16; 256];
    let mut a = 0;
    while a < 255 {
        let b = a as u8 + 1;
        let (a8, b8) = (a as u8, b);
        if b8.is_ascii_alphanumeric() && (a8.is_ascii_digit() == b8.is_ascii_digit()) {
            t[a] = b as u16;
        }
        a += 1;
    }
    t
};
static STEP_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b'9' as usize] = true;
    t[b'z' as usize] = true;
    t[b'Z' as usize] = true;
    t[b'f' as usize] = true;
    t[b'F' as usize] = true;
    t
};
static STEP_START: [bool; 256] = {
    let mut t = [false; 256];
    t[b'0' as usize] = true;
    t[b'a' as usize] = true;
    t[b'A' as usize] = true;
    t
};

/// [`dull_trimmed`] by its definition: each variant on its own.
fn dull_trimmed_slow(b: &[u8]) -> bool {
    (0..=TRIM_START.min(b.len())).any(|k| dull(&b[k..]))
        || (1..=TRIM_END.min(b.len())).any(|k| dull(&b[..b.len() - k]))
}

fn dull(body: &[u8]) -> bool {
    let chars = body.iter().copied().filter(u8::is_ascii_alphanumeric);
    let n = chars.clone().count();
    if n < 6 {
        return false;
    }
    let mut seen = [false; 128];
    let mut distinct = 0;
    let (mut runs, mut steps) = (1, 0);
    let mut periodic = [true; 9];
    let mut recent = [0u8; 8];
    for (i, c) in chars.enumerate() {
        if !seen[c as usize] {
            seen[c as usize] = true;
            distinct += 1;
        }
        if i > 0 {
            let prev = recent[(i - 1) % 8];
            runs += usize::from(prev != c);
            steps += usize::from(successor(prev, c));
        }
        for (p, ok) in periodic.iter_mut().enumerate().skip(3) {
            if i >= p && recent[(i - p) % 8] != c {
                *ok = false;
            }
        }
        recent[i % 8] = c;
    }
    // At most two characters; a few runs of one character each
    // (`iiiiAAAAWWWW…`); an obvious sequence; the first p characters
    // repeated.
    distinct <= 2
        || (n >= 12 && runs <= 3)
        || steps * 5 >= (n - 1) * 4
        || (3..=8).any(|p| 2 * p < n && periodic[p])
}

/// `b` follows `a` in an obvious sequence: the next character of the same
/// class, or the start of a class after the end of another (`9` → `a`,
/// `z` → `0`, `Z` → `a`, `f` → `0` for hex).
fn successor(a: u8, b: u8) -> bool {
    if b == a.wrapping_add(1)
        && b.is_ascii_alphanumeric()
        && (a.is_ascii_digit() == b.is_ascii_digit())
    {
        return true;
    }
    let end = matches!(a, b'9' | b'z' | b'Z' | b'f' | b'F');
    let start = matches!(b, b'0' | b'a' | b'A');
    end && start
}

fn doc_example(secret: &[u8]) -> bool {
    if !DOC_EXAMPLES.iter().any(|&(len, _)| len == secret.len()) {
        return false;
    }
    let digest = hex::encode(sha2::Sha256::digest(secret));
    DOC_EXAMPLES
        .iter()
        .any(|&(len, d)| len == secret.len() && d == digest)
}

/// A hex value in a file whose path says "test data" (`tests/`,
/// `testdata/`, `vectors/`, `*_test.go`, NIST `.rsp` files, Wycheproof):
/// crypto libraries' test vectors (`Key = 000102…`) are keys by shape and
/// test data by context.
fn test_vector(secret: &[u8], path: Option<&str>) -> bool {
    let Some(path) = path else { return false };
    let hexish = secret.len() >= 16
        && secret
            .strip_prefix(b"0x")
            .unwrap_or(secret)
            .iter()
            .all(u8::is_ascii_hexdigit);
    hexish && test_data_path(path)
}

/// A path component (split at `/`, `\`, `.`, `_`, `-`) names test data.
pub(crate) fn test_data_path(path: &str) -> bool {
    const WORDS: &[&str] = &[
        "test",
        "tests",
        "testdata",
        "testvectors",
        "vectors",
        "vector",
        "kat",
        "wycheproof",
        "fixture",
        "fixtures",
        "rsp",
    ];
    path.split(['/', '\\', '.', '_', '-'])
        .any(|w| WORDS.iter().any(|t| w.eq_ignore_ascii_case(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dull_bodies() {
        assert!(dull_body(b"aaaaaaaaaaaaaaaa"));
        assert!(dull_body(b"0000000000000001"));
        assert!(dull_body(b"0123456789abcdefghijklmnopqrstuvwxyz"));
        assert!(dull_body(b"1234567890ABCDEF"));
        assert!(dull_body(b"abcabcabcabcabc"));
        assert!(dull_body(b"1234-1234-1234-1234"));
        assert!(dull_body(b"iiiiiiiiiiiAAAAAAAAAAWWWWWWWWWWWWWWWWWWWW"));
        assert!(!dull_body(b"q8Zr2LkPw4XmN7vB1cD9eF3gH5jK6lM0nO2p"));
        assert!(!dull_body(b"deadbeef"));
    }

    /// The definition `dull_trimmed` implements in one pass: every variant
    /// collected and judged on its own (the code before issue 11's
    /// throughput work).
    fn dull_reference(b: &[u8]) -> bool {
        fn dull(body: &[u8]) -> bool {
            let chars: Vec<u8> = body
                .iter()
                .copied()
                .filter(u8::is_ascii_alphanumeric)
                .collect();
            let n = chars.len();
            if n < 6 {
                return false;
            }
            let mut distinct: Vec<u8> = chars.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() <= 2 {
                return true;
            }
            let runs = 1 + chars.windows(2).filter(|w| w[0] != w[1]).count();
            if n >= 12 && runs <= 3 {
                return true;
            }
            let steps = chars.windows(2).filter(|w| successor(w[0], w[1])).count();
            if steps * 5 >= (n - 1) * 4 {
                return true;
            }
            (3..=8).any(|p| 2 * p < n && (p..n).all(|i| chars[i] == chars[i - p]))
        }
        (0..=6.min(b.len())).any(|k| dull(&b[k..]))
            || (1..=4.min(b.len())).any(|k| dull(&b[..b.len() - k]))
    }

    #[test]
    fn one_pass_dullness_agrees_with_the_definition() {
        // Random bodies over small and large alphabets, with separators,
        // sequences, runs and periods spliced in at random places: the
        // cases where the core's quick rejection could be wrong.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        let alphabets: [&[u8]; 4] = [
            b"ab",
            b"abc-",
            b"0123456789abcdef",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        ];
        let (mut dull_seen, mut total) = (0, 0);
        for _ in 0..20_000 {
            let alpha = alphabets[next(alphabets.len())];
            // Mostly token-sized; some past the one-pass path's capacity.
            let len = if next(10) == 0 { next(200) } else { next(48) };
            let mut b: Vec<u8> = (0..len).map(|_| alpha[next(alpha.len())]).collect();
            match next(4) {
                0 => {
                    let p = 3 + next(6);
                    for i in p..b.len() {
                        if next(8) != 0 {
                            b[i] = b[i - p];
                        }
                    }
                }
                1 => {
                    let start = next(10) as u8;
                    for (i, c) in b.iter_mut().enumerate() {
                        if next(6) != 0 {
                            *c = b'0' + (start + i as u8) % 10;
                        }
                    }
                }
                2 => {
                    let cut = next(len.max(1));
                    for c in b.iter_mut().skip(cut) {
                        *c = b'q';
                    }
                }
                _ => {}
            }
            let want = dull_reference(&b);
            assert_eq!(dull_trimmed(&b), want, "{:?}", String::from_utf8_lossy(&b));
            // And the body test around it (its in-place path for bodies of
            // letters and digits only).
            let longest = b
                .split(|c| !c.is_ascii_alphanumeric())
                .max_by_key(|s| s.len())
                .unwrap_or_default();
            let body_want = want || (longest.len() < b.len() && dull_reference(longest));
            assert_eq!(
                dull_body(&b),
                body_want,
                "{:?}",
                String::from_utf8_lossy(&b)
            );
            assert_eq!(dull_trimmed_slow(&b), want);
            dull_seen += usize::from(want);
            total += 1;
        }
        // Both answers occur, so the comparison means something.
        assert!(
            dull_seen > 1000 && total - dull_seen > 1000,
            "{dull_seen}/{total}"
        );
    }

    #[test]
    fn successor_tables_agree_with_successor() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let t = SUCC[usize::from(a)] == u16::from(b)
                    || (STEP_END[usize::from(a)] && STEP_START[usize::from(b)]);
                assert_eq!(t, successor(a, b), "{a} {b}");
            }
        }
    }

    #[test]
    fn doc_examples_are_recognised_by_digest() {
        // The digest table is keyed by length; a secret of that length and
        // another body is no example.
        assert!(!doc_example(&[b'k'; 32]));
        assert!(
            DOC_EXAMPLES
                .iter()
                .all(|(len, d)| *len > 0 && d.len() == 64)
        );
    }

    #[test]
    fn issue_11_four_x_in_a_long_random_body_is_no_placeholder() {
        // A key body of random base64 with `xxxx` somewhere: a secret.
        let mut body: Vec<u8> = (0..1600u32)
            .map(|i| b"Zq8rLk2Pw4Xm7vB1cD9eF3gH5jK6n0Op+/"[(i * 7 % 34) as usize])
            .collect();
        body[700..704].copy_from_slice(b"xXxx");
        assert!(!x_placeholder(&body, &body));
        // Its benign twin: a long run of x's in a long body is a placeholder.
        body[700..708].copy_from_slice(b"xxxxxxxx");
        assert!(x_placeholder(&body, &body));
    }

    #[test]
    fn issue_11_four_x_in_a_short_random_token_is_no_placeholder() {
        // Random token bodies with four x's in a mix of case, as the
        // dense benchmark's missed tokens had them.
        for t in [
            &b"ghp_Zq8rLk2Pw4XxxXXm7vB1cD9eF3gH5jK6n0Op"[..],
            b"hf_q8ZrxXxXLkPw4XmN7vB1cD9eF3gH5jK6lM",
            b"AIzaSyq8ZrLkPw4XmN7vB1cxxxXD9eF3gH5jK6l",
        ] {
            assert!(!x_placeholder(t, &t[4..]), "{}", String::from_utf8_lossy(t));
        }
        // Their placeholder twins: x's run to six or more, or make up most
        // of the body.
        assert!(x_placeholder(b"ghp_xxxxxxxx1234abcd", b"xxxxxxxx1234abcd"));
        let xs = b"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        assert!(x_placeholder(xs, &xs[4..]));
        assert!(x_placeholder(b"xoxb-xxxx-xxxx-xxxx", b"xxxx-xxxx-xxxx"));
        assert!(x_placeholder(b"sk-XXXX-XXXX-12", b"XXXX-XXXX-12"));
        // Five x's in a short random body: neither.
        assert!(!x_placeholder(b"ghp_xxxxx1234abcdQz9", b"xxxxx1234abcdQz9"));
    }

    /// The built-in global placeholder allowlist (`builtin_def`), which
    /// the engine skips for built-in rules because `is_placeholder` says
    /// yes wherever it would: checked on samples of each of its branches
    /// and on random strings over the characters its patterns use.
    #[test]
    fn the_global_placeholder_list_is_subsumed() {
        let def = crate::builtin::builtin_def();
        let lists: Vec<_> = def
            .allowlists
            .iter()
            .filter(|a| a.kind == crate::rule::AllowKind::Placeholder)
            .collect();
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].target, crate::rule::RegexTarget::Secret);
        assert!(lists[0].stopwords.is_empty() && lists[0].paths.is_empty());
        let res: Vec<regex::bytes::Regex> = lists[0]
            .regexes
            .iter()
            .map(|r| crate::rule::compile(r, crate::rule::Dialect::Builtin, "t").unwrap())
            .collect();
        let global = |s: &[u8]| res.iter().any(|r| r.is_match(s));
        let ours = |s: &[u8]| has_marker(s) || x_placeholder(s, s) || your_here(s);
        for s in [
            &b"xxxxxx"[..],
            b"XXXXXXXXXXXX",
            b"****",
            b"........",
            b"<token>",
            b"${GITHUB_TOKEN}",
            b"{{ secret }}",
            b"%(password)s",
            b"$(cat key)",
            b"abcEXAMPLEdef",
            b"my-placeholder",
            b"ChangeMe123",
            b"change_me",
            b"REDACTED",
            b"dummy-value",
            b"YOUR_API_KEY",
            b"yourapikey",
            b"yourApi-Token",
            b"your-secret",
            b"YOURPASSWORD",
            b"q8zyour1yourtoken",
        ] {
            assert!(global(s), "{}", String::from_utf8_lossy(s));
            assert!(ours(s), "{}", String::from_utf8_lossy(s));
        }
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        let alphabet = b"xX*.<>${}%()s_-aApiAPIkeyKEYtokenTOKENsecretpasswordyourYOUR0";
        let words: [&[u8]; 6] = [b"your", b"api", b"key", b"token", b"secret", b"password"];
        let mut matched = 0;
        for _ in 0..200_000 {
            let len = 1 + next(14);
            let mut s: Vec<u8> = Vec::new();
            while s.len() < len {
                if next(3) == 0 {
                    s.extend_from_slice(words[next(words.len())]);
                } else {
                    s.push(alphabet[next(alphabet.len())]);
                }
            }
            if global(&s) {
                matched += 1;
                assert!(ours(&s), "{}", String::from_utf8_lossy(&s));
            }
        }
        assert!(matched > 1000, "{matched}");
    }

    #[test]
    fn markers_any_case() {
        assert!(has_marker(b"ghp_EXAMPLEabcdef"));
        assert!(has_marker(b"token-${VAR}"));
        assert!(!has_marker(b"q8Zr2LkPw4XmN7vB"));
    }

    #[test]
    fn find_nocase_finds_the_first_occurrence_in_any_case() {
        assert_eq!(find_nocase(b"xxYoUr_key", b"your"), Some(2));
        assert_eq!(find_nocase(b"yoyouryour", b"your"), Some(2));
        assert_eq!(find_nocase(b"you", b"your"), None);
        assert_eq!(find_nocase(b"abcHERE", b"here"), Some(3));
        assert_eq!(find_nocase(b"", b"here"), None);
    }

    #[test]
    fn your_key_here() {
        assert!(your_here(b"YOUR_API_KEY_HERE"));
        assert!(your_here(b"your-token"));
        assert!(!your_here(b"q8Zr2LkPw4XmN7vB"));
    }

    #[test]
    fn test_data_paths() {
        assert!(test_data_path("vendor/ring/tests/aes_tests.txt"));
        assert!(test_data_path("crypto/cipher_test.go"));
        assert!(test_data_path("nist/KAT/gcmEncrypt128.rsp"));
        assert!(!test_data_path("src/latest/config.env"));
        assert!(!test_data_path("contest.py"));
    }
}
