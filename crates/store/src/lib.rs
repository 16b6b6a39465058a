//! The disk edge: where events go, and how the read-side commands find them again.
//!
//! * [`Recorder`] takes events from every session through one bounded queue, gives
//!   each a per-sensor sequence number, and hands it to one writer thread per sink
//!   (each behind its own bounded queue): [`jsonl`] (`events.jsonl`, Cowrie's format)
//!   and [`sqlite`] (`busybait.db`, WAL, numbered migrations). A full queue blocks the
//!   sender: events of admitted sessions are never dropped; the listener watches
//!   [`RecorderHandle::headroom`] and stops accepting instead.
//! * [`alerts`] keeps what `busybait watch` finds on the wire, apart from the
//!   sensor's events.
//! * [`sensor`] keeps the sensor's identity and seed in `sensor.toml`.
//!
//! The durability contract is in `docs/DURABILITY.md`.

pub mod alerts;
pub mod budget;
pub mod datadir;
pub mod jsonl;
pub mod queries;
pub mod questions;
pub mod read;
pub mod recording;
pub mod report;
pub mod retention;
pub mod rotate;
pub mod samples;
pub mod sensor;
pub mod sql;
pub mod sqlite;
pub mod staging;
mod tallies;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use busybait_events::{Event, SensorIdentity};

/// Errors of the disk edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File-system error, with the path concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite error.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Another store (the fleet's PostgreSQL) failed or cannot answer.
    #[error("{0}")]
    Backend(String),
    /// A file's content is not what it should be.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One event with its sequence number and rendered JSON line, shared by all sinks.
#[derive(Debug)]
pub struct Record {
    /// Per-sensor sequence number.
    pub seq: u64,
    /// The event.
    pub event: Event,
    /// Its Cowrie-compatible JSON line (no newline).
    pub json: String,
}

/// How the recorder is set up.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Depth of the sessions-to-recorder queue and of each sink's queue.
    pub queue_depth: usize,
    /// How often the JSON-lines sink calls fsync (it writes every batch at once).
    pub fsync_interval: Duration,
    /// Whether to write `events.jsonl`.
    pub jsonl: bool,
    /// Whether to write `busybait.db`.
    pub sqlite: bool,
    /// When `events.jsonl` rotates.
    pub rotation: rotate::Rotation,
}

/// What opening the stores found, for the operator's log.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Sequence number the next event gets.
    pub next_seq: u64,
    /// Bytes of a torn last JSON line moved to `events.jsonl.torn`.
    pub torn_bytes: u64,
}

/// The sending side, one clone per session.
#[derive(Clone, Debug)]
pub struct RecorderHandle {
    tx: tokio::sync::mpsc::Sender<Event>,
    written: Arc<AtomicU64>,
    timings: Vec<Arc<SinkTiming>>,
}

/// How long a sink spends writing, for the metrics.
#[derive(Debug)]
pub struct SinkTiming {
    /// `jsonl` or `sqlite`.
    pub sink: &'static str,
    /// Batches written.
    pub batches: AtomicU64,
    /// Microseconds spent writing them (retries included).
    pub micros: AtomicU64,
}

impl RecorderHandle {
    /// Queues an event; waits while the queue is full (never drops).
    pub async fn record(&self, event: Event) -> Result<(), RecorderClosed> {
        self.tx.send(event).await.map_err(|_| RecorderClosed)
    }

    /// Free slots in the queue: the listener stops accepting when this runs low.
    pub fn headroom(&self) -> usize {
        self.tx.capacity()
    }

    /// Configured queue depth.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Each sink's write time so far.
    pub fn sink_timings(&self) -> &[Arc<SinkTiming>] {
        &self.timings
    }

    /// Events written to every sink so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// The recorder's threads are gone (the sensor is shutting down or a sink failed).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the event recorder has stopped")]
pub struct RecorderClosed;

/// Owns the dispatcher and sink threads.
#[derive(Debug)]
pub struct Recorder {
    handle: Option<RecorderHandle>,
    threads: Vec<JoinHandle<Result<(), StoreError>>>,
}

trait Sink: Send {
    /// How long to wait after the first event of a batch for more.
    fn linger(&self) -> Duration {
        JSONL_LINGER
    }
    fn write_batch(&mut self, batch: &[Arc<Record>]) -> Result<(), StoreError>;
    fn tick(&mut self) -> Result<(), StoreError>;
    fn close(&mut self) -> Result<(), StoreError>;
}

impl Recorder {
    /// Opens the stores in `config.data_dir` (repairing a torn last line) and starts
    /// the threads.
    pub fn open(
        config: &RecorderConfig,
        sensor: SensorIdentity,
    ) -> Result<(Self, OpenReport), StoreError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StoreError::io(&config.data_dir, e))?;
        let mut report = OpenReport::default();
        let mut sinks: Vec<(&'static str, Box<dyn Sink>)> = Vec::new();
        let mut last_seq = 0u64;
        if config.jsonl {
            let (sink, last, torn) =
                jsonl::JsonlSink::open(&config.data_dir, config.fsync_interval, config.rotation)?;
            last_seq = last_seq.max(last);
            report.torn_bytes = torn;
            sinks.push(("jsonl", Box::new(sink)));
        }
        if config.sqlite {
            let sink = sqlite::SqliteSink::open(&config.data_dir.join(sqlite::DB_FILE))?;
            last_seq = last_seq.max(sink.last_seq()?);
            sinks.push(("sqlite", Box::new(sink)));
        }
        report.next_seq = last_seq + 1;
        let depth = config.queue_depth.max(1);
        let (tx, rx) = tokio::sync::mpsc::channel(depth);
        let written = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        let mut sink_txs = Vec::new();
        let mut timings = Vec::new();
        for (name, sink) in sinks {
            let (stx, srx) = sync_channel::<Arc<Record>>(depth);
            sink_txs.push(stx);
            let timing = Arc::new(SinkTiming {
                sink: name,
                batches: AtomicU64::new(0),
                micros: AtomicU64::new(0),
            });
            timings.push(timing.clone());
            let thread = std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || run_sink(name, sink, srx, &timing))
                .map_err(|e| StoreError::io(&config.data_dir, e))?;
            threads.push(thread);
        }
        let next_seq = report.next_seq;
        let written2 = written.clone();
        let dispatcher = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || dispatch(rx, sink_txs, sensor, next_seq, written2))
            .map_err(|e| StoreError::io(&config.data_dir, e))?;
        threads.push(dispatcher);
        Ok((
            Self {
                handle: Some(RecorderHandle {
                    tx,
                    written,
                    timings,
                }),
                threads,
            },
            report,
        ))
    }

    /// A sending handle.
    pub fn handle(&self) -> Option<RecorderHandle> {
        self.handle.clone()
    }

    /// Waits until every queued event is written and synced, then stops the threads.
    /// Every other [`RecorderHandle`] must have been dropped for this to return.
    pub fn shutdown(mut self) -> Result<(), StoreError> {
        self.handle = None;
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => {
                    result = Err(StoreError::Corrupt {
                        path: PathBuf::new(),
                        problem: "a writer thread panicked".into(),
                    })
                }
            }
        }
        result
    }
}

fn dispatch(
    mut rx: tokio::sync::mpsc::Receiver<Event>,
    sinks: Vec<SyncSender<Arc<Record>>>,
    sensor: SensorIdentity,
    mut seq: u64,
    written: Arc<AtomicU64>,
) -> Result<(), StoreError> {
    let mut events = Vec::with_capacity(DISPATCH_BATCH);
    // Whatever is queued at once, so a burst costs one wake-up, not one per event.
    // Sessions' events trickle in one by one: after a short batch a pause lets the
    // next gather, or every event would wake this thread (and, on a busy core,
    // preempt the sessions' thread to do it).
    while rx.blocking_recv_many(&mut events, DISPATCH_BATCH) > 0 {
        if events.len() < DISPATCH_BATCH {
            std::thread::sleep(DISPATCH_LINGER);
            while events.len() < DISPATCH_BATCH {
                match rx.try_recv() {
                    Ok(event) => events.push(event),
                    Err(_) => break,
                }
            }
        }
        for event in events.drain(..) {
            dispatch_one(event, &sinks, &sensor, seq)?;
            seq += 1;
            written.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Events the recorder takes off its queue at once.
const DISPATCH_BATCH: usize = 256;

/// How long the recorder waits after a short batch for more events.
const DISPATCH_LINGER: Duration = Duration::from_millis(5);

/// Numbers one event and hands it to every sink.
fn dispatch_one(
    event: Event,
    sinks: &[SyncSender<Arc<Record>>],
    sensor: &SensorIdentity,
    seq: u64,
) -> Result<(), StoreError> {
    let json = event.to_json_line(sensor, seq);
    let record = Arc::new(Record { seq, event, json });
    for sink in sinks {
        // A blocked sink blocks us, which blocks the sessions: nothing is dropped.
        if sink.send(record.clone()).is_err() {
            return Err(StoreError::Corrupt {
                path: PathBuf::new(),
                problem: "a sink stopped; see the log".into(),
            });
        }
    }
    Ok(())
}

/// Largest batch a sink writes at once.
const MAX_BATCH: usize = 8192;

/// How long the JSON-lines sink waits after the first event of a batch for more to
/// arrive: a burst becomes one `write()`, and a crash loses milliseconds of events.
const JSONL_LINGER: Duration = Duration::from_millis(2);

/// Moves what is queued into `batch`, up to [`MAX_BATCH`].
fn drain_into(rx: &Receiver<Arc<Record>>, batch: &mut Vec<Arc<Record>>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
}

fn run_sink(
    name: &'static str,
    mut sink: Box<dyn Sink>,
    rx: Receiver<Arc<Record>>,
    timing: &SinkTiming,
) -> Result<(), StoreError> {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(first) => {
                batch.push(first);
                drain_into(&rx, &mut batch);
                if batch.len() < MAX_BATCH {
                    // Let a burst gather: one write (one SQLite transaction) per
                    // burst instead of one per event, and fewer wake-ups.
                    std::thread::sleep(sink.linger());
                    drain_into(&rx, &mut batch);
                }
                let started = std::time::Instant::now();
                write_until_done(name, sink.as_mut(), &batch);
                let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                timing.micros.fetch_add(took, Ordering::Relaxed);
                timing.batches.fetch_add(1, Ordering::Relaxed);
                batch.clear();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        sink.tick()?;
    }
    sink.close()
}

/// Retries a failed batch (disk full, database locked) until it is written: the
/// queues back up meanwhile, the listener stops accepting, and nothing is dropped.
fn write_until_done(name: &'static str, sink: &mut dyn Sink, batch: &[Arc<Record>]) {
    let mut attempt: u64 = 0;
    while let Err(e) = sink.write_batch(batch) {
        if attempt.is_multiple_of(10) {
            tracing::error!(sink = name, error = %e, attempt, "event sink cannot write; retrying");
        }
        attempt += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    if attempt > 0 {
        tracing::warn!(sink = name, attempt, "event sink recovered");
    }
}

#[cfg(test)]
mod query_plans;
#[cfg(test)]
mod tally_tests;
#[cfg(test)]
mod tests;
