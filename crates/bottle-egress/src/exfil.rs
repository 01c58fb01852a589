//! DNS-exfiltration shape of host names.
//!
//! Resolving `<data>.attacker.example` leaks `<data>` to whoever runs that
//! zone even if the connection is then refused, so names under a wildcard
//! rule are judged by shape before the proxy resolves them. The heuristics
//! look only at labels below the registrable domain and aim at encoded data
//! (hex, base32, base64-ish runs, or data chunked over several labels), with
//! thresholds above what CDN and cloud host names use (a CloudFront id is 14
//! characters, an S3 bucket name is words).

use crate::reasons::rule;

/// Second-level labels that form a public suffix under a two-letter country
/// code (`example.co.uk`). Without a public-suffix list this covers the
/// common registries; a miss only makes one more label count as "below".
const CC_SECOND_LEVEL: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "gob", "nic", "ltd", "plc",
];

/// The labels of `host` below its registrable domain (`a.b` for
/// `a.b.example.co.uk`).
pub fn labels_below_registrable(host: &str) -> Vec<&str> {
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    if n <= 2 {
        return Vec::new();
    }
    let tld = labels[n - 1];
    let sld = labels[n - 2];
    let keep = if tld.len() == 2 && CC_SECOND_LEVEL.contains(&sld) {
        3
    } else {
        2
    };
    if n <= keep {
        return Vec::new();
    }
    labels[..n - keep].to_vec()
}

/// The registrable domain of `host` (`example.co.uk`).
pub fn registrable(host: &str) -> &str {
    let below: usize = labels_below_registrable(host)
        .iter()
        .map(|l| l.len() + 1)
        .sum();
    &host[below.min(host.len())..]
}

fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
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

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

fn has_alpha(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Why `host` (lower-case name) looks like DNS exfiltration, or `None`.
pub fn check(host: &str) -> Option<&'static str> {
    let below = labels_below_registrable(host);
    let mut data_like = 0;
    for l in &below {
        let len = l.len();
        if len >= 20 && l.bytes().all(|b| b.is_ascii_hexdigit()) && has_digit(l) && has_alpha(l) {
            return Some(rule::HEX_LABEL);
        }
        if len >= 24
            && l.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
            && l.bytes().filter(u8::is_ascii_digit).count() >= 2
        {
            return Some(rule::BASE32_LABEL);
        }
        // Encoded data mixes in digits evenly; names made of words rarely do.
        let digits = l.bytes().filter(u8::is_ascii_digit).count();
        if len >= 24 && has_alpha(l) && digits >= 3.max(len / 8) && entropy(l) >= 3.8 {
            return Some(rule::HIGH_ENTROPY_LABEL);
        }
        if len >= 12 && !l.contains('-') && has_digit(l) && has_alpha(l) {
            data_like += 1;
        }
    }
    if data_like >= 3 {
        return Some(rule::CHUNKED_LABELS);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("a.b.example.com"), "example.com");
        assert_eq!(registrable("a.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(labels_below_registrable("x.y.example.com"), vec!["x", "y"]);
    }

    #[test]
    fn ordinary_hosts_pass() {
        for h in [
            "api.github.com",
            "raw.githubusercontent.com",
            "objects.githubusercontent.com",
            "d111111abcdef8.cloudfront.net",
            "my-bucket-name-2024.s3.us-east-1.amazonaws.com",
            "o450123.ingest.sentry.io",
            "registry-1.docker.io",
            "static.crates.io",
            "storage.googleapis.com",
            "production-api-gateway-eu-west-1.example.com",
        ] {
            assert_eq!(check(h), None, "{h}");
        }
    }

    #[test]
    fn encoded_labels_are_caught() {
        assert_eq!(
            check("6768705f61626364656667686970.x.example.com"),
            Some(rule::HEX_LABEL)
        );
        assert_eq!(
            check("mfrggzdfmztwq2lknnwg23tpobyxe43u.example.com"),
            Some(rule::BASE32_LABEL)
        );
        assert_eq!(
            check("q9zk3xv7m2pl8wn4bt6yr1sd.example.com"),
            Some(rule::HIGH_ENTROPY_LABEL)
        );
        assert_eq!(
            check("aq9zk3xvm2pl.wn4bt6yr1sdk.c7hj2mzqp0xe.example.com"),
            Some(rule::CHUNKED_LABELS)
        );
    }
}
