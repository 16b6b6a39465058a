//! The sensor's shipper: its own `busybait.db`, read by `seq`, published to
//! JetStream in order.
//!
//! Events go on `busybait.events.<sensor>` as JSON lines, consecutive ones packed
//! into one message (at most [`PACK_EVENTS`] and [`PACK_BYTES`]) with
//! `Nats-Msg-Id: <sensor>:<first>-<last>` (`<sensor>:<seq>` for one): a shipper that
//! keeps up sends what a moment gathered, often one event; one that catches up or
//! carries thousands a second sends full packs, and the stream's cost per message
//! (replicated three times) is paid once per pack. A batch is published pipelined
//! and the cursor moves only when the stream has acknowledged all of it. Any failure (no server, no stream, a leader election)
//! sends the same batch again after a back-off: the stream drops what it already
//! has, the collectors' rows are idempotent. The sensor never waits for it: the
//! local store is the buffer, and an outage only grows the lag.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use busybait_store::StoreError;
use bytes::Bytes;
use rusqlite::{params, Connection};
use tokio::sync::watch;

use crate::cursor::Cursor;
use crate::nats::NatsSettings;
use crate::{events_subject, message_id, FleetError};

/// Events per batch: enough to keep a round trip's worth in flight.
const BATCH: usize = 2048;
/// Events one message carries at most…
pub const PACK_EVENTS: usize = 64;
/// …and bytes (one longer event goes alone; the stream takes up to
/// [`crate::MAX_EVENT_BYTES`]).
pub const PACK_BYTES: usize = 128 * 1024;
/// How often an idle shipper looks for new events.
const POLL: Duration = Duration::from_millis(200);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the shipper has done, for metrics and logs.
#[derive(Debug, Default)]
pub struct ShipStatus {
    /// The highest `seq` the stream acknowledged.
    pub shipped_seq: AtomicU64,
    /// The highest `seq` in the local store when last looked at.
    pub local_seq: AtomicU64,
    /// Events published and acknowledged.
    pub published: AtomicU64,
    /// Of those, what the stream already had.
    pub duplicates: AtomicU64,
    /// Batches that failed and were sent again.
    pub failures: AtomicU64,
    /// Whether the last attempt succeeded.
    pub healthy: AtomicBool,
}

impl ShipStatus {
    /// Events in the local store not yet acknowledged by the stream.
    pub fn lag(&self) -> u64 {
        self.local_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.shipped_seq.load(Ordering::Relaxed))
    }
}

/// What a shipper needs.
#[derive(Clone, Debug)]
pub struct ShipConfig {
    /// How to reach NATS.
    pub nats: NatsSettings,
    /// The sensor's data dir (its `busybait.db`, where the cursor is kept).
    pub data_dir: PathBuf,
    /// The sensor's id (its `sensor.toml` uuid): the subject's last token.
    pub sensor: String,
    /// Events one message carries at most (1 to [`PACK_EVENTS`]).
    pub pack_events: usize,
    /// Events a second the shipper sends at most (0: no limit): a sensor back from
    /// an outage catches up at this pace instead of taking the whole fleet's
    /// capacity from the sensors that are live.
    pub max_events_per_second: u64,
}

/// The shortest time `events` may take at `per_second` (0: no limit).
fn paced(events: usize, per_second: u64) -> Duration {
    if per_second == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(events as f64 / per_second as f64)
}

/// Ships until `shutdown` turns true. Errors only if the data dir is unusable; NATS
/// being away is waited out.
pub async fn run(
    config: ShipConfig,
    status: Arc<ShipStatus>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), FleetError> {
    if !crate::valid_sensor_id(&config.sensor) {
        return Err(FleetError::Config(format!(
            "sensor id {:?} is not one NATS subject token",
            config.sensor
        )));
    }
    let mut nats = config.nats.clone();
    // Replies to this sensor come on its own prefix, which its permissions allow.
    nats.inbox_prefix
        .get_or_insert_with(|| format!("_INBOX_{}", config.sensor));
    let client =
        crate::nats::connect(&nats, &format!("busybait sensor {}", config.sensor), true).await?;
    let js = jetstream::new(client.clone());
    let db = Arc::new(Mutex::new(busybait_store::sqlite::open_read_only(
        &config.data_dir.join(busybait_store::sqlite::DB_FILE),
    )?));
    let cursor_file = Cursor::new(&config.data_dir);
    let mut cursor = cursor_file.load()?.unwrap_or(0);
    status.shipped_seq.store(cursor, Ordering::Relaxed);
    let subject = events_subject(&config.sensor);
    let mut samples = Samples::new(&config.data_dir);
    let mut recordings = crate::recordings::Shipper::open(&config.data_dir)?;
    let mut indicators = crate::indicators::Publisher::default();
    let mut backoff = MIN_BACKOFF;
    let mut failing_since_logged = false;
    tracing::info!(
        sensor = %config.sensor,
        from_seq = cursor + 1,
        url = %config.nats.url,
        "shipping events to the fleet"
    );
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let started = tokio::time::Instant::now();
        let batch = read_batch(db.clone(), cursor).await?;
        status.local_seq.store(batch.local_seq, Ordering::Relaxed);
        // Recordings follow their sessions' closes; a failure is retried on the
        // next pass and holds no event back.
        if let Err(e) = recordings
            .ship(&js, &db, (&subject, &config.sensor), cursor)
            .await
        {
            tracing::debug!(error = %e, "shipping recordings failed; retrying");
        }
        let Some(&(last, _)) = batch.events.last() else {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let offered = samples.offer_all(&js, &batch.events).await;
        let published = match offered {
            Ok(()) => {
                let packed = packs(&batch.events, config.pack_events);
                publish(&js, &subject, &config.sensor, packed).await
            }
            Err(e) => Err(e),
        };
        match published {
            Ok(duplicates) => {
                // What the batch taught, for the fleet's watchers (at most once).
                indicators
                    .publish(&client, &config.sensor, &batch.events)
                    .await;
                cursor = last;
                cursor_file.store(cursor)?;
                status.shipped_seq.store(cursor, Ordering::Relaxed);
                status
                    .published
                    .fetch_add(batch.events.len() as u64, Ordering::Relaxed);
                status.duplicates.fetch_add(duplicates, Ordering::Relaxed);
                status.healthy.store(true, Ordering::Relaxed);
                if failing_since_logged {
                    tracing::info!(shipped_seq = cursor, "shipping again");
                    failing_since_logged = false;
                }
                backoff = MIN_BACKOFF;
                let pace = started + paced(batch.events.len(), config.max_events_per_second);
                tokio::select! {
                    () = tokio::time::sleep_until(pace) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                status.failures.fetch_add(1, Ordering::Relaxed);
                status.healthy.store(false, Ordering::Relaxed);
                if !failing_since_logged {
                    tracing::warn!(
                        error = %e,
                        lag = status.lag(),
                        "shipping failed; the local store keeps everything, retrying"
                    );
                    failing_since_logged = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

struct Batch {
    events: Vec<(u64, String)>,
    local_seq: u64,
}

/// How many sample names the shipper remembers as already in the bucket.
const KNOWN_SAMPLES: usize = 65_536;

/// The samples a sensor offers the fleet: each file its events name, before them.
struct Samples {
    data_dir: PathBuf,
    store: Option<async_nats::jetstream::object_store::ObjectStore>,
    known: std::collections::HashSet<String>,
}

impl Samples {
    fn new(data_dir: &std::path::Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            store: None,
            known: std::collections::HashSet::new(),
        }
    }

    /// Offers the files the batch's events dropped or received.
    async fn offer_all(
        &mut self,
        js: &jetstream::Context,
        events: &[(u64, String)],
    ) -> Result<(), FleetError> {
        for sha256 in sample_names(events) {
            if self.known.contains(&sha256) {
                continue;
            }
            let store = match &self.store {
                Some(s) => s,
                None => {
                    let store = js
                        .get_object_store(crate::samples::SAMPLES_BUCKET)
                        .await
                        .map_err(|e| {
                            FleetError::Nats(format!(
                                "the {} bucket (a collector makes it): {e}",
                                crate::samples::SAMPLES_BUCKET
                            ))
                        })?;
                    self.store.insert(store)
                }
            };
            let offered = crate::samples::offer(store, &self.data_dir, &sha256).await?;
            if offered == crate::samples::Offered::Gone {
                tracing::warn!(%sha256, "a sample retention removed is not in the fleet");
            }
            if self.known.len() >= KNOWN_SAMPLES {
                self.known.clear();
            }
            self.known.insert(sha256);
        }
        Ok(())
    }
}

/// The SHA-256 of each file the events dropped or received, once each.
fn sample_names(events: &[(u64, String)]) -> Vec<String> {
    let mut names = Vec::new();
    for (_, json) in events {
        if !json.contains("\"cowrie.session.file_") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            continue;
        };
        let file_event = matches!(
            v.get("eventid").and_then(|e| e.as_str()),
            Some("cowrie.session.file_download" | "cowrie.session.file_upload")
        );
        if let (true, Some(sha)) = (file_event, v.get("shasum").and_then(|s| s.as_str())) {
            if crate::samples::valid_sha256(sha) && !names.iter().any(|n| n == sha) {
                names.push(sha.to_string());
            }
        }
    }
    names
}

async fn read_batch(db: Arc<Mutex<Connection>>, after: u64) -> Result<Batch, FleetError> {
    let read = move || -> Result<Batch, StoreError> {
        let conn = db.lock().map_err(|_| {
            StoreError::Backend("the shipper's database handle was poisoned".into())
        })?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(BATCH).unwrap_or(i64::MAX);
        let mut stmt = conn
            .prepare_cached("SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let events = stmt
            .query_map(params![after, limit], |r| {
                Ok((
                    u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    r.get::<_, String>(1)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let local: Option<i64> = conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
        Ok(Batch {
            events,
            local_seq: local.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
        })
    };
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| FleetError::Config(format!("the shipper's reader stopped: {e}")))?
        .map_err(FleetError::from)
}

/// One message's worth of consecutive events.
#[derive(Debug)]
pub struct Pack {
    /// The first event's `seq`…
    pub first: u64,
    /// …and the last's.
    pub last: u64,
    /// How many events (lines) it carries.
    pub lines: u64,
    /// The JSON lines, joined by `\n`.
    pub payload: Vec<u8>,
}

/// Consecutive events packed into messages, each at most `most` (and
/// [`PACK_EVENTS`]) lines and [`PACK_BYTES`] (or one event alone).
pub fn packs(events: &[(u64, String)], most: usize) -> Vec<Pack> {
    let most = u64::try_from(most.clamp(1, PACK_EVENTS)).unwrap_or(1);
    let mut out: Vec<Pack> = Vec::new();
    for (seq, json) in events {
        match out.last_mut() {
            Some(pack)
                if pack.lines < most && pack.payload.len() + 1 + json.len() <= PACK_BYTES =>
            {
                pack.payload.push(b'\n');
                pack.payload.extend_from_slice(json.as_bytes());
                pack.last = *seq;
                pack.lines += 1;
            }
            _ => out.push(Pack {
                first: *seq,
                last: *seq,
                lines: 1,
                payload: json.as_bytes().to_vec(),
            }),
        }
    }
    out
}

/// Publishes a batch pipelined, in packs, and waits for every acknowledgement;
/// returns how many events the stream already had.
async fn publish(
    js: &jetstream::Context,
    subject: &str,
    sensor: &str,
    packed: Vec<Pack>,
) -> Result<u64, FleetError> {
    let mut acks = Vec::with_capacity(packed.len());
    for pack in packed {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            message_id(sensor, pack.first, pack.last).as_str(),
        );
        let ack = js
            .publish_with_headers(subject.to_string(), headers, Bytes::from(pack.payload))
            .await
            .map_err(FleetError::nats)?;
        acks.push((pack.lines, ack));
    }
    let mut duplicates = 0;
    for (lines, ack) in acks {
        if ack.await.map_err(FleetError::nats)?.duplicate {
            duplicates += lines;
        }
    }
    Ok(duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_at_least_its_share_of_a_second() {
        assert_eq!(paced(2048, 0), Duration::ZERO);
        assert_eq!(paced(2048, 2048), Duration::from_secs(1));
        assert_eq!(paced(6, 12), Duration::from_millis(500));
    }

    #[test]
    fn consecutive_events_are_packed_by_count_and_bytes() {
        let events: Vec<(u64, String)> =
            (1..=150).map(|s| (s, format!("{{\"seq\":{s}}}"))).collect();
        let packed = packs(&events, PACK_EVENTS);
        let ranges: Vec<(u64, u64, u64)> =
            packed.iter().map(|p| (p.first, p.last, p.lines)).collect();
        assert_eq!(ranges, [(1, 64, 64), (65, 128, 64), (129, 150, 22)]);
        // One a message, when so configured.
        assert_eq!(packs(&events[..3], 1).len(), 3);
        let first = String::from_utf8(packed[0].payload.clone()).unwrap();
        assert_eq!(first.lines().count(), 64);
        assert!(first.starts_with("{\"seq\":1}\n{\"seq\":2}\n") && first.ends_with("{\"seq\":64}"));
        // A long event goes alone; the bytes bound the rest.
        let long = "x".repeat(PACK_BYTES);
        let half = "y".repeat(PACK_BYTES / 2);
        let events = vec![
            (1, "a".into()),
            (2, long.clone()),
            (3, half.clone()),
            (4, half.clone()),
            (5, "b".into()),
        ];
        let ranges: Vec<(u64, u64)> = packs(&events, PACK_EVENTS)
            .iter()
            .map(|p| (p.first, p.last))
            .collect();
        assert_eq!(ranges, [(1, 1), (2, 2), (3, 3), (4, 5)]);
        assert_eq!(message_id("s1", 4, 5), "s1:4-5");
        assert_eq!(message_id("s1", 2, 2), "s1:2");
    }
}
