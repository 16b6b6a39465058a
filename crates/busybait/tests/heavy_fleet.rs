//! Nothing lost, nothing twice: three sensors' 50,000 events through a 3-node
//! JetStream cluster (stream replicas 3) and collectors into PostgreSQL, while every
//! fault the fleet must survive happens with at least 1,000 messages unacknowledged
//! (read from the consumer's info): the whole cluster stopped for 30 s, a collector
//! killed with SIGKILL inside its open transaction, a NATS node killed and restarted,
//! PostgreSQL restarted. Afterwards each sensor's seq is in PostgreSQL exactly once,
//! without a gap, and each sensor's sample is in the object store, whole.
//!
//! The sensors are real `busybait serve` processes with their real shipper; their
//! spools (busybait.db) are written by the test beforehand, so that the fault
//! schedule does not depend on how fast bots can be simulated. They ship one event
//! per message (`pack_events = 1`): the faults are counted in messages, and the
//! packs a shipper makes by default are proved in `fleet.rs` and measured by
//! `bench/fleet_bench.sh`.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use util::fleet::{wait_until, wait_within, Collector, NatsCluster, Postgres};
use util::{test_config, Sensor};

const SENSORS: usize = 3;
/// Events per sensor: four per session (connect, login, command, close).
const EVENTS: u64 = 16_668;

/// A sensor's own sample: its SHA-256 and content.
fn sample_of(sensor: &str) -> (String, Vec<u8>) {
    use sha2::Digest;
    let content = format!("\x7fELF sample of {sensor}").into_bytes();
    (hex::encode(sha2::Sha256::digest(&content)), content)
}

/// A sensor's spool as its recorder would have left it: `sensor.toml` with the id,
/// `EVENTS` events in `busybait.db` (one of them dropping a sample) and the sample.
fn spool(dir: &Path, sensor: &str) {
    std::fs::write(
        dir.join("sensor.toml"),
        format!("uuid = \"{sensor}\"\nseed = 1\n"),
    )
    .unwrap();
    let (sha, content) = sample_of(sensor);
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    std::fs::write(dir.join("samples").join(sha), content).unwrap();
    let mut conn =
        busybait_store::sqlite::open(&dir.join(busybait_store::sqlite::DB_FILE)).unwrap();
    let tx = conn.transaction().unwrap();
    for seq in 1..=EVENTS {
        let session = format!("{:012x}", (seq - 1) / 4);
        let ms = seq * 7;
        let timestamp = format!(
            "2026-12-05T{:02}:{:02}:{:02}.{:03}000Z",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
        let (eventid, extra) = match seq % 4 {
            // The first session drops the sensor's sample instead of a command.
            3 if seq == 3 => (
                "cowrie.session.file_download",
                serde_json::json!({"url": "http://127.0.0.1/x", "outfile": "o", "destfile": "/tmp/x",
                    "shasum": sample_of(sensor).0, "duplicate": false}),
            ),
            1 => ("cowrie.session.connect", serde_json::json!({})),
            2 => (
                "cowrie.login.success",
                serde_json::json!({"username": "root", "password": "xc3511"}),
            ),
            3 => (
                "cowrie.command.input",
                serde_json::json!({"input": "/bin/busybox ECCHI"}),
            ),
            _ => (
                "cowrie.session.closed",
                serde_json::json!({"duration_ms": 21}),
            ),
        };
        let mut v = serde_json::json!({
            "eventid": eventid, "session": session, "protocol": "telnet",
            "src_ip": "127.3.0.1", "src_port": 40000 + seq % 20000, "dst_ip": "127.0.0.1", "dst_port": 23,
            "message": "m", "sensor": sensor, "uuid": sensor, "timestamp": timestamp, "seq": seq,
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        tx.execute(
            "INSERT INTO events (seq, session, eventid, timestamp, json) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![seq as i64, session, eventid, timestamp, v.to_string()],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// (delivered but unacknowledged, not yet delivered) of the collectors' consumer, or
/// `None` while the cluster cannot say.
fn try_unacknowledged(runtime: &tokio::runtime::Runtime, urls: &str) -> Option<(u64, u64)> {
    runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .connect(urls.split(',').collect::<Vec<_>>())
            .await
            .ok()?;
        let js = async_nats::jetstream::new(client);
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_stream("BUSYBAIT_EVENTS")
            .await
            .ok()?
            .get_consumer("collect")
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        Some((info.num_ack_pending as u64, info.num_pending))
    })
}

fn at_least_1000_unacknowledged(runtime: &tokio::runtime::Runtime, urls: &str, fault: &str) {
    // The consumer's info, once the cluster answers (a leader election after a
    // node's death takes seconds).
    let mut info = None;
    wait_until("the consumer's info", || {
        info = try_unacknowledged(runtime, urls);
        info.is_some()
    });
    let (delivered, waiting) = info.unwrap();
    assert!(
        delivered + waiting >= 1000,
        "{fault}: only {delivered} delivered and {waiting} waiting messages unacknowledged"
    );
    println!("{fault}: {delivered} delivered and {waiting} waiting unacknowledged");
}

#[test]
fn fifty_thousand_events_survive_every_fault_exactly_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pg = Postgres::start();
    let mut cluster = NatsCluster::start();
    let urls = cluster.urls();
    // The first collector makes the R3 stream and the consumer, takes its first
    // batch and stops before committing it.
    let mut doomed = Collector::start_with(
        &urls,
        &pg.url(),
        &["--replicas", "3"],
        &[("BUSYBAIT_FAILPOINT", "collect-before-commit")],
    );
    let sensors: Vec<Sensor> = (0..SENSORS)
        .map(|i| {
            let dir = tempfile::tempdir().unwrap();
            spool(dir.path(), &format!("sensor-{i}"));
            Sensor::start_in(
                dir,
                &format!(
                    "{}[fleet]\nurl = \"{urls}\"\npack_events = 1\n",
                    test_config("oracle", "", "")
                ),
            )
        })
        .collect();
    let total = EVENTS * SENSORS as u64;
    wait_until("every event in the stream", || {
        try_unacknowledged(&runtime, &urls).is_some_and(|(d, w)| d + w == total)
    });
    wait_until("the failpoint", || {
        doomed.log().contains("failpoint collect-before-commit")
    });

    // (b) The whole cluster stops for 30 s and starts again.
    at_least_1000_unacknowledged(&runtime, &urls, "cluster stop");
    for node in &mut cluster.nodes {
        node.terminate();
    }
    std::thread::sleep(Duration::from_secs(30));
    for node in &mut cluster.nodes {
        node.spawn();
    }
    cluster.wait_for_leader();
    wait_within(
        "the stream back with every event",
        Duration::from_secs(60),
        || try_unacknowledged(&runtime, &urls).is_some_and(|(d, w)| d + w == total),
    );

    // (c) The collector dies inside its open transaction.
    at_least_1000_unacknowledged(&runtime, &urls, "collector kill -9");
    doomed.kill9();
    assert_eq!(
        pg.query("SELECT count(*) FROM events"),
        ["0"],
        "the open transaction committed"
    );

    // (a) One node of three dies; two collectors start on the other two.
    at_least_1000_unacknowledged(&runtime, &urls, "NATS node kill");
    cluster.nodes[0].kill();
    let survivors = format!("{},{}", cluster.nodes[1].url(), cluster.nodes[2].url());
    let _collectors = [
        Collector::start_with(
            &survivors,
            &pg.url(),
            &["--replicas", "3", "--batch", "200"],
            &[],
        ),
        Collector::start_with(
            &survivors,
            &pg.url(),
            &["--replicas", "3", "--batch", "200"],
            &[],
        ),
    ];

    // (d) PostgreSQL restarts under them.
    at_least_1000_unacknowledged(&runtime, &survivors, "PostgreSQL restart");
    pg.restart();
    cluster.nodes[0].spawn();

    // The killed collector's batch comes back after the consumer's 30 s ack wait.
    wait_within(
        "every event in PostgreSQL",
        Duration::from_secs(180),
        || pg.query("SELECT count(*) FROM events") == [total.to_string()],
    );
    for i in 0..SENSORS {
        assert_eq!(
            pg.query(&format!(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events WHERE sensor = 'sensor-{i}'"
            )),
            [format!("{EVENTS}|{EVENTS}|1|{EVENTS}")],
            "sensor-{i}"
        );
        assert_eq!(
            pg.query(&format!(
                "SELECT count(*), sum(commands), count(end_time) FROM sessions WHERE sensor = 'sensor-{i}'"
            )),
            [format!("{0}|{1}|{0}", EVENTS / 4, EVENTS / 4 - 1)],
            "sensor-{i}'s sessions"
        );
        // Its sample, in the bucket with the right content.
        let (sha, content) = sample_of(&format!("sensor-{i}"));
        let stored = runtime.block_on(async {
            use tokio::io::AsyncReadExt;
            let client = async_nats::connect(urls.split(',').collect::<Vec<_>>())
                .await
                .unwrap();
            let store = async_nats::jetstream::new(client)
                .get_object_store("BUSYBAIT_SAMPLES")
                .await
                .unwrap();
            // A replica the cluster just restarted may answer a read before it has
            // caught up (the bucket's reads go to any replica): ask again, a while.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut object = loop {
                match store.get(&sha).await {
                    Ok(object) => break object,
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("sensor-{i}'s sample not read yet: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("sensor-{i}'s sample: {e}"),
                }
            };
            let mut bytes = Vec::new();
            object.read_to_end(&mut bytes).await.unwrap();
            bytes
        });
        assert_eq!(stored, content, "sensor-{i}'s sample");
    }
    drop(sensors);
}
