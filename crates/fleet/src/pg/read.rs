//! The read side on the fleet's PostgreSQL: the same [`ReadStore`] questions the data
//! dir answers, so `sessions` and `show` print the same for the same events.
//!
//! The CLI is synchronous: the store owns a single-threaded runtime and blocks on it.
//! `report`, `export` and `watch` do not read PostgreSQL yet and say so.

use std::collections::{BTreeMap, BTreeSet};

use busybait_store::read::{
    ExploitRow, FileDetails, IndicatorFamilies, IndicatorRow, ReadStore, Report, SessionRow, Window,
};
use busybait_store::StoreError;
use tokio_postgres::Client;

/// A fleet store opened for reading.
pub struct PgStore {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("PostgreSQL: {e}"))
}

fn not_yet(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "{what} does not read a PostgreSQL store yet; run it on a sensor's data dir"
    ))
}

impl PgStore {
    /// Connects to `url` and checks that it holds a fleet store.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the PostgreSQL client: {e}")))?;
        let client = runtime
            .block_on(async {
                let client = super::connect(url).await?;
                let version: i32 = client
                    .query_opt("SELECT version FROM busybait_schema", &[])
                    .await
                    .map_err(|_| {
                        crate::FleetError::Config(format!(
                            "{} holds no busybait fleet store; has `busybait collect` run against it?",
                            super::redact(url)
                        ))
                    })?
                    .map_or(0, |r| r.get(0));
                if version < 1 {
                    return Err(crate::FleetError::Config(format!(
                        "{} holds no busybait fleet store yet",
                        super::redact(url)
                    )));
                }
                Ok(client)
            })
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self { runtime, client })
    }
}

fn opt_u16(v: Option<i32>) -> u16 {
    v.and_then(|v| u16::try_from(v).ok()).unwrap_or(0)
}

impl ReadStore for PgStore {
    fn recent_sessions(&self, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .runtime
            .block_on(self.client.query(
                "SELECT session, start_time, src_ip, src_port, dst_port, duration_ms, end_reason, username,
                        password, login_failures, commands, fingerprint, family, family_label, dst_ip,
                        protocol, client_version, hassh
                 FROM sessions WHERE start_time IS NOT NULL
                 ORDER BY start_time DESC, session DESC LIMIT $1",
                &[&limit],
            ))
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(SessionRow {
                    session: r.try_get(0).map_err(backend)?,
                    start_time: r.try_get(1).map_err(backend)?,
                    src_ip: r
                        .try_get::<_, Option<String>>(2)
                        .map_err(backend)?
                        .unwrap_or_default(),
                    src_port: opt_u16(r.try_get(3).map_err(backend)?),
                    dst_port: opt_u16(r.try_get(4).map_err(backend)?),
                    duration_ms: r.try_get(5).map_err(backend)?,
                    end_reason: r.try_get(6).map_err(backend)?,
                    username: r.try_get(7).map_err(backend)?,
                    password: r.try_get(8).map_err(backend)?,
                    login_failures: r.try_get(9).map_err(backend)?,
                    commands: r.try_get(10).map_err(backend)?,
                    fingerprint: r.try_get(11).map_err(backend)?,
                    family: r.try_get(12).map_err(backend)?,
                    family_label: r.try_get(13).map_err(backend)?,
                    dst_ip: r
                        .try_get::<_, Option<String>>(14)
                        .map_err(backend)?
                        .unwrap_or_default(),
                    protocol: r
                        .try_get::<_, Option<String>>(15)
                        .map_err(backend)?
                        .unwrap_or_default(),
                    client_version: r.try_get(16).map_err(backend)?,
                    hassh: r.try_get(17).map_err(backend)?,
                })
            })
            .collect()
    }

    fn session_events(&self, session: &str) -> Result<Option<Vec<String>>, StoreError> {
        let rows = self
            .runtime
            .block_on(self.client.query(
                "SELECT json FROM events WHERE session = $1 ORDER BY sensor, seq",
                &[&session],
            ))
            .map_err(backend)?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect::<Result<Vec<String>, _>>()
            .map(Some)
    }

    fn report(&self, _: &Window) -> Result<Report, StoreError> {
        Err(not_yet("`report`"))
    }

    fn indicators(&self, _: &Window) -> Result<Vec<IndicatorRow>, StoreError> {
        Err(not_yet("`export`"))
    }

    fn exploits(&self, _: &Window) -> Result<Vec<ExploitRow>, StoreError> {
        Err(not_yet("`export`"))
    }

    fn indicator_families(&self, _: &Window) -> Result<IndicatorFamilies, StoreError> {
        Err(not_yet("`export`"))
    }

    fn file_details(&self, _: &Window) -> Result<BTreeMap<String, FileDetails>, StoreError> {
        Err(not_yet("`export`"))
    }

    fn sensor_addresses(&self) -> Result<BTreeSet<String>, StoreError> {
        Err(not_yet("`watch`"))
    }
}
