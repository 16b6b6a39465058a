//! `events.jsonl`: one Cowrie-compatible JSON object per line.
//!
//! Each batch is written with one `write` and flushed to the OS at once, so a crash of
//! the sensor process (even `kill -9`) loses only events still in memory queues;
//! `fsync` runs every `fsync_interval` (and at shutdown), which bounds what a power
//! loss can take. A torn last line (from a crash mid-write) is moved to
//! `events.jsonl.torn` on the next start, so the log stays valid JSON lines.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Record, Sink, StoreError};

/// File name in the data dir.
pub const JSONL_FILE: &str = "events.jsonl";
/// Where a torn last line is kept.
pub const TORN_FILE: &str = "events.jsonl.torn";

/// The JSON-lines sink.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    file: File,
    fsync_interval: Duration,
    last_sync: Instant,
    dirty: bool,
    buf: Vec<u8>,
}

impl JsonlSink {
    /// Opens (creating) the file; returns the sink, the last sequence number in it,
    /// and how many bytes of a torn last line were moved aside.
    pub fn open(dir: &Path, fsync_interval: Duration) -> Result<(Self, u64, u64), StoreError> {
        let path = dir.join(JSONL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let torn = repair_torn_tail(&path, &mut file, &dir.join(TORN_FILE))?;
        let last = last_seq(&path, &mut file)?;
        Ok((
            Self {
                path,
                file,
                fsync_interval,
                last_sync: Instant::now(),
                dirty: false,
                buf: Vec::new(),
            },
            last,
            torn,
        ))
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
        for r in batch {
            self.buf.extend_from_slice(r.json.as_bytes());
            self.buf.push(b'\n');
        }
        let before = self
            .file
            .metadata()
            .map_err(|e| StoreError::io(&self.path, e))?
            .len();
        if let Err(e) = self.file.write_all(&self.buf) {
            // Undo a partial write so that a retry does not leave half a line behind.
            let _ = self.file.set_len(before);
            return Err(StoreError::io(&self.path, e));
        }
        self.dirty = true;
        Ok(())
    }

    fn tick(&mut self) -> Result<(), StoreError> {
        if self.last_sync.elapsed() >= self.fsync_interval {
            self.sync()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.sync()
    }
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
