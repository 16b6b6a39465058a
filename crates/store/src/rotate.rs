//! Rotation of `events.jsonl`: at the first event of a new UTC day (and, if set,
//! past a size) the file becomes `events.jsonl.YYYY-MM-DD` (`.YYYY-MM-DD.N` for a
//! second file of the same day), a new one is started, and the closed one is
//! compressed to `….gz` beside the sensor's work, as log shippers that follow
//! Cowrie's `cowrie.json.YYYY-MM-DD` expect.
//!
//! Every step is a rename of a complete, synced file, so `kill -9` at any point
//! leaves either the old name or the new one, never half a file under a name a
//! reader takes: compression writes `….gz.tmp` and renames it when whole; on the next
//! start a leftover `.tmp` is removed, an uncompressed file whose `.gz` exists is
//! removed (the rename only happens once the `.gz` is whole), and what is left
//! uncompressed is compressed again. An event is never split: the file is cut
//! between two lines of a batch.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use crate::StoreError;

/// When `events.jsonl` is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// At the first event of each new UTC day.
    pub daily: bool,
    /// When the next line would take the file past this many bytes (0: never).
    pub max_bytes: u64,
    /// Gzip closed files.
    pub compress: bool,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            daily: true,
            max_bytes: 0,
            compress: true,
        }
    }
}

/// A rotated file's place in the order: its day, then its number within the day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rotated {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// 0 for the day's first file, then 1, 2…
    pub index: u32,
    /// Whether it is gzipped.
    pub compressed: bool,
    /// Where it is.
    pub path: PathBuf,
}

/// Parses a rotated file's name (`events.jsonl.2026-12-04`, `….2026-12-04.3.gz`);
/// `None` for anything else (the live file, `.torn`, a `.tmp`).
fn parse(base: &str, name: &str) -> Option<(String, u32, bool)> {
    let rest = name.strip_prefix(base)?.strip_prefix('.')?;
    let (rest, compressed) = match rest.strip_suffix(".gz") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let day = rest.get(..10)?;
    let valid_day = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !valid_day {
        return None;
    }
    let index = match rest.get(10..)? {
        "" => 0,
        more => {
            let n = more.strip_prefix('.')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n.parse().ok()?
        }
    };
    Some((day.to_string(), index, compressed))
}

/// The rotated files of `base` in `dir`, oldest first (a day's file and its `.gz`
/// both listed if both are there).
pub fn list(dir: &Path, base: &str) -> Result<Vec<Rotated>, StoreError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((day, index, compressed)) = parse(base, name) {
            out.push(Rotated {
                day,
                index,
                compressed,
                path: entry.path(),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The name the next file of `day` gets: the first of `….DAY`, `….DAY.1`, … that is
/// free with and without `.gz`.
pub fn next_path(dir: &Path, base: &str, day: &str) -> PathBuf {
    let mut index = 0u32;
    loop {
        let name = if index == 0 {
            format!("{base}.{day}")
        } else {
            format!("{base}.{day}.{index}")
        };
        let path = dir.join(&name);
        if !path.exists() && !dir.join(format!("{name}.gz")).exists() {
            return path;
        }
        index += 1;
    }
}

/// Cleans up after a crash: removes `.gz.tmp` leftovers and files whose `.gz` is
/// whole; returns the rotated files still to compress.
pub fn recover(dir: &Path, base: &str) -> Result<Vec<PathBuf>, StoreError> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(base) && name.ends_with(".gz.tmp") {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
        }
    }
    let files = list(dir, base)?;
    let mut pending = Vec::new();
    for f in files.iter().filter(|f| !f.compressed) {
        let whole = files
            .iter()
            .any(|g| g.compressed && g.day == f.day && g.index == f.index);
        if whole {
            std::fs::remove_file(&f.path).map_err(|e| StoreError::io(&f.path, e))?;
        } else {
            pending.push(f.path.clone());
        }
    }
    Ok(pending)
}

/// Gzips `path` to `path.gz` (through `.gz.tmp`, synced, renamed), then removes it.
pub fn compress(path: &Path) -> Result<(), StoreError> {
    let mut gz = path.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let input = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let out = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    std::io::copy(&mut BufReader::new(input), &mut encoder).map_err(|e| StoreError::io(&tmp, e))?;
    let out = encoder.finish().map_err(|e| StoreError::io(&tmp, e))?;
    out.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
    drop(out);
    std::fs::rename(&tmp, &gz).map_err(|e| StoreError::io(&gz, e))?;
    sync_dir(path)?;
    std::fs::remove_file(path).map_err(|e| StoreError::io(path, e))?;
    Ok(())
}

/// Makes a rename or creation in `path`'s directory durable.
pub fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Reads a rotated (or live) file, gzipped or not, line by line.
pub fn open_lines(path: &Path) -> Result<Box<dyn BufRead>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if is_gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// The last complete line of a rotated file (the whole file is read: once, at
/// start, when the live file is empty).
pub fn last_line(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let mut reader = open_lines(path)?;
    let mut last = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| StoreError::io(path, e))?;
        if n == 0 {
            return Ok(last);
        }
        if line.last() == Some(&b'\n') {
            last = Some(std::mem::take(&mut line));
        }
    }
}

/// Compresses rotated files on a thread of its own, so that the sink never waits
/// for a day's file to be gzipped.
#[derive(Debug)]
pub struct Compressor {
    tx: Option<Sender<PathBuf>>,
    thread: Option<JoinHandle<()>>,
}

impl Compressor {
    /// Starts the thread.
    pub fn start() -> Result<Self, StoreError> {
        let (tx, rx) = channel::<PathBuf>();
        let thread = std::thread::Builder::new()
            .name("jsonl-gzip".into())
            .spawn(move || compress_all(&rx))
            .map_err(|e| StoreError::io(Path::new("jsonl-gzip"), e))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a closed file.
    pub fn queue(&self, path: PathBuf) {
        if let Some(tx) = &self.tx {
            // The thread only stops when this side is dropped.
            let _ = tx.send(path);
        }
    }

    /// Finishes what is queued and stops.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.finish();
    }
}

fn compress_all(rx: &Receiver<PathBuf>) {
    while let Ok(path) = rx.recv() {
        // A failure leaves the file uncompressed, which the next start retries.
        if let Err(e) = compress(&path) {
            tracing::error!(path = %path.display(), error = %e, "cannot compress a rotated events file");
        }
    }
}

/// Reads every line of `base` in `dir`: the rotated files oldest first, then the
/// live file (for tools and tests; the sensor's own read side is the database).
pub fn read_all(dir: &Path, base: &str) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    let files = list(dir, base)?;
    for f in &files {
        // A day's file and its `.gz` both present: the `.gz` is whole, the other
        // is about to go.
        let duplicate = !f.compressed
            && files
                .iter()
                .any(|g| g.compressed && g.day == f.day && g.index == f.index);
        if duplicate {
            continue;
        }
        open_lines(&f.path)?
            .read_to_end(&mut out)
            .map_err(|e| StoreError::io(&f.path, e))?;
    }
    let live = dir.join(base);
    match File::open(&live) {
        Ok(mut f) => {
            f.read_to_end(&mut out)
                .map_err(|e| StoreError::io(&live, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&live, e)),
    }
    Ok(out)
}

/// Writes `bytes` whole to a new file (tests and tools).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = File::create(path).map_err(|e| StoreError::io(path, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_sort_by_day_then_number() {
        let base = "events.jsonl";
        assert_eq!(
            parse(base, "events.jsonl.2026-12-04"),
            Some(("2026-12-04".into(), 0, false))
        );
        assert_eq!(
            parse(base, "events.jsonl.2026-12-04.12.gz"),
            Some(("2026-12-04".into(), 12, true))
        );
        for other in [
            "events.jsonl",
            "events.jsonl.torn",
            "events.jsonl.2026-12-04.gz.tmp",
            "events.jsonl.2026-1-04",
            "events.jsonl.2026-12-04.",
            "events.jsonl.2026-12-04.x",
            "alerts.jsonl.2026-12-04",
        ] {
            assert_eq!(parse(base, other), None, "{other}");
        }
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "events.jsonl.2026-12-04.10.gz",
            "events.jsonl.2026-12-04.2",
            "events.jsonl.2026-12-03.gz",
            "events.jsonl.2026-12-04",
        ] {
            write_new(&dir.path().join(name), b"").unwrap();
        }
        let order: Vec<(String, u32)> = list(dir.path(), base)
            .unwrap()
            .into_iter()
            .map(|r| (r.day, r.index))
            .collect();
        assert_eq!(
            order,
            [
                ("2026-12-03".into(), 0),
                ("2026-12-04".into(), 0),
                ("2026-12-04".into(), 2),
                ("2026-12-04".into(), 10)
            ]
        );
        assert_eq!(
            next_path(dir.path(), base, "2026-12-03"),
            dir.path().join("events.jsonl.2026-12-03.1")
        );
        assert_eq!(
            next_path(dir.path(), base, "2026-12-04"),
            dir.path().join("events.jsonl.2026-12-04.1")
        );
    }

    #[test]
    fn recovery_keeps_whole_files_and_drops_half_written_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let base = "events.jsonl";
        // Compressed and renamed, the original not yet removed.
        write_new(&d.join("events.jsonl.2026-12-01"), b"{\"seq\":1}\n").unwrap();
        compress(&d.join("events.jsonl.2026-12-01")).unwrap();
        write_new(&d.join("events.jsonl.2026-12-01"), b"{\"seq\":1}\n").unwrap();
        // Killed while compressing.
        write_new(&d.join("events.jsonl.2026-12-02"), b"{\"seq\":2}\n").unwrap();
        write_new(&d.join("events.jsonl.2026-12-02.gz.tmp"), b"\x1f\x8b half").unwrap();
        let pending = recover(d, base).unwrap();
        assert_eq!(pending, [d.join("events.jsonl.2026-12-02")]);
        assert!(!d.join("events.jsonl.2026-12-01").exists());
        assert!(!d.join("events.jsonl.2026-12-02.gz.tmp").exists());
        for p in pending {
            compress(&p).unwrap();
        }
        write_new(&d.join(base), b"{\"seq\":3}\n").unwrap();
        assert_eq!(
            read_all(d, base).unwrap(),
            b"{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n"
        );
        assert_eq!(
            last_line(&d.join("events.jsonl.2026-12-02.gz")).unwrap(),
            Some(b"{\"seq\":2}\n".to_vec())
        );
    }
}
