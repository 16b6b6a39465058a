//! `ls` with `-l`, `-a`, `-d`, `-1`: BusyBox's long format and column layout.

use crate::vfs::{Node, SpecialFile};

use crate::shell::exec::{Io, Sh};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, minute) in UTC from seconds since the epoch.
pub fn civil(secs: u64) -> (i64, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, (rem / 3600) as u32, ((rem % 3600) / 60) as u32)
}

fn mode_string(node: &Node) -> String {
    let m = node.meta().mode;
    let mut s = String::with_capacity(10);
    s.push(node.type_char());
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, c)) in bits.iter().enumerate() {
        let set = m & bit != 0;
        let ch = match (i, set) {
            (2, _) if m & 0o4000 != 0 => {
                if set {
                    's'
                } else {
                    'S'
                }
            }
            (5, _) if m & 0o2000 != 0 => {
                if set {
                    's'
                } else {
                    'S'
                }
            }
            (8, _) if m & 0o1000 != 0 => {
                if set {
                    't'
                } else {
                    'T'
                }
            }
            (_, true) => *c,
            (_, false) => '-',
        };
        s.push(ch);
    }
    s
}

fn long_line(sh: &Sh, name: &[u8], node: &Node, now: u64) -> Vec<u8> {
    let meta = node.meta();
    let (y, mo, d, h, mi) = civil(meta.mtime);
    let month = MONTHS
        .get(mo.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let recent = meta.mtime + 6 * 30 * 86_400 > now && meta.mtime <= now + 3600;
    let when = if recent {
        format!("{month} {d:2} {h:02}:{mi:02}")
    } else {
        format!("{month} {d:2}  {y}")
    };
    let size = match node {
        Node::Char(_, dev) => {
            let (major, minor) = match dev {
                SpecialFile::Null => (1, 3),
                SpecialFile::Zero => (1, 5),
                SpecialFile::Random => (1, 9),
                SpecialFile::Tty => (5, 0),
            };
            format!("{major:4}, {minor:4}")
        }
        n => format!("{:9}", n.size()),
    };
    let nlink = if node.is_dir() { 2 } else { 1 };
    let _ = sh;
    let mut out = format!(
        "{} {:4} {:<8} {:<8} {} {} ",
        mode_string(node),
        nlink,
        "root",
        "root",
        size,
        when
    )
    .into_bytes();
    out.extend_from_slice(name);
    if let Node::Symlink(_, target) = node {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
    out.push(b'\n');
    out
}

fn columns(names: &[Vec<u8>], width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if names.is_empty() {
        return out;
    }
    let col = names.iter().map(Vec::len).max().unwrap_or(0) + 2;
    let ncols = (width / col.max(1)).max(1);
    let nrows = names.len().div_ceil(ncols);
    for r in 0..nrows {
        for c in 0..ncols {
            let Some(name) = names.get(c * nrows + r) else {
                continue;
            };
            out.extend_from_slice(name);
            let last = names.get((c + 1) * nrows + r).is_none();
            if !last {
                out.extend(std::iter::repeat_n(b' ', col - name.len()));
            }
        }
        out.push(b'\n');
    }
    out
}

/// `ls`.
pub async fn ls(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut long = false;
    let mut all = false;
    let mut dir_only = false;
    let mut one = false;
    let mut ops = Vec::new();
    for a in argv.iter().skip(1) {
        match a.strip_prefix(b"-") {
            Some(flags) if !flags.is_empty() => {
                for f in flags {
                    match f {
                        b'l' => long = true,
                        b'a' | b'A' => all = true,
                        b'd' => dir_only = true,
                        b'1' => one = true,
                        _ => {}
                    }
                }
            }
            _ => ops.push(a.clone()),
        }
    }
    if ops.is_empty() {
        ops.push(b".".to_vec());
    }
    let tty = sh.isatty(&io.stdout);
    let now = sh.now_secs();
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for op in &ops {
        match sh.vfs().lookup(&cwd, op, !long) {
            Ok((canonical, node)) => {
                let is_dir = node.is_dir();
                if is_dir && !dir_only {
                    dirs.push((op.clone(), canonical));
                } else {
                    files.push((op.clone(), node.clone()));
                }
            }
            Err(e) => {
                let mut m = b"ls: ".to_vec();
                m.extend_from_slice(op);
                m.extend_from_slice(format!(": {e}\n").as_bytes());
                sh.write(&io.stderr, &m).await;
                status = 1;
            }
        }
    }
    let mut out = Vec::new();
    let render = |sh: &Sh, entries: &[(Vec<u8>, Node)], out: &mut Vec<u8>| {
        if long {
            for (name, node) in entries {
                out.extend(long_line(sh, name, node, now));
            }
        } else if tty && !one {
            let names: Vec<Vec<u8>> = entries.iter().map(|(n, _)| n.clone()).collect();
            out.extend(columns(&names, sh.term_width()));
        } else {
            for (name, _) in entries {
                out.extend_from_slice(name);
                out.push(b'\n');
            }
        }
    };
    files.sort_by(|a, b| a.0.cmp(&b.0));
    render(sh, &files, &mut out);
    let multiple = ops.len() > 1;
    for (i, (shown, canonical)) in dirs.iter().enumerate() {
        if multiple {
            if i > 0 || !files.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(shown);
            out.extend_from_slice(b":\n");
        }
        let mut entries = Vec::new();
        if all {
            if let Ok((_, n)) = sh.vfs().lookup(b"/", canonical, true) {
                entries.push((b".".to_vec(), n.clone()));
                entries.push((b"..".to_vec(), n.clone()));
            }
        }
        for name in sh.vfs().list(canonical) {
            if !all && name.first() == Some(&b'.') {
                continue;
            }
            let path = if canonical.as_slice() == b"/" {
                [b"/", &name[..]].concat()
            } else {
                [&canonical[..], b"/", &name[..]].concat()
            };
            if let Ok((_, n)) = sh.vfs().lookup(b"/", &path, false) {
                entries.push((name, n.clone()));
            }
        }
        if long {
            // 1 KiB blocks, files on a 4 KiB-block file system.
            let blocks: u64 = entries
                .iter()
                .filter(|(n, _)| n.as_slice() != b"." && n.as_slice() != b"..")
                .map(|(_, node)| match node {
                    Node::File(..) => node.size().div_ceil(4096) * 4,
                    _ => 0,
                })
                .sum();
            out.extend_from_slice(format!("total {blocks}\n").as_bytes());
        }
        render(sh, &entries, &mut out);
    }
    sh.write(&io.stdout, &out).await;
    status
}

#[cfg(test)]
mod tests {
    use super::civil;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0));
        assert_eq!(civil(1_795_670_304), (2026, 11, 26, 5, 18));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0));
    }
}
