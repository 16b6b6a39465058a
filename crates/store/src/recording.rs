//! Session recordings in `sessions/`: `<id>.cast` (asciicast v2, for watching with
//! `busybait replay` or `asciinema play`) and `<id>.raw`, the exact bytes in both
//! directions with their times.
//!
//! The raw file is a sequence of records: one byte direction (`i` from the client, `o`
//! to it), the time since the session started in microseconds (u64, little-endian),
//! the length (u32, little-endian), then the bytes. The cast shows the output with the
//! telnet commands taken out; binary output (a `cat` of an executable, which every
//! Mirai loader does) appears there as one `[binary output: N bytes ...]` line, since
//! asciicast is text and escaping megabytes of it into JSON costs more than the whole
//! emulation. The raw file keeps everything. Both are capped at `max_bytes`; past it
//! recording stops and `truncated()` says so.
//!
//! Output pieces of [`BLOB_MIN_BYTES`] or more go to `sessions/blobs/<sha256>` once
//! and the raw file holds an `O` record with the 32-byte digest instead: the loader
//! of every Mirai session `cat`s the same megabyte of our own synthetic BusyBox, and
//! keeping it once instead of once per session is the difference between a few
//! megabytes and gigabytes a day. [`read_raw`] puts the bytes back.
//!
//! Neither file is held open: each is appended to in pieces of [`SPOOL_BYTES`] (and at
//! the end), so that 20,000 idle sessions cost 20,000 sockets, not 60,000 descriptors.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::StoreError;

/// Directory in the data dir.
pub const SESSIONS_DIR: &str = "sessions";

/// Output pieces at least this long are kept once, by content, in [`BLOBS_DIR`].
pub const BLOB_MIN_BYTES: usize = 8 * 1024;

/// Where output pieces kept by content live, under the data dir.
pub const BLOBS_DIR: &str = "sessions/blobs";

/// Digests remembered as stored; past this the set starts again (and a lookup on
/// disk answers instead).
const MAX_KNOWN_BLOBS: usize = 65_536;

/// Recently stored pieces kept in memory with their digests, so that the same
/// output (every loader's `cat /bin/echo`) is recognised by comparing bytes instead
/// of hashing them again: at most this many pieces…
const RECENT_BLOBS: usize = 32;
/// …and this many bytes.
const RECENT_BLOB_BYTES: usize = 4 * 1024 * 1024;

/// Content-addressed output pieces shared by every recording of a sensor.
#[derive(Debug)]
pub struct Blobs {
    dir: PathBuf,
    /// Digests stored, with the day (since the epoch) their file was last touched.
    known: Mutex<HashMap<[u8; 32], u64>>,
    /// Newest last: (digest, the piece).
    recent: Mutex<std::collections::VecDeque<([u8; 32], Vec<u8>)>>,
    /// Pieces shared by every session (a stored file the door encoded once), known by
    /// identity: their digest and how the cast shows them, computed once.
    shared: Mutex<Vec<SharedPiece>>,
}

/// A shared output piece, as recordings keep it.
#[derive(Debug)]
struct SharedPiece {
    /// The bytes (held, so the identity stays theirs).
    bytes: Arc<Vec<u8>>,
    /// Where in them the piece starts.
    from: usize,
    digest: [u8; 32],
    /// What the cast shows: (binary bytes, text after them), or `None` for text.
    shown: Option<(usize, String)>,
}

/// Shared pieces remembered (the device's BusyBox, in practice one or two).
const MAX_SHARED_PIECES: usize = 4;

impl Blobs {
    /// Opens (creates) `sessions/blobs` in the data dir.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join(BLOBS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(Self {
            dir,
            known: Mutex::new(HashMap::new()),
            recent: Mutex::new(std::collections::VecDeque::new()),
            shared: Mutex::new(Vec::new()),
        })
    }

    /// The digest of `data`: from the recent pieces when it is one of them (compared
    /// byte for byte), else computed and remembered.
    fn digest(&self, data: &[u8]) -> [u8; 32] {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((digest, _)) = recent.iter().find(|(_, piece)| piece.as_slice() == data) {
            return *digest;
        }
        let digest: [u8; 32] = Sha256::digest(data).into();
        if data.len() <= RECENT_BLOB_BYTES {
            let mut held: usize = recent.iter().map(|(_, p)| p.len()).sum();
            while recent.len() >= RECENT_BLOBS || held + data.len() > RECENT_BLOB_BYTES {
                match recent.pop_front() {
                    Some((_, old)) => held -= old.len(),
                    None => break,
                }
            }
            recent.push_back((digest, data.to_vec()));
        }
        digest
    }

    /// Stores `data` unless it is there already; returns its digest and whether it
    /// was new.
    fn store(&self, data: &[u8]) -> Result<([u8; 32], bool), StoreError> {
        let digest = self.digest(data);
        self.store_as(digest, data)
    }

    /// A shared piece's digest and cast view: known by identity, or worked out once.
    fn shared(&self, bytes: &Arc<Vec<u8>>, from: usize) -> ([u8; 32], Option<(usize, String)>) {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = shared
            .iter()
            .find(|p| Arc::ptr_eq(&p.bytes, bytes) && p.from == from)
        {
            return (p.digest, p.shown.clone());
        }
        let data = bytes.get(from..).unwrap_or_default();
        let digest: [u8; 32] = Sha256::digest(data).into();
        let stripped = TelnetStripper::default().strip(data);
        let shown = binary_split(&stripped).map(|(n, text)| (n, text.to_string()));
        if shared.len() >= MAX_SHARED_PIECES {
            shared.remove(0);
        }
        shared.push(SharedPiece {
            bytes: bytes.clone(),
            from,
            digest,
            shown: shown.clone(),
        });
        (digest, shown)
    }

    /// Stores `data` under `digest` unless it is there already; whether it was new.
    /// A blob in use has its modification time renewed once a day, so that retention
    /// (which removes blobs untouched for longer than recordings are kept) never
    /// takes one a kept recording needs; one pruned meanwhile is written again.
    fn store_as(&self, digest: [u8; 32], data: &[u8]) -> Result<([u8; 32], bool), StoreError> {
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.get(&digest) == Some(&today) {
            return Ok((digest, false));
        }
        let path = self.dir.join(hex::encode(digest));
        let renewed = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        let new = renewed.is_err();
        if new {
            // Whole or absent: write aside, then rename into place.
            let tmp = self.dir.join(format!(".tmp-{}", hex::encode(digest)));
            std::fs::write(&tmp, data).map_err(|e| StoreError::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
        }
        if known.len() >= MAX_KNOWN_BLOBS {
            known.clear();
        }
        known.insert(digest, today);
        Ok((digest, new))
    }
}

/// Bytes a recording buffers per file before appending them to it.
pub const SPOOL_BYTES: usize = 64 * 1024;

/// A file appended to in pieces, open only while a piece is written, and made only
/// when its first piece is: a short session's recording is then one `open` per file,
/// at its end, instead of a creation, a header and a last piece (each an `open`).
#[derive(Debug)]
struct Spool {
    path: PathBuf,
    buf: Vec<u8>,
    /// Whether the file exists (was made by this spool).
    made: bool,
}

impl Spool {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            buf: Vec::new(),
            made: false,
        }
    }

    fn append(&mut self, data: &[u8]) -> Result<(), StoreError> {
        if self.buf.len() + data.len() < SPOOL_BYTES {
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        self.flush_with(data)
    }

    /// Appends the buffer and then `more` in one opening of the file (making it).
    fn flush_with(&mut self, more: &[u8]) -> Result<(), StoreError> {
        if self.made && self.buf.is_empty() && more.is_empty() {
            return Ok(());
        }
        self.write_out(more, false)
    }

    /// Writes what is buffered and `more`, making the file if it is not there yet;
    /// `read_only`: the file is left read-only (made so, or set so after).
    fn write_out(&mut self, more: &[u8], read_only: bool) -> Result<(), StoreError> {
        let io = |e| StoreError::io(&self.path, e);
        let mut options = OpenOptions::new();
        if self.made {
            options.append(true);
        } else {
            // A file left by an earlier run under the same id is replaced.
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            if read_only {
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o444);
            }
        }
        let opened = match options.open(&self.path) {
            // The directory is made with the first recording (or again, if removed).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.made => {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                }
                options.open(&self.path)
            }
            opened => opened,
        };
        let mut file = opened.map_err(io)?;
        self.made = true;
        file.write_all(&self.buf).map_err(io)?;
        file.write_all(more).map_err(io)?;
        self.buf.clear();
        if read_only {
            let mut permissions = file.metadata().map_err(io)?.permissions();
            if !permissions.readonly() {
                permissions.set_readonly(true);
                file.set_permissions(permissions).map_err(io)?;
            }
        }
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // A session that ended without `finish` (a panic) still leaves what it had.
        if !self.buf.is_empty() {
            let _ = self.flush_with(&[]);
        }
    }
}

/// One session's recording.
#[derive(Debug)]
pub struct Recording {
    cast: Spool,
    raw: Spool,
    written: u64,
    max_bytes: u64,
    truncated: bool,
    /// Takes telnet's commands out of the terminal view (none for a door whose
    /// terminal has no telnet in it, such as an SSH channel).
    telnet: Option<TelnetStripper>,
    /// Binary output not yet summarised in the cast: (time of its first byte, length).
    binary: Option<(Duration, u64)>,
    /// Where long output pieces go; without it they stay inline.
    blobs: Option<Arc<Blobs>>,
}

/// Removes IAC sequences from output for the viewable cast.
#[derive(Debug, Default)]
struct TelnetStripper {
    state: u8,
}

impl TelnetStripper {
    fn strip(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        loop {
            if self.state == 0 {
                // Outside a command, copy up to the next IAC in one go.
                let at = memchr::memchr(0xff, data).unwrap_or(data.len());
                let (run, rest) = data.split_at_checked(at).unwrap_or((data, &[]));
                out.extend_from_slice(run);
                match rest.get(1..) {
                    Some(after_iac) => {
                        self.state = 1;
                        data = after_iac;
                    }
                    None => return out,
                }
            }
            let Some((&b, rest)) = data.split_first() else {
                return out;
            };
            data = rest;
            self.state = match (self.state, b) {
                (1, 0xff) => {
                    out.push(0xff);
                    0
                }
                (1, 251..=254) => 2,
                _ => 0,
            };
        }
    }
}

impl Recording {
    /// Starts `sessions/<id>.cast` and `.raw` (the files are made when first written).
    pub fn create(
        data_dir: &Path,
        id: &str,
        title: &str,
        width: u16,
        height: u16,
        started_unix: u64,
        max_bytes: u64,
    ) -> Result<Self, StoreError> {
        let dir = data_dir.join(SESSIONS_DIR);
        let cast_path = dir.join(format!("{id}.cast"));
        let raw_path = dir.join(format!("{id}.raw"));
        let mut rec = Self {
            cast: Spool::new(cast_path),
            raw: Spool::new(raw_path),
            written: 0,
            max_bytes,
            truncated: false,
            telnet: Some(TelnetStripper::default()),
            binary: None,
            blobs: None,
        };
        let header = serde_json::json!({
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": started_unix,
            "title": title,
            "env": {"TERM": "vt100", "SHELL": "/bin/sh"},
        });
        rec.cast.buf = format!("{header}\n").into_bytes();
        Ok(rec)
    }

    /// Keeps long output pieces in `blobs`, once for all sessions.
    pub fn with_blobs(mut self, blobs: Arc<Blobs>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// A recording of a terminal with no telnet in it (an SSH channel): its 0xFF
    /// bytes are the terminal's own.
    pub fn without_telnet(mut self) -> Self {
        self.telnet = None;
        self
    }

    /// Whether bytes are buffered that are not in the files yet.
    pub fn buffered(&self) -> bool {
        !self.cast.buf.is_empty() || !self.raw.buf.is_empty() || self.binary.is_some()
    }

    /// Appends what is buffered to the files and lets the buffers go (a session gone
    /// quiet keeps no memory for its recording, and its bytes reach the disk).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.end_binary()?;
        self.cast.flush_with(&[])?;
        self.raw.flush_with(&[])?;
        self.cast.buf = Vec::new();
        self.raw.buf = Vec::new();
        Ok(())
    }

    /// Whether the cap stopped the recording.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Records bytes: `input` true for client to device.
    pub fn record(&mut self, at: Duration, input: bool, data: &[u8]) -> Result<(), StoreError> {
        if data.is_empty() || self.truncated {
            return Ok(());
        }
        if self.written + data.len() as u64 > self.max_bytes {
            self.truncated = true;
            return Ok(());
        }
        let micros = u64::try_from(at.as_micros()).unwrap_or(u64::MAX);
        let by_reference = match &self.blobs {
            Some(blobs) if !input && data.len() >= BLOB_MIN_BYTES => Some(blobs.store(data)?),
            _ => None,
        };
        // The cap counts what this recording put on disk.
        self.written += match by_reference {
            Some((_, false)) => 32,
            _ => data.len() as u64,
        };
        let (kind, body) = match &by_reference {
            Some((digest, _)) => (b'O', &digest[..]),
            None => (if input { b'i' } else { b'o' }, data),
        };
        self.raw_record(kind, micros, body)?;
        if input {
            self.end_binary()?;
            return self.cast_line(at, "i", &String::from_utf8_lossy(data));
        }
        let shown = match &mut self.telnet {
            Some(t) => t.strip(data),
            None => data.to_vec(),
        };
        let split = binary_split(&shown).map(|(n, text)| (n, text.to_string()));
        self.cast_output(at, &shown, split)
    }

    /// Appends one record to the raw file: kind, microseconds, length, body.
    fn raw_record(&mut self, kind: u8, micros: u64, body: &[u8]) -> Result<(), StoreError> {
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let mut head = [0u8; 13];
        head[0] = kind;
        head[1..9].copy_from_slice(&micros.to_le_bytes());
        head[9..].copy_from_slice(&len.to_le_bytes());
        self.raw.append(&head)?;
        self.raw.append(body)
    }

    /// Output in the cast: text as it is; a run of binary as one summary line when it
    /// ends, then the text after it (`split`: [`binary_split`] of `shown`).
    fn cast_output(
        &mut self,
        at: Duration,
        shown: &[u8],
        split: Option<(usize, String)>,
    ) -> Result<(), StoreError> {
        match split {
            None => {
                self.end_binary()?;
                self.cast_line(at, "o", &String::from_utf8_lossy(shown))
            }
            Some((binary_len, text)) => {
                let run = self.binary.get_or_insert((at, 0));
                run.1 += binary_len as u64;
                if text.is_empty() {
                    return Ok(());
                }
                self.end_binary()?;
                self.cast_line(at, "o", &text)
            }
        }
    }

    /// Records output shared by every session (`bytes` from `from`: a stored file the
    /// door encoded once): by reference to its blob, its digest and cast view worked
    /// out once for all recordings. Without blobs, as any output.
    pub fn record_shared(
        &mut self,
        at: Duration,
        bytes: &Arc<Vec<u8>>,
        from: usize,
    ) -> Result<(), StoreError> {
        let data = bytes.get(from..).unwrap_or_default();
        let Some(blobs) = self.blobs.clone() else {
            return self.record(at, false, data);
        };
        if data.is_empty() || self.truncated {
            return Ok(());
        }
        let (digest, shown) = blobs.shared(bytes, from);
        let (_, new) = blobs.store_as(digest, data)?;
        let cost = if new { data.len() as u64 } else { 32 };
        if self.written + cost > self.max_bytes {
            self.truncated = true;
            return Ok(());
        }
        self.written += cost;
        let micros = u64::try_from(at.as_micros()).unwrap_or(u64::MAX);
        self.raw_record(b'O', micros, &digest)?;
        self.cast_output(at, data, shown)
    }

    /// Writes the summary line of a finished run of binary output.
    fn end_binary(&mut self) -> Result<(), StoreError> {
        if let Some((at, len)) = self.binary.take() {
            let unit = if len == 1 { "byte" } else { "bytes" };
            let text = format!("[binary output: {len} {unit}; exact bytes in the .raw file]\r\n");
            self.cast_line(at, "o", &text)?;
        }
        Ok(())
    }

    fn cast_line(&mut self, at: Duration, kind: &str, text: &str) -> Result<(), StoreError> {
        if text.is_empty() {
            return Ok(());
        }
        // `[time, kind, text]` straight into the spool when it fits (no JSON value,
        // no copies of the text).
        let spool = &mut self.cast;
        let start = spool.buf.len();
        let line = (at.as_secs_f64(), kind, text);
        if let Err(e) = serde_json::to_writer(&mut spool.buf, &line) {
            spool.buf.truncate(start);
            return Err(StoreError::Corrupt {
                path: spool.path.clone(),
                problem: format!("cannot encode a cast line: {e}"),
            });
        }
        spool.buf.push(b'\n');
        if spool.buf.len() < SPOOL_BYTES {
            return Ok(());
        }
        spool.flush_with(&[])
    }

    /// Writes the rest of both files (making them if nothing was written yet), and
    /// leaves the cast read-only: that is how the fleet's shipper tells a finished
    /// recording from one still being written ([`finished`]).
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.end_binary()?;
        self.raw.write_out(&[], false)?;
        self.cast.write_out(&[], true)
    }
}

/// Whether the recording at `cast` (a `sessions/<id>.cast`) is finished: its session
/// ended and [`Recording::finish`] wrote the last of it. `None` if there is none.
pub fn finished(cast: &Path) -> Option<bool> {
    std::fs::metadata(cast)
        .ok()
        .map(|m| m.permissions().readonly())
}

/// Splits output that is not plain text (invalid UTF-8 or a NUL byte) into the length
/// of its binary part and the text after the last non-text byte (a prompt that follows
/// a `cat` of a binary in the same write). `None` for plain text.
fn binary_split(data: &[u8]) -> Option<(usize, &str)> {
    if memchr::memchr(0, data).is_none() && std::str::from_utf8(data).is_ok() {
        return None;
    }
    // Cheap on megabytes of binary: the text after it is ASCII (a prompt).
    let from = data
        .iter()
        .rposition(|&b| b == 0 || b >= 0x80)
        .map_or(0, |i| i + 1);
    let text = data
        .get(from..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or_default();
    Some((from, text))
}

/// One record of a raw file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// From the client.
    pub input: bool,
    /// Since the session started.
    pub at: Duration,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Reads a raw file back (a torn last record is dropped); output kept by content is
/// read from `blobs/` beside it.
pub fn read_raw(path: &Path) -> Result<Vec<RawRecord>, StoreError> {
    let blobs = path.parent().unwrap_or(Path::new(".")).join("blobs");
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let mut out = Vec::new();
    let mut i = 0usize;
    while let (Some(&dir), Some(t), Some(l)) = (
        bytes.get(i),
        bytes.get(i + 1..i + 9),
        bytes.get(i + 9..i + 13),
    ) {
        let micros = u64::from_le_bytes(t.try_into().unwrap_or_default());
        let len = u32::from_le_bytes(l.try_into().unwrap_or_default()) as usize;
        let Some(data) = bytes.get(i + 13..i + 13 + len) else {
            break;
        };
        let data = if dir == b'O' {
            let blob = blobs.join(hex::encode(data));
            std::fs::read(&blob).map_err(|e| StoreError::io(&blob, e))?
        } else {
            data.to_vec()
        };
        out.push(RawRecord {
            input: dir == b'i',
            at: Duration::from_micros(micros),
            data,
        });
        i += 13 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_recording_is_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let cast = dir.path().join(SESSIONS_DIR).join("abc.cast");
        assert_eq!(finished(&cast), None);
        let mut r = Recording::create(dir.path(), "abc", "t", 80, 24, 0, 1 << 20).unwrap();
        r.record(Duration::from_millis(1), false, b"login: ")
            .unwrap();
        assert_eq!(finished(&cast), None, "made when first written");
        r.flush().unwrap();
        assert_eq!(finished(&cast), Some(false), "still being written");
        r.record(Duration::from_millis(2), false, b"# ").unwrap();
        r.finish().unwrap();
        assert_eq!(finished(&cast), Some(true));
        assert!(std::fs::read_to_string(&cast)
            .unwrap()
            .ends_with("login: \"]\n[0.002,\"o\",\"# \"]\n"));
    }

    #[test]
    fn a_short_recording_is_made_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recording::create(dir.path(), "abc", "t", 80, 24, 0, 1 << 20).unwrap();
        r.record(Duration::from_millis(1), false, b"login: ")
            .unwrap();
        r.finish().unwrap();
        let sessions = dir.path().join(SESSIONS_DIR);
        assert_eq!(finished(&sessions.join("abc.cast")), Some(true));
        assert_eq!(finished(&sessions.join("abc.raw")), Some(false));
        assert_eq!(read_raw(&sessions.join("abc.raw")).unwrap().len(), 1);
    }

    #[test]
    fn cast_and_raw_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut r =
            Recording::create(dir.path(), "abc", "t", 80, 24, 1_795_000_000, 1 << 20).unwrap();
        r.record(Duration::from_millis(1), false, b"\xff\xfd\x01login: ")
            .unwrap();
        r.record(Duration::from_millis(5), true, b"root\r\n")
            .unwrap();
        r.record(Duration::from_millis(9), false, b"\x7fELF\x01\x00\x80")
            .unwrap();
        r.record(Duration::from_millis(10), false, b"\x00\x00\r\n# ")
            .unwrap();
        r.record(Duration::from_millis(11), true, b"ls\r\n")
            .unwrap();
        r.record(Duration::from_millis(12), false, b"\xff\xff\x01")
            .unwrap();
        r.finish().unwrap();
        let raw = read_raw(&dir.path().join("sessions/abc.raw")).unwrap();
        assert_eq!(raw.len(), 6);
        assert_eq!(raw[2].data, b"\x7fELF\x01\x00\x80");
        assert_eq!(raw[0].data, b"\xff\xfd\x01login: ");
        assert!(raw[1].input);
        let cast = std::fs::read_to_string(dir.path().join("sessions/abc.cast")).unwrap();
        let lines: Vec<serde_json::Value> = cast
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[1], serde_json::json!([0.001, "o", "login: "]));
        assert_eq!(lines[2], serde_json::json!([0.005, "i", "root\r\n"]));
        // The binary run becomes one summary line at its start; the prompt after it
        // in the same write stays text.
        let summary =
            |n: u32| format!("[binary output: {n} bytes; exact bytes in the .raw file]\r\n");
        assert_eq!(lines[3], serde_json::json!([0.009, "o", summary(9)]));
        assert_eq!(lines[4], serde_json::json!([0.01, "o", "\r\n# "]));
        assert_eq!(lines[5], serde_json::json!([0.011, "i", "ls\r\n"]));
        // An escaped 0xff (IAC IAC) is one invalid byte of output, summarised at the end.
        assert_eq!(
            lines[6],
            serde_json::json!([
                0.012,
                "o",
                "[binary output: 1 byte; exact bytes in the .raw file]\r\n"
            ])
        );
        assert_eq!(lines[7], serde_json::json!([0.012, "o", "\u{1}"]));
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn a_terminal_without_telnet_keeps_its_ff_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recording::create(dir.path(), "s", "t", 80, 24, 0, 1 << 20)
            .unwrap()
            .without_telnet();
        r.record(Duration::from_millis(1), false, "é\u{ff}x".as_bytes())
            .unwrap();
        r.record(Duration::from_millis(2), false, b"a\xff\xfbb")
            .unwrap();
        r.finish().unwrap();
        let cast = std::fs::read_to_string(dir.path().join("sessions/s.cast")).unwrap();
        assert!(cast.contains("[0.001,\"o\",\"éÿx\"]"), "{cast}");
        // Not taken for IAC WILL: three bytes that are not text, shown as such.
        assert!(cast.contains("[binary output: 3 bytes"), "{cast}");
    }

    #[test]
    fn telnet_commands_are_stripped_across_writes() {
        let mut t = TelnetStripper::default();
        assert_eq!(t.strip(b"ab\xff"), b"ab");
        assert_eq!(t.strip(b"\xfb"), b"");
        assert_eq!(t.strip(b"\x01cd\xff\xffe\xff\xf1f"), b"cd\xffef");
    }

    #[test]
    fn shared_output_is_recorded_by_reference_as_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(Blobs::open(dir.path()).unwrap());
        let mut wire = b"head\r\n".to_vec();
        wire.extend((0..100_000u32).map(|i| (i * 7 % 251) as u8));
        let wire = Arc::new(wire);
        let shared_part = wire.get(6..).unwrap().to_vec();
        for id in ["a", "b", "c"] {
            let mut r = Recording::create(dir.path(), id, "t", 80, 24, 0, 1 << 20)
                .unwrap()
                .with_blobs(blobs.clone());
            r.record(Duration::from_millis(1), false, b"x").unwrap();
            r.record_shared(Duration::from_millis(2), &wire, 6).unwrap();
            r.record(Duration::from_millis(3), false, b"# ").unwrap();
            r.finish().unwrap();
            let raw = read_raw(&dir.path().join(format!("sessions/{id}.raw"))).unwrap();
            let data: Vec<&[u8]> = raw.iter().map(|r| r.data.as_slice()).collect();
            assert_eq!(data, [&b"x"[..], &shared_part[..], b"# "]);
            let cast =
                std::fs::read_to_string(dir.path().join(format!("sessions/{id}.cast"))).unwrap();
            assert!(cast.contains("[binary output: 100000 bytes"), "{cast}");
        }
        let kept: Vec<_> = std::fs::read_dir(dir.path().join(BLOBS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(kept, [hex::encode(Sha256::digest(&shared_part))]);
        assert_eq!(blobs.shared.lock().unwrap().len(), 1, "worked out once");
    }

    #[test]
    fn long_output_is_kept_once_for_all_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(Blobs::open(dir.path()).unwrap());
        let binary: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 256) as u8).collect();
        for id in ["a", "b"] {
            let mut r = Recording::create(dir.path(), id, "t", 80, 24, 0, 1 << 20)
                .unwrap()
                .with_blobs(blobs.clone());
            r.record(Duration::from_millis(1), true, b"cat /bin/echo\r\n")
                .unwrap();
            r.record(Duration::from_millis(2), false, &binary).unwrap();
            r.record(Duration::from_millis(3), false, b"# ").unwrap();
            r.finish().unwrap();
            let raw = read_raw(&dir.path().join(format!("sessions/{id}.raw"))).unwrap();
            let data: Vec<&[u8]> = raw.iter().map(|r| r.data.as_slice()).collect();
            assert_eq!(data, [&b"cat /bin/echo\r\n"[..], &binary[..], b"# "]);
            assert_eq!(
                std::fs::metadata(dir.path().join(format!("sessions/{id}.raw")))
                    .unwrap()
                    .len(),
                (13 + 15) + (13 + 32) + (13 + 2),
                "the binary is a reference"
            );
        }
        let kept: Vec<_> = std::fs::read_dir(dir.path().join(BLOBS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(kept, [hex::encode(Sha256::digest(&binary))]);
    }

    #[test]
    fn cap_stops_recording() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recording::create(dir.path(), "x", "t", 80, 24, 0, 10).unwrap();
        r.record(Duration::ZERO, false, b"123456").unwrap();
        r.record(Duration::ZERO, false, b"123456").unwrap();
        assert!(r.truncated());
        r.finish().unwrap();
        assert_eq!(
            read_raw(&dir.path().join("sessions/x.raw")).unwrap().len(),
            1
        );
    }
}
