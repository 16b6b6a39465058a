//! A whole `Session` (telnet, login, shell, file system) fed arbitrary bytes in
//! pieces, with the clock moving: nothing panics, output stays bounded, what the
//! session holds stays within its memory budget (and libFuzzer's `-rss_limit_mb`
//! and `-malloc_limit_mb` in `scripts/fuzz` check the real allocations), and once
//! closed the session stays closed.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use busybait_device::{AuthMode, Now};
use busybait_device::terminal::{Limits, SessionConfig};
use busybait_telnet::Session;
use busybait_events::{Peer, SessionId};
use libfuzzer_sys::fuzz_target;

fn config() -> Arc<SessionConfig> {
    static CONFIG: OnceLock<Arc<SessionConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // Every login succeeds, so the input reaches the shell.
            Arc::new(
                SessionConfig::builtin(
                    "xiongmai-dvr",
                    AuthMode::AcceptAll,
                    Default::default(),
                    Limits::default(),
                )
                .expect("xiongmai-dvr"),
            )
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = Now {
        mono: start,
        wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    };
    let peer = Peer {
        src: "127.0.0.5:40000".parse().expect("address"),
        dst: "127.0.0.1:2323".parse().expect("address"),
        protocol: busybait_events::Protocol::Telnet,
    };
    let mut session = Session::new(config(), SessionId::from_u64(1), peer, now);
    let mut out = Vec::new();
    // The first byte of each piece is its length and how far the clock moves.
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let take = usize::from(n % 64).min(tail.len());
        let (piece, after) = tail.split_at(take);
        now.mono += Duration::from_millis(u64::from(n) * 10);
        now.wall += Duration::from_millis(u64::from(n) * 10);
        session.handle_timeout(now);
        session.handle_input(now, piece);
        // A computing line gets its slices, as the edge gives them.
        for _ in 0..64 {
            if !session.is_computing() {
                break;
            }
            session.handle_timeout(now);
        }
        let budget = busybait_device::shell::budget::Budgets::default().memory_bytes;
        assert!(session.memory_used() <= budget + (4 << 20));
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
    session.handle_input(now, b"echo again\r\n");
    if was_closed {
        assert!(session.is_closed());
    }
});
