//! The shipper's cursor: the highest `seq` the stream has acknowledged, in
//! `fleet.cursor` in the data dir.
//!
//! Written by rename after each acknowledged batch, not synced: a cursor lost in a
//! power cut only sends some events again, which the stream's `Nats-Msg-Id` window and
//! the collectors' idempotent rows absorb. Retention reads it so that nothing is
//! pruned before it is shipped.

use std::path::{Path, PathBuf};

use busybait_store::StoreError;

/// File name in the data dir.
pub const CURSOR_FILE: &str = "fleet.cursor";

/// The cursor file of one data dir.
#[derive(Clone, Debug)]
pub struct Cursor {
    path: PathBuf,
}

impl Cursor {
    /// The cursor of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self::named(data_dir, CURSOR_FILE)
    }

    /// Another cursor of `data_dir`, in `file` (the recordings' has its own).
    pub fn named(data_dir: &Path, file: &str) -> Self {
        Self {
            path: data_dir.join(file),
        }
    }

    /// The shipped `seq`, or `None` if this data dir never shipped.
    pub fn load(&self) -> Result<Option<u64>, StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    path: self.path.clone(),
                    problem: format!("not a sequence number: {:?}", text.trim()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io {
                path: self.path.clone(),
                source: e,
            }),
        }
    }

    /// Records that everything up to `seq` is shipped.
    pub fn store(&self, seq: u64) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("cursor.tmp");
        std::fs::write(&tmp, format!("{seq}\n"))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| StoreError::Io {
                path: self.path.clone(),
                source: e,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_a_reopen_and_a_broken_one_is_an_error() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Io {
            path: PathBuf::new(),
            source: e,
        })?;
        let cursor = Cursor::new(dir.path());
        assert_eq!(cursor.load()?, None);
        cursor.store(41)?;
        cursor.store(42)?;
        assert_eq!(Cursor::new(dir.path()).load()?, Some(42));
        std::fs::write(dir.path().join(CURSOR_FILE), "x\n").map_err(|e| StoreError::Io {
            path: PathBuf::new(),
            source: e,
        })?;
        assert!(cursor.load().is_err());
        Ok(())
    }
}
