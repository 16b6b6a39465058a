//! A disk budget for the whole data dir (`[retention] max_data_bytes`): what it
//! holds, measured, and room made when it nears the budget by removing the oldest
//! prunable data first: recordings (then the blobs no kept recording can use), then
//! rotated event files, then the database's oldest `events` rows (where the
//! database gives freed pages back: one made by this version), then samples. The
//! live event log and the per-session tables are never shrunk here; when nothing
//! prunable is left the sensor refuses new sessions instead.

use std::path::Path;
use std::time::SystemTime;

use crate::jsonl::JSONL_FILE;
use crate::recording::{BLOBS_DIR, SESSIONS_DIR};
use crate::retention::{Pruned, PrunedByClass, DAY};
use crate::samples::SAMPLES_DIR;
use crate::StoreError;

/// Bytes the files under `dir` hold (what a disk budget counts).
pub fn data_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// A file that may go to make room, with when it was last written.
struct Candidate {
    path: std::path::PathBuf,
    modified: SystemTime,
    len: u64,
}

/// Files of `dir` that `wanted` names, oldest first.
fn oldest_first(dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&wanted))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file().then(|| Candidate {
                path: e.path(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                len: meta.len(),
            })
        })
        .collect();
    out.sort_by_key(|c| c.modified);
    out
}

/// Makes room under a disk budget: removes the oldest prunable data, recordings
/// first (and the blobs older than every recording left), then rotated event files,
/// then the database's oldest `events` rows (its file shrinks where it was made with
/// `auto_vacuum`), then samples, until `excess` bytes are gone or nothing prunable is
/// left. The per-session tables and the live event log are never shrunk here. Event
/// rows after `shipped_through` (the fleet's cursor, when shipping is on) stay, and so
/// do the recordings of sessions closed after
/// `recordings_shipped_through` (the fleet's recordings cursor), and the samples
/// those events name. `pause` runs between the database's steps (the sensor's event
/// writer gets the database there). Returns what each class gave up and the bytes
/// freed.
pub fn make_room(
    data_dir: &Path,
    excess: u64,
    shipped_through: Option<u64>,
    recordings_shipped_through: Option<u64>,
    pause: &mut dyn FnMut(),
) -> Result<(PrunedByClass, u64), StoreError> {
    let mut freed = 0u64;
    let mut out = Vec::new();
    let remove = |c: &Candidate, p: &mut Pruned, freed: &mut u64| -> Result<(), StoreError> {
        let before = p.bytes;
        crate::retention::remove_counted(&c.path, c.len, false, p)?;
        *freed += p.bytes - before;
        Ok(())
    };
    let sessions = data_dir.join(SESSIONS_DIR);
    let unshipped = crate::retention::unshipped_recordings(data_dir, recordings_shipped_through)?;
    let recordings = oldest_first(&sessions, |n| crate::retention::is_recording(n, &unshipped));
    let mut p = Pruned::default();
    let mut oldest_kept = None;
    for c in &recordings {
        if freed >= excess {
            oldest_kept = Some(c.modified);
            break;
        }
        remove(c, &mut p, &mut freed)?;
    }
    out.push(("recordings", p));
    // Blobs no kept recording can use: older, by a day, than the oldest kept one.
    let mut p = Pruned::default();
    let blobs_before = match oldest_kept {
        Some(t) => t.checked_sub(DAY),
        None => Some(SystemTime::now()),
    };
    if let Some(before) = blobs_before {
        for c in oldest_first(&data_dir.join(BLOBS_DIR), |n| {
            n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())
        }) {
            if c.modified >= before {
                break;
            }
            remove(&c, &mut p, &mut freed)?;
        }
    }
    out.push(("recording-blobs", p));
    let mut p = Pruned::default();
    for f in crate::rotate::list(data_dir, JSONL_FILE)? {
        if freed >= excess {
            break;
        }
        let len = std::fs::metadata(&f.path).map_or(0, |m| m.len());
        let c = Candidate {
            path: f.path,
            modified: SystemTime::UNIX_EPOCH,
            len,
        };
        remove(&c, &mut p, &mut freed)?;
    }
    out.push(("event-files", p));
    let db = data_dir.join(crate::sqlite::DB_FILE);
    let p = if freed < excess && db.exists() {
        shrink_event_rows(&db, excess - freed, shipped_through, pause)?
    } else {
        Pruned::default()
    };
    freed += p.bytes;
    out.push(("event-rows", p));
    let mut p = Pruned::default();
    if freed < excess && db.exists() {
        let conn = crate::sqlite::open_read_only(&db)?;
        let unshipped = crate::retention::spare_unshipped_samples(shipped_through);
        let mut stmt = conn.prepare(&format!(
            "SELECT sha256 FROM samples WHERE 1 {unshipped} ORDER BY last_seen"
        ))?;
        let oldest: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let dir = data_dir.join(SAMPLES_DIR);
        for sha in oldest {
            if freed >= excess {
                break;
            }
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let path = dir.join(&sha);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let c = Candidate {
                path,
                modified: SystemTime::UNIX_EPOCH,
                len: meta.len(),
            };
            remove(&c, &mut p, &mut freed)?;
        }
    }
    out.push(("samples", p));
    Ok((out, freed))
}

/// Rows of `events` deleted per step while making room.
const EVENT_ROWS_STEP: usize = 10_000;

/// Deletes the oldest `events` rows (never the newest: it carries the numbering)
/// until the pages they free add up to `excess` bytes or no more can go, then gives
/// the pages back to the file system (the file shrinks at the next checkpoint).
/// Only a database made with `auto_vacuum` shrinks; another is left alone.
fn shrink_event_rows(
    db: &Path,
    excess: u64,
    shipped_through: Option<u64>,
    pause: &mut dyn FnMut(),
) -> Result<Pruned, StoreError> {
    let conn = crate::sqlite::open(db)?;
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    let mut p = Pruned::default();
    if mode == 0 {
        return Ok(p);
    }
    let page: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let free = |conn: &rusqlite::Connection| -> Result<u64, StoreError> {
        Ok(conn.pragma_query_value(None, "freelist_count", |r| r.get::<_, u64>(0))? * page)
    };
    let already = free(&conn)?;
    let unshipped = shipped_through
        .map(|seq| format!("AND seq <= {seq}"))
        .unwrap_or_default();
    let sql = format!(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events
         WHERE seq < (SELECT max(seq) FROM events) {unshipped} ORDER BY seq LIMIT {EVENT_ROWS_STEP})"
    );
    loop {
        let freed = free(&conn)?.saturating_sub(already);
        if freed >= excess {
            break;
        }
        let n = conn.execute(&sql, [])?;
        if n == 0 {
            break;
        }
        p.items += n as u64;
        pause();
    }
    p.bytes = free(&conn)?;
    crate::sqlite::release_free_pages(&conn)?;
    // Written back without waiting for the event writer: the file shrinks now or at
    // SQLite's own next checkpoint.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(p)
}
