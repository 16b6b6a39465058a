//! Link-layer and IP/TCP/UDP decoding of one captured frame into the few fields the
//! detectors look at. Borrowed, no copies; every failure is a [`DecodeError`] that
//! the analyzer counts, never a panic.

use std::net::IpAddr;

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};

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
    /// The transport layer.
    pub transport: Transport<'a>,
}

/// Decodes one frame of `link` type.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let sliced = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(frame),
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => SlicedPacket::from_ip(frame),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(frame),
        LinkType::LinuxSll2 => {
            // SLL2: protocol type (2 bytes) first, 20 bytes of header in all.
            let (Some(proto), Some(rest)) = (frame.get(..2), frame.get(20..)) else {
                return Err(DecodeError::Malformed);
            };
            let ether_type = u16::from_be_bytes(<[u8; 2]>::try_from(proto).unwrap_or_default());
            SlicedPacket::from_ether_type(EtherType(ether_type), rest)
        }
    }
    .map_err(|_| DecodeError::Malformed)?;
    let (src, dst, dont_fragment, ttl, ip_id, fragmented, protocol, ip_payload) = match &sliced.net
    {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.dont_fragment(),
                h.ttl(),
                Some(h.identification()),
                ip.is_payload_fragmented(),
                h.protocol().0,
                ip.payload().payload,
            )
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                false,
                h.hop_limit(),
                None,
                ip.is_payload_fragmented(),
                ip.payload().ip_number.0,
                ip.payload().payload,
            )
        }
        _ => return Err(DecodeError::NotIp),
    };
    if fragmented {
        return Err(DecodeError::Fragment);
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
        transport,
    })
}
