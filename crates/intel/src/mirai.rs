//! Recovering Mirai's configuration table from a captured binary (reference §4.5).
//!
//! Mirai keeps its strings XOR-ed with one byte (0x22 in the stock build: 0xdeadbeef
//! folded). The key is found without trying 256 decodings of the whole file: XOR of
//! two neighbouring bytes does not depend on the key, so each known table plaintext
//! (`/proc/`, `listening tun0`, …) is searched by its neighbour-XOR pattern, and the
//! key read off where it matches. A key is accepted only when at least two different
//! known plaintexts agree on it (the stock key wins a tie); then the C2 and report
//! entries are the decoded domain (or IPv4) strings, each followed by its 2-byte port
//! entry.

use serde::Serialize;

/// Plaintexts every Mirai table holds (Appendix A).
pub const ANCHORS: &[&str] = &[
    "/proc/",
    "/exe",
    " (deleted)",
    "/etc/resolv.conf",
    "nameserver ",
    "TSource Engine Query",
    "listening tun0",
    "/bin/busybox",
];

/// The stock build's effective key.
pub const STOCK_KEY: u8 = 0x22;
/// Endpoints reported at most.
const MAX_ENDPOINTS: usize = 16;

/// A host the table names, with the port entry that follows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Domain or IPv4 address.
    pub host: String,
    /// The port stored right after it, if there is one.
    pub port: Option<u16>,
}

/// What the table gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MiraiConfig {
    /// The XOR key.
    pub key: u8,
    /// Known plaintexts that decoded with it.
    pub anchors: Vec<String>,
    /// Hosts in table order: the first is the C2, the second the report server in the
    /// stock layout.
    pub endpoints: Vec<Endpoint>,
}

/// Positions where `anchor` occurs XOR-ed with one byte, with that byte.
fn find_xored(data: &[u8], anchor: &[u8]) -> Vec<(usize, u8)> {
    let mut out = Vec::new();
    let Some(diffs) = anchor
        .windows(2)
        .map(|w| w.first().zip(w.get(1)).map(|(a, b)| a ^ b))
        .collect::<Option<Vec<u8>>>()
    else {
        return out;
    };
    let (Some(&d0), Some(&a0)) = (diffs.first(), anchor.first()) else {
        return out;
    };
    let n = anchor.len();
    if data.len() < n {
        return out;
    }
    for j in 0..=data.len() - n {
        let (Some(&x), Some(&y)) = (data.get(j), data.get(j + 1)) else {
            break;
        };
        if x ^ y != d0 {
            continue;
        }
        let window = data.get(j..j + n).unwrap_or_default();
        let all = window
            .windows(2)
            .zip(&diffs)
            .all(|(w, d)| w.first().zip(w.get(1)).is_some_and(|(a, b)| a ^ b == *d));
        if all {
            let key = x ^ a0;
            if key != 0 {
                out.push((j, key));
            }
            if out.len() > 64 {
                break;
            }
        }
    }
    out
}

fn host_like(s: &[u8]) -> bool {
    if s.len() < 4 || s.len() > 253 || !s.contains(&b'.') {
        return false;
    }
    if s.first() == Some(&b'.') || s.last() == Some(&b'.') || s.windows(2).any(|w| w == b"..") {
        return false;
    }
    let labels: Vec<&[u8]> = s.split(|&b| b == b'.').collect();
    let ipv4 = labels.len() == 4
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 3
                && l.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(l)
                    .ok()
                    .and_then(|t| t.parse::<u16>().ok())
                    .is_some_and(|v| v <= 255)
        });
    if ipv4 {
        return true;
    }
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic));
    tld_ok
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.first() != Some(&b'-') && l.last() != Some(&b'-'))
}

/// The decoded hosts (NUL-terminated in the table) and their port entries.
fn endpoints(data: &[u8], key: u8) -> Vec<Endpoint> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() && out.len() < MAX_ENDPOINTS {
        // A run of decoded host characters ending in the encoded NUL.
        let start = i;
        while data.get(i).is_some_and(|&b| {
            let c = b ^ key;
            c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
        }) {
            i += 1;
        }
        // Each table entry is its own C literal: it starts right after a raw NUL.
        let literal_start = (start..i)
            .rev()
            .find(|&p| p == 0 || data.get(p - 1) == Some(&0));
        if let (Some(start), Some(&end)) = (literal_start, data.get(i)) {
            if end != key {
                i = i.max(start) + 1;
                continue;
            }
            let decoded: Vec<u8> = data
                .get(start..i)
                .unwrap_or_default()
                .iter()
                .map(|b| b ^ key)
                .collect();
            if host_like(&decoded) {
                // Skip the literal's own NUL and alignment padding, then the 2-byte
                // port entry and its NUL.
                let mut p = i + 1;
                while data.get(p) == Some(&0) && p < i + 9 {
                    p += 1;
                }
                let port = match (data.get(p), data.get(p + 1), data.get(p + 2)) {
                    (Some(&hi), Some(&lo), Some(&0)) if p > i + 1 => {
                        Some(u16::from_be_bytes([hi ^ key, lo ^ key]))
                    }
                    _ => None,
                };
                out.push(Endpoint {
                    host: String::from_utf8_lossy(&decoded).into_owned(),
                    port,
                });
            }
        }
        i = i.max(start) + 1;
    }
    out
}

/// Finds the key and the table's endpoints; None without an accepted key.
pub fn recover_config(data: &[u8]) -> Option<MiraiConfig> {
    let mut found: Vec<(u8, &str)> = Vec::new();
    for anchor in ANCHORS {
        for (_, key) in find_xored(data, anchor.as_bytes()) {
            if !found.contains(&(key, anchor)) {
                found.push((key, anchor));
            }
        }
    }
    let count = |k: u8| found.iter().filter(|(key, _)| *key == k).count();
    let best = (0..=255u8).max_by_key(|&k| (count(k), k == STOCK_KEY))?;
    if count(best) < 2 {
        return None;
    }
    Some(MiraiConfig {
        key: best,
        anchors: found
            .iter()
            .filter(|(k, _)| *k == best)
            .map(|(_, a)| (*a).to_string())
            .collect(),
        endpoints: endpoints(data, best),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table laid out as Mirai's rodata: XOR-ed NUL-terminated entries, each a C
    /// literal followed by its own NUL, among decoy bytes.
    pub fn synthetic_table(
        key: u8,
        c2: &str,
        c2_port: u16,
        report: &str,
        report_port: u16,
    ) -> Vec<u8> {
        let mut v: Vec<u8> = (0..500u32).map(|i| (i * 131 % 251) as u8).collect();
        // The literal before the table ends, as every C literal does, in a NUL.
        v.push(0);
        let mut entry = |bytes: &[u8], nul: bool| {
            v.extend(bytes.iter().map(|b| b ^ key));
            if nul {
                v.push(key);
            }
            v.push(0);
        };
        entry(c2.as_bytes(), true);
        entry(&c2_port.to_be_bytes(), false);
        entry(report.as_bytes(), true);
        entry(&report_port.to_be_bytes(), false);
        for s in [
            "listening tun0",
            "/proc/",
            "/exe",
            " (deleted)",
            "/etc/resolv.conf",
            "nameserver ",
        ] {
            entry(s.as_bytes(), true);
        }
        v.extend((0..300u32).map(|i| (i * 17 % 253) as u8));
        v
    }

    #[test]
    fn stock_key_table_gives_c2_and_report() {
        let data = synthetic_table(0x22, "cnc.example.net", 23, "report.example.net", 48101);
        let c = recover_config(&data).unwrap();
        assert_eq!(c.key, 0x22);
        assert_eq!(
            c.endpoints,
            [
                Endpoint {
                    host: "cnc.example.net".into(),
                    port: Some(23)
                },
                Endpoint {
                    host: "report.example.net".into(),
                    port: Some(48101)
                },
            ]
        );
        assert!(c.anchors.len() >= 5);
    }

    #[test]
    fn a_non_stock_key_is_found_too() {
        let data = synthetic_table(0x5a, "c2.botnet.example", 1312, "10.11.12.13", 9999);
        let c = recover_config(&data).unwrap();
        assert_eq!(c.key, 0x5a);
        assert_eq!(
            c.endpoints[0],
            Endpoint {
                host: "c2.botnet.example".into(),
                port: Some(1312)
            }
        );
        assert_eq!(
            c.endpoints[1],
            Endpoint {
                host: "10.11.12.13".into(),
                port: Some(9999)
            }
        );
    }

    #[test]
    fn no_table_no_domain() {
        let decoy: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(recover_config(&decoy), None);
        // Plain strings are not a table (key 0 is not obfuscation).
        assert_eq!(
            recover_config(b"/proc/\0/exe\0listening tun0\0cnc.example.com\0"),
            None
        );
        // One anchor alone is not enough.
        let one: Vec<u8> = b"/proc/\0".iter().map(|b| b ^ 0x22).collect();
        assert_eq!(recover_config(&one), None);
    }
}
