//! Text: `echo`, `printf`, `cut`, `grep`, `tr`, `sort`, `uniq`, `sed`, `awk`, `seq`,
//! `basename`, `dirname` (the byte views are in `bytes.rs`).

use crate::shell::exec::{Io, Sh, MAX_APPLET_OUTPUT};
use crate::vfs::Errno;

use super::*;

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
            // ash's builtin: `bb_show_usage` raises a shell error (status 2).
            err(sh, io, who, b"usage: printf FORMAT [ARGUMENT...]").await;
            return 2;
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
                    let room = crate::shell::exec::MAX_APPLET_OUTPUT.saturating_sub(out.len());
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
            || out.len() >= crate::shell::exec::MAX_APPLET_OUTPUT
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

/// `cut`.
pub(super) async fn cut(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    // An option that needs a list, last with none: getopt's complaint.
    if let Some(last) = argv.last().filter(|_| argv.len() > 1) {
        if let [b'-', .., f @ (b'c' | b'f' | b'd' | b'b')] = last.as_slice() {
            let m = format!("cut: option requires an argument -- '{}'\n", char::from(*f));
            sh.write(&io.stderr, m.as_bytes()).await;
            return super::usage(sh, "cut", io).await;
        }
    }
    let (opts, files) = args(argv, b"cfdb");
    if !has(&opts, b'c') && !has(&opts, b'f') && !has(&opts, b'b') {
        err(
            sh,
            io,
            "cut",
            b"expected a list of bytes, characters, or fields",
        )
        .await;
        return 1;
    }
    let (data, status) = inputs(sh, name, &files, io).await;
    let mut out = Vec::new();
    if let Some(spec) = value(&opts, b'f') {
        let delim = value(&opts, b'd')
            .and_then(|d| d.first().copied())
            .unwrap_or(b'\t');
        let r = ranges(&spec);
        for line in lines(&data) {
            if !line.contains(&delim) {
                out.extend_from_slice(line);
                out.push(b'\n');
                continue;
            }
            let fields: Vec<&[u8]> = line
                .split(|&b| b == delim)
                .enumerate()
                .filter(|(i, _)| in_ranges(&r, i + 1))
                .map(|(_, f)| f)
                .collect();
            out.extend(fields.join(&delim));
            out.push(b'\n');
        }
    } else if let Some(spec) = value(&opts, b'c').or_else(|| value(&opts, b'b')) {
        let r = ranges(&spec);
        for line in lines(&data) {
            out.extend(
                line.iter()
                    .enumerate()
                    .filter(|(i, _)| in_ranges(&r, i + 1))
                    .map(|(_, b)| *b),
            );
            out.push(b'\n');
        }
    } else {
        return super::usage(sh, "cut", io).await;
    }
    sh.write(&io.stdout, &out).await;
    status
}

/// `grep`, `egrep`, `fgrep`.
pub(super) async fn grep(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, mut ops) = args(argv, b"em");
    let pattern = match value(&opts, b'e') {
        Some(p) => p,
        None if !ops.is_empty() => ops.remove(0),
        None => return super::usage(sh, "grep", io).await,
    };
    let invert = has(&opts, b'v');
    let count = has(&opts, b'c');
    let quiet = has(&opts, b'q');
    let numbers = has(&opts, b'n');
    let names_only = has(&opts, b'l');
    let extended = has(&opts, b'E') || name == "egrep";
    let fixed = has(&opts, b'F') || name == "fgrep";
    let Some(re) = grep_regex(
        &pattern,
        extended,
        fixed,
        has(&opts, b'i'),
        has(&opts, b'w'),
        has(&opts, b'x'),
    ) else {
        err(sh, io, "grep", b"bad regex").await;
        return 2;
    };
    let cwd = sh.cwd().to_vec();
    // (file name, its bytes or None when it cannot be read).
    type Source = (Option<Vec<u8>>, Option<Vec<u8>>);
    let sources: Vec<Source> = if ops.is_empty() {
        vec![(None, Some(sh.stdin_bytes(io).await))]
    } else {
        ops.iter()
            .map(|f| (Some(f.clone()), sh.read_file(&cwd, f).ok()))
            .collect()
    };
    let many = sources.len() > 1;
    let mut out = Vec::new();
    let (mut total, mut status) = (0usize, 0);
    for (file, data) in sources {
        let data = match data {
            Some(d) => d,
            None => {
                let f = file.unwrap_or_default();
                if !quiet {
                    fail_plain(sh, io, "grep", &f, Errno::NoEnt).await;
                }
                status = 2;
                continue;
            }
        };
        let label = file.clone().unwrap_or_else(|| b"(standard input)".to_vec());
        let mut n = 0usize;
        for (i, line) in lines(&data).into_iter().enumerate() {
            if re.is_match(line) == invert {
                continue;
            }
            n += 1;
            if count || quiet || names_only {
                continue;
            }
            if many {
                out.extend_from_slice(&label);
                out.push(b':');
            }
            if numbers {
                out.extend_from_slice(format!("{}:", i + 1).as_bytes());
            }
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        if count {
            if many {
                out.extend_from_slice(&label);
                out.push(b':');
            }
            out.extend_from_slice(format!("{n}\n").as_bytes());
        } else if names_only && n > 0 {
            out.extend_from_slice(&label);
            out.push(b'\n');
        }
        total += n;
    }
    if !quiet {
        sh.write(&io.stdout, &out).await;
    }
    if total > 0 && (status == 0 || quiet) {
        0
    } else if status != 0 {
        status
    } else {
        1
    }
}

/// `tr`.
pub(super) async fn tr(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, ops) = args(argv, b"");
    let delete = has(&opts, b'd');
    let set1 = expand_set(ops.first().map(Vec::as_slice).unwrap_or_default());
    let set2 = expand_set(ops.get(1).map(Vec::as_slice).unwrap_or_default());
    if set1.is_empty() {
        return super::usage(sh, "tr", io).await;
    }
    let data = sh.stdin_bytes(io).await;
    let squeeze = has(&opts, b's');
    // With -s alone set1 is only squeezed; with two sets it is translated,
    // then runs of set2's characters squeezed.
    let translate = !squeeze || !set2.is_empty();
    let squeeze_set = if squeeze && !set2.is_empty() {
        &set2
    } else {
        &set1
    };
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    for &b in &data {
        let c = match set1.iter().position(|&c| c == b) {
            Some(_) if delete => continue,
            Some(i) if translate => set2.get(i).or(set2.last()).copied().unwrap_or(b),
            _ => b,
        };
        if squeeze && out.last() == Some(&c) && squeeze_set.contains(&c) {
            continue;
        }
        out.push(c);
    }
    sh.write(&io.stdout, &out).await;
    0
}

/// `sort`.
pub(super) async fn sort(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, files) = args(argv, b"tk");
    let (data, status) = inputs(sh, name, &files, io).await;
    let mut l: Vec<&[u8]> = lines(&data);
    if has(&opts, b'n') {
        l.sort_by_key(|x| {
            String::from_utf8_lossy(x)
                .trim()
                .split(|c: char| !c.is_ascii_digit() && c != '-')
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        });
    } else {
        l.sort();
    }
    if has(&opts, b'r') {
        l.reverse();
    }
    if has(&opts, b'u') {
        l.dedup();
    }
    let mut out = Vec::new();
    for line in l {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    sh.write(&io.stdout, &out).await;
    status
}

/// `uniq`.
pub(super) async fn uniq(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, files) = args(argv, b"");
    let (data, status) = inputs(sh, name, &files, io).await;
    let mut out = Vec::new();
    let l = lines(&data);
    let mut i = 0;
    while let Some(line) = l.get(i) {
        let mut n = 1;
        while l.get(i + n) == Some(line) {
            n += 1;
        }
        let shown = if has(&opts, b'd') {
            n > 1
        } else if has(&opts, b'u') {
            n == 1
        } else {
            true
        };
        if shown {
            if has(&opts, b'c') {
                out.extend_from_slice(format!("{n:7} ").as_bytes());
            }
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        i += n;
    }
    sh.write(&io.stdout, &out).await;
    status
}

/// Commands a sed script may hold (a bound on what a line can ask for).
const MAX_SED_COMMANDS: usize = 64;

/// Where a sed command applies.
enum SedAddress {
    All,
    Line(usize),
    Last,
    Match(regex::bytes::Regex),
}

/// One sed command: `s`, `p` or `d`.
enum SedCommand {
    Substitute {
        re: regex::bytes::Regex,
        replacement: Vec<u8>,
        global: bool,
        print: bool,
    },
    Print,
    Delete,
}

/// Reads up to the unescaped `delim`; the text and what follows it.
fn sed_until(text: &[u8], delim: u8) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        if c == b'\\' && text.get(i + 1) == Some(&delim) {
            out.push(delim);
            i += 2;
        } else if c == b'\\' {
            out.push(c);
            out.extend(text.get(i + 1).copied());
            i += 2;
        } else if c == delim {
            return Some((out, text.get(i + 1..).unwrap_or_default()));
        } else {
            out.push(c);
            i += 1;
        }
    }
    None
}

/// Parses a sed script (the forms bots use: `s/RE/REP/[gp]`, `p`, `d`, with a line
/// number, `$` or `/RE/` in front); `Err` is sed's message.
fn sed_parse(script: &[u8], extended: bool) -> Result<Vec<(SedAddress, SedCommand)>, String> {
    let mut out = Vec::new();
    let mut rest = script;
    loop {
        while let Some((&c, tail)) = rest.split_first() {
            if c == b';' || c == b'\n' || c == b' ' {
                rest = tail;
            } else {
                break;
            }
        }
        let Some(&first) = rest.first() else {
            return Ok(out);
        };
        if out.len() >= MAX_SED_COMMANDS {
            return Err("too many commands".into());
        }
        let address = if first.is_ascii_digit() {
            let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let line = std::str::from_utf8(rest.get(..n).unwrap_or_default())
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            rest = rest.get(n..).unwrap_or_default();
            SedAddress::Line(line)
        } else if first == b'$' {
            rest = rest.get(1..).unwrap_or_default();
            SedAddress::Last
        } else if first == b'/' {
            let (re, tail) =
                sed_until(rest.get(1..).unwrap_or_default(), b'/').ok_or("unmatched '/'")?;
            rest = tail;
            let re = grep_regex(&re, extended, false, false, false, false).ok_or("bad regex")?;
            SedAddress::Match(re)
        } else {
            SedAddress::All
        };
        let (&cmd, tail) = rest.split_first().ok_or("missing command")?;
        rest = tail;
        let command = match cmd {
            b'p' => SedCommand::Print,
            b'd' => SedCommand::Delete,
            b's' => {
                let (&delim, tail) = rest.split_first().ok_or("unterminated `s' command")?;
                let (re, tail) = sed_until(tail, delim).ok_or("unmatched '/'")?;
                let (replacement, tail) = sed_until(tail, delim).ok_or("unmatched '/'")?;
                let flags = tail
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric())
                    .count();
                let (flag_bytes, tail) = tail.split_at(flags);
                rest = tail;
                let re =
                    grep_regex(&re, extended, false, false, false, false).ok_or("bad regex")?;
                SedCommand::Substitute {
                    re,
                    replacement,
                    global: flag_bytes.contains(&b'g'),
                    print: flag_bytes.contains(&b'p'),
                }
            }
            other => return Err(format!("unsupported command {}", char::from(other))),
        };
        out.push((address, command));
    }
}

/// A sed replacement for one match: `&` the match, `\N` a group, `\n` a newline.
fn sed_replace(replacement: &[u8], caps: &regex::bytes::Captures<'_>, out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = replacement.get(i) {
        i += 1;
        match c {
            b'&' => out.extend_from_slice(caps.get(0).map_or(&b""[..], |m| m.as_bytes())),
            b'\\' => {
                let Some(&n) = replacement.get(i) else { break };
                i += 1;
                match n {
                    b'0'..=b'9' => out.extend_from_slice(
                        caps.get(usize::from(n - b'0'))
                            .map_or(&b""[..], |m| m.as_bytes()),
                    ),
                    b'n' => out.push(b'\n'),
                    _ => out.push(n),
                }
            }
            _ => out.push(c),
        }
    }
}

/// `sed [-n] [-E] [-i] [-e SCRIPT]... [SCRIPT] [FILE]...`, the common forms.
pub(super) async fn sed(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, mut ops) = args(argv, b"e");
    let mut script: Vec<u8> = Vec::new();
    for (f, v) in &opts {
        if *f == b'e' {
            if !script.is_empty() {
                script.push(b'\n');
            }
            script.extend_from_slice(v);
        }
    }
    if script.is_empty() {
        if ops.is_empty() {
            return super::usage(sh, "sed", io).await;
        }
        script = ops.remove(0);
    }
    let extended = has(&opts, b'E') || has(&opts, b'r');
    let commands = match sed_parse(&script, extended) {
        Ok(c) => c,
        Err(m) => {
            err(sh, io, "sed", m.as_bytes()).await;
            return 1;
        }
    };
    let quiet = has(&opts, b'n');
    let run = |data: &[u8]| -> Vec<u8> {
        let all: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        let mut out = Vec::with_capacity(data.len());
        for (n, raw) in all.iter().enumerate() {
            if out.len() >= MAX_APPLET_OUTPUT {
                break;
            }
            let newline = raw.ends_with(b"\n");
            let mut line = raw.strip_suffix(b"\n").unwrap_or(raw).to_vec();
            let mut deleted = false;
            for (address, command) in &commands {
                let applies = match address {
                    SedAddress::All => true,
                    SedAddress::Line(l) => *l == n + 1,
                    SedAddress::Last => n + 1 == all.len(),
                    SedAddress::Match(re) => re.is_match(&line),
                };
                if !applies {
                    continue;
                }
                match command {
                    SedCommand::Print => {
                        out.extend_from_slice(&line);
                        out.push(b'\n');
                    }
                    SedCommand::Delete => {
                        deleted = true;
                        break;
                    }
                    SedCommand::Substitute {
                        re,
                        replacement,
                        global,
                        print,
                    } => {
                        let mut new = Vec::with_capacity(line.len());
                        let mut last = 0;
                        let mut any = false;
                        for caps in re.captures_iter(&line) {
                            let Some(m) = caps.get(0) else { continue };
                            new.extend_from_slice(line.get(last..m.start()).unwrap_or_default());
                            sed_replace(replacement, &caps, &mut new);
                            last = m.end();
                            any = true;
                            if !global || new.len() >= MAX_APPLET_OUTPUT {
                                break;
                            }
                        }
                        if any {
                            new.extend_from_slice(line.get(last..).unwrap_or_default());
                            line = new;
                            if *print {
                                out.extend_from_slice(&line);
                                out.push(b'\n');
                            }
                        }
                    }
                }
            }
            if !deleted && !quiet {
                out.extend_from_slice(&line);
                if newline {
                    out.push(b'\n');
                }
            }
        }
        out
    };
    if has(&opts, b'i') && !ops.is_empty() {
        let cwd = sh.cwd().to_vec();
        let mut status = 0;
        for f in &ops {
            match sh.read_file(&cwd, f) {
                Ok(d) => {
                    let edited = run(&d);
                    let now = sh.now_secs();
                    if sh.vfs_mut().write(&cwd, f, &edited, false, now).is_err() {
                        status = 4;
                    }
                }
                Err(_) => {
                    fail_plain(
                        sh,
                        io,
                        "sed",
                        &[b"can't read ", f.as_slice()].concat(),
                        Errno::NoEnt,
                    )
                    .await;
                    status = 2;
                }
            }
        }
        return status;
    }
    let (data, status) = inputs(sh, "sed", &ops, io).await;
    let out = run(&data);
    sh.write(&io.stdout, &out).await;
    status
}

/// `awk [-F SEP] 'PROGRAM' [FILE]...` for the one form bots use: `{print ...}` of
/// fields, `$0`, `NR`, `NF` and string literals (other programs print nothing and
/// fail, as a syntax error would).
pub(super) async fn awk(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, mut ops) = args(argv, b"F");
    if ops.is_empty() {
        return super::usage(sh, "awk", io).await;
    }
    let program = String::from_utf8_lossy(&ops.remove(0)).into_owned();
    let Some(items) = program
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .map(str::trim)
        .and_then(|p| p.strip_prefix("print"))
    else {
        err(sh, io, "awk", b"cmd. line:1: unsupported program").await;
        return 2;
    };
    let separator = value(&opts, b'F');
    let (data, status) = inputs(sh, "awk", &ops, io).await;
    let mut out = Vec::new();
    for (n, line) in lines(&data).into_iter().enumerate() {
        if out.len() >= MAX_APPLET_OUTPUT {
            break;
        }
        let fields: Vec<&[u8]> = match &separator {
            Some(sep) if sep.len() == 1 => line.split(|b| Some(b) == sep.first()).collect(),
            _ => line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty())
                .collect(),
        };
        let mut first = true;
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if !first {
                out.push(b' ');
            }
            first = false;
            // Concatenated terms: "strings", $N, NR, NF.
            let bytes = item.as_bytes();
            let mut i = 0;
            while let Some(&c) = bytes.get(i) {
                match c {
                    b'"' => {
                        let end = bytes
                            .get(i + 1..)
                            .and_then(|r| r.iter().position(|&b| b == b'"'))
                            .map_or(bytes.len(), |e| i + 1 + e);
                        out.extend_from_slice(bytes.get(i + 1..end).unwrap_or_default());
                        i = end + 1;
                    }
                    b'$' => {
                        let digits = bytes
                            .get(i + 1..)
                            .map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
                        let k: usize = std::str::from_utf8(
                            bytes.get(i + 1..i + 1 + digits).unwrap_or_default(),
                        )
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                        if k == 0 {
                            out.extend_from_slice(line);
                        } else if let Some(f) = fields.get(k - 1) {
                            out.extend_from_slice(f);
                        }
                        i += 1 + digits;
                    }
                    _ if bytes.get(i..).is_some_and(|r| r.starts_with(b"NR")) => {
                        out.extend_from_slice((n + 1).to_string().as_bytes());
                        i += 2;
                    }
                    _ if bytes.get(i..).is_some_and(|r| r.starts_with(b"NF")) => {
                        out.extend_from_slice(fields.len().to_string().as_bytes());
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
        }
        if items.trim().is_empty() {
            out.extend_from_slice(line);
        }
        out.push(b'\n');
    }
    sh.write(&io.stdout, &out).await;
    status
}
/// `seq`.
pub(super) async fn seq(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, operands) = args(argv, b"s");
    let separator = value(&opts, b's').unwrap_or_else(|| b"\n".to_vec());
    let equal_width = has(&opts, b'w');
    let nums: Vec<i64> = operands
        .iter()
        .filter_map(|a| std::str::from_utf8(a).ok()?.parse().ok())
        .collect();
    let (first, step, last) = match nums.as_slice() {
        [l] => (1, 1, *l),
        [f, l] => (*f, 1, *l),
        [f, s, l] => (*f, *s, *l),
        _ => return super::usage(sh, name, io).await,
    };
    let width = if equal_width {
        first.to_string().len().max(last.to_string().len())
    } else {
        0
    };
    let mut out = Vec::new();
    let mut v = first;
    let mut n = 0;
    while step != 0
        && ((step > 0 && v <= last) || (step < 0 && v >= last))
        && n < 100_000
        && out.len() < MAX_APPLET_OUTPUT
    {
        if n > 0 {
            out.extend_from_slice(&separator);
        }
        out.extend_from_slice(format!("{v:0width$}").as_bytes());
        v += step;
        n += 1;
    }
    if n > 0 {
        out.push(b'\n');
    }
    sh.write(&io.stdout, &out).await;
    0
}

/// `basename`.
pub(super) async fn basename(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let Some(p) = argv.get(1) else {
        return super::usage(sh, name, io).await;
    };
    let trimmed: &[u8] = {
        let t = p.as_slice();
        let end = t.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        t.get(..end).unwrap_or_default()
    };
    // Only slashes: the name is `/`.
    let mut b = if trimmed.is_empty() && !p.is_empty() {
        b"/".to_vec()
    } else {
        crate::vfs::base_name(trimmed).to_vec()
    };
    if let Some(suffix) = argv.get(2) {
        if b.len() > suffix.len() && b.ends_with(suffix) {
            b.truncate(b.len() - suffix.len());
        }
    }
    b.push(b'\n');
    sh.write(&io.stdout, &b).await;
    0
}

/// `dirname`.
pub(super) async fn dirname(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let Some(p) = argv.get(1) else {
        return super::usage(sh, name, io).await;
    };
    let trimmed = p.strip_suffix(b"/").unwrap_or(p);
    let mut d = match trimmed.iter().rposition(|&b| b == b'/') {
        _ if trimmed.is_empty() && !p.is_empty() => b"/".to_vec(),
        Some(0) => b"/".to_vec(),
        Some(i) => trimmed.get(..i).unwrap_or_default().to_vec(),
        None => b".".to_vec(),
    };
    d.push(b'\n');
    sh.write(&io.stdout, &d).await;
    0
}

/// `tr` sets: ranges `a-z` and escapes.
fn expand_set(spec: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = spec.get(i) {
        let c = if c == b'\\' {
            i += 1;
            let (b, used) = escape_sequence(spec.get(i..).unwrap_or_default());
            i += used.saturating_sub(1);
            b
        } else {
            c
        };
        if spec.get(i + 1) == Some(&b'-') {
            if let Some(&end) = spec.get(i + 2) {
                if end >= c {
                    out.extend(c..=end);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Parses `N`, `N-`, `-M`, `N-M` lists (1-based, inclusive).
fn ranges(spec: &[u8]) -> Vec<(usize, usize)> {
    String::from_utf8_lossy(spec)
        .split(',')
        .filter_map(|r| {
            let (a, b) = match r.split_once('-') {
                Some((a, b)) => (
                    a.parse().unwrap_or(1),
                    if b.is_empty() {
                        usize::MAX
                    } else {
                        b.parse().ok()?
                    },
                ),
                None => {
                    let n = r.parse().ok()?;
                    (n, n)
                }
            };
            Some((a.max(1), b))
        })
        .collect()
}

fn in_ranges(r: &[(usize, usize)], i: usize) -> bool {
    r.iter().any(|&(a, b)| a <= i && i <= b)
}

/// Largest compiled pattern grep accepts (a hostile pattern cannot grow the
/// matcher past it; the regex crate matches in linear time).
const GREP_REGEX_LIMIT: usize = 1 << 20;

/// A POSIX basic (or, with `extended`, extended) regular expression as the regex
/// crate's syntax: in a BRE `\(` `\)` `\{` `\}` `\|` are the operators and `( ) { } + ? |`
/// are literal characters.
fn grep_regex(
    pattern: &[u8],
    extended: bool,
    fixed: bool,
    icase: bool,
    word: bool,
    line: bool,
) -> Option<regex::bytes::Regex> {
    let mut re = String::new();
    if fixed {
        re = regex::escape(&String::from_utf8_lossy(pattern));
    } else {
        let mut chars = pattern.iter().copied().peekable();
        let mut in_class = false;
        while let Some(c) = chars.next() {
            if in_class {
                if c == b']' {
                    in_class = false;
                }
                if c == b'\\' || c == b'[' && chars.peek() != Some(&b':') {
                    re.push('\\');
                }
                re.push(char::from(c));
                continue;
            }
            match c {
                b'[' => {
                    in_class = true;
                    re.push('[');
                    if chars.peek() == Some(&b'^') {
                        chars.next();
                        re.push('^');
                    }
                    if chars.peek() == Some(&b']') {
                        chars.next();
                        re.push_str("\\]");
                    }
                }
                b'\\' => match chars.next() {
                    Some(d @ (b'(' | b')' | b'{' | b'}' | b'|' | b'+' | b'?')) if !extended => {
                        re.push(char::from(d));
                    }
                    Some(b'<' | b'>') => re.push_str("\\b"),
                    Some(d) if d.is_ascii_alphanumeric() => {
                        re.push('\\');
                        re.push(char::from(d));
                    }
                    Some(d) => re.push_str(&regex::escape(&char::from(d).to_string())),
                    None => re.push_str("\\\\"),
                },
                b'(' | b')' | b'{' | b'}' | b'|' | b'+' | b'?' if !extended => {
                    re.push('\\');
                    re.push(char::from(c));
                }
                b'*' if re.is_empty() || re.ends_with('^') || re.ends_with('(') => {
                    re.push_str("\\*")
                }
                _ if c.is_ascii() => re.push(char::from(c)),
                _ => re.push_str(&format!("\\x{c:02x}")),
            }
        }
    }
    if word {
        re = format!("\\b(?:{re})\\b");
    }
    if line {
        re = format!("^(?:{re})$");
    }
    regex::bytes::RegexBuilder::new(&re)
        .case_insensitive(icase)
        .unicode(false)
        .size_limit(GREP_REGEX_LIMIT)
        .dfa_size_limit(GREP_REGEX_LIMIT)
        .build()
        .ok()
}
