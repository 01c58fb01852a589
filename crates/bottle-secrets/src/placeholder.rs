//! The code profile's notion of "not a secret, an example": placeholders,
//! documentation example keys and crypto test vectors. The egress profile
//! never asks (the agent writes every byte it sends, placeholders included).
//!
//! Everything here looks at the secret alone (and the path for test
//! vectors), in time linear in the secret's length.

use crate::rule::Rule;
use sha2::Digest;

/// Words that mark a value as a placeholder wherever they occur in it
/// (ASCII case-insensitive).
const MARKERS: &[&[u8]] = &[
    b"xxxx",
    b"example",
    b"placeholder",
    b"changeme",
    b"change_me",
    b"change-me",
    b"redacted",
    b"dummy",
    b"sample",
    b"****",
    b"....",
    b"<",
    b"${",
    b"{{",
    b"%(",
    b"$(",
];

/// SHA-256 of vendors' published documentation example keys (kept as
/// digests so no token-shaped literal sits in the repository). Those that
/// contain `EXAMPLE` (AWS's key pair) are caught by [`MARKERS`] already.
const DOC_EXAMPLES: &[&str] = &[
    // Stripe's documentation secret test key (the publishable one is no rule's).
    "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",
];

/// Whether `secret`, found by built-in `rule` in a file at `path`, is a
/// placeholder, a documentation example or a test vector.
pub(crate) fn is_placeholder(secret: &[u8], rule: &Rule, path: Option<&str>) -> bool {
    has_marker(secret)
        || your_here(secret)
        || dull_body(strip_prefix(secret, &rule.keywords))
        || doc_example(secret)
        || test_vector(secret, path)
}

fn has_marker(secret: &[u8]) -> bool {
    let lower = secret.to_ascii_lowercase();
    MARKERS
        .iter()
        .any(|m| memchr::memmem::find(&lower, m).is_some())
}

/// `YOUR_API_KEY_HERE`, `your-token-here`, `<your key>`.
fn your_here(secret: &[u8]) -> bool {
    let lower = secret.to_ascii_lowercase();
    match memchr::memmem::find(&lower, b"your") {
        Some(i) => {
            let rest = &lower[i + 4..];
            rest.first()
                .is_some_and(|b| matches!(b, b'_' | b'-' | b' '))
                || memchr::memmem::find(rest, b"here").is_some()
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
    let longest = body
        .split(|b| !b.is_ascii_alphanumeric())
        .max_by_key(|s| s.len())
        .unwrap_or_default();
    // Also without a few characters at either end: a vendor prefix the
    // rule's keywords do not spell (`AKIA` for the generic rule, `0x`,
    // `APA91b`) or a fixed suffix (`NRAL`).
    [body, longest].iter().any(|b| {
        (0..=6.min(b.len())).any(|k| dull(&b[k..]))
            || (1..=4.min(b.len())).any(|k| dull(&b[..b.len() - k]))
    })
}

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
    let mut seen = [false; 128];
    let mut distinct = 0;
    for &c in &chars {
        if !seen[c as usize] {
            seen[c as usize] = true;
            distinct += 1;
        }
    }
    if distinct <= 2 {
        return true;
    }
    // A few runs of one character each (`iiiiAAAAWWWW…`).
    let runs = 1 + chars.windows(2).filter(|w| w[0] != w[1]).count();
    if n >= 12 && runs <= 3 {
        return true;
    }
    let steps = chars.windows(2).filter(|w| successor(w[0], w[1])).count();
    if steps * 5 >= (n - 1) * 4 {
        return true;
    }
    // Periodic with a short period: the first p characters repeated.
    (3..=8).any(|p| 2 * p < n && (p..n).all(|i| chars[i] == chars[i - p]))
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
    if DOC_EXAMPLES.is_empty() || secret.len() > 256 {
        return false;
    }
    let digest = hex::encode(sha2::Sha256::digest(secret));
    DOC_EXAMPLES.contains(&digest.as_str())
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
