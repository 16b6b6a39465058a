//! busybait-fleetload: the event side of a fleet benchmark. It appends events to
//! sensors' spools (their `busybait.db`, as the recorder would) at a fixed rate, for
//! the sensors' own shippers to send: what a fleet of busy sensors looks like to
//! NATS, the collectors and PostgreSQL, without simulating the bots. Each event's
//! timestamp is the moment it is appended, so the store can tell how long it took
//! to arrive. Nothing here opens a socket.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Parser;
use rusqlite::params;

#[derive(Parser, Debug)]
#[command(about = "Appends events to busybait spools at a fixed rate (fleet benchmarks)")]
struct Args {
    /// A sensor's data dir (made by `busybait serve`); repeat for several.
    #[arg(long = "spool", required = true)]
    spools: Vec<PathBuf>,
    /// Events per second, per spool.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// How long.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

/// How often a batch is appended.
const TICK: Duration = Duration::from_millis(20);

fn sensor_id(dir: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(dir.join("sensor.toml")).context("sensor.toml")?;
    text.lines()
        .find_map(|l| l.strip_prefix("uuid = "))
        .map(|v| v.trim_matches('"').to_string())
        .context("no uuid in sensor.toml")
}

fn feed(dir: PathBuf, rate: u64, seconds: u64) -> anyhow::Result<u64> {
    let sensor = sensor_id(&dir)?;
    let mut conn = busybait_store::sqlite::open(&dir.join(busybait_store::sqlite::DB_FILE))?;
    let mut seq: u64 = conn
        .query_row("SELECT COALESCE(max(seq), 0) FROM events", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|v| u64::try_from(v).unwrap_or(0))?;
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut written = 0u64;
    let mut tick = start;
    while Instant::now() < end {
        tick += TICK;
        // Whatever the rate asks for by now, so that a slow tick catches up.
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (seq, session, eventid, timestamp, json) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            while written < due {
                seq += 1;
                written += 1;
                let session = format!("{:012x}", (seq - 1) / 4);
                let timestamp = busybait_events::format_timestamp(SystemTime::now());
                let (eventid, key, value) = match seq % 4 {
                    1 => ("cowrie.session.connect", "message", "New connection"),
                    2 => ("cowrie.login.success", "username", "root"),
                    3 => ("cowrie.command.input", "input", "/bin/busybox ECCHI"),
                    _ => ("cowrie.session.closed", "message", "Connection lost"),
                };
                let mut v = serde_json::json!({
                    "eventid": eventid, "session": session, "protocol": "telnet",
                    "src_ip": "127.3.0.1", "src_port": 40000 + seq % 20000, "dst_ip": "127.0.0.1",
                    "dst_port": 23, "sensor": "bench", "uuid": sensor, "timestamp": timestamp, "seq": seq,
                });
                if let Some(fields) = v.as_object_mut() {
                    fields.insert(key.into(), value.into());
                    if eventid == "cowrie.login.success" {
                        fields.insert("password".into(), "xc3511".into());
                    }
                }
                insert.execute(params![
                    i64::try_from(seq)?,
                    session,
                    eventid,
                    timestamp,
                    v.to_string()
                ])?;
            }
        }
        tx.commit()?;
        if let Some(wait) = tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(written)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let threads: Vec<_> = args
        .spools
        .iter()
        .cloned()
        .map(|dir| {
            let (rate, seconds) = (args.rate, args.seconds);
            std::thread::spawn(move || feed(dir, rate, seconds))
        })
        .collect();
    let mut total = 0;
    for t in threads {
        total += t
            .join()
            .map_err(|_| anyhow::anyhow!("a feeder panicked"))??;
    }
    println!("appended {total}");
    Ok(())
}
