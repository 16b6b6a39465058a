//! The SSH oracle: Debian's `dropbear-bin` 2022.83 (the build the `oracle` profile
//! mirrors) in the same kind of sandbox as the telnet oracle (new net, pid, mount,
//! uts and ipc namespaces, a private tmpfs tree, the real BusyBox as root's shell,
//! only the test credential `root:xc3511`), run in inetd mode on one end of a Unix
//! socket pair, with the window its Debian service sets (`-W 65536`) and ed25519,
//! ECDSA and RSA host keys (RSA loaded too: 2022.83 always advertises it).

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

const SETUP: &str = r#"
set -eu
root=$1; keys=$2; hash=$3
mount -t tmpfs -o mode=755 tmpfs "$root"
cd "$root"
# The telnet oracle's device tree (util/oracle.rs), plus what Dropbear needs.
mkdir -p bin sbin usr/bin usr/sbin etc/dropbear proc dev/pts tmp var root home mnt sys lib lib64 lib/x86_64-linux-gnu
chmod 555 sys
cp /bin/busybox bin/busybox
chroot "$root" /bin/busybox --install -s
cp /usr/sbin/dropbear usr/sbin/dropbear
# Dropbear is dynamically linked: its libraries, and NSS's files module.
for lib in $(ldd /usr/sbin/dropbear | grep -o '/lib[^ ]*') /lib/x86_64-linux-gnu/libnss_files.so.2; do
  mkdir -p "$root$(dirname "$lib")"
  cp "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > etc/passwd
printf 'root:%s:19000:0:99999:7:::\n' "$hash" > etc/shadow
printf 'root:x:0:\n' > etc/group
printf 'Debian GNU/Linux 12\n' > etc/issue.net
printf 'vm\n' > etc/hostname
printf 'nameserver 192.168.1.1\n' > etc/resolv.conf
ln -s /proc/mounts etc/mtab
printf '/bin/sh\n' > etc/shells
printf 'passwd: files\ngroup: files\nshadow: files\n' > etc/nsswitch.conf
cp "$keys"/ed25519 "$keys"/ecdsa "$keys"/rsa etc/dropbear/
mount -t proc proc proc
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
mknod -m 666 dev/null c 1 3
mknod -m 666 dev/zero c 1 5
mknod -m 666 dev/random c 1 8
mknod -m 666 dev/urandom c 1 9
mknod -m 666 dev/tty c 5 0
mknod -m 666 dev/console c 5 1
mount -t tmpfs tmpfs tmp
mount -t tmpfs tmpfs var
mkdir -p var/run var/tmp
hostname vm
"$root/bin/busybox" ip link set lo up
exec chroot "$root" /usr/sbin/dropbear -i -W 65536 \
  -r /etc/dropbear/ed25519 -r /etc/dropbear/ecdsa -r /etc/dropbear/rsa
"#;

/// Host keys made once per test process (`dropbearkey`).
fn keys() -> &'static PathBuf {
    static KEYS: OnceLock<PathBuf> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        for (kind, size, name) in [
            ("ed25519", None, "ed25519"),
            ("ecdsa", Some("256"), "ecdsa"),
            ("rsa", Some("2048"), "rsa"),
        ] {
            let mut cmd = Command::new("dropbearkey");
            cmd.args(["-t", kind, "-f"]).arg(dir.join(name));
            if let Some(size) = size {
                cmd.args(["-s", size]);
            }
            let out = cmd.output().unwrap_or_else(|e| {
                panic!("dropbearkey is missing (scripts/test installs Debian's dropbear-bin): {e}")
            });
            assert!(out.status.success(), "dropbearkey -t {kind} failed");
        }
        dir
    })
}

/// A running sandboxed Dropbear with its client end.
pub struct Dropbear {
    child: Child,
    pub stream: UnixStream,
    _root: tempfile::TempDir,
    log: tempfile::NamedTempFile,
}

impl Dropbear {
    /// A fresh sandbox and one connection to it.
    pub fn start() -> Self {
        let version = Command::new("/usr/sbin/dropbear")
            .arg("-V")
            .output()
            .map(|o| [o.stdout, o.stderr].concat())
            .unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&version).contains("Dropbear v2022.83"),
            "the SSH oracle must be Debian's dropbear-bin 2022.83 (apt-get install dropbear-bin)"
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
            .arg(keys())
            .arg(super::oracle::password_hash("xc3511"))
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the SSH oracle sandbox (unshare, as root): {e}")
            });
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

impl Drop for Dropbear {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
