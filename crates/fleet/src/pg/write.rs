//! The collector's writer: one batch of events, one transaction, one statement per
//! table.
//!
//! The `events` row is the identity of an event: the batch's rows go in first
//! (`ON CONFLICT DO NOTHING ... RETURNING`), and only the events that were new there
//! change anything else. A redelivered event, or one shipped again after the stream's
//! duplicate window, finds its row and changes nothing; two collectors handed the same
//! event wait on the same key and only one counts it. The new events' effects are
//! gathered per table ([`super::rows`]) and sent as one `UNNEST` statement each,
//! pipelined (one round trip for all of them); they are upserts that give the same
//! result in any order of arrival.

use std::collections::HashSet;

use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::rows::{Keys, Rows};
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Events stored for the first time.
    pub new: usize,
    /// Events already there (redelivered or shipped again).
    pub duplicates: usize,
    /// The samples the new events dropped (SHA-256), each once.
    pub samples: Vec<String>,
}

/// The prepared statements of one connection.
pub struct Writer {
    /// The test hook `BUSYBAIT_FAILPOINT=collect-before-commit`: hold the first
    /// batch's transaction open, uncommitted, until the process is killed.
    hang_before_commit: bool,
    events: Statement,
    sensors: Statement,
    sessions: Statement,
    days: Statement,
    logins: Statement,
    commands: Statement,
    downloads: Statement,
    files: Statement,
    samples: Statement,
    triage: Statement,
    http_requests: Statement,
    exploits: Statement,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `INSERT INTO table (the four keys, columns) SELECT * FROM UNNEST(...)` for a table
/// keyed by (sensor, seq); `types` are the extra columns' array types.
fn keyed_insert(table: &str, columns: &str, types: &[&str]) -> String {
    let mut params = vec![
        "$1::text[]".to_string(),
        "$2::int8[]".into(),
        "$3::text[]".into(),
        "$4::text[]".into(),
    ];
    params.extend(
        types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::{t}[]", i + 5)),
    );
    format!(
        "INSERT INTO {table} (sensor, seq, session, timestamp, {columns})
         SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING",
        params.join(", ")
    )
}

type Param<'a> = &'a (dyn ToSql + Sync);

fn with_keys<'a>(keys: &'a Keys, rest: &[Param<'a>]) -> Vec<Param<'a>> {
    let mut p: Vec<Param<'a>> = vec![&keys.sensor, &keys.seq, &keys.session, &keys.timestamp];
    p.extend_from_slice(rest);
    p
}

impl Writer {
    /// Prepares the statements on `client`.
    pub async fn prepare(client: &Client) -> Result<Self, FleetError> {
        let p = |sql: String| async move { client.prepare(&sql).await };
        Ok(Self {
            hang_before_commit: std::env::var(FAILPOINT_ENV)
                .is_ok_and(|v| v == "collect-before-commit"),
            events: p("INSERT INTO events (sensor, seq, timestamp, session, eventid, json)
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[])
                 ON CONFLICT DO NOTHING RETURNING sensor, seq"
                .into())
            .await?,
            sensors: p("INSERT INTO sensors (sensor, name, first_seen, last_seen, last_seq)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[])
                 ON CONFLICT (sensor) DO UPDATE SET name = EXCLUDED.name,
                     first_seen = LEAST(sensors.first_seen, EXCLUDED.first_seen),
                     last_seen = GREATEST(sensors.last_seen, EXCLUDED.last_seen),
                     last_seq = GREATEST(sensors.last_seq, EXCLUDED.last_seq)"
                .into())
            .await?,
            sessions: p("INSERT INTO sessions (sensor, session, protocol, src_ip, src_port, dst_ip, dst_port,
                     start_time, end_time, duration_ms, end_reason, username, password, login_failures,
                     commands, fingerprint, family, family_label, family_confidence, family_seq,
                     client_version, hassh, country, asn, as_org)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[],
                     $6::text[], $7::int4[], $8::text[], $9::text[], $10::int8[], $11::text[], $12::text[],
                     $13::text[], $14::int8[], $15::int8[], $16::text[], $17::text[], $18::text[],
                     $19::float8[], $20::int8[], $21::text[], $22::text[], $23::text[], $24::int8[],
                     $25::text[])
                 ON CONFLICT (sensor, session) DO UPDATE SET
                     protocol = COALESCE(EXCLUDED.protocol, sessions.protocol),
                     src_ip = COALESCE(EXCLUDED.src_ip, sessions.src_ip),
                     src_port = COALESCE(EXCLUDED.src_port, sessions.src_port),
                     dst_ip = COALESCE(EXCLUDED.dst_ip, sessions.dst_ip),
                     dst_port = COALESCE(EXCLUDED.dst_port, sessions.dst_port),
                     start_time = COALESCE(EXCLUDED.start_time, sessions.start_time),
                     end_time = COALESCE(EXCLUDED.end_time, sessions.end_time),
                     duration_ms = COALESCE(EXCLUDED.duration_ms, sessions.duration_ms),
                     end_reason = COALESCE(EXCLUDED.end_reason, sessions.end_reason),
                     username = COALESCE(EXCLUDED.username, sessions.username),
                     password = COALESCE(EXCLUDED.password, sessions.password),
                     login_failures = sessions.login_failures + EXCLUDED.login_failures,
                     commands = sessions.commands + EXCLUDED.commands,
                     fingerprint = COALESCE(EXCLUDED.fingerprint, sessions.fingerprint),
                     family = CASE WHEN EXCLUDED.family_seq > COALESCE(sessions.family_seq, -1)
                         THEN EXCLUDED.family ELSE sessions.family END,
                     family_label = CASE WHEN EXCLUDED.family_seq > COALESCE(sessions.family_seq, -1)
                         THEN EXCLUDED.family_label ELSE sessions.family_label END,
                     family_confidence = CASE WHEN EXCLUDED.family_seq > COALESCE(sessions.family_seq, -1)
                         THEN EXCLUDED.family_confidence ELSE sessions.family_confidence END,
                     family_seq = GREATEST(EXCLUDED.family_seq, sessions.family_seq),
                     client_version = COALESCE(EXCLUDED.client_version, sessions.client_version),
                     hassh = COALESCE(EXCLUDED.hassh, sessions.hassh),
                     country = COALESCE(EXCLUDED.country, sessions.country),
                     asn = COALESCE(EXCLUDED.asn, sessions.asn),
                     as_org = COALESCE(EXCLUDED.as_org, sessions.as_org)"
                .into())
            .await?,
            // A day's sources are counted once each: only those new in daily_sources add.
            days: p("WITH new_sources AS (
                     INSERT INTO daily_sources (sensor, day, src_ip)
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
                     ON CONFLICT DO NOTHING RETURNING sensor, day),
                 counted AS (SELECT sensor, day, count(*) AS n FROM new_sources GROUP BY sensor, day),
                 deltas AS (SELECT * FROM UNNEST($4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[])
                     AS d(sensor, day, sessions, tried, accepted))
                 INSERT INTO daily (sensor, day, sessions, sources, logins_tried, logins_accepted)
                 SELECT d.sensor, d.day, d.sessions, COALESCE(c.n, 0), d.tried, d.accepted
                 FROM deltas d LEFT JOIN counted c ON c.sensor = d.sensor AND c.day = d.day
                 ON CONFLICT (sensor, day) DO UPDATE SET sessions = daily.sessions + EXCLUDED.sessions,
                     sources = daily.sources + EXCLUDED.sources,
                     logins_tried = daily.logins_tried + EXCLUDED.logins_tried,
                     logins_accepted = daily.logins_accepted + EXCLUDED.logins_accepted"
                .into())
            .await?,
            logins: p(keyed_insert("logins", "username, password, success", &["text", "text", "int4"])).await?,
            commands: p(keyed_insert("commands", "input, failed", &["text", "int4"])).await?,
            downloads: p(keyed_insert("download_requests", "tool, url", &["text", "text"])).await?,
            files: p(keyed_insert(
                "files",
                "sha256, destfile, url, duplicate",
                &["text", "text", "text", "int4"],
            ))
            .await?,
            http_requests: p(keyed_insert(
                "http_requests",
                "method, path, status",
                &["text", "text", "int4"],
            ))
            .await?,
            exploits: p(keyed_insert("exploits", "exploit, cve, input", &["text", "text", "text"])).await?,
            samples: p("INSERT INTO samples (sha256, first_seen, last_seen, times_seen)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[])
                 ON CONFLICT (sha256) DO UPDATE SET first_seen = LEAST(samples.first_seen, EXCLUDED.first_seen),
                     last_seen = GREATEST(samples.last_seen, EXCLUDED.last_seen),
                     times_seen = samples.times_seen + EXCLUDED.times_seen"
                .into())
            .await?,
            triage: p("INSERT INTO triage (sha256, kind, arch, size, mirai_key, json)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int4[], $6::text[])
                 ON CONFLICT (sha256) DO UPDATE SET kind = EXCLUDED.kind, arch = EXCLUDED.arch,
                     size = EXCLUDED.size, mirai_key = EXCLUDED.mirai_key, json = EXCLUDED.json"
                .into())
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
                &self.events,
                &[&sensors, &seqs, &times, &sessions, &eventids, &jsons],
            )
            .await?;
        let mut new: HashSet<(String, i64)> = inserted
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
            .collect();
        let (new_events, duplicates) = (new.len(), batch.len() - new.len());
        let mut rows = Rows::default();
        for e in batch {
            // A key leaves the set the first time: an event twice in one batch counts once.
            if new.remove(&(e.sensor.clone(), i64_of(e.line.seq))) {
                rows.add(e);
            }
        }
        let written = Written {
            new: new_events,
            duplicates,
            samples: rows.samples.keys().cloned().collect(),
        };
        self.send(&tx, &rows).await?;
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

    /// One statement per table that has rows, pipelined.
    async fn send(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        rows: &Rows,
    ) -> Result<(), FleetError> {
        // The sessions' columns, one array each.
        let mut s_sensor = Vec::new();
        let mut s_session = Vec::new();
        let (mut protocol, mut src_ip, mut src_port, mut dst_ip, mut dst_port, mut start) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let (mut end, mut duration, mut reason, mut user, mut pass) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut failures, mut commands, mut fingerprint) = (Vec::new(), Vec::new(), Vec::new());
        let (mut family, mut label, mut confidence, mut family_seq) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut version, mut hassh) = (Vec::new(), Vec::new());
        let (mut country, mut asn, mut as_org) = (Vec::new(), Vec::new(), Vec::new());
        for ((sensor, session), d) in &rows.sessions {
            s_sensor.push(sensor.as_str());
            s_session.push(session.as_str());
            let c = d.connect.as_ref();
            protocol.push(c.map(|c| c.0.as_str()));
            src_ip.push(c.map(|c| c.1.as_str()));
            src_port.push(c.map(|c| c.2));
            dst_ip.push(c.map(|c| c.3.as_str()));
            dst_port.push(c.map(|c| c.4));
            start.push(c.map(|c| c.5.as_str()));
            end.push(d.closed.as_ref().map(|c| c.0.as_str()));
            duration.push(d.closed.as_ref().and_then(|c| c.1));
            reason.push(d.end_reason.as_deref());
            user.push(d.login.as_ref().map(|l| l.1.as_str()));
            pass.push(d.login.as_ref().map(|l| l.2.as_str()));
            failures.push(d.login_failures);
            commands.push(d.commands);
            fingerprint.push(d.fingerprint.as_deref());
            let f = d.family.as_ref();
            family.push(f.and_then(|f| f.family.as_deref()));
            label.push(f.and_then(|f| f.sub_label.as_deref()));
            confidence.push(f.and_then(|f| f.confidence));
            family_seq.push(f.map(|f| i64_of(f.seq)));
            version.push(d.client_version.as_deref());
            hassh.push(d.hassh.as_deref());
            let g = d.source.as_ref();
            country.push(g.and_then(|g| g.0.as_deref()));
            asn.push(g.and_then(|g| g.1));
            as_org.push(g.and_then(|g| g.2.as_deref()));
        }
        let (mut src_sensor, mut src_day, mut src_ip_of_day) = (Vec::new(), Vec::new(), Vec::new());
        for (sensor, day, ip) in &rows.sources {
            src_sensor.push(sensor.as_str());
            src_day.push(day.as_str());
            src_ip_of_day.push(ip.as_str());
        }
        let (mut d_sensor, mut d_day, mut d_sessions, mut d_tried, mut d_accepted) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((sensor, day), d) in &rows.days {
            d_sensor.push(sensor.as_str());
            d_day.push(day.as_str());
            d_sessions.push(d.sessions);
            d_tried.push(d.logins_tried);
            d_accepted.push(d.logins_accepted);
        }
        let (mut sample, mut first, mut last, mut seen) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (sha, (f, l, n)) in &rows.samples {
            sample.push(sha.as_str());
            first.push(f.as_str());
            last.push(l.as_str());
            seen.push(*n);
        }
        let (mut t_sha, mut t_kind, mut t_arch, mut t_size, mut t_key, mut t_json) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for (sha, t) in &rows.triage {
            t_sha.push(sha.as_str());
            t_kind.push(t.kind.as_str());
            t_arch.push(t.arch.as_deref());
            t_size.push(t.size);
            t_key.push(t.mirai_key);
            t_json.push(t.json.as_str());
        }
        let (mut n_sensor, mut n_name, mut n_first, mut n_last, mut n_seq) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (sensor, (name, f, l, seq)) in &rows.sensors {
            n_sensor.push(sensor.as_str());
            n_name.push(name.as_str());
            n_first.push(f.as_str());
            n_last.push(l.as_str());
            n_seq.push(i64_of(*seq));
        }

        let mut statements: Vec<(&Statement, Vec<Param<'_>>)> = Vec::new();
        if !rows.sessions.is_empty() {
            statements.push((
                &self.sessions,
                vec![
                    &s_sensor,
                    &s_session,
                    &protocol,
                    &src_ip,
                    &src_port,
                    &dst_ip,
                    &dst_port,
                    &start,
                    &end,
                    &duration,
                    &reason,
                    &user,
                    &pass,
                    &failures,
                    &commands,
                    &fingerprint,
                    &family,
                    &label,
                    &confidence,
                    &family_seq,
                    &version,
                    &hassh,
                    &country,
                    &asn,
                    &as_org,
                ],
            ));
        }
        if !rows.days.is_empty() {
            statements.push((
                &self.days,
                vec![
                    &src_sensor,
                    &src_day,
                    &src_ip_of_day,
                    &d_sensor,
                    &d_day,
                    &d_sessions,
                    &d_tried,
                    &d_accepted,
                ],
            ));
        }
        let r = rows;
        if !r.logins.keys.seq.is_empty() {
            statements.push((
                &self.logins,
                with_keys(
                    &r.logins.keys,
                    &[&r.logins.username, &r.logins.password, &r.logins.success],
                ),
            ));
        }
        if !r.commands.keys.seq.is_empty() {
            statements.push((
                &self.commands,
                with_keys(&r.commands.keys, &[&r.commands.input, &r.commands.failed]),
            ));
        }
        if !r.downloads.keys.seq.is_empty() {
            statements.push((
                &self.downloads,
                with_keys(&r.downloads.keys, &[&r.downloads.tool, &r.downloads.url]),
            ));
        }
        if !r.files.keys.seq.is_empty() {
            statements.push((
                &self.files,
                with_keys(
                    &r.files.keys,
                    &[
                        &r.files.sha256,
                        &r.files.destfile,
                        &r.files.url,
                        &r.files.duplicate,
                    ],
                ),
            ));
        }
        if !r.http_requests.keys.seq.is_empty() {
            statements.push((
                &self.http_requests,
                with_keys(
                    &r.http_requests.keys,
                    &[
                        &r.http_requests.method,
                        &r.http_requests.path,
                        &r.http_requests.status,
                    ],
                ),
            ));
        }
        if !r.exploits.keys.seq.is_empty() {
            statements.push((
                &self.exploits,
                with_keys(
                    &r.exploits.keys,
                    &[&r.exploits.exploit, &r.exploits.cve, &r.exploits.input],
                ),
            ));
        }
        if !r.samples.is_empty() {
            statements.push((&self.samples, vec![&sample, &first, &last, &seen]));
        }
        if !r.triage.is_empty() {
            statements.push((
                &self.triage,
                vec![&t_sha, &t_kind, &t_arch, &t_size, &t_key, &t_json],
            ));
        }
        if !r.sensors.is_empty() {
            statements.push((
                &self.sensors,
                vec![&n_sensor, &n_name, &n_first, &n_last, &n_seq],
            ));
        }
        try_join_all(
            statements
                .iter()
                .map(|(stmt, params)| tx.execute(*stmt, params.as_slice())),
        )
        .await?;
        Ok(())
    }
}
