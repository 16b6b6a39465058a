//! BusyBox applets, with BusyBox 1.35's output and error texts (usage texts come from
//! the real binary, `profiles/usage/busybox-1.35.txt`).

use std::sync::Arc;
use std::time::Duration;

use crate::profile::DownloadTool;
use crate::vfs::{base_name, Content, Errno, Meta, Node, SpecialFile};

use super::exec::{FetchRequest, FetchResult, Io, Run, Sh, Sink, Wait};

/// Usage texts of BusyBox 1.35, `@@@ applet` headers.
const USAGE: &str = include_str!("../../../../profiles/usage/busybox-1.35.txt");

/// The usage text of an applet (from "Usage:" on).
pub fn usage_text(applet: &str) -> Option<&'static str> {
    let header = format!("@@@ {applet}\n");
    let start = USAGE.find(&header)? + header.len();
    let rest = USAGE.get(start..)?;
    let end = rest.find("\n@@@ ").map_or(rest.len(), |i| i + 1);
    rest.get(..end)
}

/// Prints `BusyBox … multi-call binary.` and the usage to stderr; returns 1.
pub async fn usage(sh: &mut Sh, applet: &str, io: &Io) -> i32 {
    let mut out = format!(
        "BusyBox {} multi-call binary.\n\n",
        sh.device.profile.busybox_version
    )
    .into_bytes();
    out.extend_from_slice(usage_text(applet).unwrap_or("").as_bytes());
    sh.write(&io.stderr, &out).await;
    1
}

async fn err(sh: &mut Sh, io: &Io, applet: &str, msg: &[u8]) {
    let mut line = applet.as_bytes().to_vec();
    line.extend_from_slice(b": ");
    line.extend_from_slice(msg);
    line.push(b'\n');
    sh.write(&io.stderr, &line).await;
}

fn quoted(path: &[u8], e: impl std::fmt::Display) -> Vec<u8> {
    let mut m = b"'".to_vec();
    m.extend_from_slice(path);
    m.extend_from_slice(format!("': {e}").as_bytes());
    m
}

fn plain(path: &[u8], e: impl std::fmt::Display) -> Vec<u8> {
    let mut m = path.to_vec();
    m.extend_from_slice(format!(": {e}").as_bytes());
    m
}

/// Splits `-abc` style options from operands (stops at `--` or the first operand).
fn options(argv: &[Vec<u8>]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut flags = Vec::new();
    let mut rest = Vec::new();
    let mut done = false;
    for a in argv.iter().skip(1) {
        if !done && a.as_slice() == b"--" {
            done = true;
        } else if !done && a.len() > 1 && a.first() == Some(&b'-') {
            flags.extend_from_slice(a.get(1..).unwrap_or_default());
        } else {
            rest.push(a.clone());
        }
    }
    (flags, rest)
}

/// Runs applet `name`.
pub fn run<'a>(
    sh: &'a mut Sh,
    name: &'a str,
    argv: &'a [Vec<u8>],
    io: &'a Io,
) -> super::exec::BoxFut<'a, Run> {
    Box::pin(run_inner(sh, name, argv, io))
}

async fn run_inner(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> Run {
    if argv.get(1).is_some_and(|a| a.as_slice() == b"--help") && name != "busybox" {
        let mut out = format!(
            "BusyBox {} multi-call binary.\n\n",
            sh.device.profile.busybox_version
        )
        .into_bytes();
        out.extend_from_slice(usage_text(name).unwrap_or("").as_bytes());
        sh.write(&io.stdout, &out).await;
        return Ok(0);
    }
    Ok(match name {
        "busybox" => return busybox(sh, argv, io).await,
        "xargs" => return xargs(sh, argv, io).await,
        "echo" => echo(sh, argv, io).await,
        "printf" => printf(sh, argv, io, "printf").await,
        "kill" => kill(sh, argv, io, "kill").await,
        "true" => 0,
        "false" => 1,
        "cat" => cat(sh, argv, io).await,
        "cp" => cp(sh, argv, io).await,
        "mv" => mv(sh, argv, io).await,
        "rm" => rm(sh, argv, io).await,
        "mkdir" => mkdir(sh, argv, io).await,
        "rmdir" => rmdir(sh, argv, io).await,
        "touch" => touch(sh, argv, io).await,
        "chmod" => chmod(sh, argv, io).await,
        "ln" => ln(sh, argv, io).await,
        "ls" => super::ls::ls(sh, argv, io).await,
        "dd" => dd(sh, argv, io).await,
        "head" => head(sh, argv, io).await,
        "wc" => wc(sh, argv, io).await,
        "ps" => ps(sh, io).await,
        "uname" => uname(sh, argv, io).await,
        "hostname" => {
            let mut out = sh.device.hostname.clone().into_bytes();
            out.push(b'\n');
            sh.write(&io.stdout, &out).await;
            0
        }
        "id" => {
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
        "whoami" => {
            sh.write(&io.stdout, b"root\n").await;
            0
        }
        "nproc" => {
            let n = sh
                .device
                .profile
                .cpuinfo
                .matches("processor")
                .count()
                .max(1);
            sh.write(&io.stdout, format!("{n}\n").as_bytes()).await;
            0
        }
        "sleep" => sleep(sh, argv, io).await,
        "wget" => wget(sh, argv, io).await,
        "tftp" => tftp(sh, argv, io).await,
        "ftpget" => ftpget(sh, argv, io).await,
        "nc" => nc(sh, argv, io).await,
        "killall" => {
            let mut status = 0;
            for name in argv.iter().skip(1).filter(|a| !a.starts_with(b"-")) {
                if !super::ps::kill_by_name(sh, name) {
                    let mut m = name.clone();
                    m.extend_from_slice(b": no process killed");
                    err(sh, io, "killall", &m).await;
                    status = 1;
                }
            }
            status
        }
        "sh" | "ash" => return super::sh_applet(sh, argv, io).await,
        "test" | "[" | "[[" => super::test::run(sh, name, argv, io).await,
        "mount" => {
            let out = super::procfs::generate(sh, crate::vfs::ProcFile::Mounts);
            sh.write(&io.stdout, &out).await;
            0
        }
        "reboot" | "halt" | "poweroff" => 0,
        // The rest (and, past them, silent success for applets not emulated).
        _ => match super::text::run(sh, name, argv, io).await {
            Some(status) => status,
            None => return super::system::run(sh, name, argv, io).await,
        },
    })
}

/// Words xargs takes from its input at most (the rest is ignored).
const MAX_XARGS_WORDS: usize = 4096;

/// `xargs [-n N] [COMMAND [ARG]...]`: runs COMMAND (`echo` by default) with the
/// words of its input, N at a time; 123 if a run failed, as BusyBox.
async fn xargs(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
    let mut i = 1;
    let mut per_run = usize::MAX;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-n" => {
                per_run = argv
                    .get(i + 1)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or(usize::MAX);
                i += 2;
            }
            x if x.starts_with(b"-n") => {
                per_run = std::str::from_utf8(x.get(2..).unwrap_or_default())
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or(usize::MAX);
                i += 1;
            }
            x if x.starts_with(b"-") && x.len() > 1 => i += 1,
            _ => break,
        }
    }
    let mut command: Vec<Vec<u8>> = argv.get(i..).unwrap_or_default().to_vec();
    if command.is_empty() {
        command.push(b"echo".to_vec());
    }
    let input = io.stdin.as_deref().cloned().unwrap_or_default();
    let words: Vec<Vec<u8>> = input
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .take(MAX_XARGS_WORDS)
        .map(<[u8]>::to_vec)
        .collect();
    let run_io = Io {
        stdin: None,
        stdout: io.stdout.clone(),
        stderr: io.stderr.clone(),
        high: io.high.clone(),
    };
    let mut status = 0;
    let batches: Vec<Vec<Vec<u8>>> = if words.is_empty() {
        vec![Vec::new()]
    } else {
        words
            .chunks(per_run.min(words.len()))
            .map(<[_]>::to_vec)
            .collect()
    };
    for batch in batches {
        sh.step().await?;
        let mut line = command.clone();
        line.extend(batch);
        match Box::pin(sh.dispatch(line, &run_io)).await? {
            0 => {}
            127 => return Ok(127),
            _ => status = 123,
        }
    }
    Ok(status)
}

async fn busybox(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
    let Some(applet) = argv.get(1) else {
        let help = busybox_help(sh);
        sh.write(&io.stdout, &help).await;
        return Ok(0);
    };
    if applet.as_slice() == b"--list" {
        let mut out = Vec::new();
        for a in sh.device.profile.applets.split_ascii_whitespace() {
            out.extend_from_slice(a.as_bytes());
            out.push(b'\n');
        }
        sh.write(&io.stdout, &out).await;
        return Ok(0);
    }
    let name = String::from_utf8_lossy(applet).into_owned();
    if !sh.device.profile.has_applet(&name) {
        let mut msg = applet.clone();
        msg.extend_from_slice(b": applet not found\n");
        sh.write(&io.stderr, &msg).await;
        return Ok(127);
    }
    let sub: Vec<Vec<u8>> = argv.iter().skip(1).cloned().collect();
    match name.as_str() {
        // Builtins keep their builtin behaviour when named through busybox.
        "echo" | "printf" | "kill" | "test" | "[" | "[[" | "true" | "false" => {
            run(sh, &name, &sub, io).await
        }
        _ => run(sh, &name, &sub, io).await,
    }
}

/// BusyBox's own help: banner, usage and the applet list wrapped at 80 columns.
fn busybox_help(sh: &Sh) -> Vec<u8> {
    let p = &sh.device.profile;
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
    let width = sh.term_width.saturating_sub(1);
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

/// `echo`, BusyBox's (`-n`, `-e`, `-E` in any combination; `\c`, `\0NNN`, `\NNN`, `\xHH`).
pub async fn echo(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        let Some(flags) = a.strip_prefix(b"-") else {
            break;
        };
        if flags.is_empty() || !flags.iter().all(|f| matches!(f, b'n' | b'e' | b'E')) {
            break;
        }
        for f in flags {
            match f {
                b'n' => newline = false,
                b'e' => escapes = true,
                _ => {}
            }
        }
        i += 1;
    }
    let mut out = Vec::new();
    let args = argv.get(i..).unwrap_or_default();
    'args: for (k, arg) in args.iter().enumerate() {
        // C strings: an argument ends at its first NUL.
        let arg = arg.split(|&b| b == 0).next().unwrap_or_default();
        if escapes {
            let mut j = 0;
            while let Some(&c) = arg.get(j) {
                j += 1;
                if c != b'\\' {
                    out.push(c);
                    continue;
                }
                if arg.get(j) == Some(&b'c') {
                    newline = false;
                    break 'args;
                }
                if arg.get(j) == Some(&b'0')
                    && arg.get(j + 1).is_some_and(|d| (b'0'..=b'7').contains(d))
                {
                    j += 1;
                }
                let (byte, used) = escape_sequence(arg.get(j..).unwrap_or_default());
                out.push(byte);
                j += used;
            }
        } else {
            out.extend_from_slice(arg);
        }
        if k + 1 < args.len() {
            out.push(b' ');
        }
    }
    if newline {
        out.push(b'\n');
    }
    sh.write(&io.stdout, &out).await;
    0
}

/// `bb_process_escape_sequence()`: `s` is what follows the backslash; returns the
/// byte and how many bytes of `s` it used.
pub fn escape_sequence(s: &[u8]) -> (u8, usize) {
    let mut q = 0usize;
    let mut base = 8u32;
    let mut num_digits = 0usize;
    let mut n = 0u32;
    if s.first() == Some(&b'x') {
        q += 1;
        base = 16;
        num_digits += 1;
    }
    loop {
        let c = s.get(q).copied().unwrap_or(0);
        let mut d = u32::from(c.wrapping_sub(b'0'));
        if d >= 10 {
            let lower = c.to_ascii_lowercase();
            d = if lower >= b'a' {
                u32::from(lower - b'a') + 10
            } else {
                u32::MAX
            };
        }
        if d >= base {
            if base == 16 {
                num_digits -= 1;
                if num_digits == 0 {
                    return (b'\\', 0);
                }
            }
            break;
        }
        let r = n * base + d;
        if r > 255 {
            break;
        }
        n = r;
        q += 1;
        num_digits += 1;
        if num_digits >= 3 {
            break;
        }
    }
    if num_digits == 0 {
        const MAP: &[(u8, u8)] = &[
            (b'a', 7),
            (b'b', 8),
            (b'e', 27),
            (b'f', 12),
            (b'n', b'\n'),
            (b'r', b'\r'),
            (b't', b'\t'),
            (b'v', 11),
            (b'\\', b'\\'),
        ];
        return match s.first().and_then(|c| MAP.iter().find(|(k, _)| k == c)) {
            Some((_, v)) => (*v, 1),
            None => (b'\\', 0),
        };
    }
    (n as u8, q)
}

/// `printf FORMAT [ARG]…` for `%s`, `%d`, `%c`, `%x`, `%o`, `%%` and escapes.
/// `printf FORMAT [ARG]...`. `who` names it in errors: `sh` for ash's builtin,
/// `printf` for the applet.
pub async fn printf(sh: &mut Sh, argv: &[Vec<u8>], io: &Io, who: &str) -> i32 {
    let Some(format) = argv.get(1) else {
        if who == "sh" {
            err(sh, io, who, b"usage: printf FORMAT [ARGUMENT...]").await;
            return 1;
        }
        return usage(sh, "printf", io).await;
    };
    let mut args = argv.iter().skip(2);
    let mut out = Vec::new();
    let mut errors: Vec<Vec<u8>> = Vec::new();
    let mut status = 0;
    let mut rounds = 0;
    'rounds: loop {
        let mut consumed = false;
        let mut i = 0;
        while let Some(&c) = format.get(i) {
            i += 1;
            match c {
                b'\\' => {
                    let (b, used) = escape_sequence(format.get(i..).unwrap_or_default());
                    out.push(b);
                    i += used;
                }
                b'%' => {
                    let spec_start = i;
                    while format
                        .get(i)
                        .is_some_and(|b| b"-+ #0123456789.".contains(b))
                    {
                        i += 1;
                    }
                    let spec =
                        String::from_utf8_lossy(format.get(spec_start..i).unwrap_or_default())
                            .into_owned();
                    // Length modifiers change nothing here.
                    while format.get(i).is_some_and(|b| b"hlLzjt".contains(b)) {
                        i += 1;
                    }
                    let conv_at = i;
                    let conv = format.get(i).copied().unwrap_or(b'%');
                    i += 1;
                    if !b"%sbcdiuxXo".contains(&conv) {
                        let mut m = b"%".to_vec();
                        m.extend_from_slice(format.get(conv_at..).unwrap_or_default());
                        m.extend_from_slice(b": invalid format");
                        errors.push(m);
                        status = 1;
                        break 'rounds;
                    }
                    let left = spec.contains('-');
                    let plus = spec.contains('+');
                    let space = spec.contains(' ');
                    let (width_text, precision) = match spec.split_once('.') {
                        Some((w, p)) => (w.to_string(), Some(p.parse::<usize>().unwrap_or(0))),
                        None => (spec.clone(), None),
                    };
                    let zero = width_text
                        .trim_start_matches(['-', '+', ' ', '#'])
                        .starts_with('0');
                    let width: usize = width_text
                        .trim_start_matches(['-', '+', ' ', '#', '0'])
                        .parse()
                        .unwrap_or(0);
                    let arg = if conv == b'%' {
                        None
                    } else {
                        consumed = true;
                        args.next()
                    };
                    let mut text: Vec<u8> = match conv {
                        b'%' => b"%".to_vec(),
                        b's' => arg.cloned().unwrap_or_default(),
                        b'b' => {
                            let mut v = Vec::new();
                            let a = arg.cloned().unwrap_or_default();
                            let mut j = 0;
                            while let Some(&c) = a.get(j) {
                                j += 1;
                                if c == b'\\' {
                                    let (b, used) = escape_sequence(a.get(j..).unwrap_or_default());
                                    v.push(b);
                                    j += used;
                                } else {
                                    v.push(c);
                                }
                            }
                            v
                        }
                        b'c' => arg
                            .and_then(|a| a.first().copied())
                            .map(|b| vec![b])
                            .unwrap_or_default(),
                        _ => {
                            let raw = arg.cloned().unwrap_or_default();
                            let n = match printf_number(&raw) {
                                Some(n) => n,
                                None => {
                                    let mut m = b"invalid number '".to_vec();
                                    m.extend_from_slice(&raw);
                                    m.push(b'\'');
                                    errors.push(m);
                                    status = 1;
                                    0
                                }
                            };
                            let sign = if n < 0 {
                                ""
                            } else if plus && matches!(conv, b'd' | b'i') {
                                "+"
                            } else if space && matches!(conv, b'd' | b'i') {
                                " "
                            } else {
                                ""
                            };
                            let body = match conv {
                                b'x' => format!("{n:x}"),
                                b'X' => format!("{n:X}"),
                                b'o' => format!("{n:o}"),
                                b'u' => (n as u64).to_string(),
                                _ => n.to_string(),
                            };
                            format!("{sign}{body}").into_bytes()
                        }
                    };
                    if let (Some(p), b's' | b'b') = (precision, conv) {
                        text.truncate(p);
                    }
                    // A width past what any output can hold is cut to what can.
                    let room = super::exec::MAX_APPLET_OUTPUT.saturating_sub(out.len());
                    text.truncate(room);
                    let pad = width
                        .saturating_sub(text.len())
                        .min(room.saturating_sub(text.len()));
                    if !left {
                        if zero && !matches!(conv, b's' | b'b' | b'c') {
                            // Zeros go after the sign.
                            let signed = matches!(text.first(), Some(b'-' | b'+' | b' '));
                            let (sign, digits) = text.split_at(usize::from(signed));
                            let mut padded = sign.to_vec();
                            padded.extend(std::iter::repeat_n(b'0', pad));
                            padded.extend_from_slice(digits);
                            text = padded;
                        } else {
                            out.extend(std::iter::repeat_n(b' ', pad));
                        }
                    }
                    out.extend_from_slice(&text);
                    if left {
                        out.extend(std::iter::repeat_n(b' ', pad));
                    }
                }
                _ => out.push(c),
            }
        }
        rounds += 1;
        if !consumed
            || args.len() == 0
            || rounds > 1000
            || out.len() >= super::exec::MAX_APPLET_OUTPUT
        {
            break;
        }
    }
    // Errors go out as they happen; the output is flushed at the end.
    for m in errors {
        err(sh, io, who, &m).await;
    }
    sh.write(&io.stdout, &out).await;
    status
}

/// A number argument of printf: decimal, `0x` hex, `0` octal, or `'c` (the
/// character's code); surrounding blanks allowed.
fn printf_number(raw: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    if let Some(c) = text.strip_prefix(['\'', '"']) {
        return Some(c.bytes().next().map_or(0, i64::from));
    }
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let v = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(digits, 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// The `kill` builtin (its errors are BusyBox kill's, named `sh`).
/// Signal names in number order, as `kill -l` lists them.
const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR", "SYS",
];

/// `kill`: ash's builtin names itself `sh` in its errors, the applet (`/bin/busybox
/// kill`, `/bin/kill`) `kill`.
pub async fn kill(sh: &mut Sh, argv: &[Vec<u8>], io: &Io, who: &str) -> i32 {
    let operands: Vec<&Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .collect();
    if argv.get(1).is_some_and(|a| a == b"-l") {
        let list: String = SIGNALS
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{:2}) {name}\n", i + 1))
            .collect();
        sh.write(&io.stdout, list.as_bytes()).await;
        return 0;
    }
    if operands.is_empty() {
        err(sh, io, who, b"you need to specify whom to kill").await;
        return 1;
    }
    let mut status = 0;
    for op in operands {
        let pid = std::str::from_utf8(op)
            .ok()
            .and_then(|s| s.parse::<u32>().ok());
        match pid {
            Some(pid) if super::ps::exists(sh, pid) => {
                if pid != 1 && pid != sh.pid {
                    sh.killed.push(pid);
                }
            }
            Some(pid) => {
                err(
                    sh,
                    io,
                    who,
                    format!("can't kill pid {pid}: No such process").as_bytes(),
                )
                .await;
                status = 1;
            }
            // A job spec: ash's builtin knows no jobs (none run in the background).
            None if op.starts_with(b"%") && who != "kill" => {
                let mut m = b"kill: ".to_vec();
                m.extend_from_slice(op);
                m.extend_from_slice(b": no such job");
                sh.shell_error(io, &m).await;
                status = 1;
            }
            None => {
                let mut m = b"invalid number '".to_vec();
                m.extend_from_slice(op);
                m.push(b'\'');
                err(sh, io, who, &m).await;
                status = 1;
            }
        }
    }
    status
}

async fn cat(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, files) = options(argv);
    if flags.contains(&b'n') {
        return cat_numbered(sh, &files, io).await;
    }
    if files.is_empty() || files.iter().all(|f| f.as_slice() == b"-") {
        if let Some(input) = io.stdin.clone() {
            sh.write(&io.stdout, &input).await;
        }
        return 0;
    }
    let mut status = 0;
    for f in files {
        if f.as_slice() == b"-" {
            if let Some(input) = io.stdin.clone() {
                sh.write(&io.stdout, &input).await;
            }
            continue;
        }
        let cwd = sh.cwd.clone();
        match sh.vfs.read(&cwd, &f) {
            Ok((_, Node::File(_, content))) if !matches!(content, Content::Proc(_)) => {
                stream(sh, &content, &io.stdout).await;
            }
            Ok(_) => match sh.read_file(&cwd, &f) {
                Ok(bytes) => sh.write(&io.stdout, &bytes).await,
                Err(e) => {
                    err(sh, io, "cat", &quoted(&f, e)).await;
                    status = 1;
                }
            },
            Err(Errno::IsDir) => {
                err(sh, io, "cat", b"read error: Is a directory").await;
                status = 1;
            }
            Err(e) => {
                err(
                    sh,
                    io,
                    "cat",
                    format!("can't open {}", String::from_utf8_lossy(&quoted(&f, e))).as_bytes(),
                )
                .await;
                status = 1;
            }
        }
    }
    status
}

/// Writes a file's content in chunks, so a large file streams to the terminal.
/// `cat -n`: every line numbered, `%6d` and a tab.
async fn cat_numbered(sh: &mut Sh, files: &[Vec<u8>], io: &Io) -> i32 {
    let mut data = Vec::new();
    let mut status = 0;
    let cwd = sh.cwd.clone();
    if files.is_empty() {
        data = io.stdin.as_deref().cloned().unwrap_or_default();
    }
    for f in files {
        if f.as_slice() == b"-" {
            data.extend_from_slice(io.stdin.as_deref().map(Vec::as_slice).unwrap_or_default());
            continue;
        }
        match sh.read_file(&cwd, f) {
            Ok(d) => data.extend_from_slice(&d),
            Err(e) => {
                err(sh, io, "cat", &quoted(f, e)).await;
                status = 1;
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 4);
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        out.extend_from_slice(format!("{:6}\t", i + 1).as_bytes());
        out.extend_from_slice(line);
    }
    sh.write(&io.stdout, &out).await;
    status
}

async fn stream(sh: &mut Sh, content: &Content, sink: &Sink) {
    const CHUNK: u64 = 16 * 1024;
    let mut off = 0;
    while off < content.len() {
        let chunk = content.slice(off, CHUNK);
        sh.write(sink, &chunk).await;
        off += CHUNK;
    }
}

async fn cp(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.len() < 2 {
        return usage(sh, "cp", io).await;
    }
    let (sources, dest) = ops.split_at(ops.len() - 1);
    let dest = dest.first().cloned().unwrap_or_default();
    let cwd = sh.cwd.clone();
    let dest_is_dir = sh
        .vfs
        .lookup(&cwd, &dest, true)
        .is_ok_and(|(_, n)| n.is_dir());
    let mut status = 0;
    let now = sh.now_secs();
    for src in sources {
        let node = match sh.vfs.lookup(&cwd, src, true) {
            Ok((_, n)) => n.clone(),
            Err(e) => {
                err(
                    sh,
                    io,
                    "cp",
                    format!("can't stat {}", String::from_utf8_lossy(&quoted(src, e))).as_bytes(),
                )
                .await;
                status = 1;
                continue;
            }
        };
        if node.is_dir() {
            let mut m = b"omitting directory '".to_vec();
            m.extend_from_slice(src);
            m.push(b'\'');
            err(sh, io, "cp", &m).await;
            status = 1;
            continue;
        }
        let target = if dest_is_dir {
            [&dest[..], b"/", base_name(src)].concat()
        } else {
            dest.clone()
        };
        let node = match node {
            Node::File(meta, Content::Proc(kind)) => {
                let bytes = super::procfs::generate(sh, kind);
                Node::File(Meta { mtime: now, ..meta }, Content::Bytes(Arc::new(bytes)))
            }
            Node::File(meta, c) => {
                // An existing target keeps its mode, as cp does.
                let mode = match sh.vfs.lookup(&cwd, &target, true) {
                    Ok((_, Node::File(m, _))) => m.mode,
                    _ => meta.mode,
                };
                Node::File(
                    Meta {
                        mode,
                        mtime: now,
                        ..meta
                    },
                    c,
                )
            }
            other => other,
        };
        if let Err(e) = sh.vfs.place(&cwd, &target, node, true) {
            err(
                sh,
                io,
                "cp",
                format!(
                    "can't create {}",
                    String::from_utf8_lossy(&quoted(&target, e))
                )
                .as_bytes(),
            )
            .await;
            status = 1;
        }
    }
    status
}

async fn mv(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.len() < 2 {
        return usage(sh, "mv", io).await;
    }
    let (sources, dest) = ops.split_at(ops.len() - 1);
    let dest = dest.first().cloned().unwrap_or_default();
    let cwd = sh.cwd.clone();
    let dest_is_dir = sh
        .vfs
        .lookup(&cwd, &dest, true)
        .is_ok_and(|(_, n)| n.is_dir());
    let mut status = 0;
    for src in sources {
        let node = match sh.vfs.lookup(&cwd, src, false) {
            Ok((_, n)) => n.clone(),
            Err(e) => {
                err(
                    sh,
                    io,
                    "mv",
                    format!("can't rename {}", String::from_utf8_lossy(&quoted(src, e))).as_bytes(),
                )
                .await;
                status = 1;
                continue;
            }
        };
        let target = if dest_is_dir {
            [&dest[..], b"/", base_name(src)].concat()
        } else {
            dest.clone()
        };
        let placed = if node.is_dir() {
            Err(Errno::Busy)
        } else {
            sh.vfs.place(&cwd, &target, node, false)
        };
        match placed.and_then(|_| sh.vfs.unlink(&cwd, src)) {
            Ok(()) => {}
            Err(e) => {
                err(
                    sh,
                    io,
                    "mv",
                    format!("can't rename {}", String::from_utf8_lossy(&quoted(src, e))).as_bytes(),
                )
                .await;
                status = 1;
            }
        }
    }
    status
}

async fn rm(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, ops) = options(argv);
    let force = flags.contains(&b'f');
    let recursive = flags.iter().any(|f| matches!(f, b'r' | b'R'));
    if ops.is_empty() {
        return if force { 0 } else { usage(sh, "rm", io).await };
    }
    let mut status = 0;
    let cwd = sh.cwd.clone();
    for op in ops {
        match sh.vfs.lookup(&cwd, &op, false) {
            Ok((canonical, node)) if node.is_dir() => {
                if !recursive {
                    let mut m = b"'".to_vec();
                    m.extend_from_slice(&op);
                    m.extend_from_slice(b"' is a directory");
                    err(sh, io, "rm", &m).await;
                    status = 1;
                    continue;
                }
                if let Err(e) = remove_tree(sh, &canonical) {
                    err(
                        sh,
                        io,
                        "rm",
                        format!("can't remove {}", String::from_utf8_lossy(&quoted(&op, e)))
                            .as_bytes(),
                    )
                    .await;
                    status = 1;
                }
            }
            Ok(_) => {
                if let Err(e) = sh.vfs.unlink(&cwd, &op) {
                    err(
                        sh,
                        io,
                        "rm",
                        format!("can't remove {}", String::from_utf8_lossy(&quoted(&op, e)))
                            .as_bytes(),
                    )
                    .await;
                    status = 1;
                }
            }
            Err(e) => {
                if !force {
                    err(
                        sh,
                        io,
                        "rm",
                        format!("can't remove {}", String::from_utf8_lossy(&quoted(&op, e)))
                            .as_bytes(),
                    )
                    .await;
                    status = 1;
                }
            }
        }
    }
    status
}

fn remove_tree(sh: &mut Sh, dir: &[u8]) -> Result<(), Errno> {
    let mut stack = vec![(dir.to_vec(), false)];
    let mut budget = 100_000;
    while let Some((path, visited)) = stack.pop() {
        budget -= 1;
        if budget == 0 {
            return Err(Errno::Busy);
        }
        let is_dir = sh
            .vfs
            .lookup(b"/", &path, false)
            .is_ok_and(|(_, n)| n.is_dir());
        if !is_dir {
            sh.vfs.unlink(b"/", &path)?;
        } else if visited {
            sh.vfs.rmdir(b"/", &path)?;
        } else {
            stack.push((path.clone(), true));
            for name in sh.vfs.list(&path) {
                stack.push(([&path[..], b"/", &name[..]].concat(), false));
            }
        }
    }
    Ok(())
}

async fn mkdir(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, ops) = options(argv);
    if ops.is_empty() {
        return usage(sh, "mkdir", io).await;
    }
    let parents = flags.contains(&b'p');
    let now = sh.now_secs();
    let cwd = sh.cwd.clone();
    let mut status = 0;
    for op in ops {
        let result = if parents {
            let abs = sh.abs(&op);
            let mut path = Vec::new();
            let mut r = Ok(());
            for comp in abs.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
                path.push(b'/');
                path.extend_from_slice(comp);
                if sh
                    .vfs
                    .lookup(b"/", &path, true)
                    .is_ok_and(|(_, n)| n.is_dir())
                {
                    continue;
                }
                r = sh.vfs.mkdir(b"/", &path, now);
                if r.is_err() {
                    break;
                }
            }
            r
        } else {
            sh.vfs.mkdir(&cwd, &op, now)
        };
        if let Err(e) = result {
            err(
                sh,
                io,
                "mkdir",
                format!(
                    "can't create directory {}",
                    String::from_utf8_lossy(&quoted(&op, e))
                )
                .as_bytes(),
            )
            .await;
            status = 1;
        }
    }
    status
}

async fn rmdir(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.is_empty() {
        return usage(sh, "rmdir", io).await;
    }
    let cwd = sh.cwd.clone();
    let mut status = 0;
    for op in ops {
        if let Err(e) = sh.vfs.rmdir(&cwd, &op) {
            err(sh, io, "rmdir", &quoted(&op, e)).await;
            status = 1;
        }
    }
    status
}

async fn touch(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.is_empty() {
        return usage(sh, "touch", io).await;
    }
    let cwd = sh.cwd.clone();
    let now = sh.now_secs();
    let mut status = 0;
    for op in ops {
        let exists = sh.vfs.lookup(&cwd, &op, true).is_ok();
        let r = if exists {
            sh.vfs.chmod(&cwd, &op, |m| m).map(|_| ())
        } else {
            sh.vfs.write(&cwd, &op, b"", true, now).map(|_| ())
        };
        if let Err(e) = r {
            err(sh, io, "touch", &plain(&op, e)).await;
            status = 1;
        }
    }
    status
}

/// Parses `755` or `u+x,go-w`-style modes into a function of the old mode.
fn parse_mode(spec: &[u8]) -> Option<impl Fn(u32) -> u32> {
    let text = std::str::from_utf8(spec).ok()?;
    let octal = if text.bytes().all(|b| (b'0'..=b'7').contains(&b)) && !text.is_empty() {
        Some(u32::from_str_radix(text, 8).ok()? & 0o7777)
    } else {
        None
    };
    let mut clauses = Vec::new();
    if octal.is_none() {
        for clause in text.split(',') {
            let who_end = clause.find(['+', '-', '='])?;
            let (who, rest) = clause.split_at(who_end);
            if !who.chars().all(|c| "ugoa".contains(c)) {
                return None;
            }
            let op = rest.chars().next()?;
            let perms = rest.get(1..)?;
            if !perms.chars().all(|c| "rwxXst".contains(c)) {
                return None;
            }
            let mut mask = 0u32;
            let who = if who.is_empty() { "a" } else { who };
            for w in who.chars() {
                let shift: &[u32] = match w {
                    'u' => &[6],
                    'g' => &[3],
                    'o' => &[0],
                    _ => &[6, 3, 0],
                };
                for s in shift {
                    for p in perms.chars() {
                        mask |= match p {
                            'r' => 4 << s,
                            'w' => 2 << s,
                            'x' | 'X' => 1 << s,
                            _ => 0,
                        };
                    }
                }
            }
            clauses.push((op, mask));
        }
    }
    Some(move |old: u32| match octal {
        Some(m) => m,
        None => clauses.iter().fold(old, |m, (op, mask)| match op {
            '+' => m | mask,
            '-' => m & !mask,
            _ => (m & !0o777) | mask,
        }),
    })
}

async fn chmod(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let args: Vec<Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !matches!(a.as_slice(), b"-R" | b"-f" | b"-v" | b"-c"))
        .cloned()
        .collect();
    let Some((mode, files)) = args.split_first() else {
        return usage(sh, "chmod", io).await;
    };
    if files.is_empty() {
        return usage(sh, "chmod", io).await;
    }
    let Some(f) = parse_mode(mode) else {
        let mut m = b"invalid mode '".to_vec();
        m.extend_from_slice(mode);
        m.push(b'\'');
        err(sh, io, "chmod", &m).await;
        return 1;
    };
    let cwd = sh.cwd.clone();
    let mut status = 0;
    for file in files {
        if let Err(e) = sh.vfs.chmod(&cwd, file, &f) {
            err(sh, io, "chmod", &plain(file, e)).await;
            status = 1;
        }
    }
    status
}

async fn ln(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, ops) = options(argv);
    let [target, link] = ops.as_slice() else {
        return usage(sh, "ln", io).await;
    };
    let cwd = sh.cwd.clone();
    let force = flags.contains(&b'f');
    if !force && sh.vfs.lookup(&cwd, link, false).is_ok() {
        err(sh, io, "ln", &plain(link, Errno::Exists)).await;
        return 1;
    }
    let node = if flags.contains(&b's') {
        Node::Symlink(
            Meta {
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: sh.now_secs(),
            },
            target.clone(),
        )
    } else {
        match sh.vfs.lookup(&cwd, target, true) {
            Ok((_, n)) => n.clone(),
            Err(e) => {
                err(sh, io, "ln", &plain(target, e)).await;
                return 1;
            }
        }
    };
    match sh.vfs.place(&cwd, link, node, false) {
        Ok(_) => 0,
        Err(e) => {
            err(sh, io, "ln", &plain(link, e)).await;
            1
        }
    }
}

fn parse_size(s: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(s).ok()?;
    let (num, mult) = match text.as_bytes().last()? {
        b'k' | b'K' => (text.get(..text.len() - 1)?, 1024),
        b'M' => (text.get(..text.len() - 1)?, 1024 * 1024),
        b'b' => (text.get(..text.len() - 1)?, 512),
        _ => (text, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

async fn dd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut input = None;
    let mut output = None;
    let mut bs = 512u64;
    let mut count = None;
    let mut skip = 0u64;
    for a in argv.iter().skip(1) {
        let Some(eq) = a.iter().position(|&b| b == b'=') else {
            return usage(sh, "dd", io).await;
        };
        let (k, v) = (
            a.get(..eq).unwrap_or_default(),
            a.get(eq + 1..).unwrap_or_default().to_vec(),
        );
        match k {
            b"if" => input = Some(v),
            b"of" => output = Some(v),
            b"bs" | b"ibs" | b"obs" => match parse_size(&v) {
                Some(n) if n > 0 => bs = n,
                _ => {
                    let mut m = b"invalid number '".to_vec();
                    m.extend_from_slice(&v);
                    m.push(b'\'');
                    err(sh, io, "dd", &m).await;
                    return 1;
                }
            },
            b"count" => count = parse_size(&v),
            b"skip" => skip = parse_size(&v).unwrap_or(0),
            b"conv" | b"status" | b"iflag" | b"oflag" | b"seek" => {}
            _ => return usage(sh, "dd", io).await,
        }
    }
    let cwd = sh.cwd.clone();
    let data: Vec<u8> = match &input {
        Some(path) => match sh.vfs.read(&cwd, path) {
            Ok((_, Node::File(_, content))) if !matches!(content, Content::Proc(_)) => {
                let want = count
                    .map_or(super::exec::MAX_READ, |c| c.saturating_mul(bs))
                    .min(super::exec::MAX_READ);
                content.slice(skip.saturating_mul(bs), want)
            }
            Ok(_) => {
                let all = sh.read_file(&cwd, path).unwrap_or_default();
                all.get((skip.saturating_mul(bs) as usize).min(all.len())..)
                    .unwrap_or_default()
                    .to_vec()
            }
            Err(e) => {
                err(
                    sh,
                    io,
                    "dd",
                    format!("can't open {}", String::from_utf8_lossy(&quoted(path, e))).as_bytes(),
                )
                .await;
                return 1;
            }
        },
        None => {
            let all = io.stdin.as_deref().cloned().unwrap_or_default();
            all.get((skip.saturating_mul(bs) as usize).min(all.len())..)
                .unwrap_or_default()
                .to_vec()
        }
    };
    let data = match count {
        Some(c) => data
            .get(..(c.saturating_mul(bs) as usize).min(data.len()))
            .unwrap_or_default()
            .to_vec(),
        None => data,
    };
    let full = data.len() as u64 / bs;
    let partial = u64::from(data.len() as u64 % bs != 0);
    match &output {
        Some(path) => {
            let now = sh.now_secs();
            let null = matches!(
                sh.vfs.lookup(&cwd, path, true),
                Ok((_, Node::Char(_, SpecialFile::Null)))
            );
            if !null {
                if let Err(e) = sh.vfs.write(&cwd, path, &data, false, now) {
                    err(
                        sh,
                        io,
                        "dd",
                        format!("can't open {}", String::from_utf8_lossy(&quoted(path, e)))
                            .as_bytes(),
                    )
                    .await;
                    return 1;
                }
            }
        }
        None => sh.write(&io.stdout, &data).await,
    }
    let report = format!("{full}+{partial} records in\n{full}+{partial} records out\n");
    sh.write(&io.stderr, report.as_bytes()).await;
    0
}

async fn head(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut bytes = None;
    // Negative: all but the last N lines.
    let mut lines = 10i64;
    let mut files = Vec::new();
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-c" => {
                bytes = argv.get(i + 1).and_then(|v| parse_size(v));
                i += 1;
            }
            b"-n" => {
                lines = argv
                    .get(i + 1)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    .unwrap_or(10);
                i += 1;
            }
            x if x.starts_with(b"-c") => bytes = parse_size(x.get(2..).unwrap_or_default()),
            // The old `head -N` form.
            x if i == 1 && x.len() > 1 && x.iter().skip(1).all(u8::is_ascii_digit) => {
                lines = std::str::from_utf8(x.get(1..).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(10);
            }
            x if x.starts_with(b"-n") => {
                lines = std::str::from_utf8(x.get(2..).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(10)
            }
            _ => files.push(a.clone()),
        }
        i += 1;
    }
    let data = match files.first() {
        Some(f) => {
            let cwd = sh.cwd.clone();
            match sh.read_file(&cwd, f) {
                Ok(d) => d,
                Err(e) => {
                    err(
                        sh,
                        io,
                        "head",
                        format!("can't open {}", String::from_utf8_lossy(&quoted(f, e))).as_bytes(),
                    )
                    .await;
                    return 1;
                }
            }
        }
        None => io.stdin.as_deref().cloned().unwrap_or_default(),
    };
    let out: &[u8] = match bytes {
        Some(n) => data.get(..(n as usize).min(data.len())).unwrap_or_default(),
        None => {
            let all: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
            let keep = if lines < 0 {
                all.len()
                    .saturating_sub(usize::try_from(lines.unsigned_abs()).unwrap_or(usize::MAX))
            } else {
                usize::try_from(lines).unwrap_or(usize::MAX)
            };
            let end: usize = all.iter().take(keep).map(|l| l.len()).sum();
            data.get(..end).unwrap_or_default()
        }
    };
    let out = out.to_vec();
    sh.write(&io.stdout, &out).await;
    0
}

async fn wc(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, files) = options(argv);
    let count = |d: &[u8]| -> [usize; 3] {
        let lines = d.iter().filter(|&&b| b == b'\n').count();
        let words = d
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .count();
        [lines, words, d.len()]
    };
    let all = !flags.iter().any(|f| matches!(f, b'l' | b'w' | b'c'));
    let wanted: Vec<usize> = [(b'l', 0), (b'w', 1), (b'c', 2)]
        .iter()
        .filter(|(f, _)| all || flags.contains(f))
        .map(|(_, i)| *i)
        .collect();
    // BusyBox pads each count to 9 unless there is one count of one input.
    let pad = wanted.len() > 1 || files.len() > 1;
    let render = |counts: [usize; 3], name: Option<&[u8]>| -> Vec<u8> {
        let cols: Vec<String> = wanted
            .iter()
            .map(|&i| {
                let n = counts.get(i).copied().unwrap_or(0);
                if pad {
                    format!("{n:9}")
                } else {
                    n.to_string()
                }
            })
            .collect();
        let mut out = cols.join(" ").into_bytes();
        if let Some(n) = name {
            out.push(b' ');
            out.extend_from_slice(n);
        }
        out.push(b'\n');
        out
    };
    if files.is_empty() {
        let data = io.stdin.as_deref().cloned().unwrap_or_default();
        let out = render(count(&data), None);
        sh.write(&io.stdout, &out).await;
        return 0;
    }
    let cwd = sh.cwd.clone();
    let mut status = 0;
    let mut total = [0usize; 3];
    for f in &files {
        match sh.read_file(&cwd, f) {
            Ok(d) => {
                let c = count(&d);
                for (t, n) in total.iter_mut().zip(c) {
                    *t += n;
                }
                let out = render(c, Some(f));
                sh.write(&io.stdout, &out).await;
            }
            Err(e) => {
                err(sh, io, "wc", &plain(f, e)).await;
                status = 1;
            }
        }
    }
    if files.len() > 1 {
        let out = render(total, Some(b"total"));
        sh.write(&io.stdout, &out).await;
    }
    status
}

async fn ps(sh: &mut Sh, io: &Io) -> i32 {
    let out = super::ps::render(sh);
    sh.write(&io.stdout, &out).await;
    0
}

async fn uname(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
    let p = &sh.device.profile;
    let all = flags.contains(&b'a');
    let mut fields = Vec::new();
    let want = |c: u8| all || flags.contains(&c);
    if want(b's') || flags.is_empty() {
        fields.push("Linux".to_string());
    }
    if want(b'n') {
        fields.push(sh.device.hostname.clone());
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

async fn sleep(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    if argv.len() < 2 {
        return usage(sh, "sleep", io).await;
    }
    let mut total = Duration::ZERO;
    for a in argv.iter().skip(1) {
        let text = String::from_utf8_lossy(a);
        let (num, mult) = match text.chars().last() {
            Some('s') => (&text[..text.len() - 1], 1.0),
            Some('m') => (&text[..text.len() - 1], 60.0),
            Some('h') => (&text[..text.len() - 1], 3600.0),
            Some('d') => (&text[..text.len() - 1], 86400.0),
            _ => (&text[..], 1.0),
        };
        match num.parse::<f64>() {
            Ok(v) if v >= 0.0 && v.is_finite() => {
                total += Duration::from_secs_f64((v * mult).min(1e9))
            }
            _ => {
                err(
                    sh,
                    io,
                    "sleep",
                    format!("invalid number '{text}'").as_bytes(),
                )
                .await;
                return 1;
            }
        }
    }
    let until = sh.now().mono + total;
    sh.block(Wait::Until(until)).await;
    0
}

/// Host, port, path of a URL, and whether the port was written in it.
fn split_url(url: &[u8]) -> Option<(String, u16, String, bool)> {
    let text = String::from_utf8_lossy(url);
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("ftp://"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default = if text.starts_with("ftp://") { 21 } else { 80 };
    let (host, port, explicit) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?, true),
        None => (hostport.to_string(), default, false),
    };
    Some((host, port, path, explicit))
}

async fn wget(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    if !sh
        .device
        .profile
        .download_tools
        .contains(&DownloadTool::Wget)
    {
        // Not reachable: dispatch checks the applet list first.
        return 127;
    }
    let mut url = None;
    let mut out_file: Option<Vec<u8>> = None;
    let mut quiet = false;
    let mut i = 1;
    // getopt32 as BusyBox parses it: bundled flags (`-qO-`), an option's value in the
    // same word or the next, and the long options bots use.
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"--quiet" => quiet = true,
            b"--output-document" => {
                out_file = argv.get(i + 1).cloned();
                i += 1;
            }
            x if x.starts_with(b"--output-document=") => {
                out_file = x.get(18..).map(<[u8]>::to_vec);
            }
            b"--header" | b"--post-data" | b"--post-file" | b"--user-agent" => i += 1,
            x if x.starts_with(b"--") => {}
            x if x.len() > 1 && x.starts_with(b"-") => {
                let mut j = 1;
                while let Some(&c) = x.get(j) {
                    if b"OoPTUYt".contains(&c) {
                        let inline = x.get(j + 1..).unwrap_or_default();
                        let value = if inline.is_empty() {
                            i += 1;
                            argv.get(i).cloned()
                        } else {
                            Some(inline.to_vec())
                        };
                        if c == b'O' {
                            out_file = value;
                        }
                        break;
                    }
                    if c == b'q' {
                        quiet = true;
                    }
                    j += 1;
                }
            }
            _ => url = Some(a.clone()),
        }
        i += 1;
    }
    let Some(url) = url else {
        return usage(sh, "wget", io).await;
    };
    let Some((host, port, path, explicit_port)) = split_url(&url) else {
        let mut m = b"not an http or ftp url: ".to_vec();
        m.extend_from_slice(&url);
        err(sh, io, "wget", &m).await;
        return 1;
    };
    if !quiet {
        let hostport = if explicit_port {
            format!("{host}:{port}")
        } else {
            host.clone()
        };
        let line = format!("Connecting to {hostport} ({host}:{port})\n");
        sh.write(&io.stderr, line.as_bytes()).await;
    }
    let request_url = String::from_utf8_lossy(&url).into_owned();
    let request = FetchRequest {
        tool: "wget",
        url: request_url.clone(),
        password: None,
    };
    match sh.block(Wait::Fetch(request)).await {
        Some(FetchResult::Data(body)) => {
            let name = out_file.unwrap_or_else(|| {
                let base = path.rsplit('/').next().unwrap_or("index.html");
                if base.is_empty() {
                    b"index.html".to_vec()
                } else {
                    base.as_bytes().to_vec()
                }
            });
            if name.as_slice() == b"-" {
                sh.vfs.capture_stream(&body, request_url.clone());
                if !quiet {
                    sh.write(&io.stderr, b"writing to stdout\n").await;
                }
                sh.write(&io.stdout, &body).await;
            } else {
                let cwd = sh.cwd.clone();
                let now = sh.now_secs();
                match sh.vfs.write(&cwd, &name, &body, false, now) {
                    Ok(path) => sh.vfs.set_url(&path, request_url.clone()),
                    Err(e) => {
                        err(
                            sh,
                            io,
                            "wget",
                            format!("can't open {}", String::from_utf8_lossy(&quoted(&name, e)))
                                .as_bytes(),
                        )
                        .await;
                        return 1;
                    }
                }
                if !quiet {
                    let mut m = b"saving to '".to_vec();
                    m.extend_from_slice(&name);
                    m.extend_from_slice(b"'\n");
                    sh.write(&io.stderr, &m).await;
                }
            }
            0
        }
        _ => {
            let line = format!("wget: can't connect to remote host ({host}): Connection refused\n");
            sh.write(&io.stderr, line.as_bytes()).await;
            1
        }
    }
}

async fn tftp(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    // BusyBox accepts the old `-c get FILE` / `-c put FILE` syntax (Gafgyt uses it).
    let mut argv = argv.to_vec();
    let mut k = 1;
    while k + 1 < argv.len() {
        if argv
            .get(k)
            .is_some_and(|a| a.first() == Some(&b'-') && a.contains(&b'c'))
        {
            let word = argv.get(k + 1).cloned().unwrap_or_default();
            let replacement: Option<&[u8]> = match word.as_slice() {
                b"get" => Some(b"-g"),
                b"put" => Some(b"-p"),
                _ => None,
            };
            if let Some(flag) = replacement {
                if let Some(a) = argv.get_mut(k) {
                    *a = flag.to_vec();
                }
                if let Some(a) = argv.get_mut(k + 1) {
                    *a = b"-r".to_vec();
                }
            }
            break;
        }
        k += 1;
    }
    let argv = &argv[..];
    let mut local = None;
    let mut remote = None;
    let mut get = false;
    let mut host = None;
    let mut port = 69u16;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-l" => {
                local = argv.get(i + 1).cloned();
                i += 1;
            }
            b"-r" => {
                remote = argv.get(i + 1).cloned();
                i += 1;
            }
            b"-g" => get = true,
            b"-p" => {}
            b"-b" => i += 1,
            x if x.starts_with(b"-") => {
                err(
                    sh,
                    io,
                    "tftp",
                    format!(
                        "invalid option -- '{}'",
                        String::from_utf8_lossy(x.get(1..2).unwrap_or_default())
                    )
                    .as_bytes(),
                )
                .await;
                return usage(sh, "tftp", io).await;
            }
            _ => {
                if host.is_none() {
                    host = Some(a.clone());
                } else {
                    port = std::str::from_utf8(a)
                        .ok()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(69);
                }
            }
        }
        i += 1;
    }
    let (Some(host), true) = (host, get || local.is_some() || remote.is_some()) else {
        return usage(sh, "tftp", io).await;
    };
    let remote = remote.or_else(|| local.clone()).unwrap_or_default();
    let local = local.unwrap_or_else(|| base_name(&remote).to_vec());
    let url = format!(
        "tftp://{}:{port}/{}",
        String::from_utf8_lossy(&host),
        String::from_utf8_lossy(&remote)
    );
    let started = sh.now().mono;
    match sh
        .block(Wait::Fetch(FetchRequest {
            tool: "tftp",
            url: url.clone(),
            password: None,
        }))
        .await
    {
        Some(FetchResult::Data(body)) => save_download(sh, io, "tftp", &local, &body, url).await,
        _ => {
            // BusyBox's tftp never hears an ICMP error (its socket is not
            // connected): it retransmits until it gives up, 12.9 s after it began.
            let give_up = sh.config.tftp_give_up;
            sh.block(Wait::Until(started + give_up)).await;
            sh.write(&io.stderr, b"tftp: timeout\n").await;
            1
        }
    }
}

/// Writes a downloaded `body` to `name` in the working directory, remembering its
/// URL for the capture; the tool's status.
async fn save_download(
    sh: &mut Sh,
    io: &Io,
    tool: &str,
    name: &[u8],
    body: &[u8],
    url: String,
) -> i32 {
    let cwd = sh.cwd.clone();
    let now = sh.now_secs();
    match sh.vfs.write(&cwd, name, body, false, now) {
        Ok(path) => {
            sh.vfs.set_url(&path, url);
            0
        }
        Err(e) => {
            err(sh, io, tool, &plain(name, e)).await;
            1
        }
    }
}

async fn ftpget(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut ops = Vec::new();
    let mut port = 21u16;
    let mut user = b"anonymous".to_vec();
    // BusyBox has one "anonymous" literal: the default password is the user name's.
    let mut password = b"anonymous".to_vec();
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-u" | b"--username" => {
                user = argv.get(i + 1).cloned().unwrap_or_default();
                i += 1;
            }
            b"-p" | b"--password" => {
                password = argv.get(i + 1).cloned().unwrap_or_default();
                i += 1;
            }
            b"-P" | b"--port" => {
                port = argv
                    .get(i + 1)
                    .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok())
                    .unwrap_or(21);
                i += 1;
            }
            x if x.starts_with(b"-") => {}
            _ => ops.push(a.clone()),
        }
        i += 1;
    }
    let (host, local, remote) = match ops.as_slice() {
        [h, r] => (h.clone(), r.clone(), r.clone()),
        [h, l, r, ..] => (h.clone(), l.clone(), r.clone()),
        _ => return usage(sh, "ftpget", io).await,
    };
    let host = String::from_utf8_lossy(&host).into_owned();
    let line = format!("Connecting to {host} ({host}:{port})\n");
    sh.write(&io.stderr, line.as_bytes()).await;
    let url = format!(
        "ftp://{}@{host}:{port}/{}",
        String::from_utf8_lossy(&user),
        String::from_utf8_lossy(&remote).trim_start_matches('/')
    );
    match sh
        .block(Wait::Fetch(FetchRequest {
            tool: "ftpget",
            url: url.clone(),
            password: Some(String::from_utf8_lossy(&password).into_owned()),
        }))
        .await
    {
        Some(FetchResult::Data(body)) => save_download(sh, io, "ftpget", &local, &body, url).await,
        _ => {
            let line =
                format!("ftpget: can't connect to remote host ({host}): Connection refused\n");
            sh.write(&io.stderr, line.as_bytes()).await;
            1
        }
    }
}

/// `nc HOST PORT`: bots use it to pull files (`nc host port > file`).
async fn nc(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let ops: Vec<&Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .collect();
    let [host, port, ..] = ops.as_slice() else {
        return usage(sh, "nc", io).await;
    };
    let host = String::from_utf8_lossy(host).into_owned();
    let port = String::from_utf8_lossy(port).into_owned();
    let url = format!("tcp://{host}:{port}");
    match sh
        .block(Wait::Fetch(FetchRequest {
            tool: "nc",
            url,
            password: None,
        }))
        .await
    {
        Some(FetchResult::Data(body)) => {
            sh.write(&io.stdout, &body).await;
            0
        }
        _ => {
            let line = format!("nc: can't connect to remote host ({host}): Connection refused\n");
            sh.write(&io.stderr, line.as_bytes()).await;
            1
        }
    }
}
