//! The fleet, from the binary's side: `serve --fleet` starts a shipper beside the
//! sensor, `busybait collect` runs a collector, and the read-side commands open a
//! `postgres://` store. The work is `busybait_fleet`'s; this is settings and signals.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use busybait_fleet::collect::{CollectConfig, CollectStats};
use busybait_fleet::nats::NatsSettings;
use busybait_fleet::ship::{ShipConfig, ShipStatus};
use tokio::sync::watch;

use crate::config::{Config, FleetConfig};

/// The environment variable that carries the fleet password.
pub const PASSWORD_ENV: &str = "BUSYBAIT_FLEET_PASSWORD";

/// NATS settings from `[fleet]` (and the environment), if a URL is set.
pub fn nats_settings(fleet: &FleetConfig) -> Option<NatsSettings> {
    let url = fleet.url.clone()?;
    Some(NatsSettings {
        url,
        user: fleet.user.clone(),
        password: std::env::var(PASSWORD_ENV)
            .ok()
            .or_else(|| fleet.password.clone()),
        ca_file: fleet.ca_file.clone(),
        inbox_prefix: None,
    })
}

/// `watch`'s fleet settings: `--config`'s `[fleet]`, its URL replaced by `--fleet`;
/// none without either.
pub fn watch_settings(
    config: Option<PathBuf>,
    fleet: Option<String>,
) -> anyhow::Result<Option<NatsSettings>> {
    let mut cfg = match config {
        Some(path) => Config::load(&path)?,
        None => Config::default(),
    };
    if fleet.is_some() {
        cfg.fleet.url = fleet;
    }
    Ok(nats_settings(&cfg.fleet))
}

/// Starts the shipper of a sensor whose config has `[fleet] url`.
pub fn spawn_shipper(
    config: &Config,
    sensor: &str,
    shutdown: watch::Receiver<bool>,
) -> Option<Arc<ShipStatus>> {
    let nats = nats_settings(&config.fleet)?;
    let status = Arc::new(ShipStatus::default());
    let ship = ShipConfig {
        nats,
        data_dir: config.data_dir.clone(),
        sensor: sensor.to_string(),
        pack_events: config
            .fleet
            .pack_events
            .unwrap_or(busybait_fleet::ship::PACK_EVENTS),
        max_events_per_second: config
            .fleet
            .max_events_per_second
            .unwrap_or(crate::config::DEFAULT_SHIP_EVENTS_PER_SECOND),
    };
    let for_task = status.clone();
    tokio::spawn(async move {
        if let Err(e) = busybait_fleet::ship::run(ship, for_task, shutdown).await {
            tracing::error!(error = %e, "the fleet shipper stopped; events stay in the local store");
        }
    });
    Some(status)
}

/// `busybait collect`.
pub fn collect(
    config: Option<PathBuf>,
    fleet: Option<String>,
    store: String,
    replicas: usize,
    batch: usize,
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let mut cfg = match config {
        Some(path) => Config::load(&path)?,
        None => Config::default(),
    };
    if fleet.is_some() {
        cfg.fleet.url = fleet;
    }
    let nats = nats_settings(&cfg.fleet)
        .context("no NATS URL: pass --fleet nats://HOST:PORT or set [fleet] url")?;
    if !store.starts_with("postgres://") && !store.starts_with("postgresql://") {
        anyhow::bail!("--store must be a postgres:// URL (the fleet store), not {store:?}");
    }
    if !(1..=5).contains(&replicas) {
        anyhow::bail!("--replicas must be 1 to 5 (JetStream's limit)");
    }
    if !(1..=10_000).contains(&batch) {
        anyhow::bail!("--batch must be 1 to 10000");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_stop().await;
            let _ = tx.send(true);
        });
        let stats = Arc::new(CollectStats::default());
        if let Some(addr) = metrics {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?;
            #[allow(clippy::print_stdout)]
            {
                println!("listening metrics {}", listener.local_addr()?);
            }
            let for_render = stats.clone();
            tokio::spawn(crate::metrics::serve(
                listener,
                Arc::new(move || crate::metrics::render_collector(&for_render)),
                rx.clone(),
            ));
        }
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let url = nats.url.clone();
        tokio::spawn(async move {
            if ready_rx.await.is_ok() {
                // The contract with tests and supervisors, as serve's "listening" lines.
                #[allow(clippy::print_stdout)]
                {
                    println!("collecting {url}");
                }
            }
        });
        let run = busybait_fleet::collect::run(
            CollectConfig {
                nats,
                postgres: store,
                replicas,
                batch,
            },
            stats.clone(),
            ready_tx,
            rx,
        );
        let result = run.await;
        tracing::info!(
            written = stats.written.load(std::sync::atomic::Ordering::Relaxed),
            duplicates = stats.duplicates.load(std::sync::atomic::Ordering::Relaxed),
            "collector stopped"
        );
        result.map_err(anyhow::Error::from)
    })
}

/// SIGINT or SIGTERM.
async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
