//! A whole HTTP `Session` (request reader, exploit table, the device's shell behind
//! a matched entry) fed arbitrary bytes in pieces on every port the table names, with
//! the clock moving: nothing panics, what it holds stays bounded, once closed it
//! stays closed. Inputs that start like a request reach the table and the shell.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use busybait_device::{AuthMode, Now};
use busybait_events::{Peer, SessionId};
use busybait_http::session::{HttpConfig, Session};
use libfuzzer_sys::fuzz_target;

fn config() -> Arc<HttpConfig> {
    static CONFIG: OnceLock<Arc<HttpConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // The router exposes most of the web exploits of the table.
            let device = Arc::new(
                busybait_device::terminal::SessionConfig::builtin(
                    "router-mips",
                    AuthMode::Sticky,
                    Default::default(),
                    busybait_device::terminal::Limits::default(),
                )
                .expect("router-mips"),
            );
            Arc::new(HttpConfig::new(
                device,
                Arc::new(busybait_intel::exploits::Table::builtin()),
                busybait_http::HttpLimits::default(),
                UNIX_EPOCH,
            ))
        })
        .clone()
}

const PORTS: [u16; 6] = [80, 8080, 7547, 37215, 52869, 18080];

fuzz_target!(|data: &[u8]| {
    let Some((&port, data)) = data.split_first() else {
        return;
    };
    let start = Instant::now();
    let mut now = Now {
        mono: start,
        wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    };
    let peer = Peer {
        src: "127.0.0.5:40000".parse().expect("address"),
        dst: format!("127.0.0.1:{}", PORTS[usize::from(port) % PORTS.len()])
            .parse()
            .expect("address"),
        protocol: busybait_events::Protocol::Http,
    };
    let config = config();
    let mut session = Session::new(config.clone(), SessionId::from_u64(1), peer, now);
    let mut out = Vec::new();
    // The first byte of each piece is its length and how far the clock moves.
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let take = usize::from(n % 128).min(tail.len());
        let (piece, after) = tail.split_at(take);
        now.mono += Duration::from_millis(u64::from(n) * 10);
        now.wall += Duration::from_millis(u64::from(n) * 10);
        session.handle_timeout(now);
        session.handle_input(now, piece);
        for _ in 0..64 {
            if !session.is_computing() {
                break;
            }
            session.handle_timeout(now);
        }
        let limits = &config.limits;
        let budget = busybait_device::shell::budget::Budgets::default().memory_bytes;
        assert!(
            session.memory_used()
                <= budget + limits.max_head_bytes + limits.max_body_bytes + (4 << 20)
        );
        while session.poll_transmit(&mut out) {
            out.clear();
        }
        while session.poll_event().is_some() {}
        while session.poll_sample().is_some() {}
        while session.poll_staged().is_some() {}
        while let Some((id, _)) = session.poll_fetch() {
            session.handle_fetch_result(now, id, busybait_device::shell::FetchResult::Refused);
        }
        rest = after;
    }
    let was_closed = session.is_closed();
    session.handle_input(now, b"GET / HTTP/1.1\r\n\r\n");
    if was_closed {
        assert!(session.is_closed());
    }
});
