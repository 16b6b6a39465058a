//! Benign background traffic with the near misses a detector must not fire on: web
//! browsing (modern user agents, `Content-Length` capitalised, a POST), DNS through
//! the local resolver (including CDN-style 12-character labels from the whole
//! alphabet) and a few lookups at 8.8.8.8 from hosts that do nothing else, NTP,
//! SSH, ordinary telnet logins (one failure, then success), a game browser's single
//! Source-engine query, a voice call's steady small datagrams and a download in
//! 512-byte ACK segments with DF set. Nothing here is in the ground truth.

use std::net::Ipv4Addr;

use crate::attacks::{dns_query, tcp4, udp4, Ip4, Rng};
use crate::{tcp_session, Capture, Flags};

/// The local resolver the background's hosts use.
pub const LOCAL_RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);

const NAMES: [&str; 6] = [
    "www.example.org",
    "time.example.net",
    "api.example.com",
    "cdn.example.com",
    "mail.example.org",
    "updates.example.net",
];

/// One unit of background: `kind` (taken modulo the number of kinds) from a random
/// host at `t0`. Returns the frames written.
pub fn background_unit(cap: &mut Capture, rng: &mut Rng, kind: u64, t0: f64) -> u64 {
    let before = cap.frames();
    let host = rng.host();
    let port = 32_768 + rng.below(28_000) as u16;
    let server = Ipv4Addr::new(203, 0, 113, 1 + rng.below(200) as u8);
    match kind % 10 {
        0 => {
            let request: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: */*\r\n\r\n";
            tcp_session(
                cap,
                (host, port),
                (server, 80),
                &[
                    (true, request),
                    (false, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
                ],
                t0,
            );
        }
        1 => {
            tcp_session(
                cap,
                (host, port),
                (server, 80),
                &[
                    (
                        true,
                        b"POST /login HTTP/1.1\r\nHost: www.example.org\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nuser=me",
                    ),
                    (false, b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"),
                ],
                t0,
            );
        }
        2 => {
            // A name through the local resolver; now and then a CDN-style random
            // label from the whole alphabet (sometimes inside Mirai's by chance).
            let name = if rng.below(3) == 0 {
                let label: String = (0..12)
                    .map(|_| {
                        let c = rng.below(36) as u8;
                        char::from(if c < 26 { b'a' + c } else { b'0' + c - 26 })
                    })
                    .collect();
                format!("{label}.cdn.example.com")
            } else {
                NAMES
                    .get(rng.below(NAMES.len() as u64) as usize)
                    .copied()
                    .unwrap_or("www.example.org")
                    .to_string()
            };
            let frame = dns_query(host, LOCAL_RESOLVER, port, rng.u16(), name.as_bytes(), 1);
            cap.frame(t0, &frame);
        }
        3 => {
            // A host whose resolver is 8.8.8.8 and that does nothing wrong.
            let frame = dns_query(
                host,
                Ipv4Addr::new(8, 8, 8, 8),
                port,
                rng.u16(),
                b"www.example.org",
                1,
            );
            cap.frame(t0, &frame);
        }
        4 => {
            let mut ntp = [0u8; 48];
            ntp[0] = 0x23;
            let ip = Ip4 {
                src: host,
                dst: server,
                id: rng.u16(),
                df: true,
            };
            cap.frame(t0, &udp4(&ip, 123, 123, &ntp));
        }
        5 => {
            tcp_session(
                cap,
                (host, port),
                (server, 22),
                &[
                    (false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
                    (true, b"SSH-2.0-OpenSSH_9.6\r\n"),
                    (true, &rng.bytes(600)),
                    (false, &rng.bytes(900)),
                ],
                t0,
            );
        }
        6 => {
            // An administrator mistypes once, then logs in.
            tcp_session(
                cap,
                (host, port),
                (server, 23),
                &[
                    (false, b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03"),
                    (true, b"\xff\xfc\x01\xff\xfc\x1f\xff\xfe\x01\xff\xfe\x03"),
                    (false, b"\r\nlogin: "),
                    (true, b"admin\r\n"),
                    (false, b"Password: "),
                    (true, b"hunter2\r\n"),
                    (false, b"Login incorrect\r\nlogin: "),
                    (true, b"admin\r\n"),
                    (false, b"Password: "),
                    (true, b"correct horse\r\n"),
                    (
                        false,
                        b"\r\n\r\nBusyBox v1.35.0 built-in shell (ash)\r\n\r\n# ",
                    ),
                    (true, b"uptime\r\n"),
                    (
                        false,
                        b" 10:00:00 up 3 days,  load average: 0.00, 0.01, 0.05\r\n# ",
                    ),
                    (true, b"exit\r\n"),
                ],
                t0,
            );
        }
        7 => {
            // A game browser asks one server, twice, from one socket.
            let ip = Ip4 {
                src: host,
                dst: server,
                id: rng.u16(),
                df: true,
            };
            for i in 0..2 {
                cap.frame(
                    t0 + f64::from(i) * 0.5,
                    &udp4(
                        &ip,
                        port,
                        27015,
                        b"\xff\xff\xff\xffTSource Engine Query\x00",
                    ),
                );
            }
        }
        8 => {
            // A voice call: 172-byte datagrams every 20 ms for 2 seconds.
            for i in 0..100 {
                let ip = Ip4 {
                    src: host,
                    dst: server,
                    id: rng.u16(),
                    df: true,
                };
                cap.frame(
                    t0 + f64::from(i) * 0.02,
                    &udp4(&ip, port, 16_384, &rng.bytes(172)),
                );
            }
        }
        _ => {
            // A download in 512-byte segments: ACK only, but DF set and one flow.
            let ip = Ip4 {
                src: server,
                dst: host,
                id: 0,
                df: true,
            };
            let ack = Flags {
                ack: Some(1),
                ..Flags::default()
            };
            for i in 0..120u32 {
                let frame = tcp4(
                    &Ip4 { id: i as u16, ..ip },
                    443,
                    port,
                    1_000 + i * 512,
                    501,
                    ack,
                    &[],
                    &rng.bytes(512),
                );
                cap.frame(t0 + f64::from(i) * 0.001, &frame);
            }
        }
    }
    cap.frames() - before
}

/// Background units one after another from `t0`, `spacing` seconds apart, until the
/// capture has at least `frames` more frames. Returns the time after the last.
pub fn background(cap: &mut Capture, rng: &mut Rng, t0: f64, frames: u64, spacing: f64) -> f64 {
    let target = cap.frames() + frames;
    let mut t = t0;
    let mut kind = 0;
    while cap.frames() < target {
        background_unit(cap, rng, kind, t);
        kind += 1;
        t += spacing;
    }
    t
}
