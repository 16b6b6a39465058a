//! Files: `cat`, `cp`, `mv`, `rm`, `mkdir`, `rmdir`, `touch`, `chmod`, `ln`, `dd`,
//! `head`, `tail`, `wc` and `find`, over the session's view of the file system.

use std::sync::Arc;

use crate::shell::exec::{Io, Run, Sh, Sink};
use crate::vfs::{base_name, Content, Errno, Meta, Node, SpecialFile};

use super::*;

pub(super) async fn cat(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, files) = options(argv);
    if flags.contains(&b'n') {
        return cat_numbered(sh, &files, io).await;
    }
    if files.is_empty() || files.iter().all(|f| f.as_slice() == b"-") {
        let input = sh.stdin_all(io).await;
        sh.write_shared(&io.stdout, input).await;
        return 0;
    }
    let mut status = 0;
    for f in files {
        if f.as_slice() == b"-" {
            let input = sh.stdin_all(io).await;
            sh.write_shared(&io.stdout, input).await;
            continue;
        }
        let cwd = sh.cwd().to_vec();
        match sh.vfs().read(&cwd, &f) {
            Ok((_, Node::File(_, content))) if !matches!(content, Content::Proc(_)) => {
                stream(sh, &content, &io.stdout).await;
            }
            Ok(_) => match sh.read_file(&cwd, &f) {
                Ok(bytes) => sh.write(&io.stdout, &bytes).await,
                Err(e) => {
                    fail_quoted(sh, io, "cat", "", &f, e).await;
                    status = 1;
                }
            },
            Err(Errno::IsDir) => {
                err(sh, io, "cat", b"read error: Is a directory").await;
                status = 1;
            }
            Err(e) => {
                fail_quoted(sh, io, "cat", "can't open ", &f, e).await;
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
    let cwd = sh.cwd().to_vec();
    if files.is_empty() {
        data = sh.stdin_bytes(io).await;
    }
    for f in files {
        if f.as_slice() == b"-" {
            data.extend_from_slice(&sh.stdin_all(io).await);
            continue;
        }
        match sh.read_file(&cwd, f) {
            Ok(d) => data.extend_from_slice(&d),
            Err(e) => {
                fail_quoted(sh, io, "cat", "", f, e).await;
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
    if let Some(bytes) = content.shared() {
        sh.write_shared(sink, bytes).await;
    }
}

/// `cp`'s and `mv`'s operands: the sources, the last one, and whether it is a
/// directory (to move or copy into).
fn sources_and_dest<'a>(sh: &Sh, ops: &'a [Vec<u8>]) -> (&'a [Vec<u8>], Vec<u8>, bool) {
    let (sources, dest) = ops.split_at(ops.len().saturating_sub(1));
    let dest = dest.first().cloned().unwrap_or_default();
    let dest_is_dir = sh
        .vfs()
        .lookup(sh.cwd(), &dest, true)
        .is_ok_and(|(_, n)| n.is_dir());
    (sources, dest, dest_is_dir)
}

pub(super) async fn cp(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.len() < 2 {
        return usage(sh, "cp", io).await;
    }
    let (sources, dest, dest_is_dir) = sources_and_dest(sh, &ops);
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    let now = sh.now_secs();
    for src in sources {
        let node = match sh.vfs().lookup(&cwd, src, true) {
            Ok((_, n)) => n.clone(),
            Err(e) => {
                fail_quoted(sh, io, "cp", "can't stat ", src, e).await;
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
                let bytes = crate::shell::procfs::generate(sh, kind);
                Node::File(Meta { mtime: now, ..meta }, Content::Bytes(Arc::new(bytes)))
            }
            Node::File(meta, c) => {
                // An existing target keeps its mode, as cp does.
                let mode = match sh.vfs().lookup(&cwd, &target, true) {
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
        if let Err(e) = sh.vfs_mut().place(&cwd, &target, node, true) {
            fail_quoted(sh, io, "cp", "can't create ", &target, e).await;
            status = 1;
        }
    }
    status
}

pub(super) async fn mv(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.len() < 2 {
        return usage(sh, "mv", io).await;
    }
    let (sources, dest, dest_is_dir) = sources_and_dest(sh, &ops);
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    for src in sources {
        let node = match sh.vfs().lookup(&cwd, src, false) {
            Ok((_, n)) => n.clone(),
            Err(e) => {
                fail_quoted(sh, io, "mv", "can't rename ", src, e).await;
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
            sh.vfs_mut().place(&cwd, &target, node, false)
        };
        match placed.and_then(|_| sh.vfs_mut().unlink(&cwd, src)) {
            Ok(()) => {}
            Err(e) => {
                fail_quoted(sh, io, "mv", "can't rename ", src, e).await;
                status = 1;
            }
        }
    }
    status
}

pub(super) async fn rm(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, ops) = options(argv);
    let force = flags.contains(&b'f');
    let recursive = flags.iter().any(|f| matches!(f, b'r' | b'R'));
    if ops.is_empty() {
        return if force { 0 } else { usage(sh, "rm", io).await };
    }
    let mut status = 0;
    let cwd = sh.cwd().to_vec();
    for op in ops {
        match sh.vfs().lookup(&cwd, &op, false) {
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
                    fail_quoted(sh, io, "rm", "can't remove ", &op, e).await;
                    status = 1;
                }
            }
            Ok(_) => {
                if let Err(e) = sh.vfs_mut().unlink(&cwd, &op) {
                    fail_quoted(sh, io, "rm", "can't remove ", &op, e).await;
                    status = 1;
                }
            }
            Err(e) => {
                if !force {
                    fail_quoted(sh, io, "rm", "can't remove ", &op, e).await;
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
            .vfs()
            .lookup(b"/", &path, false)
            .is_ok_and(|(_, n)| n.is_dir());
        if !is_dir {
            sh.vfs_mut().unlink(b"/", &path)?;
        } else if visited {
            sh.vfs_mut().rmdir(b"/", &path)?;
        } else {
            stack.push((path.clone(), true));
            for name in sh.vfs().list(&path) {
                stack.push(([&path[..], b"/", &name[..]].concat(), false));
            }
        }
    }
    Ok(())
}

pub(super) async fn mkdir(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, ops) = options(argv);
    if ops.is_empty() {
        return usage(sh, "mkdir", io).await;
    }
    let parents = flags.contains(&b'p');
    let now = sh.now_secs();
    let cwd = sh.cwd().to_vec();
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
                    .vfs()
                    .lookup(b"/", &path, true)
                    .is_ok_and(|(_, n)| n.is_dir())
                {
                    continue;
                }
                r = sh.vfs_mut().mkdir(b"/", &path, now);
                if r.is_err() {
                    break;
                }
            }
            r
        } else {
            sh.vfs_mut().mkdir(&cwd, &op, now)
        };
        if let Err(e) = result {
            fail_quoted(sh, io, "mkdir", "can't create directory ", &op, e).await;
            status = 1;
        }
    }
    status
}

pub(super) async fn rmdir(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.is_empty() {
        return usage(sh, "rmdir", io).await;
    }
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    for op in ops {
        if let Err(e) = sh.vfs_mut().rmdir(&cwd, &op) {
            fail_quoted(sh, io, "rmdir", "", &op, e).await;
            status = 1;
        }
    }
    status
}

pub(super) async fn touch(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (_, ops) = options(argv);
    if ops.is_empty() {
        return usage(sh, "touch", io).await;
    }
    let cwd = sh.cwd().to_vec();
    let now = sh.now_secs();
    let mut status = 0;
    for op in ops {
        let exists = sh.vfs().lookup(&cwd, &op, true).is_ok();
        let r = if exists {
            sh.vfs_mut().chmod(&cwd, &op, |m| m).map(|_| ())
        } else {
            sh.vfs_mut().write(&cwd, &op, b"", true, now).map(|_| ())
        };
        if let Err(e) = r {
            fail_plain(sh, io, "touch", &op, e).await;
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

pub(super) async fn chmod(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    for file in files {
        if let Err(e) = sh.vfs_mut().chmod(&cwd, file, &f) {
            fail_plain(sh, io, "chmod", file, e).await;
            status = 1;
        }
    }
    status
}

pub(super) async fn ln(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (flags, ops) = options(argv);
    let [target, link] = ops.as_slice() else {
        return usage(sh, "ln", io).await;
    };
    let cwd = sh.cwd().to_vec();
    let force = flags.contains(&b'f');
    if !force && sh.vfs().lookup(&cwd, link, false).is_ok() {
        fail_plain(sh, io, "ln", link, Errno::Exists).await;
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
        match sh.vfs().lookup(&cwd, target, true) {
            Ok((_, n)) => n.clone(),
            Err(e) => {
                fail_plain(sh, io, "ln", target, e).await;
                return 1;
            }
        }
    };
    match sh.vfs_mut().place(&cwd, link, node, false) {
        Ok(_) => 0,
        Err(e) => {
            fail_plain(sh, io, "ln", link, e).await;
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

pub(super) async fn dd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
    let cwd = sh.cwd().to_vec();
    // The whole of a stored file to the terminal goes by reference, as `cat` does.
    if let (Some(path), None, 0) = (&input, &output, skip) {
        if let Ok((_, Node::File(_, content))) = sh.vfs().read(&cwd, path) {
            let whole = count.is_none_or(|c| c.saturating_mul(bs) >= content.len());
            if whole && content.len() <= crate::shell::exec::MAX_READ {
                if let Some(bytes) = content.shared() {
                    let len = bytes.len() as u64;
                    sh.write_shared(&io.stdout, bytes).await;
                    sh.write(&io.stderr, dd_records(len, bs).as_bytes()).await;
                    return 0;
                }
            }
        }
    }
    let data: Vec<u8> = match &input {
        Some(path) => match sh.vfs().read(&cwd, path) {
            Ok((_, Node::File(_, content))) if !matches!(content, Content::Proc(_)) => {
                let want = count
                    .map_or(crate::shell::exec::MAX_READ, |c| c.saturating_mul(bs))
                    .min(crate::shell::exec::MAX_READ);
                content.slice(skip.saturating_mul(bs), want)
            }
            Ok(_) => {
                let all = sh.read_file(&cwd, path).unwrap_or_default();
                all.get((skip.saturating_mul(bs) as usize).min(all.len())..)
                    .unwrap_or_default()
                    .to_vec()
            }
            Err(e) => {
                fail_quoted(sh, io, "dd", "can't open ", path, e).await;
                return 1;
            }
        },
        None => {
            let all = sh.stdin_bytes(io).await;
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
    match &output {
        Some(path) => {
            let now = sh.now_secs();
            let null = matches!(
                sh.vfs().lookup(&cwd, path, true),
                Ok((_, Node::Char(_, SpecialFile::Null)))
            );
            if !null {
                if let Err(e) = sh.vfs_mut().write(&cwd, path, &data, false, now) {
                    fail_quoted(sh, io, "dd", "can't open ", path, e).await;
                    return 1;
                }
            }
        }
        None => sh.write(&io.stdout, &data).await,
    }
    sh.write(&io.stderr, dd_records(data.len() as u64, bs).as_bytes())
        .await;
    0
}

/// dd's report for `len` bytes in blocks of `bs`.
fn dd_records(len: u64, bs: u64) -> String {
    let full = len / bs;
    let partial = u64::from(!len.is_multiple_of(bs));
    format!("{full}+{partial} records in\n{full}+{partial} records out\n")
}

pub(super) async fn head(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
            let cwd = sh.cwd().to_vec();
            match sh.read_file(&cwd, f) {
                Ok(d) => d,
                Err(e) => {
                    fail_quoted(sh, io, "head", "can't open ", f, e).await;
                    return 1;
                }
            }
        }
        None => sh.stdin_bytes(io).await,
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

pub(super) async fn wc(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
        let data = sh.stdin_bytes(io).await;
        let out = render(count(&data), None);
        sh.write(&io.stdout, &out).await;
        return 0;
    }
    let cwd = sh.cwd().to_vec();
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
                fail_plain(sh, io, "wc", f, e).await;
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

/// `tail`.
pub(super) async fn tail(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    // The old `tail -N` form is `-n N`.
    let argv: Vec<Vec<u8>> = match argv.get(1) {
        Some(a)
            if a.len() > 1 && a.starts_with(b"-") && a.iter().skip(1).all(u8::is_ascii_digit) =>
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

/// Paths `find` reports at most (a bound on one command's work and output).
const MAX_FIND_RESULTS: usize = 10_000;
/// Directory depth `find` descends at most.
const MAX_FIND_DEPTH: usize = 64;
/// One `find` test or action.
enum Primary {
    Name(Vec<u8>, bool),
    Path(Vec<u8>),
    Type(u8),
    Not(Box<Primary>),
    Print,
    Exec(Vec<Vec<u8>>, bool),
}

pub(super) async fn find(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
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
                    err(sh, io, "find", &msg).await;
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
                            err(sh, io, "find", &msg).await;
                            return Ok(super::usage(sh, "find", io).await);
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
                    err(sh, io, "find", b"-exec CMD must end by ';' or '+'").await;
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
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    let mut batched: Vec<Vec<u8>> = Vec::new();
    let mut found = 0usize;
    for root in roots {
        let Ok((canonical, _)) = sh.vfs().lookup(&cwd, &root, true) else {
            let msg = [root.as_slice(), b": No such file or directory"].concat();
            err(sh, io, "find", &msg).await;
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
            let Ok((_, node)) = sh.vfs().lookup(b"/", &real, false) else {
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
                let names = sh.vfs().list(&real);
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
    err(sh, io, "find", &msg).await;
    super::usage(sh, "find", io).await
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
                crate::shell::glob::matches(
                    &pattern.to_ascii_lowercase(),
                    &name.to_ascii_lowercase(),
                )
            } else {
                crate::shell::glob::matches(pattern, name)
            }
        }
        Primary::Path(pattern) => crate::shell::glob::matches(pattern, shown),
        Primary::Type(t) => kind as u8 == if *t == b'f' { b'-' } else { *t },
        Primary::Not(inner) => !find_test(inner, shown, kind),
        Primary::Print | Primary::Exec(..) => true,
    }
}
