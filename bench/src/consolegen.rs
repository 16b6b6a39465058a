//! busybait-consolegen: a data dir with many sessions for the console's benchmark,
//! written by the store's own recorder (the SQLite sink, as `serve` writes it),
//! with the sessions spread evenly over the last `--days` days: a connect (with a
//! country and AS), a refused and an accepted Mirai login, two commands, for one in
//! ten a download and a dropped file, a family label and the close. Synthetic data
//! only; nothing here opens a socket.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use busybait_events::{Event, EventKind, Peer, Protocol, SensorIdentity, SessionId, SourceInfo};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Writes a data dir of synthetic sessions for the console benchmark")]
struct Args {
    /// The data dir to make (must not hold a database yet).
    #[arg(long)]
    data_dir: PathBuf,
    /// Sessions.
    #[arg(long, default_value_t = 1_000_000)]
    sessions: u64,
    /// Spread over this many days back from now.
    #[arg(long, default_value_t = 30)]
    days: u64,
}

/// Credentials bots try (Mirai's first ones).
const CREDENTIALS: &[(&str, &str)] = &[
    ("root", "xc3511"),
    ("root", "vizxv"),
    ("admin", "admin"),
    ("root", "888888"),
    ("root", "xmhdipc"),
    ("root", "default"),
    ("root", "juantech"),
    ("root", "123456"),
    ("root", "54321"),
    ("support", "support"),
];
const COUNTRIES: &[&str] = &["CN", "BR", "IN", "VN", "US", "RU", "TW", "KR", "IR", "EG"];
const FAMILIES: &[&str] = &["mirai", "gafgyt", "mozi", "unknown"];

/// The `i`th of `items`, round and round (every list here is a non-empty constant).
#[allow(clippy::indexing_slicing)]
fn pick<T: Copy>(items: &[T], i: u64) -> T {
    items[(i % items.len() as u64) as usize]
}

fn event(time: SystemTime, session: u64, src: u64, kind: EventKind) -> Event {
    Event {
        time,
        session: SessionId::from_u64(session),
        peer: Peer {
            // 10.x.y.z as data only (never connected to): 50,000 sources.
            src: std::net::SocketAddr::from((
                [
                    10,
                    ((src >> 16) & 0xff) as u8,
                    ((src >> 8) & 0xff) as u8,
                    (src & 0xff) as u8,
                ],
                40_000,
            )),
            dst: std::net::SocketAddr::from(([127, 0, 0, 1], 23)),
            protocol: Protocol::Telnet,
        },
        kind,
    }
}

fn session_events(i: u64, start: SystemTime) -> Vec<Event> {
    let src = i % 50_000;
    let id = i + 1;
    let at = |ms: u64| start + Duration::from_millis(ms);
    let (user, pass) = pick(CREDENTIALS, i);
    let country = pick(COUNTRIES, src);
    let mut events = vec![
        event(
            at(0),
            id,
            src,
            EventKind::Connect {
                source: SourceInfo {
                    country: Some(country.to_string()),
                    asn: Some(64_496 + (src % 20) as u32),
                    as_org: Some(format!("Example Network {}", src % 20)),
                },
            },
        ),
        event(
            at(300),
            id,
            src,
            EventKind::LoginFailed {
                username: "root".into(),
                password: "admin".into(),
            },
        ),
        event(
            at(900),
            id,
            src,
            EventKind::LoginSuccess {
                username: user.into(),
                password: pass.into(),
            },
        ),
        event(
            at(1200),
            id,
            src,
            EventKind::CommandInput {
                input: "enable".into(),
            },
        ),
        event(
            at(1400),
            id,
            src,
            EventKind::CommandInput {
                input: format!("/bin/busybox {}", pick(&["ECCHI", "MIRAI", "SORA"], i)),
            },
        ),
    ];
    if i.is_multiple_of(10) {
        let n = i % 50;
        let url = format!("http://192.0.2.{}/bins/mirai.arm7", n + 1);
        let sha = format!("{:064x}", n + 1);
        events.push(event(
            at(1600),
            id,
            src,
            EventKind::DownloadRequest {
                tool: "wget".into(),
                url: url.clone(),
            },
        ));
        events.push(event(
            at(2100),
            id,
            src,
            EventKind::FileDownload {
                url: Some(url),
                outfile: format!("samples/{sha}"),
                shasum: sha,
                destfile: "/tmp/dvrHelper".into(),
                duplicate: i >= 500,
            },
        ));
    }
    events.push(event(
        at(2200),
        id,
        src,
        EventKind::SessionFamily {
            family: pick(FAMILIES, i).into(),
            sub_label: None,
            confidence_pct: 90,
            evidence: vec!["synthetic".into()],
        },
    ));
    events.push(event(
        at(2500),
        id,
        src,
        EventKind::Closed { duration_ms: 2500 },
    ));
    events
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = args.data_dir.join(busybait_store::sqlite::DB_FILE);
    anyhow::ensure!(!db.exists(), "{} exists already", db.display());
    let config = busybait_store::RecorderConfig {
        data_dir: args.data_dir.clone(),
        queue_depth: 4096,
        fsync_interval: Duration::from_secs(1),
        jsonl: false,
        sqlite: true,
        rotation: busybait_store::rotate::Rotation::default(),
    };
    let sensor = SensorIdentity {
        name: "bench".into(),
        uuid: "00000000-0000-4000-8000-00000000b0b0".into(),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let started = std::time::Instant::now();
    runtime.block_on(async {
        let (recorder, _) =
            busybait_store::Recorder::open(&config, sensor).context("opening the recorder")?;
        let handle = recorder.handle().context("the recorder has no handle")?;
        let now = SystemTime::now();
        let span = Duration::from_secs(args.days * 86_400);
        let oldest = now - span;
        let step = span.as_secs_f64() / args.sessions.max(1) as f64;
        for i in 0..args.sessions {
            let start = oldest + Duration::from_secs_f64(step * i as f64);
            for e in session_events(i, start) {
                handle
                    .record(e)
                    .await
                    .map_err(|_| anyhow::anyhow!("the recorder stopped"))?;
            }
            if i.is_multiple_of(100_000) && i > 0 {
                println!("{i} sessions, {:.0} s", started.elapsed().as_secs_f64());
            }
        }
        drop(handle);
        recorder.shutdown().context("flushing")?;
        anyhow::Ok(())
    })?;
    println!(
        "{} sessions in {:.1} s into {}",
        args.sessions,
        started.elapsed().as_secs_f64(),
        db.display()
    );
    Ok(())
}
