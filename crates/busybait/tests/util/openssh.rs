//! The OpenSSH client (Debian's `openssh-client`, installed by `scripts/test`) run
//! against a sensor's SSH listener on 127.0.0.1, with the password from an
//! `SSH_ASKPASS` program.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::Sensor;

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
pub fn ssh(
    sensor: &Sensor,
    password: &str,
    options: &[&str],
    args: &[&str],
    stdin: &[u8],
) -> Output {
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
