//! `busybait serve`: the network edge, thin on purpose.
//!
//! It opens the data dir, builds the device, binds the listeners and runs until
//! SIGINT/SIGTERM, then closes every session and flushes the stores. Who gets in is
//! [`crate::admission`]'s; each connection's loop is [`crate::connection`]'s; what
//! sessions leave on disk is [`crate::capture`]'s; the memory cap over all sessions is
//! [`crate::memory`]'s; the metrics page renders [`crate::metrics`]. Everything the
//! attacker sees is decided by the sans-IO session and device.
//!
//! Limits enforced at the edge (all in `[limits]`, counted in [`crate::edge::Stats`]): concurrent
//! sessions (global and per source address), connections not yet logged in (the
//! oldest is evicted), stalled writes (bounded by the idle timeout), the sensor-wide
//! memory cap, and the event queue: while it is short of room, listeners stop
//! accepting, and sessions waiting to record stop reading their sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use busybait_device::terminal::SessionConfig;
use busybait_store::datadir::{DataDir, DataDirConfig};
use busybait_store::recording::Blobs;
use busybait_store::samples::SampleStore;
use busybait_store::staging::Staging;
use busybait_store::RecorderHandle;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::edge::{record_event, Edge, Stats};
use crate::fetch::Fetcher;

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
            ("max_data_bytes", g(&s.refused_data_budget)),
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
        source_files: edge.session_config.state.files.bytes() as u64,
        pruned: edge.pruned.snapshot(),
        data_bytes: edge.data.bytes(),
        data_budget: edge.data.budget(),
        fleet: edge.fleet.as_ref().map(|f| crate::metrics::FleetSnapshot {
            shipped_seq: g(&f.shipped_seq),
            lag: f.lag(),
            published: g(&f.published),
            failures: g(&f.failures),
        }),
    }
}

/// Runs the sensor until SIGINT/SIGTERM.
pub fn run(config: Config, config_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let profile = config.selected_profile()?;
    // Before any listener: a database that cannot be read stops the start.
    let geoip = crate::geoip::GeoIp::open(&config.geoip.databases)?;
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
    let data = DataDir::open(&DataDirConfig {
        dir: config.data_dir.clone(),
        sensor_name: config.sensor_name.clone(),
        queue_depth: config.store.queue_depth,
        fsync_interval: config.store.fsync_interval,
        jsonl: config.store.jsonl,
        sqlite: config.store.sqlite,
        rotation: busybait_store::rotate::Rotation {
            daily: config.store.jsonl_rotate_daily,
            max_bytes: config.store.jsonl_rotate_bytes,
            compress: config.store.jsonl_compress,
        },
        samples_quota_bytes: config.store.samples_quota_bytes,
        recordings: config.store.recordings,
    })?;
    tracing::info!(
        next_seq = data.opened.next_seq,
        torn_bytes = data.opened.torn_bytes,
        "stores open"
    );
    let ssh_profile = profile.clone();
    let session_config =
        Arc::new(config.session_config(profile, data.sensor.seed, std::time::SystemTime::now())?);
    let ssh = if config.ssh.is_empty() {
        None
    } else {
        let ssh = config.ssh_config(&ssh_profile, session_config.clone())?;
        tracing::info!(
            "SSH: Dropbear {}, host keys {}",
            ssh.server.version.as_str(),
            ssh.server
                .host_keys
                .iter()
                .map(|k| format!("{} {}", k.algorithm().name(), k.fingerprint()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Some(Arc::new(ssh))
    };
    let http = if config.http.is_empty() {
        None
    } else {
        Some(Arc::new(
            config.http_config(&ssh_profile, session_config.clone())?,
        ))
    };
    let handle = data.recorder.handle().context("recorder has no handle")?;
    let stores = Stores {
        sensor: data.sensor.uuid.clone(),
        recorder: handle,
        samples: data.samples,
        staging: data.staging,
        blobs: data.blobs,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let doors = Doors { ssh, http, geoip };
    let result = runtime.block_on(serve(config, config_file, session_config, doors, stores));
    drop(runtime);
    data.recorder
        .shutdown()
        .context("flushing the event stores")?;
    tracing::info!("stores flushed");
    result
}

/// The doors besides telnet, configured when they have listeners.
struct Doors {
    ssh: Option<Arc<busybait_ssh::session::SshConfig>>,
    http: Option<Arc<busybait_http::session::HttpConfig>>,
    /// Where sources are (`[geoip]`), for every door's connects.
    geoip: Option<crate::geoip::GeoIp>,
}

/// What `serve` writes to.
struct Stores {
    /// The sensor's id (`sensor.toml`): its fleet subject.
    sensor: String,
    recorder: RecorderHandle,
    samples: Arc<SampleStore>,
    staging: Staging,
    blobs: Option<Arc<Blobs>>,
}

async fn serve(
    config: Config,
    config_file: Option<std::path::PathBuf>,
    session_config: Arc<SessionConfig>,
    doors: Doors,
    stores: Stores,
) -> anyhow::Result<()> {
    // Before any "listening" line: a supervisor may signal as soon as it reads one.
    let signals = crate::signals::Signals::install()?;
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
        let listener = bind_listener(*addr, config.limits.listen_backlog).with_context(|| {
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
        listeners.push((listener, busybait_events::Protocol::Telnet));
    }
    for addr in &config.ssh {
        let listener = bind_listener(*addr, config.limits.listen_backlog).with_context(|| {
            format!("binding SSH listener {addr} (port 22 needs CAP_NET_BIND_SERVICE; see README)")
        })?;
        let local = listener.local_addr()?;
        #[allow(clippy::print_stdout)]
        {
            println!("listening ssh {local}");
        }
        listeners.push((listener, busybait_events::Protocol::Ssh));
    }
    for addr in &config.http {
        let listener = bind_listener(*addr, config.limits.listen_backlog).with_context(|| {
            format!("binding HTTP listener {addr} (ports below 1024 need CAP_NET_BIND_SERVICE; see README)")
        })?;
        let local = listener.local_addr()?;
        #[allow(clippy::print_stdout)]
        {
            println!("listening http {local}");
        }
        listeners.push((listener, busybait_events::Protocol::Http));
    }
    let web_listener = match config.web.listen {
        Some(addr) => {
            let listener = crate::web::bind(addr).await?;
            crate::web::announce(&listener)?;
            Some(listener)
        }
        None => None,
    };
    tracing::info!(
        profile = %session_config.device().profile.name,
        hostname = %session_config.device().hostname,
        "serving"
    );
    let rules = Arc::new(config.family_rules()?);
    let fetcher = if config.fetch.enabled {
        tracing::warn!("fetching is on: the sensor downloads what bots ask for");
        Some(Arc::new(
            Fetcher::new(config.fetch.clone()).context("the [fetch] settings")?,
        ))
    } else {
        None
    };
    let mirai_credentials = Arc::new(busybait_device::auth::parse_credential_table(
        busybait_device::auth::MIRAI_CREDENTIALS_TSV,
    ));
    let applets = session_config
        .device()
        .profile
        .applets
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    let memory = crate::memory::MemoryPool::new(config.limits.memory_cap_bytes);
    let fleet = crate::fleet::spawn_shipper(&config, &stores.sensor, shutdown_rx.clone());
    let budget = config.retention.max_data_bytes;
    let edge = Arc::new(Edge {
        geoip: doors.geoip,
        fleet,
        memory,
        blobs: stores.blobs,
        config,
        samples: stores.samples,
        staging: stores.staging,
        fetcher,
        enrich: busybait_intel::enrich::Context {
            rules,
            applets,
            mirai_credentials,
            source_exploits: Arc::default(),
        },
        session_config,
        ssh: doors.ssh,
        http: doors.http,
        recorder: stores.recorder,
        stats: Stats::default(),
        active: AtomicUsize::new(0),
        all_done: Notify::new(),
        per_source: Mutex::new(HashMap::new()),
        unauthenticated: Mutex::new(BTreeMap::new()),
        next_conn: AtomicU64::new(0),
        pruned: Arc::new(crate::prune::Counters::default()),
        data: Arc::new(crate::prune::DataUse::new(budget)),
        shutdown: shutdown_rx,
    });
    let recovered =
        crate::capture::recover_staged(&edge.staging, &edge.samples, &edge.enrich).await?;
    for event in recovered {
        record_event(&edge, event)
            .await
            .map_err(|_| anyhow::anyhow!("event recorder stopped"))?;
    }
    if let Some(listener) = web_listener {
        crate::web::spawn(
            &edge.config.web,
            listener,
            crate::read::Location::Dir(edge.config.data_dir.clone()),
            edge.shutdown.clone(),
        )?;
    }
    tokio::spawn(expire_sources(edge.clone()));
    let (retention_settings, settings) = watch::channel(edge.config.retention.clone());
    tokio::spawn(crate::prune::run_periodically(
        edge.config.clone(),
        settings.clone(),
        edge.pruned.clone(),
        edge.shutdown.clone(),
    ));
    tokio::spawn(crate::prune::keep_to_budget(
        edge.config.clone(),
        settings,
        edge.pruned.clone(),
        edge.data.clone(),
        edge.shutdown.clone(),
    ));
    if let Some(listener) = metrics_listener {
        let for_render = edge.clone();
        tokio::spawn(crate::metrics::serve(
            listener,
            Arc::new(move || crate::metrics::render(&metrics_snapshot(&for_render))),
            edge.shutdown.clone(),
        ));
    }
    let mut accept_tasks = Vec::new();
    for (listener, protocol) in listeners {
        accept_tasks.push(tokio::spawn(crate::admission::accept_loop(
            edge.clone(),
            listener,
            protocol,
        )));
    }

    signals
        .wait(|| crate::prune::reload(config_file.as_deref(), &retention_settings))
        .await;
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

/// A listener with the configured backlog (tokio's default is 1,024: a
/// scanner burst overflows it and every bot past it waits a SYN retransmit).
fn bind_listener(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
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
        let (files, credentials) = edge.session_config.state.expire(now);
        tracing::debug!(
            files,
            credentials,
            "per-source state past retention dropped"
        );
    }
}
