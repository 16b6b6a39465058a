//! The detectors: fed decoded packets in capture order, they keep bounded per-source
//! and per-pair tallies and turn them into [`Alert`]s at the end. Packet signatures
//! (scans, floods, DNS) look at each packet; content signatures (telnet, report, C2,
//! downloads, HTTP) look at the reassembled streams of [`crate::stream`]. Signatures
//! from `reference/mirai-behaviour.md` §1.4, §2.2, §3, §4.1, §4.6 and §6b.

use std::collections::HashSet;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use sha2::{Digest, Sha256};

use crate::indicators::{EndpointKind, Indicators};
use crate::maps::{Map, Set};
use crate::packet::{decode, DecodeError, LinkType, Packet, Tcp, Transport, Udp};
use crate::stream::{self, Chunk, FlowKey, StreamCounters, StreamLimits, Streams};

/// Ports a telnet scanner or brute-forcer aims at.
pub const TELNET_PORTS: [u16; 4] = [23, 2323, 2223, 23231];

/// What Mirai's telnet client answers to BusyBox telnetd's opening (§1.4): the same
/// fingerprint string the sensor logs.
pub const MIRAI_CLIENT_REPLY: [u8; 21] = [
    0xff, 0xfc, 0x01, 0xff, 0xfb, 0x1f, 0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff, 0xf0, 0xff,
    0xfd, 0x01, 0xff, 0xfd, 0x03,
];

/// Bytes in a telnet client's stream that only Mirai-family loaders and scanners send
/// (§3, §5), with what each one means.
pub const SHELL_MARKERS: [(&[u8], &str); 19] = [
    (b"/bin/busybox ECCHI", "Mirai loader probe"),
    (b"/bin/busybox IHCCE", "Mirai loader run marker"),
    (b"/bin/busybox MIRAI", "Mirai scanner probe"),
    (b".nippon", "Mirai loader writable-directory probe"),
    (b"\\x6b\\x61\\x6d\\x69", "Mirai loader kami probe"),
    (b"dvrHelper", "Mirai dropper name"),
    (b"telnet.loader", "Mirai loader bot id"),
    (b"/bin/busybox SATORI", "Satori probe"),
    (b"/bin/busybox OKIRU", "Okiru probe"),
    (b"/bin/busybox SORA", "Sora probe"),
    (b"/bin/busybox MASUTA", "Masuta probe"),
    (b"/bin/busybox HGYQA", "Satori download-method probe"),
    (b"/bin/busybox DMSNA", "Satori mounts probe"),
    (
        b"\\x45\\x43\\x48\\x4f\\x44\\x4f\\x4e\\x45",
        "Satori echo marker (ECHODONE)",
    ),
    (
        b"\\147\\141\\171\\146\\147\\164",
        "Gafgyt probe (gayfgt in octal)",
    ),
    (
        b"\\x47\\x41\\x59\\x46\\x47\\x54",
        "Gafgyt probe (GAYFGT in hex)",
    ),
    (b"Mozi.m", "Mozi binary (MIPS)"),
    (b"Mozi.a", "Mozi binary (ARM)"),
    (b">/tmp/.x&&cd /tmp", "Mozi writable-directory probe"),
];

/// Words of `/bin/busybox WORD` probes that [`SHELL_MARKERS`] already name.
const KNOWN_PROBE_WORDS: [&[u8]; 9] = [
    b"ECCHI", b"IHCCE", b"MIRAI", b"SATORI", b"OKIRU", b"SORA", b"MASUTA", b"HGYQA", b"DMSNA",
];
/// Distinct probe words kept per pair (more are still counted).
const MAX_PROBE_WORDS: usize = 8;

/// Mirai's unknown-applet probe with any word (reference §5.1): `/bin/busybox `, 3-16
/// upper-case letters or digits with at least one letter (no BusyBox applet is upper
/// case), then a byte that ends the word. Yields where the word ends and the word.
fn probe_words(window: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    const PREFIX: &[u8] = b"/bin/busybox ";
    FINDERS.probe.find_iter(window).filter_map(move |at| {
        let rest = window.get(at + PREFIX.len()..)?;
        let len = rest
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            .count();
        let word = rest.get(..len)?;
        // The word must be over (its end is in view) and not go on in lower case.
        let next = *rest.get(len)?;
        ((3..=16).contains(&len)
            && !next.is_ascii_alphanumeric()
            && word.iter().any(u8::is_ascii_uppercase)
            && !KNOWN_PROBE_WORDS.contains(&word))
        .then_some((at + PREFIX.len() + len, word))
    })
}

/// What BusyBox `login` prints after a wrong password.
const LOGIN_INCORRECT: &[u8] = b"Login incorrect";

/// Mirai SYNs (`seq == dst`, no options) from one source before it is an alert:
/// one could be chance (2^-32 each); a scanner sends ~160 a second.
pub const MIRAI_SYN_MIN: u64 = 3;
/// Distinct addresses one source sends telnet SYNs to before it is scanning.
pub const TELNET_SCAN_MIN_TARGETS: u64 = 10;
/// Telnet connections from one source to one target before it is brute force.
pub const BRUTE_FORCE_MIN_CONNECTIONS: u64 = 5;
/// SSH connections (streams that open with a client identification) from one source
/// to one target before it is brute force: the wire shows no failed login, only
/// the connections a brute-forcer makes, one or a few passwords each.
pub const SSH_BRUTE_FORCE_MIN_CONNECTIONS: u64 = 5;
/// SSH client openings being read at once (more are counted, not read).
const MAX_SSH_HELLOS: usize = 4096;
/// Distinct SSH clients (version and HASSH) kept per pair.
const MAX_SSH_CLIENTS_PER_PAIR: usize = 4;
/// Failed logins one target reports to one source before it is brute force.
pub const BRUTE_FORCE_MIN_FAILURES: u64 = 3;
/// Packet numbers kept as evidence per alert.
const EVIDENCE_PER_ALERT: usize = 5;
/// Packets with an exact flood signature (the SYN vector's options, GRE's inner id)
/// from one source before it is an alert.
pub const FLOOD_SIGNATURE_MIN: u64 = 3;
/// VSE queries from one source, from at least [`FLOOD_MIN_PORTS`] source ports,
/// before it is a flood (one game browser's query is not).
pub const VSE_FLOOD_MIN: u64 = 50;
/// 512-byte UDP datagrams or ACK segments from one source before it is a flood, if
/// they also come at [`FLOOD_MIN_RATE`] or more.
pub const FLOOD_MIN_PACKETS: u64 = 100;
/// Packets a second (from the first to the last) of a volume flood.
pub const FLOOD_MIN_RATE: f64 = 50.0;
/// Distinct ports (random per packet in Mirai's vectors) before VSE or ACK packets
/// are a flood rather than one conversation.
pub const FLOOD_MIN_PORTS: usize = 10;
/// Water-torture queries (a random `[a-w0-8]{12}` label) under one domain before it
/// is an alert.
pub const DNS_TORTURE_MIN: u64 = 20;
/// Requests with Mirai's HTTP-flood user agents from one source to one server.
pub const HTTP_FLOOD_MIN_REQUESTS: u64 = 20;
/// Requests with a lower-case `content-length:` (Mirai's POST flood) from one
/// source to one server.
pub const HTTP_LOWERCASE_LENGTH_MIN: u64 = 5;
/// Ports remembered per flood tally (enough to tell one from many).
const MAX_FLOOD_PORTS: usize = 64;
/// Domains tallied per source for water torture.
const MAX_DOMAINS_PER_SOURCE: usize = 16;

/// Bounds on what the analyzer remembers; past them new keys are not tracked (and
/// counted), so memory does not grow with the capture.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sources tallied.
    pub max_sources: usize,
    /// Distinct targets remembered per source and detection (more are counted as
    /// one lower bound).
    pub max_targets_per_source: usize,
    /// (source, target) pairs tallied.
    pub max_pairs: usize,
    /// TCP reassembly.
    pub streams: StreamLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sources: 65_536,
            max_targets_per_source: 4096,
            max_pairs: 262_144,
            streams: StreamLimits::default(),
        }
    }
}

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A hint that corroborates others.
    Low,
    /// Suspicious.
    Medium,
    /// A signature of the family.
    High,
}

/// One packet that shows an alert, with the bytes that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// 1-based packet number in the capture.
    pub packet: u64,
    /// What matched, as hex (`seq` for SYNs, the marker for content).
    pub matched: String,
}

/// Stable numbers for the detections, for tools that want one (the EVE output's
/// `signature_id`): 9,100,000 + a number that never changes meaning.
pub const SIGNATURE_IDS: [(&str, u32); 23] = [
    ("mirai-syn-scan", 9_100_001),
    ("telnet-scan", 9_100_002),
    ("telnet-bruteforce", 9_100_003),
    ("mirai-telnet-client", 9_100_004),
    ("mirai-shell-content", 9_100_005),
    ("mirai-report", 9_100_006),
    ("mirai-c2-handshake", 9_100_007),
    ("mirai-bins-download", 9_100_008),
    ("mirai-vse-flood", 9_100_009),
    ("mirai-syn-flood", 9_100_010),
    ("mirai-ack-flood", 9_100_011),
    ("udp-flood", 9_100_012),
    ("mirai-gre-flood", 9_100_013),
    ("mirai-http-flood", 9_100_014),
    ("dns-water-torture", 9_100_015),
    ("dns-direct-8888", 9_100_016),
    ("trap-c2-contact", 9_100_017),
    ("trap-download-host", 9_100_018),
    ("trap-sample-download", 9_100_019),
    ("trap-attacker", 9_100_020),
    ("ssh-scan", 9_100_021),
    ("ssh-bruteforce", 9_100_022),
    ("iot-web-exploit", 9_100_023),
];

/// The signature id of a detection.
pub fn signature_id(id: &str) -> u32 {
    SIGNATURE_IDS
        .iter()
        .find(|(name, _)| *name == id)
        .map_or(9_100_000, |(_, sid)| *sid)
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// Stable id, e.g. `mirai-syn-scan`.
    pub id: &'static str,
    /// What it means.
    pub title: String,
    /// How bad.
    pub severity: Severity,
    /// The host doing it.
    pub src: IpAddr,
    /// The host it was done to, when there is one.
    pub dst: Option<IpAddr>,
    /// `tcp`, `udp` or `gre`.
    pub proto: &'static str,
    /// The source port of the first flow, for alerts about one flow or pair.
    pub src_port: Option<u16>,
    /// Its destination port.
    pub dst_port: Option<u16>,
    /// Distinct targets (a lower bound past the limit).
    pub targets: u64,
    /// Packets or events counted.
    pub count: u64,
    /// Capture time of the first and last, seconds since the epoch.
    pub first: f64,
    /// See `first`.
    pub last: f64,
    /// `count` per second from `first` to `last` (none for an instant).
    pub rate: Option<f64>,
    /// Up to five packets.
    pub evidence: Vec<Evidence>,
}

/// What the analyzer saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Frames given.
    pub frames: u64,
    /// Decoded as IPv4/IPv6.
    pub ip: u64,
    /// TCP segments.
    pub tcp: u64,
    /// UDP datagrams.
    pub udp: u64,
    /// Not IP (ARP, …).
    pub not_ip: u64,
    /// Malformed, or cut before the end of their transport header.
    pub malformed: u64,
    /// Decoded from less than the IP length says (snaplen): headers whole, payload
    /// partial.
    pub cut: u64,
    /// IP fragments (not reassembled).
    pub fragments: u64,
    /// Frames of a link type there is no decoder for.
    pub unknown_link: u64,
    /// Sources or pairs not tallied because a table was full.
    pub untracked: u64,
    /// TCP reassembly.
    pub streams: StreamCounters,
}

/// A running count with its first and last time and a few packet numbers.
#[derive(Clone, Debug, Default)]
struct Tally {
    count: u64,
    first: f64,
    last: f64,
    evidence: Vec<Evidence>,
    targets: Set<IpAddr>,
    targets_beyond: u64,
    /// Ports of the first hit's flow.
    ports: Option<(u16, u16)>,
}

impl Tally {
    fn hit(&mut self, number: u64, time: f64, matched: impl FnOnce() -> String) {
        if self.count == 0 {
            self.first = time;
        }
        self.count += 1;
        self.last = time;
        if self.evidence.len() < EVIDENCE_PER_ALERT {
            self.evidence.push(Evidence {
                packet: number,
                matched: matched(),
            });
        }
    }

    fn target(&mut self, dst: IpAddr, limit: usize) {
        if self.targets.len() < limit || self.targets.contains(&dst) {
            self.targets.insert(dst);
        } else {
            self.targets_beyond += 1;
        }
    }

    fn ports(&mut self, sport: u16, dport: u16) {
        self.ports.get_or_insert((sport, dport));
    }

    fn rate(&self) -> Option<f64> {
        let span = self.last - self.first;
        (span > 0.0).then(|| self.count as f64 / span)
    }

    fn targets(&self) -> u64 {
        self.targets.len() as u64 + self.targets_beyond
    }

    fn alert(&self, id: &'static str, title: String, severity: Severity, src: IpAddr) -> Alert {
        Alert {
            id,
            title,
            severity,
            src,
            dst: None,
            proto: "tcp",
            src_port: self.ports.map(|p| p.0),
            dst_port: self.ports.map(|p| p.1),
            targets: self.targets(),
            count: self.count,
            first: self.first,
            last: self.last,
            rate: self.rate(),
            evidence: self.evidence.clone(),
        }
    }
}

/// The report server's port (§1.6).
pub const REPORT_PORT: u16 = 48101;

/// A Mirai report (§1.6): `00`, victim address and port, length-prefixed user and
/// password, nothing else. Returns `a.b.c.d:port user:pass`.
pub fn parse_report(payload: &[u8]) -> Option<String> {
    let (&0, rest) = payload.split_first()? else {
        return None;
    };
    let ip = std::net::Ipv4Addr::from(<[u8; 4]>::try_from(rest.get(..4)?).ok()?);
    let port = u16::from_be_bytes(<[u8; 2]>::try_from(rest.get(4..6)?).ok()?);
    let (&ulen, rest) = rest.get(6..)?.split_first()?;
    let user = rest.get(..usize::from(ulen))?;
    let (&plen, rest) = rest.get(usize::from(ulen)..)?.split_first()?;
    let pass = rest.get(..usize::from(plen))?;
    let printable = |s: &[u8]| s.iter().all(|b| b.is_ascii_graphic());
    (rest.len() == usize::from(plen) && printable(user) && printable(pass)).then(|| {
        format!(
            "{ip}:{port} {}:{}",
            String::from_utf8_lossy(user),
            String::from_utf8_lossy(pass)
        )
    })
}

/// The bot id after Mirai's C2 handshake `00 00 00 01` (§4.4): a length byte and that
/// many printable bytes (at most 31).
fn parse_bot_id(bytes: &[u8]) -> Option<String> {
    let (&len, id) = bytes.split_first()?;
    (len > 0 && len < 32 && id.len() == usize::from(len) && id.iter().all(u8::is_ascii_graphic))
        .then(|| String::from_utf8_lossy(id).into_owned())
}

/// The C2 handshake's first four bytes.
const C2_HELLO: [u8; 4] = [0, 0, 0, 1];

/// Mirai's downloader request (§3.6): a `/bins/` path and no header at all.
fn bins_request(payload: &[u8]) -> Option<String> {
    let rest = payload.strip_prefix(b"GET /bins/")?;
    let path = rest.strip_suffix(b" HTTP/1.0\r\n\r\n")?;
    (!path.is_empty() && path.iter().all(u8::is_ascii_graphic))
        .then(|| format!("GET /bins/{}", String::from_utf8_lossy(path)))
}

/// The VSE vector's payload (§4.6): a Source-engine `A2S_INFO` query.
pub const VSE_PAYLOAD: &[u8; 25] = b"\xff\xff\xff\xffTSource Engine Query\x00";
/// The Source-engine query port the VSE vector aims at.
pub const VSE_PORT: u16 = 27015;
/// The payload size of Mirai's UDP, ACK and GRE floods.
pub const FLOOD_PAYLOAD: usize = 512;
/// The resolver Mirai's own lookups go to (§4.1).
pub const GOOGLE_DNS: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

/// Mirai's HTTP flood user agents (§4.6, Appendix A), as request headers.
pub const HTTP_FLOOD_AGENTS: [&[u8]; 5] = [
    b"User-Agent: Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36\r\n",
    b"User-Agent: Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36\r\n",
    b"User-Agent: Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36\r\n",
    b"User-Agent: Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36\r\n",
    b"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/601.7.7 (KHTML, like Gecko) Version/9.1.2 Safari/601.7.7\r\n",
];
/// Mirai's POST flood spells this header in lower case; HTTP/1.x clients do not.
const LOWERCASE_CONTENT_LENGTH: &[u8] = b"\r\ncontent-length:";
/// Methods an HTTP request stream starts with.
const HTTP_METHODS: [&[u8]; 7] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
];

/// §4.6 `syn`: the options of Mirai's SYN flood, in this order: MSS 1400-1415,
/// SACK permitted, timestamps with TSecr 0, NOP, window scale 6.
fn is_syn_flood_options(options: &[u8]) -> bool {
    let [2, 4, mss_hi, mss_lo, 4, 2, 8, 10, _, _, _, _, 0, 0, 0, 0, 1, 3, 3, 6] = *options else {
        return false;
    };
    (1400..=1415).contains(&u16::from_be_bytes([mss_hi, mss_lo]))
}

/// §4.6 `greip`/`greeth`: a GRE header without flags carrying IPv4 (or Ethernet
/// with IPv4), whose inner IP id is `!(outer id - 1000)`.
fn is_mirai_gre(outer_id: u16, gre: &[u8]) -> bool {
    let inner = match gre.get(..4) {
        Some([0, 0, 0x08, 0x00]) => gre.get(4..),
        Some([0, 0, 0x65, 0x58]) => {
            if gre.get(16..18) != Some(&[0x08, 0x00]) {
                return false;
            }
            gre.get(18..)
        }
        _ => None,
    };
    let Some(&[version_ihl, _, _, _, id_hi, id_lo, ..]) = inner else {
        return false;
    };
    version_ihl >> 4 == 4 && u16::from_be_bytes([id_hi, id_lo]) == !outer_id.wrapping_sub(1000)
}

/// A DNS query's parts this module looks at.
struct DnsQuery<'a> {
    recursion_desired: bool,
    qtype: u16,
    /// The question name in wire form (length-prefixed labels, no final zero).
    name: &'a [u8],
}

/// Parses a one-question DNS query (not a response); names with compression
/// pointers (never in a query's question) are refused.
fn parse_dns_query(p: &[u8]) -> Option<DnsQuery<'_>> {
    let &[_, _, flags_hi, _, 0, 1, ..] = p else {
        return None;
    };
    // QR = 0 (a query), opcode 0.
    if flags_hi & 0xf8 != 0 {
        return None;
    }
    let question = p.get(12..)?;
    let mut at = 0usize;
    loop {
        let len = usize::from(*question.get(at)?);
        if len == 0 {
            break;
        }
        if len > 63 || at > 255 {
            return None;
        }
        at += 1 + len;
    }
    let name = question.get(..at)?;
    let qtype = question.get(at + 1..at + 3)?;
    Some(DnsQuery {
        recursion_desired: flags_hi & 1 == 1,
        qtype: u16::from_be_bytes([*qtype.first()?, *qtype.get(1)?]),
        name,
    })
}

/// §4.6 `dns`: the first label is 12 characters of `rand_alphastr`'s alphabet.
fn is_torture_label(label: &[u8]) -> bool {
    label.len() == 12 && label.iter().all(|b| matches!(b, b'a'..=b'w' | b'0'..=b'8'))
}

/// The `Content-Length` of an HTTP header block, any case.
fn content_length(header: &[u8]) -> Option<u64> {
    header.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        name.eq_ignore_ascii_case(b"content-length")
            .then(|| {
                std::str::from_utf8(value.get(1..)?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .flatten()
    })
}

/// A wire-form name as dotted text.
fn dotted(name: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some((&len, tail)) = rest.split_first() {
        let label = tail.get(..usize::from(len)).unwrap_or(tail);
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
        rest = tail.get(usize::from(len)..).unwrap_or_default();
    }
    out
}

/// A volume tally that also remembers a few distinct ports.
#[derive(Default)]
struct Flood {
    tally: Tally,
    ports: Set<u16>,
}

impl Flood {
    fn hit(&mut self, number: u64, time: f64, port: u16, matched: impl FnOnce() -> String) {
        self.tally.hit(number, time, matched);
        if self.ports.len() < MAX_FLOOD_PORTS {
            self.ports.insert(port);
        }
    }

    /// At least `min` packets at [`FLOOD_MIN_RATE`] or faster.
    fn is_volume_flood(&self, min: u64) -> bool {
        self.tally.count >= min && self.tally.rate().is_none_or(|r| r >= FLOOD_MIN_RATE)
    }
}

/// Water-torture queries under one domain.
struct Torture {
    domain: String,
    matching: Tally,
    /// 12-character first labels outside the alphabet (a real name or another
    /// generator): many of them mean this is not Mirai.
    other: u64,
}

/// What a source did on its own (not about one pair) that few sources do.
#[derive(Default)]
struct Floods {
    /// Packets from an address that attacked the trap.
    trap_attacker: Tally,
    vse: Flood,
    syn: Tally,
    ack: Flood,
    udp: Flood,
    gre: Tally,
    torture: Vec<Torture>,
    google_dns: Tally,
}

#[derive(Default)]
struct SourceState {
    mirai_syn: Tally,
    telnet_syn: Tally,
    /// SYNs to SSH ports.
    ssh_syn: Tally,
    /// Rare: only sources that sent a flood-shaped packet have it.
    floods: Option<Box<Floods>>,
}

/// Client ports remembered per pair (more connections still count).
const MAX_PORTS_PER_PAIR: usize = 1024;

#[derive(Default)]
struct PairState {
    /// Connections the server accepted (SYN-ACK from a telnet port), one per client
    /// port: retransmitted SYNs of a scan are not connections.
    connections: Tally,
    client_ports: Set<u16>,
    /// `Login incorrect` from the target.
    failures: Tally,
    /// Mirai's telnet client reply.
    fingerprint: Tally,
    /// Family content, per marker.
    markers: Vec<(usize, Tally)>,
    /// `/bin/busybox WORD` probes of other variants, and their first words.
    probes: Tally,
    probe_words: Vec<String>,
    /// Reports to a Mirai report server.
    reports: Tally,
    /// C2 handshakes, with the bot id in the evidence.
    c2: Tally,
    /// Header-less `/bins/` downloads.
    bins: Tally,
    /// Web exploit requests, per exploit-table entry (name, CVE).
    exploits: Vec<((String, Option<String>), Tally)>,
    /// Requests with Mirai's flood user agents.
    http_agents: Tally,
    /// Requests with a lower-case `content-length:`.
    http_lowercase: Tally,
    /// Connections, datagrams or lookups to a C2 the trap learned.
    trap_c2: Tally,
    /// ... to a host bots downloaded from on the trap.
    trap_download: Tally,
    /// Downloads of a file a bot dropped on the trap (by SHA-256).
    trap_sample: Tally,
    /// SSH connections and the clients that made them (rare: boxed).
    ssh: Option<Box<PairSsh>>,
}

/// What one source's SSH connections to one target showed.
#[derive(Default)]
struct PairSsh {
    connections: Tally,
    /// Distinct clients: version, HASSH, and how many connections each.
    clients: Vec<(crate::ssh::Hello, u64)>,
}

/// Largest HTTP response header kept while looking for its end.
const MAX_RESPONSE_HEADER: usize = 8 * 1024;

/// An HTTP response body being hashed, for the trap's sample hashes.
struct Body {
    /// The header so far, until its blank line is found.
    header: Vec<u8>,
    hasher: Option<Sha256>,
    /// Body bytes hashed.
    length: u64,
    /// What `Content-Length` says, if it does.
    expected: Option<u64>,
}

/// Feeds packets in capture order; [`Analyzer::finish`] gives the alerts.
pub struct Analyzer {
    state: State,
    streams: Streams,
}

/// The tallies, apart from the reassembler so both can be borrowed at once.
struct State {
    limits: Limits,
    sources: Map<IpAddr, SourceState>,
    pairs: Map<(IpAddr, IpAddr), PairState>,
    counters: Counters,
    /// What the trap learned.
    indicators: Indicators,
    /// HTTP responses being hashed (only with sample hashes to match; at most one
    /// per tracked flow).
    bodies: Map<FlowKey, Body>,
    /// SSH client openings being read (up to [`crate::ssh::MAX_HELLO`] bytes each).
    ssh_hellos: Map<FlowKey, Vec<u8>>,
    /// The latest capture time seen (for what the end of the capture reveals).
    last_time: f64,
    /// The exploit table.
    exploits: crate::exploits::Exploits,
}

/// The result of a capture's analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Alerts, most severe first, then by source.
    pub alerts: Vec<Alert>,
    /// Every SSH client seen (any port), by source and target.
    pub ssh_clients: Vec<SshClient>,
    /// What was decoded.
    pub counters: Counters,
}

/// An SSH client the capture shows: who, to where, what it said it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SshClient {
    /// The client.
    pub src: IpAddr,
    /// The server.
    pub dst: IpAddr,
    /// The server's port of its first connection.
    pub dst_port: Option<u16>,
    /// Its identification line.
    pub version: String,
    /// Its HASSH (none if its KEXINIT was not seen whole).
    pub hassh: Option<String>,
    /// What the HASSH is the digest of.
    pub hassh_algorithms: Option<String>,
    /// Connections it made.
    pub connections: u64,
}

impl Analyzer {
    /// An analyzer with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self::with_indicators(limits, Indicators::default())
    }

    /// An analyzer that also matches what the trap learned.
    pub fn with_indicators(limits: Limits, indicators: Indicators) -> Self {
        Self {
            streams: Streams::new(limits.streams),
            state: State {
                limits,
                sources: Map::default(),
                pairs: Map::default(),
                counters: Counters::default(),
                indicators,
                bodies: Map::default(),
                ssh_hellos: Map::default(),
                last_time: 0.0,
                exploits: crate::exploits::Exploits::default(),
            },
        }
    }

    /// One captured frame: `number` counts from 1, `time` in seconds since the epoch;
    /// `link` is `None` for a link type with no decoder.
    pub fn frame(&mut self, number: u64, time: f64, link: Option<LinkType>, bytes: &[u8]) {
        let counters = &mut self.state.counters;
        counters.frames += 1;
        let Some(link) = link else {
            counters.unknown_link += 1;
            return;
        };
        match decode(link, bytes) {
            Ok(packet) => self.packet(number, time, &packet),
            Err(DecodeError::NotIp) => counters.not_ip += 1,
            Err(DecodeError::Malformed) => counters.malformed += 1,
            Err(DecodeError::Fragment) => {
                counters.ip += 1;
                counters.fragments += 1;
            }
        }
    }

    /// One decoded packet.
    pub fn packet(&mut self, number: u64, time: f64, p: &Packet<'_>) {
        self.state.counters.ip += 1;
        if p.cut {
            self.state.counters.cut += 1;
        }
        if time > self.state.last_time {
            self.state.last_time = time;
        }
        if self.state.indicators.attackers.contains(&p.src) {
            if let Some(rare) = self.state.floods(p.src) {
                rare.trap_attacker
                    .hit(number, time, || "source attacked the trap".to_string());
                rare.trap_attacker.target(p.dst, 1024);
            }
        }
        match p.transport {
            Transport::Tcp(tcp) => {
                self.state.counters.tcp += 1;
                self.state.tcp_packet(number, time, p, &tcp);
                let segment = stream::Segment {
                    src: (p.src, tcp.sport),
                    dst: (p.dst, tcp.dport),
                    seq: tcp.seq,
                    ack: tcp.ack.then_some(tcp.ack_number),
                    syn: tcp.syn,
                    fin: tcp.fin,
                    rst: tcp.rst,
                    payload: tcp.payload,
                };
                let state = &mut self.state;
                self.streams
                    .segment(time, &segment, &mut |c| state.chunk(number, time, &c));
            }
            Transport::Udp(udp) => {
                self.state.counters.udp += 1;
                self.state.udp_packet(number, time, p, &udp);
            }
            Transport::Other {
                protocol: 47,
                payload,
            } => self.state.gre_packet(number, time, p, payload),
            Transport::Other { .. } => {}
        }
    }

    /// The alerts, most severe first. Bytes still held by the reassembler (flows
    /// open at the end of the capture) are inspected first.
    pub fn finish(mut self) -> Report {
        // The packet number of evidence found now is the capture's last.
        let (last, time) = (self.state.counters.frames, self.state.last_time);
        let state = &mut self.state;
        self.streams.finish(&mut |c| state.chunk(last, time, &c));
        state.counters.streams = self.streams.counters().clone();
        self.state.report()
    }

    /// The alerts so far, without ending anything (for live capture): bytes the
    /// reassembler still holds are not in it yet.
    pub fn snapshot(&self) -> Report {
        let mut report = self.state.report();
        report.counters.streams = self.streams.counters().clone();
        report
    }
}

impl State {
    fn tcp_packet(&mut self, number: u64, time: f64, p: &Packet<'_>, tcp: &Tcp<'_>) {
        let to_telnet = TELNET_PORTS.contains(&tcp.dport);
        let from_telnet = TELNET_PORTS.contains(&tcp.sport);
        if tcp.syn && !tcp.ack && to_telnet {
            let limit = self.limits.max_targets_per_source;
            let mirai = is_mirai_syn(p, tcp);
            if let Some(source) = self.source(p.src) {
                source
                    .telnet_syn
                    .hit(number, time, || format!("dport {}", tcp.dport));
                source.telnet_syn.target(p.dst, limit);
                if mirai {
                    source
                        .mirai_syn
                        .hit(number, time, || format!("seq {:08x} = dst", tcp.seq));
                    source.mirai_syn.target(p.dst, limit);
                }
            }
        }
        if tcp.syn && !tcp.ack && crate::ssh::SSH_PORTS.contains(&tcp.dport) {
            let limit = self.limits.max_targets_per_source;
            if let Some(source) = self.source(p.src) {
                source
                    .ssh_syn
                    .hit(number, time, || format!("dport {}", tcp.dport));
                source.ssh_syn.target(p.dst, limit);
            }
        }
        if tcp.syn && tcp.ack && from_telnet {
            // The server accepted: the pair is (client, server).
            if let Some(pair) = self.pair(p.dst, p.src) {
                let new_port = pair.client_ports.len() >= MAX_PORTS_PER_PAIR
                    || pair.client_ports.insert(tcp.dport);
                if new_port {
                    pair.connections.ports(tcp.dport, tcp.sport);
                    pair.connections
                        .hit(number, time, || format!("SYN-ACK to port {}", tcp.dport));
                }
            }
        }
        if tcp.syn && !tcp.ack {
            self.endpoint_contact(number, time, p, tcp.sport, tcp.dport, "SYN");
        }
        if tcp.syn && !tcp.ack && tcp.window == 0 && is_syn_flood_options(tcp.options) {
            let limit = self.limits.max_targets_per_source;
            if let Some(floods) = self.floods(p.src) {
                floods.syn.hit(number, time, || hex::encode(tcp.options));
                floods.syn.target(p.dst, limit);
            }
        }
        if tcp.ack
            && !(tcp.syn || tcp.fin || tcp.rst || tcp.psh)
            && tcp.options.is_empty()
            && tcp.payload.len() == FLOOD_PAYLOAD
            && !p.dont_fragment
        {
            let limit = self.limits.max_targets_per_source;
            if let Some(floods) = self.floods(p.src) {
                floods.ack.hit(number, time, tcp.dport, || {
                    format!(
                        "ACK, {FLOOD_PAYLOAD} bytes, no options, to port {}",
                        tcp.dport
                    )
                });
                floods.ack.tally.target(p.dst, limit);
            }
        }
    }

    fn udp_packet(&mut self, number: u64, time: f64, p: &Packet<'_>, udp: &Udp<'_>) {
        self.endpoint_contact(number, time, p, udp.sport, udp.dport, "UDP");
        let limit = self.limits.max_targets_per_source;
        if udp.dport == VSE_PORT && udp.payload == VSE_PAYLOAD {
            if let Some(floods) = self.floods(p.src) {
                floods
                    .vse
                    .hit(number, time, udp.sport, || hex::encode(VSE_PAYLOAD));
                floods.vse.tally.target(p.dst, limit);
            }
        }
        if udp.payload.len() == FLOOD_PAYLOAD {
            if let Some(floods) = self.floods(p.src) {
                floods.udp.hit(number, time, udp.dport, || {
                    format!("{FLOOD_PAYLOAD} bytes to port {}", udp.dport)
                });
                floods.udp.tally.target(p.dst, limit);
            }
        }
        if udp.dport == 53 {
            if let Some(query) = parse_dns_query(udp.payload) {
                self.dns_query(number, time, p, &query);
            }
        }
    }

    /// A connection attempt or datagram to an endpoint the trap learned.
    fn endpoint_contact(
        &mut self,
        number: u64,
        time: f64,
        p: &Packet<'_>,
        sport: u16,
        dport: u16,
        what: &str,
    ) {
        if self.indicators.addresses.is_empty() {
            return;
        }
        let hits: Vec<(EndpointKind, String)> = self
            .indicators
            .endpoints(p.dst, dport)
            .map(|e| {
                (
                    e.kind,
                    format!("{what} to {} (trap: {})", dport, e.indicator),
                )
            })
            .collect();
        for (kind, matched) in hits {
            self.trap_hit(number, time, (p.src, sport), (p.dst, dport), kind, matched);
        }
    }

    fn trap_hit(
        &mut self,
        number: u64,
        time: f64,
        from: (IpAddr, u16),
        to: (IpAddr, u16),
        kind: EndpointKind,
        matched: String,
    ) {
        if let Some(pair) = self.pair(from.0, to.0) {
            let tally = match kind {
                EndpointKind::C2 => &mut pair.trap_c2,
                EndpointKind::Download => &mut pair.trap_download,
            };
            tally.ports(from.1, to.1);
            tally.hit(number, time, || matched);
        }
    }

    fn dns_query(&mut self, number: u64, time: f64, p: &Packet<'_>, q: &DnsQuery<'_>) {
        if !self.indicators.names.is_empty() {
            let name = dotted(q.name);
            let hits: Vec<(EndpointKind, String)> = self
                .indicators
                .names
                .get(&name)
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e.kind,
                        format!("DNS lookup of {name} (trap: {})", e.indicator),
                    )
                })
                .collect();
            for (kind, matched) in hits {
                self.trap_hit(number, time, (p.src, 0), (p.dst, 53), kind, matched);
            }
        }
        let to_google = p.dst == IpAddr::V4(GOOGLE_DNS) && q.recursion_desired && q.qtype == 1;
        let first = q
            .name
            .split_first()
            .and_then(|(&len, rest)| rest.get(..usize::from(len)));
        let torture = first.filter(|l| l.len() == 12).map(is_torture_label);
        if !to_google && torture.is_none() {
            return;
        }
        let limit = self.limits.max_targets_per_source;
        let mut untracked = false;
        if let Some(floods) = self.floods(p.src) {
            if to_google {
                floods
                    .google_dns
                    .hit(number, time, || format!("A {}", dotted(q.name)));
            }
            // The domain under the random label.
            let domain = q.name.get(13..).filter(|d| !d.is_empty()).map(dotted);
            if let (Some(matching), Some(domain)) = (torture, domain) {
                let known = floods.torture.iter().position(|t| t.domain == domain);
                let index = match known {
                    Some(i) => Some(i),
                    None if floods.torture.len() < MAX_DOMAINS_PER_SOURCE => {
                        floods.torture.push(Torture {
                            domain,
                            matching: Tally::default(),
                            other: 0,
                        });
                        Some(floods.torture.len() - 1)
                    }
                    None => None,
                };
                match index.and_then(|i| floods.torture.get_mut(i)) {
                    Some(t) if matching => {
                        t.matching.hit(number, time, || dotted(q.name));
                        t.matching.target(p.dst, limit);
                    }
                    Some(t) => t.other += 1,
                    None => untracked = true,
                }
            }
        }
        if untracked {
            self.counters.untracked += 1;
        }
    }

    fn gre_packet(&mut self, number: u64, time: f64, p: &Packet<'_>, gre: &[u8]) {
        let Some(outer_id) = p.ip_id else {
            return;
        };
        if !is_mirai_gre(outer_id, gre) {
            return;
        }
        let limit = self.limits.max_targets_per_source;
        if let Some(floods) = self.floods(p.src) {
            floods.gre.hit(number, time, || {
                format!(
                    "outer id {outer_id:04x}, inner id {:04x}",
                    !outer_id.wrapping_sub(1000)
                )
            });
            floods.gre.target(p.dst, limit);
        }
    }

    /// A piece of a reassembled stream; returns whether more of this direction is
    /// of use.
    fn chunk(&mut self, number: u64, time: f64, c: &Chunk<'_>) -> bool {
        self.inspect(number, time, c);
        self.wants_more(c)
    }

    /// Whether any detector still reads this direction: telnet throughout; a client's
    /// opening until it is judged and HTTP requests throughout; a response only
    /// while its body is hashed for the trap's samples; any stream until its first
    /// bytes tell what it is.
    fn wants_more(&self, c: &Chunk<'_>) -> bool {
        if c.end {
            return false;
        }
        if TELNET_PORTS.contains(&c.flow.server.1) || c.start.len() < stream::START {
            return true;
        }
        if c.from_client && self.ssh_hellos.contains_key(&c.flow) {
            return true;
        }
        if c.from_client {
            c.head.is_some_and(|h| h.len() < stream::HEAD)
                || HTTP_METHODS.iter().any(|m| c.start.starts_with(m))
        } else {
            self.bodies.contains_key(&c.flow)
        }
    }

    /// Runs the content detectors over a piece of a stream.
    fn inspect(&mut self, number: u64, time: f64, c: &Chunk<'_>) {
        let (client, server) = (c.flow.client, c.flow.server);
        // Matches that end in the new bytes (the rest were counted before).
        let fresh = |finder: &Finder<'static>| {
            let len = finder.needle().len();
            finder
                .find_iter(c.bytes)
                .filter(|&at| at + len > c.new_from)
                .count() as u64
        };
        let finders = &*FINDERS;
        let telnet = TELNET_PORTS.contains(&server.1);
        if !c.from_client && !self.indicators.hashes.is_empty() {
            self.response_body(number, time, c);
        }
        if c.from_client && (c.start.starts_with(b"SSH-") || c.end) {
            self.ssh_hello(number, time, c);
        }
        if c.end {
            return;
        }
        if !c.from_client {
            if telnet {
                let n = fresh(&finders.login_incorrect);
                if n > 0 {
                    if let Some(pair) = self.pair(client.0, server.0) {
                        for _ in 0..n {
                            pair.failures
                                .hit(number, time, || "Login incorrect".to_string());
                        }
                    }
                }
            }
            return;
        }
        if let Some(head) = c.head {
            self.client_head(number, time, c.flow, head, c.head_before);
        }
        let mut hits: Vec<(Hit, u64)> = Vec::new();
        if telnet {
            let n = fresh(&finders.client_reply);
            if n > 0 {
                hits.push((Hit::Fingerprint, n));
            }
            for (i, marker) in finders.shell_markers.iter().enumerate() {
                let n = fresh(marker);
                if n > 0 {
                    hits.push((Hit::Marker(i), n));
                }
            }
        }
        let mut probes: Vec<&[u8]> = Vec::new();
        if telnet {
            probes.extend(
                probe_words(c.bytes)
                    .filter(|(end, _)| *end >= c.new_from)
                    .map(|(_, w)| w),
            );
        }
        if !probes.is_empty() {
            if let Some(pair) = self.pair(client.0, server.0) {
                pair.probes.ports(client.1, server.1);
                for word in probes {
                    let word = String::from_utf8_lossy(word).into_owned();
                    if pair.probe_words.len() < MAX_PROBE_WORDS && !pair.probe_words.contains(&word)
                    {
                        pair.probe_words.push(word.clone());
                    }
                    pair.probes
                        .hit(number, time, || format!("/bin/busybox {word}"));
                }
            }
        }
        if HTTP_METHODS.iter().any(|m| c.start.starts_with(m)) {
            for (i, agent) in finders.agents.iter().enumerate() {
                let n = fresh(agent);
                if n > 0 {
                    hits.push((Hit::Agent(i), n));
                }
            }
            let n = fresh(&finders.lowercase_length);
            if n > 0 {
                hits.push((Hit::LowercaseLength, n));
            }
        }
        if hits.is_empty() {
            return;
        }
        let Some(pair) = self.pair(client.0, server.0) else {
            return;
        };
        for (hit, n) in hits {
            let tally = match hit {
                Hit::Fingerprint => &mut pair.fingerprint,
                Hit::Agent(_) => &mut pair.http_agents,
                Hit::LowercaseLength => &mut pair.http_lowercase,
                Hit::Marker(i) => {
                    if !pair.markers.iter().any(|(m, _)| *m == i) {
                        pair.markers.push((i, Tally::default()));
                    }
                    match pair.markers.iter_mut().find(|(m, _)| *m == i) {
                        Some((_, t)) => t,
                        None => continue,
                    }
                }
            };
            tally.ports(client.1, server.1);
            for _ in 0..n {
                tally.hit(number, time, || match hit {
                    Hit::Fingerprint => hex::encode(MIRAI_CLIENT_REPLY),
                    Hit::Marker(i) => SHELL_MARKERS
                        .get(i)
                        .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
                        .unwrap_or_default(),
                    Hit::Agent(i) => HTTP_FLOOD_AGENTS
                        .get(i)
                        .map(|a| String::from_utf8_lossy(a).trim_end().to_string())
                        .unwrap_or_default(),
                    Hit::LowercaseLength => "content-length:".to_string(),
                });
            }
        }
    }

    /// Hashes an HTTP response body (the first response of a flow, up to its
    /// `Content-Length` or the end of the stream) and compares it with the samples
    /// the trap stored.
    /// Gathers a client's SSH opening (identification line and KEXINIT) and, once it
    /// is whole or will not be, counts the connection and its client for the pair.
    fn ssh_hello(&mut self, number: u64, time: f64, c: &Chunk<'_>) {
        use crate::ssh::{parse_hello, Parsed, MAX_HELLO};
        if !self.ssh_hellos.contains_key(&c.flow) {
            // Only streams whose first bytes arrive here (offset 0) are read.
            if c.end || c.offset > 0 || self.ssh_hellos.len() >= MAX_SSH_HELLOS {
                if !c.end && c.offset == 0 {
                    self.counters.untracked += 1;
                }
                return;
            }
            self.ssh_hellos.insert(c.flow, Vec::new());
        }
        let Some(buffer) = self.ssh_hellos.get_mut(&c.flow) else {
            return;
        };
        let new = c.bytes.get(c.new_from..).unwrap_or_default();
        let room = MAX_HELLO.saturating_sub(buffer.len());
        buffer.extend_from_slice(new.get(..new.len().min(room)).unwrap_or(new));
        let complete = c.end || buffer.len() >= MAX_HELLO;
        let hello = match parse_hello(buffer, complete) {
            Parsed::NeedMore => return,
            Parsed::NotSsh => None,
            Parsed::Done(hello) => Some(hello),
        };
        self.ssh_hellos.remove(&c.flow);
        let Some(hello) = hello else {
            return;
        };
        let (client, server) = (c.flow.client, c.flow.server);
        let Some(pair) = self.pair(client.0, server.0) else {
            return;
        };
        let ssh = pair.ssh.get_or_insert_with(Box::default);
        ssh.connections.ports(client.1, server.1);
        let version = hello.version.clone();
        ssh.connections.hit(number, time, || version);
        if let Some((_, n)) = ssh.clients.iter_mut().find(|(h, _)| *h == hello) {
            *n += 1;
        } else if ssh.clients.len() < MAX_SSH_CLIENTS_PER_PAIR {
            ssh.clients.push((hello, 1));
        }
    }

    fn response_body(&mut self, number: u64, time: f64, c: &Chunk<'_>) {
        let body = match self.bodies.entry(c.flow) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            // Only at the start of a response stream.
            std::collections::hash_map::Entry::Vacant(v) => {
                if c.end || c.offset > 0 || !c.start.starts_with(b"HTTP/1.") {
                    return;
                }
                v.insert(Body {
                    header: Vec::new(),
                    hasher: None,
                    length: 0,
                    expected: None,
                })
            }
        };
        let mut fresh = c.bytes.get(c.new_from..).unwrap_or_default();
        if body.hasher.is_none() {
            let before = body.header.len();
            body.header.extend_from_slice(fresh);
            match memchr::memmem::find(&body.header, b"\r\n\r\n") {
                Some(at) => {
                    let header_end = at + 4;
                    body.expected =
                        content_length(body.header.get(..header_end).unwrap_or_default());
                    fresh = fresh
                        .get(header_end.saturating_sub(before)..)
                        .unwrap_or_default();
                    body.header = Vec::new();
                    body.hasher = Some(Sha256::new());
                }
                None if body.header.len() > MAX_RESPONSE_HEADER || c.end => {
                    self.bodies.remove(&c.flow);
                    return;
                }
                None => return,
            }
        }
        let take = body.expected.map_or(fresh.len() as u64, |e| {
            e.saturating_sub(body.length).min(fresh.len() as u64)
        });
        if let Some(hasher) = body.hasher.as_mut() {
            hasher.update(
                fresh
                    .get(..usize::try_from(take).unwrap_or(usize::MAX))
                    .unwrap_or_default(),
            );
        }
        body.length += take;
        let complete = body.expected.is_some_and(|e| body.length >= e);
        if !(complete || c.end) {
            return;
        }
        let Some(body) = self.bodies.remove(&c.flow) else {
            return;
        };
        let (Some(hasher), length) = (body.hasher, body.length) else {
            return;
        };
        let digest: [u8; 32] = hasher.finalize().into();
        if length > 0 && self.indicators.hashes.contains(&digest) {
            let (client, server) = (c.flow.client, c.flow.server);
            if let Some(pair) = self.pair(client.0, server.0) {
                pair.trap_sample.ports(client.1, server.1);
                pair.trap_sample.hit(number, time, || {
                    format!("sha256 {} ({length} bytes)", hex::encode(digest))
                });
            }
        }
    }

    /// The report, C2 and downloader flows (§1.6, §4.4, §3.6), judged by the
    /// client's first bytes as they grow; each fires at most once per flow.
    fn client_head(&mut self, number: u64, time: f64, flow: FlowKey, head: &[u8], before: usize) {
        let (client, server) = (flow.client, flow.server);
        let mut found: Option<(Found, String)> = None;
        if server.1 == REPORT_PORT {
            if let Some(report) = parse_report(head) {
                found = Some((Found::Report, report));
            }
        }
        if let Some((&len, _)) = head.get(4..).and_then(<[u8]>::split_first) {
            let need = 5 + usize::from(len);
            let complete = before < need && need <= head.len();
            let only_keepalives = head.get(need..).is_some_and(|r| r.iter().all(|&b| b == 0));
            if complete && only_keepalives && head.starts_with(&C2_HELLO) {
                if let Some(id) = head.get(4..need).and_then(parse_bot_id) {
                    found = Some((Found::C2, format!("00000001 id {id}")));
                }
            }
        }
        if let Some(end) = memchr::memmem::find(head, b"\r\n\r\n").map(|at| at + 4) {
            if end == head.len() && end > before {
                if let Some(request) = bins_request(head) {
                    found = Some((Found::Bins, request));
                }
            }
            if let Some(hit) = self.exploits.judge(head, before) {
                let Some(pair) = self.pair(client.0, server.0) else {
                    return;
                };
                let key = (hit.name, hit.cve);
                let at = match pair.exploits.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        pair.exploits.push((key, Tally::default()));
                        pair.exploits.len() - 1
                    }
                };
                if let Some((_, tally)) = pair.exploits.get_mut(at) {
                    tally.ports(client.1, server.1);
                    let urls = hit.urls.join(" ");
                    tally.hit(number, time, || format!("{} urls: {urls}", hit.command));
                }
                return;
            }
        }
        let Some((what, matched)) = found else {
            return;
        };
        let Some(pair) = self.pair(client.0, server.0) else {
            return;
        };
        let tally = match what {
            Found::Report => &mut pair.reports,
            Found::C2 => &mut pair.c2,
            Found::Bins => &mut pair.bins,
        };
        tally.ports(client.1, server.1);
        tally.hit(number, time, || matched);
    }

    fn source(&mut self, src: IpAddr) -> Option<&mut SourceState> {
        if !self.sources.contains_key(&src) && self.sources.len() >= self.limits.max_sources {
            self.counters.untracked += 1;
            return None;
        }
        Some(self.sources.entry(src).or_default())
    }

    fn floods(&mut self, src: IpAddr) -> Option<&mut Floods> {
        Some(self.source(src)?.floods.get_or_insert_with(Box::default))
    }

    fn pair(&mut self, src: IpAddr, dst: IpAddr) -> Option<&mut PairState> {
        let key = (src, dst);
        if !self.pairs.contains_key(&key) && self.pairs.len() >= self.limits.max_pairs {
            self.counters.untracked += 1;
            return None;
        }
        Some(self.pairs.entry(key).or_default())
    }

    fn report(&self) -> Report {
        let mut alerts = Vec::new();
        for (src, s) in &self.sources {
            if s.mirai_syn.count >= MIRAI_SYN_MIN {
                alerts.push(s.mirai_syn.alert(
                    "mirai-syn-scan",
                    "Mirai scanner SYNs: TCP sequence number equals the destination address, no options".into(),
                    Severity::High,
                    *src,
                ));
            }
            if s.telnet_syn.targets() >= TELNET_SCAN_MIN_TARGETS {
                alerts.push(s.telnet_syn.alert(
                    "telnet-scan",
                    format!(
                        "telnet scanning: SYNs to ports {:?} across many addresses",
                        TELNET_PORTS
                    ),
                    Severity::Medium,
                    *src,
                ));
            }
            if s.ssh_syn.targets() >= TELNET_SCAN_MIN_TARGETS {
                alerts.push(s.ssh_syn.alert(
                    "ssh-scan",
                    format!(
                        "SSH scanning: SYNs to ports {:?} across many addresses",
                        crate::ssh::SSH_PORTS
                    ),
                    Severity::Medium,
                    *src,
                ));
            }
            if let Some(floods) = &s.floods {
                flood_alerts(*src, floods, &mut alerts);
            }
        }
        let mut ssh_clients = Vec::new();
        for ((src, dst), pair) in &self.pairs {
            pair_alerts(*src, *dst, pair, &mut alerts);
            if let Some(ssh) = &pair.ssh {
                for (hello, connections) in &ssh.clients {
                    ssh_clients.push(SshClient {
                        src: *src,
                        dst: *dst,
                        dst_port: ssh.connections.ports.map(|(_, d)| d),
                        version: hello.version.clone(),
                        hassh: hello.hassh.clone(),
                        hassh_algorithms: hello.hassh_algorithms.clone(),
                        connections: *connections,
                    });
                }
            }
        }
        ssh_clients.sort_by(|a, b| {
            (a.src, a.dst, &a.version, &a.hassh).cmp(&(b.src, b.dst, &b.version, &b.hassh))
        });
        // Direct lookups at 8.8.8.8 only corroborate: reported for hosts with
        // another alert.
        let alerting: HashSet<IpAddr> = alerts.iter().map(|a| a.src).collect();
        for (src, s) in &self.sources {
            let Some(floods) = &s.floods else { continue };
            if floods.google_dns.count > 0 && alerting.contains(src) {
                let mut a = floods.google_dns.alert(
                    "dns-direct-8888",
                    "DNS queries straight to 8.8.8.8 (as Mirai's own resolver does); corroborates the host's other alerts".into(),
                    Severity::Low,
                    *src,
                );
                a.proto = "udp";
                a.dst = Some(IpAddr::V4(GOOGLE_DNS));
                alerts.push(a);
            }
        }
        alerts.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.id.cmp(b.id))
                .then(a.src.cmp(&b.src))
                .then(a.dst.cmp(&b.dst))
                .then(a.title.cmp(&b.title))
        });
        Report {
            alerts,
            ssh_clients,
            counters: self.counters.clone(),
        }
    }
}

/// The content markers' searchers, built once.
struct Finders {
    login_incorrect: Finder<'static>,
    client_reply: Finder<'static>,
    shell_markers: Vec<Finder<'static>>,
    agents: Vec<Finder<'static>>,
    lowercase_length: Finder<'static>,
    probe: Finder<'static>,
}

static FINDERS: LazyLock<Finders> = LazyLock::new(|| Finders {
    login_incorrect: Finder::new(LOGIN_INCORRECT),
    client_reply: Finder::new(&MIRAI_CLIENT_REPLY),
    shell_markers: SHELL_MARKERS.iter().map(|(m, _)| Finder::new(*m)).collect(),
    agents: HTTP_FLOOD_AGENTS.iter().map(|a| Finder::new(*a)).collect(),
    lowercase_length: Finder::new(LOWERCASE_CONTENT_LENGTH),
    probe: Finder::new(b"/bin/busybox "),
});

/// What a client stream's piece matched.
#[derive(Clone, Copy)]
enum Hit {
    Fingerprint,
    Marker(usize),
    Agent(usize),
    LowercaseLength,
}

/// What a client's opening bytes were.
enum Found {
    Report,
    C2,
    Bins,
}

/// One target when all packets went to one, else none.
fn single_target(t: &Tally) -> Option<IpAddr> {
    (t.targets.len() == 1 && t.targets_beyond == 0)
        .then(|| t.targets.iter().next().copied())
        .flatten()
}

fn flood_alerts(src: IpAddr, f: &Floods, alerts: &mut Vec<Alert>) {
    let mut push = |t: &Tally, id, title: String, severity, proto| {
        let mut a = t.alert(id, title, severity, src);
        a.proto = proto;
        a.dst = single_target(t);
        alerts.push(a);
    };
    if f.trap_attacker.count > 0 {
        push(
            &f.trap_attacker,
            "trap-attacker",
            "traffic from an address that attacked the trap".into(),
            Severity::Medium,
            "ip",
        );
    }
    if f.vse.tally.count >= VSE_FLOOD_MIN && f.vse.ports.len() >= FLOOD_MIN_PORTS {
        push(
            &f.vse.tally,
            "mirai-vse-flood",
            format!(
                "Mirai VSE flood: Source Engine queries to {VSE_PORT} from {}{} source ports",
                f.vse.ports.len(),
                if f.vse.ports.len() >= MAX_FLOOD_PORTS {
                    "+"
                } else {
                    ""
                }
            ),
            Severity::High,
            "udp",
        );
    }
    if f.syn.count >= FLOOD_SIGNATURE_MIN {
        push(
            &f.syn,
            "mirai-syn-flood",
            "Mirai SYN flood: window 0, options MSS 1400-1415, SACK, TS (TSecr 0), NOP, WS 6"
                .into(),
            Severity::High,
            "tcp",
        );
    }
    if f.ack.is_volume_flood(FLOOD_MIN_PACKETS) && f.ack.ports.len() >= FLOOD_MIN_PORTS {
        push(
            &f.ack.tally,
            "mirai-ack-flood",
            format!("ACK flood: {FLOOD_PAYLOAD}-byte ACK segments without options to many ports"),
            Severity::Medium,
            "tcp",
        );
    }
    if f.udp.is_volume_flood(FLOOD_MIN_PACKETS) {
        push(
            &f.udp.tally,
            "udp-flood",
            format!("UDP flood: {FLOOD_PAYLOAD}-byte datagrams at a flood's rate (Mirai's udp and udpplain)"),
            Severity::Medium,
            "udp",
        );
    }
    if f.gre.count >= FLOOD_SIGNATURE_MIN {
        push(
            &f.gre,
            "mirai-gre-flood",
            "Mirai GRE flood: inner IP id = ~(outer id - 1000)".into(),
            Severity::High,
            "gre",
        );
    }
    for t in &f.torture {
        if t.matching.count >= DNS_TORTURE_MIN && t.other * 10 <= t.matching.count {
            push(
                &t.matching,
                "dns-water-torture",
                format!(
                    "DNS water torture against {}: random [a-w0-8]{{12}} labels (Mirai's dns vector)",
                    t.domain
                ),
                Severity::High,
                "udp",
            );
        }
    }
}

fn pair_alerts(src: IpAddr, dst: IpAddr, pair: &PairState, alerts: &mut Vec<Alert>) {
    let pair_alert = |t: &Tally, id, title: &str, severity| {
        let mut a = t.alert(id, title.to_string(), severity, src);
        a.dst = Some(dst);
        a.targets = 1;
        a
    };
    if pair.connections.count >= BRUTE_FORCE_MIN_CONNECTIONS
        || pair.failures.count >= BRUTE_FORCE_MIN_FAILURES
    {
        let title = format!(
            "telnet brute force: {} connections, {} failed logins",
            pair.connections.count, pair.failures.count
        );
        let basis = if pair.connections.count == 0 {
            &pair.failures
        } else {
            &pair.connections
        };
        alerts.push(pair_alert(
            basis,
            "telnet-bruteforce",
            &title,
            Severity::Medium,
        ));
    }
    if let Some(ssh) = pair
        .ssh
        .as_ref()
        .filter(|s| s.connections.count >= SSH_BRUTE_FORCE_MIN_CONNECTIONS)
    {
        let clients: Vec<String> = ssh
            .clients
            .iter()
            .map(|(h, _)| match &h.hassh {
                Some(hassh) => format!("{} (HASSH {hassh})", h.version),
                None => h.version.clone(),
            })
            .collect();
        let title = format!(
            "SSH brute force: {} connections from {}",
            ssh.connections.count,
            clients.join(", ")
        );
        alerts.push(pair_alert(
            &ssh.connections,
            "ssh-bruteforce",
            &title,
            Severity::Medium,
        ));
    }
    if pair.fingerprint.count > 0 {
        alerts.push(pair_alert(
            &pair.fingerprint,
            "mirai-telnet-client",
            "Mirai's telnet client: its exact answer to BusyBox telnetd's options",
            Severity::High,
        ));
    }
    for (tally, id, title) in [
        (
            &pair.reports,
            "mirai-report",
            "Mirai scan report to a report server (victim and credential)",
        ),
        (
            &pair.c2,
            "mirai-c2-handshake",
            "Mirai C2 handshake (00 00 00 01, bot id)",
        ),
        (
            &pair.bins,
            "mirai-bins-download",
            "Mirai downloader request: GET /bins/... with no headers",
        ),
        (
            &pair.trap_c2,
            "trap-c2-contact",
            "contact with a C2 recovered from a sample the trap caught",
        ),
        (
            &pair.trap_download,
            "trap-download-host",
            "contact with a host bots downloaded from on the trap",
        ),
        (
            &pair.trap_sample,
            "trap-sample-download",
            "download of a file a bot dropped on the trap (same SHA-256)",
        ),
    ] {
        if tally.count > 0 {
            alerts.push(pair_alert(tally, id, title, Severity::High));
        }
    }
    for ((name, cve), tally) in &pair.exploits {
        let cve = cve
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        alerts.push(pair_alert(
            tally,
            "iot-web-exploit",
            &format!(
                "IoT web exploit {name}{cve}: a command line injected into a device's web service"
            ),
            Severity::High,
        ));
    }
    for (i, tally) in &pair.markers {
        let what = SHELL_MARKERS.get(*i).map_or("", |(_, w)| w);
        alerts.push(pair_alert(
            tally,
            "mirai-shell-content",
            &format!("Mirai-family shell content: {what}"),
            Severity::High,
        ));
    }
    if pair.probes.count > 0 {
        alerts.push(pair_alert(
            &pair.probes,
            "mirai-shell-content",
            &format!(
                "Mirai-family shell content: unknown-applet probe of a variant ({})",
                pair.probe_words.join(", ")
            ),
            Severity::High,
        ));
    }
    let agents = pair.http_agents.count >= HTTP_FLOOD_MIN_REQUESTS;
    let lowercase = pair.http_lowercase.count >= HTTP_LOWERCASE_LENGTH_MIN;
    if agents || lowercase {
        let title = format!(
            "Mirai HTTP flood: {} requests with its 2016 user agents, {} with a lower-case content-length",
            pair.http_agents.count, pair.http_lowercase.count
        );
        let basis = if agents {
            &pair.http_agents
        } else {
            &pair.http_lowercase
        };
        alerts.push(pair_alert(
            basis,
            "mirai-http-flood",
            &title,
            Severity::High,
        ));
    }
}

/// §2.2: a SYN whose sequence number is its IPv4 destination, with no TCP options.
fn is_mirai_syn(p: &Packet<'_>, tcp: &Tcp<'_>) -> bool {
    match p.dst {
        IpAddr::V4(dst) => tcp.seq == u32::from(dst) && tcp.options.is_empty(),
        IpAddr::V6(_) => false,
    }
}
