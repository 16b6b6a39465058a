//! Samples in the fleet: every dropped file, once, in the JetStream object store
//! bucket `BUSYBAIT_SAMPLES`, named by its SHA-256 (lowercase hex).
//!
//! A sensor offers each sample its events name before it publishes those events, so
//! a collector never stores an event whose file is not there yet. The bucket's
//! subjects are shared by every sensor, so nothing in it is trusted: a collector
//! reads each new sample back, hashes it, and deletes (and counts) one whose
//! content is not its name.

use std::path::Path;

use async_nats::jetstream::{self, object_store};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::FleetError;

/// The object store bucket of the fleet's samples.
pub const SAMPLES_BUCKET: &str = "BUSYBAIT_SAMPLES";

/// The largest sample a collector reads back (the sensor's own limit is smaller).
const MAX_SAMPLE_BYTES: u64 = 64 << 20;

/// Whether `name` is a SHA-256 in lowercase hex.
pub fn valid_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The bucket, made if missing (collectors do; sensors may not).
pub async fn ensure_bucket(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<object_store::ObjectStore, FleetError> {
    match js.get_object_store(SAMPLES_BUCKET).await {
        Ok(store) => Ok(store),
        Err(_) => js
            .create_object_store(object_store::Config {
                bucket: SAMPLES_BUCKET.into(),
                description: Some("busybait samples by SHA-256".into()),
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| FleetError::Nats(format!("the {SAMPLES_BUCKET} bucket: {e}"))),
    }
}

/// What offering a sample did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// It was uploaded.
    Stored,
    /// The bucket already had it.
    Present,
    /// The data dir no longer has it (retention removed it): nothing to send.
    Gone,
}

/// Uploads `data_dir/samples/<sha256>` unless the bucket has an object of that name.
pub async fn offer(
    store: &object_store::ObjectStore,
    data_dir: &Path,
    sha256: &str,
) -> Result<Offered, FleetError> {
    if !valid_sha256(sha256) {
        return Err(FleetError::Config(format!("not a sample name: {sha256:?}")));
    }
    match store.info(sha256).await {
        Ok(_) => return Ok(Offered::Present),
        Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => {}
        Err(e) => return Err(FleetError::nats(e)),
    }
    let path = data_dir
        .join(busybait_store::samples::SAMPLES_DIR)
        .join(sha256);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Offered::Gone),
        Err(e) => {
            return Err(FleetError::Store(busybait_store::StoreError::Io {
                path,
                source: e,
            }))
        }
    };
    store
        .put(sha256, &mut file)
        .await
        .map_err(|e| FleetError::Nats(format!("uploading sample {sha256}: {e}")))?;
    Ok(Offered::Stored)
}

/// What reading a sample back found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Its content hashes to its name.
    Good,
    /// There is no such object.
    Missing,
    /// Its content is something else (or too large): it was deleted.
    Mismatch,
}

/// Reads `sha256` back from the bucket and checks it; deletes it if it is not what
/// its name says.
pub async fn verify(
    store: &object_store::ObjectStore,
    sha256: &str,
) -> Result<Verified, FleetError> {
    if !valid_sha256(sha256) {
        return Ok(Verified::Missing);
    }
    let mut object = match store.get(sha256).await {
        Ok(o) => o,
        Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(Verified::Missing),
        Err(e) => return Err(FleetError::nats(e)),
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let good = loop {
        match object.read(&mut buf).await {
            Ok(0) => break hex::encode(hasher.finalize()) == sha256,
            Ok(n) => {
                total += n as u64;
                if total > MAX_SAMPLE_BYTES {
                    break false;
                }
                hasher.update(buf.get(..n).unwrap_or_default());
            }
            // The client checks the stored digest too: a mismatch there is one here.
            Err(_) => break false,
        }
    };
    if good {
        return Ok(Verified::Good);
    }
    store
        .delete(sha256)
        .await
        .map_err(|e| FleetError::Nats(format!("deleting the false sample {sha256}: {e}")))?;
    Ok(Verified::Mismatch)
}
