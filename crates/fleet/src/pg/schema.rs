//! The fleet store's schema: numbered migrations, applied under an advisory lock so
//! that collectors starting together migrate once.
//!
//! The tables are the data dir's (`busybait.db`) with a `sensor` column in every key,
//! and their types, so that the read side's SQL is the same for both
//! ([`busybait_store::sql`]): flags are integers, and every text column compares
//! byte by byte (`COLLATE "C"`) as SQLite's do, whatever the database's locale.
//! `events` is partitioned by month of the event's own timestamp (text in the `C`
//! collation, so ranges compare as the sensor wrote them); its primary key holds the
//! partition key, as PostgreSQL requires, and a sensor's `seq` is the identity of an
//! event: a message delivered twice finds its row and changes nothing.

use tokio_postgres::Client;

use crate::FleetError;

/// Entry N brings the schema from version N to N+1.
pub const MIGRATIONS: &[&str] = &[
    // 1: events, sensors, sessions and what sessions did.
    r#"CREATE TABLE sensors (
        sensor TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        first_seen TEXT COLLATE "C" NOT NULL,
        last_seen TEXT COLLATE "C" NOT NULL,
        last_seq BIGINT NOT NULL
    );
    CREATE TABLE events (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        eventid TEXT COLLATE "C" NOT NULL,
        json TEXT COLLATE "C" NOT NULL,
        stored_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (sensor, seq, timestamp)
    ) PARTITION BY RANGE (timestamp);
    CREATE INDEX events_session ON events (session, sensor, seq);
    CREATE TABLE sessions (
        sensor TEXT COLLATE "C" NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        protocol TEXT COLLATE "C",
        src_ip TEXT COLLATE "C",
        src_port INTEGER,
        dst_ip TEXT COLLATE "C",
        dst_port INTEGER,
        start_time TEXT COLLATE "C",
        end_time TEXT COLLATE "C",
        duration_ms BIGINT,
        end_reason TEXT COLLATE "C",
        username TEXT COLLATE "C",
        password TEXT COLLATE "C",
        login_failures BIGINT NOT NULL DEFAULT 0,
        commands BIGINT NOT NULL DEFAULT 0,
        fingerprint TEXT COLLATE "C",
        family TEXT COLLATE "C",
        family_label TEXT COLLATE "C",
        family_confidence DOUBLE PRECISION,
        family_seq BIGINT,
        client_version TEXT COLLATE "C",
        hassh TEXT COLLATE "C",
        PRIMARY KEY (sensor, session)
    );
    CREATE INDEX sessions_start ON sessions (start_time);
    CREATE INDEX sessions_src ON sessions (src_ip);
    CREATE INDEX sessions_family ON sessions (family);
    CREATE INDEX sessions_hassh ON sessions (hassh);
    CREATE TABLE logins (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        username TEXT COLLATE "C" NOT NULL,
        password TEXT COLLATE "C" NOT NULL,
        success INTEGER NOT NULL,
        PRIMARY KEY (sensor, seq)
    );
    CREATE INDEX logins_session ON logins (session);
    CREATE INDEX logins_timestamp ON logins (timestamp);
    CREATE TABLE commands (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        input TEXT COLLATE "C" NOT NULL,
        failed INTEGER NOT NULL,
        PRIMARY KEY (sensor, seq)
    );
    CREATE INDEX commands_session ON commands (session);
    CREATE TABLE download_requests (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        tool TEXT COLLATE "C" NOT NULL,
        url TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (sensor, seq)
    );
    CREATE INDEX download_requests_session ON download_requests (session);
    CREATE TABLE files (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        sha256 TEXT COLLATE "C" NOT NULL,
        destfile TEXT COLLATE "C" NOT NULL,
        url TEXT COLLATE "C",
        duplicate INTEGER NOT NULL,
        PRIMARY KEY (sensor, seq)
    );
    CREATE INDEX files_session ON files (session);
    CREATE INDEX files_sha256 ON files (sha256);
    CREATE TABLE samples (
        sha256 TEXT COLLATE "C" PRIMARY KEY,
        first_seen TEXT COLLATE "C" NOT NULL,
        last_seen TEXT COLLATE "C" NOT NULL,
        times_seen BIGINT NOT NULL
    );
    CREATE TABLE triage (
        sha256 TEXT COLLATE "C" PRIMARY KEY,
        kind TEXT COLLATE "C" NOT NULL,
        arch TEXT COLLATE "C",
        size BIGINT NOT NULL,
        mirai_key INTEGER,
        json TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE http_requests (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        method TEXT COLLATE "C" NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        status INTEGER NOT NULL,
        PRIMARY KEY (sensor, seq)
    );
    CREATE INDEX http_requests_session ON http_requests (session);
    CREATE TABLE exploits (
        sensor TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        session TEXT COLLATE "C" NOT NULL,
        timestamp TEXT COLLATE "C" NOT NULL,
        exploit TEXT COLLATE "C" NOT NULL,
        cve TEXT COLLATE "C",
        input TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (sensor, seq)
    );
    CREATE INDEX exploits_session ON exploits (session);
    CREATE TABLE daily (
        sensor TEXT COLLATE "C" NOT NULL,
        day TEXT COLLATE "C" NOT NULL,
        sessions BIGINT NOT NULL DEFAULT 0,
        sources BIGINT NOT NULL DEFAULT 0,
        logins_tried BIGINT NOT NULL DEFAULT 0,
        logins_accepted BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (sensor, day)
    );
    CREATE TABLE daily_sources (
        sensor TEXT COLLATE "C" NOT NULL,
        day TEXT COLLATE "C" NOT NULL,
        src_ip TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (sensor, day, src_ip)
    );"#,
    // 2: where each source was, by the sensor's GeoIP databases at its connect; and,
    // as in the data dir's schema (version 9), the indexes the console reads
    // through: each session-list filter with the list's order behind it, and every
    // table a window is read from by its time.
    r#"ALTER TABLE sessions ADD COLUMN country TEXT COLLATE "C";
    ALTER TABLE sessions ADD COLUMN asn BIGINT;
    ALTER TABLE sessions ADD COLUMN as_org TEXT COLLATE "C";
    DROP INDEX sessions_start;
    DROP INDEX sessions_src;
    DROP INDEX sessions_family;
    DROP INDEX sessions_hassh;
    CREATE INDEX sessions_start ON sessions (start_time, session);
    CREATE INDEX sessions_src ON sessions (src_ip, start_time, session);
    CREATE INDEX sessions_family ON sessions (family, start_time, session);
    CREATE INDEX sessions_hassh ON sessions (hassh, start_time, session);
    CREATE INDEX sessions_country ON sessions (country, start_time, session);
    CREATE INDEX sessions_asn ON sessions (asn, start_time, session);
    CREATE INDEX sessions_login ON sessions (username, password, start_time, session);
    CREATE INDEX sessions_dst ON sessions (dst_ip);
    CREATE INDEX commands_time ON commands (timestamp);
    CREATE INDEX download_requests_time ON download_requests (timestamp);
    CREATE INDEX files_time ON files (timestamp);
    CREATE INDEX http_requests_time ON http_requests (timestamp);
    CREATE INDEX exploits_time ON exploits (timestamp);
    CREATE INDEX exploits_name ON exploits (exploit);"#,
    // 3: sessions' recordings, in the parts their sensors shipped them in
    // (`recordings.rs`), read by session; the session list of one sensor.
    r#"CREATE TABLE recording_parts (
        session TEXT COLLATE "C" NOT NULL,
        sensor TEXT COLLATE "C" NOT NULL,
        part INTEGER NOT NULL,
        parts INTEGER NOT NULL,
        data TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (session, sensor, part)
    );
    CREATE INDEX sessions_sensor ON sessions (sensor, start_time, session);"#,
    // 4: the alerts the fleet's watchers publish (`alerts.rs`), once each.
    r#"CREATE TABLE alerts (
        id BIGSERIAL PRIMARY KEY,
        watcher TEXT COLLATE "C" NOT NULL,
        alert TEXT COLLATE "C" NOT NULL,
        severity TEXT COLLATE "C" NOT NULL,
        src_ip TEXT COLLATE "C" NOT NULL,
        src_port INTEGER,
        dst_ip TEXT COLLATE "C" NOT NULL,
        dst_port INTEGER,
        protocol TEXT COLLATE "C" NOT NULL,
        count BIGINT NOT NULL,
        first TEXT COLLATE "C" NOT NULL,
        last TEXT COLLATE "C" NOT NULL,
        capture TEXT COLLATE "C" NOT NULL,
        json TEXT COLLATE "C" NOT NULL
    );
    CREATE UNIQUE INDEX alerts_identity ON alerts (watcher, alert, src_ip, dst_ip,
        COALESCE(src_port, -1), COALESCE(dst_port, -1), first, last, count);
    CREATE INDEX alerts_first ON alerts (first);"#,
];

/// An arbitrary constant: the advisory lock collectors take to migrate or to add a
/// partition, one at a time.
pub(crate) const SCHEMA_LOCK: i64 = 0x6275_7379_6261_6974; // "busybait"

/// Brings the schema up to date; refuses a schema newer than this build.
pub async fn migrate(client: &mut Client) -> Result<(), FleetError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS busybait_schema (version INTEGER NOT NULL);
         INSERT INTO busybait_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM busybait_schema);",
    )
    .await?;
    let version: i32 = tx
        .query_one("SELECT version FROM busybait_schema", &[])
        .await?
        .get(0);
    let version = usize::try_from(version).unwrap_or(0);
    if version > MIGRATIONS.len() {
        return Err(FleetError::Config(format!(
            "the PostgreSQL schema is at version {version}, newer than this busybait knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await?;
        let next = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE busybait_schema SET version = $1", &[&next])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The partition of `events` that holds month `YYYY-MM` (checked by
/// [`crate::line::month_of`]), made if missing.
pub async fn ensure_month(client: &mut Client, month: &str) -> Result<(), FleetError> {
    let (Some(year), Some(mon)) = (
        month.get(..4).and_then(|y| y.parse::<u32>().ok()),
        month.get(5..7).and_then(|m| m.parse::<u32>().ok()),
    ) else {
        return Err(FleetError::Config(format!("not a month: {month:?}")));
    };
    let (next_year, next_mon) = if mon >= 12 {
        (year + 1, 1)
    } else {
        (year, mon + 1)
    };
    // Only digits reach this statement: the month was parsed into numbers above.
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS events_{year:04}_{mon:02} PARTITION OF events
         FOR VALUES FROM ('{year:04}-{mon:02}') TO ('{next_year:04}-{next_mon:02}')"
    );
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(&sql).await?;
    tx.commit().await?;
    Ok(())
}
