//! Session tests with a fake clock and a client written here on the crate's own
//! primitives: exact packets, exact events, exact timing.

use super::*;
use crate::algorithms::HostKeyAlgorithm;
use crate::msg;
use crate::testing::{client_kexinit, password_request, Client, CLIENT_IDENT};
use crate::wire::{put_string, put_u32};
use busybait_device::auth::AuthMode;
use std::time::UNIX_EPOCH;

fn device(profile: &str) -> Arc<busybait_device::terminal::SessionConfig> {
    Arc::new(
        busybait_device::terminal::SessionConfig::builtin(
            profile,
            AuthMode::Sticky,
            Default::default(),
            busybait_device::terminal::Limits::default(),
        )
        .unwrap(),
    )
}

fn config(profile: &str) -> Arc<SshConfig> {
    let keys = vec![
        HostKey::from_seed(HostKeyAlgorithm::Ed25519, [1; 32]),
        HostKey::from_seed(HostKeyAlgorithm::EcdsaP256, [2; 32]),
    ];
    Arc::new(SshConfig {
        device: device(profile),
        server: Server::new(
            DropbearVersion::V2022_83,
            true,
            keys,
            65536,
            "/usr/lib/sftp-server",
        ),
        limits: SshLimits::default(),
    })
}

struct Harness {
    session: Session,
    now: Now,
    config: Arc<SshConfig>,
    client: Client,
}

impl Harness {
    fn new() -> Self {
        Self::with_profile("oracle")
    }

    /// Logged in, with a `session` channel open (the client's number 0, the
    /// server's 5).
    fn with_channel() -> Self {
        let mut h = Self::new();
        h.login();
        h.open_session();
        h
    }

    fn with_profile(profile: &str) -> Self {
        let now = Now {
            mono: Instant::now(),
            wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        };
        let peer = Peer {
            src: "127.0.0.5:40000".parse().unwrap(),
            dst: "127.0.0.1:2222".parse().unwrap(),
            protocol: busybait_events::Protocol::Ssh,
        };
        let config = config(profile);
        let session = Session::new(
            config.clone(),
            SessionId::from_u64(0xabc),
            peer,
            now,
            [3; 32],
        );
        Self {
            session,
            now,
            config,
            client: Client::new([4; 32]),
        }
    }

    fn output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.poll_transmit(&mut out);
        out
    }

    /// Every packet the server has sent since the last call.
    fn packets(&mut self) -> Vec<Vec<u8>> {
        let out = self.output();
        self.client.packets(&out).unwrap()
    }

    fn seal(&mut self, payload: &[u8]) -> Vec<u8> {
        self.client.seal(payload)
    }

    fn send(&mut self, payload: &[u8]) -> Vec<Vec<u8>> {
        let wire = self.seal(payload);
        self.session.handle_input(self.now, &wire);
        self.packets()
    }

    fn advance(&mut self, d: Duration) -> Vec<Vec<u8>> {
        let end = self.now.mono + d;
        while let Some(t) = self.session.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.after(t.saturating_duration_since(self.now.mono));
            self.session.handle_timeout(self.now);
        }
        self.now = self.now.after(end.saturating_duration_since(self.now.mono));
        self.packets()
    }

    /// The `busybait.limit` events since the last call of this or [`Self::events`].
    fn limits(&mut self) -> Vec<EventKind> {
        self.events()
            .into_iter()
            .filter(|e| matches!(e, EventKind::LimitHit { .. }))
            .collect()
    }

    fn events(&mut self) -> Vec<EventKind> {
        std::iter::from_fn(|| self.session.poll_event())
            .map(|e| e.kind)
            .collect()
    }

    /// Reads the server's identification and KEXINIT.
    fn greeting(&mut self) {
        let out = self.output();
        self.client.greeting(&out).unwrap();
    }

    /// The whole key exchange with curve25519, ssh-ed25519, AES-CTR with HMAC one
    /// way and ChaCha20-Poly1305 the other.
    fn handshake(&mut self) {
        self.greeting();
        let kexinit = client_kexinit(
            "curve25519-sha256,kex-strict-c-v00@openssh.com",
            "aes128-ctr",
            "chacha20-poly1305@openssh.com",
            false,
        );
        let hello = self.client.hello(kexinit);
        self.session.handle_input(self.now, &hello);
        let out = self.output();
        let newkeys = self
            .client
            .finish_kex(&self.config.server.lists, &out, true)
            .unwrap();
        self.session.handle_input(self.now, &newkeys);
        assert_eq!(self.packets(), Vec::<Vec<u8>>::new());
    }

    fn password(&mut self, user: &str, password: &str) -> Vec<u8> {
        password_request(user, password)
    }

    fn login(&mut self) {
        self.handshake();
        let mut service = vec![msg::SERVICE_REQUEST];
        put_string(&mut service, b"ssh-userauth");
        let accept = self.send(&service);
        assert_eq!(
            accept,
            [[&[msg::SERVICE_ACCEPT][..], &[0, 0, 0, 12], b"ssh-userauth"].concat()]
        );
        let req = self.password("root", "xc3511");
        assert_eq!(self.send(&req), [vec![msg::USERAUTH_SUCCESS]]);
    }

    fn open_session(&mut self) {
        let mut open = vec![msg::CHANNEL_OPEN];
        put_string(&mut open, b"session");
        put_u32(&mut open, 5);
        put_u32(&mut open, 2 * 1024 * 1024);
        put_u32(&mut open, 32768);
        let reply = self.send(&open);
        let mut expected = vec![msg::CHANNEL_OPEN_CONFIRMATION];
        for v in [5, 0, 65536, 32759] {
            put_u32(&mut expected, v);
        }
        assert_eq!(reply, [expected]);
    }

    fn request(&mut self, kind: &str, want_reply: bool, rest: &[u8]) -> Vec<Vec<u8>> {
        let mut req = vec![msg::CHANNEL_REQUEST];
        put_u32(&mut req, 0);
        put_string(&mut req, kind.as_bytes());
        req.push(u8::from(want_reply));
        req.extend_from_slice(rest);
        self.send(&req)
    }
}

/// `USERAUTH_FAILURE` with Dropbear's methods and no partial success.
fn auth_failure() -> Vec<u8> {
    [
        &[msg::USERAUTH_FAILURE][..],
        &[0, 0, 0, 18],
        b"publickey,password",
        &[0],
    ]
    .concat()
}

fn data(channel: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![msg::CHANNEL_DATA];
    put_u32(&mut out, channel);
    put_string(&mut out, bytes);
    out
}

fn with_channel(kind: u8, channel: u32) -> Vec<u8> {
    let mut out = vec![kind];
    put_u32(&mut out, channel);
    out
}

fn exit_status(channel: u32, status: u32) -> Vec<u8> {
    let mut out = with_channel(msg::CHANNEL_REQUEST, channel);
    put_string(&mut out, b"exit-status");
    out.push(0);
    put_u32(&mut out, status);
    out
}

#[test]
fn the_greeting_is_dropbears_identification_and_kexinit_at_once() {
    let mut h = Harness::new();
    h.greeting();
    assert_eq!(h.client.server_ident, b"SSH-2.0-dropbear_2022.83\r\n");
    let lists = &h.config.server.lists;
    assert_eq!(
        &h.client.server_kexinit[17..],
        &lists.kexinit([0; 16])[17..]
    );
    assert_eq!(lists.hassh_server(), "e1a0b5f8d334ec70fe937b2d5ff8d0b6");
    assert_eq!(h.events(), [EventKind::connect()]);
}

#[test]
fn foreign_identification_lines_get_no_word_only_a_close() {
    for (line, reset) in [
        (&b"SSH-1111-OpenSSH_9.0\r\n"[..], false),
        (b"SSH-1.5-x\r\nmore", true),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
    ] {
        let mut h = Harness::new();
        h.greeting();
        h.session.handle_input(h.now, line);
        assert!(h.session.is_closed(), "{line:?}");
        assert_eq!(h.output(), b"", "{line:?}");
        assert_eq!(h.session.wants_reset(), reset, "{line:?}");
    }
}

#[test]
fn a_password_login_and_an_exec_come_back_in_dropbears_order() {
    let mut h = Harness::with_channel();
    let mut cmd = Vec::new();
    put_string(&mut cmd, b"echo hello; exit 3");
    let replies = h.request("exec", true, &cmd);
    assert_eq!(
        replies,
        [
            with_channel(msg::CHANNEL_SUCCESS, 5),
            data(5, b"hello\n"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 3),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
    assert_eq!(
        h.send(&with_channel(msg::CHANNEL_CLOSE, 0)),
        Vec::<Vec<u8>>::new()
    );
    let events = h.events();
    let ids: Vec<&str> = events.iter().map(EventKind::event_id).collect();
    assert_eq!(
        ids,
        [
            "cowrie.session.connect",
            "cowrie.client.version",
            "cowrie.client.kex",
            "cowrie.login.success",
            "cowrie.command.input"
        ]
    );
    assert_eq!(
        events[1],
        EventKind::ClientVersion {
            version: String::from_utf8_lossy(CLIENT_IDENT).into_owned()
        }
    );
    let EventKind::ClientKex {
        hassh_algorithms, ..
    } = &events[2]
    else {
        unreachable!()
    };
    assert_eq!(
        hassh_algorithms,
        "curve25519-sha256,kex-strict-c-v00@openssh.com;aes128-ctr;hmac-sha2-256,hmac-sha1;none,zlib@openssh.com"
    );
}

#[test]
fn a_wrong_password_is_answered_after_dropbears_delay_and_the_tenth_closes() {
    let mut h = Harness::new();
    h.handshake();
    let failure = auth_failure();
    for attempt in 1..=10 {
        let req = h.password("root", "wrong");
        assert_eq!(
            h.send(&req),
            Vec::<Vec<u8>>::new(),
            "nothing before the delay"
        );
        let wait = h.session.poll_timeout().unwrap() - h.now.mono;
        assert!(
            (Duration::from_millis(250)..Duration::from_millis(350)).contains(&wait),
            "{wait:?}"
        );
        let after = h.advance(wait);
        if attempt < 10 {
            assert_eq!(after, std::slice::from_ref(&failure), "attempt {attempt}");
        } else {
            assert_eq!(
                after,
                Vec::<Vec<u8>>::new(),
                "the tenth failure is never sent"
            );
            assert!(h.session.is_closed());
        }
    }
    assert_eq!(
        h.limits(),
        [EventKind::LimitHit {
            limit: "ssh_max_auth_tries",
            value: 10
        }]
    );
}

#[test]
fn none_and_keyboard_interactive_fail_as_dropbear_fails_them() {
    let mut h = Harness::new();
    h.handshake();
    let failure = auth_failure();
    let mut none = vec![msg::USERAUTH_REQUEST];
    put_string(&mut none, b"root");
    put_string(&mut none, b"ssh-connection");
    put_string(&mut none, b"none");
    assert_eq!(
        h.send(&none),
        std::slice::from_ref(&failure),
        "none: at once"
    );
    let mut kbd = vec![msg::USERAUTH_REQUEST];
    put_string(&mut kbd, b"root");
    put_string(&mut kbd, b"ssh-connection");
    put_string(&mut kbd, b"keyboard-interactive");
    put_string(&mut kbd, b"");
    put_string(&mut kbd, b"");
    assert_eq!(
        h.send(&kbd),
        Vec::<Vec<u8>>::new(),
        "other methods: delayed"
    );
    assert_eq!(h.advance(Duration::from_millis(350)), [failure]);
    let mut other_user = h.password("admin", "x");
    other_user[5] = b'a';
    h.send(&other_user);
    assert!(
        h.session.is_closed(),
        "a second user name ends the connection"
    );
}

#[test]
fn a_pty_shell_is_the_devices_ash_behind_its_line_editor() {
    let mut h = Harness::with_channel();
    let mut pty = Vec::new();
    put_string(&mut pty, b"xterm");
    for v in [100, 30, 0, 0] {
        put_u32(&mut pty, v);
    }
    put_string(&mut pty, b"\x00");
    assert_eq!(
        h.request("pty-req", true, &pty),
        [with_channel(msg::CHANNEL_SUCCESS, 5)]
    );
    let shell = h.request("shell", true, &[]);
    assert_eq!(shell[0], with_channel(msg::CHANNEL_SUCCESS, 5));
    let banner = b"\r\n\r\nBusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) built-in shell (ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n~ # \x1b[6n";
    assert_eq!(shell[1..], [data(5, banner)]);
    let echoed = h.send(&data(0, b"echo hi\r"));
    assert_eq!(echoed, [data(5, b"echo hi\r\nhi\r\n~ # \x1b[6n")]);
    let exit = h.send(&data(0, b"exit\r"));
    assert_eq!(
        exit,
        [
            data(5, b"exit\r\n"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 0),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
}

#[test]
fn a_shell_without_a_pty_runs_the_lines_it_reads_with_no_prompt() {
    let mut h = Harness::with_channel();
    assert_eq!(h.request("shell", false, &[]), Vec::<Vec<u8>>::new());
    assert_eq!(h.send(&data(0, b"echo one\necho tw")), [data(5, b"one\n")]);
    let eof = h.send(&with_channel(msg::CHANNEL_EOF, 0));
    assert_eq!(
        eof,
        [
            data(5, b"tw\n"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 0),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
}

#[test]
fn forwarding_and_env_are_recorded_and_refused() {
    let mut h = Harness::new();
    h.login();
    let mut open = vec![msg::CHANNEL_OPEN];
    put_string(&mut open, b"direct-tcpip");
    put_u32(&mut open, 9);
    put_u32(&mut open, 65536);
    put_u32(&mut open, 32768);
    put_string(&mut open, b"198.51.100.7");
    put_u32(&mut open, 25);
    put_string(&mut open, b"127.0.0.1");
    put_u32(&mut open, 5555);
    let mut refused = with_channel(msg::CHANNEL_OPEN_FAILURE, 9);
    put_u32(&mut refused, 2);
    put_string(&mut refused, b"Connection refused");
    put_string(&mut refused, b"");
    assert_eq!(h.send(&open), [refused]);
    h.open_session();
    let mut env = Vec::new();
    put_string(&mut env, b"LANG");
    put_string(&mut env, b"C.UTF-8");
    assert_eq!(
        h.request("env", true, &env),
        [with_channel(msg::CHANNEL_FAILURE, 5)]
    );
    let events = h.events();
    assert!(events.contains(&EventKind::DirectTcpip {
        dst_ip: "198.51.100.7".into(),
        dst_port: 25,
        orig_ip: "127.0.0.1".into(),
        orig_port: 5555
    }));
    assert!(events.contains(&EventKind::ClientVar {
        name: "LANG".into(),
        value: "C.UTF-8".into()
    }));
}

#[test]
fn a_packet_before_the_kexinit_in_strict_mode_ends_the_connection() {
    let mut h = Harness::new();
    h.greeting();
    let mut wire = CLIENT_IDENT.to_vec();
    wire.extend_from_slice(b"\r\n");
    wire.extend(h.seal(&[msg::IGNORE, 0, 0, 0, 0]));
    wire.extend(h.seal(&client_kexinit(
        "curve25519-sha256,kex-strict-c-v00@openssh.com",
        "aes128-ctr",
        "aes128-ctr",
        false,
    )));
    h.session.handle_input(h.now, &wire);
    assert!(h.session.is_closed(), "First packet wasn't kexinit");
    assert_eq!(h.output(), b"");
}

#[test]
fn a_wrong_kex_guess_is_dropped_and_the_exchange_goes_on() {
    let mut h = Harness::new();
    h.greeting();
    // First choice is one Dropbear lacks: the guessed packet that follows is wrong.
    let kexinit = client_kexinit(
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256",
        "aes128-ctr",
        "aes128-ctr",
        true,
    );
    let mut wire = CLIENT_IDENT.to_vec();
    wire.extend_from_slice(b"\r\n");
    wire.extend(h.seal(&kexinit));
    wire.extend(h.seal(&[msg::KEX_ECDH_INIT, 0, 0, 0, 1, 9]));
    h.session.handle_input(h.now, &wire);
    assert!(!h.session.is_closed());
    assert_eq!(h.packets(), Vec::<Vec<u8>>::new());
    let secret = x25519_dalek::StaticSecret::from([5u8; 32]);
    let mut init = vec![msg::KEX_ECDH_INIT];
    put_string(&mut init, x25519_dalek::PublicKey::from(&secret).as_bytes());
    let replies = h.send(&init);
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0][0], msg::KEX_ECDH_REPLY);
}

#[test]
fn an_overlong_packet_length_closes_before_its_body_arrives() {
    let mut h = Harness::new();
    h.greeting();
    let mut wire = CLIENT_IDENT.to_vec();
    wire.extend_from_slice(b"\r\n\x00\x10\x00\x00\x04\x14\x00\x00");
    h.session.handle_input(h.now, &wire);
    assert!(h.session.is_closed());
    assert!(
        h.session.memory_used() < 4096,
        "{}",
        h.session.memory_used()
    );
}

#[test]
fn a_client_that_never_finishes_the_key_exchange_holds_less_than_a_telnet_login_prompt() {
    // A telnet session waiting at the login prompt, its greeting sent.
    let mut telnet = busybait_telnet::Session::new(
        config("oracle").device.clone(),
        SessionId::from_u64(1),
        Harness::new().session.peer,
        Harness::new().now,
    );
    let mut out = Vec::new();
    telnet.poll_transmit(&mut out);
    let telnet = std::mem::size_of::<busybait_telnet::Session>() + telnet.memory_used();
    // An SSH client that sent its identification and stops.
    let mut h = Harness::new();
    h.greeting();
    let mut ident = CLIENT_IDENT.to_vec();
    ident.extend_from_slice(b"\r\n");
    h.session.handle_input(h.now, &ident);
    while h.session.poll_event().is_some() {}
    let idle = std::mem::size_of::<Session>() + h.session.memory_used();
    // …and one that also sent half its KEXINIT: it holds what it sent, no more.
    let kexinit = h.seal(&client_kexinit(
        "curve25519-sha256",
        "aes128-ctr",
        "aes128-ctr",
        false,
    ));
    let half = &kexinit[..kexinit.len() / 2];
    h.session.handle_input(h.now, half);
    assert!(!h.session.is_closed());
    let partial = std::mem::size_of::<Session>() + h.session.memory_used();
    println!(
        "held before authentication: ssh {idle} bytes (+{} of a half KEXINIT of {} bytes), telnet {telnet}",
        partial - idle,
        half.len()
    );
    assert!(idle <= telnet, "ssh {idle} > telnet {telnet}");
    assert!(
        partial - idle <= half.len().next_power_of_two(),
        "{partial}"
    );
}

#[test]
fn requests_a_client_repeats_at_will_are_recorded_up_to_a_limit() {
    let mut h = Harness::with_channel();
    let mut env = Vec::new();
    put_string(&mut env, b"LANG");
    put_string(&mut env, b"C");
    for _ in 0..300 {
        assert_eq!(
            h.request("env", true, &env),
            [with_channel(msg::CHANNEL_FAILURE, 5)]
        );
    }
    let events = h.events();
    let vars = events
        .iter()
        .filter(|e| matches!(e, EventKind::ClientVar { .. }))
        .count();
    let limits: Vec<&EventKind> = events
        .iter()
        .filter(|e| matches!(e, EventKind::LimitHit { .. }))
        .collect();
    assert_eq!(vars, 256);
    assert_eq!(
        limits,
        [&EventKind::LimitHit {
            limit: "ssh_recorded_requests",
            value: 256
        }]
    );
}

#[test]
fn a_rekey_the_client_never_finishes_holds_the_shells_output_back() {
    let mut h = Harness::new();
    h.login();
    let mut open = vec![msg::CHANNEL_OPEN];
    put_string(&mut open, b"session");
    put_u32(&mut open, 5);
    put_u32(&mut open, 500_000_000);
    put_u32(&mut open, 32768);
    assert_eq!(h.send(&open).len(), 1);
    // A command that writes two megabytes a second from now…
    let mut cmd = Vec::new();
    put_string(&mut cmd, b"sleep 1; cat /bin/busybox");
    assert_eq!(
        h.request("exec", true, &cmd),
        [with_channel(msg::CHANNEL_SUCCESS, 5)]
    );
    // …and a rekey the client starts and never finishes.
    let rekey = h.send(&client_kexinit(
        "curve25519-sha256",
        "aes128-ctr",
        "aes128-ctr",
        false,
    ));
    assert_eq!(rekey.len(), 1);
    assert_eq!(rekey[0][0], msg::KEXINIT);
    let held = h.advance(Duration::from_secs(5));
    assert_eq!(
        held,
        Vec::<Vec<u8>>::new(),
        "nothing goes out before NEWKEYS"
    );
    assert!(!h.session.is_closed());
    // The shell waits with its output instead of piling it into packets held for
    // a NEWKEYS that never comes.
    assert_eq!(h.session.held.len(), 0);
}

#[test]
fn an_exec_reads_what_the_client_sends_until_its_eof() {
    let mut h = Harness::with_channel();
    let mut cmd = Vec::new();
    put_string(&mut cmd, b"cat > .x; read -r line; wc -c .x");
    assert_eq!(
        h.request("exec", true, &cmd),
        [with_channel(msg::CHANNEL_SUCCESS, 5)]
    );
    assert_eq!(h.send(&data(0, b"\x7fELF\x01")), Vec::<Vec<u8>>::new());
    assert_eq!(h.send(&data(0, b"\x02\x03\n")), Vec::<Vec<u8>>::new());
    assert_eq!(
        h.send(&with_channel(msg::CHANNEL_EOF, 0)),
        [
            data(5, b"8 .x\n"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 0),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
}

#[test]
fn read_takes_one_line_of_the_pipe_as_it_arrives() {
    let mut h = Harness::with_channel();
    let mut cmd = Vec::new();
    put_string(&mut cmd, b"read a; echo got $a; cat");
    assert_eq!(
        h.request("exec", true, &cmd),
        [with_channel(msg::CHANNEL_SUCCESS, 5)]
    );
    assert_eq!(h.send(&data(0, b"one")), Vec::<Vec<u8>>::new());
    assert_eq!(h.send(&data(0, b" two\nrest")), [data(5, b"got one two\n")]);
    assert_eq!(
        h.send(&with_channel(msg::CHANNEL_EOF, 0)),
        [
            data(5, b"rest"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 0),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
}

#[test]
fn the_window_comes_back_only_for_what_the_stdin_pipe_took() {
    let mut h = Harness::with_channel();
    let mut cmd = Vec::new();
    put_string(&mut cmd, b"sleep 10; wc -c");
    assert_eq!(
        h.request("exec", true, &cmd),
        [with_channel(msg::CHANNEL_SUCCESS, 5)]
    );
    let adjust = |n: u32| {
        let mut out = with_channel(msg::CHANNEL_WINDOW_ADJUST, 5);
        put_u32(&mut out, n);
        out
    };
    // The first 64 KiB fill the pipe: written, so the window comes back.
    let chunk = vec![b'a'; 32_768];
    assert_eq!(h.send(&data(0, &chunk)), [adjust(32_768)]);
    assert_eq!(h.send(&data(0, &chunk)), [adjust(32_768)]);
    // The next 64 KiB wait for a reader: no window for them.
    assert_eq!(h.send(&data(0, &chunk)), Vec::<Vec<u8>>::new());
    assert_eq!(h.send(&data(0, &chunk)), Vec::<Vec<u8>>::new());
    // The pipe's bytes are the session's memory.
    assert!(h.session.memory_used() > 2 * 65_536);
    // `wc` reads: the pipe drains and the window comes back.
    assert_eq!(h.advance(Duration::from_secs(10)), [adjust(65_536)]);
    assert_eq!(
        h.send(&with_channel(msg::CHANNEL_EOF, 0)),
        [
            data(5, b"131072\n"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 0),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
}

/// `exec` of `command` on a fresh login to `profile`, answered `CHANNEL_SUCCESS`:
/// the harness, and what came after the answer.
fn exec(profile: &str, command: &[u8]) -> (Harness, Vec<Vec<u8>>) {
    let mut h = Harness::with_profile(profile);
    h.login();
    h.open_session();
    let mut cmd = Vec::new();
    put_string(&mut cmd, command);
    let mut replies = h.request("exec", true, &cmd);
    assert_eq!(replies.remove(0), with_channel(msg::CHANNEL_SUCCESS, 5));
    (h, replies)
}

#[test]
fn scp_uploads_arrive_as_files_and_become_samples_on_a_profile_with_scp() {
    let (mut h, first) = exec("ipcam-mipsel", b"scp -t /tmp && ls -l /tmp/bot.mips");
    // The sink's first word is a NUL; each record is answered with one.
    assert_eq!(first, [data(5, b"\0")]);
    assert_eq!(
        h.send(&data(0, b"T1700000000 0 1700000000 0\n")),
        [data(5, b"\0")]
    );
    assert_eq!(h.send(&data(0, b"C0755 6 bot.mips\n")), [data(5, b"\0")]);
    assert_eq!(h.send(&data(0, b"\x7fELF")), Vec::<Vec<u8>>::new());
    assert_eq!(h.send(&data(0, b"\x01\x02\0")), [data(5, b"\0")]);
    let eof = h.send(&with_channel(msg::CHANNEL_EOF, 0));
    assert_eq!(
        eof[0],
        data(
            5,
            b"-rwxr-xr-x    1 root     root             6 Nov 14  2023 /tmp/bot.mips\n"
        )
    );
    assert_eq!(
        eof[1..],
        [
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 0),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
    let sample = h.session.poll_sample().expect("the upload is a sample");
    assert_eq!(
        (&sample.path[..], &sample.data[..], sample.origin),
        (
            &b"/tmp/bot.mips"[..],
            &b"\x7fELF\x01\x02"[..],
            busybait_device::vfs::Origin::Uploaded("bot.mips".into())
        )
    );
}

#[test]
fn scp_refuses_as_dropbears_scp_refuses() {
    // A target whose directory is missing: the error goes back in the protocol and
    // the sink waits for the next record.
    let (mut h, first) = exec("ipcam-mipsel", b"scp -t /nowhere/x");
    assert_eq!(first, [data(5, b"\0")]);
    assert_eq!(
        h.send(&data(0, b"C0644 3 x\n")),
        [data(5, b"\x01scp: /nowhere/x: No such file or directory\n")]
    );
    let eof = h.send(&with_channel(msg::CHANNEL_EOF, 0));
    assert_eq!(
        eof[..2],
        [with_channel(msg::CHANNEL_EOF, 5), exit_status(5, 1)]
    );
    // A name with a slash ends the run.
    let (mut h, _) = exec("ipcam-mipsel", b"scp -t /tmp");
    assert_eq!(
        h.send(&data(0, b"C0644 3 ../x\n")),
        [
            data(5, b"\x01scp: error: unexpected filename: ../x\n"),
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 1),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
    // A directory without -r is a protocol error.
    let (mut h, _) = exec("ipcam-mipsel", b"scp -t /tmp");
    assert_eq!(
        h.send(&data(0, b"D0755 0 d\n"))[0],
        data(
            5,
            b"\x01scp: protocol error: received directory without -r\n"
        )
    );
    // The oracle's Dropbear has no scp at all.
    let (_, replies) = exec("oracle", b"scp -t /tmp");
    let mut stderr = with_channel(msg::CHANNEL_EXTENDED_DATA, 5);
    put_u32(&mut stderr, 1);
    put_string(&mut stderr, b"sh: scp: not found\n");
    assert_eq!(replies[0], stderr);
}

/// The `publickey` request for `blob` (a query without a signature).
fn publickey_query(user: &str, algorithm: &str, blob: &[u8]) -> Vec<u8> {
    let mut req = vec![msg::USERAUTH_REQUEST];
    put_string(&mut req, user.as_bytes());
    put_string(&mut req, b"ssh-connection");
    put_string(&mut req, b"publickey");
    req.push(0);
    put_string(&mut req, algorithm.as_bytes());
    put_string(&mut req, blob);
    req
}

#[test]
fn an_offered_key_is_recorded_once_with_its_fingerprints_and_refused_at_once() {
    let mut h = Harness::new();
    h.handshake();
    // An ed25519 public key of 32 bytes of 7: `ssh-keygen -l` says MD5
    // be:86:…:f3:29 and SHA256:gNSI…WjQ of it.
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, &[7; 32]);
    let failure = auth_failure();
    let query = publickey_query("root", "ssh-ed25519", &blob);
    // Not planted: refused at once, uncounted, as Dropbear refuses a key it does
    // not find in `authorized_keys`; offered again, it is not recorded again.
    assert_eq!(h.send(&query), std::slice::from_ref(&failure));
    assert_eq!(h.send(&query), std::slice::from_ref(&failure));
    let offered = EventKind::ClientPublicKey {
        username: "root".into(),
        fingerprint: "be:86:90:2b:33:7b:1a:cd:8a:9e:55:64:d7:04:f3:29".into(),
        fingerprint_sha256: "SHA256:gNSIRW+2Iyiuvsdp/bgjy38bvWHw6wQm3tuoXrl3WjQ".into(),
        key: "AAAAC3NzaC1lZDI1NTE5AAAAIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH".into(),
        key_type: "ssh-ed25519".into(),
    };
    let keys: Vec<EventKind> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, EventKind::ClientPublicKey { .. }))
        .collect();
    assert_eq!(keys, std::slice::from_ref(&offered));
    assert_eq!(offered.event_id(), "cowrie.client.fingerprint");
    // A key for another user is refused the same way (the user is not root).
    let mut other = blob.clone();
    other.push(0);
    let mut h = Harness::new();
    h.handshake();
    assert_eq!(
        h.send(&publickey_query("admin", "ssh-ed25519", &other)),
        [failure]
    );
    // The password still works afterwards: refused keys are not counted.
    let mut service = vec![msg::SERVICE_REQUEST];
    put_string(&mut service, b"ssh-userauth");
    h.send(&service);
    let req = h.password("admin", "x");
    assert_eq!(
        h.send(&req),
        Vec::<Vec<u8>>::new(),
        "a counted failure waits"
    );
}

#[test]
fn window_change_resizes_the_pty_and_is_recorded_and_refused_without_one() {
    let mut h = Harness::with_channel();
    let size = |cols: u32, rows: u32| {
        let mut rest = Vec::new();
        for v in [cols, rows, 0, 0] {
            put_u32(&mut rest, v);
        }
        rest
    };
    // No pty yet: nothing to resize.
    assert_eq!(
        h.request("window-change", true, &size(120, 40)),
        [with_channel(msg::CHANNEL_FAILURE, 5)]
    );
    let mut pty = Vec::new();
    put_string(&mut pty, b"vt100");
    pty.extend(size(80, 24));
    put_string(&mut pty, b"\x00");
    h.request("pty-req", true, &pty);
    h.request("shell", true, &[]);
    // Without want-reply (as OpenSSH sends it) no answer; the shell's line editor
    // redraws its prompt for the new width (BusyBox's SIGWINCH handler).
    let redraw = data(5, b"\r~ # \x1b[J");
    assert_eq!(
        h.request("window-change", false, &size(132, 50)),
        std::slice::from_ref(&redraw)
    );
    assert_eq!(
        h.request("window-change", true, &size(70_000, 1)),
        [with_channel(msg::CHANNEL_SUCCESS, 5), redraw]
    );
    let sizes: Vec<EventKind> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, EventKind::ClientSize { .. }))
        .collect();
    assert_eq!(
        sizes,
        [
            EventKind::ClientSize {
                width: 80,
                height: 24
            },
            EventKind::ClientSize {
                width: 132,
                height: 50
            },
            EventKind::ClientSize {
                width: u16::MAX,
                height: 1
            },
        ]
    );
    assert_eq!(sizes[0].event_id(), "cowrie.client.size");
}

#[test]
fn subsystem_sftp_runs_the_profiles_sftp_server_and_others_are_refused() {
    let mut h = Harness::with_channel();
    let mut name = Vec::new();
    put_string(&mut name, b"netconf");
    assert_eq!(
        h.request("subsystem", true, &name),
        [with_channel(msg::CHANNEL_FAILURE, 5)]
    );
    let mut sftp = Vec::new();
    put_string(&mut sftp, b"sftp");
    let replies = h.request("subsystem", true, &sftp);
    // The oracle's Dropbear names an sftp-server its system does not have: granted,
    // then the shell says so on standard error and exits 127.
    let mut stderr = with_channel(msg::CHANNEL_EXTENDED_DATA, 5);
    put_u32(&mut stderr, 1);
    put_string(&mut stderr, b"sh: /usr/lib/sftp-server: not found\n");
    assert_eq!(
        replies,
        [
            with_channel(msg::CHANNEL_SUCCESS, 5),
            stderr,
            with_channel(msg::CHANNEL_EOF, 5),
            exit_status(5, 127),
            with_channel(msg::CHANNEL_CLOSE, 5),
        ]
    );
    let requests: Vec<EventKind> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, EventKind::SshRequest { .. }))
        .collect();
    assert_eq!(
        requests,
        [
            EventKind::SshRequest {
                request: "subsystem".into(),
                detail: "netconf".into(),
                granted: false
            },
            EventKind::SshRequest {
                request: "subsystem".into(),
                detail: "sftp".into(),
                granted: true
            },
        ]
    );
    assert_eq!(requests[0].event_id(), "busybait.ssh.request");
}

#[test]
fn tcpip_forward_is_recorded_and_refused() {
    let mut h = Harness::new();
    h.login();
    let forward = |want_reply: bool| {
        let mut req = vec![msg::GLOBAL_REQUEST];
        put_string(&mut req, b"tcpip-forward");
        req.push(u8::from(want_reply));
        put_string(&mut req, b"0.0.0.0");
        put_u32(&mut req, 8080);
        req
    };
    assert_eq!(h.send(&forward(true)), [vec![msg::REQUEST_FAILURE]]);
    assert_eq!(h.send(&forward(false)), Vec::<Vec<u8>>::new());
    let refused = EventKind::SshRequest {
        request: "tcpip-forward".into(),
        detail: "0.0.0.0:8080".into(),
        granted: false,
    };
    let events = h.events();
    assert_eq!(
        events.iter().filter(|e| **e == refused).count(),
        2,
        "{events:?}"
    );
}

#[test]
fn channels_past_the_limit_are_refused_for_want_of_resources() {
    let mut h = Harness::new();
    h.login();
    let max = SshLimits::default().max_channels;
    let open = |sender: u32| {
        let mut open = vec![msg::CHANNEL_OPEN];
        put_string(&mut open, b"session");
        put_u32(&mut open, sender);
        put_u32(&mut open, 65536);
        put_u32(&mut open, 32768);
        open
    };
    for i in 0..max {
        let sender = 100 + u32::try_from(i).unwrap();
        let reply = h.send(&open(sender));
        assert_eq!(reply.len(), 1);
        assert_eq!(reply[0][0], msg::CHANNEL_OPEN_CONFIRMATION, "channel {i}");
    }
    let mut short = with_channel(msg::CHANNEL_OPEN_FAILURE, 999);
    put_u32(&mut short, msg::open_failure::RESOURCE_SHORTAGE);
    put_string(&mut short, b"");
    put_string(&mut short, b"");
    assert_eq!(h.send(&open(999)), [short]);
    // A closed channel's slot is free again.
    assert_eq!(
        h.send(&with_channel(msg::CHANNEL_CLOSE, 0)),
        [with_channel(msg::CHANNEL_CLOSE, 100)]
    );
    let again = h.send(&open(1000));
    assert_eq!(again[0][0], msg::CHANNEL_OPEN_CONFIRMATION);
    assert_eq!(again[0][5..9], [0, 0, 0, 0], "slot 0 reused");
}

#[test]
fn data_past_the_window_ends_the_connection() {
    let mut h = Harness::with_channel();
    let mut cmd = Vec::new();
    put_string(&mut cmd, b"sleep 10");
    h.request("exec", true, &cmd);
    // 64 KiB go into the pipe and come back as window; the next 64 KiB wait for a
    // reader, which `sleep` is not: then the window is used up.
    let chunk = vec![b'a'; 32_768];
    for _ in 0..4 {
        h.send(&data(0, &chunk));
    }
    assert!(!h.session.is_closed());
    assert_eq!(h.send(&data(0, b"x")), Vec::<Vec<u8>>::new());
    assert!(h.session.is_closed(), "Dropbear: \"Oversized packet\"");
}

#[test]
fn a_client_that_does_not_log_in_in_time_is_closed_without_a_word() {
    let mut h = Harness::new();
    h.handshake();
    // Input keeps the idle timeout away; the authentication deadline runs from the
    // connection.
    let mut ignore = vec![msg::IGNORE];
    put_string(&mut ignore, b"");
    assert_eq!(h.advance(Duration::from_secs(200)), Vec::<Vec<u8>>::new());
    assert_eq!(h.send(&ignore), Vec::<Vec<u8>>::new());
    assert_eq!(h.advance(Duration::from_secs(99)), Vec::<Vec<u8>>::new());
    assert!(!h.session.is_closed());
    assert_eq!(h.advance(Duration::from_secs(1)), Vec::<Vec<u8>>::new());
    assert!(h.session.is_closed());
    assert_eq!(
        h.limits(),
        [EventKind::LimitHit {
            limit: "ssh_auth_timeout",
            value: 300
        }]
    );
}

#[test]
fn input_held_during_a_failure_delay_is_bounded() {
    let mut h = Harness::new();
    h.handshake();
    let req = h.password("root", "wrong");
    assert_eq!(h.send(&req), Vec::<Vec<u8>>::new());
    // Packets that arrive during the delay wait; past the limit the session ends.
    let max = SshLimits::default().max_input_bytes;
    let flood = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while !h.session.is_closed() && sent <= max + flood.len() {
        h.session.handle_input(h.now, &flood);
        sent += flood.len();
    }
    assert!(h.session.is_closed());
    assert!(sent > max, "{sent}");
    assert!(h.events().contains(&EventKind::LimitHit {
        limit: "ssh_max_input_bytes",
        value: max as u64
    }));
}
