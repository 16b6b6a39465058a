//! The SSH door against the real OpenSSH client (Debian's `openssh-client`, which
//! `scripts/test` installs): every algorithm it shares with the profile's Dropbear,
//! `exec` with its output and exit status, a pty shell, a wrong password, the
//! password a source got in with over Telnet, a client that rekeys (past its 64 KiB
//! limit) in the middle of two megabytes of output, and the events.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::Write;
use std::process::{Command, Stdio};

use util::openssh::{scp, ssh};
use util::{test_config, Sensor};

fn start() -> Sensor {
    Sensor::start_ssh(&test_config("oracle", "", ""))
}

/// OpenSSH with its kex, host key, cipher and MAC pinned, running `command`: its
/// output, and a label with what it said on stderr.
fn pinned(
    sensor: &Sensor,
    [kex, key, cipher, mac]: [&str; 4],
    command: &str,
    stdin: &[u8],
) -> (std::process::Output, String) {
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
    let out = ssh(sensor, "xc3511", &options, &[command], stdin);
    let what = format!(
        "{kex} {key} {cipher} {mac}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, what)
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
        (
            "curve25519-sha256",
            "rsa-sha2-256",
            "aes128-ctr",
            "hmac-sha2-256",
        ),
        ("ecdh-sha2-nistp256", "ssh-rsa", "aes256-ctr", "hmac-sha1"),
    ] {
        let (out, what) = pinned(
            &sensor,
            [kex, key, cipher, mac],
            "echo hello; uname -m; exit 3",
            b"",
        );
        assert_eq!(out.status.code(), Some(3), "{what}");
        assert_eq!(out.stdout, b"hello\nx86_64\n", "{what}");
    }
    let events = sensor.wait_for_events("ten logins", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 10
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
    // The read side (after a stop has flushed the database): each session's door and
    // client, and the report's SSH tables.
    let (dir, _) = sensor.stop();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let hassh = first[2]["hassh"].as_str().unwrap();
    let version = first[1]["version"].as_str().unwrap();
    let listed = cli(&["sessions"]);
    assert_eq!(listed.lines().count(), 10, "{listed}");
    let hashes: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.client.kex")
        .map(|e| e["hassh"].as_str().unwrap())
        .collect();
    for line in listed.lines() {
        assert!(line.contains(" ssh "), "{line}");
        assert!(line.contains(&format!(" client=\"{version}\" ")), "{line}");
        let shown = line.split(" hassh=").nth(1).unwrap();
        assert!(hashes.contains(shown), "{line}");
    }
    let report: serde_json::Value = serde_json::from_str(&cli(&["report", "--json"])).unwrap();
    assert_eq!(report["ssh_clients"][0]["value"], version);
    assert_eq!(report["ssh_clients"][0]["count"], 10);
    assert!(report["hassh"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["value"] == hassh));
    let text = cli(&["report"]);
    assert!(text.contains("SSH HASSH") && text.contains(hassh), "{text}");
    // One session's story, and the indicators an export hands on.
    let session = first[0]["session"].as_str().unwrap();
    let shown = cli(&["show", session]);
    let (listed_events, transcript) = shown.split_once("# transcript\n").unwrap();
    assert_eq!(listed_events.lines().count(), 1 + first.len(), "{shown}");
    let lines: Vec<&str> = transcript.lines().collect();
    let at = |i: usize| first[i]["timestamp"].as_str().unwrap();
    let port = first[0]["src_port"].as_u64().unwrap();
    assert_eq!(
        lines[..5],
        [
            format!("{} connect from 127.0.0.1:{port} over ssh", at(0)),
            format!("{} client \"{version}\"", at(1)),
            format!("{} hassh {hassh}", at(2)),
            format!("{} login root/xc3511 accepted", at(3)),
            format!("{} $ echo hello; uname -m; exit 3", at(4)),
        ],
        "{shown}"
    );
    // The export: the source (loopback, kept only when asked), seen ten times.
    let csv = cli(&["export", "--format", "csv", "--include-private"]);
    let ip_row: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("ip,"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(ip_row[..2], ["ip", "127.0.0.1"], "{csv}");
    assert_eq!(ip_row[4], "10", "{csv}");
    assert_eq!(
        cli(&["export", "--format", "ips"]),
        "",
        "loopback is no blocklist entry"
    );
}

#[test]
fn openssh_negotiates_the_cameras_older_cbc_3des_and_hmac_sha1_96() {
    // The camera's Dropbear 2019.78 still offers CBC, triple DES and the truncated
    // HMAC; OpenSSH speaks them when asked.
    let sensor = Sensor::start_ssh(&test_config("ipcam-mipsel", "", ""));
    for (kex, key, cipher, mac) in [
        (
            "curve25519-sha256",
            "ecdsa-sha2-nistp256",
            "aes128-cbc",
            "hmac-sha1-96",
        ),
        (
            "diffie-hellman-group14-sha1",
            "ssh-rsa",
            "aes256-cbc",
            "hmac-sha1",
        ),
        (
            "ecdh-sha2-nistp256",
            "ecdsa-sha2-nistp256",
            "3des-cbc",
            "hmac-sha1-96",
        ),
        ("curve25519-sha256", "ssh-rsa", "3des-cbc", "hmac-sha2-256"),
    ] {
        // Enough output for many packets each way of the chain.
        let (out, what) = pinned(
            &sensor,
            [kex, key, cipher, mac],
            "cat; exit 4",
            &[b'z'; 50_000],
        );
        assert_eq!(out.status.code(), Some(4), "{what}");
        assert_eq!(out.stdout, vec![b'z'; 50_000], "{what}");
    }
}

#[test]
fn putty_speaks_the_cameras_3des_ctr() {
    // No OpenSSH, paramiko, asyncssh, libssh2 or Go client has triple DES in counter
    // mode; PuTTY does, and prefers it to CBC.
    let sensor = Sensor::start_ssh(&test_config("ipcam-mipsel", "", ""));
    let addr = sensor.ssh.unwrap();
    // The sensor's host keys, as a client that pins them needs their fingerprints.
    let scan = Command::new("ssh-keyscan")
        .args(["-p", &addr.port().to_string(), "127.0.0.1"])
        .output()
        .expect("ssh-keyscan (Debian's openssh-client)");
    let mut listed = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    listed
        .stdin
        .take()
        .unwrap()
        .write_all(&scan.stdout)
        .unwrap();
    let listed = String::from_utf8(listed.wait_with_output().unwrap().stdout).unwrap();
    let fingerprints: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(!fingerprints.is_empty(), "{listed}");
    // A saved session is how PuTTY is told its ciphers: triple DES first.
    let home = tempfile::tempdir().unwrap();
    let sessions = home.path().join(".putty/sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::write(
        sessions.join("camera"),
        "Cipher=3des,WARN,aes,chacha20,aesgcm,blowfish,des,arcfour\n",
    )
    .unwrap();
    let mut plink = Command::new("plink");
    plink
        .env("HOME", home.path())
        .args(["-load", "camera", "-batch", "-v", "-ssh"])
        .args([
            "-P",
            &addr.port().to_string(),
            "-l",
            "root",
            "-pw",
            "xc3511",
        ]);
    for fingerprint in &fingerprints {
        plink.args(["-hostkey", fingerprint]);
    }
    let mut child = plink
        .args(["127.0.0.1", "cat; echo 3des-$((6*7)); exit 4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plink (Debian's putty-tools; scripts/test installs it)");
    let mut stdin = child.stdin.take().unwrap();
    // Enough for many packets of the chain each way.
    stdin.write_all(&[b'z'; 50_000]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("Initialised triple-DES SDCTR outbound encryption")
            && said.contains("Initialised triple-DES SDCTR inbound encryption"),
        "{said}"
    );
    let mut expected = vec![b'z'; 50_000];
    expected.extend_from_slice(b"3des-42\n");
    assert_eq!(out.stdout, expected, "{said}");
    assert_eq!(out.status.code(), Some(4), "{said}");
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
    // The login shell's `exit 4` is the channel's exit-status, as Dropbear sends it.
    assert_eq!(out.status.code(), Some(4), "{stdout}");
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
    // Only the session that got a terminal left a recording (of the terminal, as the
    // client saw it decrypted); the refused one left no files.
    let (dir, _) = sensor.stop();
    let casts: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path().join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cast"))
        .collect();
    assert_eq!(casts.len(), 1, "{casts:?}");
    let cast = std::fs::read_to_string(&casts[0]).unwrap();
    assert!(cast.contains("pty-42"), "{cast}");
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
fn a_source_that_got_in_over_telnet_gets_in_over_ssh_with_that_password_only() {
    let sensor = start();
    let step = std::time::Duration::from_secs(10);
    // 127.0.0.1's first accepted credential, over Telnet, is root:xc3511: on a
    // device that is the password, whichever door asks for it.
    let mut telnet = sensor.connect();
    telnet.login();
    let refused = ssh(&sensor, "vizxv", &[], &["echo in"], b"");
    assert_eq!(
        refused.status.code(),
        Some(255),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let admitted = ssh(&sensor, "xc3511", &[], &["echo in"], b"");
    assert_eq!(
        admitted.stdout,
        b"in\n",
        "{}",
        String::from_utf8_lossy(&admitted.stderr)
    );
    // vizxv is one of the accepted ones: a source new to the sensor gets in with it.
    let mut other = sensor.connect_from("127.0.0.2".parse().unwrap());
    other.read_until(b"login: ", step);
    other.send(b"root\r\n");
    other.read_until(b"Password: ", step);
    other.send(b"vizxv\r\n");
    other.read_until(b"# ", step);
    sensor.wait_for_events("both doors' logins", |e| {
        let login = |id: &str, protocol: &str, password: &str| {
            e.iter().any(|e| {
                e["eventid"] == id
                    && e["protocol"] == protocol
                    && e["password"] == password
                    && e["src_ip"] == "127.0.0.1"
            })
        };
        login("cowrie.login.success", "telnet", "xc3511")
            && login("cowrie.login.failed", "ssh", "vizxv")
            && login("cowrie.login.success", "ssh", "xc3511")
    });
}

#[test]
fn a_key_planted_over_ssh_is_recorded_and_then_lets_its_owner_in() {
    // Outlaw's kind of key (its mdrfckr comment), and an RSA one as RapperBot plants.
    planted_key_comes_back("ed25519", "mdrfckr", "ssh-ed25519", Some("outlaw"));
    planted_key_comes_back("rsa", "helloworld", "ssh-rsa", None);
}

fn planted_key_comes_back(kind: &str, comment: &str, key_type: &str, family: Option<&str>) {
    let sensor = start();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("bot_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", comment, "-f"])
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
    // The key (stored as the session ends), then the session's label and end.
    let events = sensor.wait_for_events("the planted key and the session's end", |e| {
        e.iter()
            .any(|e| e["eventid"] == "busybait.persistence.ssh_key")
            && e.iter().any(|e| e["eventid"] == "cowrie.session.closed")
    });
    let planted = events
        .iter()
        .find(|e| e["eventid"] == "busybait.persistence.ssh_key")
        .unwrap();
    assert_eq!(planted["path"], "/root/.ssh/authorized_keys");
    assert_eq!(planted["type"], key_type);
    assert_eq!(planted["comment"], comment);
    if let Some(expected) = family {
        let family = events
            .iter()
            .find(|e| e["eventid"] == "busybait.session.family")
            .unwrap();
        assert_eq!(family["family"], expected);
    }
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
    // The second session: its offered key, then its login without a password; the
    // first: the planting, in `show`'s transcript.
    let events = sensor.wait_for_events("the key's login", |e| {
        e.iter().any(|e| {
            e["eventid"] == "cowrie.login.success" && e["password"] == "" && e["protocol"] == "ssh"
        })
    });
    let fingerprint = planted["fingerprint_sha256"].as_str().unwrap();
    assert!(events
        .iter()
        .any(|e| e["eventid"] == "cowrie.client.fingerprint"
            && e["fingerprint_sha256"] == fingerprint
            && e["type"] == key_type));
    let (dir, _) = sensor.stop();
    let shown = util::cli(dir.path(), &["show", planted["session"].as_str().unwrap()]);
    let shown = String::from_utf8(shown).unwrap();
    assert!(
        shown.contains(&format!(
            " key planted in /root/.ssh/authorized_keys: {key_type} {fingerprint} {comment}\n"
        )),
        "{shown}"
    );
}

#[test]
fn openssh_with_compression_gets_zlib_at_openssh_com_through_a_rekey() {
    let sensor = start();
    let out = ssh(
        &sensor,
        "xc3511",
        &[
            "-v",
            "-C",
            "-o",
            // Small enough that the client's own packets cross it during the
            // session: the output streams compressed under new keys, which start
            // a new zlib stream (as OpenSSH and Dropbear do).
            "RekeyLimit=1K",
            "-o",
            "Ciphers=aes128-ctr",
        ],
        &["cat /bin/busybox | head -c 300000; echo; echo compressed-ok; exit 4"],
        b"",
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{log}");
    assert!(log.contains("compression: zlib@openssh.com"), "{log}");
    assert!(log.matches("SSH2_MSG_KEXINIT sent").count() >= 3, "{log}");
    assert_eq!(out.stdout.len(), 300_000 + 1 + "compressed-ok\n".len());
    assert!(out.stdout.ends_with(b"\ncompressed-ok\n"));
}

/// A synthetic MIPS ELF of `len` bytes (a header and a counting pattern: no code).
fn synthetic_elf(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x08\0".to_vec();
    bytes.extend((0..len - bytes.len()).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn uploads_through_exec_stdin_and_scp_become_samples() {
    let sensor = Sensor::start_ssh(&test_config("ipcam-mipsel", "", ""));
    // `cat > file` reading the channel: 200 KB through the camera's 24,576-byte
    // window, the pipe letting the client on only as the shell reads.
    let piped = synthetic_elf(200_000, 1);
    let out = ssh(
        &sensor,
        "xc3511",
        &[],
        &["cat > /tmp/.p; chmod +x /tmp/.p; wc -c < /tmp/.p"],
        &piped,
    );
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(0), "200000\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `scp -O`: the camera's Dropbear has scp.
    let uploaded = synthetic_elf(70_000, 2);
    let file = sensor.data_dir.path().join("mips.bot");
    std::fs::write(&file, &uploaded).unwrap();
    let out = scp(&sensor, "xc3511", &file, "/tmp/");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = sensor.wait_for_events("both files stored", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 2
    });
    let stored: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| {
            e["eventid"] == "cowrie.session.file_download"
                || e["eventid"] == "cowrie.session.file_upload"
        })
        .map(|e| {
            (
                e["eventid"].as_str().unwrap(),
                e["destfile"].as_str().unwrap(),
                e["shasum"].as_str().unwrap(),
            )
        })
        .collect();
    let (piped_sha, uploaded_sha) = (sha256_hex(&piped), sha256_hex(&uploaded));
    assert_eq!(
        stored,
        [
            (
                "cowrie.session.file_download",
                "/tmp/.p",
                piped_sha.as_str()
            ),
            (
                "cowrie.session.file_upload",
                "/tmp/mips.bot",
                uploaded_sha.as_str()
            ),
        ]
    );
    let upload = events
        .iter()
        .find(|e| e["eventid"] == "cowrie.session.file_upload")
        .unwrap();
    assert_eq!(upload["filename"], "mips.bot");
    assert_eq!(upload["protocol"], "ssh");
    for (sha, bytes) in [(&piped_sha, &piped), (&uploaded_sha, &uploaded)] {
        let sample = sensor.data_dir.path().join("samples").join(sha);
        assert_eq!(&std::fs::read(&sample).unwrap(), bytes, "kept whole");
    }
}
