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
    // Written beside the reading: a client whose output is not read stops reading
    // its input.
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The remote command may end before it read everything.
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Uploads `file` with OpenSSH's `scp -O` (the scp protocol, not SFTP) to
/// `target` on the sensor.
pub fn scp(sensor: &Sensor, password: &str, file: &Path, target: &str) -> Output {
    let addr = sensor.ssh.unwrap();
    let dir = sensor.data_dir.path();
    Command::new("scp")
        .args(["-O", "-F", "/dev/null", "-q"])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "LogLevel=ERROR"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-P", &addr.port().to_string()])
        .arg(file)
        .arg(format!("root@127.0.0.1:{target}"))
        .env("SSH_ASKPASS", askpass(dir, password))
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .expect("scp (Debian's openssh-client, installed by scripts/test)")
}
