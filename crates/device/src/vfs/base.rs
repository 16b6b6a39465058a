//! The device's base file system, built once from its profile and shared by every
//! session: directories, applet links, `/etc`, the synthetic `/bin/busybox` and
//! Dropbear of the profile's size and architecture, `/proc`, and the mounts.

use super::*;

/// How a mount point behaves for writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mount {
    pub(super) path: Vec<u8>,
    pub(super) fstype: String,
    pub(super) writable: bool,
}

/// The device's shared, read-mostly tree.
#[derive(Debug)]
pub struct BaseFs {
    pub(super) nodes: BTreeMap<Vec<u8>, Node>,
    pub(super) mounts: Vec<Mount>,
    /// The content of `/bin/busybox` (what `/proc/self/exe` shows too).
    pub busybox: Content,
}

pub(super) fn dir(mode: u32, mtime: u64) -> Node {
    Node::Dir(Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime,
    })
}

pub(super) fn file(mode: u32, mtime: u64, bytes: &[u8]) -> Node {
    Node::File(
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime,
        },
        Content::Bytes(Arc::new(bytes.to_vec())),
    )
}

/// Where a profile with `scp` has Dropbear's multi-call binary.
pub const DROPBEAR_PATH: &str = "/usr/sbin/dropbear";
/// Its size: a MIPS `dropbearmulti` with scp, as firmware ships it.
pub(super) const DROPBEAR_SIZE: u64 = 286_720;

/// BusyBox's install location of each applet (`applet_dirs.txt`).
pub(super) const APPLET_DIRS: &str = include_str!("../applet_dirs.txt");

/// Where an applet's link lives, without the leading `/` (`bin/ls`, `sbin/ifconfig`,
/// `usr/bin/wget`, `linuxrc`); applets BusyBox 1.35 does not list go to `bin/`.
pub fn applet_path(applet: &str) -> String {
    APPLET_DIRS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.rsplit('/').next() == Some(applet))
        .map_or_else(|| format!("bin/{applet}"), str::to_string)
}

impl BaseFs {
    /// Builds the tree for a device. `built` is the firmware's timestamp for the files.
    pub fn new(device: &Device, built: u64) -> Self {
        let profile = &device.profile;
        let mut nodes = BTreeMap::new();
        let mut add = |path: &str, node: Node| {
            nodes.insert(path.as_bytes().to_vec(), node);
        };
        add("/", dir(0o755, built));
        for d in [
            "/bin",
            "/sbin",
            "/usr",
            "/usr/bin",
            "/usr/sbin",
            "/etc",
            "/dev",
            "/dev/pts",
            "/lib",
            "/mnt",
            "/proc",
            "/root",
            "/sys",
            "/tmp",
            "/var",
            "/var/run",
            "/var/tmp",
            "/home",
        ] {
            add(d, dir(0o755, built));
        }
        add("/tmp", dir(0o1777, built));
        add("/proc", dir(0o555, built));
        add("/sys", dir(0o555, built));
        let header = profile
            .arch
            .elf_header(profile.busybox_size.saturating_sub(4096), 0x0040_1000);
        let busybox = Content::Elf(
            profile
                .busybox_image
                .as_ref()
                .map(|image| Arc::new(image.to_vec()))
                .unwrap_or_else(|| synthetic_elf(&header, profile.busybox_size)),
        );
        let exec = Meta {
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: built,
        };
        add("/bin/busybox", Node::File(exec, busybox.clone()));
        let link = Meta {
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: built,
        };
        // Each applet where BusyBox installs it (/bin, /sbin, /usr/bin, /usr/sbin;
        // `linuxrc` at the root), as absolute links, as `busybox --install -s` does.
        for applet in profile.applets.split_ascii_whitespace() {
            if applet == "busybox" || applet.contains('/') {
                continue;
            }
            let path = format!("/{}", applet_path(applet));
            add(&path, Node::Symlink(link, b"/bin/busybox".to_vec()));
        }
        if let Some(scp) = profile.scp_path() {
            // Dropbear built as a multi-call binary, `scp` one of its links.
            let header = profile.arch.elf_header(DROPBEAR_SIZE - 4096, 0x0040_1000);
            add(
                DROPBEAR_PATH,
                Node::File(exec, Content::Elf(synthetic_elf(&header, DROPBEAR_SIZE))),
            );
            add(scp, Node::Symlink(link, DROPBEAR_PATH.as_bytes().to_vec()));
        }
        if !profile.has_applet("sh") {
            add("/bin/sh", Node::Symlink(link, b"/bin/busybox".to_vec()));
        }
        if !profile.issue.is_empty() {
            add(
                "/etc/issue.net",
                file(0o644, built, profile.issue.as_bytes()),
            );
        }
        add(
            "/etc/passwd",
            file(0o644, built, b"root:x:0:0:root:/root:/bin/sh\n"),
        );
        add("/etc/group", file(0o644, built, b"root:x:0:\n"));
        add(
            "/etc/hostname",
            file(0o644, built, format!("{}\n", device.hostname).as_bytes()),
        );
        add(
            "/etc/resolv.conf",
            file(0o644, built, b"nameserver 192.168.1.1\n"),
        );
        add("/etc/mtab", Node::Symlink(link, b"/proc/mounts".to_vec()));
        let proc_meta = Meta {
            mode: 0o444,
            uid: 0,
            gid: 0,
            mtime: built,
        };
        for (name, kind) in [
            ("cpuinfo", ProcFile::CpuInfo),
            ("mounts", ProcFile::Mounts),
            ("meminfo", ProcFile::MemInfo),
            ("version", ProcFile::Version),
            ("uptime", ProcFile::Uptime),
            ("loadavg", ProcFile::LoadAvg),
        ] {
            add(
                &format!("/proc/{name}"),
                Node::File(proc_meta, Content::Proc(kind)),
            );
        }
        add("/proc/self", dir(0o555, built));
        add(
            "/proc/self/exe",
            Node::Symlink(link, b"/bin/busybox".to_vec()),
        );
        let dev = |d| {
            Node::Char(
                Meta {
                    mode: 0o666,
                    uid: 0,
                    gid: 0,
                    mtime: built,
                },
                d,
            )
        };
        add("/dev/null", dev(SpecialFile::Null));
        add("/dev/zero", dev(SpecialFile::Zero));
        add("/dev/urandom", dev(SpecialFile::Random));
        add("/dev/random", dev(SpecialFile::Random));
        add("/dev/tty", dev(SpecialFile::Tty));
        add("/dev/console", dev(SpecialFile::Tty));
        add("/dev/ptmx", Node::Symlink(link, b"pts/ptmx".to_vec()));
        let mut mounts = Vec::new();
        for line in profile.mounts.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [_, path, fstype, options, ..] = f[..] {
                let writable = options.split(',').any(|o| o == "rw")
                    && !matches!(fstype, "proc" | "sysfs" | "rootfs");
                mounts.push(Mount {
                    path: path.as_bytes().to_vec(),
                    fstype: fstype.to_string(),
                    writable,
                });
                nodes
                    .entry(path.as_bytes().to_vec())
                    .or_insert_with(|| dir(0o755, built));
            }
        }
        Self {
            nodes,
            mounts,
            busybox,
        }
    }

    pub(super) fn mount_for(&self, path: &[u8]) -> Option<&Mount> {
        self.mounts
            .iter()
            .filter(|m| is_under(path, &m.path))
            .max_by_key(|m| m.path.len())
    }
}

/// Whether `path` is `dir` or below it.
pub(super) fn is_under(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return true;
    }
    path.starts_with(dir) && matches!(path.get(dir.len()), None | Some(b'/'))
}
