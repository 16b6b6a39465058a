//! Recorder tests: sequence numbers, both sinks, restart and torn-line repair.

use super::*;
use busybait_events::{EventKind, Peer, SessionId};
use std::fs::OpenOptions;
use std::time::{Duration, UNIX_EPOCH};

fn sensor() -> SensorIdentity {
    SensorIdentity {
        name: "test".into(),
        uuid: "00000000-0000-4000-8000-000000000000".into(),
    }
}

fn config(dir: &Path) -> RecorderConfig {
    RecorderConfig {
        data_dir: dir.to_path_buf(),
        queue_depth: 4,
        fsync_interval: Duration::from_millis(10),
        jsonl: true,
        sqlite: true,
    }
}

fn event(session: u64, kind: EventKind) -> Event {
    Event {
        time: UNIX_EPOCH + Duration::from_secs(1_795_000_000 + session),
        session: SessionId::from_u64(session),
        peer: Peer {
            src: "127.0.0.9:4000".parse().unwrap(),
            dst: "127.0.0.1:23".parse().unwrap(),
            protocol: busybait_events::Protocol::Telnet,
        },
        kind,
    }
}

fn run(dir: &Path, events: Vec<Event>) -> OpenReport {
    let (rec, report) = Recorder::open(&config(dir), sensor()).unwrap();
    let handle = rec.handle().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for e in events {
            handle.record(e).await.unwrap();
        }
    });
    drop(handle);
    rec.shutdown().unwrap();
    report
}

fn session_events(n: u64) -> Vec<Event> {
    vec![
        event(n, EventKind::Connect),
        event(
            n,
            EventKind::LoginSuccess {
                username: "root".into(),
                password: "xc3511".into(),
            },
        ),
        event(
            n,
            EventKind::CommandInput {
                input: "enable".into(),
            },
        ),
        event(
            n,
            EventKind::CommandFailed {
                input: "enable".into(),
            },
        ),
        event(n, EventKind::Closed { duration_ms: 1234 }),
    ]
}

fn jsonl_seqs(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join(jsonl::JSONL_FILE))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn both_sinks_get_every_event_in_order_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(dir.path(), session_events(1));
    assert_eq!(report.next_seq, 1);
    let report = run(dir.path(), session_events(2));
    assert_eq!(report.next_seq, 6);
    assert_eq!(jsonl_seqs(dir.path()), (1..=10).collect::<Vec<_>>());
    let conn = sqlite::open_read_only(&dir.path().join(sqlite::DB_FILE)).unwrap();
    let rows = sqlite::recent_sessions(&conn, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].session, SessionId::from_u64(2).to_string());
    assert_eq!(rows[0].username.as_deref(), Some("root"));
    assert_eq!(rows[0].commands, 1);
    assert_eq!(rows[0].duration_ms, Some(1234));
    let events = sqlite::session_events(&conn, &rows[1].session)
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 5);
    assert!(sqlite::session_events(&conn, "000000000000")
        .unwrap()
        .is_none());
}

#[test]
fn torn_last_line_is_moved_aside_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), session_events(1));
    let path = dir.path().join(jsonl::JSONL_FILE);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    use std::io::Write;
    f.write_all(b"{\"eventid\":\"cowrie.sess").unwrap();
    drop(f);
    let report = run(dir.path(), session_events(2));
    assert_eq!(report.torn_bytes, 23);
    assert_eq!(report.next_seq, 6);
    assert_eq!(jsonl_seqs(dir.path()), (1..=10).collect::<Vec<_>>());
    let torn = std::fs::read_to_string(dir.path().join(jsonl::TORN_FILE)).unwrap();
    assert_eq!(torn, "{\"eventid\":\"cowrie.sess\n");
}

#[test]
fn sensor_state_is_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = sensor::SensorState::load_or_create(dir.path()).unwrap();
    let b = sensor::SensorState::load_or_create(dir.path()).unwrap();
    assert_eq!(a, b);
    let c = sensor::SensorState::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    assert_ne!(a.seed, c.seed);
}

#[test]
fn full_queue_blocks_instead_of_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, _) = Recorder::open(&config(dir.path()), sensor()).unwrap();
    let handle = rec.handle().unwrap();
    assert_eq!(handle.depth(), 4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..200 {
            handle.record(event(i, EventKind::Connect)).await.unwrap();
        }
    });
    drop(handle);
    rec.shutdown().unwrap();
    assert_eq!(jsonl_seqs(dir.path()), (1..=200).collect::<Vec<_>>());
}
