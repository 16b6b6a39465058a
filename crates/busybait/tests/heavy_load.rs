//! Load and fault tests against the real binary (issue 7): thousands of slow
//! connections, a client that stops reading, thousands of connections from one
//! address, and a disk that fills up. Each checks that the sensor keeps serving the
//! others, says what it did, and loses no event of a session it admitted.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use util::conn::{closes, raise_fd_limit, still_open};
use util::mirai::{loader, scanner, Method, Outcome};
use util::{source, synthetic_elf, test_config, Sensor};

const STEP: Duration = Duration::from_secs(10);

/// Blocks until the first bytes or the close: `true` if the sensor greeted us.
fn greeted(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(STEP)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => n > 0,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
        Err(e) => panic!("no greeting and no close: {e}"),
    }
}

fn counter(log: &str, name: &str) -> u64 {
    let key = format!("counter=\"{name}\" value=");
    let at = log
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {log}"))
        + key.len();
    log[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_loader_completes_while_5000_slowloris_connections_trickle() {
    const SLOW: usize = 5000;
    raise_fd_limit(SLOW as u64 + 500);
    // Defaults otherwise: 4096 unauthenticated connections at most, the oldest evicted.
    let sensor = Sensor::start_with("profile = \"xiongmai-dvr\"\ndownload_tools = []\n");
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|i| util::tcp_from(sensor.addr, source(1000 + i)).unwrap())
        .collect();
    println!("{SLOW} connections made in {:?}", started.elapsed());
    let binary = synthetic_elf((1, 1, 40), 1240);
    let sha = util::sha256_hex(&binary);
    let src: IpAddr = "127.0.0.3".parse().unwrap();
    let stream = util::tcp_from(sensor.addr, src).unwrap();
    let bot = std::thread::spawn(move || loader(stream, "root", "xc3511", &binary));
    // Slowloris: one byte to every connection every 100 ms (pacing, not
    // synchronisation) for as long as the loader runs.
    let mut rounds = 0;
    while !bot.is_finished() {
        for s in &mut slow {
            let _ = s.write(b"r");
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = bot
        .join()
        .unwrap()
        .unwrap_or_else(|(o, t)| panic!("{o:?}: {}", String::from_utf8_lossy(&t)));
    assert_eq!(run.methods, [Method::Echo]);
    assert!(run.listening);
    // Connections are admitted in the order they were made, so the evicted ones are
    // the oldest: 5000 - 4096 for the slow ones, one more for the loader's.
    let evicted = SLOW - 4096 + 1;
    for (i, s) in slow.iter_mut().enumerate() {
        if i < evicted {
            assert!(closes(s), "connection {i} should have been evicted");
        } else {
            assert!(still_open(s), "connection {i} should still be open");
        }
    }
    let events = sensor.wait_for_events("the loader's sample", |e| {
        e.iter()
            .any(|v| v["eventid"] == "cowrie.session.file_download" && v["shasum"] == sha.as_str())
    });
    let rss = sensor.rss_kib();
    println!(
        "{SLOW} slow connections, {rounds} rounds of trickle, RSS {rss} KiB, {} events",
        events.len()
    );
    drop(slow);
    let (_, log) = sensor.stop();
    assert_eq!(counter(&log, "evicted_unauthenticated"), evicted as u64);
    assert_eq!(counter(&log, "session_errors"), 0);
    assert!(rss < 256 * 1024, "RSS {rss} KiB with {SLOW} connections");
}

#[test]
fn a_telnet_loader_completes_while_5000_slow_http_requests_trickle() {
    const SLOW: usize = 5000;
    raise_fd_limit(SLOW as u64 + 500);
    let sensor = Sensor::start_http("profile = \"xiongmai-dvr\"\ndownload_tools = []\n");
    let http = sensor.http.unwrap();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|i| {
            let mut s = util::tcp_from(http, source(1000 + i)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    let binary = synthetic_elf((1, 1, 40), 1240);
    let sha = util::sha256_hex(&binary);
    let src: IpAddr = "127.0.0.3".parse().unwrap();
    let stream = util::tcp_from(sensor.addr, src).unwrap();
    let bot = std::thread::spawn(move || loader(stream, "root", "xc3511", &binary));
    // One byte of a header to every request every 100 ms (pacing, not
    // synchronisation) for as long as the loader runs.
    while !bot.is_finished() {
        for s in &mut slow {
            let _ = s.write(b"a");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = bot
        .join()
        .unwrap()
        .unwrap_or_else(|(o, t)| panic!("{o:?}: {}", String::from_utf8_lossy(&t)));
    assert!(run.listening);
    // The slow requests are unauthenticated connections like any other: the oldest
    // past the cap were evicted, the rest are still waiting for their answer. The
    // loader's connection, on another listener, may be accepted before the last of
    // them (then it logged in before it could count) or after (one more eviction).
    let evicted = if still_open(&mut slow[SLOW - 4096]) {
        SLOW - 4096
    } else {
        SLOW - 4096 + 1
    };
    for (i, s) in slow.iter_mut().enumerate() {
        if i < evicted {
            assert!(closes(s), "connection {i} should have been evicted");
        } else {
            assert!(still_open(s), "connection {i} should still be open");
        }
    }
    sensor.wait_for_events("the loader's sample", |e| {
        e.iter()
            .any(|v| v["eventid"] == "cowrie.session.file_download" && v["shasum"] == sha.as_str())
    });
    let rss = sensor.rss_kib();
    println!("{SLOW} slow HTTP requests, RSS {rss} KiB");
    drop(slow);
    let (_, log) = sensor.stop();
    assert_eq!(counter(&log, "evicted_unauthenticated"), evicted as u64);
    assert_eq!(counter(&log, "session_errors"), 0);
    assert!(rss < 256 * 1024, "RSS {rss} KiB with {SLOW} connections");
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_others_are_served() {
    let sensor = Sensor::start_with(&test_config("oracle", "idle_timeout = \"5s\"", ""));
    let mut c = sensor.connect_from(source(1));
    c.login();
    // 40 MB of output, far past every socket buffer, and we never read again.
    let line = format!("cat{}\r\n", " /bin/busybox".repeat(20));
    c.send(line.as_bytes());
    sensor.well_behaved();
    let events = sensor.wait_for_events("the write stall", |e| {
        e.iter()
            .any(|v| v["eventid"] == "busybait.limit" && v["limit"] == "write_stall")
    });
    let stalled = events
        .iter()
        .find(|v| v["eventid"] == "busybait.limit" && v["limit"] == "write_stall")
        .unwrap()["session"]
        .clone();
    sensor.wait_for_events("the stalled session's close", |e| {
        e.iter()
            .any(|v| v["eventid"] == "cowrie.session.closed" && v["session"] == stalled)
    });
    let rss = sensor.rss_kib();
    assert!(rss < 64 * 1024, "RSS {rss} KiB");
    let (_, log) = sensor.stop();
    assert_eq!(counter(&log, "session_errors"), 0);
}

#[test]
fn per_address_cap_holds_under_2000_connections_from_one_address() {
    const CONNECTIONS: usize = 2000;
    const CAP: usize = 32; // the default `limits.max_sessions_per_source`
    raise_fd_limit(CONNECTIONS as u64 + 500);
    let sensor = Sensor::start_with(&test_config("oracle", "", ""));
    let src = source(77);
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| util::tcp_from(sensor.addr, src).unwrap())
        .collect();
    // Another address is served in the middle of it.
    sensor.well_behaved();
    let greeted_flags: Vec<bool> = conns.iter_mut().map(greeted).collect();
    assert_eq!(greeted_flags.iter().filter(|&&g| g).count(), CAP);
    // The first ones made are the ones admitted.
    assert!(greeted_flags[..CAP].iter().all(|&g| g));
    // Once they go, the address is admitted again.
    drop(conns);
    sensor.wait_for_events("the capped sessions to close", |e| {
        e.iter()
            .filter(|v| v["eventid"] == "cowrie.session.closed")
            .count()
            == CAP + 1
    });
    let mut again = util::tcp_from(sensor.addr, src).unwrap();
    assert!(greeted(&mut again));
    drop(again);
    let (_, log) = sensor.stop();
    assert_eq!(
        counter(&log, "refused_per_source"),
        (CONNECTIONS - CAP) as u64
    );
    assert_eq!(counter(&log, "session_errors"), 0);
}

#[test]
fn a_full_disk_pauses_the_stores_and_loses_no_accepted_event() {
    const BOTS: usize = 12;
    let config = test_config("oracle", "", "").replace("[store]\n", "[store]\nqueue_depth = 32\n");
    let sensor = Sensor::start_on_tmpfs(&config, 4 << 20);
    // Baseline: a session whose events are on disk before it fills.
    sensor.well_behaved();
    let before = sensor.wait_for_events("the first session", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    // Fill the tmpfs.
    let filler_path = sensor.view.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let full = loop {
        if let Err(e) = filler.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(28), "ENOSPC: {full}");
    drop(filler);
    std::thread::scope(|s| {
        let bots: Vec<_> = (0..BOTS)
            .map(|i| {
                let sensor = &sensor;
                s.spawn(move || {
                    let stream = util::tcp_from(sensor.addr, source(i)).unwrap();
                    scanner(stream, "root", "xc3511", Duration::from_secs(40)).outcome
                })
            })
            .collect();
        // The sensor says the disk is full, then stops taking sessions on: that is
        // our signal to give the space back.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut knockers = Vec::new();
        while !(sensor.log().contains("No space left on device")
            && sensor.log().contains("not accepting for now"))
        {
            assert!(
                Instant::now() < deadline,
                "the sensor never said the disk was full: {}",
                sensor.log()
            );
            if knockers.len() < 50 {
                knockers.push(util::tcp_from(sensor.addr, source(500 + knockers.len())).unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::remove_file(&filler_path).unwrap();
        for b in bots {
            assert_eq!(b.join().unwrap(), Outcome::Success);
        }
    });
    let events = sensor.wait_for_events("every session closed", |e| {
        let count = |id: &str| e.iter().filter(|v| v["eventid"] == id).count();
        count("cowrie.session.closed") == count("cowrie.session.connect")
            && count("cowrie.login.success") == BOTS + 1
    });
    assert!(events.len() > before.len() + BOTS * 4);
    let seqs: Vec<u64> = events.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gap");
    // SQLite resolves /proc/PID/root to the host's "/": read a copy of the database.
    // The knockers' connections, let go above, are still being served and logged:
    // compare both stores once they agree on a moment (each write lands in both).
    let settle = Instant::now() + Duration::from_secs(20);
    loop {
        let copy = tempfile::tempdir().unwrap();
        let before = sensor.events().len();
        for name in ["busybait.db", "busybait.db-wal"] {
            std::fs::copy(sensor.view.join(name), copy.path().join(name)).unwrap();
        }
        let after = sensor.events().len();
        let conn = rusqlite::Connection::open(copy.path().join("busybait.db")).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        let max_seq: i64 = conn
            .query_row("SELECT ifnull(max(seq), 0) FROM events", [], |r| r.get(0))
            .unwrap();
        // No gap in SQLite either.
        assert_eq!(n, max_seq, "SQLite's seq has a gap");
        if before == after && n as usize == after {
            assert!(after >= events.len(), "SQLite has every event too");
            break;
        }
        assert!(
            Instant::now() < settle,
            "SQLite has every event too: {n} rows, {after} lines"
        );
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = sensor.log();
    assert!(log.contains("event sink recovered"), "{log}");
    // The paused listener looks for room every 20 ms: it may not have looked yet.
    sensor.wait_for_log("event queue has room again: accepting");
    let (_, log) = sensor.stop();
    assert!(counter(&log, "accept_paused_queue") >= 1);
    assert_eq!(counter(&log, "session_errors"), 0);
}
