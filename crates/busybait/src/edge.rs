//! The edge's shared state: what every listener and session task reads (the config,
//! the stores, the device, the limits' counters) and the one way events are recorded.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use busybait_device::terminal::SessionConfig;
use busybait_events::{Event, EventKind};
use busybait_store::recording::Blobs;
use busybait_store::samples::SampleStore;
use busybait_store::staging::Staging;
use busybait_store::RecorderHandle;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::fetch::Fetcher;

/// Counters of what the edge refused or ended, logged at shutdown.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted and run as sessions.
    pub accepted: AtomicU64,
    /// Refused: `max_sessions` reached.
    pub refused_max_sessions: AtomicU64,
    /// Refused: `max_sessions_per_source` reached.
    pub refused_per_source: AtomicU64,
    /// Unauthenticated sessions evicted for newer ones.
    pub evicted_unauthenticated: AtomicU64,
    /// Times the listeners paused because the event queue was short of room.
    pub accept_paused_queue: AtomicU64,
    /// Sessions that ended in an internal error (a panic), each counted once.
    pub session_errors: AtomicU64,
    /// Refused: all sessions together hold `memory_cap_bytes`.
    pub refused_memory: AtomicU64,
    /// Refused: the data dir is at `max_data_bytes` with nothing left to prune.
    pub refused_data_budget: AtomicU64,
    /// Logins accepted.
    pub logins_success: AtomicU64,
    /// Logins refused.
    pub logins_failed: AtomicU64,
    /// Command lines.
    pub commands: AtomicU64,
    /// Download requests (tools and command lines).
    pub download_requests: AtomicU64,
    /// Samples stored for the first time.
    pub samples_new: AtomicU64,
    /// Samples already stored.
    pub samples_duplicate: AtomicU64,
    /// Events queued.
    pub events_queued: AtomicU64,
    /// Microseconds sessions waited to queue events (backpressure from the writers).
    pub enqueue_wait_micros: AtomicU64,
}

impl Stats {
    pub fn snapshot(&self) -> [(&'static str, u64); 8] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("accepted", g(&self.accepted)),
            ("refused_max_sessions", g(&self.refused_max_sessions)),
            ("refused_per_source", g(&self.refused_per_source)),
            ("refused_memory", g(&self.refused_memory)),
            ("refused_data_budget", g(&self.refused_data_budget)),
            ("evicted_unauthenticated", g(&self.evicted_unauthenticated)),
            ("accept_paused_queue", g(&self.accept_paused_queue)),
            ("session_errors", g(&self.session_errors)),
        ]
    }
}

impl Stats {
    fn count(&self, kind: &EventKind) {
        let counter = match kind {
            EventKind::LoginSuccess { .. } => &self.logins_success,
            EventKind::LoginFailed { .. } => &self.logins_failed,
            EventKind::CommandInput { .. } => &self.commands,
            EventKind::DownloadRequest { .. } => &self.download_requests,
            EventKind::FileDownload {
                duplicate: false, ..
            }
            | EventKind::FileUpload {
                duplicate: false, ..
            } => &self.samples_new,
            EventKind::FileDownload {
                duplicate: true, ..
            }
            | EventKind::FileUpload {
                duplicate: true, ..
            } => &self.samples_duplicate,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Queues an event, counting it for the metrics and timing the wait.
pub(crate) async fn record_event(
    edge: &Edge,
    mut event: Event,
) -> Result<(), busybait_store::RecorderClosed> {
    // Where the source is, as the databases say now: stored with the connect.
    if let (Some(geoip), busybait_events::EventKind::Connect { source }) =
        (&edge.geoip, &mut event.kind)
    {
        *source = geoip.lookup(event.peer.src.ip());
    }
    edge.stats.count(&event.kind);
    // Counted before the wait, so a scrape never lags the event log.
    edge.stats.events_queued.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let result = edge.recorder.record(event).await;
    let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    edge.stats
        .enqueue_wait_micros
        .fetch_add(waited, Ordering::Relaxed);
    result
}

/// Shared state of all listeners and sessions.
pub(crate) struct Edge {
    pub config: Config,
    /// `[geoip] databases`, when any.
    pub geoip: Option<crate::geoip::GeoIp>,
    pub samples: Arc<SampleStore>,
    /// Files being written, on disk as they grow.
    pub staging: Staging,
    /// Present only with `[fetch] enabled = true`.
    pub fetcher: Option<Arc<Fetcher>>,
    /// What every session's enricher shares (rules, applets, Mirai's credentials).
    pub enrich: busybait_intel::enrich::Context,
    /// Long recorded output, kept once by content (with recordings on).
    pub blobs: Option<Arc<Blobs>>,
    pub session_config: Arc<SessionConfig>,
    /// The SSH door's server and limits (with `--ssh` listeners).
    pub ssh: Option<Arc<busybait_ssh::session::SshConfig>>,
    /// The HTTP door's server, exploit table and limits (with `--http` listeners).
    pub http: Option<Arc<busybait_http::session::HttpConfig>>,
    pub recorder: RecorderHandle,
    pub stats: Stats,
    pub active: AtomicUsize,
    /// What all sessions hold, against `memory_cap_bytes`.
    pub memory: crate::memory::MemoryPool,
    pub all_done: Notify,
    pub per_source: Mutex<HashMap<IpAddr, usize>>,
    /// Unauthenticated sessions, oldest first, with the signal that evicts them.
    pub unauthenticated: Mutex<BTreeMap<u64, Arc<Notify>>>,
    pub next_conn: AtomicU64,
    /// What retention removed so far, per class.
    pub pruned: Arc<crate::prune::Counters>,
    /// The data dir's size and whether it is at its budget.
    pub data: Arc<crate::prune::DataUse>,
    /// The fleet shipper's progress, when `[fleet] url` is set.
    pub fleet: Option<Arc<busybait_fleet::ship::ShipStatus>>,
    pub shutdown: watch::Receiver<bool>,
}
