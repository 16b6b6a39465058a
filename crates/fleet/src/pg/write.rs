//! The collector's writer: one batch of events, one transaction.
//!
//! The `events` row is the identity of an event: the batch's rows go in first
//! (`ON CONFLICT DO NOTHING ... RETURNING`), and only the events that were new there
//! change anything else. A redelivered event, or one shipped again after the stream's
//! duplicate window, finds its row and changes nothing; two collectors handed the same
//! event wait on the same key and only one counts it. Derived rows are upserts that
//! give the same result in any order of arrival: a session's row fills in from
//! whichever of its events comes first, and a later family label replaces an earlier
//! one only by `seq`.
//!
//! The statements of a batch are sent pipelined (one round trip for the batch, not one
//! per statement); PostgreSQL runs them in the order they were sent.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::line::EventLine;
use crate::FleetError;

/// The environment variable of the collector's test hooks (docs/FLEET.md).
pub const FAILPOINT_ENV: &str = "BUSYBAIT_FAILPOINT";

/// One event to store: its sensor (from the subject), its fields, its line.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The sensor id.
    pub sensor: String,
    /// The fields.
    pub line: EventLine,
    /// The JSON line as the sensor wrote it.
    pub json: String,
}

/// What a batch changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Events stored for the first time.
    pub new: usize,
    /// Events already there (redelivered or shipped again).
    pub duplicates: usize,
}

/// The prepared statements of one connection.
pub struct Writer {
    /// The test hook `BUSYBAIT_FAILPOINT=collect-before-commit`: hold the first
    /// batch's transaction open, uncommitted, until the process is killed.
    hang_before_commit: bool,
    insert_events: Statement,
    sensor: Statement,
    connect: Statement,
    count_session: Statement,
    login: Statement,
    count_login: Statement,
    login_accepted: Statement,
    login_failed: Statement,
    command: Statement,
    count_command: Statement,
    triage: Statement,
    family: Statement,
    http_request: Statement,
    exploit: Statement,
    download_request: Statement,
    file: Statement,
    sample: Statement,
    client_version: Statement,
    hassh: Statement,
    fingerprint: Statement,
    end_reason: Statement,
    closed: Statement,
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The day of a timestamp checked by [`crate::line::month_of`].
fn day_of(ts: &str) -> String {
    ts.get(..10).unwrap_or(ts).to_string()
}

impl Writer {
    /// Prepares the statements on `client`.
    pub async fn prepare(client: &Client) -> Result<Self, FleetError> {
        let p = |sql: &'static str| client.prepare(sql);
        Ok(Self {
            hang_before_commit: std::env::var(FAILPOINT_ENV)
                .is_ok_and(|v| v == "collect-before-commit"),
            insert_events: p(
                "INSERT INTO events (sensor, seq, timestamp, session, eventid, json)
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[])
                 ON CONFLICT DO NOTHING RETURNING sensor, seq",
            )
            .await?,
            sensor: p(
                "INSERT INTO sensors (sensor, name, first_seen, last_seen, last_seq) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (sensor) DO UPDATE SET name = EXCLUDED.name,
                     first_seen = LEAST(sensors.first_seen, EXCLUDED.first_seen),
                     last_seen = GREATEST(sensors.last_seen, EXCLUDED.last_seen),
                     last_seq = GREATEST(sensors.last_seq, EXCLUDED.last_seq)",
            )
            .await?,
            connect: p(
                "INSERT INTO sessions (sensor, session, protocol, src_ip, src_port, dst_ip, dst_port, start_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (sensor, session) DO UPDATE SET protocol = EXCLUDED.protocol,
                     src_ip = EXCLUDED.src_ip, src_port = EXCLUDED.src_port, dst_ip = EXCLUDED.dst_ip,
                     dst_port = EXCLUDED.dst_port, start_time = EXCLUDED.start_time",
            )
            .await?,
            count_session: p(
                "WITH source AS (
                     INSERT INTO daily_sources (sensor, day, src_ip) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING RETURNING 1)
                 INSERT INTO daily (sensor, day, sessions, sources) VALUES ($1, $2, 1, (SELECT count(*) FROM source))
                 ON CONFLICT (sensor, day) DO UPDATE SET sessions = daily.sessions + 1,
                     sources = daily.sources + EXCLUDED.sources",
            )
            .await?,
            login: p(
                "INSERT INTO logins (sensor, seq, session, timestamp, username, password, success)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .await?,
            count_login: p(
                "INSERT INTO daily (sensor, day, logins_tried, logins_accepted) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (sensor, day) DO UPDATE SET logins_tried = daily.logins_tried + 1,
                     logins_accepted = daily.logins_accepted + EXCLUDED.logins_accepted",
            )
            .await?,
            login_accepted: p(
                "INSERT INTO sessions (sensor, session, username, password) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sensor, session) DO UPDATE SET username = EXCLUDED.username,
                     password = EXCLUDED.password",
            )
            .await?,
            login_failed: p(
                "INSERT INTO sessions (sensor, session, login_failures) VALUES ($1, $2, 1)
                 ON CONFLICT (sensor, session) DO UPDATE SET login_failures = sessions.login_failures + 1",
            )
            .await?,
            command: p(
                "INSERT INTO commands (sensor, seq, session, timestamp, input, failed)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .await?,
            count_command: p(
                "INSERT INTO sessions (sensor, session, commands) VALUES ($1, $2, 1)
                 ON CONFLICT (sensor, session) DO UPDATE SET commands = sessions.commands + 1",
            )
            .await?,
            triage: p(
                "INSERT INTO triage (sha256, kind, arch, size, mirai_key, json) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (sha256) DO UPDATE SET kind = EXCLUDED.kind, arch = EXCLUDED.arch,
                     size = EXCLUDED.size, mirai_key = EXCLUDED.mirai_key, json = EXCLUDED.json",
            )
            .await?,
            family: p(
                "INSERT INTO sessions (sensor, session, family, family_label, family_confidence, family_seq)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (sensor, session) DO UPDATE SET family = EXCLUDED.family,
                     family_label = EXCLUDED.family_label, family_confidence = EXCLUDED.family_confidence,
                     family_seq = EXCLUDED.family_seq
                 WHERE sessions.family_seq IS NULL OR sessions.family_seq < EXCLUDED.family_seq",
            )
            .await?,
            http_request: p(
                "INSERT INTO http_requests (sensor, seq, session, timestamp, method, path, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .await?,
            exploit: p(
                "INSERT INTO exploits (sensor, seq, session, timestamp, exploit, cve, input)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .await?,
            download_request: p(
                "INSERT INTO download_requests (sensor, seq, session, timestamp, tool, url)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .await?,
            file: p(
                "INSERT INTO files (sensor, seq, session, timestamp, sha256, destfile, url, duplicate)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .await?,
            sample: p(
                "INSERT INTO samples (sha256, first_seen, last_seen, times_seen) VALUES ($1, $2, $2, 1)
                 ON CONFLICT (sha256) DO UPDATE SET first_seen = LEAST(samples.first_seen, EXCLUDED.first_seen),
                     last_seen = GREATEST(samples.last_seen, EXCLUDED.last_seen),
                     times_seen = samples.times_seen + 1",
            )
            .await?,
            client_version: p(
                "INSERT INTO sessions (sensor, session, client_version) VALUES ($1, $2, $3)
                 ON CONFLICT (sensor, session) DO UPDATE SET client_version = EXCLUDED.client_version",
            )
            .await?,
            hassh: p(
                "INSERT INTO sessions (sensor, session, hassh) VALUES ($1, $2, $3)
                 ON CONFLICT (sensor, session) DO UPDATE SET hassh = EXCLUDED.hassh",
            )
            .await?,
            fingerprint: p(
                "INSERT INTO sessions (sensor, session, fingerprint) VALUES ($1, $2, $3)
                 ON CONFLICT (sensor, session) DO UPDATE SET fingerprint = EXCLUDED.fingerprint",
            )
            .await?,
            end_reason: p(
                "INSERT INTO sessions (sensor, session, end_reason) VALUES ($1, $2, $3)
                 ON CONFLICT (sensor, session) DO UPDATE SET end_reason = EXCLUDED.end_reason",
            )
            .await?,
            closed: p(
                "INSERT INTO sessions (sensor, session, end_time, duration_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sensor, session) DO UPDATE SET end_time = EXCLUDED.end_time,
                     duration_ms = EXCLUDED.duration_ms",
            )
            .await?,
        })
    }

    /// Stores `batch` in one transaction. The partitions its months need must exist
    /// ([`super::schema::ensure_month`]).
    pub async fn write(
        &self,
        client: &mut Client,
        batch: &[Incoming],
    ) -> Result<Written, FleetError> {
        let tx = client.transaction().await?;
        let mut sensors = Vec::with_capacity(batch.len());
        let mut seqs = Vec::with_capacity(batch.len());
        let mut times = Vec::with_capacity(batch.len());
        let mut sessions = Vec::with_capacity(batch.len());
        let mut eventids = Vec::with_capacity(batch.len());
        let mut jsons = Vec::with_capacity(batch.len());
        for e in batch {
            sensors.push(e.sensor.as_str());
            seqs.push(i64_of(e.line.seq));
            times.push(e.line.timestamp.as_str());
            sessions.push(e.line.session.as_str());
            eventids.push(e.line.eventid.as_str());
            jsons.push(e.json.as_str());
        }
        let inserted = tx
            .query(
                &self.insert_events,
                &[&sensors, &seqs, &times, &sessions, &eventids, &jsons],
            )
            .await?;
        let mut new: HashSet<(String, i64)> = inserted
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
            .collect();
        let written = Written {
            new: new.len(),
            duplicates: batch.len() - new.len(),
        };

        let mut ops: Vec<(&Statement, Params)> = Vec::new();
        // Each sensor's name, first and last event and highest seq in this batch.
        let mut seen: BTreeMap<&str, (&str, &str, &str, u64)> = BTreeMap::new();
        for e in batch {
            // A key leaves the set the first time: an event twice in one batch counts once.
            if !new.remove(&(e.sensor.clone(), i64_of(e.line.seq))) {
                continue;
            }
            let ts = e.line.timestamp.as_str();
            seen.entry(e.sensor.as_str())
                .and_modify(|(_, first, last, seq)| {
                    *first = (*first).min(ts);
                    *last = (*last).max(ts);
                    *seq = (*seq).max(e.line.seq);
                })
                .or_insert((e.line.sensor.as_str(), ts, ts, e.line.seq));
            self.derive(e, &mut ops);
        }
        for (sensor, (name, first, last, seq)) in seen {
            ops.push((
                &self.sensor,
                vec![
                    Box::new(sensor.to_string()),
                    Box::new(name.to_string()),
                    Box::new(first.to_string()),
                    Box::new(last.to_string()),
                    Box::new(i64_of(seq)),
                ],
            ));
        }
        let pipelined = ops.iter().map(|(stmt, params)| {
            tx.execute_raw(
                *stmt,
                params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)),
            )
        });
        try_join_all(pipelined).await?;
        if self.hang_before_commit {
            tracing::error!(
                events = batch.len(),
                "failpoint collect-before-commit: holding the transaction open until killed"
            );
            std::future::pending::<()>().await;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// The derived rows of one new event.
    fn derive<'s>(&'s self, e: &Incoming, ops: &mut Vec<(&'s Statement, Params)>) {
        let l = &e.line;
        let sensor = || Box::new(e.sensor.clone()) as Box<dyn ToSql + Sync + Send>;
        let session = || Box::new(l.session.clone()) as Box<dyn ToSql + Sync + Send>;
        let seq = || Box::new(i64_of(l.seq)) as Box<dyn ToSql + Sync + Send>;
        let ts = || Box::new(l.timestamp.clone()) as Box<dyn ToSql + Sync + Send>;
        let text = |v: &Option<String>| {
            Box::new(v.clone().unwrap_or_default()) as Box<dyn ToSql + Sync + Send>
        };
        let maybe = |v: &Option<String>| Box::new(v.clone()) as Box<dyn ToSql + Sync + Send>;
        match l.eventid.as_str() {
            "cowrie.session.connect" => {
                ops.push((
                    &self.connect,
                    vec![
                        sensor(),
                        session(),
                        Box::new(l.protocol.clone()),
                        Box::new(l.src_ip.clone()),
                        Box::new(i32::from(l.src_port)),
                        Box::new(l.dst_ip.clone()),
                        Box::new(i32::from(l.dst_port)),
                        ts(),
                    ],
                ));
                ops.push((
                    &self.count_session,
                    vec![
                        sensor(),
                        Box::new(day_of(&l.timestamp)),
                        Box::new(l.src_ip.clone()),
                    ],
                ));
            }
            id @ ("cowrie.login.success" | "cowrie.login.failed") => {
                let success = id == "cowrie.login.success";
                ops.push((
                    &self.login,
                    vec![
                        sensor(),
                        seq(),
                        session(),
                        ts(),
                        text(&l.username),
                        text(&l.password),
                        Box::new(i32::from(success)),
                    ],
                ));
                ops.push((
                    &self.count_login,
                    vec![
                        sensor(),
                        Box::new(day_of(&l.timestamp)),
                        Box::new(i64::from(success)),
                    ],
                ));
                if success {
                    ops.push((
                        &self.login_accepted,
                        vec![sensor(), session(), text(&l.username), text(&l.password)],
                    ));
                } else {
                    ops.push((&self.login_failed, vec![sensor(), session()]));
                }
            }
            id @ ("cowrie.command.input" | "cowrie.command.failed") => {
                let failed = id == "cowrie.command.failed";
                ops.push((
                    &self.command,
                    vec![
                        sensor(),
                        seq(),
                        session(),
                        ts(),
                        text(&l.input),
                        Box::new(i32::from(failed)),
                    ],
                ));
                if !failed {
                    ops.push((&self.count_command, vec![sensor(), session()]));
                }
            }
            "busybait.sample.triage" => ops.push((
                &self.triage,
                vec![
                    text(&l.shasum),
                    text(&l.kind),
                    maybe(&l.arch),
                    Box::new(i64_of(l.size.unwrap_or(0))),
                    Box::new(l.mirai_key.map(|k| i32::try_from(k).unwrap_or(i32::MAX))),
                    Box::new(e.json.clone()),
                ],
            )),
            "busybait.session.family" => ops.push((
                &self.family,
                vec![
                    sensor(),
                    session(),
                    maybe(&l.family),
                    maybe(&l.sub_label),
                    Box::new(l.confidence),
                    seq(),
                ],
            )),
            "busybait.http.request" => ops.push((
                &self.http_request,
                vec![
                    sensor(),
                    seq(),
                    session(),
                    ts(),
                    text(&l.method),
                    text(&l.path),
                    Box::new(i32::from(l.status.unwrap_or(0))),
                ],
            )),
            "busybait.exploit" => ops.push((
                &self.exploit,
                vec![
                    sensor(),
                    seq(),
                    session(),
                    ts(),
                    text(&l.exploit),
                    maybe(&l.cve),
                    text(&l.input),
                ],
            )),
            "busybait.download.request" => ops.push((
                &self.download_request,
                vec![
                    sensor(),
                    seq(),
                    session(),
                    ts(),
                    text(&l.tool),
                    text(&l.url),
                ],
            )),
            id @ ("cowrie.session.file_download" | "cowrie.session.file_upload") => {
                // Only a download has a URL; an upload is the client's.
                let url = if id == "cowrie.session.file_download" {
                    l.url.clone()
                } else {
                    None
                };
                ops.push((
                    &self.file,
                    vec![
                        sensor(),
                        seq(),
                        session(),
                        ts(),
                        text(&l.shasum),
                        text(&l.destfile),
                        Box::new(url),
                        Box::new(i32::from(l.duplicate.unwrap_or(false))),
                    ],
                ));
                ops.push((&self.sample, vec![text(&l.shasum), ts()]));
            }
            "cowrie.client.version" => {
                ops.push((
                    &self.client_version,
                    vec![sensor(), session(), maybe(&l.version)],
                ));
            }
            "cowrie.client.kex" => {
                ops.push((&self.hassh, vec![sensor(), session(), maybe(&l.hassh)]))
            }
            "busybait.client.fingerprint" => {
                ops.push((
                    &self.fingerprint,
                    vec![sensor(), session(), maybe(&l.fingerprint)],
                ));
            }
            "busybait.session.end" => {
                ops.push((
                    &self.end_reason,
                    vec![sensor(), session(), maybe(&l.reason)],
                ));
            }
            "cowrie.session.closed" => ops.push((
                &self.closed,
                vec![
                    sensor(),
                    session(),
                    ts(),
                    Box::new(l.duration_ms.map(i64_of)),
                ],
            )),
            _ => {}
        }
    }
}
