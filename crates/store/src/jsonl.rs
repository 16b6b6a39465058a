//! `events.jsonl`: one Cowrie-compatible JSON object per line.
//!
//! Each batch is written with one `write` and flushed to the OS at once, so a crash of
//! the sensor process (even `kill -9`) loses only events still in memory queues;
//! `fsync` runs every `fsync_interval` (and at shutdown), which bounds what a power
//! loss can take. A torn last line (from a crash mid-write) is moved to
//! `events.jsonl.torn` on the next start, so the log stays valid JSON lines.
//!
//! The file rotates daily (and by size, if set) as [`crate::rotate`] describes; the
//! sequence numbers run on across files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::rotate::{self, Compressor, Rotation};
use crate::{Record, Sink, StoreError};

/// File name in the data dir.
pub const JSONL_FILE: &str = "events.jsonl";
/// Where a torn last line is kept.
pub const TORN_FILE: &str = "events.jsonl.torn";

/// The JSON-lines sink.
#[derive(Debug)]
pub struct JsonlSink {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    fsync_interval: Duration,
    last_sync: Instant,
    dirty: bool,
    buf: Vec<u8>,
    rotation: Rotation,
    /// The UTC day (`YYYY-MM-DD`) of the live file's first event.
    day: Option<String>,
    /// The live file's length.
    len: u64,
    /// The last event's UTC day, as a day number and as `YYYY-MM-DD` (formatted
    /// once a day, not once per event).
    last_day: (u64, String),
    compressor: Option<Compressor>,
}

impl JsonlSink {
    /// Opens (creating) the file; returns the sink, the last sequence number written
    /// (in it, or in the newest rotated file when it is empty), and how many bytes of
    /// a torn last line were moved aside. Cleans up after a rotation or compression a
    /// crash interrupted, and compresses what was left uncompressed.
    pub fn open(
        dir: &Path,
        fsync_interval: Duration,
        rotation: Rotation,
    ) -> Result<(Self, u64, u64), StoreError> {
        let path = dir.join(JSONL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let torn = repair_torn_tail(&path, &mut file, &dir.join(TORN_FILE))?;
        let mut last = last_seq(&path, &mut file)?;
        if last == 0 {
            if let Some(newest) = rotate::list(dir, JSONL_FILE)?.last() {
                if let Some(line) = rotate::last_line(&newest.path)? {
                    last = seq_of(&newest.path, &line)?;
                }
            }
        }
        let day = first_day(&path)?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        let pending = rotate::recover(dir, JSONL_FILE)?;
        let compressor = if rotation.compress {
            let c = Compressor::start()?;
            for p in pending {
                c.queue(p);
            }
            Some(c)
        } else {
            None
        };
        Ok((
            Self {
                dir: dir.to_path_buf(),
                path,
                file,
                fsync_interval,
                last_sync: Instant::now(),
                dirty: false,
                buf: Vec::new(),
                rotation,
                day,
                len,
                last_day: (u64::MAX, String::new()),
                compressor,
            },
            last,
            torn,
        ))
    }

    /// Whether a line of `line_len` bytes of an event of `day` starts a new file.
    fn due(&self, day: &str, line_len: usize) -> bool {
        if self.len == 0 && self.buf.is_empty() {
            return false;
        }
        let new_day = self.rotation.daily && self.day.as_deref().is_some_and(|d| d < day);
        let too_big = self.rotation.max_bytes > 0
            && self.len + (self.buf.len() + line_len) as u64 > self.rotation.max_bytes;
        new_day || too_big
    }

    /// Writes what is buffered with one `write`, undoing a partial one.
    fn flush_buf(&mut self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            // Undo a partial write so that a retry does not leave half a line behind.
            let _ = self.file.set_len(self.len);
            return Err(StoreError::io(&self.path, e));
        }
        self.len += self.buf.len() as u64;
        self.buf.clear();
        self.dirty = true;
        Ok(())
    }

    /// Closes the live file under its day's name and starts a new one.
    fn rotate(&mut self) -> Result<(), StoreError> {
        self.file
            .sync_all()
            .map_err(|e| StoreError::io(&self.path, e))?;
        let day = self.day.clone().unwrap_or_else(|| "1970-01-01".to_string());
        let closed = rotate::next_path(&self.dir, JSONL_FILE, &day);
        std::fs::rename(&self.path, &closed).map_err(|e| StoreError::io(&closed, e))?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| StoreError::io(&self.path, e))?;
        rotate::sync_dir(&self.path)?;
        self.len = 0;
        self.day = None;
        self.dirty = false;
        tracing::info!(file = %closed.display(), "rotated events.jsonl");
        if let Some(c) = &self.compressor {
            c.queue(closed);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| StoreError::io(&self.path, e))?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

impl Sink for JsonlSink {
    fn write_batch(&mut self, batch: &[Arc<Record>]) -> Result<(), StoreError> {
        self.buf.clear();
        // A retried batch starts from what the file holds.
        self.len = self
            .file
            .metadata()
            .map_err(|e| StoreError::io(&self.path, e))?
            .len();
        for r in batch {
            let number = r
                .event
                .time
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() / 86_400);
            if number != self.last_day.0 {
                let stamp = busybait_events::format_timestamp(r.event.time);
                let name = stamp.get(..10).unwrap_or("1970-01-01").to_string();
                self.last_day = (number, name);
            }
            let day = std::mem::take(&mut self.last_day.1);
            let due = self.due(&day, r.json.len() + 1);
            self.last_day.1 = day;
            if due {
                self.flush_buf()?;
                self.rotate()?;
            }
            if self.day.is_none() {
                self.day = Some(self.last_day.1.clone());
            }
            self.buf.extend_from_slice(r.json.as_bytes());
            self.buf.push(b'\n');
        }
        self.flush_buf()
    }

    fn tick(&mut self) -> Result<(), StoreError> {
        if self.last_sync.elapsed() >= self.fsync_interval {
            self.sync()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.sync()?;
        if let Some(c) = &mut self.compressor {
            c.finish();
        }
        Ok(())
    }
}

/// The UTC day of a file's first event, if it has one.
fn first_day(path: &Path) -> Result<Option<String>, StoreError> {
    let mut reader = rotate::open_lines(path)?;
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut reader, b'\n', &mut line)
        .map_err(|e| StoreError::io(path, e))?;
    if line.is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&line).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: format!("first line is not JSON: {e}"),
        })?;
    Ok(value
        .get("timestamp")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| t.get(..10))
        .map(str::to_string))
}

/// The `seq` of one JSON line.
fn seq_of(path: &Path, line: &[u8]) -> Result<u64, StoreError> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: format!("last line is not JSON: {e}"),
        })?;
    Ok(value
        .get("seq")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

/// Moves an unterminated last line to `torn_path`; returns its length.
fn repair_torn_tail(path: &Path, file: &mut File, torn_path: &Path) -> Result<u64, StoreError> {
    let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    if len == 0 {
        return Ok(0);
    }
    let (start, tail) = read_tail(path, file, len, 1 << 20)?;
    if tail.last() == Some(&b'\n') {
        return Ok(0);
    }
    let cut = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => start + i as u64 + 1,
        None if start == 0 => 0,
        None => {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                problem: "last line is over 1 MiB and unterminated".into(),
            })
        }
    };
    let torn = tail.get((cut - start) as usize..).unwrap_or_default();
    let mut out = OpenOptions::new()
        .append(true)
        .create(true)
        .open(torn_path)
        .map_err(|e| StoreError::io(torn_path, e))?;
    out.write_all(torn)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.sync_data())
        .map_err(|e| StoreError::io(torn_path, e))?;
    file.set_len(cut).map_err(|e| StoreError::io(path, e))?;
    file.sync_data().map_err(|e| StoreError::io(path, e))?;
    tracing::warn!(path = %path.display(), bytes = torn.len(), "moved a torn last line to {}", torn_path.display());
    Ok(torn.len() as u64)
}

fn read_tail(
    path: &Path,
    file: &mut File,
    len: u64,
    max: u64,
) -> Result<(u64, Vec<u8>), StoreError> {
    let start = len.saturating_sub(max);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))
        .map_err(|e| StoreError::io(path, e))?;
    file.take(max)
        .read_to_end(&mut tail)
        .map_err(|e| StoreError::io(path, e))?;
    Ok((start, tail))
}

/// The `seq` of the last line, or 0.
fn last_seq(path: &Path, file: &mut File) -> Result<u64, StoreError> {
    let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    if len == 0 {
        return Ok(0);
    }
    let (_, tail) = read_tail(path, file, len, 1 << 20)?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let line = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    seq_of(path, line)
}
