//! The read side on the fleet's PostgreSQL: it speaks the shared SQL
//! ([`busybait_store::sql::Sql`]), so `sessions`, `show`, `report`, `export` and
//! `watch` ask it the very queries they ask a data dir, and print the same for the
//! same events.
//!
//! The CLI is synchronous: the store owns a single-threaded runtime and blocks on it.

use busybait_store::sql::{Cell, Dialect, Param, Sql};
use busybait_store::StoreError;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

/// A fleet store opened for reading.
pub struct PgStore {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("PostgreSQL: {e}"))
}

impl PgStore {
    /// Connects to `url` and checks that it holds a fleet store.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the PostgreSQL client: {e}")))?;
        let client = runtime
            .block_on(async {
                let client = super::connect(url).await?;
                let version: i32 = client
                    .query_opt("SELECT version FROM busybait_schema", &[])
                    .await
                    .map_err(|_| {
                        crate::FleetError::Config(format!(
                            "{} holds no busybait fleet store; has `busybait collect` run against it?",
                            super::redact(url)
                        ))
                    })?
                    .map_or(0, |r| r.get(0));
                if version < 1 {
                    return Err(crate::FleetError::Config(format!(
                        "{} holds no busybait fleet store yet",
                        super::redact(url)
                    )));
                }
                Ok(client)
            })
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self { runtime, client })
    }
}

/// One column of a result row as the shared SQL's cell.
fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Cell, StoreError> {
    let ty = row.columns().get(i).map(|c| c.type_().clone());
    let value = match ty {
        Some(Type::INT8) => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
        Some(Type::INT4) => row
            .try_get::<_, Option<i32>>(i)
            .map(|v| v.map(|v| Cell::Int(i64::from(v)))),
        Some(Type::INT2) => row
            .try_get::<_, Option<i16>>(i)
            .map(|v| v.map(|v| Cell::Int(i64::from(v)))),
        Some(Type::FLOAT8) => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Cell::Real)),
        Some(Type::TEXT | Type::VARCHAR | Type::NAME) => row
            .try_get::<_, Option<String>>(i)
            .map(|v| v.map(Cell::Text)),
        other => {
            return Err(backend(format!(
                "column {i} has type {other:?}, which the shared SQL does not use"
            )))
        }
    };
    Ok(value.map_err(backend)?.unwrap_or(Cell::Null))
}

impl Sql for PgStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = Dialect::Postgres.placeholders(sql);
        let texts: Vec<Option<&str>> = params
            .iter()
            .map(|p| match p {
                Param::Text(s) => Some(*s),
                Param::Int(_) => None,
            })
            .collect();
        let ints: Vec<i64> = params
            .iter()
            .map(|p| match p {
                Param::Int(v) => *v,
                Param::Text(_) => 0,
            })
            .collect();
        let bound: Vec<&(dyn ToSql + Sync)> = texts
            .iter()
            .zip(&ints)
            .map(|(t, i)| match t {
                Some(t) => t as &(dyn ToSql + Sync),
                None => i as &(dyn ToSql + Sync),
            })
            .collect();
        let rows = self
            .runtime
            .block_on(self.client.query(sql.as_str(), &bound))
            .map_err(backend)?;
        let mut cells = Vec::new();
        for r in &rows {
            cells.clear();
            for i in 0..r.len() {
                cells.push(cell(r, i)?);
            }
            row(&cells)?;
        }
        Ok(())
    }
}
