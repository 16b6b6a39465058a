//! Durations in the config file: humantime spans (`"300ms"`, `"60s"`, `"1h"`, `"7d"`),
//! and for retention `"forever"`.

use std::time::Duration;

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
