//! The load generator against the real sensor (both built by the same workspace run)
//! and against the null sensor. Their loopback-only checks are unit tests: no test
//! hands either tool another address.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `busybait`, next to this package's binary in the same target directory.
fn busybait() -> PathBuf {
    let loadgen = PathBuf::from(env!("CARGO_BIN_EXE_busybait-loadgen"));
    let path = loadgen.with_file_name("busybait");
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo build --workspace) first",
        path.display()
    );
    path
}

/// Starts a server that prints `listening telnet ADDR` first; returns it and ADDR.
fn start_listening(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("listening telnet ")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .trim()
        .to_string();
    (child, addr)
}

#[test]
fn loader_sessions_complete_and_drop_their_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        "download_tools = []\n[store]\nfsync_interval = \"50ms\"\n",
    )
    .unwrap();
    let (mut sensor, addr) = start_listening(
        Command::new(busybait())
            .args(["serve", "--telnet", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .stderr(Stdio::null()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_busybait-loadgen"))
        .args(["--target", &addr, "--scenario", "loader", "--sessions", "4"])
        .args(["--concurrency", "2", "--pid", &sensor.id().to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = Command::new("kill")
        .args(["-TERM", &sensor.id().to_string()])
        .status();
    assert!(sensor.wait().unwrap().success());
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("sessions      4 ok, 0 errors"), "{report}");
    assert!(report.contains("target cpu"), "{report}");
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let upnp = events
        .lines()
        .filter(|l| l.contains("\"cowrie.session.file_download\"") && l.contains("\"/var/upnp\""))
        .count();
    assert_eq!(upnp, 4, "each session's echo-dropped binary");
}

#[test]
fn the_null_sensor_answers_every_scenario() {
    let (mut null, addr) = start_listening(
        Command::new(env!("CARGO_BIN_EXE_busybait-null-sensor")).arg("127.0.0.1:0"),
    );
    for scenario in ["scanner", "loader", "idle"] {
        let out = Command::new(env!("CARGO_BIN_EXE_busybait-loadgen"))
            .args(["--target", &addr, "--scenario", scenario, "--sessions", "3"])
            .args(["--concurrency", "3", "--hold", "0"])
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            report.contains("sessions      3 ok, 0 errors"),
            "{scenario}: {report}"
        );
    }
    null.kill().unwrap();
    null.wait().unwrap();
}
