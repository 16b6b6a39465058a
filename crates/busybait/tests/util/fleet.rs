//! The fleet's real engines, started by the tests: Debian's `nats-server` 2.9.10 with
//! JetStream and PostgreSQL 15, each on 127.0.0.1 with a free port in a temporary
//! directory, stopped when dropped. PostgreSQL runs as the `postgres` user when the
//! tests run as root (it refuses root). `scripts/test` installs both.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NATS_SERVER: &str = "/usr/sbin/nats-server";

fn require(path: &Path, package: &str) {
    assert!(
        path.exists(),
        "{} is missing: install Debian's {package} package (scripts/test does)",
        path.display()
    );
}

/// A free TCP port on 127.0.0.1 (free when this returns; the engines bind it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `file` until a line holds `needle`; returns that line.
fn wait_for_line(file: &Path, needle: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start: no {needle:?} in its log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One JetStream-enabled `nats-server`.
pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Nats {
    /// A single server with the repository's `packaging/nats/authorization.conf`
    /// included, the passwords it reads from the environment set to `passwords`
    /// (variable, value).
    pub fn start_with_authorization(passwords: &[(&str, &str)]) -> Self {
        let mut nats = Self::prepare("include ./authorization.conf");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/nats/authorization.conf"),
            nats.dir.path().join("authorization.conf"),
        )
        .unwrap();
        nats.env = passwords
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        nats.run();
        nats
    }

    /// A single server with `extra` appended to its config.
    pub fn start_with(extra: &str) -> Self {
        let mut nats = Self::prepare(extra);
        nats.run();
        nats
    }

    fn prepare(extra: &str) -> Self {
        let port = free_port();
        Self::prepare_at(port, extra, &format!("test_{port}"))
    }

    /// A server's config and directory, not started yet.
    fn prepare_at(port: u16, extra: &str, name: &str) -> Self {
        require(Path::new(NATS_SERVER), "nats-server");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("nats.conf");
        let store = dir.path().join("jetstream");
        std::fs::write(
            &config,
            format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\n\
                 jetstream {{ store_dir: {:?} }}\n{extra}\n",
                store.display().to_string()
            ),
        )
        .unwrap();
        let log = dir.path().join("nats.log");
        Self {
            child: None,
            port,
            dir,
            config,
            log,
            env: Vec::new(),
        }
    }

    pub fn start() -> Self {
        Self::start_with("")
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        self.spawn();
    }

    /// Starts the server (again: same port, same store) and waits until it is ready.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.log);
        let child = Command::new(NATS_SERVER)
            .arg("-c")
            .arg(&self.config)
            .arg("-l")
            .arg(&self.log)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_line(&self.log, "Server is ready", "nats-server");
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server as an operator does (SIGTERM) and waits for it.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            super::signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }

    /// Kills the server (SIGKILL): clients see it vanish.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn postgres_bin(name: &str) -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            versions
                .filter_map(Result::ok)
                .map(|v| v.path().join("bin").join(name))
                .find(|p| p.exists())
        });
    found.unwrap_or_else(|| {
        panic!("PostgreSQL's {name} is missing: install Debian's postgresql package (scripts/test does)")
    })
}

/// Runs `program` as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_postgres(program: &Path) -> Command {
    if rustix::process::geteuid().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A PostgreSQL server with a database `fleet`, owned by the superuser `busybait`
/// (trust authentication on loopback: the test's own throwaway cluster).
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Postgres {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A server that takes TLS connections only (`hostssl`), with the certificate
    /// and key `util::test_certificates` wrote into `certs`.
    pub fn start_tls(certs: &Path) -> Self {
        Self::start_with(Some(certs))
    }

    fn start_with(certs: Option<&Path>) -> Self {
        let initdb = postgres_bin("initdb");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if rustix::process::geteuid().is_root() {
            // The postgres user must reach and own its directory.
            let ok = Command::new("chmod")
                .arg("755")
                .arg(dir.path())
                .status()
                .unwrap()
                .success()
                && Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path())
                    .status()
                    .unwrap()
                    .success();
            assert!(
                ok,
                "cannot hand {} to the postgres user",
                dir.path().display()
            );
        }
        let out = as_postgres(&initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "busybait",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(certs) = certs {
            for (from, to) in [
                ("server.pem", "server.pem"),
                ("server-key.pem", "server-key.pem"),
            ] {
                std::fs::copy(certs.join(from), data.join(to)).unwrap();
            }
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .unwrap();
            std::io::Write::write_all(
                &mut conf,
                b"ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server-key.pem'\n",
            )
            .unwrap();
            // TLS or nothing over TCP; the socket stays for pg_ctl.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            let mut ok = Command::new("chmod")
                .arg("600")
                .arg(data.join("server-key.pem"))
                .status()
                .unwrap()
                .success();
            if rustix::process::geteuid().is_root() {
                ok &= Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&data)
                    .status()
                    .unwrap()
                    .success();
            }
            assert!(ok, "cannot hand the server's key to the postgres user");
        }
        let pg = Self {
            port: free_port(),
            dir,
            data,
        };
        pg.pg_ctl("start");
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "busybait",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE fleet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "creating the database failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    fn pg_ctl(&self, action: &str) {
        let log = self.dir.path().join("postgres.log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = as_postgres(&postgres_bin("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-m", "fast", "-o", &options, action])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {action} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops and starts the server (what a restart of the fleet's database looks like).
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    pub fn url(&self) -> String {
        format!("postgres://busybait@127.0.0.1:{}/fleet", self.port)
    }

    /// One query's rows through `psql` (unaligned, `|` between fields).
    pub fn query(&self, sql: &str) -> Vec<String> {
        self.query_as("busybait", sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The fleet database's URL for another role.
    pub fn url_as(&self, role: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{}/fleet", self.port)
    }

    /// One query as `role`; its error text if PostgreSQL refused it.
    pub fn query_as(&self, role: &str, sql: &str) -> Result<Vec<String>, String> {
        let port = self.port.to_string();
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port, "-U", role, "-d", "fleet"])
            .args(["-v", "ON_ERROR_STOP=1", "-tA", "-c", sql])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&postgres_bin("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "immediate", "stop"])
            .output();
    }
}

/// A running `busybait collect`.
pub struct Collector {
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// The metrics listener, when started with `--metrics`.
    pub metrics: Option<std::net::SocketAddr>,
}

impl Collector {
    pub fn start(nats: &str, postgres: &str) -> Self {
        Self::start_as(nats, postgres, None)
    }

    /// A collector with NATS credentials: the user in its config, the password in
    /// the environment.
    pub fn start_as(nats: &str, postgres: &str, credentials: Option<(&str, &str)>) -> Self {
        match credentials {
            Some((user, password)) => Self::spawn(
                nats,
                postgres,
                Some(&format!("[fleet]\nuser = \"{user}\"\n")),
                &[],
                &[("BUSYBAIT_FLEET_PASSWORD", password)],
            ),
            None => Self::spawn(nats, postgres, None, &[], &[]),
        }
    }

    /// A collector with this config file text.
    pub fn start_with_config(nats: &str, postgres: &str, config: &str) -> Self {
        Self::spawn(nats, postgres, Some(config), &[], &[])
    }

    /// A collector with more arguments and environment variables.
    pub fn start_with(nats: &str, postgres: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(nats, postgres, None, args, env)
    }

    fn spawn(
        nats: &str,
        postgres: &str,
        config: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("collect.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_busybait"));
        command.arg("collect");
        if let Some(text) = config {
            let path = dir.path().join("collect.toml");
            std::fs::write(&path, text).unwrap();
            command.arg("--config").arg(path);
        }
        command.args(args).envs(env.iter().copied());
        let mut child = command
            .args(["--fleet", nats, "--store", postgres])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let mut metrics = None;
        if let Some(addr) = line.trim().strip_prefix("listening metrics ") {
            metrics = Some(addr.parse().unwrap());
            line.clear();
            stdout.read_line(&mut line).unwrap();
        }
        assert_eq!(
            line.trim(),
            format!("collecting {nats}"),
            "collector did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            child: Some(child),
            log,
            _dir: dir,
            metrics,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to commit, roll back or acknowledge anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            super::signal(c.id(), "KILL");
            let _ = c.wait();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls until `pred` holds (shipping and collecting run on their own).
pub fn wait_until(what: &str, pred: impl FnMut() -> bool) {
    wait_within(what, Duration::from_secs(30), pred);
}

/// Polls until `pred` holds, for at most `timeout`.
pub fn wait_within(what: &str, timeout: Duration, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A JetStream cluster of three `nats-server`s on 127.0.0.1, routes between them.
pub struct NatsCluster {
    pub nodes: Vec<Nats>,
    /// Each node's route (cluster) port.
    pub route_ports: Vec<u16>,
}

impl NatsCluster {
    pub fn start() -> Self {
        Self::start_with_tls(None)
    }

    /// With `certs` (`util::test_certificates`): TLS for clients and for the routes
    /// between the nodes, each verified against the test CA.
    pub fn start_with_tls(certs: Option<&Path>) -> Self {
        let tls = certs.map_or(String::new(), |dir| {
            let p = |name: &str| dir.join(name).display().to_string();
            format!(
                "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?} }}",
                p("server.pem"),
                p("server-key.pem"),
                p("ca.pem")
            )
        });
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let mut nodes: Vec<Nats> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, cport))| {
                Nats::prepare_at(
                    *port,
                    &format!(
                        "{tls}\ncluster {{ name: busybait, listen: 127.0.0.1:{cport}, routes: [{}], {tls} }}",
                        routes.join(", ")
                    ),
                    &format!("n{i}"),
                )
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        for node in &nodes {
            wait_for_line(&node.log, "Server is ready", "nats-server");
        }
        let cluster = Self {
            nodes,
            route_ports: ports.iter().map(|(_, c)| *c).collect(),
        };
        cluster.wait_for_leader();
        cluster
    }

    /// Waits until the nodes elected a JetStream metadata leader.
    pub fn wait_for_leader(&self) {
        wait_until("a JetStream metadata leader", || {
            self.nodes.iter().any(|n| {
                let log = n.log();
                log.contains("Self is new JetStream cluster metadata leader")
                    || log.contains("JetStream cluster new metadata leader")
            })
        });
    }

    /// Every node's URL, comma-separated (as clients take a server list).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Nats::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A step of a scripted visit.
const VISIT_STEP: Duration = Duration::from_secs(10);

/// `busybait ARGS --store STORE`: its stdout, which must be a success.
pub fn read_side(store: &str, args: &[&str]) -> String {
    let out = read_side_output(store, args);
    assert!(
        out.status.success(),
        "{args:?} --store {store}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn read_side_output(store: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_busybait"))
        .args(args)
        .args(["--store", store])
        .output()
        .unwrap()
}

/// `busybait ARGS --store STORE`, which must fail: its stderr.
pub fn read_side_refused(store: &str, args: &[&str]) -> String {
    let out = read_side_output(store, args);
    assert!(!out.status.success(), "{args:?} --store {store} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

pub fn fleet_config(nats: &Nats) -> String {
    format!(
        "{}[fleet]\nurl = \"{}\"\n",
        super::test_config("oracle", "", ""),
        nats.url()
    )
}

/// A bot's visit: one refused password, the right one, two commands, exit.
pub fn visit(sensor: &super::Sensor, src: usize) {
    let mut c = sensor.connect_from(super::source(src));
    c.read_until(b"login: ", VISIT_STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", VISIT_STEP);
    c.send(b"not-in-any-table\r\n");
    c.read_until(b"login: ", VISIT_STEP);
    c.send(b"root\r\n");
    c.read_until(b"Password: ", VISIT_STEP);
    c.send(b"xc3511\r\n");
    c.read_until(b"# ", VISIT_STEP);
    c.send(b"cat /proc/cpuinfo | head -1\r\n");
    c.read_until(b"# ", VISIT_STEP);
    c.send(b"/bin/busybox ECCHI\r\n");
    c.read_until(b"# ", VISIT_STEP);
    c.send(b"exit\r\n");
    c.read_to_close(VISIT_STEP);
}

/// How many events the sensor has recorded once `n` of its sessions have closed.
pub fn events_when_closed(sensor: &super::Sensor, n: usize) -> usize {
    sensor
        .wait_for_events("closed sessions", |evs| {
            evs.iter()
                .filter(|e| e["eventid"] == "cowrie.session.closed")
                .count()
                == n
        })
        .len()
}
