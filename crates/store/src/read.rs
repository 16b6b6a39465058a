//! The read side as one interface: what `sessions`, `show`, `report`, `export` and
//! `watch` ask of a store. Every store that speaks the shared SQL ([`Sql`]) answers
//! it with the same queries: the data dir's SQLite ([`SqliteStore`]) and the fleet's
//! PostgreSQL (`busybait_fleet::pg::read`), so the commands print the same whichever
//! store they read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use crate::queries::{
    AlertRow, ExploitRow, FileDetails, IndicatorKind, IndicatorRow, SensorRow, SessionFilter,
    SessionRow, SourceGeo,
};
pub use crate::report::{Family, Report};
use crate::sql::Sql;
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
    /// The newest `limit` sessions that started in the window, newest first.
    fn recent_sessions(&self, window: &Window, limit: usize)
        -> Result<Vec<SessionRow>, StoreError>;
    /// The newest `limit` sessions a filter lets through, newest first.
    fn sessions(&self, filter: &SessionFilter, limit: usize)
        -> Result<Vec<SessionRow>, StoreError>;
    /// Every event of a session (JSON lines) in order; `None` if it is unknown.
    fn session_events(&self, session: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// A session's recording as the fleet keeps it ([`crate::queries::recording`]);
    /// always `None` in a data dir, whose recordings are files.
    fn recording(&self, session: &str) -> Result<Option<String>, StoreError>;
    /// The summary of a window.
    fn report(&self, window: &Window) -> Result<Report, StoreError>;
    /// The summary of one sensor's part of a window ([`crate::report::sensor_report`]).
    fn sensor_report(&self, window: &Window, sensor: &str) -> Result<Report, StoreError>;
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
    /// The newest `limit` alerts of a window; `None` from a store that keeps none.
    fn alerts(&self, window: &Window, limit: usize) -> Result<Option<Vec<AlertRow>>, StoreError>;
    /// The sensors whose events the store holds.
    fn sensors(&self) -> Result<Vec<SensorRow>, StoreError>;
    /// Country and AS of each source address of a window that has them.
    fn source_geo(&self, window: &Window) -> Result<SourceGeo, StoreError>;
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

impl Sql for SqliteStore {
    fn dialect(&self) -> crate::sql::Dialect {
        self.conn.dialect()
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[crate::sql::Param<'_>],
        row: &mut dyn FnMut(&[crate::sql::Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.conn.each_row(sql, params, row)
    }
}

/// Every store that speaks the shared SQL answers the read side's questions with the
/// same queries.
impl<S: Sql> ReadStore for S {
    fn recent_sessions(&self, w: &Window, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
        crate::queries::recent_sessions(self, w.since.as_deref(), w.until.as_deref(), limit)
    }

    fn sessions(
        &self,
        filter: &SessionFilter,
        limit: usize,
    ) -> Result<Vec<SessionRow>, StoreError> {
        crate::queries::sessions(self, filter, limit)
    }

    fn session_events(&self, session: &str) -> Result<Option<Vec<String>>, StoreError> {
        crate::queries::session_events(self, session)
    }

    fn recording(&self, session: &str) -> Result<Option<String>, StoreError> {
        crate::queries::recording(self, session)
    }

    fn report(&self, w: &Window) -> Result<Report, StoreError> {
        crate::report::report(self, w.since.as_deref(), w.until.as_deref())
    }

    fn sensor_report(&self, w: &Window, sensor: &str) -> Result<Report, StoreError> {
        crate::report::sensor_report(self, w.since.as_deref(), w.until.as_deref(), sensor)
    }

    fn indicators(&self, w: &Window) -> Result<Vec<IndicatorRow>, StoreError> {
        crate::queries::indicators(self, w.since.as_deref(), w.until.as_deref())
    }

    fn exploits(&self, w: &Window) -> Result<Vec<ExploitRow>, StoreError> {
        crate::queries::exploits(self, w.since.as_deref(), w.until.as_deref())
    }

    fn indicator_families(&self, w: &Window) -> Result<IndicatorFamilies, StoreError> {
        crate::queries::indicator_families(self, w.since.as_deref(), w.until.as_deref())
    }

    fn file_details(&self, w: &Window) -> Result<BTreeMap<String, FileDetails>, StoreError> {
        crate::queries::file_details(self, w.since.as_deref(), w.until.as_deref())
    }

    fn sensor_addresses(&self) -> Result<BTreeSet<String>, StoreError> {
        crate::queries::sensor_addresses(self)
    }

    fn alerts(&self, w: &Window, limit: usize) -> Result<Option<Vec<AlertRow>>, StoreError> {
        crate::queries::alerts(self, w.since.as_deref(), w.until.as_deref(), limit)
    }

    fn sensors(&self) -> Result<Vec<SensorRow>, StoreError> {
        crate::queries::sensors(self)
    }

    fn source_geo(&self, w: &Window) -> Result<SourceGeo, StoreError> {
        crate::queries::source_geo(self, w.since.as_deref(), w.until.as_deref())
    }
}
