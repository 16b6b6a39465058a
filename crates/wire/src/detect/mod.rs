//! The detectors: fed decoded packets in capture order, they keep bounded per-source
//! and per-pair tallies and turn them into [`Alert`]s at the end. Packet signatures
//! (scans, floods, DNS) look at each packet; content signatures (telnet, report, C2,
//! downloads, HTTP) look at the reassembled streams of [`crate::stream`]. Signatures
//! from `reference/mirai-behaviour.md` §1.4, §2.2, §3, §4.1, §4.6 and §6b.

use std::collections::HashSet;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use std::net::IpAddr;

use serde::Serialize;

use sha2::{Digest, Sha256};

use crate::indicators::{EndpointKind, Indicators};
use crate::maps::{Map, Set};
use crate::packet::{decode, DecodeError, LinkType, Packet, Tcp, Transport, Udp};
use crate::stream::{self, Chunk, FlowKey, StreamCounters, StreamLimits, Streams};

mod content;
mod payloads;
mod verdicts;

use payloads::*;
pub use payloads::{
    parse_report, FLOOD_PAYLOAD, GOOGLE_DNS, HTTP_FLOOD_AGENTS, REPORT_PORT, VSE_PAYLOAD, VSE_PORT,
};
use verdicts::{flood_alerts, pair_alerts};

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

    /// What the trap learned, to add to while the capture runs (a fleet's live
    /// indicators): what is added matches from the next packet on.
    pub fn indicators_mut(&mut self) -> &mut Indicators {
        &mut self.state.indicators
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
