//! DNS-exfiltration shape of host names.
//!
//! Resolving `<data>.attacker.example` leaks `<data>` to whoever runs that
//! zone even if the connection is then refused, so names are judged before
//! the proxy resolves them. Only the labels the agent chooses are judged:
//! those a wildcard rule covers (`a.b` of `a.b.example.com` under
//! `*.example.com`). A name an exact rule (or the hosts map) names carries
//! nothing the agent picked, and a name no rule allows is refused before
//! this check and never resolved.
//!
//! The checks aim at encoded data, one label at a time and with the labels
//! joined (hex split over labels, mixed encodings across labels): hex,
//! base32 and high-entropy runs, long chains of labels and several
//! data-like labels. Low-entropy encodings (dictionary words) pass the shape
//! checks, so each wildcard also has a budget of distinct names per proxy
//! ([`NameBudget`]): a handful of real subdomains fit, a stream of encoded
//! words does not. That bounds what the lookups can carry to the budget
//! times the name length.

use crate::reasons::rule;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Most labels a wildcard may cover (`a.b.c.d.example.com` under
/// `*.example.com`). Real names under a wildcard use one to three
/// (`s3.dualstack.us-east-1` is three).
const MAX_LABELS: usize = 4;

/// Shannon entropy of `s` in bits per byte (shared by the URL, label and
/// header shape checks).
pub(crate) fn entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

fn digits(s: &[u8]) -> usize {
    s.iter().filter(|b| b.is_ascii_digit()).count()
}

/// The shape of one string of name characters (a label, or labels joined
/// without dots and hyphens): hex from 16 characters (8 bytes), base32 from
/// `b32` characters (16 for one label, 20 joined: ordinary words joined
/// reach lengths single labels do not), high-entropy mixes of letters and
/// digits from 20.
fn shape(s: &[u8], b32: usize) -> Option<&'static str> {
    let len = s.len();
    if len < 16 {
        return None;
    }
    let d = digits(s);
    if s.iter().all(u8::is_ascii_hexdigit) && d > 0 {
        return Some(rule::HEX_LABEL);
    }
    if len >= b32 && d >= 1 && s.iter().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')) {
        return Some(rule::BASE32_LABEL);
    }
    // Encoded data mixes in digits evenly; names made of words rarely do.
    if len >= 20 && d >= 3.max(len / 8) && d < len && entropy(s) >= 3.6 {
        return Some(rule::HIGH_ENTROPY_LABEL);
    }
    None
}

/// Why the labels an agent chose (`covered`, lower case) look like
/// encoded data, or `None`.
pub fn check(covered: &[&str]) -> Option<&'static str> {
    if covered.is_empty() {
        return None;
    }
    if covered.len() > MAX_LABELS {
        return Some(rule::CHUNKED_LABELS);
    }
    let mut data_like = 0;
    for l in covered {
        // An IDNA prefix (`xn--`) says nothing about what follows it: the
        // rest is judged as if it stood alone (a real internationalised
        // label is a short word once the prefix is gone).
        let rest = l.strip_prefix("xn--").unwrap_or(l);
        // Hyphen-separated parts are judged whole too (`dead-beef-…`).
        let flat: Vec<u8> = rest.bytes().filter(|&b| b != b'-').collect();
        if let Some(r) = shape(l.as_bytes(), 16)
            .or_else(|| shape(rest.as_bytes(), 16))
            .or_else(|| shape(&flat, 16))
        {
            return Some(r);
        }
        if l.len() >= 12 && !l.contains('-') && digits(l.as_bytes()) > 0 {
            data_like += 1;
        }
    }
    if data_like >= 2 && covered.len() >= 2 {
        return Some(rule::CHUNKED_LABELS);
    }
    if covered.len() > 1 {
        let joined: Vec<u8> = covered
            .iter()
            .flat_map(|l| l.bytes())
            .filter(|&b| b != b'-')
            .collect();
        if let Some(r) = shape(&joined, 20) {
            return Some(r);
        }
    }
    None
}

/// Distinct names seen under each wildcard, bounded: a lookup of a new
/// name is what carries data to the zone's nameserver.
pub struct NameBudget {
    max: usize,
    seen: Mutex<HashMap<String, HashSet<String>>>,
}

impl NameBudget {
    /// At most `max` distinct names per wildcard base.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Record `name` under wildcard `base`; `false` when it is new and the
    /// base's budget is spent.
    pub fn admit(&self, base: &str, name: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let names = seen.entry(base.to_string()).or_default();
        if names.contains(name) {
            return true;
        }
        if names.len() >= self.max {
            return false;
        }
        names.insert(name.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<&str> {
        s.split('.').collect()
    }

    #[test]
    fn ordinary_subdomains_pass() {
        for covered in [
            "api",
            "raw",
            "objects",
            "o450123.ingest",
            "registry-1",
            "static",
            "production.cloudflare",
            "s3.dualstack.us-east-1",
            "production-api-gateway-eu-west-1",
            "d111111abcdef8",
            "my-bucket-name-2024",
            "fonts",
            "codeload",
            "pkg-containers",
            "e12345.a",
            "www",
            "release-assets",
            "us-east-1.console",
            "internationalization",
            // Internationalised names (IDNA): münchen, bücher, испытание,
            // vermögensberatung.
            "xn--mnchen-3ya",
            "xn--bcher-kva",
            "xn--80akhbyknj4f",
            "xn--vermgensberatung-pwb",
        ] {
            assert_eq!(check(&labels(covered)), None, "{covered}");
        }
    }

    #[test]
    fn encoded_labels_are_caught() {
        let cases = [
            ("6768705f61626364656667686970", rule::HEX_LABEL),
            ("mfrggzdfmztwq2lknnwg23tpobyxe43u", rule::BASE32_LABEL),
            // Base32 at 16 characters, either case (names are lower-cased).
            ("mfrggzdfmztwq2lk", rule::BASE32_LABEL),
            ("q9zk3xv7m2pl8wn4bt6yr1sd", rule::HIGH_ENTROPY_LABEL),
            // Hex chunks spread over labels and hyphens.
            ("deadbeef.cafebabe.12345678", rule::HEX_LABEL),
            ("dead-beef-cafe-babe-1234-5678", rule::HEX_LABEL),
            // Mixed encodings across labels: joined, the data shows.
            ("a1b2c3d4e5.mfrgg2d.x9k3", rule::HIGH_ENTROPY_LABEL),
            ("aq9zk3xvm2pl.wn4bt6yr1sdk", rule::CHUNKED_LABELS),
            // A long chain of short labels.
            ("a.b.c.d.e", rule::CHUNKED_LABELS),
            ("ab.cd.ef.gh.ij.kl", rule::CHUNKED_LABELS),
            // An IDNA prefix in front of encoded data hides nothing.
            ("xn--6578616d706c652d6461746131323334", rule::HEX_LABEL),
        ];
        for (covered, want) in cases {
            assert_eq!(check(&labels(covered)), Some(want), "{covered}");
        }
    }

    #[test]
    fn the_name_budget_bounds_low_entropy_encodings() {
        let b = NameBudget::new(3);
        for w in ["apple", "banana", "cherry"] {
            assert!(b.admit("example.com", &format!("{w}.example.com")));
        }
        // Repeats are free; a fourth new name under the same base is not.
        assert!(b.admit("example.com", "apple.example.com"));
        assert!(!b.admit("example.com", "damson.example.com"));
        assert!(b.admit("other.com", "damson.other.com"));
    }
}
