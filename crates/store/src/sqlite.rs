//! `busybait.db`: events, sessions, logins and commands, queryable.
//!
//! WAL mode with `synchronous = NORMAL`: every batch is one transaction, durable
//! against a crash of the sensor process as soon as it commits; a power loss can take
//! the transactions since the last WAL checkpoint. The schema changes only through
//! the numbered [`MIGRATIONS`], tracked in `PRAGMA user_version`.

use std::path::Path;
use std::sync::Arc;

use busybait_events::EventKind;
pub use rusqlite::Connection;
use rusqlite::{params, OptionalExtension};

use crate::{Record, Sink, StoreError};

/// File name in the data dir.
pub const DB_FILE: &str = "busybait.db";

/// Schema migrations; entry N brings the schema from version N to N+1.
pub const MIGRATIONS: &[&str] = &[
    // 1: events, sessions, logins, commands.
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        eventid TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        json TEXT NOT NULL
    );
    CREATE INDEX events_session ON events(session, seq);
    CREATE INDEX events_eventid ON events(eventid);
    CREATE TABLE sessions (
        session TEXT PRIMARY KEY,
        protocol TEXT NOT NULL,
        src_ip TEXT NOT NULL,
        src_port INTEGER NOT NULL,
        dst_ip TEXT NOT NULL,
        dst_port INTEGER NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT,
        duration_ms INTEGER,
        end_reason TEXT,
        username TEXT,
        password TEXT,
        login_failures INTEGER NOT NULL DEFAULT 0,
        commands INTEGER NOT NULL DEFAULT 0,
        fingerprint TEXT
    );
    CREATE INDEX sessions_start ON sessions(start_time);
    CREATE INDEX sessions_src ON sessions(src_ip);
    CREATE TABLE logins (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        username TEXT NOT NULL,
        password TEXT NOT NULL,
        success INTEGER NOT NULL
    );
    CREATE INDEX logins_session ON logins(session);
    CREATE TABLE commands (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        input TEXT NOT NULL,
        failed INTEGER NOT NULL
    );
    CREATE INDEX commands_session ON commands(session);",
    // 2: what attackers fetched and dropped.
    "CREATE TABLE download_requests (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        tool TEXT NOT NULL,
        url TEXT NOT NULL
    );
    CREATE INDEX download_requests_session ON download_requests(session);
    CREATE TABLE files (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        destfile TEXT NOT NULL,
        url TEXT,
        duplicate INTEGER NOT NULL
    );
    CREATE INDEX files_session ON files(session);
    CREATE INDEX files_sha256 ON files(sha256);
    CREATE TABLE samples (
        sha256 TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        times_seen INTEGER NOT NULL
    );",
    // 3: triage and family labels.
    "ALTER TABLE sessions ADD COLUMN family TEXT;
    ALTER TABLE sessions ADD COLUMN family_label TEXT;
    ALTER TABLE sessions ADD COLUMN family_confidence REAL;
    CREATE INDEX sessions_family ON sessions(family);
    CREATE TABLE triage (
        sha256 TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        arch TEXT,
        size INTEGER NOT NULL,
        mirai_key INTEGER,
        json TEXT NOT NULL
    );",
    // 4: what `busybait watch` found on the wire (see `alerts.rs`).
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        alert TEXT NOT NULL,
        severity TEXT NOT NULL,
        src_ip TEXT NOT NULL,
        src_port INTEGER,
        dst_ip TEXT NOT NULL,
        dst_port INTEGER,
        protocol TEXT NOT NULL,
        count INTEGER NOT NULL,
        first TEXT NOT NULL,
        last TEXT NOT NULL,
        capture TEXT NOT NULL,
        json TEXT NOT NULL
    );
    CREATE UNIQUE INDEX alerts_identity ON alerts(alert, src_ip, dst_ip,
        ifnull(src_port, -1), ifnull(dst_port, -1), first, last, count);
    CREATE INDEX alerts_src ON alerts(src_ip);
    CREATE INDEX alerts_first ON alerts(first);",
    // 5: SSH clients: the identification line and the KEXINIT's HASSH.
    "ALTER TABLE sessions ADD COLUMN client_version TEXT;
    ALTER TABLE sessions ADD COLUMN hassh TEXT;
    CREATE INDEX sessions_hassh ON sessions(hassh);",
    // 6: no query looks events up by id; the index only cost a write per event.
    "DROP INDEX IF EXISTS events_eventid;",
    // 7: the HTTP door: requests to the device's web server and the exploits they
    // carried.
    "CREATE TABLE http_requests (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL
    );
    CREATE INDEX http_requests_session ON http_requests(session);
    CREATE TABLE exploits (
        seq INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        exploit TEXT NOT NULL,
        cve TEXT,
        input TEXT NOT NULL
    );
    CREATE INDEX exploits_session ON exploits(session);",
    // 8: per-day counts that outlive the rows retention prunes (one row a day), and
    // the day's sources seen so far (to count each once; pruned with the rows).
    "CREATE TABLE daily (
        day TEXT PRIMARY KEY,
        sessions INTEGER NOT NULL DEFAULT 0,
        sources INTEGER NOT NULL DEFAULT 0,
        logins_tried INTEGER NOT NULL DEFAULT 0,
        logins_accepted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE daily_sources (
        day TEXT NOT NULL,
        src_ip TEXT NOT NULL,
        PRIMARY KEY (day, src_ip)
    );
    INSERT INTO daily (day, sessions, sources)
        SELECT substr(start_time, 1, 10), COUNT(*), COUNT(DISTINCT src_ip) FROM sessions GROUP BY 1;
    INSERT OR IGNORE INTO daily_sources (day, src_ip)
        SELECT DISTINCT substr(start_time, 1, 10), src_ip FROM sessions;
    INSERT OR IGNORE INTO daily (day) SELECT DISTINCT substr(timestamp, 1, 10) FROM logins;
    UPDATE daily SET
        logins_tried = (SELECT COUNT(*) FROM logins WHERE substr(timestamp, 1, 10) = daily.day),
        logins_accepted = (SELECT COALESCE(SUM(success), 0) FROM logins WHERE substr(timestamp, 1, 10) = daily.day);",
];

/// Opens the database read-write and brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    // A new database gives pages that retention frees back to the file system
    // (`incremental_vacuum`); it can only be chosen before the first table. One made
    // by an earlier version keeps its free pages for reuse instead.
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // After a checkpoint the WAL is cut back to this: without it the file keeps the
    // size of its busiest moment (a retention pass), which a disk budget then counts.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // Writers append: 1 MiB of page cache (SQLite's default is 2) holds the index
    // pages they touch and bounds what the sensor keeps as the database grows.
    conn.pragma_update(None, "cache_size", -1024)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Returns the pages deleted rows left free to the file system, where the database
/// was made with `auto_vacuum` (a no-op otherwise).
pub fn release_free_pages(conn: &Connection) -> Result<(), StoreError> {
    // The pragma frees a page per step: it runs to its end only when stepped so.
    let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// Opens an existing database for reading (the CLI's read-side commands).
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: "no database here; has `busybait serve` run with this data dir?".into(),
        });
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: format!(
                "schema version {version} is newer than this busybait knows ({})",
                MIGRATIONS.len()
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The SQLite sink.
#[derive(Debug)]
pub struct SqliteSink {
    conn: Connection,
}

impl SqliteSink {
    /// Opens (creating, migrating) the database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { conn: open(path)? })
    }

    /// Highest sequence number stored, or 0.
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
        Ok(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    }
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A file a session left (downloaded, written or uploaded) and its sample's sighting.
fn insert_file(
    tx: &rusqlite::Transaction<'_>,
    (seq, session, ts): (i64, &str, &str),
    sha256: &str,
    destfile: &str,
    url: Option<&str>,
    duplicate: bool,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO files (seq, session, timestamp, sha256, destfile, url, duplicate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq, session, ts, sha256, destfile, url, duplicate])?;
    tx.prepare_cached(
        "INSERT INTO samples (sha256, first_seen, last_seen, times_seen) VALUES (?1, ?2, ?2, 1)
         ON CONFLICT(sha256) DO UPDATE SET last_seen = ?2, times_seen = times_seen + 1",
    )?
    .execute(params![sha256, ts])?;
    Ok(())
}

/// How long the database's writer waits after the first event of a batch for more.
/// Each batch is one transaction: at 400 sessions/s a 2 ms wait made commits of ~20
/// events, and committing (every live session's index pages, again and again) was a
/// fifth of the sensor's CPU, growing with the database. A tenth of a second makes
/// commits fifty times larger and their cost stops growing; events.jsonl has them
/// first anyway.
const SQLITE_LINGER: std::time::Duration = std::time::Duration::from_millis(100);

impl Sink for SqliteSink {
    fn linger(&self) -> std::time::Duration {
        SQLITE_LINGER
    }

    fn write_batch(&mut self, batch: &[Arc<Record>]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut ins_event = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (seq, session, eventid, timestamp, json) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in batch {
                let ev = &r.event;
                let session = ev.session.to_string();
                let ts = busybait_events::format_timestamp(ev.time);
                let seq = seq_i64(r.seq);
                ins_event.execute(params![seq, session, ev.kind.event_id(), ts, r.json])?;
                match &ev.kind {
                    EventKind::Connect => {
                        let src = ev.peer.src.ip().to_string();
                        let new = tx
                            .prepare_cached(
                                "INSERT OR IGNORE INTO sessions (session, protocol, src_ip, src_port, dst_ip, dst_port, start_time)
                                 VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6)",
                            )?
                            .execute(params![
                                session,
                                src,
                                ev.peer.src.port(),
                                ev.peer.dst.ip().to_string(),
                                ev.peer.dst.port(),
                                ts,
                                ev.peer.protocol.as_str()
                            ])?;
                        if new == 1 {
                            count_session(&tx, day_of(&ts), &src)?;
                        }
                    }
                    EventKind::LoginSuccess { username, password }
                    | EventKind::LoginFailed { username, password } => {
                        let success = matches!(ev.kind, EventKind::LoginSuccess { .. });
                        let new = tx
                            .prepare_cached(
                                "INSERT OR IGNORE INTO logins (seq, session, timestamp, username, password, success) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            )?
                            .execute(params![seq, session, ts, username, password, success])?;
                        if new == 1 {
                            tx.prepare_cached(
                                "INSERT INTO daily (day, logins_tried, logins_accepted) VALUES (?1, 1, ?2)
                                 ON CONFLICT (day) DO UPDATE SET logins_tried = logins_tried + 1,
                                     logins_accepted = logins_accepted + excluded.logins_accepted",
                            )?
                            .execute(params![day_of(&ts), i64::from(success)])?;
                        }
                        if success {
                            tx.prepare_cached("UPDATE sessions SET username = ?2, password = ?3 WHERE session = ?1")?
                                .execute(params![session, username, password])?;
                        } else {
                            tx.prepare_cached("UPDATE sessions SET login_failures = login_failures + 1 WHERE session = ?1")?
                                .execute(params![session])?;
                        }
                    }
                    EventKind::CommandInput { input } => {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO commands (seq, session, timestamp, input, failed) VALUES (?1, ?2, ?3, ?4, 0)",
                        )?
                        .execute(params![seq, session, ts, input])?;
                        tx.prepare_cached(
                            "UPDATE sessions SET commands = commands + 1 WHERE session = ?1",
                        )?
                        .execute(params![session])?;
                    }
                    EventKind::CommandFailed { input } => {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO commands (seq, session, timestamp, input, failed) VALUES (?1, ?2, ?3, ?4, 1)",
                        )?
                        .execute(params![seq, session, ts, input])?;
                    }
                    EventKind::SampleTriage {
                        shasum,
                        kind,
                        arch,
                        size,
                        mirai_key,
                        ..
                    } => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO triage (sha256, kind, arch, size, mirai_key, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![shasum, kind, arch, i64::try_from(*size).unwrap_or(i64::MAX), mirai_key, r.json])?;
                    }
                    EventKind::SessionFamily {
                        family,
                        sub_label,
                        confidence_pct,
                        ..
                    } => {
                        tx.prepare_cached(
                            "UPDATE sessions SET family = ?2, family_label = ?3, family_confidence = ?4 WHERE session = ?1",
                        )?
                        .execute(params![session, family, sub_label, f64::from(*confidence_pct) / 100.0])?;
                    }
                    EventKind::HttpRequest {
                        method,
                        path,
                        status,
                        ..
                    } => {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO http_requests (seq, session, timestamp, method, path, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![seq, session, ts, method, path, status])?;
                    }
                    EventKind::Exploit {
                        name, cve, command, ..
                    } => {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO exploits (seq, session, timestamp, exploit, cve, input) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![seq, session, ts, name, cve, command])?;
                    }
                    EventKind::DownloadRequest { tool, url } => {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO download_requests (seq, session, timestamp, tool, url) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![seq, session, ts, tool, url])?;
                    }
                    EventKind::FileDownload {
                        shasum,
                        destfile,
                        duplicate,
                        ..
                    }
                    | EventKind::FileUpload {
                        shasum,
                        destfile,
                        duplicate,
                        ..
                    } => {
                        // Only a download has a URL; an upload is the client's.
                        let url = match &ev.kind {
                            EventKind::FileDownload { url, .. } => url.as_deref(),
                            _ => None,
                        };
                        insert_file(&tx, (seq, &session, &ts), shasum, destfile, url, *duplicate)?;
                    }
                    EventKind::ClientVersion { version } => {
                        tx.prepare_cached(
                            "UPDATE sessions SET client_version = ?2 WHERE session = ?1",
                        )?
                        .execute(params![session, version])?;
                    }
                    EventKind::ClientKex { hassh, .. } => {
                        tx.prepare_cached("UPDATE sessions SET hassh = ?2 WHERE session = ?1")?
                            .execute(params![session, hassh])?;
                    }
                    EventKind::ClientFingerprint { fingerprint } => {
                        tx.prepare_cached(
                            "UPDATE sessions SET fingerprint = ?2 WHERE session = ?1",
                        )?
                        .execute(params![session, fingerprint])?;
                    }
                    EventKind::SessionEnd { reason } => {
                        tx.prepare_cached(
                            "UPDATE sessions SET end_reason = ?2 WHERE session = ?1",
                        )?
                        .execute(params![session, reason.as_str()])?;
                    }
                    EventKind::Closed { duration_ms } => {
                        tx.prepare_cached("UPDATE sessions SET end_time = ?2, duration_ms = ?3 WHERE session = ?1")?
                            .execute(params![session, ts, i64::try_from(*duration_ms).unwrap_or(i64::MAX)])?;
                    }
                    _ => {}
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn tick(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

/// One row of `busybait sessions`.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct SessionRow {
    /// Session id.
    pub session: String,
    /// Start time.
    pub start_time: String,
    /// Attacker address.
    pub src_ip: String,
    /// Attacker port.
    pub src_port: u16,
    /// Sensor address.
    pub dst_ip: String,
    /// Sensor port.
    pub dst_port: u16,
    /// Duration, once closed.
    pub duration_ms: Option<i64>,
    /// Why it ended, once closed.
    pub end_reason: Option<String>,
    /// Accepted user name.
    pub username: Option<String>,
    /// Accepted password.
    pub password: Option<String>,
    /// Failed logins.
    pub login_failures: i64,
    /// Command lines.
    pub commands: i64,
    /// Client telnet fingerprint.
    pub fingerprint: Option<String>,
    /// Botnet family, once labelled.
    pub family: Option<String>,
    /// Its sub-label (a Mirai variant's token).
    pub family_label: Option<String>,
    /// The door: `telnet` or `ssh`.
    pub protocol: String,
    /// The SSH client's identification line.
    pub client_version: Option<String>,
    /// The SSH client's HASSH.
    pub hassh: Option<String>,
}

/// The most recent `limit` sessions, newest first.
pub fn recent_sessions(conn: &Connection, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT session, start_time, src_ip, src_port, dst_port, duration_ms, end_reason, username, password,
                login_failures, commands, fingerprint, family, family_label, dst_ip,
                protocol, client_version, hassh
         FROM sessions ORDER BY start_time DESC, session DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(SessionRow {
                session: r.get(0)?,
                start_time: r.get(1)?,
                src_ip: r.get(2)?,
                src_port: r.get(3)?,
                dst_port: r.get(4)?,
                duration_ms: r.get(5)?,
                end_reason: r.get(6)?,
                username: r.get(7)?,
                password: r.get(8)?,
                login_failures: r.get(9)?,
                commands: r.get(10)?,
                fingerprint: r.get(11)?,
                family: r.get(12)?,
                family_label: r.get(13)?,
                dst_ip: r.get(14)?,
                protocol: r.get(15)?,
                client_version: r.get(16)?,
                hassh: r.get(17)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// A source address that connected.
    Ip,
    /// A URL a session asked for.
    Url,
    /// The SHA-256 of a file a session dropped.
    Sha256,
    /// A C2 or report endpoint recovered from a dropped sample.
    C2,
}

impl IndicatorKind {
    /// The name in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Url => "url",
            Self::Sha256 => "sha256",
            Self::C2 => "c2",
        }
    }
}

/// One indicator seen in a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorRow {
    /// What it is.
    pub kind: IndicatorKind,
    /// The address, URL, hash or endpoint.
    pub value: String,
    /// First time seen in the window (the events' own timestamps).
    pub first_seen: String,
    /// Last time seen in the window.
    pub last_seen: String,
    /// Sessions (ips), requests (urls) or drops (hashes, c2) in the window.
    pub count: u64,
}

/// The `YYYY-MM-DD` of a stored timestamp.
fn day_of(ts: &str) -> &str {
    ts.get(..10).unwrap_or(ts)
}

/// A new session on `day` from `src`: the day's counts (its sources each once).
fn count_session(tx: &rusqlite::Transaction<'_>, day: &str, src: &str) -> Result<(), StoreError> {
    let new_source = tx
        .prepare_cached("INSERT OR IGNORE INTO daily_sources (day, src_ip) VALUES (?1, ?2)")?
        .execute(params![day, src])?;
    tx.prepare_cached(
        "INSERT INTO daily (day, sessions, sources) VALUES (?1, 1, ?2)
         ON CONFLICT (day) DO UPDATE SET sessions = sessions + 1,
             sources = sources + excluded.sources",
    )?
    .execute(params![day, i64::try_from(new_source).unwrap_or(0)])?;
    Ok(())
}

/// An exploit-table entry web requests carried in a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExploitRow {
    /// The table entry.
    pub exploit: String,
    /// Its CVE, if it has one.
    pub cve: Option<String>,
    /// First time seen in the window.
    pub first_seen: String,
    /// Last time seen in the window.
    pub last_seen: String,
    /// Requests that carried it.
    pub count: u64,
}

/// Every exploit seen in `[since, until)`, by name.
pub fn exploits(
    conn: &Connection,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<ExploitRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT exploit, MAX(cve), MIN(timestamp), MAX(timestamp), COUNT(*) FROM exploits
         WHERE timestamp >= ?1 AND timestamp < ?2 GROUP BY exploit ORDER BY exploit",
    )?;
    let rows = stmt.query_map(
        params![since.unwrap_or(""), until.unwrap_or("\u{10ffff}")],
        |r| {
            Ok(ExploitRow {
                exploit: r.get(0)?,
                cve: r.get(1)?,
                first_seen: r.get(2)?,
                last_seen: r.get(3)?,
                count: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            })
        },
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Every indicator whose events fall in `[since, until)` (timestamps in the stored
/// RFC 3339 form; `None` is open), by kind, then by value.
pub fn indicators(
    conn: &Connection,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<IndicatorRow>, StoreError> {
    let since = since.unwrap_or("");
    let until = until.unwrap_or("\u{10ffff}");
    let mut out = Vec::new();
    for (kind, sql) in [
        (
            IndicatorKind::Ip,
            "SELECT src_ip, MIN(start_time), MAX(start_time), COUNT(*) FROM sessions
             WHERE start_time >= ?1 AND start_time < ?2 GROUP BY src_ip",
        ),
        (
            IndicatorKind::Url,
            "SELECT url, MIN(timestamp), MAX(timestamp), COUNT(*) FROM download_requests
             WHERE timestamp >= ?1 AND timestamp < ?2 GROUP BY url",
        ),
        (
            IndicatorKind::Sha256,
            "SELECT sha256, MIN(timestamp), MAX(timestamp), COUNT(*) FROM files
             WHERE timestamp >= ?1 AND timestamp < ?2 GROUP BY sha256",
        ),
    ] {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![since, until], |r| {
            Ok(IndicatorRow {
                kind,
                value: r.get(0)?,
                first_seen: r.get(1)?,
                last_seen: r.get(2)?,
                count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    // C2s: from the triage of the files dropped in the window.
    let mut stmt = conn.prepare(
        "SELECT t.json, MIN(f.timestamp), MAX(f.timestamp), COUNT(*) FROM files f
         JOIN triage t ON t.sha256 = f.sha256
         WHERE f.timestamp >= ?1 AND f.timestamp < ?2 GROUP BY f.sha256",
    )?;
    let rows = stmt.query_map(params![since, until], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut c2: std::collections::BTreeMap<String, IndicatorRow> = Default::default();
    for row in rows {
        let (json, first, last, count) = row?;
        let v: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                path: "busybait.db (triage)".into(),
                problem: e.to_string(),
            })?;
        let endpoints = v
            .get("c2")
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default();
        for e in endpoints.iter().filter_map(|e| e.as_str()) {
            let entry = c2.entry(e.to_string()).or_insert_with(|| IndicatorRow {
                kind: IndicatorKind::C2,
                value: e.to_string(),
                first_seen: first.clone(),
                last_seen: last.clone(),
                count: 0,
            });
            entry.first_seen = entry.first_seen.clone().min(first.clone());
            entry.last_seen = entry.last_seen.clone().max(last.clone());
            entry.count += u64::try_from(count).unwrap_or(0);
        }
    }
    out.extend(c2.into_values());
    out.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
    Ok(out)
}

/// A dropped file's name and size, for exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDetails {
    /// The base name it was first dropped under in the window (not `-`, stdout).
    pub name: Option<String>,
    /// Its size, from its triage.
    pub size: Option<u64>,
}

/// Names and sizes of the files dropped in `[since, until)`, by SHA-256.
pub fn file_details(
    conn: &Connection,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<std::collections::BTreeMap<String, FileDetails>, StoreError> {
    let since = since.unwrap_or("");
    let until = until.unwrap_or("\u{10ffff}");
    let mut stmt = conn.prepare(
        "SELECT f.sha256, f.destfile, t.size FROM files f LEFT JOIN triage t ON t.sha256 = f.sha256
         WHERE f.timestamp >= ?1 AND f.timestamp < ?2 ORDER BY f.seq",
    )?;
    let rows = stmt.query_map(params![since, until], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut out: std::collections::BTreeMap<String, FileDetails> = Default::default();
    for row in rows {
        let (sha256, destfile, size) = row?;
        let entry = out.entry(sha256).or_default();
        entry.size = entry.size.or(size.and_then(|s| u64::try_from(s).ok()));
        let base = destfile.rsplit('/').next().unwrap_or_default();
        if entry.name.is_none() && !base.is_empty() && base != "-" {
            entry.name = Some(base.to_string());
        }
    }
    Ok(out)
}

/// For each indicator of [`indicators`] but C2s, the families of the sessions it
/// appeared in (unlabelled sessions and `unknown` left out).
pub fn indicator_families(
    conn: &Connection,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<
    std::collections::BTreeMap<(IndicatorKind, String), std::collections::BTreeSet<String>>,
    StoreError,
> {
    let since = since.unwrap_or("");
    let until = until.unwrap_or("\u{10ffff}");
    let mut out: std::collections::BTreeMap<_, std::collections::BTreeSet<String>> =
        Default::default();
    for (kind, sql) in [
        (
            IndicatorKind::Ip,
            "SELECT src_ip, family FROM sessions
             WHERE start_time >= ?1 AND start_time < ?2 AND family IS NOT NULL AND family != 'unknown'",
        ),
        (
            IndicatorKind::Url,
            "SELECT d.url, s.family FROM download_requests d JOIN sessions s ON s.session = d.session
             WHERE d.timestamp >= ?1 AND d.timestamp < ?2 AND s.family IS NOT NULL AND s.family != 'unknown'",
        ),
        (
            IndicatorKind::Sha256,
            "SELECT f.sha256, s.family FROM files f JOIN sessions s ON s.session = f.session
             WHERE f.timestamp >= ?1 AND f.timestamp < ?2 AND s.family IS NOT NULL AND s.family != 'unknown'",
        ),
    ] {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![since, until], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (value, family) = row?;
            out.entry((kind, value)).or_default().insert(family);
        }
    }
    Ok(out)
}

/// Every address bots connected to (the sensor's own).
pub fn sensor_addresses(
    conn: &Connection,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT DISTINCT dst_ip FROM sessions")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every event of a session (JSON lines), in order; `None` if the session is unknown.
pub fn session_events(conn: &Connection, session: &str) -> Result<Option<Vec<String>>, StoreError> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT session FROM sessions WHERE session = ?1",
            params![session],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT json FROM events WHERE session = ?1 ORDER BY seq")?;
    let rows = stmt
        .query_map(params![session], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(rows))
}
