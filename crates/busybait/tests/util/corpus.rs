//! The fidelity corpus (`tests/fidelity/`): cases of command lines in groups, the
//! real BusyBox's committed output for each, and the reviewed allowlist of known
//! differences.
//!
//! `corpus.txt`: `[group NAME]` starts a group, `== NAME` a case, every other
//! non-empty line not starting with `#` is one command line, sent with `\r\n` after
//! it; a line `raw: TEXT` is sent as the bytes TEXT's escapes say (`\r`, `\n`, `\t`,
//! `\e`, `\xHH`, `\\`), with nothing added; `during: TEXT` and `during-raw: TEXT` are
//! typed while the line before them runs (once its line end is echoed).
//!
//! `expected.txt`: `== NAME closed=BOOL` and the output escaped the same way (a real
//! newline in the file after each `\n`, ignored when read), or `== NAME closed=BOOL
//! sha256=HEX len=N` for outputs over [`INLINE_MAX`] bytes.
//!
//! `allowlist.txt`: `NAME: reason` per line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Outputs longer than this are kept as a digest.
pub const INLINE_MAX: usize = 16 * 1024;

/// One case.
#[derive(Clone, Debug)]
pub struct Case {
    pub group: String,
    pub name: String,
    /// What to send, one item per wait for the prompt.
    pub lines: Vec<Vec<u8>>,
    /// Items typed while the one before runs (`during: TEXT`), by index.
    pub during: Vec<usize>,
}

/// The corpus directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity")
}

/// Reads `corpus.txt`.
pub fn load(path: &Path) -> Vec<Case> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut cases: Vec<Case> = Vec::new();
    let mut group = String::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(g) = line
            .strip_prefix("[group ")
            .and_then(|g| g.strip_suffix(']'))
        {
            group = g.to_string();
        } else if let Some(name) = line.strip_prefix("== ") {
            assert!(!group.is_empty(), "{}: a case before any [group]", at());
            assert!(
                !cases.iter().any(|c| c.name == name),
                "{}: case {name} twice",
                at()
            );
            cases.push(Case {
                group: group.clone(),
                name: name.to_string(),
                lines: Vec::new(),
                during: Vec::new(),
            });
        } else {
            let case = cases
                .last_mut()
                .unwrap_or_else(|| panic!("{}: a command line before any case", at()));
            if let Some(text) = line.strip_prefix("during: ") {
                case.during.push(case.lines.len());
                case.lines.push([text.as_bytes(), b"\r\n"].concat());
                continue;
            }
            if let Some(raw) = line.strip_prefix("during-raw: ") {
                case.during.push(case.lines.len());
                case.lines.push(unescape(raw));
                continue;
            }
            let bytes = match line.strip_prefix("raw: ") {
                Some(raw) => unescape(raw),
                None => {
                    let mut b = line.as_bytes().to_vec();
                    b.extend_from_slice(b"\r\n");
                    b
                }
            };
            case.lines.push(bytes);
        }
    }
    for c in &cases {
        assert!(!c.lines.is_empty(), "case {} has no command line", c.name);
    }
    cases
}

/// Escapes bytes for the corpus files.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    let mut line_start = true;
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x1b => out.push_str("\\e"),
            // A line may not start with '=' (it would read as a case header).
            b'=' if line_start => out.push_str("\\x3d"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        line_start = b == b'\n';
    }
    out
}

/// Undoes [`escape`] (real newlines are layout only).
pub fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.bytes().peekable();
    while let Some(c) = chars.next() {
        match c {
            b'\n' => {}
            b'\\' => match chars.next() {
                Some(b'\\') => out.push(b'\\'),
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b't') => out.push(b'\t'),
                Some(b'e') => out.push(0x1b),
                Some(b'x') => {
                    let hi = chars.next().unwrap_or(b'0');
                    let lo = chars.next().unwrap_or(b'0');
                    let hex = [hi, lo];
                    let s = std::str::from_utf8(&hex).unwrap_or("00");
                    out.push(u8::from_str_radix(s, 16).unwrap_or_else(|_| panic!("bad \\x{s}")));
                }
                other => panic!("unknown escape \\{:?}", other.map(char::from)),
            },
            _ => out.push(c),
        }
    }
    out
}

/// What the real BusyBox printed for a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The bytes.
    Bytes { out: Vec<u8>, closed: bool },
    /// A long output, by digest.
    Digest {
        sha256: String,
        len: usize,
        closed: bool,
    },
}

impl Expected {
    /// How a transcript is kept.
    pub fn of(out: &[u8], closed: bool) -> Self {
        if out.len() > INLINE_MAX {
            Self::Digest {
                sha256: hex::encode(Sha256::digest(out)),
                len: out.len(),
                closed,
            }
        } else {
            Self::Bytes {
                out: out.to_vec(),
                closed,
            }
        }
    }
}

/// Reads `expected.txt`.
pub fn load_expected(path: &Path) -> BTreeMap<String, Expected> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    let mut current: Option<(String, bool)> = None;
    let mut body = String::new();
    let mut finish = |current: &mut Option<(String, bool)>, body: &mut String| {
        if let Some((name, closed)) = current.take() {
            out.insert(
                name,
                Expected::Bytes {
                    out: unescape(body),
                    closed,
                },
            );
        }
        body.clear();
    };
    let mut digests = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix("== ") {
            finish(&mut current, &mut body);
            let fields: Vec<&str> = header.split_whitespace().collect();
            let name = fields.first().map(|s| s.to_string()).unwrap_or_default();
            let get = |k: &str| {
                fields
                    .iter()
                    .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            };
            let closed = get("closed") == Some("true");
            match (get("sha256"), get("len")) {
                (Some(sha), Some(len)) => digests.push((
                    name,
                    Expected::Digest {
                        sha256: sha.to_string(),
                        len: len.parse().unwrap_or(0),
                        closed,
                    },
                )),
                _ => current = Some((name, closed)),
            }
        } else {
            body.push_str(line);
        }
    }
    finish(&mut current, &mut body);
    out.extend(digests);
    out
}

/// Writes `expected.txt` (cases in corpus order).
pub fn write_expected(path: &Path, cases: &[Case], expected: &BTreeMap<String, Expected>) {
    let mut text = String::from(
        "# What Debian's busybox-static 1.35.0 printed for each case of corpus.txt, after\n\
         # the login (see tests/util/corpus.rs for the format). Written by\n\
         # BUSYBAIT_FIDELITY_BLESS=1 cargo nextest run --test heavy_shell_oracle; checked\n\
         # against the live oracle on every run.\n",
    );
    for case in cases {
        match expected.get(&case.name) {
            Some(Expected::Bytes { out, closed }) => {
                let _ = writeln!(text, "== {} closed={closed}", case.name);
                text.push_str(&escape(out));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            Some(Expected::Digest {
                sha256,
                len,
                closed,
            }) => {
                let _ = writeln!(
                    text,
                    "== {} closed={closed} sha256={sha256} len={len}",
                    case.name
                );
            }
            None => {}
        }
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Reads `allowlist.txt`: case name to the reason it may differ.
pub fn load_allowlist(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, reason) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("allowlist line without a reason: {l}"));
            (name.trim().to_string(), reason.trim().to_string())
        })
        .collect()
}

/// The commands of the two real sessions (Cowrie logs in `testdata/sessions`), each
/// one case of the group `real-sessions`.
pub fn real_sessions() -> Vec<Case> {
    ["satori-telnet-2023-12-12", "gafgyt-ssh-2023-12-09"]
        .iter()
        .map(|name| {
            let path = super::testdata()
                .join("sessions")
                .join(format!("{name}.cowrie.jsonl"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let lines: Vec<Vec<u8>> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|e| e["eventid"] == "cowrie.command.input")
                .map(|e| {
                    let mut line = e["input"].as_str().unwrap().as_bytes().to_vec();
                    line.extend_from_slice(b"\r\n");
                    line
                })
                .collect();
            assert!(!lines.is_empty(), "{}: no commands", path.display());
            Case {
                group: "real-sessions".into(),
                name: format!("real-{name}"),
                lines,
                during: Vec::new(),
            }
        })
        .collect()
}
