//! `busybait.db`: events, sessions, logins and commands, queryable.
//!
//! WAL mode with `synchronous = NORMAL`: every batch is one transaction, durable
//! against a crash of the sensor process as soon as it commits; a power loss can take
//! the transactions since the last WAL checkpoint. The schema changes only through
//! the numbered [`MIGRATIONS`], tracked in `PRAGMA user_version`.

use std::path::Path;
use std::sync::Arc;

use busybait_events::EventKind;
use rusqlite::params;
pub use rusqlite::Connection;

use crate::tallies::{self, Delta, Kind};
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
    // 9: where each source was, by the GeoIP databases at its connect; and the
    // indexes the console's pages read through (query_plans.rs): each session-list
    // filter with the list's order behind it, so a page is a walk down one index;
    // every table a window is read from by its time.
    "ALTER TABLE sessions ADD COLUMN country TEXT;
    ALTER TABLE sessions ADD COLUMN asn INTEGER;
    ALTER TABLE sessions ADD COLUMN as_org TEXT;
    DROP INDEX sessions_start;
    DROP INDEX sessions_src;
    DROP INDEX sessions_family;
    DROP INDEX sessions_hassh;
    CREATE INDEX sessions_start ON sessions(start_time, session);
    CREATE INDEX sessions_src ON sessions(src_ip, start_time, session);
    CREATE INDEX sessions_family ON sessions(family, start_time, session);
    CREATE INDEX sessions_hassh ON sessions(hassh, start_time, session);
    CREATE INDEX sessions_country ON sessions(country, start_time, session);
    CREATE INDEX sessions_asn ON sessions(asn, start_time, session);
    CREATE INDEX sessions_login ON sessions(username, password, start_time, session);
    CREATE INDEX sessions_dst ON sessions(dst_ip);
    CREATE INDEX logins_time ON logins(timestamp);
    CREATE INDEX commands_time ON commands(timestamp);
    CREATE INDEX download_requests_time ON download_requests(timestamp);
    CREATE INDEX files_time ON files(timestamp);
    CREATE INDEX http_requests_time ON http_requests(timestamp);
    CREATE INDEX exploits_time ON exploits(timestamp);
    CREATE INDEX exploits_name ON exploits(exploit);",
    // 10: the report's lists counted as they are written, per hour and for all time
    // (`tallies.rs`; the rows already here are counted by `tallies::backfill`).
    "CREATE TABLE tallies (
        kind TEXT NOT NULL,
        hour TEXT NOT NULL,
        value TEXT NOT NULL,
        detail TEXT NOT NULL,
        n INTEGER NOT NULL,
        accepted INTEGER NOT NULL,
        commands INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (kind, hour, value, detail)
    ) WITHOUT ROWID;",
];

/// The schema version whose migration is followed by [`tallies::backfill`].
const TALLIES_VERSION: usize = 10;

/// Prepared statements a connection keeps: more than the writer has.
const STATEMENT_CACHE: usize = 128;

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
    // The writer runs some forty distinct statements (rows, counts, tallies); with
    // rusqlite's default cache of 16 they pushed each other out and every batch
    // parsed its SQL again (a quarter of the writer's time).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
    // Reading never migrates (a sensor of another version may be writing): a schema
    // older than the queries is named here, not as a missing table later.
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < MIGRATIONS.len() {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: format!(
                "schema version {version} is older than this busybait reads ({}); \
                 `busybait serve` of this version migrates it when it starts",
                MIGRATIONS.len()
            ),
        });
    }
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
        if i + 1 == TALLIES_VERSION {
            tallies::backfill(&tx)?;
        }
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
    let new = tx.prepare_cached(
        "INSERT OR IGNORE INTO files (seq, session, timestamp, sha256, destfile, url, duplicate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq, session, ts, sha256, destfile, url, duplicate])?;
    if new == 1 {
        tx.prepare_cached(
            "INSERT INTO samples (sha256, first_seen, last_seen, times_seen) VALUES (?1, ?2, ?2, 1)
             ON CONFLICT(sha256) DO UPDATE SET first_seen = min(first_seen, ?2),
                 last_seen = max(last_seen, ?2), times_seen = times_seen + 1",
        )?
        .execute(params![sha256, ts])?;
    }
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
        let mut counted = tallies::Pending::default();
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
                    EventKind::Connect { source } => {
                        let src = ev.peer.src.ip().to_string();
                        let new = tx
                            .prepare_cached(
                                "INSERT OR IGNORE INTO sessions (session, protocol, src_ip, src_port, dst_ip, dst_port, start_time,
                                     country, asn, as_org)
                                 VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6, ?8, ?9, ?10)",
                            )?
                            .execute(params![
                                session,
                                src,
                                ev.peer.src.port(),
                                ev.peer.dst.ip().to_string(),
                                ev.peer.dst.port(),
                                ts,
                                ev.peer.protocol.as_str(),
                                source.country,
                                source.asn,
                                source.as_org
                            ])?;
                        if new == 1 {
                            count_session(&tx, day_of(&ts), &src)?;
                            counted.add(Kind::Source, &ts, (&src, ""), Delta::ONE);
                            if let Some(country) = &source.country {
                                counted.add(Kind::Country, &ts, (country, ""), Delta::ONE);
                            }
                            if let Some(asn) = source.asn {
                                let org = source.as_org.as_deref().unwrap_or_default();
                                counted.add(Kind::Asn, &ts, (&asn.to_string(), org), Delta::ONE);
                            }
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
                            let tried = Delta {
                                accepted: i64::from(success),
                                ..Delta::ONE
                            };
                            counted.add(Kind::Credential, &ts, (username, password), tried);
                        }
                        if success {
                            tallies::logged_in(&tx, &mut counted, &session)?;
                            tx.prepare_cached("UPDATE sessions SET username = ?2, password = ?3 WHERE session = ?1")?
                                .execute(params![session, username, password])?;
                        } else {
                            tx.prepare_cached("UPDATE sessions SET login_failures = login_failures + 1 WHERE session = ?1")?
                                .execute(params![session])?;
                        }
                    }
                    EventKind::CommandInput { input } => {
                        let new = tx.prepare_cached(
                            "INSERT OR IGNORE INTO commands (seq, session, timestamp, input, failed) VALUES (?1, ?2, ?3, ?4, 0)",
                        )?
                        .execute(params![seq, session, ts, input])?;
                        if new == 1 {
                            tx.prepare_cached(
                                "UPDATE sessions SET commands = commands + 1 WHERE session = ?1",
                            )?
                            .execute(params![session])?;
                            counted.add(Kind::Command, &ts, (input, ""), Delta::ONE);
                            if let Some((src, start)) = tallies::session_source(&tx, &session)? {
                                let typed = Delta {
                                    commands: 1,
                                    ..Delta::default()
                                };
                                counted.add(Kind::Source, &start, (&src, ""), typed);
                            }
                        }
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
                        tallies::describe_session(
                            &tx,
                            &mut counted,
                            &session,
                            "family",
                            Kind::Family,
                            family,
                        )?;
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
                        let new = tx.prepare_cached(
                            "INSERT OR IGNORE INTO http_requests (seq, session, timestamp, method, path, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![seq, session, ts, method, path, status])?;
                        if new == 1 {
                            let shown = format!("{method} {path}");
                            counted.add(Kind::Path, &ts, (&shown, ""), Delta::ONE);
                        }
                    }
                    EventKind::Exploit {
                        name, cve, command, ..
                    } => {
                        let new = tx.prepare_cached(
                            "INSERT OR IGNORE INTO exploits (seq, session, timestamp, exploit, cve, input) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![seq, session, ts, name, cve, command])?;
                        if new == 1 {
                            let cve = cve.as_deref().unwrap_or_default();
                            counted.add(Kind::Exploit, &ts, (name, cve), Delta::ONE);
                        }
                    }
                    EventKind::DownloadRequest { tool, url } => {
                        let new = tx.prepare_cached(
                            "INSERT OR IGNORE INTO download_requests (seq, session, timestamp, tool, url) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![seq, session, ts, tool, url])?;
                        if new == 1 {
                            counted.add(Kind::Url, &ts, (url, ""), Delta::ONE);
                            if let Some(host) = tallies::url_host(url) {
                                counted.add(Kind::Host, &ts, (&host, ""), Delta::ONE);
                            }
                        }
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
                        tallies::describe_session(
                            &tx,
                            &mut counted,
                            &session,
                            "client_version",
                            Kind::SshClient,
                            version,
                        )?;
                        tx.prepare_cached(
                            "UPDATE sessions SET client_version = ?2 WHERE session = ?1",
                        )?
                        .execute(params![session, version])?;
                    }
                    EventKind::ClientKex { hassh, .. } => {
                        tallies::describe_session(
                            &tx,
                            &mut counted,
                            &session,
                            "hassh",
                            Kind::Hassh,
                            hassh,
                        )?;
                        tx.prepare_cached("UPDATE sessions SET hassh = ?2 WHERE session = ?1")?
                            .execute(params![session, hassh])?;
                    }
                    EventKind::ClientFingerprint { fingerprint } => {
                        tallies::describe_session(
                            &tx,
                            &mut counted,
                            &session,
                            "fingerprint",
                            Kind::Fingerprint,
                            fingerprint,
                        )?;
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
        counted.write(&tx)?;
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
