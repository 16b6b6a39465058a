//! Durations in the config file: humantime spans (`"300ms"`, `"60s"`, `"1h"`, `"7d"`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes a span.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}
