//! Session recordings in `sessions/`: `<id>.cast` (asciicast v2, for watching with
//! `busybait replay` or `asciinema play`) and `<id>.raw`, the exact bytes in both
//! directions with their times.
//!
//! The raw file is a sequence of records: one byte direction (`i` from the client, `o`
//! to it), the time since the session started in microseconds (u64, little-endian),
//! the length (u32, little-endian), then the bytes. The cast shows the output with the
//! telnet commands taken out and invalid UTF-8 replaced (asciicast is text); the raw
//! file keeps everything. Both are capped at `max_bytes`; past it recording stops and
//! `truncated()` says so.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::StoreError;

/// Directory in the data dir.
pub const SESSIONS_DIR: &str = "sessions";

/// One session's recording.
#[derive(Debug)]
pub struct Recording {
    cast: BufWriter<File>,
    raw: BufWriter<File>,
    path: PathBuf,
    written: u64,
    max_bytes: u64,
    truncated: bool,
    telnet: TelnetStripper,
}

/// Removes IAC sequences from output for the viewable cast.
#[derive(Debug, Default)]
struct TelnetStripper {
    state: u8,
}

impl TelnetStripper {
    fn strip(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            self.state = match (self.state, b) {
                (0, 0xff) => 1,
                (0, _) => {
                    out.push(b);
                    0
                }
                (1, 0xff) => {
                    out.push(0xff);
                    0
                }
                (1, 251..=254) => 2,
                (1, _) => 0,
                (_, _) => 0,
            };
        }
        out
    }
}

impl Recording {
    /// Starts `sessions/<id>.cast` and `.raw`.
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
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let cast_path = dir.join(format!("{id}.cast"));
        let raw_path = dir.join(format!("{id}.raw"));
        let cast = File::create(&cast_path).map_err(|e| StoreError::io(&cast_path, e))?;
        let raw = File::create(&raw_path).map_err(|e| StoreError::io(&raw_path, e))?;
        let mut rec = Self {
            cast: BufWriter::new(cast),
            raw: BufWriter::new(raw),
            path: cast_path,
            written: 0,
            max_bytes,
            truncated: false,
            telnet: TelnetStripper::default(),
        };
        let header = serde_json::json!({
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": started_unix,
            "title": title,
            "env": {"TERM": "vt100", "SHELL": "/bin/sh"},
        });
        writeln!(rec.cast, "{header}").map_err(|e| StoreError::io(&rec.path, e))?;
        Ok(rec)
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
        self.written += data.len() as u64;
        let micros = u64::try_from(at.as_micros()).unwrap_or(u64::MAX);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let io = |e| StoreError::io(&self.path, e);
        self.raw
            .write_all(&[if input { b'i' } else { b'o' }])
            .map_err(io)?;
        self.raw.write_all(&micros.to_le_bytes()).map_err(io)?;
        self.raw.write_all(&len.to_le_bytes()).map_err(io)?;
        self.raw.write_all(data).map_err(io)?;
        let shown = if input {
            data.to_vec()
        } else {
            self.telnet.strip(data)
        };
        if !shown.is_empty() {
            let text = String::from_utf8_lossy(&shown);
            let line = serde_json::json!([at.as_secs_f64(), if input { "i" } else { "o" }, text]);
            writeln!(self.cast, "{line}").map_err(|e| StoreError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Flushes both files.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.cast
            .flush()
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.raw.flush().map_err(|e| StoreError::io(&self.path, e))
    }
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

/// Reads a raw file back (a torn last record is dropped).
pub fn read_raw(path: &Path) -> Result<Vec<RawRecord>, StoreError> {
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
        out.push(RawRecord {
            input: dir == b'i',
            at: Duration::from_micros(micros),
            data: data.to_vec(),
        });
        i += 13 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_and_raw_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut r =
            Recording::create(dir.path(), "abc", "t", 80, 24, 1_795_000_000, 1 << 20).unwrap();
        r.record(Duration::from_millis(1), false, b"\xff\xfd\x01login: ")
            .unwrap();
        r.record(Duration::from_millis(5), true, b"root\r\n")
            .unwrap();
        r.record(Duration::from_millis(9), false, b"\x7fELF\x00\x80")
            .unwrap();
        r.finish().unwrap();
        let raw = read_raw(&dir.path().join("sessions/abc.raw")).unwrap();
        assert_eq!(raw.len(), 3);
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
        assert_eq!(lines[3][2], "\u{7f}ELF\u{0}\u{fffd}");
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
