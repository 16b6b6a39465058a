//! The numbers behind `busybait report`: what a time window of a store holds,
//! counted by its database in the SQL every store shares ([`crate::sql`]). Times are
//! the events' own; nothing here reads the clock.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sql::{collect, count as count_of, opt_int, opt_text, text, Param, Sql};
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

/// The per-day counts (`daily`) of the days wholly inside `[lo, hi)`.
fn whole_days(db: &dyn Sql, lo: &str, hi: &str) -> Result<Vec<DayCounts>, StoreError> {
    collect(
        db,
        &format!(
            "SELECT day, sessions, sources, logins_tried, logins_accepted FROM {} daily
             WHERE day || 'T00:00:00.000000Z' >= ?1 AND day || 'T23:59:59.999999Z' < ?2
             ORDER BY day",
            db.dialect().daily()
        ),
        &[Param::Text(lo), Param::Text(hi)],
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

/// Counts everything in `[since, until)`.
pub fn report(
    db: &dyn Sql,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Report, StoreError> {
    let lo = since.unwrap_or("");
    let hi = until.unwrap_or("\u{10ffff}");
    let top = i64::try_from(TOP).unwrap_or(20);
    let window = [Param::Text(lo), Param::Text(hi)];
    let window_top = [Param::Text(lo), Param::Text(hi), Param::Int(top)];
    let totals = collect(
        db,
        "SELECT COUNT(*), COUNT(DISTINCT src_ip), MIN(start_time), MAX(start_time) FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2",
        &window,
        |r| {
            Ok((
                count_of(r, 0)?,
                count_of(r, 1)?,
                opt_text(r, 2)?,
                opt_text(r, 3)?,
            ))
        },
    )?;
    let (sessions, unique_sources, first_session, last_session) =
        totals.into_iter().next().unwrap_or((0, 0, None, None));
    let top_sources = collect(
        db,
        "SELECT src_ip, COUNT(*) AS n, SUM(CASE WHEN username IS NOT NULL THEN 1 ELSE 0 END),
                CAST(SUM(commands) AS BIGINT), MIN(start_time), MAX(start_time) FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2
         GROUP BY src_ip ORDER BY n DESC, src_ip LIMIT ?3",
        &window_top,
        |r| {
            Ok(Source {
                ip: text(r, 0)?,
                sessions: count_of(r, 1)?,
                logged_in: count_of(r, 2)?,
                commands: count_of(r, 3)?,
                first_seen: text(r, 4)?,
                last_seen: text(r, 5)?,
            })
        },
    )?;
    let from_rows: Vec<Day> = collect(
        db,
        "SELECT substr(start_time, 1, 10) AS d, COUNT(*), COUNT(DISTINCT src_ip) FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 GROUP BY d ORDER BY d",
        &window,
        |r| {
            Ok(Day {
                day: text(r, 0)?,
                sessions: count_of(r, 1)?,
                sources: count_of(r, 2)?,
            })
        },
    )?;
    let logins_by_day: BTreeMap<String, (u64, u64)> = collect(
        db,
        "SELECT substr(timestamp, 1, 10) AS d, COUNT(*), COALESCE(SUM(success), 0) FROM logins
         WHERE timestamp >= ?1 AND timestamp < ?2 GROUP BY d",
        &window,
        |r| Ok((text(r, 0)?, (count_of(r, 1)?, count_of(r, 2)?))),
    )?
    .into_iter()
    .collect();
    let daily = whole_days(db, lo, hi)?;
    let (by_day, logins_tried, logins_accepted) = with_pruned_days(from_rows, logins_by_day, daily);
    // Pruned days count too (their per-day counts outlive the rows).
    let sessions = sessions.max(by_day.iter().map(|d| d.sessions).sum());
    let top_credentials = collect(
        db,
        "SELECT username, password, COUNT(*) AS n, SUM(success) FROM logins
         WHERE timestamp >= ?1 AND timestamp < ?2
         GROUP BY username, password ORDER BY n DESC, username, password LIMIT ?3",
        &window_top,
        |r| {
            Ok(Credential {
                username: text(r, 0)?,
                password: text(r, 1)?,
                tried: count_of(r, 2)?,
                accepted: count_of(r, 3)?,
                tables: Vec::new(),
            })
        },
    )?;
    let families = collect(
        db,
        "SELECT family, COUNT(*) AS n, MIN(start_time), MAX(start_time) FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 AND family IS NOT NULL
         GROUP BY family ORDER BY n DESC, family",
        &window,
        |r| {
            Ok(Family {
                family: text(r, 0)?,
                sessions: count_of(r, 1)?,
                first_seen: text(r, 2)?,
                last_seen: text(r, 3)?,
            })
        },
    )?;
    let counted = |sql: &str| -> Result<Vec<Counted>, StoreError> {
        collect(db, sql, &window_top, |r| {
            Ok(Counted {
                value: text(r, 0)?,
                count: count_of(r, 1)?,
            })
        })
    };
    let top_commands = counted(
        "SELECT input, COUNT(*) AS n FROM commands
         WHERE timestamp >= ?1 AND timestamp < ?2 AND failed = 0
         GROUP BY input ORDER BY n DESC, input LIMIT ?3",
    )?;
    let top_exploits = counted(
        "SELECT exploit || COALESCE(' (' || cve || ')', '') AS e, COUNT(*) AS n FROM exploits
         WHERE timestamp >= ?1 AND timestamp < ?2
         GROUP BY exploit, cve ORDER BY n DESC, exploit LIMIT ?3",
    )?;
    let top_paths = counted(
        "SELECT method || ' ' || path AS p, COUNT(*) AS n FROM http_requests
         WHERE timestamp >= ?1 AND timestamp < ?2
         GROUP BY p ORDER BY n DESC, p LIMIT ?3",
    )?;
    let top_urls = counted(
        "SELECT url, COUNT(*) AS n FROM download_requests WHERE timestamp >= ?1 AND timestamp < ?2
         GROUP BY url ORDER BY n DESC, url LIMIT ?3",
    )?;
    let fingerprints = counted(
        "SELECT fingerprint, COUNT(*) AS n FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 AND fingerprint IS NOT NULL
         GROUP BY fingerprint ORDER BY n DESC, fingerprint LIMIT ?3",
    )?;
    let ssh_clients = counted(
        "SELECT client_version, COUNT(*) AS n FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 AND client_version IS NOT NULL
         GROUP BY client_version ORDER BY n DESC, client_version LIMIT ?3",
    )?;
    let hassh = counted(
        "SELECT hassh, COUNT(*) AS n FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 AND hassh IS NOT NULL
         GROUP BY hassh ORDER BY n DESC, hassh LIMIT ?3",
    )?;
    let countries = counted(
        "SELECT country, COUNT(*) AS n FROM sessions
         WHERE start_time >= ?1 AND start_time < ?2 AND country IS NOT NULL
         GROUP BY country ORDER BY n DESC, country LIMIT ?3",
    )?;
    let asns = counted(
        "SELECT 'AS' || CAST(asn AS TEXT) || COALESCE(' ' || as_org, '') AS a, COUNT(*) AS n
         FROM sessions WHERE start_time >= ?1 AND start_time < ?2 AND asn IS NOT NULL
         GROUP BY asn, as_org ORDER BY n DESC, a LIMIT ?3",
    )?;
    // Hosts: from every URL in the window, not only the top ones.
    let mut hosts: BTreeMap<String, u64> = BTreeMap::new();
    db.each_row(
        "SELECT url FROM download_requests WHERE timestamp >= ?1 AND timestamp < ?2",
        &window,
        &mut |r| {
            if let Some(host) = url_host(&text(r, 0)?) {
                *hosts.entry(host).or_insert(0) += 1;
            }
            Ok(())
        },
    )?;
    let mut top_hosts: Vec<Counted> = hosts
        .into_iter()
        .map(|(value, count)| Counted { value, count })
        .collect();
    top_hosts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    top_hosts.truncate(TOP);
    let samples = collect(
        db,
        "SELECT f.sha256, MIN(f.timestamp) AS first, COUNT(*), t.kind, t.arch, t.size, t.mirai_key, t.json
         FROM files f LEFT JOIN triage t ON t.sha256 = f.sha256
         WHERE f.timestamp >= ?1 AND f.timestamp < ?2
         GROUP BY f.sha256, t.kind, t.arch, t.size, t.mirai_key, t.json ORDER BY first, f.sha256",
        &window,
        |r| {
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
        },
    )?;
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
        top_commands,
        top_exploits,
        top_paths,
        top_urls,
        top_hosts,
        samples,
        fingerprints,
        ssh_clients,
        hassh,
        countries,
        asns,
    })
}

/// The host of `scheme://[user@]host[:port]/…`.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_out_of_every_url_form() {
        assert_eq!(
            url_host("http://127.0.0.1:80/x").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            url_host("ftp://anonymous@Bad.Example:21/z1.sh").as_deref(),
            Some("bad.example")
        );
        assert_eq!(url_host("tftp://[::1]:69/t").as_deref(), Some("::1"));
        assert_eq!(url_host("no url"), None);
    }
}
