//! Where the SDK connects when it calls a resource (x402).
//!
//! A [`ResourceResolver`] given to [`Client::with_resource_resolver`](crate::Client) is the
//! only source of addresses for resource calls: the HTTP client asks it once per connection
//! and connects to exactly the addresses it returned. [`PublicOnly`] refuses a host when any
//! of its addresses is loopback, private, link-local or otherwise non-public. Because the
//! addresses it checked are the addresses connected to, a name that answers a public address
//! to one lookup and a private one to the next (DNS rebinding) cannot reach a private
//! address: there is no second lookup to answer differently.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use crate::Error;

/// Finds the addresses to connect to for a resource's `host` (a name or an IP literal,
/// without brackets) and `port`. An error refuses the call; nothing is connected to.
pub trait ResourceResolver: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error>;
}

/// A name lookup: the system's ([`SystemLookup`]), or another (a test's, a DNS-over-HTTPS
/// client's).
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The operating system's resolver (`getaddrinfo`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// Resolves a resource's host with `L` and refuses it unless every address is public
/// (`resource_address_private`), or when it has none (`resource_unresolvable`). Use it so
/// that an agent, or a prompt injected into it, cannot make the SDK read internal services.
#[derive(Clone, Debug, Default)]
pub struct PublicOnly<L = SystemLookup> {
    lookup: L,
}

impl PublicOnly<SystemLookup> {
    /// With the system's resolver.
    pub fn new() -> PublicOnly<SystemLookup> {
        PublicOnly {
            lookup: SystemLookup,
        }
    }
}

impl<L: Lookup> PublicOnly<L> {
    /// With another lookup.
    pub fn with_lookup(lookup: L) -> PublicOnly<L> {
        PublicOnly { lookup }
    }
}

impl<L: Lookup> ResourceResolver for PublicOnly<L> {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        let addrs = self.lookup.lookup(host, port).map_err(|e| {
            refused(
                "resource_unresolvable",
                format!("cannot resolve {host:.100}: {e}"),
            )
        })?;
        if addrs.is_empty() {
            return Err(refused(
                "resource_unresolvable",
                format!("{host:.100} has no address"),
            ));
        }
        if let Some(private) = addrs.iter().find(|a| non_public(a.ip())) {
            return Err(refused(
                "resource_address_private",
                format!(
                    "{host:.100} is or resolves to {}, a loopback, private or otherwise non-public address; only public resources are called",
                    private.ip()
                ),
            ));
        }
        Ok(addrs)
    }
}

fn refused(code: &str, message: String) -> Error {
    Error::Api {
        status: 400,
        code: code.to_string(),
        message,
        param: Some("url".into()),
        retry_after_secs: None,
    }
}

/// Whether an address is one the open internet cannot reach, or that leads into a private
/// network: loopback, private, link-local, carrier-grade NAT, unique-local, unspecified,
/// multicast, documentation, benchmarking, reserved (240/4), and IPv6 forms that carry an
/// IPv4 address (mapped, compatible, NAT64) when that address is one of these.
pub fn non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                // IETF protocol assignments and the old 6to4 relay anycast.
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let o = v6.octets();
            let embedded = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public(IpAddr::V4(v4));
            }
            // IPv4-compatible (`::a.b.c.d`, deprecated) and NAT64 (`64:ff9b::/96`): a
            // gateway may route them to the IPv4 address inside.
            // IPv4-translated (`::ffff:0:a.b.c.d`, SIIT) likewise.
            if (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || s[..6] == [0, 0, 0, 0, 0xffff, 0]
            {
                return non_public(IpAddr::V4(embedded));
            }
            // 6to4 (`2002:a.b.c.d::/48`): the IPv4 address is in the second and third groups.
            if s[0] == 0x2002 {
                let [a, b] = s[1].to_be_bytes();
                let [c, d] = s[2].to_be_bytes();
                return non_public(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // Site-local (deprecated) and local-use NAT64 (RFC 8215).
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        }
    }
}

/// `host:port` as ureq names a connection's target (`[v6]:port` for IPv6 literals).
pub(crate) fn split_netloc(netloc: &str) -> Option<(&str, u16)> {
    let (host, port) = netloc.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port.parse().ok()?))
}
