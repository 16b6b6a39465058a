//! What the trap learned, for the wire: the C2 endpoints recovered from dropped
//! samples, the hosts bots downloaded from, the addresses that attacked the trap and
//! the SHA-256 of the files they dropped. `busybait watch` reads them from the data
//! dir's database; the analyzer matches them in traffic (connections and datagrams
//! to those endpoints, DNS lookups of their names, HTTP downloads of those files).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Why an endpoint is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// A C2 or report endpoint from a sample's configuration.
    C2,
    /// A host a bot on the trap downloaded from.
    Download,
}

impl EndpointKind {
    /// The detection id a match raises.
    pub fn detection(self) -> &'static str {
        match self {
            Self::C2 => "trap-c2-contact",
            Self::Download => "trap-download-host",
        }
    }
}

/// A known endpoint: a port (none = any) and how it was learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its port, when the indicator names one.
    pub port: Option<u16>,
    /// What it is.
    pub kind: EndpointKind,
    /// The indicator as the trap stored it (`host:port`, a URL).
    pub indicator: String,
}

/// Everything the trap learned that traffic can show.
#[derive(Clone, Debug, Default)]
pub struct Indicators {
    /// Endpoints by address.
    pub addresses: HashMap<IpAddr, Vec<Endpoint>>,
    /// Endpoints by host name (lower case), matched against DNS lookups.
    pub names: HashMap<String, Vec<Endpoint>>,
    /// Addresses that logged in to the trap.
    pub attackers: HashSet<IpAddr>,
    /// SHA-256 of the files bots dropped on the trap.
    pub hashes: HashSet<[u8; 32]>,
}

impl Indicators {
    /// True when there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.names.is_empty()
            && self.attackers.is_empty()
            && self.hashes.is_empty()
    }

    /// How many indicators there are.
    pub fn len(&self) -> usize {
        self.addresses.values().map(Vec::len).sum::<usize>()
            + self.names.values().map(Vec::len).sum::<usize>()
            + self.attackers.len()
            + self.hashes.len()
    }

    /// One indicator by its type as exports and the fleet's indicators subject name
    /// it (`ip`, `url`, `sha256`, `c2`); `host` is in its URL, and any other type is
    /// not matched. Whether it could be used.
    pub fn learn(&mut self, kind: &str, value: &str) -> bool {
        match kind {
            "ip" => value.parse().map(|ip| self.attackers.insert(ip)).is_ok(),
            "url" => self.add_url(value),
            "sha256" => self.add_sha256(value),
            "c2" => self.add_c2(value),
            _ => false,
        }
    }

    /// A C2 endpoint `host:port` (host a name or an address; IPv6 in brackets).
    /// Returns false (and keeps nothing) for text that is not one.
    pub fn add_c2(&mut self, endpoint: &str) -> bool {
        let Some((host, port)) = split_host_port(endpoint) else {
            return false;
        };
        self.add(host, Some(port), EndpointKind::C2, endpoint)
    }

    /// A download URL (`http://`, `https://`, `ftp://`, `tftp://`, `tcp://`): its host
    /// and port (the scheme's default when none is given).
    pub fn add_url(&mut self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(80),
            "https" => Some(443),
            "ftp" => Some(21),
            "tftp" => Some(69),
            _ => None,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match split_host_port(authority) {
            Some((host, port)) => (host, Some(port)),
            None => (
                authority.trim_start_matches('[').trim_end_matches(']'),
                default_port,
            ),
        };
        if host.is_empty() {
            return false;
        }
        self.add(host, port.or(default_port), EndpointKind::Download, url)
    }

    /// A SHA-256 as 64 hex digits.
    pub fn add_sha256(&mut self, hex_digest: &str) -> bool {
        let mut digest = [0u8; 32];
        if hex::decode_to_slice(hex_digest, &mut digest).is_err() {
            return false;
        }
        self.hashes.insert(digest)
    }

    fn add(&mut self, host: &str, port: Option<u16>, kind: EndpointKind, indicator: &str) -> bool {
        let endpoint = Endpoint {
            port,
            kind,
            indicator: indicator.to_string(),
        };
        let list = match host.parse::<IpAddr>() {
            Ok(ip) => self.addresses.entry(ip).or_default(),
            Err(_) => self
                .names
                .entry(host.trim_end_matches('.').to_ascii_lowercase())
                .or_default(),
        };
        if list.contains(&endpoint) {
            return false;
        }
        list.push(endpoint);
        true
    }

    /// The endpoints of `ip` that `port` matches.
    pub fn endpoints(&self, ip: IpAddr, port: u16) -> impl Iterator<Item = &Endpoint> {
        self.addresses
            .get(&ip)
            .into_iter()
            .flatten()
            .filter(move |e| e.port.is_none_or(|p| p == port))
    }
}

/// `host:port` or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port.parse().ok()?));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') || host.is_empty() {
        return None;
    }
    Some((host, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_c2s_and_urls() {
        let mut i = Indicators::default();
        assert!(i.add_c2("203.0.113.9:23"));
        assert!(i.add_c2("CNC.Example.com:48101"));
        assert!(i.add_url("http://198.51.100.4:8080/bins/mirai.arm7"));
        assert!(i.add_url("tftp://198.51.100.5/t8UsA2.sh"));
        assert!(i.add_url("ftp://anonymous@dl.example.net/ftp1.sh"));
        assert!(!i.add_c2("not an endpoint"));
        assert!(!i.add_url("/just/a/path"));
        assert!(i.add_sha256(&"ab".repeat(32)));
        assert!(!i.add_sha256("abc"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(i.endpoints(ip("203.0.113.9"), 23).count(), 1);
        assert_eq!(i.endpoints(ip("203.0.113.9"), 24).count(), 0);
        assert_eq!(
            i.endpoints(ip("198.51.100.4"), 8080)
                .map(|e| e.kind)
                .collect::<Vec<_>>(),
            [EndpointKind::Download]
        );
        assert_eq!(i.endpoints(ip("198.51.100.5"), 69).count(), 1);
        assert!(i.names.contains_key("cnc.example.com"));
        assert_eq!(
            i.names.get("dl.example.net").map(|e| e[0].port),
            Some(Some(21))
        );
        assert_eq!(i.len(), 6);
    }
}
