//! Test harness: starts the real `busybait serve` on 127.0.0.1:0 with a temp data dir
//! and drives it over TCP (the shape of ripgrep's `tests/util.rs`).

#![allow(dead_code)]

pub mod browser;
pub mod conn;
pub mod corpus;
pub mod dropbear;
pub mod fleet;
pub mod mirai;
pub mod openssh;
pub mod oracle;
pub mod web;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's test data (`testdata/`, each folder with its provenance).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The Mirai credential table, from the test data (read apart from the copy the
/// sensor embeds, so that a change to one is noticed).
pub fn mirai_credentials() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(testdata().join("credentials/mirai-credentials.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| {
            let mut f = l.split('\t');
            (
                f.next().unwrap().to_string(),
                f.next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A running sensor.
pub struct Sensor {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The SSH listener, for sensors started with one.
    pub ssh: Option<SocketAddr>,
    /// The HTTP listener, for sensors started with one.
    pub http: Option<SocketAddr>,
    /// The metrics listener, if the config has one.
    pub metrics: Option<SocketAddr>,
    /// The console, for sensors started with one.
    pub web: Option<SocketAddr>,
    pub data_dir: tempfile::TempDir,
    stderr: PathBuf,
    /// The sensor's data dir as this process sees it (through `/proc/PID/root` when
    /// the sensor has its own mount namespace).
    pub view: PathBuf,
}

/// Config text with test-shortened timings; `extra` is appended inside `[limits]`.
pub fn test_config(profile: &str, limits_extra: &str, auth_extra: &str) -> String {
    format!(
        "profile = \"{profile}\"\n\
         [limits]\n\
         failed_login_delay = \"200ms\"\n\
         tftp_timeout = \"100ms\"\n\
         {limits_extra}\n\
         [auth]\n\
         {auth_extra}\n\
         [store]\n\
         fsync_interval = \"50ms\"\n"
    )
}

/// Puts the tests' RSA-2048 host key where a sensor looks for its own, unless one
/// is there: making one takes seconds in a debug build, and every SSH test sensor
/// would. The ed25519 and ECDSA keys are made by the sensor (milliseconds).
fn pregenerated_rsa_host_key(data_path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let pem = include_str!("../../../ssh/testdata/rsa2048.pem");
    std::fs::create_dir_all(data_path).unwrap();
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(data_path.join("ssh_host_rsa_key.pem"));
    match opened {
        Ok(mut file) => file.write_all(pem.as_bytes()).unwrap(),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("writing the test RSA host key: {e}"),
    }
}

impl Sensor {
    pub fn start(profile: &str) -> Self {
        Self::start_with(&test_config(profile, "", ""))
    }

    /// A sensor with an SSH listener too (the config names a profile with SSH).
    pub fn start_ssh(config: &str) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().to_path_buf();
        let mut command = Command::new(env!("CARGO_BIN_EXE_busybait"));
        command.args(["serve", "--ssh", "127.0.0.1:0"]);
        Self::spawn(data_dir, path, config, command, "127.0.0.1:0")
    }

    /// A sensor with an HTTP listener too (the config names a profile with a web
    /// server).
    pub fn start_http(config: &str) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().to_path_buf();
        let mut command = Command::new(env!("CARGO_BIN_EXE_busybait"));
        command.args(["serve", "--http", "127.0.0.1:0"]);
        Self::spawn(data_dir, path, config, command, "127.0.0.1:0")
    }

    /// A sensor serving the console too (`serve --web 127.0.0.1:0`).
    pub fn start_web(config: &str) -> Self {
        Self::start_web_env(config, &[])
    }

    /// A sensor with an HTTP door and the console (the config names a profile
    /// with a web server).
    pub fn start_http_web(config: &str) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().to_path_buf();
        let mut command = Command::new(env!("CARGO_BIN_EXE_busybait"));
        command.args(["serve", "--http", "127.0.0.1:0", "--web", "127.0.0.1:0"]);
        Self::spawn(data_dir, path, config, command, "127.0.0.1:0")
    }

    /// [`Sensor::start_web`] with these environment variables.
    pub fn start_web_env(config: &str, env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().to_path_buf();
        let mut command = Command::new(env!("CARGO_BIN_EXE_busybait"));
        command.envs(env.iter().copied());
        command.args(["serve", "--web", "127.0.0.1:0"]);
        Self::spawn(data_dir, path, config, command, "127.0.0.1:0")
    }

    pub fn start_with(config: &str) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        Self::start_in(data_dir, config)
    }

    /// Starts a sensor on an existing data dir (for restart tests).
    pub fn start_in(data_dir: tempfile::TempDir, config: &str) -> Self {
        let path = data_dir.path().to_path_buf();
        Self::spawn(
            data_dir,
            path,
            config,
            Command::new(env!("CARGO_BIN_EXE_busybait")),
            "127.0.0.1:0",
        )
    }

    /// Starts a sensor listening on `listen` (a fixed port, e.g. telnet's own 23
    /// inside a network namespace of the test's).
    pub fn start_listening(listen: &str, config: &str) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().to_path_buf();
        let command = Command::new(env!("CARGO_BIN_EXE_busybait"));
        Self::spawn(data_dir, path, config, command, listen)
    }

    /// Starts a sensor whose data dir is a tmpfs of `size_bytes` mounted in a mount
    /// namespace of its own (a disk that can fill up without touching the host's).
    /// Its files vanish with the process: read them through `view` while it runs.
    pub fn start_on_tmpfs(config: &str, size_bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o "size=$1" busybait-test "$2" && shift 2 && exec "$@""#)
            .arg("sh")
            .arg(size_bytes.to_string())
            .arg(&data)
            .arg(env!("CARGO_BIN_EXE_busybait"));
        let mut sensor = Self::spawn(dir, data.clone(), config, cmd, "127.0.0.1:0");
        sensor.view = PathBuf::from(format!("/proc/{}/root", sensor.pid()))
            .join(data.strip_prefix("/").unwrap());
        sensor
    }

    /// Runs `command serve ...` with the config and stderr in `data_dir` and the data
    /// in `data_path`.
    fn spawn(
        data_dir: tempfile::TempDir,
        data_path: PathBuf,
        config: &str,
        mut command: Command,
        listen: &str,
    ) -> Self {
        let config_path = data_dir.path().join("test-config.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr = data_dir.path().join("stderr.log");
        let with_ssh = command.get_args().any(|a| a == "--ssh");
        if with_ssh {
            pregenerated_rsa_host_key(&data_path);
        }
        let with_http = command.get_args().any(|a| a == "--http");
        let with_web = command.get_args().any(|a| a == "--web");
        if !with_ssh && !with_http && !with_web {
            command.arg("serve");
        }
        let mut child = command
            .args(["--telnet", listen, "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(&data_path)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut metrics = None;
        if let Some(m) = line.strip_prefix("listening metrics ") {
            metrics = Some(m.trim().parse().unwrap());
            line.clear();
            reader.read_line(&mut line).unwrap();
        }
        let addr = line
            .strip_prefix("listening telnet ")
            .unwrap_or_else(|| {
                panic!(
                    "sensor did not start: {line:?}\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            })
            .trim()
            .parse()
            .unwrap();
        let ssh = with_ssh.then(|| {
            line.clear();
            reader.read_line(&mut line).unwrap();
            line.strip_prefix("listening ssh ")
                .unwrap_or_else(|| panic!("no SSH listener: {line:?}"))
                .trim()
                .parse()
                .unwrap()
        });
        let http = with_http.then(|| {
            line.clear();
            reader.read_line(&mut line).unwrap();
            line.strip_prefix("listening http ")
                .unwrap_or_else(|| panic!("no HTTP listener: {line:?}"))
                .trim()
                .parse()
                .unwrap()
        });
        let web = with_web.then(|| {
            line.clear();
            reader.read_line(&mut line).unwrap();
            line.strip_prefix("listening web ")
                .unwrap_or_else(|| panic!("no console: {line:?}"))
                .trim()
                .parse()
                .unwrap()
        });
        Self {
            child: Some(child),
            addr,
            ssh,
            http,
            metrics,
            web,
            data_dir,
            stderr,
            view: data_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Connects from `src` (any 127.0.0.0/8 address).
    pub fn connect_from(&self, src: IpAddr) -> Client {
        Client::connect(self.addr, src)
    }

    pub fn connect(&self) -> Client {
        self.connect_from("127.0.0.1".parse().unwrap())
    }

    /// SIGTERM and wait; returns the stderr log.
    pub fn stop(mut self) -> (tempfile::TempDir, String) {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(status.success(), "sensor exited with {status}: {log}");
        let dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        (dir, log)
    }

    /// SIGKILL and wait.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "KILL");
        child.wait().unwrap();
        std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap())
    }

    /// A Mirai scanner login from 127.0.0.2 (an address no load in the tests uses)
    /// that must succeed: proof that the sensor still serves others.
    pub fn well_behaved(&self) {
        let src: IpAddr = "127.0.0.2".parse().unwrap();
        let a = mirai::scanner(
            tcp_from(self.addr, src).unwrap(),
            "root",
            "xc3511",
            Duration::from_secs(10),
        );
        assert_eq!(
            a.outcome,
            mirai::Outcome::Success,
            "{:?}",
            String::from_utf8_lossy(&a.transcript)
        );
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The JSON lines written so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        read_events(&self.view)
    }

    /// What the sensor has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Polls the sensor's log until it says `line` (its tasks log asynchronously).
    pub fn wait_for_log(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(line) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {line:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls the event log until `pred` holds (the sensor writes asynchronously).
    pub fn wait_for_events(
        &self,
        what: &str,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.events();
            if pred(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; have {} events",
                events.len()
            );
            std::thread::yield_now();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Every event line of the data dir: rotated files (gzipped or not) oldest first,
/// then the live `events.jsonl`.
pub fn read_events(dir: &Path) -> Vec<serde_json::Value> {
    // A file the compressor is replacing can vanish between listing and opening.
    let mut bytes = Vec::new();
    for _ in 0..20 {
        match busybait_store::rotate::read_all(dir, "events.jsonl") {
            Ok(b) => {
                bytes = b;
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A blocking telnet client with a read buffer and timeouts.
pub struct Client {
    pub stream: TcpStream,
    pub received: Vec<u8>,
}

/// Binds to `src` before connecting, so per-address limits see distinct sources.
pub fn tcp_from(addr: SocketAddr, src: IpAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.bind(&SocketAddr::new(src, 0).into())?;
    sock.connect(&addr.into())?;
    // Bots write small pieces; Nagle would delay them behind delayed ACKs.
    sock.set_tcp_nodelay(true)?;
    Ok(sock.into())
}

impl Client {
    pub fn connect(addr: SocketAddr, src: IpAddr) -> Self {
        let stream = tcp_from(addr, src).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            received: Vec::new(),
        }
    }

    /// Logs in with the oracle's account and waits for the shell prompt.
    pub fn login(&mut self) {
        let step = Duration::from_secs(10);
        self.read_until(b"login: ", step);
        self.send(b"root\r\n");
        self.read_until(b"Password: ", step);
        self.send(b"xc3511\r\n");
        self.read_until(b"# ", step);
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads until `needle` appears in everything received; returns what came up to
    /// and including it, and keeps the rest.
    pub fn read_until(&mut self, needle: &[u8], timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        // Each read looks only at what it added (and a needle's length before it):
        // searching all of a 2 MB answer after every 4 KiB read took seconds.
        let mut searched: usize = 0;
        loop {
            let from = searched.saturating_sub(needle.len());
            if let Some(i) = find(&self.received[from..], needle).map(|i| i + from) {
                let rest = self.received.split_off(i + needle.len());
                return std::mem::replace(&mut self.received, rest);
            }
            searched = self.received.len();
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.received)
            );
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => panic!(
                    "connection closed waiting for {:?}; got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.received)
                ),
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("read error: {e}"),
            }
        }
    }

    /// Reads until the server closes the connection; returns everything.
    pub fn read_to_close(&mut self, timeout: Duration) -> Vec<u8> {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return std::mem::take(&mut self.received),
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return std::mem::take(&mut self.received)
                }
                Err(e) => panic!(
                    "waiting for close: {e}; got {:?}",
                    String::from_utf8_lossy(&self.received)
                ),
            }
        }
    }
}

/// The `(id, src)` of each alert in one file's `watch --json` report.
pub fn alerts(file: &serde_json::Value) -> Vec<(String, String)> {
    file["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["src"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A distinct loopback source address for index `i`.
pub fn source(i: usize) -> IpAddr {
    let i = i + 2;
    IpAddr::from([127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

/// Runs the OASIS `stix2_validator --strict` (installed by `scripts/test`) on a bundle;
/// `Err` carries its report. Panics if the validator is missing.
pub fn stix_validate(bundle: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, bundle).unwrap();
    let out = Command::new("stix2_validator")
        .args(["--strict", "--version", "2.1"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("stix2_validator is needed (./scripts/test installs it from PyPI): {e}")
        });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !report.contains("Cannot locate a schema"),
        "stix2_validator has no schemas (scripts/test copies them in): {report}"
    );
    if out.status.success() && report.contains("[+] STIX JSON: Valid") {
        Ok(())
    } else {
        Err(report)
    }
}

/// Loads a MISP event with `pymisp.MISPEvent().load` (installed by `scripts/test`),
/// warnings as errors; returns its `[type, value]` attributes, its objects'
/// `[name, relation, type, value]` attributes and its tag names, each sorted.
pub fn misp_load(event: &str) -> (Vec<Vec<String>>, Vec<Vec<String>>, Vec<String>) {
    use std::io::Write as _;
    const SCRIPT: &str = r#"
import json, logging, sys, warnings
warnings.simplefilter("error")
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from pymisp import MISPEvent
e = MISPEvent()
e.load(sys.stdin.read())
print(json.dumps(sorted([a.type, a.value] for a in e.attributes)))
print(json.dumps(sorted([o.name, a.object_relation, a.type, a.value] for o in e.objects for a in o.attributes)))
print(json.dumps(sorted(t.name for t in e.tags)))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the MISP test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'pymisp'"),
        "pymisp is needed (./scripts/test installs it from PyPI)"
    );
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "pymisp: {stderr}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let mut next = || lines.next().unwrap().to_string();
    (
        serde_json::from_str(&next()).unwrap(),
        serde_json::from_str(&next()).unwrap(),
        serde_json::from_str(&next()).unwrap(),
    )
}

/// A synthetic downloader: an ELF header for `arch` and filler (no real code).
pub fn synthetic_elf(class_data_machine: (u8, u8, u16), len: usize) -> Vec<u8> {
    let (class, data, machine) = class_data_machine;
    let mut v = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
    v.resize(16, 0);
    let m = if data == 1 {
        machine.to_le_bytes()
    } else {
        machine.to_be_bytes()
    };
    v.extend_from_slice(&[
        if data == 1 { 2 } else { 0 },
        if data == 1 { 0 } else { 2 },
        m[0],
        m[1],
    ]);
    while v.len() < len {
        v.push((v.len() * 7 % 251) as u8);
    }
    v
}

/// SHA-256 in lower-case hex, as samples are named.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A loopback HTTP server (the only kind of host a test lets the sensor fetch from) on
/// each of `listeners`: answers from `routes` and reports every `address path` it saw.
pub fn http_server(
    listeners: Vec<std::net::TcpListener>,
    routes: Vec<(String, Vec<u8>)>,
) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader, Write};
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let routes = std::sync::Arc::new(routes);
    for listener in listeners {
        let (seen_tx, routes) = (seen_tx.clone(), routes.clone());
        std::thread::spawn(move || {
            let local = listener.local_addr().unwrap().ip();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                }
                let path = request.split(' ').nth(1).unwrap_or("").to_string();
                let _ = seen_tx.send(format!("{local} {path}"));
                let response = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) if body.starts_with(b"REDIRECT ") => {
                        let to = String::from_utf8_lossy(&body[9..]).into_owned();
                        format!("HTTP/1.0 302 Found\r\nLocation: {to}\r\n\r\n").into_bytes()
                    }
                    Some((_, body)) => {
                        let mut r =
                            format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                };
                stream.write_all(&response).unwrap();
            }
        });
    }
    seen_rx
}

/// Runs `busybait ARGS --data-dir DIR`, which must succeed; its stdout.
pub fn cli(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `promtool check metrics` on a scrape (scripts/test takes promtool out of Debian's
/// prometheus package).
pub fn promtool_check(body: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed (./scripts/test takes it out of Debian's prometheus package): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET path` on the metrics listener: the status line and the body.
pub fn scrape(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of an unlabelled metric in a scrape's body.
pub fn metric(body: &str, name: &str) -> Option<u64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A child process whose stdout is read line by line; killed when dropped.
pub struct Process {
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Process {
    /// Spawns `command` (its stdout must be piped).
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdout }
    }

    /// The next line it prints (empty at its end).
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA (`ca.pem`) and a server certificate for 127.0.0.1 signed by it
/// (`server.pem`, `server-key.pem`) in `dir`, made by rcgen for this test only.
pub fn test_certificates(dir: &Path) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "busybait test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
}

/// Writes the GeoIP test databases (`make_mmdb.py`) into `dir` (`moved`: a later
/// edition).
pub fn geoip_databases(dir: &Path, moved: bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/util/make_mmdb.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(dir);
    if moved {
        cmd.arg("moved");
    }
    let out = cmd.output().expect("python3 is needed");
    assert!(
        out.status.success(),
        "writing the test databases (./scripts/test installs mmdb-writer into its venv): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
