//! busybait: a sensor that lures, records and dissects Mirai-class IoT botnets.
//!
//! To a bot it is a vulnerable BusyBox DVR, camera or router on telnet; to a defender
//! it is a Cowrie-compatible event log and a SQLite database. This binary is the thin
//! edge around the sans-IO emulator: configuration, listeners, and the read-side
//! commands.

mod addresses;
mod admission;
mod alert_record;
mod capture;
mod config;
mod connection;
mod door;
mod edge;
mod export;
mod fetch;
mod fleet;
mod fleet_watch;
mod geoip;
mod hostkeys;
mod live;
mod logging;
mod memory;
mod metrics;
mod misp;
mod prune;
mod read;
mod report;
mod serve;
mod signals;
mod spans;
mod stix;
mod terminal;
mod watch;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// jemalloc, configured in `.cargo/config.toml` to hand memory back a second after a
/// burst of sessions freed it: with glibc's malloc the sensor stayed at its high-water
/// mark (see BENCHMARKS.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A telnet sensor that is a vulnerable BusyBox device to Mirai-class bots and a
/// perfect recorder to you.
#[derive(Parser, Debug)]
#[command(name = "busybait", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the sensor: listen on telnet, emulate the device, record every event.
    ///
    /// With no options it listens on 0.0.0.0:2323 and writes to ./busybait-data.
    /// Prints "listening telnet ADDR:PORT" on stdout for each listener. SIGINT or
    /// SIGTERM closes every session and flushes the stores before exiting.
    Serve {
        /// TOML config file (see busybait.example.toml); flags override it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data directory (events.jsonl, busybait.db, sensor.toml).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Telnet listener; repeat for several; port 0 picks a free port.
        #[arg(long, value_name = "ADDR:PORT")]
        telnet: Vec<SocketAddr>,
        /// SSH listener (the profile's Dropbear; 22 or 2222 in deployments); repeat
        /// for several. Prints "listening ssh ADDR:PORT". Host keys are made in the
        /// data dir the first time.
        #[arg(long, value_name = "ADDR:PORT")]
        ssh: Vec<SocketAddr>,
        /// HTTP listener (the profile's web server and the exploits its firmware is
        /// open to; 80, 81, 8080, 7547, 37215 or 52869 in deployments, each serving
        /// the endpoints the device has on that port, any other port all of them);
        /// repeat for several. Prints "listening http ADDR:PORT".
        #[arg(long, value_name = "ADDR:PORT")]
        http: Vec<SocketAddr>,
        /// Device profile (see `busybait profiles`).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9464;
        /// keep it on loopback or a management network). Prints "listening metrics
        /// ADDR:PORT" on stdout.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<SocketAddr>,
        /// Ship every event to a fleet's NATS JetStream (nats://HOST:PORT; several
        /// comma-separated), as `[fleet] url` does; credentials and TLS in `[fleet]`,
        /// the password also in BUSYBAIT_FLEET_PASSWORD. The sensor never waits for
        /// it: the data dir is the buffer, and shipping resumes where it stopped.
        #[arg(long, value_name = "URL")]
        fleet: Option<String>,
        /// Also serve the console (as `busybait web` does) on ADDR:PORT, e.g.
        /// 127.0.0.1:8080, over this sensor's data dir; its queries run on threads of
        /// their own and never delay sessions. Prints "listening web ADDR:PORT".
        /// Beyond loopback it needs `[web] token`, and TLS: `[web] tls_cert` and
        /// `tls_key`, or `[web] behind_proxy` (a TLS-terminating proxy in front).
        #[arg(long, value_name = "ADDR:PORT")]
        web: Option<SocketAddr>,
    },
    /// Serve the console: a read-only web view of sessions, indicators and samples.
    ///
    /// Reads the data dir (safe beside a running `serve`) or a fleet's PostgreSQL.
    /// Prints "listening web ADDR:PORT" once ready; stops at SIGINT/SIGTERM. On
    /// loopback (the default) it answers only to its own address and `localhost`;
    /// with `[web] token` (or BUSYBAIT_WEB_TOKEN) it asks for the token once and
    /// keeps an HttpOnly cookie. Beyond loopback it needs both the token and TLS:
    /// its own (`[web] tls_cert`, `tls_key`) or a TLS-terminating reverse proxy's
    /// (`[web] behind_proxy = true`). See docs/CONSOLE.md.
    Web {
        /// TOML config file (its `[web]` section and `data_dir`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data directory (overrides the config's).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Read this store instead: a data dir, or a fleet's postgres:// URL.
        #[arg(long, value_name = "DIR|URL", conflicts_with = "data_dir")]
        store: Option<String>,
        /// Where to listen (overrides `[web] listen`; default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
    },
    /// Collect a fleet's events from NATS JetStream into PostgreSQL.
    ///
    /// Creates the BUSYBAIT_EVENTS stream, the shared durable consumer `collect` and
    /// the BUSYBAIT_SAMPLES object store bucket if missing, brings the PostgreSQL
    /// schema up to date, then stores each batch in one transaction and acknowledges
    /// it only after it commits; every new sample is read back and checked against
    /// its SHA-256. Run several side by side for throughput and failover; storing an
    /// event twice changes nothing. Prints "collecting URL" on stdout once ready;
    /// stops at SIGINT/SIGTERM. See docs/FLEET.md.
    Collect {
        /// TOML config file (its `[fleet]` section: url, user, password, ca_file).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// NATS server URLs (overrides `[fleet] url`).
        #[arg(long, value_name = "URL")]
        fleet: Option<String>,
        /// The fleet store: postgres://USER:PASSWORD@HOST:PORT/DB (the password is
        /// never printed). The schema is created and migrated here.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Replicas of the events stream when this collector creates it (3 on a
        /// 3-node cluster).
        #[arg(long, default_value_t = 1)]
        replicas: usize,
        /// Messages per batch and per transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Serve Prometheus metrics at http://ADDR:PORT/metrics (events stored and
        /// duplicated, transactions, refused messages by reason, samples read back).
        /// Prints "listening metrics ADDR:PORT" first.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<SocketAddr>,
    },
    /// Remove what `[retention]` no longer keeps (the sensor also does this every
    /// `[retention] interval`): recordings, rotated event files, old database rows,
    /// samples and alerts, each by its own age limit. Prints what each class gave up.
    /// Safe while `serve` runs.
    Prune {
        /// TOML config file (its `[retention]` and `data_dir`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data directory (overrides the config's).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Count what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the device profiles, one per line, name first: name, `uname -m`, Mirai's
    /// build name, the doors the device has (telnet, ssh, http), description.
    Profiles {
        /// Config file whose profiles_dir adds profiles.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List recent sessions, newest first, one line each.
    Sessions {
        /// Data directory.
        #[arg(long, value_name = "DIR", default_value = "busybait-data")]
        data_dir: PathBuf,
        /// Read this store instead: a data dir, or a fleet's postgres:// URL.
        #[arg(long, value_name = "DIR|URL", conflicts_with = "data_dir")]
        store: Option<String>,
        /// How many sessions at most (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only sessions that started at or after T: an RFC 3339 time or a span back
        /// from now (90m, 24h, 7d).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Only sessions that started before T, in the same forms.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// Only this sensor's sessions (its id; on a data dir: all of them if it is
        /// the data dir's own sensor, none otherwise).
        #[arg(long, value_name = "ID")]
        sensor: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Play a session's recording in the terminal (output as the attacker saw it).
    Replay {
        /// The 12-hex-digit session id.
        session: String,
        /// Data directory.
        #[arg(long, value_name = "DIR", default_value = "busybait-data")]
        data_dir: PathBuf,
        /// Read this store instead: a data dir, or a fleet's postgres:// URL (which
        /// has the recordings its sensors shipped after their sessions closed).
        #[arg(long, value_name = "DIR|URL", conflicts_with = "data_dir")]
        store: Option<String>,
        /// Playback speed (2 = twice as fast); pauses are cut to 2 s.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// Show one session: its events and a transcript of logins and commands.
    Show {
        /// The 12-hex-digit session id.
        session: String,
        /// Data directory.
        #[arg(long, value_name = "DIR", default_value = "busybait-data")]
        data_dir: PathBuf,
        /// Read this store instead: a data dir, or a fleet's postgres:// URL.
        #[arg(long, value_name = "DIR|URL", conflicts_with = "data_dir")]
        store: Option<String>,
    },
    /// Summarise a time window: sessions and sources per day, logins and top
    /// credentials (with the known tables they come from), families, top commands,
    /// download URLs and hosts, samples with their triage, client fingerprints.
    Report {
        /// Data directory.
        #[arg(long, value_name = "DIR", default_value = "busybait-data")]
        data_dir: PathBuf,
        /// Read this store instead: a data dir, or a fleet's postgres:// URL.
        #[arg(long, value_name = "DIR|URL", conflicts_with = "data_dir")]
        store: Option<String>,
        /// Start of the window: an RFC 3339 time or a span back from now (90m, 24h, 7d).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// End of the window (exclusive), in the same forms.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// Only this sensor's events (its id, the `uuid` of its sensor.toml; see the
        /// console's sensors page). On a data dir: all of them if it is the data
        /// dir's own sensor, none otherwise.
        #[arg(long, value_name = "ID", conflicts_with = "by_sensor")]
        sensor: Option<String>,
        /// One report per sensor the store holds, in the order of their ids.
        #[arg(long)]
        by_sensor: bool,
        /// Stable JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Export indicators seen in a time window, for firewalls, blocklists and feeds.
    ///
    /// `ips`, `urls` and `hashes` print one value per line (source addresses, URLs
    /// sessions asked for, SHA-256 of dropped files); `csv` prints every indicator
    /// with `type,value,first_seen,last_seen,count` (types ip, url, sha256, c2);
    /// `stix` a STIX 2.1 bundle, `misp` a MISP event (TLP:GREEN, family tags).
    /// Times and ids come from the data, so the same data gives the same bytes.
    /// Addresses that are not a public host's (loopback, private, link-local, CGNAT,
    /// multicast, documentation ranges) and the sensor's own are left out of `ips`,
    /// `stix` and `misp` unless `--include-private`: a blocklist must not block them.
    Export {
        /// What to print.
        #[arg(long, value_enum)]
        format: export::Format,
        /// Data directory.
        #[arg(long, value_name = "DIR", default_value = "busybait-data")]
        data_dir: PathBuf,
        /// Read this store instead: a data dir, or a fleet's postgres:// URL.
        #[arg(long, value_name = "DIR|URL", conflicts_with = "data_dir")]
        store: Option<String>,
        /// Start of the window: an RFC 3339 time or a span back from now (90m, 24h, 7d).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// End of the window (exclusive), in the same forms.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// Keep non-public and the sensor's own addresses in `ips`, `stix` and `misp`.
        #[arg(long)]
        include_private: bool,
    },
    /// Look for Mirai-class infections and attacks in capture files.
    ///
    /// Reads classic pcap and pcapng (Ethernet with VLAN tags, Linux cooked v1/v2,
    /// raw IPv4/IPv6), reassembles TCP (bounded) and reports, per file: Mirai scanner
    /// SYNs (sequence number = destination address), telnet scanning, telnet brute
    /// force, Mirai's telnet client fingerprint, Mirai-family shell content, scan
    /// reports to TCP 48101 (decoded: victim and credential), the C2 handshake with
    /// its bot id, the downloader's header-less `GET /bins/...`, flood participation
    /// (VSE, SYN, ACK, UDP, GRE and HTTP floods, DNS water torture, with rates) and,
    /// for hosts with another alert, DNS lookups straight at 8.8.8.8. With a data
    /// dir whose trap has caught bots: contact with the C2s and download hosts it
    /// learned, downloads of the files bots dropped (SHA-256) and traffic from the
    /// addresses that attacked it.
    ///
    /// Alerts are printed (a table, or --json) and stored as `busybait.alert` lines
    /// in DIR/alerts.jsonl and in the `alerts` table of DIR/busybait.db (safe while
    /// `serve` runs on the same DIR; an alert already stored is not stored again).
    /// Memory does not grow with the file; a progress bar shows on a terminal for
    /// files over 8 MiB. Nothing is sent anywhere.
    ///
    /// With --interface (builds with `--features live`, libpcap) it watches live
    /// traffic until SIGINT/SIGTERM or --duration, logs each alert on stderr as it
    /// appears, and reports at the end as for a file. Capturing needs root or
    /// CAP_NET_RAW.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["pcap", "interface"])))]
    Watch {
        /// Capture files.
        #[arg(long = "pcap", value_name = "FILE", num_args = 1..)]
        pcap: Vec<PathBuf>,
        /// Capture live on this interface instead.
        #[arg(long, value_name = "IF")]
        interface: Option<String>,
        /// With --interface: a BPF filter (tcpdump's syntax), e.g. "tcp port 23".
        #[arg(long, value_name = "EXPR", requires = "interface")]
        filter: Option<String>,
        /// With --interface: stop after this long (e.g. 10m); else at SIGINT/SIGTERM.
        #[arg(long, value_name = "DURATION", requires = "interface", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Also write the alerts as Suricata EVE JSON lines (`event_type` `alert`,
        /// stable `signature_id`s 9100001-9100020) to this file.
        #[arg(long, value_name = "FILE")]
        eve: Option<PathBuf>,
        /// Data directory: what its trap learned (C2s, download hosts, sample hashes,
        /// attacker addresses) is matched too, and the alerts are stored there
        /// (created if missing).
        #[arg(long, value_name = "DIR", default_value = "busybait-data")]
        data_dir: PathBuf,
        /// Match what this store learned instead of the data dir's: another data
        /// dir, or a fleet's postgres:// URL (every sensor's C2s, download URLs,
        /// sample hashes and attackers). Alerts still go to --data-dir.
        #[arg(long, value_name = "DIR|URL")]
        learned_from: Option<String>,
        /// Only print: store nothing (what the data dir's trap learned is still
        /// matched).
        #[arg(long)]
        no_store: bool,
        /// With --interface: also match what the fleet's sensors learn while the
        /// capture runs (NATS, `busybait.indicators.*`) and publish each alert on
        /// `busybait.alerts.<user>` (overrides `[fleet] url`).
        #[arg(long, value_name = "URL", requires = "interface")]
        fleet: Option<String>,
        /// TOML config file: its `[fleet]` section (url, user, password, ca_file)
        /// for --fleet.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    logging::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("busybait: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The config file (or the defaults), with `--data-dir` over its `data_dir`.
fn load_config(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut cfg = match config {
        Some(path) => Config::load(&path)?,
        None => Config::default(),
    };
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    Ok(cfg)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            telnet,
            ssh,
            http,
            profile,
            metrics,
            fleet,
            web,
        } => {
            let mut cfg = load_config(config.clone(), data_dir)?;
            if web.is_some() {
                cfg.web.listen = web;
            }
            if !telnet.is_empty() {
                cfg.telnet = telnet;
            }
            if !ssh.is_empty() {
                cfg.ssh = ssh;
            }
            if !http.is_empty() {
                cfg.http = http;
            }
            if let Some(p) = profile {
                cfg.profile = p;
            }
            if metrics.is_some() {
                cfg.metrics = metrics;
            }
            if fleet.is_some() {
                cfg.fleet.url = fleet;
            }
            cfg.check()?;
            serve::run(cfg, config)
        }
        Command::Web {
            config,
            data_dir,
            store,
            listen,
        } => {
            let cfg = load_config(config, data_dir)?;
            let listen = listen
                .or(cfg.web.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
            web::command(
                &cfg.web,
                listen,
                read::Location::new(cfg.data_dir.clone(), store),
            )
        }
        Command::Prune {
            config,
            data_dir,
            dry_run,
        } => prune::command(&load_config(config, data_dir)?, dry_run),
        Command::Profiles { config } => {
            let cfg = match config {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            read::profiles(&cfg)
        }
        Command::Collect {
            config,
            fleet,
            store,
            replicas,
            batch,
            metrics,
        } => fleet::collect(config, fleet, store, replicas, batch, metrics),
        Command::Sessions {
            data_dir,
            store,
            limit,
            since,
            until,
            sensor,
            json,
        } => read::sessions(
            &read::Location::new(data_dir, store),
            (since.as_deref(), until.as_deref()),
            sensor,
            limit,
            json,
        ),
        Command::Show {
            session,
            data_dir,
            store,
        } => read::show(&read::Location::new(data_dir, store), &session),
        Command::Replay {
            session,
            data_dir,
            store,
            speed,
        } => read::replay(&read::Location::new(data_dir, store), &session, speed),
        Command::Report {
            data_dir,
            store,
            since,
            until,
            sensor,
            by_sensor,
            json,
        } => report::report(
            &read::Location::new(data_dir, store),
            since.as_deref(),
            until.as_deref(),
            match (sensor, by_sensor) {
                (Some(id), _) => report::Scope::Sensor(id),
                (None, true) => report::Scope::BySensor,
                (None, false) => report::Scope::Whole,
            },
            json,
        ),
        Command::Export {
            format,
            data_dir,
            store,
            since,
            until,
            include_private,
        } => export::export(
            &read::Location::new(data_dir, store),
            format,
            since.as_deref(),
            until.as_deref(),
            include_private,
        ),
        Command::Watch {
            pcap,
            interface,
            filter,
            duration,
            json,
            eve,
            data_dir,
            learned_from,
            no_store,
            fleet,
            config,
        } => fleet::watch_settings(config, fleet).and_then(|settings| {
            watch::watch(
                match interface {
                    Some(name) => watch::Source::Interface {
                        name,
                        filter,
                        duration,
                    },
                    None => watch::Source::Files(pcap),
                },
                json,
                eve.as_deref(),
                &data_dir,
                learned_from,
                !no_store,
                settings,
            )
        }),
    }
}
