//! The system: `busybox` itself, `uname`, `hostname`, `id`, `whoami`, `nproc`,
//! `uptime`, `free`, `df`, `mount`, `dmesg`, `lsmod`, `date`, `crontab`, `passwd`,
//! `which`, `env`, drawn from the profile so that they agree with each other and with
//! `/proc`.

use std::fmt::Write as _;

use crate::shell::exec::{Io, Run, Sh};
use crate::vfs::Node;

use crate::shell::exec::Call;

use super::*;

pub(super) async fn busybox(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
    let Some(applet) = argv.get(1) else {
        let help = busybox_help(sh);
        sh.write(&io.stdout, &help).await;
        return Ok(0);
    };
    if applet.as_slice() == b"--list" {
        let mut out = Vec::new();
        for a in sh.device().profile.applets.split_ascii_whitespace() {
            out.extend_from_slice(a.as_bytes());
            out.push(b'\n');
        }
        sh.write(&io.stdout, &out).await;
        return Ok(0);
    }
    let name = String::from_utf8_lossy(applet).into_owned();
    if !sh.device().profile.has_applet(&name) {
        let mut msg = applet.clone();
        msg.extend_from_slice(b": applet not found\n");
        sh.write(&io.stderr, &msg).await;
        return Ok(127);
    }
    let sub: Vec<Vec<u8>> = argv.iter().skip(1).cloned().collect();
    let call = Call {
        name: &name,
        argv: &sub,
        io,
        builtin: false,
    };
    super::run(sh, call).await
}

/// BusyBox's own help: banner, usage and the applet list wrapped at 80 columns.
fn busybox_help(sh: &Sh) -> Vec<u8> {
    let p = &sh.device().profile;
    let about = if p.sh_standalone {
        "\tBusyBox is a multi-call binary that combines many common Unix\n\tutilities into a single executable.  The shell in this build\n\tis configured to run built-in utilities without $PATH search.\n\tYou don't need to install a link to busybox for each utility.\n\tTo run external program, use full path (/sbin/ip instead of ip).\n"
    } else {
        "\tBusyBox is a multi-call binary that combines many common Unix\n\tutilities into a single executable.  Most people will create a\n\tlink to busybox for each function they wish to use and BusyBox\n\twill act like whatever it was invoked as.\n"
    };
    let mut out = format!(
        "BusyBox {} multi-call binary.\nBusyBox is copyrighted by many authors between 1998-2015.\nLicensed under GPLv2. See source distribution for detailed\ncopyright notices.\n\nUsage: busybox [function [arguments]...]\n   or: busybox --list[-full]\n   or: busybox --install [-s] [DIR]\n   or: function [arguments]...\n\n{about}\nCurrently defined functions:\n",
        p.busybox_version
    )
    .into_bytes();
    // "prevent last comma to be in the very last pos": one less than the terminal.
    let width = sh.term_width().saturating_sub(1);
    let mut col = 0usize;
    for a in p.applets.split_ascii_whitespace() {
        let len2 = a.len() + 2;
        if col >= width.saturating_sub(len2) {
            out.extend_from_slice(b",\n");
            col = 0;
        }
        if col == 0 {
            col = 6;
            out.push(b'\t');
        } else {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(a.as_bytes());
        col += len2;
    }
    out.push(b'\n');
    out
}

pub(super) async fn uname(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, _) = options(argv);
    if let Some(bad) = flags.iter().find(|f| !b"amnrspvio".contains(f)) {
        err(
            sh,
            io,
            "uname",
            format!("invalid option -- '{}'", *bad as char).as_bytes(),
        )
        .await;
        return usage(sh, "uname", io).await;
    }
    let p = &sh.device().profile;
    let all = flags.contains(&b'a');
    let mut fields = Vec::new();
    let want = |c: u8| all || flags.contains(&c);
    if want(b's') || flags.is_empty() {
        fields.push("Linux".to_string());
    }
    if want(b'n') {
        fields.push(sh.device().hostname.clone());
    }
    if want(b'r') {
        fields.push(p.kernel_release.clone());
    }
    if want(b'v') {
        fields.push(p.kernel_version.clone());
    }
    if want(b'm') {
        fields.push(p.arch.uname_machine().to_string());
    }
    if flags.contains(&b'p') {
        fields.push("unknown".into());
    }
    if flags.contains(&b'i') {
        fields.push("unknown".into());
    }
    if want(b'o') {
        fields.push("GNU/Linux".into());
    }
    let out = format!("{}\n", fields.join(" "));
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

/// `hostname`.
pub(super) async fn hostname(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut out = sh.device().hostname.clone().into_bytes();
    out.push(b'\n');
    sh.write(&io.stdout, &out).await;
    0
}

/// `id`.
pub(super) async fn id(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    // The device has one user, root.
    let (flags, _) = options(argv);
    let names = flags.contains(&b'n');
    let out: &[u8] = match (
        flags.contains(&b'u') || flags.contains(&b'g') || flags.contains(&b'G'),
        names,
    ) {
        (true, true) => b"root\n",
        (true, false) => b"0\n",
        (false, _) => b"uid=0(root) gid=0(root) groups=0(root)\n",
    };
    sh.write(&io.stdout, out).await;
    0
}

/// `whoami`.
pub(super) async fn whoami(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    sh.write(&io.stdout, b"root\n").await;
    0
}

/// `nproc`.
pub(super) async fn nproc(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let n = sh
        .device()
        .profile
        .cpuinfo
        .matches("processor")
        .count()
        .max(1);
    sh.write(&io.stdout, format!("{n}\n").as_bytes()).await;
    0
}

/// `uptime`.
pub(super) async fn uptime(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let up = crate::shell::procfs::uptime_secs(sh) as u64;
    let now = sh.now_secs();
    let (_, _, _, h, m) = super::ls::civil(now);
    let s = now % 60;
    let days = up / 86_400;
    let hours = (up % 86_400) / 3600;
    let mins = (up % 3600) / 60;
    let since = match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours}:{mins:02}"),
        (d, _) => format!(
            "{d} day{}, {hours}:{mins:02}",
            if d == 1 { "" } else { "s" }
        ),
    };
    let out = format!(" {h:02}:{m:02}:{s:02} up {since},  load average: 0.08, 0.03, 0.01\n");
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

/// `free`.
pub(super) async fn free(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let total = meminfo(sh, "MemTotal");
    let free = meminfo(sh, "MemFree");
    let cached = meminfo(sh, "Cached") + meminfo(sh, "Buffers");
    let used = total.saturating_sub(free).saturating_sub(cached);
    let (opts, _) = args(argv, b"");
    let show = |kib: u64| {
        let s = if has(&opts, b'h') {
            human_size(kib)
        } else if has(&opts, b'm') {
            (kib / 1024).to_string()
        } else if has(&opts, b'b') {
            (kib * 1024).to_string()
        } else {
            kib.to_string()
        };
        format!("{s:>12}")
    };
    let out = format!(
                "              total        used        free      shared  buff/cache   available\nMem:   {}{}{}{}{}{}\nSwap:  {}{}{}\n",
                show(total),
                show(used),
                show(free),
                show(0),
                show(cached),
                show(free + cached),
                show(0),
                show(0),
                show(0),
            );
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

/// `df`.
pub(super) async fn df(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, _) = args(argv, b"");
    let human = has(&opts, b'h');
    let mut out = if human {
        b"Filesystem                Size      Used Available Use% Mounted on\n".to_vec()
    } else {
        b"Filesystem           1K-blocks      Used Available Use% Mounted on\n".to_vec()
    };
    for line in sh.device().profile.mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dev, path, fstype, ..] = f[..] else {
            continue;
        };
        if matches!(fstype, "proc" | "sysfs" | "devpts" | "rootfs") {
            continue;
        }
        let (size, used) = if fstype == "tmpfs" {
            (16384u64, 12u64)
        } else {
            (8192, 7100)
        };
        let pct = (used * 100).div_ceil(size);
        let show = |kib: u64| {
            if human {
                human_size(kib)
            } else {
                kib.to_string()
            }
        };
        out.extend_from_slice(
            format!(
                "{dev:<20} {:>9} {:>9} {:>9} {pct:3}% {path}\n",
                show(size),
                show(used),
                show(size - used)
            )
            .as_bytes(),
        );
    }
    sh.write(&io.stdout, &out).await;
    0
}

/// BusyBox's `make_human_readable_str()` for a size in KiB: `0`, `12.0K`, `6.9M`.
fn human_size(kib: u64) -> String {
    if kib == 0 {
        return "0".to_string();
    }
    let units = [b'K', b'M', b'G', b'T', b'P', b'E'];
    let mut value = kib;
    let mut frac = 0;
    let mut unit = 0;
    while value >= 1024 && unit + 1 < units.len() {
        frac = ((value % 1024) * 10 + 512) / 1024;
        value /= 1024;
        unit += 1;
    }
    if frac >= 10 {
        value += 1;
        frac = 0;
    }
    format!(
        "{value}.{frac}{}",
        char::from(units.get(unit).copied().unwrap_or(b'E'))
    )
}

fn meminfo(sh: &Sh, key: &str) -> u64 {
    sh.device()
        .profile
        .meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `mount`.
pub(super) async fn mount(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let out = crate::shell::procfs::generate(sh, crate::vfs::ProcFile::Mounts);
    sh.write(&io.stdout, &out).await;
    0
}

/// `dmesg`.
pub(super) async fn dmesg(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let out = dmesg_text(sh);
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

/// A short boot log that agrees with `/proc/version`, the memory and the root file
/// system of the profile.
fn dmesg_text(sh: &Sh) -> String {
    let version = crate::shell::procfs::generate(sh, crate::vfs::ProcFile::Version);
    let version = String::from_utf8_lossy(&version);
    let p = &sh.device().profile;
    let memory = p
        .meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("0")
        .to_string();
    let root_fs = p
        .mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"/") && f.first() != Some(&"rootfs")).then(|| f.get(2).copied())?
        })
        .next()
        .unwrap_or("squashfs");
    let mac: Vec<String> = sh.device().mac.iter().map(|b| format!("{b:02x}")).collect();
    let lines = [
        (0.0, format!("Linux version {}", version.trim_end())),
        (0.0, format!("Memory: {memory}k available")),
        (0.11, "NET: Registered protocol family 2".to_string()),
        (0.93, format!("eth0: MAC address {}", mac.join(":"))),
        (
            1.82,
            format!("VFS: Mounted root ({root_fs} filesystem) readonly on device 31:2."),
        ),
        (1.95, "Freeing unused kernel memory: 196K".to_string()),
        (3.41, "eth0: link up, 100Mbps, full-duplex".to_string()),
    ];
    let mut out = String::new();
    for (t, line) in lines {
        let _ = writeln!(out, "[{t:12.6}] {line}");
    }
    out
}

/// `lsmod`.
pub(super) async fn lsmod(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    sh.write(
        &io.stdout,
        b"Module                  Size  Used by    Not tainted\n",
    )
    .await;
    0
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A broken-down UTC time.
struct Tm {
    secs: u64,
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    weekday: usize,
    yearday: u32,
}

impl Tm {
    fn at(secs: u64) -> Self {
        let (year, month, day, hour, minute) = super::ls::civil(secs);
        let days = secs / 86_400;
        let jan1 = {
            // Days from the epoch to 1 January of `year`.
            let y = year - 1;
            365 * (year - 1970) + (y / 4 - y / 100 + y / 400) - (1969 / 4 - 1969 / 100 + 1969 / 400)
        };
        Self {
            secs,
            year,
            month,
            day,
            hour,
            minute,
            second: (secs % 60) as u32,
            weekday: ((days + 4) % 7) as usize,
            yearday: (days as i64 - jan1 + 1).max(1) as u32,
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS
            .get(self.month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("January")
    }

    fn day_name(&self) -> &'static str {
        DAYS.get(self.weekday).copied().unwrap_or("Sunday")
    }

    /// The `strftime` conversions BusyBox's date passes through, in UTC.
    fn format(&self, fmt: &[u8]) -> Vec<u8> {
        let mut out = String::new();
        let mut i = 0;
        while let Some(&c) = fmt.get(i) {
            i += 1;
            if c != b'%' {
                out.push(char::from(c));
                continue;
            }
            let Some(&conv) = fmt.get(i) else {
                out.push('%');
                break;
            };
            i += 1;
            let hour12 = match self.hour % 12 {
                0 => 12,
                h => h,
            };
            let _ = match conv {
                b'Y' => write!(out, "{}", self.year),
                b'y' => write!(out, "{:02}", self.year.rem_euclid(100)),
                b'C' => write!(out, "{:02}", self.year / 100),
                b'm' => write!(out, "{:02}", self.month),
                b'd' => write!(out, "{:02}", self.day),
                b'e' => write!(out, "{:2}", self.day),
                b'H' => write!(out, "{:02}", self.hour),
                b'I' => write!(out, "{hour12:02}"),
                b'M' => write!(out, "{:02}", self.minute),
                b'S' => write!(out, "{:02}", self.second),
                b's' => write!(out, "{}", self.secs),
                b'j' => write!(out, "{:03}", self.yearday),
                b'a' => write!(out, "{}", self.day_name().get(..3).unwrap_or_default()),
                b'A' => write!(out, "{}", self.day_name()),
                b'b' | b'h' => write!(out, "{}", self.month_name().get(..3).unwrap_or_default()),
                b'B' => write!(out, "{}", self.month_name()),
                b'p' => write!(out, "{}", if self.hour < 12 { "AM" } else { "PM" }),
                b'u' => write!(out, "{}", if self.weekday == 0 { 7 } else { self.weekday }),
                b'w' => write!(out, "{}", self.weekday),
                b'Z' => write!(out, "UTC"),
                b'z' => write!(out, "+0000"),
                b'F' => write!(out, "{}-{:02}-{:02}", self.year, self.month, self.day),
                b'T' => write!(
                    out,
                    "{:02}:{:02}:{:02}",
                    self.hour, self.minute, self.second
                ),
                b'R' => write!(out, "{:02}:{:02}", self.hour, self.minute),
                b'D' => write!(
                    out,
                    "{:02}/{:02}/{:02}",
                    self.month,
                    self.day,
                    self.year.rem_euclid(100)
                ),
                b'n' => out.write_char('\n'),
                b't' => out.write_char('\t'),
                b'%' => out.write_char('%'),
                other => write!(out, "%{}", char::from(other)),
            };
        }
        out.into_bytes()
    }
}

pub(super) async fn date(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"uR", b"dDrsI") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "date", f).await,
    };
    let mut secs = sh.now_secs();
    if let Some(when) = parsed.value(b'd') {
        match when
            .strip_prefix(b"@")
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok())
        {
            Some(s) => secs = s,
            None => {
                let msg = [b"invalid date '", when, b"'"].concat();
                err(sh, io, "date", &msg).await;
                return 1;
            }
        }
    }
    let tm = Tm::at(secs);
    let format: &[u8] = if parsed.flags.contains(&b'R') {
        b"%a, %d %b %Y %H:%M:%S %z"
    } else if parsed.value(b'I').is_some() {
        b"%Y-%m-%d"
    } else if let Some(f) = parsed.operands.iter().find_map(|o| o.strip_prefix(b"+")) {
        f
    } else {
        b"%a %b %e %H:%M:%S %Z %Y"
    };
    let mut out = tm.format(format);
    out.push(b'\n');
    sh.write(&io.stdout, &out).await;
    0
}

/// Where busybox crontab keeps the tables.
const CRONTAB_DIR: &[u8] = b"/var/spool/cron/crontabs";

pub(super) async fn crontab(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"ler", b"uc") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "crontab", f).await,
    };
    let list = parsed.flags.contains(&b'l');
    let remove = parsed.flags.contains(&b'r');
    if !list && !remove && parsed.operands.is_empty() {
        return super::usage(sh, "crontab", io).await;
    }
    let dir = parsed
        .value(b'c')
        .map_or(CRONTAB_DIR.to_vec(), <[u8]>::to_vec);
    let user = parsed.value(b'u').map_or(b"root".to_vec(), <[u8]>::to_vec);
    let cwd = sh.cwd().to_vec();
    if !matches!(sh.vfs().lookup(&cwd, &dir, true), Ok((_, Node::Dir(_)))) {
        let msg = [
            b"can't change directory to '",
            dir.as_slice(),
            b"': No such file or directory",
        ]
        .concat();
        err(sh, io, "crontab", &msg).await;
        return 1;
    }
    let table = join(&dir, &user);
    let now = sh.now_secs();
    if list {
        return match sh.read_file(&cwd, &table) {
            Ok(content) => {
                sh.write(&io.stdout, &content).await;
                0
            }
            Err(e) => {
                let msg = [
                    b"can't open '",
                    user.as_slice(),
                    format!("': {e}").as_bytes(),
                ]
                .concat();
                err(sh, io, "crontab", &msg).await;
                1
            }
        };
    }
    if remove {
        let _ = sh.vfs_mut().unlink(&cwd, &table);
    } else {
        let Some(content) = one_input(sh, io, "crontab", parsed.operands.first()).await else {
            return 1;
        };
        if let Err(e) = sh.vfs_mut().write(&cwd, &table, &content, false, now) {
            let msg = [table.as_slice(), format!(": {e}").as_bytes()].concat();
            err(sh, io, "crontab", &msg).await;
            return 1;
        }
    }
    // crond rereads the tables named in cron.update.
    let mut note = user.clone();
    note.push(b'\n');
    let _ = sh
        .vfs_mut()
        .write(&cwd, &join(&dir, b"cron.update"), &note, true, now);
    0
}

/// BusyBox's `obscure()` verdict on a new password (it only warns for root).
fn weakness(password: &[u8], user: &[u8], hostname: &[u8]) -> Option<&'static str> {
    const MIN_LEN: usize = 6;
    if password.len() < MIN_LEN {
        return Some("too short");
    }
    let similar = |word: &[u8]| {
        if word.is_empty() {
            return false;
        }
        let lower = password.to_ascii_lowercase();
        let word = word.to_ascii_lowercase();
        let reversed: Vec<u8> = word.iter().rev().copied().collect();
        [word, reversed]
            .iter()
            .any(|w| lower.windows(w.len()).any(|win| win == w.as_slice()))
    };
    if similar(user) {
        return Some("similar to username");
    }
    if similar(hostname) {
        return Some("similar to hostname");
    }
    let mut classes = 0u8;
    for &c in password {
        classes |= match c {
            b'a'..=b'z' => 1,
            b'A'..=b'Z' => 2,
            b'0'..=b'9' => 4,
            _ => 8,
        };
        let same = password.iter().filter(|&&d| d == c).count();
        if same >= password.len() / 2 {
            return Some("too many similar characters");
        }
    }
    let size = MIN_LEN + 8 - 2 * classes.count_ones() as usize;
    (password.len() < size).then_some("too weak")
}

pub(super) async fn passwd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"lud", b"a") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "passwd", f).await,
    };
    let user = parsed.operands.first().cloned().unwrap_or(b"root".to_vec());
    let user_text = String::from_utf8_lossy(&user).into_owned();
    if parsed.flags.iter().any(|f| b"lud".contains(f)) {
        // `bb_info_msg`, on stderr like the errors.
        let msg = format!("passwd: password for {user_text} changed by root\n");
        sh.write(&io.stderr, msg.as_bytes()).await;
        return 0;
    }
    let input = sh.stdin_bytes(io).await;
    let mut lines = input.split(|&b| b == b'\n');
    let mut out = format!("Changing password for {user_text}\nNew password: \n").into_bytes();
    let unchanged = format!("passwd: password for {user_text} is unchanged\n");
    let Some(first) = lines.next().filter(|_| !input.is_empty()) else {
        sh.write(&io.stdout, &out).await;
        sh.write(&io.stderr, unchanged.as_bytes()).await;
        return 1;
    };
    if let Some(why) = weakness(first, &user, sh.device().hostname.as_bytes()) {
        out.extend_from_slice(format!("Bad password: {why}\n").as_bytes());
    }
    out.extend_from_slice(b"Retype password: \n");
    let second = lines.next();
    if second != Some(first) {
        if second.is_some() {
            out.extend_from_slice(b"Passwords don't match\n");
        }
        sh.write(&io.stdout, &out).await;
        sh.write(&io.stderr, unchanged.as_bytes()).await;
        return 1;
    }
    sh.write(&io.stdout, &out).await;
    let changed = format!("passwd: password for {user_text} changed by root\n");
    sh.write(&io.stderr, changed.as_bytes()).await;
    0
}

/// `which`.
pub(super) async fn which(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut status = 0;
    let mut out = Vec::new();
    for a in argv.iter().skip(1) {
        let n = String::from_utf8_lossy(a).into_owned();
        let path = crate::vfs::applet_path(&n);
        let on_path = path.contains('/');
        if sh.device().profile.has_applet(&n) && !n.contains('/') && on_path {
            out.extend_from_slice(format!("/{path}\n").as_bytes());
        } else {
            status = 1;
        }
    }
    sh.write(&io.stdout, &out).await;
    status
}

/// `env`, `printenv`.
pub(super) async fn env(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut out = Vec::new();
    for (k, v) in sh.environment() {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    sh.write(&io.stdout, &out).await;
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_busybox_prints_them() {
        let tm = Tm::at(86_400);
        assert_eq!(
            tm.format(b"%Y-%m-%d %H:%M:%S %a %b %e %j %y %Z %z %F %T %D %A %B %p %I %u %w %%"),
            b"1970-01-02 00:00:00 Fri Jan  2 002 70 UTC +0000 1970-01-02 00:00:00 01/02/70 Friday January AM 12 5 5 %"
        );
        assert_eq!(
            Tm::at(1_234_567_890).format(b"%a, %d %b %Y %H:%M:%S %z"),
            b"Fri, 13 Feb 2009 23:31:30 +0000"
        );
        assert_eq!(Tm::at(1_795_698_218).format(b"%j %a"), b"330 Thu");
    }

    #[test]
    fn weak_passwords_get_busybox_verdicts() {
        assert_eq!(weakness(b"abc", b"root", b"x"), Some("too short"));
        assert_eq!(weakness(b"abc123", b"root", b"x"), Some("too weak"));
        assert_eq!(
            weakness(b"xxroot99", b"root", b"x"),
            Some("similar to username")
        );
        assert_eq!(
            weakness(b"aaaaaa1", b"root", b"x"),
            Some("too many similar characters")
        );
        assert_eq!(weakness(b"Str0ng!Pass", b"root", b"x"), None);
    }
}
