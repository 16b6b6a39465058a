//! What single packets and the openings of streams look like when Mirai sends them:
//! its report and C2 messages, the loader's `bins` request, the attack payloads (VSE,
//! GRE, SYN, DNS water torture, HTTP floods), recognised byte by byte.

use std::net::{IpAddr, Ipv4Addr};

use crate::packet::{Packet, Tcp};

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
pub(super) fn parse_bot_id(bytes: &[u8]) -> Option<String> {
    let (&len, id) = bytes.split_first()?;
    (len > 0 && len < 32 && id.len() == usize::from(len) && id.iter().all(u8::is_ascii_graphic))
        .then(|| String::from_utf8_lossy(id).into_owned())
}

/// The C2 handshake's first four bytes.
pub(super) const C2_HELLO: [u8; 4] = [0, 0, 0, 1];

/// Mirai's downloader request (§3.6): a `/bins/` path and no header at all.
pub(super) fn bins_request(payload: &[u8]) -> Option<String> {
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
pub(super) const LOWERCASE_CONTENT_LENGTH: &[u8] = b"\r\ncontent-length:";
/// Methods an HTTP request stream starts with.
pub(super) const HTTP_METHODS: [&[u8]; 7] = [
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
pub(super) fn is_syn_flood_options(options: &[u8]) -> bool {
    let [2, 4, mss_hi, mss_lo, 4, 2, 8, 10, _, _, _, _, 0, 0, 0, 0, 1, 3, 3, 6] = *options else {
        return false;
    };
    (1400..=1415).contains(&u16::from_be_bytes([mss_hi, mss_lo]))
}

/// §4.6 `greip`/`greeth`: a GRE header without flags carrying IPv4 (or Ethernet
/// with IPv4), whose inner IP id is `!(outer id - 1000)`.
pub(super) fn is_mirai_gre(outer_id: u16, gre: &[u8]) -> bool {
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
pub(super) struct DnsQuery<'a> {
    pub(super) recursion_desired: bool,
    pub(super) qtype: u16,
    /// The question name in wire form (length-prefixed labels, no final zero).
    pub(super) name: &'a [u8],
}

/// Parses a one-question DNS query (not a response); names with compression
/// pointers (never in a query's question) are refused.
pub(super) fn parse_dns_query(p: &[u8]) -> Option<DnsQuery<'_>> {
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
pub(super) fn is_torture_label(label: &[u8]) -> bool {
    label.len() == 12 && label.iter().all(|b| matches!(b, b'a'..=b'w' | b'0'..=b'8'))
}

/// The `Content-Length` of an HTTP header block, any case.
pub(super) fn content_length(header: &[u8]) -> Option<u64> {
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
pub(super) fn dotted(name: &[u8]) -> String {
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

/// §2.2: a SYN whose sequence number is its IPv4 destination, with no TCP options.
pub(super) fn is_mirai_syn(p: &Packet<'_>, tcp: &Tcp<'_>) -> bool {
    match p.dst {
        IpAddr::V4(dst) => tcp.seq == u32::from(dst) && tcp.options.is_empty(),
        IpAddr::V6(_) => false,
    }
}
