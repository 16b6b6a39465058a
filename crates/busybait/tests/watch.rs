//! `busybait watch` on the real captures of the shared data (read in place) and on a
//! synthetic one: what its README says a detector should find, and nothing else.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::process::Command;

use busybait_pcapgen::{mirai_scan, Capture};

fn watch(args: &[&std::ffi::OsStr]) -> (bool, serde_json::Value, String) {
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
    util::shared_data().join("pcaps").join(name)
}

fn alerts(file: &serde_json::Value) -> Vec<(String, String)> {
    file["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["src"].as_str().unwrap().to_string(),
            )
        })
        .collect()
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
    assert_eq!(alerts(&reports[1]), []);
    assert_eq!(alerts(&reports[2]), []);
    assert_eq!(alerts(&reports[3]), []);
}

#[test]
fn a_synthetic_mirai_scanner_is_found_and_a_damaged_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::default();
    let targets: Vec<_> = (1..=30)
        .map(|i| std::net::Ipv4Addr::new(198, 51, 100, i))
        .collect();
    mirai_scan(
        &mut cap,
        "10.9.8.7".parse().unwrap(),
        &targets,
        1_790_000_000.0,
        true,
    );
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
