//! Recordings in the fleet: each finished session's `.cast`, shipped so that
//! `replay --store postgres://…` and the console work from the fleet's store.
//!
//! A recording travels on its sensor's own events subject (the only one its NATS
//! permissions let it publish on, so the sensor id is the subject's, never the
//! payload's), in parts of at most [`PART_BYTES`] that fit the stream's message
//! limit, each split on a UTF-8 boundary and marked by headers: [`SESSION_HEADER`],
//! [`PART_HEADER`] and [`PARTS_HEADER`]. `Nats-Msg-Id` is `<sensor>:rec:<session>:<part>`.
//! Collectors store the parts (`recording_parts`, keyed by session, sensor and part: a
//! part delivered twice changes nothing); the read side joins them once all are there.
//!
//! The sensor ships a recording once its session's close is shipped and the
//! recording is finished (the cast is made read-only when its last bytes are written,
//! [`busybait_store::recording::finished`]); one still writable [`STALE_AFTER`] after
//! its last write belongs to a sensor that stopped between the two and goes as it is.
//! Its own cursor (`fleet.recordings.cursor`, the `seq` of the last close handled)
//! survives restarts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_nats::jetstream;
use bytes::Bytes;
use rusqlite::{params, Connection};
use tokio_postgres::Client;

use crate::cursor::Cursor;
use crate::FleetError;

/// Header naming the session a message's part belongs to.
pub const SESSION_HEADER: &str = "Busybait-Recording";
/// Header: the part's index, from 0.
pub const PART_HEADER: &str = "Busybait-Part";
/// Header: how many parts the recording has.
pub const PARTS_HEADER: &str = "Busybait-Parts";
/// The largest part: under the stream's message limit ([`crate::MAX_EVENT_BYTES`])
/// with room for the headers.
pub const PART_BYTES: usize = 192 * 1024;
/// The most parts a collector accepts: a recording is capped at 16 MiB where it is
/// made (`[limits] max_recording_bytes`), and the read side reads no more.
pub const MAX_PARTS: u32 = 96;
/// How long a recording that is still writable after its session closed is waited
/// for before it is shipped as it is.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// The recordings cursor's file in the data dir.
pub const CURSOR_FILE: &str = "fleet.recordings.cursor";
/// Closes looked at per pass.
const CLOSES_PER_PASS: i64 = 64;

/// `cast` in parts of at most [`PART_BYTES`], each ending on a character boundary.
pub fn parts(cast: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = cast;
    while !rest.is_empty() {
        let mut end = rest.len().min(PART_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        out.push(part);
        rest = tail;
    }
    out
}

/// One part as a collector received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The sensor (from the subject).
    pub sensor: String,
    /// The session.
    pub session: String,
    /// Its index.
    pub part: u32,
    /// How many there are.
    pub parts: u32,
    /// The text.
    pub data: String,
}

/// Why a recording part was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A header is missing or not what it must be.
    Headers,
    /// The text is not UTF-8, or too long.
    Data,
}

/// The part a message of `sensor`'s subject carries, if its headers say it is one
/// (`Ok(None)`: an event).
pub fn part_of(
    sensor: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
) -> Result<Option<Part>, Refused> {
    let Some(session) = headers.and_then(|h| h.get(SESSION_HEADER)) else {
        return Ok(None);
    };
    let number = |name: &str| -> Result<u32, Refused> {
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.as_str().parse().ok())
            .ok_or(Refused::Headers)
    };
    let session = session.as_str();
    let valid_session = busybait_events::SessionId::parse(session).is_some();
    let (part, parts) = (number(PART_HEADER)?, number(PARTS_HEADER)?);
    if !valid_session || parts == 0 || parts > MAX_PARTS || part >= parts {
        return Err(Refused::Headers);
    }
    if payload.len() > PART_BYTES {
        return Err(Refused::Data);
    }
    let data = std::str::from_utf8(payload).map_err(|_| Refused::Data)?;
    Ok(Some(Part {
        sensor: sensor.to_string(),
        session: session.to_string(),
        part,
        parts,
        data: data.to_string(),
    }))
}

/// Stores `parts` (a part already there stays as it was).
pub async fn store(client: &Client, parts: &[Part]) -> Result<(), FleetError> {
    if parts.is_empty() {
        return Ok(());
    }
    let sessions: Vec<&str> = parts.iter().map(|p| p.session.as_str()).collect();
    let sensors: Vec<&str> = parts.iter().map(|p| p.sensor.as_str()).collect();
    let numbers: Vec<i32> = parts
        .iter()
        .map(|p| i32::try_from(p.part).unwrap_or(i32::MAX))
        .collect();
    let counts: Vec<i32> = parts
        .iter()
        .map(|p| i32::try_from(p.parts).unwrap_or(i32::MAX))
        .collect();
    let data: Vec<&str> = parts.iter().map(|p| p.data.as_str()).collect();
    client
        .execute(
            "INSERT INTO recording_parts (session, sensor, part, parts, data)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int4[], $4::int4[], $5::text[])
             ON CONFLICT DO NOTHING",
            &[&sessions, &sensors, &numbers, &counts, &data],
        )
        .await?;
    Ok(())
}

/// The sensor's side: finished recordings after their sessions' closes.
pub(crate) struct Shipper {
    sessions_dir: PathBuf,
    cursor_file: Cursor,
    /// The `seq` of the last close whose recording was handled.
    cursor: u64,
}

impl Shipper {
    pub(crate) fn open(data_dir: &Path) -> Result<Self, FleetError> {
        let cursor_file = Cursor::named(data_dir, CURSOR_FILE);
        Ok(Self {
            sessions_dir: data_dir.join(busybait_store::recording::SESSIONS_DIR),
            cursor: cursor_file.load()?.unwrap_or(0),
            cursor_file,
        })
    }

    /// Ships the recordings of the sessions closed after the cursor, up to the
    /// events shipped (`shipped_seq`), in order; stops at one still being written.
    pub(crate) async fn ship(
        &mut self,
        js: &jetstream::Context,
        db: &Arc<Mutex<Connection>>,
        (subject, sensor): (&str, &str),
        shipped_seq: u64,
    ) -> Result<(), FleetError> {
        if shipped_seq <= self.cursor {
            return Ok(());
        }
        let after = self.cursor;
        let db = db.clone();
        let closes = tokio::task::spawn_blocking(move || closes(&db, after, shipped_seq))
            .await
            .map_err(|e| FleetError::Config(format!("the recordings' reader stopped: {e}")))??;
        let every_close = closes.len() < usize::try_from(CLOSES_PER_PASS).unwrap_or(usize::MAX);
        for (seq, session) in closes {
            let cast = self.sessions_dir.join(format!("{session}.cast"));
            match busybait_store::recording::finished(&cast) {
                // No recording (recordings are off, or retention took it).
                None => {}
                Some(true) => publish(js, subject, sensor, &session, &cast).await?,
                Some(false) if stale(&cast) => {
                    tracing::warn!(%session, "a recording never finished; shipping it as it is");
                    publish(js, subject, sensor, &session, &cast).await?;
                }
                Some(false) => return Ok(()),
            }
            self.cursor = seq;
            self.cursor_file.store(seq)?;
        }
        // Nothing else closed up to what is shipped: the next pass starts there.
        if every_close && self.cursor < shipped_seq {
            self.cursor = shipped_seq;
            self.cursor_file.store(shipped_seq)?;
        }
        Ok(())
    }
}

/// Whether the writable recording at `cast` was last written [`STALE_AFTER`] ago.
fn stale(cast: &Path) -> bool {
    std::fs::metadata(cast)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= STALE_AFTER)
}

/// The closes in `(after, through]`, in order: `(seq, session)`.
fn closes(
    db: &Mutex<Connection>,
    after: u64,
    through: u64,
) -> Result<Vec<(u64, String)>, FleetError> {
    let conn = db
        .lock()
        .map_err(|_| FleetError::Config("the shipper's database handle was poisoned".into()))?;
    let seq = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, session FROM events WHERE seq > ?1 AND seq <= ?2
             AND eventid = 'cowrie.session.closed' ORDER BY seq LIMIT ?3",
        )
        .map_err(busybait_store::StoreError::from)?;
    let rows = stmt
        .query_map(params![seq(after), seq(through), CLOSES_PER_PASS], |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                r.get::<_, String>(1)?,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(busybait_store::StoreError::from)?;
    Ok(rows)
}

/// Publishes one recording's parts and waits for the stream to have them all.
async fn publish(
    js: &jetstream::Context,
    subject: &str,
    sensor: &str,
    session: &str,
    cast: &Path,
) -> Result<(), FleetError> {
    let bytes = match tokio::fs::read(cast).await {
        Ok(b) => b,
        // Retention took it between the look and the read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(busybait_store::StoreError::Io {
                path: cast.to_path_buf(),
                source: e,
            }
            .into())
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let pieces = parts(&text);
    let count = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    if count > MAX_PARTS {
        tracing::warn!(%session, bytes = bytes.len(), "a recording too long for the fleet stays local");
        return Ok(());
    }
    let mut acks = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("{sensor}:rec:{session}:{i}").as_str(),
        );
        headers.insert(SESSION_HEADER, session);
        headers.insert(PART_HEADER, i.to_string().as_str());
        headers.insert(PARTS_HEADER, count.to_string().as_str());
        let ack = js
            .publish_with_headers(subject.to_string(), headers, Bytes::from(piece.to_string()))
            .await
            .map_err(FleetError::nats)?;
        acks.push(ack);
    }
    for ack in acks {
        ack.await.map_err(FleetError::nats)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_end_on_characters_and_join_back() {
        let cast = format!("{}é{}", "a".repeat(PART_BYTES - 1), "b".repeat(10));
        let split = parts(&cast);
        assert_eq!(split.len(), 2);
        assert_eq!(
            split[0].len(),
            PART_BYTES - 1,
            "the é goes whole to the next"
        );
        assert_eq!(split.concat(), cast);
        assert!(parts("").is_empty());
    }

    #[test]
    fn a_part_needs_every_header_in_range() {
        let mut h = async_nats::HeaderMap::new();
        assert_eq!(part_of("s", Some(&h), b"x"), Ok(None), "an event");
        h.insert(SESSION_HEADER, "0123456789ab");
        assert_eq!(part_of("s", Some(&h), b"x"), Err(Refused::Headers));
        h.insert(PART_HEADER, "1");
        h.insert(PARTS_HEADER, "1");
        assert_eq!(part_of("s", Some(&h), b"x"), Err(Refused::Headers));
        h.insert(PART_HEADER, "0");
        let part = part_of("s", Some(&h), b"x").unwrap().unwrap();
        assert_eq!((part.part, part.parts, part.data.as_str()), (0, 1, "x"));
        assert_eq!(part_of("s", Some(&h), b"\xff"), Err(Refused::Data));
        h.insert(SESSION_HEADER, "../etc");
        assert_eq!(part_of("s", Some(&h), b"x"), Err(Refused::Headers));
    }
}
