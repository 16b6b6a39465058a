//! Tallies: the report's top lists counted as the events are written, per hour and
//! for all time, so that a window's lists are sums over one row per value and hour
//! (and all time's over one row per value) instead of aggregations over every
//! session, login and command in it. A million sessions' all-time top sources is
//! then a walk over the sources, not over the million.
//!
//! One row per kind, hour, value and detail (`tallies`, SQLite schema 10). `hour` is
//! the UTC `YYYY-MM-DDTHH` of the event, or of its session's start for what
//! describes a session (its source, family, client, country, …), or [`ALL_TIME`].
//! The sink writes them in the transaction that writes the rows they count, and only
//! for a row that is new, so a batch written twice counts once. What describes a
//! session and changes (a family label) moves its count from the old value to the
//! new.
//!
//! A window is read as its whole hours from here and its ragged ends from the rows
//! ([`Split`]), so its numbers are the rows' own. Retention prunes an hour's tallies
//! with its rows; an all-time tally goes when its value was last seen before the
//! cutoff, so all time is what the sensor still remembers, counted since the value
//! first appeared. The fleet's PostgreSQL has no tallies: its collectors write in any
//! order, and it counts from its rows.

use rusqlite::{params, OptionalExtension, Transaction};

use crate::StoreError;

/// The `hour` of the all-time tallies (after every `YYYY-…` hour in order).
pub(crate) const ALL_TIME: &str = "all";

/// What is tallied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Sessions by source address (`accepted`: of which logged in; `commands`:
    /// command lines they entered).
    Source,
    /// Login attempts by user name (`detail`: password; `accepted`: accepted).
    Credential,
    /// Sessions by family label.
    Family,
    /// Command lines entered (not those that failed to parse).
    Command,
    /// Exploits sent (`detail`: CVE or empty).
    Exploit,
    /// Web requests by `METHOD /path`.
    Path,
    /// Download requests by URL.
    Url,
    /// Download requests by the URL's host.
    Host,
    /// Sessions by telnet client fingerprint.
    Fingerprint,
    /// Sessions by SSH identification line.
    SshClient,
    /// Sessions by HASSH.
    Hassh,
    /// Sessions by the source's country.
    Country,
    /// Sessions by the source's AS number (`detail`: its organisation or empty).
    Asn,
}

impl Kind {
    /// Every kind.
    pub(crate) const ALL: [Self; 13] = [
        Self::Source,
        Self::Credential,
        Self::Family,
        Self::Command,
        Self::Exploit,
        Self::Path,
        Self::Url,
        Self::Host,
        Self::Fingerprint,
        Self::SshClient,
        Self::Hassh,
        Self::Country,
        Self::Asn,
    ];

    /// Its name in the `kind` column.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Credential => "credential",
            Self::Family => "family",
            Self::Command => "command",
            Self::Exploit => "exploit",
            Self::Path => "path",
            Self::Url => "url",
            Self::Host => "host",
            Self::Fingerprint => "fingerprint",
            Self::SshClient => "ssh_client",
            Self::Hassh => "hassh",
            Self::Country => "country",
            Self::Asn => "asn",
        }
    }

    /// One row per counted thing in `[lo, hi)` (SQL expressions), in the tallies'
    /// columns: `value, detail, n, accepted, commands, first_seen, last_seen`. A
    /// window's lists aggregate these, from the rows alone or with the tallies.
    /// `Host` has none: a host is taken out of a URL by [`url_host`], not by SQL.
    /// `and` is more conditions (`" AND sensor = ?4"`), each after `AND`.
    pub(crate) fn units(self, lo: &str, hi: &str, and: &str) -> Option<String> {
        let session = |value: &str, detail: &str, column: &str| {
            format!(
                "SELECT {value} AS value, {detail} AS detail, 1 AS n, 0 AS accepted, 0 AS commands,
                    start_time AS first_seen, start_time AS last_seen
                 FROM sessions WHERE start_time >= {lo} AND start_time < {hi} AND {column} IS NOT NULL{and}"
            )
        };
        let event = |table: &str, value: &str, detail: &str, filter: &str| {
            format!(
                "SELECT {value} AS value, {detail} AS detail, 1 AS n, 0 AS accepted, 0 AS commands,
                    timestamp AS first_seen, timestamp AS last_seen
                 FROM {table} WHERE timestamp >= {lo} AND timestamp < {hi}{filter}{and}"
            )
        };
        Some(match self {
            Self::Source => format!(
                "SELECT src_ip AS value, '' AS detail, 1 AS n,
                    CASE WHEN username IS NOT NULL THEN 1 ELSE 0 END AS accepted,
                    commands AS commands, start_time AS first_seen, start_time AS last_seen
                 FROM sessions WHERE start_time >= {lo} AND start_time < {hi}{and}"
            ),
            Self::Credential => format!(
                "SELECT username AS value, password AS detail, 1 AS n, success AS accepted,
                    0 AS commands, timestamp AS first_seen, timestamp AS last_seen
                 FROM logins WHERE timestamp >= {lo} AND timestamp < {hi}{and}"
            ),
            Self::Family => session("family", "''", "family"),
            Self::Command => event("commands", "input", "''", " AND failed = 0"),
            Self::Exploit => event("exploits", "exploit", "COALESCE(cve, '')", ""),
            Self::Path => event("http_requests", "method || ' ' || path", "''", ""),
            Self::Url => event("download_requests", "url", "''", ""),
            Self::Host => return None,
            Self::Fingerprint => session("fingerprint", "''", "fingerprint"),
            Self::SshClient => session("client_version", "''", "client_version"),
            Self::Hassh => session("hassh", "''", "hassh"),
            Self::Country => session("country", "''", "country"),
            Self::Asn => session("CAST(asn AS TEXT)", "COALESCE(as_org, '')", "asn"),
        })
    }

    /// How a value and detail are shown (and ordered, after their count).
    pub(crate) fn shown(self) -> &'static str {
        match self {
            Self::Exploit => {
                "value || CASE WHEN detail = '' THEN '' ELSE ' (' || detail || ')' END"
            }
            Self::Asn => "'AS' || value || CASE WHEN detail = '' THEN '' ELSE ' ' || detail END",
            _ => "value",
        }
    }
}

/// What one tally adds (a moved count subtracts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    /// Things counted.
    pub n: i64,
    /// Of which accepted (logins) or logged in (sources' sessions).
    pub accepted: i64,
    /// Command lines (sources' sessions).
    pub commands: i64,
}

impl Delta {
    /// One more.
    pub(crate) const ONE: Self = Self {
        n: 1,
        accepted: 0,
        commands: 0,
    };
}

/// The `YYYY-MM-DDTHH` of a stored timestamp.
pub(crate) fn hour_of(ts: &str) -> &str {
    ts.get(..13).unwrap_or(ts)
}

/// The tallies of one transaction, summed in memory and written at its end: a batch's
/// sessions repeat the same credentials, commands, clients and sources, and one
/// upsert per distinct value and hour costs a fraction of one per event. Nothing
/// reads the tallies while the sink writes, so the sums are the same.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    sums: std::collections::HashMap<(Kind, String, String, String), Sum>,
}

/// One tally's part of a transaction.
#[derive(Debug)]
struct Sum {
    delta: Delta,
    first_seen: String,
    last_seen: String,
}

impl Pending {
    /// Adds `delta` to `value`'s tally of `kind` in `time`'s hour and in all time.
    pub(crate) fn add(
        &mut self,
        kind: Kind,
        time: &str,
        (value, detail): (&str, &str),
        delta: Delta,
    ) {
        for hour in [hour_of(time), ALL_TIME] {
            let key = (
                kind,
                hour.to_string(),
                value.to_string(),
                detail.to_string(),
            );
            match self.sums.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut held) => {
                    let sum = held.get_mut();
                    sum.delta.n += delta.n;
                    sum.delta.accepted += delta.accepted;
                    sum.delta.commands += delta.commands;
                    if time < sum.first_seen.as_str() {
                        sum.first_seen = time.to_string();
                    }
                    if time > sum.last_seen.as_str() {
                        sum.last_seen = time.to_string();
                    }
                }
                std::collections::hash_map::Entry::Vacant(new) => {
                    new.insert(Sum {
                        delta,
                        first_seen: time.to_string(),
                        last_seen: time.to_string(),
                    });
                }
            }
        }
    }

    /// Writes the sums into `tx`, one upsert each.
    pub(crate) fn write(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        if self.sums.is_empty() {
            return Ok(());
        }
        let mut upsert = tx.prepare_cached(
            "INSERT INTO tallies (kind, hour, value, detail, n, accepted, commands, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (kind, hour, value, detail) DO UPDATE SET n = n + excluded.n,
                 accepted = accepted + excluded.accepted, commands = commands + excluded.commands,
                 first_seen = min(first_seen, excluded.first_seen),
                 last_seen = max(last_seen, excluded.last_seen)",
        )?;
        for ((kind, hour, value, detail), sum) in self.sums {
            upsert.execute(params![
                kind.name(),
                hour,
                value,
                detail,
                sum.delta.n,
                sum.delta.accepted,
                sum.delta.commands,
                sum.first_seen,
                sum.last_seen
            ])?;
        }
        Ok(())
    }
}

/// A session's source and start (what is tallied by its start), if it is stored.
pub(crate) fn session_source(
    tx: &Transaction<'_>,
    session: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT src_ip, start_time FROM sessions WHERE session = ?1")?
        .query_row(params![session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// A session's first successful login: its source's sessions logged in, one more
/// (call before the session row records the login).
pub(crate) fn logged_in(
    tx: &Transaction<'_>,
    tallies: &mut Pending,
    session: &str,
) -> Result<(), StoreError> {
    let before: Option<(String, String, bool)> = tx
        .prepare_cached(
            "SELECT src_ip, start_time, username IS NULL FROM sessions WHERE session = ?1",
        )?
        .query_row(params![session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((src, start, true)) = before {
        let delta = Delta {
            accepted: 1,
            ..Delta::default()
        };
        tallies.add(Kind::Source, &start, (&src, ""), delta);
    }
    Ok(())
}

/// A session's `column` becomes `value`: its tally of `kind` moves from the old value
/// (call before the session row is updated). `column` is ours, never input.
pub(crate) fn describe_session(
    tx: &Transaction<'_>,
    tallies: &mut Pending,
    session: &str,
    column: &'static str,
    kind: Kind,
    value: &str,
) -> Result<(), StoreError> {
    let before: Option<(Option<String>, String)> = tx
        .prepare_cached(&format!(
            "SELECT {column}, start_time FROM sessions WHERE session = ?1"
        ))?
        .query_row(params![session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((old, start)) = before else {
        return Ok(());
    };
    if old.as_deref() == Some(value) {
        return Ok(());
    }
    if let Some(old) = old {
        let minus = Delta {
            n: -1,
            ..Delta::default()
        };
        tallies.add(kind, &start, (&old, ""), minus);
    }
    tallies.add(kind, &start, (value, ""), Delta::ONE);
    Ok(())
}

/// Counts what the rows of a database made before schema 10 hold (run by that
/// migration, in its transaction).
pub(crate) fn backfill(tx: &Transaction<'_>) -> Result<(), StoreError> {
    for kind in Kind::ALL {
        let Some(units) = kind.units("'0'", "':'", "") else {
            continue;
        };
        for hour in ["substr(first_seen, 1, 13)", "'all'"] {
            tx.execute_batch(&format!(
                "INSERT INTO tallies (kind, hour, value, detail, n, accepted, commands, first_seen, last_seen)
                 SELECT '{}', {hour}, value, detail, SUM(n), SUM(accepted), SUM(commands),
                     MIN(first_seen), MAX(last_seen)
                 FROM ({units}) GROUP BY 2, 3, 4",
                kind.name()
            ))?;
        }
    }
    let urls: Vec<(String, String)> = tx
        .prepare("SELECT url, timestamp FROM download_requests ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut hosts = Pending::default();
    for (url, ts) in urls {
        if let Some(host) = url_host(&url) {
            hosts.add(Kind::Host, &ts, (&host, ""), Delta::ONE);
        }
    }
    hosts.write(tx)
}

/// Deletes (or counts) the tallies of the hours before `before`'s and the all-time
/// tallies of values last seen before `before`, `batch` rows per transaction,
/// `pause` between them.
pub(crate) fn prune(
    conn: &rusqlite::Connection,
    before: &str,
    dry_run: bool,
    batch: usize,
    pause: &mut dyn FnMut(),
) -> Result<u64, StoreError> {
    let hour = hour_of(before);
    // Hours sort before `all`; an all-time row goes by its last sighting.
    let old = "kind = ?1 AND ((hour < ?2) OR (hour = 'all' AND last_seen < ?3))";
    let mut total = 0u64;
    for kind in Kind::ALL {
        let args = params![kind.name(), hour, before];
        if dry_run {
            let n: i64 = conn.query_row(
                &format!("SELECT count(*) FROM tallies WHERE {old}"),
                args,
                |r| r.get(0),
            )?;
            total += u64::try_from(n).unwrap_or(0);
            continue;
        }
        let sql = format!(
            "DELETE FROM tallies WHERE (kind, hour, value, detail) IN
                 (SELECT kind, hour, value, detail FROM tallies WHERE {old} LIMIT {batch})"
        );
        loop {
            let n = conn.execute(&sql, args)?;
            total += n as u64;
            if n < batch {
                break;
            }
            pause();
        }
    }
    Ok(total)
}

/// The host of `scheme://[user@]host[:port]/…`, lower-cased.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// How a window `[lo, hi)` is read with the tallies: its whole hours
/// `[hour_from, hour_to)` from them, the rest (`[lo, head_end)` and `[tail_start,
/// hi)`) from the rows. All time is the all-time tallies alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// First whole hour (`YYYY-MM-DDTHH`), or [`ALL_TIME`].
    pub hour_from: String,
    /// After the last whole hour.
    pub hour_to: String,
    /// Where the rows before the whole hours end.
    pub head_end: String,
    /// Where the rows after them start.
    pub tail_start: String,
    /// Whether this is all time (lists from the all-time tallies, days from `daily`).
    pub all_time: bool,
}

/// A window edge as the read side writes it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn well_formed(edge: &str) -> bool {
    edge.len() == 27 && edge.ends_with('Z') && humantime::parse_rfc3339(edge).is_ok()
}

/// The hour after `hour` (`YYYY-MM-DDTHH`).
fn next_hour(hour: &str) -> Option<String> {
    let t = humantime::parse_rfc3339(&format!("{hour}:00:00Z")).ok()?;
    let next = t.checked_add(std::time::Duration::from_secs(3600))?;
    let text = busybait_events::format_timestamp(next);
    Some(hour_of(&text).to_string())
}

impl Split {
    /// The split of `[since, until)` (`None`: open), or `None` where an edge is not
    /// in the read side's form (such a window is counted from the rows).
    pub(crate) fn of(since: Option<&str>, until: Option<&str>) -> Option<Self> {
        if since.is_none() && until.is_none() {
            return Some(Self {
                hour_from: ALL_TIME.to_string(),
                // Only `all` is in [all, all\x01).
                hour_to: format!("{ALL_TIME}\u{1}"),
                head_end: String::new(),
                tail_start: "\u{10ffff}".to_string(),
                all_time: true,
            });
        }
        if !since.is_none_or(well_formed) || !until.is_none_or(well_formed) {
            return None;
        }
        // Every hour starts with a digit: "0" is before all of them, ":" after.
        let hour_from = match since {
            None => "0".to_string(),
            Some(lo) if lo.get(13..) == Some(":00:00.000000Z") => hour_of(lo).to_string(),
            Some(lo) => next_hour(hour_of(lo))?,
        };
        let hour_to = until.map_or(":".to_string(), |hi| hour_of(hi).to_string());
        let start = |hour: &str| format!("{hour}:00:00.000000Z");
        let lo = since.unwrap_or("");
        let hi = until.unwrap_or("\u{10ffff}");
        if hour_from >= hour_to {
            // No whole hour: all of it from the rows.
            return Some(Self {
                hour_from: String::new(),
                hour_to: String::new(),
                head_end: hi.to_string(),
                tail_start: hi.to_string(),
                all_time: false,
            });
        }
        Some(Self {
            head_end: if since.is_none() {
                lo.to_string()
            } else {
                start(&hour_from)
            },
            tail_start: if until.is_none() {
                hi.to_string()
            } else {
                start(&hour_to)
            },
            hour_from,
            hour_to,
            all_time: false,
        })
    }
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

    #[test]
    fn a_window_is_its_whole_hours_and_its_ragged_ends() {
        let split = Split::of(
            Some("2026-12-04T06:13:00.000000Z"),
            Some("2026-12-05T06:13:00.000000Z"),
        )
        .unwrap();
        assert_eq!(
            split,
            Split {
                hour_from: "2026-12-04T07".into(),
                hour_to: "2026-12-05T06".into(),
                head_end: "2026-12-04T07:00:00.000000Z".into(),
                tail_start: "2026-12-05T06:00:00.000000Z".into(),
                all_time: false,
            }
        );
        // An edge on the hour is a whole hour; the day rolls over.
        let split = Split::of(
            Some("2026-12-04T23:00:00.000000Z"),
            Some("2026-12-05T01:00:00.000000Z"),
        )
        .unwrap();
        assert_eq!(
            (split.hour_from.as_str(), split.hour_to.as_str()),
            ("2026-12-04T23", "2026-12-05T01")
        );
        assert_eq!(next_hour("2026-12-31T23").as_deref(), Some("2027-01-01T00"));
        // Inside one hour: the rows only.
        let split = Split::of(
            Some("2026-12-04T06:13:00.000000Z"),
            Some("2026-12-04T06:50:00.000000Z"),
        )
        .unwrap();
        assert_eq!(split.hour_from, split.hour_to);
        assert_eq!(split.head_end, "2026-12-04T06:50:00.000000Z");
        // Open ends.
        let split = Split::of(Some("2026-12-04T06:13:00.000000Z"), None).unwrap();
        assert_eq!(split.hour_to, ":");
        assert_eq!(split.tail_start, "\u{10ffff}");
        assert!(Split::of(None, None).unwrap().all_time);
        // Not the read side's form: the rows only.
        assert_eq!(Split::of(Some("2026-12-04"), None), None);
    }
}
