//! `busybait export`: the indicators a time window holds, in the plain forms firewalls
//! and blocklist feeds take. Every value and time comes from the database, so the same
//! data exports to the same bytes.

use std::io::Write;
use std::time::SystemTime;

use anyhow::Context;
use busybait_store::read::{Family, IndicatorKind, IndicatorRow, ReadStore, Window};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A STIX 2.1 bundle: observables, indicators, observed data, sightings by the
    /// sensor's identity, a malware family per label and `indicates` relationships.
    Stix,
    /// A MISP event (`{"Event": …}`): attributes, file objects, TLP and family tags.
    Misp,
    /// Every indicator: `type,value,first_seen,last_seen,count` (RFC 4180).
    Csv,
    /// Source addresses, one per line.
    Ips,
    /// URLs sessions asked for, one per line.
    Urls,
    /// SHA-256 of dropped files, one per line.
    Hashes,
}

/// Prints the export to stdout.
pub fn export(
    location: &crate::read::Location,
    format: Format,
    since: Option<&str>,
    until: Option<&str>,
    include_private: bool,
) -> anyhow::Result<()> {
    let window = crate::spans::window(since, until, SystemTime::now())?;
    let store = location.open()?;
    let mut out = std::io::stdout().lock();
    let left_out = write(
        &*store,
        &|| location.producer(),
        format,
        &window,
        include_private,
        &mut out,
    )?;
    out.flush()?;
    #[allow(clippy::print_stderr)]
    {
        if left_out.private > 0 {
            eprintln!(
                "busybait: {} non-public or sensor address(es) left out (--include-private keeps them)",
                left_out.private
            );
        }
        if left_out.unlistable > 0 {
            eprintln!(
                "busybait: {} value(s) with whitespace or control bytes left out (see --format csv)",
                left_out.unlistable
            );
        }
    }
    Ok(())
}

/// What an export left out, for the caller to say.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LeftOut {
    /// Non-public or the sensor's own addresses (without `include_private`).
    pub private: usize,
    /// Values a one-per-line list cannot hold (whitespace, control bytes).
    pub unlistable: usize,
}

/// Writes the export of `window` in `format`: the one code behind `busybait export`
/// and the console's export links. `producer` names who saw the data (STIX, MISP).
pub fn write(
    store: &dyn ReadStore,
    producer: &dyn Fn() -> anyhow::Result<String>,
    format: Format,
    window: &Window,
    include_private: bool,
    out: &mut dyn Write,
) -> anyhow::Result<LeftOut> {
    let mut left_out = LeftOut::default();
    let mut rows = store.indicators(window).context("reading indicators")?;
    if !include_private && matches!(format, Format::Ips | Format::Stix | Format::Misp) {
        let own = store
            .sensor_addresses()
            .context("reading the sensor's addresses")?;
        let before = rows.len();
        rows.retain(|r| r.kind != IndicatorKind::Ip || blockable(&r.value, &own));
        left_out.private = before - rows.len();
    }
    match format {
        Format::Csv => {
            let geo = store
                .source_geo(window)
                .context("reading sources' countries")?;
            write_csv(&rows, &geo, out)?
        }
        Format::Ips => left_out.unlistable = write_lines(&rows, IndicatorKind::Ip, out)?,
        Format::Urls => left_out.unlistable = write_lines(&rows, IndicatorKind::Url, out)?,
        Format::Hashes => left_out.unlistable = write_lines(&rows, IndicatorKind::Sha256, out)?,
        Format::Stix | Format::Misp => {
            let producer = producer()?;
            let families: Vec<Family> = store
                .report(window)
                .context("reading families")?
                .families
                .into_iter()
                .filter(|f| f.family != "unknown")
                .collect();
            let files = store.file_details(window).context("reading file names")?;
            let exploits = store.exploits(window).context("reading exploits")?;
            let document = if format == Format::Stix {
                let families_of = store
                    .indicator_families(window)
                    .context("reading families")?;
                let seen = crate::stix::Seen {
                    rows: &rows,
                    families: &families,
                    families_of: &families_of,
                    files: &files,
                    exploits: &exploits,
                };
                crate::stix::bundle(&producer, &seen)
            } else {
                crate::misp::event(&producer, "green", &rows, &families, &files, &exploits)
            };
            let text = serde_json::to_string_pretty(&document)?;
            writeln!(out, "{}", crate::terminal::json_line(&text))?;
        }
    }
    Ok(left_out)
}

/// Whether a source address belongs on a blocklist: a public host's, and not one of
/// the sensor's own.
fn blockable(value: &str, own: &std::collections::BTreeSet<String>) -> bool {
    !own.contains(value)
        && value
            .parse::<std::net::IpAddr>()
            .is_ok_and(crate::addresses::is_public)
}

/// Every indicator as RFC 4180 CSV: `type,value,first_seen,last_seen,count`, and
/// `country,asn` for addresses when the sensor had GeoIP databases (no such
/// columns without). Control characters in a value (a bot's command line can put
/// them in a URL) are written as escapes (`\u{1b}`), so the file is safe to `cat`.
fn write_csv(
    rows: &[IndicatorRow],
    geo: &busybait_store::read::SourceGeo,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["type", "value", "first_seen", "last_seen", "count"];
    if !geo.is_empty() {
        header.extend(["country", "asn"]);
    }
    w.write_record(&header)?;
    for r in rows {
        let mut record = vec![
            r.kind.as_str().to_string(),
            crate::terminal::escape(&r.value),
            r.first_seen.clone(),
            r.last_seen.clone(),
            r.count.to_string(),
        ];
        if !geo.is_empty() {
            let (country, asn) = match (r.kind, geo.get(&r.value)) {
                (IndicatorKind::Ip, Some((country, asn))) => (
                    country.clone().unwrap_or_default(),
                    asn.map(|a| a.to_string()).unwrap_or_default(),
                ),
                _ => (String::new(), String::new()),
            };
            record.extend([country, asn]);
        }
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

/// One value of `kind` per line. Values that would break a line (whitespace or
/// control bytes from an attacker's command line) are left out and counted.
fn write_lines(
    rows: &[IndicatorRow],
    kind: IndicatorKind,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let mut values: Vec<&str> = rows
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.value.as_str())
        .collect();
    if kind == IndicatorKind::Ip {
        // Numeric order for addresses (127.0.0.2 before 127.0.0.10).
        values.sort_by_key(|v| (v.parse::<std::net::IpAddr>().ok(), v.to_string()));
    }
    let mut left_out = 0;
    for v in values {
        if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
            left_out += 1;
            continue;
        }
        writeln!(out, "{v}")?;
    }
    Ok(left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: IndicatorKind, value: &str) -> IndicatorRow {
        IndicatorRow {
            kind,
            value: value.into(),
            first_seen: "2026-11-26T08:00:00.000000Z".into(),
            last_seen: "2026-11-26T09:00:00.000000Z".into(),
            count: 2,
        }
    }

    #[test]
    fn formats_are_exact() {
        let rows = [
            row(IndicatorKind::Ip, "127.0.0.10"),
            row(IndicatorKind::Ip, "127.0.0.2"),
            row(IndicatorKind::Url, "http://127.0.0.1/a,\"b\".sh"),
            row(IndicatorKind::Url, "http://127.0.0.1/x\ny"),
            row(IndicatorKind::Sha256, "ab"),
        ];
        let lines = |kind| {
            let mut out = Vec::new();
            write_lines(&rows, kind, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(lines(IndicatorKind::Ip), "127.0.0.2\n127.0.0.10\n");
        assert_eq!(lines(IndicatorKind::Url), "http://127.0.0.1/a,\"b\".sh\n");
        assert_eq!(lines(IndicatorKind::Sha256), "ab\n");
        let mut csv = Vec::new();
        write_csv(&rows, &Default::default(), &mut csv).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "type,value,first_seen,last_seen,count\n\
             ip,127.0.0.10,2026-11-26T08:00:00.000000Z,2026-11-26T09:00:00.000000Z,2\n\
             ip,127.0.0.2,2026-11-26T08:00:00.000000Z,2026-11-26T09:00:00.000000Z,2\n\
             url,\"http://127.0.0.1/a,\"\"b\"\".sh\",2026-11-26T08:00:00.000000Z,2026-11-26T09:00:00.000000Z,2\n\
             url,http://127.0.0.1/x\\ny,2026-11-26T08:00:00.000000Z,2026-11-26T09:00:00.000000Z,2\n\
             sha256,ab,2026-11-26T08:00:00.000000Z,2026-11-26T09:00:00.000000Z,2\n"
        );
    }

    #[test]
    fn blocklists_hold_public_hosts_only() {
        let own = std::collections::BTreeSet::from([
            "203.0.113.9".to_string(),
            "198.51.100.7".to_string(),
        ]);
        assert!(blockable("185.1.2.3", &own));
        assert!(blockable("2a00:1450::1", &own));
        for not in [
            "127.0.0.1",
            "192.168.1.10",
            "fe80::1",
            "not an address",
            "100.64.1.1",
        ] {
            assert!(!blockable(not, &own), "{not}");
        }
        let own = std::collections::BTreeSet::from(["185.1.2.3".to_string()]);
        assert!(!blockable("185.1.2.3", &own), "the sensor's own address");
    }
}
