//! What the pty does to a command's output on its way to the client, then telnet's
//! IAC doubling: each `\n` becomes `\r\n` (ONLCR), each tab the spaces to the next
//! multiple of 8 (XTABS), and the cursor column is followed for the next write.
//!
//! The same megabyte goes through here in every Mirai loader session (`cat
//! /bin/echo`: the device's BusyBox). Only the bytes before the first line break
//! depend on the column the output starts at, so a long stored file is encoded once,
//! at column 0 ([`encode_file`]), kept ([`EncodedFiles`]), and each session encodes
//! only that first line itself and sends the rest by reference.

use std::sync::{Arc, Mutex};

use super::escape_iac;

/// Encodes `all` for the wire starting at `column` onto `out`; returns the column
/// after it.
pub fn encode(all: &[u8], column: usize, out: &mut Vec<u8>) -> usize {
    encode_with(all, column, out, escape_iac)
}

/// What the pty alone does (ONLCR, XTABS), with no telnet after it: a pty behind
/// another door (an SSH channel).
pub fn encode_pty(all: &[u8], column: usize, out: &mut Vec<u8>) -> usize {
    encode_with(all, column, out, |run, out| out.extend_from_slice(run))
}

fn encode_with(
    all: &[u8],
    column: usize,
    out: &mut Vec<u8>,
    copy_run: fn(&[u8], &mut Vec<u8>),
) -> usize {
    out.reserve(all.len() + all.len() / 16);
    let mut column = column;
    // The cursor column is counted only where it matters (a tab, a backspace, the
    // end): bytes before a CR or LF never are (a binary has many).
    let mut uncounted = 0;
    let mut pos = 0;
    loop {
        // Only four bytes are converted or move the cursor other than forward; copy
        // everything up to the next one whole (binaries are long), with telnet's IAC
        // doubling on the way.
        let rest = all.get(pos..).unwrap_or_default();
        let run = rest.get(..next_column_special(rest)).unwrap_or(rest);
        copy_run(run, out);
        pos += run.len();
        let Some(&b) = all.get(pos) else {
            break;
        };
        let counted = all.get(uncounted..pos).unwrap_or_default();
        pos += 1;
        match b {
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                column = 0;
            }
            b'\r' => {
                out.push(b);
                column = 0;
            }
            b'\t' => {
                column += printable_count(counted);
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(b' ', spaces));
                column += spaces;
            }
            _ => {
                // Backspace, the fourth.
                column += printable_count(counted);
                out.push(b);
                column = column.saturating_sub(1);
            }
        }
        uncounted = pos;
    }
    column + printable_count(all.get(uncounted..).unwrap_or_default())
}

/// C's `isspace()` in the C locale.
/// Index of the first `\n`, `\r`, `\t` or backspace (the bytes `tty_write` converts
/// or that move the cursor other than one forward), or the length. SIMD searches
/// (memchr): a loader `cat`s megabytes of binary through here.
pub(crate) fn next_column_special(bytes: &[u8]) -> usize {
    let line = memchr::memchr3(b'\n', b'\r', b'\t', bytes).unwrap_or(bytes.len());
    let head = bytes.get(..line).unwrap_or(bytes);
    memchr::memchr(8, head).unwrap_or(line)
}

/// Bytes of `run` that move the cursor one column (all but the C0 controls and DEL),
/// counted in blocks of 255 into a byte so that the loop vectorises.
fn printable_count(run: &[u8]) -> usize {
    run.chunks(255)
        .map(|block| {
            block.iter().fold(0u8, |n, &b| {
                n + u8::from(b >= 0x80 || (0x20..0x7f).contains(&b))
            })
        })
        .map(usize::from)
        .sum()
}
/// A stored file encoded once for every session.
#[derive(Debug)]
pub struct EncodedFile {
    /// The file.
    source: Arc<Vec<u8>>,
    /// Where its first line break is: the bytes before it are encoded by each session
    /// at its own column.
    head: usize,
    /// The whole file encoded at column 0.
    wire: Arc<Vec<u8>>,
    /// Where in `wire` the bytes after the head begin.
    wire_after_head: usize,
    /// The column after the whole file (the same from any start: it has a break).
    end_column: usize,
}

impl EncodedFile {
    /// The file's bytes before its first line break.
    pub fn head<'a>(&self, source: &'a [u8]) -> &'a [u8] {
        source.get(..self.head).unwrap_or_default()
    }

    /// The encoded bytes that follow the head (the same for every start column).
    pub fn wire(&self) -> (&Arc<Vec<u8>>, usize) {
        (&self.wire, self.wire_after_head)
    }

    /// The column after the whole file.
    pub fn end_column(&self) -> usize {
        self.end_column
    }
}

/// Encodes `source` at column 0 and notes where its first line break falls; `None`
/// when it has none (then every byte depends on the start column).
pub fn encode_file(source: Arc<Vec<u8>>) -> Option<EncodedFile> {
    let head = memchr::memchr2(b'\n', b'\r', &source)?;
    let mut wire = Vec::new();
    encode(source.get(..head).unwrap_or_default(), 0, &mut wire);
    let wire_after_head = wire.len();
    let end_column = encode(source.get(head..).unwrap_or_default(), 0, &mut wire);
    Some(EncodedFile {
        source,
        head,
        wire: Arc::new(wire),
        wire_after_head,
        end_column,
    })
}

/// Stored files encoded so far, shared by every session of a listener (in practice
/// the device's BusyBox and its copies). Bounded: the oldest goes when it is full.
#[derive(Debug, Default)]
pub struct EncodedFiles {
    files: Mutex<Vec<Arc<EncodedFile>>>,
}

/// Encoded files kept at most.
const MAX_ENCODED_FILES: usize = 4;

impl EncodedFiles {
    /// `source` encoded (found by identity, or encoded now and kept).
    pub fn get(&self, source: &Arc<Vec<u8>>) -> Option<Arc<EncodedFile>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.iter().find(|f| Arc::ptr_eq(&f.source, source)) {
            return Some(f.clone());
        }
        let encoded = Arc::new(encode_file(source.clone())?);
        if files.len() >= MAX_ENCODED_FILES {
            files.remove(0);
        }
        files.push(encoded.clone());
        Some(encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a session sends for `source` starting at `column`: its head encoded there,
    /// then the shared rest.
    fn fast(file: &EncodedFile, source: &[u8], column: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        encode(file.head(source), column, &mut out);
        let (wire, from) = file.wire();
        out.extend_from_slice(wire.get(from..).unwrap_or_default());
        (out, file.end_column())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

        #[test]
        fn the_shared_encoding_is_byte_for_byte_the_slow_one(
            bytes in proptest::collection::vec(prop_oneof![
                Just(b'\n'), Just(b'\r'), Just(b'\t'), Just(8u8), Just(0xffu8), Just(0u8),
                Just(0x7fu8), any::<u8>(), 0x20u8..0x7f,
            ], 0..400),
            column in 0usize..200,
        ) {
            let source = Arc::new(bytes);
            let mut slow = Vec::new();
            let slow_end = encode(&source, column, &mut slow);
            match encode_file(source.clone()) {
                Some(file) => {
                    let (fast_bytes, fast_end) = fast(&file, &source, column);
                    prop_assert_eq!(fast_bytes, slow);
                    prop_assert_eq!(fast_end, slow_end);
                }
                None => prop_assert!(!source.iter().any(|&b| b == b'\n' || b == b'\r')),
            }
        }
    }

    #[test]
    fn files_are_encoded_once_by_identity() {
        let cache = EncodedFiles::default();
        let a = Arc::new(b"\x7fELF\tx\ny\xff".to_vec());
        let first = cache.get(&a).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get(&a).unwrap()));
        // Equal bytes elsewhere are another file (identity, not content).
        let b = Arc::new(a.as_ref().clone());
        assert!(!Arc::ptr_eq(&first, &cache.get(&b).unwrap()));
        assert!(cache.get(&Arc::new(b"no break".to_vec())).is_none());
        for i in 0..10u8 {
            cache.get(&Arc::new(vec![i, b'\n']));
        }
        assert!(cache.files.lock().unwrap().len() <= MAX_ENCODED_FILES);
    }
}
