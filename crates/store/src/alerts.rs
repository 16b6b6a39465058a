//! Where `busybait watch` puts its alerts: `alerts.jsonl` (one `busybait.alert`
//! JSON object per line) and the `alerts` table of `busybait.db`.
//!
//! Alerts are about flows on a network, not sessions of the sensor, so they stay out
//! of `events.jsonl` and the `events` table: those carry the running sensor's
//! gapless `seq`, which only its recorder assigns, while `watch` may run beside
//! `serve` on the same data dir (SQLite's WAL lets both write; each `watch` appends
//! its lines to `alerts.jsonl` with one `write` per capture). An alert is stored
//! once: the same alert from the same capture analysed again (same detection,
//! hosts, ports, first and last time and count) is recognised and skipped.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use busybait_events::SensorIdentity;
use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use crate::StoreError;

/// File name in the data dir.
pub const ALERTS_FILE: &str = "alerts.jsonl";

/// The event id of an alert line.
pub const ALERT_EVENT_ID: &str = "busybait.alert";

/// One alert as stored.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct StoredAlert {
    /// Detection id (`mirai-syn-scan`, ...).
    pub alert: String,
    /// Its stable signature number.
    pub signature_id: u32,
    /// `low`, `medium` or `high`.
    pub severity: String,
    /// What it means.
    pub title: String,
    /// The host doing it.
    pub src_ip: String,
    /// Its port, for alerts about one flow or pair.
    pub src_port: Option<u16>,
    /// The host it was done to, when there is one.
    pub dst_ip: Option<String>,
    /// Its port.
    pub dst_port: Option<u16>,
    /// `tcp`, `udp` or `gre`.
    pub protocol: String,
    /// Packets or events counted.
    pub count: u64,
    /// Distinct targets.
    pub targets: u64,
    /// First and last time, RFC 3339 UTC with microseconds.
    pub first: String,
    /// See `first`.
    pub last: String,
    /// Packets a second from first to last.
    pub rate: Option<f64>,
    /// Packet numbers and matched bytes.
    pub evidence: serde_json::Value,
    /// Where it was seen: the capture file (or interface).
    pub capture: String,
}

impl StoredAlert {
    /// The JSON line: Cowrie-style top-level fields (`eventid`, `timestamp` = first,
    /// `sensor`, `uuid`, `src_ip`, `dst_ip`, ...) and no `session` or `seq`.
    pub fn to_json_line(&self, sensor: &SensorIdentity) -> String {
        json!({
            "eventid": ALERT_EVENT_ID,
            "timestamp": self.first,
            "sensor": sensor.name,
            "uuid": sensor.uuid,
            "alert": self.alert,
            "signature_id": self.signature_id,
            "severity": self.severity,
            "message": self.title,
            "src_ip": self.src_ip,
            "src_port": self.src_port,
            "dst_ip": self.dst_ip,
            "dst_port": self.dst_port,
            "protocol": self.protocol,
            "count": self.count,
            "targets": self.targets,
            "first": self.first,
            "last": self.last,
            "rate": self.rate,
            "evidence": self.evidence,
            "capture": self.capture,
        })
        .to_string()
    }
}

/// Moves `alerts.jsonl` aside as `alerts.jsonl.YYYY-MM-DD` (the UTC day it was last
/// written) when `now` is a later day, so that retention can remove old days whole
/// (`[retention] alerts`). Another `watch` that moved it first is no error.
fn rotate_daily(
    data_dir: &Path,
    path: &Path,
    now: std::time::SystemTime,
) -> Result<(), StoreError> {
    let written = match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let day = |t| {
        busybait_events::format_timestamp(t)
            .get(..10)
            .map(str::to_string)
    };
    let (Some(then), Some(today)) = (day(written), day(now)) else {
        return Ok(());
    };
    if then >= today {
        return Ok(());
    }
    let aside = crate::rotate::next_path(data_dir, ALERTS_FILE, &then);
    match std::fs::rename(path, &aside) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(&aside, e)),
    }
}

/// Stores `alerts` (from one capture) in both stores of `data_dir`, creating what is
/// missing; returns how many were new. SQLite first: a line is written only for an
/// alert the table did not have.
pub fn store_alerts(
    data_dir: &Path,
    sensor: &SensorIdentity,
    alerts: &[StoredAlert],
) -> Result<usize, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
    let mut conn = crate::sqlite::open(&data_dir.join(crate::sqlite::DB_FILE))?;
    let mut lines = String::new();
    let tx = conn.transaction()?;
    let mut new = 0;
    {
        let mut insert = tx.prepare(
            "INSERT OR IGNORE INTO alerts (alert, severity, src_ip, src_port, dst_ip, dst_port,
                protocol, count, first, last, capture, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for a in alerts {
            let line = a.to_json_line(sensor);
            let inserted = insert.execute(params![
                a.alert,
                a.severity,
                a.src_ip,
                a.src_port,
                a.dst_ip.as_deref().unwrap_or(""),
                a.dst_port,
                a.protocol,
                a.count,
                a.first,
                a.last,
                a.capture,
                line,
            ])?;
            if inserted == 1 {
                new += 1;
                lines.push_str(&line);
                lines.push('\n');
            }
        }
    }
    // The lines go out before the commit: a crash between the two leaves a line
    // whose alert is stored again (and written again) on the next run, never a row
    // without its line.
    if !lines.is_empty() {
        let path = data_dir.join(ALERTS_FILE);
        rotate_daily(data_dir, &path, std::time::SystemTime::now())?;
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        file.write_all(lines.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| StoreError::io(&path, e))?;
    }
    tx.commit()?;
    Ok(new)
}
