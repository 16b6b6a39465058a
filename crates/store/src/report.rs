//! The numbers behind `busybait report`: what a time window of a store holds,
//! counted by its database in the SQL every store shares ([`crate::sql`]). Times are
//! the events' own; nothing here reads the clock.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sql::{collect, count as count_of, opt_int, opt_text, text, Dialect, Param, Sql};
pub use crate::tallies::url_host;
use crate::tallies::{Kind, Split, ALL_TIME};
use crate::StoreError;

/// How many rows the "top" lists keep.
pub const TOP: usize = 20;

/// A window's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The window, as given (RFC 3339; `None` is open).
    pub since: Option<String>,
    /// End of the window (exclusive).
    pub until: Option<String>,
    /// Sessions that started in the window.
    pub sessions: u64,
    /// When the first of them started.
    pub first_session: Option<String>,
    /// When the last of them started.
    pub last_session: Option<String>,
    /// Distinct source addresses among them.
    pub unique_sources: u64,
    /// Sessions and sources per UTC day.
    pub by_day: Vec<Day>,
    /// The sources with the most sessions.
    pub top_sources: Vec<Source>,
    /// Login attempts in the window.
    pub logins_tried: u64,
    /// Of which accepted.
    pub logins_accepted: u64,
    /// The most tried credentials.
    pub top_credentials: Vec<Credential>,
    /// Families labelled, most sessions first.
    pub families: Vec<Family>,
    /// The most entered command lines.
    pub top_commands: Vec<Counted>,
    /// The most sent exploits (`entry (CVE)`).
    pub top_exploits: Vec<Counted>,
    /// The most requested web paths (`METHOD /path`).
    pub top_paths: Vec<Counted>,
    /// The most requested URLs.
    pub top_urls: Vec<Counted>,
    /// The most requested hosts.
    pub top_hosts: Vec<Counted>,
    /// Files dropped in the window, by first drop.
    pub samples: Vec<Sample>,
    /// Client telnet fingerprints, most sessions first.
    pub fingerprints: Vec<Counted>,
    /// SSH client identification lines, most sessions first.
    pub ssh_clients: Vec<Counted>,
    /// SSH clients' HASSH, most sessions first.
    pub hassh: Vec<Counted>,
    /// Sources' countries (by the sensor's GeoIP databases), most sessions first;
    /// absent without them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<Counted>,
    /// Sources' autonomous systems (`AS64496 Organisation`), most sessions first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub asns: Vec<Counted>,
}

/// One day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Sessions started.
    pub sessions: u64,
    /// Distinct sources.
    pub sources: u64,
}

/// A source address and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The address.
    pub ip: String,
    /// Sessions it opened.
    pub sessions: u64,
    /// Of which logged in.
    pub logged_in: u64,
    /// Command lines it entered.
    pub commands: u64,
    /// Its first session's start.
    pub first_seen: String,
    /// Its last session's start.
    pub last_seen: String,
}

/// A credential and how it fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Attempts.
    pub tried: u64,
    /// Accepted attempts.
    pub accepted: u64,
    /// Known credential tables it is in (`mirai`); filled by the caller.
    pub tables: Vec<String>,
}

/// A family label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Family {
    /// The family.
    pub family: String,
    /// Sessions with that label.
    pub sessions: u64,
    /// First session start.
    pub first_seen: String,
    /// Last session start.
    pub last_seen: String,
}

/// A value and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// The value.
    pub value: String,
    /// How often.
    pub count: u64,
}

/// A dropped file and its triage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// SHA-256.
    pub sha256: String,
    /// First drop in the window.
    pub first_seen: String,
    /// Drops in the window.
    pub drops: u64,
    /// `elf`, `script`, … (absent without triage).
    pub kind: Option<String>,
    /// Mirai's architecture name.
    pub arch: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    /// Recovered Mirai XOR key.
    pub mirai_key: Option<u8>,
    /// Recovered C2 and report endpoints.
    pub c2: Vec<String>,
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// One day's counts as `daily` keeps them after its rows are gone.
struct DayCounts {
    day: String,
    sessions: u64,
    sources: u64,
    logins_tried: u64,
    logins_accepted: u64,
}

/// The per-day counts (`daily`) of the days wholly inside `[lo, hi)`, of one
/// sensor of a fleet's store or of all.
fn whole_days(
    db: &dyn Sql,
    lo: &str,
    hi: &str,
    sensor: Option<&str>,
) -> Result<Vec<DayCounts>, StoreError> {
    let (table, params) = match (db.dialect(), sensor) {
        (Dialect::Postgres, Some(sensor)) => (
            "(SELECT day, sessions, sources, logins_tried, logins_accepted FROM daily WHERE sensor = ?3)",
            vec![Param::Text(lo), Param::Text(hi), Param::Text(sensor)],
        ),
        (dialect, _) => (dialect.daily(), vec![Param::Text(lo), Param::Text(hi)]),
    };
    collect(
        db,
        &format!(
            "SELECT day, sessions, sources, logins_tried, logins_accepted FROM {table} daily
             WHERE day || 'T00:00:00.000000Z' >= ?1 AND day || 'T23:59:59.999999Z' < ?2
             ORDER BY day"
        ),
        &params,
        |r| {
            Ok(DayCounts {
                day: text(r, 0)?,
                sessions: count_of(r, 1)?,
                sources: count_of(r, 2)?,
                logins_tried: count_of(r, 3)?,
                logins_accepted: count_of(r, 4)?,
            })
        },
    )
}

/// Sessions per day and login totals from the rows, with each whole day whose rows
/// retention pruned (its counts above the rows') taken from its per-day counts.
fn with_pruned_days(
    from_rows: Vec<Day>,
    logins_by_day: BTreeMap<String, (u64, u64)>,
    daily: Vec<DayCounts>,
) -> (Vec<Day>, u64, u64) {
    let mut days: BTreeMap<String, Day> =
        from_rows.into_iter().map(|d| (d.day.clone(), d)).collect();
    let mut logins = logins_by_day;
    for DayCounts {
        day,
        sessions,
        sources,
        logins_tried: tried,
        logins_accepted: accepted,
    } in daily
    {
        let counted = days.get(&day).map_or(0, |d| d.sessions);
        if sessions > counted {
            days.insert(
                day.clone(),
                Day {
                    day: day.clone(),
                    sessions,
                    sources,
                },
            );
        }
        let counted = logins.get(&day).map_or(0, |l| l.0);
        if tried > counted {
            logins.insert(day, (tried, accepted));
        }
    }
    let (tried, accepted) = logins
        .values()
        .fold((0, 0), |(t, a), (dt, da)| (t + dt, a + da));
    (days.into_values().collect(), tried, accepted)
}

/// Where a window's lists are counted: in the rows alone, or in the tallies for its
/// whole hours and the rows for the rest (SQLite's `busybait.db`).
enum Counting {
    /// From the rows; `sensor`: only that sensor's (a fleet's store).
    Rows {
        sensor: Option<String>,
    },
    Tallies(Split),
}

impl Counting {
    fn of(db: &dyn Sql, since: Option<&str>, until: Option<&str>) -> Self {
        match (db.dialect(), Split::of(since, until)) {
            (Dialect::Sqlite, Some(split)) => Self::Tallies(split),
            _ => Self::Rows { sensor: None },
        }
    }

    /// The condition on the rows' sensor, if there is one: `?3`.
    fn sensor_condition(&self, alias: &str) -> String {
        match self {
            Self::Rows { sensor: Some(_) } => format!(" AND {alias}sensor = ?3"),
            _ => String::new(),
        }
    }

    /// The list length's parameter (after the sensor's, where there is one:
    /// PostgreSQL wants no gap in the parameters a statement uses).
    fn top(&self) -> &'static str {
        match self {
            Self::Rows { sensor: Some(_) } => "?4",
            _ => "?3",
        }
    }

    /// The parameters every statement draws from: `?1` the window's start, `?2` its
    /// end, `?3` the list length; with tallies `?4`/`?5` the whole hours and `?6`/`?7`
    /// where the rows before and after them end and start; for one sensor's rows
    /// `?3` is the sensor and `?4` the list length ([`Counting::top`]).
    fn params<'a>(&'a self, lo: &'a str, hi: &'a str, top: i64) -> Vec<Param<'a>> {
        let mut all = vec![Param::Text(lo), Param::Text(hi)];
        match self {
            Self::Tallies(s) => all.extend([
                Param::Int(top),
                Param::Text(&s.hour_from),
                Param::Text(&s.hour_to),
                Param::Text(&s.head_end),
                Param::Text(&s.tail_start),
            ]),
            Self::Rows {
                sensor: Some(sensor),
            } => all.extend([Param::Text(sensor), Param::Int(top)]),
            Self::Rows { sensor: None } => all.push(Param::Int(top)),
        }
        all
    }

    /// The rows a list of `kind` aggregates (the tallies' columns).
    fn units(&self, kind: Kind) -> String {
        let rows = |lo, hi| {
            kind.units(lo, hi, &self.sensor_condition(""))
                .unwrap_or_default()
        };
        match self {
            Self::Rows { .. } => rows("?1", "?2"),
            Self::Tallies(_) => format!(
                "SELECT value, detail, n, accepted, commands, first_seen, last_seen FROM tallies
                 WHERE kind = '{}' AND hour >= ?4 AND hour < ?5
                 UNION ALL {}
                 UNION ALL {}",
                kind.name(),
                rows("?1", "?6"),
                rows("?7", "?2")
            ),
        }
    }

    fn all_time(&self) -> bool {
        matches!(self, Self::Tallies(s) if s.all_time)
    }

    /// The `limit` (an SQL expression) values of `kind` counted most, by count then
    /// as shown: `shown, detail, count, accepted, commands, first, last`. All time
    /// has one tally per value: no grouping.
    fn list(&self, kind: Kind, limit: &str) -> String {
        let shown = kind.shown();
        if self.all_time() {
            return format!(
                "SELECT {shown} AS shown, detail, n, accepted, commands, first_seen, last_seen
                 FROM tallies WHERE kind = '{}' AND hour = '{ALL_TIME}' AND n > 0
                 ORDER BY n DESC, shown, detail LIMIT {limit}",
                kind.name()
            );
        }
        format!(
            "SELECT {shown} AS shown, detail, CAST(SUM(n) AS BIGINT) AS c,
                CAST(SUM(accepted) AS BIGINT), CAST(SUM(commands) AS BIGINT),
                MIN(first_seen), MAX(last_seen)
             FROM ({units}) u GROUP BY value, detail HAVING SUM(n) > 0
             ORDER BY c DESC, shown, detail LIMIT {limit}",
            units = self.units(kind),
        )
    }

    /// Sessions, distinct sources, first and last session start.
    fn totals(&self) -> String {
        if self.all_time() {
            return format!(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), COUNT(*), MIN(first_seen), MAX(last_seen)
                 FROM tallies WHERE kind = 'source' AND hour = '{ALL_TIME}' AND n > 0"
            );
        }
        format!(
            "SELECT CAST(COALESCE(SUM(c), 0) AS BIGINT), COUNT(*), MIN(f), MAX(l) FROM (
                 SELECT SUM(n) AS c, MIN(first_seen) AS f, MAX(last_seen) AS l FROM ({}) u
                 GROUP BY value HAVING SUM(n) > 0) v",
            self.units(Kind::Source)
        )
    }

    /// The window's samples: `sha256, first drop, drops` and their triage. All time
    /// is the `samples` table (one row a sample, kept when retention prunes drops).
    fn samples(&self) -> String {
        if self.all_time() {
            return "SELECT s.sha256, s.first_seen, s.times_seen, t.kind, t.arch, t.size, t.mirai_key, t.json
                 FROM samples s LEFT JOIN triage t ON t.sha256 = s.sha256
                 ORDER BY s.first_seen, s.sha256"
                .to_string();
        }
        format!(
            "SELECT f.sha256, MIN(f.timestamp) AS first, COUNT(*), t.kind, t.arch, t.size, t.mirai_key, t.json
             FROM files f LEFT JOIN triage t ON t.sha256 = f.sha256
             WHERE f.timestamp >= ?1 AND f.timestamp < ?2{}
             GROUP BY f.sha256, t.kind, t.arch, t.size, t.mirai_key, t.json ORDER BY first, f.sha256",
            self.sensor_condition("f.")
        )
    }
}

/// Runs `sql` with the parameters it names (the first `?N` of `all`: PostgreSQL
/// wants no more than a statement uses, SQLite no fewer than its highest).
fn bound<'a, 'p>(sql: &str, all: &'a [Param<'p>]) -> &'a [Param<'p>] {
    let highest = (1..=all.len())
        .rev()
        .find(|n| sql.contains(&format!("?{n}")))
        .unwrap_or(0);
    all.get(..highest).unwrap_or(all)
}

/// One row of a list: `shown, detail, count, accepted, commands, first, last`.
struct Listed {
    shown: String,
    detail: String,
    count: u64,
    accepted: u64,
    commands: u64,
    first: String,
    last: String,
}

/// The list [`Counting::list`] asks for.
fn listed(
    db: &dyn Sql,
    counting: &Counting,
    params: &[Param<'_>],
    kind: Kind,
    limit: &str,
) -> Result<Vec<Listed>, StoreError> {
    let sql = counting.list(kind, limit);
    collect(db, &sql, bound(&sql, params), |r| {
        Ok(Listed {
            shown: text(r, 0)?,
            detail: text(r, 1)?,
            count: count_of(r, 2)?,
            accepted: count_of(r, 3)?,
            commands: count_of(r, 4)?,
            first: text(r, 5)?,
            last: text(r, 6)?,
        })
    })
}

/// Counts everything in `[since, until)`: in SQLite from the tallies and the rows
/// at the window's ragged ends, elsewhere from the rows (the same numbers).
pub fn report(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Report, StoreError> {
    report_counted(db, since, until, Counting::of(db, since, until))
}

/// [`report`] from the rows alone (what the tallies are checked against).
pub fn report_from_rows(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Report, StoreError> {
    report_counted(db, since, until, Counting::Rows { sensor: None })
}

/// [`report`] of one sensor's events: in a fleet's store its rows; in a data dir,
/// everything if the sensor is the data dir's own and nothing otherwise.
pub fn sensor_report(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
    sensor: &str,
) -> Result<Report, StoreError> {
    match db.dialect() {
        Dialect::Postgres => report_counted(
            db,
            since,
            until,
            Counting::Rows {
                sensor: Some(sensor.to_string()),
            },
        ),
        Dialect::Sqlite => {
            if crate::queries::sensors(db)?
                .iter()
                .any(|s| s.sensor == sensor)
            {
                report(db, since, until)
            } else {
                Ok(Report::empty(since, until))
            }
        }
    }
}

impl Report {
    /// A window with nothing in it.
    pub fn empty(since: Option<&str>, until: Option<&str>) -> Self {
        Self {
            since: since.map(str::to_string),
            until: until.map(str::to_string),
            sessions: 0,
            first_session: None,
            last_session: None,
            unique_sources: 0,
            by_day: Vec::new(),
            top_sources: Vec::new(),
            logins_tried: 0,
            logins_accepted: 0,
            top_credentials: Vec::new(),
            families: Vec::new(),
            top_commands: Vec::new(),
            top_exploits: Vec::new(),
            top_paths: Vec::new(),
            top_urls: Vec::new(),
            top_hosts: Vec::new(),
            samples: Vec::new(),
            fingerprints: Vec::new(),
            ssh_clients: Vec::new(),
            hassh: Vec::new(),
            countries: Vec::new(),
            asns: Vec::new(),
        }
    }
}

fn report_counted(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
    counting: Counting,
) -> Result<Report, StoreError> {
    let lo = since.unwrap_or("");
    let hi = until.unwrap_or("\u{10ffff}");
    let params = counting.params(lo, hi, i64::try_from(TOP).unwrap_or(20));
    let list = |kind| listed(db, &counting, &params, kind, counting.top());
    let totals_sql = counting.totals();
    let totals = collect(db, &totals_sql, bound(&totals_sql, &params), |r| {
        Ok((
            count_of(r, 0)?,
            count_of(r, 1)?,
            opt_text(r, 2)?,
            opt_text(r, 3)?,
        ))
    })?;
    let (sessions, unique_sources, first_session, last_session) =
        totals.into_iter().next().unwrap_or((0, 0, None, None));
    let top_sources = list(Kind::Source)?
        .into_iter()
        .map(|l| Source {
            ip: l.shown,
            sessions: l.count,
            logged_in: l.accepted,
            commands: l.commands,
            first_seen: l.first,
            last_seen: l.last,
        })
        .collect();
    // All time's days are `daily`'s (which outlives the rows); a window's are counted.
    let (from_rows, logins_by_day) = if counting.all_time() {
        (Vec::new(), BTreeMap::new())
    } else {
        let sources = counting.units(Kind::Source);
        let days_sql = format!(
            "SELECT substr(first_seen, 1, 10) AS d, CAST(SUM(n) AS BIGINT), COUNT(DISTINCT value)
             FROM ({sources}) u GROUP BY substr(first_seen, 1, 10) ORDER BY d"
        );
        let from_rows: Vec<Day> = collect(db, &days_sql, bound(&days_sql, &params), |r| {
            Ok(Day {
                day: text(r, 0)?,
                sessions: count_of(r, 1)?,
                sources: count_of(r, 2)?,
            })
        })?;
        let logins_sql = format!(
            "SELECT substr(first_seen, 1, 10) AS d, CAST(SUM(n) AS BIGINT),
                 CAST(COALESCE(SUM(accepted), 0) AS BIGINT)
             FROM ({}) u GROUP BY substr(first_seen, 1, 10)",
            counting.units(Kind::Credential)
        );
        let logins_by_day = collect(db, &logins_sql, bound(&logins_sql, &params), |r| {
            Ok((text(r, 0)?, (count_of(r, 1)?, count_of(r, 2)?)))
        })?
        .into_iter()
        .collect();
        (from_rows, logins_by_day)
    };
    let sensor = match &counting {
        Counting::Rows { sensor } => sensor.as_deref(),
        Counting::Tallies(_) => None,
    };
    let daily = whole_days(db, lo, hi, sensor)?;
    let (by_day, logins_tried, logins_accepted) = with_pruned_days(from_rows, logins_by_day, daily);
    // Pruned days count too (their per-day counts outlive the rows).
    let sessions = sessions.max(by_day.iter().map(|d| d.sessions).sum());
    let top_credentials = list(Kind::Credential)?
        .into_iter()
        .map(|l| Credential {
            username: l.shown,
            password: l.detail,
            tried: l.count,
            accepted: l.accepted,
            tables: Vec::new(),
        })
        .collect();
    // Every family, not only the most common.
    let families = listed(db, &counting, &params, Kind::Family, &i64::MAX.to_string())?
        .into_iter()
        .map(|l| Family {
            family: l.shown,
            sessions: l.count,
            first_seen: l.first,
            last_seen: l.last,
        })
        .collect();
    let counted = |kind| -> Result<Vec<Counted>, StoreError> {
        Ok(list(kind)?
            .into_iter()
            .map(|l| Counted {
                value: l.shown,
                count: l.count,
            })
            .collect())
    };
    let samples_sql = counting.samples();
    let samples = collect(db, &samples_sql, bound(&samples_sql, &params), sample)?;
    Ok(Report {
        since: since.map(str::to_string),
        until: until.map(str::to_string),
        sessions,
        first_session,
        last_session,
        unique_sources,
        by_day,
        top_sources,
        logins_tried,
        logins_accepted,
        top_credentials,
        families,
        top_commands: counted(Kind::Command)?,
        top_exploits: counted(Kind::Exploit)?,
        top_paths: counted(Kind::Path)?,
        top_urls: counted(Kind::Url)?,
        top_hosts: top_hosts(db, &counting, &params)?,
        samples,
        fingerprints: counted(Kind::Fingerprint)?,
        ssh_clients: counted(Kind::SshClient)?,
        hassh: counted(Kind::Hassh)?,
        countries: counted(Kind::Country)?,
        asns: counted(Kind::Asn)?,
    })
}

/// A dropped file and its triage, from a row of the samples query.
fn sample(r: &[crate::sql::Cell]) -> Result<Sample, StoreError> {
    let c2 = opt_text(r, 7)?
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .and_then(|v| v.get("c2").and_then(|c| c.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    Ok(Sample {
        sha256: text(r, 0)?,
        first_seen: text(r, 1)?,
        drops: count_of(r, 2)?,
        kind: opt_text(r, 3)?,
        arch: opt_text(r, 4)?,
        size: opt_int(r, 5)?.map(count),
        mirai_key: opt_int(r, 6)?.and_then(|k| u8::try_from(k).ok()),
        c2,
    })
}

/// The most requested hosts: out of every URL in the window (SQL cannot take a host
/// out of a URL as [`url_host`] does), and the tallies' hosts of its whole hours.
fn top_hosts(
    db: &dyn Sql,
    counting: &Counting,
    params: &[Param<'_>],
) -> Result<Vec<Counted>, StoreError> {
    let mut hosts: BTreeMap<String, u64> = BTreeMap::new();
    if let Counting::Tallies(_) = counting {
        let sql = "SELECT value, CAST(SUM(n) AS BIGINT) FROM tallies
             WHERE kind = 'host' AND hour >= ?4 AND hour < ?5 GROUP BY value";
        db.each_row(sql, bound(sql, params), &mut |r| {
            *hosts.entry(text(r, 0)?).or_insert(0) += count_of(r, 1)?;
            Ok(())
        })?;
    }
    let urls = match counting {
        Counting::Rows { .. } => Kind::Url.units("?1", "?2", &counting.sensor_condition("")),
        Counting::Tallies(_) => Kind::Url
            .units("?1", "?6", "")
            .zip(Kind::Url.units("?7", "?2", ""))
            .map(|(head, tail)| format!("{head} UNION ALL {tail}")),
    }
    .unwrap_or_default();
    let sql = format!("SELECT value FROM ({urls}) u");
    db.each_row(&sql, bound(&sql, params), &mut |r| {
        if let Some(host) = url_host(&text(r, 0)?) {
            *hosts.entry(host).or_insert(0) += 1;
        }
        Ok(())
    })?;
    let mut top: Vec<Counted> = hosts
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(value, count)| Counted { value, count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    top.truncate(TOP);
    Ok(top)
}
