//! An alert of the wire detectors as the stores keep it: detection, severity names,
//! RFC 3339 times (a capture's own times clamped to what can be printed). `watch`
//! stores it in a data dir; `watch --fleet` publishes it for the fleet's store.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use busybait_store::alerts::StoredAlert;
use busybait_wire::detect::signature_id;
use busybait_wire::{Alert, Severity};

/// An alert as the stores keep it (and the fleet's watchers publish it).
pub fn stored_alert(a: &Alert, file: &Path) -> StoredAlert {
    StoredAlert {
        alert: a.id.to_string(),
        signature_id: signature_id(a.id),
        severity: severity_name(a.severity).to_string(),
        title: a.title.clone(),
        src_ip: a.src.to_string(),
        src_port: a.src_port,
        dst_ip: a.dst.map(|d| d.to_string()),
        dst_port: a.dst_port,
        protocol: a.proto.to_string(),
        count: a.count,
        targets: a.targets,
        first: busybait_events::format_timestamp(capture_time(a.first)),
        last: busybait_events::format_timestamp(capture_time(a.last)),
        rate: a.rate,
        evidence: serde_json::to_value(&a.evidence).unwrap_or_default(),
        capture: file.display().to_string(),
    }
}

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
    }
}

/// The latest time a capture may claim (9999-12-31T23:59:59Z): its timestamps are
/// the file's word, and RFC 3339 has four-digit years.
const LATEST_CAPTURE_SECONDS: f64 = 253_402_300_799.0;

/// A capture's timestamp as a time, clamped to what can be printed (a hostile or
/// broken file may claim anything, NaN included).
pub fn capture_time(t: f64) -> std::time::SystemTime {
    let seconds = if t.is_finite() {
        t.clamp(0.0, LATEST_CAPTURE_SECONDS)
    } else {
        0.0
    };
    // Rounded to the microsecond: a pcap's microseconds come back exactly.
    UNIX_EPOCH + Duration::from_micros((seconds * 1e6).round() as u64)
}
