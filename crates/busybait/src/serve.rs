//! `busybait serve`: the network edge.
//!
//! Thin on purpose: accept, apply the connection limits, and run each connection as
//! the loop read → `Session::handle_input` → write what `poll_transmit` gives →
//! record what `poll_event` gives → sleep until `poll_timeout`. Everything the
//! attacker sees is decided by the sans-IO `Session`.
//!
//! Limits enforced here (all in `[limits]`, counted in [`Stats`]): concurrent sessions
//! (global and per source address), connections not yet logged in (the oldest is
//! evicted), stalled writes (bounded by the idle timeout), and the event queue: while
//! it is short of room, listeners stop accepting, and sessions waiting to record stop
//! reading their sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use busybait_emulator::shell::FetchResult;
use busybait_emulator::vfs::StagedBytes;
use busybait_emulator::{Device, FetchId, Now, Session, SessionConfig};
use busybait_events::{CloseReason, Event, EventKind, Peer, SensorIdentity, SessionId};
use busybait_intel::classify::{Rules, SessionFacts};
use busybait_store::recording::{Blobs, Recording};
use busybait_store::samples::{SampleError, SampleStore};
use busybait_store::sensor::SensorState;
use busybait_store::staging::{SessionStaging, Staging};
use busybait_store::{Recorder, RecorderConfig, RecorderHandle};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
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
    fn snapshot(&self) -> [(&'static str, u64); 7] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("accepted", g(&self.accepted)),
            ("refused_max_sessions", g(&self.refused_max_sessions)),
            ("refused_per_source", g(&self.refused_per_source)),
            ("refused_memory", g(&self.refused_memory)),
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
            } => &self.samples_new,
            EventKind::FileDownload {
                duplicate: true, ..
            } => &self.samples_duplicate,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Queues an event, counting it for the metrics and timing the wait.
async fn record_event(edge: &Edge, event: Event) -> Result<(), busybait_store::RecorderClosed> {
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

/// What a metrics scrape shows now.
fn metrics_snapshot(edge: &Edge) -> crate::metrics::Snapshot {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let s = &edge.stats;
    let depth = edge.recorder.depth() as u64;
    crate::metrics::Snapshot {
        sessions_active: edge.active.load(Ordering::SeqCst) as u64,
        sessions_total: g(&s.accepted),
        logins_success: g(&s.logins_success),
        logins_failed: g(&s.logins_failed),
        commands: g(&s.commands),
        download_requests: g(&s.download_requests),
        samples_new: g(&s.samples_new),
        samples_duplicate: g(&s.samples_duplicate),
        refused: vec![
            ("max_sessions", g(&s.refused_max_sessions)),
            ("max_sessions_per_source", g(&s.refused_per_source)),
            ("max_unauthenticated", g(&s.evicted_unauthenticated)),
            ("memory_cap_bytes", g(&s.refused_memory)),
        ],
        accept_paused: g(&s.accept_paused_queue),
        session_errors: g(&s.session_errors),
        queue_depth: depth.saturating_sub(edge.recorder.headroom() as u64),
        queue_capacity: depth,
        events_written: edge.recorder.written(),
        events_queued: g(&s.events_queued),
        enqueue_wait: Duration::from_micros(g(&s.enqueue_wait_micros)),
        sinks: edge
            .recorder
            .sink_timings()
            .iter()
            .map(|t| {
                (
                    t.sink,
                    t.batches.load(Ordering::Relaxed),
                    Duration::from_micros(t.micros.load(Ordering::Relaxed)),
                )
            })
            .collect(),
        session_memory: edge.memory.total() as u64,
        session_memory_cap: edge.memory.cap() as u64,
        failed_for_memory: edge.memory.failed() as u64,
        source_files: edge.session_config.source_files.bytes() as u64,
    }
}

/// Shared state of all listeners and sessions.
struct Edge {
    config: Config,
    samples: Arc<SampleStore>,
    /// Files being written, on disk as they grow.
    staging: Staging,
    /// Present only with `[fetch] enabled = true`.
    fetcher: Option<Arc<Fetcher>>,
    rules: Rules,
    mirai_credentials: Arc<Vec<(Vec<u8>, Vec<u8>)>>,
    /// The profile's applet names, for the classifier (one copy for all sessions).
    applets: Arc<[String]>,
    /// Long recorded output, kept once by content (with recordings on).
    blobs: Option<Arc<Blobs>>,
    session_config: Arc<SessionConfig>,
    recorder: RecorderHandle,
    stats: Stats,
    active: AtomicUsize,
    /// What all sessions hold, against `memory_cap_bytes`.
    memory: crate::memory::MemoryPool,
    all_done: Notify,
    per_source: Mutex<HashMap<IpAddr, usize>>,
    /// Unauthenticated sessions, oldest first, with the signal that evicts them.
    unauthenticated: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next_conn: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

/// Runs the sensor until SIGINT/SIGTERM.
pub fn run(config: Config) -> anyhow::Result<()> {
    let profile = config.selected_profile()?;
    // The first lines say where everything goes and what the sensor pretends to be.
    let data_dir = std::path::absolute(&config.data_dir).unwrap_or(config.data_dir.clone());
    tracing::info!(
        "busybait {}: data in {} (events.jsonl, busybait.db, samples/, sessions/)",
        env!("CARGO_PKG_VERSION"),
        data_dir.display()
    );
    tracing::info!(
        "device profile {}: {} (BusyBox {}, {})",
        profile.name,
        profile.description,
        profile.busybox_version,
        profile.arch.uname_machine()
    );
    raise_fd_limit(config.limits.max_sessions);
    let profile_busybox_size = profile.busybox_size;
    let sensor = SensorState::load_or_create(&config.data_dir)
        .with_context(|| format!("data dir {}", config.data_dir.display()))?;
    let auth = config.auth.policy(&profile)?;
    let device = Arc::new(Device::new(Arc::new(profile), sensor.seed));
    let started = std::time::SystemTime::now();
    // The firmware's files are dated a while before the device booted.
    let boot_time = started.checked_sub(device.uptime_base).unwrap_or(started);
    let built = boot_time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(400 * 86_400))
        .unwrap_or(0);
    let base = Arc::new(busybait_emulator::vfs::BaseFs::new(&device, built));
    let session_config = Arc::new(SessionConfig {
        device,
        base,
        shell: busybait_emulator::shell::ShellConfig {
            boot_time,
            exec_output: config.exec_output()?,
            step_budget: config.shell_step_budget,
            budgets: config.limits.budgets(),
            fetch: config.fetch.enabled,
            // The fetcher gives up first and answers "refused"; this only guards
            // against an answer that never comes.
            fetch_timeout: config.fetch.timeout + Duration::from_secs(5),
            tftp_give_up: config.limits.tftp_timeout,
            ..busybait_emulator::shell::ShellConfig::default()
        },
        vfs_limits: busybait_emulator::vfs::VfsLimits {
            max_bytes: config.limits.vfs_bytes_per_source,
            max_nodes: config.limits.vfs_files_per_source,
            max_file_bytes: config.limits.vfs_file_bytes,
        },
        source_files: Arc::new(busybait_emulator::vfs::SourceFiles::new(
            config.limits.source_files_retention,
            config.auth.max_sources,
            config.limits.source_files_bytes,
        )),
        auth: Arc::new(auth),
        limits: {
            let mut limits = config.limits.session_limits();
            // A bot reads the whole binary (`cat /bin/echo`) in one go: the output
            // buffer must hold the real image the operator chose to serve.
            let image = usize::try_from(profile_busybox_size).unwrap_or(usize::MAX);
            let needed = image.saturating_add(64 * 1024);
            if config.busybox_image.is_some() && limits.max_output_bytes < needed {
                tracing::info!(
                    max_output_bytes = needed,
                    "max_output_bytes raised to hold /bin/busybox and a prompt"
                );
                limits.max_output_bytes = needed;
            }
            limits
        },
    });
    let identity = SensorIdentity {
        name: config.sensor_name.clone(),
        uuid: sensor.uuid.clone(),
    };
    let (recorder, report) = Recorder::open(
        &RecorderConfig {
            data_dir: config.data_dir.clone(),
            queue_depth: config.store.queue_depth,
            fsync_interval: config.store.fsync_interval,
            jsonl: config.store.jsonl,
            sqlite: config.store.sqlite,
        },
        identity,
    )
    .with_context(|| format!("opening the stores in {}", config.data_dir.display()))?;
    tracing::info!(
        next_seq = report.next_seq,
        torn_bytes = report.torn_bytes,
        "stores open"
    );
    let handle = recorder.handle().context("recorder has no handle")?;
    let samples = Arc::new(
        SampleStore::open(&config.data_dir, config.store.samples_quota_bytes)
            .with_context(|| format!("opening the samples in {}", config.data_dir.display()))?,
    );

    let staging = Staging::open(&config.data_dir)
        .with_context(|| format!("opening the staging area in {}", config.data_dir.display()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(serve(config, session_config, handle, samples, staging));
    drop(runtime);
    recorder.shutdown().context("flushing the event stores")?;
    tracing::info!("stores flushed");
    result
}

async fn serve(
    config: Config,
    session_config: Arc<SessionConfig>,
    recorder: RecorderHandle,
    samples: Arc<SampleStore>,
    staging: Staging,
) -> anyhow::Result<()> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut listeners = Vec::new();
    let metrics_listener = match config.metrics {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?;
            let local = listener.local_addr()?;
            if !local.ip().is_loopback() {
                tracing::warn!(%local, "metrics are served beyond loopback");
            }
            #[allow(clippy::print_stdout)]
            {
                println!("listening metrics {local}");
            }
            Some(listener)
        }
        None => None,
    };
    for addr in &config.telnet {
        let listener = bind_telnet(*addr, config.limits.listen_backlog).with_context(|| {
            format!(
                "binding telnet listener {addr} (port 23 needs CAP_NET_BIND_SERVICE; see README)"
            )
        })?;
        let local = listener.local_addr()?;
        // The contract with tests and operators: one line per listener on stdout.
        #[allow(clippy::print_stdout)]
        {
            println!("listening telnet {local}");
        }
        listeners.push(listener);
    }
    tracing::info!(
        profile = %session_config.device.profile.name,
        hostname = %session_config.device.hostname,
        "serving"
    );
    let rules = config.family_rules()?;
    let fetcher = if config.fetch.enabled {
        tracing::warn!("fetching is on: the sensor downloads what bots ask for");
        Some(Arc::new(
            Fetcher::new(config.fetch.clone()).context("the [fetch] settings")?,
        ))
    } else {
        None
    };
    let mirai_credentials = Arc::new(busybait_emulator::auth::parse_credential_table(
        busybait_emulator::auth::MIRAI_CREDENTIALS_TSV,
    ));
    let applets = session_config
        .device
        .profile
        .applets
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    let blobs = if config.store.recordings {
        Some(Arc::new(Blobs::open(&config.data_dir).with_context(
            || format!("opening the recordings in {}", config.data_dir.display()),
        )?))
    } else {
        None
    };
    let memory = crate::memory::MemoryPool::new(config.limits.memory_cap_bytes);
    let edge = Arc::new(Edge {
        memory,
        blobs,
        config,
        samples,
        staging,
        fetcher,
        rules,
        mirai_credentials,
        applets,
        session_config,
        recorder,
        stats: Stats::default(),
        active: AtomicUsize::new(0),
        all_done: Notify::new(),
        per_source: Mutex::new(HashMap::new()),
        unauthenticated: Mutex::new(BTreeMap::new()),
        next_conn: AtomicU64::new(0),
        shutdown: shutdown_rx,
    });
    recover_staged(&edge).await?;
    tokio::spawn(expire_sources(edge.clone()));
    if let Some(listener) = metrics_listener {
        let for_render = edge.clone();
        tokio::spawn(crate::metrics::serve(
            listener,
            Arc::new(move || crate::metrics::render(&metrics_snapshot(&for_render))),
            edge.shutdown.clone(),
        ));
    }
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        accept_tasks.push(tokio::spawn(accept_loop(edge.clone(), listener)));
    }

    wait_for_signal().await?;
    tracing::info!("shutting down: closing every session");
    let _ = shutdown_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    // Every session sees the shutdown signal, records its closing events and ends.
    loop {
        let notified = edge.all_done.notified();
        if edge.active.load(Ordering::SeqCst) == 0 {
            break;
        }
        notified.await;
    }
    for (name, value) in edge.stats.snapshot() {
        tracing::info!(counter = name, value, "edge counter");
    }
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

/// A telnet listener with the configured backlog (tokio's default is 1,024: a
/// scanner burst overflows it and every bot past it waits a SYN retransmit).
fn bind_telnet(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Raises the soft limit on open files to the hard one (a session is a socket and,
/// with recordings, two files) and warns when even that is short of `max_sessions`:
/// past it, accept fails and bots wait in the backlog.
fn raise_fd_limit(max_sessions: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            limit = getrlimit(Resource::Nofile);
        }
    }
    let have = limit.current.unwrap_or(u64::MAX);
    let want = (max_sessions as u64).saturating_add(crate::config::FD_RESERVE);
    if have < want {
        tracing::warn!(
            open_files = have,
            max_sessions,
            "the open-file limit is below limits.max_sessions plus {}: \
             raise it (ulimit -n, LimitNOFILE=) or lower max_sessions",
            crate::config::FD_RESERVE
        );
    }
}

/// Drops per-source state (files left on the device, credential state) once it is
/// past its retention, so the memory of a burst of bots comes back after it.
async fn expire_sources(edge: Arc<Edge>) {
    let retention = edge
        .config
        .limits
        .source_files_retention
        .min(edge.config.auth.retention);
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = edge.shutdown.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = std::time::Instant::now();
        let files = edge.session_config.source_files.expire(now);
        let credentials = edge.session_config.auth.expire(now);
        tracing::debug!(
            files,
            credentials,
            "per-source state past retention dropped"
        );
    }
}

/// Free queue slots below which listeners stop accepting: a session's worth of
/// events for every session that could still be starting.
fn queue_low_water(depth: usize) -> usize {
    (depth / 4).max(1)
}

async fn accept_loop(edge: Arc<Edge>, listener: TcpListener) {
    let mut shutdown = edge.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        if *shutdown.borrow() {
            return;
        }
        match accepted {
            Ok((stream, src)) => {
                if !wait_for_queue_room(&edge, &mut shutdown).await {
                    return;
                }
                admit(&edge, stream, src);
            }
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// While the event queue is short of room, no new session starts (and this listener
/// accepts nothing more): new bots wait in the kernel's backlog, admitted sessions
/// lose nothing. Returns false if the sensor is shutting down.
async fn wait_for_queue_room(edge: &Edge, shutdown: &mut watch::Receiver<bool>) -> bool {
    let low_water = queue_low_water(edge.recorder.depth());
    if edge.recorder.headroom() >= low_water {
        return true;
    }
    edge.stats
        .accept_paused_queue
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!("event queue nearly full: not accepting for now");
    while edge.recorder.headroom() < low_water {
        if *shutdown.borrow() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!("event queue has room again: accepting");
    true
}

/// Releases a session's slots when its task ends, even by panic.
struct SlotGuard {
    edge: Arc<Edge>,
    src: IpAddr,
    conn: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        {
            let mut per = self
                .edge
                .per_source
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per.get_mut(&self.src) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&self.src);
                }
            }
        }
        self.edge
            .unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.conn);
        if self.edge.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.edge.all_done.notify_waiters();
        }
    }
}

fn admit(edge: &Arc<Edge>, stream: TcpStream, src: SocketAddr) {
    let limits = &edge.config.limits;
    if edge.active.load(Ordering::SeqCst) >= limits.max_sessions {
        edge.stats
            .refused_max_sessions
            .fetch_add(1, Ordering::Relaxed);
        return; // dropping the stream closes it
    }
    if edge.memory.is_full() {
        edge.stats.refused_memory.fetch_add(1, Ordering::Relaxed);
        return;
    }
    {
        let mut per = edge.per_source.lock().unwrap_or_else(|e| e.into_inner());
        let n = per.entry(src.ip()).or_insert(0);
        if *n >= limits.max_sessions_per_source {
            edge.stats
                .refused_per_source
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        *n += 1;
    }
    let conn = edge.next_conn.fetch_add(1, Ordering::Relaxed);
    let evict = Arc::new(Notify::new());
    {
        let mut unauth = edge
            .unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while unauth.len() >= limits.max_unauthenticated {
            let Some((_, oldest)) = unauth.pop_first() else {
                break;
            };
            oldest.notify_one();
            edge.stats
                .evicted_unauthenticated
                .fetch_add(1, Ordering::Relaxed);
        }
        unauth.insert(conn, evict.clone());
    }
    edge.active.fetch_add(1, Ordering::SeqCst);
    edge.stats.accepted.fetch_add(1, Ordering::Relaxed);
    let guard = SlotGuard {
        edge: edge.clone(),
        src: src.ip(),
        conn,
    };
    let edge2 = edge.clone();
    tokio::spawn(ContainPanic {
        session: Box::pin(async move {
            let _guard = guard;
            run_session(edge2, stream, src, conn, evict).await;
        }),
        edge: edge.clone(),
    });
}

/// Runs a session's future and turns a panic in it into the end of that session
/// alone, counted in `session_errors` (in the task itself: a watcher task per
/// session would cost every idle session another task).
struct ContainPanic<F> {
    session: std::pin::Pin<Box<F>>,
    edge: Arc<Edge>,
}

impl<F: std::future::Future<Output = ()>> std::future::Future for ContainPanic<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let session = self.session.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                self.edge
                    .stats
                    .session_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "a session ended in an internal error; only that session was closed"
                );
                // Dropping the future (when the task ends) releases its slots.
                std::task::Poll::Ready(())
            }
        }
    }
}

fn new_session_id() -> SessionId {
    SessionId::from_u64(uuid::Uuid::new_v4().as_u64_pair().0)
}

async fn run_session(
    edge: Arc<Edge>,
    mut stream: TcpStream,
    src: SocketAddr,
    conn: u64,
    evict: Arc<Notify>,
) {
    let dst = stream.local_addr().unwrap_or(src);
    let _ = stream.set_nodelay(true);
    // Best effort: the kernel may round it; failing to set it only loses the bound.
    let _ =
        socket2::SockRef::from(&stream).set_send_buffer_size(edge.config.limits.send_buffer_bytes);
    let limits = &edge.config.limits;
    let started = std::time::Instant::now();
    let id = new_session_id();
    let mut session = Session::new(
        edge.session_config.clone(),
        id,
        Peer { src, dst },
        Now::system(),
    );
    let mut recording = start_recording(&edge, id, src);
    let mut staging = Some(edge.staging.session(&id.to_string(), src, dst));
    let mut shutdown = edge.shutdown.clone();
    let pool = PoolMembership::join(&edge, conn);
    let mut registered_auth = false;
    let mut facts = Facts::new(&edge);
    // A session waits on one download at a time; answers come back here. Made on the
    // first download: most sessions have none.
    let mut fetches: Option<FetchChannel> = None;
    loop {
        // Record first: if the queue is full we wait here and stop reading the socket.
        // Boxed: the events it holds would otherwise take room in every idle session.
        if Box::pin(record_session_output(
            &edge,
            &mut session,
            &mut facts,
            src,
            dst,
        ))
        .await
        .is_err()
        {
            return;
        }
        let staged: Vec<StagedBytes> = std::iter::from_fn(|| session.poll_staged()).collect();
        if !staged.is_empty() {
            staging = Box::pin(stage(staging, staged)).await;
        }
        while let Some((fetch_id, request)) = session.poll_fetch() {
            let (answers, _) =
                fetches.get_or_insert_with(|| tokio::sync::mpsc::channel(FETCHES_IN_FLIGHT));
            start_fetch(&edge, answers, fetch_id, request);
        }
        if !registered_auth && session.is_authenticated() {
            registered_auth = true;
            edge.unauthenticated
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&conn);
        }
        // A new buffer each time (taken from the session): idle sessions hold none.
        let mut out = Vec::new();
        if session.poll_transmit(&mut out) {
            record_io(&mut recording, started, false, &out);
            let write = tokio::time::timeout(limits.idle_timeout, stream.write_all(&out)).await;
            match write {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    session.close(Now::system(), CloseReason::IoError);
                    continue;
                }
                Err(_) => {
                    session.close_for_limit(
                        Now::system(),
                        "write_stall",
                        limits.idle_timeout.as_secs(),
                    );
                    continue;
                }
            }
        }
        if session.is_closed() {
            break;
        }
        edge.memory.report(&pool.member, session.memory_used());
        if session.is_computing() {
            // A long command line goes on in slices; other sessions run in between.
            tokio::task::yield_now().await;
        }
        let mut deadline = session
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let flush_recording_at = recording
            .as_ref()
            .filter(|r| r.buffered())
            .map(|_| tokio::time::Instant::now() + RECORDING_QUIET_FLUSH);
        if let Some(at) = flush_recording_at {
            deadline = deadline.min(at);
        }
        tokio::select! {
            r = stream.readable() => match r {
                Ok(()) => read_now(&stream, limits.read_buffer_bytes, |read| match read {
                    Ok(Some([])) => session.close(Now::system(), CloseReason::ClientClosed),
                    Ok(Some(input)) => {
                        record_io(&mut recording, started, true, input);
                        session.handle_input(Now::system(), input);
                    }
                    Ok(None) => {}
                    Err(_) => session.close(Now::system(), CloseReason::IoError),
                }),
                Err(_) => session.close(Now::system(), CloseReason::IoError),
            },
            Some((fetch_id, result)) = next_fetch_answer(&mut fetches) => {
                session.handle_fetch_result(Now::system(), fetch_id, result)
            }
            _ = tokio::time::sleep_until(deadline) => {
                if flush_recording_at.is_some_and(|at| at <= deadline) {
                    flush_recording(&mut recording);
                }
                session.handle_timeout(Now::system())
            }
            _ = evict.notified() => session.close(Now::system(), CloseReason::Evicted),
            _ = pool.member.fail.notified() => {
                let cap = edge.memory.cap() as u64;
                session.fail_for_memory(Now::system(), "memory_cap_bytes", cap);
            }
            _ = shutdown.changed() => session.close(Now::system(), CloseReason::Shutdown),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    // Every file is a sample now; the staged copies are no longer needed.
    // A directory of a few small files: removed here rather than via the blocking pool.
    if let Some(staging) = staging {
        if let Err(e) = staging.remove() {
            tracing::warn!(error = %e, "cannot remove a session's staging");
        }
    }
    if let Some(rec) = recording {
        if let Err(e) = rec.finish() {
            tracing::warn!(error = %e, "could not finish a session recording");
        }
    }
}

/// A session's place in the memory pool, given back when its task ends (even by
/// panic).
struct PoolMembership {
    edge: Arc<Edge>,
    conn: u64,
    member: Arc<crate::memory::Member>,
}

impl PoolMembership {
    fn join(edge: &Arc<Edge>, conn: u64) -> Self {
        Self {
            edge: edge.clone(),
            conn,
            member: edge.memory.join(conn),
        }
    }
}

impl Drop for PoolMembership {
    fn drop(&mut self) {
        self.edge.memory.leave(self.conn, &self.member);
    }
}

/// A recording's buffered bytes go to disk once its session has been quiet this long.
const RECORDING_QUIET_FLUSH: Duration = Duration::from_secs(1);

/// Writes out a quiet session's recording; on a write error the recording stops.
fn flush_recording(recording: &mut Option<Recording>) {
    if let Some(rec) = recording {
        if let Err(e) = rec.flush() {
            tracing::warn!(error = %e, "session recording stopped");
            *recording = None;
        }
    }
}

/// Downloads one session may have waiting for an answer.
const FETCHES_IN_FLIGHT: usize = 4;

type FetchChannel = (
    tokio::sync::mpsc::Sender<(FetchId, FetchResult)>,
    tokio::sync::mpsc::Receiver<(FetchId, FetchResult)>,
);

/// The next download answer, or never if the session has not asked for one.
async fn next_fetch_answer(fetches: &mut Option<FetchChannel>) -> Option<(FetchId, FetchResult)> {
    match fetches {
        Some((_, answers)) => answers.recv().await,
        None => std::future::pending().await,
    }
}

thread_local! {
    /// One read buffer per runtime thread rather than one per session: a read is
    /// handed to its session before the task yields, so 20,000 idle sessions hold
    /// no buffers.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads what a readable socket has, up to `max` bytes, and hands it to `handle`:
/// `Ok(Some(bytes))` (empty at end of stream), `Ok(None)` if the readiness was
/// spurious, or the error.
fn read_now(stream: &TcpStream, max: usize, handle: impl FnOnce(std::io::Result<Option<&[u8]>>)) {
    READ_BUFFER.with(|cell| {
        let mut own = Vec::new();
        let mut shared = cell.try_borrow_mut();
        // Re-entry cannot happen (nothing awaits in between); fall back rather than panic.
        let buf = match shared.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut own,
        };
        if buf.len() < max {
            buf.resize(max, 0);
        }
        let buf = buf.get_mut(..max).unwrap_or_default();
        match stream.try_read(buf) {
            Ok(n) => handle(Ok(Some(buf.get(..n).unwrap_or_default()))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => handle(Ok(None)),
            Err(e) => handle(Err(e)),
        }
    });
}

/// The event recorder has stopped: the session cannot record and must end.
struct RecorderGone;

/// Records a session's new events (with the family label and command-line URLs at
/// its end) and stores the files it finished as samples.
async fn record_session_output(
    edge: &Arc<Edge>,
    session: &mut Session,
    facts: &mut Facts,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<(), RecorderGone> {
    while let Some(event) = session.poll_event() {
        facts.observe(&event.kind);
        if matches!(event.kind, EventKind::SessionEnd { .. }) {
            // URLs named in command lines that no tool on the device fetched (a
            // missing `curl`, a wrong syntax) are recorded too.
            for url in facts.unfetched_urls() {
                let request = Event {
                    time: event.time,
                    session: event.session,
                    peer: event.peer,
                    kind: EventKind::DownloadRequest {
                        tool: "command-line".into(),
                        url,
                    },
                };
                if record_event(edge, request).await.is_err() {
                    return Err(RecorderGone);
                }
            }
            // The label comes before the session's last two events.
            let label = edge.rules.classify(&facts.facts);
            let family = Event {
                time: event.time,
                session: event.session,
                peer: event.peer,
                kind: EventKind::SessionFamily {
                    family: label.family,
                    sub_label: label.sub_label,
                    confidence_pct: (label.confidence * 100.0).round() as u8,
                    evidence: label.evidence,
                },
            };
            if record_event(edge, family).await.is_err() {
                return Err(RecorderGone);
            }
        }
        if record_event(edge, event).await.is_err() {
            tracing::error!("event recorder stopped; closing session");
            return Err(RecorderGone);
        }
    }
    // Dropped files become samples, then a `cowrie.session.file_download` event.
    while let Some(file) = session.poll_sample() {
        facts.facts.files.push(busybait_events::lossy(&file.path));
        for kind in store_sample(edge, file, &mut facts.facts).await {
            let event = Event {
                time: std::time::SystemTime::now(),
                session: session.id(),
                peer: Peer { src, dst },
                kind,
            };
            if record_event(edge, event).await.is_err() {
                tracing::error!("event recorder stopped; closing session");
                return Err(RecorderGone);
            }
        }
    }
    Ok(())
}

/// Staged batches up to this size are written on the session's own thread: a few
/// kilobytes into the page cache cost less than handing them to the blocking pool
/// (an echo loader stages ten 128-byte lines per session).
const STAGE_INLINE_BYTES: usize = 64 * 1024;

/// Writes a session's new bytes to its staging area (large batches off the async
/// threads). On a disk error staging stops for the session (logged); capture at the
/// end is unaffected.
async fn stage(staging: Option<SessionStaging>, batch: Vec<StagedBytes>) -> Option<SessionStaging> {
    let mut staging = staging?;
    let size: usize = batch.iter().map(|b| b.data.len()).sum();
    let write_all = move || {
        for b in &batch {
            staging.write(&b.path, b.offset, &b.data)?;
        }
        Ok::<_, busybait_store::StoreError>(staging)
    };
    let work = if size <= STAGE_INLINE_BYTES {
        Ok(write_all())
    } else {
        tokio::task::spawn_blocking(write_all).await
    };
    match work {
        Ok(Ok(staging)) => Some(staging),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "staging stopped for a session");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "staging task failed");
            None
        }
    }
}

/// Stores what sessions of a crashed run were writing as samples, each with a
/// `cowrie.session.file_download` event under its session's id, before serving.
async fn recover_staged(edge: &Arc<Edge>) -> anyhow::Result<()> {
    let staging = edge.staging.clone();
    let recovered = tokio::task::spawn_blocking(move || staging.recover())
        .await
        .context("staging recovery task")?
        .context("recovering staged files")?;
    if !recovered.is_empty() {
        tracing::warn!(
            files = recovered.len(),
            "storing files that sessions were writing when the sensor stopped"
        );
    }
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    for r in recovered {
        let (src, dst) = r.peer.unwrap_or((unknown, unknown));
        let file = busybait_emulator::vfs::FinishedFile {
            path: r.path,
            data: Arc::new(r.data),
            url: None,
        };
        let mut facts = SessionFacts::default();
        for kind in store_sample(edge, file, &mut facts).await {
            let event = Event {
                time: std::time::SystemTime::now(),
                session: SessionId::parse(&r.session).unwrap_or(SessionId::from_u64(0)),
                peer: Peer { src, dst },
                kind,
            };
            record_event(edge, event)
                .await
                .map_err(|_| anyhow::anyhow!("event recorder stopped"))?;
        }
    }
    Ok(())
}

/// Downloads for a session in a task of its own; the answer comes back on `answers`.
/// Without a fetcher (fetching off) the download is refused at once.
fn start_fetch(
    edge: &Arc<Edge>,
    answers: &tokio::sync::mpsc::Sender<(FetchId, FetchResult)>,
    id: FetchId,
    request: busybait_emulator::shell::FetchRequest,
) {
    let fetcher = edge.fetcher.clone();
    let answers = answers.clone();
    tokio::spawn(async move {
        let result = match fetcher {
            Some(f) => match f.fetch(&request.url, request.password.as_deref()).await {
                Some(body) => FetchResult::Data(body.as_ref().clone()),
                None => FetchResult::Refused,
            },
            None => FetchResult::Refused,
        };
        // The session may have ended meanwhile; then nobody wants the answer.
        let _ = answers.send((id, result)).await;
    });
}

/// Opens `sessions/<id>.cast` and `.raw`; a failure only loses the recording.
fn start_recording(edge: &Edge, id: SessionId, src: SocketAddr) -> Option<Recording> {
    if !edge.config.store.recordings {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let title = format!("busybait session {id} from {src}");
    match Recording::create(
        &edge.config.data_dir,
        &id.to_string(),
        &title,
        80,
        24,
        now,
        edge.config.store.max_recording_bytes,
    ) {
        Ok(r) => Some(match &edge.blobs {
            Some(blobs) => r.with_blobs(blobs.clone()),
            None => r,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a session");
            None
        }
    }
}

/// Appends to a recording; on a write error the recording stops, the session goes on.
fn record_io(
    recording: &mut Option<Recording>,
    started: std::time::Instant,
    input: bool,
    data: &[u8],
) {
    if let Some(rec) = recording {
        if let Err(e) = rec.record(started.elapsed(), input, data) {
            tracing::warn!(error = %e, "session recording stopped");
            *recording = None;
        }
    }
}

/// What the classifier learns about a session from its events.
struct Facts {
    facts: SessionFacts,
    mirai_credentials: Arc<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Facts {
    fn new(edge: &Edge) -> Self {
        Self {
            facts: SessionFacts {
                applets: edge.applets.clone(),
                ..SessionFacts::default()
            },
            mirai_credentials: edge.mirai_credentials.clone(),
        }
    }

    /// URLs in the command lines that no download tool asked for, in order.
    fn unfetched_urls(&mut self) -> Vec<String> {
        let fetched: Vec<String> = self
            .facts
            .downloads
            .iter()
            .map(|u| normalize_url(u))
            .collect();
        let mut out: Vec<String> = Vec::new();
        for line in &self.facts.commands {
            for url in busybait_intel::triage::urls(line.as_bytes()) {
                let n = normalize_url(&url);
                if !fetched.contains(&n) && !out.iter().any(|o| normalize_url(o) == n) {
                    out.push(url);
                }
            }
        }
        self.facts.downloads.extend(out.iter().cloned());
        out
    }

    fn observe(&mut self, kind: &EventKind) {
        match kind {
            EventKind::CommandInput { input } => self.facts.commands.push(input.clone()),
            EventKind::DownloadRequest { url, .. } => self.facts.downloads.push(url.clone()),
            EventKind::ClientFingerprint { fingerprint } => {
                self.facts.fingerprint = Some(fingerprint.clone())
            }
            EventKind::LoginSuccess { username, password } => {
                let cred = (username.as_bytes().to_vec(), password.as_bytes().to_vec());
                self.facts.mirai_credential = self.mirai_credentials.contains(&cred);
            }
            _ => {}
        }
    }
}

/// Stores a finished file and triages it, off the async threads; returns the events
/// that report it.
async fn store_sample(
    edge: &Arc<Edge>,
    file: busybait_emulator::vfs::FinishedFile,
    facts: &mut SessionFacts,
) -> Vec<EventKind> {
    let store = edge.samples.clone();
    let data = file.data.clone();
    let work = tokio::task::spawn_blocking(move || {
        let stored = store.store(&data);
        let triage =
            matches!(&stored, Ok(s) if !s.duplicate).then(|| busybait_intel::triage::triage(&data));
        (stored, triage)
    })
    .await;
    let (stored, triage) = match work {
        Ok(r) => r,
        Err(_) => {
            return vec![EventKind::LimitHit {
                limit: "samples_store_error",
                value: 0,
            }]
        }
    };
    let mut out = Vec::new();
    match stored {
        Ok(s) => out.push(EventKind::FileDownload {
            url: file.url,
            outfile: s.outfile,
            shasum: s.sha256,
            destfile: busybait_events::lossy(&file.path),
            duplicate: s.duplicate,
        }),
        Err(SampleError::Quota(q)) => out.push(EventKind::LimitHit {
            limit: "samples_quota_bytes",
            value: q,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot store a sample");
            out.push(EventKind::LimitHit {
                limit: "samples_store_error",
                value: 0,
            });
        }
    }
    if let Some(t) = triage {
        out.push(EventKind::SampleTriage {
            shasum: t.sha256.clone(),
            size: t.size,
            kind: format!("{:?}", t.kind).to_ascii_lowercase(),
            arch: t
                .elf
                .as_ref()
                .and_then(|e| e.mirai_arch)
                .map(str::to_string),
            stripped: t.elf.as_ref().and_then(|e| e.stripped),
            upx: t.upx,
            upx_zeroed_header: t.upx_zeroed_header,
            entropy_milli: (t.entropy * 1000.0).round() as u32,
            sha1: t.sha1.clone(),
            md5: t.md5.clone(),
            mirai_key: t.mirai.as_ref().map(|m| m.key),
            c2: t
                .mirai
                .as_ref()
                .map(|m| {
                    m.endpoints
                        .iter()
                        .map(|e| match e.port {
                            Some(p) => format!("{}:{p}", e.host),
                            None => e.host.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            urls: t.urls.clone(),
        });
        facts.triage.push(t);
    }
    out
}

/// A URL without default ports and FTP user names, for comparing requests.
fn normalize_url(url: &str) -> String {
    let mut u = url.to_ascii_lowercase();
    if let Some(rest) = u.strip_prefix("ftp://") {
        if let Some((_, host)) = rest.split_once('@') {
            u = format!("ftp://{host}");
        }
    }
    for (scheme, port) in [("http://", ":80/"), ("tftp://", ":69/"), ("ftp://", ":21/")] {
        if u.starts_with(scheme) {
            u = u.replacen(port, "/", 1);
        }
    }
    u
}
