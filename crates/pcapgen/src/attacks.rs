//! Labelled attack traffic as Mirai's bot builds it (`reference/mirai-behaviour.md`
//! §4.1, §4.6): the flood vectors byte for byte, DNS water torture, the HTTP flood's
//! requests, and flows whose segments a test can put in any order. Every generator
//! writes into a [`Capture`] and records its ground truth there.

use std::net::Ipv4Addr;

use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder, TcpOptionElement};

use crate::{os_syn_options, tcp_frame, Capture, Flags, Segment};

/// A small deterministic generator (splitmix64): the same seed, the same capture.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// 16 random bits.
    pub fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }

    /// 32 random bits.
    pub fn u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// An address in 10.0.0.0/8 (never one of the fixed ones a test picks in
    /// 10.0.0.0/16).
    pub fn host(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(
            10,
            1 + self.below(250) as u8,
            self.u16() as u8,
            1 + self.below(254) as u8,
        )
    }
}

/// The IPv4 header fields Mirai's raw-socket vectors set by hand.
#[derive(Debug, Clone, Copy)]
pub struct Ip4 {
    /// Source.
    pub src: Ipv4Addr,
    /// Destination.
    pub dst: Ipv4Addr,
    /// Identification.
    pub id: u16,
    /// Don't fragment.
    pub df: bool,
}

impl Ip4 {
    fn headers(&self, protocol: IpNumber) -> IpHeaders {
        let mut h = Ipv4Header::new(0, 64, protocol, self.src.octets(), self.dst.octets())
            .unwrap_or_default();
        h.identification = self.id;
        h.dont_fragment = self.df;
        IpHeaders::Ipv4(h, Default::default())
    }
}

const MACS: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);

/// A UDP datagram with these IP fields, in an Ethernet frame.
pub fn udp4(ip: &Ip4, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MACS.0, MACS.1)
        .ip(ip.headers(IpNumber::UDP))
        .udp(sport, dport);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, payload);
    out
}

/// A TCP segment with these IP fields: flags as `syn`/`ack`/`psh`, options given.
#[allow(clippy::too_many_arguments)]
pub fn tcp4(
    ip: &Ip4,
    sport: u16,
    dport: u16,
    seq: u32,
    window: u16,
    flags: Flags,
    options: &[TcpOptionElement],
    payload: &[u8],
) -> Vec<u8> {
    let base = || {
        PacketBuilder::ethernet2(MACS.0, MACS.1)
            .ip(ip.headers(IpNumber::TCP))
            .tcp(sport, dport, seq, window)
    };
    let mut b = base().options(options).unwrap_or_else(|_| base());
    if flags.syn {
        b = b.syn();
    }
    if let Some(n) = flags.ack {
        b = b.ack(n);
    }
    if flags.psh {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, payload);
    out
}

/// Any IP protocol's payload (GRE here) with these IP fields.
pub fn raw4(ip: &Ip4, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MACS.0, MACS.1).ip(ip.headers(IpNumber(protocol)));
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, IpNumber(protocol), payload);
    out
}

/// Where and how fast a flood goes.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// The bot.
    pub bot: Ipv4Addr,
    /// The victim (for DNS water torture: the resolver).
    pub target: Ipv4Addr,
    /// First packet's time.
    pub t0: f64,
    /// Packets.
    pub packets: u32,
    /// Packets a second.
    pub rate: f64,
}

impl Flood {
    fn time(&self, i: u32) -> f64 {
        self.t0 + f64::from(i) / self.rate
    }

    fn ip(&self, rng: &mut Rng, df: bool) -> Ip4 {
        Ip4 {
            src: self.bot,
            dst: self.target,
            id: rng.u16(),
            df,
        }
    }
}

/// §4.6 `vse`: the Source-engine query to 27015 from a random port per packet.
pub fn vse_flood(cap: &mut Capture, rng: &mut Rng, f: &Flood) {
    for i in 0..f.packets {
        let ip = f.ip(rng, false);
        let frame = udp4(
            &ip,
            rng.u16() | 1024,
            27015,
            b"\xff\xff\xff\xffTSource Engine Query\x00",
        );
        cap.frame(f.time(i), &frame);
    }
    cap.truth.push(("mirai-vse-flood", f.bot));
}

/// §4.6 `syn`: window 0, DF, options MSS 1400-1415, SACK, TS (TSecr 0), NOP, WS 6;
/// random ports and sequence numbers.
pub fn syn_flood(cap: &mut Capture, rng: &mut Rng, f: &Flood) {
    for i in 0..f.packets {
        let ip = f.ip(rng, true);
        let options = [
            TcpOptionElement::MaximumSegmentSize(1400 + rng.below(16) as u16),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Timestamp(rng.u32(), 0),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(6),
        ];
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        let frame = tcp4(&ip, rng.u16(), rng.u16(), rng.u32(), 0, syn, &options, &[]);
        cap.frame(f.time(i), &frame);
    }
    cap.truth.push(("mirai-syn-flood", f.bot));
}

/// §4.6 `ack`: ACK only, no options, 512 random bytes, random ports, sequence
/// numbers and window, DF clear.
pub fn ack_flood(cap: &mut Capture, rng: &mut Rng, f: &Flood) {
    for i in 0..f.packets {
        let ip = f.ip(rng, false);
        let ack = Flags {
            ack: Some(rng.u32()),
            ..Flags::default()
        };
        let payload = rng.bytes(512);
        let frame = tcp4(
            &ip,
            rng.u16(),
            rng.u16(),
            rng.u32(),
            rng.u16(),
            ack,
            &[],
            &payload,
        );
        cap.frame(f.time(i), &frame);
    }
    cap.truth.push(("mirai-ack-flood", f.bot));
}

/// §4.6 `udp`: 512 random bytes to random ports, DF clear.
pub fn udp_flood(cap: &mut Capture, rng: &mut Rng, f: &Flood) {
    for i in 0..f.packets {
        let ip = f.ip(rng, false);
        let payload = rng.bytes(512);
        cap.frame(f.time(i), &udp4(&ip, rng.u16(), rng.u16(), &payload));
    }
    cap.truth.push(("udp-flood", f.bot));
}

/// §4.6 `greip` (or `greeth` with `ethernet`): GRE around an inner IPv4/UDP packet
/// with random addresses whose id is `!(outer id - 1000)`, 512 random bytes.
pub fn gre_flood(cap: &mut Capture, rng: &mut Rng, f: &Flood, ethernet: bool) {
    for i in 0..f.packets {
        let outer = f.ip(rng, true);
        let inner = Ip4 {
            src: Ipv4Addr::from(rng.u32()),
            dst: Ipv4Addr::from(rng.u32()),
            id: !outer.id.wrapping_sub(1000),
            df: true,
        };
        let inner_frame = udp4(&inner, rng.u16(), rng.u16(), &rng.bytes(512));
        let mut gre = Vec::with_capacity(inner_frame.len() + 4);
        if ethernet {
            gre.extend_from_slice(&[0, 0, 0x65, 0x58]);
            gre.extend_from_slice(&rng.bytes(12));
            gre.extend_from_slice(inner_frame.get(12..).unwrap_or_default());
        } else {
            gre.extend_from_slice(&[0, 0, 0x08, 0x00]);
            gre.extend_from_slice(inner_frame.get(14..).unwrap_or_default());
        }
        cap.frame(f.time(i), &raw4(&outer, 47, &gre));
    }
    cap.truth.push(("mirai-gre-flood", f.bot));
}

/// A DNS query (one question, class IN) for `name` in an Ethernet frame.
pub fn dns_query(
    src: Ipv4Addr,
    resolver: Ipv4Addr,
    sport: u16,
    id: u16,
    name: &[u8],
    qtype: u16,
) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    // RD set, one question.
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split(|&b| b == b'.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(label.get(..63).unwrap_or(label));
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    let ip = Ip4 {
        src,
        dst: resolver,
        id: id ^ 0x5a5a,
        df: false,
    };
    udp4(&ip, sport, 53, &q)
}

/// The alphabet of Mirai's `rand_alphastr` (no x, y, z or 9).
const MIRAI_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvw012345678";

/// §4.6 `dns`: queries for `<12 random [a-w0-8]>.<domain>` to a resolver, random
/// source port and id.
pub fn dns_water_torture(cap: &mut Capture, rng: &mut Rng, f: &Flood, domain: &str) {
    for i in 0..f.packets {
        let mut name: Vec<u8> = (0..12)
            .map(|_| {
                let at = rng.below(32) as usize;
                MIRAI_ALPHABET.get(at).copied().unwrap_or(b'a')
            })
            .collect();
        name.push(b'.');
        name.extend_from_slice(domain.as_bytes());
        let frame = dns_query(f.bot, f.target, rng.u16() | 1024, rng.u16(), &name, 1);
        cap.frame(f.time(i), &frame);
    }
    cap.truth.push(("dns-water-torture", f.bot));
}

/// Mirai's HTTP flood user agents (Appendix A).
pub const MIRAI_USER_AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/601.7.7 (KHTML, like Gecko) Version/9.1.2 Safari/601.7.7",
];

/// One request of Mirai's HTTP flood (§4.6): its user agents and fixed headers;
/// a POST adds the form content type and a lower-case `content-length:`.
pub fn mirai_http_request(host: &str, path: &str, agent: usize, post: bool) -> Vec<u8> {
    let ua = MIRAI_USER_AGENTS
        .get(agent % MIRAI_USER_AGENTS.len())
        .copied()
        .unwrap_or_default();
    let method = if post { "POST" } else { "GET" };
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nUser-Agent: {ua}\r\nHost: {host}\r\nConnection: keep-alive\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.8\r\n"
    );
    if post {
        r.push_str("Content-Type: application/x-www-form-urlencoded\r\ncontent-length: 0\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// §4.6 `http`: `requests` keep-alive requests on one connection from `bot` to port
/// 80 of `server`, each answered.
pub fn http_flood(
    cap: &mut Capture,
    bot: (Ipv4Addr, u16),
    server: Ipv4Addr,
    t0: f64,
    requests: usize,
    post: bool,
) {
    let reqs: Vec<Vec<u8>> = (0..requests)
        .map(|i| mirai_http_request("victim.example", "/", i, post))
        .collect();
    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".as_slice();
    let turns: Vec<(bool, &[u8])> = reqs
        .iter()
        .flat_map(|r| [(true, r.as_slice()), (false, reply)])
        .collect();
    crate::tcp_session(cap, bot, (server, 80), &turns, t0);
    cap.truth.push(("mirai-http-flood", bot.0));
}

/// A TCP connection whose data segments a test places itself, in any order: the
/// handshake is written by [`TcpFlow::open`], [`TcpFlow::frame`] gives the frame
/// for bytes at a stream offset.
#[derive(Debug, Clone, Copy)]
pub struct TcpFlow {
    /// The connecting side.
    pub client: (Ipv4Addr, u16),
    /// The accepting side.
    pub server: (Ipv4Addr, u16),
    client_isn: u32,
    server_isn: u32,
}

impl TcpFlow {
    /// Writes the three-way handshake at `t0` (initial sequence numbers chosen so
    /// the client's stream wraps past 2^32 after 100 bytes).
    pub fn open(
        cap: &mut Capture,
        client: (Ipv4Addr, u16),
        server: (Ipv4Addr, u16),
        t0: f64,
    ) -> Self {
        Self::open_with_isns(cap, client, server, (u32::MAX - 100, 7_000), t0)
    }

    /// [`TcpFlow::open`] with the given initial sequence numbers (client, server);
    /// the three segments are 1 ms apart.
    pub fn open_with_isns(
        cap: &mut Capture,
        client: (Ipv4Addr, u16),
        server: (Ipv4Addr, u16),
        (client_isn, server_isn): (u32, u32),
        t0: f64,
    ) -> Self {
        let flow = Self {
            client,
            server,
            client_isn,
            server_isn,
        };
        let options = os_syn_options();
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        cap.frame(t0, &flow.segment(true, client_isn, syn, &options, &[]));
        let syn_ack = Flags {
            syn: true,
            ack: Some(flow.next_seq(true, 0)),
            ..Flags::default()
        };
        cap.frame(
            t0 + 0.001,
            &flow.segment(false, server_isn, syn_ack, &options, &[]),
        );
        let ack = Flags {
            ack: Some(flow.next_seq(false, 0)),
            ..Flags::default()
        };
        cap.frame(
            t0 + 0.002,
            &flow.segment(true, flow.next_seq(true, 0), ack, &[], &[]),
        );
        flow
    }

    /// The sequence number of stream offset `offset` of one direction.
    fn next_seq(&self, from_client: bool, offset: u32) -> u32 {
        let isn = if from_client {
            self.client_isn
        } else {
            self.server_isn
        };
        isn.wrapping_add(1).wrapping_add(offset)
    }

    fn segment(
        &self,
        from_client: bool,
        seq: u32,
        flags: Flags,
        options: &[TcpOptionElement],
        payload: &[u8],
    ) -> Vec<u8> {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        tcp_frame(&Segment {
            src: src.0,
            dst: dst.0,
            sport: src.1,
            dport: dst.1,
            seq,
            window: 64_240,
            flags,
            options,
            payload,
        })
    }

    /// The frame carrying `payload` at stream `offset` of one direction (acking
    /// nothing of the other direction's data).
    pub fn frame(&self, from_client: bool, offset: u32, payload: &[u8]) -> Vec<u8> {
        self.data(from_client, offset, 0, payload)
    }

    /// The frame carrying `payload` at `offset`, acking the other direction up to
    /// `peer_offset`.
    pub fn data(
        &self,
        from_client: bool,
        offset: u32,
        peer_offset: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let psh = Flags {
            psh: true,
            ..Flags::default()
        };
        self.acking(from_client, offset, peer_offset, psh, payload)
    }

    /// A FIN after `offset` bytes, acking the other direction up to `peer_offset`.
    pub fn fin(&self, from_client: bool, offset: u32, peer_offset: u32) -> Vec<u8> {
        let fin = Flags {
            fin: true,
            ..Flags::default()
        };
        self.acking(from_client, offset, peer_offset, fin, &[])
    }

    /// A segment at `offset` with `flags` and the ACK of the other direction's
    /// `peer_offset`.
    fn acking(
        &self,
        from_client: bool,
        offset: u32,
        peer_offset: u32,
        flags: Flags,
        payload: &[u8],
    ) -> Vec<u8> {
        let flags = Flags {
            ack: Some(self.next_seq(!from_client, peer_offset)),
            ..flags
        };
        self.segment(
            from_client,
            self.next_seq(from_client, offset),
            flags,
            &[],
            payload,
        )
    }
}
