//! `watch --interface IF --fleet URL`: the fleet's live indicators into a running
//! capture, and its alerts back out. A thread of its own holds the NATS connection:
//! it listens on `busybait.indicators.*` (what every sensor learns, as it learns it)
//! and hands each indicator to the capture through a bounded queue, and it publishes
//! each new alert on `busybait.alerts.<user>` as JSON, as `watch --json` shows it.
//! Both directions are at most once (core NATS): what the fleet already knew comes
//! from `--learned-from postgres://…` at the start.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use anyhow::Context;
use busybait_fleet::indicators::{Indicator, INDICATORS_SUBJECT_PREFIX};
use busybait_fleet::nats::NatsSettings;
use futures_util::StreamExt;

/// Indicators waiting for the capture; past this, new ones are dropped (and said so).
const QUEUE: usize = 65_536;
/// The longest indicator message read (a URL is the longest value).
const MAX_INDICATOR_BYTES: usize = 8 * 1024;
/// The prefix of the watchers' alert subjects.
pub const ALERTS_SUBJECT_PREFIX: &str = "busybait.alerts.";

/// The capture's end of the link.
pub struct FleetLink {
    learned: Receiver<Indicator>,
    alerts: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    thread: std::thread::JoinHandle<()>,
}

#[cfg_attr(not(feature = "live"), allow(dead_code))]
impl FleetLink {
    /// Connects, subscribes, and returns once the subscription is in place (so that
    /// nothing a sensor publishes after this is missed).
    pub fn connect(settings: NatsSettings) -> anyhow::Result<Self> {
        let alerts_subject = format!(
            "{ALERTS_SUBJECT_PREFIX}{}",
            settings.user.as_deref().unwrap_or("watch")
        );
        let (learned_tx, learned) = sync_channel(QUEUE);
        let (alerts, alerts_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("fleet-watch".into())
            .spawn(move || {
                runtime.block_on(run(
                    settings,
                    alerts_subject,
                    learned_tx,
                    alerts_rx,
                    ready_tx,
                ));
            })?;
        ready
            .recv()
            .context("the fleet link stopped before it was ready")??;
        Ok(Self {
            learned,
            alerts,
            thread,
        })
    }

    /// Waits for the alerts given so far to be published, and lets the link go.
    pub fn close(self) {
        let Self {
            learned,
            alerts,
            thread,
        } = self;
        drop(alerts);
        drop(learned);
        if thread.join().is_err() {
            tracing::warn!("the fleet link's thread panicked");
        }
    }

    /// The indicators that arrived since the last call.
    pub fn learned(&self) -> impl Iterator<Item = Indicator> + '_ {
        self.learned.try_iter()
    }

    /// Publishes an alert seen on `interface`, as the stores keep it.
    pub fn alert(&self, alert: &busybait_wire::Alert, interface: &str) {
        let capture = std::path::PathBuf::from(format!("interface:{interface}"));
        let stored = crate::alert_record::stored_alert(alert, &capture);
        if let Ok(json) = serde_json::to_vec(&stored) {
            // The link's thread is gone only if NATS never came back: logged there.
            let _ = self.alerts.send(json);
        }
    }
}

async fn run(
    settings: NatsSettings,
    alerts_subject: String,
    learned: SyncSender<Indicator>,
    mut alerts: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    ready: std::sync::mpsc::Sender<anyhow::Result<()>>,
) {
    let connected = async {
        let client = busybait_fleet::nats::connect(&settings, "busybait watch", false).await?;
        let subscription = client
            .subscribe(format!("{INDICATORS_SUBJECT_PREFIX}*"))
            .await
            .map_err(|e| anyhow::anyhow!("listening to the fleet's indicators: {e}"))?;
        client
            .flush()
            .await
            .map_err(|e| anyhow::anyhow!("listening to the fleet's indicators: {e}"))?;
        Ok::<_, anyhow::Error>((client, subscription))
    };
    let (client, mut subscription) = match connected.await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    tracing::info!(url = %settings.url, "listening to the fleet's indicators");
    let _ = ready.send(Ok(()));
    let mut dropped = 0u64;
    loop {
        tokio::select! {
            message = subscription.next() => {
                let Some(message) = message else { break };
                if message.payload.len() > MAX_INDICATOR_BYTES {
                    continue;
                }
                let Ok(indicator) = serde_json::from_slice::<Indicator>(&message.payload) else {
                    continue;
                };
                match learned.try_send(indicator) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        dropped += 1;
                        if dropped.is_power_of_two() {
                            tracing::warn!(dropped, "the capture is not taking the fleet's indicators fast enough; dropping");
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
            alert = alerts.recv() => {
                let Some(alert) = alert else { break };
                if let Err(e) = client.publish(alerts_subject.clone(), alert.into()).await {
                    tracing::warn!(error = %e, "publishing an alert to the fleet failed");
                }
                let _ = client.flush().await;
            }
        }
    }
}
