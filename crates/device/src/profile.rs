//! Device profiles: what device the sensor pretends to be, as data.
//!
//! A [`Profile`] is parsed from TOML (the built-in ones are embedded from
//! `profiles/*.toml` at build time; an operator may load others). The architecture is
//! one field, [`Arch`], from which the ELF header of `/bin/busybox`, `uname -m` and the
//! expected `/proc/cpuinfo` marker all derive, so that they cannot disagree.
//! [`Device`] is one sensor's instance of a profile, with the per-sensor random facts
//! (hostname suffix, MAC, serial, uptime base) derived from the sensor's seed.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Errors in a profile's data.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not valid TOML, or fields missing or unknown.
    #[error("profile is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    /// The facts of the profile disagree with each other.
    #[error("profile {name}: {problem}")]
    Inconsistent {
        /// Profile name.
        name: String,
        /// What disagrees.
        problem: String,
    },
}

/// CPU architecture of the emulated device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64 (the oracle host).
    #[serde(rename = "x86_64")]
    X86_64,
    /// 32-bit ARMv7, little-endian.
    Armv7,
    /// 32-bit ARMv5, little-endian.
    Armv5,
    /// 32-bit MIPS, little-endian.
    Mipsel,
    /// 32-bit MIPS, big-endian.
    Mips,
}

impl Arch {
    /// What `uname -m` prints.
    pub fn uname_machine(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Armv7 => "armv7l",
            Arch::Armv5 => "armv5tejl",
            Arch::Mipsel | Arch::Mips => "mips",
        }
    }

    /// Mirai's name for the build that runs here (`mirai.<arch>`).
    pub fn mirai_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
            Arch::Armv7 => "arm7",
            Arch::Armv5 => "arm",
            Arch::Mipsel => "mpsl",
            Arch::Mips => "mips",
        }
    }

    /// A string `/proc/cpuinfo` must contain on this architecture.
    pub fn cpuinfo_marker(self) -> &'static str {
        match self {
            Arch::X86_64 => "vendor_id",
            Arch::Armv7 => "ARMv7",
            Arch::Armv5 => "ARMv5",
            Arch::Mipsel | Arch::Mips => "MIPS",
        }
    }

    fn is_64bit(self) -> bool {
        matches!(self, Arch::X86_64)
    }

    fn is_big_endian(self) -> bool {
        matches!(self, Arch::Mips)
    }

    fn e_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Armv7 | Arch::Armv5 => 40,
            Arch::Mipsel | Arch::Mips => 8,
        }
    }

    fn e_flags(self) -> u32 {
        match self {
            Arch::X86_64 => 0,
            // EABI version 5, soft-float ABI.
            Arch::Armv7 | Arch::Armv5 => 0x0500_0200,
            // noreorder, pic, cpic, o32, mips32r2.
            Arch::Mipsel | Arch::Mips => 0x7000_1007,
        }
    }

    /// The ELF header of a static BusyBox for this architecture: what bots read with
    /// `cat /bin/echo` (Mirai's loader uses bytes 5 and 18-19; Satori reads 22 bytes).
    pub fn elf_header(self, shoff: u64, entry: u64) -> Vec<u8> {
        let big = self.is_big_endian();
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(&[0x7f, b'E', b'L', b'F']);
        h.push(if self.is_64bit() { 2 } else { 1 });
        h.push(if big { 2 } else { 1 });
        h.push(1); // EV_CURRENT
        h.push(if self.is_64bit() { 3 } else { 0 }); // GNU/Linux for the static glibc build
        h.extend_from_slice(&[0; 8]);
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        h.extend_from_slice(&u16b(2)); // ET_EXEC
        h.extend_from_slice(&u16b(self.e_machine()));
        h.extend_from_slice(&u32b(1));
        if self.is_64bit() {
            h.extend_from_slice(&entry.to_le_bytes());
            h.extend_from_slice(&64u64.to_le_bytes());
            h.extend_from_slice(&shoff.to_le_bytes());
            h.extend_from_slice(&u32b(self.e_flags()));
            h.extend_from_slice(&u16b(64)); // e_ehsize
            h.extend_from_slice(&u16b(56)); // e_phentsize
            h.extend_from_slice(&u16b(10)); // e_phnum
            h.extend_from_slice(&u16b(64)); // e_shentsize
            h.extend_from_slice(&u16b(32)); // e_shnum
            h.extend_from_slice(&u16b(31)); // e_shstrndx
        } else {
            h.extend_from_slice(&u32b(entry as u32));
            h.extend_from_slice(&u32b(52));
            h.extend_from_slice(&u32b(shoff as u32));
            h.extend_from_slice(&u32b(self.e_flags()));
            h.extend_from_slice(&u16b(52));
            h.extend_from_slice(&u16b(32));
            h.extend_from_slice(&u16b(6));
            h.extend_from_slice(&u16b(40));
            h.extend_from_slice(&u16b(24));
            h.extend_from_slice(&u16b(23));
        }
        h
    }
}

/// A download tool a profile may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownloadTool {
    /// BusyBox wget.
    Wget,
    /// BusyBox tftp.
    Tftp,
}

/// How `ps` lays out its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PsStyle {
    /// `  PID USER       VSZ STAT COMMAND` (the BusyBox builds on devices).
    #[default]
    Classic,
    /// `PID   USER     COMMAND` (Debian's build without the long format).
    Minimal,
}

/// One device profile, as written in its TOML file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name, used on the command line.
    pub name: String,
    /// One line for `busybait profiles`.
    pub description: String,
    /// Host name; `{suffix}`/`{SUFFIX}` become 4 per-sensor hex digits.
    pub hostname: String,
    /// `/etc/issue.net`, printed before the login prompt.
    #[serde(default)]
    pub issue: String,
    /// BusyBox version and build text, as in `BusyBox v1.35.0 (...)`.
    pub busybox_version: String,
    /// The shell's PS1: `\w` is the working directory, `\$` is `#` for root.
    pub prompt: String,
    /// Whether ash has line editing (it then sends `ESC [6n` after each prompt).
    pub line_editing: bool,
    /// `ps` output layout.
    #[serde(default)]
    pub ps_style: PsStyle,
    /// Built with `FEATURE_SH_STANDALONE` (applets run without a PATH search; changes
    /// `busybox`'s help text).
    #[serde(default)]
    pub sh_standalone: bool,
    /// CPU architecture.
    pub arch: Arch,
    /// Size of `/bin/busybox` in bytes.
    pub busybox_size: u64,
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -v`.
    pub kernel_version: String,
    /// First three bytes of the MAC address, `aa:bb:cc`.
    pub mac_oui: String,
    /// Download tools present.
    pub download_tools: Vec<DownloadTool>,
    /// The vendor's default credentials (accepted in addition to Mirai's table).
    #[serde(default)]
    pub vendor_credentials: Vec<[String; 2]>,
    /// BusyBox applets, space separated.
    pub applets: String,
    /// `/proc/cpuinfo`.
    pub cpuinfo: String,
    /// `/proc/mounts`.
    pub mounts: String,
    /// `/proc/meminfo`.
    pub meminfo: String,
    /// The open-file limit (`ulimit -n`); the kernel's default 1024 unless given.
    #[serde(default = "default_open_files")]
    pub open_files: u64,
    /// The device's SSH server, if it runs one (the SSH door refuses to start for a
    /// profile without).
    #[serde(default)]
    pub ssh: Option<SshServer>,
    /// The device's web server, if it runs one (the HTTP door refuses to start for a
    /// profile without).
    #[serde(default)]
    pub http: Option<HttpServer>,
    /// A real busybox binary served as `/bin/busybox` instead of the synthetic
    /// image (set by the edge from the operator's config, never from TOML).
    #[serde(skip)]
    pub busybox_image: Option<std::sync::Arc<[u8]>>,
}

/// `[http]` of a profile: the device's web server, as its responses show it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpServer {
    /// The `Server:` header, if the server sends one.
    #[serde(default)]
    pub server: Option<String>,
    /// The title of its pages.
    pub title: String,
    /// Its Basic authentication realm: with one, its pages ask for credentials
    /// (`401` and `WWW-Authenticate`); without, `/` is a login form.
    #[serde(default)]
    pub realm: Option<String>,
    /// The exploit-table entries (`profiles/rules/exploits.toml`) its firmware is
    /// vulnerable to.
    #[serde(default)]
    pub exploits: Vec<String>,
    /// The ports its own web server answers on (besides those its exploit entries
    /// name); a listener on any of these serves only what the device has there.
    #[serde(default = "default_http_ports")]
    pub ports: Vec<u16>,
}

fn default_http_ports() -> Vec<u16> {
    vec![80]
}

/// `[ssh]` of a profile: the Dropbear build the device runs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SshServer {
    /// Dropbear's version, as in its identification line (`2022.83`).
    pub dropbear: String,
    /// Whether the build advertises strict kex (a Terrapin backport, as Debian's).
    #[serde(default)]
    pub strict_kex: bool,
    /// Host key algorithms the device has keys for, in any order
    /// (`ssh-ed25519`, `ecdsa-sha2-nistp256`).
    pub host_keys: Vec<String>,
    /// The channel window it offers (Dropbear's `-W`; 24576 unless the init script
    /// sets it).
    #[serde(default = "default_recv_window")]
    pub recv_window: u32,
    /// The command `subsystem sftp` runs (whether or not the file exists).
    #[serde(default = "default_sftp_server")]
    pub sftp_server: String,
    /// Where the build's `scp` is linked (`/usr/bin/scp`, a link to
    /// `/usr/sbin/dropbear` as OpenWrt installs it), if it was built with one.
    #[serde(default)]
    pub scp: Option<String>,
}

fn default_recv_window() -> u32 {
    24576
}

fn default_sftp_server() -> String {
    "/usr/libexec/sftp-server".to_string()
}

fn default_open_files() -> u64 {
    1024
}

/// The built-in profiles' TOML, embedded at build time.
pub const BUILTIN_PROFILES: &[(&str, &str)] = &[
    (
        "xiongmai-dvr",
        include_str!("../../../profiles/xiongmai-dvr.toml"),
    ),
    (
        "ipcam-mipsel",
        include_str!("../../../profiles/ipcam-mipsel.toml"),
    ),
    (
        "router-mips",
        include_str!("../../../profiles/router-mips.toml"),
    ),
    (
        "gateway-hg532",
        include_str!("../../../profiles/gateway-hg532.toml"),
    ),
    ("ont-gpon", include_str!("../../../profiles/ont-gpon.toml")),
    ("oracle", include_str!("../../../profiles/oracle.toml")),
];

/// The profile `serve` uses when none is named.
pub const DEFAULT_PROFILE: &str = "xiongmai-dvr";

impl Profile {
    /// Serves `image` as `/bin/busybox`: it must be an ELF executable of the
    /// profile's architecture (what `uname -m` and `/proc/cpuinfo` say).
    pub fn set_busybox_image(&mut self, image: Vec<u8>) -> Result<(), ProfileError> {
        let header = self.arch.elf_header(0, 0);
        // Magic, class, data (byte order), version; then e_machine at 18.
        let same_start = image.get(..6) == header.get(..6);
        let same_machine = image.get(18..20) == header.get(18..20);
        if !(same_start && same_machine) {
            return Err(self.inconsistent(
                "busybox_image is not an ELF executable of the profile's architecture",
            ));
        }
        self.busybox_size = image.len() as u64;
        self.busybox_image = Some(image.into());
        Ok(())
    }

    /// Parses and checks a profile.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile: Profile = toml::from_str(text)?;
        profile.check()?;
        Ok(profile)
    }

    /// All built-in profiles, parsed.
    pub fn builtin() -> Result<Vec<Profile>, ProfileError> {
        BUILTIN_PROFILES
            .iter()
            .map(|(_, text)| Profile::from_toml(text))
            .collect()
    }

    /// Gives the device exactly these download tools: the others leave the applet
    /// list, so that `/bin/busybox wget` answers `wget: applet not found` (which steers
    /// Mirai's loader onto its tftp or echo path); missing ones are added.
    pub fn set_download_tools(&mut self, tools: &[DownloadTool]) {
        let mut applets: Vec<String> = self
            .applets
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect();
        for (tool, name) in [(DownloadTool::Wget, "wget"), (DownloadTool::Tftp, "tftp")] {
            applets.retain(|a| a != name);
            if tools.contains(&tool) {
                applets.push(name.to_string());
            }
        }
        applets.sort();
        self.applets = applets.join(" ");
        self.download_tools = tools.to_vec();
    }

    /// Where `scp` is, if the device's Dropbear has one.
    pub fn scp_path(&self) -> Option<&str> {
        self.ssh.as_ref().and_then(|s| s.scp.as_deref())
    }

    /// Whether the applet exists in this profile's BusyBox.
    pub fn has_applet(&self, name: &str) -> bool {
        self.applets.split_ascii_whitespace().any(|a| a == name)
    }

    /// The banner ash prints when it starts interactively.
    pub fn shell_banner(&self) -> String {
        format!(
            "\r\n\r\nBusyBox {} built-in shell (ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n",
            self.busybox_version
        )
    }

    fn inconsistent(&self, problem: impl Into<String>) -> ProfileError {
        ProfileError::Inconsistent {
            name: self.name.clone(),
            problem: problem.into(),
        }
    }

    /// Checks that the profile's facts agree with each other.
    pub fn check(&self) -> Result<(), ProfileError> {
        if self
            .scp_path()
            .is_some_and(|p| !p.starts_with('/') || p.ends_with('/'))
        {
            return Err(self.inconsistent("[ssh] scp must be an absolute path to a file"));
        }
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(self.inconsistent("name must be non-empty [A-Za-z0-9-]"));
        }
        if !self.cpuinfo.contains(self.arch.cpuinfo_marker()) {
            return Err(self.inconsistent(format!(
                "/proc/cpuinfo does not mention {} for arch {:?}",
                self.arch.cpuinfo_marker(),
                self.arch
            )));
        }
        let mut writable = false;
        for line in self.mounts.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, path, fstype, options, ..] = fields[..] else {
                return Err(self.inconsistent(format!("bad /proc/mounts line {line:?}")));
            };
            if line.len() > 255 {
                return Err(
                    self.inconsistent("a /proc/mounts line over 255 bytes breaks Mirai's loader")
                );
            }
            if fstype == "tmpfs" && options.split(',').any(|o| o == "rw") && path != "/dev" {
                writable = true;
            }
        }
        if !writable {
            return Err(self.inconsistent("no writable tmpfs in /proc/mounts"));
        }
        for applet in ["sh", "echo", "cat"] {
            if !self.has_applet(applet) {
                return Err(self.inconsistent(format!("applet list lacks {applet}")));
            }
        }
        for tool in &self.download_tools {
            let name = match tool {
                DownloadTool::Wget => "wget",
                DownloadTool::Tftp => "tftp",
            };
            if !self.has_applet(name) {
                return Err(
                    self.inconsistent(format!("download tool {name} is not in the applet list"))
                );
            }
        }
        if parse_oui(&self.mac_oui).is_none() {
            return Err(self.inconsistent("mac_oui must look like aa:bb:cc"));
        }
        if self.busybox_size < 64 * 1024 {
            return Err(self.inconsistent("busybox_size is implausibly small"));
        }
        Ok(())
    }
}

fn parse_oui(s: &str) -> Option<[u8; 3]> {
    let mut out = [0u8; 3];
    let mut parts = s.split(':');
    for slot in &mut out {
        *slot = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// One sensor's instance of a profile.
#[derive(Clone, Debug)]
pub struct Device {
    /// The profile.
    pub profile: Arc<Profile>,
    /// Host name with the per-sensor suffix filled in.
    pub hostname: String,
    /// MAC address of eth0.
    pub mac: [u8; 6],
    /// Board serial number.
    pub serial: String,
    /// How long the device had been up when the sensor started.
    pub uptime_base: Duration,
}

impl Device {
    /// Derives the per-sensor facts from the sensor seed, so that one sensor is the
    /// same device across restarts while two sensors differ.
    pub fn new(profile: Arc<Profile>, sensor_seed: u64) -> Self {
        let derive = |label: &str| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(sensor_seed.to_le_bytes());
            h.update(profile.name.as_bytes());
            h.update([0]);
            h.update(label.as_bytes());
            h.finalize().into()
        };
        let suffix = derive("hostname");
        let suffix = hex::encode(&suffix[..2]);
        let hostname = profile
            .hostname
            .replace("{suffix}", &suffix)
            .replace("{SUFFIX}", &suffix.to_ascii_uppercase());
        let m = derive("mac");
        let oui = parse_oui(&profile.mac_oui).unwrap_or([0x00, 0x12, 0x16]);
        let mac = [oui[0], oui[1], oui[2], m[0], m[1], m[2]];
        let serial = hex::encode(&derive("serial")[..8]).to_ascii_uppercase();
        let u = derive("uptime");
        // Between 1 and 60 days.
        let secs =
            86_400 + u64::from_le_bytes([u[0], u[1], u[2], u[3], 0, 0, 0, 0]) % (59 * 86_400);
        Self {
            profile,
            hostname,
            mac,
            serial,
            uptime_base: Duration::from_secs(secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_agree() {
        let profiles = Profile::builtin().unwrap();
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "xiongmai-dvr",
                "ipcam-mipsel",
                "router-mips",
                "gateway-hg532",
                "ont-gpon",
                "oracle"
            ]
        );
        for (p, (file_name, _)) in profiles.iter().zip(BUILTIN_PROFILES) {
            assert_eq!(&p.name, file_name);
        }
    }

    /// What Mirai's loader concludes from `cat /bin/echo` (reference §3.5).
    fn mirai_arch_from_elf(elf: &[u8], cpuinfo: &str) -> &'static str {
        assert_eq!(&elf[..4], b"\x7fELF");
        let machine = if elf[5] == 1 {
            u16::from_le_bytes([elf[18], elf[19]])
        } else {
            u16::from_be_bytes([elf[18], elf[19]])
        };
        match machine {
            40 | 183 if cpuinfo.contains("ARMv7") || cpuinfo.contains("ARMv6") => "arm7",
            40 | 183 => "arm",
            8 | 10 if elf[5] == 1 => "mpsl",
            8 | 10 => "mips",
            3 | 6 | 7 | 62 => "x86",
            _ => "unknown",
        }
    }

    #[test]
    fn elf_header_cpuinfo_and_uname_agree() {
        let expected = [
            ("xiongmai-dvr", "arm7", "armv7l"),
            ("ipcam-mipsel", "mpsl", "mips"),
            ("router-mips", "mips", "mips"),
            ("gateway-hg532", "mips", "mips"),
            ("ont-gpon", "mips", "mips"),
            ("oracle", "x86", "x86_64"),
        ];
        for p in Profile::builtin().unwrap() {
            let (_, mirai, uname) = expected.iter().find(|e| e.0 == p.name).unwrap();
            let elf = p.arch.elf_header(p.busybox_size - 4096, 0x400000);
            assert_eq!(mirai_arch_from_elf(&elf, &p.cpuinfo), *mirai, "{}", p.name);
            assert_eq!(p.arch.mirai_name(), *mirai);
            assert_eq!(p.arch.uname_machine(), *uname);
            assert_eq!(elf.len(), if p.arch == Arch::X86_64 { 64 } else { 52 });
        }
    }

    #[test]
    fn oracle_header_matches_real_busybox_static() {
        // The first 20 bytes of Debian's busybox-static 1.35 (x86-64).
        let p = Profile::builtin()
            .unwrap()
            .into_iter()
            .find(|p| p.name == "oracle")
            .unwrap();
        let elf = p.arch.elf_header(0, 0);
        assert_eq!(
            &elf[..20],
            &[0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0]
        );
    }

    #[test]
    fn inconsistent_profile_is_rejected() {
        let text = BUILTIN_PROFILES[0].1.replace("ARMv7", "ARMvX");
        assert!(matches!(
            Profile::from_toml(&text),
            Err(ProfileError::Inconsistent { .. })
        ));
        let text = format!("{}\nbogus_key = 1\n", BUILTIN_PROFILES[0].1);
        assert!(matches!(
            Profile::from_toml(&text),
            Err(ProfileError::Parse(_))
        ));
    }

    #[test]
    fn device_is_stable_per_seed_and_differs_across_seeds() {
        let p = Arc::new(Profile::builtin().unwrap().remove(1));
        let a = Device::new(p.clone(), 1);
        let b = Device::new(p.clone(), 1);
        let c = Device::new(p, 2);
        assert_eq!(a.hostname, b.hostname);
        assert_eq!(a.mac, b.mac);
        assert_ne!(a.mac, c.mac);
        assert!(a.hostname.starts_with("IPC") && a.hostname.len() == 7);
        assert_eq!(&a.mac[..3], &[0x00, 0x62, 0x6e]);
    }
}
