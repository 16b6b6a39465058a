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
        rotation: crate::rotate::Rotation::default(),
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
    run_with(dir, crate::rotate::Rotation::default(), events)
}

fn session_events(n: u64) -> Vec<Event> {
    vec![
        event(n, EventKind::connect()),
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
    let rows = crate::queries::recent_sessions(&conn, None, None, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].session, SessionId::from_u64(2).to_string());
    assert_eq!(rows[0].username.as_deref(), Some("root"));
    assert_eq!(rows[0].commands, 1);
    assert_eq!(rows[0].duration_ms, Some(1234));
    let events = crate::queries::session_events(&conn, &rows[1].session)
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 5);
    assert!(crate::queries::session_events(&conn, "000000000000")
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
            handle.record(event(i, EventKind::connect())).await.unwrap();
        }
    });
    drop(handle);
    rec.shutdown().unwrap();
    assert_eq!(jsonl_seqs(dir.path()), (1..=200).collect::<Vec<_>>());
}

/// 2026-11-18 23:59:58 UTC, two seconds before midnight.
const BEFORE_MIDNIGHT: u64 = 1_795_046_398;

fn at(secs: u64, session: u64, kind: EventKind) -> Event {
    Event {
        time: UNIX_EPOCH + Duration::from_secs(secs),
        ..event(session, kind)
    }
}

fn run_with(dir: &Path, rotation: crate::rotate::Rotation, events: Vec<Event>) -> OpenReport {
    let config = RecorderConfig {
        rotation,
        ..config(dir)
    };
    let (rec, report) = Recorder::open(&config, sensor()).unwrap();
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

/// Every `seq` of every file, rotated (gzipped or not) first, then the live one.
fn all_seqs(dir: &Path) -> Vec<u64> {
    let all = crate::rotate::read_all(dir, jsonl::JSONL_FILE).unwrap();
    String::from_utf8(all)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("events.jsonl"))
        .collect();
    names.sort();
    names
}

#[test]
fn events_jsonl_rotates_at_the_first_event_of_a_new_utc_day() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = |secs: u64, n: u64| -> Vec<Event> {
        (0..n).map(|i| at(secs, i, EventKind::connect())).collect()
    };
    // Before midnight, a restart, then across it in one batch.
    run_with(d, Default::default(), day(BEFORE_MIDNIGHT, 3));
    let mut crossing = day(BEFORE_MIDNIGHT + 1, 2);
    crossing.extend(day(BEFORE_MIDNIGHT + 3, 4));
    let report = run_with(d, Default::default(), crossing);
    assert_eq!(report.next_seq, 4);
    assert_eq!(
        names(d),
        ["events.jsonl", "events.jsonl.2026-11-18.gz"],
        "closed, compressed, the live file holds the new day"
    );
    assert_eq!(jsonl_seqs(d), (6..=9).collect::<Vec<_>>());
    assert_eq!(all_seqs(d), (1..=9).collect::<Vec<_>>());
    // A start on a later day rotates at its first event, as the day's file's day.
    run_with(d, Default::default(), day(BEFORE_MIDNIGHT + 86_400 + 10, 1));
    assert_eq!(
        names(d),
        [
            "events.jsonl",
            "events.jsonl.2026-11-18.gz",
            "events.jsonl.2026-11-19.gz"
        ]
    );
    assert_eq!(all_seqs(d), (1..=10).collect::<Vec<_>>());
}

#[test]
fn size_rotation_numbers_a_days_files_and_numbering_survives_an_empty_live_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rotation = crate::rotate::Rotation {
        daily: true,
        max_bytes: 1000,
        compress: false,
    };
    let events: Vec<Event> = (0..12)
        .map(|i| at(BEFORE_MIDNIGHT - 100, i, EventKind::connect()))
        .collect();
    run_with(d, rotation, events);
    let files = names(d);
    assert!(files.len() >= 4, "{files:?}");
    assert_eq!(files[1], "events.jsonl.2026-11-18");
    assert_eq!(files[2], "events.jsonl.2026-11-18.1");
    for f in &files {
        let len = std::fs::metadata(d.join(f)).unwrap().len();
        assert!(len <= 1000, "{f}: {len}");
        assert!(std::fs::read(d.join(f)).unwrap().ends_with(b"\n"), "{f}");
    }
    assert_eq!(all_seqs(d), (1..=12).collect::<Vec<_>>());
    // Killed after the rename, before a line reached the new file: the numbering
    // goes on from the newest rotated file.
    let closed = crate::rotate::next_path(d, jsonl::JSONL_FILE, "2026-11-18");
    std::fs::rename(d.join("events.jsonl"), closed).unwrap();
    let report = run_with(
        d,
        rotation,
        vec![at(BEFORE_MIDNIGHT, 99, EventKind::connect())],
    );
    assert_eq!(report.next_seq, 13);
    assert_eq!(all_seqs(d), (1..=13).collect::<Vec<_>>());
}

#[test]
fn retention_prunes_each_class_by_its_age_and_a_dry_run_only_counts() {
    use crate::retention::{prune, Pruned, Retention};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = 86_400;
    let now = UNIX_EPOCH + Duration::from_secs(BEFORE_MIDNIGHT + 2 + 40 * day);
    // Sessions 40 days old (with a download) and one from the last hour.
    let mut events = Vec::new();
    for (n, secs) in [
        (1, BEFORE_MIDNIGHT - 100),
        (2, BEFORE_MIDNIGHT + 40 * day - 3600),
    ] {
        for e in session_events(n) {
            events.push(Event {
                time: UNIX_EPOCH + Duration::from_secs(secs),
                ..e
            });
        }
    }
    events.insert(
        3,
        at(
            BEFORE_MIDNIGHT - 100,
            1,
            EventKind::FileDownload {
                url: None,
                outfile: format!("samples/{}", "a".repeat(64)),
                shasum: "a".repeat(64),
                destfile: "/tmp/x".into(),
                duplicate: false,
            },
        ),
    );
    run(d, events);
    assert_eq!(names(d), ["events.jsonl", "events.jsonl.2026-11-18.gz"]);
    // A recording and a blob from then, and from today.
    let sessions = d.join("sessions");
    std::fs::create_dir_all(sessions.join("blobs")).unwrap();
    let old = UNIX_EPOCH + Duration::from_secs(BEFORE_MIDNIGHT);
    for (name, time) in [
        ("sessions/000000000001.cast", old),
        ("sessions/000000000001.raw", old),
        ("sessions/000000000002.cast", now),
        (&*format!("sessions/blobs/{}", "b".repeat(64)), old),
        (&*format!("sessions/blobs/{}", "c".repeat(64)), now),
        (&*format!("samples/{}", "a".repeat(64)), old),
    ] {
        let path = d.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"12345").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    let keep = Retention::default();
    let expected = [
        (
            "recordings",
            Pruned {
                items: 2,
                bytes: 10,
            },
        ),
        ("recording-blobs", Pruned { items: 1, bytes: 5 }),
        (
            "event-files",
            Pruned {
                items: 1,
                bytes: std::fs::metadata(d.join("events.jsonl.2026-11-18.gz"))
                    .unwrap()
                    .len(),
            },
        ),
        // The old session's six events (the newest row is another session's).
        ("event-rows", Pruned { items: 6, bytes: 0 }),
        ("samples", Pruned { items: 0, bytes: 0 }),
    ];
    let counted = prune(d, &keep, now, true, &mut || {}).unwrap();
    let find = |got: &[(&'static str, Pruned)], class: &str| {
        got.iter().find(|(c, _)| *c == class).unwrap().1
    };
    for (class, want) in expected {
        assert_eq!(find(&counted, class), want, "dry run: {class}");
    }
    assert_eq!(find(&counted, "session-rows").items, 0, "kept half a year");
    // With fleet shipping on, what the fleet has not acknowledged stays, however old.
    for (shipped, rows) in [(0, 0), (3, 3), (100, 6)] {
        let fleet = Retention {
            shipped_through: Some(shipped),
            ..keep
        };
        let counted = prune(d, &fleet, now, true, &mut || {}).unwrap();
        assert_eq!(
            find(&counted, "event-rows").items,
            rows,
            "shipped through {shipped}"
        );
    }
    // With fleet shipping on, a recording the fleet does not have yet stays: the old
    // session closed at seq 6, after a recordings cursor of 5.
    for (through, items) in [(Some(5), 0), (Some(6), 2), (None, 2)] {
        let fleet = Retention {
            recordings_shipped_through: through,
            ..keep
        };
        let counted = prune(d, &fleet, now, true, &mut || {}).unwrap();
        assert_eq!(
            find(&counted, "recordings").items,
            items,
            "recordings shipped through {through:?}"
        );
    }
    assert_eq!(
        names(d),
        ["events.jsonl", "events.jsonl.2026-11-18.gz"],
        "a dry run removes nothing"
    );
    let pruned = prune(d, &keep, now, false, &mut || {}).unwrap();
    assert_eq!(pruned, counted);
    assert_eq!(names(d), ["events.jsonl"]);
    assert!(!sessions.join("000000000001.cast").exists());
    assert!(sessions.join("000000000002.cast").exists());
    assert!(sessions.join("blobs").join("c".repeat(64)).exists());
    let conn = sqlite::open_read_only(&d.join(sqlite::DB_FILE)).unwrap();
    let left: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 5);
    // Session rows too, when they are kept a shorter time; numbering goes on.
    let short = Retention {
        session_rows: Some(Duration::from_secs(30 * day)),
        samples: Some(Duration::from_secs(30 * day)),
        ..keep
    };
    // With fleet shipping on, a sample stays until the fleet has its event (seq 4),
    // whether retention or a disk budget would take it.
    for (shipped, items) in [(3, 0), (4, 1)] {
        let fleet = Retention {
            shipped_through: Some(shipped),
            ..short
        };
        let counted = prune(d, &fleet, now, true, &mut || {}).unwrap();
        assert_eq!(
            find(&counted, "samples").items,
            items,
            "shipped through {shipped}"
        );
    }
    let (room, _) = crate::budget::make_room(d, u64::MAX, Some(3), None, &mut || {}).unwrap();
    assert_eq!(find(&room, "samples").items, 0);
    assert!(d.join("samples").join("a".repeat(64)).exists());
    let pruned = prune(d, &short, now, false, &mut || {}).unwrap();
    // The session, its login, its command (typed, then failed), its file, its day's
    // source (the day's counts stay) and its hour's tallies of source, credential
    // and command (the all-time ones stay: the newer session has the same).
    assert_eq!(find(&pruned, "session-rows").items, 1 + 1 + 2 + 1 + 1 + 3);
    assert_eq!(find(&pruned, "samples"), Pruned { items: 1, bytes: 5 });
    let report = run(d, session_events(3));
    assert_eq!(report.next_seq, 12);
}

#[test]
fn a_budget_takes_the_oldest_event_rows_and_the_database_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = "x".repeat(8000);
    let events: Vec<Event> = (0..500)
        .map(|i| {
            event(
                i,
                EventKind::CommandInput {
                    input: long.clone(),
                },
            )
        })
        .collect();
    run(d, events);
    let db = d.join(sqlite::DB_FILE);
    let before = std::fs::metadata(&db).unwrap().len();
    assert!(before > 8_000_000, "{before}");
    // With fleet shipping on, only what the fleet has goes (through seq 50 here),
    // a pause between steps.
    let mut pauses = 0;
    let (pruned, _) =
        crate::budget::make_room(d, 1_000_000, Some(50), None, &mut || pauses += 1).unwrap();
    let rows = pruned.iter().find(|(c, _)| *c == "event-rows").unwrap().1;
    assert_eq!((rows.items, pauses), (50, 1));
    let (pruned, freed) = crate::budget::make_room(d, 1_000_000, None, None, &mut || {}).unwrap();
    let rows = pruned.iter().find(|(c, _)| *c == "event-rows").unwrap().1;
    assert!(rows.items >= 100 && rows.items < 500, "{rows:?}");
    assert!(freed >= 1_000_000, "{freed}");
    // Given back: after the writer's next checkpoint the file is smaller.
    let conn = sqlite::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(after + 1_000_000 <= before, "{before} -> {after}");
    // The oldest went, the newest stayed.
    let (lo, hi): (i64, i64) = conn
        .query_row("SELECT min(seq), max(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(hi, 500);
    assert_eq!(lo, 50 + i64::try_from(rows.items).unwrap() + 1);
}

#[test]
fn a_report_counts_the_days_whose_rows_retention_pruned() {
    use crate::retention::{prune, Retention};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = 86_400;
    let now = UNIX_EPOCH + Duration::from_secs(BEFORE_MIDNIGHT + 2 + 40 * day);
    // Day one (2026-11-18): three sessions from two sources, one login failed.
    // Forty days later: one session.
    let mut events = Vec::new();
    for (n, secs, src) in [
        (1, BEFORE_MIDNIGHT - 300, "127.0.0.9:4000"),
        (2, BEFORE_MIDNIGHT - 200, "127.0.0.9:4001"),
        (3, BEFORE_MIDNIGHT - 100, "127.0.0.10:4000"),
        (4, BEFORE_MIDNIGHT + 40 * day - 3600, "127.0.0.9:4002"),
    ] {
        for e in session_events(n) {
            let mut e = Event {
                time: UNIX_EPOCH + Duration::from_secs(secs),
                ..e
            };
            e.peer.src = src.parse().unwrap();
            events.push(e);
        }
    }
    events.push(at(
        BEFORE_MIDNIGHT - 50,
        3,
        EventKind::LoginFailed {
            username: "admin".into(),
            password: "admin".into(),
        },
    ));
    run(d, events);
    let conn = sqlite::open_read_only(&d.join(sqlite::DB_FILE)).unwrap();
    let before = crate::report::report(&conn, None, None).unwrap();
    assert_eq!(before.sessions, 4);
    drop(conn);
    let short = Retention {
        session_rows: Some(Duration::from_secs(30 * day)),
        ..Retention::default()
    };
    prune(d, &short, now, false, &mut || {}).unwrap();
    let conn = sqlite::open_read_only(&d.join(sqlite::DB_FILE)).unwrap();
    let left: i64 = conn
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1, "day one's session rows are gone");
    let after = crate::report::report(&conn, None, None).unwrap();
    let days: Vec<(String, u64, u64)> = after
        .by_day
        .iter()
        .map(|d| (d.day.clone(), d.sessions, d.sources))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-18".to_string(), 3, 2),
            ("2026-12-28".to_string(), 1, 1)
        ]
    );
    assert_eq!(after.sessions, 4);
    assert_eq!((after.logins_tried, after.logins_accepted), (5, 4));
    assert_eq!(after.by_day, before.by_day);
    // A window cutting day one in half counts only the rows it still has.
    let half = crate::report::report(&conn, Some("2026-11-18T12:00:00.000000Z"), None).unwrap();
    assert_eq!(half.sessions, 1);
}

#[test]
fn the_per_day_counts_are_filled_from_the_rows_of_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(sqlite::DB_FILE);
    {
        // A database as version 7 left it: rows, no per-day counts (and nothing of
        // version 9: no country columns, none of its indexes).
        let conn = sqlite::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE daily; DROP TABLE daily_sources; DROP TABLE tallies;
             DROP INDEX sessions_country; DROP INDEX sessions_asn; DROP INDEX sessions_login;
             DROP INDEX sessions_dst; DROP INDEX logins_time; DROP INDEX commands_time;
             DROP INDEX download_requests_time; DROP INDEX files_time;
             DROP INDEX http_requests_time; DROP INDEX exploits_time; DROP INDEX exploits_name;
             ALTER TABLE sessions DROP COLUMN country; ALTER TABLE sessions DROP COLUMN asn;
             ALTER TABLE sessions DROP COLUMN as_org;
             INSERT INTO sessions (session, protocol, src_ip, src_port, dst_ip, dst_port, start_time)
                 VALUES ('a', 'telnet', '127.0.0.9', 1, '127.0.0.1', 23, '2026-11-18T10:00:00.000000Z'),
                        ('b', 'telnet', '127.0.0.9', 2, '127.0.0.1', 23, '2026-11-18T11:00:00.000000Z'),
                        ('c', 'telnet', '127.0.0.8', 3, '127.0.0.1', 23, '2026-11-19T11:00:00.000000Z');
             INSERT INTO logins (seq, session, timestamp, username, password, success)
                 VALUES (1, 'a', '2026-11-18T10:00:01.000000Z', 'root', 'xc3511', 1),
                        (2, 'b', '2026-11-18T11:00:01.000000Z', 'root', 'x', 0);
             PRAGMA user_version = 7;",
        )
        .unwrap();
    }
    let conn = sqlite::open(&path).unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = conn
        .prepare(
            "SELECT day, sessions, sources, logins_tried, logins_accepted FROM daily ORDER BY day",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("2026-11-18".to_string(), 2, 1, 2, 1),
            ("2026-11-19".to_string(), 1, 1, 0, 0)
        ]
    );
    // And the tallies (schema 10) from the same rows: the report is the rows' own.
    for (since, until) in [
        (None, None),
        (Some("2026-11-18T10:30:00.000000Z"), None),
        (None, Some("2026-11-19T00:00:00.000000Z")),
    ] {
        let tallied = crate::report::report(&conn, since, until).unwrap();
        assert_eq!(
            tallied,
            crate::report::report_from_rows(&conn, since, until).unwrap(),
            "{since:?}..{until:?}"
        );
        assert!(tallied.sessions > 0);
    }
}

#[test]
fn reading_an_older_schema_names_it_instead_of_a_missing_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(sqlite::DB_FILE);
    sqlite::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 9)
        .unwrap();
    let err = sqlite::open_read_only(&path).unwrap_err().to_string();
    assert!(
        err.contains("schema version 9 is older than this busybait reads (10)"),
        "{err}"
    );
}

#[test]
fn a_pruning_batch_walks_only_the_old_rows() {
    use crate::retention::{old_rows_end_sql, prune_batch_sql};
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), session_events(1));
    let conn = sqlite::open(&dir.path().join(sqlite::DB_FILE)).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        stmt.query_map(rusqlite::params_from_iter(unbound), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>()
        .join("; ")
    };
    for (table, column) in [
        ("events", "timestamp"),
        ("sessions", "start_time"),
        ("logins", "timestamp"),
    ] {
        // Where the old rows end: a walk in table order that stops at the first new
        // row (no index over the new ones, no sort).
        let end = plan(&old_rows_end_sql(table, column));
        assert!(end.contains(&format!("SCAN {table}")), "{table}: {end}");
        assert!(
            !end.contains("INDEX") && !end.contains("TEMP B-TREE"),
            "{table}: {end}"
        );
        // Each batch: a range of rowids before that end.
        let batch = plan(&prune_batch_sql(table, column, ""));
        assert!(
            batch.contains(&format!(
                "SEARCH {table} USING INTEGER PRIMARY KEY (rowid<?)"
            )),
            "{table}: {batch}"
        );
    }
}

fn alert(src: &str, last: &str) -> crate::alerts::StoredAlert {
    crate::alerts::StoredAlert {
        alert: "mirai-syn-scan".into(),
        signature_id: 1,
        severity: "medium".into(),
        title: "t".into(),
        src_ip: src.into(),
        src_port: None,
        dst_ip: None,
        dst_port: None,
        protocol: "tcp".into(),
        count: 3,
        targets: 3,
        first: last.into(),
        last: last.into(),
        rate: None,
        evidence: serde_json::json!([]),
        capture: "c.pcap".into(),
    }
}

#[test]
fn the_alert_log_rotates_daily_and_retention_removes_old_days() {
    use crate::alerts::{store_alerts, ALERTS_FILE};
    use crate::retention::{prune, Retention};
    use std::time::SystemTime;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sensor = SensorIdentity {
        name: "t".into(),
        uuid: "00000000-0000-4000-8000-000000000000".into(),
    };
    let now = SystemTime::now();
    let then = now - Duration::from_secs(3 * 86_400);
    let stamp = |t| busybait_events::format_timestamp(t);
    assert_eq!(
        store_alerts(d, &sensor, &[alert("127.0.0.5", &stamp(then))]).unwrap(),
        1
    );
    let live = d.join(ALERTS_FILE);
    std::fs::File::options()
        .write(true)
        .open(&live)
        .unwrap()
        .set_modified(then)
        .unwrap();
    // The next day's first alert moves the old day aside whole.
    assert_eq!(
        store_alerts(d, &sensor, &[alert("127.0.0.6", &stamp(now))]).unwrap(),
        1
    );
    let day = stamp(then).get(..10).unwrap().to_string();
    let aside = d.join(format!("{ALERTS_FILE}.{day}"));
    let old = std::fs::read_to_string(&aside).unwrap();
    let new = std::fs::read_to_string(&live).unwrap();
    assert!(
        old.contains("127.0.0.5") && !old.contains("127.0.0.6"),
        "{old}"
    );
    assert!(
        new.contains("127.0.0.6") && !new.contains("127.0.0.5"),
        "{new}"
    );
    // Kept two days: the old day's file and its row go, today's stay.
    let keep = Retention {
        alerts: Some(Duration::from_secs(2 * 86_400)),
        ..Retention::default()
    };
    let pruned = prune(d, &keep, now, false, &mut || {}).unwrap();
    let alerts = pruned.iter().find(|(c, _)| *c == "alerts").unwrap().1;
    assert_eq!(alerts.items, 2, "one row and one file");
    assert!(!aside.exists());
    assert!(live.exists());
}
