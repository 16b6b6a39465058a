//! `samples/<sha256>`: every file attackers dropped, content-addressed, stored once,
//! read-only and never executable (mode 0444), within a quota.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::StoreError;

/// Directory in the data dir.
pub const SAMPLES_DIR: &str = "samples";

/// Why a sample was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The samples directory is at its quota.
    #[error("samples quota of {0} bytes reached")]
    Quota(u64),
    /// The disk said no.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Path relative to the data dir.
    pub outfile: String,
    /// Whether it was already there.
    pub duplicate: bool,
}

/// The sample store.
#[derive(Debug)]
pub struct SampleStore {
    dir: PathBuf,
    quota: u64,
    used: Mutex<u64>,
}

impl SampleStore {
    /// Opens (creating) `data_dir/samples`, counting what it holds against `quota`.
    pub fn open(data_dir: &Path, quota: u64) -> Result<Self, StoreError> {
        let dir = data_dir.join(SAMPLES_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let mut used = 0;
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(".tmp-") {
                // A write interrupted by a crash: never renamed, so never a sample.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            used += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
        Ok(Self {
            dir,
            quota,
            used: Mutex::new(used),
        })
    }

    /// Bytes held.
    pub fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `data` (once per content).
    pub fn store(&self, data: &[u8]) -> Result<Stored, SampleError> {
        let sha256 = hex_lower(&Sha256::digest(data));
        let path = self.dir.join(&sha256);
        let outfile = format!("{SAMPLES_DIR}/{sha256}");
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if path.exists() {
            return Ok(Stored {
                sha256,
                outfile,
                duplicate: true,
            });
        }
        let size = data.len() as u64;
        if used.saturating_add(size) > self.quota {
            return Err(SampleError::Quota(self.quota));
        }
        let tmp = self.dir.join(format!(".tmp-{sha256}"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_data()?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444))?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::io(&path, e).into());
        }
        *used += size;
        Ok(Stored {
            sha256,
            outfile,
            duplicate: false,
        })
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_content_addressed_read_only_and_within_quota() {
        let dir = tempfile::tempdir().unwrap();
        let store = SampleStore::open(dir.path(), 10).unwrap();
        let a = store.store(b"kami/var\n").unwrap();
        // `printf 'kami/var\n' | sha256sum`
        assert_eq!(
            a.sha256,
            "e60e603241e6b0782fabe65e4d80bb8ecfeef92eea1cb370bb777f8fc0fe465f"
        );
        assert_eq!(a.outfile, format!("samples/{}", a.sha256));
        assert!(!a.duplicate);
        let b = store.store(b"kami/var\n").unwrap();
        assert!(b.duplicate);
        assert_eq!(a.sha256, b.sha256);
        let meta = std::fs::metadata(dir.path().join(&a.outfile)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o444);
        assert!(matches!(store.store(b"01234"), Err(SampleError::Quota(10))));
        // Reopening counts what is there.
        let again = SampleStore::open(dir.path(), 10).unwrap();
        assert_eq!(again.used(), 9);
    }
}
