//! Spans of time as people write them: in the config file, humantime spans
//! (`"300ms"`, `"60s"`, `"1h"`, `"7d"`, and for retention `"forever"`); on the read
//! side's command lines, a window's edge as an RFC 3339 time or a span back from now.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer};

/// Deserializes a span.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Deserializes a span, or `"forever"` as `None`.
pub(crate) fn keep<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    if s == "forever" {
        return Ok(None);
    }
    let span = humantime::parse_duration(&s).map_err(serde::de::Error::custom)?;
    if span.is_zero() {
        return Err(serde::de::Error::custom(
            "a retention of 0 would remove everything at once; say \"forever\" to keep all",
        ));
    }
    Ok(Some(span))
}

/// An RFC 3339 time, or a span back from `now`, as the stored timestamps spell it.
pub(crate) fn window_edge(text: &str, now: SystemTime) -> anyhow::Result<String> {
    let time = match humantime::parse_rfc3339_weak(text) {
        Ok(t) => t,
        Err(_) => match humantime::parse_duration(text) {
            Ok(span) => now.checked_sub(span).unwrap_or(SystemTime::UNIX_EPOCH),
            Err(_) => anyhow::bail!(
                "{text:?} is neither an RFC 3339 time (2026-11-26T08:00:00Z) nor a span back from now (90m, 24h, 7d)"
            ),
        },
    };
    Ok(humantime::format_rfc3339_micros(time).to_string())
}

/// The window `[since, until)` of a read-side command, each edge as
/// [`window_edge`] reads it.
pub(crate) fn window(
    since: Option<&str>,
    until: Option<&str>,
    now: SystemTime,
) -> anyhow::Result<busybait_store::read::Window> {
    Ok(busybait_store::read::Window {
        since: since.map(|t| window_edge(t, now)).transpose()?,
        until: until.map(|t| window_edge(t, now)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges_are_rfc3339_or_spans() {
        let now = humantime::parse_rfc3339("2026-11-26T08:00:00Z").unwrap();
        assert_eq!(
            window_edge("2026-11-25T08:00:00Z", now).unwrap(),
            "2026-11-25T08:00:00.000000Z"
        );
        assert_eq!(
            window_edge("24h", now).unwrap(),
            "2026-11-25T08:00:00.000000Z"
        );
        assert_eq!(
            window_edge("90m", now).unwrap(),
            "2026-11-26T06:30:00.000000Z"
        );
        let err = window_edge("yesterday", now).unwrap_err().to_string();
        assert!(err.contains("RFC 3339") && err.contains("7d"), "{err}");
    }
}
