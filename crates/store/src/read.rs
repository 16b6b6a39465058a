//! The read side as one interface: what `sessions`, `show`, `report`, `export` and
//! `watch` ask of a store. The data dir's SQLite database answers it now
//! ([`SqliteStore`]); a fleet's PostgreSQL will answer the same questions, so the
//! commands print the same whichever store they read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use crate::report::{Family, Report};
pub use crate::sqlite::{ExploitRow, FileDetails, IndicatorKind, IndicatorRow, SessionRow};
use crate::StoreError;

/// A time window: RFC 3339 edges as the stored timestamps spell them; `None` is open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// First instant in the window.
    pub since: Option<String>,
    /// First instant after it.
    pub until: Option<String>,
}

/// The families each indicator appeared with.
pub type IndicatorFamilies = BTreeMap<(IndicatorKind, String), BTreeSet<String>>;

/// What the read-side commands need of a store.
pub trait ReadStore {
    /// The newest `limit` sessions, newest first.
    fn recent_sessions(&self, limit: usize) -> Result<Vec<SessionRow>, StoreError>;
    /// Every event of a session (JSON lines) in order; `None` if it is unknown.
    fn session_events(&self, session: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// The summary of a window.
    fn report(&self, window: &Window) -> Result<Report, StoreError>;
    /// The indicators a window holds.
    fn indicators(&self, window: &Window) -> Result<Vec<IndicatorRow>, StoreError>;
    /// The exploits web requests carried in a window.
    fn exploits(&self, window: &Window) -> Result<Vec<ExploitRow>, StoreError>;
    /// For each indicator but C2s, the families of the sessions it appeared in.
    fn indicator_families(&self, window: &Window) -> Result<IndicatorFamilies, StoreError>;
    /// Names and sizes of the files dropped in a window, by SHA-256.
    fn file_details(&self, window: &Window) -> Result<BTreeMap<String, FileDetails>, StoreError>;
    /// The sensor's own addresses: every address bots connected to.
    fn sensor_addresses(&self) -> Result<BTreeSet<String>, StoreError>;
}

/// A data dir's database, opened read-only (safe beside a running sensor).
pub struct SqliteStore {
    conn: crate::sqlite::Connection,
}

impl SqliteStore {
    /// Opens `data_dir`'s database read-only.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let conn = crate::sqlite::open_read_only(&data_dir.join(crate::sqlite::DB_FILE))?;
        Ok(Self { conn })
    }
}

impl ReadStore for SqliteStore {
    fn recent_sessions(&self, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
        crate::sqlite::recent_sessions(&self.conn, limit)
    }

    fn session_events(&self, session: &str) -> Result<Option<Vec<String>>, StoreError> {
        crate::sqlite::session_events(&self.conn, session)
    }

    fn report(&self, w: &Window) -> Result<Report, StoreError> {
        crate::report::report(&self.conn, w.since.as_deref(), w.until.as_deref())
    }

    fn indicators(&self, w: &Window) -> Result<Vec<IndicatorRow>, StoreError> {
        crate::sqlite::indicators(&self.conn, w.since.as_deref(), w.until.as_deref())
    }

    fn exploits(&self, w: &Window) -> Result<Vec<ExploitRow>, StoreError> {
        crate::sqlite::exploits(&self.conn, w.since.as_deref(), w.until.as_deref())
    }

    fn indicator_families(&self, w: &Window) -> Result<IndicatorFamilies, StoreError> {
        crate::sqlite::indicator_families(&self.conn, w.since.as_deref(), w.until.as_deref())
    }

    fn file_details(&self, w: &Window) -> Result<BTreeMap<String, FileDetails>, StoreError> {
        crate::sqlite::file_details(&self.conn, w.since.as_deref(), w.until.as_deref())
    }

    fn sensor_addresses(&self) -> Result<BTreeSet<String>, StoreError> {
        crate::sqlite::sensor_addresses(&self.conn)
    }
}
