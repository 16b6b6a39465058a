//! The sensor over TCP: opening bytes, the Mirai scanner on every profile with every
//! credential, the credential policy, Cowrie event fields, limits, and crash recovery.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use util::mirai::{scanner, Outcome};
use util::{promtool_check, scrape, source, test_config, Sensor};

const PROFILES: [&str; 6] = [
    "xiongmai-dvr",
    "ipcam-mipsel",
    "router-mips",
    "gateway-hg532",
    "ont-gpon",
    "oracle",
];
const STEP: Duration = Duration::from_secs(10);

#[test]
fn opening_is_busybox_telnetd_byte_for_byte() {
    let sensor = Sensor::start("oracle");
    let mut c = sensor.connect();
    let got = c.read_until(b"login: ", STEP);
    assert_eq!(
        got,
        b"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03\r\r\nDebian GNU/Linux 12\r\n\rvm login: "
    );
}

#[test]
fn mirai_scanner_succeeds_with_every_credential_on_every_profile() {
    let creds = util::mirai_credentials();
    assert_eq!(creds.len(), 62);
    for profile in PROFILES {
        let sensor = Sensor::start(profile);
        std::thread::scope(|s| {
            let handles: Vec<_> = creds
                .chunks(16)
                .enumerate()
                .map(|(chunk_no, chunk)| {
                    let sensor = &sensor;
                    s.spawn(move || {
                        for (i, (user, pass)) in chunk.iter().enumerate() {
                            let src = source(chunk_no * 16 + i);
                            let stream = util::tcp_from(sensor.addr, src).unwrap();
                            let a = scanner(stream, user, pass, STEP);
                            assert_eq!(
                                a.outcome,
                                Outcome::Success,
                                "{profile} {user}:{pass} from {src}: {:?}",
                                String::from_utf8_lossy(&a.transcript)
                            );
                            assert!(util::find(&a.transcript, b"ncorrect").is_none());
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        let events = sensor.wait_for_events("62 logins", |e| {
            e.iter()
                .filter(|v| v["eventid"] == "cowrie.login.success")
                .count()
                == 62
        });
        let labels: BTreeSet<(String, String)> = sensor
            .wait_for_events("62 labels", |e| {
                e.iter()
                    .filter(|v| v["eventid"] == "busybait.session.family")
                    .count()
                    == 62
            })
            .iter()
            .filter(|v| v["eventid"] == "busybait.session.family")
            .map(|v| {
                (
                    v["family"].as_str().unwrap().into(),
                    v["sub_label"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            labels,
            BTreeSet::from([("mirai-scanner".to_string(), "MIRAI".to_string())])
        );
        let logins: BTreeSet<(String, String)> = events
            .iter()
            .filter(|v| v["eventid"] == "cowrie.login.success")
            .map(|v| {
                (
                    v["username"].as_str().unwrap().into(),
                    v["password"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            logins,
            creds.iter().cloned().collect::<BTreeSet<_>>(),
            "{profile}"
        );
    }
}

#[test]
fn wrong_password_gets_login_incorrect_and_never_the_token() {
    let sensor = Sensor::start("xiongmai-dvr");
    let stream = util::tcp_from(sensor.addr, source(1)).unwrap();
    let a = scanner(stream, "root", "definitely-wrong", STEP);
    assert!(
        util::find(&a.transcript, b"Login incorrect").is_some(),
        "{:?}",
        String::from_utf8_lossy(&a.transcript)
    );
    assert!(util::find(&a.transcript, b"MIRAI: applet not found").is_none());
    assert_ne!(a.outcome, Outcome::Success);
}

#[test]
fn sticky_policy_refuses_a_second_credential_from_the_same_source() {
    let sensor = Sensor::start("ipcam-mipsel");
    let src = source(7);
    let first = scanner(
        util::tcp_from(sensor.addr, src).unwrap(),
        "root",
        "vizxv",
        STEP,
    );
    assert_eq!(first.outcome, Outcome::Success);
    let second = scanner(
        util::tcp_from(sensor.addr, src).unwrap(),
        "root",
        "xc3511",
        STEP,
    );
    assert_ne!(second.outcome, Outcome::Success);
    assert!(util::find(&second.transcript, b"Login incorrect").is_some());
    let again = scanner(
        util::tcp_from(sensor.addr, src).unwrap(),
        "root",
        "vizxv",
        STEP,
    );
    assert_eq!(again.outcome, Outcome::Success);
    // Another source is a different attacker and gets its own first credential.
    let other = scanner(
        util::tcp_from(sensor.addr, source(8)).unwrap(),
        "root",
        "xc3511",
        STEP,
    );
    assert_eq!(other.outcome, Outcome::Success);
}

/// Field names and JSON types of Cowrie 3.1.4's lines (reference/cowrie-events.md).
fn cowrie_shape(eventid: &str) -> BTreeMap<&'static str, &'static str> {
    let mut m: BTreeMap<&str, &str> = [
        ("eventid", "string"),
        ("message", "string"),
        ("sensor", "string"),
        ("uuid", "string"),
        ("timestamp", "string"),
        ("session", "string"),
        ("src_ip", "string"),
        ("src_port", "number"),
        ("dst_ip", "string"),
        ("dst_port", "number"),
        ("protocol", "string"),
        ("seq", "number"),
    ]
    .into_iter()
    .collect();
    let extra: &[(&str, &str)] = match eventid {
        "cowrie.session.connect" => &[],
        "cowrie.login.success" | "cowrie.login.failed" => {
            &[("username", "string"), ("password", "string")]
        }
        "cowrie.command.input" | "cowrie.command.failed" => &[("input", "string")],
        "cowrie.session.closed" => &[("duration_ms", "number")],
        other => panic!("no shape for {other}"),
    };
    m.extend(extra.iter().copied());
    m
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        _ => "other",
    }
}

#[test]
fn events_have_cowries_field_names_and_types() {
    let sensor = Sensor::start("oracle");
    let mut c = sensor.connect_from(source(3));
    c.read_until(b"login: ", STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", STEP);
    c.send(b"nope\r\n");
    c.read_until(b"login: ", STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", STEP);
    c.send(b"xc3511\r\n");
    c.read_until(b"# \x1b[6n", STEP);
    c.send(b"enable\r\n");
    c.read_until(b"# \x1b[6n", STEP);
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
    let events = sensor.wait_for_events("session.closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let mut seen = BTreeSet::new();
    for v in &events {
        let id = v["eventid"].as_str().unwrap();
        if !id.starts_with("cowrie.") || id == "cowrie.telnet.option" || id == "cowrie.client.size"
        {
            continue;
        }
        seen.insert(id.to_string());
        let shape: BTreeMap<&str, &str> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), json_type(v)))
            .collect();
        assert_eq!(shape, cowrie_shape(id), "{v}");
        assert_eq!(v["session"].as_str().unwrap().len(), 12);
        assert_eq!(v["protocol"], "telnet");
        let ts = v["timestamp"].as_str().unwrap();
        assert!(ts.len() == 27 && ts.ends_with('Z'), "{ts}");
    }
    let expected: BTreeSet<String> = [
        "cowrie.session.connect",
        "cowrie.login.failed",
        "cowrie.login.success",
        "cowrie.command.input",
        "cowrie.command.failed",
        "cowrie.session.closed",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(seen, expected);
    let input: Vec<&str> = events
        .iter()
        .filter(|v| v["eventid"] == "cowrie.command.failed")
        .map(|v| v["input"].as_str().unwrap())
        .collect();
    assert_eq!(input, ["enable"], "no Cowrie-style trailing space");
    let seqs: Vec<u64> = events.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn sigterm_closes_open_sessions_and_flushes() {
    let sensor = Sensor::start("oracle");
    let mut c = sensor.connect_from(source(4));
    c.login();
    let (dir, _log) = sensor.stop();
    let events = util::read_events(dir.path());
    let ids: Vec<&str> = events
        .iter()
        .map(|v| v["eventid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids[ids.len() - 2..],
        ["busybait.session.end", "cowrie.session.closed"]
    );
    assert_eq!(events[events.len() - 2]["reason"], "shutdown");
    let conn = rusqlite::Connection::open(dir.path().join("busybait.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, events.len());
}

#[test]
fn events_jsonl_rotation_and_compression_survive_kill_9_at_any_moment() {
    // A rotation every few logins, gzip behind it, and the sensor killed while both
    // run: every start cleans up, nothing half-written is ever under a name a
    // reader takes, and the sequence numbers only go up.
    let config = format!(
        "{}jsonl_rotate_bytes = 2048\n",
        test_config("oracle", "", "")
    );
    let mut dir = tempfile::tempdir().unwrap();
    let mut source_n = 0;
    for round in 0..6 {
        let sensor = Sensor::start_in(dir, &config);
        for _ in 0..=round {
            let mut c = sensor.connect_from(source(source_n));
            source_n += 1;
            c.login();
        }
        dir = sensor.kill9();
    }
    let sensor = Sensor::start_in(dir, &config);
    let mut c = sensor.connect_from(source(source_n));
    c.login();
    drop(c);
    let (dir, _) = sensor.stop();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("events.jsonl"))
        .collect();
    names.sort();
    assert!(names.len() > 3, "it rotated: {names:?}");
    for n in &names {
        assert!(
            n == "events.jsonl" || n.ends_with(".gz"),
            "after a clean stop every rotated file is whole and compressed: {names:?}"
        );
    }
    let events = util::read_events(dir.path());
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "no event twice, none out of order: {seqs:?}"
    );
    let logins = events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.login.success")
        .count();
    // Killed sessions may lose what was still queued, never what was written.
    assert!(logins >= 7, "{logins} logins kept of {}", source_n + 1);
}

#[test]
fn prune_removes_what_retention_no_longer_keeps_and_a_dry_run_only_counts() {
    let sensor = Sensor::start("oracle");
    let mut c = sensor.connect_from(source(7));
    c.login();
    drop(c);
    let (dir, _) = sensor.stop();
    let d = dir.path();
    let id = util::read_events(d)[0]["session"]
        .as_str()
        .unwrap()
        .to_string();
    // The session's recording, as if it were fifteen days old.
    let old = std::time::SystemTime::now() - Duration::from_secs(15 * 86_400);
    for ext in ["cast", "raw"] {
        std::fs::File::options()
            .write(true)
            .open(d.join("sessions").join(format!("{id}.{ext}")))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let table = |args: &[&str]| String::from_utf8(util::cli(d, args)).unwrap();
    let counted = table(&["prune", "--dry-run"]);
    let recordings = counted
        .lines()
        .find(|l| l.starts_with("recordings "))
        .unwrap();
    let fields: Vec<&str> = recordings.split_whitespace().collect();
    assert_eq!(fields[..2], ["recordings", "2"], "{counted}");
    assert!(counted.starts_with("class"), "{counted}");
    assert!(counted.contains("would remove"), "{counted}");
    assert!(d.join("sessions").join(format!("{id}.cast")).exists());
    let removed = table(&["prune"]);
    assert!(removed.contains("removed"), "{removed}");
    assert!(!d.join("sessions").join(format!("{id}.cast")).exists());
    assert!(!d.join("sessions").join(format!("{id}.raw")).exists());
    // Nothing else was old enough; the session itself is still listed.
    assert!(table(&["sessions"]).contains(&id));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["replay", &id, "--data-dir"])
        .arg(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[retention] recordings"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sessions_and_show_read_the_database() {
    let sensor = Sensor::start("oracle");
    let mut c = sensor.connect_from(source(5));
    c.login();
    c.read_until(b"\x1b[6n", STEP);
    c.send(b"/bin/busybox ECCHI\r\n");
    c.read_until(b"# \x1b[6n", STEP);
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
    let (dir, _) = sensor.stop();
    let bin = env!("CARGO_BIN_EXE_busybait");
    let out = std::process::Command::new(bin)
        .args(["sessions", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["username"], "root");
    assert_eq!(rows[0]["password"], "xc3511");
    assert_eq!(rows[0]["commands"], 2);
    assert_eq!(rows[0]["end_reason"], "device_closed");
    let id = rows[0]["session"].as_str().unwrap();
    let out = std::process::Command::new(bin)
        .args(["show", id, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("login root/xc3511 accepted"), "{text}");
    assert!(text.contains("$ /bin/busybox ECCHI"), "{text}");
    let out = std::process::Command::new(bin)
        .args(["show", "000000000000", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session 000000000000"));
}

/// Runs `busybait ARGS --data-dir DIR` and returns its stdout.
/// Control bytes a terminal would act on: C0 but the line's own newline (and the
/// tables' layout), DEL, and C1 (as UTF-8).
fn terminal_controls(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    text.chars()
        .filter(|&c| c.is_control() && c != '\n')
        .map(|c| format!("{c:?}"))
        .collect()
}

#[test]
fn the_cli_never_prints_an_attackers_control_bytes() {
    let sensor = Sensor::start_with(&test_config("xiongmai-dvr", "", "mode = \"accept-all\""));
    let mut c = sensor.connect_from(source(40));
    // A password and a command line carrying OSC 52 (clipboard), a title, a C1 CSI
    // (as UTF-8) and a bidirectional override. (login's user name stops at the first
    // control byte; the tty's canonical mode takes DEL as erase.)
    c.read_until(b"login: ", STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", STEP);
    c.send("\x1b]52;c;ZXZpbA==\x07p\u{9b}2J\u{202e}d\r\n".as_bytes());
    c.read_until(b"# ", STEP);
    // (Without line editing the shell's tty drops C0 bytes; C1 and overrides pass.)
    c.send("echo \u{9b}2J \u{202e}x\r\n".as_bytes());
    c.read_until(b"# ", STEP);
    c.send(b"exit\r\n");
    c.read_to_close(STEP);
    let (dir, _) = sensor.stop();
    let dir = dir.path();
    let rows = util::cli(dir, &["sessions", "--json"]);
    assert_eq!(terminal_controls(&rows), Vec::<String>::new());
    let row: serde_json::Value = serde_json::from_slice(&rows).unwrap();
    // The values are all there, only escaped.
    assert_eq!(row["password"], "\x1b]52;c;ZXZpbA==\x07p\u{9b}2J\u{202e}d");
    let id = row["session"].as_str().unwrap().to_string();
    for args in [
        vec!["sessions"],
        vec!["show", id.as_str()],
        vec!["report"],
        vec!["report", "--json"],
        vec!["export", "--format", "csv"],
        vec!["export", "--format", "stix", "--include-private"],
        vec!["export", "--format", "misp", "--include-private"],
    ] {
        let out = util::cli(dir, &args);
        assert_eq!(terminal_controls(&out), Vec::<String>::new(), "{args:?}");
    }
    let shown = String::from_utf8(util::cli(dir, &["show", id.as_str()])).unwrap();
    assert!(shown.contains("$ echo \\u{9b}2J \\u{202e}x"), "{shown}");
    let listed = String::from_utf8(util::cli(dir, &["sessions"])).unwrap();
    assert!(
        listed.contains("login=root/\\u{1b}]52;c;ZXZpbA==\\u{7}p\\u{9b}2J\\u{202e}d"),
        "{listed}"
    );
}

#[test]
fn profiles_lists_one_per_line_name_first_with_its_doors() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .arg("profiles")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, PROFILES);
    let doors: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(
        doors,
        [
            "telnet,http",
            "telnet,ssh,http",
            "telnet,http",
            "telnet,http",
            "telnet,http",
            "telnet,ssh,http"
        ]
    );
}

#[test]
fn sessions_are_recorded_as_asciicast_and_raw_bytes() {
    let sensor = Sensor::start("oracle");
    let mut c = sensor.connect_from(source(6));
    c.login();
    c.send(b"echo -ne '\\x7fELF\\xff\\x00'; echo; /bin/busybox RECDONE\r\n");
    c.read_until(b"RECDONE: applet not found", STEP);
    c.send(b"exit\r\n");
    let rest = c.read_to_close(STEP);
    let _ = rest;
    let (dir, _) = sensor.stop();
    let events = util::read_events(dir.path());
    let id = events[0]["session"].as_str().unwrap().to_string();
    // The raw side file holds exactly the bytes the client received.
    let raw = std::fs::read(dir.path().join(format!("sessions/{id}.raw"))).unwrap();
    let mut received = Vec::new();
    let mut sent = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let len = u32::from_le_bytes(raw[i + 9..i + 13].try_into().unwrap()) as usize;
        let data = &raw[i + 13..i + 13 + len];
        if raw[i] == b'o' {
            received.extend_from_slice(data)
        } else {
            sent.extend_from_slice(data)
        }
        i += 13 + len;
    }
    assert!(
        util::find(&received, b"\x7fELF\xff\xff\x00").is_some(),
        "IAC doubled on the wire"
    );
    assert!(util::find(&sent, b"/bin/busybox RECDONE").is_some());
    assert!(received.ends_with(b"exit\r\n"));
    // asciinema itself accepts the cast.
    let cast = dir.path().join(format!("sessions/{id}.cast"));
    let out = std::process::Command::new("asciinema")
        .arg("cat")
        .arg(&cast)
        .output()
        .expect("asciinema is needed for this test (scripts/test installs it: pip install asciinema==2.4.0)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(util::find(&out.stdout, b"RECDONE: applet not found").is_some());
    // And `busybait replay` plays it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["replay", &id, "--speed", "1000", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(util::find(&out.stdout, b"RECDONE: applet not found").is_some());
}

#[test]
fn metrics_count_the_sessions_that_ran() {
    let config = format!(
        "metrics = \"127.0.0.1:0\"\n{}",
        util::test_config("xiongmai-dvr", "", "")
    );
    let sensor = Sensor::start_with(&config);
    let metrics = sensor.metrics.expect("a metrics listener");
    let mut good = sensor.connect_from(source(3));
    good.login();
    good.send(b"echo one\r\n");
    good.read_until(b"one\r\n# ", Duration::from_secs(10));
    good.send(b"exit\r\n");
    good.read_to_close(Duration::from_secs(10));
    let bad = util::tcp_from(sensor.addr, source(4)).unwrap();
    let attempt = scanner(bad, "root", "definitely-wrong", STEP);
    assert_ne!(attempt.outcome, Outcome::Success);
    let events = sensor.wait_for_events("both sessions closed", |e| {
        e.iter()
            .filter(|v| v["eventid"] == "cowrie.session.closed")
            .count()
            == 2
    });
    let count = |id: &str| events.iter().filter(|v| v["eventid"] == id).count() as u64;
    // A session task ends a little after its last event: wait for the gauge.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = scrape(metrics, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        // ... and for both writers to have counted a batch (they count after writing).
        let writers_idle = ["jsonl", "sqlite"]
            .iter()
            .any(|s| body.contains(&format!("busybait_sink_batches_total{{sink=\"{s}\"}} 0\n")));
        if body.contains("\nbusybait_sessions_active 0\n") && !writers_idle {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sessions still active: {body}"
        );
        // Scraping in a tight loop would take the sensor's CPU on two cores.
        std::thread::sleep(Duration::from_millis(10));
    };
    // Prometheus' own linter finds nothing to say (units, suffixes, help).
    promtool_check(&body);
    // The counts (times are seconds, with a fraction).
    let values: BTreeMap<&str, u64> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            v.parse().ok().map(|v| (k, v))
        })
        .collect();
    assert_eq!(values["busybait_sessions_total"], 2);
    assert_eq!(values["busybait_sessions_active"], 0);
    assert_eq!(values["busybait_logins_total{outcome=\"success\"}"], 1);
    assert_eq!(
        values["busybait_logins_total{outcome=\"failed\"}"],
        count("cowrie.login.failed")
    );
    assert!(count("cowrie.login.failed") >= 1);
    assert_eq!(
        values["busybait_commands_total"],
        count("cowrie.command.input")
    );
    assert_eq!(values["busybait_commands_total"], 2, "echo one, exit");
    assert_eq!(
        values["busybait_connections_refused_total{limit=\"max_sessions\"}"],
        0
    );
    assert_eq!(values["busybait_events_queued_total"], events.len() as u64);
    assert!(body.contains("# TYPE busybait_sessions_active gauge\n"));
    for sink in ["jsonl", "sqlite"] {
        let batches = values[format!("busybait_sink_batches_total{{sink=\"{sink}\"}}").as_str()];
        assert!(batches >= 1, "{sink} wrote its batches");
        assert!(body.contains(&format!(
            "\nbusybait_sink_write_seconds_total{{sink=\"{sink}\"}} "
        )));
    }
    assert_eq!(scrape(metrics, "/").0, "HTTP/1.1 404 Not Found");
}

/// `name value` of one sample of the metrics page, or 0.
fn metric(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_data_dir_stays_under_its_budget_oldest_recordings_first_then_refuses() {
    // Sessions with recordings to spare, then a restart with a budget that only
    // half of them fit in.
    let base = util::test_config("oracle", "", "");
    let sensor = Sensor::start_with(&base);
    for i in 0..8 {
        let mut c = sensor.connect_from(source(100 + i));
        c.login();
        // Some 60 KB of output each, distinct per session.
        c.send(
            format!("i=0; while [ $i -lt 2000 ]; do echo {i} line $i of this session; i=$((i+1)); done; echo done\r\n")
                .as_bytes(),
        );
        c.read_until(b"done\r\n~ # ", Duration::from_secs(10));
    }
    let (dir, _) = sensor.stop();
    let d = dir.path();
    let sessions = d.join("sessions");
    let mut casts: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(&sessions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cast"))
        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    casts.sort();
    assert_eq!(casts.len(), 8);
    let recordings: u64 = std::fs::read_dir(&sessions)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let used = busybait_store::budget::data_bytes(d);
    // Room for the rest and about half the recordings (the 90 % low water mark).
    let budget = (used - recordings / 2) * 100 / 90;
    let config = format!(
        "metrics = \"127.0.0.1:0\"\n{base}[retention]\nmax_data_bytes = {budget}\nbudget_interval = \"100ms\"\n"
    );
    let sensor = Sensor::start_in(dir, &config);
    let metrics = sensor.metrics.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (_, body) = scrape(metrics, "/metrics");
        if metric(&body, "busybait_pruned_total{class=\"recordings\"}") > 0 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(metric(&body, "busybait_data_bytes") <= budget, "{body}");
    assert_eq!(metric(&body, "busybait_data_budget_bytes"), budget);
    // The oldest went, the newest stayed, and sessions are still taken.
    assert!(!casts[0].1.exists(), "the oldest recording is gone");
    assert!(casts[7].1.exists(), "the newest is kept");
    let mut c = sensor.connect_from(source(200));
    c.login();
    drop(c);
    // SIGHUP reloads [retention]; a file that does not load changes nothing.
    let config_file = sensor.data_dir.path().join("test-config.toml");
    std::fs::write(
        &config_file,
        format!("{config}\nmax_data_bytes = \"lots\"\n"),
    )
    .unwrap();
    util::signal(sensor.pid(), "HUP");
    sensor.wait_for_log("SIGHUP: keeping the running settings");
    assert_eq!(
        metric(&scrape(metrics, "/metrics").1, "busybait_data_budget_bytes"),
        budget
    );
    // A budget nothing prunable can meet: new sessions are refused, and said so.
    let config = format!(
        "metrics = \"127.0.0.1:0\"\n{base}[retention]\nmax_data_bytes = 4096\nbudget_interval = \"100ms\"\n"
    );
    std::fs::write(&config_file, config).unwrap();
    util::signal(sensor.pid(), "HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = scrape(metrics, "/metrics");
        if metric(
            &body,
            "busybait_connections_refused_total{limit=\"max_data_bytes\"}",
        ) > 0
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        // Each try is refused (closed at once) or, before the first check, served.
        let mut probe = util::tcp_from(sensor.addr, source(300)).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _ = std::io::Read::read(&mut probe, &mut [0u8; 64]);
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut refused = util::tcp_from(sensor.addr, source(301)).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        std::io::Read::read(&mut refused, &mut buf).unwrap_or(0),
        0,
        "closed before a byte of the opening"
    );
    // Refusals start as the budget pass marks the data dir full, just before it says so.
    sensor.wait_for_log("refusing new sessions");
    assert!(sensor.log().contains("SIGHUP: [retention] reloaded"));
    assert_eq!(
        metric(&scrape(metrics, "/metrics").1, "busybait_data_budget_bytes"),
        4096
    );
}

/// A data dir with `old` events from 40 days ago and `new` from now, written by the
/// store's own recorder (rotated daily, so the old day has its own file).
fn data_dir_with_old_events(dir: &std::path::Path, old: u64, new: u64) {
    use busybait_events::{Event, EventKind, Peer, Protocol, SensorIdentity, SessionId};
    let config = busybait_store::RecorderConfig {
        data_dir: dir.to_path_buf(),
        queue_depth: 64,
        fsync_interval: Duration::from_millis(10),
        jsonl: true,
        sqlite: true,
        rotation: busybait_store::rotate::Rotation::default(),
    };
    let sensor = SensorIdentity {
        name: "test".into(),
        uuid: "00000000-0000-4000-8000-000000000000".into(),
    };
    let (recorder, _) = busybait_store::Recorder::open(&config, sensor).unwrap();
    let handle = recorder.handle().unwrap();
    let now = std::time::SystemTime::now();
    let then = now - Duration::from_secs(40 * 86_400);
    let events = (0..old)
        .map(|i| (then, i))
        .chain((0..new).map(|i| (now, old + i)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for (time, i) in events {
            let kind = if i % 100 == 0 {
                EventKind::connect()
            } else {
                EventKind::CommandInput {
                    input: format!("echo {i}"),
                }
            };
            let event = Event {
                time,
                session: SessionId::from_u64(1 + i / 100),
                peer: Peer {
                    src: "127.0.0.9:4000".parse().unwrap(),
                    dst: "127.0.0.1:23".parse().unwrap(),
                    protocol: Protocol::Telnet,
                },
                kind,
            };
            handle.record(event).await.unwrap();
        }
    });
    drop(handle);
    recorder.shutdown().unwrap();
}

#[test]
fn prune_killed_mid_pass_leaves_whole_stores_and_the_next_pass_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    data_dir_with_old_events(d, 2_500, 100);
    let rotated = |d: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("events.jsonl."))
            .collect();
        names.sort();
        names
    };
    assert_eq!(rotated(d).len(), 1, "the old day's file");
    let rows = |d: &std::path::Path| -> (i64, i64, String) {
        let db = rusqlite::Connection::open_with_flags(
            d.join("busybait.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let cutoff = busybait_events::format_timestamp(
            std::time::SystemTime::now() - Duration::from_secs(20 * 86_400),
        );
        let count = |sql: &str| -> i64 { db.query_row(sql, [&cutoff], |r| r.get(0)).unwrap() };
        let ok: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (
            count("SELECT count(*) FROM events WHERE timestamp < ?1"),
            count("SELECT count(*) FROM events WHERE timestamp >= ?1"),
            ok,
        )
    };
    // Killed (-9) after its first batch of event rows, inside the pass.
    let mut prune = std::process::Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["prune", "--data-dir"])
        .arg(d)
        .env("BUSYBAIT_FAILPOINT", "prune-between-batches")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(prune.stderr.take().unwrap()),
        &mut said,
    )
    .unwrap();
    assert!(said.contains("failpoint prune-between-batches"), "{said}");
    prune.kill().unwrap();
    prune.wait().unwrap();
    // A whole batch went, nothing else: the database is whole, the new rows are all
    // there, the old day's file is gone whole and the live one is untouched.
    assert_eq!(rows(d), (1_500, 100, "ok".to_string()));
    assert_eq!(rotated(d), Vec::<String>::new());
    let live = util::read_events(d);
    assert_eq!(live.len(), 100);
    // The next pass finishes what was meant to go, and only that.
    let out = util::cli(d, &["prune"]);
    let out = String::from_utf8(out).unwrap();
    let event_rows = out.lines().find(|l| l.starts_with("event-rows ")).unwrap();
    assert_eq!(event_rows.split_whitespace().nth(1), Some("1500"), "{out}");
    assert_eq!(rows(d), (0, 100, "ok".to_string()));
    assert_eq!(util::read_events(d).len(), 100);
}

#[test]
fn serve_prunes_at_start_and_every_interval_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    data_dir_with_old_events(dir.path(), 1_500, 10);
    let config = format!(
        "metrics = \"127.0.0.1:0\"\n{}[retention]\ninterval = \"1s\"\n",
        util::test_config("oracle", "", "")
    );
    let sensor = Sensor::start_in(dir, &config);
    let metrics = sensor.metrics.unwrap();
    let pruned = |class: &str| {
        metric(
            &scrape(metrics, "/metrics").1,
            &format!("busybait_pruned_total{{class=\"{class}\"}}"),
        )
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {}",
                sensor.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // The pass at start: the 40-day-old rows (the default keeps 14 days).
    wait("the pass at start", &|| pruned("event-rows") == 1_500);
    // A recording that is a month old by the time a later pass looks.
    let old = sensor
        .data_dir
        .path()
        .join("sessions")
        .join("0000000000ff.cast");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, b"{}\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(30 * 86_400))
        .unwrap();
    // The pass counts what it pruned when it is over, after the file went.
    wait("a later pass", &|| pruned("recordings") == 1);
    assert!(!old.exists());
    // The sensor went on serving meanwhile.
    let mut c = sensor.connect_from(source(7));
    c.login();
}
