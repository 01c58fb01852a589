//! The address check applied after resolution (and to IP literals).
//!
//! Every address an upstream connection would go to is classified here;
//! anything but ordinary public unicast is refused unless an allowlisted CIDR
//! covers it. IPv6 forms that embed an IPv4 address (mapped, compatible,
//! SIIT, NAT64, 6to4) are judged by the embedded address, so `::ffff:127.0.0.1`
//! is loopback like `127.0.0.1`.

use crate::reasons::rule;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range such as `10.1.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `addr/prefix` (a bare address means a single host).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?}: {a:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("{s:?}: prefix must be a number from 0 to {max}")),
            },
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// The IPv4 address an IPv6 address stands for, if it embeds one in a way
/// that routes to that IPv4 host (mapped, compatible, SIIT, NAT64, 6to4).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let s = ip.segments();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (SIIT)
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff
        || s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0
    {
        return Some(tail);
    }
    // ::a.b.c.d (deprecated compatible), but not :: and ::1 themselves
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail);
    }
    // 64:ff9b::/96 (well-known NAT64 prefix)
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    // 2002:AABB:CCDD::/48 (6to4)
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Why `ip` is not an ordinary public address, or `None` when it is.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let in_net = |net: [u8; 4], prefix: u8| prefix_eq(&net, &o, prefix);
    // Metadata first so the more specific rule is the one reported.
    const METADATA: [[u8; 4]; 4] = [
        [169, 254, 169, 254], // AWS, GCP, Azure, OpenStack, ...
        [169, 254, 170, 2],   // AWS ECS task metadata
        [168, 63, 129, 16],   // Azure wire server (a public address)
        [100, 100, 100, 200], // Alibaba Cloud
    ];
    if METADATA.contains(&o) {
        return Some(rule::METADATA);
    }
    if in_net([0, 0, 0, 0], 8) {
        return Some(rule::UNSPECIFIED);
    }
    if in_net([127, 0, 0, 0], 8) {
        return Some(rule::LOOPBACK);
    }
    if in_net([10, 0, 0, 0], 8) || in_net([172, 16, 0, 0], 12) || in_net([192, 168, 0, 0], 16) {
        return Some(rule::PRIVATE);
    }
    if in_net([169, 254, 0, 0], 16) {
        return Some(rule::LINK_LOCAL);
    }
    if in_net([100, 64, 0, 0], 10) {
        return Some(rule::CGNAT);
    }
    if in_net([224, 0, 0, 0], 4) {
        return Some(rule::MULTICAST);
    }
    let reserved: [([u8; 4], u8); 8] = [
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([198, 18, 0, 0], 15),   // benchmarking
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([240, 0, 0, 0], 4),     // reserved, broadcast
        ([255, 255, 255, 255], 32),
    ];
    if reserved.iter().any(|(n, p)| in_net(*n, *p)) {
        return Some(rule::RESERVED);
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(rule::METADATA);
    }
    if ip.is_unspecified() {
        return Some(rule::UNSPECIFIED);
    }
    if ip.is_loopback() {
        return Some(rule::LOOPBACK);
    }
    if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 || s[..3] == [0x64, 0xff9b, 1] {
        // unique-local, deprecated site-local, local-use NAT64
        return Some(rule::PRIVATE);
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some(rule::LINK_LOCAL);
    }
    if s[0] & 0xff00 == 0xff00 {
        return Some(rule::MULTICAST);
    }
    // Teredo (2001::/32) hides its client address; documentation
    // (2001:db8::/32); discard-only (100::/64); anything else in ::/8.
    if s[..2] == [0x2001, 0]
        || s[..2] == [0x2001, 0xdb8]
        || s[..4] == [0x100, 0, 0, 0]
        || s[0] < 0x100
    {
        return Some(rule::RESERVED);
    }
    None
}

/// The SSRF decision for one address: `Err(rule)` when refused.
pub fn check(ip: IpAddr, allowed: &[Cidr], allow_loopback: bool) -> Result<(), &'static str> {
    let Some(why) = classify(ip) else {
        return Ok(());
    };
    if why == rule::LOOPBACK && allow_loopback {
        return Ok(());
    }
    let as_v4 = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    if allowed
        .iter()
        .any(|c| c.contains(ip) || as_v4.is_some_and(|v4| c.contains(v4)))
    {
        return Ok(());
    }
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<&'static str> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classifies_v4() {
        assert_eq!(c("8.8.8.8"), None);
        assert_eq!(c("127.0.0.1"), Some(rule::LOOPBACK));
        assert_eq!(c("127.255.0.9"), Some(rule::LOOPBACK));
        assert_eq!(c("10.1.2.3"), Some(rule::PRIVATE));
        assert_eq!(c("172.31.0.1"), Some(rule::PRIVATE));
        assert_eq!(c("172.32.0.1"), None);
        assert_eq!(c("192.168.1.1"), Some(rule::PRIVATE));
        assert_eq!(c("169.254.169.254"), Some(rule::METADATA));
        assert_eq!(c("169.254.1.1"), Some(rule::LINK_LOCAL));
        assert_eq!(c("100.64.0.1"), Some(rule::CGNAT));
        assert_eq!(c("100.100.100.200"), Some(rule::METADATA));
        assert_eq!(c("168.63.129.16"), Some(rule::METADATA));
        assert_eq!(c("224.0.0.1"), Some(rule::MULTICAST));
        assert_eq!(c("0.0.0.0"), Some(rule::UNSPECIFIED));
        assert_eq!(c("255.255.255.255"), Some(rule::RESERVED));
        assert_eq!(c("198.18.0.1"), Some(rule::RESERVED));
    }

    #[test]
    fn classifies_v6_and_embedded_v4() {
        assert_eq!(c("2606:4700::1111"), None);
        assert_eq!(c("::1"), Some(rule::LOOPBACK));
        assert_eq!(c("::"), Some(rule::UNSPECIFIED));
        assert_eq!(c("::ffff:127.0.0.1"), Some(rule::LOOPBACK));
        assert_eq!(c("::ffff:7f00:1"), Some(rule::LOOPBACK));
        assert_eq!(c("::127.0.0.1"), Some(rule::LOOPBACK));
        assert_eq!(c("::ffff:0:10.0.0.1"), Some(rule::PRIVATE));
        assert_eq!(c("64:ff9b::a9fe:a9fe"), Some(rule::METADATA));
        assert_eq!(c("2002:a9fe:a9fe::1"), Some(rule::METADATA));
        assert_eq!(c("::ffff:8.8.8.8"), None);
        assert_eq!(c("fd00:ec2::254"), Some(rule::METADATA));
        assert_eq!(c("fd12::1"), Some(rule::PRIVATE));
        assert_eq!(c("fe80::1"), Some(rule::LINK_LOCAL));
        assert_eq!(c("ff02::1"), Some(rule::MULTICAST));
        assert_eq!(c("2001::1"), Some(rule::RESERVED));
        assert_eq!(c("2001:db8::1"), Some(rule::RESERVED));
    }

    #[test]
    fn cidr_exceptions_and_loopback_switch() {
        let allowed = [Cidr::parse("10.1.0.0/16").unwrap()];
        assert_eq!(check("10.1.2.3".parse().unwrap(), &allowed, false), Ok(()));
        assert_eq!(
            check("::ffff:10.1.2.3".parse().unwrap(), &allowed, false),
            Ok(())
        );
        assert_eq!(
            check("10.2.0.1".parse().unwrap(), &allowed, false),
            Err(rule::PRIVATE)
        );
        assert_eq!(
            check("127.0.0.1".parse().unwrap(), &[], false),
            Err(rule::LOOPBACK)
        );
        assert_eq!(check("127.0.0.1".parse().unwrap(), &[], true), Ok(()));
        assert_eq!(
            check("10.0.0.1".parse().unwrap(), &[], true),
            Err(rule::PRIVATE)
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0/+8").is_err());
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fdff::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("1.2.3.4")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            !Cidr::parse("1.2.3.4")
                .unwrap()
                .contains("1.2.3.5".parse().unwrap())
        );
    }
}
