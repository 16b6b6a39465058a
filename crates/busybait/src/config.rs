//! `busybait.toml`: every limit and policy of the sensor, with defaults.
//!
//! Unknown keys are an error, so a typo never silently leaves a default in place.
//! Durations are written as humantime spans (`"300s"`, `"1h"`, `"10ms"`).
//! `docs/CONFIG.md` lists every key; `busybait.example.toml` is a complete file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use busybait_device::auth::{parse_credential_table, CredentialPattern, MIRAI_CREDENTIALS_TSV};
use busybait_device::profile::DownloadTool;
use busybait_device::shell::budget::Budgets;
use busybait_device::shell::{ExecOutput, ShellConfig};
use std::sync::Arc;

use busybait_device::terminal::{Limits, SessionConfig};
use busybait_device::{AuthMode, AuthPolicy, Device, DeviceState, Profile};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where events, the database and `sensor.toml` live.
    pub data_dir: PathBuf,
    /// Telnet listeners.
    pub telnet: Vec<SocketAddr>,
    /// SSH listeners (none by default; the profile must have an SSH server).
    pub ssh: Vec<SocketAddr>,
    /// HTTP listeners (none by default; the profile must have a web server).
    pub http: Vec<SocketAddr>,
    /// Prometheus metrics listener (off unless set).
    pub metrics: Option<SocketAddr>,
    /// Device profile name.
    pub profile: String,
    /// A directory of extra profile TOML files (they may override built-in names).
    pub profiles_dir: Option<PathBuf>,
    /// Serve this file as `/bin/busybox` (and every applet link) instead of the
    /// profile's synthetic image: the busybox binary of the device the profile
    /// imitates, taken from its firmware, so that a bot reading the whole binary
    /// sees the real one. Read once at start (at most 16 MiB); never executed.
    pub busybox_image: Option<PathBuf>,
    /// The `sensor` field of every event.
    pub sensor_name: String,
    /// Download tools the device has, overriding the profile (`["wget", "tftp"]`,
    /// `["tftp"]`, `[]`): with neither, Mirai's loader falls back to its echo dropper.
    pub download_tools: Option<Vec<DownloadTool>>,
    /// What running a dropped binary prints: `silent`, `segfault`, or `mirai`
    /// (`listening tun0`, so that Mirai's loader reports success and moves on).
    pub exec_output: String,
    /// Steps (commands, loop rounds) one command line may take.
    pub shell_step_budget: u64,
    /// An operator's family rules (TOML, same form as the built-in ones), read after
    /// them: a rule with the same family replaces the built-in one.
    pub family_rules: Option<PathBuf>,
    /// Connection and session limits.
    pub limits: LimitsConfig,
    /// Credential policy.
    pub auth: AuthConfig,
    /// Event storage.
    pub store: StoreConfig,
    /// How long each kind of data is kept.
    pub retention: RetentionConfig,
    /// Downloading what bots ask for (off by default).
    pub fetch: crate::fetch::FetchConfig,
    /// Shipping to a fleet (off unless `url` is set).
    pub fleet: FleetConfig,
    /// The console (off unless `listen` is set).
    pub web: WebConfig,
    /// Country and AS of each source.
    pub geoip: GeoIpConfig,
}

/// `[geoip]`: MaxMind-format databases to look each source up in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// GeoLite2 or DB-IP Country and ASN files, or IPinfo Lite's one file
    /// (`.mmdb`); for each field the first database that has it wins. None: no
    /// country or AS anywhere.
    pub databases: Vec<PathBuf>,
}

/// `[fleet]`: how this process reaches the fleet's NATS (see docs/FLEET.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// NATS server URLs (`nats://HOST:4222`, several comma-separated); `serve --fleet`
    /// and `collect --fleet` override it.
    pub url: Option<String>,
    /// This role's NATS user.
    pub user: Option<String>,
    /// Its password; `BUSYBAIT_FLEET_PASSWORD` in the environment overrides it (keep
    /// it out of files other users can read).
    pub password: Option<String>,
    /// A CA certificate (PEM) to verify the NATS servers with; turns TLS on.
    pub ca_file: Option<PathBuf>,
    /// Events the shipper packs into one message at most (1 to 64; default 64):
    /// consecutive events go together when several are waiting.
    pub pack_events: Option<usize>,
    /// Events a second the shipper sends at most (default 12,000; 0: no limit): a
    /// sensor back from an outage catches up at this pace and leaves the rest of
    /// the fleet's capacity to the live sensors.
    pub max_events_per_second: Option<u64>,
}

/// The shipper's pace when `[fleet] max_events_per_second` is not set.
pub const DEFAULT_SHIP_EVENTS_PER_SECOND: u64 = 12_000;

/// `[web]`: the console (off unless `listen` is set or `--web` given).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Where `serve` also serves the console (`busybait web --listen` overrides it
    /// for that command).
    pub listen: Option<SocketAddr>,
    /// The access token: the console asks for it once and then keeps an HttpOnly,
    /// SameSite=Strict cookie. Required beyond loopback. `BUSYBAIT_WEB_TOKEN` in
    /// the environment overrides it.
    pub token: Option<String>,
    /// The console is reached through a reverse proxy that terminates TLS (see
    /// docs/CONSOLE.md); marks the cookie `Secure`. Beyond loopback the console
    /// needs this or `tls_cert` and `tls_key`.
    pub behind_proxy: bool,
    /// The console's own TLS: its certificate chain (PEM).
    pub tls_cert: Option<std::path::PathBuf>,
    /// And its private key (PEM).
    pub tls_key: Option<std::path::PathBuf>,
    /// The host names (with port, as browsers send them in `Host`) the console
    /// answers to beyond loopback; empty answers any. On loopback the console
    /// answers only to its own address and `localhost`.
    pub hostnames: Vec<String>,
    /// Offer each sample for download, as a zip encrypted with AES-256 under the
    /// password `infected` (never the raw file). Off by default.
    pub sample_downloads: bool,
}

/// Longest access token accepted in a config (the form takes no more either).
const MAX_TOKEN_BYTES: usize = 256;

impl WebConfig {
    /// The token, from the environment first.
    pub fn token(&self) -> Option<String> {
        std::env::var("BUSYBAIT_WEB_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| self.token.clone())
    }

    /// Refuses settings that would expose the console: beyond loopback it needs a
    /// token and TLS in front of it.
    pub fn check(&self, listen: SocketAddr) -> anyhow::Result<()> {
        let token = self.token();
        if let Some(t) = &token {
            if t.len() < 16 || t.len() > MAX_TOKEN_BYTES {
                bail!(
                    "web: the access token must be 16 to {MAX_TOKEN_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                );
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("web: tls_cert and tls_key go together");
        }
        if !listen.ip().is_loopback() {
            if token.is_none() {
                bail!(
                    "web: the console on {listen} (beyond loopback) needs an access token: \
                     [web] token or BUSYBAIT_WEB_TOKEN"
                );
            }
            if !self.behind_proxy && self.tls_cert.is_none() {
                bail!(
                    "web: the console on {listen} (beyond loopback) must be reached over TLS: \
                     give it [web] tls_cert and tls_key, or put a reverse proxy that terminates \
                     TLS in front of it and set [web] behind_proxy = true (docs/CONSOLE.md)"
                );
            }
        }
        Ok(())
    }
}

/// Largest `busybox_image` accepted.
const MAX_BUSYBOX_IMAGE: u64 = 16 << 20;

/// Reads a `busybox_image` file, refusing one larger than [`MAX_BUSYBOX_IMAGE`].
fn read_image(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening busybox_image {}", path.display()))?;
    let mut image = Vec::new();
    file.take(MAX_BUSYBOX_IMAGE + 1)
        .read_to_end(&mut image)
        .with_context(|| format!("reading busybox_image {}", path.display()))?;
    if image.len() as u64 > MAX_BUSYBOX_IMAGE {
        bail!(
            "busybox_image {} is larger than {} MiB",
            path.display(),
            MAX_BUSYBOX_IMAGE >> 20
        );
    }
    Ok(image)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("busybait-data"),
            telnet: vec![SocketAddr::from(([0, 0, 0, 0], 2323))],
            ssh: Vec::new(),
            http: Vec::new(),
            metrics: None,
            profile: busybait_device::profile::DEFAULT_PROFILE.to_string(),
            profiles_dir: None,
            busybox_image: None,
            sensor_name: "busybait".to_string(),
            download_tools: None,
            exec_output: "mirai".to_string(),
            shell_step_budget: ShellConfig::default().step_budget,
            family_rules: None,
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            store: StoreConfig::default(),
            retention: RetentionConfig::default(),
            fetch: crate::fetch::FetchConfig::default(),
            fleet: FleetConfig::default(),
            web: WebConfig::default(),
            geoip: GeoIpConfig::default(),
        }
    }
}

/// `[retention]`: how long each class of data is kept (a span such as `"14d"`, or
/// `"forever"`), and how often the sensor prunes (see `busybait prune`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Rotated `events.jsonl.*` files.
    #[serde(deserialize_with = "crate::spans::keep")]
    pub event_files: Option<Duration>,
    /// The database's `events` rows (what `show` prints).
    #[serde(deserialize_with = "crate::spans::keep")]
    pub event_rows: Option<Duration>,
    /// Session recordings (the blobs they share a day longer).
    #[serde(deserialize_with = "crate::spans::keep")]
    pub recordings: Option<Duration>,
    /// The `sessions`, `logins`, `commands`, `download_requests` and `files` rows.
    #[serde(deserialize_with = "crate::spans::keep")]
    pub session_rows: Option<Duration>,
    /// Sample files (by when their sample was last seen).
    #[serde(deserialize_with = "crate::spans::keep")]
    pub samples: Option<Duration>,
    /// `alerts` rows.
    #[serde(deserialize_with = "crate::spans::keep")]
    pub alerts: Option<Duration>,
    /// How often `serve` prunes.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub interval: Duration,
    /// Bytes the whole data dir may hold (0: no budget). Near it the oldest
    /// prunable data goes first; with nothing prunable left, new sessions are
    /// refused until there is room.
    pub max_data_bytes: u64,
    /// How often the data dir is measured against its budget.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub budget_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let r = busybait_store::retention::Retention::default();
        Self {
            event_files: r.event_files,
            event_rows: r.event_rows,
            recordings: r.recordings,
            session_rows: r.session_rows,
            samples: r.samples,
            alerts: r.alerts,
            interval: Duration::from_secs(3600),
            max_data_bytes: 0,
            budget_interval: Duration::from_secs(15),
        }
    }
}

impl RetentionConfig {
    /// The store's view of it.
    pub fn retention(&self) -> busybait_store::retention::Retention {
        busybait_store::retention::Retention {
            event_files: self.event_files,
            event_rows: self.event_rows,
            recordings: self.recordings,
            session_rows: self.session_rows,
            samples: self.samples,
            alerts: self.alerts,
            shipped_through: None,
            recordings_shipped_through: None,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Concurrent sessions, all sources together (default: 20,000, or what the
    /// open-file hard limit leaves room for).
    pub max_sessions: usize,
    /// Concurrent sessions from one source address.
    pub max_sessions_per_source: usize,
    /// Concurrent connections that have not logged in; the oldest is evicted.
    pub max_unauthenticated: usize,
    /// Connections the kernel holds for each listener until the sensor accepts them
    /// (capped by `net.core.somaxconn`); past it, bots' SYNs wait a retransmit.
    pub listen_backlog: u32,
    /// `login`'s own alarm.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub login_timeout: Duration,
    /// No input for this long ends a session (also bounds a stalled write).
    #[serde(deserialize_with = "crate::spans::duration")]
    pub idle_timeout: Duration,
    /// Longest a session may live.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub session_lifetime: Duration,
    /// Bytes typed without a newline.
    pub max_line_bytes: usize,
    /// Bytes in one telnet subnegotiation.
    pub max_subneg_bytes: usize,
    /// Bytes of output buffered for one client.
    pub max_output_bytes: usize,
    /// Bytes read from a socket at once (the inbound buffer per session).
    pub read_buffer_bytes: usize,
    /// Bytes of files one source address may write on the device.
    pub vfs_bytes_per_source: u64,
    /// Files and directories one source address may create.
    pub vfs_files_per_source: usize,
    /// Bytes of one file on the emulated device (more is `File too large`).
    pub vfs_file_bytes: u64,
    /// How long what a source wrote stays on the device for its next session.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub source_files_retention: Duration,
    /// The kernel's send buffer per connection (SO_SNDBUF): bounds kernel memory per
    /// session and how much output a client that does not read can pile up before its
    /// write stalls.
    pub send_buffer_bytes: usize,
    /// Pause after a wrong password.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub failed_login_delay: Duration,
    /// Wrong passwords before the connection closes.
    pub max_login_attempts: u32,
    /// Time from the opening bytes to the login prompt.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub login_start_delay: Duration,
    /// How long `tftp` keeps trying a host that does not answer before `tftp:
    /// timeout` (BusyBox 1.35: 12.9 s).
    #[serde(deserialize_with = "crate::spans::duration")]
    pub tftp_timeout: Duration,
    /// Bytes one session's shell may hold (variables, arguments, pipes, command
    /// substitutions, here-documents, the files it wrote...); past it the shell dies
    /// with BusyBox's `sh: out of memory` and the session ends.
    pub shell_memory_bytes: usize,
    /// Bytes all sessions together may hold; past it the session holding the most
    /// fails the same way, and new connections are refused until it is below again.
    pub memory_cap_bytes: usize,
    /// Work (bytes copied or compared; a command or loop round counts 64) one command
    /// line may do; past it the line stalls, like a command still running, until
    /// `^C`, a disconnect or the idle timeout.
    pub shell_line_work: u64,
    /// Work a session does before it lets other sessions run.
    pub shell_slice_work: u64,
    /// Bytes of files that sources left on the device, kept for their next visit,
    /// all sources together; past it the oldest are forgotten first.
    pub source_files_bytes: usize,
    /// SSH: from connection to successful authentication (Dropbear's `AUTH_TIMEOUT`).
    #[serde(deserialize_with = "crate::spans::duration")]
    pub ssh_auth_timeout: Duration,
    /// SSH: counted authentication failures before the connection closes
    /// (Dropbear's `MAX_AUTH_TRIES`).
    pub ssh_max_auth_tries: u32,
    /// SSH: channels open at once in one connection.
    pub ssh_max_channels: usize,
    /// SSH: requests recorded as events per connection (offered keys, `env`,
    /// forwarding, …); past it they are answered and not recorded.
    pub ssh_max_recorded_requests: u32,
    /// HTTP: the request line and headers, bytes (past it: `431`).
    pub http_max_head_bytes: usize,
    /// HTTP: headers per request (past it: `431`).
    pub http_max_headers: usize,
    /// HTTP: the body, bytes, by `Content-Length` (past it: `413`).
    pub http_max_body_bytes: usize,
    /// HTTP: body bytes kept in `busybait.http.request` (all of it is hashed).
    pub http_max_logged_body_bytes: usize,
    /// HTTP: the whole request must arrive within this (a slow one gets `408`).
    #[serde(deserialize_with = "crate::spans::duration")]
    pub http_request_timeout: Duration,
}

/// File descriptors the sensor needs besides one per session: stores, samples,
/// recordings in flight, listeners, the fetcher.
pub const FD_RESERVE: u64 = 256;

/// The most sessions the default `limits.max_sessions` allows.
const DEFAULT_MAX_SESSIONS: usize = 20_000;

/// `limits.max_sessions` when the config does not set it: 20,000, or fewer when the
/// open-file hard limit cannot hold that many sockets besides the sensor's own
/// descriptors (so that a zero-config sensor fits the machine it runs on).
pub fn default_max_sessions() -> usize {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    match hard {
        None => DEFAULT_MAX_SESSIONS,
        Some(h) => {
            let room = usize::try_from(h.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            room.clamp(1, DEFAULT_MAX_SESSIONS)
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            max_sessions: default_max_sessions(),
            max_sessions_per_source: 32,
            max_unauthenticated: 4096,
            listen_backlog: 4096,
            login_timeout: l.login_timeout,
            idle_timeout: l.idle_timeout,
            session_lifetime: l.session_lifetime,
            max_line_bytes: l.max_line_bytes,
            max_subneg_bytes: l.max_subneg_bytes,
            max_output_bytes: l.max_output_bytes,
            read_buffer_bytes: 2048,
            send_buffer_bytes: 64 * 1024,
            vfs_bytes_per_source: 16 * 1024 * 1024,
            vfs_files_per_source: 4096,
            vfs_file_bytes: 8 * 1024 * 1024,
            source_files_retention: Duration::from_secs(24 * 3600),
            failed_login_delay: l.failed_login_delay,
            max_login_attempts: l.max_login_attempts,
            login_start_delay: l.login_start_delay,
            tftp_timeout: busybait_device::shell::ShellConfig::default().tftp_give_up,
            shell_memory_bytes: Budgets::default().memory_bytes,
            memory_cap_bytes: 256 * 1024 * 1024,
            shell_line_work: Budgets::default().line_work,
            shell_slice_work: Budgets::default().slice_work,
            source_files_bytes: 64 * 1024 * 1024,
            ssh_auth_timeout: busybait_ssh::session::SshLimits::default().auth_timeout,
            ssh_max_auth_tries: busybait_ssh::session::SshLimits::default().max_auth_tries,
            ssh_max_channels: busybait_ssh::session::SshLimits::default().max_channels,
            ssh_max_recorded_requests: busybait_ssh::session::SshLimits::default()
                .max_recorded_requests,
            http_max_head_bytes: busybait_http::HttpLimits::default().max_head_bytes,
            http_max_headers: busybait_http::HttpLimits::default().max_headers,
            http_max_body_bytes: busybait_http::HttpLimits::default().max_body_bytes,
            http_max_logged_body_bytes: busybait_http::HttpLimits::default().max_logged_body_bytes,
            http_request_timeout: busybait_http::HttpLimits::default().request_timeout,
        }
    }
}

impl LimitsConfig {
    /// The shell's budgets.
    pub fn budgets(&self) -> Budgets {
        Budgets {
            memory_bytes: self.shell_memory_bytes,
            line_work: self.shell_line_work,
            slice_work: self.shell_slice_work,
        }
    }

    /// The per-session part, for the emulator.
    pub fn session_limits(&self) -> Limits {
        Limits {
            login_timeout: self.login_timeout,
            idle_timeout: self.idle_timeout,
            session_lifetime: self.session_lifetime,
            max_line_bytes: self.max_line_bytes,
            max_subneg_bytes: self.max_subneg_bytes,
            max_output_bytes: self.max_output_bytes,
            failed_login_delay: self.failed_login_delay,
            max_login_attempts: self.max_login_attempts,
            login_start_delay: self.login_start_delay,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `sticky`, `accept-after`, `lists` or `accept-all`.
    pub mode: String,
    /// For `accept-after`: failures per source before a login succeeds.
    pub accept_after: u32,
    /// For `lists`: `user:pass` patterns (`*` matches anything) to accept.
    pub allow: Vec<String>,
    /// For `lists`: patterns to refuse even if allowed.
    pub deny: Vec<String>,
    /// For `sticky`: credentials accepted besides Mirai's table and the vendor's.
    pub extra_credentials: Vec<String>,
    /// How long a source's state (sticky credential, failure count) is kept.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub retention: Duration,
    /// How many source addresses are remembered at once.
    pub max_sources: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: "sticky".into(),
            accept_after: 3,
            allow: Vec::new(),
            deny: Vec::new(),
            extra_credentials: Vec::new(),
            retention: Duration::from_secs(7 * 86_400),
            max_sources: 100_000,
        }
    }
}

impl AuthConfig {
    /// Builds the policy for a profile.
    pub fn policy(&self, profile: &Profile) -> anyhow::Result<AuthPolicy> {
        let patterns = |list: &[String], what: &str| -> anyhow::Result<Vec<CredentialPattern>> {
            list.iter()
                .map(|s| {
                    CredentialPattern::parse(s)
                        .with_context(|| format!("auth.{what}: {s:?} is not user:pass"))
                })
                .collect()
        };
        let mode = match self.mode.as_str() {
            "sticky" => AuthMode::Sticky,
            "accept-after" => AuthMode::AcceptAfter(self.accept_after),
            "lists" => AuthMode::Lists {
                allow: patterns(&self.allow, "allow")?,
                deny: patterns(&self.deny, "deny")?,
            },
            "accept-all" => AuthMode::AcceptAll,
            other => {
                bail!("auth.mode {other:?} is not one of sticky, accept-after, lists, accept-all")
            }
        };
        let mut accepted = parse_credential_table(MIRAI_CREDENTIALS_TSV);
        accepted.extend(
            profile
                .vendor_credentials
                .iter()
                .map(|[u, p]| (u.as_bytes().to_vec(), p.as_bytes().to_vec())),
        );
        for extra in &self.extra_credentials {
            let (u, p) = extra
                .split_once(':')
                .with_context(|| format!("auth.extra_credentials: {extra:?} is not user:pass"))?;
            accepted.push((u.as_bytes().to_vec(), p.as_bytes().to_vec()));
        }
        Ok(AuthPolicy::new(
            mode,
            accepted,
            self.retention,
            self.max_sources,
        ))
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Depth of the event queue and of each sink's queue.
    pub queue_depth: usize,
    /// How often `events.jsonl` is fsynced.
    #[serde(deserialize_with = "crate::spans::duration")]
    pub fsync_interval: Duration,
    /// Write `events.jsonl`.
    pub jsonl: bool,
    /// Rotate `events.jsonl` at the first event of each UTC day, to
    /// `events.jsonl.YYYY-MM-DD`.
    pub jsonl_rotate_daily: bool,
    /// Also rotate it when the next line would take it past this many bytes (0: no
    /// size limit); a day's later files are `events.jsonl.YYYY-MM-DD.N`.
    pub jsonl_rotate_bytes: u64,
    /// Gzip rotated files (`….gz`), in the background.
    pub jsonl_compress: bool,
    /// Write `busybait.db`.
    pub sqlite: bool,
    /// Most bytes the samples directory may hold; beyond it new samples are refused
    /// (with a `busybait.limit` event) and the sensor goes on.
    pub samples_quota_bytes: u64,
    /// Record every session in `sessions/<id>.cast` and `.raw`.
    pub recordings: bool,
    /// Bytes recorded per session at most (both directions); the rest is not recorded.
    pub max_recording_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            queue_depth: 8192,
            fsync_interval: Duration::from_secs(1),
            jsonl: true,
            jsonl_rotate_daily: true,
            jsonl_rotate_bytes: 0,
            jsonl_compress: true,
            sqlite: true,
            samples_quota_bytes: 1024 * 1024 * 1024,
            recordings: true,
            max_recording_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Config {
    /// Reads a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        config.check()?;
        Ok(config)
    }

    /// Rejects values that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(n) = self.fleet.pack_events {
            if !(1..=busybait_fleet::ship::PACK_EVENTS).contains(&n) {
                anyhow::bail!(
                    "fleet.pack_events is {n}: it must be 1 to {}",
                    busybait_fleet::ship::PACK_EVENTS
                );
            }
        }
        let l = &self.limits;
        for (name, v) in [
            ("limits.max_sessions", l.max_sessions),
            ("limits.max_sessions_per_source", l.max_sessions_per_source),
            ("limits.max_unauthenticated", l.max_unauthenticated),
            ("limits.listen_backlog", l.listen_backlog as usize),
            ("limits.max_line_bytes", l.max_line_bytes),
            ("limits.read_buffer_bytes", l.read_buffer_bytes),
            ("limits.send_buffer_bytes", l.send_buffer_bytes),
            ("limits.shell_memory_bytes", l.shell_memory_bytes),
            ("limits.memory_cap_bytes", l.memory_cap_bytes),
            ("limits.shell_line_work", l.shell_line_work as usize),
            ("limits.shell_slice_work", l.shell_slice_work as usize),
            ("limits.ssh_max_auth_tries", l.ssh_max_auth_tries as usize),
            ("limits.ssh_max_channels", l.ssh_max_channels),
            ("limits.http_max_head_bytes", l.http_max_head_bytes),
            ("limits.http_max_headers", l.http_max_headers),
            ("store.queue_depth", self.store.queue_depth),
            ("fetch.max_concurrent", self.fetch.max_concurrent),
            ("fetch.max_per_host", self.fetch.max_per_host),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.telnet.is_empty() {
            bail!("telnet: at least one listener is needed");
        }
        self.exec_output()?;
        self.family_rules()?;
        if self.shell_step_budget == 0 {
            bail!("shell_step_budget must be at least 1");
        }
        if l.memory_cap_bytes < l.shell_memory_bytes {
            bail!(
                "limits.memory_cap_bytes ({}) is below limits.shell_memory_bytes ({}): \
                 one session could never use its budget",
                l.memory_cap_bytes,
                l.shell_memory_bytes
            );
        }
        if !self.store.jsonl && !self.store.sqlite {
            bail!("store: at least one of jsonl and sqlite must be on");
        }
        crate::fetch::Policy::new(&self.fetch).context("fetch: allow/deny")?;
        if let Some(listen) = self.web.listen {
            self.web.check(listen)?;
        }
        Ok(())
    }

    /// All profiles: the built-in ones, then those in `profiles_dir` (which replace
    /// built-in ones of the same name).
    pub fn profiles(&self) -> anyhow::Result<Vec<Profile>> {
        let mut profiles = Profile::builtin().context("a built-in profile is broken")?;
        if let Some(dir) = &self.profiles_dir {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading profiles_dir {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let p = Profile::from_toml(&text)
                    .with_context(|| format!("profile {}", path.display()))?;
                profiles.retain(|old| old.name != p.name);
                profiles.push(p);
            }
        }
        Ok(profiles)
    }

    /// The profile named by `profile`, with `download_tools` applied.
    pub fn selected_profile(&self) -> anyhow::Result<Profile> {
        let profiles = self.profiles()?;
        let names: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
        let mut profile = profiles
            .into_iter()
            .find(|p| p.name == self.profile)
            .with_context(|| {
                format!("no profile {:?}; known: {}", self.profile, names.join(", "))
            })?;
        if let Some(tools) = &self.download_tools {
            profile.set_download_tools(tools);
        }
        if let Some(path) = &self.busybox_image {
            let image = read_image(path)?;
            profile
                .set_busybox_image(image)
                .with_context(|| format!("busybox_image {}", path.display()))?;
        }
        Ok(profile)
    }

    /// The device (shared by every door) and the telnet door's config, for a sensor
    /// whose seed is `seed` and which starts at `started`.
    pub fn session_config(
        &self,
        profile: Profile,
        seed: u64,
        started: std::time::SystemTime,
    ) -> anyhow::Result<SessionConfig> {
        let config = self;
        let profile_busybox_size = profile.busybox_size;
        let auth = config.auth.policy(&profile)?;
        let device = Arc::new(Device::new(Arc::new(profile), seed));
        // The firmware's files are dated a while before the device booted.
        let boot_time = started.checked_sub(device.uptime_base).unwrap_or(started);
        let built = boot_time
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(400 * 86_400))
            .unwrap_or(0);
        let base = Arc::new(busybait_device::vfs::BaseFs::new(&device, built));
        let state = DeviceState {
            device,
            base,
            auth,
            files: busybait_device::vfs::SourceFiles::new(
                config.limits.source_files_retention,
                config.auth.max_sources,
                config.limits.source_files_bytes,
            ),
            vfs_limits: busybait_device::vfs::VfsLimits {
                max_bytes: config.limits.vfs_bytes_per_source,
                max_nodes: config.limits.vfs_files_per_source,
                max_file_bytes: config.limits.vfs_file_bytes,
            },
            shell: ShellConfig {
                boot_time,
                exec_output: config.exec_output()?,
                step_budget: config.shell_step_budget,
                budgets: config.limits.budgets(),
                fetch: config.fetch.enabled,
                // The fetcher gives up first and answers "refused"; this only guards
                // against an answer that never comes.
                fetch_timeout: config.fetch.timeout + Duration::from_secs(5),
                tftp_give_up: config.limits.tftp_timeout,
                ..ShellConfig::default()
            },
        };
        let mut limits = config.limits.session_limits();
        // A bot reads the whole binary (`cat /bin/echo`) in one go: the output buffer
        // must hold the real image the operator chose to serve.
        let image = usize::try_from(profile_busybox_size).unwrap_or(usize::MAX);
        let needed = image.saturating_add(64 * 1024);
        if config.busybox_image.is_some() && limits.max_output_bytes < needed {
            tracing::info!(
                max_output_bytes = needed,
                "max_output_bytes raised to hold /bin/busybox and a prompt"
            );
            limits.max_output_bytes = needed;
        }
        Ok(SessionConfig {
            state: Arc::new(state),
            limits,
            encoded: Default::default(),
        })
    }

    /// The HTTP door's config for `profile` (which must have a web server whose
    /// exploit entries are all in the table).
    pub fn http_config(
        &self,
        profile: &Profile,
        device: Arc<SessionConfig>,
    ) -> anyhow::Result<busybait_http::session::HttpConfig> {
        use busybait_intel::exploits::Table;
        let Some(http) = &profile.http else {
            let with: Vec<String> = self
                .profiles()?
                .into_iter()
                .filter(|p| p.http.is_some())
                .map(|p| p.name)
                .collect();
            bail!(
                "profile {} has no web server ([http]): drop --http, or choose a profile with one: {}",
                profile.name,
                with.join(", ")
            );
        };
        let table = Table::parse(busybait_intel::exploits::BUILTIN_EXPLOITS)
            .context("the built-in exploit table")?;
        for name in &http.exploits {
            if table.get(name).is_none() {
                bail!(
                    "profile {}: [http] exploits names {name:?}, which is not in the exploit table",
                    profile.name
                );
            }
        }
        // The device's pages were made when it booted.
        let booted = std::time::SystemTime::now()
            .checked_sub(device.device().uptime_base)
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        let limits = busybait_http::HttpLimits {
            max_head_bytes: self.limits.http_max_head_bytes,
            max_headers: self.limits.http_max_headers,
            max_body_bytes: self.limits.http_max_body_bytes,
            max_logged_body_bytes: self.limits.http_max_logged_body_bytes,
            max_output_bytes: self.limits.max_output_bytes,
            request_timeout: self.limits.http_request_timeout,
        };
        Ok(busybait_http::session::HttpConfig::new(
            device,
            Arc::new(table),
            limits,
            booted,
        ))
    }

    /// The SSH door's config for `profile` (which must have an SSH server), with the
    /// sensor's host keys from `data_dir` (made there the first time).
    pub fn ssh_config(
        &self,
        profile: &Profile,
        device: Arc<SessionConfig>,
    ) -> anyhow::Result<busybait_ssh::session::SshConfig> {
        use busybait_ssh::algorithms::{DropbearVersion, HostKeyAlgorithm};
        let Some(ssh) = &profile.ssh else {
            let with: Vec<String> = self
                .profiles()?
                .into_iter()
                .filter_map(|p| Some(format!("{} (Dropbear {})", p.name, p.ssh?.dropbear)))
                .collect();
            bail!(
                "profile {} has no SSH server (the device it imitates runs none); \
                 drop --ssh, or choose a profile with one: {}",
                profile.name,
                with.join(", ")
            );
        };
        let version = DropbearVersion::parse(&ssh.dropbear).with_context(|| {
            format!(
                "profile {}: Dropbear {} is not one busybait knows (2019.78, 2020.81, 2022.82, 2022.83)",
                profile.name, ssh.dropbear
            )
        })?;
        let mut algorithms = Vec::new();
        for name in &ssh.host_keys {
            let algorithm = HostKeyAlgorithm::from_name(name.as_bytes()).with_context(|| {
                format!(
                    "profile {}: host key type {name:?} is not one busybait has \
                     (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa)",
                    profile.name
                )
            })?;
            if !version.has_host_key(algorithm) {
                bail!(
                    "profile {}: Dropbear {} has no {name} host keys",
                    profile.name,
                    ssh.dropbear
                );
            }
            // One RSA key serves both of its names.
            let algorithm = match algorithm {
                HostKeyAlgorithm::RsaSha256 => HostKeyAlgorithm::SshRsa,
                other => other,
            };
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        if algorithms.is_empty() {
            bail!("profile {}: [ssh] host_keys is empty", profile.name);
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let keys = crate::hostkeys::load_or_create(&self.data_dir, &algorithms)?;
        let server = busybait_ssh::session::Server::new(
            version,
            ssh.strict_kex,
            keys,
            ssh.recv_window,
            &ssh.sftp_server,
        );
        Ok(busybait_ssh::session::SshConfig {
            device,
            server,
            limits: busybait_ssh::session::SshLimits {
                idle_timeout: self.limits.idle_timeout,
                session_lifetime: self.limits.session_lifetime,
                auth_timeout: self.limits.ssh_auth_timeout,
                max_auth_tries: self.limits.ssh_max_auth_tries,
                max_channels: self.limits.ssh_max_channels,
                max_recorded_requests: self.limits.ssh_max_recorded_requests,
                ..Default::default()
            },
        })
    }

    /// The built-in family rules, extended by `family_rules`.
    pub fn family_rules(&self) -> anyhow::Result<busybait_intel::classify::Rules> {
        let mut rules = busybait_intel::classify::Rules::builtin()
            .context("the built-in family rules are broken")?;
        if let Some(path) = &self.family_rules {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            rules
                .extend_from_toml(&text)
                .with_context(|| format!("in {}", path.display()))?;
        }
        Ok(rules)
    }

    /// What a dropped binary prints when run.
    pub fn exec_output(&self) -> anyhow::Result<ExecOutput> {
        Ok(match self.exec_output.as_str() {
            "silent" => ExecOutput::Silent,
            "segfault" => ExecOutput::Segfault,
            "mirai" => ExecOutput::MiraiListening,
            other => bail!("exec_output {other:?} is not one of silent, segfault, mirai"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_is_complete_and_valid() {
        let text = include_str!("../../../busybait.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        c.check().unwrap();
        assert_eq!(c.limits.login_timeout, Duration::from_secs(60));
        assert!(c.auth.policy(&c.selected_profile().unwrap()).is_ok());
        // Every key it sets is the default (so it documents them all truly).
        assert_eq!(format!("{c:#?}"), format!("{:#?}", Config::default()));
    }

    #[test]
    fn bad_fetch_ranges_are_errors() {
        let c: Config = toml::from_str("[fetch]\nallow = [\"10.0.0.0/33\"]\n").unwrap();
        let err = format!("{:#}", c.check().unwrap_err());
        assert!(
            err.contains("fetch: allow/deny") && err.contains("/33"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<Config>("[limits]\nmax_sesions = 3\n").unwrap_err();
        assert!(err.to_string().contains("max_sesions"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        let c: Config = toml::from_str("[limits]\nmax_sessions = 0\n").unwrap();
        assert!(c.check().is_err());
        let c: Config = toml::from_str("[auth]\nmode = \"nope\"\n").unwrap();
        assert!(c.auth.policy(&c.selected_profile().unwrap()).is_err());
        assert!(toml::from_str::<Config>("[limits]\nidle_timeout = \"soon\"\n").is_err());
    }
}
