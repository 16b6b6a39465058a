//! Retention, run: `busybait prune` on demand (`--dry-run` only counts), and the
//! sensor's own pass every `[retention] interval` on a blocking thread, its database
//! batches spaced so that the event writer keeps up, with the `[retention]` settings
//! SIGHUP reloads ([`reload`]). What goes is in `busybait_store::retention`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use busybait_store::retention::{self, Pruned, CLASSES};
use tokio::sync::watch;

use crate::config::{Config, RetentionConfig};

/// Between two database batches of the sensor's own pass.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// What the sensor's passes removed, per class (in [`CLASSES`] order): items, bytes.
#[derive(Debug, Default)]
pub struct Counters {
    items: [AtomicU64; CLASSES.len()],
    bytes: [AtomicU64; CLASSES.len()],
}

impl Counters {
    fn add(&self, pruned: &[(&'static str, Pruned)]) {
        for (class, p) in pruned {
            if let Some(i) = CLASSES.iter().position(|c| c == class) {
                if let (Some(items), Some(bytes)) = (self.items.get(i), self.bytes.get(i)) {
                    items.fetch_add(p.items, Ordering::Relaxed);
                    bytes.fetch_add(p.bytes, Ordering::Relaxed);
                }
            }
        }
    }

    /// Per class: its name, items and bytes removed so far.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, u64)> {
        CLASSES
            .iter()
            .zip(self.items.iter().zip(&self.bytes))
            .map(|(c, (i, b))| (*c, i.load(Ordering::Relaxed), b.load(Ordering::Relaxed)))
            .collect()
    }
}

/// With `[fleet] url` set, the highest `seq` the fleet has acknowledged (0 before
/// the first): the event rows after it are not pruned. A cursor that cannot be read
/// keeps them all.
fn shipped_through(config: &Config) -> Option<u64> {
    config.fleet.url.as_ref()?;
    match busybait_fleet::cursor::Cursor::new(&config.data_dir).load() {
        Ok(seq) => Some(seq.unwrap_or(0)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the fleet cursor: keeping every event row");
            Some(0)
        }
    }
}

/// With `[fleet] url` set, the `seq` of the last session close whose recording
/// the fleet has: later sessions' recordings are not pruned. A cursor that cannot
/// be read keeps them all.
fn recordings_shipped_through(config: &Config) -> Option<u64> {
    config.fleet.url.as_ref()?;
    let file = busybait_fleet::recordings::CURSOR_FILE;
    match busybait_fleet::cursor::Cursor::named(&config.data_dir, file).load() {
        Ok(seq) => Some(seq.unwrap_or(0)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the fleet's recordings cursor: keeping every recording");
            Some(0)
        }
    }
}

/// The retention limits now: `settings`', and the fleet's cursors.
fn retention_now(config: &Config, settings: &RetentionConfig) -> retention::Retention {
    retention::Retention {
        shipped_through: shipped_through(config),
        recordings_shipped_through: recordings_shipped_through(config),
        ..settings.retention()
    }
}

/// SIGHUP: reads `[retention]` from the config file `serve` started with and hands
/// it to the running passes (they run once at once with it). The rest of the file
/// takes a restart; a file that does not load leaves the running settings as they
/// are, and says why.
pub fn reload(config_file: Option<&std::path::Path>, settings: &watch::Sender<RetentionConfig>) {
    let Some(path) = config_file else {
        tracing::info!("SIGHUP: serve started without --config: nothing to reload");
        return;
    };
    match Config::load(path) {
        Ok(new) => {
            settings.send_replace(new.retention);
            tracing::info!(
                config = %path.display(),
                "SIGHUP: [retention] reloaded (other sections take a restart)"
            );
        }
        Err(e) => tracing::error!(
            config = %path.display(),
            "SIGHUP: keeping the running settings: {e:#}"
        ),
    }
}

/// `busybait prune`: one pass now, printed as a table.
pub fn command(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    if !config.data_dir.exists() {
        anyhow::bail!(
            "no data dir at {} (give --data-dir, or the config that names it)",
            config.data_dir.display()
        );
    }
    // The test hook `BUSYBAIT_FAILPOINT=prune-between-batches`: after the first
    // database batch, say so and hold until killed (a `kill -9` mid-pass).
    let hold = std::env::var(busybait_fleet::pg::write::FAILPOINT_ENV)
        .is_ok_and(|v| v == "prune-between-batches");
    let pruned = retention::prune(
        &config.data_dir,
        &retention_now(config, &config.retention),
        SystemTime::now(),
        dry_run,
        &mut || {
            if hold {
                eprintln!("failpoint prune-between-batches: holding until killed");
                loop {
                    std::thread::park();
                }
            }
        },
    )?;
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(
        &mut out,
        table(&pruned, dry_run, &config.retention).as_bytes(),
    )?;
    Ok(())
}

fn table(
    pruned: &[(&'static str, Pruned)],
    dry_run: bool,
    keep: &crate::config::RetentionConfig,
) -> String {
    let span = |d: Option<Duration>| match d {
        Some(d) => humantime::format_duration(d).to_string(),
        None => "forever".into(),
    };
    let kept = |class: &str| match class {
        "recordings" => span(keep.recordings),
        "recording-blobs" => format!("{} + 1day", span(keep.recordings)),
        "event-files" => span(keep.event_files),
        "event-rows" => span(keep.event_rows),
        "session-rows" => span(keep.session_rows),
        "alerts" => span(keep.alerts),
        _ => span(keep.samples),
    };
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut out = format!("{:<16} {:>12} {:>14}  kept\n", "class", verb, "bytes");
    for (class, p) in pruned {
        out.push_str(&format!(
            "{class:<16} {:>12} {:>14}  {}\n",
            p.items,
            p.bytes,
            kept(class)
        ));
    }
    out
}

/// The sensor's pass every `interval` (the first at start, and one whenever the
/// settings change), until `shutdown`.
pub async fn run_periodically(
    config: Config,
    mut settings: watch::Receiver<RetentionConfig>,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = settings.borrow_and_update().clone();
        let interval = now.interval.max(Duration::from_secs(1));
        let data_dir = config.data_dir.clone();
        let keep = retention_now(&config, &now);
        let pass = tokio::task::spawn_blocking(move || {
            retention::prune(&data_dir, &keep, SystemTime::now(), false, &mut || {
                std::thread::sleep(BATCH_PAUSE);
            })
        });
        match pass.await {
            Ok(Ok(pruned)) => {
                counters.add(&pruned);
                let items: u64 = pruned.iter().map(|(_, p)| p.items).sum();
                let bytes: u64 = pruned.iter().map(|(_, p)| p.bytes).sum();
                if items > 0 {
                    tracing::info!(items, bytes, "retention removed old data");
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "retention pass failed; retrying next interval")
            }
            Err(e) => tracing::error!(error = %e, "retention pass panicked"),
        }
        if !next_pass(interval, &mut settings, &mut shutdown).await {
            return;
        }
    }
}

/// Waits out `interval`, or less if the settings change; false at shutdown.
async fn next_pass(
    interval: Duration,
    settings: &mut watch::Receiver<RetentionConfig>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        () = tokio::time::sleep(interval) => true,
        // A dropped sender (never, while serve runs) is no change: sleep it out.
        r = settings.changed() => {
            if r.is_err() {
                tokio::time::sleep(interval).await;
            }
            true
        }
        _ = shutdown.changed() => false,
    }
}

/// The data dir's size, as last measured, its budget, and whether it is at it.
#[derive(Debug, Default)]
pub struct DataUse {
    bytes: AtomicU64,
    budget: AtomicU64,
    full: std::sync::atomic::AtomicBool,
}

impl DataUse {
    /// Bytes, as last measured.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Nothing measured yet, under `budget`.
    pub fn new(budget: u64) -> Self {
        Self {
            budget: AtomicU64::new(budget),
            ..Self::default()
        }
    }

    /// The budget in force (`max_data_bytes`; 0: none).
    pub fn budget(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Whether new sessions are refused for lack of room.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }
}

/// Room is made when the data dir passes this share of its budget…
const HIGH_WATER_PERCENT: u64 = 95;
/// …down to this share.
const LOW_WATER_PERCENT: u64 = 90;

/// Measures the data dir every `budget_interval`; near `max_data_bytes` removes
/// the oldest prunable data, and past it with nothing left to remove refuses new
/// sessions (saying so once in the log) until there is room again.
pub async fn keep_to_budget(
    config: Config,
    mut settings: watch::Receiver<RetentionConfig>,
    counters: Arc<Counters>,
    data: Arc<DataUse>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (budget, interval) = {
            let now = settings.borrow_and_update();
            (
                now.max_data_bytes,
                now.budget_interval.max(Duration::from_millis(100)),
            )
        };
        data.budget.store(budget, Ordering::Relaxed);
        let dir = config.data_dir.clone();
        let shipped_through = shipped_through(&config);
        let recordings_shipped = recordings_shipped_through(&config);
        let started = std::time::Instant::now();
        let pass = tokio::task::spawn_blocking(move || {
            let used = busybait_store::budget::data_bytes(&dir);
            if budget == 0 || used * 100 < budget * HIGH_WATER_PERCENT {
                return Ok((used, Vec::new()));
            }
            let excess = used.saturating_sub(budget * LOW_WATER_PERCENT / 100);
            let (pruned, freed) = busybait_store::budget::make_room(
                &dir,
                excess,
                shipped_through,
                recordings_shipped,
                &mut || std::thread::sleep(BATCH_PAUSE),
            )?;
            Ok::<_, busybait_store::StoreError>((used.saturating_sub(freed), pruned))
        });
        match pass.await {
            Ok(Ok((used, pruned))) => {
                data.bytes.store(used, Ordering::Relaxed);
                counters.add(&pruned);
                let freed: u64 = pruned.iter().map(|(_, p)| p.bytes).sum();
                if freed > 0 {
                    tracing::info!(freed, used, budget, "made room under max_data_bytes");
                }
                let full = budget > 0 && used >= budget;
                let was = data.full.swap(full, Ordering::Relaxed);
                if full && !was {
                    tracing::warn!(
                        used,
                        budget,
                        "the data dir is at max_data_bytes and nothing is left to prune: refusing new sessions"
                    );
                } else if was && !full {
                    tracing::info!(
                        used,
                        budget,
                        "the data dir has room again: accepting sessions"
                    );
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "making room under max_data_bytes failed"),
            Err(e) => tracing::error!(error = %e, "the budget check panicked"),
        }
        let interval = budget_wait(interval, started.elapsed());
        if !next_pass(interval, &mut settings, &mut shutdown).await {
            return;
        }
    }
}

/// Of the time between two budget checks, at most this share goes to measuring.
const BUDGET_WALK_SHARE: u32 = 20;

/// How long to wait before the next budget check: `interval`, or longer when a check
/// took long (a data dir of millions of recordings): walking it then costs at most a
/// twentieth of the time.
fn budget_wait(interval: Duration, took: Duration) -> Duration {
    interval.max(took.saturating_mul(BUDGET_WALK_SHARE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_walk_of_the_data_dir_spaces_the_budget_checks() {
        let interval = Duration::from_secs(15);
        assert_eq!(budget_wait(interval, Duration::from_millis(50)), interval);
        assert_eq!(
            budget_wait(interval, Duration::from_secs(3)),
            Duration::from_secs(60)
        );
    }
}
