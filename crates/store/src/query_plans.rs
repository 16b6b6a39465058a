//! Every question the read side asks a data dir's database (the console's pages,
//! `report`, `export`), asked through a store that first has SQLite explain how it
//! would answer (`EXPLAIN QUERY PLAN`): no table is read whole without an index,
//! and the session list is never sorted outside its index. What a window covers is
//! read through the tables' time indexes and, for the report's lists, the tallies'
//! key (`tallies.rs`): all time is the all-time tallies, not every row.

use std::cell::RefCell;
use std::path::Path;

use crate::sql::{Cell, Dialect, Param, Sql};
use crate::StoreError;

/// A store that records the plan of every statement before running it.
struct Explaining {
    conn: rusqlite::Connection,
    plans: RefCell<Vec<(String, Vec<String>)>>,
}

impl Sql for Explaining {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn each_row(
        &self,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut plan = Vec::new();
        self.conn
            .each_row(&format!("EXPLAIN QUERY PLAN {sql}"), params, &mut |r| {
                if let Some(Cell::Text(detail)) = r.get(3) {
                    plan.push(detail.clone());
                }
                Ok(())
            })?;
        self.plans.borrow_mut().push((sql.to_string(), plan));
        self.conn.each_row(sql, params, row)
    }
}

fn store(dir: &Path) -> Explaining {
    let path = dir.join(crate::sqlite::DB_FILE);
    drop(crate::sqlite::open(&path).unwrap());
    Explaining {
        conn: rusqlite::Connection::open(&path).unwrap(),
        plans: RefCell::new(Vec::new()),
    }
}

/// A line of `plan` that reads a whole table without an index (`SCAN sessions`); a
/// scan of the plan's own subquery (`CO-ROUTINE u` … `SCAN u`) reads no table.
fn unindexed<'a>(plan: &'a [String]) -> impl Fn(&String) -> bool + 'a {
    move |line| {
        let Some(scanned) = line.strip_prefix("SCAN ") else {
            return false;
        };
        let subquery = plan.iter().any(|l| {
            l.strip_prefix("CO-ROUTINE ")
                .or_else(|| l.strip_prefix("MATERIALIZE "))
                == Some(scanned)
        });
        !line.contains(" USING ") && !subquery
    }
}

/// Whether `sql` is a page of the session list: those must also come out of their
/// index in order, never sorted afterwards (a family of a million sessions would be
/// sorted for every page). The one exception is the dropped-file filter: it starts
/// from the file's drops (`files_sha256`) and sorts only the sessions that dropped it;
/// the exploit filter likewise from its requests (`exploits_name`).
fn is_session_list(sql: &str) -> bool {
    sql.contains("FROM sessions s WHERE")
        && !sql.contains("IN (SELECT f.session FROM files f")
        && !sql.contains("IN (SELECT e.session FROM exploits e")
}

#[test]
fn every_read_side_query_goes_through_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    crate::questions::ask_every_question(&db).unwrap();

    let plans = db.plans.borrow();
    assert!(plans.len() > 30, "{}", plans.len());
    let bad: Vec<String> = plans
        .iter()
        .filter(|(sql, plan)| {
            plan.iter()
                .any(|l| unindexed(plan)(l) || (is_session_list(sql) && l.contains("TEMP B-TREE")))
        })
        .map(|(sql, plan)| format!("{sql}\n  -> {plan:?}"))
        .collect();
    assert!(
        bad.is_empty(),
        "queries without an index:\n{}",
        bad.join("\n\n")
    );
}
