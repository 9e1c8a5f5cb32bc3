//! `client.address`: the peer address, or the client named by `Forwarded` / `X-Forwarded-For`
//! when the hops in between are trusted proxies.

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap};

/// Which proxies may tell us the client address.
///
/// The chain is the `Forwarded` `for=` entries (or, if absent, `X-Forwarded-For`) followed by
/// the socket peer. Walking from the right, every trusted hop is skipped; the first untrusted
/// address is the client. Headers are ignored entirely under [`TrustedProxies::none`] (the
/// default): a client can put anything in them.
///
/// ```
/// use pf_log_enrich::TrustedProxies;
/// let p = TrustedProxies::networks([("10.0.0.0".parse().unwrap(), 8)]);
/// let mut h = http::HeaderMap::new();
/// h.insert("x-forwarded-for", "198.51.100.7, 10.1.2.3".parse().unwrap());
/// let peer = Some("10.9.9.9:443".parse().unwrap());
/// assert_eq!(p.client_address(&h, peer).as_deref(), Some("198.51.100.7"));
/// assert_eq!(TrustedProxies::none().client_address(&h, peer).as_deref(), Some("10.9.9.9"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    kind: Kind,
}

#[derive(Clone, Debug, Default)]
enum Kind {
    #[default]
    None,
    Hops(usize),
    Networks(Vec<(IpAddr, u8)>),
}

impl TrustedProxies {
    /// Trust no proxy: `client.address` is the socket peer.
    pub fn none() -> Self {
        Self { kind: Kind::None }
    }

    /// Trust exactly `n` proxies in front of the service (the peer is the first of them).
    pub fn hops(n: usize) -> Self {
        Self {
            kind: Kind::Hops(n),
        }
    }

    /// Trust proxies whose addresses are in these networks (`(address, prefix length)`).
    pub fn networks(nets: impl IntoIterator<Item = (IpAddr, u8)>) -> Self {
        Self {
            kind: Kind::Networks(nets.into_iter().collect()),
        }
    }

    /// Trust loopback and private (RFC 1918, unique-local) proxies.
    pub fn private_networks() -> Self {
        Self::networks([
            (IpAddr::from([127, 0, 0, 0]), 8),
            (IpAddr::from([10, 0, 0, 0]), 8),
            (IpAddr::from([172, 16, 0, 0]), 12),
            (IpAddr::from([192, 168, 0, 0]), 16),
            ("::1".parse().expect("valid"), 128),
            ("fc00::".parse().expect("valid"), 7),
        ])
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        match &self.kind {
            Kind::Networks(nets) => nets.iter().any(|(net, len)| in_network(ip, *net, *len)),
            _ => false,
        }
    }

    /// The client address for a request with these headers and socket peer.
    pub fn client_address(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
        let peer_ip = peer.map(|p| p.ip());
        match &self.kind {
            Kind::None => peer_ip.map(|ip| ip.to_string()),
            Kind::Hops(n) => {
                let mut chain = forwarded_chain(headers);
                if let Some(ip) = peer_ip {
                    chain.push(ip.to_string());
                }
                if chain.is_empty() {
                    return None;
                }
                let idx = chain.len().saturating_sub(1 + n);
                Some(chain.swap_remove(idx))
            }
            Kind::Networks(_) => {
                match peer_ip {
                    Some(ip) if !self.trusts(ip) => return Some(ip.to_string()),
                    _ => {}
                }
                let chain = forwarded_chain(headers);
                let mut last_trusted = peer_ip.map(|ip| ip.to_string());
                for entry in chain.into_iter().rev() {
                    match entry.parse::<IpAddr>() {
                        Ok(ip) if self.trusts(ip) => last_trusted = Some(entry),
                        Ok(_) => return Some(entry),
                        Err(_) => return last_trusted,
                    }
                }
                last_trusted
            }
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_network(IpAddr::V4(v4), net, len)),
        _ => false,
    }
}

/// Entries of `Forwarded: for=...` (RFC 7239), or else of `X-Forwarded-For`, left to right.
fn forwarded_chain(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        let Ok(value) = value.to_str() else { continue };
        for element in value.split(',') {
            for pair in element.split(';') {
                let pair = pair.trim();
                if let Some((k, v)) = pair.split_once('=')
                    && k.trim().eq_ignore_ascii_case("for")
                {
                    out.push(clean_forwarded_for(v.trim()));
                }
            }
        }
    }
    if !out.is_empty() {
        return out;
    }
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { continue };
        out.extend(
            value
                .split(',')
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    out
}

fn clean_forwarded_for(v: &str) -> String {
    let v = v.trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match v.parse::<SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => v.to_string(),
    }
}

/// The socket peer from the request extensions: axum's `ConnectInfo<SocketAddr>` or a plain
/// `SocketAddr`.
pub(crate) fn peer_addr(ext: &Extensions) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(ci) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(ci.0);
    }
    ext.get::<SocketAddr>().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &'static str, v: &'static str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, v.parse().unwrap());
        m
    }

    #[test]
    fn policies() {
        let peer = Some("127.0.0.1:5000".parse().unwrap());
        let xff = h("x-forwarded-for", "1.2.3.4, 5.6.7.8");
        assert_eq!(
            TrustedProxies::hops(1).client_address(&xff, peer).unwrap(),
            "5.6.7.8"
        );
        assert_eq!(
            TrustedProxies::hops(2).client_address(&xff, peer).unwrap(),
            "1.2.3.4"
        );
        assert_eq!(
            TrustedProxies::hops(9).client_address(&xff, peer).unwrap(),
            "1.2.3.4"
        );
        let p = TrustedProxies::private_networks();
        assert_eq!(p.client_address(&xff, peer).unwrap(), "5.6.7.8");
        let fwd = h(
            "forwarded",
            "for=\"[2001:db8::1]:4711\", for=10.0.0.1;proto=https",
        );
        assert_eq!(p.client_address(&fwd, peer).unwrap(), "2001:db8::1");
        let spoof = h("x-forwarded-for", "1.1.1.1");
        let public_peer = Some("8.8.8.8:1".parse().unwrap());
        assert_eq!(p.client_address(&spoof, public_peer).unwrap(), "8.8.8.8");
        let garbage = h("x-forwarded-for", "nonsense, 10.0.0.2");
        assert_eq!(p.client_address(&garbage, peer).unwrap(), "10.0.0.2");
    }
}
