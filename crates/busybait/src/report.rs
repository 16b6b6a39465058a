//! `busybait report`: a window of the database as tables an analyst reads in a
//! terminal, or as stable JSON (`--json`). Attacker-chosen text is escaped before it
//! reaches the terminal (no control bytes) and long values are shortened in tables.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use busybait_store::report::{self, Report};
use comfy_table::{presets, ContentArrangement, Table};

/// Longest value shown in a table cell (JSON has them whole).
const MAX_CELL: usize = 80;

/// Prints the report of `[since, until)`.
pub fn report(
    data_dir: &Path,
    since: Option<&str>,
    until: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let since = since
        .map(|t| crate::export::window_edge(t, now))
        .transpose()?;
    let until = until
        .map(|t| crate::export::window_edge(t, now))
        .transpose()?;
    let conn = crate::read::open_db(data_dir)?;
    let mut r = report::report(&conn, since.as_deref(), until.as_deref())
        .context("reading the database")?;
    let mirai = busybait_emulator::auth::parse_credential_table(
        busybait_emulator::auth::MIRAI_CREDENTIALS_TSV,
    );
    for c in &mut r.top_credentials {
        let pair = (
            c.username.as_bytes().to_vec(),
            c.password.as_bytes().to_vec(),
        );
        if mirai.contains(&pair) {
            c.tables.push("mirai".to_string());
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
    } else {
        render(&r, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// Attacker text made safe and short for a terminal cell.
fn cell(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        if c.is_control() {
            s.push_str(&c.escape_default().to_string());
        } else {
            s.push(c);
        }
    }
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL - 1).collect();
        return format!("{cut}…");
    }
    s
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

fn render(r: &Report, out: &mut impl Write) -> anyhow::Result<()> {
    let window = format!(
        "{} .. {}",
        r.since.as_deref().unwrap_or("(start)"),
        r.until.as_deref().unwrap_or("(now)")
    );
    writeln!(out, "busybait report {window}\n")?;
    writeln!(
        out,
        "sessions {}  unique sources {}  logins tried {}  accepted {}\n",
        r.sessions, r.unique_sources, r.logins_tried, r.logins_accepted
    )?;
    let sections: Vec<(&str, Table, bool)> = vec![
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
    ];
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
    fn cells_never_carry_control_bytes() {
        assert_eq!(cell("echo \x1b[2J\r\n"), "echo \\u{1b}[2J\\r\\n");
        let long = "a".repeat(200);
        assert_eq!(cell(&long).chars().count(), MAX_CELL);
        assert!(cell(&long).ends_with('…'));
    }
}
