//! Hostile input, every limit, and crash recovery, against the real binary on
//! loopback. Each limit test checks that the limit ends exactly the offending session
//! (with a `busybait.limit` event or a counter) and that others are still served.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use util::mirai::{scanner, Outcome};
use util::{source, test_config, Client, Sensor};

const STEP: Duration = Duration::from_secs(10);

/// Writes as much of `data` as the socket takes within `limit`; returns bytes written.
fn write_some(s: &mut TcpStream, data: &[u8], limit: Duration) -> usize {
    s.set_write_timeout(Some(limit)).unwrap();
    let mut done = 0;
    while done < data.len() {
        match s.write(&data[done..]) {
            Ok(n) => done += n,
            Err(_) => break,
        }
    }
    done
}

fn limit_events(sensor: &Sensor, limit: &str, n: usize) -> Vec<serde_json::Value> {
    sensor.wait_for_events(limit, |e| {
        e.iter()
            .filter(|v| v["eventid"] == "busybait.limit" && v["limit"] == limit)
            .count()
            >= n
    })
}

/// Reads until the sensor closes the connection (that is the synchronisation).
fn expect_closed(c: &mut Client) -> Vec<u8> {
    c.read_to_close(STEP)
}

#[test]
fn hostile_inputs_end_only_their_own_sessions_and_rss_stays_small() {
    let sensor = Sensor::start_with(&test_config("xiongmai-dvr", "idle_timeout = \"3s\"", ""));
    sensor.well_behaved();

    // A 1 MiB line without a newline, after login.
    let mut c = sensor.connect_from(source(1));
    c.login();
    write_some(&mut c.stream, &vec![b'A'; 1 << 20], STEP);
    expect_closed(&mut c);
    limit_events(&sensor, "max_line_bytes", 1);
    sensor.well_behaved();

    // An unterminated subnegotiation.
    let mut c = sensor.connect_from(source(2));
    let mut sb = vec![0xff, 0xfa, 0x18];
    sb.extend(vec![b'x'; 1 << 20]);
    write_some(&mut c.stream, &sb, STEP);
    expect_closed(&mut c);
    limit_events(&sensor, "max_subneg_bytes", 1);
    sensor.well_behaved();

    // An option storm: 1 MiB of WILL/DO for every option; the session survives it.
    // (Where a read splits a command, BusyBox passes the option byte on as data, as
    // the real telnetd does; the newline below ends that garbage line.)
    let mut c = sensor.connect_from(source(3));
    c.login();
    let mut storm = Vec::new();
    while storm.len() < 1 << 20 {
        for opt in 0..=255u8 {
            storm.extend_from_slice(&[0xff, 0xfb, opt, 0xff, 0xfd, opt]);
        }
    }
    c.send(&storm);
    c.send(b"\r\n/bin/busybox STORM\r\n");
    c.read_until(b"STORM: applet not found", STEP);
    sensor.well_behaved();

    // NUL floods, before and after login.
    let mut c = sensor.connect_from(source(4));
    write_some(&mut c.stream, &vec![0u8; 1 << 20], STEP);
    expect_closed(&mut c);
    let mut c = sensor.connect_from(source(5));
    c.login();
    write_some(&mut c.stream, &vec![0u8; 1 << 20], STEP);
    expect_closed(&mut c);
    limit_events(&sensor, "max_line_bytes", 3);
    sensor.well_behaved();

    // A client with a tiny receive window that never reads while the sensor has
    // output for it: its session stalls, then ends (write_stall); others go on.
    let stalled = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.set_recv_buffer_size(1024).unwrap();
            sock.bind((source(6), 0).into()).unwrap();
            sock.connect(sensor.addr).await.unwrap().into_std().unwrap()
        })
    };
    stalled.set_nonblocking(false).unwrap();
    let mut stalled = Client {
        stream: stalled,
        received: Vec::new(),
    };
    stalled.login();
    // Far more output than the socket buffers on both sides can hold.
    let burst = b"enable\r\n".repeat(2_000_000);
    let written = write_some(&mut stalled.stream, &burst, Duration::from_secs(2));
    assert!(
        written < burst.len(),
        "the sensor stopped reading a client that does not read"
    );
    sensor.well_behaved();
    limit_events(&sensor, "write_stall", 1);

    // Slowloris: 200 connections sending one byte a second.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let loris = s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut tasks = Vec::new();
                for i in 0..200 {
                    let addr = sensor.addr;
                    tasks.push(tokio::spawn(async move {
                        let sock = tokio::net::TcpSocket::new_v4().unwrap();
                        sock.bind((source(1000 + i), 0).into()).unwrap();
                        let mut st = sock.connect(addr).await.unwrap();
                        for _ in 0..6 {
                            use tokio::io::AsyncWriteExt;
                            if st.write_all(b"r").await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
        });
        while !loris.is_finished() {
            sensor.well_behaved();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(stop.load(Ordering::Relaxed));
    let rss = sensor.rss_kib();
    println!("RSS after the hostile inputs: {rss} KiB");
    assert!(rss < 100 * 1024, "RSS {rss} KiB");
    let (_, log) = sensor.stop();
    assert!(log.contains("counter=\"session_errors\" value=0"), "{log}");
}

#[test]
fn max_sessions_refuses_extra_connections() {
    let sensor = Sensor::start_with(&test_config("oracle", "max_sessions = 3", ""));
    let mut open: Vec<Client> = (0..3).map(|i| sensor.connect_from(source(i))).collect();
    for c in &mut open {
        c.read_until(b"login: ", STEP);
    }
    let mut extra = sensor.connect_from(source(9));
    assert_eq!(expect_closed(&mut extra), b"", "refused without a byte");
    // The admitted ones are still served.
    open[0].send(b"root\r\n");
    open[0].read_until(b"Password: ", STEP);
    drop(open);
    let (_, log) = sensor.stop();
    assert!(
        log.contains("counter=\"refused_max_sessions\" value=1"),
        "{log}"
    );
}

#[test]
fn per_source_cap_refuses_only_that_source() {
    let sensor = Sensor::start_with(&test_config("oracle", "max_sessions_per_source = 2", ""));
    let src = source(1);
    let mut a = sensor.connect_from(src);
    let mut b = sensor.connect_from(src);
    a.read_until(b"login: ", STEP);
    b.read_until(b"login: ", STEP);
    let mut c = sensor.connect_from(src);
    assert_eq!(expect_closed(&mut c), b"");
    let mut other = sensor.connect_from(source(2));
    other.read_until(b"login: ", STEP);
    drop((a, b, other));
    let (_, log) = sensor.stop();
    assert!(
        log.contains("counter=\"refused_per_source\" value=1"),
        "{log}"
    );
}

#[test]
fn unauthenticated_cap_evicts_the_oldest() {
    let sensor = Sensor::start_with(&test_config("oracle", "max_unauthenticated = 2", ""));
    let mut logged_in = sensor.connect_from(source(0));
    logged_in.login();
    let mut a = sensor.connect_from(source(1));
    a.read_until(b"login: ", STEP);
    let mut b = sensor.connect_from(source(2));
    b.read_until(b"login: ", STEP);
    let mut c = sensor.connect_from(source(3));
    c.read_until(b"login: ", STEP);
    expect_closed(&mut a);
    for live in [&mut b, &mut c] {
        live.send(b"root\r\n");
        live.read_until(b"Password: ", STEP);
    }
    logged_in.send(b"/bin/busybox ALIVE\r\n");
    logged_in.read_until(b"ALIVE: applet not found", STEP);
    sensor.wait_for_events("eviction", |e| {
        e.iter()
            .any(|v| v["eventid"] == "busybait.session.end" && v["reason"] == "evicted")
    });
}

#[test]
fn login_timeout_prints_busybox_message_and_closes() {
    let sensor = Sensor::start_with(&test_config("oracle", "login_timeout = \"1s\"", ""));
    let mut c = sensor.connect();
    c.read_until(b"login: ", STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", STEP);
    let rest = expect_closed(&mut c);
    assert_eq!(rest, b"\r\nLogin timed out after 1 seconds\r\n");
    limit_events(&sensor, "login_timeout", 1);
}

#[test]
fn idle_timeout_and_session_lifetime_end_sessions() {
    let sensor = Sensor::start_with(&test_config("oracle", "idle_timeout = \"1s\"", ""));
    let mut c = sensor.connect();
    c.login();
    expect_closed(&mut c);
    limit_events(&sensor, "idle_timeout", 1);

    let sensor = Sensor::start_with(&test_config("oracle", "session_lifetime = \"2s\"", ""));
    let mut c = sensor.connect();
    c.login();
    let start = Instant::now();
    // Keep typing so that only the lifetime can end it.
    c.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        if c.stream.write_all(b"x").is_err() {
            break;
        }
        if let Ok(0) = c.stream.read(&mut buf) {
            break;
        }
        assert!(start.elapsed() < STEP, "lifetime never ended the session");
    }
    limit_events(&sensor, "session_lifetime", 1);
}

#[test]
fn line_subnegotiation_and_output_limits_are_configurable() {
    let sensor = Sensor::start_with(&test_config(
        "oracle",
        "max_line_bytes = 100\nmax_subneg_bytes = 16\nmax_output_bytes = 256",
        "",
    ));
    let mut c = sensor.connect_from(source(1));
    c.login();
    c.send(&[b'y'; 100]);
    c.send(b"\r\n");
    c.read_until(b"# ", STEP);
    c.send(&[b'y'; 101]);
    expect_closed(&mut c);
    limit_events(&sensor, "max_line_bytes", 1);

    let mut c = sensor.connect_from(source(2));
    let mut sb = vec![0xff, 0xfa, 0x18];
    sb.extend([b'x'; 16]);
    sb.extend([0xff, 0xf0]);
    c.send(&sb);
    c.read_until(b"login: ", STEP);
    c.send(&[0xff, 0xfa, 0x18]);
    c.send(&[b'x'; 17]);
    expect_closed(&mut c);
    limit_events(&sensor, "max_subneg_bytes", 1);

    // One read whose answers exceed the output cap.
    let mut c = sensor.connect_from(source(3));
    c.login();
    c.send(&b"enable\r\n".repeat(64));
    expect_closed(&mut c);
    limit_events(&sensor, "max_output_bytes", 1);
}

#[test]
fn kill_9_then_restart_keeps_sequence_numbers_gapless() {
    let config = test_config("oracle", "", "");
    let sensor = Sensor::start_with(&config);
    // A scripted load, killed in the middle.
    std::thread::scope(|s| {
        for t in 0..4 {
            let sensor = &sensor;
            s.spawn(move || {
                for i in 0..25 {
                    let Ok(stream) = util::tcp_from(sensor.addr, source(t * 100 + i)) else {
                        return;
                    };
                    let _ = scanner(stream, "root", "xc3511", Duration::from_secs(2));
                }
            });
        }
        sensor.wait_for_events("some load", |e| e.len() > 200);
    });
    let dir = sensor.kill9();
    let seqs = |dir: &std::path::Path| -> (Vec<u64>, Vec<u64>) {
        let jsonl: Vec<u64> = util::read_events(dir)
            .iter()
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        let conn = rusqlite::Connection::open(dir.join("busybait.db")).unwrap();
        let mut stmt = conn.prepare("SELECT seq FROM events ORDER BY seq").unwrap();
        let db: Vec<u64> = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as u64)
            .collect();
        (jsonl, db)
    };
    let (jsonl, db) = seqs(dir.path());
    assert!(!jsonl.is_empty() && !db.is_empty());
    assert_eq!(
        jsonl,
        (1..=jsonl.len() as u64).collect::<Vec<_>>(),
        "jsonl has no gap"
    );
    assert_eq!(
        db,
        (1..=db.len() as u64).collect::<Vec<_>>(),
        "sqlite has no gap"
    );
    // A crash in the middle of a write leaves a torn line: simulate its worst case.
    let path = dir.path().join("events.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let torn_line = b"{\"eventid\":\"cowrie.login.suc";
    f.write_all(torn_line).unwrap();
    drop(f);
    let before = jsonl.len().max(db.len()) as u64;
    let sensor = Sensor::start_in(dir, &config);
    sensor.well_behaved();
    let (dir, log) = sensor.stop();
    assert!(
        log.contains(&format!("torn_bytes={}", torn_line.len())),
        "{log}"
    );
    let torn = std::fs::read_to_string(dir.path().join("events.jsonl.torn")).unwrap();
    assert_eq!(torn, "{\"eventid\":\"cowrie.login.suc\n");
    let (jsonl2, db2) = seqs(dir.path());
    // Every line is JSON again, and numbering continues after the highest durable seq.
    assert_eq!(
        util::read_events(dir.path()).len(),
        std::fs::read_to_string(&path).unwrap().lines().count()
    );
    assert_eq!(jsonl2[jsonl.len()], before + 1);
    assert_eq!(*db2.last().unwrap(), *jsonl2.last().unwrap());
}

#[test]
fn full_event_queue_pauses_accepting_and_loses_nothing() {
    let sensor = Sensor::start_with(
        &test_config("oracle", "", "").replace("[store]\n", "[store]\nqueue_depth = 4\n"),
    );
    // Block the SQLite sink: hold the database's write lock from here.
    let lock = rusqlite::Connection::open(sensor.data_dir.path().join("busybait.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let log_path = sensor.data_dir.path().join("stderr.log");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let sensor = &sensor;
                s.spawn(move || {
                    let stream = util::tcp_from(sensor.addr, source(i)).unwrap();
                    scanner(stream, "root", "xc3511", Duration::from_secs(30)).outcome
                })
            })
            .collect();
        // The sensor says when it stops accepting; that is our signal to unblock it.
        // It only notices at its next accept, so keep knocking with idle clients.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut knockers = Vec::new();
        while !std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("not accepting for now")
        {
            assert!(Instant::now() < deadline, "the queue never filled");
            if knockers.len() < 200 {
                knockers.push(util::tcp_from(sensor.addr, source(500 + knockers.len())).unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        lock.execute_batch("COMMIT").unwrap();
        for h in handles {
            assert_eq!(h.join().unwrap(), Outcome::Success);
        }
    });
    let (dir, log) = sensor.stop();
    assert!(
        !log.contains("counter=\"accept_paused_queue\" value=0"),
        "{log}"
    );
    let events = util::read_events(dir.path());
    let count = |id: &str| events.iter().filter(|v| v["eventid"] == id).count();
    assert_eq!(count("cowrie.login.success"), 12);
    assert_eq!(
        count("cowrie.session.closed"),
        count("cowrie.session.connect"),
        "every admitted session's events are there"
    );
    let seqs: Vec<u64> = events.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let conn = rusqlite::Connection::open(dir.path().join("busybait.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, events.len());
}
