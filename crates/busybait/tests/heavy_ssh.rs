//! The SSH door under load: 5,000 connections that send their identification and
//! a piece of a KEXINIT and never finish the key exchange; a real OpenSSH login is
//! still served, the oldest half-open ones are evicted past `max_unauthenticated`,
//! and the sensor's memory stays small.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::Instant;

use util::conn::{closes, raise_fd_limit, still_open};
use util::openssh::ssh;
use util::{source, test_config, Sensor};

#[test]
fn five_thousand_half_open_handshakes_do_not_stop_a_real_login() {
    const HALF_OPEN: usize = 5000;
    raise_fd_limit(HALF_OPEN as u64 + 500);
    let sensor = Sensor::start_ssh(&test_config("oracle", "", ""));
    let addr = sensor.ssh.unwrap();
    let rss_before = sensor.rss_kib();
    let started = Instant::now();
    // The identification and the first bytes of a KEXINIT packet (its length says
    // more is coming).
    let opening = b"SSH-2.0-libssh2_1.10.0\r\n\x00\x00\x01\x1c\x06\x14";
    let mut half: Vec<TcpStream> = (0..HALF_OPEN)
        .map(|i| {
            let mut s = util::tcp_from(addr, source(2000 + i)).unwrap();
            s.write_all(opening).unwrap();
            s
        })
        .collect();
    println!(
        "{HALF_OPEN} half-open handshakes in {:?}",
        started.elapsed()
    );
    let out = ssh(&sensor, "xc3511", &[], &["echo served"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"served\n");
    let rss = sensor.rss_kib();
    // The oldest are evicted past max_unauthenticated (4096): 5000 - 4096 of the
    // half-open ones, and one more for the real client while it logged in.
    let evicted = HALF_OPEN - 4096 + 1;
    for (i, s) in half.iter_mut().enumerate() {
        if i < evicted {
            assert!(closes(s), "connection {i} should have been evicted");
        } else {
            assert!(still_open(s), "connection {i} should still be open");
        }
    }
    println!(
        "RSS {rss_before} KiB idle, {rss} KiB with {} half-open SSH handshakes: {} bytes each",
        HALF_OPEN - evicted,
        (rss.saturating_sub(rss_before)) * 1024 / (HALF_OPEN - evicted) as u64
    );
    assert!(rss < 256 * 1024, "RSS {rss} KiB");
    drop(half);
    let (_, log) = sensor.stop();
    assert!(log.contains("counter=\"session_errors\" value=0"), "{log}");
    assert!(
        log.contains(&format!(
            "counter=\"evicted_unauthenticated\" value={evicted}"
        )),
        "{log}"
    );
}
