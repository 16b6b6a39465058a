//! `busybait watch --interface` on live traffic: the loopback of a network
//! namespace this test makes, where our own sensor listens on telnet's port and the
//! test's own Mirai-style scanner logs in to it. Nothing leaves the namespace and no
//! capture is replayed onto an interface. Needs root (namespaces, capture), iproute2,
//! and a busybait built with `--features live` (scripts/test does all three).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::thread::{move_into_thread_name_spaces, ThreadNameSpaceType};

/// A named network namespace (`ip netns`), deleted on drop.
struct Netns(String);

impl Netns {
    fn create(name: &str) -> Self {
        let ok = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
                panic!("`ip` (iproute2) is needed to make the test's namespace: {e}")
            });
            assert!(
                out.status.success(),
                "ip {args:?}: {} (root is needed)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(&["netns", "add", name]);
        let ns = Self(name.to_string());
        ok(&["-n", name, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

/// Runs `body` on a thread inside a new network namespace (`prefix-<pid>`): that
/// thread and every process it starts are in it; the rest of the test process stays
/// where it was. The namespace goes when `body` returns.
fn in_namespace(prefix: &str, body: impl FnOnce() + Send + 'static) {
    let ns = Netns::create(&format!("{prefix}-{}", std::process::id()));
    let path = format!("/var/run/netns/{}", ns.0);
    std::thread::spawn(move || {
        let handle = std::fs::File::open(&path).unwrap();
        move_into_thread_name_spaces(handle.as_fd(), ThreadNameSpaceType::NETWORK).unwrap();
        body();
    })
    .join()
    .unwrap();
}

/// SIGINT to a running `watch --json` (it reads what the kernel holds, then reports):
/// its report, after a clean exit; the rest of its log added to `log`.
fn stop(
    mut watch: std::process::Child,
    mut stderr: BufReader<std::process::ChildStderr>,
    log: &mut String,
) -> serde_json::Value {
    util::signal(watch.id(), "INT");
    let mut stdout = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    stderr.read_to_string(log).unwrap();
    assert!(watch.wait().unwrap().success(), "{log}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn live_capture_sees_a_mirai_scanner_log_in_to_our_own_sensor() {
    in_namespace("busybait-live", || {
        let sensor = util::Sensor::start_listening(
            "127.0.0.1:23",
            &util::test_config("xiongmai-dvr", "", ""),
        );
        assert_eq!(sensor.addr.port(), 23);
        let out = tempfile::tempdir().unwrap();
        let eve = out.path().join("eve.json");
        let mut watch = Command::new(env!("CARGO_BIN_EXE_busybait"))
            .args([
                "watch",
                "--interface",
                "lo",
                "--filter",
                "tcp port 23",
                "--json",
            ])
            .arg("--data-dir")
            .arg(out.path())
            .arg("--eve")
            .arg(&eve)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Capture has begun once it says so.
        let mut stderr = BufReader::new(watch.stderr.take().unwrap());
        let mut log = String::new();
        loop {
            let mut line = String::new();
            let n = stderr.read_line(&mut line).unwrap();
            log.push_str(&line);
            assert!(n > 0, "watch ended before capturing:\n{log}");
            if line.contains("capturing on lo") {
                break;
            }
        }
        let client: std::net::IpAddr = "127.0.0.5".parse().unwrap();
        let attempt = util::mirai::scanner(
            util::tcp_from(sensor.addr, client).unwrap(),
            "root",
            "xc3511",
            Duration::from_secs(10),
        );
        assert_eq!(attempt.outcome, util::mirai::Outcome::Success);
        // Every packet of the login has passed the loopback (the client read the
        // last answer): SIGINT, and watch reads what the kernel holds, then reports.
        let report = stop(watch, stderr, &mut log);
        let r = &report[0];
        assert_eq!(r["file"], "interface:lo");
        assert_eq!(r["end"], "stopped");
        assert_eq!(
            util::alerts(r),
            [
                ("mirai-shell-content".to_string(), "127.0.0.5".to_string()),
                ("mirai-telnet-client".to_string(), "127.0.0.5".to_string()),
            ],
            "{log}"
        );
        let titles: Vec<&str> = r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            [
                "Mirai-family shell content: Mirai scanner probe",
                "Mirai's telnet client: its exact answer to BusyBox telnetd's options",
            ]
        );
        for a in r["alerts"].as_array().unwrap() {
            assert_eq!(a["dst"], "127.0.0.1");
            assert_eq!(a["dst_port"], 23);
        }
        // Stored and written as for a file.
        let stored = std::fs::read_to_string(out.path().join("alerts.jsonl")).unwrap();
        assert_eq!(stored.lines().count(), 2);
        assert!(stored.contains("\"capture\":\"interface:lo\""), "{stored}");
        assert_eq!(std::fs::read_to_string(&eve).unwrap().lines().count(), 2);
        drop(sensor);
    });
}

/// `watch --interface lo --fleet`: an address a sensor of the fleet learned while the
/// capture runs (published here on the indicators subject, as a sensor's shipper
/// does) is matched from then on, and the alert goes back on `busybait.alerts.*`.
/// NATS runs inside the namespace; the "attacker" is 127.0.0.77 there.
#[test]
fn live_capture_matches_what_the_fleet_learns_and_reports_back() {
    use futures_util::StreamExt;

    in_namespace("busybait-fleet", || {
        let nats = util::fleet::Nats::start();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, mut alerts) = runtime.block_on(async {
            let client = async_nats::connect(nats.url()).await.unwrap();
            let alerts = client.subscribe("busybait.alerts.*").await.unwrap();
            client.flush().await.unwrap();
            (client, alerts)
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let mut watch = Command::new(env!("CARGO_BIN_EXE_busybait"))
            .args(["watch", "--interface", "lo", "--json", "--no-store"])
            .args(["--filter", &format!("tcp port {}", target.port())])
            .args(["--fleet", &nats.url()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(watch.stderr.take().unwrap());
        let mut log = String::new();
        let mut wait_for = |what: &str, log: &mut String| loop {
            let mut line = String::new();
            let n = stderr.read_line(&mut line).unwrap();
            log.push_str(&line);
            assert!(n > 0, "watch ended before {what:?}:\n{log}");
            if line.contains(what) {
                break;
            }
        };
        wait_for("listening to the fleet's indicators", &mut log);
        wait_for("capturing on lo", &mut log);
        // A sensor of the fleet learned the address (its shipper's message).
        runtime.block_on(async {
            let indicator = serde_json::json!({
                "type": "ip", "value": "127.0.0.77", "seen": "2026-12-05T00:00:00.000000Z"
            });
            client
                .publish(
                    "busybait.indicators.sensor-1",
                    serde_json::to_vec(&indicator).unwrap().into(),
                )
                .await
                .unwrap();
            client.flush().await.unwrap();
        });
        wait_for("learned from the fleet", &mut log);
        // The address comes here now.
        let from: std::net::IpAddr = "127.0.0.77".parse().unwrap();
        let stream = util::tcp_from(target, from).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), from);
        let alert: serde_json::Value = runtime.block_on(async {
            let m = tokio::time::timeout(Duration::from_secs(30), alerts.next())
                .await
                .expect("no alert reached the fleet")
                .unwrap();
            assert_eq!(m.subject.as_str(), "busybait.alerts.watch");
            serde_json::from_slice(&m.payload).unwrap()
        });
        // As the stores keep it (the fleet's collectors store it so).
        assert_eq!(alert["alert"], "trap-attacker", "{alert}");
        assert_eq!(alert["src_ip"], "127.0.0.77");
        assert_eq!(alert["capture"], "interface:lo");
        drop(stream);
        let report = stop(watch, stderr, &mut log);
        assert_eq!(
            util::alerts(&report[0]),
            [("trap-attacker".to_string(), "127.0.0.77".to_string())],
            "{log}"
        );
    });
}
