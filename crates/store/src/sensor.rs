//! The sensor's persistent identity: `sensor.toml` in the data dir.
//!
//! Created on first start with a random uuid and seed; the seed drives the per-sensor
//! device facts (hostname suffix, MAC, serial, uptime), so one sensor stays the same
//! device across restarts while two sensors differ.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// File name in the data dir.
pub const SENSOR_FILE: &str = "sensor.toml";

/// Contents of `sensor.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorState {
    /// The `uuid` field of every event.
    pub uuid: String,
    /// Seed for per-sensor randomisation (63 bits, as TOML integers are signed).
    pub seed: u64,
}

impl SensorState {
    /// Reads `sensor.toml` (for read-side commands, which never create it).
    pub fn load(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(SENSOR_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io(&path, e))?;
        toml::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            problem: e.to_string(),
        })
    }

    /// Reads `sensor.toml`, creating it if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(SENSOR_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                problem: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                // Both from the OS random source, through uuid's v4 generator.
                let state = Self {
                    uuid: uuid::Uuid::new_v4().to_string(),
                    // TOML integers are signed 64-bit: keep 63 bits.
                    seed: uuid::Uuid::new_v4().as_u64_pair().0 >> 1,
                };
                let text = format!(
                    "# busybait sensor identity; keep it to stay the same device across restarts.\n{}",
                    toml::to_string(&state).map_err(|e| StoreError::Corrupt {
                        path: path.clone(),
                        problem: e.to_string(),
                    })?
                );
                let tmp = dir.join(format!("{SENSOR_FILE}.tmp"));
                let mut f = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
                f.write_all(text.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| StoreError::io(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
                Ok(state)
            }
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }
}
