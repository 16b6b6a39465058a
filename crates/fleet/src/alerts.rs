//! The fleet's watchers' alerts: `busybait watch --interface IF --fleet` publishes
//! each alert on `busybait.alerts.<user>` as the stores keep it
//! ([`busybait_store::alerts::StoredAlert`]); every collector listens and stores it
//! in the fleet's `alerts` table, once (the same alert from any collector, again,
//! changes nothing), where the console's alerts page and the read side find it.
//! Core NATS, at most once: a collector that is down misses what is published then.

use busybait_store::alerts::StoredAlert;
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::FleetError;

/// The prefix of the watchers' alert subjects (the last token is the watcher).
pub const ALERTS_SUBJECT_PREFIX: &str = "busybait.alerts.";
/// The largest alert a collector stores (its evidence is a few packet numbers).
pub const MAX_ALERT_BYTES: usize = 64 * 1024;

/// Listens for alerts and stores them until `shutdown` turns true.
pub async fn collect(
    client: async_nats::Client,
    postgres: String,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), FleetError> {
    let mut alerts = client
        .subscribe(format!("{ALERTS_SUBJECT_PREFIX}*"))
        .await
        .map_err(FleetError::nats)?;
    let mut store = crate::pg::connect(&postgres).await?;
    loop {
        let message = tokio::select! {
            m = alerts.next() => m,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(message) = message else {
            return Ok(());
        };
        let Some(watcher) = message
            .subject
            .as_str()
            .strip_prefix(ALERTS_SUBJECT_PREFIX)
            .filter(|w| crate::valid_sensor_id(w))
        else {
            continue;
        };
        if message.payload.len() > MAX_ALERT_BYTES {
            tracing::warn!(%watcher, "refused an oversized alert");
            continue;
        }
        let (Ok(json), Ok(alert)) = (
            std::str::from_utf8(&message.payload),
            serde_json::from_slice::<StoredAlert>(&message.payload),
        ) else {
            tracing::warn!(%watcher, "refused an alert that is not one");
            continue;
        };
        if let Err(e) = insert(&store, watcher, &alert, json).await {
            tracing::warn!(error = %e, "storing an alert failed");
            if store.is_closed() {
                store = crate::pg::connect(&postgres).await?;
            }
        }
    }
}

async fn insert(
    store: &tokio_postgres::Client,
    watcher: &str,
    a: &StoredAlert,
    json: &str,
) -> Result<(), FleetError> {
    let port = |p: Option<u16>| p.map(i32::from);
    store
        .execute(
            "INSERT INTO alerts (watcher, alert, severity, src_ip, src_port, dst_ip, dst_port,
                protocol, count, first, last, capture, json)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT DO NOTHING",
            &[
                &watcher,
                &a.alert,
                &a.severity,
                &a.src_ip,
                &port(a.src_port),
                &a.dst_ip.as_deref().unwrap_or(""),
                &port(a.dst_port),
                &a.protocol,
                &i64::try_from(a.count).unwrap_or(i64::MAX),
                &a.first,
                &a.last,
                &a.capture,
                &json,
            ],
        )
        .await?;
    Ok(())
}
