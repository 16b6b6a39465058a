//! The SSH door against the real Dropbear 2022.83 (Debian's `dropbear-bin`, in the
//! oracle sandbox of `util::dropbear`), byte for byte where the protocol allows:
//! the identification line, the KEXINIT (all but its random cookie and padding),
//! what 25 malformed or foreign identification lines and 15 kinds of early packet
//! get, and the decrypted packets
//! of a whole session (authentication failures and success, a channel, `exec`
//! output, exit status and Dropbear's order of EOF, exit-status and CLOSE, a pty
//! shell's first screen), as one client (busybait-ssh's test client) sees them;
//! the authentication limits and refused methods; the corpus's terminal group typed
//! into a pty; and the whole fidelity corpus with the real sessions as `exec` lines
//! (stdout, stderr, exit status).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::time::{Duration, Instant};

use busybait_ssh::algorithms::DropbearVersion;
use busybait_ssh::msg;
use busybait_ssh::testing::{client_kexinit, password_request, Client};
use busybait_ssh::wire::{put_string, put_u32};
use util::dropbear::Dropbear;
use util::oracle::Wire;
use util::{test_config, Sensor};

const STEP: Duration = Duration::from_secs(10);

fn sensor() -> Sensor {
    Sensor::start_ssh(&format!(
        "{}\n",
        test_config("oracle", "", "mode = \"lists\"\nallow = [\"root:xc3511\"]")
    ))
}

/// Reads what arrives until `done` says the bytes are enough, or the peer closes:
/// (bytes, closed).
fn read_while(w: &mut dyn Wire, done: impl Fn(&[u8]) -> bool) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let deadline = Instant::now() + STEP;
    while !done(&buf) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; have {} bytes", buf.len());
        w.set_timeout(left);
        let mut tmp = [0u8; 65536];
        match w.read(&mut tmp) {
            Ok(0) => return (buf, true),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (buf, true),
            // A signal can interrupt the read (EINTR): read again.
            Err(e) if read_again(&e) => {}
            Err(e) => panic!("{e}"),
        }
    }
    (buf, false)
}

/// Whether `bytes` hold the identification line and one whole clear packet.
fn greeting_done(bytes: &[u8]) -> bool {
    let Some(end) = util::find(bytes, b"\r\n") else {
        return false;
    };
    let rest = &bytes[end + 2..];
    rest.len() >= 4 && rest.len() >= 4 + u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize
}

/// The greeting with the KEXINIT's cookie and padding blanked: what must be equal.
fn comparable_greeting(bytes: &[u8]) -> Vec<u8> {
    let end = util::find(bytes, b"\r\n").unwrap() + 2;
    let mut out = bytes.to_vec();
    let packet = end;
    let len = u32::from_be_bytes(out[packet..packet + 4].try_into().unwrap()) as usize;
    let padding = usize::from(out[packet + 4]);
    // Cookie: the 16 bytes after the message number.
    out[packet + 6..packet + 22].fill(0);
    let pad_at = packet + 4 + len - padding;
    out[pad_at..packet + 4 + len].fill(0);
    out.truncate(packet + 4 + len);
    out
}

fn oracle() -> Dropbear {
    let d = Dropbear::start();
    d.stream.set_timeout(STEP);
    d
}

#[test]
fn the_greeting_is_dropbears_byte_for_byte_but_the_random_cookie() {
    let sensor = sensor();
    let mut theirs = oracle();
    let (real, _) = read_while(&mut theirs.stream, greeting_done);
    let mut ours = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
    let (mine, _) = read_while(&mut ours, greeting_done);
    assert_eq!(
        String::from_utf8_lossy(&comparable_greeting(&mine)),
        String::from_utf8_lossy(&comparable_greeting(&real)),
        "{}",
        theirs.log()
    );
    let lists = DropbearVersion::V2022_83.lists(&[], true);
    assert_eq!(lists.hassh_server(), "e1a0b5f8d334ec70fe937b2d5ff8d0b6");
    println!(
        "greeting: identical (identification and KEXINIT, {} bytes)",
        real.len()
    );
}

/// Identification lines a scanner or a fingerprinting tool sends; for the ones a
/// server takes, a bad packet length follows, so that every case ends in a close.
const IDENTS: &[&[u8]] = &[
    b"SSH-1111-OpenSSH_9.0\r\n",
    b"SSH-1.5-OpenSSH_3.0\r\n",
    b"SSH-1.99-OpenSSH_3.9\r\n",
    b"SSH-2.0-OpenSSH_9.2p1\r\n",
    b"SSH-2.0-HELLOWORLD\r\n",
    b"SSH-2.5-x\n",
    b"SSH-2.\r\n",
    b"SSH-2-x\r\n",
    b"SSH-3.0-x\r\n",
    b"ssh-2.0-lower\r\n",
    b"  SSH-2.0-leading-space\r\n",
    b"\r\nSSH-2.0-after-an-empty-line\r\n",
    b"SSH-\r\n",
    b"SSH-2.0-a\rb\r\n",
    b"SSH-2.0-nul\x00byte\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01",
    b"\x00\x00\x01\x0c\x0a\x14\x00\x00\x00\x00\x00\x00",
    b"QUIT\r\n",
    b"\n",
    b"SSH-2.0-Go\r\n",
    b"SSH-2.0-libssh2_1.11.0\r\n",
    b"SSH-2.0-PuTTY_Release_0.78\r\n",
];

/// What a peer does with `line` (and, if it stays, a bad packet length): the bytes
/// after its greeting, and whether it closed.
fn foreign(w: &mut dyn Wire, line: &[u8]) -> (Vec<u8>, bool) {
    read_while(w, greeting_done);
    w.write_all(line).unwrap();
    // A bad packet length for a peer that took the line (a long line makes it read
    // 255 bytes and take the rest as a packet), and a newline for one still reading
    // a line.
    let _ = w.write_all(b"\x7f\xff\xff\xf0\x00\x00\x00\x00\n");
    read_while(w, |_| false)
}

#[test]
fn foreign_and_malformed_identification_lines_get_what_dropbear_gives() {
    let sensor = sensor();
    let mut long = b"SSH-2.0-".to_vec();
    long.extend(std::iter::repeat_n(b'a', 300));
    long.extend_from_slice(b"\r\n");
    let mut cases: Vec<&[u8]> = IDENTS.to_vec();
    cases.push(&long);
    let mut identical = 0;
    for line in &cases {
        let mut theirs = oracle();
        let real = foreign(&mut theirs.stream, line);
        let mut ours = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
        ours.set_timeout(STEP);
        let mine = foreign(&mut ours, line);
        assert_eq!(mine, real, "{:?}", String::from_utf8_lossy(line));
        identical += 1;
    }
    println!(
        "foreign identification lines: {identical}/{} identical",
        cases.len()
    );
}

/// `payload` as a clear packet: padding to a multiple of eight, at least four bytes.
fn clear_packet(payload: &[u8]) -> Vec<u8> {
    let mut padding = 8 - (payload.len() + 5) % 8;
    if padding < 4 {
        padding += 8;
    }
    let mut out = ((payload.len() + 1 + padding) as u32)
        .to_be_bytes()
        .to_vec();
    out.push(padding as u8);
    out.extend_from_slice(payload);
    out.resize(out.len() + padding, 0);
    out
}

/// The test client's KEXINIT with `kex` and `cipher` both ways.
fn kexinit_with(kex: &str, cipher: &str) -> Vec<u8> {
    client_kexinit(kex, cipher, cipher, false)
}

/// Clear packets a client sends right after its identification line, in place of
/// a proper key exchange, each case ending (as in [`foreign`]) with a bad length.
fn early_packets() -> Vec<(&'static str, Vec<u8>)> {
    let service = {
        let mut p = vec![msg::SERVICE_REQUEST];
        put_string(&mut p, b"ssh-userauth");
        p
    };
    let debug = {
        let mut p = vec![4u8, 1];
        put_string(&mut p, b"hello");
        put_string(&mut p, b"");
        p
    };
    let ecdh_init = {
        let mut p = vec![30u8];
        put_string(&mut p, &[9; 32]);
        p
    };
    let good = kexinit_with("curve25519-sha256", "aes128-ctr");
    let cases: Vec<(&'static str, Vec<Vec<u8>>)> = vec![
        (
            "a service request before the KEXINIT",
            vec![service.clone()],
        ),
        ("IGNORE", vec![vec![msg::IGNORE, 0, 0, 0, 0]]),
        ("DEBUG", vec![debug]),
        ("UNIMPLEMENTED", vec![vec![3, 0, 0, 0, 0]]),
        ("an unknown message type", vec![vec![200, 1, 2, 3]]),
        ("message type 0", vec![vec![0]]),
        ("the ECDH init before the KEXINIT", vec![ecdh_init.clone()]),
        ("NEWKEYS before the KEXINIT", vec![vec![msg::NEWKEYS]]),
        (
            "no common kex",
            vec![kexinit_with("diffie-hellman-group1-sha1", "aes128-ctr")],
        ),
        (
            "no common cipher",
            vec![kexinit_with("curve25519-sha256", "blowfish-cbc")],
        ),
        ("a truncated KEXINIT", vec![good[..40].to_vec()]),
        ("a KEXINIT twice", vec![good.clone(), good.clone()]),
        (
            "a KEXINIT, then a service request",
            vec![good.clone(), service],
        ),
        (
            "a KEXINIT, then NEWKEYS",
            vec![good.clone(), vec![msg::NEWKEYS]],
        ),
        (
            "a KEXINIT, then a short ECDH init",
            vec![good, vec![30, 0, 0, 0, 1, 9]],
        ),
    ];
    cases
        .into_iter()
        .map(|(name, payloads)| {
            let mut wire = b"SSH-2.0-OpenSSH_9.2p1\r\n".to_vec();
            for p in payloads {
                wire.extend(clear_packet(&p));
            }
            (name, wire)
        })
        .collect()
}

#[test]
fn early_packets_get_what_dropbear_gives() {
    let sensor = sensor();
    let cases = early_packets();
    let mut identical = 0;
    for (name, wire) in &cases {
        let mut theirs = oracle();
        let real = foreign(&mut theirs.stream, wire);
        let mut ours = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
        ours.set_timeout(STEP);
        let mine = foreign(&mut ours, wire);
        assert_eq!(
            (blank_padding(&mine.0), mine.1),
            (blank_padding(&real.0), real.1),
            "{name}"
        );
        identical += 1;
    }
    println!("early packets: {identical}/{} identical", cases.len());
}

/// Clear packets with their (random) padding bytes zeroed.
fn blank_padding(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut at = 0;
    while let Some(len) = out.get(at..at + 4) {
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let (Some(&padding), true) = (out.get(at + 4), out.len() >= at + 4 + len) else {
            break;
        };
        let end = at + 4 + len;
        out[end.saturating_sub(usize::from(padding))..end].fill(0);
        at = end;
    }
    out
}

/// A client session on `w`: every decrypted packet the server sent, in order, each
/// step's labelled.
struct Session<'a> {
    w: &'a mut dyn Wire,
    client: Client,
    lists: busybait_ssh::algorithms::ServerLists,
    log: Vec<(String, Vec<u8>)>,
    /// How long a step may take.
    patience: Duration,
}

impl<'a> Session<'a> {
    fn open(w: &'a mut dyn Wire) -> Self {
        let (greeting, _) = read_while(w, greeting_done);
        let mut client = Client::new([9; 32]);
        client.greeting(&greeting).unwrap();
        let hello = client.hello(client_kexinit(
            "curve25519-sha256,kex-strict-c-v00@openssh.com",
            "aes128-ctr",
            "chacha20-poly1305@openssh.com",
            false,
        ));
        w.write_all(&hello).unwrap();
        // The reply and NEWKEYS: two clear packets.
        let (replies, _) = read_while(w, |b| clear_packets(b) >= 2);
        let lists = DropbearVersion::V2022_83.lists(
            &[
                busybait_ssh::algorithms::HostKeyAlgorithm::Ed25519,
                busybait_ssh::algorithms::HostKeyAlgorithm::EcdsaP256,
            ],
            true,
        );
        let newkeys = client.finish_kex(&lists, &replies, true).unwrap();
        w.write_all(&newkeys).unwrap();
        Session {
            w,
            client,
            lists,
            log: Vec::new(),
            patience: STEP,
        }
    }

    /// Sends `payload` and records the `n` packets that answer it.
    fn step(&mut self, label: &str, payload: &[u8], n: usize) -> Duration {
        self.step_until(label, payload, |got| got.len() >= n)
    }

    /// Sends `payload` and records the packets that answer it, until `enough`.
    fn step_until(
        &mut self,
        label: &str,
        payload: &[u8],
        enough: impl Fn(&[Vec<u8>]) -> bool,
    ) -> Duration {
        let started = Instant::now();
        let got = self.exchange(label, &[payload], enough);
        let took = started.elapsed();
        for p in got {
            self.log.push((label.to_string(), p));
        }
        took
    }

    /// Sends `payloads` and returns the packets that answer them, until `enough`.
    fn exchange(
        &mut self,
        label: &str,
        payloads: &[&[u8]],
        enough: impl Fn(&[Vec<u8>]) -> bool,
    ) -> Vec<Vec<u8>> {
        for payload in payloads {
            let wire = self.client.seal(payload);
            self.w.write_all(&wire).unwrap();
        }
        let mut got = Vec::new();
        let mut pending = Vec::new();
        let deadline = Instant::now() + self.patience;
        while !enough(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{label}: only {got:?}");
            self.w.set_timeout(left);
            let mut tmp = [0u8; 65536];
            match self.w.read(&mut tmp) {
                Ok(0) => break,
                Ok(k) => pending.extend_from_slice(&tmp[..k]),
                Err(e) if read_again(&e) => {}
                Err(e) => panic!("{label}: {e}"),
            }
            got.extend(self.client.packets(&pending).unwrap());
            pending.clear();
        }
        got
    }
}

/// Whether a read that failed so is tried again: it timed out, or a signal cut it
/// short (the test process's children end).
fn read_again(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Whole clear packets at the start of `bytes`.
fn clear_packets(bytes: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        if bytes.len() < at + 4 + len {
            break;
        }
        at += 4 + len;
        n += 1;
    }
    n
}

fn request(kind: &str, want_reply: bool, rest: &[u8]) -> Vec<u8> {
    let mut req = vec![msg::CHANNEL_REQUEST];
    put_u32(&mut req, 0);
    put_string(&mut req, kind.as_bytes());
    req.push(u8::from(want_reply));
    req.extend_from_slice(rest);
    req
}

fn open_channel() -> Vec<u8> {
    let mut open = vec![msg::CHANNEL_OPEN];
    put_string(&mut open, b"session");
    put_u32(&mut open, 7);
    put_u32(&mut open, 2 * 1024 * 1024);
    put_u32(&mut open, 32768);
    open
}

/// The session every peer gets: service request, `none`, a wrong password (its
/// delay measured), the right one, a channel and one `exec`.
fn scripted(w: &mut dyn Wire, command: &str) -> (Vec<(String, Vec<u8>)>, Duration) {
    let mut s = Session::open(w);
    s.userauth_service();
    let mut none = vec![msg::USERAUTH_REQUEST];
    put_string(&mut none, b"root");
    put_string(&mut none, b"ssh-connection");
    put_string(&mut none, b"none");
    s.step("none", &none, 1);
    let delay = s.step("wrong password", &password_request("root", "wrong"), 1);
    s.step("password", &password_request("root", "xc3511"), 1);
    s.step("open", &open_channel(), 1);
    let mut cmd = Vec::new();
    put_string(&mut cmd, command.as_bytes());
    // Success, the output, EOF, exit-status, CLOSE.
    s.step_until("exec", &request("exec", true, &cmd), |got| {
        got.last().and_then(|p| p.first()) == Some(&msg::CHANNEL_CLOSE)
    });
    let _ = s.lists.hassh_server();
    (s.log, delay)
}

#[test]
fn a_whole_session_decrypts_to_dropbears_packets() {
    let sensor = sensor();
    let mut identical = 0;
    let commands = [
        "echo hello; exit 3",
        "uname -m",
        "echo $0; echo $-",
        "cd /nonexistent",
        "true",
        "echo out; echo err >&2; exit 42",
        "ls /nonexistent",
        "nosuchcommand",
        "exit abc",
        "cat /proc/nonexistent 2>&1",
    ];
    for command in commands {
        let mut theirs = oracle();
        let (real, real_delay) = scripted(&mut theirs.stream, command);
        let mut tcp = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
        tcp.set_nodelay(true).unwrap();
        let (mine, my_delay) = scripted(&mut tcp, command);
        // How output is cut into data packets depends on when the server reads the
        // shell's pipes: consecutive packets of one stream are compared as one.
        let show = |log: &[(String, Vec<u8>)]| {
            let mut merged: Vec<(String, Vec<u8>)> = Vec::new();
            for (label, p) in log {
                // Where the data starts: after the channel, and for stderr its type.
                let header = match p.first() {
                    Some(&msg::CHANNEL_DATA) => 5,
                    Some(&msg::CHANNEL_EXTENDED_DATA) => 9,
                    _ => 0,
                };
                match merged.last_mut() {
                    Some((_, prev)) if header > 0 && prev.get(..header) == p.get(..header) => {
                        let len = u32::from_be_bytes(prev[header..header + 4].try_into().unwrap())
                            + u32::from_be_bytes(p[header..header + 4].try_into().unwrap());
                        prev.extend_from_slice(&p[header + 4..]);
                        prev[header..header + 4].copy_from_slice(&len.to_be_bytes());
                    }
                    _ => merged.push((label.clone(), p.clone())),
                }
            }
            merged
                .iter()
                .map(|(l, p)| format!("{l}: {:?}", String::from_utf8_lossy(p)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(show(&mine), show(&real), "{command}");
        // The failure delay: Dropbear's 250-350 ms, coarsely (a busy machine).
        for d in [real_delay, my_delay] {
            assert!(
                (Duration::from_millis(200)..Duration::from_secs(2)).contains(&d),
                "{command}: {d:?}"
            );
        }
        identical += 1;
    }
    println!("sessions: {identical}/{} identical", commands.len());
}

/// Reads until the peer closes: the packets it sent meanwhile.
fn until_closed(s: &mut Session<'_>, label: &str) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + s.patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{label}: still open; got {got:?}");
        s.w.set_timeout(left);
        let mut tmp = [0u8; 65536];
        match s.w.read(&mut tmp) {
            Ok(0) => return got,
            Ok(k) => got.extend(s.client.packets(&tmp[..k]).unwrap()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) if read_again(&e) => {}
            Err(e) => panic!("{label}: {e}"),
        }
    }
}

fn logged(log: &[(String, Vec<u8>)]) -> String {
    log.iter()
        .map(|(l, p)| format!("{l}: {:?}", String::from_utf8_lossy(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ten wrong passwords: the first nine each answered after the delay, the tenth
/// never; the connection closes.
fn ten_failures(w: &mut dyn Wire) -> String {
    let mut s = Session::open(w);
    s.userauth_service();
    for i in 1..10 {
        s.step(&format!("wrong {i}"), &password_request("root", "wrong"), 1);
    }
    let tenth = s.client.seal(&password_request("root", "wrong"));
    s.w.write_all(&tenth).unwrap();
    let after = until_closed(&mut s, "tenth");
    format!(
        "{}\nafter the tenth, then closed: {after:?}",
        logged(&s.log)
    )
}

/// Methods other than a password: `keyboard-interactive` (a counted failure),
/// a public key nobody planted (refused at once), a signed request with that key
/// (a counted failure), then a second user name, which ends the connection.
fn other_methods_and_users(w: &mut dyn Wire) -> String {
    let mut s = Session::open(w);
    s.userauth_service();
    let method = |user: &[u8], name: &[u8], rest: &[u8]| {
        let mut req = vec![msg::USERAUTH_REQUEST];
        put_string(&mut req, user);
        put_string(&mut req, b"ssh-connection");
        put_string(&mut req, name);
        req.extend_from_slice(rest);
        req
    };
    let mut kbd = Vec::new();
    put_string(&mut kbd, b"");
    put_string(&mut kbd, b"");
    s.step(
        "keyboard-interactive",
        &method(b"root", b"keyboard-interactive", &kbd),
        1,
    );
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, &[7; 32]);
    let mut query = vec![0];
    put_string(&mut query, b"ssh-ed25519");
    put_string(&mut query, &blob);
    s.step("key query", &method(b"root", b"publickey", &query), 1);
    let mut signed = vec![1];
    put_string(&mut signed, b"ssh-ed25519");
    put_string(&mut signed, &blob);
    let mut signature = Vec::new();
    put_string(&mut signature, b"ssh-ed25519");
    put_string(&mut signature, &[0; 64]);
    put_string(&mut signed, &signature);
    s.step("signed", &method(b"root", b"publickey", &signed), 1);
    let other = s.client.seal(&password_request("admin", "admin"));
    s.w.write_all(&other).unwrap();
    let after = until_closed(&mut s, "second user");
    format!(
        "{}\nafter a second user name, then closed: {after:?}",
        logged(&s.log)
    )
}

/// A scripted connection: what it saw, as text to compare.
type Script = fn(&mut dyn Wire) -> String;

#[test]
fn authentication_limits_and_methods_are_dropbears() {
    let sensor = sensor();
    let mut identical = 0;
    let scripts: [(&str, Script); 2] = [
        ("ten failures", ten_failures),
        ("other methods and users", other_methods_and_users),
    ];
    for (name, script) in scripts {
        let mut theirs = oracle();
        theirs.stream.set_timeout(STEP);
        let real = script(&mut theirs.stream);
        let mut tcp = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mine = script(&mut tcp);
        assert_eq!(mine, real, "{name}");
        identical += 1;
    }
    println!("authentication: {identical}/{} identical", scripts.len());
}

/// Whether the data packets so far hold `needle`.
fn data_holds(got: &[Vec<u8>], needle: &[u8]) -> bool {
    let all: Vec<u8> = got
        .iter()
        .filter(|p| p.first() == Some(&msg::CHANNEL_DATA))
        .flat_map(|p| p[9..].to_vec())
        .collect();
    util::find(&all, needle).is_some()
}

/// A pty shell: its first screen, a command typed, and `exit 7` (the status Dropbear
/// then sends is ash's).
fn pty_shell(w: &mut dyn Wire) -> Vec<(String, Vec<u8>)> {
    let mut s = Session::open(w);
    s.pty_shell();
    let mut typed = vec![msg::CHANNEL_DATA];
    put_u32(&mut typed, 0);
    put_string(&mut typed, b"echo $((6*7))\r");
    s.step_until("echo", &typed, |got| data_holds(got, b"42\r\n~ # \x1b[6n"));
    let mut exit = vec![msg::CHANNEL_DATA];
    put_u32(&mut exit, 0);
    put_string(&mut exit, b"exit 7\r");
    s.step_until("exit", &exit, |got| {
        got.last().and_then(|p| p.first()) == Some(&msg::CHANNEL_CLOSE)
    });
    s.log
}

#[test]
fn a_pty_shell_shows_what_dropbear_and_busybox_show() {
    same_as_dropbear("pty shell", &[()], |w, ()| pty_shell(w));
}

/// A pty shell that runs `lines` (each up to its next prompt) and then `last`, which
/// ends it: everything up to Dropbear's CLOSE.
fn pty_shell_ending(w: &mut dyn Wire, lines: &[&[u8]], last: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut s = Session::open(w);
    s.pty_shell();
    let typed = |bytes: &[u8]| {
        let mut data = vec![msg::CHANNEL_DATA];
        put_u32(&mut data, 0);
        put_string(&mut data, bytes);
        data
    };
    for line in lines {
        let label = String::from_utf8_lossy(line).into_owned();
        // The next prompt, PS1 or PS2, and ash's cursor query after it.
        s.step_until(&label, &typed(line), |got| data_holds(got, b" \x1b[6n"));
    }
    s.step_until("last", &typed(last), |got| {
        got.last().and_then(|p| p.first()) == Some(&msg::CHANNEL_CLOSE)
    });
    s.log
}

#[test]
fn the_ways_out_of_a_pty_shell_end_as_dropbears() {
    let cases: [(&[&[u8]], &[u8]); 9] = [
        // `exit` keeps the last status; so does ^D on an empty line.
        (&[b"false\r"], b"exit\r"),
        (&[b"false\r"], b"\x04"),
        // A nested shell's `exit 3` is the outer shell's `$?`.
        (&[b"sh\r", b"exit 3\r"], b"exit\r"),
        // The shell replaced by a program: that program's status.
        (&[], b"exec false\r"),
        // An out-of-range status wraps as a byte.
        (&[], b"exit 300\r"),
        (&[], b"exec echo bye\r"),
        (&[], b"exec /bin/false\r"),
        // A program that is not there: ash says so, and is gone all the same.
        (&[], b"exec nosuchprogram\r"),
        (
            &[b"true\r", b"\r", b"if true\r", b"then true; fi\r"],
            b"exec nosuchprogram\r",
        ),
    ];
    same_as_dropbear("ways out of a pty shell", &cases, |w, (lines, last)| {
        pty_shell_ending(w, lines, last)
    });
}

/// A pty shell sent one channel request (`kind`, want-reply, `rest`), then `exit`:
/// the answer, and how the shell ended.
fn pty_request(w: &mut dyn Wire, kind: &str, rest: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut s = Session::open(w);
    s.pty_shell();
    s.step_until(kind, &request(kind, true, rest), |got| {
        got.iter().any(|p| {
            matches!(
                p.first(),
                Some(&msg::CHANNEL_SUCCESS | &msg::CHANNEL_FAILURE | &msg::CHANNEL_CLOSE)
            )
        })
    });
    let mut exit = vec![msg::CHANNEL_DATA];
    put_u32(&mut exit, 0);
    put_string(&mut exit, b"exit\r");
    s.patience = Duration::from_secs(5);
    s.step_until("exit", &exit, |got| {
        got.last().and_then(|p| p.first()) == Some(&msg::CHANNEL_CLOSE)
    });
    s.log
}

#[test]
fn channel_requests_on_a_pty_shell_get_dropbears_answers() {
    let string = |v: &[u8]| {
        let mut out = Vec::new();
        put_string(&mut out, v);
        out
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("env", [string(b"LANG"), string(b"C")].concat()),
        (
            "x11-req",
            [
                vec![0],
                string(b"MIT-MAGIC-COOKIE-1"),
                string(b"00ff"),
                vec![0, 0, 0, 0],
            ]
            .concat(),
        ),
        ("auth-agent-req@openssh.com", Vec::new()),
        ("break", vec![0, 0, 1, 0xf4]),
        ("keepalive@openssh.com", Vec::new()),
        ("signal", string(b"NOSUCH")),
        // (A signal ash acts on, KILL or HUP, Dropbear delivers; busybait refuses
        // every signal. Not compared here: see docs/SSH.md.)
        ("signal", string(b"WINCH")),
    ];
    same_as_dropbear("channel requests", &cases, |w, (kind, rest)| {
        pty_request(w, kind, rest)
    });
}

/// Runs `session` against the real Dropbear and the sensor for each case; fails
/// naming the cases whose packet logs (data merged) differ.
fn same_as_dropbear<C: std::fmt::Debug>(
    what: &str,
    cases: &[C],
    session: impl Fn(&mut dyn Wire, &C) -> Vec<(String, Vec<u8>)>,
) {
    let sensor = sensor();
    let mut different = Vec::new();
    for case in cases {
        let mut theirs = oracle();
        let real = merged(&session(&mut theirs.stream, case));
        let mut tcp = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mine = merged(&session(&mut tcp, case));
        if mine != real {
            different.push(format!("{case:?}:\n  busybait: {mine}\n  dropbear: {real}"));
        }
    }
    let identical = cases.len() - different.len();
    println!("{what}: {identical}/{} identical", cases.len());
    assert!(different.is_empty(), "{}", different.join("\n"));
}

/// A packet log with its data packets merged (where the shell's output is read
/// splits them), one line per packet.
fn merged(log: &[(String, Vec<u8>)]) -> String {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (label, p) in log {
        if p.first() == Some(&msg::CHANNEL_DATA) {
            if let Some((l, prev)) = out.last_mut() {
                if l == label && prev.first() == Some(&msg::CHANNEL_DATA) {
                    prev.extend_from_slice(&p[9..]);
                    continue;
                }
            }
            let mut start = p[..5].to_vec();
            start.extend_from_slice(&p[9..]);
            out.push((label.clone(), start));
            continue;
        }
        out.push((label.clone(), p.clone()));
    }
    out.iter()
        .map(|(l, p)| format!("{l}: {:?}", String::from_utf8_lossy(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A shell without a pty that reads its script from the channel, as with
/// `echo SCRIPT | ssh dvr`: what it prints, and the status it exits with at the end
/// of its input (the last command's, or `exit N`'s).
fn piped_shell(w: &mut dyn Wire, script: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut s = Session::open(w);
    s.userauth_service();
    s.step("password", &password_request("root", "xc3511"), 1);
    s.step("open", &open_channel(), 1);
    s.step("shell", &request("shell", true, &[]), 1);
    let mut data = vec![msg::CHANNEL_DATA];
    put_u32(&mut data, 0);
    put_string(&mut data, script);
    let mut eof = vec![msg::CHANNEL_EOF];
    put_u32(&mut eof, 0);
    let got = s.exchange("script", &[&data, &eof], |got| {
        got.last().and_then(|p| p.first()) == Some(&msg::CHANNEL_CLOSE)
    });
    s.log
        .extend(got.into_iter().map(|p| ("script".to_string(), p)));
    s.log
}

#[test]
fn a_shell_on_pipes_ends_with_the_status_dropbear_and_busybox_give() {
    let scripts: [&[u8]; 3] = [
        b"echo one\nfalse\n",
        b"false\ntrue",
        b"echo two; exit 5\necho never\n",
    ];
    same_as_dropbear("shells on pipes", &scripts, |w, script| {
        piped_shell(w, script)
    });
}

impl Session<'_> {
    /// Asks for the `ssh-userauth` service.
    fn userauth_service(&mut self) {
        let mut service = vec![msg::SERVICE_REQUEST];
        put_string(&mut service, b"ssh-userauth");
        self.step("service", &service, 1);
    }

    /// Logs in as root, opens a channel and a pty shell (vt100, 80x24), and reads
    /// its first screen up to the prompt (ash then asks where the cursor is).
    fn pty_shell(&mut self) {
        self.userauth_service();
        self.step("password", &password_request("root", "xc3511"), 1);
        self.step("open", &open_channel(), 1);
        let mut pty = Vec::new();
        put_string(&mut pty, b"vt100");
        for v in [80, 24, 0, 0] {
            put_u32(&mut pty, v);
        }
        put_string(&mut pty, b"\x00");
        self.step("pty-req", &request("pty-req", true, &pty), 1);
        self.step_until("shell", &request("shell", true, &[]), |got| {
            data_holds(got, b"# \x1b[6n")
        });
    }

    /// Types `bytes` into the channel's pty.
    fn type_in(&mut self, bytes: &[u8]) {
        let mut data = vec![msg::CHANNEL_DATA];
        put_u32(&mut data, 0);
        put_string(&mut data, bytes);
        let wire = self.client.seal(&data);
        self.w.write_all(&wire).unwrap();
    }

    /// Appends the channel's data to `screen` until `needle` appears in what this
    /// call added (true), or the channel or connection closes, or nothing comes for
    /// ten seconds (false, and the comparison shows it).
    fn read_screen(&mut self, screen: &mut Vec<u8>, needle: &[u8]) -> bool {
        let from = screen.len().saturating_sub(needle.len() - 1);
        let deadline = Instant::now() + STEP;
        loop {
            if util::find(&screen[from..], needle).is_some() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.w.set_timeout(left);
            let mut tmp = [0u8; 65536];
            match self.w.read(&mut tmp) {
                Ok(0) => return false,
                Ok(k) => {
                    for p in self.client.packets(&tmp[..k]).unwrap() {
                        match p[0] {
                            msg::CHANNEL_DATA => screen.extend_from_slice(&p[9..]),
                            msg::CHANNEL_CLOSE => return false,
                            _ => {}
                        }
                    }
                }
                Err(e) if read_again(&e) => {}
                Err(_) => return false,
            }
        }
    }
}

/// A terminal case in a pty shell (80x24), as the telnet harness runs it: each
/// item typed, the next prompt's `ESC [6n` awaited; an item marked `during` typed
/// once the one before has echoed its line end. The screen after the first prompt.
fn pty_case(w: &mut dyn Wire, lines: &[Vec<u8>], during: &[usize]) -> Vec<u8> {
    let mut s = Session::open(w);
    s.pty_shell();
    let mut screen = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if during.contains(&i) {
            continue;
        }
        s.type_in(line);
        if let (true, Some(next)) = (during.contains(&(i + 1)), lines.get(i + 1)) {
            s.read_screen(&mut screen, b"\r\n");
            s.type_in(next);
        }
        if !s.read_screen(&mut screen, b"\x1b[6n") {
            screen.extend_from_slice(b"[closed or silent]");
            break;
        }
    }
    screen
}

#[test]
fn the_terminal_group_in_a_pty_matches_dropbear_and_busybox() {
    let sensor = sensor();
    let cases: Vec<util::corpus::Case> =
        util::corpus::load(&util::corpus::dir().join("corpus.txt"))
            .into_iter()
            .filter(|c| c.group == "terminal")
            // Telnet's own commands (NAWS) have no place in an SSH channel: there
            // the size comes as `window-change`.
            .filter(|c| !c.lines.iter().any(|l| l.contains(&0xff)))
            .collect();
    let mut identical = 0;
    let mut different = Vec::new();
    for case in &cases {
        let mut theirs = oracle();
        let real = pty_case(&mut theirs.stream, &case.lines, &case.during);
        let mut tcp = std::net::TcpStream::connect(sensor.ssh.unwrap()).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mine = pty_case(&mut tcp, &case.lines, &case.during);
        if mine == real {
            identical += 1;
        } else {
            different.push(format!(
                "{}:\n  real: {:?}\n  ours: {:?}",
                case.name,
                String::from_utf8_lossy(&real),
                String::from_utf8_lossy(&mine)
            ));
        }
    }
    println!("terminal (pty)   {identical}/{}", cases.len());
    assert!(cases.len() >= 14, "only {} terminal cases", cases.len());
    assert!(different.is_empty(), "{}", different.join("\n"));
}

/// What one `exec` gave: standard output, standard error, and how it ended
/// (`exit-status N` or `exit-signal NAME`).
#[derive(Debug, PartialEq, Eq)]
struct Ran {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    ended: String,
}

/// Logs in as root and runs each line as an `exec` of its own channel (the file
/// system, not the shell, carried from one to the next), its stdin at EOF at once
/// as with `ssh dvr LINE < /dev/null`.
fn exec_lines(w: &mut dyn Wire, lines: &[Vec<u8>]) -> Vec<Ran> {
    let mut s = Session::open(w);
    s.userauth_service();
    s.step("password", &password_request("root", "xc3511"), 1);
    // BusyBox's tftp to a closed port retries for a while.
    s.patience = Duration::from_secs(60);
    let mut ran = Vec::new();
    for line in lines {
        let open = s.exchange("open", &[&open_channel()], |got| !got.is_empty());
        assert_eq!(open[0][0], msg::CHANNEL_OPEN_CONFIRMATION, "{open:?}");
        let server = u32::from_be_bytes(open[0][5..9].try_into().unwrap());
        let mut exec = vec![msg::CHANNEL_REQUEST];
        put_u32(&mut exec, server);
        put_string(&mut exec, b"exec");
        exec.push(1);
        put_string(&mut exec, line);
        let mut eof = vec![msg::CHANNEL_EOF];
        put_u32(&mut eof, server);
        let got = s.exchange("exec", &[&exec, &eof], |got| {
            got.last().and_then(|p| p.first()) == Some(&msg::CHANNEL_CLOSE)
        });
        let mut close = vec![msg::CHANNEL_CLOSE];
        put_u32(&mut close, server);
        s.exchange("close", &[&close], |_| true);
        let mut r = Ran {
            stdout: Vec::new(),
            stderr: Vec::new(),
            ended: String::new(),
        };
        for p in &got {
            match p[0] {
                msg::CHANNEL_DATA => r.stdout.extend_from_slice(&p[9..]),
                msg::CHANNEL_EXTENDED_DATA => r.stderr.extend_from_slice(&p[13..]),
                msg::CHANNEL_REQUEST => {
                    let name_len = u32::from_be_bytes(p[5..9].try_into().unwrap()) as usize;
                    let name = String::from_utf8_lossy(&p[9..9 + name_len]);
                    let rest = &p[9 + name_len + 1..];
                    r.ended = if name == "exit-status" {
                        format!(
                            "exit-status {}",
                            u32::from_be_bytes(rest[..4].try_into().unwrap())
                        )
                    } else {
                        let sig_len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                        format!("{name} {}", String::from_utf8_lossy(&rest[4..4 + sig_len]))
                    };
                }
                _ => {}
            }
        }
        ran.push(r);
    }
    ran
}

/// The corpus's command lines as `exec` lines: cases that type control characters
/// at a terminal (line editing, `^C`, typing ahead) have no `exec` form.
fn exec_form(case: &util::corpus::Case) -> Option<Vec<Vec<u8>>> {
    if !case.during.is_empty() {
        return None;
    }
    case.lines
        .iter()
        .map(|l| {
            let line = l.strip_suffix(b"\r\n")?;
            (!line.iter().any(|&b| b < 0x20 && b != b'\t')).then(|| line.to_vec())
        })
        .collect()
}

/// Cases whose exec form differs for a reason outside the device, each still
/// checked to differ.
const EXEC_ALLOWED: [(&str, &str); 1] = [(
    "ls-root",
    "the Dropbear sandbox has /lib64 for Dropbear's dynamic loader; the device has none",
)];

#[test]
fn the_corpus_over_exec_matches_dropbear_and_busybox() {
    let sensor = Sensor::start_ssh(
        "profile = \"oracle\"\nbusybox_image = \"/bin/busybox\"\n[auth]\nmode = \"lists\"\nallow = [\"root:xc3511\"]\n",
    );
    let mut cases = util::corpus::load(&util::corpus::dir().join("corpus.txt"));
    cases.extend(util::corpus::real_sessions());
    let only: Option<Vec<String>> = std::env::var("BUSYBAIT_FIDELITY_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut per_group: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut different = Vec::new();
    let mut allowed_differing = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&case.name)) {
            continue;
        }
        let Some(lines) = exec_form(case) else {
            continue;
        };
        let (mine, real) = std::thread::scope(|scope| {
            let mine = scope.spawn(|| {
                // A source of its own: the sensor keeps each source's files.
                let mut tcp = util::tcp_from(sensor.ssh.unwrap(), util::source(i)).unwrap();
                exec_lines(&mut tcp, &lines)
            });
            let mut theirs = oracle();
            let real = exec_lines(&mut theirs.stream, &lines);
            (mine.join().unwrap(), real)
        });
        let row = per_group.entry(case.group.as_str()).or_default();
        row.1 += 1;
        if mine == real {
            row.0 += 1;
        } else if EXEC_ALLOWED.iter().any(|(name, _)| *name == case.name) {
            allowed_differing.push(case.name.as_str());
        } else {
            let at = mine
                .iter()
                .zip(&real)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            different.push(format!(
                "{} line {at} {:?}:\n  real: {:?}\n  ours: {:?}",
                case.name,
                String::from_utf8_lossy(&lines[at]),
                real.get(at),
                mine.get(at)
            ));
        }
    }
    let mut total = (0, 0);
    for (group, (same, all)) in &per_group {
        println!("{group:<16} {same}/{all}");
        total = (total.0 + same, total.1 + all);
    }
    println!("all              {}/{}", total.0, total.1);
    assert!(different.is_empty(), "{}", different.join("\n"));
    if only.is_none() {
        let stale: Vec<&str> = EXEC_ALLOWED
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !allowed_differing.contains(name))
            .collect();
        assert!(stale.is_empty(), "allowed but now identical: {stale:?}");
        assert!(total.1 >= 450, "only {} cases have an exec form", total.1);
    }
}
