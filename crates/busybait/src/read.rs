//! The read-side commands: `profiles`, `sessions`, `show`. They only read the data
//! dir (SQLite opened read-only), so they are safe beside a running `serve`.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use busybait_events::SessionId;
use busybait_store::sqlite;

use crate::config::Config;

pub fn profiles(config: &Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for p in config.profiles()? {
        writeln!(
            out,
            "{:<14} {:<7} {:<6} {}",
            p.name,
            p.arch.uname_machine(),
            p.arch.mirai_name(),
            p.description
        )?;
    }
    Ok(())
}

pub(crate) fn open_db(data_dir: &Path) -> anyhow::Result<sqlite::Connection> {
    let path = data_dir.join(sqlite::DB_FILE);
    sqlite::open_read_only(&path).with_context(|| format!("opening {}", path.display()))
}

pub fn sessions(data_dir: &Path, limit: usize, json: bool) -> anyhow::Result<()> {
    let conn = open_db(data_dir)?;
    let rows = sqlite::recent_sessions(&conn, limit)?;
    let mut out = std::io::stdout().lock();
    for r in rows {
        if json {
            writeln!(out, "{}", serde_json::to_string(&r)?)?;
            continue;
        }
        let login = match (&r.username, &r.password) {
            (Some(u), Some(p)) => format!("{u}/{p}"),
            _ => "-".to_string(),
        };
        let duration = r.duration_ms.map_or_else(
            || "open".to_string(),
            |d| format!("{:.1}s", d as f64 / 1000.0),
        );
        let family = match (&r.family, &r.family_label) {
            (Some(f), Some(l)) => format!("{f}/{l}"),
            (Some(f), None) => f.clone(),
            _ => "-".to_string(),
        };
        writeln!(
            out,
            "{} {} {}:{} ->:{} {} {} login={} failed={} cmds={} family={} fp={}",
            r.session,
            r.start_time,
            r.src_ip,
            r.src_port,
            r.dst_port,
            duration,
            r.end_reason.as_deref().unwrap_or("-"),
            login,
            r.login_failures,
            r.commands,
            family,
            r.fingerprint.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

pub fn show(data_dir: &Path, session: &str) -> anyhow::Result<()> {
    if SessionId::parse(session).is_none() {
        bail!("{session:?} is not a session id (12 hex digits; see `busybait sessions`)");
    }
    let conn = open_db(data_dir)?;
    let Some(events) = sqlite::session_events(&conn, session)? else {
        bail!("no session {session} in {}", data_dir.display());
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "# events")?;
    let mut transcript = Vec::new();
    for line in &events {
        writeln!(out, "{line}")?;
        let v: serde_json::Value = serde_json::from_str(line)?;
        let f = |key: &str| match v.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let ts = f("timestamp");
        let entry = match f("eventid").as_str() {
            "cowrie.session.connect" => {
                format!("{ts} connect from {}:{}", f("src_ip"), f("src_port"))
            }
            "cowrie.login.success" => {
                format!("{ts} login {}/{} accepted", f("username"), f("password"))
            }
            "cowrie.login.failed" => {
                format!("{ts} login {}/{} refused", f("username"), f("password"))
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

pub fn replay(data_dir: &Path, session: &str, speed: f64) -> anyhow::Result<()> {
    if SessionId::parse(session).is_none() {
        bail!("{session:?} is not a session id (12 hex digits; see `busybait sessions`)");
    }
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let path = data_dir.join("sessions").join(format!("{session}.cast"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (is `recordings` on?)", path.display()))?;
    let mut out = std::io::stdout().lock();
    let mut last = 0.0f64;
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
        out.write_all(data.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
