//! Parsing and normalising request targets.
//!
//! Host strings are read the way a browser's URL parser (WHATWG) and
//! `inet_aton` read them, so every notation of an address lands on one
//! canonical form before any check: `0x7f000001`, `2130706433`, `0177.1`,
//! `127.1` and `[::ffff:127.0.0.1]` are all IP literals here, never names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A request's host after normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name: lower-case, no trailing dot, validated.
    Name(String),
    /// An IP literal, in whatever notation it was written.
    Ip(IpAddr),
}

impl Host {
    /// Parse a host as it appears in a URL or CONNECT authority (IPv6 in
    /// brackets). `None` for anything that is neither a valid name nor an
    /// address, including names whose last label is numeric but that do not
    /// parse as IPv4 (`1.2.3.4.5`), which resolvers and browsers disagree on.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(inner) = raw.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            // Zone ids (`fe80::1%25eth0`) make no sense for an upstream.
            return inner
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| Self::Ip(IpAddr::V6(ip)));
        }
        if raw.contains(':') {
            // Bare IPv6 (only legal in CONNECT authorities some clients send).
            return raw
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| Self::Ip(IpAddr::V6(ip)));
        }
        let lower = raw.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() {
            return None;
        }
        let last = name.rsplit('.').next().unwrap_or(name);
        if ends_in_number(last) {
            return parse_ipv4_loose(name).map(|ip| Self::Ip(IpAddr::V4(ip)));
        }
        bottle_policy::host::validate_name(name).ok()?;
        Some(Self::Name(name.to_string()))
    }

    /// The canonical string: the name, or the address in standard notation
    /// (IPv6 without brackets). This is what the allowlist is matched against.
    pub fn canonical(&self) -> String {
        match self {
            Self::Name(n) => n.clone(),
            Self::Ip(ip) => ip.to_string(),
        }
    }

    /// The name, if this is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Name(n) => Some(n),
            Self::Ip(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

fn ends_in_number(label: &str) -> bool {
    !label.is_empty()
        && (label.bytes().all(|b| b.is_ascii_digit())
            || (label.starts_with("0x") && label[2..].bytes().all(|b| b.is_ascii_hexdigit())))
}

/// Parse IPv4 in every notation `inet_aton` accepts: 1 to 4 parts, each
/// decimal, octal (leading `0`) or hex (`0x`), the last part filling the
/// remaining bytes (`127.1`, `10.0x10203`, `2130706433`).
pub fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        nums.push(parse_part(p)?);
    }
    let (last, init) = nums.split_last()?;
    let mut value: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        if *n > 255 {
            return None;
        }
        value |= n << (8 * (3 - i));
    }
    let room = 8 * (4 - init.len() as u32);
    if room < 64 && *last >= (1u64 << room) {
        return None;
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_part(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        if h.is_empty() {
            return Some(0);
        }
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    // from_str_radix would also take a sign (`+1`): digits only.
    if digits.len() > 12 || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Split `host:port` (IPv6 in brackets) into host and port.
pub fn split_authority(auth: &str) -> Option<(&str, Option<u16>)> {
    if auth.starts_with('[') {
        let end = auth.find(']')?;
        let host = &auth[..=end];
        let rest = &auth[end + 1..];
        if rest.is_empty() {
            return Some((host, None));
        }
        let port = rest.strip_prefix(':')?;
        return Some((host, Some(bottle_policy::host::parse_port(port).ok()?)));
    }
    match auth.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            Some((h, Some(bottle_policy::host::parse_port(p).ok()?)))
        }
        Some(_) => Some((auth, None)),
        None => Some((auth, None)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ip(s: &str) -> Option<String> {
        match Host::parse(s)? {
            Host::Ip(ip) => Some(ip.to_string()),
            Host::Name(_) => None,
        }
    }

    #[test]
    fn every_loopback_notation_is_an_ip() {
        for s in [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "0177.0.0.1",
            "0177.1",
            "0x7f.1",
            "0x7f.0.0.0x1",
            "127.0.0.1.",
        ] {
            assert_eq!(ip(s).as_deref(), Some("127.0.0.1"), "{s}");
        }
        assert_eq!(ip("[::1]").as_deref(), Some("::1"));
        assert_eq!(
            ip("[::ffff:127.0.0.1]").as_deref(),
            Some("::ffff:127.0.0.1")
        );
        assert_eq!(
            ip("[0:0:0:0:0:ffff:7f00:1]").as_deref(),
            Some("::ffff:127.0.0.1")
        );
        assert_eq!(ip("169.254.43518").as_deref(), Some("169.254.169.254"));
        assert_eq!(ip("0xa9fea9fe").as_deref(), Some("169.254.169.254"));
        assert_eq!(ip("0").as_deref(), Some("0.0.0.0"));
    }

    #[test]
    fn rejects_ambiguous_and_bad_hosts() {
        for s in [
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.0400",
            "4294967296",
            "a b",
            "",
            ".",
            "[::1",
            "[fe80::1%25eth0]",
            "09.1.1.1",
            "+1.0xd0",
            "1.+2",
        ] {
            assert_eq!(Host::parse(s), None, "{s}");
        }
    }

    #[test]
    fn names_are_lowercased() {
        assert_eq!(
            Host::parse("API.GitHub.com."),
            Some(Host::Name("api.github.com".into()))
        );
        assert_eq!(
            Host::parse("1.2.3.4.nip.io"),
            Some(Host::Name("1.2.3.4.nip.io".into()))
        );
        // Not a number in any notation, so a name (resolved, then checked).
        assert_eq!(Host::parse("0x1g"), Some(Host::Name("0x1g".into())));
    }

    #[test]
    fn authorities() {
        assert_eq!(split_authority("a.com:443"), Some(("a.com", Some(443))));
        assert_eq!(split_authority("a.com"), Some(("a.com", None)));
        assert_eq!(split_authority("[::1]:8080"), Some(("[::1]", Some(8080))));
        assert_eq!(split_authority("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_authority("a.com:0"), None);
        assert_eq!(split_authority("a.com:x"), None);
    }

    /// A small deterministic generator (xorshift64*): the same cases on
    /// every run, so a failure reproduces; the seed is in the message.
    pub(crate) struct Gen(u64);

    impl Gen {
        pub(crate) fn new(seed: u64) -> Self {
            Self(seed.max(1))
        }
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len() as u64) as usize]
        }
    }

    /// One part of an IPv4 literal in some notation.
    fn ipv4_part(g: &mut Gen) -> String {
        let n = match g.below(4) {
            0 => g.below(256),
            1 => g.below(1 << 16),
            2 => g.below(1 << 32),
            _ => g.next() >> g.below(64),
        };
        match g.below(6) {
            0 | 1 => n.to_string(),
            2 => format!("0{n:o}"),
            3 => format!("0x{n:x}"),
            4 => format!("0X{n:X}"),
            _ => (*g.pick(&["", "0x", "00", "08", "0x1g", "-1", "+1"])).to_string(),
        }
    }

    fn label(g: &mut Gen) -> String {
        const CHARS: &[u8] = b"abcxyzAZ0189-_";
        let len = 1 + g.below(8);
        (0..len).map(|_| *g.pick(CHARS) as char).collect::<String>()
    }

    /// A host as an agent might write it: IPv4 in any notation, IPv6,
    /// names, names ending in numbers, odd characters.
    fn host(g: &mut Gen) -> String {
        let mut h = match g.below(5) {
            0 | 1 => {
                let parts = 1 + g.below(5);
                (0..parts)
                    .map(|_| ipv4_part(g))
                    .collect::<Vec<_>>()
                    .join(".")
            }
            2 => {
                let a = Ipv6Addr::from(((g.next() as u128) << 64) | g.next() as u128);
                let text = match g.below(3) {
                    0 => a.to_string(),
                    1 => Ipv4Addr::from(g.next() as u32).to_ipv6_mapped().to_string(),
                    _ => a.segments().map(|s| format!("{s:X}")).join(":"),
                };
                format!("[{text}]")
            }
            3 => {
                let n = 1 + g.below(4);
                let mut labels: Vec<String> = (0..n).map(|_| label(g)).collect();
                if g.below(2) == 0 {
                    labels.push(ipv4_part(g));
                }
                labels.join(".")
            }
            _ => {
                let mut t = label(g);
                t.push(*g.pick(&['.', '!', '*', '~', ' ', '\u{e9}']));
                t.push_str(&ipv4_part(g));
                t
            }
        };
        if g.below(8) == 0 {
            h.push('.');
        }
        h
    }

    /// Property: our host parser never reads a host differently from the
    /// WHATWG URL parser (the `url` crate, what browsers and many HTTP
    /// clients use). An address is the same address; a name is the same
    /// name; where ours refuses, it fails closed. And every IPv4 or IPv6
    /// literal the URL parser reads, ours reads too.
    #[test]
    fn the_host_parser_agrees_with_the_url_crate() {
        let seed = 0x5eed_0001;
        let mut g = Gen::new(seed);
        let mut seen = [0usize; 4];
        for case in 0..20_000 {
            let h = host(&mut g);
            let ours = Host::parse(&h);
            let theirs = url::Url::parse(&format!("http://{h}/"))
                .ok()
                .and_then(|u| u.host().map(|h| h.to_owned()));
            let why =
                || format!("case {case} (seed {seed:#x}): {h:?}: ours {ours:?}, url {theirs:?}");
            match (&ours, &theirs) {
                (Some(Host::Ip(a)), Some(url::Host::Ipv4(b))) => {
                    assert_eq!(*a, IpAddr::V4(*b), "{}", why());
                    seen[0] += 1;
                }
                (Some(Host::Ip(a)), Some(url::Host::Ipv6(b))) => {
                    assert_eq!(*a, IpAddr::V6(*b), "{}", why());
                    seen[1] += 1;
                }
                (Some(Host::Name(n)), Some(url::Host::Domain(d))) => {
                    assert_eq!(n, d.strip_suffix('.').unwrap_or(d), "{}", why());
                    seen[2] += 1;
                }
                (None, Some(url::Host::Domain(_)) | None) => seen[3] += 1,
                _ => panic!("{}", why()),
            }
        }
        // The generator reaches every outcome.
        assert!(seen.iter().all(|n| *n > 500), "{seen:?}");
    }
}
