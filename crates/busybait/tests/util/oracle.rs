//! The oracle sandbox of DESIGN.md: Debian's real `busybox-static` 1.35 telnetd in
//! new net, pid, mount, uts and ipc namespaces, chrooted into a private tmpfs tree with
//! `/proc`, its own devpts, and only test credentials (`root:xc3511`).
//!
//! It runs in inetd mode (`telnetd -i`) with one end of a Unix socket pair as its
//! socket, so the sandbox needs no network at all (its namespace has only `lo`, down)
//! and every case gets a fresh tree. Bot command lines run in a real shell only here.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SETUP: &str = r#"
set -eu
root=$1; host=$2; hash=$3; issue=$4
mount -t tmpfs -o mode=755 tmpfs "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin etc proc dev/pts tmp var root
cp /bin/busybox bin/busybox
chroot "$root" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\n' > etc/passwd
printf 'root:%s:19000:0:99999:7:::\n' "$hash" > etc/shadow
printf 'root:x:0:\n' > etc/group
printf '%s' "$issue" > etc/issue.net
mount -t proc proc proc
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
for d in null zero tty urandom; do : > "dev/$d"; mount --bind "/dev/$d" "dev/$d"; done
mount -t tmpfs tmpfs tmp
mount -t tmpfs tmpfs var
mkdir -p var/run
hostname "$host"
exec chroot "$root" /bin/busybox telnetd -i -l /bin/login
"#;

/// A running sandboxed BusyBox telnetd with its client end.
pub struct Oracle {
    child: Child,
    pub stream: UnixStream,
    _root: tempfile::TempDir,
    log: tempfile::NamedTempFile,
}

fn password_hash(password: &str) -> String {
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
