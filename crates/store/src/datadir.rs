//! A data dir, opened whole: the sensor's identity (`sensor.toml`), the event stores
//! behind the recorder (`events.jsonl`, `busybait.db`), the samples, the staging area
//! of files still being written, and the recordings' shared blobs. One call, and an
//! error that says which part could not be opened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use busybait_events::SensorIdentity;

use crate::recording::Blobs;
use crate::samples::SampleStore;
use crate::sensor::SensorState;
use crate::staging::Staging;
use crate::{OpenReport, Recorder, RecorderConfig, StoreError};

/// How to open a data dir.
#[derive(Clone, Debug)]
pub struct DataDirConfig {
    /// The directory.
    pub dir: PathBuf,
    /// The `sensor` field of every event.
    pub sensor_name: String,
    /// Depth of the event queue and of each sink's.
    pub queue_depth: usize,
    /// `events.jsonl`'s fsync cadence.
    pub fsync_interval: Duration,
    /// Write `events.jsonl`.
    pub jsonl: bool,
    /// Write `busybait.db`.
    pub sqlite: bool,
    /// When `events.jsonl` rotates.
    pub rotation: crate::rotate::Rotation,
    /// Most bytes `samples/` may hold.
    pub samples_quota_bytes: u64,
    /// Keep session recordings (and so the blobs they share).
    pub recordings: bool,
}

/// Every store of a data dir, open.
pub struct DataDir {
    /// The sensor's identity and seed.
    pub sensor: SensorState,
    /// The event recorder (its writer threads run until `shutdown`).
    pub recorder: Recorder,
    /// What opening the event stores found (next sequence number, a torn tail).
    pub opened: OpenReport,
    /// Dropped files, by content.
    pub samples: Arc<SampleStore>,
    /// Files being written, on disk as they grow.
    pub staging: Staging,
    /// Long recorded output kept once by content (with recordings on).
    pub blobs: Option<Arc<Blobs>>,
}

/// Which part of a data dir could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("opening {what} in {dir}: {source}")]
pub struct DataDirError {
    /// The part.
    pub what: &'static str,
    /// The data dir.
    pub dir: PathBuf,
    /// Why.
    #[source]
    pub source: StoreError,
}

impl DataDir {
    /// Opens (creating what is missing) every store of `config.dir`.
    pub fn open(config: &DataDirConfig) -> Result<Self, DataDirError> {
        let dir = config.dir.as_path();
        let fail = |what: &'static str| {
            move |source| DataDirError {
                what,
                dir: dir.to_path_buf(),
                source,
            }
        };
        let sensor = SensorState::load_or_create(dir).map_err(fail("the sensor identity"))?;
        let identity = SensorIdentity {
            name: config.sensor_name.clone(),
            uuid: sensor.uuid.clone(),
        };
        let (recorder, opened) = Recorder::open(
            &RecorderConfig {
                data_dir: dir.to_path_buf(),
                queue_depth: config.queue_depth,
                fsync_interval: config.fsync_interval,
                jsonl: config.jsonl,
                sqlite: config.sqlite,
                rotation: config.rotation,
            },
            identity,
        )
        .map_err(fail("the event stores"))?;
        let samples = Arc::new(
            SampleStore::open(dir, config.samples_quota_bytes).map_err(fail("the samples"))?,
        );
        let staging = Staging::open(dir).map_err(fail("the staging area"))?;
        let blobs = if config.recordings {
            Some(Arc::new(Blobs::open(dir).map_err(fail("the recordings"))?))
        } else {
            None
        };
        Ok(Self {
            sensor,
            recorder,
            opened,
            samples,
            staging,
            blobs,
        })
    }
}
