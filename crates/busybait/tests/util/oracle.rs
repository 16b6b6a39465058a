//! The oracle sandbox of DESIGN.md: Debian's real `busybox-static` 1.35 telnetd in
//! new net, pid, mount, uts and ipc namespaces, chrooted into a private tmpfs tree with
//! `/proc`, its own devpts, and only test credentials (`root:xc3511`).
//!
//! It runs in inetd mode (`telnetd -i`) with one end of a Unix socket pair as its
//! socket, so the sandbox needs no network at all (its namespace has only its own
//! `lo`) and every case gets a fresh tree. Bot command lines run in a real shell only
//! here. [`differential`] runs cases against it and against busybait side by side.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SETUP: &str = r#"
set -eu
root=$1; host=$2; hash=$3; issue=$4; server=${5:-telnetd}; index=${6:-}; realm=${7:-}; userpass=${8:-}
mount -t tmpfs -o mode=755 tmpfs "$root"
cd "$root"
# The tree of a small BusyBox device (what the `oracle` profile mirrors).
mkdir -p bin sbin usr/bin usr/sbin etc proc dev/pts tmp var root home lib mnt sys
chmod 555 sys
cp /bin/busybox bin/busybox
chroot "$root" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\n' > etc/passwd
printf 'root:%s:19000:0:99999:7:::\n' "$hash" > etc/shadow
printf 'root:x:0:\n' > etc/group
printf '%s' "$issue" > etc/issue.net
printf '%s\n' "$host" > etc/hostname
printf 'nameserver 192.168.1.1\n' > etc/resolv.conf
ln -s /proc/mounts etc/mtab
mount -t proc proc proc
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
# Device nodes made here, not bound from the host (whose mounts would show).
mknod -m 666 dev/null c 1 3
mknod -m 666 dev/zero c 1 5
mknod -m 666 dev/random c 1 8
mknod -m 666 dev/urandom c 1 9
mknod -m 666 dev/tty c 5 0
mknod -m 666 dev/console c 5 1
mount -t tmpfs tmpfs tmp
mount -t tmpfs tmpfs var
mkdir -p var/run var/tmp
hostname "$host"
# Only the namespace's own loopback, so that downloads fail as "Connection refused".
"$root/bin/busybox" ip link set lo up
if [ "$server" = httpd ]; then
  # The web server instead, in inetd mode too, serving www/ (one index page).
  mkdir -p www
  printf '%s' "$index" > www/index.html
  if [ -n "$realm" ]; then
    # Basic authentication on every path, for one user.
    printf '/:%s\n' "$userpass" > etc/httpd.conf
    exec chroot "$root" /bin/busybox httpd -i -h /www -r "$realm" -c /etc/httpd.conf
  fi
  exec chroot "$root" /bin/busybox httpd -i -h /www
fi
exec chroot "$root" /bin/busybox telnetd -i -l /bin/login
"#;

/// A running sandboxed BusyBox telnetd with its client end.
pub struct Oracle {
    child: Child,
    pub stream: UnixStream,
    _root: tempfile::TempDir,
    log: tempfile::NamedTempFile,
}

pub fn password_hash(password: &str) -> String {
    let out = Command::new("busybox")
        .args(["mkpasswd", "-m", "sha512", password, "oraclesalt123456"])
        .output()
        .unwrap_or_else(|e| {
            panic!("busybox is needed for the oracle tests (apt-get install busybox-static): {e}")
        });
    assert!(out.status.success(), "busybox mkpasswd failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Oracle {
    /// Starts a fresh sandbox with hostname `host` and `/etc/issue.net` = `issue`.
    pub fn start(host: &str, issue: &str) -> Self {
        Self::start_server(host, issue, &[])
    }

    /// The same sandbox with BusyBox's `httpd -i` on the socket instead of telnetd,
    /// its root holding `index.html` = `index`: one request per sandbox.
    pub fn start_httpd(index: &str) -> Self {
        Self::start_server("vm", "", &["httpd", index])
    }

    /// [`Oracle::start_httpd`] asking for Basic authentication in `realm` on every
    /// path, with one account, `user:password`.
    pub fn start_httpd_with_auth(index: &str, realm: &str, user_password: &str) -> Self {
        Self::start_server("vm", "", &["httpd", index, realm, user_password])
    }

    fn start_server(host: &str, issue: &str, server: &[&str]) -> Self {
        let version = Command::new("busybox")
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&version).starts_with("BusyBox v1.35.0 (Debian"),
            "the oracle must be Debian's busybox-static 1.35.0 (apt-get install busybox-static)"
        );
        let root = tempfile::tempdir().unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let (ours, theirs) = UnixStream::pair().unwrap();
        let theirs_out = theirs.try_clone().unwrap();
        let child = Command::new("unshare")
            .args([
                "--net", "--pid", "--mount", "--uts", "--ipc", "--fork", "--", "/bin/sh", "-c",
                SETUP, "sh",
            ])
            .arg(root.path())
            .arg(host)
            .arg(password_hash("xc3511"))
            .arg(issue)
            .args(server)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the oracle sandbox (unshare, as root): {e}"));
        Self {
            child,
            stream: ours,
            _root: root,
            log,
        }
    }

    /// What the sandbox wrote to stderr (setup errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A byte stream a comparison client can drive: the oracle's socket pair or a TCP
/// connection to busybait.
pub trait Wire: Read + Write {
    fn set_timeout(&self, d: Duration);
}

impl Wire for UnixStream {
    fn set_timeout(&self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
    }
}

impl Wire for std::net::TcpStream {
    fn set_timeout(&self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
    }
}

/// What a case produced: the bytes, and whether the peer closed.
pub type Transcript = (Vec<u8>, bool);

/// Client bytes that reach the pty before `login` has started race, on the real
/// device, with login's `tcflush(TCIFLUSH)`; so a case runs the oracle up to this many
/// times and ours must be byte-identical to one of the real outputs.
pub const ORACLE_RUNS: usize = 30;

/// Reads until `needle` (returning through it), or until the peer closes, or `max`.
pub fn read_until(w: &mut dyn Wire, buf: &mut Vec<u8>, needle: &[u8], max: Duration) -> Transcript {
    let deadline = std::time::Instant::now() + max;
    loop {
        if let Some(i) = super::find(buf, needle) {
            let rest = buf.split_off(i + needle.len());
            return (std::mem::replace(buf, rest), false);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return (std::mem::take(buf), false);
        }
        w.set_timeout(left);
        let mut tmp = [0u8; 65536];
        match w.read(&mut tmp) {
            Ok(0) => return (std::mem::take(buf), true),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return (std::mem::take(buf), true),
        }
    }
}

/// Reads until `needle` (returning through it), the peer closes, or nothing has
/// come for `quiet` (at most a minute in all): long outputs are not cut short on a
/// busy machine.
pub fn read_until_quiet(
    w: &mut dyn Wire,
    buf: &mut Vec<u8>,
    needle: &[u8],
    quiet: Duration,
) -> Transcript {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    loop {
        let seen = buf.len();
        let (part, closed) = read_until(w, buf, needle, quiet);
        let found = super::find(&part, needle).is_some();
        out.extend_from_slice(&part);
        let stalled = part.len() == seen && !found;
        if found || closed || stalled || std::time::Instant::now() >= give_up {
            return (out, closed);
        }
    }
}

/// busybait with the `oracle` profile and the oracle's one account, `root:xc3511`.
pub fn oracle_sensor() -> super::Sensor {
    super::Sensor::start_with(
        "profile = \"oracle\"\n[auth]\nmode = \"lists\"\nallow = [\"root:xc3511\"]\n",
    )
}

/// How often the oracle runs each case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs {
    /// Until ours matches, up to [`ORACLE_RUNS`] (for cases with a known race).
    Racy,
    /// Until ours matches or the oracle gives the same output twice.
    Deterministic,
}

/// Runs every case against busybait and against fresh oracles, prints
/// identical/total, and returns the mismatches.
pub fn differential<C>(
    group: &str,
    cases: &[(&str, C)],
    src_base: usize,
    runs_mode: Runs,
    run: impl Fn(&mut dyn Wire, &C) -> Transcript,
) -> Vec<String> {
    let sensor = oracle_sensor();
    let mut mismatches = Vec::new();
    for (i, (name, case)) in cases.iter().enumerate() {
        let mut ours_stream = super::tcp_from(sensor.addr, super::source(src_base + i)).unwrap();
        let ours = run(&mut ours_stream, case);
        let mut variants: Vec<Transcript> = Vec::new();
        let mut runs = 0;
        while runs < ORACLE_RUNS && !variants.contains(&ours) {
            runs += 1;
            let mut oracle = Oracle::start("vm", "Debian GNU/Linux 12\n");
            let real = run(&mut oracle.stream, case);
            assert!(
                !real.0.is_empty() || real.1,
                "oracle sent nothing for {name}: {}",
                oracle.log()
            );
            let deterministic = variants.first().is_some_and(|v| *v == real);
            if !variants.contains(&real) {
                variants.push(real);
            }
            if deterministic && runs_mode == Runs::Deterministic {
                break; // the same output twice: not a racy case
            }
        }
        let same = variants.contains(&ours);
        println!(
            "{name:<34} {} ({} real variant(s) in {runs} run(s))",
            if same { "identical" } else { "DIFFERENT" },
            variants.len()
        );
        if !same {
            let show =
                |t: &Transcript| format!("{:?} closed={}", String::from_utf8_lossy(&t.0), t.1);
            let real: Vec<String> = variants.iter().map(show).collect();
            mismatches.push(format!(
                "{name}:\n  real: {}\n  ours: {}",
                real.join("\n        "),
                show(&ours)
            ));
        }
    }
    println!(
        "{group} identical: {}/{}",
        cases.len() - mismatches.len(),
        cases.len()
    );
    mismatches
}

/// Mirai's answer to telnetd's opening (reference §1.5).
pub const MIRAI_REPLY: &[u8] =
    b"\xff\xfc\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfd\x01\xff\xfd\x03";

/// Logs in, then sends each line and waits for the next prompt's `ESC [6n`.
/// Returns everything after the login.
pub fn session(w: &mut dyn Wire, lines: &[Vec<u8>]) -> Transcript {
    session_typing_ahead(w, lines, &[])
}

/// [`session`], with the items at `during` typed while the item before them runs
/// (sent once that item's line end has been echoed, not after its prompt).
pub fn session_typing_ahead(w: &mut dyn Wire, lines: &[Vec<u8>], during: &[usize]) -> Transcript {
    let mut buf = Vec::new();
    w.write_all(MIRAI_REPLY).unwrap();
    let (login, _) = read_until(w, &mut buf, b"login: ", Duration::from_secs(15));
    w.write_all(b"root\r\n").unwrap();
    let (password, _) = read_until(w, &mut buf, b"Password: ", Duration::from_secs(15));
    // A prompt that never came is the harness's problem (a stalled machine), not
    // a difference: say so in the transcript, where the comparison will show it.
    if !login.ends_with(b"login: ") || !password.ends_with(b"Password: ") {
        return (
            format!("HARNESS: login prompts not seen: {login:?} {password:?}").into_bytes(),
            true,
        );
    }
    w.write_all(b"xc3511\r\n").unwrap();
    read_until(w, &mut buf, b"\x1b[6n", Duration::from_secs(5));
    let mut all = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if during.contains(&i) {
            continue;
        }
        w.write_all(line).unwrap();
        if let (true, Some(next)) = (during.contains(&(i + 1)), lines.get(i + 1)) {
            let (b, _) = read_until(w, &mut buf, b"\r\n", Duration::from_secs(10));
            all.extend(b);
            w.write_all(next).unwrap();
        }
        let (b, closed) = read_until_quiet(w, &mut buf, b"\x1b[6n", Duration::from_secs(10));
        all.extend(b);
        if closed {
            return (all, true);
        }
    }
    (all, false)
}
