//! Which network address a request came from, behind trusted reverse proxies
//! (`--trusted-proxy`).
//!
//! The per-address sign-in limits key on the client's address. Without a trusted proxy that is
//! the TCP peer, always. When the TCP peer is one of the trusted proxies (an address or a CIDR
//! block given to `purser serve --trusted-proxy`), the client is read from `X-Forwarded-For`,
//! the way RFC 7239 §7.5 describes for `Forwarded: for=`: each proxy appends the address it
//! received the request from, so the list is walked from the right, skipping addresses that
//! are themselves trusted proxies, and the first one that is not is the client. Entries to the
//! left of it were written by the client (or by proxies Purser does not trust) and are never
//! looked at, so a client cannot choose its own address by sending the header itself.
//!
//! Fail closed: a header from a peer that is not trusted is ignored; a malformed entry met on
//! the walk (not an IP address, `unknown`, an obfuscated identifier), an empty header, or more
//! than [`MAX_HOPS`] entries walked without finding the client all mean the TCP peer is used,
//! so the worst a broken header does is share the proxy's bucket. If every entry is a trusted
//! proxy, the left-most one is the client (a request that came from inside the proxy tier).
//! No proxy is trusted by default.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// The most `X-Forwarded-For` entries looked at from the right: a chain of proxies longer than
/// this is not a deployment anyone runs, and walking an attacker's thousand entries costs time
/// on every request.
pub const MAX_HOPS: usize = 16;

/// One `--trusted-proxy`: an address (`10.0.0.5`, `::1`) or a CIDR block (`10.0.0.0/8`,
/// `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    net: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `ip` is in this block (IPv4-mapped IPv6 addresses count as their IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    match u32::from(prefix) {
        0 => 0,
        p => u32::MAX.checked_shl(32_u32.saturating_sub(p)).unwrap_or(0),
    }
}

fn mask128(prefix: u8) -> u128 {
    match u32::from(prefix) {
        0 => 0,
        p => u128::MAX
            .checked_shl(128_u32.saturating_sub(p))
            .unwrap_or(0),
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<TrustedProxy, String> {
        let bad = || {
            format!(
                "--trusted-proxy {s:?} is not an IP address or CIDR block; write it like 10.0.0.5, 10.0.0.0/8, ::1 or fd00::/8"
            )
        };
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
        };
        Ok(TrustedProxy { net, prefix })
    }
}

impl std::fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<TrustedProxy>);

impl TrustedProxies {
    pub fn new(proxies: Vec<TrustedProxy>) -> TrustedProxies {
        TrustedProxies(proxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|p| p.contains(ip))
    }

    /// The client's address for a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        self.forwarded_client(headers).unwrap_or(peer)
    }

    /// The right-most `X-Forwarded-For` entry that is not a trusted proxy; `None` when the
    /// header is missing or malformed where it matters.
    fn forwarded_client(&self, headers: &HeaderMap) -> Option<IpAddr> {
        // Several header lines are one list, in order (RFC 9110 §5.3).
        let mut lines = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            lines.push(v.to_str().ok()?);
        }
        let mut last_trusted = None;
        let entries = lines.iter().rev().flat_map(|l| l.rsplit(','));
        for entry in entries.take(MAX_HOPS) {
            let ip = parse_entry(entry)?;
            if !self.trusts(ip) {
                return Some(ip);
            }
            last_trusted = Some(ip);
        }
        // Every entry was a trusted proxy, or there were too many to walk.
        let total: usize = lines.iter().map(|l| l.split(',').count()).sum();
        if total <= MAX_HOPS {
            last_trusted
        } else {
            None
        }
    }
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One `X-Forwarded-For` entry: an IP address, optionally with a port (`203.0.113.7:4711`,
/// `[2001:db8::1]:4711`) or in brackets.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = e.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']')?;
        let port_ok = tail.is_empty()
            || tail
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok());
        return port_ok
            .then(|| ip.parse::<std::net::Ipv6Addr>().ok())
            .flatten()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    let (ip, port) = e.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().expect("proxy")).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn xff(lines: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(
                "x-forwarded-for",
                HeaderValue::from_bytes(l).expect("header value"),
            );
        }
        h
    }

    #[test]
    fn proxies_are_addresses_or_cidr_blocks() {
        let p: TrustedProxy = "10.0.0.0/8".parse().expect("cidr");
        assert!(p.contains(ip("10.200.3.4")));
        assert!(!p.contains(ip("11.0.0.1")));
        assert!(p.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped IPv6");
        assert!(!p.contains(ip("::1")));
        let one: TrustedProxy = "127.0.0.1".parse().expect("address");
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let v6: TrustedProxy = "fd00::/8".parse().expect("v6");
        assert!(v6.contains(ip("fd12:3456::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let all: TrustedProxy = "0.0.0.0/0".parse().expect("all");
        assert!(all.contains(ip("198.51.100.1")));
        assert!("::ffff:192.0.2.1".parse::<TrustedProxy>().is_ok());
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0/8",
            "::1/129",
            "localhost",
            "10.0.0.1/8/8",
        ] {
            let e = bad.parse::<TrustedProxy>().err().unwrap_or_default();
            assert!(e.contains("--trusted-proxy"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_client_is_the_right_most_address_that_is_not_a_trusted_proxy() {
        let t = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        let h = xff(&[b"198.51.100.9, 203.0.113.7, 10.1.1.1"]);
        assert_eq!(t.client(peer, &h), ip("203.0.113.7"));
        // Several header lines are one list.
        let h = xff(&[b"198.51.100.9", b"203.0.113.7:4711", b"10.1.1.1"]);
        assert_eq!(t.client(peer, &h), ip("203.0.113.7"));
        // Ports and brackets.
        let h = xff(&[b"[2001:db8::7]:443"]);
        assert_eq!(t.client(peer, &h), ip("2001:db8::7"));
        let h = xff(&[b"[2001:db8::8]"]);
        assert_eq!(t.client(peer, &h), ip("2001:db8::8"));
        let h = xff(&[b"2001:db8::9"]);
        assert_eq!(t.client(peer, &h), ip("2001:db8::9"));
        // Only trusted proxies: the left-most of them.
        let h = xff(&[b"10.9.9.9, 10.1.1.1"]);
        assert_eq!(t.client(peer, &h), ip("10.9.9.9"));
    }

    #[test]
    fn a_header_from_an_untrusted_peer_is_ignored() {
        let t = proxies(&["10.0.0.0/8"]);
        let h = xff(&[b"203.0.113.7"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn a_spoofed_left_entry_does_not_escape() {
        let t = proxies(&["127.0.0.1"]);
        let peer = ip("127.0.0.1");
        // The client sent "1.2.3.4" itself; the proxy appended the real address.
        let h = xff(&[b"1.2.3.4, 203.0.113.7"]);
        assert_eq!(t.client(peer, &h), ip("203.0.113.7"));
        // Garbage on the left is never read.
        let h = xff(&[b"not an address, unknown, 203.0.113.7"]);
        assert_eq!(t.client(peer, &h), ip("203.0.113.7"));
    }

    #[test]
    fn a_malformed_header_means_the_peer() {
        let t = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        for bad in [
            &b""[..],
            b" ",
            b",",
            b"unknown",
            b"_hidden",
            b"203.0.113.7, garbage",
            b"203.0.113.7:99999",
            b"[2001:db8::1",
            b"[203.0.113.7]",
            b"203.0.113.7 10.0.0.1",
            b"1.2.3.4, junk, 10.0.0.1",
            b"\xff\xfe",
        ] {
            assert_eq!(
                t.client(peer, &xff(&[bad])),
                peer,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // No header at all.
        assert_eq!(t.client(peer, &HeaderMap::new()), peer);
        // A thousand trusted entries: not walked to the end.
        let long = vec!["10.0.0.1"; 1000].join(",");
        assert_eq!(t.client(peer, &xff(&[long.as_bytes()])), peer);
        // As many as MAX_HOPS is fine.
        let ok = format!("203.0.113.7,{}", vec!["10.0.0.1"; MAX_HOPS - 1].join(","));
        assert_eq!(t.client(peer, &xff(&[ok.as_bytes()])), ip("203.0.113.7"));
    }
}
