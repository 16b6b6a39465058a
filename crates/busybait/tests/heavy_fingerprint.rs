//! The probes published honeypot detectors use against telnet honeypots, run against
//! busybait (`oracle` profile, serving the host's real `/bin/busybox`) and against the
//! real BusyBox 1.35 in the oracle sandbox: none may tell them apart.
//!
//! Probes: the banner and negotiation bytes up to the login prompt; the time a wrong
//! password takes; line wrapping for a client that sends no window size; `busybox` and its applet count; `/proc/version` against `uname`;
//! `/proc/cpuinfo` against `uname -m`; `cat /proc/self/exe` against `/bin/busybox`;
//! `echo -e` escapes; the error wording of the login shell and a nested one; a file
//! left in one connection and read in the next (from the same address); and the
//! absence of Cowrie's tells (`svr04`, `phil`, `ESC [4h`, its Debian 7 kernel).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::time::{Duration, Instant};

use util::oracle::{read_until, session, Oracle, Wire, MIRAI_REPLY};
use util::{find, source};

fn sensor() -> util::Sensor {
    util::Sensor::start_with(
        "profile = \"oracle\"\nbusybox_image = \"/bin/busybox\"\n[auth]\nmode = \"lists\"\nallow = [\"root:xc3511\"]\n",
    )
}

/// Each probe is one command line; its output is compared byte for byte.
const SHELL_PROBES: &[(&str, &str)] = &[
    ("applet count", "busybox --list | wc -l"),
    ("busybox banner", "busybox | head -n 1 | cut -c1-15"),
    ("unknown applet", "busybox nosuchapplet; echo rc=$?"),
    (
        "uname against /proc/version",
        "[ \"$(uname -r)\" = \"$(cut -d' ' -f3 /proc/version)\" ] && echo consistent",
    ),
    (
        "uname -m against /proc/cpuinfo",
        "grep -q vendor_id /proc/cpuinfo && uname -m",
    ),
    (
        "/proc/self/exe is /bin/busybox",
        "[ \"$(cat /proc/self/exe | md5sum)\" = \"$(md5sum < /bin/busybox)\" ] && echo same",
    ),
    (
        "ELF header of the shell",
        "head -c 20 /proc/self/exe | od -An -tx1",
    ),
    (
        "echo -e escapes",
        "echo -e '\\x41\\0102\\t|\\\\|\\e[0m|\\c never'; echo",
    ),
    ("echo -n -e", "echo -ne '\\x6b\\x61\\x6d\\x69'; echo"),
    ("login shell errors", "nosuchcmd; cd /nonexistent; echo $0"),
    ("nested shell errors", "sh -c 'nosuchcmd; echo $0'"),
    ("shell type", "type echo cd busybox"),
    ("who am I", "id; whoami; echo $HOME $SHELL"),
];

/// Strings that give Cowrie away (its default host name and user, the insert-mode
/// escape its line editor sends, the kernel its `uname -a` prints).
const COWRIE_TELLS: &[&[u8]] = &[
    b"svr04",
    b"phil",
    b"\x1b[4h",
    b"3.2.0-4-amd64",
    b"Debian 3.2.68",
];

#[test]
fn no_published_probe_tells_busybait_from_real_busybox() {
    let sensor = sensor();
    let mut differences = Vec::new();

    // Banner and negotiation: everything up to the login prompt, sending nothing.
    {
        let mut ours = util::tcp_from(sensor.addr, source(1)).unwrap();
        let mut oracle = Oracle::start("vm", "Debian GNU/Linux 12\n");
        let (a, _) = read_until(
            &mut ours,
            &mut Vec::new(),
            b"login: ",
            Duration::from_secs(10),
        );
        let (b, _) = read_until(
            &mut oracle.stream,
            &mut Vec::new(),
            b"login: ",
            Duration::from_secs(10),
        );
        report(&mut differences, "banner and negotiation", &a, &b);
    }

    // A wrong password: BusyBox's login pauses 3 s before `Login incorrect`.
    {
        let mut ours = util::tcp_from(sensor.addr, source(2)).unwrap();
        let mut oracle = Oracle::start("vm", "Debian GNU/Linux 12\n");
        let ours_delay = wrong_password_delay(&mut ours);
        let real_delay = wrong_password_delay(&mut oracle.stream);
        let gap = ours_delay.as_millis().abs_diff(real_delay.as_millis());
        println!("failed login: ours {ours_delay:?}, real {real_delay:?}");
        if gap > 150 {
            differences.push(format!(
                "failed-login delay: ours {ours_delay:?}, real {real_delay:?}"
            ));
        }
    }

    // A client that never sends its window size: lines wrap at 80 columns.
    {
        let mut ours = util::tcp_from(sensor.addr, source(7)).unwrap();
        let mut oracle = Oracle::start("vm", "Debian GNU/Linux 12\n");
        let a = long_line_without_naws(&mut ours);
        let b = long_line_without_naws(&mut oracle.stream);
        report(&mut differences, "no NAWS: wrapping", &a, &b);
    }

    // The shell probes, in one session on each side.
    let lines: Vec<Vec<u8>> = SHELL_PROBES
        .iter()
        .map(|(_, l)| format!("{l}\r\n").into_bytes())
        .collect();
    let mut ours = util::tcp_from(sensor.addr, source(3)).unwrap();
    let ours_all = session(&mut ours, &lines).0;
    let mut oracle = Oracle::start("vm", "Debian GNU/Linux 12\n");
    let real_all = session(&mut oracle.stream, &lines).0;
    let ours_parts = per_prompt(&ours_all);
    let real_parts = per_prompt(&real_all);
    assert_eq!(
        ours_parts.len(),
        SHELL_PROBES.len(),
        "ours: {}",
        String::from_utf8_lossy(&ours_all)
    );
    assert_eq!(
        real_parts.len(),
        SHELL_PROBES.len(),
        "real: {}",
        String::from_utf8_lossy(&real_all)
    );
    for (((name, _), a), b) in SHELL_PROBES.iter().zip(&ours_parts).zip(&real_parts) {
        report(&mut differences, name, a, b);
    }

    // State across connections: what one connection leaves, the next one finds (a
    // real device has one file system; busybait keeps one per source address).
    {
        let mut first = util::tcp_from(sensor.addr, source(4)).unwrap();
        session(&mut first, &[b"echo left-here > /tmp/.fp\r\n".to_vec()]);
        drop(first);
        let read_back = [b"cat /tmp/.fp\r\n".to_vec()];
        let mut second = util::tcp_from(sensor.addr, source(4)).unwrap();
        let ours = session(&mut second, &read_back).0;
        let mut oracle = Oracle::start("vm", "Debian GNU/Linux 12\n");
        let real = session(
            &mut oracle.stream,
            &[
                b"echo left-here > /tmp/.fp\r\n".to_vec(),
                read_back[0].clone(),
            ],
        )
        .0;
        let real_last = per_prompt(&real).pop().unwrap_or_default();
        report(
            &mut differences,
            "state across connections",
            &ours,
            &real_last,
        );
    }

    // Cowrie's tells appear nowhere in what busybait sent.
    let mut everything = ours_all.clone();
    let mut probe = util::tcp_from(sensor.addr, source(5)).unwrap();
    let (login, _) = read_until(
        &mut probe,
        &mut Vec::new(),
        b"login: ",
        Duration::from_secs(10),
    );
    everything.extend(login);
    let mut probe = util::tcp_from(sensor.addr, source(6)).unwrap();
    let lines: Vec<Vec<u8>> = ["uname -a", "hostname", "cat /etc/passwd", "ls /home", "w"]
        .iter()
        .map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    everything.extend(session(&mut probe, &lines).0);
    for tell in COWRIE_TELLS {
        if find(&everything, tell).is_some() {
            differences.push(format!(
                "Cowrie tell {:?} in busybait's output",
                String::from_utf8_lossy(tell)
            ));
        }
    }
    println!("{} probes", SHELL_PROBES.len() + 5);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Logs in without answering telnetd's options (so no NAWS), types a 100-character
/// line; returns what came after the login.
fn long_line_without_naws(w: &mut dyn Wire) -> Vec<u8> {
    let mut buf = Vec::new();
    read_until(w, &mut buf, b"login: ", Duration::from_secs(10));
    w.write_all(b"root\r\n").unwrap();
    read_until(w, &mut buf, b"Password: ", Duration::from_secs(10));
    w.write_all(b"xc3511\r\n").unwrap();
    read_until(w, &mut buf, b"\x1b[6n", Duration::from_secs(10));
    w.write_all(format!("echo {}\r\n", "a".repeat(95)).as_bytes())
        .unwrap();
    read_until(w, &mut buf, b"\x1b[6n", Duration::from_secs(10)).0
}

/// Connects, logs in with a wrong password; returns how long `Login incorrect` took.
fn wrong_password_delay(w: &mut dyn Wire) -> Duration {
    let mut buf = Vec::new();
    w.write_all(MIRAI_REPLY).unwrap();
    read_until(w, &mut buf, b"login: ", Duration::from_secs(10));
    w.write_all(b"root\r\n").unwrap();
    read_until(w, &mut buf, b"Password: ", Duration::from_secs(10));
    w.write_all(b"wrongpass\r\n").unwrap();
    let sent = Instant::now();
    let (got, _) = read_until(w, &mut buf, b"Login incorrect", Duration::from_secs(10));
    assert!(
        find(&got, b"Login incorrect").is_some(),
        "no Login incorrect: {}",
        String::from_utf8_lossy(&got)
    );
    sent.elapsed()
}

/// A transcript cut after each prompt's `ESC [6n`: one part per command line.
fn per_prompt(transcript: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = transcript;
    while let Some(i) = find(rest, b"\x1b[6n") {
        parts.push(rest[..i + 4].to_vec());
        rest = &rest[i + 4..];
    }
    parts
}

fn report(differences: &mut Vec<String>, name: &str, ours: &[u8], real: &[u8]) {
    let same = ours == real;
    println!(
        "{name:<32} {}",
        if same { "identical" } else { "DIFFERENT" }
    );
    if !same {
        differences.push(format!(
            "{name}:\n  ours: {:?}\n  real: {:?}",
            String::from_utf8_lossy(ours),
            String::from_utf8_lossy(real)
        ));
    }
}
