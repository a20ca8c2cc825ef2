//! SQLite backend tests: the conformance suite, then what is SQLite's own.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use scout_audit_conformance::{Harness, conformance_tests};
use scout_audit_core::{Durability, Event, Filter, ManualClock, ReadStore, SessionId, Sink};
use scout_audit_store_sqlite::SqliteStore;

struct SqliteHarness {
    dir: tempfile::TempDir,
}

impl SqliteHarness {
    fn new() -> SqliteHarness {
        SqliteHarness {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Harness for SqliteHarness {
    type S = SqliteStore;
    fn name(&self) -> String {
        "sqlite".into()
    }
    fn open(&self, d: Durability, s: SessionId, c: Arc<ManualClock>) -> SqliteStore {
        SqliteStore::builder(self.dir.path().join("audit.db"))
            .durability(d)
            .session(s)
            .clock(c)
            .open()
            .unwrap()
    }
    fn import_dedups(&self) -> bool {
        true
    }
}

conformance_tests!(SqliteHarness::new());

#[test]
fn schema_and_pushdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = SqliteStore::open(&path).unwrap();
    s.log(Event::new("nav").cost(0.25).model("m")).unwrap();
    s.close().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let (event, cost, model, record): (String, f64, String, String) = c
        .query_row("SELECT event, cost, model, record FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((event.as_str(), cost, model.as_str()), ("nav", 0.25, "m"));
    assert!(record.starts_with("{\"ts\":\""), "{record}");
    let plan: String = c
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM events WHERE (ts_us, ts_sub) >= (1, 0) AND event IN ('nav')",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("INDEX events_event_ts"), "{plan}");
}

#[test]
fn unopenable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let err = SqliteStore::open(dir.path().join("f/a.db"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("f"), "{err}");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let err = SqliteStore::open(&garbage).unwrap_err().to_string();
    assert!(err.contains("not a database"), "{err}");
}

#[test]
fn readers_see_committed_rows_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("a.db")).unwrap();
    for i in 0..10_000u64 {
        s.log(Event::new("nav").field("i", i)).unwrap();
    }
    // Pagination across several pages keeps order.
    let is: Vec<u64> = s
        .scan(&Filter::new())
        .unwrap()
        .map(|r| r.unwrap().get("i").unwrap().as_u64().unwrap())
        .collect();
    assert_eq!(is, (0..10_000).collect::<Vec<_>>());
    s.close().unwrap();
}

/// A database someone else wrote is input: a `cost` column holding an
/// infinity or NaN (which the store never writes) makes the sum an error,
/// never a plausible total without it.
#[test]
fn non_finite_costs_in_a_foreign_database_are_an_error() {
    use scout_audit_core::agg::SumOverflow;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = SqliteStore::open(&path).unwrap();
    for c in [0.25, 0.5, 1.0] {
        s.log(Event::new("nav").cost(c).model("m")).unwrap();
    }
    s.close().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE events SET cost = 9e999 WHERE cost = 0.5", [])
        .unwrap();
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    let spend = s.spend(&Filter::new(), None).unwrap();
    assert_eq!(spend.records(), 3);
    assert_eq!(spend.total(), Err(SumOverflow::NotFinite));
    s.close().unwrap();
}
