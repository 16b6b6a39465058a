//! The detectors: fed decoded packets in capture order, they keep bounded per-source
//! and per-pair tallies and turn them into [`Alert`]s at the end. Signatures from
//! `reference/mirai-behaviour.md` §1.4, §2.2, §3 and §6b.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::packet::{decode, DecodeError, LinkType, Packet, Tcp, Transport};

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
pub const SHELL_MARKERS: [(&[u8], &str); 11] = [
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
];

/// What BusyBox `login` prints after a wrong password.
const LOGIN_INCORRECT: &[u8] = b"Login incorrect";

/// Mirai SYNs (`seq == dst`, no options) from one source before it is an alert:
/// one could be chance (2^-32 each); a scanner sends ~160 a second.
pub const MIRAI_SYN_MIN: u64 = 3;
/// Distinct addresses one source sends telnet SYNs to before it is scanning.
pub const TELNET_SCAN_MIN_TARGETS: u64 = 10;
/// Telnet connections from one source to one target before it is brute force.
pub const BRUTE_FORCE_MIN_CONNECTIONS: u64 = 5;
/// Failed logins one target reports to one source before it is brute force.
pub const BRUTE_FORCE_MIN_FAILURES: u64 = 3;
/// Packet numbers kept as evidence per alert.
const EVIDENCE_PER_ALERT: usize = 5;

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sources: 65_536,
            max_targets_per_source: 4096,
            max_pairs: 262_144,
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
pub const SIGNATURE_IDS: [(&str, u32); 8] = [
    ("mirai-syn-scan", 9_100_001),
    ("telnet-scan", 9_100_002),
    ("telnet-bruteforce", 9_100_003),
    ("mirai-telnet-client", 9_100_004),
    ("mirai-shell-content", 9_100_005),
    ("mirai-report", 9_100_006),
    ("mirai-c2-handshake", 9_100_007),
    ("mirai-bins-download", 9_100_008),
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
    /// Distinct targets (a lower bound past the limit).
    pub targets: u64,
    /// Packets or events counted.
    pub count: u64,
    /// Capture time of the first and last, seconds since the epoch.
    pub first: f64,
    /// See `first`.
    pub last: f64,
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
    /// Malformed or truncated.
    pub malformed: u64,
    /// IP fragments (not reassembled).
    pub fragments: u64,
    /// Frames of a link type there is no decoder for.
    pub unknown_link: u64,
    /// Sources or pairs not tallied because a table was full.
    pub untracked: u64,
}

/// A running count with its first and last time and a few packet numbers.
#[derive(Clone, Debug, Default)]
struct Tally {
    count: u64,
    first: f64,
    last: f64,
    evidence: Vec<Evidence>,
    targets: HashSet<IpAddr>,
    targets_beyond: u64,
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
            targets: self.targets(),
            count: self.count,
            first: self.first,
            last: self.last,
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

#[derive(Default)]
struct SourceState {
    mirai_syn: Tally,
    telnet_syn: Tally,
}

/// Client ports remembered per pair (more connections still count).
const MAX_PORTS_PER_PAIR: usize = 1024;

#[derive(Default)]
struct PairState {
    /// Connections the server accepted (SYN-ACK from a telnet port), one per client
    /// port: retransmitted SYNs of a scan are not connections.
    connections: Tally,
    client_ports: HashSet<u16>,
    /// `Login incorrect` from the target.
    failures: Tally,
    /// Mirai's telnet client reply.
    fingerprint: Tally,
    /// Family content, per marker.
    markers: Vec<(usize, Tally)>,
    /// Reports to a Mirai report server.
    reports: Tally,
    /// C2 handshakes, with the bot id in the evidence.
    c2: Tally,
    /// Header-less `/bins/` downloads.
    bins: Tally,
}

/// Feeds packets in capture order; [`Analyzer::finish`] gives the alerts.
pub struct Analyzer {
    limits: Limits,
    sources: HashMap<IpAddr, SourceState>,
    pairs: HashMap<(IpAddr, IpAddr), PairState>,
    /// Flows whose client sent `00 00 00 01` alone and may send the bot id next.
    c2_hello: HashMap<(IpAddr, u16, IpAddr, u16), u64>,
    counters: Counters,
}

/// The result of a capture's analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Alerts, most severe first, then by source.
    pub alerts: Vec<Alert>,
    /// What was decoded.
    pub counters: Counters,
}

impl Analyzer {
    /// An analyzer with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            sources: HashMap::new(),
            pairs: HashMap::new(),
            c2_hello: HashMap::new(),
            counters: Counters::default(),
        }
    }

    /// One captured frame: `number` counts from 1, `time` in seconds since the epoch;
    /// `link` is `None` for a link type with no decoder.
    pub fn frame(&mut self, number: u64, time: f64, link: Option<LinkType>, bytes: &[u8]) {
        self.counters.frames += 1;
        let Some(link) = link else {
            self.counters.unknown_link += 1;
            return;
        };
        match decode(link, bytes) {
            Ok(packet) => self.packet(number, time, &packet),
            Err(DecodeError::NotIp) => self.counters.not_ip += 1,
            Err(DecodeError::Malformed) => self.counters.malformed += 1,
            Err(DecodeError::Fragment) => {
                self.counters.ip += 1;
                self.counters.fragments += 1;
            }
        }
    }

    /// One decoded packet.
    pub fn packet(&mut self, number: u64, time: f64, p: &Packet<'_>) {
        self.counters.ip += 1;
        match p.transport {
            Transport::Tcp(tcp) => {
                self.counters.tcp += 1;
                self.tcp(number, time, p, &tcp);
            }
            Transport::Udp(_) => self.counters.udp += 1,
            Transport::Other(_) => {}
        }
    }

    fn tcp(&mut self, number: u64, time: f64, p: &Packet<'_>, tcp: &Tcp<'_>) {
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
        if tcp.syn && tcp.ack && from_telnet {
            // The server accepted: the pair is (client, server).
            if let Some(pair) = self.pair(p.dst, p.src) {
                let new_port = pair.client_ports.len() >= MAX_PORTS_PER_PAIR
                    || pair.client_ports.insert(tcp.dport);
                if new_port {
                    pair.connections
                        .hit(number, time, || format!("SYN-ACK to port {}", tcp.dport));
                }
            }
        }
        if tcp.payload.is_empty() {
            return;
        }
        self.mirai_flows(number, time, p, tcp);
        if to_telnet {
            let fingerprint = memchr::memmem::find(tcp.payload, &MIRAI_CLIENT_REPLY).is_some();
            let markers: Vec<usize> = SHELL_MARKERS
                .iter()
                .enumerate()
                .filter(|(_, (m, _))| memchr::memmem::find(tcp.payload, m).is_some())
                .map(|(i, _)| i)
                .collect();
            if !fingerprint && markers.is_empty() {
                return;
            }
            let Some(pair) = self.pair(p.src, p.dst) else {
                return;
            };
            if fingerprint {
                pair.fingerprint
                    .hit(number, time, || hex::encode(MIRAI_CLIENT_REPLY));
            }
            for i in markers {
                let tally = match pair.markers.iter_mut().find(|(m, _)| *m == i) {
                    Some((_, t)) => t,
                    None => {
                        pair.markers.push((i, Tally::default()));
                        match pair.markers.last_mut() {
                            Some((_, t)) => t,
                            None => continue,
                        }
                    }
                };
                let marker = SHELL_MARKERS.get(i).map_or(&b""[..], |(m, _)| m);
                tally.hit(number, time, || {
                    String::from_utf8_lossy(marker).into_owned()
                });
            }
        } else if from_telnet && memchr::memmem::find(tcp.payload, LOGIN_INCORRECT).is_some() {
            // The target answers the source: the pair is (client, server).
            if let Some(pair) = self.pair(p.dst, p.src) {
                pair.failures
                    .hit(number, time, || "Login incorrect".to_string());
            }
        }
    }

    /// The report, C2 and downloader flows (§1.6, §4.4, §3.6).
    fn mirai_flows(&mut self, number: u64, time: f64, p: &Packet<'_>, tcp: &Tcp<'_>) {
        if tcp.dport == REPORT_PORT {
            if let Some(report) = parse_report(tcp.payload) {
                if let Some(pair) = self.pair(p.src, p.dst) {
                    pair.reports.hit(number, time, || report);
                }
            }
        }
        let flow = (p.src, tcp.sport, p.dst, tcp.dport);
        let id = if tcp.payload == C2_HELLO {
            if self.c2_hello.len() < self.limits.max_pairs {
                self.c2_hello.insert(flow, number);
            } else {
                self.counters.untracked += 1;
            }
            None
        } else if let Some(id) = tcp.payload.strip_prefix(&C2_HELLO).and_then(parse_bot_id) {
            Some(id)
        } else if self.c2_hello.remove(&flow).is_some() {
            parse_bot_id(tcp.payload)
        } else {
            None
        };
        if let Some(id) = id {
            if let Some(pair) = self.pair(p.src, p.dst) {
                pair.c2.hit(number, time, || format!("00000001 id {id}"));
            }
        }
        if let Some(request) = bins_request(tcp.payload) {
            if let Some(pair) = self.pair(p.src, p.dst) {
                pair.bins.hit(number, time, || request);
            }
        }
    }

    fn source(&mut self, src: IpAddr) -> Option<&mut SourceState> {
        if !self.sources.contains_key(&src) && self.sources.len() >= self.limits.max_sources {
            self.counters.untracked += 1;
            return None;
        }
        Some(self.sources.entry(src).or_default())
    }

    fn pair(&mut self, src: IpAddr, dst: IpAddr) -> Option<&mut PairState> {
        let key = (src, dst);
        if !self.pairs.contains_key(&key) && self.pairs.len() >= self.limits.max_pairs {
            self.counters.untracked += 1;
            return None;
        }
        Some(self.pairs.entry(key).or_default())
    }

    /// The alerts, most severe first.
    pub fn finish(self) -> Report {
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
        }
        for ((src, dst), pair) in &self.pairs {
            let pair_alert = |t: &Tally, id, title: &str, severity| {
                let mut a = t.alert(id, title.to_string(), severity, *src);
                a.dst = Some(*dst);
                a.targets = 1;
                a
            };
            if pair.connections.count >= BRUTE_FORCE_MIN_CONNECTIONS
                || pair.failures.count >= BRUTE_FORCE_MIN_FAILURES
            {
                let mut a = pair_alert(
                    &pair.connections,
                    "telnet-bruteforce",
                    &format!(
                        "telnet brute force: {} connections, {} failed logins",
                        pair.connections.count, pair.failures.count
                    ),
                    Severity::Medium,
                );
                if pair.connections.count == 0 {
                    a = pair_alert(&pair.failures, "telnet-bruteforce", &a.title, a.severity);
                }
                alerts.push(a);
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
            ] {
                if tally.count > 0 {
                    alerts.push(pair_alert(tally, id, title, Severity::High));
                }
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
            counters: self.counters,
        }
    }
}

/// §2.2: a SYN whose sequence number is its IPv4 destination, with no TCP options.
fn is_mirai_syn(p: &Packet<'_>, tcp: &Tcp<'_>) -> bool {
    match p.dst {
        IpAddr::V4(dst) => tcp.seq == u32::from(dst) && tcp.options.is_empty(),
        IpAddr::V6(_) => false,
    }
}
