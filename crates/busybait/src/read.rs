//! The read-side commands: `profiles`, `sessions`, `show`, `replay`. They only read
//! the store (the data dir's SQLite opened read-only), so they are safe beside a
//! running `serve`; whatever an attacker chose is escaped before it reaches the
//! terminal ([`crate::terminal`]).

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use busybait_events::SessionId;
use busybait_store::read::{ReadStore, SqliteStore};

use crate::terminal;

use crate::config::Config;

pub fn profiles(config: &Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for p in config.profiles()? {
        // The doors the device has: what --ssh and --http need.
        let doors: Vec<&str> = std::iter::once("telnet")
            .chain(p.ssh.is_some().then_some("ssh"))
            .chain(p.http.is_some().then_some("http"))
            .collect();
        writeln!(
            out,
            "{:<14} {:<7} {:<6} {:<16} {}",
            p.name,
            p.arch.uname_machine(),
            p.arch.mirai_name(),
            doors.join(","),
            p.description
        )?;
    }
    Ok(())
}

/// Where a read-side command reads: a data dir, or a fleet's PostgreSQL.
pub enum Location {
    /// A sensor's data dir.
    Dir(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// `--store` if given (a URL or a directory), else `--data-dir`.
    pub fn new(data_dir: PathBuf, store: Option<String>) -> Self {
        match store {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::Postgres(url)
            }
            Some(dir) => Self::Dir(PathBuf::from(dir)),
            None => Self::Dir(data_dir),
        }
    }

    /// Opens the store for reading.
    pub fn open(&self) -> anyhow::Result<Box<dyn ReadStore>> {
        match self {
            Self::Dir(dir) => open_store(dir),
            Self::Postgres(url) => Ok(Box::new(busybait_fleet::pg::read::PgStore::open(url)?)),
        }
    }
}

impl Location {
    /// Who the exports say saw the data: a data dir's sensor id; a fleet store's one
    /// sensor's id, or for several a fleet id made from all of theirs (the same
    /// fleet gives the same id).
    pub fn producer(&self) -> anyhow::Result<String> {
        match self {
            Self::Dir(dir) => Ok(busybait_store::sensor::SensorState::load(dir)
                .context("reading the sensor's identity")?
                .uuid),
            Self::Postgres(url) => {
                let store = busybait_fleet::pg::read::PgStore::open(url)?;
                let sensors = busybait_store::sql::collect(
                    &store,
                    "SELECT sensor FROM sensors ORDER BY sensor",
                    &[],
                    |r| busybait_store::sql::text(r, 0),
                )?;
                Ok(match sensors.as_slice() {
                    [one] => one.clone(),
                    all => {
                        use sha2::Digest;
                        let digest = sha2::Sha256::digest(all.join(",").as_bytes());
                        let id: String =
                            digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                        format!("fleet-{id}")
                    }
                })
            }
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::Postgres(url) => f.write_str(&busybait_fleet::pg::redact(url)),
        }
    }
}

/// The data dir's store, for reading (SQLite opened read-only).
pub(crate) fn open_store(data_dir: &Path) -> anyhow::Result<Box<dyn ReadStore>> {
    let store = SqliteStore::open(data_dir).with_context(|| {
        format!(
            "opening {} (is this a busybait data dir? `busybait serve --data-dir` makes one)",
            data_dir.join(busybait_store::sqlite::DB_FILE).display()
        )
    })?;
    Ok(Box::new(store))
}

/// `busybait sessions`: the newest `limit` sessions of the span `(since, until)`.
pub fn sessions(
    location: &Location,
    (since, until): (Option<&str>, Option<&str>),
    sensor: Option<String>,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let window = crate::spans::window(since, until, std::time::SystemTime::now())?;
    let store = location.open()?;
    let rows = match sensor {
        None => store.recent_sessions(&window, limit)?,
        Some(sensor) => store.sessions(
            &busybait_store::read::SessionFilter {
                since: window.since,
                until: window.until,
                sensor: Some(sensor),
                ..Default::default()
            },
            limit,
        )?,
    };
    let mut out = std::io::stdout().lock();
    for r in rows {
        if json {
            writeln!(out, "{}", terminal::json_line(&serde_json::to_string(&r)?))?;
            continue;
        }
        writeln!(out, "{}", session_line(&r))?;
    }
    Ok(())
}

/// One session as `sessions` prints it; every attacker-chosen field escaped, and the
/// ones that may hold spaces quoted.
fn session_line(r: &busybait_store::read::SessionRow) -> String {
    let login = match (&r.username, &r.password) {
        (Some(u), Some(p)) => quoted(&format!("{u}/{p}")),
        _ => "-".to_string(),
    };
    let duration = r.duration_ms.map_or_else(
        || "open".to_string(),
        |d| format!("{:.1}s", d as f64 / 1000.0),
    );
    let family = match (&r.family, &r.family_label) {
        (Some(f), Some(l)) => quoted(&format!("{f}/{l}")),
        (Some(f), None) => quoted(f),
        _ => "-".to_string(),
    };
    let client = match (&r.client_version, &r.hassh) {
        (None, None) => String::new(),
        (version, hassh) => format!(
            " client={} hassh={}",
            version.as_deref().map_or_else(|| "-".to_string(), quoted),
            hassh.as_deref().map_or_else(|| "-".to_string(), quoted),
        ),
    };
    format!(
        "{} {} {} -> {} {} {} {} login={} failed={} cmds={} family={} fp={}{client}",
        r.session,
        r.start_time,
        socket(&r.src_ip, r.src_port),
        socket(&r.dst_ip, r.dst_port),
        r.protocol,
        duration,
        r.end_reason.as_deref().unwrap_or("-"),
        login,
        r.login_failures,
        r.commands,
        family,
        r.fingerprint
            .as_deref()
            .map_or_else(|| "-".to_string(), quoted),
    )
}

/// `ip:port`, `[ip]:port` for IPv6.
fn socket(ip: &str, port: impl std::fmt::Display) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Escaped, and in double quotes when it holds a space, a quote or nothing.
fn quoted(text: &str) -> String {
    let e = terminal::escape(text);
    if e.is_empty() || e.contains([' ', '"']) {
        format!("\"{}\"", e.replace('"', "\\\""))
    } else {
        e
    }
}

pub fn show(location: &Location, session: &str) -> anyhow::Result<()> {
    if SessionId::parse(session).is_none() {
        bail!("{session:?} is not a session id (12 hex digits; see `busybait sessions`)");
    }
    let store = location.open()?;
    let Some(events) = store.session_events(session)? else {
        bail!("no session {session} in {location}");
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "# events")?;
    let mut transcript = Vec::new();
    for line in &events {
        writeln!(out, "{}", terminal::json_line(line))?;
        let v: serde_json::Value = serde_json::from_str(line)?;
        let f = |key: &str| match v.get(key) {
            Some(serde_json::Value::String(s)) => terminal::escape(s),
            Some(other) => terminal::escape(&other.to_string()),
            None => String::new(),
        };
        let ts = f("timestamp");
        let entry = match f("eventid").as_str() {
            "cowrie.session.connect" => format!(
                "{ts} connect from {} over {}",
                socket(&f("src_ip"), f("src_port")),
                f("protocol")
            ),
            "cowrie.client.version" => format!("{ts} client {}", quoted(&f("version"))),
            "cowrie.client.kex" => format!("{ts} hassh {}", f("hassh")),
            "cowrie.client.fingerprint" => {
                format!("{ts} key offered {} {}", f("type"), f("fingerprint_sha256"))
            }
            "busybait.persistence.ssh_key" => format!(
                "{ts} key planted in {}: {} {} {}",
                quoted(&f("path")),
                f("type"),
                f("fingerprint_sha256"),
                quoted(&f("comment"))
            ),
            "cowrie.direct-tcpip.request" => format!(
                "{ts} forward to {} refused",
                socket(&f("dst_ip"), f("dst_port"))
            ),
            "cowrie.session.file_upload" => {
                format!(
                    "{ts} upload {} sha256 {}",
                    quoted(&f("destfile")),
                    f("shasum")
                )
            }
            "cowrie.session.file_download" => {
                format!(
                    "{ts} download {} sha256 {}",
                    quoted(&f("destfile")),
                    f("shasum")
                )
            }
            "cowrie.login.success" => {
                let login = quoted(&format!("{}/{}", f("username"), f("password")));
                format!("{ts} login {login} accepted")
            }
            "cowrie.login.failed" => {
                let login = quoted(&format!("{}/{}", f("username"), f("password")));
                format!("{ts} login {login} refused")
            }
            "cowrie.command.input" => format!("{ts} $ {}", f("input")),
            "busybait.limit" => format!("{ts} limit {} hit", f("limit")),
            "cowrie.session.closed" => format!("{ts} closed after {} ms", f("duration_ms")),
            _ => continue,
        };
        transcript.push(entry);
    }
    writeln!(out, "# transcript")?;
    for t in transcript {
        writeln!(out, "{t}")?;
    }
    Ok(())
}

pub fn replay(location: &Location, session: &str, speed: f64) -> anyhow::Result<()> {
    if SessionId::parse(session).is_none() {
        bail!("{session:?} is not a session id (12 hex digits; see `busybait sessions`)");
    }
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let text = match location {
        Location::Dir(data_dir) => {
            let path = data_dir.join("sessions").join(format!("{session}.cast"));
            std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (no recording: `[store] recordings` is off, or `[retention] recordings` removed it)",
                    path.display()
                )
            })?
        }
        Location::Postgres(_) => location.open()?.recording(session)?.with_context(|| {
            format!(
                "no recording of {session} in {location} (its sensor ships it after the session closed and its recording finished)"
            )
        })?,
    };
    let mut out = std::io::stdout().lock();
    let mut last = 0.0f64;
    // The screen the session drew, without what would act beyond it (title,
    // clipboard, hyperlinks): the output holds whatever the bot made the device print.
    let mut filter = terminal::ReplayFilter::default();
    let mut shown = String::new();
    for line in text.lines().skip(1) {
        let Ok(serde_json::Value::Array(ev)) = serde_json::from_str::<serde_json::Value>(line)
        else {
            continue;
        };
        let (Some(t), Some(kind), Some(data)) = (
            ev.first().and_then(serde_json::Value::as_f64),
            ev.get(1).and_then(serde_json::Value::as_str),
            ev.get(2).and_then(serde_json::Value::as_str),
        ) else {
            continue;
        };
        if kind != "o" {
            continue;
        }
        let wait = ((t - last) / speed).clamp(0.0, 2.0);
        last = t;
        out.flush()?;
        std::thread::sleep(std::time::Duration::from_secs_f64(wait));
        shown.clear();
        filter.filter(data, &mut shown);
        out.write_all(shown.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
