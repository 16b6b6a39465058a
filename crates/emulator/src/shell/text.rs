//! Text and information applets: `cut`, `grep`, `tr`, `tail`, `sort`, `uniq`, `od`,
//! `which`, `env`, `basename`, `dirname`, `seq`, `uptime`, `free`, `df`.

use super::exec::{Io, Sh};

/// Lines of the input: the named files (or stdin), with an error for each missing one.
async fn inputs(sh: &mut Sh, applet: &str, files: &[Vec<u8>], io: &Io) -> (Vec<u8>, i32) {
    if files.is_empty() {
        return (io.stdin.as_deref().cloned().unwrap_or_default(), 0);
    }
    let mut data = Vec::new();
    let mut status = 0;
    let cwd = sh.cwd.clone();
    for f in files {
        if f.as_slice() == b"-" {
            data.extend_from_slice(io.stdin.as_deref().map(Vec::as_slice).unwrap_or_default());
            continue;
        }
        match sh.read_file(&cwd, f) {
            Ok(d) => data.extend(d),
            Err(e) => {
                let mut m = applet.as_bytes().to_vec();
                m.extend_from_slice(b": ");
                m.extend_from_slice(f);
                m.extend_from_slice(format!(": {e}\n").as_bytes());
                sh.write(&io.stderr, &m).await;
                status = if applet == "grep" { 2 } else { 1 };
            }
        }
    }
    (data, status)
}

fn lines(data: &[u8]) -> Vec<&[u8]> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    if data.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == b'\n').collect()
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

/// Options seen: the flag and its value (empty for flags without one).
type Opts = Vec<(u8, Vec<u8>)>;

/// Splits argv into options (`with_value` ones take a value) and operands.
fn args(argv: &[Vec<u8>], with_value: &[u8]) -> (Opts, Vec<Vec<u8>>) {
    let mut opts = Vec::new();
    let mut ops = Vec::new();
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        i += 1;
        if a.len() > 1 && a.first() == Some(&b'-') && !a.get(1).is_some_and(u8::is_ascii_digit) {
            let mut j = 1;
            while let Some(&f) = a.get(j) {
                j += 1;
                if with_value.contains(&f) {
                    let v = if j < a.len() {
                        a.get(j..).unwrap_or_default().to_vec()
                    } else {
                        i += 1;
                        argv.get(i - 1).cloned().unwrap_or_default()
                    };
                    opts.push((f, v));
                    break;
                }
                opts.push((f, Vec::new()));
            }
        } else {
            ops.push(a.clone());
        }
    }
    (opts, ops)
}

fn has(opts: &[(u8, Vec<u8>)], f: u8) -> bool {
    opts.iter().any(|(k, _)| *k == f)
}

fn value(opts: &[(u8, Vec<u8>)], f: u8) -> Option<Vec<u8>> {
    opts.iter()
        .rev()
        .find(|(k, _)| *k == f)
        .map(|(_, v)| v.clone())
}

/// Runs a text applet; None if `name` is not one.
pub async fn run(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> Option<i32> {
    Some(match name {
        "cut" => {
            let (opts, files) = args(argv, b"cfdb");
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
                return Some(super::applets::usage(sh, "cut", io).await);
            }
            sh.write(&io.stdout, &out).await;
            status
        }
        "grep" | "egrep" | "fgrep" => {
            let (opts, mut ops) = args(argv, b"em");
            let pattern = match value(&opts, b'e') {
                Some(p) => p,
                None if !ops.is_empty() => ops.remove(0),
                None => return Some(super::applets::usage(sh, "grep", io).await),
            };
            let invert = has(&opts, b'v');
            let icase = has(&opts, b'i');
            let count = has(&opts, b'c');
            let quiet = has(&opts, b'q');
            let (data, status) = inputs(sh, "grep", &ops, io).await;
            let needle = if icase {
                pattern.to_ascii_lowercase()
            } else {
                pattern.clone()
            };
            let plain = needle.iter().all(|b| !b".*[]^$\\+?(){}|".contains(b));
            let mut out = Vec::new();
            let mut n = 0;
            for line in lines(&data) {
                let hay = if icase {
                    line.to_ascii_lowercase()
                } else {
                    line.to_vec()
                };
                let hit = if plain {
                    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle.as_slice())
                } else {
                    simple_regex(&needle, &hay)
                };
                if hit != invert {
                    n += 1;
                    if !count && !quiet {
                        out.extend_from_slice(line);
                        out.push(b'\n');
                    }
                }
            }
            if count {
                out.extend_from_slice(format!("{n}\n").as_bytes());
            }
            sh.write(&io.stdout, &out).await;
            if status != 0 {
                status
            } else if n > 0 {
                0
            } else {
                1
            }
        }
        "tr" => {
            let (opts, ops) = args(argv, b"");
            let delete = has(&opts, b'd');
            let set1 = expand_set(ops.first().map(Vec::as_slice).unwrap_or_default());
            let set2 = expand_set(ops.get(1).map(Vec::as_slice).unwrap_or_default());
            if set1.is_empty() {
                return Some(super::applets::usage(sh, "tr", io).await);
            }
            let data = io.stdin.as_deref().cloned().unwrap_or_default();
            let out: Vec<u8> = data
                .iter()
                .filter_map(|&b| match set1.iter().position(|&c| c == b) {
                    Some(_) if delete => None,
                    Some(i) => Some(set2.get(i).or(set2.last()).copied().unwrap_or(b)),
                    None => Some(b),
                })
                .collect();
            sh.write(&io.stdout, &out).await;
            0
        }
        "tail" => {
            let (opts, files) = args(argv, b"nc");
            let (data, status) = inputs(sh, name, &files, io).await;
            let out = if let Some(c) = value(&opts, b'c') {
                let n: usize = String::from_utf8_lossy(&c)
                    .trim_start_matches('-')
                    .parse()
                    .unwrap_or(10);
                data.get(data.len().saturating_sub(n)..)
                    .unwrap_or_default()
                    .to_vec()
            } else {
                let n: usize = value(&opts, b'n')
                    .map(|v| {
                        String::from_utf8_lossy(&v)
                            .trim_start_matches('-')
                            .parse()
                            .unwrap_or(10)
                    })
                    .unwrap_or(10);
                let l = lines(&data);
                let mut out = Vec::new();
                for line in l.iter().skip(l.len().saturating_sub(n)) {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
                out
            };
            sh.write(&io.stdout, &out).await;
            status
        }
        "sort" => {
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
        "uniq" => {
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
                if has(&opts, b'c') {
                    out.extend_from_slice(format!("{n:7} ").as_bytes());
                }
                out.extend_from_slice(line);
                out.push(b'\n');
                i += n;
            }
            sh.write(&io.stdout, &out).await;
            status
        }
        "od" | "hexdump" => {
            let (opts, files) = args(argv, b"tAN");
            let (data, status) = inputs(sh, name, &files, io).await;
            let no_offset = value(&opts, b'A').is_some_and(|v| v == b"n");
            let hex = value(&opts, b't').is_some_and(|v| v.starts_with(b"x1")) || name == "hexdump";
            let mut out = Vec::new();
            for (row, chunk) in data.chunks(16).enumerate() {
                if !no_offset {
                    out.extend_from_slice(format!("{:07o}", row * 16).as_bytes());
                }
                for &b in chunk {
                    if hex {
                        out.extend_from_slice(format!(" {b:02x}").as_bytes());
                    } else if has(&opts, b'c') {
                        let s = match b {
                            0 => "  \\0".to_string(),
                            b'\n' => "  \\n".to_string(),
                            b'\t' => "  \\t".to_string(),
                            b'\r' => "  \\r".to_string(),
                            0x20..=0x7e => format!("   {}", b as char),
                            _ => format!(" {b:03o}"),
                        };
                        out.extend_from_slice(s.as_bytes());
                    } else {
                        out.extend_from_slice(format!(" {b:03o}").as_bytes());
                    }
                }
                out.push(b'\n');
            }
            if !no_offset {
                out.extend_from_slice(format!("{:07o}\n", data.len()).as_bytes());
            }
            sh.write(&io.stdout, &out).await;
            status
        }
        "which" => {
            let mut status = 0;
            let mut out = Vec::new();
            for a in argv.iter().skip(1) {
                let n = String::from_utf8_lossy(a).into_owned();
                if sh.device.profile.has_applet(&n) && !n.contains('/') {
                    out.extend_from_slice(format!("/bin/{n}\n").as_bytes());
                } else {
                    status = 1;
                }
            }
            sh.write(&io.stdout, &out).await;
            status
        }
        "env" | "printenv" => {
            let mut out = Vec::new();
            for (k, (v, exported)) in sh.vars.iter() {
                if *exported {
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(v);
                    out.push(b'\n');
                }
            }
            sh.write(&io.stdout, &out).await;
            0
        }
        "basename" => {
            let Some(p) = argv.get(1) else {
                return Some(super::applets::usage(sh, name, io).await);
            };
            let mut b = crate::vfs::base_name(p).to_vec();
            if let Some(suffix) = argv.get(2) {
                if b.len() > suffix.len() && b.ends_with(suffix) {
                    b.truncate(b.len() - suffix.len());
                }
            }
            b.push(b'\n');
            sh.write(&io.stdout, &b).await;
            0
        }
        "dirname" => {
            let Some(p) = argv.get(1) else {
                return Some(super::applets::usage(sh, name, io).await);
            };
            let trimmed = p.strip_suffix(b"/").unwrap_or(p);
            let mut d = match trimmed.iter().rposition(|&b| b == b'/') {
                Some(0) => b"/".to_vec(),
                Some(i) => trimmed.get(..i).unwrap_or_default().to_vec(),
                None => b".".to_vec(),
            };
            d.push(b'\n');
            sh.write(&io.stdout, &d).await;
            0
        }
        "seq" => {
            let nums: Vec<i64> = argv
                .iter()
                .skip(1)
                .filter_map(|a| std::str::from_utf8(a).ok()?.parse().ok())
                .collect();
            let (first, step, last) = match nums.as_slice() {
                [l] => (1, 1, *l),
                [f, l] => (*f, 1, *l),
                [f, s, l] => (*f, *s, *l),
                _ => return Some(super::applets::usage(sh, name, io).await),
            };
            let mut out = Vec::new();
            let mut v = first;
            let mut n = 0;
            while step != 0 && ((step > 0 && v <= last) || (step < 0 && v >= last)) && n < 100_000 {
                out.extend_from_slice(format!("{v}\n").as_bytes());
                v += step;
                n += 1;
            }
            sh.write(&io.stdout, &out).await;
            0
        }
        "uptime" => {
            let up = super::procfs::uptime_secs(sh) as u64;
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
            let out =
                format!(" {h:02}:{m:02}:{s:02} up {since},  load average: 0.08, 0.03, 0.01\n");
            sh.write(&io.stdout, out.as_bytes()).await;
            0
        }
        "free" => {
            let total = meminfo(sh, "MemTotal");
            let free = meminfo(sh, "MemFree");
            let cached = meminfo(sh, "Cached") + meminfo(sh, "Buffers");
            let used = total.saturating_sub(free).saturating_sub(cached);
            let out = format!(
                "              total        used        free      shared  buff/cache   available\nMem:     {total:10}  {used:10}  {free:10}  {:10}  {cached:10}  {:10}\nSwap:             0           0           0\n",
                0,
                free + cached
            );
            sh.write(&io.stdout, out.as_bytes()).await;
            0
        }
        "df" => {
            let mut out =
                b"Filesystem           1K-blocks      Used Available Use% Mounted on\n".to_vec();
            for line in sh.device.profile.mounts.lines() {
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
                out.extend_from_slice(
                    format!(
                        "{dev:<20} {size:9} {used:9} {:9} {pct:3}% {path}\n",
                        size - used
                    )
                    .as_bytes(),
                );
            }
            sh.write(&io.stdout, &out).await;
            0
        }
        _ => return None,
    })
}

fn meminfo(sh: &Sh, key: &str) -> u64 {
    sh.device
        .profile
        .meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `tr` sets: ranges `a-z` and escapes.
fn expand_set(spec: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = spec.get(i) {
        let c = if c == b'\\' {
            i += 1;
            let (b, used) = super::applets::escape_sequence(spec.get(i..).unwrap_or_default());
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

/// The regular expressions bots use with grep: `^`, `$`, `.`, `.*`, literal text.
fn simple_regex(pat: &[u8], hay: &[u8]) -> bool {
    let anchored = pat.first() == Some(&b'^');
    let pat = if anchored {
        pat.get(1..).unwrap_or_default()
    } else {
        pat
    };
    let end_anchor = pat.last() == Some(&b'$');
    let pat = if end_anchor {
        pat.get(..pat.len() - 1).unwrap_or_default()
    } else {
        pat
    };
    // Translate to a glob: `.*` -> `*`, `.` -> `?`.
    let mut glob = Vec::new();
    let mut i = 0;
    while let Some(&c) = pat.get(i) {
        match c {
            b'.' if pat.get(i + 1) == Some(&b'*') => {
                glob.push(b'*');
                i += 2;
                continue;
            }
            b'.' => glob.push(b'?'),
            b'*' | b'?' | b'[' => {
                glob.push(b'[');
                glob.push(c);
                glob.push(b']');
            }
            b'\\' => {
                if let Some(&n) = pat.get(i + 1) {
                    glob.push(b'[');
                    glob.push(n);
                    glob.push(b']');
                    i += 1;
                }
            }
            _ => glob.push(c),
        }
        i += 1;
    }
    if !anchored {
        glob.insert(0, b'*');
    }
    if !end_anchor {
        glob.push(b'*');
    }
    super::glob::matches(&glob, hay)
}
