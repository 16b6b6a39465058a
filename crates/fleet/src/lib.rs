//! The fleet edge: many sensors, one store, on engines that already scale.
//!
//! ```text
//! sensor (SQLite spool, seq) ──► NATS JetStream (stream BUSYBAIT_EVENTS) ──► collect ──► PostgreSQL
//! ```
//!
//! * [`ship`]: a sensor's shipper reads its own `busybait.db` by `seq` and publishes
//!   each event on `busybait.events.<sensor>` with `Nats-Msg-Id: <sensor>:<seq>`, so
//!   the stream drops what a retry sends twice; its cursor ([`cursor`]) lives in the
//!   data dir, and the local store is the buffer while NATS is away.
//! * [`collect`]: a durable pull consumer that writes each batch into PostgreSQL in
//!   one transaction ([`pg`]) and acknowledges only after it commits; rows are
//!   idempotent on (sensor, seq), derived rows are upserts that do not care in which
//!   order events arrive.
//! * [`samples`]: every dropped file once in the object store bucket
//!   `BUSYBAIT_SAMPLES`, offered by the sensor before the events that name it, read
//!   back and re-hashed by a collector.
//! * [`alerts`]: the fleet's watchers' alerts, stored by every collector.
//! * [`indicators`]: what each sensor learns (addresses, URLs, hosts, hashes, C2s),
//!   published once on `busybait.indicators.<sensor>` as its events are acknowledged.
//! * [`recordings`]: each finished session's recording, in parts on the sensor's
//!   own subject after its close, stored by collectors for `replay` and the console.
//! * [`pg::read`]: the read side (`sessions`, `show`, `report`, `export`, `replay`)
//!   on the fleet's store.
//!
//! The sensor id is the subject's last token, never a payload field.

pub mod alerts;
pub mod collect;
pub mod cursor;
pub mod indicators;
pub mod line;
pub mod nats;
pub mod pg;
pub mod recordings;
pub mod samples;
pub mod ship;

/// The JetStream stream that carries every sensor's events.
pub const EVENTS_STREAM: &str = "BUSYBAIT_EVENTS";
/// The prefix of the per-sensor event subjects.
pub const EVENTS_SUBJECT_PREFIX: &str = "busybait.events.";
/// The collectors' shared durable consumer.
pub const COLLECT_CONSUMER: &str = "collect";
/// The largest event line a collector accepts (the sensor's own events are far
/// smaller: the longest, an HTTP request, keeps at most its logged body).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Errors of the fleet edge.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// NATS or JetStream refused or failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// PostgreSQL refused or failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The local store.
    #[error(transparent)]
    Store(#[from] busybait_store::StoreError),
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
}

impl FleetError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> Self {
        Self::Nats(e.to_string())
    }
}

/// The subject a sensor publishes its events on.
pub fn events_subject(sensor: &str) -> String {
    format!("{EVENTS_SUBJECT_PREFIX}{sensor}")
}

/// The `Nats-Msg-Id` of a message carrying a sensor's events `first..=last` (one
/// event: `<sensor>:<seq>`, several: `<sensor>:<first>-<last>`), unique per sensor
/// and range.
pub fn message_id(sensor: &str, first: u64, last: u64) -> String {
    if first == last {
        format!("{sensor}:{first}")
    } else {
        format!("{sensor}:{first}-{last}")
    }
}

/// Whether `id` can be a sensor id: what `sensor.toml` makes (a UUID) or an operator's
/// name, one NATS subject token of letters, digits, `-` and `_`.
pub fn valid_sensor_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The sensor a message came from: the last token of its subject, if valid.
pub fn sensor_of_subject(subject: &str) -> Option<&str> {
    subject
        .strip_prefix(EVENTS_SUBJECT_PREFIX)
        .filter(|id| valid_sensor_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sensor_comes_from_the_subject_and_only_a_clean_token_counts() {
        assert_eq!(
            sensor_of_subject("busybait.events.0f3c-aa_1"),
            Some("0f3c-aa_1")
        );
        assert_eq!(sensor_of_subject("busybait.events.a.b"), None);
        assert_eq!(sensor_of_subject("busybait.events."), None);
        assert_eq!(sensor_of_subject("busybait.events.*"), None);
        assert_eq!(sensor_of_subject("other.events.a"), None);
        assert_eq!(message_id("s1", 42, 42), "s1:42");
        assert_eq!(events_subject("s1"), "busybait.events.s1");
    }
}
