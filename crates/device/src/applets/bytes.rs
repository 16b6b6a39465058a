//! The byte views: `od`, `hexdump`, `xxd` (and its `-r`), `base64`, and the
//! checksums `md5sum`, `sha1sum`, `sha256sum`: what a loader uses to look at or
//! carry the bytes it drops.

use std::fmt::Write as _;

use crate::shell::exec::{Io, Sh};
use crate::vfs::Errno;

use super::*;

/// `od`.
pub(super) async fn od(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, files) = args(argv, b"tAN");
    let (data, status) = inputs(sh, name, &files, io).await;
    let out = od_dump(&data, &opts);
    sh.write(&io.stdout, &out).await;
    status
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
fn od_dump(data: &[u8], opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
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

/// `hexdump`.
pub(super) async fn hexdump(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, files) = args(argv, b"n");
    let (data, status) = inputs(sh, name, &files, io).await;
    let out = hexdump_dump(&data, has(&opts, b'C'));
    sh.write(&io.stdout, &out).await;
    status
}

/// BusyBox `hexdump`: 2-byte hex words by default, `-C` the canonical hex+ASCII
/// form; rows of 16 bytes, a short last row padded, the end offset last.
fn hexdump_dump(data: &[u8], canonical: bool) -> Vec<u8> {
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

/// `md5sum`, `sha1sum`, `sha256sum`.
pub(super) async fn md5sum(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    use sha2::Digest;
    let (_, files) = args(argv, b"");
    let files = if files.is_empty() {
        vec![b"-".to_vec()]
    } else {
        files
    };
    let cwd = sh.cwd().to_vec();
    let mut status = 0;
    for f in files {
        let data = if f.as_slice() == b"-" {
            Some(sh.stdin_bytes(io).await)
        } else {
            sh.read_file(&cwd, &f).ok()
        };
        let Some(data) = data else {
            fail_quoted(sh, io, name, "can't open ", &f, Errno::NoEnt).await;
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

/// `base64`.
pub(super) async fn base64(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let (opts, files) = args(argv, b"");
    let (data, status) = inputs(sh, name, &files, io).await;
    if status != 0 {
        return status;
    }
    let out = if has(&opts, b'd') {
        base64_decode(&data)
    } else {
        base64_encode(&data)
    };
    sh.write(&io.stdout, &out).await;
    0
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

/// Bytes `xxd -r` decodes at most.
const MAX_XXD_REVERSE: usize = 1 << 20;

pub(super) async fn xxd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
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
}
