//! `/sessions/{id}/cast`: a session's recording for the console's player, with
//! what a terminal would act on beyond its screen taken out.
//!
//! The recording is the device's output as the bot made it: a bot can print an OSC
//! sequence that sets the viewer's window title or clipboard, or a hyperlink. The
//! player renders only a screen, but it is given only what
//! [`crate::terminal::ReplayFilter`] passes (text, cursor moves, colours), the same as
//! `busybait replay` shows; the bot's input is left out (the commands are on the
//! page as text).

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use busybait_events::SessionId;

use super::{Console, WebError};
use crate::read::Location;
use crate::terminal::ReplayFilter;
use busybait_store::read::ReadStore;

/// Most of a recording read for the player; the rest is not played (recordings are
/// capped when written, this bounds what one request holds).
const MAX_CAST_BYTES: u64 = 16 << 20;

/// `GET /sessions/{id}/cast`.
pub(crate) async fn cast(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if SessionId::parse(&id).is_none() {
        return Err(WebError::NotFound);
    }
    let cast = console
        .pages
        .run(move |store, location| read(store, location, &id))
        .await?;
    let Some(cast) = cast else {
        return Err(WebError::NotFound);
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/x-asciicast; charset=utf-8",
        )],
        cast,
    )
        .into_response())
}

/// Whether the store has the session's recording: a data dir's file, or the parts
/// the fleet's store was shipped.
pub(crate) fn exists(store: &dyn ReadStore, location: &Location, id: &str) -> anyhow::Result<bool> {
    Ok(match location {
        Location::Dir(dir) => cast_file(dir, id).is_file(),
        Location::Postgres(_) => store.recording(id)?.is_some(),
    })
}

fn cast_file(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    dir.join(busybait_store::recording::SESSIONS_DIR)
        .join(format!("{id}.cast"))
}

/// The recording, filtered, or `None` if there is none.
fn read(store: &dyn ReadStore, location: &Location, id: &str) -> anyhow::Result<Option<String>> {
    match location {
        Location::Dir(dir) => {
            let file = match std::fs::File::open(cast_file(dir, id)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(Some(filter(BufReader::new(file.take(MAX_CAST_BYTES)))))
        }
        Location::Postgres(_) => Ok(store
            .recording(id)?
            .map(|cast| filter(cast.as_bytes().take(MAX_CAST_BYTES)))),
    }
}

/// The header line as it is (re-serialized), each output event through the replay
/// filter, input events and lines that are not events left out.
fn filter(input: impl BufRead) -> String {
    let mut out = String::new();
    let mut lines = input.lines();
    let Some(Ok(header)) = lines.next() else {
        return out;
    };
    let Ok(header) = serde_json::from_str::<serde_json::Value>(&header) else {
        return out;
    };
    out.push_str(&header.to_string());
    out.push('\n');
    let mut terminal = ReplayFilter::default();
    let mut shown = String::new();
    for line in lines {
        let Ok(line) = line else { break };
        let Ok(serde_json::Value::Array(event)) = serde_json::from_str(&line) else {
            continue;
        };
        let (Some(time), Some("o"), Some(data)) = (
            event.first().and_then(serde_json::Value::as_f64),
            event.get(1).and_then(serde_json::Value::as_str),
            event.get(2).and_then(serde_json::Value::as_str),
        ) else {
            continue;
        };
        shown.clear();
        terminal.filter(data, &mut shown);
        out.push_str(&serde_json::json!([time, "o", shown]).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_acts_beyond_the_screen_is_taken_out() {
        let cast = "{\"version\":2,\"width\":80,\"height\":24}\n\
                    [0.5,\"o\",\"login: \"]\n\
                    [0.7,\"i\",\"root\\r\\n\"]\n\
                    not json\n\
                    [1.25,\"o\",\"\\u001b]0;owned\\u0007# \\u001b[31mred\\u001b[0m\\u001b]52;c;ZXZpbA==\\u0007\"]\n";
        assert_eq!(
            filter(cast.as_bytes()),
            "{\"height\":24,\"version\":2,\"width\":80}\n\
             [0.5,\"o\",\"login: \"]\n\
             [1.25,\"o\",\"# \\u001b[31mred\\u001b[0m\"]\n"
        );
        assert_eq!(filter("".as_bytes()), "");
        assert_eq!(filter("garbage\n[1,\"o\",\"x\"]\n".as_bytes()), "");
    }
}
