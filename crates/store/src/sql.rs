//! The read side's SQL, written once for every store that answers it.
//!
//! The data dir's SQLite and the fleet's PostgreSQL hold the same tables (the fleet's
//! with a `sensor` column in their keys), so `report`, `export` and `watch` ask both
//! the same questions ([`crate::queries`]) in SQL both understand, through [`Sql`]:
//! statements use `?N` placeholders, portable functions (`COALESCE`, `CAST(… AS
//! BIGINT)`, `CASE`), every selected column grouped or aggregated, and the few
//! places the schemas differ come from the store's [`Dialect`]. The same events give
//! the same rows, in the same order, from either.

use crate::StoreError;

/// A parameter of a statement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Param<'a> {
    /// Text.
    Text(&'a str),
    /// An integer.
    Int(i64),
}

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

/// Where the two schemas differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// One sensor's `busybait.db`.
    Sqlite,
    /// The fleet's store: every sensor's rows, keyed by sensor too.
    Postgres,
}

impl Dialect {
    /// The condition that a row of `a` and one of `b` are the same sensor's (the
    /// fleet keys sessions by sensor and session id); empty on one sensor's store.
    pub fn same_sensor(self, a: &str, b: &str) -> String {
        match self {
            Self::Sqlite => String::new(),
            Self::Postgres => format!(" AND {a}.sensor = {b}.sensor"),
        }
    }

    /// The order events were recorded in.
    pub fn seq_order(self, alias: &str) -> String {
        match self {
            Self::Sqlite => format!("{alias}.seq"),
            Self::Postgres => format!("{alias}.sensor, {alias}.seq"),
        }
    }

    /// The per-day counts as one row a day (the fleet keeps one per sensor and day:
    /// summed, with each day's distinct sources counted over all sensors).
    pub fn daily(self) -> &'static str {
        match self {
            Self::Sqlite => "daily",
            Self::Postgres => {
                "(SELECT d.day AS day, CAST(SUM(d.sessions) AS BIGINT) AS sessions,
                    GREATEST(MAX(d.sources), (SELECT COUNT(DISTINCT s.src_ip) FROM daily_sources s WHERE s.day = d.day)) AS sources,
                    CAST(SUM(d.logins_tried) AS BIGINT) AS logins_tried,
                    CAST(SUM(d.logins_accepted) AS BIGINT) AS logins_accepted
                  FROM daily d GROUP BY d.day)"
            }
        }
    }

    /// `sql` with its `?N` placeholders as this store writes them.
    pub fn placeholders(self, sql: &str) -> String {
        match self {
            Self::Sqlite => sql.to_string(),
            Self::Postgres => {
                // No statement of ours has a `?` inside a string literal.
                let mut out = String::with_capacity(sql.len());
                let mut chars = sql.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
                        out.push('$');
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// A store the read side can ask.
pub trait Sql {
    /// Which schema it holds.
    fn dialect(&self) -> Dialect;

    /// Runs `sql` (with `?N` placeholders) and hands each result row to `row`.
    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Every row of `sql`, each made by `make`.
pub fn collect<T>(
    db: &dyn Sql,
    sql: &str,
    params: &[Param<'_>],
    mut make: impl FnMut(&[Cell]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    db.each_row(sql, params, &mut |r| {
        out.push(make(r)?);
        Ok(())
    })?;
    Ok(out)
}

fn shape(problem: String) -> StoreError {
    StoreError::Backend(format!("unexpected result: {problem}"))
}

/// Column `i` as text.
pub fn text(row: &[Cell], i: usize) -> Result<String, StoreError> {
    opt_text(row, i)?.ok_or_else(|| shape(format!("column {i} is NULL")))
}

/// Column `i` as text or NULL.
pub fn opt_text(row: &[Cell], i: usize) -> Result<Option<String>, StoreError> {
    match row.get(i) {
        Some(Cell::Text(s)) => Ok(Some(s.clone())),
        Some(Cell::Null) => Ok(None),
        other => Err(shape(format!("column {i} is {other:?}, not text"))),
    }
}

/// Column `i` as an integer.
pub fn int(row: &[Cell], i: usize) -> Result<i64, StoreError> {
    opt_int(row, i)?.ok_or_else(|| shape(format!("column {i} is NULL")))
}

/// Column `i` as an integer or NULL.
pub fn opt_int(row: &[Cell], i: usize) -> Result<Option<i64>, StoreError> {
    match row.get(i) {
        Some(Cell::Int(v)) => Ok(Some(*v)),
        Some(Cell::Null) => Ok(None),
        other => Err(shape(format!("column {i} is {other:?}, not an integer"))),
    }
}

/// Column `i` as a count (a negative one is 0).
pub fn count(row: &[Cell], i: usize) -> Result<u64, StoreError> {
    Ok(u64::try_from(int(row, i)?).unwrap_or(0))
}

impl Sql for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let bound: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|p| match p {
                Param::Text(s) => rusqlite::types::Value::Text((*s).to_string()),
                Param::Int(v) => rusqlite::types::Value::Integer(*v),
            })
            .collect();
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(bound))?;
        let mut cells = Vec::with_capacity(columns);
        while let Some(r) = rows.next()? {
            cells.clear();
            for i in 0..columns {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Real(v),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => return Err(shape(format!("column {i} is a blob"))),
                });
            }
            row(&cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_its_placeholders_with_dollars() {
        assert_eq!(
            Dialect::Postgres.placeholders("a >= ?1 AND b < ?2 LIMIT ?3"),
            "a >= $1 AND b < $2 LIMIT $3"
        );
        assert_eq!(Dialect::Sqlite.placeholders("a = ?1"), "a = ?1");
    }
}
