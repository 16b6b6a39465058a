//! What the read-side commands ask a store, in SQL every store answers the same
//! ([`crate::sql`]): sessions, a session's events, indicators, exploits, dropped
//! files, the families indicators came with, the sensor's own addresses.

use std::collections::{BTreeMap, BTreeSet};

use crate::sql::{collect, count, int, opt_int, opt_text, text, Param, Sql};
use crate::StoreError;

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
    /// The door: `telnet`, `ssh` or `http`.
    pub protocol: String,
    /// The SSH client's identification line.
    pub client_version: Option<String>,
    /// The SSH client's HASSH.
    pub hassh: Option<String>,
    /// The source's country, by the sensor's GeoIP databases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Its autonomous system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// That system's organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
}

fn port(v: Option<i64>) -> u16 {
    v.and_then(|p| u16::try_from(p).ok()).unwrap_or(0)
}

/// The most recent `limit` sessions that started in `[since, until)`, newest first
/// (sessions whose connect has not arrived yet, in a fleet store, wait for it).
pub fn recent_sessions(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
    limit: usize,
) -> Result<Vec<SessionRow>, StoreError> {
    let filter = SessionFilter {
        since: since.map(str::to_string),
        until: until.map(str::to_string),
        ..SessionFilter::default()
    };
    sessions(db, &filter, limit)
}

/// Which sessions a list shows: every field set narrows it. Each filter is answered
/// through an index of `sessions` (start time, source, family, HASSH) or of `files`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Started at or after (RFC 3339).
    pub since: Option<String>,
    /// Started before.
    pub until: Option<String>,
    /// This session only.
    pub session: Option<String>,
    /// From this address.
    pub src_ip: Option<String>,
    /// Through this door (`telnet`, `ssh`, `http`).
    pub protocol: Option<String>,
    /// Labelled with this family.
    pub family: Option<String>,
    /// Logged in with this user name.
    pub username: Option<String>,
    /// And this password.
    pub password: Option<String>,
    /// An SSH client with this HASSH.
    pub hassh: Option<String>,
    /// From this country (ISO code).
    pub country: Option<String>,
    /// From this autonomous system.
    pub asn: Option<u32>,
    /// Only sessions that dropped a file.
    pub with_download: bool,
    /// Only sessions that dropped this file (SHA-256).
    pub sha256: Option<String>,
    /// Only sessions that sent this exploit (its exploit-table entry).
    pub exploit: Option<String>,
    /// Only this sensor's (its id).
    pub sensor: Option<String>,
    /// The page after this session: its `(start_time, session)`, as the last row
    /// of the previous page had them (newest first).
    pub before: Option<(String, String)>,
    /// Only sessions newer than this `(start_time, session)`, oldest first (what
    /// arrived since a list was shown).
    pub after: Option<(String, String)>,
}

/// The newest `limit` sessions the filter lets through, newest first; with
/// [`SessionFilter::after`], the oldest `limit` newer than it, oldest first.
pub fn sessions(
    db: &dyn Sql,
    filter: &SessionFilter,
    limit: usize,
) -> Result<Vec<SessionRow>, StoreError> {
    let [lo, hi] = window(filter.since.as_deref(), filter.until.as_deref());
    let mut params = vec![lo, hi];
    let mut sql = String::from(
        "SELECT s.session, s.start_time, s.src_ip, s.src_port, s.dst_port, s.duration_ms, s.end_reason,
                s.username, s.password, s.login_failures, s.commands, s.fingerprint, s.family,
                s.family_label, s.dst_ip, s.protocol, s.client_version, s.hassh,
                s.country, s.asn, s.as_org
         FROM sessions s WHERE s.start_time >= ?1 AND s.start_time < ?2",
    );
    for (column, value) in [
        ("session", &filter.session),
        ("src_ip", &filter.src_ip),
        ("protocol", &filter.protocol),
        ("family", &filter.family),
        ("username", &filter.username),
        ("password", &filter.password),
        ("hassh", &filter.hassh),
        ("country", &filter.country),
    ] {
        if let Some(value) = value {
            params.push(Param::Text(value));
            sql.push_str(&format!(" AND s.{column} = ?{}", params.len()));
        }
    }
    if let Some(asn) = filter.asn {
        params.push(Param::Int(i64::from(asn)));
        sql.push_str(&format!(" AND s.asn = ?{}", params.len()));
    }
    if let Some(sensor) = &filter.sensor {
        match db.dialect() {
            // A data dir holds one sensor's sessions: all of them, or none.
            crate::sql::Dialect::Sqlite => {
                if !sensors(db)?.iter().any(|s| &s.sensor == sensor) {
                    return Ok(Vec::new());
                }
            }
            crate::sql::Dialect::Postgres => {
                params.push(Param::Text(sensor));
                sql.push_str(&format!(" AND s.sensor = ?{}", params.len()));
            }
        }
    }
    if filter.with_download {
        let same = db.dialect().same_sensor("f", "s");
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM files f WHERE f.session = s.session{same})"
        ));
    }
    if let Some(sha256) = &filter.sha256 {
        params.push(Param::Text(sha256));
        let n = params.len();
        // Through the files' sha256 index: few sessions drop any one file.
        sql.push_str(&match db.dialect() {
            crate::sql::Dialect::Sqlite => {
                format!(" AND s.session IN (SELECT f.session FROM files f WHERE f.sha256 = ?{n})")
            }
            crate::sql::Dialect::Postgres => format!(
                " AND (s.sensor, s.session) IN (SELECT f.sensor, f.session FROM files f WHERE f.sha256 = ?{n})"
            ),
        });
    }
    if let Some(exploit) = &filter.exploit {
        params.push(Param::Text(exploit));
        let n = params.len();
        // Through the exploits' name index: the sessions that sent it.
        sql.push_str(&match db.dialect() {
            crate::sql::Dialect::Sqlite => format!(
                " AND s.session IN (SELECT e.session FROM exploits e WHERE e.exploit = ?{n})"
            ),
            crate::sql::Dialect::Postgres => format!(
                " AND (s.sensor, s.session) IN (SELECT e.sensor, e.session FROM exploits e WHERE e.exploit = ?{n})"
            ),
        });
    }
    if let Some((time, session)) = &filter.before {
        params.push(Param::Text(time));
        params.push(Param::Text(session));
        let (t, id) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND (s.start_time < ?{t} OR (s.start_time = ?{t} AND s.session < ?{id}))"
        ));
    }
    if let Some((time, session)) = &filter.after {
        params.push(Param::Text(time));
        params.push(Param::Text(session));
        let (t, id) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND (s.start_time > ?{t} OR (s.start_time = ?{t} AND s.session > ?{id}))"
        ));
    }
    let order = if filter.after.is_some() {
        "ASC"
    } else {
        "DESC"
    };
    params.push(Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(
        " ORDER BY s.start_time {order}, s.session {order} LIMIT ?{}",
        params.len()
    ));
    collect(db, &sql, &params, |r| {
        Ok(SessionRow {
            session: text(r, 0)?,
            start_time: text(r, 1)?,
            src_ip: opt_text(r, 2)?.unwrap_or_default(),
            src_port: port(opt_int(r, 3)?),
            dst_port: port(opt_int(r, 4)?),
            duration_ms: opt_int(r, 5)?,
            end_reason: opt_text(r, 6)?,
            username: opt_text(r, 7)?,
            password: opt_text(r, 8)?,
            login_failures: int(r, 9)?,
            commands: int(r, 10)?,
            fingerprint: opt_text(r, 11)?,
            family: opt_text(r, 12)?,
            family_label: opt_text(r, 13)?,
            dst_ip: opt_text(r, 14)?.unwrap_or_default(),
            protocol: opt_text(r, 15)?.unwrap_or_default(),
            client_version: opt_text(r, 16)?,
            hassh: opt_text(r, 17)?,
            country: opt_text(r, 18)?,
            asn: opt_int(r, 19)?.and_then(|a| u32::try_from(a).ok()),
            as_org: opt_text(r, 20)?,
        })
    })
}

/// Every event of a session (JSON lines), in order; `None` if the session is unknown.
pub fn session_events(db: &dyn Sql, session: &str) -> Result<Option<Vec<String>>, StoreError> {
    let known = collect(
        db,
        "SELECT session FROM sessions WHERE session = ?1 LIMIT 1",
        &[Param::Text(session)],
        |_| Ok(()),
    )?;
    if known.is_empty() {
        return Ok(None);
    }
    let order = db.dialect().seq_order("e");
    collect(
        db,
        &format!("SELECT e.json FROM events e WHERE e.session = ?1 ORDER BY {order}"),
        &[Param::Text(session)],
        |r| text(r, 0),
    )
    .map(Some)
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

/// The window's edges as parameters: `None` is open.
fn window<'a>(since: Option<&'a str>, until: Option<&'a str>) -> [Param<'a>; 2] {
    [
        Param::Text(since.unwrap_or("")),
        Param::Text(until.unwrap_or("\u{10ffff}")),
    ]
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
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<ExploitRow>, StoreError> {
    collect(
        db,
        "SELECT exploit, MAX(cve), MIN(timestamp), MAX(timestamp), COUNT(*) FROM exploits
         WHERE timestamp >= ?1 AND timestamp < ?2 GROUP BY exploit ORDER BY exploit",
        &window(since, until),
        |r| {
            Ok(ExploitRow {
                exploit: text(r, 0)?,
                cve: opt_text(r, 1)?,
                first_seen: text(r, 2)?,
                last_seen: text(r, 3)?,
                count: count(r, 4)?,
            })
        },
    )
}

/// Every indicator whose events fall in `[since, until)` (timestamps in the stored
/// RFC 3339 form; `None` is open), by kind, then by value.
pub fn indicators(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<IndicatorRow>, StoreError> {
    let params = window(since, until);
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
        out.extend(collect(db, sql, &params, |r| {
            Ok(IndicatorRow {
                kind,
                value: text(r, 0)?,
                first_seen: text(r, 1)?,
                last_seen: text(r, 2)?,
                count: count(r, 3)?,
            })
        })?);
    }
    // C2s: from the triage of the files dropped in the window.
    let mut c2: BTreeMap<String, IndicatorRow> = BTreeMap::new();
    db.each_row(
        "SELECT t.json, MIN(f.timestamp), MAX(f.timestamp), COUNT(*) FROM files f
         JOIN triage t ON t.sha256 = f.sha256
         WHERE f.timestamp >= ?1 AND f.timestamp < ?2 GROUP BY f.sha256, t.json",
        &params,
        &mut |r| {
            let (json, first, last, n) = (text(r, 0)?, text(r, 1)?, text(r, 2)?, count(r, 3)?);
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
                entry.count += n;
            }
            Ok(())
        },
    )?;
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
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<BTreeMap<String, FileDetails>, StoreError> {
    let order = db.dialect().seq_order("f");
    let mut out: BTreeMap<String, FileDetails> = BTreeMap::new();
    db.each_row(
        &format!(
            "SELECT f.sha256, f.destfile, t.size FROM files f LEFT JOIN triage t ON t.sha256 = f.sha256
             WHERE f.timestamp >= ?1 AND f.timestamp < ?2 ORDER BY {order}"
        ),
        &window(since, until),
        &mut |r| {
            let (sha256, destfile, size) = (text(r, 0)?, text(r, 1)?, opt_int(r, 2)?);
            let entry = out.entry(sha256).or_default();
            entry.size = entry.size.or(size.and_then(|s| u64::try_from(s).ok()));
            let base = destfile.rsplit('/').next().unwrap_or_default();
            if entry.name.is_none() && !base.is_empty() && base != "-" {
                entry.name = Some(base.to_string());
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// For each indicator of [`indicators`] but C2s, the families of the sessions it
/// appeared in (unlabelled sessions and `unknown` left out).
pub fn indicator_families(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<BTreeMap<(IndicatorKind, String), BTreeSet<String>>, StoreError> {
    let params = window(since, until);
    let dialect = db.dialect();
    let mut out: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for (kind, sql) in [
        (
            IndicatorKind::Ip,
            "SELECT src_ip, family FROM sessions
             WHERE start_time >= ?1 AND start_time < ?2 AND family IS NOT NULL AND family != 'unknown'"
                .to_string(),
        ),
        (
            IndicatorKind::Url,
            format!(
                "SELECT d.url, s.family FROM download_requests d JOIN sessions s ON s.session = d.session{}
                 WHERE d.timestamp >= ?1 AND d.timestamp < ?2 AND s.family IS NOT NULL AND s.family != 'unknown'",
                dialect.same_sensor("s", "d")
            ),
        ),
        (
            IndicatorKind::Sha256,
            format!(
                "SELECT f.sha256, s.family FROM files f JOIN sessions s ON s.session = f.session{}
                 WHERE f.timestamp >= ?1 AND f.timestamp < ?2 AND s.family IS NOT NULL AND s.family != 'unknown'",
                dialect.same_sensor("s", "f")
            ),
        ),
    ] {
        db.each_row(&sql, &params, &mut |r| {
            out.entry((kind, text(r, 0)?))
                .or_default()
                .insert(text(r, 1)?);
            Ok(())
        })?;
    }
    Ok(out)
}

/// Every address bots connected to (the sensor's own; every sensor's in a fleet).
pub fn sensor_addresses(db: &dyn Sql) -> Result<BTreeSet<String>, StoreError> {
    Ok(collect(
        db,
        "SELECT DISTINCT dst_ip FROM sessions WHERE dst_ip IS NOT NULL",
        &[],
        |r| text(r, 0),
    )?
    .into_iter()
    .collect())
}

/// One alert `busybait watch` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// Detection id.
    pub alert: String,
    /// `low`, `medium` or `high`.
    pub severity: String,
    /// The host doing it.
    pub src_ip: String,
    /// Its port.
    pub src_port: Option<u16>,
    /// The host it was done to.
    pub dst_ip: String,
    /// Its port.
    pub dst_port: Option<u16>,
    /// `tcp`, `udp`, `gre`.
    pub protocol: String,
    /// Packets or events counted.
    pub count: u64,
    /// First time seen.
    pub first: String,
    /// Last time seen.
    pub last: String,
    /// The capture file or interface.
    pub capture: String,
}

/// The newest `limit` alerts whose first time is in `[since, until)`, newest
/// first; `None` from a store that keeps no alerts (the fleet's, so far).
pub fn alerts(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
    limit: usize,
) -> Result<Option<Vec<AlertRow>>, StoreError> {
    let [lo, hi] = window(since, until);
    collect(
        db,
        "SELECT alert, severity, src_ip, src_port, dst_ip, dst_port, protocol, count, first, last, capture
         FROM alerts WHERE first >= ?1 AND first < ?2 ORDER BY first DESC, id DESC LIMIT ?3",
        &[lo, hi, Param::Int(i64::try_from(limit).unwrap_or(i64::MAX))],
        |r| {
            Ok(AlertRow {
                alert: text(r, 0)?,
                severity: text(r, 1)?,
                src_ip: text(r, 2)?,
                src_port: opt_int(r, 3)?.and_then(|p| u16::try_from(p).ok()),
                dst_ip: text(r, 4)?,
                dst_port: opt_int(r, 5)?.and_then(|p| u16::try_from(p).ok()),
                protocol: text(r, 6)?,
                count: count(r, 7)?,
                first: text(r, 8)?,
                last: text(r, 9)?,
                capture: text(r, 10)?,
            })
        },
    )
    .map(Some)
}

/// A sensor whose events a store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorRow {
    /// Its id (`sensor.toml`'s uuid).
    pub sensor: String,
    /// Its name (`sensor_name`, the events' `sensor`).
    pub name: String,
    /// Its first event the store holds.
    pub first_seen: String,
    /// Its last.
    pub last_seen: String,
    /// Its last event's number (how many it has recorded).
    pub last_seq: u64,
}

/// Every sensor the store holds events of: the fleet's `sensors` table, or a data
/// dir's own sensor from its first and last event (by `seq`, the primary key).
pub fn sensors(db: &dyn Sql) -> Result<Vec<SensorRow>, StoreError> {
    if db.dialect() == crate::sql::Dialect::Postgres {
        return collect(
            db,
            "SELECT sensor, name, first_seen, last_seen, last_seq FROM sensors ORDER BY sensor",
            &[],
            |r| {
                Ok(SensorRow {
                    sensor: text(r, 0)?,
                    name: text(r, 1)?,
                    first_seen: text(r, 2)?,
                    last_seen: text(r, 3)?,
                    last_seq: count(r, 4)?,
                })
            },
        );
    }
    let edge = |order: &str| -> Result<Option<serde_json::Value>, StoreError> {
        let lines = collect(
            db,
            &format!("SELECT json FROM events WHERE seq = (SELECT {order}(seq) FROM events)"),
            &[],
            |r| text(r, 0),
        )?;
        Ok(lines
            .first()
            .and_then(|line| serde_json::from_str(line).ok()))
    };
    let (Some(first), Some(last)) = (edge("MIN")?, edge("MAX")?) else {
        return Ok(Vec::new());
    };
    let field = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(vec![SensorRow {
        sensor: field(&last, "uuid"),
        name: field(&last, "sensor"),
        first_seen: field(&first, "timestamp"),
        last_seen: field(&last, "timestamp"),
        last_seq: last
            .get("seq")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
    }])
}

/// Country and AS by source address.
pub type SourceGeo = BTreeMap<String, (Option<String>, Option<u32>)>;

/// Where the sources of a window were, by address: country and AS as their
/// sessions recorded them (empty without GeoIP databases).
pub fn source_geo(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<SourceGeo, StoreError> {
    let params = window(since, until);
    let rows = collect(
        db,
        "SELECT src_ip, MAX(country), MAX(asn) FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 AND (country IS NOT NULL OR asn IS NOT NULL)
         GROUP BY src_ip",
        &params,
        |r| {
            Ok((
                text(r, 0)?,
                (
                    opt_text(r, 1)?,
                    opt_int(r, 2)?.and_then(|a| u32::try_from(a).ok()),
                ),
            ))
        },
    )?;
    Ok(rows.into_iter().collect())
}

/// A session's recording (asciicast) as the fleet keeps it: the parts its sensor
/// shipped, joined in order, once every part is there. `None` in a data dir (its
/// recordings are files, `sessions/<id>.cast`) and where the fleet has none (yet).
/// Session ids are a sensor's own: the first sensor with all of its parts answers.
pub fn recording(db: &dyn Sql, session: &str) -> Result<Option<String>, StoreError> {
    if db.dialect() == crate::sql::Dialect::Sqlite {
        return Ok(None);
    }
    let parts = collect(
        db,
        "SELECT sensor, part, parts, data FROM recording_parts WHERE session = ?1
         ORDER BY sensor, part",
        &[Param::Text(session)],
        |r| Ok((text(r, 0)?, int(r, 1)?, int(r, 2)?, text(r, 3)?)),
    )?;
    let mut sensors: BTreeMap<&str, Vec<(i64, i64, &str)>> = BTreeMap::new();
    for (sensor, part, of, data) in &parts {
        sensors
            .entry(sensor)
            .or_default()
            .push((*part, *of, data.as_str()));
    }
    let joined = sensors.into_values().find_map(|parts| {
        let complete = parts.iter().enumerate().all(|(i, (part, of, _))| {
            i64::try_from(i).ok() == Some(*part) && *of == parts.len() as i64
        });
        complete.then(|| parts.iter().map(|(_, _, data)| *data).collect())
    });
    Ok(joined)
}
