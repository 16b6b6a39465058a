//! `busybait watch --pcap FILE...`: the wire detectors over capture files. Each file is
//! analysed on its own (packet numbers in the evidence are that file's); a damaged or
//! cut-short file is analysed up to the damage and said so on stderr. Alerts are
//! stored in the data dir (`busybait_store::alerts`) unless told not to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::alert_record::{capture_time, severity_name, stored_alert};
use anyhow::Context;
use busybait_events::SensorIdentity;
use busybait_store::alerts::{store_alerts, StoredAlert};
use busybait_store::sensor::SensorState;
use busybait_wire::capture::{read_frames, CaptureEnd};
use busybait_wire::detect::signature_id;
use busybait_wire::indicators::Indicators;
use busybait_wire::{Analyzer, Limits, Report, Severity};
use serde::Serialize;

/// One file's (or interface's) result.
#[derive(Serialize)]
struct FileReport {
    file: PathBuf,
    /// `complete`, `truncated`, or `damaged: ...`.
    end: String,
    #[serde(flatten)]
    report: Report,
}

/// What to watch.
pub enum Source {
    /// Capture files, each analysed on its own.
    Files(Vec<PathBuf>),
    /// A network interface, live, until SIGINT/SIGTERM or `duration`.
    Interface {
        /// Its name (`lo`, `eth0`).
        name: String,
        /// A BPF filter expression (tcpdump's syntax).
        filter: Option<String>,
        /// Stop after this long.
        duration: Option<Duration>,
    },
}

/// Analyses the source and prints the alerts (a table, or JSON with `json`); with
/// `eve`, also writes them as Suricata EVE JSON lines to that file. What the trap
/// learned is read from `data_dir` (when it has a database) and matched too; with
/// `store`, the alerts are stored there. With `fleet` (a live capture only), what
/// the fleet's sensors learn while it runs is matched from then on, and the alerts
/// go back to the fleet.
pub fn watch(
    source: Source,
    json: bool,
    eve: Option<&Path>,
    data_dir: &Path,
    learned_from: Option<String>,
    store: bool,
    fleet: Option<busybait_fleet::nats::NatsSettings>,
) -> anyhow::Result<()> {
    if fleet.is_some() && matches!(source, Source::Files(_)) {
        anyhow::bail!(
            "--fleet needs --interface: a capture file is over before the fleet says anything; \
             match what the fleet already knows with --learned-from postgres://…"
        );
    }
    let learned = crate::read::Location::new(data_dir.to_path_buf(), learned_from);
    let indicators = load_indicators(&learned)?;
    let data_dir = store.then_some(data_dir);
    let files = match source {
        Source::Files(files) => files,
        Source::Interface {
            name,
            filter,
            duration,
        } => {
            let sensor = open_data_dir(data_dir)?;
            let link = fleet
                .map(crate::fleet_watch::FleetLink::connect)
                .transpose()?;
            let (report, end) =
                crate::live::capture(&name, filter.as_deref(), duration, indicators, link)?;
            let reports = vec![FileReport {
                file: PathBuf::from(format!("interface:{name}")),
                end,
                report,
            }];
            return output(&reports, json, eve, data_dir.zip(sensor.as_ref()));
        }
    };
    if files.is_empty() {
        anyhow::bail!("no capture given (--pcap FILE ...)");
    }
    // Fail before the work if the data dir cannot be used.
    let sensor = open_data_dir(data_dir)?;
    let mut reports = Vec::new();
    for file in &files {
        let (report, end) = analyse(file, &indicators)?;
        let end = match end {
            CaptureEnd::Complete => "complete".to_string(),
            CaptureEnd::Truncated => {
                tracing::warn!(
                    file = %file.display(),
                    frames = report.counters.frames,
                    "the capture ends inside a record (cut short); analysed what came before"
                );
                "truncated".to_string()
            }
            CaptureEnd::Damaged(why) => {
                tracing::warn!(
                    file = %file.display(),
                    frames = report.counters.frames,
                    problem = %why,
                    "the capture is damaged; analysed what came before"
                );
                format!("damaged: {why}")
            }
        };
        reports.push(FileReport {
            file: file.clone(),
            end,
            report,
        });
    }
    output(&reports, json, eve, data_dir.zip(sensor.as_ref()))
}

/// What the trap learned: C2 endpoints, download URLs, sample hashes and the
/// addresses that attacked it, from a data dir (nothing when it has no database yet)
/// or from a fleet's store (every sensor's).
fn load_indicators(learned: &crate::read::Location) -> anyhow::Result<Indicators> {
    let mut indicators = Indicators::default();
    if let crate::read::Location::Dir(dir) = learned {
        if !dir.join(busybait_store::sqlite::DB_FILE).exists() {
            return Ok(indicators);
        }
    }
    let rows = learned
        .open()?
        .indicators(&busybait_store::read::Window::default())
        .with_context(|| format!("reading what the trap learned from {learned}"))?;
    let mut unusable = 0;
    for row in rows {
        if !indicators.learn(row.kind.as_str(), &row.value) {
            unusable += 1;
        }
    }
    tracing::info!(
        indicators = indicators.len(),
        unusable,
        store = %learned,
        "matching what the trap learned"
    );
    Ok(indicators)
}

/// The sensor identity of the data dir alerts go to (made if missing).
fn open_data_dir(data_dir: Option<&Path>) -> anyhow::Result<Option<SensorIdentity>> {
    let Some(dir) = data_dir else {
        return Ok(None);
    };
    let state = SensorState::load_or_create(dir)
        .with_context(|| format!("opening data dir {}", dir.display()))?;
    Ok(Some(SensorIdentity {
        name: "busybait".to_string(),
        uuid: state.uuid,
    }))
}

/// Stores, writes EVE lines and prints.
fn output(
    reports: &[FileReport],
    json: bool,
    eve: Option<&Path>,
    store: Option<(&Path, &SensorIdentity)>,
) -> anyhow::Result<()> {
    if let Some((dir, sensor)) = store {
        for r in reports {
            let stored: Vec<StoredAlert> = r
                .report
                .alerts
                .iter()
                .map(|a| stored_alert(a, &r.file))
                .collect();
            let new = store_alerts(dir, sensor, &stored)
                .with_context(|| format!("storing alerts in {}", dir.display()))?;
            tracing::info!(
                file = %r.file.display(),
                alerts = stored.len(),
                new,
                data_dir = %dir.display(),
                "alerts stored"
            );
        }
    }
    if let Some(path) = eve {
        write_eve(path, reports).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, reports)?;
        writeln!(out)?;
        return Ok(());
    }
    for r in reports {
        render(r, &mut out)?;
    }
    Ok(())
}

/// Files larger than this get a progress bar (on a terminal).
const PROGRESS_FROM_BYTES: u64 = 8 << 20;

fn analyse(file: &Path, indicators: &Indicators) -> anyhow::Result<(Report, CaptureEnd)> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    // indicatif draws nothing when stderr is not a terminal.
    let progress = if size > PROGRESS_FROM_BYTES {
        let bar = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(file.display().to_string());
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut analyzer = Analyzer::with_indicators(Limits::default(), indicators.clone());
    // The reader buffers itself (a MiB at a time): no BufReader in between.
    let end = read_frames(progress.wrap_read(input), |f| {
        analyzer.frame(f.number, f.time, f.link, f.data)
    })
    .with_context(|| format!("reading {}", file.display()))?;
    progress.finish_and_clear();
    Ok((analyzer.finish(), end))
}

/// One EVE `alert` line per alert, timed at its first packet, with busybait's own
/// fields (count, targets, last, evidence, file) under `busybait`.
fn write_eve(path: &Path, reports: &[FileReport]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in reports {
        for a in &r.report.alerts {
            let severity = match a.severity {
                Severity::High => 1,
                Severity::Medium => 2,
                Severity::Low => 3,
            };
            let line = serde_json::json!({
                "timestamp": eve_time(a.first),
                "event_type": "alert",
                "src_ip": a.src.to_string(),
                "src_port": a.src_port,
                "dest_ip": a.dst.map(|d| d.to_string()),
                "dest_port": a.dst_port,
                "proto": a.proto.to_uppercase(),
                "alert": {
                    "action": "allowed",
                    "gid": 1,
                    "signature_id": signature_id(a.id),
                    "rev": 1,
                    "signature": format!("busybait {}: {}", a.id, a.title),
                    "category": "Mirai-class IoT botnet activity",
                    "severity": severity,
                },
                "busybait": {
                    "id": a.id,
                    "count": a.count,
                    "targets": a.targets,
                    "last": eve_time(a.last),
                    "rate": a.rate,
                    "evidence": a.evidence,
                    "file": r.file,
                },
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// EVE's timestamp form: `2018-03-09T20:57:42.123456+0000`.
fn eve_time(t: f64) -> String {
    let text = humantime::format_rfc3339_micros(capture_time(t)).to_string();
    format!("{}+0000", text.trim_end_matches('Z'))
}

fn time(t: f64) -> String {
    humantime::format_rfc3339_seconds(capture_time(t)).to_string()
}

fn render(r: &FileReport, out: &mut impl Write) -> anyhow::Result<()> {
    let c = &r.report.counters;
    writeln!(
        out,
        "{} ({}): {} frames, {} IP ({} TCP, {} UDP), {} not IP, {} malformed, {} cut by the snaplen, {} fragments, {} of unknown link type",
        r.file.display(),
        r.end,
        c.frames,
        c.ip,
        c.tcp,
        c.udp,
        c.not_ip,
        c.malformed,
        c.cut,
        c.fragments,
        c.unknown_link
    )?;
    if c.untracked > 0 {
        writeln!(
            out,
            "  {} hosts or pairs not tracked (tables full)",
            c.untracked
        )?;
    }
    let s = &c.streams;
    if s.flows > 0 {
        writeln!(
            out,
            "  {} TCP flows reassembled: {} segments out of order, {} retransmitted, {} overlapping, {} holes skipped, {} out of window, {} flows evicted, {} timed out",
            s.flows, s.out_of_order, s.retransmitted, s.overlapping, s.gaps, s.out_of_window, s.evicted, s.timed_out
        )?;
    }
    if r.report.alerts.is_empty() {
        writeln!(out, "  no alerts\n")?;
        return render_ssh_clients(r, out);
    }
    let rows = r
        .report
        .alerts
        .iter()
        .map(|a| {
            vec![
                severity_name(a.severity).to_string(),
                a.id.to_string(),
                a.src.to_string(),
                a.dst
                    .map_or_else(|| format!("{} targets", a.targets), |d| d.to_string()),
                match a.rate {
                    Some(rate) if rate >= 1.0 => format!("{} ({rate:.0}/s)", a.count),
                    _ => a.count.to_string(),
                },
                format!("{} .. {}", time(a.first), time(a.last)),
                a.evidence
                    .iter()
                    // Evidence may be attacker text (an SSH client's line).
                    .map(|e| format!("#{} {}", e.packet, crate::terminal::escape(&e.matched)))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]
        })
        .collect();
    let table = crate::report::table(
        &[
            "severity",
            "alert",
            "source",
            "target",
            "count",
            "first .. last",
            "evidence",
        ],
        rows,
    );
    writeln!(out, "{table}\n")?;
    render_ssh_clients(r, out)
}

/// The SSH clients the capture shows: what each said it is (attacker-chosen text,
/// escaped) and its HASSH.
fn render_ssh_clients(r: &FileReport, out: &mut impl Write) -> anyhow::Result<()> {
    let clients = &r.report.ssh_clients;
    if clients.is_empty() {
        return Ok(());
    }
    let rows = clients
        .iter()
        .map(|c| {
            vec![
                c.src.to_string(),
                match c.dst_port {
                    Some(port) => format!("{}:{port}", c.dst),
                    None => c.dst.to_string(),
                },
                crate::terminal::escape(&c.version),
                c.hassh.clone().unwrap_or_else(|| "-".into()),
                c.connections.to_string(),
            ]
        })
        .collect();
    let table = crate::report::table(
        &["source", "server", "client", "HASSH", "connections"],
        rows,
    );
    writeln!(out, "  SSH clients\n{table}\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_capture_timestamp_prints() {
        assert_eq!(time(1_520_629_062.9), "2018-03-09T20:57:42Z");
        assert_eq!(eve_time(1_520_629_062.5), "2018-03-09T20:57:42.500000+0000");
        for t in [f64::NAN, f64::INFINITY, -1.0, 1e300, 18_446_744_073_709.0] {
            let shown = time(t);
            assert!(shown.len() == 20, "{t}: {shown}");
            assert!(eve_time(t).ends_with("+0000"));
        }
        assert_eq!(time(1e300), "9999-12-31T23:59:59Z");
        assert_eq!(time(f64::NAN), "1970-01-01T00:00:00Z");
    }
}
