//! Accuracy of `busybait watch` on a generated capture of a million packets: every
//! kind of labelled attack (50 of each, each from its own bot) in benign background
//! with near misses. Prints precision and recall per detection against the
//! generator's ground truth; every detection must find all of its attacks (recall 1)
//! and raise nothing else (precision 1). Every SSH brute-forcer's client (three kinds,
//! on ports 22, 2222 and 902) is listed with its identification and HASSH.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use busybait_pcapgen::mixed::{write_mixed, ATTACK_KINDS};

const FRAMES: u64 = 1_000_000;

#[test]
fn a_million_packets_match_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.pcap");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let (frames, truth) = write_mixed(&mut out, 42, FRAMES, 50 * ATTACK_KINDS as u64).unwrap();
    drop(out);
    assert!(frames >= FRAMES);
    let run = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["watch", "--json", "--no-store", "--pcap"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let report = &report[0];
    assert_eq!(report["end"], "complete");
    assert_eq!(report["counters"]["frames"], frames);
    assert_eq!(report["counters"]["malformed"], 0);

    let found: BTreeSet<(String, String)> = util::alerts(report).into_iter().collect();
    let expected: BTreeSet<(String, String)> = truth
        .iter()
        .map(|(id, src)| (id.to_string(), src.to_string()))
        .collect();
    // Per detection: (true positives, false positives, false negatives).
    let mut table: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for (id, _) in expected.iter().chain(found.iter()) {
        table.entry(id.clone()).or_default();
    }
    for key in &found {
        let row = table.get_mut(&key.0).unwrap();
        if expected.contains(key) {
            row.0 += 1;
        } else {
            row.1 += 1;
        }
    }
    for key in expected.difference(&found) {
        table.get_mut(&key.0).unwrap().2 += 1;
    }
    println!("{frames} frames, {} labelled attacks", expected.len());
    println!(
        "{:<22} {:>6} {:>6} {:>6} {:>9} {:>7}",
        "detection", "tp", "fp", "fn", "precision", "recall"
    );
    for (id, (tp, fp, fn_)) in &table {
        let precision = *tp as f64 / (*tp + *fp).max(1) as f64;
        let recall = *tp as f64 / (*tp + *fn_).max(1) as f64;
        println!("{id:<22} {tp:>6} {fp:>6} {fn_:>6} {precision:>9.3} {recall:>7.3}");
    }
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(missed.is_empty(), "missed: {missed:?}");
    assert!(extra.is_empty(), "false positives: {extra:?}");
    // Every kind of detection is in the truth, 50 times or more.
    assert_eq!(table.len(), 19, "{table:?}");
    assert!(table.values().all(|(tp, _, _)| *tp >= 50), "{table:?}");
    // Each SSH brute-forcer is listed once with the client it was made with: its
    // identification, its HASSH (worked out here from the lists the generator
    // sends), its six connections and the port it knocked on.
    let hassh = |version: &str| match version {
        "SSH-2.0-libssh2_1.11.0" => "9551e0bf4ad0411e55c738ca07844695",
        "SSH-2.0-Go" => "2dba60e4eafb9ed44ed777d95602f169",
        "SSH-2.0-HELLOWORLD" => "01f5cd21c04273f3cce83480ec951586",
        other => panic!("no client {other}"),
    };
    let clients = report["ssh_clients"].as_array().unwrap();
    let mut per_port: BTreeMap<u16, u64> = BTreeMap::new();
    for (_, bot) in truth.iter().filter(|(id, _)| *id == "ssh-bruteforce") {
        let (version, port) = busybait_pcapgen::mixed::ssh_bruteforce_client(*bot);
        let listed: Vec<&serde_json::Value> = clients
            .iter()
            .filter(|c| c["src"] == bot.to_string())
            .collect();
        assert_eq!(listed.len(), 1, "{bot}: {listed:?}");
        let c = listed[0];
        assert_eq!(c["version"], version, "{bot}");
        assert_eq!(c["hassh"], hassh(version), "{bot}");
        assert_eq!(c["connections"], 6, "{bot}");
        assert_eq!(c["dst_port"], port, "{bot}");
        *per_port.entry(port).or_default() += 1;
    }
    println!("ssh brute-forcers' clients by port: {per_port:?}");
    assert_eq!(per_port.len(), 3, "{per_port:?}");
}
