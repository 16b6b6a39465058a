//! `busybait report`: a window of the store as tables an analyst reads in a
//! terminal, or as stable JSON (`--json`). Attacker-chosen text is escaped before it
//! reaches the terminal ([`crate::terminal`]) and long values are shortened in tables.

use std::io::Write;
use std::time::SystemTime;

use anyhow::Context;
use busybait_store::read::Report;
use busybait_store::report;
use comfy_table::{presets, ContentArrangement, Table};

use crate::terminal::cell;

/// Whose events a report counts.
pub enum Scope {
    /// Every sensor's the store holds.
    Whole,
    /// One sensor's.
    Sensor(String),
    /// Each sensor's, one report each.
    BySensor,
}

/// One sensor's report, as `--by-sensor --json` prints it.
#[derive(serde::Serialize)]
struct OfSensor {
    sensor: String,
    name: String,
    report: Report,
}

/// Prints the report of `[since, until)`.
pub fn report(
    location: &crate::read::Location,
    since: Option<&str>,
    until: Option<&str>,
    scope: Scope,
    json: bool,
) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let window = crate::spans::window(since, until, now)?;
    let store = location.open()?;
    let mut out = std::io::stdout().lock();
    let shown_now = humantime::format_rfc3339_seconds(now).to_string();
    let report_of = |sensor: Option<&str>| -> anyhow::Result<Report> {
        let mut r = match sensor {
            Some(id) => store.sensor_report(&window, id),
            None => store.report(&window),
        }
        .context("reading the store")?;
        mark_known_tables(&mut r);
        Ok(r)
    };
    match scope {
        Scope::Whole | Scope::Sensor(_) => {
            let sensor = match &scope {
                Scope::Sensor(id) => Some(id.as_str()),
                _ => None,
            };
            let r = report_of(sensor)?;
            if json {
                let text = serde_json::to_string_pretty(&r)?;
                writeln!(out, "{}", crate::terminal::json_line(&text))?;
            } else {
                render(&r, &shown_now, &mut out)?;
            }
        }
        Scope::BySensor => {
            let mut all = Vec::new();
            for s in store.sensors().context("reading the store's sensors")? {
                all.push(OfSensor {
                    report: report_of(Some(&s.sensor))?,
                    sensor: s.sensor,
                    name: s.name,
                });
            }
            if json {
                let text = serde_json::to_string_pretty(&all)?;
                writeln!(out, "{}", crate::terminal::json_line(&text))?;
            } else {
                for s in &all {
                    writeln!(
                        out,
                        "# sensor {} ({})\n",
                        crate::terminal::escape(&s.sensor),
                        crate::terminal::escape(&s.name)
                    )?;
                    render(&s.report, &shown_now, &mut out)?;
                    writeln!(out)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Notes in each top credential the known tables it comes from (`mirai`).
pub(crate) fn mark_known_tables(r: &mut Report) {
    let mirai =
        busybait_device::auth::parse_credential_table(busybait_device::auth::MIRAI_CREDENTIALS_TSV);
    for c in &mut r.top_credentials {
        let pair = (
            c.username.as_bytes().to_vec(),
            c.password.as_bytes().to_vec(),
        );
        if mirai.contains(&pair) {
            c.tables.push("mirai".to_string());
        }
    }
}

pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    t
}

/// `n thing` or `n things`.
fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// The window the report covers, in words: its edges as asked, and when its first
/// and last sessions started.
fn window_line(r: &Report, now: &str) -> String {
    let from = r.since.as_deref().unwrap_or("the first session");
    let to = r.until.clone().unwrap_or_else(|| format!("now ({now})"));
    let span = match (&r.first_session, &r.last_session) {
        (Some(first), Some(last)) => format!("; sessions from {first} to {last}"),
        _ => "; no sessions".to_string(),
    };
    format!("from {from} to {to}{span}")
}

fn render(r: &Report, now: &str, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "busybait report {}\n", window_line(r, now))?;
    writeln!(
        out,
        "{}, {} (unique), {} tried, {} accepted\n",
        plural(r.sessions, "session"),
        plural(r.unique_sources, "source"),
        plural(r.logins_tried, "login"),
        r.logins_accepted
    )?;
    let sections: Vec<(&str, Table, bool)> = vec![
        (
            "Top sources",
            table(
                &[
                    "source",
                    "sessions",
                    "logged in",
                    "commands",
                    "first seen",
                    "last seen",
                ],
                r.top_sources
                    .iter()
                    .map(|s| {
                        vec![
                            cell(&s.ip),
                            s.sessions.to_string(),
                            s.logged_in.to_string(),
                            s.commands.to_string(),
                            s.first_seen.clone(),
                            s.last_seen.clone(),
                        ]
                    })
                    .collect(),
            ),
            r.top_sources.is_empty(),
        ),
        (
            "Sessions per day",
            table(
                &["day", "sessions", "sources"],
                r.by_day
                    .iter()
                    .map(|d| vec![d.day.clone(), d.sessions.to_string(), d.sources.to_string()])
                    .collect(),
            ),
            r.by_day.is_empty(),
        ),
        (
            "Top credentials",
            table(
                &["username", "password", "tried", "accepted", "tables"],
                r.top_credentials
                    .iter()
                    .map(|c| {
                        vec![
                            cell(&c.username),
                            cell(&c.password),
                            c.tried.to_string(),
                            c.accepted.to_string(),
                            c.tables.join(","),
                        ]
                    })
                    .collect(),
            ),
            r.top_credentials.is_empty(),
        ),
        (
            "Families",
            table(
                &["family", "sessions", "first seen", "last seen"],
                r.families
                    .iter()
                    .map(|f| {
                        vec![
                            cell(&f.family),
                            f.sessions.to_string(),
                            f.first_seen.clone(),
                            f.last_seen.clone(),
                        ]
                    })
                    .collect(),
            ),
            r.families.is_empty(),
        ),
        counted("Top commands", "command", &r.top_commands),
        counted("Top exploits", "exploit", &r.top_exploits),
        counted("Top web paths", "request", &r.top_paths),
        counted("Download URLs", "url", &r.top_urls),
        counted("Download hosts", "host", &r.top_hosts),
        (
            "Samples",
            table(
                &[
                    "sha256",
                    "first seen",
                    "drops",
                    "kind",
                    "arch",
                    "size",
                    "C2",
                ],
                r.samples
                    .iter()
                    .map(|s| {
                        vec![
                            s.sha256.clone(),
                            s.first_seen.clone(),
                            s.drops.to_string(),
                            s.kind.clone().unwrap_or_default(),
                            s.arch.clone().unwrap_or_default(),
                            s.size.map(|n| n.to_string()).unwrap_or_default(),
                            cell(&s.c2.join(" ")),
                        ]
                    })
                    .collect(),
            ),
            r.samples.is_empty(),
        ),
        counted("Client fingerprints", "fingerprint", &r.fingerprints),
        counted("SSH clients", "client", &r.ssh_clients),
        counted("SSH HASSH", "hassh", &r.hassh),
    ];
    // Only with GeoIP databases ([geoip]): absent, not "(none)", without them.
    let mut sections = sections;
    if !r.countries.is_empty() {
        sections.push(counted("Countries", "country", &r.countries));
    }
    if !r.asns.is_empty() {
        sections.push(counted("Autonomous systems", "as", &r.asns));
    }
    for (title, t, empty) in sections {
        writeln!(out, "{title}")?;
        if empty {
            writeln!(out, "  (none)\n")?;
        } else {
            writeln!(out, "{t}\n")?;
        }
    }
    Ok(())
}

fn counted(
    title: &'static str,
    what: &'static str,
    rows: &[report::Counted],
) -> (&'static str, Table, bool) {
    (
        title,
        table(
            &[what, "count"],
            rows.iter()
                .map(|c| vec![cell(&c.value), c.count.to_string()])
                .collect(),
        ),
        rows.is_empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_words() {
        assert_eq!(plural(1, "session"), "1 session");
        assert_eq!(plural(0, "session"), "0 sessions");
        assert_eq!(plural(2, "source"), "2 sources");
    }
}
