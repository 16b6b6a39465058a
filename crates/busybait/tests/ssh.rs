//! The SSH door against the real OpenSSH client (Debian's `openssh-client`, which
//! `scripts/test` installs): every algorithm it shares with the profile's Dropbear,
//! `exec` with its output and exit status, a pty shell, a wrong password, a client
//! that rekeys (past its 64 KiB limit) in the middle of two megabytes of output,
//! and the events.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use util::{test_config, Sensor};

/// An `SSH_ASKPASS` program that answers `password`.
fn askpass(dir: &Path, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("askpass-{password}"));
    std::fs::write(&path, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn ssh_binary() -> &'static str {
    let found = Command::new("ssh").arg("-V").output().is_ok();
    assert!(
        found,
        "the OpenSSH client (ssh) is missing: scripts/test installs Debian's openssh-client"
    );
    "ssh"
}

/// Runs `ssh` against the sensor with the given options and remote command.
fn ssh(sensor: &Sensor, password: &str, options: &[&str], args: &[&str], stdin: &[u8]) -> Output {
    let addr = sensor.ssh.unwrap();
    let dir = sensor.data_dir.path();
    let mut child = Command::new(ssh_binary())
        .args(["-F", "/dev/null"])
        // First: for each setting, ssh keeps the first value it is given.
        .args(options)
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(if options.contains(&"-v") {
            &[][..]
        } else {
            &["-o", "LogLevel=ERROR"][..]
        })
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-o", "ConnectTimeout=20"])
        .args(["-p", &addr.port().to_string(), "root@127.0.0.1"])
        .args(args)
        .env("SSH_ASKPASS", askpass(dir, password))
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn start() -> Sensor {
    Sensor::start_ssh(&test_config("oracle", "", ""))
}

#[test]
fn openssh_runs_exec_with_every_algorithm_it_shares_with_dropbear() {
    let sensor = start();
    for (kex, key, cipher, mac) in [
        (
            "curve25519-sha256",
            "ssh-ed25519",
            "chacha20-poly1305@openssh.com",
            "hmac-sha2-256",
        ),
        (
            "curve25519-sha256@libssh.org",
            "ecdsa-sha2-nistp256",
            "aes128-ctr",
            "hmac-sha2-256",
        ),
        (
            "curve25519-sha256",
            "ssh-ed25519",
            "aes256-ctr",
            "hmac-sha1",
        ),
        (
            "ecdh-sha2-nistp256",
            "ssh-ed25519",
            "aes128-ctr",
            "hmac-sha1",
        ),
        (
            "ecdh-sha2-nistp384",
            "ecdsa-sha2-nistp256",
            "chacha20-poly1305@openssh.com",
            "hmac-sha1",
        ),
        (
            "ecdh-sha2-nistp521",
            "ssh-ed25519",
            "aes256-ctr",
            "hmac-sha2-256",
        ),
        (
            "diffie-hellman-group14-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "hmac-sha2-256",
        ),
        (
            "diffie-hellman-group14-sha1",
            "ecdsa-sha2-nistp256",
            "aes128-ctr",
            "hmac-sha1",
        ),
    ] {
        let options = [
            "-o",
            &format!("KexAlgorithms={kex}"),
            "-o",
            &format!("HostKeyAlgorithms={key}"),
            "-o",
            &format!("Ciphers={cipher}"),
            "-o",
            &format!("MACs={mac}"),
        ];
        let out = ssh(
            &sensor,
            "xc3511",
            &options,
            &["echo hello; uname -m; exit 3"],
            b"",
        );
        let what = format!(
            "{kex} {key} {cipher} {mac}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3), "{what}");
        assert_eq!(out.stdout, b"hello\nx86_64\n", "{what}");
    }
    let events = sensor.wait_for_events("eight logins", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 8
    });
    let first: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["session"] == events[0]["session"])
        .collect();
    let ids: Vec<&str> = first
        .iter()
        .map(|e| e["eventid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "cowrie.session.connect",
            "cowrie.client.version",
            "cowrie.client.kex",
            "cowrie.login.success",
            "cowrie.command.input",
            "busybait.session.family",
            "busybait.session.end",
            "cowrie.session.closed"
        ]
    );
    assert!(first.iter().all(|e| e["protocol"] == "ssh"));
    assert!(first[1]["version"]
        .as_str()
        .unwrap()
        .starts_with("SSH-2.0-OpenSSH_"));
    assert_eq!(first[2]["hassh"].as_str().unwrap().len(), 32);
    assert_eq!(first[2]["kexAlgs"][0], "curve25519-sha256");
    assert_eq!(first[3]["username"], "root");
    assert_eq!(first[3]["password"], "xc3511");
    assert_eq!(first[4]["input"], "echo hello; uname -m; exit 3");
}

#[test]
fn openssh_gets_a_pty_shell_and_a_wrong_password_is_refused() {
    let sensor = start();
    let out = ssh(
        &sensor,
        "xc3511",
        &["-tt"],
        &[],
        b"echo pty-$((6*7))\nexit 4\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BusyBox v1.35.0"), "{stdout}");
    assert!(stdout.contains("\r\npty-42\r\n"), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let wrong = ssh(&sensor, "wrong", &[], &["true"], b"");
    assert_eq!(wrong.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    sensor.wait_for_events("the failed login", |e| {
        e.iter().any(|e| {
            e["eventid"] == "cowrie.login.failed"
                && e["password"] == "wrong"
                && e["protocol"] == "ssh"
        })
    });
}

#[test]
fn two_megabytes_come_through_the_window_while_the_client_rekeys() {
    let sensor = start();
    let out = ssh(
        &sensor,
        "xc3511",
        &["-v", "-o", "RekeyLimit=64K", "-o", "Ciphers=aes128-ctr"],
        &["cat /bin/busybox"],
        b"",
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.matches("SSH2_MSG_KEXINIT sent").count() >= 2,
        "the client rekeyed: {log}"
    );
    assert_eq!(
        out.stdout.len(),
        1_982_256,
        "the oracle's /bin/busybox, whole"
    );
    assert_eq!(&out.stdout[..4], b"\x7fELF");
}

#[test]
fn a_profile_without_ssh_refuses_to_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(["serve", "--profile", "xiongmai-dvr", "--ssh", "127.0.0.1:0"])
        .arg("--telnet")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("profile xiongmai-dvr has no SSH server")
            && err.contains("oracle (Dropbear 2022.83)"),
        "{err}"
    );
}

#[test]
fn a_key_planted_over_ssh_is_recorded_and_then_lets_its_owner_in() {
    let sensor = start();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("bot_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "mdrfckr", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let plant = format!(
        "mkdir -p /root/.ssh; echo \"{}\" >> /root/.ssh/authorized_keys",
        public.trim()
    );
    let out = ssh(&sensor, "xc3511", &[], &[&plant], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = sensor.wait_for_events("the planted key", |e| {
        e.iter()
            .any(|e| e["eventid"] == "busybait.persistence.ssh_key")
    });
    let planted = events
        .iter()
        .find(|e| e["eventid"] == "busybait.persistence.ssh_key")
        .unwrap();
    assert_eq!(planted["path"], "/root/.ssh/authorized_keys");
    assert_eq!(planted["type"], "ssh-ed25519");
    assert_eq!(planted["comment"], "mdrfckr");
    let family = events
        .iter()
        .find(|e| e["eventid"] == "busybait.session.family")
        .unwrap();
    assert_eq!(family["family"], "outlaw");
    // `ssh-keygen -l` agrees on the fingerprint.
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(planted["fingerprint_sha256"].as_str().unwrap()),
        "{listed}"
    );
    // The same source comes back with the key: no password asked.
    let key_arg = key.to_str().unwrap();
    let back = ssh(
        &sensor,
        "no-password-needed",
        &[
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "PubkeyAuthentication=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            key_arg,
        ],
        &["echo back in"],
        b"",
    );
    assert_eq!(
        back.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    assert_eq!(back.stdout, b"back in\n");
}
