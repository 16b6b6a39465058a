//! Terminal tests: the pty's output processing as the terminal applies it.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use busybait_events::{Peer, Protocol, SessionId};

use super::tty::next_column_special;
use super::{Attach, Limits, Line, SessionConfig, Terminal};
use crate::auth::AuthMode;
use crate::clock::Now;

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    }
}

fn config(profile: &str, limits: Limits) -> Arc<SessionConfig> {
    let auth = AuthMode::Sticky;
    Arc::new(SessionConfig::builtin(profile, auth, Default::default(), limits).unwrap())
}

/// A client of `protocol` on 127.0.0.1:`port`.
fn peer(protocol: Protocol, port: u16) -> Peer {
    Peer {
        src: "127.0.0.5:40000".parse().unwrap(),
        dst: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        protocol,
    }
}

/// A terminal on a telnet line with nothing running on it yet.
fn telnet_terminal(profile: &str) -> Terminal {
    let (config, peer) = (
        config(profile, Limits::default()),
        peer(Protocol::Telnet, 2323),
    );
    Terminal::new(
        config,
        SessionId::from_u64(0xabc),
        peer,
        Line::Telnet,
        now(),
    )
}

/// A terminal another door (SSH) attached.
fn attached(profile: &str, limits: Limits, attach: Attach) -> Terminal {
    let (config, peer) = (config(profile, limits), peer(Protocol::Ssh, 22));
    Terminal::attached(config, SessionId::from_u64(0xabd), peer, now(), attach)
}

/// The block-wise scan `tty_write` uses finds the same byte as a plain scan, for
/// every position of every special byte around the block edges.
#[test]
fn column_special_scan_matches_a_plain_scan() {
    let plain = |b: &[u8]| {
        b.iter()
            .position(|&c| matches!(c, b'\n' | b'\r' | b'\t' | 8))
            .unwrap_or(b.len())
    };
    for len in [0usize, 1, 31, 32, 33, 64, 100] {
        let filler: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(next_column_special(&filler), len);
        for at in 0..len {
            for special in [b'\n', b'\r', b'\t', 8u8] {
                let mut bytes = filler.clone();
                bytes[at] = special;
                assert_eq!(next_column_special(&bytes), plain(&bytes), "{len} {at}");
            }
        }
    }
}

/// Binary output (every byte value, long runs) reaches the wire with `\n` as
/// `\r\n`, tabs as spaces to the next stop, IAC doubled, and nothing else changed.
#[test]
fn binary_output_is_converted_exactly_like_byte_by_byte() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 256) as u8).collect();
    let mut expected = Vec::new();
    let mut column = 0usize;
    for &b in &data {
        match b {
            b'\n' => {
                expected.extend_from_slice(b"\r\n");
                column = 0;
            }
            b'\r' => {
                expected.push(b);
                column = 0;
            }
            b'\t' => {
                let spaces = 8 - column % 8;
                expected.extend(std::iter::repeat_n(b' ', spaces));
                column += spaces;
            }
            8 => {
                expected.push(b);
                column = column.saturating_sub(1);
            }
            0x20..=0x7e | 0x80..=0xff => {
                expected.push(b);
                column += 1;
            }
            _ => expected.push(b),
        }
    }
    let mut wire = Vec::new();
    super::escape_iac(&expected, &mut wire);
    let mut t = telnet_terminal("oracle");
    t.tty_write(&data);
    assert_eq!(t.transmit, wire);
    assert_eq!(t.column, column);
}

fn take(t: &mut Terminal) -> Vec<u8> {
    let mut out = Vec::new();
    t.poll_transmit(&mut out);
    out
}

fn event_kinds(t: &mut Terminal) -> Vec<busybait_events::EventKind> {
    std::iter::from_fn(|| t.poll_event())
        .map(|e| e.kind)
        .collect()
}

/// `exec` without a pty: three pipes, the bytes as the shell wrote them, standard
/// error apart, and the line's exit status ends the terminal.
#[test]
fn an_exec_on_pipes_keeps_stderr_apart_and_ends_with_its_status() {
    let mut t = attached(
        "oracle",
        Default::default(),
        Attach {
            pty: false,
            width: 0,
            height: 0,
            command: Some(b"echo out; echo err >&2; printf 'a\\tb\\n'; exit 3".to_vec()),
        },
    );
    assert_eq!(take(&mut t), b"out\na\tb\n");
    let mut err = Vec::new();
    assert!(t.poll_stderr(&mut err));
    assert_eq!(err, b"err\n");
    assert_eq!(t.exit_status(), Some(3));
    assert_eq!(t.ended(), Some(busybait_events::CloseReason::DeviceClosed));
    assert_eq!(t.poll_timeout(), None);
}

/// A login shell on a pty: the banner and prompt, echo from the line editor, and the
/// pty's ONLCR and XTABS on what the command writes (no IAC doubling: not telnet).
#[test]
fn a_login_shell_on_a_pty_echoes_and_converts_its_output() {
    let mut t = attached(
        "oracle",
        Default::default(),
        Attach {
            pty: true,
            width: 80,
            height: 24,
            command: None,
        },
    );
    let opening = take(&mut t);
    assert!(opening.ends_with(b"~ # \x1b[6n"), "{opening:?}");
    t.handle_input(now(), b"printf 'a\\tb\\377\\n'\r");
    assert_eq!(
        take(&mut t),
        b"printf 'a\\tb\\377\\n'\r\na       b\xff\r\n~ # \x1b[6n"
    );
    assert_eq!(
        event_kinds(&mut t),
        [busybait_events::EventKind::CommandInput {
            input: "printf 'a\\tb\\377\\n'".into()
        }]
    );
    t.handle_input(now(), b"exit 7\r");
    assert_eq!(take(&mut t), b"exit 7\r\n");
    assert_eq!(t.exit_status(), Some(7));
    assert!(t.is_closed());
}

/// A line longer than `max_line_bytes` ends the terminal with the limit's event.
#[test]
fn a_line_past_the_limit_ends_the_terminal() {
    let limits = Limits {
        max_line_bytes: 16,
        ..Default::default()
    };
    let attach = Attach {
        pty: true,
        width: 80,
        height: 24,
        command: None,
    };
    let mut t = attached("oracle", limits, attach);
    take(&mut t);
    t.handle_input(now(), &[b'x'; 17]);
    assert_eq!(t.ended(), Some(busybait_events::CloseReason::Limit));
    assert_eq!(
        event_kinds(&mut t),
        [busybait_events::EventKind::LimitHit {
            limit: "max_line_bytes",
            value: 16
        }]
    );
}

/// A shell reading its script from a pipe (no pty, no command) exits at the end of
/// its input with the last command's status, as `exit N` gives N.
#[test]
fn a_shell_on_pipes_exits_with_the_last_status_at_the_end_of_input() {
    for (script, status) in [
        (&b"true\nfalse\n"[..], 1),
        (b"false\ntrue", 0),
        (b"echo x; exit 5\necho never\n", 5),
    ] {
        let attach = Attach {
            pty: false,
            width: 0,
            height: 0,
            command: None,
        };
        let mut t = attached("oracle", Default::default(), attach);
        t.handle_input(now(), script);
        t.end_of_stdin(now());
        assert!(t.is_closed(), "{script:?}");
        assert_eq!(t.exit_status(), Some(status), "{script:?}");
    }
}
