//! The Debian package (`cargo deb`, installed by `scripts/test`), built from this
//! test build's binary, installed on this machine with `dpkg -i`, its unit checked
//! by `systemd-analyze verify`, the installed binary run (through `setpriv`) as the
//! package's `busybait` user on 127.0.0.1 against the installed config and data dir, then
//! purged. Needs root, as the other sandbox tests do.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use util::mirai::{scanner, Outcome};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test installs what this needs)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Purges the package (and the data dir the test made) however the test ends, the
/// user's processes stopped first.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", "busybait"])
            .output();
        let _ = Command::new("dpkg").args(["--purge", "busybait"]).output();
        let _ = std::fs::remove_dir_all("/var/lib/busybait");
    }
}

#[test]
fn the_debian_package_installs_a_confined_service_that_runs_as_its_own_user() {
    assert!(
        rustix::process::geteuid().is_root(),
        "installing a package needs root (as the oracle sandbox tests do)"
    );
    let version = Command::new("cargo").args(["deb", "--version"]).output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "cargo-deb is missing: scripts/test installs it (cargo install cargo-deb)"
    );
    // The binary under test (this build's), packaged as a release would be.
    let out = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    run(Command::new("cargo")
        .current_dir(&workspace)
        .args([
            "deb",
            "-p",
            "busybait",
            "--no-build",
            "--fast",
            "--profile",
            "dev",
            "-o",
        ])
        .arg(out.path()));
    let deb = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");
    let _purge = Installed;
    run(Command::new("dpkg")
        .args(["-i"])
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));

    // What it put where, and for whom.
    let passwd = run(Command::new("getent").args(["passwd", "busybait"]));
    assert!(
        passwd.contains(":/var/lib/busybait:/usr/sbin/nologin"),
        "{passwd}"
    );
    let data = std::fs::metadata("/var/lib/busybait").unwrap();
    assert_eq!(data.mode() & 0o7777, 0o750);
    let uid: u32 = passwd.split(':').nth(2).unwrap().parse().unwrap();
    assert_eq!(data.uid(), uid);
    assert!(Path::new("/etc/busybait/busybait.toml").exists());
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "busybait"]));
    assert!(
        conffiles.contains("/etc/busybait/busybait.toml"),
        "{conffiles}"
    );
    let unit_path = "/lib/systemd/system/busybait.service";
    let unit = std::fs::read_to_string(unit_path).unwrap();
    for line in [
        "User=busybait",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/busybait",
        "LimitNOFILE=",
        "MemoryMax=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(line), "the unit lacks {line}");
    }
    let verify = Command::new("systemd-analyze")
        .args(["verify", unit_path])
        .output()
        .expect("systemd-analyze (Debian's systemd)");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !said.contains("busybait.service"),
        "systemd-analyze verify: {said}"
    );

    // The installed binary, as the service runs it, on loopback.
    let log_path = out.path().join("stderr.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    // As systemd runs it: standard error is the stream JOURNAL_STREAM names.
    let journal_stream = {
        use std::os::unix::fs::MetadataExt;
        let meta = log_file.metadata().unwrap();
        format!("{}:{}", meta.dev(), meta.ino())
    };
    // setpriv execs the sensor itself as the user (signals reach it directly).
    let mut sensor = Command::new("setpriv")
        .args(["--reuid=busybait", "--regid=busybait", "--clear-groups"])
        .args(["/usr/bin/busybait", "serve"])
        .args(["--config", "/etc/busybait/busybait.toml"])
        .args(["--data-dir", "/var/lib/busybait"])
        .args(["--telnet", "127.0.0.1:0"])
        .env("JOURNAL_STREAM", journal_stream)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sensor.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .strip_prefix("listening telnet ")
        .unwrap_or_else(|| panic!("the installed sensor did not start: {line:?}"))
        .trim()
        .parse()
        .unwrap();
    let attempt = scanner(
        std::net::TcpStream::connect(addr).unwrap(),
        "root",
        "xc3511",
        Duration::from_secs(10),
    );
    assert_eq!(attempt.outcome, Outcome::Success);
    // SIGHUP (systemctl reload) reloads [retention] from the installed config (the
    // service user can read it) and does not stop it; SIGTERM does.
    util::signal(sensor.id(), "HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("SIGHUP: [retention] reloaded")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        assert!(sensor.try_wait().unwrap().is_none(), "SIGHUP stopped it");
        std::thread::sleep(Duration::from_millis(10));
    }
    util::signal(sensor.id(), "TERM");
    let status = sensor.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "{log}");
    // For the journal: each line's priority in front, no timestamp of its own.
    assert!(
        log.lines()
            .all(|l| ["<3>", "<4>", "<6>"].iter().any(|p| l.starts_with(p))),
        "{log}"
    );
    assert!(
        log.contains("<6> INFO busybait::prune: SIGHUP: [retention] reloaded"),
        "{log}"
    );
    let events = util::read_events(Path::new("/var/lib/busybait"));
    assert!(
        events
            .iter()
            .any(|e| e["eventid"] == "cowrie.login.success"),
        "{events:?}"
    );
    for name in ["events.jsonl", "busybait.db", "sensor.toml"] {
        let meta = std::fs::metadata(Path::new("/var/lib/busybait").join(name)).unwrap();
        assert_eq!(meta.uid(), uid, "{name} belongs to the service user");
    }
    run(Command::new("dpkg").args(["--purge", "busybait"]));
    assert!(!Path::new("/usr/bin/busybait").exists());
    assert!(Command::new("getent")
        .args(["passwd", "busybait"])
        .output()
        .is_ok_and(|o| !o.status.success()));
    assert!(
        Path::new("/var/lib/busybait/events.jsonl").exists(),
        "purging keeps the evidence"
    );
}
