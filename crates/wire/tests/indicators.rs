//! What the trap learned, matched on the wire: contact with its C2s (by address and
//! by DNS name) and download hosts, HTTP downloads of the files bots dropped (by
//! SHA-256, over several segments, with or without Content-Length), traffic from
//! addresses that attacked it; and the near misses (another port, another body).

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use busybait_pcapgen::attacks::{dns_query, TcpFlow};
use busybait_pcapgen::{mirai_syn, tcp_session, Capture};
use busybait_wire::capture::read_frames;
use busybait_wire::indicators::Indicators;
use busybait_wire::{Analyzer, Limits, Report};
use sha2::{Digest, Sha256};

const T0: f64 = 1_790_000_000.0;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn analyse(cap: &Capture, indicators: Indicators) -> Report {
    let mut a = Analyzer::with_indicators(Limits::default(), indicators);
    read_frames(cap.bytes(), |f| a.frame(f.number, f.time, f.link, f.data)).unwrap();
    a.finish()
}

fn ids(r: &Report) -> Vec<(&'static str, IpAddr)> {
    r.alerts.iter().map(|a| (a.id, a.src)).collect()
}

#[test]
fn c2s_and_download_hosts_by_address_and_name() {
    let mut ind = Indicators::default();
    ind.add_c2("203.0.113.23:23");
    ind.add_c2("cnc.example.net:23");
    ind.add_url("tftp://198.51.100.69/t8UsA2.sh");
    let mut cap = Capture::default();
    // A bot calls its C2 (the trap learned it from a sample's table).
    tcp_session(
        &mut cap,
        (ip("10.0.0.1"), 40_000),
        (ip("203.0.113.23"), 23),
        &[(true, &[0, 0, 0, 1])],
        T0,
    );
    // Another looks its C2 up by name, and one fetches over TFTP from the loader.
    cap.frame(
        T0 + 1.0,
        &dns_query(
            ip("10.0.0.2"),
            ip("10.0.0.53"),
            5353,
            7,
            b"CNC.example.net",
            1,
        ),
    );
    cap.frame(
        T0 + 2.0,
        &busybait_pcapgen::udp_frame(
            ip("10.0.0.3"),
            ip("198.51.100.69"),
            40_001,
            69,
            b"\x00\x01t8UsA2.sh\x00octet\x00",
        ),
    );
    // Near misses: the C2's address on another port; another name.
    tcp_session(
        &mut cap,
        (ip("10.0.0.4"), 40_002),
        (ip("203.0.113.23"), 80),
        &[(true, b"GET / HTTP/1.1\r\n\r\n")],
        T0 + 3.0,
    );
    cap.frame(
        T0 + 4.0,
        &dns_query(
            ip("10.0.0.5"),
            ip("10.0.0.53"),
            5353,
            8,
            b"www.example.net",
            1,
        ),
    );
    let r = analyse(&cap, ind);
    assert_eq!(
        ids(&r),
        [
            ("trap-c2-contact", IpAddr::V4(ip("10.0.0.1"))),
            ("trap-c2-contact", IpAddr::V4(ip("10.0.0.2"))),
            ("trap-download-host", IpAddr::V4(ip("10.0.0.3"))),
        ]
    );
    assert_eq!(
        r.alerts[0].evidence[0].matched,
        "SYN to 23 (trap: 203.0.113.23:23)"
    );
    assert_eq!(r.alerts[0].evidence[0].packet, 1);
    assert_eq!(
        r.alerts[1].evidence[0].matched,
        "DNS lookup of cnc.example.net (trap: cnc.example.net:23)"
    );
    assert_eq!(r.alerts[2].proto, "tcp");
    assert_eq!(r.alerts[2].dst_port, Some(69));
}

#[test]
fn a_dropped_sample_downloaded_here_is_recognised_by_its_hash() {
    let sample: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut ind = Indicators::default();
    ind.add_sha256(&hex::encode(Sha256::digest(&sample)));
    let mut cap = Capture::default();
    // With Content-Length, the body over three segments, the header split too.
    let flow = TcpFlow::open(
        &mut cap,
        (ip("10.0.0.10"), 41_000),
        (ip("198.51.100.80"), 80),
        T0,
    );
    cap.frame(
        T0 + 0.1,
        &flow.frame(true, 0, b"GET /bins/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    );
    let header = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";
    let mut response = header.to_vec();
    response.extend_from_slice(&sample);
    // A keep-alive second response after it is not part of the body.
    response.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let mut at = 0;
    for piece in [20usize, 1400, 1400] {
        cap.frame(
            T0 + 0.2,
            &flow.frame(false, at as u32, &response[at..at + piece]),
        );
        at += piece;
    }
    cap.frame(T0 + 0.3, &flow.frame(false, at as u32, &response[at..]));
    // Without Content-Length: the body runs to the end of the stream.
    let mut bare = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
    bare.extend_from_slice(&sample);
    tcp_session(
        &mut cap,
        (ip("10.0.0.11"), 41_001),
        (ip("198.51.100.81"), 8080),
        &[(true, b"GET /x HTTP/1.0\r\n\r\n"), (false, &bare)],
        T0 + 1.0,
    );
    // The near miss: one byte different.
    let mut other = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
    other.extend_from_slice(&sample[..2999]);
    other.push(0);
    tcp_session(
        &mut cap,
        (ip("10.0.0.12"), 41_002),
        (ip("198.51.100.82"), 80),
        &[(true, b"GET /x HTTP/1.0\r\n\r\n"), (false, &other)],
        T0 + 2.0,
    );
    let r = analyse(&cap, ind);
    assert_eq!(
        ids(&r),
        [
            ("trap-sample-download", IpAddr::V4(ip("10.0.0.10"))),
            ("trap-sample-download", IpAddr::V4(ip("10.0.0.11"))),
        ]
    );
    let digest = hex::encode(Sha256::digest(&sample));
    assert_eq!(
        r.alerts[0].evidence[0].matched,
        format!("sha256 {digest} (3000 bytes)")
    );
    // Found in the segment that completed the body: handshake 1-3, request 4,
    // pieces of 20, 1400 and 1400 bytes 5-7 (2,820 of the 3,041), the rest 8.
    assert_eq!(r.alerts[0].evidence[0].packet, 8);
    assert_eq!(
        (r.alerts[0].dst, r.alerts[0].dst_port),
        (Some(IpAddr::V4(ip("198.51.100.80"))), Some(80))
    );
}

#[test]
fn addresses_that_attacked_the_trap_are_pointed_out() {
    let mut ind = Indicators::default();
    ind.attackers.insert(IpAddr::V4(ip("192.0.2.66")));
    let mut cap = Capture::default();
    for i in 1..=3 {
        cap.frame(
            T0,
            &mirai_syn(ip("192.0.2.66"), Ipv4Addr::new(10, 0, 0, i), 23, false),
        );
    }
    cap.frame(T0, &mirai_syn(ip("192.0.2.67"), ip("10.0.0.1"), 23, false));
    let r = analyse(&cap, ind);
    assert_eq!(ids(&r), [("trap-attacker", IpAddr::V4(ip("192.0.2.66")))]);
    assert_eq!((r.alerts[0].count, r.alerts[0].targets), (3, 3));
}

#[test]
fn without_indicators_nothing_of_this_fires() {
    let mut cap = Capture::default();
    tcp_session(
        &mut cap,
        (ip("10.0.0.1"), 40_000),
        (ip("203.0.113.23"), 23),
        &[(true, &[0, 0, 0, 1])],
        T0,
    );
    assert_eq!(ids(&analyse(&cap, Indicators::default())), []);
}
