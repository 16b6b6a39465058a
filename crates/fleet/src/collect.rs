//! `busybait collect`: the fleet's events, from JetStream into PostgreSQL.
//!
//! A durable pull consumer shared by every collector: each fetch is one batch, one
//! transaction, and the batch is acknowledged only after the transaction commits. A
//! collector that dies mid-batch leaves its messages unacknowledged; the stream hands
//! them out again after `ack_wait`, to it or another collector, and the rows that
//! already committed make the second delivery change nothing. Messages that are not
//! events of the sensor their subject names are terminated (never redelivered) and
//! counted by reason.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::line::{self, Rejection};
use crate::nats::NatsSettings;
use crate::pg::write::{Incoming, Writer};
use crate::recordings::Part;
use crate::{sensor_of_subject, FleetError, COLLECT_CONSUMER};

/// Messages redelivered if a collector holds them this long without acknowledging.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Unacknowledged messages the stream hands out at once, over all collectors.
const MAX_ACK_PENDING: i64 = 20_000;
/// How long a fetch waits for messages before coming back empty.
const FETCH_EXPIRES: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a starting collector waits for JetStream to answer its setup.
const SETUP_PATIENCE: Duration = Duration::from_secs(60);

/// What a collector needs.
#[derive(Clone, Debug)]
pub struct CollectConfig {
    /// How to reach NATS.
    pub nats: NatsSettings,
    /// The fleet store (`postgres://...`).
    pub postgres: String,
    /// Replicas of the events stream when this collector creates it.
    pub replicas: usize,
    /// Messages per batch (and per transaction).
    pub batch: usize,
}

/// What collectors have done, for logs and tests.
#[derive(Debug, Default)]
pub struct CollectStats {
    /// Events stored for the first time.
    pub written: AtomicU64,
    /// Events that were already stored.
    pub duplicates: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Transactions that failed (the batch was retried).
    pub failures: AtomicU64,
    /// Refused messages, by reason.
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Samples read back whose content is their name.
    pub samples_good: AtomicU64,
    /// Samples named by events but not in the bucket.
    pub samples_missing: AtomicU64,
    /// Samples whose content was not their name (deleted).
    pub samples_false: AtomicU64,
}

impl CollectStats {
    fn reject(&self, why: Rejection) {
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry(why.as_str()).or_default() += 1;
        }
    }

    /// Refused messages of one reason.
    pub fn rejected(&self, why: Rejection) -> u64 {
        self.rejected
            .lock()
            .map(|m| m.get(why.as_str()).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// The store's connection, its statements and the partitions known to exist.
struct Store {
    url: String,
    client: Client,
    writer: Writer,
    months: BTreeSet<String>,
}

impl Store {
    async fn open(url: &str) -> Result<Self, FleetError> {
        let mut client = crate::pg::connect(url).await?;
        crate::pg::schema::migrate(&mut client).await?;
        let writer = Writer::prepare(&client).await?;
        Ok(Self {
            url: url.to_string(),
            client,
            writer,
            months: BTreeSet::new(),
        })
    }

    /// Stores a batch's events (one transaction) and its recordings' parts.
    async fn write(
        &mut self,
        batch: &[Incoming],
        parts: &[Part],
    ) -> Result<crate::pg::write::Written, FleetError> {
        crate::recordings::store(&self.client, parts).await?;
        if batch.is_empty() {
            return Ok(crate::pg::write::Written::default());
        }
        for e in batch {
            let Some(month) = line::month_of(&e.line.timestamp) else {
                continue;
            };
            if !self.months.contains(month) {
                crate::pg::schema::ensure_month(&mut self.client, month).await?;
                self.months.insert(month.to_string());
            }
        }
        self.writer.write(&mut self.client, batch).await
    }
}

/// Collects until `shutdown` turns true. Fails at once if NATS or PostgreSQL cannot
/// be reached at start; later outages of either are waited out. `ready` is told once
/// the stream, the consumer and the schema are in place.
pub async fn run(
    config: CollectConfig,
    stats: Arc<CollectStats>,
    ready: tokio::sync::oneshot::Sender<()>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), FleetError> {
    let client = crate::nats::connect(&config.nats, "busybait collect", false).await?;
    let js = jetstream::new(client.clone());
    // A JetStream API call can time out while the cluster elects a leader (a few
    // seconds after a node dies): the setup is retried for a while before it is an
    // error.
    let deadline = tokio::time::Instant::now() + SETUP_PATIENCE;
    let (consumer, samples) = loop {
        match setup(&js, config.replicas).await {
            Ok(ready) => break ready,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "JetStream is not answering yet; retrying");
                tokio::time::sleep(MAX_BACKOFF).await;
            }
            Err(e) => return Err(e),
        }
    };
    let mut store = Store::open(&config.postgres).await?;
    tracing::info!(
        postgres = %crate::pg::redact(&config.postgres),
        nats = %config.nats.url,
        "collecting fleet events"
    );
    // The watchers' alerts, beside the events.
    let alerts = crate::alerts::collect(client, config.postgres.clone(), shutdown.clone());
    tokio::spawn(async move {
        if let Err(e) = alerts.await {
            tracing::error!(error = %e, "storing the watchers' alerts stopped");
        }
    });
    let _ = ready.send(());
    let mut backoff = MIN_BACKOFF;
    while !*shutdown.borrow() {
        let fetched = tokio::select! {
            fetched = fetch(&consumer, config.batch) => fetched,
            _ = shutdown.changed() => break,
        };
        let messages = match fetched {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "fetching from the stream failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        if messages.is_empty() {
            continue;
        }
        let mut batch = Vec::with_capacity(messages.len());
        let mut parts = Vec::new();
        let mut accepted = Vec::with_capacity(messages.len());
        for message in messages {
            match check(&message) {
                Ok(Checked::Events(events)) => {
                    batch.extend(events);
                    accepted.push(message);
                }
                Ok(Checked::Part(part)) => {
                    parts.push(part);
                    accepted.push(message);
                }
                Err(why) => {
                    stats.reject(why);
                    tracing::warn!(subject = %message.subject, reason = why.as_str(), "refused a fleet message");
                    if let Err(e) = message.ack_with(AckKind::Term).await {
                        tracing::warn!(error = %e, "terminating a refused message failed");
                    }
                }
            }
        }
        if accepted.is_empty() {
            continue;
        }
        // The batch is retried until it commits: acknowledging it before that would
        // lose it, and holding it past ACK_WAIT only means another collector may
        // store it too, which changes nothing.
        let written = loop {
            match store.write(&batch, &parts).await {
                Ok(w) => break w,
                Err(e) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "writing a batch to PostgreSQL failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if store.client.is_closed() {
                        match Store::open(&store.url).await {
                            Ok(s) => store = s,
                            Err(e) => {
                                tracing::warn!(error = %e, "reconnecting to PostgreSQL failed")
                            }
                        }
                    }
                }
            }
        };
        backoff = MIN_BACKOFF;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .written
            .fetch_add(written.new as u64, Ordering::Relaxed);
        stats
            .duplicates
            .fetch_add(written.duplicates as u64, Ordering::Relaxed);
        for message in accepted {
            // A lost acknowledgement only means a redelivery, which changes nothing.
            if let Err(e) = message.ack().await {
                tracing::warn!(error = %e, "acknowledging a stored message failed");
            }
        }
        // Every new sample, read back: the bucket is writable by every sensor.
        for sha256 in &written.samples {
            match crate::samples::verify(&samples, sha256).await {
                Ok(crate::samples::Verified::Good) => {
                    stats.samples_good.fetch_add(1, Ordering::Relaxed);
                }
                Ok(crate::samples::Verified::Missing) => {
                    stats.samples_missing.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%sha256, "an event names a sample the bucket does not have");
                }
                Ok(crate::samples::Verified::Mismatch) => {
                    stats.samples_false.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%sha256, "a sample does not hash to its name: deleted");
                }
                Err(e) => tracing::warn!(%sha256, error = %e, "reading a sample back failed"),
            }
        }
    }
    Ok(())
}

/// The stream, the shared consumer and the samples bucket, made if missing.
async fn setup(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<
    (
        jetstream::consumer::Consumer<pull::Config>,
        async_nats::jetstream::object_store::ObjectStore,
    ),
    FleetError,
> {
    let stream = crate::nats::ensure_events_stream(js, replicas).await?;
    let consumer = stream
        .get_or_create_consumer(
            COLLECT_CONSUMER,
            pull::Config {
                durable_name: Some(COLLECT_CONSUMER.into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: MAX_ACK_PENDING,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| FleetError::Nats(format!("the {COLLECT_CONSUMER} consumer: {e}")))?;
    let samples = crate::samples::ensure_bucket(js, replicas).await?;
    Ok((consumer, samples))
}

async fn fetch(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    max: usize,
) -> Result<Vec<jetstream::Message>, FleetError> {
    let mut batch = consumer
        .fetch()
        .max_messages(max)
        .expires(FETCH_EXPIRES)
        .messages()
        .await
        .map_err(FleetError::nats)?;
    let mut messages = Vec::with_capacity(max);
    while let Some(m) = batch.next().await {
        messages.push(m.map_err(FleetError::nats)?);
    }
    Ok(messages)
}

/// What a sensor's message carries.
enum Checked {
    /// Its events, in order (a pack of JSON lines, or one).
    Events(Vec<Incoming>),
    /// A part of a session's recording.
    Part(Part),
}

/// The events or recording part a message carries, if they are all of the sensor
/// its subject names: one line that is not refuses the whole message.
fn check(message: &jetstream::Message) -> Result<Checked, Rejection> {
    let sensor = sensor_of_subject(message.subject.as_str()).ok_or(Rejection::Subject)?;
    match crate::recordings::part_of(sensor, message.headers.as_ref(), &message.payload) {
        Ok(Some(part)) => return Ok(Checked::Part(part)),
        Ok(None) => {}
        Err(_) => return Err(Rejection::Recording),
    }
    if message.payload.len() > crate::MAX_EVENT_BYTES {
        return Err(Rejection::Oversized);
    }
    let mut events = Vec::new();
    for payload in message.payload.split(|&b| b == b'\n') {
        if events.len() >= crate::ship::PACK_EVENTS {
            return Err(Rejection::Oversized);
        }
        let line = line::parse(sensor, payload)?;
        let json = String::from_utf8(payload.to_vec()).map_err(|_| Rejection::Malformed)?;
        events.push(Incoming {
            sensor: sensor.to_string(),
            line,
            json,
        });
    }
    Ok(Checked::Events(events))
}
