//! Retention: what a data dir keeps, and for how long, by class. A sensor left alone
//! for months sees a million events a day; without this its disk fills in days.
//!
//! | class | what goes | when |
//! |---|---|---|
//! | `event-files` | rotated `events.jsonl.YYYY-MM-DD[.N][.gz]` | the day ended longer ago than the limit |
//! | `event-rows` | rows of the `events` table (what `show` prints) | their timestamp is older (the newest row always stays: it carries the numbering) |
//! | `recordings` | `sessions/<id>.cast` and `.raw` | not written to for longer (with fleet shipping on, not before the fleet has them) |
//! | `recording-blobs` | `sessions/blobs/<sha256>` | not used for a day longer than recordings are kept (a blob in use is renewed daily) |
//! | `session-rows` | rows of `sessions`, `logins`, `commands`, `download_requests`, `files`, `http_requests`, `exploits`, `daily_sources` (the per-day counts in `daily` stay); the hours' `tallies`, and the all-time ones of values not seen since | started (or happened) longer ago |
//! | `samples` | files in `samples/` | their sample was last seen longer ago (its `samples` and `triage` rows stay: first and last seen outlive the bytes) |
//! | `alerts` | rows of `alerts` | their last packet is older |
//!
//! The live `events.jsonl` is never touched. Database rows go in small batches,
//! each its own short transaction, so the event writer is never held up for long.
//! A dry run counts instead of removing.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection};

use crate::jsonl::JSONL_FILE;
use crate::recording::{BLOBS_DIR, SESSIONS_DIR};
use crate::samples::SAMPLES_DIR;
use crate::StoreError;

/// How long each class is kept (`None`: for ever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Rotated `events.jsonl` files.
    pub event_files: Option<Duration>,
    /// `events` rows.
    pub event_rows: Option<Duration>,
    /// Session recordings (and, a day longer, the blobs they share).
    pub recordings: Option<Duration>,
    /// `sessions`, `logins`, `commands`, `download_requests`, `files` rows.
    pub session_rows: Option<Duration>,
    /// Sample files.
    pub samples: Option<Duration>,
    /// `alerts` rows.
    pub alerts: Option<Duration>,
    /// With fleet shipping on: the highest `seq` the fleet has acknowledged. `events`
    /// rows after it stay whatever their age (nothing is pruned before it is shipped).
    pub shipped_through: Option<u64>,
    /// With fleet shipping on: the `seq` of the last session close whose recording
    /// the fleet has (its recordings cursor). Recordings of sessions closed after it
    /// stay whatever their age.
    pub recordings_shipped_through: Option<u64>,
}

pub(crate) const DAY: Duration = Duration::from_secs(86_400);

impl Default for Retention {
    /// What a sensor on a small disk can keep at a million events a day: the raw
    /// event log a month (gzipped), the database's copy of it two weeks, recordings
    /// two weeks, the per-session tables half a year, samples and alerts a year.
    fn default() -> Self {
        Self {
            event_files: Some(30 * DAY),
            event_rows: Some(14 * DAY),
            recordings: Some(14 * DAY),
            session_rows: Some(180 * DAY),
            samples: Some(365 * DAY),
            alerts: Some(365 * DAY),
            shipped_through: None,
            recordings_shipped_through: None,
        }
    }
}

/// The classes, in the order they are pruned (and shown).
pub const CLASSES: [&str; 7] = [
    "recordings",
    "recording-blobs",
    "event-files",
    "event-rows",
    "session-rows",
    "alerts",
    "samples",
];

/// What one class gave up (or would, in a dry run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Files or rows.
    pub items: u64,
    /// Bytes of files (0 for rows).
    pub bytes: u64,
}

/// What each class gave up, in [`CLASSES`] order.
pub type PrunedByClass = Vec<(&'static str, Pruned)>;

/// Rows deleted per transaction.
pub const BATCH_ROWS: usize = 1000;

/// One pass over every class as of `now`; returns what each class gave up, in
/// [`CLASSES`] order. `pause` runs between database batches (the sensor sleeps a
/// little there, so its event writer gets the database).
pub fn prune(
    data_dir: &Path,
    retention: &Retention,
    now: SystemTime,
    dry_run: bool,
    pause: &mut dyn FnMut(),
) -> Result<PrunedByClass, StoreError> {
    let cutoff = |keep: Option<Duration>| keep.and_then(|d| now.checked_sub(d));
    let mut out = Vec::new();
    let recordings = cutoff(retention.recordings);
    let unshipped = unshipped_recordings(data_dir, retention.recordings_shipped_through)?;
    out.push((
        "recordings",
        prune_files(&data_dir.join(SESSIONS_DIR), recordings, dry_run, |name| {
            is_recording(name, &unshipped)
        })?,
    ));
    out.push((
        "recording-blobs",
        prune_files(
            &data_dir.join(BLOBS_DIR),
            recordings.and_then(|c| c.checked_sub(DAY)),
            dry_run,
            |name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        )?,
    ));
    out.push((
        "event-files",
        prune_event_files(data_dir, cutoff(retention.event_files), dry_run)?,
    ));
    let db_path = data_dir.join(crate::sqlite::DB_FILE);
    let conn = if db_path.exists() {
        Some(if dry_run {
            crate::sqlite::open_read_only(&db_path)?
        } else {
            crate::sqlite::open(&db_path)?
        })
    } else {
        None
    };
    let stamp = |c: Option<SystemTime>| c.map(busybait_events::format_timestamp);
    // Event rows not yet shipped stay (the number is ours: no quoting needed).
    let unshipped = retention
        .shipped_through
        .map(|seq| format!("AND seq <= {seq}"))
        .unwrap_or_default();
    let rows = |class: &'static str,
                tables: &[(&str, &str)],
                keep: &str,
                c: Option<SystemTime>,
                pause: &mut dyn FnMut()|
     -> Result<(&'static str, Pruned), StoreError> {
        let (Some(conn), Some(before)) = (&conn, stamp(c)) else {
            return Ok((class, Pruned::default()));
        };
        let mut items = 0;
        let appended = class != "alerts";
        for &(table, column) in tables {
            let keep = keep.replace("{table}", table);
            items += prune_rows(
                conn,
                (table, column),
                &before,
                &keep,
                appended,
                dry_run,
                pause,
            )?;
        }
        Ok((class, Pruned { items, bytes: 0 }))
    };
    out.push(rows(
        "event-rows",
        &[("events", "timestamp")],
        // The newest row always stays: it carries the numbering.
        &format!("AND rowid < (SELECT max(rowid) FROM {{table}}) {unshipped}"),
        cutoff(retention.event_rows),
        pause,
    )?);
    let (class, mut session_rows) = rows(
        "session-rows",
        &[
            ("sessions", "start_time"),
            ("logins", "timestamp"),
            ("commands", "timestamp"),
            ("download_requests", "timestamp"),
            ("files", "timestamp"),
            ("http_requests", "timestamp"),
            ("exploits", "timestamp"),
            // Needed only while a day's sources are still being counted.
            ("daily_sources", "day"),
        ],
        "",
        cutoff(retention.session_rows),
        pause,
    )?;
    if let (Some(conn), Some(before)) = (&conn, stamp(cutoff(retention.session_rows))) {
        session_rows.items += crate::tallies::prune(conn, &before, dry_run, BATCH_ROWS, pause)?;
    }
    out.push((class, session_rows));
    let (class, mut alerts) = rows(
        "alerts",
        &[("alerts", "last")],
        "",
        cutoff(retention.alerts),
        pause,
    )?;
    let files = prune_rotated(
        data_dir,
        crate::alerts::ALERTS_FILE,
        cutoff(retention.alerts),
        dry_run,
    )?;
    alerts.items += files.items;
    alerts.bytes += files.bytes;
    out.push((class, alerts));
    if let (Some(conn), false) = (&conn, dry_run) {
        crate::sqlite::release_free_pages(conn)?;
    }
    let samples = match (&conn, stamp(cutoff(retention.samples))) {
        (Some(conn), Some(before)) => prune_samples(
            conn,
            data_dir,
            (&before, retention.shipped_through),
            dry_run,
        )?,
        _ => Pruned::default(),
    };
    out.push(("samples", samples));
    Ok(out)
}

/// The sessions closed after `shipped_through` (the fleet's recordings cursor): their
/// recordings are not in the fleet yet. Empty without fleet shipping.
pub(crate) fn unshipped_recordings(
    data_dir: &Path,
    shipped_through: Option<u64>,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let db = data_dir.join(crate::sqlite::DB_FILE);
    let (Some(after), true) = (shipped_through, db.exists()) else {
        return Ok(std::collections::HashSet::new());
    };
    let conn = crate::sqlite::open_read_only(&db)?;
    let mut stmt = conn.prepare(
        "SELECT session FROM events WHERE seq > ?1 AND eventid = 'cowrie.session.closed'",
    )?;
    let sessions = stmt
        .query_map(params![i64::try_from(after).unwrap_or(i64::MAX)], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    Ok(sessions)
}

/// Whether `name` is a recording (`<session>.cast` or `.raw`) that may go: not one
/// of `unshipped`'s.
pub(crate) fn is_recording(name: &str, unshipped: &std::collections::HashSet<String>) -> bool {
    let session = name
        .strip_suffix(".cast")
        .or_else(|| name.strip_suffix(".raw"));
    session.is_some_and(|s| !unshipped.contains(s))
}

/// Removes the files of `dir` that `wanted` names and that were last written before
/// `before`.
fn prune_files(
    dir: &Path,
    before: Option<SystemTime>,
    dry_run: bool,
    wanted: impl Fn(&str) -> bool,
) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned::default();
    let Some(before) = before else {
        return Ok(pruned);
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(&wanted) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.modified().map_or(true, |m| m >= before) {
            continue;
        }
        remove_counted(&entry.path(), meta.len(), dry_run, &mut pruned)?;
    }
    Ok(pruned)
}

/// Removes `path` (unless `dry_run`) and counts it with its `len`; one already gone
/// is not counted.
pub(crate) fn remove_counted(
    path: &Path,
    len: u64,
    dry_run: bool,
    pruned: &mut Pruned,
) -> Result<(), StoreError> {
    if !dry_run {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io(path, e)),
        }
    }
    pruned.items += 1;
    pruned.bytes += len;
    Ok(())
}

/// Removes rotated event files whose day ended before `before`.
fn prune_event_files(
    data_dir: &Path,
    before: Option<SystemTime>,
    dry_run: bool,
) -> Result<Pruned, StoreError> {
    prune_rotated(data_dir, JSONL_FILE, before, dry_run)
}

/// Removes the rotated files of `base` (`base.YYYY-MM-DD…`) whose day ended before
/// `before`.
fn prune_rotated(
    data_dir: &Path,
    base: &str,
    before: Option<SystemTime>,
    dry_run: bool,
) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned::default();
    let Some(before) = before else {
        return Ok(pruned);
    };
    // A day's file holds that day's events: it may go once the next day began
    // before the cutoff, i.e. its day is before the cutoff's day.
    let cutoff_day = busybait_events::format_timestamp(before);
    let cutoff_day = cutoff_day.get(..10).unwrap_or_default();
    for f in crate::rotate::list(data_dir, base)? {
        if f.day.as_str() >= cutoff_day {
            continue;
        }
        let len = std::fs::metadata(&f.path).map_or(0, |m| m.len());
        remove_counted(&f.path, len, dry_run, &mut pruned)?;
    }
    Ok(pruned)
}

/// Deletes (or counts) rows of `table` whose `column` is before `before`, oldest
/// first, [`BATCH_ROWS`] per transaction, except those `keep` (more SQL conditions,
/// each after `AND`) spares. `appended`: the table's rows are written in the order
/// of `column` (every table but the alerts, whose `last` moves).
fn prune_rows(
    conn: &Connection,
    (table, column): (&str, &str),
    before: &str,
    keep: &str,
    appended: bool,
    dry_run: bool,
    pause: &mut dyn FnMut(),
) -> Result<u64, StoreError> {
    let newest = keep;
    if dry_run {
        let sql = format!("SELECT count(*) FROM {table} WHERE {column} < ?1 {newest}");
        let n: i64 = conn.query_row(&sql, params![before], |r| r.get(0))?;
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    // Where the old rows end, in rowid order: for an appended table the first row
    // that is new enough (found by walking only the old rows, in table order, not by
    // an index on the column that would visit every new one), else past the end.
    // Batches then take the oldest rows before it, so no batch walks the newer rows
    // of a big table inside its write transaction (the event writer waits on that).
    // A row written a moment out of order stays until the next pass.
    let end: i64 = if appended {
        conn.query_row(&old_rows_end_sql(table, column), params![before], |r| {
            r.get(0)
        })?
    } else {
        i64::MAX
    };
    let sql = prune_batch_sql(table, column, newest);
    let mut total = 0u64;
    loop {
        let n = conn.execute(&sql, params![before, end])?;
        total += n as u64;
        if n < BATCH_ROWS {
            return Ok(total);
        }
        pause();
    }
}

/// The rowid after the old rows of a table appended in `column`'s order (`?1`: the
/// cutoff): the first row at or after it, walked to in table order.
pub(crate) fn old_rows_end_sql(table: &str, column: &str) -> String {
    format!(
        "SELECT COALESCE(
             (SELECT rowid FROM {table} NOT INDEXED WHERE {column} >= ?1 ORDER BY rowid LIMIT 1),
             (SELECT max(rowid) + 1 FROM {table}), 0)"
    )
}

/// One batch of pruning: the oldest rows before rowid `?2` whose `column` is before
/// `?1`, except those `keep` spares.
pub(crate) fn prune_batch_sql(table: &str, column: &str, keep: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}
             WHERE rowid < ?2 AND {column} < ?1 {keep} ORDER BY rowid LIMIT {BATCH_ROWS})"
    )
}

/// The condition (after `AND`, on `samples`) that spares the samples a file event
/// after `shipped_through` names: the fleet's shipper reads them when it ships that
/// event. Empty without fleet shipping.
pub(crate) fn spare_unshipped_samples(shipped_through: Option<u64>) -> String {
    // The number is ours: no quoting needed.
    shipped_through
        .map(|seq| format!("AND sha256 NOT IN (SELECT sha256 FROM files WHERE seq > {seq})"))
        .unwrap_or_default()
}

/// Removes the files of samples last seen before `before` (`.0`), except those an
/// event after `.1` (the fleet's cursor) names.
fn prune_samples(
    conn: &Connection,
    data_dir: &Path,
    (before, shipped_through): (&str, Option<u64>),
    dry_run: bool,
) -> Result<Pruned, StoreError> {
    let unshipped = spare_unshipped_samples(shipped_through);
    let mut stmt = conn.prepare(&format!(
        "SELECT sha256 FROM samples WHERE last_seen < ?1 {unshipped}"
    ))?;
    let old: Vec<String> = stmt
        .query_map(params![before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut pruned = Pruned::default();
    let dir = data_dir.join(SAMPLES_DIR);
    for sha in old {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = dir.join(&sha);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        remove_counted(&path, meta.len(), dry_run, &mut pruned)?;
    }
    Ok(pruned)
}
