//! The long tail of applets bots and honeypot hunters run: `xxd`, `find`, `date`,
//! `crontab`, `passwd`, and the system views (`ifconfig`, `route`, `netstat`, `ip`,
//! `dmesg`, `lsmod`, `top`) drawn from the profile so that they agree with each other,
//! with `/proc` and with the connection the attacker is on.
//!
//! Output formats are BusyBox 1.35's; where the oracle's output does not depend on
//! its host (xxd, find, date, crontab, passwd) the fidelity corpus compares them byte
//! for byte.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::exec::{Io, Run, Sh};
use crate::vfs::Node;

/// Paths `find` reports at most (a bound on one command's work and output).
const MAX_FIND_RESULTS: usize = 10_000;
/// Directory depth `find` descends at most.
const MAX_FIND_DEPTH: usize = 64;
/// Bytes `xxd -r` decodes at most.
const MAX_XXD_REVERSE: usize = 1 << 20;

/// Where busybox crontab keeps the tables.
const CRONTAB_DIR: &[u8] = b"/var/spool/cron/crontabs";

/// Runs one of these applets; an applet the profile lists but nothing emulates
/// succeeds silently.
pub async fn run(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> Run {
    Ok(match name {
        "xxd" => xxd(sh, argv, io).await,
        "find" => return find(sh, argv, io).await,
        "date" => date(sh, argv, io).await,
        "crontab" => crontab(sh, argv, io).await,
        "passwd" => passwd(sh, argv, io).await,
        "ifconfig" => ifconfig(sh, argv, io).await,
        "route" => {
            let numeric = argv
                .iter()
                .skip(1)
                .any(|a| a.starts_with(b"-") && a.contains(&b'n'));
            let out = route_table(sh, numeric);
            sh.write(&io.stdout, out.as_bytes()).await;
            0
        }
        "netstat" => netstat(sh, argv, io).await,
        "ip" => ip(sh, argv, io).await,
        "dmesg" => {
            let out = dmesg(sh);
            sh.write(&io.stdout, out.as_bytes()).await;
            0
        }
        "lsmod" => {
            sh.write(
                &io.stdout,
                b"Module                  Size  Used by    Not tainted\n",
            )
            .await;
            0
        }
        "top" => {
            let out = super::ps::top(sh);
            sh.write(&io.stdout, &out).await;
            0
        }
        _ => 0,
    })
}

async fn error_line(sh: &mut Sh, io: &Io, applet: &str, msg: &[u8]) {
    let mut line = applet.as_bytes().to_vec();
    line.extend_from_slice(b": ");
    line.extend_from_slice(msg);
    line.push(b'\n');
    sh.write(&io.stderr, &line).await;
}

/// `applet: invalid option -- 'X'` and the usage text, status 1.
async fn invalid_option(sh: &mut Sh, io: &Io, applet: &str, option: u8) -> i32 {
    let msg = format!("invalid option -- '{}'", char::from(option));
    error_line(sh, io, applet, msg.as_bytes()).await;
    super::applets::usage(sh, applet, io).await
}

/// Options of the `-abc -n VALUE -nVALUE` kind: the flags seen, values by flag, the
/// operands, or the first unknown option.
struct Parsed {
    flags: Vec<u8>,
    values: Vec<(u8, Vec<u8>)>,
    operands: Vec<Vec<u8>>,
}

impl Parsed {
    fn value(&self, flag: u8) -> Option<&[u8]> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v.as_slice())
    }

    fn number(&self, flag: u8) -> Option<u64> {
        let v = std::str::from_utf8(self.value(flag)?).ok()?;
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    }
}

fn parse_options(argv: &[Vec<u8>], flags: &[u8], with_value: &[u8]) -> Result<Parsed, u8> {
    let (opts, operands) = super::text::args(argv, with_value);
    if let Some((unknown, _)) = opts
        .iter()
        .find(|(f, _)| !flags.contains(f) && !with_value.contains(f))
    {
        return Err(*unknown);
    }
    let (values, plain): (Vec<_>, Vec<_>) =
        opts.into_iter().partition(|(f, _)| with_value.contains(f));
    Ok(Parsed {
        flags: plain.into_iter().map(|(f, _)| f).collect(),
        values,
        operands,
    })
}

/// The input of a one-file applet: FILE, or stdin; `Err` after the message.
async fn one_input(sh: &mut Sh, io: &Io, applet: &str, file: Option<&Vec<u8>>) -> Option<Vec<u8>> {
    match file {
        None => Some(io.stdin.as_deref().cloned().unwrap_or_default()),
        Some(f) if f.as_slice() == b"-" => Some(io.stdin.as_deref().cloned().unwrap_or_default()),
        Some(f) => {
            let cwd = sh.cwd.clone();
            match sh.read_file(&cwd, f) {
                Ok(d) => Some(d),
                Err(e) => {
                    let mut m = f.clone();
                    m.extend_from_slice(format!(": {e}").as_bytes());
                    error_line(sh, io, applet, &m).await;
                    None
                }
            }
        }
    }
}

async fn xxd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"pri", b"gcnlso") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "xxd", f).await,
    };
    let Some(data) = one_input(sh, io, "xxd", parsed.operands.first()).await else {
        return 1;
    };
    let plain = parsed.flags.contains(&b'p');
    if parsed.flags.contains(&b'r') {
        let out = xxd_reverse(&data, plain);
        sh.write(&io.stdout, &out).await;
        return 0;
    }
    let skip = parsed.number(b's').unwrap_or(0) as usize;
    let data = data.get(skip.min(data.len())..).unwrap_or_default();
    let data = match parsed.number(b'l') {
        Some(n) => data.get(..(n as usize).min(data.len())).unwrap_or(data),
        None => data,
    };
    let out = if parsed.flags.contains(&b'i') {
        let name = parsed.operands.first().map(|f| c_identifier(f));
        xxd_include(data, name.as_deref())
    } else if plain {
        let cols = parsed.number(b'c').map_or(30, |c| c.clamp(1, 256) as usize);
        let mut out = String::new();
        for chunk in data.chunks(cols) {
            out.push_str(&hex::encode(chunk));
            out.push('\n');
        }
        out
    } else {
        let cols = parsed.number(b'c').map_or(16, |c| c.clamp(1, 256) as usize);
        let group = parsed.number(b'g').map_or(2, |g| g.clamp(1, 256) as usize);
        let offset = parsed.number(b'o').unwrap_or(0).wrapping_add(skip as u64);
        xxd_dump(data, cols, group, offset)
    };
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

fn xxd_dump(data: &[u8], cols: usize, group: usize, offset: u64) -> String {
    // A full line's hex part, so that the text column lines up on the last one.
    let hex_width = cols * 2 + cols.div_ceil(group);
    let mut out = String::new();
    for (n, chunk) in data.chunks(cols).enumerate() {
        let _ = write!(out, "{:08x}: ", offset.wrapping_add((n * cols) as u64));
        let mut hex = String::new();
        for (i, b) in chunk.iter().enumerate() {
            let _ = write!(hex, "{b:02x}");
            if (i + 1) % group == 0 {
                hex.push(' ');
            }
        }
        let _ = write!(out, "{hex:<hex_width$} ");
        for &b in chunk {
            out.push(if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            });
        }
        out.push('\n');
    }
    out
}

/// `xxd -i`'s variable name: the file name with every other character as `_`.
fn c_identifier(file: &[u8]) -> String {
    file.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

fn xxd_include(data: &[u8], name: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(name) = name {
        let _ = writeln!(out, "unsigned char {name}[] = {{");
    }
    for chunk in data.chunks(12) {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("0x{b:02x}")).collect();
        let _ = writeln!(out, "  {},", bytes.join(", "));
    }
    if let Some(name) = name {
        let _ = writeln!(out, "}};\nunsigned int {name}_len = {};", data.len());
    }
    out
}

fn xxd_reverse(data: &[u8], plain: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        // Without -p, each line is `offset: hex  text`; only the hex part counts.
        let hex_part = if plain {
            line
        } else {
            let after = line
                .iter()
                .position(|&b| b == b':')
                .map_or(line, |p| line.get(p + 1..).unwrap_or_default());
            let end = after
                .windows(2)
                .position(|w| w == b"  ")
                .unwrap_or(after.len());
            after.get(..end).unwrap_or(after)
        };
        let digits: Vec<u8> = hex_part
            .iter()
            .copied()
            .filter(u8::is_ascii_hexdigit)
            .collect();
        for pair in digits.chunks_exact(2) {
            if out.len() >= MAX_XXD_REVERSE {
                return out;
            }
            if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(pair), 16) {
                out.push(b);
            }
        }
    }
    out
}

/// One `find` test or action.
enum Primary {
    Name(Vec<u8>, bool),
    Path(Vec<u8>),
    Type(u8),
    Not(Box<Primary>),
    Print,
    Exec(Vec<Vec<u8>>, bool),
}

async fn find(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
    let mut i = 1;
    let mut roots = Vec::new();
    while let Some(a) = argv.get(i) {
        if a.starts_with(b"-") || a.as_slice() == b"!" || a.as_slice() == b"(" {
            break;
        }
        roots.push(a.clone());
        i += 1;
    }
    if roots.is_empty() {
        roots.push(b".".to_vec());
    }
    let mut primaries = Vec::new();
    let (mut max_depth, mut min_depth) = (MAX_FIND_DEPTH, 0);
    let mut negate = false;
    while let Some(a) = argv.get(i) {
        i += 1;
        let value = argv.get(i).cloned();
        let primary = match a.as_slice() {
            b"!" | b"-not" => {
                negate = !negate;
                continue;
            }
            b"-a" | b"-and" | b"-follow" | b"-xdev" | b"-depth" => continue,
            b"-maxdepth" | b"-mindepth" => {
                let n = value
                    .as_deref()
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
                i += 1;
                let Some(n) = n else {
                    return Ok(find_usage(sh, io, a).await);
                };
                if a.as_slice() == b"-maxdepth" {
                    max_depth = n.min(MAX_FIND_DEPTH);
                } else {
                    min_depth = n;
                }
                continue;
            }
            b"-name" | b"-iname" | b"-path" | b"-type" => {
                let Some(v) = value else {
                    let msg = [b"missing argument to '", a.as_slice(), b"'"].concat();
                    error_line(sh, io, "find", &msg).await;
                    return Ok(1);
                };
                i += 1;
                match a.as_slice() {
                    b"-name" => Primary::Name(v, false),
                    b"-iname" => Primary::Name(v, true),
                    b"-path" => Primary::Path(v),
                    _ => match v.as_slice() {
                        [t @ (b'f' | b'd' | b'l' | b'c' | b'b' | b'p' | b's')] => Primary::Type(*t),
                        _ => {
                            let msg = [b"unrecognized: ", v.as_slice()].concat();
                            error_line(sh, io, "find", &msg).await;
                            return Ok(super::applets::usage(sh, "find", io).await);
                        }
                    },
                }
            }
            b"-print" => Primary::Print,
            b"-exec" => {
                let mut command = Vec::new();
                let mut batch = false;
                let mut terminated = false;
                while let Some(w) = argv.get(i) {
                    i += 1;
                    if w.as_slice() == b";" {
                        terminated = true;
                        break;
                    }
                    if w.as_slice() == b"+" && command.last().is_some_and(|l: &Vec<u8>| l == b"{}")
                    {
                        batch = true;
                        terminated = true;
                        break;
                    }
                    command.push(w.clone());
                }
                if !terminated || command.is_empty() {
                    error_line(sh, io, "find", b"-exec CMD must end by ';' or '+'").await;
                    return Ok(1);
                }
                Primary::Exec(command, batch)
            }
            _ => return Ok(find_usage(sh, io, a).await),
        };
        primaries.push(if std::mem::take(&mut negate) {
            Primary::Not(Box::new(primary))
        } else {
            primary
        });
    }
    let acts = primaries
        .iter()
        .any(|p| matches!(p, Primary::Print | Primary::Exec(..)));
    let cwd = sh.cwd.clone();
    let mut status = 0;
    let mut batched: Vec<Vec<u8>> = Vec::new();
    let mut found = 0usize;
    for root in roots {
        let Ok((canonical, _)) = sh.vfs.lookup(&cwd, &root, true) else {
            let msg = [root.as_slice(), b": No such file or directory"].concat();
            error_line(sh, io, "find", &msg).await;
            status = 1;
            continue;
        };
        // Depth-first, a directory before its entries (BusyBox without -depth).
        let mut stack = vec![(root.clone(), canonical, 0usize)];
        while let Some((shown, real, depth)) = stack.pop() {
            sh.step().await?;
            found += 1;
            if found > MAX_FIND_RESULTS {
                return Ok(status);
            }
            // Only the node's type matters here (no copy of a file's content).
            let Ok((_, node)) = sh.vfs.lookup(b"/", &real, false) else {
                continue;
            };
            let kind = node.type_char();
            if depth >= min_depth {
                let mut matched = true;
                for p in &primaries {
                    if !matched {
                        break;
                    }
                    matched = match p {
                        Primary::Exec(command, false) => {
                            let line: Vec<Vec<u8>> =
                                command.iter().map(|w| replace_braces(w, &shown)).collect();
                            let run_io = Io {
                                stdin: None,
                                stdout: io.stdout.clone(),
                                stderr: io.stderr.clone(),
                                high: io.high.clone(),
                            };
                            Box::pin(sh.dispatch(line, &run_io)).await? == 0
                        }
                        Primary::Exec(_, true) => {
                            batched.push(shown.clone());
                            true
                        }
                        Primary::Print => {
                            let mut line = shown.clone();
                            line.push(b'\n');
                            sh.write(&io.stdout, &line).await;
                            true
                        }
                        test => find_test(test, &shown, kind),
                    };
                }
                if matched && !acts {
                    let mut line = shown.clone();
                    line.push(b'\n');
                    sh.write(&io.stdout, &line).await;
                }
            }
            if kind == 'd' && depth < max_depth {
                let names = sh.vfs.list(&real);
                for name in names.into_iter().rev() {
                    let child_shown = join(&shown, &name);
                    let child_real = join(&real, &name);
                    stack.push((child_shown, child_real, depth + 1));
                }
            }
        }
    }
    if let Some(Primary::Exec(command, true)) = primaries
        .iter()
        .find(|p| matches!(p, Primary::Exec(_, true)))
    {
        if !batched.is_empty() {
            let mut line: Vec<Vec<u8>> = command
                .iter()
                .take(command.len().saturating_sub(1))
                .cloned()
                .collect();
            line.extend(batched);
            let run_io = Io {
                stdin: None,
                stdout: io.stdout.clone(),
                stderr: io.stderr.clone(),
                high: io.high.clone(),
            };
            if Box::pin(sh.dispatch(line, &run_io)).await? != 0 {
                status = 1;
            }
        }
    }
    Ok(status)
}

async fn find_usage(sh: &mut Sh, io: &Io, primary: &[u8]) -> i32 {
    let msg = [b"unrecognized: ", primary].concat();
    error_line(sh, io, "find", &msg).await;
    super::applets::usage(sh, "find", io).await
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn replace_braces(word: &[u8], path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while let Some(&b) = word.get(i) {
        if word.get(i..i + 2) == Some(b"{}") {
            out.extend_from_slice(path);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

fn find_test(primary: &Primary, shown: &[u8], kind: char) -> bool {
    match primary {
        Primary::Name(pattern, fold) => {
            let name = crate::vfs::base_name(shown);
            if *fold {
                super::glob::matches(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase())
            } else {
                super::glob::matches(pattern, name)
            }
        }
        Primary::Path(pattern) => super::glob::matches(pattern, shown),
        Primary::Type(t) => kind as u8 == if *t == b'f' { b'-' } else { *t },
        Primary::Not(inner) => !find_test(inner, shown, kind),
        Primary::Print | Primary::Exec(..) => true,
    }
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

async fn date(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
                error_line(sh, io, "date", &msg).await;
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

async fn crontab(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"ler", b"uc") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "crontab", f).await,
    };
    let list = parsed.flags.contains(&b'l');
    let remove = parsed.flags.contains(&b'r');
    if !list && !remove && parsed.operands.is_empty() {
        return super::applets::usage(sh, "crontab", io).await;
    }
    let dir = parsed
        .value(b'c')
        .map_or(CRONTAB_DIR.to_vec(), <[u8]>::to_vec);
    let user = parsed.value(b'u').map_or(b"root".to_vec(), <[u8]>::to_vec);
    let cwd = sh.cwd.clone();
    if !matches!(sh.vfs.lookup(&cwd, &dir, true), Ok((_, Node::Dir(_)))) {
        let msg = [
            b"can't change directory to '",
            dir.as_slice(),
            b"': No such file or directory",
        ]
        .concat();
        error_line(sh, io, "crontab", &msg).await;
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
                error_line(sh, io, "crontab", &msg).await;
                1
            }
        };
    }
    if remove {
        let _ = sh.vfs.unlink(&cwd, &table);
    } else {
        let Some(content) = one_input(sh, io, "crontab", parsed.operands.first()).await else {
            return 1;
        };
        if let Err(e) = sh.vfs.write(&cwd, &table, &content, false, now) {
            let msg = [table.as_slice(), format!(": {e}").as_bytes()].concat();
            error_line(sh, io, "crontab", &msg).await;
            return 1;
        }
    }
    // crond rereads the tables named in cron.update.
    let mut note = user.clone();
    note.push(b'\n');
    let _ = sh
        .vfs
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

async fn passwd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"lud", b"a") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "passwd", f).await,
    };
    let user = parsed.operands.first().cloned().unwrap_or(b"root".to_vec());
    let user_text = String::from_utf8_lossy(&user).into_owned();
    if parsed.flags.iter().any(|f| b"lud".contains(f)) {
        let msg = format!("passwd: password for {user_text} changed by root\n");
        sh.write(&io.stdout, msg.as_bytes()).await;
        return 0;
    }
    let input = io.stdin.as_deref().cloned().unwrap_or_default();
    let mut lines = input.split(|&b| b == b'\n');
    let mut out = format!("Changing password for {user_text}\nNew password: \n").into_bytes();
    let unchanged = format!("passwd: password for {user_text} is unchanged\n");
    let Some(first) = lines.next().filter(|_| !input.is_empty()) else {
        out.extend_from_slice(unchanged.as_bytes());
        sh.write(&io.stdout, &out).await;
        return 1;
    };
    if let Some(why) = weakness(first, &user, sh.device.hostname.as_bytes()) {
        out.extend_from_slice(format!("Bad password: {why}\n").as_bytes());
    }
    out.extend_from_slice(b"Retype password: \n");
    let second = lines.next();
    if second != Some(first) {
        if second.is_some() {
            out.extend_from_slice(b"Passwords don't match\n");
        }
        out.extend_from_slice(unchanged.as_bytes());
        sh.write(&io.stdout, &out).await;
        return 1;
    }
    out.extend_from_slice(format!("passwd: password for {user_text} changed by root\n").as_bytes());
    sh.write(&io.stdout, &out).await;
    0
}

/// The device's LAN address: a private one behind the router that forwards the
/// telnet port, fixed per sensor (derived from its MAC).
pub fn lan_address(sh: &Sh) -> Ipv4Addr {
    let last = sh.device.mac.last().copied().unwrap_or(0);
    Ipv4Addr::new(192, 168, 1, 100 + last % 100)
}

fn gateway(sh: &Sh) -> Ipv4Addr {
    let [a, b, c, _] = lan_address(sh).octets();
    Ipv4Addr::new(a, b, c, 1)
}

/// Traffic counters that grow with uptime, so two looks differ as on a live device.
fn counters(sh: &Sh, per_second: u64) -> u64 {
    let up = super::procfs::uptime_secs(sh) as u64;
    up.saturating_mul(per_second)
}

/// `print_bytes_scaled()`: `1234 (1.2 KiB)`.
fn scaled(bytes: u64) -> String {
    let units = ["", "Ki", "Mi", "Gi", "Ti"];
    let mut int_part = bytes;
    let mut frac = 0;
    let mut unit = 0;
    for _ in 0..4 {
        if int_part >= 1024 {
            frac = ((int_part & 1023) * 10) / 1024;
            int_part /= 1024;
            unit += 1;
        }
    }
    format!(
        "{bytes} ({int_part}.{frac} {}B)",
        units.get(unit).copied().unwrap_or("")
    )
}

fn ifconfig_block(sh: &Sh, name: &str) -> Option<String> {
    let mut out = String::new();
    match name {
        "eth0" => {
            let mac: Vec<String> = sh.device.mac.iter().map(|b| format!("{b:02X}")).collect();
            let ip = lan_address(sh);
            let [a, b, c, _] = ip.octets();
            let (rx, tx) = (counters(sh, 3), counters(sh, 2));
            let _ = write!(
                out,
                "eth0      Link encap:Ethernet  HWaddr {}  \n          inet addr:{ip}  Bcast:{a}.{b}.{c}.255  Mask:255.255.255.0\n          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n          RX packets:{rx} errors:0 dropped:0 overruns:0 frame:0\n          TX packets:{tx} errors:0 dropped:0 overruns:0 carrier:0\n          collisions:0 txqueuelen:1000 \n          RX bytes:{}  TX bytes:{}\n\n",
                mac.join(":"),
                scaled(rx * 412),
                scaled(tx * 236),
            );
        }
        "lo" => {
            let packets = counters(sh, 1) / 60;
            let _ = write!(
                out,
                "lo        Link encap:Local Loopback  \n          inet addr:127.0.0.1  Mask:255.0.0.0\n          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n          RX packets:{packets} errors:0 dropped:0 overruns:0 frame:0\n          TX packets:{packets} errors:0 dropped:0 overruns:0 carrier:0\n          collisions:0 txqueuelen:0 \n          RX bytes:{}  TX bytes:{}\n\n",
                scaled(packets * 84),
                scaled(packets * 84),
            );
        }
        _ => return None,
    }
    Some(out)
}

async fn ifconfig(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let operands: Vec<&Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .collect();
    match operands.as_slice() {
        [] => {
            let out = ["eth0", "lo"]
                .iter()
                .filter_map(|n| ifconfig_block(sh, n))
                .collect::<String>();
            sh.write(&io.stdout, out.as_bytes()).await;
            0
        }
        [name] => {
            let name = String::from_utf8_lossy(name).into_owned();
            match ifconfig_block(sh, &name) {
                Some(block) => {
                    sh.write(&io.stdout, block.as_bytes()).await;
                    0
                }
                None => {
                    let msg =
                        format!("{name}: error fetching interface information: Device not found");
                    error_line(sh, io, "ifconfig", msg.as_bytes()).await;
                    1
                }
            }
        }
        // Setting addresses or flags: accepted, nothing changes.
        _ => 0,
    }
}

fn route_table(sh: &Sh, numeric: bool) -> String {
    let ip = lan_address(sh);
    let [a, b, c, _] = ip.octets();
    let (default, any) = if numeric {
        ("0.0.0.0", "0.0.0.0")
    } else {
        ("default", "*")
    };
    let mut out = String::from(
        "Kernel IP routing table\nDestination     Gateway         Genmask         Flags Metric Ref    Use Iface\n",
    );
    let rows = [
        (
            default.to_string(),
            gateway(sh).to_string(),
            "0.0.0.0",
            "UG",
        ),
        (
            format!("{a}.{b}.{c}.0"),
            any.to_string(),
            "255.255.255.0",
            "U",
        ),
    ];
    for (dest, gw, mask, flags) in rows {
        let _ = writeln!(
            out,
            "{dest:<15} {gw:<15} {mask:<16}{flags:<6}{:<6} {:<2} {:7} eth0",
            0, 0, 0
        );
    }
    out
}

async fn netstat(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let parsed = match parse_options(argv, b"alntuwxrpeWT", b"") {
        Ok(p) => p,
        Err(f) => return invalid_option(sh, io, "netstat", f).await,
    };
    let f = |c| parsed.flags.contains(&c);
    if f(b'r') {
        let out = route_table(sh, f(b'n'));
        sh.write(&io.stdout, out.as_bytes()).await;
        return 0;
    }
    let (servers, established) = match (f(b'a'), f(b'l')) {
        (true, _) => (true, true),
        (false, true) => (true, false),
        (false, false) => (false, true),
    };
    let tcp = f(b't') || !f(b'u');
    let what = match (servers, established) {
        (true, true) => "servers and established",
        (true, false) => "only servers",
        _ => "w/o servers",
    };
    let program = f(b'p');
    let mut out = format!(
        "Active Internet connections ({what})\nProto Recv-Q Send-Q Local Address           Foreign Address         State       {}\n",
        if program { " PID/Program name" } else { "" }
    );
    if tcp {
        let telnetd = if program { " 174/telnetd" } else { "" };
        if servers {
            let _ = writeln!(
                out,
                "tcp        0      0 {:<23} {:<23} {:<12}{telnetd}",
                "0.0.0.0:23", "0.0.0.0:*", "LISTEN"
            );
        }
        if let (true, Some(peer)) = (established, sh.peer) {
            let local = format!("{}:23", lan_address(sh));
            let remote = match peer.src.ip() {
                IpAddr::V4(v4) => format!("{v4}:{}", peer.src.port()),
                IpAddr::V6(v6) => format!("{v6}:{}", peer.src.port()),
            };
            let _ = writeln!(
                out,
                "tcp        0      0 {local:<23} {remote:<23} {:<12}{telnetd}",
                "ESTABLISHED"
            );
        }
    }
    if !f(b't') && !f(b'u') && f(b'a') {
        out.push_str(
            "Active UNIX domain sockets (servers and established)\nProto RefCnt Flags       Type       State         I-Node Path\n",
        );
    }
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

async fn ip(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let object = argv.get(1).map(Vec::as_slice).unwrap_or_default();
    let mac: Vec<String> = sh.device.mac.iter().map(|b| format!("{b:02x}")).collect();
    let mac = mac.join(":");
    let lan = lan_address(sh);
    let [a, b, c, _] = lan.octets();
    let link_lo = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n";
    let link_eth = format!(
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast qlen 1000\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n"
    );
    let out = if object.is_empty() {
        return super::applets::usage(sh, "ip", io).await;
    } else if b"address".starts_with(object) {
        format!(
            "{link_lo}    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n{link_eth}    inet {lan}/24 brd {a}.{b}.{c}.255 scope global eth0\n       valid_lft forever preferred_lft forever\n"
        )
    } else if b"link".starts_with(object) {
        format!("{link_lo}{link_eth}")
    } else if b"route".starts_with(object) {
        format!(
            "default via {} dev eth0 \n{a}.{b}.{c}.0/24 dev eth0 scope link  src {lan} \n",
            gateway(sh)
        )
    } else {
        let msg = [b"ip: unknown command '", object, b"'\n"].concat();
        sh.write(&io.stderr, &msg).await;
        return 1;
    };
    sh.write(&io.stdout, out.as_bytes()).await;
    0
}

/// A short boot log that agrees with `/proc/version`, the memory and the root file
/// system of the profile.
fn dmesg(sh: &Sh) -> String {
    let version = super::procfs::generate(sh, crate::vfs::ProcFile::Version);
    let version = String::from_utf8_lossy(&version);
    let p = &sh.device.profile;
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
    let mac: Vec<String> = sh.device.mac.iter().map(|b| format!("{b:02x}")).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxd_lines_pad_the_text_column() {
        let dump = xxd_dump(b"hello world\nsecond line here ok\x00\xff", 16, 2, 0);
        assert_eq!(
            dump,
            "00000000: 6865 6c6c 6f20 776f 726c 640a 7365 636f  hello world.seco\n\
             00000010: 6e64 206c 696e 6520 6865 7265 206f 6b00  nd line here ok.\n\
             00000020: ff                                       .\n"
        );
    }

    #[test]
    fn xxd_offsets_wrap_instead_of_overflowing() {
        let dump = xxd_dump(&[0; 20], 16, 2, u64::MAX - 3);
        assert!(dump.starts_with("fffffffffffffffc: "), "{dump}");
        assert!(dump.contains("\n0000000c: "), "{dump}");
    }

    #[test]
    fn xxd_reverse_reads_its_own_dump() {
        let data = b"\x7fELF\x01\x01\x01 and more bytes than one line holds";
        let dump = xxd_dump(data, 16, 2, 0);
        assert_eq!(xxd_reverse(dump.as_bytes(), false), data);
        assert_eq!(xxd_reverse(hex::encode(data).as_bytes(), true), data);
    }

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

    #[test]
    fn bytes_scale_like_ifconfig() {
        assert_eq!(scaled(512), "512 (512.0 B)");
        assert_eq!(scaled(340_548_120), "340548120 (324.7 MiB)");
    }
}
