//! Synthetic captures for the wire detectors' tests: builds Ethernet/IPv4 frames of
//! labelled traffic (Mirai's scanner, telnet sessions with chosen bytes) and benign
//! background, and writes them as a classic pcap file in memory, with the ground
//! truth beside it.
//!
//! It has no way to send a packet: it never opens a socket (`clippy.toml` here
//! forbids the socket types), it only fills a `Vec<u8>`. Addresses in it are data.

use std::net::Ipv4Addr;

pub mod attacks;
pub mod background;
pub mod exploits;
pub mod mixed;

use etherparse::{PacketBuilder, TcpOptionElement};

/// pcap's link type for Ethernet.
pub const LINKTYPE_ETHERNET: u32 = 1;

/// A capture file being written: classic pcap (little-endian, microseconds) or
/// pcapng (one section, one interface), Ethernet unless told otherwise.
#[derive(Debug, Clone)]
pub struct Capture {
    bytes: Vec<u8>,
    frames: u64,
    ng: bool,
    /// What was put in on purpose: (detection id, source address).
    pub truth: Vec<(&'static str, Ipv4Addr)>,
}

impl Default for Capture {
    fn default() -> Self {
        Self::new(LINKTYPE_ETHERNET)
    }
}

impl Capture {
    /// An empty capture of `linktype`.
    pub fn new(linktype: u32) -> Self {
        let mut bytes = Vec::with_capacity(1 << 16);
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&linktype.to_le_bytes());
        Self {
            bytes,
            frames: 0,
            ng: false,
            truth: Vec::new(),
        }
    }

    /// An empty pcapng capture: a section header and one interface of `linktype`
    /// (microsecond timestamps).
    pub fn pcapng(linktype: u32) -> Self {
        let mut bytes = Vec::with_capacity(1 << 16);
        // Section header block: type, length, byte-order magic, version 1.0, section
        // length unknown, length again.
        let shb_len = 28u32;
        bytes.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        bytes.extend_from_slice(&shb_len.to_le_bytes());
        bytes.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&(-1i64).to_le_bytes());
        bytes.extend_from_slice(&shb_len.to_le_bytes());
        // Interface description block: link type (u16), reserved, snaplen.
        let idb_len = 20u32;
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&idb_len.to_le_bytes());
        bytes.extend_from_slice(&(linktype as u16).to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&idb_len.to_le_bytes());
        Self {
            bytes,
            frames: 0,
            ng: true,
            truth: Vec::new(),
        }
    }

    /// Appends a frame captured at `time` (seconds since the epoch).
    pub fn frame(&mut self, time: f64, data: &[u8]) {
        self.frame_cut(time, data, u32::try_from(data.len()).unwrap_or(u32::MAX));
    }

    /// Appends a frame of which only `data` was captured out of `orig_len` bytes on
    /// the wire (a snaplen cut).
    pub fn frame_cut(&mut self, time: f64, data: &[u8], orig_len: u32) {
        if self.ng {
            self.ng_frame(time, data, orig_len);
            return;
        }
        let secs = time.floor();
        let micros = ((time - secs) * 1e6).round() as u32;
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&(secs as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&micros.min(999_999).to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&orig_len.to_le_bytes());
        self.bytes.extend_from_slice(data);
        self.frames += 1;
    }

    /// An enhanced packet block, padded to 32 bits.
    fn ng_frame(&mut self, time: f64, data: &[u8], orig_len: u32) {
        let micros = (time * 1e6).round() as u64;
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let padded = data.len().div_ceil(4) * 4;
        let block_len = u32::try_from(32 + padded).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&6u32.to_le_bytes());
        self.bytes.extend_from_slice(&block_len.to_le_bytes());
        self.bytes.extend_from_slice(&0u32.to_le_bytes());
        self.bytes
            .extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(micros as u32).to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&orig_len.to_le_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len() + padded - data.len(), 0);
        self.bytes.extend_from_slice(&block_len.to_le_bytes());
        self.frames += 1;
    }

    /// Frames so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Hands over the bytes written so far (the file header first time) and keeps
    /// going: for captures written out piece by piece.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// TCP flags of a generated segment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK, with this acknowledgment number.
    pub ack: Option<u32>,
    /// PSH.
    pub psh: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// One TCP segment over IPv4 in an Ethernet frame.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Window.
    pub window: u16,
    /// Flags.
    pub flags: Flags,
    /// TCP options (an OS SYN has MSS and friends; Mirai's scanner has none).
    pub options: &'a [TcpOptionElement],
    /// Payload.
    pub payload: &'a [u8],
}

/// The Ethernet frame of a segment.
pub fn tcp_frame(s: &Segment<'_>) -> Vec<u8> {
    let base = || {
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(s.src.octets(), s.dst.octets(), 64)
            .tcp(s.sport, s.dport, s.seq, s.window)
    };
    // Options that do not fit (more than 40 bytes) are left out.
    let mut tcp = base().options(s.options).unwrap_or_else(|_| base());
    if s.flags.syn {
        tcp = tcp.syn();
    }
    if let Some(n) = s.flags.ack {
        tcp = tcp.ack(n);
    }
    if s.flags.psh {
        tcp = tcp.psh();
    }
    if s.flags.fin {
        tcp = tcp.fin();
    }
    if s.flags.rst {
        tcp = tcp.rst();
    }
    let mut out = Vec::with_capacity(tcp.size(s.payload.len()));
    // Writing into a Vec cannot fail.
    let _ = tcp.write(&mut out, s.payload);
    out
}

/// A UDP datagram over IPv4 in an Ethernet frame.
pub fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport);
    let mut out = Vec::with_capacity(udp.size(payload.len()));
    let _ = udp.write(&mut out, payload);
    out
}

/// The options of an ordinary Linux SYN.
pub fn os_syn_options() -> [TcpOptionElement; 4] {
    [
        TcpOptionElement::MaximumSegmentSize(1460),
        TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOptionElement::Timestamp(12_345, 0),
        TcpOptionElement::WindowScale(7),
    ]
}

/// One SYN of Mirai's scanner (§2.2) from `src` to `dst`: source port 41337 and
/// window 0x5a1c (one per scanner process), no options, sequence number = `dst` (or,
/// with `seq_is_dst` false, the near miss: a number that is not).
pub fn mirai_syn(src: Ipv4Addr, dst: Ipv4Addr, dport: u16, seq_is_dst: bool) -> Vec<u8> {
    let seq = if seq_is_dst {
        u32::from(dst)
    } else {
        u32::from(dst).wrapping_mul(2_654_435_761).wrapping_add(1)
    };
    tcp_frame(&Segment {
        src,
        dst,
        sport: 41_337,
        dport,
        seq,
        window: 0x5a1c,
        flags: Flags {
            syn: true,
            ..Flags::default()
        },
        options: &[],
        payload: &[],
    })
}

/// Mirai's scanner: a [`mirai_syn`] to port 23 (every tenth to 2323) of each target,
/// 160 a second from `t0`.
pub fn mirai_scan(
    cap: &mut Capture,
    src: Ipv4Addr,
    targets: &[Ipv4Addr],
    t0: f64,
    seq_is_dst: bool,
) {
    for (i, dst) in targets.iter().enumerate() {
        let dport = if i % 10 == 9 { 2323 } else { 23 };
        cap.frame(
            t0 + i as f64 / 160.0,
            &mirai_syn(src, *dst, dport, seq_is_dst),
        );
    }
    if seq_is_dst {
        cap.truth.push(("mirai-syn-scan", src));
    }
    if targets.len() >= 10 {
        cap.truth.push(("telnet-scan", src));
    }
}

/// A whole TCP connection: handshake (with OS SYN options), the client's and the
/// server's payloads in turns, then FIN both ways.
pub fn tcp_session(
    cap: &mut Capture,
    client: (Ipv4Addr, u16),
    server: (Ipv4Addr, u16),
    turns: &[(bool, &[u8])],
    t0: f64,
) {
    let flow = attacks::TcpFlow::open_with_isns(cap, client, server, (1_000, 5_000), t0);
    let (mut client_sent, mut server_sent) = (0u32, 0u32);
    let mut t = t0 + 0.003;
    for (from_client, payload) in turns {
        let frame = if *from_client {
            flow.data(true, client_sent, server_sent, payload)
        } else {
            flow.data(false, server_sent, client_sent, payload)
        };
        cap.frame(t, &frame);
        t += 0.001;
        let sent = if *from_client {
            &mut client_sent
        } else {
            &mut server_sent
        };
        *sent = sent.wrapping_add(payload.len() as u32);
    }
    cap.frame(t, &flow.fin(true, client_sent, server_sent));
    cap.frame(
        t + 0.001,
        &flow.fin(false, server_sent, client_sent.wrapping_add(1)),
    );
}

/// Ways the same IP packet can reach a capture, for the decoders' tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encapsulation {
    /// Ethernet II (link type 1).
    Ethernet,
    /// Ethernet with one 802.1Q tag (link type 1).
    Vlan,
    /// Ethernet with an 802.1ad outer and an 802.1Q inner tag (link type 1).
    QinQ,
    /// Linux cooked capture (link type 113).
    LinuxSll,
    /// Linux cooked capture v2 (link type 276).
    LinuxSll2,
    /// Raw IP (link type 101).
    RawIp,
}

impl Encapsulation {
    /// The pcap link type number.
    pub fn linktype(self) -> u32 {
        match self {
            Self::Ethernet | Self::Vlan | Self::QinQ => 1,
            Self::LinuxSll => 113,
            Self::LinuxSll2 => 276,
            Self::RawIp => 101,
        }
    }

    /// Re-wraps an Ethernet II frame made by this crate.
    pub fn wrap(self, ethernet: &[u8]) -> Vec<u8> {
        let (Some(macs), Some(ether_type), Some(ip)) =
            (ethernet.get(..12), ethernet.get(12..14), ethernet.get(14..))
        else {
            return ethernet.to_vec();
        };
        let mut out = Vec::with_capacity(ethernet.len() + 8);
        match self {
            Self::Ethernet => out.extend_from_slice(ethernet),
            Self::Vlan | Self::QinQ => {
                out.extend_from_slice(macs);
                if self == Self::QinQ {
                    out.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64]);
                }
                out.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
                out.extend_from_slice(ether_type);
                out.extend_from_slice(ip);
            }
            Self::LinuxSll => {
                // Packet type, ARPHRD_ETHER, address length, address (8), protocol.
                out.extend_from_slice(&[0, 0, 0, 1, 0, 6]);
                out.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
                out.extend_from_slice(ether_type);
                out.extend_from_slice(ip);
            }
            Self::LinuxSll2 => {
                // Protocol, reserved, interface index, ARPHRD_ETHER, packet type,
                // address length, address (8).
                out.extend_from_slice(ether_type);
                out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
                out.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
                out.extend_from_slice(ip);
            }
            Self::RawIp => out.extend_from_slice(ip),
        }
        out
    }
}

/// A SYN over IPv6 in an Ethernet frame.
pub fn tcp6_syn(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let tcp = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(src, dst, 64)
        .tcp(sport, dport, seq, 64_240)
        .syn();
    let mut out = Vec::with_capacity(tcp.size(0));
    let _ = tcp.write(&mut out, &[]);
    out
}
