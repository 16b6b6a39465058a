//! Accuracy of `busybait watch` on a generated capture of a million packets: every
//! kind of labelled attack (50 of each, each from its own bot) in benign background
//! with near misses. Prints precision and recall per detection against the
//! generator's ground truth; every detection must find all of its attacks (recall 1)
//! and raise nothing else (precision 1).

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
}
