//! Text and information applets: `cut`, `grep`, `tr`, `tail`, `sort`, `uniq`, `od`,
//! `which`, `env`, `basename`, `dirname`, `seq`, `uptime`, `free`, `df`.

use super::exec::{Io, Sh, MAX_APPLET_OUTPUT, MAX_READ};

/// Lines of the input: the named files (or stdin), with an error for each missing one;
/// at most [`MAX_READ`] bytes in all (the rest is not read), counted as work.
async fn inputs(sh: &mut Sh, applet: &str, files: &[Vec<u8>], io: &Io) -> (Vec<u8>, i32) {
    let max = usize::try_from(MAX_READ).unwrap_or(usize::MAX);
    if files.is_empty() {
        let data = io.stdin.as_deref().cloned().unwrap_or_default();
        sh.meter.work(data.len() as u64);
        return (data, 0);
    }
    let mut data = Vec::new();
    let mut status = 0;
    let cwd = sh.cwd.clone();
    for f in files {
        let room = max.saturating_sub(data.len());
        if f.as_slice() == b"-" {
            let stdin = io.stdin.as_deref().map(Vec::as_slice).unwrap_or_default();
            data.extend_from_slice(stdin.get(..room.min(stdin.len())).unwrap_or_default());
            continue;
        }
        match sh.read_file(&cwd, f) {
            Ok(d) => data.extend_from_slice(d.get(..room.min(d.len())).unwrap_or_default()),
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
    sh.meter.work(data.len() as u64);
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
pub(super) type Opts = Vec<(u8, Vec<u8>)>;

/// Splits argv into options (`with_value` ones take a value) and operands.
pub(super) fn args(argv: &[Vec<u8>], with_value: &[u8]) -> (Opts, Vec<Vec<u8>>) {
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
            // An option that needs a list, last with none: getopt's complaint.
            if let Some(last) = argv.last().filter(|_| argv.len() > 1) {
                if let [b'-', .., f @ (b'c' | b'f' | b'd' | b'b')] = last.as_slice() {
                    let m = format!("cut: option requires an argument -- '{}'\n", char::from(*f));
                    sh.write(&io.stderr, m.as_bytes()).await;
                    return Some(super::applets::usage(sh, "cut", io).await);
                }
            }
            let (opts, files) = args(argv, b"cfdb");
            if !has(&opts, b'c') && !has(&opts, b'f') && !has(&opts, b'b') {
                err_line(
                    sh,
                    io,
                    b"cut: expected a list of bytes, characters, or fields",
                )
                .await;
                return Some(1);
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
                err_line(sh, io, b"grep: bad regex").await;
                return Some(2);
            };
            let cwd = sh.cwd.clone();
            // (file name, its bytes or None when it cannot be read).
            type Source = (Option<Vec<u8>>, Option<Vec<u8>>);
            let sources: Vec<Source> = if ops.is_empty() {
                vec![(None, Some(io.stdin.as_deref().cloned().unwrap_or_default()))]
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
                        let mut m = b"grep: ".to_vec();
                        m.extend_from_slice(&f);
                        m.extend_from_slice(b": No such file or directory");
                        if !quiet {
                            err_line(sh, io, &m).await;
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
        "tr" => {
            let (opts, ops) = args(argv, b"");
            let delete = has(&opts, b'd');
            let set1 = expand_set(ops.first().map(Vec::as_slice).unwrap_or_default());
            let set2 = expand_set(ops.get(1).map(Vec::as_slice).unwrap_or_default());
            if set1.is_empty() {
                return Some(super::applets::usage(sh, "tr", io).await);
            }
            let data = io.stdin.as_deref().cloned().unwrap_or_default();
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
        "tail" => {
            // The old `tail -N` form is `-n N`.
            let argv: Vec<Vec<u8>> = match argv.get(1) {
                Some(a)
                    if a.len() > 1
                        && a.starts_with(b"-")
                        && a.iter().skip(1).all(u8::is_ascii_digit) =>
                {
                    let mut v = vec![
                        b"tail".to_vec(),
                        b"-n".to_vec(),
                        a.get(1..).unwrap_or_default().to_vec(),
                    ];
                    v.extend(argv.iter().skip(2).cloned());
                    v
                }
                _ => argv.to_vec(),
            };
            let (opts, files) = args(&argv, b"nc");
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
        "od" => {
            let (opts, files) = args(argv, b"tAN");
            let (data, status) = inputs(sh, name, &files, io).await;
            let out = od(&data, &opts);
            sh.write(&io.stdout, &out).await;
            status
        }
        "hexdump" => {
            let (opts, files) = args(argv, b"n");
            let (data, status) = inputs(sh, name, &files, io).await;
            let out = hexdump(&data, has(&opts, b'C'));
            sh.write(&io.stdout, &out).await;
            status
        }
        "md5sum" | "sha1sum" | "sha256sum" => {
            use sha2::Digest;
            let (_, files) = args(argv, b"");
            let files = if files.is_empty() {
                vec![b"-".to_vec()]
            } else {
                files
            };
            let cwd = sh.cwd.clone();
            let mut status = 0;
            for f in files {
                let data = if f.as_slice() == b"-" {
                    Some(io.stdin.as_deref().cloned().unwrap_or_default())
                } else {
                    sh.read_file(&cwd, &f).ok()
                };
                let Some(data) = data else {
                    let mut m = format!("{name}: can't open '").into_bytes();
                    m.extend_from_slice(&f);
                    m.extend_from_slice(b"': No such file or directory");
                    err_line(sh, io, &m).await;
                    status = 1;
                    continue;
                };
                let digest = match name {
                    "md5sum" => hex::encode(md5::Md5::digest(&data)),
                    "sha1sum" => hex::encode(sha1::Sha1::digest(&data)),
                    _ => hex::encode(sha2::Sha256::digest(&data)),
                };
                let mut line = format!("{digest}  ").into_bytes();
                line.extend_from_slice(&f);
                line.push(b'\n');
                sh.write(&io.stdout, &line).await;
            }
            status
        }
        "base64" => {
            let (opts, files) = args(argv, b"");
            let (data, status) = inputs(sh, name, &files, io).await;
            if status != 0 {
                return Some(status);
            }
            let out = if has(&opts, b'd') {
                base64_decode(&data)
            } else {
                base64_encode(&data)
            };
            sh.write(&io.stdout, &out).await;
            0
        }
        "pidof" => {
            let mut pids = Vec::new();
            for a in argv.iter().skip(1).filter(|a| !a.starts_with(b"-")) {
                pids.extend(super::ps::pids_of(sh, a));
            }
            if pids.is_empty() {
                return Some(1);
            }
            let line: Vec<String> = pids.iter().map(u32::to_string).collect();
            sh.write(&io.stdout, format!("{}\n", line.join(" ")).as_bytes())
                .await;
            0
        }
        "pkill" => {
            let mut any = false;
            for a in argv.iter().skip(1).filter(|a| !a.starts_with(b"-")) {
                any |= super::ps::kill_by_name(sh, a);
            }
            i32::from(!any)
        }
        "sed" => return Some(sed(sh, argv, io).await),
        "awk" => return Some(awk(sh, argv, io).await),
        "which" => {
            let mut status = 0;
            let mut out = Vec::new();
            for a in argv.iter().skip(1) {
                let n = String::from_utf8_lossy(a).into_owned();
                let path = crate::vfs::applet_path(&n);
                let on_path = path.contains('/');
                if sh.device.profile.has_applet(&n) && !n.contains('/') && on_path {
                    out.extend_from_slice(format!("/{path}\n").as_bytes());
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
        "dirname" => {
            let Some(p) = argv.get(1) else {
                return Some(super::applets::usage(sh, name, io).await);
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
        "seq" => {
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
                _ => return Some(super::applets::usage(sh, name, io).await),
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
        "df" => {
            let (opts, _) = args(argv, b"");
            let human = has(&opts, b'h');
            let mut out = if human {
                b"Filesystem                Size      Used Available Use% Mounted on\n".to_vec()
            } else {
                b"Filesystem           1K-blocks      Used Available Use% Mounted on\n".to_vec()
            };
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
        _ => return None,
    })
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
/// Writes a whole error line to stderr.
async fn err_line(sh: &mut Sh, io: &Io, msg: &[u8]) {
    let mut m = msg.to_vec();
    m.push(b'\n');
    sh.write(&io.stderr, &m).await;
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

/// One `od` output type: bytes per value, and how a value is written.
#[derive(Clone, Copy)]
enum OdType {
    /// `-c`: characters, C escapes, octal otherwise.
    Char,
    /// Octal, hexadecimal or unsigned decimal of 1 or 2 bytes (little-endian).
    Num { size: usize, radix: u32 },
}

/// BusyBox `od` (its common forms): `-b -c -d -o -x`, `-t [xoudc][12]`, `-A n|o|d|x`;
/// 16 bytes a row, offsets in octal unless told, the end offset last.
fn od(data: &[u8], opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut ty = OdType::Num { size: 2, radix: 8 };
    for (f, v) in opts {
        ty = match f {
            b'b' => OdType::Num { size: 1, radix: 8 },
            b'c' => OdType::Char,
            b'd' => OdType::Num { size: 2, radix: 10 },
            b'o' => OdType::Num { size: 2, radix: 8 },
            b'x' => OdType::Num { size: 2, radix: 16 },
            b't' => {
                let size = match v.get(1) {
                    Some(b'2') => 2,
                    _ => 1,
                };
                match v.first() {
                    Some(b'c') => OdType::Char,
                    Some(b'x') => OdType::Num { size, radix: 16 },
                    Some(b'u' | b'd') => OdType::Num { size, radix: 10 },
                    _ => OdType::Num { size, radix: 8 },
                }
            }
            _ => ty,
        };
    }
    let radix = match value(opts, b'A').as_deref() {
        Some(b"n") => None,
        Some(b"d") => Some(10),
        Some(b"x") => Some(16),
        _ => Some(8),
    };
    let offset = |n: usize| match radix {
        Some(16) => format!("{n:07x}"),
        Some(10) => format!("{n:07}"),
        _ => format!("{n:07o}"),
    };
    let mut out = Vec::new();
    for (row, chunk) in data.chunks(16).enumerate() {
        if radix.is_some() {
            out.extend_from_slice(offset(row * 16).as_bytes());
        }
        match ty {
            OdType::Char => {
                for &b in chunk {
                    let s = match b {
                        0 => "  \\0".to_string(),
                        0x07 => "  \\a".to_string(),
                        0x08 => "  \\b".to_string(),
                        0x0c => "  \\f".to_string(),
                        b'\n' => "  \\n".to_string(),
                        b'\r' => "  \\r".to_string(),
                        b'\t' => "  \\t".to_string(),
                        0x0b => "  \\v".to_string(),
                        0x20..=0x7e => format!("   {}", b as char),
                        _ => format!(" {b:03o}"),
                    };
                    out.extend_from_slice(s.as_bytes());
                }
            }
            OdType::Num { size, radix } => {
                for word in chunk.chunks(size) {
                    let v = word
                        .iter()
                        .rev()
                        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
                    let s = match (size, radix) {
                        (1, 8) => format!(" {v:03o}"),
                        (1, 16) => format!(" {v:02x}"),
                        (1, _) => format!(" {v:3}"),
                        (_, 8) => format!(" {v:06o}"),
                        (_, 16) => format!(" {v:04x}"),
                        _ => format!(" {v:5}"),
                    };
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
        out.push(b'\n');
    }
    if radix.is_some() {
        out.extend_from_slice(offset(data.len()).as_bytes());
        out.push(b'\n');
    }
    out
}

/// BusyBox `hexdump`: 2-byte hex words by default, `-C` the canonical hex+ASCII
/// form; rows of 16 bytes, a short last row padded, the end offset last.
fn hexdump(data: &[u8], canonical: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (row, chunk) in data.chunks(16).enumerate() {
        if canonical {
            out.extend_from_slice(format!("{:08x} ", row * 16).as_bytes());
            for i in 0..16 {
                if i == 8 {
                    out.push(b' ');
                }
                match chunk.get(i) {
                    Some(b) => out.extend_from_slice(format!(" {b:02x}").as_bytes()),
                    None => out.extend_from_slice(b"   "),
                }
            }
            out.extend_from_slice(b"  |");
            out.extend(
                chunk
                    .iter()
                    .map(|&b| if (0x20..=0x7e).contains(&b) { b } else { b'.' }),
            );
            out.extend_from_slice(b"|\n");
        } else {
            out.extend_from_slice(format!("{:07x}", row * 16).as_bytes());
            for i in 0..8 {
                match (chunk.get(2 * i), chunk.get(2 * i + 1)) {
                    (Some(&lo), hi) => {
                        let v = u16::from(lo) | (u16::from(hi.copied().unwrap_or(0)) << 8);
                        out.extend_from_slice(format!(" {v:04x}").as_bytes());
                    }
                    (None, _) => out.extend_from_slice(b"     "),
                }
            }
            out.push(b'\n');
        }
    }
    let end = if canonical {
        format!("{:08x}\n", data.len())
    } else {
        format!("{:07x}\n", data.len())
    };
    out.extend_from_slice(end.as_bytes());
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `base64`: standard alphabet, padded, lines of 76.
fn base64_encode(data: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                text.push(BASE64.get(idx).copied().unwrap_or(b'='));
            } else {
                text.push(b'=');
            }
        }
    }
    let mut out = Vec::with_capacity(text.len() + text.len() / 76 + 1);
    for line in text.chunks(76) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// `base64 -d`: decodes, skipping what is not in the alphabet.
fn base64_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        if c == b'=' {
            break;
        }
        let Some(v) = BASE64.iter().position(|&b| b == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
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
async fn sed(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
            return super::applets::usage(sh, "sed", io).await;
        }
        script = ops.remove(0);
    }
    let extended = has(&opts, b'E') || has(&opts, b'r');
    let commands = match sed_parse(&script, extended) {
        Ok(c) => c,
        Err(m) => {
            err_line(sh, io, format!("sed: {m}").as_bytes()).await;
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
        let cwd = sh.cwd.clone();
        let mut status = 0;
        for f in &ops {
            match sh.read_file(&cwd, f) {
                Ok(d) => {
                    let edited = run(&d);
                    let now = sh.now_secs();
                    if sh.vfs.write(&cwd, f, &edited, false, now).is_err() {
                        status = 4;
                    }
                }
                Err(_) => {
                    let mut m = b"sed: can't read ".to_vec();
                    m.extend_from_slice(f);
                    m.extend_from_slice(b": No such file or directory");
                    err_line(sh, io, &m).await;
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
async fn awk(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, mut ops) = args(argv, b"F");
    if ops.is_empty() {
        return super::applets::usage(sh, "awk", io).await;
    }
    let program = String::from_utf8_lossy(&ops.remove(0)).into_owned();
    let Some(items) = program
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .map(str::trim)
        .and_then(|p| p.strip_prefix("print"))
    else {
        err_line(sh, io, b"awk: cmd. line:1: unsupported program").await;
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
