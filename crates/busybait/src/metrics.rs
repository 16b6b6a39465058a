//! The Prometheus endpoint (`--metrics ADDR:PORT`): `GET /metrics` answers the text
//! exposition format; anything else is a 404. Bounded like everything else: a few
//! connections at a time, a small request head, a short deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Scrapes served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 8;
/// Bytes of request head read at most.
const MAX_REQUEST: usize = 4096;
/// Longest a scrape may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Serves `render()` until `shutdown` changes.
pub async fn serve(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(DEADLINE, answer(stream, &*render)).await;
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, render: &(dyn Fn() -> String + Send + Sync)) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let response = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?") {
        let body = render();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The numbers one scrape shows, gathered by the edge.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Sessions open now.
    pub sessions_active: u64,
    /// Connections accepted as sessions.
    pub sessions_total: u64,
    /// Logins accepted.
    pub logins_success: u64,
    /// Logins refused.
    pub logins_failed: u64,
    /// Command lines entered.
    pub commands: u64,
    /// URLs sessions asked for.
    pub download_requests: u64,
    /// Samples stored for the first time.
    pub samples_new: u64,
    /// Samples already known.
    pub samples_duplicate: u64,
    /// Connections refused or ended early, by the limit's config name.
    pub refused: Vec<(&'static str, u64)>,
    /// Times the listeners paused for event queue room.
    pub accept_paused: u64,
    /// Sessions ended by an internal error.
    pub session_errors: u64,
    /// Events waiting for the writers.
    pub queue_depth: u64,
    /// Size of the event queue.
    pub queue_capacity: u64,
    /// Events written to every sink.
    pub events_written: u64,
    /// Events queued by sessions.
    pub events_queued: u64,
    /// Time sessions waited to queue events.
    pub enqueue_wait: Duration,
    /// Per event writer: its name, batches written and time spent writing them.
    pub sinks: Vec<(&'static str, u64, Duration)>,
    /// Bytes all sessions hold, as last reported.
    pub session_memory: u64,
    /// The cap on that.
    pub session_memory_cap: u64,
    /// Sessions failed to stay under the cap.
    pub failed_for_memory: u64,
    /// Bytes of files sources left behind, kept for their return.
    pub source_files: u64,
    /// Per retention class: items and bytes removed.
    pub pruned: Vec<(&'static str, u64, u64)>,
    /// Bytes the data dir holds, as last measured.
    pub data_bytes: u64,
    /// Its budget (0: none).
    pub data_budget: u64,
    /// The fleet shipper, when there is one.
    pub fleet: Option<FleetSnapshot>,
}

/// What the fleet shipper has done.
#[derive(Debug, Clone, Copy)]
pub struct FleetSnapshot {
    /// The highest `seq` the stream acknowledged.
    pub shipped_seq: u64,
    /// Events recorded but not yet acknowledged.
    pub lag: u64,
    /// Events acknowledged.
    pub published: u64,
    /// Batches that failed and were sent again.
    pub failures: u64,
}

/// One sample's value.
#[derive(Debug, Clone, Copy)]
enum Value {
    Count(u64),
    Seconds(Duration),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Seconds(d) => write!(f, "{:.6}", d.as_secs_f64()),
        }
    }
}

/// The Prometheus text exposition of a snapshot (checked with `promtool check
/// metrics` in the tests: base units, `_total` counters, help on every family).
pub fn render(s: &Snapshot) -> String {
    use Value::{Count, Seconds};
    let mut out = String::new();
    let one = |v| vec![(String::new(), v)];
    family(
        &mut out,
        "busybait_sessions_active",
        "gauge",
        "Sessions open now.",
        one(Count(s.sessions_active)),
    );
    family(
        &mut out,
        "busybait_sessions_total",
        "counter",
        "Connections accepted as sessions.",
        one(Count(s.sessions_total)),
    );
    family(
        &mut out,
        "busybait_logins_total",
        "counter",
        "Login attempts by outcome.",
        vec![
            ("outcome=\"success\"".into(), Count(s.logins_success)),
            ("outcome=\"failed\"".into(), Count(s.logins_failed)),
        ],
    );
    family(
        &mut out,
        "busybait_commands_total",
        "counter",
        "Command lines entered.",
        one(Count(s.commands)),
    );
    family(
        &mut out,
        "busybait_download_requests_total",
        "counter",
        "URLs sessions asked for.",
        one(Count(s.download_requests)),
    );
    family(
        &mut out,
        "busybait_samples_total",
        "counter",
        "Finished files stored, new or already known.",
        vec![
            ("kind=\"new\"".into(), Count(s.samples_new)),
            ("kind=\"duplicate\"".into(), Count(s.samples_duplicate)),
        ],
    );
    family(
        &mut out,
        "busybait_connections_refused_total",
        "counter",
        "Connections refused or ended early, by limit.",
        s.refused
            .iter()
            .map(|(limit, n)| (format!("limit=\"{limit}\""), Count(*n)))
            .collect(),
    );
    family(
        &mut out,
        "busybait_data_bytes",
        "gauge",
        "Bytes the data dir holds, as last measured.",
        one(Count(s.data_bytes)),
    );
    family(
        &mut out,
        "busybait_data_budget_bytes",
        "gauge",
        "The data dir's budget (max_data_bytes; 0 is none).",
        one(Count(s.data_budget)),
    );
    if let Some(f) = &s.fleet {
        family(
            &mut out,
            "busybait_fleet_shipped_seq",
            "gauge",
            "The highest event seq the fleet's stream acknowledged.",
            one(Count(f.shipped_seq)),
        );
        family(
            &mut out,
            "busybait_fleet_lag_events",
            "gauge",
            "Events recorded but not yet acknowledged by the fleet's stream.",
            one(Count(f.lag)),
        );
        family(
            &mut out,
            "busybait_fleet_published_total",
            "counter",
            "Events the fleet's stream acknowledged.",
            one(Count(f.published)),
        );
        family(
            &mut out,
            "busybait_fleet_failures_total",
            "counter",
            "Shipping batches that failed and were sent again.",
            one(Count(f.failures)),
        );
    }
    family(
        &mut out,
        "busybait_pruned_total",
        "counter",
        "Files and database rows retention removed, by class.",
        s.pruned
            .iter()
            .map(|(class, n, _)| (format!("class=\"{class}\""), Count(*n)))
            .collect(),
    );
    family(
        &mut out,
        "busybait_pruned_bytes_total",
        "counter",
        "Bytes of files retention removed, by class.",
        s.pruned
            .iter()
            .map(|(class, _, b)| (format!("class=\"{class}\""), Count(*b)))
            .collect(),
    );
    family(
        &mut out,
        "busybait_accept_paused_total",
        "counter",
        "Times the listeners paused for event queue room.",
        one(Count(s.accept_paused)),
    );
    family(
        &mut out,
        "busybait_session_errors_total",
        "counter",
        "Sessions ended by an internal error.",
        one(Count(s.session_errors)),
    );
    family(
        &mut out,
        "busybait_event_queue_depth",
        "gauge",
        "Events waiting for the writers.",
        one(Count(s.queue_depth)),
    );
    family(
        &mut out,
        "busybait_event_queue_capacity",
        "gauge",
        "Size of the event queue.",
        one(Count(s.queue_capacity)),
    );
    family(
        &mut out,
        "busybait_events_written_total",
        "counter",
        "Events written to every sink.",
        one(Count(s.events_written)),
    );
    family(
        &mut out,
        "busybait_event_enqueue_wait_seconds_total",
        "counter",
        "Time sessions waited to queue events (grows when the writers fall behind).",
        one(Seconds(s.enqueue_wait)),
    );
    family(
        &mut out,
        "busybait_sink_write_seconds_total",
        "counter",
        "Time each event writer spent writing batches (latency = this / batches).",
        s.sinks
            .iter()
            .map(|(sink, _, time)| (format!("sink=\"{sink}\""), Seconds(*time)))
            .collect(),
    );
    family(
        &mut out,
        "busybait_sink_batches_total",
        "counter",
        "Batches each event writer wrote.",
        s.sinks
            .iter()
            .map(|(sink, batches, _)| (format!("sink=\"{sink}\""), Count(*batches)))
            .collect(),
    );
    family(
        &mut out,
        "busybait_events_queued_total",
        "counter",
        "Events queued by sessions.",
        one(Count(s.events_queued)),
    );
    family(
        &mut out,
        "busybait_session_memory_bytes",
        "gauge",
        "Bytes all sessions hold, as they last reported (capped by memory_cap_bytes).",
        one(Count(s.session_memory)),
    );
    family(
        &mut out,
        "busybait_session_memory_cap_bytes",
        "gauge",
        "The cap on what all sessions hold together.",
        one(Count(s.session_memory_cap)),
    );
    family(
        &mut out,
        "busybait_sessions_failed_for_memory_total",
        "counter",
        "Sessions whose shell was failed to keep all sessions under the memory cap.",
        one(Count(s.failed_for_memory)),
    );
    family(
        &mut out,
        "busybait_source_files_bytes",
        "gauge",
        "Bytes of files sources left on the device, kept for their next visit.",
        one(Count(s.source_files)),
    );
    out
}

/// Writes one metric family.
/// The metrics page of `busybait collect`.
pub fn render_collector(s: &busybait_fleet::collect::CollectStats) -> String {
    use busybait_fleet::line::Rejection;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    let one = |v: u64| vec![(String::new(), Value::Count(v))];
    family(
        &mut out,
        "busybait_collect_events_total",
        "counter",
        "Events stored, by whether they were new or already there.",
        vec![
            ("kind=\"new\"".into(), Value::Count(s.written.load(Relaxed))),
            (
                "kind=\"duplicate\"".into(),
                Value::Count(s.duplicates.load(Relaxed)),
            ),
        ],
    );
    family(
        &mut out,
        "busybait_collect_batches_total",
        "counter",
        "Transactions committed.",
        one(s.batches.load(Relaxed)),
    );
    family(
        &mut out,
        "busybait_collect_failures_total",
        "counter",
        "Transactions that failed and were retried.",
        one(s.failures.load(Relaxed)),
    );
    family(
        &mut out,
        "busybait_collect_rejected_total",
        "counter",
        "Messages refused and terminated, by reason.",
        [
            Rejection::Subject,
            Rejection::Oversized,
            Rejection::Malformed,
            Rejection::SensorMismatch,
        ]
        .into_iter()
        .map(|r| {
            (
                format!("reason=\"{}\"", r.as_str()),
                Value::Count(s.rejected(r)),
            )
        })
        .collect(),
    );
    family(
        &mut out,
        "busybait_collect_samples_total",
        "counter",
        "New samples read back from the bucket, by what was found.",
        vec![
            (
                "result=\"good\"".into(),
                Value::Count(s.samples_good.load(Relaxed)),
            ),
            (
                "result=\"missing\"".into(),
                Value::Count(s.samples_missing.load(Relaxed)),
            ),
            (
                "result=\"false\"".into(),
                Value::Count(s.samples_false.load(Relaxed)),
            ),
        ],
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: Vec<(String, Value)>) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_seconds_and_counts_are_integers() {
        let text = render(&Snapshot {
            enqueue_wait: Duration::from_micros(1_500),
            sinks: vec![("jsonl", 3, Duration::from_millis(20))],
            refused: vec![("max_sessions", 2)],
            ..Snapshot::default()
        });
        assert!(
            text.contains("\nbusybait_event_enqueue_wait_seconds_total 0.001500\n"),
            "{text}"
        );
        assert!(text.contains("\nbusybait_sink_write_seconds_total{sink=\"jsonl\"} 0.020000\n"));
        assert!(text.contains("\nbusybait_sink_batches_total{sink=\"jsonl\"} 3\n"));
        assert!(text.contains("\nbusybait_connections_refused_total{limit=\"max_sessions\"} 2\n"));
        assert!(!text.contains("microseconds"));
    }
}
