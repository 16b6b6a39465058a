//! Link-layer and IP/TCP/UDP decoding of one captured frame into the few fields the
//! detectors look at. Borrowed, no copies; every failure is a [`DecodeError`] that
//! the analyzer counts, never a panic.

use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// Link types this decoder understands (the pcap `LINKTYPE_*` numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// 1: Ethernet II, with any 802.1Q / QinQ tags.
    Ethernet,
    /// 101 (and 12 / 14 on some systems): raw IPv4 or IPv6.
    RawIp,
    /// 228: raw IPv4.
    Ipv4,
    /// 229: raw IPv6.
    Ipv6,
    /// 113: Linux "cooked" capture.
    LinuxSll,
    /// 276: Linux "cooked" capture v2.
    LinuxSll2,
}

impl LinkType {
    /// The decoder for a pcap link type number, if there is one.
    pub fn from_pcap(linktype: i32) -> Option<Self> {
        Some(match linktype {
            1 => Self::Ethernet,
            12 | 14 | 101 => Self::RawIp,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            _ => return None,
        })
    }
}

/// A Linux cooked frame: the EtherType at `proto_at`, IP after `header` bytes.
fn cooked(
    frame: &[u8],
    proto_at: usize,
    header: usize,
) -> Result<LaxSlicedPacket<'_>, DecodeError> {
    let (Some(&[hi, lo]), Some(rest)) = (frame.get(proto_at..proto_at + 2), frame.get(header..))
    else {
        return Err(DecodeError::Malformed);
    };
    Ok(LaxSlicedPacket::from_ether_type(
        EtherType(u16::from_be_bytes([hi, lo])),
        rest,
    ))
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Not IPv4 or IPv6 (ARP, LLDP, …): not an error, just nothing to look at.
    #[error("not an IP packet")]
    NotIp,
    /// Headers cut short or inconsistent.
    #[error("malformed or truncated headers")]
    Malformed,
    /// An IP fragment: its transport header is elsewhere.
    #[error("IP fragment")]
    Fragment,
}

/// TCP fields of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// Flags.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// RST flag.
    pub rst: bool,
    /// FIN flag.
    pub fin: bool,
    /// PSH flag.
    pub psh: bool,
    /// Window field.
    pub window: u16,
    /// The options bytes (empty when the data offset is 5).
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

/// UDP fields of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// What the transport layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// TCP.
    Tcp(Tcp<'a>),
    /// UDP.
    Udp(Udp<'a>),
    /// Anything else (ICMP, GRE, …).
    Other {
        /// The IP protocol number.
        protocol: u8,
        /// What follows the IP header.
        payload: &'a [u8],
    },
}

/// One decoded IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 "don't fragment" (false for IPv6).
    pub dont_fragment: bool,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 identification (`None` for IPv6).
    pub ip_id: Option<u16>,
    /// The capture kept less than the IP header's length says (snaplen): the
    /// payload is what there is.
    pub cut: bool,
    /// The transport layer.
    pub transport: Transport<'a>,
}

/// Decodes one frame of `link` type. Lax about length: a frame cut short by the
/// capture's snaplen still decodes (with [`Packet::cut`] set) as long as its IP and
/// transport headers are whole.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let sliced = match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(frame).map_err(|_| DecodeError::Malformed)?
        }
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => {
            LaxSlicedPacket::from_ip(frame).map_err(|_| DecodeError::Malformed)?
        }
        // SLL: protocol type at 14, 16 bytes of header; SLL2: protocol type first,
        // 20 bytes of header.
        LinkType::LinuxSll => cooked(frame, 14, 16)?,
        LinkType::LinuxSll2 => cooked(frame, 0, 20)?,
    };
    let (src, dst, dont_fragment, ttl, ip_id, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.dont_fragment(),
                h.ttl(),
                Some(h.identification()),
                ip.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                false,
                h.hop_limit(),
                None,
                ip.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(DecodeError::NotIp),
        // Headers before IP were whole but IP's were not.
        None if sliced.stop_err.is_some() => return Err(DecodeError::Malformed),
        None => return Err(DecodeError::NotIp),
    };
    let (fragmented, protocol, cut, ip_payload) = (
        payload.fragmented,
        payload.ip_number.0,
        payload.incomplete,
        payload.payload,
    );
    if fragmented {
        return Err(DecodeError::Fragment);
    }
    // TCP (6) and UDP (17) whose header did not fit in what was captured.
    if sliced.transport.is_none() && matches!(protocol, 6 | 17) {
        return Err(DecodeError::Malformed);
    }
    let transport = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => Transport::Tcp(Tcp {
            sport: t.source_port(),
            dport: t.destination_port(),
            seq: t.sequence_number(),
            ack_number: t.acknowledgment_number(),
            syn: t.syn(),
            ack: t.ack(),
            rst: t.rst(),
            fin: t.fin(),
            psh: t.psh(),
            window: t.window_size(),
            // The header beyond its fixed 20 bytes (borrowed from the frame).
            options: t.header_slice().get(20..).unwrap_or_default(),
            payload: t.payload(),
        }),
        Some(TransportSlice::Udp(u)) => Transport::Udp(Udp {
            sport: u.source_port(),
            dport: u.destination_port(),
            payload: u.payload(),
        }),
        _ => Transport::Other {
            protocol,
            payload: ip_payload,
        },
    };
    Ok(Packet {
        src,
        dst,
        dont_fragment,
        ttl,
        ip_id,
        cut,
        transport,
    })
}
