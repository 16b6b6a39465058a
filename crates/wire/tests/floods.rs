//! Flood participation (reference §4.6): each vector as Mirai's bot builds it fires
//! with its rate and evidence; a near miss (the same shape at a benign volume, or
//! one field off) does not. Then every detection at once inside benign background,
//! against the generator's ground truth.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use busybait_pcapgen::attacks::{
    ack_flood, dns_query, dns_water_torture, gre_flood, http_flood, raw4, syn_flood, tcp4, udp4,
    udp_flood, vse_flood, Flood, Ip4, Rng,
};
use busybait_pcapgen::background::background;
use busybait_pcapgen::{mirai_scan, tcp_session, Capture, Flags};
use busybait_wire::capture::read_frames;
use busybait_wire::{Analyzer, Limits, Report, Severity};

const T0: f64 = 1_790_000_000.0;

fn analyse(cap: &Capture) -> Report {
    let mut a = Analyzer::new(Limits::default());
    read_frames(cap.bytes(), |f| a.frame(f.number, f.time, f.link, f.data)).unwrap();
    a.finish()
}

fn ids(r: &Report) -> Vec<(&'static str, IpAddr)> {
    r.alerts.iter().map(|a| (a.id, a.src)).collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v4(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

fn flood(bot: &str, target: &str, packets: u32, rate: f64) -> Flood {
    Flood {
        bot: ip(bot),
        target: ip(target),
        t0: T0,
        packets,
        rate,
    }
}

#[test]
fn vse_flood_fires_and_a_game_browser_does_not() {
    let mut rng = Rng::new(1);
    let mut cap = Capture::default();
    vse_flood(
        &mut cap,
        &mut rng,
        &flood("10.0.0.1", "198.51.100.7", 200, 1000.0),
    );
    // The near miss: 60 queries, but all from one socket.
    let ip4 = Ip4 {
        src: ip("10.0.0.2"),
        dst: ip("198.51.100.8"),
        id: 1,
        df: true,
    };
    for i in 0..60 {
        cap.frame(
            T0 + f64::from(i),
            &udp4(
                &ip4,
                40_000,
                27015,
                b"\xff\xff\xff\xffTSource Engine Query\x00",
            ),
        );
    }
    let r = analyse(&cap);
    assert_eq!(ids(&r), [("mirai-vse-flood", v4(ip("10.0.0.1")))]);
    let a = &r.alerts[0];
    assert_eq!(
        (a.count, a.proto, a.dst),
        (200, "udp", Some(v4(ip("198.51.100.7"))))
    );
    // 200 packets over 199 ms.
    assert!(
        (a.rate.unwrap() - 200.0 / 0.199).abs() < 1.0,
        "{:?}",
        a.rate
    );
    assert_eq!(
        a.evidence[0].matched,
        "ffffffff54536f7572636520456e67696e6520517565727900"
    );
    assert_eq!(a.evidence[0].packet, 1);
    assert!(a.title.contains("from 64+ source ports"), "{}", a.title);
}

#[test]
fn syn_flood_options_fire_and_an_os_syn_with_window_0_does_not() {
    let mut rng = Rng::new(2);
    let mut cap = Capture::default();
    syn_flood(
        &mut cap,
        &mut rng,
        &flood("10.0.0.3", "198.51.100.9", 50, 500.0),
    );
    // The near miss: MSS 1460 (outside 1400-1415), everything else the same.
    let ip4 = Ip4 {
        src: ip("10.0.0.4"),
        dst: ip("198.51.100.9"),
        id: 7,
        df: true,
    };
    for i in 0..50u16 {
        let options = [
            etherparse::TcpOptionElement::MaximumSegmentSize(1460),
            etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
            etherparse::TcpOptionElement::Timestamp(5, 0),
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::WindowScale(6),
        ];
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        cap.frame(
            T0 + f64::from(i),
            &tcp4(&ip4, 1000 + i, 80, 1, 0, syn, &options, &[]),
        );
    }
    let r = analyse(&cap);
    assert_eq!(ids(&r), [("mirai-syn-flood", v4(ip("10.0.0.3")))]);
    let a = &r.alerts[0];
    assert_eq!((a.count, a.severity), (50, Severity::High));
    // The options as on the wire: MSS, SACK, TS (TSecr 0), NOP, WS 6.
    let m = &a.evidence[0].matched;
    assert!(
        m.starts_with("020405") && m.ends_with("00000000010303 06".replace(' ', "").as_str()),
        "{m}"
    );
}

#[test]
fn ack_and_udp_floods_need_volume_rate_and_the_vector_shape() {
    let mut rng = Rng::new(3);
    let mut cap = Capture::default();
    ack_flood(
        &mut cap,
        &mut rng,
        &flood("10.0.0.5", "198.51.100.10", 300, 2000.0),
    );
    udp_flood(
        &mut cap,
        &mut rng,
        &flood("10.0.0.6", "198.51.100.11", 300, 2000.0),
    );
    // Near misses: the same 512-byte UDP, but 150 over ten minutes (0.25/s); and
    // 512-byte ACKs at a flood's rate but with DF set (a host's stack).
    let slow = Flood {
        t0: T0 + 10.0,
        ..flood("10.0.0.7", "198.51.100.12", 150, 0.25)
    };
    udp_flood(&mut cap, &mut rng, &slow);
    cap.truth.pop();
    for i in 0..300u16 {
        let ip4 = Ip4 {
            src: ip("10.0.0.8"),
            dst: ip("198.51.100.13"),
            id: i,
            df: true,
        };
        let ack = Flags {
            ack: Some(1),
            ..Flags::default()
        };
        cap.frame(
            T0 + f64::from(i) / 2000.0,
            &tcp4(
                &ip4,
                443,
                2000 + i,
                u32::from(i) * 512,
                501,
                ack,
                &[],
                &[0x42; 512],
            ),
        );
    }
    let r = analyse(&cap);
    assert_eq!(
        ids(&r),
        [
            ("mirai-ack-flood", v4(ip("10.0.0.5"))),
            ("udp-flood", v4(ip("10.0.0.6")))
        ]
    );
    for a in &r.alerts {
        assert_eq!(a.count, 300);
        assert!(a.rate.unwrap() > 1900.0, "{a:?}");
        assert_eq!(a.severity, Severity::Medium);
    }
}

#[test]
fn gre_floods_fire_on_the_inner_id_relation_only() {
    let mut rng = Rng::new(4);
    let mut cap = Capture::default();
    gre_flood(
        &mut cap,
        &mut rng,
        &flood("10.0.0.9", "198.51.100.14", 20, 100.0),
        false,
    );
    gre_flood(
        &mut cap,
        &mut rng,
        &flood("10.0.0.10", "198.51.100.15", 20, 100.0),
        true,
    );
    // The near miss: GRE carrying IPv4 with an unrelated inner id.
    for i in 0..20u16 {
        let outer = Ip4 {
            src: ip("10.0.0.11"),
            dst: ip("198.51.100.16"),
            id: 5000 + i,
            df: true,
        };
        let inner = Ip4 {
            src: ip("192.0.2.1"),
            dst: ip("192.0.2.2"),
            id: 4000 + i,
            df: true,
        };
        let mut gre = vec![0, 0, 0x08, 0x00];
        gre.extend_from_slice(&udp4(&inner, 1, 2, &[0; 64])[14..]);
        cap.frame(T0 + f64::from(i), &raw4(&outer, 47, &gre));
    }
    let r = analyse(&cap);
    assert_eq!(
        ids(&r),
        [
            ("mirai-gre-flood", v4(ip("10.0.0.9"))),
            ("mirai-gre-flood", v4(ip("10.0.0.10")))
        ]
    );
    assert!(r.alerts.iter().all(|a| a.count == 20 && a.proto == "gre"));
    assert!(r.alerts[0].evidence[0].matched.starts_with("outer id "));
}

#[test]
fn http_floods_fire_on_mirai_requests_and_a_browser_does_not() {
    let mut cap = Capture::default();
    http_flood(
        &mut cap,
        (ip("10.0.0.12"), 50_000),
        ip("198.51.100.17"),
        T0,
        25,
        false,
    );
    http_flood(
        &mut cap,
        (ip("10.0.0.13"), 50_001),
        ip("198.51.100.18"),
        T0 + 5.0,
        5,
        true,
    );
    // The near miss: 30 keep-alive requests of a browser with capitalised headers.
    let request = b"POST /api HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0\r\nContent-Length: 0\r\n\r\n";
    let reply = b"HTTP/1.1 204 No Content\r\n\r\n".as_slice();
    let turns: Vec<(bool, &[u8])> = (0..30)
        .flat_map(|_| [(true, request.as_slice()), (false, reply)])
        .collect();
    tcp_session(
        &mut cap,
        (ip("10.0.0.14"), 50_002),
        (ip("198.51.100.19"), 80),
        &turns,
        T0 + 9.0,
    );
    let r = analyse(&cap);
    assert_eq!(
        ids(&r),
        [
            ("mirai-http-flood", v4(ip("10.0.0.12"))),
            ("mirai-http-flood", v4(ip("10.0.0.13")))
        ]
    );
    let get = &r.alerts[0];
    assert_eq!(get.title, "Mirai HTTP flood: 25 requests with its 2016 user agents, 0 with a lower-case content-length");
    assert_eq!((get.src_port, get.dst_port), (Some(50_000), Some(80)));
    assert!(get.evidence[0]
        .matched
        .starts_with("User-Agent: Mozilla/5.0 (Windows NT 10.0; WOW64)"));
    let post = &r.alerts[1];
    assert_eq!(post.title, "Mirai HTTP flood: 5 requests with its 2016 user agents, 5 with a lower-case content-length");
    assert_eq!(post.count, 5);
    assert_eq!(post.evidence[1].matched, "content-length:");
}

#[test]
fn dns_water_torture_fires_and_cdn_labels_do_not() {
    let mut rng = Rng::new(5);
    let mut cap = Capture::default();
    let resolver = "198.51.100.53";
    dns_water_torture(
        &mut cap,
        &mut rng,
        &flood("10.0.0.15", resolver, 100, 500.0),
        "victim.example",
    );
    // The near miss: 100 random 12-character labels from the whole alphabet.
    for i in 0..100u16 {
        let label: String = (0..12)
            .map(|_| {
                let c = rng.below(36) as u8;
                char::from(if c < 26 { b'a' + c } else { b'0' + c - 26 })
            })
            .collect();
        let name = format!("{label}.cdn.example");
        cap.frame(
            T0 + f64::from(i),
            &dns_query(
                ip("10.0.0.16"),
                ip(resolver),
                5000 + i,
                i,
                name.as_bytes(),
                1,
            ),
        );
    }
    let r = analyse(&cap);
    assert_eq!(ids(&r), [("dns-water-torture", v4(ip("10.0.0.15")))]);
    let a = &r.alerts[0];
    assert_eq!(
        a.title,
        "DNS water torture against victim.example: random [a-w0-8]{12} labels (Mirai's dns vector)"
    );
    assert_eq!((a.count, a.dst), (100, Some(v4(ip(resolver)))));
    assert!(a.evidence[0].matched.ends_with(".victim.example"));
    assert_eq!(a.evidence[0].matched.len(), 12 + ".victim.example".len());
}

#[test]
fn lookups_at_8888_only_corroborate_another_alert() {
    let mut cap = Capture::default();
    let google = ip("8.8.8.8");
    for (i, host) in ["10.0.0.17", "10.0.0.18"].into_iter().enumerate() {
        cap.frame(
            T0 + i as f64,
            &dns_query(ip(host), google, 4000, 1, b"cnc.changeme.example", 1),
        );
    }
    let targets: Vec<_> = (1..=12).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect();
    mirai_scan(&mut cap, ip("10.0.0.17"), &targets, T0 + 5.0, true);
    let r = analyse(&cap);
    assert_eq!(
        ids(&r),
        [
            ("mirai-syn-scan", v4(ip("10.0.0.17"))),
            ("telnet-scan", v4(ip("10.0.0.17"))),
            ("dns-direct-8888", v4(ip("10.0.0.17")))
        ]
    );
    let low = &r.alerts[2];
    assert_eq!(
        (low.severity, low.proto, low.count),
        (Severity::Low, "udp", 1)
    );
    assert_eq!(low.evidence[0].matched, "A cnc.changeme.example");
}

/// Every detection, each from its own bot, inside benign background: the alerts are
/// exactly the ground truth (recall 1, no false positive).
#[test]
fn every_detection_inside_background_matches_the_ground_truth() {
    let mut rng = Rng::new(6);
    let mut cap = Capture::default();
    let mut t = background(&mut cap, &mut rng, T0, 5_000, 0.05);
    let bot = |n: u8| Ipv4Addr::new(10, 0, 1, n);
    let victim = ip("198.51.100.200");
    let f = |n: u8, packets| Flood {
        bot: bot(n),
        target: victim,
        t0: t,
        packets,
        rate: 1000.0,
    };
    vse_flood(&mut cap, &mut rng, &f(1, 100));
    syn_flood(&mut cap, &mut rng, &f(2, 100));
    ack_flood(&mut cap, &mut rng, &f(3, 200));
    udp_flood(&mut cap, &mut rng, &f(4, 200));
    gre_flood(&mut cap, &mut rng, &f(5, 50), false);
    dns_water_torture(&mut cap, &mut rng, &f(6, 60), "victim.example");
    http_flood(&mut cap, (bot(7), 51_000), victim, t, 30, true);
    let targets: Vec<_> = (1..=40).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect();
    mirai_scan(&mut cap, bot(8), &targets, t, true);
    cap.frame(
        t,
        &dns_query(bot(8), ip("8.8.8.8"), 4000, 9, b"report.example", 1),
    );
    cap.truth.push(("dns-direct-8888", bot(8)));
    t = background(&mut cap, &mut rng, t + 10.0, 5_000, 0.05);
    assert!(t > T0);
    let r = analyse(&cap);
    let found: BTreeSet<(&str, IpAddr)> = ids(&r).into_iter().collect();
    let truth: BTreeSet<(&str, IpAddr)> =
        cap.truth.iter().map(|(id, src)| (*id, v4(*src))).collect();
    assert_eq!(found, truth);
    assert_eq!(r.alerts.len(), truth.len(), "one alert per labelled attack");
    assert_eq!(r.counters.malformed, 0);
    assert!(r.counters.streams.flows > 300, "{:?}", r.counters.streams);
}
